/* check_proxy_dual: dual reads on real sockets to fake members. While this
 * node receives ranges, a read served here whose key holds nothing here
 * first asks the key's previous holders (rg) and serves the newest copy,
 * which it keeps; a key held here, a write, or a read outside the window
 * runs at once. The fixture is proxy_fixture.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cluster/cluster.h"
#include "cluster/fetch.h"
#include "cluster/fwdreq.h"
#include "cluster/proxy.h"
#include "cmd/cmd.h"

#include "proxy_fixture.h"

/* Whether the member received key (its got buffer is not NUL-ended). */
static bool fake_was_asked(const struct fake *f, const char *key)
{
    return f->got.len > 0 && memmem(f->got.data, f->got.len, key, strlen(key)) != NULL;
}

/* Runs line as a connection would after proxy_route() said PROXY_SYNC. */
static void dual(const char *line, bool from_peer)
{
    struct route_req rr;
    uint32_t owner;
    struct fwdreq *r;

    ck_assert_int_eq(route(line, from_peer, &rr, &owner), PROXY_SYNC);
    r = proxy_sync(px, &cl.q, line, strlen(line), &rr);
    ck_assert_ptr_nonnull(r);
    fwdreq_queue_push(&cl.q, r);
}

/* The n-th key of prefix this node serves, put on both fakes. */
static const char *held_elsewhere(int n, const char *prefix, char *key, size_t cap,
                                  const char *val)
{
    key_of(CLUSTER_SELF, n, prefix, key, cap);
    fake_put(&fakes[0], key, 7, val);
    fake_put(&fakes[1], key, 7, val);
    return key;
}

START_TEST(test_dual_read_serves_and_keeps_a_holders_copy)
{
    char key[32], line[64], want[128];

    held_elsewhere(0, "d", key, sizeof(key), "moved");
    cluster_note_handoff(srv.cluster); /* receiving */
    snprintf(line, sizeof(line), "get %s", key);
    dual(line, false);
    WAIT_UNTIL(cl.nready == 1);
    snprintf(want, sizeof(want), "VALUE %s 7 5\r\nmoved\r\nEND\r\n", key);
    client_out_is(&cl, want);
    ck_assert_uint_eq(ts.dual_reads, 1);
    ck_assert_uint_eq(ts.dual_read_hits, 1);
    /* kept here: the next read runs at once */
    ck_assert_int_eq(route(line, false, &(struct route_req){0}, &(uint32_t){0}),
                     PROXY_LOCAL);
}
END_TEST

START_TEST(test_dual_read_of_a_forwarded_multiget_asks_only_for_what_is_missing)
{
    char k0[32], k1[32], line[128], want[256];

    held_elsewhere(0, "m", k0, sizeof(k0), "there");
    held_elsewhere(1, "m", k1, sizeof(k1), "other");
    local_set(k1, 3, "here");
    cluster_note_handoff(srv.cluster);
    snprintf(line, sizeof(line), "get %s %s", k0, k1);
    dual(line, true);
    WAIT_UNTIL(cl.nready == 1);
    snprintf(want, sizeof(want),
             "VALUE %s 7 5\r\nthere\r\nVALUE %s 3 4\r\nhere\r\nEND\r\n", k0, k1);
    client_out_is(&cl, want);
    ck_assert_uint_eq(ts.dual_reads, 1);
    ck_assert_uint_eq(ts.dual_read_hits, 1);
    ck_assert(!fake_was_asked(&fakes[0], k1) && !fake_was_asked(&fakes[1], k1));
}
END_TEST

START_TEST(test_dual_read_that_finds_nothing_is_a_miss)
{
    char key[32], line[64];

    key_of(CLUSTER_SELF, 0, "n", key, sizeof(key));
    cluster_note_handoff(srv.cluster);
    snprintf(line, sizeof(line), "mg %s v", key);
    dual(line, false);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "EN\r\n");
    ck_assert_uint_eq(ts.dual_reads, 1);
    ck_assert_uint_eq(ts.dual_read_hits, 0);
}
END_TEST

START_TEST(test_no_dual_read_for_a_set_a_held_key_or_outside_the_window)
{
    char key[32], line[64];
    struct route_req rr;
    uint32_t owner;

    held_elsewhere(0, "w", key, sizeof(key), "v");
    snprintf(line, sizeof(line), "get %s", key);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_LOCAL); /* not receiving */
    ck_assert(!proxy_routes_peer_lines(px));
    cluster_note_handoff(srv.cluster);
    ck_assert(proxy_routes_peer_lines(px));
    snprintf(line, sizeof(line), "set %s 0 0 1", key);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_LOCAL);
    /* a write that may depend on the value fetches it first */
    snprintf(line, sizeof(line), "delete %s", key);
    ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_PREFETCH);
    snprintf(line, sizeof(line), "incr %s 1", key);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_PREFETCH);
    local_set(key, 0, "x");
    snprintf(line, sizeof(line), "get %s", key);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_LOCAL);
    snprintf(line, sizeof(line), "delete %s", key);
    ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
    ck_assert_uint_eq(ts.dual_reads, 0);
}
END_TEST

START_TEST(test_dual_read_passes_over_a_silent_holder_within_the_timeout)
{
    char key[32], line[64];
    uint64_t t0;

    teardown();
    start(200, true);
    fakes[0].mode = FAKE_SILENT;
    fakes[1].mode = FAKE_SILENT;
    key_of(CLUSTER_SELF, 0, "t", key, sizeof(key));
    cluster_note_handoff(srv.cluster);
    snprintf(line, sizeof(line), "get %s", key);
    t0 = mctime_mono_ms();
    dual(line, false);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "END\r\n");
    /* one copy per key: half of peer_timeout_ms, so that a forwarder that
     * waits peer_timeout_ms still gets this answer */
    ck_assert_uint_lt(mctime_mono_ms() - t0, 200);
}
END_TEST

static Suite *proxy_dual_suite(void)
{
    Suite *s = suite_create("proxy_dual");
    TCase *tc = tcase_create("dual");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_dual_read_serves_and_keeps_a_holders_copy);
    tcase_add_test(tc,
                   test_dual_read_of_a_forwarded_multiget_asks_only_for_what_is_missing);
    tcase_add_test(tc, test_dual_read_that_finds_nothing_is_a_miss);
    tcase_add_test(tc, test_no_dual_read_for_a_set_a_held_key_or_outside_the_window);
    tcase_add_test(tc, test_dual_read_passes_over_a_silent_holder_within_the_timeout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proxy_dual_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
