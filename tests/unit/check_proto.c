/* check_proto: memcached's tokenizer and meta-flag parser, reproduced
 * exactly, since every reply the daemon sends depends on them. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

/* A writable copy of the line under test (the tokenizer works in place). */
static char line[4096];
static struct token tok[PROTO_MAX_TOKENS + 1];

static size_t tokenize_max(const char *s, size_t max)
{
    size_t len = strlen(s);

    ck_assert_uint_lt(len, sizeof(line));
    memcpy(line, s, len + 1);
    return proto_tokenize(line, len, tok, max);
}

static size_t tokenize(const char *s)
{
    return tokenize_max(s, PROTO_MAX_TOKENS);
}

static void assert_token(size_t i, const char *want)
{
    ck_assert_ptr_nonnull(tok[i].value);
    ck_assert_uint_eq(tok[i].length, strlen(want));
    ck_assert_mem_eq(tok[i].value, want, tok[i].length);
    ck_assert_int_eq(tok[i].value[tok[i].length], '\0');
}

static void assert_terminal_consumed_all(size_t i)
{
    ck_assert_uint_eq(tok[i].length, 0);
    ck_assert_ptr_null(tok[i].value);
}

/* ---- tokenizer ---- */

START_TEST(test_proto_tokenize_splits_on_single_spaces)
{
    ck_assert_uint_eq(tokenize("set foo 0 0 3"), 6);
    assert_token(0, "set");
    assert_token(1, "foo");
    assert_token(2, "0");
    assert_token(3, "0");
    assert_token(4, "3");
    assert_terminal_consumed_all(5);
}
END_TEST

START_TEST(test_proto_tokenize_replaces_separators_with_nul_in_place)
{
    tokenize("get a b");
    ck_assert_ptr_eq(tok[0].value, line);
    ck_assert_ptr_eq(tok[1].value, line + 4);
    ck_assert_ptr_eq(tok[2].value, line + 6);
    ck_assert_int_eq(line[3], '\0');
    ck_assert_int_eq(line[5], '\0');
}
END_TEST

START_TEST(test_proto_tokenize_terminates_the_line_at_len)
{
    char buf[16];

    memcpy(buf, "get keyXXXX", 12);
    ck_assert_uint_eq(proto_tokenize(buf, 7, tok, PROTO_MAX_TOKENS), 3);
    ck_assert_int_eq(buf[7], '\0');
    ck_assert_uint_eq(tok[1].length, 3);
    ck_assert_str_eq(tok[1].value, "key");
    ck_assert_ptr_null(tok[2].value);
}
END_TEST

START_TEST(test_proto_tokenize_treats_runs_of_spaces_as_one_separator)
{
    ck_assert_uint_eq(tokenize("get   foo    bar"), 4);
    assert_token(0, "get");
    assert_token(1, "foo");
    assert_token(2, "bar");
    assert_terminal_consumed_all(3);
}
END_TEST

START_TEST(test_proto_tokenize_ignores_leading_and_trailing_spaces)
{
    ck_assert_uint_eq(tokenize("   get foo"), 3);
    assert_token(0, "get");
    assert_token(1, "foo");
    assert_terminal_consumed_all(2);

    ck_assert_uint_eq(tokenize("get foo    "), 3);
    assert_token(0, "get");
    assert_token(1, "foo");
    assert_terminal_consumed_all(2);
}
END_TEST

START_TEST(test_proto_tokenize_of_an_empty_or_blank_line_is_just_the_terminal)
{
    ck_assert_uint_eq(tokenize(""), 1);
    assert_terminal_consumed_all(0);
    ck_assert_uint_eq(tokenize("     "), 1);
    assert_terminal_consumed_all(0);
}
END_TEST

START_TEST(test_proto_tokenize_does_not_split_on_tabs_or_other_whitespace)
{
    ck_assert_uint_eq(tokenize("get\tfoo"), 2);
    assert_token(0, "get\tfoo");
    ck_assert_uint_eq(tokenize("get foo\r"), 3);
    assert_token(1, "foo\r");
    ck_assert_uint_eq(tokenize("a\vb c\fd"), 3);
    assert_token(0, "a\vb");
    assert_token(1, "c\fd");
}
END_TEST

START_TEST(test_proto_tokenize_caps_at_23_tokens_and_points_the_terminal_at_the_rest)
{
    /* 30 tokens: 23 are split off, the terminal points at " t23 ..." */
    ck_assert_uint_eq(
        tokenize("t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 "
                 "t17 t18 t19 t20 t21 t22 t23 t24 t25 t26 t27 t28 t29"),
        PROTO_MAX_TOKENS);
    assert_token(0, "t0");
    assert_token(22, "t22");
    ck_assert_uint_eq(tok[23].length, 0);
    ck_assert_ptr_nonnull(tok[23].value);
    ck_assert_str_eq(tok[23].value, "t23 t24 t25 t26 t27 t28 t29");
}
END_TEST

START_TEST(test_proto_tokenize_exactly_23_tokens_consume_the_whole_line)
{
    ck_assert_uint_eq(
        tokenize("t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 "
                 "t17 t18 t19 t20 t21 t22"),
        24);
    assert_token(22, "t22");
    assert_terminal_consumed_all(23);

    /* a trailing space after the 23rd token: the break leaves nothing */
    ck_assert_uint_eq(
        tokenize("t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 "
                 "t17 t18 t19 t20 t21 t22 "),
        24);
    assert_terminal_consumed_all(23);
}
END_TEST

START_TEST(test_proto_tokenize_24th_token_is_left_in_the_terminal)
{
    ck_assert_uint_eq(
        tokenize("t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 "
                 "t17 t18 t19 t20 t21 t22 t23"),
        24);
    ck_assert_uint_eq(tok[23].length, 0);
    ck_assert_str_eq(tok[23].value, "t23");

    /* extra spaces after the cap stay in the rest, as in memcached */
    tokenize("t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 "
             "t20 t21 t22   t23");
    ck_assert_str_eq(tok[23].value, "  t23");
}
END_TEST

START_TEST(test_proto_tokenize_rest_can_be_tokenized_again_like_a_long_multiget)
{
    size_t n, total = 0;
    char *rest;

    n = tokenize("get k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12 k13 k14 k15 k16 k17 k18 k19 "
                 "k20 k21 k22 k23 k24 k25 k26 k27 k28 k29 k30");
    for (;;) {
        size_t i;
        for (i = 0; tok[i].length != 0; i++)
            total++;
        ck_assert_uint_eq(i + 1, n);
        if (tok[i].value == NULL)
            break;
        rest = tok[i].value;
        n = proto_tokenize(rest, strlen(rest), tok, PROTO_MAX_TOKENS);
    }
    ck_assert_uint_eq(total, 31);
}
END_TEST

START_TEST(test_proto_tokenize_honours_a_small_maximum)
{
    ck_assert_uint_eq(tokenize_max("a b c d", 3), 3);
    assert_token(0, "a");
    assert_token(1, "b");
    ck_assert_str_eq(tok[2].value, "c d");
    ck_assert_uint_eq(tok[2].length, 0);
}
END_TEST

/* ---- noreply ---- */

START_TEST(test_proto_noreply_is_the_last_real_token)
{
    tokenize("set k 0 0 1 noreply");
    ck_assert(proto_noreply(tok, 7));
    tokenize("incr k 1 noreply");
    ck_assert(proto_noreply(tok, 5));
    tokenize("delete k noreply");
    ck_assert(proto_noreply(tok, 4));
}
END_TEST

START_TEST(test_proto_noreply_must_match_exactly_and_be_last)
{
    size_t n;

    n = tokenize("set k 0 0 1");
    ck_assert(!proto_noreply(tok, n));
    n = tokenize("set k 0 0 1 noreplyx");
    ck_assert(!proto_noreply(tok, n));
    n = tokenize("set k 0 0 1 NOREPLY");
    ck_assert(!proto_noreply(tok, n));
    n = tokenize("set noreply 0 0 1");
    ck_assert(!proto_noreply(tok, n));
    n = tokenize("set k 0 0 1 norepl");
    ck_assert(!proto_noreply(tok, n));
}
END_TEST

START_TEST(test_proto_noreply_is_false_without_tokens)
{
    size_t n = tokenize("");

    ck_assert(!proto_noreply(tok, n));
    ck_assert(!proto_noreply(tok, 0));
}
END_TEST

/* ---- meta flags ---- */

static struct meta_flags mf;
static const char *err;
static const char default_err[] = "default";

/* Tokenizes "<cmd> <key> <flags...>" and parses flags from `start`. */
static int meta(const char *s, size_t start)
{
    memset(&mf, 0, sizeof(mf));
    err = default_err;
    tokenize(s);
    return proto_meta_flags(tok, start, &mf, &err);
}

START_TEST(test_proto_meta_no_flags_parses_to_nothing)
{
    ck_assert_int_eq(meta("mg foo", 2), 0);
    ck_assert(!mf.has_error && !mf.value && !mf.vivify && !mf.no_reply);
    ck_assert_ptr_eq(err, default_err);
}
END_TEST

START_TEST(test_proto_meta_boolean_flags_are_recorded)
{
    ck_assert_int_eq(meta("mg foo v u q I", 2), 0);
    ck_assert(mf.value);
    ck_assert(mf.no_update);
    ck_assert(mf.no_reply);
    ck_assert(mf.set_stale);
    ck_assert(!mf.vivify && !mf.has_cas && !mf.new_ttl && !mf.key_binary);
}
END_TEST

START_TEST(test_proto_meta_return_flags_are_accepted_without_effect)
{
    ck_assert_int_eq(meta("mg foo k s t c f l h O123 P L", 2), 0);
    ck_assert(!mf.has_error && !mf.value);
    ck_assert_ptr_eq(err, default_err);
}
END_TEST

START_TEST(test_proto_meta_numeric_flags_are_parsed)
{
    ck_assert_int_eq(meta("mg foo N30 T60 R10", 2), 0);
    ck_assert(mf.vivify);
    ck_assert_int_eq(mf.autoviv_ttl, 30);
    ck_assert(mf.new_ttl);
    ck_assert_int_eq(mf.ttl, 60);
    ck_assert(mf.recache);
    ck_assert_int_eq(mf.recache_ttl, 10);

    ck_assert_int_eq(meta("ms foo 3 F4294967295 C18446744073709551615 E77 MS", 3), 0);
    ck_assert_uint_eq(mf.client_flags, 4294967295u);
    ck_assert(mf.has_cas);
    ck_assert_uint_eq(mf.req_cas, UINT64_MAX);
    ck_assert(mf.has_new_cas);
    ck_assert_uint_eq(mf.new_cas, 77);
    ck_assert_int_eq(mf.mode, 'S');

    ck_assert_int_eq(meta("ma foo J5 D7 M-", 2), 0);
    ck_assert_uint_eq(mf.initial, 5);
    ck_assert_uint_eq(mf.delta, 7);
    ck_assert_int_eq(mf.mode, '-');
}
END_TEST

START_TEST(test_proto_meta_ttl_flags_accept_negative_values)
{
    ck_assert_int_eq(meta("mg foo T-1 N-5 R-10", 2), 0);
    ck_assert_int_eq(mf.ttl, -1);
    ck_assert_int_eq(mf.autoviv_ttl, -5);
    ck_assert_int_eq(mf.recache_ttl, -10);
}
END_TEST

START_TEST(test_proto_meta_ms_flags_start_after_the_length)
{
    ck_assert_int_eq(meta("ms foo 5 T10 q", 3), 0);
    ck_assert(mf.new_ttl);
    ck_assert_int_eq(mf.ttl, 10);
    ck_assert(mf.no_reply);
}
END_TEST

START_TEST(test_proto_meta_duplicate_flag_is_refused)
{
    ck_assert_int_eq(meta("mg foo v v", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR duplicate flag");
    ck_assert_int_eq(meta("mg foo T1 s T2", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR duplicate flag");
    /* only the first character counts */
    ck_assert_int_eq(meta("mg foo O1 O2", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR duplicate flag");
}
END_TEST

START_TEST(test_proto_meta_non_ascii_flag_is_reported_as_duplicate_like_memcached)
{
    ck_assert_int_eq(meta("mg foo \x80", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR duplicate flag");
    ck_assert_int_eq(meta("mg foo \x7f", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR duplicate flag");
}
END_TEST

START_TEST(test_proto_meta_unknown_flag_is_refused)
{
    static const char *const lines[] = {"mg foo x", "mg foo Z",   "mg foo W",
                                        "mg foo 1", "mg foo v y", "mg foo ="};

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        ck_assert_msg(meta(lines[i], 2) == -1, "accepted %s", lines[i]);
        ck_assert_str_eq(err, "CLIENT_ERROR invalid flag");
    }
}
END_TEST

START_TEST(test_proto_meta_bad_ttl_or_cas_token_is_a_bad_token)
{
    static const char *const lines[] = {"mg foo Tabc",
                                        "mg foo T",
                                        "mg foo N",
                                        "mg foo Nx",
                                        "mg foo R1x",
                                        "md foo C",
                                        "md foo Cx",
                                        "md foo C-1",
                                        "ms foo 1 E0",
                                        "ms foo 1 E",
                                        "md foo C18446744073709551616"};

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        size_t start = lines[i][1] == 's' ? 3 : 2;
        ck_assert_msg(meta(lines[i], start) == -1, "accepted %s", lines[i]);
        ck_assert(mf.has_error);
        ck_assert_str_eq(err, "CLIENT_ERROR bad token in command line format");
    }
}
END_TEST

START_TEST(test_proto_meta_bad_initial_and_delta_have_their_own_messages)
{
    ck_assert_int_eq(meta("ma foo Jx", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR invalid numeric initial value");
    ck_assert_int_eq(meta("ma foo J-1", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR invalid numeric initial value");
    ck_assert_int_eq(meta("ma foo D", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR invalid numeric delta value");
    ck_assert_int_eq(meta("ma foo D18446744073709551616", 2), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR invalid numeric delta value");
}
END_TEST

START_TEST(test_proto_meta_bad_client_flags_fail_with_the_callers_message)
{
    /* memcached sets no message for F: the command's default is used */
    ck_assert_int_eq(meta("ms foo 1 Fx", 3), -1);
    ck_assert(mf.has_error);
    ck_assert_ptr_eq(err, default_err);
    ck_assert_int_eq(meta("ms foo 1 F-1", 3), -1);
    ck_assert_ptr_eq(err, default_err);
}
END_TEST

START_TEST(test_proto_meta_mode_must_be_exactly_one_character)
{
    ck_assert_int_eq(meta("ms foo 1 M", 3), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR incorrect length for M token");
    ck_assert_int_eq(meta("ms foo 1 MSS", 3), -1);
    ck_assert_str_eq(err, "CLIENT_ERROR incorrect length for M token");
    /* any single character is accepted here; the command checks it */
    ck_assert_int_eq(meta("ms foo 1 Mz", 3), 0);
    ck_assert_int_eq(mf.mode, 'z');
}
END_TEST

START_TEST(test_proto_meta_parsing_continues_past_a_bad_value)
{
    /* a bad value does not stop the scan: later flags are still seen */
    ck_assert_int_eq(meta("mg foo Tx v q", 2), -1);
    ck_assert(mf.has_error);
    ck_assert(mf.value);
    ck_assert(mf.no_reply);
    /* but a duplicate or unknown flag stops it at once */
    ck_assert_int_eq(meta("mg foo x v", 2), -1);
    ck_assert(!mf.value);
}
END_TEST

START_TEST(test_proto_meta_b_decodes_the_key_in_place)
{
    ck_assert_int_eq(meta("mg Zm9vYmFy b v", 2), 0);
    ck_assert(mf.key_binary);
    ck_assert(mf.value);
    ck_assert_uint_eq(tok[1].length, 6);
    ck_assert_ptr_eq(tok[1].value, line + 3);
    ck_assert_mem_eq(tok[1].value, "foobar", 6);

    /* binary bytes, including a space and a NUL */
    ck_assert_int_eq(meta("mg AAEgAw== b", 2), 0);
    ck_assert_uint_eq(tok[1].length, 4);
    ck_assert_mem_eq(tok[1].value, "\x00\x01\x20\x03", 4);
}
END_TEST

START_TEST(test_proto_meta_b_fails_on_a_key_that_is_not_base64)
{
    static const char *const lines[] = {"mg foo! b", "mg Zm9 b", "mg Zg=v b", "mg ==== b",
                                        "mg a-b_ b"};

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        ck_assert_msg(meta(lines[i], 2) == -1, "accepted %s", lines[i]);
        ck_assert(mf.has_error);
        ck_assert(mf.key_binary);
        ck_assert_str_eq(err, "CLIENT_ERROR error decoding key");
        ck_assert_uint_eq(tok[1].length, 0);
    }
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("tokenize");

    tcase_add_test(tc, test_proto_tokenize_splits_on_single_spaces);
    tcase_add_test(tc, test_proto_tokenize_replaces_separators_with_nul_in_place);
    tcase_add_test(tc, test_proto_tokenize_terminates_the_line_at_len);
    tcase_add_test(tc, test_proto_tokenize_treats_runs_of_spaces_as_one_separator);
    tcase_add_test(tc, test_proto_tokenize_ignores_leading_and_trailing_spaces);
    tcase_add_test(tc,
                   test_proto_tokenize_of_an_empty_or_blank_line_is_just_the_terminal);
    tcase_add_test(tc, test_proto_tokenize_does_not_split_on_tabs_or_other_whitespace);
    tcase_add_test(
        tc, test_proto_tokenize_caps_at_23_tokens_and_points_the_terminal_at_the_rest);
    tcase_add_test(tc, test_proto_tokenize_exactly_23_tokens_consume_the_whole_line);
    tcase_add_test(tc, test_proto_tokenize_24th_token_is_left_in_the_terminal);
    tcase_add_test(tc,
                   test_proto_tokenize_rest_can_be_tokenized_again_like_a_long_multiget);
    tcase_add_test(tc, test_proto_tokenize_honours_a_small_maximum);
    suite_add_tcase(s, tc);

    tc = tcase_create("noreply");
    tcase_add_test(tc, test_proto_noreply_is_the_last_real_token);
    tcase_add_test(tc, test_proto_noreply_must_match_exactly_and_be_last);
    tcase_add_test(tc, test_proto_noreply_is_false_without_tokens);
    suite_add_tcase(s, tc);

    tc = tcase_create("meta_flags");
    tcase_add_test(tc, test_proto_meta_no_flags_parses_to_nothing);
    tcase_add_test(tc, test_proto_meta_boolean_flags_are_recorded);
    tcase_add_test(tc, test_proto_meta_return_flags_are_accepted_without_effect);
    tcase_add_test(tc, test_proto_meta_numeric_flags_are_parsed);
    tcase_add_test(tc, test_proto_meta_ttl_flags_accept_negative_values);
    tcase_add_test(tc, test_proto_meta_ms_flags_start_after_the_length);
    tcase_add_test(tc, test_proto_meta_duplicate_flag_is_refused);
    tcase_add_test(
        tc, test_proto_meta_non_ascii_flag_is_reported_as_duplicate_like_memcached);
    tcase_add_test(tc, test_proto_meta_unknown_flag_is_refused);
    tcase_add_test(tc, test_proto_meta_bad_ttl_or_cas_token_is_a_bad_token);
    tcase_add_test(tc, test_proto_meta_bad_initial_and_delta_have_their_own_messages);
    tcase_add_test(tc, test_proto_meta_bad_client_flags_fail_with_the_callers_message);
    tcase_add_test(tc, test_proto_meta_mode_must_be_exactly_one_character);
    tcase_add_test(tc, test_proto_meta_parsing_continues_past_a_bad_value);
    tcase_add_test(tc, test_proto_meta_b_decodes_the_key_in_place);
    tcase_add_test(tc, test_proto_meta_b_fails_on_a_key_that_is_not_base64);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proto_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
