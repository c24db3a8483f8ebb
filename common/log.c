/*
 * log.c - stderr/syslog logging and rate-limited complaints.
 * Never allocates; safe to call from the RRD writer thread (one write per line).
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <event2/event.h>

#include "timeutil.h"

static int log_foreground = 1;
static int log_verbose;
static const char *log_prog = "vakt";

/* libevent's own complaints ("Nameserver ... has failed") go where ours do. */
static void log_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

void log_init(const char *progname, int foreground, int verbose)
{
	log_prog = progname;
	log_foreground = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	event_set_log_callback(log_libevent);
}

void log_setverbose(int verbose)
{
	log_verbose = verbose;
}
int log_getverbose(void)
{
	return log_verbose;
}

static void vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_foreground) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		/* one fprintf so that lines from two threads do not interleave */
		fprintf(stderr, "%s.%03ld %s: %s%s%s\n", when, ts.tv_nsec / 1000000, log_prog, msg,
			suffix ? ": " : "", suffix ? suffix : "");
		fflush(stderr);
	} else {
		syslog(pri, "%s%s%s", msg, suffix ? ": " : "", suffix ? suffix : "");
	}
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	char err[256];
	int saved = errno;

	/* GNU strerror_r returns the message, which may not be err */
	const char *e = strerror_r(saved, err, sizeof(err));
	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, e);
	va_end(ap);
	errno = saved;
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	char err[256];
	const char *e = strerror_r(errno, err, sizeof(err));

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, e);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void log_complain(struct complaint *c, double interval_s, const char *fmt, ...)
{
	va_list ap;
	double now = mono_now();
	char msg[1024];

	if (c->last != 0 && now - c->last < interval_s) {
		c->count++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->count > 0)
		log_warnx("%s (repeated %lu times since last report)", msg, c->count);
	else
		log_warnx("%s", msg);
	c->last = now;
	c->count = 0;
}

void log_complain_clear(struct complaint *c, const char *fmt, ...)
{
	va_list ap;

	if (c->last == 0)
		return;
	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
	c->last = 0;
	c->count = 0;
}
