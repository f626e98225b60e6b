/*
 * store_internal: what store.c (the table, LRU, eviction, replicas' states)
 * and store_scan.c (walks of the table: the expiry sampler, anti-entropy's
 * walks) share: the shard and store layouts and the few do_ functions both
 * call. Not for other modules: they use store.h.
 *
 * Locks: as store.h says; every do_ function here expects the caller to
 * hold the shard's lock.
 */
#ifndef MESHCACHED_STORE_INTERNAL_H
#define MESHCACHED_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/item.h"
#include "store/store.h"

#define SAMPLE_BUCKETS 64 /* buckets examined per shard per sampler pass */

struct htab {
    struct item **b; /* buckets */
    uint32_t mask;   /* bucket count - 1 */
};

struct store_shard {
    pthread_mutex_t lock;
    struct store *st;
    struct htab ht[2];     /* ht[1] is the bigger table while growing */
    bool growing;          /* moving buckets from ht[0] to ht[1] */
    uint32_t rehash_idx;   /* next ht[0] bucket to move */
    uint32_t count;        /* linked items, tombstones included */
    uint32_t tombs;        /* linked tombstones */
    uint32_t nexp;         /* linked items with an expiry time */
    uint32_t sweep_epoch;  /* flush epoch when the current sampler sweep began */
    uint32_t swept_epoch;  /* flush epoch a whole sampler sweep has covered */
    uint32_t sample_pos;   /* the sampler's cursor into ht[0] */
    struct item *lru_head; /* most recently used */
    struct item *lru_tail; /* least recently used */
    /* counters, under lock */
    uint64_t bytes;
    uint64_t table_bytes;
    uint64_t total_items;
    uint64_t evictions;
    uint64_t evicted_nonzero;
    uint64_t evicted_unfetched;
    uint64_t expired_unfetched;
    uint64_t reclaimed;
} __attribute__((aligned(64)));

/* What eviction must not free: the key an operation is about to join with
 * or count from (append, prepend, incr). */
struct spare {
    const char *key;
    size_t nkey;
    uint32_t hv;
};

struct store {
    struct store_config cfg;
    struct store_observer ob; /* set before other threads use the store */
    /* atomic: each shard's LRU tail as tail_key() orders it, UINT64_MAX for
     * an empty shard; written under the shard's lock when the tail changes,
     * read without locks by evict_one() to pick the least recently used
     * tail of all shards (a dense array: one scan reads 32 cache lines) */
    uint64_t tail_keys[STORE_SHARDS];
    uint64_t mem_used;      /* atomic: item + table bytes charged */
    uint64_t cas;           /* atomic: last CAS value handed out */
    uint64_t outofmemory;   /* atomic */
    rel_time_t oldest_live; /* atomic: flush_all deadline, 0 = none */
    uint64_t oldest_cas;    /* atomic: items below this CAS were flushed */
    uint32_t flush_epoch;   /* atomic: flush_all calls so far */
    struct store_shard shards[STORE_SHARDS];
};

static inline bool item_flushed(const struct store *st, const struct item *it,
                                rel_time_t now)
{
    rel_time_t live = __atomic_load_n(&st->oldest_live, __ATOMIC_RELAXED);
    uint64_t ocas = __atomic_load_n(&st->oldest_cas, __ATOMIC_RELAXED);

    if (live == 0 || live > now)
        return false;
    return it->time <= live || (ocas != 0 && it->cas < ocas);
}

static inline bool item_expired(const struct item *it, rel_time_t now)
{
    return it->exptime != 0 && it->exptime <= now;
}

/* Frees an expired or flushed item, counting it as reclaimed. */
void do_store_reclaim(struct store_shard *sh, struct item *it);

/* Moves up to `buckets` buckets of a growing table to the bigger one. */
void do_store_rehash_step(struct store_shard *sh, int buckets);

#endif
