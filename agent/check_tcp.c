/*
 * check_tcp.c - the "tcp" probe: whether a TCP service accepts connections
 * (the run's Result) and how long connecting took; optionally it sends a
 * line and expects an answer matching a regex (an SMTP 220, an SSH banner).
 * Non-blocking connect, write and read on the agent's loop, reading at most
 * read_max bytes; names resolve through evdns, never a blocking getaddrinfo.
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
#include "log.h"
#include "probe_target.h"
#include "timeutil.h"
#include "xmalloc.h"

struct tcp_probe {
	struct probe_target t;
	evutil_socket_t fd;
	struct event *ev;
	double started;   /* monotonic seconds: connect time wants sub-millisecond */
	double connected; /* monotonic seconds when the connection stood; 0 before */
	/* send/expect: what to write once connected, what the answer must match */
	char *send;
	size_t send_len, sent;
	char *expect; /* the regex as configured, for reasons */
	regex_t expect_re;
	size_t read_max;
	char *buf; /* what came back in this run, read_max + 1 bytes */
	size_t got;
};

#define TCP_READ_MAX_DEFAULT 4096
#define TCP_READ_MAX_MAX     65536
/* how much of an unexpected answer a reason shows */
#define TCP_SHOWN_MAX 80

static cfg_opt_t tcp_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_STR("send", NULL, CFGF_NODEFAULT),
    CFG_STR("expect", NULL, CFGF_NODEFAULT),
    CFG_INT("read_max", TCP_READ_MAX_DEFAULT, CFGF_NONE),
    CFG_END(),
};

static void tcp_probe_free(struct tcp_probe *p)
{
	if (p == NULL)
		return;
	if (p->expect != NULL)
		regfree(&p->expect_re);
	free(p->expect);
	free(p->send);
	free(p->buf);
	free(p);
}

/* The send/expect keys into p; -1 after reporting what is wrong. */
static int tcp_parse_expect(struct tcp_probe *p, cfg_t *sec)
{
	const char *send = cfg_getstr(sec, "send");
	const char *expect = cfg_getstr(sec, "expect");
	long read_max = cfg_getint(sec, "read_max");
	char why[128];
	int rc;

	if (read_max < 1 || read_max > TCP_READ_MAX_MAX) {
		conf_section_error(sec, "read_max must be 1..%d bytes, got %ld", TCP_READ_MAX_MAX,
				   read_max);
		return -1;
	}
	p->read_max = (size_t)read_max;
	if (send != NULL && send[0] == '\0') {
		conf_section_error(sec, "send must not be empty (leave it out to send nothing)");
		return -1;
	}
	if (send != NULL) {
		p->send = xstrdup(send);
		p->send_len = strlen(send);
	}
	if (expect == NULL)
		return 0;
	if (expect[0] == '\0') {
		conf_section_error(sec,
				   "expect must not be empty (leave it out to expect nothing)");
		return -1;
	}
	rc = regcomp(&p->expect_re, expect, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &p->expect_re, why, sizeof(why));
		regfree(&p->expect_re);
		conf_section_error(sec, "expect \"%s\" is not an extended regex: %s", expect, why);
		return -1;
	}
	p->expect = xstrdup(expect);
	p->buf = xmalloc(p->read_max + 1);
	return 0;
}

static int tcp_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"address", NULL};
	struct tcp_probe *p;

	if (conf_require(sec, req) < 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	if (probe_target_parse(&p->t, sec, 0) < 0 || tcp_parse_expect(p, sec) < 0) {
		tcp_probe_free(p);
		return -1;
	}
	c->priv = p;
	return 0;
}

/* Ends the run with its Result (reason printf-style, NULL when connected). */
static void tcp_finish(struct check *c, enum outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tcp_finish(struct check *c, enum outcome o, const char *fmt, ...)
{
	struct tcp_probe *p = c->priv;
	double secs = mono_now() - p->started;
	char reason[SAMPLE_REASON_MAX + 1] = "";
	va_list ap;

	if (p->ev != NULL) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->fd >= 0) {
		evutil_closesocket(p->fd);
		p->fd = -1;
	}
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	}
	/* up/down travels in the Result: the collector derives `up` from it */
	check_emit(c, "", "connect_time", SAMPLE_GAUGE,
		   p->connected > 0 ? p->connected - p->started : secs, 0, p->connected == 0);
	if (p->expect != NULL)
		check_emit(c, "", "response_time", SAMPLE_GAUGE, secs, 0, o != OUTCOME_OK);
	if (fmt != NULL)
		check_done(c, o, "%s", reason);
	else
		check_done(c, o, NULL);
}

/* What came back so far, for a reason: ", got \"220 mail...\"" or ", got nothing". */
static void tcp_got(const struct tcp_probe *p, char *out, size_t outlen)
{
	char q[4 * TCP_SHOWN_MAX + 8];

	if (p->got == 0) {
		snprintf(out, outlen, ", got nothing");
		return;
	}
	check_quote(q, sizeof(q), p->buf, p->got, TCP_SHOWN_MAX);
	snprintf(out, outlen, ", got \"%s\"", q);
}

static void tcp_timed_out(struct check *c)
{
	struct tcp_probe *p = c->priv;
	char got[4 * TCP_SHOWN_MAX + 32];

	if (p->connected == 0) {
		tcp_finish(c, OUTCOME_TIMEOUT, "no connection to %s within %g s", p->t.shown,
			   c->timeout_ms / 1000.0);
	} else if (p->sent < p->send_len) {
		tcp_finish(c, OUTCOME_TIMEOUT, "%s took no more than %zu of %zu bytes within %g s",
			   p->t.shown, p->sent, p->send_len, c->timeout_ms / 1000.0);
	} else {
		tcp_got(p, got, sizeof(got));
		tcp_finish(c, OUTCOME_TIMEOUT, "no answer matching /%s/ from %s within %g s%s",
			   p->expect, p->t.shown, c->timeout_ms / 1000.0, got);
	}
}

/* The outcome of a connect() that failed with `err`. */
static void tcp_failed(struct check *c, int err)
{
	struct tcp_probe *p = c->priv;

	if (err == ECONNREFUSED)
		tcp_finish(c, OUTCOME_DOWN, "connection refused by %s", p->t.shown);
	else if (err == ETIMEDOUT)
		tcp_timed_out(c);
	else
		tcp_finish(c, OUTCOME_DOWN, "cannot connect to %s: %s", p->t.shown, strerror(err));
}

static void tcp_event_cb(evutil_socket_t fd, short what, void *arg);

static void tcp_wait(struct check *c, short what)
{
	struct tcp_probe *p = c->priv;

	probe_wait(c, &p->ev, p->fd, what, tcp_event_cb);
}

/* The next step of a connected run: send, then read until expect matches. */
static void tcp_converse(struct check *c)
{
	struct tcp_probe *p = c->priv;
	char got[4 * TCP_SHOWN_MAX + 32];
	regmatch_t m[1];
	ssize_t n;

	while (p->sent < p->send_len) {
		n = send(p->fd, p->send + p->sent, p->send_len - p->sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (errno != EINTR) {
				tcp_wait(c, EV_WRITE);
				return;
			}
			continue;
		}
		if (n < 0) {
			tcp_finish(c, OUTCOME_DOWN, "cannot send to %s: %s", p->t.shown,
				   strerror(errno));
			return;
		}
		p->sent += (size_t)n;
	}
	if (p->expect == NULL) {
		tcp_finish(c, OUTCOME_OK, NULL);
		return;
	}
	for (;;) {
		n = recv(p->fd, p->buf + p->got, p->read_max - p->got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			tcp_wait(c, EV_READ);
			return;
		}
		if (n < 0) {
			tcp_got(p, got, sizeof(got));
			tcp_finish(c, OUTCOME_DOWN, "cannot read from %s: %s%s", p->t.shown,
				   strerror(errno), got);
			return;
		}
		p->got += (size_t)n;
		p->buf[p->got] = '\0';
		/* REG_STARTEND: an answer with NUL bytes (a binary greeting) is matched whole */
		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)p->got;
		if (regexec(&p->expect_re, p->buf, 1, m, REG_STARTEND) == 0) {
			tcp_finish(c, OUTCOME_OK, NULL);
			return;
		}
		if (n == 0 || p->got == p->read_max) {
			tcp_got(p, got, sizeof(got));
			tcp_finish(c, OUTCOME_DOWN, "%s answered no match for /%s/ %s%s",
				   p->t.shown, p->expect,
				   n == 0 ? "before it closed the connection"
					  : "within read_max bytes",
				   got);
			return;
		}
	}
}

static void tcp_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;
	struct tcp_probe *p = c->priv;
	int err = 0;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT) {
		tcp_timed_out(c);
		return;
	}
	if (p->connected > 0) {
		tcp_converse(c);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		tcp_failed(c, err);
		return;
	}
	p->connected = mono_now();
	tcp_converse(c);
}

/* The target's address is ready (why NULL), or its name did not resolve. */
static void tcp_connect(struct check *c, const char *why)
{
	struct tcp_probe *p = c->priv;

	if (why != NULL) {
		tcp_finish(c, OUTCOME_ERROR, "%s", why);
		return;
	}
	p->fd = socket(p->t.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		tcp_finish(c, OUTCOME_ERROR, "cannot open a socket for %s: %s", p->t.shown,
			   strerror(errno));
		return;
	}
	if (connect(p->fd, (struct sockaddr *)&p->t.ss, p->t.ss_len) < 0 && errno != EINPROGRESS) {
		tcp_failed(c, errno);
		return;
	}
	tcp_wait(c, EV_WRITE);
}

static void tcp_run(struct check *c)
{
	struct tcp_probe *p = c->priv;

	p->started = mono_now();
	p->connected = 0;
	p->sent = 0;
	p->got = 0;
	probe_target_start(&p->t, c, tcp_connect);
}

static void tcp_stop(struct check *c)
{
	struct tcp_probe *p = c->priv;

	if (p == NULL)
		return;
	probe_target_cancel(&p->t);
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->fd >= 0)
		evutil_closesocket(p->fd);
	tcp_probe_free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_tcp = {
    .name = "tcp",
    .section = "probe",
    .opts = tcp_opts,
    .parse_config = tcp_parse_config,
    .run = tcp_run,
    .stop = tcp_stop,
};
