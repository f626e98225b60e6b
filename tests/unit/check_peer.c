/* check_peer: where a peer set connects. It asks its address callback for
 * the member's address each time it opens a connection, and a member the
 * callback does not know fails the request at once; a member that refuses
 * or drops a connection is reported to the down callback. (Replies,
 * timeouts and backoff run against real daemons in test_cluster and
 * test_peer_robust.) */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"

#include "cluster/peer.h"

/* What the address callback was asked, and what it answers. */
struct addr_book {
    unsigned calls;
    uint32_t member;
    bool known;
    struct sockaddr_in sin;
};

static int book_addr(void *arg, uint32_t member, struct sockaddr_storage *sa,
                     socklen_t *len)
{
    struct addr_book *b = arg;

    b->calls++;
    b->member = member;
    if (!b->known)
        return -ENOENT;
    memset(sa, 0, sizeof(*sa));
    memcpy(sa, &b->sin, sizeof(b->sin));
    *len = sizeof(b->sin);
    return 0;
}

static unsigned answered;
static int last_status;

static void done(void *arg, uint32_t tag, int status, bool error, const char *reply,
                 size_t len)
{
    (void)arg;
    (void)tag;
    (void)error;
    (void)reply;
    (void)len;
    answered++;
    last_status = status;
}

static unsigned downs;
static uint32_t down_member;
static int down_status;

static void on_down(void *arg, uint32_t member, int status)
{
    (void)arg;
    downs++;
    down_member = member;
    down_status = status;
}

static struct peer_set *make_set(struct event_base *base, struct addr_book *b)
{
    struct peer_set_config pc = {
        .base = base,
        .self_id = "self",
        .vnodes = 160,
        .timeout_ms = 1000,
        .max_value = 64,
        .addr = book_addr,
        .addr_arg = b,
        .down = on_down,
    };
    struct peer_set *ps = NULL;

    downs = 0;
    ck_assert_int_eq(peer_set_new(&pc, &ps), 0);
    return ps;
}

static const struct iovec mn = {.iov_base = (void *)"mn\r\n", .iov_len = 4};

/* A listening socket on a loopback port, its address in b. */
static int listen_at(struct addr_book *b)
{
    socklen_t len = sizeof(b->sin);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(lfd, 0);
    b->sin.sin_family = AF_INET;
    b->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    b->sin.sin_port = 0;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&b->sin, sizeof(b->sin)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&b->sin, &len), 0);
    return lfd;
}

START_TEST(test_peer_member_the_address_callback_does_not_know_fails_at_once)
{
    struct event_base *base = event_base_new();
    struct addr_book b = {.known = false};
    struct peer_set *ps = make_set(base, &b);

    answered = 0;
    ck_assert_int_eq(peer_request(ps, 7, &mn, 1, PEER_REPLY_LINE, done, NULL, 0),
                     -EAGAIN);
    ck_assert_uint_eq(b.calls, 1);
    ck_assert_uint_eq(b.member, 7);
    ck_assert_uint_eq(answered, 0); /* refused: never called back */
    peer_set_free(ps);
    event_base_free(base);
}
END_TEST

START_TEST(test_peer_connects_to_the_address_the_callback_gives_and_says_hello)
{
    struct event_base *base = event_base_new();
    struct addr_book b = {.known = true};
    struct peer_set *ps = make_set(base, &b);
    struct pollfd pfd;
    char hello[64];
    size_t got = 0;
    int lfd = listen_at(&b), cfd;

    answered = 0;
    ck_assert_int_eq(peer_request(ps, 3, &mn, 1, PEER_REPLY_LINE, done, NULL, 0), 0);
    ck_assert_uint_eq(b.calls, 1);
    ck_assert_uint_eq(b.member, 3);
    pfd.fd = lfd;
    pfd.events = POLLIN;
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    cfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(cfd, 0);
    /* the set writes once its loop runs */
    while (got < strlen("peer self 160\r\nmn\r\n")) {
        ssize_t n;
        event_base_loop(base, EVLOOP_NONBLOCK);
        pfd.fd = cfd;
        if (poll(&pfd, 1, 100) != 1)
            continue;
        n = read(cfd, hello + got, sizeof(hello) - 1 - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    hello[got] = '\0';
    ck_assert_str_eq(hello, "peer self 160\r\nmn\r\n");
    peer_set_free(ps); /* fails what is outstanding */
    ck_assert_uint_eq(answered, 1);
    ck_assert_int_eq(last_status, -ECANCELED);
    close(cfd);
    close(lfd);
    event_base_free(base);
}
END_TEST

/* Runs the set's loop until the down callback ran, for at most 5 s. */
static void loop_until_down(struct event_base *base)
{
    for (int i = 0; i < 500 && downs == 0; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (downs == 0)
            poll(NULL, 0, 10);
    }
}

START_TEST(test_peer_refused_connection_is_reported_down)
{
    struct event_base *base = event_base_new();
    struct addr_book b = {.known = true};
    struct peer_set *ps = make_set(base, &b);
    int rc;

    close(listen_at(&b)); /* a port nothing listens on */
    answered = 0;
    rc = peer_request(ps, 4, &mn, 1, PEER_REPLY_LINE, done, NULL, 0);
    if (rc == 0) /* refused later, by the loop */
        loop_until_down(base);
    else
        ck_assert_int_eq(rc, -EAGAIN); /* refused at once */
    ck_assert_uint_eq(downs, 1);
    ck_assert_uint_eq(down_member, 4);
    ck_assert_int_eq(down_status, -ECONNREFUSED);
    ck_assert_uint_eq(answered, rc == 0 ? 1 : 0);
    peer_set_free(ps);
    event_base_free(base);
}
END_TEST

START_TEST(test_peer_connection_closed_by_the_member_is_reported_down)
{
    struct event_base *base = event_base_new();
    struct addr_book b = {.known = true};
    struct peer_set *ps = make_set(base, &b);
    int lfd = listen_at(&b), cfd;
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};

    answered = 0;
    ck_assert_int_eq(peer_request(ps, 5, &mn, 1, PEER_REPLY_LINE, done, NULL, 0), 0);
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    cfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(cfd, 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(downs, 0);
    close(cfd); /* the member's process exits */
    loop_until_down(base);
    ck_assert_uint_eq(downs, 1);
    ck_assert_uint_eq(down_member, 5);
    ck_assert_int_eq(down_status, -ECONNRESET);
    ck_assert_uint_eq(answered, 1);
    ck_assert_int_eq(last_status, -ECONNRESET);
    peer_set_free(ps);
    close(lfd);
    event_base_free(base);
}
END_TEST

static Suite *peer_suite(void)
{
    Suite *s = suite_create("peer");
    TCase *tc = tcase_create("addr");

    tcase_add_test(tc, test_peer_member_the_address_callback_does_not_know_fails_at_once);
    tcase_add_test(tc,
                   test_peer_connects_to_the_address_the_callback_gives_and_says_hello);
    tcase_add_test(tc, test_peer_refused_connection_is_reported_down);
    tcase_add_test(tc, test_peer_connection_closed_by_the_member_is_reported_down);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(peer_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
