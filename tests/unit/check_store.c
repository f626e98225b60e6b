/* check_store: the sharded table, eviction under the memory limit,
 * memory accounting, expiry, flush, incremental growth and thread safety.
 * Replication's tombstones and versions are in check_store_repl.c. */
#include <malloc.h>
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/item.h"
#include "base/mctime.h"
#include "store/store.h"

#include "store_fixture.h"

static void setup(void)
{
    mctime_init();
    make_store(1024 * 1024, 64 * 1024, true);
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
    ck_assert_uint_eq(store_item_hash(it), hv);
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
    it = do_store_link(sh, it, NULL);
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
    charged = (item_size(1, 3002) + 3) & ~(size_t)3; /* its size, 4-aligned */
    store_unlock(sh);
    s = stats();
    ck_assert_uint_eq(nbytes, 3002);
    ck_assert_uint_eq(s.bytes, charged); /* the old one is not counted */
    ck_assert_uint_gt(cas2, cas1);
    ck_assert_uint_eq(s.curr_items, 1);
    ck_assert_uint_eq(s.total_items, 2);
    check_accounting(&s);
}
END_TEST

START_TEST(test_store_cas_values_increase_and_link_cas_keeps_an_explicit_one)
{
    enum store_alloc_err err;
    struct item *it = alloc_item("e", 1, 0, &err);
    uint32_t hv = store_item_hash(it);
    struct store_shard *sh;
    uint64_t a = store_next_cas(st), b = store_next_cas(st);

    ck_assert_uint_ne(a, 0);
    ck_assert_uint_gt(b, a);
    it->cas = 424242;
    sh = store_lock(st, hv);
    it = do_store_link_cas(sh, it, NULL);
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
    ck_assert_uint_eq(after.bytes, before.bytes);
    check_accounting(&after);
}
END_TEST

START_TEST(test_store_release_returns_the_memory_of_an_unlinked_item)
{
    struct store_stats before = stats(), s;
    enum store_alloc_err err;
    struct item *it = alloc_item("tmp", 5000, 0, &err);
    struct item *big = alloc_item("big", 20000, 0, &err); /* held alone */

    ck_assert_ptr_nonnull(it);
    ck_assert_ptr_nonnull(big);
    s = stats();
    /* a small one being written has room promised for it in a segment
     * (twice its size: what it may waste at a segment's end); a large one
     * is charged; neither is counted as stored */
    ck_assert_uint_ge(s.reserved, before.reserved + 2 * 5000);
    ck_assert_uint_ge(s.large_bytes, before.large_bytes + 20000);
    ck_assert_uint_ge(s.mem_used, before.mem_used + 20000);
    ck_assert_uint_eq(s.curr_items, 0);
    ck_assert_uint_eq(s.bytes, 0);
    check_accounting(&s);
    store_release(st, it);
    store_release(st, big);
    s = stats();
    ck_assert_uint_eq(held_bytes(&s), held_bytes(&before));
    ck_assert_uint_eq(s.mem_used, before.mem_used);
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
    check_accounting(&s);
    /* the newest item always survives its own insertion */
    ck_assert(has("fill-4999"));
    ck_assert_uint_eq(s.outofmemory, 0);
}
END_TEST

START_TEST(test_store_eviction_keeps_what_was_read_since_it_was_stored)
{
    char(*k)[KEYLEN] = keys_in_shard(17, 1000);
    struct store_stats s;
    int i;

    /* a and b are the oldest, in the first segment; a is then read */
    ck_assert(put(k[0], 4000));
    ck_assert(put(k[1], 4000));
    touch(k[0]);
    for (i = 2; stats().evictions == 0; i++) {
        ck_assert_int_lt(i, 1000);
        ck_assert(put(k[i], 4000));
    }
    ck_assert_msg(!has(k[1]), "an unread item of the oldest segment survived");
    ck_assert_msg(has(k[0]), "an item read since it was stored was evicted");
    ck_assert(!has(k[2]));
    ck_assert(has(k[i - 1]));
    s = stats();
    ck_assert_uint_eq(s.evicted_unfetched, s.evictions);

    /* that was its second chance: unread since, it goes in a later turn,
     * while a key read before each turn stays */
    while (has(k[0])) {
        ck_assert_int_lt(i, 1000);
        touch(k[i - 1]);
        ck_assert(put(k[i++], 4000));
    }
    s = stats();
    ck_assert_uint_ge(s.evictions, 3);
    ck_assert_uint_eq(s.evicted_nonzero, 0);
    ck_assert_uint_lt(s.evicted_unfetched, s.evictions); /* a was read */
    check_accounting(&s);
    free(k);
}
END_TEST

START_TEST(test_store_an_overwrite_stores_the_key_anew)
{
    char(*k)[KEYLEN] = keys_in_shard(3, 400);
    uint64_t segs;
    int i;

    ck_assert(put(k[0], 4000));
    ck_assert(put(k[1], 4000));
    /* fill the first segment: a new one is taken */
    segs = stats().seg_bytes;
    for (i = 2; stats().seg_bytes == segs; i++)
        ck_assert(put(k[i], 4000));
    ck_assert(put(k[0], 4000)); /* set again: now in the newest segment */
    for (; stats().evictions == 0; i++)
        ck_assert(put(k[i], 4000));
    ck_assert(!has(k[1]));
    ck_assert(has(k[0]));
    free(k);
}
END_TEST

START_TEST(test_store_eviction_counts_an_expired_item_as_reclaimed)
{
    char(*k)[KEYLEN] = keys_in_shard(9, 400);
    struct store_stats s;
    int i;

    ck_assert(put(k[0], 4000));
    ck_assert(put_exp(k[1], 4000, 1)); /* already expired */
    for (i = 2; stats().evictions == 0; i++)
        ck_assert(put(k[i], 4000));
    s = stats();
    ck_assert_uint_eq(s.reclaimed, 1);
    ck_assert_uint_eq(s.expired_unfetched, 1);
    ck_assert(!has(k[0]));
    ck_assert_uint_eq(s.curr_items + s.evictions + s.reclaimed, (uint64_t)i);
    free(k);
}
END_TEST

START_TEST(test_store_large_items_are_held_alone_and_evicted_in_turn)
{
    char key[KEYLEN];
    struct store_stats s;
    int i;

    /* at -m 1, a segment is 32 KiB: 20 kB values are held alone */
    ck_assert(put("big-0", 20000));
    s = stats();
    ck_assert_uint_gt(s.large_bytes, 20000);
    ck_assert_uint_eq(s.bytes, s.large_bytes);
    touch("big-0");
    for (i = 1; stats().evictions < 2; i++) {
        snprintf(key, sizeof(key), "big-%d", i);
        ck_assert(put(key, 20000));
        REQUIRE(stats().mem_used <= 1024 * 1024, "over the limit");
    }
    ck_assert(has("big-0")); /* read: kept once */
    ck_assert(!has("big-1"));
    ck_assert(has(key));
    s = stats();
    check_accounting(&s);
    ck_assert(del("big-0"));
    ck_assert_uint_lt(stats().large_bytes, s.large_bytes);
    check_accounting(&s);
}
END_TEST

START_TEST(test_store_evicts_mostly_the_oldest_items_across_shards)
{
    char key[KEYLEN], kept[KEYLEN];
    int n, extra, old_gone = 0, young_gone = 0;

    make_store(4 * 1024 * 1024, 64 * 1024, true);
    for (n = 0; stats().evictions == 0; n++) {
        snprintf(key, sizeof(key), "key%d", n);
        ck_assert(put(key, 1000));
    }
    /* the oldest key still here (the first eviction took the oldest of
     * all, or one nearly as old), read just now, must outlive a 10%
     * turnover */
    for (int i = 0;; i++) {
        snprintf(kept, sizeof(kept), "key%d", i);
        if (has(kept))
            break;
    }
    touch(kept);
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
    ck_assert(has(kept));
}
END_TEST

/* Puts 4000-byte values as "<prefix>-<from>", ... until the store takes
 * a new segment; returns how many it put. */
static int puts_until_growth(const char *prefix, int from)
{
    uint64_t segs = stats().seg_bytes;
    char key[KEYLEN];
    int n = 0;

    while (stats().seg_bytes == segs) {
        snprintf(key, sizeof(key), "%s-%d", prefix, from + n++);
        ck_assert(put(key, 4000));
        ck_assert_int_lt(n, 100);
    }
    return n;
}

START_TEST(test_store_reuses_dead_space_before_taking_new_memory)
{
    char key[KEYLEN];
    int plain, reused;

    /* at -m 1 a segment (32 KiB) holds 8 such items: 16 fill two */
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof(key), "a-%d", i);
        ck_assert(put(key, 4000));
    }
    plain = puts_until_growth("a", 16);

    /* the same, with 6 of the first segment's 8 items deleted: it is
     * compacted (its 2 live items moved to its front) and takes 6 more
     * items before a new segment is needed */
    make_store(1024 * 1024, 64 * 1024, true);
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof(key), "b-%d", i);
        ck_assert(put(key, 4000));
    }
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "b-%d", i);
        ck_assert(del(key));
    }
    reused = puts_until_growth("b", 16);
    ck_assert_int_eq(reused, plain + 6);
    ck_assert_uint_eq(stats().evictions, 0);
    for (int i = 6; i < 16 + reused; i++) {
        snprintf(key, sizeof(key), "b-%d", i);
        ck_assert_msg(has(key), "%s lost", key); /* has() checks the value */
    }
}
END_TEST

START_TEST(test_store_a_large_item_evicts_one_segment_of_a_hot_cache)
{
    char key[KEYLEN];
    struct store_stats s;
    int n;

    /* every item read since it was stored: eviction would keep half of
     * each segment, which frees no memory for an item held alone */
    for (n = 0; stats().evictions == 0; n++) {
        snprintf(key, sizeof(key), "hot-%d", n);
        ck_assert(put(key, 4000));
        touch(key);
        ck_assert_int_lt(n, 1000);
    }
    s = stats();
    ck_assert(put("large", 20000));
    ck_assert(has("large"));
    /* one segment (8 items) gives its memory up, not half the cache */
    ck_assert_uint_le(stats().evictions - s.evictions, 8);
    check_accounting(&s);
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
    /* -M compacts: freeing three items of a segment (of eight) makes room
     * for one more (what is reserved for an item being written is twice
     * its size) */
    ck_assert(del("m-0"));
    ck_assert(del("m-1"));
    ck_assert(del("m-2"));
    it = alloc_item("again", 4000, 0, &err);
    ck_assert_ptr_nonnull(it);
    store_release(st, it);
    for (int i = 3; i < n; i++) {
        snprintf(key, sizeof(key), "m-%d", i);
        ck_assert(has(key)); /* moved, not lost */
    }
}
END_TEST

START_TEST(test_store_lowering_the_limit_evicts_down_to_it_oldest_first)
{
    char key[KEYLEN];
    struct store_stats s;
    int n = 0;

    make_store(4 * 1024 * 1024, 64 * 1024, true);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "lim-%d", i);
        REQUIRE(put(key, 1000), "put %s", key);
    }
    ck_assert_int_eq(store_set_mem_limit(st, 1024 * 1024), 0);
    s = stats();
    ck_assert_uint_le(s.mem_used, 1024 * 1024);
    ck_assert_uint_eq(store_mem_limit(st), 1024 * 1024);
    ck_assert_uint_gt(s.evictions, 0);
    ck_assert(has("lim-1999"));
    ck_assert(!has("lim-0"));
    /* raising it again makes room without evicting anything */
    ck_assert_int_eq(store_set_mem_limit(st, 8 * 1024 * 1024), 0);
    for (int i = 0; i < 4000; i++) {
        snprintf(key, sizeof(key), "more-%d", i);
        n += put(key, 1000);
    }
    ck_assert_int_eq(n, 4000);
    ck_assert_uint_eq(stats().evictions, s.evictions);
}
END_TEST

START_TEST(test_store_lowering_the_limit_without_eviction_refuses_new_items)
{
    enum store_alloc_err err;
    struct item *it;

    make_store(4 * 1024 * 1024, 64 * 1024, false);
    ck_assert(put("held", 60000));
    ck_assert_int_eq(store_set_mem_limit(st, 64 * 1024), -1);
    ck_assert(has("held")); /* -M: nothing is evicted */
    it = alloc_item("new", 100, 0, &err);
    ck_assert_ptr_null(it);
    ck_assert_int_eq(err, STORE_ALLOC_NOMEM);
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
    check_accounting(&s);
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
    check_accounting(&s);
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
    ck_assert_uint_eq(s.table_bytes, base.table_bytes);
    check_accounting(&s);
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
    ck_assert_uint_le(s.bytes, base.bytes + 1000 * 64);
    check_accounting(&s);
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
    struct store_stats s;
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
            s = stats();
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
    s = stats();
    check_accounting(&s);

    /* deletes and the sampler work on grown tables too */
    for (int i = 0; i < n; i += 2) {
        snprintf(key, sizeof(key), "grow-%d", i);
        REQUIRE(del(key), "del %s", key);
    }
    store_flush(st, 0);
    ck_assert_uint_eq(sample_all(1000), (uint64_t)n / 2);
    ck_assert_uint_eq(stats().curr_items, 0);
    s = stats();
    ck_assert_uint_eq(s.bytes, 0);
    check_accounting(&s);
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
    check_accounting(&s);
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
            /* now and then a value held alone (over a quarter segment) */
            it = alloc_item(key, (x >> 12) % 512 == 0 ? 33000 : 16 + (x >> 20) % 200, 0,
                            &err);
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
    check_accounting(&s);
    ck_assert_uint_le(s.mem_used, 6 * 1024 * 1024);
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
    tcase_add_test(tc, test_store_eviction_keeps_what_was_read_since_it_was_stored);
    tcase_add_test(tc, test_store_an_overwrite_stores_the_key_anew);
    tcase_add_test(tc, test_store_eviction_counts_an_expired_item_as_reclaimed);
    tcase_add_test(tc, test_store_large_items_are_held_alone_and_evicted_in_turn);
    tcase_add_test(tc, test_store_evicts_mostly_the_oldest_items_across_shards);
    tcase_add_test(tc, test_store_reuses_dead_space_before_taking_new_memory);
    tcase_add_test(tc, test_store_a_large_item_evicts_one_segment_of_a_hot_cache);
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

    tc = tcase_create("memlimit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_lowering_the_limit_evicts_down_to_it_oldest_first);
    tcase_add_test(tc, test_store_lowering_the_limit_without_eviction_refuses_new_items);
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
