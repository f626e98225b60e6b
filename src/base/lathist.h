/*
 * lathist: per-command latency histograms, one per worker thread, for the
 * admin port's /metrics.
 *
 * Buckets are powers of two of microseconds, from 8 us to 2^20 us (about
 * 1.05 s), plus one for anything slower: log-spaced, and a bucket's index
 * is one count-leading-zeros away from a duration. Each worker owns one
 * struct lat_hist (inside its struct thread_stats) and is its only writer:
 * lat_record() is two relaxed load/store pairs, no locked instruction and
 * no lock. Readers on other threads sum the workers' histograms with
 * relaxed loads (lat_sum()); a sum may be a moment old but no count is
 * torn. `stats reset` clears them with the other counters (lat_reset());
 * an increment racing with it may survive, as for the counters.
 */
#ifndef MESHCACHED_LATHIST_H
#define MESHCACHED_LATHIST_H

#include <stddef.h>
#include <stdint.h>

#define LAT_MIN_SHIFT 3  /* the first bucket's bound: 2^3 us */
#define LAT_BUCKETS   18 /* finite buckets: 2^3 .. 2^20 us */

/* What a command is, for its histogram (its first word). */
enum lat_cmd {
    LAT_GET,    /* get gets gat gats mg */
    LAT_SET,    /* set add replace append prepend cas ms */
    LAT_DELETE, /* delete md */
    LAT_ARITH,  /* incr decr ma */
    LAT_TOUCH,  /* touch */
    LAT_OTHER,  /* everything else (stats, version, mn, flush_all ...) */
    LAT_NCMD,
};

/* Where a command was served. */
enum lat_path {
    LAT_LOCAL,     /* here (with its other owners when it replicates) */
    LAT_FORWARDED, /* by the key's owner(s) elsewhere */
    LAT_NPATH,
};

/* One histogram: counts per bucket (not cumulative; [LAT_BUCKETS] is the
 * +Inf bucket) and the sum of the durations. */
struct lat_cell {
    uint64_t count[LAT_BUCKETS + 1];
    uint64_t sum_ns;
};

struct lat_hist {
    struct lat_cell cell[LAT_NCMD][LAT_NPATH];
};

/* The bucket of a duration of ns nanoseconds: the first i with ns <=
 * lat_bound_ns(i), or LAT_BUCKETS when slower than the last bound. */
unsigned lat_bucket(uint64_t ns);

/* The upper bound of bucket i < LAT_BUCKETS, in nanoseconds. */
uint64_t lat_bound_ns(unsigned i);

/* The class of the command line line[0..len). */
enum lat_cmd lat_classify(const char *line, size_t len);

/* The label of a class or a path ("get", "local" ...). */
const char *lat_cmd_name(enum lat_cmd c);
const char *lat_path_name(enum lat_path p);

/* CLOCK_MONOTONIC in nanoseconds (a vDSO call, no syscall). */
uint64_t lat_now_ns(void);

/* Adds one duration to h; only h's owning thread may call it. */
void lat_record(struct lat_hist *h, enum lat_cmd c, enum lat_path p, uint64_t ns);

/* Zeroes h (relaxed stores): `stats reset`, from any thread. */
void lat_reset(struct lat_hist *h);

/* Sums n histograms (relaxed loads) into out. */
void lat_sum(const struct lat_hist *const *all, int n, struct lat_hist *out);

#endif
