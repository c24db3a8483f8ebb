/*
 * spool.c - the agent's disk spool (format in spool.h). The loop keeps an
 * index of every unacknowledged batch and the frames of a bounded window;
 * a writer thread owns the files: it appends, fsyncs, deletes acknowledged
 * segments, drops the oldest segment when spool_size is reached and reads
 * old batches back. It never touches the index, and the loop never touches
 * a file after start-up: they talk through two queues and a pipe.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "log.h"
#include "recscan.h"
#include "timeutil.h"
#include "xmalloc.h"

#define SPOOL_VERSION      1
#define SPOOL_STATE_SIZE   32
#define SPOOL_SEG_MIN      (16ULL << 10) /* a segment rolls over at spool_size / 8, */
#define SPOOL_SEG_MAX      (16ULL << 20) /* within these bounds */
#define SPOOL_READ_MAX     (64ULL << 20) /* start-up reads at most this much of a segment */
#define SPOOL_WRITER_QUEUE (8ULL << 20)  /* frames waiting for the writer thread */
#define SPOOL_READ_CHUNK   (1U << 20)    /* read back this much at a time */
/*
 * A tail cut at start-up may have held batches that reached a collector
 * before the crash (written, sent, never made durable here): new batches
 * start this far past the last good one, so that none reuses their seq.
 */
#define SPOOL_SEQ_SKIP 65536
/*
 * No stream reaches this many batches (a batch a millisecond would take 292
 * million years): a seq at or past it, in `next` or in a collector's
 * HelloAck, is damage, and a skip past it would wrap round to small seqs.
 */
#define SPOOL_SEQ_LIMIT (UINT64_C(1) << 63)
/*
 * The file `next` says where the seqs of the next run start, and whether
 * the run that wrote it stopped cleanly: "N running" at start (synced before
 * anything is sent), "N clean" at a clean stop with every batch the agent
 * may have sent on disk. A run that did not stop cleanly may have sent
 * batches this disk does not hold (not synced when the power went, kept in
 * memory only), which a collector may hold: the next start skips their seqs.
 */
#define SPOOL_NEXT "next"
/*
 * A disk-failure episode ends with the first append this long after the last
 * failure. A disk that stays almost full fails again a few seconds after
 * (the segment being appended to fills what the acknowledged one freed): an
 * episode that starts within SPOOL_FAIL_AGAIN_MS of the last one's end
 * doubles the quiet spell the next end takes, up to SPOOL_FAIL_QUIET_MAX_MS,
 * so that such a disk logs its start and end lines rarely, not every few
 * seconds; one that starts later begins again from SPOOL_FAIL_QUIET_MS.
 */
#define SPOOL_FAIL_QUIET_MS     5000
#define SPOOL_FAIL_QUIET_MAX_MS (320 * 1000)
#define SPOOL_FAIL_AGAIN_MS     (60 * 1000)

static const uint8_t state_magic[8] = "VKSTATE";
static const uint8_t seg_magic[8] = "VKSPOOL";
static const uint8_t rec_magic[4] = {'V', 'K', 'S', 'R'};

/* One unacknowledged batch, as the loop knows it. */
enum ent_state {
	ENT_WRITING, /* handed to the writer, frame in memory */
	ENT_DISK,    /* in a segment file; frame in memory or not */
	ENT_MEMORY,  /* could not be written: memory only */
	ENT_DROPPED, /* gone (spool full, unreadable); skipped, counted */
};

struct ent {
	uint64_t seq;
	uint8_t *frame; /* NULL when only on disk */
	uint32_t len, nsamples, nresults;
	uint32_t off; /* of its record in segment `seg` */
	uint64_t seg; /* first seq of its segment */
	uint8_t state, reading;
};

enum job_kind { JOB_APPEND, JOB_READ };

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t seq, seg; /* append: the batch; read: the first record */
	uint8_t *frame;    /* append: room for the record header, then a copy of the frame */
	uint32_t len, nsamples, nresults;
	uint32_t off, count; /* read: from `off`, `count` records, `len` bytes */
	uint64_t abs;        /* read: index of the first record's entry */
};

enum done_kind { DONE_APPENDED, DONE_APPEND_FAILED, DONE_DROPPED, DONE_READ, DONE_SCANNED };

struct done {
	struct done *next;
	enum done_kind kind;
	uint64_t seq, seg, hi; /* dropped: segment `seg` held seq..hi */
	uint32_t off;
	/* read: what came back, in order, from entry `abs` on */
	uint64_t abs;
	uint32_t count, nread;
	size_t unreadable; /* scanned: segments that could not be opened */
	uint8_t **frames;
	uint32_t *lens;
	/* scanned: the older segments' batches, in order, and how many segments */
	struct ent *ents;
	size_t nents, nsegs;
	unsigned long long bytes;
};

struct seg {
	uint64_t first, last; /* last = 0: no record yet */
	uint64_t size;
};

struct spool {
	struct event_base *base;
	struct spool_conf conf;
	char *dir;
	void (*ready)(void *);
	void *arg;
	uint64_t stream, next_seq;

	/* the loop's index: entries [first_abs, first_abs + n) in a ring */
	struct ent *e;
	size_t cap, head, n;
	uint64_t first_abs, cursor; /* cursor: next to send on this connection */
	uint64_t memlo;             /* no ENT_MEMORY entry below this index */
	size_t live;                /* entries not dropped */
	size_t sent;                /* of them, below the cursor: sent on this connection */
	unsigned long long mem;     /* frame bytes held by entries */
	unsigned long long mem_only, mem_only_n;
	int reading;
	struct spool_stats st;
	/* drop and disk-failure episodes: one line when each starts and ends */
	int dropping, disk_failing;
	uint64_t ep_batches, ep_samples, ep_results, ep_lo, ep_hi, fail_n;
	struct complaint behind; /* the writer's queue is full */
	uint64_t last_fail_ms;   /* monotonic: the last append that failed */
	uint64_t fail_end_ms;    /* monotonic: when the last disk-failure episode ended */
	uint64_t fail_quiet_ms;  /* the quiet spell that ends the episode (SPOOL_FAIL_QUIET_MS) */
	uint64_t mem_hi;         /* the newest batch ever kept in memory only */
	uint64_t copy_acked;     /* a collector held seqs up to this from another copy */

	/* the writer thread */
	int on_disk;
	int cut;    /* start-up cut a torn or corrupt tail */
	int locked; /* another agent holds spool_dir */
	/*
	 * Start-up reads the newest segment (it tells where seqs go on) before
	 * the loop runs, and the older ones on the writer thread: until those
	 * are in the index nothing is sent, since they go first.
	 */
	int scanning;
	uint64_t *scan_firsts; /* the older segments, oldest first (the writer's) */
	size_t nscan;
	uint64_t scan_acked; /* the state file's acked */
	uint64_t scan_limit; /* the older segments' seqs are below this */
	uint64_t ack_seen;   /* the highest ack the loop had meanwhile */
	uint64_t scan_ms;    /* when start-up began */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *jobs, **jobs_tail;
	unsigned long long job_bytes;
	struct done *dones, **dones_tail;
	uint64_t acked;  /* latest ack from the loop */
	int writer_idle; /* the writer waits with no batch to sync: an ack must wake it */
	int stop;
	int pipe_r, pipe_w;
	struct event *done_ev;
	unsigned long long disk_total; /* mirrored from the writer under mu */

	/* owned by the writer thread once it runs */
	int dirfd, state_fd, cur_fd;
	struct seg *segs;
	size_t nsegs, segcap;
	unsigned long long total, seg_max;
	uint64_t acked_done;
	int dirty, state_dirty;
	int append_failed; /* the last append failed (the disk is full, say) */
	int sync_failed;   /* an fsync failed: what was written may not be on disk */
	uint64_t last_sync_ms;
	struct complaint write_fail;
};

/*
 * --- CRC32C, reflected polynomial 0x82F63B78, eight bytes a step
 * ("slicing-by-8": table k gives the CRC of a byte followed by k zero bytes),
 * since every batch the agent sends passes through it on the writer thread ---
 */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			crc_table[k][i] =
			    crc_table[0][crc_table[k - 1][i] & 0xff] ^ (crc_table[k - 1][i] >> 8);
}

uint32_t spool_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][lo >> 8 & 0xff] ^
		      crc_table[5][lo >> 16 & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][hi >> 8 & 0xff] ^
		      crc_table[1][hi >> 16 & 0xff] ^ crc_table[0][hi >> 24];
	}
	while (len-- > 0)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>

/* SSE 4.2's crc32 instruction is this very CRC: eight bytes an instruction. */
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const uint8_t *p,
							    size_t len)
{
	uint64_t c = ~crc;

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = _mm_crc32_u64(c, w);
	}
	crc = (uint32_t)c;
	while (len-- > 0)
		crc = _mm_crc32_u8(crc, *p++);
	return ~crc;
}

static int crc_sse42_ok;
static pthread_once_t crc_cpu_once = PTHREAD_ONCE_INIT;

static void crc_cpu_init(void)
{
	crc_sse42_ok = __builtin_cpu_supports("sse4.2");
}

uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* a CPU without it (before 2008) takes the tables */
	pthread_once(&crc_cpu_once, crc_cpu_init);
	return crc_sse42_ok ? crc_sse42(crc, buf, len) : spool_crc32c_portable(crc, buf, len);
}
#else
uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return spool_crc32c_portable(crc, buf, len);
}
#endif

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The 32 bytes of a state file or segment header: magic, version, CRC, two u64. */
static void header_encode(uint8_t *h, const uint8_t magic[8], uint64_t a, uint64_t b)
{
	memcpy(h, magic, 8);
	put32(h + 8, SPOOL_VERSION);
	put64(h + 16, a);
	put64(h + 24, b);
	put32(h + 12, spool_crc32c(0, h + 16, 16));
}

static const char *header_decode(const uint8_t *h, const uint8_t magic[8], uint64_t *a, uint64_t *b)
{
	if (memcmp(h, magic, 8) != 0)
		return "bad magic";
	if (get32(h + 8) != SPOOL_VERSION)
		return "unsupported version";
	if (get32(h + 12) != spool_crc32c(0, h + 16, 16))
		return "CRC mismatch";
	*a = get64(h + 16);
	*b = get64(h + 24);
	return NULL;
}

static void record_header(uint8_t *h, uint64_t seq, const uint8_t *frame, uint32_t len, uint32_t ns,
			  uint32_t nr)
{
	uint32_t crc;

	memcpy(h, rec_magic, 4);
	h[4] = SPOOL_VERSION;
	h[5] = 0;
	h[6] = h[7] = 0;
	put32(h + 12, len);
	put64(h + 16, seq);
	put32(h + 24, ns);
	put32(h + 28, nr);
	crc = spool_crc32c(0, h + 12, SPOOL_RECORD_SIZE - 12);
	put32(h + 8, spool_crc32c(crc, frame, len));
}

static const char seq_not_growing[] = "record seq does not grow";
/* A record written twice: its batch is in the one before it. */
static const char seq_repeated[] = "record repeats the seq before it";

/*
 * One record at buf[0..avail): 1 and *r filled, 0 when it is torn (runs
 * past avail), -1 when it is corrupt; *why says which way.
 */
static int record_decode(const uint8_t *buf, size_t avail, uint64_t prev_seq, struct spool_rec *r,
			 const char **why)
{
	uint32_t len, crc;

	if (avail < SPOOL_RECORD_SIZE) {
		*why = "torn record header";
		return 0;
	}
	if (memcmp(buf, rec_magic, 4) != 0) {
		*why = "bad record magic";
		return -1;
	}
	if (buf[4] != SPOOL_VERSION || buf[5] != 0 || buf[6] != 0 || buf[7] != 0) {
		*why = "unsupported record version or flags";
		return -1;
	}
	len = get32(buf + 12);
	if (len < 5 || len > SPOOL_RECORD_MAX) {
		*why = "record length out of bounds";
		return -1;
	}
	if (avail - SPOOL_RECORD_SIZE < len) {
		*why = "torn record (file ends inside it)";
		return 0;
	}
	crc = spool_crc32c(0, buf + 12, SPOOL_RECORD_SIZE - 12);
	crc = spool_crc32c(crc, buf + SPOOL_RECORD_SIZE, len);
	if (crc != get32(buf + 8)) {
		*why = "record CRC mismatch";
		return -1;
	}
	r->seq = get64(buf + 16);
	if (r->seq <= prev_seq) {
		*why = seq_not_growing;
		return -1;
	}
	r->nsamples = get32(buf + 24);
	r->nresults = get32(buf + 28);
	r->frame = buf + SPOOL_RECORD_SIZE;
	r->len = len;
	*why = NULL;
	return 1;
}

struct segscan {
	uint64_t prev; /* the seq the first record must pass */
	void (*rec)(const struct spool_rec *, void *);
	void *arg;
	struct spool_rec r; /* what check() accepted, for take() */
};

/* A record's seq must pass the one before it (a record that checked out), or the header's. */
static long segscan_check(const uint8_t *p, const uint8_t *prev, size_t avail, void *arg,
			  const char **why)
{
	struct segscan *c = arg;
	int k = record_decode(p, avail, prev != NULL ? get64(prev + 16) : c->prev, &c->r, why);

	if (k < 0 && *why == seq_not_growing && prev != NULL && c->r.seq == get64(prev + 16))
		*why = seq_repeated;

	return k == 1 ? (long)(SPOOL_RECORD_SIZE + c->r.len) : k;
}

/* The size a record header with the right magic claims, when the segment holds it. */
static size_t segscan_claims(const uint8_t *p, size_t avail, void *arg)
{
	uint32_t len;

	(void)arg;
	if (avail < SPOOL_RECORD_SIZE || memcmp(p, rec_magic, 4) != 0)
		return 0;
	len = get32(p + 12);
	if (len < 5 || len > SPOOL_RECORD_MAX || len > avail - SPOOL_RECORD_SIZE)
		return 0;
	return SPOOL_RECORD_SIZE + len;
}

static void segscan_take(const uint8_t *p, size_t size, size_t off, void *arg)
{
	struct segscan *c = arg;

	(void)p;
	(void)size;
	c->r.off = off;
	if (c->rec != NULL)
		c->rec(&c->r, c->arg);
}

size_t spool_scan_segment(const uint8_t *buf, size_t len, uint64_t stream, uint64_t prev_seq,
			  uint64_t name_first, void (*rec)(const struct spool_rec *, void *),
			  void *arg, uint64_t *stream_out, const char **why,
			  struct recscan_result *res)
{
	static const struct recscan_ops ops = {rec_magic, sizeof(rec_magic), segscan_check,
					       segscan_take, segscan_claims};
	struct recscan_result own;
	struct segscan c = {0, rec, arg, {0}};
	uint64_t st, first;
	const char *damaged;

	if (res == NULL)
		res = &own;
	memset(res, 0, sizeof(*res));
	*why = NULL;
	if (len < SPOOL_HEADER_SIZE) {
		*why = "torn segment header";
		return 0;
	}
	damaged = header_decode(buf, seg_magic, &st, &first);
	if (damaged != NULL) {
		/* the name and the state file say what it said: its records still count */
		if (stream == 0 || name_first == 0) {
			*why = damaged;
			return 0;
		}
		st = stream;
		first = name_first;
	}
	if (st == 0 || (stream != 0 && st != stream)) {
		*why = "segment of another stream";
		return 0;
	}
	if (first <= prev_seq) {
		*why = "segment's first seq does not grow";
		return 0;
	}
	/* the first record's seq is at least the header's: the later ones grow */
	c.prev = first - 1;
	recscan(buf, len, SPOOL_HEADER_SIZE, &ops, &c, res);
	*why = res->tail_why;
	if (damaged != NULL) {
		if (res->records == 0) {
			*why = damaged;
			return 0;
		}
		/* the header is the first damaged stretch */
		res->holes++;
		res->hole_bytes += SPOOL_HEADER_SIZE;
		res->hole_from = 0;
		res->hole_to = SPOOL_HEADER_SIZE;
		res->hole_why = "damaged segment header";
	}
	if (stream_out != NULL)
		*stream_out = st;
	return res->end;
}

/* --- the loop's index --- */

static struct ent *ent_at(struct spool *s, uint64_t abs)
{
	return &s->e[(s->head + (size_t)(abs - s->first_abs)) % s->cap];
}

static int ent_valid(struct spool *s, uint64_t abs)
{
	return abs >= s->first_abs && abs < s->first_abs + s->n;
}

static struct ent *ent_push(struct spool *s)
{
	struct ent *e;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct ent *ne = xcalloc(ncap, sizeof(*ne));

		for (size_t i = 0; i < s->n; i++)
			ne[i] = s->e[(s->head + i) % s->cap];
		free(s->e);
		s->e = ne;
		s->cap = ncap;
		s->head = 0;
	}
	e = &s->e[(s->head + s->n) % s->cap];
	memset(e, 0, sizeof(*e));
	s->n++;
	s->live++;
	return e;
}

static unsigned long long ent_cost(uint32_t len)
{
	return (unsigned long long)len + sizeof(struct ent);
}

static void ent_free_frame(struct spool *s, struct ent *e)
{
	if (e->frame == NULL)
		return;
	free(e->frame);
	e->frame = NULL;
	s->mem -= e->len;
}

static void ent_set_memory(struct spool *s, struct ent *e, uint64_t abs)
{
	e->state = ENT_MEMORY;
	if (e->seq > s->mem_hi)
		s->mem_hi = e->seq;
	s->mem_only += ent_cost(e->len);
	s->mem_only_n++;
	s->st.memory_only++;
	if (abs < s->memlo)
		s->memlo = abs;
}

/* Pops acknowledged and dropped entries off the front. */
static void ent_pop_front(struct spool *s, uint64_t acked, size_t *nacked)
{
	while (s->n > 0) {
		struct ent *e = &s->e[s->head];

		if (e->state != ENT_DROPPED && e->seq > acked)
			break;
		if (e->state != ENT_DROPPED) {
			if (e->state == ENT_MEMORY) {
				s->mem_only -= ent_cost(e->len);
				s->mem_only_n--;
			}
			s->live--;
			if (s->first_abs < s->cursor)
				s->sent--;
			if (nacked != NULL)
				(*nacked)++;
		}
		ent_free_frame(s, e);
		s->head = (s->head + 1) % s->cap;
		s->n--;
		s->first_abs++;
	}
	if (s->cursor < s->first_abs)
		s->cursor = s->first_abs;
	if (s->memlo < s->first_abs)
		s->memlo = s->first_abs;
}

/* An unacknowledged batch, entry `abs`, is lost: counted, and logged once per episode. */
static void ent_drop(struct spool *s, uint64_t abs, const char *why)
{
	struct ent *e = ent_at(s, abs);

	if (e->state == ENT_DROPPED)
		return;
	if (abs < s->cursor)
		s->sent--;
	if (e->state == ENT_MEMORY) {
		s->mem_only -= ent_cost(e->len);
		s->mem_only_n--;
	}
	s->st.batches_dropped++;
	s->st.samples_dropped += e->nsamples;
	s->st.results_dropped += e->nresults;
	s->st.bytes_dropped += e->len;
	if (!s->dropping) {
		s->dropping = 1;
		s->ep_batches = s->ep_samples = s->ep_results = 0;
		s->ep_lo = e->seq;
		log_warnx(
		    "spool: %s: dropping the oldest unacknowledged batches, from batch %" PRIu64
		    " on (spool_size %llu, queue_size %llu bytes in memory); the count follows "
		    "when this ends",
		    why, e->seq, s->conf.max_bytes, s->conf.mem_bytes);
	}
	s->ep_batches++;
	s->ep_samples += e->nsamples;
	s->ep_results += e->nresults;
	s->ep_hi = e->seq;
	ent_free_frame(s, e);
	e->state = ENT_DROPPED;
	s->live--;
}

static void drop_episode_end(struct spool *s)
{
	if (!s->dropping)
		return;
	log_warnx("spool: dropping ended: %" PRIu64 " batches (%" PRIu64 " samples, %" PRIu64
		  " results, batches %" PRIu64 "..%" PRIu64 ") were lost; %" PRIu64
		  " batches dropped since start",
		  s->ep_batches, s->ep_samples, s->ep_results, s->ep_lo, s->ep_hi,
		  s->st.batches_dropped);
	s->dropping = 0;
}

/* Memory-only batches beyond queue_size / queue_batches: the oldest goes. */
static void mem_bound(struct spool *s, unsigned long long incoming)
{
	while (s->mem_only_n > 0 && (s->mem_only + incoming > s->conf.mem_bytes ||
				     s->mem_only_n + (incoming ? 1 : 0) > s->conf.mem_batches)) {
		while (ent_valid(s, s->memlo) && ent_at(s, s->memlo)->state != ENT_MEMORY)
			s->memlo++;
		if (!ent_valid(s, s->memlo))
			break;
		ent_drop(s, s->memlo,
			 s->on_disk ? "memory full while the spool cannot be written"
				    : "queue full (no spool on disk)");
	}
	ent_pop_front(s, 0, NULL);
}

/* --- the writer thread --- */

/*
 * A write that fails repeats with every batch while the disk is full: the
 * first line says where and why, then a count once a minute. Appends
 * errno's text.
 */
static void writer_complain(struct spool *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void writer_complain(struct spool *s, const char *fmt, ...)
{
	char msg[512], err[128];
	const char *e = strerror_r(errno, err, sizeof(err));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_complain(&s->write_fail, 60, "%s: %s", msg, e);
}

static void writer_done(struct spool *s, struct done *d)
{
	int wake;

	pthread_mutex_lock(&s->mu);
	/* the loop takes the whole list at once: a list that was not empty has its wake coming */
	wake = s->dones == NULL;
	d->next = NULL;
	*s->dones_tail = d;
	s->dones_tail = &d->next;
	s->disk_total = s->total;
	pthread_mutex_unlock(&s->mu);
	/* a full pipe already wakes the loop */
	if (wake && write(s->pipe_w, "x", 1) < 0 && errno != EAGAIN)
		log_warn("spool: cannot wake the agent's loop");
}

static void seg_name(char *buf, size_t sz, uint64_t first)
{
	snprintf(buf, sz, "%016" PRIx64 ".seg", first);
}

static void writer_sync_dir(struct spool *s)
{
	if (fsync(s->dirfd) < 0) {
		s->sync_failed = 1;
		writer_complain(s, "spool: %s: fsync of the directory", s->dir);
	}
}

/*
 * What spool_fsync promises: the batches written so far are on disk. The
 * state file is not synced here: an acknowledgement it has not made
 * durable only makes a power loss send those batches again, which the
 * collector skips (HelloAck's acked), and syncing it every second cost a
 * second fdatasync a second, about as dear as the segment's.
 */
static void writer_sync_batches(struct spool *s)
{
	if (s->dirty && s->cur_fd >= 0 && fdatasync(s->cur_fd) < 0) {
		char name[32];

		s->sync_failed = 1;
		seg_name(name, sizeof(name), s->segs[s->nsegs - 1].first);
		writer_complain(s, "spool: %s/%s: fsync", s->dir, name);
	}
	s->dirty = 0;
	s->last_sync_ms = mono_now_ms();
}

/* The batches and the state file: before segments go, when one closes, at a stop. */
static void writer_sync(struct spool *s)
{
	writer_sync_batches(s);
	if (s->state_dirty && fdatasync(s->state_fd) < 0) {
		s->sync_failed = 1;
		writer_complain(s, "spool: %s/state: fsync", s->dir);
	}
	s->state_dirty = 0;
}

static void writer_close_cur(struct spool *s)
{
	if (s->cur_fd < 0)
		return;
	writer_sync(s);
	close(s->cur_fd);
	s->cur_fd = -1;
}

/* Deletes the oldest segment; `dropped`: its batches were not acknowledged. */
static void writer_delete_oldest(struct spool *s, int dropped)
{
	struct seg g = s->segs[0];
	char name[32];

	if (s->nsegs == 1)
		writer_close_cur(s);
	seg_name(name, sizeof(name), g.first);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		writer_complain(s, "spool: %s/%s: cannot delete", s->dir, name);
	memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
	s->nsegs--;
	s->total -= g.size;
	writer_sync_dir(s);
	if (dropped && g.last != 0) {
		struct done *d = xcalloc(1, sizeof(*d));

		d->kind = DONE_DROPPED;
		d->seg = g.first;
		d->hi = g.last;
		writer_done(s, d);
	}
}

/*
 * The oldest segment can go: the collector holds all its batches, and it
 * is not the one being appended to. The open segment stays however much of
 * it is acknowledged (until it rolls over at seg_max): deleting it at each
 * ack made a live agent with a quick collector create, sync and delete a
 * file, and sync the directory twice, for every batch. It goes too when
 * appending to it fails: on a full disk its room is what the next append needs.
 */
static int seg0_deletable(const struct spool *s, uint64_t acked)
{
	return s->nsegs > 0 && s->segs[0].last <= acked &&
	       (s->nsegs > 1 || ((s->cur_fd < 0 || s->append_failed) && s->segs[0].last != 0));
}

/* The collector holds everything up to `acked`: record it, delete what it covers. */
static void writer_ack(struct spool *s, uint64_t acked)
{
	uint8_t h[SPOOL_STATE_SIZE];
	int deletable = seg0_deletable(s, acked);

	s->acked_done = acked;
	header_encode(h, state_magic, s->stream, acked);
	if (pwrite(s->state_fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		writer_complain(s, "spool: %s/state: cannot record acknowledged batch %" PRIu64,
				s->dir, acked);
	s->state_dirty = 1;
	if (!deletable)
		return;
	/*
	 * The state file must say how far the stream got before the segments
	 * that say so go: else a crash could let seq numbers start over.
	 */
	writer_sync(s);
	while (seg0_deletable(s, acked))
		writer_delete_oldest(s, 0);
}

/* Opens a new segment whose first record is `seq`; 0 or -1 (logged). */
static int writer_open_seg(struct spool *s, uint64_t seq)
{
	uint8_t h[SPOOL_HEADER_SIZE];
	char name[32];
	int fd;

	writer_close_cur(s);
	seg_name(name, sizeof(name), seq);
	fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		writer_complain(s, "spool: %s/%s: cannot create", s->dir, name);
		return -1;
	}
	header_encode(h, seg_magic, s->stream, seq);
	if (pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		writer_complain(s, "spool: %s/%s: offset 0: cannot write the header", s->dir, name);
		close(fd);
		unlinkat(s->dirfd, name, 0);
		return -1;
	}
	if (s->nsegs == s->segcap) {
		s->segcap = s->segcap ? s->segcap * 2 : 16;
		s->segs = xreallocarray(s->segs, s->segcap, sizeof(*s->segs));
	}
	s->segs[s->nsegs++] = (struct seg){.first = seq, .last = 0, .size = SPOOL_HEADER_SIZE};
	s->total += SPOOL_HEADER_SIZE;
	s->cur_fd = fd;
	s->dirty = 1;
	writer_sync_dir(s);
	return 0;
}

static void writer_append(struct spool *s, struct job *j)
{
	unsigned long long need = SPOOL_RECORD_SIZE + (unsigned long long)j->len;
	struct done *d = xcalloc(1, sizeof(*d));
	struct seg *g;
	char name[32];
	size_t done = 0, rec = SPOOL_RECORD_SIZE + (size_t)j->len;
	ssize_t w = 0;
	int roll = s->cur_fd < 0 || (s->segs[s->nsegs - 1].size + need > s->seg_max &&
				     s->segs[s->nsegs - 1].last != 0);

	d->seq = j->seq;
	if (roll)
		need += SPOOL_HEADER_SIZE;
	/* spool_size: the oldest segments go, even the open one when it is the last */
	while (s->nsegs > 0 && s->total + need > s->conf.max_bytes) {
		if (s->nsegs == 1 && !roll) {
			roll = 1;
			need += SPOOL_HEADER_SIZE;
		}
		writer_delete_oldest(s, 1);
	}
	if (roll && writer_open_seg(s, j->seq) < 0)
		goto fail;
	g = &s->segs[s->nsegs - 1];
	seg_name(name, sizeof(name), g->first);
	/* the job's buffer holds room for the record header before the frame */
	record_header(j->frame, j->seq, j->frame + SPOOL_RECORD_SIZE, j->len, j->nsamples,
		      j->nresults);
	/* a short write goes on: the next call says why it stopped (ENOSPC, EFBIG) */
	while (done < rec &&
	       (w = pwrite(s->cur_fd, j->frame + done, rec - done, (off_t)(g->size + done))) > 0)
		done += (size_t)w;
	if (done < rec) {
		if (w == 0)
			errno = EIO;
		writer_complain(s, "spool: %s/%s: offset %llu: cannot append batch %" PRIu64,
				s->dir, name, (unsigned long long)g->size, j->seq);
		/* leave no torn record behind: the next append goes where this one began */
		if (ftruncate(s->cur_fd, (off_t)g->size) < 0) {
			log_warn("spool: %s/%s: cannot cut back to %llu", s->dir, name,
				 (unsigned long long)g->size);
			writer_close_cur(s);
		}
		goto fail;
	}
	d->kind = DONE_APPENDED;
	d->seg = g->first;
	d->off = (uint32_t)g->size;
	g->size += SPOOL_RECORD_SIZE + j->len;
	g->last = j->seq;
	s->total += SPOOL_RECORD_SIZE + j->len;
	s->dirty = 1;
	s->append_failed = 0;
	if (s->conf.fsync_s == 0)
		writer_sync_batches(s);
	writer_done(s, d);
	return;
fail:
	s->append_failed = 1;
	d->kind = DONE_APPEND_FAILED;
	writer_done(s, d);
}

static void writer_read(struct spool *s, struct job *j)
{
	struct done *d = xcalloc(1, sizeof(*d));
	uint8_t *buf = xmalloc(j->len);
	char name[32];
	int fd = -1;
	ssize_t r;
	size_t off = 0;
	uint64_t prev = 0;

	d->kind = DONE_READ;
	d->abs = j->abs;
	d->count = j->count;
	d->frames = xcalloc(j->count, sizeof(*d->frames));
	d->lens = xcalloc(j->count, sizeof(*d->lens));
	seg_name(name, sizeof(name), j->seg);
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("spool: %s/%s: cannot read batch %" PRIu64 " back", s->dir, name, j->seq);
		goto out;
	}
	r = pread(fd, buf, j->len, j->off);
	if (r != (ssize_t)j->len) {
		if (r >= 0)
			errno = EIO;
		log_warn("spool: %s/%s: offset %u: cannot read %u bytes back", s->dir, name, j->off,
			 j->len);
		goto out;
	}
	while (d->nread < j->count) {
		struct spool_rec rec;
		const char *why;

		if (record_decode(buf + off, j->len - off, prev, &rec, &why) != 1 ||
		    (d->nread == 0 && rec.seq != j->seq)) {
			log_warnx("spool: %s/%s: offset %zu: %s; the batches from there on in this "
				  "read are lost",
				  s->dir, name, j->off + off, why ? why : "unexpected seq");
			break;
		}
		d->frames[d->nread] = xmalloc(rec.len);
		memcpy(d->frames[d->nread], rec.frame, rec.len);
		d->lens[d->nread++] = rec.len;
		prev = rec.seq;
		off += SPOOL_RECORD_SIZE + rec.len;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	writer_done(s, d);
}

static void writer_scan(struct spool *s);

static void *writer_main(void *arg)
{
	struct spool *s = arg;

	if (s->nscan > 0)
		writer_scan(s);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct job *j;
		uint64_t acked;

		while (!s->stop && s->jobs == NULL && s->acked == s->acked_done) {
			struct timespec ts;
			uint64_t due;

			if (!s->dirty) {
				s->writer_idle = 1;
				pthread_cond_wait(&s->cv, &s->mu);
				s->writer_idle = 0;
				continue;
			}
			due = s->last_sync_ms + (uint64_t)s->conf.fsync_s * 1000;
			if (mono_now_ms() >= due)
				break;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((due - mono_now_ms()) / 1000);
			ts.tv_nsec += (long)((due - mono_now_ms()) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		}
		if (s->stop && s->jobs == NULL && s->acked == s->acked_done)
			break;
		j = s->jobs;
		if (j != NULL) {
			s->jobs = j->next;
			if (s->jobs == NULL)
				s->jobs_tail = &s->jobs;
		}
		acked = s->acked;
		pthread_mutex_unlock(&s->mu);

		if (acked != s->acked_done)
			writer_ack(s, acked);
		if (j != NULL && j->kind == JOB_APPEND)
			writer_append(s, j);
		else if (j != NULL)
			writer_read(s, j);
		if (s->dirty && mono_now_ms() >= s->last_sync_ms + (uint64_t)s->conf.fsync_s * 1000)
			writer_sync_batches(s);

		pthread_mutex_lock(&s->mu);
		if (j != NULL && j->kind == JOB_APPEND)
			s->job_bytes -= j->len;
		if (j != NULL) {
			free(j->frame);
			free(j);
		}
	}
	pthread_mutex_unlock(&s->mu);
	writer_close_cur(s);
	writer_sync(s);
	return NULL;
}

/*
 * Queues `j` for the writer (under mu); the caller signals cv once it has
 * let go of mu, so that the writer it wakes does not wait for it at once.
 */
static void writer_post(struct spool *s, struct job *j)
{
	j->next = NULL;
	*s->jobs_tail = j;
	s->jobs_tail = &j->next;
}

/* --- back on the loop: what the writer did --- */

static void done_appended(struct spool *s, struct done *d)
{
	uint64_t abs;
	struct ent *e;

	/* seqs grow along the index, and what is being written is near its end */
	for (abs = s->first_abs + s->n; abs > s->first_abs; abs--)
		if (ent_at(s, abs - 1)->seq <= d->seq)
			break;
	abs--;
	if (!ent_valid(s, abs) || (e = ent_at(s, abs))->seq != d->seq || e->state != ENT_WRITING)
		return; /* acknowledged meanwhile */
	if (d->kind == DONE_APPEND_FAILED) {
		if (!s->disk_failing) {
			uint64_t now = mono_now_ms();

			s->disk_failing = 1;
			s->fail_n = 0;
			if (s->fail_end_ms != 0 && now - s->fail_end_ms < SPOOL_FAIL_AGAIN_MS)
				s->fail_quiet_ms = s->fail_quiet_ms * 2 < SPOOL_FAIL_QUIET_MAX_MS
						       ? s->fail_quiet_ms * 2
						       : SPOOL_FAIL_QUIET_MAX_MS;
			else
				s->fail_quiet_ms = SPOOL_FAIL_QUIET_MS;
			log_warnx(
			    "spool: %s cannot be written (see above): keeping batches in "
			    "memory only (queue_size %llu bytes, queue_batches %u) until it can",
			    s->dir, s->conf.mem_bytes, s->conf.mem_batches);
		}
		s->fail_n++;
		s->last_fail_ms = mono_now_ms();
		ent_set_memory(s, e, abs);
		mem_bound(s, 0);
		return;
	}
	/* near a full disk appends fail and work by turns: the episode ends after a quiet spell */
	if (s->disk_failing && mono_now_ms() - s->last_fail_ms >= s->fail_quiet_ms) {
		s->disk_failing = 0;
		s->fail_end_ms = mono_now_ms();
		log_warnx("spool: %s is written again; %" PRIu64
			  " batches were kept in memory only meanwhile (lost if the agent stops "
			  "before they are acknowledged)",
			  s->dir, s->fail_n);
	}
	e->state = ENT_DISK;
	e->seg = d->seg;
	e->off = d->off;
	/* keep the frame while it waits to be sent and the window has room */
	if (abs < s->cursor || s->mem > s->conf.mem_bytes)
		ent_free_frame(s, e);
}

static void done_dropped(struct spool *s, struct done *d)
{
	for (uint64_t abs = s->first_abs; abs < s->first_abs + s->n; abs++) {
		struct ent *e = ent_at(s, abs);

		if (e->seq > d->hi)
			break;
		if (e->state == ENT_DISK && e->seg == d->seg)
			ent_drop(s, abs, "spool_size reached");
	}
	ent_pop_front(s, 0, NULL);
}

static void done_read(struct spool *s, struct done *d)
{
	s->reading = 0;
	for (uint32_t i = 0; i < d->count; i++) {
		uint64_t abs = d->abs + i;
		struct ent *e;

		if (!ent_valid(s, abs)) {
			if (i < d->nread)
				free(d->frames[i]);
			continue;
		}
		e = ent_at(s, abs);
		e->reading = 0;
		if (i < d->nread && e->state == ENT_DISK && e->frame == NULL &&
		    e->len == d->lens[i]) {
			e->frame = d->frames[i];
			s->mem += e->len;
		} else if (i < d->nread) {
			free(d->frames[i]);
		} else if (e->state == ENT_DISK) {
			ent_drop(s, abs, "a spooled batch could not be read back");
		}
	}
	ent_pop_front(s, 0, NULL);
}

/*
 * Entries `from`..`to` of `ents` at or below `acked`, which a collector held
 * from another copy of this spool: counted, and logged with their seqs.
 */
static void copies_count(struct spool *s, const struct ent *ents, size_t from, size_t to,
			 size_t cap, uint64_t acked, const char *what)
{
	uint64_t n = 0, samples = 0, results = 0, lo = 0, hi = 0;

	for (size_t i = from; i < to; i++) {
		const struct ent *e = &ents[i % cap];

		if (e->state == ENT_DROPPED || e->seq > acked)
			continue;
		if (n++ == 0)
			lo = e->seq;
		hi = e->seq;
		samples += e->nsamples;
		results += e->nresults;
	}
	if (n == 0)
		return;
	s->st.batches_copied += n;
	log_warnx("spool: %s: %" PRIu64 " batches %s (batches %" PRIu64 "..%" PRIu64 ", %" PRIu64
		  " samples, %" PRIu64 " results) are not sent: the collector holds their seqs "
		  "from another copy of this spool; what a restored backup holds reached it "
		  "from the original, what a cloned machine made since the copy is lost",
		  s->dir != NULL ? s->dir : "(memory)", n, what, lo, hi, samples, results);
}

/* The older segments are read: their batches go in front of the index. */
static void done_scanned(struct spool *s, struct done *d)
{
	size_t k = 0, ncap = 64;
	uint64_t limit = s->scan_limit;
	struct ent *ne;

	/*
	 * Below what the index holds already, too: a newer segment whose name
	 * lies above its batches (copied, renamed) must not have them go twice.
	 */
	if (s->n > 0 && s->e[s->head].seq < limit)
		limit = s->e[s->head].seq;
	while (ncap < d->nents + s->n)
		ncap *= 2;
	ne = xcalloc(ncap, sizeof(*ne));
	if (s->copy_acked > 0)
		copies_count(s, d->ents, 0, d->nents, d->nents, s->copy_acked,
			     "read back from older segments");
	for (size_t i = 0; i < d->nents; i++)
		if (d->ents[i].seq > s->ack_seen && d->ents[i].seq < limit)
			ne[k++] = d->ents[i];
	for (size_t i = 0; i < s->n; i++)
		ne[k + i] = s->e[(s->head + i) % s->cap];
	free(s->e);
	s->e = ne;
	s->cap = ncap;
	s->head = 0;
	s->n += k;
	s->live += k;
	/* nothing was sent meanwhile: the cursor is at the front */
	s->cursor = s->memlo = s->first_abs;
	s->sent = 0;
	s->scanning = 0;
	log_info("spool: %s: stream %016" PRIx64 ", %zu unacknowledged batches read back from %zu "
		 "older segments (%llu bytes) in %.1f s; %zu unacknowledged batches in all",
		 s->dir, s->stream, k, d->nsegs, d->bytes,
		 (double)(mono_now_ms() - s->scan_ms) / 1000.0, s->live);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spool *s = arg;
	struct done *list, *d;
	char buf[256];

	/* a byte per wake, and the writer wakes the loop once per list it takes: a short read is all */
	while (read(s->pipe_r, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		;
	pthread_mutex_lock(&s->mu);
	list = s->dones;
	s->dones = NULL;
	s->dones_tail = &s->dones;
	s->st.disk_bytes = s->disk_total;
	pthread_mutex_unlock(&s->mu);
	while ((d = list) != NULL) {
		list = d->next;
		switch (d->kind) {
		case DONE_APPENDED:
		case DONE_APPEND_FAILED:
			done_appended(s, d);
			break;
		case DONE_DROPPED:
			done_dropped(s, d);
			break;
		case DONE_READ:
			done_read(s, d);
			break;
		case DONE_SCANNED:
			s->st.segments_unreadable += d->unreadable;
			done_scanned(s, d);
			break;
		}
		free(d->frames);
		free(d->lens);
		free(d->ents);
		free(d);
	}
	s->ready(s->arg);
}

/* --- start-up: what an earlier run left --- */

/* Index entries as start-up reads them, before they join the index. */
struct entvec {
	struct ent *v;
	size_t n, cap;
};

struct scan_ctx {
	struct entvec *out;
	uint64_t acked, seg, last;
	uint64_t lo, n; /* the records found: the first seq, how many */
};

static void scan_rec(const struct spool_rec *r, void *arg)
{
	struct scan_ctx *c = arg;
	struct ent *e;

	if (c->n++ == 0)
		c->lo = r->seq;
	c->last = r->seq;
	if (r->seq <= c->acked)
		return;
	if (c->out->n == c->out->cap) {
		c->out->cap = c->out->cap ? c->out->cap * 2 : 64;
		c->out->v = xreallocarray(c->out->v, c->out->cap, sizeof(*c->out->v));
	}
	e = &c->out->v[c->out->n++];
	memset(e, 0, sizeof(*e));
	e->seq = r->seq;
	e->len = r->len;
	e->nsamples = r->nsamples;
	e->nresults = r->nresults;
	e->seg = c->seg;
	e->off = (uint32_t)r->off;
	e->state = ENT_DISK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "N records (batches A..B) kept" for a log line. */
static const char *scan_kept(const struct scan_ctx *c, char *buf, size_t len)
{
	if (c->n == 0)
		snprintf(buf, len, "no record kept");
	else
		snprintf(buf, len, "%" PRIu64 " records (batches %" PRIu64 "..%" PRIu64 ") kept",
			 c->n, c->lo, c->last);
	return buf;
}

/*
 * A segment that cannot be opened (a permission, an I/O error): its batches
 * are lost, but its name must not be taken by a new segment, whose creation
 * would overwrite it, and its seqs not by new batches (the caller skips
 * them). It is renamed to NAME.unreadable, which the spool leaves alone, for
 * whoever looks into it; should that fail too, it stays where it is.
 */
static void seg_set_aside(struct spool *s, const char *name, int err)
{
	char aside[48];

	snprintf(aside, sizeof(aside), "%s.unreadable", name);
	if (renameat(s->dirfd, name, s->dirfd, aside) == 0) {
		log_warnx("spool: %s/%s: cannot open (%s): its batches are lost; set aside as %s, "
			  "and no new batch takes its seqs",
			  s->dir, name, strerror(err), aside);
		writer_sync_dir(s);
	} else {
		log_warnx("spool: %s/%s: cannot open (%s): its batches are lost; cannot set it "
			  "aside either (%s): left there, and no new batch takes its seqs",
			  s->dir, name, strerror(err), strerror(errno));
	}
}

/*
 * Reads one segment: skips damaged records, cuts a torn or corrupt tail
 * (*cut set), says so in one line; its unacknowledged batches go to `out`.
 * 1 and *g when it holds records, 0 when it held none (removed), -1 when
 * it cannot be opened (set aside). On the loop before it runs, or on the
 * writer thread.
 */
static int scan_segment(struct spool *s, uint64_t first, uint64_t acked, uint64_t prev,
			struct entvec *out, struct seg *g, int *cut)
{
	char name[32], holes[160], kept[96];
	struct stat st;
	uint8_t *buf;
	size_t want, good;
	ssize_t r;
	const char *why;
	struct scan_ctx c = {out, acked, first, 0, 0, 0};
	struct recscan_result res;
	uint64_t stream = s->stream;
	int fd, hdr;

	seg_name(name, sizeof(name), first);
	fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		seg_set_aside(s, name, err);
		return -1;
	}
	want = (size_t)(st.st_size < (off_t)SPOOL_READ_MAX ? st.st_size : (off_t)SPOOL_READ_MAX);
	buf = xmalloc(want ? want : 1);
	r = pread(fd, buf, want, 0);
	if (r < 0) {
		log_warn("spool: %s/%s: cannot read", s->dir, name);
		r = 0;
	}
	good = spool_scan_segment(buf, (size_t)r, s->stream, prev, first, scan_rec, &c, &stream,
				  &why, &res);
	free(buf);
	if (good == 0) {
		log_warnx("spool: %s/%s: offset 0: %s; the segment (%lld bytes) is removed", s->dir,
			  name, why ? why : "empty", (long long)st.st_size);
		*cut = 1;
		close(fd);
		unlinkat(s->dirfd, name, 0);
		writer_sync_dir(s);
		return 0;
	}
	recscan_holes_text(&res, holes, sizeof(holes));
	scan_kept(&c, kept, sizeof(kept));
	hdr = res.holes > 0 && res.hole_from == 0;
	if (good < (size_t)st.st_size) {
		log_warnx(
		    "spool: %s/%s: offset %zu: %s; cut there (%lld bytes after it removed)%s%s"
		    ", %s",
		    s->dir, name, good, why ? why : "segment too large",
		    (long long)st.st_size - (long long)good, res.holes ? "; skipped " : "", holes,
		    kept);
		*cut = 1;
		if (ftruncate(fd, (off_t)good) < 0 || fdatasync(fd) < 0)
			log_warn("spool: %s/%s: cannot cut at offset %zu", s->dir, name, good);
	} else if (res.holes > (hdr ? 1U : 0U)) {
		/* what follows a hole is good: the file stays as it is, the hole is lost */
		log_warnx("spool: %s/%s: %s; skipped (%s), %s", s->dir, name, holes,
			  res.holes == 1 && res.hole_why == seq_repeated
			      ? "a copy of the record before it: no batch is lost"
			      : "any batch in it is lost",
			  kept);
	}
	if (hdr) {
		uint8_t h[SPOOL_HEADER_SIZE];

		/* a damaged header is written again, from the name and the stream */
		log_warnx("spool: %s/%s: offset 0: damaged segment header; written again from the "
			  "file's name and the spool's stream, %s",
			  s->dir, name, kept);
		header_encode(h, seg_magic, s->stream, first);
		if (pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || fdatasync(fd) < 0)
			log_warn("spool: %s/%s: offset 0: cannot write the header again", s->dir,
				 name);
	}
	close(fd);
	if (c.n == 0) {
		/*
		 * Only a header (its first append failed: a full disk). It goes:
		 * the next start's first segment may take its name, and deleting
		 * this one later would delete that file.
		 */
		log_info("spool: %s/%s: no record; the segment is removed", s->dir, name);
		unlinkat(s->dirfd, name, 0);
		writer_sync_dir(s);
		return 0;
	}
	*g = (struct seg){.first = first, .last = c.last, .size = good};
	return 1;
}

/* Puts segments g[0..n) (older than all of s->segs, in order) in front of them. */
static void segs_prepend(struct spool *s, const struct seg *g, size_t n)
{
	if (s->nsegs + n > s->segcap) {
		s->segcap = s->nsegs + n + 16;
		s->segs = xreallocarray(s->segs, s->segcap, sizeof(*s->segs));
	}
	memmove(s->segs + n, s->segs, s->nsegs * sizeof(*s->segs));
	memcpy(s->segs, g, n * sizeof(*g));
	s->nsegs += n;
	for (size_t i = 0; i < n; i++)
		s->total += g[i].size;
}

/* The stream a segment header names, the first that decodes; 0: none. */
static uint64_t stream_of_segments(struct spool *s, const uint64_t *firsts, size_t nf)
{
	for (size_t i = 0; i < nf; i++) {
		uint8_t h[SPOOL_HEADER_SIZE];
		uint64_t st, first;
		char name[32];
		int fd;

		seg_name(name, sizeof(name), firsts[i]);
		fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		    header_decode(h, seg_magic, &st, &first) == NULL && st != 0) {
			close(fd);
			return st;
		}
		close(fd);
	}
	return 0;
}

/*
 * On the writer thread, before anything else: reads the segments older
 * than the newest and hands their batches to the loop, which sends them
 * first. A stop ends it early: what is not read stays for the next start.
 */
static void writer_scan(struct spool *s)
{
	struct entvec v = {0};
	struct seg *gs = xcalloc(s->nscan, sizeof(*gs));
	struct done *d = xcalloc(1, sizeof(*d));
	size_t ng = 0;
	uint64_t prev = 0;
	int cut = 0;

	for (size_t i = 0; i < s->nscan; i++) {
		int stop;

		pthread_mutex_lock(&s->mu);
		stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		switch (scan_segment(s, s->scan_firsts[i], s->scan_acked, prev, &v, &gs[ng], &cut)) {
		case 1:
			if (gs[ng++].last > prev)
				prev = gs[ng - 1].last;
			break;
		case -1:
			d->unreadable++;
			break;
		}
	}
	segs_prepend(s, gs, ng);
	d->kind = DONE_SCANNED;
	d->ents = v.v;
	d->nents = v.n;
	d->nsegs = ng;
	for (size_t i = 0; i < ng; i++)
		d->bytes += gs[i].size;
	free(gs);
	free(s->scan_firsts);
	s->scan_firsts = NULL;
	writer_done(s, d);
}

/*
 * A segment's file name (16 hex digits of its first seq, ".seg"): 1 and
 * *first; -1 for a name of that form whose seq no stream reaches (2^63 or
 * more), which is no segment of this agent's; 0 for any other name. The
 * scan and the owner check both ask here, so that they agree.
 */
static int seg_file(const char *name, uint64_t *first)
{
	char *end;
	unsigned long long v;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return 0;
	errno = 0;
	v = strtoull(name, &end, 16);
	if (errno != 0 || end != name + 16 || v == 0)
		return 0;
	*first = v;
	/* the skip past it, were it unreadable, would wrap round */
	return v < SPOOL_SEQ_LIMIT ? 1 : -1;
}

int spool_has_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t first;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += seg_file(de->d_name, &first) == 1;
	closedir(d);
	return n;
}

/* A small file of spool_dir in buf, NUL-terminated: 1, or 0 when missing, unreadable or empty. */
static int read_small(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t r;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	return 1;
}

/* The pid the agent holding spool_dir wrote in its lock file; 0: not known. */
static long lock_holder(int dirfd)
{
	char buf[32];
	long pid = 0;

	if (!read_small(dirfd, "lock", buf, sizeof(buf)))
		return 0;
	if (sscanf(buf, "%ld", &pid) != 1 || pid <= 0)
		return 0;
	return pid;
}

int spool_dir_in_use(const char *dir, long *pid)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, busy = 0;

	*pid = 0;
	if (dirfd < 0)
		return 0;
	fd = openat(dirfd, "state", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		busy = 1;
		*pid = lock_holder(dirfd);
	}
	if (fd >= 0)
		close(fd); /* and with it a lock taken here */
	close(dirfd);
	return busy;
}

/* Says who holds spool_dir, for the next agent that finds it locked. */
static void lock_write(struct spool *s)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	int fd = openat(s->dirfd, "lock", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		log_warn("spool: %s/lock: cannot write", s->dir);
	if (fd >= 0)
		close(fd);
}

/*
 * What `next` says: its seq in *next (0: none), 1 when it says the run
 * stopped cleanly. Only what next_write writes counts: anything else (a
 * sign, a seq near 2^64 that the skip would wrap round to a small one) is
 * logged and taken as an unclean stop without a seq.
 */
static int next_read(struct spool *s, uint64_t *next)
{
	char buf[64], *end;
	size_t len;

	*next = 0;
	if (!read_small(s->dirfd, SPOOL_NEXT, buf, sizeof(buf)))
		return 0;
	len = strlen(buf);
	errno = 0;
	if (len == 29 && strspn(buf, "0123456789") == 20)
		*next = strtoull(buf, &end, 10);
	if (*next == 0 || errno != 0 || *next >= SPOOL_SEQ_LIMIT ||
	    (strcmp(end, " clean  \n") != 0 && strcmp(end, " running\n") != 0)) {
		buf[strcspn(buf, "\n")] = '\0';
		log_warnx("spool: %s/%s: \"%.40s\" is not what the agent writes there (20 digits "
			  "of a seq below 2^63, then running or clean); taken as a stop that was "
			  "not clean",
			  s->dir, SPOOL_NEXT, buf);
		*next = 0;
		return 0;
	}
	return strcmp(end, " clean  \n") == 0;
}

/*
 * Writes `next`, synced: "N running" or "N clean", always 29 bytes written
 * in place, so that a full disk does not stop it once the file exists. When
 * it cannot be written it goes, which the next start takes as an unclean stop.
 */
static int next_write(struct spool *s, uint64_t next, int clean)
{
	char buf[64];
	int n =
	    snprintf(buf, sizeof(buf), "%020" PRIu64 " %s\n", next, clean ? "clean  " : "running");
	int fd = openat(s->dirfd, SPOOL_NEXT, O_WRONLY | O_CREAT | O_CLOEXEC, 0640), ok;

	ok = fd >= 0 && pwrite(fd, buf, (size_t)n, 0) == n && fdatasync(fd) == 0;
	if (!ok) {
		log_warn("spool: %s/%s: cannot write", s->dir, SPOOL_NEXT);
		unlinkat(s->dirfd, SPOOL_NEXT, 0);
	}
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

static int spool_load(struct spool *s)
{
	uint8_t h[SPOOL_STATE_SIZE];
	uint64_t acked = 0, stream = 0, *firsts = NULL, top;
	size_t nf = 0, cf = 0;
	ssize_t r;
	uint64_t next, unreadable = 0; /* the first seq of the newest segment that cannot be opened */
	int clean, unclean;
	DIR *d;
	struct dirent *de;

	if (mkdir(s->dir, 0750) < 0 && errno != EEXIST) {
		log_warn("spool: cannot create spool_dir %s", s->dir);
		return -1;
	}
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		log_warn("spool: cannot open spool_dir %s", s->dir);
		return -1;
	}
	s->state_fd = openat(s->dirfd, "state", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (s->state_fd < 0) {
		log_warn("spool: %s/state: cannot open for writing", s->dir);
		return -1;
	}
	if (flock(s->state_fd, LOCK_EX | LOCK_NB) < 0) {
		long pid;

		if (errno != EWOULDBLOCK) {
			log_warn("spool: %s/state: cannot lock", s->dir);
			return -1;
		}
		pid = lock_holder(s->dirfd);
		log_warnx("spool: spool_dir %s is in use by another vakt-agent (pid %ld%s): two "
			  "agents cannot share a spool_dir; give each its own",
			  s->dir, pid, pid ? "" : ", not known");
		s->locked = 1;
		return -1;
	}
	lock_write(s);
	clean = next_read(s, &next);
	r = pread(s->state_fd, h, sizeof(h), 0);
	if (r == (ssize_t)sizeof(h)) {
		const char *why = header_decode(h, state_magic, &stream, &acked);

		if (why != NULL) {
			log_warnx("spool: %s/state: offset 0: %s; ignored", s->dir, why);
			stream = acked = 0;
		}
	} else if (r > 0) {
		log_warnx("spool: %s/state: offset 0: torn (%zd bytes); ignored", s->dir, r);
	}
	s->stream = stream;
	d = fdopendir(dup(s->dirfd));
	if (d == NULL) {
		log_warn("spool: cannot list spool_dir %s", s->dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t v;
		int kind = seg_file(de->d_name, &v);

		if (kind == 0)
			continue;
		if (kind < 0) {
			log_warnx("spool: %s/%s: named for a seq no stream reaches (2^63 or "
				  "more): not a segment of this agent's; left alone",
				  s->dir, de->d_name);
			continue;
		}
		if (nf == cf) {
			cf = cf ? cf * 2 : 64;
			firsts = xreallocarray(firsts, cf, sizeof(*firsts));
		}
		firsts[nf++] = v;
	}
	closedir(d);
	if (nf > 0)
		qsort(firsts, nf, sizeof(*firsts), cmp_u64);
	if (s->stream == 0) /* no state file: the segments say whose they are */
		s->stream = stream_of_segments(s, firsts, nf);
	/*
	 * The newest segments now, back to the first that holds a record: it
	 * says where seqs go on. The older ones (all their seqs lower) are
	 * read on the writer thread while the agent runs.
	 */
	top = 0;
	while (nf > 0 && top == 0) {
		struct entvec v = {0};
		struct seg g;

		nf--;
		switch (scan_segment(s, firsts[nf], acked, 0, &v, &g, &s->cut)) {
		case -1:
			/* its seqs start at its name: new batches go past them */
			s->st.segments_unreadable++;
			if (firsts[nf] > unreadable)
				unreadable = firsts[nf];
			/* fall through */
		case 0:
			free(v.v);
			continue;
		}
		segs_prepend(s, &g, 1);
		/* before what newer segments put in the index */
		for (size_t i = 0; i < s->n; i++) {
			if (v.n == v.cap) {
				v.cap = v.cap ? v.cap * 2 : 64;
				v.v = xreallocarray(v.v, v.cap, sizeof(*v.v));
			}
			v.v[v.n++] = *ent_at(s, s->first_abs + i);
		}
		s->head = s->n = s->live = 0;
		for (size_t i = 0; i < v.n; i++)
			*ent_push(s) = v.v[i];
		free(v.v);
		top = g.last;
	}
	s->scan_ms = mono_now_ms();
	s->scan_acked = acked;
	if (nf > 0) {
		s->scanning = 1;
		s->scan_firsts = firsts;
		s->nscan = nf;
		s->scan_limit = firsts[nf];
	} else {
		free(firsts);
	}
	/* a stream of the last run's: without a clean stop, it may have sent what is not here */
	unclean = s->stream != 0 && !clean;
	if (s->stream == 0) {
		next = 0;
		s->cut = 0; /* a new stream: no collector knows any of its seqs */
		while (s->stream == 0)
			if (getrandom(&s->stream, sizeof(s->stream), 0) != sizeof(s->stream))
				s->stream = ((uint64_t)random() << 32) ^ (uint64_t)random() ^
					    (uint64_t)getpid();
		log_info("spool: %s: new stream %016" PRIx64, s->dir, s->stream);
	}
	s->next_seq = (top > acked ? top : acked) + 1;
	/* a skip of an earlier start, which no batch may show yet */
	if (next > s->next_seq)
		s->next_seq = next;
	if (unreadable != 0) {
		/* newer than every segment read: its seqs are not known, from its name on */
		s->next_seq = (unreadable > s->next_seq ? unreadable : s->next_seq) + SPOOL_SEQ_SKIP;
		log_warnx("spool: %s: new batches start at %" PRIu64 ", past the segment that "
			  "cannot be opened, so that none reuses the seq of a batch in it",
			  s->dir, s->next_seq);
	} else if (s->cut) {
		s->next_seq += SPOOL_SEQ_SKIP;
		log_info("spool: %s: after the cut, new batches start at %" PRIu64
			 " so that none reuses the seq of a batch that was lost",
			 s->dir, s->next_seq);
	} else if (unclean) {
		s->next_seq += SPOOL_SEQ_SKIP;
		log_info(
		    "spool: %s: the agent did not stop cleanly: new batches start at %" PRIu64
		    " so that none reuses the seq of a batch that a collector may hold and this "
		    "disk does not (not synced yet, or kept in memory only)",
		    s->dir, s->next_seq);
	}
	next_write(s, s->next_seq, 0);
	s->acked_done = acked;
	/* a stream id that is not durable would let a restart start seq over */
	header_encode(h, state_magic, s->stream, acked);
	if (pwrite(s->state_fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    fdatasync(s->state_fd) < 0) {
		log_warn("spool: %s/state: cannot write", s->dir);
		return -1;
	}
	writer_sync_dir(s);
	s->acked = acked;
	return 0;
}

struct spool *spool_open(struct event_base *base, const struct spool_conf *c, void (*ready)(void *),
			 void *arg)
{
	struct spool *s = xcalloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int p[2];

	s->base = base;
	s->conf = *c;
	if (s->conf.max_bytes == 0)
		s->conf.max_bytes = SPOOL_SIZE_DEFAULT;
	if (s->conf.mem_batches == 0)
		s->conf.mem_batches = UINT32_MAX;
	s->ready = ready;
	s->arg = arg;
	s->next_seq = 1;
	s->dirfd = s->state_fd = s->cur_fd = s->pipe_r = s->pipe_w = -1;
	s->jobs_tail = &s->jobs;
	s->dones_tail = &s->dones;
	s->seg_max = s->conf.max_bytes / 8;
	if (s->seg_max < SPOOL_SEG_MIN)
		s->seg_max = SPOOL_SEG_MIN;
	if (s->seg_max > SPOOL_SEG_MAX)
		s->seg_max = SPOOL_SEG_MAX;
	if (c->dir == NULL || c->dir[0] == '\0') {
		log_warnx("spool: no spool_dir: unacknowledged batches are kept in memory only "
			  "(queue_size %llu bytes) and lost when the agent stops",
			  s->conf.mem_bytes);
		return s;
	}
	s->dir = xstrdup(c->dir);
	if (spool_load(s) < 0 || pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		if (s->locked) {
			if (s->state_fd >= 0)
				close(s->state_fd);
			if (s->dirfd >= 0)
				close(s->dirfd);
			free(s->dir);
			free(s);
			return NULL;
		}
		log_warnx("spool: %s cannot be used: unacknowledged batches are kept in memory "
			  "only (queue_size %llu bytes) and lost when the agent stops",
			  s->dir, s->conf.mem_bytes);
		/* what was read stays readable by a later run; this one sends nothing of it */
		while (s->n > 0) {
			s->head = (s->head + 1) % s->cap;
			s->n--;
		}
		s->live = 0;
		s->next_seq = 1;
		s->stream = 0;
		if (s->state_fd >= 0)
			close(s->state_fd);
		if (s->dirfd >= 0)
			close(s->dirfd);
		s->state_fd = s->dirfd = -1;
		s->nsegs = 0;
		free(s->scan_firsts);
		s->scan_firsts = NULL;
		s->scanning = 0;
		return s;
	}
	s->pipe_r = p[0];
	s->pipe_w = p[1];
	s->cursor = s->memlo = s->first_abs;
	s->disk_total = s->st.disk_bytes = s->total;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->done_ev = event_new(base, s->pipe_r, EV_READ | EV_PERSIST, done_cb, s);
	event_add(s->done_ev, NULL);
	s->last_sync_ms = mono_now_ms();
	/* said before the writer runs: the segments and their bytes are its from then on */
	if (s->scanning)
		log_info("spool: %s: stream %016" PRIx64
			 ", %zu unacknowledged batches in the newest "
			 "%zu segments (%llu bytes), next batch %" PRIu64 "; reading %zu older "
			 "segments in the background: their batches are sent first",
			 s->dir, s->stream, s->live, s->nsegs, s->total, s->next_seq, s->nscan);
	else
		log_info("spool: %s: stream %016" PRIx64 ", %zu unacknowledged batches in %zu "
			 "segments (%llu bytes), next batch %" PRIu64,
			 s->dir, s->stream, s->live, s->nsegs, s->total, s->next_seq);
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0)
		fatalx("spool: cannot start the writer thread");
	s->on_disk = 1;
	return s;
}

/*
 * After the writer's last sync: clean when every batch the agent may have
 * sent is on disk, that is unless one was kept in memory only and not
 * acknowledged (it may have reached a collector all the same) or a sync
 * failed. Either way `next` holds the next seq, which may lie past what the
 * disk shows (a skip).
 */
static void spool_mark_stop(struct spool *s)
{
	if (next_write(s, s->next_seq, !s->sync_failed && s->mem_hi <= s->ack_seen) == 0 &&
	    fsync(s->dirfd) < 0)
		log_warn("spool: %s: fsync of the directory", s->dir);
}

void spool_free(struct spool *s)
{
	if (s == NULL)
		return;
	if (s->on_disk) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		spool_mark_stop(s);
		for (struct done *d = s->dones, *nx; d != NULL; d = nx) {
			nx = d->next;
			for (uint32_t i = 0; i < d->nread; i++)
				free(d->frames[i]);
			free(d->frames);
			free(d->lens);
			free(d->ents);
			free(d);
		}
		event_free(s->done_ev);
		close(s->pipe_r);
		close(s->pipe_w);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		close(s->state_fd);
		close(s->dirfd);
	}
	for (size_t i = 0; i < s->n; i++)
		free(s->e[(s->head + i) % s->cap].frame);
	free(s->e);
	free(s->segs);
	free(s->scan_firsts);
	free(s->dir);
	free(s);
}

int spool_on_disk(const struct spool *s)
{
	return s->on_disk;
}

uint64_t spool_stream(const struct spool *s)
{
	return s->stream;
}

uint64_t spool_next_seq(const struct spool *s)
{
	return s->next_seq;
}

void spool_append(struct spool *s, uint64_t seq, uint8_t *frame, size_t len, uint32_t nsamples,
		  uint32_t nresults)
{
	struct ent *e;
	uint64_t abs;

	if (s->on_disk) {
		struct job *j = xcalloc(1, sizeof(*j));

		j->kind = JOB_APPEND;
		j->seq = seq;
		j->frame = xmalloc(SPOOL_RECORD_SIZE + len);
		memcpy(j->frame + SPOOL_RECORD_SIZE, frame, len);
		j->len = (uint32_t)len;
		j->nsamples = nsamples;
		j->nresults = nresults;
		pthread_mutex_lock(&s->mu);
		if (s->job_bytes + len <= SPOOL_WRITER_QUEUE || s->job_bytes == 0) {
			s->job_bytes += len;
			writer_post(s, j);
			pthread_mutex_unlock(&s->mu);
			pthread_cond_signal(&s->cv);
			abs = s->first_abs + s->n;
			e = ent_push(s);
			e->state = ENT_WRITING;
			goto fill;
		}
		pthread_mutex_unlock(&s->mu);
		free(j->frame);
		free(j);
		log_complain(
		    &s->behind, 60,
		    "spool: %s: the disk is too slow (%llu bytes wait for the writer): batch "
		    "%" PRIu64 " is kept in memory only",
		    s->dir, SPOOL_WRITER_QUEUE, seq);
	}
	mem_bound(s, ent_cost((uint32_t)len));
	abs = s->first_abs + s->n;
	e = ent_push(s);
	e->len = (uint32_t)len;
	ent_set_memory(s, e, abs);
fill:
	e->seq = seq;
	e->frame = frame;
	e->len = (uint32_t)len;
	e->nsamples = nsamples;
	e->nresults = nresults;
	s->mem += len;
	if (seq >= s->next_seq)
		s->next_seq = seq + 1;
}

uint64_t spool_skip_past(struct spool *s, uint64_t seq)
{
	uint64_t next = s->next_seq;

	if (seq < s->next_seq)
		return 0;
	if (seq >= SPOOL_SEQ_LIMIT - 1 - SPOOL_SEQ_SKIP) {
		log_warnx("spool: %s: a collector says it holds batches of stream %016" PRIx64
			  " up to %" PRIu64 ", more than any agent sends (its state database "
			  "damaged?); not believed: batches go on from %" PRIu64
			  ", and that collector may take them for copies (its batches "
			  "redelivered in vaktctl status)",
			  s->dir != NULL ? s->dir : "(memory)", s->stream, seq, next);
		return 0;
	}
	/* as after a stop that was not clean: the other copy may have sent more than it holds */
	s->next_seq = seq + 1 + SPOOL_SEQ_SKIP;
	s->copy_acked = seq;
	log_warnx("spool: %s: a collector holds batches of stream %016" PRIx64 " up to %" PRIu64
		  ", at or past %" PRIu64 ", the next of this spool: another copy of it sends "
		  "(a cloned machine, a restored backup); new batches start at %" PRIu64
		  " so that none reuses a seq the collector holds",
		  s->dir != NULL ? s->dir : "(memory)", s->stream, seq, next, s->next_seq);
	copies_count(s, s->e, s->head, s->head + s->n, s->cap, seq, "waiting here");
	return s->next_seq;
}

size_t spool_ack(struct spool *s, uint64_t seq)
{
	size_t n = 0;

	if (seq >= s->next_seq) {
		log_warnx("spool: acknowledgement of batch %" PRIu64 ", which was never sent (next "
			  "is %" PRIu64 "); ignored",
			  seq, s->next_seq);
		return 0;
	}
	if (seq > s->ack_seen)
		s->ack_seen = seq; /* also for batches start-up is still reading */
	ent_pop_front(s, seq, &n);
	if (n > 0)
		drop_episode_end(s);
	if (s->on_disk) {
		int wake = 0;

		pthread_mutex_lock(&s->mu);
		/*
		 * A writer with something to sync takes the ack when it syncs
		 * (within spool_fsync) or appends, whichever is first: waking it
		 * for each ack cost a thread switch per batch.
		 */
		if (seq > s->acked) {
			s->acked = seq;
			wake = s->writer_idle;
		}
		pthread_mutex_unlock(&s->mu);
		if (wake)
			pthread_cond_signal(&s->cv);
	}
	return n;
}

void spool_rewind(struct spool *s)
{
	s->cursor = s->first_abs;
	s->sent = 0;
}

/* Asks the writer for the run of on-disk batches from `abs` on. */
static void request_read(struct spool *s, uint64_t abs)
{
	struct ent *e = ent_at(s, abs);
	struct job *j = xcalloc(1, sizeof(*j));
	uint64_t next_off = e->off;

	j->kind = JOB_READ;
	j->seq = e->seq;
	j->seg = e->seg;
	j->off = e->off;
	j->abs = abs;
	/* what comes back counts against the memory window: a quarter of it at a time */
	unsigned long long chunk =
	    s->conf.mem_bytes / 4 < SPOOL_READ_CHUNK ? s->conf.mem_bytes / 4 : SPOOL_READ_CHUNK;

	while (ent_valid(s, abs) && (e = ent_at(s, abs))->state == ENT_DISK && e->frame == NULL &&
	       !e->reading && e->seg == j->seg && e->off == next_off &&
	       (j->count == 0 || j->len + SPOOL_RECORD_SIZE + e->len <= chunk)) {
		e->reading = 1;
		j->len += SPOOL_RECORD_SIZE + e->len;
		next_off += SPOOL_RECORD_SIZE + e->len;
		j->count++;
		abs++;
	}
	s->reading = 1;
	pthread_mutex_lock(&s->mu);
	writer_post(s, j);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_signal(&s->cv);
}

int spool_send(struct spool *s, struct evbuffer *out, uint64_t *seq, spool_put_fn put, void *arg)
{
	if (s->scanning)
		return 0; /* the older batches go first: ready() follows once they are read */
	while (ent_valid(s, s->cursor)) {
		struct ent *e = ent_at(s, s->cursor);

		if (e->state == ENT_DROPPED) {
			s->cursor++;
			continue;
		}
		if (e->state == ENT_WRITING)
			return 0; /* sent once it is on disk */
		if (e->frame == NULL) {
			if (!s->reading)
				request_read(s, s->cursor);
			return 0;
		}
		if (put != NULL)
			put(arg, out, e->frame, e->len);
		else
			evbuffer_add(out, e->frame, e->len);
		*seq = e->seq;
		s->cursor++;
		s->sent++;
		/* on disk: read back if it must go again */
		if (e->state == ENT_DISK)
			ent_free_frame(s, e);
		return 1;
	}
	return 0;
}

size_t spool_unsent(const struct spool *s)
{
	/* dropped batches after the cursor are none: they are skipped, never sent */
	return s->live - s->sent;
}

void spool_get_stats(const struct spool *s, struct spool_stats *st)
{
	*st = s->st;
	st->batches = s->live;
	st->mem_bytes = s->mem + (unsigned long long)s->live * sizeof(struct ent);
}
