/*
 * agent.h - the agent's context and its loaded configuration. One struct
 * agent owns the event loop and every subsystem; it is passed explicitly.
 */
#ifndef VAKT_AGENT_H
#define VAKT_AGENT_H

#include <stddef.h>

#include <event2/dns.h>
#include <event2/event.h>

struct check;
struct uplink;

struct agent_collector {
	char *name;
	char *address; /* host:port */
	char
	    *server_name; /* the name its certificate must hold: server_name, else address's host */
};

struct agent_conf {
	char *path;
	char *site;
	char *name; /* this agent's name (default: the host name) */
	struct agent_collector *collectors;
	size_t ncollectors;
	unsigned batch_ms;              /* how long samples wait to be batched */
	unsigned queue_batches;         /* bound on unacknowledged batches held in memory */
	unsigned long long queue_bytes; /* and on the bytes they hold */
	char *spool_dir;                /* NULL: memory only */
	unsigned long long spool_size;  /* bound on the spool's segment files */
	unsigned spool_fsync;           /* seconds between fsyncs; 0: every batch */
	int spool_dir_line;             /* where spool_dir was set, for --check-config */
	char *profile_dir;              /* where profile = "NAME" looks for NAME.conf */
	unsigned failback_s; /* away from the first collector: try it this often; 0: never */
	unsigned max_frame;
	unsigned snmp_in_flight; /* SNMP requests in flight at once, all devices together */
	unsigned max_session_series; /* series ids a session defines at most, whatever the collector allows */
	int insecure;            /* insecure = yes: plaintext, no certificates */
	char *tls_ca, *tls_cert, *tls_key; /* the tls section; NULL when insecure */
	int tls_line;                      /* where the tls section's keys are, for errors */
	struct check **checks;
	size_t nchecks;
};

/* Parses and validates `path`; NULL after printing FILE:LINE errors. */
struct agent_conf *agent_conf_load(const char *path);
void agent_conf_free(struct agent_conf *conf);

struct agent {
	struct event_base *base;
	struct evdns_base *dns;
	struct agent_conf *conf;
	struct uplink *uplink;
	/* What all checks of a kind share, by index into check_kinds[] (check.c). */
	struct agent_kind {
		void *state;
		int ready; /* init ran: fini is owed */
	} * kinds;
	struct event *ev_sigint, *ev_sigterm, *ev_sighup, *ev_stats;
};

#endif
