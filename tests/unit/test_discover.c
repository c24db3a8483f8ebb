/*
 * test_discover.c - the profile --discover picks for what real devices say
 * about themselves (sysDescr, sysObjectID and the MIBs they answer, as
 * recorded from a Linux server, a Windows server, Solaris, AIX and HP-UX
 * hosts, a UPS, a printer, switches, routers (a Linksys among them) and a
 * firewall), without a network.
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

/* What a device says, and the profile it should get. */
struct device {
	const char *descr, *objid;
	long forwarding, bridge_ports;
	int hr, ups, printer;
	const char *profile;
};

static struct discover_facts facts(const struct device *d)
{
	struct discover_facts f;
	const char *p = d->objid;

	memset(&f, 0, sizeof(f));
	snprintf(f.descr, sizeof(f.descr), "%s", d->descr);
	while (*p != '\0' && f.objid_len < DISCOVER_OID_MAX) {
		char *end;

		f.objid[f.objid_len++] = strtoul(p, &end, 10);
		p = *end == '.' ? end + 1 : end;
	}
	f.if_number = 2;
	f.forwarding = d->forwarding;
	f.bridge_ports = d->bridge_ports;
	f.host_resources = d->hr;
	f.ups = d->ups;
	f.printer = d->printer;
	return f;
}

static void expect_all(const struct device *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct discover_facts f = facts(&d[i]);
		char why[128] = "";
		const char *got = discover_profile(&f, why, sizeof(why));

		if (strcmp(got, d[i].profile) != 0)
			fail_msg("\"%s\": %s (%s), expected %s", d[i].descr, got, why,
				 d[i].profile);
		assert_true(why[0] != '\0');
	}
}

static void test_discover_hosts(void **state)
{
	static const struct device d[] = {
	    {"Linux cray 2.6.21.5-smp #2 SMP Tue Jun 19 14:58:11 CDT 2007 i686",
	     "1.3.6.1.4.1.8072.3.2.10", 2, -1, 1, 0, 0, "linux"},
	    /* a Linux router is still a server with HOST-RESOURCES data */
	    {"Linux gw1 6.1.0-13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 x86_64",
	     "1.3.6.1.4.1.8072.3.2.10", 1, -1, 1, 0, 0, "linux"},
	    {"FreeBSD nas1 13.2-RELEASE FreeBSD 13.2-RELEASE amd64", "1.3.6.1.4.1.8072.3.2.8", 2,
	     -1, 1, 0, 0, "linux"},
	    /* snmpsim's recorded/solaris-system: Sun's agent names no OS */
	    {"Sun SNMP Agent, Sun-Blade-100", "1.3.6.1.4.1.42.2.1.1", -1, -1, 0, 0, 0, "linux"},
	    {"SunOS db1 5.11 11.4.0.15.0 sun4v", "1.3.6.1.4.1.42.2.1.1", 2, -1, 1, 0, 0, "linux"},
	    {"IBM PowerPC CHRP Computer Machine Type: 0x0800004c Processor id: 00C5D6E04C00",
	     "1.3.6.1.4.1.2.3.1.2.1.1.3", 2, -1, 0, 0, 0, "linux"},
	    {"HP 9000/800 B.11.31", "1.3.6.1.4.1.11.2.3.2.10", 2, -1, 0, 0, 0, "linux"},
	    {"Hardware: Intel64 Family 6 Model 85 Stepping 7 AT/AT COMPATIBLE - Software: "
	     "Windows Version 6.3 (Build 17763 Multiprocessor Free)",
	     "1.3.6.1.4.1.311.1.1.3.1.3", 2, -1, 1, 0, 0, "windows"},
	};

	expect_all(d, sizeof(d) / sizeof(d[0]));
}

static void test_discover_power_and_print(void **state)
{
	static const struct device d[] = {
	    {"APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.5.6 PN:apc_hw05_aos_656.bin)",
	     "1.3.6.1.4.1.318.1.3.27", -1, -1, 0, 1, 0, "ups"},
	    /* HP makes switches too: the Printer-MIB decides */
	    {"HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012",
	     "1.3.6.1.4.1.11.2.3.9.1", 2, -1, 1, 0, 1, "printer"},
	};

	expect_all(d, sizeof(d) / sizeof(d[0]));
}

static void test_discover_network(void **state)
{
	static const struct device d[] = {
	    /* the cisco_16_switch recording: a layer-3 3750 with 34 bridge ports */
	    {"Cisco IOS Software, C3750 Software (C3750-IPSERVICESK9-M), Version 12.2(55)SE10",
	     "1.3.6.1.4.1.9.1.516", 1, 34, 0, 0, 0, "switch"},
	    {"Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E",
	     "1.3.6.1.4.1.9.1.1208", 2, -1, 0, 0, 0, "switch"},
	    /* IOS-XE names Linux, but it is a Cisco router */
	    {"Cisco IOS Software [Amsterdam], ISR Software (X86_64_LINUX_IOSD-UNIVERSALK9-M)",
	     "1.3.6.1.4.1.9.1.2068", 1, -1, 1, 0, 0, "router"},
	    {"Juniper Networks, Inc. ex2300-24p Ethernet Switch, kernel JUNOS 18.2R3-S2",
	     "1.3.6.1.4.1.2636.1.1.1.2.132", 1, -1, 0, 0, 0, "switch"},
	    /* a FortiGate with an empty sysDescr */
	    {"", "1.3.6.1.4.1.12356.101.1.3004", 1, -1, 0, 0, 0, "router"},
	    {"Cisco Adaptive Security Appliance Version 9.8(4)", "1.3.6.1.4.1.9.1.2313", -1, -1, 0,
	     0, 0, "router"},
	    /* snmpsim's recorded/linksys-system: a bare model name, Linksys's sysObjectID */
	    {"BEFSX41", "1.3.6.1.4.1.3955.1.1", -1, -1, 0, 0, 0, "router"},
	    /* a Linksys switch says so */
	    {"Linksys SRW2048 48-port Gigabit Switch", "1.3.6.1.4.1.3955.6.1.2048.1", -1, -1, 0, 0,
	     0, "switch"},
	    {"DrayTek Vigor 2927 Series", "1.3.6.1.4.1.7367", 1, -1, 0, 0, 0, "router"},
	    {"Residential Gateway", "1.3.6.1.4.1.99998.1", -1, -1, 0, 0, 0, "router"},
	    /* HP's switches are not HP-UX hosts */
	    {"ProCurve J9280A Switch 2510G-48", "1.3.6.1.4.1.11.2.3.7.11.87", 2, 52, 0, 0, 0,
	     "switch"},
	    /* a device that shows only its system group: a guess */
	    {"Some device", "1.3.6.1.4.1.99999.1", -1, -1, 0, 0, 0, "switch"},
	};

	expect_all(d, sizeof(d) / sizeof(d[0]));
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
