/*
 * store_rrd.c - RRD files written by one writer thread through a journal
 * and a write-back cache (see store_rrd.h). The event loop never touches
 * librrd, the journal or the series index; the writer never touches a
 * session. They share only the queues, the stream table and the quarantine
 * list below, under one mutex. A file's failure must never cost another
 * file its samples, and a batch that is not durable must never be
 * acknowledged.
 */
#include "store_rrd.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rrd.h>

#include "hash.h"
#include "journal.h"
#include "log.h"
#include "sample.h"
#include "series_index.h"
#include "timeutil.h"
#include "xmalloc.h"

#define STORE_DB_NAME     "vakt.db"
#define STORE_JOURNAL_DIR "journal"
/* A journal file is finished at this size or age, so that it can be removed. */
#define STORE_JOURNAL_MAX   (16U * 1024 * 1024)
#define STORE_JOURNAL_AGE_S 60
/* a journal file's size, made ahead: a group commit past STORE_JOURNAL_MAX stays inside */
#define STORE_JOURNAL_SEGMENT (STORE_JOURNAL_MAX + 1024U * 1024)
/* after the next journal file could not be made (a full disk), the wait to try again */
#define STORE_PREPARE_RETRY_S 10
/* A group commit takes batches for this long at most, then fsyncs and acks them. */
#define STORE_COMMIT_SLICE_S 0.05
/* While batches wait, cache upkeep stops after this long: it bounds the ack latency. */
#define STORE_UPKEEP_SLICE_S 0.05
/* How often a store that failed as a whole tries its cached files again. */
#define STORE_RETRY_S 2

/*
 * The writer's only way to the files, so that another backend (rrdcached)
 * can take librrd's place. Each returns 0, or -1 with errno and
 * rrd_get_error() saying why.
 */
struct store_backend {
	const char *name;
	int (*lastupdate)(const char *path, time_t *last, unsigned long *cnt, char ***names,
			  char ***vals);
	int (*create)(const char *path, unsigned long step, time_t start, int argc,
		      const char **argv);
	int (*tune)(int argc, char **argv);
	int (*update)(const char *path, const char *tmpl, int argc, const char **argv);
};

static int librrd_create(const char *path, unsigned long step, time_t start, int argc,
			 const char **argv)
{
	return rrd_create_r2(path, step, start, 1, NULL, NULL, argc, argv);
}

/* Set in a helper process (flush_files), which must not log: another thread may hold a lock. */
static int in_helper;

/* How long a write waits for another process's lock on its file. */
#define STORE_LOCK_WAIT_MS 2000
#define STORE_LOCK_POLL_MS 5

/*
 * The process holding a lock on path that keeps a writer out, or 0.
 * rrdtool's readers (last, fetch, lastupdate, graph) hold a read lock while
 * they read, and librrd's writers try their lock once (F_SETLK) and fail
 * with "could not lock RRD": that is a wait, never the file's failure.
 * Asked with F_GETLK, so no lock is taken; the writer holds none on the file
 * when it asks (librrd closed it), so closing the descriptor releases none.
 */
static pid_t lock_holder(const char *path)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	pid_t pid = 0;

	if (fd < 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		pid = fl.l_pid > 0 ? fl.l_pid : -1;
	close(fd);
	return pid;
}

/*
 * Whether a failed write of path should be tried again: another process
 * holds the file's lock and the write has waited less than
 * STORE_LOCK_WAIT_MS since *since (monotonic seconds; 0 on the first
 * failure). Sleeps one poll then. Past the wait, the error names the
 * holder. errno is kept.
 */
static int lock_wait(const char *path, double *since)
{
	int err = errno;
	pid_t pid = lock_holder(path);
	double now = mono_now();

	errno = err;
	if (pid == 0)
		return 0;
	if (*since == 0) {
		*since = now;
		if (!in_helper)
			log_debug("store: %s is locked by process %ld; waiting", path, (long)pid);
	} else if (now - *since >= STORE_LOCK_WAIT_MS / 1000.0) {
		rrd_set_error("could not lock RRD: process %ld held it for %.1f s", (long)pid,
			      now - *since);
		errno = err;
		return 0;
	}
	nanosleep(&(struct timespec){.tv_nsec = STORE_LOCK_POLL_MS * 1000000L}, NULL);
	return 1;
}

static int librrd_update(const char *path, const char *tmpl, int argc, const char **argv)
{
	double since = 0;
	int rc;

	/*
	 * Timestamps at or before the file's last update were counted as
	 * duplicates already; the flag only covers the part of a second that
	 * rrd_lastupdate does not tell after a restart.
	 */
	do {
		errno = 0;
		rrd_clear_error();
		rc = rrd_updatex_r(path, tmpl, RRD_SKIP_PAST_UPDATES, argc, argv);
	} while (rc != 0 && lock_wait(path, &since));
	return rc;
}

/* argv[1] is the file; like an update, it waits while a reader holds the file. */
static int librrd_tune(int argc, char **argv)
{
	double since = 0;
	int rc;

	do {
		errno = 0;
		rrd_clear_error();
		rc = rrd_tune(argc, argv);
	} while (rc != 0 && lock_wait(argv[1], &since));
	return rc;
}

static const struct store_backend librrd_backend = {
    .name = "librrd",
    .lastupdate = rrd_lastupdate_r,
    .create = librrd_create,
    .tune = librrd_tune,
    .update = librrd_update,
};

/* What the writer was doing when a file failed; named in logs and status. */
enum store_op { OP_MKDIR, OP_CREATE, OP_OPEN, OP_TUNE, OP_UPDATE };

static const char *store_op_str(enum store_op op)
{
	switch (op) {
	case OP_MKDIR:
		return "mkdir";
	case OP_CREATE:
		return "create";
	case OP_OPEN:
		return "open";
	case OP_TUNE:
		return "tune";
	case OP_UPDATE:
		return "update";
	}
	return "?";
}

struct job {
	struct sample_batch *b;
	struct store_result res;
};

/* A quarantined file as the status sees it; under the store's mutex. */
struct qent {
	char *path;
	char *names; /* site, host, check, instance of the file, each with its NUL */
	enum store_op op;
	char reason[128];
	time_t since;
	uint64_t dropped;
	double since_mono;
};

/* A growing string buffer: the writer's memory follows the batch, not a fixed size. */
struct sbuf {
	char *p;
	size_t len, cap;
};

/* Updates of one file that share a template: one rrd_update. */
struct run {
	struct sbuf tmpl;
	struct sbuf vals; /* the updates' strings one after the other, each with its NUL */
	size_t k;         /* how many */
	unsigned samples;
	/*
	 * The data sources tmpl names, in its order (NULL when not known):
	 * the next round of a poll brings the same ones, found by pointer
	 * (a file's series_ds stay put) without a template made or compared.
	 */
	struct series_ds **ds;
	unsigned nds;
};

/* What the writer knows of one file (series_file.user); writer thread only. */
struct fstate {
	int known;                   /* exists; last_ms and the data sources in it are read */
	int64_t last_ms;             /* its last update, cached or written */
	unsigned gen;                /* a series_ds is in the file when its mark equals this */
	struct qent *q;              /* non-NULL while quarantined */
	double retry_at;             /* monotonic */
	const struct series_file *f; /* the file this is the state of */
	/* the write-back cache: updates not yet in the file, in time order */
	struct run *runs;
	size_t nruns, capruns;
	unsigned nupd, nsamples;
	size_t bytes;
	int dirty;          /* on the store's dirty list */
	double dirty_since; /* monotonic: its oldest cached value came */
	double due;         /* monotonic: when its age says to write it */
	uint64_t jfirst;    /* the journal file that holds its oldest cached value */
	/* write_runs: the batch that last had samples of it, and the newest of them */
	unsigned batch;
	int64_t batch_last_ms;
	TAILQ_ENTRY(fstate) dirty_entry;
	char path[]; /* data_dir/<the file's path>: made once, not for every batch */
};

TAILQ_HEAD(fstate_list, fstate);

/* The highest durable seq of one (site, agent, stream); under the store's mutex. */
struct stream_ent {
	struct stream_ent *next;
	uint64_t stream, acked, saved; /* saved: what vakt.db holds */
	uint64_t order;                /* when it was made: higher is newer */
	char key[];                    /* site \0 agent \0 */
};

/*
 * A request of the loop (vaktctl) for the writer: a flush, or forgetting an
 * agent. Queued and answered under the store's mutex; at most one per
 * control client is out, so the queue is bounded by those. It is done after
 * every batch submitted before it: a forgotten agent's batches still queued
 * cannot note it in vakt.db again, and a flush covers them.
 */
struct store_req {
	TAILQ_ENTRY(store_req) entry;
	enum { REQ_FLUSH, REQ_FORGET } kind;
	char *path;         /* flush: the file, NULL for all */
	char *site, *agent; /* forget */
	int done;           /* the writer is through with it */
	int rc;
	char why[160];
	store_req_fn fn; /* on the loop when done; NULL: store_flush waits for it */
	void *arg;
	int cancelled;  /* the loop no longer wants the answer */
	int abandoned;  /* store_flush stopped waiting: the writer frees it */
	uint64_t after; /* waits until st.batches reaches this */
};
TAILQ_HEAD(store_req_list, store_req);

/*
 * A session one of whose batches failed (not acknowledged; the loop closes
 * it): every later batch of it fails unwritten, so that the agent sends
 * them all again after the failed one, in order. Had a later one been
 * written, it could have made or advanced a file, or the stream's acked,
 * past the failed batch, which would then be lost. Under the store's mutex.
 */
struct refused {
	uint64_t session, seq; /* seq: the batch that failed first */
	/*
	 * 0 while the loop has not had the session's last failed result; then
	 * st.batches once every batch submitted before that is done: the loop
	 * submits none of the session after it, so the entry may go.
	 */
	uint64_t until;
	char why[120];
};

/* Limits of one site (series_site.user); writer thread only. */
struct site_state {
	double window; /* monotonic start of the current minute of new files */
	unsigned new_files;
	struct complaint too_many, too_fast, too_wide;
};

/*
 * The series the writer resolved for a sample's sample.series, direct-mapped:
 * a known series of a compact-form session costs one array lookup, not its
 * names hashed into the index. A miss is only slower.
 */
#define STORE_SERIES_CACHE 65536 /* a power of 2 */

struct series_memo {
	uint64_t series;
	struct series_ds *d;
};

/* Writers of one flush, the writer thread included: librrd's work spread over the cores. */
#define STORE_WRITERS_MAX 4
/* Files due by age or by the cache's size are written this many at a time, between batches. */
#define STORE_FLUSH_CHUNK 32
/*
 * A flush of at least this many files is shared with helper processes:
 * starting them took 1-2 ms in bench/ingest (10k series), and the copy of
 * the collector's page tables grows with its memory; a flush of fewer
 * files would not win that back.
 */
#define STORE_SHARE_MIN 256

struct store {
	struct event_base *base;
	char *data_dir;
	unsigned step, quarantine_retry, max_series, max_new_files, max_ds;
	struct store_rra rras[STORE_RRA_MAX]; /* the archives of new files */
	size_t nrras;
	size_t queue_bytes;
	unsigned flush_age, max_values;
	size_t cache_max;
	const struct store_backend *be;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	int ready; /* 0 while the writer opens the index, 1 when it runs, -1 when it failed */

	/* jobs waiting for the writer: a ring of queue_max */
	struct job **todo;
	size_t cap, head, len, bytes;
	/* results waiting for the loop: same bound, each job makes one */
	struct store_result *done;
	size_t dhead, dlen;
	struct event *done_ev;
	store_done_fn done_fn;
	void *done_arg;
	/* quarantined files, oldest first: under mu */
	struct qent **q;
	size_t nq;

	/* streams: under mu */
	struct stream_ent **streams;
	size_t nstreams_b, nstreams;
	uint64_t stream_order;           /* of the newest entry */
	struct refused *refused;         /* sessions whose batches fail unwritten */
	size_t nrefused;
	struct store_req_list reqs;      /* for the writer */
	struct store_req_list reqs_done; /* for the loop (req_ev) */
	struct event *req_ev;

	unsigned nhelpers; /* processes that share a flush of many files with the writer */

	/* writer-thread only */
	struct series_index *idx;
	struct series_memo *memo; /* STORE_SERIES_CACHE of them, made at first use */
	struct journal *j;
	double journal_since; /* monotonic: the current journal file got its first record */
	double prepare_at;    /* monotonic: when the next journal file may be made ahead */
	int data_fd;          /* data_dir, for syncfs before a checkpoint */
	struct fstate_list dirty;
	size_t cache_bytes;
	unsigned cache_values, ndirty;
	int replaying; /* reading an earlier run's journal at start-up */
	int failing;   /* the files cannot be written: batches are refused until a retry works */
	double retry_at;
	char fail_why[160];
	unsigned seed;
	unsigned stamp;
	unsigned batch;         /* write_job's count, for fstate.batch */
	struct sbuf scratch[5]; /* write_file's; [4] holds the time tm_ms as rrd_update takes it */
	struct series_ds **dsv; /* write_file's: the data sources of an update's template */
	size_t dsv_cap;
	int64_t tm_ms;          /* the files of a poll round share their times */
	struct complaint store_fail, index_fail, agent_fail, helper_fail, prepare_fail;
	/* the agents the index knew at start: written before ready, read-only after */
	char **known; /* "site\0agent" */
	size_t nknown;
	/* the files written within STORE_SEED_WINDOW_S before start: the same, till taken */
	struct known_file *known_files;
	size_t nknown_files;
	/* under mu */
	struct store_stats st;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 64;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
}

static void stat_add(struct store *s, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&s->mu);
	*field += n;
	pthread_mutex_unlock(&s->mu);
}

/* 1 step x 2 days, 5 min x 14 days, 1 h x 13 months, 1 day x 10 years */
static const struct store_rra default_rras[] = {
    {1, 2UL * 86400}, {300, 14UL * 86400}, {3600, 396UL * 86400}, {86400, 3650UL * 86400}};

unsigned long store_rra_rows(const struct store_rra *rra, unsigned step)
{
	unsigned steps = rra->row_secs > step ? rra->row_secs / step : 1;

	return rra->span / ((unsigned long)steps * step);
}

static char *ds_def(unsigned step, const struct store_ds *d)
{
	unsigned heartbeat = 2 * d->interval > step ? 2 * d->interval : step;
	char *s;

	xasprintf(&s, "DS:%s:%s:%u:%s:U", d->name, sample_kind_str(d->kind), heartbeat,
		  d->kind == SAMPLE_GAUGE ? "U" : "0");
	return s;
}

int store_rrd_create_args(unsigned step, const struct store_rra *rras, size_t nrras,
			  const struct store_ds *ds, size_t n, char ***argv_out)
{
	static const char *const cfs[] = {"AVERAGE", "MIN", "MAX"};
	char **argv;
	size_t argc = 0;

	if (rras == NULL) {
		rras = default_rras;
		nrras = sizeof(default_rras) / sizeof(default_rras[0]);
	}
	argv = xcalloc(n + 3 * nrras + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		argv[argc++] = ds_def(step, &ds[i]);
	for (size_t r = 0; r < nrras; r++) {
		unsigned steps = rras[r].row_secs > step ? rras[r].row_secs / step : 1;

		for (size_t c = 0; c < 3; c++)
			xasprintf(&argv[argc++], "RRA:%s:0.5:%u:%lu", cfs[c], steps,
				  store_rra_rows(&rras[r], step));
	}
	*argv_out = argv;
	return (int)argc;
}

/* About the bytes a file of nds data sources takes: what its creation needs free. */
static uint64_t rrd_size(const struct store *s, size_t nds)
{
	uint64_t rows = 0;

	for (size_t r = 0; r < s->nrras; r++)
		rows += store_rra_rows(&s->rras[r], s->step);
	return 4096 + rows * 3 * nds * sizeof(double);
}

static void free_argv(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

/*
 * Creates the parent directories of the file path; -1 with errno set. A
 * path component that exists but is no directory fails with ENOTDIR here,
 * where mkdir would only say EEXIST.
 */
static int mkdir_p(char *path, size_t from)
{
	for (char *p = path + from + 1; *p; p++) {
		struct stat sb;

		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0) {
			int err = errno;

			if (err != EEXIST || stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
				*p = '/';
				errno = err == EEXIST ? ENOTDIR : err;
				return -1;
			}
		}
		*p = '/';
	}
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

/*
 * Whether a failure is the whole store's rather than one file's, with the
 * reason in why. librrd reports the errno of the system call that failed
 * (open, mmap, write, posix_fallocate), except that rrd_create 1.7 may leave
 * a full disk unreported: so the data directory itself is asked too
 * (statvfs: read-only, free space against what the operation needs, free
 * inodes; access: can we write there at all). Everything else - EACCES or
 * EPERM below data_dir, ENOTDIR, a file librrd cannot read - is one file's.
 */
static int store_wide(struct store *s, int err, uint64_t need, char *why, size_t whylen)
{
	struct statvfs v;

	if (statvfs(s->data_dir, &v) == 0) {
		uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;

		if (v.f_flag & ST_RDONLY) {
			snprintf(why, whylen, "%s is read-only", s->data_dir);
			return 1;
		}
		if (avail < need || err == ENOSPC) {
			snprintf(why, whylen, "%s: %llu kB free in %s", strerror(ENOSPC),
				 (unsigned long long)avail / 1024, s->data_dir);
			return 1;
		}
		if (v.f_files > 0 && v.f_favail == 0) {
			snprintf(why, whylen, "no free inodes in %s", s->data_dir);
			return 1;
		}
	} else if (errno == EIO || errno == ENOMEM) {
		snprintf(why, whylen, "%s: %s", s->data_dir, strerror(errno));
		return 1;
	}
	switch (err) {
	case EDQUOT:
	case EROFS:
	case EIO:
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		snprintf(why, whylen, "%s", strerror(err));
		return 1;
	}
	if (access(s->data_dir, W_OK | X_OK) < 0) {
		snprintf(why, whylen, "%s: %s", s->data_dir, strerror(errno));
		return 1;
	}
	return 0;
}

static void quarantine(struct store *s, struct fstate *fs, const char *path, enum store_op op,
		       const char *reason)
{
	fs->known = 0; /* look again at the next try */
	fs->retry_at = mono_now() + s->quarantine_retry;
	if (fs->q != NULL) {
		log_debug("store: %s is still quarantined: %s failed: %s", path, store_op_str(op),
			  reason);
		pthread_mutex_lock(&s->mu);
		fs->q->op = op;
		snprintf(fs->q->reason, sizeof(fs->q->reason), "%s", reason);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	fs->q = xcalloc(1, sizeof(*fs->q));
	fs->q->path = xstrdup(path);
	{
		const char *part[4] = {fs->f ? fs->f->site : "", fs->f ? fs->f->host : "",
				       fs->f ? fs->f->check : "", fs->f ? fs->f->instance : ""};
		size_t len = 0, k = 0;

		for (int i = 0; i < 4; i++)
			len += strlen(part[i]) + 1;
		fs->q->names = xmalloc(len);
		for (int i = 0; i < 4; i++) {
			memcpy(fs->q->names + k, part[i], strlen(part[i]) + 1);
			k += strlen(part[i]) + 1;
		}
	}
	fs->q->op = op;
	snprintf(fs->q->reason, sizeof(fs->q->reason), "%s", reason);
	fs->q->since = time(NULL);
	fs->q->since_mono = mono_now();
	pthread_mutex_lock(&s->mu);
	s->q = xreallocarray(s->q, s->nq + 1, sizeof(*s->q));
	s->q[s->nq++] = fs->q;
	s->st.files_quarantined = s->nq;
	pthread_mutex_unlock(&s->mu);
	log_warnx("store: quarantined %s: %s failed: %s; its samples are dropped until a retry "
		  "works (every %u s)",
		  path, store_op_str(op), reason, s->quarantine_retry);
}

static void quarantine_drop(struct store *s, struct fstate *fs, unsigned n,
			    struct store_result *res)
{
	res->quarantined += n;
	pthread_mutex_lock(&s->mu);
	fs->q->dropped += n;
	pthread_mutex_unlock(&s->mu);
}

static void release(struct store *s, struct fstate *fs, const char *path)
{
	struct qent *q = fs->q;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nq; i++)
		if (s->q[i] == q) {
			memmove(&s->q[i], &s->q[i + 1], (s->nq - i - 1) * sizeof(*s->q));
			s->nq--;
			break;
		}
	s->st.files_quarantined = s->nq;
	pthread_mutex_unlock(&s->mu);
	log_info("store: %s works again after %.0f s in quarantine (%llu samples dropped)", path,
		 mono_now() - q->since_mono, (unsigned long long)q->dropped);
	free(q->path);
	free(q->names);
	free(q);
	fs->q = NULL;
}

/*
 * A failure of `op` on one file: the whole store's (the batch fails, it is
 * not acknowledged) or the file's (quarantined: its samples are dropped,
 * the rest of the batch goes on). n samples of the file were not stored.
 */
static void file_failed(struct store *s, struct fstate *fs, const char *path, enum store_op op,
			int err, const char *msg, uint64_t need, unsigned n,
			struct store_result *res)
{
	char why[128], reason[128];

	if (msg == NULL || *msg == '\0')
		msg = err ? strerror(err) : "unknown error";
	if (store_wide(s, err, need, why, sizeof(why))) {
		fs->known = 0;
		/* e.g. "store: cannot create FILE: No space left on device: 12 kB free in DIR" */
		log_complain(&s->store_fail, 60, "store: cannot %s %s: %s", store_op_str(op), path,
			     why);
		note_failure(res, n, path, why);
		return;
	}
	snprintf(reason, sizeof(reason), "%s", msg);
	quarantine(s, fs, path, op, reason);
	quarantine_drop(s, fs, n, res);
}

struct item {
	struct sample *s;
	union {
		size_t pos;          /* while sorting */
		struct series_ds *d; /* after resolve: NULL when the sample is not stored */
	} u;
};

/* The samples of items[0..n) that have a series. */
static unsigned usable(const struct item *it, size_t n)
{
	unsigned k = 0;

	for (size_t i = 0; i < n; i++)
		k += it[i].u.d != NULL;
	return k;
}

/* Reads what the file holds: its last update and its data sources. */
static int read_file(struct store *s, struct series_file *f, struct fstate *fs, const char *path,
		     int *err, const char **msg)
{
	time_t last;
	unsigned long cnt;
	char **names, **vals;

	errno = 0;
	rrd_clear_error();
	if (s->be->lastupdate(path, &last, &cnt, &names, &vals) != 0) {
		*err = errno;
		*msg = rrd_get_error();
		return -1;
	}
	fs->gen++;
	for (unsigned long i = 0; i < cnt; i++) {
		struct series_ds *d = series_index_ds_named(s->idx, f, names[i]);

		if (d != NULL)
			d->mark = fs->gen;
		free(names[i]);
		free(vals[i]);
	}
	free(names);
	free(vals);
	fs->last_ms = (int64_t)last * 1000;
	fs->known = 1;
	return 0;
}

/* The data sources of items[0..n) that the file lacks, marked as present. */
static size_t missing_ds(struct fstate *fs, const struct item *it, size_t n, struct store_ds **out)
{
	struct store_ds *v = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct series_ds *d = it[i].u.d;

		if (d == NULL || d->mark == fs->gen)
			continue;
		d->mark = fs->gen;
		v = xreallocarray(v, k + 1, sizeof(*v));
		v[k].name = d->ds;
		v[k].kind = it[i].s->kind;
		v[k++].interval = it[i].s->interval;
	}
	*out = v;
	return k;
}

/* Creates the file with every data source of its samples; 0 or -1 (handled). */
static int create_file(struct store *s, struct fstate *fs, char *path, const struct item *it,
		       size_t n, struct store_result *res)
{
	struct store_ds *ds;
	size_t nds;
	char **argv;
	int argc, err;
	int64_t t0 = 0;
	const char *msg;

	for (size_t i = 0; i < n; i++)
		if (it[i].u.d != NULL) {
			t0 = it[i].s->time_ms;
			break;
		}
	if (mkdir_p(path, strlen(s->data_dir)) < 0) {
		file_failed(s, fs, path, OP_MKDIR, errno, NULL, 1, usable(it, n), res);
		return -1;
	}
	fs->gen++;
	nds = missing_ds(fs, it, n, &ds);
	argc = store_rrd_create_args(s->step, s->rras, s->nrras, ds, nds, &argv);
	errno = 0;
	rrd_clear_error();
	if (s->be->create(path, s->step, (time_t)(t0 / 1000) - 1, argc, (const char **)argv) != 0) {
		err = errno;
		msg = rrd_get_error();
		unlink(path); /* it was missing: what is there now is a partial copy of ours */
		file_failed(s, fs, path, OP_CREATE, err, msg, rrd_size(s, nds), usable(it, n), res);
		free_argv(argv, argc);
		free(ds);
		return -1;
	}
	free_argv(argv, argc);
	free(ds);
	log_info("store: created %s (%zu data sources, step %u s)", path, nds, s->step);
	stat_add(s, &s->st.files_created, 1);
	fs->last_ms = (t0 / 1000 - 1) * 1000;
	fs->known = 1;
	return 0;
}

/* Adds the data sources the file lacks (rrd_tune keeps its history); 0 or -1 (handled). */
static int grow_file(struct store *s, struct fstate *fs, const char *path, const struct item *it,
		     size_t n, struct store_result *res)
{
	struct store_ds *ds;
	size_t nds = missing_ds(fs, it, n, &ds);
	char **argv;
	int argc = 0, err;
	struct stat sb;

	if (nds == 0)
		return 0;
	argv = xcalloc(nds + 3, sizeof(*argv));
	argv[argc++] = xstrdup("tune");
	argv[argc++] = xstrdup(path);
	for (size_t i = 0; i < nds; i++)
		argv[argc++] = ds_def(s->step, &ds[i]);
	errno = 0;
	rrd_clear_error();
	if (s->be->tune(argc, argv) != 0) {
		const char *msg = rrd_get_error();

		err = errno;
		/* rrd_tune writes a grown copy beside the file: it needs the file's size free */
		file_failed(s, fs, path, OP_TUNE, err, msg,
			    stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 1, usable(it, n), res);
		free_argv(argv, argc);
		free(ds);
		return -1;
	}
	log_info("store: %s: added %zu data sources (%s%s)", path, nds, ds[0].name,
		 nds > 1 ? ", ..." : "");
	stat_add(s, &s->st.files_grown, 1);
	free_argv(argv, argc);
	free(ds);
	return 0;
}

/* What a run holds in memory: the cache is bounded by the sum. */
static size_t run_bytes(const struct run *r)
{
	return sizeof(*r) + r->tmpl.cap + r->vals.cap + r->nds * sizeof(*r->ds);
}

static void run_free(struct run *r)
{
	free(r->tmpl.p);
	free(r->vals.p);
	free(r->ds);
}

/* Takes the file off the dirty list once its cache is empty. */
static void cache_clean(struct store *s, struct fstate *fs)
{
	for (size_t i = 0; i < fs->nruns; i++)
		run_free(&fs->runs[i]);
	free(fs->runs);
	fs->runs = NULL;
	fs->nruns = fs->capruns = 0;
	s->cache_values -= fs->nsamples;
	s->cache_bytes -= fs->bytes;
	fs->nupd = fs->nsamples = 0;
	fs->bytes = 0;
	if (fs->dirty) {
		TAILQ_REMOVE(&s->dirty, fs, dirty_entry);
		s->ndirty--;
		fs->dirty = 0;
	}
}

/*
 * Counts the update that run r just took at the end of its values (its NUL
 * included); before: what r held in memory before, 0 for a new run.
 */
static void cache_counted(struct store *s, struct fstate *fs, struct run *r, size_t before,
			  unsigned nv)
{
	r->k++;
	r->samples += nv;
	fs->nupd++;
	fs->nsamples += nv;
	s->cache_values += nv;
	fs->bytes += run_bytes(r) - before;
	s->cache_bytes += run_bytes(r) - before;
	if (!fs->dirty) {
		double now = mono_now(), age = s->flush_age;

		fs->dirty = 1;
		fs->dirty_since = now;
		/* each file waits between half and all of the age: not all flush at once */
		fs->due = now + age / 2 + age / 2 * ((double)rand_r(&s->seed) / RAND_MAX);
		/* while replaying, the values come from the oldest file, not the new one */
		fs->jfirst = s->replaying ? journal_oldest(s->j) : journal_current(s->j);
		TAILQ_INSERT_TAIL(&s->dirty, fs, dirty_entry);
		s->ndirty++;
	}
}

/*
 * Appends one update ("time:v1:v2") of the data sources in tmpl to the
 * file's cache. ds[0..nds) are those data sources in tmpl's order, or NULL
 * when not known (an update merged with a cached one).
 */
static void cache_add(struct store *s, struct fstate *fs, const struct sbuf *tmpl, const char *upd,
		      size_t len, unsigned nv, struct series_ds *const *ds, unsigned nds)
{
	struct run *r = fs->nruns > 0 ? &fs->runs[fs->nruns - 1] : NULL;
	size_t before = 0;

	if (r == NULL || r->tmpl.len != tmpl->len || memcmp(r->tmpl.p, tmpl->p, tmpl->len) != 0) {
		if (fs->nruns == fs->capruns) {
			fs->capruns = fs->capruns ? 2 * fs->capruns : 2;
			fs->runs = xreallocarray(fs->runs, fs->capruns, sizeof(*fs->runs));
		}
		r = &fs->runs[fs->nruns++];
		memset(r, 0, sizeof(*r));
		sb_printf(&r->tmpl, "%s", tmpl->p);
	} else {
		before = run_bytes(r);
	}
	if (r->ds == NULL && ds != NULL && nds > 0) {
		/* counted as the run's from here on: fs->bytes gains it below */
		r->ds = xreallocarray(NULL, nds, sizeof(*r->ds));
		memcpy(r->ds, ds, nds * sizeof(*r->ds));
		r->nds = nds;
	}
	if (r->vals.len + len + 1 > r->vals.cap) {
		r->vals.cap = 2 * r->vals.cap + len + 64;
		r->vals.p = xreallocarray(r->vals.p, r->vals.cap, 1);
	}
	memcpy(r->vals.p + r->vals.len, upd, len);
	r->vals.len += len;
	r->vals.p[r->vals.len++] = '\0';
	cache_counted(s, fs, r, before, nv);
}

/* What writing one file's cache did, on whichever writer thread wrote it. */
struct wrote {
	size_t done;      /* runs written */
	int rc, err;      /* of the run that failed: the backend's return and errno */
	atomic_int state; /* flush_files: who took the file (W_*) */
	char msg[256];
};

/*
 * The rrd_update calls for the file's cached values, one per run of a
 * template, stopping at the first failure. Reads the file's runs and
 * writes the file, nothing else: a helper process runs it while the
 * writer writes other files of the flush (flush_files).
 */
static void file_updates(const struct store *s, const struct fstate *fs, struct wrote *w)
{
	w->rc = w->err = 0;
	w->msg[0] = '\0';
	for (w->done = 0; w->done < fs->nruns; w->done++) {
		const struct run *r = &fs->runs[w->done];
		const char **argv = xcalloc(r->k, sizeof(*argv));
		const char *u = r->vals.p;

		for (size_t i = 0; i < r->k; i++, u += strlen(u) + 1)
			argv[i] = u;
		errno = 0;
		rrd_clear_error();
		w->rc = s->be->update(fs->path, r->tmpl.p, (int)r->k, argv);
		w->err = errno;
		free(argv);
		if (w->rc != 0) {
			snprintf(w->msg, sizeof(w->msg), "%s", rrd_get_error());
			break;
		}
	}
}

/*
 * The writer's part once file_updates is done: what was written leaves the
 * cache. A failure of the file quarantines it and drops what it had cached;
 * a failure of the whole store keeps the values and puts the store in the
 * failing state (batches refused until a retry works): -1 then.
 */
static int file_updates_done(struct store *s, struct fstate *fs, const struct wrote *w)
{
	const char *path = fs->path;
	uint64_t samples = 0;
	int rc = 0;

	for (size_t i = 0; i < w->done; i++) {
		struct run *r = &fs->runs[i];

		fs->nupd -= (unsigned)r->k;
		fs->nsamples -= r->samples;
		s->cache_values -= r->samples;
		samples += r->samples;
	}
	pthread_mutex_lock(&s->mu);
	s->st.samples += samples;
	s->st.updates += w->done;
	pthread_mutex_unlock(&s->mu);
	if (w->rc != 0) {
		struct store_result res = {0};

		file_failed(s, fs, path, OP_UPDATE, w->err, w->msg, 1, fs->nsamples, &res);
		if (res.failed > 0) {
			if (!s->failing)
				log_warnx(
				    "store: cannot write %s: %s; batches are refused until it "
				    "works again",
				    path, res.why);
			s->failing = 1;
			s->retry_at = mono_now() + STORE_RETRY_S;
			snprintf(s->fail_why, sizeof(s->fail_why), "%s", res.why);
			rc = -1;
		} else {
			/* quarantined: the file's cached values are lost with it, counted */
			stat_add(s, &s->st.quarantined, res.quarantined);
		}
	}
	if (rc == 0) {
		cache_clean(s, fs);
		if (fs->q != NULL && fs->known)
			release(s, fs, path);
		return 0;
	}
	/* keep what was not written */
	for (size_t i = 0; i < w->done; i++) {
		fs->bytes -= run_bytes(&fs->runs[i]);
		s->cache_bytes -= run_bytes(&fs->runs[i]);
		run_free(&fs->runs[i]);
	}
	memmove(fs->runs, fs->runs + w->done, (fs->nruns - w->done) * sizeof(*fs->runs));
	fs->nruns -= w->done;
	return -1;
}

/* Writes the file's cached values on this thread; 0, or -1 when the store failed as a whole. */
static int cache_flush_file(struct store *s, struct fstate *fs)
{
	struct wrote w;

	file_updates(s, fs, &w);
	return file_updates_done(s, fs, &w);
}

/*
 * A flush of many files, shared between the writer and helper processes
 * that it forks for the flush: each takes the next file of the list and
 * writes it (file_updates) from its copy of the cache, until none is left.
 * Processes, not threads: librrd maps the file for every update and unmaps
 * it after, and an unmapping in a process of several running threads
 * interrupts every core they run on to flush its TLB, which made a second
 * writer thread cost some 20% more CPU per value; a process of its own
 * interrupts no one. The list, the outcomes and the count of files taken
 * are in memory shared with the helpers (MAP_SHARED), the rest they read
 * from the copy fork made. A helper logs nothing and touches nothing but
 * the files: the writer takes every outcome, as if it had written all.
 */
enum { W_FREE, W_WRITER, W_HELPER, W_DONE };

struct flush_round {
	atomic_size_t next; /* the next file to take */
	struct wrote w[];   /* per file: its outcome, and who took it (state) */
};

static void take_files(const struct store *s, struct fstate **v, size_t n, struct flush_round *fr,
		       int who)
{
	size_t i;

	while ((i = atomic_fetch_add(&fr->next, 1)) < n) {
		atomic_store(&fr->w[i].state, who);
		file_updates(s, v[i], &fr->w[i]);
		atomic_store(&fr->w[i].state, W_DONE);
	}
}

/* A helper process that writes files of the round; its pid, or -1 with errno. */
static pid_t helper_start(const struct store *s, struct fstate **v, size_t n,
			  struct flush_round *fr)
{
	pid_t parent = getpid(), pid;
	sigset_t all;

	pid = fork();
	if (pid != 0)
		return pid;
	/*
	 * The helper. Signals wait: the collector's handlers write to its
	 * event loop's socket, which the helper shares; a stop of the
	 * collector waits for this flush anyway. It dies with the writer.
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	in_helper = 1;
	take_files(s, v, n, fr, W_HELPER);
	_exit(0);
}

/*
 * Writes the cached values of files v[0..n), shared out between the writer
 * and, for many files, its helpers, then takes each file's outcome in
 * order on the writer. Returns how many were written, or -1 when the store
 * failed as a whole (the files written before and after that are done all
 * the same).
 */
static int flush_files(struct store *s, struct fstate **v, size_t n)
{
	size_t bytes = sizeof(struct flush_round) + n * sizeof(struct wrote);
	struct flush_round *fr = MAP_FAILED;
	pid_t pid[STORE_WRITERS_MAX];
	unsigned np = 0;
	int written = 0, failed = 0, shared = 0;
	double t0 = mono_now(), t1;

	if (s->nhelpers > 0 && n >= STORE_SHARE_MIN) {
		fr = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (fr == MAP_FAILED)
			log_complain(&s->helper_fail, 3600,
				     "store: cannot share a flush with helper processes: mmap: %s",
				     strerror(errno));
	}
	if (fr != MAP_FAILED) {
		shared = 1;
		atomic_init(&fr->next, 0);
		for (size_t i = 0; i < n; i++)
			atomic_init(&fr->w[i].state, W_FREE);
		while (np < s->nhelpers) {
			pid[np] = helper_start(s, v, n, fr);
			if (pid[np] < 0) {
				log_complain(&s->helper_fail, 3600,
					     "store: cannot start a writer process: fork: %s",
					     strerror(errno));
				break;
			}
			np++;
		}
	} else {
		fr = xcalloc(1, bytes);
	}
	t1 = mono_now();
	take_files(s, v, n, fr, W_WRITER);
	for (unsigned k = 0; k < np; k++) {
		int status = 0;

		while (waitpid(pid[k], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			log_warnx(
			    "store: a writer process %s %d; the writer writes its files again",
			    WIFSIGNALED(status) ? "was killed by signal" : "exited with status",
			    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	/*
	 * A helper that died left files taken and not done: written again
	 * here, whole. Updates it made are at or before the file's last one
	 * now, and librrd skips those (RRD_SKIP_PAST_UPDATES).
	 */
	for (size_t i = 0; np > 0 && i < n; i++)
		if (atomic_load(&fr->w[i].state) != W_DONE)
			file_updates(s, v[i], &fr->w[i]);
	for (size_t i = 0; i < n; i++) {
		if (file_updates_done(s, v[i], &fr->w[i]) < 0)
			failed = 1;
		else
			written++;
	}
	if (shared) {
		munmap(fr, bytes);
		log_debug("store: %zu files written by %u processes in %.3f s (%.3f s to start "
			  "the helpers)",
			  n, np + 1, mono_now() - t0, t1 - t0);
	} else {
		free(fr);
	}
	return failed ? -1 : written;
}

/*
 * Appends the decimal digits of v; the cache formats millions of numbers:
 * their count first (from the highest bit set), then two digits a step,
 * from the last, in place.
 */
static void sb_u64(struct sbuf *b, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	static const uint64_t pow10[20] = {1ULL,
					   10ULL,
					   100ULL,
					   1000ULL,
					   10000ULL,
					   100000ULL,
					   1000000ULL,
					   10000000ULL,
					   100000000ULL,
					   1000000000ULL,
					   10000000000ULL,
					   100000000000ULL,
					   1000000000000ULL,
					   10000000000000ULL,
					   100000000000000ULL,
					   1000000000000000ULL,
					   10000000000000000ULL,
					   100000000000000000ULL,
					   1000000000000000000ULL,
					   10000000000000000000ULL};
	/* log10(2) ~ 1233 / 4096: t is the count of digits or one more */
	unsigned t = ((unsigned)(64 - __builtin_clzll(v | 1)) * 1233) >> 12;
	size_t n = v < 10 ? 1 : t + 1 - (v < pow10[t]);
	char *w;

	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * b->cap + n + 64;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	b->len += n;
	w = b->p + b->len;
	*w = '\0';
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;

		v /= 100;
		w -= 2;
		memcpy(w, pairs + d, 2);
	}
	if (v >= 10) {
		w -= 2;
		memcpy(w, pairs + v * 2, 2);
	} else {
		*--w = (char)('0' + v);
	}
}

static void sb_str(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * b->cap + n + 64;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* The value as rrd_update wants it, as sample_format_value writes it. */
static void sb_value(struct sbuf *b, const struct sample *x)
{
	char v[64];

	if (x->unknown) {
		sb_str(b, "U", 1);
	} else if (x->kind != SAMPLE_GAUGE) {
		sb_u64(b, x->counter);
	} else if (x->value > -1e15 && x->value < 1e15 && x->value == (double)(int64_t)x->value) {
		/* what %.15g prints for a whole number below 10^15 */
		if (x->value < 0) {
			sb_str(b, "-", 1);
			sb_u64(b, (uint64_t)(-(int64_t)x->value));
		} else {
			sb_u64(b, (uint64_t)(int64_t)x->value);
		}
	} else {
		sample_format_value(x, v, sizeof(v));
		sb_str(b, v, strlen(v));
	}
}

/* Whether the template ("a:b:c") names the data source ds. */
static int tmpl_has(const char *tmpl, const char *ds)
{
	size_t n = strlen(ds);

	for (const char *p = tmpl; p != NULL; p = strchr(p, ':'), p = p ? p + 1 : NULL)
		if (strncmp(p, ds, n) == 0 && (p[n] == ':' || p[n] == '\0'))
			return 1;
	return 0;
}

/*
 * Takes the file's last cached update out of the cache into tmpl and upd,
 * so that samples of the same timestamp from a later batch (an agent's
 * batch may end in the middle of a device's samples) join it: rrdtool
 * takes one update per timestamp. Returns its number of values.
 */
static unsigned cache_pop_last(struct store *s, struct fstate *fs, struct sbuf *tmpl,
			       struct sbuf *upd)
{
	struct run *r = &fs->runs[fs->nruns - 1];
	size_t at = r->vals.len - 1; /* the last update's NUL; it starts after the one before */
	const char *u;
	unsigned nv = 1;

	while (at > 0 && r->vals.p[at - 1] != '\0')
		at--;
	u = r->vals.p + at;
	tmpl->len = upd->len = 0;
	sb_str(tmpl, r->tmpl.p, r->tmpl.len);
	sb_str(upd, u, strlen(u));
	for (const char *p = r->tmpl.p; *p; p++)
		nv += *p == ':';
	r->k--;
	r->vals.len = at;
	r->samples -= nv;
	fs->nupd--;
	fs->nsamples -= nv;
	s->cache_values -= nv;
	if (r->k == 0) {
		fs->bytes -= run_bytes(r);
		s->cache_bytes -= run_bytes(r);
		run_free(r);
		fs->nruns--;
	}
	return nv;
}

/*
 * Appends the update of items it[0..n), all of time tf, to the file's last
 * run when they are that run's data sources in its order, as the next
 * round of a poll brings them: no template made, compared or copied, the
 * values written where they stay. 0 (nothing appended) when they are not.
 */
static int cache_add_same(struct store *s, struct fstate *fs, const struct sbuf *tf,
			  const struct item *it, size_t n)
{
	struct run *r;
	size_t before;

	if (fs->nruns == 0)
		return 0;
	r = &fs->runs[fs->nruns - 1];
	if (r->nds != n)
		return 0;
	for (size_t m = 0; m < n; m++)
		if (it[m].u.d != r->ds[m])
			return 0;
	before = run_bytes(r);
	sb_str(&r->vals, tf->p, tf->len);
	for (size_t m = 0; m < n; m++) {
		sb_str(&r->vals, ":", 1);
		sb_value(&r->vals, it[m].s);
	}
	r->vals.len++; /* the NUL sb_value left ends the update */
	cache_counted(s, fs, r, before, (unsigned)n);
	return 1;
}

/*
 * Puts one file's samples it[0..n) (sorted by time) into its cache, one
 * update per timestamp; a timestamp at or before the file's last update,
 * cached or written, is a duplicate (a replay). Memory grows with the
 * samples, nothing is sized for a number of data sources.
 */
static void write_file(struct store *s, struct series_file *f, struct item *it, size_t n,
		       struct store_result *res)
{
	struct fstate *fs = f->user;
	/* the writer's scratch, kept from call to call: most calls make one update */
	struct sbuf *t = &s->scratch[0], *v = &s->scratch[1], *mt = &s->scratch[2],
		    *mv = &s->scratch[3], *tf = &s->scratch[4];
	char *path;
	unsigned left = usable(it, n);
	struct stat sb;

	if (left == 0)
		return;
	if (fs == NULL) {
		size_t len = strlen(s->data_dir) + 1 + strlen(f->path) + 1;

		fs = f->user = xcalloc(1, sizeof(*fs) + len);
		fs->f = f;
		snprintf(fs->path, len, "%s/%s", s->data_dir, f->path);
	}
	path = fs->path;
	if (fs->q != NULL) {
		if (mono_now() < fs->retry_at) {
			quarantine_drop(s, fs, left, res);
			return;
		}
		fs->known = 0;
	}
	if (!fs->known) {
		int err = 0;
		const char *msg = NULL;

		errno = 0;
		if (stat(path, &sb) == 0) {
			if (!S_ISREG(sb.st_mode)) {
				file_failed(s, fs, path, OP_OPEN, 0, "not a regular file", 1, left,
					    res);
				return;
			}
			if (read_file(s, f, fs, path, &err, &msg) < 0) {
				file_failed(s, fs, path, OP_OPEN, err, msg, 1, left, res);
				return;
			}
		} else if (errno != ENOENT) {
			file_failed(s, fs, path, OP_OPEN, errno, NULL, 1, left, res);
			return;
		} else if (create_file(s, fs, path, it, n, res) < 0) {
			return;
		}
	}
	if (grow_file(s, fs, path, it, n, res) < 0)
		return;

	for (size_t i = 0; i < n;) {
		int64_t tm = it[i].s->time_ms;
		size_t g = 1, nv = 0;
		unsigned stamp = ++s->stamp;

		while (i + g < n && it[i + g].s->time_ms == tm)
			g++;
		unsigned merged = 0;

		if (tm == fs->last_ms && fs->nruns > 0) {
			/* the rest of a timestamp whose first part is still in the cache */
			merged = cache_pop_last(s, fs, mt, mv);
		} else if (tm <= fs->last_ms) {
			/* a replay: stored before, or older than the file */
			unsigned k = usable(&it[i], g);

			res->duplicates += k;
			i += g;
			continue;
		}
		if (tm != s->tm_ms || tf->len == 0) {
			/* "seconds.milliseconds": times are after 1970, so never negative */
			tf->len = 0;
			sb_u64(tf, (uint64_t)(tm / 1000));
			sb_str(tf, ".", 1);
			if (tm % 1000 < 100)
				sb_str(tf, "00", (tm % 1000) < 10 ? 2 : 1);
			sb_u64(tf, (uint64_t)(tm % 1000));
			s->tm_ms = tm;
		}
		if (!merged && cache_add_same(s, fs, tf, &it[i], g)) {
			res->written += (unsigned)g;
			fs->last_ms = tm;
			i += g;
			continue;
		}
		if (g > s->dsv_cap) {
			s->dsv_cap = g;
			s->dsv = xreallocarray(s->dsv, g, sizeof(*s->dsv));
		}
		t->len = 0;
		v->len = 0;
		sb_str(v, tf->p, tf->len);
		for (size_t m = i; m < i + g; m++) {
			struct series_ds *d = it[m].u.d;

			if (d == NULL)
				continue;
			if (d->stamp == stamp || (merged && tmpl_has(mt->p, d->ds))) {
				/* the same series twice at one time: rrdtool takes one */
				res->duplicates++;
				continue;
			}
			d->stamp = stamp;
			s->dsv[nv] = d;
			if (nv)
				sb_str(t, ":", 1);
			sb_str(t, d->ds, strlen(d->ds));
			sb_str(v, ":", 1);
			sb_value(v, it[m].s);
			nv++;
		}
		i += g;
		if (merged) {
			/* the earlier part first, then this batch's values after its time */
			if (nv > 0) {
				sb_str(mt, ":", 1);
				sb_str(mt, t->p, t->len);
				sb_str(mv, v->p + strcspn(v->p, ":"), v->len - strcspn(v->p, ":"));
			}
			cache_add(s, fs, mt, mv->p, mv->len, merged + (unsigned)nv, NULL, 0);
			res->written += (unsigned)nv;
			continue;
		}
		if (nv == 0)
			continue;
		cache_add(s, fs, t, v->p, v->len, (unsigned)nv, s->dsv, (unsigned)nv);
		res->written += (unsigned)nv;
		fs->last_ms = tm;
	}
	/*
	 * A failure here leaves the values cached and journaled, so durable:
	 * the store refuses what comes next until the file can be written.
	 */
	if (fs->dirty && (s->flush_age == 0 || fs->nupd >= s->max_values))
		cache_flush_file(s, fs);
}

/* File (host, check, instance), then time, then position in the batch. */
/* strcmp, but names a batch shares between samples compare as pointers first */
static int name_cmp(const char *a, const char *b)
{
	return a == b ? 0 : strcmp(a, b);
}

static int item_order(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c;

	if ((c = name_cmp(x->s->host, y->s->host)) != 0 ||
	    (c = name_cmp(x->s->check, y->s->check)) != 0 ||
	    (c = name_cmp(x->s->instance, y->s->instance)) != 0)
		return c;
	if (x->s->time_ms != y->s->time_ms)
		return x->s->time_ms < y->s->time_ms ? -1 : 1;
	return x->u.pos < y->u.pos ? -1 : x->u.pos > y->u.pos;
}

static int same_file(const struct sample *a, const struct sample *b)
{
	return name_cmp(a->host, b->host) == 0 && name_cmp(a->check, b->check) == 0 &&
	       name_cmp(a->instance, b->instance) == 0;
}

static struct site_state *site_state(struct series_site *ss)
{
	if (ss->user == NULL)
		ss->user = xcalloc(1, sizeof(struct site_state));
	return ss->user;
}

/* Whether the site may have one more series; logs a refusal once in a while. */
static int series_allowed(struct store *s, struct series_site *ss)
{
	if (s->max_series == 0 || ss->nseries < s->max_series)
		return 1;
	log_complain(&site_state(ss)->too_many, 300,
		     "store: site \"%s\" has %zu series (max_series_per_site): samples of new "
		     "series are refused",
		     ss->name, ss->nseries);
	return 0;
}

/* Whether the site may have one more file this minute. */
static int file_allowed(struct store *s, struct series_site *ss)
{
	struct site_state *st = site_state(ss);
	double now = mono_now();

	if (s->max_new_files == 0)
		return 1;
	if (now - st->window >= 60) {
		st->window = now;
		st->new_files = 0;
	}
	if (st->new_files < s->max_new_files) {
		st->new_files++;
		return 1;
	}
	log_complain(&st->too_fast, 300,
		     "store: site \"%s\" made %u new files within a minute "
		     "(max_new_files_per_minute): samples of further new files are refused",
		     ss->name, st->new_files);
	return 0;
}

static struct series_memo *memo_slot(struct store *s, uint64_t series)
{
	if (s->memo == NULL)
		s->memo = xcalloc(STORE_SERIES_CACHE, sizeof(*s->memo));
	return &s->memo[(series * 0x9e3779b97f4a7c15ULL) >> 48 & (STORE_SERIES_CACHE - 1)];
}

/* The file of it[0..n) when the memo knows the series of every sample (set in it[].u.d). */
static struct series_file *resolve_memo(struct store *s, struct item *it, size_t n)
{
	struct series_file *f = NULL;

	for (size_t i = 0; i < n; i++) {
		struct series_memo *m;

		if (it[i].s->series == 0)
			return NULL;
		m = memo_slot(s, it[i].s->series);
		if (m->series != it[i].s->series || (f != NULL && m->d->f != f))
			return NULL;
		f = m->d->f;
		it[i].u.d = m->d;
	}
	return f;
}

/*
 * Whether file `f` may have one more data source: each one added rewrites
 * the whole file (rrd_tune), so a client adding metrics to one check
 * forever would have the writer copy ever bigger files. Logs a refusal
 * once in a while, per site.
 */
static int ds_allowed(struct store *s, struct series_file *f, const char *metric)
{
	if (s->max_ds == 0 || f->nds < s->max_ds)
		return 1;
	log_complain(&site_state(f->s)->too_wide, 300,
		     "store: site \"%s\", host \"%s\", check \"%s\"%s%s%s: the file has %zu data "
		     "sources (max_ds_per_file): metric \"%s\" and further new ones are refused",
		     f->site, f->host, f->check, f->instance[0] ? ", instance \"" : "", f->instance,
		     f->instance[0] ? "\"" : "", f->nds, metric);
	return 0;
}

/*
 * Finds or adds the series of every sample of it[0..n) (one file's),
 * within the site's limits; a sample left without one is counted.
 */
static struct series_file *resolve_file(struct store *s, const char *site, const char *agent,
					struct item *it, size_t n, struct store_result *res)
{
	const struct sample *x = it[0].s;
	struct series_file *f = resolve_memo(s, it, n);

	if (f != NULL)
		return f;
	f = series_index_file(s->idx, site, x->host, x->check, x->instance);

	if (f == NULL) {
		struct series_site *ss = series_index_site(s->idx, site);

		if (!series_allowed(s, ss) || !file_allowed(s, ss)) {
			res->refused += n;
			goto none;
		}
		f = series_index_add_file(s->idx, site, x->host, x->check, x->instance, agent,
					  x->interval);
		if (f == NULL) {
			res->rejected += n; /* names too long for any path: not reached */
			goto none;
		}
	} else if (x->interval > f->interval) {
		series_index_set_origin(s->idx, f, agent, x->interval); /* schema 1's, or grown */
	}
	for (size_t i = 0; i < n; i++) {
		struct series_ds *d = series_index_ds(s->idx, f, it[i].s->metric);

		if (d == NULL) {
			if (!series_allowed(s, f->s) || !ds_allowed(s, f, it[i].s->metric)) {
				res->refused++;
				it[i].u.d = NULL;
				continue;
			}
			d = series_index_add_ds(s->idx, f, it[i].s->metric);
		}
		it[i].u.d = d;
		if (it[i].s->series != 0 && d != NULL) {
			struct series_memo *m = memo_slot(s, it[i].s->series);

			m->series = it[i].s->series;
			m->d = d;
		}
	}
	return f;
none:
	for (size_t i = 0; i < n; i++)
		it[i].u.d = NULL;
	return NULL;
}

/*
 * The writer's fast path: a batch of a compact-form session whose series the
 * memo knows, in files that exist and hold them, written run by run as it
 * came (the samples of one file side by side, in time order: how agents
 * send them). A file may come back later in the batch (a batch that crosses
 * into the next poll round) only with newer samples. That writes what the
 * sorted batch would, without sorting it or comparing its names. 0 when the
 * batch is not such, with nothing done: write_job sorts it.
 */
static int write_runs(struct store *s, struct job *j, struct item *it)
{
	struct sample_batch *b = j->b;
	unsigned batch = ++s->batch;

	for (size_t i = 0; i < b->n; i++) {
		const struct sample *x = &b->v[i];
		struct series_memo *m = memo_slot(s, x->series);
		struct fstate *fs;

		if (x->series == 0 || m->series != x->series)
			return 0;
		fs = m->d->f->user;
		if (fs == NULL || !fs->known || fs->q != NULL || m->d->mark != fs->gen)
			return 0; /* to be made, grown, read or retried: the sorted path does it */
		if (i > 0 && it[i - 1].u.d->f == m->d->f) {
			if (x->time_ms < b->v[i - 1].time_ms)
				return 0;
		} else if (fs->batch == batch && x->time_ms <= fs->batch_last_ms) {
			return 0;
		}
		fs->batch = batch;
		fs->batch_last_ms = x->time_ms;
		it[i].s = &b->v[i];
		it[i].u.d = m->d;
	}
	for (size_t i = 0, n; i < b->n; i += n) {
		for (n = 1; i + n < b->n && it[i + n].u.d->f == it[i].u.d->f;)
			n++;
		write_file(s, it[i].u.d->f, &it[i], n, &j->res);
	}
	return 1;
}

static void write_job(struct store *s, struct job *j)
{
	struct sample_batch *b = j->b;
	struct item *it;
	struct series_file **files;
	size_t nf = 0, starts_cap = 0, *starts = NULL;
	char why[160];

	it = xcalloc(b->n ? b->n : 1, sizeof(*it));
	if (write_runs(s, j, it))
		goto done;
	/*
	 * Sort the batch by file and time (stable): each file is then written in
	 * time order, as rrdtool demands, and created with every metric it has
	 * in the batch, however the agent ordered the samples.
	 */
	for (size_t i = 0; i < b->n; i++) {
		it[i].s = &b->v[i];
		it[i].u.pos = i;
	}
	{
		size_t k = 1;

		/* agents send a device's samples together and in time order: often sorted already
		 */
		while (k < b->n && item_order(&it[k - 1], &it[k]) <= 0)
			k++;
		if (k < b->n)
			qsort(it, b->n, sizeof(*it), item_order);
	}
	files = xcalloc(b->n ? b->n : 1, sizeof(*files));
	for (size_t i = 0; i < b->n;) {
		size_t n = 1;

		while (i + n < b->n && same_file(it[i + n].s, it[i].s))
			n++;
		if (nf == starts_cap) {
			starts_cap = starts_cap ? 2 * starts_cap : 16;
			starts = xreallocarray(starts, starts_cap + 1, sizeof(*starts));
		}
		starts[nf] = i;
		files[nf++] = resolve_file(s, b->site, b->agent, &it[i], n, &j->res);
		i += n;
	}
	if (starts != NULL)
		starts[nf] = b->n;
	/*
	 * New series are on disk in the index before any file is made for them:
	 * a mapping that a crash could forget would let another series take
	 * the file. An index that cannot be written fails the whole batch.
	 */
	if (series_index_commit(s->idx, why, sizeof(why)) < 0) {
		log_complain(&s->index_fail, 60, "store: cannot write the series index: %s", why);
		note_failure(&j->res, usable(it, b->n), STORE_DB_NAME, why);
	} else {
		log_complain_clear(&s->index_fail, "store: the series index is written again");
		for (size_t k = 0; k < nf; k++)
			if (files[k] != NULL)
				write_file(s, files[k], &it[starts[k]], starts[k + 1] - starts[k],
					   &j->res);
	}
	free(starts);
	free(files);
done:
	if (b->agent != NULL &&
	    series_index_note_agent(s->idx, b->site, b->agent, why, sizeof(why)) < 0)
		log_complain(&s->agent_fail, 300, "store: cannot remember agent \"%s\": %s",
			     b->agent, why);
	free(it);
}

/* The n names in one allocation, each with its NUL: the copies kept for the loop. */
static char *names_join(const char *const *part, int n)
{
	size_t len = 0, at = 0;
	char *buf;

	for (int i = 0; i < n; i++)
		len += strlen(part[i]) + 1;
	buf = xmalloc(len);
	for (int i = 0; i < n; i++) {
		size_t l = strlen(part[i]) + 1;

		memcpy(buf + at, part[i], l);
		at += l;
	}
	return buf;
}

/* The n names of a names_join() buffer. */
static void names_split(const char *buf, const char **part, int n)
{
	part[0] = buf;
	for (int i = 1; i < n; i++)
		part[i] = part[i - 1] + strlen(part[i - 1]) + 1;
}

static void keep_known_agent(const char *site, const char *agent, void *arg)
{
	struct store *s = arg;
	const char *part[2] = {site, agent};

	s->known = xreallocarray(s->known, s->nknown + 1, sizeof(*s->known));
	s->known[s->nknown++] = names_join(part, 2);
}

void store_foreach_known_agent(const struct store *s,
			       void (*fn)(const char *site, const char *agent, void *arg),
			       void *arg)
{
	for (size_t i = 0; i < s->nknown; i++) {
		const char *p[2];

		names_split(s->known[i], p, 2);
		fn(p[0], p[1], arg);
	}
}

/*
 * Files written within this long before the start are watched for no-data
 * from the start; older ones count as retired (a host taken out of service,
 * a check removed) until a sample of theirs comes back.
 */
#define STORE_SEED_WINDOW_S (24 * 3600)

struct known_file {
	char *names; /* site, host, check, instance, agent: each with its NUL */
	unsigned interval;
};

static void keep_known_file(const struct series_file *f, void *arg)
{
	struct store *s = arg;
	const char *part[5] = {f->site, f->host, f->check, f->instance, f->agent};
	struct stat sb;

	/* made by an older collector and not written since: no interval, no silence known */
	if (f->interval == 0 || fstatat(s->data_fd, f->path, &sb, 0) < 0 ||
	    sb.st_mtime < time(NULL) - STORE_SEED_WINDOW_S)
		return;
	s->known_files =
	    xreallocarray(s->known_files, s->nknown_files + 1, sizeof(*s->known_files));
	s->known_files[s->nknown_files].names = names_join(part, 5);
	s->known_files[s->nknown_files++].interval = f->interval;
}

void store_take_known_files(struct store *s, store_known_file_fn *fn, void *arg)
{
	if (fn != NULL)
		log_info("store: %zu files were written within a day before the start: each is "
			 "silent (no-data) unless its samples resume",
			 s->nknown_files);
	for (size_t i = 0; i < s->nknown_files; i++) {
		const char *p[5];

		names_split(s->known_files[i].names, p, 5);
		if (fn != NULL)
			fn(p[0], p[1], p[2], p[3], p[4], s->known_files[i].interval, arg);
		free(s->known_files[i].names);
	}
	free(s->known_files);
	s->known_files = NULL;
	s->nknown_files = 0;
}

/* ---- streams: the highest durable seq of each (site, agent, stream) ---- */

static size_t stream_key(char *buf, size_t len, const char *site, const char *agent)
{
	size_t a = strlen(site), b = strlen(agent);

	if (a + b + 2 > len)
		return 0;
	memcpy(buf, site, a + 1);
	memcpy(buf + a + 1, agent, b + 1);
	return a + b + 2;
}

/* 1 when `e` is a stream of the agent whose stream_key is key[0..klen). */
static int stream_of(const struct stream_ent *e, const char *key, size_t klen)
{
	size_t a = strlen(e->key) + 1;

	return a + strlen(e->key + a) + 1 == klen && memcmp(e->key, key, klen) == 0;
}

/*
 * Under mu, on the writer thread: drops the oldest streams of the agent of
 * `key` beyond SERIES_INDEX_STREAMS_PER_AGENT (vakt.db drops them at the
 * next save). An agent keeps one stream for as long as its spool lives and
 * takes a new one only with a new spool, so an old stream id matters only
 * while batches of the spool it named could still be replayed: the newest
 * few cover an agent whose spool was reset while the old one's batches were
 * still in flight. Without a bound, each reconnect with a new id (a client
 * making them up) would add an entry for good, in memory and in vakt.db.
 * Should a dropped stream come back, its agent hears "acked 0" and sends
 * what it holds again, which the store counts as duplicates.
 */
static void stream_trim(struct store *s, const char *key, size_t klen)
{
	for (;;) {
		struct stream_ent *e, **pp, **oldest = NULL;
		unsigned n = 0;

		for (size_t i = 0; i < s->nstreams_b; i++)
			for (pp = &s->streams[i]; (e = *pp) != NULL; pp = &e->next)
				if (stream_of(e, key, klen)) {
					n++;
					if (oldest == NULL || e->order < (*oldest)->order)
						oldest = pp;
				}
		if (n <= SERIES_INDEX_STREAMS_PER_AGENT)
			return;
		e = *oldest;
		*oldest = e->next;
		s->nstreams--;
		free(e);
	}
}

/*
 * Under mu. With create, adds a missing entry (acked 0) and trims the
 * agent's streams to the newest; create 2 does not trim (the load at start,
 * whose rows are the newest few per agent already).
 */
static struct stream_ent *stream_get(struct store *s, const char *site, const char *agent,
				     uint64_t stream, int create)
{
	char key[2 * SAMPLE_NAME_MAX + 8];
	size_t klen = stream_key(key, sizeof(key), site, agent);
	uint64_t h;
	struct stream_ent *e;

	if (klen == 0)
		return NULL;
	h = hash_fnv1a(key, klen) ^ (stream * 0x9e3779b97f4a7c15ULL);
	if (s->nstreams_b > 0)
		for (e = s->streams[h & (s->nstreams_b - 1)]; e != NULL; e = e->next)
			if (e->stream == stream && stream_of(e, key, klen))
				return e;
	if (!create)
		return NULL;
	if (s->nstreams >= s->nstreams_b) {
		size_t nb = s->nstreams_b ? 2 * s->nstreams_b : 64;
		struct stream_ent **b = xcalloc(nb, sizeof(*b));

		for (size_t i = 0; i < s->nstreams_b; i++)
			while ((e = s->streams[i]) != NULL) {
				size_t kl = strlen(e->key) + 1;
				uint64_t eh;

				kl += strlen(e->key + kl) + 1;
				eh = hash_fnv1a(e->key, kl) ^ (e->stream * 0x9e3779b97f4a7c15ULL);
				s->streams[i] = e->next;
				e->next = b[eh & (nb - 1)];
				b[eh & (nb - 1)] = e;
			}
		free(s->streams);
		s->streams = b;
		s->nstreams_b = nb;
	}
	e = xcalloc(1, sizeof(*e) + klen);
	memcpy(e->key, key, klen);
	e->stream = stream;
	e->order = ++s->stream_order;
	e->next = s->streams[h & (s->nstreams_b - 1)];
	s->streams[h & (s->nstreams_b - 1)] = e;
	s->nstreams++;
	if (create == 1)
		stream_trim(s, key, klen);
	return e;
}

/* Under mu: a batch of a stream is durable. */
static void stream_durable(struct store *s, const struct sample_batch *b)
{
	struct stream_ent *e;

	if (b->stream == 0 || b->agent == NULL)
		return;
	e = stream_get(s, b->site, b->agent, b->stream, 1);
	if (e != NULL && b->seq > e->acked)
		e->acked = b->seq;
}

uint64_t store_stream_acked(struct store *s, const char *site, const char *agent, uint64_t stream)
{
	struct stream_ent *e;
	uint64_t v = 0;

	if (stream == 0)
		return 0;
	pthread_mutex_lock(&s->mu);
	e = stream_get(s, site, agent, stream, 0);
	if (e != NULL)
		v = e->acked;
	pthread_mutex_unlock(&s->mu);
	return v;
}

static void load_stream(const struct series_stream *x, void *arg)
{
	struct store *s = arg;
	struct stream_ent *e = stream_get(s, x->site, x->agent, x->stream, 2);

	if (e != NULL && x->acked > e->acked)
		e->acked = e->saved = x->acked;
}

static int stream_older(const void *a, const void *b)
{
	const struct stream_ent *x = *(struct stream_ent *const *)a;
	const struct stream_ent *y = *(struct stream_ent *const *)b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Writes the streams that moved since the last save to vakt.db, oldest
 * first, so that vakt.db's order of streams (its rowids) is this table's
 * and it keeps the same newest few per agent; 0 or -1.
 */
static int streams_save(struct store *s)
{
	struct series_stream *v = NULL;
	struct stream_ent **ents = NULL;
	size_t n = 0;
	char why[256];
	int rc;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nstreams_b; i++)
		for (struct stream_ent *e = s->streams[i]; e != NULL; e = e->next) {
			if (e->acked == e->saved)
				continue;
			v = xreallocarray(v, n + 1, sizeof(*v));
			ents = xreallocarray(ents, n + 1, sizeof(*ents));
			v[n].site = e->key;
			v[n].agent = e->key + strlen(e->key) + 1;
			v[n].stream = e->stream;
			v[n].acked = e->acked;
			ents[n++] = e;
		}
	pthread_mutex_unlock(&s->mu);
	/* entries are freed on the writer thread only (stream_trim): valid unlocked */
	if (n > 1) {
		qsort(ents, n, sizeof(*ents), stream_older);
		for (size_t i = 0; i < n; i++) {
			v[i].site = ents[i]->key;
			v[i].agent = ents[i]->key + strlen(ents[i]->key) + 1;
			v[i].stream = ents[i]->stream;
			v[i].acked = ents[i]->acked;
		}
	}
	rc = series_index_save_streams(s->idx, v, n, why, sizeof(why));
	if (rc < 0)
		log_complain(&s->index_fail, 60, "store: cannot save the agents' streams: %s", why);
	else
		for (size_t i = 0; i < n; i++)
			ents[i]->saved = v[i].acked; /* the writer alone writes saved */
	free(v);
	free(ents);
	return rc;
}

/* ---- checkpoint: journal files whose batches are all in the RRD files go ---- */

static void checkpoint(struct store *s, int finish)
{
	char why[256];
	uint64_t need;

	if (!journal_empty(s->j) && (finish || journal_size(s->j) >= STORE_JOURNAL_MAX ||
				     mono_now() - s->journal_since >= STORE_JOURNAL_AGE_S)) {
		if (journal_rotate(s->j, why, sizeof(why)) < 0)
			log_complain(&s->store_fail, 60, "store: cannot start a journal file: %s",
				     why);
		s->journal_since = mono_now();
	}
	need = TAILQ_EMPTY(&s->dirty) ? journal_current(s->j) : TAILQ_FIRST(&s->dirty)->jfirst;
	if (need <= journal_oldest(s->j))
		return;
	/*
	 * librrd leaves its writes in the page cache: they reach the disk
	 * before the journal that could redo them is removed.
	 */
	if (syncfs(s->data_fd) < 0) {
		log_complain(&s->store_fail, 60, "store: cannot sync %s: %s", s->data_dir,
			     strerror(errno));
		return;
	}
	if (streams_save(s) < 0)
		return;
	journal_remove_before(s->j, need);
}

/*
 * Makes the next journal file ahead while no batch waits, a step a call,
 * with s->mu held (released for the write): 0 when there is more to do.
 */
static int prepare_next(struct store *s)
{
	char why[256];
	int rc;

	pthread_mutex_unlock(&s->mu);
	rc = journal_prepare(s->j, why, sizeof(why));
	pthread_mutex_lock(&s->mu);
	if (rc < 0) {
		log_complain(&s->prepare_fail, 60,
			     "store: cannot make the next journal file ahead: %s; the next file "
			     "grows as it is written (slower commits), nothing is lost",
			     why);
		s->prepare_at = mono_now() + STORE_PREPARE_RETRY_S;
	}
	return rc;
}

/* ---- cache upkeep ---- */

static int jobs_waiting(struct store *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->len > 0 || !TAILQ_EMPTY(&s->reqs);
	pthread_mutex_unlock(&s->mu);
	return n;
}

/*
 * The dirty files whose path is want (NULL: all), oldest first, in *out
 * (freed by the caller); how many.
 */
static size_t dirty_files(struct store *s, const char *want, struct fstate ***out)
{
	struct fstate *fs, **v = xcalloc(s->ndirty, sizeof(*v));
	size_t n = 0;

	TAILQ_FOREACH(fs, &s->dirty, dirty_entry)
	{
		if (want == NULL || strcmp(fs->path, want) == 0)
			v[n++] = fs;
	}
	*out = v;
	return n;
}

/*
 * Writes the files that are due: oldest first while the cache is over its
 * size, then those whose age says so, a chunk at a time, stopping early
 * (after a slice) when batches wait. With `all`, every file at once, so
 * that the helpers share them (flush_files).
 */
static void upkeep(struct store *s, int all)
{
	double start = mono_now(), now = start;
	struct fstate *fs, *next, *chunk[STORE_FLUSH_CHUNK], **v;
	size_t k = 0;

	if (s->failing) {
		if (now < s->retry_at && !all)
			return;
		/* the oldest file first: if it works, the store works again */
		fs = TAILQ_FIRST(&s->dirty);
		if (fs != NULL && cache_flush_file(s, fs) < 0)
			return;
		s->failing = 0;
		log_info("store: files can be written again");
	}
	if (all) {
		k = dirty_files(s, NULL, &v);
		if (k > 0)
			flush_files(s, v, k);
		free(v);
		return;
	}
	for (fs = TAILQ_FIRST(&s->dirty); fs != NULL; fs = next) {
		/* a chunk's files are before next: writing them leaves it on the list */
		next = TAILQ_NEXT(fs, dirty_entry);
		if (s->cache_bytes <= s->cache_max && fs->dirty_since + s->flush_age / 2 > now)
			break; /* the list is in dirty_since order: no later file is due */
		if (s->cache_bytes > s->cache_max || fs->due <= now)
			chunk[k++] = fs;
		if (k < STORE_FLUSH_CHUNK)
			continue;
		if (flush_files(s, chunk, k) < 0)
			return;
		k = 0;
		now = mono_now();
		if (now - start > STORE_UPKEEP_SLICE_S && jobs_waiting(s))
			return;
	}
	if (k > 0)
		flush_files(s, chunk, k);
}

/* ---- the writer ---- */

/* Writes the cached values of the file at `path` (NULL: all); files written or -1. */
static int req_flush(struct store *s, const char *want, char *why, size_t whylen)
{
	struct fstate **v;
	size_t n = dirty_files(s, want, &v);
	int rc = n > 0 ? flush_files(s, v, n) : 0;

	free(v);
	if (rc < 0)
		snprintf(why, whylen, "%s", s->fail_why);
	return rc;
}

/*
 * Forgets what the store remembers of an agent: its streams, here and in
 * vakt.db, and that it sent data. 1 when anything was known, 0, or -1.
 * The cache is written and the journal checkpointed first: a replay of the
 * agent's batches still in it would remember the agent again.
 */
static int req_forget(struct store *s, const char *site, const char *agent, char *why,
		      size_t whylen)
{
	char key[2 * SAMPLE_NAME_MAX + 8];
	size_t klen = stream_key(key, sizeof(key), site, agent);
	int found = 0;

	upkeep(s, 1);
	checkpoint(s, 1);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; klen > 0 && i < s->nstreams_b; i++) {
		struct stream_ent **pp = &s->streams[i], *e;

		while ((e = *pp) != NULL)
			if (stream_of(e, key, klen)) {
				*pp = e->next;
				s->nstreams--;
				free(e);
				found = 1;
			} else {
				pp = &e->next;
			}
	}
	pthread_mutex_unlock(&s->mu);
	switch (series_index_forget_agent(s->idx, site, agent, why, whylen)) {
	case -1:
		return -1;
	case 1:
		found = 1;
	}
	return found;
}

/* Under mu, on the writer thread: the cache's size, for store_get_stats. */
static void cache_stats(struct store *s)
{
	s->st.cache_files = s->ndirty;
	s->st.cache_values = s->cache_values;
	s->st.cache_bytes = s->cache_bytes;
}

static void req_free(struct store_req *r)
{
	free(r->path);
	free(r->site);
	free(r->agent);
	free(r);
}

/*
 * Does what the loop asked for, each request once the batches queued before
 * it are done; the answers go back through req_ev.
 */
static void handle_requests(struct store *s)
{
	struct store_req *r;
	int any = 0;

	pthread_mutex_lock(&s->mu);
	while ((r = TAILQ_FIRST(&s->reqs)) != NULL && r->after <= s->st.batches) {
		TAILQ_REMOVE(&s->reqs, r, entry);
		pthread_mutex_unlock(&s->mu);
		if (r->kind == REQ_FLUSH)
			r->rc = req_flush(s, r->path, r->why, sizeof(r->why));
		else
			r->rc = req_forget(s, r->site, r->agent, r->why, sizeof(r->why));
		pthread_mutex_lock(&s->mu);
		cache_stats(s); /* the answer's reader sees what the flush left in the cache */
		r->done = 1;
		if (r->abandoned) {
			req_free(r);
		} else if (r->fn != NULL) {
			TAILQ_INSERT_TAIL(&s->reqs_done, r, entry);
			any = 1;
		}
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (any)
		event_active(s->req_ev, EV_READ, 0);
}

static void replay_batch(struct sample_batch *b, void *arg)
{
	struct store *s = arg;
	struct job j = {.b = b};

	pthread_mutex_lock(&s->mu);
	stream_durable(s, b);
	pthread_mutex_unlock(&s->mu);
	write_job(s, &j);
	sample_batch_free(b);
	if (s->cache_bytes > s->cache_max)
		upkeep(s, 0);
}

/* Reads what an earlier run journaled into the files; 0 or -1 (logged). */
static int replay(struct store *s)
{
	struct journal_replay_stats st;
	double t0 = mono_now();
	char why[256];

	s->replaying = 1;
	if (journal_replay(s->j, replay_batch, s, &st, why, sizeof(why)) < 0) {
		log_warnx("store: cannot replay the journal: %s", why);
		return -1;
	}
	upkeep(s, 1);
	s->replaying = 0;
	/*
	 * Files that cannot be written now keep their values in the cache and
	 * their journal files: the collector starts all the same, so that alerts
	 * go on, and refuses batches until a retry works.
	 */
	if (s->failing)
		log_warnx("store: cannot write the journal's batches to the files yet: %s",
			  s->fail_why);
	checkpoint(s, 1);
	if (st.files > 0)
		log_info("store: journal replayed: %llu records (batches), %llu samples from %u "
			 "files (%llu bytes) in %.2f s%s",
			 (unsigned long long)st.records, (unsigned long long)st.samples, st.files,
			 (unsigned long long)st.bytes, mono_now() - t0,
			 st.cut_bytes ? "; a torn or corrupt tail was cut" : "");
	s->st.replayed = st.records;
	return 0;
}

/* Under mu: the entry of a refused session, or NULL. */
static struct refused *refused_find(struct store *s, uint64_t session)
{
	for (size_t i = 0; i < s->nrefused; i++)
		if (s->refused[i].session == session)
			return &s->refused[i];
	return NULL;
}

/* Under mu: job j failed; its session's later batches are to fail unwritten. */
static void refuse_session(struct store *s, const struct job *j)
{
	struct refused *r;

	if (j->b->session_id == 0)
		return; /* the collector's own samples (no-data): no session, nothing sent again */
	r = refused_find(s, j->b->session_id);
	if (r == NULL) {
		s->refused = xreallocarray(s->refused, s->nrefused + 1, sizeof(*s->refused));
		r = &s->refused[s->nrefused++];
		r->session = j->b->session_id;
		r->seq = j->b->seq;
		snprintf(r->why, sizeof(r->why), "%.119s", j->res.why);
	}
	r->until = 0; /* this result is still to reach the loop */
}

/* Under mu: drops the refused sessions of which no batch can come any more. */
static void refused_trim(struct store *s)
{
	for (size_t i = 0; i < s->nrefused;)
		if (s->refused[i].until != 0 && s->st.batches >= s->refused[i].until)
			s->refused[i] = s->refused[--s->nrefused];
		else
			i++;
}

/*
 * One job on the writer thread: a batch of a session whose earlier batch
 * failed fails unwritten; a batch delivered again is answered at once;
 * otherwise it goes into the cache and, unless that failed as a whole,
 * into the journal. 1 when it was journaled.
 */
static int take_job(struct store *s, struct job *j)
{
	struct sample_batch *b = j->b;
	struct stream_ent *e;
	struct refused *r;
	uint64_t acked = 0;

	pthread_mutex_lock(&s->mu);
	r = b->session_id != 0 ? refused_find(s, b->session_id) : NULL;
	if (r != NULL) {
		j->res.failed = (unsigned)b->n;
		snprintf(j->res.why, sizeof(j->res.why), "after batch %llu: %s",
			 (unsigned long long)r->seq, r->why);
	}
	pthread_mutex_unlock(&s->mu);
	if (r != NULL)
		return 0;
	if (b->stream != 0 && b->agent != NULL) {
		pthread_mutex_lock(&s->mu);
		e = stream_get(s, b->site, b->agent, b->stream, 0);
		acked = e != NULL ? e->acked : 0;
		pthread_mutex_unlock(&s->mu);
		if (b->seq <= acked) {
			j->res.redelivered = 1;
			j->res.duplicates = (unsigned)b->n;
			return 0;
		}
	}
	if (s->failing) {
		upkeep(s, 0); /* a retry, when it is time */
		if (s->failing) {
			note_failure(&j->res, (unsigned)b->n, STORE_DB_NAME, s->fail_why);
			snprintf(j->res.why, sizeof(j->res.why), "%s", s->fail_why);
			return 0;
		}
	}
	write_job(s, j);
	if (j->res.failed > 0)
		return 0;
	if (journal_pending(s->j) == 0 && journal_empty(s->j))
		s->journal_since = mono_now();
	journal_append(s->j, b);
	return 1;
}

static void *writer_main(void *arg)
{
	struct store *s = arg;
	char path[4096], why[256];
	struct job **jobs = NULL;
	int *journaled = NULL;

	/* the index is the writer's alone: opened, read and written on this thread */
	if (mkdir(s->data_dir, 0755) < 0 && errno != EEXIST)
		log_warn("store: cannot create data directory %s", s->data_dir);
	snprintf(path, sizeof(path), "%s/%s", s->data_dir, STORE_DB_NAME);
	s->idx = series_index_open(path, why, sizeof(why));
	if (s->idx == NULL)
		log_warnx("store: cannot open the series index: %s", why);
	snprintf(path, sizeof(path), "%s/%s", s->data_dir, STORE_JOURNAL_DIR);
	if (s->idx != NULL) {
		s->data_fd = open(s->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		s->j = journal_open(path, STORE_JOURNAL_SEGMENT, why, sizeof(why));
		if (s->data_fd < 0 || s->j == NULL) {
			log_warnx("store: cannot open the journal: %s",
				  s->data_fd < 0 ? strerror(errno) : why);
			journal_free(s->j);
			s->j = NULL;
		}
	}
	if (s->j != NULL &&
	    series_index_load_streams(s->idx, load_stream, s, why, sizeof(why)) < 0) {
		log_warnx("store: cannot read the agents' streams: %s", why);
		journal_free(s->j);
		s->j = NULL;
	}
	s->journal_since = mono_now();
	/* journal_open() made the first file ahead, or has just said why it could not */
	s->prepare_at = s->journal_since + STORE_PREPARE_RETRY_S;
	if (s->j == NULL || replay(s) < 0) {
		pthread_mutex_lock(&s->mu);
		s->ready = -1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	series_index_counts(s->idx, &s->st.files, &s->st.series);
	/* a copy for the loop, read-only from now on: the index stays this thread's */
	series_index_foreach_agent(s->idx, keep_known_agent, s);
	series_index_foreach_file(s->idx, keep_known_file, s);
	log_info("store: series index %s/%s: %zu files, %zu series, %zu agents; cache: %u s, "
		 "%u values per file, %zu MiB",
		 s->data_dir, STORE_DB_NAME, s->st.files, s->st.series, s->nknown, s->flush_age,
		 s->max_values, s->cache_max >> 20);
	s->ready = 1;
	pthread_cond_broadcast(&s->cv);
	jobs = xcalloc(s->cap, sizeof(*jobs));
	journaled = xcalloc(s->cap, sizeof(*journaled));
	for (;;) {
		size_t n;
		int commit_rc = 0;
		char cwhy[160] = "";

		while (s->len == 0 && !s->stopping && TAILQ_EMPTY(&s->reqs)) {
			struct timespec ts;

			if (mono_now() >= s->prepare_at && prepare_next(s) == 0)
				continue; /* a megabyte at a time: a batch waits for no more */

			/* wake once a second for the cache's ages and the journal's rotation */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
				break;
		}
		if (s->len == 0 && s->stopping)
			break;
		/* group commit: everything queued now shares one fsync */
		n = s->len;
		for (size_t i = 0; i < n; i++)
			jobs[i] = s->todo[(s->head + i) % s->cap];
		pthread_mutex_unlock(&s->mu);

		{
			double t0 = mono_now();

			/* the first batch waits for no more than a slice of work and one fsync */
			for (size_t i = 0; i < n; i++) {
				journaled[i] = take_job(s, jobs[i]);
				if (jobs[i]->res.failed > 0) {
					/* before the next job: it may be of the same session */
					pthread_mutex_lock(&s->mu);
					refuse_session(s, jobs[i]);
					pthread_mutex_unlock(&s->mu);
				}
				if (mono_now() - t0 > STORE_COMMIT_SLICE_S) {
					n = i + 1;
					break;
				}
			}
		}
		if (journal_pending(s->j) > 0) {
			size_t bytes = journal_pending(s->j);

			commit_rc = journal_commit(s->j, cwhy, sizeof(cwhy));
			if (commit_rc < 0) {
				char w[160];

				if (!store_wide(s, errno, 0, w, sizeof(w)))
					snprintf(w, sizeof(w), "%s", cwhy);
				log_complain(&s->store_fail, 60, "store: %s", cwhy);
				snprintf(cwhy, sizeof(cwhy), "%s", w);
			} else {
				stat_add(s, &s->st.journal_bytes, bytes);
				stat_add(s, &s->st.journal_commits, 1);
			}
		}

		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < n; i++) {
			struct job *j = jobs[i];

			if (journaled[i] && commit_rc < 0) {
				j->res.failed += (unsigned)j->b->n;
				snprintf(j->res.why, sizeof(j->res.why), "journal: %.140s", cwhy);
				refuse_session(s, j);
			}
			if (j->res.failed == 0 && !j->res.redelivered)
				stream_durable(s, j->b);
			/* the slot frees only now, so queued + in-progress never exceeds cap */
			s->head = (s->head + 1) % s->cap;
			s->len--;
			s->bytes -= j->b->bytes;
			s->st.batches++;
			s->st.redelivered += j->res.redelivered;
			s->st.duplicates += j->res.duplicates;
			s->st.rejected += j->res.rejected;
			s->st.quarantined += j->res.quarantined;
			s->st.refused += j->res.refused;
			s->st.failed += j->res.failed;
			s->done[(s->dhead + s->dlen) % s->cap] = j->res;
			s->dlen++;
		}
		refused_trim(s);
		series_index_counts(s->idx, &s->st.files, &s->st.series);
		pthread_mutex_unlock(&s->mu);
		if (n > 0)
			event_active(s->done_ev, EV_READ, 0);
		for (size_t i = 0; i < n; i++) {
			sample_batch_free(jobs[i]->b);
			free(jobs[i]);
		}
		handle_requests(s);
		upkeep(s, 0);
		checkpoint(s, 0);
		pthread_mutex_lock(&s->mu);
		cache_stats(s);
	}
	pthread_mutex_unlock(&s->mu);
	/* shutdown: everything cached goes to the files, then the journal is done with */
	upkeep(s, 1);
	if (s->failing)
		log_warnx("store: stopping with %u values not written (%s): the journal keeps them "
			  "for the next start",
			  s->cache_values, s->fail_why);
	checkpoint(s, 1);
	free(jobs);
	free(journaled);
	return NULL;
}

static struct store_req *req_queue(struct store *s, struct store_req *r)
{
	pthread_mutex_lock(&s->mu);
	r->after = s->st.batches + s->len; /* the batches queued now go first */
	TAILQ_INSERT_TAIL(&s->reqs, r, entry);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return r;
}

struct store_req *store_flush_async(struct store *s, const char *path, store_req_fn fn, void *arg)
{
	struct store_req *r = xcalloc(1, sizeof(*r));

	r->kind = REQ_FLUSH;
	r->path = path != NULL ? xstrdup(path) : NULL;
	r->fn = fn;
	r->arg = arg;
	return req_queue(s, r);
}

struct store_req *store_forget_agent(struct store *s, const char *site, const char *agent,
				     store_req_fn fn, void *arg)
{
	struct store_req *r = xcalloc(1, sizeof(*r));

	r->kind = REQ_FORGET;
	r->site = xstrdup(site);
	r->agent = xstrdup(agent);
	r->fn = fn;
	r->arg = arg;
	return req_queue(s, r);
}

void store_req_cancel(struct store *s, struct store_req *r)
{
	pthread_mutex_lock(&s->mu);
	r->cancelled = 1;
	pthread_mutex_unlock(&s->mu);
}

int store_flush(struct store *s, const char *path, unsigned timeout_s, char *why, size_t whylen)
{
	struct store_req *r = xcalloc(1, sizeof(*r));
	struct timespec ts;
	int rc;

	r->kind = REQ_FLUSH;
	r->path = path != NULL ? xstrdup(path) : NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_s;
	req_queue(s, r);
	pthread_mutex_lock(&s->mu);
	while (!r->done)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0 && !r->done) {
			r->abandoned = 1; /* the writer frees it */
			pthread_mutex_unlock(&s->mu);
			snprintf(why, whylen, "the writer did not finish within %u s", timeout_s);
			return -1;
		}
	pthread_mutex_unlock(&s->mu);
	rc = r->rc;
	if (rc < 0)
		snprintf(why, whylen, "%s", r->why);
	req_free(r);
	return rc;
}

/* On the loop: answers the requests the writer is through with. */
static void req_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	for (;;) {
		struct store_req *r;
		int cancelled;

		pthread_mutex_lock(&s->mu);
		r = TAILQ_FIRST(&s->reqs_done);
		if (r != NULL)
			TAILQ_REMOVE(&s->reqs_done, r, entry);
		cancelled = r != NULL && r->cancelled;
		pthread_mutex_unlock(&s->mu);
		if (r == NULL)
			return;
		if (!cancelled)
			r->fn(r->rc, r->why, r->arg);
		req_free(r);
	}
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
		if (r.failed > 0 && r.session_id != 0) {
			struct refused *e;

			/*
			 * The loop has heard: it submits nothing more of the session
			 * (it closes it), so once what is queued now is done, no batch
			 * of it can come any more.
			 */
			pthread_mutex_lock(&s->mu);
			e = refused_find(s, r.session_id);
			if (e != NULL && e->until == 0)
				e->until = s->st.batches + s->len;
			pthread_mutex_unlock(&s->mu);
		}
	}
}

static void store_destroy(struct store *s)
{
	for (size_t i = 0; i < s->nstreams_b; i++)
		while (s->streams[i] != NULL) {
			struct stream_ent *e = s->streams[i];

			s->streams[i] = e->next;
			free(e);
		}
	free(s->streams);
	free(s->refused);
	/* at exit: requests never answered (their clients are gone) */
	for (struct store_req_list *l = &s->reqs; l != NULL;
	     l = l == &s->reqs ? &s->reqs_done : NULL)
		while (!TAILQ_EMPTY(l)) {
			struct store_req *r = TAILQ_FIRST(l);

			TAILQ_REMOVE(l, r, entry);
			req_free(r);
		}
	journal_free(s->j);
	if (s->data_fd >= 0)
		close(s->data_fd);
	for (size_t i = 0; i < s->nknown; i++)
		free(s->known[i]);
	free(s->known);
	for (size_t i = 0; i < s->nknown_files; i++)
		free(s->known_files[i].names);
	free(s->known_files);
	event_free(s->done_ev);
	event_free(s->req_ev);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->todo);
	free(s->done);
	free(s->data_dir);
	free(s);
}

struct store *store_new(struct event_base *base, const struct store_params *p, store_done_fn done,
			void *arg)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int ready;

	s->base = base;
	s->data_dir = xstrdup(p->data_dir);
	s->step = p->step;
	if (p->rras != NULL && p->nrras > 0 && p->nrras <= STORE_RRA_MAX) {
		memcpy(s->rras, p->rras, p->nrras * sizeof(*p->rras));
		s->nrras = p->nrras;
	} else {
		memcpy(s->rras, default_rras, sizeof(default_rras));
		s->nrras = sizeof(default_rras) / sizeof(default_rras[0]);
	}
	s->queue_bytes = p->queue_bytes;
	s->quarantine_retry = p->quarantine_retry ? p->quarantine_retry : 60;
	s->max_series = p->max_series_per_site;
	s->max_new_files = p->max_new_files_per_minute;
	s->max_ds = p->max_ds_per_file;
	s->flush_age = p->cache_flush_age;
	s->max_values = p->cache_max_values ? p->cache_max_values : 360;
	{
		/* more writers than cores would only take turns */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned want = p->writers, have = cpus > 0 ? (unsigned)cpus : 1;

		if (want == 0 || want > have)
			want = have;
		if (want > STORE_WRITERS_MAX)
			want = STORE_WRITERS_MAX;
		s->nhelpers = want - 1;
	}
	s->cache_max = p->cache_size ? p->cache_size : (size_t)64 << 20;
	s->be = &librrd_backend;
	s->seed = (unsigned)getpid();
	s->data_fd = -1;
	TAILQ_INIT(&s->dirty);
	s->cap = p->queue_max ? p->queue_max : 1;
	s->todo = xcalloc(s->cap, sizeof(*s->todo));
	s->done = xcalloc(s->cap, sizeof(*s->done));
	s->done_fn = done;
	s->done_arg = arg;
	s->done_ev = event_new(base, -1, EV_PERSIST | EV_READ, done_cb, s);
	s->req_ev = event_new(base, -1, EV_PERSIST | EV_READ, req_cb, s);
	TAILQ_INIT(&s->reqs);
	TAILQ_INIT(&s->reqs_done);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0)
		fatalx("store: cannot start the writer thread");
	/* the loop does not run yet: waiting for the index here blocks nobody */
	pthread_mutex_lock(&s->mu);
	while (s->ready == 0)
		pthread_cond_wait(&s->cv, &s->mu);
	ready = s->ready;
	pthread_mutex_unlock(&s->mu);
	if (ready < 0) {
		pthread_join(s->thread, NULL);
		store_destroy(s);
		return NULL;
	}
	return s;
}

/* Under mu: whether one more batch would be refused. */
static int full_locked(const struct store *s)
{
	/* a result slot is needed too: the loop may not have collected them yet */
	return s->len + s->dlen >= s->cap || (s->queue_bytes > 0 && s->bytes >= s->queue_bytes);
}

int store_full(const struct store *s)
{
	struct store *m = (struct store *)s;
	int full;

	pthread_mutex_lock(&m->mu);
	full = full_locked(s);
	pthread_mutex_unlock(&m->mu);
	return full;
}

int store_submit(struct store *s, struct sample_batch *b)
{
	struct job *j;

	pthread_mutex_lock(&s->mu);
	if (full_locked(s)) {
		s->st.submit_refused++;
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->b = b;
	j->res.session_id = b->session_id;
	j->res.seq = b->seq;
	s->todo[(s->head + s->len) % s->cap] = j;
	s->len++;
	s->bytes += b->bytes;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->queued = s->len;
	st->queued_bytes = s->bytes;
	pthread_mutex_unlock(&s->mu);
}

void store_foreach_quarantined(struct store *s, store_quarantine_fn fn, void *arg)
{
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nq; i++) {
		const char *site = s->q[i]->names, *host = site + strlen(site) + 1;
		const char *check = host + strlen(host) + 1, *inst = check + strlen(check) + 1;
		struct store_quarantine q = {
		    .site = site,
		    .host = host,
		    .check = check,
		    .instance = inst,
		    .path = s->q[i]->path,
		    .op = store_op_str(s->q[i]->op),
		    .reason = s->q[i]->reason,
		    .since = s->q[i]->since,
		    .dropped = s->q[i]->dropped,
		};

		fn(&q, arg);
	}
	pthread_mutex_unlock(&s->mu);
}

/* The writer's per-file and per-site states hang off the index and go with it. */
static void free_states(struct store *s)
{
	/* what a failing store could not write at shutdown: the journal has it */
	while (!TAILQ_EMPTY(&s->dirty))
		cache_clean(s, TAILQ_FIRST(&s->dirty));
	for (size_t i = 0; i < s->nq; i++) {
		free(s->q[i]->path);
		free(s->q[i]->names);
		free(s->q[i]);
	}
	free(s->q);
	for (size_t i = 0; i < sizeof(s->scratch) / sizeof(s->scratch[0]); i++)
		free(s->scratch[i].p);
	free(s->dsv);
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
	free_states(s);
	series_index_close(s->idx);
	free(s->memo);
	store_destroy(s);
}
