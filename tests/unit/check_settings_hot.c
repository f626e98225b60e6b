/* check_settings_hot: the -o options of hot-key handling (hotkeys_k,
 * hot_cache_ms, hot_cache_mb, ttl_jitter_pct; src/base/settings_hot.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "base/settings.h"

#include "settings_fixture.h"

START_TEST(test_settings_hot_defaults_track_16_keep_near_copies_1_s_and_do_not_jitter)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert_uint_eq(s.hotkeys_k, 16);
    ck_assert_uint_eq(s.hot_cache_ms, 1000);
    ck_assert_uint_eq(s.hot_cache_mb, 16);
    ck_assert_uint_eq(s.ttl_jitter_pct, 0);
    ck_assert_int_eq(
        PARSE("-o", "hotkeys_k=4,hot_cache_ms=0,hot_cache_mb=2,ttl_jitter_pct=10"), 0);
    ck_assert_uint_eq(r.s.hotkeys_k, 4);
    ck_assert_uint_eq(r.s.hot_cache_ms, 0);
    ck_assert_uint_eq(r.s.hot_cache_mb, 2);
    ck_assert_uint_eq(r.s.ttl_jitter_pct, 10);
}
END_TEST

START_TEST(test_settings_hotkeys_k_takes_1_to_128)
{
    static const char *const bad[] = {"hotkeys_k=0", "hotkeys_k=129", "hotkeys_k=",
                                      "hotkeys_k",   "hotkeys_k=-1",  "hotkeys_k=8x"};

    assert_o_takes_bounds("hotkeys_k", &r.s.hotkeys_k, 1, 128);
    assert_o_refuses("hotkeys_k", bad, ARRAY_LEN(bad),
                     "meshcached: -o hotkeys_k needs a number from 1 to 128\n");
}
END_TEST

START_TEST(test_settings_hot_cache_ms_takes_0_to_60000)
{
    static const char *const bad[] = {"hot_cache_ms=60001",
                                      "hot_cache_ms=", "hot_cache_ms", "hot_cache_ms=+5",
                                      "hot_cache_ms=1.5"};

    assert_o_takes_bounds("hot_cache_ms", &r.s.hot_cache_ms, 0, 60000);
    assert_o_refuses("hot_cache_ms", bad, ARRAY_LEN(bad),
                     "meshcached: -o hot_cache_ms needs a number from 0 to 60000\n");
}
END_TEST

START_TEST(test_settings_hot_cache_mb_takes_0_to_4096)
{
    static const char *const bad[] = {"hot_cache_mb=4097", "hot_cache_mb=1m",
                                      "hot_cache_mb="};

    assert_o_takes_bounds("hot_cache_mb", &r.s.hot_cache_mb, 0, 4096);
    assert_o_refuses("hot_cache_mb", bad, ARRAY_LEN(bad),
                     "meshcached: -o hot_cache_mb needs a number from 0 to 4096\n");
}
END_TEST

START_TEST(test_settings_ttl_jitter_pct_takes_0_to_50)
{
    static const char *const bad[] = {"ttl_jitter_pct=51", "ttl_jitter_pct=100",
                                      "ttl_jitter_pct=-1", "ttl_jitter_pct"};

    assert_o_takes_bounds("ttl_jitter_pct", &r.s.ttl_jitter_pct, 0, 50);
    assert_o_refuses("ttl_jitter_pct", bad, ARRAY_LEN(bad),
                     "meshcached: -o ttl_jitter_pct needs a number from 0 to 50\n");
}
END_TEST

START_TEST(test_settings_help_lists_the_hot_key_options)
{
    static const char *const entries[] = {"hotkeys_k=<num>", "hot_cache_ms=<ms>",
                                          "hot_cache_mb=<num>", "ttl_jitter_pct=<pct>"};

    assert_help_lists(entries, ARRAY_LEN(entries));
}
END_TEST

static Suite *settings_hot_suite(void)
{
    Suite *s = suite_create("settings_hot");
    TCase *tc = tcase_create("hot");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(
        tc, test_settings_hot_defaults_track_16_keep_near_copies_1_s_and_do_not_jitter);
    tcase_add_test(tc, test_settings_hotkeys_k_takes_1_to_128);
    tcase_add_test(tc, test_settings_hot_cache_ms_takes_0_to_60000);
    tcase_add_test(tc, test_settings_hot_cache_mb_takes_0_to_4096);
    tcase_add_test(tc, test_settings_ttl_jitter_pct_takes_0_to_50);
    tcase_add_test(tc, test_settings_help_lists_the_hot_key_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(settings_hot_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
