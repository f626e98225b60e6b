/* check_cmd_meta: the meta commands (mg, ms, md, ma, mn, me) driven without
 * sockets, flag by flag, and the stale-while-revalidate tokens (N, I, R)
 * that let one client win the right to recache a key. Each test compares
 * the exact reply bytes with what memcached sends. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "cmd/cmd.h"
#include "base/stats.h"

#include "cmd_fixture.h"

/* ---- meta commands ---- */

START_TEST(test_cmd_ms_and_mg_store_and_fetch)
{
    ck_assert_str_eq(feed("ms foo 3\r\nbar\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg foo v\r\n"), "VA 3\r\nbar\r\n");
    ck_assert_str_eq(feed("mg foo\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg foo s v f t\r\n"), "VA 3 s3 f0 t-1\r\nbar\r\n");
    ck_assert_str_eq(feed("get foo\r\n"), "VALUE foo 0 3\r\nbar\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_mg_miss_is_en_and_echoes_opaque_and_key)
{
    ck_assert_str_eq(feed("mg nope v\r\n"), "EN\r\n");
    ck_assert_str_eq(feed("mg nope k O123 v\r\n"), "EN knope O123\r\n");
    ck_assert_str_eq(feed("mg nope v q\r\nmn\r\n"), "MN\r\n");
}
END_TEST

START_TEST(test_cmd_mg_return_flags_follow_request_order)
{
    feed("ms foo 3 F5 T100\r\nbar\r\n");
    ck_assert_str_eq(feed("mg foo h l\r\n"), "HD h0 l0\r\n");
    ck_assert_str_eq(feed("mg foo h\r\n"), "HD h1\r\n");
    ck_assert_str_eq(feed("mg foo O9 k f t s\r\n"), "HD O9 kfoo f5 t100 s3\r\n");
}
END_TEST

START_TEST(test_cmd_mg_c_returns_the_same_cas_as_gets)
{
    char want[64];

    feed("set k 0 0 1\r\na\r\n");
    snprintf(want, sizeof(want), "HD c%llu\r\n", cas_of("k"));
    ck_assert_str_eq(feed("mg k c\r\n"), want);
}
END_TEST

START_TEST(test_cmd_mg_q_hides_misses_but_not_hits)
{
    feed("ms k 1\r\na\r\n");
    ck_assert_str_eq(feed("mg k v q\r\nmg x v q\r\nmn\r\n"), "VA 1\r\na\r\nMN\r\n");
}
END_TEST

START_TEST(test_cmd_mg_u_does_not_count_as_a_fetch)
{
    feed("ms k 1\r\na\r\n");
    ck_assert_str_eq(feed("mg k u\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k h\r\n"), "HD h0\r\n");
    ck_assert_str_eq(feed("mg k h\r\n"), "HD h1\r\n");
}
END_TEST

START_TEST(test_cmd_mg_t_flag_touches)
{
    feed("ms k 1\r\na\r\n");
    ck_assert_str_eq(feed("mg k T30 t\r\n"), "HD t30\r\n");
    ck_assert_uint_eq(ts.touch_hits, 1);
    ck_assert_str_eq(feed("mg k T-1\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k\r\n"), "EN\r\n");
}
END_TEST

START_TEST(test_cmd_mg_flag_errors)
{
    feed("ms k 1\r\na\r\n");
    ck_assert_str_eq(feed("mg k v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
    ck_assert_str_eq(feed("mg k x\r\n"), "CLIENT_ERROR invalid flag\r\n");
    ck_assert_str_eq(feed("mg k Tx\r\n"),
                     "CLIENT_ERROR bad token in command line format\r\n");
    ck_assert_str_eq(feed("mg k O123456789012345678901234567890123\r\n"),
                     "CLIENT_ERROR opaque token too long\r\n");
    ck_assert_str_eq(feed("mg nope O123456789012345678901234567890123\r\n"),
                     "CLIENT_ERROR opaque token too long\r\n");
    ck_assert_str_eq(feed("mg k a b c d e f g h i j k l m n o p q r s\r\n"),
                     "CLIENT_ERROR options flags are too long\r\n");
    /* errors are sent even with q */
    ck_assert_str_eq(feed("mg k q x\r\n"), "CLIENT_ERROR invalid flag\r\n");
}
END_TEST

START_TEST(test_cmd_mg_b_uses_a_base64_key)
{
    feed("set foo 0 0 3\r\nbar\r\n");
    ck_assert_str_eq(feed("mg Zm9v b v\r\n"), "VA 3\r\nbar\r\n");
    ck_assert_str_eq(feed("mg Zm9v b k\r\n"), "HD kfoo\r\n");
    ck_assert_str_eq(feed("mg Zm9 b\r\n"), "CLIENT_ERROR error decoding key\r\n");
    ck_assert_str_eq(feed("mg YmF6 b k\r\n"), "EN kYmF6 b\r\n");
}
END_TEST

START_TEST(test_cmd_ms_b_stores_a_binary_key_echoed_in_base64)
{
    ck_assert_str_eq(feed("ms AAEC 1 b k\r\nx\r\n"), "HD kAAEC b\r\n");
    ck_assert_str_eq(feed("mg AAEC b k v\r\n"), "VA 1 kAAEC b\r\nx\r\n");
}
END_TEST

START_TEST(test_cmd_ms_modes_behave_like_add_replace_append_prepend)
{
    ck_assert_str_eq(feed("ms k 1 MR\r\na\r\n"), "NS\r\n");
    ck_assert_str_eq(feed("ms k 1 ME\r\na\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("ms k 1 ME\r\nb\r\n"), "NS\r\n");
    ck_assert_str_eq(feed("ms k 1 MA\r\nc\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("ms k 1 MP\r\nd\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("ms k 1 MS\r\ne\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("ms k 2 MR\r\nff\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k v\r\n"), "VA 2\r\nff\r\n");
    ck_assert_str_eq(feed("ms k 1 MZ\r\nx\r\nmn\r\n"),
                     "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n");
}
END_TEST

START_TEST(test_cmd_ms_c_compares_the_cas)
{
    char line[128];
    unsigned long long cas;

    ck_assert_str_eq(feed("ms k 1 C5\r\na\r\n"), "NF\r\n");
    feed("ms k 1\r\na\r\n");
    cas = cas_of("k");
    snprintf(line, sizeof(line), "ms k 1 C%llu\r\nb\r\n", cas + 1);
    ck_assert_str_eq(feed(line), "EX\r\n");
    snprintf(line, sizeof(line), "ms k 1 C%llu c\r\nb\r\n", cas);
    feed(line);
    ck_assert_int_eq(strncmp(reply, "HD c", 4), 0);
    ck_assert_uint_gt(strtoull(reply + 4, NULL, 10), cas);
    ck_assert_str_eq(feed("mg k v\r\n"), "VA 1\r\nb\r\n");
}
END_TEST

START_TEST(test_cmd_ms_echoes_opaque_and_key_and_q_hides_success)
{
    ck_assert_str_eq(feed("ms k 1 O42 k\r\na\r\n"), "HD O42 kk\r\n");
    ck_assert_str_eq(feed("ms k 1 q\r\na\r\nmn\r\n"), "MN\r\n");
    ck_assert_str_eq(feed("ms k 1 q MR O7\r\na\r\nms z 1 q MR O8\r\nb\r\n"), "NS O8\r\n");
}
END_TEST

START_TEST(test_cmd_ms_errors_swallow_the_data_block)
{
    ck_assert_str_eq(feed("ms k 1 x\r\na\r\nmn\r\n"),
                     "CLIENT_ERROR invalid flag\r\nMN\r\n");
    ck_assert_str_eq(feed("ms k 1 T1 T2\r\na\r\nmn\r\n"),
                     "CLIENT_ERROR duplicate flag\r\nMN\r\n");
    ck_assert_str_eq(feed("ms k abc\r\nmn\r\n"),
                     "CLIENT_ERROR bad command line format\r\nMN\r\n");
    ck_assert_str_eq(feed("ms k\r\nmn\r\n"),
                     "CLIENT_ERROR bad command line format\r\nMN\r\n");
    ck_assert_str_eq(feed("ms k 2\r\nabcd\r\n"),
                     "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    ck_assert_str_eq(feed("mg k\r\n"), "EN\r\n");
}
END_TEST

START_TEST(test_cmd_ms_t_and_f_set_ttl_and_flags)
{
    ck_assert_str_eq(feed("ms k 1 T50 F3\r\na\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k t f\r\n"), "HD t50 f3\r\n");
    ck_assert_str_eq(feed("ms k 1 T-1\r\na\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k\r\n"), "EN\r\n");
}
END_TEST

START_TEST(test_cmd_md_deletes_and_reports)
{
    feed("ms k 1\r\na\r\n");
    ck_assert_str_eq(feed("md k\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("md k\r\n"), "NF\r\n");
    ck_assert_str_eq(feed("md k O5 k\r\n"), "NF O5 kk\r\n");
    feed("ms k 1\r\na\r\n");
    ck_assert_str_eq(feed("md k q\r\nmn\r\n"), "MN\r\n");
    ck_assert_str_eq(feed("md k q\r\n"), "NF\r\n");
    ck_assert_str_eq(feed("md k x\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
}
END_TEST

START_TEST(test_cmd_md_c_deletes_only_with_the_current_cas)
{
    char line[64];
    unsigned long long cas;

    feed("ms k 1\r\na\r\n");
    cas = cas_of("k");
    snprintf(line, sizeof(line), "md k C%llu\r\n", cas + 1);
    ck_assert_str_eq(feed(line), "EX\r\n");
    snprintf(line, sizeof(line), "md k C%llu\r\n", cas);
    ck_assert_str_eq(feed(line), "HD\r\n");
    ck_assert_str_eq(feed("mg k\r\n"), "EN\r\n");
}
END_TEST

START_TEST(test_cmd_ma_counts_and_creates_with_n)
{
    ck_assert_str_eq(feed("ma cnt\r\n"), "NF\r\n");
    ck_assert_str_eq(feed("ma cnt N0 J10\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("ma cnt v\r\n"), "VA 2\r\n11\r\n");
    ck_assert_str_eq(feed("ma cnt MD D5 v\r\n"), "VA 1\r\n6\r\n");
    ck_assert_str_eq(feed("get cnt\r\n"), "VALUE cnt 0 2\r\n6 \r\nEND\r\n");
    ck_assert_str_eq(feed("ma cnt M- D100 v\r\n"), "VA 1\r\n0\r\n");
    ck_assert_str_eq(feed("ma cnt M+ D7 v k O1\r\n"), "VA 1 kcnt O1\r\n7\r\n");
    ck_assert_str_eq(feed("ma cnt q\r\nmn\r\n"), "MN\r\n");
    ck_assert_str_eq(feed("ma cnt v\r\n"), "VA 1\r\n9\r\n");
}
END_TEST

/* memcached 1.6.18 hides only the HD of an existing counter under q: one
 * created by N is still reported (its vivify path never sets the skip). */
START_TEST(test_cmd_ma_q_still_reports_a_counter_created_by_n_like_memcached)
{
    ck_assert_str_eq(feed("ma cnt N0 J10 q\r\nmn\r\n"), "HD\r\nMN\r\n");
    ck_assert_str_eq(feed("ma cnt q\r\nmn\r\n"), "MN\r\n");
    ck_assert_str_eq(feed("ma nope q\r\nmn\r\n"), "NF\r\nMN\r\n");
}
END_TEST

START_TEST(test_cmd_ma_errors)
{
    ck_assert_str_eq(feed("ma cnt MX\r\n"),
                     "CLIENT_ERROR invalid mode for ma M token\r\n");
    ck_assert_str_eq(feed("ma cnt Dx\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
    feed("ms s 3\r\nabc\r\n");
    ck_assert_str_eq(feed("ma s\r\n"),
                     "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    ck_assert_str_eq(feed("ma s q\r\n"),
                     "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
}
END_TEST

START_TEST(test_cmd_ma_c_compares_the_cas)
{
    char line[64];
    unsigned long long cas;

    feed("set n 0 0 1\r\n1\r\n");
    cas = cas_of("n");
    snprintf(line, sizeof(line), "ma n C%llu v\r\n", cas + 1);
    ck_assert_str_eq(feed(line), "EX\r\n");
    snprintf(line, sizeof(line), "ma n C%llu v\r\n", cas);
    ck_assert_str_eq(feed(line), "VA 1\r\n2\r\n");
}
END_TEST

START_TEST(test_cmd_mg_n_gives_one_client_the_win_and_others_z)
{
    /* a miss with N creates an empty item and hands out the win token */
    ck_assert_str_eq(feed("mg k N30 v\r\n"), "VA 0 W\r\n\r\n");
    ck_assert_str_eq(feed("mg k N30 v\r\n"), "VA 0 Z\r\n\r\n");
    ck_assert_str_eq(feed("mg k N30 t\r\n"), "HD t30 Z\r\n");
    /* the winner stores the real value: the token is gone */
    ck_assert_str_eq(feed("ms k 3 T60\r\nnew\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k N30 v\r\n"), "VA 3\r\nnew\r\n");
}
END_TEST

START_TEST(test_cmd_md_i_marks_stale_then_one_reader_wins)
{
    feed("ms k 3\r\nold\r\n");
    ck_assert_str_eq(feed("md k I T30\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k v\r\n"), "VA 3 X W\r\nold\r\n");
    ck_assert_str_eq(feed("mg k v\r\n"), "VA 3 Z X\r\nold\r\n");
    ck_assert_str_eq(feed("mg k t\r\n"), "HD t30 Z X\r\n");
    /* a fresh set clears both marks */
    ck_assert_str_eq(feed("ms k 3\r\nnew\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k v\r\n"), "VA 3\r\nnew\r\n");
}
END_TEST

START_TEST(test_cmd_ms_i_with_an_older_cas_stores_a_stale_value)
{
    char line[64];
    unsigned long long cas;

    feed("ms k 3\r\nold\r\n");
    cas = cas_of("k");
    ck_assert_str_eq(feed("md k I\r\n"), "HD\r\n");
    /* the invalidation bumped the CAS: an exact compare fails ... */
    snprintf(line, sizeof(line), "ms k 3 C%llu\r\nnew\r\n", cas);
    ck_assert_str_eq(feed(line), "EX\r\n");
    /* ... but with I the older writer may store, still marked stale */
    snprintf(line, sizeof(line), "ms k 3 C%llu I\r\nnew\r\n", cas);
    ck_assert_str_eq(feed(line), "HD\r\n");
    ck_assert_str_eq(feed("mg k v\r\n"), "VA 3 X W\r\nnew\r\n");
}
END_TEST

START_TEST(test_cmd_mg_r_wins_when_the_ttl_left_is_below_the_threshold)
{
    feed("ms k 1 T10\r\na\r\n");
    ck_assert_str_eq(feed("mg k R5\r\n"), "HD\r\n");
    ck_assert_str_eq(feed("mg k R30\r\n"), "HD W\r\n");
    ck_assert_str_eq(feed("mg k R30\r\n"), "HD Z\r\n");
}
END_TEST

START_TEST(test_cmd_mn_and_me)
{
    ck_assert_str_eq(feed("mn\r\n"), "MN\r\n");
    ck_assert_str_eq(feed("me nope\r\n"), "EN\r\n");
    feed("set foo 0 0 3\r\nbar\r\n");
    feed("me foo\r\n");
    ck_assert_msg(strncmp(reply, "ME foo exp=-1 la=0 cas=", 23) == 0, "%s", reply);
    ck_assert_ptr_nonnull(strstr(reply, " fetch=no cls="));
    ck_assert_int_eq(strcmp(reply + strlen(reply) - 2, "\r\n"), 0);
}
END_TEST

static Suite *cmd_meta_suite(void)
{
    Suite *s = suite_create("cmd_meta");
    TCase *tc = tcase_create("meta");

    tcase_add_checked_fixture(tc, setup, stop);
    tcase_add_test(tc, test_cmd_ms_and_mg_store_and_fetch);
    tcase_add_test(tc, test_cmd_mg_miss_is_en_and_echoes_opaque_and_key);
    tcase_add_test(tc, test_cmd_mg_return_flags_follow_request_order);
    tcase_add_test(tc, test_cmd_mg_c_returns_the_same_cas_as_gets);
    tcase_add_test(tc, test_cmd_mg_q_hides_misses_but_not_hits);
    tcase_add_test(tc, test_cmd_mg_u_does_not_count_as_a_fetch);
    tcase_add_test(tc, test_cmd_mg_t_flag_touches);
    tcase_add_test(tc, test_cmd_mg_flag_errors);
    tcase_add_test(tc, test_cmd_mg_b_uses_a_base64_key);
    tcase_add_test(tc, test_cmd_ms_b_stores_a_binary_key_echoed_in_base64);
    tcase_add_test(tc, test_cmd_ms_modes_behave_like_add_replace_append_prepend);
    tcase_add_test(tc, test_cmd_ms_c_compares_the_cas);
    tcase_add_test(tc, test_cmd_ms_echoes_opaque_and_key_and_q_hides_success);
    tcase_add_test(tc, test_cmd_ms_errors_swallow_the_data_block);
    tcase_add_test(tc, test_cmd_ms_t_and_f_set_ttl_and_flags);
    tcase_add_test(tc, test_cmd_md_deletes_and_reports);
    tcase_add_test(tc, test_cmd_md_c_deletes_only_with_the_current_cas);
    tcase_add_test(tc, test_cmd_ma_counts_and_creates_with_n);
    tcase_add_test(tc, test_cmd_ma_q_still_reports_a_counter_created_by_n_like_memcached);
    tcase_add_test(tc, test_cmd_ma_errors);
    tcase_add_test(tc, test_cmd_ma_c_compares_the_cas);
    tcase_add_test(tc, test_cmd_mn_and_me);
    suite_add_tcase(s, tc);

    tc = tcase_create("meta_tokens");
    tcase_add_checked_fixture(tc, setup, stop);
    tcase_add_test(tc, test_cmd_mg_n_gives_one_client_the_win_and_others_z);
    tcase_add_test(tc, test_cmd_md_i_marks_stale_then_one_reader_wins);
    tcase_add_test(tc, test_cmd_ms_i_with_an_older_cas_stores_a_stale_value);
    tcase_add_test(tc, test_cmd_mg_r_wins_when_the_ttl_left_is_below_the_threshold);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cmd_meta_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
