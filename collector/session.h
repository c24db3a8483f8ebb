/*
 * session.h - one agent connection on the collector: Hello, then batches
 * handed to the store and acknowledged once durable. A state machine changed
 * only by session_set_state().
 */
#ifndef VAKT_SESSION_H
#define VAKT_SESSION_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/listener.h>

#include "collector.h"
#include "log.h"

enum session_state {
	SESSION_HELLO,   /* waiting for the agent's Hello */
	SESSION_ACTIVE,  /* receiving batches */
	SESSION_CLOSING, /* flushing a last message, then closing */
};

const char *session_state_str(enum session_state s);

struct session {
	TAILQ_ENTRY(session) entry;
	struct collector *c;
	uint64_t id;
	struct bufferevent *bev;
	char peer[80]; /* "addr:port" for every log line */
	char *site, *agent, *software;
	enum session_state state;
	int paused;   /* reading stopped: the store queue is full */
	int out_full; /* reading stopped: the peer has not read its answers */
	uint64_t last_seq;
	uint64_t stream; /* Hello.stream; 0: none */
	uint64_t batches, samples, bad_samples, ahead_samples;
	struct watch_agent *wa;          /* the agent's record in the watch, after hello */
	struct complaint invalid, ahead; /* rate-limited logs of skipped samples */
	double since;
};

/* evconnlistener callback: makes a session for a new connection. */
void session_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		    void *arg);
/* Store completion: acknowledges the batch to its session, if still there. */
void session_store_done(const void *result, void *arg);
/* Resumes sessions paused by a full store queue. */
void session_resume_all(struct collector *c);
void session_free(struct session *s);

#endif
