/*
 * hist: a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values (nanoseconds here, but any unit works) below 256 get a bucket each;
 * above that every power of two is split into 128 equal buckets, so a
 * bucket is at most 1/128 (0.8 %) of the values it holds. Values up to 2^42
 * (73 minutes in ns) are kept apart; larger ones share the last bucket. The
 * struct is fixed-size (about 37 KB) and never allocates, so recording is a
 * few instructions and no per-sample memory is kept.
 *
 * Not thread-safe: each thread records into its own and the results are
 * merged with hist_merge() once the threads are done.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS  7
#define HIST_SUB       (1u << HIST_SUB_BITS)
#define HIST_MAX_SHIFT 34
#define HIST_BUCKETS   ((HIST_MAX_SHIFT + 2) * HIST_SUB)

struct hist {
    uint64_t count;                /* values recorded */
    uint64_t min, max;             /* exact extremes; min is UINT64_MAX when empty */
    double sum;                    /* of all values, for the mean */
    uint64_t bucket[HIST_BUCKETS]; /* counts per log-linear bucket */
};

/* Empties h. */
void hist_init(struct hist *h);

/* Counts one value. */
void hist_record(struct hist *h, uint64_t v);

/* Adds every value counted in src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile pct (0 to 100): the upper edge of the bucket that
 * holds the ceil(pct/100 * count)-th smallest value, clipped to [min, max],
 * so it is never more than 0.8 % above the exact answer. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double pct);

/* The exact mean, 0 when empty. */
double hist_mean(const struct hist *h);

#endif
