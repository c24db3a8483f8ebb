/*
 * discover.c - vakt-agent --discover: sweeps an IPv4 subnet with SNMP and
 * prints a ready "snmp" section for each device that answers, with the
 * profile that fits it. All requests are asynchronous on one libevent loop,
 * at most --parallel addresses at once; it never waits on one address, never
 * writes a file, and never prints a v3 password unless asked to.
 */
#include "discover.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/time.h>

#include <event2/event.h>

#include "log.h"
#include "rrdpath.h"
#include "snmp.h"
#include "timeutil.h"
#include "xmalloc.h"

#include <net-snmp/library/large_fd_set.h>

#define DISC_PREFIX_MIN   16 /* the largest sweep: a /16 */
#define DISC_PARALLEL     64
#define DISC_PARALLEL_MAX 512
#define DISC_TIMEOUT_S    1.0
#define DISC_RETRIES      1
#define DISC_NAME_MAX     63
#define DISC_PASSWORD_MIN 8 /* USM: shorter pass phrases are refused */
#define DISC_PLACEHOLDER  "SET-ME-(not-printed)"

const char discover_usage[] =
    "   or: %s --discover CIDR --community C | --v3-user U [options]\n"
    "  sweeps an IPv4 subnet (at most a /16) with SNMP and prints an snmp section\n"
    "  for every device that answers:\n"
    "      --community C       v1/v2c community (--snmp-version 1|2c, default 2c)\n"
    "      --v3-user U         SNMPv3 user, with --auth-protocol MD5|SHA|SHA-224|SHA-256|\n"
    "                          SHA-384|SHA-512 (default SHA) --auth-password X and\n"
    "                          --priv-protocol DES|AES|AES-192|AES-256 (default AES)\n"
    "                          --priv-password X, as this net-snmp supports them\n"
    "                          (the environment's VAKT_SNMP_COMMUNITY,\n"
    "                          VAKT_SNMP_AUTH_PASSWORD and VAKT_SNMP_PRIV_PASSWORD\n"
    "                          stand for what is not given, out of sight of ps)\n"
    "      --print-secrets     print the v3 passwords in the sections (default: a\n"
    "                          placeholder)\n"
    "      --port N            UDP port (default 161)\n"
    "      --timeout S         seconds per request (default 1)\n"
    "      --retries N         retries per request (default 1)\n"
    "      --parallel N        addresses asked at once (default 64, at most 512)\n";

/* What a sweep asks each address: one GETNEXT of these, so v1 needs no GET. */
enum disc_query {
	Q_DESCR,
	Q_OBJID,
	Q_NAME,
	Q_IFNUMBER,
	Q_FORWARDING,
	Q_BRIDGE,
	Q_HR,
	Q_UPS,
	Q_PRINTER,
	Q_COUNT,
};

static const struct {
	oid base[12];
	size_t len;
	int scalar; /* the answer must be base.0; else anything under base */
	const char *name;
} disc_queries[Q_COUNT] = {
    [Q_DESCR] = {{1, 3, 6, 1, 2, 1, 1, 1}, 8, 1, "sysDescr"},
    [Q_OBJID] = {{1, 3, 6, 1, 2, 1, 1, 2}, 8, 1, "sysObjectID"},
    [Q_NAME] = {{1, 3, 6, 1, 2, 1, 1, 5}, 8, 1, "sysName"},
    [Q_IFNUMBER] = {{1, 3, 6, 1, 2, 1, 2, 1}, 8, 1, "ifNumber"},
    [Q_FORWARDING] = {{1, 3, 6, 1, 2, 1, 4, 1}, 8, 1, "ipForwarding"},
    [Q_BRIDGE] = {{1, 3, 6, 1, 2, 1, 17, 1, 2}, 9, 1, "dot1dBaseNumPorts"},
    [Q_HR] = {{1, 3, 6, 1, 2, 1, 25, 1}, 8, 0, "hrSystem"},
    [Q_UPS] = {{1, 3, 6, 1, 2, 1, 33, 1, 1}, 9, 0, "upsIdent"},
    [Q_PRINTER] = {{1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 16}, 11, 0, "prtGeneralPrinterName"},
};

struct disc_opts {
	const char *cidr;
	uint32_t first; /* host order */
	uint32_t count;
	unsigned prefix;
	long version;
	const char *community;
	const char *user;
	const char *auth_name, *priv_name; /* as given; NULL: the defaults */
	const char *auth_pass, *priv_pass;
	struct csnmp_usm *usm; /* v3: the user as a device section has it */
	unsigned port;
	double timeout_s;
	int timeout_given;
	int retries;
	unsigned parallel;
	int print_secrets;
};

enum disc_got {
	GOT_NONE,
	GOT_RESPONSE,
	GOT_TIMEOUT,
	GOT_FAILED,
};

enum disc_state {
	ST_FREE,
	ST_PROBING, /* v3: learning the engine ID */
	ST_ASKING,
};

struct discover;

/* One address being asked; a slot is reused for the next address. */
struct disc_slot {
	struct discover *d;
	enum disc_state state;
	uint32_t ip;
	char addr[INET_ADDRSTRLEN];
	void *sessp;
	struct event *ev_read, *ev_timer;
	int outstanding;
	enum disc_got got;
	netsnmp_pdu *resp;
	unsigned asked;      /* bit per query still asked (v1 drops the noSuchName ones) */
	unsigned unreadable; /* datagrams from it that net-snmp could not read */
};

/* A device that answered. */
struct disc_found {
	uint32_t ip;
	struct discover_facts f;
	char name[DISC_NAME_MAX + 24];
};

struct discover {
	struct event_base *base;
	struct disc_opts *o;
	struct disc_slot *slots;
	uint32_t next; /* addresses started */
	unsigned busy;
	unsigned long answered, skipped, not_asked;
	char not_asked_why[256]; /* the last reason printed: repeats are only counted */
	struct disc_found *found;
	size_t nfound, capfound;
};

static void disc_usage(FILE *f, const char *prog)
{
	fprintf(f, discover_usage, prog);
}

static int disc_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int disc_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vakt-agent --discover: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* "10.1.0.0/24": the addresses to try; network and broadcast left out up to a /30. */
static int disc_parse_cidr(struct disc_opts *o, const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr a;
	struct in6_addr a6;
	unsigned long prefix = 32;
	uint32_t net, size;

	if (hlen == 0 || hlen >= sizeof(host))
		return disc_error("\"%s\" is not an IPv4 subnet (e.g. 10.1.0.0/24)", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return disc_error("\"%s\": IPv6 subnets are too large to sweep; give an IPv4 "
				  "subnet (e.g. 10.1.0.0/24)",
				  s);
	if (inet_pton(AF_INET, host, &a) != 1)
		return disc_error("\"%s\": \"%s\" is not an IPv4 address (e.g. 10.1.0.0/24)", s,
				  host);
	if (slash != NULL) {
		char *end;

		errno = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || errno != 0 || prefix > 32 ||
		    !isdigit((unsigned char)slash[1]))
			return disc_error("\"%s\": the prefix length must be 0..32", s);
	}
	if (prefix < DISC_PREFIX_MIN)
		return disc_error("\"%s\" holds %.0f addresses: at most a /%d (65536 addresses) "
				  "is swept at once; sweep it in parts",
				  s, (double)(1ULL << (32 - prefix)), DISC_PREFIX_MIN);
	size = (uint32_t)(1ULL << (32 - prefix));
	net = ntohl(a.s_addr) & ~(size - 1);
	o->prefix = (unsigned)prefix;
	if (size >= 4) {
		o->first = net + 1;
		o->count = size - 2;
	} else {
		o->first = net;
		o->count = size;
	}
	return 0;
}

static int disc_parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
		return disc_error("%s must be %g..%g, got \"%s\"", opt, lo, hi, s);
	*out = v;
	return 0;
}

/*
 * The v3 options as snmp_usm.c has a device's user, so that the keys, the
 * protocols and the reasons of a refusal are the poller's own. The keys
 * (1 MB of hashing per password) are made once, at the first session.
 */
static int disc_v3_user(struct disc_opts *o)
{
	struct csnmp_usm *u;
	char list[128];

	if (strlen(o->user) > 32)
		return disc_error("--v3-user must be at most 32 characters");
	if (o->auth_pass == NULL &&
	    (o->auth_name != NULL || o->priv_pass != NULL || o->priv_name != NULL))
		return disc_error("--priv-password and the protocols need --auth-password "
				  "(authPriv, or authNoPriv without --priv-password)");
	if (o->priv_name != NULL && o->priv_pass == NULL)
		return disc_error("--priv-protocol needs --priv-password");
	for (int i = 0; i < 2; i++) {
		const char *pass = i ? o->priv_pass : o->auth_pass;

		if (pass != NULL && (strlen(pass) < USM_LENGTH_P_MIN || strlen(pass) > 1024))
			return disc_error("--%s-password must have %d to 1024 characters",
					  i ? "priv" : "auth", USM_LENGTH_P_MIN);
	}
	u = o->usm = xcalloc(1, sizeof(*u));
	u->name = xstrdup(o->user);
	u->context = xstrdup("");
	u->level = o->priv_pass   ? SNMP_SEC_LEVEL_AUTHPRIV
		   : o->auth_pass ? SNMP_SEC_LEVEL_AUTHNOPRIV
				  : SNMP_SEC_LEVEL_NOAUTH;
	if (o->auth_pass != NULL) {
		u->auth = csnmp_usm_proto_find(0, o->auth_name ? o->auth_name : "SHA", list,
					       sizeof(list));
		if (u->auth == NULL)
			return disc_error("--auth-protocol \"%s\" is not supported here; one of %s",
					  o->auth_name, list);
		u->auth_pass = xstrdup(o->auth_pass);
	}
	if (o->priv_pass != NULL) {
		u->priv = csnmp_usm_proto_find(1, o->priv_name ? o->priv_name : "AES", list,
					       sizeof(list));
		if (u->priv == NULL)
			return disc_error("--priv-protocol \"%s\" is not supported here; one of %s",
					  o->priv_name, list);
		u->priv_pass = xstrdup(o->priv_pass);
	}
	return 0;
}

/* The command line; 0, or the exit status (2) after printing why. */
static int disc_parse_args(int argc, char **argv, struct disc_opts *o, int *verbose)
{
	enum {
		O_DISCOVER = 256,
		O_COMMUNITY,
		O_SNMP_VERSION,
		O_V3_USER,
		O_AUTH_PROTO,
		O_AUTH_PASS,
		O_PRIV_PROTO,
		O_PRIV_PASS,
		O_PORT,
		O_TIMEOUT,
		O_RETRIES,
		O_PARALLEL,
		O_PRINT_SECRETS,
	};
	static const struct option longopts[] = {
	    {"discover", required_argument, NULL, O_DISCOVER},
	    {"community", required_argument, NULL, O_COMMUNITY},
	    {"snmp-version", required_argument, NULL, O_SNMP_VERSION},
	    {"v3-user", required_argument, NULL, O_V3_USER},
	    {"auth-protocol", required_argument, NULL, O_AUTH_PROTO},
	    {"auth-password", required_argument, NULL, O_AUTH_PASS},
	    {"priv-protocol", required_argument, NULL, O_PRIV_PROTO},
	    {"priv-password", required_argument, NULL, O_PRIV_PASS},
	    {"port", required_argument, NULL, O_PORT},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"retries", required_argument, NULL, O_RETRIES},
	    {"parallel", required_argument, NULL, O_PARALLEL},
	    {"print-secrets", no_argument, NULL, O_PRINT_SECRETS},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *version = NULL;
	double v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->port = CSNMP_DEFAULT_PORT;
	o->timeout_s = DISC_TIMEOUT_S;
	o->retries = DISC_RETRIES;
	o->parallel = DISC_PARALLEL;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case O_DISCOVER:
			o->cidr = optarg;
			break;
		case O_COMMUNITY:
			o->community = optarg;
			break;
		case O_SNMP_VERSION:
			version = optarg;
			break;
		case O_V3_USER:
			o->user = optarg;
			break;
		case O_AUTH_PROTO:
			o->auth_name = optarg;
			break;
		case O_AUTH_PASS:
			o->auth_pass = optarg;
			break;
		case O_PRIV_PROTO:
			o->priv_name = optarg;
			break;
		case O_PRIV_PASS:
			o->priv_pass = optarg;
			break;
		case O_PORT:
			if (disc_parse_num("--port", optarg, 1, 65535, &v) < 0 || v != (int)v)
				return 2;
			o->port = (unsigned)v;
			break;
		case O_TIMEOUT:
			if (disc_parse_num("--timeout", optarg, 0.01, 60, &v) < 0)
				return 2;
			o->timeout_s = v;
			o->timeout_given = 1;
			break;
		case O_RETRIES:
			if (disc_parse_num("--retries", optarg, 0, CSNMP_RETRIES_MAX, &v) < 0 ||
			    v != (int)v)
				return 2;
			o->retries = (int)v;
			break;
		case O_PARALLEL:
			if (disc_parse_num("--parallel", optarg, 1, DISC_PARALLEL_MAX, &v) < 0 ||
			    v != (int)v)
				return 2;
			o->parallel = (unsigned)v;
			break;
		case O_PRINT_SECRETS:
			o->print_secrets = 1;
			break;
		case 'v':
			(*verbose)++;
			break;
		case 'h':
			disc_usage(stdout, "vakt-agent");
			return 0;
		default:
			disc_usage(stderr, "vakt-agent");
			return 2;
		}
	}
	if (optind != argc) {
		disc_error("unexpected argument \"%s\"", argv[optind]);
		return 2;
	}
	/* secrets on the command line show in ps: the environment can carry them instead */
	if (o->community == NULL && o->user == NULL)
		o->community = getenv("VAKT_SNMP_COMMUNITY");
	if (o->user != NULL && o->auth_pass == NULL)
		o->auth_pass = getenv("VAKT_SNMP_AUTH_PASSWORD");
	if (o->user != NULL && o->auth_pass != NULL && o->priv_pass == NULL)
		o->priv_pass = getenv("VAKT_SNMP_PRIV_PASSWORD");
	if (o->cidr == NULL || disc_parse_cidr(o, o->cidr) < 0)
		return 2;
	if (o->community != NULL && o->user != NULL) {
		disc_error("give either --community (v1, v2c) or --v3-user (v3), not both");
		return 2;
	}
	if (o->community == NULL && o->user == NULL) {
		disc_error("missing --community COMMUNITY (v2c; v1 with --snmp-version 1; or "
			   "VAKT_SNMP_COMMUNITY in the environment) or --v3-user USER (v3)");
		return 2;
	}
	if (o->community != NULL) {
		if (*o->community == '\0') {
			disc_error("--community must not be empty");
			return 2;
		}
		if (version == NULL || strcmp(version, "2c") == 0) {
			o->version = SNMP_VERSION_2c;
		} else if (strcmp(version, "1") == 0) {
			o->version = SNMP_VERSION_1;
		} else {
			disc_error("--snmp-version must be 1 or 2c with --community, got \"%s\"",
				   version);
			return 2;
		}
		if (o->auth_pass || o->priv_pass || o->auth_name || o->priv_name) {
			disc_error("the --auth-* and --priv-* options need --v3-user");
			return 2;
		}
		return -1;
	}
	if (*o->user == '\0') {
		disc_error("--v3-user must not be empty");
		return 2;
	}
	if (version != NULL && strcmp(version, "3") != 0) {
		disc_error("--v3-user speaks SNMP version 3, not \"%s\"", version);
		return 2;
	}
	o->version = SNMP_VERSION_3;
	if (disc_v3_user(o) < 0)
		return 2;
	return -1;
}

/* ---- the profile ---------------------------------------------------------- */

static int disc_under(const struct discover_facts *f, const unsigned long *pre, size_t n)
{
	if (f->objid_len < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (f->objid[i] != pre[i])
			return 0;
	return 1;
}

/* The private enterprise under 1.3.6.1.4.1, or 0. */
static unsigned long disc_enterprise(const struct discover_facts *f)
{
	static const unsigned long ent[] = {1, 3, 6, 1, 4, 1};

	return disc_under(f, ent, 6) && f->objid_len > 6 ? f->objid[6] : 0;
}

/* Makers whose SNMP agents are network gear (switches, routers, firewalls). */
static const unsigned long disc_net_vendors[] = {
    9,     /* Cisco */
    11,    /* HP (ProCurve) */
    43,    /* 3Com */
    171,   /* D-Link */
    207,   /* Allied Telesis */
    674,   /* Dell (PowerConnect) */
    890,   /* Zyxel */
    1588,  /* Brocade */
    1916,  /* Extreme Networks */
    1991,  /* Foundry */
    2011,  /* Huawei */
    2620,  /* Check Point */
    2636,  /* Juniper */
    3375,  /* F5 */
    4526,  /* Netgear */
    5624,  /* Enterasys */
    6027,  /* Force10 */
    6486,  /* Alcatel-Lucent Enterprise */
    6527,  /* Nokia (Alcatel-Lucent) */
    8741,  /* SonicWall */
    11863, /* TP-Link */
    12356, /* Fortinet */
    14823, /* Aruba */
    14988, /* MikroTik */
    25461, /* Palo Alto Networks */
    25506, /* H3C */
    29671, /* Meraki */
    30065, /* Arista */
    41112, /* Ubiquiti */
    47196, /* HPE Aruba */
};

/* A maker by its private enterprise number, for the `why` of a guess. */
struct disc_vendor {
	unsigned long ent;
	const char *name;
};

/*
 * Makers whose SNMP agents are hosts' (servers, workstations): their
 * sysDescr need not name the OS ("Sun SNMP Agent, Sun-Blade-100").
 */
static const struct disc_vendor disc_host_vendors[] = {
    {2, "IBM's (AIX, IBM i)"},
    {42, "Sun's (Solaris)"},
    {63, "Apple's (macOS)"},
    {2021, "UCD-SNMP's (the older net-snmp)"},
};

/*
 * Makers of small routers whose sysDescr is a bare model ("BEFSX41"); their
 * switches say so through BRIDGE-MIB or sysDescr, which are asked first.
 */
static const struct disc_vendor disc_router_vendors[] = {
    {872, "AVM's (FRITZ!Box)"},
    {3955, "Linksys's"},
    {7367, "DrayTek's"},
};

static const char *disc_vendor_of(unsigned long ent, const struct disc_vendor *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].ent == ent)
			return v[i].name;
	return NULL;
}

/* The first of `words` sysDescr holds (any case), or NULL. */
static const char *disc_descr_has(const struct discover_facts *f, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcasestr(f->descr, *words) != NULL)
			return *words;
	return NULL;
}

const char *discover_profile(const struct discover_facts *f, char *why, size_t len)
{
	static const char *const router_words[] = {
	    "router",    "firewall",         "Adaptive Security Appliance",
	    "FortiGate", "RouterOS",         "PAN-OS",
	    "pfSense",   "OPNsense",         "SonicOS",
	    "EdgeOS",    "Junos OS Release", "gateway",
	    NULL,
	};
	static const char *const switch_words[] = {"switch", NULL};
	static const char *const host_words[] = {
	    "Linux", "FreeBSD", "OpenBSD", "NetBSD",         "SunOS", "Darwin",
	    "AIX",   "HP-UX",   "Solaris", "Sun SNMP Agent", NULL,
	};
	/* HP's hosts (HP-UX) sit under 11.2.3.2, its switches and printers elsewhere */
	static const unsigned long hpux[] = {1, 3, 6, 1, 4, 1, 11, 2, 3, 2};
	unsigned long ent = disc_enterprise(f);
	const char *word, *maker;
	int net = 0;

	if (f->ups) {
		snprintf(why, len, "UPS-MIB answers");
		return "ups";
	}
	if (f->printer) {
		snprintf(why, len, "Printer-MIB answers");
		return "printer";
	}
	if (ent == 311 || strstr(f->descr, "Windows") != NULL) {
		snprintf(why, len, "%s",
			 ent == 311 ? "sysObjectID is Microsoft's" : "sysDescr names Windows");
		return "windows";
	}
	if (disc_under(f, hpux, sizeof(hpux) / sizeof(hpux[0]))) {
		snprintf(why, len, "sysObjectID is HP-UX's, a host's");
		return "linux";
	}
	for (size_t i = 0; i < sizeof(disc_net_vendors) / sizeof(disc_net_vendors[0]); i++)
		net |= ent == disc_net_vendors[i];
	if (!net) {
		if (ent == 8072) {
			snprintf(why, len, "sysObjectID is net-snmp's");
			return "linux";
		}
		if ((word = disc_descr_has(f, host_words)) != NULL) {
			snprintf(why, len, "sysDescr names %s", word);
			return "linux";
		}
		maker = disc_vendor_of(ent, disc_host_vendors,
				       sizeof(disc_host_vendors) / sizeof(disc_host_vendors[0]));
		if (maker != NULL) {
			snprintf(why, len, "sysObjectID is %s, a host's", maker);
			return "linux";
		}
		if (f->host_resources && f->bridge_ports < 0) {
			snprintf(why, len, "HOST-RESOURCES-MIB answers");
			return "linux";
		}
	}
	if (f->bridge_ports >= 8) {
		snprintf(why, len, "BRIDGE-MIB: %ld bridge ports", f->bridge_ports);
		return "switch";
	}
	if ((word = disc_descr_has(f, router_words)) != NULL) {
		snprintf(why, len, "sysDescr says \"%s\"", word);
		return "router";
	}
	if ((word = disc_descr_has(f, switch_words)) != NULL) {
		snprintf(why, len, "sysDescr says \"%s\"", word);
		return "switch";
	}
	maker = disc_vendor_of(ent, disc_router_vendors,
			       sizeof(disc_router_vendors) / sizeof(disc_router_vendors[0]));
	if (maker != NULL) {
		snprintf(why, len, "sysObjectID is %s, a maker of small routers", maker);
		return "router";
	}
	if (f->forwarding == 1) {
		snprintf(why, len, "forwards IP (ipForwarding)");
		return "router";
	}
	snprintf(why, len, "%s",
		 f->forwarding == 2 ? "does not forward IP (ipForwarding)"
				    : "a guess: nothing it tells decides; check it");
	return "switch";
}

/* ---- one address ------------------------------------------------------------ */

static void disc_slot_done(struct disc_slot *s);
static void disc_after_event(struct disc_slot *s);

/* net-snmp calls this from read/timeout/close; it only records. */
static int disc_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg)
{
	struct disc_slot *s = arg;

	if (!s->outstanding)
		return 1;
	switch (op) {
	case NETSNMP_CALLBACK_OP_SEC_ERROR: /* a v3 Report: the engine ID, or a refusal */
		if (pdu == NULL) {
			s->got = GOT_FAILED;
			break;
		}
		/* fall through */
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		s->resp = snmp_clone_pdu(pdu);
		if (s->resp == NULL)
			fatalx("snmp: out of memory copying a response");
		s->got = GOT_RESPONSE;
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		s->got = GOT_TIMEOUT;
		break;
	case NETSNMP_CALLBACK_OP_RESEND:
	case NETSNMP_CALLBACK_OP_CONNECT:
		return 1;
	default:
		s->got = GOT_FAILED;
		break;
	}
	s->outstanding = 0;
	return 1;
}

static void disc_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct disc_slot *s = arg;
	netsnmp_large_fd_set fds;

	netsnmp_large_fd_set_init(&fds, fd + 1);
	NETSNMP_LARGE_FD_SET(fd, &fds);
	if (snmp_sess_read2(s->sessp, &fds) < 0)
		s->unreadable++;
	netsnmp_large_fd_set_cleanup(&fds);
	disc_after_event(s);
}

static void disc_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct disc_slot *s = arg;

	snmp_sess_timeout(s->sessp);
	disc_after_event(s);
}

/*
 * An address that could not be asked (no route, no socket left): a reason
 * is printed when it differs from the last one, so that a subnet without
 * a route is one line, not one per address; the summary counts them all.
 */
static void disc_not_asked(struct disc_slot *s, const char *what, const char *err)
{
	struct discover *d = s->d;
	char why[sizeof(d->not_asked_why)];

	snprintf(why, sizeof(why), "%s: %s", what, err ? err : "unknown error");
	if (strcmp(why, d->not_asked_why) != 0)
		fprintf(stderr, "%s: not asked: %s%s\n", s->addr, why,
			d->not_asked ? "" : " (the same for other addresses is only counted)");
	snprintf(d->not_asked_why, sizeof(d->not_asked_why), "%s", why);
	d->not_asked++;
}

static int disc_send(struct disc_slot *s, netsnmp_pdu *pdu)
{
	if (snmp_sess_async_send(s->sessp, pdu, disc_cb, s) == 0) {
		int liberr = 0, snmperr = 0;
		char *err = NULL;

		snmp_sess_error(s->sessp, &liberr, &snmperr, &err);
		snmp_free_pdu(pdu);
		disc_not_asked(s, "cannot send", err);
		free(err);
		return -1;
	}
	s->outstanding = 1;
	csnmp_timer_rearm(s->sessp, s->ev_timer);
	return 0;
}

static int disc_ask(struct disc_slot *s)
{
	netsnmp_pdu *pdu = csnmp_pdu_new(SNMP_MSG_GETNEXT);

	for (int q = 0; q < Q_COUNT; q++)
		if (s->asked & (1u << q))
			csnmp_pdu_add(pdu, disc_queries[q].base, disc_queries[q].len);
	s->state = ST_ASKING;
	return disc_send(s, pdu);
}

/* v3: an unauthenticated request whose Report carries the engine ID (RFC 3414 4). */
static int disc_probe(struct disc_slot *s)
{
	netsnmp_pdu *pdu = csnmp_pdu_new(SNMP_MSG_GET);

	pdu->version = SNMP_VERSION_3;
	pdu->securityModel = SNMP_SEC_MODEL_USM;
	pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	pdu->securityName = xstrdup("");
	pdu->securityNameLen = 0;
	s->state = ST_PROBING;
	return disc_send(s, pdu);
}

static void disc_skip(struct disc_slot *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void disc_skip(struct disc_slot *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: skipped: ", s->addr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	s->d->skipped++;
	disc_slot_done(s);
}

/*
 * A string value as one printable line: white space and control characters
 * as one space, none leading or trailing; UTF-8 characters (a sysName
 * "Ørland-sw1") kept whole, other bytes past ASCII '?' (utf8_clean).
 */
static void disc_text(char *dst, size_t len, const u_char *src, size_t n)
{
	char line[DISCOVER_TEXT_MAX + 1];
	size_t o = 0;
	int space = 1; /* drop leading and repeated white space */

	for (size_t i = 0; i < n && o + 1 < sizeof(line) && src[i] != '\0'; i++) {
		unsigned char ch = src[i];

		if (ch < 0x20 || ch == 0x7f || isspace(ch)) {
			if (!space)
				line[o++] = ' ';
			space = 1;
			continue;
		}
		space = 0;
		line[o++] = (char)ch;
	}
	while (o > 0 && line[o - 1] == ' ')
		o--;
	utf8_clean(dst, len, line, o);
}

static int disc_is_answer(const netsnmp_variable_list *v, int q)
{
	size_t n = disc_queries[q].len;

	if (v->type == SNMP_NOSUCHOBJECT || v->type == SNMP_NOSUCHINSTANCE ||
	    v->type == SNMP_ENDOFMIBVIEW || v->name_length <= n ||
	    snmp_oid_compare(v->name, n, disc_queries[q].base, n) != 0)
		return 0;
	return !disc_queries[q].scalar || (v->name_length == n + 1 && v->name[n] == 0);
}

/* The answer to the GETNEXT: the facts, or the reason it is not a device's. */
static void disc_answer(struct disc_slot *s, netsnmp_pdu *resp)
{
	struct disc_opts *o = s->d->o;
	struct discover_facts f;
	netsnmp_variable_list *v = resp->variables;
	int have_descr = 0;

	if (resp->errstat == SNMP_ERR_NOSUCHNAME && o->version == SNMP_VERSION_1 &&
	    resp->errindex >= 1) {
		/* SNMPv1 ends the walk of one column with an error for the whole PDU */
		long k = 0;

		for (int q = 0; q < Q_COUNT; q++)
			if ((s->asked & (1u << q)) && ++k == resp->errindex) {
				if (q == Q_OBJID || q == Q_DESCR) {
					disc_skip(s, "answers without %s", disc_queries[q].name);
					return;
				}
				s->asked &= ~(1u << q);
				if (disc_ask(s) < 0)
					disc_slot_done(s);
				return;
			}
	}
	if (resp->errstat != SNMP_ERR_NOERROR) {
		disc_skip(s, "answers with the error %s", snmp_errstring((int)resp->errstat));
		return;
	}
	memset(&f, 0, sizeof(f));
	f.if_number = f.forwarding = f.bridge_ports = -1;
	for (int q = 0; q < Q_COUNT; q++) {
		if (!(s->asked & (1u << q)))
			continue;
		if (v == NULL) {
			disc_skip(s, "answers with fewer values than asked");
			return;
		}
		if (disc_is_answer(v, q)) {
			switch (q) {
			case Q_DESCR:
			case Q_NAME:
				if (v->type != ASN_OCTET_STR) {
					disc_skip(s, "%s is not a string (type 0x%02x)",
						  disc_queries[q].name, v->type);
					return;
				}
				disc_text(q == Q_DESCR ? f.descr : f.name, DISCOVER_TEXT_MAX,
					  v->val.string, v->val_len);
				have_descr |= q == Q_DESCR;
				break;
			case Q_OBJID:
				if (v->type != ASN_OBJECT_ID || v->val_len < 2 * sizeof(oid) ||
				    v->val_len / sizeof(oid) > DISCOVER_OID_MAX) {
					disc_skip(s, "sysObjectID is not an OID (type 0x%02x)",
						  v->type);
					return;
				}
				f.objid_len = v->val_len / sizeof(oid);
				for (size_t i = 0; i < f.objid_len; i++)
					f.objid[i] = v->val.objid[i];
				break;
			case Q_IFNUMBER:
			case Q_FORWARDING:
			case Q_BRIDGE:
				if (v->type == ASN_INTEGER) {
					long n = *v->val.integer;

					if (q == Q_IFNUMBER)
						f.if_number = n;
					else if (q == Q_FORWARDING)
						f.forwarding = n;
					else
						f.bridge_ports = n;
				}
				break;
			case Q_HR:
				f.host_resources = 1;
				break;
			case Q_UPS:
			case Q_PRINTER:
				*(q == Q_UPS ? &f.ups : &f.printer) = 1;
				/* upsIdentManufacturer, prtGeneralPrinterName: for the comment */
				if (v->type == ASN_OCTET_STR)
					disc_text(f.model, sizeof(f.model), v->val.string,
						  v->val_len);
				break;
			}
		}
		v = v->next_variable;
	}
	if (f.objid_len == 0) {
		disc_skip(s, "answers without sysObjectID");
		return;
	}
	if (!have_descr) {
		disc_skip(s, "answers without sysDescr");
		return;
	}
	if (s->d->nfound == s->d->capfound) {
		s->d->capfound = s->d->capfound ? 2 * s->d->capfound : 16;
		s->d->found = xreallocarray(s->d->found, s->d->capfound, sizeof(*s->d->found));
	}
	s->d->found[s->d->nfound].ip = s->ip;
	s->d->found[s->d->nfound].f = f;
	s->d->nfound++;
	s->d->answered++;
	log_debug("%s: answered: %s", s->addr, f.descr);
	disc_slot_done(s);
}

/* A Report instead of a Response: v3 refused the request (or told its engine ID). */
static void disc_report(struct disc_slot *s, netsnmp_pdu *resp)
{
	struct disc_opts *o = s->d->o;
	int type = snmpv3_get_report_type(resp);
	netsnmp_session *sess = snmp_sess_session(s->sessp);
	char why[SAMPLE_REASON_MAX + 1];

	if (s->state == ST_PROBING) {
		if (resp->securityEngineIDLen == 0) {
			disc_skip(s, "answers the SNMPv3 engine probe without an engine ID");
			return;
		}
		free(sess->securityEngineID);
		sess->securityEngineID =
		    netsnmp_memdup(resp->securityEngineID, resp->securityEngineIDLen);
		sess->securityEngineIDLen = resp->securityEngineIDLen;
		if (sess->securityEngineID == NULL)
			fatalx("snmp: out of memory copying an engine ID");
		if (usm_create_user_from_session(sess) != SNMPERR_SUCCESS) {
			disc_skip(s, "cannot set up user \"%s\" for its engine", o->user);
			return;
		}
		if (disc_ask(s) < 0)
			disc_slot_done(s);
		return;
	}
	csnmp_usm_report(o->usm, type, "the device", why, sizeof(why));
	disc_skip(s, "%s", why);
}

static void disc_after_event(struct disc_slot *s)
{
	enum disc_got got = s->got;
	netsnmp_pdu *resp = s->resp;

	s->got = GOT_NONE;
	s->resp = NULL;
	switch (got) {
	case GOT_NONE:
		csnmp_timer_rearm(s->sessp, s->ev_timer);
		break;
	case GOT_TIMEOUT:
		if (s->unreadable > 0)
			disc_skip(s, "answers with what is not SNMP it can read (%u datagram%s)",
				  s->unreadable, s->unreadable == 1 ? "" : "s");
		else if (s->state == ST_ASKING && s->d->o->version == SNMP_VERSION_3)
			disc_skip(s,
				  "answers the SNMPv3 engine probe but not the request of user "
				  "\"%s\" (as with a wrong --priv-password)",
				  s->d->o->user);
		else
			disc_slot_done(s); /* nobody there, or not for these credentials */
		break;
	case GOT_FAILED:
		disc_skip(s, "the request failed");
		break;
	case GOT_RESPONSE:
		if (resp->command == SNMP_MSG_REPORT)
			disc_report(s, resp);
		else if (s->state == ST_PROBING)
			disc_skip(s, "answers the SNMPv3 engine probe with a %s",
				  snmp_pdu_type(resp->command));
		else
			disc_answer(s, resp);
		break;
	}
	if (resp != NULL)
		snmp_free_pdu(resp);
}

static int disc_open(struct disc_slot *s)
{
	struct disc_opts *o = s->d->o;
	netsnmp_session ss;
	netsnmp_transport *t;
	char peer[64];

	snmp_sess_init(&ss);
	snprintf(peer, sizeof(peer), "udp:%s:%u", s->addr, o->port);
	ss.peername = peer;
	ss.version = o->version;
	ss.timeout = (long)(o->timeout_s * 1e6);
	ss.retries = o->retries;
	if (o->version == SNMP_VERSION_3) {
		char why[128];

		if (csnmp_usm_session(o->usm, NULL, &ss, why, sizeof(why)) < 0) {
			disc_not_asked(s, "SNMPv3 user", why);
			return -1;
		}
	} else {
		ss.community = (u_char *)o->community;
		ss.community_len = strlen(o->community);
	}
	s->sessp = snmp_sess_open(&ss);
	if (s->sessp == NULL) {
		int liberr = 0, snmperr = 0;
		char *err = NULL;

		snmp_error(&ss, &liberr, &snmperr, &err);
		disc_not_asked(s, "cannot open an SNMP session", err);
		free(err);
		return -1;
	}
	/* snmp_sess_open keeps the flag only for itself: the first send would probe, blocking */
	if (o->version == SNMP_VERSION_3)
		snmp_sess_session(s->sessp)->flags |= SNMP_FLAGS_DONT_PROBE;
	t = snmp_sess_transport(s->sessp);
	if (t == NULL || t->sock < 0) {
		disc_not_asked(s, "cannot open an SNMP session", "it has no socket");
		return -1;
	}
	s->ev_read = event_new(s->d->base, t->sock, EV_READ | EV_PERSIST, disc_on_read, s);
	s->ev_timer = evtimer_new(s->d->base, disc_on_timer, s);
	if (s->ev_read == NULL || s->ev_timer == NULL || event_add(s->ev_read, NULL) < 0)
		fatalx("discover: cannot create events");
	return 0;
}

static void disc_slot_close(struct disc_slot *s)
{
	if (s->ev_read != NULL)
		event_free(s->ev_read);
	if (s->ev_timer != NULL)
		event_free(s->ev_timer);
	s->ev_read = s->ev_timer = NULL;
	s->outstanding = 0; /* what close reports as timed out is not a result */
	if (s->sessp != NULL)
		snmp_sess_close(s->sessp);
	s->sessp = NULL;
	if (s->resp != NULL)
		snmp_free_pdu(s->resp);
	s->resp = NULL;
	s->state = ST_FREE;
}

/* Starts the next addresses while slots are free; ends the loop after the last. */
static void disc_launch(struct discover *d)
{
	struct disc_opts *o = d->o;

	for (unsigned i = 0; i < o->parallel && d->next < o->count; i++) {
		struct disc_slot *s = &d->slots[i];
		struct in_addr a;
		int rc;

		if (s->state != ST_FREE)
			continue;
		memset(s, 0, sizeof(*s));
		s->d = d;
		s->ip = o->first + d->next++;
		a.s_addr = htonl(s->ip);
		inet_ntop(AF_INET, &a, s->addr, sizeof(s->addr));
		s->asked = (1u << Q_COUNT) - 1;
		if (disc_open(s) < 0) {
			disc_slot_close(s);
			continue;
		}
		d->busy++;
		rc = o->version == SNMP_VERSION_3 ? disc_probe(s) : disc_ask(s);
		if (rc < 0)
			disc_slot_done(s);
	}
	if (d->busy == 0 && d->next == o->count)
		event_base_loopbreak(d->base);
}

static void disc_slot_done(struct disc_slot *s)
{
	struct discover *d = s->d;

	disc_slot_close(s);
	d->busy--;
	disc_launch(d);
}

/* ---- the output ------------------------------------------------------------- */

static int disc_by_ip(const void *a, const void *b)
{
	const struct disc_found *x = a, *y = b;

	return x->ip < y->ip ? -1 : x->ip > y->ip;
}

/*
 * sysName's first label in letters, digits, '-' and '_', or "" when none;
 * Norwegian and Sami letters spelled as the collector spells them on disk
 * ("Ørland-sw1" -> "Orland-sw1"), other characters a '-'.
 */
static void disc_sanitize(char *dst, size_t len, const char *src)
{
	size_t o = 0;
	int dash = 1;

	for (; *src != '\0' && *src != '.' && o + 1 < len && o < DISC_NAME_MAX; src++) {
		unsigned char ch = (unsigned char)*src;
		size_t k = ch >= 0x80 ? utf8_char_len(src, strlen(src)) : 0;
		char one[8], spelt[16];

		if (k > 0) {
			memcpy(one, src, k);
			one[k] = '\0';
			src += k - 1;
			/* a letter rrdpath spells in ASCII letters, else a separator */
			if (rrdpath_component(spelt, sizeof(spelt), one) == 1 &&
			    strspn(spelt, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
				strlen(spelt) &&
			    o + strlen(spelt) < len && o + strlen(spelt) <= DISC_NAME_MAX) {
				memcpy(dst + o, spelt, strlen(spelt));
				o += strlen(spelt);
				dash = 0;
			} else if (!dash) {
				dst[o++] = '-';
				dash = 1;
			}
			continue;
		}
		if (isalnum(ch) || ch == '_') {
			dst[o++] = (char)ch;
			dash = 0;
		} else if (!dash) {
			dst[o++] = '-';
			dash = 1;
		}
	}
	while (o > 0 && dst[o - 1] == '-')
		o--;
	dst[o] = '\0';
}

/* Section names: sysName sanitized, unique; the address where it is empty or taken. */
static void disc_name_all(struct discover *d)
{
	for (size_t i = 0; i < d->nfound; i++) {
		struct disc_found *x = &d->found[i];
		char base[DISC_NAME_MAX + 1], dashed[INET_ADDRSTRLEN];
		struct in_addr a;
		int taken;

		a.s_addr = htonl(x->ip);
		inet_ntop(AF_INET, &a, dashed, sizeof(dashed));
		for (char *p = dashed; *p; p++)
			if (*p == '.')
				*p = '-';
		disc_sanitize(base, sizeof(base), x->f.name);
		if (base[0] == '\0')
			snprintf(x->name, sizeof(x->name), "snmp-%s", dashed);
		else
			snprintf(x->name, sizeof(x->name), "%s", base);
		for (unsigned n = 2;; n++) {
			taken = 0;
			for (size_t j = 0; j < i && !taken; j++)
				taken = strcmp(d->found[j].name, x->name) == 0;
			if (!taken)
				break;
			if (n == 2)
				snprintf(x->name, sizeof(x->name), "%s-%s", base[0] ? base : "snmp",
					 dashed);
			else
				snprintf(x->name, sizeof(x->name), "%s-%s-%u",
					 base[0] ? base : "snmp", dashed, n);
		}
	}
}

/*
 * A string as libconfuse reads it back: quoted, '"' and '\' escaped, and the
 * '$' of a "${" too (else the agent would read an environment variable).
 */
static void disc_print_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\' || (*s == '$' && s[1] == '{'))
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void disc_print_kv(FILE *f, const char *key, const char *value)
{
	fprintf(f, "  %-14s = ", key);
	disc_print_str(f, value);
	fputc('\n', f);
}

static void disc_print(struct discover *d, FILE *f)
{
	struct disc_opts *o = d->o;
	int hidden = 0;

	for (size_t i = 0; i < d->nfound; i++) {
		struct disc_found *x = &d->found[i];
		char why[128];
		const char *profile = discover_profile(&x->f, why, sizeof(why));
		char addr[INET_ADDRSTRLEN + 8], objid[DISCOVER_OID_MAX * 11];
		struct in_addr a;
		size_t off = 0;

		a.s_addr = htonl(x->ip);
		inet_ntop(AF_INET, &a, addr, INET_ADDRSTRLEN);
		if (o->port != CSNMP_DEFAULT_PORT)
			snprintf(addr + strlen(addr), 8, ":%u", o->port);
		objid[0] = '\0';
		for (size_t k = 0; k < x->f.objid_len && off < sizeof(objid); k++)
			off += (size_t)snprintf(objid + off, sizeof(objid) - off,
						k ? ".%lu" : "%lu", x->f.objid[k]);
		fprintf(f, "%s# %s: sysName \"%s\"\n", i ? "\n" : "", addr, x->f.name);
		fprintf(f, "#   sysDescr:    %s\n", x->f.descr);
		fprintf(f, "#   sysObjectID: %s\n", objid);
		if (x->f.if_number >= 0)
			fprintf(f, "#   interfaces:  %ld (ifNumber)\n", x->f.if_number);
		else
			fprintf(f, "#   interfaces:  not told (no ifNumber)\n");
		if ((x->f.ups || x->f.printer) && x->f.model[0] != '\0')
			fprintf(f, "#   %-12s %s\n",
				x->f.ups ? "UPS-MIB:" : "Printer-MIB:", x->f.model);
		fprintf(f, "#   profile:     %s (%s)\n", profile, why);
		/* the host profiles poll HOST-RESOURCES-MIB: say before its files fill with unknowns */
		if (!x->f.host_resources &&
		    (strcmp(profile, "linux") == 0 || strcmp(profile, "windows") == 0))
			fprintf(f,
				"#   note:        HOST-RESOURCES-MIB does not answer (hrSystem): the "
				"storage and processor values the %s profile polls would be "
				"unknown\n",
				profile);
		/* Windows says every adapter is meant to be up: an unplugged one is "down" */
		if (strcmp(profile, "windows") == 0)
			fprintf(f, "#   note:        Windows reports every adapter as meant to be up "
				   "(ifAdminStatus): one unplugged or off (Bluetooth, Wi-Fi) is "
				   "\"down\" and pages by an interface-down rule; name the ports to "
				   "watch in interfaces, or leave the others out with exclude\n");
		fprintf(f, "snmp \"%s\" {\n", x->name);
		disc_print_kv(f, "address", addr);
		if (o->version == SNMP_VERSION_3) {
			disc_print_kv(f, "version", "3");
			disc_print_kv(f, "security_name", o->user);
			disc_print_kv(f, "security_level", csnmp_usm_level_str(o->usm->level));
			if (o->usm->auth != NULL) {
				disc_print_kv(f, "auth_protocol", o->usm->auth->name);
				disc_print_kv(f, "auth_password",
					      o->print_secrets ? o->auth_pass : DISC_PLACEHOLDER);
			}
			if (o->usm->priv != NULL) {
				disc_print_kv(f, "priv_protocol", o->usm->priv->name);
				disc_print_kv(f, "priv_password",
					      o->print_secrets ? o->priv_pass : DISC_PLACEHOLDER);
			}
			hidden |= o->auth_pass != NULL && !o->print_secrets;
		} else {
			disc_print_kv(f, "version", o->version == SNMP_VERSION_1 ? "1" : "2c");
			disc_print_kv(f, "community", o->community);
		}
		if (o->timeout_given) {
			long ms = (long)(o->timeout_s * 1000 + 0.5);

			/* as the section checks it: timeout x (retries + 1) under the interval */
			if (ms >= 1 && ms * (o->retries + 1) < 60000)
				fprintf(f, "  %-14s = %ld\n", "timeout", ms);
		}
		if (o->retries != 1)
			fprintf(f, "  %-14s = %d\n", "retries", o->retries);
		disc_print_kv(f, "profile", profile);
		disc_print_kv(f, "interfaces", "all");
		fprintf(f, "}\n");
	}
	if (hidden)
		fprintf(f,
			"\n# The v3 passwords are not printed: replace %s in each section, or\n"
			"# run the discovery again with --print-secrets.\n",
			DISC_PLACEHOLDER);
}

int discover_main(int argc, char **argv)
{
	struct disc_opts o;
	struct discover d;
	int verbose = 0, rc;
	uint64_t t0;
	char more[64] = "";

	rc = disc_parse_args(argc, argv, &o, &verbose);
	if (rc >= 0) {
		csnmp_usm_free(o.usm);
		return rc;
	}
	log_init("vakt-agent", 1, verbose);
	csnmp_lib_init();
	memset(&d, 0, sizeof(d));
	d.o = &o;
	d.base = event_base_new();
	if (d.base == NULL)
		fatalx("cannot create the event loop");
	if (o.parallel > o.count)
		o.parallel = o.count;
	d.slots = xcalloc(o.parallel, sizeof(*d.slots));
	t0 = mono_now_ms();
	disc_launch(&d);
	if (d.busy > 0)
		event_base_dispatch(d.base);
	if (d.nfound > 1) /* found is NULL when nothing answered */
		qsort(d.found, d.nfound, sizeof(*d.found), disc_by_ip);
	disc_name_all(&d);
	disc_print(&d, stdout);
	fflush(stdout);
	if (d.not_asked > 0)
		snprintf(more, sizeof(more), ", %lu not asked", d.not_asked);
	fprintf(stderr,
		"vakt-agent --discover %s: %lu addresses tried, %lu answered, %lu skipped%s, in "
		"%.1f s\n",
		o.cidr, (unsigned long)o.count, d.answered, d.skipped, more,
		(double)(mono_now_ms() - t0) / 1000.0);
	free(d.found);
	free(d.slots);
	csnmp_usm_free(o.usm);
	event_base_free(d.base);
	return ferror(stdout) ? 1 : 0;
}
