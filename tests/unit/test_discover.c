/*
 * test_discover.c - the profile --discover picks for what real devices say
 * about themselves (sysDescr, sysObjectID and the MIBs they answer, as
 * recorded from a Linux server, a Windows server, Solaris, AIX and HP-UX
 * hosts, a UPS, a printer, switches, routers (a Linksys among them) and a
 * firewall), without a network; and for every recording snmpsim ships,
 * read as --discover would ask it, a profile that deploy/profiles has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <unistd.h>

#include "discover.h"

/* where Debian's snmpsim installs its recordings (community = file stem) */
#define SNMPSIM_DATA "/usr/share/doc/snmpsim/examples/data"

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

/* The answer a recording holds for OID `want`, exactly (scalar) or under it. */
static int rec_is(const char *oid, const char *want, int scalar)
{
	size_t n = strlen(want);

	if (strncmp(oid, want, n) != 0)
		return 0;
	return scalar ? strcmp(oid + n, ".0") == 0 : oid[n] == '.';
}

/* An snmprec value (TYPE|VALUE, TYPE "4x" in hex) as text; 0 for a variation module's. */
static int rec_value(const char *type, const char *val, char *out, size_t len)
{
	size_t o = 0;

	type += strspn(type, "0123456789");
	if (*type == ':')
		return 0;
	if (*type != 'x') {
		snprintf(out, len, "%s", val);
		return 1;
	}
	for (unsigned b; o + 1 < len && sscanf(val, "%2x", &b) == 1; val += 2)
		out[o++] = (char)b;
	out[o] = '\0';
	return 1;
}

/*
 * What --discover's one GETNEXT would learn from a device serving recording
 * `path` (gzip or not): sysDescr, sysObjectID, ifNumber, ipForwarding,
 * dot1dBaseNumPorts, and whether hrSystem, upsIdent, prtGeneralPrinterName
 * answer. 0 when the file cannot be read.
 */
static int rec_facts(const char *path, struct discover_facts *f)
{
	char cmd[PATH_MAX + 32], line[8192], text[DISCOVER_TEXT_MAX];
	FILE *in;

	memset(f, 0, sizeof(*f));
	f->if_number = f->forwarding = f->bridge_ports = -1;
	snprintf(cmd, sizeof(cmd), "zcat -f '%s'", path);
	if ((in = popen(cmd, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), in) != NULL) {
		char *type = strchr(line, '|'), *val = type ? strchr(type + 1, '|') : NULL;

		if (val == NULL)
			continue;
		*type++ = '\0';
		*val++ = '\0';
		val[strcspn(val, "\r\n")] = '\0';
		f->host_resources |= rec_is(line, "1.3.6.1.2.1.25.1", 0);
		f->ups |= rec_is(line, "1.3.6.1.2.1.33.1.1", 0);
		f->printer |= rec_is(line, "1.3.6.1.2.1.43.5.1.1.16", 0);
		if (!rec_value(type, val, text, sizeof(text)))
			continue;
		if (rec_is(line, "1.3.6.1.2.1.1.1", 1))
			snprintf(f->descr, sizeof(f->descr), "%s", text);
		else if (rec_is(line, "1.3.6.1.2.1.1.2", 1))
			for (char *p = text; *p != '\0' && f->objid_len < DISCOVER_OID_MAX;) {
				f->objid[f->objid_len++] = strtoul(p, &p, 10);
				p += *p == '.';
			}
		else if (rec_is(line, "1.3.6.1.2.1.2.1", 1))
			f->if_number = atol(text);
		else if (rec_is(line, "1.3.6.1.2.1.4.1", 1))
			f->forwarding = atol(text);
		else if (rec_is(line, "1.3.6.1.2.1.17.1.2", 1))
			f->bridge_ports = atol(text);
	}
	return pclose(in) == 0;
}

static size_t nrecordings;

/* Every recording snmpsim ships gets a profile that deploy/profiles has. */
static int rec_check(const char *path, const struct stat *st, int kind, struct FTW *ftw)
{
	struct discover_facts f;
	char why[128] = "", conf[PATH_MAX];
	const char *profile;

	(void)st;
	(void)ftw;
	if (kind != FTW_F || (strstr(path, ".snmprec") == NULL))
		return 0;
	assert_true(rec_facts(path, &f));
	profile = discover_profile(&f, why, sizeof(why));
	snprintf(conf, sizeof(conf), "%s/%s.conf", PROFILES_DIR, profile);
	if (access(conf, R_OK) != 0)
		fail_msg("%s: profile %s (%s) has no %s", path, profile, why, conf);
	nrecordings++;
	return 0;
}

static void test_discover_snmpsim_recordings(void **state)
{
	static const struct {
		const char *file, *profile;
	} named[] = {
	    {"recorded/solaris-system.snmprec", "linux"},     /* "Sun SNMP Agent, Sun-Blade-100" */
	    {"recorded/linksys-system.snmprec", "router"},    /* "BEFSX41", Linksys's sysObjectID */
	    {"recorded/linux-full-walk.snmprec.gz", "linux"}, /* "Linux cray 2.6.21.5-smp ..." */
	    {"recorded/winxp-full-walk.snmprec.gz", "windows"},
	    {"cisco_16_switch.snmprec.gz", "switch"}, /* "Cisco IOS Software, C3750 ..." */
	    {"hp_perf.snmprec.gz", "switch"},         /* "ProCurve J9021A Switch 2810-24G" */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		struct discover_facts f;
		char path[PATH_MAX], why[128] = "";
		const char *got;

		snprintf(path, sizeof(path), "%s/%s", SNMPSIM_DATA, named[i].file);
		if (!rec_facts(path, &f))
			fail_msg("%s cannot be read: is snmpsim installed?", path);
		assert_true(f.descr[0] != '\0' && f.objid_len > 0);
		got = discover_profile(&f, why, sizeof(why));
		if (strcmp(got, named[i].profile) != 0)
			fail_msg("%s (\"%s\"): %s (%s), expected %s", named[i].file, f.descr, got,
				 why, named[i].profile);
	}
	nrecordings = 0;
	assert_int_equal(nftw(SNMPSIM_DATA, rec_check, 16, FTW_PHYS), 0);
	/* Debian's snmpsim 0.4.5 ships 37 */
	assert_true(nrecordings >= 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_discover_hosts),
	    cmocka_unit_test(test_discover_power_and_print),
	    cmocka_unit_test(test_discover_network),
	    cmocka_unit_test(test_discover_snmpsim_recordings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
