/*
 * spool.h - the agent's unacknowledged batches: appended to checksummed
 * segment files in spool_dir before they are sent, deleted once the
 * collector acknowledges them, read back for replay after a restart or a
 * long outage. Disk I/O runs on a writer thread, never on the event loop.
 * Without a usable spool_dir the batches stay in memory only, bounded.
 *
 * On disk (all integers little endian; docs/protocol.md, "Agent spool"):
 *
 *   state      32 bytes: "VKSTATE\0", u32 version (1), u32 CRC32C of bytes
 *              16..31, u64 stream, u64 acked (the highest acknowledged seq)
 *   <first seq as 16 hex digits>.seg, each a header and records:
 *   header     32 bytes: "VKSPOOL\0", u32 version (1), u32 CRC32C of bytes
 *              16..31, u64 stream, u64 first seq (equal to the file name's)
 *   record     32 bytes: u32 magic "VKSR", u8 version (1), u8 flags (0),
 *              u16 zero, u32 CRC32C of bytes 12..(31 + len), u32 len,
 *              u64 seq, u32 samples, u32 results; then len bytes: the batch's
 *              frame exactly as sent (4-byte length + vakt.Frame)
 *
 * Records in a segment have growing seqs, from the header's first seq on
 * (above it when the append it was opened for failed); segments sort by
 * name. A record that ends past the end of its file is torn, one whose
 * magic, version, length, CRC or seq is wrong is corrupt. At start-up the
 * reader gets past either to the next record that checks out (recscan.h):
 * damage in the middle costs only the records it hit (the file keeps
 * those bytes until it is deleted), damage that no good record follows is
 * a tail and cut (the file truncated there); one log line per file names
 * the offsets, the reason and what was kept.
 */
#ifndef VAKT_SPOOL_H
#define VAKT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define SPOOL_HEADER_SIZE  32
#define SPOOL_RECORD_SIZE  32                 /* a record's header; its frame follows */
#define SPOOL_RECORD_MAX   ((16U << 20) + 4U) /* largest frame (max_frame) + its length */
#define SPOOL_SIZE_DEFAULT (256ULL << 20)

struct spool_conf {
	const char *dir;              /* NULL or "": memory only */
	unsigned long long max_bytes; /* segment files together (spool_size) */
	unsigned fsync_s;             /* fsync at most this long after a write; 0: every batch */
	unsigned long long mem_bytes; /* frames held in memory (queue_size) */
	unsigned mem_batches;         /* and their number (queue_batches) */
};

struct spool_stats {
	uint64_t batches;     /* unacknowledged, on disk or in memory */
	uint64_t mem_bytes;   /* what their frames hold in memory */
	uint64_t disk_bytes;  /* what the segment files hold */
	uint64_t memory_only; /* batches that could not be written to disk */
	uint64_t batches_dropped, samples_dropped, results_dropped, bytes_dropped;
	uint64_t segments_unreadable; /* found at start, could not be opened: their batches lost */
	uint64_t batches_copied;      /* waiting here, not sent: a collector held their seqs from
					 another copy of the spool (spool_skip_past) */
};

/*
 * Opens (creating if needed) the spool in c->dir, locks it (the state
 * file, flock; its `lock` file names the holder's pid) and reads what an
 * earlier run left there: verified records become the first batches to
 * send, a torn or corrupt tail is cut. Only the newest segment is read
 * here; the writer thread reads the older ones while the loop runs, and
 * spool_send() sends nothing until their batches are in line (ready()
 * follows). `ready(arg)` runs on the loop
 * whenever batches become sendable (written, or read back from disk). A
 * spool_dir that cannot be used is logged and the spool keeps batches in
 * memory; NULL only when another agent holds the lock (logged, naming the
 * directory and that agent's pid): two agents on one spool_dir is a
 * configuration mistake, and the second one must not start.
 */
struct spool *spool_open(struct event_base *base, const struct spool_conf *c, void (*ready)(void *),
			 void *arg);
/* Waits for the writer to finish what it was given (fsync included). */
void spool_free(struct spool *s);

/* 1 when another agent holds spool_dir `dir` (*pid: its pid, 0 when not known), else 0. */
int spool_dir_in_use(const char *dir, long *pid);
/* How many segment files `dir` holds, as start-up reads them (0 when it cannot be read). */
int spool_has_segments(const char *dir);

int spool_on_disk(const struct spool *s); /* 1 when batches reach spool_dir */
uint64_t spool_stream(const struct spool *s);
uint64_t spool_next_seq(const struct spool *s); /* the seq the next batch takes */
/* Takes `frame` (malloc'd); the batch is sent once it is written. */
void spool_append(struct spool *s, uint64_t seq, uint8_t *frame, size_t len, uint32_t nsamples,
		  uint32_t nresults);
/*
 * HelloAck says a collector holds `seq` of this stream, at or past the next
 * seq: another copy of this spool sends too. New batches then start past it,
 * and the batches waiting here (all below it, those start-up still reads
 * too) are not sent: counted (batches_copied) and logged with their seqs.
 * Returns the new next seq, 0 when `seq` is below it, or so near 2^63 that
 * no agent reaches it (logged: the skip would wrap round).
 */
uint64_t spool_skip_past(struct spool *s, uint64_t seq);
/* The collector holds every batch up to `seq`: forget them; returns how many. */
size_t spool_ack(struct spool *s, uint64_t seq);
/* A new connection: the next batch to send is the oldest unacknowledged. */
void spool_rewind(struct spool *s);
/* Puts one batch's frame on `out`, as it is or rewritten (the compact form). */
typedef void (*spool_put_fn)(void *arg, struct evbuffer *out, const uint8_t *frame, size_t len);
/*
 * Adds the next batch to send to `out`, through put(arg, ...) when put is
 * not NULL; 1 if one was added, 0 if none is ready (nothing left, or being
 * read back: ready() follows).
 */
int spool_send(struct spool *s, struct evbuffer *out, uint64_t *seq, spool_put_fn put, void *arg);
size_t spool_unsent(const struct spool *s); /* batches not yet sent on this connection */
void spool_get_stats(const struct spool *s, struct spool_stats *st);

/* CRC32C (Castagnoli), as iSCSI and ext4 use it; crc = 0 to start. */
uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same without the CPU's crc32 instruction, as a CPU without SSE 4.2 computes it. */
uint32_t spool_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/*
 * One segment file's bytes, as start-up reads them: calls rec() for each
 * good record in order and returns where the good part ends (where the
 * file is cut: its length when the tail is good). `prev_seq` is the
 * highest seq before this segment; *why says why the tail from there on is
 * no good (NULL: nothing, the whole buffer is good). *res (NULL: not
 * wanted) tells the damaged stretches skipped in the middle as well. A
 * header that is wrong returns 0 with *why set, unless it is damaged while
 * `stream` is known and `name_first` (the first seq the file's name says;
 * 0: none) stands in for it: then the records still count and the header
 * is the first damaged stretch, at offset 0. For tests and fuzzing too.
 */
struct spool_rec {
	uint64_t seq;
	uint32_t nsamples, nresults;
	size_t off; /* of the record header */
	const uint8_t *frame;
	uint32_t len;
};
struct recscan_result;
size_t spool_scan_segment(const uint8_t *buf, size_t len, uint64_t stream, uint64_t prev_seq,
			  uint64_t name_first, void (*rec)(const struct spool_rec *, void *),
			  void *arg, uint64_t *stream_out, const char **why,
			  struct recscan_result *res);

#endif
