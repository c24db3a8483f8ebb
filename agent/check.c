/*
 * check.c - the check-kind table and the scheduling of check runs.
 * A check never runs twice at once: a busy slot is counted and skipped.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "timeutil.h"
#include "uplink.h"
#include "xmalloc.h"

extern const struct check_kind check_kind_snmp;
extern const struct check_kind check_kind_tcp;

/* Adding a check kind: one file, one line here. */
const struct check_kind *const check_kinds[] = {
    &check_kind_snmp,
    &check_kind_tcp,
    NULL,
};

const struct check_kind *check_kind_find(const char *name)
{
	for (size_t i = 0; check_kinds[i] != NULL; i++)
		if (strcmp(check_kinds[i]->name, name) == 0)
			return check_kinds[i];
	return NULL;
}

const char *check_outcome_str(enum check_outcome o)
{
	switch (o) {
	case CHECK_PENDING:
		return "pending";
	case CHECK_OK:
		return "ok";
	case CHECK_DOWN:
		return "down";
	case CHECK_TIMEOUT:
		return "timeout";
	case CHECK_ERROR:
		return "error";
	}
	return "unknown";
}

void check_emit_as(struct check *c, const char *check, const char *instance, const char *metric,
		   enum sample_kind kind, double value, uint64_t counter, int unknown)
{
	Vakt__Sample *s;

	if (c->agent == NULL || c->agent->uplink == NULL)
		return;
	s = uplink_sample_new(c->host, check, instance ? instance : "", metric);
	s->time_ms = c->run_time_ms;
	s->kind = (Vakt__Kind)kind;
	s->value = value;
	s->counter = counter;
	s->unknown = unknown != 0;
	s->interval = c->interval;
	uplink_add(c->agent->uplink, s);
}

void check_emit(struct check *c, const char *instance, const char *metric, enum sample_kind kind,
		double value, uint64_t counter, int unknown)
{
	check_emit_as(c, c->name, instance, metric, kind, value, counter, unknown);
}

void check_done(struct check *c, enum check_outcome o)
{
	if (!c->busy) {
		log_warnx("check \"%s\": run ended twice (%s)", c->name, check_outcome_str(o));
		return;
	}
	c->busy = 0;
	if (o != c->last)
		log_info("check \"%s\" (%s): %s -> %s", c->name, c->kind->name,
			 check_outcome_str(c->last), check_outcome_str(o));
	c->last = o;
	log_debug("check \"%s\": %s in %llu ms", c->name, check_outcome_str(o),
		  (unsigned long long)(mono_now_ms() - c->run_start_ms));
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
