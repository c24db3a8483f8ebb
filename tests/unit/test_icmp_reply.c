/*
 * test_icmp_reply.c - what the icmp probe takes from a received packet: an
 * echo reply of ours (identifier on raw sockets, the nonce in its payload),
 * or an ICMP error quoting our echo request (with or without its payload);
 * a short, damaged or foreign packet, another type, an error about another
 * program's packet are refused with a reason. IPv4 as raw (with its IP
 * header) and datagram sockets deliver it, IPv6 without a header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>

#include "check_icmp.h"

#define NONCE 0x0102030405060708ULL
#define ID    0x4242

static const struct icmp_parse_ctx raw4 = {AF_INET, 1, 1, ID, NONCE};
static const struct icmp_parse_ctx dgram4 = {AF_INET, 0, 0, ID, NONCE};
static const struct icmp_parse_ctx raw6 = {AF_INET6, 0, 1, ID, NONCE};

/* An IPv4 header from `src` to `dst` of protocol ICMP; returns its length. */
static size_t ip4(uint8_t *b, const char *src, const char *dst, size_t total)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	b[2] = (uint8_t)(total >> 8);
	b[3] = (uint8_t)total;
	b[8] = 64;
	b[9] = IPPROTO_ICMP;
	inet_pton(AF_INET, src, b + 12);
	inet_pton(AF_INET, dst, b + 16);
	return 20;
}

/* An echo (type) with id, seq and our payload (cookie of slot 3, run 7, index `idx`). */
static size_t echo(uint8_t *b, uint8_t type, uint16_t id, uint16_t seq, uint64_t nonce,
		   uint16_t idx)
{
	memset(b, 0, 8 + ICMP_PAYLOAD_LEN);
	b[0] = type;
	b[4] = (uint8_t)(id >> 8);
	b[5] = (uint8_t)id;
	b[6] = (uint8_t)(seq >> 8);
	b[7] = (uint8_t)seq;
	icmp_cookie_put(b + 8, nonce, 3, 7, idx);
	return 8 + ICMP_PAYLOAD_LEN;
}

static void sum4(uint8_t *icmp, size_t len)
{
	uint16_t s;

	icmp[2] = icmp[3] = 0;
	s = icmp_checksum(icmp, len);
	memcpy(icmp + 2, &s, 2);
}

/* A raw IPv4 socket's echo reply from 10.1.0.1. */
static size_t reply4(uint8_t *b, uint16_t id, uint64_t nonce)
{
	size_t n = echo(b + 20, ICMP_ECHOREPLY, id, 513, nonce, 19);

	sum4(b + 20, n);
	return ip4(b, "10.1.0.1", "10.1.0.254", 20 + n) + n;
}

/* A raw IPv4 socket's "host unreachable" from the router 10.1.0.254 quoting `quote` bytes of our
 * request. */
static size_t unreach4(uint8_t *b, size_t quote, uint16_t id, uint8_t proto)
{
	size_t n;

	memset(b + 20, 0, 8);
	b[20] = ICMP_DEST_UNREACH;
	b[21] = ICMP_HOST_UNREACH;
	ip4(b + 28, "10.1.0.254", "10.1.0.99", 20 + 8 + ICMP_PAYLOAD_LEN);
	b[28 + 9] = proto;
	echo(b + 48, ICMP_ECHO, id, 600, NONCE, 4);
	n = 8 + 20 + quote;
	sum4(b + 20, n);
	return ip4(b, "10.1.0.254", "10.1.0.254", 20 + n) + n;
}

static void test_echo_reply_of_ours_names_its_run(void **state)
{
	uint8_t b[256];
	size_t n = reply4(b, ID, NONCE);
	struct icmp_reply r;
	const char *why = NULL;

	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.id, ID);
	assert_int_equal(r.seq, 513);
	assert_true(r.has_cookie);
	assert_int_equal(r.slot, 3);
	assert_int_equal(r.run, 7);
	assert_int_equal(r.index, 19);
}

static void test_short_packets_are_refused(void **state)
{
	uint8_t b[256];
	size_t n = reply4(b, ID, NONCE);
	struct icmp_reply r;
	const char *why = NULL;

	/* every cut before the cookie's end (after it come zeros, which sum to nothing) */
	assert_true(n > 20 + 8 + ICMP_COOKIE_LEN);
	for (size_t len = 0; len < 20 + 8 + ICMP_COOKIE_LEN; len++) {
		why = NULL;
		assert_int_equal(icmp_reply_parse(&raw4, b, len, &r, &why), -1);
		assert_non_null(why);
	}
	assert_int_equal(icmp_reply_parse(&raw4, b, 19, &r, &why), -1);
	assert_string_equal(why, "not an IPv4 packet");
	/* a header saying it is longer than the packet */
	b[0] = 0x4f;
	assert_int_equal(icmp_reply_parse(&raw4, b, 40, &r, &why), -1);
	assert_string_equal(why, "not an IPv4 packet");
	assert_int_equal(icmp_reply_parse(&dgram4, b + 20, 7, &r, &why), -1);
	assert_string_equal(why, "shorter than an ICMP header");
	/* an echo reply without the whole cookie: not ours to count */
	n = reply4(b, ID, NONCE);
	assert_int_equal(icmp_reply_parse(&dgram4, b + 20, 8 + ICMP_COOKIE_LEN - 1, &r, &why), -1);
	assert_string_equal(why, "echo reply to another program (payload)");
}

static void test_replies_of_other_programs_are_refused(void **state)
{
	uint8_t b[256];
	size_t n = reply4(b, ID + 1, NONCE);
	struct icmp_reply r;
	const char *why = NULL;

	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "echo reply to another program (identifier)");
	/* a datagram socket's identifier is the kernel's: the nonce decides */
	assert_int_equal(icmp_reply_parse(&dgram4, b + 20, n - 20, &r, &why), 0);
	n = reply4(b, ID, NONCE + 1);
	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "echo reply to another program (payload)");
}

static void test_bad_checksum_on_a_raw_socket_is_refused(void **state)
{
	uint8_t b[256];
	size_t n = reply4(b, ID, NONCE);
	struct icmp_reply r;
	const char *why = NULL;

	b[40] ^= 0x01;
	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "bad ICMP checksum");
}

static void test_other_types_are_refused(void **state)
{
	uint8_t b[256];
	size_t n;
	struct icmp_reply r;
	const char *why = NULL;

	/* our own request, as a raw socket on loopback sees it */
	n = echo(b + 20, ICMP_ECHO, ID, 1, NONCE, 0);
	sum4(b + 20, n);
	n += ip4(b, "127.0.0.1", "127.0.0.1", 20 + n);
	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "neither an echo reply nor an ICMP error");
	b[20] = ICMP_REDIRECT;
	sum4(b + 20, n - 20);
	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "neither an echo reply nor an ICMP error");
	/* an ICMPv4 echo reply type on the IPv6 socket is not one */
	n = echo(b, ICMP_ECHOREPLY, ID, 1, NONCE, 0);
	assert_int_equal(icmp_reply_parse(&raw6, b, n, &r, &why), -1);
}

static void test_error_quoting_our_echo_with_its_payload(void **state)
{
	uint8_t b[256];
	size_t n = unreach4(b, 8 + ICMP_PAYLOAD_LEN, ID, IPPROTO_ICMP);
	struct icmp_reply r;
	const char *why = NULL;
	uint8_t dst[4];

	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), 0);
	assert_int_equal(r.error, 1);
	assert_int_equal(r.type, ICMP_DEST_UNREACH);
	assert_int_equal(r.seq, 600);
	assert_true(r.has_cookie);
	assert_int_equal(r.index, 4);
	inet_pton(AF_INET, "10.1.0.99", dst);
	assert_memory_equal(r.quoted_dst, dst, 4);
	assert_string_equal(icmp_error_str(AF_INET, r.type, r.code), "host unreachable");
}

static void test_error_quoting_eight_bytes_is_matched_by_sequence(void **state)
{
	uint8_t b[256];
	size_t n = unreach4(b, 8, ID, IPPROTO_ICMP);
	struct icmp_reply r;
	const char *why = NULL;

	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), 0);
	assert_int_equal(r.error, 1);
	assert_false(r.has_cookie);
	assert_int_equal(r.seq, 600);
	/* fewer than the 8 bytes RFC 792 asks for */
	n = unreach4(b, 7, ID, IPPROTO_ICMP);
	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "ICMP error quoting too little of a packet");
}

static void test_errors_about_other_packets_are_refused(void **state)
{
	uint8_t b[256];
	size_t n;
	struct icmp_reply r;
	const char *why = NULL;

	n = unreach4(b, 8, ID, IPPROTO_UDP);
	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "ICMP error about something else than an echo request");
	n = unreach4(b, 8, ID + 1, IPPROTO_ICMP);
	assert_int_equal(icmp_reply_parse(&raw4, b, n, &r, &why), -1);
	assert_string_equal(why, "ICMP error about another program's echo request (identifier)");
}

static void test_ipv6_reply_and_error(void **state)
{
	uint8_t b[256];
	size_t n = echo(b, ICMP6_ECHO_REPLY, ID, 77, NONCE, 2);
	struct icmp_reply r;
	const char *why = NULL;
	uint8_t dst[16];

	assert_int_equal(icmp_reply_parse(&raw6, b, n, &r, &why), 0);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.seq, 77);
	assert_int_equal(r.index, 2);
	/* address unreachable, quoting the IPv6 header and our request */
	memset(b, 0, sizeof(b));
	b[0] = ICMP6_DST_UNREACH;
	b[1] = ICMP6_DST_UNREACH_ADDR;
	b[8] = 0x60;
	b[8 + 6] = IPPROTO_ICMPV6;
	inet_pton(AF_INET6, "2001:db8::99", dst);
	memcpy(b + 8 + 24, dst, 16);
	n = 8 + 40 + echo(b + 48, ICMP6_ECHO_REQUEST, ID, 78, NONCE, 3);
	assert_int_equal(icmp_reply_parse(&raw6, b, n, &r, &why), 0);
	assert_int_equal(r.error, 1);
	assert_int_equal(r.seq, 78);
	assert_int_equal(r.index, 3);
	assert_memory_equal(r.quoted_dst, dst, 16);
	assert_string_equal(icmp_error_str(AF_INET6, r.type, r.code), "address unreachable");
	/* the quoted header cut short */
	assert_int_equal(icmp_reply_parse(&raw6, b, 8 + 40 + 7, &r, &why), -1);
	assert_string_equal(why, "ICMPv6 error quoting too little of a packet");
	/* an extension header before the quoted ICMPv6 */
	b[8 + 6] = 0;
	assert_int_equal(icmp_reply_parse(&raw6, b, n, &r, &why), -1);
	assert_string_equal(why, "ICMPv6 error about something else than an echo request");
}

static void test_checksum_of_a_summed_packet_is_zero(void **state)
{
	uint8_t b[8 + ICMP_PAYLOAD_LEN + 1];
	size_t n = echo(b, ICMP_ECHO, ID, 9, NONCE, 1);

	sum4(b, n);
	assert_int_equal(icmp_checksum(b, n), 0);
	/* odd lengths are summed as if padded with a zero byte */
	b[n] = 0;
	assert_int_equal(icmp_checksum(b, n + 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo_reply_of_ours_names_its_run),
	    cmocka_unit_test(test_short_packets_are_refused),
	    cmocka_unit_test(test_replies_of_other_programs_are_refused),
	    cmocka_unit_test(test_bad_checksum_on_a_raw_socket_is_refused),
	    cmocka_unit_test(test_other_types_are_refused),
	    cmocka_unit_test(test_error_quoting_our_echo_with_its_payload),
	    cmocka_unit_test(test_error_quoting_eight_bytes_is_matched_by_sequence),
	    cmocka_unit_test(test_errors_about_other_packets_are_refused),
	    cmocka_unit_test(test_ipv6_reply_and_error),
	    cmocka_unit_test(test_checksum_of_a_summed_packet_is_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
