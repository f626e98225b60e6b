/* check_topk: the Space-Saving sketch of hot keys (src/base/topk.c). */
#include "base/topk.h"
#include "base/rng.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A toy hash: distinct for the keys these tests use, unless a test wants
 * collisions (then it passes its own). */
static uint32_t h(const char *k)
{
    uint32_t x = 2166136261u;

    for (; *k != '\0'; k++)
        x = (x ^ (unsigned char)*k) * 16777619u;
    return x;
}

static void add(struct topk *t, const char *k, uint64_t w)
{
    topk_add(t, k, strlen(k), h(k), w);
}

static uint64_t count_of(const struct topk *t, const char *k)
{
    const struct topk_entry *e = topk_find(t, k, strlen(k), h(k));

    return e != NULL ? e->count : 0;
}

START_TEST(test_topk_counts_are_exact_while_keys_fit)
{
    struct topk t;
    char key[16];

    ck_assert_int_eq(topk_init(&t, 8), 0);
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < 8; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            add(&t, key, (uint64_t)i + 1);
        }
    for (int i = 0; i < 8; i++) {
        const struct topk_entry *e;
        snprintf(key, sizeof(key), "k%d", i);
        e = topk_find(&t, key, strlen(key), h(key));
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->count, 10u * (uint64_t)(i + 1));
        ck_assert_uint_eq(e->error, 0);
    }
    ck_assert_uint_eq(t.total, 10u * 36);
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_new_key_takes_the_smallest_counter_with_its_count_as_error)
{
    struct topk t;
    const struct topk_entry *e;

    ck_assert_int_eq(topk_init(&t, 3), 0);
    add(&t, "a", 5);
    add(&t, "b", 2);
    add(&t, "c", 9);
    add(&t, "d", 1); /* replaces b (2): count 3, error 2 */
    ck_assert_ptr_null(topk_find(&t, "b", 1, h("b")));
    e = topk_find(&t, "d", 1, h("d"));
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->count, 3);
    ck_assert_uint_eq(e->error, 2);
    ck_assert_uint_eq(count_of(&t, "a"), 5);
    ck_assert_uint_eq(count_of(&t, "c"), 9);
    ck_assert_uint_eq(t.n, 3);
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_bounds_hold_and_heavy_hitters_stay_on_a_skewed_stream)
{
    /* Zipf(1.1) over 2000 keys, 200,000 draws, 64 counters: every key above
     * total / 64 must hold a counter, and count - error <= true <= count */
    enum { KEYS = 2000, DRAWS = 200000, CAP = 64 };
    static uint64_t truth[KEYS];
    double cdf[KEYS], sum = 0;
    struct topk t;
    struct rng r;
    char key[16];

    for (int i = 0; i < KEYS; i++)
        cdf[i] = (sum += 1.0 / pow(i + 1, 1.1));
    memset(truth, 0, sizeof(truth));
    rng_seed(&r, 42);
    ck_assert_int_eq(topk_init(&t, CAP), 0);
    for (int d = 0; d < DRAWS; d++) {
        double u = rng_double(&r) * sum;
        int lo = 0, hi = KEYS - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        truth[lo]++;
        snprintf(key, sizeof(key), "key:%d", lo);
        add(&t, key, 1);
    }
    ck_assert_uint_eq(t.total, DRAWS);
    for (int i = 0; i < KEYS; i++) {
        const struct topk_entry *e;
        snprintf(key, sizeof(key), "key:%d", i);
        e = topk_find(&t, key, strlen(key), h(key));
        if (truth[i] > DRAWS / CAP)
            ck_assert_msg(e != NULL, "heavy key %d (%llu) lost", i,
                          (unsigned long long)truth[i]);
        if (e != NULL) {
            ck_assert_uint_le(e->count - e->error, truth[i]);
            ck_assert_uint_ge(e->count, truth[i]);
        }
    }
    /* the top 5 are ranked as the truth ranks them */
    {
        const struct topk_entry *top[5];
        ck_assert_uint_eq(topk_top(&t, top, 5), 5);
        for (int i = 0; i < 5; i++) {
            snprintf(key, sizeof(key), "key:%d", i);
            ck_assert_int_eq(top[i]->nkey, (int)strlen(key));
            ck_assert_int_eq(memcmp(top[i]->key, key, strlen(key)), 0);
        }
    }
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_top_orders_by_count_then_error_then_key)
{
    struct topk t;
    const struct topk_entry *top[8];

    ck_assert_int_eq(topk_init(&t, 8), 0);
    add(&t, "m", 4);
    add(&t, "z", 7);
    add(&t, "b", 4);
    add(&t, "a", 1);
    add(&t, "bb", 4);
    ck_assert_uint_eq(topk_top(&t, top, 8), 5);
    ck_assert_int_eq(top[0]->key[0], 'z');
    ck_assert_int_eq(top[1]->key[0], 'b');
    ck_assert_int_eq(top[1]->nkey, 1);
    ck_assert_int_eq(top[2]->nkey, 2); /* "bb" after its prefix "b" */
    ck_assert_int_eq(top[3]->key[0], 'm');
    ck_assert_int_eq(top[4]->key[0], 'a');
    /* a shorter list keeps the largest */
    ck_assert_uint_eq(topk_top(&t, top, 2), 2);
    ck_assert_int_eq(top[0]->key[0], 'z');
    ck_assert_int_eq(top[1]->key[0], 'b');
    ck_assert_uint_eq(topk_top(&t, top, 0), 0);
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_equal_counts_rank_the_exact_one_first)
{
    struct topk t;
    const struct topk_entry *top[2];

    ck_assert_int_eq(topk_init(&t, 2), 0);
    add(&t, "x", 3);
    add(&t, "y", 1);
    add(&t, "w", 2); /* takes y's counter: count 3, error 1 */
    ck_assert_uint_eq(topk_top(&t, top, 2), 2);
    ck_assert_int_eq(top[0]->key[0], 'x');
    ck_assert_int_eq(top[1]->key[0], 'w');
    ck_assert_uint_eq(top[1]->error, 1);
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_decay_halves_and_frees_counters_that_reach_zero)
{
    struct topk t;

    ck_assert_int_eq(topk_init(&t, 4), 0);
    add(&t, "a", 9);
    add(&t, "b", 1);
    add(&t, "c", 4);
    topk_decay(&t);
    ck_assert_uint_eq(t.n, 2);
    ck_assert_uint_eq(count_of(&t, "a"), 4);
    ck_assert_uint_eq(count_of(&t, "c"), 2);
    ck_assert_ptr_null(topk_find(&t, "b", 1, h("b")));
    ck_assert_uint_eq(t.total, 7);
    /* a freed counter is reused before any is replaced */
    add(&t, "d", 1);
    add(&t, "e", 1);
    ck_assert_uint_eq(t.n, 4);
    ck_assert_uint_eq(count_of(&t, "d"), 1);
    ck_assert_uint_eq(topk_find(&t, "e", 1, h("e"))->error, 0);
    for (int i = 0; i < 70; i++)
        topk_decay(&t);
    ck_assert_uint_eq(t.n, 0);
    ck_assert_uint_eq(t.total, 0);
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_a_decayed_old_favourite_gives_way_to_the_new_one)
{
    struct topk t;
    const struct topk_entry *top[1];

    ck_assert_int_eq(topk_init(&t, 4), 0);
    add(&t, "old", 1000);
    for (int period = 0; period < 8; period++) {
        topk_decay(&t);
        add(&t, "new", 50);
    }
    ck_assert_uint_eq(topk_top(&t, top, 1), 1);
    ck_assert_int_eq(memcmp(top[0]->key, "new", 3), 0);
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_same_hash_different_keys_are_kept_apart)
{
    struct topk t;

    ck_assert_int_eq(topk_init(&t, 4), 0);
    topk_add(&t, "one", 3, 7, 2);
    topk_add(&t, "two", 3, 7, 5);
    topk_add(&t, "one", 3, 7, 1);
    ck_assert_uint_eq(t.n, 2);
    ck_assert_uint_eq(topk_find(&t, "one", 3, 7)->count, 3);
    ck_assert_uint_eq(topk_find(&t, "two", 3, 7)->count, 5);
    ck_assert_ptr_null(topk_find(&t, "one", 3, 8));
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_ignores_empty_and_overlong_keys_and_zero_weights)
{
    struct topk t;
    char big[TOPK_MAX_KEY + 1];

    memset(big, 'k', sizeof(big));
    ck_assert_int_eq(topk_init(&t, 2), 0);
    topk_add(&t, big, sizeof(big), 1, 1);
    topk_add(&t, "", 0, 1, 1);
    topk_add(&t, "z", 1, 1, 0);
    ck_assert_uint_eq(t.n, 0);
    ck_assert_uint_eq(t.total, 0);
    topk_add(&t, big, TOPK_MAX_KEY, 1, 1); /* the longest key is fine */
    ck_assert_uint_eq(t.n, 1);
    ck_assert_uint_eq(topk_find(&t, big, TOPK_MAX_KEY, 1)->count, 1);
    topk_fini(&t);
}
END_TEST

START_TEST(test_topk_empty_sketch_and_zero_capacity)
{
    struct topk t;
    const struct topk_entry *top[4];

    ck_assert_int_eq(topk_init(&t, 4), 0);
    ck_assert_uint_eq(topk_top(&t, top, 4), 0);
    ck_assert_ptr_null(topk_find(&t, "a", 1, h("a")));
    topk_decay(&t);
    topk_fini(&t);
    ck_assert_int_ne(topk_init(&t, 0), 0);
}
END_TEST

static Suite *topk_suite(void)
{
    Suite *s = suite_create("topk");
    TCase *tc = tcase_create("space-saving");

    tcase_add_test(tc, test_topk_counts_are_exact_while_keys_fit);
    tcase_add_test(tc,
                   test_topk_new_key_takes_the_smallest_counter_with_its_count_as_error);
    tcase_add_test(tc, test_topk_bounds_hold_and_heavy_hitters_stay_on_a_skewed_stream);
    tcase_add_test(tc, test_topk_top_orders_by_count_then_error_then_key);
    tcase_add_test(tc, test_topk_equal_counts_rank_the_exact_one_first);
    tcase_add_test(tc, test_topk_same_hash_different_keys_are_kept_apart);
    tcase_add_test(tc, test_topk_ignores_empty_and_overlong_keys_and_zero_weights);
    tcase_add_test(tc, test_topk_empty_sketch_and_zero_capacity);
    suite_add_tcase(s, tc);
    tc = tcase_create("decay");
    tcase_add_test(tc, test_topk_decay_halves_and_frees_counters_that_reach_zero);
    tcase_add_test(tc, test_topk_a_decayed_old_favourite_gives_way_to_the_new_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(topk_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
