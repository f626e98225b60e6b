/* check_repl: quorum arithmetic (the wire format replicas exchange is
 * check_replmsg's). */
#include <check.h>
#include <stdlib.h>

#include "cluster/repl.h"

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

static Suite *repl_suite(void)
{
    Suite *s = suite_create("repl");
    TCase *tc = tcase_create("quorum");

    tcase_add_test(tc, test_repl_quorum_is_met_once_enough_owners_acknowledged);
    tcase_add_test(tc, test_repl_quorum_fails_as_soon_as_it_cannot_be_reached);
    tcase_add_test(tc, test_repl_quorum_of_every_small_case_agrees_with_counting);
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
