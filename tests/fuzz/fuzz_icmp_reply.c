/*
 * fuzz_icmp_reply.c - libFuzzer target for the icmp probe's reading of a
 * received packet (icmp_reply_parse, agent/check_icmp.c). The first input
 * byte picks the socket it came from (bit 0: IPv6, bit 1: raw, which for
 * IPv4 means with its IP header and a checksum to verify); the rest is the
 * packet, read from a copy of exactly its bytes so that a read past them is
 * a sanitizer error. It aborts when a refusal comes without a reason, or an
 * accepted packet breaks what the probe relies on: a cookie that is not the
 * agent's, an identifier not ours on a raw socket, an error without a type
 * the probe can name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "check_icmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* The seeds in corpus/icmp carry this nonce and identifier. */
#define NONCE 0x0102030405060708ULL
#define ID    0x4242

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct icmp_parse_ctx ctx;
	struct icmp_reply r;
	const char *why = NULL;
	uint8_t *pkt;
	int rc;

	if (size < 1 || size > 65536)
		return 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.family = data[0] & 1 ? AF_INET6 : AF_INET;
	ctx.check_id = (data[0] & 2) != 0;
	ctx.ip_header = ctx.check_id && ctx.family == AF_INET;
	ctx.id = ID;
	ctx.nonce = NONCE;
	pkt = malloc(size - 1 ? size - 1 : 1);
	CHECK(pkt != NULL);
	memcpy(pkt, data + 1, size - 1);
	rc = icmp_reply_parse(&ctx, pkt, size - 1, &r, &why);
	CHECK(rc == 0 || rc == -1);
	if (rc < 0) {
		CHECK(why != NULL && why[0] != '\0');
	} else {
		CHECK(r.error == 0 || r.error == 1);
		CHECK(r.error || r.has_cookie); /* a reply counts only with our cookie */
		CHECK(!ctx.check_id || r.id == ID);
		if (r.error)
			CHECK(icmp_error_str(ctx.family, r.type, r.code) != NULL);
		if (r.has_cookie && r.error == 0) {
			/* the cookie read back is the one the request carried */
			uint8_t c[ICMP_COOKIE_LEN];
			const uint8_t *icmp = pkt;

			if (ctx.ip_header)
				icmp += (pkt[0] & 0x0f) * 4;
			icmp_cookie_put(c, NONCE, r.slot, r.run, r.index);
			CHECK(memcmp(c, icmp + 8, ICMP_COOKIE_LEN) == 0);
		}
	}
	free(pkt);
	return 0;
}
