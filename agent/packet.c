/*
 * packet.c - decodes the headers of one captured frame for the pcap check:
 * Ethernet (with up to PACKET_MAX_VLANS 802.1Q/802.1ad tags), Linux cooked
 * and raw IP links, IPv4, IPv6 and its extension headers, TCP, UDP, ICMP.
 * Every read is checked against the captured length; lengths in headers are
 * believed only as far as they agree with each other.
 */
#include "packet.h"

#include <string.h>

#include <pcap/dlt.h>

#define ETH_IPV4  0x0800
#define ETH_IPV6  0x86dd
#define ETH_VLAN  0x8100
#define ETH_QINQ  0x88a8
#define ETH_QINQ2 0x9100

const char *packet_proto_str(enum packet_proto p)
{
	switch (p) {
	case PACKET_TCP:
		return "tcp";
	case PACKET_UDP:
		return "udp";
	case PACKET_ICMP:
		return "icmp";
	case PACKET_OTHER:
		return "other";
	case PACKET_NONIP:
	case PACKET_NPROTO:
		break;
	}
	return "non-ip";
}

const char *packet_status_str(enum packet_status s)
{
	switch (s) {
	case PACKET_OK:
		return "ok";
	case PACKET_TRUNCATED:
		return "truncated";
	case PACKET_MALFORMED:
		break;
	}
	return "malformed";
}

int packet_dlt_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 1;
	}
	return 0;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The transport header of `len` bytes (the IP length's say) of which `cap` were captured. */
static enum packet_status parse_l4(uint8_t proto, const uint8_t *p, size_t cap, size_t len,
				   struct packet *out)
{
	switch (proto) {
	case 6:
		out->proto = PACKET_TCP;
		break;
	case 17:
		out->proto = PACKET_UDP;
		break;
	case 1:
	case 58:
		out->proto = PACKET_ICMP;
		return PACKET_OK;
	default:
		out->proto = PACKET_OTHER;
		return PACKET_OK;
	}
	if (out->fragment == 2) /* a later fragment: no transport header in it */
		return PACKET_OK;
	if (cap > len)
		cap = len; /* Ethernet padding is not payload */
	if (out->proto == PACKET_UDP) {
		if (len < 8)
			return PACKET_MALFORMED;
		if (cap < 8)
			return PACKET_TRUNCATED;
		out->sport = get16(p);
		out->dport = get16(p + 2);
		out->has_ports = 1;
		return PACKET_OK;
	}
	if (len < 20)
		return PACKET_MALFORMED;
	if (cap < 20)
		return PACKET_TRUNCATED;
	if ((size_t)(p[12] >> 4) * 4 < 20 || (size_t)(p[12] >> 4) * 4 > len)
		return PACKET_MALFORMED;
	out->sport = get16(p);
	out->dport = get16(p + 2);
	out->seq = get32(p + 4);
	out->ack = get32(p + 8);
	out->tcp_flags = p[13];
	out->payload = (uint32_t)(len - (size_t)(p[12] >> 4) * 4);
	out->has_ports = 1;
	return PACKET_OK;
}

/* `rest`: the frame's bytes from here on as the wire had them (for a length of 0). */
static enum packet_status parse_ipv4(const uint8_t *p, size_t cap, size_t rest, struct packet *out)
{
	size_t hl, len;
	uint16_t frag;

	out->family = 4;
	out->proto = PACKET_OTHER;
	if (cap < 20)
		return PACKET_TRUNCATED;
	if (p[0] >> 4 != 4)
		return PACKET_MALFORMED;
	memcpy(out->src, p + 12, 4);
	memcpy(out->dst, p + 16, 4);
	hl = (size_t)(p[0] & 0x0f) * 4;
	len = get16(p + 2);
	/* a length of 0: segmentation offload hands the capture one big segment */
	if (len == 0)
		len = rest;
	/* longer than the frame on the wire: the length lies */
	if (hl < 20 || len < hl || len > rest)
		return PACKET_MALFORMED;
	frag = get16(p + 6);
	if (frag & 0x1fff)
		out->fragment = 2;
	else if (frag & 0x2000)
		out->fragment = 1;
	/* options cut by the capture: the protocol is still known */
	return parse_l4(p[9], p + hl, cap < hl ? 0 : cap - hl, len - hl, out);
}

static enum packet_status parse_ipv6(const uint8_t *p, size_t cap, size_t rest, struct packet *out)
{
	size_t len, off = 40;
	uint8_t next;

	out->family = 6;
	out->proto = PACKET_OTHER;
	if (cap < 40)
		return PACKET_TRUNCATED;
	if (p[0] >> 4 != 6)
		return PACKET_MALFORMED;
	memcpy(out->src, p + 8, 16);
	memcpy(out->dst, p + 24, 16);
	len = get16(p + 4);
	/* 0: a jumbogram or offloaded segment; the wire says how long */
	len = len == 0 ? (rest > 40 ? rest - 40 : 0) : len;
	len += 40;
	if (len > rest)
		return PACKET_MALFORMED;
	next = p[6];
	for (unsigned n = 0;; n++) {
		size_t ext;

		switch (next) {
		case 0:   /* hop-by-hop options */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
		case 44:  /* fragment */
		case 51:  /* authentication header */
			break;
		default:
			if (off > len)
				return PACKET_MALFORMED;
			return parse_l4(next, p + off, cap - off, len - off, out);
		}
		if (n >= PACKET_MAX_V6_EXTS)
			return PACKET_MALFORMED;
		if (cap < off + 8)
			return PACKET_TRUNCATED;
		if (next == 44) {
			ext = 8;
			if (get16(p + off + 2) & 0xfff8)
				out->fragment = 2;
			else if (p[off + 3] & 1)
				out->fragment = 1;
		} else if (next == 51) {
			ext = ((size_t)p[off + 1] + 2) * 4;
		} else {
			ext = ((size_t)p[off + 1] + 1) * 8;
		}
		if (off + ext > len)
			return PACKET_MALFORMED;
		next = p[off];
		off += ext;
		if (out->fragment == 2) {
			/* the headers after a later fragment's are in the first one */
			out->proto = next == 6    ? PACKET_TCP
				     : next == 17 ? PACKET_UDP
				     : next == 58 ? PACKET_ICMP
						  : PACKET_OTHER;
			return PACKET_OK;
		}
		if (cap < off)
			return PACKET_TRUNCATED;
	}
}

/* The payload `p` of a link header whose ethertype is `type`: VLAN tags, then IP. */
static enum packet_status parse_type(uint16_t type, const uint8_t *p, size_t cap, size_t rest,
				     struct packet *out)
{
	for (;;) {
		switch (type) {
		case ETH_IPV4:
			return parse_ipv4(p, cap, rest, out);
		case ETH_IPV6:
			return parse_ipv6(p, cap, rest, out);
		case ETH_VLAN:
		case ETH_QINQ:
		case ETH_QINQ2:
			if (out->vlans >= PACKET_MAX_VLANS)
				return PACKET_MALFORMED;
			out->vlans++;
			/* the tag: 2 bytes of priority and VLAN id, then the next type */
			if (cap < 4)
				return PACKET_TRUNCATED;
			type = get16(p + 2);
			p += 4, cap -= 4, rest = rest > 4 ? rest - 4 : 0;
			continue;
		default:
			return PACKET_OK; /* ARP, LLDP, 802.3 lengths: not IP */
		}
	}
}

/* A raw IP link: the version nibble says which. */
static enum packet_status parse_ip(const uint8_t *p, size_t cap, size_t rest, struct packet *out)
{
	if (cap < 1)
		return PACKET_TRUNCATED;
	if (p[0] >> 4 == 4)
		return parse_ipv4(p, cap, rest, out);
	if (p[0] >> 4 == 6)
		return parse_ipv6(p, cap, rest, out);
	return PACKET_MALFORMED;
}

enum packet_status packet_parse(int dlt, const uint8_t *p, size_t caplen, size_t wirelen,
				struct packet *out)
{
	size_t hdr, type_at;

	memset(out, 0, sizeof(*out));
	out->proto = PACKET_NONIP;
	if (wirelen < caplen)
		wirelen = caplen;
	switch (dlt) {
	case DLT_EN10MB: /* destination and source MAC, ethertype */
		hdr = 14, type_at = 12;
		break;
	case DLT_LINUX_SLL: /* packet type, ARPHRD, address length and 8 bytes, protocol */
		hdr = 16, type_at = 14;
		break;
	case DLT_LINUX_SLL2: /* protocol, then 18 bytes of interface and address */
		hdr = 20, type_at = 0;
		break;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return parse_ip(p, caplen, wirelen, out);
	default:
		return PACKET_MALFORMED;
	}
	if (caplen < hdr)
		return PACKET_TRUNCATED;
	return parse_type(get16(p + type_at), p + hdr, caplen - hdr, wirelen - hdr, out);
}
