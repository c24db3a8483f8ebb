/*
 * decode.c - validation of Hello and Batch off the wire (see decode.h).
 * Trusts nothing in its input; never logs, never touches a session.
 */
#include "decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "xmalloc.h"

/* The digits of a numeric macro, for a message built at compile time. */
#define DECODE_STR_(x) #x
#define DECODE_STR(x)  DECODE_STR_(x)

int decode_name_ok(const char *n, int may_be_empty)
{
	size_t len = strlen(n);

	if (len == 0)
		return may_be_empty;
	if (len > SAMPLE_NAME_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)n; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

void decode_utf8_clean(char *t)
{
	size_t n = strlen(t);

	if (n > 0) /* protobuf-c's empty string is read-only */
		utf8_clean(t, n + 1, t, n);
}

/*
 * Makes text from the wire that is only shown to people (a reason, a
 * software name, a trap's text) safe for a log line or a page: control
 * characters become '?', so a peer cannot start a line of its own, as does
 * each byte that is not part of a well-formed UTF-8 character (a device's
 * Latin-1 ifAlias, a cut sequence), so that a page or a JSON answer holds
 * text; and it is cut at max bytes on a character boundary.
 */
void decode_text_clean(char *t, size_t max)
{
	if (t[0] != '\0') /* protobuf-c's empty string is read-only */
		utf8_clean(t, max + 1, t, strlen(t));
}

int decode_hello(Vakt__Hello *h, char *why, size_t n)
{
	if (h->protocol < VAKT_PROTOCOL_MIN) {
		snprintf(why, n,
			 "protocol version %u not supported (this collector speaks %u to %u)",
			 h->protocol, VAKT_PROTOCOL_MIN, VAKT_PROTOCOL);
		return -1;
	}
	if (!decode_name_ok(h->site, 0) || !decode_name_ok(h->agent, 0)) {
		snprintf(why, n, "hello with an invalid site or agent name");
		return -1;
	}
	decode_text_clean(h->software, SAMPLE_NAME_MAX);
	return 0;
}

static int names_ok(const Vakt__Sample *x)
{
	return decode_name_ok(x->host, 0) && decode_name_ok(x->check, 0) &&
	       decode_name_ok(x->instance, 1) && decode_name_ok(x->metric, 0);
}

/*
 * A compact sample's names are its series definition's: checked once per
 * definition (the verdict kept with it), not for every sample sent by it.
 */
static int compact_names_ok(struct series_rx *rx, uint32_t id, const Vakt__Sample *x)
{
	int ok = series_rx_verdict(rx, id);

	if (ok < 0) {
		ok = names_ok(x);
		series_rx_set_verdict(rx, id, ok);
	}
	return ok;
}

/* All but the names. */
static int sample_ok(const Vakt__Sample *x)
{
	return x->time_ms > 0 && (x->kind == VAKT__KIND__GAUGE || x->kind == VAKT__KIND__COUNTER ||
				  x->kind == VAKT__KIND__DERIVE);
}

static int result_ok(const Vakt__Result *r)
{
	return decode_name_ok(r->host, 0) && decode_name_ok(r->check, 0) &&
	       decode_name_ok(r->instance, 1) && r->time_ms > 0 &&
	       r->outcome >= VAKT__OUTCOME__OUTCOME_OK &&
	       r->outcome <= VAKT__OUTCOME__OUTCOME_ERROR;
}

/*
 * A sample stamped further ahead than the collector's clock plus the
 * allowed skew is refused: rrdtool never takes an update older than a
 * file's last one, so one sample from an agent whose clock runs ahead would
 * hide that file's real data until then. 1 when refused, counted.
 */
static int refuse_ahead(int64_t time_ms, int64_t latest, int64_t now, struct decode_stats *st)
{
	if (time_ms <= latest)
		return 0;
	st->ahead++;
	if (time_ms - now > st->worst_ms)
		st->worst_ms = time_ms - now;
	return 1;
}

struct sample_batch *decode_batch(Vakt__Batch *pb, struct series_rx *rx, const char *site,
				  const char *agent, uint64_t session_id, int64_t now_ms,
				  unsigned max_clock_skew, struct check_result **res, size_t *nres,
				  struct decode_stats *st)
{
	int64_t latest = now_ms + (int64_t)max_clock_skew * 1000;
	struct sample_batch *b;
	struct check_result *r;
	Vakt__Sample *compact = NULL; /* the compact samples, expanded */
	size_t ncompact = 0;
	uint32_t last_file = 0, last_id = 0; /* of the last sample added, when sent by id */

	memset(st, 0, sizeof(*st));
	*nres = 0;
	*res = NULL;
	if (pb->n_samples + pb->n_sid + pb->n_results + pb->n_events > DECODE_MAX_ITEMS) {
		st->fatal =
		    "more than " DECODE_STR(DECODE_MAX_ITEMS) " samples, results and events "
							      "in one batch";
		return NULL;
	}
	if (pb->n_sid > 0 || pb->n_series > 0) {
		if (rx == NULL)
			st->fatal = "compact samples on a protocol 1 session";
		else if ((st->fatal = series_rx_expand(rx, pb, &compact, &ncompact)) == NULL &&
			 series_rx_bytes(rx) > decode_series_bytes(series_rx_max(rx))) {
			snprintf(st->why, sizeof(st->why),
				 "series definitions hold more than %zu bytes (%u ids)",
				 decode_series_bytes(series_rx_max(rx)), series_rx_max(rx));
			st->fatal = st->why;
		}
		if (st->fatal != NULL) {
			free(compact);
			return NULL;
		}
	}
	b = sample_batch_new(site, agent, session_id, pb->seq,
			     pb->n_samples + ncompact + 2 * pb->n_results + 1);
	for (size_t i = 0; i < pb->n_samples + ncompact; i++) {
		const Vakt__Sample *x =
		    i < pb->n_samples ? pb->samples[i] : &compact[i - pb->n_samples];
		struct sample *y;
		int by_id = i >= pb->n_samples;

		if (!(by_id ? compact_names_ok(rx, pb->sid[i - pb->n_samples], x) : names_ok(x)) ||
		    !sample_ok(x)) {
			st->invalid++;
			continue;
		}
		if (refuse_ahead(x->time_ms, latest, now_ms, st))
			continue;
		if (by_id) {
			uint32_t id = pb->sid[i - pb->n_samples], file = series_rx_file(rx, id);

			/* a device's samples follow each other: its names are the last sample's */
			if (file != 0 && file == last_file)
				y = sample_batch_add_same_file(b, x->metric, id == last_id);
			else
				y = sample_batch_add(b, x->host, x->check, x->instance, x->metric);
			last_file = file;
			last_id = id;
		} else {
			y = sample_batch_add(b, x->host, x->check, x->instance, x->metric);
		}
		y->time_ms = x->time_ms;
		y->kind = (enum sample_kind)x->kind;
		y->value = x->value;
		y->counter = x->counter;
		y->interval = x->interval;
		y->width = x->width ? x->width : 64;
		y->unknown = x->unknown;
		if (i >= pb->n_samples && session_id < UINT32_MAX) {
			/* the session and the definition: unique while the collector runs */
			uint32_t def = series_rx_definition(rx, pb->sid[i - pb->n_samples]);

			y->series = def ? session_id << 32 | def : 0;
		}
	}
	r = xcalloc(pb->n_results + 1, sizeof(*r));
	for (size_t i = 0; i < pb->n_results; i++) {
		Vakt__Result *x = pb->results[i];
		struct check_result *y = &r[*nres];

		if (!result_ok(x)) {
			st->invalid++;
			continue;
		}
		if (refuse_ahead(x->time_ms, latest, now_ms, st))
			continue;
		y->host = x->host;
		y->check = x->check;
		y->instance = x->instance;
		y->time_ms = x->time_ms;
		y->outcome = (enum outcome)x->outcome;
		decode_text_clean(x->reason, SAMPLE_REASON_MAX);
		y->reason = x->reason;
		y->interval = x->interval;
		y->duration_ms = x->duration_ms;
		(*nres)++;
	}
	free(compact);
	*res = r;
	return b;
}

/* A numeric OID ("1.3.6.1.6.3.1.1.5.3"), or "". */
static int oid_ok(const char *o)
{
	size_t n = strlen(o);

	if (n > SAMPLE_NAME_MAX)
		return 0;
	for (; *o; o++)
		if (!(*o >= '0' && *o <= '9') && *o != '.')
			return 0;
	return 1;
}

static int event_ok(const Vakt__Event *x)
{
	return decode_name_ok(x->host, 0) && decode_name_ok(x->check, 0) &&
	       decode_name_ok(x->instance, 1) && decode_name_ok(x->name, 0) && oid_ok(x->oid) &&
	       x->time_ms > 0;
}

void decode_events(Vakt__Batch *pb, int64_t now_ms, unsigned max_clock_skew, struct event **ev,
		   size_t *nev, struct decode_stats *st)
{
	int64_t latest = now_ms + (int64_t)max_clock_skew * 1000;
	struct event *v = xcalloc(pb->n_events + 1, sizeof(*v));

	*nev = 0;
	for (size_t i = 0; i < pb->n_events; i++) {
		Vakt__Event *x = pb->events[i];
		struct event *y = &v[*nev];

		if (!event_ok(x)) {
			st->invalid++;
			continue;
		}
		if (refuse_ahead(x->time_ms, latest, now_ms, st))
			continue;
		decode_text_clean(x->text, EVENT_TEXT_MAX);
		decode_text_clean(x->source, SAMPLE_NAME_MAX);
		/* shown in the page too: "linkDown on sw1 interface Gi0/3" */
		decode_utf8_clean(x->host);
		decode_utf8_clean(x->instance);
		y->host = x->host;
		y->check = x->check;
		y->instance = x->instance;
		y->name = x->name;
		y->time_ms = x->time_ms;
		y->oid = x->oid;
		y->text = x->text;
		y->source = x->source;
		(*nev)++;
	}
	*ev = v;
}
