/*
 * rrdpath.h - turns sample names into RRD file paths:
 * <data_dir>/<site>/<host>/<check>[-<instance>].rrd
 * A name from the wire can never climb out of data_dir or make a hidden file.
 */
#ifndef VAKT_RRDPATH_H
#define VAKT_RRDPATH_H

#include <stddef.h>

#define RRDPATH_COMPONENT_MAX 64

/*
 * Writes a safe form of `name` into out (at most RRDPATH_COMPONENT_MAX bytes
 * plus NUL): [A-Za-z0-9_.-] are kept, Norwegian letters are transliterated
 * (æ->ae, ø->o, å->aa), any other character becomes '_', a leading '.' becomes
 * '_', and an empty name becomes "_". Returns the length written.
 */
size_t rrdpath_sanitise(char *out, size_t outsz, const char *name);

/* Builds the full path; returns 0, or -1 if it does not fit in outsz. */
int rrdpath_build(char *out, size_t outsz, const char *data_dir, const char *site, const char *host,
		  const char *check, const char *instance);

/* An RRD data-source name (1..19 chars of [A-Za-z0-9_]) for a metric. */
size_t rrdpath_dsname(char *out, size_t outsz, const char *metric);

#endif
