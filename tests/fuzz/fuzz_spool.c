/*
 * fuzz_spool.c - libFuzzer target for the agent's spool reader
 * (spool_scan_segment in agent/spool.c), which start-up runs over every
 * segment file a crash, a power loss or a failing disk may have left. Aborts
 * when the reader breaks its contract; must never trust the input.
 *
 * Input layout: byte 0 is a mode, the rest is a segment file's bytes.
 *   bit 0  set: the harness first writes correct CRCs into the segment
 *          header and into every record it can walk (by the records' own
 *          length fields), so that the fuzzer reaches what lies behind the
 *          checksums: lengths, seqs, torn tails
 *   bit 1  set: the reader expects stream 0x1122334455667788 (else any)
 *   bit 2  set: the seq before this segment is 5 (else 0)
 *   bit 3  set: the file's name says its first seq is 7 (else it says
 *          nothing), which with a given stream stands in for a damaged
 *          header
 *
 * Contract: the good prefix is at most the input; records lie inside it,
 * in order from offset 32 on, with growing seqs, and every byte between
 * them (and a damaged header) is in a damaged stretch it counts as skipped; scanning the good
 * prefix again finds the same records and stretches and no bad tail; an
 * input cut short reports a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_records.h"
#include "recscan.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECS 4096

struct seen {
	size_t n, end, len, gaps;
	uint64_t seqs[MAX_RECS];
	size_t offs[MAX_RECS];
};

static void rec_cb(const struct spool_rec *r, void *arg)
{
	struct seen *s = arg;

	/* in order, inside the buffer, growing; what lies between is skipped */
	CHECK(r->off >= (s->n == 0 ? SPOOL_HEADER_SIZE : s->end));
	s->gaps += r->off - (s->n == 0 ? SPOOL_HEADER_SIZE : s->end);
	CHECK(r->off + SPOOL_RECORD_SIZE + r->len <= s->len);
	CHECK(r->frame != NULL);
	if (s->n > 0 && s->n <= MAX_RECS)
		CHECK(r->seq > s->seqs[s->n - 1]);
	if (s->n < MAX_RECS) {
		s->seqs[s->n] = r->seq;
		s->offs[s->n] = r->off;
	}
	s->n++;
	s->end = r->off + SPOOL_RECORD_SIZE + r->len;
}

/* Writes correct CRCs wherever the layout can be walked. */
static void fix_crcs(uint8_t *b, size_t len)
{
	size_t off = SPOOL_HEADER_SIZE;

	if (len < SPOOL_HEADER_SIZE)
		return;
	wr32(b + 12, spool_crc32c(0, b + 16, 16));
	while (off + SPOOL_RECORD_SIZE <= len) {
		uint32_t rlen = rd32(b + off + 12), crc;

		if (rlen > len - off - SPOOL_RECORD_SIZE)
			break;
		crc = spool_crc32c(0, b + off + 12, SPOOL_RECORD_SIZE - 12);
		wr32(b + off + 8, spool_crc32c(crc, b + off + SPOOL_RECORD_SIZE, rlen));
		off += SPOOL_RECORD_SIZE + rlen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen a, b;
	uint8_t mode, *buf;
	size_t len, good, again;
	uint64_t stream, prev, name_first, st_out = 0;
	const char *why, *why2;
	struct recscan_result ra, rb;
	size_t hdr;

	if (size < 1)
		return 0;
	mode = data[0];
	len = size - 1;
	/* exactly the input's size, so a sanitizer sees any read past its end */
	buf = malloc(len ? len : 1);
	CHECK(buf != NULL);
	memcpy(buf, data + 1, len);
	if (mode & 1)
		fix_crcs(buf, len);
	stream = mode & 2 ? 0x1122334455667788ULL : 0;
	prev = mode & 4 ? 5 : 0;
	name_first = mode & 8 ? 7 : 0;

	memset(&a, 0, sizeof(a));
	a.len = len;
	good =
	    spool_scan_segment(buf, len, stream, prev, name_first, rec_cb, &a, &st_out, &why, &ra);
	CHECK(good <= len);
	CHECK(good == len || why != NULL);
	if (good == 0) {
		CHECK(a.n == 0);
	} else {
		CHECK(good >= SPOOL_HEADER_SIZE);
		CHECK(st_out != 0 && (stream == 0 || st_out == stream));
		CHECK(good == (a.n ? a.end : SPOOL_HEADER_SIZE));
		/* a damaged header is a stretch of its own, at offset 0 */
		hdr = ra.holes > 0 && ra.hole_from == 0 ? 1 : 0;
		CHECK(!hdr || (stream != 0 && name_first != 0 && ra.hole_to == SPOOL_HEADER_SIZE));
		CHECK(ra.records == a.n && ra.hole_bytes == a.gaps + (hdr ? SPOOL_HEADER_SIZE : 0));
		CHECK(ra.holes <= a.n + hdr && (ra.holes == hdr) == (a.gaps == 0));
		if (a.n > 0)
			CHECK(a.seqs[0] > prev);
		/* the cut file reads back whole, with the same records */
		memset(&b, 0, sizeof(b));
		b.len = good;
		again = spool_scan_segment(buf, good, stream, prev, name_first, rec_cb, &b, NULL,
					   &why2, &rb);
		CHECK(again == good && why2 == NULL);
		CHECK(b.n == a.n && rb.holes == ra.holes && rb.hole_bytes == ra.hole_bytes);
		for (size_t i = 0; i < a.n && i < MAX_RECS; i++)
			CHECK(b.seqs[i] == a.seqs[i] && b.offs[i] == a.offs[i]);
	}
	free(buf);
	return 0;
}
