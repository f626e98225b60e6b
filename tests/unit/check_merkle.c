/* check_merkle: anti-entropy's XOR hash trees: order-free incremental
 * updates, levels that agree with each other, and a descent from the root
 * that finds exactly the leaves where two replicas differ. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cluster/merkle.h"
#include "store/store.h"

#define NKEYS 20000

struct state {
    char key[32];
    size_t nkey;
    uint32_t hv;
    uint64_t version;
    bool tomb;
};

static struct state states[NKEYS];

static void make_states(uint64_t seed)
{
    struct rng rng;

    rng_seed(&rng, seed);
    for (size_t i = 0; i < NKEYS; i++) {
        struct state *s = &states[i];
        s->nkey = (size_t)snprintf(s->key, sizeof(s->key), "key:%zu", i);
        s->hv = store_hash(s->key, s->nkey);
        s->version = rng_next(&rng) >> 1;
        s->tomb = rng_below(&rng, 10) == 0;
    }
}

static void put(struct merkle *t, const struct state *s)
{
    merkle_toggle(t, s->hv, merkle_digest(s->key, s->nkey, s->version, s->tomb));
}

static struct merkle *tree_new(void)
{
    struct merkle *t = malloc(sizeof(*t));

    ck_assert_ptr_nonnull(t);
    merkle_init(t);
    return t;
}

START_TEST(test_merkle_empty_tree_is_all_zero)
{
    struct merkle *t = tree_new();
    uint64_t seg[MERKLE_FANOUT];

    ck_assert_uint_eq(merkle_root(t), 0);
    merkle_segments(t, seg);
    for (size_t i = 0; i < MERKLE_FANOUT; i++)
        ck_assert_uint_eq(seg[i], 0);
    free(t);
}
END_TEST

START_TEST(test_merkle_toggling_twice_removes_the_state)
{
    struct merkle *t = tree_new();

    make_states(1);
    for (size_t i = 0; i < 100; i++)
        put(t, &states[i]);
    ck_assert_uint_ne(merkle_root(t), 0);
    for (size_t i = 0; i < 100; i++)
        put(t, &states[i]);
    for (size_t i = 0; i < MERKLE_LEAVES; i++)
        ck_assert_uint_eq(t->leaf[i], 0);
    free(t);
}
END_TEST

START_TEST(test_merkle_same_states_in_any_order_give_the_same_tree)
{
    struct merkle *a = tree_new(), *b = tree_new();
    size_t *order = malloc(NKEYS * sizeof(*order));
    struct rng rng;

    ck_assert_ptr_nonnull(order);
    make_states(2);
    rng_seed(&rng, 99);
    for (size_t i = 0; i < NKEYS; i++)
        order[i] = i;
    for (size_t i = NKEYS - 1; i > 0; i--) {
        size_t j = (size_t)rng_below(&rng, i + 1), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        put(a, &states[i]);
        put(b, &states[order[i]]);
    }
    ck_assert_mem_eq(a->leaf, b->leaf, sizeof(a->leaf));
    free(order);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_merkle_levels_agree_with_the_leaves)
{
    struct merkle *t = tree_new();
    uint64_t seg[MERKLE_FANOUT], leaves[MERKLE_FANOUT], all = 0;

    make_states(3);
    for (size_t i = 0; i < NKEYS; i++)
        put(t, &states[i]);
    merkle_segments(t, seg);
    for (unsigned s = 0; s < MERKLE_FANOUT; s++) {
        uint64_t x = 0;
        merkle_leaves(t, s, leaves);
        for (size_t i = 0; i < MERKLE_FANOUT; i++) {
            ck_assert_uint_eq(leaves[i], t->leaf[s * MERKLE_FANOUT + i]);
            x ^= leaves[i];
        }
        ck_assert_uint_eq(seg[s], x);
        all ^= seg[s];
    }
    ck_assert_uint_eq(merkle_root(t), all);
    free(t);
}
END_TEST

START_TEST(test_merkle_a_key_lands_in_the_leaf_of_its_low_hash_bits)
{
    struct merkle *t = tree_new();

    make_states(4);
    put(t, &states[7]);
    for (uint32_t i = 0; i < MERKLE_LEAVES; i++)
        ck_assert_msg((t->leaf[i] != 0) == (i == (states[7].hv & (MERKLE_LEAVES - 1))),
                      "leaf %u", i);
    ck_assert_uint_eq(merkle_leaf_of(0xabcdef12u), 0xf12u);
    free(t);
}
END_TEST

START_TEST(test_merkle_digest_depends_on_key_version_and_tombstone)
{
    uint64_t d = merkle_digest("k", 1, 42, false);

    ck_assert_uint_ne(d, 0);
    ck_assert_uint_eq(d, merkle_digest("k", 1, 42, false));
    ck_assert_uint_ne(d, merkle_digest("k", 1, 43, false));
    ck_assert_uint_ne(d, merkle_digest("k", 1, 42, true));
    ck_assert_uint_ne(d, merkle_digest("j", 1, 42, false));
    ck_assert_uint_ne(merkle_digest("", 0, 0, false), 0);
}
END_TEST

/* XOR is linear: a digest that were key-hash XOR version-hash would let
 * two keys swap versions unseen. */
START_TEST(test_merkle_two_keys_swapping_versions_change_the_root)
{
    struct merkle *a = tree_new(), *b = tree_new();

    merkle_toggle(a, 0, merkle_digest("k1", 2, 100, false));
    merkle_toggle(a, 0, merkle_digest("k2", 2, 200, false));
    merkle_toggle(b, 0, merkle_digest("k1", 2, 200, false));
    merkle_toggle(b, 0, merkle_digest("k2", 2, 100, false));
    ck_assert_uint_ne(merkle_root(a), merkle_root(b));
    free(a);
    free(b);
}
END_TEST

START_TEST(test_merkle_diff_lists_the_differing_indexes_in_order)
{
    uint64_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8] = {1, 9, 3, 4, 5, 6, 0, 8};
    uint32_t idx[8];

    ck_assert_uint_eq(merkle_diff(a, b, 8, idx), 2);
    ck_assert_uint_eq(idx[0], 1);
    ck_assert_uint_eq(idx[1], 6);
    ck_assert_uint_eq(merkle_diff(a, a, 8, idx), 0);
}
END_TEST

/* Two replicas of NKEYS states that differ in a few (a newer version on
 * one, a key missing on the other, a tombstone against a value): the
 * descent root -> segments -> leaves finds exactly the leaves of those
 * keys, and nothing when they agree. */
START_TEST(test_merkle_descent_finds_exactly_the_leaves_that_differ)
{
    struct merkle *a = tree_new(), *b = tree_new();
    static const size_t changed[] = {5, 777, 4242, 9999, 15000};
    uint64_t sa[MERKLE_FANOUT], sb[MERKLE_FANOUT], la[MERKLE_FANOUT], lb[MERKLE_FANOUT];
    uint32_t segs[MERKLE_FANOUT], leaves[MERKLE_FANOUT];
    bool want[MERKLE_LEAVES] = {false}, got[MERKLE_LEAVES] = {false};
    size_t nseg;

    make_states(5);
    for (size_t i = 0; i < NKEYS; i++) {
        put(a, &states[i]);
        put(b, &states[i]);
    }
    ck_assert_uint_eq(merkle_root(a), merkle_root(b));
    merkle_segments(a, sa);
    merkle_segments(b, sb);
    ck_assert_uint_eq(merkle_diff(sa, sb, MERKLE_FANOUT, segs), 0);

    put(b, &states[changed[0]]); /* b misses the key */
    put(b, &states[changed[1]]); /* b holds an older version */
    states[changed[1]].version--;
    put(b, &states[changed[1]]);
    for (size_t i = 2; i < sizeof(changed) / sizeof(changed[0]); i++) {
        put(b, &states[changed[i]]); /* b deleted it */
        states[changed[i]].tomb = !states[changed[i]].tomb;
        put(b, &states[changed[i]]);
    }
    for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++)
        want[merkle_leaf_of(states[changed[i]].hv)] = true;

    ck_assert_uint_ne(merkle_root(a), merkle_root(b));
    merkle_segments(a, sa);
    merkle_segments(b, sb);
    nseg = merkle_diff(sa, sb, MERKLE_FANOUT, segs);
    ck_assert_uint_ge(nseg, 1);
    for (size_t s = 0; s < nseg; s++) {
        size_t n;
        merkle_leaves(a, segs[s], la);
        merkle_leaves(b, segs[s], lb);
        n = merkle_diff(la, lb, MERKLE_FANOUT, leaves);
        ck_assert_uint_ge(n, 1); /* a differing segment has a differing leaf */
        for (size_t i = 0; i < n; i++)
            got[segs[s] * MERKLE_FANOUT + leaves[i]] = true;
    }
    ck_assert_mem_eq(got, want, sizeof(got));
    free(a);
    free(b);
}
END_TEST

struct toggler {
    struct merkle *t;
    size_t from, to;
};

static void *toggle_range(void *arg)
{
    struct toggler *tg = arg;

    for (size_t i = tg->from; i < tg->to; i++)
        put(tg->t, &states[i]);
    return NULL;
}

START_TEST(test_merkle_toggles_from_several_threads_lose_nothing)
{
    struct merkle *t = tree_new(), *ref = tree_new();
    struct toggler tg[4];
    pthread_t th[4];

    make_states(6);
    for (size_t i = 0; i < NKEYS; i++)
        put(ref, &states[i]);
    /* every thread toggles every key of its range, with ranges chosen so
     * that all four hit the same leaves at once */
    for (int i = 0; i < 4; i++) {
        tg[i] = (struct toggler){
            .t = t, .from = (size_t)i * NKEYS / 4, .to = (size_t)(i + 1) * NKEYS / 4};
        ck_assert_int_eq(pthread_create(&th[i], NULL, toggle_range, &tg[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_mem_eq(t->leaf, ref->leaf, sizeof(t->leaf));
    free(t);
    free(ref);
}
END_TEST

static Suite *merkle_suite(void)
{
    Suite *s = suite_create("merkle");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_merkle_empty_tree_is_all_zero);
    tcase_add_test(tc, test_merkle_toggling_twice_removes_the_state);
    tcase_add_test(tc, test_merkle_same_states_in_any_order_give_the_same_tree);
    tcase_add_test(tc, test_merkle_levels_agree_with_the_leaves);
    tcase_add_test(tc, test_merkle_a_key_lands_in_the_leaf_of_its_low_hash_bits);
    tcase_add_test(tc, test_merkle_digest_depends_on_key_version_and_tombstone);
    tcase_add_test(tc, test_merkle_two_keys_swapping_versions_change_the_root);
    tcase_add_test(tc, test_merkle_diff_lists_the_differing_indexes_in_order);
    tcase_add_test(tc, test_merkle_descent_finds_exactly_the_leaves_that_differ);
    tcase_add_test(tc, test_merkle_toggles_from_several_threads_lose_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(merkle_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
