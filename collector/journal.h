/*
 * journal.h - the collector's write-ahead journal: every batch the store
 * accepts is appended to a checksummed file under <data_dir>/journal and
 * fsynced (one fsync for every batch appended since the last: group
 * commit) before it is acknowledged. At start-up the journal is read back
 * into the RRD files; once they hold everything a journal file covers, the
 * file is removed (checkpoint). Used by the store's writer thread only.
 */
#ifndef VAKT_JOURNAL_H
#define VAKT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "recscan.h"
#include "sample.h"

struct journal;

/* What a start-up replay read. */
struct journal_replay_stats {
	unsigned files;
	uint64_t records, samples, bytes;
	uint64_t cut_bytes;     /* of torn or corrupt tails, cut */
	uint64_t skipped_bytes; /* of damaged records before good ones, skipped */
};

/*
 * Opens <dir> (made if missing) and lists the journal files left by an
 * earlier run. With a segment size, every file is made at that size up
 * front (its banner, then zeros, written and synced; journal_prepare()),
 * so that a commit's fdatasync writes no file metadata; 0: files grow as
 * they are written. NULL with a reason in why.
 */
struct journal *journal_open(const char *dir, uint64_t segment, char *why, size_t whylen);
void journal_free(struct journal *j);

/*
 * Calls fn for every record of the files left by an earlier run, oldest
 * first; fn owns the batch it is handed. A torn or corrupt record is
 * skipped to the next record that checks out, so that the acknowledged
 * batches after it are not lost; damage that no good record follows (a
 * torn tail) is cut off. Either is logged once per file, naming file,
 * offsets, reason and what was replayed. Returns -1 (why set) only when a
 * file cannot be read or cut.
 */
int journal_replay(struct journal *j, void (*fn)(struct sample_batch *b, void *arg), void *arg,
		   struct journal_replay_stats *st, char *why, size_t whylen);

/*
 * One journal file's bytes, as journal_replay() reads them: calls fn for
 * each record that checks out, in order (fn owns the batch), skipping
 * damaged records in the middle; returns where the good part ends (the
 * file is cut there; its length when the tail is good, or is zeros after
 * the last record: a pre-zeroed file's unwritten part) and fills *out.
 * For tests and fuzzing too.
 */
struct journal_scan {
	struct recscan_result r;
	uint64_t samples, lo, hi; /* handed to fn: samples, lowest and highest seq */
	size_t zeros;             /* of a zeroed tail after r.end: the file's clean end */
};
size_t journal_scan(const uint8_t *buf, size_t len, void (*fn)(struct sample_batch *b, void *arg),
		    void *arg, struct journal_scan *out);

/* Encodes b (its site, agent, stream and seq included) for the next commit. */
void journal_append(struct journal *j, const struct sample_batch *b);
/* Bytes appended and not yet committed. */
size_t journal_pending(const struct journal *j);
/*
 * Writes what was appended since the last commit and fsyncs it. On -1 (why
 * set) nothing of it is in the journal: the file is cut back to where it
 * was, and those batches must not be acknowledged.
 */
int journal_commit(struct journal *j, char *why, size_t whylen);

/* The number of the file being written; files are numbered upwards. */
uint64_t journal_current(const struct journal *j);
/* Bytes in the file being written: its banner and the records committed. */
uint64_t journal_size(const struct journal *j);
/* Whether the file being written holds no committed record yet. */
int journal_empty(const struct journal *j);
/*
 * Makes the next file ahead, a megabyte of zeros a call, for the writer
 * to call while no batch waits: 1 when it is ready (or files grow), 0 when
 * there is more to write, -1 (why set) when it cannot be made (a full
 * disk): the next file then grows as it is written, and the next call
 * starts again.
 */
int journal_prepare(struct journal *j, char *why, size_t whylen);
/*
 * Starts the next file (after a commit): the one made ahead when it is
 * ready, else one that grows; 0 or -1 with why.
 */
int journal_rotate(struct journal *j, char *why, size_t whylen);
/* The lowest number of a file still there (the current one when no other). */
uint64_t journal_oldest(const struct journal *j);
/* Removes every file numbered below n (their batches are in the RRD files). */
void journal_remove_before(struct journal *j, uint64_t n);

/* CRC-32 (IEEE) as the records carry it; exposed for the unit tests. */
uint32_t journal_crc32(const void *p, size_t n);
/*
 * A record's CRC: of the file's 8-byte salt (NULL: a file of version 1,
 * which has none), then of its payload; exposed for the tests.
 */
uint32_t journal_record_crc(const uint8_t *salt, const void *p, size_t n);

#endif
