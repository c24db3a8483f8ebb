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
#include <openssl/x509.h>

#include "collector.h"
#include "log.h"

enum session_state {
	SESSION_HELLO,   /* waiting for the agent's Hello */
	SESSION_ACTIVE,  /* receiving batches */
	SESSION_CLOSING, /* flushing a last message, then closing */
};

const char *session_state_str(enum session_state s);

/* Why a session does not read, as bits of session.paused. */
#define SESSION_PAUSE_STORE    1 /* the store queue is full: waits in collector.waiting */
#define SESSION_PAUSE_INFLIGHT 2 /* too much of its own is with the store */

struct session {
	TAILQ_ENTRY(session) entry;
	TAILQ_ENTRY(session) wait_entry; /* in collector.waiting while SESSION_PAUSE_STORE */
	struct session *next_id;         /* chain of collector.by_id */
	struct collector *c;
	uint64_t id;
	struct bufferevent *bev;
	char peer[80];     /* "addr:port" for every log line */
	struct peer *from; /* the peer address's entry: session count, log limits */
	struct peer *net;  /* its network's entry (IPv4 /24, IPv6 /64): the input budget */
	char *site, *agent, *software;
	int tls;            /* 1: a TLS session (insecure = yes: 0) */
	char *cert_site;    /* after the handshake: the site its certificate names (CN) */
	char *cert_subject; /* and the certificate's subject, for status and logs */
	int tls_reneg;      /* the agent asked to renegotiate TLS and was refused */
	enum session_state state;
	int paused;   /* SESSION_PAUSE_* bits: reading stopped */
	int out_full; /* reading stopped: the peer has not read its answers */
	struct event *ev_deadline;
	double hello_by;    /* monotonic: HelloAck must be sent by then */
	double frame_first; /* monotonic: first byte of the incomplete frame; 0: none */
	double frame_since; /* monotonic: since when it is being read; 0: not read now */
	double frame_used;  /* seconds it was read before frame_since (reading paused) */
	size_t input;       /* bytes of its input buffer counted in collector.input_bytes */
	double input_grew;  /* monotonic: when its input buffer last took new bytes */
	unsigned inflight;  /* batches handed to the store, not done yet */
	size_t inflight_bytes;
	size_t *inflight_len; /* frame sizes of those, oldest first (a ring) */
	unsigned inflight_head;
	unsigned protocol;    /* agreed at hello: VAKT_PROTOCOL_MIN..VAKT_PROTOCOL */
	struct series_rx *rx; /* protocol 2: the series the agent has defined */
	uint64_t last_seq;
	int last_more;   /* the last batch was a part of last_seq, more to follow */
	uint64_t stream; /* Hello.stream; 0: none */
	uint64_t batches, samples, bad_samples, ahead_samples;
	struct watch_agent *wa; /* the agent's record in the watch, after hello */
	double since;
};

/* evconnlistener callback: makes a session for a new connection. */
void session_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		    void *arg);
/* Store completion: acknowledges the batch to its session, if still there. */
void session_store_done(const void *result, void *arg);
/* Resumes sessions paused by a full store queue, the longest waiting first. */
void session_resume_waiting(struct collector *c);
void session_free(struct session *s);
/* Ends the TLS sessions whose certificate `crl` revokes (a CRL reload). */
void session_end_revoked(struct collector *c, X509_CRL *crl);

#endif
