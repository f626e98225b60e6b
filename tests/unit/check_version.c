/* check_version: hybrid logical clock versions: always increasing whatever
 * the wall clock does, newer than anything observed, ties broken by node. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/version.h"

#define T0 (VERSION_EPOCH_MS + 86400000ull * 1000) /* some day in 2026 */

START_TEST(test_version_follows_a_wall_clock_that_is_ahead)
{
    uint64_t v = version_next(0, T0, 7);

    ck_assert_uint_eq(version_ms(v), T0);
    ck_assert_uint_eq(version_counter(v), 0);
    ck_assert_uint_eq(version_tag_of(v), 7);
    v = version_next(v, T0 + 5, 7);
    ck_assert_uint_eq(version_ms(v), T0 + 5);
    ck_assert_uint_eq(version_counter(v), 0);
}
END_TEST

START_TEST(test_version_counts_within_one_millisecond)
{
    uint64_t v = version_next(0, T0, 1), w = version_next(v, T0, 1);

    ck_assert_uint_gt(w, v);
    ck_assert_uint_eq(version_ms(w), T0);
    ck_assert_uint_eq(version_counter(w), 1);
}
END_TEST

START_TEST(test_version_keeps_increasing_when_the_clock_steps_backwards)
{
    uint64_t v = version_next(0, T0, 3), w;

    w = version_next(v, T0 - 60000, 3); /* the clock stepped back a minute */
    ck_assert_uint_gt(w, v);
    ck_assert_uint_eq(version_ms(w), T0);
    ck_assert_uint_eq(version_counter(w), 1);
}
END_TEST

START_TEST(test_version_full_counter_borrows_the_next_millisecond)
{
    uint64_t v = version_next(0, T0, 9);

    for (unsigned i = 0; i < VERSION_CTR_MAX; i++)
        v = version_next(v, T0, 9);
    ck_assert_uint_eq(version_counter(v), VERSION_CTR_MAX);
    v = version_next(v, T0, 9);
    ck_assert_uint_eq(version_ms(v), T0 + 1);
    ck_assert_uint_eq(version_counter(v), 0);
    ck_assert_uint_eq(version_tag_of(v), 9);
}
END_TEST

START_TEST(test_version_after_observing_is_newer_than_what_was_seen)
{
    uint64_t mine = version_next(0, T0, 1);
    uint64_t theirs = version_next(0, T0 + 1000, 2); /* a node whose clock is ahead */
    uint64_t state = version_observe(mine, theirs), next = version_next(state, T0, 1);

    ck_assert_uint_gt(next, theirs);
    ck_assert_uint_eq(version_tag_of(next), 1);
    /* observing something older changes nothing */
    ck_assert_uint_eq(version_observe(state, mine), state);
}
END_TEST

START_TEST(test_version_ties_are_broken_by_the_writers_tag)
{
    uint64_t a = version_next(0, T0, 1), b = version_next(0, T0, 2);

    ck_assert_uint_ne(a, b);
    ck_assert_uint_eq(version_ms(a), version_ms(b));
    ck_assert_uint_eq(version_counter(a), version_counter(b));
    ck_assert_uint_lt(a, b);
}
END_TEST

START_TEST(test_version_is_never_zero)
{
    ck_assert_uint_ne(version_next(0, 0, 0), 0);
    ck_assert_uint_ne(version_next(0, VERSION_EPOCH_MS, 0), 0);
}
END_TEST

START_TEST(test_version_tag_is_stable_and_in_range)
{
    ck_assert_uint_eq(version_tag("node-a", 6), version_tag("node-a", 6));
    ck_assert_uint_le(version_tag("node-a", 6), VERSION_TAG_MAX);
    ck_assert_uint_ne(version_tag("node-a", 6), version_tag("node-b", 6));
}
END_TEST

/* Random walks of several nodes writing and observing each other, with
 * clocks that jump both ways: every node's versions strictly increase, and
 * every write is newer than every version its node had seen. */
START_TEST(test_version_random_walk_is_monotonic_and_causal)
{
    uint64_t x = 42, state[4] = {0}, clock[4], prev[4] = {0};

    for (int n = 0; n < 4; n++)
        clock[n] = T0 + (uint64_t)n * 37;
    for (int i = 0; i < 200000; i++) {
        int n = (int)(rng_splitmix64(&x) % 4), m = (int)(rng_splitmix64(&x) % 4);
        uint64_t r = rng_splitmix64(&x) % 100, v;

        if (r < 5)
            clock[n] -= rng_splitmix64(&x) % 5000; /* a step backwards */
        else
            clock[n] += rng_splitmix64(&x) % 3;
        if (r < 30) { /* n sees m's last version */
            uint64_t seen = state[m];
            state[n] = version_observe(state[n], seen);
            v = version_next(state[n], clock[n], (uint32_t)n);
            ck_assert_uint_gt(v >> VERSION_TAG_BITS, seen >> VERSION_TAG_BITS);
        } else {
            v = version_next(state[n], clock[n], (uint32_t)n);
        }
        ck_assert_uint_gt(v, prev[n]);
        prev[n] = v;
        state[n] = v;
    }
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("hlc");

    tcase_add_test(tc, test_version_follows_a_wall_clock_that_is_ahead);
    tcase_add_test(tc, test_version_counts_within_one_millisecond);
    tcase_add_test(tc, test_version_keeps_increasing_when_the_clock_steps_backwards);
    tcase_add_test(tc, test_version_full_counter_borrows_the_next_millisecond);
    tcase_add_test(tc, test_version_after_observing_is_newer_than_what_was_seen);
    tcase_add_test(tc, test_version_ties_are_broken_by_the_writers_tag);
    tcase_add_test(tc, test_version_is_never_zero);
    tcase_add_test(tc, test_version_tag_is_stable_and_in_range);
    tcase_add_test(tc, test_version_random_walk_is_monotonic_and_causal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(version_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
