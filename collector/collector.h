/*
 * collector.h - the collector's context and configuration. One struct
 * collector owns the loop, the listeners, the sessions and every subsystem.
 */
#ifndef VAKT_COLLECTOR_H
#define VAKT_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <confuse.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "store_rrd.h"

struct session;
struct store;
struct notify;
struct alert_engine;
struct control;
struct watch;
struct certs;

struct collector_conf {
	char *path;
	char **listen; /* host:port */
	size_t nlisten;
	char *data_dir;
	unsigned step;
	struct store_rra rras[STORE_RRA_MAX]; /* the archives of new files */
	size_t nrras;
	unsigned max_frame;
	unsigned store_queue;
	size_t store_queue_size;           /* bytes of batches queued for the store */
	unsigned quarantine_retry;         /* seconds between tries of a quarantined file */
	unsigned cache_flush_age;          /* seconds a value may wait in the write-back cache */
	unsigned cache_max_values;         /* updates per file that make it written */
	unsigned store_writers;            /* writers of a flush of many RRD files */
	size_t cache_size;                 /* bytes of cached values */
	unsigned max_series_per_site;      /* 0 = no limit */
	unsigned max_new_files_per_minute; /* per site; 0 = no limit */
	unsigned max_ds_per_file;          /* data sources (metrics) one RRD file may have */
	unsigned max_agents_per_site;      /* agent names one site may have */
	unsigned max_sessions;
	unsigned max_sessions_per_address;
	unsigned log_lines_per_address; /* per class and window; all addresses: 5 times it */
	unsigned log_lines_window;      /* seconds of the windows of peer-caused lines */
	unsigned hello_timeout;         /* seconds from accept to HelloAck, not reset by bytes */
	unsigned frame_timeout;   /* seconds to complete a frame once its first byte arrived */
	size_t input_buffer_size; /* bytes all sessions may hold of frames not yet decoded */
	size_t series_size;       /* bytes the series all sessions defined may hold */
	unsigned max_session_series; /* ids one session may define (HelloAck.max_series) */
	unsigned max_inflight;    /* batches of one session handed to the store, not yet done */
	size_t max_inflight_size; /* the same in frame bytes */
	unsigned fd_reserve;      /* descriptors kept free for the store and the rest */
	unsigned max_clock_skew;  /* seconds a sample may be stamped ahead */
	unsigned crl_check_interval; /* seconds between looks at the CRL file's mtime */
	unsigned stats_interval;     /* seconds between stats lines */
	unsigned heartbeat;       /* seconds, told to agents in HelloAck */
	unsigned agent_down;      /* seconds of silence before agent-down; 0 = off */
	unsigned no_data;         /* intervals of silence before no-data; 0 = off */
	unsigned unreachable;     /* failed runs in a row before unreachable; 0 = off */
	char **alert_channels;    /* built-in alerts go here; NULL = every channel */
	size_t nalert_channels;
	char *control_socket;
	int insecure; /* insecure = yes: plaintext, no certificates */
	char *tls_ca, *tls_cert, *tls_key, *tls_crl; /* the tls section; NULL when insecure */
	int tls_line;                                /* where the tls section's keys are */
	char **sites; /* the sites agents may write for; NULL = any the CA certified */
	size_t nsites;
	int data_dir_line, control_socket_line; /* 0: the default, not in the file */
	cfg_t *cfg;                             /* kept for the channel and rule sections */
};

/* Parses and validates `path`; NULL after printing FILE:LINE errors. */
struct collector_conf *collector_conf_load(const char *path);
void collector_conf_free(struct collector_conf *conf);
/* 1 when `site` may send: it is in sites, or sites is not set. */
int collector_site_known(const struct collector_conf *conf, const char *site);

TAILQ_HEAD(session_list, session);
struct peers;

struct collector {
	struct event_base *base;
	struct collector_conf *conf;
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct session_list sessions;
	size_t nsessions;
	uint64_t next_session_id;
	struct session **by_id; /* sessions hashed by id, for store completions */
	size_t by_id_mask;
	struct session_list waiting; /* paused by a full store, oldest first */
	struct peers *peers;         /* per-address session counts and log limits */
	size_t input_bytes;          /* bytes held in the sessions' input buffers */
	size_t series_bytes;         /* what the series all sessions defined hold (protocol 2) */
	unsigned fds_base;           /* descriptors open before any session */
	uint64_t sessions_expired, sessions_over_budget;
	struct accept_pause *accept_pause; /* accepting paused for lack of descriptors */
	struct store *store;
	struct notify *notify;
	struct alert_engine *alert;
	struct control *control;
	struct watch *watch;
	struct certs *certs; /* TLS context and CRL; NULL when insecure */
	struct event *ev_sigint, *ev_sigterm, *ev_sighup, *ev_stats, *ev_quarantine;
	double started; /* monotonic seconds */
	uint64_t sessions_refused, frames_bad;
	uint64_t ingest_dropped; /* samples the store refused: its queue was full */
	struct complaint ingest_full;
};

#endif
