/*
 * test_dns_wire.c - the DNS probe's query builder and answer parser: the
 * bytes of a query, answers of every type as text, and the malformed
 * answers a broken or hostile server may send (compression loops, pointers
 * forward, short packets, data past the record, a wrong id or question)
 * refused with a reason, never read beyond the packet.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_wire.h"

/* An answer under construction: the query's header and question, then records. */
struct msg {
	uint8_t b[2048];
	size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put16(struct msg *m, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(m, b, 2);
}

/* The answer to a query of id 0x1234 for name/type, rcode, ancount records to come. */
static void answer_start(struct msg *m, const char *name, int type, int rcode, unsigned ancount)
{
	const char *why = NULL;
	int n = dns_query_build(m->b, sizeof(m->b), 0x1234, name, type, &why);

	assert_true(n > 0);
	m->n = (size_t)n;
	m->b[2] |= 0x80; /* QR */
	m->b[3] = (uint8_t)rcode;
	m->b[6] = (uint8_t)(ancount >> 8);
	m->b[7] = (uint8_t)ancount;
}

/* A record owned by the question's name (pointer to byte 12) with raw data. */
static void record(struct msg *m, int type, const void *data, size_t len)
{
	put16(m, 0xc00c);
	put16(m, (unsigned)type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)len);
	put(m, data, len);
}

static enum dns_parse_result parse(const struct msg *m, const char *name, int type,
				   struct dns_response *r, char *why)
{
	return dns_response_parse(m->b, m->n, 0x1234, name, type, r, why, 160);
}

static void test_dns_query_bytes(void **state)
{
	static const uint8_t want[] = {0xbe, 0xef, 0x01, 0x00, 0,   1, 0,   0,   0,   0,   0,
				       0,    3,    'w',  'w',  'w', 7, 'k', 'o', 'm', 'm', 'u',
				       'n',  'e',  2,    'n',  'o', 0, 0,   15,  0,   1};
	uint8_t buf[600];
	const char *why = NULL;

	(void)state;
	assert_int_equal(
	    dns_query_build(buf, sizeof(buf), 0xbeef, "www.kommune.no.", DNS_T_MX, &why),
	    sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_dns_query_refuses_bad_names(void **state)
{
	uint8_t buf[600];
	char name[300];
	const char *why = NULL;

	(void)state;
	assert_int_equal(dns_query_build(buf, sizeof(buf), 1, "a..b", DNS_T_A, &why), -1);
	assert_string_equal(why, "the name has an empty label (two dots)");
	assert_int_equal(dns_query_build(buf, sizeof(buf), 1, "", DNS_T_A, &why), -1);
	assert_int_equal(dns_query_build(buf, sizeof(buf), 1, "a b.no", DNS_T_A, &why), -1);
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_int_equal(dns_query_build(buf, sizeof(buf), 1, name, DNS_T_A, &why), -1);
	assert_string_equal(why, "a label of the name is longer than 63 bytes");
	/* 128 labels of one letter: 256 bytes on the wire */
	for (int i = 0; i < 128; i++)
		memcpy(name + 2 * i, "a.", 2);
	name[255] = '\0';
	assert_int_equal(dns_query_build(buf, sizeof(buf), 1, name, DNS_T_A, &why), -1);
	assert_string_equal(why, "the name is longer than 255 bytes");
}

static void test_dns_types_and_rcodes(void **state)
{
	(void)state;
	assert_int_equal(dns_type_parse("aaaa"), DNS_T_AAAA);
	assert_int_equal(dns_type_parse("AXFR"), -1);
	assert_string_equal(dns_type_str(DNS_T_SRV), "SRV");
	assert_string_equal(dns_type_str(99), "TYPE99");
	assert_int_equal(dns_rcode_parse("nxdomain"), 3);
	assert_int_equal(dns_rcode_parse("BOGUS"), -1);
	assert_string_equal(dns_rcode_str(5), "REFUSED");
	assert_string_equal(dns_rcode_str(15), "RCODE15");
}

static void test_dns_reverse_names(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(dns_reverse_name("10.20.0.80", out, sizeof(out)), 0);
	assert_string_equal(out, "80.0.20.10.in-addr.arpa");
	assert_int_equal(dns_reverse_name("2001:db8::1", out, sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
				 "ip6.arpa");
	assert_int_equal(dns_reverse_name("www.kommune.no", out, sizeof(out)), -1);
}

static void test_dns_answers_as_text(void **state)
{
	static const uint8_t a[] = {10, 20, 0, 80};
	/* MX 10, then mx1 + pointer to "kommune.no" at byte 16 */
	static const uint8_t mx[] = {0, 10, 3, 'm', 'x', '1', 0xc0, 16};
	static const uint8_t srv[] = {0, 0, 0, 5, 1, 0x85, 3, 'd', 'c', '1', 0xc0, 16};
	static const uint8_t txt[] = {3, 'o', 'n', 'e', 4, 't', 'w', 'o', 0x07};
	struct dns_response r;
	struct msg m;
	char why[160];

	(void)state;
	answer_start(&m, "www.kommune.no", DNS_T_A, 0, 5);
	record(&m, DNS_T_A, a, sizeof(a));
	record(&m, DNS_T_MX, mx, sizeof(mx));
	record(&m, DNS_T_SRV, srv, sizeof(srv));
	record(&m, DNS_T_TXT, txt, sizeof(txt));
	record(&m, 99, a, 3);
	assert_int_equal(parse(&m, "WWW.Kommune.NO.", DNS_T_A, &r, why), DNS_PARSE_OK);
	assert_int_equal(r.rcode, 0);
	assert_int_equal(r.ancount, 5);
	assert_int_equal(r.matching, 1);
	assert_int_equal(r.ntext, 5);
	assert_string_equal(r.text[0], "10.20.0.80");
	assert_string_equal(r.text[1], "10 mx1.kommune.no.");
	assert_string_equal(r.text[2], "0 5 389 dc1.kommune.no.");
	assert_string_equal(r.text[3], "one two\\007");
	assert_string_equal(r.text[4], "TYPE99 (3 bytes)");
}

static void test_dns_soa_and_nxdomain(void **state)
{
	uint8_t soa[64] = {2, 'n', 's', 0xc0, 12, 4, 'h', 'o', 's', 't', 0xc0, 12};
	struct dns_response r;
	struct msg m;
	char why[160];

	(void)state;
	for (int i = 0; i < 20; i++)
		soa[12 + i] = (uint8_t)(i % 4 == 3 ? 7 : 0);
	answer_start(&m, "kommune.no", DNS_T_SOA, 0, 1);
	record(&m, DNS_T_SOA, soa, 32);
	assert_int_equal(parse(&m, "kommune.no", DNS_T_SOA, &r, why), DNS_PARSE_OK);
	assert_string_equal(r.text[0], "ns.kommune.no. host.kommune.no. 7 7 7 7 7");
	answer_start(&m, "gone.kommune.no", DNS_T_A, 3, 0);
	assert_int_equal(parse(&m, "gone.kommune.no", DNS_T_A, &r, why), DNS_PARSE_OK);
	assert_int_equal(r.rcode, 3);
	assert_int_equal(r.ancount, 0);
}

static void test_dns_compression_loops_are_refused(void **state)
{
	struct dns_response r;
	struct msg m;
	char why[160];
	uint8_t rd[4];

	(void)state;
	/* an owner name that points at itself */
	answer_start(&m, "www.kommune.no", DNS_T_A, 0, 1);
	put16(&m, 0xc000 | (unsigned)m.n);
	put(&m, (const uint8_t[]){0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 0, 0, 1}, 14);
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_A, &r, why), DNS_PARSE_MALFORMED);
	assert_non_null(strstr(why, "loops"));
	/* a pointer forward */
	answer_start(&m, "www.kommune.no", DNS_T_A, 0, 1);
	put16(&m, 0xc000 | (unsigned)(m.n + 2));
	put(&m, (const uint8_t[]){0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 0, 0, 1}, 14);
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_A, &r, why), DNS_PARSE_MALFORMED);
	/* two names pointing at each other: a label, then back to before it */
	answer_start(&m, "www.kommune.no", DNS_T_CNAME, 0, 1);
	rd[0] = 1;
	rd[1] = 'a';
	rd[2] = 0xc0;
	rd[3] = (uint8_t)(m.n + 12); /* the first byte of this data: "a" again */
	record(&m, DNS_T_CNAME, rd, sizeof(rd));
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_CNAME, &r, why), DNS_PARSE_MALFORMED);
}

static void test_dns_short_and_overlong_packets(void **state)
{
	static const uint8_t a[] = {10, 20, 0, 80};
	struct dns_response r;
	struct msg m;
	char why[160];

	(void)state;
	answer_start(&m, "www.kommune.no", DNS_T_A, 0, 1);
	record(&m, DNS_T_A, a, sizeof(a));
	/* every cut of a good answer: never OK with a record, never a read past it */
	for (size_t cut = 0; cut < m.n; cut++) {
		enum dns_parse_result res =
		    dns_response_parse(m.b, cut, 0x1234, "www.kommune.no", DNS_T_A, &r, why, 160);

		assert_int_not_equal(res, DNS_PARSE_OK);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(
	    dns_response_parse(m.b, 5, 0x1234, "www.kommune.no", DNS_T_A, &r, why, 160),
	    DNS_PARSE_OTHER);
	assert_string_equal(why, "a packet of 5 bytes, shorter than a DNS header");
	/* an A record of 5 bytes */
	answer_start(&m, "www.kommune.no", DNS_T_A, 0, 1);
	record(&m, DNS_T_A, (const uint8_t[]){1, 2, 3, 4, 5}, 5);
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_A, &r, why), DNS_PARSE_MALFORMED);
	assert_string_equal(why, "an A record of 5 bytes");
	/* an MX whose name runs on past its data */
	answer_start(&m, "kommune.no", DNS_T_MX, 0, 1);
	record(&m, DNS_T_MX, (const uint8_t[]){0, 10, 3, 'm', 'x', '1', 0}, 5);
	put(&m, (const uint8_t[]){'1', 0}, 2);
	assert_int_equal(parse(&m, "kommune.no", DNS_T_MX, &r, why), DNS_PARSE_MALFORMED);
	/* a TXT string longer than its record */
	answer_start(&m, "kommune.no", DNS_T_TXT, 0, 1);
	record(&m, DNS_T_TXT, (const uint8_t[]){9, 'a', 'b'}, 3);
	assert_int_equal(parse(&m, "kommune.no", DNS_T_TXT, &r, why), DNS_PARSE_MALFORMED);
	assert_string_equal(why, "a TXT string runs past its record");
	/* more records announced than sent */
	answer_start(&m, "www.kommune.no", DNS_T_A, 0, 2);
	record(&m, DNS_T_A, a, sizeof(a));
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_A, &r, why), DNS_PARSE_MALFORMED);
}

static void test_dns_other_answers_are_not_ours(void **state)
{
	struct dns_response r;
	struct msg m;
	char why[160];

	(void)state;
	answer_start(&m, "www.kommune.no", DNS_T_A, 0, 0);
	assert_int_equal(
	    dns_response_parse(m.b, m.n, 0x4321, "www.kommune.no", DNS_T_A, &r, why, sizeof(why)),
	    DNS_PARSE_OTHER);
	assert_string_equal(why, "an answer with id 4660, not 17185");
	assert_int_equal(parse(&m, "www.kommune.se", DNS_T_A, &r, why), DNS_PARSE_OTHER);
	assert_string_equal(why, "an answer to www.kommune.no. A, not to the question asked");
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_AAAA, &r, why), DNS_PARSE_OTHER);
	m.b[2] &= 0x7f; /* a query */
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_A, &r, why), DNS_PARSE_OTHER);
	m.b[2] |= 0x80;
	m.b[5] = 2; /* two questions */
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_A, &r, why), DNS_PARSE_OTHER);
	m.b[5] = 1;
	m.b[2] |= 0x02; /* TC: the records are not read, TCP will bring them */
	m.b[7] = 9;
	assert_int_equal(parse(&m, "www.kommune.no", DNS_T_A, &r, why), DNS_PARSE_OK);
	assert_true(r.truncated);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dns_query_bytes),
	    cmocka_unit_test(test_dns_query_refuses_bad_names),
	    cmocka_unit_test(test_dns_types_and_rcodes),
	    cmocka_unit_test(test_dns_reverse_names),
	    cmocka_unit_test(test_dns_answers_as_text),
	    cmocka_unit_test(test_dns_soa_and_nxdomain),
	    cmocka_unit_test(test_dns_compression_loops_are_refused),
	    cmocka_unit_test(test_dns_short_and_overlong_packets),
	    cmocka_unit_test(test_dns_other_answers_are_not_ours),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
