/*
 * snmp_get.c - the GETs of a run: a list of varbinds, each with the cell its
 * answer goes to, sent in GETs of at most max_vb varbinds. An error on one
 * varbind loses that value only; the rest of the request is asked again.
 * Emits the device's own samples (sysUpTime) and never a rate.
 */
#include "snmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conf.h"
#include "timeutil.h"
#include "xmalloc.h"

static const oid csnmp_uptime_oid[] = {1, 3, 6, 1, 2, 1, 1, 3, 0};
const oid csnmp_uptime_col[8] = {1, 3, 6, 1, 2, 1, 1, 3};

void csnmp_missing(struct csnmp_priv *p, const char *what, const char *why)
{
	/* made only when a value is missing: most runs have none */
	if (p->missing == NULL)
		xasprintf(&p->missing, "%s: %s", what, why);
}

void csnmp_missing_clear(struct csnmp_priv *p)
{
	free(p->missing);
	p->missing = NULL;
}

void csnmp_get_begin(struct csnmp_priv *p)
{
	p->phase = CSNMP_PHASE_GET;
	p->nitems = 0;
	p->vb_limit = p->max_vb;
}

void csnmp_get_add(struct csnmp_priv *p, const oid *name, size_t len, struct csnmp_cell *dst,
		   int port, int col)
{
	struct csnmp_item *it;

	if (len > CSNMP_COL_OID_MAX + 1)
		fatalx("snmp: an OID of %zu sub-identifiers to GET", len);
	if (p->nitems == p->capitems) {
		/* most runs GET sysUpTime alone (the ports' columns walked) */
		p->capitems = p->capitems ? 2 * p->capitems : 4;
		p->items = xreallocarray(p->items, p->capitems, sizeof(*p->items));
	}
	it = &p->items[p->nitems++];
	memcpy(it->name, name, len * sizeof(oid));
	it->len = len;
	it->dst = dst;
	it->port = port;
	it->col = col;
	it->state = CSNMP_ITEM_PENDING;
}

/* The device has no value for this varbind (or would not give it). */
static void csnmp_item_lost(struct csnmp_priv *p, struct csnmp_item *it, const char *why,
			    int absent)
{
	char name[CSNMP_OID_STR];

	it->state = CSNMP_ITEM_UNKNOWN;
	csnmp_missing(p, csnmp_oid_str(name, sizeof(name), it->name, it->len), why);
	if (it->port < 0)
		return;
	/* the device says it lacks the column for this port: not asked again
	 * until the table is read again (v1 refuses the whole GET for one) */
	if (absent)
		p->ports[it->port].absent |= 1u << it->col;
	/* ifOperStatus exists for every interface: if it is gone, so is the port */
	if (absent && it->col == CSNMP_V_OPER)
		p->need_table = 1;
}

/* Sends the next GET; 1 if sent, 0 if nothing is left, -1 if it failed. */
int csnmp_get_send(struct csnmp_priv *p)
{
	netsnmp_pdu *pdu;
	size_t lim = p->vb_limit ? p->vb_limit : 1;

	p->nsent = 0;
	for (size_t i = 0; i < p->nitems && p->nsent < lim && p->nsent < CSNMP_VB_MAX; i++)
		if (p->items[i].state == CSNMP_ITEM_PENDING)
			p->sent[p->nsent++] = (uint32_t)i;
	if (p->nsent == 0)
		return 0;
	pdu = csnmp_pdu_new(SNMP_MSG_GET);
	for (size_t i = 0; i < p->nsent; i++)
		csnmp_pdu_add(pdu, p->items[p->sent[i]].name, p->items[p->sent[i]].len);
	return csnmp_send(p, pdu, "GET") < 0 ? -1 : 1;
}

static void csnmp_uptime_seen(struct csnmp_priv *p, uint32_t ticks)
{
	if (p->have_ticks && ticks < p->last_ticks) {
		log_info("snmp \"%s\": %s restarted (sysUpTime %.2f s, was %.2f s)", p->c->name,
			 p->addr, ticks / 100.0, p->last_ticks / 100.0);
		/* ifIndex may have been given out anew, and every counter began again */
		p->rebooted = 1;
		if (p->nsels > 0)
			p->need_table = 1;
	}
	p->last_ticks = ticks;
	p->have_ticks = 1;
}

static void csnmp_item_store(struct csnmp_priv *p, struct csnmp_item *it,
			     const netsnmp_variable_list *vb)
{
	char why[64];

	switch (vb->type) {
	case SNMP_NOSUCHOBJECT:
		csnmp_item_lost(p, it, "noSuchObject", 1);
		return;
	case SNMP_NOSUCHINSTANCE:
		csnmp_item_lost(p, it, "noSuchInstance", 1);
		return;
	case SNMP_ENDOFMIBVIEW:
		csnmp_item_lost(p, it, "endOfMibView", 1);
		return;
	}
	if (!csnmp_cell_set(it->dst, vb)) {
		snprintf(why, sizeof(why), "unexpected type 0x%02x", vb->type);
		csnmp_item_lost(p, it, why, 0);
		return;
	}
	it->state = CSNMP_ITEM_VALUE;
	if (it->dst == &p->uptime && vb->type == ASN_TIMETICKS)
		csnmp_uptime_seen(p, (uint32_t)it->dst->v);
}

/* An error-status for the whole request: find the varbind it is about. */
static int csnmp_get_error(struct csnmp_priv *p, const netsnmp_pdu *resp)
{
	long e = resp->errstat, i = resp->errindex;

	if (e == SNMP_ERR_TOOBIG && p->nsent > 1) {
		p->max_vb = (p->nsent + 1) / 2;
		p->vb_limit = p->max_vb;
		log_debug("snmp \"%s\": %s says tooBig; %zu values per request from now on",
			  p->c->name, p->addr, p->max_vb);
		return 0;
	}
	if (i >= 1 && (size_t)i <= p->nsent) {
		/* SNMPv1 (and the odd v2c agent) refuses the whole PDU for one
		 * varbind, e.g. a Counter64 or a genErr: drop that one, ask the rest again */
		csnmp_item_lost(p, &p->items[p->sent[i - 1]], snmp_errstring(e),
				e == SNMP_ERR_NOSUCHNAME);
		return 0;
	}
	if (p->nsent > 1) {
		/* the error names no varbind: halve the request until one is alone */
		p->vb_limit = p->nsent / 2;
		return 0;
	}
	csnmp_item_lost(p, &p->items[p->sent[0]], snmp_errstring(e), e == SNMP_ERR_NOSUCHNAME);
	return 0;
}

int csnmp_get_response(struct csnmp_priv *p, netsnmp_pdu *resp)
{
	struct csnmp_vbs vbs;
	const netsnmp_variable_list *vb;
	size_t i;
	int more = 0;

	if (resp->errstat != SNMP_ERR_NOERROR)
		return csnmp_get_error(p, resp);
	csnmp_vbs_begin(&vbs, p->rx, p->rxlen, resp);
	for (i = 0; i < p->nsent && (more = csnmp_vbs_next(&vbs, &vb)) > 0; i++) {
		struct csnmp_item *it = &p->items[p->sent[i]];

		if (snmp_oid_compare(vb->name, vb->name_length, it->name, it->len) != 0) {
			char want[CSNMP_OID_STR], got[CSNMP_OID_STR];

			return csnmp_fail(
			    p, OUTCOME_ERROR, "%s answered GET for %s with %s", p->shown,
			    csnmp_oid_str(want, sizeof(want), it->name, it->len),
			    csnmp_oid_str(got, sizeof(got), vb->name, vb->name_length));
		}
		csnmp_item_store(p, it, vb);
	}
	if (more >= 0 && i == p->nsent)
		more = csnmp_vbs_next(&vbs, &vb);
	if (more < 0)
		return csnmp_fail(p, OUTCOME_ERROR, "%s answered GET with %s", p->shown, vbs.why);
	if (i != p->nsent || more > 0)
		return csnmp_fail(p, OUTCOME_ERROR,
				  "%s answered GET for %zu values with a different number",
				  p->shown, p->nsent);
	/* a request that went through: back to full size */
	p->vb_limit = p->max_vb;
	return 0;
}

/* The run's GETs begin with the device's scalars. */
void csnmp_get_scalars(struct csnmp_priv *p)
{
	memset(&p->uptime, 0, sizeof(p->uptime));
	p->uptime_walk = 0;
	csnmp_get_add(p, csnmp_uptime_oid, sizeof(csnmp_uptime_oid) / sizeof(oid), &p->uptime, -1,
		      0);
}

void csnmp_uptime_to_walk(struct csnmp_priv *p)
{
	if (p->version == SNMP_VERSION_1 || p->uptime_by_get || !p->walk_pending ||
	    p->nitems != 1 || p->items[0].dst != &p->uptime)
		return;
	p->nitems = 0;
	p->uptime_walk = 1;
}

int csnmp_uptime_walked(struct csnmp_priv *p, const netsnmp_variable_list *vb)
{
	struct csnmp_item it = {.dst = &p->uptime, .port = -1};
	char got[CSNMP_OID_STR];

	p->uptime_walk = 0;
	if (snmp_oid_compare(vb->name, vb->name_length, csnmp_uptime_oid,
			     sizeof(csnmp_uptime_oid) / sizeof(oid)) != 0) {
		log_info("snmp \"%s\": %s answered sysUpTime in a GETBULK with %s; asked by a GET "
			 "of its own from the next poll on",
			 p->c->name, p->addr,
			 csnmp_oid_str(got, sizeof(got), vb->name, vb->name_length));
		p->uptime_by_get = 1;
		csnmp_missing(p, "sysUpTime", "not the first value of the GETBULK's answer");
		return -1;
	}
	memcpy(it.name, csnmp_uptime_oid, sizeof(csnmp_uptime_oid));
	it.len = sizeof(csnmp_uptime_oid) / sizeof(oid);
	csnmp_item_store(p, &it, vb);
	return 0;
}

void csnmp_emit(struct csnmp_priv *p)
{
	int unk = p->uptime.type != ASN_TIMETICKS;

	p->unknown = 0;
	p->nvalues = 1;
	if (unk) {
		p->unknown++;
		csnmp_missing(p, "sysUpTime", "no value");
	}
	/* files <host>/system.rrd and <host>/if-<interface>.rrd, as a device
	 * is browsed: the host is the device, its parts are the checks */
	check_emit_as(p->c, "system", "", "uptime", SAMPLE_GAUGE, unk ? 0.0 : p->uptime.v / 100.0,
		      0, unk);
	csnmp_if_emit(p);
	if (p->unknown > 0)
		log_complain(&p->c_missing, CSNMP_MISSING_COMPLAIN_S,
			     "snmp \"%s\": %u value(s) unknown on %s, e.g. %s", p->c->name,
			     p->unknown, p->addr, p->missing ? p->missing : "?");
	else
		log_complain_clear(&p->c_missing, "snmp \"%s\": all values available again on %s",
				   p->c->name, p->addr);
}
