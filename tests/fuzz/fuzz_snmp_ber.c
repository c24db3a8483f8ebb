/*
 * fuzz_snmp_ber.c - libFuzzer target for the agent's reader of v1/v2c
 * answers (agent/snmp_ber.c): one UDP payload as a device sends it, through
 * the session's parse hook and then every varbind. Aborts when an accepted
 * varbind breaks what the poller relies on: a name longer than MAX_OID_LEN,
 * a string outside the answer, an error without a reason. The first
 * byte's low bit picks the session's version (v1 or v2c).
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
		csnmp_vbs_begin(&it, p.rx, p.rxlen, pdu);
		while ((r = csnmp_vbs_next(&it, &vb)) > 0) {
			CHECK(vb->name_length >= 2 && vb->name_length <= MAX_OID_LEN);
			if (vb->type == ASN_OCTET_STR && vb->val_len > 0)
				CHECK(vb->val.string >= p.rx &&
				      vb->val.string + vb->val_len <= p.rx + p.rxlen);
			n++;
		}
		CHECK(r == 0 || it.why != NULL);
		CHECK((size_t)n <= p.rxlen / 2);
	}
	snmp_free_pdu(pdu);
	free(p.rx);
	p.rx = NULL;
	p.rxlen = 0;
	free(copy);
	return 0;
}
