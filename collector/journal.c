/*
 * journal.c - the collector's write-ahead journal (see journal.h). A file
 * is a banner and a salt, then records: magic, payload length and CRC-32 of
 * the salt and payload (4 bytes each, little endian), then the payload:
 * stream, seq, site, agent and the batch's samples, each in a few bytes
 * (version 3: names by reference when recently written, time and interval
 * left out when the previous sample's). It never trusts what it reads
 * back: a record that does not check out is skipped to the next one that
 * does (recscan.h), and damage at the end of a file is cut off. A file
 * is made at its full size before it is written (journal_prepare): its
 * banner, then zeros, written and synced, so that a commit's fdatasync
 * writes data only; replay reads the zeros after the last record as the
 * file's clean end.
 */
#include "journal.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "recscan.h"
#include "xmalloc.h"

#define JOURNAL_BANNER     "VAKTJNL3"
#define JOURNAL_BANNER_V2  "VAKTJNL2" /* samples in their long form */
#define JOURNAL_BANNER_V1  "VAKTJNL1" /* the long form, no salt */
#define JOURNAL_MARK_LEN   8          /* the banner's name and version; the salt follows */
#define JOURNAL_SALT_LEN   8
#define JOURNAL_BANNER_LEN (JOURNAL_MARK_LEN + JOURNAL_SALT_LEN)
#define JOURNAL_MAGIC      0x3152564aU /* "JVR1" */
#define JOURNAL_REC_HDR    12
/* A record holds one batch: one frame's worth of samples, far below this. */
/*
 * A record larger than this is corrupt. decode_batch() bounds a batch to
 * DECODE_MAX_ITEMS samples, so a record of a session's batch stays under 30 MB.
 */
#define JOURNAL_REC_MAX (256U * 1024 * 1024)
/* A name length saying "as the previous sample's" (version 1 and 2). */
#define JOURNAL_SAME 0xffffU

/*
 * Version 3's sample: a byte per name, then a byte of flags, the parts the
 * flags do not leave out, and the value. A name's byte is its length
 * (at most SAMPLE_NAME_MAX) followed by its bytes, JOURNAL3_SAME for the
 * previous sample's, or JOURNAL3_RECENT + k for slot k of the ring of the
 * JOURNAL3_RING names of that field written last in the record: a batch's
 * samples cycle through a file's few metrics and instances, and the
 * journal's CRC and write cost by the byte.
 */
#define JOURNAL3_SAME   0xffU
#define JOURNAL3_RECENT 0xf0U
#define JOURNAL3_RING   4
#define J3_KIND_MASK    0x03U /* the sample's kind */
#define J3_UNKNOWN      0x04U
#define J3_HAS_TIME     0x08U /* else the previous sample's */
#define J3_HAS_INTERVAL 0x10U /* else the previous sample's */
#define J3_HAS_WIDTH    0x20U /* else the previous sample's */
#define J3_SAMPLE_MIN   (4 + 1 + 8)
#if SAMPLE_NAME_MAX >= JOURNAL3_RECENT
#error "a name's length must stay below the journal's reference codes"
#endif

struct journal {
	char *dir;
	int fd, dirfd;
	uint64_t cur;  /* number of the file being written */
	uint64_t size; /* its bytes, committed */
	uint64_t *old; /* finished files (of earlier runs too), ascending */
	size_t nold;
	unsigned char *buf; /* appended, not committed */
	size_t len, cap;
	uint8_t salt[JOURNAL_SALT_LEN]; /* the current file's */
	uint64_t segment;               /* a file's size, made ahead; 0: files grow as written */
	uint64_t want;                  /* the size of the next file made ahead (up to segment) */
	/* the next file, made ahead as journal.next: banner, salt, then zeros */
	int next_fd;
	uint64_t next_size, next_done; /* its full size; its bytes written so far */
	uint8_t next_salt[JOURNAL_SALT_LEN];
};

#define JOURNAL_NEXT     "journal.next"
#define JOURNAL_ZERO_BUF (1U << 20) /* zeros written per journal_prepare() call */

/* slicing-by-8: the journal checksums every byte it writes and reads */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
			    (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc_more(uint32_t c, const void *p, size_t n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const unsigned char *b = p;

	pthread_once(&once, crc_init);
	for (; n >= 8; n -= 8, b += 8) {
		uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
				   (uint32_t)b[3] << 24);
		uint32_t hi = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 |
			      (uint32_t)b[7] << 24;

		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
	for (; n > 0; n--, b++)
		c = crc_table[0][(c ^ *b) & 0xff] ^ (c >> 8);
	return c;
}

uint32_t journal_crc32(const void *p, size_t n)
{
	return crc_more(0xffffffffU, p, n) ^ 0xffffffffU;
}

uint32_t journal_record_crc(const uint8_t *salt, const void *p, size_t n)
{
	uint32_t c = 0xffffffffU;

	if (salt != NULL)
		c = crc_more(c, salt, JOURNAL_SALT_LEN);
	return crc_more(c, p, n) ^ 0xffffffffU;
}

/* the path of the file made ahead (JOURNAL_NEXT) in j's directory */
static void next_name(const struct journal *j, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", j->dir, JOURNAL_NEXT);
}

static void file_name(const struct journal *j, uint64_t n, char *buf, size_t len)
{
	snprintf(buf, len, "%s/journal.%010" PRIu64, j->dir, n);
}

/* ---- encoding ---- */

/*
 * The encoder checks the buffer's room once per record part (the header,
 * each sample) and then writes through a cursor: a batch is encoded on the
 * writer thread for every sample the collector takes in.
 */
static unsigned char *room(struct journal *j, size_t n)
{
	if (j->len + n > j->cap) {
		j->cap = (j->len + n) * 2 + 4096;
		j->buf = xreallocarray(j->buf, j->cap, 1);
	}
	return j->buf + j->len;
}

static unsigned char *put_u8(unsigned char *w, uint8_t v)
{
	*w = v;
	return w + 1;
}

/*
 * Little-endian, as one store each: the compiler leaves a loop of byte
 * stores as it is, and the encoder runs for every sample taken in.
 */
static unsigned char *put_u16(unsigned char *w, uint16_t v)
{
	v = htole16(v);
	memcpy(w, &v, sizeof(v));
	return w + 2;
}

static unsigned char *put_u32(unsigned char *w, uint32_t v)
{
	v = htole32(v);
	memcpy(w, &v, sizeof(v));
	return w + 4;
}

static unsigned char *put_u64(unsigned char *w, uint64_t v)
{
	v = htole64(v);
	memcpy(w, &v, sizeof(v));
	return w + 8;
}

/* One field's names as the encoder and decoder of version 3 see them. */
struct j3_names {
	const char *prev;
	const char *ring[JOURNAL3_RING];
	unsigned next; /* the ring's slot a new name takes */
};

/*
 * The code of name `s` in field `f`: JOURNAL3_SAME, JOURNAL3_RECENT + k,
 * or its length (and then `f` remembers it). Pointers are compared first:
 * a batch's samples mostly share their names.
 */
static unsigned j3_code(struct j3_names *f, const char *s)
{
	size_t n;

	if (s == f->prev)
		return JOURNAL3_SAME;
	for (unsigned k = 0; k < JOURNAL3_RING; k++)
		if (f->ring[k] == s) {
			f->prev = s;
			return JOURNAL3_RECENT + k;
		}
	if (f->prev != NULL && strcmp(s, f->prev) == 0) {
		f->prev = s;
		return JOURNAL3_SAME;
	}
	for (unsigned k = 0; k < JOURNAL3_RING; k++)
		if (f->ring[k] != NULL && strcmp(f->ring[k], s) == 0) {
			f->prev = s;
			return JOURNAL3_RECENT + k;
		}
	n = strlen(s);
	if (n > SAMPLE_NAME_MAX)
		n = SAMPLE_NAME_MAX; /* names are validated to fit: never cut in practice */
	f->ring[f->next] = s;
	f->next = (f->next + 1) % JOURNAL3_RING;
	f->prev = s;
	return (unsigned)n;
}

/* site and agent, in version 2's form: a 2-byte length and the bytes */
static unsigned char *put_name(unsigned char *w, const char *s, size_t n)
{
	w = put_u16(w, (uint16_t)n);
	memcpy(w, s, n);
	return w + n;
}

static size_t short_len(const char *s)
{
	size_t n = strlen(s);

	return n < JOURNAL_SAME ? n : JOURNAL_SAME - 1; /* names are at most SAMPLE_NAME_MAX */
}

/* The most a sample takes: four names, flags, width, time, interval, value. */
#define J3_SAMPLE_MAX (4 * (1 + SAMPLE_NAME_MAX) + 1 + 1 + 8 + 4 + 8)

void journal_append(struct journal *j, const struct sample_batch *b)
{
	size_t start = j->len;
	const struct sample *p = NULL;
	const char *agent = b->agent ? b->agent : "";
	size_t nsite = short_len(b->site), nagent = short_len(agent);
	struct j3_names names[4];
	unsigned char *w;
	uint32_t crc;

	memset(names, 0, sizeof(names));
	w = room(j, JOURNAL_REC_HDR + 8 + 8 + 2 + nsite + 1 + 2 + nagent + 4);
	w = put_u32(w, JOURNAL_MAGIC);
	w = put_u32(w, 0); /* length and CRC, once known */
	w = put_u32(w, 0);
	w = put_u64(w, b->stream);
	w = put_u64(w, b->seq);
	w = put_name(w, b->site, nsite);
	w = put_u8(w, b->agent != NULL);
	w = put_name(w, agent, nagent);
	w = put_u32(w, (uint32_t)b->n);
	j->len = (size_t)(w - j->buf);
	for (size_t i = 0; i < b->n; i++) {
		const struct sample *x = &b->v[i];
		const char *v[4] = {x->host, x->check, x->instance, x->metric};
		unsigned flags = ((unsigned)x->kind & J3_KIND_MASK) | (x->unknown ? J3_UNKNOWN : 0);
		uint64_t bits;

		w = room(j, J3_SAMPLE_MAX);
		for (int k = 0; k < 4; k++) {
			unsigned c = j3_code(&names[k], v[k]);

			w = put_u8(w, (uint8_t)c);
			if (c < JOURNAL3_RECENT) {
				memcpy(w, v[k], c);
				w += c;
			}
		}
		if (p == NULL || x->time_ms != p->time_ms)
			flags |= J3_HAS_TIME;
		if (p == NULL || x->interval != p->interval)
			flags |= J3_HAS_INTERVAL;
		if (p == NULL || x->width != p->width)
			flags |= J3_HAS_WIDTH;
		w = put_u8(w, (uint8_t)flags);
		if (flags & J3_HAS_WIDTH)
			w = put_u8(w, (uint8_t)x->width);
		if (flags & J3_HAS_TIME)
			w = put_u64(w, (uint64_t)x->time_ms);
		if (flags & J3_HAS_INTERVAL)
			w = put_u32(w, x->interval);
		if (x->kind == SAMPLE_GAUGE)
			memcpy(&bits, &x->value, sizeof(bits));
		else
			bits = x->counter;
		w = put_u64(w, bits);
		j->len = (size_t)(w - j->buf); /* room() reallocates from it */
		p = x;
	}
	{
		uint32_t len = (uint32_t)(j->len - start - JOURNAL_REC_HDR);
		unsigned char *h = j->buf + start + 4;

		crc = journal_record_crc(j->salt, j->buf + start + JOURNAL_REC_HDR, len);
		for (int i = 0; i < 4; i++) {
			h[i] = (unsigned char)(len >> (8 * i));
			h[4 + i] = (unsigned char)(crc >> (8 * i));
		}
	}
}

size_t journal_pending(const struct journal *j)
{
	return j->len;
}

/* ---- decoding ---- */

struct rd {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

static const unsigned char *get(struct rd *r, size_t n)
{
	const unsigned char *p;

	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t get_uint(struct rd *r, size_t n)
{
	const unsigned char *p = get(r, n);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Copies a name into buf (NUL-terminated); prev is the previous sample's. */
static const char *get_name(struct rd *r, char *buf, size_t buflen, const char *prev)
{
	uint64_t n = get_uint(r, 2);
	const unsigned char *p;

	if (n == JOURNAL_SAME) {
		if (prev == NULL)
			r->bad = 1;
		return prev ? prev : "";
	}
	if (n >= buflen || (p = get(r, n)) == NULL) {
		r->bad = 1;
		return "";
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

/* Version 3's name of field `f` into buf (NUL-terminated); "" and bad when wrong. */
static const char *get_name3(struct rd *r, struct j3_names *f, char *buf)
{
	uint64_t c = get_uint(r, 1);
	const unsigned char *p;

	if (c == JOURNAL3_SAME) {
		if (f->prev == NULL)
			r->bad = 1;
		return f->prev ? f->prev : "";
	}
	if (c >= JOURNAL3_RECENT) {
		if (c - JOURNAL3_RECENT >= JOURNAL3_RING || f->ring[c - JOURNAL3_RECENT] == NULL) {
			r->bad = 1;
			return "";
		}
		return f->ring[c - JOURNAL3_RECENT];
	}
	if (c > SAMPLE_NAME_MAX || (p = get(r, c)) == NULL) {
		r->bad = 1;
		return "";
	}
	memcpy(buf, p, c);
	buf[c] = '\0';
	return buf;
}

/* Version 3's samples of a record into b; r->bad when they do not decode. */
static void decode3(struct rd *r, struct sample_batch *b, uint64_t n)
{
	char names[4][SAMPLE_NAME_MAX + 1];
	struct j3_names f[4];
	const struct sample *p = NULL;

	memset(f, 0, sizeof(f));
	for (uint64_t i = 0; i < n; i++) {
		const char *v[4];
		int lit[4];
		struct sample *x;
		unsigned flags;
		uint64_t bits;

		for (int k = 0; k < 4; k++) {
			v[k] = get_name3(r, &f[k], names[k]);
			lit[k] = v[k] == names[k];
		}
		flags = (unsigned)get_uint(r, 1);
		if (r->bad ||
		    (p == NULL && (flags & (J3_HAS_TIME | J3_HAS_INTERVAL | J3_HAS_WIDTH)) !=
				      (J3_HAS_TIME | J3_HAS_INTERVAL | J3_HAS_WIDTH))) {
			r->bad = 1;
			return;
		}
		x = sample_batch_add(b, v[0], v[1], v[2], v[3]);
		/* the batch's copies are what later samples refer to */
		for (int k = 0; k < 4; k++) {
			const char *mine = k == 0   ? x->host
					   : k == 1 ? x->check
					   : k == 2 ? x->instance
						    : x->metric;

			if (lit[k]) {
				f[k].ring[f[k].next] = mine;
				f[k].next = (f[k].next + 1) % JOURNAL3_RING;
			}
			f[k].prev = mine;
		}
		x->kind = (enum sample_kind)(flags & J3_KIND_MASK);
		x->unknown = (flags & J3_UNKNOWN) != 0;
		x->width = flags & J3_HAS_WIDTH ? (unsigned)get_uint(r, 1) : p->width;
		x->time_ms = flags & J3_HAS_TIME ? (int64_t)get_uint(r, 8) : p->time_ms;
		x->interval = flags & J3_HAS_INTERVAL ? (unsigned)get_uint(r, 4) : p->interval;
		bits = get_uint(r, 8);
		if (x->kind == SAMPLE_GAUGE)
			memcpy(&x->value, &bits, sizeof(bits));
		else
			x->counter = bits;
		if ((flags & ~(J3_KIND_MASK | J3_UNKNOWN | J3_HAS_TIME | J3_HAS_INTERVAL |
			       J3_HAS_WIDTH)) != 0 ||
		    (x->kind != SAMPLE_GAUGE && x->kind != SAMPLE_COUNTER &&
		     x->kind != SAMPLE_DERIVE))
			r->bad = 1;
		if (r->bad)
			return;
		p = x;
	}
}

/* One record's payload as a batch; NULL when it does not decode. */
static struct sample_batch *decode(const unsigned char *p, size_t len, int version)
{
	struct rd r = {p, len, 0, 0};
	char site[SAMPLE_NAME_MAX + 1], agent[SAMPLE_NAME_MAX + 1];
	char names[4][SAMPLE_NAME_MAX + 1];
	const char *prev[4] = {NULL, NULL, NULL, NULL};
	uint64_t stream, seq, n;
	int has_agent;
	struct sample_batch *b;

	stream = get_uint(&r, 8);
	seq = get_uint(&r, 8);
	get_name(&r, site, sizeof(site), NULL);
	has_agent = (int)get_uint(&r, 1);
	get_name(&r, agent, sizeof(agent), NULL);
	n = get_uint(&r, 4);
	/* every sample takes at least 31 bytes (13 in version 3): a count beyond that is a lie */
	if (r.bad || n > (len - r.off) / (version >= 3 ? J3_SAMPLE_MIN : 31))
		return NULL;
	b = sample_batch_new(site, has_agent ? agent : NULL, 0, seq, (size_t)n);
	b->stream = stream;
	if (version >= 3)
		decode3(&r, b, n);
	for (uint64_t i = 0; version < 3 && i < n; i++) {
		const char *v[4];
		struct sample *x;
		uint64_t bits;

		for (int k = 0; k < 4; k++)
			v[k] = get_name(&r, names[k], sizeof(names[k]), prev[k]);
		if (r.bad)
			break;
		x = sample_batch_add(b, v[0], v[1], v[2], v[3]);
		for (int k = 0; k < 4; k++)
			prev[k] = k == 0   ? x->host
				  : k == 1 ? x->check
				  : k == 2 ? x->instance
					   : x->metric;
		x->time_ms = (int64_t)get_uint(&r, 8);
		x->kind = (enum sample_kind)get_uint(&r, 1);
		x->unknown = get_uint(&r, 1) != 0;
		x->width = (unsigned)get_uint(&r, 1);
		x->interval = (unsigned)get_uint(&r, 4);
		bits = get_uint(&r, 8);
		if (x->kind == SAMPLE_GAUGE)
			memcpy(&x->value, &bits, sizeof(bits));
		else
			x->counter = bits;
		if (x->kind != SAMPLE_GAUGE && x->kind != SAMPLE_COUNTER &&
		    x->kind != SAMPLE_DERIVE)
			r.bad = 1;
	}
	if (r.bad || r.off != len) {
		sample_batch_free(b);
		return NULL;
	}
	return b;
}

static int read_all(const char *path, unsigned char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	unsigned char *p;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	p = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*out = p;
	*outlen = got;
	return 0;
}

struct replay_ctx {
	void (*fn)(struct sample_batch *b, void *arg);
	void *arg;
	const uint8_t *salt;      /* the file's; NULL: a file of version 1 */
	int version;              /* the file's: 1, 2 or 3 */
	struct sample_batch *b;   /* what check() decoded, for take() */
	uint64_t samples, lo, hi; /* replayed: samples, the lowest and highest seq */
};

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The size a record header with the right magic claims, when the file holds it. */
static size_t replay_claims(const uint8_t *p, size_t avail, void *arg)
{
	uint32_t rlen;

	(void)arg;
	if (avail < JOURNAL_REC_HDR || get_le32(p) != JOURNAL_MAGIC)
		return 0;
	rlen = get_le32(p + 4);
	return rlen <= JOURNAL_REC_MAX && rlen <= avail - JOURNAL_REC_HDR ? JOURNAL_REC_HDR + rlen
									  : 0;
}

static long replay_check(const uint8_t *p, const uint8_t *prev, size_t avail, void *arg,
			 const char **why)
{
	struct replay_ctx *c = arg;
	uint32_t rlen;

	if (avail < JOURNAL_REC_HDR) {
		*why = "torn record header";
		return 0;
	}
	rlen = get_le32(p + 4);
	if (get_le32(p) != JOURNAL_MAGIC || rlen > JOURNAL_REC_MAX) {
		*why = "bad record header";
		return -1;
	}
	if (rlen > avail - JOURNAL_REC_HDR) {
		*why = "torn record";
		return 0;
	}
	(void)prev;
	if (journal_record_crc(c->salt, p + JOURNAL_REC_HDR, rlen) != get_le32(p + 8)) {
		*why = "checksum mismatch";
		return -1;
	}
	sample_batch_free(c->b);
	if ((c->b = decode(p + JOURNAL_REC_HDR, rlen, c->version)) == NULL) {
		*why = "record does not decode";
		return -1;
	}
	return (long)(JOURNAL_REC_HDR + rlen);
}

static void replay_take(const uint8_t *p, size_t size, size_t off, void *arg)
{
	struct replay_ctx *c = arg;
	struct sample_batch *b = c->b;

	c->b = NULL;
	c->samples += b->n;
	if (c->lo == 0 || b->seq < c->lo)
		c->lo = b->seq;
	if (b->seq > c->hi)
		c->hi = b->seq;
	c->fn(b, c->arg);
}

static int all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

size_t journal_scan(const uint8_t *buf, size_t len, void (*fn)(struct sample_batch *b, void *arg),
		    void *arg, struct journal_scan *out)
{
	static const uint8_t magic[4] = {JOURNAL_MAGIC & 0xff, (JOURNAL_MAGIC >> 8) & 0xff,
					 (JOURNAL_MAGIC >> 16) & 0xff, JOURNAL_MAGIC >> 24};
	static const struct recscan_ops ops = {magic, sizeof(magic), replay_check, replay_take,
					       replay_claims};
	struct replay_ctx c = {fn, arg, NULL, 3, NULL, 0, 0, 0};
	size_t start = JOURNAL_BANNER_LEN;
	const char *banner = NULL;

	if (len >= JOURNAL_MARK_LEN && memcmp(buf, JOURNAL_BANNER_V1, JOURNAL_MARK_LEN) == 0) {
		start = JOURNAL_MARK_LEN; /* version 1: no salt */
		c.version = 1;
	} else if (len < JOURNAL_BANNER_LEN)
		banner = "torn banner";
	else if (memcmp(buf, JOURNAL_BANNER_V2, JOURNAL_MARK_LEN) == 0)
		c.version = 2;
	else if (memcmp(buf, JOURNAL_BANNER, JOURNAL_MARK_LEN) != 0)
		banner = "bad banner";
	/* a damaged banner is taken for this version's: its salt may still be right */
	if (start == JOURNAL_BANNER_LEN && len >= JOURNAL_BANNER_LEN)
		c.salt = buf + JOURNAL_MARK_LEN;

	/*
	 * Past a damaged record to the next one that checks out: acknowledged
	 * batches follow it. A damaged banner is damage at offset 0: the
	 * records behind it still count, and a file without any is cut to 0.
	 */
	recscan(buf, len, banner ? 0 : start, &ops, &c, &out->r);
	sample_batch_free(c.b);
	if (banner != NULL && out->r.holes > 0 && out->r.hole_from == 0)
		out->r.hole_why = banner;
	if (banner != NULL && out->r.tail_why != NULL && out->r.end == 0)
		out->r.tail_why = banner;
	/*
	 * Zeros after the last record are a pre-zeroed file's unwritten part:
	 * the file's clean end, not damage (no record starts with a zero byte).
	 */
	out->zeros = 0;
	if (out->r.tail_why != NULL && banner == NULL && out->r.end >= start &&
	    all_zero(buf + out->r.end, len - out->r.end)) {
		out->zeros = len - out->r.end;
		out->r.tail_why = NULL;
	}
	out->samples = c.samples;
	out->lo = c.lo;
	out->hi = c.hi;
	return out->r.end + out->zeros;
}

static int replay_file(struct journal *j, uint64_t num,
		       void (*fn)(struct sample_batch *b, void *arg), void *arg,
		       struct journal_replay_stats *st, char *why, size_t whylen)
{
	struct journal_scan sc;
	char path[4096], holes[160], kept[128];
	unsigned char *p;
	size_t len, off;

	file_name(j, num, path, sizeof(path));
	if (read_all(path, &p, &len) < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	off = journal_scan(p, len, fn, arg, &sc);
	free(p);
	st->files++;
	st->records += sc.r.records;
	st->samples += sc.samples;
	st->bytes += off - sc.r.hole_bytes - sc.zeros;
	st->skipped_bytes += sc.r.hole_bytes;
	if (sc.r.records > 0)
		snprintf(kept, sizeof(kept), "%zu records (seq %" PRIu64 "..%" PRIu64 ") replayed",
			 sc.r.records, sc.lo, sc.hi);
	else
		snprintf(kept, sizeof(kept), "no record replayed");
	recscan_holes_text(&sc.r, holes, sizeof(holes));
	if (sc.r.holes > 0 && sc.r.tail_why == NULL)
		log_warnx("journal: %s: %s; skipped (any batch in it is lost), %s", path, holes,
			  kept);
	if (sc.r.tail_why != NULL) {
		log_warnx("journal: %s:%zu: %s: cutting %zu bytes%s%s, %s", path, off,
			  sc.r.tail_why, len - off, sc.r.holes ? "; skipped " : "", holes, kept);
		st->cut_bytes += len - off;
		if (truncate(path, (off_t)off) < 0) {
			snprintf(why, whylen, "%s: cannot cut at %zu: %s", path, off,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

int journal_replay(struct journal *j, void (*fn)(struct sample_batch *b, void *arg), void *arg,
		   struct journal_replay_stats *st, char *why, size_t whylen)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < j->nold; i++)
		if (replay_file(j, j->old[i], fn, arg, st, why, whylen) < 0)
			return -1;
	return 0;
}

/* ---- files ---- */

/*
 * Creates path and writes its banner with a salt of its own into salt:
 * what an agent sends cannot check out as a record of it. The fd, or -1
 * with why set (the file removed).
 */
static int create_file(const char *path, uint8_t *salt, char *why, size_t whylen)
{
	uint8_t banner[JOURNAL_BANNER_LEN];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (getrandom(salt, JOURNAL_SALT_LEN, 0) != JOURNAL_SALT_LEN) {
		snprintf(why, whylen, "%s: no random bytes for its salt: %s", path,
			 strerror(errno));
		goto fail;
	}
	memcpy(banner, JOURNAL_BANNER, JOURNAL_MARK_LEN);
	memcpy(banner + JOURNAL_MARK_LEN, salt, JOURNAL_SALT_LEN);
	errno = 0;
	if (write(fd, banner, JOURNAL_BANNER_LEN) != JOURNAL_BANNER_LEN) {
		snprintf(why, whylen, "%s: %s", path, errno ? strerror(errno) : "short write");
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(path);
	return -1;
}

/* A file that grows as it is written: when no file made ahead is ready. */
static int open_current(struct journal *j, char *why, size_t whylen)
{
	char path[4096];
	uint8_t salt[JOURNAL_SALT_LEN];
	int fd;

	file_name(j, j->cur, path, sizeof(path));
	if ((fd = create_file(path, salt, why, whylen)) < 0)
		return -1;
	/* the banner and the file's name are durable before a record relies on them */
	if (fdatasync(fd) < 0 || fsync(j->dirfd) < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	j->fd = fd;
	memcpy(j->salt, salt, sizeof(salt)); /* only now: on failure the old file keeps its own */
	j->size = JOURNAL_BANNER_LEN;
	return 0;
}

int journal_prepare(struct journal *j, char *why, size_t whylen)
{
	static const unsigned char zeros[JOURNAL_ZERO_BUF];
	char path[4096];
	size_t n;

	if (j->segment == 0 || (j->next_fd >= 0 && j->next_done >= j->next_size))
		return 1;
	next_name(j, path, sizeof(path));
	if (j->next_fd < 0) {
		if ((j->next_fd = create_file(path, j->next_salt, why, whylen)) < 0)
			return -1;
		j->next_size = j->want > JOURNAL_BANNER_LEN ? j->want : JOURNAL_BANNER_LEN;
		j->next_done = JOURNAL_BANNER_LEN;
		/* a full disk shows now, before megabytes of zeros are written */
		if (fallocate(j->next_fd, 0, 0, (off_t)j->next_size) < 0 && errno != EOPNOTSUPP)
			goto fail;
		return 0;
	}
	/*
	 * Zeros written, not only allocated: the first write into an extent
	 * fallocate() left unwritten changes the file's metadata too.
	 */
	n = j->next_size - j->next_done < sizeof(zeros) ? (size_t)(j->next_size - j->next_done)
							: sizeof(zeros);
	while (n > 0) {
		ssize_t w = pwrite(j->next_fd, zeros, n, (off_t)j->next_done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			goto fail;
		}
		j->next_done += (uint64_t)w;
		n -= (size_t)w;
	}
	if (j->next_done < j->next_size) {
		/* starts the disk on it, so that the last fdatasync has little left to wait for */
		sync_file_range(j->next_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		return 0;
	}
	if (fdatasync(j->next_fd) < 0)
		goto fail;
	return 1;
fail:
	snprintf(why, whylen, "%s:%" PRIu64 ": %s", path, j->next_done, strerror(errno));
	close(j->next_fd);
	j->next_fd = -1;
	unlink(path);
	return -1;
}

/* The file made ahead becomes file j->cur; 0, or -1 when none is ready. */
static int take_next(struct journal *j)
{
	char from[4096], to[4096];

	if (j->segment == 0 || j->next_fd < 0 || j->next_done < j->next_size)
		return -1;
	next_name(j, from, sizeof(from));
	file_name(j, j->cur, to, sizeof(to));
	/* its name is durable before a record relies on it; its bytes already are */
	if (rename(from, to) < 0 || fsync(j->dirfd) < 0) {
		log_warn("journal: cannot make %s of %s", to, from);
		return -1;
	}
	j->fd = j->next_fd;
	memcpy(j->salt, j->next_salt, sizeof(j->salt));
	j->size = JOURNAL_BANNER_LEN;
	j->next_fd = -1;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct journal *journal_open(const char *dir, uint64_t segment, char *why, size_t whylen)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	DIR *d;
	struct dirent *e;
	uint64_t max = 0;
	char next[4096];
	int rc;

	j->dir = xstrdup(dir);
	j->fd = -1;
	j->next_fd = -1;
	j->segment = j->want = segment;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0 || (d = opendir(dir)) == NULL) {
		snprintf(why, whylen, "cannot open %s: %s", dir, strerror(errno));
		goto fail;
	}
	while ((e = readdir(d)) != NULL) {
		char *end;
		unsigned long long n;

		if (strncmp(e->d_name, "journal.", 8) != 0)
			continue;
		errno = 0;
		n = strtoull(e->d_name + 8, &end, 10);
		if (errno != 0 || *end != '\0' || end == e->d_name + 8)
			continue;
		j->old = xreallocarray(j->old, j->nold + 1, sizeof(*j->old));
		j->old[j->nold++] = n;
		if (n > max)
			max = n;
	}
	closedir(d);
	/* a file an earlier run was making ahead holds no record: made anew */
	next_name(j, next, sizeof(next));
	unlink(next);
	if (j->nold > 1)
		qsort(j->old, j->nold, sizeof(*j->old), cmp_u64);
	j->cur = max + 1;
	/* before any batch is accepted: nothing waits for it yet */
	while ((rc = journal_prepare(j, why, whylen)) == 0)
		;
	if (rc < 0)
		log_warnx("journal: cannot make a file ahead: %s; the file written now grows as it "
			  "is written (slower commits), nothing is lost",
			  why);
	if (take_next(j) < 0 && open_current(j, why, whylen) < 0)
		goto fail;
	return j;
fail:
	journal_free(j);
	return NULL;
}

void journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->next_fd >= 0) {
		char next[4096];

		close(j->next_fd);
		next_name(j, next, sizeof(next));
		unlink(next);
	}
	if (j->dirfd > 0)
		close(j->dirfd);
	free(j->old);
	free(j->buf);
	free(j->dir);
	free(j);
}

int journal_commit(struct journal *j, char *why, size_t whylen)
{
	size_t done = 0;
	char path[4096];

	if (j->len == 0)
		return 0;
	file_name(j, j->cur, path, sizeof(path));
	while (done < j->len) {
		ssize_t n = pwrite(j->fd, j->buf + done, j->len - done, (off_t)(j->size + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "%s:%" PRIu64 ": cannot write: %s", path,
				 j->size + done, n < 0 ? strerror(errno) : "short write");
			goto fail;
		}
		done += (size_t)n;
	}
	if (fdatasync(j->fd) < 0) {
		snprintf(why, whylen, "%s:%" PRIu64 ": cannot sync: %s", path, j->size,
			 strerror(errno));
		goto fail;
	}
	j->size += j->len;
	j->len = 0;
	return 0;
fail : {
	int err = errno;

	/* a partial record would only be cut at the next start: cut it now */
	if (ftruncate(j->fd, (off_t)j->size) < 0)
		log_warn("journal: %s: cannot cut back to %" PRIu64, path, j->size);
	j->len = 0;
	errno = err; /* the caller asks whether the whole disk is at fault */
	return -1;
}
}

uint64_t journal_current(const struct journal *j)
{
	return j->cur;
}

uint64_t journal_size(const struct journal *j)
{
	return j->size;
}

int journal_empty(const struct journal *j)
{
	return j->size <= JOURNAL_BANNER_LEN;
}

int journal_rotate(struct journal *j, char *why, size_t whylen)
{
	int old = j->fd;
	uint64_t used = j->size;

	j->cur++;
	if (take_next(j) < 0 && open_current(j, why, whylen) < 0) {
		j->cur--;
		j->fd = old;
		return -1;
	}
	close(old);
	/* the finished file waits for its checkpoint with those of earlier runs */
	j->old = xreallocarray(j->old, j->nold + 1, sizeof(*j->old));
	j->old[j->nold++] = j->cur - 1;
	/*
	 * The file after this one is made about twice as large as this one
	 * got (up to the segment size): a quiet collector, rotating by age,
	 * does not write a full segment of zeros for a few records.
	 */
	if (j->segment > 0) {
		j->want = used * 2 < JOURNAL_ZERO_BUF ? JOURNAL_ZERO_BUF : used * 2;
		if (j->want > j->segment)
			j->want = j->segment;
	}
	return 0;
}

uint64_t journal_oldest(const struct journal *j)
{
	return j->nold > 0 ? j->old[0] : j->cur;
}

void journal_remove_before(struct journal *j, uint64_t n)
{
	char path[4096];
	size_t keep = 0;

	for (size_t i = 0; i < j->nold; i++) {
		if (j->old[i] >= n) {
			j->old[keep++] = j->old[i];
			continue;
		}
		file_name(j, j->old[i], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("journal: cannot remove %s", path);
	}
	j->nold = keep;
}
