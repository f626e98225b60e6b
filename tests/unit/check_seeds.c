/* check_seeds: --join entries resolved to every address, each once; what
 * does not resolve stays as written. Uses numeric addresses and the hosts
 * file's localhost only (no DNS). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/seeds.h"

START_TEST(test_seeds_numeric_entries_stay_as_they_are)
{
    const char *in[] = {"127.0.0.1:7000", "[::1]:7001", "10.1.2.3:1"};
    seeds_addr out[SEEDS_MAX];

    ck_assert_uint_eq(seeds_expand(in, 3, out, SEEDS_MAX), 3);
    ck_assert_str_eq(out[0], "127.0.0.1:7000");
    ck_assert_str_eq(out[1], "[::1]:7001");
    ck_assert_str_eq(out[2], "10.1.2.3:1");
}
END_TEST

START_TEST(test_seeds_an_address_listed_twice_is_kept_once)
{
    const char *in[] = {"127.0.0.1:7000", "127.0.0.1:7000", "127.0.0.1:7001"};
    seeds_addr out[SEEDS_MAX];

    ck_assert_uint_eq(seeds_expand(in, 3, out, SEEDS_MAX), 2);
    ck_assert_str_eq(out[1], "127.0.0.1:7001");
}
END_TEST

START_TEST(test_seeds_a_name_becomes_its_addresses)
{
    const char *in[] = {"localhost:7000"};
    seeds_addr out[SEEDS_MAX];
    size_t n = seeds_expand(in, 1, out, SEEDS_MAX);
    bool v4 = false;

    ck_assert_uint_ge(n, 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert(strcmp(out[i], "localhost:7000") != 0);
        v4 |= strcmp(out[i], "127.0.0.1:7000") == 0;
    }
    ck_assert(v4);
}
END_TEST

START_TEST(test_seeds_a_malformed_entry_stays_as_written)
{
    const char *in[] = {"no-port", "[::1]7000", "127.0.0.1:"};
    seeds_addr out[SEEDS_MAX];

    ck_assert_uint_eq(seeds_expand(in, 3, out, SEEDS_MAX), 3);
    ck_assert_str_eq(out[0], "no-port");
    ck_assert_str_eq(out[1], "[::1]7000");
    ck_assert_str_eq(out[2], "127.0.0.1:");
}
END_TEST

START_TEST(test_seeds_stop_at_the_capacity)
{
    const char *in[] = {"127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1"};
    seeds_addr out[2];

    ck_assert_uint_eq(seeds_expand(in, 3, out, 2), 2);
    ck_assert_str_eq(out[1], "127.0.0.2:1");
}
END_TEST

START_TEST(test_seeds_numeric_tells_addresses_from_names)
{
    ck_assert(seeds_numeric("127.0.0.1:7000"));
    ck_assert(seeds_numeric("[fe80::1]:7000"));
    ck_assert(!seeds_numeric("members.example:7000"));
    ck_assert(!seeds_numeric("localhost:7000"));
    ck_assert(!seeds_numeric("garbage"));
}
END_TEST

static Suite *seeds_suite(void)
{
    Suite *s = suite_create("seeds");
    TCase *tc = tcase_create("expand");

    tcase_add_test(tc, test_seeds_numeric_entries_stay_as_they_are);
    tcase_add_test(tc, test_seeds_an_address_listed_twice_is_kept_once);
    tcase_add_test(tc, test_seeds_a_name_becomes_its_addresses);
    tcase_add_test(tc, test_seeds_a_malformed_entry_stays_as_written);
    tcase_add_test(tc, test_seeds_stop_at_the_capacity);
    tcase_add_test(tc, test_seeds_numeric_tells_addresses_from_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seeds_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
