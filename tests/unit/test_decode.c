/*
 * test_decode.c - what the collector makes of text from the wire before a
 * person sees it: a trap's text, interface and sender with bytes that are
 * not UTF-8 reach the page as '?', never as bytes a mail or JSON reader chokes on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "frame.h"

#define NOW_MS 1764547200000LL /* 2025-12-01 00:00:00 UTC */

static void test_text_keeps_utf8_and_replaces_the_rest(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"Gi0/3 \"Trondheim–Rissa\" ærøå ŋ 𝄞", "Gi0/3 \"Trondheim–Rissa\" ærøå ŋ 𝄞"},
	    {"Gi0/\xff", "Gi0/?"},                  /* never in UTF-8 */
	    {"kj\xf8kken", "kj?kken"},              /* Latin-1 ø */
	    {"\xc3", "?"},                          /* cut before its continuation */
	    {"a\xe2\x80", "a??"},                   /* cut in a three-byte character */
	    {"\xc0\xaf", "??"},                     /* an overlong '/' */
	    {"\xe0\x80\xaf", "???"},                /* overlong in three bytes */
	    {"\xed\xa0\x80", "???"},                /* a UTF-16 surrogate */
	    {"\xf4\x90\x80\x80", "????"},           /* above U+10FFFF */
	    {"\x80x", "?x"},                        /* a continuation alone */
	    {"line\nnext\x1b[2J", "line?next?[2J"}, /* control characters */
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		decode_text_clean(buf, sizeof(buf) - 1);
		assert_string_equal(buf, cases[i].out);
	}
	/* cut at a character boundary, never inside one */
	snprintf(buf, sizeof(buf), "ab\xc3\xa6");
	decode_text_clean(buf, 3);
	assert_string_equal(buf, "ab");
}

/* A linkDown whose ifName and text carry a Latin-1 byte: cleaned before any rule sees it. */
static void test_event_with_bytes_outside_utf8(void **state)
{
	Vakt__Batch b = VAKT__BATCH__INIT;
	Vakt__Event e = VAKT__EVENT__INIT, *pe = &e;
	struct decode_stats st;
	struct event *ev;
	size_t nev;
	char host[] = "sw\xe6", instance[] = "Gi0/\xff",
	     text[] = "ifName.3=\"Gi0/\xff\" ifAlias.3=\"kj\xf8kken\"", source[] = "10.1.0.2:49152";

	(void)state;
	e.host = host;
	e.check = "traps";
	e.instance = instance;
	e.name = "linkDown";
	e.time_ms = NOW_MS;
	e.oid = "1.3.6.1.6.3.1.1.5.3";
	e.text = text;
	e.source = source;
	b.events = &pe;
	b.n_events = 1;
	memset(&st, 0, sizeof(st));
	decode_events(&b, NOW_MS, 10, &ev, &nev, &st);
	assert_int_equal(nev, 1);
	assert_int_equal(st.invalid, 0);
	assert_string_equal(ev[0].host, "sw?");
	assert_string_equal(ev[0].instance, "Gi0/?");
	assert_string_equal(ev[0].text, "ifName.3=\"Gi0/?\" ifAlias.3=\"kj?kken\"");
	free(ev);
}

/* A Hello without a software name keeps protobuf-c's read-only empty string as it is. */
static void test_hello_without_software(void **state)
{
	Vakt__Hello h = VAKT__HELLO__INIT;
	char why[128] = "";

	(void)state;
	h.protocol = VAKT_PROTOCOL;
	h.site = "rissa";
	h.agent = "rissa-1";
	assert_int_equal(decode_hello(&h, why, sizeof(why)), 0);
	assert_string_equal(h.software, "");
	assert_string_equal(why, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_keeps_utf8_and_replaces_the_rest),
	    cmocka_unit_test(test_event_with_bytes_outside_utf8),
	    cmocka_unit_test(test_hello_without_software),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
