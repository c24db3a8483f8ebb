/*
 * fuzz_series_wire.c - libFuzzer target for the compact form of a batch
 * (common/series_wire.c). The input is a stream of length-prefixed frames,
 * as one session would carry them.
 *
 * Every batch goes to the collector's side (series_rx_expand, with room for
 * 64 ids so that the limit is reached): whatever it holds, the call either
 * refuses it or returns samples whose names are strings. A batch in the full
 * form also goes through the agent's side (series_tx_compact, room for 32
 * ids), and what that makes must expand, on a second table of its own, to
 * the very samples it started from: what an agent sends a collector reads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "series_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static int same_name(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static void check_sample(const Vakt__Sample *a, const Vakt__Sample *b)
{
	CHECK(same_name(a->host, b->host) && same_name(a->check, b->check));
	CHECK(same_name(a->instance, b->instance) && same_name(a->metric, b->metric));
	CHECK(a->kind == b->kind && a->interval == b->interval);
	CHECK((a->width ? a->width : 64) == (b->width ? b->width : 64));
	CHECK(a->time_ms == b->time_ms && !a->unknown == !b->unknown);
	if (a->kind == VAKT__KIND__GAUGE)
		CHECK(memcmp(&a->value, &b->value, sizeof(a->value)) == 0);
	else
		CHECK(a->counter == b->counter);
}

/* The agent's rewrite of a full-form batch expands to the same samples. */
static void check_compact(struct series_tx *tx, struct series_rx *rx2, const uint8_t *frame,
			  size_t len, const Vakt__Batch *full)
{
	size_t clen, n;
	uint8_t *c = series_tx_compact(tx, frame, len, &clen);
	Vakt__Frame *f;
	Vakt__Sample *v;

	if (c == NULL)
		return;
	f = vakt__frame__unpack(NULL, clen - FRAME_HDR_LEN, c + FRAME_HDR_LEN);
	CHECK(f != NULL && f->msg_case == VAKT__FRAME__MSG_BATCH);
	CHECK(series_rx_expand(rx2, f->batch, &v, &n) == NULL);
	CHECK(n == full->n_samples);
	for (size_t i = 0; i < n; i++) {
		/* the width of a sample travels in its series: 0 and 64 are one */
		check_sample(&v[i], full->samples[i]);
	}
	free(v);
	vakt__frame__free_unpacked(f, NULL);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct series_rx *rx = series_rx_new(64), *rx2 = series_rx_new(32);
	struct series_tx *tx = series_tx_new(32);

	while (size >= FRAME_HDR_LEN) {
		uint32_t len = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
			       (uint32_t)data[2] << 8 | data[3];
		Vakt__Frame *f;

		if (len == 0 || len > size - FRAME_HDR_LEN)
			break;
		f = vakt__frame__unpack(NULL, len, data + FRAME_HDR_LEN);
		if (f != NULL && f->msg_case == VAKT__FRAME__MSG_BATCH) {
			Vakt__Sample *v;
			size_t n;

			if (series_rx_expand(rx, f->batch, &v, &n) == NULL) {
				for (size_t i = 0; i < n; i++)
					CHECK(v[i].host && v[i].check && v[i].instance &&
					      v[i].metric);
				free(v);
			} else {
				CHECK(v == NULL && n == 0);
			}
			if (f->batch->n_sid == 0)
				check_compact(tx, rx2, data, FRAME_HDR_LEN + len, f->batch);
		}
		if (f != NULL)
			vakt__frame__free_unpacked(f, NULL);
		data += FRAME_HDR_LEN + len;
		size -= FRAME_HDR_LEN + len;
	}
	series_tx_free(tx);
	series_rx_free(rx);
	series_rx_free(rx2);
	return 0;
}
