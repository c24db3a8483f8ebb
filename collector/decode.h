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
#include "series_wire.h"
#include "vakt.pb-c.h"

/*
 * 0 when `h` may start a session (protocol VAKT_PROTOCOL_MIN or later: the
 * session speaks the lower of its version and VAKT_PROTOCOL); else -1 with
 * the reason in why[0..n).
 * Makes h->software safe for a log line (control characters, length).
 */
int decode_hello(Vakt__Hello *h, char *why, size_t n);

/*
 * What one id of the series a session defines (protocol 2) may hold in
 * memory: its four names, up to about 270 bytes together, and its entry.
 * A session may define the ids its HelloAck allowed (max_session_series),
 * so its definitions may hold that many times this: 32 MiB for 100,000 ids,
 * as many as an agent polling 160 switches defines. The bound must never be
 * below what an agent's ids hold; past it the session is refused. What all
 * sessions define together is bounded by series_size, which must hold one
 * session's.
 */
#define DECODE_SERIES_BYTES_PER_ID 336
/* The bytes a session allowed `max_ids` ids may define (max_ids x the above). */
static inline size_t decode_series_bytes(uint32_t max_ids)
{
	return (size_t)max_ids * DECODE_SERIES_BYTES_PER_ID;
}
/*
 * Samples, Results and Events one batch may hold, in either form. An agent sends at
 * most 1,000 of each; the bound keeps what a batch expands to in memory and
 * in the journal (names up to 4 x 128 bytes a sample: under 30 MB) in
 * proportion, however small its compact form was on the wire.
 */
#define DECODE_MAX_ITEMS 50000

/* 1 when `n` may name a site, agent, host, check or metric ("" too if may_be_empty). */
int decode_name_ok(const char *n, int may_be_empty);
/*
 * Makes `t` safe for a log line or a page: at most `max` bytes, control
 * characters and bytes outside well-formed UTF-8 as '?'.
 */
void decode_text_clean(char *t, size_t max);
/* Each byte of `t` outside a well-formed UTF-8 character, and each control
 * character, becomes '?' (utf8_clean). */
void decode_utf8_clean(char *t);

struct decode_stats {
	const char *fatal; /* when decode_batch returns NULL: why the session must end */
	char why[96];      /* where fatal may point */
	size_t invalid;    /* samples and results that break the rules, skipped */
	size_t ahead;      /* stamped beyond now + max_clock_skew, skipped */
	int64_t worst_ms;  /* the furthest ahead of now among those */
};

/*
 * The samples of `pb` as a batch of `site` and `agent`, and its valid check
 * results in a calloc'd array *res (*nres of them; its names point into
 * `pb`, whose reasons are cleaned in place: free *res before `pb`).
 * `rx` holds the series the session has defined (protocol 2; NULL on a
 * protocol-1 session), and takes in the batch's definitions; a sample sent
 * by its series id gets sample.series from session_id and the definition. NULL, with the
 * reason in st->fatal, when the batch holds more than DECODE_MAX_ITEMS
 * samples and Results, or breaks the compact form (a series never defined,
 * columns that do not add up, definitions above DECODE_SERIES_BYTES_PER_ID
 * per id `rx` allows, columns
 * on a protocol-1 session): the session cannot go on.
 */
struct sample_batch *decode_batch(Vakt__Batch *pb, struct series_rx *rx, const char *site,
				  const char *agent, uint64_t session_id, int64_t now_ms,
				  unsigned max_clock_skew, struct check_result **res, size_t *nres,
				  struct decode_stats *st);

/*
 * The valid events of `pb` in a calloc'd array *ev (*nev of them; their names
 * point into `pb`, whose texts, hosts and instances are cleaned in place
 * (decode_text_clean, decode_utf8_clean): free *ev before `pb`).
 * Invalid and too-far-ahead ones are skipped and counted in `st` (which is
 * not cleared). Call after decode_batch accepted the batch.
 */
void decode_events(Vakt__Batch *pb, int64_t now_ms, unsigned max_clock_skew, struct event **ev,
		   size_t *nev, struct decode_stats *st);

#endif
