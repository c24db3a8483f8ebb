/*
 * bench_store.c - the collector's RRD store against its floor, a bare librrd
 * loop: the same files and updates, in one run of one mode, timed on
 * CLOCK_MONOTONIC. It never reports a rate unless every file ends at the
 * final timestamp: a benchmark that silently wrote nothing is worthless.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <rrd.h>

#include "log.h"
#include "rrdpath.h"
#include "sample.h"
#include "store_rrd.h"
#include "xmalloc.h"

/*
 * Under callgrind the run is split into three dumps (setup, timed,
 * teardown) so that bench/run.sh can count the steady state on its own.
 */
#include "callgrind_dump.h"

#define SITE         "bench"
#define IFS_PER_HOST 10
#define NMETRICS     3

/* One interface check per file, as an SNMP agent would send it. */
static const struct {
	const char *name;
	Vakt__Kind kind;
} metrics[NMETRICS] = {
    {"in_octets", VAKT__KIND__DERIVE},
    {"out_octets", VAKT__KIND__DERIVE},
    {"oper_status", VAKT__KIND__GAUGE},
};

enum bench_mode {
	MODE_VAKT,   /* store_submit: queue, writer thread, completions on the loop */
	MODE_LIBRRD, /* the floor: rrd_create_r2 + rrd_update_r in a plain loop */
};

static const char *bench_mode_str(enum bench_mode m)
{
	return m == MODE_VAKT ? "vakt" : "librrd";
}

struct bench {
	enum bench_mode mode;
	unsigned files, updates, step, inflight;
	const char *dir;
	time_t t0; /* round 0 (creates the files); round r is t0 + r * step */
	char (*host)[16], (*inst)[16];
	char **path;
};

/* Round r's sample of metric m for file f; both modes write exactly these. */
static void fill_sample(const struct bench *b, struct sample *s, unsigned f, unsigned m, unsigned r)
{
	memset(s, 0, sizeof(*s));
	s->host = b->host[f];
	s->check = "if";
	s->instance = b->inst[f];
	s->metric = metrics[m].name;
	s->kind = (enum sample_kind)metrics[m].kind;
	s->time_ms = ((int64_t)b->t0 + (int64_t)r * b->step) * 1000;
	s->interval = b->step;
	s->counter = (uint64_t)(f + 1) * 1000000 + (uint64_t)r * (125000 * (m + 1) + f);
	s->value = 1 + (r + f) % 2;
}

/* The batch an agent sends for poll round r: one sample group per file. */
static struct sample_batch *round_batch(const struct bench *b, unsigned r)
{
	struct sample_batch *out =
	    sample_batch_new(SITE, "bench", 1, r + 1, (size_t)b->files * NMETRICS);

	for (unsigned f = 0; f < b->files; f++)
		for (unsigned m = 0; m < NMETRICS; m++) {
			struct sample smp, *x;

			fill_sample(b, &smp, f, m, r);
			x = sample_batch_add(out, smp.host, smp.check, smp.instance, smp.metric);
			smp.host = x->host;
			smp.check = x->check;
			smp.instance = x->instance;
			smp.metric = x->metric;
			*x = smp;
		}
	return out;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- mode vakt ---- */

struct tally {
	unsigned batches;
	uint64_t written, duplicates, rejected;
};

static void on_done(const struct store_result *r, void *arg)
{
	struct tally *t = arg;

	t->batches++;
	t->written += r->written;
	t->duplicates += r->duplicates;
	t->rejected += r->rejected;
}

/* Runs the loop until n batches have completed; the loop has nothing else to wait for. */
static int wait_batches(struct event_base *base, const struct tally *t, unsigned n)
{
	while (t->batches < n)
		if (event_base_loop(base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
			return -1;
	return 0;
}

static int run_vakt(const struct bench *b, double *setup_s, double *timed_s)
{
	/* no byte bound and no series limits: the bench measures writing, not refusing */
	struct store_params p = {.data_dir = b->dir, .step = b->step, .queue_max = b->inflight};
	struct sample_batch **frames = xcalloc((size_t)b->updates + 1, sizeof(*frames));
	struct tally t = {0};
	struct event_base *base;
	struct store *s;
	unsigned next = 0;
	uint64_t want = (uint64_t)b->files * NMETRICS * (b->updates + 1);
	double t_start, t_end;
	int rc = -1;

	/* frames come decoded, as the session hands them over: decoding is not timed */
	for (unsigned r = 0; r <= b->updates; r++)
		frames[r] = round_batch(b, r);
	evthread_use_pthreads();
	if ((base = event_base_new()) == NULL)
		fatalx("bench: event_base_new failed");
	t_start = now_s();
	s = store_new(base, &p, on_done, &t);
	if (s == NULL)
		fatalx("bench: the store did not start under %s", b->dir);
	/* round 0 creates every file: setup, not the steady state */
	if (store_submit(s, frames[next]) < 0)
		goto out;
	frames[next++] = NULL;
	if (wait_batches(base, &t, 1) < 0)
		goto out;
	t_end = now_s();
	*setup_s = t_end - t_start;

	BENCH_DUMP("setup");
	t_start = now_s();
	while (next <= b->updates) {
		if (store_full(s)) {
			if (event_base_loop(base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
				goto out;
			continue;
		}
		if (store_submit(s, frames[next]) < 0) {
			fprintf(stderr, "bench: store refused round %u though not full\n", next);
			goto out;
		}
		frames[next++] = NULL;
	}
	if (wait_batches(base, &t, b->updates + 1) < 0)
		goto out;
	t_end = now_s();
	BENCH_DUMP("timed");
	*timed_s = t_end - t_start;

	if (t.written != want || t.duplicates != 0 || t.rejected != 0) {
		fprintf(stderr,
			"bench: store wrote %" PRIu64 " of %" PRIu64 " samples (%" PRIu64
			" duplicates, %" PRIu64 " rejected)\n",
			t.written, want, t.duplicates, t.rejected);
		goto out;
	}
	rc = 0;
out:
	store_free(s);
	event_base_free(base);
	for (unsigned r = next; r <= b->updates; r++)
		sample_batch_free(frames[r]);
	free(frames);
	return rc;
}

/* ---- mode librrd ---- */

static int mkdir_parents(const char *file)
{
	char *p = xstrdup(file);

	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "bench: mkdir %s: %s\n", p, strerror(errno));
			free(p);
			return -1;
		}
		*c = '/';
	}
	free(p);
	return 0;
}

/* "t.mmm:v1:v2:v3", formatted as the store formats it */
static void update_arg(const struct bench *b, unsigned f, unsigned r, char *buf, size_t len)
{
	struct sample s;
	int64_t t = ((int64_t)b->t0 + (int64_t)r * b->step) * 1000;
	size_t n = (size_t)snprintf(buf, len, "%" PRId64 ".%03d", t / 1000, (int)(t % 1000));

	for (unsigned m = 0; m < NMETRICS; m++) {
		fill_sample(b, &s, f, m, r);
		buf[n++] = ':';
		sample_format_value(&s, buf + n, len - n);
		n += strlen(buf + n);
	}
}

static int update_one(const struct bench *b, const char *tmpl, unsigned f, unsigned r)
{
	char val[256];
	const char *argv[1] = {val};

	update_arg(b, f, r, val, sizeof(val));
	rrd_clear_error();
	if (rrd_update_r(b->path[f], tmpl, 1, argv) != 0) {
		fprintf(stderr, "bench: update %s: %s\n", b->path[f], rrd_get_error());
		return -1;
	}
	return 0;
}

static int run_librrd(const struct bench *b, double *setup_s, double *timed_s)
{
	char tmpl[NMETRICS * 20];
	size_t tl = 0;
	double t_start, t_end;

	for (unsigned m = 0; m < NMETRICS; m++) {
		char ds[20];

		rrdpath_dsname(ds, sizeof(ds), metrics[m].name, 1);
		tl += (size_t)snprintf(tmpl + tl, sizeof(tmpl) - tl, "%s%s", m ? ":" : "", ds);
	}

	t_start = now_s();
	for (unsigned f = 0; f < b->files; f++) {
		struct sample smp[NMETRICS];
		struct store_ds defs[NMETRICS];
		char ds[NMETRICS][RRDPATH_DS_MAX + 1];
		char **cargv;
		int cargc, r;

		for (unsigned m = 0; m < NMETRICS; m++) {
			fill_sample(b, &smp[m], f, m, 0);
			rrdpath_dsname(ds[m], sizeof(ds[m]), smp[m].metric, 1);
			defs[m].name = ds[m];
			defs[m].kind = smp[m].kind;
			defs[m].interval = b->step;
		}
		if (mkdir_parents(b->path[f]) < 0)
			return -1;
		/* the store's own create arguments: both modes make identical files */
		cargc = store_rrd_create_args(b->step, NULL, 0, defs, NMETRICS, &cargv);
		rrd_clear_error();
		r = rrd_create_r2(b->path[f], b->step, b->t0 - 1, 1, NULL, NULL, cargc,
				  (const char **)cargv);
		for (int i = 0; i < cargc; i++)
			free(cargv[i]);
		free(cargv);
		if (r != 0) {
			fprintf(stderr, "bench: create %s: %s\n", b->path[f], rrd_get_error());
			return -1;
		}
		if (update_one(b, tmpl, f, 0) < 0)
			return -1;
	}
	t_end = now_s();
	*setup_s = t_end - t_start;

	BENCH_DUMP("setup");
	t_start = now_s();
	/* round by round, as the store meets them */
	for (unsigned r = 1; r <= b->updates; r++)
		for (unsigned f = 0; f < b->files; f++)
			if (update_one(b, tmpl, f, r) < 0)
				return -1;
	t_end = now_s();
	BENCH_DUMP("timed");
	*timed_s = t_end - t_start;
	return 0;
}

/* ---- common ---- */

static int verify(const struct bench *b)
{
	time_t want = b->t0 + (time_t)b->updates * b->step;
	unsigned bad = 0;

	for (unsigned f = 0; f < b->files; f++) {
		time_t last;

		rrd_clear_error();
		last = rrd_last_r(b->path[f]);
		if (last != want) {
			if (bad++ < 5)
				fprintf(stderr, "bench: %s: last update %lld, want %lld%s%s\n",
					b->path[f], (long long)last, (long long)want,
					last < 0 ? ": " : "", last < 0 ? rrd_get_error() : "");
		}
	}
	if (bad > 0)
		fprintf(stderr, "bench: %u of %u files do not end at the final timestamp\n", bad,
			b->files);
	return bad ? -1 : 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static unsigned parse_uint(const char *opt, const char *arg, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || v < lo || v > hi) {
		fprintf(stderr, "bench_store: -%s must be %u..%u, got '%s'\n", opt, lo, hi, arg);
		exit(2);
	}
	return (unsigned)v;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_store [-f files] [-u updates] [-s step] [-q inflight] "
			"[-d empty-dir] vakt|librrd\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = {.files = 200, .updates = 50, .step = 60, .inflight = 8};
	char tmpdir[] = "/tmp/vakt-bench-XXXXXX";
	double setup_s = 0, timed_s = 0;
	uint64_t samples;
	int ch, rc;

	while ((ch = getopt(argc, argv, "f:u:s:q:d:")) != -1) {
		switch (ch) {
		case 'f':
			b.files = parse_uint("f", optarg, 1, 1000000);
			break;
		case 'u':
			b.updates = parse_uint("u", optarg, 1, 1000000);
			break;
		case 's':
			b.step = parse_uint("s", optarg, 1, 86400);
			break;
		case 'q':
			b.inflight = parse_uint("q", optarg, 1, 100000);
			break;
		case 'd':
			b.dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	if (strcmp(argv[optind], "vakt") == 0)
		b.mode = MODE_VAKT;
	else if (strcmp(argv[optind], "librrd") == 0)
		b.mode = MODE_LIBRRD;
	else
		usage();
	log_init("bench_store", 1, 0);
	if (b.dir == NULL) {
		if (mkdtemp(tmpdir) == NULL)
			fatal("bench: mkdtemp %s", tmpdir);
		b.dir = tmpdir;
	}

	/* whole steps, far enough back that no round is in the future */
	b.t0 = time(NULL) - (time_t)(b.updates + 1) * b.step - 1000;
	b.t0 -= b.t0 % b.step;
	b.host = xcalloc(b.files, sizeof(*b.host));
	b.inst = xcalloc(b.files, sizeof(*b.inst));
	b.path = xcalloc(b.files, sizeof(*b.path));
	for (unsigned f = 0; f < b.files; f++) {
		char rel[RRDPATH_REL_MAX];

		snprintf(b.host[f], sizeof(b.host[f]), "sw%04u", f / IFS_PER_HOST);
		snprintf(b.inst[f], sizeof(b.inst[f]), "eth%u", f % IFS_PER_HOST);
		/* these names have no collisions: the index gives them their readable paths */
		if (rrdpath_file(rel, sizeof(rel), SITE, b.host[f], "if", b.inst[f], 1) < 0)
			fatalx("bench: path too long");
		xasprintf(&b.path[f], "%s/%s", b.dir, rel);
	}

	rc = b.mode == MODE_VAKT ? run_vakt(&b, &setup_s, &timed_s)
				 : run_librrd(&b, &setup_s, &timed_s);
	if (rc == 0)
		rc = verify(&b);
	samples = (uint64_t)b.files * b.updates * NMETRICS;
	if (rc == 0)
		printf("mode=%s files=%u updates=%u samples=%" PRIu64
		       " seconds=%.6f samples_per_s=%.0f setup_s=%.3f\n",
		       bench_mode_str(b.mode), b.files, b.updates, samples, timed_s,
		       timed_s > 0 ? (double)samples / timed_s : 0.0, setup_s);

	if (b.dir == tmpdir)
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (unsigned f = 0; f < b.files; f++)
		free(b.path[f]);
	free(b.path);
	free(b.inst);
	free(b.host);
	return rc == 0 ? 0 : 1;
}
