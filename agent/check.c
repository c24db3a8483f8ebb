/*
 * check.c - the check-kind table, the phases of a check's life and the
 * scheduling of its runs. Every run ends in exactly one Result; a check never
 * runs twice at once: a busy slot is counted and skipped.
 */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "timeutil.h"
#include "uplink.h"
#include "xmalloc.h"

extern const struct check_kind check_kind_icmp;
extern const struct check_kind check_kind_dns;
extern const struct check_kind check_kind_pcap;
extern const struct check_kind check_kind_snmp;
extern const struct check_kind check_kind_tcp;
extern const struct check_kind check_kind_http;
extern const struct check_kind check_kind_tls;
extern const struct check_kind check_kind_trap;

/* Adding a check kind: one file, one line here. */
const struct check_kind *const check_kinds[] = {
    &check_kind_snmp,
    &check_kind_icmp,
    &check_kind_dns,
    &check_kind_pcap,
    &check_kind_tcp,
    &check_kind_http,
    &check_kind_tls,
    &check_kind_trap,
    NULL,
};

const struct check_kind *check_kind_find(const char *name)
{
	for (size_t i = 0; check_kinds[i] != NULL; i++)
		if (strcmp(check_kinds[i]->name, name) == 0)
			return check_kinds[i];
	return NULL;
}

static size_t kind_index(const struct check_kind *k)
{
	size_t i;

	for (i = 0; check_kinds[i] != NULL && check_kinds[i] != k; i++)
		;
	return i;
}

static size_t nkinds(void)
{
	return kind_index(NULL);
}

int check_kinds_init(struct agent *a)
{
	size_t n = nkinds();

	if (a->kinds == NULL)
		a->kinds = xcalloc(n, sizeof(*a->kinds));
	for (size_t k = 0; k < n; k++) {
		int used = 0;

		for (size_t i = 0; i < a->conf->nchecks && !used; i++)
			used = a->conf->checks[i]->kind == check_kinds[k];
		/* a kind nobody uses opens nothing (no ICMP socket without icmp probes) */
		if (!used || a->kinds[k].ready || check_kinds[k]->init == NULL)
			continue;
		if (check_kinds[k]->init(a, &a->kinds[k].state) < 0) {
			log_warnx("check kind \"%s\": cannot set up what its checks share",
				  check_kinds[k]->name);
			return -1;
		}
		a->kinds[k].ready = 1;
	}
	return 0;
}

void check_kinds_fini(struct agent *a)
{
	if (a->kinds == NULL)
		return;
	for (size_t k = nkinds(); k-- > 0;)
		if (a->kinds[k].ready && check_kinds[k]->fini != NULL)
			check_kinds[k]->fini(a, a->kinds[k].state);
	free(a->kinds);
	a->kinds = NULL;
}

void *check_kind_state(const struct check *c)
{
	if (c->agent == NULL || c->agent->kinds == NULL)
		return NULL;
	return c->agent->kinds[kind_index(c->kind)].state;
}

int check_start_error(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->start_error, sizeof(c->start_error), fmt, ap);
	va_end(ap);
	return -1;
}

int check_open_privileged(struct check *c)
{
	if (c->kind->open_privileged == NULL)
		return 0;
	c->start_error[0] = '\0';
	if (c->kind->open_privileged(c) == 0)
		return 0;
	if (c->start_error[0] == '\0')
		check_start_error(c, "cannot open what the %s check needs", c->kind->name);
	log_warnx("check \"%s\" (%s): %s", c->name, c->kind->name, c->start_error);
	return -1;
}

/* Quiet: the caller decides whether a failure is worth a line. */
static int check_try_start(struct check *c)
{
	c->start_error[0] = '\0';
	if (c->kind->start == NULL || c->kind->start(c) == 0) {
		c->started = 1;
		return 0;
	}
	if (c->start_error[0] == '\0')
		check_start_error(c, "cannot start the %s check", c->kind->name);
	return -1;
}

int check_start(struct check *c)
{
	if (check_try_start(c) == 0)
		return 0;
	log_warnx("check \"%s\" (%s): %s; retrying before every run", c->name, c->kind->name,
		  c->start_error);
	return -1;
}

/* A sample of c but its names, which the uplink takes apart. */
static Vakt__Sample check_sample(const struct check *c, int64_t time_ms, enum sample_kind kind,
				 double value, uint64_t counter, unsigned width, int unknown)
{
	Vakt__Sample s = VAKT__SAMPLE__INIT;

	s.time_ms = time_ms;
	s.kind = (Vakt__Kind)kind;
	s.value = value;
	s.counter = counter;
	s.width = width;
	s.unknown = unknown != 0;
	s.interval = c->interval;
	return s;
}

void check_emit_at(struct check *c, int64_t time_ms, const char *check, const char *instance,
		   const char *metric, enum sample_kind kind, double value, uint64_t counter,
		   unsigned width, int unknown)
{
	Vakt__Sample s;

	if (c->agent == NULL || c->agent->uplink == NULL)
		return;
	s = check_sample(c, time_ms, kind, value, counter, width, unknown);
	uplink_add_sample(c->agent->uplink, c->host, check, instance ? instance : "", metric, &s);
}

void check_file_init(struct check *c, struct uplink_file *f, const char *check,
		     const char *instance)
{
	uplink_file_init(f, c->host, check, instance ? instance : "");
}

void check_emit_file(struct check *c, struct uplink_file *f, const char *metric, size_t metric_len,
		     enum sample_kind kind, double value, uint64_t counter, int unknown)
{
	Vakt__Sample s;

	if (c->agent == NULL || c->agent->uplink == NULL)
		return;
	s = check_sample(c, c->run_time_ms, kind, value, counter, 0, unknown);
	uplink_add_file_sample(c->agent->uplink, f, metric, metric_len, &s);
}

void check_emit_as(struct check *c, const char *check, const char *instance, const char *metric,
		   enum sample_kind kind, double value, uint64_t counter, int unknown)
{
	check_emit_at(c, c->run_time_ms, check, instance, metric, kind, value, counter, 0, unknown);
}

void check_emit(struct check *c, const char *instance, const char *metric, enum sample_kind kind,
		double value, uint64_t counter, int unknown)
{
	check_emit_as(c, c->name, instance, metric, kind, value, counter, unknown);
}

void check_event(struct check *c, int64_t time_ms, const char *host, const char *instance,
		 const char *name, const char *oid, const char *text, const char *source)
{
	Vakt__Event *e;

	if (c->agent == NULL || c->agent->uplink == NULL)
		return;
	e = uplink_event_new(host, c->name, instance ? instance : "", name, oid, text, source);
	e->time_ms = time_ms;
	uplink_add_event(c->agent->uplink, e);
}

/* One Result into the uplink's pending batch. */
static void send_result(struct check *c, const char *check, const char *instance, enum outcome o,
			const char *reason, uint64_t duration)
{
	Vakt__Result *r;

	if (c->agent == NULL || c->agent->uplink == NULL)
		return;
	r = uplink_result_new(c->host, check, instance, reason);
	r->time_ms = c->run_time_ms;
	r->outcome = (Vakt__Outcome)o;
	r->interval = c->interval;
	r->duration_ms = duration > UINT32_MAX ? UINT32_MAX : (uint32_t)duration;
	uplink_add_result(c->agent->uplink, r);
}

void check_result_as(struct check *c, const char *check, const char *instance, enum outcome o,
		     const char *fmt, ...)
{
	char reason[SAMPLE_REASON_MAX + 1] = "";
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	}
	send_result(c, check, instance ? instance : "", o, reason, mono_now_ms() - c->run_start_ms);
}

void check_done(struct check *c, enum outcome o, const char *fmt, ...)
{
	char reason[SAMPLE_REASON_MAX + 1] = "";
	uint64_t duration = mono_now_ms() - c->run_start_ms;
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	}
	if (!c->busy) {
		log_warnx("check \"%s\": run ended twice (%s)", c->name, outcome_str(o));
		return;
	}
	c->busy = 0;
	send_result(c, c->kind->result_check ? c->kind->result_check : c->name, "", o, reason,
		    duration);
	/* transitions only: a device down for a week is one line, not 10,000 */
	if (o != c->last && o == OUTCOME_OK)
		log_info("check \"%s\" (%s): %s -> ok%s%s", c->name, c->kind->name,
			 outcome_str(c->last), reason[0] ? ": " : "", reason);
	else if (o != c->last)
		log_warnx("check \"%s\" (%s): %s -> %s: %s", c->name, c->kind->name,
			  outcome_str(c->last), outcome_str(o), reason);
	c->last = o;
	log_debug("check \"%s\": %s in %llu ms%s%s", c->name, outcome_str(o),
		  (unsigned long long)duration, reason[0] ? ": " : "", reason);
}

void check_quote(char *out, size_t outlen, const void *data, size_t n, size_t max)
{
	const unsigned char *p = data;
	size_t o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < n && i < max; i++) {
		char esc[5];

		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\t')
			snprintf(esc, sizeof(esc), "\\%c",
				 p[i] == '\r'   ? 'r'
				 : p[i] == '\n' ? 'n'
						: 't');
		else if (p[i] == '\\' || p[i] == '"')
			snprintf(esc, sizeof(esc), "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
		else
			snprintf(esc, sizeof(esc), "%c", p[i]);
		if (o + strlen(esc) >= outlen)
			break;
		memcpy(out + o, esc, strlen(esc));
		o += strlen(esc);
	}
	if (n > max && o + 3 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void check_arm(struct check *c)
{
	struct timeval tv;

	ms_to_timeval(sched_delay(&c->slot, mono_now_ms()), &tv);
	evtimer_add(c->timer, &tv);
}

static void check_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;
	uint64_t now = mono_now_ms();
	uint64_t late_before = c->slot.late;

	if (sched_fire(&c->slot, now, c->busy) == SCHED_OVERRUN) {
		log_warnx("check \"%s\": previous run still busy after %u s, slot skipped "
			  "(%llu overruns)",
			  c->name, c->interval, (unsigned long long)c->slot.overruns);
	} else {
		c->busy = 1;
		c->run_start_ms = now;
		c->run_time_ms = wall_now_ms();
		/* a check that could not start reports why at every run until it can */
		if (!c->started && check_try_start(c) < 0)
			check_done(c, OUTCOME_ERROR, "%s", c->start_error);
		else
			c->kind->run(c);
	}
	if (c->slot.late != late_before)
		log_warnx("check \"%s\": agent was stalled, %llu slots skipped", c->name,
			  (unsigned long long)(c->slot.late - late_before));
	check_arm(c);
}

int check_schedule(struct check *c)
{
	c->timer = evtimer_new(c->base, check_timer_cb, c);
	if (c->timer == NULL)
		return -1;
	/* random start jitter so that checks with one interval do not poll in lockstep */
	sched_init(&c->slot, (uint64_t)c->interval * 1000, mono_now_ms(), (uint32_t)random());
	check_arm(c);
	return 0;
}

void check_free(struct check *c)
{
	if (c == NULL)
		return;
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->kind != NULL && c->kind->stop != NULL)
		c->kind->stop(c);
	free(c->name);
	free(c->host);
	free(c);
}
