/*
 * notify.h - notification channels ("log", "exec") that deliver alert events.
 * Runs on the collector's event loop and must never block it: commands are
 * children fed through non-blocking pipes, bounded per channel, and killed on timeout.
 */
#ifndef VAKT_NOTIFY_H
#define VAKT_NOTIFY_H

#include <stdint.h>

#include <confuse.h>
#include <event2/event.h>

#include "sample.h"

/* Longest rule or channel name; the same limit as the names in a sample. */
#define NOTIFY_NAME_MAX SAMPLE_NAME_MAX

/* Notifications waiting for a free slot of an exec channel; the oldest drop first. */
#define NOTIFY_QUEUE_MAX 256

enum alert_state {
	ALERT_FIRING,   /* a series crossed a rule's limit */
	ALERT_RESOLVED, /* ... and came back past its clear limit (a recovery) */
};

const char *alert_state_str(enum alert_state s); /* "firing", "resolved" */

/*
 * One state transition of one rule on one series. A plain value: copy it freely.
 * `id` numbers the incident: it grows by one per firing and the recovery
 * carries the firing's id. `threshold` is the limit that was crossed: the
 * fire limit on ALERT_FIRING, the clear limit on ALERT_RESOLVED.
 */
struct alert_event {
	uint64_t id;
	enum alert_state state;
	char rule[NOTIFY_NAME_MAX + 1];
	char site[SAMPLE_NAME_MAX + 1];
	char host[SAMPLE_NAME_MAX + 1];
	char check[SAMPLE_NAME_MAX + 1];
	char instance[SAMPLE_NAME_MAX + 1];
	char metric[SAMPLE_NAME_MAX + 1];
	double value; /* a gauge, or a counter's per-second rate */
	double threshold;
	char summary[384]; /* "web on 127.0.0.1 is down" */
	int64_t time_ms;   /* wall clock of the sample that caused the transition */
};

/* Keys of one `channel "NAME" { ... }` section; the loader embeds them with CFG_SEC. */
extern cfg_opt_t notify_channel_opts[];

/* Checks one parsed channel section; reports every problem with
 * conf_section_error and returns -1 if there was any. */
int notify_channel_validate(cfg_t *sec);

struct notify;

/*
 * A notifier with the built-in channel "log" (daemon log only), which a
 * configured channel named "log" replaces. Adds a SIGCHLD event to `base`
 * to reap its children. The daemon must ignore SIGPIPE (a command that does
 * not read its stdin would otherwise kill the collector); notify_new warns if not.
 */
struct notify *notify_new(struct event_base *base);
/* Kills (SIGKILL, whole process group) and reaps running commands; drops queued ones. */
void notify_free(struct notify *n);

/* Adds a channel from a validated section; 0, or -1 (reported) on a duplicate name. */
int notify_add_channel(struct notify *n, cfg_t *sec);
int notify_has_channel(const struct notify *n, const char *name);

/* Delivers `ev` through `channel` now, or queues it if the channel is busy. */
void notify_send(struct notify *n, const char *channel, const struct alert_event *ev);

struct notify_stats {
	uint64_t sent;      /* log lines written / commands started */
	uint64_t failed;    /* commands that exited non-zero, died, or could not start */
	uint64_t timed_out; /* commands killed after `timeout` */
	uint64_t dropped;   /* notifications dropped from a full queue */
	unsigned running;   /* commands running now */
	unsigned queued;    /* notifications waiting for a slot */
};

/* Fills `st` for `channel`; -1 if there is no such channel. */
int notify_channel_stats(const struct notify *n, const char *channel, struct notify_stats *st);

#endif
