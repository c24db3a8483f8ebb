/*
 * check_icmp.h - the icmp probe's reading of one received ICMP packet,
 * apart from its sockets so that unit tests and the fuzz target reach it.
 * It trusts nothing in the packet and never reads past `len`.
 */
#ifndef VAKT_CHECK_ICMP_H
#define VAKT_CHECK_ICMP_H

#include <stddef.h>
#include <stdint.h>

/*
 * What every echo request carries after the ICMP header (big-endian): the
 * agent's nonce, the check's slot, the run's number and the packet's index
 * in the run, so that a reply names its run without a table of sequences.
 */
#define ICMP_COOKIE_LEN 18
/* The payload of a request: the cookie, then zeros (ping's 56 bytes). */
#define ICMP_PAYLOAD_LEN 56

/* The socket a packet came from: what it includes and what the kernel checked. */
struct icmp_parse_ctx {
	int family;    /* AF_INET or AF_INET6 */
	int ip_header; /* the packet starts with its IPv4 header (raw IPv4 sockets) */
	int check_id;  /* raw sockets: the identifier must be ours (datagram: the kernel's) */
	uint16_t id;   /* our identifier on raw sockets */
	uint64_t nonce;
};

struct icmp_reply {
	int error;              /* 0: an echo reply; 1: an ICMP error quoting our echo request */
	uint8_t type, code;     /* the error's (destination unreachable, time exceeded...) */
	uint16_t id, seq;       /* of the echo: the reply's, or the quoted request's */
	int has_cookie;         /* the cookie was there (a reply; an error quoting enough) */
	uint32_t slot, run;     /* from the cookie */
	uint16_t index;         /* from the cookie */
	uint8_t quoted_dst[16]; /* an error: where the quoted request went (4 bytes for IPv4) */
};

/*
 * Reads one packet as the socket of `ctx` delivered it. 0: *r is an echo
 * reply or an error quoting an echo request of ours; -1: anything else, with
 * `why` saying what (too short, not ours, another type), for debug logs.
 */
int icmp_reply_parse(const struct icmp_parse_ctx *ctx, const uint8_t *buf, size_t len,
		     struct icmp_reply *r, const char **why);

/* The Internet checksum (RFC 1071) of `len` bytes. */
uint16_t icmp_checksum(const uint8_t *buf, size_t len);

/* Writes the cookie into a request's payload (ICMP_COOKIE_LEN bytes). */
void icmp_cookie_put(uint8_t *p, uint64_t nonce, uint32_t slot, uint32_t run, uint16_t index);

/* A short name of an ICMP error for reasons: "host unreachable", "TTL exceeded". */
const char *icmp_error_str(int family, uint8_t type, uint8_t code);

#endif
