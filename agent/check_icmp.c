/*
 * check_icmp.c - the "icmp" probe: echo requests over IPv4 and IPv6, `packets`
 * a run spread over the interval (as Smokeping spreads its pings), giving
 * loss, min / median / average / max RTT and jitter. One socket per address
 * family serves every icmp check of the agent: each tick's due requests leave
 * together (one wake-up), replies are read in batches (recvmmsg) and matched by
 * the cookie in their payload, identifier, sequence and source. It never
 * needs root (CAP_NET_RAW at most, or the unprivileged datagram ping socket)
 * and never blocks the loop: names resolve through resolve.c.
 */
#include "check_icmp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>

#include <event2/util.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "log.h"
#include "resolve.h"
#include "timeutil.h"
#include "xmalloc.h"

/* linux/icmp.h has it, but its struct icmphdr clashes with netinet's */
#ifndef ICMP_FILTER
#define ICMP_FILTER 1
#endif

/* Requests due within one tick leave together; the grid all runs share. */
#define ICMP_TICK_MS 10
/* Requests gathered before they are sent; messages a recvmmsg call reads. */
#define ICMP_BATCH 64
/* recvmmsg calls per readable event: other sockets get their turn after. */
#define ICMP_READS       16
#define ICMP_PACKETS_MAX 1000
/* A received packet: an IPv4 header, an error's headers and what it quotes. */
#define ICMP_RECV_LEN 1280

enum icmp_pkt { PKT_WAITING, PKT_ANSWERED, PKT_FAILED };

struct icmp_state;

struct icmp_probe {
	struct icmp_state *st;
	struct check *c;
	uint32_t slot; /* in st->probes; UINT32_MAX until registered */
	char host[256];
	int family;                 /* AF_UNSPEC, AF_INET, AF_INET6: config `family` */
	struct sockaddr_storage ss; /* the address when numeric */
	socklen_t sslen;
	unsigned packets;
	struct resolve res;
	/* the current run */
	struct sockaddr_storage target;
	socklen_t tlen;
	char shown[300 + INET6_ADDRSTRLEN]; /* "gw (10.1.0.1)" for reasons */
	uint32_t run;   /* numbers the runs: a late reply of the last one is not this one's */
	int active;     /* in st's heap of runs in progress */
	size_t heap_at; /* its place there */
	unsigned timeout_ms;
	unsigned nsent, nwaiting, nanswered;
	uint64_t start_ms, spacing_ms, end_ms; /* monotonic; end_ms once every request left */
	uint64_t next_ms;                      /* the next request's time, or end_ms */
	uint8_t *state;                        /* per packet: enum icmp_pkt */
	uint16_t *seq;
	int64_t *sent_ns; /* CLOCK_REALTIME, the clock of the kernel's receive stamps */
	double *rtt;      /* seconds */
	char error[128];  /* the first error of the run, for its reason */
};

struct icmp_sock {
	int fd; /* -1: not open */
	int raw;
	int family;
	int rcvbuf; /* what SO_RCVBUF was last set to */
	uint16_t seq;
	struct event *ev;
	struct icmp_parse_ctx ctx;
	/* the batch of requests being gathered for this tick */
	struct msghdr msgs[ICMP_BATCH];
	struct iovec iov[ICMP_BATCH];
	uint8_t bufs[ICMP_BATCH][8 + ICMP_PAYLOAD_LEN];
	struct icmp_probe *owner[ICMP_BATCH];
	unsigned index[ICMP_BATCH];
	unsigned n;
};

struct icmp_state {
	struct agent *agent;
	struct event_base *base;
	struct icmp_sock s4, s6;
	uint16_t id;
	uint64_t nonce;
	struct icmp_probe **probes; /* by slot: a reply's cookie names its slot */
	size_t nprobes;
	/* runs in progress, by their next request's (or end's) time: a tick
	 * touches the runs due, not every run of thousands */
	struct icmp_probe **heap;
	size_t nheap, heapcap;
	struct event *tick;
	uint64_t tick_at; /* monotonic ms the tick is armed for; 0: not armed */
	/* what was read and not used, for debug logs */
	unsigned long long foreign, malformed, late;
};

static cfg_opt_t icmp_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_INT("packets", 20, CFGF_NONE),
    CFG_STR("family", "any", CFGF_NONE),
    CFG_END(),
};

/* ---- reading a packet (check_icmp.h) ---- */

uint16_t icmp_checksum(const uint8_t *buf, size_t len)
{
	uint32_t sum = 0;

	for (; len > 1; buf += 2, len -= 2)
		sum += (uint32_t)buf[0] << 8 | buf[1];
	if (len == 1)
		sum += (uint32_t)buf[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void icmp_cookie_put(uint8_t *p, uint64_t nonce, uint32_t slot, uint32_t run, uint16_t index)
{
	put32(p, (uint32_t)(nonce >> 32));
	put32(p + 4, (uint32_t)nonce);
	put32(p + 8, slot);
	put32(p + 12, run);
	p[16] = (uint8_t)(index >> 8);
	p[17] = (uint8_t)index;
}

/* The cookie at p (len bytes there): -1 when too short or another agent's. */
static int cookie_get(const struct icmp_parse_ctx *ctx, const uint8_t *p, size_t len,
		      struct icmp_reply *r)
{
	if (len < ICMP_COOKIE_LEN)
		return -1;
	if (((uint64_t)get32(p) << 32 | get32(p + 4)) != ctx->nonce)
		return -1;
	r->slot = get32(p + 8);
	r->run = get32(p + 12);
	r->index = get16(p + 16);
	r->has_cookie = 1;
	return 0;
}

/* An IPv4 error: the quoted IPv4 header and at least 8 bytes of our request. */
static int parse_error4(const struct icmp_parse_ctx *ctx, const uint8_t *q, size_t len,
			struct icmp_reply *r, const char **why)
{
	size_t ihl;

	if (len < 20 || (q[0] >> 4) != 4 || (ihl = (size_t)(q[0] & 0x0f) * 4) < 20 ||
	    len < ihl + 8) {
		*why = "ICMP error quoting too little of a packet";
		return -1;
	}
	if (q[9] != IPPROTO_ICMP || q[ihl] != ICMP_ECHO) {
		*why = "ICMP error about something else than an echo request";
		return -1;
	}
	memcpy(r->quoted_dst, q + 16, 4);
	r->id = get16(q + ihl + 4);
	r->seq = get16(q + ihl + 6);
	if (ctx->check_id && r->id != ctx->id) {
		*why = "ICMP error about another program's echo request (identifier)";
		return -1;
	}
	/* Linux quotes up to 576 bytes: our cookie; RFC 792 asks only for 8 */
	if (len >= ihl + 8 + ICMP_COOKIE_LEN &&
	    cookie_get(ctx, q + ihl + 8, len - ihl - 8, r) < 0) {
		*why = "ICMP error about another program's echo request (payload)";
		return -1;
	}
	return 0;
}

/* An IPv6 error: the quoted IPv6 header (no extension headers) and our request. */
static int parse_error6(const struct icmp_parse_ctx *ctx, const uint8_t *q, size_t len,
			struct icmp_reply *r, const char **why)
{
	if (len < 40 + 8 || (q[0] >> 4) != 6) {
		*why = "ICMPv6 error quoting too little of a packet";
		return -1;
	}
	if (q[6] != IPPROTO_ICMPV6 || q[40] != ICMP6_ECHO_REQUEST) {
		*why = "ICMPv6 error about something else than an echo request";
		return -1;
	}
	memcpy(r->quoted_dst, q + 24, 16);
	r->id = get16(q + 44);
	r->seq = get16(q + 46);
	if (ctx->check_id && r->id != ctx->id) {
		*why = "ICMPv6 error about another program's echo request (identifier)";
		return -1;
	}
	if (len >= 48 + ICMP_COOKIE_LEN && cookie_get(ctx, q + 48, len - 48, r) < 0) {
		*why = "ICMPv6 error about another program's echo request (payload)";
		return -1;
	}
	return 0;
}

int icmp_reply_parse(const struct icmp_parse_ctx *ctx, const uint8_t *buf, size_t len,
		     struct icmp_reply *r, const char **why)
{
	int v6 = ctx->family == AF_INET6;
	uint8_t type;

	memset(r, 0, sizeof(*r));
	if (ctx->ip_header) {
		size_t ihl;

		if (len < 20 || (buf[0] >> 4) != 4 || (ihl = (size_t)(buf[0] & 0x0f) * 4) < 20 ||
		    ihl > len) {
			*why = "not an IPv4 packet";
			return -1;
		}
		buf += ihl;
		len -= ihl;
		/* raw sockets see packets before the kernel checked their sum */
		if (len >= 8 && icmp_checksum(buf, len) != 0) {
			*why = "bad ICMP checksum";
			return -1;
		}
	}
	if (len < 8) {
		*why = "shorter than an ICMP header";
		return -1;
	}
	type = buf[0];
	if ((!v6 && type == ICMP_ECHOREPLY) || (v6 && type == ICMP6_ECHO_REPLY)) {
		r->id = get16(buf + 4);
		r->seq = get16(buf + 6);
		if (ctx->check_id && r->id != ctx->id) {
			*why = "echo reply to another program (identifier)";
			return -1;
		}
		if (cookie_get(ctx, buf + 8, len - 8, r) < 0) {
			*why = "echo reply to another program (payload)";
			return -1;
		}
		return 0;
	}
	r->error = 1;
	r->type = type;
	r->code = buf[1];
	if (!v6 && (type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
		    type == ICMP_PARAMETERPROB || type == ICMP_SOURCE_QUENCH))
		return parse_error4(ctx, buf + 8, len - 8, r, why);
	if (v6 && (type == ICMP6_DST_UNREACH || type == ICMP6_PACKET_TOO_BIG ||
		   type == ICMP6_TIME_EXCEEDED || type == ICMP6_PARAM_PROB))
		return parse_error6(ctx, buf + 8, len - 8, r, why);
	*why = "neither an echo reply nor an ICMP error";
	return -1;
}

const char *icmp_error_str(int family, uint8_t type, uint8_t code)
{
	if (family == AF_INET6) {
		switch (type) {
		case ICMP6_DST_UNREACH:
			switch (code) {
			case ICMP6_DST_UNREACH_NOROUTE:
				return "no route to host";
			case ICMP6_DST_UNREACH_ADMIN:
				return "administratively prohibited";
			case ICMP6_DST_UNREACH_ADDR:
				return "address unreachable";
			default:
				return "destination unreachable";
			}
		case ICMP6_PACKET_TOO_BIG:
			return "packet too big";
		case ICMP6_TIME_EXCEEDED:
			return "hop limit exceeded";
		default:
			return "parameter problem";
		}
	}
	switch (type) {
	case ICMP_DEST_UNREACH:
		switch (code) {
		case ICMP_NET_UNREACH:
			return "network unreachable";
		case ICMP_HOST_UNREACH:
			return "host unreachable";
		case ICMP_PKT_FILTERED:
		case ICMP_NET_ANO:
		case ICMP_HOST_ANO:
			return "administratively prohibited";
		default:
			return "destination unreachable";
		}
	case ICMP_TIME_EXCEEDED:
		return "TTL exceeded";
	case ICMP_SOURCE_QUENCH:
		return "source quench";
	default:
		return "parameter problem";
	}
}

/* ---- sockets ---- */

static int64_t real_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *family_str(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

static struct icmp_sock *sock_of(struct icmp_state *st, int family)
{
	return family == AF_INET6 ? &st->s6 : &st->s4;
}

/*
 * The receive buffer holds a tick's replies of every check at once: a
 * tick sends at most one request per check, and a reply takes about 1 kB
 * of kernel memory. SO_RCVBUFFORCE passes net.core.rmem_max where the
 * agent may (CAP_NET_ADMIN); else the kernel caps the size quietly.
 */
static void sock_size_rcvbuf(struct icmp_state *st, struct icmp_sock *s)
{
	int want = 256 * 1024;

	if (st->nprobes > 128)
		want = st->nprobes > 16384 ? 16 * 1024 * 1024 : (int)st->nprobes * 1024;
	if (s->fd < 0 || want <= s->rcvbuf)
		return;
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0 &&
	    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)) < 0)
		log_warn("icmp: cannot size the %s socket's receive buffer to %d bytes",
			 family_str(s->family), want);
	s->rcvbuf = want;
}

/* Only replies and errors reach a raw socket, not every ICMP packet of the host. */
static int sock_filter(struct icmp_sock *s)
{
	if (s->family == AF_INET) {
		uint32_t pass = 1u << ICMP_ECHOREPLY | 1u << ICMP_DEST_UNREACH |
				1u << ICMP_TIME_EXCEEDED | 1u << ICMP_PARAMETERPROB |
				1u << ICMP_SOURCE_QUENCH;
		uint32_t block = ~pass;

		return setsockopt(s->fd, SOL_RAW, ICMP_FILTER, &block, sizeof(block));
	} else {
		struct icmp6_filter f;

		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
		ICMP6_FILTER_SETPASS(ICMP6_PACKET_TOO_BIG, &f);
		ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
		ICMP6_FILTER_SETPASS(ICMP6_PARAM_PROB, &f);
		return setsockopt(s->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	}
}

static void sock_read_cb(evutil_socket_t fd, short what, void *arg);

/*
 * Opens the family's socket if it is not open: raw (CAP_NET_RAW) first,
 * else the datagram ping socket, which net.ipv4.ping_group_range must allow
 * for the agent's group. -1 with the reason in why[].
 */
static int sock_open(struct icmp_state *st, int family, char *why, size_t whylen)
{
	struct icmp_sock *s = sock_of(st, family);
	int proto = family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	int on = 1, raw_errno;

	if (s->fd >= 0)
		return 0;
	s->family = family;
	s->raw = 1;
	s->fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	raw_errno = errno;
	if (s->fd < 0) {
		s->raw = 0;
		s->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	}
	if (s->fd < 0) {
		if (errno == EAFNOSUPPORT)
			snprintf(why, whylen, "no %s on this system", family_str(family));
		else
			snprintf(why, whylen,
				 "cannot open an %s ICMP socket: raw: %s (needs CAP_NET_RAW); "
				 "datagram: %s (needs the agent's group in "
				 "net.ipv4.ping_group_range)",
				 family_str(family), strerror(raw_errno), strerror(errno));
		return -1;
	}
	if (s->raw && sock_filter(s) < 0)
		log_warn("icmp: cannot filter the %s raw socket: it reads every ICMP packet",
			 family_str(family));
	/* receive times stamped by the kernel: a busy loop does not lengthen the RTTs */
	if (setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0)
		log_warn("icmp: no kernel receive times on the %s socket", family_str(family));
	s->ctx.family = family;
	s->ctx.ip_header = s->raw && family == AF_INET;
	s->ctx.check_id = s->raw;
	s->ctx.id = st->id;
	s->ctx.nonce = st->nonce;
	s->rcvbuf = 0;
	sock_size_rcvbuf(st, s);
	s->ev = event_new(st->base, s->fd, EV_READ | EV_PERSIST, sock_read_cb, st);
	if (s->ev == NULL || event_add(s->ev, NULL) < 0)
		fatalx("icmp: cannot watch the %s socket", family_str(family));
	log_info("icmp: %s %s socket open", family_str(family),
		 s->raw ? "raw" : "datagram (ping_group_range)");
	return 0;
}

static void sock_close(struct icmp_sock *s)
{
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* ---- runs ---- */

static void probe_record_error(struct icmp_probe *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void probe_record_error(struct icmp_probe *p, const char *fmt, ...)
{
	va_list ap;

	if (p->error[0] != '\0')
		return; /* the first says why; the rest repeat it */
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int heap_before(const struct icmp_probe *a, const struct icmp_probe *b)
{
	return a->next_ms < b->next_ms;
}

static void heap_set(struct icmp_state *st, size_t i, struct icmp_probe *p)
{
	st->heap[i] = p;
	p->heap_at = i;
}

/* Restores the heap's order around st->heap[i] after its time changed. */
static void heap_fix(struct icmp_state *st, size_t i)
{
	struct icmp_probe *p = st->heap[i];

	while (i > 0 && heap_before(p, st->heap[(i - 1) / 2])) {
		heap_set(st, i, st->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= st->nheap)
			break;
		if (c + 1 < st->nheap && heap_before(st->heap[c + 1], st->heap[c]))
			c++;
		if (!heap_before(st->heap[c], p))
			break;
		heap_set(st, i, st->heap[c]);
		i = c;
	}
	heap_set(st, i, p);
}

static void runs_add(struct icmp_state *st, struct icmp_probe *p)
{
	/* one run per check at most: the heap grows to the number of checks */
	if (st->nheap == st->heapcap) {
		st->heapcap = st->nprobes > st->heapcap ? st->nprobes : st->heapcap + 1;
		st->heap = xreallocarray(st->heap, st->heapcap, sizeof(*st->heap));
	}
	p->active = 1;
	heap_set(st, st->nheap++, p);
	heap_fix(st, p->heap_at);
}

static void runs_unlink(struct icmp_probe *p)
{
	struct icmp_state *st = p->st;
	size_t i = p->heap_at;

	if (!p->active)
		return;
	p->active = 0;
	if (--st->nheap == i)
		return;
	heap_set(st, i, st->heap[st->nheap]);
	heap_fix(st, i);
}

/* Ends the run: its samples, then its one Result. */
static void probe_finish(struct icmp_probe *p)
{
	struct check *c = p->c;
	double sorted[ICMP_PACKETS_MAX], sum = 0, jitter = 0, prev = -1, median = 0;
	unsigned n = 0, njit = 0, lost;
	int none;

	runs_unlink(p);
	for (unsigned i = 0; i < p->packets; i++) {
		if (p->state[i] != PKT_ANSWERED)
			continue;
		/* jitter: the mean change between replies in the order sent (RFC 3550's idea) */
		if (prev >= 0) {
			jitter += p->rtt[i] > prev ? p->rtt[i] - prev : prev - p->rtt[i];
			njit++;
		}
		prev = p->rtt[i];
		sum += p->rtt[i];
		sorted[n++] = p->rtt[i];
	}
	none = n == 0;
	if (n > 0) {
		qsort(sorted, n, sizeof(sorted[0]), cmp_double);
		median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	}
	lost = p->packets - n;
	check_emit(c, "", "loss", SAMPLE_GAUGE, 100.0 * lost / p->packets, 0, 0);
	check_emit(c, "", "rtt_min", SAMPLE_GAUGE, none ? 0 : sorted[0], 0, none);
	check_emit(c, "", "rtt_median", SAMPLE_GAUGE, median, 0, none);
	check_emit(c, "", "rtt_avg", SAMPLE_GAUGE, none ? 0 : sum / n, 0, none);
	check_emit(c, "", "rtt_max", SAMPLE_GAUGE, none ? 0 : sorted[n - 1], 0, none);
	check_emit(c, "", "jitter", SAMPLE_GAUGE, njit ? jitter / njit : 0, 0, njit == 0);
	if (none)
		check_done(c, OUTCOME_DOWN, "no reply from %s to %u echo requests%s%s", p->shown,
			   p->packets, p->error[0] ? ": " : "", p->error);
	else if (lost > 0)
		check_done(c, OUTCOME_OK, "%u of %u echo requests to %s unanswered%s%s", lost,
			   p->packets, p->shown, p->error[0] ? ": " : "", p->error);
	else
		check_done(c, OUTCOME_OK, NULL);
}

/* The next tick of the grid at or after `ms`. */
static uint64_t tick_grid(uint64_t ms)
{
	return (ms + ICMP_TICK_MS - 1) / ICMP_TICK_MS * ICMP_TICK_MS;
}

static void tick_arm(struct icmp_state *st, uint64_t at)
{
	uint64_t now = mono_now_ms();
	struct timeval tv;

	at = tick_grid(at);
	if (st->tick_at != 0 && st->tick_at <= at)
		return;
	st->tick_at = at;
	ms_to_timeval(at > now ? at - now : 0, &tv);
	evtimer_add(st->tick, &tv);
}

/*
 * Sends the requests gathered for one socket in this tick, one sendmsg
 * each with its own send time: on a fast path (loopback, a LAN) a request's
 * round trip can end inside the system call that sent it, so one time
 * taken for a sendmmsg of many would add the earlier ones' to the later
 * ones' RTTs. The wake-up, the dominant cost, is still one per tick.
 */
static void sock_flush(struct icmp_sock *s)
{
	for (unsigned k = 0; k < s->n; k++) {
		struct icmp_probe *p = s->owner[k];
		unsigned i = s->index[k];
		char addr[INET6_ADDRSTRLEN] = "?";

		p->sent_ns[i] = real_now_ns();
		if (sendmsg(s->fd, &s->msgs[k], 0) >= 0)
			continue;
		/* this one is lost, the rest still go */
		if (p->state[i] == PKT_WAITING) {
			p->state[i] = PKT_FAILED;
			p->nwaiting--;
		}
		evutil_inet_ntop(p->target.ss_family,
				 p->target.ss_family == AF_INET6
				     ? (void *)&((struct sockaddr_in6 *)&p->target)->sin6_addr
				     : (void *)&((struct sockaddr_in *)&p->target)->sin_addr,
				 addr, sizeof(addr));
		probe_record_error(p, "cannot send to %s: %s", addr, strerror(errno));
	}
	s->n = 0;
}

/* Gathers request `i` of p's run into its socket's batch. */
static void probe_queue(struct icmp_probe *p, unsigned i)
{
	struct icmp_sock *s = sock_of(p->st, p->target.ss_family);
	uint8_t *b;

	if (s->n == ICMP_BATCH)
		sock_flush(s);
	b = s->bufs[s->n];
	memset(b, 0, 8 + ICMP_PAYLOAD_LEN);
	b[0] = s->family == AF_INET6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	b[4] = (uint8_t)(p->st->id >> 8);
	b[5] = (uint8_t)p->st->id;
	p->seq[i] = s->seq++;
	b[6] = (uint8_t)(p->seq[i] >> 8);
	b[7] = (uint8_t)p->seq[i];
	icmp_cookie_put(b + 8, p->st->nonce, p->slot, p->run, (uint16_t)i);
	/* the kernel sums ICMPv6 and datagram sockets' packets; raw IPv4 is ours */
	if (s->raw && s->family == AF_INET) {
		uint16_t sum = icmp_checksum(b, 8 + ICMP_PAYLOAD_LEN);

		memcpy(b + 2, &sum, 2);
	}
	s->iov[s->n].iov_base = b;
	s->iov[s->n].iov_len = 8 + ICMP_PAYLOAD_LEN;
	memset(&s->msgs[s->n], 0, sizeof(s->msgs[0]));
	s->msgs[s->n].msg_name = &p->target;
	s->msgs[s->n].msg_namelen = p->tlen;
	s->msgs[s->n].msg_iov = &s->iov[s->n];
	s->msgs[s->n].msg_iovlen = 1;
	s->owner[s->n] = p;
	s->index[s->n] = i;
	s->n++;
	p->state[i] = PKT_WAITING;
	p->nsent++;
	p->nwaiting++;
}

/*
 * One tick for every run: the requests due go out (all runs' together), a
 * run whose last request has been answered or has timed out ends.
 */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct icmp_state *st = arg;
	uint64_t now = mono_now_ms();
	struct icmp_probe *p;

	st->tick_at = 0;
	while (st->nheap > 0 && (p = st->heap[0])->next_ms <= now) {
		if (p->nsent == p->packets) {
			/* every request left and the last one's timeout passed */
			probe_finish(p);
			continue;
		}
		probe_queue(p, p->nsent);
		if (p->nsent == p->packets)
			p->next_ms = p->end_ms = now + p->timeout_ms;
		else
			p->next_ms = p->start_ms + p->nsent * p->spacing_ms;
		heap_fix(st, 0);
	}
	if (st->s4.n > 0)
		sock_flush(&st->s4);
	if (st->s6.n > 0)
		sock_flush(&st->s6);
	if (st->nheap > 0)
		tick_arm(st, st->heap[0]->next_ms);
}

/* A reply or error matched to request `i` of p's run. */
static void probe_answer(struct icmp_probe *p, unsigned i, const struct icmp_reply *r,
			 const struct sockaddr *from, int64_t rx_ns)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (p->state[i] != PKT_WAITING)
		return; /* a duplicate, or after the request failed */
	if (r->error) {
		evutil_inet_ntop(from->sa_family,
				 from->sa_family == AF_INET6
				     ? (void *)&((const struct sockaddr_in6 *)from)->sin6_addr
				     : (void *)&((const struct sockaddr_in *)from)->sin_addr,
				 addr, sizeof(addr));
		p->state[i] = PKT_FAILED;
		probe_record_error(p, "%s (from %s)",
				   icmp_error_str(from->sa_family, r->type, r->code), addr);
	} else {
		double rtt = (rx_ns - p->sent_ns[i]) / 1e9;

		if (rtt < 0 || rtt * 1000 > p->timeout_ms) {
			p->st->late++;
			return; /* too late: lost, as its timeout said */
		}
		p->state[i] = PKT_ANSWERED;
		p->rtt[i] = rtt;
		p->nanswered++;
	}
	p->nwaiting--;
	if (p->nsent == p->packets && p->nwaiting == 0)
		probe_finish(p);
}

static int same_addr(const struct sockaddr_storage *t, const void *addr)
{
	if (t->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)t)->sin6_addr, addr, 16) == 0;
	return memcmp(&((const struct sockaddr_in *)t)->sin_addr, addr, 4) == 0;
}

/* The run and request a parsed packet belongs to; -1 when none is waiting for it. */
static int reply_match(struct icmp_state *st, const struct icmp_reply *r,
		       const struct sockaddr_storage *from, struct icmp_probe **pp, unsigned *ip)
{
	const void *addr = r->quoted_dst;
	struct icmp_probe *p;

	if (!r->error)
		addr = from->ss_family == AF_INET6
			   ? (const void *)&((const struct sockaddr_in6 *)from)->sin6_addr
			   : (const void *)&((const struct sockaddr_in *)from)->sin_addr;
	if (r->has_cookie) {
		if (r->slot >= st->nprobes || (p = st->probes[r->slot]) == NULL || !p->active ||
		    p->run != r->run || r->index >= p->nsent || p->seq[r->index] != r->seq ||
		    p->target.ss_family != from->ss_family)
			return -1;
		/* a reply from another host than asked is forged, or a NAT's: not an answer */
		if (!same_addr(&p->target, addr))
			return -1;
		*pp = p;
		*ip = r->index;
		return 0;
	}
	/* an error quoting only 8 bytes: by destination and sequence */
	for (size_t k = 0; k < st->nheap; k++) {
		p = st->heap[k];
		if (p->target.ss_family != from->ss_family || !same_addr(&p->target, addr))
			continue;
		for (unsigned i = 0; i < p->nsent; i++)
			if (p->seq[i] == r->seq && p->state[i] == PKT_WAITING) {
				*pp = p;
				*ip = i;
				return 0;
			}
	}
	return -1;
}

static int64_t rx_stamp(struct msghdr *m)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		}
	}
	return real_now_ns();
}

static void sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct icmp_state *st = arg;
	struct icmp_sock *s = fd == st->s6.fd ? &st->s6 : &st->s4;
	static uint8_t bufs[ICMP_BATCH][ICMP_RECV_LEN];
	static char ctl[ICMP_BATCH][CMSG_SPACE(sizeof(struct timespec)) + 64];
	struct mmsghdr msgs[ICMP_BATCH];
	struct iovec iov[ICMP_BATCH];
	struct sockaddr_storage from[ICMP_BATCH];

	for (int round = 0; round < ICMP_READS; round++) {
		int n;

		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < ICMP_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		n = recvmmsg(fd, msgs, ICMP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("icmp: reading the %s socket", family_str(s->family));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct icmp_reply r;
			struct icmp_probe *p;
			unsigned idx;
			const char *why;

			if (icmp_reply_parse(&s->ctx, bufs[i], msgs[i].msg_len, &r, &why) < 0) {
				st->malformed++;
				log_debug("icmp: ignored a packet of %u bytes: %s", msgs[i].msg_len,
					  why);
				continue;
			}
			if (from[i].ss_family != s->family ||
			    reply_match(st, &r, &from[i], &p, &idx) < 0) {
				st->foreign++;
				continue;
			}
			probe_answer(p, idx, &r, (struct sockaddr *)&from[i],
				     rx_stamp(&msgs[i].msg_hdr));
		}
		if (n < ICMP_BATCH)
			return;
	}
}

/* ---- the kind ---- */

static int icmp_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"address", NULL};
	const char *addr, *fam;
	struct icmp_probe *p;
	long packets;
	size_t len;
	int sslen = (int)sizeof(struct sockaddr_storage);

	if (conf_require(sec, req) < 0)
		return -1;
	addr = cfg_getstr(sec, "address");
	len = strlen(addr);
	p = xcalloc(1, sizeof(*p));
	p->slot = UINT32_MAX;
	if (addr[0] == '[' && len > 2 && addr[len - 1] == ']' && len - 2 < sizeof(p->host)) {
		memcpy(p->host, addr + 1, len - 2);
	} else if (addr[0] != '[' && strchr(addr, ':') == NULL && len > 0 &&
		   len < sizeof(p->host)) {
		memcpy(p->host, addr, len);
	} else {
		conf_section_error(sec,
				   "address \"%s\": expected a host name or address without a "
				   "port (IPv6 as [2001:db8::1])",
				   addr);
		free(p);
		return -1;
	}
	packets = cfg_getint(sec, "packets");
	if (packets < 1 || packets > ICMP_PACKETS_MAX) {
		conf_section_error(sec, "packets must be 1..%d, got %ld", ICMP_PACKETS_MAX,
				   packets);
		free(p);
		return -1;
	}
	p->packets = (unsigned)packets;
	/* the requests are spread over what the interval leaves after the last one's timeout */
	if ((uint64_t)c->interval * 1000 < c->timeout_ms + ICMP_TICK_MS + p->packets) {
		conf_section_error(sec,
				   "%u packets do not fit in interval %u s with timeout %u ms "
				   "(at least 1 ms apart after the last one's timeout)",
				   p->packets, c->interval, c->timeout_ms);
		free(p);
		return -1;
	}
	fam = cfg_getstr(sec, "family");
	if (strcmp(fam, "any") == 0) {
		p->family = AF_UNSPEC;
	} else if (strcmp(fam, "ipv4") == 0) {
		p->family = AF_INET;
	} else if (strcmp(fam, "ipv6") == 0) {
		p->family = AF_INET6;
	} else {
		conf_section_error(sec, "family must be \"any\", \"ipv4\" or \"ipv6\", got \"%s\"",
				   fam);
		free(p);
		return -1;
	}
	/* a name (sslen stays 0) is resolved at every run */
	if (evutil_parse_sockaddr_port(p->host, (struct sockaddr *)&p->ss, &sslen) == 0)
		p->sslen = (socklen_t)sslen;
	if (p->sslen > 0 && p->family != AF_UNSPEC && p->ss.ss_family != p->family) {
		conf_section_error(sec, "address \"%s\" is not an %s address (family = \"%s\")",
				   addr, family_str(p->family), fam);
		free(p);
		return -1;
	}
	p->state = xcalloc(p->packets, sizeof(*p->state));
	p->seq = xcalloc(p->packets, sizeof(*p->seq));
	p->sent_ns = xcalloc(p->packets, sizeof(*p->sent_ns));
	p->rtt = xcalloc(p->packets, sizeof(*p->rtt));
	p->c = c;
	p->timeout_ms = c->timeout_ms;
	c->priv = p;
	return 0;
}

static int icmp_init(struct agent *a, void **state)
{
	struct icmp_state *st = xcalloc(1, sizeof(*st));

	st->agent = a;
	st->base = a->base;
	st->s4.fd = st->s6.fd = -1;
	/* the nonce tells this agent's replies from another program's on the host */
	if (getrandom(&st->nonce, sizeof(st->nonce), 0) != sizeof(st->nonce))
		st->nonce = (uint64_t)random() << 32 ^ (uint64_t)random() ^ (uint64_t)getpid();
	st->id = (uint16_t)(st->nonce >> 48 ^ (uint64_t)getpid());
	st->tick = evtimer_new(a->base, tick_cb, st);
	if (st->tick == NULL) {
		free(st);
		return -1;
	}
	*state = st;
	return 0;
}

static void icmp_fini(struct agent *a, void *state)
{
	struct icmp_state *st = state;

	if (st == NULL)
		return;
	log_debug("icmp: %llu packets of others ignored, %llu unreadable, %llu replies too late",
		  st->foreign, st->malformed, st->late);
	sock_close(&st->s4);
	sock_close(&st->s6);
	event_free(st->tick);
	free(st->probes);
	free(st->heap);
	free(st);
}

static void probe_register(struct icmp_probe *p, struct icmp_state *st)
{
	if (p->slot != UINT32_MAX)
		return;
	p->st = st;
	p->slot = (uint32_t)st->nprobes;
	st->probes = xreallocarray(st->probes, st->nprobes + 1, sizeof(*st->probes));
	st->probes[st->nprobes++] = p;
}

/* Opens the sockets the check may use: its address's family, or both for a name. */
static int probe_open(struct check *c)
{
	struct icmp_probe *p = c->priv;
	struct icmp_state *st = check_kind_state(c);
	int fam = p->sslen > 0 ? p->ss.ss_family : p->family;
	char why4[256] = "", why6[256] = "";
	int ok4 = 0, ok6 = 0;

	if (st == NULL)
		return check_start_error(c, "the icmp probes' shared state is missing");
	probe_register(p, st);
	if (fam != AF_INET6)
		ok4 = sock_open(st, AF_INET, why4, sizeof(why4)) == 0;
	if (fam != AF_INET)
		ok6 = sock_open(st, AF_INET6, why6, sizeof(why6)) == 0;
	sock_size_rcvbuf(st, &st->s4);
	sock_size_rcvbuf(st, &st->s6);
	/* a name needs one family: the other's failure shows in a run that needs it */
	if (ok4 || ok6)
		return 0;
	return check_start_error(c, "%s", why4[0] ? why4 : why6);
}

static void probe_begin(struct check *c, const struct sockaddr *sa, socklen_t salen,
			const char *addr)
{
	struct icmp_probe *p = c->priv;
	struct icmp_state *st = p->st;
	uint64_t now = mono_now_ms();
	int64_t left;
	char why[256];

	if (p->sslen > 0)
		snprintf(p->shown, sizeof(p->shown), "%s", p->host);
	else
		snprintf(p->shown, sizeof(p->shown), "%s (%s)", p->host, addr);
	if (sock_open(st, sa->sa_family, why, sizeof(why)) < 0) {
		check_done(c, OUTCOME_ERROR, "cannot ping %s: %s", p->shown, why);
		return;
	}
	memcpy(&p->target, sa, salen);
	p->tlen = salen;
	/* the port field is the ICMPv6 raw socket's protocol: it must be 0 */
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)&p->target)->sin6_port = 0;
	else
		((struct sockaddr_in *)&p->target)->sin_port = 0;
	p->run++;
	p->nsent = p->nwaiting = p->nanswered = 0;
	p->error[0] = '\0';
	memset(p->state, 0, p->packets * sizeof(*p->state));
	/* spread over what is left of the interval once the last request timed out */
	left = (int64_t)c->interval * 1000 - c->timeout_ms - ICMP_TICK_MS -
	       (int64_t)(now - c->run_start_ms);
	/* a name that took most of the interval: the requests go together */
	p->spacing_ms = left > 0 ? (uint64_t)left / p->packets : 0;
	p->start_ms = p->next_ms = now;
	p->end_ms = 0;
	runs_add(st, p);
	tick_arm(st, now);
}

static void icmp_resolved(const struct sockaddr *sa, socklen_t salen, const char *addr,
			  const char *why, void *arg)
{
	struct check *c = arg;

	if (sa == NULL) {
		check_done(c, OUTCOME_ERROR, "%s", why);
		return;
	}
	probe_begin(c, sa, salen, addr);
}

static void icmp_run(struct check *c)
{
	struct icmp_probe *p = c->priv;

	if (p->sslen > 0) {
		probe_begin(c, (struct sockaddr *)&p->ss, p->sslen, p->host);
		return;
	}
	resolve_start(&p->res, c->agent->dns, c->base, p->host, NULL, p->family, c->timeout_ms,
		      icmp_resolved, c);
}

static void icmp_stop(struct check *c)
{
	struct icmp_probe *p = c->priv;

	if (p == NULL)
		return;
	resolve_cancel(&p->res);
	if (p->st != NULL) {
		runs_unlink(p);
		if (p->slot < p->st->nprobes)
			p->st->probes[p->slot] = NULL;
	}
	free(p->state);
	free(p->seq);
	free(p->sent_ns);
	free(p->rtt);
	free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_icmp = {
    .name = "icmp",
    .section = "probe",
    .opts = icmp_opts,
    .init = icmp_init,
    .parse_config = icmp_parse_config,
    .open_privileged = probe_open,
    .start = probe_open,
    .run = icmp_run,
    .stop = icmp_stop,
    .fini = icmp_fini,
};
