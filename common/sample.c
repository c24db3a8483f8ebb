/*
 * sample.c - names, value formatting, UTF-8 text and batches of samples; see
 * sample.h.
 * Names of a batch live in a few large chunks, not one allocation each, so a
 * batch costs about what its wire frame did.
 */
#include "sample.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define SAMPLE_CHUNK_MIN 4096

struct sample_chunk {
	struct sample_chunk *next;
	size_t used, size;
	char data[];
};

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

const char *outcome_str(enum outcome o)
{
	switch (o) {
	case OUTCOME_NONE:
		return "none";
	case OUTCOME_OK:
		return "ok";
	case OUTCOME_DOWN:
		return "down";
	case OUTCOME_TIMEOUT:
		return "timeout";
	case OUTCOME_ERROR:
		return "error";
	}
	return "unknown";
}

void sample_format_value(const struct sample *s, char *buf, size_t len)
{
	/* rrdtool would store an infinity as one; Vakt has no use for it */
	if (s->unknown || (s->kind == SAMPLE_GAUGE && !isfinite(s->value)))
		snprintf(buf, len, "U");
	else if (s->kind == SAMPLE_GAUGE)
		snprintf(buf, len, "%.15g", s->value);
	else
		snprintf(buf, len, "%" PRIu64, s->counter);
}

size_t utf8_char_len(const void *s, size_t n)
{
	const unsigned char *p = s;
	unsigned c = n > 0 ? p[0] : 0, lo = 0x80, hi = 0xbf;
	size_t len;

	if (n == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0; /* a continuation byte, an overlong lead (C0, C1) or past U+10FFFF */
	if (len > n)
		return 0;
	/* the second byte's range rules out overlong forms, surrogates and > U+10FFFF */
	lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : lo;
	hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : hi;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

size_t utf8_clean(char *dst, size_t size, const void *src, size_t n)
{
	const unsigned char *p = src;
	size_t o = 0, k;

	for (size_t i = 0; i < n; i += k) {
		k = utf8_char_len(p + i, n - i);
		if (o + (k ? k : 1) >= size)
			break;
		if (k == 0 || p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 && p[i + 1] < 0xa0)) {
			dst[o++] = '?'; /* C1 controls are U+0080..U+009F, C2 80..C2 9F */
			k = k ? k : 1;
		} else {
			memmove(dst + o, p + i, k);
			o += k;
		}
	}
	dst[o] = '\0';
	return o;
}

struct sample_batch *sample_batch_new(const char *site, const char *agent, uint64_t session_id,
				      uint64_t seq, size_t nhint)
{
	struct sample_batch *b = xcalloc(1, sizeof(*b));

	b->site = xstrdup(site);
	b->agent = agent ? xstrdup(agent) : NULL;
	b->session_id = session_id;
	b->seq = seq;
	b->cap = nhint ? nhint : 8;
	b->v = xreallocarray(NULL, b->cap, sizeof(*b->v)); /* sample_batch_add zeroes each */
	b->bytes = sizeof(*b) + b->cap * sizeof(*b->v);
	return b;
}

void sample_batch_free(struct sample_batch *b)
{
	if (b == NULL)
		return;
	while (b->chunks != NULL) {
		struct sample_chunk *c = b->chunks;

		b->chunks = c->next;
		free(c);
	}
	free(b->v);
	free(b->site);
	free(b->agent);
	free(b);
}

static const char *batch_strdup(struct sample_batch *b, const char *s, const char *prev)
{
	size_t len;
	struct sample_chunk *c = b->chunks;
	char *p;

	if (prev != NULL && strcmp(prev, s) == 0)
		return prev;
	len = strlen(s) + 1;
	if (c == NULL || c->size - c->used < len) {
		size_t size = len > SAMPLE_CHUNK_MIN ? len : SAMPLE_CHUNK_MIN;

		c = xmalloc(sizeof(*c) + size);
		c->next = b->chunks;
		c->used = 0;
		c->size = size;
		b->chunks = c;
		b->bytes += sizeof(*c) + size;
	}
	p = c->data + c->used;
	memcpy(p, s, len);
	c->used += len;
	return p;
}

/* The batch's copy of metric name s: one of its recent ones, or a new copy. */
static const char *batch_metric(struct sample_batch *b, const char *s, const char *prev)
{
	const char *p;

	if (prev != NULL && strcmp(prev, s) == 0)
		return prev;
	for (unsigned k = 0; k < SAMPLE_BATCH_METRICS; k++)
		if (b->metrics[k] != NULL && b->metrics[k] != prev && strcmp(b->metrics[k], s) == 0)
			return b->metrics[k];
	p = batch_strdup(b, s, NULL);
	b->metrics[b->next_metric] = p;
	b->next_metric = (b->next_metric + 1) % SAMPLE_BATCH_METRICS;
	return p;
}

/* The next sample's slot, zeroed (not yet counted in b->n). */
static struct sample *batch_slot(struct sample_batch *b)
{
	struct sample *s;

	if (b->n == b->cap) {
		b->v = xreallocarray(b->v, b->cap * 2, sizeof(*b->v));
		b->bytes += b->cap * sizeof(*b->v);
		b->cap *= 2;
	}
	s = &b->v[b->n];
	memset(s, 0, sizeof(*s));
	return s;
}

struct sample *sample_batch_add_same_file(struct sample_batch *b, const char *metric,
					  int same_metric)
{
	struct sample *s = batch_slot(b);
	const struct sample *prev = &b->v[b->n - 1];

	s->host = prev->host;
	s->check = prev->check;
	s->instance = prev->instance;
	s->metric = same_metric ? prev->metric : batch_metric(b, metric, NULL);
	b->n++;
	return s;
}

struct sample *sample_batch_add(struct sample_batch *b, const char *host, const char *check,
				const char *instance, const char *metric)
{
	struct sample *s = batch_slot(b);
	const struct sample *prev = b->n ? &b->v[b->n - 1] : NULL;

	s->host = batch_strdup(b, host, prev ? prev->host : NULL);
	s->check = batch_strdup(b, check, prev ? prev->check : NULL);
	s->instance = batch_strdup(b, instance ? instance : "", prev ? prev->instance : NULL);
	s->metric = batch_metric(b, metric, prev ? prev->metric : NULL);
	b->n++;
	return s;
}
