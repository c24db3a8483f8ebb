/*
 * series_wire.h - the compact form of a batch (protocol 2; docs/protocol.md).
 * A series (host, check, instance, metric, kind, interval, width) is
 * described once per session in a SeriesDef and later samples name it by a
 * small id; their times travel as deltas and their values in columns.
 *
 * The agent keeps batches in the full form (protocol 1: every sample names
 * its series), which stands alone whatever session carries it. Only when a
 * batch is put on a session does series_tx_compact() rewrite it against
 * what that session has already defined (series_tx_compact_read() when the
 * agent kept its samples as it wrote them); the collector's series_rx turns
 * it back into full samples before anything else sees it.
 */
#ifndef VAKT_SERIES_WIRE_H
#define VAKT_SERIES_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "vakt.pb-c.h"

/*
 * Ids a session may define when the collector names no limit: HelloAck's
 * max_series is 0, or absent (a collector before the field).
 */
#define SERIES_WIRE_MAX_DEFAULT 100000

/* The agent's side: which series this session has defined, and as what id. */
struct series_tx;

/*
 * `max` ids at most (>= 1); past it, ids are reused from 1 and defined again.
 * The table grows with the series defined, not allocated for `max` at once.
 */
struct series_tx *series_tx_new(uint32_t max);
void series_tx_free(struct series_tx *t);
/* A new session, on which `max` ids (>= 1) may be defined: nothing is yet. */
void series_tx_reset(struct series_tx *t, uint32_t max);
size_t series_tx_count(const struct series_tx *t);
/* What the table holds in memory (entries, hash slots, keys), for tests and stats. */
size_t series_tx_bytes(const struct series_tx *t);

/*
 * One sample of a full-form batch as series_tx_compact reads it: its names
 * by where they lie in the frame, the rest decoded. The agent writes one
 * beside each sample it encodes (series_tx_put_sample), so that a batch it
 * has just made goes compact without being read back (series_tx_compact_read).
 */
struct series_tx_sample {
	uint32_t at;      /* where the sample's field (key, length, Sample) starts in the frame */
	uint32_t name[4]; /* host, check, instance, metric: where each starts, from `at` */
	uint32_t len[4];  /* their bytes, up to a NUL (a name ends there, as a C string) */
	uint32_t kind, interval, width;
	uint32_t unknown;
	/*
	 * Nonzero when the writer knows that the sample before it in the batch
	 * has the same host, check and instance (a port's metrics, emitted in
	 * a row): the compact form then does not compare their names. Ignored
	 * for a batch's first sample; series_tx_compact reads it as 0.
	 */
	uint32_t same_file;
	int64_t time_ms;
	double value;     /* GAUGE */
	uint64_t counter; /* COUNTER and DERIVE */
};

/* The most bytes series_tx_put_sample writes for names of these lengths. */
size_t series_tx_sample_max(const size_t lens[4]);
/*
 * What series_tx_put_sample keeps from one sample to the next, zeroed to
 * begin: the last time written and its varint (a run's samples share one),
 * and the last sample's host, check and instance as written (a port's
 * samples share them).
 */
struct series_tx_put {
	int64_t time_ms;
	uint8_t time[16];
	size_t tlen; /* 0: none yet */
	uint8_t file[3 * (1 + 2 + 128)];
	size_t flen;       /* 0: none kept (longer than file) */
	uint32_t fname[3]; /* where each name starts in file */
};
/*
 * Writes the sample with these names and the other fields of `v` (its names
 * unused) at p as a Batch's field 2 in the full form (fields at zero left out,
 * as protobuf-c writes them); returns the byte after it. *rec gets what
 * series_tx_compact_read needs of it, its `at` 0 and its same_file 0 (the
 * caller sets them). `put` may be NULL; with it, same_file says that the
 * last sample put through it had the same host, check and instance, which
 * are then copied as they were written.
 */
uint8_t *series_tx_put_sample(uint8_t *p, const char *const names[4], const size_t lens[4],
			      const Vakt__Sample *v, struct series_tx_sample *rec,
			      struct series_tx_put *put, int same_file);

/*
 * Rewrites the full-form frame `frame` (length prefix included, as queued)
 * into the compact form for this session. Returns a malloc'd frame with its
 * prefix and its length in *outlen, or NULL when `frame` is not a batch in
 * the full form, does not decode, or has more samples than `max`: the
 * caller then sends it as it is. When the batch's series do not fit beside
 * those defined, the table starts again from id 1 and the batch defines
 * every series it uses.
 */
uint8_t *series_tx_compact(struct series_tx *t, const uint8_t *frame, size_t len, size_t *outlen);
/*
 * The same for a full-form batch already read: `frame` holds seq `seq`, then
 * the samples s[0..n) (as series_tx_put_sample wrote them, each `at` set),
 * then from byte `raw` to its end its Results, Events and `more`, as the
 * agent makes a batch. The same bytes as series_tx_compact makes of it.
 */
uint8_t *series_tx_compact_read(struct series_tx *t, const uint8_t *frame, size_t len,
				uint64_t seq, const struct series_tx_sample *s, size_t n, size_t raw,
				size_t *outlen);

/* The collector's side: the series a session has defined, by id. */
struct series_rx;

/* Ids 1..max may be defined (0: SERIES_WIRE_MAX_DEFAULT); the table grows as they are. */
struct series_rx *series_rx_new(uint32_t max);
void series_rx_free(struct series_rx *r);
size_t series_rx_count(const struct series_rx *r);
uint32_t series_rx_max(const struct series_rx *r);
/* Definitions the session has made, redefinitions of an id included (up to 2^32 - 1). */
uint32_t series_rx_defined(const struct series_rx *r);
/* What the definitions hold in memory, for the session's bounds. */
size_t series_rx_bytes(const struct series_rx *r);

/*
 * Takes in the batch's definitions, then expands its compact samples into
 * full Vakt__Sample structs: *out gets a malloc'd array of *nout samples
 * whose names point into `r` (valid until the next call; free the array
 * alone; NULL when the batch has no compact samples). Returns NULL, or
 * what is wrong with the batch (a series never defined, an id out of range,
 * columns that do not match): the session cannot go on.
 */
const char *series_rx_expand(struct series_rx *r, const Vakt__Batch *b, Vakt__Sample **out,
			     size_t *nout);
/*
 * Which definition of the session series `id` is now (1 for the first the
 * session made, 2 for the next, whatever their ids): a series redefined
 * under the same id gets a new number. 0 when id is not defined, or after
 * 2^32 - 1 definitions.
 */
uint32_t series_rx_definition(const struct series_rx *r, uint32_t id);
/*
 * A number that series `id` shares with the series defined just before it
 * when the two have the same host, check and instance (a device's metrics
 * are defined in a row), so that two ids of one number name one file and a
 * receiver need not compare their names. 0 when id is not defined, or after
 * 2^32 - 1 numbers.
 */
uint32_t series_rx_file(const struct series_rx *r, uint32_t id);
/*
 * A verdict on the names of series `id`'s current definition, kept for the
 * receiver's own check (the collector's name rules) so that it runs once per
 * definition, not once per sample: -1 none yet (or id not defined), else
 * what series_rx_set_verdict stored. A redefinition clears it.
 */
int series_rx_verdict(const struct series_rx *r, uint32_t id);
void series_rx_set_verdict(struct series_rx *r, uint32_t id, int ok);

#endif
