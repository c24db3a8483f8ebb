/*
 * test_store_rrd.c - the RRD writer thread: files land at the documented
 * path with one DS per metric, values readable with librrd, replays counted
 * as duplicates (never as errors), every batch reported back once; names
 * that meet on disk kept apart, files that grow, a bad file quarantined
 * while the rest is written, a reader's lock waited for, the bounds on the
 * queue and on growth, and a session's batches behind a failed one failing
 * unwritten.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	struct store_params p = {0};
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

/* The last value rrdtool holds for data source ds of path, as text ("" when none). */
static void last_of(const char *path, const char *ds, char *out, size_t len)
{
	time_t last;
	unsigned long n;
	char **names, **values;

	out[0] = '\0';
	assert_int_equal(rrd_lastupdate_r(path, &last, &n, &names, &values), 0);
	for (unsigned long i = 0; i < n; i++)
		if (strcmp(names[i], ds) == 0)
			snprintf(out, len, "%s", values[i]);
	free_lastupdate(n, names, values);
}

static void test_cache_waits_merges_and_replays_after_a_crash(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512], why[160], v[64];
	struct result_log log = {.n = 0};
	struct store_params p = {.step = 1, .queue_max = 4, .cache_flush_age = 3600};
	struct store *s;
	int64_t t0 = ((int64_t)time(NULL) - 100) * 1000;
	struct spec a[] = {{"", "m1", t0, 1.0}}, b[] = {{"", "m2", t0, 2.0}},
		    c[] = {{"", "m1", t0 + 1000, 3.0}, {"", "m2", t0 + 1000, 4.0}};
	struct sample_batch *x;

	assert_non_null(mkdtemp(dir));
	log.base = event_base_new();
	p.data_dir = dir;
	s = store_new(log.base, &p, done, &log);
	/* stream 5 of agent "agent": batch 1 ends in the middle of timestamp t0 */
	x = frame_of(1, a, 1);
	x->stream = 5;
	assert_int_equal(SUBMIT(1, "x", x), 0);
	x = frame_of(2, b, 1);
	x->stream = 5;
	assert_int_equal(SUBMIT(1, "x", x), 0);
	wait_results(&log, 2);
	assert_int_equal(log.r[1].written, 1);
	assert_int_equal(log.r[1].duplicates, 0);
	assert_true(store_stream_acked(s, "x", "agent", 5) == 2);
	assert_true(store_stream_acked(s, "x", "agent", 6) == 0);
	/* acked, yet only in the journal and the cache: the file has nothing after its start */
	snprintf(path, sizeof(path), "%s/x/h/c.rrd", dir);
	last_of(path, "m1", v, sizeof(v));
	assert_string_equal(v, "U");
	/* a reader asks: both halves of t0 are in one update */
	assert_int_equal(store_flush(s, path, 5, why, sizeof(why)), 1);
	last_of(path, "m1", v, sizeof(v));
	assert_string_equal(v, "1");
	last_of(path, "m2", v, sizeof(v));
	assert_string_equal(v, "2");

	/* batch 2 again (its ack was lost): acked, not written */
	x = frame_of(2, b, 1);
	x->stream = 5;
	assert_int_equal(SUBMIT(1, "x", x), 0);
	x = frame_of(3, c, 2);
	x->stream = 5;
	assert_int_equal(SUBMIT(1, "x", x), 0);
	wait_results(&log, 4);
	assert_int_equal(log.r[2].redelivered, 1);
	assert_int_equal(log.r[3].redelivered, 0);
	assert_int_equal(log.r[3].written, 2);

	/* a crash: nothing flushed, nothing of the store's shutdown; a new store replays */
	{
		char cp[1100];

		snprintf(cp, sizeof(cp), "cp -a '%s' '%s.crash'", dir, dir);
		assert_int_equal(system(cp), 0);
	}
	store_free(s);
	remove_tree(dir);
	{
		char mv[1100];

		snprintf(mv, sizeof(mv), "mv '%s.crash' '%s'", dir, dir);
		assert_int_equal(system(mv), 0);
	}
	log.n = 0;
	s = store_new(log.base, &p, done, &log);
	assert_non_null(s);
	assert_true(store_stream_acked(s, "x", "agent", 5) == 3);
	last_of(path, "m2", v, sizeof(v));
	assert_string_equal(v, "4");
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
	    {"a", "x", t + 2000, 2},  {"a", "y", t + 2000, 20}, {"b", "x", t + 1000, 7},
	    {"a", "x", t + 1000, 1},  {"a", "y", t + 1000, 10}, {"a", "x", t + 3000, 3},
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
	assert_int_equal(log.r[1].written, 2);    /* t+4 */
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

static void free_args(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

static void test_create_args_follow_the_design(void **state)
{
	const struct store_ds ds[] = {{"up", SAMPLE_GAUGE, 30}, {"in_octets", SAMPLE_DERIVE, 30}};
	const struct store_ds slow = {"up", SAMPLE_GAUGE, 300};
	char **argv;
	int argc;

	argc = store_rrd_create_args(60, NULL, 0, ds, 2, &argv);
	assert_int_equal(argc, 2 + 12);
	assert_string_equal(argv[0], "DS:up:GAUGE:60:U:U");
	assert_string_equal(argv[1], "DS:in_octets:DERIVE:60:0:U");
	assert_string_equal(argv[2], "RRA:AVERAGE:0.5:1:2880");     /* 2 days of 1 min */
	assert_string_equal(argv[5], "RRA:AVERAGE:0.5:5:4032");     /* 14 days of 5 min */
	assert_string_equal(argv[8], "RRA:AVERAGE:0.5:60:9504");    /* 13 months of 1 h */
	assert_string_equal(argv[11], "RRA:AVERAGE:0.5:1440:3650"); /* 10 years of 1 day */
	assert_string_equal(argv[13], "RRA:MAX:0.5:1440:3650");
	free_args(argv, argc);
	/* heartbeat is twice the check's interval when that exceeds the step */
	argc = store_rrd_create_args(60, NULL, 0, &slow, 1, &argv);
	assert_string_equal(argv[0], "DS:up:GAUGE:600:U:U");
	free_args(argv, argc);
}

/* archives = {"1s:1h", "5m:1d"} at step 1: an hour of seconds, a day of 5 minutes */
static void test_create_args_follow_the_archives(void **state)
{
	const struct store_ds ds[] = {{"up", SAMPLE_GAUGE, 1}};
	const struct store_rra rras[] = {{1, 3600}, {300, 86400}};
	char **argv;
	int argc;

	argc = store_rrd_create_args(1, rras, 2, ds, 1, &argv);
	assert_int_equal(argc, 1 + 6);
	assert_string_equal(argv[0], "DS:up:GAUGE:2:U:U");
	assert_string_equal(argv[1], "RRA:AVERAGE:0.5:1:3600");
	assert_string_equal(argv[3], "RRA:MAX:0.5:1:3600");
	assert_string_equal(argv[4], "RRA:AVERAGE:0.5:300:288");
	assert_string_equal(argv[6], "RRA:MAX:0.5:300:288");
	free_args(argv, argc);
}

/* A sample of gauge `metric` on site "x", for the tests below. */
static void add(struct sample_batch *b, const char *host, const char *check, const char *inst,
		const char *metric, int64_t t_ms, double v)
{
	struct sample *x = sample_batch_add(b, host, check, inst, metric);

	x->time_ms = t_ms;
	x->value = v;
	x->interval = 1;
}

static struct store *open_store(struct result_log *log, const char *dir, struct store_params *p)
{
	struct store *s;

	log->base = log->base ? log->base : event_base_new();
	p->data_dir = dir;
	p->step = p->step ? p->step : 1;
	p->queue_max = p->queue_max ? p->queue_max : 8;
	s = store_new(log->base, p, done, log);
	assert_non_null(s);
	return s;
}

static int exists(const char *dir, const char *rel)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &sb) == 0;
}

/* The last value of data source ds in file rel, or NULL. */
static char *last_value(const char *dir, const char *rel, const char *ds)
{
	char path[512], *v = NULL;
	time_t last;
	unsigned long n;
	char **names, **values;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (rrd_lastupdate_r(path, &last, &n, &names, &values) != 0)
		return NULL;
	for (unsigned long i = 0; i < n; i++)
		if (strcmp(names[i], ds) == 0)
			v = strdup(values[i]);
	free_lastupdate(n, names, values);
	return v;
}

static void assert_last(const char *dir, const char *rel, const char *ds, const char *want)
{
	char *v = last_value(dir, rel, ds);

	if (v == NULL)
		fail_msg("%s has no data source %s", rel, ds);
	assert_string_equal(v, want);
	free(v);
}

static void test_names_that_meet_on_disk_get_their_own_files(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX";
	struct result_log log = {.n = 0};
	struct store_params p = {0};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	struct sample_batch *b;
	char long1[100], long2[100];

	memset(long1, 'h', sizeof(long1) - 1);
	long1[sizeof(long1) - 1] = '\0';
	memcpy(long2, long1, sizeof(long2));
	long2[80] = 'X';
	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	b = sample_batch_new("x", "agent", 1, 1, 16);
	add(b, "h", "if", "Gi0/1", "m", t, 1);
	add(b, "h", "if", "Gi0_1", "m", t, 2);
	add(b, "h", "Troms\xc3\xb8-link", "", "m", t, 3);
	add(b, "h", "Tromso-link", "", "m", t, 4);
	add(b, "h", "if", "x", "m", t, 5);
	add(b, "h", "if-x", "", "m", t, 6);
	add(b, long1, "c", "", "m", t, 7);
	add(b, long2, "c", "", "m", t, 8);
	add(b, "h", "k", "", "a.b", t, 9);
	add(b, "h", "k", "", "a-b", t, 10);
	add(b, "K\xc3\xa1r\xc3\xa1\xc5\xa1johka", "k", "", "m", t, 11);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 1);
	assert_int_equal(log.r[0].written, 11);
	assert_int_equal(log.r[0].failed + log.r[0].quarantined + log.r[0].rejected, 0);
	/* first in the batch's order (bytes) keeps the readable name, the next gets "~2" */
	assert_last(dir, "x/h/if-Gi0_1.rrd", "m", "1");
	assert_last(dir, "x/h/if-Gi0_1~2.rrd", "m", "2");
	assert_last(dir, "x/h/Tromso-link.rrd", "m", "4");
	assert_last(dir, "x/h/Tromso-link~2.rrd", "m", "3");
	assert_last(dir, "x/h/if-x.rrd", "m", "5");
	assert_last(dir, "x/h/if-x~2.rrd", "m", "6");
	assert_true(exists(dir, "x/Karasjohka/k.rrd"));
	/* a.b and a-b: two data sources of one file */
	assert_last(dir, "x/h/k.rrd", "a_b", "9");
	assert_last(dir, "x/h/k.rrd", "a_b_2", "10");
	store_free(s);

	/* after a restart the mapping holds, whoever comes first */
	s = open_store(&log, dir, &p);
	b = sample_batch_new("x", "agent", 1, 2, 4);
	add(b, "h", "if", "Gi0_1", "m", t + 1000, 20);
	add(b, "h", "if", "Gi0/1", "m", t + 1000, 10);
	add(b, "h", "k", "", "a-b", t + 1000, 100);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 2);
	assert_int_equal(log.r[1].written, 3);
	assert_last(dir, "x/h/if-Gi0_1.rrd", "m", "10");
	assert_last(dir, "x/h/if-Gi0_1~2.rrd", "m", "20");
	assert_last(dir, "x/h/k.rrd", "a_b_2", "100");
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

/* Series of a session by their numbers (session 1 in the high bits, as decode makes them). */
static const struct {
	const char *inst, *metric;
} numbered[] = {{"a", "in"}, {"a", "out"}, {"b", "in"}, {"b", "out"}};

/*
 * Submits batch `seq` of the series numbered[order[0..n)] at time t, each
 * with the value (its index + 1) x scale, sent by its number.
 */
static void submit_numbered(struct store *s, uint64_t seq, int64_t t, const unsigned *order,
			    size_t n, double scale)
{
	struct sample_batch *b = sample_batch_new("x", "agent", 1, seq, n);

	for (size_t k = 0; k < n; k++) {
		add(b, "h", "if", numbered[order[k]].inst, numbered[order[k]].metric, t,
		    (order[k] + 1) * scale);
		b->v[b->n - 1].series = 1ULL << 32 | (order[k] + 1);
	}
	assert_int_equal(store_submit(s, b), 0);
}

static void test_numbered_series_land_in_their_own_files(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX";
	struct result_log log = {.n = 0};
	struct store_params p = {0}; /* cache_flush_age 0: written at once */
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	static const unsigned first[] = {0, 1, 2}, shuffled[] = {2, 3, 1, 0}, all[] = {0, 1, 2, 3};

	(void)state;
	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	/* the first batch names them: the store resolves them by name */
	submit_numbered(s, 1, t, first, 3, 1);
	/* the next by their numbers, in another order, with a new series of file b */
	submit_numbered(s, 2, t + 1000, shuffled, 4, 10);
	/* and once more, all of them known */
	submit_numbered(s, 3, t + 2000, all, 4, 100);
	wait_results(&log, 3);
	assert_int_equal(log.r[1].written, 4);
	assert_int_equal(log.r[2].written, 4);
	for (unsigned k = 0; k < 4; k++) {
		char rel[64], want[16];

		snprintf(rel, sizeof(rel), "x/h/if-%s.rrd", numbered[k].inst);
		snprintf(want, sizeof(want), "%u", (k + 1) * 100);
		assert_last(dir, rel, numbered[k].metric, want);
	}
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

/* Adds series numbered[k] at t_ms with value v, sent by its number. */
static void add_numbered(struct sample_batch *b, unsigned k, int64_t t_ms, double v)
{
	add(b, "h", "if", numbered[k].inst, numbered[k].metric, t_ms, v);
	b->v[b->n - 1].series = 1ULL << 32 | (k + 1);
}

/*
 * A batch that crosses into the next poll round holds a file twice, the
 * second time newer: every sample is written, in the order of their times.
 * A file that comes back older in a batch is written in time order too, and
 * a series sent twice at one time is a duplicate, as in any batch.
 */
static void test_a_batch_across_rounds_keeps_every_sample(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX";
	struct result_log log = {.n = 0};
	struct store_params p = {0}; /* cache_flush_age 0: written at once */
	struct store *s;
	struct sample_batch *b;
	int64_t t = ((int64_t)time(NULL) - 100) * 1000;
	static const unsigned all[] = {0, 1, 2, 3};

	(void)state;
	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	submit_numbered(s, 1, t, all, 4, 1); /* named: the files are made */
	b = sample_batch_new("x", "agent", 1, 2, 8);
	for (unsigned r = 1; r <= 2; r++)
		for (unsigned k = 0; k < 4; k++)
			add_numbered(b, k, t + r * 1000, r * 10 + k);
	assert_int_equal(store_submit(s, b), 0);
	b = sample_batch_new("x", "agent", 1, 3, 6);
	for (unsigned k = 0; k < 4; k++)
		add_numbered(b, k, t + 4000, 40 + k);
	add_numbered(b, 0, t + 3000, 30);
	add_numbered(b, 1, t + 3000, 31);
	assert_int_equal(store_submit(s, b), 0);
	b = sample_batch_new("x", "agent", 1, 4, 3);
	add_numbered(b, 0, t + 5000, 50);
	add_numbered(b, 0, t + 5000, 51);
	add_numbered(b, 1, t + 5000, 52);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 4);
	assert_int_equal(log.r[1].written, 8);
	assert_int_equal(log.r[1].duplicates, 0);
	assert_int_equal(log.r[2].written, 6);
	assert_int_equal(log.r[2].duplicates, 0);
	assert_int_equal(log.r[3].written, 2);
	assert_int_equal(log.r[3].duplicates, 1);
	assert_last(dir, "x/h/if-a.rrd", "in", "50");
	assert_last(dir, "x/h/if-a.rrd", "out", "52");
	assert_last(dir, "x/h/if-b.rrd", "in", "42");
	assert_last(dir, "x/h/if-b.rrd", "out", "43");
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_a_file_gains_a_metric_and_keeps_its_history(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512];
	struct result_log log = {.n = 0};
	struct store_params p = {0};
	struct store *s;
	time_t t0 = time(NULL) - 100, start, end;
	unsigned long step, nds;
	char **names;
	rrd_value_t *data;
	struct sample_batch *b;
	int ia = -1, ib = -1, ic = -1;

	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	b = sample_batch_new("x", "agent", 1, 1, 64);
	for (int i = 0; i < 10; i++) {
		add(b, "h", "c", "", "a", (int64_t)(t0 + i) * 1000, i);
		add(b, "h", "c", "", "b", (int64_t)(t0 + i) * 1000, 10 * i);
	}
	assert_int_equal(store_submit(s, b), 0);
	b = sample_batch_new("x", "agent", 1, 2, 64);
	for (int i = 10; i < 20; i++) {
		add(b, "h", "c", "", "a", (int64_t)(t0 + i) * 1000, i);
		add(b, "h", "c", "", "b", (int64_t)(t0 + i) * 1000, 10 * i);
		add(b, "h", "c", "", "c", (int64_t)(t0 + i) * 1000, 100 * i);
	}
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 2);
	assert_int_equal(log.r[0].written, 20);
	assert_int_equal(log.r[1].written, 30);
	assert_int_equal(log.r[1].rejected + log.r[1].quarantined + log.r[1].failed, 0);

	snprintf(path, sizeof(path), "%s/x/h/c.rrd", dir);
	start = t0;
	end = t0 + 19;
	step = 1;
	assert_int_equal(rrd_fetch_r(path, "AVERAGE", &start, &end, &step, &nds, &names, &data), 0);
	assert_int_equal(nds, 3);
	for (unsigned long i = 0; i < nds; i++) {
		if (strcmp(names[i], "a") == 0)
			ia = (int)i;
		else if (strcmp(names[i], "b") == 0)
			ib = (int)i;
		else if (strcmp(names[i], "c") == 0)
			ic = (int)i;
		free(names[i]);
	}
	free(names);
	assert_true(ia >= 0 && ib >= 0 && ic >= 0);
	/* row r holds the second (start + r, start + r + 1]: value of sample at t0 + r + 1 */
	for (time_t t = start + 1; t < end; t++) {
		rrd_value_t *row = data + (size_t)(t - start - 1) * nds;
		int i = (int)(t - t0);

		if (i < 1 || i > 19)
			continue;
		assert_float_equal(row[ia], i, 1e-9);
		assert_float_equal(row[ib], 10 * i, 1e-9);
		if (i >= 10) /* a gauge holds from the update before: c's first second is t0 + 10 */
			assert_float_equal(row[ic], 100 * i, 1e-9);
		else
			assert_true(row[ic] != row[ic]); /* NaN: c did not exist yet */
	}
	free(data);
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_more_than_32_metrics_at_one_time(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX";
	struct result_log log = {.n = 0};
	/* step 60: a file of 40 data sources at step 1 would take 180 MB */
	struct store_params p = {.step = 60};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) / 60 - 10) * 60000;
	struct sample_batch *b;

	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	b = sample_batch_new("x", "agent", 1, 1, 100);
	for (int i = 0; i < 40; i++) {
		char m[16];

		snprintf(m, sizeof(m), "m%d", i);
		add(b, "h", "c", "", m, t, i);
		add(b, "h", "c", "", m, t + 60000, i + 1);
	}
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 1);
	assert_int_equal(log.r[0].written, 80);
	assert_last(dir, "x/h/c.rrd", "m39", "40");
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

struct qlist {
	int n;
	char path[512], op[16], reason[128];
	unsigned long long dropped;
};

static void on_quarantined(const struct store_quarantine *q, void *arg)
{
	struct qlist *l = arg;

	l->n++;
	snprintf(l->path, sizeof(l->path), "%s", q->path);
	snprintf(l->op, sizeof(l->op), "%s", q->op);
	snprintf(l->reason, sizeof(l->reason), "%s", q->reason);
	l->dropped = q->dropped;
}

static void test_one_bad_file_is_quarantined_and_the_rest_is_written(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512];
	struct result_log log = {.n = 0};
	struct store_params p = {.quarantine_retry = 1};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	struct sample_batch *b;
	struct qlist q = {0};
	struct store_stats st;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	/* the host's directory is a plain file: mkdir fails with ENOTDIR, even for root */
	snprintf(path, sizeof(path), "%s/x", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/x/bad", dir);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	s = open_store(&log, dir, &p);
	b = sample_batch_new("x", "agent", 1, 1, 8);
	add(b, "good", "c", "", "m", t, 1);
	add(b, "bad", "c", "", "m", t, 2);
	add(b, "bad", "c", "", "n", t, 3);
	add(b, "good", "d", "", "m", t, 4);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 1);
	assert_int_equal(log.r[0].written, 2);
	assert_int_equal(log.r[0].quarantined, 2);
	assert_int_equal(log.r[0].failed, 0); /* acknowledged: the site is not wedged */
	assert_last(dir, "x/good/c.rrd", "m", "1");
	assert_last(dir, "x/good/d.rrd", "m", "4");
	store_foreach_quarantined(s, on_quarantined, &q);
	assert_int_equal(q.n, 1);
	assert_non_null(strstr(q.path, "/x/bad/c.rrd"));
	assert_string_equal(q.op, "open"); /* stat says ENOTDIR before any mkdir */
	assert_string_equal(q.reason, "Not a directory");
	assert_int_equal(q.dropped, 2);

	/* before the retry is due, its samples are dropped without a try */
	b = sample_batch_new("x", "agent", 1, 2, 8);
	add(b, "bad", "c", "", "m", t + 1000, 5);
	add(b, "good", "c", "", "m", t + 1000, 6);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 2);
	assert_int_equal(log.r[1].quarantined, 1);
	assert_int_equal(log.r[1].written, 1);

	/* fixed: the next try after quarantine_retry works and lifts the quarantine */
	assert_int_equal(unlink(path), 0);
	usleep(1100 * 1000);
	b = sample_batch_new("x", "agent", 1, 3, 8);
	add(b, "bad", "c", "", "m", t + 2000, 7);
	add(b, "good", "c", "", "m", t + 2000, 8);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 3);
	assert_int_equal(log.r[2].written, 2);
	assert_int_equal(log.r[2].quarantined, 0);
	assert_last(dir, "x/bad/c.rrd", "m", "7");
	q.n = 0;
	store_foreach_quarantined(s, on_quarantined, &q);
	assert_int_equal(q.n, 0);
	store_get_stats(s, &st);
	assert_int_equal(st.quarantined, 3);
	assert_int_equal(st.files_quarantined, 0);
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

/*
 * A flush of many files (256 or more) is shared with helper processes:
 * every file gets its values, in order, and a file that fails in one of
 * them is quarantined alone, its outcome taken as if one writer had
 * written all.
 */
static void test_a_flush_shared_by_writers_writes_every_file(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512], host[16], want[16], why[160];
	struct result_log log = {.n = 0};
	/* small files: at step 1 the default archives are 4 MB a data source */
	static const struct store_rra rras[] = {{1, 600}};
	struct store_params p = {.cache_flush_age = 3600,
				 .writers = 3,
				 .quarantine_retry = 600,
				 .rras = rras,
				 .nrras = 1};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	struct sample_batch *b;
	struct qlist q = {0};
	struct store_stats st;
	FILE *f;
	enum { NFILES = 300, BAD = 77 };

	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	for (int r = 0; r < 2; r++) {
		b = sample_batch_new("x", "agent", 1, (uint64_t)r + 1, NFILES);
		for (int i = 0; i < NFILES; i++) {
			snprintf(host, sizeof(host), "h%03d", i);
			add(b, host, "c", "", "m", t + r * 1000, i + 1000 * r);
		}
		assert_int_equal(store_submit(s, b), 0);
		wait_results(&log, r + 1);
		assert_int_equal(log.r[r].written, NFILES);
	}
	/* one file made (by the first batch) is no RRD file any more when it is written */
	snprintf(path, sizeof(path), "%s/x/h%03d/c.rrd", dir, BAD);
	assert_non_null(f = fopen(path, "w"));
	fputs("not an RRD file\n", f);
	fclose(f);
	assert_int_equal(store_flush(s, NULL, 30, why, sizeof(why)), NFILES);
	for (int i = 0; i < NFILES; i++) {
		if (i == BAD)
			continue;
		snprintf(path, sizeof(path), "x/h%03d/c.rrd", i);
		snprintf(want, sizeof(want), "%d", i + 1000);
		assert_last(dir, path, "m", want);
	}
	store_foreach_quarantined(s, on_quarantined, &q);
	assert_int_equal(q.n, 1);
	assert_non_null(strstr(q.path, "/x/h077/c.rrd"));
	assert_string_equal(q.op, "update");
	store_get_stats(s, &st);
	assert_int_equal(st.samples, 2 * (NFILES - 1));
	assert_int_equal(st.quarantined, 2);
	assert_int_equal(st.cache_values, 0);
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_a_foreign_file_is_quarantined(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512];
	struct result_log log = {.n = 0};
	struct store_params p = {0};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	struct sample_batch *b;
	struct qlist q = {0};
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/x/h", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/x/h/c.rrd", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("not an RRD file\n", f);
	fclose(f);
	s = open_store(&log, dir, &p);
	b = sample_batch_new("x", "agent", 1, 1, 8);
	add(b, "h", "c", "", "m", t, 1);
	add(b, "h", "d", "", "m", t, 2);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 1);
	assert_int_equal(log.r[0].written, 1);
	assert_int_equal(log.r[0].quarantined, 1);
	assert_int_equal(log.r[0].failed, 0);
	store_foreach_quarantined(s, on_quarantined, &q);
	assert_int_equal(q.n, 1);
	assert_string_equal(q.op, "open");
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

/*
 * A child process that holds a read lock on path, as `rrdtool last` or
 * `rrdtool graph` does while it reads, for hold_ms; returns once it holds it.
 */
static pid_t hold_read_lock(const char *path, unsigned hold_ms)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
		int fd = open(path, O_RDONLY);

		if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		usleep(hold_ms * 1000);
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

/*
 * Waits (up to 5 s) until the store's count `field` (a uint64_t of struct
 * store_stats: samples written to the files, batches the writer is through
 * with) reaches n.
 */
#define WAIT_STAT(s, field, n) wait_stat(s, offsetof(struct store_stats, field), #field, n)

static void wait_stat(struct store *s, size_t field, const char *name, uint64_t n)
{
	struct store_stats st;
	uint64_t v = 0;

	for (int i = 0; i < 100; i++) {
		store_get_stats(s, &st);
		memcpy(&v, (const char *)&st + field, sizeof(v));
		if (v >= n)
			return;
		usleep(50 * 1000);
	}
	fail_msg("the store's %s: %llu, not %llu", name, (unsigned long long)v,
		 (unsigned long long)n);
}

/*
 * A reader holding the file's lock for a moment delays the write, never
 * costs a sample: librrd's writer fails at once on a held lock, and the
 * store waits for it. A lock held past the wait quarantines the file with
 * the holder named.
 */
static void test_a_reader_holding_the_lock_delays_the_write(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512];
	struct result_log log = {.n = 0};
	struct store_params p = {.quarantine_retry = 60};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	struct sample_batch *b;
	struct qlist q = {0};
	struct store_stats st;
	char want[64];
	pid_t pid;
	int status;

	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	b = sample_batch_new("x", "agent", 1, 1, 2);
	add(b, "h", "c", "", "m", t, 1);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 1);
	assert_int_equal(log.r[0].written, 1);
	snprintf(path, sizeof(path), "%s/x/h/c.rrd", dir);

	pid = hold_read_lock(path, 300);
	b = sample_batch_new("x", "agent", 1, 2, 2);
	add(b, "h", "c", "", "m", t + 1000, 2);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 2);
	assert_int_equal(log.r[1].written, 1);
	assert_int_equal(log.r[1].quarantined, 0);
	assert_int_equal(log.r[1].failed, 0);
	/* acknowledged once journaled; the file is written right after */
	WAIT_STAT(s, samples, 2);
	assert_last(dir, "x/h/c.rrd", "m", "2");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);

	/* a lock held for longer than the store waits: the file is quarantined, its holder named */
	pid = hold_read_lock(path, 30000); /* killed below */
	b = sample_batch_new("x", "agent", 1, 3, 2);
	add(b, "h", "c", "", "m", t + 2000, 3);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 3);
	/* the batch is acknowledged: its value was written to the journal, then lost with the file */
	assert_int_equal(log.r[2].failed, 0);
	for (int i = 0; i < 100; i++) {
		store_get_stats(s, &st);
		if (st.quarantined > 0)
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(st.quarantined, 1);
	store_foreach_quarantined(s, on_quarantined, &q);
	assert_int_equal(q.n, 1);
	snprintf(want, sizeof(want), "could not lock RRD: process %ld held it", (long)pid);
	assert_non_null(strstr(q.reason, want));
	assert_last(dir, "x/h/c.rrd", "m", "2");
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_series_growth_is_bounded(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX";
	struct result_log log = {.n = 0};
	struct store_params p = {.max_series_per_site = 5, .max_new_files_per_minute = 3};
	struct store *s;
	int64_t t = ((int64_t)time(NULL) - 10) * 1000;
	struct sample_batch *b;
	struct store_stats st;

	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	/* five files in a minute: the fourth and fifth are refused */
	b = sample_batch_new("x", "agent", 1, 1, 8);
	for (int i = 0; i < 5; i++) {
		char c[8];

		snprintf(c, sizeof(c), "c%d", i);
		add(b, "h", c, "", "m", t, i);
	}
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 1);
	assert_int_equal(log.r[0].written, 3);
	assert_int_equal(log.r[0].refused, 2);
	assert_false(exists(dir, "x/h/c3.rrd"));
	/* five series at most: two more metrics of an existing file, the third is refused */
	b = sample_batch_new("x", "agent", 1, 2, 8);
	add(b, "h", "c0", "", "n", t + 1000, 1);
	add(b, "h", "c0", "", "o", t + 1000, 1);
	add(b, "h", "c0", "", "p", t + 1000, 1);
	add(b, "h", "c0", "", "m", t + 1000, 1);
	/* another site has limits of its own */
	assert_int_equal(store_submit(s, b), 0);
	b = sample_batch_new("y", "agent", 1, 3, 8);
	add(b, "h", "c", "", "m", t, 1);
	assert_int_equal(store_submit(s, b), 0);
	wait_results(&log, 3);
	assert_int_equal(log.r[1].written, 3);
	assert_int_equal(log.r[1].refused, 1);
	assert_int_equal(log.r[2].written, 1);
	store_get_stats(s, &st);
	assert_int_equal(st.refused, 3);
	assert_int_equal(st.series, 6);
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

static void test_queue_is_bounded_in_bytes(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX";
	struct result_log log = {.n = 0};
	struct store_params p = {.queue_max = 100, .queue_bytes = 1};
	struct store *s;
	struct sample_batch *extra;
	struct store_stats st;

	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	/* an empty queue takes any batch; then its bytes fill it */
	assert_int_equal(SUBMIT(1, "x", batch(1, 1000000, 1, 1)), 0);
	extra = batch(2, 2000000, 1, 1);
	if (store_full(s)) {
		assert_int_equal(SUBMIT(1, "x", extra), -1);
		sample_batch_free(extra);
		store_get_stats(s, &st);
		assert_int_equal(st.submit_refused, 1);
	} else {
		/* the writer was quicker than this thread: nothing to see, but no leak */
		sample_batch_free(extra);
	}
	wait_results(&log, 1);
	assert_false(store_full(s));
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

/*
 * rrd_create_r2 as the store calls it: the test is linked with
 * --wrap=rrd_create_r2, so that a full disk can be made for exactly the
 * next create_enospc creates, whatever the machine's disk has free.
 */
static int create_enospc;

int __real_rrd_create_r2(const char *filename, unsigned long pdp_step, time_t last_up,
			 int no_overwrite, const char **sources, const char *tmpl, int argc,
			 const char **argv);
int __wrap_rrd_create_r2(const char *filename, unsigned long pdp_step, time_t last_up,
			 int no_overwrite, const char **sources, const char *tmpl, int argc,
			 const char **argv);

int __wrap_rrd_create_r2(const char *filename, unsigned long pdp_step, time_t last_up,
			 int no_overwrite, const char **sources, const char *tmpl, int argc,
			 const char **argv)
{
	if (__atomic_load_n(&create_enospc, __ATOMIC_SEQ_CST) > 0) {
		__atomic_sub_fetch(&create_enospc, 1, __ATOMIC_SEQ_CST);
		rrd_set_error("creating '%s': %s", filename, strerror(ENOSPC));
		errno = ENOSPC;
		return -1;
	}
	return __real_rrd_create_r2(filename, pdp_step, last_up, no_overwrite, sources, tmpl,
				    argc, argv);
}

/* The AVERAGE of data source ds at second t of path, step 1; NAN when unknown. */
static double value_at(const char *path, const char *ds, time_t t)
{
	time_t start = t - 1, end = t;
	unsigned long step = 1, n;
	char **names;
	rrd_value_t *data;
	double v = NAN;

	assert_int_equal(rrd_fetch_r(path, "AVERAGE", &start, &end, &step, &n, &names, &data), 0);
	for (unsigned long i = 0; i < n; i++) {
		/* row k holds the step that ends at start + (k + 1) * step */
		if (strcmp(names[i], ds) == 0 && step == 1 && end > start && t > start)
			v = data[(size_t)(t - start - 1) * n + i];
		free(names[i]);
	}
	free(names);
	free(data);
	return v;
}

/* Batch seq of stream 5 with metric m of host h at t0 + (2 (seq - 1) + k) s, k = 0, 1. */
static struct sample_batch *pair_of(uint64_t session, uint64_t seq, int64_t t0)
{
	struct spec sp[2];

	for (int k = 0; k < 2; k++) {
		sp[k].instance = "";
		sp[k].metric = "m";
		sp[k].t_ms = t0 + (int64_t)(2 * (seq - 1) + k) * 1000;
		sp[k].value = (double)(2 * (seq - 1) + k + 1);
	}
	cur_session = session;
	return frame_of(seq, sp, 2);
}

/*
 * Pipelined batches of one session and a full disk (issue 14): batch 1
 * cannot make its file, and there is room again at once. Batches 2 and 3 of
 * the same session, queued behind it or arriving before its session learns
 * of the failure, must fail unwritten: had batch 2 made the file with its
 * own first time, batch 1, sent again, would be older than the file and
 * lost. Another session's batch is written all the same. Sent again on a
 * new session, all three land, every second of them.
 */
static void test_batches_after_a_failed_one_fail_unwritten(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512], why[160];
	struct result_log log = {.n = 0};
	struct store_params p = {.queue_max = 8};
	struct store *s;
	struct sample_batch *b;
	int64_t t0 = ((int64_t)time(NULL) - 100) * 1000;

	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	__atomic_store_n(&create_enospc, 1, __ATOMIC_SEQ_CST);
	for (uint64_t seq = 1; seq <= 2; seq++) {
		b = pair_of(7, seq, t0);
		b->stream = 5;
		assert_int_equal(SUBMIT(7, "x", b), 0);
	}
	/* the writer is through with both; session 7 has not heard of it yet */
	WAIT_STAT(s, batches, 2);
	b = pair_of(7, 3, t0);
	b->stream = 5;
	assert_int_equal(SUBMIT(7, "x", b), 0);
	b = sample_batch_new("x", "other agent", 9, 1, 1);
	add(b, "other", "c", "", "m", t0 + 2000, 7);
	assert_int_equal(SUBMIT(9, "x", b), 0);
	wait_results(&log, 4);

	assert_int_equal(log.r[0].seq, 1);
	assert_int_equal(log.r[0].failed, 2);
	assert_non_null(strstr(log.r[0].why, "No space left on device"));
	for (int i = 1; i <= 2; i++) {
		assert_int_equal(log.r[i].session_id, 7);
		assert_int_equal(log.r[i].seq, i + 1);
		assert_int_equal(log.r[i].failed, 2);
		assert_int_equal(log.r[i].written, 0);
		assert_non_null(strstr(log.r[i].why, "batch 1"));
	}
	assert_int_equal(log.r[3].session_id, 9);
	assert_int_equal(log.r[3].failed, 0);
	assert_int_equal(log.r[3].written, 1);
	assert_false(exists(dir, "x/h/c.rrd"));
	assert_true(exists(dir, "x/other/c.rrd"));
	assert_true(store_stream_acked(s, "x", "agent", 5) == 0);

	/* the agent reconnects and sends everything unacknowledged again, in order */
	for (uint64_t seq = 1; seq <= 3; seq++) {
		b = pair_of(8, seq, t0);
		b->stream = 5;
		assert_int_equal(SUBMIT(8, "x", b), 0);
	}
	wait_results(&log, 7);
	for (int i = 4; i < 7; i++) {
		assert_int_equal(log.r[i].failed, 0);
		assert_int_equal(log.r[i].written, 2);
		assert_int_equal(log.r[i].duplicates, 0);
	}
	assert_true(store_stream_acked(s, "x", "agent", 5) == 3);
	snprintf(path, sizeof(path), "%s/x/h/c.rrd", dir);
	assert_true(store_flush(s, NULL, 10, why, sizeof(why)) >= 0);
	for (int k = 0; k < 6; k++)
		assert_true(value_at(path, "m", (time_t)(t0 / 1000 + k)) == k + 1);
	cur_session = 1;
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

/*
 * Cached rounds of one file whose metrics change from round to round: the
 * same ones again (appended to the cached update strings without a new
 * template), one left out, their order swapped, one sent twice at one
 * time. Each value lands at its own second in its own data source.
 */
static void test_cached_rounds_keep_each_value_whatever_their_metrics(void **state)
{
	char dir[] = "/tmp/vakt-store-XXXXXX", path[512], why[160];
	struct result_log log = {.n = 0};
	struct store_params p = {.cache_flush_age = 3600};
	struct store *s;
	int64_t t0 = ((int64_t)time(NULL) - 100) * 1000;
#define AT(k) (t0 + (k)*1000)
	struct spec b1[] = {{"", "m1", AT(1), 1}, {"", "m2", AT(1), 2}},
		    b2[] = {{"", "m1", AT(2), 3},
			    {"", "m2", AT(2), 4},
			    {"", "m1", AT(3), 5},
			    {"", "m2", AT(3), 6}},
		    b3[] = {{"", "m2", AT(4), 8},
			    {"", "m2", AT(5), 10},
			    {"", "m1", AT(5), 9},
			    {"", "m1", AT(6), 11},
			    {"", "m2", AT(6), 12}},
		    b4[] = {{"", "m1", AT(7), 13},
			    {"", "m1", AT(7), 14},
			    {"", "m1", AT(8), 15},
			    {"", "m2", AT(8), 16}};
#undef AT
	/* each second's m1 and m2; NAN: not sent */
	static const double want[][2] = {{1, 2},  {3, 4},   {5, 6},    {NAN, 8},
					 {9, 10}, {11, 12}, {13, NAN}, {15, 16}};

	(void)state;
	assert_non_null(mkdtemp(dir));
	s = open_store(&log, dir, &p);
	assert_int_equal(store_submit(s, frame_of(1, b1, 2)), 0);
	assert_int_equal(store_submit(s, frame_of(2, b2, 4)), 0);
	assert_int_equal(store_submit(s, frame_of(3, b3, 5)), 0);
	assert_int_equal(store_submit(s, frame_of(4, b4, 4)), 0);
	wait_results(&log, 4);
	assert_int_equal(log.r[1].written, 4);
	assert_int_equal(log.r[2].written, 5);
	assert_int_equal(log.r[3].written, 3);
	assert_int_equal(log.r[3].duplicates, 1);
	snprintf(path, sizeof(path), "%s/x/h/c.rrd", dir);
	assert_int_equal(store_flush(s, NULL, 10, why, sizeof(why)), 1);
	for (int k = 0; k < 8; k++)
		for (int m = 0; m < 2; m++) {
			double v = value_at(path, m ? "m2" : "m1", (time_t)(t0 / 1000 + k + 1));

			if (isnan(want[k][m]))
				assert_true(isnan(v));
			else
				assert_true(v == want[k][m]);
		}
	store_free(s);
	event_base_free(log.base);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batches_land_in_rrd_and_replays_are_duplicates),
	    cmocka_unit_test(test_cache_waits_merges_and_replays_after_a_crash),
	    cmocka_unit_test(test_queue_is_bounded),
	    cmocka_unit_test(test_interleaved_files_in_one_batch),
	    cmocka_unit_test(test_out_of_order_batch_and_partial_replay),
	    cmocka_unit_test(test_create_args_follow_the_design),
	    cmocka_unit_test(test_create_args_follow_the_archives),
	    cmocka_unit_test(test_names_that_meet_on_disk_get_their_own_files),
	    cmocka_unit_test(test_numbered_series_land_in_their_own_files),
	    cmocka_unit_test(test_a_batch_across_rounds_keeps_every_sample),
	    cmocka_unit_test(test_a_file_gains_a_metric_and_keeps_its_history),
	    cmocka_unit_test(test_more_than_32_metrics_at_one_time),
	    cmocka_unit_test(test_one_bad_file_is_quarantined_and_the_rest_is_written),
	    cmocka_unit_test(test_a_foreign_file_is_quarantined),
	    cmocka_unit_test(test_a_flush_shared_by_writers_writes_every_file),
	    cmocka_unit_test(test_a_reader_holding_the_lock_delays_the_write),
	    cmocka_unit_test(test_series_growth_is_bounded),
	    cmocka_unit_test(test_queue_is_bounded_in_bytes),
	    cmocka_unit_test(test_batches_after_a_failed_one_fail_unwritten),
	    cmocka_unit_test(test_cached_rounds_keep_each_value_whatever_their_metrics),
	};

	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
