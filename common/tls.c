/*
 * tls.c - OpenSSL contexts and diagnostics for Vakt's mutual TLS (see
 * tls.h). Files are read here, at start-up or reload, never on a session's
 * path; every failure says which file and why.
 */
#include "tls.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* OpenSSL's last queued reason, or `dflt` when it queued none. */
static const char *ssl_reason(const char *dflt)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : dflt;
}

/* 0 when `path` can be opened for reading, else -1 with err set. */
static int readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(err, errlen, "%s \"%s\": %s", what, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

X509_CRL *tls_crl_read(const char *path, char *err, size_t errlen)
{
	X509_CRL *crl;
	FILE *f;

	if (readable("crl", path, err, errlen) < 0 || (f = fopen(path, "r")) == NULL)
		return NULL;
	ERR_clear_error();
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	if (crl == NULL)
		snprintf(err, errlen, "crl \"%s\": not a PEM CRL (%s)", path,
			 ssl_reason("no CRL found"));
	return crl;
}

int tls_crl_count(const X509_CRL *crl)
{
	STACK_OF(X509_REVOKED) *r = X509_CRL_get_REVOKED((X509_CRL *)crl);

	return r != NULL ? sk_X509_REVOKED_num(r) : 0;
}

/* 0 when one certificate of the CA file signed `crl`: a CRL of another CA checks nothing. */
static int crl_signed_by_ca(X509_CRL *crl, const char *ca, const char *crlpath, char *err,
			    size_t errlen)
{
	FILE *f = fopen(ca, "r");
	X509 *x;
	int ok = 0;

	if (f == NULL) {
		snprintf(err, errlen, "ca \"%s\": %s", ca, strerror(errno));
		return -1;
	}
	while (!ok && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		EVP_PKEY *k = X509_get0_pubkey(x);

		ok = X509_NAME_cmp(X509_get_subject_name(x), X509_CRL_get_issuer(crl)) == 0 &&
		     k != NULL && X509_CRL_verify(crl, k) == 1;
		X509_free(x);
	}
	fclose(f);
	ERR_clear_error();
	if (!ok)
		snprintf(err, errlen, "crl \"%s\": not signed by the CA in \"%s\"", crlpath, ca);
	return ok ? 0 : -1;
}

SSL_CTX *tls_ctx_new(int server, const struct tls_files *f, X509_CRL **crl_out, char *err,
		     size_t errlen)
{
	SSL_CTX *ctx;
	X509_CRL *crl = NULL;

	if (readable("ca", f->ca, err, errlen) < 0 || readable("cert", f->cert, err, errlen) < 0 ||
	    readable("key", f->key, err, errlen) < 0)
		return NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot make a TLS context: %s", ssl_reason("?"));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * Frames carry their length, so a connection cut without close_notify
	 * loses at most a partial frame, which is discarded: let it read as an
	 * end of stream rather than an error.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		snprintf(err, errlen, "cert \"%s\": %s", f->cert, ssl_reason("not a certificate"));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
		snprintf(err, errlen, "key \"%s\": %s", f->key, ssl_reason("not a private key"));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "key \"%s\" does not belong to cert \"%s\"", f->key, f->cert);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
		snprintf(err, errlen, "ca \"%s\": %s", f->ca, ssl_reason("no certificate found"));
		goto fail;
	}
	if (server) {
		static const unsigned char sid[] = "vakt";
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->ca);

		if (names == NULL) {
			snprintf(err, errlen, "ca \"%s\": no certificate found", f->ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
		if (f->crl != NULL) {
			X509_STORE *st = SSL_CTX_get_cert_store(ctx);

			crl = tls_crl_read(f->crl, err, errlen);
			if (crl == NULL || crl_signed_by_ca(crl, f->ca, f->crl, err, errlen) < 0)
				goto fail;
			if (X509_STORE_add_crl(st, crl) != 1) {
				snprintf(err, errlen, "crl \"%s\": %s", f->crl,
					 ssl_reason("refused"));
				goto fail;
			}
			X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (crl_out != NULL)
		*crl_out = crl;
	else
		X509_CRL_free(crl);
	return ctx;
fail:
	X509_CRL_free(crl);
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_bev_why(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e, first = 0;
	int sockerr = EVUTIL_SOCKET_ERROR();

	/* libevent queues SSL_get_error() codes (SSL_ERROR_SYSCALL...) among the reasons */
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (first == 0 && ERR_GET_LIB(e) != 0)
			first = e;
	if (first == 0) {
		snprintf(buf, len, "%s",
			 sockerr ? evutil_socket_error_to_string(sockerr) : "connection closed");
		return;
	}
	if (ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED && ssl != NULL &&
	    SSL_get_verify_result(ssl) != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s",
			 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
	else if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
		 (ERR_GET_REASON(first) == SSL_R_WRONG_VERSION_NUMBER ||
		  ERR_GET_REASON(first) == SSL_R_PACKET_LENGTH_TOO_LONG ||
		  ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST ||
		  ERR_GET_REASON(first) == SSL_R_UNKNOWN_PROTOCOL))
		/* what a peer speaking plaintext frames looks like to OpenSSL */
		snprintf(buf, len, "%s (the peer does not speak TLS: is it insecure = yes?)",
			 ERR_reason_error_string(first));
	else if (ERR_reason_error_string(first) != NULL)
		snprintf(buf, len, "%s", ERR_reason_error_string(first));
	else
		snprintf(buf, len, "TLS error %lu", first);
}

int tls_cert_names(X509 *x, char *cn, size_t cnlen, char *subject, size_t sublen)
{
	X509_NAME *n;
	int r;

	cn[0] = '\0';
	subject[0] = '\0';
	if (x == NULL)
		return -1;
	n = X509_get_subject_name(x);
	X509_NAME_oneline(n, subject, (int)sublen);
	r = X509_NAME_get_text_by_NID(n, NID_commonName, cn, (int)cnlen);
	/* a CN cut short or holding a NUL names no site */
	if (r <= 0 || (size_t)r >= cnlen || strlen(cn) != (size_t)r) {
		cn[0] = '\0';
		return -1;
	}
	return 0;
}

int tls_peer_names(SSL *ssl, char *cn, size_t cnlen, char *subject, size_t sublen)
{
	X509 *x = SSL_get1_peer_certificate(ssl);
	int r = tls_cert_names(x, cn, cnlen, subject, sublen);

	X509_free(x);
	return r;
}

double tls_cert_days_left(X509 *x, long long now_ms)
{
	struct tm tm;

	if (x == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return NAN;
	return ((double)timegm(&tm) - (double)now_ms / 1000.0) / 86400.0;
}

int tls_cert_names_host(X509 *x, const char *host, int numeric)
{
	if (x == NULL)
		return 0;
	if (numeric)
		return X509_check_ip_asc(x, host, 0) == 1;
	return X509_check_host(x, host, 0, 0, NULL) == 1;
}

void tls_cert_problem(X509 *leaf, int verify_err, const char *host, int numeric, double days,
		      char *out, size_t len)
{
	out[0] = '\0';
	if (leaf == NULL) {
		snprintf(out, len, "no certificate");
	} else if (verify_err == X509_V_ERR_CERT_HAS_EXPIRED && !isnan(days)) {
		long ago = (long)(-days + 0.5);

		if (ago >= 1)
			snprintf(out, len, "certificate expired %ld day%s ago", ago,
				 ago == 1 ? "" : "s");
		else
			snprintf(out, len, "certificate expired today");
	} else if (verify_err != 0) {
		snprintf(out, len, "certificate not trusted: %s",
			 X509_verify_cert_error_string(verify_err));
	} else if (!tls_cert_names_host(leaf, host, numeric)) {
		snprintf(out, len, "certificate not valid for %s", host);
	}
}

int tls_looks_like_record(const unsigned char *p, size_t n)
{
	/* content type handshake (22) or alert (21), then major version 3 */
	return n >= 2 && (p[0] == 0x16 || p[0] == 0x15) && p[1] == 0x03;
}
