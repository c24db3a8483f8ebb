/*
 * dns_wire.h - the DNS probe's messages: a query built by hand and a strict
 * parser of the server's answer into text. Pure functions over byte
 * buffers: no sockets, no allocation; every read is bounded by the packet,
 * names follow compression pointers only backwards and never past 255 bytes.
 */
#ifndef VAKT_DNS_WIRE_H
#define VAKT_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* A UDP answer without EDNS (RFC 1035); larger ones come truncated (TC). */
#define DNS_UDP_MAX 512
/* Over TCP: the 2-byte length prefix bounds it. */
#define DNS_TCP_MAX     65535
#define DNS_NAME_MAX    1024 /* a name as text, escapes included (255 wire bytes) */
#define DNS_ANSWERS_MAX 16   /* answers kept as text; more are counted only */
#define DNS_TEXT_MAX    300  /* one answer's data as text, cut beyond */

enum dns_rr_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
};

/* "A", "mx" (any case) -> the type; -1 for a type the probe does not ask. */
int dns_type_parse(const char *s);
const char *dns_type_str(int type); /* "A", ..., or "TYPE<n>" in a static buffer */
/* "NOERROR", "nxdomain" -> the rcode (0..15); -1 when unknown. */
int dns_rcode_parse(const char *s);
const char *dns_rcode_str(int rcode); /* "NXDOMAIN", or "RCODE<n>" */

/*
 * The name a PTR query asks for `addr` ("192.0.2.7" ->
 * "7.2.0.192.in-addr.arpa", IPv6 by nibbles under ip6.arpa); -1 when addr
 * is no numeric address.
 */
int dns_reverse_name(const char *addr, char *out, size_t outlen);

/*
 * Writes a query (one question of `type`, class IN, recursion desired) for
 * `name` ("www.rissa.kommune.no", a trailing dot optional) into buf. Returns
 * its length, or -1 with *why saying what is wrong with the name.
 */
int dns_query_build(uint8_t *buf, size_t buflen, uint16_t id, const char *name, int type,
		    const char **why);

/* What the parser made of a response. */
struct dns_response {
	int rcode;
	int truncated;     /* TC: the answer did not fit (retry over TCP) */
	unsigned ancount;  /* answer records */
	unsigned matching; /* answer records of the asked type */
	unsigned ntext;    /* entries of text[] filled: the first DNS_ANSWERS_MAX answers */
	int text_type[DNS_ANSWERS_MAX];
	char text[DNS_ANSWERS_MAX][DNS_TEXT_MAX];
};

enum dns_parse_result {
	DNS_PARSE_OK = 0,
	DNS_PARSE_OTHER = 1,    /* not the answer to our query (id, question): ignore it */
	DNS_PARSE_MALFORMED = 2 /* the answer to our query, but broken: why says how */
};

/*
 * Parses `msg` as the answer to the query of id, name (as given to
 * dns_query_build) and type. The answers' data become text: A and AAAA
 * their address, NS, CNAME and PTR the name ("mail.rissa.kommune.no."), MX
 * "10 mail.rissa.kommune.no.", SRV "0 5 389 dc1.rissa.kommune.no.", SOA
 * "mname rname serial refresh retry expire minimum", TXT its strings joined
 * by spaces, any other type "TYPE<n> (<len> bytes)". On OTHER and MALFORMED
 * why (whylen bytes) says what was wrong.
 */
enum dns_parse_result dns_response_parse(const uint8_t *msg, size_t len, uint16_t id,
					 const char *name, int type, struct dns_response *r,
					 char *why, size_t whylen);

#endif
