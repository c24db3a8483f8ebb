/*
 * tls.h - the OpenSSL side of Vakt's mutual TLS, shared by both daemons:
 * contexts (TLS 1.2 minimum, peer certificate always verified), the reason
 * a handshake failed in words, and the names in a peer's certificate.
 * Nothing here touches the network or blocks the loop.
 */
#ifndef VAKT_TLS_H
#define VAKT_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

struct bufferevent;

/* The files of one side; crl only on the collector (NULL: none). */
struct tls_files {
	const char *ca, *cert, *key, *crl;
};

/*
 * A client (agent) or server (collector) context from `f`; NULL with a
 * reason naming the file in err. The server requires a client certificate
 * from the CA; the client verifies the server (its name is set per
 * connection). A server given a CRL checks it (X509_V_FLAG_CRL_CHECK):
 * *crl_out (when not NULL) gets the CRL, which the caller frees.
 */
SSL_CTX *tls_ctx_new(int server, const struct tls_files *f, X509_CRL **crl_out, char *err,
		     size_t errlen);

/* Reads one CRL in PEM; NULL with the reason in err. */
X509_CRL *tls_crl_read(const char *path, char *err, size_t errlen);
/* How many certificates `crl` revokes. */
int tls_crl_count(const X509_CRL *crl);

/*
 * Why a TLS bufferevent failed, for a log line: OpenSSL's reasons with the
 * certificate verification result ("certificate verify failed: certificate
 * has expired"), or the socket error. Drains the bufferevent's errors.
 */
void tls_bev_why(struct bufferevent *bev, char *buf, size_t len);

/*
 * The peer's certificate names: the CN of its subject (the site, on the
 * collector) and the subject in one line. 0, or -1 when it sent none or the
 * subject has no CN.
 */
int tls_peer_names(SSL *ssl, char *cn, size_t cnlen, char *subject, size_t sublen);
/* The same for any certificate (NULL: -1). */
int tls_cert_names(X509 *x, char *cn, size_t cnlen, char *subject, size_t sublen);

/*
 * A probed server's certificate, judged alike by every probe that sees one
 * (http, tls): days from now_ms (wall clock, ms) until its notAfter, with
 * fractions and negative once expired (NAN without a certificate); whether
 * it names `host` (an address when `numeric`); and why it fails in words —
 * "certificate expired 3 days ago", "certificate not trusted: <OpenSSL's
 * reason for verify_err>", "certificate not valid for <host>", "no
 * certificate" — or "" when it is good.
 */
double tls_cert_days_left(X509 *x, long long now_ms);
int tls_cert_names_host(X509 *x, const char *host, int numeric);
void tls_cert_problem(X509 *leaf, int verify_err, const char *host, int numeric, double days,
		      char *out, size_t len);

/* 1 when `p` starts like a TLS record (a ClientHello or an alert). */
int tls_looks_like_record(const unsigned char *p, size_t n);

#endif
