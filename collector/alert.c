/*
 * alert.c - rules, a state per (rule, series), and the transitions between them.
 * Never notifies without a state change; never keeps more than ALERT_SERIES_MAX series.
 */
#include "alert.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "hash.h"
#include "log.h"
#include "xmalloc.h"

/*
 * No persistence yet (SQLite comes in a later issue): a restart forgets every
 * state and incident id, so an alert still bad after a restart fires again.
 */

#define ALERT_BUCKETS_MIN 1024
/* Seconds between two log lines of the same repeated complaint. */
#define ALERT_COMPLAIN_S 60

enum rule_kind {
	RULE_ABOVE,   /* fire when value > fire, clear when value < clear */
	RULE_BELOW,   /* fire when value < fire, clear when value > clear */
	RULE_DOWN,    /* the "up" metric: fire when < 1, clear when >= 1 */
	RULE_BUILTIN, /* a condition the collector watches itself (alert_condition) */
	RULE_EVENT,   /* an event (a trap): fires on it, clears on `cleared_by` or at once */
};

/* The state of one rule on one series; changed only by alert_set_state(). */
enum series_state {
	SERIES_OK,
	SERIES_FIRING,
};

/* The names that make a series, in key order. */
enum field {
	F_SITE,
	F_HOST,
	F_CHECK,
	F_INSTANCE,
	F_METRIC,
	F_COUNT,
};

static const char *const field_keys[F_COUNT] = {"site", "host", "check", "instance", "metric"};

/*
 * An event rule's condition on a varbind (`varbinds`): NAME=GLOB holds when
 * a varbind named NAME has a value GLOB matches, NAME!=GLOB when none has.
 */
struct vb_cond {
	char *name; /* "ifAdminStatus" matches ifAdminStatus.3; a numeric OID its column */
	char *glob; /* on the value as the text shows it: 1, "Gi0/3" without quotes */
	int negate;
};

struct rule {
	char *name;
	enum rule_kind kind;
	char *pattern[F_COUNT]; /* fnmatch globs; NULL for "*", which matches anything */
	double fire;
	double clear;
	char *oid, *text; /* RULE_EVENT: globs on the trap OID and the text; NULL: any */
	char *cleared_by; /* RULE_EVENT: glob on the name of the event that clears it */
	struct vb_cond *vbs; /* RULE_EVENT: conditions on the varbinds, all must hold */
	size_t nvbs;
	char **channels;
	size_t nchannels;
};

struct rule_state {
	const struct rule *rule;
	enum series_state state;
	uint64_t id;     /* the incident while firing, kept for the recovery */
	double value;    /* value at the last transition */
	int64_t time_ms; /* time of the sample that caused it */
	char *summary;   /* RULE_BUILTIN, RULE_EVENT: the text of the last transition */
	char *event;     /* RULE_EVENT: the name of the event that caused it */
};

struct series {
	struct series *next; /* hash chain */
	uint64_t hash;
	char *key; /* the five names, each followed by its NUL */
	size_t keylen;
	const char *name[F_COUNT]; /* into key */
	int rate;                  /* COUNTER/DERIVE: values are per-second rates */
	int have_prev;
	uint64_t prev_counter;
	int64_t prev_ms;
	int64_t last_ms;       /* newest sample seen: older ones are replays */
	size_t rules_seen;     /* rules [0, rules_seen) were matched against this series */
	struct rule_state *st; /* one per matching rule */
	size_t nst;
};

struct alert_engine {
	struct notify *notify;
	struct rule **rules;
	size_t nrules;
	struct rule builtin[ALERT_BUILTIN_COUNT];
	struct series **bucket;
	size_t nbuckets;
	size_t nseries;
	size_t firing;
	uint64_t next_id;
	uint64_t series_ignored;
	uint64_t transitions;
	struct complaint full_complaint;
	struct complaint name_complaint;
};

cfg_opt_t alert_rule_opts[] = {
    CFG_STR("kind", "threshold", CFGF_NONE),
    CFG_STR("site", "*", CFGF_NONE),
    CFG_STR("host", "*", CFGF_NONE),
    CFG_STR("check", "*", CFGF_NONE),
    CFG_STR("instance", "*", CFGF_NONE),
    /* no default here: "*" for threshold rules, "up" for down rules */
    CFG_STR("metric", NULL, CFGF_NODEFAULT),
    /* no defaults: whether a limit is set at all is what selects the rule's mode */
    CFG_FLOAT("above", 0, CFGF_NODEFAULT),
    CFG_FLOAT("clear_below", 0, CFGF_NODEFAULT),
    CFG_FLOAT("below", 0, CFGF_NODEFAULT),
    CFG_FLOAT("clear_above", 0, CFGF_NODEFAULT),
    CFG_STR("oid", NULL, CFGF_NODEFAULT),
    CFG_STR("text", NULL, CFGF_NODEFAULT),
    CFG_STR("cleared_by", NULL, CFGF_NODEFAULT),
    CFG_STR_LIST("varbinds", NULL, CFGF_NODEFAULT),
    CFG_STR_LIST("channels", "{log}", CFGF_NONE),
    CFG_END(),
};

static const char *series_state_str(enum series_state s)
{
	switch (s) {
	case SERIES_OK:
		return "ok";
	case SERIES_FIRING:
		return "firing";
	}
	return "unknown";
}

static double getf(cfg_t *sec, const char *key)
{
	return cfg_getfloat(sec, key);
}

/* Checks one limit key: set, finite; returns 1 if set and fine. */
static int limit_set(cfg_t *sec, const char *key, int *bad)
{
	if (cfg_size(sec, key) == 0)
		return 0;
	if (!isfinite(cfg_getfloat(sec, key))) {
		conf_section_error(sec, "%s must be a finite number", key);
		*bad = 1;
		return 0;
	}
	return 1;
}

/* A glob's every '[' is closed: an open one would only match itself. */
static int glob_brackets_closed(const char *g)
{
	for (const char *p = g; *p != '\0'; p++)
		if (*p == '[' && strchr(p + 1, ']') == NULL)
			return 0;
	return 1;
}

/*
 * An event rule's patterns could each match nothing without a word: an
 * empty one, an OID pattern that is no numeric OID, an open '[', or a
 * cleared_by that names the very events the rule fires on.
 */
/* A varbind's name in a rule: a MIB object's ("ifAdminStatus") or a numeric OID. */
#define VB_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_"

static int event_patterns_bad(cfg_t *sec)
{
	static const char *const keys[] = {"metric", "oid", "text", "cleared_by"};
	int bad = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *g = cfg_size(sec, keys[i]) > 0 ? cfg_getstr(sec, keys[i]) : NULL;

		if (g == NULL)
			continue;
		if (*g == '\0') {
			conf_section_error(sec, "%s must not be empty (\"*\" matches any)",
					   keys[i]);
			bad = 1;
		} else if (!glob_brackets_closed(g)) {
			conf_section_error(sec, "%s \"%s\" opens a '[' it never closes", keys[i],
					   g);
			bad = 1;
		} else if (i == 1 && g[strspn(g, "0123456789.*?[]!-")] != '\0') {
			conf_section_error(sec,
					   "oid \"%s\" must be a numeric OID or a pattern of one "
					   "(\"1.3.6.1.6.3.1.1.5.3\", \"1.3.6.1.4.1.9.*\")",
					   g);
			bad = 1;
		}
	}
	for (unsigned i = 0; i < cfg_size(sec, "varbinds"); i++) {
		const char *c = cfg_getnstr(sec, "varbinds", i), *eq = strchr(c, '=');
		size_t n = eq != NULL ? (size_t)(eq - c) : 0;

		if (n > 0 && c[n - 1] == '!')
			n--;
		if (eq == NULL || n == 0 || strspn(c, VB_NAME_CHARS) != n ||
		    eq[1] == '\0') {
			conf_section_error(sec,
					   "varbinds \"%s\" must be NAME=VALUE or NAME!=VALUE "
					   "(\"ifAdminStatus=up\", \"ifAdminStatus!=2\")",
					   c);
			bad = 1;
		} else if (!glob_brackets_closed(eq + 1)) {
			conf_section_error(sec, "varbinds \"%s\" opens a '[' it never closes", c);
			bad = 1;
		}
	}
	if (cfg_size(sec, "metric") > 0 && cfg_size(sec, "cleared_by") > 0 &&
	    strcmp(cfg_getstr(sec, "metric"), cfg_getstr(sec, "cleared_by")) == 0) {
		conf_section_error(sec,
				   "cleared_by names the events metric fires on (\"%s\"): "
				   "the rule would clear itself",
				   cfg_getstr(sec, "metric"));
		bad = 1;
	}
	return bad;
}

int alert_rule_validate(cfg_t *sec)
{
	static const char *const limits[] = {"above", "clear_below", "below", "clear_above"};
	static const char *const event_keys[] = {"oid", "text", "cleared_by", "varbinds"};
	const char *kind = cfg_getstr(sec, "kind");
	int bad = 0, above, clear_below, below, clear_above;

	if (conf_check_title(sec, NOTIFY_NAME_MAX) < 0)
		bad = 1;
	above = limit_set(sec, "above", &bad);
	clear_below = limit_set(sec, "clear_below", &bad);
	below = limit_set(sec, "below", &bad);
	clear_above = limit_set(sec, "clear_above", &bad);
	if (kind == NULL || strcmp(kind, "threshold") == 0) {
		if (!above && !below) {
			conf_section_error(sec, "a threshold rule needs 'above' or 'below'");
			bad = 1;
		} else if (above && below) {
			conf_section_error(sec, "'above' and 'below' exclude each other; "
						"write two rules");
			bad = 1;
		}
		if (clear_below && !above) {
			conf_section_error(sec, "clear_below needs 'above'");
			bad = 1;
		}
		if (clear_above && !below) {
			conf_section_error(sec, "clear_above needs 'below'");
			bad = 1;
		}
		/* the clear limit must lie on the ok side of the fire limit */
		if (above && clear_below && getf(sec, "clear_below") > getf(sec, "above")) {
			conf_section_error(sec, "clear_below (%g) must not be above 'above' (%g)",
					   getf(sec, "clear_below"), getf(sec, "above"));
			bad = 1;
		}
		if (below && clear_above && getf(sec, "clear_above") < getf(sec, "below")) {
			conf_section_error(sec, "clear_above (%g) must not be below 'below' (%g)",
					   getf(sec, "clear_above"), getf(sec, "below"));
			bad = 1;
		}
	} else if (strcmp(kind, "down") == 0 || strcmp(kind, "event") == 0) {
		for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
			if (cfg_size(sec, limits[i]) > 0) {
				conf_section_error(sec, "'%s' is not allowed with kind \"%s\"",
						   limits[i], kind);
				bad = 1;
			}
	} else {
		conf_section_error(
		    sec, "kind must be \"threshold\", \"down\" or \"event\", got \"%s\"", kind);
		bad = 1;
	}
	if (kind != NULL && strcmp(kind, "event") == 0 && event_patterns_bad(sec))
		bad = 1;
	for (size_t i = 0; i < sizeof(event_keys) / sizeof(event_keys[0]); i++)
		if (cfg_size(sec, event_keys[i]) > 0 &&
		    (kind == NULL || strcmp(kind, "event") != 0)) {
			conf_section_error(sec, "'%s' applies to kind \"event\" only",
					   event_keys[i]);
			bad = 1;
		}
	if (cfg_size(sec, "channels") == 0) {
		conf_section_error(sec, "channels must not be empty");
		bad = 1;
	}
	for (unsigned i = 0; i < cfg_size(sec, "channels"); i++)
		if (*cfg_getnstr(sec, "channels", i) == '\0') {
			conf_section_error(sec, "channels must not contain an empty name");
			bad = 1;
		}
	return bad ? -1 : 0;
}

struct alert_engine *alert_engine_new(struct notify *notify)
{
	struct alert_engine *e = xcalloc(1, sizeof(*e));

	e->notify = notify;
	e->nbuckets = ALERT_BUCKETS_MIN;
	e->bucket = xcalloc(e->nbuckets, sizeof(*e->bucket));
	e->next_id = 1;
	for (int b = 0; b < ALERT_BUILTIN_COUNT; b++) {
		e->builtin[b].name = xstrdup(alert_builtin_str((enum alert_builtin)b));
		e->builtin[b].kind = RULE_BUILTIN;
	}
	return e;
}

const char *alert_builtin_str(enum alert_builtin b)
{
	switch (b) {
	case ALERT_NO_DATA:
		return "no-data";
	case ALERT_AGENT_DOWN:
		return "agent-down";
	case ALERT_UNREACHABLE:
		return "unreachable";
	case ALERT_QUARANTINE:
		return "quarantine";
	case ALERT_BUILTIN_COUNT:
		break;
	}
	return "unknown";
}

static void rule_set_channels(struct rule *r, const char *const *ch, size_t n)
{
	for (size_t i = 0; i < r->nchannels; i++)
		free(r->channels[i]);
	free(r->channels);
	r->nchannels = n;
	r->channels = xcalloc(n ? n : 1, sizeof(*r->channels));
	for (size_t i = 0; i < n; i++)
		r->channels[i] = xstrdup(ch[i]);
}

int alert_engine_builtin_channels(struct alert_engine *e, const char *const *ch, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!notify_has_channel(e->notify, ch[i])) {
			log_warnx("alert: built-in alerts: unknown channel \"%s\"", ch[i]);
			return -1;
		}
	for (int b = 0; b < ALERT_BUILTIN_COUNT; b++)
		rule_set_channels(&e->builtin[b], ch, n);
	return 0;
}

static void rule_free(struct rule *r)
{
	for (size_t i = 0; i < r->nchannels; i++)
		free(r->channels[i]);
	free(r->channels);
	for (int f = 0; f < F_COUNT; f++)
		free(r->pattern[f]);
	free(r->oid);
	free(r->text);
	free(r->cleared_by);
	for (size_t i = 0; i < r->nvbs; i++) {
		free(r->vbs[i].name);
		free(r->vbs[i].glob);
	}
	free(r->vbs);
	free(r->name);
	free(r);
}

void alert_engine_free(struct alert_engine *e)
{
	if (e == NULL)
		return;
	for (size_t b = 0; b < e->nbuckets; b++) {
		struct series *s, *next;

		for (s = e->bucket[b]; s != NULL; s = next) {
			next = s->next;
			for (size_t i = 0; i < s->nst; i++) {
				free(s->st[i].summary);
				free(s->st[i].event);
			}
			free(s->st);
			free(s->key);
			free(s);
		}
	}
	free(e->bucket);
	for (size_t i = e->nrules; i > 0; i--)
		rule_free(e->rules[i - 1]);
	free(e->rules);
	for (int b = 0; b < ALERT_BUILTIN_COUNT; b++) {
		rule_set_channels(&e->builtin[b], NULL, 0);
		free(e->builtin[b].channels);
		free(e->builtin[b].name);
	}
	free(e);
}

/* A copy of key's glob, or NULL when it is unset or "*" (anything). */
/*
 * The interface states of IF-MIB by name, so that a rule may say
 * "ifAdminStatus=up" where the trap's text holds the number.
 */
static const char *const if_states[] = {"up",      "down",       "testing",        "unknown",
					"dormant", "notPresent", "lowerLayerDown", NULL};

static void rule_load_varbinds(struct rule *r, cfg_t *sec)
{
	r->nvbs = cfg_size(sec, "varbinds");
	r->vbs = r->nvbs ? xcalloc(r->nvbs, sizeof(*r->vbs)) : NULL;
	for (size_t i = 0; i < r->nvbs; i++) {
		const char *c = cfg_getnstr(sec, "varbinds", (unsigned)i), *eq = strchr(c, '=');
		struct vb_cond *v = &r->vbs[i];
		size_t n = (size_t)(eq - c);
		char num[12];

		v->negate = n > 0 && c[n - 1] == '!';
		n -= (size_t)v->negate;
		v->name = xmalloc(n + 1);
		memcpy(v->name, c, n);
		v->name[n] = '\0';
		v->glob = xstrdup(eq + 1);
		if (strcmp(v->name, "ifAdminStatus") == 0 || strcmp(v->name, "ifOperStatus") == 0)
			for (int k = 0; if_states[k] != NULL; k++)
				if (strcmp(v->glob, if_states[k]) == 0) {
					snprintf(num, sizeof(num), "%d", k + 1);
					free(v->glob);
					v->glob = xstrdup(num);
				}
	}
}

static char *glob_or_null(cfg_t *sec, const char *key)
{
	const char *p = cfg_size(sec, key) > 0 ? cfg_getstr(sec, key) : NULL;

	return p == NULL || strcmp(p, "*") == 0 ? NULL : xstrdup(p);
}

int alert_engine_add_rule(struct alert_engine *e, cfg_t *sec)
{
	const char *kind = cfg_getstr(sec, "kind");
	unsigned nch = cfg_size(sec, "channels");
	struct rule *r;
	int bad = 0;

	for (unsigned i = 0; i < nch; i++)
		if (!notify_has_channel(e->notify, cfg_getnstr(sec, "channels", i))) {
			conf_section_error(sec, "unknown channel \"%s\"",
					   cfg_getnstr(sec, "channels", i));
			bad = 1;
		}
	if (bad)
		return -1;

	r = xcalloc(1, sizeof(*r));
	r->name = xstrdup(cfg_title(sec));
	if (kind != NULL && strcmp(kind, "down") == 0) {
		r->kind = RULE_DOWN;
		r->fire = r->clear = 1;
	} else if (kind != NULL && strcmp(kind, "event") == 0) {
		r->kind = RULE_EVENT;
		r->oid = glob_or_null(sec, "oid");
		r->text = glob_or_null(sec, "text");
		r->cleared_by = glob_or_null(sec, "cleared_by");
		rule_load_varbinds(r, sec);
	} else if (cfg_size(sec, "above") > 0) {
		r->kind = RULE_ABOVE;
		r->fire = cfg_getfloat(sec, "above");
		r->clear = cfg_size(sec, "clear_below") ? getf(sec, "clear_below") : r->fire;
	} else {
		r->kind = RULE_BELOW;
		r->fire = cfg_getfloat(sec, "below");
		r->clear = cfg_size(sec, "clear_above") ? getf(sec, "clear_above") : r->fire;
	}
	for (int f = 0; f < F_COUNT; f++) {
		const char *p = NULL;

		if (cfg_size(sec, field_keys[f]) > 0)
			p = cfg_getstr(sec, field_keys[f]);
		if (p == NULL)
			p = f == F_METRIC && r->kind == RULE_DOWN ? "up" : "*";
		r->pattern[f] = strcmp(p, "*") == 0 ? NULL : xstrdup(p);
	}
	r->nchannels = nch;
	r->channels = xcalloc(nch, sizeof(*r->channels));
	for (unsigned i = 0; i < nch; i++)
		r->channels[i] = xstrdup(cfg_getnstr(sec, "channels", i));
	e->rules = xreallocarray(e->rules, e->nrules + 1, sizeof(*e->rules));
	e->rules[e->nrules++] = r;
	log_debug("alert: rule %s added (%zu channels)", r->name, r->nchannels);
	return 0;
}

/* ---- series table: chained hash, bounded by ALERT_SERIES_MAX ---- */

static struct series *series_find(const struct alert_engine *e, const char *key, size_t len,
				  uint64_t hash)
{
	struct series *s;

	for (s = e->bucket[hash & (e->nbuckets - 1)]; s != NULL; s = s->next)
		if (s->hash == hash && s->keylen == len && memcmp(s->key, key, len) == 0)
			return s;
	return NULL;
}

static void series_grow(struct alert_engine *e)
{
	size_t n = e->nbuckets * 2;
	struct series **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < e->nbuckets; i++) {
		struct series *s, *next;

		for (s = e->bucket[i]; s != NULL; s = next) {
			next = s->next;
			s->next = b[s->hash & (n - 1)];
			b[s->hash & (n - 1)] = s;
		}
	}
	free(e->bucket);
	e->bucket = b;
	e->nbuckets = n;
}

static struct series *series_add(struct alert_engine *e, const char *key, size_t len, uint64_t hash)
{
	struct series *s = xcalloc(1, sizeof(*s));
	const char *p;

	if (e->nseries >= e->nbuckets)
		series_grow(e);
	s->key = xmalloc(len);
	memcpy(s->key, key, len);
	s->keylen = len;
	s->hash = hash;
	p = s->key;
	for (int f = 0; f < F_COUNT; f++) {
		s->name[f] = p;
		p += strlen(p) + 1;
	}
	s->next = e->bucket[hash & (e->nbuckets - 1)];
	e->bucket[hash & (e->nbuckets - 1)] = s;
	e->nseries++;
	return s;
}

/*
 * An event's state lives on the series of its (site, host, check, instance)
 * with the metric "" (a sample's metric is never empty), one per event
 * rule: the name of the event is what the rule's `metric` and `cleared_by`
 * are matched against as each one comes.
 */
static int rule_matches(const struct rule *r, const char *const name[F_COUNT])
{
	if (r->kind == RULE_BUILTIN || (r->kind == RULE_EVENT) != (*name[F_METRIC] == '\0'))
		return 0;
	for (int f = 0; f < F_METRIC; f++)
		if (r->pattern[f] != NULL && fnmatch(r->pattern[f], name[f], 0) != 0)
			return 0;
	return r->kind == RULE_EVENT || r->pattern[F_METRIC] == NULL ||
	       fnmatch(r->pattern[F_METRIC], name[F_METRIC], 0) == 0;
}

/* Gives the series a state for every rule added since it was last matched. */
static void series_match_rules(struct alert_engine *e, struct series *s)
{
	for (size_t i = s->rules_seen; i < e->nrules; i++) {
		if (!rule_matches(e->rules[i], s->name))
			continue;
		s->st = xreallocarray(s->st, s->nst + 1, sizeof(*s->st));
		memset(&s->st[s->nst], 0, sizeof(s->st[0]));
		s->st[s->nst].rule = e->rules[i];
		s->st[s->nst].state = SERIES_OK;
		s->nst++;
	}
	s->rules_seen = e->nrules;
}

/* "rissa/10.1.0.2/core-sw/eth0/ifHCInOctets"; the instance only when set. */
static void series_label(const struct series *s, char *buf, size_t len)
{
	if (*s->name[F_INSTANCE] != '\0')
		snprintf(buf, len, "%s/%s/%s/%s/%s", s->name[F_SITE], s->name[F_HOST],
			 s->name[F_CHECK], s->name[F_INSTANCE], s->name[F_METRIC]);
	else
		snprintf(buf, len, "%s/%s/%s/%s", s->name[F_SITE], s->name[F_HOST],
			 s->name[F_CHECK], s->name[F_METRIC]);
}

/* ---- events ---- */

static void copy_name(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A number for people: "123.4", "100", "0.0015", "1.5e+16". */
static void human_num(double v, char *buf, size_t len)
{
	if (fabs(v) >= 1 && fabs(v) < 1e15) {
		char *p;

		snprintf(buf, len, "%.2f", v);
		p = buf + strlen(buf) - 1;
		while (*p == '0')
			*p-- = '\0';
		if (*p == '.')
			*p = '\0';
	} else {
		snprintf(buf, len, "%.4g", v);
	}
}

static void alert_summary(const struct rule *r, const struct series *s, enum alert_state state,
			  double value, char *buf, size_t len)
{
	const char *unit = s->rate ? "/s" : "";
	char what[3 * (SAMPLE_NAME_MAX + 1)], lim[64], val[64];

	if (*s->name[F_INSTANCE] != '\0')
		snprintf(what, sizeof(what), "%s/%s", s->name[F_CHECK], s->name[F_INSTANCE]);
	else
		snprintf(what, sizeof(what), "%s", s->name[F_CHECK]);
	if (r->kind == RULE_BUILTIN) {
		snprintf(buf, len, "%s", "");
		return;
	}
	if (r->kind == RULE_DOWN) {
		snprintf(buf, len, "%s on %s is %s", what, s->name[F_HOST],
			 state == ALERT_FIRING ? "down" : "up again");
		return;
	}
	/* the metric only adds words when the check has several */
	if (strcmp(s->name[F_CHECK], s->name[F_METRIC]) != 0) {
		size_t n = strlen(what);

		snprintf(what + n, sizeof(what) - n, " %s", s->name[F_METRIC]);
	}
	human_num(state == ALERT_FIRING ? r->fire : r->clear, lim, sizeof(lim));
	human_num(value, val, sizeof(val));
	snprintf(buf, len, "%s on %s %s%s %s%s (value %s%s)", what, s->name[F_HOST],
		 state == ALERT_FIRING ? "" : "back ",
		 (r->kind == RULE_ABOVE) == (state == ALERT_FIRING) ? "above" : "below", lim, unit,
		 val, unit);
}

static void alert_event_fill(const struct alert_engine *e, const struct series *s,
			     const struct rule_state *st, struct alert_event *ev)
{
	const struct rule *r = st->rule;

	memset(ev, 0, sizeof(*ev));
	ev->id = st->id;
	ev->state = st->state == SERIES_FIRING ? ALERT_FIRING : ALERT_RESOLVED;
	copy_name(ev->rule, sizeof(ev->rule), r->name);
	copy_name(ev->site, sizeof(ev->site), s->name[F_SITE]);
	copy_name(ev->host, sizeof(ev->host), s->name[F_HOST]);
	copy_name(ev->check, sizeof(ev->check), s->name[F_CHECK]);
	copy_name(ev->instance, sizeof(ev->instance), s->name[F_INSTANCE]);
	copy_name(ev->metric, sizeof(ev->metric), st->event ? st->event : s->name[F_METRIC]);
	ev->value = st->value;
	ev->threshold = ev->state == ALERT_FIRING ? r->fire : r->clear;
	ev->time_ms = st->time_ms;
	if (st->summary != NULL)
		copy_name(ev->summary, sizeof(ev->summary), st->summary);
	else
		alert_summary(r, s, ev->state, st->value, ev->summary, sizeof(ev->summary));
}

/* The one place a (rule, series) state changes: logs it and notifies every channel. */
static void alert_set_state(struct alert_engine *e, struct series *s, struct rule_state *st,
			    enum series_state to, double value, int64_t time_ms)
{
	const struct rule *r = st->rule;
	struct alert_event ev;
	char label[F_COUNT * (SAMPLE_NAME_MAX + 1)], val[64];

	if (st->state == to)
		return;
	series_label(s, label, sizeof(label));
	human_num(value, val, sizeof(val));
	if (r->kind == RULE_EVENT)
		log_info("alert: rule %s series %s: %s -> %s (event %s)", r->name, label,
			 series_state_str(st->state), series_state_str(to), st->event);
	else
		log_info("alert: rule %s series %s: %s -> %s (value %s%s)", r->name, label,
			 series_state_str(st->state), series_state_str(to), val,
			 s->rate ? "/s" : "");
	if (to == SERIES_FIRING) {
		st->id = e->next_id++;
		e->firing++;
	} else {
		e->firing--;
	}
	st->state = to;
	st->value = value;
	st->time_ms = time_ms;
	e->transitions++;
	alert_event_fill(e, s, st, &ev);
	for (size_t i = 0; i < r->nchannels; i++)
		notify_send(e->notify, r->channels[i], &ev);
	if (r->kind == RULE_EVENT && r->cleared_by == NULL && to == SERIES_FIRING) {
		/* nothing clears it: the page is the whole incident, and the next event pages again
		 */
		st->state = SERIES_OK;
		e->firing--;
	}
}

static void rule_eval(struct alert_engine *e, struct series *s, struct rule_state *st, double v,
		      int64_t time_ms)
{
	const struct rule *r = st->rule;
	int firing = st->state == SERIES_FIRING;

	switch (r->kind) {
	case RULE_ABOVE:
		if (!firing && v > r->fire)
			alert_set_state(e, s, st, SERIES_FIRING, v, time_ms);
		else if (firing && v < r->clear)
			alert_set_state(e, s, st, SERIES_OK, v, time_ms);
		break;
	case RULE_BELOW:
		if (!firing && v < r->fire)
			alert_set_state(e, s, st, SERIES_FIRING, v, time_ms);
		else if (firing && v > r->clear)
			alert_set_state(e, s, st, SERIES_OK, v, time_ms);
		break;
	case RULE_DOWN:
		if (!firing && v < 1)
			alert_set_state(e, s, st, SERIES_FIRING, v, time_ms);
		else if (firing && v >= 1)
			alert_set_state(e, s, st, SERIES_OK, v, time_ms);
		break;
	case RULE_BUILTIN:
	case RULE_EVENT:
		break; /* set by alert_condition and alert_event only */
	}
}

/*
 * The value rules compare: a gauge as is, a counter as the rate since the
 * previous raw value. 0 when there is none: unknown, first sample, reset
 * (the counter went down) or time not moving forward. An unknown sample also
 * forgets the previous raw value, so a rate never spans a gap in the data.
 */
static int series_value(struct series *s, const struct sample *smp, double *v)
{
	int ok;

	switch (smp->kind) {
	case SAMPLE_GAUGE:
		s->rate = 0;
		if (smp->unknown || !isfinite(smp->value))
			return 0;
		*v = smp->value;
		return 1;
	case SAMPLE_COUNTER:
	case SAMPLE_DERIVE:
		s->rate = 1;
		if (smp->unknown) {
			s->have_prev = 0;
			return 0;
		}
		ok = s->have_prev && smp->counter >= s->prev_counter && smp->time_ms > s->prev_ms;
		if (ok)
			*v = (double)(smp->counter - s->prev_counter) /
			     ((double)(smp->time_ms - s->prev_ms) / 1000.0);
		s->have_prev = 1;
		s->prev_counter = smp->counter;
		s->prev_ms = smp->time_ms;
		return ok;
	default:
		return 0; /* a kind from a newer agent: nothing to compare */
	}
}

/* Joins the five names into `key` (each with its NUL); -1 if one is too long. */
static int series_key(struct alert_engine *e, const char *name[F_COUNT], char *key, size_t *lenp)
{
	size_t len = 0;

	for (int f = 0; f < F_COUNT; f++) {
		size_t n;

		if (name[f] == NULL)
			name[f] = "";
		n = strlen(name[f]);
		if (n > SAMPLE_NAME_MAX) {
			/* the session rejects these first; this is a second fence */
			log_complain(&e->name_complaint, ALERT_COMPLAIN_S,
				     "alert: ignoring a sample whose %s is longer than %d "
				     "characters",
				     field_keys[f], SAMPLE_NAME_MAX);
			return -1;
		}
		memcpy(key + len, name[f], n + 1);
		len += n + 1;
	}
	*lenp = len;
	return 0;
}

static int series_table_full(struct alert_engine *e)
{
	if (e->nseries < ALERT_SERIES_MAX)
		return 0;
	e->series_ignored++;
	log_complain(&e->full_complaint, ALERT_COMPLAIN_S,
		     "alert: %d series tracked, the most kept; ignoring new series "
		     "(%" PRIu64 " samples ignored so far)",
		     ALERT_SERIES_MAX, e->series_ignored);
	return 1;
}

int alert_engine_covers(const struct alert_engine *e, const char *const names[5])
{
	for (size_t i = 0; i < e->nrules; i++)
		if (e->rules[i]->kind == RULE_DOWN && rule_matches(e->rules[i], names))
			return 1;
	return 0;
}

void alert_condition(struct alert_engine *e, enum alert_builtin b, const char *const names[5],
		     int firing, int64_t time_ms, const char *summary)
{
	const char *name[F_COUNT] = {names[0], names[1], names[2], names[3], names[4]};
	char key[F_COUNT * (SAMPLE_NAME_MAX + 1)];
	const struct rule *r = &e->builtin[b];
	struct rule_state *st = NULL;
	struct series *s;
	uint64_t hash;
	size_t len;

	if (series_key(e, name, key, &len) < 0)
		return;
	hash = hash_fnv1a(key, len);
	s = series_find(e, key, len, hash);
	if (s == NULL) {
		if (!firing || series_table_full(e))
			return; /* nothing to resolve, or no room */
		s = series_add(e, key, len, hash);
	}
	for (size_t i = 0; i < s->nst && st == NULL; i++)
		if (s->st[i].rule == r)
			st = &s->st[i];
	if (st == NULL) {
		if (!firing)
			return;
		s->st = xreallocarray(s->st, s->nst + 1, sizeof(*s->st));
		st = &s->st[s->nst++];
		memset(st, 0, sizeof(*st));
		st->rule = r;
		st->state = SERIES_OK;
	}
	if ((st->state == SERIES_FIRING) == (firing != 0))
		return;
	free(st->summary);
	st->summary = xstrdup(summary);
	alert_set_state(e, s, st, firing ? SERIES_FIRING : SERIES_OK, firing ? 0 : 1, time_ms);
}

/*
 * The series of name[] with its rules matched, for a sample or an event at
 * time_ms; NULL when no rule is about it (no state is kept then), the table
 * is full, or it is a replay. An agent resends what was not acknowledged
 * before a connection broke: what is not newer than the newest already seen
 * is a replay, and evaluating it again could page twice for one incident.
 */
static struct series *series_fresh(struct alert_engine *e, const char *name[F_COUNT],
				   int64_t time_ms)
{
	char key[F_COUNT * (SAMPLE_NAME_MAX + 1)];
	size_t len = 0;
	struct series *s;
	uint64_t hash;
	int any = 0;

	if (e->nrules == 0 || series_key(e, name, key, &len) < 0)
		return NULL;
	hash = hash_fnv1a(key, len);
	s = series_find(e, key, len, hash);
	if (s == NULL) {
		for (size_t i = 0; i < e->nrules && !any; i++)
			any = rule_matches(e->rules[i], name);
		if (!any || series_table_full(e))
			return NULL;
		s = series_add(e, key, len, hash);
	}
	if (time_ms <= s->last_ms)
		return NULL;
	s->last_ms = time_ms;
	if (s->rules_seen < e->nrules)
		series_match_rules(e, s);
	return s;
}

/* "linkDown on sw1 interface Gi0/1 (trap 1.3.6.1.6.3.1.1.5.3 from 10.1.0.2): text" */
static void event_summary(const struct event *ev, const char *verb, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s on %s%s%s (trap %s from %s)%s%s", ev->name, verb, ev->host,
		 *ev->instance ? " interface " : "", ev->instance, *ev->oid ? ev->oid : "-",
		 ev->source, *ev->text ? ": " : "", ev->text);
}

static int glob_ok(const char *glob, const char *s)
{
	return glob == NULL || fnmatch(glob, s, 0) == 0;
}

int alert_text_varbind(const char *text, const char *name, const char *glob)
{
	size_t nlen = strlen(name);
	char val[EVENT_TEXT_MAX + 1];

	for (const char *p = text; *p != '\0';) {
		const char *eq = strchr(p, '='), *v, *end;
		int named;

		if (eq == NULL)
			break;
		named = (size_t)(eq - p) >= nlen && strncmp(p, name, nlen) == 0 &&
			(p + nlen == eq || p[nlen] == '.');
		v = eq + 1;
		if (*v == '"' && (end = strstr(v + 1, "\" ")) != NULL)
			end++;
		else if (*v == '"' && v[1] != '\0' && v[strlen(v) - 1] == '"')
			end = v + strlen(v);
		else if ((end = strchr(v, ' ')) == NULL)
			end = v + strlen(v);
		if (named) {
			size_t n = (size_t)(end - v);

			if (n >= 2 && *v == '"' && v[n - 1] == '"') {
				v++;
				n -= 2;
			}
			if (n > EVENT_TEXT_MAX)
				n = EVENT_TEXT_MAX;
			memcpy(val, v, n);
			val[n] = '\0';
			if (fnmatch(glob, val, 0) == 0)
				return 1;
		}
		p = *end == ' ' ? end + 1 : end;
	}
	return 0;
}

/* NAME=GLOB holds when a varbind matches; NAME!=GLOB when none does. */
static int vb_cond_holds(const struct vb_cond *c, const char *text)
{
	return alert_text_varbind(text, c->name, c->glob) != c->negate;
}

static int varbinds_ok(const struct rule *r, const char *text)
{
	for (size_t i = 0; i < r->nvbs; i++)
		if (!vb_cond_holds(&r->vbs[i], text))
			return 0;
	return 1;
}

void alert_event(struct alert_engine *e, const char *site, const struct event *ev)
{
	const char *name[F_COUNT] = {site, ev->host, ev->check, ev->instance, ""};
	char summary[512];
	struct series *s = series_fresh(e, name, ev->time_ms);

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nst; i++) {
		struct rule_state *st = &s->st[i];
		const struct rule *r = st->rule;
		int fires = glob_ok(r->pattern[F_METRIC], ev->name) && glob_ok(r->oid, ev->oid) &&
			    glob_ok(r->text, ev->text) && varbinds_ok(r, ev->text);
		int clears = r->cleared_by != NULL && fnmatch(r->cleared_by, ev->name, 0) == 0;

		if (r->kind != RULE_EVENT)
			continue;
		if (fires && st->state == SERIES_OK) {
			event_summary(ev, "", summary, sizeof(summary));
		} else if (clears && !fires && st->state == SERIES_FIRING) {
			char was[SAMPLE_NAME_MAX + 16];

			snprintf(was, sizeof(was), " (clears %s)", st->event);
			event_summary(ev, was, summary, sizeof(summary));
		} else {
			continue;
		}
		free(st->summary);
		st->summary = xstrdup(summary);
		free(st->event);
		st->event = xstrdup(ev->name);
		alert_set_state(e, s, st, fires ? SERIES_FIRING : SERIES_OK, fires ? 1 : 0,
				ev->time_ms);
	}
}

void alert_feed(struct alert_engine *e, const char *site, const struct sample *smp)
{
	const char *name[F_COUNT] = {site, smp->host, smp->check, smp->instance, smp->metric};
	struct series *s = series_fresh(e, name, smp->time_ms);
	double v;

	if (s == NULL)
		return;
	if (!series_value(s, smp, &v))
		return;
	for (size_t i = 0; i < s->nst; i++)
		rule_eval(e, s, &s->st[i], v, smp->time_ms);
}

void alert_engine_foreach_active(const struct alert_engine *e,
				 void (*fn)(const struct alert_event *ev, void *arg), void *arg)
{
	struct alert_event ev;

	for (size_t b = 0; b < e->nbuckets; b++)
		for (const struct series *s = e->bucket[b]; s != NULL; s = s->next)
			for (size_t i = 0; i < s->nst; i++) {
				if (s->st[i].state != SERIES_FIRING)
					continue;
				alert_event_fill(e, s, &s->st[i], &ev);
				fn(&ev, arg);
			}
}

void alert_engine_stats(const struct alert_engine *e, struct alert_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->rules = e->nrules;
	st->series = e->nseries;
	st->firing = e->firing;
	st->series_ignored = e->series_ignored;
	st->transitions = e->transitions;
}
