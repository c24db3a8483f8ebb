/*
 * test_sched.c - the scheduler keeps its phase over long runs (no drift),
 * skips a slot when the previous run is still busy, and skips missed slots
 * after a stall instead of running them back to back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "scheduler.h"

static void test_no_drift_over_1000_intervals(void **state)
{
	struct sched_slot s;
	uint64_t start, now = 5000;

	srandom(42);
	sched_init(&s, 60000, now, 12345);
	start = s.planned_ms;
	assert_true(start >= now && start < now + 60000);
	for (int k = 0; k < 1000; k++) {
		/* the timer fires up to 900 ms late and the run takes 0..30 s */
		uint64_t fired = s.planned_ms + (uint64_t)(random() % 900);

		assert_int_equal(s.planned_ms, start + (uint64_t)k * 60000);
		assert_int_equal(sched_fire(&s, fired, 0), SCHED_RUN);
		now = fired + (uint64_t)(random() % 30000);
		assert_true(sched_delay(&s, now) <= 60000);
	}
	assert_int_equal(s.planned_ms, start + 1000ULL * 60000);
	assert_int_equal(s.runs, 1000);
	assert_int_equal(s.overruns, 0);
	assert_int_equal(s.late, 0);
}

static void test_overrun_is_counted_and_skipped_not_stacked(void **state)
{
	struct sched_slot s;
	uint64_t t;

	sched_init(&s, 10000, 0, 0);
	t = s.planned_ms;
	assert_int_equal(sched_fire(&s, t, 0), SCHED_RUN);
	/* the run hangs for two more slots */
	assert_int_equal(sched_fire(&s, t + 10000, 1), SCHED_OVERRUN);
	assert_int_equal(sched_fire(&s, t + 20000, 1), SCHED_OVERRUN);
	assert_int_equal(sched_fire(&s, t + 30000, 0), SCHED_RUN);
	assert_int_equal(s.runs, 2);
	assert_int_equal(s.overruns, 2);
	/* the phase is kept: the next slot is still on the 10 s grid */
	assert_int_equal(s.planned_ms, t + 40000);
}

static void test_stalled_loop_skips_missed_slots(void **state)
{
	struct sched_slot s;
	uint64_t t;

	sched_init(&s, 1000, 0, 0);
	t = s.planned_ms;
	/* the loop wakes 5.5 slots late: one run now, slots in between dropped */
	assert_int_equal(sched_fire(&s, t + 5500, 0), SCHED_RUN);
	assert_int_equal(s.planned_ms, t + 6000);
	assert_int_equal(s.late, 5);
	assert_int_equal(sched_delay(&s, t + 5500), 500);
}

static void test_jitter_is_within_one_interval(void **state)
{
	struct sched_slot s;

	for (uint32_t r = 0; r < 100000; r += 997) {
		sched_init(&s, 30000, 100, r);
		assert_true(s.planned_ms >= 100 && s.planned_ms < 100 + 30000);
	}
	assert_string_equal(sched_action_str(SCHED_OVERRUN), "overrun");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_drift_over_1000_intervals),
	    cmocka_unit_test(test_overrun_is_counted_and_skipped_not_stacked),
	    cmocka_unit_test(test_stalled_loop_skips_missed_slots),
	    cmocka_unit_test(test_jitter_is_within_one_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
