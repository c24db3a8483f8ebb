/*
 * fuzz_frame.c - libFuzzer target for the frame decoder (common/frame.c).
 * Feeds arbitrary bytes into an evbuffer in chunks and reads frames until the
 * stream stops yielding them; aborts when frame_read breaks its contract.
 * Must never trust the input: every decoded frame is freed, nothing is kept.
 *
 * Input layout: byte 0 chooses how the rest arrives, the rest is the stream.
 *   bit 7       set: everything arrives at once; clear: in chunks
 *   bits 0..5   chunk size - 1 (1..64 bytes per arrival)
 *   bit 6       set: maximum frame 64 bytes (reaches FRAME_TOO_BIG cheaply);
 *               clear: FRAME_MAX_DEFAULT, as the daemons use it
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_MAX 64

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/*
 * Unknown fields are set aside before re-encoding: protobuf-c 1.4.1 accepts a
 * field number 0 written as an overlong varint (80 00), keeps it as an unknown
 * field, re-encodes it as 00 00 and then refuses its own output. Vakt ignores
 * unknown fields, so only the known ones must survive a round trip.
 */
struct stash {
	ProtobufCMessage *m;
	unsigned n;
	ProtobufCMessageUnknownField *fields;
};

struct stashes {
	struct stash *v;
	size_t n, cap;
};

static void hide_unknown(ProtobufCMessage *m, struct stashes *st)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (st->n == st->cap) {
		st->cap = st->cap ? 2 * st->cap : 16;
		st->v = realloc(st->v, st->cap * sizeof(*st->v));
		CHECK(st->v != NULL);
	}
	st->v[st->n++] = (struct stash){m, m->n_unknown_fields, m->unknown_fields};
	m->n_unknown_fields = 0;
	m->unknown_fields = NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		char *base = (char *)m;

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		/* the members of a oneof share memory: follow only the one that is set */
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(uint32_t *)(base + fd->quantifier_offset) != fd->id)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)(base + fd->quantifier_offset);
			ProtobufCMessage **sub = *(ProtobufCMessage ***)(base + fd->offset);

			for (size_t j = 0; j < n; j++)
				hide_unknown(sub[j], st);
		} else {
			ProtobufCMessage *sub = *(ProtobufCMessage **)(base + fd->offset);

			if (sub != NULL)
				hide_unknown(sub, st);
		}
	}
}

static void restore_unknown(struct stashes *st)
{
	for (size_t i = 0; i < st->n; i++) {
		st->v[i].m->n_unknown_fields = st->v[i].n;
		st->v[i].m->unknown_fields = st->v[i].fields;
	}
	free(st->v);
}

/*
 * A decoded frame must encode again, and its encoding must decode to the same
 * bytes: what the collector accepts it can also spool and resend.
 */
static void check_roundtrip(Vakt__Frame *f, uint32_t max)
{
	struct stashes st = {0};
	struct evbuffer *b;
	Vakt__Frame *g;
	uint8_t *enc, *enc2;
	size_t n, n2;
	uint32_t len;

	/* with its unknown fields, encoding must at least not crash */
	free(frame_encode(f, &n));
	hide_unknown(&f->base, &st);
	enc = frame_encode(f, &n);
	CHECK(n >= FRAME_HDR_LEN);
	if (n == FRAME_HDR_LEN || n - FRAME_HDR_LEN > max) {
		/* nothing known was set, or redundant encodings made the original smaller */
		free(enc);
		restore_unknown(&st);
		return;
	}
	b = evbuffer_new();
	CHECK(b != NULL);
	CHECK(frame_write(b, f, max) == 0);
	CHECK(evbuffer_get_length(b) == n);
	CHECK(memcmp(evbuffer_pullup(b, -1), enc, n) == 0);
	CHECK(frame_read(b, max, &g, &len) == FRAME_OK);
	CHECK(g != NULL && len == n - FRAME_HDR_LEN);
	CHECK(evbuffer_get_length(b) == 0);
	CHECK(g->base.n_unknown_fields == 0 && g->msg_case == f->msg_case);
	enc2 = frame_encode(g, &n2);
	CHECK(n2 == n && memcmp(enc, enc2, n) == 0);
	free(enc2);
	vakt__frame__free_unpacked(g, NULL);
	evbuffer_free(b);
	free(enc);
	restore_unknown(&st);
}

/* Reads every whole frame in `in`; returns 0 while the stream is usable. */
static int drain_frames(struct evbuffer *in, uint32_t max)
{
	for (;;) {
		size_t before = evbuffer_get_length(in);
		Vakt__Frame *f = (Vakt__Frame *)&f; /* must be reset by frame_read */
		uint32_t len = 0xdeadbeef;
		enum frame_status st = frame_read(in, max, &f, &len);

		CHECK(frame_status_str(st) != NULL && strcmp(frame_status_str(st), "unknown"));
		if (st != FRAME_OK)
			CHECK(f == NULL);
		switch (st) {
		case FRAME_OK:
			CHECK(f != NULL);
			CHECK(len >= 1 && len <= max);
			CHECK(before - evbuffer_get_length(in) == (size_t)len + FRAME_HDR_LEN);
			check_roundtrip(f, max);
			vakt__frame__free_unpacked(f, NULL);
			break;
		case FRAME_NEED_MORE:
			CHECK(evbuffer_get_length(in) == before);
			/* a header is there: the body must fit the bound and be missing */
			if (before >= FRAME_HDR_LEN)
				CHECK(len >= 1 && len <= max &&
				      before < (size_t)len + FRAME_HDR_LEN);
			return 0;
		case FRAME_TOO_BIG:
			CHECK(len > max);
			CHECK(evbuffer_get_length(in) == before);
			return -1;
		case FRAME_EMPTY:
			CHECK(len == 0);
			return -1;
		case FRAME_BAD:
			CHECK(len >= 1 && len <= max);
			return -1;
		default:
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *in;
	uint32_t max;
	size_t chunk, off = 0;

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x80) ? size : (size_t)(data[0] & 0x3f) + 1;
	max = (data[0] & 0x40) ? SMALL_MAX : FRAME_MAX_DEFAULT;
	data++;
	size--;
	in = evbuffer_new();
	CHECK(in != NULL);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		CHECK(evbuffer_add(in, data + off, n) == 0);
		off += n;
		if (drain_frames(in, max) < 0)
			break;
	}
	evbuffer_free(in);
	return 0;
}
