/*
 * test_discover.c - the profile --discover picks for what real devices say
 * about themselves (sysDescr, sysObjectID and the MIBs they answer, as
 * recorded from a Linux server, a Windows server, a UPS, a printer, switches,
 * routers and a firewall), without a network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discover.h"

/* Facts from a sysDescr, a dotted sysObjectID and the rest. */
static struct discover_facts facts(const char *descr, const char *objid, long forwarding,
				   long bridge_ports, int hr, int ups, int printer)
{
	struct discover_facts f;
	const char *p = objid;

	memset(&f, 0, sizeof(f));
	snprintf(f.descr, sizeof(f.descr), "%s", descr);
	while (*p != '\0' && f.objid_len < DISCOVER_OID_MAX) {
		char *end;

		f.objid[f.objid_len++] = strtoul(p, &end, 10);
		p = *end == '.' ? end + 1 : end;
	}
	f.if_number = 2;
	f.forwarding = forwarding;
	f.bridge_ports = bridge_ports;
	f.host_resources = hr;
	f.ups = ups;
	f.printer = printer;
	return f;
}

static void expect(const struct discover_facts *f, const char *profile)
{
	const char *why = NULL;
	const char *got = discover_profile(f, &why);

	if (strcmp(got, profile) != 0)
		fail_msg("\"%s\": %s (%s), expected %s", f->descr, got, why, profile);
	assert_non_null(why);
}

static void test_discover_hosts(void **state)
{
	struct discover_facts f;

	f = facts("Linux cray 2.6.21.5-smp #2 SMP Tue Jun 19 14:58:11 CDT 2007 i686",
		  "1.3.6.1.4.1.8072.3.2.10", 2, -1, 1, 0, 0);
	expect(&f, "linux");
	/* a Linux router is still a server with HOST-RESOURCES data */
	f = facts("Linux gw1 6.1.0-13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 x86_64",
		  "1.3.6.1.4.1.8072.3.2.10", 1, -1, 1, 0, 0);
	expect(&f, "linux");
	f = facts("FreeBSD nas1 13.2-RELEASE FreeBSD 13.2-RELEASE amd64", "1.3.6.1.4.1.8072.3.2.8",
		  2, -1, 1, 0, 0);
	expect(&f, "linux");
	f = facts("Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - Software: "
		  "Windows Version 6.3 (Build 17763 Multiprocessor Free)",
		  "1.3.6.1.4.1.311.1.1.3.1.3", 2, -1, 1, 0, 0);
	expect(&f, "windows");
}

static void test_discover_power_and_print(void **state)
{
	struct discover_facts f;

	f = facts("APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.5.6 PN:apc_hw05_aos_656.bin)",
		  "1.3.6.1.4.1.318.1.3.27", -1, -1, 0, 1, 0);
	expect(&f, "ups");
	/* HP makes switches too: the Printer-MIB decides */
	f = facts("HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012",
		  "1.3.6.1.4.1.11.2.3.9.1", 2, -1, 1, 0, 1);
	expect(&f, "printer");
}

static void test_discover_network(void **state)
{
	struct discover_facts f;

	/* the cisco_16_switch recording: a layer-3 3750 with 34 bridge ports */
	f = facts("Cisco IOS Software, C3750 Software (C3750-IPSERVICESK9-M), Version 12.2(55)SE10",
		  "1.3.6.1.4.1.9.1.516", 1, 34, 0, 0, 0);
	expect(&f, "switch");
	f = facts("Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E",
		  "1.3.6.1.4.1.9.1.1208", 2, -1, 0, 0, 0);
	expect(&f, "switch");
	/* IOS-XE names Linux, but it is a Cisco router */
	f = facts("Cisco IOS Software [Amsterdam], ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M)",
		  "1.3.6.1.4.1.9.1.2068", 1, -1, 1, 0, 0);
	expect(&f, "router");
	f = facts("Juniper Networks, Inc. ex2300-24p Ethernet Switch, kernel JUNOS 18.2R3-S2",
		  "1.3.6.1.4.1.2636.1.1.1.2.132", 1, -1, 0, 0, 0);
	expect(&f, "switch");
	f = facts("", "1.3.6.1.4.1.12356.101.1.3004", 1, -1, 0, 0, 0);
	expect(&f, "router");
	f = facts("Cisco Adaptive Security Appliance Version 9.8(4)", "1.3.6.1.4.1.9.1.2313", -1,
		  -1, 0, 0, 0);
	expect(&f, "router");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_discover_hosts),
	    cmocka_unit_test(test_discover_power_and_print),
	    cmocka_unit_test(test_discover_network),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
