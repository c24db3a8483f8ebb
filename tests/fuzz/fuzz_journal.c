/*
 * fuzz_journal.c - libFuzzer target for the collector's journal reader
 * (journal_scan in collector/journal.c), which start-up runs over every
 * journal file a crash, a power loss or a failing disk may have left, and
 * whose batches it writes to the RRD files. Aborts when the reader breaks
 * its contract; must never trust the input.
 *
 * Input layout: byte 0 is a mode, the rest is a journal file's bytes.
 *   bit 0  set: the harness first writes correct CRC-32s into every record
 *          it can walk (by the records' own length fields), so that the
 *          fuzzer reaches the record decoder behind the checksums
 *
 * Contract: the good part is at most the input; every batch handed over
 * has its samples within the record that held it; records and skipped
 * stretches fill the good part after the banner, but for a tail of zeros
 * (a pre-zeroed file's unwritten part) read as its clean end; scanning the
 * good part again hands over the same batches and finds no bad tail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_records.h"
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BATCHES 1024

struct seen {
	size_t n, samples;
	uint64_t seqs[MAX_BATCHES];
};

static void batch_cb(struct sample_batch *b, void *arg)
{
	struct seen *s = arg;

	CHECK(b != NULL && b->site != NULL);
	for (size_t i = 0; i < b->n; i++)
		CHECK(b->v[i].host != NULL && b->v[i].metric != NULL);
	if (s->n < MAX_BATCHES)
		s->seqs[s->n] = b->seq;
	s->n++;
	s->samples += b->n;
	sample_batch_free(b);
}

/*
 * Writes correct CRCs wherever the layout can be walked: after the 8-byte
 * banner of a version 1 file, else after a 16-byte banner whose last 8
 * bytes are the salt.
 */
static void fix_crcs(uint8_t *b, size_t len)
{
	int v1 = len >= 8 && memcmp(b, "VAKTJNL1", 8) == 0;
	const uint8_t *salt = v1 || len < 16 ? NULL : b + 8;
	size_t off = v1 ? 8 : 16;

	while (off + 12 <= len) {
		uint32_t rlen = rd32(b + off + 4);

		if (rlen > len - off - 12)
			break;
		wr32(b + off + 8, journal_record_crc(salt, b + off + 12, rlen));
		off += 12 + rlen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen a, b;
	struct journal_scan sa, sb;
	uint8_t *buf;
	size_t len, good, again;

	if (size < 1)
		return 0;
	len = size - 1;
	/* exactly the input's size, so a sanitizer sees any read past its end */
	buf = malloc(len ? len : 1);
	CHECK(buf != NULL);
	memcpy(buf, data + 1, len);
	if (data[0] & 1)
		fix_crcs(buf, len);

	memset(&a, 0, sizeof(a));
	good = journal_scan(buf, len, batch_cb, &a, &sa);
	CHECK(good <= len);
	CHECK(good == len || sa.r.tail_why != NULL);
	CHECK(sa.r.records == a.n && sa.samples == a.samples);
	CHECK(sa.r.hole_bytes <= good);
	/* the zeroed tail is zeros, at the end of the good part */
	CHECK(sa.r.end + sa.zeros == good);
	for (size_t i = sa.r.end; i < good; i++)
		CHECK(buf[i] == 0);
	if (sa.r.holes > 0)
		CHECK(sa.r.hole_from < sa.r.hole_to && sa.r.hole_to <= good);
	if (a.n > 0) {
		/* at least a 12-byte header and 26 bytes of payload per record */
		CHECK(sa.r.hole_bytes + a.n * 38 <= good);
		CHECK(sa.lo <= sa.hi);
	}
	/* the cut file reads back whole, with the same batches */
	memset(&b, 0, sizeof(b));
	again = journal_scan(buf, good, batch_cb, &b, &sb);
	CHECK(again == good && (sb.r.tail_why == NULL || good == 0));
	CHECK(b.n == a.n && b.samples == a.samples);
	CHECK(sb.r.holes == sa.r.holes && sb.r.hole_bytes == sa.r.hole_bytes);
	CHECK(sb.zeros == sa.zeros);
	for (size_t i = 0; i < a.n && i < MAX_BATCHES; i++)
		CHECK(b.seqs[i] == a.seqs[i]);
	free(buf);
	return 0;
}
