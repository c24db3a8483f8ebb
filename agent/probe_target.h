/*
 * probe_target.h - where a probe that connects somewhere (tcp, dns, tls)
 * goes: its "address" parsed once with FILE:LINE errors, a numeric address
 * kept for good, a name resolved at every run through resolve.h; and the
 * waits of its socket, bounded by what is left of the run's timeout.
 * Never blocks the loop.
 */
#ifndef VAKT_PROBE_TARGET_H
#define VAKT_PROBE_TARGET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include <confuse.h>
#include <event2/event.h>

#include "resolve.h"

struct check;

/* The end of a run's way to the target: why is NULL when t->ss is ready. */
typedef void (*probe_target_fn)(struct check *c, const char *why);

struct probe_target {
	char host[256]; /* without brackets */
	unsigned port;
	char target[300]; /* "host:port" or "[v6]:port", as configured */
	/* the target as reasons name it: with the address a name resolved to */
	char shown[300 + INET6_ADDRSTRLEN + 3];
	struct sockaddr_storage ss; /* the address to connect to */
	socklen_t ss_len;
	int numeric; /* the address is numeric: ss holds it for good */
	/* the run's lookup */
	struct resolve res;
	struct check *check;
	probe_target_fn fn;
};

/*
 * Parses the section's "address" (`defport` when it gives none; 0: a port
 * is required) into t; -1 after reporting what is wrong at FILE:LINE.
 */
int probe_target_parse(struct probe_target *t, cfg_t *sec, unsigned defport);
/*
 * Starts run c's way to the target: fn(c, NULL) at once for a numeric
 * address, after the lookup for a name (t->shown then names the address
 * too); fn(c, why) when the lookup failed. Nothing after probe_target_cancel().
 */
void probe_target_start(struct probe_target *t, struct check *c, probe_target_fn fn);
void probe_target_cancel(struct probe_target *t);

/*
 * (Re)arms *ev for `what` on fd with what is left of run c's timeout (at
 * least 1 ms), calling cb with c as its argument.
 */
void probe_wait(struct check *c, struct event **ev, evutil_socket_t fd, short what,
		event_callback_fn cb);

#endif
