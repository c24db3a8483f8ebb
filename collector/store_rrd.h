/*
 * store_rrd.h - the collector's RRD writer: batches go into a bounded queue,
 * one writer thread creates and updates the files, and completions come back
 * to the event loop so each batch can be acknowledged once it is on disk.
 */
#ifndef VAKT_STORE_RRD_H
#define VAKT_STORE_RRD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "sample.h"

struct store;

struct store_params {
	const char *data_dir;
	unsigned step;    /* RRD step in seconds */
	size_t queue_max; /* batches waiting for the writer */
};

/* What the writer reports for one batch, on the loop thread. */
struct store_result {
	uint64_t session_id;
	uint64_t seq;
	unsigned written;    /* samples stored */
	unsigned duplicates; /* samples at or before the file's last update (replays) */
	unsigned rejected;   /* samples that can never be stored (a metric the file lacks) */
	unsigned failed;     /* samples not stored for now (disk full, permissions): the
				batch must not be acknowledged, the agent sends it again */
	char why[160];       /* the first failure, for the agent and the log */
};

typedef void (*store_done_fn)(const struct store_result *r, void *arg);

struct store_stats {
	uint64_t batches, samples, duplicates, rejected, failed, files_created;
	size_t queued;
};

/* Needs evthread_use_pthreads() before the event base was made. */
struct store *store_new(struct event_base *base, const struct store_params *p, store_done_fn done,
			void *arg);
/* Drains the queue (writes what is queued), stops the thread, frees. */
void store_free(struct store *s);
/* 1 when a submit would be refused: the caller stops reading. */
int store_full(const struct store *s);
/*
 * Queues `b` (ownership passes to the store). Returns -1 and keeps nothing
 * (the caller still owns b) when the queue is full.
 */
int store_submit(struct store *s, struct sample_batch *b);
void store_get_stats(struct store *s, struct store_stats *st);

/* Builds the rrdcreate arguments for one file; exposed for the unit tests. */
int store_rrd_create_args(unsigned step, unsigned interval, const struct sample *const *samples,
			  size_t n, char ***argv_out);

#endif
