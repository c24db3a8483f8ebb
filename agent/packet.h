/*
 * packet.h - decodes the headers of one captured frame (link layer, VLAN
 * tags, IPv4 or IPv6 with its extension headers, then TCP, UDP or ICMP) into
 * what the pcap check counts. Outside input: it reads only within the
 * captured bytes and trusts no length field it has not checked.
 */
#ifndef VAKT_PACKET_H
#define VAKT_PACKET_H

#include <stddef.h>
#include <stdint.h>

/* The protocol a frame is counted under. */
enum packet_proto {
	PACKET_TCP,
	PACKET_UDP,
	PACKET_ICMP,  /* ICMP and ICMPv6 */
	PACKET_OTHER, /* another IP protocol, or one behind ESP */
	PACKET_NONIP, /* ARP, LLDP, an unknown ethertype */
	PACKET_NPROTO
};

const char *packet_proto_str(enum packet_proto p); /* "tcp", "udp", "icmp", "other", "non-ip" */

enum packet_status {
	PACKET_OK,
	PACKET_TRUNCATED, /* the capture cut a header: what was read is filled in */
	PACKET_MALFORMED, /* a header contradicts itself (a length too short, a bad version) */
};

const char *packet_status_str(enum packet_status s); /* "ok", "truncated", "malformed" */

/* A TCP header's flags. */
#define PACKET_FIN 0x01
#define PACKET_SYN 0x02
#define PACKET_RST 0x04
#define PACKET_ACK 0x10

/* Bounds: deeper stacks are malformed for us (and rare anywhere). */
#define PACKET_MAX_VLANS   4
#define PACKET_MAX_V6_EXTS 8

struct packet {
	enum packet_proto proto;
	int family;               /* 4 or 6; 0 for a frame that is not IP */
	uint8_t src[16], dst[16]; /* network order; IPv4 in the first 4 bytes */
	unsigned vlans;           /* VLAN tags passed */
	int fragment;             /* part of a fragmented datagram */
	int has_ports;            /* the TCP/UDP header was read (not a later fragment) */
	uint16_t sport, dport;
	/* TCP, when has_ports */
	uint8_t tcp_flags;
	uint32_t seq, ack;
	uint32_t payload; /* TCP payload bytes, from the IP length (the capture may cut them) */
};

/* Whether packet_parse knows the link type `dlt` (a DLT_* of pcap/dlt.h). */
int packet_dlt_supported(int dlt);

/*
 * Decodes the `caplen` captured bytes of a frame of `wirelen` bytes on a
 * link of type `dlt` into *out (zeroed first). PACKET_TRUNCATED and
 * PACKET_MALFORMED still fill in what was read before the fault, so that a
 * cut TCP segment counts as TCP.
 */
enum packet_status packet_parse(int dlt, const uint8_t *p, size_t caplen, size_t wirelen,
				struct packet *out);

#endif
