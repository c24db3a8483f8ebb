/*
 * test_snmp_ber.c - the agent's own reader of v1/v2c answers (snmp_ber.c):
 * every value type a device sends reads as net-snmp reads it (each answer
 * here goes through snmp_pdu_parse too, and the two must agree; an empty
 * OID, which net-snmp counts as one sub-identifier, is two), and
 * malformed answers (cut anywhere, numbers too long, OIDs too long or too
 * large, unknown types, indefinite lengths, requests instead of answers) are
 * refused without reading past their end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "snmp.h"

/* ---- a small BER writer for the answers ---- */

struct buf {
	u_char b[4096];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	if (n > 0) /* an empty value comes as NULL: memcpy must not be given it */
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void tlv(struct buf *b, u_char tag, const void *v, size_t n)
{
	u_char h[4];
	size_t hn = 0;

	h[hn++] = tag;
	if (n < 128) {
		h[hn++] = (u_char)n;
	} else {
		h[hn++] = 0x82; /* long form, as big agents write it */
		h[hn++] = (u_char)(n >> 8);
		h[hn++] = (u_char)n;
	}
	put(b, h, hn);
	put(b, v, n);
}

static void oid_enc(struct buf *b, const oid *o, size_t n)
{
	u_char v[256];
	size_t k = 0;

	for (size_t i = 1; i < n; i++) {
		unsigned long s = i == 1 ? o[0] * 40 + o[1] : o[i];
		u_char t[5];
		int m = 0;

		do {
			t[m++] = s & 0x7f;
			s >>= 7;
		} while (s);
		while (m > 0) {
			m--;
			v[k++] = t[m] | (m > 0 ? 0x80 : 0);
		}
	}
	tlv(b, ASN_OBJECT_ID, v, k);
}

static void varbind(struct buf *list, const oid *name, size_t n, u_char type, const void *v,
		    size_t vn)
{
	struct buf vb = {.n = 0};

	oid_enc(&vb, name, n);
	tlv(&vb, type, v, vn);
	tlv(list, ASN_SEQUENCE | ASN_CONSTRUCTOR, vb.b, vb.n);
}

/* A whole message: version, community, a PDU of `cmd` holding the varbind list. */
static void message(struct buf *m, long version, u_char cmd, const struct buf *list)
{
	struct buf pdu = {.n = 0}, body = {.n = 0};
	u_char ver = (u_char)version, reqid[2] = {0x12, 0x34}, zero = 0;

	tlv(&pdu, ASN_INTEGER, reqid, 2);
	tlv(&pdu, ASN_INTEGER, &zero, 1);
	tlv(&pdu, ASN_INTEGER, &zero, 1);
	tlv(&pdu, ASN_SEQUENCE | ASN_CONSTRUCTOR, list->b, list->n);
	tlv(&body, ASN_INTEGER, &ver, 1);
	tlv(&body, ASN_OCTET_STR, "public", 6);
	tlv(&body, cmd, pdu.b, pdu.n);
	m->n = 0;
	tlv(m, ASN_SEQUENCE | ASN_CONSTRUCTOR, body.b, body.n);
}

/* ---- reading ---- */

struct fixture {
	struct check c;
	struct csnmp_priv p;
	netsnmp_session s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	csnmp_lib_init();
	f->c.name = "sw";
	f->p.c = &f->c;
	f->p.addr = "10.1.0.2";
	f->p.version = SNMP_VERSION_2c;
	f->s.version = SNMP_VERSION_2c;
	f->s.myvoid = &f->p;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->p.rx);
	free(f);
	return 0;
}

/* The hook on a copy of m (the copy's end is the message's end for valgrind and ASan). */
static int parse(struct fixture *f, const struct buf *m, netsnmp_pdu *pdu)
{
	u_char *copy = malloc(m->n ? m->n : 1);
	int r;

	memcpy(copy, m->b, m->n);
	r = csnmp_ber_parse(&f->s, pdu, copy, m->n);
	free(copy);
	return r;
}

/* net-snmp's reading of the PDU in message m, into ref. */
static void ref_parse(struct buf *m, netsnmp_pdu *ref)
{
	/* the message's header (its length in 1, 2 or 3 bytes), version, community */
	size_t off = 2 + (m->b[1] & 0x80 ? m->b[1] & 0x7f : 0) + 3 + 8, len;

	assert_int_equal(m->b[off], SNMP_MSG_RESPONSE);
	len = m->n - off;
	assert_int_equal(snmp_pdu_parse(ref, m->b + off, &len), 0);
}

/* Every varbind of p->rx read; the count, or -1 when one is malformed. */
static int read_all(struct fixture *f, const netsnmp_pdu *pdu)
{
	struct csnmp_vbs it;
	const netsnmp_variable_list *vb;
	int n = 0, r;

	csnmp_vbs_begin(&it, f->p.rx, f->p.rxlen, pdu);
	while ((r = csnmp_vbs_next(&it, &vb)) > 0)
		n++;
	if (r < 0) {
		assert_non_null(it.why);
		return -1;
	}
	return n;
}

static void test_values_read_as_net_snmp_reads_them(void **state)
{
	struct fixture *f = *state;
	static const oid base[] = {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1};
	static const oid big[] = {1, 3, 6, 1, 4, 1, 9, 9, 4294967295UL, 128, 16383, 16384, 0};
	static const oid two[] = {2, 999, 3};
	struct buf list = {.n = 0}, m;
	u_char i1[] = {0x7f}, ineg[] = {0xff, 0x85}, i8[] = {0x80, 0, 0, 0, 0, 0, 0, 1};
	u_char c32[] = {0x00, 0xff, 0xff, 0xff, 0xff}, g[] = {0x01, 0x00},
	       tt[] = {0x12, 0x34, 0x56};
	u_char c64[] = {0x00, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88}, c64s[] = {0x05};
	u_char c32long[] = {0x01, 0x02, 0x03, 0x04, 0x05}, ip[] = {10, 1, 0, 2};
	u_char oidv[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x89, 0x00};
	char longstr[300];
	netsnmp_pdu *pdu = snmp_pdu_create(0), *ref = snmp_pdu_create(0);
	struct csnmp_vbs it;
	const netsnmp_variable_list *vb, *rv;
	int n = 0, r;

	memset(longstr, 'x', sizeof(longstr));
	varbind(&list, base, 12, ASN_INTEGER, i1, sizeof(i1));
	varbind(&list, base, 12, ASN_INTEGER, ineg, sizeof(ineg));
	varbind(&list, base, 12, ASN_INTEGER, i8, sizeof(i8));
	varbind(&list, base, 12, ASN_COUNTER, c32, sizeof(c32));
	varbind(&list, base, 12, ASN_COUNTER, c32long, sizeof(c32long)); /* the low 32 bits kept */
	varbind(&list, base, 12, ASN_GAUGE, g, sizeof(g));
	varbind(&list, base, 12, ASN_TIMETICKS, tt, sizeof(tt));
	varbind(&list, base, 12, ASN_COUNTER64, c64, sizeof(c64));
	varbind(&list, base, 12, ASN_COUNTER64, c64s, sizeof(c64s));
	varbind(&list, base, 12, ASN_OCTET_STR, "Gi1/0/1", 7);
	varbind(&list, base, 12, ASN_OCTET_STR, "", 0);
	varbind(&list, base, 12, ASN_OCTET_STR, longstr, sizeof(longstr));
	varbind(&list, base, 12, ASN_IPADDRESS, ip, sizeof(ip));
	varbind(&list, base, 12, ASN_OBJECT_ID, oidv, sizeof(oidv));
	varbind(&list, big, 13, ASN_NULL, NULL, 0);
	varbind(&list, two, 3, SNMP_NOSUCHOBJECT, NULL, 0);
	varbind(&list, base, 12, SNMP_NOSUCHINSTANCE, NULL, 0);
	varbind(&list, base, 12, SNMP_ENDOFMIBVIEW, NULL, 0);
	message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
	assert_int_equal(parse(f, &m, pdu), 0);
	assert_int_equal(pdu->command, SNMP_MSG_RESPONSE);
	assert_int_equal(pdu->reqid, 0x1234);
	assert_true(pdu->flags & UCD_MSG_FLAG_RESPONSE_PDU);
	assert_int_equal(f->p.rxlen, list.n); /* the list's contents, kept as sent */

	/* net-snmp's reading of the same PDU */
	ref_parse(&m, ref);

	csnmp_vbs_begin(&it, f->p.rx, f->p.rxlen, pdu);
	rv = ref->variables;
	while ((r = csnmp_vbs_next(&it, &vb)) > 0) {
		assert_non_null(rv);
		assert_int_equal(vb->type, rv->type);
		assert_int_equal(vb->name_length, rv->name_length);
		assert_memory_equal(vb->name, rv->name, vb->name_length * sizeof(oid));
		switch (vb->type) {
		case ASN_INTEGER:
		case ASN_COUNTER:
		case ASN_GAUGE:
		case ASN_TIMETICKS:
			assert_int_equal(*vb->val.integer, *rv->val.integer);
			break;
		case ASN_COUNTER64:
			assert_int_equal(vb->val.counter64->high, rv->val.counter64->high);
			assert_int_equal(vb->val.counter64->low, rv->val.counter64->low);
			break;
		case ASN_OCTET_STR:
		case ASN_IPADDRESS:
			assert_int_equal(vb->val_len, rv->val_len);
			if (vb->val_len > 0)
				assert_memory_equal(vb->val.string, rv->val.string, vb->val_len);
			break;
		case ASN_OBJECT_ID:
			assert_int_equal(vb->val_len, rv->val_len);
			assert_memory_equal(vb->val.objid, rv->val.objid, vb->val_len);
			break;
		}
		rv = rv->next_variable;
		n++;
	}
	assert_int_equal(r, 0);
	assert_null(rv);
	assert_int_equal(n, 18);
	snmp_free_pdu(pdu);
	snmp_free_pdu(ref);
}

/*
 * Varbinds of these names (and no value) read as net-snmp reads them; with
 * hint[i] as the column the i-th should be in, which in[i] says it is.
 */
static void names_read_as_net_snmp_reads_them(struct fixture *f, const oid (*names)[14],
					      const size_t *lens, size_t count,
					      const struct csnmp_colhint *hint, const int *in)
{
	struct buf list = {.n = 0}, m;
	netsnmp_pdu *pdu = snmp_pdu_create(0), *ref = snmp_pdu_create(0);
	struct csnmp_vbs it;
	const netsnmp_variable_list *vb, *rv;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < count; i++)
		varbind(&list, names[i], lens[i], ASN_NULL, NULL, 0);
	message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
	assert_int_equal(parse(f, &m, pdu), 0);
	ref_parse(&m, ref);
	csnmp_vbs_begin(&it, f->p.rx, f->p.rxlen, pdu);
	rv = ref->variables;
	for (;;) {
		it.hint = hint != NULL && n < count ? &hint[n] : NULL;
		if ((r = csnmp_vbs_next(&it, &vb)) <= 0)
			break;
		assert_non_null(rv);
		assert_int_equal(vb->name_length, rv->name_length);
		assert_memory_equal(vb->name, rv->name, vb->name_length * sizeof(oid));
		assert_int_equal(vb->name_length, lens[n]);
		assert_memory_equal(vb->name, names[n], lens[n] * sizeof(oid));
		if (in != NULL)
			assert_int_equal(it.in_col, in[n]);
		rv = rv->next_variable;
		n++;
	}
	assert_int_equal(r, 0);
	assert_null(rv);
	assert_int_equal(n, count);
	snmp_free_pdu(pdu);
	snmp_free_pdu(ref);
}

/*
 * Names that share bytes with the name before them (read from where they
 * differ) come out as net-snmp reads them: a sub-identifier of several
 * bytes that differs in its last one, a shorter name, a longer one, the
 * same name twice, and one that differs in its first sub-identifier.
 */
static void test_names_sharing_bytes_read_as_net_snmp_reads_them(void **state)
{
	struct fixture *f = *state;
	static const oid names[][14] = {
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 2},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 2},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 10101},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 10102},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 10230},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 10230, 4294967295UL, 7},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 127, 1},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 128, 1},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 5},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 5},
	    {2, 999, 3},
	    {2, 1000, 3},
	    {1, 3},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 5},
	};
	static const size_t lens[] = {12, 12, 12, 12, 12, 12, 14, 11, 13, 13, 11, 11, 3, 3, 2, 11};

	names_read_as_net_snmp_reads_them(f, names, lens, sizeof(lens) / sizeof(lens[0]), NULL,
					  NULL);
}

/*
 * Names read knowing the column each should be in, as a walk reads them,
 * come out as net-snmp reads them, and are said to be in that column
 * exactly when they begin with it and are longer: in it (a row of one
 * sub-identifier, of several, of one above 127), in another column, the
 * column itself, before it, and another table's; the columns hinted in
 * turn share some of their first sub-identifiers, or none.
 */
static void test_names_read_by_their_column_as_net_snmp_reads_them(void **state)
{
	struct fixture *f = *state;
	static const oid cols[][11] = {
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8},
	    {1, 3, 6, 1, 4, 1, 2021, 10, 1, 3},
	};
	static const size_t col_len[] = {11, 11, 10, 10};
	static const oid names[][14] = {
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 1},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 1},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 10101},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10, 10101, 4294967295UL, 7},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 128},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 7, 1},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 200},
	    {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 2},
	    {1, 3, 6, 1, 4, 1, 2021, 10, 1, 3, 1},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 2},
	    {1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 3},
	    {1, 3, 6, 1, 4, 1, 2021, 10, 1, 3, 2},
	};
	static const size_t lens[] = {12, 12, 11, 12, 14, 11, 12, 11, 11, 12, 11, 11, 11, 11};
	/* the column each should be in, and whether it is */
	static const int col_of[] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 3, 2, 2, 3};
	static const int in[] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1};
	size_t count = sizeof(lens) / sizeof(lens[0]);
	u_char ber[4][CSNMP_COL_OID_MAX * 5];
	struct csnmp_colhint hint[sizeof(lens) / sizeof(lens[0])];

	for (size_t c = 0; c < 4; c++)
		assert_true(csnmp_ber_oid_put(ber[c], sizeof(ber[c]), cols[c], col_len[c]) > 0);
	for (size_t i = 0; i < count; i++) {
		const oid *a = cols[col_of[i > 0 ? i - 1 : count - 1]], *b = cols[col_of[i]];
		size_t la = col_len[col_of[i > 0 ? i - 1 : count - 1]], lb = col_len[col_of[i]];

		hint[i].ber = ber[col_of[i]];
		hint[i].blen = csnmp_ber_oid_put(ber[col_of[i]], sizeof(ber[0]), b, lb);
		hint[i].col = b;
		hint[i].len = lb;
		hint[i].prev = a;
		for (hint[i].keep = 0; hint[i].keep < la && hint[i].keep < lb; hint[i].keep++)
			if (a[hint[i].keep] != b[hint[i].keep])
				break;
	}
	names_read_as_net_snmp_reads_them(f, names, lens, count, hint, in);
}

/* A message cut anywhere is refused whole, or its varbinds are; nothing reads past its end. */
static void test_cut_anywhere_refused(void **state)
{
	struct fixture *f = *state;
	static const oid name[] = {1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 3};
	u_char c[] = {0x01, 0x02, 0x03};
	struct buf list = {.n = 0}, m, cut;

	for (int i = 0; i < 3; i++)
		varbind(&list, name, 11, ASN_COUNTER, c, sizeof(c));
	message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
	for (size_t n = 0; n < m.n; n++) {
		netsnmp_pdu *pdu = snmp_pdu_create(0);

		memcpy(cut.b, m.b, n);
		cut.n = n;
		assert_int_equal(parse(f, &cut, pdu), -1);
		snmp_free_pdu(pdu);
	}
}

/* The outer lengths are right, a varbind inside is not: the reader says what. */
static void test_malformed_varbinds_refused(void **state)
{
	struct fixture *f = *state;
	static const oid name[] = {1, 3, 6, 1, 2, 1, 1, 3, 0};
	u_char i9[] = {0, 1, 2, 3, 4, 5, 6, 7, 8}, c64x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	u_char c32x[] = {1, 0, 0, 0, 0, 0, 0, 0, 0}, one = 1;
	static const struct {
		const char *what;
		u_char bytes[24];
		size_t n;
	} bad[] = {
	    {"not a SEQUENCE", {0x04, 0x00}, 2},
	    {"name not an OID", {0x30, 0x04, 0x04, 0x00, 0x05, 0x00}, 6},
	    {"indefinite length", {0x30, 0x80, 0x06, 0x01, 0x2b, 0x05, 0x00, 0x00, 0x00}, 9},
	    {"five length bytes", {0x30, 0x85, 0, 0, 0, 0, 4, 0x06, 0x01, 0x2b, 0x05, 0x00}, 12},
	    {"sub-identifier over 32 bits",
	     {0x30, 0x0a, 0x06, 0x06, 0x2b, 0x90, 0x80, 0x80, 0x80, 0x00, 0x05, 0x00},
	     12},
	    {"sub-identifier cut", {0x30, 0x06, 0x06, 0x02, 0x2b, 0x81, 0x05, 0x00}, 8},
	    {"value followed by more", {0x30, 0x07, 0x06, 0x01, 0x2b, 0x05, 0x00, 0x05, 0x00}, 9},
	    {"unknown type", {0x30, 0x05, 0x06, 0x01, 0x2b, 0x07, 0x00}, 7},
	    {"high tag number", {0x30, 0x06, 0x06, 0x01, 0x2b, 0x1f, 0x01, 0x00}, 8},
	    {"NULL with contents", {0x30, 0x06, 0x06, 0x01, 0x2b, 0x05, 0x01, 0x00}, 8},
	    {"empty INTEGER", {0x30, 0x05, 0x06, 0x01, 0x2b, 0x02, 0x00}, 7},
	    {"value cut", {0x30, 0x06, 0x06, 0x01, 0x2b, 0x04, 0x05, 0x41}, 8},
	};
	u_char longoid[140];
	struct buf list, m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		netsnmp_pdu *pdu = snmp_pdu_create(0);

		list.n = 0;
		put(&list, bad[i].bytes, bad[i].n);
		message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
		assert_int_equal(parse(f, &m, pdu), 0);
		if (read_all(f, pdu) != -1)
			fail_msg("accepted: %s", bad[i].what);
		snmp_free_pdu(pdu);
	}
	/* numbers longer than their type */
	struct {
		u_char type;
		const u_char *v;
		size_t n;
	} big[] = {{ASN_INTEGER, i9, 9}, {ASN_COUNTER64, c64x, 9}, {ASN_COUNTER, c32x, 9}};
	for (size_t i = 0; i < 3; i++) {
		netsnmp_pdu *pdu = snmp_pdu_create(0);

		list.n = 0;
		varbind(&list, name, 9, ASN_INTEGER, &one, 1);
		varbind(&list, name, 9, big[i].type, big[i].v, big[i].n);
		message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
		assert_int_equal(parse(f, &m, pdu), 0);
		assert_int_equal(read_all(f, pdu), -1);
		snmp_free_pdu(pdu);
	}
	/* an OID of 129 sub-identifiers: one more than net-snmp's MAX_OID_LEN */
	{
		netsnmp_pdu *pdu = snmp_pdu_create(0);
		struct buf vb = {.n = 0};

		memset(longoid, 0x01, sizeof(longoid));
		longoid[0] = 0x2b;
		tlv(&vb, ASN_OBJECT_ID, longoid, MAX_OID_LEN);
		tlv(&vb, ASN_NULL, NULL, 0);
		list.n = 0;
		tlv(&list, ASN_SEQUENCE | ASN_CONSTRUCTOR, vb.b, vb.n);
		message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
		assert_int_equal(parse(f, &m, pdu), 0);
		assert_int_equal(read_all(f, pdu), -1);
		snmp_free_pdu(pdu);
		/* 128 fit */
		pdu = snmp_pdu_create(0);
		vb.n = 0;
		tlv(&vb, ASN_OBJECT_ID, longoid, MAX_OID_LEN - 1);
		tlv(&vb, ASN_NULL, NULL, 0);
		list.n = 0;
		tlv(&list, ASN_SEQUENCE | ASN_CONSTRUCTOR, vb.b, vb.n);
		message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
		assert_int_equal(parse(f, &m, pdu), 0);
		assert_int_equal(read_all(f, pdu), 1);
		snmp_free_pdu(pdu);
	}
}

/* Only an answer of the session's version is taken; a request or trap is dropped. */
static void test_other_versions_and_pdus_dropped(void **state)
{
	struct fixture *f = *state;
	struct buf list = {.n = 0}, m;
	netsnmp_pdu *pdu = snmp_pdu_create(0);

	message(&m, SNMP_VERSION_1, SNMP_MSG_RESPONSE, &list);
	assert_int_equal(parse(f, &m, pdu), -1);
	message(&m, SNMP_VERSION_2c, SNMP_MSG_GET, &list);
	assert_int_equal(parse(f, &m, pdu), -1);
	message(&m, SNMP_VERSION_2c, SNMP_MSG_TRAP2, &list);
	assert_int_equal(parse(f, &m, pdu), -1);
	/* an empty answer is an answer: no varbinds */
	message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
	assert_int_equal(parse(f, &m, pdu), 0);
	assert_int_equal(read_all(f, pdu), 0);
	snmp_free_pdu(pdu);
}

/*
 * An empty OBJECT IDENTIFIER (06 00), as a name and as a value: the agent
 * reads 0.0, two sub-identifiers; net-snmp writes 0.0 but counts one, the
 * OID "0". The one place where the two readings differ, on purpose.
 */
static void test_an_empty_oid_reads_as_0_0(void **state)
{
	struct fixture *f = *state;
	static const oid base[] = {1, 3, 6, 1, 2, 1, 1, 2, 0};
	struct buf list = {.n = 0}, vb = {.n = 0}, m;
	netsnmp_pdu *pdu = snmp_pdu_create(0), *ref = snmp_pdu_create(0);
	struct csnmp_vbs it;
	const netsnmp_variable_list *v;

	varbind(&list, base, 9, ASN_OBJECT_ID, NULL, 0); /* sysObjectID.0 = 06 00 */
	tlv(&vb, ASN_OBJECT_ID, NULL, 0);                /* a name of 06 00 */
	tlv(&vb, ASN_NULL, NULL, 0);
	tlv(&list, ASN_SEQUENCE | ASN_CONSTRUCTOR, vb.b, vb.n);
	message(&m, SNMP_VERSION_2c, SNMP_MSG_RESPONSE, &list);
	assert_int_equal(parse(f, &m, pdu), 0);
	ref_parse(&m, ref);

	csnmp_vbs_begin(&it, f->p.rx, f->p.rxlen, pdu);
	assert_int_equal(csnmp_vbs_next(&it, &v), 1);
	assert_int_equal(v->type, ASN_OBJECT_ID);
	assert_int_equal(v->val_len, 2 * sizeof(oid));
	assert_int_equal(v->val.objid[0], 0);
	assert_int_equal(v->val.objid[1], 0);
	assert_int_equal(ref->variables->val_len, sizeof(oid));
	assert_int_equal(ref->variables->val.objid[0], 0);

	assert_int_equal(csnmp_vbs_next(&it, &v), 1);
	assert_int_equal(v->type, ASN_NULL);
	assert_int_equal(v->name_length, 2);
	assert_int_equal(v->name[0], 0);
	assert_int_equal(v->name[1], 0);
	assert_int_equal(ref->variables->next_variable->name_length, 1);
	assert_int_equal(ref->variables->next_variable->name[0], 0);
	assert_int_equal(csnmp_vbs_next(&it, &v), 0);
	snmp_free_pdu(pdu);
	snmp_free_pdu(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_values_read_as_net_snmp_reads_them, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_names_sharing_bytes_read_as_net_snmp_reads_them,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_names_read_by_their_column_as_net_snmp_reads_them,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cut_anywhere_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_varbinds_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_versions_and_pdus_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_empty_oid_reads_as_0_0, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
