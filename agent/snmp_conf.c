/*
 * snmp_conf.c - the "snmp" section: address, version, community (or the
 * SNMPv3 user: snmp_usm.c), retries, requests in flight and the interfaces
 * to poll, validated with every mistake reported at once.
 * Opens nothing and resolves nothing: a name waits for the first run.
 */
#include "snmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "agent.h"
#include "conf.h"
#include "timeutil.h"
#include "xmalloc.h"

cfg_opt_t csnmp_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_STR("version", "2c", CFGF_NONE),
    CFG_STR("community", "public", CFGF_NONE),
    CFG_INT("retries", 1, CFGF_NONE),
    CFG_STR_LIST("interfaces", NULL, CFGF_NONE),
    CFG_STR_LIST("if_types", NULL, CFGF_NONE),
    CFG_STR_LIST("exclude", NULL, CFGF_NONE),
    CFG_INT("table_refresh", CSNMP_TABLE_REFRESH, CFGF_NONE),
    CFG_INT("max_repetitions", CSNMP_BULK_REPS, CFGF_NONE),
    /* SNMPv3 (snmp_usm.c): unset means what the others given ask for */
    CFG_STR("security_name", NULL, CFGF_NODEFAULT),
    CFG_STR("security_level", NULL, CFGF_NODEFAULT),
    CFG_STR("auth_protocol", NULL, CFGF_NODEFAULT),
    CFG_STR("auth_password", NULL, CFGF_NODEFAULT),
    CFG_STR("priv_protocol", NULL, CFGF_NODEFAULT),
    CFG_STR("priv_password", NULL, CFGF_NODEFAULT),
    CFG_STR("context", NULL, CFGF_NODEFAULT),
    CFG_INT("in_flight", 1, CFGF_NONE),
    /* snmp_data.h: host, UPS and custom values, and the profiles giving defaults */
    CFG_STR_LIST("profile", NULL, CFGF_NONE),
    CFG_STR_LIST("mibs", NULL, CFGF_NONE),
    CSNMP_OID_SECTION,
    CFG_END(),
};

void csnmp_priv_free(struct csnmp_priv *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nsels; i++)
		free(p->sels[i].pat);
	free(p->sels);
	for (size_t i = 0; i < p->nexcl; i++)
		free(p->excl[i]);
	free(p->excl);
	free(p->types);
	csnmp_run_free(p);
	csnmp_ports_free(p);
	csnmp_data_free(&p->data);
	csnmp_usm_free(p->usm);
	free(p->reason);
	free(p->odd_types);
	free(p->community);
	free(p->peername);
	free(p->host);
	free(p->shown);
	free(p->target);
	free(p->addr);
	free(p);
}

/* IANAifType names an operator is likely to filter on (numbers work for all). */
static const struct {
	const char *name;
	long type;
} csnmp_iftypes[] = {
    {"other", 1},
    {"ethernetCsmacd", 6},
    {"iso88023Csmacd", 7},
    {"fddi", 15},
    {"propPointToPointSerial", 22},
    {"ppp", 23},
    {"softwareLoopback", 24},
    {"frameRelay", 32},
    {"atm", 37},
    {"propVirtual", 53},
    {"ieee80211", 71},
    {"tunnel", 131},
    {"l2vlan", 135},
    {"l3ipvlan", 136},
    {"ieee8023adLag", 161},
    {"mpls", 166},
    {"bridge", 209},
    {"gpon", 250},
};

/* A list entry that is a name: not empty, not too long, no control characters. */
static int csnmp_check_name(cfg_t *sec, const char *key, unsigned i, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0) {
		conf_section_error(sec, "%s: entry %u is empty", key, i + 1);
		return -1;
	}
	if (len > SAMPLE_NAME_MAX) {
		conf_section_error(sec, "%s: \"%.32s...\" is longer than %d characters", key, s,
				   SAMPLE_NAME_MAX);
		return -1;
	}
	for (const unsigned char *q = (const unsigned char *)s; *q; q++)
		if (*q < 0x20 || *q == 0x7f) {
			conf_section_error(sec, "%s: entry %u contains control characters", key,
					   i + 1);
			return -1;
		}
	return 0;
}

static int csnmp_parse_ifs(cfg_t *sec, struct csnmp_priv *p)
{
	unsigned n = cfg_size(sec, "interfaces");
	int bad = 0;

	if (n > CSNMP_IFS_MAX) {
		conf_section_error(sec, "interfaces lists %u entries, at most %d allowed", n,
				   CSNMP_IFS_MAX);
		return -1;
	}
	p->sels = xcalloc(n ? n : 1, sizeof(*p->sels));
	for (unsigned i = 0; i < n; i++) {
		const char *s = cfg_getnstr(sec, "interfaces", i);
		struct csnmp_sel *sel = &p->sels[p->nsels];
		int dup = 0;

		if (csnmp_check_name(sec, "interfaces", i, s) < 0) {
			bad = 1;
			continue;
		}
		for (size_t j = 0; j < p->nsels; j++)
			if (strcmp(p->sels[j].pat, s) == 0) {
				conf_section_error(sec, "interfaces: \"%s\" is listed twice", s);
				dup = bad = 1;
				break;
			}
		if (dup)
			continue;
		if (strcmp(s, "all") == 0 || strcmp(s, "*") == 0) {
			sel->kind = CSNMP_SEL_ALL;
		} else if (strspn(s, "0123456789") == strlen(s)) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(s, &end, 10);
			if (errno != 0 || v < 1 || v > 2147483647UL) {
				conf_section_error(
				    sec, "interfaces: ifIndex \"%s\" must be 1..2147483647", s);
				bad = 1;
				continue;
			}
			sel->kind = CSNMP_SEL_INDEX;
			sel->ifindex = v;
		} else if (strpbrk(s, "*?[") != NULL) {
			sel->kind = CSNMP_SEL_GLOB;
		} else {
			sel->kind = CSNMP_SEL_NAME;
		}
		sel->pat = xstrdup(s);
		p->nsels++;
	}
	return bad ? -1 : 0;
}

static int csnmp_parse_filters(cfg_t *sec, struct csnmp_priv *p)
{
	unsigned nt = cfg_size(sec, "if_types"), nx = cfg_size(sec, "exclude");
	int bad = 0;

	if (nt > CSNMP_IFS_MAX || nx > CSNMP_IFS_MAX) {
		conf_section_error(sec, "if_types and exclude take at most %d entries each",
				   CSNMP_IFS_MAX);
		return -1;
	}
	p->types = xcalloc(nt ? nt : 1, sizeof(*p->types));
	for (unsigned i = 0; i < nt; i++) {
		const char *s = cfg_getnstr(sec, "if_types", i);
		size_t k;

		if (csnmp_check_name(sec, "if_types", i, s) < 0) {
			bad = 1;
			continue;
		}
		if (strspn(s, "0123456789") == strlen(s) && strlen(s) <= 9 && atol(s) >= 1) {
			p->types[p->ntypes++] = atol(s);
			continue;
		}
		for (k = 0; k < sizeof(csnmp_iftypes) / sizeof(csnmp_iftypes[0]); k++)
			if (strcmp(csnmp_iftypes[k].name, s) == 0)
				break;
		if (k == sizeof(csnmp_iftypes) / sizeof(csnmp_iftypes[0])) {
			conf_section_error(sec,
					   "if_types: \"%s\" is not an ifType this agent knows by "
					   "name; give its number (IANAifType-MIB)",
					   s);
			bad = 1;
			continue;
		}
		p->types[p->ntypes++] = csnmp_iftypes[k].type;
	}
	p->excl = xcalloc(nx ? nx : 1, sizeof(*p->excl));
	for (unsigned i = 0; i < nx; i++) {
		const char *s = cfg_getnstr(sec, "exclude", i);

		if (csnmp_check_name(sec, "exclude", i, s) < 0) {
			bad = 1;
			continue;
		}
		p->excl[p->nexcl++] = xstrdup(s);
	}
	if (!bad && (p->ntypes > 0 || p->nexcl > 0)) {
		int pattern = 0;

		for (size_t i = 0; i < p->nsels; i++)
			pattern |=
			    p->sels[i].kind == CSNMP_SEL_ALL || p->sels[i].kind == CSNMP_SEL_GLOB;
		if (!pattern) {
			conf_section_error(sec,
					   "if_types and exclude filter the ports \"all\" or a "
					   "pattern in interfaces chooses; interfaces has none");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

int csnmp_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const required[] = {"address", NULL};
	struct csnmp_priv *p;
	const char *addr, *ver, *comm, *why;
	char host[256];
	unsigned port = 0;
	long retries, reps, refresh;
	int bad;

	/* report every mistake in the section at once, not one per attempt */
	bad = conf_require(sec, required) < 0;
	p = xcalloc(1, sizeof(*p));
	p->c = c;

	addr = cfg_getstr(sec, "address");
	if (addr == NULL) {
		/* reported by conf_require */
	} else if (conf_split_hostport(addr, host, sizeof(host), &port, CSNMP_DEFAULT_PORT, &why) <
		   0) {
		conf_section_error(sec, "address \"%s\": %s", addr, why);
		bad = 1;
	} else {
		struct in6_addr a6;

		p->addr = xstrdup(addr);
		p->host = xstrdup(host);
		p->port = port;
		xasprintf(&p->target, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
		p->shown = xstrdup(p->target);
		/* a name waits for the first run: net-snmp would resolve it blocking */
		if (inet_pton(AF_INET6, host, &a6) == 1)
			xasprintf(&p->peername, "udp6:[%s]:%u", host, port);
		else if (inet_pton(AF_INET, host, &a6) == 1)
			xasprintf(&p->peername, "udp:%s:%u", host, port);
	}

	ver = cfg_getstr(sec, "version");
	if (ver != NULL && strcmp(ver, "1") == 0) {
		p->version = SNMP_VERSION_1;
	} else if (ver != NULL && strcmp(ver, "2c") == 0) {
		p->version = SNMP_VERSION_2c;
	} else if (ver != NULL && strcmp(ver, "3") == 0) {
		p->version = SNMP_VERSION_3;
	} else {
		conf_section_error(sec, "version must be \"1\", \"2c\" or \"3\", got \"%s\"",
				   ver ? ver : "");
		bad = 1;
	}

	comm = cfg_getstr(sec, "community");
	if (comm == NULL || *comm == '\0') {
		conf_section_error(sec, "community must not be empty");
		bad = 1;
	} else {
		p->community = xstrdup(comm);
	}

	if (csnmp_usm_parse(sec, p) < 0)
		bad = 1;
	p->in_flight_max = (unsigned)cfg_getint(sec, "in_flight");

	retries = cfg_getint(sec, "retries");
	if (retries < 0 || retries > CSNMP_RETRIES_MAX) {
		conf_section_error(sec, "retries must be 0..%d, got %ld", CSNMP_RETRIES_MAX,
				   retries);
		bad = 1;
	}
	p->retries = (int)retries;
	/* a poll that can outlast its interval would skip every other slot */
	if (!bad && (unsigned long)c->timeout_ms * (unsigned long)(retries + 1) >=
			(unsigned long)c->interval * 1000) {
		conf_section_error(sec,
				   "timeout x (retries + 1) = %lu ms must be shorter than interval "
				   "(%u s)",
				   (unsigned long)c->timeout_ms * (unsigned long)(retries + 1),
				   c->interval);
		bad = 1;
	}

	reps = cfg_getint(sec, "max_repetitions");
	if (reps < 1 || reps > CSNMP_BULK_REPS_MAX) {
		conf_section_error(sec, "max_repetitions must be 1..%d, got %ld",
				   CSNMP_BULK_REPS_MAX, reps);
		bad = 1;
	}
	p->max_reps = (unsigned)reps;

	refresh = cfg_getint(sec, "table_refresh");
	if (refresh < 60 || refresh > 7 * 86400) {
		conf_section_error(sec, "table_refresh must be 60..604800 s, got %ld", refresh);
		bad = 1;
	}
	p->table_refresh = (double)refresh;

	if (csnmp_parse_ifs(sec, p) < 0 || csnmp_parse_filters(sec, p) < 0)
		bad = 1;
	if (csnmp_data_parse(sec, &p->data) < 0)
		bad = 1;
	if (bad) {
		csnmp_priv_free(p);
		return -1;
	}
	p->max_vb = CSNMP_VB_MAX;
	p->table_at = -1;
	c->priv = p;
	return 0;
}
