/*
 * fuzz_trap.c - libFuzzer target for the trap listener's decoding and
 * mapping: one UDP payload as a v1/v2c sender puts it on the wire (message
 * header with version and community, then the PDU), decoded by net-snmp as
 * the listener's session does, then trap_map (agent/trap_map.c). Aborts when
 * an event breaks what the collector requires of one: an empty or over-long
 * name, a control character in a name or the text, a trap OID that is not
 * numeric, a refusal without a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trap_map.h"

#include <net-snmp/library/snmp_impl.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static void check_text(const char *t, size_t max, int may_be_empty)
{
	size_t n = strnlen(t, max + 1);

	CHECK(n <= max);
	CHECK(n > 0 || may_be_empty);
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		CHECK(*p >= 0x20 && *p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	u_char *buf, *pdu_data, community[256];
	size_t len = size, clen = sizeof(community);
	long version = 0;
	netsnmp_pdu *pdu;
	struct trap_event ev;
	const char *why;

	if (!ready) {
		/* no MIB files, no config files: as the agent runs it */
		setenv("MIBS", "", 1);
		ready = 1;
	}
	if (size > 65535)
		return 0;
	buf = malloc(size ? size : 1);
	CHECK(buf != NULL);
	memcpy(buf, data, size);
	pdu_data = snmp_comstr_parse(buf, &len, community, &clen, &version);
	if (pdu_data == NULL || (version != SNMP_VERSION_1 && version != SNMP_VERSION_2c)) {
		free(buf);
		return 0;
	}
	pdu = snmp_pdu_create(0);
	CHECK(pdu != NULL);
	pdu->version = version;
	if (snmp_pdu_parse(pdu, pdu_data, &len) == 0) {
		if (trap_map(pdu, &ev, &why) == 0) {
			check_text(ev.name, SAMPLE_NAME_MAX, 0);
			check_text(ev.instance, SAMPLE_NAME_MAX, 1);
			check_text(ev.text, EVENT_TEXT_MAX, 1);
			check_text(ev.oid, SAMPLE_NAME_MAX, 0);
			CHECK(strspn(ev.oid, "0123456789.") == strlen(ev.oid));
		} else {
			CHECK(why != NULL && why[0] != '\0');
		}
	}
	snmp_free_pdu(pdu);
	free(buf);
	return 0;
}
