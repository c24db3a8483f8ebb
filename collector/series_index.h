/*
 * series_index.h - the series index: one persistent, one-to-one mapping from
 * (site, host, check, instance, metric) to (RRD file relative to data_dir,
 * data-source name), kept in the collector's state database (SQLite, WAL)
 * and in memory for cheap lookups. Used by the store's writer thread only:
 * never open or touch it from the event loop.
 */
#ifndef VAKT_SERIES_INDEX_H
#define VAKT_SERIES_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct series_index;

/* A site: the store's limits count against it. */
struct series_site {
	const char *name;
	size_t nseries; /* series of the site in the index */
	void *user;     /* the store's state for it; not persisted, free()d at close */
};

/* One RRD file: one (site, host, check, instance). */
struct series_file {
	const char *site, *host, *check, *instance; /* display names: as the agent sent them */
	const char *path;                           /* relative to data_dir, unique */
	const char *agent; /* the agent whose sample made it or grew its interval ("": older) */
	unsigned interval; /* that sample's interval, seconds (0: older) */
	struct series_site *s;
	size_t nds; /* data sources the index knows for it */
	void *user; /* the store's state for it; not persisted, free()d at close */
};

/* One series: a metric of a file, and its data-source name there (unique in the file). */
struct series_ds {
	struct series_file *f;
	const char *metric; /* display name */
	const char *ds;
	unsigned mark, stamp; /* the store's; not persisted */
};

/*
 * Opens (creating if needed) the database at db_path and loads every
 * series. NULL with a reason in why when the database cannot be used.
 */
struct series_index *series_index_open(const char *db_path, char *why, size_t whylen);
void series_index_close(struct series_index *idx);

struct series_site *series_index_site(struct series_index *idx, const char *site);
struct series_file *series_index_file(struct series_index *idx, const char *site, const char *host,
				      const char *check, const char *instance);
/*
 * Adds a file with a path no other file of the index has (the readable one,
 * or the first free "~<n>" variant). It is kept until series_index_commit.
 * NULL if no path fits.
 */
struct series_file *series_index_add_file(struct series_index *idx, const char *site,
					  const char *host, const char *check, const char *instance,
					  const char *agent, unsigned interval);
/*
 * The agent and interval of a sample written to f now, when the interval is
 * longer than the one f keeps: a file made before the index kept them
 * (schema version 1, interval 0), or a check whose interval grew, so that a
 * restart watches it for no-data at its interval; written with the next
 * commit. Nothing changes for a shorter interval (an agent flapping between
 * two would rewrite the row each batch), nor for a sample of no agent.
 */
void series_index_set_origin(struct series_index *idx, struct series_file *f, const char *agent,
			     unsigned interval);
struct series_ds *series_index_ds(struct series_index *idx, struct series_file *f,
				  const char *metric);
/* The series of f whose data source is named ds, or NULL. */
struct series_ds *series_index_ds_named(struct series_index *idx, struct series_file *f,
					const char *ds);
/* Adds a series to f with a DS name no other series of f has. */
struct series_ds *series_index_add_ds(struct series_index *idx, struct series_file *f,
				      const char *metric);
/*
 * Writes what was added since the last commit in one transaction. On -1
 * (disk full, say) the additions stay in memory, as they are, and the next
 * commit writes them again: a mapping never changes once handed out.
 */
int series_index_commit(struct series_index *idx, char *why, size_t whylen);
/* Agents remembered at most: one per machine of every site is far below it. */
#define SERIES_INDEX_AGENTS_MAX 100000

/*
 * Remembers that `agent` of `site` sent data, at once on disk (a rare
 * write: once per agent). 1 when it was new, 0 when known, -1 with why.
 */
int series_index_note_agent(struct series_index *idx, const char *site, const char *agent,
			    char *why, size_t whylen);
/*
 * Forgets `agent` of `site` and its streams, at once on disk (vaktctl
 * forget). 1 when it was remembered, 0 when not, -1 with why.
 */
int series_index_forget_agent(struct series_index *idx, const char *site, const char *agent,
			      char *why, size_t whylen);
/* Calls fn for every agent remembered. */
void series_index_foreach_agent(const struct series_index *idx,
				void (*fn)(const char *site, const char *agent, void *arg),
				void *arg);

/*
 * Streams remembered per (site, agent), the newest (see store_rrd.c's
 * stream_trim for why a few are enough).
 */
#define SERIES_INDEX_STREAMS_PER_AGENT 4

/* The highest durable batch of one agent's stream (Hello.stream). */
struct series_stream {
	const char *site, *agent;
	uint64_t stream, acked;
};

/* Calls fn for every stream remembered; 0 or -1 with why. */
int series_index_load_streams(struct series_index *idx,
			      void (*fn)(const struct series_stream *st, void *arg), void *arg,
			      char *why, size_t whylen);
/*
 * Remembers v[0..n) in one transaction synced to disk (a remembered value
 * never goes down); 0 or -1 with why.
 */
int series_index_save_streams(struct series_index *idx, const struct series_stream *v, size_t n,
			      char *why, size_t whylen);

/* Calls fn for every file of the index. */
void series_index_foreach_file(const struct series_index *idx,
			       void (*fn)(const struct series_file *f, void *arg), void *arg);
/* Files and series in the index, committed or not. */
void series_index_counts(const struct series_index *idx, size_t *files, size_t *series);

#endif
