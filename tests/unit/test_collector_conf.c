/*
 * test_collector_conf.c - the collector's config errors as the user sees
 * them ("FILE:LINE: message") and a valid config with channels and rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector.h"
#include "conf.h"

#define LOAD(path) collector_conf_load(path)
#define FREE(conf) collector_conf_free(conf)
#include "conf_errors.h"

static void test_valid_collector_config(void **state)
{
	struct collector_conf *conf = collector_conf_load(DATA "collector_good.conf");

	assert_non_null(conf);
	assert_int_equal(conf->nlisten, 2);
	assert_string_equal(conf->listen[1], "[::1]:7060");
	assert_int_equal(conf->step, 10);
	/* the archives of the design: 1 step x 2 days ... 1 day x 10 years */
	assert_int_equal(conf->nrras, 4);
	assert_int_equal(conf->rras[0].row_secs, 1);
	assert_int_equal(conf->rras[0].span, 2 * 86400);
	assert_int_equal(conf->rras[1].row_secs, 300);
	assert_int_equal(conf->rras[3].row_secs, 86400);
	assert_int_equal(conf->rras[3].span, 3650 * 86400);
	assert_int_equal(conf->max_frame, 1048576);
	/* the session bounds a config without them gets */
	assert_int_equal(conf->max_sessions_per_address, 64);
	assert_int_equal(conf->hello_timeout, 10);
	assert_int_equal(conf->frame_timeout, 30);
	assert_int_equal(conf->input_buffer_size, 64 * 1024 * 1024);
	assert_int_equal(conf->series_size, 1024 * 1024 * 1024);
	assert_int_equal(conf->max_session_series, 1000000);
	assert_int_equal(conf->max_series_per_site, 1000000);
	assert_int_equal(conf->max_inflight, 64);
	assert_int_equal(conf->max_inflight_size, 16 * 1024 * 1024);
	assert_int_equal(conf->fd_reserve, 64);
	assert_int_equal(conf->max_ds_per_file, 64);
	assert_int_equal(conf->max_agents_per_site, 64);
	assert_int_equal(conf->store_writers, 2);
	assert_int_equal(conf->crl_check_interval, 30);
	assert_int_equal(conf->stats_interval, 60);
	assert_int_equal(conf->log_lines_window, 60);
	assert_int_equal(cfg_size(conf->cfg, "rule"), 2);
	assert_int_equal(cfg_size(conf->cfg, "channel"), 1);
	assert_false(conf->insecure);
	assert_string_equal(conf->tls_ca, "/etc/vakt/ca.crt");
	assert_string_equal(conf->tls_cert, "/etc/vakt/dc1.crt");
	assert_string_equal(conf->tls_key, "/etc/vakt/dc1.key");
	assert_string_equal(conf->tls_crl, "/etc/vakt/crl.pem");
	assert_int_equal(conf->nsites, 2);
	assert_true(collector_site_known(conf, "leksvik"));
	assert_false(collector_site_known(conf, "Leksvik"));
	assert_false(collector_site_known(conf, "rissa2"));
	collector_conf_free(conf);
}

static void test_insecure_without_sites_takes_any_site(void **state)
{
	struct collector_conf *conf = collector_conf_load(DATA "collector_insecure.conf");

	assert_non_null(conf);
	assert_true(conf->insecure);
	assert_null(conf->tls_cert);
	assert_null(conf->sites);
	assert_true(collector_site_known(conf, "anything"));
	collector_conf_free(conf);
}

static void test_archives_as_row_and_span(void **state)
{
	struct collector_conf *conf = collector_conf_load(DATA "collector_archives.conf");

	assert_non_null(conf);
	assert_int_equal(conf->nrras, 3);
	assert_int_equal(conf->rras[0].row_secs, 10);
	assert_int_equal(conf->rras[0].span, 3600);
	assert_int_equal(conf->rras[1].row_secs, 60);
	assert_int_equal(conf->rras[1].span, 86400);
	assert_int_equal(conf->rras[2].row_secs, 7 * 86400);
	assert_int_equal(conf->rras[2].span, 365 * 86400);
	/* 360 rows of one step, 1440 of 6, 52 of 60480 */
	assert_int_equal(store_rra_rows(&conf->rras[0], conf->step), 360);
	assert_int_equal(store_rra_rows(&conf->rras[1], conf->step), 1440);
	assert_int_equal(store_rra_rows(&conf->rras[2], conf->step), 52);
	collector_conf_free(conf);
}

/* a malformed archive, and one that would make every new file gigabytes */
static void test_bad_archives_name_their_line(void **state)
{
	char path[512], want[4096];
	int ok;

	snprintf(path, sizeof(path), DATA "collector_bad_archives.conf");
	snprintf(want, sizeof(want),
		 "%1$s:3: archives \"5x:2d\": expected ROW:SPAN, two durations such as "
		 "\"5m:14d\" (s, m, h, d, w, y)\n"
		 "%1$s:3: archives \"1s:20y\": 630720000 rows at step 1 s, not 1..10000000\n"
		 "%1$s:3: archives \"1h\": expected ROW:SPAN, two durations such as "
		 "\"5m:14d\" (s, m, h, d, w, y)\n"
		 "%1$s:3: archives \"1d:1h\": 0 rows at step 1 s, not 1..10000000\n",
		 path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

/*
 * Lists emptied: libconfuse checks no value of an empty list, and the
 * errors still name the line (a collector listening nowhere would start,
 * take no agent and say nothing of it).
 */
static void test_empty_listen_and_archives_name_their_lines(void **state)
{
	check_error("collector_empty_lists.conf",
		    ":4: listen: no address to accept agents on; give at least one, such as "
		    "{\"0.0.0.0:7060\"}");
	check_error("collector_empty_archives.conf", ":4: archives: 1..8 archives, got 0");
	/* each archive within the bound, together over it */
	check_error("collector_archives_in_all.conf",
		    ":3: archives: 17193600 rows in all at step 1 s, more than 10000000: each "
		    "data source of every new file would take 412 MB");
}

static void test_neither_tls_nor_insecure_says_what_to_add(void **state)
{
	check_error("collector_no_tls.conf",
		    ":3: no tls section: add tls { ca = \"ca.crt\", cert = \"collector.crt\", key "
		    "= \"collector.key\", crl = \"crl.pem\" } to accept agents over TLS, or "
		    "insecure = yes to accept them in plaintext");
}

static void test_tls_and_insecure_together_are_refused(void **state)
{
	check_error("collector_tls_and_insecure.conf",
		    ":2: insecure = yes and a tls section (line 4): remove one");
}

static void test_tls_crl_must_name_a_file(void **state)
{
	check_error("collector_tls_empty_crl.conf", ":6: tls: crl must name a file");
}

static void test_rule_with_unknown_channel(void **state)
{
	check_error("collector_unknown_channel.conf",
		    ":7: rule \"web-down\": unknown channel \"pager\"");
}

static void test_step_zero(void **state)
{
	check_error("collector_step_zero.conf", ":2: step must be 1..3600 s, got 0");
}

static void test_session_bounds_out_of_range(void **state)
{
	check_error("collector_fd_reserve_low.conf",
		    ":2: fd_reserve must be 8..100000 descriptors, got 2");
	check_error("collector_input_buffer_small.conf",
		    ":2: input_buffer_size must be a size of 1M..64G (\"64M\"), got \"10k\"");
	check_error("collector_store_writers_high.conf",
		    ":2: store_writers must be 1..4 writers, got 8");
	check_error("collector_stats_interval_zero.conf",
		    ":2: stats_interval must be 1..86400 s, got 0");
	check_error("collector_log_lines_window_low.conf",
		    ":2: log_lines_window must be 10..3600 s, got 5");
	check_error("collector_crl_check_interval_high.conf",
		    ":2: crl_check_interval must be 1..3600 s, got 7200");
}

/* series_size must hold one session's series: else that session could never finish */
static void test_series_size_below_one_session(void **state)
{
	check_error("collector_series_size_small.conf",
		    ":3: series_size 100M cannot hold the series of one session: "
		    "max_session_series = 1000000 needs 321M (336 bytes each); raise "
		    "series_size or lower max_session_series");
	check_error("collector_session_series_low.conf",
		    ":2: max_session_series must be at least 100000 series (agents before "
		    "HelloAck's max_series define as many), got 10");
}

static void test_listen_without_port(void **state)
{
	check_error("collector_bad_listen.conf", ":2: listen \"127.0.0.1\": missing ':port'");
}

static void test_listen_must_be_numeric_as_at_start(void **state)
{
	check_error("collector_listen_name.conf",
		    ":2: listen \"localhost:7060\": not a numeric address:port (names are not "
		    "resolved)");
}

static void test_exec_channel_without_command(void **state)
{
	check_error("collector_bad_exec.conf",
		    ":4: channel \"oncall\": missing required key 'command'");
}

/*
 * libconfuse's lexer drops a '*' or a lone '+' outside quotes without a word
 * (`host = core-*` became the exact name "core-", so the rule never fired)
 * and replaces ${NAME} with the daemon's own environment (an exec command's
 * ${VAKT_STATE} reached the shell empty). Each is an error naming its line;
 * a quoted pattern, $NAME and \${NAME} keep their meaning.
 */
static void test_characters_the_reader_would_drop_are_refused(void **state)
{
	char path[512], want[4096];
	int ok;

	snprintf(path, sizeof(path), DATA "collector_dropped_chars.conf");
	snprintf(want, sizeof(want),
		 "%1$s:6: '${' would be replaced with an environment variable of the daemon "
		 "when the file is read: write $NAME, or \\${ for a literal '${'\n"
		 "%1$s:12: '*' outside quotes is dropped when the file is read: put the "
		 "value in quotes\n"
		 "%1$s:14: '+' outside quotes (other than '+=') is dropped when the file is "
		 "read: put the value in quotes\n"
		 "%1$s:15: '${' would be replaced with an environment variable of the daemon "
		 "when the file is read: write $NAME, or \\${ for a literal '${'\n",
		 path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_collector_config),
	    cmocka_unit_test(test_insecure_without_sites_takes_any_site),
	    cmocka_unit_test(test_archives_as_row_and_span),
	    cmocka_unit_test(test_bad_archives_name_their_line),
	    cmocka_unit_test(test_empty_listen_and_archives_name_their_lines),
	    cmocka_unit_test(test_neither_tls_nor_insecure_says_what_to_add),
	    cmocka_unit_test(test_tls_and_insecure_together_are_refused),
	    cmocka_unit_test(test_tls_crl_must_name_a_file),
	    cmocka_unit_test(test_rule_with_unknown_channel),
	    cmocka_unit_test(test_step_zero),
	    cmocka_unit_test(test_session_bounds_out_of_range),
	    cmocka_unit_test(test_series_size_below_one_session),
	    cmocka_unit_test(test_listen_without_port),
	    cmocka_unit_test(test_listen_must_be_numeric_as_at_start),
	    cmocka_unit_test(test_exec_channel_without_command),
	    cmocka_unit_test(test_characters_the_reader_would_drop_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
