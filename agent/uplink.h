/*
 * uplink.h - the agent's stream to the collector: Hello, then batches with
 * sequence numbers, each kept until the collector acknowledges it and resent
 * in order after a reconnect. Unacknowledged batches live in the spool
 * (spool.h): on disk, bounded by spool_size, with a bounded window in
 * memory; both drop oldest-first, loudly. An idle connection carries a
 * Heartbeat at the interval the collector asks for, so that silence always
 * means trouble; a batch unacknowledged for three heartbeats fails over to
 * the next collector, and the agent returns to the first when it answers.
 */
#ifndef VAKT_UPLINK_H
#define VAKT_UPLINK_H

#include <stdint.h>

#include "agent.h"
#include "vakt.pb-c.h"

enum uplink_state {
	UPLINK_IDLE,       /* waiting to (re)connect */
	UPLINK_CONNECTING, /* TCP connect in progress */
	UPLINK_HELLO,      /* Hello sent, waiting for HelloAck */
	UPLINK_ACTIVE,     /* streaming batches */
};

const char *uplink_state_str(enum uplink_state s);

struct uplink_stats {
	uint64_t samples, results, events; /* batched */
	uint64_t batches_sent, batches_acked, reconnects, heartbeats;
	/* lost because the spool (or memory) was full: counted, never silent */
	uint64_t batches_dropped, samples_dropped, results_dropped, bytes_dropped;
	uint64_t segments_unreadable; /* spool segments found at start that could not be opened */
	uint64_t batches_copied;      /* spooled, not sent: a collector held their seqs from another
					 copy of the spool (a restored backup, a cloned machine) */
	uint64_t bytes_sent;    /* batch bytes put on connections */
	uint64_t bytes_full;    /* what they would have been in the full form (protocol 1) */
	uint64_t queued;        /* batches waiting for an ack */
	uint64_t queued_bytes;  /* what they hold in memory */
	uint64_t spooled_bytes; /* what the spool's files hold */
	uint64_t memory_only;   /* batches that could not be written to the spool */
};

/*
 * NULL when the tls section's files cannot be used (logged, with FILE:LINE)
 * or another agent holds spool_dir (logged, see spool_open).
 */
struct uplink *uplink_new(struct agent *a);
/*
 * The TLS client context of `conf`'s tls section, or NULL with
 * "FILE:LINE: tls: why" in err (a file it cannot use, a certificate whose
 * CN is not the site); --check-config tries it too. NULL without a tls section.
 */
struct ssl_ctx_st *uplink_tls_new(const struct agent_conf *conf, char *err, size_t errlen);
void uplink_free(struct uplink *u);
/* Starts connecting; returns at once. */
void uplink_start(struct uplink *u);
/* Takes ownership of `s` (allocated with uplink_sample_new). */
void uplink_add(struct uplink *u, Vakt__Sample *s);
Vakt__Sample *uplink_sample_new(const char *host, const char *check, const char *instance,
				const char *metric);
void uplink_sample_free(Vakt__Sample *s);
/*
 * As uplink_add of a sample with these names and the other fields of `v`
 * (its names unused), without allocating one: the sample is encoded into
 * the pending batch at once.
 */
void uplink_add_sample(struct uplink *u, const char *host, const char *check,
		       const char *instance, const char *metric, const Vakt__Sample *v);
/*
 * One file's names (host, check, instance: they must outlive its samples'
 * adding) and their lengths, for the samples of it a check adds in a row:
 * measured once, not per sample, and the compact form need not compare the
 * names of a sample added right after one of the same file. Made by
 * uplink_file_init for each file, never reused for another.
 */
struct uplink_file {
	const char *name[3];
	size_t len[3];
	unsigned added; /* samples added by it */
};
void uplink_file_init(struct uplink_file *f, const char *host, const char *check,
		      const char *instance);
/* As uplink_add_sample of f's names and `metric` (metric_len its strlen). */
void uplink_add_file_sample(struct uplink *u, struct uplink_file *f, const char *metric,
			    size_t metric_len, const Vakt__Sample *v);
/* Takes ownership of `r` (allocated with uplink_result_new). */
void uplink_add_result(struct uplink *u, Vakt__Result *r);
Vakt__Result *uplink_result_new(const char *host, const char *check, const char *instance,
				const char *reason);
void uplink_result_free(Vakt__Result *r);
/* Takes ownership of `e` (allocated with uplink_event_new). */
void uplink_add_event(struct uplink *u, Vakt__Event *e);
Vakt__Event *uplink_event_new(const char *host, const char *check, const char *instance,
			      const char *name, const char *oid, const char *text,
			      const char *source);
void uplink_event_free(Vakt__Event *e);
/* Batches what is pending and sends what the connection allows. */
void uplink_flush(struct uplink *u);
/* At shutdown: flush, and break the loop once every batch is acknowledged. */
void uplink_drain(struct uplink *u);
void uplink_get_stats(const struct uplink *u, struct uplink_stats *st);
enum uplink_state uplink_get_state(const struct uplink *u);

#endif
