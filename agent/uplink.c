/*
 * uplink.c - the agent's stream to the collector (see uplink.h).
 * A batch leaves the spool (spool.c) only when the collector acks it;
 * nothing here blocks. A batch in the spool's memory costs its encoded frame:
 * a sample is ~50-100 bytes there, with no allocation of its own.
 */
#include "uplink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "frame.h"
#include "log.h"
#include "series_wire.h"
#include "spool.h"
#include "timeutil.h"
#include "tls.h"
#include "xmalloc.h"

/*
 * Flush early when this many samples are waiting. A poll of a 52-port switch
 * gives about 1,250: with 1,000 it went as a full batch and its tail at the
 * next batch_ms, two spool appends, writer wakeups, sends and acks a poll.
 */
#define UPLINK_BATCH_SAMPLES   4000
#define UPLINK_BATCH_RESULTS   1000          /* or this many Results */
#define UPLINK_BATCH_EVENTS    1000          /* or this many Events */
#define UPLINK_HEARTBEAT_S     10            /* when the collector's HelloAck names none */
#define UPLINK_CLOCK_WARN_MS   2000          /* a clock offset worth a warning */
#define UPLINK_FUTURE_S        10            /* the collector refuses samples this far ahead */
#define UPLINK_QUEUE_BYTES     (64ULL << 20) /* when the config names none */
#define UPLINK_HELLO_TIMEOUT   10            /* seconds to wait for HelloAck */
#define UPLINK_DEAD_HEARTBEATS 3             /* heartbeats without TCP acks: collector gone */
#define UPLINK_BACKOFF_MIN     500           /* ms */
#define UPLINK_BACKOFF_MAX     30000         /* ms */
#define UPLINK_FAILBACK_X_MAX  64            /* failback waits at most 64 x failback */
#define UPLINK_LIVE_BYTES      (8U << 20)    /* batches' samples kept read until sent (struct live) */

struct uplink {
	struct agent *a;
	enum uplink_state state;
	struct bufferevent *bev;
	SSL_CTX *tls;          /* NULL: plaintext (insecure = yes) */
	struct evbuffer *wout; /* plaintext: frames on their way to the socket (uplink_send_queued) */
	struct event *flush_ev; /* armed while something waits to be batched */
	struct event *retry_ev, *hb_ev;
	struct event *ack_ev;      /* a sent batch not acknowledged in time: the peer is gone */
	struct event *failback_ev; /* away from the preferred collector: try it again */
	struct bufferevent *probe; /* a Hello to the preferred collector, while away */
	size_t collector;          /* index into conf->collectors: failover rotates it */
	unsigned backoff_ms;
	int draining;

	/*
	 * Samples waiting to be batched, encoded as they came, each as the
	 * Batch's field 2 (key, length, Sample): a sample costs no allocation,
	 * and the batch is a copy of these bytes. send[i]: where sample i ends;
	 * srec[i]: sample i as the compact form reads it.
	 */
	uint8_t *sbuf;
	size_t slen, scap, *send;
	struct series_tx_sample *srec, *srec_spare;
	size_t ncur;
	struct series_tx_put put;            /* what writing a sample keeps for the next */
	const struct uplink_file *last_file; /* the last sample's, when added by its file */
	/* batches made on this session, not yet sent, with their samples read (struct live) */
	struct live *live, **live_tail;
	size_t live_bytes;
	Vakt__Result **res; /* Results waiting to be batched */
	size_t nres;
	Vakt__Event **evs; /* Events waiting to be batched */
	size_t nevs;

	struct spool *spool; /* every unacknowledged batch, on disk and in memory */
	uint64_t next_seq;

	unsigned protocol;  /* the session's, from HelloAck */
	uint32_t max_frame; /* batches are made no larger: ours, or the collector's if smaller */
	int moved_back;     /* back on the preferred collector, which has acked nothing yet */
	int leaving;        /* the preferred collector answers: nothing more is sent here, and once
			       what was sent is acknowledged the agent moves back */
	unsigned
	    failback_x;       /* failback waits failback_s times this: doubles while moving
				 back does not last (a collector that answers Hello, stores nothing) */
	uint64_t too_big;     /* the newest batch logged as sent in parts */
	uint64_t too_big_dropped; /* the newest batch dropped as too big for a collector
				     without parts: sent again (its ack lost), it is not
				     logged and counted again */
	int parts;            /* the collector takes a batch in parts (HelloAck.parts) */
	struct series_tx *tx; /* protocol 2: the series defined on this session */
	uint32_t max_series;  /* the ids it may define */
	uint64_t hb_ms;       /* send a Heartbeat after this long without output */
	uint64_t last_out_ms; /* monotonic: when the connection last carried a frame */
	uint64_t hello_mono_ms;

	struct uplink_stats st;
	struct complaint *conn_fail; /* one per collector: each failure is worth a line */
};

static void uplink_connect(struct uplink *u);
static void uplink_send_queued(struct uplink *u);
static void uplink_close(struct uplink *u, int failed);
static void failback_arm(struct uplink *u);
static void probe_free(struct uplink *u);
static void failback_move(struct uplink *u);

const char *uplink_state_str(enum uplink_state s)
{
	switch (s) {
	case UPLINK_IDLE:
		return "idle";
	case UPLINK_CONNECTING:
		return "connecting";
	case UPLINK_HELLO:
		return "hello";
	case UPLINK_ACTIVE:
		return "active";
	}
	return "unknown";
}

/* The one place the connection state changes. */
static void uplink_set_state(struct uplink *u, enum uplink_state s)
{
	const struct agent_collector *col = &u->a->conf->collectors[u->collector];

	if (u->state == s)
		return;
	if (s == UPLINK_ACTIVE || u->state == UPLINK_ACTIVE)
		log_info("uplink to %s (%s): %s -> %s", col->name, col->address,
			 uplink_state_str(u->state), uplink_state_str(s));
	else
		log_debug("uplink to %s (%s): %s -> %s", col->name, col->address,
			  uplink_state_str(u->state), uplink_state_str(s));
	u->state = s;
}

/*
 * A sample as uplink_sample_new makes it: the lengths of its names kept
 * beside it, so that encoding it (sized, then written) measures none again.
 */
struct uplink_sample {
	Vakt__Sample s; /* first: a Vakt__Sample * of ours is one of these */
	size_t len[4];  /* host, check, instance, metric */
};

/* One allocation: the names follow the struct, so a sample costs one malloc and one free. */
Vakt__Sample *uplink_sample_new(const char *host, const char *check, const char *instance,
				const char *metric)
{
	size_t lh = strlen(host), lc = strlen(check), li = strlen(instance), lm = strlen(metric);
	struct uplink_sample *us = xmalloc(sizeof(*us) + lh + lc + li + lm + 4);
	Vakt__Sample *s = &us->s;
	char *p = (char *)(us + 1);

	vakt__sample__init(s);
	s->host = memcpy(p, host, lh + 1);
	s->check = memcpy(p += lh + 1, check, lc + 1);
	s->instance = memcpy(p += lc + 1, instance, li + 1);
	s->metric = memcpy(p + li + 1, metric, lm + 1);
	us->len[0] = lh;
	us->len[1] = lc;
	us->len[2] = li;
	us->len[3] = lm;
	return s;
}

void uplink_sample_free(Vakt__Sample *s)
{
	free(s);
}

/* One allocation, as a sample's. */
Vakt__Result *uplink_result_new(const char *host, const char *check, const char *instance,
				const char *reason)
{
	size_t lh = strlen(host) + 1, lc = strlen(check) + 1, li = strlen(instance) + 1,
	       lr = strlen(reason ? reason : "") + 1;
	Vakt__Result *r = xmalloc(sizeof(*r) + lh + lc + li + lr);
	char *p = (char *)(r + 1);

	vakt__result__init(r);
	r->host = memcpy(p, host, lh);
	r->check = memcpy(p += lh, check, lc);
	r->instance = memcpy(p += lc, instance, li);
	r->reason = memcpy(p + li, reason ? reason : "", lr);
	return r;
}

Vakt__Event *uplink_event_new(const char *host, const char *check, const char *instance,
			      const char *name, const char *oid, const char *text,
			      const char *source)
{
	Vakt__Event *e = xmalloc(sizeof(*e));

	vakt__event__init(e);
	e->host = xstrdup(host);
	e->check = xstrdup(check);
	e->instance = xstrdup(instance);
	e->name = xstrdup(name);
	e->oid = xstrdup(oid);
	e->text = xstrdup(text);
	e->source = xstrdup(source);
	return e;
}

void uplink_event_free(Vakt__Event *e)
{
	if (e == NULL)
		return;
	free(e->host);
	free(e->check);
	free(e->instance);
	free(e->name);
	free(e->oid);
	free(e->text);
	free(e->source);
	free(e);
}

void uplink_result_free(Vakt__Result *r)
{
	free(r);
}

/*
 * A batch's messages as protobuf encodes them (field numbers of
 * common/vakt.proto, fields at zero left out), by hand: its samples by
 * series_tx_put_sample, the rest here.
 */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };
#define PB_KEY(num, wt) ((uint8_t)((num) << 3 | (wt)))

/* A Result as protobuf encodes it (fields at zero left out), by hand as a sample. */
static size_t result_size(const Vakt__Result *r, size_t lens[4])
{
	const char *names[4] = {r->host, r->check, r->instance, r->reason};
	size_t n = 0;

	for (size_t k = 0; k < 4; k++) {
		lens[k] = strlen(names[k]);
		if (lens[k] > 0)
			n += 1 + frame_varint_len(lens[k]) + lens[k];
	}
	if (r->time_ms != 0)
		n += 1 + frame_varint_len((uint64_t)r->time_ms);
	if (r->outcome != 0)
		n += 1 + frame_varint_len((uint64_t)(int64_t)r->outcome);
	if (r->interval != 0)
		n += 1 + frame_varint_len(r->interval);
	if (r->duration_ms != 0)
		n += 1 + frame_varint_len(r->duration_ms);
	return n;
}

static uint8_t *result_put(uint8_t *p, const Vakt__Result *r, const size_t lens[4])
{
	/* field numbers: host 1, check 2, instance 3, reason 6 */
	static const uint8_t num[4] = {1, 2, 3, 6};
	const char *names[4] = {r->host, r->check, r->instance, r->reason};

	for (size_t k = 0; k < 4; k++) {
		if (k == 3 && r->time_ms != 0) { /* 4 and 5 before 6 */
			*p++ = PB_KEY(4, WT_VARINT);
			p = frame_put_varint(p, (uint64_t)r->time_ms);
		}
		if (k == 3 && r->outcome != 0) {
			*p++ = PB_KEY(5, WT_VARINT);
			p = frame_put_varint(p, (uint64_t)(int64_t)r->outcome);
		}
		if (lens[k] > 0) {
			*p++ = PB_KEY(num[k], WT_LEN);
			p = frame_put_varint(p, lens[k]);
			memcpy(p, names[k], lens[k]);
			p += lens[k];
		}
	}
	if (r->interval != 0) {
		*p++ = PB_KEY(7, WT_VARINT);
		p = frame_put_varint(p, r->interval);
	}
	if (r->duration_ms != 0) {
		*p++ = PB_KEY(8, WT_VARINT);
		p = frame_put_varint(p, r->duration_ms);
	}
	return p;
}

/* The pending samples [0, n) are batched (or dropped): the rest move up. */
static void pending_drop(struct uplink *u, size_t n)
{
	size_t cut = n > 0 ? u->send[n - 1] : 0;

	if (cut == 0)
		return;
	memmove(u->sbuf, u->sbuf + cut, u->slen - cut);
	u->slen -= cut;
	for (size_t i = n; i < u->ncur; i++)
		u->send[i - n] = u->send[i] - cut;
	memmove(u->srec, u->srec + n, (u->ncur - n) * sizeof(*u->srec));
	u->ncur -= n;
}

/*
 * A batch made while a protocol-2 session is up, kept beside the spool's
 * copy until it is sent: its samples as the compact form reads them, so
 * that it goes compact without being read back (series_tx_compact_read).
 * Any other batch (read back from the spool after a restart or a
 * reconnect, made while no session was up, or past UPLINK_LIVE_BYTES) is
 * read again by series_tx_compact, which makes the same bytes of it.
 */
struct live {
	struct live *next;
	uint64_t seq;
	size_t len; /* the frame's bytes */
	size_t raw; /* where its Results and Events start */
	size_t n;
	/*
	 * s: the pending samples' own array when the batch took them all (then
	 * of UPLINK_BATCH_SAMPLES, handed back once sent), else a copy of n
	 */
	int whole;
	struct series_tx_sample *s;
};

static size_t live_size(const struct live *l)
{
	return sizeof(*l) + (l->whole ? UPLINK_BATCH_SAMPLES : l->n) * sizeof(*l->s);
}

/* The first n pending samples were batched as `seq` in `len` bytes, the first at `base`. */
static void live_keep(struct uplink *u, uint64_t seq, size_t len, size_t base, size_t n)
{
	struct live *l;

	if (u->state != UPLINK_ACTIVE || u->protocol < 2 || n == 0 ||
	    u->live_bytes + sizeof(*l) + UPLINK_BATCH_SAMPLES * sizeof(*l->s) > UPLINK_LIVE_BYTES)
		return;
	l = xmalloc(sizeof(*l));
	l->next = NULL;
	l->seq = seq;
	l->len = len;
	l->raw = base + u->send[n - 1];
	l->n = n;
	l->whole = n == u->ncur;
	if (l->whole) {
		/* the array goes with the batch, no copy: the pending samples take another */
		l->s = u->srec;
		u->srec = u->srec_spare != NULL
			      ? u->srec_spare
			      : xreallocarray(NULL, UPLINK_BATCH_SAMPLES, sizeof(*u->srec));
		u->srec_spare = NULL;
	} else {
		l->s = xreallocarray(NULL, n, sizeof(*l->s));
		memcpy(l->s, u->srec, n * sizeof(*l->s));
	}
	l->s[0].at = (uint32_t)base;
	for (size_t i = 1; i < n; i++)
		l->s[i].at = (uint32_t)(base + u->send[i - 1]);
	*u->live_tail = l;
	u->live_tail = &l->next;
	u->live_bytes += live_size(l);
}

/* The oldest batch kept so, off the list. */
static struct live *live_unlink(struct uplink *u)
{
	struct live *l = u->live;

	u->live = l->next;
	if (u->live == NULL)
		u->live_tail = &u->live;
	u->live_bytes -= live_size(l);
	return l;
}

static void live_free(struct uplink *u, struct live *l)
{
	if (l == NULL)
		return;
	if (l->whole && u->srec_spare == NULL)
		u->srec_spare = l->s;
	else
		free(l->s);
	free(l);
}

/* The seq of a batch's frame as encode_batch writes it (seq first); 0 when it has none. */
static uint64_t frame_seq(const uint8_t *frame, size_t len)
{
	const uint8_t *p = frame + FRAME_HDR_LEN + 1, *end = frame + len;
	uint64_t seq = 0;

	/* past the Batch's length */
	while (p < end && (*p & 0x80))
		p++;
	if (++p >= end || *p++ != PB_KEY(1, WT_VARINT))
		return 0;
	for (unsigned sh = 0; sh < 64 && p < end; sh += 7) {
		seq |= (uint64_t)(*p & 0x7f) << sh;
		if (!(*p++ & 0x80))
			return seq;
	}
	return 0;
}

/*
 * The samples of the batch in `frame`, read when it was made (NULL: none
 * kept), taken off the list with every older one, sent already or never.
 */
static struct live *live_take(struct uplink *u, const uint8_t *frame, size_t len)
{
	uint64_t seq = u->live != NULL ? frame_seq(frame, len) : 0;

	if (seq == 0)
		return NULL;
	while (u->live != NULL && u->live->seq < seq)
		live_free(u, live_unlink(u));
	if (u->live == NULL || u->live->seq != seq || u->live->len != len)
		return NULL;
	return live_unlink(u);
}

static void live_free_all(struct uplink *u)
{
	while (u->live != NULL)
		live_free(u, live_unlink(u));
}

/* The first pending sample alone is larger than max_frame: says whose it is. */
static void pending_too_big(struct uplink *u)
{
	const uint8_t *p = u->sbuf + 1; /* past the key */
	uint64_t len = 0;
	Vakt__Sample *s;

	for (unsigned sh = 0; sh < 64 && p < u->sbuf + u->send[0]; sh += 7) {
		len |= (uint64_t)(*p & 0x7f) << sh;
		if (!(*p++ & 0x80))
			break;
	}
	s = vakt__sample__unpack(NULL, (size_t)len, p);
	log_warnx("uplink: sample %s/%s/%s is larger than max_frame, dropped",
		  s != NULL ? s->host : "?", s != NULL ? s->check : "?", s != NULL ? s->metric : "?");
	if (s != NULL)
		vakt__sample__free_unpacked(s, NULL);
}

/*
 * Encodes the pending samples [0, n), Results [0, m) of res and Events [0, k) of
 * evs as one batch, in the full form; returns the frame or NULL if too big.
 * The Frame, Batch and Results around them are written by hand too;
 * Events, fewer, by protobuf-c.
 */
static uint8_t *encode_batch(struct uplink *u, size_t n, size_t m, size_t k, uint64_t seq,
			     size_t *len, size_t *base)
{
	size_t *sz = xreallocarray(NULL, m + k + 1, sizeof(*sz));
	size_t(*rlen)[4] = xreallocarray(NULL, m + 1, sizeof(*rlen));
	size_t sbytes = n > 0 ? u->send[n - 1] : 0;
	size_t body = (seq != 0 ? 1 + frame_varint_len(seq) : 0) + sbytes, all;
	uint8_t *buf, *p;
	uint32_t be;

	for (size_t i = 0; i < m + k; i++) {
		if (i < m)
			sz[i] = result_size(u->res[i], rlen[i]);
		else
			sz[i] = vakt__event__get_packed_size(u->evs[i - m]);
		body += 1 + frame_varint_len(sz[i]) + sz[i];
	}
	all = 1 + frame_varint_len(body) + body;
	if (all > u->max_frame) {
		free(sz);
		free(rlen);
		return NULL;
	}
	buf = xmalloc(FRAME_HDR_LEN + all);
	be = htonl((uint32_t)all);
	memcpy(buf, &be, sizeof(be));
	p = buf + FRAME_HDR_LEN;
	*p++ = PB_KEY(VAKT__FRAME__MSG_BATCH, WT_LEN);
	p = frame_put_varint(p, body);
	if (seq != 0) {
		*p++ = PB_KEY(1, WT_VARINT);
		p = frame_put_varint(p, seq);
	}
	*base = (size_t)(p - buf);
	if (sbytes > 0) { /* Batch field 2 each, as they came */
		memcpy(p, u->sbuf, sbytes);
		p += sbytes;
	}
	for (size_t i = 0; i < m + k; i++) {
		/* Batch fields: results 3, events 10 */
		*p++ = PB_KEY(i < m ? 3 : 10, WT_LEN);
		p = frame_put_varint(p, sz[i]);
		if (i < m)
			p = result_put(p, u->res[i], rlen[i]);
		else
			p += vakt__event__pack(u->evs[i - m], p);
	}
	*len = (size_t)(p - buf);
	free(sz);
	free(rlen);
	return buf;
}

static int pending_empty(const struct uplink *u)
{
	return u->ncur == 0 && u->nres == 0 && u->nevs == 0;
}

/*
 * The first sample, Result or Event after a flush arms the flush timer:
 * a batch closes batch_ms after its first item, and an agent with nothing
 * to send does not wake batch_ms after batch_ms to find so.
 */
static void flush_arm(struct uplink *u)
{
	struct timeval tv;

	ms_to_timeval(u->a->conf->batch_ms, &tv);
	evtimer_add(u->flush_ev, &tv);
}

void uplink_flush(struct uplink *u)
{
	while (!pending_empty(u)) {
		size_t n = u->ncur, m = u->nres, k = u->nevs, len, base;
		uint8_t *frame;

		/* halve the largest part until the batch fits in one frame */
		while ((frame = encode_batch(u, n, m, k, u->next_seq, &len, &base)) == NULL &&
		       n + m + k > 1) {
			if (k >= n && k >= m)
				k /= 2;
			else if (n > m)
				n /= 2;
			else
				m /= 2;
		}
		if (frame == NULL && k == 1) {
			log_warnx("uplink: event %s/%s/%s is larger than max_frame, dropped",
				  u->evs[0]->host, u->evs[0]->check, u->evs[0]->name);
		} else if (frame == NULL && n == 1) {
			pending_too_big(u);
		} else if (frame == NULL) {
			log_warnx("uplink: result of %s/%s is larger than max_frame, dropped",
				  u->res[0]->host, u->res[0]->check);
		} else {
			live_keep(u, u->next_seq, len, base, n);
			spool_append(u->spool, u->next_seq++, frame, len, (uint32_t)n, (uint32_t)m);
			u->st.samples += n;
			u->st.results += m;
			u->st.events += k;
		}
		pending_drop(u, n);
		for (size_t i = 0; i < m; i++)
			uplink_result_free(u->res[i]);
		memmove(u->res, u->res + m, (u->nres - m) * sizeof(*u->res));
		u->nres -= m;
		for (size_t i = 0; i < k; i++)
			uplink_event_free(u->evs[i]);
		memmove(u->evs, u->evs + k, (u->nevs - k) * sizeof(*u->evs));
		u->nevs -= k;
	}
	evtimer_del(u->flush_ev);
	uplink_send_queued(u);
}

/*
 * Encodes `s` (its lens filled in) at the end of the pending samples;
 * same_file: the sample added before it (pending or batched since) has its
 * host, check and instance.
 */
static void pending_put(struct uplink *u, const char *const names[4], const size_t lens[4],
			const Vakt__Sample *v, int same_file)
{
	size_t need = series_tx_sample_max(lens);

	if (pending_empty(u))
		flush_arm(u);
	if (u->slen + need > u->scap) {
		u->scap = u->scap * 2 > u->slen + need ? u->scap * 2 : u->slen + need + (64 << 10);
		u->sbuf = xreallocarray(u->sbuf, u->scap, 1);
	}
	u->slen = (size_t)(series_tx_put_sample(u->sbuf + u->slen, names, lens, v,
						&u->srec[u->ncur], &u->put, same_file) -
			   u->sbuf);
	u->srec[u->ncur].same_file = same_file && u->ncur > 0;
	u->send[u->ncur++] = u->slen;
	if (u->ncur == UPLINK_BATCH_SAMPLES)
		uplink_flush(u);
}

void uplink_add(struct uplink *u, Vakt__Sample *s)
{
	const char *names[4] = {s->host, s->check, s->instance, s->metric};

	u->last_file = NULL;
	pending_put(u, names, ((const struct uplink_sample *)s)->len, s, 0);
	uplink_sample_free(s);
}

void uplink_add_sample(struct uplink *u, const char *host, const char *check,
		       const char *instance, const char *metric, const Vakt__Sample *v)
{
	const char *names[4] = {host, check, instance, metric};
	size_t lens[4] = {strlen(host), strlen(check), strlen(instance), strlen(metric)};

	u->last_file = NULL;
	pending_put(u, names, lens, v, 0);
}

void uplink_file_init(struct uplink_file *f, const char *host, const char *check,
		      const char *instance)
{
	f->name[0] = host;
	f->name[1] = check;
	f->name[2] = instance;
	for (size_t k = 0; k < 3; k++)
		f->len[k] = strlen(f->name[k]);
	f->added = 0;
}

void uplink_add_file_sample(struct uplink *u, struct uplink_file *f, const char *metric,
			    size_t metric_len, const Vakt__Sample *v)
{
	const char *names[4] = {f->name[0], f->name[1], f->name[2], metric};
	size_t lens[4] = {f->len[0], f->len[1], f->len[2], metric_len};
	/* f made afresh at an address another file's had is not the last sample's */
	int same = f->added > 0 && u->last_file == f;

	pending_put(u, names, lens, v, same);
	u->last_file = f;
	f->added++;
}

void uplink_add_event(struct uplink *u, Vakt__Event *e)
{
	if (pending_empty(u))
		flush_arm(u);
	u->evs[u->nevs++] = e;
	if (u->nevs == UPLINK_BATCH_EVENTS)
		uplink_flush(u);
}

void uplink_add_result(struct uplink *u, Vakt__Result *r)
{
	if (pending_empty(u))
		flush_arm(u);
	u->res[u->nres++] = r;
	if (u->nres == UPLINK_BATCH_RESULTS)
		uplink_flush(u);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct uplink *u = arg;

	/*
	 * With a spool on disk, batches reach it every batch_ms whatever the
	 * connection does, so that a kill loses at most that much. Without one,
	 * while the collector is away, let samples gather into full batches
	 * (uplink_add flushes at UPLINK_BATCH_SAMPLES): the bounded memory then
	 * holds hours of data instead of minutes of quarter-second batches;
	 * the timer goes on, to flush what waits once the collector is back.
	 */
	if (u->state == UPLINK_ACTIVE || spool_on_disk(u->spool))
		uplink_flush(u);
	else
		flush_arm(u);
}

/*
 * One frame of a batch as it goes on the wire: on a protocol-2 session in
 * the compact form, its series named by the ids this session knows them by,
 * from its samples as read when it was made (`l`, when not NULL). Returns
 * that form (malloc'd, *wlen its bytes), or NULL when the frame goes as it
 * is (*wlen = len).
 */
static uint8_t *wire_form(struct uplink *u, const uint8_t *frame, size_t len,
			 const struct live *l, size_t *wlen)
{
	uint8_t *compact = NULL;
	size_t clen = 0;

	if (u->protocol >= 2 && l != NULL)
		compact = series_tx_compact_read(u->tx, frame, len, l->seq, l->s, l->n, l->raw,
						 &clen);
	else if (u->protocol >= 2)
		compact = series_tx_compact(u->tx, frame, len, &clen);
	if (compact != NULL && clen > (size_t)u->max_frame + FRAME_HDR_LEN &&
	    len <= (size_t)u->max_frame + FRAME_HDR_LEN) {
		/*
		 * Made to fit in the full form, larger in the compact one (the
		 * definitions of new series at ids of three bytes and more cost more
		 * than the names and times they replace): it goes as it is, and
		 * since the collector does not get the definitions the table took
		 * as made, the table starts again.
		 */
		free(compact);
		compact = NULL;
		series_tx_reset(u->tx, u->max_series);
	}
	*wlen = compact != NULL ? clen : len;
	return compact;
}

/* Puts a frame's wire form (wire_form: `compact`, or `frame` itself) on the connection. */
static void put_wire(struct uplink *u, struct evbuffer *out, const uint8_t *frame,
		     uint8_t *compact, size_t wlen)
{
	evbuffer_add(out, compact != NULL ? compact : frame, wlen);
	u->st.bytes_sent += wlen;
	free(compact);
}

/* The bytes item i of b takes in its Batch (samples, then Results, then Events). */
static size_t batch_item_size(const Vakt__Batch *b, size_t i)
{
	size_t sz = i < b->n_samples ? vakt__sample__get_packed_size(b->samples[i])
		    : i < b->n_samples + b->n_results
			? vakt__result__get_packed_size(b->results[i - b->n_samples])
			: vakt__event__get_packed_size(b->events[i - b->n_samples - b->n_results]);

	return 1 + frame_varint_len(sz) + sz;
}

/* Items [from, to) of b as a batch of seq `seq` in a frame of its own (malloc'd). */
static uint8_t *batch_part(const Vakt__Batch *b, size_t from, size_t to, int more, size_t *len)
{
	Vakt__Batch p = VAKT__BATCH__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;
	size_t ns = b->n_samples, nr = b->n_results;
	size_t s0 = from < ns ? from : ns, s1 = to < ns ? to : ns;
	size_t r0 = from < ns ? 0 : from - ns < nr ? from - ns : nr;
	size_t r1 = to < ns ? 0 : to - ns < nr ? to - ns : nr;
	size_t e0 = from < ns + nr ? 0 : from - ns - nr, e1 = to < ns + nr ? 0 : to - ns - nr;
	uint8_t *buf;
	uint32_t be;

	p.seq = b->seq;
	p.more = more;
	p.samples = b->samples + s0;
	p.n_samples = s1 - s0;
	p.results = b->results + r0;
	p.n_results = r1 - r0;
	p.events = b->events + e0;
	p.n_events = e1 - e0;
	f.msg_case = VAKT__FRAME__MSG_BATCH;
	f.batch = &p;
	*len = vakt__frame__get_packed_size(&f);
	buf = xmalloc(FRAME_HDR_LEN + *len);
	be = htonl((uint32_t)*len);
	memcpy(buf, &be, sizeof(be));
	vakt__frame__pack(&f, buf + FRAME_HDR_LEN);
	*len += FRAME_HDR_LEN;
	return buf;
}

/*
 * A batch larger than the collector's max_frame (spooled before this
 * collector said its limit: while it was down with a larger one, or for
 * another collector) would be refused every time it is sent. A collector
 * that takes batches in parts (HelloAck.parts) gets it as parts that fit,
 * each of its seq, all but the last marked `more`: it acknowledges the
 * batch with its last part. One that does not would take the first part
 * for the whole batch: it gets the batch's seq alone, and what it held is
 * dropped, counted and logged, once however often the seq goes again (its
 * ack lost with the session). Either way the stream goes on.
 */
static void put_too_big(struct uplink *u, struct evbuffer *out, const uint8_t *frame, size_t len,
			size_t wire)
{
	const struct agent_collector *col = &u->a->conf->collectors[u->collector];
	Vakt__Frame *f = vakt__frame__unpack(NULL, len - FRAME_HDR_LEN, frame + FRAME_HDR_LEN);
	Vakt__Batch *b = f != NULL && f->msg_case == VAKT__FRAME__MSG_BATCH ? f->batch : NULL;
	Vakt__Batch empty = VAKT__BATCH__INIT;
	/* a part's frame: its Batch's key and length, seq and `more` around the items */
	size_t room = u->max_frame - (1 + 5 + 1 + 10 + 2), n, from = 0, parts = 0, lost = 0;
	uint8_t *part, *compact;
	size_t plen, wlen;

	if (b == NULL) {
		/* the spool verified it when it was written: not to be met */
		log_warnx("uplink to %s (%s): a spooled batch of %zu bytes does not decode, dropped",
			  col->name, col->address, len);
		u->st.batches_dropped++;
		u->st.bytes_dropped += len;
		if (f != NULL)
			vakt__frame__free_unpacked(f, NULL);
		return;
	}
	n = b->n_samples + b->n_results + b->n_events;
	if (!u->parts) {
		empty.seq = b->seq;
		b = &empty;
		n = 0;
	}
	/* greedy: as many items as fit in each part, in order */
	while (from < n || parts == 0) {
		size_t to = from, used = 0;

		while (to < n && used + batch_item_size(b, to) <= room)
			used += batch_item_size(b, to++);
		if (to == from && from < n) {
			/* 4 KiB at least hold any one sample, Result or Event the agent makes */
			lost++;
			from++;
			continue;
		}
		part = batch_part(b, from, to, to < n, &plen);
		compact = wire_form(u, part, plen, NULL, &wlen);
		put_wire(u, out, part, compact, wlen);
		free(part);
		parts++;
		from = to;
	}
	if (u->parts && f->batch->seq > u->too_big) {
		u->too_big = f->batch->seq;
		log_warnx("uplink to %s (%s): batch %llu is %zu bytes, more than the "
			  "collector's max_frame %u: sent in %zu parts",
			  col->name, col->address, (unsigned long long)u->too_big, wire,
			  u->max_frame, parts);
	} else if (!u->parts && f->batch->seq > u->too_big_dropped) {
		u->too_big_dropped = f->batch->seq;
		log_warnx("uplink to %s (%s): batch %llu is %zu bytes, more than the "
			  "collector's max_frame %u, and the collector takes no batch in "
			  "parts (upgrade it, or raise its max_frame): %zu samples, %zu "
			  "results and %zu events of it dropped",
			  col->name, col->address, (unsigned long long)u->too_big_dropped, wire,
			  u->max_frame, f->batch->n_samples, f->batch->n_results,
			  f->batch->n_events);
		u->st.batches_dropped++;
		u->st.samples_dropped += f->batch->n_samples;
		u->st.results_dropped += f->batch->n_results;
		u->st.bytes_dropped += len;
	}
	if (lost > 0)
		log_warnx("uplink to %s (%s): batch %llu: %zu items alone larger than max_frame "
			  "%u, dropped",
			  col->name, col->address, (unsigned long long)f->batch->seq, lost,
			  u->max_frame);
	vakt__frame__free_unpacked(f, NULL);
}

/* Puts one queued batch on the connection: as it is, compact, or in parts when too big. */
static void send_batch(void *arg, struct evbuffer *out, const uint8_t *frame, size_t len)
{
	struct uplink *u = arg;
	size_t wire;
	struct live *l = live_take(u, frame, len);
	uint8_t *compact = wire_form(u, frame, len, l, &wire);

	live_free(u, l);
	if (wire > (size_t)u->max_frame + FRAME_HDR_LEN) {
		/* the compact form's definitions went unsent: the table starts again */
		free(compact);
		series_tx_reset(u->tx, u->max_series);
		put_too_big(u, out, frame, len, wire);
	} else {
		put_wire(u, out, frame, compact, wire);
	}
	u->st.bytes_full += len;
}

/* Batches sent on this connection and not acknowledged yet. */
static size_t uplink_in_flight(const struct uplink *u)
{
	struct spool_stats st;

	spool_get_stats(u->spool, &st);
	return st.batches > spool_unsent(u->spool) ? st.batches - spool_unsent(u->spool) : 0;
}

/*
 * The collector acknowledges each batch once it is stored, and answers
 * heartbeats: a sent batch with no ack at all for three heartbeat
 * intervals means the collector (or the path to it) is gone, even when
 * TCP still carries our bytes somewhere.
 */
static void ack_timer_arm(struct uplink *u)
{
	struct timeval tv;

	ms_to_timeval(UPLINK_DEAD_HEARTBEATS * u->hb_ms, &tv);
	evtimer_add(u->ack_ev, &tv);
}

static void ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct uplink *u = arg;
	const struct agent_collector *col = &u->a->conf->collectors[u->collector];

	if (u->state != UPLINK_ACTIVE || uplink_in_flight(u) == 0)
		return;
	log_warnx("uplink to %s (%s): %zu sent batches not acknowledged within %llu s (%d "
		  "heartbeats): closing, trying the next collector",
		  col->name, col->address, uplink_in_flight(u),
		  (unsigned long long)(UPLINK_DEAD_HEARTBEATS * u->hb_ms / 1000),
		  UPLINK_DEAD_HEARTBEATS);
	uplink_close(u, 1);
}

/*
 * Puts what the spool has ready on the connection. A plaintext connection
 * with nothing queued before them gets the frames written at once: through
 * the bufferevent each batch cost two epoll_ctl calls (the socket watched
 * for writing, then not) and a wakeup to learn that it could write. What
 * the socket does not take (or an error, which the bufferevent then meets
 * and reports) goes to the bufferevent as before. A TLS connection writes
 * through its bufferevent, which encrypts.
 */
static void uplink_send_queued(struct uplink *u)
{
	struct evbuffer *out, *to;

	if (u->state != UPLINK_ACTIVE || u->leaving)
		return;
	out = bufferevent_get_output(u->bev);
	to = u->tls == NULL && evbuffer_get_length(out) == 0 ? u->wout : out;
	for (;;) {
		/* keep at most a few frames in the socket buffer: back-pressure, bounded memory */
		while (evbuffer_get_length(to) < 4 * (size_t)u->a->conf->max_frame) {
			uint64_t seq;

			if (!spool_send(u->spool, to, &seq, send_batch, u))
				break;
			u->st.batches_sent++;
			u->last_out_ms = mono_now_ms();
			if (!evtimer_pending(u->ack_ev, NULL))
				ack_timer_arm(u);
		}
		if (to == out || evbuffer_get_length(to) == 0)
			return;
		while (evbuffer_get_length(to) > 0 && evbuffer_write(to, bufferevent_getfd(u->bev)) > 0)
			;
		if (evbuffer_get_length(to) > 0) {
			evbuffer_add_buffer(out, to);
			return;
		}
	}
}

/* Arms the heartbeat timer for the moment the connection will have been idle hb_ms. */
static void heartbeat_arm(struct uplink *u)
{
	uint64_t now = mono_now_ms(), due = u->last_out_ms + u->hb_ms;
	struct timeval tv;

	ms_to_timeval(due > now ? due - now : 0, &tv);
	evtimer_add(u->hb_ev, &tv);
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct uplink *u = arg;
	Vakt__Heartbeat h = VAKT__HEARTBEAT__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;

	if (u->state != UPLINK_ACTIVE)
		return;
	/* batches went out meanwhile: they told the collector we are alive */
	if (mono_now_ms() - u->last_out_ms < u->hb_ms) {
		heartbeat_arm(u);
		return;
	}
	h.time_ms = wall_now_ms();
	f.msg_case = VAKT__FRAME__MSG_HEARTBEAT;
	f.heartbeat = &h;
	frame_write(bufferevent_get_output(u->bev), &f, u->a->conf->max_frame);
	u->st.heartbeats++;
	u->last_out_ms = mono_now_ms();
	heartbeat_arm(u);
}

static void uplink_close(struct uplink *u, int failed)
{
	struct timeval tv;
	int leaving = u->leaving;

	if (u->bev != NULL) {
		bufferevent_free(u->bev);
		u->bev = NULL;
	}
	evtimer_del(u->hb_ev);
	evtimer_del(u->ack_ev);
	evtimer_del(u->failback_ev);
	probe_free(u);
	u->leaving = 0;
	spool_rewind(u->spool); /* everything unacknowledged goes again, in order */
	live_free_all(u);       /* and is read back: no session to keep them for */
	uplink_set_state(u, UPLINK_IDLE);
	if (failed && u->moved_back) {
		/* the preferred collector answered Hello but took nothing: try it less often */
		u->moved_back = 0;
		if (u->failback_x < UPLINK_FAILBACK_X_MAX)
			u->failback_x *= 2;
		log_warnx("uplink: moving back to %s (%s) did not last: next try in %u s",
			  u->a->conf->collectors[0].name, u->a->conf->collectors[0].address,
			  u->a->conf->failback_s * u->failback_x);
	}
	if (failed) {
		/*
		 * rotate to the next collector (the preferred one, which answered,
		 * when this one failed on the way there), back off exponentially
		 * with jitter
		 */
		u->collector = leaving ? 0 : (u->collector + 1) % u->a->conf->ncollectors;
		u->backoff_ms = u->backoff_ms ? u->backoff_ms * 2 : UPLINK_BACKOFF_MIN;
		if (u->backoff_ms > UPLINK_BACKOFF_MAX)
			u->backoff_ms = UPLINK_BACKOFF_MAX;
	}
	ms_to_timeval(u->backoff_ms + (unsigned)random() % (u->backoff_ms / 4 + 1), &tv);
	evtimer_add(u->retry_ev, &tv);
}

static size_t uplink_queued(const struct uplink *u)
{
	struct spool_stats st;

	spool_get_stats(u->spool, &st);
	return (size_t)st.batches;
}

static void handle_ack(struct uplink *u, uint64_t seq)
{
	u->st.batches_acked += spool_ack(u->spool, seq);
	if (u->moved_back) {
		/* the preferred collector stores again: failback at its own pace */
		u->moved_back = 0;
		u->failback_x = 1;
	}
	/* progress: the collector is alive; wait anew for what is still out */
	if (uplink_in_flight(u) == 0)
		evtimer_del(u->ack_ev);
	else
		ack_timer_arm(u);
	if (u->draining && uplink_queued(u) == 0)
		event_base_loopbreak(u->a->base);
}

/* Batches became sendable: written to the spool, or read back from it. */
static void spool_ready(void *arg)
{
	struct uplink *u = arg;

	uplink_send_queued(u);
	if (u->draining && uplink_queued(u) == 0)
		event_base_loopbreak(u->a->base);
}

/*
 * The collector's clock minus ours, from HelloAck.time_ms: the collector
 * stamped it about half a round trip before it arrived. Samples carry the
 * agent's clock, so an agent far off stores data at the wrong times.
 */
static void log_clock_offset(struct uplink *u, int64_t collector_ms)
{
	uint64_t rtt = mono_now_ms() - u->hello_mono_ms;
	int64_t offset;
	double secs;

	if (collector_ms == 0)
		return; /* a collector that does not say */
	offset = collector_ms + (int64_t)(rtt / 2) - wall_now_ms();
	secs = (double)(offset < 0 ? -offset : offset) / 1000.0;
	if (offset < -UPLINK_CLOCK_WARN_MS)
		log_warnx("uplink: agent clock is %.1f s ahead of the collector's: samples more "
			  "than %d s ahead are refused",
			  secs, UPLINK_FUTURE_S);
	else if (offset > UPLINK_CLOCK_WARN_MS)
		log_warnx("uplink: agent clock is %.1f s behind the collector's: samples are "
			  "stored that much in the past",
			  secs);
	else
		log_info("uplink: collector clock offset %+.3f s (round trip %llu ms)",
			 (double)offset / 1000.0, (unsigned long long)rtt);
}

/*
 * A collector that vanishes without a word (power gone, WAN cut) leaves the
 * connection open: the agent would keep sending into it, acked by nobody,
 * until TCP gives up after about 15 minutes, and fail over to the next
 * collector only then. The agent sends at least a heartbeat every hb_ms, so
 * data the peer's TCP has not acknowledged for three heartbeats means it is
 * gone: the kernel then ends the connection and event_cb fails over. A
 * collector that is merely slow to store still acknowledges at the TCP
 * level (zero-window probes included), so it is not taken for dead.
 */
static void uplink_set_user_timeout(struct uplink *u)
{
	unsigned ms = (unsigned)(UPLINK_DEAD_HEARTBEATS * u->hb_ms);

	if (setsockopt(bufferevent_getfd(u->bev), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) <
	    0)
		log_debug("uplink: TCP_USER_TIMEOUT: %s", strerror(errno));
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct uplink *u = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const struct agent_collector *col = &u->a->conf->collectors[u->collector];

	if (u->tls == NULL && u->state == UPLINK_HELLO) {
		unsigned char head[2];

		if (evbuffer_copyout(in, head, sizeof(head)) == (ev_ssize_t)sizeof(head) &&
		    tls_looks_like_record(head, sizeof(head))) {
			log_complain(
			    &u->conn_fail[u->collector], 300,
			    "uplink to %s (%s): the collector answers in TLS, but this agent "
			    "is insecure = yes: give it a tls section",
			    col->name, col->address);
			uplink_close(u, 1);
			return;
		}
	}
	for (;;) {
		Vakt__Frame *f;
		uint32_t len;
		enum frame_status st = frame_read(in, u->a->conf->max_frame, &f, &len);

		if (st == FRAME_NEED_MORE)
			break;
		if (st != FRAME_OK) {
			log_warnx("uplink to %s (%s): %s (length %u), reconnecting", col->name,
				  col->address, frame_status_str(st), len);
			uplink_close(u, 1);
			return;
		}
		switch (f->msg_case) {
		case VAKT__FRAME__MSG_HELLO_ACK:
			if (u->state == UPLINK_HELLO) {
				/* a copy of this spool sent seqs ours would reuse: skip them */
				int copied = spool_skip_past(u->spool, f->hello_ack->acked) != 0;

				if (copied)
					u->next_seq = spool_next_seq(u->spool);
				/*
				 * What the collector holds durably need not go again. After
				 * a skip that is the copies, counted as such (batches_copied),
				 * not as acknowledged too: the stats line counts each once.
				 */
				if (f->hello_ack->acked > 0) {
					size_t n = spool_ack(u->spool, f->hello_ack->acked);

					if (!copied)
						u->st.batches_acked += n;
				}
				/* ids: what the collector allows (an older one names none), up to ours */
				u->max_series = f->hello_ack->max_series
						    ? f->hello_ack->max_series
						    : SERIES_WIRE_MAX_DEFAULT;
				if (u->max_series > u->a->conf->max_session_series)
					u->max_series = u->a->conf->max_session_series;
				log_info(
				    "uplink: connected to %s (%s), %s, protocol %u (%u series ids), "
				    "%s; it holds batches up to %llu; replaying %zu unacknowledged "
				    "batches, %zu samples waiting",
				    col->name, col->address, f->hello_ack->software,
				    f->hello_ack->protocol, u->max_series,
				    u->tls != NULL
					? SSL_get_version(bufferevent_openssl_get_ssl(bev))
					: "PLAINTEXT",
				    (unsigned long long)f->hello_ack->acked, uplink_queued(u),
				    u->ncur);
				log_complain_clear(&u->conn_fail[u->collector],
						   "uplink: collector reachable again");
				log_clock_offset(u, f->hello_ack->time_ms);
				u->hb_ms =
				    (uint64_t)(f->hello_ack->heartbeat ? f->hello_ack->heartbeat
								       : UPLINK_HEARTBEAT_S) *
				    1000;
				u->protocol = f->hello_ack->protocol ? f->hello_ack->protocol : 1;
				/* new batches fit the smaller limit of the two */
				u->max_frame = u->a->conf->max_frame;
				if (f->hello_ack->max_frame >= 4096 &&
				    f->hello_ack->max_frame < u->max_frame)
					u->max_frame = f->hello_ack->max_frame;
				u->parts = f->hello_ack->parts;
				series_tx_reset(u->tx, u->max_series);
				bufferevent_set_timeouts(bev, NULL, NULL);
				uplink_set_user_timeout(u);
				u->backoff_ms = 0;
				uplink_set_state(u, UPLINK_ACTIVE);
				uplink_send_queued(u);
				heartbeat_arm(u);
				failback_arm(u);
			}
			break;
		case VAKT__FRAME__MSG_HEARTBEAT:
			/* the collector's answer; watching for its silence is not done yet */
			break;
		case VAKT__FRAME__MSG_ACK:
			handle_ack(u, f->ack->seq);
			if (u->leaving && uplink_in_flight(u) == 0) {
				log_info(
				    "uplink: %s (%s) acknowledged what it was sent: moving back "
				    "to %s (%s), %zu unacknowledged batches go there",
				    col->name, col->address, u->a->conf->collectors[0].name,
				    u->a->conf->collectors[0].address, uplink_queued(u));
				vakt__frame__free_unpacked(f, NULL);
				failback_move(u);
				return;
			}
			uplink_send_queued(u);
			break;
		case VAKT__FRAME__MSG_ERROR:
			log_warnx("uplink: collector %s (%s) refused the session: %s", col->name,
				  col->address, f->error->message);
			vakt__frame__free_unpacked(f, NULL);
			uplink_close(u, 1);
			return;
		default:
			log_debug("uplink: ignoring message %d from collector", f->msg_case);
			break;
		}
		vakt__frame__free_unpacked(f, NULL);
	}
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	uplink_send_queued(arg);
}

static void hello_write(struct uplink *u, struct bufferevent *bev)
{
	Vakt__Hello h = VAKT__HELLO__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;
	char sw[64];

	snprintf(sw, sizeof(sw), "vakt-agent %s", VAKT_VERSION);
	h.protocol = VAKT_PROTOCOL;
	h.software = sw;
	h.site = u->a->conf->site;
	h.agent = u->a->conf->name;
	h.stream = spool_stream(u->spool);
	u->hello_mono_ms = mono_now_ms();
	h.time_ms = wall_now_ms();
	f.msg_case = VAKT__FRAME__MSG_HELLO;
	f.hello = &h;
	frame_write(bufferevent_get_output(bev), &f, u->a->conf->max_frame);
}

static void send_hello(struct uplink *u)
{
	struct timeval tv = {UPLINK_HELLO_TIMEOUT, 0};

	hello_write(u, u->bev);
	u->last_out_ms = mono_now_ms();
	bufferevent_set_timeouts(u->bev, &tv, NULL);
	uplink_set_state(u, UPLINK_HELLO);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct uplink *u = arg;
	const struct agent_collector *col = &u->a->conf->collectors[u->collector];

	if (what & BEV_EVENT_CONNECTED) {
		if (u->tls != NULL)
			log_debug("uplink to %s (%s): TLS handshake done, %s, server name \"%s\" "
				  "verified",
				  col->name, col->address,
				  SSL_get_version(bufferevent_openssl_get_ssl(bev)),
				  col->server_name);
		send_hello(u);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && u->state == UPLINK_CONNECTING)
		log_complain(&u->conn_fail[u->collector], 300,
			     "uplink to %s (%s): no TLS handshake within %d s", col->name,
			     col->address, UPLINK_HELLO_TIMEOUT);
	else if (what & BEV_EVENT_TIMEOUT)
		log_complain(&u->conn_fail[u->collector], 300,
			     "uplink to %s (%s): no answer to hello", col->name, col->address);
	else if ((what & BEV_EVENT_EOF) && u->tls != NULL && u->state == UPLINK_CONNECTING)
		log_complain(&u->conn_fail[u->collector], 300,
			     "uplink to %s (%s): TLS handshake failed: connection closed by peer "
			     "(is the collector insecure = yes, without TLS?)",
			     col->name, col->address);
	else if ((what & BEV_EVENT_EOF) && u->tls == NULL && u->state == UPLINK_HELLO)
		log_complain(&u->conn_fail[u->collector], 300,
			     "uplink to %s (%s): connection closed by peer before its hello answer "
			     "(does the collector require TLS? this agent is insecure = yes)",
			     col->name, col->address);
	else if ((what & BEV_EVENT_EOF) && u->tls != NULL && u->state == UPLINK_HELLO) {
		char why[256];

		/*
		 * In TLS 1.3 the collector checks our certificate after our side of
		 * the handshake is done: its refusal arrives as an alert, or (when
		 * our Hello crossed it) as a reset that loses the alert.
		 */
		tls_bev_why(bev, why, sizeof(why));
		log_complain(
		    &u->conn_fail[u->collector], 300,
		    "uplink to %s (%s): TLS: %s before the hello answer (did the collector "
		    "refuse this agent's certificate? its log says why)",
		    col->name, col->address, why);
	} else if (what & BEV_EVENT_EOF)
		log_complain(&u->conn_fail[u->collector], 300,
			     "uplink to %s (%s): connection closed by peer", col->name,
			     col->address);
	else if ((what & BEV_EVENT_ERROR) && u->tls != NULL &&
		 bufferevent_socket_get_dns_error(bev) == 0) {
		char why[256];

		tls_bev_why(bev, why, sizeof(why));
		log_complain(&u->conn_fail[u->collector], 300, "uplink to %s (%s): %s: %s",
			     col->name, col->address,
			     u->state == UPLINK_CONNECTING ? "TLS handshake failed" : "TLS", why);
	} else if (what & BEV_EVENT_ERROR) {
		int dnserr = bufferevent_socket_get_dns_error(bev);

		log_complain(&u->conn_fail[u->collector], 300, "uplink to %s (%s): %s", col->name,
			     col->address,
			     dnserr ? evutil_gai_strerror(dnserr)
				    : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
	uplink_close(u, 1);
}

/*
 * A connection to `col`, not yet connected: over TLS unless insecure = yes,
 * the collector's certificate checked against its server_name. NULL, logged,
 * when it cannot be made.
 */
static struct bufferevent *uplink_bev_new(struct uplink *u, const struct agent_collector *col)
{
	struct bufferevent *bev;
	SSL *ssl;
	struct in6_addr ip;
	struct timeval tv = {UPLINK_HELLO_TIMEOUT, 0};

	if (u->tls == NULL)
		return bufferevent_socket_new(u->a->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(u->tls)) == NULL) {
		log_warnx("uplink to %s (%s): cannot make a TLS connection", col->name,
			  col->address);
		return NULL;
	}
	/*
	 * The collector's certificate must name server_name: an IP address
	 * as an IP subjectAltName, else a DNS name (also sent as SNI).
	 */
	if (inet_pton(AF_INET, col->server_name, &ip) == 1 ||
	    inet_pton(AF_INET6, col->server_name, &ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), col->server_name);
	} else {
		SSL_set1_host(ssl, col->server_name);
		SSL_set_tlsext_host_name(ssl, col->server_name);
	}
	bev = bufferevent_openssl_socket_new(u->a->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		log_warnx("uplink to %s (%s): cannot make a TLS connection", col->name,
			  col->address);
		return NULL;
	}
	/* frames carry their length: a cut without close_notify is an end, not an error */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* connect and handshake count against the hello deadline */
	bufferevent_set_timeouts(bev, &tv, &tv);
	return bev;
}

static void uplink_connect(struct uplink *u)
{
	const struct agent_collector *col = &u->a->conf->collectors[u->collector];
	char host[256];
	unsigned port;
	const char *why;

	if (conf_split_hostport(col->address, host, sizeof(host), &port, 0, &why) < 0) {
		/* validated at load time; cannot happen */
		log_warnx("uplink: collector %s address %s: %s", col->name, col->address, why);
		return;
	}
	u->bev = uplink_bev_new(u, col);
	if (u->bev == NULL) {
		uplink_close(u, 1);
		return;
	}
	bufferevent_setcb(u->bev, read_cb, write_cb, event_cb, u);
	bufferevent_setwatermark(u->bev, EV_WRITE, (size_t)u->a->conf->max_frame, 0);
	bufferevent_enable(u->bev, EV_READ | EV_WRITE);
	uplink_set_state(u, UPLINK_CONNECTING);
	u->st.reconnects++;
	if (bufferevent_socket_connect_hostname(u->bev, u->a->dns, AF_UNSPEC, host, (int)port) <
	    0) {
		/* event_cb has already run or will: nothing more here */
		log_debug("uplink: connect to %s failed at once", col->address);
	}
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct uplink *u = arg;

	if (u->state == UPLINK_IDLE)
		uplink_connect(u);
}

SSL_CTX *uplink_tls_new(const struct agent_conf *conf, char *err, size_t errlen)
{
	struct tls_files f = {conf->tls_ca, conf->tls_cert, conf->tls_key, NULL};
	SSL_CTX *ctx;
	char why[512], cn[256], subject[256];

	if (conf->tls_cert == NULL)
		return NULL;
	ctx = tls_ctx_new(0, &f, NULL, why, sizeof(why));
	if (ctx == NULL) {
		snprintf(err, errlen, "%s:%d: tls: %s", conf->path, conf->tls_line, why);
		return NULL;
	}
	/* the collector takes the site from the certificate: say so now, not at every connection */
	if (tls_cert_names(SSL_CTX_get0_certificate(ctx), cn, sizeof(cn), subject,
			   sizeof(subject)) < 0 ||
	    strcmp(cn, conf->site) != 0) {
		snprintf(err, errlen,
			 "%s:%d: tls: cert \"%s\" (%s) is not for site \"%s\": its CN must be "
			 "the site",
			 conf->path, conf->tls_line, conf->tls_cert, subject, conf->site);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Failback: an agent that failed over keeps its site's data on the second
 * collector only until the preferred (first) one answers a Hello again;
 * then it moves back and replays there what is unacknowledged, so that a
 * site's data and alerts do not stay split between two collectors.
 */
static void probe_free(struct uplink *u)
{
	if (u->probe != NULL) {
		bufferevent_free(u->probe);
		u->probe = NULL;
	}
}

static void failback_arm(struct uplink *u)
{
	struct timeval tv;

	if (u->collector == 0 || u->a->conf->failback_s == 0)
		return;
	tv.tv_sec = (time_t)u->a->conf->failback_s * u->failback_x;
	tv.tv_usec = 0;
	evtimer_add(u->failback_ev, &tv);
}

/* Leaves the current collector for the preferred one: every unacknowledged batch goes there. */
static void failback_move(struct uplink *u)
{
	uplink_close(u, 0);
	u->collector = 0;
	u->backoff_ms = 0;
	u->moved_back = 1;
}

static void probe_read_cb(struct bufferevent *bev, void *arg)
{
	struct uplink *u = arg;
	const struct agent_collector *pref = &u->a->conf->collectors[0];
	const struct agent_collector *cur = &u->a->conf->collectors[u->collector];
	Vakt__Frame *f;
	uint32_t len;
	enum frame_status st =
	    frame_read(bufferevent_get_input(bev), u->a->conf->max_frame, &f, &len);

	if (st == FRAME_NEED_MORE)
		return;
	if (st != FRAME_OK || f->msg_case != VAKT__FRAME__MSG_HELLO_ACK) {
		log_debug("uplink: preferred collector %s (%s) did not accept a hello: %s",
			  pref->name, pref->address,
			  st != FRAME_OK ? frame_status_str(st) : "not a HelloAck");
		if (st == FRAME_OK)
			vakt__frame__free_unpacked(f, NULL);
		probe_free(u);
		failback_arm(u);
		return;
	}
	vakt__frame__free_unpacked(f, NULL);
	probe_free(u);
	if (uplink_in_flight(u) > 0) {
		/*
		 * What this collector was sent may be stored here already: sent
		 * again to the preferred one it would be in both. Nothing more
		 * goes here; the move waits for the acks (or the ack timeout).
		 */
		log_info("uplink: preferred collector %s (%s) answers again: moving back from %s "
			 "(%s) once it acknowledges the %zu batches it was sent",
			 pref->name, pref->address, cur->name, cur->address, uplink_in_flight(u));
		u->leaving = 1;
		return;
	}
	log_info("uplink: preferred collector %s (%s) answers again: moving back from %s (%s), "
		 "%zu unacknowledged batches go there",
		 pref->name, pref->address, cur->name, cur->address, uplink_queued(u));
	failback_move(u);
}

static void probe_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct uplink *u = arg;
	const struct agent_collector *pref = &u->a->conf->collectors[0];

	if (what & BEV_EVENT_CONNECTED) {
		hello_write(u, bev);
		return;
	}
	log_debug("uplink: preferred collector %s (%s) still away: %s", pref->name, pref->address,
		  what & BEV_EVENT_TIMEOUT ? "no answer"
					   : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	probe_free(u);
	failback_arm(u);
}

static void failback_cb(evutil_socket_t fd, short what, void *arg)
{
	struct uplink *u = arg;
	const struct agent_collector *pref = &u->a->conf->collectors[0];
	struct timeval tv = {UPLINK_HELLO_TIMEOUT, 0};
	char host[256];
	unsigned port;
	const char *why;

	if (u->state != UPLINK_ACTIVE || u->collector == 0 || u->probe != NULL)
		return;
	if (conf_split_hostport(pref->address, host, sizeof(host), &port, 0, &why) < 0)
		return; /* validated at load time */
	u->probe = uplink_bev_new(u, pref);
	if (u->probe == NULL) {
		failback_arm(u);
		return;
	}
	bufferevent_setcb(u->probe, probe_read_cb, NULL, probe_event_cb, u);
	/* the write timeout bounds the connect too */
	bufferevent_set_timeouts(u->probe, &tv, &tv);
	bufferevent_enable(u->probe, EV_READ | EV_WRITE);
	log_debug("uplink: trying the preferred collector %s (%s)", pref->name, pref->address);
	if (bufferevent_socket_connect_hostname(u->probe, u->a->dns, AF_UNSPEC, host, (int)port) <
	    0)
		log_debug("uplink: connect to %s failed at once", pref->address);
}

struct uplink *uplink_new(struct agent *a)
{
	struct uplink *u;
	struct spool_conf sc = {
	    .dir = a->conf->spool_dir,
	    .max_bytes = a->conf->spool_size,
	    .fsync_s = a->conf->spool_fsync,
	    .mem_bytes = a->conf->queue_bytes ? a->conf->queue_bytes : UPLINK_QUEUE_BYTES,
	    .mem_batches = a->conf->queue_batches,
	};
	SSL_CTX *tls = NULL;
	char err[1024];

	if (a->conf->tls_cert != NULL &&
	    (tls = uplink_tls_new(a->conf, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return NULL;
	}
	u = xcalloc(1, sizeof(*u));
	u->tls = tls;
	u->a = a;
	u->send = xcalloc(UPLINK_BATCH_SAMPLES, sizeof(*u->send));
	u->srec = xcalloc(UPLINK_BATCH_SAMPLES, sizeof(*u->srec));
	u->live_tail = &u->live;
	u->res = xcalloc(UPLINK_BATCH_RESULTS, sizeof(*u->res));
	u->evs = xcalloc(UPLINK_BATCH_EVENTS, sizeof(*u->evs));
	u->conn_fail = xcalloc(a->conf->ncollectors, sizeof(*u->conn_fail));
	u->spool = spool_open(a->base, &sc, spool_ready, u);
	if (u->spool == NULL) { /* another agent holds spool_dir: said */
		free(u->conn_fail);
		free(u->evs);
		free(u->res);
		free(u->srec);
		free(u->send);
		free(u);
		SSL_CTX_free(tls);
		return NULL;
	}
	u->hb_ms = UPLINK_HEARTBEAT_S * 1000;
	u->next_seq = spool_next_seq(u->spool);
	u->max_frame = a->conf->max_frame;
	u->failback_x = 1;
	u->tx = series_tx_new(a->conf->max_session_series);
	u->flush_ev = evtimer_new(a->base, flush_cb, u);
	u->wout = evbuffer_new();
	u->retry_ev = evtimer_new(a->base, retry_cb, u);
	u->hb_ev = evtimer_new(a->base, heartbeat_cb, u);
	u->ack_ev = evtimer_new(a->base, ack_timeout_cb, u);
	u->failback_ev = evtimer_new(a->base, failback_cb, u);
	return u;
}

void uplink_start(struct uplink *u)
{
	uplink_connect(u);
}

void uplink_drain(struct uplink *u)
{
	u->draining = 1;
	uplink_flush(u);
	/* nobody to wait for when the collector is unreachable */
	if (uplink_queued(u) == 0 || u->state != UPLINK_ACTIVE)
		event_base_loopbreak(u->a->base);
}

void uplink_get_stats(const struct uplink *u, struct uplink_stats *st)
{
	struct spool_stats sp;

	spool_get_stats(u->spool, &sp);
	*st = u->st;
	st->queued = sp.batches;
	st->queued_bytes = sp.mem_bytes;
	st->spooled_bytes = sp.disk_bytes;
	st->memory_only = sp.memory_only;
	/* the spool's, and those too big for a collector that takes no parts */
	st->batches_dropped += sp.batches_dropped;
	st->samples_dropped += sp.samples_dropped;
	st->results_dropped += sp.results_dropped;
	st->bytes_dropped += sp.bytes_dropped;
	st->segments_unreadable = sp.segments_unreadable;
	st->batches_copied = sp.batches_copied;
}

enum uplink_state uplink_get_state(const struct uplink *u)
{
	return u->state;
}

void uplink_free(struct uplink *u)
{
	if (u == NULL)
		return;
	if (uplink_queued(u) > 0 && spool_on_disk(u->spool))
		log_info("uplink: %zu batches not acknowledged yet stay in the spool for the next "
			 "start",
			 uplink_queued(u));
	else if (uplink_queued(u) > 0)
		log_warnx("uplink: %zu batches were not acknowledged and are lost at exit (no "
			  "spool on disk)",
			  uplink_queued(u));
	if (u->bev != NULL)
		bufferevent_free(u->bev);
	probe_free(u);
	event_free(u->ack_ev);
	event_free(u->failback_ev);
	event_free(u->flush_ev);
	evbuffer_free(u->wout);
	event_free(u->retry_ev);
	event_free(u->hb_ev);
	free(u->sbuf);
	free(u->send);
	live_free_all(u);
	free(u->srec);
	free(u->srec_spare);
	for (size_t i = 0; i < u->nres; i++)
		uplink_result_free(u->res[i]);
	free(u->res);
	for (size_t i = 0; i < u->nevs; i++)
		uplink_event_free(u->evs[i]);
	free(u->evs);
	spool_free(u->spool);
	free(u->conn_fail);
	series_tx_free(u->tx);
	SSL_CTX_free(u->tls);
	free(u);
}
