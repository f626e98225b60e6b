/* check_stats: per-thread counters summed on demand, and STAT lines. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/stats.h"

static struct buf out;

static void setup(void)
{
    buf_init(&out);
}

static void teardown(void)
{
    buf_free(&out);
}

START_TEST(test_stats_sum_adds_every_field_of_every_thread)
{
    struct thread_stats a, b, c, sum;
    struct thread_stats *all[] = {&a, &b, &c};
    uint64_t i = 1;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
#define FILL(name)                                                                       \
    a.name = i;                                                                          \
    b.name = 100 * i;                                                                    \
    c.name = 10000 * i;                                                                  \
    i++;
    THREAD_STATS_FIELDS(FILL)
#undef FILL
    memset(&sum, 0xff, sizeof(sum));
    stats_sum(all, 3, &sum);
    i = 1;
#define CHECK(name)                                                                      \
    ck_assert_msg(sum.name == 10101 * i, #name " is %llu",                               \
                  (unsigned long long)sum.name);                                         \
    i++;
    THREAD_STATS_FIELDS(CHECK)
#undef CHECK
}
END_TEST

START_TEST(test_stats_sum_of_no_threads_is_zero)
{
    struct thread_stats sum, zero;

    memset(&sum, 0xff, sizeof(sum));
    memset(&zero, 0, sizeof(zero));
    stats_sum(NULL, 0, &sum);
    ck_assert_mem_eq(&sum, &zero, sizeof(sum));
}
END_TEST

START_TEST(test_stats_incr_and_add_change_one_counter)
{
    struct thread_stats ts;

    memset(&ts, 0, sizeof(ts));
    STATS_INCR(&ts, get_hits);
    STATS_INCR(&ts, get_hits);
    STATS_ADD(&ts, bytes_read, 1000);
    ck_assert_uint_eq(ts.get_hits, 2);
    ck_assert_uint_eq(ts.bytes_read, 1000);
    ck_assert_uint_eq(ts.get_misses, 0);
}
END_TEST

START_TEST(test_stats_reset_thread_zeroes_every_counter)
{
    struct thread_stats ts, zero;

    memset(&ts, 0x11, sizeof(ts));
    memset(&zero, 0, sizeof(zero));
    stats_reset_thread(&ts);
    ck_assert_mem_eq(&ts, &zero, sizeof(ts));
}
END_TEST

START_TEST(test_stats_line_formats_memcached_stat_lines)
{
    stats_line(&out, "curr_items", "%d", 42);
    stats_line(&out, "version", "%s", "1.6.18");
    stats_line(&out, "rusage_user", "%ld.%06ld", 1L, 5L);
    ck_assert_uint_eq(out.len, strlen("STAT curr_items 42\r\nSTAT version 1.6.18\r\n"
                                      "STAT rusage_user 1.000005\r\n"));
    ck_assert_mem_eq(
        out.data,
        "STAT curr_items 42\r\nSTAT version 1.6.18\r\nSTAT rusage_user 1.000005\r\n",
        out.len);
}
END_TEST

START_TEST(test_stats_line_truncates_an_overlong_value_to_one_line)
{
    char big[2000];

    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    stats_line(&out, "x", "%s", big);
    ck_assert_uint_gt(out.len, 500);
    ck_assert_uint_lt(out.len, 530);
    ck_assert_mem_eq(out.data, "STAT x vvv", 10);
    ck_assert_mem_eq(out.data + out.len - 3, "v\r\n", 3);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_stats_sum_adds_every_field_of_every_thread);
    tcase_add_test(tc, test_stats_sum_of_no_threads_is_zero);
    tcase_add_test(tc, test_stats_incr_and_add_change_one_counter);
    tcase_add_test(tc, test_stats_reset_thread_zeroes_every_counter);
    tcase_add_test(tc, test_stats_line_formats_memcached_stat_lines);
    tcase_add_test(tc, test_stats_line_truncates_an_overlong_value_to_one_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stats_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
