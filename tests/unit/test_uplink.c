/*
 * test_uplink.c - the agent's uplink against a tiny collector in the test:
 * a libevent listener on 127.0.0.1 speaking the real framing. Acks remove
 * exactly what they acknowledge, the queue drops its oldest batch first
 * (counted, in batches and in bytes), a dead collector fails over to the
 * next, a reconnect resends in order, and every run of a check that cannot
 * start still reaches the collector as an ERROR Result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>

#include "agent.h"
#include "check.h"
#include "frame.h"
#include "series_wire.h"
#include "timeutil.h"
#include "uplink.h"
#include "xmalloc.h"

#define MAX_SEEN 64

/* What the test collector saw of one Result. */
struct seen_result {
	char host[64], check[64], reason[256];
	int outcome;
};

struct tcol {
	struct event_base *base;
	struct evconnlistener *lis;
	struct bufferevent *bev; /* the one agent connection */
	unsigned port;
	int auto_ack;
	unsigned heartbeat_s; /* announced in HelloAck */
	uint64_t acked;       /* announced in HelloAck */
	uint64_t stream;      /* the last Hello's */
	unsigned hellos, heartbeats;
	int64_t hello_time_ms;
	uint64_t seqs[MAX_SEEN]; /* batches received, in order */
	size_t nseqs;
	size_t nsamples;
	unsigned protocol;      /* answered in HelloAck; 0: VAKT_PROTOCOL */
	uint32_t max_series;    /* announced in HelloAck (0: left out, 100,000), the rx's bound */
	uint32_t max_frame;     /* announced in HelloAck and enforced (0: FRAME_MAX_DEFAULT) */
	unsigned too_big;       /* frames over it: the session closed, as the collector does */
	struct series_rx *rx;   /* the series the agent defined on this connection */
	uint32_t max_id;        /* the highest series id the agent defined */
	size_t compact_batches; /* batches in the compact form (protocol 2) */
	char last_metric[64];   /* of the last sample received */
	/* when set, says whether a received sample is as sent; those not are counted */
	int (*sample_ok)(const Vakt__Sample *v);
	size_t wrong;
	struct seen_result results[MAX_SEEN];
	size_t nresults;
};

static void tcol_send(struct tcol *t, Vakt__Frame *f)
{
	assert_int_equal(frame_write(bufferevent_get_output(t->bev), f, FRAME_MAX_DEFAULT), 0);
}

static void tcol_ack(struct tcol *t, uint64_t seq)
{
	Vakt__Ack a = VAKT__ACK__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;

	a.seq = seq;
	f.msg_case = VAKT__FRAME__MSG_ACK;
	f.ack = &a;
	tcol_send(t, &f);
}

static void tcol_drop(struct tcol *t)
{
	if (t->bev != NULL) {
		bufferevent_free(t->bev);
		t->bev = NULL;
	}
}

static void tcol_frame(struct tcol *t, Vakt__Frame *in)
{
	Vakt__HelloAck ha = VAKT__HELLO_ACK__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;

	switch (in->msg_case) {
	case VAKT__FRAME__MSG_HELLO:
		t->hellos++;
		t->stream = in->hello->stream;
		t->hello_time_ms = in->hello->time_ms;
		ha.protocol = t->protocol ? t->protocol : VAKT_PROTOCOL;
		ha.software = "test-collector";
		/* a new connection: the agent defines every series again */
		series_rx_free(t->rx);
		t->rx = series_rx_new(t->max_series);
		ha.max_series = t->max_series;
		ha.max_frame = t->max_frame ? t->max_frame : FRAME_MAX_DEFAULT;
		ha.time_ms = wall_now_ms();
		ha.heartbeat = t->heartbeat_s;
		ha.acked = t->acked;
		f.msg_case = VAKT__FRAME__MSG_HELLO_ACK;
		f.hello_ack = &ha;
		tcol_send(t, &f);
		break;
	case VAKT__FRAME__MSG_BATCH:
		if (t->nseqs < MAX_SEEN)
			t->seqs[t->nseqs++] = in->batch->seq;
		t->nsamples += in->batch->n_samples;
		for (size_t i = 0; t->sample_ok != NULL && i < in->batch->n_samples; i++)
			t->wrong += !t->sample_ok(in->batch->samples[i]);
		if (in->batch->n_samples > 0)
			snprintf(t->last_metric, sizeof(t->last_metric), "%s",
				 in->batch->samples[in->batch->n_samples - 1]->metric);
		if (in->batch->n_sid > 0) {
			Vakt__Sample *v;
			size_t n;

			/* as the collector does: every id must be defined on this connection */
			assert_null(series_rx_expand(t->rx, in->batch, &v, &n));
			for (size_t i = 0; i < in->batch->n_series; i++)
				if (in->batch->series[i]->id > t->max_id)
					t->max_id = in->batch->series[i]->id;
			t->compact_batches++;
			t->nsamples += n;
			for (size_t i = 0; t->sample_ok != NULL && i < n; i++)
				t->wrong += !t->sample_ok(&v[i]);
			snprintf(t->last_metric, sizeof(t->last_metric), "%s", v[n - 1].metric);
			free(v);
		}
		for (size_t i = 0; i < in->batch->n_results && t->nresults < MAX_SEEN; i++) {
			struct seen_result *r = &t->results[t->nresults++];

			snprintf(r->host, sizeof(r->host), "%s", in->batch->results[i]->host);
			snprintf(r->check, sizeof(r->check), "%s", in->batch->results[i]->check);
			snprintf(r->reason, sizeof(r->reason), "%s", in->batch->results[i]->reason);
			r->outcome = in->batch->results[i]->outcome;
		}
		if (t->auto_ack)
			tcol_ack(t, in->batch->seq);
		break;
	case VAKT__FRAME__MSG_HEARTBEAT:
		t->heartbeats++;
		break;
	default:
		break;
	}
}

static void tcol_read_cb(struct bufferevent *bev, void *arg)
{
	struct tcol *t = arg;
	Vakt__Frame *f;
	uint32_t len;
	enum frame_status st;

	while ((st = frame_read(bufferevent_get_input(bev),
				t->max_frame ? t->max_frame : FRAME_MAX_DEFAULT, &f, &len)) ==
	       FRAME_OK) {
		tcol_frame(t, f);
		vakt__frame__free_unpacked(f, NULL);
		if (t->bev == NULL)
			return;
	}
	/* as the collector does: a frame over its max_frame ends the session */
	if (st == FRAME_TOO_BIG) {
		t->too_big++;
		tcol_drop(t);
	}
}

static void tcol_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		tcol_drop(arg);
}

static void tcol_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			   int salen, void *arg)
{
	struct tcol *t = arg;

	tcol_drop(t);
	t->bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(t->bev, tcol_read_cb, NULL, tcol_event_cb, t);
	bufferevent_enable(t->bev, EV_READ | EV_WRITE);
}

/* A test collector on 127.0.0.1:port (0: any free port). */
static struct tcol *tcol_new_port(struct event_base *base, unsigned port)
{
	struct tcol *t = xcalloc(1, sizeof(*t));
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	t->base = base;
	t->auto_ack = 1;
	t->lis = evconnlistener_new_bind(base, tcol_accept_cb, t,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
					 (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(t->lis);
	getsockname(evconnlistener_get_fd(t->lis), (struct sockaddr *)&sin, &len);
	t->port = ntohs(sin.sin_port);
	return t;
}

static struct tcol *tcol_new(struct event_base *base)
{
	return tcol_new_port(base, 0);
}

static void tcol_free(struct tcol *t)
{
	if (t == NULL)
		return;
	tcol_drop(t);
	evconnlistener_free(t->lis);
	series_rx_free(t->rx);
	free(t);
}

/* A port on 127.0.0.1 where nobody listens: connections are refused. */
static unsigned closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}

struct fixture {
	struct agent a;
	struct tcol *col;
	struct event *tick;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

static struct agent_conf *conf_new(size_t ncol)
{
	struct agent_conf *c = xcalloc(1, sizeof(*c));

	c->site = xstrdup("rissa");
	c->name = xstrdup("test-agent");
	c->batch_ms = 20;
	c->queue_batches = 16;
	c->queue_bytes = 1 << 20;
	c->failback_s = 30;
	c->max_frame = FRAME_MAX_DEFAULT;
	c->max_session_series = 1000000;
	c->ncollectors = ncol;
	c->collectors = xcalloc(ncol, sizeof(*c->collectors));
	for (size_t i = 0; i < ncol; i++)
		c->collectors[i].name = xstrdup(i ? "dc2" : "dc1");
	return c;
}

static void set_collector(struct agent_conf *c, size_t i, unsigned port)
{
	free(c->collectors[i].address);
	xasprintf(&c->collectors[i].address, "127.0.0.1:%u", port);
}

/* Event loop, a test collector, and an agent whose conf the test fills in. */
static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	struct timeval tv = {0, 20000};

	fx->a.base = event_base_new();
	/* no name servers: a name fails at once, as one that does not exist */
	fx->a.dns = evdns_base_new(fx->a.base, 0);
	fx->col = tcol_new(fx->a.base);
	/* wakes the loop so that run_until can look at the clock */
	fx->tick = event_new(fx->a.base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(fx->tick, &tv);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	agent_conf_free(fx->a.conf);
	/* before the turn below: the uplink's callbacks read the conf just freed */
	uplink_free(fx->a.uplink);
	/* as the agent does at exit: a lookup cancelled by stop() lets go on the loop */
	event_base_loop(fx->a.base, EVLOOP_NONBLOCK);
	check_kinds_fini(&fx->a);
	tcol_free(fx->col);
	event_free(fx->tick);
	evdns_base_free(fx->a.dns, 0);
	event_base_free(fx->a.base);
	free(fx);
	return 0;
}

/* Runs the loop until pred() holds or `ms` pass; returns pred(). */
static int run_until(struct fixture *fx, int (*pred)(struct fixture *), uint64_t ms)
{
	uint64_t end = mono_now_ms() + ms;

	while (!pred(fx) && mono_now_ms() < end)
		event_base_loop(fx->a.base, EVLOOP_ONCE);
	return pred(fx);
}

static void run_for(struct fixture *fx, uint64_t ms)
{
	uint64_t end = mono_now_ms() + ms;

	while (mono_now_ms() < end)
		event_base_loop(fx->a.base, EVLOOP_ONCE);
}

static size_t want_batches;

static int got_batches(struct fixture *fx)
{
	return fx->col->nseqs >= want_batches;
}

static int is_active(struct fixture *fx)
{
	return uplink_get_state(fx->a.uplink) == UPLINK_ACTIVE;
}

static int queue_empty(struct fixture *fx)
{
	struct uplink_stats st;

	uplink_get_stats(fx->a.uplink, &st);
	return st.queued == 0;
}

/* `n` samples of sw1's uptime, added one by one: they wait for the flush timer. */
static void add_samples(struct fixture *fx, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		Vakt__Sample *s = uplink_sample_new("sw1", "system", "", "uptime");

		s->time_ms = wall_now_ms();
		s->value = i;
		s->interval = 60;
		uplink_add(fx->a.uplink, s);
	}
}

/* One batch of `n` samples, sent (or queued) at once. */
static void add_batch(struct fixture *fx, unsigned n)
{
	add_samples(fx, n);
	uplink_flush(fx->a.uplink);
}

/* `n` samples of `n` series: metrics m<first>..m<first + n - 1> of sw1. */
static void add_series(struct fixture *fx, unsigned first, unsigned n)
{
	char metric[16];

	for (unsigned i = first; i < first + n; i++) {
		Vakt__Sample *s;

		snprintf(metric, sizeof(metric), "m%u", i);
		s = uplink_sample_new("sw1", "system", "", metric);
		s->time_ms = wall_now_ms();
		s->value = i;
		s->interval = 60;
		uplink_add(fx->a.uplink, s);
	}
	uplink_flush(fx->a.uplink);
}

static void start_agent(struct fixture *fx, struct agent_conf *conf)
{
	fx->a.conf = conf;
	fx->a.uplink = uplink_new(&fx->a);
}

/* An agent connected to the test collector, which acknowledges nothing until tcol_ack(). */
static void connect_agent_without_acks(struct fixture *fx)
{
	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, fx->col->port);
	fx->col->auto_ack = 0;
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
}

static void test_ack_removes_exactly_the_acked_batches(void **state)
{
	struct fixture *fx = *state;
	struct uplink_stats st;

	connect_agent_without_acks(fx);
	add_batch(fx, 3);
	add_batch(fx, 3);
	add_batch(fx, 3);
	want_batches = 3;
	assert_true(run_until(fx, got_batches, 5000));
	tcol_ack(fx->col, 2);
	run_for(fx, 200);
	uplink_get_stats(fx->a.uplink, &st);
	assert_int_equal(st.batches_acked, 2);
	assert_int_equal(st.queued, 1);
	/* on a new connection only the unacknowledged batch goes again */
	tcol_drop(fx->col);
	fx->col->auto_ack = 1;
	want_batches = 4;
	assert_true(run_until(fx, got_batches, 5000));
	run_for(fx, 200);
	assert_int_equal(fx->col->nseqs, 4);
	assert_int_equal(fx->col->seqs[3], 3);
	assert_true(run_until(fx, queue_empty, 2000));
}

static int got_60_samples(struct fixture *fx)
{
	return fx->col->nsamples >= 60;
}

/*
 * Samples added without an allocation of their own (uplink_add_sample) go
 * out in batches no larger than max_frame; one larger than that alone is
 * dropped, and those before and after it arrive whole and in order.
 */
static void test_batches_fit_max_frame_and_a_sample_too_big_alone_is_dropped(void **state)
{
	struct fixture *fx = *state;
	struct agent_conf *conf = conf_new(1);
	char metric[3000];

	conf->max_frame = 2048;
	start_agent(fx, conf);
	set_collector(fx->a.conf, 0, fx->col->port);
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
	for (unsigned i = 0; i <= 60; i++) {
		Vakt__Sample v = VAKT__SAMPLE__INIT;

		if (i == 30) {
			memset(metric, 'x', sizeof(metric) - 1);
			metric[sizeof(metric) - 1] = '\0';
		} else {
			snprintf(metric, sizeof(metric), "m%u", i < 30 ? i : i - 1);
		}
		v.time_ms = wall_now_ms();
		v.value = i;
		v.interval = 60;
		uplink_add_sample(fx->a.uplink, "sw1", "system", "", metric, &v);
	}
	uplink_flush(fx->a.uplink);
	assert_true(run_until(fx, got_60_samples, 5000));
	run_for(fx, 200);
	assert_int_equal(fx->col->nsamples, 60);
	assert_string_equal(fx->col->last_metric, "m59");
	/* the 30 before it in one batch (61 did not fit), the 30 after it in another */
	assert_int_equal(fx->col->nseqs, 2);
	assert_true(run_until(fx, queue_empty, 2000));
}

/* Ports [first, first + n) of switch sw1, two counters and a gauge each, as one batch. */
static void add_ports(struct fixture *fx, unsigned first, unsigned n, unsigned pad)
{
	static const char *metric[3] = {"in_octets", "out_octets", "oper_status"};
	char inst[64];

	for (unsigned i = first; i < first + n; i++)
		for (unsigned m = 0; m < 3; m++) {
			Vakt__Sample v = VAKT__SAMPLE__INIT;

			snprintf(inst, sizeof(inst), "Gi0/%u%.*s", i, (int)pad,
				 "............................................");
			v.time_ms = wall_now_ms();
			v.interval = 60;
			if (m < 2) {
				v.kind = VAKT__KIND__DERIVE;
				v.counter = 1000000007ULL * i + m;
				v.width = 64;
			} else {
				v.value = 1;
			}
			uplink_add_sample(fx->a.uplink, "sw1", "if", inst, metric[m], &v);
		}
	uplink_flush(fx->a.uplink);
}

/*
 * A batch made to fit max_frame in the full form can be larger in the
 * compact form: past id 16,383 (a 3-byte varint) the definitions of its new
 * series cost more than the names and times they replace. Such a batch goes
 * in the full form: past the collector's max_frame it would be refused and
 * the session closed, again at every session that defines as many series.
 */
static void test_compact_batch_never_passes_max_frame(void **state)
{
	struct fixture *fx = *state;
	struct agent_conf *conf = conf_new(1);
	unsigned port = 0, samples = 0;

	conf->max_frame = 4096;
	conf->queue_batches = 1000;
	fx->col->max_frame = 4096;
	start_agent(fx, conf);
	set_collector(fx->a.conf, 0, fx->col->port);
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
	/* 16,800 series ids defined */
	for (; port < 5600; port += 280, samples += 840) {
		add_ports(fx, port, 280, 0);
		assert_true(run_until(fx, queue_empty, 20000));
	}
	/* batches of new ports whose full form comes ever closer to max_frame */
	for (unsigned pad = 0; pad < 24; pad++)
		for (unsigned n = 19; n <= 22; port += n, samples += 3 * n, n++) {
			add_ports(fx, port, n, pad);
			assert_true(run_until(fx, queue_empty, 20000));
		}
	assert_int_equal(fx->col->too_big, 0);
	assert_int_equal(fx->col->hellos, 1);
	assert_int_equal(fx->col->nsamples, samples);
}

static const char *const port_metric[4] = {"in_octets", "out_octets", "oper_status", "down"};

/* A sample of add_by_file: its counter says which port and metric, or the uptime between. */
static int port_sample_ok(const Vakt__Sample *v)
{
	char inst[32];

	if (v->counter == UINT32_MAX)
		return strcmp(v->host, "sw1") == 0 && strcmp(v->check, "system") == 0 &&
		       strcmp(v->instance, "") == 0 && strcmp(v->metric, "uptime") == 0;
	snprintf(inst, sizeof(inst), "Gi0/%u", (unsigned)(v->counter >> 8));
	return (v->counter & 0xff) < 4 && strcmp(v->host, "sw1") == 0 &&
	       strcmp(v->check, "if") == 0 && strcmp(v->instance, inst) == 0 &&
	       strcmp(v->metric, port_metric[v->counter & 0xff]) == 0;
}

/*
 * Ports [0, n) of sw1 by their files, four metrics each (each file made
 * where the last was), and every seventh port a sample of another file
 * between its metrics; returns the samples added.
 */
static size_t add_by_file(struct fixture *fx, unsigned n)
{
	size_t added = 0;

	for (unsigned i = 0; i < n; i++) {
		struct uplink_file f;
		char inst[32];

		snprintf(inst, sizeof(inst), "Gi0/%u", i);
		uplink_file_init(&f, "sw1", "if", inst);
		for (unsigned m = 0; m < 4; m++) {
			Vakt__Sample v = VAKT__SAMPLE__INIT;

			v.time_ms = wall_now_ms();
			v.interval = 60;
			v.kind = VAKT__KIND__DERIVE;
			if (i % 7 == 3 && m == 2) {
				v.counter = UINT32_MAX;
				uplink_add_sample(fx->a.uplink, "sw1", "system", "", "uptime", &v);
				added++;
			}
			v.counter = (uint64_t)i << 8 | m;
			uplink_add_file_sample(fx->a.uplink, &f, port_metric[m],
					       strlen(port_metric[m]), &v);
			added++;
		}
	}
	uplink_flush(fx->a.uplink);
	return added;
}

static size_t want_samples;

static int second_hello(struct fixture *fx)
{
	return fx->col->hellos >= 2 && is_active(fx);
}

static int got_samples(struct fixture *fx)
{
	return fx->col->nsamples >= want_samples;
}

/*
 * Samples added by their file (a port's metrics, its names measured once)
 * reach the collector under their own names, in the compact form and the
 * full one alike: the file of a sample that follows another file's, or
 * begins a batch (one is cut every 4,000 samples), is never taken for the
 * sample's before it, though each port's file is made where the last was.
 */
static void test_samples_added_by_file_arrive_under_their_names(void **state)
{
	struct fixture *fx = *state;

	fx->col->sample_ok = port_sample_ok;
	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, fx->col->port);
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
	for (int round = 0; round < 2; round++) {
		want_samples += add_by_file(fx, 1100);
		assert_true(run_until(fx, got_samples, 10000));
		assert_true(run_until(fx, queue_empty, 5000));
	}
	assert_true(fx->col->compact_batches >= 4);
	fx->col->protocol = 1;
	tcol_drop(fx->col);
	assert_true(run_until(fx, second_hello, 5000));
	want_samples += add_by_file(fx, 1100);
	assert_true(run_until(fx, got_samples, 10000));
	assert_int_equal(fx->col->hellos, 2);
	assert_int_equal(fx->col->nsamples, want_samples);
	assert_int_equal(fx->col->wrong, 0);
}

static void test_full_queue_drops_the_oldest_batch_and_counts_it(void **state)
{
	struct fixture *fx = *state;
	struct uplink_stats st;
	struct agent_conf *conf = conf_new(1);

	conf->queue_batches = 3;
	start_agent(fx, conf);
	set_collector(fx->a.conf, 0, fx->col->port);
	/* not connected yet: five batches into a queue of three */
	for (int i = 0; i < 5; i++)
		add_batch(fx, 2);
	uplink_get_stats(fx->a.uplink, &st);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.batches_dropped, 2);
	assert_int_equal(st.samples_dropped, 4);
	/* which went: batches 1 and 2, the oldest; 3, 4, 5 arrive in order */
	uplink_start(fx->a.uplink);
	want_batches = 3;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->seqs[0], 3);
	assert_int_equal(fx->col->seqs[1], 4);
	assert_int_equal(fx->col->seqs[2], 5);
	assert_true(run_until(fx, queue_empty, 2000));
}

static void test_queue_is_bounded_in_bytes(void **state)
{
	struct fixture *fx = *state;
	struct uplink_stats st;
	uint64_t one;

	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, fx->col->port);
	add_batch(fx, 100);
	uplink_get_stats(fx->a.uplink, &st);
	one = st.queued_bytes;
	assert_true(one > 100); /* a queued sample costs its encoding, with nothing per sample */
	assert_true(one < 100 * 100);
	uplink_free(fx->a.uplink);
	/* room for two and a half batches of the same size */
	fx->a.conf->queue_bytes = one * 5 / 2;
	fx->a.uplink = uplink_new(&fx->a);
	for (int i = 0; i < 5; i++)
		add_batch(fx, 100);
	uplink_get_stats(fx->a.uplink, &st);
	assert_int_equal(st.queued, 2);
	assert_true(st.queued_bytes <= fx->a.conf->queue_bytes);
	assert_int_equal(st.batches_dropped, 3);
	assert_int_equal(st.samples_dropped, 300);
	uplink_start(fx->a.uplink);
	want_batches = 2;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->seqs[0], 4);
	assert_int_equal(fx->col->seqs[1], 5);
}

static void test_failover_to_next_collector_after_connection_failure(void **state)
{
	struct fixture *fx = *state;

	start_agent(fx, conf_new(2));
	set_collector(fx->a.conf, 0, closed_port());
	set_collector(fx->a.conf, 1, fx->col->port);
	add_batch(fx, 5);
	uplink_start(fx->a.uplink);
	want_batches = 1;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->hellos, 1);
	assert_int_equal(fx->col->seqs[0], 1);
	assert_int_equal(fx->col->nsamples, 5);
}

/*
 * A protocol-2 collector gets batches in the compact form, a series defined
 * in the first only; a protocol-1 collector gets the full form.
 */
static void test_compact_form_only_for_protocol_2(void **state)
{
	struct fixture *fx = *state;
	struct uplink_stats st;

	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, fx->col->port);
	uplink_start(fx->a.uplink);
	for (int i = 0; i < 3; i++)
		add_batch(fx, 20);
	want_batches = 3;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->compact_batches, 3);
	assert_int_equal(fx->col->nsamples, 60);
	assert_string_equal(fx->col->last_metric, "uptime");
	uplink_get_stats(fx->a.uplink, &st);
	/* 20 samples of one series: names once, then ~11 bytes a sample */
	assert_true(st.bytes_sent * 3 < st.bytes_full);

	assert_true(run_until(fx, queue_empty, 2000));
	fx->col->protocol = 1;
	tcol_drop(fx->col);
	add_batch(fx, 20);
	want_batches = 4;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->hellos, 2);
	assert_int_equal(fx->col->compact_batches, 3);
	assert_int_equal(fx->col->nsamples, 80);
}

/*
 * The session defines no more ids than HelloAck's max_series allows, nor
 * than the agent's own max_session_series: past the lower, its table starts
 * again (the test collector, like the real one, refuses an id above what it
 * announced).
 */
static void test_series_ids_within_the_lower_limit(void **state)
{
	struct fixture *fx = *state;

	fx->col->max_series = 100;
	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, fx->col->port);
	uplink_start(fx->a.uplink);
	/* 60 series, then 60 others: 120 would not fit in 100 ids */
	add_series(fx, 0, 60);
	want_batches = 1;
	assert_true(run_until(fx, got_batches, 5000));
	add_series(fx, 60, 60);
	want_batches = 2;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->compact_batches, 2);
	assert_int_equal(fx->col->nsamples, 120);
	assert_int_equal(fx->col->max_id, 60);
	assert_int_equal(series_rx_defined(fx->col->rx), 120);

	/* the collector allows 1,000,000, the agent only 100 */
	assert_true(run_until(fx, queue_empty, 2000));
	fx->a.conf->max_session_series = 100;
	fx->col->max_series = 1000000;
	tcol_drop(fx->col);
	add_series(fx, 120, 60);
	want_batches = 3;
	assert_true(run_until(fx, got_batches, 5000));
	add_series(fx, 180, 60);
	want_batches = 4;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->hellos, 2);
	assert_int_equal(fx->col->compact_batches, 4);
	assert_int_equal(fx->col->max_id, 60);
	/* and with room for both, the first 60 keep their ids: none defined again */
	assert_true(run_until(fx, queue_empty, 2000));
	fx->a.conf->max_session_series = 1000000;
	tcol_drop(fx->col);
	add_series(fx, 240, 60);
	want_batches = 5;
	assert_true(run_until(fx, got_batches, 5000));
	add_series(fx, 300, 60);
	want_batches = 6;
	assert_true(run_until(fx, got_batches, 5000));
	add_series(fx, 240, 60);
	want_batches = 7;
	assert_true(run_until(fx, got_batches, 5000));
	assert_int_equal(fx->col->max_id, 120);
	assert_int_equal(series_rx_defined(fx->col->rx), 120);
}

static void test_resend_in_order_after_reconnect(void **state)
{
	struct fixture *fx = *state;
	struct uplink_stats st;

	connect_agent_without_acks(fx);
	for (int i = 0; i < 4; i++)
		add_batch(fx, 1);
	want_batches = 4;
	assert_true(run_until(fx, got_batches, 5000));
	/* the connection breaks before any ack: all four go again, oldest first */
	tcol_drop(fx->col);
	want_batches = 8;
	assert_true(run_until(fx, got_batches, 5000));
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(fx->col->seqs[i], i % 4 + 1);
	assert_int_equal(fx->col->hellos, 2);
	tcol_ack(fx->col, 4);
	assert_true(run_until(fx, queue_empty, 2000));
	uplink_get_stats(fx->a.uplink, &st);
	assert_int_equal(st.batches_acked, 4);
}

/*
 * The flush timer runs only while something waits: the first sample after
 * a batch arms it, and its batch goes batch_ms later with all that came
 * meanwhile; an idle agent sends no empty batches.
 */
static void test_samples_go_batch_ms_after_the_first_without_a_flush(void **state)
{
	struct fixture *fx = *state;

	connect_agent_without_acks(fx);
	add_samples(fx, 3);
	want_batches = 1;
	assert_true(run_until(fx, got_batches, 2000));
	assert_int_equal(fx->col->nsamples, 3);
	/* idle for ten times batch_ms: nothing to send, nothing sent */
	run_for(fx, 10 * fx->a.conf->batch_ms);
	assert_int_equal(fx->col->nseqs, 1);
	add_samples(fx, 2);
	want_batches = 2;
	assert_true(run_until(fx, got_batches, 2000));
	assert_int_equal(fx->col->seqs[1], 2);
	assert_int_equal(fx->col->nsamples, 5);
}

/*
 * Without a spool, samples made while the collector is away wait in memory
 * unbatched; once it answers they go without another sample to arm the timer.
 */
static void test_samples_made_while_away_go_once_the_collector_answers(void **state)
{
	struct fixture *fx = *state;
	unsigned port = closed_port();

	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, port);
	uplink_start(fx->a.uplink);
	add_samples(fx, 4);
	run_for(fx, 10 * fx->a.conf->batch_ms);
	assert_int_equal(fx->col->nseqs, 0);
	tcol_free(fx->col);
	fx->col = tcol_new_port(fx->a.base, port);
	want_batches = 1;
	assert_true(run_until(fx, got_batches, 10000));
	assert_int_equal(fx->col->seqs[0], 1);
	assert_int_equal(fx->col->nsamples, 4);
}

static int got_heartbeat(struct fixture *fx)
{
	return fx->col->heartbeats > 0;
}

static void test_idle_connection_sends_heartbeats_and_its_clock(void **state)
{
	struct fixture *fx = *state;
	int64_t before = wall_now_ms();

	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, fx->col->port);
	fx->col->heartbeat_s = 1;
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, got_heartbeat, 3000));
	assert_true(fx->col->hello_time_ms >= before && fx->col->hello_time_ms <= wall_now_ms());
	assert_int_equal(fx->col->nseqs, 0);
}

/* A kind whose start always fails, as one whose device name never resolves. */
static int broken_start(struct check *c)
{
	return check_start_error(c, "cannot resolve sw9.rissa: no such name");
}

static void broken_run(struct check *c)
{
	fail_msg("run() of a check that never started");
}

static void broken_stop(struct check *c) {}

static cfg_opt_t broken_opts[] = {CFG_END()};

static const struct check_kind broken_kind = {
    .name = "broken",
    .section = "probe",
    .opts = broken_opts,
    .start = broken_start,
    .run = broken_run,
    .stop = broken_stop,
};

static size_t want_results;

static int got_results(struct fixture *fx)
{
	return fx->col->nresults >= want_results;
}

static void test_check_that_cannot_start_sends_error_result_each_run(void **state)
{
	struct fixture *fx = *state;
	struct check *c = xcalloc(1, sizeof(*c));

	start_agent(fx, conf_new(1));
	set_collector(fx->a.conf, 0, fx->col->port);
	c->kind = &broken_kind;
	c->name = xstrdup("sw9");
	c->host = xstrdup("sw9");
	c->interval = 1;
	c->timeout_ms = 500;
	c->agent = &fx->a;
	c->base = fx->a.base;
	fx->a.conf->checks = xcalloc(1, sizeof(c));
	fx->a.conf->checks[0] = c;
	fx->a.conf->nchecks = 1;
	assert_int_equal(check_start(c), -1);
	assert_int_equal(check_schedule(c), 0);
	uplink_start(fx->a.uplink);
	want_results = 3;
	assert_true(run_until(fx, got_results, 6000));
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(fx->col->results[i].outcome, OUTCOME_ERROR);
		assert_string_equal(fx->col->results[i].host, "sw9");
		assert_string_equal(fx->col->results[i].check, "sw9");
		assert_string_equal(fx->col->results[i].reason,
				    "cannot resolve sw9.rissa: no such name");
	}
}

static void test_unresolvable_snmp_device_sends_error_result_each_run(void **state)
{
	struct fixture *fx = *state;
	char path[] = "/tmp/vakt-test-uplink-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	assert_non_null(f);
	fprintf(
	    f,
	    "site = \"rissa\"\n"
	    "name = \"test-agent\"\n"
	    "batch_ms = 20\n"
	    "insecure = yes\n"
	    "collector \"dc1\" { address = \"127.0.0.1:%u\" }\n"
	    "snmp \"sw1\" { address = \"sw1.invalid\" interval = 1 timeout = 400 retries = 0 }\n",
	    fx->col->port);
	fclose(f);
	fx->a.conf = agent_conf_load(path);
	unlink(path);
	assert_non_null(fx->a.conf);
	fx->a.uplink = uplink_new(&fx->a);
	fx->a.conf->checks[0]->agent = &fx->a;
	fx->a.conf->checks[0]->base = fx->a.base;
	assert_int_equal(check_kinds_init(&fx->a), 0);
	assert_int_equal(check_open_privileged(fx->a.conf->checks[0]), 0);
	check_start(fx->a.conf->checks[0]);
	assert_int_equal(check_schedule(fx->a.conf->checks[0]), 0);
	uplink_start(fx->a.uplink);
	want_results = 2;
	assert_true(run_until(fx, got_results, 6000));
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(fx->col->results[i].outcome, OUTCOME_ERROR);
		/* the device's main file: <host>/system.rrd */
		assert_string_equal(fx->col->results[i].host, "sw1");
		assert_string_equal(fx->col->results[i].check, "system");
		assert_true(
		    strncmp(fx->col->results[i].reason, "cannot resolve sw1.invalid: ", 28) == 0);
	}
}

static void rm_spool(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_spooled_batches_outlive_the_agent_and_helloack_acked_skips_them(void **state)
{
	struct fixture *fx = *state;
	char dir[] = "/tmp/vakt-test-uplink-spool-XXXXXX";
	struct uplink_stats st;
	struct agent_conf *conf = conf_new(1);
	uint64_t stream;

	assert_non_null(mkdtemp(dir));
	conf->spool_dir = xstrdup(dir);
	start_agent(fx, conf);
	set_collector(fx->a.conf, 0, fx->col->port);
	fx->col->auto_ack = 0;
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
	stream = fx->col->stream;
	assert_true(stream != 0);
	for (int i = 0; i < 4; i++)
		add_batch(fx, 2);
	want_batches = 4;
	assert_true(run_until(fx, got_batches, 5000));
	tcol_ack(fx->col, 1);
	run_for(fx, 200);
	/* the agent stops with 2, 3 and 4 unacknowledged; a new one starts */
	uplink_free(fx->a.uplink);
	tcol_drop(fx->col);
	fx->a.uplink = uplink_new(&fx->a);
	uplink_get_stats(fx->a.uplink, &st);
	assert_int_equal(st.queued, 3);
	/* the collector says it holds up to 3: only 4 goes again, then 5 */
	fx->col->acked = 3;
	fx->col->nseqs = 0;
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
	assert_int_equal(fx->col->stream, stream);
	add_batch(fx, 2);
	want_batches = 2;
	assert_true(run_until(fx, got_batches, 5000));
	run_for(fx, 200);
	assert_int_equal(fx->col->nseqs, 2);
	assert_int_equal(fx->col->seqs[0], 4);
	assert_int_equal(fx->col->seqs[1], 5);
	uplink_get_stats(fx->a.uplink, &st);
	assert_int_equal(st.batches_acked, 2);
	rm_spool(dir);
}

static struct tcol *other; /* the second collector of a test */

static int active_on_other(struct fixture *fx)
{
	return is_active(fx) && other->hellos > 0 && other->bev != NULL;
}

static int got_on_other(struct fixture *fx)
{
	return other->nseqs >= want_batches;
}

static void test_sent_batch_without_ack_fails_over_within_three_heartbeats(void **state)
{
	struct fixture *fx = *state;
	struct agent_conf *conf = conf_new(2);
	uint64_t t0;

	other = tcol_new(fx->a.base);
	conf->failback_s = 0;
	start_agent(fx, conf);
	set_collector(conf, 0, fx->col->port);
	set_collector(conf, 1, other->port);
	/* dc1 reads, answers the Hello, and then never acknowledges */
	fx->col->auto_ack = 0;
	fx->col->heartbeat_s = 1;
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
	add_batch(fx, 3);
	want_batches = 1;
	assert_true(run_until(fx, got_batches, 5000));
	t0 = mono_now_ms();
	assert_true(run_until(fx, active_on_other, 8000));
	/* three heartbeats of 1 s, then the next collector */
	assert_true(mono_now_ms() - t0 >= 2500);
	assert_true(run_until(fx, got_on_other, 5000));
	assert_int_equal(other->seqs[0], 1);
	assert_int_equal(other->nsamples, 3);
	uplink_free(fx->a.uplink);
	fx->a.uplink = NULL;
	tcol_free(other);
}

static int active_on_first(struct fixture *fx)
{
	return is_active(fx) && fx->col->bev != NULL && fx->col->hellos >= 2;
}

static void test_failback_to_the_preferred_collector_loses_nothing(void **state)
{
	struct fixture *fx = *state;
	struct agent_conf *conf = conf_new(2);
	unsigned port = fx->col->port;
	uint64_t seen[64];
	size_t nseen = 0;

	other = tcol_new(fx->a.base);
	conf->failback_s = 1;
	start_agent(fx, conf);
	set_collector(conf, 0, port);
	set_collector(conf, 1, other->port);
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, is_active, 5000));
	for (int i = 0; i < 3; i++)
		add_batch(fx, 1);
	want_batches = 3;
	assert_true(run_until(fx, got_batches, 5000));
	run_for(fx, 100);
	/* dc1 goes away: the agent moves to dc2 */
	for (size_t i = 0; i < fx->col->nseqs; i++)
		seen[nseen++] = fx->col->seqs[i];
	tcol_free(fx->col);
	fx->col = NULL;
	assert_true(run_until(fx, active_on_other, 8000));
	for (int i = 0; i < 3; i++)
		add_batch(fx, 1);
	want_batches = 3;
	assert_true(run_until(fx, got_on_other, 5000));
	/* dc1 is back on its port: within the failback interval the agent returns */
	fx->col = tcol_new_port(fx->a.base, port);
	assert_true(run_until(fx, active_on_first, 8000));
	/* one Hello to see that it answers, one for the session */
	assert_int_equal(fx->col->hellos, 2);
	for (int i = 0; i < 3; i++)
		add_batch(fx, 1);
	want_batches = 3;
	assert_true(run_until(fx, got_batches, 5000));
	assert_true(run_until(fx, queue_empty, 2000));
	/* every batch reached one collector or the other, dc1's last ones after the move */
	for (size_t i = 0; i < other->nseqs; i++)
		seen[nseen++] = other->seqs[i];
	for (size_t i = 0; i < fx->col->nseqs; i++)
		seen[nseen++] = fx->col->seqs[i];
	for (uint64_t q = 1; q <= 9; q++) {
		int found = 0;

		for (size_t i = 0; i < nseen; i++)
			found |= seen[i] == q;
		assert_true(found);
	}
	assert_int_equal(fx->col->seqs[fx->col->nseqs - 1], 9);
	uplink_free(fx->a.uplink);
	fx->a.uplink = NULL;
	tcol_free(other);
}

/*
 * Back to the preferred collector while the second one has batches it did
 * not acknowledge yet: it may hold them already, so they must not go to the
 * preferred one too. The agent sends nothing more to the second one and
 * moves once they are acknowledged; every batch is in exactly one.
 */
static void test_failback_waits_for_the_acks_of_what_was_sent(void **state)
{
	struct fixture *fx = *state;
	struct agent_conf *conf = conf_new(2);
	unsigned port = fx->col->port;
	uint64_t last;

	other = tcol_new(fx->a.base);
	conf->failback_s = 1;
	start_agent(fx, conf);
	set_collector(conf, 0, port);
	set_collector(conf, 1, other->port);
	tcol_free(fx->col);
	fx->col = NULL;
	uplink_start(fx->a.uplink);
	assert_true(run_until(fx, active_on_other, 8000));
	other->auto_ack = 0;
	for (int i = 0; i < 3; i++)
		add_batch(fx, 1);
	want_batches = 3;
	assert_true(run_until(fx, got_on_other, 5000));
	last = other->seqs[other->nseqs - 1];
	/* dc1 is back and answers; dc2 holds three batches it has not acknowledged */
	fx->col = tcol_new_port(fx->a.base, port);
	run_for(fx, 2500);
	assert_int_equal(fx->col->nseqs, 0);
	assert_int_equal(other->nseqs, 3);
	assert_true(fx->col->hellos >= 1);
	/* a batch made meanwhile waits for the move */
	add_batch(fx, 1);
	run_for(fx, 200);
	assert_int_equal(other->nseqs, 3);
	tcol_ack(other, last);
	assert_true(run_until(fx, active_on_first, 8000));
	want_batches = 1;
	assert_true(run_until(fx, got_batches, 5000));
	assert_true(run_until(fx, queue_empty, 2000));
	/* dc1 got only the batch after dc2's */
	assert_int_equal(fx->col->nseqs, 1);
	assert_true(fx->col->seqs[0] > last);
	uplink_free(fx->a.uplink);
	fx->a.uplink = NULL;
	tcol_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ack_removes_exactly_the_acked_batches, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failback_waits_for_the_acks_of_what_was_sent,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_queue_drops_the_oldest_batch_and_counts_it,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_is_bounded_in_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_batches_fit_max_frame_and_a_sample_too_big_alone_is_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compact_batch_never_passes_max_frame, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_samples_added_by_file_arrive_under_their_names,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_failover_to_next_collector_after_connection_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resend_in_order_after_reconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_samples_go_batch_ms_after_the_first_without_a_flush,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_samples_made_while_away_go_once_the_collector_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compact_form_only_for_protocol_2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_series_ids_within_the_lower_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_sent_batch_without_ack_fails_over_within_three_heartbeats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failback_to_the_preferred_collector_loses_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_spooled_batches_outlive_the_agent_and_helloack_acked_skips_them, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_idle_connection_sends_heartbeats_and_its_clock,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_check_that_cannot_start_sends_error_result_each_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_unresolvable_snmp_device_sends_error_result_each_run, setup, teardown),
	};

	srandom(1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
