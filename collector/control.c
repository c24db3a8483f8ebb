/*
 * control.c - answers vaktctl on the control socket: "status", "flush" for
 * readers that need the RRD files current, and "forget" for an agent gone
 * for good; ack, silence and reload come with the alerting issue. Never
 * blocks: what the store's writer does (flush, forget) is answered when it
 * is done, and answers are written through a bufferevent. Clients are
 * bounded in total and per user, and each has one deadline from accept to
 * answer, so slow or stuck clients can never keep an operator's vaktctl out
 * for long.
 */
#include "control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "alert.h"
#include "log.h"
#include "series_wire.h"
#include "session.h"
#include "store_rrd.h"
#include "timeutil.h"
#include "watch.h"
#include "xmalloc.h"

#define CONTROL_MAX_CLIENTS 16
/* one user (a stuck script) fills at most a quarter of the slots */
#define CONTROL_MAX_PER_UID 4
/* from accept to the last byte of the answer; a status takes milliseconds */
#define CONTROL_DEADLINE_S 5
/*
 * A request with the store's writer (flush, forget) may wait for it this
 * long: a flush of every file, behind a queue of batches, takes a while.
 * The client is ours to answer then, not a stuck one. vaktctl waits longer.
 */
#define CONTROL_WRITER_S 50
#define CONTROL_MAX_LINE 256
/* a refusal is logged once, then counted */
#define CONTROL_COMPLAIN_S 60

struct control_client {
	TAILQ_ENTRY(control_client) entry;
	struct control *ctl;
	struct bufferevent *bev;
	struct event *deadline;
	uid_t uid;
	int done;
	struct store_req *req;            /* a request with the store's writer, not answered yet */
	char names[2 * CONTROL_MAX_LINE]; /* forget: "site\0agent" */
	int forgot;                       /* forget: the watch knew the agent */
};

struct control {
	struct collector *c;
	struct evconnlistener *l;
	char *path;
	TAILQ_HEAD(, control_client) clients;
	int nclients;
	struct complaint refused, timed_out;
};

static void client_free(struct control_client *cl)
{
	TAILQ_REMOVE(&cl->ctl->clients, cl, entry);
	cl->ctl->nclients--;
	if (cl->req != NULL)
		store_req_cancel(cl->ctl->c->store, cl->req);
	if (cl->deadline != NULL)
		event_free(cl->deadline);
	bufferevent_free(cl->bev);
	free(cl);
}

static void active_alert_line(const struct alert_event *ev, void *arg)
{
	struct evbuffer *out = arg;

	evbuffer_add_printf(out, "  #%llu %s: %s (rule %s, value %g)\n", (unsigned long long)ev->id,
			    alert_state_str(ev->state), ev->summary, ev->rule, ev->value);
}

static void agent_line(const struct watch_agent *a, void *arg)
{
	struct evbuffer *out = arg;

	evbuffer_add_printf(out, "  site \"%s\" agent \"%s\": %s, last heard %.0f s ago", a->site,
			    a->agent,
			    a->down           ? "DOWN"
			    : a->sessions > 0 ? "connected"
					      : "disconnected",
			    mono_now() - a->last_seen);
	if (a->have_offset)
		evbuffer_add_printf(out, ", clock %+.1f s", (double)a->clock_offset_ms / 1000.0);
	evbuffer_add_printf(out,
			    ", %llu clock steps, %llu duplicates, %llu batches redelivered, %llu "
			    "refused as ahead, %llu rejected, %llu quarantined, %llu refused by "
			    "limits, %llu batches sent in parts (over max_frame)\n",
			    (unsigned long long)a->clock_steps, (unsigned long long)a->duplicates,
			    (unsigned long long)a->redelivered, (unsigned long long)a->ahead,
			    (unsigned long long)a->rejected, (unsigned long long)a->quarantined,
			    (unsigned long long)a->refused, (unsigned long long)a->parts);
}

static void quarantine_line(const struct store_quarantine *q, void *arg)
{
	struct evbuffer *out = arg;
	struct tm tm;
	char since[32];

	localtime_r(&q->since, &tm);
	strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
	evbuffer_add_printf(out,
			    "  quarantined %s: %s failed: %s (since %s, %llu samples dropped)\n",
			    q->path, q->op, q->reason, since, (unsigned long long)q->dropped);
}

/* The store's lines of the status: counters, then every quarantined file. */
static void store_status(struct store *store, struct evbuffer *out)
{
	struct store_stats st;

	store_get_stats(store, &st);
	evbuffer_add_printf(out,
			    "store: %llu batches, %llu samples written, %llu duplicates, %llu "
			    "rejected, %llu quarantined, %llu refused, %llu not stored yet, "
			    "%llu files created, %llu grown, %zu queued (%zu bytes)\n",
			    (unsigned long long)st.batches, (unsigned long long)st.samples,
			    (unsigned long long)st.duplicates, (unsigned long long)st.rejected,
			    (unsigned long long)st.quarantined, (unsigned long long)st.refused,
			    (unsigned long long)st.failed, (unsigned long long)st.files_created,
			    (unsigned long long)st.files_grown, st.queued, st.queued_bytes);
	evbuffer_add_printf(out,
			    "journal: %llu commits, %llu bytes, %llu batches redelivered, %llu "
			    "records replayed at start\n",
			    (unsigned long long)st.journal_commits,
			    (unsigned long long)st.journal_bytes,
			    (unsigned long long)st.redelivered, (unsigned long long)st.replayed);
	evbuffer_add_printf(
	    out, "cache: %zu files, %zu values, %zu bytes waiting; %llu rrd updates\n",
	    st.cache_files, st.cache_values, st.cache_bytes, (unsigned long long)st.updates);
	evbuffer_add_printf(out, "series index: %zu files, %zu series, %zu files quarantined\n",
			    st.files, st.series, st.files_quarantined);
	store_foreach_quarantined(store, quarantine_line, out);
}

static void status(struct control *ctl, struct evbuffer *out)
{
	struct watch_stats ws;
	struct collector *c = ctl->c;
	struct alert_stats as;
	struct session *s;

	evbuffer_add_printf(out, "vakt-collector %s, up %.0f s, config %s\n", VAKT_VERSION,
			    mono_now() - c->started, c->conf->path);
	evbuffer_add_printf(out, "data_dir %s, step %u s\n", c->conf->data_dir, c->conf->step);
	store_status(c->store, out);
	evbuffer_add_printf(out, "sessions: %zu\n", c->nsessions);
	TAILQ_FOREACH(s, &c->sessions, entry)
	evbuffer_add_printf(
	    out,
	    "  %s site \"%s\" agent \"%s\" %s, %llu batches, %llu samples, %u series defined, "
	    "%.0f s, %s%s%s\n",
	    s->peer, s->site ? s->site : "-", s->agent ? s->agent : "-",
	    session_state_str(s->state), (unsigned long long)s->batches,
	    (unsigned long long)s->samples, s->rx != NULL ? series_rx_defined(s->rx) : 0,
	    mono_now() - s->since, s->tls ? "TLS" : "PLAINTEXT",
	    s->cert_subject ? " certificate " : "", s->cert_subject ? s->cert_subject : "");
	watch_get_stats(c->watch, &ws);
	evbuffer_add_printf(out, "agents: %zu, %zu down\n", ws.agents, ws.agents_down);
	watch_foreach_agent(c->watch, agent_line, out);
	evbuffer_add_printf(out,
			    "watch: %zu files (%zu silent), %zu checks (%zu failing), %llu not "
			    "watched\n",
			    ws.files, ws.files_silent, ws.checks, ws.checks_failing,
			    (unsigned long long)ws.ignored);
	alert_engine_stats(c->alert, &as);
	evbuffer_add_printf(out, "alerts: %zu rules, %zu series, %llu transitions, %zu firing\n",
			    as.rules, as.series, (unsigned long long)as.transitions, as.firing);
	alert_engine_foreach_active(c->alert, active_alert_line, out);
}

/* The store's writer is through with a client's request: the answer goes out. */
static void answer(struct control_client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void answer(struct control_client *cl, const char *fmt, ...)
{
	va_list ap;

	cl->req = NULL;
	cl->done = 1;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(cl->bev), fmt, ap);
	va_end(ap);
}

static void flush_done(int rc, const char *why, void *arg)
{
	if (rc < 0)
		answer(arg, "error: flush: %s\n", why);
	else
		answer(arg, "flushed %d files\n", rc);
}

/*
 * Writes the cached values of one file (its path as the status and the
 * files show it) or of all, so that a reader sees them now. The writer
 * thread does it; the client hears once it is done, the loop goes on.
 */
static void flush(struct control_client *cl, const char *path)
{
	cl->req = store_flush_async(cl->ctl->c->store, path, flush_done, cl);
}

static void forget_done(int rc, const char *why, void *arg)
{
	struct control_client *cl = arg;
	const char *site = cl->names, *agent = cl->names + strlen(cl->names) + 1;

	if (rc < 0)
		answer(cl, "error: forget: %s\n", why);
	else if (rc == 0 && !cl->forgot)
		answer(cl, "error: forget: site \"%s\" has no agent \"%s\"\n", site, agent);
	else
		answer(cl, "forgot agent \"%s\" of site \"%s\"\n", agent, site);
}

/*
 * "forget SITE\tAGENT": an agent gone for good (or a name made up) is no
 * longer watched, its alerts are resolved with a note, and the store drops
 * its streams and that it sent data, so a restart does not bring it back.
 * An agent with a session is refused: it would only come back.
 */
static void forget(struct control_client *cl, const char *args)
{
	struct collector *c = cl->ctl->c;
	const char *tab = strchr(args, '\t');
	const struct watch_agent *a;
	char *site, *agent;

	if (strlen(args) >= sizeof(cl->names)) {
		answer(cl, "error: forget: names too long\n");
		return;
	}
	if (tab == NULL || strchr(tab + 1, '\t') != NULL || tab == args || tab[1] == '\0') {
		answer(cl, "error: forget: expected SITE and AGENT (a tab between them)\n");
		return;
	}
	snprintf(cl->names, sizeof(cl->names), "%s", args);
	site = cl->names;
	site[tab - args] = '\0';
	agent = site + (tab - args) + 1;
	a = watch_agent_find(c->watch, site, agent);
	if (a != NULL && a->sessions > 0) {
		answer(cl,
		       "error: forget: agent \"%s\" of site \"%s\" is connected (from %s): stop "
		       "it first\n",
		       agent, site, a->last_peer);
		return;
	}
	cl->forgot = watch_agent_forget(c->watch, site, agent) == 0;
	cl->req = store_forget_agent(c->store, site, agent, forget_done, cl);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;

	if (cl->done)
		client_free(cl);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	char *line;

	line = evbuffer_readln(in, NULL, EVBUFFER_EOL_ANY);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_MAX_LINE) {
			evbuffer_add_printf(out, "error: command too long\n");
			goto answer;
		}
		return;
	}
	if (strcmp(line, "status") == 0)
		status(cl->ctl, out);
	else if (strcmp(line, "flush") == 0 || strncmp(line, "flush ", 6) == 0)
		flush(cl, line[5] ? line + 6 : NULL);
	else if (strncmp(line, "forget ", 7) == 0)
		forget(cl, line + 7);
	else
		evbuffer_add_printf(
		    out, "error: unknown command \"%.64s\" (known: status, flush, forget)\n", line);
	free(line);
	/* one request a client; one with the writer is answered when it is done */
	bufferevent_disable(bev, EV_READ);
	if (cl->req == NULL) {
		cl->done = 1;
	} else {
		struct timeval tv = {CONTROL_WRITER_S, 0};

		evtimer_add(cl->deadline, &tv);
	}
	return;
answer:
	cl->done = 1;
	bufferevent_disable(bev, EV_READ);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	client_free(arg);
}

static void client_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *cl = arg;

	log_complain(&cl->ctl->timed_out, CONTROL_COMPLAIN_S,
		     "control: closed a client of uid %u: no complete request and answer within "
		     "%d s",
		     (unsigned)cl->uid, cl->req != NULL ? CONTROL_WRITER_S : CONTROL_DEADLINE_S);
	client_free(cl);
}

/*
 * Tells a refused client why (best effort: never blocks), then closes it.
 * One rate-limited line says both, so a flood of clients cannot flood the log.
 */
static void refuse(struct control *ctl, evutil_socket_t fd, uid_t uid, const char *why)
{
	char msg[128], untold[96] = "";
	int n = snprintf(msg, sizeof(msg), "refused: %s\n", why);

	if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		snprintf(untold, sizeof(untold), " (could not tell it: %s)", strerror(errno));
	evutil_closesocket(fd);
	log_complain(&ctl->refused, CONTROL_COMPLAIN_S, "control: refused a client of uid %u: %s%s",
		     (unsigned)uid, why, untold);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct control *ctl = arg;
	struct control_client *cl, *o;
	struct timeval deadline = {CONTROL_DEADLINE_S, 0};
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	int same = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0) {
		log_warn("control: cannot read the peer's credentials");
		evutil_closesocket(fd);
		return;
	}
	TAILQ_FOREACH(o, &ctl->clients, entry)
	same += o->uid == cred.uid;
	if (same >= CONTROL_MAX_PER_UID) {
		refuse(ctl, fd, cred.uid, "too many control clients of this user");
		return;
	}
	if (ctl->nclients >= CONTROL_MAX_CLIENTS) {
		refuse(ctl, fd, cred.uid, "too many control clients");
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->ctl = ctl;
	cl->uid = cred.uid;
	cl->bev = bufferevent_socket_new(ctl->c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	cl->deadline = evtimer_new(ctl->c->base, client_deadline_cb, cl);
	if (cl->bev == NULL || cl->deadline == NULL || evtimer_add(cl->deadline, &deadline) < 0 ||
	    bufferevent_enable(cl->bev, EV_READ | EV_WRITE) < 0) {
		log_warnx("control: cannot set up a client of uid %u: refused", (unsigned)cred.uid);
		if (cl->deadline != NULL)
			event_free(cl->deadline);
		if (cl->bev != NULL)
			bufferevent_free(cl->bev);
		else
			evutil_closesocket(fd);
		free(cl);
		return;
	}
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
	TAILQ_INSERT_TAIL(&ctl->clients, cl, entry);
	ctl->nclients++;
}

struct control *control_new(struct collector *c, const char *path)
{
	struct control *ctl;
	struct sockaddr_un sun;
	mode_t old;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control: socket path %s is too long", path);
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	unlink(path); /* a stale socket from a previous run */
	ctl = xcalloc(1, sizeof(*ctl));
	TAILQ_INIT(&ctl->clients);
	ctl->c = c;
	ctl->path = xstrdup(path);
	old = umask(0117); /* owner and group only: the socket answers without a password */
	ctl->l = evconnlistener_new_bind(c->base, accept_cb, ctl,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					 (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (ctl->l == NULL) {
		log_warn("control: cannot listen on %s", path);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	log_info("control socket %s", path);
	return ctl;
}

void control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	while (!TAILQ_EMPTY(&ctl->clients))
		client_free(TAILQ_FIRST(&ctl->clients));
	evconnlistener_free(ctl->l);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
