/*
 * check_tcp.c - the "tcp" probe: whether a TCP service accepts connections
 * (the run's Result) and how long connecting took. Non-blocking connect on
 * the agent's loop; names resolve through evdns, never through a blocking
 * getaddrinfo.
 */
#include <errno.h>
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
#include "resolve.h"
#include "timeutil.h"
#include "xmalloc.h"

struct tcp_probe {
	char host[256];
	unsigned port;
	char target[300]; /* "host:port" or "[v6]:port", as configured */
	/* the target as a reason names it: with the address a name resolved to */
	char shown[300 + INET6_ADDRSTRLEN + 3];
	struct sockaddr_storage ss; /* resolved once when the address is numeric */
	int ss_len;
	evutil_socket_t fd;
	struct event *ev;
	struct resolve res; /* the name's lookup at each run */
	double started;     /* monotonic seconds: connect time wants sub-millisecond */
};

static cfg_opt_t tcp_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_END(),
};

static int tcp_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"address", NULL};
	struct tcp_probe *p;
	const char *why;

	if (conf_require(sec, req) < 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	if (conf_split_hostport(cfg_getstr(sec, "address"), p->host, sizeof(p->host), &p->port, 0,
				&why) < 0) {
		conf_section_error(sec, "address \"%s\": %s", cfg_getstr(sec, "address"), why);
		free(p);
		return -1;
	}
	snprintf(p->target, sizeof(p->target), strchr(p->host, ':') ? "[%s]:%u" : "%s:%u", p->host,
		 p->port);
	p->ss_len = sizeof(p->ss);
	if (evutil_parse_sockaddr_port(p->target, (struct sockaddr *)&p->ss, &p->ss_len) < 0)
		p->ss_len = 0; /* a name: resolved at every run */
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
	check_emit(c, "", "connect_time", SAMPLE_GAUGE, secs, 0, o != OUTCOME_OK);
	if (fmt != NULL)
		check_done(c, o, "%s", reason);
	else
		check_done(c, o, NULL);
}

static void tcp_timed_out(struct check *c)
{
	struct tcp_probe *p = c->priv;

	tcp_finish(c, OUTCOME_TIMEOUT, "no connection to %s within %g s", p->shown,
		   c->timeout_ms / 1000.0);
}

/* The outcome of a connect() that failed with `err`. */
static void tcp_failed(struct check *c, int err)
{
	struct tcp_probe *p = c->priv;

	if (err == ECONNREFUSED)
		tcp_finish(c, OUTCOME_DOWN, "connection refused by %s", p->shown);
	else if (err == ETIMEDOUT)
		tcp_timed_out(c);
	else
		tcp_finish(c, OUTCOME_DOWN, "cannot connect to %s: %s", p->shown, strerror(err));
}

static void tcp_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT) {
		tcp_timed_out(c);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0)
		tcp_failed(c, err);
	else
		tcp_finish(c, OUTCOME_OK, NULL);
}

static void tcp_connect(struct check *c, const struct sockaddr *sa, int salen)
{
	struct tcp_probe *p = c->priv;
	struct timeval tv;
	uint64_t used = mono_now_ms() - c->run_start_ms;

	p->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		tcp_finish(c, OUTCOME_ERROR, "cannot open a socket for %s: %s", p->shown,
			   strerror(errno));
		return;
	}
	if (connect(p->fd, sa, salen) < 0 && errno != EINPROGRESS) {
		tcp_failed(c, errno);
		return;
	}
	p->ev = event_new(c->base, p->fd, EV_WRITE, tcp_event_cb, c);
	/* the timeout covers name resolution and connect together */
	ms_to_timeval(used < c->timeout_ms ? c->timeout_ms - used : 1, &tv);
	event_add(p->ev, &tv);
}

static void tcp_resolved(const struct sockaddr *sa, socklen_t salen, const char *addr,
			 const char *why, void *arg)
{
	struct check *c = arg;
	struct tcp_probe *p = c->priv;

	if (sa == NULL) {
		tcp_finish(c, OUTCOME_ERROR, "%s", why);
		return;
	}
	snprintf(p->shown, sizeof(p->shown), "%s (%s)", p->target, addr);
	tcp_connect(c, sa, (int)salen);
}

static void tcp_run(struct check *c)
{
	struct tcp_probe *p = c->priv;
	char port[8];

	p->started = mono_now();
	snprintf(p->shown, sizeof(p->shown), "%s", p->target);
	if (p->ss_len > 0) {
		tcp_connect(c, (struct sockaddr *)&p->ss, p->ss_len);
		return;
	}
	snprintf(port, sizeof(port), "%u", p->port);
	resolve_start(&p->res, c->agent->dns, c->base, p->host, port, AF_UNSPEC, c->timeout_ms,
		      tcp_resolved, c);
}

static void tcp_stop(struct check *c)
{
	struct tcp_probe *p = c->priv;

	if (p == NULL)
		return;
	resolve_cancel(&p->res);
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->fd >= 0)
		evutil_closesocket(p->fd);
	free(p);
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
