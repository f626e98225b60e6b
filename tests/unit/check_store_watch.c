/* check_store_watch: the store's observer sees every item that enters or
 * leaves the table, so a hash tree kept from it equals one built by
 * walking the table; and the walks (store_scan_hash, store_scan_shard)
 * see exactly the items they promise. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/mctime.h"
#include "base/rng.h"
#include "cluster/merkle.h"
#include "store_fixture.h"

struct watch {
    struct merkle tree; /* toggled by the observer */
    unsigned linked, unlinked;
};

static struct watch *w;

static uint64_t digest_of(const struct item *it)
{
    return merkle_digest(it->data, it->nkey, it->cas, (it->iflags & ITEM_TOMBSTONE) != 0);
}

static void on_linked(void *arg, const struct item *it)
{
    struct watch *wt = arg;

    merkle_toggle(&wt->tree, store_item_hash(it), digest_of(it));
    wt->linked++;
}

static void on_unlinked(void *arg, const struct item *it)
{
    struct watch *wt = arg;

    merkle_toggle(&wt->tree, store_item_hash(it), digest_of(it));
    wt->unlinked++;
}

static void watch_store(uint64_t maxbytes, bool replicating)
{
    struct store_observer ob = {.linked = on_linked, .unlinked = on_unlinked};

    make_store_with(maxbytes, 1024 * 1024, true, replicating);
    w = calloc(1, sizeof(*w));
    ck_assert_ptr_nonnull(w);
    merkle_init(&w->tree);
    ob.arg = w;
    store_set_observer(st, &ob);
}

static void setup(void)
{
    mctime_init();
}

static void unwatch(void)
{
    teardown();
    free(w);
    w = NULL;
}

static void add_to(void *arg, const struct item *it)
{
    if (it != NULL)
        merkle_toggle(arg, store_item_hash(it), digest_of(it));
}

/* The tree of what the table holds now, by walking every shard. */
static void walked_tree(struct merkle *t)
{
    merkle_init(t);
    for (uint32_t s = 0; s < STORE_SHARDS; s++)
        store_scan_shard(st, s, add_to, t);
}

static void delete_key(const char *key)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, NULL);

    if (it != NULL)
        do_store_delete(sh, it);
    store_unlock(sh);
}

static void new_cas(const char *key, uint64_t explicit_cas)
{
    uint32_t hv = store_hash(key, strlen(key));
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = do_store_find(sh, key, strlen(key), hv, NULL);

    if (it != NULL && explicit_cas != 0)
        do_store_set_cas(sh, it, explicit_cas);
    else if (it != NULL)
        do_store_new_cas(sh, it);
    store_unlock(sh);
}

START_TEST(test_watch_observer_sees_a_set_a_replace_and_a_delete)
{
    watch_store(64 * 1024 * 1024, false);
    ck_assert(put("a", 10));
    ck_assert_uint_eq(w->linked, 1);
    ck_assert_uint_eq(w->unlinked, 0);
    ck_assert(put("a", 20)); /* replace */
    ck_assert_uint_eq(w->linked, 2);
    ck_assert_uint_eq(w->unlinked, 1);
    delete_key("a");
    ck_assert_uint_eq(w->unlinked, 2);
    ck_assert_uint_eq(merkle_root(&w->tree), 0);
}
END_TEST

START_TEST(test_watch_a_delete_with_tombstones_links_the_tombstone)
{
    struct merkle walked;

    watch_store(64 * 1024 * 1024, true);
    ck_assert(put("a", 10));
    delete_key("a");
    ck_assert_uint_eq(w->linked, 2); /* the item, then its tombstone */
    ck_assert_uint_eq(w->unlinked, 1);
    ck_assert_uint_ne(merkle_root(&w->tree), 0);
    walked_tree(&walked);
    ck_assert_mem_eq(walked.leaf, w->tree.leaf, sizeof(walked.leaf));
}
END_TEST

START_TEST(test_watch_an_in_place_version_change_is_seen)
{
    struct merkle walked;

    watch_store(64 * 1024 * 1024, true);
    ck_assert(put("c", 4));
    new_cas("c", 0);
    new_cas("c", store_next_cas(st) + 1000);
    ck_assert_uint_eq(w->linked, 3);
    ck_assert_uint_eq(w->unlinked, 2);
    walked_tree(&walked);
    ck_assert_mem_eq(walked.leaf, w->tree.leaf, sizeof(walked.leaf));
}
END_TEST

START_TEST(test_watch_evictions_and_expiries_are_seen)
{
    struct merkle walked;
    char key[32];

    watch_store(2 * 1024 * 1024, false);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        ck_assert(put_exp(key, 1000, i % 3 == 0 ? 1 : 0)); /* 1: expired at once */
    }
    ck_assert_uint_gt(stats().evictions, 0);
    ck_assert_uint_eq(w->linked - w->unlinked, stats().curr_items);
    walked_tree(&walked);
    ck_assert_mem_eq(walked.leaf, w->tree.leaf, sizeof(walked.leaf));
}
END_TEST

/* Thousands of random operations of every kind that changes the table,
 * on a small replicating store that evicts: the tree the observer kept
 * equals the walked one at every checkpoint. */
START_TEST(test_watch_tree_from_the_observer_equals_the_walked_tree)
{
    struct merkle *walked = malloc(sizeof(*walked));
    struct rng rng;
    char key[32];

    ck_assert_ptr_nonnull(walked);
    watch_store(400 * 1024, true);
    rng_seed(&rng, 7);
    for (int i = 0; i < 40000; i++) {
        unsigned op = (unsigned)rng_below(&rng, 1000);
        snprintf(key, sizeof(key), "k%u", (unsigned)rng_below(&rng, 3000));
        if (op < 550) /* some expired at once (1) */
            put_exp(key, 1 + (size_t)rng_below(&rng, 800),
                    rng_below(&rng, 8) == 0 ? 1 : 0);
        else if (op < 750)
            delete_key(key);
        else if (op < 900)
            new_cas(key,
                    rng_below(&rng, 2) ? 0 : store_next_cas(st) + rng_below(&rng, 99));
        else if (op < 902)
            store_flush(st, 0);
        else
            store_sample_expired(st, 1000);
        if (i % 5000 == 4999) {
            walked_tree(walked);
            ck_assert_msg(memcmp(walked->leaf, w->tree.leaf, sizeof(walked->leaf)) == 0,
                          "trees differ after %d operations", i + 1);
        }
    }
    ck_assert_uint_gt(stats().evictions, 0);
    free(walked);
}
END_TEST

struct collect {
    uint32_t value, mask;
    size_t n, bad;
};

static void count_matching(void *arg, const struct item *it)
{
    struct collect *c = arg;

    if (it == NULL)
        return;
    if ((store_item_hash(it) & c->mask) == c->value)
        c->n++;
}

static void count_all(void *arg, const struct item *it)
{
    struct collect *c = arg;

    c->n++;
    if ((store_item_hash(it) & c->mask) != c->value)
        c->bad++;
}

START_TEST(test_watch_scan_hash_sees_exactly_the_items_of_its_hash_bits)
{
    char key[32];

    watch_store(64 * 1024 * 1024, false);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "h%d", i);
        ck_assert(put(key, 8));
    }
    for (uint32_t v = 0; v < MERKLE_LEAVES; v += 397) {
        struct collect want = {.value = v, .mask = MERKLE_LEAVES - 1};
        struct collect got = want;
        for (uint32_t s = 0; s < STORE_SHARDS; s++)
            store_scan_shard(st, s, count_matching, &want);
        ck_assert_uint_eq(store_scan_hash(st, v, MERKLE_LEAF_BITS, count_all, &got),
                          got.n);
        ck_assert_uint_eq(got.bad, 0);
        ck_assert_uint_eq(got.n, want.n);
    }
}
END_TEST

START_TEST(test_watch_scan_hash_reclaims_the_expired_instead_of_listing_them)
{
    struct collect got = {.mask = MERKLE_LEAVES - 1};
    const char *key = "gone";
    uint32_t hv = store_hash(key, strlen(key));

    watch_store(64 * 1024 * 1024, false);
    ck_assert(put_exp(key, 8, 1)); /* 1: already expired */
    got.value = hv & got.mask;
    ck_assert_uint_eq(store_scan_hash(st, got.value, MERKLE_LEAF_BITS, count_all, &got),
                      0);
    ck_assert_uint_eq(w->unlinked, 1);
    ck_assert_uint_eq(merkle_root(&w->tree), 0);
}
END_TEST

static Suite *store_watch_suite(void)
{
    Suite *s = suite_create("store_watch");
    TCase *tc = tcase_create("observer");

    tcase_add_checked_fixture(tc, setup, unwatch);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_watch_observer_sees_a_set_a_replace_and_a_delete);
    tcase_add_test(tc, test_watch_a_delete_with_tombstones_links_the_tombstone);
    tcase_add_test(tc, test_watch_an_in_place_version_change_is_seen);
    tcase_add_test(tc, test_watch_evictions_and_expiries_are_seen);
    tcase_add_test(tc, test_watch_tree_from_the_observer_equals_the_walked_tree);
    tcase_add_test(tc, test_watch_scan_hash_sees_exactly_the_items_of_its_hash_bits);
    tcase_add_test(tc, test_watch_scan_hash_reclaims_the_expired_instead_of_listing_them);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_watch_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
