/*
 * ingest.c - the collector's single ingest path (see ingest.h). It runs on
 * the event loop and must stay cheap: no disk, no DNS; the store's writer
 * thread does the I/O.
 */
#include "ingest.h"

#include "alert.h"
#include "log.h"
#include "store_rrd.h"
#include "timeutil.h"
#include "watch.h"

/*
 * An outcome is stored beside the check's own metrics: `up` (1 when the run
 * measured, else 0) for availability, and `outcome` (the enum's number) so
 * that a graph can tell a timeout from a refusal.
 */
static void add_outcome_samples(struct sample_batch *b, const struct check_result *r)
{
	struct sample *x;

	x = sample_batch_add(b, r->host, r->check, r->instance, "up");
	x->time_ms = r->time_ms;
	x->kind = SAMPLE_GAUGE;
	x->value = r->outcome == OUTCOME_OK ? 1 : 0;
	x->interval = r->interval;
	x = sample_batch_add(b, r->host, r->check, r->instance, "outcome");
	x->time_ms = r->time_ms;
	x->kind = SAMPLE_GAUGE;
	x->value = (double)r->outcome;
	x->interval = r->interval;
}

int ingest_batch(struct collector *c, struct sample_batch *b, const struct check_result *r,
		 size_t nr)
{
	size_t nsamples = b->n;
	/* one reading of the clocks for the whole batch: it arrived at one moment */
	double now = mono_now();
	int64_t now_wall = wall_now_ms();

	for (size_t i = 0; i < nr; i++) {
		watch_result(c->watch, b->site, b->agent, &r[i]);
		add_outcome_samples(b, &r[i]);
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct sample *x = &b->v[i], *p = i > 0 ? &b->v[i - 1] : NULL;

		alert_feed(c->alert, b->site, x);
		/*
		 * The watch keeps one entry per file: the next metric of the same
		 * file at the same time tells it nothing new (a batch shares the
		 * names of consecutive samples, so comparing pointers suffices).
		 */
		if (i < nsamples && (p == NULL || p->host != x->host || p->check != x->check ||
				     p->instance != x->instance || p->time_ms != x->time_ms ||
				     p->interval < x->interval))
			watch_sample(c->watch, b->site, b->agent, x, now, now_wall);
	}
	if (store_submit(c->store, b) < 0) {
		c->ingest_dropped += b->n;
		log_complain(&c->ingest_full, 60,
			     "ingest: store queue full, %zu samples of site \"%s\" not stored "
			     "(%llu so far)",
			     b->n, b->site, (unsigned long long)c->ingest_dropped);
		sample_batch_free(b);
		return -1;
	}
	return 0;
}

void ingest_events(struct collector *c, const char *site, const struct event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		log_debug("event from site \"%s\": %s on %s/%s/%s (%s) from %s: %s", site,
			  ev[i].name, ev[i].host, ev[i].check, ev[i].instance, ev[i].oid,
			  ev[i].source, ev[i].text);
		alert_event(c->alert, site, &ev[i]);
	}
}
