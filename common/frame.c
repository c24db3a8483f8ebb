/*
 * frame.c - length-prefixed protobuf frames over an evbuffer; see frame.h.
 * Must never allocate or pull up a body before its length has been bounded.
 */
#include "frame.h"

#include <arpa/inet.h>
#include <string.h>

#include "xmalloc.h"

const char *frame_status_str(enum frame_status s)
{
	switch (s) {
	case FRAME_OK:
		return "ok";
	case FRAME_NEED_MORE:
		return "incomplete frame";
	case FRAME_TOO_BIG:
		return "frame larger than the maximum";
	case FRAME_EMPTY:
		return "empty frame";
	case FRAME_BAD:
		return "undecodable frame";
	}
	return "unknown";
}

enum frame_status frame_read(struct evbuffer *in, uint32_t max, Vakt__Frame **out, uint32_t *len)
{
	uint8_t hdr[FRAME_HDR_LEN];
	uint32_t n;
	unsigned char *body;
	Vakt__Frame *f;

	*out = NULL;
	if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
		return FRAME_NEED_MORE;
	memcpy(&n, hdr, sizeof(n));
	n = ntohl(n);
	*len = n;
	if (n == 0)
		return FRAME_EMPTY;
	if (n > max)
		return FRAME_TOO_BIG;
	if (evbuffer_get_length(in) < (size_t)n + FRAME_HDR_LEN)
		return FRAME_NEED_MORE;
	body = evbuffer_pullup(in, (ev_ssize_t)n + FRAME_HDR_LEN);
	if (body == NULL)
		return FRAME_BAD;
	f = vakt__frame__unpack(NULL, n, body + FRAME_HDR_LEN);
	evbuffer_drain(in, (size_t)n + FRAME_HDR_LEN);
	if (f == NULL)
		return FRAME_BAD;
	*out = f;
	return FRAME_OK;
}

int frame_write(struct evbuffer *out, const Vakt__Frame *f, uint32_t max)
{
	size_t n = vakt__frame__get_packed_size(f);
	uint32_t be;
	struct evbuffer_iovec v;

	if (n == 0 || n > max)
		return -1;
	be = htonl((uint32_t)n);
	if (evbuffer_reserve_space(out, n + FRAME_HDR_LEN, &v, 1) < 1)
		return -1;
	memcpy(v.iov_base, &be, sizeof(be));
	vakt__frame__pack(f, (uint8_t *)v.iov_base + FRAME_HDR_LEN);
	v.iov_len = n + FRAME_HDR_LEN;
	return evbuffer_commit_space(out, &v, 1);
}

uint8_t *frame_encode(const Vakt__Frame *f, size_t *len)
{
	size_t n = vakt__frame__get_packed_size(f);
	uint32_t be = htonl((uint32_t)n);
	uint8_t *buf = xmalloc(n + FRAME_HDR_LEN);

	memcpy(buf, &be, sizeof(be));
	vakt__frame__pack(f, buf + FRAME_HDR_LEN);
	*len = n + FRAME_HDR_LEN;
	return buf;
}
