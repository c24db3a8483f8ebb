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
	for (size_t i = 0; i < p->nifs; i++)
		free(p->ifs[i].cfg);
	free(p->ifs);
	csnmp_data_free(&p->data);
	free(p->items);
	csnmp_table_free(&p->names);
	csnmp_usm_free(p->usm);
	free(p->community);
	free(p->peername);
	free(p->host);
	free(p->addr);
	free(p);
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
	p->ifs = xcalloc(n ? n : 1, sizeof(*p->ifs));
	for (unsigned i = 0; i < n; i++) {
		const char *s = cfg_getnstr(sec, "interfaces", i);
		struct csnmp_if *ifc = &p->ifs[p->nifs];
		size_t len = s ? strlen(s) : 0;
		int ctl = 0;

		if (len == 0) {
			conf_section_error(sec, "interfaces: entry %u is empty", i + 1);
			bad = 1;
			continue;
		}
		if (len > SAMPLE_NAME_MAX) {
			conf_section_error(sec,
					   "interfaces: \"%.32s...\" is longer than %d characters",
					   s, SAMPLE_NAME_MAX);
			bad = 1;
			continue;
		}
		for (const unsigned char *q = (const unsigned char *)s; *q; q++)
			ctl |= *q < 0x20 || *q == 0x7f;
		if (ctl) {
			conf_section_error(sec, "interfaces: entry %u contains control characters",
					   i + 1);
			bad = 1;
			continue;
		}
		for (size_t j = 0; j < p->nifs; j++)
			if (strcmp(p->ifs[j].cfg, s) == 0) {
				conf_section_error(sec, "interfaces: \"%s\" is listed twice", s);
				bad = 1;
				break;
			}
		if (strspn(s, "0123456789") == len) {
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
			ifc->numeric = 1;
			ifc->ifindex = v;
		} else {
			p->nnames++;
		}
		ifc->cfg = xstrdup(s);
		p->nifs++;
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
	long retries, reps;
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
		snprintf(p->target, sizeof(p->target), strchr(host, ':') ? "[%s]:%u" : "%s:%u",
			 host, port);
		snprintf(p->shown, sizeof(p->shown), "%s", p->target);
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

	if (csnmp_parse_ifs(sec, p) < 0)
		bad = 1;
	if (csnmp_data_parse(sec, &p->data) < 0)
		bad = 1;
	if (bad) {
		csnmp_priv_free(p);
		return -1;
	}
	p->items = xcalloc(1 + 3 * p->nifs, sizeof(*p->items));
	p->max_vb = CSNMP_VB_MAX;
	p->need_resolve = 1;
	c->priv = p;
	return 0;
}
