/*
 * discover.h - vakt-agent --discover: sweeps an IPv4 subnet with SNMP and
 * prints an "snmp" section for every device that answers. The profile
 * choice is public so that it can be tested without a network.
 */
#ifndef VAKT_DISCOVER_H
#define VAKT_DISCOVER_H

#include <stddef.h>
#include <stdio.h>

#define DISCOVER_TEXT_MAX 256
#define DISCOVER_OID_MAX  128

/* What one device said about itself; -1 where it did not say. */
struct discover_facts {
	char descr[DISCOVER_TEXT_MAX]; /* sysDescr, one line */
	char name[DISCOVER_TEXT_MAX];  /* sysName, one line */
	unsigned long objid[DISCOVER_OID_MAX];
	size_t objid_len;              /* sysObjectID */
	long if_number;                /* ifNumber */
	long forwarding;               /* ipForwarding: 1 forwarding, 2 not */
	long bridge_ports;             /* BRIDGE-MIB dot1dBaseNumPorts */
	int host_resources;            /* HOST-RESOURCES-MIB hrSystem answers */
	int ups;                       /* UPS-MIB upsIdent answers */
	int printer;                   /* Printer-MIB prtGeneralPrinterName answers */
	char model[DISCOVER_TEXT_MAX]; /* upsIdentManufacturer or prtGeneralPrinterName */
};

/*
 * The profile (deploy/profiles/NAME.conf) that fits the device best:
 * "switch", "router", "ups", "linux", "windows" or "printer"; `why` says
 * what decided it, for the comment above the section.
 */
const char *discover_profile(const struct discover_facts *f, char *why, size_t len);

/* The lines --help adds for --discover. */
extern const char discover_usage[];

/* Runs vakt-agent --discover ... with the whole command line; the exit status. */
int discover_main(int argc, char **argv);

#endif
