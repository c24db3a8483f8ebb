/*
 * series_wire.c - the compact form of a batch (see series_wire.h).
 */
#include "series_wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "hash.h"
#include "xmalloc.h"

/* ---- the agent's side ---------------------------------------------------- */

struct tx_entry {
	char *key; /* host NUL check NUL instance NUL metric NUL, then kind/interval/width */
	size_t keylen;
	uint64_t hash;
	uint32_t id; /* 0: free slot */
};

/*
 * Where series_tx_compact unpacks a batch: protobuf-c would otherwise make
 * one allocation per sample and four per name, and free them one by one.
 * Blocks are taken as needed and all but the first are freed after each
 * batch, so that the arena keeps TX_ARENA_BLOCK bytes between batches.
 */
#define TX_ARENA_BLOCK (64 * 1024)

struct tx_block {
	struct tx_block *next;
	size_t size, used;
	max_align_t data[];
};

struct series_tx {
	struct tx_entry *slot; /* open addressing, linear probing */
	size_t nslot, count;
	uint32_t max, next_id;
	struct tx_block *arena; /* the block in use first; the first block last */
	char *key;              /* a sample's key, as looked up */
	size_t keycap;
};

static void *arena_alloc(void *data, size_t size)
{
	struct series_tx *t = data;
	struct tx_block *b = t->arena;
	size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	void *p;

	if (b == NULL || b->size - b->used < need) {
		size_t bsize = need > TX_ARENA_BLOCK ? need : TX_ARENA_BLOCK;

		b = xmalloc(sizeof(*b) + bsize);
		b->next = t->arena;
		b->size = bsize;
		b->used = 0;
		t->arena = b;
	}
	p = (char *)b->data + b->used;
	b->used += need;
	return p;
}

static void arena_free(void *data, void *ptr)
{
	/* everything goes at once, in arena_reset */
}

/* Forgets what the last batch took; keeps the first block. */
static void arena_reset(struct series_tx *t)
{
	while (t->arena != NULL && t->arena->next != NULL) {
		struct tx_block *next = t->arena->next;

		free(t->arena);
		t->arena = next;
	}
	if (t->arena != NULL)
		t->arena->used = 0;
}

static void tx_clear(struct series_tx *t)
{
	for (size_t i = 0; i < t->nslot; i++) {
		free(t->slot[i].key);
		t->slot[i].key = NULL;
		t->slot[i].id = 0;
	}
	t->count = 0;
	t->next_id = 1;
}

struct series_tx *series_tx_new(uint32_t max)
{
	struct series_tx *t = xcalloc(1, sizeof(*t));

	t->max = max ? max : 1;
	t->nslot = 64;
	t->slot = xcalloc(t->nslot, sizeof(*t->slot));
	t->next_id = 1;
	return t;
}

void series_tx_free(struct series_tx *t)
{
	if (t == NULL)
		return;
	tx_clear(t);
	arena_reset(t);
	free(t->arena);
	free(t->key);
	free(t->slot);
	free(t);
}

void series_tx_reset(struct series_tx *t)
{
	tx_clear(t);
}

size_t series_tx_count(const struct series_tx *t)
{
	return t->count;
}

static void tx_grow(struct series_tx *t)
{
	struct tx_entry *old = t->slot;
	size_t nold = t->nslot;

	t->nslot *= 2;
	t->slot = xcalloc(t->nslot, sizeof(*t->slot));
	for (size_t i = 0; i < nold; i++) {
		size_t j;

		if (old[i].id == 0)
			continue;
		for (j = old[i].hash & (t->nslot - 1); t->slot[j].id != 0;
		     j = (j + 1) & (t->nslot - 1))
			;
		t->slot[j] = old[i];
	}
	free(old);
}

/* Appends `s` and its NUL to buf at *n (buf has room). */
static void key_put(char *buf, size_t *n, const char *s)
{
	size_t len = strlen(s ? s : "") + 1;

	memcpy(buf + *n, s ? s : "", len);
	*n += len;
}

/*
 * The sample's series id on this session; *is_new is set when it was not
 * defined yet (the caller sends a SeriesDef). 0 when it was not and the
 * table is full.
 */
static uint32_t tx_lookup(struct series_tx *t, const Vakt__Sample *s, int *is_new)
{
	size_t cap = strlen(s->host) + strlen(s->check) + strlen(s->instance ? s->instance : "") +
		     strlen(s->metric) + 4 + 3 * sizeof(uint32_t);
	char *key;
	size_t n = 0, j;
	uint32_t tail[3] = {(uint32_t)s->kind, s->interval, s->width ? s->width : 64};
	uint64_t h;

	/* built where the last one was: a series already defined costs no allocation */
	if (cap > t->keycap) {
		free(t->key);
		t->keycap = cap > 256 ? cap : 256;
		t->key = xmalloc(t->keycap);
	}
	key = t->key;
	key_put(key, &n, s->host);
	key_put(key, &n, s->check);
	key_put(key, &n, s->instance);
	key_put(key, &n, s->metric);
	memcpy(key + n, tail, sizeof(tail));
	n += sizeof(tail);
	h = hash_fnv1a(key, n);
	for (j = h & (t->nslot - 1); t->slot[j].id != 0; j = (j + 1) & (t->nslot - 1)) {
		if (t->slot[j].hash == h && t->slot[j].keylen == n &&
		    memcmp(t->slot[j].key, key, n) == 0) {
			*is_new = 0;
			return t->slot[j].id;
		}
	}
	/* not defined, and no room: the caller starts the table again */
	if (t->count == t->max)
		return 0;
	t->slot[j].key = xmalloc(n);
	memcpy(t->slot[j].key, key, n);
	t->slot[j].keylen = n;
	t->slot[j].hash = h;
	t->slot[j].id = t->next_id++;
	t->count++;
	*is_new = 1;
	if (t->count * 2 > t->nslot) {
		uint32_t id = t->slot[j].id;

		tx_grow(t);
		return id;
	}
	return t->slot[j].id;
}

uint8_t *series_tx_compact(struct series_tx *t, const uint8_t *frame, size_t len, size_t *outlen)
{
	ProtobufCAllocator arena = {arena_alloc, arena_free, t};
	Vakt__Frame *f, out = VAKT__FRAME__INIT;
	Vakt__Batch *in, b = VAKT__BATCH__INIT;
	Vakt__SeriesDef *defs, **pdefs;
	size_t n, ng = 0, nc = 0, nu = 0, nd = 0;
	int64_t prev = 0;
	uint8_t *res;

	if (len <= FRAME_HDR_LEN)
		return NULL;
	f = vakt__frame__unpack(&arena, len - FRAME_HDR_LEN, frame + FRAME_HDR_LEN);
	if (f == NULL || f->msg_case != VAKT__FRAME__MSG_BATCH || f->batch->n_samples == 0 ||
	    f->batch->n_sid != 0 || f->batch->n_samples > t->max) {
		arena_reset(t);
		return NULL;
	}
	in = f->batch;
	n = in->n_samples;
	b.seq = in->seq;
	b.results = in->results;
	b.n_results = in->n_results;
	b.events = in->events;
	b.n_events = in->n_events;
	b.sid = xcalloc(n, sizeof(*b.sid));
	b.dtime_ms = xcalloc(n, sizeof(*b.dtime_ms));
	b.gauge = xcalloc(n, sizeof(*b.gauge));
	b.counter = xcalloc(n, sizeof(*b.counter));
	b.unknown = xcalloc(n, sizeof(*b.unknown));
	defs = xcalloc(n, sizeof(*defs));
	pdefs = xcalloc(n, sizeof(*pdefs));
again:
	for (size_t i = 0; i < n; i++) {
		const Vakt__Sample *s = in->samples[i];
		int is_new;
		uint32_t id = tx_lookup(t, s, &is_new);

		/*
		 * Full: start again from id 1 and redo the batch, so that no id
		 * means two series within it (n <= max: the second pass fits).
		 */
		if (id == 0) {
			tx_clear(t);
			nd = ng = nc = nu = 0;
			prev = 0;
			goto again;
		}
		if (is_new) {
			Vakt__SeriesDef *d = &defs[nd];

			vakt__series_def__init(d);
			d->id = id;
			d->host = s->host;
			d->check = s->check;
			d->instance = s->instance;
			d->metric = s->metric;
			d->kind = s->kind;
			d->interval = s->interval;
			d->width = s->width;
			pdefs[nd++] = d;
		}
		b.sid[i] = id;
		b.dtime_ms[i] = s->time_ms - prev;
		prev = s->time_ms;
		if (s->kind == VAKT__KIND__GAUGE)
			b.gauge[ng++] = s->value;
		else
			b.counter[nc++] = s->counter;
		if (s->unknown)
			b.unknown[nu++] = (uint32_t)i;
	}
	b.series = pdefs;
	b.n_series = nd;
	b.n_sid = n;
	b.n_dtime_ms = n;
	b.n_gauge = ng;
	b.n_counter = nc;
	b.n_unknown = nu;
	out.msg_case = VAKT__FRAME__MSG_BATCH;
	out.batch = &b;
	res = frame_encode(&out, outlen);
	free(b.sid);
	free(b.dtime_ms);
	free(b.gauge);
	free(b.counter);
	free(b.unknown);
	free(defs);
	free(pdefs);
	arena_reset(t);
	return res;
}

/* ---- the collector's side -------------------------------------------------- */

struct rx_def {
	char *host, *check, *instance, *metric; /* one allocation, host first */
	size_t size;
	Vakt__Kind kind;
	uint32_t interval, width;
	uint32_t number; /* series_rx_definition */
	int verdict;     /* series_rx_verdict */
};

struct series_rx {
	struct rx_def *def; /* by id - 1; host NULL: not defined */
	uint32_t ndef, max;
	uint32_t defined; /* definitions made, up to UINT32_MAX */
	size_t count, bytes;
	char err[160];
};

struct series_rx *series_rx_new(uint32_t max)
{
	struct series_rx *r = xcalloc(1, sizeof(*r));

	r->max = max ? max : SERIES_WIRE_MAX_DEFAULT;
	return r;
}

void series_rx_free(struct series_rx *r)
{
	if (r == NULL)
		return;
	for (uint32_t i = 0; i < r->ndef; i++)
		free(r->def[i].host);
	free(r->def);
	free(r);
}

size_t series_rx_count(const struct series_rx *r)
{
	return r->count;
}

size_t series_rx_bytes(const struct series_rx *r)
{
	return r->bytes + (size_t)r->ndef * sizeof(*r->def);
}

static const char *rx_fail(struct series_rx *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *rx_fail(struct series_rx *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return r->err;
}

static const char *rx_define(struct series_rx *r, const Vakt__SeriesDef *d)
{
	const char *names[4] = {d->host, d->check, d->instance, d->metric};
	size_t lens[4], size = 0;
	struct rx_def *x;
	char *p;

	if (d->id == 0 || d->id > r->max)
		return rx_fail(r, "series id %u outside 1..%u", d->id, r->max);
	if (d->id > r->ndef) {
		uint32_t n = r->ndef ? r->ndef : 64;

		while (n < d->id)
			n = n > r->max / 2 ? r->max : n * 2;
		r->def = xreallocarray(r->def, n, sizeof(*r->def));
		memset(r->def + r->ndef, 0, (n - r->ndef) * sizeof(*r->def));
		r->ndef = n;
	}
	x = &r->def[d->id - 1];
	if (x->host != NULL) {
		r->bytes -= x->size;
		r->count--;
		free(x->host);
	}
	for (int i = 0; i < 4; i++) {
		lens[i] = strlen(names[i] ? names[i] : "") + 1;
		size += lens[i];
	}
	p = xmalloc(size);
	x->size = size;
	for (int i = 0; i < 4; i++) {
		memcpy(p, names[i] ? names[i] : "", lens[i]);
		if (i == 0)
			x->host = p;
		else if (i == 1)
			x->check = p;
		else if (i == 2)
			x->instance = p;
		else
			x->metric = p;
		p += lens[i];
	}
	x->kind = d->kind;
	x->interval = d->interval;
	x->width = d->width;
	x->verdict = -1;
	if (r->defined < UINT32_MAX)
		r->defined++;
	x->number = r->defined < UINT32_MAX ? r->defined : 0;
	r->bytes += size;
	r->count++;
	return NULL;
}

const char *series_rx_expand(struct series_rx *r, const Vakt__Batch *b, Vakt__Sample **out,
			     size_t *nout)
{
	Vakt__Sample *v;
	size_t n = b->n_sid, ng = 0, nc = 0;
	int64_t t = 0;
	const char *err;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < b->n_series; i++)
		if ((err = rx_define(r, b->series[i])) != NULL)
			return err;
	if (b->n_dtime_ms != n)
		return rx_fail(r, "%zu series ids but %zu times", n, b->n_dtime_ms);
	if (n == 0) {
		if (b->n_gauge || b->n_counter || b->n_unknown)
			return rx_fail(r, "values without series ids");
		return NULL;
	}
	v = xreallocarray(NULL, n, sizeof(*v)); /* each one vakt__sample__init'd below */
	for (size_t i = 0; i < n; i++) {
		uint32_t id = b->sid[i];
		const struct rx_def *x;

		if (id == 0 || id > r->ndef || r->def[id - 1].host == NULL) {
			free(v);
			return rx_fail(
			    r, "sample %zu names series %u, never defined on this session", i, id);
		}
		x = &r->def[id - 1];
		if (__builtin_add_overflow(t, b->dtime_ms[i], &t)) {
			free(v);
			return rx_fail(r, "sample %zu: time overflows", i);
		}
		vakt__sample__init(&v[i]);
		v[i].host = x->host;
		v[i].check = x->check;
		v[i].instance = x->instance;
		v[i].metric = x->metric;
		v[i].kind = x->kind;
		v[i].interval = x->interval;
		v[i].width = x->width;
		v[i].time_ms = t;
		if (x->kind == VAKT__KIND__GAUGE) {
			if (ng == b->n_gauge) {
				free(v);
				return rx_fail(r, "fewer gauge values (%zu) than GAUGE samples",
					       b->n_gauge);
			}
			v[i].value = b->gauge[ng++];
		} else {
			if (nc == b->n_counter) {
				free(v);
				return rx_fail(
				    r, "fewer counters (%zu) than COUNTER and DERIVE samples",
				    b->n_counter);
			}
			v[i].counter = b->counter[nc++];
		}
	}
	if (ng != b->n_gauge || nc != b->n_counter) {
		free(v);
		return rx_fail(r, "%zu gauge values and %zu counters for %zu and %zu samples",
			       b->n_gauge, b->n_counter, ng, nc);
	}
	for (size_t i = 0; i < b->n_unknown; i++) {
		if (b->unknown[i] >= n) {
			free(v);
			return rx_fail(r, "unknown index %u beyond %zu samples", b->unknown[i], n);
		}
		v[b->unknown[i]].unknown = 1;
	}
	*out = v;
	*nout = n;
	return NULL;
}

uint32_t series_rx_definition(const struct series_rx *r, uint32_t id)
{
	if (id == 0 || id > r->ndef || r->def[id - 1].host == NULL)
		return 0;
	return r->def[id - 1].number;
}

int series_rx_verdict(const struct series_rx *r, uint32_t id)
{
	if (id == 0 || id > r->ndef || r->def[id - 1].host == NULL)
		return -1;
	return r->def[id - 1].verdict;
}

void series_rx_set_verdict(struct series_rx *r, uint32_t id, int ok)
{
	if (id != 0 && id <= r->ndef && r->def[id - 1].host != NULL)
		r->def[id - 1].verdict = ok;
}
