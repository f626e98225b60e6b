/* check_store: the sharded table, LRU eviction under the memory limit,
 * memory accounting, expiry, flush, incremental growth, thread safety, and
 * replication's tombstones, versions and newest-wins apply. */
#include <malloc.h>
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "store/item.h"
#include "base/mctime.h"
#include "store/store.h"
#include "base/version.h"

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
static void make_store_with(uint64_t maxbytes, uint32_t item_size_max, bool evict_to_free,
                            bool replicating)
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

static void make_store(uint64_t maxbytes, uint32_t item_size_max, bool evict_to_free)
{
    make_store_with(maxbytes, item_size_max, evict_to_free, false);
}

static void setup(void)
{
    mctime_init();
    make_store(1024 * 1024, 64 * 1024, true);
}

static void teardown(void)
{
    store_destroy(st);
    st = NULL;
}

static struct store_stats stats(void)
{
    struct store_stats s;

    store_get_stats(st, &s);
    return s;
}

/* Checks that the store holds items live items and tombs tombstones and,
 * unless base is NULL, that its memory is base's plus their bytes; returns
 * the stats it checked. */
static struct store_stats assert_holds(const struct store_stats *base, uint64_t items,
                                       uint64_t tombs)
{
    struct store_stats s = stats();

    ck_assert_uint_eq(s.curr_items, items);
    ck_assert_uint_eq(s.tombstones, tombs);
    if (base != NULL)
        ck_assert_uint_eq(s.mem_used, base->mem_used + s.bytes);
    return s;
}

/* Runs the expiry sampler until a pass frees nothing, for at most
 * max_passes passes; returns how many entries it freed. */
static uint64_t sample_all(int max_passes)
{
    uint64_t freed = 0, n;

    for (int pass = 0; pass < max_passes && (n = store_sample_expired(st, 1000000)) != 0;
         pass++)
        freed += n;
    return freed;
}

/* The value of key: a byte pattern that depends on the key and the length,
 * so that a value served for the wrong key or cut short is noticed. */
static void fill_value(struct item *it, const char *key, size_t vlen)
{
    char *v = item_value(it);
    size_t nkey = strlen(key);

    for (size_t i = 0; i < vlen; i++)
        v[i] = (char)('a' + (key[i % nkey] + i + vlen) % 26);
    memcpy(v + vlen, "\r\n", 2);
}

/* Whether v[0..vlen) is the value fill_value() writes for key. */
static bool pattern_ok(const char *v, size_t vlen, const char *key)
{
    size_t nkey = strlen(key);

    for (size_t i = 0; i < vlen; i++)
        if (v[i] != (char)('a' + (key[i % nkey] + i + vlen) % 26))
            return false;
    return true;
}

static bool value_ok(struct item *it, const char *key)
{
    size_t vlen = it->nbytes - 2, nkey = strlen(key);
    const char *v = item_value(it);

    if (it->nkey != nkey || memcmp(item_key(it), key, nkey) != 0)
        return false;
    return pattern_ok(v, vlen, key) && memcmp(v + vlen, "\r\n", 2) == 0;
}

static struct item *alloc_item(const char *key, size_t vlen, rel_time_t exptime,
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
static bool put_exp(const char *key, size_t vlen, rel_time_t exptime)
{
    enum store_alloc_err err;
    struct item *it = alloc_item(key, vlen, exptime, &err), *old;
    struct store_shard *sh;

    if (it == NULL)
        return false;
    ck_assert_int_eq(err, STORE_ALLOC_OK);
    sh = store_lock(st, it->hv);
    old = do_store_find(sh, key, strlen(key), it->hv, NULL);
    do_store_link(sh, it, old);
    store_unlock(sh);
    return true;
}

static bool put(const char *key, size_t vlen)
{
    return put_exp(key, vlen, 0);
}

/* Looks key up (without bumping it); checks the value when found. */
static bool has_why(const char *key, enum store_miss *why)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, why);
    bool ok = it == NULL || value_ok(it, key);

    store_unlock(sh);
    REQUIRE(ok, "wrong value for %s", key);
    return it != NULL;
}

static bool has(const char *key)
{
    return has_why(key, NULL);
}

static bool del(const char *key)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, NULL);

    if (it != NULL)
        do_store_unlink(sh, it);
    store_unlock(sh);
    return it != NULL;
}

/* A read that counts as a use (a get). */
static void touch(const char *key)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, NULL);

    ck_assert_ptr_nonnull(it);
    it->iflags |= ITEM_FETCHED;
    do_store_bump(sh, it);
    store_unlock(sh);
}

#define KEYLEN 32

/* n distinct keys that all hash to `shard`, so that eviction order within
 * one LRU list can be observed. */
static char (*keys_in_shard(uint32_t shard, int n))[KEYLEN]
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
static int fill_until_full(const char *prefix, enum store_alloc_err *err)
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

/* ---- basics ---- */

START_TEST(test_store_finds_a_linked_item_by_exact_key)
{
    uint32_t hv = store_hash("foo", 3);
    struct store_shard *sh;
    struct item *it;
    enum store_miss why = STORE_MISS_EXPIRED;

    ck_assert(put("foo", 10));
    sh = store_lock(st, hv);
    it = do_store_find(sh, "foo", 3, hv, &why);
    ck_assert_ptr_nonnull(it);
    ck_assert_int_eq(why, STORE_MISS_NONE);
    ck_assert_uint_eq(it->nkey, 3);
    ck_assert_uint_eq(it->nbytes, 12);
    ck_assert_uint_eq(it->flags, 7);
    ck_assert_uint_eq(it->exptime, 0);
    ck_assert_uint_eq(it->hv, hv);
    ck_assert_uint_ne(it->cas, 0);
    ck_assert(it->iflags & ITEM_LINKED);
    ck_assert(value_ok(it, "foo"));
    /* a prefix or an extension of the key is another key */
    ck_assert_ptr_null(do_store_find(sh, "fo", 2, store_hash("fo", 2), &why));
    ck_assert_int_eq(why, STORE_MISS_NONE);
    store_unlock(sh);
    ck_assert(!has("fooo"));
    ck_assert(!has("FOO"));
    ck_assert_uint_eq(stats().curr_items, 1);
    ck_assert_uint_eq(stats().total_items, 1);
}
END_TEST

START_TEST(test_store_finds_binary_keys_and_keys_of_maximum_length)
{
    char key[KEY_MAX_LENGTH + 1];
    char bin[] = {'a', 0, 'b', ' ', '\r', '\n'};
    enum store_alloc_err err;
    struct item *it;
    struct store_shard *sh;
    uint32_t hv = store_hash(bin, sizeof(bin));

    memset(key, 'k', KEY_MAX_LENGTH);
    key[KEY_MAX_LENGTH] = '\0';
    ck_assert(put(key, 5));
    ck_assert(has(key));

    it = store_alloc(st, bin, sizeof(bin), hv, 0, 0, 3, &err);
    ck_assert_ptr_nonnull(it);
    memcpy(item_value(it), "x\r\n", 3);
    sh = store_lock(st, hv);
    do_store_link(sh, it, NULL);
    ck_assert_ptr_eq(do_store_find(sh, bin, sizeof(bin), hv, NULL), it);
    ck_assert_ptr_null(do_store_find(sh, bin, 1, store_hash(bin, 1), NULL));
    store_unlock(sh);
}
END_TEST

START_TEST(test_store_link_replaces_and_frees_the_old_item)
{
    uint32_t hv = store_hash("k", 1), nbytes, charged;
    struct store_shard *sh;
    struct item *it;
    uint64_t cas1, cas2;
    struct store_stats s;

    ck_assert(put("k", 100));
    sh = store_lock(st, hv);
    cas1 = do_store_find(sh, "k", 1, hv, NULL)->cas;
    store_unlock(sh);
    ck_assert(put("k", 3000));
    sh = store_lock(st, hv);
    it = do_store_find(sh, "k", 1, hv, NULL);
    cas2 = it->cas;
    nbytes = it->nbytes;
    charged = malloc_usable_size(it) + sizeof(size_t); /* what the store charges */
    store_unlock(sh);
    s = stats();
    ck_assert_uint_eq(nbytes, 3002);
    ck_assert_uint_eq(s.bytes, charged);
    ck_assert_uint_ge(charged, item_size(1, 3002));
    ck_assert_uint_gt(cas2, cas1);
    ck_assert_uint_eq(s.curr_items, 1);
    ck_assert_uint_eq(s.total_items, 2);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
}
END_TEST

START_TEST(test_store_cas_values_increase_and_link_cas_keeps_an_explicit_one)
{
    enum store_alloc_err err;
    struct item *it = alloc_item("e", 1, 0, &err);
    uint32_t hv = it->hv;
    struct store_shard *sh;
    uint64_t a = store_next_cas(st), b = store_next_cas(st);

    ck_assert_uint_ne(a, 0);
    ck_assert_uint_gt(b, a);
    it->cas = 424242;
    sh = store_lock(st, hv);
    do_store_link_cas(sh, it, NULL);
    ck_assert_uint_eq(do_store_find(sh, "e", 1, hv, NULL)->cas, 424242);
    do_store_new_cas(sh, it);
    ck_assert_uint_gt(it->cas, b);
    ck_assert_uint_ne(it->cas, 424242);
    store_unlock(sh);
}
END_TEST

START_TEST(test_store_delete_unlinks_and_frees)
{
    struct store_stats before = stats(), after;

    ck_assert(put("gone", 50));
    ck_assert(del("gone"));
    ck_assert(!has("gone"));
    ck_assert(!del("gone"));
    after = stats();
    ck_assert_uint_eq(after.curr_items, 0);
    ck_assert_uint_eq(after.bytes, 0);
    ck_assert_uint_eq(after.mem_used, before.mem_used);
}
END_TEST

START_TEST(test_store_release_returns_the_memory_of_an_unlinked_item)
{
    struct store_stats before = stats();
    enum store_alloc_err err;
    struct item *it = alloc_item("tmp", 5000, 0, &err);

    ck_assert_ptr_nonnull(it);
    ck_assert_uint_ge(stats().mem_used, before.mem_used + 5000);
    /* an unlinked item is charged but not counted as stored */
    ck_assert_uint_eq(stats().curr_items, 0);
    ck_assert_uint_eq(stats().bytes, 0);
    store_release(st, it);
    ck_assert_uint_eq(stats().mem_used, before.mem_used);
    store_release(st, NULL);
    ck_assert_uint_eq(stats().mem_used, before.mem_used);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_store_refuses_values_larger_than_item_size_max)
{
    enum store_alloc_err err = STORE_ALLOC_OK;
    char key[KEY_MAX_LENGTH + 2];
    struct item *it;

    make_store(1024 * 1024, 1000, true);
    ck_assert_ptr_null(
        store_alloc(st, "big", 3, store_hash("big", 3), 0, 0, 1000 + 3, &err));
    ck_assert_int_eq(err, STORE_ALLOC_TOO_LARGE);
    ck_assert_ptr_null(
        store_alloc(st, "big", 3, store_hash("big", 3), 0, 0, UINT32_MAX, &err));
    ck_assert_int_eq(err, STORE_ALLOC_TOO_LARGE);
    /* a length that cannot even hold "\r\n" */
    ck_assert_ptr_null(store_alloc(st, "big", 3, store_hash("big", 3), 0, 0, 1, &err));
    ck_assert_int_eq(err, STORE_ALLOC_TOO_LARGE);
    /* a key over 250 bytes */
    memset(key, 'k', sizeof(key));
    ck_assert_ptr_null(store_alloc(st, key, KEY_MAX_LENGTH + 1, 1, 0, 0, 3, &err));
    ck_assert_int_eq(err, STORE_ALLOC_TOO_LARGE);
    /* too large is not out of memory */
    ck_assert_uint_eq(stats().outofmemory, 0);

    it = store_alloc(st, "fits", 4, store_hash("fits", 4), 0, 0, 1000 + 2, &err);
    ck_assert_ptr_nonnull(it);
    ck_assert_int_eq(err, STORE_ALLOC_OK);
    store_release(st, it);
    it = store_alloc(st, "empty", 5, store_hash("empty", 5), 0, 0, 2, &err);
    ck_assert_ptr_nonnull(it);
    store_release(st, it);
}
END_TEST

START_TEST(test_store_never_exceeds_the_memory_limit_while_evicting)
{
    const uint64_t limit = 1024 * 1024;
    uint32_t x = 1;
    struct store_stats s;
    char key[KEYLEN];

    for (int i = 0; i < 5000; i++) {
        x = x * 1664525u + 1013904223u;
        snprintf(key, sizeof(key), "fill-%d", i);
        REQUIRE(put(key, 100 + (x >> 8) % 3000), "put %s", key);
        s = stats();
        REQUIRE(s.mem_used <= limit, "mem_used %llu > limit after %d inserts",
                (unsigned long long)s.mem_used, i);
    }
    s = stats();
    ck_assert_uint_gt(s.evictions, 0);
    ck_assert_uint_gt(s.curr_items, 100);
    ck_assert_uint_eq(s.curr_items + s.evictions, 5000);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
    /* the newest item always survives its own insertion */
    ck_assert(has("fill-4999"));
    ck_assert_uint_eq(s.outofmemory, 0);
}
END_TEST

START_TEST(test_store_evicts_least_recently_used_first)
{
    char(*k)[KEYLEN] = keys_in_shard(17, 400);
    struct store_stats s;
    int i;

    /* a and b are the oldest; a is then read, which makes b the oldest */
    ck_assert(put(k[0], 4000));
    ck_assert(put(k[1], 4000));
    touch(k[0]);
    for (i = 2; stats().evictions == 0; i++) {
        ck_assert_int_lt(i, 400);
        ck_assert(put(k[i], 4000));
    }
    ck_assert_msg(!has(k[1]), "the least recently used item survived");
    ck_assert_msg(has(k[0]), "a recently read item was evicted first");
    ck_assert(has(k[2]));

    /* next goes a (read before any filler was stored), then the fillers in
     * the order they were stored. How many puts that takes depends on the
     * allocator's size classes (a finished table growth frees memory too),
     * so put until each one goes and check who is still there. */
    while (has(k[0])) {
        ck_assert_int_lt(i, 400);
        ck_assert(put(k[i++], 4000));
    }
    ck_assert(has(k[2]));
    while (has(k[2])) {
        ck_assert_int_lt(i, 400);
        ck_assert(put(k[i++], 4000));
    }
    ck_assert(has(k[3]));

    s = stats();
    ck_assert_uint_ge(s.evictions, 3);
    /* of the evicted (b, a, k[2] and any filler a table growth made room
     * by evicting) only a was ever read */
    ck_assert_uint_eq(s.evicted_unfetched, s.evictions - 1);
    ck_assert_uint_eq(s.evicted_nonzero, 0);
    free(k);
}
END_TEST

START_TEST(test_store_an_overwrite_counts_as_a_use_for_the_lru)
{
    char(*k)[KEYLEN] = keys_in_shard(3, 400);
    int i;

    ck_assert(put(k[0], 4000));
    ck_assert(put(k[1], 4000));
    ck_assert(put(k[0], 4000)); /* set again: now the newest */
    for (i = 2; stats().evictions == 0; i++)
        ck_assert(put(k[i], 4000));
    ck_assert(!has(k[1]));
    ck_assert(has(k[0]));
    free(k);
}
END_TEST

START_TEST(test_store_prefers_reclaiming_an_expired_item_to_evicting_a_live_one)
{
    char(*k)[KEYLEN] = keys_in_shard(9, 400);
    struct store_stats s;
    int i;

    /* k[0] is the LRU tail and live; k[1] just above it is expired */
    ck_assert(put(k[0], 4000));
    ck_assert(put_exp(k[1], 4000, 1));
    for (i = 2; stats().reclaimed == 0 && stats().evictions == 0; i++)
        ck_assert(put(k[i], 4000));
    s = stats();
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_eq(s.reclaimed, 1);
    ck_assert_uint_eq(s.expired_unfetched, 1);
    ck_assert(has(k[0]));
    free(k);
}
END_TEST

START_TEST(test_store_evicts_mostly_the_oldest_items_across_shards)
{
    char key[KEYLEN];
    int n, extra, old_gone = 0, young_gone = 0;

    make_store(4 * 1024 * 1024, 64 * 1024, true);
    for (n = 0; stats().evictions == 0; n++) {
        snprintf(key, sizeof(key), "key%d", n);
        ck_assert(put(key, 1000));
    }
    /* one key read just now must outlive a 10% turnover */
    touch("key0");
    extra = n / 10;
    for (int i = 0; i < extra; i++) {
        snprintf(key, sizeof(key), "new%d", i);
        ck_assert(put(key, 1000));
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        if (!has(key))
            *(i < n / 2 ? &old_gone : &young_gone) += 1;
    }
    /* LRU lists are per shard, so the order is approximate; still the
     * evicted items must come from the older half almost exclusively */
    ck_assert_int_ge(old_gone + young_gone, extra);
    ck_assert_msg(young_gone * 20 <= old_gone + young_gone,
                  "%d of %d evicted items were from the newer half", young_gone,
                  old_gone + young_gone);
    ck_assert(has("key0"));
}
END_TEST

START_TEST(test_store_without_eviction_fails_allocation_when_full)
{
    char key[KEYLEN];
    enum store_alloc_err err = STORE_ALLOC_OK;
    struct item *it;
    struct store_stats s;
    int n;

    make_store(1024 * 1024, 64 * 1024, false);
    n = fill_until_full("m", &err);
    ck_assert_int_eq(err, STORE_ALLOC_NOMEM);
    ck_assert_int_gt(n, 100);
    s = stats();
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_eq(s.outofmemory, 1);
    ck_assert_uint_eq(s.curr_items, (uint64_t)n);
    ck_assert_uint_le(s.mem_used, 1024 * 1024);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "m-%d", i);
        ck_assert(has(key));
    }
    /* freeing one item makes room for one more */
    ck_assert(del("m-0"));
    it = alloc_item("again", 4000, 0, &err);
    ck_assert_ptr_nonnull(it);
    store_release(st, it);
}
END_TEST

/* ---- accounting ---- */

START_TEST(test_store_accounting_returns_to_baseline_after_overwrite_delete_and_expiry)
{
    struct store_stats base = stats(), s;
    char key[KEYLEN];
    enum store_miss why;

    ck_assert_uint_eq(base.bytes, 0);
    ck_assert_uint_eq(base.mem_used, base.table_bytes);
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "acct-%d", i);
        ck_assert(put(key, (size_t)(i % 50) * 7));
    }
    for (int i = 0; i < 600; i++) { /* overwrite with other sizes */
        snprintf(key, sizeof(key), "acct-%d", i);
        ck_assert(put(key, (size_t)(i % 13) * 31));
    }
    s = stats();
    ck_assert_uint_eq(s.curr_items, 600);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
    for (int i = 0; i < 300; i++) { /* delete half */
        snprintf(key, sizeof(key), "acct-%d", i);
        ck_assert(del(key));
    }
    for (int i = 300; i < 600; i++) { /* the rest expire, found lazily */
        snprintf(key, sizeof(key), "acct-%d", i);
        ck_assert(put_exp(key, 10, 1));
        ck_assert(!has_why(key, &why));
        ck_assert_int_eq(why, STORE_MISS_EXPIRED);
    }
    s = stats();
    ck_assert_uint_eq(s.curr_items, 0);
    ck_assert_uint_eq(s.bytes, 0);
    ck_assert_uint_eq(s.table_bytes, base.table_bytes);
    ck_assert_uint_eq(s.mem_used, base.mem_used);
    ck_assert_uint_eq(s.reclaimed, 300);
}
END_TEST

/* ---- expiry ---- */

START_TEST(test_store_expired_items_are_not_found_and_are_reclaimed)
{
    struct store_stats base = stats(), s;
    enum store_miss why;
    rel_time_t now = mctime_now();

    ck_assert(put_exp("past", 10, 1));  /* "already expired" */
    ck_assert(put_exp("now", 10, now)); /* expires when exptime <= now */
    ck_assert(put_exp("later", 10, now + 100));
    ck_assert(!has_why("past", &why));
    ck_assert_int_eq(why, STORE_MISS_EXPIRED);
    ck_assert(!has_why("now", &why));
    ck_assert_int_eq(why, STORE_MISS_EXPIRED);
    ck_assert(has_why("later", &why));
    ck_assert_int_eq(why, STORE_MISS_NONE);
    /* once reclaimed the key is simply absent */
    ck_assert(!has_why("past", &why));
    ck_assert_int_eq(why, STORE_MISS_NONE);
    s = stats();
    ck_assert_uint_eq(s.curr_items, 1);
    ck_assert_uint_eq(s.reclaimed, 2);
    ck_assert_uint_eq(s.expired_unfetched, 2);
    ck_assert_uint_eq(s.mem_used, base.mem_used + s.bytes);
}
END_TEST

START_TEST(test_store_sampler_reclaims_expired_items_without_any_reads)
{
    struct store_stats base = stats(), s;
    char key[KEYLEN];

    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "samp-%d", i);
        ck_assert(put_exp(key, 20, i % 2 ? 1 : 0));
    }
    ck_assert_uint_eq(stats().curr_items, 2000);
    ck_assert_uint_eq(sample_all(100), 1000);
    s = stats();
    ck_assert_uint_eq(s.curr_items, 1000);
    ck_assert_uint_eq(s.reclaimed, 1000);
    ck_assert_uint_eq(s.expired_unfetched, 1000);
    ck_assert_uint_eq(s.mem_used, base.mem_used + s.bytes);
    ck_assert_uint_eq(store_sample_expired(st, 1000000), 0);
    for (int i = 0; i < 2000; i++) {
        enum store_miss why;
        snprintf(key, sizeof(key), "samp-%d", i);
        ck_assert_int_eq(has_why(key, &why), i % 2 == 0);
        ck_assert_int_eq(why, STORE_MISS_NONE); /* already gone, not found expired */
    }
}
END_TEST

START_TEST(test_store_sampler_on_a_store_without_expired_items_frees_nothing)
{
    char key[KEYLEN];

    ck_assert_uint_eq(store_sample_expired(st, 1000), 0);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "live-%d", i);
        ck_assert(put(key, 5));
    }
    ck_assert_uint_eq(store_sample_expired(st, 1000000), 0);
    ck_assert_uint_eq(stats().curr_items, 300);
}
END_TEST

/* ---- flush ---- */

START_TEST(test_store_flush_hides_items_stored_before_it_but_not_after)
{
    enum store_miss why;

    ck_assert(put("before", 10));
    store_flush(st, 0);
    ck_assert(put("after", 10));
    /* all within the same second: the CAS order decides */
    ck_assert(!has_why("before", &why));
    ck_assert_int_eq(why, STORE_MISS_FLUSHED);
    ck_assert(has_why("after", &why));
    ck_assert_int_eq(why, STORE_MISS_NONE);
    ck_assert_uint_eq(stats().curr_items, 1);
    ck_assert(put("before", 10));
    ck_assert(has("before"));
}
END_TEST

START_TEST(test_store_flush_with_a_future_deadline_hides_nothing_yet)
{
    ck_assert(put("stays", 10));
    store_flush(st, 100);
    ck_assert(has("stays"));
    ck_assert(put("new", 10));
    ck_assert(has("new"));
}
END_TEST

START_TEST(test_store_sampler_reclaims_flushed_items)
{
    char key[KEYLEN];

    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "fl-%d", i);
        ck_assert(put(key, 10));
    }
    store_flush(st, 0);
    ck_assert(put("survivor", 10));
    ck_assert_uint_eq(sample_all(100), 500);
    ck_assert_uint_eq(stats().curr_items, 1);
    ck_assert(has("survivor"));
}
END_TEST

/* ---- growth ---- */

START_TEST(test_store_hash_table_grows_and_keeps_every_item_findable)
{
    const int n = 40000;
    uint64_t buckets0;
    bool saw_expanding = false;
    char key[KEYLEN];

    make_store(64ULL * 1024 * 1024, 1024 * 1024, true);
    buckets0 = stats().hash_buckets;
    ck_assert_uint_eq(buckets0 % STORE_SHARDS, 0);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "grow-%d", i);
        REQUIRE(put(key, 8), "put %s", key);
        if (i % 1000 == 999) {
            struct store_stats s = stats();
            saw_expanding |= s.hash_expanding > 0;
            /* everything stored so far, including in half-moved tables */
            for (int j = 0; j <= i; j++) {
                snprintf(key, sizeof(key), "grow-%d", j);
                REQUIRE(has(key), "%s lost after %d inserts", key, i + 1);
            }
        }
    }
    ck_assert_msg(saw_expanding, "never observed a table in the middle of growing");
    ck_assert_uint_gt(stats().hash_buckets, buckets0);
    ck_assert_uint_ge(stats().hash_buckets, 2 * buckets0);
    ck_assert_uint_eq(stats().curr_items, (uint64_t)n);
    ck_assert_uint_eq(stats().evictions, 0);
    ck_assert_uint_eq(stats().mem_used, stats().bytes + stats().table_bytes);

    /* deletes and the sampler work on grown tables too */
    for (int i = 0; i < n; i += 2) {
        snprintf(key, sizeof(key), "grow-%d", i);
        REQUIRE(del(key), "del %s", key);
    }
    store_flush(st, 0);
    ck_assert_uint_eq(sample_all(1000), (uint64_t)n / 2);
    ck_assert_uint_eq(stats().curr_items, 0);
    ck_assert_uint_eq(stats().bytes, 0);
    ck_assert_uint_eq(stats().mem_used, stats().table_bytes);
}
END_TEST

/* ---- stats ---- */

START_TEST(test_store_reset_stats_zeroes_counters_but_not_contents)
{
    char(*k)[KEYLEN] = keys_in_shard(5, 400);
    struct store_stats s;

    for (int i = 0; stats().evictions < 3; i++)
        ck_assert(put(k[i], 4000));
    store_reset_stats(st);
    s = stats();
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_eq(s.total_items, 0);
    ck_assert_uint_eq(s.evicted_unfetched, 0);
    ck_assert_uint_eq(s.outofmemory, 0);
    ck_assert_uint_gt(s.curr_items, 0);
    ck_assert_uint_gt(s.bytes, 0);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
    free(k);
}
END_TEST

/* ---- threads ---- */

#define THREADS     4
#define THREAD_OPS  100000
#define SHARED_KEYS 60000

struct worker_result {
    unsigned seed;
    uint64_t links, replaced, deletes, bad_values;
};

static void *worker(void *arg)
{
    struct worker_result *r = arg;
    uint32_t x = r->seed;
    char key[KEYLEN];

    for (int op = 0; op < THREAD_OPS; op++) {
        x = x * 1664525u + 1013904223u;
        int len = snprintf(key, sizeof(key), "c-%u", (x >> 8) % SHARED_KEYS);
        uint32_t hv = store_hash(key, (size_t)len);
        struct store_shard *sh;
        struct item *it, *old;
        enum store_alloc_err err;
        switch ((x >> 4) % 10) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
            sh = store_lock(st, hv);
            it = do_store_find(sh, key, (size_t)len, hv, NULL);
            if (it != NULL) {
                if (!value_ok(it, key))
                    r->bad_values++;
                do_store_bump(sh, it);
            }
            store_unlock(sh);
            break;
        case 5:
        case 6:
        case 7:
            it = alloc_item(key, 16 + (x >> 20) % 200, 0, &err);
            if (it == NULL)
                break;
            sh = store_lock(st, hv);
            old = do_store_find(sh, key, (size_t)len, hv, NULL);
            do_store_link(sh, it, old);
            store_unlock(sh);
            r->links++;
            r->replaced += old != NULL;
            break;
        default:
            sh = store_lock(st, hv);
            it = do_store_find(sh, key, (size_t)len, hv, NULL);
            if (it != NULL)
                do_store_unlink(sh, it);
            store_unlock(sh);
            r->deletes += it != NULL;
            break;
        }
    }
    return NULL;
}

START_TEST(test_store_concurrent_insert_find_delete_keeps_counts_consistent)
{
    pthread_t t[THREADS];
    struct worker_result res[THREADS];
    uint64_t links = 0, replaced = 0, deletes = 0, present = 0, buckets0;
    struct store_stats s;
    char key[KEYLEN];

    /* small enough that the threads also evict from each other's shards,
     * big enough that tables grow while they run */
    make_store(6 * 1024 * 1024, 64 * 1024, true);
    buckets0 = stats().hash_buckets;
    for (int i = 0; i < THREADS; i++) {
        memset(&res[i], 0, sizeof(res[i]));
        res[i].seed = 7919u * (unsigned)(i + 1);
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &res[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_uint_eq(res[i].bad_values, 0);
        links += res[i].links;
        replaced += res[i].replaced;
        deletes += res[i].deletes;
    }
    s = stats();
    for (int i = 0; i < SHARED_KEYS; i++) {
        snprintf(key, sizeof(key), "c-%d", i);
        present += has(key);
    }
    ck_assert_uint_gt(s.evictions, 0);
    ck_assert_uint_gt(s.hash_buckets, buckets0);
    ck_assert_uint_eq(s.curr_items, present);
    ck_assert_uint_eq(s.total_items, links);
    ck_assert_uint_eq(s.curr_items,
                      links - replaced - deletes - s.evictions - s.reclaimed);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
    ck_assert_uint_le(s.mem_used, 6 * 1024 * 1024);
}
END_TEST

/* ---- replication: tombstones, versions, newest wins ---- */

static void repl_setup(void)
{
    mctime_init();
    make_store_with(1024 * 1024, 64 * 1024, true, true);
}

/* delete of a live item: the tombstone's version, or 0 when none is left. */
static uint64_t del_live(const char *key)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, NULL);
    bool found = it != NULL;
    uint64_t v = found ? do_store_delete(sh, it) : 0; /* frees it */

    store_unlock(sh);
    REQUIRE(found, "%s is not there to delete", key);
    return v;
}

static uint64_t del_absent(const char *key)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    uint64_t v = do_store_delete_absent(sh, key, strlen(key), hv);

    store_unlock(sh);
    return v;
}

/* The CAS value of key's live item. */
static uint64_t cas_of(const char *key)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, NULL);
    uint64_t cas = it != NULL ? it->cas : 0;

    store_unlock(sh);
    REQUIRE(cas != 0, "%s is not there", key);
    return cas;
}

/* Reads key's state; checks that a value is the one fill_value() wrote. */
static bool read_state(const char *key, struct store_state *s)
{
    struct buf value;
    bool found;

    buf_init(&value);
    found = store_read_state(st, key, strlen(key), s, &value);
    REQUIRE(!value.oom && value.len == s->nvalue,
            "state of %s: value of %zu bytes for %u", key, value.len, s->nvalue);
    REQUIRE(pattern_ok(value.data, value.len, key), "wrong value in the state of %s",
            key);
    buf_free(&value);
    return found;
}

/* n counter steps after version v, same time and tag. */
static uint64_t later(uint64_t v, unsigned n)
{
    return v + ((uint64_t)n << VERSION_TAG_BITS);
}

/* The value length replica() gives a version: versions a few counter steps
 * apart get values of different lengths, so the state shows which won. */
static size_t vlen_of(uint64_t version)
{
    return 10 + (size_t)(version >> VERSION_TAG_BITS) % 64;
}

/* A replica's state of key for store_apply(): an item or a tombstone. */
static struct item *replica(const char *key, uint64_t version, bool tomb,
                            rel_time_t exptime)
{
    enum store_alloc_err err;
    size_t vlen = tomb ? 0 : vlen_of(version);
    struct item *it = alloc_item(key, vlen, exptime, &err);

    REQUIRE(it != NULL, "no memory for a replica of %s", key);
    it->cas = version;
    if (tomb) {
        it->flags = 0;
        it->iflags |= ITEM_TOMBSTONE;
    }
    return it;
}

static enum store_apply_result apply(const char *key, uint64_t version, bool tomb,
                                     rel_time_t exptime, uint64_t *held)
{
    return store_apply(st, replica(key, version, tomb, exptime), held);
}

/* What a tombstone made now reports as its expiry (unix time). */
static void assert_tombstone_expiry(const struct store_state *s)
{
    time_t now = time(NULL);

    /* mctime's clock does not tick in unit tests: it reads the moment the
     * test started, a few seconds at most before now */
    ck_assert_int_le(s->exptime, (int64_t)now + REPL_TTL);
    ck_assert_int_ge(s->exptime, (int64_t)now + REPL_TTL - 5);
}

/* Checks that key's state is a tombstone of the given version; returns the
 * state. */
static struct store_state assert_tombstone(const char *key, uint64_t version)
{
    struct store_state s;

    ck_assert_msg(read_state(key, &s), "%s has no state", key);
    ck_assert_uint_eq(s.version, version);
    ck_assert_uint_eq(s.iflags, ITEM_TOMBSTONE);
    ck_assert_uint_eq(s.nvalue, 0);
    return s;
}

START_TEST(test_store_delete_without_tombstones_frees_the_item_and_returns_0)
{
    struct store_stats base, s;
    struct store_state state;

    make_store(1024 * 1024, 64 * 1024, true);
    base = stats();
    ck_assert(put("k", 100));
    ck_assert_uint_eq(del_live("k"), 0);
    ck_assert(!has("k"));
    ck_assert_uint_eq(del_absent("k"), 0);
    ck_assert_uint_eq(del_absent("never"), 0);
    ck_assert(!read_state("k", &state));
    ck_assert_uint_eq(state.version, 0);
    ck_assert(!read_state("never", &state));
    s = assert_holds(&base, 0, 0);
    ck_assert_uint_eq(s.bytes, 0);
}
END_TEST

START_TEST(test_store_delete_leaves_a_tombstone_that_is_not_found_but_has_a_state)
{
    struct store_state s;
    enum store_miss why;
    uint64_t put_cas, v;

    ck_assert(put("gone", 100));
    ck_assert(put("stays", 100));
    put_cas = cas_of("gone");
    v = del_live("gone");
    ck_assert_uint_gt(v, put_cas);
    ck_assert(!has_why("gone", &why));
    ck_assert_int_eq(why, STORE_MISS_NONE);
    ck_assert(has("stays"));
    assert_holds(NULL, 1, 1);

    s = assert_tombstone("gone", v);
    ck_assert_uint_eq(s.flags, 0);
    assert_tombstone_expiry(&s);

    /* the live item's state is the item */
    ck_assert(read_state("stays", &s));
    ck_assert_uint_eq(s.version, cas_of("stays"));
    ck_assert_uint_eq(s.iflags, 0);
    ck_assert_uint_eq(s.nvalue, 100);
    ck_assert_uint_eq(s.flags, 7);
    ck_assert_int_eq(s.exptime, 0);
}
END_TEST

START_TEST(test_store_tombstone_of_a_base64_key_keeps_the_binary_flag)
{
    enum store_alloc_err err;
    struct item *it = alloc_item("bin", 4, 0, &err);
    struct store_shard *sh;
    struct store_state s;

    ck_assert_ptr_nonnull(it);
    it->iflags |= ITEM_KEY_BINARY;
    sh = store_lock(st, it->hv);
    do_store_link(sh, it, NULL);
    store_unlock(sh);
    ck_assert(read_state("bin", &s));
    ck_assert_uint_eq(s.iflags, ITEM_KEY_BINARY);
    ck_assert_uint_ne(del_live("bin"), 0);
    ck_assert(read_state("bin", &s));
    ck_assert_uint_eq(s.iflags, ITEM_TOMBSTONE | ITEM_KEY_BINARY);
}
END_TEST

START_TEST(test_store_set_over_a_tombstone_replaces_it)
{
    char(*k)[KEYLEN] = keys_in_shard(11, 20);
    struct store_stats base = stats(), s;
    struct store_state state;
    uint64_t v1, v2, set_cas;

    ck_assert(put("k", 100));
    v1 = del_live("k");
    ck_assert(put("k", 200)); /* do_store_find finds nothing: linked with old NULL */
    set_cas = cas_of("k");
    ck_assert_uint_gt(set_cas, v1);
    assert_holds(&base, 1, 0);
    ck_assert(read_state("k", &state));
    ck_assert_uint_eq(state.version, set_cas);
    ck_assert_uint_eq(state.iflags, 0);
    ck_assert_uint_eq(state.nvalue, 200);

    /* deleting again leaves one tombstone, the new one */
    v2 = del_live("k");
    ck_assert_uint_gt(v2, set_cas);
    assert_holds(NULL, 0, 1);
    assert_tombstone("k", v2);
    ck_assert_uint_eq(del_absent("k"), v2);

    /* the same with many tombstones in one shard's chains */
    for (int i = 0; i < 20; i++)
        ck_assert(put(k[i], 10));
    for (int i = 0; i < 20; i++)
        ck_assert_uint_ne(del_live(k[i]), 0);
    ck_assert_uint_eq(stats().tombstones, 21);
    for (int i = 0; i < 20; i++)
        ck_assert(put(k[i], 20));
    assert_holds(NULL, 20, 1);
    for (int i = 0; i < 20; i += 2)
        ck_assert_uint_ne(del_live(k[i]), 0);
    s = assert_holds(NULL, 10, 11);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(has(k[i]), i % 2 == 1);
    free(k);
}
END_TEST

START_TEST(test_store_delete_absent_records_one_tombstone_per_key)
{
    struct store_state s;
    uint64_t v, v2;

    v = del_absent("ghost");
    ck_assert_uint_ne(v, 0);
    ck_assert_uint_eq(del_absent("ghost"), v);
    assert_holds(NULL, 0, 1);
    ck_assert(!has("ghost"));
    s = assert_tombstone("ghost", v);
    assert_tombstone_expiry(&s);

    /* after the delete of a live item, it returns that item's tombstone */
    ck_assert(put("k", 10));
    v2 = del_live("k");
    ck_assert_uint_gt(v2, v);
    ck_assert_uint_eq(del_absent("k"), v2);
    ck_assert_uint_eq(stats().tombstones, 2);
}
END_TEST

START_TEST(test_store_apply_takes_a_newer_version_and_ignores_an_older_one)
{
    struct store_stats base = stats();
    struct store_state state;
    uint64_t v1 = store_next_cas(st), v2 = later(v1, 1), held = 0;

    ck_assert_int_eq(apply("k", v1, false, 0, &held), STORE_APPLIED);
    ck_assert_uint_eq(held, v1);
    ck_assert(has("k"));
    ck_assert_uint_eq(cas_of("k"), v1);
    ck_assert_int_eq(apply("k", v2, false, 0, &held), STORE_APPLIED);
    ck_assert_uint_eq(held, v2);
    ck_assert_int_eq(apply("k", v1, false, 0, &held), STORE_OLDER);
    ck_assert_uint_eq(held, v2);
    ck_assert(read_state("k", &state));
    ck_assert_uint_eq(state.version, v2);
    ck_assert_uint_eq(state.nvalue, vlen_of(v2));
    ck_assert_uint_eq(state.flags, 7);
    ck_assert_int_eq(apply("k", v1, false, 0, NULL), STORE_OLDER);

    /* the ignored and the replaced items were freed */
    assert_holds(&base, 1, 0);
}
END_TEST

START_TEST(test_store_apply_of_the_same_version_only_takes_the_expiry)
{
    rel_time_t now = mctime_now();
    uint64_t v = store_next_cas(st), held = 0;
    struct store_state s;
    enum store_alloc_err err;
    struct item *other;

    ck_assert_int_eq(apply("k", v, false, 0, &held), STORE_APPLIED);
    ck_assert_int_eq(apply("k", v, false, now + 100, &held), STORE_TOUCHED);
    ck_assert_uint_eq(held, v);
    ck_assert(read_state("k", &s));
    ck_assert_int_eq(s.exptime, (int64_t)mctime_to_unix(now + 100));
    ck_assert_uint_eq(s.nvalue, vlen_of(v));

    /* another value under the same version is not taken, its expiry is */
    other = alloc_item("k", 3, 0, &err);
    ck_assert_ptr_nonnull(other);
    other->cas = v;
    ck_assert_int_eq(store_apply(st, other, &held), STORE_TOUCHED);
    ck_assert(read_state("k", &s));
    ck_assert_int_eq(s.exptime, 0);
    ck_assert_uint_eq(s.nvalue, vlen_of(v));
    ck_assert_uint_eq(s.version, v);
    ck_assert_uint_eq(stats().curr_items, 1);
}
END_TEST

START_TEST(test_store_apply_of_a_newer_tombstone_hides_the_item)
{
    rel_time_t ttl = mctime_now() + REPL_TTL;
    uint64_t v1 = store_next_cas(st), v2 = later(v1, 1), v3 = later(v1, 2), held = 0;
    struct store_state s;

    ck_assert_int_eq(apply("k", v1, false, 0, &held), STORE_APPLIED);
    ck_assert_int_eq(apply("k", v2, true, ttl, &held), STORE_APPLIED);
    ck_assert_uint_eq(held, v2);
    ck_assert(!has("k"));
    assert_holds(NULL, 0, 1);
    s = assert_tombstone("k", v2);
    ck_assert_int_eq(s.exptime, (int64_t)mctime_to_unix(ttl));

    /* the write the tombstone deleted, arriving late, stays deleted */
    ck_assert_int_eq(apply("k", v1, false, 0, &held), STORE_OLDER);
    ck_assert_uint_eq(held, v2);
    ck_assert(!has("k"));
    /* a write newer than the delete brings the key back */
    ck_assert_int_eq(apply("k", v3, false, 0, &held), STORE_APPLIED);
    ck_assert(has("k"));
    assert_holds(NULL, 1, 0);
}
END_TEST

START_TEST(test_store_apply_ignores_a_late_write_older_than_a_local_delete)
{
    uint64_t put_cas, del_v, behind, held = 0;

    ck_assert(put("k", 10));
    put_cas = cas_of("k");
    del_v = del_live("k");
    /* a replica's copy of the write that was deleted */
    ck_assert_int_eq(apply("k", put_cas, false, 0, &held), STORE_OLDER);
    ck_assert_uint_eq(held, del_v);
    /* a write another node made on a clock a second behind */
    behind = version_next(0, mctime_wall_ms() - 1000, 9);
    ck_assert_int_eq(apply("k", behind, false, 0, &held), STORE_OLDER);
    ck_assert_uint_eq(held, del_v);
    ck_assert(!has("k"));
    assert_tombstone("k", del_v);
    assert_holds(NULL, 0, 1);
}
END_TEST

START_TEST(test_store_apply_in_any_order_ends_with_the_highest_version)
{
    rel_time_t ttl = mctime_now() + REPL_TTL;
    uint64_t base = store_next_cas(st), v[4];
    uint64_t keys = 0, tombs = 0;
    struct store_stats s;
    char key[KEYLEN];

    for (unsigned i = 0; i < 4; i++)
        v[i] = later(base, i + 1);
    /* every order of the 4 versions, with every choice of which of them
     * are tombstones (bit i of mask: v[i] is one) */
    for (unsigned mask = 0; mask < 16; mask++) {
        for (unsigned p = 0; p < 256; p++) {
            unsigned order[4] = {p & 3, (p >> 2) & 3, (p >> 4) & 3, (p >> 6) & 3};
            bool newest_is_tomb = mask & 8;
            uint64_t newest = 0, held = 0;
            struct store_state state;

            if ((1u << order[0] | 1u << order[1] | 1u << order[2] | 1u << order[3]) != 15)
                continue; /* not a permutation */
            snprintf(key, sizeof(key), "perm-%u-%u%u%u%u", mask, order[0], order[1],
                     order[2], order[3]);
            for (int j = 0; j < 4; j++) {
                unsigned i = order[j];
                bool tomb = mask & (1u << i);
                enum store_apply_result res =
                    apply(key, v[i], tomb, tomb ? ttl : 0, &held);
                if (v[i] > newest) {
                    REQUIRE(res == STORE_APPLIED, "%s: v%u not applied", key, i);
                    newest = v[i];
                } else {
                    REQUIRE(res == STORE_OLDER, "%s: v%u not ignored", key, i);
                }
                REQUIRE(held == newest, "%s: holds %llu after v%u", key,
                        (unsigned long long)held, i);
            }
            REQUIRE(read_state(key, &state), "%s holds nothing", key);
            REQUIRE(state.version == v[3], "%s ends with %llu", key,
                    (unsigned long long)state.version);
            REQUIRE((state.iflags & ITEM_TOMBSTONE) ==
                        (newest_is_tomb ? ITEM_TOMBSTONE : 0),
                    "%s: wrong kind", key);
            REQUIRE(state.nvalue == (newest_is_tomb ? 0 : vlen_of(v[3])),
                    "%s: value of %u bytes", key, state.nvalue);
            REQUIRE(has(key) == !newest_is_tomb, "%s: found or not", key);
            keys++;
            tombs += newest_is_tomb;
        }
    }
    s = stats();
    ck_assert_uint_eq(keys, 16 * 24);
    /* one entry per key: every loser was freed */
    ck_assert_uint_eq(s.curr_items + s.tombstones, keys);
    ck_assert_uint_eq(s.tombstones, tombs);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
}
END_TEST

START_TEST(test_store_hlc_cas_values_are_versions_of_the_wall_clock_and_tag)
{
    uint64_t w0 = mctime_wall_ms(), a = store_next_cas(st), b = store_next_cas(st), c, d;
    uint64_t w1;

    ck_assert_uint_gt(b, a);
    ck_assert_uint_eq(version_tag_of(a), REPL_TAG);
    ck_assert_uint_eq(version_tag_of(b), REPL_TAG);
    ck_assert(put("k", 10));
    c = cas_of("k");
    d = del_live("k");
    w1 = mctime_wall_ms();
    ck_assert_uint_gt(c, b);
    ck_assert_uint_gt(d, c);
    ck_assert_uint_eq(version_tag_of(c), REPL_TAG);
    ck_assert_uint_eq(version_tag_of(d), REPL_TAG);
    ck_assert_uint_ge(version_ms(a), w0);
    ck_assert_uint_le(version_ms(d), w1);
}
END_TEST

START_TEST(test_store_hlc_next_version_is_newer_than_an_applied_one_from_the_future)
{
    uint64_t ahead = version_next(0, mctime_wall_ms() + 10000, 9), further, next, held;
    uint64_t tomb_ahead = later(ahead, 1);

    ck_assert_int_eq(apply("k", ahead, false, 0, &held), STORE_APPLIED);
    next = store_next_cas(st);
    ck_assert_uint_gt(next, ahead);
    ck_assert_uint_eq(version_tag_of(next), REPL_TAG);

    /* local writes over a tombstone from the future are newer than it, so
     * that replicas take them */
    ck_assert_int_eq(apply("t", tomb_ahead, true, mctime_now() + REPL_TTL, &held),
                     STORE_APPLIED);
    ck_assert(put("t", 10));
    ck_assert_uint_gt(cas_of("t"), tomb_ahead);
    ck_assert_uint_gt(del_live("t"), tomb_ahead);

    /* an ignored (older) apply does not move the clock back */
    ck_assert_int_eq(apply("k", ahead - 1, false, 0, &held), STORE_OLDER);
    ck_assert_uint_gt(store_next_cas(st), next);

    /* store_observe_version on its own */
    further = version_next(0, mctime_wall_ms() + 20000, 9);
    store_observe_version(st, further);
    ck_assert_uint_gt(store_next_cas(st), further);
    store_observe_version(st, 1);
    ck_assert_uint_gt(store_next_cas(st), further);
}
END_TEST

/* A version near the top of the 64 bits (from a peer's rs, or a client's
 * meta E flag, which also calls store_observe_version) must not make the
 * clock wrap around to tiny versions that every replica takes as older. */
START_TEST(test_store_hlc_versions_never_go_backwards_after_observing_the_largest_one)
{
    uint64_t before = store_next_cas(st), after, next;

    store_observe_version(st, UINT64_MAX);
    after = store_next_cas(st);
    next = store_next_cas(st);
    ck_assert_uint_gt(after, before);
    ck_assert_uint_gt(next, after);
}
END_TEST

START_TEST(test_store_tombstones_are_charged_to_memory)
{
    struct store_stats base = stats(), mid, s;
    uint64_t tomb_bytes;

    ck_assert_uint_ne(del_absent("ghost"), 0);
    s = stats();
    tomb_bytes = s.bytes;
    ck_assert_uint_ge(tomb_bytes, item_size(5, 2));
    ck_assert_uint_eq(s.mem_used, base.mem_used + tomb_bytes);

    /* a deleted item's memory goes back, less what its tombstone takes */
    ck_assert(put("big", 5000));
    mid = stats();
    ck_assert_uint_ne(del_live("big"), 0);
    s = stats();
    ck_assert_uint_lt(s.mem_used, mid.mem_used);
    ck_assert_uint_eq(s.mem_used, base.mem_used + s.bytes);
    ck_assert_uint_ge(s.bytes - tomb_bytes, item_size(3, 2));
    ck_assert_uint_lt(s.bytes - tomb_bytes, item_size(3, 5002));

    /* so does a replicated one */
    ck_assert_int_eq(
        apply("far", store_next_cas(st), true, mctime_now() + REPL_TTL, NULL),
        STORE_APPLIED);
    ck_assert_uint_gt(stats().bytes, s.bytes);
    ck_assert_uint_eq(stats().mem_used, base.mem_used + stats().bytes);
}
END_TEST

START_TEST(test_store_an_expired_tombstone_is_reclaimed_and_hides_nothing)
{
    struct store_stats base = stats(), s;
    rel_time_t now = mctime_now();
    uint64_t v1 = store_next_cas(st), v2 = later(v1, 1), held;
    struct store_state state;
    char key[KEYLEN];

    /* a tombstone whose ttl has run out (exptime <= now) */
    ck_assert_int_eq(apply("k", v1, false, 0, &held), STORE_APPLIED);
    ck_assert_int_eq(apply("k", v2, true, now, &held), STORE_APPLIED);
    ck_assert(!read_state("k", &state));
    ck_assert_uint_eq(state.version, 0);
    s = assert_holds(&base, 0, 0);
    ck_assert_uint_eq(s.bytes, 0);
    /* so a late write is taken again: the reason the ttl must outlast
     * replication delays */
    ck_assert_int_eq(apply("k", v1, false, 0, &held), STORE_APPLIED);
    ck_assert(has("k"));

    /* the sampler reclaims expired tombstones without any reads */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "exp-%d", i);
        REQUIRE(apply(key, later(v2, 1), true, now, NULL) == STORE_APPLIED, "%s", key);
    }
    ck_assert_uint_eq(stats().tombstones, 100);
    ck_assert_uint_eq(sample_all(100), 100);
    assert_holds(&base, 1, 0);
}
END_TEST

START_TEST(test_store_flush_hides_tombstones_and_the_sampler_reclaims_them)
{
    struct store_stats base = stats();
    struct store_state state;
    char key[KEYLEN];
    uint64_t after;

    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "del-%d", i);
        ck_assert(put(key, 10));
        ck_assert_uint_ne(del_live(key), 0);
        snprintf(key, sizeof(key), "ghost-%d", i);
        ck_assert_uint_ne(del_absent(key), 0);
        snprintf(key, sizeof(key), "item-%d", i);
        ck_assert(put(key, 10));
    }
    assert_holds(NULL, 50, 100);
    store_flush(st, 0);
    after = del_absent("after"); /* recorded after the flush: stays */
    ck_assert_uint_ne(after, 0);
    ck_assert(!read_state("del-0", &state));
    ck_assert(!read_state("ghost-0", &state));
    /* the reads reclaimed del-0 and ghost-0 */
    ck_assert_uint_eq(sample_all(100), 150 - 2);
    assert_holds(&base, 0, 1);
    assert_tombstone("after", after);
}
END_TEST

START_TEST(test_store_evicts_tombstones_too_and_never_exceeds_the_limit)
{
    const uint64_t limit = 256 * 1024;
    struct store_state state;
    struct store_stats s;
    char key[KEYLEN];

    make_store_with(limit, 64 * 1024, true, true);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "ev-%d", i);
        REQUIRE(put(key, 400), "put %s", key);
        REQUIRE(stats().mem_used <= limit, "over the limit after put %s", key);
        if (i % 2) {
            REQUIRE(del_live(key) != 0, "no tombstone for %s", key);
            REQUIRE(stats().mem_used <= limit, "over the limit after delete %s", key);
        }
        snprintf(key, sizeof(key), "gh-%d", i);
        REQUIRE(del_absent(key) != 0, "no tombstone for %s", key);
        REQUIRE(stats().mem_used <= limit, "over the limit after delete %s", key);
    }
    s = stats();
    ck_assert_uint_gt(s.evictions, 0);
    ck_assert_uint_eq(s.outofmemory, 0);
    ck_assert_uint_eq(s.mem_used, s.bytes + s.table_bytes);
    /* of 2000 items (1000 turned into tombstones) and 2000 more tombstones,
     * fewer fit */
    ck_assert_uint_lt(s.curr_items + s.tombstones, 4000);
    ck_assert_uint_lt(s.tombstones, 3000);
    ck_assert(!read_state("gh-0", &state)); /* the oldest made room */
    ck_assert(read_state("gh-1999", &state));
    ck_assert_uint_eq(state.iflags, ITEM_TOMBSTONE);
    ck_assert(read_state("ev-1999", &state));
    ck_assert_uint_eq(state.iflags, ITEM_TOMBSTONE);
    ck_assert(has("ev-1998"));
}
END_TEST

START_TEST(test_store_delete_in_a_full_store_without_eviction_still_leaves_a_tombstone)
{
    const uint64_t limit = 512 * 1024;
    enum store_alloc_err err;
    struct store_state state;
    struct store_stats s;
    char key[KEYLEN];
    int n, ghosts;

    make_store_with(limit, 64 * 1024, false, true);
    n = fill_until_full("full", &err);
    ck_assert_int_gt(n, 10);
    /* the deleted item's memory makes room for its tombstone */
    ck_assert_uint_ne(del_live("full-0"), 0);
    ck_assert_uint_eq(stats().tombstones, 1);
    /* tombstones of absent keys take what is left, then are refused */
    for (ghosts = 0;; ghosts++) {
        snprintf(key, sizeof(key), "ghost-%d", ghosts);
        if (del_absent(key) == 0)
            break;
        ck_assert_int_lt(ghosts, 1000);
    }
    ck_assert_int_gt(ghosts, 0);
    s = assert_holds(NULL, (uint64_t)n - 1, 1 + (uint64_t)ghosts);
    ck_assert_uint_eq(s.evictions, 0);
    ck_assert_uint_le(s.mem_used, limit);
    ck_assert(!read_state(key, &state));
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("basics");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_finds_a_linked_item_by_exact_key);
    tcase_add_test(tc, test_store_finds_binary_keys_and_keys_of_maximum_length);
    tcase_add_test(tc, test_store_link_replaces_and_frees_the_old_item);
    tcase_add_test(tc, test_store_cas_values_increase_and_link_cas_keeps_an_explicit_one);
    tcase_add_test(tc, test_store_delete_unlinks_and_frees);
    tcase_add_test(tc, test_store_release_returns_the_memory_of_an_unlinked_item);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_refuses_values_larger_than_item_size_max);
    tcase_add_test(tc, test_store_never_exceeds_the_memory_limit_while_evicting);
    tcase_add_test(tc, test_store_evicts_least_recently_used_first);
    tcase_add_test(tc, test_store_an_overwrite_counts_as_a_use_for_the_lru);
    tcase_add_test(tc,
                   test_store_prefers_reclaiming_an_expired_item_to_evicting_a_live_one);
    tcase_add_test(tc, test_store_evicts_mostly_the_oldest_items_across_shards);
    tcase_add_test(tc, test_store_without_eviction_fails_allocation_when_full);
    tcase_add_test(
        tc, test_store_accounting_returns_to_baseline_after_overwrite_delete_and_expiry);
    tcase_add_test(tc, test_store_reset_stats_zeroes_counters_but_not_contents);
    suite_add_tcase(s, tc);

    tc = tcase_create("expiry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_expired_items_are_not_found_and_are_reclaimed);
    tcase_add_test(tc, test_store_sampler_reclaims_expired_items_without_any_reads);
    tcase_add_test(tc, test_store_sampler_on_a_store_without_expired_items_frees_nothing);
    tcase_add_test(tc, test_store_flush_hides_items_stored_before_it_but_not_after);
    tcase_add_test(tc, test_store_flush_with_a_future_deadline_hides_nothing_yet);
    tcase_add_test(tc, test_store_sampler_reclaims_flushed_items);
    suite_add_tcase(s, tc);

    tc = tcase_create("growth");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_store_hash_table_grows_and_keeps_every_item_findable);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_store_concurrent_insert_find_delete_keeps_counts_consistent);
    suite_add_tcase(s, tc);

    tc = tcase_create("replication");
    tcase_add_checked_fixture(tc, repl_setup, teardown);
    tcase_add_test(tc, test_store_delete_without_tombstones_frees_the_item_and_returns_0);
    tcase_add_test(
        tc, test_store_delete_leaves_a_tombstone_that_is_not_found_but_has_a_state);
    tcase_add_test(tc, test_store_tombstone_of_a_base64_key_keeps_the_binary_flag);
    tcase_add_test(tc, test_store_set_over_a_tombstone_replaces_it);
    tcase_add_test(tc, test_store_delete_absent_records_one_tombstone_per_key);
    tcase_add_test(tc, test_store_apply_takes_a_newer_version_and_ignores_an_older_one);
    tcase_add_test(tc, test_store_apply_of_the_same_version_only_takes_the_expiry);
    tcase_add_test(tc, test_store_apply_of_a_newer_tombstone_hides_the_item);
    tcase_add_test(tc, test_store_apply_ignores_a_late_write_older_than_a_local_delete);
    tcase_add_test(tc, test_store_apply_in_any_order_ends_with_the_highest_version);
    tcase_add_test(tc, test_store_hlc_cas_values_are_versions_of_the_wall_clock_and_tag);
    tcase_add_test(
        tc, test_store_hlc_next_version_is_newer_than_an_applied_one_from_the_future);
    tcase_add_test(
        tc, test_store_hlc_versions_never_go_backwards_after_observing_the_largest_one);
    tcase_add_test(tc, test_store_tombstones_are_charged_to_memory);
    tcase_add_test(tc, test_store_an_expired_tombstone_is_reclaimed_and_hides_nothing);
    tcase_add_test(tc, test_store_flush_hides_tombstones_and_the_sampler_reclaims_them);
    tcase_add_test(tc, test_store_evicts_tombstones_too_and_never_exceeds_the_limit);
    tcase_add_test(
        tc, test_store_delete_in_a_full_store_without_eviction_still_leaves_a_tombstone);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
