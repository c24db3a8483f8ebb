/*
 * check_trap.c - the "trap" probe: a UDP listener for SNMP v1/v2c/v3 traps
 * and informs (informs answered), each turned into an event (trap_map.c)
 * for the collector's event rules. Senders outside `hosts` are refused and
 * each sender is held to `rate`/`burst` before anything is decoded; every
 * refusal and unreadable packet is a log line naming the peer, at most one a
 * minute per kind. Never blocks the loop, never trusts a byte it received.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "hash.h"
#include "log.h"
#include "snmp.h"
#include "timeutil.h"
#include "trap_map.h"
#include "xmalloc.h"

#include <net-snmp/library/large_fd_set.h>

#define TRAP_DEFAULT_ADDRESS "0.0.0.0:162"
#define TRAP_HOSTS_MAX       256
#define TRAP_SENDERS_MAX     65536 /* `senders`: with a bucket of their own; the rest share one */
#define TRAP_ENGINES_MAX     64
#define TRAP_COMPLAIN_S      60.0
#define TRAP_INFORMS_SEEN    64   /* informs remembered to spot a sender's retry */
#define TRAP_INFORM_RETRY_S  60.0 /* a retry comes within its sender's timeouts */

/* One entry of `hosts`: an address and how many leading bits must match. */
struct trap_net {
	int family;
	unsigned char addr[16];
	unsigned bits;
};

#define TRAP_NONE UINT32_MAX /* no sender: the end of a chain or of the age list */

/* A sender's token bucket, in the hash chain of its address and in the age list. */
struct trap_sender {
	int family;
	unsigned char addr[16];
	double tokens;
	double last;           /* monotonic seconds of its last packet */
	uint32_t chain;        /* the next sender in its hash bucket */
	uint32_t older, newer; /* its neighbours in the table by last packet */
};

/* An inform answered: its sender resends it, same request-id, if the answer is lost. */
struct trap_inform_seen {
	char peer[INET6_ADDRSTRLEN + 8];
	long reqid;
	double at; /* monotonic seconds; 0: unused */
};

/* Why the last packet read did not reach the callback: net-snmp's counters. */
static const struct {
	int stat;
	int auth; /* a credential problem rather than a malformed packet */
	const char *why;
} trap_stats[] = {
    {STAT_SNMPINASNPARSEERRS, 0, "not a well-formed SNMP message"},
    {STAT_SNMPINBADVERSIONS, 0, "an SNMP version this listener does not speak"},
    {STAT_SNMPINVALIDMSGS, 0, "an invalid SNMP message"},
    {STAT_SNMPUNKNOWNSECURITYMODELS, 0, "an unknown security model"},
    {STAT_USMSTATSUNKNOWNUSERNAMES, 1,
     "a v3 user (or sender engine ID) the listener does not know"},
    {STAT_USMSTATSWRONGDIGESTS, 1, "v3 authentication failed (wrong auth password?)"},
    {STAT_USMSTATSDECRYPTIONERRORS, 1, "a v3 message that does not decrypt (wrong priv password?)"},
    {STAT_USMSTATSUNSUPPORTEDSECLEVELS, 1, "a v3 security level the user does not have"},
    {STAT_USMSTATSNOTINTIMEWINDOWS, 1, "a v3 message outside the time window"},
};
#define NSTATS        (sizeof(trap_stats) / sizeof(trap_stats[0]))
#define WHY_COMMUNITY NSTATS       /* reasons past net-snmp's: a community not listed */
#define WHY_NOT_TRAP  (NSTATS + 1) /* decoded, but no trap */
#define WHY_V3_USER   (NSTATS + 2) /* authenticated as less than the listener's user */

struct trap_listener {
	struct check *c;
	char address[300]; /* as configured */
	char spec[320];    /* net-snmp's transport: "udp:127.0.0.1:162" */
	char **communities;
	size_t ncommunities;
	struct trap_net hosts[TRAP_HOSTS_MAX];
	size_t nhosts;
	unsigned rate, burst;
	/* v3: one USM user, known with each sender's engine ID and our own (informs) */
	char *user, *auth, *auth_pw, *priv, *priv_pw;
	char *engine_ids[TRAP_ENGINES_MAX];
	size_t nengines;
	int users_made;
	struct trap_listener *next_user; /* in trap_shared's list once users_made */

	netsnmp_transport *transport; /* bound in open_privileged: port 162 needs root */
	void *sessp;
	struct event *ev;
	int64_t last_ms;
	struct trap_sender *senders; /* `senders` of them */
	size_t nsenders, max_senders;
	uint32_t *buckets; /* nbuckets (a power of two) heads of hash chains */
	size_t nbuckets;
	uint64_t seed;              /* keys the hash: a peer cannot aim its addresses at one chain */
	uint32_t oldest, newest;    /* the age list: the sender quiet longest, the last one heard */
	struct trap_sender others; /* the bucket of senders the table has no room for */
	int full_said;             /* the table's being full is logged once */
	uint64_t run_shared;       /* traps of senders past the table let through, this run */
	struct trap_inform_seen informs[TRAP_INFORMS_SEEN];
	size_t next_inform; /* the slot the next inform takes (the oldest) */
	uint64_t repeated;  /* informs resent by their sender: answered, no event */
	/* the packet being read: 1 from pre_parse, 0 once a trap, 2 once something else */
	char peer[INET6_ADDRSTRLEN + 8];
	char peer_ip[INET6_ADDRSTRLEN];
	int pending;
	/* since start, and since the last run */
	uint64_t traps, refused, dropped, unreadable;
	uint64_t run_traps, run_refused, run_dropped, run_unreadable;
	/* one line a minute for each: refused by hosts, over the rate, and each reason below */
	struct complaint c_refused, c_rate, c_why[NSTATS + 3];
};

/*
 * What the trap listeners share: the ones whose v3 user net-snmp holds.
 * net-snmp keeps one user per engine ID and name for the whole agent, and
 * every listener's user is made for the agent's own engine (informs), so
 * two listeners naming one user must give it the same keys.
 */
struct trap_shared {
	struct trap_listener *users;
};

static cfg_opt_t trap_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_STR_LIST("hosts", NULL, CFGF_NODEFAULT),
    CFG_STR_LIST("communities", NULL, CFGF_NODEFAULT),
    CFG_INT("rate", 10, CFGF_NONE),
    CFG_INT("burst", 50, CFGF_NONE),
    CFG_INT("senders", 256, CFGF_NONE),
    CFG_STR("security_name", NULL, CFGF_NODEFAULT),
    CFG_STR("auth_protocol", "SHA", CFGF_NONE),
    CFG_STR("auth_password", NULL, CFGF_NODEFAULT),
    CFG_STR("priv_protocol", "AES", CFGF_NONE),
    CFG_STR("priv_password", NULL, CFGF_NODEFAULT),
    CFG_STR_LIST("engine_ids", NULL, CFGF_NODEFAULT),
    CFG_END(),
};

/* "10.1.0.0/24", "10.1.0.2", "::1", "2001:db8::/32" */
static int parse_net(const char *s, struct trap_net *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1)
		n->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, buf, n->addr) == 1)
		n->family = AF_INET6, max = 128;
	else
		return -1;
	n->bits = max;
	if (slash != NULL) {
		unsigned long b = strtoul(slash + 1, &end, 10);

		if (slash[1] == '\0' || *end != '\0' || b > max)
			return -1;
		n->bits = (unsigned)b;
	}
	return 0;
}

static int net_has(const struct trap_net *n, int family, const unsigned char *addr)
{
	unsigned full = n->bits / 8, rest = n->bits % 8;

	if (n->family != family || memcmp(n->addr, addr, full) != 0)
		return 0;
	return rest == 0 || ((n->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

/* Hex digits, with or without "0x": 5 to 32 bytes (RFC 3411). */
static int engine_id_ok(const char *s)
{
	size_t n;

	if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
		s += 2;
	n = strlen(s);
	return n >= 10 && n <= 64 && n % 2 == 0 && strspn(s, "0123456789abcdefABCDEF") == n;
}

/* What net-snmp's createUser line can carry: no quotes, no blanks at the ends. */
static int password_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 256 || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\'' || *p == '\\')
			return 0;
	return 1;
}

static char *dup_or_null(cfg_t *sec, const char *key)
{
	return cfg_size(sec, key) > 0 && cfg_getstr(sec, key) != NULL
		   ? xstrdup(cfg_getstr(sec, key))
		   : NULL;
}

static void trap_priv_free(struct trap_listener *p)
{
	for (size_t i = 0; i < p->ncommunities; i++)
		free(p->communities[i]);
	free(p->communities);
	for (size_t i = 0; i < p->nengines; i++)
		free(p->engine_ids[i]);
	free(p->user);
	free(p->auth);
	free(p->auth_pw);
	free(p->priv);
	free(p->priv_pw);
	free(p->senders);
	free(p->buckets);
	free(p);
}

/*
 * A protocol name as net-snmp's createUser spells it, however the config
 * wrote it ("sha-256", "SHA256", "aes128" as the snmp section takes them),
 * or NULL when it is none of `names` (entries "SPELLING=CANONICAL" alias).
 */
static const char *proto_canon(const char *s, const char *const *names, size_t n)
{
	char a[32], b[32];
	size_t k = 0;

	for (; *s && k + 1 < sizeof(a); s++)
		if (*s != '-')
			a[k++] = (char)toupper((unsigned char)*s);
	a[k] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(names[i], '=');

		k = 0;
		for (const char *t = names[i]; *t && t != eq && k + 1 < sizeof(b); t++)
			if (*t != '-')
				b[k++] = *t;
		b[k] = '\0';
		if (strcmp(a, b) == 0)
			return eq ? eq + 1 : names[i];
	}
	return NULL;
}

static int trap_parse_v3(struct trap_listener *p, cfg_t *sec)
{
	static const char *const auths[] = {"MD5",     "SHA",     "SHA-224", "SHA-256",
					    "SHA-384", "SHA-512", "SHA1=SHA"};
	static const char *const privs[] = {"DES", "AES", "AES-128=AES"};
	const char *auth = cfg_getstr(sec, "auth_protocol");
	const char *priv = cfg_getstr(sec, "priv_protocol");
	const char *ca = proto_canon(auth, auths, sizeof(auths) / sizeof(auths[0]));
	const char *cp = proto_canon(priv, privs, sizeof(privs) / sizeof(privs[0]));
	int bad = 0;

	p->user = dup_or_null(sec, "security_name");
	p->auth = xstrdup(ca != NULL ? ca : auth);
	p->priv = xstrdup(cp != NULL ? cp : priv);
	p->auth_pw = dup_or_null(sec, "auth_password");
	p->priv_pw = dup_or_null(sec, "priv_password");
	if (p->user == NULL) {
		if (p->auth_pw || p->priv_pw || cfg_size(sec, "engine_ids") > 0) {
			conf_section_error(sec, "auth_password, priv_password and engine_ids need "
						"'security_name'");
			bad = 1;
		}
		return bad ? -1 : 0;
	}
	if (*p->user == '\0' || strlen(p->user) > 32 || strpbrk(p->user, " \"'\\") != NULL) {
		conf_section_error(
		    sec, "security_name must be 1..32 characters without blanks or quotes");
		bad = 1;
	}
	if (ca == NULL) {
		conf_section_error(
		    sec,
		    "auth_protocol must be MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512, "
		    "got \"%s\"",
		    p->auth);
		bad = 1;
	}
	if (cp == NULL) {
		conf_section_error(sec, "priv_protocol must be AES or DES, got \"%s\"", p->priv);
		bad = 1;
	}
	/* the secrets never appear in a message: only which key is wrong */
	if (p->auth_pw != NULL && !password_ok(p->auth_pw)) {
		conf_section_error(sec, "auth_password must be 8..256 characters without quotes, "
					"backslashes or control characters");
		bad = 1;
	}
	if (p->priv_pw != NULL && !password_ok(p->priv_pw)) {
		conf_section_error(sec, "priv_password must be 8..256 characters without quotes, "
					"backslashes or control characters");
		bad = 1;
	}
	if (p->priv_pw != NULL && p->auth_pw == NULL) {
		conf_section_error(sec, "priv_password needs auth_password (authPriv)");
		bad = 1;
	}
	if (cfg_size(sec, "engine_ids") > TRAP_ENGINES_MAX) {
		conf_section_error(sec, "engine_ids holds at most %d engine IDs", TRAP_ENGINES_MAX);
		return -1;
	}
	for (unsigned i = 0; i < cfg_size(sec, "engine_ids"); i++) {
		const char *e = cfg_getnstr(sec, "engine_ids", i);

		if (!engine_id_ok(e)) {
			conf_section_error(sec, "engine_ids: \"%s\" is not 5..32 bytes in hex", e);
			bad = 1;
			continue;
		}
		p->engine_ids[p->nengines++] = xstrdup(e);
	}
	return bad ? -1 : 0;
}

static int trap_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"hosts", NULL};
	struct trap_listener *p;
	const char *addr = cfg_size(sec, "address") ? cfg_getstr(sec, "address") : NULL;
	char host[256];
	unsigned port;
	const char *why;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss), bad = 0;
	long rate = cfg_getint(sec, "rate"), burst = cfg_getint(sec, "burst");
	long senders = cfg_getint(sec, "senders");

	if (conf_require(sec, req) < 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	p->c = c;
	if (addr == NULL)
		addr = TRAP_DEFAULT_ADDRESS;
	snprintf(p->address, sizeof(p->address), "%s", addr);
	if (conf_split_hostport(addr, host, sizeof(host), &port, 162, &why) < 0) {
		conf_section_error(sec, "address \"%s\": %s", addr, why);
		bad = 1;
	} else {
		snprintf(p->spec, sizeof(p->spec), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
			 port);
		if (evutil_parse_sockaddr_port(p->spec, (struct sockaddr *)&ss, &sslen) < 0) {
			conf_section_error(sec,
					   "address \"%s\": the listener needs a numeric "
					   "address",
					   addr);
			bad = 1;
		}
		snprintf(p->spec, sizeof(p->spec), strchr(host, ':') ? "udp6:[%s]:%u" : "udp:%s:%u",
			 host, port);
	}
	if (cfg_size(sec, "hosts") > TRAP_HOSTS_MAX) {
		conf_section_error(sec, "hosts holds at most %d entries", TRAP_HOSTS_MAX);
		bad = 1;
	} else {
		for (unsigned i = 0; i < cfg_size(sec, "hosts"); i++) {
			const char *h = cfg_getnstr(sec, "hosts", i);

			if (parse_net(h, &p->hosts[p->nhosts]) < 0) {
				conf_section_error(sec,
						   "hosts: \"%s\" is not an address or "
						   "address/prefix",
						   h);
				bad = 1;
				continue;
			}
			p->nhosts++;
		}
	}
	if (rate < 1 || rate > 100000) {
		conf_section_error(sec, "rate must be 1..100000 traps a second per sender, got %ld",
				   rate);
		bad = 1;
	}
	if (burst < 1 || burst > 100000) {
		conf_section_error(sec, "burst must be 1..100000 traps, got %ld", burst);
		bad = 1;
	}
	if (senders < 1 || senders > TRAP_SENDERS_MAX) {
		conf_section_error(sec, "senders must be 1..%d senders tracked, got %ld",
				   TRAP_SENDERS_MAX, senders);
		bad = 1;
	}
	p->rate = (unsigned)rate;
	p->burst = (unsigned)burst;
	p->max_senders = bad ? 0 : (size_t)senders;
	p->senders = bad ? NULL : xcalloc(p->max_senders, sizeof(*p->senders));
	p->nbuckets = 16;
	while (p->nbuckets < p->max_senders)
		p->nbuckets *= 2;
	p->buckets = xreallocarray(NULL, p->nbuckets, sizeof(*p->buckets));
	for (size_t i = 0; i < p->nbuckets; i++)
		p->buckets[i] = TRAP_NONE;
	p->oldest = p->newest = TRAP_NONE;
	if (getrandom(&p->seed, sizeof(p->seed), GRND_NONBLOCK) != sizeof(p->seed))
		p->seed = (uint64_t)(mono_now() * 1e9) ^ (uint64_t)(uintptr_t)p;
	p->others.tokens = p->burst;
	p->ncommunities = cfg_size(sec, "communities");
	p->communities = xcalloc(p->ncommunities + 1, sizeof(*p->communities));
	for (size_t i = 0; i < p->ncommunities; i++)
		p->communities[i] = xstrdup(cfg_getnstr(sec, "communities", (unsigned)i));
	if (trap_parse_v3(p, sec) < 0)
		bad = 1;
	if (bad) {
		trap_priv_free(p);
		return -1;
	}
	c->priv = p;
	return 0;
}

static int trap_kind_init(struct agent *a, void **state)
{
	(void)a;
	*state = xcalloc(1, sizeof(struct trap_shared));
	csnmp_lib_init();
	return 0;
}

static void trap_kind_fini(struct agent *a, void *state)
{
	(void)a;
	free(state);
}

static int str_same(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int trap_open_privileged(struct check *c)
{
	struct trap_listener *p = c->priv;

	if (p->transport != NULL)
		return 0;
	csnmp_lib_init();
	p->transport = netsnmp_transport_open_server("vakt", p->spec);
	if (p->transport == NULL)
		return check_start_error(c,
					 "cannot listen for traps on UDP %s (in use, or the "
					 "agent may not bind it)",
					 p->address);
	return 0;
}

/* The sender as "10.1.0.2:49152" (peer) and "10.1.0.2" (ip); its bytes in addr. */
static int sender_of(const void *data, int len, char *peer, size_t plen, char *ip, size_t iplen,
		     int *family, unsigned char addr[16])
{
	const struct sockaddr *sa = data;
	unsigned port;

	/* a UDP transport's data starts with the remote address (netsnmp_indexed_addr_pair) */
	if (sa == NULL || len < (int)sizeof(struct sockaddr_in))
		return -1;
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = data;

		memcpy(addr, &in->sin_addr, 4);
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= (int)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = data;

		memcpy(addr, &in6->sin6_addr, 16);
		port = ntohs(in6->sin6_port);
	} else {
		return -1;
	}
	*family = sa->sa_family;
	if (inet_ntop(*family, addr, ip, (socklen_t)iplen) == NULL)
		return -1;
	snprintf(peer, plen, *family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
	return 0;
}

/* 1 when bucket `s` has a token now (rate/s up to burst), which it then spends. */
static int bucket_take(struct trap_sender *s, double now, unsigned rate, unsigned burst)
{
	s->tokens += (now - s->last) * rate;
	if (s->tokens > burst)
		s->tokens = burst;
	s->last = now;
	if (s->tokens < 1)
		return 0;
	s->tokens -= 1;
	return 1;
}

/* A sender past a full table: the shared bucket; said once for the listener. */
static int trap_shared_take(struct trap_listener *p, double now)
{
	if (!p->full_said) {
		p->full_said = 1;
		log_warnx("trap listener \"%s\" (%s): table of %zu senders is full: senders "
			  "past it (%s first) share one sender's rate (%u a second) and burst "
			  "(%u) until a tracked one has been quiet long enough to be forgotten; "
			  "what exceeds it is dropped and counted",
			  p->c->name, p->address, p->max_senders, p->peer, p->rate, p->burst);
	}
	if (!bucket_take(&p->others, now, p->rate, p->burst))
		return -1;
	p->run_shared++;
	return 1;
}

/*
 * 1 when the sender may send one more now; 0 when its bucket is empty, -1
 * when the shared one is. Each sender has a bucket of its own while the
 * table (`senders`) has room. A sender is forgotten only once its bucket
 * has filled up again (a newcomer's full burst then costs nothing it had
 * not earned back); while every tracked sender's bucket is still filling,
 * newcomers share one bucket. So a flood from more allowed addresses than
 * the table holds gets at most `senders` + 1 senders' rate and burst, not
 * a fresh burst for every address. A packet costs the same whatever the
 * table holds: its sender is found by a hash of its address, and the one
 * quiet longest is the head of the age list (every packet moves its sender
 * to the tail); about 56 bytes a sender and 4 a bucket.
 */
static uint32_t *sender_slot(struct trap_listener *p, int family, const unsigned char addr[16])
{
	unsigned char key[17];
	uint32_t *at;
	size_t b;

	key[0] = (unsigned char)family;
	memcpy(key + 1, addr, 16);
	b = (size_t)((hash_fnv1a(key, sizeof(key)) ^ p->seed) * 0x9e3779b97f4a7c15ULL >> 32) &
	    (p->nbuckets - 1);
	for (at = &p->buckets[b]; *at != TRAP_NONE; at = &p->senders[*at].chain)
		if (p->senders[*at].family == family && memcmp(p->senders[*at].addr, addr, 16) == 0)
			break;
	return at; /* the link that holds the sender, or the chain's end */
}

/* Takes sender i out of the age list. */
static void age_unlink(struct trap_listener *p, uint32_t i)
{
	struct trap_sender *s = &p->senders[i];

	if (s->older != TRAP_NONE)
		p->senders[s->older].newer = s->newer;
	else
		p->oldest = s->newer;
	if (s->newer != TRAP_NONE)
		p->senders[s->newer].older = s->older;
	else
		p->newest = s->older;
}

/* Puts sender i at the age list's tail: the last one heard. */
static void age_append(struct trap_listener *p, uint32_t i)
{
	struct trap_sender *s = &p->senders[i];

	s->older = p->newest;
	s->newer = TRAP_NONE;
	if (p->newest != TRAP_NONE)
		p->senders[p->newest].newer = i;
	else
		p->oldest = i;
	p->newest = i;
}

static int sender_allowed(struct trap_listener *p, int family, const unsigned char addr[16])
{
	uint32_t *at = sender_slot(p, family, addr), i = *at;
	double now = mono_now();
	struct trap_sender *s;

	if (i != TRAP_NONE) {
		age_unlink(p, i);
	} else if (p->nsenders < p->max_senders) {
		i = (uint32_t)p->nsenders++;
	} else {
		s = &p->senders[p->oldest];
		if (s->tokens + (now - s->last) * p->rate < p->burst)
			return trap_shared_take(p, now);
		i = p->oldest; /* forgotten: out of its chain and the age list, then reused */
		*sender_slot(p, s->family, s->addr) = s->chain;
		age_unlink(p, i);
		at = sender_slot(p, family, addr); /* its chain may have been the one changed */
	}
	s = &p->senders[i];
	if (*at == TRAP_NONE) { /* a newcomer: at the end of its chain, with a full bucket */
		s->family = family;
		memcpy(s->addr, addr, 16);
		s->tokens = p->burst;
		s->last = now;
		s->chain = TRAP_NONE;
		*at = i;
	}
	age_append(p, i);
	return bucket_take(s, now, p->rate, p->burst);
}

/* Before net-snmp decodes anything: the allow-list, then the sender's rate. */
static int trap_pre_parse(netsnmp_session *sess, netsnmp_transport *t, void *data, int len)
{
	struct trap_listener *p = sess->callback_magic;
	unsigned char addr[16];
	int family, allowed = 0;

	(void)t;
	p->pending = 0;
	if (sender_of(data, len, p->peer, sizeof(p->peer), p->peer_ip, sizeof(p->peer_ip), &family,
		      addr) < 0)
		return 0;
	for (size_t i = 0; i < p->nhosts && !allowed; i++)
		allowed = net_has(&p->hosts[i], family, addr);
	if (!allowed) {
		p->refused++;
		p->run_refused++;
		log_complain(&p->c_refused, TRAP_COMPLAIN_S,
			     "trap listener \"%s\" (%s): refused a packet from %s: not in hosts "
			     "(%llu refused so far)",
			     p->c->name, p->address, p->peer, (unsigned long long)p->refused);
		return 0;
	}
	allowed = sender_allowed(p, family, addr);
	if (allowed <= 0) {
		p->dropped++;
		p->run_dropped++;
		if (allowed == 0)
			log_complain(&p->c_rate, TRAP_COMPLAIN_S,
				     "trap listener \"%s\" (%s): %s sends more than %u traps a "
				     "second (burst %u): the excess is dropped (%llu so far)",
				     p->c->name, p->address, p->peer, p->rate, p->burst,
				     (unsigned long long)p->dropped);
		else
			log_complain(&p->c_rate, TRAP_COMPLAIN_S,
				     "trap listener \"%s\" (%s): senders past the table of %zu (%s "
				     "now) send more than %u traps a second together (burst %u): "
				     "the excess is dropped (%llu so far)",
				     p->c->name, p->address, p->max_senders, p->peer, p->rate,
				     p->burst, (unsigned long long)p->dropped);
		return 0;
	}
	p->pending = 1;
	return 1;
}

/* A packet that is no trap (auth 0), or whose credentials are wrong (auth 1). */
static void trap_unreadable(struct trap_listener *p, size_t idx, int auth, const char *why)
{
	p->unreadable++;
	p->run_unreadable++;
	log_complain(&p->c_why[idx], TRAP_COMPLAIN_S,
		     "trap listener \"%s\" (%s): %s packet from %s: %s (%llu so far)", p->c->name,
		     p->address, auth ? "refused" : "unreadable", p->peer, why,
		     (unsigned long long)p->unreadable);
}

static int community_ok(const struct trap_listener *p, const netsnmp_pdu *pdu)
{
	if (p->ncommunities == 0)
		return 1;
	for (size_t i = 0; i < p->ncommunities; i++)
		if (pdu->community != NULL && pdu->community_len == strlen(p->communities[i]) &&
		    memcmp(pdu->community, p->communities[i], pdu->community_len) == 0)
			return 1;
	return 0;
}

/* A v3 message from the listener's user, authenticated and encrypted as its keys say. */
static int v3_user_ok(const struct trap_listener *p, const netsnmp_pdu *pdu)
{
	int level = p->priv_pw != NULL   ? SNMP_SEC_LEVEL_AUTHPRIV
		    : p->auth_pw != NULL ? SNMP_SEC_LEVEL_AUTHNOPRIV
					 : SNMP_SEC_LEVEL_NOAUTH;

	return p->user != NULL && pdu->securityName != NULL &&
	       pdu->securityNameLen == strlen(p->user) &&
	       memcmp(pdu->securityName, p->user, pdu->securityNameLen) == 0 &&
	       pdu->securityLevel >= level;
}

static void trap_answer_inform(struct trap_listener *p, netsnmp_pdu *pdu)
{
	netsnmp_pdu *reply = snmp_clone_pdu(pdu);

	if (reply == NULL)
		fatalx("trap listener \"%s\": out of memory answering an inform", p->c->name);
	reply->command = SNMP_MSG_RESPONSE;
	reply->errstat = 0;
	reply->errindex = 0;
	if (snmp_sess_send(p->sessp, reply) == 0) {
		snmp_free_pdu(reply);
		log_debug("trap listener \"%s\": cannot answer the inform of %s", p->c->name,
			  p->peer);
	}
}

extern const struct check_kind check_kind_snmp;

/* 1 when net-snmp's peer name ("udp:10.1.0.2:161", "udp6:[::1]:161") is at `ip`. */
static int peername_is(const char *peername, const char *ip)
{
	const char *a = peername != NULL ? strchr(peername, ':') : NULL;
	size_t n = strlen(ip);

	if (a == NULL)
		return 0;
	a++;
	if (*a == '[')
		return strncmp(a + 1, ip, n) == 0 && a[1 + n] == ']';
	return strncmp(a, ip, n) == 0 && a[n] == ':';
}

/*
 * The host of the snmp device the agent polls at `ip` (its section's host,
 * "core-sw"), so that a trap's page and its series name the device alike;
 * the address itself when no snmp section polls it.
 */
static const char *device_host(const struct trap_listener *p, const char *ip,
			       const struct csnmp_priv **dev)
{
	const struct agent_conf *conf = p->c->agent != NULL ? p->c->agent->conf : NULL;

	*dev = NULL;
	for (size_t i = 0; conf != NULL && i < conf->nchecks; i++) {
		const struct check *d = conf->checks[i];
		const struct csnmp_priv *sp = d->priv;

		if (d->kind != &check_kind_snmp || sp == NULL)
			continue;
		if ((sp->host != NULL && strcmp(sp->host, ip) == 0) ||
		    peername_is(sp->peername, ip)) {
			*dev = sp;
			return d->host;
		}
	}
	return ip;
}

/*
 * A linkDown or linkUp without the port's ifAdminStatus gets the one of the
 * agent's last poll of that port, marked "(polled)", so that a rule with
 * varbinds = {"ifAdminStatus!=down"} skips ports shut on purpose also for
 * devices whose traps leave it out. A text with no room left for it keeps
 * none: the rule then pages, as for a port never polled.
 */
static void trap_add_polled_admin(struct trap_event *ev, const struct csnmp_priv *dev)
{
	uint32_t ifindex;
	size_t len = strlen(ev->text);
	int admin, w;

	if (dev == NULL || ev->admin != 0 || ev->instance[0] == '\0' ||
	    (admin = csnmp_if_admin(dev, ev->instance, &ifindex)) == 0)
		return;
	w = snprintf(ev->text + len, sizeof(ev->text) - len, "%sifAdminStatus.%lu=%d (polled)",
		     len > 0 ? " " : "", (unsigned long)ifindex, admin);
	if (w < 0 || (size_t)w >= sizeof(ev->text) - len)
		ev->text[len] = '\0';
}

/* 1 when the inform from p->peer with this request-id was taken lately; else remembers it. */
static int trap_inform_repeated(struct trap_listener *p, long reqid)
{
	double now = mono_now();
	struct trap_inform_seen *s;

	for (size_t i = 0; i < TRAP_INFORMS_SEEN; i++) {
		s = &p->informs[i];
		if (s->at != 0 && now - s->at < TRAP_INFORM_RETRY_S && s->reqid == reqid &&
		    strcmp(s->peer, p->peer) == 0)
			return 1;
	}
	s = &p->informs[p->next_inform];
	p->next_inform = (p->next_inform + 1) % TRAP_INFORMS_SEEN;
	snprintf(s->peer, sizeof(s->peer), "%s", p->peer);
	s->reqid = reqid;
	s->at = now;
	return 0;
}

/* net-snmp calls this for each message it decoded (and authenticated). */
static int trap_cb(int op, netsnmp_session *sess, int reqid, netsnmp_pdu *pdu, void *arg)
{
	struct trap_listener *p = arg;
	struct trap_event ev;
	const struct csnmp_priv *dev;
	const char *why, *host;
	int64_t now;

	(void)sess;
	(void)reqid;
	if (op != NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE || pdu == NULL || p->pending != 1)
		return 1;
	if (pdu->command != SNMP_MSG_TRAP && pdu->command != SNMP_MSG_TRAP2 &&
	    pdu->command != SNMP_MSG_INFORM) {
		/* also what net-snmp hands over when a v3 message failed: its counters say why */
		p->pending = 2;
		return 1;
	}
	p->pending = 0;
	/*
	 * net-snmp takes a v3 message of any user it knows (a polled device's
	 * too) at any level up to the user's: noAuthNoPriv needs no key at all.
	 */
	if (pdu->version == SNMP_VERSION_3 && !v3_user_ok(p, pdu)) {
		trap_unreadable(p, WHY_V3_USER, 1,
				"a v3 message not from security_name at its security level");
		return 1;
	}
	if (pdu->version != SNMP_VERSION_3 && !community_ok(p, pdu)) {
		/* the community is a secret: never in a log line */
		trap_unreadable(p, WHY_COMMUNITY, 1, "a community not in communities");
		return 1;
	}
	if (trap_map(pdu, &ev, &why) < 0) {
		trap_unreadable(p, WHY_NOT_TRAP, 0, why);
		return 1;
	}
	if (pdu->command == SNMP_MSG_INFORM) {
		trap_answer_inform(p, pdu);
		if (trap_inform_repeated(p, pdu->reqid)) {
			/* its sender missed our answer: answered again, one event only */
			p->repeated++;
			log_debug("trap listener \"%s\": %s resent inform %ld (%llu so far)",
				  p->c->name, p->peer, pdu->reqid, (unsigned long long)p->repeated);
			return 1;
		}
	}
	/* one check's events never share a millisecond: the collector drops a replay by time */
	now = wall_now_ms();
	p->last_ms = now > p->last_ms ? now : p->last_ms + 1;
	p->traps++;
	p->run_traps++;
	host = device_host(p, p->peer_ip, &dev);
	trap_add_polled_admin(&ev, dev);
	log_debug("trap listener \"%s\": %s from %s%s%s%s%s", p->c->name, ev.name, p->peer,
		  ev.instance[0] ? " interface " : "", ev.instance, ev.text[0] ? ": " : "",
		  ev.text);
	check_event(p->c, p->last_ms, host, ev.instance, ev.name, ev.oid, ev.text, p->peer);
	return 1;
}

/* Skips a BER tag `tag` and its length at b[*i] (n bytes); the content's length, or -1. */
static long ber_skip_head(const unsigned char *b, size_t n, size_t *i, unsigned char tag)
{
	size_t len = 0, k;

	if (*i + 2 > n || b[*i] != tag)
		return -1;
	(*i)++;
	if (b[*i] < 0x80)
		return b[(*i)++];
	k = b[(*i)++] & 0x7f;
	if (k == 0 || k > 2 || *i + k > n)
		return -1;
	while (k-- > 0)
		len = len << 8 | b[(*i)++];
	return (long)len;
}

/*
 * 1 when the datagram waiting on fd is SNMPv3 with the privacy flag. A
 * wrong priv password decrypts AES to garbage that net-snmp counts as a
 * parse error, not a decryption error: this tells the two apart.
 */
static int peek_v3_priv(evutil_socket_t fd)
{
	unsigned char b[64];
	ssize_t got = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	size_t n = got > 0 ? (size_t)got : 0, i = 0;
	long l;

	if (ber_skip_head(b, n, &i, 0x30) < 0 || ber_skip_head(b, n, &i, 0x02) != 1 || i >= n ||
	    b[i++] != 3 || ber_skip_head(b, n, &i, 0x30) < 0)
		return 0;
	for (int k = 0; k < 2; k++) { /* msgID, msgMaxSize */
		if ((l = ber_skip_head(b, n, &i, 0x02)) < 1 || l > 5 || i + (size_t)l > n)
			return 0;
		i += (size_t)l;
	}
	return ber_skip_head(b, n, &i, 0x04) == 1 && i < n && (b[i] & 0x02) != 0;
}

static void trap_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct trap_listener *p = arg;
	netsnmp_large_fd_set fds;
	u_int before[NSTATS];
	int v3priv = p->priv_pw != NULL && peek_v3_priv(fd);

	(void)what;
	for (size_t i = 0; i < NSTATS; i++)
		before[i] = snmp_get_statistic(trap_stats[i].stat);
	p->pending = 0;
	netsnmp_large_fd_set_init(&fds, fd + 1);
	NETSNMP_LARGE_FD_SET(fd, &fds);
	snmp_sess_read2(p->sessp, &fds);
	netsnmp_large_fd_set_cleanup(&fds);
	if (!p->pending)
		return; /* refused before decoding, or handled */
	/* accepted by pre_parse, no trap came of it: net-snmp's counters say why */
	for (size_t i = 0; i < NSTATS; i++)
		if (snmp_get_statistic(trap_stats[i].stat) != before[i]) {
			/* a v3 message with privacy that does not parse: almost always
			 * one decrypted with the wrong key (or a forged flag) */
			if (v3priv && trap_stats[i].stat == STAT_SNMPINASNPARSEERRS)
				for (size_t k = 0; k < NSTATS; k++)
					if (trap_stats[k].stat == STAT_USMSTATSDECRYPTIONERRORS)
						i = k;
			p->pending = 0;
			trap_unreadable(p, i, trap_stats[i].auth, trap_stats[i].why);
			return;
		}
	if (p->pending == 2)
		trap_unreadable(p, WHY_NOT_TRAP, 0, "not a trap or an inform");
	else /* an engine ID discovery of a v3 inform sender, answered by net-snmp */
		log_debug("trap listener \"%s\": packet from %s handled by net-snmp", p->c->name,
			  p->peer);
	p->pending = 0;
}

/* createUser for each sender's engine ID (traps) and our own (informs); -1 on a clash. */
static int trap_make_users(struct trap_listener *p)
{
	struct trap_shared *sh = check_kind_state(p->c);
	char line[1024];
	size_t n;

	if (p->user == NULL || p->users_made)
		return 0;
	for (const struct trap_listener *q = sh != NULL ? sh->users : NULL; q; q = q->next_user)
		if (strcmp(q->user, p->user) == 0 &&
		    (strcmp(q->auth, p->auth) != 0 || strcmp(q->priv, p->priv) != 0 ||
		     !str_same(q->auth_pw, p->auth_pw) || !str_same(q->priv_pw, p->priv_pw)))
			return check_start_error(
			    p->c,
			    "SNMPv3 user \"%s\" is also trap listener \"%s\"'s, with other "
			    "protocols or passwords: the agent holds one set of keys per user, so "
			    "listeners naming one user must give it the same keys",
			    p->user, q->c->name);
	p->users_made = 1;
	if (sh != NULL) {
		p->next_user = sh->users;
		sh->users = p;
	}
	for (size_t i = 0; i <= p->nengines; i++) {
		n = 0;
		if (i < p->nengines)
			n = (size_t)snprintf(line, sizeof(line), "-e %s%s ",
					     strncmp(p->engine_ids[i], "0x", 2) == 0 ? "" : "0x",
					     p->engine_ids[i]);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s", p->user);
		if (p->auth_pw != NULL)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s \"%s\"", p->auth,
					      p->auth_pw);
		if (p->priv_pw != NULL)
			snprintf(line + n, sizeof(line) - n, " %s \"%s\"", p->priv, p->priv_pw);
		usm_parse_create_usmUser("createUser", line);
		explicit_bzero(line, sizeof(line));
	}
	return 0;
}

static int trap_start(struct check *c)
{
	struct trap_listener *p = c->priv;
	netsnmp_session s;

	if (p->transport == NULL && trap_open_privileged(c) < 0)
		return -1;
	if (p->sessp != NULL)
		return 0;
	if (trap_make_users(p) < 0)
		return -1;
	snmp_sess_init(&s);
	s.version = SNMP_DEFAULT_VERSION; /* any */
	s.callback = trap_cb;
	s.callback_magic = p;
	s.isAuthoritative = SNMP_SESS_UNKNOWNAUTH;
	p->sessp = snmp_sess_add(&s, p->transport, trap_pre_parse, NULL);
	if (p->sessp == NULL) {
		p->transport = NULL; /* snmp_sess_add closed it */
		return check_start_error(c, "cannot set up the trap listener on %s", p->address);
	}
	p->ev = event_new(c->base, p->transport->sock, EV_READ | EV_PERSIST, trap_on_read, p);
	if (p->ev == NULL || event_add(p->ev, NULL) < 0)
		fatalx("trap listener \"%s\": cannot create its event", c->name);
	log_info("trap listener \"%s\": listening on UDP %s", c->name, p->address);
	return 0;
}

static void trap_run(struct check *c)
{
	struct trap_listener *p = c->priv;
	char shared[96] = "";

	check_emit(c, "", "traps", SAMPLE_DERIVE, 0, p->traps, 0);
	check_emit(c, "", "refused", SAMPLE_DERIVE, 0, p->refused + p->unreadable, 0);
	check_emit(c, "", "dropped", SAMPLE_DERIVE, 0, p->dropped, 0);
	if (p->run_shared > 0)
		snprintf(shared, sizeof(shared),
			 "; %llu packets let through from senders past the table of %zu",
			 (unsigned long long)p->run_shared, p->max_senders);
	if (p->run_refused + p->run_dropped + p->run_unreadable == 0)
		check_done(c, OUTCOME_OK, "%llu traps since the last run on %s%s",
			   (unsigned long long)p->run_traps, p->address, shared);
	else
		check_done(c, OUTCOME_OK,
			   "%llu traps since the last run on %s; %llu refused (hosts), %llu over "
			   "the rate, %llu unreadable%s",
			   (unsigned long long)p->run_traps, p->address,
			   (unsigned long long)p->run_refused, (unsigned long long)p->run_dropped,
			   (unsigned long long)p->run_unreadable, shared);
	p->run_traps = p->run_refused = p->run_dropped = p->run_unreadable = 0;
	p->run_shared = 0;
}

static void trap_stop(struct check *c)
{
	struct trap_listener *p = c->priv;

	if (p == NULL)
		return;
	if (p->users_made) {
		struct trap_shared *sh = check_kind_state(c);

		for (struct trap_listener **q = sh != NULL ? &sh->users : NULL; q && *q;
		     q = &(*q)->next_user)
			if (*q == p) {
				*q = p->next_user;
				break;
			}
	}
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->sessp != NULL)
		snmp_sess_close(p->sessp); /* closes the transport too */
	else if (p->transport != NULL) {
		p->transport->f_close(p->transport);
		netsnmp_transport_free(p->transport);
	}
	trap_priv_free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_trap = {
    .name = "trap",
    .section = "probe",
    .opts = trap_opts,
    .init = trap_kind_init,
    .parse_config = trap_parse_config,
    .open_privileged = trap_open_privileged,
    .start = trap_start,
    .run = trap_run,
    .stop = trap_stop,
    .fini = trap_kind_fini,
};
