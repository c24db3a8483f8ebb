/*
 * snmp_walk.c - turns configured interface names into ifIndex values by
 * walking ifName, then ifDescr (GETBULK, or GETNEXT on v1). Bounded in rows
 * and guarded against agents that answer out of order.
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

/* Columns walked, in order, to turn interface names into ifIndex values. */
static const struct csnmp_column {
	const char *name;
	oid base[11];
	size_t len;
} csnmp_columns[] = {
    {"ifName", {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1}, 11},
    {"ifDescr", {1, 3, 6, 1, 2, 1, 2, 2, 1, 2}, 10},
};
#define CSNMP_NCOLUMNS (sizeof(csnmp_columns) / sizeof(csnmp_columns[0]))

int csnmp_names_unresolved(const struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++)
		if (!p->ifs[i].numeric && p->ifs[i].ifindex == 0)
			return 1;
	return 0;
}

static int csnmp_walk_all_found(const struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++)
		if (!p->ifs[i].numeric && p->ifs[i].found == 0)
			return 0;
	return 1;
}

static void csnmp_walk_column(struct csnmp_priv *p, size_t col)
{
	p->walk_col = col;
	memcpy(p->walk_oid, csnmp_columns[col].base, csnmp_columns[col].len * sizeof(oid));
	p->walk_len = csnmp_columns[col].len;
	p->walk_rows = 0;
}

void csnmp_walk_begin(struct csnmp_priv *p)
{
	p->phase = CSNMP_PHASE_WALK;
	p->walked_run = 1;
	p->walk_done = 0;
	for (size_t i = 0; i < p->nifs; i++) {
		p->ifs[i].found = 0;
		p->ifs[i].found_in = NULL;
	}
	csnmp_walk_column(p, 0);
}

void csnmp_walk_send(struct csnmp_priv *p)
{
	netsnmp_pdu *pdu;

	if (p->version == SNMP_VERSION_1) {
		pdu = csnmp_pdu_new(SNMP_MSG_GETNEXT);
	} else {
		pdu = csnmp_pdu_new(SNMP_MSG_GETBULK);
		pdu->non_repeaters = 0;
		pdu->max_repetitions = CSNMP_BULK_REPS;
	}
	csnmp_pdu_add(pdu, p->walk_oid, p->walk_len);
	csnmp_send(p, pdu, csnmp_columns[p->walk_col].name);
}

static void csnmp_walk_match(struct csnmp_priv *p, unsigned long ifindex,
			     const netsnmp_variable_list *vb)
{
	size_t len = vb->val_len;

	if (vb->type != ASN_OCTET_STR || vb->val.string == NULL || ifindex < 1 ||
	    ifindex > 2147483647UL)
		return;
	/* some agents count a trailing NUL in a DisplayString */
	while (len > 0 && vb->val.string[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < p->nifs; i++) {
		struct csnmp_if *ifc = &p->ifs[i];

		if (ifc->numeric || ifc->found != 0)
			continue;
		if (strlen(ifc->cfg) == len && memcmp(ifc->cfg, vb->val.string, len) == 0) {
			ifc->found = ifindex;
			ifc->found_in = csnmp_columns[p->walk_col].name;
		}
	}
}

int csnmp_walk_response(struct csnmp_priv *p, netsnmp_pdu *resp)
{
	const struct csnmp_column *col = &csnmp_columns[p->walk_col];
	int end = 0, rows = 0;

	if (resp->errstat != SNMP_ERR_NOERROR) {
		/* SNMPv1 says "end of the MIB view" with noSuchName */
		if (p->version != SNMP_VERSION_1 || resp->errstat != SNMP_ERR_NOSUCHNAME)
			return csnmp_fail(p, OUTCOME_ERROR,
					  "%s answered the %s walk with error-status %s", p->shown,
					  col->name, snmp_errstring(resp->errstat));
		end = 1;
	}
	for (netsnmp_variable_list *vb = resp->variables; vb && !end; vb = vb->next_variable) {
		if (vb->type == SNMP_ENDOFMIBVIEW || vb->type == SNMP_NOSUCHOBJECT ||
		    vb->type == SNMP_NOSUCHINSTANCE || vb->name_length != col->len + 1 ||
		    snmp_oid_ncompare(vb->name, vb->name_length, col->base, col->len, col->len) !=
			0) {
			end = 1;
			break;
		}
		/* a broken agent could send us round in circles */
		if (snmp_oid_compare(vb->name, vb->name_length, p->walk_oid, p->walk_len) <= 0) {
			log_warnx("snmp \"%s\": %s returned %s rows out of order; walk stopped",
				  p->c->name, p->addr, col->name);
			end = 1;
			break;
		}
		memcpy(p->walk_oid, vb->name, vb->name_length * sizeof(oid));
		p->walk_len = vb->name_length;
		csnmp_walk_match(p, vb->name[col->len], vb);
		rows++;
		if (++p->walk_rows >= CSNMP_WALK_ROWS_MAX) {
			log_warnx("snmp \"%s\": %s walk on %s stopped after %d rows", p->c->name,
				  col->name, p->addr, CSNMP_WALK_ROWS_MAX);
			end = 1;
		}
	}
	if (rows == 0)
		end = 1;
	if (csnmp_walk_all_found(p))
		p->walk_done = 1;
	else if (end && p->walk_col + 1 < CSNMP_NCOLUMNS)
		csnmp_walk_column(p, p->walk_col + 1);
	else if (end)
		p->walk_done = 1;
	return 0;
}

/* The walk is complete: its result replaces the previous mapping. */
void csnmp_walk_commit(struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++) {
		struct csnmp_if *ifc = &p->ifs[i];

		if (ifc->numeric)
			continue;
		if (ifc->found == 0) {
			if (!ifc->missing_logged)
				log_warnx("snmp \"%s\": interface \"%s\" not found on %s",
					  p->c->name, ifc->cfg, p->addr);
			ifc->missing_logged = 1;
		} else if (ifc->ifindex != 0 && ifc->ifindex != ifc->found) {
			log_info(
			    "snmp \"%s\": interface \"%s\" on %s moved from ifIndex %lu to %lu",
			    p->c->name, ifc->cfg, p->addr, ifc->ifindex, ifc->found);
		} else if (ifc->ifindex != ifc->found) {
			log_debug("snmp \"%s\": interface \"%s\" is ifIndex %lu on %s (%s)",
				  p->c->name, ifc->cfg, ifc->found, p->addr, ifc->found_in);
		}
		if (ifc->found != 0)
			ifc->missing_logged = 0;
		ifc->ifindex = ifc->found;
	}
	p->need_resolve = 0;
	p->resolved_at = mono_now();
}
