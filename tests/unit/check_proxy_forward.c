/* check_proxy_forward: forwarding on real sockets to fake members that
 * answer: replies relayed byte for byte and in command order across
 * members, quiet commands, values larger than a socket buffer, multi-gets
 * fanned out and reassembled in the client's key order, flush_all
 * broadcast, and the requests of a connection that went away freed when
 * their answers arrive. The fixture is proxy_fixture.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cluster/cluster.h"
#include "cluster/fwdreq.h"
#include "cluster/proxy.h"
#include "cmd/cmd.h"

#include "proxy_fixture.h"

/* ---- forwarding ---- */

START_TEST(test_proxy_relays_a_forwarded_reply_byte_for_byte)
{
    struct fake *a = &fakes[0];
    char key[32], raw[128], canned[256];

    key_of(a->slot, 0, "f", key, sizeof(key));
    /* a value whose data looks like the end of a reply, a maximal flags
     * and CAS: framed by length, relayed untouched */
    snprintf(
        canned, sizeof(canned),
        "VALUE %s 4294967295 12 18446744073709551615\r\nEND\r\n\r\nEND\r\n\r\nEND\r\n",
        key);
    a->canned = canned;
    snprintf(raw, sizeof(raw), "gets %s\r\n", key);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, canned);
    fake_got(a, raw);
    ck_assert_uint_eq(ts.forwarded, 1);
    ck_assert_uint_eq(ts.forward_errors, 0);
}
END_TEST

START_TEST(test_proxy_forwards_a_storage_command_with_its_data_block)
{
    struct fake *b = &fakes[1];
    char key[32], raw[128], get[64], want[128];

    key_of(b->slot, 0, "s", key, sizeof(key));
    snprintf(raw, sizeof(raw), "set %s 42 0 9\r\nab\r\ncd\r\nx\r\n", key);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "STORED\r\n");
    fake_got(b, raw);

    snprintf(get, sizeof(get), "get %s\r\n", key);
    forward(&cl, get);
    WAIT_UNTIL(cl.nready == 2);
    snprintf(want, sizeof(want), "STORED\r\nVALUE %s 42 9\r\nab\r\ncd\r\nx\r\nEND\r\n",
             key);
    client_out_is(&cl, want);
    ck_assert_uint_eq(b->nconns, 1); /* one pipelined connection */
}
END_TEST

START_TEST(test_proxy_replies_in_command_order_across_members)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char ka[32], kb[32], raw[64], want[512];
    struct buf exp;

    key_of(a->slot, 0, "o", ka, sizeof(ka));
    key_of(b->slot, 0, "o", kb, sizeof(kb));
    fake_put(a, ka, 1, "from-a");
    fake_put(b, kb, 2, "from-b");
    a->mode = FAKE_HOLD;
    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(&cl, raw);
    buf_append_str(fwdreq_queue_after(&cl.q), "LOCAL-1\r\n");
    snprintf(raw, sizeof(raw), "get %s\r\n", kb);
    forward(&cl, raw);
    snprintf(raw, sizeof(raw), "mg %s v\r\n", ka);
    forward(&cl, raw);
    buf_append_str(fwdreq_queue_after(&cl.q), "LOCAL-2\r\n");

    WAIT_UNTIL(cl.nready == 1 && a->ncmds == 2); /* b answered, a holds */
    client_out_is(&cl, "");
    fake_release(a);
    WAIT_UNTIL(cl.nready == 3);

    buf_init(&exp);
    value_block(&exp, ka, 1, "from-a");
    buf_append_str(&exp, "END\r\nLOCAL-1\r\n");
    value_block(&exp, kb, 2, "from-b");
    snprintf(want, sizeof(want), "END\r\nVA 6\r\nfrom-a\r\nLOCAL-2\r\n");
    buf_append_str(&exp, want);
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
}
END_TEST

START_TEST(test_proxy_quiet_command_loses_only_the_appended_mn)
{
    struct fake *a = &fakes[0];
    char hit[32], miss[32], raw[128], sent[512];

    key_of(a->slot, 0, "q", hit, sizeof(hit));
    key_of(a->slot, 1, "q", miss, sizeof(miss));
    fake_put(a, hit, 0, "quiet!");

    snprintf(raw, sizeof(raw), "mg %s v q\r\n", hit);
    forward(&cl, raw);
    snprintf(sent, sizeof(sent), "%smn\r\n", raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "VA 6\r\nquiet!\r\n");
    fake_got(a, sent);

    /* a miss under q: nothing at all, and still complete */
    snprintf(raw, sizeof(raw), "mg %s v q\r\n", miss);
    forward(&cl, raw);
    snprintf(sent + strlen(sent), sizeof(sent) - strlen(sent), "%smn\r\n", raw);
    WAIT_UNTIL(cl.nready == 2);
    client_out_is(&cl, "VA 6\r\nquiet!\r\n");
    ck_assert(fwdreq_queue_empty(&cl.q));

    /* classic noreply is quiet too */
    snprintf(raw, sizeof(raw), "set %s 0 0 2 noreply\r\nhi\r\n", miss);
    forward(&cl, raw);
    snprintf(sent + strlen(sent), sizeof(sent) - strlen(sent), "%smn\r\n", raw);
    WAIT_UNTIL(cl.nready == 3);
    client_out_is(&cl, "VA 6\r\nquiet!\r\n");
    fake_got(a, sent);
    ck_assert_int_ge(fake_find(a, miss), 0);
}
END_TEST

START_TEST(test_proxy_relays_values_larger_than_a_socket_buffer)
{
    enum { BIG = 700000, BIG2 = 400000 }; /* both under -I, 1 MB */
    struct fake *a = &fakes[0], *b = &fakes[1];
    char ka[32], kb[32], kl[32], line[128];
    char *big = malloc(BIG), *big2 = malloc(BIG2);
    struct buf raw, exp;

    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(big2);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < BIG2; i++)
        big2[i] = (char)('A' + i % 23);
    key_of(a->slot, 0, "big", ka, sizeof(ka));
    key_of(b->slot, 0, "big", kb, sizeof(kb));
    key_of(CLUSTER_SELF, 0, "big", kl, sizeof(kl));
    fake_put_n(a, ka, 4, big2, BIG2);
    local_set(kl, 5, "small");

    /* to the member: the data block arrives whole */
    buf_init(&raw);
    snprintf(line, sizeof(line), "set %s 9 0 %d\r\n", kb, BIG);
    buf_append_str(&raw, line);
    buf_append(&raw, big, BIG);
    buf_append_str(&raw, "\r\n");
    buf_append(&raw, "", 1); /* forward() takes a C string */
    forward(&cl, raw.data);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "STORED\r\n");
    ck_assert_uint_eq(b->got.len, raw.len - 1);
    ck_assert(memcmp(b->got.data, raw.data, raw.len - 1) == 0);
    buf_reset(&cl.out);

    /* from the member: relayed byte for byte */
    snprintf(line, sizeof(line), "get %s\r\n", kb);
    forward(&cl, line);
    WAIT_UNTIL(cl.nready == 2);
    buf_init(&exp);
    snprintf(line, sizeof(line), "VALUE %s 9 %d\r\n", kb, BIG);
    buf_append_str(&exp, line);
    buf_append(&exp, big, BIG);
    buf_append_str(&exp, "\r\nEND\r\n");
    client_out_is_buf(&cl, &exp);
    buf_reset(&cl.out);

    /* and reassembled from two members */
    snprintf(line, sizeof(line), "get %s %s %s", kb, kl, ka);
    fanout(&cl, line);
    WAIT_UNTIL(cl.nready == 3);
    buf_reset(&exp);
    snprintf(line, sizeof(line), "VALUE %s 9 %d\r\n", kb, BIG);
    buf_append_str(&exp, line);
    buf_append(&exp, big, BIG);
    buf_append_str(&exp, "\r\n");
    value_block(&exp, kl, 5, "small");
    snprintf(line, sizeof(line), "VALUE %s 4 %d\r\n", ka, BIG2);
    buf_append_str(&exp, line);
    buf_append(&exp, big2, BIG2);
    buf_append_str(&exp, "\r\nEND\r\n");
    client_out_is_buf(&cl, &exp);

    buf_free(&exp);
    buf_free(&raw);
    free(big);
    free(big2);
}
END_TEST

/* ---- multi-get reassembly ---- */

/* _i: which member answers first (the local share is there at once). */
START_TEST(test_proxy_fanout_reassembles_values_in_the_client_key_order)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    struct fake *first = _i == 0 ? b : a, *second = _i == 0 ? a : b;
    char a1[32], a2[32], a3[32], b1[32], b2[32], l1[32], l2[32], l3[32];
    char line[512], want_a[256], want_b[256];
    struct fwdreq *r;
    struct buf exp;

    key_of(a->slot, 0, "m", a1, sizeof(a1));
    key_of(a->slot, 1, "m", a2, sizeof(a2));
    key_of(a->slot, 2, "m", a3, sizeof(a3)); /* a miss on a */
    key_of(b->slot, 0, "m", b1, sizeof(b1));
    key_of(b->slot, 1, "m", b2, sizeof(b2)); /* a miss on b */
    key_of(CLUSTER_SELF, 0, "m", l1, sizeof(l1));
    key_of(CLUSTER_SELF, 1, "m", l2, sizeof(l2));
    key_of(CLUSTER_SELF, 2, "m", l3, sizeof(l3)); /* a miss here */
    fake_put(a, a1, 11, "a-one");
    fake_put(a, a2, 12, "a-two");
    fake_put(b, b1, 21, "b-one");
    local_set(l1, 31, "local-one");
    local_set(l2, 32, "local-two");
    a->mode = b->mode = FAKE_HOLD;

    /* duplicates and misses of every owner, interleaved */
    snprintf(line, sizeof(line), "get %s %s %s %s %s %s %s %s %s %s %s", a1, b1, l1, a3,
             a1, l3, b2, a2, l2, b1, l1);
    r = fanout(&cl, line);
    WAIT_UNTIL(a->ncmds == 1 && b->ncmds == 1);
    /* each member is asked for its keys only, in the client's order */
    snprintf(want_a, sizeof(want_a), "get %s %s %s %s\r\n", a1, a3, a1, a2);
    snprintf(want_b, sizeof(want_b), "get %s %s %s\r\n", b1, b2, b1);
    fake_got(a, want_a);
    fake_got(b, want_b);

    ck_assert_uint_eq(fwdreq_outstanding(r), 2);
    fake_release(first);
    WAIT_UNTIL(fwdreq_outstanding(r) == 1);
    ck_assert_uint_eq(cl.nready, 0);
    client_out_is(&cl, "");
    fake_release(second);
    WAIT_UNTIL(cl.nready == 1);

    buf_init(&exp);
    value_block(&exp, a1, 11, "a-one");
    value_block(&exp, b1, 21, "b-one");
    value_block(&exp, l1, 31, "local-one");
    value_block(&exp, a1, 11, "a-one");
    value_block(&exp, a2, 12, "a-two");
    value_block(&exp, l2, 32, "local-two");
    value_block(&exp, b1, 21, "b-one");
    value_block(&exp, l1, 31, "local-one");
    buf_append_str(&exp, "END\r\n");
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
    ck_assert_uint_eq(ts.forward_errors, 0);
}
END_TEST

START_TEST(test_proxy_fanout_of_misses_only_is_a_bare_end)
{
    char a1[32], b1[32], l1[32], line[128];

    key_of(fakes[0].slot, 0, "n", a1, sizeof(a1));
    key_of(fakes[1].slot, 0, "n", b1, sizeof(b1));
    key_of(CLUSTER_SELF, 0, "n", l1, sizeof(l1));
    snprintf(line, sizeof(line), "get %s %s %s", b1, l1, a1);
    fanout(&cl, line);
    buf_append_str(fwdreq_queue_after(&cl.q), "STORED\r\n");
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "END\r\nSTORED\r\n");
}
END_TEST

START_TEST(test_proxy_fanout_of_gat_sends_the_exptime_to_every_member)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char a1[32], b1[32], l1[32], line[128], want[128];
    struct buf exp;

    key_of(a->slot, 0, "gt", a1, sizeof(a1));
    key_of(b->slot, 0, "gt", b1, sizeof(b1));
    key_of(CLUSTER_SELF, 0, "gt", l1, sizeof(l1));
    fake_put(a, a1, 1, "one");
    fake_put(b, b1, 2, "two");
    local_set(l1, 3, "three");
    snprintf(line, sizeof(line), "gat 3600 %s %s %s", l1, b1, a1);
    fanout(&cl, line);
    WAIT_UNTIL(cl.nready == 1);
    snprintf(want, sizeof(want), "gat 3600 %s\r\n", a1);
    fake_got(a, want);
    snprintf(want, sizeof(want), "gat 3600 %s\r\n", b1);
    fake_got(b, want);
    buf_init(&exp);
    value_block(&exp, l1, 3, "three");
    value_block(&exp, b1, 2, "two");
    value_block(&exp, a1, 1, "one");
    buf_append_str(&exp, "END\r\n");
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
}
END_TEST

START_TEST(test_proxy_fanout_with_a_member_error_is_that_error)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char a1[32], b1[32], l1[32], line[128];

    key_of(a->slot, 0, "me", a1, sizeof(a1));
    key_of(b->slot, 0, "me", b1, sizeof(b1));
    key_of(CLUSTER_SELF, 0, "me", l1, sizeof(l1));
    fake_put(a, a1, 0, "fine");
    local_set(l1, 0, "fine");
    b->canned = "SERVER_ERROR out of memory writing get response\r\n";
    snprintf(line, sizeof(line), "get %s %s %s", a1, l1, b1);
    fanout(&cl, line);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "SERVER_ERROR out of memory writing get response\r\n");
}
END_TEST

/* ---- flush_all ---- */

START_TEST(test_proxy_broadcast_flushes_here_and_on_every_member)
{
    static const char *const lines[] = {"flush_all", "flush_all noreply"};
    static const char *const want[] = {"OK\r\n", ""};

    for (int i = 0; i < 2; i++) {
        char raw[64], sent[64];
        struct route_req rr;
        uint32_t owner;
        struct fwdreq *r;

        local_set("here", 0, "x");
        ck_assert_int_eq(route(lines[i], false, &rr, &owner), PROXY_BROADCAST);
        snprintf(raw, sizeof(raw), "%s\r\n", lines[i]);
        r = proxy_broadcast(px, &cl.q, &cmd, lines[i], strlen(lines[i]), raw,
                            strlen(raw));
        ck_assert_ptr_nonnull(r);
        fwdreq_queue_push(&cl.q, r);
        WAIT_UNTIL(cl.nready == (unsigned)i + 1);
        client_out_is(&cl, want[i]);
        buf_reset(&cl.out);
        snprintf(sent, sizeof(sent), "%s%s", raw, i == 1 ? "mn\r\n" : "");
        for (int f = 0; f < NFAKES; f++) {
            fake_got(&fakes[f], sent);
            buf_reset(&fakes[f].got);
        }
        /* and here */
        buf_reset(&cmd_out);
        cmd_get_local(&cmd, &cmd_out, "here", 4, false, false, 0);
        ck_assert_uint_eq(cmd_out.len, 0);
    }
}
END_TEST

/* ---- a connection that goes away ---- */

START_TEST(test_proxy_detached_requests_are_freed_when_answers_arrive)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    struct client *gone = conn_open();
    char ka[32], kb[32], kl[32], line[128], raw[64];
    struct buf exp;

    key_of(a->slot, 0, "d", ka, sizeof(ka));
    key_of(b->slot, 0, "d", kb, sizeof(kb));
    key_of(CLUSTER_SELF, 0, "d", kl, sizeof(kl));
    fake_put(a, ka, 0, "aa");
    fake_put(b, kb, 0, "bb");
    local_set(kl, 0, "ll");
    a->mode = b->mode = FAKE_HOLD;

    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(gone, raw);
    snprintf(line, sizeof(line), "get %s %s %s", ka, kl, kb);
    fanout(gone, line);
    snprintf(raw, sizeof(raw), "mg %s v q\r\n", kb);
    forward(gone, raw);
    buf_append_str(fwdreq_queue_after(&gone->q), "LOCAL\r\n");
    WAIT_UNTIL(a->ncmds == 2 && b->ncmds == 3);

    conn_close(gone);
    fake_release(a);
    fake_release(b);

    /* replies come in order on each member's stream: once a later
     * request's answers are in, so are the orphans' */
    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(&cl, raw);
    snprintf(raw, sizeof(raw), "get %s\r\n", kb);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 2);
    buf_init(&exp);
    value_block(&exp, ka, 0, "aa");
    buf_append_str(&exp, "END\r\n");
    value_block(&exp, kb, 0, "bb");
    buf_append_str(&exp, "END\r\n");
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
    ck_assert_uint_eq(heap_ready, 0);
    ck_assert_uint_eq(ts.forward_errors, 0);
}
END_TEST

static Suite *proxy_forward_suite(void)
{
    Suite *s = suite_create("proxy_forward");
    TCase *fwd = tcase_create("forwarding");

    tcase_add_checked_fixture(fwd, setup, teardown);
    tcase_set_timeout(fwd, 60);
    tcase_add_test(fwd, test_proxy_relays_a_forwarded_reply_byte_for_byte);
    tcase_add_test(fwd, test_proxy_forwards_a_storage_command_with_its_data_block);
    tcase_add_test(fwd, test_proxy_replies_in_command_order_across_members);
    tcase_add_test(fwd, test_proxy_quiet_command_loses_only_the_appended_mn);
    tcase_add_test(fwd, test_proxy_relays_values_larger_than_a_socket_buffer);
    tcase_add_loop_test(fwd, test_proxy_fanout_reassembles_values_in_the_client_key_order,
                        0, 2);
    tcase_add_test(fwd, test_proxy_fanout_of_misses_only_is_a_bare_end);
    tcase_add_test(fwd, test_proxy_fanout_of_gat_sends_the_exptime_to_every_member);
    tcase_add_test(fwd, test_proxy_fanout_with_a_member_error_is_that_error);
    tcase_add_test(fwd, test_proxy_broadcast_flushes_here_and_on_every_member);
    tcase_add_test(fwd, test_proxy_detached_requests_are_freed_when_answers_arrive);
    suite_add_tcase(s, fwd);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proxy_forward_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
