/*
 * snmp_if.c - turns configured interface names into ifIndex values: one
 * table walk of ifName and ifDescr side by side, an ifName match first.
 * Decides nothing about values; a name the device lacks is said once.
 */
#include "snmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "timeutil.h"

/* The columns that name an interface, in the order a name is looked for. */
static const struct csnmp_col csnmp_name_cols[] = {
    {"ifName", {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1}, 11},
    {"ifDescr", {1, 3, 6, 1, 2, 1, 2, 2, 1, 2}, 10},
};
#define CSNMP_NNAME_COLS (sizeof(csnmp_name_cols) / sizeof(csnmp_name_cols[0]))

int csnmp_names_unresolved(const struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++)
		if (!p->ifs[i].numeric && p->ifs[i].ifindex == 0)
			return 1;
	return 0;
}

void csnmp_walk_begin(struct csnmp_priv *p)
{
	p->phase = CSNMP_PHASE_WALK;
	p->walked_run = 1;
	p->names.cols = csnmp_name_cols;
	p->names.ncols = CSNMP_NNAME_COLS;
	p->names.what = "ifName/ifDescr";
	csnmp_table_begin(&p->names, p);
}

static void csnmp_match(struct csnmp_priv *p, struct csnmp_if *ifc)
{
	ifc->found = 0;
	ifc->found_in = NULL;
	for (size_t k = 0; k < CSNMP_NNAME_COLS; k++)
		for (size_t r = 0; r < p->names.nrows; r++) {
			const struct csnmp_row *row = &p->names.rows[r];
			const struct csnmp_cell *cell = &row->cells[k];

			if (row->idxlen != 1 || row->idx[0] < 1 || row->idx[0] > 2147483647UL ||
			    cell->type != ASN_OCTET_STR || strcmp(cell->str, ifc->cfg) != 0)
				continue;
			ifc->found = row->idx[0];
			ifc->found_in = csnmp_name_cols[k].name;
			return;
		}
}

/* The walk is complete: its result replaces the previous mapping. */
void csnmp_walk_commit(struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++) {
		struct csnmp_if *ifc = &p->ifs[i];

		if (ifc->numeric)
			continue;
		csnmp_match(p, ifc);
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
	csnmp_table_free(&p->names);
	p->need_resolve = 0;
	p->resolved_at = mono_now();
}
