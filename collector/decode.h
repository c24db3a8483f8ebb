/*
 * decode.h - the collector's checks of what a session receives, apart from
 * the socket: a Hello is accepted or refused with a reason, a Batch becomes
 * Vakt's own struct sample_batch with the invalid parts skipped and counted.
 * Pure functions of their input, so that a fuzz target can drive them.
 */
#ifndef VAKT_DECODE_H
#define VAKT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "sample.h"
#include "vakt.pb-c.h"

/*
 * 0 when `h` may start a session; else -1 with the reason in why[0..n).
 * Makes h->software safe for a log line (control characters, length).
 */
int decode_hello(Vakt__Hello *h, char *why, size_t n);

struct decode_stats {
	size_t invalid;   /* samples and results that break the rules, skipped */
	size_t ahead;     /* stamped beyond now + max_clock_skew, skipped */
	int64_t worst_ms; /* the furthest ahead of now among those */
};

/*
 * The samples of `pb` as a batch of `site` and `agent`, and its valid check
 * results in a calloc'd array *res (*nres of them; its names point into
 * `pb`, whose reasons are cleaned in place: free *res before `pb`).
 */
struct sample_batch *decode_batch(Vakt__Batch *pb, const char *site, const char *agent,
				  uint64_t session_id, int64_t now_ms, unsigned max_clock_skew,
				  struct check_result **res, size_t *nres, struct decode_stats *st);

#endif
