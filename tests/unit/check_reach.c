/* check_reach: a reachability check tells a port that accepts from one
 * that refuses, reports only through reach_poll() or reach_free(), and
 * takes numeric addresses only. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"

#include "base/mctime.h"
#include "cluster/reach.h"

static unsigned ended;
static int status;

static void done(void *arg, int st)
{
    (void)arg;
    ended++;
    status = st;
}

/* A loopback listener; its "127.0.0.1:port" in addr. */
static int listener(char *addr, size_t cap)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(addr, cap, "127.0.0.1:%u", ntohs(sin.sin_port));
    return fd;
}

/* Polls until nothing is pending, for at most 5 s. */
static void poll_all(struct reach *r)
{
    for (int i = 0; i < 500 && reach_poll(r, mctime_mono_ms()) > 0; i++)
        poll(NULL, 0, 10);
}

/* A new set with one check of addr under way. */
static struct reach *check_one(const char *addr)
{
    struct reach *r = NULL;

    ck_assert_int_eq(reach_new(&r), 0);
    ended = 0;
    ck_assert_int_eq(reach_start(r, addr, mctime_mono_ms(), 2000, done, NULL), 0);
    return r;
}

START_TEST(test_reach_port_that_listens_accepts)
{
    char addr[64];
    int fd = listener(addr, sizeof(addr));
    struct reach *r = check_one(addr);

    ck_assert_uint_eq(ended, 0); /* never from inside reach_start() */
    poll_all(r);
    ck_assert_uint_eq(ended, 1);
    ck_assert_int_eq(status, 0);
    reach_free(r);
    close(fd);
}
END_TEST

START_TEST(test_reach_port_nothing_listens_on_refuses)
{
    struct reach *r;
    char addr[64];

    close(listener(addr, sizeof(addr)));
    r = check_one(addr);
    poll_all(r);
    ck_assert_uint_eq(ended, 1);
    ck_assert_int_eq(status, -ECONNREFUSED);
    reach_free(r);
}
END_TEST

START_TEST(test_reach_many_checks_each_end_once)
{
    struct reach *r = NULL;
    char open_addr[64], closed_addr[64];
    int fd = listener(open_addr, sizeof(open_addr));

    close(listener(closed_addr, sizeof(closed_addr)));
    ck_assert_int_eq(reach_new(&r), 0);
    ended = 0;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(reach_start(r, i % 2 ? open_addr : closed_addr, mctime_mono_ms(),
                                     2000, done, NULL),
                         0);
    poll_all(r);
    ck_assert_uint_eq(ended, 100);
    reach_free(r);
    close(fd);
}
END_TEST

START_TEST(test_reach_free_cancels_what_is_pending)
{
    char addr[64];
    int fd = listener(addr, sizeof(addr));

    reach_free(check_one(addr));
    ck_assert_uint_eq(ended, 1);
    ck_assert_int_eq(status, -ECANCELED);
    close(fd);
}
END_TEST

START_TEST(test_reach_names_and_malformed_addresses_are_refused_at_once)
{
    static const char *const bad[] = {
        "localhost:80", "127.0.0.1", "127.0.0.1:", ":80", "[::1:80", "127.0.0.1:http"};
    struct reach *r = NULL;

    ck_assert_int_eq(reach_new(&r), 0);
    ended = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(reach_start(r, bad[i], 0, 100, done, NULL) == -EINVAL, "%s",
                      bad[i]);
    ck_assert_uint_eq(reach_poll(r, 0), 0);
    ck_assert_uint_eq(ended, 0);
    reach_free(r);
}
END_TEST

static Suite *reach_suite(void)
{
    Suite *s = suite_create("reach");
    TCase *tc = tcase_create("connect");

    tcase_add_test(tc, test_reach_port_that_listens_accepts);
    tcase_add_test(tc, test_reach_port_nothing_listens_on_refuses);
    tcase_add_test(tc, test_reach_many_checks_each_end_once);
    tcase_add_test(tc, test_reach_free_cancels_what_is_pending);
    tcase_add_test(tc, test_reach_names_and_malformed_addresses_are_refused_at_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reach_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
