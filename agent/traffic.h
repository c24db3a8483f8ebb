/*
 * traffic.h - what the pcap check counts of the frames packet.c decodes:
 * bytes and packets per protocol and family and per service port, the top
 * talkers of an interval, TCP retransmissions and handshake round trips.
 * Memory is fixed when it is made, whatever the traffic.
 */
#ifndef VAKT_TRAFFIC_H
#define VAKT_TRAFFIC_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

#define TRAFFIC_MAX_PORTS 64

struct traffic_count {
	uint64_t bytes, packets;
};

/* Counters since the traffic was made (raw counters for the collector). */
struct traffic_counters {
	struct traffic_count all;                     /* every frame */
	struct traffic_count proto[PACKET_NPROTO][2]; /* [protocol][0: IPv4, 1: IPv6] */
	uint64_t truncated, malformed;                /* frames packet_parse faulted */
	uint64_t retransmits;                         /* TCP segments sent again */
	uint64_t handshakes;                          /* TCP handshakes seen whole */
	uint64_t untracked; /* TCP segments of flows the full flow table could not hold */
};

/* This interval's handshakes (traffic_next_interval starts a new one). */
struct traffic_rtt {
	uint64_t n;              /* handshakes timed (not those with a retransmission) */
	uint64_t sum_us, max_us; /* SYN to the ACK of the SYN/ACK, as seen here */
};

struct traffic_talker {
	int family; /* 4 or 6 */
	uint8_t addr[16];
	uint64_t bytes, packets; /* sent this interval (upper bounds, see traffic_add) */
	uint64_t error;          /* at most this many of bytes may belong to others */
};

struct traffic;

/*
 * ports: the service ports counted apart (at most TRAFFIC_MAX_PORTS);
 * talkers: addresses the talker table holds (>= 1); flows: TCP flows the flow
 * table holds (0: no retransmission or handshake tracking); flow_idle_us: a
 * flow silent that long is forgotten at the next traffic_next_interval.
 */
struct traffic *traffic_new(const uint16_t *ports, size_t nports, unsigned talkers, unsigned flows,
			    uint64_t flow_idle_us);
void traffic_free(struct traffic *t);

/*
 * Counts one frame of `wirelen` bytes decoded into *pk with status `st`, seen
 * at `now_us` (the capture's time stamp). The talker table counts bytes per
 * source address; when it is full, a new address takes over the entry with
 * the fewest bytes and starts from that entry's counts (Space-Saving): an
 * address's bytes are then over-counted by at most its `error`, and every
 * address that sent more than 1/talkers of the interval's bytes is listed.
 */
void traffic_add(struct traffic *t, const struct packet *pk, enum packet_status st,
		 uint32_t wirelen, uint64_t now_us);

const struct traffic_counters *traffic_counters(const struct traffic *t);
const struct traffic_rtt *traffic_rtt(const struct traffic *t);
/* The counts of ports[i] as given to traffic_new: TCP and UDP, either end. */
const struct traffic_count *traffic_port(const struct traffic *t, size_t i);
/* Fills out[] with at most n talkers of this interval, the most bytes first; returns how many. */
size_t traffic_top(const struct traffic *t, struct traffic_talker *out, size_t n);
/* Flows held now. */
size_t traffic_flows(const struct traffic *t);

/* Starts a new interval: forgets talkers and round trips, drops idle and reset flows. */
void traffic_next_interval(struct traffic *t, uint64_t now_us);

#endif
