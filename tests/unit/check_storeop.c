/* check_storeop: the store operations the commands run (set/add/replace/
 * append/prepend/cas with meta I and E, incr/decr, dropping a key), called
 * directly on a real store, with the counters they bump. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mctime.h"
#include "base/stats.h"
#include "store/item.h"
#include "store/store.h"
#include "store/storeop.h"

static struct store *st;
static struct thread_stats ts;
static struct storeop_env env;

static void make_store(uint64_t maxbytes, bool evict_to_free)
{
    struct store_config cfg = {
        .maxbytes = maxbytes,
        .item_size_max = 64 * 1024,
        .evict_to_free = evict_to_free,
    };

    store_destroy(st);
    st = NULL;
    ck_assert_int_eq(store_create(&st, &cfg), 0);
    memset(&ts, 0, sizeof(ts));
    env.st = st;
    env.stats = &ts;
    env.use_cas = true;
}

static void setup(void)
{
    mctime_init();
    make_store(1024 * 1024, true);
}

static void teardown(void)
{
    store_destroy(st);
    st = NULL;
}

/* A fresh item holding value, as a storage command hands it over. */
static struct item *item_of(const char *key, const char *value, uint32_t flags,
                            rel_time_t exptime)
{
    size_t nkey = strlen(key), vlen = strlen(value);
    enum store_alloc_err err;
    struct item *it = store_alloc(st, key, nkey, store_hash(key, nkey), flags, exptime,
                                  (uint32_t)vlen + 2, &err);

    ck_assert_ptr_nonnull(it);
    memcpy(item_value(it), value, vlen);
    memcpy(item_value(it) + vlen, "\r\n", 2);
    return it;
}

static enum storeop_result store_req(const char *key, const char *value,
                                     const struct storeop_req *req, uint64_t *cas)
{
    uint64_t ignored;

    return storeop_store_item(&env, item_of(key, value, 0, 0), req,
                              cas != NULL ? cas : &ignored);
}

static enum storeop_result store_op(enum storeop_op op, const char *key,
                                    const char *value)
{
    struct storeop_req req = {.op = op};

    return store_req(key, value, &req, NULL);
}

static enum storeop_result store_cas(enum storeop_op op, const char *key,
                                     const char *value, uint64_t req_cas)
{
    struct storeop_req req = {.op = op, .req_cas = req_cas};

    return store_req(key, value, &req, NULL);
}

/* A copy of what the key holds, read without bumping it. */
struct snap {
    bool found;
    char value[128]; /* without the "\r\n", NUL-terminated */
    uint32_t flags;
    rel_time_t exptime;
    uint64_t cas;
    uint8_t iflags;
};

static struct snap look(const char *key)
{
    size_t nkey = strlen(key);
    uint32_t hv = store_hash(key, nkey);
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, nkey, hv, NULL);
    struct snap s = {0};

    if (it != NULL) {
        size_t vlen = it->nbytes - 2;
        s.found = true;
        ck_assert_uint_lt(vlen, sizeof(s.value));
        ck_assert(memcmp(item_value(it) + vlen, "\r\n", 2) == 0);
        memcpy(s.value, item_value(it), vlen);
        s.flags = it->flags;
        s.exptime = it->exptime;
        s.cas = it->cas;
        s.iflags = it->iflags;
    }
    store_unlock(sh);
    return s;
}

/* Sets key to value with these flags and expiry; returns its CAS. */
static uint64_t put(const char *key, const char *value, uint32_t flags,
                    rel_time_t exptime)
{
    struct storeop_req req = {.op = STOREOP_SET};
    uint64_t cas = 0;

    ck_assert_int_eq(
        storeop_store_item(&env, item_of(key, value, flags, exptime), &req, &cas),
        STOREOP_STORED);
    ck_assert_uint_ne(cas, 0);
    return cas;
}

/* What items hold (linked, and room taken by items being written). */
static uint64_t mem_used(void)
{
    struct store_stats s;

    store_get_stats(st, &s);
    return s.bytes + s.reserved + s.large_bytes;
}

/* Unlinked items held to fill a store made without eviction. */
static struct item *filler[16384];
static size_t nfiller;

/* Allocates items like one for key with nbytes of value until the store
 * refuses one: from then on no allocation of that size succeeds. */
static void fill(const char *key, uint32_t nbytes)
{
    size_t nkey = strlen(key);
    enum store_alloc_err err;

    while ((filler[nfiller] = store_alloc(st, key, nkey, store_hash(key, nkey), 0, 0,
                                          nbytes, &err)) != NULL)
        ck_assert_uint_lt(++nfiller, sizeof(filler) / sizeof(filler[0]));
    ck_assert_int_eq(err, STORE_ALLOC_NOMEM);
}

static void unfill(void)
{
    while (nfiller > 0)
        store_release(st, filler[--nfiller]);
}

static enum storeop_delta_result delta(const char *key, bool incr, uint64_t by,
                                       struct storeop_delta_res *res)
{
    struct storeop_delta_req req = {.incr = incr, .delta = by};

    return storeop_add_delta(&env, key, strlen(key), &req, res);
}

/* ---- set / add / replace / cas ---- */

START_TEST(test_storeop_set_stores_and_reports_the_new_cas)
{
    struct storeop_req req = {.op = STOREOP_SET};
    uint64_t cas1 = 0, cas2 = 0;

    ck_assert_int_eq(store_req("k", "one", &req, &cas1), STOREOP_STORED);
    ck_assert_uint_eq(look("k").cas, cas1);
    ck_assert_int_eq(store_req("k", "two", &req, &cas2), STOREOP_STORED);
    ck_assert_uint_gt(cas2, cas1);
    ck_assert_str_eq(look("k").value, "two");
    ck_assert_uint_eq(look("k").cas, cas2);
}
END_TEST

START_TEST(test_storeop_add_stores_only_when_the_key_holds_nothing)
{
    ck_assert_int_eq(store_op(STOREOP_ADD, "k", "first"), STOREOP_STORED);
    ck_assert_int_eq(store_op(STOREOP_ADD, "k", "second"), STOREOP_NOT_STORED);
    ck_assert_str_eq(look("k").value, "first");
}
END_TEST

START_TEST(test_storeop_replace_stores_only_over_a_value)
{
    ck_assert_int_eq(store_op(STOREOP_REPLACE, "k", "x"), STOREOP_NOT_STORED);
    ck_assert(!look("k").found);
    put("k", "old", 0, 0);
    ck_assert_int_eq(store_op(STOREOP_REPLACE, "k", "new"), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "new");
}
END_TEST

START_TEST(test_storeop_cas_stores_only_over_the_cas_compared_and_counts_each_outcome)
{
    uint64_t cas = put("k", "v1", 0, 0);

    ck_assert_int_eq(store_cas(STOREOP_CAS, "k", "v2", cas + 1), STOREOP_EXISTS);
    ck_assert_str_eq(look("k").value, "v1");
    ck_assert_uint_eq(ts.cas_badval, 1);

    ck_assert_int_eq(store_cas(STOREOP_CAS, "k", "v2", cas), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "v2");
    ck_assert_uint_eq(ts.cas_hits, 1);

    ck_assert_int_eq(store_cas(STOREOP_CAS, "absent", "v", cas), STOREOP_NOT_FOUND);
    ck_assert(!look("absent").found);
    ck_assert_uint_eq(ts.cas_misses, 1);
    ck_assert_uint_eq(ts.cas_hits, 1);
    ck_assert_uint_eq(ts.cas_badval, 1);
}
END_TEST

START_TEST(test_storeop_cas_of_a_replaced_value_is_refused)
{
    uint64_t cas = put("k", "v1", 0, 0);

    put("k", "v2", 0, 0);
    ck_assert_int_eq(store_cas(STOREOP_CAS, "k", "v3", cas), STOREOP_EXISTS);
    ck_assert_str_eq(look("k").value, "v2");
}
END_TEST

START_TEST(test_storeop_store_item_frees_the_item_it_does_not_store)
{
    uint64_t cas = put("k", "held", 0, 0), before = mem_used();

    ck_assert_int_eq(store_op(STOREOP_ADD, "k", "refused"), STOREOP_NOT_STORED);
    ck_assert_int_eq(store_op(STOREOP_REPLACE, "absent", "refused"), STOREOP_NOT_STORED);
    ck_assert_int_eq(store_cas(STOREOP_CAS, "k", "refused", cas + 1), STOREOP_EXISTS);
    ck_assert_int_eq(store_op(STOREOP_APPEND, "absent", "refused"), STOREOP_NOT_STORED);
    ck_assert_uint_eq(mem_used(), before);
}
END_TEST

/* ---- append / prepend ---- */

START_TEST(test_storeop_append_joins_after_the_value_keeping_its_flags_and_expiry)
{
    rel_time_t exp = mctime_realtime(1000);
    struct storeop_req req = {.op = STOREOP_APPEND};
    struct snap s;
    uint64_t old_cas = put("k", "head", 42, exp), cas = 0;
    struct item *it = item_of("k", "-tail", 7, mctime_realtime(5));

    ck_assert_int_eq(storeop_store_item(&env, it, &req, &cas), STOREOP_STORED);
    s = look("k");
    ck_assert_str_eq(s.value, "head-tail");
    ck_assert_uint_eq(s.flags, 42);
    ck_assert_uint_eq(s.exptime, exp);
    ck_assert_uint_eq(s.cas, cas);
    ck_assert_uint_gt(cas, old_cas);
}
END_TEST

START_TEST(test_storeop_prepend_joins_before_the_value)
{
    put("k", "tail", 9, 0);
    ck_assert_int_eq(store_op(STOREOP_PREPEND, "k", "head-"), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "head-tail");
    ck_assert_uint_eq(look("k").flags, 9);
}
END_TEST

START_TEST(test_storeop_append_and_prepend_to_an_empty_value_or_of_nothing)
{
    put("k", "", 0, 0);
    ck_assert_int_eq(store_op(STOREOP_APPEND, "k", "ab"), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "ab");
    ck_assert_int_eq(store_op(STOREOP_PREPEND, "k", ""), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "ab");
}
END_TEST

START_TEST(test_storeop_append_or_prepend_to_a_missing_key_is_not_stored)
{
    ck_assert_int_eq(store_op(STOREOP_APPEND, "k", "x"), STOREOP_NOT_STORED);
    ck_assert_int_eq(store_op(STOREOP_PREPEND, "k", "x"), STOREOP_NOT_STORED);
    ck_assert(!look("k").found);
}
END_TEST

START_TEST(test_storeop_append_with_a_cas_joins_only_over_that_cas)
{
    uint64_t cas = put("k", "a", 0, 0);

    ck_assert_int_eq(store_cas(STOREOP_APPEND, "k", "b", cas + 1), STOREOP_EXISTS);
    ck_assert_int_eq(store_cas(STOREOP_PREPEND, "k", "b", cas + 1), STOREOP_EXISTS);
    ck_assert_str_eq(look("k").value, "a");
    ck_assert_int_eq(store_cas(STOREOP_APPEND, "k", "b", cas), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "ab");
    /* a CAS compare on append is not a cas command: no cas_* counter */
    ck_assert_uint_eq(ts.cas_hits + ts.cas_badval + ts.cas_misses, 0);
}
END_TEST

START_TEST(test_storeop_append_keeps_the_base64_key_mark_of_the_held_item)
{
    struct item *it = item_of("k", "a", 0, 0);
    struct storeop_req set = {.op = STOREOP_SET};
    uint64_t cas;

    it->iflags |= ITEM_KEY_BINARY;
    ck_assert_int_eq(storeop_store_item(&env, it, &set, &cas), STOREOP_STORED);
    ck_assert_int_eq(store_op(STOREOP_APPEND, "k", "b"), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "ab");
    ck_assert(look("k").iflags & ITEM_KEY_BINARY);
}
END_TEST

START_TEST(test_storeop_append_in_a_full_store_without_eviction_keeps_the_value)
{
    struct storeop_req req = {.op = STOREOP_APPEND};
    struct item *it;
    uint64_t before, cas = 0;

    make_store(512 * 1024, false);
    put("k", "abc", 0, 0);
    before = mem_used();
    it = item_of("k", "de", 0, 0);
    fill("k", 5 + 2); /* no room for the joined value */
    ck_assert_int_eq(storeop_store_item(&env, it, &req, &cas), STOREOP_NOT_STORED);
    ck_assert_uint_eq(cas, 0);
    ck_assert_str_eq(look("k").value, "abc");
    unfill();
    ck_assert_uint_eq(mem_used(), before); /* it was freed */
}
END_TEST

/* ---- meta I (stale) and E (explicit CAS) ---- */

START_TEST(test_storeop_stale_cas_stores_an_older_cas_marked_stale_with_the_held_expiry)
{
    rel_time_t exp = mctime_realtime(500);
    uint64_t old_cas = put("k", "v1", 0, 0), cas = 0;
    uint64_t newer = put("k", "v2", 0, exp);
    struct storeop_req req = {.op = STOREOP_CAS, .req_cas = old_cas, .set_stale = true};
    struct snap s;

    ck_assert_uint_gt(newer, old_cas);
    ck_assert_int_eq(store_req("k", "late", &req, &cas), STOREOP_STORED);
    s = look("k");
    ck_assert_str_eq(s.value, "late");
    ck_assert(s.iflags & ITEM_STALE);
    ck_assert_uint_eq(s.exptime, exp);
    ck_assert_uint_eq(s.cas, cas);
    ck_assert_uint_eq(ts.cas_hits, 1);
}
END_TEST

START_TEST(test_storeop_stale_cas_refuses_a_cas_newer_than_the_held_one)
{
    uint64_t cas = put("k", "v1", 0, 0);
    struct storeop_req req = {.op = STOREOP_CAS, .req_cas = cas + 100, .set_stale = true};

    ck_assert_int_eq(store_req("k", "v2", &req, NULL), STOREOP_EXISTS);
    ck_assert_str_eq(look("k").value, "v1");
    ck_assert(!(look("k").iflags & ITEM_STALE));
    ck_assert_uint_eq(ts.cas_badval, 1);
}
END_TEST

START_TEST(test_storeop_stale_cas_keeps_a_handed_out_win_token)
{
    uint64_t cas = put("k", "v1", 0, 0);
    struct storeop_req req = {.op = STOREOP_CAS, .req_cas = cas, .set_stale = true};
    uint32_t hv = store_hash("k", 1);
    struct store_shard *sh = store_lock(st, hv);

    do_store_find(sh, "k", 1, hv, NULL)->iflags |= ITEM_TOKEN;
    do_store_new_cas(sh, do_store_find(sh, "k", 1, hv, NULL));
    store_unlock(sh);
    ck_assert_int_eq(store_req("k", "v2", &req, NULL), STOREOP_STORED);
    ck_assert(look("k").iflags & ITEM_TOKEN);
    ck_assert(look("k").iflags & ITEM_STALE);
}
END_TEST

START_TEST(test_storeop_explicit_cas_is_kept)
{
    struct item *it = item_of("k", "v", 0, 0);
    struct storeop_req req = {.op = STOREOP_SET, .keep_cas = true};
    uint64_t cas = 0;

    it->cas = 1000000;
    ck_assert_int_eq(storeop_store_item(&env, it, &req, &cas), STOREOP_STORED);
    ck_assert_uint_eq(cas, 1000000);
    ck_assert_uint_eq(look("k").cas, 1000000);
}
END_TEST

START_TEST(test_storeop_without_use_cas_a_cas_compare_never_matches)
{
    uint64_t cas = put("k", "v1", 0, 0);

    env.use_cas = false;
    ck_assert_int_eq(store_cas(STOREOP_CAS, "k", "v2", cas), STOREOP_EXISTS);
    /* and an append ignores the compare */
    ck_assert_int_eq(store_cas(STOREOP_APPEND, "k", "x", cas + 1), STOREOP_STORED);
    ck_assert_str_eq(look("k").value, "v1x");
}
END_TEST

/* ---- drop ---- */

START_TEST(test_storeop_drop_key_unlinks_the_item_and_ignores_a_missing_key)
{
    uint64_t before = mem_used();

    put("k", "v", 0, 0);
    storeop_drop_key(st, "k", 1);
    ck_assert(!look("k").found);
    ck_assert_uint_eq(mem_used(), before);
    storeop_drop_key(st, "k", 1);
    ck_assert(!look("k").found);
}
END_TEST

START_TEST(test_storeop_do_drop_key_runs_under_a_lock_the_caller_holds)
{
    uint32_t hv = store_hash("k", 1);
    struct store_shard *sh;

    put("k", "v", 0, 0);
    put("other", "v", 0, 0);
    sh = store_lock(st, hv);
    do_storeop_drop_key(sh, "k", 1, hv);
    ck_assert_ptr_null(do_store_find(sh, "k", 1, hv, NULL));
    store_unlock(sh);
    ck_assert(look("other").found);
}
END_TEST

/* ---- incr / decr ---- */

START_TEST(test_storeop_incr_adds_in_place_with_a_new_cas_and_counts_a_hit)
{
    uint64_t cas = put("n", "10", 3, 0);
    struct storeop_delta_res res;

    ck_assert_int_eq(delta("n", true, 5, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(res.value, "15");
    ck_assert_uint_eq(res.len, 2);
    ck_assert_str_eq(look("n").value, "15");
    ck_assert_uint_eq(look("n").flags, 3);
    ck_assert_uint_gt(res.cas, cas);
    ck_assert_uint_eq(look("n").cas, res.cas);
    ck_assert_uint_eq(ts.incr_hits, 1);
    ck_assert_uint_eq(ts.decr_hits, 0);
}
END_TEST

START_TEST(test_storeop_incr_wraps_around_at_2_to_the_64)
{
    struct storeop_delta_res res;

    put("n", "18446744073709551615", 0, 0);
    ck_assert_int_eq(delta("n", true, 2, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(res.value, "1");
    /* the shorter result keeps the length, padded with spaces */
    ck_assert_str_eq(look("n").value, "1                   ");
}
END_TEST

START_TEST(test_storeop_decr_stops_at_zero_and_counts_a_hit)
{
    struct storeop_delta_res res;

    put("n", "5", 0, 0);
    ck_assert_int_eq(delta("n", false, 10, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(res.value, "0");
    ck_assert_str_eq(look("n").value, "0");
    ck_assert_uint_eq(ts.decr_hits, 1);
    ck_assert_uint_eq(ts.incr_hits, 0);
}
END_TEST

START_TEST(test_storeop_decr_keeps_the_length_padding_with_spaces)
{
    struct storeop_delta_res res;

    put("n", "100", 0, 0);
    ck_assert_int_eq(delta("n", false, 91, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(res.value, "9");
    ck_assert_str_eq(look("n").value, "9  ");
    /* and a padded value still counts */
    ck_assert_int_eq(delta("n", true, 1, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(look("n").value, "10 ");
}
END_TEST

START_TEST(test_storeop_incr_that_grows_a_digit_moves_to_a_longer_item_keeping_metadata)
{
    rel_time_t exp = mctime_realtime(700);
    uint64_t cas = put("n", "99", 11, exp);
    struct storeop_delta_res res;
    struct snap s;

    ck_assert_int_eq(delta("n", true, 1, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(res.value, "100");
    s = look("n");
    ck_assert_str_eq(s.value, "100");
    ck_assert_uint_eq(s.flags, 11);
    ck_assert_uint_eq(s.exptime, exp);
    ck_assert_uint_gt(s.cas, cas);
    ck_assert_uint_eq(s.cas, res.cas);
    ck_assert_uint_eq(ts.incr_hits, 1);
}
END_TEST

START_TEST(test_storeop_incr_of_a_non_numeric_value_changes_nothing)
{
    struct storeop_delta_res res;

    put("s", "abc", 0, 0);
    put("e", "", 0, 0);
    put("m", "12abc", 0, 0);
    ck_assert_int_eq(delta("s", true, 1, &res), STOREOP_DELTA_NON_NUMERIC);
    ck_assert_int_eq(delta("e", false, 1, &res), STOREOP_DELTA_NON_NUMERIC);
    ck_assert_int_eq(delta("m", true, 1, &res), STOREOP_DELTA_NON_NUMERIC);
    ck_assert_str_eq(look("s").value, "abc");
    ck_assert_str_eq(look("m").value, "12abc");
    ck_assert_uint_eq(ts.incr_hits + ts.decr_hits, 0);
}
END_TEST

START_TEST(test_storeop_incr_of_a_missing_key_is_not_found_and_counts_nothing)
{
    struct storeop_delta_res res;

    ck_assert_int_eq(delta("n", true, 1, &res), STOREOP_DELTA_NOT_FOUND);
    ck_assert(!look("n").found);
    /* the miss is the caller's to count (ma N creates the key instead) */
    ck_assert_uint_eq(ts.incr_misses + ts.incr_hits, 0);
}
END_TEST

START_TEST(test_storeop_delta_with_a_cas_changes_only_that_cas)
{
    uint64_t cas = put("n", "1", 0, 0);
    struct storeop_delta_req req = {.incr = true, .delta = 1, .req_cas = cas + 1};
    struct storeop_delta_res res;

    ck_assert_int_eq(storeop_add_delta(&env, "n", 1, &req, &res),
                     STOREOP_DELTA_CAS_MISMATCH);
    ck_assert_str_eq(look("n").value, "1");
    req.req_cas = cas;
    ck_assert_int_eq(storeop_add_delta(&env, "n", 1, &req, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(look("n").value, "2");
}
END_TEST

START_TEST(test_storeop_delta_with_an_explicit_cas_keeps_it_in_place_and_when_grown)
{
    struct storeop_delta_req req = {.incr = true, .delta = 1, .new_cas = 5000000};
    struct storeop_delta_res res;

    put("n", "5", 0, 0);
    ck_assert_int_eq(storeop_add_delta(&env, "n", 1, &req, &res), STOREOP_DELTA_OK);
    ck_assert_uint_eq(res.cas, 5000000);
    ck_assert_uint_eq(look("n").cas, 5000000);

    put("g", "9", 0, 0);
    req.new_cas = 6000000;
    ck_assert_int_eq(storeop_add_delta(&env, "g", 1, &req, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(look("g").value, "10");
    ck_assert_uint_eq(look("g").cas, 6000000);
}
END_TEST

START_TEST(test_storeop_delta_sets_the_ttl_and_reports_the_one_it_replaced)
{
    rel_time_t old_exp = mctime_realtime(100), new_exp = mctime_realtime(900);
    struct storeop_delta_req req = {
        .incr = false, .delta = 1, .set_ttl = true, .ttl = new_exp};
    struct storeop_delta_res res;

    put("n", "7", 0, old_exp);
    ck_assert_int_eq(storeop_add_delta(&env, "n", 1, &req, &res), STOREOP_DELTA_OK);
    ck_assert_uint_eq(res.old_exptime, old_exp);
    ck_assert_uint_eq(look("n").exptime, new_exp);
    ck_assert_str_eq(look("n").value, "6");
}
END_TEST

START_TEST(test_storeop_incr_that_grows_in_a_full_store_without_eviction_is_eom)
{
    struct storeop_delta_res res;
    uint64_t before;

    make_store(512 * 1024, false);
    put("n", "99", 0, 0);
    fill("n", 3 + 2); /* no room for "100" */
    before = mem_used();
    ck_assert_int_eq(delta("n", true, 1, &res), STOREOP_DELTA_EOM);
    ck_assert_str_eq(look("n").value, "99");
    ck_assert_uint_eq(mem_used(), before);
    ck_assert_uint_eq(ts.incr_hits, 0);
    /* a result that fits needs no memory */
    ck_assert_int_eq(delta("n", false, 9, &res), STOREOP_DELTA_OK);
    ck_assert_str_eq(look("n").value, "90");
    unfill();
}
END_TEST

Suite *storeop_suite(void);

Suite *storeop_suite(void)
{
    Suite *s = suite_create("storeop");
    TCase *tc;

    tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_storeop_set_stores_and_reports_the_new_cas);
    tcase_add_test(tc, test_storeop_add_stores_only_when_the_key_holds_nothing);
    tcase_add_test(tc, test_storeop_replace_stores_only_over_a_value);
    tcase_add_test(
        tc, test_storeop_cas_stores_only_over_the_cas_compared_and_counts_each_outcome);
    tcase_add_test(tc, test_storeop_cas_of_a_replaced_value_is_refused);
    tcase_add_test(tc, test_storeop_store_item_frees_the_item_it_does_not_store);
    suite_add_tcase(s, tc);

    tc = tcase_create("join");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(
        tc, test_storeop_append_joins_after_the_value_keeping_its_flags_and_expiry);
    tcase_add_test(tc, test_storeop_prepend_joins_before_the_value);
    tcase_add_test(tc, test_storeop_append_and_prepend_to_an_empty_value_or_of_nothing);
    tcase_add_test(tc, test_storeop_append_or_prepend_to_a_missing_key_is_not_stored);
    tcase_add_test(tc, test_storeop_append_with_a_cas_joins_only_over_that_cas);
    tcase_add_test(tc, test_storeop_append_keeps_the_base64_key_mark_of_the_held_item);
    tcase_add_test(tc,
                   test_storeop_append_in_a_full_store_without_eviction_keeps_the_value);
    suite_add_tcase(s, tc);

    tc = tcase_create("meta");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(
        tc, test_storeop_stale_cas_stores_an_older_cas_marked_stale_with_the_held_expiry);
    tcase_add_test(tc, test_storeop_stale_cas_refuses_a_cas_newer_than_the_held_one);
    tcase_add_test(tc, test_storeop_stale_cas_keeps_a_handed_out_win_token);
    tcase_add_test(tc, test_storeop_explicit_cas_is_kept);
    tcase_add_test(tc, test_storeop_without_use_cas_a_cas_compare_never_matches);
    suite_add_tcase(s, tc);

    tc = tcase_create("drop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_storeop_drop_key_unlinks_the_item_and_ignores_a_missing_key);
    tcase_add_test(tc, test_storeop_do_drop_key_runs_under_a_lock_the_caller_holds);
    suite_add_tcase(s, tc);

    tc = tcase_create("delta");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_storeop_incr_adds_in_place_with_a_new_cas_and_counts_a_hit);
    tcase_add_test(tc, test_storeop_incr_wraps_around_at_2_to_the_64);
    tcase_add_test(tc, test_storeop_decr_stops_at_zero_and_counts_a_hit);
    tcase_add_test(tc, test_storeop_decr_keeps_the_length_padding_with_spaces);
    tcase_add_test(
        tc, test_storeop_incr_that_grows_a_digit_moves_to_a_longer_item_keeping_metadata);
    tcase_add_test(tc, test_storeop_incr_of_a_non_numeric_value_changes_nothing);
    tcase_add_test(tc,
                   test_storeop_incr_of_a_missing_key_is_not_found_and_counts_nothing);
    tcase_add_test(tc, test_storeop_delta_with_a_cas_changes_only_that_cas);
    tcase_add_test(
        tc, test_storeop_delta_with_an_explicit_cas_keeps_it_in_place_and_when_grown);
    tcase_add_test(tc, test_storeop_delta_sets_the_ttl_and_reports_the_one_it_replaced);
    tcase_add_test(tc,
                   test_storeop_incr_that_grows_in_a_full_store_without_eviction_is_eom);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(storeop_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
