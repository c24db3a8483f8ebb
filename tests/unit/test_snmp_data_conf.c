/*
 * test_snmp_data_conf.c - an snmp device's profiles, MIB groups and custom
 * OIDs as the config states them: what a section takes from its profiles,
 * and each mistake exactly as a user sees it ("FILE:LINE: message").
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
#include "snmp.h"

/* net-snmp has a FREE of its own */
#undef FREE
#define LOAD(path) agent_conf_load(path)
#define FREE(conf) agent_conf_free(conf)
#include "conf_errors.h"

static const struct csnmp_oid_def *find_oid(const struct csnmp_priv *p, const char *name)
{
	for (size_t i = 0; i < p->data.noids; i++)
		if (strcmp(p->data.oids[i].name, name) == 0)
			return &p->data.oids[i];
	return NULL;
}

static void test_profiles_give_defaults_the_section_overrides(void **state)
{
	struct agent_conf *conf = agent_conf_load(DATA "agent_profile_good.conf");
	const struct csnmp_priv *p;
	const struct csnmp_oid_def *o;

	assert_non_null(conf);
	assert_int_equal(conf->nchecks, 2);
	/* sw1 names {"dev", "site"}: site's retries win over dev's, its own interval over both */
	p = conf->checks[0]->priv;
	assert_int_equal(conf->checks[0]->interval, 20);
	assert_int_equal(p->retries, 3);
	assert_string_equal(p->community, "dev-community");
	/* mibs add up: its own ucd, dev's host, site's ups */
	assert_int_equal(p->data.mibs, CSNMP_MIB_HOST | CSNMP_MIB_UCD | CSNMP_MIB_UPS);
	assert_int_equal(p->data.noids, 2);
	/* site's "temp" replaced dev's whole: its OID, and the default scale */
	o = find_oid(p, "temp");
	assert_non_null(o);
	assert_int_equal(o->col_len, 9);
	assert_int_equal(o->col[7], 9);
	assert_string_equal(o->check, "env");
	assert_string_equal(o->metric, "temp");
	assert_true(o->scale == 1.0);
	assert_false(o->table);
	/* its own "fans" replaced dev's whole */
	o = find_oid(p, "fans");
	assert_non_null(o);
	assert_true(o->table);
	assert_int_equal(o->inst_len, 0);
	assert_int_equal(o->kind, SAMPLE_COUNTER);
	assert_string_equal(o->metric, "turns");
	/* sw2 names dev alone: dev's values, "fans" a column named by another column */
	p = conf->checks[1]->priv;
	assert_int_equal(conf->checks[1]->interval, 30);
	assert_int_equal(p->retries, 2);
	assert_int_equal(p->data.mibs, CSNMP_MIB_HOST);
	o = find_oid(p, "fans");
	assert_non_null(o);
	assert_true(o->table);
	assert_int_equal(o->inst_len, 10);
	assert_int_equal(o->kind, SAMPLE_GAUGE);
	o = find_oid(p, "temp");
	assert_non_null(o);
	assert_true(o->scale == 0.1);
	agent_conf_free(conf);
}

static void test_unknown_profile_lists_the_known_ones(void **state)
{
	check_error("agent_profile_unknown.conf",
		    ":8: snmp \"sw1\": unknown profile \"nosuch\" (known in " DATA
		    "profiles: bad, dev, site)");
}

/* a profile_dir that is not there (an agent not installed): the error says what it must name */
static void test_missing_profile_dir_says_what_to_set(void **state)
{
	check_error("agent_profile_nodir.conf",
		    ":8: snmp \"sw1\": unknown profile \"linux\" (cannot read " DATA
		    "no-such-profiles: No such file or directory; profile_dir names the folder "
		    "of the profiles: deploy/profiles in Vakt's source, or where make install "
		    "put them)");
}

static void test_profile_mistakes_name_the_profile_file(void **state)
{
	int ok;
	char want[2048];

	snprintf(want, sizeof(want),
		 DATA "profiles/bad.conf:2: a profile cannot set 'address': set it in the "
		      "section that names the profile\n" DATA
		      "profiles/bad.conf:7: oid \"x\": scale applies to gauges only, not to a "
		      "counter\n" DATA
		      "profiles/bad.conf:8: a profile cannot set 'profile': set it "
		      "in the section that names the profile\n" DATA
		      "agent_profile_refused.conf:12: snmp \"sw2\": profile "
		      "\"../dev\": a profile's name is 1..64 letters, digits, '-' or '_'\n");
	/* the broken profile is reported once, however many sections name it */
	assert_string_equal(load(DATA "agent_profile_refused.conf", &ok), want);
	assert_false(ok);
}

static void test_profile_dir_after_a_profile_is_refused(void **state)
{
	int ok;
	const char *got = load(DATA "agent_profile_dir_late.conf", &ok);

	assert_false(ok);
	assert_non_null(strstr(got, "agent_profile_dir_late.conf:8: profile_dir must come before "
				    "the first section that names a profile (line 7)\n"));
}

static void test_oid_mistakes_name_their_lines(void **state)
{
	int ok;
	char want[4096];
	const char *f = DATA "agent_oid_errors.conf";

	snprintf(
	    want, sizeof(want),
	    "%1$s:7: oid \"a\": oid \"1.3.6.x\": no installed MIB defines this name; give "
	    "the OID in numbers or install the MIB files\n"
	    "%1$s:8: oid \"b\": oid \"NO-SUCH-MIB::nothing.0\": no installed MIB defines this "
	    "name; give the OID in numbers or install the MIB files\n"
	    "%1$s:13: oid \"c\": scale applies to gauges only, not to a counter\n"
	    "%1$s:14: oid \"d\": missing required key 'oid'\n"
	    "%1$s:15: oid \"e\": check \"ups\" is one Vakt stores built-in values in; give the "
	    "oid another check name\n"
	    "%1$s:16: oid \"f\": metric \"up\" is the collector's own; choose another\n"
	    "%1$s:17: oid \"g\": type must be \"gauge\" or \"counter\", got \"rate\"\n"
	    "%1$s:17: oid \"g\": metric must be 1..19 letters, digits or '_' (an RRD data "
	    "source), got \"in-octets\"\n",
	    f);
	assert_string_equal(load(f, &ok), want);
	assert_false(ok);
}

static void test_mibs_and_duplicate_oids_are_refused(void **state)
{
	int ok;
	char want[2048];
	const char *f = DATA "agent_mibs_errors.conf";

	snprintf(want, sizeof(want),
		 "%1$s:9: oid \"j\": a table column's OID has at most 24 numbers\n"
		 "%1$s:10: snmp \"sw1\": mibs: unknown group \"hr\" (known: \"host\" "
		 "HOST-RESOURCES-MIB, \"ucd\" UCD-SNMP-MIB, \"ups\" UPS-MIB)\n"
		 "%1$s:10: snmp \"sw1\": oid \"h\" and oid \"i\" both store check \"env\" "
		 "metric \"value\"\n",
		 f);
	assert_string_equal(load(f, &ok), want);
	assert_false(ok);
}

/* A MIB name an installed MIB file defines is its OID (tests/data/mibs is where MIBDIRS points). */
static void test_mib_names_translate_when_a_mib_defines_them(void **state)
{
	static const oid temp[] = {1, 3, 6, 1, 4, 1, 99999, 1, 0};
	static const oid fans[] = {1, 3, 6, 1, 4, 1, 99999, 2, 1, 3};
	struct agent_conf *conf = agent_conf_load(DATA "agent_oid_mib_name.conf");
	const struct csnmp_priv *p;
	const struct csnmp_oid_def *o;

	assert_non_null(conf);
	p = conf->checks[0]->priv;
	o = find_oid(p, "temp");
	assert_non_null(o);
	assert_int_equal(o->col_len, 9);
	assert_memory_equal(o->col, temp, sizeof(temp));
	o = find_oid(p, "fans");
	assert_non_null(o);
	assert_int_equal(o->col_len, 10);
	assert_memory_equal(o->col, fans, sizeof(fans));
	assert_true(o->table);
	agent_conf_free(conf);
}

/* Every profile shipped in deploy/profiles loads, alone and all together. */
static void test_shipped_profiles_load(void **state)
{
	static const char *const shipped[] = {"switch", "router",  "ups",
					      "linux",  "windows", "printer"};
	char path[] = "/tmp/vakt-test-profiles.XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct agent_conf *conf;

	assert_non_null(f);
	fprintf(f,
		"site = \"rissa\"\ninsecure = yes\nprofile_dir = \"%s/../../deploy/profiles\"\n"
		"collector \"dc1\" { address = \"127.0.0.1:7060\" }\n",
		TEST_DATA_DIR);
	for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++)
		fprintf(f, "snmp \"%s\" { address = \"127.0.0.%zu\"  profile = \"%s\" }\n",
			shipped[i], i + 1, shipped[i]);
	fprintf(f, "snmp \"all\" { address = \"127.0.1.1\"  profile = {\"ups\", \"linux\", "
		   "\"windows\", \"printer\"} }\n");
	fclose(f);
	conf = agent_conf_load(path);
	unlink(path);
	assert_non_null(conf);
	assert_int_equal(conf->nchecks, 7);
	agent_conf_free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_profiles_give_defaults_the_section_overrides),
	    cmocka_unit_test(test_unknown_profile_lists_the_known_ones),
	    cmocka_unit_test(test_missing_profile_dir_says_what_to_set),
	    cmocka_unit_test(test_profile_mistakes_name_the_profile_file),
	    cmocka_unit_test(test_profile_dir_after_a_profile_is_refused),
	    cmocka_unit_test(test_oid_mistakes_name_their_lines),
	    cmocka_unit_test(test_mibs_and_duplicate_oids_are_refused),
	    cmocka_unit_test(test_mib_names_translate_when_a_mib_defines_them),
	    cmocka_unit_test(test_shipped_profiles_load),
	};

	/* net-snmp reads MIB files from here (only), once, at the first MIB name */
	setenv("MIBDIRS", TEST_DATA_DIR "/mibs", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
