/*
 * watch.h - the collector's own timers that turn silence into alerts, so
 * that no data never passes for good news: a file whose samples stopped
 * (no-data), an agent that sent nothing (agent-down), a check whose runs
 * fail (unreachable). A condition that another explains is not paged twice:
 * an agent that is down hides its hosts' conditions, an unreachable host
 * hides its files' no-data.
 */
#ifndef VAKT_WATCH_H
#define VAKT_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "sample.h"

struct alert_engine;
struct watch;

/* Files and checks watched at most (the alert engine's series bound, doubled). */
#define WATCH_MAX_ENTRIES 200000
/*
 * Agents (site, agent) remembered at most: each hello with new names makes a
 * record that lives until the collector stops, so a peer inventing names
 * must run into a bound.
 */
#define WATCH_MAX_AGENTS 10000
/* Lines about agents' clocks per window (log_lines_window), at most: a hello can cause one. */
#define WATCH_CLOCK_LINES 20

struct watch_params {
	unsigned agent_down_s;       /* seconds without traffic from an agent; 0 = off */
	unsigned heartbeat_s;        /* an agent sends something at least this often */
	unsigned no_data;            /* intervals without samples for a file; 0 = off */
	unsigned unreachable;        /* failed runs in a row; 0 = off */
	size_t max_entries;          /* files and checks watched, at most */
	unsigned max_new_per_minute; /* new entries one site may add a minute; 0 = no limit */
	unsigned log_window_s;       /* seconds of the window of clock lines; 0 = 60 */
};

/* One agent seen since start; the session that serves it holds a pointer. */
struct watch_agent {
	char *site, *agent;
	int sessions;     /* connected sessions of this agent */
	int held;         /* of them, sessions the store's back-pressure keeps from reading */
	double last_seen; /* monotonic seconds */
	int64_t last_wall_ms;
	char last_peer[80];
	char last_close[96]; /* why its last session ended */
	int down;            /* agent-down is firing */
	int have_offset;
	int64_t clock_offset_ms;                 /* agent clock minus collector clock */
	uint64_t clock_steps;                    /* offset jumps of more than a few seconds */
	uint64_t ahead;                          /* samples refused: stamped in the future */
	uint64_t duplicates;                     /* samples at or before their file's last update */
	uint64_t redelivered;                    /* batches of its stream stored already: acked */
	uint64_t parts;                          /* batches over max_frame it sent in parts */
	uint64_t rejected, quarantined, refused; /* per the store's verdicts */
};

struct watch *watch_new(struct event_base *base, struct alert_engine *alert,
			const struct watch_params *p);
void watch_free(struct watch *w);

/* An agent said hello: returns its record (made on first sight); NULL when
 * it is new and WATCH_MAX_AGENTS are known already. */
struct watch_agent *watch_agent_hello(struct watch *w, const char *site, const char *agent,
				      const char *peer);
/* The record of (site, agent); NULL when unknown. */
struct watch_agent *watch_agent_find(const struct watch *w, const char *site, const char *agent);
/* How many agents of `site` the watch knows (seen or known from before a restart). */
size_t watch_site_agents(const struct watch *w, const char *site);
/*
 * Forgets an agent without a session (vaktctl forget): its agent-down, and
 * the no-data and unreachable of what it reported, are resolved with a note
 * saying so, and nothing of it is watched any more. -1 when unknown.
 */
int watch_agent_forget(struct watch *w, const char *site, const char *agent);
/* An agent known from before a restart: down unless it returns within agent_down. */
void watch_agent_known(struct watch *w, const char *site, const char *agent);
/* Any traffic from the agent (batch, heartbeat): it is alive. */
void watch_agent_seen(struct watch *w, struct watch_agent *a);
/* Its session from `peer` ended, saying why. */
void watch_agent_closed(struct watch *w, struct watch_agent *a, const char *peer, const char *why);
/*
 * One of its sessions stops (held = 1) or resumes (0) reading because the
 * store is behind: its silence then is the collector's, not the agent's.
 */
void watch_agent_held(struct watch *w, struct watch_agent *a, int held);
/* The agent's clock, as a Hello or Heartbeat stated it; logs a step once. */
void watch_agent_clock(struct watch *w, struct watch_agent *a, int64_t agent_ms);

/*
 * A file known from before a restart, written shortly before it by `agent`
 * ("" if not known) at `interval`: no-data unless its samples resume within
 * the no_data intervals. Call after watch_agent_known, so the file's agent
 * is found and its silence explained by agent-down.
 */
void watch_file_known(struct watch *w, const char *site, const char *host, const char *check,
		      const char *instance, const char *agent, unsigned interval);
/*
 * A sample arrived (real data, not one derived from an outcome); `agent` may
 * be NULL. `now` (mono_now()) and `now_wall_ms` (wall_now_ms()) are read once
 * by the caller for a whole batch: the clocks cost more than the rest.
 */
void watch_sample(struct watch *w, const char *site, const char *agent, const struct sample *s,
		  double now, int64_t now_wall_ms);
/* A check's run ended; `agent` may be NULL. */
void watch_result(struct watch *w, const char *site, const char *agent,
		  const struct check_result *r);

/* Calls fn for every agent seen since start. */
void watch_foreach_agent(const struct watch *w, void (*fn)(const struct watch_agent *a, void *arg),
			 void *arg);

struct watch_stats {
	size_t agents, files, checks;
	size_t agents_down, files_silent, checks_failing;
	uint64_t ignored; /* entries not watched: the table was full */
};
void watch_get_stats(const struct watch *w, struct watch_stats *st);

struct store;
/*
 * Looks at the store's quarantined files: a host with any pages
 * "quarantine" once (their samples are being lost), and recovers when none
 * is left. The loop does it every few seconds.
 */
void watch_quarantine(struct watch *w, struct store *store);

/* Runs the timers once at `now` (monotonic seconds); the loop does it every second. */
void watch_tick(struct watch *w, double now);

#endif
