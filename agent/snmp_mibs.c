/*
 * snmp_mibs.c - the built-in MIB groups a device section enables with
 * `mibs = {"host", "ucd", "ups"}`: which OIDs each polls and under which
 * check and metric each value is stored, as one table. Never stores a
 * value it could not read as 0: what the device lacks is unknown.
 */
#include "snmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "xmalloc.h"

/*
 * The scalars of the groups, fetched with GET. A value is the integer
 * answer times `scale`, or with `equals` set, 1 when the answer is that
 * number and 0 otherwise.
 */
const struct csnmp_mib_scalar csnmp_mib_scalars[] = {
    /* UCD-SNMP-MIB laLoadInt: the load average times 100 */
    {CSNMP_MIB_UCD, "load", "load1", {1, 3, 6, 1, 4, 1, 2021, 10, 1, 5, 1}, 11, 0.01, 0},
    {CSNMP_MIB_UCD, "load", "load5", {1, 3, 6, 1, 4, 1, 2021, 10, 1, 5, 2}, 11, 0.01, 0},
    {CSNMP_MIB_UCD, "load", "load15", {1, 3, 6, 1, 4, 1, 2021, 10, 1, 5, 3}, 11, 0.01, 0},
    /* UCD-SNMP-MIB memory, in kB: stored in bytes */
    {CSNMP_MIB_UCD, "memory", "total", {1, 3, 6, 1, 4, 1, 2021, 4, 5, 0}, 10, 1024, 0},
    {CSNMP_MIB_UCD, "memory", "avail", {1, 3, 6, 1, 4, 1, 2021, 4, 6, 0}, 10, 1024, 0},
    {CSNMP_MIB_UCD, "memory", "buffer", {1, 3, 6, 1, 4, 1, 2021, 4, 14, 0}, 10, 1024, 0},
    {CSNMP_MIB_UCD, "memory", "cached", {1, 3, 6, 1, 4, 1, 2021, 4, 15, 0}, 10, 1024, 0},
    {CSNMP_MIB_UCD, "memory", "swap_total", {1, 3, 6, 1, 4, 1, 2021, 4, 3, 0}, 10, 1024, 0},
    {CSNMP_MIB_UCD, "memory", "swap_avail", {1, 3, 6, 1, 4, 1, 2021, 4, 4, 0}, 10, 1024, 0},
    /* UPS-MIB (RFC 1628): upsOutputSource battery(5) is "on battery" */
    {CSNMP_MIB_UPS, "ups", "on_battery", {1, 3, 6, 1, 2, 1, 33, 1, 4, 1, 0}, 11, 1, 5},
    {CSNMP_MIB_UPS, "ups", "charge", {1, 3, 6, 1, 2, 1, 33, 1, 2, 4, 0}, 11, 1, 0},
    {CSNMP_MIB_UPS, "ups", "minutes_left", {1, 3, 6, 1, 2, 1, 33, 1, 2, 3, 0}, 11, 1, 0},
    /* upsInputVoltage of the first input line, in volts */
    {CSNMP_MIB_UPS, "ups", "input_voltage", {1, 3, 6, 1, 2, 1, 33, 1, 3, 3, 1, 3, 1}, 13, 1, 0},
    /* upsBatteryStatus: unknown(1), batteryNormal(2), batteryLow(3), batteryDepleted(4) */
    {CSNMP_MIB_UPS, "ups", "battery_status", {1, 3, 6, 1, 2, 1, 33, 1, 2, 1, 0}, 11, 1, 0},
};
const size_t csnmp_mib_nscalars = sizeof(csnmp_mib_scalars) / sizeof(csnmp_mib_scalars[0]);

/* The groups by the names `mibs` takes, and the checks their values go to. */
static const struct csnmp_mib_group {
	const char *name;
	unsigned bit;
	const char *checks[3];
} csnmp_mib_groups[] = {
    {"host", CSNMP_MIB_HOST, {"storage", "cpu", NULL}},
    {"ucd", CSNMP_MIB_UCD, {"load", "memory", NULL}},
    {"ups", CSNMP_MIB_UPS, {"ups", NULL, NULL}},
};
#define CSNMP_NGROUPS (sizeof(csnmp_mib_groups) / sizeof(csnmp_mib_groups[0]))

int csnmp_mibs_check_taken(const char *check)
{
	for (size_t g = 0; g < CSNMP_NGROUPS; g++)
		for (size_t k = 0; k < 3 && csnmp_mib_groups[g].checks[k] != NULL; k++)
			if (strcmp(csnmp_mib_groups[g].checks[k], check) == 0)
				return 1;
	return 0;
}

static int csnmp_mibs_parse(cfg_t *sec, unsigned *mibs)
{
	int bad = 0;

	*mibs = 0;
	for (unsigned i = 0; i < cfg_size(sec, "mibs"); i++) {
		const char *s = cfg_getnstr(sec, "mibs", i);
		size_t g;

		for (g = 0; g < CSNMP_NGROUPS; g++)
			if (strcmp(csnmp_mib_groups[g].name, s) == 0)
				break;
		if (g == CSNMP_NGROUPS) {
			conf_section_error(
			    sec,
			    "mibs: unknown group \"%.32s\" (known: \"host\" "
			    "HOST-RESOURCES-MIB, \"ucd\" UCD-SNMP-MIB, \"ups\" UPS-MIB)",
			    s);
			bad = 1;
			continue;
		}
		*mibs |= csnmp_mib_groups[g].bit;
	}
	return bad ? -1 : 0;
}

int csnmp_data_parse(cfg_t *sec, struct csnmp_data *d)
{
	int bad = 0;

	memset(d, 0, sizeof(*d));
	if (csnmp_mibs_parse(sec, &d->mibs) < 0)
		bad = 1;
	if (csnmp_oids_parse(sec, d) < 0)
		bad = 1;
	return bad ? -1 : 0;
}

void csnmp_data_free(struct csnmp_data *d)
{
	csnmp_data_run_free(d->run);
	d->run = NULL;
	csnmp_oids_free(d);
}
