/*
 * check_pcap.c - the "pcap" probe: passive traffic on one interface through
 * libpcap, filtered by BPF. Bytes and packets per protocol and family, per
 * service port, the top talkers of each interval, TCP retransmissions and
 * handshake round trips (agent/traffic.c), and the kernel's drops. The
 * handle is opened before privileges go and read non-blocking on the loop;
 * it never blocks the loop, and its memory is fixed when it opens.
 */
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <pcap/pcap.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "libload.h"
#include "log.h"
#include "packet.h"
#include "timeutil.h"
#include "traffic.h"
#include "xmalloc.h"

/* Headers only: the bytes counted come from the frame's length on the wire. */
#define PCAP_SNAPLEN 256
/* The kernel hands a block of frames over at least this often (TPACKET_V3). */
#define PCAP_TIMEOUT_MS 100
/* Frames read per wake-up, so that a flood cannot keep the loop from the rest. */
#define PCAP_BUDGET 2048

#define TOP_MAX          100
#define TALKER_TABLE_MAX 65536
#define FLOW_TABLE_MAX   (1 << 20)
#define BUFFER_MIN       (64LL << 10)
#define BUFFER_MAX       (1LL << 30)

struct pcap_probe {
	char iface[IF_NAMESIZE];
	char *filter; /* NULL: every frame */
	uint16_t ports[TRAFFIC_MAX_PORTS];
	size_t nports;
	unsigned top, talker_table, flow_table;
	int buffer_size;
	int promisc;
	pcap_t *pc;
	int dlt;
	struct event *ev;
	struct traffic *tr;
	/* why the capture closed (it is reopened at the next run); "" while it runs */
	char died[SAMPLE_REASON_MAX + 1];
	/* the drops of the handles closed before this one: the counters go on */
	uint64_t drops_before, ifdrops_before;
	struct pcap_stat last; /* of the current handle */
};

static cfg_opt_t pcap_opts[] = {
    CFG_STR("interface", NULL, CFGF_NODEFAULT),
    CFG_STR("filter", NULL, CFGF_NODEFAULT),
    CFG_INT_LIST("ports", "{22, 25, 53, 80, 88, 123, 161, 389, 443, 445, 587, 636, 993, 3389}",
		 CFGF_NONE),
    CFG_INT("top_talkers", 10, CFGF_NONE),
    CFG_INT("talker_table", 1024, CFGF_NONE),
    CFG_INT("flow_table", 4096, CFGF_NONE),
    CFG_STR("buffer_size", "4M", CFGF_NONE),
    CFG_BOOL("promiscuous", cfg_false, CFGF_NONE),
    CFG_END(),
};

/*
 * libpcap's functions, opened by the first pcap check (libload.h): an agent
 * without one maps neither libpcap nor the D-Bus and systemd libraries it
 * brings.
 */
#define PCAP_LIB_FNS(X, v, p)                                                                   \
	X(v, p, activate) X(v, p, close) X(v, p, compile) X(v, p, create) X(v, p, datalink)     \
	X(v, p, datalink_val_to_name) X(v, p, dispatch) X(v, p, freecode)                       \
	X(v, p, get_selectable_fd) X(v, p, geterr) X(v, p, open_dead)                           \
	X(v, p, set_buffer_size) X(v, p, set_promisc) X(v, p, set_snaplen)                      \
	X(v, p, set_timeout) X(v, p, setfilter) X(v, p, setnonblock) X(v, p, stats)             \
	X(v, p, statustostr)
LIBLOAD_DEFINE(lp, PCAP_LIB_FNS, pcap_, VAKT_LIBPCAP_SONAME, "pcap checks");

/* Compiles `filter` as the capture would on Ethernet; -1 with pcap's reason in why. */
static int filter_check(const char *filter, char *why, size_t len)
{
	pcap_t *dead = lp.open_dead(DLT_EN10MB, PCAP_SNAPLEN);
	struct bpf_program prog;
	int rc;

	if (dead == NULL) {
		snprintf(why, len, "cannot set up the filter compiler");
		return -1;
	}
	rc = lp.compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN);
	if (rc < 0)
		snprintf(why, len, "%s", lp.geterr(dead));
	else
		lp.freecode(&prog);
	lp.close(dead);
	return rc < 0 ? -1 : 0;
}

static int pcap_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"interface", NULL};
	const char *iface, *filter;
	char why[PCAP_ERRBUF_SIZE];
	struct pcap_probe *p;
	long top, talkers, flows;
	long long buf;

	if (conf_require(sec, req) < 0)
		return -1;
	if (libload_open(&lp_lib, why, sizeof(why)) < 0) {
		conf_section_error(sec, "%s", why);
		return -1;
	}
	iface = cfg_getstr(sec, "interface");
	if (iface[0] == '\0' || strlen(iface) >= IF_NAMESIZE || strpbrk(iface, " /") != NULL) {
		conf_section_error(sec, "interface \"%s\" is no interface name (1..%d characters)",
				   iface, IF_NAMESIZE - 1);
		return -1;
	}
	filter = cfg_getstr(sec, "filter");
	if (filter != NULL && filter_check(filter, why, sizeof(why)) < 0) {
		conf_section_error(sec, "filter \"%s\": %s", filter, why);
		return -1;
	}
	if (cfg_size(sec, "ports") > TRAFFIC_MAX_PORTS) {
		conf_section_error(sec, "ports lists %u ports, at most %d are counted apart",
				   cfg_size(sec, "ports"), TRAFFIC_MAX_PORTS);
		return -1;
	}
	for (unsigned i = 0; i < cfg_size(sec, "ports"); i++)
		if (cfg_getnint(sec, "ports", i) < 1 || cfg_getnint(sec, "ports", i) > 65535) {
			conf_section_error(sec, "ports: %ld is no port (1..65535)",
					   cfg_getnint(sec, "ports", i));
			return -1;
		}
	top = cfg_getint(sec, "top_talkers");
	talkers = cfg_getint(sec, "talker_table");
	flows = cfg_getint(sec, "flow_table");
	if (top < 0 || top > TOP_MAX) {
		conf_section_error(sec, "top_talkers must be 0..%d, got %ld", TOP_MAX, top);
		return -1;
	}
	if (talkers < 1 || talkers > TALKER_TABLE_MAX || talkers < top) {
		conf_section_error(sec, "talker_table must be top_talkers (%ld)..%d, got %ld", top,
				   TALKER_TABLE_MAX, talkers);
		return -1;
	}
	if (flows < 0 || flows > FLOW_TABLE_MAX) {
		conf_section_error(sec, "flow_table must be 0..%d, got %ld", FLOW_TABLE_MAX, flows);
		return -1;
	}
	buf = conf_parse_size(cfg_getstr(sec, "buffer_size"));
	if (buf < BUFFER_MIN || buf > BUFFER_MAX) {
		conf_section_error(sec, "buffer_size must be a size of 64k..1G, got \"%s\"",
				   cfg_getstr(sec, "buffer_size"));
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	snprintf(p->iface, sizeof(p->iface), "%s", iface);
	p->filter = filter != NULL ? xstrdup(filter) : NULL;
	p->nports = cfg_size(sec, "ports");
	for (size_t i = 0; i < p->nports; i++)
		p->ports[i] = (uint16_t)cfg_getnint(sec, "ports", (unsigned)i);
	p->top = (unsigned)top;
	p->talker_table = (unsigned)talkers;
	p->flow_table = (unsigned)flows;
	p->buffer_size = (int)buf;
	p->promisc = cfg_getbool(sec, "promiscuous");
	c->priv = p;
	return 0;
}

static void capture_close(struct pcap_probe *p)
{
	if (p->ev != NULL) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->pc != NULL) {
		lp.close(p->pc);
		p->pc = NULL;
	}
	/* the closed handle's drops stay counted */
	p->drops_before += p->last.ps_drop;
	p->ifdrops_before += p->last.ps_ifdrop;
	memset(&p->last, 0, sizeof(p->last));
}

/* Closes the capture that failed; the next run reports why and reopens it. */
static void capture_died(struct check *c, const char *why)
{
	struct pcap_probe *p = c->priv;

	snprintf(p->died, sizeof(p->died), "capture on %s failed: %s", p->iface, why);
	log_warnx("check \"%s\" (pcap): %s; reopening at the next run", c->name, p->died);
	capture_close(p);
}

static void capture_frame(u_char *arg, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct pcap_probe *p = (struct pcap_probe *)arg;
	struct packet pk;
	enum packet_status st = packet_parse(p->dlt, bytes, h->caplen, h->len, &pk);

	traffic_add(p->tr, &pk, st, h->len,
		    (uint64_t)h->ts.tv_sec * 1000000 + (uint64_t)h->ts.tv_usec);
}

/* Reads what the kernel has ready, at most `budget` frames; -1 if the capture died. */
static int capture_read(struct check *c, int budget)
{
	struct pcap_probe *p = c->priv;
	int n;

	if (p->pc == NULL)
		return -1;
	n = lp.dispatch(p->pc, budget, capture_frame, (u_char *)p);
	if (n == PCAP_ERROR) {
		capture_died(c, lp.geterr(p->pc));
		return -1;
	}
	return n < 0 ? 0 : n;
}

static void capture_cb(evutil_socket_t fd, short what, void *arg)
{
	capture_read(arg, PCAP_BUDGET);
}

/* Opens the capture handle; -1 with the reason in why. */
static int capture_open(struct check *c, char *why, size_t len)
{
	struct pcap_probe *p = c->priv;
	char err[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program prog;
	int rc;

	p->pc = lp.create(p->iface, err);
	if (p->pc == NULL) {
		snprintf(why, len, "cannot capture on %s: %s", p->iface, err);
		return -1;
	}
	/*
	 * Not immediate mode: with TPACKET_V3 the kernel fills blocks of the
	 * ring and hands one over when it is full or PCAP_TIMEOUT_MS old, one
	 * wake-up for many frames.
	 */
	lp.set_snaplen(p->pc, PCAP_SNAPLEN);
	lp.set_promisc(p->pc, p->promisc);
	lp.set_timeout(p->pc, PCAP_TIMEOUT_MS);
	lp.set_buffer_size(p->pc, p->buffer_size);
	rc = lp.activate(p->pc);
	if (rc < 0) {
		/* libpcap's own text when it has one: it names the cause more exactly */
		snprintf(why, len, "cannot capture on %s: %s%s", p->iface,
			 lp.geterr(p->pc)[0] ? lp.geterr(p->pc) : lp.statustostr(rc),
			 rc == PCAP_ERROR_PERM_DENIED ? " (capturing needs CAP_NET_RAW)" : "");
		goto fail;
	}
	if (rc > 0)
		log_warnx("check \"%s\" (pcap): %s: %s", c->name, p->iface, lp.statustostr(rc));
	p->dlt = lp.datalink(p->pc);
	if (!packet_dlt_supported(p->dlt)) {
		snprintf(
		    why, len, "%s has link type %s, which the pcap check does not decode", p->iface,
		    lp.datalink_val_to_name(p->dlt) ? lp.datalink_val_to_name(p->dlt) : "?");
		goto fail;
	}
	if (p->filter != NULL) {
		if (lp.compile(p->pc, &prog, p->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
			snprintf(why, len, "filter \"%s\" on %s: %s", p->filter, p->iface,
				 lp.geterr(p->pc));
			goto fail;
		}
		rc = lp.setfilter(p->pc, &prog);
		lp.freecode(&prog);
		if (rc < 0) {
			snprintf(why, len, "cannot set the filter on %s: %s", p->iface,
				 lp.geterr(p->pc));
			goto fail;
		}
	}
	if (lp.setnonblock(p->pc, 1, err) < 0) {
		snprintf(why, len, "cannot read %s without blocking: %s", p->iface, err);
		goto fail;
	}
	if (lp.get_selectable_fd(p->pc) < 0) {
		snprintf(why, len, "%s offers no descriptor to wait on", p->iface);
		goto fail;
	}
	return 0;
fail:
	lp.close(p->pc);
	p->pc = NULL;
	return -1;
}

/* Puts the open handle on the loop. */
static int capture_watch(struct check *c, char *why, size_t len)
{
	struct pcap_probe *p = c->priv;

	p->ev =
	    event_new(c->base, lp.get_selectable_fd(p->pc), EV_READ | EV_PERSIST, capture_cb, c);
	if (p->ev == NULL || event_add(p->ev, NULL) < 0) {
		snprintf(why, len, "cannot watch the capture on %s", p->iface);
		capture_close(p);
		return -1;
	}
	return 0;
}

/* Capture handles need CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode). */
static int pcap_open_privileged(struct check *c)
{
	struct pcap_probe *p = c->priv;

	if (p->tr == NULL)
		p->tr = traffic_new(p->ports, p->nports, p->talker_table, p->flow_table,
				    (uint64_t)(c->interval > 60 ? 2 * c->interval : 120) * 1000000);
	if (capture_open(c, c->start_error, sizeof(c->start_error)) < 0)
		return -1;
	return 0;
}

/* Watches the handle opened above; without one, tries to open it (it may need privileges). */
static int pcap_start(struct check *c)
{
	struct pcap_probe *p = c->priv;

	if (p->pc == NULL && pcap_open_privileged(c) < 0)
		return -1;
	if (p->ev == NULL && capture_watch(c, c->start_error, sizeof(c->start_error)) < 0)
		return -1;
	return 0;
}

static void emit_count(struct check *c, const char *instance, const char *metric, uint64_t v)
{
	check_emit(c, instance, metric, SAMPLE_COUNTER, 0, v, 0);
}

static void emit_proto(struct check *c, const struct traffic_counters *tc, enum packet_proto pr)
{
	const char *in = packet_proto_str(pr);

	/* the rare kinds get a file once they are seen, not an empty one each */
	if ((pr == PACKET_OTHER || pr == PACKET_NONIP) &&
	    tc->proto[pr][0].packets + tc->proto[pr][1].packets == 0)
		return;
	if (pr == PACKET_NONIP) {
		emit_count(c, in, "bytes", tc->proto[pr][0].bytes);
		emit_count(c, in, "packets", tc->proto[pr][0].packets);
		return;
	}
	emit_count(c, in, "v4_bytes", tc->proto[pr][0].bytes);
	emit_count(c, in, "v4_packets", tc->proto[pr][0].packets);
	emit_count(c, in, "v6_bytes", tc->proto[pr][1].bytes);
	emit_count(c, in, "v6_packets", tc->proto[pr][1].packets);
}

static void talker_name(const struct traffic_talker *t, char *buf, size_t len)
{
	if (inet_ntop(t->family == 4 ? AF_INET : AF_INET6, t->addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

/* The interval's samples; returns the top talker's reason text into why. */
static void emit_interval(struct check *c, char *why, size_t len)
{
	struct pcap_probe *p = c->priv;
	const struct traffic_counters *tc = traffic_counters(p->tr);
	const struct traffic_rtt *rtt = traffic_rtt(p->tr);
	struct traffic_talker top[TOP_MAX];
	char addr[INET6_ADDRSTRLEN], inst[SAMPLE_NAME_MAX];
	size_t n;

	emit_count(c, "capture", "bytes", tc->all.bytes);
	emit_count(c, "capture", "packets", tc->all.packets);
	emit_count(c, "capture", "kernel_drops", p->drops_before + p->last.ps_drop);
	emit_count(c, "capture", "interface_drops", p->ifdrops_before + p->last.ps_ifdrop);
	emit_count(c, "capture", "truncated", tc->truncated);
	emit_count(c, "capture", "malformed", tc->malformed);
	for (int pr = 0; pr < PACKET_NPROTO; pr++)
		emit_proto(c, tc, (enum packet_proto)pr);
	emit_count(c, "tcp", "retransmits", tc->retransmits);
	emit_count(c, "tcp", "handshakes", tc->handshakes);
	emit_count(c, "tcp", "untracked", tc->untracked);
	check_emit(c, "tcp", "flows", SAMPLE_GAUGE, (double)traffic_flows(p->tr), 0, 0);
	/* no handshake timed this interval: unknown, not a round trip of 0 */
	check_emit(c, "tcp", "handshake_rtt", SAMPLE_GAUGE,
		   rtt->n ? (double)rtt->sum_us / (double)rtt->n / 1e6 : 0, 0, rtt->n == 0);
	check_emit(c, "tcp", "handshake_rtt_max", SAMPLE_GAUGE, (double)rtt->max_us / 1e6, 0,
		   rtt->n == 0);
	for (size_t i = 0; i < p->nports; i++) {
		if (traffic_port(p->tr, i)->packets == 0)
			continue; /* a port gets its file with its first frame */
		snprintf(inst, sizeof(inst), "port-%u", p->ports[i]);
		emit_count(c, inst, "bytes", traffic_port(p->tr, i)->bytes);
		emit_count(c, inst, "packets", traffic_port(p->tr, i)->packets);
	}
	/*
	 * Talkers by rank, every interval: an address's own series would come
	 * and go with its rank, and the collector pages a series that stops.
	 * Who they are is in the Result's reason.
	 */
	n = traffic_top(p->tr, top, p->top);
	for (size_t i = 0; i < p->top; i++) {
		snprintf(inst, sizeof(inst), "top-%zu", i + 1);
		check_emit(c, inst, "bytes", SAMPLE_GAUGE, i < n ? (double)top[i].bytes : 0, 0, 0);
		check_emit(c, inst, "packets", SAMPLE_GAUGE, i < n ? (double)top[i].packets : 0, 0,
			   0);
	}
	if (n == 0) {
		snprintf(why, len, "no IP traffic on %s", p->iface);
		return;
	}
	snprintf(why, len, "top talkers:");
	for (size_t i = 0, used = strlen(why); i < n && used < len; i++) {
		talker_name(&top[i], addr, sizeof(addr));
		snprintf(why + used, len - used, "%s %s %" PRIu64 " B", i ? "," : "", addr,
			 top[i].bytes);
		used += strlen(why + used);
	}
}

static void pcap_run(struct check *c)
{
	struct pcap_probe *p = c->priv;
	char why[SAMPLE_REASON_MAX + 1];

	/* what the kernel has handed over by now belongs to this interval */
	for (int i = 0; i < 64 && capture_read(c, PCAP_BUDGET) == PCAP_BUDGET; i++)
		;
	if (p->pc != NULL && lp.stats(p->pc, &p->last) < 0)
		capture_died(c, lp.geterr(p->pc));
	if (p->pc == NULL) {
		char died[sizeof(p->died)];

		/* this interval's counts are short: an ERROR, then counting goes on */
		snprintf(died, sizeof(died), "%s", p->died[0] ? p->died : "capture closed");
		if (capture_open(c, why, sizeof(why)) < 0 ||
		    capture_watch(c, why, sizeof(why)) < 0) {
			check_done(c, OUTCOME_ERROR, "%s; reopening: %s", died, why);
			return;
		}
		p->died[0] = '\0';
		log_info("check \"%s\" (pcap): capture on %s reopened", c->name, p->iface);
		traffic_next_interval(p->tr, (uint64_t)wall_now_ms() * 1000);
		check_done(c, OUTCOME_ERROR, "%s; reopened", died);
		return;
	}
	emit_interval(c, why, sizeof(why));
	traffic_next_interval(p->tr, (uint64_t)wall_now_ms() * 1000);
	check_done(c, OUTCOME_OK, "%s", why);
}

static void pcap_stop(struct check *c)
{
	struct pcap_probe *p = c->priv;

	if (p == NULL)
		return;
	capture_close(p);
	traffic_free(p->tr);
	free(p->filter);
	free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_pcap = {
    .name = "pcap",
    .section = "probe",
    .opts = pcap_opts,
    .parse_config = pcap_parse_config,
    .open_privileged = pcap_open_privileged,
    .start = pcap_start,
    .run = pcap_run,
    .stop = pcap_stop,
};
