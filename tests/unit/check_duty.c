/* check_duty: the rest a background thread takes after its work, from its
 * CPU time and its wait for a CPU, and the measurement of a real thread. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/duty.h"

#define MS 1000000ull

START_TEST(test_duty_no_rest_while_the_cpu_was_free)
{
    ck_assert_uint_eq(duty_rest_for(10 * MS, 0, 5), 0);
    ck_assert_uint_eq(duty_rest_for(10 * MS, 2 * MS, 5), 0); /* under a quarter */
}
END_TEST

START_TEST(test_duty_contended_work_rests_to_its_share)
{
    /* 1 ms of work at 5%: 19 ms of rest, so 1 ms in every 20 */
    ck_assert_uint_eq(duty_rest_for(1 * MS, 1 * MS, 5), 19 * MS);
    ck_assert_uint_eq(duty_rest_for(4 * MS, 1 * MS, 50), 4 * MS);
    ck_assert_uint_eq(duty_rest_for(4 * MS, 100 * MS, 1), 396 * MS);
}
END_TEST

START_TEST(test_duty_full_share_or_no_work_never_rests)
{
    ck_assert_uint_eq(duty_rest_for(10 * MS, 10 * MS, 100), 0);
    ck_assert_uint_eq(duty_rest_for(0, 10 * MS, 5), 0);
}
END_TEST

START_TEST(test_duty_huge_figures_do_not_overflow)
{
    uint64_t cpu = UINT64_MAX / 2;

    ck_assert_uint_eq(duty_rest_for(cpu, cpu, 1), UINT64_MAX);
    ck_assert_uint_eq(duty_rest_for(UINT64_MAX, UINT64_MAX, 1), UINT64_MAX);
    ck_assert_uint_eq(duty_rest_for(UINT64_MAX / 100, UINT64_MAX, 50),
                      UINT64_MAX / 100 / 50 * 50);
}
END_TEST

static void spin_ms(unsigned ms)
{
    struct timespec t0, t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    while ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)t.tv_nsec -
               (uint64_t)t0.tv_nsec <
           ms * MS);
}

START_TEST(test_duty_a_thread_alone_on_its_cpu_is_not_told_to_rest)
{
    struct duty d;
    uint64_t rest;

    duty_init(&d, 5);
    spin_ms(5);
    rest = duty_rest_ns(&d);
    /* on a loaded machine the thread may have waited: then the rest is its
     * share; never more */
    ck_assert(rest == 0 || (rest >= 5 * MS * 19 && rest < 5 * MS * 19 * 20));
    duty_fini(&d);
    ck_assert_int_eq(d.fd, -1);
    ck_assert_uint_eq(duty_rest_ns(&d), 0); /* closed: never rests */
}
END_TEST

START_TEST(test_duty_breathe_gives_way_once_a_slice_passed)
{
    struct duty d;
    uint64_t gave;
    int kept = 0;

    duty_init(&d, 5);
    gave = d.gave_ns;
    spin_ms(1); /* ten slices */
    duty_breathe(&d);
    ck_assert_uint_ge(d.gave_ns, gave + DUTY_SLICE_NS);
    /* right after giving way, not again (a preempted try aside) */
    for (int i = 0; i < 20; i++) {
        duty_breathe(&d);
        gave = d.gave_ns;
        duty_breathe(&d);
        kept += d.gave_ns == gave;
    }
    ck_assert_int_gt(kept, 0);
    duty_fini(&d);
}
END_TEST

/* Two threads pinned to one CPU wait for each other. */
struct spinner {
    uint64_t rest;
};

static void *contended(void *arg)
{
    struct spinner *sp = arg;
    struct duty d;

    duty_init(&d, 10);
    spin_ms(40);
    sp->rest = duty_rest_ns(&d);
    duty_fini(&d);
    return NULL;
}

START_TEST(test_duty_threads_sharing_one_cpu_are_told_to_rest)
{
    cpu_set_t one;
    pthread_attr_t attr;
    pthread_t t[2];
    struct spinner sp[2] = {{0}, {0}};

    CPU_ZERO(&one);
    CPU_SET(0, &one);
    pthread_attr_init(&attr);
    ck_assert_int_eq(pthread_attr_setaffinity_np(&attr, sizeof(one), &one), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], &attr, contended, &sp[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_attr_destroy(&attr);
    /* each waited about as long as the other ran: at least one was told
     * to rest nine times its 40 ms of work */
    ck_assert(sp[0].rest >= 40 * MS * 9 || sp[1].rest >= 40 * MS * 9);
}
END_TEST

static Suite *duty_suite(void)
{
    Suite *s = suite_create("duty");
    TCase *tc = tcase_create("rule");

    tcase_add_test(tc, test_duty_no_rest_while_the_cpu_was_free);
    tcase_add_test(tc, test_duty_contended_work_rests_to_its_share);
    tcase_add_test(tc, test_duty_full_share_or_no_work_never_rests);
    tcase_add_test(tc, test_duty_huge_figures_do_not_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("thread");
    tcase_add_test(tc, test_duty_a_thread_alone_on_its_cpu_is_not_told_to_rest);
    tcase_add_test(tc, test_duty_threads_sharing_one_cpu_are_told_to_rest);
    tcase_add_test(tc, test_duty_breathe_gives_way_once_a_slice_passed);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(duty_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
