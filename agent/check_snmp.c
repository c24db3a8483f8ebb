/*
 * check_snmp.c - the "snmp" check kind: polls sysUpTime and per-interface
 * ifHCInOctets/ifHCOutOctets/ifOperStatus over SNMPv1/v2c with net-snmp's
 * single-session API driven from the agent's libevent loop. It never blocks
 * the loop (only session open may resolve a name), never sends rates (raw
 * counters only), and never touches net-snmp's global session list.
 */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>

#include <arpa/inet.h>
#include <event2/dns.h>

#include "agent.h"
#include "conf.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Internal names use csnmp_ / CSNMP_: net-snmp owns the snmp_ / SNMP_ namespace. */
#define CSNMP_DEFAULT_PORT       161
#define CSNMP_RETRIES_MAX        10
#define CSNMP_IFS_MAX            1024   /* bound on the interfaces list */
#define CSNMP_VB_MAX             30     /* varbinds per GET; halved on tooBig */
#define CSNMP_BULK_REPS          20     /* GETBULK max-repetitions for the name walk */
#define CSNMP_WALK_ROWS_MAX      10000  /* a walk of one column stops here */
#define CSNMP_RESOLVE_RETRY_S    600.0  /* look again for names not found */
#define CSNMP_COMPLAIN_S         600.0  /* repeated poll failures */
#define CSNMP_MISSING_COMPLAIN_S 3600.0 /* values the device does not have */
#define CSNMP_OID_STR            256

enum csnmp_metric {
	CSNMP_M_UPTIME,
	CSNMP_M_IN,
	CSNMP_M_OUT,
	CSNMP_M_OPER,
};

/*
 * The octet counters are sent as DERIVE, not COUNTER: ifHC* are 64-bit and
 * never wrap in practice, but they do reset to 0 when the device reboots.
 * rrdtool treats a decrease of a COUNTER as a wrap and records a huge spike;
 * a DERIVE with min 0 turns the reset into one unknown value instead.
 */
static const struct csnmp_metric_def {
	const char *name;
	enum sample_kind kind;
	oid base[11];
	size_t len; /* sysUpTime: the whole OID; others: the column */
} csnmp_metrics[] = {
    [CSNMP_M_UPTIME] = {"uptime", SAMPLE_GAUGE, {1, 3, 6, 1, 2, 1, 1, 3, 0}, 9},
    [CSNMP_M_IN] = {"in_octets", SAMPLE_DERIVE, {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6}, 11},
    [CSNMP_M_OUT] = {"out_octets", SAMPLE_DERIVE, {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10}, 11},
    [CSNMP_M_OPER] = {"oper_status", SAMPLE_GAUGE, {1, 3, 6, 1, 2, 1, 2, 2, 1, 8}, 10},
};

/* Columns walked, in order, to turn interface names into ifIndex values. */
static const struct csnmp_column {
	const char *name;
	oid base[11];
	size_t len;
} csnmp_columns[] = {
    {"ifName", {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1}, 11},
    {"ifDescr", {1, 3, 6, 1, 2, 1, 2, 2, 1, 2}, 10},
};
#define CSNMP_NCOLUMNS (sizeof(csnmp_columns) / sizeof(csnmp_columns[0]))

struct csnmp_if {
	char *cfg;             /* as configured ("eth0", "2"): the sample instance */
	int numeric;           /* cfg is an ifIndex: no lookup */
	unsigned long ifindex; /* 0: not (or no longer) on the device */
	unsigned long found;   /* result of the walk in progress */
	const char *found_in;  /* column that matched */
	int missing_logged;    /* "not found" said once */
	unsigned refused;      /* bit per metric: the agent said noSuchName */
};

enum csnmp_item_state {
	CSNMP_ITEM_PENDING,
	CSNMP_ITEM_VALUE,
	CSNMP_ITEM_UNKNOWN,
};

/* One value of the GET phase. */
struct csnmp_item {
	oid name[12];
	size_t len;
	int ifi; /* index in ifs, -1 for sysUpTime */
	enum csnmp_metric m;
	enum csnmp_item_state state;
	double value;
	uint64_t counter;
};

enum csnmp_phase {
	CSNMP_PHASE_IDLE,
	CSNMP_PHASE_WALK, /* resolving names */
	CSNMP_PHASE_GET,  /* fetching values */
};

/* What the last net-snmp callback (or run()) left for csnmp_advance(). */
enum csnmp_got {
	CSNMP_GOT_NONE,
	CSNMP_GOT_START,
	CSNMP_GOT_RESPONSE,
	CSNMP_GOT_TIMEOUT,
	CSNMP_GOT_FAILED,
};

struct csnmp_priv {
	struct check *c;
	char *addr; /* as configured, for messages */
	char *host; /* the host part of addr: a name is resolved through evdns */
	unsigned port;
	char *peername; /* "udp:host:port" / "udp6:[addr]:port"; NULL until resolved */
	struct evdns_getaddrinfo_request *dnsreq;
	char *community;
	long version; /* SNMP_VERSION_1 or SNMP_VERSION_2c */
	int retries;
	struct csnmp_if *ifs;
	size_t nifs;
	size_t nnames; /* entries that need a lookup */

	void *sessp;
	struct event *ev_read, *ev_timer, *ev_kick;
	int closing; /* stop() in progress: callbacks do nothing */

	/* the current run */
	enum csnmp_phase phase;
	enum csnmp_got got;
	netsnmp_pdu *resp;
	int failed_op;
	int outstanding;
	int finished;
	enum check_outcome outcome;
	int walked_run;
	unsigned nreq;
	uint64_t start_ms;

	/* the name walk */
	size_t walk_col;
	oid walk_oid[MAX_OID_LEN];
	size_t walk_len;
	unsigned walk_rows;
	int walk_done;

	/* the GET phase */
	struct csnmp_item *items;
	size_t nitems;
	size_t sent[CSNMP_VB_MAX];
	size_t nsent;
	size_t max_vb;
	char miss_oid[CSNMP_OID_STR];
	char miss_why[64];

	/* kept across runs */
	int need_resolve;
	double resolved_at;
	int have_ticks;
	uint32_t last_ticks;
	struct complaint c_fail, c_missing;
};

static cfg_opt_t csnmp_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),    CFG_STR("version", "2c", CFGF_NONE),
    CFG_STR("community", "public", CFGF_NONE),   CFG_INT("retries", 1, CFGF_NONE),
    CFG_STR_LIST("interfaces", NULL, CFGF_NONE), CFG_END(),
};

static void csnmp_next(struct csnmp_priv *p);

static const char *csnmp_oid_str(char *buf, size_t len, const oid *o, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, i ? ".%lu" : "%lu", (unsigned long)o[i]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}

/* net-snmp's own messages: warnings and errors into our log, the rest dropped. */
static int csnmp_log_cb(int major, int minor, void *serverarg, void *clientarg)
{
	const struct snmp_log_message *m = serverarg;
	size_t n;

	if (m == NULL || m->msg == NULL)
		return 0;
	n = strlen(m->msg);
	while (n > 0 && (m->msg[n - 1] == '\n' || m->msg[n - 1] == '\r'))
		n--;
	if (n > 0)
		log_warnx("net-snmp: %.*s", (int)n, m->msg);
	return 0;
}

/*
 * init_snmp() sets up process-wide library state, so it runs once however
 * many snmp checks there are (and across reloads). Everything about a device
 * comes from agent.conf: no MIB files, no snmp.conf, no persistent files
 * under /var/lib/snmp, and no SIGALRM-driven alarms.
 */
static void csnmp_lib_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	setenv("MIBS", "", 1);
	setenv("MIBDIRS", "", 1);
	/* the DS key exists only in some net-snmp releases (not 5.9); MIBS= works in all */
#ifdef NETSNMP_DS_LIB_DONT_LOAD_MIBS
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_LOAD_MIBS, 1);
#endif
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_ALARM_DONT_USE_SIG, 1);
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, csnmp_log_cb, NULL);
	netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_WARNING);
	init_snmp("vakt");
}

static void csnmp_priv_free(struct csnmp_priv *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nifs; i++)
		free(p->ifs[i].cfg);
	free(p->ifs);
	free(p->items);
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

static int csnmp_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const required[] = {"address", NULL};
	struct csnmp_priv *p;
	const char *addr, *ver, *comm, *why;
	char host[256];
	unsigned port = 0;
	long retries;
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
		conf_section_error(sec, "version 3 is not supported yet");
		bad = 1;
	} else {
		conf_section_error(sec, "version must be \"1\" or \"2c\", got \"%s\"",
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

	if (csnmp_parse_ifs(sec, p) < 0)
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

/* Ends the run with a failure; the caller returns -1 at once. */
static int csnmp_fail(struct csnmp_priv *p, enum check_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int csnmp_fail(struct csnmp_priv *p, enum check_outcome o, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_complain(&p->c_fail, CSNMP_COMPLAIN_S, "snmp \"%s\": %s: %s", p->c->name, p->addr, msg);
	log_debug("snmp \"%s\": %s after %" PRIu64 " ms, %u request(s)", p->c->name,
		  check_outcome_str(o), mono_now_ms() - p->start_ms, p->nreq);
	p->phase = CSNMP_PHASE_IDLE;
	p->outcome = o;
	p->finished = 1;
	return -1;
}

static void csnmp_succeed(struct csnmp_priv *p)
{
	log_complain_clear(&p->c_fail, "snmp \"%s\": %s answers again", p->c->name, p->addr);
	log_debug("snmp \"%s\": ok after %" PRIu64 " ms, %u request(s)", p->c->name,
		  mono_now_ms() - p->start_ms, p->nreq);
	p->phase = CSNMP_PHASE_IDLE;
	p->outcome = CHECK_OK;
	p->finished = 1;
}

/* net-snmp calls this from snmp_sess_read2/timeout/close; it only records. */
static int csnmp_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg)
{
	struct csnmp_priv *p = arg;

	if (p->closing || !p->outstanding)
		return 1;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (pdu == NULL || pdu->command != SNMP_MSG_RESPONSE) {
			p->got = CSNMP_GOT_FAILED;
			p->failed_op = pdu ? (int)pdu->command : 0;
			break;
		}
		p->resp = snmp_clone_pdu(pdu);
		if (p->resp == NULL)
			fatalx("snmp: out of memory copying a response");
		p->got = CSNMP_GOT_RESPONSE;
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		p->got = CSNMP_GOT_TIMEOUT;
		break;
	case NETSNMP_CALLBACK_OP_RESEND:
	case NETSNMP_CALLBACK_OP_CONNECT:
		return 1; /* progress, not an outcome */
	default:
		p->got = CSNMP_GOT_FAILED;
		p->failed_op = -op;
		break;
	}
	p->outstanding = 0;
	return 1;
}

static netsnmp_pdu *csnmp_pdu_new(int command)
{
	netsnmp_pdu *pdu = snmp_pdu_create(command);

	if (pdu == NULL)
		fatalx("snmp: out of memory creating a PDU");
	return pdu;
}

static void csnmp_pdu_add(netsnmp_pdu *pdu, const oid *name, size_t len)
{
	if (snmp_add_null_var(pdu, name, len) == NULL)
		fatalx("snmp: out of memory adding a varbind");
}

static int csnmp_send(struct csnmp_priv *p, netsnmp_pdu *pdu, const char *what)
{
	int liberr = 0, snmperr = 0, reqid;
	char *err = NULL;

	reqid = snmp_sess_async_send(p->sessp, pdu, csnmp_cb, p);
	if (reqid == 0) {
		snmp_sess_error(p->sessp, &liberr, &snmperr, &err);
		snmp_free_pdu(pdu);
		csnmp_fail(p, CHECK_ERROR, "cannot send %s: %s", what, err ? err : "unknown error");
		free(err);
		return -1;
	}
	p->outstanding = 1;
	p->nreq++;
	return 0;
}

/* The next timeout net-snmp wants (retry or give up), or none. */
static void csnmp_rearm(struct csnmp_priv *p)
{
	netsnmp_large_fd_set fds;
	struct timeval tv;
	int nfds = 0, block = 1;

	if (p->sessp == NULL || p->ev_timer == NULL)
		return;
	netsnmp_large_fd_set_init(&fds, FD_SETSIZE);
	timerclear(&tv);
	snmp_sess_select_info2_flags(p->sessp, &nfds, &fds, &tv, &block, NETSNMP_SELECT_NOALARMS);
	netsnmp_large_fd_set_cleanup(&fds);
	if (block)
		evtimer_del(p->ev_timer);
	else
		evtimer_add(p->ev_timer, &tv);
}

/* ---- name walk --------------------------------------------------------- */

static int csnmp_names_unresolved(const struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++)
		if (!p->ifs[i].numeric && p->ifs[i].ifindex == 0)
			return 1;
	return 0;
}

static int csnmp_walk_all_found(const struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++)
		if (!p->ifs[i].numeric && p->ifs[i].found == 0)
			return 0;
	return 1;
}

static void csnmp_walk_column(struct csnmp_priv *p, size_t col)
{
	p->walk_col = col;
	memcpy(p->walk_oid, csnmp_columns[col].base, csnmp_columns[col].len * sizeof(oid));
	p->walk_len = csnmp_columns[col].len;
	p->walk_rows = 0;
}

static void csnmp_walk_begin(struct csnmp_priv *p)
{
	p->phase = CSNMP_PHASE_WALK;
	p->walked_run = 1;
	p->walk_done = 0;
	for (size_t i = 0; i < p->nifs; i++) {
		p->ifs[i].found = 0;
		p->ifs[i].found_in = NULL;
	}
	csnmp_walk_column(p, 0);
}

static void csnmp_walk_send(struct csnmp_priv *p)
{
	netsnmp_pdu *pdu;

	if (p->version == SNMP_VERSION_1) {
		pdu = csnmp_pdu_new(SNMP_MSG_GETNEXT);
	} else {
		pdu = csnmp_pdu_new(SNMP_MSG_GETBULK);
		pdu->non_repeaters = 0;
		pdu->max_repetitions = CSNMP_BULK_REPS;
	}
	csnmp_pdu_add(pdu, p->walk_oid, p->walk_len);
	csnmp_send(p, pdu, csnmp_columns[p->walk_col].name);
}

static void csnmp_walk_match(struct csnmp_priv *p, unsigned long ifindex,
			     const netsnmp_variable_list *vb)
{
	size_t len = vb->val_len;

	if (vb->type != ASN_OCTET_STR || vb->val.string == NULL || ifindex < 1 ||
	    ifindex > 2147483647UL)
		return;
	/* some agents count a trailing NUL in a DisplayString */
	while (len > 0 && vb->val.string[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < p->nifs; i++) {
		struct csnmp_if *ifc = &p->ifs[i];

		if (ifc->numeric || ifc->found != 0)
			continue;
		if (strlen(ifc->cfg) == len && memcmp(ifc->cfg, vb->val.string, len) == 0) {
			ifc->found = ifindex;
			ifc->found_in = csnmp_columns[p->walk_col].name;
		}
	}
}

static int csnmp_walk_response(struct csnmp_priv *p, netsnmp_pdu *resp)
{
	const struct csnmp_column *col = &csnmp_columns[p->walk_col];
	int end = 0, rows = 0;

	if (resp->errstat != SNMP_ERR_NOERROR) {
		/* SNMPv1 says "end of the MIB view" with noSuchName */
		if (p->version != SNMP_VERSION_1 || resp->errstat != SNMP_ERR_NOSUCHNAME)
			return csnmp_fail(p, CHECK_ERROR, "%s walk: error-status %s", col->name,
					  snmp_errstring(resp->errstat));
		end = 1;
	}
	for (netsnmp_variable_list *vb = resp->variables; vb && !end; vb = vb->next_variable) {
		if (vb->type == SNMP_ENDOFMIBVIEW || vb->type == SNMP_NOSUCHOBJECT ||
		    vb->type == SNMP_NOSUCHINSTANCE || vb->name_length != col->len + 1 ||
		    snmp_oid_ncompare(vb->name, vb->name_length, col->base, col->len, col->len) !=
			0) {
			end = 1;
			break;
		}
		/* a broken agent could send us round in circles */
		if (snmp_oid_compare(vb->name, vb->name_length, p->walk_oid, p->walk_len) <= 0) {
			log_warnx("snmp \"%s\": %s returned %s rows out of order; walk stopped",
				  p->c->name, p->addr, col->name);
			end = 1;
			break;
		}
		memcpy(p->walk_oid, vb->name, vb->name_length * sizeof(oid));
		p->walk_len = vb->name_length;
		csnmp_walk_match(p, vb->name[col->len], vb);
		rows++;
		if (++p->walk_rows >= CSNMP_WALK_ROWS_MAX) {
			log_warnx("snmp \"%s\": %s walk on %s stopped after %d rows", p->c->name,
				  col->name, p->addr, CSNMP_WALK_ROWS_MAX);
			end = 1;
		}
	}
	if (rows == 0)
		end = 1;
	if (csnmp_walk_all_found(p))
		p->walk_done = 1;
	else if (end && p->walk_col + 1 < CSNMP_NCOLUMNS)
		csnmp_walk_column(p, p->walk_col + 1);
	else if (end)
		p->walk_done = 1;
	return 0;
}

/* The walk is complete: its result replaces the previous mapping. */
static void csnmp_walk_commit(struct csnmp_priv *p)
{
	for (size_t i = 0; i < p->nifs; i++) {
		struct csnmp_if *ifc = &p->ifs[i];

		if (ifc->numeric)
			continue;
		if (ifc->found == 0) {
			if (!ifc->missing_logged)
				log_warnx("snmp \"%s\": interface \"%s\" not found on %s",
					  p->c->name, ifc->cfg, p->addr);
			ifc->missing_logged = 1;
		} else if (ifc->ifindex != 0 && ifc->ifindex != ifc->found) {
			log_info(
			    "snmp \"%s\": interface \"%s\" on %s moved from ifIndex %lu to %lu",
			    p->c->name, ifc->cfg, p->addr, ifc->ifindex, ifc->found);
		} else if (ifc->ifindex != ifc->found) {
			log_debug("snmp \"%s\": interface \"%s\" is ifIndex %lu on %s (%s)",
				  p->c->name, ifc->cfg, ifc->found, p->addr, ifc->found_in);
		}
		if (ifc->found != 0)
			ifc->missing_logged = 0;
		ifc->ifindex = ifc->found;
	}
	p->need_resolve = 0;
	p->resolved_at = mono_now();
}

/* ---- values ------------------------------------------------------------ */

static void csnmp_item_missing(struct csnmp_priv *p, struct csnmp_item *it, const char *why,
			       int gone)
{
	it->state = CSNMP_ITEM_UNKNOWN;
	if (p->miss_oid[0] == '\0') {
		csnmp_oid_str(p->miss_oid, sizeof(p->miss_oid), it->name, it->len);
		snprintf(p->miss_why, sizeof(p->miss_why), "%s", why);
	}
	/* ifOperStatus exists for every interface: if it is gone, the name moved */
	if (gone && it->m == CSNMP_M_OPER && it->ifi >= 0 && !p->ifs[it->ifi].numeric)
		p->need_resolve = 1;
}

static void csnmp_get_begin(struct csnmp_priv *p)
{
	static const enum csnmp_metric per_if[] = {CSNMP_M_IN, CSNMP_M_OUT, CSNMP_M_OPER};
	const struct csnmp_metric_def *d = &csnmp_metrics[CSNMP_M_UPTIME];
	struct csnmp_item *it = &p->items[0];

	p->phase = CSNMP_PHASE_GET;
	p->miss_oid[0] = '\0';
	p->miss_why[0] = '\0';
	memset(it, 0, sizeof(*it));
	memcpy(it->name, d->base, d->len * sizeof(oid));
	it->len = d->len;
	it->ifi = -1;
	it->m = CSNMP_M_UPTIME;
	p->nitems = 1;
	for (size_t i = 0; i < p->nifs; i++) {
		if (p->ifs[i].ifindex == 0)
			continue;
		for (size_t k = 0; k < 3; k++) {
			d = &csnmp_metrics[per_if[k]];
			it = &p->items[p->nitems++];
			memset(it, 0, sizeof(*it));
			memcpy(it->name, d->base, d->len * sizeof(oid));
			it->name[d->len] = p->ifs[i].ifindex;
			it->len = d->len + 1;
			it->ifi = (int)i;
			it->m = per_if[k];
			/* v1 has no Counter64: once refused, not asked again until a reboot */
			if (p->ifs[i].refused & (1u << per_if[k]))
				csnmp_item_missing(p, it, "noSuchName earlier", 0);
		}
	}
}

/* Sends the next GET; 1 if sent, 0 if nothing is left, -1 if it failed. */
static int csnmp_get_send(struct csnmp_priv *p)
{
	netsnmp_pdu *pdu;

	p->nsent = 0;
	for (size_t i = 0; i < p->nitems && p->nsent < p->max_vb; i++)
		if (p->items[i].state == CSNMP_ITEM_PENDING)
			p->sent[p->nsent++] = i;
	if (p->nsent == 0)
		return 0;
	pdu = csnmp_pdu_new(SNMP_MSG_GET);
	for (size_t i = 0; i < p->nsent; i++)
		csnmp_pdu_add(pdu, p->items[p->sent[i]].name, p->items[p->sent[i]].len);
	return csnmp_send(p, pdu, "GET") < 0 ? -1 : 1;
}

static void csnmp_uptime_seen(struct csnmp_priv *p, uint32_t ticks)
{
	if (p->have_ticks && ticks < p->last_ticks) {
		log_info("snmp \"%s\": %s restarted (sysUpTime %.2f s, was %.2f s)", p->c->name,
			 p->addr, ticks / 100.0, p->last_ticks / 100.0);
		for (size_t i = 0; i < p->nifs; i++)
			p->ifs[i].refused = 0;
		if (p->nnames > 0)
			p->need_resolve = 1;
	}
	p->last_ticks = ticks;
	p->have_ticks = 1;
}

static void csnmp_item_store(struct csnmp_priv *p, struct csnmp_item *it,
			     const netsnmp_variable_list *vb)
{
	char why[64];

	switch (vb->type) {
	case SNMP_NOSUCHOBJECT:
		csnmp_item_missing(p, it, "noSuchObject", 1);
		return;
	case SNMP_NOSUCHINSTANCE:
		csnmp_item_missing(p, it, "noSuchInstance", 1);
		return;
	case SNMP_ENDOFMIBVIEW:
		csnmp_item_missing(p, it, "endOfMibView", 1);
		return;
	}
	switch (it->m) {
	case CSNMP_M_UPTIME:
		if (vb->type != ASN_TIMETICKS || vb->val.integer == NULL)
			break;
		it->counter = (uint32_t)*vb->val.integer;
		it->value = it->counter / 100.0;
		it->state = CSNMP_ITEM_VALUE;
		csnmp_uptime_seen(p, (uint32_t)it->counter);
		return;
	case CSNMP_M_IN:
	case CSNMP_M_OUT:
		if (vb->type == ASN_COUNTER64 && vb->val.counter64 != NULL) {
			it->counter = (uint64_t)vb->val.counter64->high << 32 |
				      (uint32_t)vb->val.counter64->low;
		} else if (vb->type == ASN_COUNTER && vb->val.integer != NULL) {
			/* a 32-bit answer from a broken agent: its wrap is one unknown too */
			it->counter = (uint32_t)*vb->val.integer;
		} else {
			break;
		}
		it->state = CSNMP_ITEM_VALUE;
		return;
	case CSNMP_M_OPER:
		if (vb->type != ASN_INTEGER || vb->val.integer == NULL)
			break;
		it->value = (double)*vb->val.integer;
		it->state = CSNMP_ITEM_VALUE;
		return;
	}
	snprintf(why, sizeof(why), "unexpected type 0x%02x", vb->type);
	csnmp_item_missing(p, it, why, 0);
}

static int csnmp_get_response(struct csnmp_priv *p, netsnmp_pdu *resp)
{
	netsnmp_variable_list *vb = resp->variables;
	size_t i;

	if (resp->errstat == SNMP_ERR_TOOBIG && p->max_vb > 1) {
		p->max_vb = (p->max_vb + 1) / 2;
		log_debug("snmp \"%s\": %s says tooBig; %zu values per request from now on",
			  p->c->name, p->addr, p->max_vb);
		return 0;
	}
	if (resp->errstat == SNMP_ERR_NOSUCHNAME && resp->errindex >= 1 &&
	    (size_t)resp->errindex <= p->nsent) {
		/*
		 * SNMPv1 (and the odd v2c agent) refuses the whole PDU for one
		 * missing OID, e.g. a Counter64: drop that one, ask the rest again.
		 */
		struct csnmp_item *it = &p->items[p->sent[resp->errindex - 1]];

		csnmp_item_missing(p, it, "noSuchName", 1);
		if (it->ifi >= 0 && it->m != CSNMP_M_OPER)
			p->ifs[it->ifi].refused |= 1u << it->m;
		return 0;
	}
	if (resp->errstat != SNMP_ERR_NOERROR)
		return csnmp_fail(p, CHECK_ERROR, "GET: error-status %s at varbind %ld",
				  snmp_errstring(resp->errstat), resp->errindex);
	for (i = 0; i < p->nsent && vb != NULL; i++, vb = vb->next_variable) {
		struct csnmp_item *it = &p->items[p->sent[i]];

		if (snmp_oid_compare(vb->name, vb->name_length, it->name, it->len) != 0) {
			char want[CSNMP_OID_STR], got[CSNMP_OID_STR];

			return csnmp_fail(
			    p, CHECK_ERROR, "GET: asked for %s, got %s",
			    csnmp_oid_str(want, sizeof(want), it->name, it->len),
			    csnmp_oid_str(got, sizeof(got), vb->name, vb->name_length));
		}
		csnmp_item_store(p, it, vb);
	}
	if (i != p->nsent || vb != NULL)
		return csnmp_fail(p, CHECK_ERROR,
				  "GET: asked for %zu values, got a different number", p->nsent);
	return 0;
}

static void csnmp_emit(struct csnmp_priv *p)
{
	unsigned unknown = 0;

	for (size_t i = 0; i < p->nitems; i++) {
		const struct csnmp_item *it = &p->items[i];
		const struct csnmp_metric_def *d = &csnmp_metrics[it->m];
		int unk = it->state != CSNMP_ITEM_VALUE;

		unknown += unk;
		/* files <host>/system.rrd and <host>/if-<interface>.rrd, as a device
		 * is browsed: the host is the device, its parts are the checks */
		check_emit_as(p->c, it->ifi < 0 ? "system" : "if",
			      it->ifi < 0 ? "" : p->ifs[it->ifi].cfg, d->name, d->kind,
			      d->kind == SAMPLE_GAUGE ? it->value : 0.0,
			      d->kind == SAMPLE_GAUGE ? 0 : it->counter, unk);
	}
	if (unknown > 0)
		log_complain(&p->c_missing, CSNMP_MISSING_COMPLAIN_S,
			     "snmp \"%s\": %u value(s) unknown on %s, e.g. %s: %s", p->c->name,
			     unknown, p->addr, p->miss_oid, p->miss_why);
	else
		log_complain_clear(&p->c_missing, "snmp \"%s\": all values available again on %s",
				   p->c->name, p->addr);
}

/* ---- the run ----------------------------------------------------------- */

static void csnmp_begin(struct csnmp_priv *p)
{
	p->walked_run = 0;
	p->nreq = 0;
	p->start_ms = mono_now_ms();
	if (p->sessp == NULL) {
		csnmp_fail(p, CHECK_ERROR, "no SNMP session (start failed)");
		return;
	}
	log_debug("snmp \"%s\": polling %s", p->c->name, p->addr);
	if (p->nnames > 0 &&
	    (p->need_resolve ||
	     (csnmp_names_unresolved(p) && mono_now() - p->resolved_at >= CSNMP_RESOLVE_RETRY_S)))
		csnmp_walk_begin(p);
	else
		csnmp_get_begin(p);
	csnmp_next(p);
}

/* Sends the run's next request, or ends the run. */
static void csnmp_next(struct csnmp_priv *p)
{
	int r;

	if (p->phase == CSNMP_PHASE_WALK) {
		if (!p->walk_done) {
			csnmp_walk_send(p);
			return;
		}
		csnmp_walk_commit(p);
		csnmp_get_begin(p);
	}
	/* a reboot or a vanished interface: names may point elsewhere now (once per run) */
	if (p->need_resolve && !p->walked_run && p->nnames > 0) {
		log_debug("snmp \"%s\": resolving interface names on %s again", p->c->name,
			  p->addr);
		csnmp_walk_begin(p);
		csnmp_walk_send(p);
		return;
	}
	r = csnmp_get_send(p);
	if (r != 0)
		return;
	csnmp_emit(p);
	csnmp_succeed(p);
}

/* The one place the run changes state: consumes what the last event left. */
static void csnmp_advance(struct csnmp_priv *p)
{
	enum csnmp_got got = p->got;
	netsnmp_pdu *resp = p->resp;
	int r;

	p->got = CSNMP_GOT_NONE;
	p->resp = NULL;
	switch (got) {
	case CSNMP_GOT_NONE:
		return;
	case CSNMP_GOT_START:
		csnmp_begin(p);
		return;
	case CSNMP_GOT_TIMEOUT:
		csnmp_fail(p, CHECK_TIMEOUT, "no answer within %u ms (%d retries)",
			   p->c->timeout_ms, p->retries);
		return;
	case CSNMP_GOT_FAILED:
		if (p->failed_op < 0)
			csnmp_fail(p, CHECK_ERROR, "request failed (net-snmp op %d)",
				   -p->failed_op);
		else
			csnmp_fail(p, CHECK_ERROR, "unexpected PDU type 0x%02x", p->failed_op);
		return;
	case CSNMP_GOT_RESPONSE:
		break;
	}
	if (p->phase == CSNMP_PHASE_WALK)
		r = csnmp_walk_response(p, resp);
	else if (p->phase == CSNMP_PHASE_GET)
		r = csnmp_get_response(p, resp);
	else
		r = -1;
	snmp_free_pdu(resp);
	if (r == 0)
		csnmp_next(p);
}

/* After every event: advance, re-arm net-snmp's timer, end the run if done. */
static void csnmp_after_event(struct csnmp_priv *p)
{
	struct check *c = p->c;
	enum check_outcome o;

	csnmp_advance(p);
	csnmp_rearm(p);
	if (!p->finished)
		return;
	p->finished = 0;
	o = p->outcome;
	check_done(c, o); /* last: the check may be freed inside */
}

static void csnmp_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_priv *p = arg;
	netsnmp_large_fd_set fds;

	netsnmp_large_fd_set_init(&fds, fd + 1);
	NETSNMP_LARGE_FD_SET(fd, &fds);
	if (snmp_sess_read2(p->sessp, &fds) < 0)
		log_debug("snmp \"%s\": unreadable packet from %s", p->c->name, p->addr);
	netsnmp_large_fd_set_cleanup(&fds);
	csnmp_after_event(p);
}

static void csnmp_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct csnmp_priv *p = arg;

	snmp_sess_timeout(p->sessp);
	csnmp_after_event(p);
}

static void csnmp_on_kick(evutil_socket_t fd, short what, void *arg)
{
	csnmp_after_event(arg);
}

static int csnmp_start(struct check *c)
{
	struct csnmp_priv *p = c->priv;
	netsnmp_session s;
	netsnmp_transport *t;
	int liberr = 0, snmperr = 0;
	char *err = NULL;

	if (p == NULL)
		return -1;
	if (p->sessp != NULL || p->peername == NULL)
		return 0; /* open, or opened once the name is resolved */
	if (p->ev_kick == NULL)
		p->ev_kick = evtimer_new(c->base, csnmp_on_kick, p);
	csnmp_lib_init();
	snmp_sess_init(&s);
	s.peername = p->peername;
	s.version = p->version;
	s.community = (u_char *)p->community;
	s.community_len = strlen(p->community);
	s.timeout = (long)(c->timeout_ms ? c->timeout_ms : 1) * 1000L;
	s.retries = p->retries;
	p->sessp = snmp_sess_open(&s); /* copies what it keeps */
	if (p->sessp == NULL) {
		snmp_error(&s, &liberr, &snmperr, &err);
		/* run() tries again at every interval: say it once, then count */
		log_complain(&p->c_fail, CSNMP_COMPLAIN_S,
			     "snmp \"%s\": cannot open a session to %s: %s", c->name, p->addr,
			     err ? err : "unknown error");
		free(err);
		return -1;
	}
	t = snmp_sess_transport(p->sessp);
	if (t == NULL || t->sock < 0) {
		log_warnx("snmp \"%s\": session to %s has no socket", c->name, p->addr);
		snmp_sess_close(p->sessp);
		p->sessp = NULL;
		return -1;
	}
	p->ev_read = event_new(c->base, t->sock, EV_READ | EV_PERSIST, csnmp_on_read, p);
	p->ev_timer = evtimer_new(c->base, csnmp_on_timer, p);
	if (p->ev_kick == NULL || p->ev_read == NULL || p->ev_timer == NULL ||
	    event_add(p->ev_read, NULL) < 0)
		fatalx("snmp \"%s\": cannot create events", c->name);
	log_debug("snmp \"%s\": session to %s (%s, v%s, timeout %u ms, %d retries)", c->name,
		  p->addr, p->peername, p->version == SNMP_VERSION_1 ? "1" : "2c", c->timeout_ms,
		  p->retries);
	return 0;
}

/* Starts the poll on the next loop turn, so check_done never runs inside run(). */
static void csnmp_kick_run(struct check *c)
{
	struct csnmp_priv *p = c->priv;

	if (p->phase != CSNMP_PHASE_IDLE || p->got != CSNMP_GOT_NONE) {
		log_warnx("snmp \"%s\": run while the previous run is busy; ignored", c->name);
		return;
	}
	if (p->ev_kick == NULL)
		p->ev_kick = evtimer_new(c->base, csnmp_on_kick, p);
	if (p->ev_kick == NULL)
		fatalx("snmp \"%s\": cannot create events", c->name);
	p->got = CSNMP_GOT_START;
	event_active(p->ev_kick, EV_TIMEOUT, 1);
}

static void csnmp_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct check *c = arg;
	struct csnmp_priv *p = c->priv;
	char a[INET6_ADDRSTRLEN];

	p->dnsreq = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return; /* stop() */
	if (result != 0 || res == NULL) {
		log_complain(&p->c_fail, CSNMP_COMPLAIN_S, "snmp \"%s\": cannot resolve %s: %s",
			     c->name, p->host, evutil_gai_strerror(result));
		check_done(c, CHECK_ERROR);
		return;
	}
	if (res->ai_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, a,
			  sizeof(a));
		xasprintf(&p->peername, "udp6:[%s]:%u", a, p->port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, a, sizeof(a));
		xasprintf(&p->peername, "udp:%s:%u", a, p->port);
	}
	evutil_freeaddrinfo(res);
	log_debug("snmp \"%s\": %s is %s", c->name, p->host, p->peername);
	if (csnmp_start(c) < 0) {
		/* try the name again at the next run */
		free(p->peername);
		p->peername = NULL;
		check_done(c, CHECK_ERROR);
		return;
	}
	csnmp_kick_run(c);
}

static void csnmp_run(struct check *c)
{
	struct csnmp_priv *p = c->priv;
	struct evutil_addrinfo hints;

	if (p == NULL) {
		/* nothing to run with: still one check_done per run */
		check_done(c, CHECK_ERROR);
		return;
	}
	if (p->sessp == NULL && p->peername == NULL) {
		/* a device name: resolve it on the loop, then open the session */
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_DGRAM;
		p->dnsreq =
		    evdns_getaddrinfo(c->agent->dns, p->host, NULL, &hints, csnmp_resolved, c);
		return;
	}
	/* no session yet (opening failed before): try again now */
	if (p->sessp == NULL && csnmp_start(c) < 0) {
		check_done(c, CHECK_ERROR);
		return;
	}
	csnmp_kick_run(c);
}

static void csnmp_stop(struct check *c)
{
	struct csnmp_priv *p = c->priv;

	if (p == NULL)
		return;
	p->closing = 1;
	if (p->dnsreq != NULL)
		evdns_getaddrinfo_cancel(p->dnsreq);
	if (p->ev_read != NULL)
		event_free(p->ev_read);
	if (p->ev_timer != NULL)
		event_free(p->ev_timer);
	if (p->ev_kick != NULL)
		event_free(p->ev_kick);
	/* snmp_sess_close reports outstanding requests as timed out: ignored, closing */
	if (p->sessp != NULL)
		snmp_sess_close(p->sessp);
	if (p->resp != NULL)
		snmp_free_pdu(p->resp);
	csnmp_priv_free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_snmp = {
    .name = "snmp",
    .section = "snmp",
    .one_per_host = 1,
    .opts = csnmp_opts,
    .parse_config = csnmp_parse_config,
    .start = csnmp_start,
    .run = csnmp_run,
    .stop = csnmp_stop,
};
