/* check_store_repl: the store of a replicating node: tombstones, hybrid
 * logical clock versions, newest-wins store_apply(), and how tombstones
 * count against memory, expire, flush and are evicted. */
#include <check.h>
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

#include "store_fixture.h"

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
        ck_assert_uint_eq(s.table_bytes, base->table_bytes);
    check_accounting(&s);
    return s;
}

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
    sh = store_lock(st, store_item_hash(it));
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
    struct store_stats base = stats();
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
    assert_holds(NULL, 10, 11);
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
    check_accounting(&s);
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
    tomb_bytes = s.bytes - base.bytes;
    ck_assert_uint_ge(tomb_bytes, item_size(5, 2));
    check_accounting(&s);

    /* a deleted item's memory goes back, less what its tombstone takes */
    ck_assert(put("big", 5000));
    mid = stats();
    ck_assert_uint_ne(del_live("big"), 0);
    s = stats();
    ck_assert_uint_lt(s.bytes, mid.bytes);
    check_accounting(&s);
    ck_assert_uint_ge(s.bytes - tomb_bytes, item_size(3, 2));
    ck_assert_uint_lt(s.bytes - tomb_bytes, item_size(3, 5002));

    /* so does a replicated one */
    ck_assert_int_eq(
        apply("far", store_next_cas(st), true, mctime_now() + REPL_TTL, NULL),
        STORE_APPLIED);
    ck_assert_uint_gt(stats().bytes, s.bytes);
    s = stats();
    check_accounting(&s);
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
    check_accounting(&s);
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

static Suite *store_repl_suite(void)
{
    Suite *s = suite_create("store_repl");
    TCase *tc = tcase_create("replication");

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
    SRunner *sr = srunner_create(store_repl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
