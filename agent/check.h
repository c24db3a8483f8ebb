/*
 * check.h - the check-kind table. A check kind is a small vtable; adding a
 * kind means one new file (check_<kind>.c) and one line in check.c.
 * A run is asynchronous: run() starts it on the agent's event loop and the
 * kind calls check_emit() for each sample and check_done() exactly once.
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

struct check_kind {
	const char *name;    /* "snmp", "tcp": the value of kind = "..." */
	const char *section; /* config section: "snmp" or "probe" */
	cfg_opt_t *opts;     /* the kind's own keys inside its section */
	int one_per_host;    /* its files are named by host alone (system.rrd): one check a host */
	/* Validates `sec` (errors via conf_section_error) and fills c->priv. */
	int (*parse_config)(struct check *c, cfg_t *sec);
	/* Opens what the kind needs (sessions, sockets) on c->agent's loop. */
	int (*start)(struct check *c);
	/* Begins one run; must end with check_done(c, outcome). */
	void (*run)(struct check *c);
	/* Cancels a run in progress and frees c->priv. Safe if start failed. */
	void (*stop)(struct check *c);
};

enum check_outcome {
	CHECK_PENDING, /* not run yet */
	CHECK_OK,      /* measured */
	CHECK_DOWN,    /* measured: the target is down / unreachable */
	CHECK_TIMEOUT, /* no answer within the timeout */
	CHECK_ERROR,   /* the agent could not perform the check */
};

const char *check_outcome_str(enum check_outcome o);

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
	int64_t run_time_ms;   /* wall-clock time the current run started */
	uint64_t run_start_ms; /* monotonic time the current run started */
	enum check_outcome last;
	void *priv; /* the kind's state */
};

/* The table of kinds; NULL-terminated. */
extern const struct check_kind *const check_kinds[];
const struct check_kind *check_kind_find(const char *name);

/* Emits one sample of the current run (host, check name, timestamp filled in). */
void check_emit(struct check *c, const char *instance, const char *metric, enum sample_kind kind,
		double value, uint64_t counter, int unknown);
/* The same under another check name: a device check's parts ("system", "if"). */
void check_emit_as(struct check *c, const char *check, const char *instance, const char *metric,
		   enum sample_kind kind, double value, uint64_t counter, int unknown);
/* Ends the current run. */
void check_done(struct check *c, enum check_outcome o);

/* Scheduling, used by the agent. */
int check_schedule(struct check *c);
void check_free(struct check *c);

#endif
