/*
 * fuzz_packet.c - libFuzzer target for the pcap check's frame decoder
 * (agent/packet.c) and its accounting (agent/traffic.c). The first input
 * byte picks the link type (low 3 bits) and how much of the frame the
 * capture kept (the rest: snap length in 8-byte steps, 0 = all); the rest is
 * the frame. Aborts when a decoded frame breaks what the counters rely on:
 * an unknown protocol or family, ports without a TCP/UDP header, ports from
 * a later fragment, an IP frame without an address family, or counters
 * that do not add up to the frames given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/dlt.h>

#include "packet.h"
#include "traffic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static const int dlts[8] = {DLT_EN10MB, DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2,
			    DLT_RAW,    DLT_IPV4,   DLT_IPV6,      DLT_NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t ports[] = {22, 53, 80, 443};
	static struct traffic *t;
	static uint64_t frames, now_us;
	const struct traffic_counters *c;
	struct packet pk;
	enum packet_status st;
	size_t cap, snap;
	uint64_t sum = 0;
	uint8_t *copy;

	if (size < 1)
		return 0;
	/* small tables, kept across inputs: they fill, evict and expire */
	if (t == NULL)
		t = traffic_new(ports, 4, 4, 8, 1000);
	snap = (size_t)(data[0] >> 3) * 8;
	cap = size - 1;
	if (snap != 0 && snap < cap)
		cap = snap;
	/* a copy of exactly what was captured: a read past it is a sanitizer error */
	copy = malloc(cap ? cap : 1);
	memcpy(copy, data + 1, cap);
	st = packet_parse(dlts[data[0] & 7], copy, cap, size - 1, &pk);
	CHECK(st == PACKET_OK || st == PACKET_TRUNCATED || st == PACKET_MALFORMED);
	CHECK(pk.proto < PACKET_NPROTO);
	CHECK(pk.family == 0 || pk.family == 4 || pk.family == 6);
	CHECK((pk.family == 0) == (pk.proto == PACKET_NONIP));
	if (pk.has_ports)
		CHECK((pk.proto == PACKET_TCP || pk.proto == PACKET_UDP) && pk.fragment != 2);
	if (pk.payload > 0)
		CHECK(pk.proto == PACKET_TCP && pk.payload <= size);
	CHECK(pk.vlans <= PACKET_MAX_VLANS);
	traffic_add(t, &pk, st, (uint32_t)(size - 1), now_us += 100);
	frames++;
	c = traffic_counters(t);
	CHECK(c->all.packets == frames);
	for (int p = 0; p < PACKET_NPROTO; p++)
		sum += c->proto[p][0].packets + c->proto[p][1].packets;
	CHECK(sum == frames);
	CHECK(traffic_flows(t) <= 8);
	if (frames % 16 == 0)
		traffic_next_interval(t, now_us);
	free(copy);
	return 0;
}
