/*
 * rrdpath.h - the name rules of the RRD store: how a sample's names become
 * a readable, safe file path (<site>/<host>/<check>[-<instance>].rrd under
 * data_dir) and a data-source name. A name from the wire can never climb out
 * of data_dir or make a hidden file. These forms are readable, not unique:
 * the series index (collector/series_index.c) makes them unique with the
 * suffixes built here, and remembers which series got which.
 */
#ifndef VAKT_RRDPATH_H
#define VAKT_RRDPATH_H

#include <stddef.h>

#define RRDPATH_COMPONENT_MAX 64 /* bytes of one path component, before ".rrd" */
#define RRDPATH_DS_MAX        19 /* rrdtool's limit for a data-source name */
#define RRDPATH_REL_MAX       (4 * (RRDPATH_COMPONENT_MAX + 16)) /* a relative path */

/*
 * The on-disk form of one name into out (at most RRDPATH_COMPONENT_MAX
 * bytes and a NUL, and never more than len - 1): [A-Za-z0-9_.-] are kept,
 * Norwegian and Sami letters are transliterated (æ->ae, ø->o, å->aa, á->a,
 * č->c, đ->d, ŋ->n, š->s, ŧ->t, ž->z, ä->a, ö->o, and capitals), any other
 * character becomes one '_', a leading '.' becomes '_', an empty name "_".
 * Returns 1 when the form is not the name itself (transliterated, escaped or
 * cut: another name may have the same form on disk), 0 when it is.
 * `vakt-agent --check-config` can compare forms to warn about names that
 * would differ only on disk.
 */
int rrdpath_component(char *out, size_t len, const char *name);

/*
 * The path of a check's file relative to data_dir:
 * "<site>/<host>/<check>[-<instance>][~<n>].rrd". n <= 1 adds no suffix;
 * n >= 2 is how the series index keeps apart files whose readable names
 * meet ('~' is never part of a readable form, so a suffixed name never
 * equals another name's readable form). Returns 0, or -1 if it does not fit.
 */
int rrdpath_file(char *out, size_t len, const char *site, const char *host, const char *check,
		 const char *instance, unsigned n);

/*
 * A data-source name for a metric (1..19 chars of [A-Za-z0-9_], letters
 * transliterated as above, everything else '_'); n >= 2 ends it in "_<n>"
 * within the 19 characters. Returns the length written.
 */
size_t rrdpath_dsname(char *out, size_t outsz, const char *metric, unsigned n);

#endif
