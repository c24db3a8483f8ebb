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
 * The first offset at or after `from` where a record checks out; len when
 * none does (or *budget runs out: *why says so).
 */
static size_t resync(const uint8_t *buf, size_t len, size_t from, const struct recscan_ops *ops,
		     void *arg, long *size, unsigned long long *budget, const char **why)
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
		*size = ops->check(p, avail, arg, &w);
		if (*size > 0)
			return (size_t)(p - buf);
		from = (size_t)(p - buf) + 1;
	}
	return len;
}

void recscan(const uint8_t *buf, size_t len, size_t start, const struct recscan_ops *ops, void *arg,
	     struct recscan_result *r)
{
	unsigned long long budget = RECSCAN_BUDGET(len);
	size_t off = start;

	memset(r, 0, sizeof(*r));
	while (off < len) {
		const char *why = NULL, *stop = NULL;
		long size = ops->check(buf + off, len - off, arg, &why);
		size_t next;

		if (size <= 0) {
			next = resync(buf, len, off + 1, ops, arg, &size, &budget, &stop);
			if (next == len) {
				r->tail_why = stop != NULL  ? stop
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
		ops->take(buf + off, (size_t)size, off, arg);
		r->records++;
		off += (size_t)size;
	}
	r->end = off < len ? off : len;
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
