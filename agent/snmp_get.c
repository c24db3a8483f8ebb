/*
 * snmp_get.c - the values of a run: sysUpTime and per-interface octets and
 * oper status, fetched in GETs of at most CSNMP_VB_MAX varbinds (halved on
 * tooBig), and emitted as raw counters, never rates.
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

/*
 * The octet counters are sent as DERIVE, not COUNTER: ifHC* are 64-bit and
 * never wrap in practice, but they do reset to 0 when the device reboots.
 * rrdtool treats a decrease of a COUNTER as a wrap and records a huge spike;
 * a DERIVE with min 0 turns the reset into one unknown value instead.
 */
static const struct csnmp_metric_def {
	const char *name;
	enum sample_kind kind;
	oid base[11];
	size_t len; /* sysUpTime: the whole OID; others: the column */
} csnmp_metrics[] = {
    [CSNMP_M_UPTIME] = {"uptime", SAMPLE_GAUGE, {1, 3, 6, 1, 2, 1, 1, 3, 0}, 9},
    [CSNMP_M_IN] = {"in_octets", SAMPLE_DERIVE, {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6}, 11},
    [CSNMP_M_OUT] = {"out_octets", SAMPLE_DERIVE, {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10}, 11},
    [CSNMP_M_OPER] = {"oper_status", SAMPLE_GAUGE, {1, 3, 6, 1, 2, 1, 2, 2, 1, 8}, 10},
};

static void csnmp_item_missing(struct csnmp_priv *p, struct csnmp_item *it, const char *why,
			       int gone)
{
	it->state = CSNMP_ITEM_UNKNOWN;
	if (p->miss_oid[0] == '\0') {
		csnmp_oid_str(p->miss_oid, sizeof(p->miss_oid), it->name, it->len);
		snprintf(p->miss_why, sizeof(p->miss_why), "%s", why);
	}
	/* ifOperStatus exists for every interface: if it is gone, the name moved */
	if (gone && it->m == CSNMP_M_OPER && it->ifi >= 0 && !p->ifs[it->ifi].numeric)
		p->need_resolve = 1;
}

void csnmp_get_begin(struct csnmp_priv *p)
{
	static const enum csnmp_metric per_if[] = {CSNMP_M_IN, CSNMP_M_OUT, CSNMP_M_OPER};
	const struct csnmp_metric_def *d = &csnmp_metrics[CSNMP_M_UPTIME];
	struct csnmp_item *it = &p->items[0];

	p->phase = CSNMP_PHASE_GET;
	p->miss_oid[0] = '\0';
	p->miss_why[0] = '\0';
	memset(it, 0, sizeof(*it));
	memcpy(it->name, d->base, d->len * sizeof(oid));
	it->len = d->len;
	it->ifi = -1;
	it->m = CSNMP_M_UPTIME;
	p->nitems = 1;
	for (size_t i = 0; i < p->nifs; i++) {
		if (p->ifs[i].ifindex == 0)
			continue;
		for (size_t k = 0; k < 3; k++) {
			d = &csnmp_metrics[per_if[k]];
			it = &p->items[p->nitems++];
			memset(it, 0, sizeof(*it));
			memcpy(it->name, d->base, d->len * sizeof(oid));
			it->name[d->len] = p->ifs[i].ifindex;
			it->len = d->len + 1;
			it->ifi = (int)i;
			it->m = per_if[k];
			/* v1 has no Counter64: once refused, not asked again until a reboot */
			if (p->ifs[i].refused & (1u << per_if[k]))
				csnmp_item_missing(p, it, "noSuchName earlier", 0);
		}
	}
}

/* Sends the next GET; 1 if sent, 0 if nothing is left, -1 if it failed. */
int csnmp_get_send(struct csnmp_priv *p)
{
	netsnmp_pdu *pdu;

	p->nsent = 0;
	for (size_t i = 0; i < p->nitems && p->nsent < p->max_vb; i++)
		if (p->items[i].state == CSNMP_ITEM_PENDING)
			p->sent[p->nsent++] = i;
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
		for (size_t i = 0; i < p->nifs; i++)
			p->ifs[i].refused = 0;
		if (p->nnames > 0)
			p->need_resolve = 1;
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
		csnmp_item_missing(p, it, "noSuchObject", 1);
		return;
	case SNMP_NOSUCHINSTANCE:
		csnmp_item_missing(p, it, "noSuchInstance", 1);
		return;
	case SNMP_ENDOFMIBVIEW:
		csnmp_item_missing(p, it, "endOfMibView", 1);
		return;
	}
	switch (it->m) {
	case CSNMP_M_UPTIME:
		if (vb->type != ASN_TIMETICKS || vb->val.integer == NULL)
			break;
		it->counter = (uint32_t)*vb->val.integer;
		it->value = it->counter / 100.0;
		it->state = CSNMP_ITEM_VALUE;
		csnmp_uptime_seen(p, (uint32_t)it->counter);
		return;
	case CSNMP_M_IN:
	case CSNMP_M_OUT:
		if (vb->type == ASN_COUNTER64 && vb->val.counter64 != NULL) {
			it->counter = (uint64_t)vb->val.counter64->high << 32 |
				      (uint32_t)vb->val.counter64->low;
		} else if (vb->type == ASN_COUNTER && vb->val.integer != NULL) {
			/* a 32-bit answer from a broken agent: its wrap is one unknown too */
			it->counter = (uint32_t)*vb->val.integer;
		} else {
			break;
		}
		it->state = CSNMP_ITEM_VALUE;
		return;
	case CSNMP_M_OPER:
		if (vb->type != ASN_INTEGER || vb->val.integer == NULL)
			break;
		it->value = (double)*vb->val.integer;
		it->state = CSNMP_ITEM_VALUE;
		return;
	}
	snprintf(why, sizeof(why), "unexpected type 0x%02x", vb->type);
	csnmp_item_missing(p, it, why, 0);
}

int csnmp_get_response(struct csnmp_priv *p, netsnmp_pdu *resp)
{
	netsnmp_variable_list *vb = resp->variables;
	size_t i;

	if (resp->errstat == SNMP_ERR_TOOBIG && p->max_vb > 1) {
		p->max_vb = (p->max_vb + 1) / 2;
		log_debug("snmp \"%s\": %s says tooBig; %zu values per request from now on",
			  p->c->name, p->addr, p->max_vb);
		return 0;
	}
	if (resp->errstat == SNMP_ERR_NOSUCHNAME && resp->errindex >= 1 &&
	    (size_t)resp->errindex <= p->nsent) {
		/*
		 * SNMPv1 (and the odd v2c agent) refuses the whole PDU for one
		 * missing OID, e.g. a Counter64: drop that one, ask the rest again.
		 */
		struct csnmp_item *it = &p->items[p->sent[resp->errindex - 1]];

		csnmp_item_missing(p, it, "noSuchName", 1);
		if (it->ifi >= 0 && it->m != CSNMP_M_OPER)
			p->ifs[it->ifi].refused |= 1u << it->m;
		return 0;
	}
	if (resp->errstat != SNMP_ERR_NOERROR)
		return csnmp_fail(p, OUTCOME_ERROR,
				  "%s answered GET with error-status %s (varbind %ld)", p->shown,
				  snmp_errstring(resp->errstat), resp->errindex);
	for (i = 0; i < p->nsent && vb != NULL; i++, vb = vb->next_variable) {
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
	if (i != p->nsent || vb != NULL)
		return csnmp_fail(p, OUTCOME_ERROR,
				  "%s answered GET for %zu values with a different number",
				  p->shown, p->nsent);
	return 0;
}

void csnmp_emit(struct csnmp_priv *p)
{
	p->unknown = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const struct csnmp_item *it = &p->items[i];
		const struct csnmp_metric_def *d = &csnmp_metrics[it->m];
		int unk = it->state != CSNMP_ITEM_VALUE;

		p->unknown += unk;
		/* files <host>/system.rrd and <host>/if-<interface>.rrd, as a device
		 * is browsed: the host is the device, its parts are the checks */
		check_emit_as(p->c, it->ifi < 0 ? "system" : "if",
			      it->ifi < 0 ? "" : p->ifs[it->ifi].cfg, d->name, d->kind,
			      d->kind == SAMPLE_GAUGE ? it->value : 0.0,
			      d->kind == SAMPLE_GAUGE ? 0 : it->counter, unk);
	}
	/* every configured interface reports too: a name the device lacks is not silent */
	for (size_t i = 0; i < p->nifs; i++) {
		const struct csnmp_if *ifc = &p->ifs[i];

		if (ifc->ifindex == 0)
			check_result_as(p->c, "if", ifc->cfg, OUTCOME_ERROR,
					"%s has no interface \"%s\" (no ifName or ifDescr matches)",
					p->shown, ifc->cfg);
		else
			check_result_as(p->c, "if", ifc->cfg, OUTCOME_OK, NULL);
	}
	if (p->unknown > 0)
		log_complain(&p->c_missing, CSNMP_MISSING_COMPLAIN_S,
			     "snmp \"%s\": %u value(s) unknown on %s, e.g. %s: %s", p->c->name,
			     p->unknown, p->addr, p->miss_oid, p->miss_why);
	else
		log_complain_clear(&p->c_missing, "snmp \"%s\": all values available again on %s",
				   p->c->name, p->addr);
}
