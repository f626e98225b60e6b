/* check_fwdreq: a connection's queue of forwarded requests driven by hand,
 * the way proxy.c answers them and conn.c drains them: replies in command
 * order, the ready callback, failures, detaching, and the pool's reuse.
 * Run under the sanitizer build, the detach tests prove that orphans are
 * freed exactly once. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cluster/fwdreq.h"

static struct fwdreq_pool pool;
static struct fwdreq_queue q;
static struct buf out;  /* the connection's output */
static unsigned nready; /* calls of the queue's ready callback */

static void on_ready(void *arg)
{
    ck_assert_ptr_eq(arg, &q);
    nready++;
}

static void setup(void)
{
    fwdreq_pool_init(&pool);
    buf_init(&out);
    fwdreq_queue_init(&q, &out, on_ready, &q);
    nready = 0;
}

static void teardown(void)
{
    fwdreq_queue_detach_all(&q);
    fwdreq_pool_fini(&pool);
    buf_free(&out);
}

/* A queued request that waits for n answers. */
static struct fwdreq *push(enum fwdreq_kind kind, unsigned n)
{
    struct fwdreq *r = fwdreq_new(&pool, &q, kind);

    ck_assert_ptr_nonnull(r);
    fwdreq_expect(r, n);
    fwdreq_queue_push(&q, r);
    return r;
}

/* One answer, written where proxy.c writes a forwarded reply. */
static void answer(struct fwdreq *r, const char *text)
{
    buf_append_str(fwdreq_out(r), text);
    fwdreq_answered(r);
}

/* Asserts that the connection's output holds exactly want. */
static void out_is(const char *want)
{
    size_t n = strlen(want);

    ck_assert_msg(buf_pending(&out) == n &&
                      (n == 0 || memcmp(out.data + out.off, want, n) == 0),
                  "output is \"%.*s\", want \"%s\"", (int)buf_pending(&out),
                  out.data != NULL ? out.data + out.off : "", want);
}

/* Counts how often a request's private data was freed. */
static void count_free(void *arg)
{
    (*(unsigned *)arg)++;
}

START_TEST(test_fwdreq_replies_drain_in_push_order_when_later_ones_complete_first)
{
    struct fwdreq *r1 = push(FWDREQ_PLAIN, 1);
    struct fwdreq *r2 = push(FWDREQ_PLAIN, 1);
    struct fwdreq *r3 = push(FWDREQ_PLAIN, 1);

    answer(r3, "three\r\n");
    ck_assert(!fwdreq_queue_drain(&q));
    answer(r2, "two\r\n");
    ck_assert(!fwdreq_queue_drain(&q));
    out_is("");
    ck_assert_uint_eq(fwdreq_queue_len(&q), 3);

    answer(r1, "one\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    out_is("one\r\ntwo\r\nthree\r\n");
    ck_assert(fwdreq_queue_empty(&q));
    ck_assert_uint_eq(fwdreq_queue_len(&q), 0);
    ck_assert(!fwdreq_queue_drain(&q));
}
END_TEST

START_TEST(test_fwdreq_drain_stops_at_the_first_incomplete_request)
{
    struct fwdreq *r1 = push(FWDREQ_PLAIN, 1);
    struct fwdreq *r2 = push(FWDREQ_PLAIN, 1);
    struct fwdreq *r3 = push(FWDREQ_PLAIN, 1);

    answer(r1, "one\r\n");
    answer(r3, "three\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    out_is("one\r\n");
    ck_assert_uint_eq(fwdreq_queue_len(&q), 2);
    answer(r2, "two\r\n"); /* now the head: straight to the output */
    out_is("one\r\ntwo\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    out_is("one\r\ntwo\r\nthree\r\n");
}
END_TEST

START_TEST(test_fwdreq_local_replies_after_a_request_come_out_behind_it)
{
    struct fwdreq *r1, *r2;

    /* nothing queued: local replies go straight out */
    ck_assert_ptr_eq(fwdreq_queue_after(&q), &out);
    buf_append_str(fwdreq_queue_after(&q), "L0\r\n");
    ck_assert_uint_eq(fwdreq_queue_backlog(&q), 0);

    r1 = push(FWDREQ_PLAIN, 1);
    buf_append_str(fwdreq_queue_after(&q), "L1\r\n");
    buf_append_str(fwdreq_queue_after(&q), "L1b\r\n");
    ck_assert_uint_eq(fwdreq_queue_backlog(&q), 9);
    r2 = push(FWDREQ_PLAIN, 1);
    ck_assert_uint_eq(fwdreq_queue_backlog(&q), 0);
    buf_append_str(fwdreq_queue_after(&q), "L2\r\n");
    ck_assert_uint_eq(fwdreq_queue_backlog(&q), 4);

    answer(r2, "R2\r\n");
    ck_assert(!fwdreq_queue_drain(&q));
    out_is("L0\r\n");
    answer(r1, "R1\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    out_is("L0\r\nR1\r\nL1\r\nL1b\r\nR2\r\nL2\r\n");
    ck_assert_ptr_eq(fwdreq_queue_after(&q), &out);
}
END_TEST

START_TEST(test_fwdreq_ready_fires_exactly_when_the_last_answer_arrives)
{
    struct fwdreq *r1 = push(FWDREQ_PLAIN, 3);
    struct fwdreq *r2 = push(FWDREQ_PLAIN, 1);

    ck_assert_uint_eq(fwdreq_outstanding(r1), 3);
    fwdreq_answered(r1);
    fwdreq_answered(r1);
    ck_assert_uint_eq(nready, 0);
    ck_assert(!fwdreq_done(r1));
    fwdreq_answered(r1);
    ck_assert_uint_eq(nready, 1);
    ck_assert(fwdreq_done(r1));

    /* a request behind others tells the connection too: it may drain
     * nothing yet, but it is not the connection's job to guess */
    fwdreq_answered(r2);
    ck_assert_uint_eq(nready, 2);
    ck_assert(fwdreq_queue_drain(&q));
    ck_assert_uint_eq(nready, 2);
}
END_TEST

START_TEST(test_fwdreq_unhold_never_calls_ready)
{
    struct fwdreq *r = fwdreq_new(&pool, &q, FWDREQ_PLAIN);

    ck_assert_ptr_nonnull(r);
    fwdreq_expect(r, 1); /* the sender's hold */
    fwdreq_expect(r, 1); /* one answer */
    fwdreq_answered(r);
    ck_assert_uint_eq(nready, 0);
    buf_append_str(fwdreq_reply(r), "VALUE k 0 1\r\nv\r\nEND\r\n");
    fwdreq_unhold(r);
    ck_assert(fwdreq_done(r));
    ck_assert_uint_eq(nready, 0);

    /* complete before it is queued: the pusher drains it, unprompted */
    fwdreq_queue_push(&q, r);
    ck_assert_uint_eq(nready, 0);
    ck_assert(fwdreq_queue_drain(&q));
    out_is("VALUE k 0 1\r\nv\r\nEND\r\n");
}
END_TEST

START_TEST(test_fwdreq_fail_keeps_the_first_error_only)
{
    struct fwdreq *r = push(FWDREQ_PLAIN, 2);

    buf_append_str(fwdreq_reply(r), "VALUE k 0 1\r\nv\r\n"); /* half built */
    ck_assert(!fwdreq_failed(r));
    ck_assert(fwdreq_fail(r, "SERVER_ERROR first\r\n", 20));
    ck_assert(fwdreq_failed(r));
    ck_assert(!fwdreq_fail(r, "SERVER_ERROR second\r\n", 21));
    fwdreq_answered(r);
    fwdreq_answered(r);
    ck_assert(fwdreq_queue_drain(&q));
    out_is("SERVER_ERROR first\r\n");
}
END_TEST

START_TEST(test_fwdreq_fail_under_noreply_writes_nothing)
{
    struct fwdreq *r1 = push(FWDREQ_PLAIN, 1);
    struct fwdreq *r2 = push(FWDREQ_PLAIN, 1);

    fwdreq_set_mode(r1, true, true);
    ck_assert(fwdreq_noreply(r1));
    ck_assert(fwdreq_quiet(r1));
    ck_assert(!fwdreq_noreply(r2));
    ck_assert(fwdreq_fail(r1, "SERVER_ERROR peer x timed out\r\n", 31));
    ck_assert(fwdreq_failed(r1));
    ck_assert(!fwdreq_fail(r1, "SERVER_ERROR other\r\n", 20));
    ck_assert_uint_eq(buf_pending(fwdreq_reply(r1)), 0);
    fwdreq_answered(r1);
    answer(r2, "STORED\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    out_is("STORED\r\n");
}
END_TEST

START_TEST(test_fwdreq_queue_counts_sync_and_write_requests)
{
    struct fwdreq *plain = push(FWDREQ_PLAIN, 1);
    struct fwdreq *sync1 = push(FWDREQ_SYNC, 1);
    struct fwdreq *wr = push(FWDREQ_WRITE, 1);
    struct fwdreq *sync2 = push(FWDREQ_SYNC, 1);
    struct fwdreq *w2;

    ck_assert_uint_eq(fwdreq_queue_len(&q), 4);
    ck_assert_uint_eq(fwdreq_queue_syncs(&q), 2);
    ck_assert_uint_eq(fwdreq_queue_writes(&q), 1);

    answer(plain, "a\r\n");
    answer(sync1, "b\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    ck_assert_uint_eq(fwdreq_queue_len(&q), 2);
    ck_assert_uint_eq(fwdreq_queue_syncs(&q), 1);
    ck_assert_uint_eq(fwdreq_queue_writes(&q), 1);

    answer(wr, "c\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    ck_assert_uint_eq(fwdreq_queue_len(&q), 1);
    ck_assert_uint_eq(fwdreq_queue_syncs(&q), 1);
    ck_assert_uint_eq(fwdreq_queue_writes(&q), 0);

    w2 = push(FWDREQ_WRITE, 1);
    fwdreq_queue_detach_all(&q);
    ck_assert_uint_eq(fwdreq_queue_len(&q), 0);
    ck_assert_uint_eq(fwdreq_queue_syncs(&q), 0);
    ck_assert_uint_eq(fwdreq_queue_writes(&q), 0);
    ck_assert_uint_eq(fwdreq_queue_backlog(&q), 0);
    ck_assert(fwdreq_queue_empty(&q));
    fwdreq_answered(sync2); /* orphans, freed by their answers */
    fwdreq_answered(w2);
    ck_assert_ptr_eq(fwdreq_queue_after(&q), &out);
}
END_TEST

START_TEST(test_fwdreq_detach_all_frees_complete_requests_and_orphans_the_rest)
{
    unsigned freed[3] = {0, 0, 0};
    struct fwdreq *r[3];

    for (int i = 0; i < 3; i++) {
        r[i] = push(FWDREQ_PLAIN, (unsigned)i); /* 0, 1 and 2 answers */
        fwdreq_set_priv(r[i], &freed[i], count_free);
        buf_append_str(fwdreq_queue_after(&q), "local\r\n");
    }
    ck_assert_ptr_eq(fwdreq_priv(r[1]), &freed[1]);

    fwdreq_queue_detach_all(&q);
    ck_assert(fwdreq_queue_empty(&q));
    ck_assert_ptr_eq(fwdreq_queue_after(&q), &out);
    ck_assert_uint_eq(freed[0], 1); /* complete: freed at once */
    ck_assert_uint_eq(freed[1], 0);
    ck_assert_uint_eq(freed[2], 0);
    ck_assert(fwdreq_orphan(r[1]));
    ck_assert(fwdreq_orphan(r[2]));
    /* an orphan's answer goes nowhere near the connection's output */
    ck_assert_ptr_eq(fwdreq_out(r[1]), fwdreq_reply(r[1]));

    answer(r[1], "late\r\n");
    ck_assert_uint_eq(freed[1], 1);
    fwdreq_answered(r[2]);
    ck_assert_uint_eq(freed[2], 0);
    fwdreq_answered(r[2]);
    ck_assert_uint_eq(freed[2], 1);

    ck_assert_uint_eq(nready, 0);
    out_is("");
    ck_assert_uint_eq(freed[0] + freed[1] + freed[2], 3);
}
END_TEST

START_TEST(test_fwdreq_detach_of_an_unqueued_request_frees_it_now_or_at_its_last_answer)
{
    unsigned freed = 0;
    struct fwdreq *done = fwdreq_new(&pool, &q, FWDREQ_PLAIN);
    struct fwdreq *waiting = fwdreq_new(&pool, &q, FWDREQ_PLAIN);

    ck_assert_ptr_nonnull(done);
    ck_assert_ptr_nonnull(waiting);
    fwdreq_set_priv(done, &freed, count_free);
    fwdreq_detach(done);
    ck_assert_uint_eq(freed, 1);

    fwdreq_set_priv(waiting, &freed, count_free);
    fwdreq_expect(waiting, 1);
    fwdreq_detach(waiting);
    ck_assert_uint_eq(freed, 1);
    fwdreq_answered(waiting);
    ck_assert_uint_eq(freed, 2);
    ck_assert_uint_eq(nready, 0);
}
END_TEST

START_TEST(test_fwdreq_out_is_the_connection_output_only_for_the_head)
{
    struct fwdreq *r1 = fwdreq_new(&pool, &q, FWDREQ_PLAIN);
    struct fwdreq *r2;

    ck_assert_ptr_nonnull(r1);
    /* not queued yet: nothing says it is first */
    ck_assert_ptr_eq(fwdreq_out(r1), fwdreq_reply(r1));
    fwdreq_expect(r1, 1);
    fwdreq_queue_push(&q, r1);
    r2 = push(FWDREQ_PLAIN, 1);
    ck_assert_ptr_eq(fwdreq_out(r1), &out);
    ck_assert_ptr_eq(fwdreq_out(r2), fwdreq_reply(r2));

    answer(r1, "one\r\n");
    out_is("one\r\n"); /* written straight out, before any drain */
    ck_assert(fwdreq_queue_drain(&q));
    ck_assert_ptr_eq(fwdreq_out(r2), &out);
    answer(r2, "two\r\n");
    out_is("one\r\ntwo\r\n");
    ck_assert(fwdreq_queue_drain(&q));
    out_is("one\r\ntwo\r\n");
}
END_TEST

START_TEST(test_fwdreq_free_calls_the_private_free_once_and_ignores_null)
{
    unsigned freed = 0;
    struct fwdreq *r = fwdreq_new(&pool, &q, FWDREQ_PLAIN);

    ck_assert_ptr_nonnull(r);
    fwdreq_set_priv(r, &freed, count_free);
    fwdreq_free(r);
    ck_assert_uint_eq(freed, 1);
    r = fwdreq_new(&pool, &q, FWDREQ_PLAIN); /* the same one, reused */
    ck_assert_ptr_null(fwdreq_priv(r));
    fwdreq_free(r);
    ck_assert_uint_eq(freed, 1);
    fwdreq_free(NULL);
}
END_TEST

START_TEST(test_fwdreq_reused_request_starts_fresh_and_keeps_small_buffers)
{
    struct fwdreq *r = push(FWDREQ_SYNC, 2);
    struct fwdreq *again;
    char *data;
    size_t cap;

    fwdreq_set_mode(r, true, true);
    buf_append(fwdreq_reply(r), "0123456789", 10);
    fwdreq_fail(r, "SERVER_ERROR x\r\n", 16);
    buf_append_str(fwdreq_reply(r),
                   "some reply of a hundred bytes or so, padded out to make it a "
                   "little longer than the error");
    data = fwdreq_reply(r)->data;
    cap = fwdreq_reply(r)->cap;
    fwdreq_queue_detach_all(&q); /* orphaned */
    fwdreq_answered(r);
    fwdreq_answered(r); /* freed, to the spares */

    again = fwdreq_new(&pool, &q, FWDREQ_PLAIN);
    ck_assert_ptr_eq(again, r);
    ck_assert_ptr_eq(fwdreq_reply(again)->data, data);
    ck_assert_uint_eq(fwdreq_reply(again)->cap, cap);
    ck_assert_uint_eq(buf_pending(fwdreq_reply(again)), 0);
    ck_assert_uint_eq(fwdreq_outstanding(again), 0);
    ck_assert(!fwdreq_failed(again));
    ck_assert(!fwdreq_noreply(again));
    ck_assert(!fwdreq_quiet(again));
    ck_assert(!fwdreq_orphan(again));
    ck_assert_ptr_null(fwdreq_priv(again));
    fwdreq_queue_push(&q, again);
    ck_assert_uint_eq(fwdreq_queue_syncs(&q), 0); /* PLAIN now */
    ck_assert(fwdreq_queue_drain(&q));
    out_is("");
}
END_TEST

START_TEST(test_fwdreq_reused_request_drops_big_buffers)
{
    static char big[16 * 1024]; /* above the spares' limit, below buf's own */
    struct fwdreq *r = push(FWDREQ_PLAIN, 1);
    struct fwdreq *again;

    memset(big, 'x', sizeof(big));
    buf_append(fwdreq_reply(r), big, sizeof(big));
    buf_append(fwdreq_queue_after(&q), big, sizeof(big));
    ck_assert_uint_ge(fwdreq_reply(r)->cap, sizeof(big));
    fwdreq_answered(r);
    ck_assert(fwdreq_queue_drain(&q));
    ck_assert_uint_eq(buf_pending(&out), 2 * sizeof(big));

    again = fwdreq_new(&pool, &q, FWDREQ_PLAIN);
    ck_assert_ptr_eq(again, r);
    ck_assert_uint_le(fwdreq_reply(again)->cap, 4096);
    fwdreq_queue_push(&q, again);
    ck_assert_ptr_ne(fwdreq_queue_after(&q), &out);
    ck_assert_uint_le(fwdreq_queue_after(&q)->cap, 4096);
    ck_assert_uint_eq(fwdreq_queue_backlog(&q), 0);
}
END_TEST

START_TEST(test_fwdreq_pool_steady_state_reuses_without_growth)
{
    struct fwdreq *first[4];

    /* warm up with four at once, then cycle: every request is one of those
     * four, whatever the order they come back in */
    for (int i = 0; i < 4; i++)
        first[i] = push(FWDREQ_PLAIN, 1);
    for (int i = 3; i >= 0; i--)
        answer(first[i], "x");
    ck_assert(fwdreq_queue_drain(&q));
    for (int round = 0; round < 1000; round++) {
        struct fwdreq *r[4];
        for (int i = 0; i < 4; i++) {
            bool known = false;
            r[i] = push(FWDREQ_PLAIN, 1);
            for (int j = 0; j < 4; j++)
                known |= r[i] == first[j];
            ck_assert_msg(known, "round %d: a new request was allocated", round);
        }
        for (int i = 0; i < 4; i++)
            answer(r[(i + round) % 4], "y");
        ck_assert(fwdreq_queue_drain(&q));
        ck_assert(fwdreq_queue_empty(&q));
    }
    ck_assert_uint_eq(buf_pending(&out), 4 + 4000);
}
END_TEST

START_TEST(test_fwdreq_pool_fini_frees_more_spares_than_it_keeps)
{
    enum { N = 600 }; /* above the pool's cap on spares */
    struct fwdreq *r[N];

    for (int i = 0; i < N; i++) {
        r[i] = push(FWDREQ_PLAIN, 1);
        buf_append_str(fwdreq_reply(r[i]), "x");
    }
    for (int i = 0; i < N; i++)
        fwdreq_answered(r[i]);
    ck_assert(fwdreq_queue_drain(&q));
    ck_assert_uint_eq(buf_pending(&out), N);
    /* teardown's fwdreq_pool_fini() frees the spares; the sanitizer build
     * reports the rest if they leaked */
}
END_TEST

static Suite *fwdreq_suite(void)
{
    Suite *s = suite_create("fwdreq");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(
        tc, test_fwdreq_replies_drain_in_push_order_when_later_ones_complete_first);
    tcase_add_test(tc, test_fwdreq_drain_stops_at_the_first_incomplete_request);
    tcase_add_test(tc, test_fwdreq_local_replies_after_a_request_come_out_behind_it);
    tcase_add_test(tc, test_fwdreq_ready_fires_exactly_when_the_last_answer_arrives);
    tcase_add_test(tc, test_fwdreq_unhold_never_calls_ready);
    tcase_add_test(tc, test_fwdreq_fail_keeps_the_first_error_only);
    tcase_add_test(tc, test_fwdreq_fail_under_noreply_writes_nothing);
    tcase_add_test(tc, test_fwdreq_queue_counts_sync_and_write_requests);
    tcase_add_test(tc,
                   test_fwdreq_detach_all_frees_complete_requests_and_orphans_the_rest);
    tcase_add_test(
        tc, test_fwdreq_detach_of_an_unqueued_request_frees_it_now_or_at_its_last_answer);
    tcase_add_test(tc, test_fwdreq_out_is_the_connection_output_only_for_the_head);
    tcase_add_test(tc, test_fwdreq_free_calls_the_private_free_once_and_ignores_null);
    tcase_add_test(tc, test_fwdreq_reused_request_starts_fresh_and_keeps_small_buffers);
    tcase_add_test(tc, test_fwdreq_reused_request_drops_big_buffers);
    tcase_add_test(tc, test_fwdreq_pool_steady_state_reuses_without_growth);
    tcase_add_test(tc, test_fwdreq_pool_fini_frees_more_spares_than_it_keeps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fwdreq_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
