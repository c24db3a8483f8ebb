/*
 * control.c - answers vaktctl on the control socket. Only "status" for now;
 * ack, silence and reload come with the alerting issue. Never blocks: the
 * answer is written through a bufferevent and the client is bounded in count.
 */
#include "control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "alert.h"
#include "log.h"
#include "session.h"
#include "store_rrd.h"
#include "timeutil.h"
#include "xmalloc.h"

#define CONTROL_MAX_CLIENTS 16
#define CONTROL_MAX_LINE    256

struct control_client {
	TAILQ_ENTRY(control_client) entry;
	struct control *ctl;
	struct bufferevent *bev;
	int done;
};

struct control {
	struct collector *c;
	struct evconnlistener *l;
	char *path;
	TAILQ_HEAD(, control_client) clients;
	int nclients;
};

static void client_free(struct control_client *cl)
{
	TAILQ_REMOVE(&cl->ctl->clients, cl, entry);
	cl->ctl->nclients--;
	bufferevent_free(cl->bev);
	free(cl);
}

static void active_alert_line(const struct alert_event *ev, void *arg)
{
	struct evbuffer *out = arg;

	evbuffer_add_printf(out, "  #%llu %s: %s (rule %s, value %g)\n", (unsigned long long)ev->id,
			    alert_state_str(ev->state), ev->summary, ev->rule, ev->value);
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
	evbuffer_add_printf(out, "series index: %zu files, %zu series, %zu files quarantined\n",
			    st.files, st.series, st.files_quarantined);
	store_foreach_quarantined(store, quarantine_line, out);
}

static void status(struct control *ctl, struct evbuffer *out)
{
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
	    out, "  %s site \"%s\" agent \"%s\" %s, %llu batches, %llu samples, %.0f s\n", s->peer,
	    s->site ? s->site : "-", s->agent ? s->agent : "-", session_state_str(s->state),
	    (unsigned long long)s->batches, (unsigned long long)s->samples, mono_now() - s->since);
	alert_engine_stats(c->alert, &as);
	evbuffer_add_printf(out, "alerts: %zu rules, %zu series, %llu transitions, %zu firing\n",
			    as.rules, as.series, (unsigned long long)as.transitions, as.firing);
	alert_engine_foreach_active(c->alert, active_alert_line, out);
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
	else
		evbuffer_add_printf(out, "error: unknown command \"%.64s\" (known: status)\n",
				    line);
	free(line);
answer:
	cl->done = 1;
	bufferevent_disable(bev, EV_READ);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	client_free(arg);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct control *ctl = arg;
	struct control_client *cl;
	struct timeval tv = {5, 0};

	if (ctl->nclients >= CONTROL_MAX_CLIENTS) {
		evutil_closesocket(fd);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->ctl = ctl;
	cl->bev = bufferevent_socket_new(ctl->c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
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
