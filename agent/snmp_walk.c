/*
 * snmp_walk.c - the table walker: the columns of one table read side by side
 * with GETBULK (GETNEXT on v1), kept as rows by index. A column that leaves
 * its subtree, repeats or goes backwards ends there; an error on one column
 * ends that column only. Never more than max_rows rows, never a request that
 * makes no progress. The port columns' walk may carry sysUpTime in its first
 * GETBULK, as the non-repeater before the columns (p->uptime_walk).
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

static void csnmp_cell_clear(struct csnmp_cell *cell)
{
	/* most cells hold a number: no call */
	if (cell->str != NULL)
		free(cell->str);
	memset(cell, 0, sizeof(*cell));
}

/* The rows, and the cells the table keeps; those the owner keeps stay its. */
static void csnmp_rows_free(struct csnmp_table *t)
{
	for (size_t i = 0; i < t->npool; i++)
		if (t->cellpool[i].str != NULL)
			free(t->cellpool[i].str);
	free(t->cellpool);
	t->cellpool = NULL;
	t->npool = t->cappool = 0;
	free(t->rows);
	t->rows = NULL;
	t->nrows = t->caprows = 0;
}

void csnmp_cells_clear(struct csnmp_cell *cells, size_t n)
{
	for (size_t k = 0; k < n; k++)
		csnmp_cell_clear(&cells[k]);
}

/* The rows and every value they got, wherever kept. */
static void csnmp_rows_drop(struct csnmp_table *t)
{
	for (size_t r = 0; r < t->nrows; r++)
		if (t->rows[r].cell_at == SIZE_MAX)
			csnmp_cells_clear(t->rows[r].cells, t->ncols);
	csnmp_rows_free(t);
}

void csnmp_table_free(struct csnmp_table *t)
{
	if (t == NULL)
		return;
	csnmp_rows_free(t);
	free(t->st);
	t->st = NULL;
}

unsigned csnmp_reps(const struct csnmp_priv *p)
{
	unsigned max = p->max_reps ? p->max_reps : CSNMP_BULK_REPS;

	return p->reps_now > 0 && p->reps_now < max ? p->reps_now : max;
}

void csnmp_reps_timed_out(struct csnmp_priv *p, unsigned sent)
{
	unsigned now = csnmp_reps(p);

	if (sent < now)
		now = sent; /* a tooBig had halved it within the run */
	if (now <= 1)
		return;
	p->reps_now = now / 2;
	p->reps_at = mono_now();
	log_info("snmp \"%s\": no answer from %s to a GETBULK of %u rows though it answered "
		 "the requests before it; %u rows per request from now on",
		 p->c->name, p->addr, sent, p->reps_now);
}

void csnmp_reps_climb(struct csnmp_priv *p)
{
	unsigned max = p->max_reps ? p->max_reps : CSNMP_BULK_REPS;

	if (p->reps_now == 0 || p->reps_now >= max || mono_now() - p->reps_at < p->table_refresh)
		return;
	p->reps_at = mono_now();
	p->reps_now = p->reps_now * 2 < max ? p->reps_now * 2 : max;
	log_debug("snmp \"%s\": trying %u rows per GETBULK on %s again", p->c->name, p->reps_now,
		  p->addr);
}

void csnmp_table_begin(struct csnmp_table *t, const struct csnmp_priv *p)
{
	if (t->ncols > CSNMP_WALK_COLS_MAX)
		fatalx("snmp: a table walk of %zu columns (at most %d)", t->ncols,
		       CSNMP_WALK_COLS_MAX);
	csnmp_rows_free(t);
	free(t->st);
	t->st = xcalloc(t->ncols ? t->ncols : 1, sizeof(*t->st));
	for (size_t k = 0; k < t->ncols; k++)
		t->st[k].blen = csnmp_ber_oid_put(t->st[k].ber, sizeof(t->st[k].ber),
						  t->cols[k].base, t->cols[k].len);
	if (t->max_rows == 0)
		t->max_rows = CSNMP_WALK_ROWS_MAX;
	t->reps = csnmp_reps(p);
	t->one_by_one = 0;
	t->requests = 0;
	t->cut = 0;
	t->errors = 0;
	t->done = t->ncols == 0;
}

/* As snmp_oid_compare (-1, 0, 1; a prefix first), inline: it runs for every varbind twice. */
static inline int csnmp_idx_cmp(const oid *a, size_t alen, const oid *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

/* Where idx is in the sorted rows, or would go; *found says which. */
static size_t csnmp_row_pos(const struct csnmp_table *t, const oid *idx, size_t idxlen, int *found)
{
	size_t lo = 0, hi = t->nrows;

	*found = 0;
	/*
	 * A GETBULK answer holds a row's columns side by side, in index order:
	 * the row is usually the last one (its first column made it) or new.
	 */
	if (t->nrows > 0) {
		const struct csnmp_row *last = &t->rows[t->nrows - 1];
		int c = csnmp_idx_cmp(last->idx, last->idxlen, idx, idxlen);

		if (c < 0)
			return t->nrows;
		if (c == 0) {
			*found = 1;
			return t->nrows - 1;
		}
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = csnmp_idx_cmp(t->rows[mid].idx, t->rows[mid].idxlen, idx, idxlen);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct csnmp_row *csnmp_table_row(const struct csnmp_table *t, const oid *idx, size_t idxlen)
{
	int found;
	size_t i = csnmp_row_pos(t, idx, idxlen, &found);

	return found ? &t->rows[i] : NULL;
}

/* The row of idx, made if new; NULL when the table is full (said by the caller). */
static struct csnmp_row *csnmp_row_get(struct csnmp_table *t, const oid *idx, size_t idxlen)
{
	int found;
	size_t lo;
	struct csnmp_cell *cells;
	struct csnmp_row *r;

	/* a row's columns come side by side: mostly the last row, of one sub-identifier */
	if (t->nrows > 0 && idxlen == 1 && t->rows[t->nrows - 1].idxlen == 1 &&
	    t->rows[t->nrows - 1].idx[0] == idx[0])
		return &t->rows[t->nrows - 1];
	lo = csnmp_row_pos(t, idx, idxlen, &found);
	if (found)
		return &t->rows[lo];
	if (t->nrows >= t->max_rows)
		return NULL;
	if (t->nrows == t->caprows) {
		/* room for the rows the table had, if known, and its end */
		t->caprows = t->caprows ? 2 * t->caprows : t->expect_rows ? t->expect_rows + 1 : 16;
		t->rows = xreallocarray(t->rows, t->caprows, sizeof(*t->rows));
	}
	cells = t->row_cells != NULL ? t->row_cells(t->row_arg, idx, idxlen) : NULL;
	if (cells == NULL && t->npool + t->ncols > t->cappool) {
		/* the table's cells in one block, not an allocation per row */
		t->cappool = t->caprows * (t->ncols ? t->ncols : 1);
		t->cellpool = xreallocarray(t->cellpool, t->cappool, sizeof(*t->cellpool));
		for (size_t i = 0; i < t->nrows; i++)
			if (t->rows[i].cell_at != SIZE_MAX)
				t->rows[i].cells = t->cellpool + t->rows[i].cell_at;
	}
	memmove(&t->rows[lo + 1], &t->rows[lo], (t->nrows - lo) * sizeof(*t->rows));
	r = &t->rows[lo];
	memcpy(r->idx, idx, idxlen * sizeof(oid));
	r->idxlen = idxlen;
	if (cells != NULL) {
		r->cell_at = SIZE_MAX;
		r->cells = cells;
	} else {
		r->cell_at = t->npool;
		r->cells = t->cellpool + r->cell_at;
		memset(r->cells, 0, t->ncols * sizeof(*r->cells));
		t->npool += t->ncols;
	}
	t->nrows++;
	return r;
}

/* Keeps what a varbind holds; 0 if its type is not one a cell keeps. */
int csnmp_cell_set(struct csnmp_cell *cell, const netsnmp_variable_list *vb)
{
	csnmp_cell_clear(cell);
	switch (vb->type) {
	case ASN_INTEGER:
		if (vb->val.integer == NULL)
			return 0;
		cell->v = (uint64_t)(int64_t)*vb->val.integer;
		break;
	case ASN_COUNTER:
	case ASN_GAUGE:
	case ASN_TIMETICKS:
		if (vb->val.integer == NULL)
			return 0;
		cell->v = (uint32_t)*vb->val.integer;
		break;
	case ASN_COUNTER64:
		if (vb->val.counter64 == NULL)
			return 0;
		cell->v =
		    (uint64_t)vb->val.counter64->high << 32 | (uint32_t)vb->val.counter64->low;
		break;
	case ASN_OCTET_STR: {
		size_t len = vb->val_len;

		if (vb->val.string == NULL && len > 0)
			return 0;
		/* some agents count a trailing NUL in a DisplayString; one
		 * inside ends it, as it would in C (a binary value read as a name) */
		if (len > 0)
			len = strnlen((const char *)vb->val.string, len);
		/* names a file and a page: UTF-8, cut on a character boundary */
		cell->str = xmalloc((len < CSNMP_CELL_STR_MAX ? len : CSNMP_CELL_STR_MAX) + 1);
		cell->v = utf8_clean(cell->str, CSNMP_CELL_STR_MAX + 1, vb->val.string, len);
		break;
	}
	default:
		return 0;
	}
	cell->type = vb->type;
	return 1;
}

/*
 * The rows a GETBULK of the columns sent asks: t->reps, or fewer when the
 * table's size is known and every column is that near its end (its rows
 * left and one more, which ends it). A column past the rows expected (the
 * table grew) asks t->reps.
 */
static unsigned csnmp_bulk_rows(const struct csnmp_table *t)
{
	size_t want = 0;

	if (t->expect_rows == 0)
		return t->reps;
	for (size_t i = 0; i < t->nsent; i++) {
		const struct csnmp_col_state *st = &t->st[t->sent[i]];

		if (st->rows >= t->expect_rows)
			return t->reps;
		if (t->expect_rows - st->rows + 1 > want)
			want = t->expect_rows - st->rows + 1;
	}
	return want < t->reps ? (unsigned)want : t->reps;
}

int csnmp_table_send(struct csnmp_priv *p, struct csnmp_table *t)
{
	netsnmp_pdu *pdu;
	int up = t == &p->ifvalues && p->uptime_walk && p->version != SNMP_VERSION_1;

	t->nsent = 0;
	for (size_t k = 0; k < t->ncols; k++) {
		if (t->st[k].done)
			continue;
		t->sent[t->nsent++] = (unsigned char)k;
		if (t->one_by_one)
			break;
	}
	if (t->nsent == 0) {
		t->done = 1;
		return 0;
	}
	/* how the answer's varbinds should name their columns, in turn */
	for (size_t i = 0; i < t->nsent; i++) {
		const struct csnmp_col *a = &t->cols[t->sent[(i + t->nsent - 1) % t->nsent]];
		const struct csnmp_col *b = &t->cols[t->sent[i]];
		struct csnmp_colhint *h = &t->hints[i];

		h->ber = t->st[t->sent[i]].ber;
		/* a column of one sub-identifier would split its first: never a table's */
		h->blen = b->len >= 2 ? t->st[t->sent[i]].blen : 0;
		h->col = b->base;
		h->len = b->len;
		h->prev = a->base;
		for (h->keep = 0; h->keep < a->len && h->keep < b->len; h->keep++)
			if (a->base[h->keep] != b->base[h->keep])
				break;
	}
	if (p->version == SNMP_VERSION_1) {
		pdu = csnmp_pdu_new(SNMP_MSG_GETNEXT);
	} else {
		pdu = csnmp_pdu_new(SNMP_MSG_GETBULK);
		pdu->non_repeaters = up;
		pdu->max_repetitions = (long)csnmp_bulk_rows(t);
	}
	/* sysUpTime, as the one non-repeater: the next OID after its column's is sysUpTime.0 */
	if (up)
		csnmp_pdu_add(pdu, csnmp_uptime_col, sizeof(csnmp_uptime_col) / sizeof(oid));
	p->uptime_sent = up;
	/* the rows per request a timeout halves: t->reps, even when this one asks fewer */
	p->bulk_sent = p->version == SNMP_VERSION_1 ? 0 : t->reps;
	for (size_t i = 0; i < t->nsent; i++) {
		const struct csnmp_col *col = &t->cols[t->sent[i]];
		const struct csnmp_col_state *st = &t->st[t->sent[i]];
		oid name[CSNMP_COL_OID_MAX + CSNMP_IDX_MAX];

		memcpy(name, col->base, col->len * sizeof(oid));
		memcpy(name + col->len, st->idx, st->idxlen * sizeof(oid));
		csnmp_pdu_add(pdu, name, col->len + st->idxlen);
	}
	t->requests++;
	return csnmp_send(p, pdu, t->what) < 0 ? -1 : 1;
}

static void csnmp_col_end(struct csnmp_table *t, size_t k)
{
	t->st[k].done = 1;
}

/* One column failed with an error: it ends, the others go on. */
static void csnmp_col_error(struct csnmp_priv *p, struct csnmp_table *t, size_t k, long errstat)
{
	log_debug("snmp \"%s\": %s answered the walk of %s with %s; that column ends there",
		  p->c->name, p->addr, t->cols[k].name, snmp_errstring(errstat));
	t->st[k].done = 1;
	t->st[k].err = errstat;
	t->errors++;
}

/* Says once per walk why it was cut short. */
static void csnmp_cut(struct csnmp_priv *p, struct csnmp_table *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void csnmp_cut(struct csnmp_priv *p, struct csnmp_table *t, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	if (t->cut)
		return;
	t->cut = 1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_complain(&t->c_cut, CSNMP_MISSING_COMPLAIN_S, "snmp \"%s\": walk of %s on %s cut: %s",
		     p->c->name, t->what, p->addr, why);
}

/* up: the request began with sysUpTime as a non-repeater (varbind 1). */
static int csnmp_table_error(struct csnmp_priv *p, struct csnmp_table *t, netsnmp_pdu *resp, int up)
{
	long e = resp->errstat, i = resp->errindex - up;

	if (up && resp->errindex == 1) {
		/* sysUpTime refused: unknown this run, asked by a GET from the next one */
		log_debug("snmp \"%s\": %s answered sysUpTime in a GETBULK with %s", p->c->name,
			  p->addr, snmp_errstring(e));
		csnmp_missing(p, "sysUpTime", snmp_errstring(e));
		p->uptime_walk = 0;
		p->uptime_by_get = 1;
		return 0;
	}

	if (e == SNMP_ERR_TOOBIG && t->reps > 1) {
		t->reps = (t->reps + 1) / 2;
		log_debug("snmp \"%s\": %s says tooBig; %s walked %u rows per request", p->c->name,
			  p->addr, t->what, t->reps);
		return 0;
	}
	if (e == SNMP_ERR_TOOBIG && t->nsent > 1) {
		t->one_by_one = 1;
		return 0;
	}
	/*
	 * Another error in a GETBULK's answer may be of a row past a column's
	 * end (the next column's first object, which the device refuses: a
	 * noAccess ifPhysAddress after the last ifType), and it loses the rows
	 * before it too: asked again one row at a time, it ends only the column
	 * whose next object it is, and then only there.
	 */
	if (p->version != SNMP_VERSION_1 && t->reps > 1) {
		t->reps = 1;
		log_debug("snmp \"%s\": %s answered a walk of %s with %s; walked one row per "
			  "request",
			  p->c->name, p->addr, t->what, snmp_errstring(e));
		return 0;
	}
	if (i >= 1 && (size_t)i <= t->nsent) {
		size_t k = t->sent[i - 1];

		/* SNMPv1 says "end of the MIB view" with noSuchName */
		if (p->version == SNMP_VERSION_1 && e == SNMP_ERR_NOSUCHNAME)
			csnmp_col_end(t, k);
		else
			csnmp_col_error(p, t, k, e);
		return 0;
	}
	/* no varbind named: ask the columns one by one, so an error costs one column */
	if (t->nsent > 1) {
		t->one_by_one = 1;
		return 0;
	}
	if (p->version == SNMP_VERSION_1 && e == SNMP_ERR_NOSUCHNAME)
		csnmp_col_end(t, t->sent[0]);
	else
		csnmp_col_error(p, t, t->sent[0], e);
	return 0;
}

/*
 * 1 the first time column `col` of this device answers with `type`, which
 * no cell keeps (hrProcessorFrwID's OID): a line at every poll would say
 * nothing new. Past CSNMP_ODD_TYPES pairs, nothing more is said.
 */
static int csnmp_odd_type_new(struct csnmp_priv *p, const struct csnmp_col *col,
			      unsigned char type)
{
	for (size_t i = 0; i < p->nodd_types; i++)
		if (p->odd_types[i].type == type && strcmp(p->odd_types[i].col, col->name) == 0)
			return 0;
	if (p->nodd_types == CSNMP_ODD_TYPES)
		return 0;
	if (p->odd_types == NULL)
		p->odd_types = xcalloc(CSNMP_ODD_TYPES, sizeof(*p->odd_types));
	p->odd_types[p->nodd_types].col = col->name;
	p->odd_types[p->nodd_types++].type = type;
	return 1;
}

int csnmp_table_response(struct csnmp_priv *p, struct csnmp_table *t, netsnmp_pdu *resp)
{
	unsigned char seen[CSNMP_WALK_COLS_MAX] = {0};
	size_t progress = 0;
	struct csnmp_vbs it;
	const netsnmp_variable_list *vb;
	int more, up = p->uptime_sent;

	p->uptime_sent = 0;
	if (resp->errstat != SNMP_ERR_NOERROR) {
		csnmp_table_error(p, t, resp, up);
	} else {
		csnmp_vbs_begin(&it, p->rx, p->rxlen, resp);
		/* the non-repeater first: a reboot it shows ends the walk, since the
		 * interface table is read again before the columns are */
		more = 1;
		if (up && (more = csnmp_vbs_next(&it, &vb)) > 0) {
			if (csnmp_uptime_walked(p, vb) < 0)
				return 0; /* the same columns are asked again without it */
			if (p->rebooted) {
				csnmp_rows_drop(t);
				for (size_t k = 0; k < t->ncols; k++)
					csnmp_col_end(t, k);
				t->done = 1;
				return 0;
			}
		}
		for (size_t i = 0; more > 0; i = i + 1 < t->nsent ? i + 1 : 0) {
			size_t k = t->sent[i];
			const struct csnmp_col *col = &t->cols[k];
			struct csnmp_row *row;
			char got[CSNMP_OID_STR];

			/* the column it should be in, as sent: only the row is read */
			it.hint = &t->hints[i];
			if ((more = csnmp_vbs_next(&it, &vb)) <= 0)
				break;
			if (t->st[k].done)
				continue;
			seen[k] = 1;
			if (vb->type == SNMP_ENDOFMIBVIEW || vb->type == SNMP_NOSUCHOBJECT ||
			    vb->type == SNMP_NOSUCHINSTANCE ||
			    (!it.in_col &&
			     (vb->name_length <= col->len ||
			      memcmp(vb->name, col->base, col->len * sizeof(oid)) != 0))) {
				csnmp_col_end(t, k);
				progress++;
				continue;
			}
			/* a broken agent could send us round in circles (the name is
			 * in the column: its index decides) */
			if (csnmp_idx_cmp(vb->name + col->len, vb->name_length - col->len,
					  t->st[k].idx, t->st[k].idxlen) <= 0) {
				csnmp_cut(
				    p, t, "%s went back or repeated (%s)", col->name,
				    csnmp_oid_str(got, sizeof(got), vb->name, vb->name_length));
				csnmp_col_end(t, k);
				continue;
			}
			if (vb->name_length - col->len > CSNMP_IDX_MAX) {
				csnmp_cut(
				    p, t, "%s has an index longer than %d (%s)", col->name,
				    CSNMP_IDX_MAX,
				    csnmp_oid_str(got, sizeof(got), vb->name, vb->name_length));
				csnmp_col_end(t, k);
				continue;
			}
			/* mostly one sub-identifier: no call */
			for (size_t j = 0; j < vb->name_length - col->len; j++)
				t->st[k].idx[j] = vb->name[col->len + j];
			t->st[k].idxlen = (unsigned char)(vb->name_length - col->len);
			t->st[k].rows++;
			progress++;
			row = csnmp_row_get(t, vb->name + col->len, vb->name_length - col->len);
			if (row == NULL) {
				csnmp_cut(p, t, "more than %u rows", t->max_rows);
				csnmp_col_end(t, k);
				continue;
			}
			if (!csnmp_cell_set(&row->cells[k], vb) && csnmp_odd_type_new(p, col, vb->type))
				log_debug("snmp \"%s\": %s: %s (%s) has unexpected type 0x%02x; "
					  "said once for this device",
					  p->c->name, p->addr, col->name,
					  csnmp_oid_str(got, sizeof(got), vb->name, vb->name_length),
					  vb->type);
		}
		if (more < 0)
			return csnmp_fail(p, OUTCOME_ERROR, "%s answered the walk of %s with %s",
					  p->shown, t->what, it.why);
		/* an empty or truncated answer: one column per request from now on */
		for (size_t i = 0; i < t->nsent; i++)
			if (!seen[t->sent[i]] && !t->st[t->sent[i]].done)
				t->one_by_one = 1;
		if (progress == 0) {
			/* nothing new: asking again would get the same */
			for (size_t i = 0; i < t->nsent; i++)
				if (!t->st[t->sent[i]].done) {
					csnmp_cut(p, t, "%s answered without progress",
						  t->cols[t->sent[i]].name);
					csnmp_col_end(t, t->sent[i]);
				}
		}
	}
	t->done = 1;
	for (size_t k = 0; k < t->ncols; k++)
		if (!t->st[k].done)
			t->done = 0;
	if (t->done && !t->cut)
		log_complain_clear(&t->c_cut, "snmp \"%s\": walk of %s on %s complete again",
				   p->c->name, t->what, p->addr);
	return 0;
}
