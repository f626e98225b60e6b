/*
 * history: the dashboard's last hour, one sample a second, in a ring that
 * overwrites its oldest sample (GET /history).
 *
 * Pure: no I/O, no clock, no lock. The admin thread owns the ring and feeds
 * it the cumulative counters it reads once a second (history_add()); a
 * sample holds the rates and percentiles of the interval since the one
 * before, so a counter cleared by `stats reset` in between gives a zero
 * interval rather than a negative one.
 */
#ifndef MESHCACHED_HISTORY_H
#define MESHCACHED_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/lathist.h"

#define HISTORY_LEN             3600 /* samples kept: an hour at one a second */
#define HISTORY_MIN_INTERVAL_MS 500  /* shorter: joins the next sample */

/* What the sampler reads: counters since start (or the last stats reset)
 * and gauges as they are now. */
struct history_input {
    uint64_t hits, misses;         /* get_hits, get_misses */
    uint64_t evictions;            /* the store's */
    uint64_t repaired;             /* read repairs, ae_received, handoff_received */
    uint64_t lat[LAT_BUCKETS + 1]; /* every command's durations, by bucket */
    uint64_t mem_used, mem_limit;  /* bytes */
    uint64_t items, connections;
};

/* One interval. A ratio or a percentile without any command is NaN. */
struct history_sample {
    int64_t t_ms; /* wall clock at the end of the interval */
    double ops;   /* commands per second */
    double hit_ratio;
    double p50_us, p99_us;
    double evictions; /* per second */
    double repaired;  /* per second */
    uint64_t mem_used, mem_limit, items, connections;
};

struct history {
    struct history_sample s[HISTORY_LEN];
    size_t next, n;            /* the slot the next sample takes; samples held */
    struct history_input prev; /* the last input, to subtract */
    int64_t prev_mono_ms;      /* when it was read (monotonic) */
    bool have_prev;
};

/* Empties h. */
void history_init(struct history *h);

/*
 * Adds the interval that ends with in, read at mono_ms (a monotonic clock,
 * for the rates) and wall_ms (the sample's time). The first call only
 * records in; a call less than HISTORY_MIN_INTERVAL_MS after the last
 * sample adds nothing (the next one covers its interval). Returns the
 * sample added, or NULL.
 */
const struct history_sample *history_add(struct history *h,
                                         const struct history_input *in, int64_t mono_ms,
                                         int64_t wall_ms);

/* The samples after since_ms (wall clock), oldest first: the index of the
 * first in *first (pass it to history_at()), the count returned. */
size_t history_since(const struct history *h, int64_t since_ms, size_t *first);

/* The i-th sample held, oldest first (i < h->n). */
const struct history_sample *history_at(const struct history *h, size_t i);

/* The q-quantile (0 < q <= 1) of a latency histogram of counts per lathist
 * bucket, in microseconds: linear inside the bucket it falls in (the +Inf
 * bucket reports the last bound). NaN when count is empty. */
double history_quantile_us(const uint64_t *count, double q);

#endif
