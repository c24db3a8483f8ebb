/*
 * check_dns.c - the "dns" probe: one query of a given type for a name to a
 * given server, its rcode and answers checked, its response time measured.
 * One connected UDP socket per run on the agent's loop (a truncated answer
 * is asked again over TCP); never a blocking resolver call. Messages are
 * built and parsed by dns_wire.c.
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include <event2/util.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "dns_wire.h"
#include "log.h"
#include "probe_target.h"
#include "timeutil.h"
#include "xmalloc.h"

/* how many answers a reason lists */
#define DNS_SHOWN_ANSWERS 4

struct dns_probe {
	struct probe_target t;    /* the server */
	char query[DNS_NAME_MAX]; /* the name asked: a PTR's address reversed */
	char asked[DNS_NAME_MAX]; /* the name as configured, for reasons */
	int type, rcode;
	char *expect;
	regex_t expect_re;
	/* the run in progress */
	evutil_socket_t fd;
	struct event *ev;
	int over_tcp;
	uint16_t id;
	uint8_t q[2 + DNS_UDP_MAX]; /* the query, after room for TCP's length */
	size_t qlen;
	uint8_t *buf; /* the answer: DNS_UDP_MAX, or 2 + DNS_TCP_MAX over TCP */
	size_t bufsize, got, sent;
	unsigned ignored;      /* packets that were not the answer to this query */
	char ignored_why[160]; /* what the last of them was */
	double started;        /* monotonic seconds */
};

static cfg_opt_t dns_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT), CFG_STR("query", NULL, CFGF_NODEFAULT),
    CFG_STR("type", "A", CFGF_NONE),          CFG_STR("rcode", "NOERROR", CFGF_NONE),
    CFG_STR("expect", NULL, CFGF_NODEFAULT),  CFG_END(),
};

static void dns_probe_free(struct dns_probe *p)
{
	if (p == NULL)
		return;
	if (p->expect != NULL)
		regfree(&p->expect_re);
	free(p->expect);
	free(p->buf);
	free(p);
}

static int dns_parse_names(struct dns_probe *p, cfg_t *sec)
{
	const char *query = cfg_getstr(sec, "query");
	const char *why;
	uint8_t scratch[2 + DNS_UDP_MAX];

	if ((p->type = dns_type_parse(cfg_getstr(sec, "type"))) < 0) {
		conf_section_error(sec,
				   "type must be A, AAAA, MX, SOA, PTR, TXT, CNAME, NS or SRV, got "
				   "\"%s\"",
				   cfg_getstr(sec, "type"));
		return -1;
	}
	if ((p->rcode = dns_rcode_parse(cfg_getstr(sec, "rcode"))) < 0) {
		conf_section_error(
		    sec,
		    "rcode must be NOERROR, NXDOMAIN, SERVFAIL, REFUSED, FORMERR, "
		    "NOTIMP, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH or NOTZONE, got \"%s\"",
		    cfg_getstr(sec, "rcode"));
		return -1;
	}
	snprintf(p->asked, sizeof(p->asked), "%s", query);
	/* PTR of an address asks for its reverse name, as dig -x does */
	if (p->type != DNS_T_PTR || dns_reverse_name(query, p->query, sizeof(p->query)) < 0)
		snprintf(p->query, sizeof(p->query), "%s", query);
	if (dns_query_build(scratch, sizeof(scratch), 0, p->query, p->type, &why) < 0) {
		conf_section_error(sec, "query \"%s\": %s", query, why);
		return -1;
	}
	return 0;
}

static int dns_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"address", "query", NULL};
	const char *expect = cfg_getstr(sec, "expect");
	struct dns_probe *p;
	char err[128];
	int rc;

	if (conf_require(sec, req) < 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	if (probe_target_parse(&p->t, sec, 53) < 0 || dns_parse_names(p, sec) < 0) {
		dns_probe_free(p);
		return -1;
	}
	if (expect != NULL) {
		if ((rc = regcomp(&p->expect_re, expect, REG_EXTENDED | REG_NOSUB)) != 0) {
			regerror(rc, &p->expect_re, err, sizeof(err));
			regfree(&p->expect_re);
			conf_section_error(sec, "expect \"%s\" is not an extended regex: %s",
					   expect, err);
			dns_probe_free(p);
			return -1;
		}
		p->expect = xstrdup(expect);
	}
	c->priv = p;
	return 0;
}

/* Closes what the run opened. */
static void dns_close(struct dns_probe *p)
{
	if (p->ev != NULL) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->fd >= 0) {
		evutil_closesocket(p->fd);
		p->fd = -1;
	}
}

/*
 * Ends the run: response_time (unknown without an answer) and answers
 * (unknown without a parsed one), then the Result.
 */
static void dns_finish(struct check *c, enum outcome o, double rtt, int answers, const char *fmt,
		       ...) __attribute__((format(printf, 5, 6)));
static void dns_finish(struct check *c, enum outcome o, double rtt, int answers, const char *fmt,
		       ...)
{
	struct dns_probe *p = c->priv;
	char reason[SAMPLE_REASON_MAX + 1] = "";
	va_list ap;

	dns_close(p);
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	}
	check_emit(c, "", "response_time", SAMPLE_GAUGE, rtt < 0 ? 0 : rtt, 0, rtt < 0);
	check_emit(c, "", "answers", SAMPLE_GAUGE, answers < 0 ? 0 : answers, 0, answers < 0);
	if (fmt != NULL)
		check_done(c, o, "%s", reason);
	else
		check_done(c, o, NULL);
}

/* The first answers as "a, b, c and 2 more" for a reason. */
static void dns_answers_text(const struct dns_response *r, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < r->ntext && i < DNS_SHOWN_ANSWERS && o + 1 < outlen; i++) {
		int n = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", r->text[i]);

		if (n < 0)
			break;
		o += (size_t)n < outlen - o ? (size_t)n : outlen - o - 1;
	}
	if (r->ancount > DNS_SHOWN_ANSWERS && o + 1 < outlen)
		snprintf(out + o, outlen - o, " and %u more", r->ancount - DNS_SHOWN_ANSWERS);
}

static void dns_tcp_start(struct check *c);

/* An answer to this query arrived (UDP or TCP): judge it and end the run. */
static void dns_answered(struct check *c, const struct dns_response *r)
{
	struct dns_probe *p = c->priv;
	double rtt = mono_now() - p->started;
	char list[4 * DNS_TEXT_MAX];

	if (r->truncated && !p->over_tcp) {
		dns_tcp_start(c);
		return;
	}
	if (r->truncated) {
		dns_finish(c, OUTCOME_DOWN, rtt, -1, "%s answered %s %s over TCP truncated",
			   p->t.shown, p->asked, dns_type_str(p->type));
		return;
	}
	if (r->rcode != p->rcode) {
		dns_finish(c, OUTCOME_DOWN, rtt, (int)r->matching, "%s for %s %s from %s%s%s",
			   dns_rcode_str(r->rcode), p->asked, dns_type_str(p->type), p->t.shown,
			   p->rcode != 0 ? ", expected " : "",
			   p->rcode != 0 ? dns_rcode_str(p->rcode) : "");
		return;
	}
	if (p->expect != NULL) {
		for (unsigned i = 0; i < r->ntext; i++)
			if (regexec(&p->expect_re, r->text[i], 0, NULL, 0) == 0) {
				dns_finish(c, OUTCOME_OK, rtt, (int)r->matching, NULL);
				return;
			}
		dns_answers_text(r, list, sizeof(list));
		dns_finish(c, OUTCOME_DOWN, rtt, (int)r->matching,
			   "no answer for %s %s from %s matches /%s/: got %s", p->asked,
			   dns_type_str(p->type), p->t.shown, p->expect,
			   r->ancount ? list : "no answers");
		return;
	}
	dns_finish(c, OUTCOME_OK, rtt, (int)r->matching, NULL);
}

/* A packet from the server: the answer, something to ignore, or broken. */
static void dns_packet(struct check *c, const uint8_t *msg, size_t len)
{
	struct dns_probe *p = c->priv;
	struct dns_response r;
	char why[160];

	switch (dns_response_parse(msg, len, p->id, p->query, p->type, &r, why, sizeof(why))) {
	case DNS_PARSE_OK:
		dns_answered(c, &r);
		return;
	case DNS_PARSE_OTHER:
		/* not ours (late, spoofed): a resolver ignores it, and so does the probe */
		p->ignored++;
		snprintf(p->ignored_why, sizeof(p->ignored_why), "%s", why);
		log_debug("check \"%s\": ignored a packet from %s: %s", c->name, p->t.shown, why);
		return;
	case DNS_PARSE_MALFORMED:
		dns_finish(c, OUTCOME_DOWN, mono_now() - p->started, -1,
			   "malformed answer for %s %s from %s: %s", p->asked,
			   dns_type_str(p->type), p->t.shown, why);
		return;
	}
}

static void dns_timed_out(struct check *c)
{
	struct dns_probe *p = c->priv;

	if (p->ignored > 0)
		dns_finish(
		    c, OUTCOME_TIMEOUT, -1, -1,
		    "no answer from %s within %g s%s (ignored %u other packets, the last %s)",
		    p->t.shown, c->timeout_ms / 1000.0, p->over_tcp ? " over TCP" : "", p->ignored,
		    p->ignored_why);
	else
		dns_finish(c, OUTCOME_TIMEOUT, -1, -1, "no answer from %s within %g s%s",
			   p->t.shown, c->timeout_ms / 1000.0, p->over_tcp ? " over TCP" : "");
}

/* A socket error of the run: the server refused or is unreachable. */
static void dns_failed(struct check *c, int err)
{
	struct dns_probe *p = c->priv;

	if (err == ECONNREFUSED)
		dns_finish(c, OUTCOME_DOWN, -1, -1, "%s refused the query%s (nothing listens)",
			   p->t.shown, p->over_tcp ? " over TCP" : "");
	else
		dns_finish(c, OUTCOME_DOWN, -1, -1, "cannot query %s%s: %s", p->t.shown,
			   p->over_tcp ? " over TCP" : "", strerror(err));
}

static void dns_event_cb(evutil_socket_t fd, short what, void *arg);

static void dns_wait(struct check *c, short what)
{
	struct dns_probe *p = c->priv;

	probe_wait(c, &p->ev, p->fd, what, dns_event_cb);
}

/* UDP: every datagram waiting, until the answer or EAGAIN. */
static void dns_udp_read(struct check *c)
{
	struct dns_probe *p = c->priv;

	for (;;) {
		/* MSG_TRUNC: the datagram's whole length, though only bufsize is read */
		ssize_t n = recv(p->fd, p->buf, p->bufsize, MSG_TRUNC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			dns_wait(c, EV_READ);
			return;
		}
		if (n < 0) {
			dns_failed(c, errno);
			return;
		}
		if ((size_t)n > p->bufsize && (p->buf[0] << 8 | p->buf[1]) == p->id) {
			/* cut here, it would read as malformed: say what it was */
			dns_finish(c, OUTCOME_DOWN, mono_now() - p->started, -1,
				   "%s answered %s %s with %zd bytes over UDP, more than the %d "
				   "a query without EDNS allows, without marking it truncated",
				   p->t.shown, p->asked, dns_type_str(p->type), n, DNS_UDP_MAX);
			return;
		}
		dns_packet(c, p->buf, (size_t)n < p->bufsize ? (size_t)n : p->bufsize);
		if (!c->busy || p->fd < 0 || p->over_tcp)
			return; /* the run ended, or went on over TCP */
	}
}

/* TCP: the length-prefixed query out, then the length-prefixed answer in. */
static void dns_tcp_io(struct check *c)
{
	struct dns_probe *p = c->priv;
	ssize_t n;

	while (p->sent < p->qlen + 2) {
		n = send(p->fd, p->q + p->sent, p->qlen + 2 - p->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			dns_wait(c, EV_WRITE);
			return;
		}
		if (n < 0) {
			dns_failed(c, errno);
			return;
		}
		p->sent += (size_t)n;
	}
	for (;;) {
		size_t want = p->got < 2 ? 2 : 2 + ((size_t)p->buf[0] << 8 | p->buf[1]);

		if (p->got >= 2 && p->got == want) {
			p->ignored = 0; /* a stream answers one query: any other is broken */
			dns_packet(c, p->buf + 2, p->got - 2);
			if (c->busy && p->fd >= 0)
				dns_finish(c, OUTCOME_DOWN, mono_now() - p->started, -1,
					   "%s answered another query over TCP: %s", p->t.shown,
					   p->ignored_why);
			return;
		}
		n = recv(p->fd, p->buf + p->got, want - p->got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			dns_wait(c, EV_READ);
			return;
		}
		if (n < 0) {
			dns_failed(c, errno);
			return;
		}
		if (n == 0) {
			dns_finish(c, OUTCOME_DOWN, -1, -1,
				   "%s closed the TCP connection after %zu bytes of its answer",
				   p->t.shown, p->got);
			return;
		}
		p->got += (size_t)n;
	}
}

static void dns_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;
	struct dns_probe *p = c->priv;
	int err = 0;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT) {
		dns_timed_out(c);
		return;
	}
	if (!p->over_tcp) {
		dns_udp_read(c);
		return;
	}
	if (p->sent == 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			dns_failed(c, err);
			return;
		}
	}
	dns_tcp_io(c);
}

/* Opens the run's socket to the server: UDP, or TCP after a truncated answer. */
static int dns_open(struct check *c, int type)
{
	struct dns_probe *p = c->priv;
	const struct sockaddr *sa = (const struct sockaddr *)&p->t.ss;

	p->fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		dns_finish(c, OUTCOME_ERROR, -1, -1, "cannot open a socket for %s: %s", p->t.shown,
			   strerror(errno));
		return -1;
	}
	/* connected: the kernel drops datagrams from any other address and port */
	if (connect(p->fd, sa, p->t.ss_len) < 0 && errno != EINPROGRESS) {
		dns_failed(c, errno);
		return -1;
	}
	return 0;
}

static void dns_tcp_start(struct check *c)
{
	struct dns_probe *p = c->priv;

	dns_close(p);
	p->over_tcp = 1;
	free(p->buf);
	p->bufsize = 2 + DNS_TCP_MAX;
	p->buf = xmalloc(p->bufsize);
	p->got = p->sent = 0;
	p->ignored = 0;
	if (dns_open(c, SOCK_STREAM) < 0)
		return;
	dns_wait(c, EV_WRITE);
}

/* The server's address is ready (why NULL), or its name did not resolve. */
static void dns_send(struct check *c, const char *why)
{
	struct dns_probe *p = c->priv;
	ssize_t n;

	if (why != NULL) {
		dns_finish(c, OUTCOME_ERROR, -1, -1, "%s", why);
		return;
	}
	if (dns_open(c, SOCK_DGRAM) < 0)
		return;
	n = send(p->fd, p->q + 2, p->qlen, 0);
	if (n < 0) {
		dns_failed(c, errno);
		return;
	}
	dns_wait(c, EV_READ);
}

static void dns_run(struct check *c)
{
	struct dns_probe *p = c->priv;
	const char *why;
	int n;

	p->started = mono_now();
	p->over_tcp = 0;
	p->ignored = 0;
	/* a fresh id, as a fresh source port, for every query: guessing either is no use */
	evutil_secure_rng_get_bytes(&p->id, sizeof(p->id));
	n = dns_query_build(p->q + 2, sizeof(p->q) - 2, p->id, p->query, p->type, &why);
	if (n < 0) { /* checked at parse time: cannot happen */
		dns_finish(c, OUTCOME_ERROR, -1, -1, "cannot build the query: %s", why);
		return;
	}
	p->qlen = (size_t)n;
	p->q[0] = (uint8_t)(p->qlen >> 8);
	p->q[1] = (uint8_t)p->qlen;
	if (p->bufsize != DNS_UDP_MAX) {
		free(p->buf);
		p->bufsize = DNS_UDP_MAX;
		p->buf = xmalloc(p->bufsize);
	}
	probe_target_start(&p->t, c, dns_send);
}

static void dns_stop(struct check *c)
{
	struct dns_probe *p = c->priv;

	if (p == NULL)
		return;
	probe_target_cancel(&p->t);
	dns_close(p);
	dns_probe_free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_dns = {
    .name = "dns",
    .section = "probe",
    .opts = dns_opts,
    .parse_config = dns_parse_config,
    .run = dns_run,
    .stop = dns_stop,
};
