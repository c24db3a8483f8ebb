/*
 * fuzz_snmp_ber.c - libFuzzer target for the agent's reader of v1/v2c
 * answers (agent/snmp_ber.c): one UDP payload as a device sends it, through
 * the session's parse hook and then every varbind. Aborts when an accepted
 * varbind breaks what the poller relies on: a name longer than MAX_OID_LEN,
 * a string outside the answer, an error without a reason; or when the
 * varbinds read as a walk reads them, knowing the column each should be in
 * (three in turn), differ from those read without, or one is said to be in
 * a column it is not in. The first byte's low bit picks the session's
 * version (v1 or v2c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* The columns a walk's answer names in turn, as snmp_walk.c hints them. */
static const struct csnmp_col hint_cols[3] = {
    {"ifHCInOctets", {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6}, 11},
    {"ifHCOutOctets", {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10}, 11},
    {"ifOperStatus", {1, 3, 6, 1, 2, 1, 2, 2, 1, 8}, 10},
};

static void hints_make(struct csnmp_colhint h[3], u_char ber[3][CSNMP_COL_OID_MAX * 5])
{
	for (size_t i = 0; i < 3; i++) {
		const struct csnmp_col *a = &hint_cols[(i + 2) % 3], *b = &hint_cols[i];

		h[i].ber = ber[i];
		h[i].blen = csnmp_ber_oid_put(ber[i], sizeof(ber[i]), b->base, b->len);
		h[i].col = b->base;
		h[i].len = b->len;
		h[i].prev = a->base;
		for (h[i].keep = 0; h[i].keep < a->len && h[i].keep < b->len; h[i].keep++)
			if (a->base[h[i].keep] != b->base[h[i].keep])
				break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct csnmp_colhint hint[3];
	static u_char ber[3][CSNMP_COL_OID_MAX * 5];
	struct csnmp_vbs hit;
	const netsnmp_variable_list *hvb;
	int hr;
	static struct check c = {.name = "fuzz"};
	static struct csnmp_priv p;
	netsnmp_session s;
	netsnmp_pdu *pdu;
	struct csnmp_vbs it;
	const netsnmp_variable_list *vb;
	u_char *copy;
	int r, n = 0;

	csnmp_lib_init();
	memset(&s, 0, sizeof(s));
	p.c = &c;
	s.version = size > 0 && (data[0] & 1) ? SNMP_VERSION_1 : SNMP_VERSION_2c;
	s.myvoid = &p;
	/* the hook reads the payload in place: a copy of exactly its size */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	pdu = snmp_pdu_create(0);
	if (csnmp_ber_parse(&s, pdu, copy, size) == 0) {
		CHECK(pdu->command == SNMP_MSG_RESPONSE || pdu->command == SNMP_MSG_REPORT);
		CHECK(p.rx != NULL);
		if (hint[0].len == 0)
			hints_make(hint, ber);
		csnmp_vbs_begin(&it, p.rx, p.rxlen, pdu);
		csnmp_vbs_begin(&hit, p.rx, p.rxlen, pdu);
		while ((r = csnmp_vbs_next(&it, &vb)) > 0) {
			const struct csnmp_colhint *h = &hint[n % 3];

			CHECK(vb->name_length >= 2 && vb->name_length <= MAX_OID_LEN);
			if (vb->type == ASN_OCTET_STR && vb->val_len > 0)
				CHECK(vb->val.string >= p.rx &&
				      vb->val.string + vb->val_len <= p.rx + p.rxlen);
			hit.hint = h;
			hr = csnmp_vbs_next(&hit, &hvb);
			CHECK(hr == 1 && hvb->type == vb->type &&
			      hvb->name_length == vb->name_length &&
			      memcmp(hvb->name, vb->name, vb->name_length * sizeof(oid)) == 0);
			/* in it when said so (a name padded with 0x80 bytes is in it unsaid) */
			CHECK(!hit.in_col || (vb->name_length > h->len &&
					      memcmp(vb->name, h->col, h->len * sizeof(oid)) == 0));
			n++;
		}
		CHECK(r == 0 || it.why != NULL);
		hit.hint = &hint[n % 3];
		CHECK(csnmp_vbs_next(&hit, &hvb) == r);
		CHECK((size_t)n <= p.rxlen / 2);
	}
	snmp_free_pdu(pdu);
	free(p.rx);
	p.rx = NULL;
	p.rxlen = 0;
	free(copy);
	return 0;
}
