/*
 * store_rrd.h - the collector's RRD writer: batches go into a queue bounded
 * in batches and bytes, one writer thread maps series to files through the
 * series index, creates, grows and updates the files, and completions come
 * back to the event loop so each batch can be acknowledged once it is on disk.
 * A failure only one file has quarantines that file; only a failure of the
 * whole store withholds acknowledgements.
 */
#ifndef VAKT_STORE_RRD_H
#define VAKT_STORE_RRD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "sample.h"

struct store;

struct store_params {
	const char *data_dir;              /* RRD files and the state database (vakt.db) */
	unsigned step;                     /* RRD step in seconds */
	size_t queue_max;                  /* batches waiting for the writer */
	size_t queue_bytes;                /* their memory (sample_batch.bytes); 0 = no bound */
	unsigned quarantine_retry;         /* seconds before a quarantined file is tried again */
	unsigned max_series_per_site;      /* 0 = no limit */
	unsigned max_new_files_per_minute; /* per site; 0 = no limit */
};

/* What the writer reports for one batch, on the loop thread. */
struct store_result {
	uint64_t session_id;
	uint64_t seq;
	unsigned written;     /* samples stored */
	unsigned duplicates;  /* samples at or before the file's last update (replays) */
	unsigned rejected;    /* samples that can never be stored (no path fits) */
	unsigned quarantined; /* samples of a quarantined file: dropped, counted */
	unsigned refused;     /* samples of series over the site's limits: dropped, counted */
	unsigned failed;      /* samples not stored for now (disk full, read-only store): the
				 batch must not be acknowledged, the agent sends it again */
	char why[160];        /* the first failure, for the agent and the log */
};

typedef void (*store_done_fn)(const struct store_result *r, void *arg);

struct store_stats {
	uint64_t batches, samples, duplicates, rejected, quarantined, refused, failed;
	uint64_t files_created, files_grown; /* grown: data sources added with rrd_tune */
	uint64_t submit_refused;             /* batches refused by a full queue */
	size_t queued, queued_bytes;
	size_t files, series; /* in the series index */
	size_t files_quarantined;
};

/* A quarantined file, for the status output. */
struct store_quarantine {
	const char *site, *host, *check, *instance; /* the file's series, as named */
	const char *path;                           /* full path */
	const char *op;     /* what failed: "mkdir", "create", "open", "tune", "update" */
	const char *reason; /* why */
	time_t since;       /* wall clock of the first failure */
	uint64_t dropped;   /* samples lost to it so far */
};

typedef void (*store_quarantine_fn)(const struct store_quarantine *q, void *arg);

/*
 * Needs evthread_use_pthreads() before the event base was made. Opens the
 * series index (<data_dir>/vakt.db) on the writer thread and waits for it:
 * NULL, after logging why, when the store cannot work.
 */
struct store *store_new(struct event_base *base, const struct store_params *p, store_done_fn done,
			void *arg);
/* Drains the queue (writes what is queued), stops the thread, frees. */
void store_free(struct store *s);
/* 1 when a submit would be refused: the caller stops reading. */
int store_full(const struct store *s);
/*
 * Queues `b` (ownership passes to the store). Returns -1 and keeps nothing
 * (the caller still owns b) when the queue is full. A batch is admitted
 * while the queue holds less than queue_bytes, so it may exceed that bound
 * by one batch (at most one frame's worth).
 */
int store_submit(struct store *s, struct sample_batch *b);
/*
 * Calls fn for every agent that had sent data when the collector started
 * (the series index remembers them), so that one that never comes back is
 * noticed after a restart too.
 */
void store_foreach_known_agent(const struct store *s,
			       void (*fn)(const char *site, const char *agent, void *arg),
			       void *arg);
void store_get_stats(struct store *s, struct store_stats *st);
/*
 * Calls fn for each quarantined file, oldest first, with the store's lock
 * held: fn must not call the store.
 */
void store_foreach_quarantined(struct store *s, store_quarantine_fn fn, void *arg);

/* A data source to define: its name in the file, its kind, its check's interval. */
struct store_ds {
	const char *name;
	enum sample_kind kind;
	unsigned interval; /* seconds: the heartbeat is twice this, at least one step */
};

/* Builds the rrdcreate arguments for one file; exposed for the unit tests. */
int store_rrd_create_args(unsigned step, const struct store_ds *ds, size_t n, char ***argv_out);

#endif
