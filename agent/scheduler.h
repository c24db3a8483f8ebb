/*
 * scheduler.h - the agent's scheduler arithmetic. Each check runs at planned
 * times start + k*interval; the next time is computed from the planned time,
 * never from "now", so a check does not drift over hours. A run that is still
 * busy when its next slot comes is counted as an overrun and that slot is
 * skipped, never stacked. Pure functions, so the tests can simulate days.
 */
#ifndef VAKT_SCHEDULER_H
#define VAKT_SCHEDULER_H

#include <stdint.h>

struct sched_slot {
	uint64_t interval_ms;
	uint64_t planned_ms; /* monotonic time of the next planned run */
	uint64_t runs;       /* slots that started a run */
	uint64_t overruns;   /* slots skipped because the previous run was busy */
	uint64_t late;       /* slots skipped because the loop woke up too late */
};

/* First planned time: now + a jitter in [0, interval) chosen by `rnd`. */
void sched_init(struct sched_slot *s, uint64_t interval_ms, uint64_t now_ms, uint32_t rnd);

enum sched_action {
	SCHED_RUN,     /* start the check now */
	SCHED_OVERRUN, /* previous run still busy: slot skipped */
};

const char *sched_action_str(enum sched_action a);

/*
 * Called when the timer for s->planned_ms fires at now_ms. Decides whether
 * to run, advances s->planned_ms to the next slot strictly after now_ms
 * (counting slots missed because the loop was late), and returns the action.
 */
enum sched_action sched_fire(struct sched_slot *s, uint64_t now_ms, int busy);

/* Milliseconds to wait from now_ms until the next planned slot (0 if due). */
uint64_t sched_delay(const struct sched_slot *s, uint64_t now_ms);

#endif
