/*
 * series_wire.c - the compact form of a batch (see series_wire.h).
 */
#include "series_wire.h"

#include <math.h>
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
 * The table of the series a session has defined holds next to nothing per
 * series, since an agent polling a thousand switches defines 600,000 of
 * them. A series is a file (host, check, instance) and a metric (metric,
 * kind, interval, width), each kept once in a set of its own. Ids are given
 * in the order series are first seen, and a check sends a file's series in
 * a row: a file keeps its ids as runs [first, first + n), each with the
 * metrics of its ids in order, its shape. Shapes are shared: every port of
 * a switch, and every switch of a profile, has the same metrics in the same
 * order. A shape is a node of a trie (one metric more is a child), whose
 * metrics in order sit in one array of the node pool; a child extends its
 * parent's array in place when that array ends the pool, so that a row of
 * n metrics takes n entries, not n * (n + 1) / 2.
 */

#define TX_NONE UINT32_MAX

/* A set of byte strings, each with an index (in the order they were added). */
struct tx_str {
	uint32_t off, len; /* in the set's bytes */
	uint32_t hash;
};

struct tx_set {
	char *bytes;
	size_t used, cap;
	struct tx_str *str; /* by index */
	uint32_t n, capstr;
	uint32_t *slot; /* open addressing, linear probing: an index + 1, 0 when free */
	uint32_t nslot;
};

/* Ids [first, first + the node's depth) of one file, with the node's metrics. */
struct tx_run {
	uint32_t first; /* 0: none */
	uint32_t node;
	uint32_t older; /* the file's run before this one: its index in `xrun` + 1; 0: none */
};

/* A shape: its parent's metrics, then `metric`; at path[path .. path + depth). */
struct tx_node {
	uint32_t parent, metric, depth, path;
};

/* The index of key, or TX_NONE; *pos gets the slot where it would go. */
static uint32_t set_find(const struct tx_set *s, const char *key, size_t len, uint32_t hash,
			 uint32_t *pos)
{
	uint32_t mask = s->nslot - 1, j, i;

	for (j = hash & mask; (i = s->slot[j]) != 0; j = (j + 1) & mask) {
		const struct tx_str *e = &s->str[i - 1];

		if (e->hash == hash && e->len == len && memcmp(s->bytes + e->off, key, len) == 0)
			return i - 1;
	}
	*pos = j;
	return TX_NONE;
}

static void set_init(struct tx_set *s)
{
	memset(s, 0, sizeof(*s));
	s->nslot = 64;
	s->slot = xcalloc(s->nslot, sizeof(*s->slot));
}

static void set_clear(struct tx_set *s)
{
	memset(s->slot, 0, s->nslot * sizeof(*s->slot));
	s->n = 0;
	s->used = 0;
}

static void set_free(struct tx_set *s)
{
	free(s->bytes);
	free(s->str);
	free(s->slot);
}

static size_t set_bytes(const struct tx_set *s)
{
	return s->cap + (size_t)s->capstr * sizeof(*s->str) + (size_t)s->nslot * sizeof(*s->slot);
}

/* Grows an array of *cap elements to hold n + 1 (at most UINT32_MAX - 1). */
static void *tx_room(void *p, uint32_t n, uint32_t *cap, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? (*cap > UINT32_MAX / 2 ? UINT32_MAX - 1 : 2 * *cap) : 64;
	return xreallocarray(p, *cap, size);
}

/* Adds key (not in s; *pos from set_find): its index, or TX_NONE when s is full. */
static uint32_t set_add(struct tx_set *s, const char *key, size_t len, uint32_t hash, uint32_t pos)
{
	uint32_t i = s->n;

	if (s->n >= UINT32_MAX / 2 - 1 || len > UINT32_MAX - s->used)
		return TX_NONE;
	if (s->cap - s->used < len) {
		size_t cap = s->cap ? s->cap : 4096;

		while (cap - s->used < len)
			cap *= 2;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		s->bytes = xreallocarray(s->bytes, cap, 1);
		s->cap = cap;
	}
	s->str = tx_room(s->str, s->n, &s->capstr, sizeof(*s->str));
	memcpy(s->bytes + s->used, key, len);
	s->str[i] = (struct tx_str){.off = (uint32_t)s->used, .len = (uint32_t)len, .hash = hash};
	s->used += len;
	s->slot[pos] = ++s->n;
	/* at most three quarters full: probes stay short */
	if ((size_t)s->n * 4 > (size_t)s->nslot * 3) {
		uint32_t mask;

		free(s->slot);
		s->nslot *= 2;
		mask = s->nslot - 1;
		s->slot = xcalloc(s->nslot, sizeof(*s->slot));
		for (uint32_t k = 0; k < s->n; k++) {
			uint32_t j;

			for (j = s->str[k].hash & mask; s->slot[j] != 0; j = (j + 1) & mask)
				;
			s->slot[j] = k + 1;
		}
	}
	return i;
}

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

/* A sample's series as looked up: its names (in the frame, not NUL-terminated) and the rest. */
struct tx_key {
	const char *name[4]; /* host, check, instance, metric */
	size_t len[4];
	uint32_t kind, interval, width;
	int same_file; /* the file is the last sample's: not compared */
};

struct series_tx {
	struct tx_set files;   /* host NUL check NUL instance */
	struct tx_set metrics; /* metric NUL, then kind, interval and width */
	struct tx_run *frun;   /* by file: its newest run */
	uint32_t capfrun;
	struct tx_run *xrun; /* the files' older runs */
	uint32_t nxrun, capxrun;
	struct tx_node *node; /* node 0: the empty shape */
	uint32_t nnode, capnode;
	uint32_t *nslot; /* (parent, metric) -> node index + 1 */
	uint32_t nnslot;
	uint32_t *path; /* the nodes' metrics */
	uint32_t npath, cappath;
	size_t count;
	uint32_t max;
	struct tx_block *arena; /* the block in use first; the first block last */
	char *key;              /* a sample's keys, as looked up */
	size_t keycap;
	uint8_t *defs; /* the batch's SeriesDefs, as written */
	size_t defcap;
	/* where the last sample's series is: the next sample's is nearly always after it */
	uint32_t lfile, lrun, lpos; /* lrun: 0 the file's newest run, else xrun[lrun - 1] */
};

static uint32_t node_hash(uint32_t parent, uint32_t metric)
{
	uint64_t h = ((uint64_t)parent << 32 | metric) * 0x9e3779b97f4a7c15ULL;

	return (uint32_t)(h >> 32);
}

/* The shape `parent` and `metric` after it, made when new; TX_NONE when the pool is full. */
static uint32_t tx_child(struct series_tx *t, uint32_t parent, uint32_t metric)
{
	uint32_t mask = t->nnslot - 1, h = node_hash(parent, metric), j, i, path;
	struct tx_node p = t->node[parent];

	for (j = h & mask; (i = t->nslot[j]) != 0; j = (j + 1) & mask)
		if (t->node[i - 1].parent == parent && t->node[i - 1].metric == metric)
			return i - 1;
	if (t->nnode >= UINT32_MAX / 2 - 1 || p.depth + 1 > UINT32_MAX - 1 - t->npath)
		return TX_NONE;
	/* the parent's array grows in place when nothing follows it, else is copied */
	if (p.path + p.depth == t->npath) {
		path = p.path;
	} else {
		path = t->npath;
		for (uint32_t k = 0; k < p.depth; k++) {
			t->path = tx_room(t->path, t->npath, &t->cappath, sizeof(*t->path));
			t->path[t->npath++] = t->path[p.path + k];
		}
	}
	t->path = tx_room(t->path, t->npath, &t->cappath, sizeof(*t->path));
	t->path[t->npath++] = metric;
	t->node = tx_room(t->node, t->nnode, &t->capnode, sizeof(*t->node));
	i = t->nnode++;
	t->node[i] = (struct tx_node){
	    .parent = parent, .metric = metric, .depth = p.depth + 1, .path = path};
	t->nslot[j] = i + 1;
	if ((size_t)t->nnode * 4 > (size_t)t->nnslot * 3) {
		free(t->nslot);
		t->nnslot *= 2;
		mask = t->nnslot - 1;
		t->nslot = xcalloc(t->nnslot, sizeof(*t->nslot));
		/* node 0, the empty shape, is nobody's child */
		for (uint32_t k = 1; k < t->nnode; k++) {
			for (j = node_hash(t->node[k].parent, t->node[k].metric) & mask;
			     t->nslot[j] != 0; j = (j + 1) & mask)
				;
			t->nslot[j] = k + 1;
		}
	}
	return i;
}

static struct tx_run *tx_run(struct series_tx *t, uint32_t file, uint32_t run)
{
	return run == 0 ? &t->frun[file] : &t->xrun[run - 1];
}

static void tx_clear(struct series_tx *t)
{
	set_clear(&t->files);
	set_clear(&t->metrics);
	memset(t->nslot, 0, t->nnslot * sizeof(*t->nslot));
	t->nxrun = 0;
	t->nnode = 1; /* the empty shape */
	t->npath = 0;
	t->count = 0;
	t->lfile = TX_NONE;
	t->lrun = t->lpos = 0;
}

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

struct series_tx *series_tx_new(uint32_t max)
{
	struct series_tx *t = xcalloc(1, sizeof(*t));

	t->max = max ? max : 1;
	set_init(&t->files);
	set_init(&t->metrics);
	t->nnslot = 64;
	t->nslot = xcalloc(t->nnslot, sizeof(*t->nslot));
	t->node = tx_room(NULL, 0, &t->capnode, sizeof(*t->node));
	t->node[0] = (struct tx_node){0, 0, 0, 0};
	tx_clear(t);
	return t;
}

void series_tx_free(struct series_tx *t)
{
	if (t == NULL)
		return;
	arena_reset(t);
	free(t->arena);
	free(t->key);
	free(t->defs);
	free(t->path);
	free(t->nslot);
	free(t->node);
	free(t->xrun);
	free(t->frun);
	set_free(&t->metrics);
	set_free(&t->files);
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
	return sizeof(*t) + set_bytes(&t->files) + set_bytes(&t->metrics) +
	       (size_t)t->capfrun * sizeof(*t->frun) + (size_t)t->capxrun * sizeof(*t->xrun) +
	       (size_t)t->capnode * sizeof(*t->node) + (size_t)t->nnslot * sizeof(*t->nslot) +
	       (size_t)t->cappath * sizeof(*t->path) + t->keycap + t->defcap;
}

/* The id of `metric` in `file`'s runs (the run in *run, its place in *pos), or 0. */
static uint32_t tx_find(const struct series_tx *t, uint32_t file, uint32_t metric, uint32_t *run,
			uint32_t *pos)
{
	uint32_t r = 0;

	do {
		const struct tx_run *x = r == 0 ? &t->frun[file] : &t->xrun[r - 1];
		const struct tx_node *n = &t->node[x->node];

		for (uint32_t k = 0; k < n->depth; k++)
			if (t->path[n->path + k] == metric) {
				*run = r;
				*pos = k;
				return x->first + k;
			}
		r = x->older;
	} while (r != 0);
	return 0;
}

/*
 * a[0..n) == b[0..n): names are short, and two overlapping loads compare
 * one of up to 16 bytes without a call.
 */
static inline int tx_eq(const char *a, const char *b, size_t n)
{
	uint64_t x, y, u, v;
	uint32_t x4, y4, u4, v4;

	if (n >= 8 && n <= 16) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		memcpy(&u, a + n - 8, 8);
		memcpy(&v, b + n - 8, 8);
		return ((x ^ y) | (u ^ v)) == 0;
	}
	if (n >= 4 && n < 8) {
		memcpy(&x4, a, 4);
		memcpy(&y4, b, 4);
		memcpy(&u4, a + n - 4, 4);
		memcpy(&v4, b + n - 4, 4);
		return ((x4 ^ y4) | (u4 ^ v4)) == 0;
	}
	if (n < 4) {
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return 0;
		return 1;
	}
	return memcmp(a, b, n) == 0;
}

/* dst[0..n) = src[0..n), the same way: most names are 4 to 16 bytes. */
static inline void tx_copy(void *dst, const void *src, size_t n)
{
	uint64_t x, u;
	uint32_t x4, u4;

	if (n >= 8 && n <= 16) {
		memcpy(&x, src, 8);
		memcpy(&u, (const char *)src + n - 8, 8);
		memcpy(dst, &x, 8);
		memcpy((char *)dst + n - 8, &u, 8);
	} else if (n >= 4 && n < 8) {
		memcpy(&x4, src, 4);
		memcpy(&u4, (const char *)src + n - 4, 4);
		memcpy(dst, &x4, 4);
		memcpy((char *)dst + n - 4, &u4, 4);
	} else if (n < 4) {
		for (size_t i = 0; i < n; i++)
			((char *)dst)[i] = ((const char *)src)[i];
	} else {
		memcpy(dst, src, n);
	}
}

/* Whether kept file f is the sample's host NUL check NUL instance. */
static inline int tx_file_is(const struct series_tx *t, uint32_t f, const struct tx_key *s)
{
	const struct tx_str *e;
	const char *p;
	size_t l0 = s->len[0], l1 = s->len[1];

	if (f >= t->files.n)
		return 0;
	e = &t->files.str[f];
	if (e->len != l0 + l1 + s->len[2] + 2)
		return 0;
	p = t->files.bytes + e->off;
	/* the instance first: a device's files differ in it */
	return tx_eq(p + l0 + l1 + 2, s->name[2], s->len[2]) && p[l0] == '\0' &&
	       p[l0 + 1 + l1] == '\0' && tx_eq(p, s->name[0], l0) &&
	       tx_eq(p + l0 + 1, s->name[1], l1);
}

/* Whether kept metric m is the sample's metric NUL, then tail (kind, interval, width). */
static inline int tx_metric_is(const struct series_tx *t, uint32_t m, const struct tx_key *s,
			       const uint32_t tail[3])
{
	const struct tx_str *e = &t->metrics.str[m];
	const char *p = t->metrics.bytes + e->off;
	size_t l = s->len[3];

	return e->len == l + 1 + 3 * sizeof(uint32_t) && p[l] == '\0' &&
	       tx_eq(p + l + 1, (const char *)tail, 3 * sizeof(uint32_t)) &&
	       tx_eq(p, s->name[3], l);
}

/*
 * The sample's series id on this session; *is_new is set when it was not
 * defined yet (the caller sends a SeriesDef). 0 when it was not and the
 * table is full.
 */
static uint32_t tx_lookup(struct series_tx *t, const struct tx_key *s, int *is_new)
{
	size_t cap = s->len[0] + s->len[1] + s->len[2] + s->len[3] + 3 + 3 * sizeof(uint32_t);
	uint32_t tail[3] = {s->kind, s->interval, s->width ? s->width : 64};
	uint32_t f = TX_NONE, m, fh = 0, mh, fpos = 0, mpos = 0, run = 0, pos = 0, id;
	size_t flen = 0, mlen;
	struct tx_run *x;
	char *fkey, *mkey;

	*is_new = 0;
	/*
	 * A check sends its series in the same order at every run: the file is
	 * nearly always the last sample's, or the one made after it, and the
	 * metric the one after the last sample's in its run, or the first of
	 * the file's newest run. Found so, a series costs no key and no hashing.
	 */
	if ((s->same_file && t->lfile != TX_NONE) || tx_file_is(t, t->lfile, s)) {
		f = t->lfile;
		run = t->lrun;
		pos = t->lpos + 1;
	} else if (tx_file_is(t, t->lfile + 1, s)) {
		f = t->lfile + 1;
	}
	if (f != TX_NONE) {
		const struct tx_node *n;

		x = tx_run(t, f, run);
		n = &t->node[x->node];
		/* past the run's end: the file may start again (a device of one file) */
		if (pos == n->depth) {
			x = &t->frun[f];
			n = &t->node[x->node];
			run = pos = 0;
		}
		if (pos < n->depth && tx_metric_is(t, t->path[n->path + pos], s, tail)) {
			id = x->first + pos;
			goto found;
		}
	}
	/* the keys, built where the last ones were: no allocation */
	if (cap > t->keycap) {
		free(t->key);
		t->keycap = cap > 256 ? cap : 256;
		t->key = xmalloc(t->keycap);
	}
	fkey = t->key;
	for (size_t k = 0; k < 3; k++) {
		memcpy(fkey + flen, s->name[k], s->len[k]);
		flen += s->len[k];
		if (k < 2)
			fkey[flen++] = '\0';
	}
	mkey = fkey + flen;
	memcpy(mkey, s->name[3], s->len[3]);
	mlen = s->len[3];
	mkey[mlen++] = '\0';
	memcpy(mkey + mlen, tail, sizeof(tail));
	mlen += sizeof(tail);
	if (f == TX_NONE) {
		fh = (uint32_t)hash_fnv1a(fkey, flen);
		f = set_find(&t->files, fkey, flen, fh, &fpos);
	}
	mh = (uint32_t)hash_fnv1a(mkey, mlen);
	m = set_find(&t->metrics, mkey, mlen, mh, &mpos);
	if (f != TX_NONE && m != TX_NONE && (id = tx_find(t, f, m, &run, &pos)) != 0)
		goto found;
	/* not defined, and no room: the caller starts the table again */
	if (t->count == t->max)
		return 0;
	if (m == TX_NONE && (m = set_add(&t->metrics, mkey, mlen, mh, mpos)) == TX_NONE)
		return 0;
	if (f == TX_NONE) {
		t->frun = tx_room(t->frun, t->files.n, &t->capfrun, sizeof(*t->frun));
		if ((f = set_add(&t->files, fkey, flen, fh, fpos)) == TX_NONE)
			return 0;
		t->frun[f] = (struct tx_run){0, 0, 0};
	}
	id = (uint32_t)t->count + 1;
	x = &t->frun[f];
	if (x->first != 0 && x->first + t->node[x->node].depth == id) {
		/* the file's newest run ends with the last id defined: it grows */
		uint32_t c = tx_child(t, x->node, m);

		if (c == TX_NONE)
			return 0;
		x->node = c;
	} else {
		uint32_t c = tx_child(t, 0, m);

		if (c == TX_NONE)
			return 0;
		if (x->first != 0) {
			/* the file's series go on elsewhere: its newest run moves aside */
			t->xrun = tx_room(t->xrun, t->nxrun, &t->capxrun, sizeof(*t->xrun));
			t->xrun[t->nxrun++] = *x;
			x->older = t->nxrun;
		}
		x->first = id;
		x->node = c;
	}
	t->count++;
	*is_new = 1;
	run = 0;
	pos = id - x->first;
found:
	t->lfile = f;
	t->lrun = run;
	t->lpos = pos;
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
	const uint8_t *q = *p;
	uint64_t n = 0;

	/* most are one byte: a key, a short name's length, a small number */
	if (q < end && !(*q & 0x80)) {
		*v = *q;
		*p = q + 1;
		return 0;
	}
	/* a time or a counter, with ten bytes or more to go: no check per byte */
	if (end - q >= 10) {
		for (unsigned i = 0; i < 10; i++) {
			n |= (uint64_t)(q[i] & 0x7f) << (7 * i);
			if (!(q[i] & 0x80)) {
				*v = n;
				*p = q + i + 1;
				return 0;
			}
		}
		return -1;
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
 * One Sample message in [p, end), its field begun at `field`; -1 if it holds
 * anything the agent does not write. Read inline, field by field: the
 * agent's fields are numbered below 16, so each key is one byte (a longer
 * one is refused, as any other field).
 */
static int rd_sample(const uint8_t *field, const uint8_t *p, const uint8_t *end,
		     struct series_tx_sample *s)
{
	memset(s, 0, sizeof(*s));
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
			s->name[num - 1] = (uint32_t)(p - field);
			s->len[num - 1] = (uint32_t)(nul != NULL ? (size_t)(nul - p) : (size_t)v);
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

#define PB_KEY(num, wt) ((uint8_t)((num) << 3 | (wt)))

size_t series_tx_sample_max(const size_t lens[4])
{
	/* the field's key and length, then each field's key and longest varint */
	return 1 + 10 + lens[0] + lens[1] + lens[2] + lens[3] + 4 * (1 + 10) + 7 * (1 + 10);
}

/*
 * By hand, not by protobuf-c, which would size each sample three times on
 * its way into a batch. The sample is written after a one-byte length and
 * moved on when its length takes more: nearly every one is shorter than 128
 * bytes.
 */
uint8_t *series_tx_put_sample(uint8_t *p, const char *const names[4], const size_t lens[4],
			      const Vakt__Sample *v, struct series_tx_sample *rec,
			      struct series_tx_put *put, int same_file)
{
	uint8_t *field = p, *body = p + 2, *q = body;
	size_t sz, more, i = 0;

	if (same_file && put != NULL && put->flen > 0) {
		memcpy(q, put->file, put->flen);
		for (; i < 3; i++) {
			rec->len[i] = (uint32_t)lens[i];
			rec->name[i] = lens[i] > 0 ? (uint32_t)(body - field) + put->fname[i] : 0;
		}
		q += put->flen;
		same_file = 2; /* kept as it was */
	}
	for (; i < 4; i++) {
		size_t len = lens[i];

		if (i == 3 && put != NULL && same_file != 2) {
			/* the file's names as written, for the samples of it after this one */
			put->flen =
			    (size_t)(q - body) <= sizeof(put->file) ? (size_t)(q - body) : 0;
			memcpy(put->file, body, put->flen);
			for (size_t j = 0; j < 3; j++)
				put->fname[j] = rec->name[j] - (uint32_t)(body - field);
		}
		rec->len[i] = (uint32_t)len;
		rec->name[i] = 0;
		if (len > 0) {
			*q++ = PB_KEY(i + 1, WT_LEN);
			q = frame_put_varint(q, len);
			rec->name[i] = (uint32_t)(q - field);
			tx_copy(q, names[i], len);
			q += len;
		}
	}
	if (v->time_ms != 0) {
		*q++ = PB_KEY(5, WT_VARINT);
		if (put != NULL && put->tlen > 0 && put->time_ms == v->time_ms) {
			/* the same time as the last sample's: its varint again, by 16 bytes */
			memcpy(q, put->time, sizeof(put->time));
			q += put->tlen;
		} else {
			uint8_t *t = q;

			q = frame_put_varint(q, (uint64_t)v->time_ms);
			if (put != NULL) {
				put->time_ms = v->time_ms;
				put->tlen = (size_t)(q - t);
				memcpy(put->time, t, put->tlen);
			}
		}
	}
	if (v->kind != 0) {
		*q++ = PB_KEY(6, WT_VARINT);
		q = frame_put_varint(q, (uint64_t)(int64_t)v->kind);
	}
	if (v->value != 0 || signbit(v->value)) {
		*q++ = PB_KEY(7, WT_I64);
		memcpy(q, &v->value, sizeof(v->value)); /* little-endian, as protobuf has it */
		q += sizeof(v->value);
	}
	if (v->counter != 0) {
		*q++ = PB_KEY(8, WT_VARINT);
		q = frame_put_varint(q, v->counter);
	}
	if (v->interval != 0) {
		*q++ = PB_KEY(9, WT_VARINT);
		q = frame_put_varint(q, v->interval);
	}
	if (v->unknown) {
		*q++ = PB_KEY(10, WT_VARINT);
		*q++ = 1;
	}
	if (v->width != 0) {
		*q++ = PB_KEY(11, WT_VARINT);
		q = frame_put_varint(q, v->width);
	}
	field[0] = PB_KEY(2, WT_LEN); /* Batch field 2: samples */
	sz = (size_t)(q - body);
	more = frame_varint_len(sz) - 1;
	if (more > 0) {
		memmove(body + more, body, sz);
		q += more;
		for (size_t k = 0; k < 4; k++)
			rec->name[k] += rec->len[k] > 0 ? (uint32_t)more : 0;
	}
	frame_put_varint(field + 1, sz);
	rec->at = 0;
	rec->kind = (uint32_t)v->kind;
	rec->interval = v->interval;
	rec->width = v->width;
	rec->unknown = v->unknown != 0;
	rec->same_file = 0;
	rec->time_ms = v->time_ms;
	rec->value = v->value;
	rec->counter = v->counter;
	return q;
}

/* The full-form batch in frame, read: its samples, and its Results and Events as they are. */
struct tx_batch {
	uint64_t seq;
	struct series_tx_sample *samples;
	size_t n;
	size_t nraw;     /* bytes in rawbuf */
	uint8_t *rawbuf; /* Results, Events and `more`: runs of fields copied as they are */
};

static int rd_batch(struct series_tx *t, const uint8_t *frame, size_t len, struct tx_batch *b)
{
	const uint8_t *p = frame + FRAME_HDR_LEN, *end = frame + len, *vs = NULL, *ve = NULL, *bs;
	size_t cap;
	uint32_t num;
	uint64_t v;
	int wt;

	memset(b, 0, sizeof(*b));
	/* a Frame holding exactly one field: the Batch */
	if (len <= FRAME_HDR_LEN || rd_field(&p, end, &num, &wt, &vs, &ve, &v) < 0 ||
	    num != VAKT__FRAME__MSG_BATCH || wt != WT_LEN || p != end)
		return -1;
	/*
	 * Read in one pass: the samples' array made for a batch of the usual
	 * samples (some 60 bytes each), made again twice as large in the arena
	 * when they are more.
	 */
	cap = (size_t)(ve - vs) / 48 + 16;
	b->samples = arena_alloc(t, cap * sizeof(*b->samples));
	b->rawbuf = arena_alloc(t, (size_t)(ve - vs));
	for (p = vs, end = ve; p < end;) {
		bs = p;
		if (rd_field(&p, end, &num, &wt, &vs, &ve, &v) < 0)
			return -1;
		if (num == 1 && wt == WT_VARINT) {
			b->seq = v;
		} else if (num == 2 && wt == WT_LEN) {
			if (b->n == cap) {
				struct series_tx_sample *more =
				    arena_alloc(t, 2 * cap * sizeof(*more));

				memcpy(more, b->samples, cap * sizeof(*more));
				b->samples = more;
				cap *= 2;
			}
			if (rd_sample(bs, vs, ve, &b->samples[b->n]) < 0)
				return -1;
			b->samples[b->n++].at = (uint32_t)(bs - frame);
		} else if (((num == 3 || num == 10) && wt == WT_LEN) || (num == 11 && wt == WT_VARINT)) {
			/* a Result, an Event or `more`: the compact form carries it as it is */
			memcpy(b->rawbuf + b->nraw, bs, (size_t)(p - bs));
			b->nraw += (size_t)(p - bs);
		} else {
			/* a compact field, or one the agent does not write */
			return -1;
		}
	}
	return 0;
}

/*
 * The compact form is written by hand as protobuf-c would write it (fields
 * in order, those at zero left out, repeated numbers packed): protobuf-c
 * would want every value in an array of its own first and size them twice.
 */
static size_t pb_len_field(size_t len)
{
	return 1 + frame_varint_len(len) + len;
}

static uint8_t *pb_put_bytes(uint8_t *p, uint32_t num, const void *bytes, size_t len)
{
	*p++ = PB_KEY(num, WT_LEN);
	p = frame_put_varint(p, len);
	memcpy(p, bytes, len);
	return p + len;
}

/* A packed repeated field: nothing when it has no element. */
static size_t pb_packed_size(size_t len)
{
	return len > 0 ? pb_len_field(len) : 0;
}

static uint8_t *pb_put_packed(uint8_t *p, uint32_t num, const uint8_t *bytes, size_t len)
{
	return len > 0 ? pb_put_bytes(p, num, bytes, len) : p;
}

/* The SeriesDef of series `id`, the sample's k, at the end of the batch's definitions. */
static void def_put(struct series_tx *t, size_t *used, uint32_t id, const struct tx_key *k)
{
	/* an enum is an int32: a negative one takes ten bytes */
	uint64_t kind = (uint64_t)(int64_t)(int32_t)k->kind;
	size_t body = 1 + frame_varint_len(id), need;
	uint8_t *p;

	for (size_t i = 0; i < 4; i++)
		body += k->len[i] > 0 ? pb_len_field(k->len[i]) : 0;
	body += kind != 0 ? 1 + frame_varint_len(kind) : 0;
	body += k->interval != 0 ? 1 + frame_varint_len(k->interval) : 0;
	body += k->width != 0 ? 1 + frame_varint_len(k->width) : 0;
	need = pb_len_field(body);
	if (t->defcap - *used < need) {
		size_t cap = t->defcap ? t->defcap : 4096;

		while (cap - *used < need)
			cap *= 2;
		t->defs = xreallocarray(t->defs, cap, 1);
		t->defcap = cap;
	}
	p = t->defs + *used;
	*p++ = PB_KEY(4, WT_LEN); /* Batch field 4: series */
	p = frame_put_varint(p, body);
	*p++ = PB_KEY(1, WT_VARINT);
	p = frame_put_varint(p, id);
	for (size_t i = 0; i < 4; i++)
		if (k->len[i] > 0)
			p = pb_put_bytes(p, (uint32_t)i + 2, k->name[i], k->len[i]);
	if (kind != 0) {
		*p++ = PB_KEY(6, WT_VARINT);
		p = frame_put_varint(p, kind);
	}
	if (k->interval != 0) {
		*p++ = PB_KEY(7, WT_VARINT);
		p = frame_put_varint(p, k->interval);
	}
	if (k->width != 0) {
		*p++ = PB_KEY(8, WT_VARINT);
		p = frame_put_varint(p, k->width);
	}
	*used = (size_t)(p - t->defs);
}

/*
 * The compact form of batch `seq`: its samples s[0..n), whose names lie in
 * `frame`, then `nraw` bytes of Results, Events and `more` as they are.
 * NULL when the full form goes instead (see series_tx_compact).
 */
static uint8_t *tx_compact(struct series_tx *t, const uint8_t *frame, uint64_t seq,
			   const struct series_tx_sample *s, size_t n, const uint8_t *raw,
			   size_t nraw, size_t *outlen)
{
	uint8_t *sid, *dt, *gauge, *ctr, *unk, *sp, *dp, *gp, *cp, *up, *res, *p;
	size_t ndefs = 0, body;
	int64_t prev = 0, d;
	int cleared = 0;

	/* no sample, or more than ids: the full form goes */
	if (n == 0 || n > t->max)
		return NULL;
	sid = arena_alloc(t, n * 5);
	dt = arena_alloc(t, n * 10);
	gauge = arena_alloc(t, n * sizeof(double));
	ctr = arena_alloc(t, n * 10);
	unk = arena_alloc(t, n * 5);
	/*
	 * Times travel as deltas: one that does not fit (times a real clock
	 * never gives) sends the batch in the full form, before any series is
	 * taken as defined.
	 */
	dp = dt;
	for (size_t i = 0; i < n; i++) {
		if (__builtin_sub_overflow(s[i].time_ms, prev, &d))
			return NULL;
		prev = s[i].time_ms;
		/* sint64: zigzag */
		dp = frame_put_varint(dp, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
	}
again:
	sp = sid;
	gp = gauge;
	cp = ctr;
	up = unk;
	for (size_t i = 0; i < n; i++) {
		const struct series_tx_sample *x = &s[i];
		const char *at = (const char *)frame + x->at;
		struct tx_key k = {
		    .name = {at + x->name[0], at + x->name[1], at + x->name[2], at + x->name[3]},
		    .len = {x->len[0], x->len[1], x->len[2], x->len[3]},
		    .kind = x->kind,
		    .interval = x->interval,
		    .width = x->width,
		    .same_file = i > 0 && x->same_file,
		};
		int is_new;
		uint32_t id = tx_lookup(t, &k, &is_new);

		/*
		 * Full: start again from id 1 and redo the batch, so that no id
		 * means two series within it (n <= max: the second pass fits; if
		 * not, the batch goes in the full form).
		 */
		if (id == 0) {
			tx_clear(t);
			if (cleared)
				return NULL;
			cleared = 1;
			ndefs = 0;
			goto again;
		}
		if (is_new)
			def_put(t, &ndefs, id, &k);
		sp = frame_put_varint(sp, id);
		if (x->kind == VAKT__KIND__GAUGE) {
			memcpy(gp, &x->value, sizeof(x->value));
			gp += sizeof(x->value);
		} else {
			cp = frame_put_varint(cp, x->counter);
		}
		if (x->unknown)
			up = frame_put_varint(up, (uint32_t)i);
	}
	/* the Frame: its Batch field, the compact fields, then the Results and Events */
	body = (seq != 0 ? 1 + frame_varint_len(seq) : 0) + ndefs +
	       pb_packed_size((size_t)(sp - sid)) + pb_packed_size((size_t)(dp - dt)) +
	       pb_packed_size((size_t)(gp - gauge)) + pb_packed_size((size_t)(cp - ctr)) +
	       pb_packed_size((size_t)(up - unk)) + nraw;
	*outlen = FRAME_HDR_LEN + pb_len_field(body);
	res = xmalloc(*outlen);
	p = res;
	*p++ = (uint8_t)((*outlen - FRAME_HDR_LEN) >> 24);
	*p++ = (uint8_t)((*outlen - FRAME_HDR_LEN) >> 16);
	*p++ = (uint8_t)((*outlen - FRAME_HDR_LEN) >> 8);
	*p++ = (uint8_t)(*outlen - FRAME_HDR_LEN);
	*p++ = PB_KEY(VAKT__FRAME__MSG_BATCH, WT_LEN);
	p = frame_put_varint(p, body);
	if (seq != 0) {
		*p++ = PB_KEY(1, WT_VARINT);
		p = frame_put_varint(p, seq);
	}
	if (ndefs > 0)
		memcpy(p, t->defs, ndefs);
	p += ndefs;
	p = pb_put_packed(p, 5, sid, (size_t)(sp - sid));
	p = pb_put_packed(p, 6, dt, (size_t)(dp - dt));
	p = pb_put_packed(p, 7, gauge, (size_t)(gp - gauge));
	p = pb_put_packed(p, 8, ctr, (size_t)(cp - ctr));
	p = pb_put_packed(p, 9, unk, (size_t)(up - unk));
	if (nraw > 0)
		memcpy(p, raw, nraw);
	return res;
}

uint8_t *series_tx_compact(struct series_tx *t, const uint8_t *frame, size_t len, size_t *outlen)
{
	struct tx_batch in;
	uint8_t *res = NULL;

	if (rd_batch(t, frame, len, &in) == 0)
		res = tx_compact(t, frame, in.seq, in.samples, in.n, in.rawbuf, in.nraw, outlen);
	arena_reset(t);
	return res;
}

uint8_t *series_tx_compact_read(struct series_tx *t, const uint8_t *frame, size_t len,
				uint64_t seq, const struct series_tx_sample *s, size_t n, size_t raw,
				size_t *outlen)
{
	uint8_t *res = tx_compact(t, frame, seq, s, n, frame + raw, len - raw, outlen);

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
