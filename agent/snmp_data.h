/*
 * snmp_data.h - the host, UPS and custom values of an snmp device: the
 * built-in MIB groups its `mibs` key enables (snmp_mibs.c) and its `oid`
 * subsections (snmp_oids.c). Included by snmp.h only.
 */
#ifndef VAKT_SNMP_DATA_H
#define VAKT_SNMP_DATA_H

#include <stddef.h>
#include <stdint.h>

#include <confuse.h>
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "sample.h"

#define CSNMP_OIDS_MAX    64 /* oid subsections of one device */
#define CSNMP_OID_LEN_MAX 64 /* sub-identifiers of a configured OID */

/* The built-in groups, as bits of csnmp_data.mibs. */
enum csnmp_mib {
	CSNMP_MIB_HOST = 1 << 0, /* HOST-RESOURCES-MIB: storage, processors */
	CSNMP_MIB_UCD = 1 << 1,  /* UCD-SNMP-MIB: load, memory, swap */
	CSNMP_MIB_UPS = 1 << 2,  /* UPS-MIB (RFC 1628) */
};

/* One `oid "NAME" { ... }` subsection. */
struct csnmp_oid_def {
	char *name;   /* the subsection's title */
	char *check;  /* the sample's check (default: the title) */
	char *metric; /* and metric (default "value") */
	oid col[CSNMP_OID_LEN_MAX];
	size_t col_len;
	oid inst[CSNMP_OID_LEN_MAX]; /* instance_oid: the column naming rows */
	size_t inst_len;             /* 0: rows named by their index */
	int table;                   /* a column walked (else one GET) */
	enum sample_kind kind;       /* GAUGE or COUNTER */
	double scale;                /* gauges: the value stored is the answer x scale */
};

/* What one device polls besides its interfaces. */
struct csnmp_data {
	unsigned mibs; /* enum csnmp_mib bits */
	struct csnmp_oid_def *oids;
	size_t noids;
	struct csnmp_drun *run; /* snmp_data.c's requests and answers, made at the first run */
};

/* A scalar of a built-in group (snmp_mibs.c's table). */
struct csnmp_mib_scalar {
	unsigned group; /* enum csnmp_mib */
	const char *check, *metric;
	oid name[16];
	size_t len;
	double scale; /* the value stored is the integer answer x scale ... */
	long equals;  /* ... or, when not 0, 1 if the answer is this number, else 0 */
};

/* snmp_mibs.c */
extern const struct csnmp_mib_scalar csnmp_mib_scalars[];
extern const size_t csnmp_mib_nscalars;
/* Fills `d` from the section's `mibs` and `oid` keys; -1 after reporting. */
int csnmp_data_parse(cfg_t *sec, struct csnmp_data *d);
void csnmp_data_free(struct csnmp_data *d);

/* snmp_data.c: the run's phase after the interfaces' values (check_snmp.c calls these) */
struct csnmp_priv;
/* Sends the next request of the phase: 1 if sent, 0 if nothing is left, -1 if it failed. */
int csnmp_data_send(struct csnmp_priv *p);
/* Takes one answer in; 0, or -1 after ending the run with csnmp_fail. */
int csnmp_data_response(struct csnmp_priv *p, netsnmp_pdu *resp);
/*
 * One sample per value of the phase (unknown for what the device lacked);
 * in a run a timeout ended, only the GETs' values once all are in and the
 * tables walked to their end.
 */
void csnmp_data_emit(struct csnmp_priv *p);
void csnmp_data_run_free(struct csnmp_drun *r);

/* snmp_oids.c */
/* The keys of an `oid` subsection; its validator reports at the subsection's own FILE:LINE. */
extern cfg_opt_t csnmp_oid_opts[];
int csnmp_oid_validate(cfg_t *cfg, cfg_opt_t *opt);
/* Fills d->oids from the (validated) `oid` subsections of `sec`; -1 after reporting. */
int csnmp_oids_parse(cfg_t *sec, struct csnmp_data *d);
void csnmp_oids_free(struct csnmp_data *d);
/* The names of the checks the built-in groups store into, which an `oid` may not take. */
int csnmp_mibs_check_taken(const char *check);

/* An oid subsection as the snmp section's schema holds it. */
#define CSNMP_OID_SECTION                                                                          \
	{                                                                                          \
		"oid", 0, CFGT_SEC, 0, 0, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES,           \
		    csnmp_oid_opts, {0, 0, cfg_false, 0, 0}, 0, {0}, 0, csnmp_oid_validate, 0, 0,  \
		    0                                                                              \
	}

#endif
