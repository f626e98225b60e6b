/* store_fixture.h: what check_store and check_store_repl share: the store
 * under test (st), made plain or replicating, and set/get shortcuts that
 * write, and check on every read, a value derived from the key. Each Check
 * program is one file that includes this once, so everything here is
 * static: every program has its own st. */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/item.h"
#include "store/store.h"

static struct store *st;

/* ck_assert records every passing check through a pipe to the runner; in
 * loops of many thousands that is most of the run time, so loops use this. */
#define REQUIRE(cond, ...)                                                               \
    do {                                                                                 \
        if (!(cond))                                                                     \
            ck_abort_msg(__VA_ARGS__);                                                   \
    } while (0)

#define REPL_TAG 5   /* a replicating store's version tag */
#define REPL_TTL 600 /* and its tombstones' ttl, seconds */

/* Replaces st with a new store. A replicating node's store (replicating)
 * leaves tombstones on delete and makes CAS values hybrid logical clock
 * versions. */
static inline void make_store_with(uint64_t maxbytes, uint32_t item_size_max,
                                   bool evict_to_free, bool replicating)
{
    struct store_config cfg = {
        .maxbytes = maxbytes,
        .item_size_max = item_size_max,
        .evict_to_free = evict_to_free,
        .hlc = replicating,
        .version_tag = replicating ? REPL_TAG : 0,
        .tombstones = replicating,
        .tombstone_ttl = replicating ? REPL_TTL : 0,
    };

    store_destroy(st);
    st = NULL;
    ck_assert_int_eq(store_create(&st, &cfg), 0);
    ck_assert_ptr_nonnull(st);
}

static inline void make_store(uint64_t maxbytes, uint32_t item_size_max,
                              bool evict_to_free)
{
    make_store_with(maxbytes, item_size_max, evict_to_free, false);
}

static inline void teardown(void)
{
    store_destroy(st);
    st = NULL;
}

static inline struct store_stats stats(void)
{
    struct store_stats s;

    store_get_stats(st, &s);
    return s;
}

/* The accounting: the limit is charged exactly the segments, the large
 * items and the tables, and the linked items fit in what is charged. */
static inline void check_accounting(const struct store_stats *s)
{
    ck_assert_uint_eq(s->mem_used, s->seg_bytes + s->large_bytes + s->table_bytes);
    ck_assert_uint_le(s->bytes, s->seg_bytes + s->large_bytes);
}

/* What items hold: linked ones, and the room promised to or taken by
 * items being written (back where it was once they are released). */
static inline uint64_t held_bytes(const struct store_stats *s)
{
    return s->bytes + s->reserved + s->large_bytes;
}

/* Runs the expiry sampler until a pass frees nothing, for at most
 * max_passes passes; returns how many entries it freed. */
static inline uint64_t sample_all(int max_passes)
{
    uint64_t freed = 0, n;

    for (int pass = 0; pass < max_passes && (n = store_sample_expired(st, 1000000)) != 0;
         pass++)
        freed += n;
    return freed;
}

/* The value of key: a byte pattern that depends on the key and the length,
 * so that a value served for the wrong key or cut short is noticed. */
static inline void fill_value(struct item *it, const char *key, size_t vlen)
{
    char *v = item_value(it);
    size_t nkey = strlen(key);

    for (size_t i = 0; i < vlen; i++)
        v[i] = (char)('a' + (key[i % nkey] + i + vlen) % 26);
    memcpy(v + vlen, "\r\n", 2);
}

/* Whether v[0..vlen) is the value fill_value() writes for key. */
static inline bool pattern_ok(const char *v, size_t vlen, const char *key)
{
    size_t nkey = strlen(key);

    for (size_t i = 0; i < vlen; i++)
        if (v[i] != (char)('a' + (key[i % nkey] + i + vlen) % 26))
            return false;
    return true;
}

static inline bool value_ok(struct item *it, const char *key)
{
    size_t vlen = it->nbytes - 2, nkey = strlen(key);
    const char *v = item_value(it);

    if (it->nkey != nkey || memcmp(item_key(it), key, nkey) != 0)
        return false;
    return pattern_ok(v, vlen, key) && memcmp(v + vlen, "\r\n", 2) == 0;
}

static inline struct item *alloc_item(const char *key, size_t vlen, rel_time_t exptime,
                                      enum store_alloc_err *err)
{
    size_t nkey = strlen(key);
    struct item *it = store_alloc(st, key, nkey, store_hash(key, nkey), 7, exptime,
                                  (uint32_t)vlen + 2, err);

    if (it != NULL)
        fill_value(it, key, vlen);
    return it;
}

/* set: allocate and link, replacing what is there. False when the store
 * refused the allocation. */
static inline bool put_exp(const char *key, size_t vlen, rel_time_t exptime)
{
    enum store_alloc_err err;
    struct item *it = alloc_item(key, vlen, exptime, &err), *old;
    struct store_shard *sh;

    if (it == NULL)
        return false;
    ck_assert_int_eq(err, STORE_ALLOC_OK);
    sh = store_lock(st, store_item_hash(it));
    old = do_store_find(sh, key, strlen(key), store_item_hash(it), NULL);
    do_store_link(sh, it, old);
    store_unlock(sh);
    return true;
}

static inline bool put(const char *key, size_t vlen)
{
    return put_exp(key, vlen, 0);
}

/* Looks key up (without bumping it); checks the value when found. */
static inline bool has_why(const char *key, enum store_miss *why)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, why);
    bool ok = it == NULL || value_ok(it, key);

    store_unlock(sh);
    REQUIRE(ok, "wrong value for %s", key);
    return it != NULL;
}

static inline bool has(const char *key)
{
    return has_why(key, NULL);
}

#define KEYLEN 32

/* n distinct keys that all hash to `shard`, so that eviction order within
 * one LRU list can be observed. */
static inline char (*keys_in_shard(uint32_t shard, int n))[KEYLEN]
{
    char(*keys)[KEYLEN] = calloc((size_t)n, KEYLEN);
    int found = 0;

    ck_assert_ptr_nonnull(keys);
    for (unsigned i = 0; found < n; i++) {
        char k[KEYLEN];
        int len = snprintf(k, sizeof(k), "shard-key-%u", i);
        if ((store_hash(k, (size_t)len) & (STORE_SHARDS - 1)) == shard)
            memcpy(keys[found++], k, (size_t)len + 1);
    }
    return keys;
}

/* Stores 4000-byte values as "<prefix>-0", "<prefix>-1", ... until the store
 * (made without eviction) refuses an allocation, with *err saying why;
 * returns how many it stored. */
static inline int fill_until_full(const char *prefix, enum store_alloc_err *err)
{
    char key[KEYLEN];
    struct item *it;

    for (int n = 0;; n++) {
        snprintf(key, sizeof(key), "%s-%d", prefix, n);
        it = alloc_item(key, 4000, 0, err);
        if (it == NULL)
            return n;
        ck_assert_int_lt(n, 1000);
        store_release(st, it);
        ck_assert(put(key, 4000));
    }
}

#endif /* STORE_FIXTURE_H */
