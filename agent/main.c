/*
 * main.c - vakt-agent: reads its config, schedules checks on one libevent
 * loop and streams their samples to the collector. Never blocks the loop.
 * With --discover it sweeps a subnet instead (discover.c) and exits.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "agent.h"
#include "check.h"
#include "daemon.h"
#include "discover.h"
#include "log.h"
#include "spool.h"
#include "uplink.h"
#include "xmalloc.h"

#define DEFAULT_CONFIG "/etc/vakt/agent.conf"

/*
 * A spool belongs to one site and agent: its batches carry their names only
 * in the Hello of the session that sends them, so an agent restarted with
 * another site would file its old batches under the new one. spool_dir/owner
 * names the owner; a different agent refuses to start while segments are
 * there. 0: ours (the file written if it was missing); -1: error printed.
 */
static int check_spool_owner(const struct agent_conf *conf, int write)
{
	char path[4096], want[512], have[512] = "";
	int segments = 0;
	FILE *f;

	if (conf->spool_dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/owner", conf->spool_dir);
	snprintf(want, sizeof(want), "site=%s agent=%s\n", conf->site, conf->name);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(have, sizeof(have), f) == NULL)
			have[0] = '\0';
		fclose(f);
	}
	if (have[0] != '\0' && strcmp(have, want) != 0)
		segments = spool_has_segments(conf->spool_dir);
	if (segments > 0) {
		have[strcspn(have, "\n")] = '\0';
		fprintf(
		    stderr,
		    "%s:%d: spool_dir \"%s\" holds %d segments of %s, not of site=%s agent=%s: "
		    "start the agent with its old site and name until they are delivered, or move "
		    "the directory away\n",
		    conf->path, conf->spool_dir_line, conf->spool_dir, segments, have, conf->site,
		    conf->name);
		return -1;
	}
	if (write && strcmp(have, want) != 0) {
		char tmp[4112];

		mkdir(conf->spool_dir, 0750); /* the spool says it if this fails */
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		if ((f = fopen(tmp, "w")) != NULL) {
			int ok = fputs(want, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;

			if (fclose(f) == 0 && ok)
				rename(tmp, path);
			else
				unlink(tmp);
		}
	}
	return 0;
}

/*
 * One agent per spool_dir: a second one started on it (the same config
 * twice, or two configs naming one directory) must not run beside the
 * first, whose batches it would neither send nor keep. 0, or -1 with the
 * error printed, naming the directory and the agent that holds it.
 */
static int check_spool_free(const struct agent_conf *conf)
{
	long pid;

	if (conf->spool_dir == NULL || !spool_dir_in_use(conf->spool_dir, &pid))
		return 0;
	if (pid > 0)
		fprintf(stderr,
			"%s:%d: spool_dir \"%s\" is in use by another vakt-agent (pid %ld): two "
			"agents cannot share a spool_dir; stop that one, or give each its own\n",
			conf->path, conf->spool_dir_line, conf->spool_dir, pid);
	else
		fprintf(stderr,
			"%s:%d: spool_dir \"%s\" is in use by another vakt-agent (its pid is not "
			"known: see %s/lock): two agents cannot share a spool_dir; stop that one, "
			"or give each its own\n",
			conf->path, conf->spool_dir_line, conf->spool_dir, conf->spool_dir);
	return -1;
}

/*
 * --check-config checks spool_dir as start-up uses it: created (one level)
 * if missing, written to. An unusable spool_dir does not stop the agent
 * (it keeps batches in memory, loudly), but it fails the check. 0 or -1.
 */
static int check_spool_dir(const struct agent_conf *conf)
{
	char *copy, *parent;
	const char *why;
	struct stat st;
	int bad = 0;

	if (conf->spool_dir == NULL) {
		printf("spool_dir: not set: unacknowledged batches are kept in memory only and "
		       "lost when the agent stops\n");
		return 0;
	}
	copy = xstrdup(conf->spool_dir);
	parent = dirname(copy);
	if (stat(conf->spool_dir, &st) == 0) {
		if (daemon_writable_dir(conf->spool_dir, &why) < 0) {
			fprintf(stderr, "%s:%d: spool_dir \"%s\": %s\n", conf->path,
				conf->spool_dir_line, conf->spool_dir, why);
			bad = 1;
		} else {
			printf("spool_dir %s: exists, writable\n", conf->spool_dir);
		}
	} else if (daemon_writable_dir(parent, &why) < 0) {
		fprintf(stderr, "%s:%d: spool_dir \"%s\": cannot be created: %s: %s\n", conf->path,
			conf->spool_dir_line, conf->spool_dir, parent, why);
		bad = 1;
	} else {
		printf("spool_dir %s: does not exist yet, will be created in %s\n", conf->spool_dir,
		       parent);
	}
	free(copy);
	return bad ? -1 : 0;
}

/*
 * Raises the soft descriptor limit to the hard one: every probe run in
 * progress holds a socket until its timeout, so 1,000 probes against slow
 * services need more than the usual soft 1,024, and a run refused a socket
 * (or an uplink refused its connection) for want of one is no measurement.
 * The loop (epoll), curl's multi and net-snmp's large fd sets take any number.
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	was = rl.rlim_cur;
	/* an unlimited hard limit still has the kernel's nr_open above it */
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("descriptor limit raised from %llu to %llu", (unsigned long long)was,
			 (unsigned long long)rl.rlim_cur);
	else
		log_warnx("descriptor limit %llu: cannot raise it to %llu: %s",
			  (unsigned long long)was, (unsigned long long)rl.rlim_cur,
			  strerror(errno));
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct agent *a = arg;
	struct timeval grace = {3, 0};

	log_info("signal %d: stopping, waiting up to %ld s for acknowledgements", (int)sig,
		 (long)grace.tv_sec);
	for (size_t i = 0; i < a->conf->nchecks; i++)
		if (a->conf->checks[i]->timer != NULL)
			evtimer_del(a->conf->checks[i]->timer);
	event_del(a->ev_sigint);
	event_del(a->ev_sigterm);
	uplink_drain(a->uplink);
	event_base_loopexit(a->base, &grace);
}

static void hup_cb(evutil_socket_t sig, short what, void *arg)
{
	/* Reload lands with the transport issue; refuse loudly rather than half-apply. */
	log_warnx("SIGHUP: configuration reload is not supported yet; restart the agent");
}

/*
 * The loop keeps time by CLOCK_MONOTONIC. libevent's default, the coarse
 * clock, moves in steps of a kernel tick (4 ms here): a timer due within
 * the step looked not yet due after epoll_wait's millisecond ran out, and
 * the loop slept a millisecond more, up to four times, before running it
 * (a tenth of an agent's wakeups at 200 switches polled every minute). The
 * precise timer costs a timerfd_settime per sleep instead.
 */
static struct event_base *agent_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	struct uplink_stats st;
	unsigned long long overruns = 0;

	uplink_get_stats(a->uplink, &st);
	for (size_t i = 0; i < a->conf->nchecks; i++)
		overruns += a->conf->checks[i]->slot.overruns;
	log_info("stats: %llu samples, %llu results, %llu events, %llu batches sent (%llu "
		 "bytes, %llu in the full form), %llu acked, %llu queued (%llu bytes in memory, "
		 "%llu in the spool), %llu heartbeats; dropped: %llu batches, %llu samples, %llu "
		 "results, %llu unreadable spool segments, %llu batches another copy of the "
		 "spool sent; %llu overruns",
		 (unsigned long long)st.samples, (unsigned long long)st.results,
		 (unsigned long long)st.events, (unsigned long long)st.batches_sent,
		 (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_full,
		 (unsigned long long)st.batches_acked, (unsigned long long)st.queued,
		 (unsigned long long)st.queued_bytes, (unsigned long long)st.spooled_bytes,
		 (unsigned long long)st.heartbeats, (unsigned long long)st.batches_dropped,
		 (unsigned long long)st.samples_dropped, (unsigned long long)st.results_dropped,
		 (unsigned long long)st.segments_unreadable, (unsigned long long)st.batches_copied,
		 overruns);
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	int rc;
	struct agent a;
	struct timeval stats_tv = {60, 0};

	/* --discover is a command of its own, with its own options */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--discover") == 0 || strncmp(argv[i], "--discover=", 11) == 0)
			return discover_main(argc, argv);
	rc = daemon_parse_args(argc, argv, "vakt-agent", DEFAULT_CONFIG, discover_usage, &o);
	if (rc >= 0)
		return rc;
	log_init("vakt-agent", o.foreground || o.check_only, o.verbose);
	memset(&a, 0, sizeof(a));
	a.conf = agent_conf_load(o.config);
	if (a.conf == NULL)
		return 1;
	if (o.check_only) {
		char err[1024];
		SSL_CTX *tls;

		tls = uplink_tls_new(a.conf, err, sizeof(err));
		if (a.conf->tls_cert != NULL && tls == NULL) {
			fprintf(stderr, "%s\n", err);
			agent_conf_free(a.conf);
			return 1;
		}
		SSL_CTX_free(tls);
		if (check_spool_dir(a.conf) < 0 || check_spool_owner(a.conf, 0) < 0) {
			agent_conf_free(a.conf);
			return 1;
		}
		printf("%s: configuration OK (site \"%s\", %zu checks, %s)\n", o.config,
		       a.conf->site, a.conf->nchecks,
		       a.conf->insecure ? "insecure: PLAINTEXT" : "TLS");
		agent_conf_free(a.conf);
		return 0;
	}
	/* before the owner file is written: it is the running agent's */
	if (check_spool_free(a.conf) < 0 || check_spool_owner(a.conf, 1) < 0) {
		agent_conf_free(a.conf);
		return 1;
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	a.base = agent_base_new();
	if (a.base == NULL)
		fatalx("cannot create the event loop");
	a.dns = evdns_base_new(a.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (a.dns == NULL)
		a.dns =
		    evdns_base_new(a.base, 0); /* no resolv.conf: numeric addresses still work */
	if (a.dns == NULL)
		fatalx("cannot set up the DNS resolver");
	a.uplink = uplink_new(&a);
	if (a.uplink == NULL)
		fatalx("cannot set up the uplink to the collector");
	if (a.conf->insecure)
		log_warnx("insecure = yes: samples travel to the collector in PLAINTEXT and the "
			  "collector is not authenticated; give the agent a tls section");
	for (size_t i = 0; i < a.conf->nchecks; i++) {
		a.conf->checks[i]->agent = &a;
		a.conf->checks[i]->base = a.base;
	}
	if (check_kinds_init(&a) < 0)
		fatalx("cannot set up the check kinds");
	for (size_t i = 0; i < a.conf->nchecks; i++)
		check_open_privileged(a.conf->checks[i]);
	/* privileges are dropped here, once the agent starts as root: everything
	 * that needs them (raw sockets, capture handles) is open by now */
	for (size_t i = 0; i < a.conf->nchecks; i++) {
		struct check *c = a.conf->checks[i];

		/* a check that cannot start now still runs: each run reports an
		 * ERROR Result with the reason and tries to start again */
		check_start(c);
		if (check_schedule(c) < 0)
			fatalx("check \"%s\": cannot create its timer", c->name);
	}
	a.ev_sigint = evsignal_new(a.base, SIGINT, stop_cb, &a);
	a.ev_sigterm = evsignal_new(a.base, SIGTERM, stop_cb, &a);
	a.ev_sighup = evsignal_new(a.base, SIGHUP, hup_cb, &a);
	a.ev_stats = event_new(a.base, -1, EV_PERSIST, stats_cb, &a);
	if (a.ev_sigint == NULL || a.ev_sigterm == NULL || a.ev_sighup == NULL ||
	    a.ev_stats == NULL || event_add(a.ev_sigint, NULL) < 0 ||
	    event_add(a.ev_sigterm, NULL) < 0 || event_add(a.ev_sighup, NULL) < 0 ||
	    event_add(a.ev_stats, &stats_tv) < 0)
		fatalx("cannot set up the signal and stats events");
	log_info("vakt-agent %s started: site \"%s\", agent \"%s\", %zu checks, collector %s",
		 VAKT_VERSION, a.conf->site, a.conf->name, a.conf->nchecks,
		 a.conf->collectors[0].address);
	uplink_start(a.uplink);
	event_base_dispatch(a.base);
	/* the counters as they stand at the end, not only as of the last minute */
	stats_cb(-1, 0, &a);
	log_info("vakt-agent stopped");
	event_free(a.ev_sigint);
	event_free(a.ev_sigterm);
	event_free(a.ev_sighup);
	event_free(a.ev_stats);
	/* checks first: a run in progress may still emit into the uplink */
	agent_conf_free(a.conf);
	/* before the turn below, whose uplink callbacks would read the freed conf */
	uplink_free(a.uplink);
	a.uplink = NULL;
	/*
	 * A name lookup cancelled above finishes in a callback evdns defers to
	 * the loop; one more turn runs it, or its memory would be lost at exit.
	 */
	event_base_loop(a.base, EVLOOP_NONBLOCK);
	check_kinds_fini(&a);
	evdns_base_free(a.dns, 1);
	event_base_free(a.base);
	return 0;
}
