/*
 * check_tls.c - the "tls" probe: a TLS handshake with any TCP service,
 * directly or after STARTTLS (SMTP, IMAP), timed, its protocol version and
 * the server's certificate judged against a CA file or the system's store
 * and a host name. Non-blocking connect, plaintext and SSL_* calls on the
 * agent's loop; it never sends anything beyond the handshake.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "agent.h"
#include "check.h"
#include "conf.h"
#include "log.h"
#include "probe_target.h"
#include "timeutil.h"
#include "tls.h"
#include "xmalloc.h"

/* a line of the plaintext part (SMTP, IMAP) is read into this at most */
#define TLS_LINE_MAX 1024
/* how much of an unexpected line a reason shows */
#define TLS_SHOWN_MAX     80
#define TLS_WARN_DAYS_MAX 3650

enum tls_starttls { STARTTLS_NONE, STARTTLS_SMTP, STARTTLS_IMAP };

static const char *const starttls_names[] = {"none", "smtp", "imap"};

/* Where a run is: each phase's timeout and failure say so. */
enum tls_phase {
	PH_CONNECT,   /* TCP connect */
	PH_GREETING,  /* the server's first line (SMTP 220, IMAP * OK) */
	PH_EHLO,      /* SMTP: our EHLO, its 250 */
	PH_STARTTLS,  /* our STARTTLS, its go-ahead */
	PH_HANDSHAKE, /* SSL_connect */
};

/* how a reason says what the server answered in each plaintext phase */
static const char *const phase_said[] = {
    "", "greeted with", "answered EHLO with", "answered STARTTLS with", "",
};

static const char *const phase_what[] = {
    "connection to",           "greeting from",      "answer to EHLO from",
    "answer to STARTTLS from", "TLS handshake with",
};

struct tls_probe {
	struct probe_target t;
	char name[256];   /* the name the certificate must hold, sent as SNI */
	int name_numeric; /* name is an address: checked as one, no SNI */
	enum tls_starttls starttls;
	char *ca; /* CA file, or NULL for the system's store */
	int verify;
	long warn_days;
	SSL_CTX *ctx; /* made by start(): the CA file is read once */
	/* the run in progress */
	evutil_socket_t fd;
	struct event *ev;
	SSL *ssl;
	enum tls_phase phase;
	char line[TLS_LINE_MAX + 1];
	size_t got;
	const char *out; /* plaintext still to send */
	size_t out_len;
	double started, connected, hs_started; /* monotonic seconds */
	int cert_asked; /* the server asked for a client certificate in this run */
};

static cfg_opt_t tls_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_STR("starttls", "none", CFGF_NONE),
    CFG_STR("server_name", NULL, CFGF_NODEFAULT),
    /* as the http probe has them: one name, one meaning in every probe */
    CFG_STR("ca", NULL, CFGF_NODEFAULT),
    CFG_BOOL("verify", cfg_true, CFGF_NONE),
    CFG_INT("cert_warn_days", 14, CFGF_NONE),
    CFG_END(),
};

static void tls_probe_free(struct tls_probe *p)
{
	if (p == NULL)
		return;
	SSL_CTX_free(p->ctx);
	free(p->ca);
	free(p);
}

static int tls_parse_config(struct check *c, cfg_t *sec)
{
	static const char *const req[] = {"address", NULL};
	const char *st = cfg_getstr(sec, "starttls"), *name = cfg_getstr(sec, "server_name");
	unsigned char a[16];
	struct tls_probe *p;
	size_t i;

	if (conf_require(sec, req) < 0)
		return -1;
	for (i = 0; i < sizeof(starttls_names) / sizeof(starttls_names[0]); i++)
		if (strcasecmp(st, starttls_names[i]) == 0)
			break;
	if (i == sizeof(starttls_names) / sizeof(starttls_names[0])) {
		conf_section_error(
		    sec, "starttls must be \"none\", \"smtp\" or \"imap\", got \"%s\"", st);
		return -1;
	}
	if (cfg_getint(sec, "cert_warn_days") < 0 ||
	    cfg_getint(sec, "cert_warn_days") > TLS_WARN_DAYS_MAX) {
		conf_section_error(sec, "cert_warn_days must be 0..%d, got %ld", TLS_WARN_DAYS_MAX,
				   cfg_getint(sec, "cert_warn_days"));
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->starttls = (enum tls_starttls)i;
	if (probe_target_parse(&p->t, sec, 0) < 0) {
		tls_probe_free(p);
		return -1;
	}
	if (name != NULL && (name[0] == '\0' || strlen(name) >= sizeof(p->name))) {
		conf_section_error(sec, "server_name must be 1..%zu bytes", sizeof(p->name) - 1);
		tls_probe_free(p);
		return -1;
	}
	snprintf(p->name, sizeof(p->name), "%s", name != NULL ? name : p->t.host);
	p->name_numeric =
	    inet_pton(AF_INET, p->name, a) == 1 || inet_pton(AF_INET6, p->name, a) == 1;
	if (cfg_getstr(sec, "ca") != NULL)
		p->ca = xstrdup(cfg_getstr(sec, "ca"));
	p->verify = cfg_getbool(sec, "verify");
	p->warn_days = cfg_getint(sec, "cert_warn_days");
	c->priv = p;
	return 0;
}

/*
 * The server asks for a client certificate: the probe has none to send, and
 * notes the request so that a handshake the server then refuses says why.
 */
static int tls_client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	struct tls_probe *p = SSL_get_app_data(ssl);

	(void)x509;
	(void)pkey;
	if (p != NULL)
		p->cert_asked = 1;
	return 0;
}

/* The client context: the CA file (or the system's store) read once. */
static int tls_start(struct check *c)
{
	struct tls_probe *p = c->priv;
	unsigned long e;

	if (p->ctx != NULL)
		return 0;
	p->ctx = SSL_CTX_new(TLS_client_method());
	if (p->ctx == NULL)
		return check_start_error(c, "cannot make a TLS context");
	ERR_clear_error();
	if (p->ca != NULL ? SSL_CTX_load_verify_locations(p->ctx, p->ca, NULL) != 1
			  : SSL_CTX_set_default_verify_paths(p->ctx) != 1) {
		e = ERR_peek_last_error();
		SSL_CTX_free(p->ctx);
		p->ctx = NULL;
		return check_start_error(c, "ca \"%s\": %s", p->ca ? p->ca : "(system store)",
					 e ? ERR_reason_error_string(e) : "cannot read it");
	}
	/*
	 * The chain is verified, but a failure does not end the handshake: the
	 * run judges the certificate itself, so an expired one still has its
	 * days counted and its subject shown.
	 */
	SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_client_cert_cb(p->ctx, tls_client_cert_cb);
	return 0;
}

static void tls_close(struct tls_probe *p)
{
	if (p->ev != NULL) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->ssl != NULL) {
		SSL_free(p->ssl);
		p->ssl = NULL;
	}
	if (p->fd >= 0) {
		evutil_closesocket(p->fd);
		p->fd = -1;
	}
}

/* The samples a run without a finished handshake has: all unknown but the connect. */
static void tls_emit_unknown(struct check *c)
{
	check_emit(c, "", "handshake_time", SAMPLE_GAUGE, 0, 0, 1);
	check_emit(c, "", "tls_version", SAMPLE_GAUGE, 0, 0, 1);
	check_emit(c, "", "cert_days_left", SAMPLE_GAUGE, 0, 0, 1);
	check_emit(c, "", "cert_verify_ok", SAMPLE_GAUGE, 0, 0, 1);
}

/* Ends a run that did not get to judge a certificate. */
static void tls_fail(struct check *c, enum outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tls_fail(struct check *c, enum outcome o, const char *fmt, ...)
{
	struct tls_probe *p = c->priv;
	char reason[SAMPLE_REASON_MAX + 1];
	va_list ap;

	tls_close(p);
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	check_emit(c, "", "connect_time", SAMPLE_GAUGE,
		   p->connected > 0 ? p->connected - p->started : 0, 0, p->connected == 0);
	tls_emit_unknown(c);
	check_done(c, o, "%s", reason);
}

static void tls_timed_out(struct check *c)
{
	struct tls_probe *p = c->priv;

	tls_fail(c, OUTCOME_TIMEOUT, "no %s %s within %g s", phase_what[p->phase], p->t.shown,
		 c->timeout_ms / 1000.0);
}

/* The TLS version as a number: 1.2, 1.3 (0 when unknown). */
static double tls_version_number(const SSL *ssl)
{
	int v = SSL_version(ssl);

	return v >= TLS1_VERSION && v <= 0x0304 ? 1.0 + (v - TLS1_VERSION) / 10.0 : 0;
}

/* The handshake is done: judge the certificate, end the run. */
static void tls_judge(struct check *c)
{
	struct tls_probe *p = c->priv;
	double hs = mono_now() - p->hs_started;
	X509 *leaf = SSL_get1_peer_certificate(p->ssl);
	long verr = SSL_get_verify_result(p->ssl);
	double days = tls_cert_days_left(leaf, wall_now_ms());
	char problem[256], cn[128] = "", subject[256] = "-", version[16];
	enum outcome o = OUTCOME_OK;

	snprintf(version, sizeof(version), "%s", SSL_get_version(p->ssl));
	tls_cert_problem(leaf, verr == X509_V_OK ? 0 : (int)verr, p->name, p->name_numeric, days,
			 problem, sizeof(problem));
	if (leaf != NULL)
		tls_cert_names(leaf, cn, sizeof(cn), subject, sizeof(subject));
	check_emit(c, "", "connect_time", SAMPLE_GAUGE, p->connected - p->started, 0, 0);
	check_emit(c, "", "handshake_time", SAMPLE_GAUGE, hs, 0, 0);
	check_emit(c, "", "tls_version", SAMPLE_GAUGE, tls_version_number(p->ssl), 0, 0);
	check_emit(c, "", "cert_days_left", SAMPLE_GAUGE, isnan(days) ? 0 : days, 0, isnan(days));
	check_emit(c, "", "cert_verify_ok", SAMPLE_GAUGE, problem[0] == '\0', 0, leaf == NULL);
	X509_free(leaf);
	/* a clean close_notify is polite, but a run never waits for it */
	SSL_shutdown(p->ssl);
	tls_close(p);
	if (problem[0] != '\0' && p->verify)
		o = OUTCOME_DOWN;
	if (problem[0] != '\0')
		check_done(c, o, "%s at %s (%s, subject %s)", problem, p->t.shown, version,
			   subject);
	else if (!isnan(days) && days < (double)p->warn_days)
		check_done(c, o, "certificate expires in %ld day%s at %s (%s, subject %s)",
			   (long)(days + 0.5), (long)(days + 0.5) == 1 ? "" : "s", p->t.shown,
			   version, subject);
	else
		check_done(c, o, "%s, subject %s, %ld days left", version, subject,
			   (long)(days + 0.5));
}

static void tls_event_cb(evutil_socket_t fd, short what, void *arg);

static void tls_wait(struct check *c, short what)
{
	struct tls_probe *p = c->priv;

	probe_wait(c, &p->ev, p->fd, what, tls_event_cb);
}

/* Why SSL_connect failed, in words. */
static void tls_handshake_why(struct tls_probe *p, int err, char *out, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		snprintf(out, len, "%s",
			 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error");
	else if (err == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(out, len, "%s", strerror(errno));
	else
		snprintf(out, len, "the server closed the connection");
	(void)p;
}

static void tls_handshake(struct check *c)
{
	struct tls_probe *p = c->priv;
	char why[160];
	int rc, err;

	if (p->ssl == NULL) {
		p->phase = PH_HANDSHAKE;
		p->hs_started = mono_now();
		p->ssl = SSL_new(p->ctx);
		p->cert_asked = 0;
		if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1) {
			tls_fail(c, OUTCOME_ERROR, "cannot set up TLS for %s", p->t.shown);
			return;
		}
		SSL_set_app_data(p->ssl, p);
		if (!p->name_numeric)
			SSL_set_tlsext_host_name(p->ssl, p->name);
	}
	ERR_clear_error();
	errno = 0;
	rc = SSL_connect(p->ssl);
	if (rc == 1) {
		tls_judge(c);
		return;
	}
	err = SSL_get_error(p->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		tls_wait(c, err == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
		return;
	}
	tls_handshake_why(p, err, why, sizeof(why));
	tls_fail(c, OUTCOME_DOWN, "TLS handshake with %s failed: %s%s", p->t.shown, why,
		 p->cert_asked ? " (it asked for a client certificate; the probe sends none)" : "");
}

/* Queues a plaintext command and moves on to the phase that waits for its answer. */
static void tls_say(struct tls_probe *p, const char *cmd, enum tls_phase next)
{
	p->out = cmd;
	p->out_len = strlen(cmd);
	p->phase = next;
}

/*
 * One complete line of the plaintext part. Returns 1 when the conversation
 * goes on, 0 when the run ended, 2 when the handshake may start.
 */
static int tls_line(struct check *c, const char *l)
{
	struct tls_probe *p = c->priv;
	char q[4 * TLS_SHOWN_MAX + 8];
	/* SMTP: "250-..." goes on, "250 ..." is the last line of an answer */
	int smtp_last = strlen(l) >= 4 && l[3] == ' ';
	const char *want = NULL;

	if (p->starttls == STARTTLS_SMTP) {
		if (strlen(l) >= 4 && l[3] == '-')
			return 1;
		want = p->phase == PH_EHLO ? "250" : "220";
		if (!smtp_last || strncmp(l, want, 3) != 0)
			goto unexpected;
		if (p->phase == PH_GREETING)
			tls_say(p, "EHLO vakt-agent.invalid\r\n", PH_EHLO);
		else if (p->phase == PH_EHLO)
			tls_say(p, "STARTTLS\r\n", PH_STARTTLS);
		else
			return 2;
		return 1;
	}
	/* IMAP */
	if (p->phase == PH_GREETING) {
		want = "* OK";
		if (strncasecmp(l, want, 4) != 0)
			goto unexpected;
		tls_say(p, "v1 STARTTLS\r\n", PH_STARTTLS);
		return 1;
	}
	if (l[0] == '*')
		return 1; /* untagged lines before our answer */
	want = "v1 OK";
	if (strncasecmp(l, want, 5) != 0)
		goto unexpected;
	return 2;
unexpected:
	check_quote(q, sizeof(q), l, strlen(l), TLS_SHOWN_MAX);
	tls_fail(c, OUTCOME_DOWN, "%s %s \"%s\", not %s", p->t.shown, phase_said[p->phase], q,
		 want);
	return 0;
}

/* The plaintext part of STARTTLS: send what is due, read and judge lines. */
static void tls_plain(struct check *c)
{
	struct tls_probe *p = c->priv;
	char q[4 * TLS_SHOWN_MAX + 8];
	ssize_t n;
	char *nl;
	int r;

	for (;;) {
		while (p->out_len > 0) {
			n = send(p->fd, p->out, p->out_len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				tls_wait(c, EV_WRITE);
				return;
			}
			if (n < 0) {
				tls_fail(c, OUTCOME_DOWN, "cannot send to %s: %s", p->t.shown,
					 strerror(errno));
				return;
			}
			p->out += n;
			p->out_len -= (size_t)n;
		}
		while ((nl = memchr(p->line, '\n', p->got)) != NULL) {
			size_t len = (size_t)(nl - p->line) + 1;

			*nl = '\0';
			if (nl > p->line && nl[-1] == '\r')
				nl[-1] = '\0';
			r = tls_line(c, p->line);
			if (r == 0)
				return;
			memmove(p->line, p->line + len, p->got - len);
			p->got -= len;
			if (r == 2 && p->got > 0) {
				/* what comes before the handshake would be taken as if it were
				 * protected: a server (or a man in the middle) that sends it is
				 * not to be trusted (CVE-2011-0411) */
				check_quote(q, sizeof(q), p->line, p->got, TLS_SHOWN_MAX);
				tls_fail(c, OUTCOME_DOWN,
					 "%s sent \"%s\" after its STARTTLS answer, before the "
					 "handshake",
					 p->t.shown, q);
				return;
			}
			if (r == 2) {
				tls_handshake(c);
				return;
			}
			if (p->out_len > 0)
				break; /* say it, then read on */
		}
		if (p->out_len > 0)
			continue;
		if (p->got == TLS_LINE_MAX) {
			tls_fail(c, OUTCOME_DOWN, "%s sent a line longer than %d bytes (%s)",
				 p->t.shown, TLS_LINE_MAX, phase_what[p->phase]);
			return;
		}
		n = recv(p->fd, p->line + p->got, TLS_LINE_MAX - p->got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			tls_wait(c, EV_READ);
			return;
		}
		if (n <= 0) {
			tls_fail(c, OUTCOME_DOWN, "%s closed the connection before its %s%s%s",
				 p->t.shown, phase_what[p->phase], n < 0 ? ": " : "",
				 n < 0 ? strerror(errno) : "");
			return;
		}
		p->got += (size_t)n;
	}
}

static void tls_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;
	struct tls_probe *p = c->priv;
	int err = 0;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT) {
		tls_timed_out(c);
		return;
	}
	if (p->phase == PH_HANDSHAKE) {
		tls_handshake(c);
		return;
	}
	if (p->phase != PH_CONNECT) {
		tls_plain(c);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == ECONNREFUSED) {
		tls_fail(c, OUTCOME_DOWN, "connection refused by %s", p->t.shown);
		return;
	}
	if (err != 0) {
		tls_fail(c, OUTCOME_DOWN, "cannot connect to %s: %s", p->t.shown, strerror(err));
		return;
	}
	p->connected = mono_now();
	if (p->starttls == STARTTLS_NONE) {
		tls_handshake(c);
		return;
	}
	p->phase = PH_GREETING;
	tls_plain(c);
}

/* The target's address is ready (why NULL), or its name did not resolve. */
static void tls_connect(struct check *c, const char *why)
{
	struct tls_probe *p = c->priv;

	if (why != NULL) {
		tls_fail(c, OUTCOME_ERROR, "%s", why);
		return;
	}
	p->fd = socket(p->t.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		tls_fail(c, OUTCOME_ERROR, "cannot open a socket for %s: %s", p->t.shown,
			 strerror(errno));
		return;
	}
	if (connect(p->fd, (struct sockaddr *)&p->t.ss, p->t.ss_len) < 0 && errno != EINPROGRESS) {
		tls_fail(c, OUTCOME_DOWN, "cannot connect to %s: %s", p->t.shown, strerror(errno));
		return;
	}
	tls_wait(c, EV_WRITE);
}

static void tls_run(struct check *c)
{
	struct tls_probe *p = c->priv;

	p->started = mono_now();
	p->connected = 0;
	p->phase = PH_CONNECT;
	p->got = 0;
	p->out_len = 0;
	probe_target_start(&p->t, c, tls_connect);
}

static void tls_stop(struct check *c)
{
	struct tls_probe *p = c->priv;

	if (p == NULL)
		return;
	probe_target_cancel(&p->t);
	tls_close(p);
	tls_probe_free(p);
	c->priv = NULL;
}

const struct check_kind check_kind_tls = {
    .name = "tls",
    .section = "probe",
    .opts = tls_opts,
    .parse_config = tls_parse_config,
    .start = tls_start,
    .run = tls_run,
    .stop = tls_stop,
};
