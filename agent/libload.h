/*
 * libload.h - libraries that only some check kinds need, opened by the first
 * check of the kind rather than linked into the agent: libcurl (http probes)
 * and libpcap (pcap checks) each bring a dozen libraries of their own
 * (GnuTLS, Kerberos, LDAP, p11-kit; D-Bus, systemd), whose code and start-up
 * work took about 5 MB of every agent's resident memory, whether it had such
 * checks or not. Once opened, a library stays: its functions are resolved
 * once, all of them or none.
 */
#ifndef VAKT_LIBLOAD_H
#define VAKT_LIBLOAD_H

#include <stddef.h>

struct libload_fn {
	const char *name; /* the library's symbol: "curl_easy_init" */
	void **slot;      /* where its address goes */
};

struct libload {
	const char *soname; /* "libcurl.so.4": the one the build found */
	const char *what;   /* "http probes", in the reason */
	const struct libload_fn *fns;
	size_t nfns;
	int state; /* 0: not tried; 1: open; -1: failed, why says so */
	char why[256];
};

/*
 * LIBLOAD_DEFINE(var, list, prefix, soname, what) defines `var`, a struct
 * with a pointer to each function prefix##NAME of the library, typed as its
 * header declares it (cu.easy_init for curl_easy_init), and var##_lib,
 * through which libload_open() fills it. `list(X, var, prefix)` gives
 * X(var, prefix, NAME) for each NAME.
 */
#define LIBLOAD_FIELD(var, prefix, f) __typeof__(prefix##f) *f;
#define LIBLOAD_SYM(var, prefix, f)   {#prefix #f, (void **)&var.f},
#define LIBLOAD_DEFINE(var, list, prefix, so, wh)                                                  \
	static struct {                                                                            \
		list(LIBLOAD_FIELD, var, prefix)                                                   \
	} var;                                                                                     \
	static const struct libload_fn var##_fns[] = {list(LIBLOAD_SYM, var, prefix)};             \
	static struct libload var##_lib = {.soname = so,                                           \
					   .what = wh,                                             \
					   .fns = var##_fns,                                       \
					   .nfns = sizeof(var##_fns) / sizeof(var##_fns[0])}

/*
 * Opens l->soname and resolves every function, the first time; then says
 * the same again. 0 when all are there; -1 with the reason in why.
 */
int libload_open(struct libload *l, char *why, size_t len);

#endif
