/*
 * traffic.c - the pcap check's accounting: counters per protocol and port, a
 * Space-Saving table of talkers (a min-heap by bytes, indexed by a hash of
 * the address) and a table of TCP flows for retransmissions and handshake
 * round trips. Both tables are allocated once; nothing grows with traffic.
 */
#include "traffic.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct talker {
	struct traffic_talker t;
	uint32_t home; /* the hash slot the address wants */
	uint32_t slot; /* the hash slot holding it */
};

enum flow_state { FLOW_FREE, FLOW_SYN, FLOW_SYNACK, FLOW_OPEN, FLOW_RESET };

/* A TCP flow; side 0 is the (address, port) that sorts first. */
struct flow {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t family;
	uint8_t state;
	uint8_t client;    /* the side that sent the SYN */
	uint8_t ambiguous; /* a SYN or SYN/ACK went twice: no round trip (Karn) */
	uint8_t have[2];   /* next[] is known */
	uint32_t next[2];  /* the sequence number after the highest each side sent */
	uint64_t syn_us, last_us;
};

struct traffic {
	struct traffic_counters c;
	struct traffic_rtt rtt;
	uint16_t ports[TRAFFIC_MAX_PORTS];
	struct traffic_count port_count[TRAFFIC_MAX_PORTS];
	size_t nports;
	uint8_t *port_index; /* port -> 1 + its index in ports[]; 0: not counted apart */
	uint32_t seed;
	/* talkers: a min-heap of ntalk entries, hashed by address into tslots */
	struct talker *heap;
	size_t ntalk, maxtalk;
	uint32_t *tslot; /* 1 + heap index; 0: empty */
	uint32_t tmask;
	/* flows: open addressing, rebuilt through spare when idle ones go */
	struct flow *flow, *spare;
	size_t nflow, maxflow;
	uint32_t fmask;
	uint64_t idle_us;
};

static uint32_t mix(uint32_t h, uint32_t v)
{
	h ^= v;
	h *= 0x9e3779b1u;
	return h ^ (h >> 15);
}

static uint32_t hash_bytes(uint32_t seed, const uint8_t *p, size_t n)
{
	uint32_t h = seed;

	for (size_t i = 0; i + 4 <= n; i += 4)
		h = mix(h, (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
			       (uint32_t)p[i + 3] << 24);
	return mix(h, (uint32_t)n);
}

static uint32_t pow2_at_least(size_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

struct traffic *traffic_new(const uint16_t *ports, size_t nports, unsigned talkers, unsigned flows,
			    uint64_t flow_idle_us)
{
	struct traffic *t = xcalloc(1, sizeof(*t));

	t->nports = nports > TRAFFIC_MAX_PORTS ? TRAFFIC_MAX_PORTS : nports;
	t->port_index = xcalloc(65536, 1);
	for (size_t i = 0; i < t->nports; i++) {
		t->ports[i] = ports[i];
		if (t->port_index[ports[i]] == 0)
			t->port_index[ports[i]] = (uint8_t)(i + 1);
	}
	t->seed = (uint32_t)random();
	t->maxtalk = talkers > 0 ? talkers : 1;
	t->heap = xcalloc(t->maxtalk, sizeof(*t->heap));
	t->tmask = pow2_at_least(2 * t->maxtalk) - 1;
	t->tslot = xcalloc((size_t)t->tmask + 1, sizeof(*t->tslot));
	t->maxflow = flows;
	if (flows > 0) {
		t->fmask = pow2_at_least(2 * (size_t)flows) - 1;
		t->flow = xcalloc((size_t)t->fmask + 1, sizeof(*t->flow));
		t->spare = xcalloc((size_t)t->fmask + 1, sizeof(*t->spare));
	}
	t->idle_us = flow_idle_us;
	return t;
}

void traffic_free(struct traffic *t)
{
	if (t == NULL)
		return;
	free(t->spare);
	free(t->flow);
	free(t->tslot);
	free(t->heap);
	free(t->port_index);
	free(t);
}

const struct traffic_counters *traffic_counters(const struct traffic *t)
{
	return &t->c;
}

const struct traffic_rtt *traffic_rtt(const struct traffic *t)
{
	return &t->rtt;
}

const struct traffic_count *traffic_port(const struct traffic *t, size_t i)
{
	return &t->port_count[i];
}

size_t traffic_flows(const struct traffic *t)
{
	return t->nflow;
}

/* ---- talkers ---- */

static void heap_swap(struct traffic *t, size_t i, size_t j)
{
	struct talker x = t->heap[i];

	t->heap[i] = t->heap[j];
	t->heap[j] = x;
	t->tslot[t->heap[i].slot] = (uint32_t)i + 1;
	t->tslot[t->heap[j].slot] = (uint32_t)j + 1;
}

static void heap_down(struct traffic *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < t->ntalk && t->heap[l].t.bytes < t->heap[m].t.bytes)
			m = l;
		if (r < t->ntalk && t->heap[r].t.bytes < t->heap[m].t.bytes)
			m = r;
		if (m == i)
			return;
		heap_swap(t, i, m);
		i = m;
	}
}

static void heap_up(struct traffic *t, size_t i)
{
	while (i > 0 && t->heap[(i - 1) / 2].t.bytes > t->heap[i].t.bytes) {
		heap_swap(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* Whether slot k lies cyclically in (i, j]. */
static int between(uint32_t i, uint32_t k, uint32_t j)
{
	return i <= j ? i < k && k <= j : i < k || k <= j;
}

/* Removes hash slot i, moving later entries of its run back (linear probing). */
static void talker_unhash(struct traffic *t, uint32_t i)
{
	uint32_t j = i;

	t->tslot[i] = 0;
	for (;;) {
		struct talker *e;

		j = (j + 1) & t->tmask;
		if (t->tslot[j] == 0)
			return;
		e = &t->heap[t->tslot[j] - 1];
		if (between(i, e->home, j))
			continue;
		t->tslot[i] = t->tslot[j];
		e->slot = i;
		t->tslot[j] = 0;
		i = j;
	}
}

static void talker_add(struct traffic *t, int family, const uint8_t *addr, uint32_t bytes)
{
	size_t alen = family == 4 ? 4 : 16;
	uint32_t home = hash_bytes(t->seed, addr, alen) & t->tmask, s = home;
	struct talker *e;
	size_t i;

	for (; t->tslot[s] != 0; s = (s + 1) & t->tmask) {
		e = &t->heap[t->tslot[s] - 1];
		if (e->t.family == family && memcmp(e->t.addr, addr, alen) == 0) {
			e->t.bytes += bytes;
			e->t.packets++;
			heap_down(t, t->tslot[s] - 1);
			return;
		}
	}
	if (t->ntalk < t->maxtalk) {
		i = t->ntalk++;
		e = &t->heap[i];
		memset(e, 0, sizeof(*e));
	} else {
		/* full: the address takes over the smallest entry and its counts */
		i = 0;
		e = &t->heap[0];
		talker_unhash(t, e->slot);
		e->t.error = e->t.bytes;
		/* the run may have moved back over s: find the first empty slot again */
		for (s = home; t->tslot[s] != 0; s = (s + 1) & t->tmask)
			;
	}
	e->t.family = family;
	memset(e->t.addr, 0, sizeof(e->t.addr));
	memcpy(e->t.addr, addr, alen);
	e->t.bytes += bytes;
	e->t.packets++;
	e->home = home;
	e->slot = s;
	t->tslot[s] = (uint32_t)i + 1;
	heap_up(t, i);
	heap_down(t, i);
}

static int talker_cmp(const void *x, const void *y)
{
	const struct traffic_talker *a = x, *b = y;

	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? 1 : -1;
	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

size_t traffic_top(const struct traffic *t, struct traffic_talker *out, size_t n)
{
	struct traffic_talker *all;

	if (n == 0 || t->ntalk == 0)
		return 0;
	all = xcalloc(t->ntalk, sizeof(*all));
	for (size_t i = 0; i < t->ntalk; i++)
		all[i] = t->heap[i].t;
	qsort(all, t->ntalk, sizeof(*all), talker_cmp);
	if (n > t->ntalk)
		n = t->ntalk;
	memcpy(out, all, n * sizeof(*out));
	free(all);
	return n;
}

/* ---- TCP flows ---- */

static int seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* The flow's key, its side 0 the (address, port) that sorts first; returns the sender's side. */
static int flow_key(const struct packet *pk, struct flow *k)
{
	size_t alen = pk->family == 4 ? 4 : 16;
	int c = memcmp(pk->src, pk->dst, alen);
	int side = c > 0 || (c == 0 && pk->sport > pk->dport);

	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)pk->family;
	memcpy(side ? k->b : k->a, pk->src, alen);
	memcpy(side ? k->a : k->b, pk->dst, alen);
	k->pa = side ? pk->dport : pk->sport;
	k->pb = side ? pk->sport : pk->dport;
	return side;
}

static uint32_t flow_hash(const struct traffic *t, const struct flow *k)
{
	uint32_t h = hash_bytes(t->seed, k->a, 16);

	h = mix(h, hash_bytes(t->seed, k->b, 16));
	return mix(h, (uint32_t)k->pa << 16 | k->pb | (uint32_t)k->family << 31);
}

static int flow_same(const struct flow *x, const struct flow *k)
{
	return x->family == k->family && x->pa == k->pa && x->pb == k->pb &&
	       memcmp(x->a, k->a, 16) == 0 && memcmp(x->b, k->b, 16) == 0;
}

/* The flow of key k, or a free slot for it (NULL: the table is full, or there is none). */
static struct flow *flow_find(struct traffic *t, const struct flow *k, int *found)
{
	uint32_t s = flow_hash(t, k) & t->fmask;

	*found = 0;
	if (t->flow == NULL)
		return NULL;
	for (; t->flow[s].state != FLOW_FREE; s = (s + 1) & t->fmask)
		if (flow_same(&t->flow[s], k)) {
			*found = 1;
			return &t->flow[s];
		}
	return t->nflow < t->maxflow ? &t->flow[s] : NULL;
}

/* A new flow at slot f from the sender's side `side` of the key k. */
static void flow_begin(struct traffic *t, struct flow *f, const struct flow *k, int side,
		       const struct packet *pk, uint64_t now_us)
{
	*f = *k;
	if ((pk->tcp_flags & (PACKET_SYN | PACKET_ACK)) == PACKET_SYN) {
		f->state = FLOW_SYN;
		f->client = (uint8_t)side;
		f->syn_us = now_us;
	} else {
		f->state = FLOW_OPEN; /* met halfway: retransmissions only */
	}
	f->last_us = now_us;
	t->nflow++;
}

static void tcp_track(struct traffic *t, const struct packet *pk, uint64_t now_us)
{
	uint8_t fl = pk->tcp_flags;
	uint32_t len = pk->payload + ((fl & PACKET_SYN) ? 1 : 0) + ((fl & PACKET_FIN) ? 1 : 0);
	struct flow k, *f;
	int side, found;

	side = flow_key(pk, &k);
	f = flow_find(t, &k, &found);
	if (f == NULL) {
		t->c.untracked++;
		return;
	}
	if (!found) {
		flow_begin(t, f, &k, side, pk, now_us);
	} else if ((fl & (PACKET_SYN | PACKET_ACK)) == PACKET_SYN &&
		   (f->state != FLOW_SYN || f->client != side)) {
		/* a new connection on the ports of an old one */
		t->nflow--;
		flow_begin(t, f, &k, side, pk, now_us);
	} else if ((fl & (PACKET_SYN | PACKET_ACK)) == (PACKET_SYN | PACKET_ACK) &&
		   f->state == FLOW_SYN && f->client != side) {
		f->state = FLOW_SYNACK;
	} else if (f->state == FLOW_SYNACK && f->client == side && !(fl & PACKET_SYN) &&
		   (fl & PACKET_ACK) && f->have[!side] && pk->ack == f->next[!side]) {
		f->state = FLOW_OPEN;
		t->c.handshakes++;
		if (!f->ambiguous) {
			uint64_t rtt = now_us - f->syn_us;

			t->rtt.n++;
			t->rtt.sum_us += rtt;
			if (rtt > t->rtt.max_us)
				t->rtt.max_us = rtt;
		}
	}
	f->last_us = now_us;
	if (fl & PACKET_RST)
		f->state = FLOW_RESET;
	if (len == 0)
		return;
	if (f->have[side] && seq_lt(pk->seq, f->next[side])) {
		/* a keepalive carries one old byte on purpose */
		if (!(pk->payload == 1 && pk->seq + 1 == f->next[side] && !(fl & PACKET_SYN))) {
			t->c.retransmits++;
			if (fl & PACKET_SYN)
				f->ambiguous = 1;
		}
	}
	if (!f->have[side] || seq_lt(f->next[side], pk->seq + len)) {
		f->next[side] = pk->seq + len;
		f->have[side] = 1;
	}
}

void traffic_add(struct traffic *t, const struct packet *pk, enum packet_status st,
		 uint32_t wirelen, uint64_t now_us)
{
	struct traffic_count *pc;

	t->c.all.bytes += wirelen;
	t->c.all.packets++;
	if (st == PACKET_TRUNCATED)
		t->c.truncated++;
	else if (st == PACKET_MALFORMED)
		t->c.malformed++;
	pc = &t->c.proto[pk->proto][pk->family == 6];
	pc->bytes += wirelen;
	pc->packets++;
	if (pk->family == 0)
		return;
	talker_add(t, pk->family, pk->src, wirelen);
	if (!pk->has_ports || st != PACKET_OK)
		return;
	if (t->port_index[pk->sport] != 0 || t->port_index[pk->dport] != 0) {
		/* a flow between two counted ports counts once, under the lower port's */
		unsigned i = t->port_index[pk->sport] && t->port_index[pk->dport]
				 ? t->port_index[pk->sport < pk->dport ? pk->sport : pk->dport]
			     : t->port_index[pk->sport] ? t->port_index[pk->sport]
							: t->port_index[pk->dport];

		t->port_count[i - 1].bytes += wirelen;
		t->port_count[i - 1].packets++;
	}
	if (pk->proto == PACKET_TCP && t->maxflow > 0)
		tcp_track(t, pk, now_us);
}

void traffic_next_interval(struct traffic *t, uint64_t now_us)
{
	struct flow *old = t->flow;

	memset(t->tslot, 0, ((size_t)t->tmask + 1) * sizeof(*t->tslot));
	t->ntalk = 0;
	memset(&t->rtt, 0, sizeof(t->rtt));
	if (old == NULL)
		return;
	/* rebuilt into the spare table: what stays keeps its probe runs whole */
	memset(t->spare, 0, ((size_t)t->fmask + 1) * sizeof(*t->spare));
	t->flow = t->spare;
	t->spare = old;
	t->nflow = 0;
	for (size_t i = 0; i <= t->fmask; i++) {
		struct flow *f;
		int found;

		if (old[i].state == FLOW_FREE || old[i].state == FLOW_RESET ||
		    (now_us > old[i].last_us && now_us - old[i].last_us > t->idle_us))
			continue;
		f = flow_find(t, &old[i], &found);
		*f = old[i];
		t->nflow++;
	}
}
