/*
 * fuzz_session_msg.c - libFuzzer target for the collector's message handler:
 * the input is the byte stream of one session; every frame in it is decoded
 * and, as collector/session.c does, a Hello checked with decode_hello() and
 * a Batch turned into a struct sample_batch with decode_batch(), with the
 * session's table of series when the Hello agreed on protocol 2 (room for 64,
 * so that the limit is reached), and the events' texts read as event rules'
 * varbinds read them. Aborts when
 * something invalid gets through or a count does not add up.
 * Must never trust the input: everything decoded is freed, nothing is kept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "alert.h"
#include "decode.h"
#include "frame.h"
#include "sample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a fixed "now" (2026-01-01), so that a run depends on the input only */
#define NOW_MS  1767225600000LL
#define SKEW_S  10
#define MAX_LEN (256 * 1024)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* A name that reached the store: what decode promised of it. */
static void check_name(const char *n, int may_be_empty)
{
	size_t len;

	CHECK(n != NULL);
	len = strlen(n);
	CHECK(len <= SAMPLE_NAME_MAX);
	CHECK(len > 0 || may_be_empty);
	for (const unsigned char *p = (const unsigned char *)n; *p; p++)
		CHECK(*p >= 0x20 && *p != 0x7f);
}

/* Well-formed UTF-8: cleaning it changes nothing. */
static void check_utf8(const char *t)
{
	char *c = strdup(t);

	CHECK(c != NULL);
	decode_utf8_clean(c);
	CHECK(strcmp(c, t) == 0);
	free(c);
}

static void check_text(const char *t, size_t max)
{
	CHECK(t != NULL && strlen(t) <= max);
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		CHECK(*p >= 0x20 && *p != 0x7f);
	check_utf8(t);
}

/* Returns 0, or -1 when the batch ends the session. */
static int run_batch(Vakt__Batch *pb, struct series_rx *rx)
{
	struct check_result *res;
	struct event *ev;
	struct decode_stats st;
	size_t nres, nev, before;
	struct sample_batch *b =
	    decode_batch(pb, rx, "site", "agent", 1, NOW_MS, SKEW_S, &res, &nres, &st);

	if (b == NULL) {
		/* only the compact form or an oversized batch ends a session, saying why */
		CHECK(st.fatal != NULL && st.fatal[0] != '\0' && res == NULL);
		CHECK(pb->n_sid > 0 || pb->n_series > 0 ||
		      pb->n_samples + pb->n_results + pb->n_events > DECODE_MAX_ITEMS);
		return -1;
	}
	CHECK(res != NULL && st.fatal == NULL);
	CHECK(b->seq == pb->seq && b->session_id == 1);
	CHECK(b->n + nres + st.invalid + st.ahead == pb->n_samples + pb->n_sid + pb->n_results);
	CHECK(st.ahead == 0 || st.worst_ms > (int64_t)SKEW_S * 1000);
	for (size_t i = 0; i < b->n; i++) {
		const struct sample *x = &b->v[i];

		check_name(x->host, 0);
		check_name(x->check, 0);
		check_name(x->instance, 1);
		check_name(x->metric, 0);
		CHECK(x->time_ms > 0 && x->time_ms <= NOW_MS + (int64_t)SKEW_S * 1000);
		CHECK(x->kind == SAMPLE_GAUGE || x->kind == SAMPLE_COUNTER ||
		      x->kind == SAMPLE_DERIVE);
		CHECK(x->width != 0);
	}
	for (size_t i = 0; i < nres; i++) {
		const struct check_result *r = &res[i];

		check_name(r->host, 0);
		check_name(r->check, 0);
		check_name(r->instance, 1);
		check_text(r->reason, SAMPLE_REASON_MAX);
		CHECK(r->time_ms > 0 && r->time_ms <= NOW_MS + (int64_t)SKEW_S * 1000);
		CHECK(r->outcome >= OUTCOME_OK && r->outcome <= OUTCOME_ERROR);
	}
	before = st.invalid + st.ahead;
	decode_events(pb, NOW_MS, SKEW_S, &ev, &nev, &st);
	CHECK(ev != NULL && nev + st.invalid + st.ahead - before == pb->n_events);
	for (size_t i = 0; i < nev; i++) {
		check_name(ev[i].host, 0);
		check_name(ev[i].check, 0);
		check_name(ev[i].instance, 1);
		check_name(ev[i].name, 0);
		check_text(ev[i].text, EVENT_TEXT_MAX);
		check_text(ev[i].source, SAMPLE_NAME_MAX);
		check_utf8(ev[i].host);
		check_utf8(ev[i].instance);
		/* an event rule's varbinds read the text */
		(void)alert_text_varbind(ev[i].text, "ifAdminStatus", "1");
		(void)alert_text_varbind(ev[i].text, "ifName", "*");
		(void)alert_text_varbind(ev[i].text, "1.3.6.1.4.1", "[!x]*");
		CHECK(strspn(ev[i].oid, "0123456789.") == strlen(ev[i].oid));
		CHECK(ev[i].time_ms > 0 && ev[i].time_ms <= NOW_MS + (int64_t)SKEW_S * 1000);
	}
	free(ev);
	free(res);
	sample_batch_free(b);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *in = evbuffer_new();
	struct series_rx *rx = NULL;
	int hello = 0;

	CHECK(in != NULL);
	CHECK(evbuffer_add(in, data, size) == 0);
	for (;;) {
		Vakt__Frame *f;
		uint32_t len;
		char why[160];

		if (frame_read(in, MAX_LEN, &f, &len) != FRAME_OK)
			break; /* the session would end here (or wait for more) */
		if (!hello) {
			/* before hello only a Hello counts; anything else ends the session */
			if (f->msg_case != VAKT__FRAME__MSG_HELLO ||
			    decode_hello(f->hello, why, sizeof(why)) < 0) {
				CHECK(f->msg_case != VAKT__FRAME__MSG_HELLO || why[0] != '\0');
				vakt__frame__free_unpacked(f, NULL);
				break;
			}
			check_text(f->hello->software, SAMPLE_NAME_MAX);
			check_name(f->hello->site, 0);
			check_name(f->hello->agent, 0);
			hello = 1;
			if (f->hello->protocol >= 2)
				rx = series_rx_new(64);
		} else if (f->msg_case == VAKT__FRAME__MSG_BATCH) {
			if (run_batch(f->batch, rx) < 0) {
				vakt__frame__free_unpacked(f, NULL);
				break;
			}
		} else if (f->msg_case == VAKT__FRAME__MSG_HELLO) {
			vakt__frame__free_unpacked(f, NULL);
			break; /* a second hello ends the session */
		}
		vakt__frame__free_unpacked(f, NULL);
	}
	evbuffer_free(in);
	series_rx_free(rx);
	return 0;
}
