/*
 * peer.h - what the collector keeps per peer address (and per network, for
 * the input budget): how many sessions it has open, and a rate limit for
 * every log line a peer can cause, per class.
 * A peer must never be able to make the collector log without bound.
 */
#ifndef VAKT_PEER_H
#define VAKT_PEER_H

#include <stddef.h>

#include <event2/event.h>

/* What a log line caused by a peer is about; each class is limited alone. */
enum peer_class {
	PEER_BAD_FRAME, /* a frame that ends the session */
	PEER_HELLO,     /* a refused hello, or a message before it */
	PEER_SAMPLE,    /* invalid or early samples, a sequence that went back */
	PEER_SESSION,   /* sessions opened and closed */
	PEER_REFUSED,   /* a connection refused at accept (a limit on sessions) */
	PEER_DEADLINE,  /* a session closed at its hello or frame deadline */
	PEER_LIMIT,     /* a session closed by another bound (input budget, unread answers) */
	PEER_NCLASS,
};

const char *peer_class_str(enum peer_class k);

/*
 * Lines one address may cause per class and window before they are counted
 * only, unless the config names another number (log_lines_per_address); all
 * addresses together may cause PEER_LOG_GLOBAL_TIMES as many. The window is
 * PEER_LOG_WINDOW unless the config names another (log_lines_window).
 */
#define PEER_LOG_BURST        10
#define PEER_LOG_GLOBAL_TIMES 5
#define PEER_LOG_WINDOW       60 /* seconds */

struct peer {
	char addr[48]; /* numeric address, no port; or a network, "192.0.2.0/24" (input budget) */
	unsigned nsessions;
	size_t input;  /* bytes its sessions hold in their input buffers (input_buffer_size) */
	double window; /* monotonic start of the current window */
	unsigned lines[PEER_NCLASS];       /* written in this window */
	unsigned long hidden[PEER_NCLASS]; /* suppressed in this window */
	struct peer *next_hash;
	struct peer *lru_prev, *lru_next; /* most recently used first */
};

struct peers;

/*
 * A table of at most `max` addresses; the least recently used idle one makes
 * room. One address may log `burst` lines per class and window of `window_s`
 * seconds (0: PEER_LOG_WINDOW). A timer on `base` reports suppressed lines
 * when their window ends.
 */
struct peers *peers_new(struct event_base *base, size_t max, unsigned burst, unsigned window_s);
void peers_free(struct peers *t);
/* The entry of `addr`, made if new; NULL when the table is full of busy peers. */
struct peer *peers_get(struct peers *t, const char *addr);
/*
 * Logs a line about `p` (NULL: no address known) at warning level, unless
 * its class has used up its burst for this window, for this address or for
 * all of them: then it is only counted, and reported by peers_sweep.
 */
void peer_log(struct peers *t, struct peer *p, enum peer_class k, int info, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Lines suppressed since start, for the stats line. */
unsigned long long peers_suppressed(const struct peers *t);

#endif
