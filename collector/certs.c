/*
 * certs.c - the collector's TLS context and its CRL (see certs.h). Files
 * are read at start, on SIGHUP and when the CRL's mtime changes (looked at
 * every 30 s); a file that cannot be used never replaces a good one.
 */
#include "certs.h"

#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "log.h"
#include "session.h"
#include "tls.h"
#include "xmalloc.h"

struct certs {
	struct collector *c;
	SSL_CTX *ctx;
	X509_CRL *crl;          /* the CRL in use; NULL without crl */
	struct stat crl_st;     /* of the CRL file as last read */
	struct event *ev_check; /* looks at the CRL file's mtime */
};

/* A context from the config's files, or NULL with the reason in err. */
static SSL_CTX *load(struct certs *cs, X509_CRL **crl, char *err, size_t errlen)
{
	const struct collector_conf *conf = cs->c->conf;
	struct tls_files f = {conf->tls_ca, conf->tls_cert, conf->tls_key, conf->tls_crl};

	*crl = NULL;
	return tls_ctx_new(1, &f, crl, err, errlen);
}

static int crl_changed(const struct certs *cs, struct stat *st)
{
	if (stat(cs->c->conf->tls_crl, st) < 0)
		return 0; /* gone for now: keep the one in use, the next look may find it */
	return st->st_mtim.tv_sec != cs->crl_st.st_mtim.tv_sec ||
	       st->st_mtim.tv_nsec != cs->crl_st.st_mtim.tv_nsec ||
	       st->st_ino != cs->crl_st.st_ino || st->st_size != cs->crl_st.st_size;
}

static void check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct certs *cs = arg;
	struct stat st;

	if (crl_changed(cs, &st))
		certs_reload(cs, "the CRL file changed");
}

static void crl_note(const struct certs *cs, const char *how)
{
	const struct collector_conf *conf = cs->c->conf;
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(cs->crl);

	log_info("tls: CRL %s %s: %d revoked certificates", conf->tls_crl, how,
		 tls_crl_count(cs->crl));
	if (next != NULL && X509_cmp_current_time(next) < 0)
		log_warnx("tls: CRL %s has expired (nextUpdate passed): every agent is refused "
			  "until a new one is installed ('vakt-pki crl')",
			  conf->tls_crl);
}

struct certs *certs_new(struct collector *c)
{
	struct certs *cs = xcalloc(1, sizeof(*cs));
	char err[512];

	cs->c = c;
	if (c->conf->tls_crl != NULL)
		stat(c->conf->tls_crl, &cs->crl_st);
	cs->ctx = load(cs, &cs->crl, err, sizeof(err));
	if (cs->ctx == NULL) {
		log_warnx("%s:%d: tls: %s", c->conf->path, c->conf->tls_line, err);
		free(cs);
		return NULL;
	}
	if (cs->crl != NULL)
		crl_note(cs, "loaded");
	if (c->conf->tls_crl != NULL) {
		struct timeval tv = {c->conf->crl_check_interval, 0};

		cs->ev_check = event_new(c->base, -1, EV_PERSIST, check_cb, cs);
		if (cs->ev_check == NULL || event_add(cs->ev_check, &tv) < 0) {
			log_warnx("tls: cannot set up the CRL file check");
			certs_free(cs);
			return NULL;
		}
	}
	return cs;
}

void certs_reload(struct certs *cs, const char *why)
{
	X509_CRL *crl;
	SSL_CTX *ctx;
	struct stat st;
	char err[512];

	/* what is read is what the next look compares with, good or not */
	if (cs->c->conf->tls_crl != NULL && stat(cs->c->conf->tls_crl, &st) == 0)
		cs->crl_st = st;
	ctx = load(cs, &crl, err, sizeof(err));
	/* only a change of the file or a SIGHUP gets here: each is worth its line */
	if (ctx == NULL) {
		if (cs->crl != NULL)
			log_warnx("tls: reload (%s): %s; keeping the certificates and the CRL in "
				  "use (%d revoked)",
				  why, err, tls_crl_count(cs->crl));
		else
			log_warnx("tls: reload (%s): %s; keeping the certificates in use", why,
				  err);
		return;
	}
	SSL_CTX_free(cs->ctx); /* sessions keep theirs until they end */
	cs->ctx = ctx;
	X509_CRL_free(cs->crl);
	cs->crl = crl;
	if (crl != NULL) {
		char how[128];

		snprintf(how, sizeof(how), "reloaded (%s)", why);
		crl_note(cs, how);
		session_end_revoked(cs->c, crl);
	} else {
		log_info("tls: certificates reloaded (%s)", why);
	}
}

int certs_check(const struct collector_conf *conf)
{
	struct tls_files f = {conf->tls_ca, conf->tls_cert, conf->tls_key, conf->tls_crl};
	X509_CRL *crl = NULL;
	SSL_CTX *ctx;
	char err[512];

	ctx = tls_ctx_new(1, &f, &crl, err, sizeof(err));
	if (ctx == NULL) {
		fprintf(stderr, "%s:%d: tls: %s\n", conf->path, conf->tls_line, err);
		return -1;
	}
	if (crl != NULL)
		printf("crl %s: %d revoked certificates\n", conf->tls_crl, tls_crl_count(crl));
	X509_CRL_free(crl);
	SSL_CTX_free(ctx);
	return 0;
}

SSL_CTX *certs_ctx(const struct certs *cs)
{
	return cs->ctx;
}

void certs_free(struct certs *cs)
{
	if (cs == NULL)
		return;
	if (cs->ev_check != NULL)
		event_free(cs->ev_check);
	X509_CRL_free(cs->crl);
	SSL_CTX_free(cs->ctx);
	free(cs);
}
