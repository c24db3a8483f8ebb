/*
 * session.c - agent sessions on the collector (see session.h).
 * Validates everything that comes off the wire before using it; a bad frame
 * ends the session, a bad sample is counted and skipped, the rest is kept.
 * Whatever a peer sends, what its session costs is bounded: time before
 * hello and per frame, bytes buffered (also across sessions), batches in
 * flight, sessions per address, and the log lines it causes.
 */
#include "session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "accept_pause.h"
#include "certs.h"
#include "decode.h"
#include "frame.h"
#include "ingest.h"
#include "log.h"
#include "peer.h"
#include "sample.h"
#include "series_wire.h"
#include "store_rrd.h"
#include "timeutil.h"
#include "tls.h"
#include "watch.h"
#include "xmalloc.h"

/*
 * Answers (acks, heartbeats) one session may have waiting to be sent before
 * it stops reading: a peer that writes but never reads would otherwise grow
 * the collector's memory without bound. Reading resumes once they are sent.
 */
#define SESSION_OUT_MAX (64 * 1024)
/* Heartbeats an agent may miss before its session is closed as dead. */
#define SESSION_HEARTBEATS_MISSED 3
/*
 * A frame must be complete frame_timeout seconds after its first byte, plus
 * this many seconds per started 64 KiB of its announced length, so that a
 * full 1 MiB batch may cross a slow link (about 32 kB/s) but nobody can
 * park a partial frame for long.
 */
#define SESSION_FRAME_S_PER_64K 2

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

static void session_arm(struct session *s);

static void session_set_state(struct session *s, enum session_state st)
{
	if (s->state == st)
		return;
	log_debug("session %s: %s -> %s", s->peer, session_state_str(s->state),
		  session_state_str(st));
	s->state = st;
	session_arm(s); /* the hello deadline holds in SESSION_HELLO only */
}

/* --- the index by id: a store completion finds its session in O(1) --- */

static void by_id_add(struct session *s)
{
	struct collector *c = s->c;

	if (c->by_id == NULL) {
		/* ids are consecutive and at most max_sessions live: chains stay short */
		size_t n = 16;

		while (n < c->conf->max_sessions)
			n *= 2;
		c->by_id = xcalloc(n, sizeof(*c->by_id));
		c->by_id_mask = n - 1;
	}
	s->next_id = c->by_id[s->id & c->by_id_mask];
	c->by_id[s->id & c->by_id_mask] = s;
}

static void by_id_del(struct session *s)
{
	struct session **pp = &s->c->by_id[s->id & s->c->by_id_mask];

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->next_id;
	if (*pp == s)
		*pp = s->next_id;
}

static struct session *by_id_find(struct collector *c, uint64_t id)
{
	struct session *s;

	if (c->by_id == NULL || id == 0)
		return NULL;
	for (s = c->by_id[id & c->by_id_mask]; s != NULL; s = s->next_id)
		if (s->id == id)
			return s;
	return NULL;
}

/* --- pausing --- */

/*
 * Sets the reasons reading is stopped; the watch hears when there is one,
 * so that an agent held back by the collector is not "down". A session
 * paused by the full store waits in line for its turn (collector.waiting).
 */
static void set_paused(struct session *s, int paused)
{
	int was = s->paused;

	if (was == paused)
		return;
	if ((paused & SESSION_PAUSE_STORE) && !(was & SESSION_PAUSE_STORE))
		TAILQ_INSERT_TAIL(&s->c->waiting, s, wait_entry);
	else if (!(paused & SESSION_PAUSE_STORE) && (was & SESSION_PAUSE_STORE))
		TAILQ_REMOVE(&s->c->waiting, s, wait_entry);
	s->paused = paused;
	if ((was != 0) != (paused != 0) && s->wa != NULL)
		watch_agent_held(s->c->watch, s->wa, paused != 0);
}

/* Drops one reason to pause; reads again when none is left. May end `s`. */
static void session_unpause(struct session *s, int why)
{
	set_paused(s, s->paused & ~why);
	if (s->paused || s->out_full || s->state == SESSION_CLOSING)
		return;
	bufferevent_enable(s->bev, EV_READ);
	/* frames already buffered would otherwise wait for new bytes */
	session_read_cb(s->bev, s);
}

/* --- batches in flight: handed to the store, not yet done --- */

static int inflight_full(const struct session *s)
{
	return s->inflight >= s->c->conf->max_inflight ||
	       s->inflight_bytes >= s->c->conf->max_inflight_size;
}

static void inflight_push(struct session *s, size_t len)
{
	unsigned cap = s->c->conf->max_inflight;

	/* a batch is admitted while fewer than max_inflight are out: the ring has room */
	s->inflight_len[(s->inflight_head + s->inflight) % cap] = len;
	s->inflight++;
	s->inflight_bytes += len;
}

/*
 * One completion per batch handed over, in the order handed over (the store
 * is one queue); were the order to change, the count would stay exact and
 * only the bytes would be off by the difference of the sizes.
 */
static void inflight_pop(struct session *s)
{
	if (s->inflight == 0)
		return;
	s->inflight_bytes -= s->inflight_len[s->inflight_head];
	s->inflight_head = (s->inflight_head + 1) % s->c->conf->max_inflight;
	s->inflight--;
}

/* --- deadlines and the input budget --- */

/* Seconds the frame now arriving may take, from its announced length if known. */
static double frame_allowance(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	uint8_t hdr[FRAME_HDR_LEN];
	uint32_t n;

	if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
		return s->c->conf->frame_timeout;
	n = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
	if (n > s->c->conf->max_frame)
		n = s->c->conf->max_frame;
	return s->c->conf->frame_timeout + SESSION_FRAME_S_PER_64K * (double)((n + 65535) / 65536);
}

/* Sets the timer to the earlier of the hello deadline and the frame deadline. */
static void session_arm(struct session *s)
{
	double due = 0, now;
	struct timeval tv;

	if (s->ev_deadline == NULL)
		return;
	if (s->state == SESSION_HELLO)
		due = s->hello_by;
	if (s->frame_since > 0) {
		double f = s->frame_since + frame_allowance(s) - s->frame_used;

		if (due == 0 || f < due)
			due = f;
	}
	if (due == 0) {
		event_del(s->ev_deadline);
		return;
	}
	now = mono_now();
	ms_to_timeval(due > now ? (uint64_t)((due - now) * 1000) + 1 : 0, &tv);
	event_add(s->ev_deadline, &tv);
}

static void session_end(struct session *s, const char *why, enum peer_class k);

static void session_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	double now = mono_now();
	char why[160];

	if (s->state == SESSION_HELLO && now >= s->hello_by) {
		if (s->tls && s->cert_site == NULL)
			snprintf(why, sizeof(why), "no TLS handshake within %u s",
				 s->c->conf->hello_timeout);
		else
			snprintf(why, sizeof(why), "no hello within %u s",
				 s->c->conf->hello_timeout);
	} else if (s->frame_since > 0 &&
		   now >= s->frame_since + frame_allowance(s) - s->frame_used) {
		snprintf(why, sizeof(why),
			 "frame not complete within %.0f s (%zu bytes of it came)",
			 frame_allowance(s), evbuffer_get_length(bufferevent_get_input(s->bev)));
	} else {
		session_arm(s);
		return;
	}
	s->c->sessions_expired++;
	session_end(s, why, PEER_DEADLINE);
}

/* Brings collector.input_bytes and its address's share up to date with what `s` holds now. */
static void input_account(struct session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_input(s->bev));

	s->c->input_bytes = s->c->input_bytes - s->input + n;
	s->from->input = s->from->input - s->input + n;
	s->net->input = s->net->input - s->input + n;
	s->input = n;
}

/*
 * The bytes of all sessions' input buffers share one budget
 * (input_buffer_size). Over it, sessions are closed until the rest fits,
 * taken from the network (IPv4 /24, IPv6 /64) that holds the biggest share,
 * so that spreading parked frames over many addresses of one network does
 * not help. Of that network's sessions the one whose input grew the least
 * recently goes first (then the one whose incomplete frame is the oldest):
 * a stalled frame is cut before one still coming, so agents behind one NAT
 * address lose only the sessions that stopped sending, and a slow agent
 * keeps its session while it makes progress. A session whose buffer starts
 * with whole frames waiting for the store is counted but never closed for
 * it; one whose first frame is incomplete is a candidate even while paused,
 * so a full store does not shelter parked frames.
 */
static void input_budget(struct collector *c)
{
	while (c->input_bytes > c->conf->input_buffer_size) {
		struct session *s, *victim = NULL;
		char why[256];

		TAILQ_FOREACH(s, &c->sessions, entry)
		{
			if (s->frame_first == 0)
				continue;
			if (victim == NULL || s->net->input > victim->net->input ||
			    (s->net == victim->net && (s->input_grew < victim->input_grew ||
						       (s->input_grew == victim->input_grew &&
							s->frame_first < victim->frame_first))))
				victim = s;
		}
		if (victim == NULL)
			return;
		snprintf(
		    why, sizeof(why),
		    "the sessions' input buffers hold %zu bytes, over input_buffer_size; its "
		    "network %s holds the most (%zu bytes in %u sessions), its incomplete frame "
		    "(%zu bytes) grew the least recently of them (%.1f s ago)",
		    c->input_bytes, victim->net->addr, victim->net->input, victim->net->nsessions,
		    victim->input, mono_now() - victim->input_grew);
		c->sessions_over_budget++;
		session_end(victim, why, PEER_LIMIT);
	}
}

/* --- ending --- */

void session_free(struct session *s)
{
	if (s == NULL)
		return;
	set_paused(s, 0);
	TAILQ_REMOVE(&s->c->sessions, s, entry);
	by_id_del(s);
	if (s->wa != NULL)
		watch_agent_closed(s->c->watch, s->wa, s->peer, "collector shut down");
	s->c->nsessions--;
	s->c->input_bytes -= s->input;
	if (s->from != NULL) {
		s->from->nsessions--;
		s->from->input -= s->input;
	}
	if (s->net != NULL) {
		s->net->nsessions--;
		s->net->input -= s->input;
	}
	if (s->ev_deadline != NULL)
		event_free(s->ev_deadline);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s->inflight_len);
	free(s->site);
	free(s->agent);
	free(s->software);
	if (s->rx != NULL)
		s->c->series_bytes -= series_rx_bytes(s->rx);
	series_rx_free(s->rx);
	free(s->cert_site);
	free(s->cert_subject);
	free(s);
}

/*
 * Reads and drops what the peer sent that we did not read. Closing with
 * bytes unread sends a reset instead of an end of stream, and a reset can
 * overtake our last words: in TLS 1.3 the agent sends its Hello before it
 * hears that its certificate was refused, so the alert or Error saying why
 * would be lost.
 */
static void drain_socket(struct session *s)
{
	evutil_socket_t fd = s->bev != NULL ? bufferevent_getfd(s->bev) : -1;
	char junk[4096];

	for (int i = 0; i < 16 && fd >= 0 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
}

/* Ends a session; its last line is of class `k` (PEER_SESSION: an ordinary end). */
static void session_end(struct session *s, const char *why, enum peer_class k)
{
	struct peers *t = s->c->peers;

	drain_socket(s);
	set_paused(s, 0);
	if (s->wa != NULL) {
		watch_agent_closed(s->c->watch, s->wa, s->peer, why);
		s->wa = NULL;
	}
	if (s->site != NULL)
		peer_log(t, s->from, k, k == PEER_SESSION,
			 "session %s (site \"%s\", agent \"%s\"): closed: %s; %llu batches, %llu "
			 "samples",
			 s->peer, s->site, s->agent, why, (unsigned long long)s->batches,
			 (unsigned long long)s->samples);
	else if (k == PEER_SESSION && evbuffer_get_length(bufferevent_get_input(s->bev)) == 0 &&
		 s->state == SESSION_HELLO)
		/* a TCP health check or port scan: worth a line only when debugging */
		log_debug("session %s: closed before hello: %s", s->peer, why);
	else
		peer_log(t, s->from, k, k == PEER_SESSION, "session %s: closed before hello: %s",
			 s->peer, why);
	session_free(s);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (s->state == SESSION_CLOSING) {
		session_end(s, "refused", PEER_SESSION);
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
static void session_refuse(struct session *s, enum peer_class k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void session_refuse(struct session *s, enum peer_class k, const char *fmt, ...)
{
	Vakt__Error e = VAKT__ERROR__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	peer_log(s->c->peers, s->from, k, 0, "session %s: %s", s->peer, msg);
	e.message = msg;
	f.msg_case = VAKT__FRAME__MSG_ERROR;
	f.error = &e;
	frame_write(bufferevent_get_output(s->bev), &f, s->c->conf->max_frame);
	bufferevent_disable(s->bev, EV_READ);
	/* session_write_cb ends the session once the Error is written */
	session_set_state(s, SESSION_CLOSING);
}

/* --- messages --- */

static void handle_hello(struct session *s, Vakt__Hello *h)
{
	Vakt__HelloAck a = VAKT__HELLO_ACK__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;
	struct timeval idle = {0, 0};
	struct watch_agent *known;
	char sw[64], why[160];
	size_t n;

	if (decode_hello(h, why, sizeof(why)) < 0) {
		session_refuse(s, PEER_HELLO, "%s", why);
		return;
	}
	/* a newer agent speaks the collector's version too */
	s->protocol = h->protocol < VAKT_PROTOCOL ? h->protocol : VAKT_PROTOCOL;
	if (s->protocol >= 2)
		s->rx = series_rx_new(s->c->conf->max_session_series);
	/* the certificate says which site this agent writes for, not the agent */
	if (s->cert_site != NULL && strcmp(h->site, s->cert_site) != 0) {
		session_refuse(s, PEER_HELLO,
			       "hello for site \"%s\", but the certificate is for site \"%s\"",
			       h->site, s->cert_site);
		return;
	}
	if (!collector_site_known(s->c->conf, h->site)) {
		session_refuse(s, PEER_HELLO, "site \"%s\" is not in this collector's sites",
			       h->site);
		return;
	}
	/*
	 * A site's certificate may claim any agent name, and each name is
	 * watched (and paged when silent) until forgotten: a site has a bound.
	 */
	known = watch_agent_find(s->c->watch, h->site, h->agent);
	if (known == NULL &&
	    (n = watch_site_agents(s->c->watch, h->site)) >= s->c->conf->max_agents_per_site) {
		session_refuse(s, PEER_HELLO,
			       "hello from site \"%s\", agent \"%s\": the site has %zu agents "
			       "(max_agents_per_site), no room for a new name; vaktctl forget "
			       "drops one no longer there",
			       h->site, h->agent, n);
		return;
	}
	if (known != NULL && known->sessions > 0)
		peer_log(s->c->peers, s->from, PEER_HELLO, 0,
			 "session %s: site \"%s\", agent \"%s\" is connected already from %s: "
			 "two agents with one name, or a reconnect before the old session ended",
			 s->peer, h->site, h->agent, known->last_peer);
	s->wa = watch_agent_hello(s->c->watch, h->site, h->agent, s->peer);
	if (s->wa == NULL) {
		session_refuse(s, PEER_HELLO,
			       "hello from site \"%s\", agent \"%s\": %d agents known already, no "
			       "room for a new one",
			       h->site, h->agent, WATCH_MAX_AGENTS);
		return;
	}
	s->site = xstrdup(h->site);
	s->agent = xstrdup(h->agent);
	s->software = xstrdup(h->software);
	snprintf(sw, sizeof(sw), "vakt-collector %s", VAKT_VERSION);
	a.protocol = s->protocol;
	a.software = sw;
	a.max_frame = s->c->conf->max_frame;
	a.time_ms = wall_now_ms();
	a.heartbeat = s->c->conf->heartbeat;
	/* protocol 1 defines no series: an agent of it ignores the field */
	a.max_series = s->c->conf->max_session_series;
	a.parts = 1; /* a batch larger than max_frame may come in parts */
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
	if (s->tls)
		peer_log(s->c->peers, s->from, PEER_SESSION, 1,
			 "session %s: site \"%s\", agent \"%s\" (%s), %s, certificate \"%s\"",
			 s->peer, s->site, s->agent, s->software,
			 SSL_get_version(bufferevent_openssl_get_ssl(s->bev)), s->cert_subject);
	else
		peer_log(s->c->peers, s->from, PEER_SESSION, 1,
			 "session %s: site \"%s\", agent \"%s\" (%s), PLAINTEXT", s->peer, s->site,
			 s->agent, s->software);
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

/* Logs, limited per address, samples stamped too far ahead. */
static void note_ahead(struct session *s, uint64_t seq, size_t n, int64_t worst_ms)
{
	s->ahead_samples += n;
	if (s->wa != NULL)
		s->wa->ahead += n;
	peer_log(s->c->peers, s->from, PEER_SAMPLE, 0,
		 "session %s (site \"%s\", agent \"%s\"): batch %llu: %zu samples stamped "
		 "up to %.1f s ahead of the collector's clock refused (more than %u s): is "
		 "the agent's clock right?",
		 s->peer, s->site, s->agent, (unsigned long long)seq, n, (double)worst_ms / 1000.0,
		 s->c->conf->max_clock_skew);
}

/*
 * Decodes a wire batch into Vakt's own types at this edge, skipping what is
 * invalid (counted and logged), and hands it to the one ingest path.
 */
static void handle_batch(struct session *s, Vakt__Frame *f, uint32_t len)
{
	Vakt__Batch *pb = f->batch;
	struct sample_batch *b;
	struct check_result *res;
	struct event *ev;
	struct decode_stats st;
	size_t nres, nev, rx_before;

	/* the parts of one batch carry its seq each */
	if (pb->seq < s->last_seq || (pb->seq == s->last_seq && !s->last_more))
		peer_log(s->c->peers, s->from, PEER_SAMPLE, 0,
			 "session %s (site \"%s\"): batch %llu after %llu: sequence went back",
			 s->peer, s->site, (unsigned long long)pb->seq,
			 (unsigned long long)s->last_seq);
	if (pb->more && s->stream != 0 &&
	    pb->seq <= store_stream_acked(s->c->store, s->site, s->agent, s->stream)) {
		/* a part of a batch stored already (its ack was lost): as the store skips it */
		if (s->wa != NULL)
			s->wa->redelivered++;
		s->last_seq = pb->seq;
		s->last_more = pb->more;
		vakt__frame__free_unpacked(f, NULL);
		return;
	}
	/* the first part of a batch over max_frame; not one the store holds already */
	if (pb->more && !(s->last_more && pb->seq == s->last_seq) && s->wa != NULL)
		s->wa->parts++;
	s->last_seq = pb->seq;
	s->last_more = pb->more;
	rx_before = s->rx != NULL ? series_rx_bytes(s->rx) : 0;
	b = decode_batch(pb, s->rx, s->site, s->agent, s->id, wall_now_ms(),
			 s->c->conf->max_clock_skew, &res, &nres, &st);
	if (s->rx != NULL)
		s->c->series_bytes = s->c->series_bytes - rx_before + series_rx_bytes(s->rx);
	if (b != NULL && s->c->series_bytes > s->c->conf->series_size) {
		/* 32 MiB a session, but not a thousand times over */
		sample_batch_free(b);
		free(res);
		b = NULL;
		st.fatal = "the series all sessions defined hold more than series_size";
	}
	if (b == NULL) {
		session_refuse(s, PEER_BAD_FRAME, "batch %llu: %s", (unsigned long long)pb->seq,
			       st.fatal);
		vakt__frame__free_unpacked(f, NULL);
		return;
	}
	b->stream = s->stream;
	if (pb->more) {
		/*
		 * A part of batch seq with more to follow (docs/protocol.md, "Batches
		 * in parts"): stored as a batch of no stream and seq 0, so that it is
		 * not acknowledged and does not make seq durable; the last part does.
		 */
		b->stream = 0;
		b->seq = 0;
	}
	decode_events(pb, wall_now_ms(), s->c->conf->max_clock_skew, &ev, &nev, &st);
	if (st.ahead > 0)
		note_ahead(s, pb->seq, st.ahead, st.worst_ms);
	if (st.invalid > 0) {
		s->bad_samples += st.invalid;
		peer_log(s->c->peers, s->from, PEER_SAMPLE, 0,
			 "session %s (site \"%s\"): batch %llu: %zu invalid samples skipped",
			 s->peer, s->site, (unsigned long long)pb->seq, st.invalid);
	}
	s->batches++;
	s->samples += b->n;
	if (s->wa != NULL)
		watch_agent_seen(s->c->watch, s->wa);
	/* before the batch: they page at once, and the store never sees them */
	ingest_events(s->c, s->site, ev, nev);
	free(ev);
	/*
	 * The session pauses reading before the store fills, so this is not
	 * refused; should it be, the batch is not acknowledged, and neither may
	 * a later one be (an ack covers every batch before it): the agent sends
	 * them all again on its next session.
	 */
	if (ingest_batch(s->c, b, res, nres) == 0)
		inflight_push(s, len);
	else
		session_refuse(s, PEER_LIMIT, "batch %llu: the store's queue is full; send again later",
			       (unsigned long long)pb->seq);
	free(res);
	vakt__frame__free_unpacked(f, NULL);
}

/* 1 when the first frame in the input is not all there yet. */
static int first_frame_incomplete(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	uint8_t hdr[FRAME_HDR_LEN];
	uint32_t n;

	if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
		return 1;
	n = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
	return (uint64_t)evbuffer_get_length(in) < (uint64_t)n + FRAME_HDR_LEN;
}

/*
 * Runs the clock of the incomplete frame at the head of the input: it runs
 * while the session is read, and stands still while the collector does not
 * read (full store, unread answers), since the rest of the frame may be
 * waiting in the socket then. Resets once the input starts with a whole frame.
 */
static void frame_clock(struct session *s)
{
	double now, since = s->frame_since;
	int incomplete = s->state != SESSION_CLOSING && s->input > 0 && first_frame_incomplete(s);
	int reading = incomplete && !s->paused && !s->out_full;

	if (!incomplete) {
		s->frame_first = s->frame_used = s->frame_since = 0;
	} else {
		now = mono_now();
		if (s->frame_first == 0)
			s->frame_first = now;
		if (reading && s->frame_since == 0) {
			s->frame_since = now;
		} else if (!reading && s->frame_since != 0) {
			s->frame_used += now - s->frame_since;
			s->frame_since = 0;
		}
	}
	if (s->frame_since != since || reading)
		session_arm(s); /* also when the header came: the allowance grows with it */
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (evbuffer_get_length(in) > s->input)
		s->input_grew = mono_now(); /* new bytes: see input_budget */
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
			break;
		}
		if (s->state == SESSION_ACTIVE && inflight_full(s)) {
			/* this agent has its share with the store: the others get theirs */
			log_debug("session %s: %u batches (%zu bytes) with the store, pausing",
				  s->peer, s->inflight, s->inflight_bytes);
			set_paused(s, s->paused | SESSION_PAUSE_INFLIGHT);
			bufferevent_disable(bev, EV_READ);
			break;
		}
		if (s->state == SESSION_ACTIVE && store_full(s->c->store)) {
			/* back-pressure: wait in line until the writer catches up */
			if (!(s->paused & SESSION_PAUSE_STORE))
				log_debug("session %s: store queue full, pausing", s->peer);
			set_paused(s, s->paused | SESSION_PAUSE_STORE);
			bufferevent_disable(bev, EV_READ);
			break;
		}
		if (!s->tls && s->state == SESSION_HELLO) {
			unsigned char head[2];

			if (evbuffer_copyout(in, head, sizeof(head)) == (ev_ssize_t)sizeof(head) &&
			    tls_looks_like_record(head, sizeof(head))) {
				/* an Error frame would be noise to a TLS client: just close */
				peer_log(s->c->peers, s->from, PEER_HELLO, 0,
					 "session %s: the agent speaks TLS, but this collector is "
					 "insecure = yes: give the collector a tls section",
					 s->peer);
				session_end(s, "TLS client on a plaintext collector", PEER_HELLO);
				return;
			}
		}
		st = frame_read(in, s->c->conf->max_frame, &f, &len);
		if (st == FRAME_NEED_MORE)
			break;
		/* a frame ended: the next one's clock starts anew */
		s->frame_first = s->frame_used = s->frame_since = 0;
		if (st != FRAME_OK) {
			s->c->frames_bad++;
			session_refuse(s, PEER_BAD_FRAME, "%s (length %u, maximum %u)",
				       frame_status_str(st), len, s->c->conf->max_frame);
			break;
		}
		if (s->state == SESSION_HELLO) {
			if (f->msg_case == VAKT__FRAME__MSG_HELLO)
				handle_hello(s, f->hello);
			else
				session_refuse(s, PEER_HELLO, "expected hello, got message %d",
					       f->msg_case);
			vakt__frame__free_unpacked(f, NULL);
			continue;
		}
		switch (f->msg_case) {
		case VAKT__FRAME__MSG_BATCH:
			handle_batch(s, f, len); /* frees f */
			break;
		case VAKT__FRAME__MSG_HEARTBEAT:
			handle_heartbeat(s, f->heartbeat);
			vakt__frame__free_unpacked(f, NULL);
			break;
		case VAKT__FRAME__MSG_HELLO:
			session_refuse(s, PEER_HELLO, "second hello on one session");
			vakt__frame__free_unpacked(f, NULL);
			break;
		default:
			/* a newer agent's message this collector does not know: ignore */
			log_debug("session %s: ignoring message %d", s->peer, f->msg_case);
			vakt__frame__free_unpacked(f, NULL);
			break;
		}
	}
	input_account(s);
	frame_clock(s);
	input_budget(s->c); /* may end `s`: nothing after this */
}

/*
 * The TLS handshake is done: the agent's certificate was issued by our CA
 * and is neither expired nor revoked. Its CN is the site it may write for.
 */
static void handle_handshake(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	char cn[SAMPLE_NAME_MAX + 1], subject[256];

	if (tls_peer_names(ssl, cn, sizeof(cn), subject, sizeof(subject)) < 0 ||
	    !decode_name_ok(cn, 0)) {
		decode_text_clean(subject, sizeof(subject) - 1);
		session_refuse(s, PEER_HELLO,
			       "certificate \"%s\" names no site (its CN is the site)", subject);
		return;
	}
	decode_text_clean(subject, sizeof(subject) - 1);
	s->cert_site = xstrdup(cn);
	s->cert_subject = xstrdup(subject);
	if (!collector_site_known(s->c->conf, cn)) {
		session_refuse(s, PEER_HELLO,
			       "certificate \"%s\" is for site \"%s\", which is not in this "
			       "collector's sites",
			       subject, cn);
		return;
	}
	log_debug("session %s: TLS handshake done, %s, certificate \"%s\"", s->peer,
		  SSL_get_version(ssl), subject);
}

/* A failed handshake, in words; a probe that only opened the port stays quiet. */
static void handshake_failed(struct session *s)
{
	char why[256], msg[320];

	tls_bev_why(s->bev, why, sizeof(why));
	snprintf(msg, sizeof(msg), "TLS handshake failed: %s", why);
	if (strcmp(why, "connection closed") == 0 ||
	    strcmp(why, "unexpected eof while reading") == 0) {
		session_end(s, msg, PEER_SESSION);
		return;
	}
	peer_log(s->c->peers, s->from, PEER_HELLO, 0, "session %s: %s", s->peer, msg);
	/* said above: the closing line is for debugging only */
	evbuffer_drain(bufferevent_get_input(s->bev),
		       evbuffer_get_length(bufferevent_get_input(s->bev)));
	session_end(s, msg, PEER_HELLO);
}

/* The index of the session in its SSL's ex_data, for the info callback. */
static int session_ssl_index(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return idx;
}

/*
 * Notes a renegotiation the TLS layer refused (SSL_OP_NO_RENEGOTIATION
 * answers it with a no_renegotiation alert): the peer usually gives up and
 * closes then, and its session's last line should say why.
 */
static void session_ssl_info(const SSL *ssl, int where, int ret)
{
	struct session *s;

	if ((where & SSL_CB_WRITE_ALERT) != SSL_CB_WRITE_ALERT ||
	    (ret & 0xff) != SSL_AD_NO_RENEGOTIATION)
		return;
	s = SSL_get_ex_data(ssl, session_ssl_index());
	if (s != NULL)
		s->tls_reneg = 1;
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED)
		handle_handshake(s);
	else if (s->tls_reneg && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
		session_end(s, "the agent asked to renegotiate TLS, which this collector refuses",
			    PEER_HELLO);
	else if (s->tls && s->cert_site == NULL && s->state == SESSION_HELLO &&
		 (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
		handshake_failed(s);
	else if (what & BEV_EVENT_EOF)
		session_end(s, "agent closed the connection", PEER_SESSION);
	else if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING))
		session_end(s, "the agent reads nothing we send", PEER_LIMIT);
	else if (what & BEV_EVENT_TIMEOUT)
		session_end(s, "nothing heard for three heartbeats", PEER_SESSION);
	else if (s->tls) {
		char why[256];

		tls_bev_why(bev, why, sizeof(why));
		session_end(s, why, PEER_SESSION);
	} else
		session_end(s, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()), PEER_SESSION);
}

void session_end_revoked(struct collector *c, X509_CRL *crl)
{
	struct session *s;

	TAILQ_FOREACH(s, &c->sessions, entry)
	{
		X509 *x;
		X509_REVOKED *r;

		if (!s->tls || s->cert_site == NULL || s->state == SESSION_CLOSING)
			continue;
		x = SSL_get0_peer_certificate(bufferevent_openssl_get_ssl(s->bev));
		if (x != NULL && X509_CRL_get0_by_cert(crl, &r, x) == 1)
			session_refuse(s, PEER_HELLO,
				       "certificate \"%s\" is revoked by the reloaded CRL",
				       s->cert_subject);
	}
}

void session_store_done(const void *result, void *arg)
{
	const struct store_result *r = result;
	struct collector *c = arg;
	struct session *s = by_id_find(c, r->session_id);

	if (r->rejected > 0)
		log_debug("store: batch %llu: %u rejected", (unsigned long long)r->seq,
			  r->rejected);
	if (s != NULL) {
		inflight_pop(s);
		if (s->wa != NULL) {
			s->wa->duplicates += r->duplicates;
			s->wa->redelivered += (uint64_t)r->redelivered;
			s->wa->rejected += r->rejected;
			s->wa->quarantined += r->quarantined;
			s->wa->refused += r->refused;
		}
	}
	if (s != NULL && s->state == SESSION_ACTIVE && r->failed > 0) {
		/*
		 * Not durable, so no ack; and no later ack either, since an ack covers
		 * every batch before it. Ending the session makes the agent send
		 * this batch and all after it again once it reconnects.
		 */
		session_refuse(s, PEER_LIMIT,
			       "batch %llu: %u samples cannot be stored now (%s); send again later",
			       (unsigned long long)r->seq, r->failed, r->why);
	} else if (s != NULL && s->state == SESSION_ACTIVE && r->seq != 0) {
		/* seq 0: a part of a batch, acknowledged with its last part */
		Vakt__Ack a = VAKT__ACK__INIT;
		Vakt__Frame f = VAKT__FRAME__INIT;

		a.seq = r->seq;
		f.msg_case = VAKT__FRAME__MSG_ACK;
		f.ack = &a;
		frame_write(bufferevent_get_output(s->bev), &f, c->conf->max_frame);
	}
	if (s != NULL && (s->paused & SESSION_PAUSE_INFLIGHT) && !inflight_full(s))
		session_unpause(s, SESSION_PAUSE_INFLIGHT); /* may end s */
	session_resume_waiting(c);
}

/*
 * Sessions paused by the full store take turns, the one waiting longest
 * first: a resumed session that fills the queue again goes to the back of
 * the line, so after a collector restart every agent's backlog moves.
 */
void session_resume_waiting(struct collector *c)
{
	struct session *s;

	while (!store_full(c->store) && (s = TAILQ_FIRST(&c->waiting)) != NULL)
		session_unpause(s, SESSION_PAUSE_STORE);
}

/* --- accepting --- */

/* The numeric address and port of `sa`. */
static void peer_addr(const struct sockaddr *sa, char *addr, size_t n, int *port)
{
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, addr, n);
		*port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, n);
		*port = ntohs(sin6->sin6_port);
	}
}

/*
 * The network of `sa` the input budget ranks by, as "a.b.c.0/24" or
 * "prefix::/64" (an IPv4-mapped IPv6 address counts as IPv4).
 */
static void peer_net(const struct sockaddr *sa, char *net, size_t n)
{
	char buf[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			a.s6_addr[15] = 0;
			inet_ntop(AF_INET, &a.s6_addr[12], buf, sizeof(buf));
			snprintf(net, n, "%s/24", buf);
			return;
		}
		memset(&a.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a, buf, sizeof(buf));
		snprintf(net, n, "%s/64", buf);
	} else if (sa->sa_family == AF_INET) {
		struct in_addr a = ((const struct sockaddr_in *)sa)->sin_addr;

		a.s_addr &= htonl(0xffffff00u);
		inet_ntop(AF_INET, &a, buf, sizeof(buf));
		snprintf(net, n, "%s/24", buf);
	} else {
		snprintf(net, n, "?");
	}
}

/*
 * 1 when one more descriptor leaves fd_reserve free under RLIMIT_NOFILE for
 * the store (RRD files, vakt.db), the control socket and notifications.
 * Descriptors are handed out lowest first, so `fd` itself is a lower bound
 * of those in use; the count of sessions catches the holes below it. The
 * limit is read each time: it may be changed while the collector runs.
 */
static int fd_room(const struct collector *c, evutil_socket_t fd)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)c->conf->fd_reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1;
	return (rlim_t)fd + need < rl.rlim_cur &&
	       (rlim_t)c->nsessions + c->fds_base + need < rl.rlim_cur;
}

/*
 * Whether a new connection from addr:port (in network `net`) may become a
 * session: its peer entry if so, with its network's in *netp, else NULL
 * after closing it with a (rate-limited) line.
 */
static struct peer *session_admit(struct collector *c, evutil_socket_t fd, const char *addr,
				  int port, const char *net, struct peer **netp)
{
	struct peer *from = peers_get(c->peers, addr);
	const char *why = NULL;
	char buf[128];

	if (c->nsessions >= c->conf->max_sessions) {
		snprintf(buf, sizeof(buf), "%zu sessions open (max_sessions)", c->nsessions);
		why = buf;
	} else if (!fd_room(c, fd)) {
		snprintf(buf, sizeof(buf),
			 "descriptor %d: fewer than fd_reserve (%u) left under the limit", (int)fd,
			 c->conf->fd_reserve);
		why = buf;
	} else if (from == NULL) {
		why = "too many addresses with sessions";
	} else if (from->nsessions >= c->conf->max_sessions_per_address) {
		snprintf(buf, sizeof(buf),
			 "%u sessions open from this address "
			 "(max_sessions_per_address)",
			 from->nsessions);
		why = buf;
	} else {
		from->nsessions++; /* not the entry that makes room for its network's */
		*netp = peers_get(c->peers, net);
		from->nsessions--;
		if (*netp == NULL)
			why = "too many networks with sessions";
	}
	if (why == NULL)
		return from;
	c->sessions_refused++;
	peer_log(c->peers, from, PEER_REFUSED, 0, "listener: %s:%d refused: %s", addr, port, why);
	evutil_closesocket(fd);
	return NULL;
}

/* A session for an admitted connection, still without its bufferevent. */
static struct session *session_new(struct collector *c, struct peer *from, struct peer *net,
				   const char *addr, int port, int v6)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->id = ++c->next_session_id;
	s->since = mono_now();
	s->hello_by = s->since + c->conf->hello_timeout;
	s->from = from;
	from->nsessions++;
	s->net = net;
	net->nsessions++;
	snprintf(s->peer, sizeof(s->peer), v6 ? "[%s]:%d" : "%s:%d", addr, port);
	s->inflight_len = xcalloc(c->conf->max_inflight, sizeof(*s->inflight_len));
	s->ev_deadline = evtimer_new(c->base, session_deadline_cb, s);
	if (s->ev_deadline == NULL)
		fatalx("session %s: cannot make its timer", s->peer);
	TAILQ_INSERT_TAIL(&c->sessions, s, entry);
	c->nsessions++;
	by_id_add(s);
	return s;
}

/*
 * The session's bufferevent is set up: reading, its write timeout, and the
 * hello deadline, which runs from accept to HelloAck whatever arrives (a
 * TLS handshake, when there is one, counts against it too).
 */
static void session_start(struct session *s)
{
	struct timeval tv = {s->c->conf->hello_timeout, 0};

	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_set_timeouts(s->bev, NULL, &tv);
	/* read at most two frames ahead: a slow store slows the agent, not our memory */
	bufferevent_setwatermark(s->bev, EV_READ, 0, 2 * ((size_t)s->c->conf->max_frame + 4));
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	session_arm(s);
	log_debug("session %s: connected", s->peer);
}

void session_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		    void *arg)
{
	struct collector *c = arg;
	struct session *s;
	struct peer *from, *net = NULL;
	char addr[INET6_ADDRSTRLEN] = "?", netkey[INET6_ADDRSTRLEN + 4];
	int port, one = 1;
	SSL *ssl = NULL;

	accept_pause_accepted(c);
	peer_addr(sa, addr, sizeof(addr), &port);
	peer_net(sa, netkey, sizeof(netkey));
	from = session_admit(c, fd, addr, port, netkey, &net);
	if (from == NULL)
		return;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	s = session_new(c, from, net, addr, port, sa->sa_family == AF_INET6);
	if (c->certs != NULL && (ssl = SSL_new(certs_ctx(c->certs))) != NULL) {
		/* the handshake runs under the hello deadline */
		s->tls = 1;
		SSL_set_ex_data(ssl, session_ssl_index(), s);
		SSL_set_info_callback(ssl, session_ssl_info);
		s->bev = bufferevent_openssl_socket_new(c->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
		/* frames carry their length: a cut without close_notify is an end, not an error */
		if (s->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		else
			SSL_free(ssl);
	} else if (c->certs == NULL) {
		s->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->bev == NULL) {
		log_warnx("session %s: cannot make its buffers%s", s->peer,
			  c->certs != NULL ? " (TLS)" : "");
		evutil_closesocket(fd);
		session_free(s);
		return;
	}
	session_start(s);
}
