/*
 * peer.c - per-address session counts and rate-limited peer log lines (see
 * peer.h). The table is bounded; its hash is keyed with a random seed so
 * that a peer cannot choose addresses that all fall into one chain.
 */
#include "peer.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hash.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

struct peers {
	struct peer **buckets;
	size_t nbuckets, n, max;
	uint64_t seed;
	struct peer *lru_head, *lru_tail;
	double window;                 /* the global window's start */
	unsigned lines[PEER_NCLASS];   /* all addresses, this window */
	unsigned burst;                /* lines one address may log per class and window */
	unsigned window_s;             /* a window's length, seconds */
	unsigned summaries;            /* summary lines, this window */
	unsigned long long lost;       /* suppressed beyond the summaries, this window */
	unsigned long long suppressed; /* since start */
	struct event *ev_sweep;
};

static void peers_sweep(evutil_socket_t fd, short what, void *arg);

const char *peer_class_str(enum peer_class k)
{
	switch (k) {
	case PEER_BAD_FRAME:
		return "bad frame";
	case PEER_HELLO:
		return "refused hello";
	case PEER_SAMPLE:
		return "bad sample";
	case PEER_SESSION:
		return "session opened or closed";
	case PEER_REFUSED:
		return "connection refused";
	case PEER_DEADLINE:
		return "past a deadline";
	case PEER_LIMIT:
		return "over a limit";
	case PEER_NCLASS:
		break;
	}
	return "unknown";
}

struct peers *peers_new(struct event_base *base, size_t max, unsigned burst, unsigned window_s)
{
	struct peers *t = xcalloc(1, sizeof(*t));
	struct timeval tv;

	t->burst = burst ? burst : PEER_LOG_BURST;
	t->window_s = window_s ? window_s : PEER_LOG_WINDOW;
	/* a summary comes at most a sixth of a window after its window ends */
	tv.tv_sec = t->window_s / 6;
	tv.tv_usec = (suseconds_t)(t->window_s % 6) * 1000000 / 6;

	t->max = max < 16 ? 16 : max;
	t->nbuckets = 16;
	while (t->nbuckets < t->max)
		t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
		t->seed = (uint64_t)(mono_now() * 1e9) ^ (uint64_t)(uintptr_t)t;
	t->window = mono_now();
	t->ev_sweep = event_new(base, -1, EV_PERSIST, peers_sweep, t);
	if (t->ev_sweep == NULL || event_add(t->ev_sweep, &tv) < 0)
		fatalx("peers: cannot set up the timer of the log limits");
	return t;
}

void peers_free(struct peers *t)
{
	struct peer *p, *next;

	if (t == NULL)
		return;
	event_free(t->ev_sweep);
	for (p = t->lru_head; p != NULL; p = next) {
		next = p->lru_next;
		free(p);
	}
	free(t->buckets);
	free(t);
}

static size_t bucket_of(const struct peers *t, const char *addr)
{
	return (size_t)((hash_fnv1a(addr, strlen(addr)) ^ t->seed) * 0x9e3779b97f4a7c15ULL >> 32) &
	       (t->nbuckets - 1);
}

static void lru_unlink(struct peers *t, struct peer *p)
{
	if (p->lru_prev != NULL)
		p->lru_prev->lru_next = p->lru_next;
	else
		t->lru_head = p->lru_next;
	if (p->lru_next != NULL)
		p->lru_next->lru_prev = p->lru_prev;
	else
		t->lru_tail = p->lru_prev;
	p->lru_prev = p->lru_next = NULL;
}

static void lru_push(struct peers *t, struct peer *p)
{
	p->lru_next = t->lru_head;
	if (t->lru_head != NULL)
		t->lru_head->lru_prev = p;
	t->lru_head = p;
	if (t->lru_tail == NULL)
		t->lru_tail = p;
}

static void peer_forget(struct peers *t, struct peer *p)
{
	struct peer **pp = &t->buckets[bucket_of(t, p->addr)];

	while (*pp != p)
		pp = &(*pp)->next_hash;
	*pp = p->next_hash;
	lru_unlink(t, p);
	t->n--;
	free(p);
}

static void peer_roll(struct peers *t, struct peer *p, double now);

struct peer *peers_get(struct peers *t, const char *addr)
{
	size_t b = bucket_of(t, addr);
	struct peer *p;

	for (p = t->buckets[b]; p != NULL; p = p->next_hash)
		if (strcmp(p->addr, addr) == 0) {
			lru_unlink(t, p);
			lru_push(t, p);
			return p;
		}
	if (t->n >= t->max) {
		/* the least recently used address without sessions makes room */
		for (p = t->lru_tail; p != NULL && p->nsessions > 0; p = p->lru_prev)
			;
		if (p == NULL)
			return NULL;
		peer_roll(t, p, p->window + t->window_s); /* its summary is not lost */
		peer_forget(t, p);
		b = bucket_of(t, addr);
	}
	p = xcalloc(1, sizeof(*p));
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->window = mono_now();
	p->next_hash = t->buckets[b];
	t->buckets[b] = p;
	lru_push(t, p);
	t->n++;
	return p;
}

/* A summary line, itself bounded: beyond the global burst only counted. */
static void summary(struct peers *t, const char *addr, enum peer_class k, unsigned long n)
{
	if (t->summaries >= t->burst * PEER_LOG_GLOBAL_TIMES) {
		t->lost += n;
		return;
	}
	t->summaries++;
	log_warnx("peer %s: %lu more lines (%s) suppressed in %u s", addr, n, peer_class_str(k),
		  t->window_s);
}

static void global_roll(struct peers *t, double now)
{
	if (now - t->window < t->window_s)
		return;
	if (t->lost > 0)
		log_warnx("peers: %llu more lines from many addresses suppressed in %u s", t->lost,
			  t->window_s);
	memset(t->lines, 0, sizeof(t->lines));
	t->summaries = 0;
	t->lost = 0;
	t->window = now;
}

/* Ends p's window if it is over, reporting what it suppressed. */
static void peer_roll(struct peers *t, struct peer *p, double now)
{
	if (now - p->window < t->window_s)
		return;
	for (int k = 0; k < PEER_NCLASS; k++)
		if (p->hidden[k] > 0)
			summary(t, p->addr, (enum peer_class)k, p->hidden[k]);
	memset(p->lines, 0, sizeof(p->lines));
	memset(p->hidden, 0, sizeof(p->hidden));
	p->window = now;
}

void peer_log(struct peers *t, struct peer *p, enum peer_class k, int info, const char *fmt, ...)
{
	double now = mono_now();
	char msg[1024];
	va_list ap;

	global_roll(t, now);
	if (p != NULL)
		peer_roll(t, p, now);
	if (t->lines[k] >= t->burst * PEER_LOG_GLOBAL_TIMES ||
	    (p != NULL && p->lines[k] >= t->burst)) {
		t->suppressed++;
		if (p != NULL)
			p->hidden[k]++;
		else
			t->lost++;
		return;
	}
	t->lines[k]++;
	if (p != NULL)
		p->lines[k]++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (info)
		log_info("%s", msg);
	else
		log_warnx("%s", msg);
}

/* Ends windows that are over: one line per address and class that was suppressed. */
static void peers_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct peers *t = arg;
	double now = mono_now();

	for (struct peer *p = t->lru_head; p != NULL; p = p->lru_next)
		peer_roll(t, p, now);
	global_roll(t, now);
}

unsigned long long peers_suppressed(const struct peers *t)
{
	return t->suppressed;
}
