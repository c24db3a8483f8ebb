/*
 * frame.h - the Vakt wire framing: a 4-byte big-endian length, then a
 * protobuf-encoded vakt.Frame. The length is checked against the maximum
 * before a single byte of the body is buffered contiguously or decoded.
 */
#ifndef VAKT_FRAME_H
#define VAKT_FRAME_H

#include <stdint.h>

#include <event2/buffer.h>

#include "vakt.pb-c.h"

#define FRAME_HDR_LEN     4
#define FRAME_MAX_DEFAULT (1024 * 1024)
/* protocol versions this build speaks; docs/protocol.md "Versions" */
#define VAKT_PROTOCOL_MIN 1
#define VAKT_PROTOCOL     2

enum frame_status {
	FRAME_OK,        /* one frame decoded and removed from the buffer */
	FRAME_NEED_MORE, /* not a whole frame yet; nothing removed */
	FRAME_TOO_BIG,   /* announced length exceeds the maximum */
	FRAME_EMPTY,     /* announced length is zero */
	FRAME_BAD,       /* body is not a valid vakt.Frame */
};

const char *frame_status_str(enum frame_status s);

/*
 * Takes one frame off `in` if a whole one is there. On FRAME_OK *out holds
 * the decoded frame (free with vakt__frame__free_unpacked(*out, NULL)).
 * *len receives the announced body length whenever the header was read.
 * On FRAME_TOO_BIG, FRAME_EMPTY and FRAME_BAD the stream is unusable.
 */
enum frame_status frame_read(struct evbuffer *in, uint32_t max, Vakt__Frame **out, uint32_t *len);

/* Appends `f` with its length prefix to `out`; -1 if it exceeds `max`. */
int frame_write(struct evbuffer *out, const Vakt__Frame *f, uint32_t max);

/* Encodes a frame into a malloc'd buffer with its prefix (for the spool and tests). */
uint8_t *frame_encode(const Vakt__Frame *f, size_t *len);

/*
 * Protobuf's varints by hand, for the messages encoded or read so often
 * that protobuf-c's allocations and repeated sizing show (a batch's
 * samples): the bytes a varint takes, and one written at p (returns the
 * byte after it). Inline: a sample takes a dozen of each.
 */
static inline size_t frame_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint8_t *frame_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

#endif
