/*
 * accept_pause.c - pausing the listeners when accept() runs out of
 * descriptors (see accept_pause.h). libevent calls the error callback and
 * keeps the listener armed, so without a pause a full descriptor table
 * makes the loop spin on a socket that stays readable.
 */
#include "accept_pause.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

#define ACCEPT_RETRY_FIRST 1.0  /* seconds */
#define ACCEPT_RETRY_MAX   16.0 /* seconds */

struct accept_pause {
	struct event *retry;
	int paused;
	double since, delay;
	unsigned long failures;
	struct complaint other;
};

static void set_listening(struct collector *c, int on)
{
	for (size_t i = 0; i < c->nlisteners; i++)
		if (on)
			evconnlistener_enable(c->listeners[i]);
		else
			evconnlistener_disable(c->listeners[i]);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;

	/* the next accept() tells: a connection ends the pause, a failure prolongs it */
	set_listening(c, 1);
}

void accept_pause_init(struct collector *c)
{
	struct accept_pause *p = xcalloc(1, sizeof(*p));

	p->retry = evtimer_new(c->base, retry_cb, c);
	if (p->retry == NULL)
		fatalx("listener: cannot make the accept retry timer");
	c->accept_pause = p;
}

void accept_pause_free(struct collector *c)
{
	if (c->accept_pause == NULL)
		return;
	event_free(c->accept_pause->retry);
	free(c->accept_pause);
	c->accept_pause = NULL;
}

void accept_pause_error(struct evconnlistener *l, void *arg)
{
	struct collector *c = arg;
	struct accept_pause *p = c->accept_pause;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv;

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_complain(&p->other, 60, "listener: accept: %s", strerror(err));
		return;
	}
	p->failures++;
	set_listening(c, 0);
	if (!p->paused) {
		p->paused = 1;
		p->since = mono_now();
		p->delay = ACCEPT_RETRY_FIRST;
		log_warnx("listener: accept: %s with %zu sessions open: not accepting, trying "
			  "again in %.0f s, then less often",
			  strerror(err), c->nsessions, p->delay);
	} else if (p->delay < ACCEPT_RETRY_MAX) {
		p->delay *= 2;
	}
	ms_to_timeval((uint64_t)(p->delay * 1000), &tv);
	evtimer_add(p->retry, &tv);
}

void accept_pause_accepted(struct collector *c)
{
	struct accept_pause *p = c->accept_pause;

	if (p == NULL || !p->paused)
		return;
	log_info("listener: accepting again after %.0f s and %lu failed accepts (%zu sessions "
		 "open)",
		 mono_now() - p->since, p->failures, c->nsessions);
	p->paused = 0;
	p->failures = 0;
	evtimer_del(p->retry);
}
