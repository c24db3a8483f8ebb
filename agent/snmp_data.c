/*
 * snmp_data.c - a run's host, UPS and custom values: the scalars of the
 * device's MIB groups and scalar oids in GETs, then each table (hrStorage,
 * hrProcessorLoad, the oid columns) through the table walker, then one
 * sample per value. A value the device lacks is sent as unknown, never as
 * 0, and is logged (once, then as a count) and counted in the run's
 * "partial" reason; it never changes the outcome.
 */
#include "snmp.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conf.h"
#include "xmalloc.h"

enum csnmp_dstage {
	CSNMP_D_GET,
	CSNMP_D_TABLES,
	CSNMP_D_DONE,
};

/* One scalar: a built-in group's or an oid subsection's. */
struct csnmp_dget {
	const oid *name;
	size_t len;
	const struct csnmp_mib_scalar *mib; /* or */
	const struct csnmp_oid_def *def;
	struct csnmp_cell cell; /* type 0: no value this run */
	int done;
};

enum csnmp_dkind {
	CSNMP_DT_STORAGE, /* hrStorageTable */
	CSNMP_DT_CPU,     /* hrProcessorTable */
	CSNMP_DT_OIDS,    /* oid columns sharing their instance_oid */
};

struct csnmp_dtable {
	enum csnmp_dkind kind;
	struct csnmp_table t;
	struct csnmp_col cols[CSNMP_WALK_COLS_MAX];
	const struct csnmp_oid_def *defs[CSNMP_WALK_COLS_MAX]; /* CSNMP_DT_OIDS: per column */
	int named;                                             /* column 0 names the rows */
	int begun;
};

struct csnmp_drun {
	struct csnmp_dget *gets;
	size_t ngets;
	struct csnmp_dtable *tabs;
	size_t ntabs;
	size_t sent[CSNMP_VB_MAX];
	size_t nsent, max_vb;
	enum csnmp_dstage stage;
	size_t tab;                   /* the table being walked */
	unsigned nvalues, unknown;    /* samples of this run, and how many of them unknown */
	char miss_oid[CSNMP_OID_STR]; /* the first value unknown and why, for the log */
	char miss_why[64];
	struct complaint c_missing;
};

/* HOST-RESOURCES-MIB hrStorageEntry (1.3.6.1.2.1.25.2.3.1) and hrProcessorLoad. */
static const struct csnmp_col csnmp_storage_cols[] = {
    {"hrStorageDescr", {1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 3}, 11},
    {"hrStorageAllocationUnits", {1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 4}, 11},
    {"hrStorageSize", {1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 5}, 11},
    {"hrStorageUsed", {1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 6}, 11},
};
/* hrProcessorFrWID is there from the start; net-snmp has a load only after a minute */
static const struct csnmp_col csnmp_cpu_cols[] = {
    {"hrProcessorFrwID", {1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 1}, 11},
    {"hrProcessorLoad", {1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2}, 11},
};

static struct csnmp_dtable *csnmp_dtable_add(struct csnmp_drun *r, enum csnmp_dkind kind,
					     const char *what)
{
	struct csnmp_dtable *dt;

	r->tabs = xreallocarray(r->tabs, r->ntabs + 1, sizeof(*r->tabs));
	dt = &r->tabs[r->ntabs++];
	memset(dt, 0, sizeof(*dt));
	dt->kind = kind;
	dt->t.what = what;
	return dt;
}

static void csnmp_dtable_col(struct csnmp_dtable *dt, const struct csnmp_col *col,
			     const struct csnmp_oid_def *def)
{
	dt->defs[dt->t.ncols] = def;
	dt->cols[dt->t.ncols++] = *col;
}

/* The oid columns: those with the same instance_oid share one walk. */
static void csnmp_drun_oid_tables(struct csnmp_drun *r, const struct csnmp_data *d)
{
	for (size_t i = 0; i < d->noids; i++) {
		const struct csnmp_oid_def *o = &d->oids[i];
		struct csnmp_dtable *dt = NULL;
		struct csnmp_col col = {o->name, {0}, o->col_len};

		if (!o->table)
			continue;
		for (size_t k = 0; k < r->ntabs && dt == NULL; k++) {
			struct csnmp_dtable *x = &r->tabs[k];
			const struct csnmp_oid_def *first = x->defs[x->named];

			if (x->kind == CSNMP_DT_OIDS && x->named && o->inst_len > 0 &&
			    x->t.ncols < CSNMP_WALK_COLS_MAX &&
			    snmp_oid_compare(first->inst, first->inst_len, o->inst, o->inst_len) ==
				0)
				dt = x;
		}
		if (dt == NULL) {
			dt = csnmp_dtable_add(r, CSNMP_DT_OIDS, o->name);
			if (o->inst_len > 0) {
				struct csnmp_col ic = {"instance_oid", {0}, o->inst_len};

				memcpy(ic.base, o->inst, o->inst_len * sizeof(oid));
				csnmp_dtable_col(dt, &ic, NULL);
				dt->named = 1;
			}
		}
		memcpy(col.base, o->col, o->col_len * sizeof(oid));
		csnmp_dtable_col(dt, &col, o);
	}
}

/* What the section asks for, laid out once for every run. */
static struct csnmp_drun *csnmp_drun_new(const struct csnmp_data *d)
{
	struct csnmp_drun *r = xcalloc(1, sizeof(*r));
	size_t n = 0;

	r->gets = xcalloc(csnmp_mib_nscalars + d->noids + 1, sizeof(*r->gets));
	for (size_t i = 0; i < csnmp_mib_nscalars; i++)
		if (d->mibs & csnmp_mib_scalars[i].group) {
			r->gets[n].mib = &csnmp_mib_scalars[i];
			r->gets[n].name = csnmp_mib_scalars[i].name;
			r->gets[n++].len = csnmp_mib_scalars[i].len;
		}
	for (size_t i = 0; i < d->noids; i++)
		if (!d->oids[i].table) {
			r->gets[n].def = &d->oids[i];
			r->gets[n].name = d->oids[i].col;
			r->gets[n++].len = d->oids[i].col_len;
		}
	r->ngets = n;
	if (d->mibs & CSNMP_MIB_HOST) {
		struct csnmp_dtable *dt = csnmp_dtable_add(r, CSNMP_DT_STORAGE, "hrStorageTable");

		for (size_t k = 0; k < sizeof(csnmp_storage_cols) / sizeof(csnmp_storage_cols[0]);
		     k++)
			csnmp_dtable_col(dt, &csnmp_storage_cols[k], NULL);
		dt = csnmp_dtable_add(r, CSNMP_DT_CPU, "hrProcessorTable");
		csnmp_dtable_col(dt, &csnmp_cpu_cols[0], NULL);
		csnmp_dtable_col(dt, &csnmp_cpu_cols[1], NULL);
	}
	csnmp_drun_oid_tables(r, d);
	r->max_vb = CSNMP_VB_MAX;
	return r;
}

void csnmp_data_run_free(struct csnmp_drun *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ngets; i++)
		free(r->gets[i].cell.str);
	for (size_t k = 0; k < r->ntabs; k++)
		csnmp_table_free(&r->tabs[k].t);
	free(r->gets);
	free(r->tabs);
	free(r);
}

/* Why a value is unknown: the first one of the run is kept for the log and the reason. */
static void csnmp_dmissing(struct csnmp_drun *r, const oid *name, size_t len, const char *why)
{
	if (r->miss_oid[0] != '\0')
		return;
	csnmp_oid_str(r->miss_oid, sizeof(r->miss_oid), name, len);
	snprintf(r->miss_why, sizeof(r->miss_why), "%s", why);
}

/* One sample of the phase, counted for the run's reason. */
static void csnmp_dput(struct csnmp_priv *p, const char *check, const char *instance,
		       const char *metric, enum sample_kind kind, double value, uint64_t counter,
		       unsigned width, int unknown)
{
	struct csnmp_drun *r = p->data.run;

	check_emit_at(p->c, p->c->run_time_ms, check, instance, metric, kind, value, counter, width,
		      unknown);
	r->nvalues++;
	r->unknown += unknown != 0;
}

/* A new run: every value unknown until the device gives it. */
static void csnmp_data_begin(struct csnmp_priv *p)
{
	struct csnmp_drun *r;

	if (p->data.run == NULL)
		p->data.run = csnmp_drun_new(&p->data);
	r = p->data.run;
	p->phase = CSNMP_PHASE_DATA;
	r->stage = CSNMP_D_GET;
	r->tab = 0;
	r->nvalues = r->unknown = 0;
	r->miss_oid[0] = r->miss_why[0] = '\0';
	for (size_t i = 0; i < r->ngets; i++) {
		free(r->gets[i].cell.str);
		memset(&r->gets[i].cell, 0, sizeof(r->gets[i].cell));
		r->gets[i].done = 0;
	}
	for (size_t k = 0; k < r->ntabs; k++)
		r->tabs[k].begun = 0;
}

int csnmp_data_send(struct csnmp_priv *p)
{
	struct csnmp_drun *r;

	if (p->data.mibs == 0 && p->data.noids == 0)
		return 0;
	if (p->phase != CSNMP_PHASE_DATA)
		csnmp_data_begin(p);
	r = p->data.run;
	if (r->stage == CSNMP_D_GET) {
		netsnmp_pdu *pdu;

		r->nsent = 0;
		for (size_t i = 0; i < r->ngets && r->nsent < r->max_vb; i++)
			if (!r->gets[i].done)
				r->sent[r->nsent++] = i;
		if (r->nsent > 0) {
			pdu = csnmp_pdu_new(SNMP_MSG_GET);
			for (size_t i = 0; i < r->nsent; i++)
				csnmp_pdu_add(pdu, r->gets[r->sent[i]].name,
					      r->gets[r->sent[i]].len);
			return csnmp_send(p, pdu, "GET") < 0 ? -1 : 1;
		}
		r->stage = CSNMP_D_TABLES;
	}
	while (r->stage == CSNMP_D_TABLES && r->tab < r->ntabs) {
		struct csnmp_dtable *dt = &r->tabs[r->tab];
		int s;

		if (!dt->begun) {
			dt->t.cols = dt->cols; /* not before: r->tabs moved while it grew */
			csnmp_table_begin(&dt->t, p);
			dt->begun = 1;
		}
		if ((s = csnmp_table_send(p, &dt->t)) != 0)
			return s;
		r->tab++;
	}
	r->stage = CSNMP_D_DONE;
	return 0;
}

/* RFC 3416's name of an error-status, for the log ("noSuchName", "genErr"). */
static const char *csnmp_errstat_name(long e, char *buf, size_t len)
{
	static const char *const names[] = {"noError",
					    "tooBig",
					    "noSuchName",
					    "badValue",
					    "readOnly",
					    "genErr",
					    "noAccess",
					    "wrongType",
					    "wrongLength",
					    "wrongEncoding",
					    "wrongValue",
					    "noCreation",
					    "inconsistentValue",
					    "resourceUnavailable",
					    "commitFailed",
					    "undoFailed",
					    "authorizationError",
					    "notWritable",
					    "inconsistentName"};

	if (e >= 0 && (size_t)e < sizeof(names) / sizeof(names[0]))
		return names[e];
	snprintf(buf, len, "error-status %ld", e);
	return buf;
}

/* An error-status on a GET: the varbind it names (else all sent) is lost, the rest asked again. */
static void csnmp_dget_error(struct csnmp_drun *r, const netsnmp_pdu *resp)
{
	char buf[32];
	const char *why = csnmp_errstat_name(resp->errstat, buf, sizeof(buf));

	if (resp->errindex >= 1 && (size_t)resp->errindex <= r->nsent) {
		struct csnmp_dget *g = &r->gets[r->sent[resp->errindex - 1]];

		g->done = 1;
		csnmp_dmissing(r, g->name, g->len, why);
		return;
	}
	for (size_t i = 0; i < r->nsent; i++) {
		struct csnmp_dget *g = &r->gets[r->sent[i]];

		g->done = 1;
		csnmp_dmissing(r, g->name, g->len, why);
	}
}

int csnmp_data_response(struct csnmp_priv *p, netsnmp_pdu *resp)
{
	struct csnmp_drun *r = p->data.run;
	struct csnmp_vbs vbs;
	const netsnmp_variable_list *vb = NULL;
	int more;

	if (r->stage == CSNMP_D_TABLES)
		return csnmp_table_response(p, &r->tabs[r->tab].t, resp);
	if (resp->errstat == SNMP_ERR_TOOBIG && r->max_vb > 1) {
		r->max_vb = (r->max_vb + 1) / 2;
		return 0;
	}
	if (resp->errstat != SNMP_ERR_NOERROR) {
		csnmp_dget_error(r, resp);
		return 0;
	}
	csnmp_vbs_begin(&vbs, p->rx, p->rxlen, resp);
	more = csnmp_vbs_next(&vbs, &vb);
	for (size_t i = 0; i < r->nsent; i++) {
		struct csnmp_dget *g = &r->gets[r->sent[i]];

		if (more < 0)
			return csnmp_fail(p, OUTCOME_ERROR, "%s answered GET with %s", p->shown,
					  vbs.why);
		if (more == 0)
			vb = NULL;
		g->done = 1;
		if (vb == NULL ||
		    snmp_oid_compare(vb->name, vb->name_length, g->name, g->len) != 0) {
			csnmp_dmissing(r, g->name, g->len, "answered for another OID");
		} else if (!csnmp_cell_set(&g->cell, vb)) {
			char why[32];

			snprintf(why, sizeof(why),
				 vb->type == SNMP_NOSUCHOBJECT     ? "noSuchObject"
				 : vb->type == SNMP_NOSUCHINSTANCE ? "noSuchInstance"
								   : "type 0x%02x",
				 vb->type);
			csnmp_dmissing(r, g->name, g->len, why);
		}
		if (vb != NULL)
			more = csnmp_vbs_next(&vbs, &vb);
	}
	return 0;
}

/* A cell as a number; 0 when it holds none (a string must be a number whole). */
static int csnmp_cell_number(const struct csnmp_cell *cell, double *v)
{
	char *end;

	switch (cell->type) {
	case ASN_INTEGER:
		*v = (double)(int64_t)cell->v;
		return 1;
	case ASN_COUNTER:
	case ASN_GAUGE:
	case ASN_TIMETICKS:
	case ASN_COUNTER64:
		*v = (double)cell->v;
		return 1;
	case ASN_OCTET_STR:
		errno = 0;
		*v = strtod(cell->str, &end);
		return errno == 0 && end != cell->str && *end == '\0' && isfinite(*v);
	default:
		return 0;
	}
}

/* A value the device gave that is no number: unknown, and said so like one it lacks. */
static void csnmp_dnot_number(struct csnmp_priv *p, const oid *name, size_t len,
			      const struct csnmp_cell *cell)
{
	char why[48];

	if (cell->type == 0)
		return; /* not answered: counted when it was asked */
	if (cell->type == ASN_OCTET_STR)
		snprintf(why, sizeof(why), "a string, not a number");
	else
		snprintf(why, sizeof(why), "type 0x%02x, not a number", cell->type);
	csnmp_dmissing(p->data.run, name, len, why);
}

/* An oid's value from its cell, as a sample; unknown when the cell cannot be one. */
static void csnmp_demit_def(struct csnmp_priv *p, const struct csnmp_oid_def *def,
			    const char *instance, const struct csnmp_cell *cell)
{
	double v = 0;

	if (def->kind == SAMPLE_COUNTER) {
		/* the collector turns it into a rate, across a wrap at its own width */
		unsigned width = cell->type == ASN_COUNTER64 ? 64 : 32;
		int ok = cell->type == ASN_COUNTER || cell->type == ASN_COUNTER64 ||
			 cell->type == ASN_GAUGE || cell->type == ASN_TIMETICKS ||
			 (cell->type == ASN_INTEGER && (int64_t)cell->v >= 0);

		csnmp_dput(p, def->check, instance, def->metric, SAMPLE_COUNTER, 0,
			   ok ? cell->v : 0, width, !ok);
		if (!ok)
			csnmp_dnot_number(p, def->col, def->col_len, cell);
		return;
	}
	if (csnmp_cell_number(cell, &v)) {
		csnmp_dput(p, def->check, instance, def->metric, SAMPLE_GAUGE, v * def->scale, 0, 0,
			   0);
	} else {
		csnmp_dput(p, def->check, instance, def->metric, SAMPLE_GAUGE, 0, 0, 0, 1);
		csnmp_dnot_number(p, def->col, def->col_len, cell);
	}
}

static void csnmp_demit_get(struct csnmp_priv *p, const struct csnmp_dget *g)
{
	const struct csnmp_mib_scalar *m = g->mib;
	double v;
	int ok;

	if (g->def != NULL) {
		csnmp_demit_def(p, g->def, "", &g->cell);
		return;
	}
	ok = csnmp_cell_number(&g->cell, &v) && g->cell.type != ASN_OCTET_STR;
	if (ok && m->equals != 0)
		v = v == (double)m->equals;
	else if (ok)
		v *= m->scale;
	csnmp_dput(p, m->check, "", m->metric, SAMPLE_GAUGE, ok ? v : 0, 0, 0, !ok);
	if (!ok)
		csnmp_dnot_number(p, g->name, g->len, &g->cell);
}

/*
 * Windows describes a volume as "C:\ Label:Data  Serial Number 1848504c":
 * the label and serial change when an operator relabels or reformats the
 * drive, which must not start a new file. Cuts such a name to "C:\" (the drive).
 */
static void csnmp_cut_volume_label(char *name)
{
	if (((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')) &&
	    name[1] == ':' && name[2] == '\\' && strncmp(name + 3, " Label:", 7) == 0)
		name[3] = '\0';
}

/*
 * A row's instance: its naming cell (UTF-8, cut on a character boundary to
 * what the wire takes; a Windows volume to its drive) or its index; a name an
 * earlier row of the table took gets "#index".
 */
static void csnmp_row_instance(char *out, size_t len, const struct csnmp_row *row,
			       const struct csnmp_cell *name, struct conf_index *seen)
{
	char idx[CSNMP_OID_STR];
	double v;

	csnmp_oid_str(idx, sizeof(idx), row->idx, row->idxlen);
	if (name != NULL && name->type == ASN_OCTET_STR && name->str[0] != '\0') {
		utf8_clean(out, len, name->str, strlen(name->str));
		csnmp_cut_volume_label(out);
	} else if (name != NULL && name->type != 0 && name->type != ASN_OCTET_STR &&
		   csnmp_cell_number(name, &v)) {
		snprintf(out, len, "%.0f", v);
	} else {
		snprintf(out, len, "%.*s", (int)len - 1, idx);
	}
	if (conf_index_gets(seen, out) != NULL) {
		size_t n = strlen(out), tail = strlen(idx) + 1;

		/* the index kept whole, the name cut to make room on a character boundary */
		if (tail + 1 >= len) {
			snprintf(out, len, "%.*s", (int)len - 1, idx);
		} else {
			if (n + tail >= len)
				n = utf8_clean(out, len - tail, out, n);
			snprintf(out + n, tail + 1, "#%s", idx);
		}
	}
	conf_index_puts(seen, out, (void *)row);
}

static void csnmp_demit_storage(struct csnmp_priv *p, const struct csnmp_table *t,
				struct conf_index *seen)
{
	for (size_t i = 0; i < t->nrows; i++) {
		const struct csnmp_row *row = &t->rows[i];
		const struct csnmp_cell *c = row->cells;
		char inst[SAMPLE_NAME_MAX + 1];
		double units, size, used;
		int ok = csnmp_cell_number(&c[1], &units) && c[1].type != ASN_OCTET_STR;
		int oks = ok && csnmp_cell_number(&c[2], &size) && c[2].type != ASN_OCTET_STR;
		int oku = ok && csnmp_cell_number(&c[3], &used) && c[3].type != ASN_OCTET_STR;

		/* no units: 0 bytes when it counts none (Windows' CD drive without a
		 * disc: units, size and used 0), else not known */
		oks = oks && (units > 0 || size == 0);
		oku = oku && (units > 0 || used == 0);

		csnmp_row_instance(inst, sizeof(inst), row, &c[0], seen);
		/* hrStorageSize and Used count allocation units: stored in bytes */
		csnmp_dput(p, "storage", inst, "size", SAMPLE_GAUGE, oks ? size * units : 0, 0, 0,
			   !oks);
		csnmp_dput(p, "storage", inst, "used", SAMPLE_GAUGE, oku ? used * units : 0, 0, 0,
			   !oku);
		if (!oks || !oku)
			csnmp_dmissing(p->data.run, row->idx, row->idxlen,
				       "hrStorage row without units, size or used");
	}
}

static void csnmp_demit_cpu(struct csnmp_priv *p, const struct csnmp_table *t)
{
	double sum = 0;
	size_t n = 0;

	/* hrDeviceIndex numbers are the device's own: CPUs are named 0, 1, ... in their order */
	for (size_t i = 0; i < t->nrows; i++) {
		char inst[24];
		double v;
		int ok = csnmp_cell_number(&t->rows[i].cells[1], &v) &&
			 t->rows[i].cells[1].type != ASN_OCTET_STR;

		snprintf(inst, sizeof(inst), "%zu", i);
		csnmp_dput(p, "cpu", inst, "load", SAMPLE_GAUGE, ok ? v : 0, 0, 0, !ok);
		if (!ok)
			csnmp_dmissing(p->data.run, csnmp_cpu_cols[1].base, csnmp_cpu_cols[1].len,
				       "no load yet");
		if (ok) {
			sum += v;
			n++;
		}
	}
	/* the average of all processors, in <host>/cpu.rrd */
	csnmp_dput(p, "cpu", "", "load", SAMPLE_GAUGE, n ? sum / (double)n : 0, 0, 0, n == 0);
}

static void csnmp_demit_oids(struct csnmp_priv *p, const struct csnmp_dtable *dt,
			     struct conf_index *seen)
{
	const struct csnmp_table *t = &dt->t;

	for (size_t i = 0; i < t->nrows; i++) {
		const struct csnmp_row *row = &t->rows[i];
		char inst[SAMPLE_NAME_MAX + 1];

		csnmp_row_instance(inst, sizeof(inst), row, dt->named ? &row->cells[0] : NULL,
				   seen);
		for (size_t k = (size_t)dt->named; k < t->ncols; k++) {
			/* a row this column lacks is not a row of its own */
			if (row->cells[k].type == 0)
				continue;
			csnmp_demit_def(p, dt->defs[k], inst, &row->cells[k]);
		}
	}
}

void csnmp_data_emit(struct csnmp_priv *p)
{
	struct csnmp_drun *r = p->data.run;
	/* a run cut by a timeout: the GETs if all are in, the tables walked whole */
	int cut = r != NULL && r->stage != CSNMP_D_DONE;
	size_t ntabs;

	if (r == NULL || (cut && r->stage != CSNMP_D_TABLES))
		return;
	ntabs = cut ? r->tab : r->ntabs;
	for (size_t i = 0; i < r->ngets; i++)
		csnmp_demit_get(p, &r->gets[i]);
	for (size_t k = 0; k < ntabs; k++) {
		struct csnmp_dtable *dt = &r->tabs[k];
		struct conf_index *seen = conf_index_new();

		if (dt->t.nrows == 0) {
			/* a table the device lacks is one value unknown, though no file says so */
			csnmp_dmissing(r, dt->cols[dt->named].base, dt->cols[dt->named].len,
				       "no rows");
			r->nvalues++;
			r->unknown++;
		}
		if (dt->kind == CSNMP_DT_STORAGE)
			csnmp_demit_storage(p, &dt->t, seen);
		else if (dt->kind == CSNMP_DT_CPU)
			csnmp_demit_cpu(p, &dt->t);
		else
			csnmp_demit_oids(p, dt, seen);
		conf_index_free(seen);
		/* the rows are not kept between runs */
		csnmp_table_free(&dt->t);
	}
	/* the run's reason counts them with the interfaces' ("partial: 2 of 60 values unknown") */
	p->nvalues += r->nvalues;
	p->unknown += r->unknown;
	if (r->unknown > 0)
		csnmp_missing(p, r->miss_oid, r->miss_why);
	if (cut)
		return; /* what is missing is not known */
	if (r->unknown > 0)
		log_complain(&r->c_missing, CSNMP_MISSING_COMPLAIN_S,
			     "snmp \"%s\": %u host, UPS or oid value(s) unknown on %s, e.g. %s: %s",
			     p->c->name, r->unknown, p->addr, r->miss_oid, r->miss_why);
	else
		log_complain_clear(
		    &r->c_missing,
		    "snmp \"%s\": all host, UPS and oid values available again on %s", p->c->name,
		    p->addr);
}
