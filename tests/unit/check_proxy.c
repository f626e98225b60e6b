/* check_proxy: how the proxy routes a line: each key to its ring owner, a
 * multi-get over several owners as a fan-out, flush_all as a broadcast, a
 * peer's lines and keyless commands here, around a dead member, and
 * everything here while alone. Forwarding is in check_proxy_forward.c,
 * failing members in check_proxy_failures.c; the fixture (a real server,
 * fake members on loopback sockets) in proxy_fixture.h. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/fwdreq.h"
#include "cluster/gmsg.h"
#include "cluster/gossip.h"
#include "cluster/proxy.h"

#include "proxy_fixture.h"

static void setup_alone(void)
{
    start(PATIENT_MS, false);
}

/* ---- routing ---- */

START_TEST(test_proxy_routes_each_key_to_its_ring_owner)
{
    static const char *const forms[][2] = {
        {"get ", ""},  {"set ", " 0 0 1"}, {"delete ", ""},
        {"mg ", " v"}, {"incr ", " 1"},    {"touch ", " 10"},
    };
    unsigned owned[NFAKES + 1] = {0};

    for (unsigned i = 0; i < 3000; i++) {
        char key[32];
        uint32_t want;
        snprintf(key, sizeof(key), "key:%u", i);
        want = ring_owner(key);
        ck_assert(want == CLUSTER_SELF || want == fakes[0].slot || want == fakes[1].slot);
        owned[want == CLUSTER_SELF ? 0 : want == fakes[0].slot ? 1 : 2]++;
        for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
            char line[64];
            struct route_req rr;
            uint32_t owner;
            enum proxy_decision d;
            snprintf(line, sizeof(line), "%s%s%s", forms[f][0], key, forms[f][1]);
            d = route(line, false, &rr, &owner);
            if (want == CLUSTER_SELF) {
                ck_assert_msg(d == PROXY_LOCAL, "%s: %d, want local", line, d);
            } else {
                ck_assert_msg(d == PROXY_FORWARD, "%s: %d, want forward", line, d);
                ck_assert_msg(owner == want, "%s: to %u, want %u", line, owner, want);
            }
        }
    }
    /* three owners of about a third each: the test saw every case */
    for (int i = 0; i <= NFAKES; i++)
        ck_assert_uint_gt(owned[i], 500);
}
END_TEST

START_TEST(test_proxy_routes_a_multiget_over_several_owners_as_fanout)
{
    char a[32], b[32], l1[32], l2[32], a2[32], line[256];
    struct route_req rr;
    uint32_t owner;

    key_of(fakes[0].slot, 0, "k", a, sizeof(a));
    key_of(fakes[0].slot, 1, "k", a2, sizeof(a2));
    key_of(fakes[1].slot, 0, "k", b, sizeof(b));
    key_of(CLUSTER_SELF, 0, "k", l1, sizeof(l1));
    key_of(CLUSTER_SELF, 1, "k", l2, sizeof(l2));

    snprintf(line, sizeof(line), "get %s %s %s", l1, a, b);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FANOUT);
    snprintf(line, sizeof(line), "gets %s %s", a, b);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FANOUT);
    snprintf(line, sizeof(line), "gat 10 %s %s", a, l1);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FANOUT);

    /* all here: served here */
    snprintf(line, sizeof(line), "get %s %s %s", l1, l2, l1);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_LOCAL);

    /* all on one other member: forwarded whole, its reply a get's */
    snprintf(line, sizeof(line), "get %s %s %s", a, a2, a);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FORWARD);
    ck_assert_uint_eq(owner, fakes[0].slot);
    ck_assert_int_eq(rr.reply, PEER_REPLY_GET);
    ck_assert(!rr.quiet);
}
END_TEST

START_TEST(test_proxy_routes_flush_all_as_broadcast_with_two_or_more_nodes)
{
    struct route_req rr;
    uint32_t owner;

    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_BROADCAST);
    ck_assert_int_eq(route("flush_all 0", false, &rr, &owner), PROXY_BROADCAST);
    ck_assert_int_eq(route("flush_all noreply", false, &rr, &owner), PROXY_BROADCAST);
    /* a peer's flush_all is that member's broadcast reaching us */
    ck_assert_int_eq(route("flush_all", true, &rr, &owner), PROXY_LOCAL);
    ck_assert_int_eq(route("flush_allx", false, &rr, &owner), PROXY_LOCAL);
}
END_TEST

START_TEST(test_proxy_never_forwards_a_line_from_a_peer)
{
    for (int i = 0; i < NFAKES; i++) {
        char key[32], other[32], line[128];
        struct route_req rr;
        uint32_t owner;

        key_of(fakes[i].slot, 0, "p", key, sizeof(key));
        key_of(fakes[1 - i].slot, 0, "p", other, sizeof(other));
        snprintf(line, sizeof(line), "get %s", key);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        snprintf(line, sizeof(line), "set %s 0 0 1", key);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        snprintf(line, sizeof(line), "mg %s v q", key);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        snprintf(line, sizeof(line), "get %s %s", key, other);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        ck_assert_uint_eq(owner, UINT32_MAX); /* untouched */
    }
}
END_TEST

START_TEST(test_proxy_keeps_commands_without_keys_local)
{
    static const char *const lines[] = {
        "version", "stats", "stats cluster", "mn", "verbosity 1", "get", "gat 10",
        "quit",    "me",    "bogus",         "",
    };

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct route_req rr;
        uint32_t owner;
        ck_assert_msg(route(lines[i], false, &rr, &owner) == PROXY_LOCAL, "\"%s\"",
                      lines[i]);
        ck_assert_uint_eq(owner, UINT32_MAX);
    }
}
END_TEST

START_TEST(test_proxy_routes_around_a_dead_member)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    struct gossip_listener l;
    char addr[32];
    unsigned moved = 0;
    struct route_req rr;
    uint32_t owner, before[2000];
    struct fwdreq *r;

    for (unsigned i = 0; i < 2000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "dead:%u", i);
        before[i] = ring_owner(key);
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", b->port);
    cluster_gossip_listener(srv.cluster, &l);
    ck_assert(l.update(l.arg, b->id, addr, GMSG_DEAD, 2));
    l.commit(l.arg);

    for (unsigned i = 0; i < 2000; i++) {
        char key[32], line[64];
        uint32_t want;
        enum proxy_decision d;
        snprintf(key, sizeof(key), "dead:%u", i);
        want = ring_owner(key);
        ck_assert_uint_ne(want, b->slot);
        /* only the dead member's keys move */
        if (before[i] != b->slot)
            ck_assert_uint_eq(want, before[i]);
        else
            moved++;
        snprintf(line, sizeof(line), "get %s", key);
        d = route(line, false, &rr, &owner);
        if (want == CLUSTER_SELF) /* the ring changed: a dual read of a miss */
            ck_assert_int_eq(d, PROXY_SYNC);
        else
            ck_assert(d == PROXY_FORWARD && owner == want);
    }
    ck_assert_uint_gt(moved, 300);

    /* flush_all asks the live members only */
    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_BROADCAST);
    r = proxy_broadcast(px, &cl.q, &cmd, "flush_all", 9, "flush_all\r\n", 11);
    ck_assert_ptr_nonnull(r);
    fwdreq_queue_push(&cl.q, r);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "OK\r\n");
    fake_got(a, "flush_all\r\n");
    ck_assert_uint_eq(b->nconns, 0);
}
END_TEST

START_TEST(test_proxy_serves_everything_here_while_alone)
{
    struct route_req rr;
    uint32_t owner;
    char key[32], line[64];

    ck_assert_int_eq(route("get a b c d e f g", false, &rr, &owner), PROXY_LOCAL);
    ck_assert_int_eq(route("set a 0 0 1", false, &rr, &owner), PROXY_LOCAL);
    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_LOCAL);

    /* a member joins: the next line sees the new ring */
    join(&fakes[0]);
    key_of(fakes[0].slot, 0, "j", key, sizeof(key));
    snprintf(line, sizeof(line), "get %s", key);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FORWARD);
    ck_assert_uint_eq(owner, fakes[0].slot);
    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_BROADCAST);
}
END_TEST

static Suite *proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *routing = tcase_create("routing");
    TCase *alone = tcase_create("alone");

    tcase_add_checked_fixture(routing, setup, teardown);
    tcase_add_test(routing, test_proxy_routes_each_key_to_its_ring_owner);
    tcase_add_test(routing, test_proxy_routes_a_multiget_over_several_owners_as_fanout);
    tcase_add_test(routing,
                   test_proxy_routes_flush_all_as_broadcast_with_two_or_more_nodes);
    tcase_add_test(routing, test_proxy_never_forwards_a_line_from_a_peer);
    tcase_add_test(routing, test_proxy_keeps_commands_without_keys_local);
    tcase_add_test(routing, test_proxy_routes_around_a_dead_member);
    suite_add_tcase(s, routing);

    tcase_add_checked_fixture(alone, setup_alone, teardown);
    tcase_add_test(alone, test_proxy_serves_everything_here_while_alone);
    suite_add_tcase(s, alone);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proxy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
