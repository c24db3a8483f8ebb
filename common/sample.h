/*
 * sample.h - the unit of data in Vakt:
 * (site, host, check, instance, metric, timestamp, value, kind).
 * Kinds follow rrdtool: agents send raw counters, never rates. Past the
 * session that decodes the wire, the collector works on struct sample only,
 * so that synthetic samples (no-data, agent-down, traps) need no fake frame.
 */
#ifndef VAKT_SAMPLE_H
#define VAKT_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vakt.pb-c.h"

enum sample_kind {
	SAMPLE_GAUGE = VAKT__KIND__GAUGE,
	SAMPLE_COUNTER = VAKT__KIND__COUNTER,
	SAMPLE_DERIVE = VAKT__KIND__DERIVE,
};

const char *sample_kind_str(enum sample_kind k);

/* How one run of one check ended; the numbers are the wire's and the RRD's. */
enum outcome {
	OUTCOME_NONE = VAKT__OUTCOME__OUTCOME_UNSET,
	OUTCOME_OK = VAKT__OUTCOME__OUTCOME_OK,
	OUTCOME_DOWN = VAKT__OUTCOME__OUTCOME_DOWN,
	OUTCOME_TIMEOUT = VAKT__OUTCOME__OUTCOME_TIMEOUT,
	OUTCOME_ERROR = VAKT__OUTCOME__OUTCOME_ERROR,
};

const char *outcome_str(enum outcome o); /* "ok", "down", "timeout", "error" */

/* Name limits on the wire; longer names are rejected by the collector. */
#define SAMPLE_NAME_MAX 128
/* Longest reason text of an outcome that the collector keeps. */
#define SAMPLE_REASON_MAX 200

/*
 * The length of the well-formed UTF-8 character at s, of at most n bytes
 * (RFC 3629: no overlong form, no surrogate, nothing past U+10FFFF), or 0
 * when s starts none.
 */
size_t utf8_char_len(const void *s, size_t n);

/*
 * Text from a device or a peer made safe to name things and to show: copies
 * n bytes of src into dst (size > 0) as well-formed UTF-8 of at most size-1
 * bytes and a NUL. Each byte that starts no well-formed character becomes
 * '?', as does each control character (C0, DEL, C1); a character that does
 * not fit whole ends the copy, so a cut is on a character boundary. dst may
 * be src. Returns the length written.
 */
size_t utf8_clean(char *dst, size_t size, const void *src, size_t n);

/*
 * One sample as the collector keeps it. The names point into the batch that
 * holds the sample and live as long as it.
 */
struct sample {
	const char *host, *check, *instance, *metric;
	int64_t time_ms;  /* wall clock of the measurement */
	double value;     /* GAUGE */
	uint64_t counter; /* COUNTER and DERIVE: the raw counter */
	enum sample_kind kind;
	unsigned interval; /* the check's interval in seconds */
	unsigned width;    /* COUNTER: 32 or 64 bits */
	bool unknown;      /* could not be measured: stored as "U" */
	/*
	 * Nonzero when the sample came by a series id of a session's compact
	 * form: the same number always names the same series (session and
	 * definition), so that the store resolves it once. 0: by its names alone.
	 */
	uint64_t series;
};

/* The value as rrd_update wants it ("U" when unknown). */
void sample_format_value(const struct sample *s, char *buf, size_t len);

/*
 * Samples that travel together: one wire batch of one agent, or a set of
 * synthetic ones. Owns its samples and their names; `bytes` is what it holds
 * in memory, which the queues that carry it are bounded by.
 */
#define SAMPLE_BATCH_METRICS 4

struct sample_batch {
	char *site;
	char *agent;         /* NULL for synthetic samples */
	uint64_t session_id; /* 0 for synthetic samples: nobody waits for an ack */
	uint64_t seq;
	uint64_t stream; /* the agent's Hello.stream; 0: none (seq restarts with the agent) */
	struct sample *v;
	size_t n, cap;
	struct sample_chunk *chunks; /* the names */
	size_t bytes;
	/*
	 * The last few metric names copied: a device's samples cycle through
	 * a few metrics, and sharing one copy of each lets the journal and the
	 * cache compare them by pointer.
	 */
	const char *metrics[SAMPLE_BATCH_METRICS];
	unsigned next_metric;
};

/*
 * How one run of one check ended, as the collector keeps it. The names
 * point into whatever the caller decoded; they live for the call only.
 */
struct check_result {
	const char *host, *check, *instance;
	int64_t time_ms; /* when the run started */
	enum outcome outcome;
	const char *reason; /* "" when there is nothing to say */
	unsigned interval;  /* seconds */
	unsigned duration_ms;
};

/*
 * Something that happened once (an SNMP trap), as the collector keeps it:
 * for the alert engine only, never stored in a file. The names point into
 * whatever the caller decoded; they live for the call only.
 */
struct event {
	const char *host, *check, *instance;
	const char *name;   /* "linkDown", "coldStart", or the numeric trap OID */
	int64_t time_ms;    /* wall clock it was received */
	const char *oid;    /* the trap OID, numeric; "" when none */
	const char *text;   /* the varbinds for people; "" when none */
	const char *source; /* the sender's address */
};

/* Longest event text the collector keeps. */
#define EVENT_TEXT_MAX 400

struct sample_batch *sample_batch_new(const char *site, const char *agent, uint64_t session_id,
				      uint64_t seq, size_t nhint);
void sample_batch_free(struct sample_batch *b);
/*
 * Appends a zeroed sample with copies of the names (shared with the previous
 * sample's where they are equal, as in a batch they mostly are).
 */
struct sample *sample_batch_add(struct sample_batch *b, const char *host, const char *check,
				const char *instance, const char *metric);
/*
 * Appends a zeroed sample of the last sample's file: its host, check and
 * instance shared, not compared; the metric copied, or shared with the last
 * sample's when same_metric. The batch must hold a sample.
 */
struct sample *sample_batch_add_same_file(struct sample_batch *b, const char *metric,
					  int same_metric);

#endif
