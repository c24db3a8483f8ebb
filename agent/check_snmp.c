/*
 * check_snmp.c - the "snmp" check kind: polls sysUpTime and the device's
 * interfaces over SNMPv1/v2c/v3 and ends every run in one Result. This file is
 * the run's state machine; the section, the session, the table walker, the
 * interfaces and the GETs live in snmp_*.c. It never blocks the
 * loop (a device name resolves through evdns) and never sends rates.
 */
#include "snmp.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "timeutil.h"
#include "xmalloc.h"

static void csnmp_next(struct csnmp_priv *p);

/*
 * A reason longer than the wire keeps is cut, not refused. It is allocated
 * when a run has one: most runs of most devices have none.
 */
static void csnmp_vreason(struct csnmp_priv *p, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void csnmp_vreason(struct csnmp_priv *p, const char *fmt, va_list ap)
{
	char buf[SAMPLE_REASON_MAX + 1];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	free(p->reason);
	p->reason = xstrdup(buf);
}

static void csnmp_reason(struct csnmp_priv *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void csnmp_reason(struct csnmp_priv *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	csnmp_vreason(p, fmt, ap);
	va_end(ap);
}

int csnmp_fail(struct csnmp_priv *p, enum outcome o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	csnmp_vreason(p, fmt, ap);
	va_end(ap);
	/*
	 * A timeout among the host, UPS and custom values: the interfaces and
	 * sysUpTime are all in, and stored; of the values after them only what
	 * is whole (csnmp_data_emit). The run stays a timeout: the device did
	 * not answer all it was asked.
	 */
	if (o == OUTCOME_TIMEOUT && p->phase == CSNMP_PHASE_DATA) {
		csnmp_emit(p);
		csnmp_data_emit(p);
		log_debug("snmp \"%s\": the %u value(s) %s answered before the timeout are stored",
			  p->c->name, p->nvalues, p->addr);
	}
	/* logged by check_done at the transition, not at every failed run */
	log_debug("snmp \"%s\": %s after %" PRIu64 " ms, %u request(s): %s", p->c->name,
		  outcome_str(o), mono_now_ms() - p->start_ms, p->nreq, p->reason);
	p->phase = CSNMP_PHASE_IDLE;
	p->outcome = o;
	p->finished = 1;
	csnmp_run_free(p);
	return -1;
}

/*
 * 1 and why in `why` when `interfaces` ("all" or a pattern) chose no port
 * of the device at the last read of its table; 0 when it chose some, or
 * when the section names its ports only (each missing one is an error of
 * its own). A device whose table lists nothing is not silent.
 */
static int csnmp_none_chosen(const struct csnmp_priv *p, char *why, size_t size)
{
	int broad = 0;

	for (size_t i = 0; i < p->nsels; i++)
		if (p->sels[i].kind == CSNMP_SEL_ALL || p->sels[i].kind == CSNMP_SEL_GLOB)
			broad = 1;
	if (!broad || p->nports > 0 || p->table_at < 0)
		return 0;
	if (p->iftable_rows == 0)
		snprintf(why, size,
			 "%s lists no interface (its ifDescr and ifName columns are empty)",
			 p->shown);
	else
		snprintf(why, size,
			 "none of the %zu interfaces %s lists is chosen by interfaces, if_types "
			 "and exclude",
			 p->iftable_rows, p->shown);
	return 1;
}

static void csnmp_succeed(struct csnmp_priv *p)
{
	char none[SAMPLE_REASON_MAX + 1];
	int no_port = csnmp_none_chosen(p, none, sizeof(none));

	log_debug("snmp \"%s\": ok after %" PRIu64 " ms, %u request(s)", p->c->name,
		  mono_now_ms() - p->start_ms, p->nreq);
	/* the device answered: values it lacks make the run partial, not failed */
	if (no_port && p->unknown > 0)
		csnmp_reason(p,
			     "partial: no interface polled: %s; %u of %u values unknown, e.g. %s",
			     none, p->unknown, p->nvalues, p->missing ? p->missing : "?");
	else if (no_port)
		csnmp_reason(p, "partial: no interface polled: %s", none);
	else if (p->unknown > 0)
		csnmp_reason(p, "partial: %u of %u values unknown on %s, e.g. %s", p->unknown,
			     p->nvalues, p->shown, p->missing ? p->missing : "?");
	else {
		free(p->reason);
		p->reason = NULL;
	}
	p->phase = CSNMP_PHASE_IDLE;
	p->outcome = OUTCOME_OK;
	p->finished = 1;
	csnmp_run_free(p);
}

static void csnmp_begin(struct csnmp_priv *p)
{
	p->nreq = 0;
	p->nanswered = 0;
	p->unknown = 0;
	p->nvalues = 0;
	p->table_run = 0;
	p->rebooted = 0;
	p->values_asked = 0;
	p->walk_pending = 0;
	p->bulk_sent = 0;
	csnmp_missing_clear(p);
	csnmp_reps_climb(p);
	p->start_ms = mono_now_ms();
	if (p->sessp == NULL) {
		csnmp_fail(p, OUTCOME_ERROR, "no SNMP session to %s", p->shown);
		return;
	}
	log_debug("snmp \"%s\": polling %s", p->c->name, p->addr);
	/* the scalars first: a reboot they show means the table is read again */
	csnmp_get_begin(p);
	csnmp_get_scalars(p);
	if (!csnmp_if_table_due(p) && csnmp_if_values_begin(p))
		csnmp_uptime_to_walk(p);
	csnmp_next(p);
}

/*
 * Says once (then as a count) when a run needs more requests than its
 * interval allows a device that answers each one just within the timeout.
 */
static void csnmp_budget(struct csnmp_priv *p)
{
	uint64_t worst = (uint64_t)p->nreq * p->c->timeout_ms * (uint64_t)(p->retries + 1);

	if (worst >= (uint64_t)p->c->interval * 1000)
		log_complain(&p->c_budget, CSNMP_MISSING_COMPLAIN_S,
			     "snmp \"%s\": a poll of %s takes %u requests; at timeout %u ms x "
			     "%d tries each a slow device could need %.1f s, more than the "
			     "interval (%u s)",
			     p->c->name, p->addr, p->nreq, p->c->timeout_ms, p->retries + 1,
			     worst / 1000.0, p->c->interval);
}

/* Sends the run's next request, or ends the run: the order of its phases. */
static void csnmp_next(struct csnmp_priv *p)
{
	for (;;) {
		int r;

		switch (p->phase) {
		case CSNMP_PHASE_GET:
			r = csnmp_get_send(p);
			break;
		case CSNMP_PHASE_TABLE:
			r = csnmp_table_send(p, &p->iftable);
			break;
		case CSNMP_PHASE_VALUES:
			r = csnmp_table_send(p, &p->ifvalues);
			break;
		case CSNMP_PHASE_DATA:
			r = csnmp_data_send(p);
			break;
		default:
			return;
		}
		if (r != 0)
			return; /* sent, or the run has failed */
		/* the phase is complete */
		if (p->phase == CSNMP_PHASE_TABLE)
			csnmp_if_table_commit(p);
		else if (p->phase == CSNMP_PHASE_VALUES)
			csnmp_if_values_commit(p);
		/* at most once a run: after a reboot, a vanished port, or when due */
		if (csnmp_if_table_due(p)) {
			log_debug("snmp \"%s\": reading the interface table of %s", p->c->name,
				  p->addr);
			csnmp_if_table_begin(p);
			continue;
		}
		if (!p->values_asked) {
			csnmp_get_begin(p);
			csnmp_if_values_begin(p);
			continue;
		}
		if (p->walk_pending) {
			csnmp_if_values_walk(p);
			continue;
		}
		/* then the host, UPS and custom values (it sets the phase DATA) */
		if (p->phase != CSNMP_PHASE_DATA && (r = csnmp_data_send(p)) != 0)
			return;
		break;
	}
	csnmp_emit(p);
	csnmp_data_emit(p);
	csnmp_budget(p);
	csnmp_succeed(p);
}

/* What the request in flight asks, for a reason: its phase says. */
static const char *csnmp_asked(const struct csnmp_priv *p)
{
	switch (p->phase) {
	case CSNMP_PHASE_TABLE:
		return p->iftable.what;
	case CSNMP_PHASE_VALUES:
		return p->ifvalues.what;
	case CSNMP_PHASE_DATA:
		return "host, UPS or oid values";
	default:
		return "GET";
	}
}

/* The one place the run changes state: consumes what the last event left. */
static void csnmp_advance(struct csnmp_priv *p)
{
	enum csnmp_got got = p->got;
	netsnmp_pdu *resp = p->resp;
	int r;

	p->got = CSNMP_GOT_NONE;
	p->resp = NULL;
	switch (got) {
	case CSNMP_GOT_NONE:
		return;
	case CSNMP_GOT_START:
		csnmp_begin(p);
		return;
	case CSNMP_GOT_TIMEOUT:
		/* a slow device whose large answers take too long: ask fewer rows */
		if (p->nanswered > 0 && p->bulk_sent > 0)
			csnmp_reps_timed_out(p, p->bulk_sent);
		/* a device that answered this run's first requests is there, and
		 * its community right: this one was too much for it */
		if (p->nanswered > 0 && p->retries > 0)
			csnmp_fail(
			    p, OUTCOME_TIMEOUT,
			    "no answer from %s within %g s (%d tries) to request %u of this "
			    "run (%s), though it answered the %u before it: too slow for it? "
			    "(a longer timeout, a smaller max_repetitions)",
			    p->shown, p->c->timeout_ms / 1000.0, p->retries + 1, p->nreq,
			    csnmp_asked(p), p->nanswered);
		else if (p->nanswered > 0)
			csnmp_fail(
			    p, OUTCOME_TIMEOUT,
			    "no answer from %s within %g s to request %u of this run (%s), "
			    "though it answered the %u before it: too slow for it? (a longer "
			    "timeout, a smaller max_repetitions)",
			    p->shown, p->c->timeout_ms / 1000.0, p->nreq, csnmp_asked(p),
			    p->nanswered);
		/* snmpd drops a request with a wrong community without a word */
		else if (p->retries > 0)
			csnmp_fail(p, OUTCOME_TIMEOUT,
				   "no answer from %s within %g s (%d tries; wrong community or "
				   "device down?)",
				   p->shown, p->c->timeout_ms / 1000.0, p->retries + 1);
		else
			csnmp_fail(p, OUTCOME_TIMEOUT,
				   "no answer from %s within %g s (wrong community or device "
				   "down?)",
				   p->shown, p->c->timeout_ms / 1000.0);
		return;
	case CSNMP_GOT_FAILED:
		if (p->failed_op < 0)
			csnmp_fail(p, OUTCOME_ERROR, "request to %s failed (net-snmp op %d)",
				   p->shown, -p->failed_op);
		else
			csnmp_fail(p, OUTCOME_ERROR, "%s sent an unexpected PDU (type 0x%02x)",
				   p->shown, p->failed_op);
		return;
	case CSNMP_GOT_RESPONSE:
		break;
	}
	p->bulk_sent = 0;
	if (p->phase == CSNMP_PHASE_TABLE)
		r = csnmp_table_response(p, &p->iftable, resp);
	else if (p->phase == CSNMP_PHASE_VALUES)
		r = csnmp_table_response(p, &p->ifvalues, resp);
	else if (p->phase == CSNMP_PHASE_GET)
		r = csnmp_get_response(p, resp);
	else if (p->phase == CSNMP_PHASE_DATA)
		r = csnmp_data_response(p, resp);
	else
		r = -1;
	snmp_free_pdu(resp);
	free(p->rx);
	p->rx = NULL;
	if (r == 0)
		csnmp_next(p);
}

/* After every event: advance, re-arm net-snmp's timer, end the run if done. */
void csnmp_after_event(struct csnmp_priv *p)
{
	char *reason;

	csnmp_advance(p);
	csnmp_rearm(p);
	if (!p->finished)
		return;
	p->finished = 0;
	/* last: the check may be freed inside (the reason is the run's, freed after) */
	reason = p->reason;
	p->reason = NULL;
	check_done(p->c, p->outcome, reason ? "%s" : NULL, reason);
	free(reason);
}

/* Starts the poll on the next loop turn, so that no Result is sent inside run(). */
static void csnmp_kick_run(struct check *c)
{
	struct csnmp_priv *p = c->priv;

	if (p->phase != CSNMP_PHASE_IDLE || p->got != CSNMP_GOT_NONE) {
		log_warnx("snmp \"%s\": run while the previous run is busy; ignored", c->name);
		return;
	}
	p->got = CSNMP_GOT_START;
	csnmp_kick(p);
}

/* Opens the session when the address is known (a name waits for its run). */
static int csnmp_start(struct check *c)
{
	struct csnmp_priv *p = c->priv;

	if (p == NULL)
		return check_start_error(c, "not configured");
	if (p->sessp != NULL || p->peername == NULL)
		return 0;
	return csnmp_session_open(p);
}

static void csnmp_resolved(const struct sockaddr *sa, socklen_t salen, const char *addr,
			   const char *why, void *arg)
{
	struct check *c = arg;
	struct csnmp_priv *p = c->priv;

	if (sa == NULL) {
		check_done(c, OUTCOME_ERROR, "%s", why);
		return;
	}
	if (sa->sa_family == AF_INET6)
		xasprintf(&p->peername, "udp6:[%s]:%u", addr, p->port);
	else
		xasprintf(&p->peername, "udp:%s:%u", addr, p->port);
	free(p->shown);
	xasprintf(&p->shown, "%s (%s)", p->target, addr);
	log_debug("snmp \"%s\": %s is %s", c->name, p->host, p->peername);
	if (csnmp_session_open(p) < 0) {
		/* try the name again at the next run */
		free(p->peername);
		p->peername = NULL;
		check_done(c, OUTCOME_ERROR, "%s", c->start_error);
		return;
	}
	csnmp_kick_run(c);
}

static void csnmp_run(struct check *c)
{
	struct csnmp_priv *p = c->priv;

	if (p->sessp == NULL && p->peername == NULL) {
		/* a device name: resolve it on the loop, then open the session */
		resolve_start(&p->res, c->agent->dns, c->base, p->host, NULL, AF_UNSPEC,
			      c->timeout_ms, csnmp_resolved, c);
		return;
	}
	/* no session yet (opening failed before): try again now */
	if (p->sessp == NULL && csnmp_session_open(p) < 0) {
		check_done(c, OUTCOME_ERROR, "%s", c->start_error);
		return;
	}
	csnmp_kick_run(c);
}

static void csnmp_stop(struct check *c)
{
	struct csnmp_priv *p = c->priv;

	if (p == NULL)
		return;
	p->closing = 1;
	resolve_cancel(&p->res);
	csnmp_session_close(p);
	csnmp_priv_free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_snmp = {
    .name = "snmp",
    .section = "snmp",
    .one_per_host = 1,
    .result_check = "system",
    .opts = csnmp_opts,
    .init = csnmp_shared_init, /* the library, the request slots: before any session */
    .parse_config = csnmp_parse_config,
    .start = csnmp_start,
    .run = csnmp_run,
    .stop = csnmp_stop,
    .fini = csnmp_shared_fini,
};
