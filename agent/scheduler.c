/*
 * scheduler.c - drift-free slot arithmetic for checks; see scheduler.h.
 * Never reads a clock itself: callers pass the time, tests simulate it.
 */
#include "scheduler.h"

const char *sched_action_str(enum sched_action a)
{
	switch (a) {
	case SCHED_RUN:
		return "run";
	case SCHED_OVERRUN:
		return "overrun";
	}
	return "unknown";
}

void sched_init(struct sched_slot *s, uint64_t interval_ms, uint64_t now_ms, uint32_t rnd)
{
	s->interval_ms = interval_ms ? interval_ms : 1;
	s->planned_ms = now_ms + rnd % s->interval_ms;
	s->runs = s->overruns = s->late = 0;
}

enum sched_action sched_fire(struct sched_slot *s, uint64_t now_ms, int busy)
{
	enum sched_action a = busy ? SCHED_OVERRUN : SCHED_RUN;

	if (busy)
		s->overruns++;
	else
		s->runs++;
	s->planned_ms += s->interval_ms;
	if (s->planned_ms <= now_ms) {
		/* the loop was stalled past whole slots: skip them, keep the phase */
		uint64_t missed = (now_ms - s->planned_ms) / s->interval_ms + 1;

		s->late += missed;
		s->planned_ms += missed * s->interval_ms;
	}
	return a;
}

uint64_t sched_delay(const struct sched_slot *s, uint64_t now_ms)
{
	return s->planned_ms > now_ms ? s->planned_ms - now_ms : 0;
}
