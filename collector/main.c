/*
 * main.c - vakt-collector: accepts agent sessions, stores samples in RRD
 * files through the writer thread, evaluates alert rules and notifies.
 * The event loop never blocks on disk, DNS or a notification command.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "accept_pause.h"
#include "alert.h"
#include "certs.h"
#include "collector.h"
#include "conf.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "peer.h"
#include "session.h"
#include "store_rrd.h"
#include "timeutil.h"
#include "watch.h"
#include "xmalloc.h"

#define DEFAULT_CONFIG "/etc/vakt/collector.conf"

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct collector *c = arg;

	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(c->base);
}

static void hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct collector *c = arg;

	if (c->certs == NULL) {
		log_warnx("SIGHUP: configuration reload is not supported yet; restart the "
			  "collector");
		return;
	}
	log_info("SIGHUP: reloading the TLS certificates and CRL; the rest of the "
		 "configuration needs a restart");
	certs_reload(c->certs, "SIGHUP");
}

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;
	struct store_stats st;

	store_get_stats(c->store, &st);
	log_info("stats: %zu sessions, %llu batches, %llu samples written, %llu duplicates, "
		 "%llu rejected, %llu quarantined, %llu refused, %llu not stored yet, %zu queued "
		 "(%zu bytes), %zu files quarantined; sessions: %llu refused, %llu past a "
		 "deadline, %llu over input_buffer_size, %zu bytes buffered; %llu log lines "
		 "about peers suppressed",
		 c->nsessions, (unsigned long long)st.batches, (unsigned long long)st.samples,
		 (unsigned long long)st.duplicates, (unsigned long long)st.rejected,
		 (unsigned long long)st.quarantined, (unsigned long long)st.refused,
		 (unsigned long long)st.failed, st.queued, st.queued_bytes, st.files_quarantined,
		 (unsigned long long)c->sessions_refused, (unsigned long long)c->sessions_expired,
		 (unsigned long long)c->sessions_over_budget, c->input_bytes,
		 peers_suppressed(c->peers));
}

static void quarantine_cb(evutil_socket_t fd, short what, void *arg)
{
	struct collector *c = arg;

	watch_quarantine(c->watch, c->store);
}

static void store_done(const struct store_result *r, void *arg)
{
	session_store_done(r, arg);
}

static void known_agent(const char *site, const char *agent, void *arg)
{
	watch_agent_known(arg, site, agent);
}

static void known_file(const char *site, const char *host, const char *check, const char *instance,
		       const char *agent, unsigned interval, void *arg)
{
	watch_file_known(arg, site, host, check, instance, agent, interval);
}

static int open_listeners(struct collector *c)
{
	c->listeners = xcalloc(c->conf->nlisten, sizeof(*c->listeners));
	for (size_t i = 0; i < c->conf->nlisten; i++) {
		struct sockaddr_storage ss;
		int len = sizeof(ss);

		if (evutil_parse_sockaddr_port(c->conf->listen[i], (struct sockaddr *)&ss, &len) <
		    0) {
			log_warnx("listen %s: not a numeric address:port", c->conf->listen[i]);
			return -1;
		}
		c->listeners[i] = evconnlistener_new_bind(
		    c->base, session_accept, c,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
		    (struct sockaddr *)&ss, len);
		if (c->listeners[i] == NULL) {
			log_warn("listen %s", c->conf->listen[i]);
			return -1;
		}
		evconnlistener_set_error_cb(c->listeners[i], accept_pause_error);
		c->nlisteners++;
		if (c->certs == NULL)
			log_warnx("listening on %s in PLAINTEXT (insecure = yes): agents are not "
				  "authenticated and any may write for any site",
				  c->conf->listen[i]);
		else
			log_info("listening on %s, TLS: agents need a certificate from %s",
				 c->conf->listen[i], c->conf->tls_ca);
	}
	return 0;
}

/* "FILE:LINE: " or "FILE: " when the key was left at its default. */
static void where(const struct collector_conf *conf, int line)
{
	if (line > 0)
		fprintf(stderr, "%s:%d: ", conf->path, line);
	else
		fprintf(stderr, "%s: ", conf->path);
}

/*
 * --check-config checks the paths as start-up uses them: the store creates
 * data_dir (one level) if it is missing, the control socket is bound in a
 * directory that must exist. Says which case holds; 0 or -1.
 */
/*
 * Descriptors open before any session (stdio, listeners, vakt.db, control
 * socket, the loop's own), so that sessions leave fd_reserve free beside them.
 */
static unsigned count_fds(void)
{
	struct rlimit rl;
	unsigned n = 0;
	rlim_t max = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max)
		max = rl.rlim_cur;
	for (rlim_t fd = 0; fd < max; fd++)
		if (fcntl((int)fd, F_GETFD) != -1)
			n++;
	return n;
}

/*
 * Raises the soft descriptor limit towards the hard one, as far as
 * max_sessions and fd_reserve need, and says so when the hard limit allows
 * fewer sessions than max_sessions (a service's LimitNOFILE).
 */
static void raise_nofile(const struct collector *c)
{
	rlim_t need = (rlim_t)c->conf->max_sessions + c->fds_base + c->conf->fd_reserve;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > rl.rlim_cur) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur =
		    rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info("descriptor limit raised from %llu to %llu",
				 (unsigned long long)was, (unsigned long long)rl.rlim_cur);
	}
	if (rl.rlim_cur < need)
		log_warnx(
		    "descriptor limit %llu: at most %llu sessions (max_sessions %u) beside the "
		    "%u descriptors open and fd_reserve %u; raise the limit (LimitNOFILE)",
		    (unsigned long long)rl.rlim_cur,
		    rl.rlim_cur > c->fds_base + c->conf->fd_reserve
			? (unsigned long long)(rl.rlim_cur - c->fds_base - c->conf->fd_reserve)
			: 0ULL,
		    c->conf->max_sessions, c->fds_base, c->conf->fd_reserve);
}

static int check_paths(const struct collector_conf *conf)
{
	char *copy = xstrdup(conf->data_dir), *sock = xstrdup(conf->control_socket);
	char *parent = dirname(copy), *sockdir = dirname(sock);
	const char *why;
	struct stat st;
	int bad = 0;

	if (stat(conf->data_dir, &st) == 0) {
		if (daemon_writable_dir(conf->data_dir, &why) < 0) {
			where(conf, conf->data_dir_line);
			fprintf(stderr, "data_dir \"%s\": %s\n", conf->data_dir, why);
			bad = 1;
		} else {
			printf("data_dir %s: exists, writable\n", conf->data_dir);
		}
	} else if (daemon_writable_dir(parent, &why) < 0) {
		where(conf, conf->data_dir_line);
		fprintf(stderr, "data_dir \"%s\": cannot be created: %s: %s\n", conf->data_dir,
			parent, why);
		bad = 1;
	} else {
		printf("data_dir %s: does not exist yet, will be created in %s\n", conf->data_dir,
		       parent);
	}
	if (daemon_writable_dir(sockdir, &why) < 0) {
		where(conf, conf->control_socket_line);
		fprintf(stderr, "control_socket \"%s\": directory %s: %s\n", conf->control_socket,
			sockdir, why);
		bad = 1;
	} else {
		printf("control_socket %s: directory %s writable\n", conf->control_socket, sockdir);
	}
	free(copy);
	free(sock);
	return bad ? -1 : 0;
}

static int setup_alerting(struct collector *c)
{
	cfg_t *cfg = c->conf->cfg;

	c->notify = notify_new(c->base);
	if (c->notify == NULL) {
		log_warnx("cannot set up the notification channels");
		return -1;
	}
	for (unsigned i = 0; i < cfg_size(cfg, "channel"); i++)
		if (notify_add_channel(c->notify, cfg_getnsec(cfg, "channel", i)) < 0)
			return -1;
	c->alert = alert_engine_new(c->notify);
	if (c->alert == NULL) {
		log_warnx("cannot set up the alert engine");
		return -1;
	}
	for (unsigned i = 0; i < cfg_size(cfg, "rule"); i++)
		if (alert_engine_add_rule(c->alert, cfg_getnsec(cfg, "rule", i)) < 0)
			return -1;
	if (c->conf->nalert_channels > 0) {
		if (alert_engine_builtin_channels(c->alert,
						  (const char *const *)c->conf->alert_channels,
						  c->conf->nalert_channels) < 0)
			return -1;
	} else {
		/* unconfigured: every channel hears of silence, and the daemon log always */
		unsigned n = cfg_size(cfg, "channel");
		const char **ch = xcalloc(n + 1, sizeof(*ch));
		size_t k = 0;
		int have_log = 0;

		for (unsigned i = 0; i < n; i++) {
			ch[k] = cfg_title(cfg_getnsec(cfg, "channel", i));
			have_log |= strcmp(ch[k++], "log") == 0;
		}
		if (!have_log)
			ch[k++] = "log";
		alert_engine_builtin_channels(c->alert, ch, k);
		free(ch);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	int rc;
	struct collector c;
	struct store_params sp;
	struct watch_params wp;
	struct timeval stats_tv;
	struct timeval quar_tv = {2, 0}; /* how soon a quarantined host pages */

	rc = daemon_parse_args(argc, argv, "vakt-collector", DEFAULT_CONFIG, NULL, &o);
	if (rc >= 0)
		return rc;
	rc = 1;
	log_init("vakt-collector", o.foreground || o.check_only, o.verbose);
	memset(&c, 0, sizeof(c));
	TAILQ_INIT(&c.sessions);
	TAILQ_INIT(&c.waiting);
	c.conf = collector_conf_load(o.config);
	if (c.conf == NULL)
		return 1;
	if (o.check_only) {
		rc = check_paths(c.conf) < 0;
		if (c.conf->tls_cert != NULL && certs_check(c.conf) < 0)
			rc = 1;
		if (rc == 0)
			printf("%s: configuration OK (%u channels, %u rules)\n", o.config,
			       cfg_size(c.conf->cfg, "channel"), cfg_size(c.conf->cfg, "rule"));
		collector_conf_free(c.conf);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	/* the RRD writer thread wakes the loop: libevent must know about threads */
	if (evthread_use_pthreads() < 0)
		fatalx("libevent has no pthreads support");
	c.base = event_base_new();
	if (c.base == NULL)
		fatalx("cannot create the event loop");
	c.started = mono_now();
	if (setup_alerting(&c) < 0)
		goto out;
	sp.data_dir = c.conf->data_dir;
	sp.step = c.conf->step;
	sp.rras = c.conf->rras;
	sp.nrras = c.conf->nrras;
	sp.queue_max = c.conf->store_queue;
	sp.queue_bytes = c.conf->store_queue_size;
	sp.quarantine_retry = c.conf->quarantine_retry;
	sp.max_series_per_site = c.conf->max_series_per_site;
	sp.max_new_files_per_minute = c.conf->max_new_files_per_minute;
	sp.max_ds_per_file = c.conf->max_ds_per_file;
	sp.cache_flush_age = c.conf->cache_flush_age;
	sp.cache_max_values = c.conf->cache_max_values;
	sp.cache_size = c.conf->cache_size;
	sp.writers = c.conf->store_writers;
	c.store = store_new(c.base, &sp, store_done, &c);
	if (c.store == NULL)
		goto out; /* the store said why */
	wp.agent_down_s = c.conf->agent_down;
	wp.heartbeat_s = c.conf->heartbeat ? c.conf->heartbeat : 10;
	wp.no_data = c.conf->no_data;
	wp.unreachable = c.conf->unreachable;
	wp.max_entries = WATCH_MAX_ENTRIES;
	wp.max_new_per_minute = c.conf->max_new_files_per_minute;
	wp.log_window_s = c.conf->log_lines_window;
	c.watch = watch_new(c.base, c.alert, &wp);
	store_foreach_known_agent(c.store, known_agent, c.watch);
	/* with no_data = 0 nothing watches them: dropped without a word */
	store_take_known_files(c.store, c.conf->no_data ? known_file : NULL, c.watch);
	if (c.conf->tls_cert != NULL && (c.certs = certs_new(&c)) == NULL)
		goto out; /* certs_new said why */
	/* every address with a session has an entry, and as many idle ones again */
	c.peers = peers_new(c.base, 2 * (size_t)c.conf->max_sessions, c.conf->log_lines_per_address,
			    c.conf->log_lines_window);
	accept_pause_init(&c);
	if (open_listeners(&c) < 0)
		goto out;
	/* without it vaktctl could not reach a running collector: refuse to start */
	c.control = control_new(&c, c.conf->control_socket);
	if (c.control == NULL)
		goto out;
	c.fds_base = count_fds();
	raise_nofile(&c);
	c.ev_sigint = evsignal_new(c.base, SIGINT, stop_cb, &c);
	c.ev_sigterm = evsignal_new(c.base, SIGTERM, stop_cb, &c);
	c.ev_sighup = evsignal_new(c.base, SIGHUP, hup_cb, &c);
	c.ev_stats = event_new(c.base, -1, EV_PERSIST, stats_cb, &c);
	stats_tv.tv_sec = c.conf->stats_interval;
	stats_tv.tv_usec = 0;
	c.ev_quarantine = event_new(c.base, -1, EV_PERSIST, quarantine_cb, &c);
	if (c.ev_sigint == NULL || c.ev_sigterm == NULL || c.ev_sighup == NULL ||
	    c.ev_stats == NULL || c.ev_quarantine == NULL || event_add(c.ev_sigint, NULL) < 0 ||
	    event_add(c.ev_sigterm, NULL) < 0 || event_add(c.ev_sighup, NULL) < 0 ||
	    event_add(c.ev_stats, &stats_tv) < 0 || event_add(c.ev_quarantine, &quar_tv) < 0) {
		log_warnx("cannot set up the signal and stats events");
		goto out;
	}
	log_info("vakt-collector %s started: data_dir %s, step %u s", VAKT_VERSION,
		 c.conf->data_dir, c.conf->step);
	event_base_dispatch(c.base);
	rc = 0;
	log_info("vakt-collector stopping");
out:
	for (size_t i = 0; i < c.nlisteners; i++)
		evconnlistener_free(c.listeners[i]);
	free(c.listeners);
	control_free(c.control);
	/*
	 * The writer finishes what is queued and writes its whole cache to the
	 * files; its completions are dropped with the sessions.
	 */
	while (!TAILQ_EMPTY(&c.sessions))
		session_free(TAILQ_FIRST(&c.sessions));
	free(c.by_id);
	peers_free(c.peers);
	accept_pause_free(&c);
	store_free(c.store);
	watch_free(c.watch);
	certs_free(c.certs);
	alert_engine_free(c.alert);
	notify_free(c.notify);
	if (c.ev_sigint != NULL)
		event_free(c.ev_sigint);
	if (c.ev_sigterm != NULL)
		event_free(c.ev_sigterm);
	if (c.ev_sighup != NULL)
		event_free(c.ev_sighup);
	if (c.ev_stats != NULL)
		event_free(c.ev_stats);
	if (c.ev_quarantine != NULL)
		event_free(c.ev_quarantine);
	if (c.base != NULL)
		event_base_free(c.base);
	collector_conf_free(c.conf);
	return rc;
}
