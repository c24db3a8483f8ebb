/*
 * snmp_if.c - the interfaces of a device: reads its interface table
 * (ifDescr, ifType, ifName, ifAlias) at table_refresh, after a reboot and
 * when a polled port vanishes; chooses the ports `interfaces`, `if_types` and
 * `exclude` ask for; reads their columns each run (GETs or a GETBULK walk,
 * whichever costs fewer requests) and emits them. A port's series is named by
 * the device (ifName, else ifDescr), never by how the config spelled it, and
 * a counter is never sent across a reboot, a reset or a renumbering.
 */
#include "snmp.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "timeutil.h"
#include "uplink.h"
#include "xmalloc.h"

#define IFT(n)  {1, 3, 6, 1, 2, 1, 2, 2, 1, n}, 10
#define IFXT(n) {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, n}, 11

/* The interface table as read at table_refresh: what names and types a port. */
enum { CSNMP_T_DESCR, CSNMP_T_TYPE, CSNMP_T_NAME, CSNMP_T_ALIAS, CSNMP_NTCOLS };
static const struct csnmp_col csnmp_tcols[CSNMP_NTCOLS] = {
    [CSNMP_T_DESCR] = {"ifDescr", IFT(2)},
    [CSNMP_T_TYPE] = {"ifType", IFT(3)},
    [CSNMP_T_NAME] = {"ifName", IFXT(1)},
    [CSNMP_T_ALIAS] = {"ifAlias", IFXT(18)},
};

/* The columns of each port read at every run, in enum csnmp_vcol order. */
static const struct csnmp_col csnmp_vcols[CSNMP_NVCOLS] = {
    [CSNMP_V_ADMIN] = {"ifAdminStatus", IFT(7)},
    [CSNMP_V_OPER] = {"ifOperStatus", IFT(8)},
    [CSNMP_V_SPEED] = {"ifSpeed", IFT(5)},
    [CSNMP_V_HIGHSPEED] = {"ifHighSpeed", IFXT(15)},
    [CSNMP_V_HC_IN] = {"ifHCInOctets", IFXT(6)},
    [CSNMP_V_HC_OUT] = {"ifHCOutOctets", IFXT(10)},
    [CSNMP_V_HC_IN_UCAST] = {"ifHCInUcastPkts", IFXT(7)},
    [CSNMP_V_HC_OUT_UCAST] = {"ifHCOutUcastPkts", IFXT(11)},
    [CSNMP_V_IN] = {"ifInOctets", IFT(10)},
    [CSNMP_V_OUT] = {"ifOutOctets", IFT(16)},
    [CSNMP_V_IN_UCAST] = {"ifInUcastPkts", IFT(11)},
    [CSNMP_V_OUT_UCAST] = {"ifOutUcastPkts", IFT(17)},
    [CSNMP_V_IN_DISCARDS] = {"ifInDiscards", IFT(13)},
    [CSNMP_V_IN_ERRORS] = {"ifInErrors", IFT(14)},
    [CSNMP_V_OUT_DISCARDS] = {"ifOutDiscards", IFT(19)},
    [CSNMP_V_OUT_ERRORS] = {"ifOutErrors", IFT(20)},
    [CSNMP_V_DISCONTINUITY] = {"ifCounterDiscontinuityTime", IFXT(19)},
};

/*
 * The counters sent per port: from the 64-bit column where the row has it,
 * else from the 32-bit one (always on v1, which cannot carry Counter64).
 * DERIVE with min 0, not COUNTER: rrdtool takes a decrease of a COUNTER for
 * a wrap and records a huge spike, where a DERIVE records one unknown.
 */
/* A metric's name and its strlen */
#define METRIC(s) s, sizeof(s) - 1

static const struct csnmp_ctr_def {
	const char *metric;
	size_t mlen;
	int c64, c32; /* enum csnmp_vcol; c64 -1: the counter has no 64-bit form */
} csnmp_ctrs[CSNMP_NCTRS] = {
    [CSNMP_C_IN_OCTETS] = {METRIC("in_octets"), CSNMP_V_HC_IN, CSNMP_V_IN},
    [CSNMP_C_OUT_OCTETS] = {METRIC("out_octets"), CSNMP_V_HC_OUT, CSNMP_V_OUT},
    [CSNMP_C_IN_UCAST] = {METRIC("in_ucast_pkts"), CSNMP_V_HC_IN_UCAST, CSNMP_V_IN_UCAST},
    [CSNMP_C_OUT_UCAST] = {METRIC("out_ucast_pkts"), CSNMP_V_HC_OUT_UCAST, CSNMP_V_OUT_UCAST},
    [CSNMP_C_IN_DISCARDS] = {METRIC("in_discards"), -1, CSNMP_V_IN_DISCARDS},
    [CSNMP_C_IN_ERRORS] = {METRIC("in_errors"), -1, CSNMP_V_IN_ERRORS},
    [CSNMP_C_OUT_DISCARDS] = {METRIC("out_discards"), -1, CSNMP_V_OUT_DISCARDS},
    [CSNMP_C_OUT_ERRORS] = {METRIC("out_errors"), -1, CSNMP_V_OUT_ERRORS},
};

void csnmp_ports_free(struct csnmp_priv *p)
{
	free(p->ports);
	free(p->port_names);
	free(p->ctr_hi);
	p->ports = NULL;
	p->port_names = NULL;
	p->ctr_hi = NULL;
	p->nports = 0;
}

/* The port's ifAlias, kept after its name. */
static const char *csnmp_port_alias(const struct csnmp_port *pt)
{
	return pt->name + strlen(pt->name) + 1;
}

/*
 * Moves the names and aliases of new ports (one allocation each) into one
 * block: a 52-port switch's fit in about 600 bytes, where an allocation
 * each took 32 bytes or more. Returns the block.
 */
static char *csnmp_names_pack(struct csnmp_port *ports, size_t n)
{
	size_t total = 0, off = 0;
	char *pool;

	for (size_t i = 0; i < n; i++)
		total += strlen(ports[i].name) + 1 + strlen(csnmp_port_alias(&ports[i])) + 1;
	pool = xmalloc(total ? total : 1);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(ports[i].name) + 1;

		len += strlen(ports[i].name + len) + 1;
		memcpy(pool + off, ports[i].name, len);
		free(ports[i].name);
		ports[i].name = pool + off;
		off += len;
	}
	return pool;
}

/* The high halves of the port's 32-bit counters; NULL while none wrapped, unless `make`. */
static uint32_t *csnmp_ctr_hi(struct csnmp_priv *p, const struct csnmp_port *pt, int make)
{
	if (p->ctr_hi == NULL && make)
		p->ctr_hi = xcalloc(p->nports * CSNMP_NCTRS, sizeof(*p->ctr_hi));
	return p->ctr_hi ? &p->ctr_hi[(size_t)(pt - p->ports) * CSNMP_NCTRS] : NULL;
}

/* The port's answers of this run, CSNMP_NVCOLS cells. */
static struct csnmp_cell *csnmp_port_cells(struct csnmp_priv *p, const struct csnmp_port *pt)
{
	return &p->cells[(size_t)(pt - p->ports) * CSNMP_NVCOLS];
}

void csnmp_if_cells_free(struct csnmp_priv *p)
{
	if (p->cells == NULL)
		return;
	for (size_t k = 0; k < p->nports * CSNMP_NVCOLS; k++)
		if (p->cells[k].str != NULL)
			free(p->cells[k].str);
	free(p->cells);
	p->cells = NULL;
}

/* Empty answers for this run's ports. */
static void csnmp_if_cells_new(struct csnmp_priv *p)
{
	csnmp_if_cells_free(p);
	if (p->nports > 0)
		p->cells = xcalloc(p->nports * CSNMP_NVCOLS, sizeof(*p->cells));
}

/* What only the run needed: the ports' answers, the walks' rows, the GET list. */
void csnmp_run_free(struct csnmp_priv *p)
{
	csnmp_if_cells_free(p);
	csnmp_table_free(&p->iftable);
	csnmp_table_free(&p->ifvalues);
	csnmp_missing_clear(p);
	free(p->items);
	p->items = NULL;
	p->nitems = p->capitems = 0;
	free(p->rx);
	p->rx = NULL;
}

static int csnmp_sel_missing(const struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nsels; i++)
		if ((p->sels[i].kind == CSNMP_SEL_NAME || p->sels[i].kind == CSNMP_SEL_INDEX) &&
		    !p->sels[i].matched)
			return 1;
	return 0;
}

int csnmp_if_table_due(const struct csnmp_priv *p)
{
	double age;

	if (p->nsels == 0 || p->table_run)
		return 0;
	if (p->need_table || p->table_at < 0)
		return 1;
	age = mono_now() - p->table_at;
	/* a port named in the config may appear later: looked for more often */
	return age >= p->table_refresh || (csnmp_sel_missing(p) && age >= CSNMP_RESOLVE_RETRY_S);
}

void csnmp_if_table_begin(struct csnmp_priv *p)
{
	p->phase = CSNMP_PHASE_TABLE;
	p->table_run = 1;
	p->need_table = 0;
	p->iftable.cols = csnmp_tcols;
	p->iftable.ncols = CSNMP_NTCOLS;
	p->iftable.what = "ifTable";
	csnmp_table_begin(&p->iftable, p);
}

static const char *csnmp_str(const struct csnmp_row *r, int k)
{
	const struct csnmp_cell *c = &r->cells[k];

	return c->type == ASN_OCTET_STR && c->str[0] != '\0' ? c->str : NULL;
}

static int csnmp_glob(const char *pat, const char *a, const char *b)
{
	return (a && fnmatch(pat, a, 0) == 0) || (b && fnmatch(pat, b, 0) == 0);
}

/* Whether the config asks for this row. */
static int csnmp_wanted(struct csnmp_priv *p, const struct csnmp_row *r, const char *name,
			const char *descr)
{
	const struct csnmp_cell *tc = &r->cells[CSNMP_T_TYPE];
	int named = 0, pattern = 0, typed;

	for (size_t i = 0; i < p->nsels; i++) {
		struct csnmp_sel *s = &p->sels[i];

		switch (s->kind) {
		case CSNMP_SEL_ALL:
			pattern = 1;
			break;
		case CSNMP_SEL_GLOB:
			pattern |= csnmp_glob(s->pat, name, descr);
			break;
		case CSNMP_SEL_NAME:
			if ((name && strcmp(s->pat, name) == 0) ||
			    (descr && strcmp(s->pat, descr) == 0))
				named = s->matched = 1;
			break;
		case CSNMP_SEL_INDEX:
			if (s->ifindex == r->idx[0])
				named = s->matched = 1;
			break;
		}
	}
	/* a port named outright is polled whatever its type */
	if (named)
		return 1;
	if (!pattern)
		return 0;
	typed = p->ntypes == 0;
	for (size_t i = 0; i < p->ntypes && !typed; i++)
		typed = tc->type == ASN_INTEGER && (long)(int64_t)tc->v == p->types[i];
	if (!typed)
		return 0;
	for (size_t i = 0; i < p->nexcl; i++)
		if (csnmp_glob(p->excl[i], name, descr))
			return 0;
	return 1;
}

static struct csnmp_port *csnmp_port_find(struct csnmp_port *ports, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ports[i].name, name) == 0)
			return &ports[i];
	return NULL;
}

/*
 * A port's series name (buf, SAMPLE_NAME_MAX + 1 bytes) from the name the
 * device gives it: cut to what a series name holds on a UTF-8 character
 * boundary, and with "#ifIndex" when one of the n ports before has it (the
 * name cut to make room), so that two long names alike in their first 128
 * bytes stay two series.
 */
static void csnmp_port_name(char *buf, const char *name, uint32_t ifindex, struct csnmp_port *ports,
			    size_t n)
{
	char tail[16];
	int t;
	size_t k = utf8_clean(buf, SAMPLE_NAME_MAX + 1, name, strlen(name));

	if (csnmp_port_find(ports, n, buf) == NULL)
		return;
	t = snprintf(tail, sizeof(tail), "#%lu", (unsigned long)ifindex);
	k = utf8_clean(buf, SAMPLE_NAME_MAX + 1 - (size_t)t, buf, k);
	memcpy(buf + k, tail, (size_t)t + 1);
}

void csnmp_if_table_commit(struct csnmp_priv *p)
{
	struct csnmp_table *t = &p->iftable;
	struct csnmp_port *ports;
	uint32_t *hi = NULL; /* the new ports' p->ctr_hi, when the old had one */
	size_t n = 0;

	/* a table read short (an error, a cut) would rename ports: keep the old
	 * choice and look again sooner */
	if ((t->errors > 0 || t->cut) && p->table_at >= 0) {
		log_debug("snmp \"%s\": interface table of %s read incompletely; kept the "
			  "previous %zu ports",
			  p->c->name, p->addr, p->nports);
		p->table_at = mono_now() - p->table_refresh +
			      (p->table_refresh < CSNMP_RESOLVE_RETRY_S ? p->table_refresh
									: CSNMP_RESOLVE_RETRY_S);
		csnmp_table_free(t);
		p->values_asked = 0;
		return;
	}
	for (size_t i = 0; i < p->nsels; i++)
		p->sels[i].matched = 0;
	ports = xcalloc(t->nrows ? t->nrows : 1, sizeof(*ports));
	if (p->ctr_hi != NULL)
		hi = xcalloc((t->nrows ? t->nrows : 1) * CSNMP_NCTRS, sizeof(*hi));
	for (size_t r = 0; r < t->nrows; r++) {
		const struct csnmp_row *row = &t->rows[r];
		const char *name, *descr, *alias, *cut;
		struct csnmp_port *pt, *old;
		char buf[SAMPLE_NAME_MAX + 1];

		if (row->idxlen != 1 || row->idx[0] < 1 || row->idx[0] > 2147483647UL)
			continue;
		name = csnmp_str(row, CSNMP_T_NAME);
		descr = csnmp_str(row, CSNMP_T_DESCR);
		alias = csnmp_str(row, CSNMP_T_ALIAS);
		if (!csnmp_wanted(p, row, name, descr))
			continue;
		if (n >= CSNMP_PORTS_MAX) {
			log_warnx("snmp \"%s\": %s has more than %d interfaces to poll; the rest "
				  "are left out",
				  p->c->name, p->addr, CSNMP_PORTS_MAX);
			break;
		}
		/* the device's own name; a name two rows share gets its ifIndex */
		if (name == NULL)
			name = descr;
		if (name == NULL)
			snprintf(buf, sizeof(buf), "%lu", (unsigned long)row->idx[0]);
		else
			csnmp_port_name(buf, name, (uint32_t)row->idx[0], ports, n);
		cut = name != NULL && strlen(name) > SAMPLE_NAME_MAX ? name : NULL;
		name = buf;
		pt = &ports[n++];
		alias = alias ? alias : "";
		{
			size_t nl = strlen(name) + 1, al = strlen(alias) + 1;

			pt->name = xmalloc(nl + al);
			memcpy(pt->name, name, nl);
			memcpy(pt->name + nl, alias, al);
		}
		pt->ifindex = (uint32_t)row->idx[0];
		pt->down = -1;
		old = csnmp_port_find(p->ports, p->nports, pt->name);
		if (old == NULL && cut != NULL)
			log_info("snmp \"%s\": the name of ifIndex %lu on %s is %zu bytes, more "
				 "than a series name holds (%d): its series is \"%s\"",
				 p->c->name, (unsigned long)pt->ifindex, p->addr, strlen(cut),
				 SAMPLE_NAME_MAX, pt->name);
		if (old == NULL) {
			if (p->table_at >= 0)
				log_info("snmp \"%s\": polling interface %s (ifIndex %lu) on %s",
					 p->c->name, pt->name, (unsigned long)pt->ifindex, p->addr);
			continue;
		}
		memcpy(pt->ctr, old->ctr, sizeof(pt->ctr));
		if (hi != NULL)
			memcpy(&hi[(n - 1) * CSNMP_NCTRS],
			       &p->ctr_hi[(size_t)(old - p->ports) * CSNMP_NCTRS],
			       CSNMP_NCTRS * sizeof(*hi));
		pt->ctr_have = old->ctr_have;
		pt->ctr_32 = old->ctr_32;
		pt->disc = old->disc;
		pt->flags = old->flags;
		pt->down = old->down;
		pt->admin = old->admin;
		if (old->ifindex != pt->ifindex) {
			/* another row's counters now: the step between is unknown, not a spike */
			log_info("snmp \"%s\": interface %s on %s moved from ifIndex %lu to %lu",
				 p->c->name, pt->name, p->addr, (unsigned long)old->ifindex,
				 (unsigned long)pt->ifindex);
			pt->flags |= CSNMP_PORT_RENUMBERED;
		}
	}
	for (size_t i = 0; i < p->nports; i++)
		if (csnmp_port_find(ports, n, p->ports[i].name) == NULL)
			log_info("snmp \"%s\": interface %s (ifIndex %lu) is gone from %s",
				 p->c->name, p->ports[i].name, (unsigned long)p->ports[i].ifindex,
				 p->addr);
	csnmp_if_cells_free(p);
	csnmp_ports_free(p);
	/* kept until the next read: no room for rows not chosen */
	p->ports = xreallocarray(ports, n ? n : 1, sizeof(*ports));
	if (hi != NULL)
		p->ctr_hi = xreallocarray(hi, (n ? n : 1) * CSNMP_NCTRS, sizeof(*hi));
	p->nports = n;
	p->port_names = csnmp_names_pack(p->ports, n);
	for (size_t i = 0; i < p->nsels; i++) {
		struct csnmp_sel *s = &p->sels[i];

		if (s->kind != CSNMP_SEL_NAME && s->kind != CSNMP_SEL_INDEX)
			continue;
		if (!s->matched && !s->missing_logged)
			log_warnx("snmp \"%s\": interface \"%s\" not found on %s", p->c->name,
				  s->pat, p->addr);
		s->missing_logged = !s->matched;
	}
	log_debug("snmp \"%s\": %zu of %zu interfaces of %s polled (%u requests)", p->c->name, n,
		  t->nrows, p->addr, t->requests);
	p->table_at = mono_now();
	p->iftable_rows = t->nrows;
	p->walk_reqs = 0;
	p->values_asked = 0;
	csnmp_table_free(t);
}

/*
 * The port's columns a GET is worth sending for, a bit each: not those the
 * device lacks, and a 32-bit counter only where its 64-bit one is missing
 * (always on v1, which has no 64-bit ones).
 */
static uint32_t csnmp_get_cols(const struct csnmp_priv *p, const struct csnmp_port *pt)
{
	uint32_t m = ((1u << CSNMP_NVCOLS) - 1) & ~pt->absent;

	for (size_t i = 0; i < CSNMP_NCTRS; i++) {
		const struct csnmp_ctr_def *d = &csnmp_ctrs[i];

		if (d->c64 < 0)
			continue;
		if (p->version == SNMP_VERSION_1)
			m &= ~(1u << d->c64);
		else if (!(pt->absent & (1u << d->c64)))
			m &= ~(1u << d->c32);
	}
	return m;
}

int csnmp_if_values_begin(struct csnmp_priv *p)
{
	size_t nvb = 0, get_req, walk_req, reps = csnmp_reps(p);
	unsigned long maxidx = 0;

	p->values_asked = 1;
	csnmp_if_cells_new(p);
	for (size_t i = 0; i < p->nports; i++) {
		struct csnmp_port *pt = &p->ports[i];

		nvb += (size_t)__builtin_popcount(csnmp_get_cols(p, pt));
		if (pt->ifindex > maxidx)
			maxidx = pt->ifindex;
	}
	if (p->nports == 0)
		return 0;
	/* a walk reads every row of the table, not only the polled ones */
	get_req = (nvb + p->max_vb - 1) / p->max_vb;
	if (p->walk_reqs > 0)
		walk_req = p->walk_reqs;
	else if (p->version == SNMP_VERSION_1)
		walk_req = p->iftable_rows + 1;
	else
		walk_req = p->iftable_rows / reps + 1;
	if (walk_req < get_req) {
		p->walk_pending = 1;
		return 1;
	}
	for (size_t i = 0; i < p->nports; i++) {
		struct csnmp_port *pt = &p->ports[i];
		struct csnmp_cell *v = csnmp_port_cells(p, pt);
		uint32_t get = csnmp_get_cols(p, pt);

		for (size_t k = 0; k < CSNMP_NVCOLS; k++) {
			oid name[CSNMP_COL_OID_MAX + 1];
			const struct csnmp_col *col = &csnmp_vcols[k];

			if (!(get & (1u << k)))
				continue;
			memcpy(name, col->base, col->len * sizeof(oid));
			name[col->len] = pt->ifindex;
			csnmp_get_add(p, name, col->len + 1, &v[k], (int)i, (int)k);
		}
	}
	return 0;
}

/*
 * The walk's row of ifIndex idx goes straight into its port's answers
 * (NULL: not a polled port's row, kept by the walk). The ports are in
 * ifIndex order, as the interface table was read.
 */
static struct csnmp_cell *csnmp_if_row_cells(void *arg, const oid *idx, size_t idxlen)
{
	struct csnmp_priv *p = arg;
	size_t lo = 0, hi = p->nports;

	if (idxlen != 1 || p->cells == NULL)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->ports[mid].ifindex == idx[0])
			return csnmp_port_cells(p, &p->ports[mid]);
		if (p->ports[mid].ifindex < idx[0])
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void csnmp_if_values_walk(struct csnmp_priv *p)
{
	p->walk_pending = 0;
	p->phase = CSNMP_PHASE_VALUES;
	/* v1 walks the same columns but the 64-bit ones, which come last */
	p->ifvalues.cols = csnmp_vcols;
	p->ifvalues.ncols = p->version == SNMP_VERSION_1 ? CSNMP_NVCOLS_V1 : CSNMP_NVCOLS;
	p->ifvalues.what = "interface counters";
	p->ifvalues.expect_rows = p->iftable_rows;
	p->ifvalues.row_cells = csnmp_if_row_cells;
	p->ifvalues.row_arg = p;
	csnmp_table_begin(&p->ifvalues, p);
}

void csnmp_if_values_commit(struct csnmp_priv *p)
{
	struct csnmp_table *t = &p->ifvalues;

	for (size_t k = 0; k < t->ncols; k++)
		if (t->st[k].err != 0)
			csnmp_missing(p, t->cols[k].name, snmp_errstring(t->st[k].err));
	for (size_t i = 0; i < p->nports; i++) {
		struct csnmp_port *pt = &p->ports[i];
		struct csnmp_cell *v = csnmp_port_cells(p, pt);
		oid idx = pt->ifindex;
		const struct csnmp_row *r = csnmp_table_row(t, &idx, 1);

		if (r == NULL || r->cells[0].type == 0) {
			/* no ifAdminStatus: the port is gone, or renumbered; none of its values */
			if (r != NULL && r->cells == v)
				csnmp_cells_clear(v, t->ncols);
			if (!t->cut)
				p->need_table = 1;
			continue;
		}
		for (size_t k = 0; k < t->ncols; k++) {
			struct csnmp_cell *dst = &v[k];

			/* a complete column without this row: a GET would not find it either */
			if (r->cells[k].type == 0 && t->st[k].err == 0 && !t->cut)
				pt->absent |= 1u << k;
			if (r->cells == v)
				continue; /* walked into place */
			if (dst->str != NULL)
				free(dst->str);
			*dst = r->cells[k];
			r->cells[k].str = NULL; /* the port's now */
		}
	}
	p->walk_reqs = t->requests;
	csnmp_table_free(t);
}

/* f: the port's file, made by check_file_init */
static void csnmp_emit_gauge(struct csnmp_priv *p, const struct csnmp_port *pt,
			     struct uplink_file *f, const char *metric, size_t mlen, double v,
			     int unk)
{
	p->nvalues++;
	if (unk) {
		p->unknown++;
		csnmp_missing(p, pt->name, metric);
	}
	check_emit_file(p->c, f, metric, mlen, SAMPLE_GAUGE, unk ? 0.0 : v, 0, unk);
}

/*
 * One counter of one port for this step. A 32-bit counter is unrolled into
 * 64 bits here (a decrease without a reboot or a discontinuity is a wrap),
 * so the collector's DERIVE sees no decrease. After a reboot, an
 * ifCounterDiscontinuityTime change, a renumbering or a change of width the
 * step is unknown and the next one starts from the new value.
 */
static void csnmp_emit_ctr(struct csnmp_priv *p, struct csnmp_port *pt, struct uplink_file *f,
			   const struct csnmp_cell *v, size_t i, int reset)
{
	const struct csnmp_ctr_def *d = &csnmp_ctrs[i];
	uint8_t bit = (uint8_t)(1u << i);
	int have = (pt->ctr_have & bit) != 0, was32 = (pt->ctr_32 & bit) != 0;
	const struct csnmp_cell *cell = NULL;
	int is32 = 0, unk = 0;
	uint32_t *hi = csnmp_ctr_hi(p, pt, 0);
	uint64_t sent;

	if (d->c64 >= 0 && v[d->c64].type == ASN_COUNTER64) {
		cell = &v[d->c64];
	} else if (v[d->c32].type == ASN_COUNTER) {
		cell = &v[d->c32];
		is32 = 1;
	}
	p->nvalues++;
	if (cell == NULL) {
		p->unknown++;
		csnmp_missing(p, pt->name, d->metric);
		check_emit_file(p->c, f, d->metric, d->mlen, SAMPLE_DERIVE, 0.0, 0, 1);
		return;
	}
	if (!have || reset || was32 != is32) {
		unk = have && (reset || was32 != is32);
		if (hi != NULL)
			hi[i] = 0;
	} else if (is32 && (uint32_t)cell->v < pt->ctr[i]) {
		/* the last raw value is the low half of what was sent: a wrap
		 * between steps is no decrease, it carries into the high half */
		if (hi == NULL)
			hi = csnmp_ctr_hi(p, pt, 1);
		hi[i]++;
	}
	sent = is32 ? (uint64_t)(hi ? hi[i] : 0) << 32 | (uint32_t)cell->v : cell->v;
	pt->ctr[i] = (uint32_t)cell->v;
	pt->ctr_have |= bit;
	pt->ctr_32 = (uint8_t)(is32 ? pt->ctr_32 | bit : pt->ctr_32 & ~bit);
	check_emit_file(p->c, f, d->metric, d->mlen, SAMPLE_DERIVE, 0.0, unk ? 0 : sent, unk);
}

static const char *csnmp_oper_str(uint64_t v)
{
	static const char *const s[] = {"?",       "up",      "down",       "testing",
					"unknown", "dormant", "notPresent", "lowerLayerDown"};

	return v < sizeof(s) / sizeof(s[0]) ? s[v] : "?";
}

static void csnmp_port_emit(struct csnmp_priv *p, struct csnmp_port *pt)
{
	const struct csnmp_cell *v = csnmp_port_cells(p, pt);
	const struct csnmp_cell *adm = &v[CSNMP_V_ADMIN], *op = &v[CSNMP_V_OPER];
	const struct csnmp_cell *sp = &v[CSNMP_V_SPEED], *hs = &v[CSNMP_V_HIGHSPEED];
	const struct csnmp_cell *dc = &v[CSNMP_V_DISCONTINUITY];
	const char *alias = csnmp_port_alias(pt);
	int have_st = adm->type == ASN_INTEGER && op->type == ASN_INTEGER, reset, down = -1;
	double speed = 0.0;
	int speed_unk = 0;
	struct uplink_file f;

	reset = p->rebooted || (pt->flags & CSNMP_PORT_RENUMBERED);
	if (dc->type == ASN_TIMETICKS) {
		if ((pt->flags & CSNMP_PORT_HAVE_DISC) && dc->v != pt->disc) {
			log_info("snmp \"%s\": counters of %s on %s were reset "
				 "(ifCounterDiscontinuityTime)",
				 p->c->name, pt->name, p->addr);
			reset = 1;
		}
		pt->disc = (uint32_t)dc->v;
		pt->flags |= CSNMP_PORT_HAVE_DISC;
	}
	check_file_init(p->c, &f, "if", pt->name);
	for (size_t i = 0; i < CSNMP_NCTRS; i++)
		csnmp_emit_ctr(p, pt, &f, v, i, reset);
	pt->flags &= (uint8_t)~CSNMP_PORT_RENUMBERED;

	csnmp_emit_gauge(p, pt, &f, METRIC("admin_status"), (double)(int64_t)adm->v,
			 adm->type != ASN_INTEGER);
	csnmp_emit_gauge(p, pt, &f, METRIC("oper_status"), (double)(int64_t)op->v,
			 op->type != ASN_INTEGER);
	/* ifSpeed is exact below 4.29 Gb/s; above, it stays at its maximum */
	if (sp->type == ASN_GAUGE && sp->v < 4294967295ULL)
		speed = (double)sp->v;
	else if (hs->type == ASN_GAUGE)
		speed = (double)hs->v * 1e6;
	else if (sp->type == ASN_GAUGE)
		speed = (double)sp->v;
	else
		speed_unk = 1;
	csnmp_emit_gauge(p, pt, &f, METRIC("speed"), speed, speed_unk);
	/* down: meant to be up (admin up) and not up (nor dormant, waiting to be) */
	if (have_st)
		down = adm->v == 1 && op->v != 1 && op->v != 5;
	csnmp_emit_gauge(p, pt, &f, METRIC("down"), down == 1, down < 0);
	if (down >= 0 && pt->down >= 0 && down != pt->down) {
		if (down)
			log_info("snmp \"%s\": interface %s%s%s%s on %s is down (ifOperStatus %s)",
				 p->c->name, pt->name, alias[0] ? " (\"" : "", alias,
				 alias[0] ? "\")" : "", p->addr, csnmp_oper_str(op->v));
		else
			log_info("snmp \"%s\": interface %s%s%s%s on %s is up again", p->c->name,
				 pt->name, alias[0] ? " (\"" : "", alias,
				 alias[0] ? "\")" : "", p->addr);
	}
	if (down >= 0)
		pt->down = (int8_t)down;
	/* for linkDown traps that do not say it (check_trap.c) */
	pt->admin = adm->type == ASN_INTEGER && adm->v >= 1 && adm->v <= 3 ? (int8_t)adm->v : 0;
}

int csnmp_if_admin(const struct csnmp_priv *p, const char *name, uint32_t *ifindex)
{
	char *end;
	unsigned long idx = strtoul(name, &end, 10);
	int by_index = name[0] >= '0' && name[0] <= '9' && *end == '\0';

	for (size_t i = 0; i < p->nports; i++) {
		const struct csnmp_port *pt = &p->ports[i];

		if (pt->admin != 0 &&
		    (strcmp(pt->name, name) == 0 || (by_index && pt->ifindex == idx))) {
			*ifindex = pt->ifindex;
			return pt->admin;
		}
	}
	return 0;
}

void csnmp_if_emit(struct csnmp_priv *p)
{
	/* every path asks the values first; without them, every value is unknown */
	if (p->cells == NULL)
		csnmp_if_cells_new(p);
	for (size_t i = 0; i < p->nports; i++) {
		csnmp_port_emit(p, &p->ports[i]);
		check_result_as(p->c, "if", p->ports[i].name, OUTCOME_OK, NULL);
	}
	/* a port named in the config that the device lacks is not silent */
	for (size_t i = 0; i < p->nsels; i++) {
		const struct csnmp_sel *s = &p->sels[i];

		if (s->matched || p->table_at < 0)
			continue;
		if (s->kind == CSNMP_SEL_NAME)
			check_result_as(p->c, "if", s->pat, OUTCOME_ERROR,
					"%s has no interface \"%s\" (no ifName or ifDescr matches)",
					p->shown, s->pat);
		else if (s->kind == CSNMP_SEL_INDEX)
			check_result_as(p->c, "if", s->pat, OUTCOME_ERROR,
					"%s has no interface with ifIndex %s", p->shown, s->pat);
	}
}
