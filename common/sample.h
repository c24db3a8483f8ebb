/*
 * sample.h - the unit of data in Vakt:
 * (site, host, check, instance, metric, timestamp, value, kind).
 * Kinds follow rrdtool: agents send raw counters, never rates.
 */
#ifndef VAKT_SAMPLE_H
#define VAKT_SAMPLE_H

#include "vakt.pb-c.h"

enum sample_kind {
	SAMPLE_GAUGE = VAKT__KIND__GAUGE,
	SAMPLE_COUNTER = VAKT__KIND__COUNTER,
	SAMPLE_DERIVE = VAKT__KIND__DERIVE,
};

const char *sample_kind_str(enum sample_kind k);

/* Name limits on the wire; longer names are rejected by the collector. */
#define SAMPLE_NAME_MAX 128

/* Formats the sample's value as rrd_update wants it ("U" when unknown). */
void sample_value_str(const Vakt__Sample *s, char *buf, size_t len);

#endif
