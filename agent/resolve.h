/*
 * resolve.h - a check run's host name lookup: through evdns on the agent's
 * loop, bounded by the run's timeout, ending in an address or in the reason
 * the run's ERROR Result carries. Never blocks, never calls back after
 * resolve_cancel().
 */
#ifndef VAKT_RESOLVE_H
#define VAKT_RESOLVE_H

#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>

struct resolve_lookup;

/* One per check, inside its priv; all zeros is idle. */
struct resolve {
	struct resolve_lookup *cur; /* the lookup in progress, or NULL */
};

/*
 * The end of a lookup. On success `sa` (salen bytes, port set from
 * port_or_service) is the first address and `addr` its text ("192.0.2.7",
 * "2001:db8::7"); `why` is NULL. On failure `sa` and `addr` are NULL and
 * `why` is the whole reason: "cannot resolve sw1.rissa: <evdns error>" or
 * "cannot resolve sw1.rissa: no answer from the name servers within 2 s".
 * All of them live only during the call. `r` may be started again or its
 * owner freed inside.
 */
typedef void (*resolve_done_fn)(const struct sockaddr *sa, socklen_t salen, const char *addr,
				const char *why, void *arg);

/*
 * Looks `host` up (family_hint: AF_UNSPEC, AF_INET or AF_INET6); `done` runs
 * exactly once, on a later turn of the loop (never inside this call), unless
 * resolve_cancel() comes first. A lookup still in progress on `r` is
 * cancelled. port_or_service may be NULL (port 0).
 */
void resolve_start(struct resolve *r, struct evdns_base *dns, struct event_base *base,
		   const char *host, const char *port_or_service, int family_hint,
		   unsigned timeout_ms, resolve_done_fn done, void *arg);
/*
 * Abandons the lookup in progress, if any: `done` will not run, and `r` and
 * its owner may be freed right after. Safe at any time, also twice, from a
 * kind's stop() and at shutdown. What evdns still holds is freed when its
 * cancellation reaches the loop: run the loop once more before freeing the
 * evdns base.
 */
void resolve_cancel(struct resolve *r);

#endif
