/*
 * recscan.h - reads back a file of checksummed records laid end to end, as
 * the agent's spool segments and the collector's journal files hold them,
 * and gets past damage: after a record that does not check out it looks
 * for the next offset where one does (its magic, then the caller's whole
 * check: length, checksum, order), so that one bad byte costs only the
 * record it hit, not every record after it. Only damage that no good
 * record follows (a torn or corrupt tail) ends the good part of the file.
 * Damaged bytes may hold what looks like a record (payloads are often a
 * sender's bytes): a damaged record whose header still looks right is
 * skipped whole (the next record is looked for from its claimed end on),
 * and a record found by searching is passed over when the next good record
 * after it checks out only without it (see resync() in recscan.c).
 * Which record follows damage can depend on what comes after it, so a
 * file with a bad tail is read again, cut, until the cut file reads as the
 * same records: the file cut at r->end and read at the next start gives
 * back exactly what this read took (else it is cut at its first damage).
 * The search is bounded: checks at false record starts may read at most
 * about 32 times the buffer per reading, after which the rest counts as a
 * tail, and a file is read at most six times.
 */
#ifndef VAKT_RECSCAN_H
#define VAKT_RECSCAN_H

#include <stddef.h>
#include <stdint.h>

struct recscan_ops {
	const uint8_t *magic; /* every record starts with these bytes */
	size_t magic_len;
	/*
	 * The record at p, `avail` bytes before the end of the buffer, coming
	 * right after the record at `prev` (NULL: the first): its size (> 0)
	 * when it checks out, 0 when it runs past the end (torn), -1 when it
	 * is corrupt; *why says what is wrong. It is tried at every offset
	 * where the magic appears after damage, and on the record after a
	 * candidate before that one is taken, so its verdict must depend only
	 * on p and prev, and it must not change anything but what take() then
	 * uses: take() follows the check of the record taken.
	 */
	long (*check)(const uint8_t *p, const uint8_t *prev, size_t avail, void *arg,
		      const char **why);
	/* A record that checked out, `size` bytes at offset `off`; in order. */
	void (*take)(const uint8_t *p, size_t size, size_t off, void *arg);
	/*
	 * Optional: the size the header at p says its record has, when its
	 * magic is right and that size is within `avail`; 0 otherwise. A record
	 * whose header still looks right but that does not check out is
	 * skipped whole: the next record is looked for from its claimed end on,
	 * so that nothing inside it (bytes a sender chose) is read as a record.
	 */
	size_t (*claims)(const uint8_t *p, size_t avail, void *arg);
};

struct recscan_result {
	size_t end;           /* where the good part ends: the buffer's length, or a bad tail */
	const char *tail_why; /* why the bytes from `end` on are no good; NULL: none */
	size_t records;       /* taken */
	size_t holes;         /* damaged stretches between good records, skipped */
	size_t hole_bytes;    /* their bytes together */
	size_t hole_from, hole_to; /* the first of them: [from, to) */
	const char *hole_why;      /* and what was wrong at its start */
};

/*
 * Walks buf[start..len) record by record, calling ops->take for each good
 * one; fills *r. Every byte in [start, r->end) is in a record taken or in
 * a hole counted.
 */
void recscan(const uint8_t *buf, size_t len, size_t start, const struct recscan_ops *ops, void *arg,
	     struct recscan_result *r);

/*
 * The holes of *r for a log line: "offsets A..B (N bytes): WHY" and, when
 * there are more, "; N more damaged stretches, M bytes in all". "" when
 * there is none. Returns buf.
 */
char *recscan_holes_text(const struct recscan_result *r, char *buf, size_t len);

#endif
