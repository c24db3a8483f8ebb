/*
 * check_http.c - the "http" probe: one HTTP(S) request per run through
 * libcurl's multi interface, driven by the agent's libevent loop (one multi
 * handle for all HTTP checks, the kind's shared state). Each run reports the
 * time of every phase, the status, the size, and for https the certificate's
 * verification and days until it expires; its Result says what a person
 * needs. It never blocks the loop (names resolve through evdns and reach
 * curl as CURLOPT_RESOLVE), never holds more than HTTP_BODY_MAX of a body,
 * and never puts a password in a log line or a reason.
 */
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "libload.h"
#include "log.h"
#include "resolve.h"
#include "timeutil.h"
#include "tls.h"
#include "xmalloc.h"

/*
 * libcurl's functions, opened by the first http probe (libload.h): an agent
 * without http probes maps neither libcurl nor the libraries it brings.
 */
#define HTTP_CURL_FNS(X, v, p)                                                                  \
	X(v, p, global_init) X(v, p, global_cleanup) X(v, p, easy_init)                         \
	X(v, p, easy_cleanup) X(v, p, easy_setopt) X(v, p, easy_getinfo)                        \
	X(v, p, easy_strerror) X(v, p, free) X(v, p, multi_init) X(v, p, multi_cleanup)         \
	X(v, p, multi_add_handle) X(v, p, multi_remove_handle) X(v, p, multi_assign)            \
	X(v, p, multi_info_read) X(v, p, multi_setopt) X(v, p, multi_socket_action)             \
	X(v, p, multi_strerror) X(v, p, slist_append) X(v, p, slist_free_all) X(v, p, url)      \
	X(v, p, url_cleanup) X(v, p, url_get) X(v, p, url_set)
LIBLOAD_DEFINE(cu, HTTP_CURL_FNS, curl_, VAKT_LIBCURL_SONAME, "http probes");

/* A body is matched within its first MiB; the rest is read and discarded. */
#define HTTP_BODY_MAX      (1024 * 1024)
#define HTTP_STATUS_RANGES 16
#define HTTP_URL_SHOWN     200 /* a URL in a reason is cut here */

/* What all HTTP checks share: one multi handle on the agent's loop. */
struct http_shared {
	struct event_base *base;
	CURLM *multi;
	struct event *timer; /* curl's CURLMOPT_TIMERFUNCTION deadline */
};

struct http_probe {
	struct check *check;
	struct http_shared *sh;
	/* the configuration */
	char *url;
	char shown_url[HTTP_URL_SHOWN + 4];
	char host[256]; /* the URL's host, without brackets */
	unsigned port;
	int https;
	int numeric; /* host is an address: nothing to resolve */
	int family;  /* AF_UNSPEC, AF_INET, AF_INET6 */
	struct {
		unsigned lo, hi;
	} status[HTTP_STATUS_RANGES];
	size_t nstatus;
	char *body;       /* substring the body must contain, or NULL */
	char *body_regex; /* its text, for the reason */
	regex_t re;       /* compiled when body_regex is set */
	int follow;       /* follow redirects */
	long max_redirects;
	int verify; /* a certificate that fails verification fails the run */
	long cert_warn_days;
	struct curl_slist *headers;
	char *ca;              /* CA file, or NULL for the system's */
	char *user, *password; /* basic auth; the password goes to curl only */
	CURL *easy;
	/* the current run */
	struct resolve res;
	struct curl_slist *resolve_list;
	int in_multi;
	double dns_time;                 /* seconds our own lookup took (0 for an address) */
	char addr[INET6_ADDRSTRLEN + 2]; /* what the lookup gave, for a reason without curl's */
	char errbuf[CURL_ERROR_SIZE];
	char *buf; /* the body kept for matching, up to HTTP_BODY_MAX */
	size_t len, cap;
	int truncated;
	X509 *leaf;     /* the server's certificate, as verification saw it */
	int verify_err; /* the first X509_V_ERR_* of the chain, 0 when it verified */
};

static cfg_opt_t http_opts[] = {
    CFG_STR("url", NULL, CFGF_NODEFAULT),
    CFG_STR("expect_status", "200-399", CFGF_NONE),
    CFG_STR("body", NULL, CFGF_NODEFAULT),
    CFG_STR("body_regex", NULL, CFGF_NODEFAULT),
    CFG_BOOL("follow_redirects", cfg_false, CFGF_NONE),
    CFG_INT("max_redirects", 5, CFGF_NONE),
    CFG_STR_LIST("headers", NULL, CFGF_NODEFAULT),
    CFG_STR("user", NULL, CFGF_NODEFAULT),
    CFG_STR("password", NULL, CFGF_NODEFAULT),
    CFG_STR("family", "any", CFGF_NONE),
    CFG_STR("ca", NULL, CFGF_NODEFAULT),
    CFG_BOOL("verify", cfg_true, CFGF_NONE),
    CFG_INT("cert_warn_days", 14, CFGF_NONE),
    CFG_END(),
};

/* "200", "200-299,301": the statuses that make a run ok; -1 on a bad list. */
static int parse_status(struct http_probe *p, const char *s, const char **why)
{
	const char *q = s;

	p->nstatus = 0;
	while (*q != '\0') {
		char *end;
		unsigned long lo, hi;

		lo = strtoul(q, &end, 10);
		if (end == q) {
			*why = "expected status codes such as \"200\" or \"200-299,301\"";
			return -1;
		}
		hi = lo;
		if (*end == '-') {
			q = end + 1;
			hi = strtoul(q, &end, 10);
			if (end == q) {
				*why = "a range needs two codes, as in \"200-299\"";
				return -1;
			}
		}
		if (lo < 100 || hi > 599 || lo > hi) {
			*why = "status codes are 100..599, a range low-high";
			return -1;
		}
		if (p->nstatus == HTTP_STATUS_RANGES) {
			*why = "at most 16 codes or ranges";
			return -1;
		}
		p->status[p->nstatus].lo = (unsigned)lo;
		p->status[p->nstatus].hi = (unsigned)hi;
		p->nstatus++;
		while (*end == ' ')
			end++;
		if (*end == ',')
			end++;
		else if (*end != '\0') {
			*why = "expected status codes such as \"200\" or \"200-299,301\"";
			return -1;
		}
		while (*end == ' ')
			end++;
		q = end;
	}
	if (p->nstatus == 0) {
		*why = "expected at least one status code";
		return -1;
	}
	return 0;
}

static int status_expected(const struct http_probe *p, long code)
{
	for (size_t i = 0; i < p->nstatus; i++)
		if (code >= p->status[i].lo && code <= p->status[i].hi)
			return 1;
	return 0;
}

/* Splits the URL into scheme, host and port; -1 with why, -2 when it holds credentials. */
static int parse_url(struct http_probe *p, const char *url, const char **why)
{
	CURLU *u = cu.url();
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	int rc = -1;

	if (u == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (cu.url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    cu.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    cu.url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    cu.url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		*why = "not a URL such as \"https://www.rissa.kommune.no/\"";
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		*why = "the scheme must be http or https";
		goto out;
	}
	/* credentials in the URL would show in every reason that names it */
	if (cu.url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		*why = "credentials belong in user and password, not in the URL";
		rc = -2;
		goto out;
	}
	p->https = strcmp(scheme, "https") == 0;
	if (host[0] == '[') {
		size_t n = strlen(host);

		host[n - 1] = '\0';
		snprintf(p->host, sizeof(p->host), "%s", host + 1);
	} else {
		snprintf(p->host, sizeof(p->host), "%s", host);
	}
	p->port = (unsigned)strtoul(port, NULL, 10);
	{
		struct in6_addr a6;

		p->numeric =
		    inet_pton(AF_INET, p->host, &a6) == 1 || inet_pton(AF_INET6, p->host, &a6) == 1;
	}
	rc = 0;
out:
	cu.free(scheme);
	cu.free(host);
	cu.free(port);
	cu.free(user);
	cu.url_cleanup(u);
	return rc;
}

static void http_probe_free(struct http_probe *p)
{
	if (p == NULL)
		return;
	if (p->body_regex != NULL)
		regfree(&p->re);
	cu.slist_free_all(p->headers);
	if (p->password != NULL)
		explicit_bzero(p->password, strlen(p->password));
	free(p->password);
	free(p->user);
	free(p->ca);
	free(p->body_regex);
	free(p->body);
	free(p->url);
	free(p);
}

static int http_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"url", NULL};
	struct http_probe *p;
	const char *why = NULL, *fam;
	char lwhy[300];
	int err;

	if (conf_require(sec, req) < 0)
		return -1;
	if (libload_open(&cu_lib, lwhy, sizeof(lwhy)) < 0) {
		conf_section_error(sec, "%s", lwhy);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->check = c;
	p->url = xstrdup(cfg_getstr(sec, "url"));
	switch (parse_url(p, p->url, &why)) {
	case 0:
		break;
	case -2: /* the URL is not shown: it holds a password */
		conf_section_error(sec, "url: %s", why);
		goto bad;
	default:
		conf_section_error(sec, "url \"%s\": %s", p->url, why);
		goto bad;
	}
	snprintf(p->shown_url, sizeof(p->shown_url), "%.*s%s", HTTP_URL_SHOWN, p->url,
		 strlen(p->url) > HTTP_URL_SHOWN ? "..." : "");
	if (parse_status(p, cfg_getstr(sec, "expect_status"), &why) < 0) {
		conf_section_error(sec, "expect_status \"%s\": %s",
				   cfg_getstr(sec, "expect_status"), why);
		goto bad;
	}
	if (cfg_getstr(sec, "body") != NULL && cfg_getstr(sec, "body_regex") != NULL) {
		conf_section_error(sec, "body and body_regex: give one of them");
		goto bad;
	}
	if (cfg_getstr(sec, "body") != NULL) {
		if (cfg_getstr(sec, "body")[0] == '\0') {
			conf_section_error(sec, "body must not be empty");
			goto bad;
		}
		p->body = xstrdup(cfg_getstr(sec, "body"));
	}
	if (cfg_getstr(sec, "body_regex") != NULL) {
		err = regcomp(&p->re, cfg_getstr(sec, "body_regex"), REG_EXTENDED | REG_NOSUB);
		if (err != 0) {
			char msg[128];

			regerror(err, &p->re, msg, sizeof(msg));
			conf_section_error(sec, "body_regex \"%s\": %s",
					   cfg_getstr(sec, "body_regex"), msg);
			goto bad;
		}
		p->body_regex = xstrdup(cfg_getstr(sec, "body_regex"));
	}
	p->follow = cfg_getbool(sec, "follow_redirects");
	p->max_redirects = cfg_getint(sec, "max_redirects");
	if (p->max_redirects < 0 || p->max_redirects > 50) {
		conf_section_error(sec, "max_redirects must be 0..50, got %ld", p->max_redirects);
		goto bad;
	}
	for (unsigned i = 0; i < cfg_size(sec, "headers"); i++) {
		const char *h = cfg_getnstr(sec, "headers", i);
		const char *colon = strchr(h, ':');

		if (colon == NULL || colon == h || strpbrk(h, "\r\n") != NULL ||
		    strcspn(h, " \t") < (size_t)(colon - h)) {
			conf_section_error(sec, "headers: \"%s\" is not one \"Name: value\" line",
					   h);
			goto bad;
		}
		p->headers = cu.slist_append(p->headers, h);
	}
	if ((cfg_getstr(sec, "user") != NULL) != (cfg_getstr(sec, "password") != NULL)) {
		conf_section_error(sec, "user and password go together");
		goto bad;
	}
	fam = cfg_getstr(sec, "family");
	if (strcmp(fam, "any") == 0)
		p->family = AF_UNSPEC;
	else if (strcmp(fam, "ipv4") == 0)
		p->family = AF_INET;
	else if (strcmp(fam, "ipv6") == 0)
		p->family = AF_INET6;
	else {
		conf_section_error(sec, "family must be \"any\", \"ipv4\" or \"ipv6\", got \"%s\"",
				   fam);
		goto bad;
	}
	if (cfg_getstr(sec, "ca") != NULL && !p->https) {
		conf_section_error(sec, "ca applies to an https url only");
		goto bad;
	}
	if (cfg_getstr(sec, "ca") != NULL)
		p->ca = xstrdup(cfg_getstr(sec, "ca"));
	if (cfg_getstr(sec, "user") != NULL) {
		p->user = xstrdup(cfg_getstr(sec, "user"));
		p->password = xstrdup(cfg_getstr(sec, "password"));
	}
	p->verify = cfg_getbool(sec, "verify");
	p->cert_warn_days = cfg_getint(sec, "cert_warn_days");
	if (p->cert_warn_days < 0 || p->cert_warn_days > 3650) {
		conf_section_error(sec, "cert_warn_days must be 0..3650, got %ld",
				   p->cert_warn_days);
		goto bad;
	}
	/* a probe belongs to the host it probes, unless host says otherwise */
	if (cfg_getstr(sec, "host") == NULL) {
		free(c->host);
		c->host = xstrdup(p->host);
	}
	c->priv = p;
	return 0;
bad:
	http_probe_free(p);
	return -1;
}

/*
 * OpenSSL's ex-data slot of an SSL_CTX that holds the probe its handshake
 * belongs to: allocated once per process by the first init (a verify
 * callback has no argument of its own), never changed after.
 */
static int http_ssl_index = -1;

/*
 * Sees the server's certificate and the chain's first error however the
 * verification ends, so that an expired certificate still has its days
 * counted. With verify = no it lets the handshake go on past an error;
 * curl still verifies, so the chain is checked against `ca` for the samples.
 */
static int http_verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct http_probe *p;
	X509 *leaf;

	if (ssl == NULL)
		return ok;
	p = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), http_ssl_index);
	if (p == NULL)
		return ok;
	if (!ok && p->verify_err == 0)
		p->verify_err = X509_STORE_CTX_get_error(x);
	leaf = X509_STORE_CTX_get0_cert(x);
	if (p->leaf == NULL && leaf != NULL && X509_up_ref(leaf) == 1)
		p->leaf = leaf;
	if (p->verify || ok)
		return ok;
	/* verify = no: curl reads the verdict after the handshake; it is kept above */
	X509_STORE_CTX_set_error(x, X509_V_OK);
	return 1;
}

static CURLcode http_ssl_ctx(CURL *easy, void *sslctx, void *arg)
{
	SSL_CTX *ctx = sslctx;

	SSL_CTX_set_ex_data(ctx, http_ssl_index, arg);
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), http_verify_cb);
	return CURLE_OK;
}

/* Keeps the first HTTP_BODY_MAX bytes when the body is matched; reads the rest. */
static size_t http_write(char *data, size_t size, size_t n, void *arg)
{
	struct http_probe *p = arg;
	size_t len = size * n, take;

	if (p->body == NULL && p->body_regex == NULL)
		return len;
	take = len;
	if (take > HTTP_BODY_MAX - p->len) {
		take = HTTP_BODY_MAX - p->len;
		p->truncated = 1;
	}
	if (take == 0)
		return len;
	if (p->len + take + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 16384;

		while (cap < p->len + take + 1)
			cap *= 2;
		if (cap > HTTP_BODY_MAX + 1)
			cap = HTTP_BODY_MAX + 1;
		p->buf = xreallocarray(p->buf, cap, 1);
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, take);
	p->len += take;
	p->buf[p->len] = '\0';
	return len;
}

static int http_start(struct check *c)
{
	struct http_probe *p = c->priv;
	CURL *e;

	p->sh = check_kind_state(c);
	if (p->sh == NULL)
		return check_start_error(c, "the HTTP probes' shared state is missing");
	e = cu.easy_init();
	if (e == NULL)
		return check_start_error(c, "cannot make a curl handle for %s", p->shown_url);
	cu.easy_setopt(e, CURLOPT_URL, p->url);
	cu.easy_setopt(e, CURLOPT_PRIVATE, c);
	cu.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
	cu.easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write);
	cu.easy_setopt(e, CURLOPT_WRITEDATA, p);
	cu.easy_setopt(e, CURLOPT_USERAGENT, "vakt-agent/" VAKT_VERSION);
	cu.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	cu.easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	cu.easy_setopt(e, CURLOPT_FOLLOWLOCATION, p->follow ? 1L : 0L);
	cu.easy_setopt(e, CURLOPT_MAXREDIRS, p->max_redirects);
	/* every run measures a new connection: name, connect, handshake, verification */
	cu.easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	cu.easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	cu.easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	cu.easy_setopt(e, CURLOPT_IPRESOLVE,
		       p->family == AF_INET    ? (long)CURL_IPRESOLVE_V4
		       : p->family == AF_INET6 ? (long)CURL_IPRESOLVE_V6
					       : (long)CURL_IPRESOLVE_WHATEVER);
	if (p->headers != NULL)
		cu.easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
	if (p->user != NULL) {
		cu.easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		cu.easy_setopt(e, CURLOPT_USERNAME, p->user);
		cu.easy_setopt(e, CURLOPT_PASSWORD, p->password);
		/* a redirect elsewhere does not get them */
		cu.easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
	}
	if (p->ca != NULL)
		cu.easy_setopt(e, CURLOPT_CAINFO, p->ca);
	if (p->https) {
		cu.easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, http_ssl_ctx);
		cu.easy_setopt(e, CURLOPT_SSL_CTX_DATA, p);
		/* without VERIFYPEER curl would not load `ca`: verify = no is http_verify_cb's */
		cu.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
		cu.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, p->verify ? 2L : 0L);
	}
	p->easy = e;
	return 0;
}

/* The server's address as a reason shows it: "10.0.0.5:443", "[::1]:443". */
static void peer_text(struct http_probe *p, char *out, size_t len)
{
	char *ip = NULL;
	long port = 0;

	cu.easy_getinfo(p->easy, CURLINFO_PRIMARY_IP, &ip);
	cu.easy_getinfo(p->easy, CURLINFO_PRIMARY_PORT, &port);
	if (ip == NULL || ip[0] == '\0') {
		if (p->addr[0] == '\0') {
			snprintf(out, len, "%s", p->shown_url);
			return;
		}
		ip = p->addr;
		port = p->port;
	}
	snprintf(out, len, strchr(ip, ':') ? "%s ([%s]:%ld)" : "%s (%s:%ld)", p->shown_url, ip,
		 port);
}

/* Whether the body holds what it must; 1 when nothing is asked. */
static int body_matches(struct http_probe *p)
{
	regmatch_t m[1];

	if (p->body != NULL)
		return p->buf != NULL && memmem(p->buf, p->len, p->body, strlen(p->body)) != NULL;
	if (p->body_regex == NULL)
		return 1;
	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)p->len;
	/* REG_STARTEND: a body with NUL bytes is matched whole */
	return regexec(&p->re, p->buf != NULL ? p->buf : "", 1, m, REG_STARTEND) == 0;
}

/* A phase's duration in seconds, unknown (NAN) when it was never reached. */
static double phase(curl_off_t from, curl_off_t to)
{
	if (to <= 0)
		return NAN;
	return (double)(to - (from > 0 ? from : 0)) / 1e6;
}

static void emit_time(struct check *c, const char *metric, double secs)
{
	check_emit(c, "", metric, SAMPLE_GAUGE, isnan(secs) ? 0 : secs, 0, isnan(secs));
}

/* Where a timed-out run was, from the phases it reached. */
static const char *timeout_phase(const struct http_probe *p, curl_off_t conn, curl_off_t app,
				 curl_off_t first)
{
	if (conn <= 0)
		return p->numeric || p->addr[0] ? "while connecting" : "while resolving the name";
	if (p->https && app <= 0)
		return "during the TLS handshake";
	if (first <= 0)
		return "waiting for the answer";
	return "while reading the body";
}

static void http_clear_run(struct http_probe *p)
{
	if (p->in_multi) {
		cu.multi_remove_handle(p->sh->multi, p->easy);
		p->in_multi = 0;
	}
	resolve_cancel(&p->res);
	if (p->easy != NULL)
		cu.easy_setopt(p->easy, CURLOPT_RESOLVE, NULL);
	cu.slist_free_all(p->resolve_list);
	p->resolve_list = NULL;
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
	p->truncated = 0;
	if (p->leaf != NULL)
		X509_free(p->leaf);
	p->leaf = NULL;
	p->verify_err = 0;
}

/* Ends a run that curl finished with `rc`: samples, then the one Result. */
static void http_finish(struct check *c, CURLcode rc)
{
	struct http_probe *p = c->priv;
	curl_off_t conn = 0, app = 0, first = 0, total = 0, size = 0;
	long code = 0, redirects = 0;
	double days = NAN;
	char target[HTTP_URL_SHOWN + 64], cert[320];
	int cert_ok;

	cu.easy_getinfo(p->easy, CURLINFO_CONNECT_TIME_T, &conn);
	cu.easy_getinfo(p->easy, CURLINFO_APPCONNECT_TIME_T, &app);
	cu.easy_getinfo(p->easy, CURLINFO_STARTTRANSFER_TIME_T, &first);
	cu.easy_getinfo(p->easy, CURLINFO_TOTAL_TIME_T, &total);
	cu.easy_getinfo(p->easy, CURLINFO_SIZE_DOWNLOAD_T, &size);
	cu.easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
	cu.easy_getinfo(p->easy, CURLINFO_REDIRECT_COUNT, &redirects);
	peer_text(p, target, sizeof(target));

	emit_time(c, "dns_time", conn > 0 || p->numeric || p->addr[0] ? p->dns_time : NAN);
	emit_time(c, "connect_time", phase(0, conn));
	if (p->https)
		emit_time(c, "tls_time", phase(conn, app));
	emit_time(c, "first_byte_time", phase(app > 0 ? app : conn, first));
	emit_time(c, "total_time", mono_now() - (double)c->run_start_ms / 1000.0);
	check_emit(c, "", "status", SAMPLE_GAUGE, (double)code, 0, code == 0);
	check_emit(c, "", "size", SAMPLE_GAUGE, (double)size, 0, first <= 0);
	check_emit(c, "", "redirects", SAMPLE_GAUGE, (double)redirects, 0, 0);
	if (p->https) {
		days = tls_cert_days_left(p->leaf, wall_now_ms());
		tls_cert_problem(p->leaf, p->verify_err, p->host, p->numeric, days, cert,
				 sizeof(cert));
		cert_ok = cert[0] == '\0';
		check_emit(c, "", "cert_days_left", SAMPLE_GAUGE, isnan(days) ? 0 : days, 0,
			   isnan(days));
		check_emit(c, "", "cert_verify_ok", SAMPLE_GAUGE, cert_ok, 0, p->leaf == NULL);
	} else {
		cert[0] = '\0';
	}

	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_OPERATION_TIMEDOUT:
		http_clear_run(p);
		check_done(c, OUTCOME_TIMEOUT, "timeout after %g s %s at %s",
			   c->timeout_ms / 1000.0, timeout_phase(p, conn, app, first), target);
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
		http_clear_run(p);
		if (cert[0] != '\0' && rc != CURLE_SSL_CACERT_BADFILE)
			check_done(c, OUTCOME_DOWN, "%s at %s", cert, target);
		else
			check_done(c, OUTCOME_DOWN, "TLS with %s failed: %s", target,
				   p->errbuf[0] ? p->errbuf : cu.easy_strerror(rc));
		return;
	case CURLE_TOO_MANY_REDIRECTS:
		http_clear_run(p);
		check_done(c, OUTCOME_DOWN, "more than %ld redirects from %s", p->max_redirects,
			   target);
		return;
	default:
		http_clear_run(p);
		check_done(c, OUTCOME_DOWN, "%s: %s", target,
			   p->errbuf[0] ? p->errbuf : cu.easy_strerror(rc));
		return;
	}
	if (!status_expected(p, code)) {
		http_clear_run(p);
		check_done(c, OUTCOME_DOWN, "HTTP %ld from %s", code, target);
		return;
	}
	if (!body_matches(p)) {
		const char *what = p->body != NULL ? p->body : p->body_regex;

		check_done(c, OUTCOME_DOWN, "body does not match \"%.80s\"%s at %s", what,
			   p->truncated ? " in its first MiB" : "", target);
		http_clear_run(p);
		return;
	}
	/* verify = no: the run stands, the samples tell what is wrong */
	if (cert[0] != '\0') {
		http_clear_run(p);
		check_done(c, OUTCOME_OK, "%s at %s (not verified: verify = no)", cert, target);
		return;
	}
	http_clear_run(p);
	if (p->https && !isnan(days) && days < (double)p->cert_warn_days)
		check_done(c, OUTCOME_OK, "certificate expires in %ld day%s at %s",
			   (long)(days + 0.5), (long)(days + 0.5) == 1 ? "" : "s", target);
	else
		check_done(c, OUTCOME_OK, NULL);
}

/* Hands every finished transfer its end. */
static void http_read_done(struct http_shared *sh)
{
	CURLMsg *m;
	int left;

	while ((m = cu.multi_info_read(sh->multi, &left)) != NULL) {
		struct check *c = NULL;
		struct http_probe *p;

		if (m->msg != CURLMSG_DONE)
			continue;
		cu.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c == NULL)
			continue;
		p = c->priv;
		cu.multi_remove_handle(sh->multi, p->easy);
		p->in_multi = 0;
		http_finish(c, m->data.result);
	}
}

static void http_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct http_shared *sh = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	cu.multi_socket_action(sh->multi, fd, flags, &running);
	http_read_done(sh);
}

static void http_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct http_shared *sh = arg;
	int running;

	cu.multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_read_done(sh);
}

/* CURLMOPT_SOCKETFUNCTION: one libevent event per socket curl watches. */
static int http_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct http_shared *sh = arg;
	struct event *ev = sockp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		cu.multi_assign(sh->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev != NULL) {
		event_del(ev);
		event_assign(ev, sh->base, s, kind, http_socket_event, sh);
	} else {
		ev = event_new(sh->base, s, kind, http_socket_event, sh);
		if (ev == NULL)
			return -1;
		cu.multi_assign(sh->multi, s, ev);
	}
	event_add(ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl's next deadline as one timer on the loop. */
static int http_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct http_shared *sh = arg;
	struct timeval tv;

	if (ms < 0) {
		evtimer_del(sh->timer);
		return 0;
	}
	/* 0: at the next turn of the loop, never from inside curl's call */
	ms_to_timeval((uint64_t)ms, &tv);
	evtimer_add(sh->timer, &tv);
	return 0;
}

static void http_go(struct check *c)
{
	struct http_probe *p = c->priv;
	uint64_t used = mono_now_ms() - c->run_start_ms;
	CURLMcode mc;

	p->errbuf[0] = '\0';
	/* the timeout covers the name lookup and the transfer together */
	cu.easy_setopt(p->easy, CURLOPT_TIMEOUT_MS,
			 (long)(used < c->timeout_ms ? c->timeout_ms - used : 1));
	cu.easy_setopt(p->easy, CURLOPT_RESOLVE, p->resolve_list);
	mc = cu.multi_add_handle(p->sh->multi, p->easy);
	if (mc != CURLM_OK) {
		http_clear_run(p);
		check_done(c, OUTCOME_ERROR, "cannot start a request to %s: %s", p->shown_url,
			   cu.multi_strerror(mc));
		return;
	}
	p->in_multi = 1;
}

static void http_resolved(const struct sockaddr *sa, socklen_t salen, const char *addr,
			  const char *why, void *arg)
{
	struct check *c = arg;
	struct http_probe *p = c->priv;
	char entry[sizeof(p->host) + INET6_ADDRSTRLEN + 16];

	p->dns_time = mono_now() - (double)c->run_start_ms / 1000.0;
	if (sa == NULL) {
		http_clear_run(p);
		check_done(c, OUTCOME_ERROR, "%s", why);
		return;
	}
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	snprintf(entry, sizeof(entry), strchr(addr, ':') ? "%s:%u:[%s]" : "%s:%u:%s", p->host,
		 p->port, addr);
	p->resolve_list = cu.slist_append(NULL, entry);
	http_go(c);
}

static void http_run(struct check *c)
{
	struct http_probe *p = c->priv;
	char port[8];

	p->dns_time = 0;
	p->addr[0] = '\0';
	if (p->numeric) {
		http_go(c);
		return;
	}
	snprintf(port, sizeof(port), "%u", p->port);
	resolve_start(&p->res, c->agent->dns, c->base, p->host, port, p->family, c->timeout_ms,
		      http_resolved, c);
}

static void http_stop(struct check *c)
{
	struct http_probe *p = c->priv;

	if (p == NULL)
		return;
	if (p->sh != NULL)
		http_clear_run(p);
	if (p->easy != NULL)
		cu.easy_cleanup(p->easy);
	http_probe_free(p);
	c->priv = NULL;
}

static int http_init(struct agent *a, void **state)
{
	struct http_shared *sh;
	char why[300];

	if (libload_open(&cu_lib, why, sizeof(why)) < 0) {
		log_warnx("%s", why);
		return -1;
	}
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("http probes: libcurl does not initialise");
		return -1;
	}
	if (http_ssl_index < 0)
		http_ssl_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	sh = xcalloc(1, sizeof(*sh));
	sh->base = a->base;
	sh->multi = cu.multi_init();
	sh->timer = evtimer_new(a->base, http_timer_event, sh);
	if (sh->multi == NULL || sh->timer == NULL || http_ssl_index < 0) {
		log_warnx("http probes: cannot make curl's multi handle");
		if (sh->multi != NULL)
			cu.multi_cleanup(sh->multi);
		if (sh->timer != NULL)
			event_free(sh->timer);
		free(sh);
		cu.global_cleanup();
		return -1;
	}
	cu.multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	cu.multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
	cu.multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	cu.multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
	*state = sh;
	return 0;
}

static void http_fini(struct agent *a, void *state)
{
	struct http_shared *sh = state;

	if (sh == NULL)
		return;
	cu.multi_cleanup(sh->multi);
	event_free(sh->timer);
	free(sh);
	cu.global_cleanup();
}

const struct check_kind check_kind_http = {
    .name = "http",
    .section = "probe",
    .opts = http_opts,
    .init = http_init,
    .parse_config = http_parse_config,
    .start = http_start,
    .run = http_run,
    .stop = http_stop,
    .fini = http_fini,
};
