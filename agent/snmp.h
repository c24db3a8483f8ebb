/*
 * snmp.h - the inside of the "snmp" check kind, shared by its files:
 * snmp_conf.c (the section), snmp_session.c (one net-snmp session on the
 * agent's loop, SNMPv3 engine discovery and the agent's bound on requests in
 * flight), snmp_usm.c (a device's SNMPv3 user), snmp_walk.c (the table
 * walker), snmp_if.c (the interfaces: table, choice, values), snmp_get.c
 * (the GETs), snmp_ber.c (the reader of v1/v2c answers) and check_snmp.c (the
 * run). Nothing outside agent/snmp_*.c, check_snmp.c, discover.c and
 * check_trap.c (which share the library set-up) includes it.
 */
#ifndef VAKT_SNMP_H
#define VAKT_SNMP_H

#include <stdint.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include <arpa/inet.h>

#include "check.h"
#include "log.h"
#include "resolve.h"
#include "snmp_data.h"

/* Internal names use csnmp_ / CSNMP_: net-snmp owns the snmp_ / SNMP_ namespace. */
#define CSNMP_DEFAULT_PORT       161
#define CSNMP_RETRIES_MAX        10
#define CSNMP_IFS_MAX            1024   /* bound on the interfaces list */
#define CSNMP_PORTS_MAX          4096   /* interfaces polled per device */
#define CSNMP_TABLE_REFRESH      3600   /* s between reads of the interface table */
#define CSNMP_VB_MAX             30     /* varbinds per GET; halved on tooBig */
#define CSNMP_BULK_REPS          25     /* GETBULK max-repetitions by default */
#define CSNMP_BULK_REPS_MAX      200    /* bound on the max_repetitions option */
#define CSNMP_WALK_ROWS_MAX      10000  /* a table walk keeps at most this many rows */
#define CSNMP_WALK_COLS_MAX      32     /* columns of one table walk */
#define CSNMP_IDX_MAX            16     /* sub-identifiers of a row's index */
#define CSNMP_COL_OID_MAX        24     /* sub-identifiers of a column's OID */
#define CSNMP_CELL_STR_MAX       255    /* bytes of a string cell kept */
#define CSNMP_RESOLVE_RETRY_S    600.0  /* look again for names not found */
#define CSNMP_MISSING_COMPLAIN_S 3600.0 /* values the device does not have */
#define CSNMP_OID_STR            256
#define CSNMP_ODD_TYPES          8 /* (column, type) pairs a device's log names once each */
#define CSNMP_IN_FLIGHT_DEFAULT  256 /* snmp_in_flight: the agent's requests at once */

/* snmp_usm.c: a device's SNMPv3 user (RFC 3414 USM). */
struct csnmp_usm_proto {
	const char *name; /* "SHA-256", "AES": as the config spells it */
	const oid *oid;
	size_t len;
};

struct csnmp_usm {
	char *name; /* security_name: shown in reasons, not a secret */
	int level;  /* SNMP_SEC_LEVEL_* */
	const struct csnmp_usm_proto *auth, *priv; /* NULL below their level */
	char *auth_pass, *priv_pass;               /* wiped once the keys are made */
	char *context;
	int keys_made;
	u_char auth_ku[USM_AUTH_KU_LEN], priv_ku[USM_PRIV_KU_LEN];
	size_t auth_ku_len, priv_ku_len;
};

struct csnmp_link; /* snmp_session.c's part of a device */

/*
 * The table walker (snmp_walk.c). To read a table in a run: point a struct
 * csnmp_table at its columns (cols, ncols, what; max_rows 0 = the default
 * bound), call csnmp_table_begin(), then csnmp_table_send() for each request
 * and csnmp_table_response() for each answer until t->done. All unfinished
 * columns go in one GETBULK (max_repetitions from the section; GETNEXT on
 * v1), so a table costs about rows / max_repetitions requests, however many
 * columns. The result is t->rows, sorted by index (csnmp_table_row() finds
 * one); a cell a column did not give has type 0. A column that leaves its
 * subtree ends; one that repeats or goes backwards, an index longer than
 * CSNMP_IDX_MAX or more than max_rows rows cut the walk there with one log
 * line (repeated only as a count). An error-status on one varbind ends that
 * column only (t->st[k].err); tooBig halves max_repetitions, then asks one
 * column at a time. t->requests counts what the walk really sent.
 */
struct csnmp_col {
	const char *name; /* for log lines: "ifName" */
	oid base[CSNMP_COL_OID_MAX];
	size_t len;
};

struct csnmp_cell {
	u_char type; /* ASN_INTEGER, ASN_COUNTER64, ASN_OCTET_STR...; 0: no value */
	uint64_t v;  /* the number (INTEGER sign-extended); a string's length */
	char *str;   /* OCTET STRING, NUL-terminated (cut at CSNMP_CELL_STR_MAX) */
};

struct csnmp_row {
	oid idx[CSNMP_IDX_MAX]; /* the OID after the column's */
	size_t idxlen;
	struct csnmp_cell *cells; /* one per column, in cols order */
	size_t cell_at; /* where they are in the table's cellpool; SIZE_MAX: the owner's */
};

/*
 * A walk's column as its next varbind should name it (csnmp_vbs's hint):
 * its OID, and as sent, ber[0, blen) (blen 0: not known), with another
 * column (prev, NULL: none) whose first `keep` sub-identifiers are the
 * same, the one hinted before it. After csnmp_vbs_next, in_col is 1 when
 * the name is in that column (longer than its OID, and beginning with it),
 * else 0 (not in it, or not known to be).
 */
struct csnmp_colhint {
	const u_char *ber;
	size_t blen;
	const oid *col, *prev;
	size_t len, keep;
};

struct csnmp_table {
	/* set by the owner */
	const struct csnmp_col *cols;
	size_t ncols;
	const char *what; /* "ifTable", in log lines and reasons */
	unsigned max_rows;
	/*
	 * Rows the table had when last read (0: not known): a GETBULK asks no
	 * more than a column's rows left and one to see its end, not a whole
	 * request's worth of the next column's objects
	 */
	size_t expect_rows;
	/*
	 * Where a new row's cells go, when the owner keeps them (NULL: in the
	 * table): the walk then fills them in place. A row dropped by a
	 * reboot has them cleared.
	 */
	struct csnmp_cell *(*row_cells)(void *arg, const oid *idx, size_t idxlen);
	void *row_arg;
	/* the result */
	struct csnmp_row *rows;
	size_t nrows, caprows;
	struct csnmp_cell *cellpool; /* the cells of rows the owner keeps none for */
	size_t npool, cappool;
	unsigned requests; /* sent by this walk */
	unsigned errors;   /* columns ended by an error-status */
	int cut;           /* stopped early: rows may be missing */
	int done;
	/* progress: st has ncols entries, made by csnmp_table_begin and freed
	 * with the rows, so a device between walks keeps none */
	struct csnmp_col_state {
		oid idx[CSNMP_IDX_MAX]; /* the last row it gave; idxlen 0: none yet */
		unsigned char idxlen;
		unsigned char done;
		long err;                          /* error-status that ended it; 0 */
		size_t rows;                       /* the rows it gave */
		u_char ber[CSNMP_COL_OID_MAX * 5]; /* the column's OID as sent (csnmp_vbs_hint) */
		size_t blen;                       /* 0: it has no such form */
	} * st;
	unsigned char sent[CSNMP_WALK_COLS_MAX]; /* columns of the last request, in order */
	/* how each varbind of an answer should name its column: by sent */
	struct csnmp_colhint hints[CSNMP_WALK_COLS_MAX];
	size_t nsent;
	unsigned reps;
	int one_by_one;
	struct complaint c_cut;
};

enum csnmp_item_state {
	CSNMP_ITEM_PENDING,
	CSNMP_ITEM_VALUE,
	CSNMP_ITEM_UNKNOWN,
};

/* One varbind of a GET (snmp_get.c): its answer goes into *dst. */
struct csnmp_item {
	oid name[CSNMP_COL_OID_MAX + 1];
	size_t len;
	struct csnmp_cell *dst;
	int port; /* index in ports, -1 for a scalar */
	int col;  /* enum csnmp_vcol for a port */
	enum csnmp_item_state state;
};

/*
 * The columns read per port each run (snmp_if.c). The 64-bit ones come
 * last, so that an SNMPv1 walk (which cannot carry Counter64) is the first
 * CSNMP_NVCOLS_V1 of the same list.
 */
enum csnmp_vcol {
	CSNMP_V_ADMIN,
	CSNMP_V_OPER,
	CSNMP_V_SPEED,
	CSNMP_V_HIGHSPEED,
	CSNMP_V_IN,
	CSNMP_V_OUT,
	CSNMP_V_IN_UCAST,
	CSNMP_V_OUT_UCAST,
	CSNMP_V_IN_DISCARDS,
	CSNMP_V_IN_ERRORS,
	CSNMP_V_OUT_DISCARDS,
	CSNMP_V_OUT_ERRORS,
	CSNMP_V_DISCONTINUITY,
	CSNMP_V_HC_IN,
	CSNMP_V_HC_OUT,
	CSNMP_V_HC_IN_UCAST,
	CSNMP_V_HC_OUT_UCAST,
	CSNMP_NVCOLS,
	CSNMP_NVCOLS_V1 = CSNMP_V_HC_IN
};

/* The counters stored per port: each from a 64-bit column, else a 32-bit one. */
enum csnmp_ctr_id {
	CSNMP_C_IN_OCTETS,
	CSNMP_C_OUT_OCTETS,
	CSNMP_C_IN_UCAST,
	CSNMP_C_OUT_UCAST,
	CSNMP_C_IN_DISCARDS,
	CSNMP_C_IN_ERRORS,
	CSNMP_C_OUT_DISCARDS,
	CSNMP_C_OUT_ERRORS,
	CSNMP_NCTRS
};

/* csnmp_port.flags */
#define CSNMP_PORT_HAVE_DISC   0x01 /* disc holds a value */
#define CSNMP_PORT_RENUMBERED  0x02 /* its ifIndex changed (or it came back): counters unknown once */

/*
 * One polled interface (a row of ifTable), kept by name across table reads:
 * 56 bytes and its names, since a site has tens of thousands. Its answers
 * of a run are p->cells[i * CSNMP_NVCOLS...] (csnmp_port_cells()), kept
 * only while the device is polled.
 */
struct csnmp_port {
	char *name; /* ifName, else ifDescr: the series instance; then, after
		     * its NUL, ifAlias for log lines ("" if none); in p->port_names */
	uint32_t ifindex;
	uint32_t absent; /* bit per column the device lacks: GETs skip it until the next read */
	/* a counter from a 32-bit column: its last raw value, the low half of
	 * what was sent (unrolled into 64 bits, so that a wrap is no reset; the
	 * high half is in p->ctr_hi once it wrapped). From a 64-bit column
	 * nothing is kept: the value is sent as the device gives it. */
	uint32_t ctr[CSNMP_NCTRS];
	uint32_t disc;    /* ifCounterDiscontinuityTime at the last step */
	uint8_t ctr_have; /* bit per counter: ctr[] holds a step */
	uint8_t ctr_32;   /* bit per counter: that step came from a 32-bit column */
	uint8_t flags;    /* CSNMP_PORT_* */
	int8_t down;      /* the `down` gauge at the last step; -1 unknown */
	int8_t admin;     /* ifAdminStatus at the last poll (1 up, 2 down, 3 testing); 0 unknown */
};

/* One entry of `interfaces`. */
enum csnmp_sel_kind {
	CSNMP_SEL_ALL,   /* "all" or "*" */
	CSNMP_SEL_GLOB,  /* fnmatch pattern on ifName and ifDescr */
	CSNMP_SEL_NAME,  /* exactly an ifName or ifDescr */
	CSNMP_SEL_INDEX, /* an ifIndex */
};

struct csnmp_sel {
	char *pat;
	enum csnmp_sel_kind kind;
	unsigned long ifindex;
	int matched;        /* by the last table read */
	int missing_logged; /* "not found" said once */
};

enum csnmp_phase {
	CSNMP_PHASE_IDLE,
	CSNMP_PHASE_GET,    /* GETs of scalars and of port columns */
	CSNMP_PHASE_TABLE,  /* reading the interface table */
	CSNMP_PHASE_VALUES, /* walking the port columns */
	CSNMP_PHASE_DATA,   /* host, UPS and custom values (snmp_data.c) */
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
	char *addr;   /* as configured, for messages */
	char *target; /* "host:port" / "[v6]:port", for reasons */
	/* the device as a reason names it: with the address a name resolved to */
	char *shown;
	char *host; /* the host part of addr: a name is resolved through evdns */
	unsigned port;
	char *peername;     /* "udp:host:port" / "udp6:[addr]:port"; NULL until resolved */
	struct resolve res; /* the name's lookup, at each run until it succeeds */
	char *community;
	long version;            /* SNMP_VERSION_1, SNMP_VERSION_2c or SNMP_VERSION_3 */
	struct csnmp_usm *usm;   /* version 3; NULL for 1 and 2c */
	unsigned in_flight_max;  /* this device's requests at once (in_flight) */
	struct csnmp_link *link; /* engine discovery and request slots */
	int retries;
	unsigned max_reps; /* GETBULK max-repetitions, as configured (reps_now: as used) */
	/* what to poll: `interfaces`, `if_types`, `exclude`, `table_refresh` */
	struct csnmp_sel *sels;
	size_t nsels;
	long *types;
	size_t ntypes;
	char **excl;
	size_t nexcl;
	double table_refresh;   /* seconds */
	struct csnmp_data data; /* host, UPS and custom values (snmp_data.h) */

	void *sessp;
	struct event *ev_read, *ev_timer, *ev_kick;
	int closing; /* stop() in progress: callbacks do nothing */

	/* the current run */
	enum csnmp_phase phase;
	enum csnmp_got got;
	netsnmp_pdu *resp;
	u_char *rx; /* v1/v2c: the varbinds of the last answer read, as sent (snmp_ber.c) */
	size_t rxlen;
	int failed_op;
	int outstanding;
	int finished;
	enum outcome outcome;
	char *reason; /* the run's, NULL if none: handed to check_done() at its end */
	unsigned unknown; /* values of this run the device did not give */
	unsigned nvalues; /* values of this run */
	int table_run;    /* the interface table was read in this run */
	int rebooted;     /* sysUpTime went back in this run: counters unknown */
	int values_asked; /* the port columns of this run are asked (GETs queued or walk due) */
	int walk_pending; /* the port columns are walked once the GETs are in */
	/* sysUpTime is asked as the non-repeater of the walk's next GETBULK, not
	 * by a GET of its own (uptime_sent: the request in flight carries it) */
	int uptime_walk, uptime_sent;
	unsigned bulk_sent; /* max-repetitions of the GETBULK in flight; 0: another request */
	unsigned nreq;
	unsigned nanswered; /* requests of this run the device answered */
	uint64_t start_ms;

	/* the interface table and the ports chosen from it */
	struct csnmp_table iftable;
	struct csnmp_table ifvalues; /* the port columns, when walked */
	struct csnmp_port *ports;
	size_t nports;
	char *port_names; /* every port's name and alias, one allocation */
	/* the high halves of the ports' 32-bit counters as sent, CSNMP_NCTRS a
	 * port: NULL until one of them wraps (errors and discards on a switch
	 * with 64-bit octet counters may never do) */
	uint32_t *ctr_hi;
	/* the ports' answers, from csnmp_if_values_begin to the end of the run:
	 * a device between runs keeps no cells (most of a port's memory) */
	struct csnmp_cell *cells;
	size_t iftable_rows; /* rows of the last read, for the cost of a walk */
	struct csnmp_cell uptime;

	/* the GET phase */
	struct csnmp_item *items;
	size_t nitems, capitems;
	uint32_t sent[CSNMP_VB_MAX]; /* items of the GET in flight */
	size_t nsent;
	size_t max_vb;   /* varbinds per GET: halved on tooBig */
	size_t vb_limit; /* of the next GET: halved to find a varbind an error does not name */
	char *missing;   /* the run's first value unknown and why ("ifSpeed.3: noSuchInstance") */

	/* kept across runs */
	int need_table;     /* read the interface table in this run */
	double table_at;    /* monotonic s of the last read; < 0 never */
	unsigned walk_reqs; /* requests the last walk of the port columns took */
	/* GETBULK max-repetitions now: max_reps, halved when a GETBULK times out
	 * after answers of the same run, doubled back once per table_refresh
	 * without such a timeout (reps_at: monotonic s of the last change); 0 until set */
	unsigned reps_now;
	double reps_at;
	int have_ticks;
	uint32_t last_ticks;
	int uptime_by_get; /* the device answered sysUpTime in a GETBULK wrongly: GET it */
	struct complaint c_budget;
	struct complaint c_missing;
	/* columns whose values came of a type no cell keeps, logged once each:
	 * CSNMP_ODD_TYPES of them, allocated with the first */
	struct csnmp_odd_type {
		const char *col; /* its csnmp_col's name */
		unsigned char type;
	} * odd_types;
	size_t nodd_types;
};

/*
 * snmp_ber.c: an answer's varbinds one at a time, read from the bytes a
 * v1/v2c session's parse hook kept (raw != NULL) or from net-snmp's list.
 */
struct csnmp_vbs {
	int raw;
	const u_char *p, *end;
	const netsnmp_variable_list *list;
	const char *why; /* what was malformed, when csnmp_vbs_next gave -1 */
	netsnmp_variable_list vb;
	const u_char *pname; /* the last name read into vb, as sent; NULL: none */
	size_t pnamelen;
	/*
	 * A walk's column the next varbind should be in (NULL: none): a name
	 * whose bytes begin with the column's is read from there on, the
	 * column's sub-identifiers copied, and in_col says so
	 */
	const struct csnmp_colhint *hint;
	const oid *col_loaded; /* the column name_loc begins with; NULL: none */
	int in_col;
	long l;
	struct counter64 c64;
	oid oidval[MAX_OID_LEN];
};

/* net-snmp's parse hook of a v1/v2c session (its myvoid is the device's csnmp_priv). */
int csnmp_ber_parse(netsnmp_session *sess, netsnmp_pdu *pdu, u_char *pkt, size_t len);
void csnmp_vbs_begin(struct csnmp_vbs *it, const u_char *raw, size_t len, const netsnmp_pdu *resp);
/* The next varbind into *vb, valid until the next call: 1; 0 at the end; -1 malformed (why). */
int csnmp_vbs_next(struct csnmp_vbs *it, const netsnmp_variable_list **vb);

/* An OID as sent (ber_oid reads it back) into out[0, cap): its bytes; 0 when it does not fit. */
size_t csnmp_ber_oid_put(u_char *out, size_t cap, const oid *o, size_t len);

/* snmp_conf.c */
extern cfg_opt_t csnmp_opts[];
int csnmp_parse_config(struct check *c, cfg_t *sec);
void csnmp_priv_free(struct csnmp_priv *p);

/* snmp_usm.c */
/* The section's v3 keys (and refuses them for v1/v2c); -1 when reported. */
int csnmp_usm_parse(cfg_t *sec, struct csnmp_priv *p);
void csnmp_usm_free(struct csnmp_usm *u);
const char *csnmp_usm_level_str(int level);
/* Keys made from passwords, for the next device with the same password. */
struct csnmp_ku_cache;
struct csnmp_ku_cache *csnmp_ku_cache_new(void);
void csnmp_ku_cache_free(struct csnmp_ku_cache *kc);
/* The auth (priv = 0) or privacy protocol named so; NULL, with the known names in `list`. */
const struct csnmp_usm_proto *csnmp_usm_proto_find(int priv, const char *name, char *list,
						   size_t len);
/* Fills the session's security fields, making the keys the first time; -1 with `why`. */
int csnmp_usm_session(struct csnmp_usm *u, struct csnmp_ku_cache *kc, netsnmp_session *s, char *why,
		      size_t len);
/* 1 when net-snmp's user `nu` of `engine` holds the keys `u` would put there. */
struct usmUser;
int csnmp_usm_matches(const struct csnmp_usm *u, const struct usmUser *nu, const u_char *engine,
		      size_t elen);
/* 1 when both would put the same keys into net-snmp's user list. */
int csnmp_usm_same_keys(const struct csnmp_usm *a, const struct csnmp_usm *b);
/* The outcome and reason of a report (SNMPERR_* from snmpv3_get_report_type). */
enum outcome csnmp_usm_report(const struct csnmp_usm *u, int report, const char *shown, char *why,
			      size_t len);

/* snmp_session.c */
/* net-snmp's process-wide set-up; once, however many devices and reloads. */
void csnmp_lib_init(void);
/* The kind's shared state: the agent's request slots and the SNMPv3 users. */
int csnmp_shared_init(struct agent *a, void **state);
void csnmp_shared_fini(struct agent *a, void *state);
const char *csnmp_oid_str(char *buf, size_t len, const oid *o, size_t n);
/* Opens the session to p->peername and hooks it to the loop; -1 with the reason recorded. */
int csnmp_session_open(struct csnmp_priv *p);
void csnmp_session_close(struct csnmp_priv *p);
netsnmp_pdu *csnmp_pdu_new(int command);
void csnmp_pdu_add(netsnmp_pdu *pdu, const oid *name, size_t len);
/*
 * Sends `pdu` (freed either way), or queues it until one of the agent's
 * request slots (snmp_in_flight, the device's in_flight) is free and, on v3,
 * the device's engine ID is known; the run learns the answer, timeout or
 * failure the same way in all cases. -1 after ending the run with csnmp_fail.
 */
int csnmp_send(struct csnmp_priv *p, netsnmp_pdu *pdu, const char *what);
/* The next timeout net-snmp wants for a single session (retry or give up), or none. */
void csnmp_timer_rearm(void *sessp, struct event *ev_timer);
void csnmp_rearm(struct csnmp_priv *p);
/* Runs the next loop turn: the run starts, never inside run() itself. */
void csnmp_kick(struct csnmp_priv *p);

/* snmp_walk.c */
/* max-repetitions of the device's next GETBULK (csnmp_priv.reps_now). */
unsigned csnmp_reps(const struct csnmp_priv *p);
/*
 * A GETBULK of `sent` repetitions got no answer though the run's earlier
 * requests did: the device's next ones ask half as many rows (at least 1).
 */
void csnmp_reps_timed_out(struct csnmp_priv *p, unsigned sent);
/* At the start of a run: one step back towards max_repetitions once per table_refresh. */
void csnmp_reps_climb(struct csnmp_priv *p);
void csnmp_table_begin(struct csnmp_table *t, const struct csnmp_priv *p);
/* Sends the walk's next request: 1 if sent, 0 if nothing is left (t->done), -1 if it failed. */
int csnmp_table_send(struct csnmp_priv *p, struct csnmp_table *t);
/* Takes one answer in; 0, or -1 after ending the run with csnmp_fail. */
int csnmp_table_response(struct csnmp_priv *p, struct csnmp_table *t, netsnmp_pdu *resp);
const struct csnmp_row *csnmp_table_row(const struct csnmp_table *t, const oid *idx, size_t idxlen);
/* Frees the rows and progress (not the struct); the columns stay the owner's. */
void csnmp_table_free(struct csnmp_table *t);
/* A varbind's value into a cell; 0 if its type is not kept. */
int csnmp_cell_set(struct csnmp_cell *cell, const netsnmp_variable_list *vb);
/* Frees what cells [0, n) hold and leaves them without a value. */
void csnmp_cells_clear(struct csnmp_cell *cells, size_t n);

/* snmp_if.c */
/* Starts a read of the interface table (phase TABLE). */
void csnmp_if_table_begin(struct csnmp_priv *p);
/* The table is read: chooses the ports, keeping each one's state by name. */
void csnmp_if_table_commit(struct csnmp_priv *p);
/* Queues the port columns as GETs (0) or starts their walk (1), whichever costs fewer requests. */
int csnmp_if_values_begin(struct csnmp_priv *p);
/* Starts the walk of the port columns (phase VALUES), once the GETs before it are in. */
void csnmp_if_values_walk(struct csnmp_priv *p);
/* The walk of the port columns is in: its cells into the ports. */
void csnmp_if_values_commit(struct csnmp_priv *p);
/* The table should be read in this run and was not yet. */
int csnmp_if_table_due(const struct csnmp_priv *p);
/* Samples and Results of the ports; counts unknown values. */
void csnmp_if_emit(struct csnmp_priv *p);
/*
 * The ifAdminStatus (1 up, 2 down, 3 testing) of the last poll of the port
 * named `name` (its instance: ifName, ifDescr, or "ifIndex" when the device
 * names none) or, when `name` is a number, of that ifIndex; its ifIndex in
 * *ifindex. 0 when no port polled so has one.
 */
int csnmp_if_admin(const struct csnmp_priv *p, const char *name, uint32_t *ifindex);
/* Frees the ports and their names. */
void csnmp_ports_free(struct csnmp_priv *p);
/* Frees the run's answers (p->cells); at the end of every run, successful or not. */
void csnmp_if_cells_free(struct csnmp_priv *p);
/* Frees what only the run needed: the ports' answers, the walks' rows, the GET list. */
void csnmp_run_free(struct csnmp_priv *p);

/* snmp_get.c */
/* Empties the GET list; csnmp_get_add() fills it, csnmp_get_send() sends it in pieces. */
void csnmp_get_begin(struct csnmp_priv *p);
void csnmp_get_add(struct csnmp_priv *p, const oid *name, size_t len, struct csnmp_cell *dst,
		   int port, int col);
/* Sends the next GET; 1 if sent, 0 if nothing is left, -1 if it failed. */
int csnmp_get_send(struct csnmp_priv *p);
/*
 * Takes one answer in. An error-status that names a varbind loses that
 * value only and the rest is asked again; one that names none splits the
 * request in halves until it does; tooBig halves the request size.
 */
int csnmp_get_response(struct csnmp_priv *p, netsnmp_pdu *resp);
/* Queues the device's scalars (sysUpTime). */
void csnmp_get_scalars(struct csnmp_priv *p);
/*
 * The port columns are walked and sysUpTime is the only GET queued: it goes
 * as the first GETBULK's non-repeater instead (v2c and v3), saving a request.
 */
void csnmp_uptime_to_walk(struct csnmp_priv *p);
/* sysUpTime's OID without its instance, as a GETBULK's non-repeater asks it. */
extern const oid csnmp_uptime_col[8];
/*
 * The non-repeater's answer: 0, or -1 when it is not sysUpTime.0 (a device
 * that does not keep non-repeaters apart: its answer is not read, and it is
 * asked sysUpTime by GET from the next run on).
 */
int csnmp_uptime_walked(struct csnmp_priv *p, const netsnmp_variable_list *vb);
/* Remembers the first value of the run that is missing, for the reason. */
void csnmp_missing(struct csnmp_priv *p, const char *what, const char *why);
/* Forgets it: at the start and the end of a run. */
void csnmp_missing_clear(struct csnmp_priv *p);
void csnmp_emit(struct csnmp_priv *p);

/* check_snmp.c */
/* Ends the run with a failure and its reason; returns -1 for the caller to return. */
int csnmp_fail(struct csnmp_priv *p, enum outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* After every event of the session: advance the run, end it when done. */
void csnmp_after_event(struct csnmp_priv *p);

#endif
