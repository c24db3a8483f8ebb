/*
 * test_agent_conf.c - the agent's config errors, exactly as a user sees
 * them: "FILE:LINE: message", and a valid config loads every check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "libload.h"

#define LOAD(path) agent_conf_load(path)
#define FREE(conf) agent_conf_free(conf)
#include "conf_errors.h"
/* net-snmp's headers (for the v3 test) have a FREE of their own */
#undef FREE
#include "snmp.h"

static void test_valid_config_loads_every_check(void **state)
{
	struct agent_conf *conf = agent_conf_load(DATA "agent_good.conf");

	assert_non_null(conf);
	assert_string_equal(conf->site, "rissa");
	assert_string_equal(conf->name, "agent1");
	assert_int_equal(conf->ncollectors, 2);
	assert_string_equal(conf->collectors[1].address, "[::1]:7060");
	/* the collector's certificate must name server_name, else its address's host */
	assert_string_equal(conf->collectors[0].server_name, "collector.fosen.example");
	assert_string_equal(conf->collectors[1].server_name, "::1");
	assert_false(conf->insecure);
	assert_string_equal(conf->tls_ca, "/etc/vakt/ca.crt");
	assert_string_equal(conf->tls_cert, "/etc/vakt/rissa.crt");
	assert_string_equal(conf->tls_key, "/etc/vakt/rissa.key");
	assert_int_equal(conf->tls_line, 23); /* its first key */
	assert_int_equal(conf->nchecks, 2);
	assert_string_equal(conf->checks[0]->name, "core-sw");
	assert_string_equal(conf->checks[0]->kind->name, "snmp");
	assert_string_equal(conf->checks[0]->host, "core-sw");
	assert_int_equal(conf->checks[0]->interval, 30);
	assert_int_equal(conf->checks[0]->timeout_ms, 1500);
	assert_string_equal(conf->checks[1]->kind->name, "tcp");
	/* a probe's samples belong to the host it probes */
	assert_string_equal(conf->checks[1]->host, "127.0.0.1");
	assert_int_equal(conf->checks[1]->interval, 10);
	agent_conf_free(conf);
}

static void test_spool_keys_load_with_their_defaults(void **state)
{
	struct agent_conf *conf = agent_conf_load(DATA "agent_spool.conf");

	assert_non_null(conf);
	assert_string_equal(conf->spool_dir, "/var/lib/vakt/spool");
	assert_int_equal(conf->spool_dir_line, 3);
	assert_true(conf->spool_size == 2ULL << 30);
	assert_int_equal(conf->spool_fsync, 0);
	assert_int_equal(conf->failback_s, 120);
	agent_conf_free(conf);
	/* unset: memory only, 256M, fsync every second, failback every 30 s */
	conf = agent_conf_load(DATA "agent_good.conf");
	assert_non_null(conf);
	assert_null(conf->spool_dir);
	assert_true(conf->spool_size == 256ULL << 20);
	assert_int_equal(conf->spool_fsync, 1);
	assert_int_equal(conf->failback_s, 30);
	assert_int_equal(conf->max_session_series, 1000000);
	agent_conf_free(conf);
}

/* spool_size's bound is 1T, as its error says: written so, it is taken */
static void test_spool_size_of_1t_loads(void **state)
{
	struct agent_conf *conf = agent_conf_load(DATA "agent_spool_1t.conf");

	assert_non_null(conf);
	assert_true(conf->spool_size == 1ULL << 40);
	agent_conf_free(conf);
}

/* 2^34 + 64 gigabytes is past any size: an error, not 64G after the bytes wrap round */
static void test_size_past_any_bound_is_an_error(void **state)
{
	check_error("agent_queue_size_overflow.conf",
		    ":4: queue_size must be a size such as \"64M\" or \"2G\", got "
		    "\"17179869248G\"");
}

static void test_bad_spool_keys_name_their_lines(void **state)
{
	int ok;
	char want[1024];
	const char *path = DATA "agent_bad_spool.conf";

	snprintf(want, sizeof(want),
		 "%s:3: spool_dir must be an absolute path, got \"var/spool\"\n"
		 "%s:4: spool_size must be 64k..1T, got \"10k\"\n"
		 "%s:5: spool_fsync must be 0..3600 s (0: every batch), got 7200\n"
		 "%s:6: failback must be 0..86400 s (0: never), got -1\n",
		 path, path, path, path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

static void test_interval_zero_names_line_7(void **state)
{
	check_error("agent_interval_zero.conf", ":7: interval must be 1..86400 s, got 0");
}

static void test_port_out_of_range(void **state)
{
	check_error("agent_bad_port.conf",
		    ":2: address \"127.0.0.1:70000\": port must be 1..65535");
}

static void test_unknown_key(void **state)
{
	check_error("agent_unknown_key.conf", ":5: no such option 'adress'");
}

static void test_wrong_type(void **state)
{
	check_error("agent_wrong_type.conf", ":6: invalid integer value for option 'interval'");
}

static void test_duplicate_check_name(void **state)
{
	check_error("agent_duplicate_name.conf", ":9: snmp \"web\": duplicate check name \"web\"");
}

static void test_missing_required_key(void **state)
{
	check_error("agent_missing_address.conf",
		    ":6: probe \"web\": missing required key 'address'");
}

static void test_missing_site(void **state)
{
	char path[512], want[1024];
	int ok;

	snprintf(path, sizeof(path), DATA "agent_missing_site.conf");
	snprintf(want, sizeof(want), "%s: missing required key 'site'\n", path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

static void test_unknown_probe_kind(void **state)
{
	check_error("agent_unknown_kind.conf", ":6: probe \"web\": unknown probe kind \"gopher\"");
}

static void test_timeout_must_be_shorter_than_interval(void **state)
{
	check_error("agent_timeout_too_long.conf",
		    ":8: probe \"web\": timeout (1000 ms) must be shorter than interval (1 s)");
}

static void test_comments_keep_line_numbers_true(void **state)
{
	check_error("agent_comments.conf",
		    ":7: address \"127.0.0.1:70000\": port must be 1..65535");
}

static void test_every_problem_is_printed_in_one_run(void **state)
{
	char path[512], want[4096];
	int ok;
	const char *p = DATA "agent_many_errors.conf";

	snprintf(path, sizeof(path), "%s", p);
	snprintf(want, sizeof(want),
		 "%1$s:2: batch_ms must be 10..60000 ms, got 5\n"
		 "%1$s:3: address \"127.0.0.1:0\": port must be 1..65535\n"
		 "%1$s:6: interval must be 1..86400 s, got 0\n"
		 "%1$s:11: timeout must be 1..600000 ms, got 900000\n"
		 "%1$s:15: probe \"dns\": unknown probe kind \"gopher\"\n",
		 path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

static void test_trap_probe_errors_name_their_section_and_keep_secrets(void **state)
{
	char want[4096];
	int ok;
	const char *p = DATA "agent_trap_errors.conf";
	const char *out = load(p, &ok);

	snprintf(
	    want, sizeof(want),
	    "%1$s:15: probe \"traps\": address \"traps.example:162\": the listener needs a "
	    "numeric address\n"
	    "%1$s:15: probe \"traps\": hosts: \"10.1.0.0/33\" is not an address or "
	    "address/prefix\n"
	    "%1$s:15: probe \"traps\": hosts: \"any\" is not an address or address/prefix\n"
	    "%1$s:15: probe \"traps\": rate must be 1..100000 traps a second per sender, got 0\n"
	    "%1$s:15: probe \"traps\": senders must be 1..65536 senders tracked, got 65537\n"
	    "%1$s:15: probe \"traps\": auth_protocol must be MD5, SHA, SHA-224, SHA-256, "
	    "SHA-384 or SHA-512, got \"SHA-3\"\n"
	    "%1$s:15: probe \"traps\": auth_password must be 8..256 characters without "
	    "quotes, backslashes or control characters\n"
	    "%1$s:15: probe \"traps\": engine_ids: \"0x1234\" is not 5..32 bytes in hex\n"
	    "%1$s:19: probe \"no-hosts\": missing required key 'hosts'\n"
	    "%1$s:24: probe \"no-user\": auth_password, priv_password and engine_ids need "
	    "'security_name'\n",
	    p);
	assert_string_equal(out, want);
	assert_false(ok);
	assert_null(strstr(out, "short"));
	assert_null(strstr(out, "secret"));
}

static void test_http_probe_errors_name_their_section_and_keep_secrets(void **state)
{
	char want[4096];
	int ok;
	const char *p = DATA "agent_http_errors.conf";
	const char *out = load(p, &ok);

	snprintf(
	    want, sizeof(want),
	    "%1$s:6: probe \"ftp\": url \"ftp://files.rissa.example/\": the scheme must be "
	    "http or https\n"
	    "%1$s:7: probe \"creds\": url: credentials belong in user and password, not in the "
	    "URL\n"
	    "%1$s:8: probe \"status\": expect_status \"200-99\": status codes are 100..599, a "
	    "range low-high\n"
	    "%1$s:9: probe \"header\": headers: \"no colon here\" is not one \"Name: value\" "
	    "line\n"
	    "%1$s:10: probe \"regex\": body_regex \"(unclosed\": Unmatched ( or \\(\n"
	    "%1$s:11: probe \"family\": family must be \"any\", \"ipv4\" or \"ipv6\", got "
	    "\"ipv5\"\n"
	    "%1$s:12: probe \"nopass\": user and password go together\n"
	    "%1$s:13: probe \"ca\": ca applies to an https url only\n"
	    "%1$s:14: probe \"nourl\": missing required key 'url'\n",
	    p);
	assert_string_equal(out, want);
	assert_false(ok);
	assert_null(strstr(out, "hunter2"));
}

/* A library a kind opens when needed that is not there, or lacks a function, is named with the kind. */
static void test_libload_names_the_library_and_the_kind(void **state)
{
	void *fn;
	const struct libload_fn fns[] = {{"vakt_no_such_function", &fn}};
	struct libload gone = {
	    .soname = "libvakt-gone.so.9", .what = "http probes", .fns = fns, .nfns = 1};
	struct libload lacking = {.soname = "libc.so.6", .what = "pcap checks", .fns = fns, .nfns = 1};
	char why[300];

	(void)state;
	assert_int_equal(libload_open(&gone, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "http probes need libvakt-gone.so.9, which does not load: "));
	why[0] = '\0';
	assert_int_equal(libload_open(&gone, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "http probes need libvakt-gone.so.9, which does not load: "));
	assert_int_equal(libload_open(&lacking, why, sizeof(why)), -1);
	assert_string_equal(why, "pcap checks need libc.so.6 with vakt_no_such_function, which it lacks");
}

static void test_icmp_probe_errors_name_their_section(void **state)
{
	char want[4096];
	int ok;
	const char *p = DATA "agent_icmp_errors.conf";
	const char *out = load(p, &ok);

	snprintf(
	    want, sizeof(want),
	    "%1$s:6: probe \"port\": address \"10.1.0.1:80\": expected a host name or address "
	    "without a port (IPv6 as [2001:db8::1])\n"
	    "%1$s:7: probe \"v6\": address \"[2001:db8::1]:7\": expected a host name or address "
	    "without a port (IPv6 as [2001:db8::1])\n"
	    "%1$s:8: probe \"zero\": packets must be 1..1000, got 0\n"
	    "%1$s:9: probe \"many\": packets must be 1..1000, got 1001\n"
	    "%1$s:10: probe \"tight\": 200 packets do not fit in interval 1 s with timeout 900 ms "
	    "(at least 1 ms apart after the last one's timeout)\n"
	    "%1$s:11: probe \"fam\": family must be \"any\", \"ipv4\" or \"ipv6\", got \"ip4\"\n"
	    "%1$s:12: probe \"mixed\": address \"[2001:db8::1]\" is not an IPv4 address (family = "
	    "\"ipv4\")\n"
	    "%1$s:13: probe \"noaddr\": missing required key 'address'\n",
	    p);
	assert_string_equal(out, want);
	assert_false(ok);
}

static void test_pcap_probe_errors_name_their_section(void **state)
{
	char want[4096];
	int ok;
	const char *p = DATA "agent_pcap_errors.conf";
	const char *out = load(p, &ok);

	snprintf(want, sizeof(want),
		 "%1$s:6: probe \"filter\": filter \"prot 22\": can't parse filter expression: "
		 "syntax error\n"
		 "%1$s:7: probe \"iface\": interface \"eth0/1\" is no interface name (1..15 "
		 "characters)\n"
		 "%1$s:8: probe \"port\": ports: 70000 is no port (1..65535)\n"
		 "%1$s:9: probe \"table\": talker_table must be top_talkers (20)..65536, got 10\n"
		 "%1$s:10: probe \"flows\": flow_table must be 0..1048576, got -1\n"
		 "%1$s:11: probe \"ring\": buffer_size must be a size of 64k..1G, got \"10k\"\n"
		 "%1$s:12: probe \"top\": top_talkers must be 0..100, got 101\n"
		 "%1$s:13: probe \"noiface\": missing required key 'interface'\n",
		 p);
	assert_string_equal(out, want);
	assert_false(ok);
}

static void test_one_snmp_section_per_host(void **state)
{
	check_error("agent_same_host.conf",
		    ":7: snmp \"core-sw-again\": host \"core-sw\" is already polled by snmp "
		    "\"core-sw\"");
}

static void test_unclosed_comment_names_where_it_opened(void **state)
{
	check_error("agent_unclosed_comment.conf", ":7: comment opened here is never closed");
}

static void test_unclosed_string_names_where_it_opened(void **state)
{
	check_error("agent_unclosed_string.conf", ":6: quoted string opened here is never closed");
}

static void test_key_set_twice_names_both_lines(void **state)
{
	char path[512], want[2048];
	int ok;

	snprintf(path, sizeof(path), DATA "agent_key_twice.conf");
	snprintf(want, sizeof(want),
		 "%1$s:9: 'interval' set twice in snmp \"core\" (first on line 7)\n"
		 "%1$s:11: 'site' set twice (first on line 2)\n",
		 path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

static void test_section_defined_twice(void **state)
{
	check_error("agent_section_twice.conf", ":4: collector \"dc1\": defined twice");
}

/* two sections, one address: failover went to the same collector again, silently */
static void test_collector_address_given_twice(void **state)
{
	check_error("agent_collector_twice.conf",
		    ":7: collector \"dc2\": address \"10.0.0.5:7060\" is that of collector "
		    "\"dc1\" already: give each collector one section");
}

static void test_comment_glued_to_a_value_is_refused(void **state)
{
	char path[512], want[2048];
	int ok;

	snprintf(path, sizeof(path), DATA "agent_comment_in_value.conf");
	snprintf(want, sizeof(want),
		 "%1$s:2: '#' right after an unquoted value: put the value in quotes, or a "
		 "space before a comment\n"
		 "%1$s:7: '//' right after an unquoted value: put the value in quotes, or a "
		 "space before a comment\n",
		 path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

/* `interval = 010` was 8 s and `timeout = 0500` 320 ms, without a word. */
static void test_leading_zero_and_stray_comment_end_are_refused(void **state)
{
	char path[512], want[2048];
	int ok;

	snprintf(path, sizeof(path), DATA "agent_octal.conf");
	snprintf(want, sizeof(want),
		 "%1$s:7: '010' would be read as an octal number: write it without the "
		 "leading zero, or in quotes\n"
		 "%1$s:8: '0500' would be read as an octal number: write it without the "
		 "leading zero, or in quotes\n"
		 "%1$s:8: '*/' closes no comment\n",
		 path);
	assert_string_equal(load(path, &ok), want);
	assert_false(ok);
}

/*
 * Parsing is linear in the number of sections: every duplicate check goes
 * through an index (conf_index), and conf.c keeps libconfuse's own search
 * for a section's title from scanning all the sections parsed before it.
 * 20,000 sections took seconds when each of those was a scan; no timing
 * is asserted here (it would flake), only that such a file loads whole.
 */
static void test_twenty_thousand_checks_load(void **state)
{
	char path[] = "/tmp/vakt-test-conf.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	struct agent_conf *conf;

	assert_non_null(f);
	fprintf(f, "site = \"rissa\"\ninsecure = yes\n"
		   "collector \"dc1\" { address = \"127.0.0.1:7060\" }\n");
	for (int i = 0; i < 20000; i++)
		fprintf(f, "probe \"web-%d\" { kind = \"tcp\" address = \"10.%d.%d.%d:80\" }\n", i,
			i >> 16, (i >> 8) & 255, i & 255);
	fclose(f);
	conf = agent_conf_load(path);
	unlink(path);
	assert_non_null(conf);
	assert_int_equal(conf->nchecks, 20000);
	assert_string_equal(conf->checks[19999]->name, "web-19999");
	assert_string_equal(conf->checks[19999]->host, "10.0.78.31");
	agent_conf_free(conf);
}

static void test_insecure_loads_without_certificates(void **state)
{
	struct agent_conf *conf = agent_conf_load(DATA "agent_insecure.conf");

	assert_non_null(conf);
	assert_true(conf->insecure);
	assert_null(conf->tls_cert);
	assert_string_equal(conf->collectors[0].server_name, "collector.fosen.example");
	agent_conf_free(conf);
}

static void test_neither_tls_nor_insecure_says_what_to_add(void **state)
{
	check_error("agent_no_tls.conf",
		    ":4: no tls section: add tls { ca = \"ca.crt\", cert = \"SITE.crt\", key = "
		    "\"SITE.key\" } to reach the collector over TLS, or insecure = yes to send in "
		    "plaintext");
}

static void test_tls_and_insecure_together_are_refused(void **state)
{
	check_error("agent_tls_and_insecure.conf",
		    ":4: insecure = yes and a tls section (line 6): remove one");
}

static void test_tls_without_key(void **state)
{
	check_error("agent_tls_missing_key.conf", ":7: tls: missing required key 'key'");
}

static void test_missing_file(void **state)
{
	int ok;
	const char *got = load(DATA "does-not-exist.conf", &ok);

	assert_false(ok);
	assert_non_null(strstr(got, "does-not-exist.conf: cannot read: No such file"));
}

/* Each SNMPv3 mistake is named with its section and line; no password is ever shown. */
static void test_v3_mistakes_name_their_lines_never_a_password(void **state)
{
	static const char *const secrets[] = {"s3cr", "Priv-Secret", "Comm-Secret", "Auth-Secret",
					      NULL};
	char want[4096];
	int ok;
	const char *p = DATA "agent_v3_errors.conf", *got;

	snprintf(
	    want, sizeof(want),
	    "%1$s:11: snmp \"short\": auth_password must be at least 8 characters, got 4\n"
	    "%1$s:11: snmp \"short\": priv_protocol \"AES-512\" is not supported here; one of "
	    "DES, AES, AES-192, AES-256\n"
	    "%1$s:17: snmp \"nouser\": community is for versions \"1\" and \"2c\"; version \"3\" "
	    "names its user with security_name\n"
	    "%1$s:17: snmp \"nouser\": version \"3\" needs security_name (the SNMPv3 user)\n"
	    "%1$s:17: snmp \"nouser\": security_level authPriv needs auth_password\n"
	    "%1$s:17: snmp \"nouser\": security_level authPriv needs priv_password\n"
	    "%1$s:22: snmp \"v2-keys\": security_name is for version \"3\" only\n"
	    "%1$s:22: snmp \"v2-keys\": auth_password is for version \"3\" only\n"
	    "%1$s:29: snmp \"noauth-keys\": auth_password is not used with security_level "
	    "noAuthNoPriv\n"
	    "%1$s:37: snmp \"level\": priv_password is not used with security_level authNoPriv\n"
	    "%1$s:37: snmp \"level\": auth_protocol \"SHA-999\" is not supported here; one of "
	    "MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512\n"
	    "%1$s:37: snmp \"level\": security_level authNoPriv needs auth_password\n"
	    "%1$s:43: snmp \"badlevel\": security_level must be \"noAuthNoPriv\", \"authNoPriv\" "
	    "or \"authPriv\", got \"authpriv!\"\n",
	    p);
	got = load(p, &ok);
	assert_false(ok);
	assert_string_equal(got, want);
	for (const char *const *s = secrets; *s != NULL; s++)
		assert_null(strstr(got, *s));
}

/* Protocol names as people write them; the level follows from the keys given. */
static void test_v3_section_loads(void **state)
{
	struct agent_conf *conf = agent_conf_load(DATA "agent_v3_good.conf");
	const struct csnmp_priv *ap, *nn;

	assert_non_null(conf);
	assert_int_equal(conf->snmp_in_flight, 8);
	assert_int_equal(conf->nchecks, 2);
	ap = conf->checks[0]->priv;
	nn = conf->checks[1]->priv;
	assert_int_equal(ap->version, SNMP_VERSION_3);
	assert_string_equal(ap->usm->name, "vakt");
	assert_int_equal(ap->usm->level, SNMP_SEC_LEVEL_AUTHPRIV);
	assert_string_equal(ap->usm->auth->name, "SHA-256");
	assert_string_equal(ap->usm->priv->name, "AES-256");
	assert_string_equal(ap->usm->context, "vlan-10");
	assert_int_equal(ap->in_flight_max, 2);
	assert_int_equal(nn->usm->level, SNMP_SEC_LEVEL_NOAUTH);
	assert_null(nn->usm->auth);
	assert_int_equal(nn->in_flight_max, 1);
	agent_conf_free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_config_loads_every_check),
	    cmocka_unit_test(test_spool_keys_load_with_their_defaults),
	    cmocka_unit_test(test_spool_size_of_1t_loads),
	    cmocka_unit_test(test_size_past_any_bound_is_an_error),
	    cmocka_unit_test(test_bad_spool_keys_name_their_lines),
	    cmocka_unit_test(test_interval_zero_names_line_7),
	    cmocka_unit_test(test_port_out_of_range),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_duplicate_check_name),
	    cmocka_unit_test(test_missing_required_key),
	    cmocka_unit_test(test_missing_site),
	    cmocka_unit_test(test_unknown_probe_kind),
	    cmocka_unit_test(test_timeout_must_be_shorter_than_interval),
	    cmocka_unit_test(test_comments_keep_line_numbers_true),
	    cmocka_unit_test(test_every_problem_is_printed_in_one_run),
	    cmocka_unit_test(test_trap_probe_errors_name_their_section_and_keep_secrets),
	    cmocka_unit_test(test_http_probe_errors_name_their_section_and_keep_secrets),
	    cmocka_unit_test(test_icmp_probe_errors_name_their_section),
	    cmocka_unit_test(test_pcap_probe_errors_name_their_section),
	    cmocka_unit_test(test_libload_names_the_library_and_the_kind),
	    cmocka_unit_test(test_one_snmp_section_per_host),
	    cmocka_unit_test(test_unclosed_comment_names_where_it_opened),
	    cmocka_unit_test(test_unclosed_string_names_where_it_opened),
	    cmocka_unit_test(test_key_set_twice_names_both_lines),
	    cmocka_unit_test(test_section_defined_twice),
	    cmocka_unit_test(test_collector_address_given_twice),
	    cmocka_unit_test(test_comment_glued_to_a_value_is_refused),
	    cmocka_unit_test(test_leading_zero_and_stray_comment_end_are_refused),
	    cmocka_unit_test(test_twenty_thousand_checks_load),
	    cmocka_unit_test(test_insecure_loads_without_certificates),
	    cmocka_unit_test(test_neither_tls_nor_insecure_says_what_to_add),
	    cmocka_unit_test(test_tls_and_insecure_together_are_refused),
	    cmocka_unit_test(test_tls_without_key),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_v3_mistakes_name_their_lines_never_a_password),
	    cmocka_unit_test(test_v3_section_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
