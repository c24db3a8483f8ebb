/*
 * test_frame.c - the wire framing: frames split over many reads, several
 * frames in one read, oversize and garbage lengths rejected before any body
 * is buffered or decoded.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "frame.h"

static uint8_t *make_batch(uint64_t seq, size_t nsamples, size_t *len)
{
	Vakt__Batch b = VAKT__BATCH__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;
	Vakt__Sample *s = calloc(nsamples, sizeof(*s));
	Vakt__Sample **sp = calloc(nsamples, sizeof(*sp));
	uint8_t *buf;

	for (size_t i = 0; i < nsamples; i++) {
		vakt__sample__init(&s[i]);
		s[i].host = "core-sw";
		s[i].check = "if";
		s[i].instance = "eth0";
		s[i].metric = "in_octets";
		s[i].kind = VAKT__KIND__DERIVE;
		s[i].counter = 1000 + i;
		s[i].time_ms = 1700000000000 + (int64_t)i;
		sp[i] = &s[i];
	}
	b.seq = seq;
	b.samples = sp;
	b.n_samples = nsamples;
	f.msg_case = VAKT__FRAME__MSG_BATCH;
	f.batch = &b;
	buf = frame_encode(&f, len);
	free(s);
	free(sp);
	return buf;
}

static void test_frame_split_over_many_reads(void **state)
{
	size_t len;
	uint8_t *buf = make_batch(7, 20, &len);
	struct evbuffer *in = evbuffer_new();
	Vakt__Frame *f = NULL;
	uint32_t n;

	/* one byte per read: every prefix must say "need more" and consume nothing */
	for (size_t i = 0; i + 1 < len; i++) {
		evbuffer_add(in, buf + i, 1);
		assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_NEED_MORE);
		assert_null(f);
		assert_int_equal(evbuffer_get_length(in), i + 1);
	}
	evbuffer_add(in, buf + len - 1, 1);
	assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_OK);
	assert_non_null(f);
	assert_int_equal(f->msg_case, VAKT__FRAME__MSG_BATCH);
	assert_int_equal(f->batch->seq, 7);
	assert_int_equal(f->batch->n_samples, 20);
	assert_int_equal(f->batch->samples[19]->counter, 1019);
	assert_string_equal(f->batch->samples[0]->instance, "eth0");
	assert_int_equal(evbuffer_get_length(in), 0);
	vakt__frame__free_unpacked(f, NULL);
	evbuffer_free(in);
	free(buf);
}

static void test_several_frames_in_one_read(void **state)
{
	struct evbuffer *in = evbuffer_new();
	Vakt__Frame *f;
	uint32_t n;
	size_t len, total = 0;

	for (uint64_t seq = 1; seq <= 3; seq++) {
		uint8_t *buf = make_batch(seq, (size_t)seq, &len);

		evbuffer_add(in, buf, len);
		total += len;
		free(buf);
	}
	/* and half of a fourth */
	{
		uint8_t *buf = make_batch(4, 4, &len);

		evbuffer_add(in, buf, len / 2);
		free(buf);
	}
	for (uint64_t seq = 1; seq <= 3; seq++) {
		assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_OK);
		assert_int_equal(f->batch->seq, seq);
		assert_int_equal(f->batch->n_samples, seq);
		vakt__frame__free_unpacked(f, NULL);
	}
	assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_get_length(in), len / 2);
	evbuffer_free(in);
}

static void test_oversize_frame_rejected_before_allocation(void **state)
{
	struct evbuffer *in = evbuffer_new();
	uint32_t be = htonl(FRAME_MAX_DEFAULT + 1), n = 0;
	Vakt__Frame *f = NULL;

	/* only the 4 header bytes: the verdict comes before any body exists */
	evbuffer_add(in, &be, sizeof(be));
	assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_TOO_BIG);
	assert_null(f);
	assert_int_equal(n, FRAME_MAX_DEFAULT + 1);
	/* 4 GiB - 1 announced: same answer, nothing buffered */
	evbuffer_drain(in, 4);
	be = 0xffffffffu;
	evbuffer_add(in, &be, sizeof(be));
	assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_TOO_BIG);
	assert_int_equal(evbuffer_get_length(in), 4);
	evbuffer_free(in);
}

static void test_frame_at_exact_maximum_is_accepted(void **state)
{
	size_t len;
	uint8_t *buf = make_batch(1, 3, &len);
	struct evbuffer *in = evbuffer_new();
	Vakt__Frame *f;
	uint32_t n;

	evbuffer_add(in, buf, len);
	assert_int_equal(frame_read(in, (uint32_t)(len - 4), &f, &n), FRAME_OK);
	vakt__frame__free_unpacked(f, NULL);
	evbuffer_add(in, buf, len);
	assert_int_equal(frame_read(in, (uint32_t)(len - 5), &f, &n), FRAME_TOO_BIG);
	evbuffer_free(in);
	free(buf);
}

static void test_garbage_length_and_body(void **state)
{
	struct evbuffer *in = evbuffer_new();
	uint8_t zero[4] = {0, 0, 0, 0};
	uint8_t junk[4 + 8] = {0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	Vakt__Frame *f;
	uint32_t n;

	evbuffer_add(in, zero, sizeof(zero));
	assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_EMPTY);
	evbuffer_drain(in, 4);
	evbuffer_add(in, junk, sizeof(junk));
	assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_BAD);
	assert_null(f);
	/* ASCII where a length belongs ("GET "): far too big */
	evbuffer_add(in, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(frame_read(in, FRAME_MAX_DEFAULT, &f, &n), FRAME_TOO_BIG);
	evbuffer_free(in);
}

static void test_write_then_read_roundtrip(void **state)
{
	struct evbuffer *b = evbuffer_new();
	Vakt__Ack a = VAKT__ACK__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT, *g;
	uint32_t n;

	a.seq = 123456789012ULL;
	f.msg_case = VAKT__FRAME__MSG_ACK;
	f.ack = &a;
	assert_int_equal(frame_write(b, &f, FRAME_MAX_DEFAULT), 0);
	assert_int_equal(frame_read(b, FRAME_MAX_DEFAULT, &g, &n), FRAME_OK);
	assert_int_equal(g->msg_case, VAKT__FRAME__MSG_ACK);
	assert_int_equal(g->ack->seq, 123456789012ULL);
	vakt__frame__free_unpacked(g, NULL);
	/* a frame over the maximum is refused on the way out too */
	assert_int_equal(frame_write(b, &f, 2), -1);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_split_over_many_reads),
	    cmocka_unit_test(test_several_frames_in_one_read),
	    cmocka_unit_test(test_oversize_frame_rejected_before_allocation),
	    cmocka_unit_test(test_frame_at_exact_maximum_is_accepted),
	    cmocka_unit_test(test_garbage_length_and_body),
	    cmocka_unit_test(test_write_then_read_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
