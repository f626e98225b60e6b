/* check_peer: where a peer set connects. It asks its address callback for
 * the member's address each time it opens a connection, and a member the
 * callback does not know fails the request at once. (Replies, timeouts and
 * backoff run against real daemons in test_cluster and test_peer_robust.) */
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
    };
    struct peer_set *ps = NULL;

    ck_assert_int_eq(peer_set_new(&pc, &ps), 0);
    return ps;
}

static const struct iovec mn = {.iov_base = (void *)"mn\r\n", .iov_len = 4};

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
    socklen_t len = sizeof(b.sin);
    struct pollfd pfd;
    char hello[64];
    size_t got = 0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd;

    ck_assert_int_ge(lfd, 0);
    b.sin.sin_family = AF_INET;
    b.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&b.sin, sizeof(b.sin)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&b.sin, &len), 0);

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

static Suite *peer_suite(void)
{
    Suite *s = suite_create("peer");
    TCase *tc = tcase_create("addr");

    tcase_add_test(tc, test_peer_member_the_address_callback_does_not_know_fails_at_once);
    tcase_add_test(tc,
                   test_peer_connects_to_the_address_the_callback_gives_and_says_hello);
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
