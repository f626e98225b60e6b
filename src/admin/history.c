/* history: a ring of per-second samples, and quantiles of a histogram. */
#include "admin/history.h"

#include <math.h>
#include <string.h>

void history_init(struct history *h)
{
    memset(h, 0, sizeof(*h));
}

/* cur - prev, or cur when the counter went back (a stats reset). */
static uint64_t delta(uint64_t cur, uint64_t prev)
{
    return cur >= prev ? cur - prev : cur;
}

double history_quantile_us(const uint64_t *count, double q)
{
    uint64_t total = 0, seen = 0;
    double rank;

    for (unsigned i = 0; i <= LAT_BUCKETS; i++)
        total += count[i];
    if (total == 0)
        return NAN;
    rank = q * (double)total;
    for (unsigned i = 0; i <= LAT_BUCKETS; i++) {
        double lo, hi;
        if (count[i] == 0 || (double)(seen + count[i]) < rank) {
            seen += count[i];
            continue;
        }
        if (i == LAT_BUCKETS)
            return (double)lat_bound_ns(LAT_BUCKETS - 1) / 1000.0;
        lo = i == 0 ? 0.0 : (double)lat_bound_ns(i - 1);
        hi = (double)lat_bound_ns(i);
        return (lo + (hi - lo) * (rank - (double)seen) / (double)count[i]) / 1000.0;
    }
    return (double)lat_bound_ns(LAT_BUCKETS - 1) / 1000.0; /* rank rounding */
}

const struct history_sample *history_add(struct history *h,
                                         const struct history_input *in, int64_t mono_ms,
                                         int64_t wall_ms)
{
    struct history_sample *s;
    uint64_t lat[LAT_BUCKETS + 1], ops = 0, hits, gets;
    double secs;

    if (!h->have_prev) {
        h->prev = *in; /* the first reading: nothing to rate yet */
        h->prev_mono_ms = mono_ms;
        h->have_prev = true;
        return NULL;
    }
    /* a timer that fired late fires the next one early: a short interval
     * joins the next instead of making a noisy sample of its own */
    if (mono_ms < h->prev_mono_ms + HISTORY_MIN_INTERVAL_MS)
        return NULL;
    secs = (double)(mono_ms - h->prev_mono_ms) / 1000.0;
    for (unsigned i = 0; i <= LAT_BUCKETS; i++) {
        lat[i] = delta(in->lat[i], h->prev.lat[i]);
        ops += lat[i];
    }
    hits = delta(in->hits, h->prev.hits);
    gets = hits + delta(in->misses, h->prev.misses);
    s = &h->s[h->next];
    *s = (struct history_sample){
        .t_ms = wall_ms,
        .ops = (double)ops / secs,
        .hit_ratio = gets > 0 ? (double)hits / (double)gets : NAN,
        .p50_us = history_quantile_us(lat, 0.50),
        .p99_us = history_quantile_us(lat, 0.99),
        .evictions = (double)delta(in->evictions, h->prev.evictions) / secs,
        .repaired = (double)delta(in->repaired, h->prev.repaired) / secs,
        .mem_used = in->mem_used,
        .mem_limit = in->mem_limit,
        .items = in->items,
        .connections = in->connections,
    };
    h->next = (h->next + 1) % HISTORY_LEN;
    if (h->n < HISTORY_LEN)
        h->n++;
    h->prev = *in;
    h->prev_mono_ms = mono_ms;
    return s;
}

const struct history_sample *history_at(const struct history *h, size_t i)
{
    return &h->s[(h->next + HISTORY_LEN - h->n + i) % HISTORY_LEN];
}

size_t history_since(const struct history *h, int64_t since_ms, size_t *first)
{
    size_t lo = 0, hi = h->n;

    /* samples are in time order (the wall clock may step back: then a
     * binary search still ends somewhere sane) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (history_at(h, mid)->t_ms <= since_ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    return h->n - lo;
}
