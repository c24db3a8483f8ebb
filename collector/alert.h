/*
 * alert.h - the alert engine: rules matched against every sample, a state per
 * (rule, series), and a notification only when that state changes - never one
 * per sample. State lives in memory only for now (SQLite persistence comes later).
 */
#ifndef VAKT_ALERT_H
#define VAKT_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include <confuse.h>

#include "notify.h"
#include "sample.h"

/* Most (series) states the engine keeps; samples of further series are ignored. */
#define ALERT_SERIES_MAX 100000

/* Keys of one `rule "NAME" { ... }` section; the loader embeds them with CFG_SEC. */
extern cfg_opt_t alert_rule_opts[];

/* Checks one parsed rule section; reports every problem with
 * conf_section_error and returns -1 if there was any. */
int alert_rule_validate(cfg_t *sec);

struct alert_engine;

/* `notify` must outlive the engine. */
struct alert_engine *alert_engine_new(struct notify *notify);
void alert_engine_free(struct alert_engine *e);

/*
 * Adds a rule from a validated section. -1 (reported with file:line through
 * conf_section_error) if one of its channels is unknown to the notifier, so
 * add the notifier's channels first.
 */
int alert_engine_add_rule(struct alert_engine *e, cfg_t *sec);

/*
 * Evaluates one sample of `site` against every rule. Gauges are compared as
 * they are; COUNTER and DERIVE samples as the per-second rate since the
 * previous raw counter of the same series. Unknown samples change nothing.
 */
void alert_feed(struct alert_engine *e, const char *site, const struct sample *s);

/*
 * Evaluates one event of `site` (a trap) against the event rules: a rule
 * fires once when a matching event comes while it is not firing, and a
 * `cleared_by` event for the same (host, check, instance) resolves it. A
 * rule without cleared_by pages once per matching event. An event not
 * newer than the last of its (host, check, instance) is a replay: ignored.
 */
void alert_event(struct alert_engine *e, const char *site, const struct event *ev);
/*
 * 1 when the varbinds of an event's text ("ifIndex.3=3 ifAdminStatus.3=2
 * ifName.3=\"Gi0/3\"", as the agent writes it) hold one named `name`
 * (ifAdminStatus.3 for "ifAdminStatus"; a numeric OID's column for the OID)
 * whose value `glob` matches. A value in quotes runs to the quote before
 * the next space and is matched without them; a text cut short loses its
 * last varbinds. For event rules' `varbinds`, and its fuzz target.
 */
int alert_text_varbind(const char *text, const char *name, const char *glob);

/* Conditions the collector watches itself (watch.c), not rules of the config. */
enum alert_builtin {
	ALERT_NO_DATA,     /* a file's samples stopped while its agent lives */
	ALERT_AGENT_DOWN,  /* no traffic from an agent */
	ALERT_UNREACHABLE, /* a check's runs fail */
	ALERT_QUARANTINE,  /* files of a host cannot be written: their samples are lost */
	ALERT_BUILTIN_COUNT,
};

const char *alert_builtin_str(enum alert_builtin b); /* "no-data", ... : the rule's name */

/* The channels built-in alerts go to; -1 (logged) if one is unknown. */
int alert_engine_builtin_channels(struct alert_engine *e, const char *const *ch, size_t n);

/*
 * Sets built-in condition `b` on the series names[] (site, host, check,
 * instance, metric): fires once when it becomes true, resolves once when it
 * ends; `summary` says who, since when and why, and is the notification's text.
 */
void alert_condition(struct alert_engine *e, enum alert_builtin b, const char *const names[5],
		     int firing, int64_t time_ms, const char *summary);

/*
 * 1 when a configured "down" rule already watches names[] (site, host,
 * check, instance, "up"): the watch then leaves that check to the rule, so
 * that one outage pages once.
 */
int alert_engine_covers(const struct alert_engine *e, const char *const names[5]);

/* Calls fn with the firing event of every alert that has not resolved yet. */
void alert_engine_foreach_active(const struct alert_engine *e,
				 void (*fn)(const struct alert_event *ev, void *arg), void *arg);

struct alert_stats {
	size_t rules;
	size_t series;           /* series with state kept */
	size_t firing;           /* (rule, series) pairs firing now */
	uint64_t series_ignored; /* samples of new series dropped: table full */
	uint64_t transitions;    /* state changes since start */
};

void alert_engine_stats(const struct alert_engine *e, struct alert_stats *st);

#endif
