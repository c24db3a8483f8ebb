/*
 * watch.c - silence made into alerts (see watch.h). Runs on the loop: a
 * sample or an outcome updates one table entry, and a one-second timer
 * looks for what has gone quiet. It never pages for a condition another
 * alert already explains, and never keeps more than max_entries entries.
 */
#include "watch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"
#include "hash.h"
#include "log.h"
#include "store_rrd.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Slack for batching and scheduling jitter before a file counts as silent. */
#define WATCH_NODATA_GRACE_S 5
/* An agent's clock offset moving by more than this between two readings is a step. */
#define WATCH_CLOCK_STEP_MS 5000
/* An offset beyond this (about 100 years) is garbage, not a clock. */
#define WATCH_CLOCK_ABSURD_MS (100LL * 366 * 86400 * 1000)
#define WATCH_BUCKETS_MIN     256

/* The hosts of one site, so that an unreachable host hides its files' no-data. */
struct whost {
	struct whost *next;
	char *site, *host;
	unsigned failing; /* its checks whose unreachable condition holds */
};

/* A site's pace of new entries: one agent's flood of names cannot fill the table. */
struct wsite {
	struct wsite *next;
	char *name;
	double window; /* monotonic start of the current minute */
	unsigned added;
	struct complaint too_fast;
};

/* One (site, host, check, instance): a file's samples and a check's outcomes. */
struct wentry {
	struct wentry *next; /* hash chain */
	uint64_t hash;
	char *key; /* site, host, check, instance, each with its NUL */
	size_t keylen;
	const char *site, *host, *check, *instance; /* into key */
	struct whost *h;
	struct watch_agent *agent; /* the agent that last reported it */
	unsigned interval;         /* seconds, the largest seen */
	/* samples */
	int has_samples;
	int established;    /* samples at two different times: a series, not a one-off */
	double last_sample; /* monotonic */
	int64_t last_sample_wall;
	int64_t last_time_ms; /* the newest sample's own time */
	int nodata;           /* no-data is firing */
	int seeded;           /* known from before a restart; no sample since */
	/* outcomes */
	unsigned fails; /* failed runs in a row */
	int failing;    /* fails reached the limit: the check counts as unreachable */
	int64_t first_fail_wall;
	int unreachable; /* unreachable is firing */
};

/*
 * The entry of a sample sent by its series id (sample.series), direct-mapped:
 * the file of a compact-form session's series costs one array lookup, not
 * its names joined and hashed. A miss is only slower. Entries are freed by
 * entries_forget alone, which empties it.
 */
#define WATCH_MEMO 65536 /* a power of 2 */

struct wmemo {
	uint64_t series;
	struct wentry *e;
};

/* A host with quarantined files, as the last look found it. */
struct wquar {
	char *site, *host;
	size_t files;      /* quarantined now */
	uint64_t dropped;  /* samples lost to them so far */
	char example[256]; /* one of them: path, what failed, why */
	int seen;          /* found by the look in progress */
};

struct watch {
	struct event_base *base;
	struct alert_engine *alert;
	struct watch_params p;
	struct event *tick;
	struct watch_agent **agents;
	size_t nagents;
	struct wentry **bucket;
	size_t nbuckets, nentries;
	struct whost *hosts; /* few: one per host, a list is enough */
	struct wsite *sites;
	uint64_t ignored;
	struct complaint full;
	double clock_window;        /* start of this window of clock lines */
	unsigned clock_lines;       /* written in it */
	unsigned long clock_hidden; /* suppressed in it */
	struct wquar *quar;         /* hosts paged for quarantine */
	size_t nquar;
	struct wmemo *memo; /* WATCH_MEMO of them, made at first use */
};

/* "2026-11-30 03:12:04" in local time. */
static void fmt_wall(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%" PRId64, ms / 1000);
}

/* "45 s", "3 min 4 s", "2 h 5 min". */
static void fmt_span(double s, char *buf, size_t len)
{
	long v = s < 0 ? 0 : (long)(s + 0.5);

	if (v < 120)
		snprintf(buf, len, "%ld s", v);
	else if (v < 7200)
		snprintf(buf, len, "%ld min %ld s", v / 60, v % 60);
	else
		snprintf(buf, len, "%ld h %ld min", v / 3600, (v % 3600) / 60);
}

/*
 * snprintf for summaries: a long name shortens the text, which is fine; it
 * is cut on a character boundary, and made well-formed UTF-8 without
 * control characters (utf8_clean), whatever a name holds.
 */
static void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	char *t = xmalloc(len + 3); /* room for the rest of a character cut at len-1 */
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t, len + 3, fmt, ap);
	va_end(ap);
	utf8_clean(buf, len, t, n < 0 ? 0 : strnlen(t, len + 2));
	free(t);
}

static void clock_roll(struct watch *w, double now);

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	double now = mono_now();

	clock_roll(arg, now);
	watch_tick(arg, now);
}

struct watch *watch_new(struct event_base *base, struct alert_engine *alert,
			const struct watch_params *p)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	struct timeval one = {1, 0};

	w->base = base;
	w->alert = alert;
	w->p = *p;
	w->nbuckets = WATCH_BUCKETS_MIN;
	w->bucket = xcalloc(w->nbuckets, sizeof(*w->bucket));
	if (base != NULL) {
		w->tick = event_new(base, -1, EV_PERSIST, tick_cb, w);
		if (w->tick == NULL || event_add(w->tick, &one) < 0)
			fatalx("watch: cannot start the timer");
	}
	return w;
}

void watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	if (w->tick != NULL)
		event_free(w->tick);
	for (size_t b = 0; b < w->nbuckets; b++) {
		struct wentry *e, *next;

		for (e = w->bucket[b]; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
	}
	free(w->bucket);
	free(w->memo);
	while (w->sites != NULL) {
		struct wsite *t = w->sites;

		w->sites = t->next;
		free(t->name);
		free(t);
	}
	while (w->hosts != NULL) {
		struct whost *h = w->hosts;

		w->hosts = h->next;
		free(h->site);
		free(h->host);
		free(h);
	}
	for (size_t i = 0; i < w->nagents; i++) {
		free(w->agents[i]->site);
		free(w->agents[i]->agent);
		free(w->agents[i]);
	}
	free(w->agents);
	for (size_t i = 0; i < w->nquar; i++) {
		free(w->quar[i].site);
		free(w->quar[i].host);
	}
	free(w->quar);
	free(w);
}

/* ---- agents ---- */

static struct watch_agent *agent_find(const struct watch *w, const char *site, const char *agent)
{
	for (size_t i = 0; i < w->nagents; i++)
		if (strcmp(w->agents[i]->site, site) == 0 &&
		    strcmp(w->agents[i]->agent, agent) == 0)
			return w->agents[i];
	return NULL;
}

struct watch_agent *watch_agent_find(const struct watch *w, const char *site, const char *agent)
{
	return agent_find(w, site, agent);
}

size_t watch_site_agents(const struct watch *w, const char *site)
{
	size_t n = 0;

	for (size_t i = 0; i < w->nagents; i++)
		n += strcmp(w->agents[i]->site, site) == 0;
	return n;
}

static void agent_condition(struct watch *w, struct watch_agent *a, int down, double now)
{
	const char *names[5] = {a->site, a->agent, "vakt-agent", "", "traffic"};
	char summary[384], since[32], span[32];

	if (a->down == down)
		return;
	fmt_wall(a->last_wall_ms, since, sizeof(since));
	fmt_span(now - a->last_seen, span, sizeof(span));
	if (down)
		say(summary, sizeof(summary),
		    "agent \"%s\" of site %s is down: nothing heard for %s (since %s)%s%s%s%s",
		    a->agent, a->site, span, since,
		    !a->last_close[0] ? ""
		    : a->last_peer[0] ? "; its session from "
				      : "; ",
		    a->last_close[0] ? a->last_peer : "",
		    a->last_close[0] && a->last_peer[0] ? " ended: " : "", a->last_close);
	else
		say(summary, sizeof(summary), "agent \"%s\" of site %s is back (silent for %s)",
		    a->agent, a->site, span);
	a->down = down;
	alert_condition(w->alert, ALERT_AGENT_DOWN, names, down, wall_now_ms(), summary);
}

/* A record for an agent not seen before, kept until the collector stops. */
static struct watch_agent *agent_new(struct watch *w, const char *site, const char *agent)
{
	struct watch_agent *a = xcalloc(1, sizeof(*a));

	a->site = xstrdup(site);
	a->agent = xstrdup(agent);
	w->agents = xreallocarray(w->agents, w->nagents + 1, sizeof(*w->agents));
	w->agents[w->nagents++] = a;
	return a;
}

struct watch_agent *watch_agent_hello(struct watch *w, const char *site, const char *agent,
				      const char *peer)
{
	struct watch_agent *a = agent_find(w, site, agent);

	if (a == NULL && w->nagents >= WATCH_MAX_AGENTS)
		return NULL;
	if (a == NULL)
		a = agent_new(w, site, agent);
	a->sessions++;
	snprintf(a->last_peer, sizeof(a->last_peer), "%s", peer);
	a->last_close[0] = '\0';
	watch_agent_seen(w, a);
	return a;
}

void watch_agent_known(struct watch *w, const char *site, const char *agent)
{
	struct watch_agent *a;

	if (agent_find(w, site, agent) != NULL)
		return;
	a = agent_new(w, site, agent);
	/* the restart is its last sign of life: it has agent_down seconds to return */
	a->last_seen = mono_now();
	a->last_wall_ms = wall_now_ms();
	snprintf(a->last_close, sizeof(a->last_close), "%s",
		 "not connected since the collector started");
}

void watch_agent_seen(struct watch *w, struct watch_agent *a)
{
	double now = mono_now();

	agent_condition(w, a, 0, now);
	a->last_seen = now;
	a->last_wall_ms = wall_now_ms();
}

void watch_agent_held(struct watch *w, struct watch_agent *a, int held)
{
	if (held)
		a->held++;
	else if (a->held > 0)
		a->held--;
	watch_agent_seen(w, a); /* it was there until now, and is while held */
}

void watch_agent_closed(struct watch *w, struct watch_agent *a, const char *peer, const char *why)
{
	snprintf(a->last_peer, sizeof(a->last_peer), "%s", peer);
	if (a->sessions > 0)
		a->sessions--;
	snprintf(a->last_close, sizeof(a->last_close), "%s", why);
}

/*
 * 1 when a line about an agent's clock may be written: any peer can send a
 * hello with a clock far off, so they are bounded, WATCH_CLOCK_LINES a window
 * (log_lines_window, as for the lines peers cause).
 */
/* Ends the window of clock lines if it is over, saying how many were suppressed. */
static void clock_roll(struct watch *w, double now)
{
	unsigned window = w->p.log_window_s ? w->p.log_window_s : 60;

	if (now - w->clock_window < window)
		return;
	if (w->clock_hidden > 0)
		log_warnx("agents' clocks: %lu more lines suppressed in %u s", w->clock_hidden,
			  window);
	w->clock_window = now;
	w->clock_lines = 0;
	w->clock_hidden = 0;
}

static int clock_line_ok(struct watch *w)
{
	clock_roll(w, mono_now());
	if (w->clock_lines >= WATCH_CLOCK_LINES) {
		w->clock_hidden++;
		return 0;
	}
	w->clock_lines++;
	return 1;
}

void watch_agent_clock(struct watch *w, struct watch_agent *a, int64_t agent_ms)
{
	int64_t offset;

	if (agent_ms <= 0)
		return; /* an agent that does not say its time */
	offset = agent_ms - wall_now_ms();
	if (llabs(offset) > WATCH_CLOCK_ABSURD_MS)
		return; /* not a clock: nothing to learn from it */
	if (a->have_offset && llabs(offset - a->clock_offset_ms) > WATCH_CLOCK_STEP_MS) {
		a->clock_steps++;
		if (clock_line_ok(w))
			log_warnx("agent \"%s\" of site %s: clock stepped by %+.1f s (now %+.1f s "
				  "from the "
				  "collector's; %" PRIu64 " steps)",
				  a->agent, a->site, (double)(offset - a->clock_offset_ms) / 1000.0,
				  (double)offset / 1000.0, a->clock_steps);
	} else if (!a->have_offset && llabs(offset) > WATCH_CLOCK_STEP_MS && clock_line_ok(w)) {
		log_warnx("agent \"%s\" of site %s: clock is %+.1f s from the collector's",
			  a->agent, a->site, (double)offset / 1000.0);
	}
	a->have_offset = 1;
	a->clock_offset_ms = offset;
}

void watch_foreach_agent(const struct watch *w, void (*fn)(const struct watch_agent *a, void *arg),
			 void *arg)
{
	for (size_t i = 0; i < w->nagents; i++)
		fn(w->agents[i], arg);
}

/* ---- files and checks ---- */

static struct whost *host_get(struct watch *w, const char *site, const char *host)
{
	struct whost *h;

	for (h = w->hosts; h != NULL; h = h->next)
		if (strcmp(h->host, host) == 0 && strcmp(h->site, site) == 0)
			return h;
	h = xcalloc(1, sizeof(*h));
	h->site = xstrdup(site);
	h->host = xstrdup(host);
	h->next = w->hosts;
	w->hosts = h;
	return h;
}

static void table_grow(struct watch *w)
{
	size_t n = w->nbuckets * 2;
	struct wentry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < w->nbuckets; i++) {
		struct wentry *e, *next;

		for (e = w->bucket[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(w->bucket);
	w->bucket = b;
	w->nbuckets = n;
}

static int site_may_add(struct watch *w, const char *site)
{
	struct wsite *t;
	double now = mono_now();

	if (w->p.max_new_per_minute == 0)
		return 1;
	for (t = w->sites; t != NULL && strcmp(t->name, site) != 0; t = t->next)
		;
	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		t->name = xstrdup(site);
		t->window = now;
		t->next = w->sites;
		w->sites = t;
	}
	if (now - t->window >= 60) {
		t->window = now;
		t->added = 0;
	}
	if (t->added >= w->p.max_new_per_minute) {
		log_complain(&t->too_fast, 300,
			     "watch: site \"%s\" added %u files and checks within a minute; more "
			     "are not watched for silence until the next minute",
			     site, t->added);
		return 0;
	}
	t->added++;
	return 1;
}

/* The entry, made if new; `paced`: a new one counts against its site's pace. */
static struct wentry *entry_get(struct watch *w, const char *site, const char *host,
				const char *check, const char *instance, int paced)
{
	const char *part[4] = {site, host, check, instance ? instance : ""};
	/* the session refuses longer names: a key of four always fits */
	char buf[4 * (SAMPLE_NAME_MAX + 1)], *key;
	size_t len = 0, n[4];
	uint64_t hash;
	struct wentry *e;

	for (int i = 0; i < 4; i++) {
		n[i] = strlen(part[i]);
		if (n[i] > SAMPLE_NAME_MAX)
			return NULL;
		memcpy(buf + len, part[i], n[i] + 1);
		len += n[i] + 1;
	}
	hash = hash_fnv1a(buf, len);
	for (e = w->bucket[hash & (w->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == hash && e->keylen == len && memcmp(e->key, buf, len) == 0)
			return e;
	if (paced && !site_may_add(w, site)) {
		w->ignored++;
		return NULL;
	}
	if (w->nentries >= w->p.max_entries) {
		w->ignored++;
		log_complain(&w->full, 300,
			     "watch: %zu files and checks watched, the most kept; %" PRIu64
			     " samples of new ones not watched for silence",
			     w->nentries, w->ignored);
		return NULL;
	}
	if (w->nentries >= w->nbuckets)
		table_grow(w);
	/* allocated only for a new entry: a known one costs no allocation per sample */
	key = xmalloc(len);
	memcpy(key, buf, len);
	e = xcalloc(1, sizeof(*e));
	e->hash = hash;
	e->key = key;
	e->keylen = len;
	e->site = key;
	e->host = e->site + n[0] + 1;
	e->check = e->host + n[1] + 1;
	e->instance = e->check + n[2] + 1;
	e->h = host_get(w, site, host);
	e->next = w->bucket[hash & (w->nbuckets - 1)];
	w->bucket[hash & (w->nbuckets - 1)] = e;
	w->nentries++;
	return e;
}

/* "if/eth0 on core-sw (site rissa)" */
static void entry_label(const struct wentry *e, char *buf, size_t len)
{
	say(buf, len, "%s%s%s on %s (site %s)", e->check, *e->instance ? "/" : "", e->instance,
	    e->host, e->site);
}

static void nodata_condition(struct watch *w, struct wentry *e, int silent, double now)
{
	const char *names[5] = {e->site, e->host, e->check, e->instance, "data"};
	char summary[384], label[3 * (SAMPLE_NAME_MAX + 2) + 32], since[32], span[32];

	if (e->nodata == silent)
		return;
	entry_label(e, label, sizeof(label));
	fmt_wall(e->last_sample_wall, since, sizeof(since));
	fmt_span(now - e->last_sample, span, sizeof(span));
	if (silent)
		say(summary, sizeof(summary),
		    "no data for %s for %s (since %s%s, interval %u s)%s%s%s", label, span, since,
		    e->seeded ? ", when the collector started; none since" : "", e->interval,
		    e->agent ? "; agent \"" : "", e->agent ? e->agent->agent : "",
		    e->agent == NULL         ? ""
		    : e->agent->sessions > 0 ? "\" is connected"
					     : "\" is not connected");
	else
		say(summary, sizeof(summary), "data for %s again after %s", label, span);
	e->nodata = silent;
	alert_condition(w->alert, ALERT_NO_DATA, names, silent, wall_now_ms(), summary);
}

/*
 * Drops what the watch holds of the files and checks the agent `a` reported
 * last: resolved with `note` if paging, then forgotten, so that a name made
 * up once cannot page no-data for good.
 */
static void entries_forget(struct watch *w, const struct watch_agent *a, const char *note)
{
	if (w->memo != NULL)
		memset(w->memo, 0, WATCH_MEMO * sizeof(*w->memo)); /* it may point at them */
	for (size_t b = 0; b < w->nbuckets; b++) {
		struct wentry **pp = &w->bucket[b], *e;

		while ((e = *pp) != NULL) {
			const char *names[5] = {e->site, e->host, e->check, e->instance, "data"};
			char label[3 * (SAMPLE_NAME_MAX + 2) + 32], summary[384];

			if (e->agent != a) {
				pp = &e->next;
				continue;
			}
			entry_label(e, label, sizeof(label));
			say(summary, sizeof(summary), "%s: %s", label, note);
			if (e->nodata)
				alert_condition(w->alert, ALERT_NO_DATA, names, 0, wall_now_ms(),
						summary);
			if (e->unreachable) {
				names[4] = "up";
				alert_condition(w->alert, ALERT_UNREACHABLE, names, 0,
						wall_now_ms(), summary);
			}
			if (e->failing && e->h->failing > 0)
				e->h->failing--;
			*pp = e->next;
			w->nentries--;
			free(e->key);
			free(e);
		}
	}
}

int watch_agent_forget(struct watch *w, const char *site, const char *agent)
{
	struct watch_agent *a = agent_find(w, site, agent);
	const char *names[5] = {site, agent, "vakt-agent", "", "traffic"};
	char note[256];
	size_t i;

	if (a == NULL)
		return -1;
	say(note, sizeof(note),
	    "agent \"%s\" of site %s was forgotten (vaktctl forget): no longer watched", agent,
	    site);
	if (a->down)
		alert_condition(w->alert, ALERT_AGENT_DOWN, names, 0, wall_now_ms(), note);
	entries_forget(w, a, note);
	for (i = 0; i < w->nagents && w->agents[i] != a; i++)
		;
	memmove(&w->agents[i], &w->agents[i + 1], (w->nagents - i - 1) * sizeof(*w->agents));
	w->nagents--;
	log_info("watch: %s", note);
	free(a->site);
	free(a->agent);
	free(a);
	return 0;
}

void watch_sample(struct watch *w, const char *site, const char *agent, const struct sample *s,
		  double now, int64_t now_wall_ms)
{
	struct wentry *e = NULL;
	struct wmemo *m = NULL;

	if (w->p.no_data == 0)
		return;
	if (s->series != 0) {
		if (w->memo == NULL)
			w->memo = xcalloc(WATCH_MEMO, sizeof(*w->memo));
		m = &w->memo[(s->series * 0x9e3779b97f4a7c15ULL) >> 48 & (WATCH_MEMO - 1)];
		if (m->series == s->series)
			e = m->e;
	}
	if (e == NULL) {
		e = entry_get(w, site, s->host, s->check, s->instance, 1);
		if (e == NULL)
			return;
		if (m != NULL) {
			m->series = s->series;
			m->e = e;
		}
	}
	if (agent != NULL && (e->agent == NULL || strcmp(e->agent->agent, agent) != 0))
		e->agent = agent_find(w, site, agent);
	if (s->interval > e->interval)
		e->interval = s->interval;
	nodata_condition(w, e, 0, now);
	if (e->has_samples && s->time_ms != e->last_time_ms)
		e->established = 1;
	e->seeded = 0;
	e->has_samples = 1;
	e->last_time_ms = s->time_ms;
	e->last_sample = now;
	e->last_sample_wall = now_wall_ms;
}

void watch_file_known(struct watch *w, const char *site, const char *host, const char *check,
		      const char *instance, const char *agent, unsigned interval)
{
	struct watch_agent *a = NULL;
	struct wentry *e;

	if (w->p.no_data == 0)
		return;
	/* a restart is no flood of new names: these do not count against the pace */
	if (*agent != '\0' && (a = agent_find(w, site, agent)) == NULL)
		return; /* its agent was forgotten (vaktctl forget): so are its files */
	e = entry_get(w, site, host, check, instance, 0);
	if (e == NULL || e->has_samples)
		return;
	e->agent = a;
	e->interval = interval;
	/* the restart is its last sample: it has no_data intervals to resume */
	e->has_samples = 1;
	e->established = 1;
	e->seeded = 1;
	e->last_sample = mono_now();
	e->last_sample_wall = wall_now_ms();
}

void watch_result(struct watch *w, const char *site, const char *agent,
		  const struct check_result *r)
{
	const char *names[5] = {site, r->host, r->check, r->instance, "up"};
	char summary[384], label[3 * (SAMPLE_NAME_MAX + 2) + 32], since[32];
	struct wentry *e;

	if (w->p.unreachable == 0)
		return;
	e = entry_get(w, site, r->host, r->check, r->instance, 1);
	if (e == NULL)
		return;
	if (agent != NULL && (e->agent == NULL || strcmp(e->agent->agent, agent) != 0))
		e->agent = agent_find(w, site, agent);
	if (r->interval > e->interval)
		e->interval = r->interval;
	entry_label(e, label, sizeof(label));
	if (r->outcome == OUTCOME_OK) {
		if (e->unreachable) {
			fmt_span((double)(r->time_ms - e->first_fail_wall) / 1000.0, since,
				 sizeof(since));
			say(summary, sizeof(summary), "%s answers again (failed for %s)", label,
			    since);
			e->unreachable = 0;
			alert_condition(w->alert, ALERT_UNREACHABLE, names, 0, r->time_ms, summary);
		}
		if (e->failing) {
			e->failing = 0;
			e->h->failing--;
		}
		e->fails = 0;
		return;
	}
	if (e->fails++ == 0)
		e->first_fail_wall = r->time_ms;
	if (!e->failing && e->fails >= w->p.unreachable) {
		e->failing = 1;
		e->h->failing++; /* its host's files may now fall silent without a page */
	}
	if (!e->failing || e->unreachable)
		return;
	if (e->agent != NULL && e->agent->down)
		return; /* agent-down explains it */
	if (alert_engine_covers(w->alert, names))
		return; /* a configured down rule pages for it */
	fmt_wall(e->first_fail_wall, since, sizeof(since));
	say(summary, sizeof(summary), "%s is unreachable: %s: %s (%u failed runs since %s)", label,
	    outcome_str(r->outcome), *r->reason ? r->reason : "no reason given", e->fails, since);
	e->unreachable = 1;
	alert_condition(w->alert, ALERT_UNREACHABLE, names, 1, r->time_ms, summary);
}

/*
 * Whether the agent's own silence may explain a file's: it is down, or,
 * before agent-down can tell, it has no session, has sent nothing since the
 * file's last sample, or has been quieter than a live agent ever is (it
 * sends at least a heartbeat). Then agent-down decides, so that an agent
 * that dies pages once, not once per file first.
 */
static int agent_explains(const struct watch *w, const struct wentry *e, double now)
{
	const struct watch_agent *a = e->agent;

	if (a == NULL)
		return 0;
	if (a->down || a->held > 0)
		return 1;
	if (w->p.agent_down_s == 0)
		return 0; /* nothing else would page for it */
	return a->sessions == 0 || a->last_seen <= e->last_sample ||
	       now - a->last_seen > (double)w->p.heartbeat_s + WATCH_NODATA_GRACE_S;
}

/* Runs under the store's lock: copy, page later. */
static void quar_collect(const struct store_quarantine *q, void *arg)
{
	struct watch *w = arg;
	struct wquar *h = NULL;

	for (size_t i = 0; i < w->nquar && h == NULL; i++)
		if (strcmp(w->quar[i].site, q->site) == 0 && strcmp(w->quar[i].host, q->host) == 0)
			h = &w->quar[i];
	if (h == NULL) {
		w->quar = xreallocarray(w->quar, w->nquar + 1, sizeof(*w->quar));
		h = &w->quar[w->nquar++];
		memset(h, 0, sizeof(*h));
		h->site = xstrdup(q->site);
		h->host = xstrdup(q->host);
	}
	if (!h->seen) {
		h->seen = 1;
		h->files = 0;
		h->dropped = 0;
		say(h->example, sizeof(h->example), "%s: %s failed: %s", q->path, q->op, q->reason);
	}
	h->files++;
	h->dropped += q->dropped;
}

void watch_quarantine(struct watch *w, struct store *store)
{
	for (size_t i = 0; i < w->nquar; i++)
		w->quar[i].seen = 0;
	store_foreach_quarantined(store, quar_collect, w);
	for (size_t i = 0; i < w->nquar;) {
		struct wquar *h = &w->quar[i];
		const char *names[5] = {h->site, h->host, "store", "", "quarantine"};
		char summary[384];

		if (h->seen) {
			say(summary, sizeof(summary),
			    "%zu file(s) of %s (site %s) cannot be written, their samples are "
			    "lost: %s",
			    h->files, h->host, h->site, h->example);
			alert_condition(w->alert, ALERT_QUARANTINE, names, 1, wall_now_ms(),
					summary);
			i++;
			continue;
		}
		say(summary, sizeof(summary),
		    "the files of %s (site %s) are written again (%llu samples were lost)", h->host,
		    h->site, (unsigned long long)h->dropped);
		alert_condition(w->alert, ALERT_QUARANTINE, names, 0, wall_now_ms(), summary);
		free(h->site);
		free(h->host);
		w->quar[i] = w->quar[--w->nquar];
	}
}

void watch_tick(struct watch *w, double now)
{
	for (size_t i = 0; i < w->nagents; i++) {
		struct watch_agent *a = w->agents[i];

		if (a->held > 0) {
			/* the store holds its data back: the agent is there */
			a->last_seen = now;
			a->last_wall_ms = wall_now_ms();
			continue;
		}
		if (w->p.agent_down_s > 0 && !a->down && now - a->last_seen > w->p.agent_down_s)
			agent_condition(w, a, 1, now);
	}
	if (w->p.no_data == 0)
		return;
	for (size_t b = 0; b < w->nbuckets; b++)
		for (struct wentry *e = w->bucket[b]; e != NULL; e = e->next) {
			double limit = (double)w->p.no_data * (e->interval ? e->interval : 1) +
				       WATCH_NODATA_GRACE_S;

			if (!e->established || e->nodata || now - e->last_sample <= limit)
				continue;
			/* explained elsewhere: the agent is silent or the host unreachable */
			if (agent_explains(w, e, now) || e->h->failing > 0)
				continue;
			nodata_condition(w, e, 1, now);
		}
}

void watch_get_stats(const struct watch *w, struct watch_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->agents = w->nagents;
	for (size_t i = 0; i < w->nagents; i++)
		st->agents_down += w->agents[i]->down;
	for (size_t b = 0; b < w->nbuckets; b++)
		for (const struct wentry *e = w->bucket[b]; e != NULL; e = e->next) {
			st->files += e->has_samples;
			st->files_silent += e->nodata;
			st->checks_failing += e->failing;
		}
	st->checks = w->nentries;
	st->ignored = w->ignored;
}
