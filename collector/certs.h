/*
 * certs.h - the collector's TLS context: its certificate, the CA agents'
 * certificates must come from, and the CRL, reloaded on SIGHUP and when the
 * CRL file changes. A reload that fails keeps what was in use.
 */
#ifndef VAKT_CERTS_H
#define VAKT_CERTS_H

#include <openssl/ssl.h>

#include "collector.h"

/*
 * Loads the tls section of c->conf; NULL after logging FILE:LINE and why.
 * Looks at the CRL file's mtime every crl_check_interval s on c->base.
 */
struct certs *certs_new(struct collector *c);
void certs_free(struct certs *cs);
/* For --check-config: 0, or -1 after printing "FILE:LINE: tls: why" to stderr. */
int certs_check(const struct collector_conf *conf);
/* The context new sessions use; sessions hold their own reference. */
SSL_CTX *certs_ctx(const struct certs *cs);
/*
 * Reads the certificates and CRL again (`why`: "SIGHUP"); on success new
 * sessions use them and sessions whose certificate is now revoked end.
 */
void certs_reload(struct certs *cs, const char *why);

#endif
