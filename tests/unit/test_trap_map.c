/*
 * test_trap_map.c - what a trap means: the generic traps by name, linkDown
 * and linkUp with the interface's name from ifName, ifDescr or ifIndex, v1
 * traps by RFC 3584's trap OID, any other trap by its OID, and the varbinds
 * as bounded, printable text; a PDU that is no trap is refused with a reason.
 * The PDUs are built with net-snmp, as its decoder would hand them over.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "trap_map.h"

static const oid uptime0[] = {1, 3, 6, 1, 2, 1, 1, 3, 0};
static const oid trapoid0[] = {1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0};

/* ".1.3.6.1..." into o; net-snmp's read_objid would want its MIB set up. */
static oid *parse_oid(const char *s, oid *o, size_t *n)
{
	size_t k = 0;
	char *end;

	while (*s == '.' && k < *n) {
		o[k++] = strtoul(s + 1, &end, 10);
		s = end;
	}
	*n = k;
	return *s == '\0' && k > 0 ? o : NULL;
}

static netsnmp_pdu *v2_trap(int command, const char *trap_oid)
{
	netsnmp_pdu *pdu = snmp_pdu_create(command);
	long ticks = 12345;
	oid o[MAX_OID_LEN];
	size_t n = MAX_OID_LEN;

	assert_non_null(pdu);
	pdu->version = SNMP_VERSION_2c;
	snmp_pdu_add_variable(pdu, uptime0, 9, ASN_TIMETICKS, &ticks, sizeof(ticks));
	if (trap_oid != NULL) {
		assert_non_null(parse_oid(trap_oid, o, &n));
		snmp_pdu_add_variable(pdu, trapoid0, 11, ASN_OBJECT_ID, o, n * sizeof(oid));
	}
	return pdu;
}

static void add_int(netsnmp_pdu *pdu, const char *name, long v)
{
	oid o[MAX_OID_LEN];
	size_t n = MAX_OID_LEN;

	assert_non_null(parse_oid(name, o, &n));
	snmp_pdu_add_variable(pdu, o, n, ASN_INTEGER, &v, sizeof(v));
}

static void add_str(netsnmp_pdu *pdu, const char *name, const void *s, size_t len)
{
	oid o[MAX_OID_LEN];
	size_t n = MAX_OID_LEN;

	assert_non_null(parse_oid(name, o, &n));
	snmp_pdu_add_variable(pdu, o, n, ASN_OCTET_STR, s, len);
}

static void test_link_down_names_the_interface_by_ifname(void **state)
{
	netsnmp_pdu *pdu = v2_trap(SNMP_MSG_TRAP2, ".1.3.6.1.6.3.1.1.5.3");
	struct trap_event ev;
	const char *why;

	(void)state;
	add_int(pdu, ".1.3.6.1.2.1.2.2.1.1.3", 3);
	add_int(pdu, ".1.3.6.1.2.1.2.2.1.7.3", 1);
	add_int(pdu, ".1.3.6.1.2.1.2.2.1.8.3", 2);
	add_str(pdu, ".1.3.6.1.2.1.2.2.1.2.3", "GigabitEthernet0/3", 18);
	add_str(pdu, ".1.3.6.1.2.1.31.1.1.1.1.3", "Gi0/3", 5);
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.name, "linkDown");
	assert_string_equal(ev.oid, "1.3.6.1.6.3.1.1.5.3");
	assert_string_equal(ev.instance, "Gi0/3");
	assert_int_equal(ev.admin, 1);
	assert_string_equal(ev.text, "ifIndex.3=3 ifAdminStatus.3=1 ifOperStatus.3=2 "
				     "ifDescr.3=\"GigabitEthernet0/3\" ifName.3=\"Gi0/3\"");
	snmp_free_pdu(pdu);
}

static void test_link_up_falls_back_to_ifdescr_then_ifindex(void **state)
{
	netsnmp_pdu *pdu = v2_trap(SNMP_MSG_INFORM, ".1.3.6.1.6.3.1.1.5.4");
	struct trap_event ev;
	const char *why;

	(void)state;
	add_str(pdu, ".1.3.6.1.2.1.2.2.1.2.7", "eth0", 4);
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.name, "linkUp");
	assert_string_equal(ev.instance, "eth0");
	assert_int_equal(ev.admin, 0); /* the trap does not say it */
	snmp_free_pdu(pdu);

	pdu = v2_trap(SNMP_MSG_TRAP2, ".1.3.6.1.6.3.1.1.5.4");
	add_int(pdu, ".1.3.6.1.2.1.2.2.1.1.12", 12);
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.instance, "12");
	snmp_free_pdu(pdu);

	/* no ifIndex varbind: the index of ifOperStatus */
	pdu = v2_trap(SNMP_MSG_TRAP2, ".1.3.6.1.6.3.1.1.5.3");
	add_int(pdu, ".1.3.6.1.2.1.2.2.1.8.9", 2);
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.instance, "9");
	snmp_free_pdu(pdu);
}

static void test_generic_and_other_traps(void **state)
{
	static const struct {
		const char *oid, *name;
	} cases[] = {
	    {".1.3.6.1.6.3.1.1.5.1", "coldStart"},
	    {".1.3.6.1.6.3.1.1.5.2", "warmStart"},
	    {".1.3.6.1.6.3.1.1.5.5", "authenticationFailure"},
	    {".1.3.6.1.6.3.1.1.5.6", "1.3.6.1.6.3.1.1.5.6"},
	    {".1.3.6.1.4.1.9.9.41.2.0.1", "1.3.6.1.4.1.9.9.41.2.0.1"},
	};
	struct trap_event ev;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		netsnmp_pdu *pdu = v2_trap(SNMP_MSG_TRAP2, cases[i].oid);

		assert_int_equal(trap_map(pdu, &ev, &why), 0);
		assert_string_equal(ev.name, cases[i].name);
		assert_string_equal(ev.oid, cases[i].oid + 1);
		assert_string_equal(ev.instance, "");
		assert_string_equal(ev.text, "");
		snmp_free_pdu(pdu);
	}
}

static void test_v1_traps_by_rfc3584(void **state)
{
	static oid cisco[] = {1, 3, 6, 1, 4, 1, 9};
	netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_TRAP);
	struct trap_event ev;
	const char *why;

	(void)state;
	pdu->version = SNMP_VERSION_1;
	pdu->trap_type = 2; /* linkDown */
	pdu->agent_addr[0] = 10;
	pdu->agent_addr[3] = 2;
	add_int(pdu, ".1.3.6.1.2.1.2.2.1.1.4", 4);
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.name, "linkDown");
	assert_string_equal(ev.oid, "1.3.6.1.6.3.1.1.5.3");
	assert_string_equal(ev.instance, "4");
	assert_string_equal(ev.text, "agent-addr=10.0.0.2 ifIndex.4=4");

	pdu->trap_type = 6;
	pdu->specific_type = 17;
	pdu->enterprise = snmp_duplicate_objid(cisco, 7);
	pdu->enterprise_length = 7;
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.name, "1.3.6.1.4.1.9.0.17");

	pdu->trap_type = 7;
	assert_int_equal(trap_map(pdu, &ev, &why), -1);
	assert_string_equal(why, "v1 trap with a generic-trap number other than 0..6");
	snmp_free_pdu(pdu);
}

static void test_what_is_no_trap_is_refused(void **state)
{
	netsnmp_pdu *pdu = v2_trap(SNMP_MSG_TRAP2, NULL);
	struct trap_event ev;
	const char *why;
	oid longoid[MAX_OID_LEN];

	(void)state;
	assert_int_equal(trap_map(pdu, &ev, &why), -1);
	assert_string_equal(why, "trap without an snmpTrapOID.0 varbind");
	snmp_free_pdu(pdu);

	pdu = v2_trap(SNMP_MSG_GET, ".1.3.6.1.6.3.1.1.5.1");
	assert_int_equal(trap_map(pdu, &ev, &why), -1);
	assert_string_equal(why, "not a trap or an inform");
	snmp_free_pdu(pdu);

	/* 128 sub-identifiers of 4294967295: far more than 128 characters */
	for (size_t i = 0; i < MAX_OID_LEN; i++)
		longoid[i] = 4294967295U;
	pdu = v2_trap(SNMP_MSG_TRAP2, NULL);
	snmp_pdu_add_variable(pdu, trapoid0, 11, ASN_OBJECT_ID, longoid, sizeof(longoid));
	assert_int_equal(trap_map(pdu, &ev, &why), -1);
	assert_string_equal(why, "trap OID longer than 128 characters");
	snmp_free_pdu(pdu);
}

static void test_text_is_bounded_and_printable(void **state)
{
	netsnmp_pdu *pdu = v2_trap(SNMP_MSG_TRAP2, ".1.3.6.1.6.3.1.1.5.3");
	struct trap_event ev;
	const char *why;
	char longname[300];

	(void)state;
	/* a name with a newline must not start a log line of its own */
	add_str(pdu, ".1.3.6.1.2.1.31.1.1.1.1.3", "Gi0/3\nforged", 12);
	add_str(pdu, ".1.3.6.1.4.1.99.1", "\x01\x02\xff", 3);
	for (int i = 0; i < 40; i++)
		add_int(pdu, ".1.3.6.1.4.1.99.2", i);
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.instance, "Gi0/3?forged");
	/* a string that is not all printable is shown in hex */
	assert_non_null(
	    strstr(ev.text, "ifName.3=0x4769302f330a666f72676564 1.3.6.1.4.1.99.1=0x0102ff "));
	assert_int_equal(strlen(ev.text), EVENT_TEXT_MAX);
	for (const char *p = ev.text; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
	snmp_free_pdu(pdu);

	pdu = v2_trap(SNMP_MSG_TRAP2, ".1.3.6.1.6.3.1.1.5.4");
	memset(longname, 'x', sizeof(longname));
	add_str(pdu, ".1.3.6.1.2.1.31.1.1.1.1.3", longname, sizeof(longname));
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_int_equal(strlen(ev.instance), SAMPLE_NAME_MAX);
	snmp_free_pdu(pdu);
}

/*
 * A device's bytes outside UTF-8 (a Latin-1 ifAlias, a cut character, an
 * overlong form) reach the event as '?', and a name or text cut at its
 * bound ends on a whole character.
 */
static void test_names_and_text_from_a_device_are_utf8(void **state)
{
	netsnmp_pdu *pdu = v2_trap(SNMP_MSG_TRAP2, ".1.3.6.1.6.3.1.1.5.3");
	struct trap_event ev;
	const char *why;
	char name[200], alias[500];

	(void)state;
	add_str(pdu, ".1.3.6.1.2.1.31.1.1.1.1.3", "Gi0/\xff\xc0\xaf", 7);
	add_str(pdu, ".1.3.6.1.2.1.31.1.1.1.18.3", "Kunde \xd8st \xe2\x82 Troms\xc3\xb8", 20);
	add_str(pdu, ".1.3.6.1.4.1.99.1", "\xed\xa0\x80|\xf4\x90\x80\x80", 8);
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_string_equal(ev.instance, "Gi0/???");
	assert_string_equal(ev.text, "ifName.3=\"Gi0/???\" ifAlias.3=\"Kunde ?st ?? Tromsø\" "
				     "1.3.6.1.4.1.99.1=\"???|????\"");
	snmp_free_pdu(pdu);

	/* 127 bytes, then 'ø': the 128-byte instance ends before it */
	pdu = v2_trap(SNMP_MSG_TRAP2, ".1.3.6.1.6.3.1.1.5.3");
	memset(name, 'x', 127);
	memcpy(name + 127, "\xc3\xb8", 2);
	add_str(pdu, ".1.3.6.1.2.1.31.1.1.1.1.3", name, 129);
	/* 'ø' all along: the text's last character whole */
	for (size_t i = 0; i + 1 < sizeof(alias); i += 2)
		memcpy(alias + i, "\xc3\xb8", 2);
	add_str(pdu, ".1.3.6.1.2.1.31.1.1.1.18.3", alias, sizeof(alias));
	assert_int_equal(trap_map(pdu, &ev, &why), 0);
	assert_int_equal(strlen(ev.instance), 127);
	assert_int_equal(strspn(ev.instance, "x"), 127);
	assert_true(strlen(ev.text) >= EVENT_TEXT_MAX - 1);
	assert_non_null(strstr(ev.text, " ifAlias.3=\"øøø"));
	assert_null(strchr(ev.text, '?'));
	assert_int_equal(strcmp(ev.text + strlen(ev.text) - 2, "ø"), 0);
	snmp_free_pdu(pdu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_link_down_names_the_interface_by_ifname),
	    cmocka_unit_test(test_link_up_falls_back_to_ifdescr_then_ifindex),
	    cmocka_unit_test(test_generic_and_other_traps),
	    cmocka_unit_test(test_v1_traps_by_rfc3584),
	    cmocka_unit_test(test_what_is_no_trap_is_refused),
	    cmocka_unit_test(test_text_is_bounded_and_printable),
	    cmocka_unit_test(test_names_and_text_from_a_device_are_utf8),
	};

	setenv("MIBS", "", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
