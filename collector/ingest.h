/*
 * ingest.h - the one path by which samples enter the collector: the alert
 * engine, the silence watch and the store see every sample in the same
 * order, whether a session decoded it or the collector made it (no-data,
 * agent-down). Events (traps) take ingest_events to the alert engine alone.
 */
#ifndef VAKT_INGEST_H
#define VAKT_INGEST_H

#include <stddef.h>

#include "collector.h"
#include "sample.h"

/*
 * Feeds the samples of `b` and the check outcomes r[0..nr) to the alert
 * engine and the watch, adds each outcome's `up` and `outcome` samples to
 * `b`, and hands `b` to the store, which owns it from then on. Returns -1
 * when the store refused it (queue full): `b` is freed and, if it came from
 * a session, is not acknowledged.
 */
int ingest_batch(struct collector *c, struct sample_batch *b, const struct check_result *r,
		 size_t nr);

/*
 * Feeds events (traps) of `site` to the alert engine. Events are never
 * stored, journaled or watched for silence: they happen once.
 */
void ingest_events(struct collector *c, const char *site, const struct event *ev, size_t n);

#endif
