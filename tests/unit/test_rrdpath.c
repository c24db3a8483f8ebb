/*
 * test_rrdpath.c - names from the wire become safe RRD paths: no "..",
 * no slashes, no hidden files, spaces and non-ASCII made plain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "rrdpath.h"

static const char *san(const char *in)
{
	static char out[RRDPATH_COMPONENT_MAX + 1];

	rrdpath_sanitise(out, sizeof(out), in);
	return out;
}

static void test_dotdot_cannot_climb(void **state)
{
	char p[256];

	assert_string_equal(san(".."), "_.");
	assert_string_equal(san("../../etc/passwd"), "_._.._etc_passwd");
	assert_string_equal(san(".hidden"), "_hidden");
	assert_int_equal(rrdpath_build(p, sizeof(p), "data", "..", "../x", "..", ".."), 0);
	assert_string_equal(p, "data/_./_._x/_.-_..rrd");
	assert_null(strstr(p, "/../"));
}

static void test_slashes_and_spaces(void **state)
{
	assert_string_equal(san("core sw/1"), "core_sw_1");
	assert_string_equal(san("Gi0/1"), "Gi0_1");
	assert_string_equal(san("a\\b\tc\nd"), "a_b_c_d");
	assert_string_equal(san(""), "_");
}

static void test_non_ascii_names(void **state)
{
	/* Norwegian letters are spelled out, other characters become one '_' each */
	assert_string_equal(san("R\xc3\xb8rvik"), "Rorvik");
	assert_string_equal(san("\xc3\x85lesund"), "AAlesund");
	assert_string_equal(san("Fl\xc3\xa5"
				"m"),
			    "Flaam");
	assert_string_equal(san("b\xc3\xa6r"), "baer");
	assert_string_equal(san("caf\xe2\x82\xac"), "caf_"); /* euro sign: 3 bytes, one '_' */
	assert_string_equal(san("\xff\xfe"), "__");          /* invalid UTF-8: one '_' per byte */
}

static void test_long_names_are_cut(void **state)
{
	char in[300];

	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(strlen(san(in)), RRDPATH_COMPONENT_MAX);
}

static void test_path_layout(void **state)
{
	char p[256], small[16];

	assert_int_equal(
	    rrdpath_build(p, sizeof(p), "/var/lib/vakt/rrd", "rissa", "core-sw", "if", "eth0"), 0);
	assert_string_equal(p, "/var/lib/vakt/rrd/rissa/core-sw/if-eth0.rrd");
	assert_int_equal(rrdpath_build(p, sizeof(p), "d", "s", "h", "c", ""), 0);
	assert_string_equal(p, "d/s/h/c.rrd");
	assert_int_equal(rrdpath_build(small, sizeof(small), "d", "site", "host", "check", NULL),
			 -1);
}

static void test_ds_names(void **state)
{
	char ds[20];

	rrdpath_dsname(ds, sizeof(ds), "in_octets");
	assert_string_equal(ds, "in_octets");
	rrdpath_dsname(ds, sizeof(ds), "connect-time.ms");
	assert_string_equal(ds, "connect_time_ms");
	rrdpath_dsname(ds, sizeof(ds), "a_very_long_metric_name_indeed");
	assert_int_equal(strlen(ds), 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dotdot_cannot_climb), cmocka_unit_test(test_slashes_and_spaces),
	    cmocka_unit_test(test_non_ascii_names),     cmocka_unit_test(test_long_names_are_cut),
	    cmocka_unit_test(test_path_layout),         cmocka_unit_test(test_ds_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
