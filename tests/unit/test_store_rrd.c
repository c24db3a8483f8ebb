/*
 * test_store_rrd.c - the RRD writer thread: files land at the documented
 * path with one DS per metric, values readable with librrd, replays counted
 * as duplicates (never as errors), and every batch reported back once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <rrd.h>

#include "frame.h"
#include "store_rrd.h"

struct result_log {
	struct store_result r[16];
	int n;
	struct event_base *base;
};

static void done(const struct store_result *r, void *arg)
{
	struct result_log *log = arg;

	log->r[log->n++] = *r;
	event_base_loopbreak(log->base);
}

/* The session and site the next batch claims; with_origin sets them. */
static const char *cur_site = "x";
static uint64_t cur_session = 1;

static struct sample_batch *with_origin(uint64_t session, const char *site, struct sample_batch *b)
{
	b->session_id = session;
	free(b->site);
	b->site = strdup(site);
	return b;
}

#define SUBMIT(session, site, b) store_submit(s, with_origin(session, site, b))

static struct sample_batch *batch(uint64_t seq, int64_t t_ms, uint64_t octets, double up)
{
	struct sample_batch *b = sample_batch_new(cur_site, "agent", cur_session, seq, 2);
	const char *metrics[] = {"in_octets", "oper_status"};

	for (int i = 0; i < 2; i++) {
		struct sample *s = sample_batch_add(b, "core sw", "if", "eth0", metrics[i]);

		s->time_ms = t_ms;
		s->interval = 1;
		s->kind = i == 0 ? SAMPLE_DERIVE : SAMPLE_GAUGE;
		s->counter = octets;
		s->value = up;
	}
	return b;
}

static void free_lastupdate(unsigned long n, char **names, char **values)
{
	for (unsigned long i = 0; i < n; i++) {
		free(names[i]);
		free(values[i]);
	}
	free(names);
	free(values);
}

static void wait_results(struct result_log *log, int n)
{
	struct timeval tv = {10, 0};

	while (log->n < n) {
		int before = log->n;

		event_base_loopexit(log->base, &tv);
		event_base_dispatch(log->base);
		assert_true(log->n > before); /* no result within 10 s */
	}
}

struct spec {
	const char *instance, *metric;
	int64_t t_ms;
	double value;
};

/* A batch of gauges on host "h", check "c", as the session hands it over. */
static struct sample_batch *frame_of(uint64_t seq, const struct spec *sp, size_t n)
{
	struct sample_batch *b = sample_batch_new(cur_site, "agent", cur_session, seq, n);

	for (size_t i = 0; i < n; i++) {
		struct sample *x = sample_batch_add(b, "h", "c", sp[i].instance, sp[i].metric);

		x->time_ms = sp[i].t_ms;
		x->value = sp[i].value;
		x->interval = 1;
	}
	return b;
}

/* Removes a test's data directory and everything under it. */
static void remove_tree(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_batches_land_in_rrd_and_replays_are_duplicates(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512];
	struct result_log log = {.n = 0};
	struct store_params p;
	struct store *s;
	struct stat sb;
	time_t last;
	unsigned long ds_cnt;
	char **ds_names, **values;
	int64_t t0 = ((int64_t)time(NULL) - 100) * 1000;

	assert_non_null(mkdtemp(dir));
	evthread_use_pthreads();
	log.base = event_base_new();
	p.data_dir = dir;
	p.step = 1;
	p.queue_max = 4;
	s = store_new(log.base, &p, done, &log);
	assert_int_equal(SUBMIT(9, "r\xc3\xb8rvik", batch(1, t0, 1000, 1)), 0);
	assert_int_equal(SUBMIT(9, "r\xc3\xb8rvik", batch(2, t0 + 1000, 3000, 2)), 0);
	wait_results(&log, 2);
	assert_int_equal(log.r[0].seq, 1);
	assert_int_equal(log.r[0].session_id, 9);
	assert_int_equal(log.r[0].written, 2);
	assert_int_equal(log.r[1].seq, 2);
	assert_int_equal(log.r[1].written, 2);

	snprintf(path, sizeof(path), "%s/rorvik/core_sw/if-eth0.rrd", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(rrd_lastupdate_r(path, &last, &ds_cnt, &ds_names, &values), 0);
	assert_int_equal(last, t0 / 1000 + 1);
	assert_int_equal(ds_cnt, 2);
	assert_string_equal(ds_names[0], "in_octets");
	assert_string_equal(values[0], "3000");
	assert_string_equal(ds_names[1], "oper_status");
	assert_string_equal(values[1], "2");
	free_lastupdate(ds_cnt, ds_names, values);

	/* the agent replays batch 2 after a reconnect: counted, not an error */
	assert_int_equal(SUBMIT(10, "r\xc3\xb8rvik", batch(2, t0 + 1000, 3000, 2)), 0);
	wait_results(&log, 3);
	assert_int_equal(log.r[2].duplicates, 2);
	assert_int_equal(log.r[2].rejected, 0);
	assert_int_equal(log.r[2].written, 0);

	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_queue_is_bounded(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX";
	struct result_log log = {.n = 0};
	struct store_params p = {.step = 60, .queue_max = 1};
	struct store *s;
	struct sample_batch *extra;
	int refused = 0;

	assert_non_null(mkdtemp(dir));
	log.base = event_base_new();
	p.data_dir = dir;
	s = store_new(log.base, &p, done, &log);
	assert_int_equal(SUBMIT(1, "x", batch(1, 1000000, 1, 1)), 0);
	/* the first is queued or being written; its result is not collected: no room */
	extra = batch(2, 2000000, 1, 1);
	if (SUBMIT(1, "x", extra) < 0) {
		refused = 1;
		sample_batch_free(extra);
	}
	assert_true(refused);
	assert_true(store_full(s));
	wait_results(&log, 1);
	assert_false(store_full(s));
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_interleaved_files_in_one_batch(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512];
	struct result_log log = {.n = 0};
	struct store_params p = {.step = 1, .queue_max = 2};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	/* samples of file A (c-a) around one of file B (c-b): A, B, A */
	const struct spec mixed[] = {{"a", "x", t, 1}, {"b", "x", t, 2}, {"a", "y", t, 3}};
	time_t last;
	unsigned long ds_cnt;
	char **ds_names, **values;

	assert_non_null(mkdtemp(dir));
	log.base = event_base_new();
	p.data_dir = dir;
	s = store_new(log.base, &p, done, &log);
	assert_int_equal(SUBMIT(1, "x", frame_of(1, mixed, 3)), 0);
	wait_results(&log, 1);
	assert_int_equal(log.r[0].written, 3);
	assert_int_equal(log.r[0].rejected, 0);
	snprintf(path, sizeof(path), "%s/x/h/c-a.rrd", dir);
	assert_int_equal(rrd_lastupdate_r(path, &last, &ds_cnt, &ds_names, &values), 0);
	assert_int_equal(ds_cnt, 2); /* both metrics of A, though B stood between */
	free_lastupdate(ds_cnt, ds_names, values);
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_out_of_order_batch_and_partial_replay(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512];
	struct result_log log = {.n = 0};
	struct store_params p = {.step = 1, .queue_max = 4};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 60) * 1000;
	/* three timestamps of file c-a, out of order, with file c-b in between */
	const struct spec first[] = {
	    {"a", "x", t + 2000, 2}, {"a", "y", t + 2000, 20}, {"b", "x", t + 1000, 7},
	    {"a", "x", t + 1000, 1}, {"a", "y", t + 1000, 10}, {"a", "x", t + 3000, 3},
	    {"a", "y", t + 3000, 30},
	};
	/* after a reconnect: t+2 and t+3 again, and t+4 that is new */
	const struct spec replay[] = {
	    {"a", "x", t + 2000, 2},  {"a", "y", t + 2000, 20}, {"a", "x", t + 3000, 3},
	    {"a", "y", t + 3000, 30}, {"a", "x", t + 4000, 4},  {"a", "y", t + 4000, 40},
	};
	time_t last;
	unsigned long ds_cnt;
	char **ds_names, **values;

	assert_non_null(mkdtemp(dir));
	log.base = event_base_new();
	p.data_dir = dir;
	s = store_new(log.base, &p, done, &log);
	assert_int_equal(SUBMIT(1, "x", frame_of(1, first, 7)), 0);
	assert_int_equal(SUBMIT(1, "x", frame_of(2, replay, 6)), 0);
	wait_results(&log, 2);
	assert_int_equal(log.r[0].written, 7);
	assert_int_equal(log.r[0].rejected + log.r[0].duplicates, 0);
	assert_int_equal(log.r[1].written, 2);	  /* t+4 */
	assert_int_equal(log.r[1].duplicates, 4); /* t+2, t+3 */
	assert_int_equal(log.r[1].rejected, 0);

	snprintf(path, sizeof(path), "%s/x/h/c-a.rrd", dir);
	assert_int_equal(rrd_lastupdate_r(path, &last, &ds_cnt, &ds_names, &values), 0);
	assert_int_equal(last, t / 1000 + 4);
	assert_string_equal(values[0], "4");
	assert_string_equal(values[1], "40");
	free_lastupdate(ds_cnt, ds_names, values);
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_create_args_follow_the_design(void **state)
{
	const struct store_ds ds[] = {{"up", SAMPLE_GAUGE, 30}, {"in_octets", SAMPLE_DERIVE, 30}};
	const struct store_ds slow = {"up", SAMPLE_GAUGE, 300};
	char **argv;
	int argc;

	argc = store_rrd_create_args(60, ds, 2, &argv);
	assert_int_equal(argc, 2 + 12);
	assert_string_equal(argv[0], "DS:up:GAUGE:60:U:U");
	assert_string_equal(argv[1], "DS:in_octets:DERIVE:60:0:U");
	assert_string_equal(argv[2], "RRA:AVERAGE:0.5:1:2880");     /* 2 days of 1 min */
	assert_string_equal(argv[5], "RRA:AVERAGE:0.5:5:4032");     /* 14 days of 5 min */
	assert_string_equal(argv[8], "RRA:AVERAGE:0.5:60:9504");    /* 13 months of 1 h */
	assert_string_equal(argv[11], "RRA:AVERAGE:0.5:1440:3650"); /* 10 years of 1 day */
	assert_string_equal(argv[13], "RRA:MAX:0.5:1440:3650");
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	/* heartbeat is twice the check's interval when that exceeds the step */
	argc = store_rrd_create_args(60, &slow, 1, &argv);
	assert_string_equal(argv[0], "DS:up:GAUGE:600:U:U");
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batches_land_in_rrd_and_replays_are_duplicates),
	    cmocka_unit_test(test_queue_is_bounded),
	    cmocka_unit_test(test_interleaved_files_in_one_batch),
	    cmocka_unit_test(test_out_of_order_batch_and_partial_replay),
	    cmocka_unit_test(test_create_args_follow_the_design),
	};

	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
