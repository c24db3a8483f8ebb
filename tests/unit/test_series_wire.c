/*
 * test_series_wire.c - the compact form of a batch: what the agent rewrites
 * comes back at the collector as the very samples it started from; a series
 * is described once per session; a batch that breaks the form is refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "frame.h"
#include "series_wire.h"

#define T0 1764547200000LL /* 2025-12-01 00:00:00 UTC */

/* A full-form batch frame of the samples sp[0..n). */
static uint8_t *encode_samples(Vakt__Sample **sp, size_t n, uint64_t seq, size_t *len)
{
	Vakt__Batch b = VAKT__BATCH__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT;

	b.seq = seq;
	b.samples = sp;
	b.n_samples = n;
	f.msg_case = VAKT__FRAME__MSG_BATCH;
	f.batch = &b;
	return frame_encode(&f, len);
}

/*
 * A full-form batch like an SNMP poll's: `nif` interfaces with two DERIVE
 * counters each, one gauge per interface, and a device gauge marked unknown.
 */
static uint8_t *poll_batch(const char *host, uint64_t seq, int nif, int64_t t, size_t *len)
{
	size_t n = (size_t)nif * 3 + 1, k = 0;
	Vakt__Sample *s = calloc(n, sizeof(*s));
	Vakt__Sample **sp = calloc(n, sizeof(*sp));
	char(*inst)[16] = calloc((size_t)nif, sizeof(*inst));
	uint8_t *buf;

	for (int i = 0; i < nif; i++) {
		static const char *metric[3] = {"in_octets", "out_octets", "oper_status"};

		snprintf(inst[i], sizeof(inst[i]), "Gi0/%d", i + 1);
		for (int m = 0; m < 3; m++, k++) {
			vakt__sample__init(&s[k]);
			s[k].host = (char *)host;
			s[k].check = "if";
			s[k].instance = inst[i];
			s[k].metric = (char *)metric[m];
			s[k].interval = 60;
			s[k].time_ms = t + i; /* the walk takes a few ms */
			if (m < 2) {
				s[k].kind = VAKT__KIND__DERIVE;
				s[k].counter = (uint64_t)seq * 1000000007ULL + (uint64_t)k;
				s[k].width = 64;
			} else {
				s[k].kind = VAKT__KIND__GAUGE;
				s[k].value = 1.0 + (double)(k % 2);
			}
			sp[k] = &s[k];
		}
	}
	vakt__sample__init(&s[k]);
	s[k].host = (char *)host;
	s[k].check = "system";
	s[k].instance = "";
	s[k].metric = "temperature";
	s[k].kind = VAKT__KIND__GAUGE;
	s[k].interval = 60;
	s[k].time_ms = t - 5; /* time may go back within a batch */
	s[k].unknown = 1;
	sp[k] = &s[k];
	buf = encode_samples(sp, n, seq, len);
	free(s);
	free(sp);
	free(inst);
	return buf;
}

static Vakt__Frame *unpack(const uint8_t *frame, size_t len)
{
	Vakt__Frame *f = vakt__frame__unpack(NULL, len - FRAME_HDR_LEN, frame + FRAME_HDR_LEN);

	assert_non_null(f);
	assert_int_equal(f->msg_case, VAKT__FRAME__MSG_BATCH);
	return f;
}

static void assert_same_sample(const Vakt__Sample *a, const Vakt__Sample *b)
{
	assert_string_equal(a->host, b->host);
	assert_string_equal(a->check, b->check);
	assert_string_equal(a->instance, b->instance);
	assert_string_equal(a->metric, b->metric);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->interval, b->interval);
	assert_int_equal(a->time_ms, b->time_ms);
	assert_int_equal(a->unknown, b->unknown);
	if (a->kind == VAKT__KIND__GAUGE)
		assert_true(a->value == b->value);
	else
		assert_int_equal(a->counter, b->counter);
}

/*
 * Compacts the full-form frame (freed), expands it, and checks every sample
 * against the full form: the compact frame's length, its definitions in *ndefs.
 */
static size_t round_trip_frame(struct series_tx *tx, struct series_rx *rx, uint8_t *full,
			       size_t len, size_t *ndefs)
{
	size_t clen, n;
	uint8_t *compact = series_tx_compact(tx, full, len, &clen);
	Vakt__Frame *ff = unpack(full, len), *cf;
	Vakt__Sample *v;

	assert_non_null(compact);
	cf = unpack(compact, clen);
	assert_int_equal(cf->batch->seq, ff->batch->seq);
	assert_int_equal(cf->batch->n_samples, 0);
	*ndefs = cf->batch->n_series;
	assert_null(series_rx_expand(rx, cf->batch, &v, &n));
	assert_int_equal(n, ff->batch->n_samples);
	for (size_t i = 0; i < n; i++) {
		const Vakt__Sample *a = &v[i], *b = ff->batch->samples[i];

		assert_same_sample(a, b);
		/* width 0 is 64 */
		assert_int_equal(a->width ? a->width : 64, b->width ? b->width : 64);
	}
	free(v);
	vakt__frame__free_unpacked(ff, NULL);
	vakt__frame__free_unpacked(cf, NULL);
	free(full);
	free(compact);
	return clen;
}

static size_t round_trip_host(struct series_tx *tx, struct series_rx *rx, const char *host,
			      uint64_t seq, int nif, int64_t t, size_t *full_len, size_t *ndefs)
{
	uint8_t *full = poll_batch(host, seq, nif, t, full_len);

	return round_trip_frame(tx, rx, full, *full_len, ndefs);
}

static size_t round_trip(struct series_tx *tx, struct series_rx *rx, uint64_t seq, int nif,
			 int64_t t, size_t *full_len, size_t *ndefs)
{
	return round_trip_host(tx, rx, "sw1.rissa", seq, nif, t, full_len, ndefs);
}

/* One sample of a hand-made batch: names, and what makes the series besides them. */
struct spec {
	const char *host, *check, *instance, *metric;
	Vakt__Kind kind;
	uint32_t interval, width;
};

/* A full-form batch of the samples in v, in that order, round-tripped: its definitions. */
static size_t round_trip_specs(struct series_tx *tx, struct series_rx *rx, const struct spec *v,
			       size_t n, uint64_t seq)
{
	Vakt__Sample *s = calloc(n, sizeof(*s)), **sp = calloc(n, sizeof(*sp));
	size_t len, defs;
	uint8_t *full;

	for (size_t i = 0; i < n; i++) {
		vakt__sample__init(&s[i]);
		s[i].host = (char *)v[i].host;
		s[i].check = (char *)v[i].check;
		s[i].instance = (char *)v[i].instance;
		s[i].metric = (char *)v[i].metric;
		s[i].kind = v[i].kind;
		s[i].interval = v[i].interval;
		s[i].width = v[i].width;
		s[i].time_ms = T0 + (int64_t)seq * 60000 + (int64_t)i;
		if (v[i].kind == VAKT__KIND__GAUGE)
			s[i].value = (double)(seq * 1000 + i);
		else
			s[i].counter = seq * 1000000 + i;
		sp[i] = &s[i];
	}
	full = encode_samples(sp, n, seq, &len);
	round_trip_frame(tx, rx, full, len, &defs);
	free(s);
	free(sp);
	return defs;
}

static void test_round_trip_and_once_per_session(void **state)
{
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	struct series_rx *rx = series_rx_new(SERIES_WIRE_MAX_DEFAULT);
	size_t full, defs, first, second;

	(void)state;
	first = round_trip(tx, rx, 1, 48, T0, &full, &defs);
	assert_int_equal(defs, 48 * 3 + 1); /* every series defined once */
	assert_int_equal(series_tx_count(tx), 48 * 3 + 1);
	assert_int_equal(series_rx_count(rx), 48 * 3 + 1);
	second = round_trip(tx, rx, 2, 48, T0 + 60000, &full, &defs);
	assert_int_equal(defs, 0); /* the session knows them all */
	assert_true(first < full);
	/* 145 samples: ids, time deltas and values only, well under 12 bytes each */
	printf("# full %zu bytes, first compact %zu, later %zu (%.1f bytes/sample)\n", full, first,
	       second, (double)second / (48 * 3 + 1));
	assert_true(second * 5 < full);
	assert_true(second < (48 * 3 + 1) * 12);

	/* a new session defines everything again; the collector's table is new too */
	series_tx_reset(tx, SERIES_WIRE_MAX_DEFAULT);
	series_rx_free(rx);
	rx = series_rx_new(SERIES_WIRE_MAX_DEFAULT);
	round_trip(tx, rx, 3, 48, T0 + 120000, &full, &defs);
	assert_int_equal(defs, 48 * 3 + 1);
	series_tx_free(tx);
	series_rx_free(rx);
}

/*
 * The agent finds a known series by trying the id after the last one first:
 * devices polled in another order, a port more or fewer, still give each
 * series its own id and define only the new ones.
 */
static void test_series_found_in_any_order(void **state)
{
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	struct series_rx *rx = series_rx_new(SERIES_WIRE_MAX_DEFAULT);
	size_t full, defs;

	(void)state;
	round_trip_host(tx, rx, "sw1", 1, 10, T0, &full, &defs);
	assert_int_equal(defs, 10 * 3 + 1);
	round_trip_host(tx, rx, "sw2", 2, 10, T0, &full, &defs);
	assert_int_equal(defs, 10 * 3 + 1);
	round_trip_host(tx, rx, "sw2", 3, 10, T0 + 60000, &full, &defs);
	assert_int_equal(defs, 0);
	round_trip_host(tx, rx, "sw1", 4, 10, T0 + 60000, &full, &defs);
	assert_int_equal(defs, 0);
	/* fewer ports: the device's last series comes after a gap */
	round_trip_host(tx, rx, "sw1", 5, 4, T0 + 120000, &full, &defs);
	assert_int_equal(defs, 0);
	/* two ports more: only theirs are new, the series after them is known */
	round_trip_host(tx, rx, "sw2", 6, 12, T0 + 120000, &full, &defs);
	assert_int_equal(defs, 2 * 3);
	round_trip_host(tx, rx, "sw2", 7, 12, T0 + 180000, &full, &defs);
	assert_int_equal(defs, 0);
	assert_int_equal(series_tx_count(tx), 2 * (10 * 3 + 1) + 2 * 3);
	assert_int_equal(series_rx_count(rx), series_tx_count(tx));
	series_tx_free(tx);
	series_rx_free(rx);
}

/* v gets host's ports x metrics (DERIVE, 60 s, 64 bits): port by port, or metric by metric. */
static size_t fill_specs(struct spec *v, const char *host, const char *const *port, int nport,
			 const char *const *metric, int nmetric, int by_metric)
{
	size_t n = 0;

	for (int a = 0; a < (by_metric ? nmetric : nport); a++)
		for (int b = 0; b < (by_metric ? nport : nmetric); b++)
			v[n++] = (struct spec){host,
					       "if",
					       port[by_metric ? b : a],
					       metric[by_metric ? a : b],
					       VAKT__KIND__DERIVE,
					       60,
					       64};
	return n;
}

/*
 * The agent keeps a device's series as runs of ids with the metrics in
 * them: series sent port by port or metric by metric, in reverse, a metric
 * added to every port later, the same metric as another kind, interval or
 * width, names that run together differently: each series keeps its own
 * id, each sample comes back with its own names, and only new series are
 * defined.
 */
static void test_series_found_by_file_and_metric(void **state)
{
	static const char *const port[4] = {"Gi0/1", "Gi0/2", "Gi0/3", "Gi0/4"};
	static const char *const metric[4] = {"in_octets", "out_octets", "oper_status",
					      "in_errors"};
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	struct series_rx *rx = series_rx_new(SERIES_WIRE_MAX_DEFAULT);
	struct spec v[32];
	size_t n;

	(void)state;
	/* port by port, three metrics: 12 series */
	n = fill_specs(v, "sw1", port, 4, metric, 3, 0);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 1), 12);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 2), 0);
	/* metric by metric, then backwards: the same series */
	n = fill_specs(v, "sw1", port, 4, metric, 3, 1);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 3), 0);
	for (size_t i = 0; i < n / 2; i++) {
		struct spec x = v[i];

		v[i] = v[n - 1 - i];
		v[n - 1 - i] = x;
	}
	assert_int_equal(round_trip_specs(tx, rx, v, n, 4), 0);
	/* a fourth metric on every port: 4 new series, each port's in a run apart */
	n = fill_specs(v, "sw1", port, 4, metric, 4, 0);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 5), 4);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 6), 0);
	/* another switch, metric by metric from the start, then port by port */
	n = fill_specs(v, "sw2", port, 3, metric, 2, 1);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 7), 6);
	n = fill_specs(v, "sw2", port, 3, metric, 2, 0);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 8), 0);
	/* what a series is besides its names: kind, interval, width */
	n = 0;
	v[n++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__DERIVE, 60, 64};
	v[n++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__GAUGE, 60, 0};
	v[n++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__DERIVE, 300, 64};
	v[n++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__DERIVE, 60, 32};
	v[n++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__DERIVE, 60, 0};
	assert_int_equal(round_trip_specs(tx, rx, v, n, 9), 3); /* width 0 is 64 */
	/* the same letters split otherwise are other series */
	n = 0;
	v[n++] = (struct spec){"ab", "c", "", "m", VAKT__KIND__GAUGE, 60, 0};
	v[n++] = (struct spec){"a", "bc", "", "m", VAKT__KIND__GAUGE, 60, 0};
	v[n++] = (struct spec){"a", "b", "c", "m", VAKT__KIND__GAUGE, 60, 0};
	v[n++] = (struct spec){"a", "b", "", "cm", VAKT__KIND__GAUGE, 60, 0};
	v[n++] = (struct spec){"", "", "", "", VAKT__KIND__GAUGE, 60, 0};
	assert_int_equal(round_trip_specs(tx, rx, v, n, 10), 5);
	assert_int_equal(round_trip_specs(tx, rx, v, n, 11), 0);
	assert_int_equal(series_tx_count(tx), 12 + 4 + 6 + 3 + 5);
	assert_int_equal(series_rx_count(rx), series_tx_count(tx));
	series_tx_free(tx);
	series_rx_free(rx);
}

/*
 * A port's series take a few bytes in the agent's table, not their names
 * again: ports with the same metrics share them, and each port keeps its
 * names once for all its series.
 */
static void test_ports_share_their_metrics(void **state)
{
	static const char *const metric[12] = {"admin_status", "oper_status",  "speed",
					       "in_octets",    "out_octets",   "in_ucast",
					       "out_ucast",    "in_errors",    "out_errors",
					       "in_discards",  "out_discards", "last_change"};
	struct series_tx *tx = series_tx_new(1000000);
	struct series_rx *rx = series_rx_new(1000000);
	struct spec v[52 * 12];
	char host[100][16], inst[52][16];
	const char *port[52];
	size_t n, bytes;

	(void)state;
	for (int p = 0; p < 52; p++) {
		snprintf(inst[p], sizeof(inst[p]), "Gi1/0/%d", p + 1);
		port[p] = inst[p];
	}
	for (int pass = 0; pass < 2; pass++)
		for (int h = 0; h < 100; h++) {
			snprintf(host[h], sizeof(host[h]), "sw%04d", h);
			n = fill_specs(v, host[h], port, 52, metric, 12, 0);
			assert_int_equal(
			    round_trip_specs(tx, rx, v, n, (uint64_t)(pass * 100 + h + 1)),
			    pass == 0 ? n : 0);
		}
	assert_int_equal(series_tx_count(tx), 100 * 52 * 12);
	bytes = series_tx_bytes(tx);
	printf("# %zu series in %zu bytes: %.1f bytes a series\n", series_tx_count(tx), bytes,
	       (double)bytes / (double)series_tx_count(tx));
	/* about 90 bytes a series when each kept its own key */
	assert_true(bytes < 12 * series_tx_count(tx));
	series_tx_free(tx);
	series_rx_free(rx);
}

static void test_events_travel_beside_compact_samples(void **state)
{
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	Vakt__Sample smp = VAKT__SAMPLE__INIT, *sp = &smp;
	Vakt__Event ev = VAKT__EVENT__INIT, *ep = &ev;
	Vakt__Batch b = VAKT__BATCH__INIT;
	Vakt__Frame f = VAKT__FRAME__INIT, *cf;
	uint8_t *full, *compact;
	size_t len, clen;

	(void)state;
	smp.host = "agent1";
	smp.check = "traps";
	smp.instance = "";
	smp.metric = "traps";
	smp.kind = VAKT__KIND__DERIVE;
	smp.counter = 3;
	smp.time_ms = T0;
	ev.host = "10.1.0.2";
	ev.check = "traps";
	ev.instance = "Gi0/3";
	ev.name = "linkDown";
	ev.time_ms = T0 + 1;
	ev.oid = "1.3.6.1.6.3.1.1.5.3";
	ev.text = "ifIndex.3=3";
	ev.source = "10.1.0.2:49152";
	b.seq = 7;
	b.samples = &sp;
	b.n_samples = 1;
	b.events = &ep;
	b.n_events = 1;
	f.msg_case = VAKT__FRAME__MSG_BATCH;
	f.batch = &b;
	full = frame_encode(&f, &len);
	compact = series_tx_compact(tx, full, len, &clen);
	assert_non_null(compact);
	cf = unpack(compact, clen);
	assert_int_equal(cf->batch->n_sid, 1);
	assert_int_equal(cf->batch->n_events, 1);
	assert_string_equal(cf->batch->events[0]->name, "linkDown");
	assert_string_equal(cf->batch->events[0]->instance, "Gi0/3");
	assert_string_equal(cf->batch->events[0]->oid, "1.3.6.1.6.3.1.1.5.3");
	assert_int_equal(cf->batch->events[0]->time_ms, T0 + 1);
	vakt__frame__free_unpacked(cf, NULL);
	free(compact);
	free(full);
	series_tx_free(tx);
}

static int same_file(const Vakt__Sample *a, const Vakt__Sample *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->check, b->check) == 0 &&
	       strcmp(a->instance, b->instance) == 0;
}

/*
 * A batch as the agent makes it: samples put by series_tx_put_sample (each
 * record's `at` set, and same_file where the sample before has the same
 * host, check and instance, as the uplink says of a port's samples), then
 * `raw` (Results, Events) as they are. *raw_at gets where they start.
 */
static uint8_t *made_batch(uint64_t seq, const Vakt__Sample *v, size_t n, const uint8_t *raw,
			   size_t nraw, struct series_tx_sample *rec, size_t *len, size_t *raw_at)
{
	size_t room = 32 + nraw, body, sbytes, hdr;
	uint8_t *samples, *p, *frame;
	struct series_tx_put put = {0};
	size_t kept = SIZE_MAX; /* the last sample put through put */

	for (size_t i = 0; i < n; i++) {
		size_t lens[4] = {strlen(v[i].host), strlen(v[i].check), strlen(v[i].instance),
				  strlen(v[i].metric)};

		room += series_tx_sample_max(lens);
	}
	samples = malloc(room);
	p = samples;
	for (size_t i = 0; i < n; i++) {
		const char *names[4] = {v[i].host, v[i].check, v[i].instance, v[i].metric};
		size_t lens[4] = {strlen(v[i].host), strlen(v[i].check), strlen(v[i].instance),
				  strlen(v[i].metric)};
		/* the time's varint and the file's names kept for the next sample, or not */
		int keep = i % 5 != 4;
		uint8_t *end =
		    series_tx_put_sample(p, names, lens, &v[i], &rec[i], keep ? &put : NULL,
					 keep && kept < i && same_file(&v[kept], &v[i]));

		if (keep)
			kept = i;
		rec[i].at = (uint32_t)(p - samples);
		rec[i].same_file = i > 0 && same_file(&v[i - 1], &v[i]);
		p = end;
	}
	sbytes = (size_t)(p - samples);
	body = 1 + frame_varint_len(seq) + sbytes + nraw;
	frame = malloc(FRAME_HDR_LEN + 1 + 10 + body);
	p = frame + FRAME_HDR_LEN;
	*p++ = VAKT__FRAME__MSG_BATCH << 3 | 2;
	p = frame_put_varint(p, body);
	*p++ = 1 << 3;
	p = frame_put_varint(p, seq);
	hdr = (size_t)(p - frame);
	memcpy(p, samples, sbytes);
	p += sbytes;
	memcpy(p, raw, nraw);
	p += nraw;
	*len = (size_t)(p - frame);
	frame[0] = (uint8_t)((*len - FRAME_HDR_LEN) >> 24);
	frame[1] = (uint8_t)((*len - FRAME_HDR_LEN) >> 16);
	frame[2] = (uint8_t)((*len - FRAME_HDR_LEN) >> 8);
	frame[3] = (uint8_t)(*len - FRAME_HDR_LEN);
	for (size_t i = 0; i < n; i++)
		rec[i].at += (uint32_t)hdr;
	*raw_at = hdr + sbytes;
	free(samples);
	return frame;
}

/*
 * The agent compacts a batch it has just made from its samples as it wrote
 * them, and one read back from the spool by reading its frame: for the same
 * batch on the same session both give the very same bytes, new series and
 * known ones, Results and Events, a table full and started again alike; and
 * those bytes are what protobuf-c writes of the compact Batch.
 */
static void test_batch_made_compacts_as_read_back(void **state)
{
	enum { N = 40 };
	struct series_tx *fast = series_tx_new(50), *slow = series_tx_new(50);
	struct series_rx *rx = series_rx_new(1000);
	Vakt__Sample v[N];
	struct series_tx_sample rec[N];
	Vakt__Result res = VAKT__RESULT__INIT, *rp = &res;
	Vakt__Event ev = VAKT__EVENT__INIT, *ep = &ev;
	Vakt__Batch rb = VAKT__BATCH__INIT;
	char port[N][16], longname[300];
	uint8_t raw[1024];
	size_t nraw;

	(void)state;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	/* Results and Events ride along as fields the compact form carries as they are */
	res.host = "sw1";
	res.check = "if";
	res.time_ms = T0;
	res.outcome = VAKT__OUTCOME__OUTCOME_OK;
	ev.host = "sw1";
	ev.check = "traps";
	ev.name = "linkDown";
	ev.time_ms = T0 + 1;
	rb.results = &rp;
	rb.n_results = 1;
	rb.events = &ep;
	rb.n_events = 1;
	nraw = vakt__batch__pack(&rb, raw);
	for (uint64_t seq = 1; seq <= 4; seq++) {
		/* 40 series more than the 20 known, and back: the table of 50 starts again twice */
		size_t n = seq == 3 ? N : N / 2, len, clen, slen, n2, at;
		uint8_t *frame, *fc, *sc;
		Vakt__Frame *cf;
		Vakt__Sample *got;

		for (size_t i = 0; i < n; i++) {
			size_t p = seq == 3 ? i + N : i / 4;

			snprintf(port[i], sizeof(port[i]), "Gi0/%zu", p);
			vakt__sample__init(&v[i]);
			v[i].host = "sw1";
			v[i].check = "if";
			v[i].instance = port[i];
			v[i].metric = (char *)(i % 4 == 0 ? "in_octets"
					       : i % 4 == 1 ? "oper_status"
					       : i % 4 == 2 ? longname
							    : "temperature");
			v[i].interval = 60;
			/* time goes back now and then within a batch */
			v[i].time_ms = T0 + (int64_t)seq * 60000 + (int64_t)(i % 7) - 3;
			if (i % 4 == 0) {
				v[i].kind = VAKT__KIND__DERIVE;
				v[i].counter = seq << 40 | i;
				v[i].width = i % 8 == 0 ? 64 : 0;
			} else {
				v[i].value = i % 4 == 2 ? -0.0 : (double)seq + 0.25 * (double)i;
			}
			v[i].unknown = i % 4 == 3 && seq % 2 == 0;
		}
		v[0].instance = ""; /* a device's own series */
		frame = made_batch(seq, v, n, raw, seq == 2 ? 0 : nraw, rec, &len, &at);
		fc = series_tx_compact_read(fast, frame, len, seq, rec, n, at, &clen);
		sc = series_tx_compact(slow, frame, len, &slen);
		assert_non_null(fc);
		assert_non_null(sc);
		assert_int_equal(clen, slen);
		assert_memory_equal(fc, sc, clen);
		assert_int_equal(series_tx_count(fast), series_tx_count(slow));
		/* 20 series, then 40 from id 1, then the first 20 from id 1 again */
		assert_int_equal(series_tx_count(fast), seq == 3 ? 40 : 20);
		cf = unpack(fc, clen);
		if (seq == 2) {
			/* nothing beside the samples: protobuf-c writes the same bytes */
			size_t plen;
			uint8_t *pc = frame_encode(cf, &plen);

			assert_int_equal(plen, clen);
			assert_memory_equal(pc, fc, clen);
			free(pc);
		} else {
			assert_int_equal(cf->batch->n_results, 1);
			assert_int_equal(cf->batch->n_events, 1);
		}
		assert_null(series_rx_expand(rx, cf->batch, &got, &n2));
		assert_int_equal(n2, n);
		for (size_t i = 0; i < n; i++)
			assert_same_sample(&got[i], &v[i]);
		free(got);
		vakt__frame__free_unpacked(cf, NULL);
		free(fc);
		free(sc);
		free(frame);
	}
	series_tx_free(fast);
	series_tx_free(slow);
	series_rx_free(rx);
}

/* A device's series, defined in a row, share a number: the receiver need not compare names. */
static void test_a_devices_series_share_a_file_number(void **state)
{
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	struct series_rx *rx = series_rx_new(SERIES_WIRE_MAX_DEFAULT);
	size_t full, defs;

	(void)state;
	round_trip(tx, rx, 1, 2, T0, &full, &defs); /* Gi0/1 x 3, Gi0/2 x 3, system */
	assert_int_equal(defs, 7);
	assert_int_not_equal(series_rx_file(rx, 1), 0);
	assert_int_equal(series_rx_file(rx, 2), series_rx_file(rx, 1));
	assert_int_equal(series_rx_file(rx, 3), series_rx_file(rx, 1));
	assert_int_not_equal(series_rx_file(rx, 4), series_rx_file(rx, 1));
	assert_int_equal(series_rx_file(rx, 5), series_rx_file(rx, 4));
	assert_int_equal(series_rx_file(rx, 6), series_rx_file(rx, 4));
	assert_int_not_equal(series_rx_file(rx, 7), 0);
	assert_int_not_equal(series_rx_file(rx, 7), series_rx_file(rx, 4));
	assert_int_equal(series_rx_file(rx, 8), 0); /* not defined */
	assert_int_equal(series_rx_file(rx, 0), 0);
	series_tx_free(tx);
	series_rx_free(rx);
}

static void test_table_full_starts_again(void **state)
{
	/* room for 20 series */
	struct series_tx *tx = series_tx_new(20);
	struct series_rx *rx = series_rx_new(20);
	size_t full, defs, len, clen;
	uint8_t *big;
	uint32_t file1;

	(void)state;
	round_trip(tx, rx, 1, 4, T0, &full, &defs); /* 13 series */
	file1 = series_rx_file(rx, 1);
	assert_int_equal(defs, 13);
	round_trip(tx, rx, 2, 4, T0 + 1000, &full, &defs);
	assert_int_equal(defs, 0);
	/* 16 series, 13 of them known: the 3 new ones fit */
	round_trip(tx, rx, 3, 5, T0 + 2000, &full, &defs);
	assert_int_equal(defs, 3);
	assert_int_equal(series_tx_count(tx), 16);
	/* the collector numbers the definitions: what the store resolves by */
	assert_int_equal(series_rx_definition(rx, 1), 1);
	assert_int_equal(series_rx_definition(rx, 16), 16);
	assert_int_equal(series_rx_definition(rx, 17), 0);
	assert_int_equal(series_rx_definition(rx, 0), 0);
	/* 10 series of another switch do not fit beside 16: all defined afresh */
	round_trip_host(tx, rx, "sw2.rissa", 4, 3, T0 + 3000, &full, &defs);
	assert_int_equal(defs, 10);
	assert_int_equal(series_tx_count(tx), 10);
	/* id 1 names another series now: a new number, never one used before */
	assert_int_equal(series_rx_definition(rx, 1), 17);
	assert_int_not_equal(series_rx_file(rx, 1), file1);
	assert_int_equal(series_rx_file(rx, 2), series_rx_file(rx, 1));
	/* and the first switch's series, forgotten, are defined again */
	round_trip(tx, rx, 5, 3, T0 + 4000, &full, &defs);
	assert_int_equal(defs, 10);
	assert_int_equal(series_rx_definition(rx, 1), 17);  /* still sw2's */
	assert_int_equal(series_rx_definition(rx, 11), 27); /* ids 11-20: numbers 27-36 */
	/* a batch larger than the table cannot be compacted: sent as it is */
	big = poll_batch("sw1.rissa", 6, 7, T0, &len); /* 22 samples */
	assert_null(series_tx_compact(tx, big, len, &clen));
	free(big);
	series_tx_free(tx);
	series_rx_free(rx);
}

/*
 * Times whose difference does not fit a delta (no clock gives them) leave
 * the batch in the full form, and no series of it is taken as defined: the
 * next batch defines them.
 */
/*
 * Hostile names and orders, a small table and session resets: ports that
 * come and go, the same series twice in a batch, names that differ only in
 * their last byte or around 4, 8 and 16 bytes (where the in-place compare
 * changes its loads), empty instances, UTF-8, 128-byte names. Every sample
 * must come out of the collector's side under its own names (a mislabel
 * would put it in another RRD file), and two ids the collector gives one
 * file number must name one file.
 */
static void test_no_sample_changes_series_whatever_the_names(void **state)
{
	static const char *hosts[] = {"sw1", "sw1.rissa", "sw1.rissa.x", "sw1.rissa.y",
				      "Tromsø-sw", "Tromsø-sw2", "h234567", "h2345678",
				      "h23456789", "h234567890123456", "h2345678901234567"};
	static const char *checks[] = {"if", "ifx", "system", "sy"};
	static const char *insts[] = {"",       "Gi0/1",  "Gi0/10", "Gi0/1 ", "Gi0/2",
				      "Gi0/11", "øl/1",   "ol/1",   "port 12345678",
				      "port 12345679"};
	static const char *metrics[] = {"in_octets", "in_octetz", "out_octets", "up",
					"u",         "in",        "in_octets_extra12"};
	char lng[4][129];
	struct spec pool[400], v[60];
	size_t npool = 0;
	unsigned seed = 7;
	uint32_t max = 50;
	struct series_tx *tx = series_tx_new(max);
	struct series_rx *rx = series_rx_new(max);

	(void)state;
	for (int k = 0; k < 4; k++) {
		memset(lng[k], 'x', 128);
		lng[k][127] = (char)('a' + k);
		lng[k][128] = '\0';
	}
	for (size_t h = 0; h < sizeof(hosts) / sizeof(*hosts); h++)
		for (size_t c = 0; c < sizeof(checks) / sizeof(*checks); c += 1 + h % 2)
			for (size_t i = 0; i < sizeof(insts) / sizeof(*insts) && npool < 360;
			     i += 1 + (h + c) % 3)
				for (size_t m = (h + i) % 3; m < sizeof(metrics) / sizeof(*metrics);
				     m += 2)
					if (npool < 360)
						pool[npool++] = (struct spec){
						    hosts[h],
						    checks[c],
						    insts[i],
						    metrics[m],
						    m % 3 == 0 ? VAKT__KIND__GAUGE : VAKT__KIND__DERIVE,
						    (uint32_t)(60 + (m == 4)),
						    m == 2 ? 32 : 64};
	for (int k = 0; k < 4; k++) {
		pool[npool++] = (struct spec){lng[k], "if", "", "in", VAKT__KIND__GAUGE, 60, 64};
		pool[npool++] = (struct spec){"sw1", lng[k], lng[3 - k], lng[k],
					      VAKT__KIND__COUNTER, 60, 64};
	}
	/* the same names as another series, only its kind, interval or width differ */
	pool[npool++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__DERIVE, 60, 64};
	pool[npool++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__GAUGE, 30, 64};
	pool[npool++] = (struct spec){"sw1", "if", "Gi0/1", "in_octets", VAKT__KIND__GAUGE, 60, 32};
	for (uint64_t seq = 1; seq <= 3000; seq++) {
		size_t n = 1 + (size_t)(rand_r(&seed) % 50), start = (size_t)rand_r(&seed) % npool;

		for (size_t i = 0; i < n; i++) {
			unsigned r = (unsigned)rand_r(&seed) % 10;

			/* mostly a device's series in a row, as a check sends them */
			if (r < 7)
				v[i] = pool[(start + i) % npool];
			else if (r < 9)
				v[i] = pool[(size_t)rand_r(&seed) % npool];
			else
				v[i] = i > 0 ? v[i - 1] : pool[start]; /* twice in a row */
		}
		round_trip_specs(tx, rx, v, n, seq);
		/* a new session now and then: the collector restarted, or failover */
		if (rand_r(&seed) % 97 == 0) {
			max = 50 + (uint32_t)(rand_r(&seed) % 60); /* a batch of 50 fits */
			series_tx_reset(tx, max);
			series_rx_free(rx);
			rx = series_rx_new(max);
		}
	}
	series_tx_free(tx);
	series_rx_free(rx);
}

static void test_times_too_far_apart_stay_in_full_form(void **state)
{
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	struct series_rx *rx = series_rx_new(SERIES_WIRE_MAX_DEFAULT);
	Vakt__Sample s[2] = {VAKT__SAMPLE__INIT, VAKT__SAMPLE__INIT}, *sp[2] = {&s[0], &s[1]};
	struct spec v[2] = {{"h", "c", "a", "m", VAKT__KIND__GAUGE, 60, 0},
			    {"h", "c", "b", "m", VAKT__KIND__GAUGE, 60, 0}};
	uint8_t *full;
	size_t len, clen;

	(void)state;
	for (int i = 0; i < 2; i++) {
		s[i].host = "h";
		s[i].check = "c";
		s[i].instance = i ? "b" : "a";
		s[i].metric = "m";
		s[i].kind = VAKT__KIND__GAUGE;
		s[i].interval = 60;
	}
	s[0].time_ms = INT64_MIN + 1;
	s[1].time_ms = INT64_MAX;
	full = encode_samples(sp, 2, 1, &len);
	assert_null(series_tx_compact(tx, full, len, &clen));
	assert_int_equal(series_tx_count(tx), 0);
	free(full);
	assert_int_equal(round_trip_specs(tx, rx, v, 2, 2), 2);
	series_tx_free(tx);
	series_rx_free(rx);
}

static void test_other_frames_left_alone(void **state)
{
	struct series_tx *tx = series_tx_new(100);
	Vakt__Frame f = VAKT__FRAME__INIT;
	Vakt__Heartbeat hb = VAKT__HEARTBEAT__INIT;
	uint8_t garbage[16] = {0, 0, 0, 12, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8};
	size_t len, clen;
	uint8_t *buf;

	(void)state;
	f.msg_case = VAKT__FRAME__MSG_HEARTBEAT;
	f.heartbeat = &hb;
	buf = frame_encode(&f, &len);
	assert_null(series_tx_compact(tx, buf, len, &clen));
	free(buf);
	assert_null(series_tx_compact(tx, garbage, sizeof(garbage), &clen));
	assert_null(series_tx_compact(tx, garbage, 3, &clen));
	assert_int_equal(series_tx_count(tx), 0);
	series_tx_free(tx);
}

/* A compact batch made by hand, as a hostile or broken peer might send it. */
static const char *expand_hand_made(struct series_rx *rx, uint32_t *sid, size_t nsid, int64_t *dt,
				    size_t ndt, double *g, size_t ng, uint64_t *c, size_t nc,
				    uint32_t *unk, size_t nunk, Vakt__SeriesDef **defs,
				    size_t ndefs)
{
	Vakt__Batch b = VAKT__BATCH__INIT;
	Vakt__Sample *v = NULL;
	size_t n;
	const char *err;

	b.seq = 1;
	b.sid = sid;
	b.n_sid = nsid;
	b.dtime_ms = dt;
	b.n_dtime_ms = ndt;
	b.gauge = g;
	b.n_gauge = ng;
	b.counter = c;
	b.n_counter = nc;
	b.unknown = unk;
	b.n_unknown = nunk;
	b.series = defs;
	b.n_series = ndefs;
	err = series_rx_expand(rx, &b, &v, &n);
	if (err != NULL)
		assert_null(v);
	free(v);
	return err;
}

static void test_broken_batches_refused(void **state)
{
	struct series_rx *rx = series_rx_new(10);
	Vakt__SeriesDef d = VAKT__SERIES_DEF__INIT, *pd = &d;
	uint32_t sid[2] = {1, 1}, bad_sid[1] = {2}, unk[1] = {5};
	int64_t dt[2] = {T0, 1000}, huge[2] = {INT64_MAX, INT64_MAX};
	double g[2] = {1, 2};
	uint64_t c[1] = {7};
	const char *err;

	(void)state;
	d.host = "h";
	d.check = "c";
	d.instance = "";
	d.metric = "m";
	d.kind = VAKT__KIND__GAUGE;
	d.id = 11;
	err = expand_hand_made(rx, sid, 2, dt, 2, g, 2, NULL, 0, NULL, 0, &pd, 1);
	assert_non_null(err);
	assert_string_equal(err, "series id 11 outside 1..10");
	d.id = 0;
	assert_non_null(expand_hand_made(rx, sid, 2, dt, 2, g, 2, NULL, 0, NULL, 0, &pd, 1));
	d.id = 1;
	/* the good batch */
	assert_null(expand_hand_made(rx, sid, 2, dt, 2, g, 2, NULL, 0, NULL, 0, &pd, 1));
	err = expand_hand_made(rx, bad_sid, 1, dt, 1, g, 1, NULL, 0, NULL, 0, NULL, 0);
	assert_string_equal(err, "sample 0 names series 2, never defined on this session");
	err = expand_hand_made(rx, sid, 2, dt, 1, g, 2, NULL, 0, NULL, 0, NULL, 0);
	assert_string_equal(err, "2 series ids but 1 times");
	err = expand_hand_made(rx, sid, 2, dt, 2, g, 1, NULL, 0, NULL, 0, NULL, 0);
	assert_string_equal(err, "fewer gauge values (1) than GAUGE samples");
	err = expand_hand_made(rx, sid, 2, dt, 2, g, 2, c, 1, NULL, 0, NULL, 0);
	assert_string_equal(err, "2 gauge values and 1 counters for 2 and 0 samples");
	err = expand_hand_made(rx, sid, 2, dt, 2, g, 2, NULL, 0, unk, 1, NULL, 0);
	assert_string_equal(err, "unknown index 5 beyond 2 samples");
	err = expand_hand_made(rx, sid, 2, huge, 2, g, 2, NULL, 0, NULL, 0, NULL, 0);
	assert_string_equal(err, "sample 1: time overflows");
	/* a definition replaces what the id meant, and its memory is accounted once */
	d.metric = "other";
	assert_null(expand_hand_made(rx, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, &pd, 1));
	assert_int_equal(series_rx_count(rx), 1);
	series_rx_free(rx);
}

/*
 * Fills tx and rx with `nseries` series (1,000 a switch, long names), each
 * defined once, then polls every switch again: nothing is defined twice.
 */
static void define_switches(struct series_tx *tx, struct series_rx *rx, size_t nseries)
{
	char host[80];
	size_t full, defs;

	for (int pass = 0; pass < 2; pass++)
		for (size_t h = 0; h < nseries / 1000; h++) {
			snprintf(host, sizeof(host),
				 "switch-%04zu.core.datasenter.kommune-eksempel.no", h);
			/* 333 ports x 3 + 1: 1,000 series a switch */
			round_trip_host(tx, rx, host, (uint64_t)(pass * 1000 + h + 1), 333,
					T0 + pass * 60000, &full, &defs);
			assert_int_equal(defs, pass == 0 ? 1000 : 0);
		}
	assert_int_equal(series_tx_count(tx), nseries);
	assert_int_equal(series_rx_count(rx), nseries);
	assert_int_equal(series_rx_defined(rx), nseries);
}

/*
 * The collector's bound on one session's definitions holds the full table
 * of ids it allows, with long names: an agent polling a thousand switches is
 * never refused for its series.
 */
static void test_full_table_fits_session_bound(void **state)
{
	struct series_tx *tx = series_tx_new(SERIES_WIRE_MAX_DEFAULT);
	struct series_rx *rx = series_rx_new(SERIES_WIRE_MAX_DEFAULT);

	(void)state;
	define_switches(tx, rx, SERIES_WIRE_MAX_DEFAULT);
	assert_true(series_rx_bytes(rx) <= decode_series_bytes(SERIES_WIRE_MAX_DEFAULT));
	series_tx_free(tx);
	series_rx_free(rx);
}

/*
 * A collector that allows more ids than 100,000 (HelloAck.max_series) gets
 * 130 switches' series defined once, not again in every poll; the bound on
 * the session's definitions holds them.
 */
static void test_more_ids_than_the_default_defined_once(void **state)
{
	struct series_tx *tx = series_tx_new(1000000);
	struct series_rx *rx = series_rx_new(200000);

	(void)state;
	/* the agent's cap is 1,000,000; the collector allows 200,000 */
	series_tx_reset(tx, 200000);
	define_switches(tx, rx, 130000);
	assert_int_equal(series_rx_max(rx), 200000);
	assert_true(series_rx_bytes(rx) <= decode_series_bytes(130000));
	series_tx_free(tx);
	series_rx_free(rx);
}

/*
 * The limit is the session's: a session whose collector allows 20 ids
 * starts its table again past 20, the next one, allowed 1,000, defines each
 * series once; and a table allowed a million ids is as small as what it holds.
 */
static void test_limit_set_per_session_and_table_grows(void **state)
{
	struct series_tx *tx = series_tx_new(1000000);
	struct series_rx *rx = series_rx_new(20);
	size_t full, defs, empty = series_tx_bytes(tx);

	(void)state;
	/* nothing held yet: no table of a million entries */
	assert_true(empty < 4096);
	series_tx_reset(tx, 20);
	round_trip(tx, rx, 1, 4, T0, &full, &defs); /* 13 series */
	assert_int_equal(defs, 13);
	/* 16 series of another switch do not fit beside 13: all defined afresh */
	round_trip_host(tx, rx, "sw2.rissa", 2, 5, T0, &full, &defs);
	assert_int_equal(defs, 16);
	round_trip(tx, rx, 3, 4, T0 + 1000, &full, &defs);
	assert_int_equal(defs, 13);

	series_tx_reset(tx, 1000);
	series_rx_free(rx);
	rx = series_rx_new(1000);
	round_trip(tx, rx, 4, 4, T0 + 2000, &full, &defs);
	assert_int_equal(defs, 13);
	round_trip_host(tx, rx, "sw2.rissa", 5, 5, T0 + 2000, &full, &defs);
	assert_int_equal(defs, 16);
	round_trip(tx, rx, 6, 4, T0 + 3000, &full, &defs);
	assert_int_equal(defs, 0);
	round_trip_host(tx, rx, "sw2.rissa", 7, 5, T0 + 3000, &full, &defs);
	assert_int_equal(defs, 0);
	assert_int_equal(series_rx_defined(rx), 29);
	/* 29 series: the keys' first block and small arrays, not 1,000,000 entries */
	assert_true(series_tx_bytes(tx) < 128 * 1024);
	series_tx_free(tx);
	series_rx_free(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_and_once_per_session),
	    cmocka_unit_test(test_series_found_in_any_order),
	    cmocka_unit_test(test_series_found_by_file_and_metric),
	    cmocka_unit_test(test_ports_share_their_metrics),
	    cmocka_unit_test(test_events_travel_beside_compact_samples),
	    cmocka_unit_test(test_batch_made_compacts_as_read_back),
	    cmocka_unit_test(test_a_devices_series_share_a_file_number),
	    cmocka_unit_test(test_table_full_starts_again),
	    cmocka_unit_test(test_other_frames_left_alone),
	    cmocka_unit_test(test_times_too_far_apart_stay_in_full_form),
	    cmocka_unit_test(test_broken_batches_refused),
	    cmocka_unit_test(test_full_table_fits_session_bound),
	    cmocka_unit_test(test_more_ids_than_the_default_defined_once),
	    cmocka_unit_test(test_limit_set_per_session_and_table_grows),
	    cmocka_unit_test(test_no_sample_changes_series_whatever_the_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
