/*
 * resolve.c - one host name looked up for a check's run through evdns,
 * bounded by the run's timeout, with the reason texts every check kind
 * shares. It never blocks the loop and never calls a check back after
 * resolve_cancel(), even though evdns reports a cancellation later.
 */
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/util.h>

#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

/*
 * One lookup. It lives apart from its owner's struct resolve because evdns
 * answers a cancelled lookup later, on the loop, with EVUTIL_EAI_CANCEL: by
 * then the check may be gone, so the lookup outlives it, detached (owner
 * NULL), and frees itself when that answer arrives.
 */
struct resolve_lookup {
	struct resolve *owner; /* NULL once cancelled or timed out */
	resolve_done_fn done;
	void *arg;
	char *host;
	unsigned timeout_ms;
	struct evdns_getaddrinfo_request *req; /* NULL unless evdns still holds the lookup */
	/* the run's timeout; also hands an answer evdns gave at once to the next turn */
	struct event *timer;
	int starting; /* inside evdns_getaddrinfo(): keep an answer for the next turn */
	int err;      /* such an answer: the evdns error, or 0 with ss */
	struct sockaddr_storage ss;
	socklen_t sslen;
};

static void resolve_lookup_free(struct resolve_lookup *q)
{
	if (q == NULL)
		return;
	if (q->timer != NULL)
		event_free(q->timer);
	free(q->host);
	free(q);
}

/* Separates a lookup from its owner: nothing of it reaches the check any more. */
static void resolve_detach(struct resolve_lookup *q)
{
	if (q->owner != NULL)
		q->owner->cur = NULL;
	q->owner = NULL;
	if (q->timer != NULL) {
		event_free(q->timer);
		q->timer = NULL;
	}
}

/* Ends the lookup with evdns's `err`, or with `sa` when err is 0. */
static void resolve_finish(struct resolve_lookup *q, int err, const struct sockaddr *sa,
			   socklen_t salen)
{
	resolve_done_fn done = q->done;
	void *arg = q->arg;
	struct sockaddr_storage ss;
	char addr[INET6_ADDRSTRLEN] = "?";
	char why[512];

	if (err != 0 || sa == NULL || salen > sizeof(ss)) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s", q->host,
			 evutil_gai_strerror(err));
		resolve_detach(q);
		resolve_lookup_free(q);
		done(NULL, 0, NULL, why, arg);
		return;
	}
	/* a copy: sa may live in q, which goes before done() runs */
	memcpy(&ss, sa, salen);
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
	else if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
	log_debug("resolve: %s is %s", q->host, addr);
	resolve_detach(q);
	resolve_lookup_free(q);
	/* last: done() may free the check, or start another lookup on it */
	done((struct sockaddr *)&ss, salen, addr, NULL, arg);
}

static void resolve_answered(int result, struct evutil_addrinfo *res, void *arg)
{
	struct resolve_lookup *q = arg;

	q->req = NULL;
	if (q->owner == NULL) {
		/* cancelled or timed out: this is evdns letting go of the lookup */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		resolve_lookup_free(q);
		return;
	}
	if (q->starting) {
		/* answered inside resolve_start(): delivered on the next turn */
		q->err = result;
		if (result == 0 && res != NULL && res->ai_addrlen <= sizeof(q->ss)) {
			memcpy(&q->ss, res->ai_addr, res->ai_addrlen);
			q->sslen = (socklen_t)res->ai_addrlen;
		}
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	if (result == 0 && res != NULL)
		resolve_finish(q, 0, res->ai_addr, (socklen_t)res->ai_addrlen);
	else
		resolve_finish(q, result, NULL, 0);
	if (res != NULL)
		evutil_freeaddrinfo(res);
}

static void resolve_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolve_lookup *q = arg;
	resolve_done_fn done = q->done;
	void *done_arg = q->arg;
	struct evdns_getaddrinfo_request *req = q->req;
	char why[512];

	if (req == NULL) {
		/* the answer evdns gave inside resolve_start() */
		resolve_finish(q, q->err, q->sslen > 0 ? (struct sockaddr *)&q->ss : NULL,
			       q->sslen);
		return;
	}
	/* Name servers that do not answer must not keep the run from its Result. */
	snprintf(why, sizeof(why), "cannot resolve %s: no answer from the name servers within %g s",
		 q->host, q->timeout_ms / 1000.0);
	resolve_detach(q);
	/* q stays until evdns reports the cancellation (resolve_answered) */
	evdns_getaddrinfo_cancel(req);
	done(NULL, 0, NULL, why, done_arg);
}

void resolve_start(struct resolve *r, struct evdns_base *dns, struct event_base *base,
		   const char *host, const char *port_or_service, int family_hint,
		   unsigned timeout_ms, resolve_done_fn done, void *arg)
{
	struct resolve_lookup *q;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	struct timeval tv = {0, 0};

	resolve_cancel(r);
	q = xcalloc(1, sizeof(*q));
	q->owner = r;
	q->done = done;
	q->arg = arg;
	q->host = xstrdup(host);
	q->timeout_ms = timeout_ms;
	if ((q->timer = evtimer_new(base, resolve_timer_cb, q)) == NULL)
		fatalx("resolve %s: cannot create events", host);
	r->cur = q;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family_hint;
	/* no socktype: only the address is used, and a service name may be TCP's or UDP's */
	q->starting = 1;
	req = evdns_getaddrinfo(dns, host, port_or_service, &hints, resolve_answered, q);
	q->starting = 0;
	if (req != NULL) {
		q->req = req;
		ms_to_timeval(timeout_ms, &tv);
	}
	/* without a request evdns answered at once (hosts file, failure): the
	 * answer waits in q for the next turn, so that done() never runs inside
	 * a kind's run() */
	evtimer_add(q->timer, &tv);
}

void resolve_cancel(struct resolve *r)
{
	struct resolve_lookup *q = r->cur;

	if (q == NULL)
		return;
	resolve_detach(q);
	if (q->req != NULL)
		/* q goes when evdns reports the cancellation (resolve_answered) */
		evdns_getaddrinfo_cancel(q->req);
	else
		resolve_lookup_free(q);
}
