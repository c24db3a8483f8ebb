/*
 * session.c - agent sessions on the collector (see session.h).
 * Validates everything that comes off the wire before using it; a bad frame
 * ends the session, a bad sample is counted and skipped, the rest is kept.
 */
#include "session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "frame.h"
#include "ingest.h"
#include "log.h"
#include "sample.h"
#include "store_rrd.h"
#include "timeutil.h"
#include "watch.h"
#include "xmalloc.h"

#define SESSION_HELLO_TIMEOUT 10 /* seconds */
/*
 * Answers (acks, heartbeats) one session may have waiting to be sent before
 * it stops reading: a peer that writes but never reads would otherwise grow
 * the collector's memory without bound. Reading resumes once they are sent.
 */
#define SESSION_OUT_MAX (64 * 1024)
/* Heartbeats an agent may miss before its session is closed as dead. */
#define SESSION_HEARTBEATS_MISSED 3

static void session_read_cb(struct bufferevent *bev, void *arg);

const char *session_state_str(enum session_state s)
{
	switch (s) {
	case SESSION_HELLO:
		return "hello";
	case SESSION_ACTIVE:
		return "active";
	case SESSION_CLOSING:
		return "closing";
	}
	return "unknown";
}

static void session_set_state(struct session *s, enum session_state st)
{
	if (s->state == st)
		return;
	log_debug("session %s: %s -> %s", s->peer, session_state_str(s->state),
		  session_state_str(st));
	s->state = st;
}

/*
 * Reading stops (1) or goes on (0) because the store is behind; the watch
 * hears of it, so that an agent held back by the collector is not "down".
 */
static void set_paused(struct session *s, int paused)
{
	if (s->paused == paused)
		return;
	s->paused = paused;
	if (s->wa != NULL)
		watch_agent_held(s->c->watch, s->wa, paused);
}

void session_free(struct session *s)
{
	set_paused(s, 0);
	if (s == NULL)
		return;
	TAILQ_REMOVE(&s->c->sessions, s, entry);
	if (s->wa != NULL)
		watch_agent_closed(s->c->watch, s->wa, s->peer, "collector shut down");
	s->c->nsessions--;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s->site);
	free(s->agent);
	free(s->software);
	free(s);
}

static void session_end(struct session *s, const char *why)
{
	set_paused(s, 0);
	if (s->wa != NULL) {
		watch_agent_closed(s->c->watch, s->wa, s->peer, why);
		s->wa = NULL;
	}
	if (s->site != NULL)
		log_info("session %s (site \"%s\", agent \"%s\"): closed: %s; %llu batches, %llu "
			 "samples",
			 s->peer, s->site, s->agent, why, (unsigned long long)s->batches,
			 (unsigned long long)s->samples);
	else if (evbuffer_get_length(bufferevent_get_input(s->bev)) == 0 &&
		 s->state == SESSION_HELLO)
		/* a TCP health check or port scan: worth a line only when debugging */
		log_debug("session %s: closed before hello: %s", s->peer, why);
	else
		log_info("session %s: closed before hello: %s", s->peer, why);
	session_free(s);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (s->state == SESSION_CLOSING) {
		session_end(s, "refused");
		return;
	}
	if (s->out_full) {
		log_debug("session %s: answers sent, reading again", s->peer);
		s->out_full = 0;
		if (!s->paused) {
			bufferevent_enable(bev, EV_READ);
			session_read_cb(bev, s);
		}
	}
}

/* Sends an Error to the agent, then closes once it is written. */
static void session_refuse(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void session_refuse(struct session *s, const char *fmt, ...)
{
	Vakt__Error e = VAKT__ERROR__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("session %s: %s", s->peer, msg);
	e.message = msg;
	f.msg_case = VAKT__FRAME__MSG_ERROR;
	f.error = &e;
	frame_write(bufferevent_get_output(s->bev), &f, s->c->conf->max_frame);
	bufferevent_disable(s->bev, EV_READ);
	/* session_write_cb ends the session once the Error is written */
	session_set_state(s, SESSION_CLOSING);
}

static int name_ok(const char *n, int may_be_empty)
{
	size_t len = strlen(n);

	if (len == 0)
		return may_be_empty;
	if (len > SAMPLE_NAME_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)n; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/*
 * Makes text from the wire that is only shown to people (a reason, a
 * software name) safe for a log line or a page: control characters become
 * '?', so a peer cannot start a line of its own, and it is cut at max bytes
 * on a character boundary.
 */
static void text_clean(char *t, size_t max)
{
	size_t n = strlen(t);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
			n--; /* not inside a UTF-8 sequence */
		t[n] = '\0';
	}
	for (unsigned char *p = (unsigned char *)t; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void handle_hello(struct session *s, Vakt__Hello *h)
{
	Vakt__HelloAck a = VAKT__HELLO_ACK__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;
	struct timeval idle = {0, 0};
	char sw[64];

	if (h->protocol != VAKT_PROTOCOL) {
		session_refuse(s, "protocol version %u not supported (this collector speaks %u)",
			       h->protocol, VAKT_PROTOCOL);
		return;
	}
	if (!name_ok(h->site, 0) || !name_ok(h->agent, 0)) {
		session_refuse(s, "hello with an invalid site or agent name");
		return;
	}
	s->site = xstrdup(h->site);
	s->agent = xstrdup(h->agent);
	text_clean(h->software, SAMPLE_NAME_MAX);
	s->software = xstrdup(h->software);
	snprintf(sw, sizeof(sw), "vakt-collector %s", VAKT_VERSION);
	a.protocol = VAKT_PROTOCOL;
	a.software = sw;
	a.max_frame = s->c->conf->max_frame;
	a.time_ms = wall_now_ms();
	a.heartbeat = s->c->conf->heartbeat;
	/* where the agent's stream resumes: what the store holds durably */
	s->stream = h->stream;
	a.acked = store_stream_acked(s->c->store, s->site, s->agent, s->stream);
	if (s->stream != 0)
		log_info("session %s: stream %016llx of agent \"%s\" resumes after batch %llu",
			 s->peer, (unsigned long long)s->stream, h->agent,
			 (unsigned long long)a.acked);
	f.msg_case = VAKT__FRAME__MSG_HELLO_ACK;
	f.hello_ack = &a;
	frame_write(bufferevent_get_output(s->bev), &f, s->c->conf->max_frame);
	/* an agent sends at least a heartbeat when idle: one that stays silent is gone */
	idle.tv_sec = (time_t)SESSION_HEARTBEATS_MISSED *
		      (s->c->conf->heartbeat ? s->c->conf->heartbeat : 10);
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	session_set_state(s, SESSION_ACTIVE);
	log_info("session %s: site \"%s\", agent \"%s\" (%s), plaintext", s->peer, s->site,
		 s->agent, s->software);
	s->wa = watch_agent_hello(s->c->watch, s->site, s->agent, s->peer);
	watch_agent_clock(s->c->watch, s->wa, h->time_ms);
}

/* An idle agent's sign of life: note it and answer with the collector's clock. */
static void handle_heartbeat(struct session *s, const Vakt__Heartbeat *hb)
{
	Vakt__Heartbeat a = VAKT__HEARTBEAT__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;

	watch_agent_seen(s->c->watch, s->wa);
	watch_agent_clock(s->c->watch, s->wa, hb->time_ms);
	a.time_ms = wall_now_ms();
	f.msg_case = VAKT__FRAME__MSG_HEARTBEAT;
	f.heartbeat = &a;
	frame_write(bufferevent_get_output(s->bev), &f, s->c->conf->max_frame);
}

/*
 * A sample stamped further ahead than the collector's clock plus the
 * allowed skew is refused: rrdtool never takes an update older than a
 * file's last one, so one sample from an agent whose clock runs ahead would
 * hide that file's real data until then.
 */
static int sample_ok(const Vakt__Sample *x)
{
	return name_ok(x->host, 0) && name_ok(x->check, 0) && name_ok(x->instance, 1) &&
	       name_ok(x->metric, 0) && x->time_ms > 0 &&
	       (x->kind == VAKT__KIND__GAUGE || x->kind == VAKT__KIND__COUNTER ||
		x->kind == VAKT__KIND__DERIVE);
}

static int result_ok(const Vakt__Result *r)
{
	return name_ok(r->host, 0) && name_ok(r->check, 0) && name_ok(r->instance, 1) &&
	       r->time_ms > 0 && r->outcome >= VAKT__OUTCOME__OUTCOME_OK &&
	       r->outcome <= VAKT__OUTCOME__OUTCOME_ERROR;
}

/* Logs, once per agent and incident, samples stamped too far ahead. */
static void note_ahead(struct session *s, uint64_t seq, size_t n, int64_t worst_ms)
{
	s->ahead_samples += n;
	if (s->wa != NULL)
		s->wa->ahead += n;
	log_complain(&s->ahead, 300,
		     "session %s (site \"%s\", agent \"%s\"): batch %llu: %zu samples stamped "
		     "up to %.1f s ahead of the collector's clock refused (more than %u s): is "
		     "the agent's clock right?",
		     s->peer, s->site, s->agent, (unsigned long long)seq, n,
		     (double)worst_ms / 1000.0, s->c->conf->max_clock_skew);
}

/* 1 when time_ms lies beyond latest: counted, and the worst offset kept. */
static int refuse_ahead(int64_t time_ms, int64_t latest, int64_t now, size_t *ahead, int64_t *worst)
{
	if (time_ms <= latest)
		return 0;
	(*ahead)++;
	if (time_ms - now > *worst)
		*worst = time_ms - now;
	return 1;
}

/*
 * Decodes a wire batch into Vakt's own types at this edge, skipping what is
 * invalid (counted and logged once), and hands it to the one ingest path.
 */
static void handle_batch(struct session *s, Vakt__Frame *f)
{
	Vakt__Batch *pb = f->batch;
	int64_t now = wall_now_ms();
	int64_t latest = now + (int64_t)s->c->conf->max_clock_skew * 1000, worst = 0;
	struct sample_batch *b;
	struct check_result *res;
	size_t nres = 0, ahead = 0, invalid = 0;

	if (pb->seq <= s->last_seq)
		log_warnx("session %s (site \"%s\"): batch %llu after %llu: sequence went back",
			  s->peer, s->site, (unsigned long long)pb->seq,
			  (unsigned long long)s->last_seq);
	s->last_seq = pb->seq;
	b = sample_batch_new(s->site, s->agent, s->id, pb->seq,
			     pb->n_samples + 2 * pb->n_results + 1);
	b->stream = s->stream;
	for (size_t i = 0; i < pb->n_samples; i++) {
		const Vakt__Sample *x = pb->samples[i];
		struct sample *y;

		if (!sample_ok(x)) {
			invalid++;
			continue;
		}
		if (refuse_ahead(x->time_ms, latest, now, &ahead, &worst))
			continue;
		y = sample_batch_add(b, x->host, x->check, x->instance, x->metric);
		y->time_ms = x->time_ms;
		y->kind = (enum sample_kind)x->kind;
		y->value = x->value;
		y->counter = x->counter;
		y->interval = x->interval;
		y->width = x->width ? x->width : 64;
		y->unknown = x->unknown;
	}
	res = xcalloc(pb->n_results + 1, sizeof(*res));
	for (size_t i = 0; i < pb->n_results; i++) {
		Vakt__Result *x = pb->results[i];
		struct check_result *y = &res[nres];

		if (!result_ok(x)) {
			invalid++;
			continue;
		}
		if (refuse_ahead(x->time_ms, latest, now, &ahead, &worst))
			continue;
		y->host = x->host;
		y->check = x->check;
		y->instance = x->instance;
		y->time_ms = x->time_ms;
		y->outcome = (enum outcome)x->outcome;
		text_clean(x->reason, SAMPLE_REASON_MAX);
		y->reason = x->reason;
		y->interval = x->interval;
		y->duration_ms = x->duration_ms;
		nres++;
	}
	if (ahead > 0)
		note_ahead(s, pb->seq, ahead, worst);
	if (invalid > 0) {
		s->bad_samples += invalid;
		log_complain(&s->invalid, 300,
			     "session %s (site \"%s\"): batch %llu: %zu invalid samples skipped",
			     s->peer, s->site, (unsigned long long)pb->seq, invalid);
	}
	s->batches++;
	s->samples += b->n;
	if (s->wa != NULL)
		watch_agent_seen(s->c->watch, s->wa);
	/* the session pauses reading before the store fills, so this is not refused */
	ingest_batch(s->c, b, res, nres);
	free(res);
	vakt__frame__free_unpacked(f, NULL);
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (s->state != SESSION_CLOSING) {
		Vakt__Frame *f;
		uint32_t len;
		enum frame_status st;

		if (evbuffer_get_length(bufferevent_get_output(bev)) > SESSION_OUT_MAX) {
			/* the peer does not read its answers: wait for it (or the write timeout) */
			if (!s->out_full)
				log_debug("session %s: %zu bytes of answers unread, pausing",
					  s->peer,
					  evbuffer_get_length(bufferevent_get_output(bev)));
			s->out_full = 1;
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if (s->state == SESSION_ACTIVE && store_full(s->c->store)) {
			/* back-pressure: stop reading until the writer catches up */
			if (!s->paused)
				log_debug("session %s: store queue full, pausing", s->peer);
			set_paused(s, 1);
			bufferevent_disable(bev, EV_READ);
			return;
		}
		st = frame_read(in, s->c->conf->max_frame, &f, &len);
		if (st == FRAME_NEED_MORE)
			return;
		if (st != FRAME_OK) {
			s->c->frames_bad++;
			session_refuse(s, "%s (length %u, maximum %u)", frame_status_str(st), len,
				       s->c->conf->max_frame);
			return;
		}
		if (s->state == SESSION_HELLO) {
			if (f->msg_case == VAKT__FRAME__MSG_HELLO)
				handle_hello(s, f->hello);
			else
				session_refuse(s, "expected hello, got message %d", f->msg_case);
			vakt__frame__free_unpacked(f, NULL);
			continue;
		}
		switch (f->msg_case) {
		case VAKT__FRAME__MSG_BATCH:
			handle_batch(s, f); /* frees f */
			break;
		case VAKT__FRAME__MSG_HEARTBEAT:
			handle_heartbeat(s, f->heartbeat);
			vakt__frame__free_unpacked(f, NULL);
			break;
		case VAKT__FRAME__MSG_HELLO:
			session_refuse(s, "second hello on one session");
			vakt__frame__free_unpacked(f, NULL);
			break;
		default:
			/* a newer agent's message this collector does not know: ignore */
			log_debug("session %s: ignoring message %d", s->peer, f->msg_case);
			vakt__frame__free_unpacked(f, NULL);
			break;
		}
	}
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_EOF)
		session_end(s, "agent closed the connection");
	else if ((what & BEV_EVENT_TIMEOUT) && s->state == SESSION_HELLO)
		session_end(s, "no hello within 10 s");
	else if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING))
		session_end(s, "the agent reads nothing we send");
	else if (what & BEV_EVENT_TIMEOUT)
		session_end(s, "nothing heard for three heartbeats");
	else
		session_end(s, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

void session_store_done(const void *result, void *arg)
{
	const struct store_result *r = result;
	struct collector *c = arg;
	struct session *s;

	TAILQ_FOREACH(s, &c->sessions, entry)
	if (s->id == r->session_id)
		break;
	if (r->rejected > 0)
		log_debug("store: batch %llu: %u rejected", (unsigned long long)r->seq,
			  r->rejected);
	if (s != NULL && s->wa != NULL) {
		s->wa->duplicates += r->duplicates;
		s->wa->redelivered += (uint64_t)r->redelivered;
		s->wa->rejected += r->rejected;
		s->wa->quarantined += r->quarantined;
		s->wa->refused += r->refused;
	}
	if (s != NULL && s->state == SESSION_ACTIVE && r->failed > 0) {
		/*
		 * Not durable, so no ack; and no later ack either, since an ack covers
		 * every batch before it. Ending the session makes the agent send
		 * this batch and all after it again once it reconnects.
		 */
		session_refuse(s,
			       "batch %llu: %u samples cannot be stored now (%s); send again later",
			       (unsigned long long)r->seq, r->failed, r->why);
	} else if (s != NULL && s->state == SESSION_ACTIVE) {
		Vakt__Ack a = VAKT__ACK__INIT;
		Vakt__Frame f = VAKT__FRAME__INIT;

		a.seq = r->seq;
		f.msg_case = VAKT__FRAME__MSG_ACK;
		f.ack = &a;
		frame_write(bufferevent_get_output(s->bev), &f, c->conf->max_frame);
	}
	session_resume_all(c);
}

void session_resume_all(struct collector *c)
{
	struct session *s, *next;

	for (s = TAILQ_FIRST(&c->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (!s->paused || store_full(c->store))
			continue;
		set_paused(s, 0);
		if (s->out_full)
			continue; /* session_write_cb resumes it */
		bufferevent_enable(s->bev, EV_READ);
		/* frames already buffered would otherwise wait for new bytes */
		session_read_cb(s->bev, s);
	}
}

void session_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		    void *arg)
{
	struct collector *c = arg;
	struct session *s;
	struct timeval tv = {SESSION_HELLO_TIMEOUT, 0};
	char addr[INET6_ADDRSTRLEN] = "?";
	int port = 0, one = 1;

	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		port = ntohs(sin6->sin6_port);
	}
	if (c->nsessions >= c->conf->max_sessions) {
		c->sessions_refused++;
		log_warnx("listener: %s:%d refused: %zu sessions open (max_sessions)", addr, port,
			  c->nsessions);
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	s = xcalloc(1, sizeof(*s));
	s->c = c;
	s->id = ++c->next_session_id;
	s->since = mono_now();
	snprintf(s->peer, sizeof(s->peer), sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr,
		 port);
	s->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	/* read at most two frames ahead: a slow store slows the agent, not our memory */
	bufferevent_setwatermark(s->bev, EV_READ, 0, 2 * ((size_t)c->conf->max_frame + 4));
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&c->sessions, s, entry);
	c->nsessions++;
	log_debug("session %s: connected", s->peer);
}
