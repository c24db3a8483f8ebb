/*
 * store_rrd.c - RRD files written by one writer thread (see store_rrd.h).
 * The event loop never touches librrd; the writer never touches a session.
 * They share only the two bounded queues below, under one mutex.
 */
#include "store_rrd.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <rrd.h>

#include "log.h"
#include "rrdpath.h"
#include "sample.h"
#include "xmalloc.h"

#define STORE_MAX_DS 32 /* metrics in one file */

struct job {
	struct sample_batch *b;
	struct store_result res;
};

struct store {
	struct event_base *base;
	char *data_dir;
	unsigned step;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;

	/* jobs waiting for the writer: a ring of queue_max */
	struct job **todo;
	size_t cap, head, len;
	/* results waiting for the loop: same bound, each job makes one */
	struct store_result *done;
	size_t dhead, dlen;
	struct event *done_ev;
	store_done_fn done_fn;
	void *done_arg;

	/* writer-thread only */
	struct complaint create_fail, update_fail;
	/* under mu */
	struct store_stats st;
};

static const char *ds_type(enum sample_kind k)
{
	return sample_kind_str(k);
}

int store_rrd_create_args(unsigned step, unsigned interval, const struct sample *const *samples,
			  size_t n, char ***argv_out)
{
	static const char *const cfs[] = {"AVERAGE", "MIN", "MAX"};
	/* 1 step x 2 days, 5 min x 14 days, 1 h x 13 months, 1 day x 10 years */
	static const struct {
		unsigned secs_per_row;
		unsigned long span;
	} rras[] = {
	    {0, 2UL * 86400}, {300, 14UL * 86400}, {3600, 396UL * 86400}, {86400, 3650UL * 86400}};
	unsigned heartbeat = 2 * interval > step ? 2 * interval : step;
	char **argv = xcalloc(n + 3 * 4 + 1, sizeof(char *));
	size_t argc = 0;

	for (size_t i = 0; i < n; i++) {
		char ds[20];

		rrdpath_dsname(ds, sizeof(ds), samples[i]->metric);
		xasprintf(&argv[argc++], "DS:%s:%s:%u:%s:U", ds, ds_type(samples[i]->kind),
			  heartbeat, samples[i]->kind == SAMPLE_GAUGE ? "U" : "0");
	}
	for (size_t r = 0; r < 4; r++) {
		unsigned steps = rras[r].secs_per_row > step ? rras[r].secs_per_row / step : 1;
		unsigned long rows = rras[r].span / ((unsigned long)steps * step);

		for (size_t c = 0; c < 3; c++)
			xasprintf(&argv[argc++], "RRA:%s:0.5:%u:%lu", cfs[c], steps, rows);
	}
	*argv_out = argv;
	return (int)argc;
}

static void free_argv(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

static int mkdir_p(char *path)
{
	/* path is a file path: create its parent directories */
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/*
 * A failure that a later try may cure: the disk fills up and is emptied,
 * permissions get fixed. Such samples are not acknowledged, so the agent
 * keeps them and sends them again.
 */
static int failure_is_transient(const char *err)
{
	static const char *const transient[] = {
	    "No space left",          "Disk quota",   "Permission denied",
	    "Read-only file system",  "Input/output", "Too many open files",
	    "Cannot allocate memory", "No such file",
	};

	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		if (strstr(err, transient[i]) != NULL)
			return 1;
	return 0;
}

static void note_failure(struct store_result *res, size_t n, const char *path, const char *err)
{
	size_t len = strlen(path);

	res->failed += n;
	/* the path's end tells the file; the message has to fit one line */
	if (res->why[0] == '\0')
		snprintf(res->why, sizeof(res->why), "%.80s: %.70s",
			 len > 80 ? path + len - 80 : path, err);
}

/* Free space under the data directory, for a message that says why. */
static void describe_space(const char *dir, char *buf, size_t len)
{
	struct statvfs vfs;

	if (statvfs(dir, &vfs) == 0)
		snprintf(buf, len, "%llu kB free in %s",
			 (unsigned long long)vfs.f_bavail * vfs.f_frsize / 1024, dir);
	else
		snprintf(buf, len, "%s", strerror(errno));
}

/* Creates the file for its first samples[0..n) (one timestamp) if it is missing. */
static int ensure_file(struct store *s, const char *path, const struct sample *const *samples,
		       size_t n, char *why, size_t whylen)
{
	struct stat sb;
	char *p, **cargv;
	int cargc, r;

	if (stat(path, &sb) == 0)
		return 0;
	p = xstrdup(path);
	r = mkdir_p(p);
	free(p);
	cargc = store_rrd_create_args(s->step, samples[0]->interval, samples, n, &cargv);
	rrd_clear_error();
	if (r < 0 || rrd_create_r2(path, s->step, (time_t)(samples[0]->time_ms / 1000) - 1, 1, NULL,
				   NULL, cargc, (const char **)cargv) != 0) {
		if (r < 0)
			snprintf(why, whylen, "%s", strerror(errno));
		else if (*rrd_get_error() != '\0')
			snprintf(why, whylen, "%s", rrd_get_error());
		else /* librrd 1.7 says nothing when the disk is full */
			describe_space(s->data_dir, why, whylen);
		log_complain(&s->create_fail, 60, "store: cannot create %s: %s", path, why);
		free_argv(cargv, cargc);
		return -1;
	}
	free_argv(cargv, cargc);
	log_info("store: created %s (%zu data sources, step %u s)", path, n, s->step);
	pthread_mutex_lock(&s->mu);
	s->st.files_created++;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* One update: the template ("ds1:ds2") and the value ("time:v1:v2") of a group. */
struct update {
	char tmpl[STORE_MAX_DS * 20];
	char val[STORE_MAX_DS * 32];
	size_t n; /* samples in it */
};

static void format_update(struct update *u, const struct sample *const *samples, size_t n)
{
	int64_t t = samples[0]->time_ms;
	size_t tl = 0, vl;

	vl =
	    (size_t)snprintf(u->val, sizeof(u->val), "%" PRId64 ".%03d", t / 1000, (int)(t % 1000));
	for (size_t i = 0; i < n; i++) {
		char ds[20];

		rrdpath_dsname(ds, sizeof(ds), samples[i]->metric);
		tl +=
		    (size_t)snprintf(u->tmpl + tl, sizeof(u->tmpl) - tl, "%s%s", i ? ":" : "", ds);
		u->val[vl++] = ':';
		sample_format_value(samples[i], u->val + vl, sizeof(u->val) - vl);
		vl += strlen(u->val + vl);
	}
	u->n = n;
}

/* rrd_update_r of updates[0..k), which share one template; 0 or -1. */
static int rrd_update_some(struct store *s, const char *path, const struct update *u, size_t k,
			   struct store_result *res, int quiet)
{
	const char *argv[k];
	size_t n = 0;

	for (size_t i = 0; i < k; i++) {
		argv[i] = u[i].val;
		n += u[i].n;
	}
	rrd_clear_error();
	if (rrd_update_r(path, u[0].tmpl, (int)k, argv) == 0) {
		res->written += n;
		return 0;
	}
	if (quiet)
		return -1;
	if (strstr(rrd_get_error(), "illegal attempt to update using time") != NULL) {
		res->duplicates += n; /* a replay: stored before, or older than the file */
		return -1;
	}
	log_complain(&s->update_fail, 60, "store: %s: %s", path, rrd_get_error());
	if (failure_is_transient(rrd_get_error()))
		note_failure(res, n, path, rrd_get_error());
	else
		res->rejected += n;
	return -1;
}

/*
 * Writes one file's samples x[0..n), sorted by time: one rrd_update_r for
 * each run of timestamps that share a template (librrd opens and maps the
 * whole file per call, so a replay of many timestamps is several times
 * cheaper this way). If such a call fails (a replayed timestamp among new
 * ones), its updates go again one by one, so only the replayed ones are lost.
 */
static void write_file(struct store *s, const char *path, struct sample **x, size_t n,
		       struct store_result *res)
{
	struct update *u = xcalloc(n, sizeof(*u));
	size_t nu = 0;

	for (size_t i = 0; i < n;) {
		size_t g = 1;

		while (i + g < n && g < STORE_MAX_DS && x[i + g]->time_ms == x[i]->time_ms)
			g++;
		if (nu == 0) {
			char why[128];

			/* a file that cannot be made now (disk full, say) may be later:
			 * its samples are not acknowledged */
			if (ensure_file(s, path, (const struct sample *const *)x, g, why,
					sizeof(why)) < 0) {
				note_failure(res, n, path, why);
				free(u);
				return;
			}
		}
		format_update(&u[nu++], (const struct sample *const *)&x[i], g);
		i += g;
	}
	for (size_t i = 0; i < nu;) {
		size_t k = 1;

		while (i + k < nu && strcmp(u[i + k].tmpl, u[i].tmpl) == 0)
			k++;
		if (k == 1 || rrd_update_some(s, path, &u[i], k, res, 1) < 0) {
			/* the batch call failed part-way: updates it already made come back
			 * below as duplicates, the rest are written */
			for (size_t m = 0; m < k; m++)
				rrd_update_some(s, path, &u[i + m], 1, res, 0);
		}
		i += k;
	}
	free(u);
}

struct sorted {
	struct sample *s;
	size_t pos;
};

/* File (host, check, instance), then time, then position in the batch. */
static int sample_order(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;
	int c;

	if ((c = strcmp(x->s->host, y->s->host)) != 0 ||
	    (c = strcmp(x->s->check, y->s->check)) != 0 ||
	    (c = strcmp(x->s->instance, y->s->instance)) != 0)
		return c;
	if (x->s->time_ms != y->s->time_ms)
		return x->s->time_ms < y->s->time_ms ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int same_file(const struct sample *a, const struct sample *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->check, b->check) == 0 &&
	       strcmp(a->instance, b->instance) == 0;
}

static void write_job(struct store *s, struct job *j)
{
	struct sample_batch *b = j->b;
	struct sample **x;
	struct sorted *order;

	/*
	 * Sort the batch by file and time (stable): each file is then written in
	 * time order, as rrdtool demands, and created with every metric of its
	 * first timestamp, however the agent ordered the samples.
	 */
	order = xcalloc(b->n, sizeof(*order));
	x = xcalloc(b->n, sizeof(*x));
	for (size_t i = 0; i < b->n; i++) {
		order[i].s = &b->v[i];
		order[i].pos = i;
	}
	qsort(order, b->n, sizeof(*order), sample_order);
	for (size_t i = 0; i < b->n; i++)
		x[i] = order[i].s;
	free(order);

	for (size_t i = 0; i < b->n;) {
		char path[4096];
		size_t n = 1;

		while (i + n < b->n && same_file(x[i + n], x[i]))
			n++;
		if (rrdpath_build(path, sizeof(path), s->data_dir, b->site, x[i]->host, x[i]->check,
				  x[i]->instance) < 0)
			j->res.rejected += n;
		else
			write_file(s, path, &x[i], n, &j->res);
		i += n;
	}
	free(x);
}

static void *writer_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j;

		while (s->len == 0 && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->len == 0)
			break;
		j = s->todo[s->head];
		pthread_mutex_unlock(&s->mu);

		write_job(s, j);

		pthread_mutex_lock(&s->mu);
		/* the slot frees only now, so queued + in-progress never exceeds cap */
		s->head = (s->head + 1) % s->cap;
		s->len--;
		s->st.batches++;
		s->st.samples += j->res.written;
		s->st.duplicates += j->res.duplicates;
		s->st.rejected += j->res.rejected;
		s->st.failed += j->res.failed;
		s->done[(s->dhead + s->dlen) % s->cap] = j->res;
		s->dlen++;
		pthread_mutex_unlock(&s->mu);
		event_active(s->done_ev, EV_READ, 0);
		sample_batch_free(j->b);
		free(j);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	for (;;) {
		struct store_result r;

		pthread_mutex_lock(&s->mu);
		if (s->dlen == 0) {
			pthread_mutex_unlock(&s->mu);
			return;
		}
		r = s->done[s->dhead];
		s->dhead = (s->dhead + 1) % s->cap;
		s->dlen--;
		pthread_mutex_unlock(&s->mu);
		s->done_fn(&r, s->done_arg);
	}
}

struct store *store_new(struct event_base *base, const struct store_params *p, store_done_fn done,
			void *arg)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->data_dir = xstrdup(p->data_dir);
	s->step = p->step;
	s->cap = p->queue_max ? p->queue_max : 1;
	s->todo = xcalloc(s->cap, sizeof(*s->todo));
	s->done = xcalloc(s->cap, sizeof(*s->done));
	s->done_fn = done;
	s->done_arg = arg;
	s->done_ev = event_new(base, -1, EV_PERSIST | EV_READ, done_cb, s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (mkdir(s->data_dir, 0755) < 0 && errno != EEXIST)
		log_warn("store: cannot create data directory %s", s->data_dir);
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0)
		fatalx("store: cannot start the writer thread");
	return s;
}

int store_full(const struct store *s)
{
	struct store *m = (struct store *)s;
	int full;

	pthread_mutex_lock(&m->mu);
	/* a result slot is needed too: the loop may not have collected them yet */
	full = s->len + s->dlen >= s->cap;
	pthread_mutex_unlock(&m->mu);
	return full;
}

int store_submit(struct store *s, struct sample_batch *b)
{
	struct job *j;

	pthread_mutex_lock(&s->mu);
	if (s->len + s->dlen >= s->cap) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->b = b;
	j->res.session_id = b->session_id;
	j->res.seq = b->seq;
	s->todo[(s->head + s->len) % s->cap] = j;
	s->len++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->queued = s->len;
	pthread_mutex_unlock(&s->mu);
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	event_free(s->done_ev);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->todo);
	free(s->done);
	free(s->data_dir);
	free(s);
}
