/*
 * recscan.c - reading back records past damage (see recscan.h).
 */
#include "recscan.h"

#include <stdio.h>
#include <string.h>

/* The first offset at or after `from` where a record checks out; len: none. */
static size_t resync(const uint8_t *buf, size_t len, size_t from, const struct recscan_ops *ops,
		     void *arg, long *size)
{
	while (from < len) {
		const uint8_t *p = memmem(buf + from, len - from, ops->magic, ops->magic_len);
		const char *why;

		if (p == NULL)
			break;
		*size = ops->check(p, len - (size_t)(p - buf), arg, &why);
		if (*size > 0)
			return (size_t)(p - buf);
		from = (size_t)(p - buf) + 1;
	}
	return len;
}

void recscan(const uint8_t *buf, size_t len, size_t start, const struct recscan_ops *ops, void *arg,
	     struct recscan_result *r)
{
	size_t off = start;

	memset(r, 0, sizeof(*r));
	while (off < len) {
		const char *why = NULL;
		long size = ops->check(buf + off, len - off, arg, &why);
		size_t next;

		if (size <= 0) {
			next = resync(buf, len, off + 1, ops, arg, &size);
			if (next == len) {
				r->tail_why = why != NULL ? why : "bad record";
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
