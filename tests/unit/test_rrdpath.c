/*
 * test_rrdpath.c - names from the wire become safe, readable RRD names: no
 * "..", no slashes, no hidden files, Norwegian and Sami letters spelled out.
 * The collision classes listed here are the ones the series index must keep
 * apart (test_store_rrd checks that it does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "rrdpath.h"

static char out[RRDPATH_COMPONENT_MAX + 1];

static const char *san(const char *in)
{
	rrdpath_component(out, sizeof(out), in);
	return out;
}

static const char *file(const char *site, const char *host, const char *check, const char *instance,
			unsigned n)
{
	static char p[RRDPATH_REL_MAX];

	assert_int_equal(rrdpath_file(p, sizeof(p), site, host, check, instance, n), 0);
	return p;
}

static const char *ds(const char *metric, unsigned n)
{
	static char d[RRDPATH_DS_MAX + 1];

	rrdpath_dsname(d, sizeof(d), metric, n);
	return d;
}

static void test_dotdot_cannot_climb(void **state)
{
	assert_string_equal(san(".."), "_.");
	assert_string_equal(san("../../etc/passwd"), "_._.._etc_passwd");
	assert_string_equal(san(".hidden"), "_hidden");
	assert_string_equal(file("..", "../x", "..", "..", 1), "_./_._x/_.-_..rrd");
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
	assert_string_equal(san("Fl\xc3\xa5m"), "Flaam");
	assert_string_equal(san("b\xc3\xa6r"), "baer");
	assert_string_equal(san("caf\xe2\x82\xac"), "caf_"); /* euro sign: 3 bytes, one '_' */
	assert_string_equal(san("\xff\xfe"), "__");          /* invalid UTF-8: one '_' per byte */
}

static void test_sami_letters(void **state)
{
	/* Kárášjohka, Čáhcesuolu, Đ, Ŋ, Ŧ, Ž and their small letters */
	assert_string_equal(san("K\xc3\xa1r\xc3\xa1\xc5\xa1johka"), "Karasjohka");
	assert_string_equal(san("\xc4\x8c\xc3\xa1hcesuolu"), "Cahcesuolu");
	assert_string_equal(san("\xc4\x90\xc4\x91\xc5\x8a\xc5\x8b\xc5\xa6\xc5\xa7\xc5\xbd\xc5\xbe"),
			    "DdNnTtZz");
	assert_string_equal(san("\xc5\xa0\xc3\x84\xc3\xa4\xc3\x96\xc3\xb6"), "SAaOo");
}

static void test_long_names_are_cut(void **state)
{
	char in[300];

	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(strlen(san(in)), RRDPATH_COMPONENT_MAX);
	assert_int_equal(rrdpath_component(out, sizeof(out), in), 1); /* cut: not the name */
}

static void test_component_tells_whether_it_changed_the_name(void **state)
{
	assert_int_equal(rrdpath_component(out, sizeof(out), "core-sw.1_a"), 0);
	assert_int_equal(rrdpath_component(out, sizeof(out), "Gi0/1"), 1);
	assert_int_equal(rrdpath_component(out, sizeof(out), "R\xc3\xb8rvik"), 1);
	assert_int_equal(rrdpath_component(out, sizeof(out), ""), 1);
	/* a short buffer is never overrun */
	char small[4];
	rrdpath_component(small, sizeof(small), "abcdef");
	assert_string_equal(small, "abc");
}

static void test_path_layout(void **state)
{
	char small[16];

	assert_string_equal(file("rissa", "core-sw", "if", "eth0", 1), "rissa/core-sw/if-eth0.rrd");
	assert_string_equal(file("s", "h", "c", "", 1), "s/h/c.rrd");
	assert_string_equal(file("s", "h", "c", NULL, 0), "s/h/c.rrd");
	assert_string_equal(file("s", "h", "if", "Gi0/1", 2), "s/h/if-Gi0_1~2.rrd");
	assert_int_equal(rrdpath_file(small, sizeof(small), "site", "host", "check", NULL, 1), -1);
}

/* Every class of names that meet on disk in their readable form. */
static void test_collision_classes(void **state)
{
	char a[RRDPATH_REL_MAX], b[RRDPATH_REL_MAX], l1[200], l2[200];

	/* slash and underscore */
	rrdpath_file(a, sizeof(a), "s", "h", "if", "Gi0/1", 1);
	rrdpath_file(b, sizeof(b), "s", "h", "if", "Gi0_1", 1);
	assert_string_equal(a, b);
	/* transliteration */
	rrdpath_file(a, sizeof(a), "s", "h", "Troms\xc3\xb8-link", NULL, 1);
	rrdpath_file(b, sizeof(b), "s", "h", "Tromso-link", NULL, 1);
	assert_string_equal(a, b);
	/* check + instance against a check whose name holds the '-' */
	rrdpath_file(a, sizeof(a), "s", "h", "if", "x", 1);
	rrdpath_file(b, sizeof(b), "s", "h", "if-x", "", 1);
	assert_string_equal(a, b);
	/* names cut at 64 bytes */
	memset(l1, 'h', sizeof(l1) - 1);
	l1[sizeof(l1) - 1] = '\0';
	memcpy(l2, l1, sizeof(l2));
	l2[150] = 'X';
	rrdpath_file(a, sizeof(a), "s", l1, "c", NULL, 1);
	rrdpath_file(b, sizeof(b), "s", l2, "c", NULL, 1);
	assert_string_equal(a, b);
	/* the suffix the index uses keeps them apart, and is no readable form */
	rrdpath_file(b, sizeof(b), "s", l2, "c", NULL, 2);
	assert_string_not_equal(a, b);
	rrdpath_file(a, sizeof(a), "s", "h", "if-Gi0_1~2", NULL, 1);
	assert_string_equal(a, "s/h/if-Gi0_1_2.rrd");
	/* DS names: '.' and '-', and names cut at 19 */
	assert_string_equal(ds("a.b", 1), ds("a-b", 1));
	assert_string_equal(ds("a_very_long_metric_name_one", 1), "a_very_long_metric_");
	assert_string_equal(ds("a_very_long_metric_name_two", 1), "a_very_long_metric_");
}

static void test_ds_names(void **state)
{
	assert_string_equal(ds("in_octets", 1), "in_octets");
	assert_string_equal(ds("connect-time.ms", 1), "connect_time_ms");
	assert_string_equal(ds("a.b", 2), "a_b_2");
	assert_string_equal(ds("", 1), "_");
	assert_string_equal(ds("m\xc3\xa5ling", 1), "maaling");
	assert_int_equal(strlen(ds("a_very_long_metric_name_indeed", 1)), RRDPATH_DS_MAX);
	/* the suffix fits within rrdtool's 19 characters */
	assert_string_equal(ds("a_very_long_metric_name_indeed", 12), "a_very_long_metr_12");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dotdot_cannot_climb),
	    cmocka_unit_test(test_slashes_and_spaces),
	    cmocka_unit_test(test_non_ascii_names),
	    cmocka_unit_test(test_sami_letters),
	    cmocka_unit_test(test_long_names_are_cut),
	    cmocka_unit_test(test_component_tells_whether_it_changed_the_name),
	    cmocka_unit_test(test_path_layout),
	    cmocka_unit_test(test_collision_classes),
	    cmocka_unit_test(test_ds_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
