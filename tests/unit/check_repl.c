/* check_repl: quorum arithmetic and the wire format replicas exchange
 * (rs/rg), encoded and parsed back, and malformed answers refused. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cmd/cmd.h"
#include "store/item.h"
#include "cluster/repl.h"
#include "store/store.h"

START_TEST(test_repl_quorum_is_met_once_enough_owners_acknowledged)
{
    ck_assert_int_eq(repl_quorum(1, 2, 0, 0), REPL_PENDING);
    ck_assert_int_eq(repl_quorum(1, 2, 1, 0), REPL_MET);
    ck_assert_int_eq(repl_quorum(2, 2, 1, 0), REPL_PENDING);
    ck_assert_int_eq(repl_quorum(2, 2, 2, 0), REPL_MET);
    ck_assert_int_eq(repl_quorum(0, 0, 0, 0), REPL_MET); /* W=1: this node is enough */
}
END_TEST

START_TEST(test_repl_quorum_fails_as_soon_as_it_cannot_be_reached)
{
    ck_assert_int_eq(repl_quorum(1, 2, 0, 1), REPL_PENDING); /* one may still answer */
    ck_assert_int_eq(repl_quorum(1, 2, 0, 2), REPL_FAILED);
    ck_assert_int_eq(repl_quorum(2, 2, 1, 1), REPL_FAILED);
    ck_assert_int_eq(repl_quorum(2, 1, 0, 0), REPL_FAILED); /* too few owners alive */
    ck_assert_int_eq(repl_quorum(2, 3, 1, 1), REPL_PENDING);
    ck_assert_int_eq(repl_quorum(1, 1, 1, 0), REPL_MET);
}
END_TEST

START_TEST(test_repl_quorum_of_every_small_case_agrees_with_counting)
{
    for (unsigned need = 0; need <= 4; need++)
        for (unsigned total = 0; total <= 4; total++)
            for (unsigned acks = 0; acks <= total; acks++)
                for (unsigned fails = 0; acks + fails <= total; fails++) {
                    enum repl_quorum q = repl_quorum(need, total, acks, fails);
                    unsigned open = total - acks - fails;
                    enum repl_quorum want = acks >= need         ? REPL_MET
                                            : acks + open < need ? REPL_FAILED
                                                                 : REPL_PENDING;
                    ck_assert_int_eq(q, want);
                }
}
END_TEST

/* Encodes an rs for a state, checks the line, then frames the state as the
 * rg answer a replica would send and parses it back. */
static void round_trip(const char *key, size_t nkey, const struct store_state *s,
                       const char *value, const char *want_line)
{
    struct buf b, ans;
    struct store_state got;
    const char *v;
    char line[256];

    buf_init(&b);
    cmd_repl_encode_store(&b, key, nkey, s, value);
    ck_assert(!b.oom);
    snprintf(line, sizeof(line), "%s\r\n", want_line);
    ck_assert_uint_ge(b.len, strlen(line));
    ck_assert_int_eq(memcmp(b.data, line, strlen(line)), 0);
    ck_assert_uint_eq(b.len, strlen(line) + s->nvalue + 2);
    ck_assert_int_eq(memcmp(b.data + strlen(line), value, s->nvalue), 0);

    /* the rg answer: "VA <bytes> <flags> <exptime> <version>[ <opts>]" */
    buf_init(&ans);
    buf_append_str(&ans, "VA ");
    buf_append_u64(&ans, s->nvalue);
    buf_append_str(&ans, " ");
    buf_append_u64(&ans, s->flags);
    buf_append_str(&ans, " ");
    buf_append_u64(&ans, (unsigned long long)s->exptime);
    buf_append_str(&ans, " ");
    buf_append_u64(&ans, s->version);
    if (s->iflags & ITEM_TOMBSTONE)
        buf_append_str(&ans, " t");
    buf_append_str(&ans, "\r\n");
    buf_append(&ans, value, s->nvalue);
    buf_append_str(&ans, "\r\n");
    ck_assert_int_eq(cmd_repl_parse_state(ans.data, ans.len, &got, &v), 0);
    ck_assert_uint_eq(got.version, s->version);
    ck_assert_uint_eq(got.flags, s->flags);
    ck_assert_int_eq(got.exptime, s->exptime);
    ck_assert_uint_eq(got.nvalue, s->nvalue);
    ck_assert_uint_eq(got.iflags & ITEM_TOMBSTONE, s->iflags & ITEM_TOMBSTONE);
    ck_assert_int_eq(memcmp(v, value, s->nvalue), 0);
    buf_free(&b);
    buf_free(&ans);
}

START_TEST(test_repl_store_command_carries_the_whole_state)
{
    struct store_state s = {.version = 383183834633472870ull,
                            .flags = 4294967295u,
                            .exptime = 1795425945,
                            .nvalue = 5};
    struct store_state t = {.version = 42, .iflags = ITEM_TOMBSTONE, .exptime = 7};

    round_trip("k1", 2, &s, "hello", "rs k1 4294967295 1795425945 383183834633472870 5");
    round_trip("gone", 4, &t, "", "rs gone 0 7 42 0 t");
}
END_TEST

START_TEST(test_repl_keys_that_are_not_plain_tokens_travel_in_base64)
{
    struct store_state s = {.version = 9, .nvalue = 1, .iflags = ITEM_KEY_BINARY};
    struct buf b;

    round_trip("a b", 3, &s, "x", "rs YSBi 0 0 9 1 bB");
    buf_init(&b);
    cmd_repl_encode_get(&b, "a\r", 2);
    ck_assert_uint_eq(b.len, strlen("rg YQ0= b\r\n"));
    ck_assert_int_eq(memcmp(b.data, "rg YQ0= b\r\n", b.len), 0);
    buf_reset(&b);
    cmd_repl_encode_get(&b, "plain", 5);
    ck_assert_int_eq(memcmp(b.data, "rg plain\r\n", b.len), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_repl_miss_answer_is_an_empty_state)
{
    struct store_state s;
    const char *v;

    ck_assert_int_eq(cmd_repl_parse_state("EN\r\n", 4, &s, &v), 0);
    ck_assert_uint_eq(s.version, 0);
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(test_repl_malformed_answers_are_refused)
{
    static const char *const bad[] = {
        "VA 1 0 0 0\r\nx\r\n",          /* version 0 */
        "VA 1 0 0\r\nx\r\n",            /* too few fields */
        "VA 1 0 0 5 q\r\nx\r\n",        /* unknown opt */
        "VA 1 0 -1 5\r\nx\r\n",         /* negative exptime */
        "VA 1 0 0 5 t\r\nx\r\n",        /* a tombstone with a value */
        "VA 2 0 0 5\r\nx\r\n",          /* block shorter than stated */
        "VA 1 x 0 5\r\nx\r\n",          /* flags not a number */
        "VA 1 4294967296 0 5\r\nx\r\n", /* flags beyond 32 bits */
        "HD\r\n",
        "EN",
        "",
        "VA 1 0 0 5 1 2 3\r\nx\r\n", /* too many fields */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct store_state s;
        const char *v;
        ck_assert_msg(cmd_repl_parse_state(bad[i], strlen(bad[i]), &s, &v) == -EPROTO,
                      "accepted %s", bad[i]);
    }
}
END_TEST

static Suite *repl_suite(void)
{
    Suite *s = suite_create("repl");
    TCase *tc = tcase_create("quorum");

    tcase_add_test(tc, test_repl_quorum_is_met_once_enough_owners_acknowledged);
    tcase_add_test(tc, test_repl_quorum_fails_as_soon_as_it_cannot_be_reached);
    tcase_add_test(tc, test_repl_quorum_of_every_small_case_agrees_with_counting);
    suite_add_tcase(s, tc);
    tc = tcase_create("wire");
    tcase_add_test(tc, test_repl_store_command_carries_the_whole_state);
    tcase_add_test(tc, test_repl_keys_that_are_not_plain_tokens_travel_in_base64);
    tcase_add_test(tc, test_repl_miss_answer_is_an_empty_state);
    tcase_add_test(tc, test_repl_malformed_answers_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(repl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
