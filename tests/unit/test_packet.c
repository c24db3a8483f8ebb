/*
 * test_packet.c - the pcap check's frame decoder (agent/packet.c) and its
 * accounting (agent/traffic.c): Ethernet with VLAN tags, cooked and raw
 * links, IPv6 extension headers, fragments, every header cut short; then
 * bytes per protocol and port, the talker table when full, TCP handshake
 * round trips and retransmissions, and the flow table's bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pcap/dlt.h>

#include "packet.h"
#include "traffic.h"

/* A frame under construction. */
struct frame {
	uint8_t b[2048];
	size_t n;
};

static void put(struct frame *f, const void *p, size_t n)
{
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put16(struct frame *f, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(f, b, 2);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void eth(struct frame *f, unsigned type)
{
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};

	put(f, macs, sizeof(macs));
	put16(f, type);
}

/* An IPv4 header from 10.0.0.S to 10.0.0.D carrying `len` bytes of protocol `proto`. */
static void ipv4(struct frame *f, uint8_t s, uint8_t d, uint8_t proto, size_t len, unsigned frag)
{
	uint8_t h[20] = {0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, s, 10, 0, 0, d};

	h[2] = (uint8_t)((20 + len) >> 8);
	h[3] = (uint8_t)(20 + len);
	h[6] = (uint8_t)(frag >> 8);
	h[7] = (uint8_t)frag;
	put(f, h, sizeof(h));
}

/* An IPv6 header fd00::S -> fd00::D, payload `len` (extension headers included). */
static void ipv6(struct frame *f, uint8_t s, uint8_t d, uint8_t next, size_t len)
{
	uint8_t h[40] = {0x60, 0, 0, 0, 0, 0, 0, 64};

	h[4] = (uint8_t)(len >> 8);
	h[5] = (uint8_t)len;
	h[6] = next;
	h[8] = 0xfd, h[23] = s;
	h[24] = 0xfd, h[39] = d;
	put(f, h, sizeof(h));
}

static void tcp(struct frame *f, unsigned sport, unsigned dport, uint32_t seq, uint32_t ack,
		uint8_t flags)
{
	put16(f, sport);
	put16(f, dport);
	put32(f, seq);
	put32(f, ack);
	put16(f, 0x5000 | flags);
	put16(f, 65535);
	put32(f, 0);
}

static void udp(struct frame *f, unsigned sport, unsigned dport, size_t payload)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, 8 + (unsigned)payload);
	put16(f, 0);
}

static void zeros(struct frame *f, size_t n)
{
	static const uint8_t z[1500];

	put(f, z, n);
}

static enum packet_status parse(const struct frame *f, int dlt, struct packet *pk)
{
	return packet_parse(dlt, f->b, f->n, f->n, pk);
}

static void test_ethernet_ipv4_tcp_and_udp(void **state)
{
	struct frame f = {0};
	struct packet pk;

	eth(&f, 0x0800);
	ipv4(&f, 1, 2, 6, 20 + 100, 0);
	tcp(&f, 40000, 443, 1000, 0, PACKET_ACK);
	zeros(&f, 100);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.family, 4);
	assert_int_equal(pk.proto, PACKET_TCP);
	assert_int_equal(pk.src[3], 1);
	assert_int_equal(pk.dst[3], 2);
	assert_int_equal(pk.sport, 40000);
	assert_int_equal(pk.dport, 443);
	assert_int_equal(pk.payload, 100);
	assert_int_equal(pk.seq, 1000);

	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ipv4(&f, 3, 2, 17, 8 + 30, 0);
	udp(&f, 5353, 53, 30);
	zeros(&f, 30);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_UDP);
	assert_int_equal(pk.dport, 53);
	assert_string_equal(packet_proto_str(pk.proto), "udp");
}

static void test_vlan_tags_are_passed_up_to_a_bound(void **state)
{
	struct frame f = {0};
	struct packet pk;

	eth(&f, 0x88a8); /* QinQ: an outer and an inner tag */
	put16(&f, 100);
	put16(&f, 0x8100);
	put16(&f, 200);
	put16(&f, 0x86dd);
	ipv6(&f, 1, 2, 17, 8);
	udp(&f, 1000, 161, 0);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.vlans, 2);
	assert_int_equal(pk.family, 6);
	assert_int_equal(pk.proto, PACKET_UDP);
	assert_int_equal(pk.dport, 161);

	memset(&f, 0, sizeof(f));
	eth(&f, 0x8100);
	for (int i = 0; i < PACKET_MAX_VLANS; i++) {
		put16(&f, 1);
		put16(&f, 0x8100);
	}
	put16(&f, 1);
	put16(&f, 0x0800);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_MALFORMED);

	/* a tag cut in half */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x8100);
	put16(&f, 1);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_TRUNCATED);

	/* ARP is no IP */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x0806);
	zeros(&f, 28);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_NONIP);
	assert_int_equal(pk.family, 0);
}

static void test_ipv6_extension_headers(void **state)
{
	struct frame f = {0};
	struct packet pk;

	/* hop-by-hop (8 bytes), destination options (16 bytes), then TCP */
	eth(&f, 0x86dd);
	ipv6(&f, 1, 2, 0, 8 + 16 + 20 + 10);
	put(&f, (uint8_t[8]){60, 0}, 8);
	put(&f, (uint8_t[16]){6, 1}, 16);
	tcp(&f, 22, 50000, 7, 8, PACKET_ACK);
	zeros(&f, 10);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_TCP);
	assert_int_equal(pk.sport, 22);
	assert_int_equal(pk.payload, 10);
	assert_int_equal(pk.src[0], 0xfd);
	assert_int_equal(pk.src[15], 1);

	/* an extension header longer than the payload */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ipv6(&f, 1, 2, 43, 8);
	put(&f, (uint8_t[8]){6, 3}, 8);
	zeros(&f, 40);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_MALFORMED);

	/* a chain longer than the bound */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ipv6(&f, 1, 2, 60, 8 * (PACKET_MAX_V6_EXTS + 1));
	for (int i = 0; i <= PACKET_MAX_V6_EXTS; i++)
		put(&f, (uint8_t[8]){60, 0}, 8);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_MALFORMED);

	/* ESP: the rest is opaque */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ipv6(&f, 1, 2, 50, 16);
	zeros(&f, 16);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_OTHER);

	/* ICMPv6 counts as ICMP */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ipv6(&f, 1, 2, 58, 8);
	zeros(&f, 8);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_ICMP);
}

static void test_fragments_count_by_protocol_without_ports(void **state)
{
	struct frame f = {0};
	struct packet pk;

	/* IPv4: the first fragment has the UDP header, a later one not */
	eth(&f, 0x0800);
	ipv4(&f, 1, 2, 17, 1480, 0x2000);
	udp(&f, 4000, 53, 1472);
	zeros(&f, 1472);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.fragment, 1);
	assert_true(pk.has_ports);

	memset(&f, 0, sizeof(f));
	eth(&f, 0x0800);
	ipv4(&f, 1, 2, 17, 500, 185); /* offset 1480 bytes, last */
	zeros(&f, 500);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.fragment, 2);
	assert_int_equal(pk.proto, PACKET_UDP);
	assert_false(pk.has_ports);

	/* IPv6: a later fragment names the protocol in its fragment header */
	memset(&f, 0, sizeof(f));
	eth(&f, 0x86dd);
	ipv6(&f, 1, 2, 44, 8 + 100);
	put(&f, (uint8_t[8]){6, 0, 0x05, 0xa8, 0, 0, 0, 1}, 8);
	zeros(&f, 100);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_int_equal(pk.fragment, 2);
	assert_int_equal(pk.proto, PACKET_TCP);
	assert_false(pk.has_ports);
}

static void test_every_cut_is_truncated_never_read_beyond(void **state)
{
	struct frame f = {0};
	struct packet pk;

	eth(&f, 0x86dd);
	ipv6(&f, 1, 2, 0, 8 + 20);
	put(&f, (uint8_t[8]){6, 0}, 8);
	tcp(&f, 22, 50000, 7, 8, PACKET_SYN);
	for (size_t cut = 0; cut < f.n; cut++) {
		/* a copy of exactly `cut` bytes: ASan/valgrind see a read past it */
		uint8_t *b = malloc(cut ? cut : 1);

		memcpy(b, f.b, cut);
		assert_int_equal(packet_parse(DLT_EN10MB, b, cut, f.n, &pk), PACKET_TRUNCATED);
		if (cut >= 14 + 40 + 8)
			assert_int_equal(pk.proto, PACKET_TCP);
		free(b);
	}
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_OK);
	assert_string_equal(packet_status_str(PACKET_TRUNCATED), "truncated");
}

static void test_bad_headers_are_malformed(void **state)
{
	struct frame f = {0};
	struct packet pk;

	eth(&f, 0x0800);
	ipv4(&f, 1, 2, 6, 20, 0);
	f.b[14] = 0x43; /* header length 12 bytes */
	tcp(&f, 1, 2, 0, 0, 0);
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_MALFORMED);
	f.b[14] = 0x65; /* version 6 in an IPv4 frame */
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_MALFORMED);
	f.b[14] = 0x45;
	f.b[14 + 20 + 12] = 0xf0; /* TCP data offset beyond the segment */
	assert_int_equal(parse(&f, DLT_EN10MB, &pk), PACKET_MALFORMED);
	assert_int_equal(pk.family, 4);
	assert_int_equal(pk.proto, PACKET_TCP);
	assert_int_equal(packet_parse(12345, f.b, f.n, f.n, &pk), PACKET_MALFORMED);
	assert_false(packet_dlt_supported(12345));
	assert_true(packet_dlt_supported(DLT_LINUX_SLL2));
}

static void test_cooked_and_raw_links(void **state)
{
	struct frame f = {0};
	struct packet pk;

	zeros(&f, 14); /* Linux cooked v1: 14 bytes, then the protocol */
	put16(&f, 0x0800);
	ipv4(&f, 5, 6, 1, 8, 0);
	zeros(&f, 8);
	assert_int_equal(parse(&f, DLT_LINUX_SLL, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_ICMP);
	assert_int_equal(pk.src[3], 5);

	memset(&f, 0, sizeof(f));
	put16(&f, 0x86dd); /* cooked v2: the protocol first, 20 bytes in all */
	zeros(&f, 18);
	ipv6(&f, 7, 8, 17, 8);
	udp(&f, 9, 10, 0);
	assert_int_equal(parse(&f, DLT_LINUX_SLL2, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_UDP);
	assert_int_equal(pk.src[15], 7);

	memset(&f, 0, sizeof(f));
	ipv4(&f, 1, 2, 47, 4, 0); /* GRE on a raw IP link */
	zeros(&f, 4);
	assert_int_equal(parse(&f, DLT_RAW, &pk), PACKET_OK);
	assert_int_equal(pk.proto, PACKET_OTHER);
	f.b[0] = 0x15;
	assert_int_equal(parse(&f, DLT_RAW, &pk), PACKET_MALFORMED);
}

/* ---- traffic.c ---- */

static struct packet v4(enum packet_proto proto, uint8_t s, uint8_t d, unsigned sp, unsigned dp)
{
	struct packet pk = {.proto = proto, .family = 4, .has_ports = proto <= PACKET_UDP};

	pk.src[0] = pk.dst[0] = 10;
	pk.src[3] = s;
	pk.dst[3] = d;
	pk.sport = (uint16_t)sp;
	pk.dport = (uint16_t)dp;
	return pk;
}

static void test_bytes_per_protocol_family_and_port(void **state)
{
	static const uint16_t ports[] = {53, 443};
	struct traffic *t = traffic_new(ports, 2, 16, 64, 60000000);
	struct packet pk = v4(PACKET_UDP, 1, 2, 5000, 53), six = pk, arp = {0};
	const struct traffic_counters *c = traffic_counters(t);

	six.family = 6;
	six.proto = PACKET_ICMP;
	six.has_ports = 0;
	arp.proto = PACKET_NONIP;
	traffic_add(t, &pk, PACKET_OK, 100, 1);
	traffic_add(t, &pk, PACKET_OK, 100, 2);
	traffic_add(t, &six, PACKET_OK, 70, 3);
	traffic_add(t, &arp, PACKET_OK, 60, 4);
	pk = v4(PACKET_TCP, 2, 1, 443, 53); /* both ports counted apart: once, under 53 */
	pk.tcp_flags = PACKET_ACK;
	traffic_add(t, &pk, PACKET_OK, 1000, 5);
	traffic_add(t, &pk, PACKET_TRUNCATED, 1000, 6); /* no ports counted from a cut frame */
	assert_int_equal(c->all.bytes, 100 + 100 + 70 + 60 + 1000 + 1000);
	assert_int_equal(c->all.packets, 6);
	assert_int_equal(c->proto[PACKET_UDP][0].bytes, 200);
	assert_int_equal(c->proto[PACKET_UDP][1].bytes, 0);
	assert_int_equal(c->proto[PACKET_ICMP][1].bytes, 70);
	assert_int_equal(c->proto[PACKET_NONIP][0].packets, 1);
	assert_int_equal(c->proto[PACKET_TCP][0].bytes, 2000);
	assert_int_equal(c->truncated, 1);
	assert_int_equal(traffic_port(t, 0)->bytes, 1200);
	assert_int_equal(traffic_port(t, 0)->packets, 3);
	assert_int_equal(traffic_port(t, 1)->bytes, 0);
	traffic_free(t);
}

static void test_talkers_ranked_and_bounded_when_full(void **state)
{
	struct traffic *t = traffic_new(NULL, 0, 8, 0, 0);
	struct traffic_talker top[8];
	struct packet pk;
	size_t n;

	/* 10.0.0.200 sends most, but only after 1000 one-packet addresses filled the table */
	for (int i = 0; i < 1000; i++) {
		pk = v4(PACKET_UDP, (uint8_t)(i % 250), 1, 1, 2);
		pk.src[2] = (uint8_t)(i / 250 + 1);
		traffic_add(t, &pk, PACKET_OK, 100, (uint64_t)i);
	}
	pk = v4(PACKET_UDP, 200, 1, 1, 2);
	for (int i = 0; i < 50; i++)
		traffic_add(t, &pk, PACKET_OK, 1000, 2000);
	pk = v4(PACKET_UDP, 201, 1, 1, 2);
	for (int i = 0; i < 20; i++)
		traffic_add(t, &pk, PACKET_OK, 1000, 2000);
	n = traffic_top(t, top, 8);
	assert_int_equal(n, 8);
	assert_int_equal(top[0].addr[3], 200);
	assert_int_equal(top[0].addr[2], 0);
	/* over-counted by at most the entry it took over */
	assert_true(top[0].bytes >= 50000 && top[0].bytes - top[0].error <= 50000);
	assert_int_equal(top[1].addr[3], 201);
	for (size_t i = 1; i < n; i++)
		assert_true(top[i - 1].bytes >= top[i].bytes);
	/* a new interval starts empty */
	traffic_next_interval(t, 3000);
	assert_int_equal(traffic_top(t, top, 8), 0);
	pk = v4(PACKET_UDP, 9, 1, 1, 2);
	traffic_add(t, &pk, PACKET_OK, 64, 3001);
	assert_int_equal(traffic_top(t, top, 8), 1);
	assert_int_equal(top[0].bytes, 64);
	assert_int_equal(top[0].error, 0);
	traffic_free(t);
}

/* One TCP segment from 10.0.0.s:sp to 10.0.0.d:dp. */
static void seg(struct traffic *t, uint8_t s, unsigned sp, uint8_t d, unsigned dp, uint32_t seq,
		uint32_t ack, uint8_t flags, uint32_t payload, uint64_t us)
{
	struct packet pk = v4(PACKET_TCP, s, d, sp, dp);

	pk.seq = seq;
	pk.ack = ack;
	pk.tcp_flags = flags;
	pk.payload = payload;
	traffic_add(t, &pk, PACKET_OK, 54 + payload, us);
}

static void test_handshake_rtt_and_retransmissions(void **state)
{
	struct traffic *t = traffic_new(NULL, 0, 4, 16, 60000000);
	const struct traffic_counters *c = traffic_counters(t);
	const struct traffic_rtt *r = traffic_rtt(t);

	/* client .1:40000 -> server .2:80: SYN at 0, SYN/ACK at 30 ms, ACK at 31 ms */
	seg(t, 1, 40000, 2, 80, 100, 0, PACKET_SYN, 0, 1000000);
	seg(t, 2, 80, 1, 40000, 900, 101, PACKET_SYN | PACKET_ACK, 0, 1030000);
	seg(t, 1, 40000, 2, 80, 101, 901, PACKET_ACK, 0, 1031000);
	assert_int_equal(c->handshakes, 1);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->sum_us, 31000);
	/* data, then the same data again: one retransmission; a keepalive is none */
	seg(t, 2, 80, 1, 40000, 901, 101, PACKET_ACK, 1000, 1040000);
	seg(t, 2, 80, 1, 40000, 1901, 101, PACKET_ACK, 1000, 1041000);
	seg(t, 2, 80, 1, 40000, 901, 101, PACKET_ACK, 1000, 1300000);
	assert_int_equal(c->retransmits, 1);
	seg(t, 2, 80, 1, 40000, 2900, 101, PACKET_ACK, 1, 1400000);
	assert_int_equal(c->retransmits, 1);

	/* a SYN sent twice: a retransmission, and no round trip (Karn) */
	seg(t, 3, 40001, 2, 80, 500, 0, PACKET_SYN, 0, 2000000);
	seg(t, 3, 40001, 2, 80, 500, 0, PACKET_SYN, 0, 3000000);
	seg(t, 2, 80, 3, 40001, 700, 501, PACKET_SYN | PACKET_ACK, 0, 3010000);
	seg(t, 3, 40001, 2, 80, 501, 701, PACKET_ACK, 0, 3011000);
	assert_int_equal(c->retransmits, 2);
	assert_int_equal(c->handshakes, 2);
	assert_int_equal(r->n, 1);
	assert_int_equal(traffic_flows(t), 2);

	/* idle flows go at the next interval, live ones stay */
	seg(t, 3, 40001, 2, 80, 501, 701, PACKET_ACK, 10, 100000000);
	traffic_next_interval(t, 100000000);
	assert_int_equal(traffic_flows(t), 1);
	assert_int_equal(r->n, 0);
	seg(t, 3, 40001, 2, 80, 501, 701, PACKET_ACK, 10, 100000001);
	assert_int_equal(c->retransmits, 3);
	traffic_free(t);
}

static void test_flow_table_is_bounded(void **state)
{
	struct traffic *t = traffic_new(NULL, 0, 4, 4, 60000000);
	const struct traffic_counters *c = traffic_counters(t);

	for (unsigned i = 0; i < 10; i++)
		seg(t, 1, 40000 + i, 2, 80, 100, 0, PACKET_SYN, 0, 1000 + i);
	assert_int_equal(traffic_flows(t), 4);
	assert_int_equal(c->untracked, 6);
	/* a reset flow goes at the next interval, and makes room */
	seg(t, 2, 80, 1, 40000, 0, 101, PACKET_RST | PACKET_ACK, 0, 2000);
	traffic_next_interval(t, 3000);
	assert_int_equal(traffic_flows(t), 3);
	seg(t, 1, 41000, 2, 80, 100, 0, PACKET_SYN, 0, 4000);
	assert_int_equal(traffic_flows(t), 4);
	assert_int_equal(c->untracked, 6);
	traffic_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ethernet_ipv4_tcp_and_udp),
	    cmocka_unit_test(test_vlan_tags_are_passed_up_to_a_bound),
	    cmocka_unit_test(test_ipv6_extension_headers),
	    cmocka_unit_test(test_fragments_count_by_protocol_without_ports),
	    cmocka_unit_test(test_every_cut_is_truncated_never_read_beyond),
	    cmocka_unit_test(test_bad_headers_are_malformed),
	    cmocka_unit_test(test_cooked_and_raw_links),
	    cmocka_unit_test(test_bytes_per_protocol_family_and_port),
	    cmocka_unit_test(test_talkers_ranked_and_bounded_when_full),
	    cmocka_unit_test(test_handshake_rtt_and_retransmissions),
	    cmocka_unit_test(test_flow_table_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
