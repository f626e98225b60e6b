/* check_mctime: memcached's expiry-time rules (0 never, negative expired,
 * relative up to 30 days, absolute unix time beyond) and the server clock. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/mctime.h"

/* A plausible process start and server time for the pure conversions. */
#define STARTED ((time_t)1700000000)
#define NOW     ((rel_time_t)1000)

START_TEST(test_mctime_zero_exptime_means_never)
{
    ck_assert_uint_eq(mctime_from_exptime(0, NOW, STARTED), 0);
    ck_assert_uint_eq(mctime_from_exptime(0, 2, 0), 0);
}
END_TEST

START_TEST(test_mctime_negative_exptime_means_already_expired)
{
    ck_assert_uint_eq(mctime_from_exptime(-1, NOW, STARTED), 1);
    ck_assert_uint_eq(mctime_from_exptime(-1000, NOW, STARTED), 1);
    ck_assert_uint_eq(mctime_from_exptime(INT32_MIN, NOW, STARTED), 1);
    ck_assert_uint_eq(mctime_from_exptime(INT64_MIN, NOW, STARTED), 1);
}
END_TEST

START_TEST(test_mctime_relative_exptime_is_added_to_now)
{
    ck_assert_uint_eq(mctime_from_exptime(1, NOW, STARTED), NOW + 1);
    ck_assert_uint_eq(mctime_from_exptime(10, NOW, STARTED), NOW + 10);
    ck_assert_uint_eq(mctime_from_exptime(3600, 2, STARTED), 3602);
}
END_TEST

START_TEST(test_mctime_thirty_days_exactly_is_still_relative)
{
    ck_assert_int_eq(MCTIME_MAX_DELTA, 2592000);
    ck_assert_uint_eq(mctime_from_exptime(MCTIME_MAX_DELTA, NOW, STARTED),
                      NOW + MCTIME_MAX_DELTA);
}
END_TEST

START_TEST(test_mctime_absolute_exptime_before_the_process_started_is_expired)
{
    /* one second past 30 days is an absolute time in 1970 */
    ck_assert_uint_eq(mctime_from_exptime(MCTIME_MAX_DELTA + 1, NOW, STARTED), 1);
    ck_assert_uint_eq(mctime_from_exptime(STARTED - 1, NOW, STARTED), 1);
    ck_assert_uint_eq(mctime_from_exptime(STARTED, NOW, STARTED), 1);
}
END_TEST

START_TEST(test_mctime_absolute_exptime_in_the_recent_past_is_already_due)
{
    /* after the start but before now: a time at or before now, never 0 */
    rel_time_t r = mctime_from_exptime(STARTED + 5, NOW, STARTED);

    ck_assert_uint_eq(r, 5);
    ck_assert_uint_ne(r, 0);
    ck_assert_uint_le(r, NOW);
    ck_assert_uint_eq(mctime_from_exptime(STARTED + NOW, NOW, STARTED), NOW);
}
END_TEST

START_TEST(test_mctime_absolute_exptime_in_the_future_is_converted_to_server_time)
{
    ck_assert_uint_eq(mctime_from_exptime(STARTED + NOW + 60, NOW, STARTED), NOW + 60);
    ck_assert_uint_eq(mctime_from_exptime(STARTED + 10000000, NOW, STARTED), 10000000);
}
END_TEST

START_TEST(test_mctime_far_future_absolute_exptime_never_wraps_into_the_past)
{
    rel_time_t r = mctime_from_exptime(INT64_MAX, NOW, STARTED);

    ck_assert_uint_gt(r, NOW);
    r = mctime_from_exptime((int64_t)STARTED + UINT32_MAX + 10, NOW, STARTED);
    ck_assert_uint_gt(r, NOW);
}
END_TEST

START_TEST(test_mctime_init_starts_the_clock_above_already_expired)
{
    time_t before = time(NULL);

    mctime_init();
    ck_assert_uint_gt(mctime_now(), 1);
    ck_assert_int_ge(mctime_started(), before - 3);
    ck_assert_int_le(mctime_started(), time(NULL));
    /* server time maps back onto the wall clock */
    ck_assert_int_ge(mctime_to_unix(mctime_now()), before - 1);
    ck_assert_int_le(mctime_to_unix(mctime_now()), time(NULL) + 1);
}
END_TEST

START_TEST(test_mctime_tick_never_moves_the_clock_backwards)
{
    rel_time_t t0;

    mctime_init();
    t0 = mctime_now();
    for (int i = 0; i < 1000; i++) {
        mctime_tick();
        ck_assert_uint_ge(mctime_now(), t0);
        t0 = mctime_now();
    }
    ck_assert_int_le(mctime_to_unix(mctime_now()), time(NULL) + 1);
}
END_TEST

START_TEST(test_mctime_realtime_uses_the_live_clock)
{
    mctime_init();
    ck_assert_uint_eq(mctime_realtime(0), 0);
    ck_assert_uint_eq(mctime_realtime(-1), 1);
    ck_assert_uint_eq(mctime_realtime(100), mctime_now() + 100);
    ck_assert_uint_eq(mctime_realtime(mctime_started() + 500), 500);
    ck_assert_uint_eq(mctime_realtime(mctime_started() - 500), 1);
}
END_TEST

static Suite *mctime_suite(void)
{
    Suite *s = suite_create("mctime");
    TCase *tc = tcase_create("exptime");

    tcase_add_test(tc, test_mctime_zero_exptime_means_never);
    tcase_add_test(tc, test_mctime_negative_exptime_means_already_expired);
    tcase_add_test(tc, test_mctime_relative_exptime_is_added_to_now);
    tcase_add_test(tc, test_mctime_thirty_days_exactly_is_still_relative);
    tcase_add_test(tc,
                   test_mctime_absolute_exptime_before_the_process_started_is_expired);
    tcase_add_test(tc, test_mctime_absolute_exptime_in_the_recent_past_is_already_due);
    tcase_add_test(
        tc, test_mctime_absolute_exptime_in_the_future_is_converted_to_server_time);
    tcase_add_test(tc, test_mctime_far_future_absolute_exptime_never_wraps_into_the_past);
    suite_add_tcase(s, tc);

    tc = tcase_create("clock");
    tcase_add_test(tc, test_mctime_init_starts_the_clock_above_already_expired);
    tcase_add_test(tc, test_mctime_tick_never_moves_the_clock_backwards);
    tcase_add_test(tc, test_mctime_realtime_uses_the_live_clock);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mctime_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
