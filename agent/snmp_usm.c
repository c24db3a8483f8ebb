/*
 * snmp_usm.c - SNMPv3's user-based security model for one device: the
 * section's v3 keys (security_name, security_level, protocols, passwords,
 * context), the keys made from the passwords, and the words a report or a
 * failure is told in. A password never leaves this file: no log line, no
 * reason and no config error holds one.
 */
#include "snmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include <net-snmp/library/keytools.h>
#include <net-snmp/library/snmpusm.h>
#include <net-snmp/library/transform_oids.h>

#include "agent.h"
#include "conf.h"
#include "xmalloc.h"

#define CSNMP_PASSWORD_MAX 1024

/* What the installed net-snmp supports; names as its own tools spell them. */
static const struct csnmp_usm_proto csnmp_auth_protos[] = {
#ifndef NETSNMP_DISABLE_MD5
    {"MD5", usmHMACMD5AuthProtocol, OID_LENGTH(usmHMACMD5AuthProtocol)},
#endif
    {"SHA", usmHMACSHA1AuthProtocol, OID_LENGTH(usmHMACSHA1AuthProtocol)},
#ifdef HAVE_EVP_SHA224
    {"SHA-224", usmHMAC128SHA224AuthProtocol, OID_LENGTH(usmHMAC128SHA224AuthProtocol)},
#endif
    {"SHA-256", usmHMAC192SHA256AuthProtocol, OID_LENGTH(usmHMAC192SHA256AuthProtocol)},
#ifdef HAVE_EVP_SHA384
    {"SHA-384", usmHMAC256SHA384AuthProtocol, OID_LENGTH(usmHMAC256SHA384AuthProtocol)},
#endif
    {"SHA-512", usmHMAC384SHA512AuthProtocol, OID_LENGTH(usmHMAC384SHA512AuthProtocol)},
};

static const struct csnmp_usm_proto csnmp_priv_protos[] = {
#ifndef NETSNMP_DISABLE_DES
    {"DES", usmDESPrivProtocol, OID_LENGTH(usmDESPrivProtocol)},
#endif
    {"AES", usmAESPrivProtocol, OID_LENGTH(usmAESPrivProtocol)},
#ifdef NETSNMP_DRAFT_BLUMENTHAL_AES_04
    {"AES-192", usmAES192PrivProtocol, OID_LENGTH(usmAES192PrivProtocol)},
    {"AES-256", usmAES256PrivProtocol, OID_LENGTH(usmAES256PrivProtocol)},
#endif
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const csnmp_levels[] = {
    [SNMP_SEC_LEVEL_NOAUTH] = "noAuthNoPriv",
    [SNMP_SEC_LEVEL_AUTHNOPRIV] = "authNoPriv",
    [SNMP_SEC_LEVEL_AUTHPRIV] = "authPriv",
};

const char *csnmp_usm_level_str(int level)
{
	return level >= SNMP_SEC_LEVEL_NOAUTH && level <= SNMP_SEC_LEVEL_AUTHPRIV
		   ? csnmp_levels[level]
		   : "?";
}

/* "sha256", "SHA-256" and "Sha-256" are one name; "AES-128" and "AES128" are "AES". */
static int csnmp_proto_name_eq(const char *conf, const char *name)
{
	char a[16], b[16];
	size_t na = 0, nb = 0;

	for (; *conf && na < sizeof(a) - 1; conf++)
		if (*conf != '-' && *conf != '_')
			a[na++] = *conf;
	for (; *name && nb < sizeof(b) - 1; name++)
		if (*name != '-')
			b[nb++] = *name;
	a[na] = b[nb] = '\0';
	if (strcasecmp(a, "AES128") == 0)
		snprintf(a, sizeof(a), "AES");
	if (strcasecmp(a, "SHA1") == 0)
		snprintf(a, sizeof(a), "SHA");
	return strcasecmp(a, b) == 0;
}

static const struct csnmp_usm_proto *csnmp_proto_find(const struct csnmp_usm_proto *t, size_t n,
						      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (csnmp_proto_name_eq(name, t[i].name))
			return &t[i];
	return NULL;
}

static void csnmp_proto_list(char *buf, size_t len, const struct csnmp_usm_proto *t, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", t[i].name);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* The key `name` as the section set it; NULL when not set. */
static const char *csnmp_key(cfg_t *sec, const char *name)
{
	return cfg_size(sec, name) > 0 ? cfg_getstr(sec, name) : NULL;
}

static int csnmp_set(cfg_t *sec, const char *name)
{
	cfg_opt_t *o = cfg_getopt(sec, name);

	return o != NULL && (o->flags & CFGF_MODIFIED) && cfg_size(sec, name) > 0;
}

/* A password: 8 characters at least (RFC 3414's minimum, net-snmp's too). */
static char *csnmp_password(cfg_t *sec, const char *key, int *bad)
{
	const char *s = csnmp_key(sec, key);
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	/* the value itself is never printed: it is a secret */
	if (len < USM_LENGTH_P_MIN) {
		conf_section_error(sec, "%s must be at least %d characters, got %zu", key,
				   USM_LENGTH_P_MIN, len);
		*bad = 1;
		return NULL;
	}
	if (len > CSNMP_PASSWORD_MAX) {
		conf_section_error(sec, "%s must be at most %d characters, got %zu", key,
				   CSNMP_PASSWORD_MAX, len);
		*bad = 1;
		return NULL;
	}
	return xstrdup(s);
}

const struct csnmp_usm_proto *csnmp_usm_proto_find(int priv, const char *name, char *list,
						   size_t len)
{
	const struct csnmp_usm_proto *t = priv ? csnmp_priv_protos : csnmp_auth_protos;
	size_t n = priv ? NELEM(csnmp_priv_protos) : NELEM(csnmp_auth_protos);
	const struct csnmp_usm_proto *pr = csnmp_proto_find(t, n, name);

	if (pr == NULL)
		csnmp_proto_list(list, len, t, n);
	return pr;
}

static const struct csnmp_usm_proto *csnmp_parse_proto(cfg_t *sec, const char *key, const char *def,
						       int priv, int *bad)
{
	const char *s = csnmp_key(sec, key);
	const struct csnmp_usm_proto *pr;
	char list[128];

	if (s == NULL)
		s = def;
	pr = csnmp_usm_proto_find(priv, s, list, sizeof(list));
	if (pr == NULL) {
		conf_section_error(sec, "%s \"%.32s\" is not supported here; one of %s", key, s,
				   list);
		*bad = 1;
	}
	return pr;
}

static const char *const csnmp_v3_keys[] = {
    "security_name", "security_level", "auth_protocol", "auth_password",
    "priv_protocol", "priv_password",  "context",       NULL,
};

int csnmp_usm_parse(cfg_t *sec, struct csnmp_priv *p)
{
	struct csnmp_usm *u;
	const char *name, *level, *ctx;
	int bad = 0;

	if (p->version != SNMP_VERSION_3) {
		for (const char *const *k = csnmp_v3_keys; *k != NULL; k++)
			if (csnmp_set(sec, *k)) {
				conf_section_error(sec, "%s is for version \"3\" only", *k);
				bad = 1;
			}
		return bad ? -1 : 0;
	}
	if (csnmp_set(sec, "community")) {
		conf_section_error(sec, "community is for versions \"1\" and \"2c\"; version "
					"\"3\" names its user with security_name");
		bad = 1;
	}
	u = xcalloc(1, sizeof(*u));
	p->usm = u;
	name = csnmp_key(sec, "security_name");
	if (name == NULL || *name == '\0') {
		conf_section_error(sec, "version \"3\" needs security_name (the SNMPv3 user)");
		bad = 1;
	} else if (strlen(name) > 32) {
		/* SnmpAdminString of usmUserName: 1..32 octets */
		conf_section_error(sec, "security_name must be at most 32 characters, got %zu",
				   strlen(name));
		bad = 1;
	} else {
		u->name = xstrdup(name);
	}
	u->auth_pass = csnmp_password(sec, "auth_password", &bad);
	u->priv_pass = csnmp_password(sec, "priv_password", &bad);

	level = csnmp_key(sec, "security_level");
	if (level == NULL) {
		/* what the keys given ask for */
		u->level = csnmp_key(sec, "priv_password") || csnmp_key(sec, "priv_protocol")
			       ? SNMP_SEC_LEVEL_AUTHPRIV
			   : csnmp_key(sec, "auth_password") || csnmp_key(sec, "auth_protocol")
			       ? SNMP_SEC_LEVEL_AUTHNOPRIV
			       : SNMP_SEC_LEVEL_NOAUTH;
	} else {
		for (int l = SNMP_SEC_LEVEL_NOAUTH; l <= SNMP_SEC_LEVEL_AUTHPRIV; l++)
			if (strcasecmp(level, csnmp_levels[l]) == 0)
				u->level = l;
		if (u->level == 0) {
			conf_section_error(
			    sec,
			    "security_level must be \"noAuthNoPriv\", \"authNoPriv\" "
			    "or \"authPriv\", got \"%.32s\"",
			    level);
			return -1;
		}
	}
	/* keys the level does not use are mistakes, not silently ignored */
	for (size_t k = u->level == SNMP_SEC_LEVEL_NOAUTH ? 2 : 4; k < 6; k++)
		if (u->level != SNMP_SEC_LEVEL_AUTHPRIV && csnmp_key(sec, csnmp_v3_keys[k])) {
			conf_section_error(sec, "%s is not used with security_level %s",
					   csnmp_v3_keys[k], csnmp_levels[u->level]);
			bad = 1;
		}
	if (u->level >= SNMP_SEC_LEVEL_AUTHNOPRIV) {
		u->auth = csnmp_parse_proto(sec, "auth_protocol", "SHA", 0, &bad);
		if (!csnmp_key(sec, "auth_password")) {
			conf_section_error(sec, "security_level %s needs auth_password",
					   csnmp_levels[u->level]);
			bad = 1;
		}
	}
	if (u->level == SNMP_SEC_LEVEL_AUTHPRIV) {
		u->priv = csnmp_parse_proto(sec, "priv_protocol", "AES", 1, &bad);
		if (!csnmp_key(sec, "priv_password")) {
			conf_section_error(sec, "security_level authPriv needs priv_password");
			bad = 1;
		}
	}
	ctx = csnmp_key(sec, "context");
	if (ctx != NULL && strlen(ctx) > 32) {
		conf_section_error(sec, "context must be at most 32 characters, got %zu",
				   strlen(ctx));
		bad = 1;
	}
	u->context = xstrdup(ctx ? ctx : "");
	return bad ? -1 : 0;
}

static void csnmp_wipe(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void csnmp_usm_free(struct csnmp_usm *u)
{
	if (u == NULL)
		return;
	csnmp_wipe(u->auth_pass);
	csnmp_wipe(u->priv_pass);
	explicit_bzero(u->auth_ku, sizeof(u->auth_ku));
	explicit_bzero(u->priv_ku, sizeof(u->priv_ku));
	free(u->name);
	free(u->context);
	free(u);
}

/*
 * Ku (RFC 3414 A.2) costs 1 MB of hashing per password, on the loop. Most
 * sites give every device the same user: the keys made for one password
 * serve the next device with it. Entries are known by a digest of the
 * password, never the password itself; the oldest goes when the table is full.
 */
#define CSNMP_KU_CACHE 32

struct csnmp_ku_cache {
	struct csnmp_ku_entry {
		const struct csnmp_usm_proto *proto;
		u_char digest[SHA256_DIGEST_LENGTH];
		u_char ku[USM_AUTH_KU_LEN];
		size_t len;
	} e[CSNMP_KU_CACHE];
	unsigned n, next;
};

struct csnmp_ku_cache *csnmp_ku_cache_new(void)
{
	return xcalloc(1, sizeof(struct csnmp_ku_cache));
}

void csnmp_ku_cache_free(struct csnmp_ku_cache *kc)
{
	if (kc == NULL)
		return;
	explicit_bzero(kc, sizeof(*kc));
	free(kc);
}

static int csnmp_ku(struct csnmp_ku_cache *kc, const struct csnmp_usm_proto *proto,
		    const char *pass, u_char *ku, size_t *len)
{
	u_char digest[SHA256_DIGEST_LENGTH];
	struct csnmp_ku_entry *e;

	SHA256((const unsigned char *)pass, strlen(pass), digest);
	for (unsigned i = 0; kc != NULL && i < kc->n; i++) {
		e = &kc->e[i];
		if (e->proto == proto && memcmp(e->digest, digest, sizeof(digest)) == 0 &&
		    e->len <= *len) {
			memcpy(ku, e->ku, e->len);
			*len = e->len;
			return 0;
		}
	}
	if (generate_Ku(proto->oid, (u_int)proto->len, (const u_char *)pass, strlen(pass), ku,
			len) != SNMPERR_SUCCESS)
		return -1;
	if (kc != NULL && *len <= sizeof(kc->e[0].ku)) {
		e = &kc->e[kc->next];
		kc->next = (kc->next + 1) % CSNMP_KU_CACHE;
		if (kc->n < CSNMP_KU_CACHE)
			kc->n++;
		e->proto = proto;
		memcpy(e->digest, digest, sizeof(digest));
		memcpy(e->ku, ku, *len);
		e->len = *len;
	}
	return 0;
}

/* The keys are made the first time the session opens (not in --check-config); the passwords are
 * wiped then. */
static int csnmp_usm_keys(struct csnmp_usm *u, struct csnmp_ku_cache *kc, char *why, size_t len)
{
	if (u->keys_made)
		return 0;
	if (u->auth != NULL) {
		u->auth_ku_len = sizeof(u->auth_ku);
		if (csnmp_ku(kc, u->auth, u->auth_pass, u->auth_ku, &u->auth_ku_len) < 0) {
			snprintf(why, len, "cannot make the %s key from auth_password",
				 u->auth->name);
			return -1;
		}
	}
	if (u->priv != NULL) {
		/* the privacy key is made with the authentication protocol's hash */
		u->priv_ku_len = sizeof(u->priv_ku);
		if (csnmp_ku(kc, u->auth, u->priv_pass, u->priv_ku, &u->priv_ku_len) < 0) {
			snprintf(why, len, "cannot make the %s key from priv_password",
				 u->priv->name);
			return -1;
		}
	}
	csnmp_wipe(u->auth_pass);
	csnmp_wipe(u->priv_pass);
	u->auth_pass = u->priv_pass = NULL;
	u->keys_made = 1;
	return 0;
}

int csnmp_usm_session(struct csnmp_usm *u, struct csnmp_ku_cache *kc, netsnmp_session *s, char *why,
		      size_t len)
{
	if (csnmp_usm_keys(u, kc, why, len) < 0)
		return -1;
	s->version = SNMP_VERSION_3;
	s->securityModel = SNMP_SEC_MODEL_USM;
	s->securityName = u->name;
	s->securityNameLen = strlen(u->name);
	s->securityLevel = u->level;
	s->contextName = u->context;
	s->contextNameLen = strlen(u->context);
	/* the engine ID is discovered on the loop (snmp_session.c), never here */
	s->flags |= SNMP_FLAGS_DONT_PROBE;
	if (u->auth != NULL) {
		s->securityAuthProto = (oid *)u->auth->oid;
		s->securityAuthProtoLen = u->auth->len;
		memcpy(s->securityAuthKey, u->auth_ku, u->auth_ku_len);
		s->securityAuthKeyLen = u->auth_ku_len;
	}
	if (u->priv != NULL) {
		s->securityPrivProto = (oid *)u->priv->oid;
		s->securityPrivProtoLen = u->priv->len;
		memcpy(s->securityPrivKey, u->priv_ku, u->priv_ku_len);
		s->securityPrivKeyLen = u->priv_ku_len;
	}
	return 0;
}

int csnmp_usm_same_keys(const struct csnmp_usm *a, const struct csnmp_usm *b)
{
	return a->level == b->level && a->auth == b->auth && a->priv == b->priv &&
	       a->auth_ku_len == b->auth_ku_len && a->priv_ku_len == b->priv_ku_len &&
	       memcmp(a->auth_ku, b->auth_ku, a->auth_ku_len) == 0 &&
	       memcmp(a->priv_ku, b->priv_ku, a->priv_ku_len) == 0;
}

/* The localized key `nu` should hold for `ku` at `engine`: its leading bytes match. */
static int csnmp_kul_matches(const struct csnmp_usm_proto *hash, const u_char *engine, size_t elen,
			     const u_char *ku, size_t kulen, const u_char *have, size_t havelen)
{
	u_char kul[USM_AUTH_KU_LEN];
	size_t len = sizeof(kul);
	int same;

	if (generate_kul(hash->oid, (u_int)hash->len, engine, elen, ku, kulen, kul, &len) !=
	    SNMPERR_SUCCESS)
		return 0;
	same = have != NULL && havelen > 0 && memcmp(kul, have, len < havelen ? len : havelen) == 0;
	explicit_bzero(kul, sizeof(kul));
	return same;
}

static int csnmp_oid_is(const oid *o, size_t len, const struct csnmp_usm_proto *pr, const oid *none,
			size_t nonelen)
{
	if (pr == NULL)
		return o == NULL || snmp_oid_compare(o, len, none, nonelen) == 0;
	return o != NULL && snmp_oid_compare(o, len, pr->oid, pr->len) == 0;
}

int csnmp_usm_matches(const struct csnmp_usm *u, const struct usmUser *nu, const u_char *engine,
		      size_t elen)
{
	if (!csnmp_oid_is(nu->authProtocol, nu->authProtocolLen, u->auth, usmNoAuthProtocol,
			  OID_LENGTH(usmNoAuthProtocol)) ||
	    !csnmp_oid_is(nu->privProtocol, nu->privProtocolLen, u->priv, usmNoPrivProtocol,
			  OID_LENGTH(usmNoPrivProtocol)))
		return 0;
	if (u->auth != NULL && !csnmp_kul_matches(u->auth, engine, elen, u->auth_ku, u->auth_ku_len,
						  nu->authKey, nu->authKeyLen))
		return 0;
	if (u->priv != NULL && !csnmp_kul_matches(u->auth, engine, elen, u->priv_ku, u->priv_ku_len,
						  nu->privKey, nu->privKeyLen))
		return 0;
	return 1;
}

enum outcome csnmp_usm_report(const struct csnmp_usm *u, int report, const char *shown, char *why,
			      size_t len)
{
	switch (report) {
	case SNMPERR_UNKNOWN_USER_NAME:
		snprintf(why, len, "%s does not know SNMPv3 user \"%s\" (usmStatsUnknownUserNames)",
			 shown, u->name);
		return OUTCOME_ERROR;
	case SNMPERR_AUTHENTICATION_FAILURE:
		snprintf(why, len,
			 "%s refused the authentication of SNMPv3 user \"%s\": wrong auth_password "
			 "or auth_protocol %s (usmStatsWrongDigests)",
			 shown, u->name, u->auth ? u->auth->name : "none");
		return OUTCOME_ERROR;
	case SNMPERR_DECRYPTION_ERR:
		snprintf(why, len,
			 "%s could not decrypt the request of SNMPv3 user \"%s\": wrong "
			 "priv_password or priv_protocol %s (usmStatsDecryptionErrors)",
			 shown, u->name, u->priv ? u->priv->name : "none");
		return OUTCOME_ERROR;
	case SNMPERR_UNSUPPORTED_SEC_LEVEL:
		snprintf(why, len,
			 "%s does not allow SNMPv3 user \"%s\" at security_level %s "
			 "(usmStatsUnsupportedSecLevels)",
			 shown, u->name, csnmp_usm_level_str(u->level));
		return OUTCOME_ERROR;
	case SNMPERR_UNKNOWN_ENG_ID:
		snprintf(
		    why, len,
		    "%s has another SNMPv3 engine ID than discovered (usmStatsUnknownEngineIDs; "
		    "replaced?): discovered again at the next run",
		    shown);
		return OUTCOME_ERROR;
	case SNMPERR_NOT_IN_TIME_WINDOW:
		snprintf(why, len,
			 "%s answered outside the SNMPv3 time window (usmStatsNotInTimeWindows; "
			 "restarted?): discovered again at the next run",
			 shown);
		return OUTCOME_ERROR;
	default:
		snprintf(why, len, "%s answered with an SNMPv3 report: %s", shown,
			 snmp_api_errstring(report));
		return OUTCOME_ERROR;
	}
}
