/*
 * test_alert.c - the alert engine and notify channels, driven by real config
 * files, a real event loop and real /bin/sh children. Mocks nothing that can run;
 * never leaves a child or a temporary file behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "alert.h"
#include "conf.h"
#include "log.h"
#include "notify.h"
#include "timeutil.h"

/* 2023-11-14T22:13:20Z: a fixed wall clock so that lines can be compared whole */
#define T0 1700000000000LL

struct fixture {
	char dir[64];
	char conf[128];
	char alerts[128];
	cfg_t *cfg;
	struct event_base *base;
	struct notify *n;
	struct alert_engine *e;
};

static cfg_opt_t top_opts[] = {
    CFG_SEC("channel", notify_channel_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("rule", alert_rule_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_END(),
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_alert.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->conf, sizeof(fx->conf), "%s/collector.conf", fx->dir);
	snprintf(fx->alerts, sizeof(fx->alerts), "%s/alerts.log", fx->dir);
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->n = notify_new(fx->base);
	assert_non_null(fx->n);
	fx->e = alert_engine_new(fx->n);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	DIR *d;
	struct dirent *de;

	alert_engine_free(fx->e);
	notify_free(fx->n);
	if (fx->cfg != NULL)
		cfg_free(fx->cfg);
	event_base_free(fx->base);
	if ((d = opendir(fx->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char path[512];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", fx->dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Writes the config (every "@" becomes the test's directory) and parses it. */
static int parse_conf(struct fixture *fx, const char *text)
{
	FILE *f = fopen(fx->conf, "w");

	assert_non_null(f);
	for (const char *p = text; *p; p++)
		if (*p == '@')
			fputs(fx->dir, f);
		else
			fputc(*p, f);
	fclose(f);
	fx->cfg = cfg_init(top_opts, CFGF_NONE);
	return conf_parse_file(fx->cfg, fx->conf);
}

/* Parses, validates and loads a config the way the collector's loader does. */
static void load(struct fixture *fx, const char *text)
{
	assert_int_equal(parse_conf(fx, text), 0);
	for (unsigned i = 0; i < cfg_size(fx->cfg, "channel"); i++) {
		cfg_t *sec = cfg_getnsec(fx->cfg, "channel", i);

		assert_int_equal(notify_channel_validate(sec), 0);
		assert_int_equal(notify_add_channel(fx->n, sec), 0);
	}
	for (unsigned i = 0; i < cfg_size(fx->cfg, "rule"); i++) {
		cfg_t *sec = cfg_getnsec(fx->cfg, "rule", i);

		assert_int_equal(alert_rule_validate(sec), 0);
		assert_int_equal(alert_engine_add_rule(fx->e, sec), 0);
	}
}

static void feed(struct fixture *fx, const char *host, const char *check, const char *metric,
		 Vakt__Kind kind, int64_t time_ms, double value, uint64_t counter, int unknown)
{
	struct sample s = {0};

	s.host = host;
	s.check = check;
	s.instance = "";
	s.metric = metric;
	s.kind = (enum sample_kind)kind;
	s.time_ms = time_ms;
	s.value = value;
	s.counter = counter;
	s.unknown = unknown;
	alert_feed(fx->e, "rissa", &s);
}

static void gauge(struct fixture *fx, const char *check, int64_t t, double v)
{
	feed(fx, "localhost", check, check, VAKT__KIND__GAUGE, t, v, 0, 0);
}

/* The file's lines, NULL-terminated; free with free_lines(). */
static char **read_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	char **lines = calloc(1, sizeof(*lines)), *line = NULL;
	size_t n = 0, cap = 0;
	ssize_t len;

	assert_non_null(lines);
	if (f == NULL)
		return lines;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		lines = realloc(lines, (n + 2) * sizeof(*lines));
		assert_non_null(lines);
		lines[n++] = strdup(line);
		lines[n] = NULL;
	}
	free(line);
	fclose(f);
	return lines;
}

static size_t count_lines(char **lines)
{
	size_t n = 0;

	while (lines[n] != NULL)
		n++;
	return n;
}

static void free_lines(char **lines)
{
	for (size_t i = 0; lines[i] != NULL; i++)
		free(lines[i]);
	free(lines);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(buf);
	if (f == NULL)
		return buf;
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

/* Runs the loop until `channel` has nothing running or queued; its seconds taken. */
static double run_until_idle(struct fixture *fx, const char *channel, double limit_s)
{
	struct event *tick = event_new(fx->base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 20000};
	double start = mono_now();
	struct notify_stats st;

	assert_non_null(tick);
	event_add(tick, &tv);
	for (;;) {
		assert_int_equal(notify_channel_stats(fx->n, channel, &st), 0);
		if (st.running == 0 && st.queued == 0)
			break;
		if (mono_now() - start > limit_s)
			fail_msg("channel %s still busy after %.1f s", channel, limit_s);
		event_base_loop(fx->base, EVLOOP_ONCE);
	}
	event_free(tick);
	return mono_now() - start;
}

struct active {
	int n;
	struct alert_event last;
};

static void count_active(const struct alert_event *ev, void *arg)
{
	struct active *a = arg;

	a->n++;
	a->last = *ev;
}

static void test_threshold_fires_once_on_transition(void **state)
{
	struct fixture *fx = *state;
	struct alert_stats st;
	struct active a = {0};
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"uptime-high\" {\n"
		 "  check = \"uptime\"\n"
		 "  above = 100\n"
		 "  channels = {\"file\"}\n"
		 "}\n");
	gauge(fx, "uptime", T0, 50);
	gauge(fx, "uptime", T0 + 1000, 123.4);
	alert_engine_foreach_active(fx->e, count_active, &a);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.last.id, 1);
	assert_int_equal(a.last.state, ALERT_FIRING);
	assert_string_equal(a.last.summary, "uptime on localhost above 100 (value 123.4)");
	gauge(fx, "uptime", T0 + 2000, 150);
	gauge(fx, "uptime", T0 + 3000, 200);
	gauge(fx, "other", T0 + 3000, 500); /* not this rule's check */
	gauge(fx, "uptime", T0 + 4000, 50);
	gauge(fx, "uptime", T0 + 5000, 40);

	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 2);
	assert_string_equal(lines[0],
			    "2023-11-14T22:13:21.000Z firing id=1 rule=uptime-high site=rissa "
			    "host=localhost check=uptime instance= metric=uptime value=123.4 "
			    "uptime on localhost above 100 (value 123.4)");
	assert_string_equal(lines[1],
			    "2023-11-14T22:13:24.000Z resolved id=1 rule=uptime-high site=rissa "
			    "host=localhost check=uptime instance= metric=uptime value=50 "
			    "uptime on localhost back below 100 (value 50)");
	free_lines(lines);
	alert_engine_stats(fx->e, &st);
	assert_int_equal(st.transitions, 2);
	assert_int_equal(st.firing, 0);
	assert_int_equal(st.series, 1); /* "other" matches no rule: no state kept */
	a.n = 0;
	alert_engine_foreach_active(fx->e, count_active, &a);
	assert_int_equal(a.n, 0);
}

static void test_hysteresis_clears_only_below_clear_value(void **state)
{
	struct fixture *fx = *state;
	static const double load_values[] = {95, 85, 89, 81, 80, 79, 85, 90, 91};
	static const double free_values[] = {5, 15, 20, 21, 12, 9};
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"load\" {\n"
		 "  metric = \"load\"\n"
		 "  above = 90\n"
		 "  clear_below = 80\n"
		 "  channels = {\"file\"}\n"
		 "}\n"
		 "rule \"disk-free\" {\n"
		 "  metric = \"free\"\n"
		 "  below = 10\n"
		 "  clear_above = 20\n"
		 "  channels = {\"file\"}\n"
		 "}\n");
	for (size_t i = 0; i < sizeof(load_values) / sizeof(load_values[0]); i++)
		gauge(fx, "load", T0 + (int64_t)i * 1000, load_values[i]);
	for (size_t i = 0; i < sizeof(free_values) / sizeof(free_values[0]); i++)
		gauge(fx, "free", T0 + (int64_t)i * 1000, free_values[i]);

	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 6);
	/* 95 fires; 85, 89, 81, 80 stay; 79 clears; 85, 90 stay ok; 91 fires anew */
	assert_non_null(strstr(lines[0], "firing id=1 rule=load"));
	assert_non_null(strstr(lines[0], "value=95 load on localhost above 90 (value 95)"));
	assert_non_null(strstr(lines[1], "resolved id=1 rule=load"));
	assert_non_null(strstr(lines[1], "load on localhost back below 80 (value 79)"));
	assert_non_null(strstr(lines[2], "firing id=2 rule=load"));
	assert_non_null(strstr(lines[2], "value=91"));
	/* the mirror: 5 fires, 15 and 20 stay, 21 clears, 12 stays ok, 9 fires anew */
	assert_non_null(strstr(lines[3], "firing id=3 rule=disk-free"));
	assert_non_null(strstr(lines[3], "free on localhost below 10 (value 5)"));
	assert_non_null(strstr(lines[4], "resolved id=3 rule=disk-free"));
	assert_non_null(strstr(lines[4], "free on localhost back above 20 (value 21)"));
	assert_non_null(strstr(lines[5], "firing id=4 rule=disk-free"));
	free_lines(lines);
}

static void test_down_rule_fires_and_recovers_once(void **state)
{
	struct fixture *fx = *state;
	static const double up[] = {1, 0, 0, 0, 1, 1};
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"web-down\" {\n"
		 "  kind = \"down\"\n"
		 "  check = \"web\"\n"
		 "  channels = {\"file\", \"log\"}\n"
		 "}\n");
	for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
		feed(fx, "127.0.0.1", "web", "up", VAKT__KIND__GAUGE, T0 + (int64_t)i * 30000,
		     up[i], 0, 0);
		/* other metrics of the check are not "up": a zero there is no outage */
		feed(fx, "127.0.0.1", "web", "time", VAKT__KIND__GAUGE, T0 + (int64_t)i * 30000, 0,
		     0, 0);
	}
	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 2);
	assert_string_equal(lines[0], "2023-11-14T22:13:50.000Z firing id=1 rule=web-down "
				      "site=rissa host=127.0.0.1 check=web instance= metric=up "
				      "value=0 web on 127.0.0.1 is down");
	assert_string_equal(lines[1], "2023-11-14T22:15:20.000Z resolved id=1 rule=web-down "
				      "site=rissa host=127.0.0.1 check=web instance= metric=up "
				      "value=1 web on 127.0.0.1 is up again");
	free_lines(lines);
}

static void test_builtin_condition_fires_once_with_its_summary(void **state)
{
	struct fixture *fx = *state;
	static const char *const ch[] = {"file"};
	const char *names[5] = {"rissa", "core-sw", "system", "", "up"};
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n");
	assert_int_equal(alert_engine_builtin_channels(fx->e, ch, 1), 0);
	/* resolving what never fired says nothing */
	alert_condition(fx->e, ALERT_UNREACHABLE, names, 0, T0, "answers again");
	alert_condition(fx->e, ALERT_UNREACHABLE, names, 1, T0 + 1000, "core-sw is unreachable: x");
	alert_condition(fx->e, ALERT_UNREACHABLE, names, 1, T0 + 2000, "core-sw is unreachable: y");
	alert_condition(fx->e, ALERT_UNREACHABLE, names, 0, T0 + 3000, "core-sw answers again");
	alert_condition(fx->e, ALERT_UNREACHABLE, names, 0, T0 + 4000, "core-sw answers again");
	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 2);
	assert_string_equal(lines[0], "2023-11-14T22:13:21.000Z firing id=1 rule=unreachable "
				      "site=rissa host=core-sw check=system instance= metric=up "
				      "value=0 core-sw is unreachable: x");
	assert_string_equal(lines[1], "2023-11-14T22:13:23.000Z resolved id=1 rule=unreachable "
				      "site=rissa host=core-sw check=system instance= metric=up "
				      "value=1 core-sw answers again");
	free_lines(lines);
	assert_int_equal(alert_engine_builtin_channels(fx->e, (const char *const[]){"nope"}, 1),
			 -1);
}

static void test_down_rule_covers_the_builtin_unreachable(void **state)
{
	struct fixture *fx = *state;
	const char *web[5] = {"rissa", "127.0.0.1", "web", "", "up"};
	const char *sw[5] = {"rissa", "core-sw", "system", "", "up"};

	load(fx, "rule \"web-down\" {\n"
		 "  kind = \"down\"\n"
		 "  check = \"web\"\n"
		 "}\n");
	assert_int_equal(alert_engine_covers(fx->e, web), 1);
	assert_int_equal(alert_engine_covers(fx->e, sw), 0);
}

static void test_replayed_samples_do_not_page_again(void **state)
{
	struct fixture *fx = *state;
	static const double up[] = {1, 0, 1};
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"web-down\" {\n"
		 "  kind = \"down\"\n"
		 "  channels = {\"file\"}\n"
		 "}\n");
	/* the batches arrive, the ack is lost, the agent sends them all again */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++)
			feed(fx, "127.0.0.1", "web", "up", VAKT__KIND__GAUGE,
			     T0 + (int64_t)i * 30000, up[i], 0, 0);
	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 2); /* one page, one recovery */
	assert_non_null(strstr(lines[0], " firing id=1 "));
	assert_non_null(strstr(lines[1], " resolved id=1 "));
	free_lines(lines);
}

static void test_counter_rate_threshold(void **state)
{
	struct fixture *fx = *state;
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"traffic\" {\n"
		 "  metric = \"ifHC*Octets\"\n"
		 "  above = 100\n"
		 "  channels = {\"file\"}\n"
		 "}\n");
#define OCTETS(t, c)                                                                               \
	feed(fx, "sw1", "core", "ifHCInOctets", VAKT__KIND__COUNTER, T0 + (t), 0, (c), 0)
	OCTETS(0, 1000000);     /* first sample: no rate */
	OCTETS(10000, 1000500); /* 50/s */
	OCTETS(20000, 1002500); /* 200/s: fires */
	OCTETS(30000, 1002600); /* 10/s: clears */
	OCTETS(40000, 5);       /* counter went down (reboot): no rate, no change */
	OCTETS(50000, 5000);    /* 499.5/s: fires */
	OCTETS(50000, 9000);    /* same time again: a replay, ignored */
	OCTETS(40000, 5);       /* older: a replay, ignored */
	OCTETS(60000, 5000);    /* 0/s: clears */
#undef OCTETS
	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 4);
	assert_non_null(strstr(lines[0], "firing id=1 rule=traffic site=rissa host=sw1 "
					 "check=core instance= metric=ifHCInOctets value=200 "
					 "core ifHCInOctets on sw1 above 100/s (value 200/s)"));
	assert_non_null(strstr(lines[1], "resolved id=1"));
	assert_non_null(strstr(lines[1], "value=10 "));
	assert_non_null(strstr(lines[2], "firing id=2"));
	assert_non_null(strstr(lines[2], "value=499.5 "));
	assert_non_null(strstr(lines[3], "resolved id=2"));
	assert_non_null(strstr(lines[3], "value=0 "));
	free_lines(lines);
}

static void test_unknown_sample_does_not_change_state(void **state)
{
	struct fixture *fx = *state;
	struct alert_stats st;
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"temp\" {\n"
		 "  metric = \"temp\"\n"
		 "  above = 70\n"
		 "  channels = {\"file\"}\n"
		 "}\n"
		 "rule \"dns-down\" {\n"
		 "  kind = \"down\"\n"
		 "  check = \"dns\"\n"
		 "  channels = {\"file\"}\n"
		 "}\n"
		 "rule \"pps\" {\n"
		 "  metric = \"pkts\"\n"
		 "  above = 50\n"
		 "  channels = {\"file\"}\n"
		 "}\n");
	gauge(fx, "temp", T0, 80); /* fires */
	/* unknown: neither clears "temp" nor makes "dns" down */
	feed(fx, "localhost", "temp", "temp", VAKT__KIND__GAUGE, T0 + 1000, 0, 0, 1);
	feed(fx, "ns1", "dns", "up", VAKT__KIND__GAUGE, T0, 0, 0, 1);
	/* a rate never spans an unknown: 0 -> U -> 10000 would be 500/s over 20 s */
	feed(fx, "sw1", "if", "pkts", VAKT__KIND__COUNTER, T0, 0, 0, 0);
	feed(fx, "sw1", "if", "pkts", VAKT__KIND__COUNTER, T0 + 10000, 0, 0, 1);
	feed(fx, "sw1", "if", "pkts", VAKT__KIND__COUNTER, T0 + 20000, 0, 10000, 0);
	/* a NaN gauge is as unknown as a flagged one */
	gauge(fx, "temp", T0 + 2000, 0.0 / 0.0);

	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 1);
	assert_non_null(strstr(lines[0], "firing id=1 rule=temp"));
	free_lines(lines);
	alert_engine_stats(fx->e, &st);
	assert_int_equal(st.firing, 1);
	assert_int_equal(st.transitions, 1);
}

/* An event of sw1's trap listener: `name` with trap OID `oid` about port `ifname`. */
static void trap_event(struct fixture *fx, const char *ifname, const char *name, const char *oid,
		       int64_t t, const char *text)
{
	struct event ev = {.host = "sw1",
			   .check = "traps",
			   .instance = ifname,
			   .name = name,
			   .time_ms = t,
			   .oid = oid,
			   .text = text,
			   .source = "10.1.0.2:49152"};

	alert_event(fx->e, "rissa", &ev);
}

static void trap(struct fixture *fx, const char *ifname, const char *name, const char *oid,
		 int64_t t)
{
	trap_event(fx, ifname, name, oid, t, "ifIndex.3=3 ifAdminStatus.3=1 ifOperStatus.3=2");
}

#define LINK_DOWN "1.3.6.1.6.3.1.1.5.3"
#define LINK_UP   "1.3.6.1.6.3.1.1.5.4"

static void test_event_rule_fires_once_and_clears(void **state)
{
	struct fixture *fx = *state;
	struct active act = {0};
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"link-down\" {\n"
		 "  kind = \"event\"\n"
		 "  metric = \"linkDown\"\n"
		 "  cleared_by = \"linkUp\"\n"
		 "  channels = {\"file\"}\n"
		 "}\n"
		 "rule \"restart\" {\n"
		 "  kind = \"event\"\n"
		 "  oid = \"1.3.6.1.6.3.1.1.5.[12]\"\n"
		 "  channels = {\"file\"}\n"
		 "}\n"
		 "rule \"cpu\" {\n"
		 "  above = 0\n"
		 "  channels = {\"file\"}\n"
		 "}\n");
	/* a linkUp with nothing firing clears nothing */
	trap(fx, "Gi0/3", "linkUp", LINK_UP, T0);
	trap(fx, "Gi0/3", "linkDown", LINK_DOWN, T0 + 1000);
	/* the same port again, and a replay of the first: no second page */
	trap(fx, "Gi0/3", "linkDown", LINK_DOWN, T0 + 2000);
	trap(fx, "Gi0/3", "linkDown", LINK_DOWN, T0 + 1000);
	/* another port is another incident */
	trap(fx, "Gi0/4", "linkDown", LINK_DOWN, T0 + 3000);
	alert_engine_foreach_active(fx->e, count_active, &act);
	assert_int_equal(act.n, 2);
	trap(fx, "Gi0/3", "linkUp", LINK_UP, T0 + 4000);
	trap(fx, "Gi0/3", "linkUp", LINK_UP, T0 + 5000);
	/* nothing clears a coldStart: each one pages, and none stays active */
	trap(fx, "", "coldStart", "1.3.6.1.6.3.1.1.5.1", T0 + 6000);
	trap(fx, "", "coldStart", "1.3.6.1.6.3.1.1.5.1", T0 + 7000);
	trap(fx, "", "1.3.6.1.4.1.9.9.1", "1.3.6.1.4.1.9.9.1", T0 + 8000);
	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 5);
	assert_string_equal(lines[0], "2023-11-14T22:13:21.000Z firing id=1 rule=link-down "
				      "site=rissa host=sw1 check=traps instance=Gi0/3 "
				      "metric=linkDown value=1 linkDown on sw1 interface Gi0/3 "
				      "(trap 1.3.6.1.6.3.1.1.5.3 from 10.1.0.2:49152): ifIndex.3=3 "
				      "ifAdminStatus.3=1 ifOperStatus.3=2");
	assert_non_null(strstr(lines[1], " firing id=2 rule=link-down site=rissa host=sw1 "
					 "check=traps instance=Gi0/4 metric=linkDown "));
	assert_string_equal(lines[2], "2023-11-14T22:13:24.000Z resolved id=1 rule=link-down "
				      "site=rissa host=sw1 check=traps instance=Gi0/3 "
				      "metric=linkUp value=0 linkUp (clears linkDown) on sw1 "
				      "interface Gi0/3 (trap 1.3.6.1.6.3.1.1.5.4 from "
				      "10.1.0.2:49152): ifIndex.3=3 ifAdminStatus.3=1 "
				      "ifOperStatus.3=2");
	assert_non_null(strstr(lines[3], " firing id=3 rule=restart site=rissa host=sw1 "
					 "check=traps instance= metric=coldStart value=1 coldStart "
					 "on sw1 (trap 1.3.6.1.6.3.1.1.5.1 "));
	assert_non_null(strstr(lines[4], " firing id=4 rule=restart "));
	free_lines(lines);
	act.n = 0;
	alert_engine_foreach_active(fx->e, count_active, &act);
	assert_int_equal(act.n, 1);
	assert_string_equal(act.last.instance, "Gi0/4");
}

static void trap_text(struct fixture *fx, const char *ifname, int64_t t, const char *text)
{
	trap_event(fx, ifname, "linkDown", LINK_DOWN, t, text);
}

/*
 * A port shut on purpose (ifAdminStatus down) sends linkDown too: a rule's
 * varbinds skip it, by the state's name or number, and a != condition lets
 * through a device that does not say.
 */
static void test_event_rule_varbinds_skip_admin_down_ports(void **state)
{
	struct fixture *fx = *state;
	char **lines;

	load(fx, "channel \"file\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"admin-up\" {\n"
		 "  kind = \"event\"\n"
		 "  metric = \"linkDown\"\n"
		 "  varbinds = {\"ifAdminStatus=up\"}\n"
		 "  channels = {\"file\"}\n"
		 "}\n"
		 "rule \"not-shut\" {\n"
		 "  kind = \"event\"\n"
		 "  metric = \"linkDown\"\n"
		 "  varbinds = {\"ifAdminStatus!=2\", \"ifName=Gi0/*\"}\n"
		 "  channels = {\"file\"}\n"
		 "}\n");
	trap_text(fx, "Gi0/3", T0,
		  "ifIndex.3=3 ifAdminStatus.3=1 ifOperStatus.3=2 ifName.3=\"Gi0/3\"");
	/* shut by the operator: no page */
	trap_text(fx, "Gi0/4", T0 + 1000,
		  "ifIndex.4=4 ifAdminStatus.4=2 ifOperStatus.4=2 ifName.4=\"Gi0/4\"");
	/* no ifAdminStatus at all: "=up" cannot hold, "!=2" does */
	trap_text(fx, "Gi0/5", T0 + 2000, "ifIndex.5=5 ifOperStatus.5=2 ifName.5=\"Gi0/5\"");
	/* a quoted name with a space; ifAdminStatusX is another varbind */
	trap_text(fx, "Te 1/1", T0 + 3000,
		  "ifIndex.6=6 ifAdminStatus.6=1 ifName.6=\"Te 1/1\" ifAdminStatusX.6=2");
	lines = read_lines(fx->alerts);
	assert_int_equal(count_lines(lines), 4);
	assert_non_null(strstr(lines[0], " rule=admin-up site=rissa host=sw1 check=traps "
					 "instance=Gi0/3 metric=linkDown "));
	assert_non_null(strstr(lines[1], " rule=not-shut site=rissa host=sw1 check=traps "
					 "instance=Gi0/3 metric=linkDown "));
	assert_non_null(strstr(lines[2], " rule=not-shut site=rissa host=sw1 check=traps "
					 "instance=Gi0/5 metric=linkDown "));
	assert_non_null(strstr(lines[3], " rule=admin-up site=rissa host=sw1 check=traps "
					 "instance=Te 1/1 metric=linkDown "));
	free_lines(lines);
}

/*
 * Parses `conf`, validates its rules in order (each must give want[i]) and
 * returns what the validation printed, to be freed.
 */
static char *validate_rules(struct fixture *fx, const char *conf, const int *want, int n)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen);

	assert_non_null(mem);
	conf_set_error_stream(mem);
	assert_int_equal(parse_conf(fx, conf), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(alert_rule_validate(cfg_getnsec(fx->cfg, "rule", i)), want[i]);
	fclose(mem);
	conf_set_error_stream(NULL);
	return out;
}

static void test_event_rule_keys_only_for_events(void **state)
{
	struct fixture *fx = *state;
	static const int want[] = {-1, -1};
	char *out = validate_rules(fx,
				   "rule \"t\" {\n"
				   "  above = 1\n"
				   "  cleared_by = \"linkUp\"\n"
				   "}\n"
				   "rule \"e\" {\n"
				   "  kind = \"event\"\n"
				   "  below = 1\n"
				   "}\n",
				   want, 2);

	assert_non_null(
	    strstr(out, ":4: rule \"t\": 'cleared_by' applies to kind \"event\" only\n"));
	assert_non_null(
	    strstr(out, ":8: rule \"e\": 'below' is not allowed with kind \"event\"\n"));
	free(out);
}

/* Event patterns that could never match are refused, each with its line. */
static void test_event_rule_patterns_that_match_nothing(void **state)
{
	struct fixture *fx = *state;
	static const int want[] = {-1, -1, -1, -1, 0};
	char *out = validate_rules(fx,
				   "rule \"empty\" {\n"
				   "  kind = \"event\"\n"
				   "  metric = \"\"\n"
				   "}\n"
				   "rule \"open\" {\n"
				   "  kind = \"event\"\n"
				   "  oid = \"1.3.6.[\"\n"
				   "}\n"
				   "rule \"name\" {\n"
				   "  kind = \"event\"\n"
				   "  oid = \"IF-MIB::linkDown\"\n"
				   "}\n"
				   "rule \"self\" {\n"
				   "  kind = \"event\"\n"
				   "  metric = \"linkDown\"\n"
				   "  cleared_by = \"linkDown\"\n"
				   "}\n"
				   "rule \"fine\" {\n"
				   "  kind = \"event\"\n"
				   "  metric = \"linkDown\"\n"
				   "  oid = \"1.3.6.1.6.3.1.1.5.[34]\"\n"
				   "  cleared_by = \"linkUp\"\n"
				   "}\n",
				   want, 5);

	assert_non_null(
	    strstr(out, ":4: rule \"empty\": metric must not be empty (\"*\" matches any)\n"));
	assert_non_null(
	    strstr(out, ":8: rule \"open\": oid \"1.3.6.[\" opens a '[' it never closes\n"));
	assert_non_null(strstr(out, ":12: rule \"name\": oid \"IF-MIB::linkDown\" must be a "
				    "numeric OID or a pattern of one"));
	assert_non_null(strstr(out, ":17: rule \"self\": cleared_by names the events metric "
				    "fires on (\"linkDown\"): the rule would clear itself\n"));
	free(out);
}

/* A varbind condition that could never match is refused with its line. */
static void test_event_rule_varbinds_malformed(void **state)
{
	struct fixture *fx = *state;
	static const int want[] = {-1, -1, -1, -1};
	char *out = validate_rules(fx,
				   "rule \"a\" {\n"
				   "  kind = \"event\"\n"
				   "  varbinds = {\"ifAdminStatus\"}\n"
				   "}\n"
				   "rule \"b\" {\n"
				   "  kind = \"event\"\n"
				   "  varbinds = {\"=1\", \"ifName=\"}\n"
				   "}\n"
				   "rule \"c\" {\n"
				   "  kind = \"event\"\n"
				   "  varbinds = {\"ifName=[Gi\"}\n"
				   "}\n"
				   "rule \"d\" {\n"
				   "  above = 1\n"
				   "  varbinds = {\"ifAdminStatus=up\"}\n"
				   "}\n",
				   want, 4);

	assert_non_null(strstr(out, ":4: rule \"a\": varbinds \"ifAdminStatus\" must be "
				    "NAME=VALUE or NAME!=VALUE"));
	assert_non_null(strstr(out, ":8: rule \"b\": varbinds \"=1\" must be NAME=VALUE"));
	assert_non_null(strstr(out, ":8: rule \"b\": varbinds \"ifName=\" must be NAME=VALUE"));
	assert_non_null(
	    strstr(out, ":12: rule \"c\": varbinds \"ifName=[Gi\" opens a '[' it never closes\n"));
	assert_non_null(
	    strstr(out, ":16: rule \"d\": 'varbinds' applies to kind \"event\" only\n"));
	free(out);
}

static void test_rule_validate_errors(void **state)
{
	struct fixture *fx = *state;
	char *out = NULL, *want = NULL;
	size_t outlen = 0;
	FILE *mem = open_memstream(&out, &outlen);
	int bad[32], nbad = 0;

	assert_non_null(mem);
	conf_set_error_stream(mem);
	assert_int_equal(parse_conf(fx, "rule \"no-limit\" {\n"     /* 1 */
					"  check = \"x\"\n"         /* 2 */
					"}\n"                       /* 3 */
					"rule \"both\" {\n"         /* 4 */
					"  above = 1\n"             /* 5 */
					"  below = 0\n"             /* 6 */
					"}\n"                       /* 7 */
					"rule \"hyst\" {\n"         /* 8 */
					"  above = 100\n"           /* 9 */
					"  clear_below = 120\n"     /* 10 */
					"}\n"                       /* 11 */
					"rule \"mirror\" {\n"       /* 12 */
					"  below = 10\n"            /* 13 */
					"  clear_above = 5\n"       /* 14 */
					"}\n"                       /* 15 */
					"rule \"down-limit\" {\n"   /* 16 */
					"  kind = \"down\"\n"       /* 17 */
					"  above = 1\n"             /* 18 */
					"}\n"                       /* 19 */
					"rule \"weird\" {\n"        /* 20 */
					"  kind = \"spike\"\n"      /* 21 */
					"}\n"                       /* 22 */
					"rule \"fine\" {\n"         /* 23 */
					"  above = 1\n"             /* 24 */
					"  channels = {\"nope\"}\n" /* 25 */
					"}\n"                       /* 26 */
					"channel \"x\" {\n"         /* 27 */
					"  kind = \"x\"\n"          /* 28 */
					"}\n"                       /* 29 */
					"channel \"pager\" {\n"     /* 30 */
					"  kind = \"exec\"\n"       /* 31 */
					"}\n"                       /* 32 */
					"channel \"slow\" {\n"      /* 33 */
					"  kind = \"exec\"\n"       /* 34 */
					"  command = \"true\"\n"    /* 35 */
					"  timeout = 0\n"           /* 36 */
					"  max_running = 65\n"      /* 37 */
					"}\n"),                     /* 38 */
			 0);
	for (unsigned i = 0; i < cfg_size(fx->cfg, "rule"); i++)
		bad[nbad++] = alert_rule_validate(cfg_getnsec(fx->cfg, "rule", i));
	for (unsigned i = 0; i < cfg_size(fx->cfg, "channel"); i++)
		bad[nbad++] = notify_channel_validate(cfg_getnsec(fx->cfg, "channel", i));
	/* "fine" is valid, but names a channel the notifier does not have */
	assert_int_equal(alert_engine_add_rule(fx->e, cfg_gettsec(fx->cfg, "rule", "fine")), -1);
	fclose(mem);
	conf_set_error_stream(NULL);

	assert_int_equal(nbad, 10);
	for (int i = 0; i < nbad; i++)
		assert_int_equal(bad[i], i == 6 ? 0 : -1);
	assert_true(asprintf(&want,
			     "%1$s:3: rule \"no-limit\": a threshold rule needs 'above' or "
			     "'below'\n"
			     "%1$s:7: rule \"both\": 'above' and 'below' exclude each other; write "
			     "two rules\n"
			     "%1$s:11: rule \"hyst\": clear_below (120) must not be above 'above' "
			     "(100)\n"
			     "%1$s:15: rule \"mirror\": clear_above (5) must not be below 'below' "
			     "(10)\n"
			     "%1$s:19: rule \"down-limit\": 'above' is not allowed with kind "
			     "\"down\"\n"
			     "%1$s:22: rule \"weird\": kind must be \"threshold\", \"down\" or "
			     "\"event\", got \"spike\"\n"
			     "%1$s:29: channel \"x\": kind must be \"log\" or \"exec\", got \"x\"\n"
			     "%1$s:32: channel \"pager\": missing required key 'command'\n"
			     "%1$s:38: channel \"slow\": timeout must be 1..3600 s, got 0\n"
			     "%1$s:38: channel \"slow\": max_running must be 1..64, got 65\n"
			     "%1$s:26: rule \"fine\": unknown channel \"nope\"\n",
			     fx->conf) > 0);
	assert_string_equal(out, want);
	free(want);
	free(out);
}

/* `env` lines of the command, sorted, as the exec channel must produce them. */
static const char exec_cmd[] = "channel \"hook\" {\n"
			       "  kind = \"exec\"\n"
			       "  command = 'cat > @/stdin.$VAKT_STATE.json; "
			       "env | grep ^VAKT_ | sort > @/env.$VAKT_STATE.txt'\n"
			       "}\n"
			       "rule \"web-down\" {\n"
			       "  kind = \"down\"\n"
			       "  check = \"web\"\n"
			       "  channels = {\"hook\"}\n"
			       "}\n";

static void test_exec_channel_gets_json_and_env(void **state)
{
	struct fixture *fx = *state;
	struct notify_stats st;
	char path[256], *env;
	json_t *j;
	json_error_t err;

	setenv("VAKT_STATE", "stale", 1); /* an inherited value must not win or repeat */
	load(fx, exec_cmd);
	feed(fx, "127.0.0.1", "web", "up", VAKT__KIND__GAUGE, T0, 0, 0, 0);
	run_until_idle(fx, "hook", 10);
	feed(fx, "127.0.0.1", "web", "up", VAKT__KIND__GAUGE, T0 + 60000, 1, 0, 0);
	run_until_idle(fx, "hook", 10);
	unsetenv("VAKT_STATE");

	assert_int_equal(notify_channel_stats(fx->n, "hook", &st), 0);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.failed, 0);

	snprintf(path, sizeof(path), "%s/stdin.firing.json", fx->dir);
	j = json_load_file(path, 0, &err);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "firing");
	assert_string_equal(json_string_value(json_object_get(j, "rule")), "web-down");
	assert_string_equal(json_string_value(json_object_get(j, "site")), "rissa");
	assert_string_equal(json_string_value(json_object_get(j, "host")), "127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(j, "check")), "web");
	assert_string_equal(json_string_value(json_object_get(j, "instance")), "");
	assert_string_equal(json_string_value(json_object_get(j, "metric")), "up");
	assert_true(json_real_value(json_object_get(j, "value")) == 0.0);
	assert_true(json_real_value(json_object_get(j, "threshold")) == 1.0);
	assert_string_equal(json_string_value(json_object_get(j, "summary")),
			    "web on 127.0.0.1 is down");
	assert_string_equal(json_string_value(json_object_get(j, "time")),
			    "2023-11-14T22:13:20.000Z");
	assert_int_equal(json_integer_value(json_object_get(j, "time_ms")), T0);
	json_decref(j);

	snprintf(path, sizeof(path), "%s/stdin.resolved.json", fx->dir);
	j = json_load_file(path, 0, &err);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "resolved");
	assert_string_equal(json_string_value(json_object_get(j, "summary")),
			    "web on 127.0.0.1 is up again");
	json_decref(j);

	snprintf(path, sizeof(path), "%s/env.firing.txt", fx->dir);
	env = read_file(path);
	assert_string_equal(env, "VAKT_ALERT_ID=1\n"
				 "VAKT_CHECK=web\n"
				 "VAKT_HOST=127.0.0.1\n"
				 "VAKT_INSTANCE=\n"
				 "VAKT_METRIC=up\n"
				 "VAKT_RULE=web-down\n"
				 "VAKT_SITE=rissa\n"
				 "VAKT_STATE=firing\n"
				 "VAKT_SUMMARY=web on 127.0.0.1 is down\n"
				 "VAKT_THRESHOLD=1\n"
				 "VAKT_TIME=2023-11-14T22:13:20.000Z\n"
				 "VAKT_VALUE=0\n");
	free(env);
	snprintf(path, sizeof(path), "%s/env.resolved.txt", fx->dir);
	env = read_file(path);
	assert_non_null(strstr(env, "VAKT_ALERT_ID=1\n"));
	assert_non_null(strstr(env, "VAKT_STATE=resolved\n"));
	assert_non_null(strstr(env, "VAKT_VALUE=1\n"));
	free(env);
}

static void fill_event(struct alert_event *ev, uint64_t id)
{
	memset(ev, 0, sizeof(*ev));
	ev->id = id;
	ev->state = ALERT_FIRING;
	strcpy(ev->rule, "r");
	strcpy(ev->site, "rissa");
	strcpy(ev->host, "h");
	strcpy(ev->check, "c");
	strcpy(ev->metric, "m");
	strcpy(ev->summary, "c on h above 1 (value 2)");
	ev->value = 2;
	ev->threshold = 1;
	ev->time_ms = T0;
}

static void test_exec_timeout_kills_hung_command(void **state)
{
	struct fixture *fx = *state;
	struct notify_stats st;
	struct alert_event ev;
	char path[256], *log;
	double took;
	int fd, saved;

	load(fx, "channel \"hang\" {\n"
		 "  kind = \"exec\"\n"
		 "  command = \"sleep 30\"\n"
		 "  timeout = 1\n"
		 "}\n");
	/* the daemon log goes to stderr in the foreground: catch it in a file */
	snprintf(path, sizeof(path), "%s/stderr.txt", fx->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);

	fill_event(&ev, 7);
	notify_send(fx->n, "hang", &ev);
	took = run_until_idle(fx, "hang", 10);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_true(took >= 0.9);
	assert_true(took < 3.5);
	assert_int_equal(notify_channel_stats(fx->n, "hang", &st), 0);
	assert_int_equal(st.timed_out, 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.running, 0);
	log = read_file(path);
	assert_non_null(strstr(log, "notify exec \"hang\": command timed out after 1 s, killed"));
	free(log);
}

static void test_exec_queue_is_bounded_and_drops_oldest(void **state)
{
	struct fixture *fx = *state;
	struct notify_stats st;
	struct alert_event ev;

	load(fx, "channel \"slow\" {\n"
		 "  kind = \"exec\"\n"
		 "  command = \"exec sleep 30\"\n"
		 "  max_running = 1\n"
		 "}\n");
	for (uint64_t id = 1; id <= 300; id++) {
		fill_event(&ev, id);
		notify_send(fx->n, "slow", &ev);
	}
	assert_int_equal(notify_channel_stats(fx->n, "slow", &st), 0);
	assert_int_equal(st.running, 1);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.queued, NOTIFY_QUEUE_MAX);
	assert_int_equal(st.dropped, 300 - 1 - NOTIFY_QUEUE_MAX);
	/* teardown's notify_free kills and reaps the sleeping command */
}

static void test_exec_failure_is_counted_and_loop_survives(void **state)
{
	struct fixture *fx = *state;
	struct notify_stats st;
	struct alert_event ev;

	/* exits at once without reading stdin: the write may meet EPIPE */
	load(fx, "channel \"broken\" {\n"
		 "  kind = \"exec\"\n"
		 "  command = \"exec 0<&-; exit 3\"\n"
		 "  max_running = 2\n"
		 "}\n");
	for (uint64_t id = 1; id <= 5; id++) {
		fill_event(&ev, id);
		notify_send(fx->n, "broken", &ev);
	}
	run_until_idle(fx, "broken", 10);
	assert_int_equal(notify_channel_stats(fx->n, "broken", &st), 0);
	assert_int_equal(st.sent, 5);
	assert_int_equal(st.failed, 5);
	assert_int_equal(st.dropped, 0);
}

static void test_series_table_is_bounded(void **state)
{
	struct fixture *fx = *state;
	struct alert_stats st;
	char host[32];

	load(fx, "rule \"temp\" {\n"
		 "  metric = \"temp\"\n"
		 "  above = 70\n"
		 "}\n");
	for (int i = 0; i < ALERT_SERIES_MAX + 5; i++) {
		snprintf(host, sizeof(host), "h%d", i);
		feed(fx, host, "env", "temp", VAKT__KIND__GAUGE, T0, 20, 0, 0);
	}
	feed(fx, "h0", "env", "temp", VAKT__KIND__GAUGE, T0 + 1000, 20, 0, 0); /* known: kept */
	alert_engine_stats(fx->e, &st);
	assert_int_equal(st.series, ALERT_SERIES_MAX);
	assert_int_equal(st.series_ignored, 5);
	assert_int_equal(st.firing, 0);
}

static void test_builtin_log_channel_is_always_there(void **state)
{
	struct fixture *fx = *state;

	assert_true(notify_has_channel(fx->n, "log"));
	assert_false(notify_has_channel(fx->n, "pager"));
	/* a configured "log" replaces the built-in one instead of clashing with it */
	load(fx, "channel \"log\" {\n"
		 "  kind = \"log\"\n"
		 "  file = \"@/alerts.log\"\n"
		 "}\n"
		 "rule \"temp\" {\n"
		 "  metric = \"temp\"\n"
		 "  above = 70\n"
		 "}\n");
	gauge(fx, "temp", T0, 80);
	{
		char **lines = read_lines(fx->alerts);

		assert_int_equal(count_lines(lines), 1);
		free_lines(lines);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_threshold_fires_once_on_transition, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_hysteresis_clears_only_below_clear_value, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_down_rule_fires_and_recovers_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_builtin_condition_fires_once_with_its_summary,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_down_rule_covers_the_builtin_unreachable, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_replayed_samples_do_not_page_again, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_counter_rate_threshold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_sample_does_not_change_state, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rule_validate_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_rule_fires_once_and_clears, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_rule_keys_only_for_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_rule_patterns_that_match_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_event_rule_varbinds_skip_admin_down_ports, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_event_rule_varbinds_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_channel_gets_json_and_env, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_timeout_kills_hung_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_queue_is_bounded_and_drops_oldest, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_exec_failure_is_counted_and_loop_survives, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_series_table_is_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_builtin_log_channel_is_always_there, setup,
					    teardown),
	};

	/* as the collector's main does: a command that ignores its stdin must not kill us */
	signal(SIGPIPE, SIG_IGN);
	log_init("test_alert", 1, getenv("VAKT_TEST_VERBOSE") != NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
