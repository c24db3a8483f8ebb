/*
 * log.h - one logging interface for every Vakt program, in the OpenBSD manner.
 * Writes to stderr when running in the foreground, to syslog (journald) otherwise.
 * The only mutable global state in the daemons lives behind this interface.
 */
#ifndef VAKT_LOG_H
#define VAKT_LOG_H

#include <stdarg.h>

void log_init(const char *progname, int foreground, int verbose);
void log_setverbose(int verbose);
int log_getverbose(void);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)" */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A complaint that repeats is logged once, then only as a count every
 * `interval_s` seconds (collectd's c_complain). Zero-initialise one per place.
 */
struct complaint {
	double last;         /* monotonic seconds of the last line written */
	unsigned long count; /* repeats since then */
};
void log_complain(struct complaint *c, double interval_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Logs "recovered" once if the complaint was active, then resets it. */
void log_complain_clear(struct complaint *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
