/*
 * stats: per-thread counters, summed on demand, and the text of the `stats`
 * command family.
 *
 * Each worker owns one struct thread_stats and is its only writer
 * (STATS_ADD, a relaxed load and store: no locked instruction on the hot
 * path); readers on other threads sum them with relaxed loads, so a sum may
 * be a moment old but is never torn. Connection counts are process-wide
 * atomics.
 */
#ifndef MESHCACHED_STATS_H
#define MESHCACHED_STATS_H

#include <stdint.h>

#include "base/buf.h"
#include "base/lathist.h"

/* X-macros of every per-thread counter: the ones memcached's `stats`
 * prints, in its order, then meshcached's own. Laid out by hand:
 * clang-format does not settle on one layout for them. */
/* clang-format off */
#define THREAD_STATS_MEMCACHED(X) \
    X(cmd_get) \
    X(cmd_set) \
    X(cmd_flush) \
    X(cmd_touch) \
    X(cmd_meta) \
    X(get_hits) \
    X(get_misses) \
    X(get_expired) \
    X(get_flushed) \
    X(delete_misses) \
    X(delete_hits) \
    X(incr_misses) \
    X(incr_hits) \
    X(decr_misses) \
    X(decr_hits) \
    X(cas_misses) \
    X(cas_hits) \
    X(cas_badval) \
    X(touch_hits) \
    X(touch_misses) \
    X(store_too_large) \
    X(store_no_memory) \
    X(auth_cmds) \
    X(auth_errors) \
    X(idle_kicks) \
    X(bytes_read) \
    X(bytes_written)
#define THREAD_STATS_FIELDS(X) \
    THREAD_STATS_MEMCACHED(X) \
    X(conn_yields) \
    X(reply_batches) \
    X(reply_batch_sends) \
    X(protocol_errors) \
    X(lines_too_long) \
    X(lease_wins) \
    X(lease_losses) \
    X(forwarded) \
    X(forward_errors) \
    X(write_failovers) \
    X(read_failovers) \
    X(late_writes) \
    X(repl_applied) \
    X(repl_writes) \
    X(repl_write_failures) \
    X(quorum_failures) \
    X(read_repairs) \
    X(hints_stored) \
    X(hints_delivered) \
    X(hints_dropped) \
    X(dual_reads) \
    X(dual_read_hits) \
    X(collapsed) \
    X(near_hits) \
    X(near_fills) \
    X(near_invalidations)
/* clang-format on */

struct thread_stats {
#define STATS_FIELD(name) uint64_t name;
    THREAD_STATS_FIELDS(STATS_FIELD)
#undef STATS_FIELD
    /* per-command latencies (lathist.h): not summed by stats_sum() (the
     * admin port sums them with lat_sum()), cleared by stats_reset_thread() */
    struct lat_hist lat;
};

#define STATS_ADD(ts, field, n)                                                          \
    __atomic_store_n(&(ts)->field,                                                       \
                     __atomic_load_n(&(ts)->field, __ATOMIC_RELAXED) + (n),              \
                     __ATOMIC_RELAXED)
#define STATS_INCR(ts, field) STATS_ADD(ts, field, 1)

/* A counter that several threads add to (not a thread's own): one atomic
 * add, and a read of its current value. */
static inline void stats_count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline uint64_t stats_counted(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Process-wide connection counters. */
struct conn_stats {
    uint64_t curr_connections;
    uint64_t total_connections;
    uint64_t rejected_connections;
    uint64_t connection_structures;
};

extern struct conn_stats conn_stats;

/* Sums n thread stats into out. */
void stats_sum(struct thread_stats *const *all, int n, struct thread_stats *out);

/* Zeroes a thread's counters (stats reset); safe against its writer only in
 * the sense that a concurrent increment may survive the reset. */
void stats_reset_thread(struct thread_stats *ts);

/* Appends "STAT name value\r\n". */
void stats_line(struct buf *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
