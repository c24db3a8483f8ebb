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
#include <time.h>

#include <rrd.h>

#include "log.h"
#include "rrdpath.h"
#include "sample.h"
#include "xmalloc.h"

#define STORE_MAX_DS 32 /* metrics in one file */

struct job {
	uint64_t session_id;
	char *site;
	Vakt__Frame *frame;
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

static const char *ds_type(Vakt__Kind k)
{
	return sample_kind_str((enum sample_kind)k);
}

int store_rrd_create_args(unsigned step, unsigned interval, const Vakt__Sample *const *samples,
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
			  heartbeat, samples[i]->kind == VAKT__KIND__GAUGE ? "U" : "0");
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

/* Writes samples[0..n) (one file, one timestamp) to the file at path. */
static void write_group(struct store *s, const char *path, const Vakt__Sample *const *samples,
			size_t n, struct store_result *res)
{
	char tmpl[STORE_MAX_DS * 20], val[STORE_MAX_DS * 32];
	const char *argv[1];
	struct stat sb;
	int64_t t = samples[0]->time_ms;
	size_t tl = 0, vl;

	if (stat(path, &sb) < 0) {
		char *p = xstrdup(path);
		char **cargv;
		int cargc =
		    store_rrd_create_args(s->step, samples[0]->interval, samples, n, &cargv);
		int r;

		r = mkdir_p(p);
		free(p);
		rrd_clear_error();
		if (r < 0 || rrd_create_r2(path, s->step, (time_t)(t / 1000) - 1, 1, NULL, NULL,
					   cargc, (const char **)cargv) != 0) {
			log_complain(&s->create_fail, 60, "store: cannot create %s: %s", path,
				     r < 0 ? strerror(errno) : rrd_get_error());
			free_argv(cargv, cargc);
			res->rejected += n;
			return;
		}
		free_argv(cargv, cargc);
		log_info("store: created %s (%zu data sources, step %u s)", path, n, s->step);
		pthread_mutex_lock(&s->mu);
		s->st.files_created++;
		pthread_mutex_unlock(&s->mu);
	}
	vl = (size_t)snprintf(val, sizeof(val), "%" PRId64 ".%03d", t / 1000, (int)(t % 1000));
	for (size_t i = 0; i < n; i++) {
		char ds[20];

		rrdpath_dsname(ds, sizeof(ds), samples[i]->metric);
		tl += (size_t)snprintf(tmpl + tl, sizeof(tmpl) - tl, "%s%s", i ? ":" : "", ds);
		val[vl++] = ':';
		sample_value_str(samples[i], val + vl, sizeof(val) - vl);
		vl += strlen(val + vl);
	}
	argv[0] = val;
	rrd_clear_error();
	if (rrd_update_r(path, tmpl, 1, argv) != 0) {
		const char *e = rrd_get_error();

		if (strstr(e, "illegal attempt to update using time") != NULL) {
			/* a replayed batch: already stored, or older than the file */
			res->duplicates += n;
			return;
		}
		log_complain(&s->update_fail, 60, "store: %s: %s", path, e);
		res->rejected += n;
		return;
	}
	res->written += n;
}

static int same_file_and_time(const Vakt__Sample *a, const Vakt__Sample *b)
{
	return a->time_ms == b->time_ms && strcmp(a->host, b->host) == 0 &&
	       strcmp(a->check, b->check) == 0 && strcmp(a->instance, b->instance) == 0;
}

static void write_job(struct store *s, struct job *j)
{
	Vakt__Batch *b = j->frame->batch;
	Vakt__Sample **x = b->samples;

	/*
	 * One rrd_update per file and timestamp: gather the samples of each
	 * (file, time) to the front, in order of first appearance, so a file is
	 * created with every metric of its first run even when an agent
	 * interleaves files within a batch.
	 */
	for (size_t i = 0; i < b->n_samples;) {
		char path[4096];
		size_t n = 1;

		for (size_t k = i + 1; k < b->n_samples && n < STORE_MAX_DS; k++)
			if (same_file_and_time(x[k], x[i])) {
				Vakt__Sample *t = x[k];

				memmove(&x[i + n + 1], &x[i + n], (k - i - n) * sizeof(*x));
				x[i + n++] = t;
			}
		if (rrdpath_build(path, sizeof(path), s->data_dir, j->site, x[i]->host, x[i]->check,
				  x[i]->instance) < 0)
			j->res.rejected += n;
		else
			write_group(s, path, (const Vakt__Sample *const *)&x[i], n, &j->res);
		i += n;
	}
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
		s->done[(s->dhead + s->dlen) % s->cap] = j->res;
		s->dlen++;
		pthread_mutex_unlock(&s->mu);
		event_active(s->done_ev, EV_READ, 0);
		vakt__frame__free_unpacked(j->frame, NULL);
		free(j->site);
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

int store_submit(struct store *s, uint64_t session_id, const char *site, Vakt__Frame *frame)
{
	struct job *j;

	pthread_mutex_lock(&s->mu);
	if (s->len + s->dlen >= s->cap) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->session_id = session_id;
	j->site = xstrdup(site);
	j->frame = frame;
	j->res.session_id = session_id;
	j->res.seq = frame->batch->seq;
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
