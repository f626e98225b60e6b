/*
 * mctime: the server's coarse clock and memcached's expiry-time rules.
 *
 * Times inside the server are rel_time_t: seconds since a point a little
 * before the process started, so 0 can mean "never expires" and 1 means
 * "already expired". The maintenance thread calls mctime_tick(); every other
 * thread reads mctime_now() without locks (a relaxed atomic load).
 */
#ifndef MESHCACHED_MCTIME_H
#define MESHCACHED_MCTIME_H

#include <stdint.h>
#include <time.h>

typedef uint32_t rel_time_t;

/* Expiry values above this many seconds (30 days) are absolute unix times. */
#define MCTIME_MAX_DELTA (60 * 60 * 24 * 30)

/* Sets the epoch from the wall clock; call once before any thread starts. */
void mctime_init(void);

/* Re-reads the wall clock. Called by one thread only. */
void mctime_tick(void);

/* Current server time. */
rel_time_t mctime_now(void);

/* Unix time at which the server epoch began. */
time_t mctime_started(void);

/* Converts a client exptime (0, negative, relative or absolute) into a
 * rel_time_t: 0 for never, 1 for already expired. Pure given `now` and
 * `started` so that it can be unit-tested. */
rel_time_t mctime_from_exptime(int64_t exptime, rel_time_t now, time_t started);

/* Same, against the live clock. */
rel_time_t mctime_realtime(int64_t exptime);

/* Unix time for a rel_time_t (for `me` and stats). */
time_t mctime_to_unix(rel_time_t t);

/* Milliseconds of CLOCK_MONOTONIC: for deadlines and timeouts. */
uint64_t mctime_mono_ms(void);

/* Milliseconds since the unix epoch, from the wall clock. */
uint64_t mctime_wall_ms(void);

/* *ts = the wall clock ms milliseconds from now: the deadline argument of
 * pthread_cond_timedwait() on a default (CLOCK_REALTIME) condition. */
void mctime_deadline(struct timespec *ts, uint64_t ms);

#endif
