/*
 * test_snmp_walk.c - the table walker on answers a device might send: rows
 * of several columns side by side, a column that leaves its subtree, one
 * that repeats or goes backwards, a truncated GETBULK, an error on one
 * column, one past a column's end, SNMPv1's end of view, and more rows than
 * the bound; sysUpTime as the first GETBULK's non-repeater: a reboot it
 * shows ends the walk, and a device that answers it with something else is
 * asked by GET from then on; a GETBULK that timed out makes the next walks
 * ask fewer rows; names a device sends in bytes that are no UTF-8 are kept
 * as UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "snmp.h"

#define IFT(n) {1, 3, 6, 1, 2, 1, 2, 2, 1, n}, 10
static const struct csnmp_col cols[] = {
    {"ifDescr", IFT(2)},
    {"ifOperStatus", IFT(8)},
};

struct fixture {
	struct check c;
	struct csnmp_priv p;
	struct csnmp_table t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->c.name = "sw";
	f->p.c = &f->c;
	f->p.addr = "10.1.0.2";
	f->p.version = SNMP_VERSION_2c;
	f->p.max_reps = 25;
	f->t.cols = cols;
	f->t.ncols = 2;
	f->t.what = "ifTable";
	csnmp_table_begin(&f->t, &f->p);
	/* as if csnmp_table_send had asked both columns */
	f->t.nsent = 2;
	f->t.sent[0] = 0;
	f->t.sent[1] = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	csnmp_table_free(&f->t);
	csnmp_missing_clear(&f->p);
	free(f);
	return 0;
}

static netsnmp_pdu *resp_new(void)
{
	netsnmp_pdu *r = snmp_pdu_create(SNMP_MSG_RESPONSE);

	assert_non_null(r);
	/* a PDU made here starts with "default" (-1) error fields */
	r->errstat = SNMP_ERR_NOERROR;
	r->errindex = 0;
	return r;
}

/* column `n` of ifTable, row `idx` */
static void add_int(netsnmp_pdu *r, oid n, oid idx, long v)
{
	oid name[] = {1, 3, 6, 1, 2, 1, 2, 2, 1, n, idx};

	snmp_pdu_add_variable(r, name, 11, ASN_INTEGER, &v, sizeof(v));
}

static void add_str(netsnmp_pdu *r, oid n, oid idx, const char *s)
{
	oid name[] = {1, 3, 6, 1, 2, 1, 2, 2, 1, n, idx};

	snmp_pdu_add_variable(r, name, 11, ASN_OCTET_STR, s, strlen(s));
}

static void add_oid_null(netsnmp_pdu *r, const oid *name, size_t len, u_char type)
{
	snmp_pdu_add_variable(r, name, len, type, NULL, 0);
}

static void feed(struct fixture *f, netsnmp_pdu *r)
{
	assert_int_equal(csnmp_table_response(&f->p, &f->t, r), 0);
	snmp_free_pdu(r);
	/* the next request asks what is still open */
	f->t.nsent = 0;
	for (size_t k = 0; k < f->t.ncols; k++)
		if (!f->t.st[k].done) {
			f->t.sent[f->t.nsent++] = k;
			if (f->t.one_by_one)
				break;
		}
}

static const struct csnmp_row *row(struct fixture *f, oid idx)
{
	return csnmp_table_row(&f->t, &idx, 1);
}

/* sysUpTime.0 as the answer to the non-repeater sysUpTime */
static void add_uptime(netsnmp_pdu *r, u_long ticks)
{
	oid name[] = {1, 3, 6, 1, 2, 1, 1, 3, 0};

	snmp_pdu_add_variable(r, name, 9, ASN_TIMETICKS, &ticks, sizeof(ticks));
}

static void test_uptime_as_non_repeater_then_the_rows(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	f->p.uptime_sent = 1;
	add_uptime(r, 123456);
	add_str(r, 2, 1, "lo");
	add_int(r, 8, 1, 1);
	feed(f, r);
	assert_int_equal(f->p.uptime.type, ASN_TIMETICKS);
	assert_int_equal(f->p.uptime.v, 123456);
	assert_int_equal(f->p.last_ticks, 123456);
	assert_false(f->p.rebooted);
	assert_false(f->p.uptime_sent);
	assert_int_equal(f->t.nrows, 1);
	assert_string_equal(row(f, 1)->cells[0].str, "lo");
	assert_int_equal(row(f, 1)->cells[1].v, 1);
	assert_false(f->t.done);
}

static void test_a_reboot_in_the_non_repeater_ends_the_walk(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	f->p.nsels = 1; /* ports are polled: the table is read again */
	f->p.have_ticks = 1;
	f->p.last_ticks = 900000;
	f->p.uptime_sent = 1;
	add_uptime(r, 55);
	add_str(r, 2, 1, "lo");
	add_int(r, 8, 1, 1);
	feed(f, r);
	assert_true(f->p.rebooted);
	assert_true(f->p.need_table);
	assert_int_equal(f->p.uptime.v, 55);
	/* no row read before the table is */
	assert_true(f->t.done);
	assert_int_equal(f->t.nrows, 0);
}

static void test_a_device_mixing_up_the_non_repeater_is_asked_by_get(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	/* as if it had taken sysUpTime for a column: lo's row comes first */
	f->p.uptime_walk = 1;
	f->p.uptime_sent = 1;
	add_str(r, 2, 1, "lo");
	add_int(r, 8, 1, 1);
	add_str(r, 2, 2, "eth0");
	feed(f, r);
	assert_true(f->p.uptime_by_get);
	assert_false(f->p.uptime_walk);
	assert_int_equal(f->p.uptime.type, 0);
	assert_non_null(f->p.missing);
	assert_non_null(strstr(f->p.missing, "sysUpTime"));
	/* nothing of that answer is taken; the columns are asked again */
	assert_int_equal(f->t.nrows, 0);
	assert_false(f->t.done);
	assert_int_equal(f->t.nsent, 2);
}

static void test_an_error_naming_a_column_after_the_non_repeater(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	f->t.reps = 1; /* one row per request, as after an error of a GETBULK of many */
	f->p.uptime_sent = 1;
	r->errstat = SNMP_ERR_GENERR;
	r->errindex = 3; /* sysUpTime, ifDescr, ifOperStatus: the second column */
	feed(f, r);
	assert_int_equal(f->t.st[1].err, SNMP_ERR_GENERR);
	assert_false(f->t.st[0].done);
	r = resp_new();
	f->p.uptime_walk = 1;
	f->p.uptime_sent = 1;
	r->errstat = SNMP_ERR_GENERR;
	r->errindex = 1; /* sysUpTime itself: only it is lost */
	feed(f, r);
	assert_true(f->p.uptime_by_get);
	assert_false(f->p.uptime_walk);
	assert_false(f->t.st[0].done);
	assert_int_equal(f->t.st[0].err, 0);
}

static void test_rows_by_index_until_each_column_leaves_its_subtree(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();
	oid past[] = {1, 3, 6, 1, 2, 1, 2, 2, 1, 9, 1};

	/* GETBULK answers interleave the columns: descr.1 oper.1 descr.2 oper.2 */
	add_str(r, 2, 1, "lo");
	add_int(r, 8, 1, 1);
	add_str(r, 2, 2, "eth0");
	add_int(r, 8, 2, 2);
	feed(f, r);
	assert_false(f->t.done);
	r = resp_new();
	/* descr ends in oper's column, oper leaves for column 9 */
	add_int(r, 8, 1, 1);
	add_oid_null(r, past, 11, ASN_INTEGER);
	feed(f, r);
	assert_true(f->t.done);
	assert_false(f->t.cut);
	assert_int_equal(f->t.nrows, 2);
	assert_string_equal(row(f, 1)->cells[0].str, "lo");
	assert_int_equal(row(f, 2)->cells[1].v, 2);
	assert_string_equal(row(f, 2)->cells[0].str, "eth0");
	assert_null(row(f, 3));
}

static void test_a_column_that_repeats_or_goes_back_is_cut(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	add_str(r, 2, 5, "Gi0/5");
	add_int(r, 8, 5, 1);
	feed(f, r);
	r = resp_new();
	add_str(r, 2, 5, "Gi0/5"); /* the same row again */
	add_int(r, 8, 3, 1);       /* backwards */
	feed(f, r);
	assert_true(f->t.done);
	assert_true(f->t.cut);
	assert_int_equal(f->t.nrows, 1);
}

static void test_an_error_on_one_column_ends_that_column_only(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	/* one row per request, as after an error of a GETBULK of many (below) */
	f->t.reps = 1;
	add_str(r, 2, 1, "lo");
	add_int(r, 8, 1, 1);
	r->errstat = SNMP_ERR_GENERR;
	r->errindex = 2;
	feed(f, r);
	assert_int_equal(f->t.st[1].err, SNMP_ERR_GENERR);
	assert_true(f->t.st[1].done);
	assert_false(f->t.st[0].done);
	assert_int_equal(f->t.nsent, 1);
	r = resp_new();
	add_str(r, 2, 1, "lo");
	add_str(r, 2, 2, "eth0");
	feed(f, r);
	r = resp_new();
	add_oid_null(r, cols[1].base, cols[1].len, SNMP_ENDOFMIBVIEW);
	feed(f, r);
	assert_true(f->t.done);
	assert_int_equal(f->t.errors, 1);
	assert_int_equal(f->t.nrows, 2);
	assert_int_equal(row(f, 2)->cells[1].type, 0);
}

static void test_an_error_naming_no_varbind_asks_one_column_at_a_time(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	f->t.reps = 1;
	r->errstat = SNMP_ERR_NOACCESS;
	r->errindex = 0;
	feed(f, r);
	assert_true(f->t.one_by_one);
	assert_int_equal(f->t.nsent, 1);
	assert_false(f->t.done);
}

/*
 * snmpsim's variation/error device: a GETBULK of 25 rows of ifDescr runs
 * past the column's one row into ifPhysAddress, which the device refuses
 * (noAccess): the whole answer is that error, naming the first varbind.
 * Asked again one row at a time, the walk keeps ifDescr.1, and the error
 * ends ifDescr only after it.
 */
static void test_an_error_past_a_column_end_keeps_its_rows(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();
	oid past[] = {1, 3, 6, 1, 2, 1, 2, 2, 1, 9, 1};

	r->errstat = SNMP_ERR_NOACCESS;
	r->errindex = 1;
	feed(f, r);
	assert_int_equal(f->t.reps, 1);
	assert_false(f->t.st[0].done);
	assert_false(f->t.st[1].done);
	assert_int_equal(f->t.errors, 0);
	assert_int_equal(f->t.nsent, 2);
	r = resp_new();
	add_str(r, 2, 1, "eth0");
	add_int(r, 8, 1, 1);
	feed(f, r);
	r = resp_new();
	r->errstat = SNMP_ERR_NOACCESS;
	r->errindex = 1;
	feed(f, r);
	assert_true(f->t.st[0].done);
	assert_int_equal(f->t.st[0].err, SNMP_ERR_NOACCESS);
	assert_false(f->t.st[1].done);
	r = resp_new();
	add_oid_null(r, past, 11, ASN_INTEGER);
	feed(f, r);
	assert_true(f->t.done);
	assert_int_equal(f->t.nrows, 1);
	assert_string_equal(row(f, 1)->cells[0].str, "eth0");
	assert_int_equal(row(f, 1)->cells[1].v, 1);
}

static void test_a_truncated_answer_asks_one_column_at_a_time(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	add_str(r, 2, 1, "lo"); /* oper's varbind left out */
	feed(f, r);
	assert_true(f->t.one_by_one);
	assert_int_equal(f->t.nrows, 1);
	assert_false(f->t.done);
}

static void test_v1_no_such_name_is_the_end_of_a_column(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	f->p.version = SNMP_VERSION_1;
	r->errstat = SNMP_ERR_NOSUCHNAME;
	r->errindex = 1;
	feed(f, r);
	assert_true(f->t.st[0].done);
	assert_int_equal(f->t.st[0].err, 0);
	assert_int_equal(f->t.errors, 0);
	assert_false(f->t.done);
}

static void test_rows_past_the_bound_are_cut(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r;

	f->t.max_rows = 3;
	r = resp_new();
	for (oid i = 1; i <= 5; i++) {
		add_str(r, 2, i, "x");
		add_int(r, 8, i, 1);
	}
	feed(f, r);
	assert_true(f->t.done);
	assert_true(f->t.cut);
	assert_int_equal(f->t.nrows, 3);
}

static void test_an_answer_without_progress_ends_the_walk(void **state)
{
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();

	feed(f, r); /* no varbinds at all */
	assert_true(f->t.one_by_one);
	r = resp_new();
	feed(f, r);
	assert_true(f->t.done);
}

/* A GETBULK that timed out after answers: the device's next walks ask half the rows, down to one. */
static void test_a_timed_out_getbulk_halves_the_rows_of_the_next_walks(void **state)
{
	struct fixture *f = *state;
	unsigned want[] = {12, 6, 3, 1, 1};

	f->p.table_refresh = 3600;
	assert_int_equal(f->t.reps, 25);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		csnmp_reps_timed_out(&f->p, f->t.reps);
		csnmp_table_begin(&f->t, &f->p);
		assert_int_equal(f->t.reps, want[i]);
	}
	/* no step back up before table_refresh has passed without a timeout */
	csnmp_reps_climb(&f->p);
	assert_int_equal(csnmp_reps(&f->p), 1);
	/* then one doubling per table_refresh, never past max_repetitions */
	f->p.table_refresh = 0;
	csnmp_reps_climb(&f->p);
	assert_int_equal(csnmp_reps(&f->p), 2);
	for (int i = 0; i < 10; i++)
		csnmp_reps_climb(&f->p);
	assert_int_equal(csnmp_reps(&f->p), 25);
	/* a walk halved by tooBig within the run halves from what it sent */
	csnmp_reps_timed_out(&f->p, 8);
	assert_int_equal(csnmp_reps(&f->p), 4);
}

/*
 * Bytes a device sends in ifDescr (as in ifName, ifAlias and table names)
 * become the name of a file and of a page: well-formed UTF-8, whatever came.
 */
static void test_names_from_a_device_are_utf8(void **state)
{
	static const struct {
		const char *sent;
		size_t len;
		const char *kept;
	} cases[] = {
	    {"Gi0/1", 5, "Gi0/1"},
	    {"Troms\xc3\xb8 \xc3\x85rsta \xe2\x9c\x93 \xf0\x9d\x84\x9e", 23, "Tromsø Årsta ✓ 𝄞"},
	    {"\xd8rland-sw1", 10, "?rland-sw1"}, /* Latin-1: a lead byte without its tail */
	    {"Gi0/\xff\xfe", 6, "Gi0/??"},       /* never in UTF-8 */
	    {"port\x80\xbf", 6, "port??"},       /* continuation bytes alone */
	    {"\xc0\xaf\xc1\xbf", 4, "????"},     /* overlong '/' and DEL */
	    {"\xe0\x80\xaf|\xf0\x80\x80\xaf", 8, "???|????"}, /* overlong in 3 and 4 bytes */
	    {"\xed\xa0\x80\xed\xbf\xbf", 6, "??????"},        /* UTF-16 surrogates */
	    {"\xf4\x90\x80\x80|\xf5\x80", 7, "????|??"},      /* past U+10FFFF */
	    {"eth0\xe2\x82", 6, "eth0??"},                    /* a character cut by the device */
	    {"a\tb\r\nc\x1b[2Jd\x7f", 12, "a?b??c?[2Jd?"},    /* C0 controls and DEL */
	    {"x\xc2\x85y\xc2\xa0z", 7, "x?y\xc2\xa0z"},       /* C1 NEL; NO-BREAK SPACE kept */
	    {"mid\0dle", 7, "mid"},                           /* a NUL ends it, as in C */
	    {"\0\x12yb\xf9@", 6, ""},                         /* a binary value: no name */
	    {"lo\0\0", 4, "lo"},                              /* a DisplayString's trailing NULs */
	};
	struct fixture *f = *state;
	netsnmp_pdu *r = resp_new();
	char longname[300];

	f->t.nsent = 1; /* ifDescr alone */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		oid name[] = {1, 3, 6, 1, 2, 1, 2, 2, 1, 2, (oid)i + 1};

		snmp_pdu_add_variable(r, name, 11, ASN_OCTET_STR, cases[i].sent, cases[i].len);
	}
	/* 254 bytes then 'ø': cut before the character, not inside it */
	memset(longname, 'x', 254);
	memcpy(longname + 254, "\xc3\xb8yz", 4);
	{
		oid name[] = {1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 99};

		snmp_pdu_add_variable(r, name, 11, ASN_OCTET_STR, longname, 258);
	}
	feed(f, r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct csnmp_row *w = row(f, (oid)i + 1);

		assert_non_null(w);
		assert_string_equal(w->cells[0].str, cases[i].kept);
		assert_int_equal(w->cells[0].v, strlen(cases[i].kept));
	}
	assert_int_equal(strlen(row(f, 99)->cells[0].str), 254);
	assert_int_equal(row(f, 99)->cells[0].str[253], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rows_by_index_until_each_column_leaves_its_subtree,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_column_that_repeats_or_goes_back_is_cut, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_an_error_on_one_column_ends_that_column_only,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_an_error_naming_no_varbind_asks_one_column_at_a_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_error_past_a_column_end_keeps_its_rows, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_truncated_answer_asks_one_column_at_a_time,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_no_such_name_is_the_end_of_a_column, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rows_past_the_bound_are_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_answer_without_progress_ends_the_walk, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_uptime_as_non_repeater_then_the_rows, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_reboot_in_the_non_repeater_ends_the_walk, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_device_mixing_up_the_non_repeater_is_asked_by_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_error_naming_a_column_after_the_non_repeater,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_timed_out_getbulk_halves_the_rows_of_the_next_walks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_names_from_a_device_are_utf8, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
