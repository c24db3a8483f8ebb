/*
 * series_wire.c - the compact form of a batch (see series_wire.h).
 */
#include "series_wire.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "hash.h"
#include "xmalloc.h"

/* ---- the agent's side ---------------------------------------------------- */

/*
 * A series defined on the session; its id is its place in the entries plus
 * one. 16 bytes, and a 4-byte slot in the hash table, besides its key: an
 * agent polling a thousand switches keeps 100,000 of them.
 */
struct tx_entry {
	const char *key; /* host NUL check NUL instance NUL metric NUL, then kind/interval/width */
	uint32_t hash;   /* the key's hash, its low 32 bits */
	uint32_t keylen;
};

/* The keys, packed in blocks of TX_KEY_BLOCK bytes (a longer key gets its own). */
#define TX_KEY_BLOCK (64 * 1024)

struct tx_keys {
	struct tx_keys *next;
	size_t size, used;
	char data[];
};

/*
 * What series_tx_compact needs for one batch (its samples, the arrays of the
 * compact form, the names of new series) comes from one arena: blocks are
 * taken as needed and all but the first are freed after each batch, so that
 * the arena keeps TX_ARENA_BLOCK bytes between batches.
 */
#define TX_ARENA_BLOCK (64 * 1024)

struct tx_block {
	struct tx_block *next;
	size_t size, used;
	max_align_t data[];
};

/* A sample of a full-form batch as read off the wire: its names point into the frame. */
struct tx_sample {
	const char *name[4]; /* host, check, instance, metric; not NUL-terminated */
	size_t len[4];
	int64_t time_ms;
	uint32_t kind, interval, width;
	double value;
	uint64_t counter;
	int unknown;
};

struct series_tx {
	uint32_t *slot; /* open addressing, linear probing: an id, 0 when free */
	size_t nslot, count;
	struct tx_entry *ent; /* by id - 1 */
	size_t capent;
	struct tx_keys *keys; /* the newest block first */
	uint32_t max;
	struct tx_block *arena; /* the block in use first; the first block last */
	char *key;              /* a sample's key, as looked up */
	size_t keycap;
	uint32_t last; /* the id the last sample had; 0: none */
};

static void *arena_alloc(struct series_tx *t, size_t size)
{
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
	while (t->keys != NULL) {
		struct tx_keys *next = t->keys->next;

		free(t->keys);
		t->keys = next;
	}
	memset(t->slot, 0, t->nslot * sizeof(*t->slot));
	t->count = 0;
	t->last = 0;
}

struct series_tx *series_tx_new(uint32_t max)
{
	struct series_tx *t = xcalloc(1, sizeof(*t));

	t->max = max ? max : 1;
	t->nslot = 64;
	t->slot = xcalloc(t->nslot, sizeof(*t->slot));
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
	free(t->ent);
	free(t->slot);
	free(t);
}

void series_tx_reset(struct series_tx *t, uint32_t max)
{
	tx_clear(t);
	t->max = max ? max : 1;
}

size_t series_tx_count(const struct series_tx *t)
{
	return t->count;
}

size_t series_tx_bytes(const struct series_tx *t)
{
	size_t n = sizeof(*t) + t->nslot * sizeof(*t->slot) + t->capent * sizeof(*t->ent) +
		   t->keycap;

	for (const struct tx_keys *k = t->keys; k != NULL; k = k->next)
		n += sizeof(*k) + k->size;
	return n;
}

static void tx_grow(struct series_tx *t)
{
	size_t mask;

	free(t->slot);
	t->nslot *= 2;
	mask = t->nslot - 1;
	t->slot = xcalloc(t->nslot, sizeof(*t->slot));
	for (size_t i = 0; i < t->count; i++) {
		size_t j;

		for (j = t->ent[i].hash & mask; t->slot[j] != 0; j = (j + 1) & mask)
			;
		t->slot[j] = (uint32_t)(i + 1);
	}
}

/* A copy of a key, kept until the table is cleared. */
static const char *tx_key_keep(struct series_tx *t, const char *key, size_t n)
{
	struct tx_keys *b = t->keys;
	char *k;

	if (b == NULL || b->size - b->used < n) {
		size_t size = n > TX_KEY_BLOCK ? n : TX_KEY_BLOCK;

		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = t->keys;
		t->keys = b;
	}
	k = b->data + b->used;
	memcpy(k, key, n);
	b->used += n;
	return k;
}

/*
 * The sample's series id on this session; *is_new is set when it was not
 * defined yet (the caller sends a SeriesDef). 0 when it was not and the
 * table is full. The key is host NUL check NUL instance NUL metric NUL,
 * then kind, interval and width.
 */
static uint32_t tx_lookup(struct series_tx *t, const struct tx_sample *s, int *is_new)
{
	size_t cap = s->len[0] + s->len[1] + s->len[2] + s->len[3] + 4 + 3 * sizeof(uint32_t);
	uint32_t tail[3] = {s->kind, s->interval, s->width ? s->width : 64};
	size_t n = 0, j, mask = t->nslot - 1;
	struct tx_entry *e;
	char *key;
	uint32_t h, id;

	/* built where the last one was: a series already defined costs no allocation */
	if (cap > t->keycap) {
		free(t->key);
		t->keycap = cap > 256 ? cap : 256;
		t->key = xmalloc(t->keycap);
	}
	key = t->key;
	for (size_t k = 0; k < 4; k++) {
		memcpy(key + n, s->name[k], s->len[k]);
		n += s->len[k];
		key[n++] = '\0';
	}
	memcpy(key + n, tail, sizeof(tail));
	n += sizeof(tail);
	*is_new = 0;
	/*
	 * Ids are given in the order series are first seen, and a check sends
	 * its series in the same order at every run: the series after the last
	 * one is nearly always the next id, found without hashing the key.
	 */
	if (t->last < t->count) {
		e = &t->ent[t->last];
		if (e->keylen == n && memcmp(e->key, key, n) == 0)
			return ++t->last;
	}
	h = (uint32_t)hash_fnv1a(key, n);
	for (j = h & mask; (id = t->slot[j]) != 0; j = (j + 1) & mask) {
		e = &t->ent[id - 1];
		if (e->hash == h && e->keylen == n && memcmp(e->key, key, n) == 0)
			return t->last = id;
	}
	/* not defined, and no room: the caller starts the table again */
	if (t->count == t->max)
		return 0;
	if (t->count == t->capent) {
		t->capent = t->capent ? 2 * t->capent : 256;
		if (t->capent > t->max)
			t->capent = t->max;
		t->ent = xreallocarray(t->ent, t->capent, sizeof(*t->ent));
	}
	e = &t->ent[t->count];
	e->key = tx_key_keep(t, key, n);
	e->hash = h;
	e->keylen = (uint32_t)n;
	id = (uint32_t)++t->count;
	t->slot[j] = id;
	t->last = id;
	*is_new = 1;
	if (t->count * 2 > t->nslot)
		tx_grow(t);
	return id;
}

/*
 * The full form is read here by hand, not by protobuf-c, which would make
 * an allocation per sample and per name. The reader is strict: anything
 * but the fields the agent writes, in the wire types it writes them, makes
 * series_tx_compact give up (the batch then goes in the full form).
 */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

/* The varint at *p (before end): 0, or -1 when it is cut or longer than 10 bytes. */
static inline int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t n = 0;

	/* most are one byte: a key, a short name's length, a small number */
	if (*p < end && !(**p & 0x80)) {
		*v = *(*p)++;
		return 0;
	}
	for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;

		n |= shift < 64 ? (uint64_t)(c & 0x7f) << shift : 0;
		if (!(c & 0x80)) {
			*v = n;
			return 0;
		}
	}
	return -1;
}

/* The next field's number and wire type, and for WT_LEN its bytes in [*vs, *ve). */
static int rd_field(const uint8_t **p, const uint8_t *end, uint32_t *num, int *wt,
		    const uint8_t **vs, const uint8_t **ve, uint64_t *v)
{
	uint64_t key;

	if (rd_varint(p, end, &key) < 0 || key >> 3 == 0 || key >> 3 > 0x1fffffff)
		return -1;
	*num = (uint32_t)(key >> 3);
	*wt = (int)(key & 7);
	switch (*wt) {
	case WT_VARINT:
		*vs = *p;
		return rd_varint(p, end, v);
	case WT_I64:
		if (end - *p < 8)
			return -1;
		*vs = *p;
		*p += 8;
		return 0;
	case WT_LEN:
		if (rd_varint(p, end, v) < 0 || *v > (uint64_t)(end - *p))
			return -1;
		*vs = *p;
		*p += *v;
		*ve = *p;
		return 0;
	}
	return -1;
}

/*
 * One Sample message in [p, end); -1 if it holds anything the agent does not
 * write. Read inline, field by field: the agent's fields are numbered below
 * 16, so each key is one byte (a longer one is refused, as any other field).
 */
static int rd_sample(const uint8_t *p, const uint8_t *end, struct tx_sample *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t k = 0; k < 4; k++)
		s->name[k] = "";
	while (p < end) {
		uint8_t key = *p++;
		uint32_t num = key >> 3;
		const uint8_t *vs = p, *nul;
		uint64_t v;

		switch (key & 0x87) {
		case WT_LEN:
			if (num < 1 || num > 4 || rd_varint(&p, end, &v) < 0 ||
			    v > (uint64_t)(end - p))
				return -1;
			/* a name ends at its first NUL, as a C string does */
			nul = memchr(p, '\0', (size_t)v);
			s->name[num - 1] = (const char *)p;
			s->len[num - 1] = nul != NULL ? (size_t)(nul - p) : (size_t)v;
			p += v;
			break;
		case WT_I64:
			if (num != 7 || end - p < 8)
				return -1;
			memcpy(&s->value, p, sizeof(s->value));
			p += 8;
			break;
		case WT_VARINT:
			if (rd_varint(&p, end, &v) < 0)
				return -1;
			switch (num) {
			case 5:
				s->time_ms = (int64_t)v;
				break;
			case 6:
				s->kind = (uint32_t)v;
				break;
			case 8:
				s->counter = v;
				break;
			case 9:
				s->interval = (uint32_t)v;
				break;
			case 10:
				/* as protobuf-c reads a bool: any bit set in any byte */
				s->unknown = 0;
				for (const uint8_t *q = vs; q < p; q++)
					s->unknown |= (*q & 0x7f) != 0;
				break;
			case 11:
				s->width = (uint32_t)v;
				break;
			default:
				return -1;
			}
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* A NUL-terminated copy of a name, in the arena (a SeriesDef holds C strings). */
static char *tx_name(struct series_tx *t, const char *name, size_t len)
{
	char *c = arena_alloc(t, len + 1);

	memcpy(c, name, len);
	c[len] = '\0';
	return c;
}

/* The full-form batch in frame, read: its samples, and its Results and Events as they are. */
struct tx_batch {
	uint64_t seq;
	struct tx_sample *samples;
	size_t n;
	const uint8_t *raw[2]; /* Results, then Events: runs of fields copied as they are */
	size_t nraw;           /* bytes in them */
	uint8_t *rawbuf;
};

static int rd_batch(struct series_tx *t, const uint8_t *frame, size_t len, struct tx_batch *b)
{
	const uint8_t *p = frame + FRAME_HDR_LEN, *end = frame + len, *vs = NULL, *ve = NULL, *bs;
	size_t cap = 0;
	uint32_t num;
	uint64_t v;
	int wt;

	memset(b, 0, sizeof(*b));
	/* a Frame holding exactly one field: the Batch */
	if (len <= FRAME_HDR_LEN || rd_field(&p, end, &num, &wt, &vs, &ve, &v) < 0 ||
	    num != VAKT__FRAME__MSG_BATCH || wt != WT_LEN || p != end)
		return -1;
	/* the samples counted first, so that their array is made once */
	for (p = vs, end = ve; p < end;) {
		const uint8_t *fs, *fe;

		if (rd_field(&p, end, &num, &wt, &fs, &fe, &v) < 0)
			return -1;
		cap += num == 2 && wt == WT_LEN;
	}
	if (cap > t->max)
		return -1;
	b->samples = arena_alloc(t, (cap ? cap : 1) * sizeof(*b->samples));
	b->rawbuf = arena_alloc(t, (size_t)(ve - vs));
	for (p = vs, end = ve; p < end;) {
		bs = p;
		if (rd_field(&p, end, &num, &wt, &vs, &ve, &v) < 0)
			return -1;
		if (num == 1 && wt == WT_VARINT) {
			b->seq = v;
		} else if (num == 2 && wt == WT_LEN) {
			if (rd_sample(vs, ve, &b->samples[b->n++]) < 0)
				return -1;
		} else if ((num == 3 || num == 10) && wt == WT_LEN) {
			/* a Result or an Event: the compact form carries it as it is */
			memcpy(b->rawbuf + b->nraw, bs, (size_t)(p - bs));
			b->nraw += (size_t)(p - bs);
		} else {
			/* a compact field, or one the agent does not write */
			return -1;
		}
	}
	return b->n > 0 ? 0 : -1;
}

uint8_t *series_tx_compact(struct series_tx *t, const uint8_t *frame, size_t len, size_t *outlen)
{
	Vakt__Batch b = VAKT__BATCH__INIT;
	Vakt__SeriesDef *defs, **pdefs;
	struct tx_batch in;
	size_t n, ng = 0, nc = 0, nu = 0, nd = 0, packed, body;
	int64_t prev = 0;
	uint8_t *res, *p;
	uint32_t be;

	if (rd_batch(t, frame, len, &in) < 0) {
		arena_reset(t);
		return NULL;
	}
	n = in.n;
	b.seq = in.seq;
	b.sid = arena_alloc(t, n * sizeof(*b.sid));
	b.dtime_ms = arena_alloc(t, n * sizeof(*b.dtime_ms));
	b.gauge = arena_alloc(t, n * sizeof(*b.gauge));
	b.counter = arena_alloc(t, n * sizeof(*b.counter));
	b.unknown = arena_alloc(t, n * sizeof(*b.unknown));
	defs = arena_alloc(t, n * sizeof(*defs));
	pdefs = arena_alloc(t, n * sizeof(*pdefs));
again:
	for (size_t i = 0; i < n; i++) {
		const struct tx_sample *s = &in.samples[i];
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
			d->host = tx_name(t, s->name[0], s->len[0]);
			d->check = tx_name(t, s->name[1], s->len[1]);
			d->instance = tx_name(t, s->name[2], s->len[2]);
			d->metric = tx_name(t, s->name[3], s->len[3]);
			d->kind = (Vakt__Kind)s->kind;
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
	/* the Frame by hand: its Batch field, the compact fields, then the Results and Events */
	packed = vakt__batch__get_packed_size(&b);
	body = packed + in.nraw;
	*outlen = FRAME_HDR_LEN + 1 + frame_varint_len(body) + body;
	res = xmalloc(*outlen);
	be = htonl((uint32_t)(*outlen - FRAME_HDR_LEN));
	memcpy(res, &be, sizeof(be));
	p = res + FRAME_HDR_LEN;
	*p++ = VAKT__FRAME__MSG_BATCH << 3 | WT_LEN;
	p = frame_put_varint(p, body);
	p += vakt__batch__pack(&b, p);
	if (in.nraw > 0)
		memcpy(p, in.rawbuf, in.nraw);
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
	uint32_t file;   /* series_rx_file */
	int verdict;     /* series_rx_verdict */
};

struct series_rx {
	struct rx_def *def; /* by id - 1; host NULL: not defined */
	uint32_t ndef, max;
	uint32_t defined; /* definitions made, up to UINT32_MAX */
	uint32_t files;   /* file numbers handed out, up to UINT32_MAX */
	uint32_t last;    /* the id defined last; 0: none */
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

uint32_t series_rx_max(const struct series_rx *r)
{
	return r->max;
}

uint32_t series_rx_defined(const struct series_rx *r)
{
	return r->defined;
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
	{
		const struct rx_def *l = r->last ? &r->def[r->last - 1] : NULL;

		/* a device's metrics are defined in a row: the same file as the one before */
		if (l != NULL && l != x && l->host != NULL && l->file != 0 &&
		    strcmp(l->host, x->host) == 0 && strcmp(l->check, x->check) == 0 &&
		    strcmp(l->instance, x->instance) == 0) {
			x->file = l->file;
		} else {
			if (r->files < UINT32_MAX)
				r->files++;
			x->file = r->files < UINT32_MAX ? r->files : 0;
		}
	}
	r->last = d->id;
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

uint32_t series_rx_file(const struct series_rx *r, uint32_t id)
{
	if (id == 0 || id > r->ndef || r->def[id - 1].host == NULL)
		return 0;
	return r->def[id - 1].file;
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
