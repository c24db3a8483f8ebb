/*
 * probe_target.c - a connecting probe's address and the time its run has
 * left (see probe_target.h). The lookup goes through resolve.c on the loop.
 */
#include "probe_target.h"

#include <stdio.h>
#include <string.h>

#include <event2/util.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "timeutil.h"

int probe_target_parse(struct probe_target *t, cfg_t *sec, unsigned defport)
{
	const char *address = cfg_getstr(sec, "address");
	const char *why;
	int len = sizeof(t->ss);

	if (conf_split_hostport(address, t->host, sizeof(t->host), &t->port, defport, &why) < 0) {
		conf_section_error(sec, "address \"%s\": %s", address, why);
		return -1;
	}
	snprintf(t->target, sizeof(t->target), strchr(t->host, ':') ? "[%s]:%u" : "%s:%u", t->host,
		 t->port);
	t->numeric = evutil_parse_sockaddr_port(t->target, (struct sockaddr *)&t->ss, &len) == 0;
	t->ss_len = t->numeric ? (socklen_t)len : 0;
	return 0;
}

static void probe_target_resolved(const struct sockaddr *sa, socklen_t salen, const char *addr,
				  const char *why, void *arg)
{
	struct probe_target *t = arg;

	if (sa == NULL) {
		t->fn(t->check, why);
		return;
	}
	snprintf(t->shown, sizeof(t->shown), "%s (%s)", t->target, addr);
	memcpy(&t->ss, sa, salen);
	t->ss_len = salen;
	t->fn(t->check, NULL);
}

void probe_target_start(struct probe_target *t, struct check *c, probe_target_fn fn)
{
	char port[8];

	snprintf(t->shown, sizeof(t->shown), "%s", t->target);
	if (t->numeric) {
		fn(c, NULL);
		return;
	}
	t->check = c;
	t->fn = fn;
	snprintf(port, sizeof(port), "%u", t->port);
	resolve_start(&t->res, c->agent->dns, c->base, t->host, port, AF_UNSPEC, c->timeout_ms,
		      probe_target_resolved, t);
}

void probe_target_cancel(struct probe_target *t)
{
	resolve_cancel(&t->res);
}

void probe_wait(struct check *c, struct event **ev, evutil_socket_t fd, short what,
		event_callback_fn cb)
{
	struct timeval tv;
	uint64_t used = mono_now_ms() - c->run_start_ms;

	if (*ev != NULL)
		event_free(*ev);
	*ev = event_new(c->base, fd, what, cb, c);
	ms_to_timeval(used < c->timeout_ms ? c->timeout_ms - used : 1, &tv);
	event_add(*ev, &tv);
}
