/*
 * trap_map.h - what a received SNMP trap or inform means: its numeric trap
 * OID, a name for people and rules (linkDown, coldStart, ...), the interface
 * it is about, and its varbinds as one line of text. A pure function of the
 * decoded PDU: it trusts nothing in it, never logs and never allocates, so
 * that a fuzz target can drive it.
 */
#ifndef VAKT_TRAP_MAP_H
#define VAKT_TRAP_MAP_H

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "sample.h"

/* An event as the trap listener sends it (see check_event). */
struct trap_event {
	char name[SAMPLE_NAME_MAX + 1];     /* "linkDown", or the trap OID for unknown traps */
	char oid[SAMPLE_NAME_MAX + 1];      /* the trap OID, numeric */
	char instance[SAMPLE_NAME_MAX + 1]; /* linkDown/linkUp: ifName, ifDescr or ifIndex */
	char text[EVENT_TEXT_MAX + 1];      /* "ifIndex.3=3 ifAdminStatus.3=1 ..." */
	int admin; /* linkDown/linkUp: ifAdminStatus among the varbinds (1 up, 2 down...); 0 none */
};

/*
 * Fills `ev` from a decoded v1 Trap, v2c/v3 Trap or Inform. 0, or -1 with
 * the reason in *why (a static string) when the PDU is none of these or
 * lacks what makes it a trap (snmpTrapOID.0, a trap OID too long to send).
 */
int trap_map(const netsnmp_pdu *pdu, struct trap_event *ev, const char **why);

/* "1.3.6.1.6.3.1.1.5.3" into buf; -1 when it does not fit. */
int trap_oid_str(const oid *name, size_t len, char *buf, size_t size);

#endif
