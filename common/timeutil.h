/*
 * timeutil.h - the two clocks Vakt uses: monotonic for scheduling and
 * timeouts, wall-clock only as the timestamp of a sample or event.
 */
#ifndef VAKT_TIMEUTIL_H
#define VAKT_TIMEUTIL_H

#include <stdint.h>
#include <sys/time.h>

double mono_now(void);      /* seconds, CLOCK_MONOTONIC */
uint64_t mono_now_ms(void); /* milliseconds, CLOCK_MONOTONIC */
int64_t wall_now_ms(void);  /* milliseconds since the epoch, CLOCK_REALTIME */
void ms_to_timeval(uint64_t ms, struct timeval *tv);

#endif
