/*
 * zipf: key popularity following Zipf's law, P(rank k) proportional to
 * 1 / k^s for k = 1..n, sampled by rejection-inversion (W. Hörmann and
 * G. Derflinger, "Rejection-inversion to generate variates from monotone
 * discrete distributions", ACM TOMACS 6(3), 1996).
 *
 * O(1) expected time per sample (fewer than 1.1 tries on average for any
 * s) and O(1) memory whatever n is, so 1M or 1G keys cost the same and
 * nothing is precomputed. The struct is read-only after zipf_init(), so
 * threads may share one, each with its own struct rng.
 */
#ifndef BENCH_ZIPF_H
#define BENCH_ZIPF_H

#include <stdint.h>

#include "base/rng.h"

struct zipf {
    uint64_t n;     /* number of ranks */
    double s;       /* skew exponent, >= 0 */
    double h_x1;    /* H(1.5) - 1: the top of the inverted range */
    double h_n;     /* H(n + 0.5): the bottom of the inverted range */
    double squeeze; /* accept at once when k - x is at most this */
};

/* Prepares z for n >= 1 ranks with skew s (0 <= s <= 100; s = 0 is
 * uniform). Returns 0, or -1 if an argument is out of range. */
int zipf_init(struct zipf *z, uint64_t n, double s);

/* A rank drawn from z, 0-based: 0 is the most popular. */
uint64_t zipf_sample(const struct zipf *z, struct rng *r);

#endif
