/*
 * store_rrd.h - the collector's RRD store, written the way rrdcached makes
 * rrdtool fast. Batches go into a queue bounded in batches and bytes; one
 * writer thread takes whatever has queued, maps series to files through the
 * series index (creating and growing files at once), keeps each file's new
 * values in a write-back cache, appends the batches to a checksummed journal
 * (<data_dir>/journal) and fsyncs it once for all of them (group commit).
 * Only then do completions go back to the event loop, so a batch is
 * acknowledged once it is durable in the journal, not once it is in the
 * RRD file. The cache writes a file many values per rrd_update: when it
 * holds cache_max_values of them, when its oldest is cache_flush_age old
 * (spread over the second half of that age, so files do not all flush at
 * once), oldest files first when the cache outgrows cache_size, on demand
 * (store_flush), and all of it at shutdown. A journal file is removed once
 * the cache has written everything it covers; at start-up what is left is
 * replayed into the files before any session is accepted.
 *
 * The store also remembers, per (site, agent, stream), the highest batch it
 * holds durably, so that a batch delivered again (its ack was lost) is
 * acknowledged without being written. A failure only one file has
 * quarantines that file; only a failure of the whole store (journal or
 * files) withholds acknowledgements. Once a batch of a session has failed
 * so, every later batch of that session fails unwritten (nothing of it in a
 * file, the cache, the journal or the stream's acked), so that the agent
 * sends them all again in order: a later batch written could make or
 * advance a file past the failed one, which would then be lost. Alerts
 * never wait for the cache: they are evaluated on ingest, before the store.
 */
#ifndef VAKT_STORE_RRD_H
#define VAKT_STORE_RRD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "sample.h"

struct store;

/*
 * One round-robin archive of a new file: AVERAGE, MIN and MAX rows of
 * row_secs each (less than a step: one step; else row_secs / step steps,
 * rounded down) kept for span seconds.
 */
struct store_rra {
	unsigned row_secs;
	unsigned long span;
};
#define STORE_RRA_MAX 8
/* The rows one archive has at `step`. */
unsigned long store_rra_rows(const struct store_rra *rra, unsigned step);

struct store_params {
	const char *data_dir;              /* RRD files and the state database (vakt.db) */
	unsigned step;                     /* RRD step in seconds */
	const struct store_rra *rras;      /* the archives of new files; NULL: the default */
	size_t nrras;
	size_t queue_max;                  /* batches waiting for the writer */
	size_t queue_bytes;                /* their memory (sample_batch.bytes); 0 = no bound */
	unsigned quarantine_retry;         /* seconds before a quarantined file is tried again */
	unsigned max_series_per_site;      /* 0 = no limit */
	unsigned max_new_files_per_minute; /* per site; 0 = no limit */
	unsigned max_ds_per_file;          /* data sources one file may have; 0 = no limit */
	unsigned cache_flush_age;          /* seconds a value may wait; 0 = write at once */
	unsigned cache_max_values;         /* updates per file before it is written; 0 = 360 */
	size_t cache_size;                 /* bytes of cached values; 0 = 64 MiB */
	unsigned writers;                  /* writers of a flush of many files; 0 = one per CPU */
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
	unsigned failed;      /* samples not stored for now (disk full, read-only store, or
				 an earlier batch of the session failed so): the batch must
				 not be acknowledged, the agent sends it again */
	int redelivered;      /* 1: the stream's batch was durable already; acked, not written */
	char why[160];        /* the first failure, for the agent and the log */
};

typedef void (*store_done_fn)(const struct store_result *r, void *arg);

struct store_stats {
	uint64_t batches, samples, duplicates, rejected, quarantined, refused, failed;
	uint64_t redelivered;                          /* batches acked without a write */
	uint64_t journal_commits, journal_bytes;       /* fsyncs and bytes appended */
	uint64_t replayed;                             /* journal records replayed at start-up */
	uint64_t updates;                              /* rrd_update calls */
	size_t cache_files, cache_values, cache_bytes; /* files with values waiting */
	uint64_t files_created, files_grown;           /* grown: data sources added with rrd_tune */
	uint64_t submit_refused;                       /* batches refused by a full queue */
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
 * by one batch (at most one frame's worth). Once the done callback had a
 * result with failed > 0 for a session (b->session_id), the caller submits
 * no more batches of it: the store forgets the failure once the batches
 * queued by then are done.
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
/*
 * Calls fn once for every file written within a day before the start whose
 * agent and interval the index knows, so that a file whose samples never
 * resume after a restart still goes no-data; then frees that list (the
 * loop needs it once, at start). fn NULL: frees the list without a log line
 * (no_data = 0: nothing watches them).
 */
typedef void store_known_file_fn(const char *site, const char *host, const char *check,
				 const char *instance, const char *agent, unsigned interval,
				 void *arg);
void store_take_known_files(struct store *s, store_known_file_fn *fn, void *arg);
void store_get_stats(struct store *s, struct store_stats *st);
/*
 * The highest seq of (site, agent, stream) the store holds durably, 0 when
 * none: the agent resumes after it.
 */
uint64_t store_stream_acked(struct store *s, const char *site, const char *agent, uint64_t stream);
/*
 * Writes the cached values of the file at `path` (as the status names it),
 * or of every file when path is NULL, and waits for it (at most timeout_s):
 * for readers that need the file current. Blocks the caller (tests); the
 * loop uses store_flush_async. Returns the number of files written, or -1
 * with why.
 */
int store_flush(struct store *s, const char *path, unsigned timeout_s, char *why, size_t whylen);

/*
 * A request to the writer thread, answered on the loop: fn gets the result
 * (files written, or 1 / 0 whether the agent was known; -1 with why), unless
 * the request was cancelled first. The store frees the request after fn.
 * The writer does it (as store_flush) after every batch submitted before it.
 */
struct store_req;
typedef void (*store_req_fn)(int rc, const char *why, void *arg);
/* store_flush without the wait: fn is called once the writer has written. */
struct store_req *store_flush_async(struct store *s, const char *path, store_req_fn fn, void *arg);
/*
 * Forgets an agent (vaktctl forget): its streams, here and in vakt.db, and
 * that it sent data, so it is not watched after a restart.
 */
struct store_req *store_forget_agent(struct store *s, const char *site, const char *agent,
				     store_req_fn fn, void *arg);
/* The caller no longer wants the answer (its client went away): fn is not called. */
void store_req_cancel(struct store *s, struct store_req *r);
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

/*
 * Builds the rrdcreate arguments for one file with the archives rras (NULL:
 * the default, 1 step x 2 days, 5 min x 14 days, 1 h x 13 months, 1 day x
 * 10 years); exposed for the unit tests and the benchmarks.
 */
int store_rrd_create_args(unsigned step, const struct store_rra *rras, size_t nrras,
			  const struct store_ds *ds, size_t n, char ***argv_out);

#endif
