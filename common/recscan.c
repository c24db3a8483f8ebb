/*
 * recscan.c - reading back records past damage (see recscan.h).
 */
#include "recscan.h"

#include <stdio.h>
#include <string.h>

/*
 * What looking for the next good record may cost, in bytes a check may read
 * (it is charged all it could read): a multiple of the buffer. Damage on
 * a disk meets a false record start now and then; a buffer laid out to
 * hold thousands (batch values a hostile agent chose, say) would otherwise
 * have each checked against the rest of the file.
 */
#define RECSCAN_BUDGET(len) (32 * (unsigned long long)(len) + (1ULL << 20))

static const char gave_up[] = "no good record found within the search budget (too many false "
			      "record starts)";

/*
 * The first offset at or after `from` where a record checks out after
 * `prev`; len when none does (or *budget runs out: *why says so).
 */
static size_t search(const uint8_t *buf, size_t len, size_t from, const struct recscan_ops *ops,
		     void *arg, const uint8_t *prev, long *size, unsigned long long *budget,
		     const char **why)
{
	while (from < len) {
		const uint8_t *p = memmem(buf + from, len - from, ops->magic, ops->magic_len);
		size_t avail;
		const char *w;

		if (p == NULL)
			break;
		avail = len - (size_t)(p - buf);
		if (*budget < avail) {
			*why = gave_up;
			break;
		}
		*budget -= avail;
		*size = ops->check(p, prev, avail, arg, &w);
		if (*size > 0)
			return (size_t)(p - buf);
		from = (size_t)(p - buf) + 1;
	}
	return len;
}

/*
 * The next record after damage: the first offset at or after `from` where
 * a record checks out after `prev` and does not break the order of what
 * follows. A candidate found by searching lies in damaged bytes, which may
 * hold what looks like a record (a payload's bytes are often a sender's):
 * one with a seq above the next real records' would have those fail "seq
 * does not grow" and be cut as a tail. So the rule: the next record that
 * checks out after `prev` past a candidate's end must check out after the
 * candidate too, else the candidate is passed over and the search goes on
 * inside it. len when there is none; *size is the record's size, and the
 * last check() run is the one of the record returned.
 */
static size_t resync(const uint8_t *buf, size_t len, size_t from, const struct recscan_ops *ops,
		     void *arg, const uint8_t *prev, long *size, unsigned long long *budget,
		     const char **why)
{
	for (;;) {
		size_t at = search(buf, len, from, ops, arg, prev, size, budget, why), end, then;
		const char *w = NULL;
		long k;

		if (at == len || (end = at + (size_t)*size) == len)
			return at;
		then = search(buf, len, end, ops, arg, prev, &k, budget, &w);
		if (then == len || ops->check(buf + then, buf + at, len - then, arg, &w) > 0) {
			*size = ops->check(buf + at, prev, len - at, arg, &w);
			return at;
		}
		from = at + 1;
	}
}

/*
 * After a record that does not check out at `off` (after `prev`): where the
 * next good one starts, and *size its size; len when there is none. A
 * record whose header still looks right (ops->claims: its magic, and a
 * length the buffer holds) is skipped whole: the next record is the one at
 * its claimed end when that checks out, else the search for it starts
 * there, so that nothing inside it (a payload: bytes a sender chose) is
 * taken for a record. Where none does, the search is byte by byte from
 * the next byte on (resync()).
 */
static size_t next_good(const uint8_t *buf, size_t len, size_t off, const struct recscan_ops *ops,
			void *arg, const uint8_t *prev, long *size, unsigned long long *budget,
			const char **why)
{
	size_t claimed =
	    *size < 0 && ops->claims != NULL ? ops->claims(buf + off, len - off, arg) : 0;
	size_t from = off + 1;

	if (claimed > 0 && claimed <= len - off) {
		const char *w;

		from = off + claimed;
		if (from == len)
			return len;
		*budget -= *budget < len - from ? *budget : len - from;
		*size = ops->check(buf + from, prev, len - from, arg, &w);
		if (*size > 0)
			return from;
	}
	return resync(buf, len, from, ops, arg, prev, size, budget, why);
}

/*
 * One walk of buf[off..len) after the record at *prev (NULL: none), its
 * search budget that of a buffer of `len`: takes each good record when
 * `emit`, else only counts it; adds what it finds to *r. With `stop`, it
 * ends at the first record that does not check out and returns its
 * offset; else it gets past damage and returns r->end. *prev is left at
 * the last record read.
 */
static size_t walk(const uint8_t *buf, size_t len, size_t off, const uint8_t **prev,
		   const struct recscan_ops *ops, void *arg, int emit, int stop,
		   struct recscan_result *r)
{
	unsigned long long budget = RECSCAN_BUDGET(len);

	while (off < len) {
		const char *why = NULL, *gave = NULL;
		long size = ops->check(buf + off, *prev, len - off, arg, &why);
		size_t next;

		if (size <= 0) {
			if (stop)
				return off;
			next = next_good(buf, len, off, ops, arg, *prev, &size, &budget, &gave);
			if (next == len) {
				r->tail_why = gave != NULL  ? gave
					      : why != NULL ? why
							    : "bad record";
				break;
			}
			if (r->holes++ == 0) {
				r->hole_from = off;
				r->hole_to = next;
				r->hole_why = why != NULL ? why : "bad record";
			}
			r->hole_bytes += next - off;
			off = next;
		}
		if (emit)
			ops->take(buf + off, (size_t)size, off, arg);
		r->records++;
		*prev = buf + off;
		off += (size_t)size;
	}
	r->end = off < len ? off : len;
	return r->end;
}

/* How often a file cut at its bad tail is read again to see that it reads the same. */
#define RECSCAN_SETTLE_MAX 4

/*
 * Up to the first damage, records are read one after another, each judged
 * by what precedes it. Past damage, which record comes next may depend on
 * what follows (resync()), and cutting a bad tail changes what follows: a
 * file cut at r->end must read back as the same records, or a restart
 * after the cut would send others. So the part past the first damage is
 * walked without taking anything until a walk ends where the walk before
 * it would cut; that cut is taken. If no such cut is found within a few
 * walks, the file is cut at its first damage.
 */
void recscan(const uint8_t *buf, size_t len, size_t start, const struct recscan_ops *ops, void *arg,
	     struct recscan_result *r)
{
	struct recscan_result past;
	const uint8_t *prev = NULL, *p;
	const char *why = NULL;
	size_t at, cut = len;
	int i;

	memset(r, 0, sizeof(*r));
	at = walk(buf, len, start, &prev, ops, arg, 1, 1, r);
	if (at == len)
		return;
	for (i = 0; i < RECSCAN_SETTLE_MAX; i++) {
		memset(&past, 0, sizeof(past));
		p = prev;
		if (walk(buf, cut, at, &p, ops, arg, 0, 0, &past) == cut)
			break;
		if (why == NULL)
			why = past.tail_why;
		cut = past.end;
	}
	if (i == RECSCAN_SETTLE_MAX) {
		why = "records past damage do not read the same once the file is cut";
		cut = at;
	}
	memset(&past, 0, sizeof(past));
	walk(buf, cut, at, &prev, ops, arg, 1, 0, &past);
	r->records += past.records;
	r->holes = past.holes;
	r->hole_bytes = past.hole_bytes;
	r->hole_from = past.hole_from;
	r->hole_to = past.hole_to;
	r->hole_why = past.hole_why;
	r->end = past.end;
	r->tail_why = cut < len ? why : NULL;
}

char *recscan_holes_text(const struct recscan_result *r, char *buf, size_t len)
{
	int n;

	buf[0] = '\0';
	if (r->holes == 0)
		return buf;
	n = snprintf(buf, len, "offsets %zu..%zu (%zu bytes): %s", r->hole_from, r->hole_to,
		     r->hole_to - r->hole_from, r->hole_why);
	if (r->holes > 1 && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; %zu more damaged stretches, %zu bytes in all",
			 r->holes - 1, r->hole_bytes);
	return buf;
}
