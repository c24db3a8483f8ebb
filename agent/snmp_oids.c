/*
 * snmp_oids.c - custom OIDs of an snmp device: `oid "NAME" { ... }`
 * subsections, a scalar fetched with GET or a table column walked, stored
 * as a gauge (times `scale`) or a raw counter. MIB names are translated
 * here, at load, only through MIB files net-snmp finds installed; the
 * poller sees numbers only.
 */
#include "snmp.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "xmalloc.h"

cfg_opt_t csnmp_oid_opts[] = {
    CFG_STR("oid", NULL, CFGF_NODEFAULT),    CFG_STR("instance_oid", NULL, CFGF_NODEFAULT),
    CFG_BOOL("table", cfg_false, CFGF_NONE), CFG_STR("type", "gauge", CFGF_NONE),
    CFG_FLOAT("scale", 1.0, CFGF_NONE),      CFG_STR("check", NULL, CFGF_NODEFAULT),
    CFG_STR("metric", "value", CFGF_NONE),   CFG_END(),
};

/* Metrics the collector keeps beside a check's own in the same file. */
static const char *const csnmp_oid_metric_taken[] = {"up", "outcome", NULL};

/* 1 when s is a numeric OID (".1.3.6.1..." or "1.3.6.1..."), filling o/len. */
static int csnmp_oid_numeric(const char *s, oid *o, size_t *len)
{
	size_t n = 0;

	if (*s == '.')
		s++;
	if (*s == '\0')
		return 0;
	while (*s != '\0') {
		char *end;
		unsigned long v;

		if (*s < '0' || *s > '9' || n >= CSNMP_OID_LEN_MAX)
			return 0;
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno != 0 || v > 4294967295UL || (*end != '.' && *end != '\0'))
			return 0;
		o[n++] = (oid)v;
		s = *end == '.' ? end + 1 : end;
		if (*end == '.' && *s == '\0')
			return 0;
	}
	*len = n;
	return 1;
}

/*
 * A MIB name ("UPS-MIB::upsBatteryStatus.0", "sysUpTime.0") through the
 * MIB files installed where net-snmp looks by default. They are read on
 * the first name, with net-snmp's own complaints about them silenced: an
 * unknown name is reported by the caller, with where it was written. A
 * reload finds the library set up without MIB files (csnmp_lib_init), so
 * the default directories are then added by hand.
 */
static int csnmp_oid_translate(const char *s, oid *o, size_t *len)
{
	static int loaded, dirs_added;
	oid buf[MAX_OID_LEN];
	size_t n = MAX_OID_LEN;
	netsnmp_log_handler *quiet;
	int ok;

	quiet = netsnmp_register_loghandler(NETSNMP_LOGHANDLER_NONE, LOG_DEBUG);
	if (!loaded) {
		loaded = 1;
		netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0);
		netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_ERRORS, 0);
		init_mib();
	}
	ok = read_objid(s, buf, &n) != 0;
	if (!ok && !dirs_added) {
		char dirs[] = NETSNMP_DEFAULT_MIBDIRS, *save = NULL;

		dirs_added = 1;
		for (char *d = strtok_r(dirs, ":", &save); d != NULL;
		     d = strtok_r(NULL, ":", &save))
			if (d[0] == '/')
				add_mibdir(d);
		n = MAX_OID_LEN;
		ok = read_objid(s, buf, &n) != 0;
	}
	if (quiet != NULL)
		netsnmp_remove_loghandler(quiet);
	if (!ok || n < 1 || n > CSNMP_OID_LEN_MAX)
		return 0;
	memcpy(o, buf, n * sizeof(oid));
	*len = n;
	return 1;
}

/* The OID `key` of `osec` (numbers or a MIB name); -1 after reporting. */
static int csnmp_oid_get(cfg_t *osec, const char *key, oid *o, size_t *len)
{
	const char *s = cfg_getstr(osec, key);

	if (csnmp_oid_numeric(s, o, len)) {
		if (*len < 2) {
			conf_section_error(osec, "%s \"%s\" is too short to be an object", key, s);
			return -1;
		}
		return 0;
	}
	if (strspn(s, "0123456789.") == strlen(s)) {
		conf_section_error(osec,
				   "%s \"%.64s\" is not an OID (numbers 0..4294967295 joined by "
				   "dots, at most %d)",
				   key, s, CSNMP_OID_LEN_MAX);
		return -1;
	}
	if (!csnmp_oid_translate(s, o, len)) {
		conf_section_error(osec,
				   "%s \"%.64s\": no installed MIB defines this name; give the "
				   "OID in numbers or install the MIB files",
				   key, s);
		return -1;
	}
	return 0;
}

static int csnmp_metric_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 19)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int csnmp_check_name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > SAMPLE_NAME_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* Reads and checks one subsection into `d` (d NULL: checks only); -1 after reporting. */
static int csnmp_oid_read(cfg_t *osec, struct csnmp_oid_def *d)
{
	struct csnmp_oid_def tmp;
	const char *type = cfg_getstr(osec, "type");
	const char *check = cfg_getstr(osec, "check");
	const char *metric = cfg_getstr(osec, "metric");
	double scale = cfg_getfloat(osec, "scale");
	int bad = 0;

	if (d == NULL)
		d = &tmp;
	memset(d, 0, sizeof(*d));
	if (check == NULL)
		check = cfg_title(osec);
	if (cfg_getstr(osec, "oid") == NULL) {
		conf_section_error(osec, "missing required key 'oid'");
		bad = 1;
	} else if (csnmp_oid_get(osec, "oid", d->col, &d->col_len) < 0) {
		bad = 1;
	}
	if (cfg_getstr(osec, "instance_oid") != NULL) {
		if (csnmp_oid_get(osec, "instance_oid", d->inst, &d->inst_len) < 0)
			bad = 1;
		d->table = 1;
	}
	if (cfg_getbool(osec, "table"))
		d->table = 1;
	/* a column is walked: its rows' OIDs must fit the walker's */
	if (d->table && (d->col_len > CSNMP_COL_OID_MAX || d->inst_len > CSNMP_COL_OID_MAX)) {
		conf_section_error(osec, "a table column's OID has at most %d numbers",
				   CSNMP_COL_OID_MAX);
		bad = 1;
	}
	if (strcmp(type, "gauge") == 0) {
		d->kind = SAMPLE_GAUGE;
	} else if (strcmp(type, "counter") == 0) {
		d->kind = SAMPLE_COUNTER;
	} else {
		conf_section_error(osec, "type must be \"gauge\" or \"counter\", got \"%.32s\"",
				   type);
		bad = 1;
	}
	if (!isfinite(scale) || scale == 0.0) {
		conf_section_error(osec, "scale must be a number other than 0");
		bad = 1;
	} else if (d->kind == SAMPLE_COUNTER && scale != 1.0) {
		/* the collector turns raw counters into rates: a scaled counter would wrap wrong */
		conf_section_error(osec, "scale applies to gauges only, not to a counter");
		bad = 1;
	}
	if (!csnmp_check_name_ok(check)) {
		conf_section_error(osec, "check must be 1..%d printable characters",
				   SAMPLE_NAME_MAX);
		bad = 1;
	} else if (strcmp(check, "system") == 0 || strcmp(check, "if") == 0 ||
		   csnmp_mibs_check_taken(check)) {
		conf_section_error(osec,
				   "check \"%s\" is one Vakt stores built-in values in; give the "
				   "oid another check name",
				   check);
		bad = 1;
	}
	if (!csnmp_metric_ok(metric)) {
		conf_section_error(osec,
				   "metric must be 1..19 letters, digits or '_' (an RRD data "
				   "source), got \"%.32s\"",
				   metric);
		bad = 1;
	} else {
		for (size_t i = 0; csnmp_oid_metric_taken[i] != NULL; i++)
			if (strcmp(metric, csnmp_oid_metric_taken[i]) == 0) {
				conf_section_error(osec,
						   "metric \"%s\" is the collector's own; choose "
						   "another",
						   metric);
				bad = 1;
			}
	}
	if (bad)
		return -1;
	if (d != &tmp) {
		d->name = xstrdup(cfg_title(osec));
		d->check = xstrdup(check);
		d->metric = xstrdup(metric);
		d->scale = scale;
	}
	return 0;
}

int csnmp_oid_validate(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *osec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);

	if (conf_had_errors(osec))
		return 0;
	csnmp_oid_read(osec, NULL);
	return 0; /* reported: parsing goes on and fails at the end */
}

void csnmp_oids_free(struct csnmp_data *d)
{
	for (size_t i = 0; i < d->noids; i++) {
		free(d->oids[i].name);
		free(d->oids[i].check);
		free(d->oids[i].metric);
	}
	free(d->oids);
	d->oids = NULL;
	d->noids = 0;
}

int csnmp_oids_parse(cfg_t *sec, struct csnmp_data *d)
{
	unsigned n = cfg_size(sec, "oid");
	int bad = 0;

	if (n > CSNMP_OIDS_MAX) {
		conf_section_error(sec, "%u oid subsections, at most %d allowed", n,
				   CSNMP_OIDS_MAX);
		return -1;
	}
	/* an entry is 1 kB (two OIDs of CSNMP_OID_LEN_MAX): none for a device without oids */
	if (n == 0)
		return 0;
	d->oids = xcalloc(n, sizeof(*d->oids));
	for (unsigned i = 0; i < n; i++) {
		struct csnmp_oid_def *o = &d->oids[d->noids];
		cfg_t *osec = cfg_getnsec(sec, "oid", i);

		/* reported already where it was written */
		if (conf_had_errors(osec) || csnmp_oid_read(osec, o) < 0) {
			bad = 1;
			continue;
		}
		d->noids++;
		for (size_t k = 0; k + 1 < d->noids; k++)
			if (strcmp(d->oids[k].check, o->check) == 0 &&
			    strcmp(d->oids[k].metric, o->metric) == 0) {
				conf_section_error(sec,
						   "oid \"%s\" and oid \"%s\" both store check "
						   "\"%s\" metric \"%s\"",
						   d->oids[k].name, o->name, o->check, o->metric);
				bad = 1;
			}
	}
	return bad ? -1 : 0;
}
