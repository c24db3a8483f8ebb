/*
 * sample.c - names and value formatting for samples; see sample.h.
 */
#include "sample.h"

#include <inttypes.h>
#include <stdio.h>

const char *sample_kind_str(enum sample_kind k)
{
	switch (k) {
	case SAMPLE_GAUGE:
		return "GAUGE";
	case SAMPLE_COUNTER:
		return "COUNTER";
	case SAMPLE_DERIVE:
		return "DERIVE";
	}
	return "GAUGE";
}

void sample_value_str(const Vakt__Sample *s, char *buf, size_t len)
{
	if (s->unknown)
		snprintf(buf, len, "U");
	else if (s->kind == VAKT__KIND__GAUGE)
		snprintf(buf, len, "%.15g",
			 s->value); /* 15 digits: exact for any decimal a device sends */
	else
		snprintf(buf, len, "%" PRIu64, s->counter);
}
