/*
 * check.h - the check-kind table. A check kind is a small vtable; adding a
 * kind means one new file (check_<kind>.c) and one line in check.c.
 * A run is asynchronous: run() starts it on the agent's event loop and the
 * kind calls check_emit() for each sample and check_done() exactly once,
 * which sends the run's Result: no run ends without one.
 */
#ifndef VAKT_CHECK_H
#define VAKT_CHECK_H

#include <stdint.h>

#include <confuse.h>
#include <event2/event.h>

#include "sample.h"
#include "scheduler.h"

struct agent;
struct check;

/*
 * The life of the agent's checks, in order:
 *
 *   parse_config  every check, while the config is loaded (no loop yet)
 *   init          once per kind that has checks, when the loop exists
 *   open_privileged  every check, before the agent drops privileges: raw
 *                 sockets, capture handles, files only root may read
 *   (privileges are dropped here once the agent does so)
 *   start         every check: sessions, sockets that need no privilege
 *   run           every interval, on the loop
 *   stop          every check, at exit
 *   fini          once per kind that had init, after every stop
 *
 * Every hook but parse_config, run and stop may be NULL. A check whose
 * open_privileged or start fails is still scheduled: start is retried before
 * each run, and each run it cannot make ends in an ERROR Result carrying the
 * reason given to check_start_error().
 */
struct check_kind {
	const char *name;    /* "snmp", "tcp": the value of kind = "..." */
	const char *section; /* config section: "snmp" or "probe" */
	cfg_opt_t *opts;     /* the kind's own keys inside its section */
	int one_per_host;    /* its files are named by host alone (system.rrd): one check a host */
	/* The check name its Results carry (its main file); NULL: the check's own name. */
	const char *result_check;
	/* Sets up what all checks of the kind share (one ICMP socket, one curl
	 * multi handle) into *state, which check_kind_state() returns. */
	int (*init)(struct agent *a, void **state);
	/* Validates `sec` (errors via conf_section_error) and fills c->priv. */
	int (*parse_config)(struct check *c, cfg_t *sec);
	/* Opens what needs privileges; runs before they are dropped. */
	int (*open_privileged)(struct check *c);
	/* Opens what the kind needs (sessions, sockets) on c->agent's loop;
	 * on failure says why with check_start_error(). */
	int (*start)(struct check *c);
	/* Begins one run; must end with check_done(c, outcome, reason...). */
	void (*run)(struct check *c);
	/* Cancels a run in progress and frees c->priv. Safe if start failed. */
	void (*stop)(struct check *c);
	/* Frees what init set up; runs after every check of the kind stopped. */
	void (*fini)(struct agent *a, void *state);
};

struct check {
	const struct check_kind *kind;
	struct agent *agent;
	struct event_base *base;
	char *name;        /* the section title */
	char *host;        /* host the samples belong to */
	unsigned interval; /* seconds */
	unsigned timeout_ms;
	struct sched_slot slot;
	struct event *timer;
	int busy;              /* a run is in progress */
	int started;           /* start() succeeded */
	int64_t run_time_ms;   /* wall-clock time the current run started */
	uint64_t run_start_ms; /* monotonic time the current run started */
	enum outcome last;     /* of the previous run; OUTCOME_NONE before the first */
	char start_error[SAMPLE_REASON_MAX + 1]; /* why start() failed, for each run's Result */
	void *priv;                              /* the kind's state */
};

/* The table of kinds; NULL-terminated. */
extern const struct check_kind *const check_kinds[];
const struct check_kind *check_kind_find(const char *name);

/* init for every kind with at least one check in a->conf; -1 if one failed. */
int check_kinds_init(struct agent *a);
/* fini for every kind whose init ran; after every check stopped. */
void check_kinds_fini(struct agent *a);
/* The state the kind's init set up for all its checks (NULL without init). */
void *check_kind_state(const struct check *c);

/* The open_privileged, then start phase of one check; -1 if it failed (logged). */
int check_open_privileged(struct check *c);
int check_start(struct check *c);
/* For start() and open_privileged(): records and logs why; returns -1. */
int check_start_error(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Emits one sample of the current run (host, check name, run's timestamp filled in). */
void check_emit(struct check *c, const char *instance, const char *metric, enum sample_kind kind,
		double value, uint64_t counter, int unknown);
/* The same under another check name: a device check's parts ("system", "if"). */
void check_emit_as(struct check *c, const char *check, const char *instance, const char *metric,
		   enum sample_kind kind, double value, uint64_t counter, int unknown);
/*
 * The same for the samples of one file (check name, instance) emitted in a
 * row, a port's metrics: f is made once by check_file_init for that file
 * (see struct uplink_file), and metric_len is strlen(metric).
 */
struct uplink_file;
void check_file_init(struct check *c, struct uplink_file *f, const char *check,
		     const char *instance);
void check_emit_file(struct check *c, struct uplink_file *f, const char *metric, size_t metric_len,
		     enum sample_kind kind, double value, uint64_t counter, int unknown);
/*
 * The same at an explicit wall-clock time (ms since the epoch): for what is
 * not measured by a run, such as a trap or a streamed value. `width` is a
 * COUNTER's width in bits (32 or 64; 0 means 64).
 */
void check_emit_at(struct check *c, int64_t time_ms, const char *check, const char *instance,
		   const char *metric, enum sample_kind kind, double value, uint64_t counter,
		   unsigned width, int unknown);
/*
 * Sends an event (a trap) under the check's name: something that happened
 * once, for the collector's event rules, never stored. `host` is the device
 * it is about, `source` the sender's address; time_ms grows per check.
 */
void check_event(struct check *c, int64_t time_ms, const char *host, const char *instance,
		 const char *name, const char *oid, const char *text, const char *source);
/*
 * Ends the current run and sends its one Result: the outcome and a short
 * reason for people (printf-style; NULL when there is nothing to say), which
 * names the target by name and address and never holds a secret.
 */
/*
 * The outcome of one part of the current run (an interface of a device:
 * check "if", instance "Gi0/1"), beside the run's own; the run still ends
 * with check_done. fmt NULL: no reason.
 */
void check_result_as(struct check *c, const char *check, const char *instance, enum outcome o,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void check_done(struct check *c, enum outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * What a server sent, quoted for a reason: printable ASCII as is, \r \n \t
 * and other bytes escaped (\x1b), cut after `max` input bytes with "...".
 * `out` always ends in a NUL; outlen of 4 * max + 4 never truncates.
 */
void check_quote(char *out, size_t outlen, const void *data, size_t n, size_t max);

/* Scheduling, used by the agent. */
int check_schedule(struct check *c);
void check_free(struct check *c);

#endif
