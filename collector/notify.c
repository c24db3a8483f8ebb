/*
 * notify.c - delivers alert events: "log" writes a line, "exec" runs a command
 * with the event as JSON on stdin. Must never block the event loop, never let
 * a queue grow without bound, and never reap a child it did not start.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "xmalloc.h"

extern char **environ;

#define NOTIFY_TIMEOUT_MAX 3600
#define NOTIFY_RUNNING_MAX 64
/* Seconds between SIGTERM and SIGKILL for a command that timed out. */
#define NOTIFY_KILL_GRACE_S 2
/* Seconds between two log lines of the same repeated complaint. */
#define NOTIFY_COMPLAIN_S 60

enum channel_kind {
	CHANNEL_LOG,
	CHANNEL_EXEC,
};

struct channel;

/* One running command. */
struct job {
	struct channel *ch;
	pid_t pid; /* also its process group */
	uint64_t alert_id;
	enum alert_state state;
	int fd;              /* write end of the command's stdin; -1 once closed */
	struct event *wev;   /* fd writable */
	struct event *timer; /* timeout, then the SIGKILL grace */
	int signalled;       /* 0, or the last signal the timeout sent */
	char *buf;           /* the JSON document still being written */
	size_t len, off;
};

struct channel {
	struct notify *n;
	char *name;
	enum channel_kind kind;
	int builtin; /* the implicit "log" a configured one may replace */
	char *file;  /* log: also append lines here; NULL for the daemon log only */
	char *command;
	int timeout_s;
	int max_running;
	struct job **jobs; /* max_running slots, NULL when free */
	unsigned running;
	struct alert_event *queue; /* ring of NOTIFY_QUEUE_MAX, allocated when first needed */
	unsigned qhead, qlen;
	struct notify_stats st;
	struct complaint drop_complaint;
	struct complaint file_complaint;
	struct complaint start_complaint; /* pipe/fork failures: out of processes or fds */
};

struct notify {
	struct event_base *base;
	struct event *sigchld;
	struct channel **ch;
	size_t nch;
};

/* Names of the variables added to a command's environment; see job_env(). */
static const char *const job_env_names[] = {
    "VAKT_ALERT_ID", "VAKT_STATE",    "VAKT_RULE",   "VAKT_SITE",  "VAKT_HOST",
    "VAKT_CHECK",    "VAKT_INSTANCE", "VAKT_METRIC", "VAKT_VALUE", "VAKT_THRESHOLD",
    "VAKT_SUMMARY",  "VAKT_TIME",     NULL,
};

cfg_opt_t notify_channel_opts[] = {
    CFG_STR("kind", NULL, CFGF_NODEFAULT),    CFG_STR("file", NULL, CFGF_NODEFAULT),
    CFG_STR("command", NULL, CFGF_NODEFAULT), CFG_INT("timeout", 10, CFGF_NONE),
    CFG_INT("max_running", 4, CFGF_NONE),     CFG_END(),
};

const char *alert_state_str(enum alert_state s)
{
	switch (s) {
	case ALERT_FIRING:
		return "firing";
	case ALERT_RESOLVED:
		return "resolved";
	}
	return "unknown";
}

static void job_free(struct job *j);
static void channel_start_queued(struct channel *ch);

/* "2024-05-01T12:00:00.123Z" */
static void iso8601_utc(int64_t ms, char *buf, size_t len)
{
	time_t sec = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;
	char day[32];

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	if (gmtime_r(&sec, &tm) == NULL) {
		snprintf(buf, len, "%" PRId64 "ms", ms);
		return;
	}
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, frac);
}

int notify_channel_validate(cfg_t *sec)
{
	static const char *const need_kind[] = {"kind", NULL};
	static const char *const need_command[] = {"command", NULL};
	const char *kind, *file;
	long v;
	int bad = 0;

	if (conf_check_title(sec, NOTIFY_NAME_MAX) < 0)
		bad = 1;
	if (conf_require(sec, need_kind) < 0)
		return -1;
	kind = cfg_getstr(sec, "kind");
	file = cfg_size(sec, "file") ? cfg_getstr(sec, "file") : NULL;
	if (strcmp(kind, "log") == 0) {
		if (cfg_size(sec, "command") > 0) {
			conf_section_error(sec, "'command' is only for kind \"exec\"");
			bad = 1;
		}
		/* the daemon may chdir("/"); a relative path would move with it */
		if (file != NULL && file[0] != '/') {
			conf_section_error(sec, "file must be an absolute path, got \"%s\"", file);
			bad = 1;
		}
	} else if (strcmp(kind, "exec") == 0) {
		if (conf_require(sec, need_command) < 0) {
			bad = 1;
		} else if (*cfg_getstr(sec, "command") == '\0') {
			conf_section_error(sec, "command must not be empty");
			bad = 1;
		}
		if (file != NULL) {
			conf_section_error(sec, "'file' is only for kind \"log\"");
			bad = 1;
		}
	} else {
		conf_section_error(sec, "kind must be \"log\" or \"exec\", got \"%s\"", kind);
		bad = 1;
	}
	v = cfg_getint(sec, "timeout");
	if (v < 1 || v > NOTIFY_TIMEOUT_MAX) {
		conf_section_error(sec, "timeout must be 1..%d s, got %ld", NOTIFY_TIMEOUT_MAX, v);
		bad = 1;
	}
	v = cfg_getint(sec, "max_running");
	if (v < 1 || v > NOTIFY_RUNNING_MAX) {
		conf_section_error(sec, "max_running must be 1..%d, got %ld", NOTIFY_RUNNING_MAX,
				   v);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static struct channel *channel_find(const struct notify *n, const char *name)
{
	for (size_t i = 0; i < n->nch; i++)
		if (strcmp(n->ch[i]->name, name) == 0)
			return n->ch[i];
	return NULL;
}

static struct channel *channel_new(struct notify *n, const char *name, enum channel_kind kind)
{
	struct channel *ch = xcalloc(1, sizeof(*ch));

	ch->n = n;
	ch->name = xstrdup(name);
	ch->kind = kind;
	ch->timeout_s = 10;
	ch->max_running = 1;
	return ch;
}

/* Kills and reaps what still runs: only at shutdown, when blocking briefly is fine. */
static void channel_free(struct channel *ch)
{
	if (ch == NULL)
		return;
	for (int i = 0; ch->jobs != NULL && i < ch->max_running; i++) {
		struct job *j = ch->jobs[i];
		int status;

		if (j == NULL)
			continue;
		kill(-j->pid, SIGKILL);
		while (waitpid(j->pid, &status, 0) == -1 && errno == EINTR)
			;
		log_debug("notify exec \"%s\": killed pid %d (alert %" PRIu64 ") at shutdown",
			  ch->name, (int)j->pid, j->alert_id);
		job_free(j);
	}
	if (ch->qlen > 0)
		log_warnx("notify exec \"%s\": %u queued notifications dropped at shutdown",
			  ch->name, ch->qlen);
	free(ch->queue);
	free(ch->jobs);
	free(ch->command);
	free(ch->file);
	free(ch->name);
	free(ch);
}

static void notify_sigchld_cb(evutil_socket_t sig, short what, void *arg);

struct notify *notify_new(struct event_base *base)
{
	struct notify *n = xcalloc(1, sizeof(*n));
	struct sigaction sa;

	n->base = base;
	n->sigchld = evsignal_new(base, SIGCHLD, notify_sigchld_cb, n);
	if (n->sigchld == NULL || event_add(n->sigchld, NULL) == -1) {
		log_warnx("notify: cannot watch SIGCHLD on the event loop");
		if (n->sigchld != NULL)
			event_free(n->sigchld);
		free(n);
		return NULL;
	}
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		log_warnx("notify: SIGPIPE is not ignored; an exec command that does not read "
			  "its stdin can kill this process");
	n->ch = xcalloc(1, sizeof(*n->ch));
	n->ch[0] = channel_new(n, "log", CHANNEL_LOG);
	n->ch[0]->builtin = 1;
	n->nch = 1;
	return n;
}

void notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	for (size_t i = n->nch; i > 0; i--)
		channel_free(n->ch[i - 1]);
	free(n->ch);
	event_free(n->sigchld);
	free(n);
}

int notify_add_channel(struct notify *n, cfg_t *sec)
{
	const char *name = cfg_title(sec);
	const char *kind = cfg_getstr(sec, "kind");
	struct channel *old = channel_find(n, name), *ch;

	if (old != NULL && !old->builtin) {
		conf_section_error(sec, "channel defined twice");
		return -1;
	}
	ch = channel_new(n, name, strcmp(kind, "exec") == 0 ? CHANNEL_EXEC : CHANNEL_LOG);
	if (cfg_size(sec, "file") > 0)
		ch->file = xstrdup(cfg_getstr(sec, "file"));
	if (ch->kind == CHANNEL_EXEC)
		ch->command = xstrdup(cfg_getstr(sec, "command"));
	ch->timeout_s = (int)cfg_getint(sec, "timeout");
	ch->max_running = (int)cfg_getint(sec, "max_running");
	if (ch->kind == CHANNEL_EXEC)
		ch->jobs = xcalloc(ch->max_running, sizeof(*ch->jobs));
	if (old != NULL) {
		/* the built-in "log" never runs jobs: replacing it loses nothing */
		for (size_t i = 0; i < n->nch; i++)
			if (n->ch[i] == old)
				n->ch[i] = ch;
		channel_free(old);
	} else {
		n->ch = xreallocarray(n->ch, n->nch + 1, sizeof(*n->ch));
		n->ch[n->nch++] = ch;
	}
	return 0;
}

int notify_has_channel(const struct notify *n, const char *name)
{
	return channel_find(n, name) != NULL;
}

int notify_channel_stats(const struct notify *n, const char *channel, struct notify_stats *st)
{
	const struct channel *ch = channel_find(n, channel);

	if (ch == NULL)
		return -1;
	*st = ch->st;
	st->running = ch->running;
	st->queued = ch->qlen;
	return 0;
}

/* ---- log channel ---- */

static void channel_log(struct channel *ch, const struct alert_event *ev)
{
	char when[48], line[2048];
	int fd, len;

	log_info("alert %s: %s [rule %s]", alert_state_str(ev->state), ev->summary, ev->rule);
	ch->st.sent++;
	if (ch->file == NULL)
		return;
	iso8601_utc(ev->time_ms, when, sizeof(when));
	len = snprintf(line, sizeof(line),
		       "%s %s id=%" PRIu64 " rule=%s site=%s host=%s check=%s instance=%s "
		       "metric=%s value=%.15g %s\n",
		       when, alert_state_str(ev->state), ev->id, ev->rule, ev->site, ev->host,
		       ev->check, ev->instance, ev->metric, ev->value, ev->summary);
	if (len >= (int)sizeof(line)) {
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	/*
	 * A small append to a local file, at most once per alert transition:
	 * cheap enough for the loop. O_APPEND keeps each line whole even when
	 * logrotate or another writer shares the file.
	 */
	fd = open(ch->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd == -1 || write(fd, line, len) != len) {
		ch->st.failed++;
		log_complain(&ch->file_complaint, NOTIFY_COMPLAIN_S,
			     "notify log \"%s\": cannot %s %s: %s", ch->name,
			     fd == -1 ? "open" : "write", ch->file, strerror(errno));
	} else {
		log_complain_clear(&ch->file_complaint, "notify log \"%s\": writing %s again",
				   ch->name, ch->file);
	}
	if (fd != -1)
		close(fd);
}

/* ---- exec channel ---- */

/* A JSON string even from bytes that are not UTF-8 (names come off the wire). */
static json_t *json_str(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL)
		return j;
	copy = xstrdup(s);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* The event as one line of JSON; NULL if it cannot be encoded (non-finite value). */
static char *job_json(const struct alert_event *ev)
{
	json_t *o = json_object(), *v, *t;
	char when[48], *s = NULL, *line;

	iso8601_utc(ev->time_ms, when, sizeof(when));
	v = json_real(ev->value);
	t = json_real(ev->threshold);
	if (v == NULL || t == NULL) {
		json_decref(v);
		json_decref(t);
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "id", json_integer((json_int_t)ev->id));
	json_object_set_new(o, "state", json_string(alert_state_str(ev->state)));
	json_object_set_new(o, "rule", json_str(ev->rule));
	json_object_set_new(o, "site", json_str(ev->site));
	json_object_set_new(o, "host", json_str(ev->host));
	json_object_set_new(o, "check", json_str(ev->check));
	json_object_set_new(o, "instance", json_str(ev->instance));
	json_object_set_new(o, "metric", json_str(ev->metric));
	json_object_set_new(o, "value", v);
	json_object_set_new(o, "threshold", t);
	json_object_set_new(o, "summary", json_str(ev->summary));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "time_ms", json_integer((json_int_t)ev->time_ms));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return NULL;
	xasprintf(&line, "%s\n", s);
	free(s);
	return line;
}

/* The inherited environment without our names, then VAKT_* for `ev`. */
static char **job_env(const struct alert_event *ev)
{
	size_t n = 0, k = 0;
	char **env, when[48];

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = xcalloc(n + 13, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		int ours = 0;

		for (const char *const *name = job_env_names; *name && !ours; name++) {
			size_t len = strlen(*name);

			ours = strncmp(environ[i], *name, len) == 0 && environ[i][len] == '=';
		}
		if (!ours)
			env[k++] = xstrdup(environ[i]);
	}
	iso8601_utc(ev->time_ms, when, sizeof(when));
	xasprintf(&env[k++], "VAKT_ALERT_ID=%" PRIu64, ev->id);
	xasprintf(&env[k++], "VAKT_STATE=%s", alert_state_str(ev->state));
	xasprintf(&env[k++], "VAKT_RULE=%s", ev->rule);
	xasprintf(&env[k++], "VAKT_SITE=%s", ev->site);
	xasprintf(&env[k++], "VAKT_HOST=%s", ev->host);
	xasprintf(&env[k++], "VAKT_CHECK=%s", ev->check);
	xasprintf(&env[k++], "VAKT_INSTANCE=%s", ev->instance);
	xasprintf(&env[k++], "VAKT_METRIC=%s", ev->metric);
	xasprintf(&env[k++], "VAKT_VALUE=%.15g", ev->value);
	xasprintf(&env[k++], "VAKT_THRESHOLD=%.15g", ev->threshold);
	xasprintf(&env[k++], "VAKT_SUMMARY=%s", ev->summary);
	xasprintf(&env[k++], "VAKT_TIME=%s", when);
	env[k] = NULL;
	return env;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * The child between fork and exec. The collector has threads, so only
 * async-signal-safe calls here; everything else was prepared before fork.
 */
static void __attribute__((noreturn)) job_child(int rfd, char *const argv[], char *const envp[])
{
	static const char msg[] = "vakt notify: cannot exec /bin/sh\n";
	sigset_t none;

	setpgid(0, 0);
	if (rfd != STDIN_FILENO) {
		dup2(rfd, STDIN_FILENO); /* the copy does not inherit O_CLOEXEC */
		close(rfd);
	} else {
		fcntl(STDIN_FILENO, F_SETFD, 0);
	}
	/* an ignored SIGPIPE survives exec and would surprise the command's pipelines */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* keep agent sessions and listening sockets out of the command */
	close_range(3, ~0U, 0);
	execve("/bin/sh", argv, envp);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

static void job_close_stdin(struct job *j)
{
	if (j->wev != NULL) {
		event_free(j->wev);
		j->wev = NULL;
	}
	if (j->fd != -1) {
		close(j->fd);
		j->fd = -1;
	}
	free(j->buf);
	j->buf = NULL;
}

static void job_free(struct job *j)
{
	struct channel *ch = j->ch;

	for (int i = 0; i < ch->max_running; i++)
		if (ch->jobs[i] == j) {
			ch->jobs[i] = NULL;
			ch->running--;
		}
	job_close_stdin(j);
	if (j->timer != NULL)
		event_free(j->timer);
	free(j);
}

static void job_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	while (j->off < j->len) {
		ssize_t w = write(j->fd, j->buf + j->off, j->len - j->off);

		if (w > 0) {
			j->off += (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* the pipe is full: wait for the next EV_WRITE */
		/* EPIPE: the command does not read its stdin; that is its business */
		if (w == -1 && errno == EPIPE)
			log_debug("notify exec \"%s\": pid %d closed its stdin unread", j->ch->name,
				  (int)j->pid);
		else
			log_warn("notify exec \"%s\": writing to pid %d", j->ch->name, (int)j->pid);
		break;
	}
	job_close_stdin(j);
}

static void job_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct channel *ch = j->ch;
	struct timeval grace = {NOTIFY_KILL_GRACE_S, 0};

	if (j->signalled == 0) {
		log_warnx("notify exec \"%s\": command timed out after %d s, killed", ch->name,
			  ch->timeout_s);
		ch->st.timed_out++;
		j->signalled = SIGTERM;
		kill(-j->pid, SIGTERM);
		evtimer_add(j->timer, &grace);
	} else {
		log_warnx("notify exec \"%s\": pid %d still running %d s after SIGTERM, sending "
			  "SIGKILL",
			  ch->name, (int)j->pid, NOTIFY_KILL_GRACE_S);
		j->signalled = SIGKILL;
		kill(-j->pid, SIGKILL);
	}
}

/* Starts `ev`'s command in a free slot; 0, or -1 (logged and counted). */
static int job_start(struct channel *ch, const struct alert_event *ev)
{
	struct event_base *base = ch->n->base;
	struct timeval tv = {ch->timeout_s, 0};
	char *argv[] = {"sh", "-c", ch->command, NULL};
	char *json, **envp;
	struct job *j;
	int p[2], slot, saved_errno;
	pid_t pid;

	for (slot = 0; slot < ch->max_running && ch->jobs[slot] != NULL; slot++)
		;
	if (slot == ch->max_running)
		fatalx("notify exec \"%s\": no free slot", ch->name);
	if ((json = job_json(ev)) == NULL) {
		log_warnx("notify exec \"%s\": alert %" PRIu64 " cannot be encoded as JSON",
			  ch->name, ev->id);
		ch->st.failed++;
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_complain(&ch->start_complaint, NOTIFY_COMPLAIN_S,
			     "notify exec \"%s\": alert %" PRIu64 " not sent: pipe: %s", ch->name,
			     ev->id, strerror(errno));
		ch->st.failed++;
		free(json);
		return -1;
	}
	envp = job_env(ev);
	pid = fork();
	if (pid == 0)
		job_child(p[0], argv, envp);
	saved_errno = errno;
	strv_free(envp);
	close(p[0]);
	if (pid == -1) {
		log_complain(&ch->start_complaint, NOTIFY_COMPLAIN_S,
			     "notify exec \"%s\": alert %" PRIu64 " not sent: fork: %s", ch->name,
			     ev->id, strerror(saved_errno));
		ch->st.failed++;
		close(p[1]);
		free(json);
		return -1;
	}
	/* also here, so that kill(-pid) works even before the child ran */
	setpgid(pid, pid);
	fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);

	j = xcalloc(1, sizeof(*j));
	j->ch = ch;
	j->pid = pid;
	j->alert_id = ev->id;
	j->state = ev->state;
	j->fd = p[1];
	j->buf = json;
	j->len = strlen(json);
	j->wev = event_new(base, j->fd, EV_WRITE | EV_PERSIST, job_write_cb, j);
	j->timer = evtimer_new(base, job_timeout_cb, j);
	ch->jobs[slot] = j;
	ch->running++;
	ch->st.sent++;
	if (j->wev == NULL || j->timer == NULL || event_add(j->wev, NULL) == -1 ||
	    evtimer_add(j->timer, &tv) == -1) {
		/* cannot watch it: do not leave an unsupervised command behind */
		log_warnx("notify exec \"%s\": cannot add events for pid %d, killing it", ch->name,
			  (int)pid);
		ch->st.failed++;
		kill(-pid, SIGKILL);
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		job_free(j);
		return -1;
	}
	log_debug("notify exec \"%s\": alert %" PRIu64 " %s: started pid %d", ch->name, ev->id,
		  alert_state_str(ev->state), (int)pid);
	return 0;
}

static void job_done(struct job *j, int status)
{
	struct channel *ch = j->ch;
	const char *what = alert_state_str(j->state);

	if (status == -1) {
		ch->st.failed++;
		log_warnx("notify exec \"%s\": alert %" PRIu64 " %s: exit status of pid %d lost",
			  ch->name, j->alert_id, what, (int)j->pid);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && j->signalled == 0) {
		log_debug("notify exec \"%s\": alert %" PRIu64 " %s delivered (pid %d exited 0)",
			  ch->name, j->alert_id, what, (int)j->pid);
	} else if (WIFEXITED(status)) {
		ch->st.failed++;
		log_warnx("notify exec \"%s\": alert %" PRIu64 " %s: command exited with status %d",
			  ch->name, j->alert_id, what, WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		ch->st.failed++;
		if (j->signalled != 0)
			log_debug("notify exec \"%s\": alert %" PRIu64 " %s: pid %d ended by "
				  "signal %d after the timeout",
				  ch->name, j->alert_id, what, (int)j->pid, WTERMSIG(status));
		else
			log_warnx("notify exec \"%s\": alert %" PRIu64 " %s: command killed by "
				  "signal %d",
				  ch->name, j->alert_id, what, WTERMSIG(status));
	}
	job_free(j);
}

/*
 * Reaps this channel's finished commands. waitpid() by pid, never -1: other
 * parts of the collector may have children of their own.
 */
static void channel_reap(struct channel *ch)
{
	for (int i = 0; ch->jobs != NULL && i < ch->max_running; i++) {
		struct job *j = ch->jobs[i];
		int status;
		pid_t r;

		if (j == NULL)
			continue;
		do
			r = waitpid(j->pid, &status, WNOHANG);
		while (r == -1 && errno == EINTR);
		if (r == 0)
			continue;
		if (r == -1) {
			log_warn("notify exec \"%s\": waitpid %d", ch->name, (int)j->pid);
			status = -1;
		}
		job_done(j, status);
	}
}

static void notify_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct notify *n = arg;

	for (size_t i = 0; i < n->nch; i++) {
		if (n->ch[i]->kind != CHANNEL_EXEC)
			continue;
		channel_reap(n->ch[i]);
		channel_start_queued(n->ch[i]);
	}
}

static void channel_enqueue(struct channel *ch, const struct alert_event *ev)
{
	if (ch->queue == NULL)
		ch->queue = xcalloc(NOTIFY_QUEUE_MAX, sizeof(*ch->queue));
	if (ch->qlen == NOTIFY_QUEUE_MAX) {
		const struct alert_event *old = &ch->queue[ch->qhead];

		ch->st.dropped++;
		log_complain(&ch->drop_complaint, NOTIFY_COMPLAIN_S,
			     "notify exec \"%s\": queue full (%d waiting), dropped alert %" PRIu64
			     " %s (rule %s); %" PRIu64 " dropped in all",
			     ch->name, NOTIFY_QUEUE_MAX, old->id, alert_state_str(old->state),
			     old->rule, ch->st.dropped);
		ch->qhead = (ch->qhead + 1) % NOTIFY_QUEUE_MAX;
		ch->qlen--;
	}
	ch->queue[(ch->qhead + ch->qlen) % NOTIFY_QUEUE_MAX] = *ev;
	ch->qlen++;
}

static void channel_start_queued(struct channel *ch)
{
	while (ch->qlen > 0 && ch->running < (unsigned)ch->max_running) {
		struct alert_event ev = ch->queue[ch->qhead];

		ch->qhead = (ch->qhead + 1) % NOTIFY_QUEUE_MAX;
		ch->qlen--;
		job_start(ch, &ev);
	}
}

void notify_send(struct notify *n, const char *channel, const struct alert_event *ev)
{
	struct channel *ch = channel_find(n, channel);

	if (ch == NULL) {
		/* rules are checked against the channels at load time; this is a bug */
		log_warnx("notify: no channel \"%s\" for alert %" PRIu64 " (rule %s)", channel,
			  ev->id, ev->rule);
		return;
	}
	if (ch->kind == CHANNEL_LOG) {
		channel_log(ch, ev);
		return;
	}
	/* first in, first out: a new event never overtakes queued ones */
	if (ch->qlen == 0 && ch->running < (unsigned)ch->max_running)
		job_start(ch, ev);
	else
		channel_enqueue(ch, ev);
}
