/* check_settings_repl: the replication flags: the replica count, the write
 * and read quorums and --consistency, and the -o items for tombstones, read
 * repair and hinted handoff. A single node accepts them all. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "base/settings.h"

#include "settings_fixture.h"

/* ---- replication flags ---- */

/* The command line is accepted with write quorum w and read quorum rd; a
 * macro, so that a failure names the caller's line. */
#define PARSES_WITH_QUORUMS(w, rd, ...)                                                  \
    do {                                                                                 \
        ck_assert_int_eq(PARSE(__VA_ARGS__), 0);                                         \
        ck_assert_uint_eq(r.s.write_quorum, (w));                                        \
        ck_assert_uint_eq(r.s.read_quorum, (rd));                                        \
    } while (0)

START_TEST(test_settings_replication_defaults_to_two_copies_written_to_both_read_from_one)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert_uint_eq(s.replicas, 2);
    ck_assert_uint_eq(s.write_quorum, 2);
    ck_assert_uint_eq(s.read_quorum, 1);
    ck_assert_uint_eq(s.tombstone_ttl, 600);
    ck_assert_double_eq(s.read_repair_chance, 0.1);
    ck_assert_uint_eq(s.hints_max, 65536);
    PARSES_WITH_QUORUMS(2, 1, "-p", "2000");
    ck_assert_uint_eq(r.s.replicas, 2);
}
END_TEST

/* The flags only take effect in a cluster, but a single node accepts them so
 * that every node can be started with the same command line. */
START_TEST(test_settings_replication_flags_are_accepted_on_a_single_node)
{
    ck_assert_int_eq(PARSE("--replicas=3", "--write-quorum=2", "--read-quorum=2", "-o",
                           "tombstone_ttl=60,read_repair_chance=0.5,hints_max=10"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(r.s.npeers, 0);
    ck_assert(!r.s.gossip);
    ck_assert_uint_eq(r.s.replicas, 3);
    ck_assert_uint_eq(r.s.write_quorum, 2);
    ck_assert_uint_eq(r.s.read_quorum, 2);
    ck_assert_uint_eq(r.s.tombstone_ttl, 60);
    ck_assert_double_eq(r.s.read_repair_chance, 0.5);
    ck_assert_uint_eq(r.s.hints_max, 10);
}
END_TEST

START_TEST(test_settings_replicas_and_quorums_take_1_to_16)
{
    PARSES_WITH_QUORUMS(16, 16, "--replicas=16", "--write-quorum=16", "--read-quorum",
                        "16");
    ck_assert_uint_eq(r.s.replicas, SETTINGS_MAX_REPLICAS);
    PARSES_WITH_QUORUMS(1, 1, "--replicas", "1", "--write-quorum=1", "--read-quorum=1");
    ck_assert_uint_eq(r.s.replicas, 1);
    ck_assert_int_eq(PARSE("--replicas=5", "--replicas=3"), 0);
    ck_assert_uint_eq(r.s.replicas, 3);
}
END_TEST

/* W defaults to 2, which one copy cannot satisfy: not given, it follows N. */
START_TEST(test_settings_replicas_1_alone_lowers_the_default_write_quorum_to_1)
{
    PARSES_WITH_QUORUMS(1, 1, "--replicas=1");
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(r.s.replicas, 1);
    /* and it is not raised with N */
    PARSES_WITH_QUORUMS(2, 1, "--replicas=5");
}
END_TEST

START_TEST(test_settings_consistency_sets_both_quorums_from_the_replica_count)
{
    PARSES_WITH_QUORUMS(1, 1, "--replicas=3", "--consistency=one");
    PARSES_WITH_QUORUMS(2, 2, "--replicas=3", "--consistency=quorum");
    PARSES_WITH_QUORUMS(3, 3, "--replicas=3", "--consistency", "all");
    /* a majority of 2 is both */
    PARSES_WITH_QUORUMS(2, 2, "--consistency=quorum");
    PARSES_WITH_QUORUMS(3, 3, "--replicas=4", "--consistency=quorum");
    /* N is read once every flag is: --replicas may come after */
    PARSES_WITH_QUORUMS(5, 5, "--consistency=all", "--replicas=5");
    /* the last --consistency counts */
    PARSES_WITH_QUORUMS(1, 1, "--replicas=3", "--consistency=all", "--consistency=one");
}
END_TEST

START_TEST(test_settings_an_explicit_quorum_beats_consistency_in_either_order)
{
    PARSES_WITH_QUORUMS(1, 3, "--replicas=3", "--write-quorum=1", "--consistency=all");
    PARSES_WITH_QUORUMS(1, 3, "--replicas=3", "--consistency=all", "--write-quorum=1");
    PARSES_WITH_QUORUMS(1, 3, "--read-quorum=3", "--consistency=one", "--replicas=3");
    PARSES_WITH_QUORUMS(1, 3, "--consistency=one", "--replicas=3", "--read-quorum=3");
}
END_TEST

/* Checked once every flag is read, so the order does not matter; the
 * default W is lowered instead (see above), a given one never is. */
START_TEST(test_settings_refuses_a_quorum_larger_than_the_replica_count)
{
    PARSE("--write-quorum=3");
    assert_refused("--write-quorum=3");
    ck_assert_str_eq(r.err, "meshcached: --write-quorum 3 is larger than --replicas 2\n");
    PARSE("--read-quorum=3");
    assert_refused("--read-quorum=3");
    ck_assert_str_eq(r.err, "meshcached: --read-quorum 3 is larger than --replicas 2\n");
    PARSE("--write-quorum=4", "--replicas=3");
    assert_refused("--write-quorum=4 --replicas=3");
    ck_assert_str_eq(r.err, "meshcached: --write-quorum 4 is larger than --replicas 3\n");
    PARSE("--replicas=1", "--write-quorum=2");
    assert_refused("--replicas=1 --write-quorum=2");
    PARSE("--replicas=5", "--read-quorum=6", "--consistency=one");
    assert_refused("--replicas=5 --read-quorum=6 --consistency=one");
    /* a later --replicas counts, not the one before the quorum */
    PARSE("--replicas=3", "--write-quorum=3", "--replicas=2");
    assert_refused("--replicas=3 --write-quorum=3 --replicas=2");
    ck_assert_int_eq(PARSE("--write-quorum=3", "--read-quorum=3", "--replicas=3"), 0);
}
END_TEST

START_TEST(test_settings_refuses_replica_and_quorum_counts_outside_1_to_16)
{
    static const char *const flags[] = {"--replicas", "--write-quorum", "--read-quorum"};
    static const char *const bad[] = {
        "0", "17", "-1", "x", "", "2 ", "+2", "1.5", "99999999999999999999"};

    for (size_t f = 0; f < ARRAY_LEN(flags); f++)
        assert_flag_refuses(flags[f], bad, ARRAY_LEN(bad));
    PARSE("--replicas=0");
    ck_assert_str_eq(r.err, "meshcached: invalid value '0' for option --replicas "
                            "(see --help)\n");
}
END_TEST

START_TEST(test_settings_refuses_unknown_consistency_levels)
{
    static const char *const bad[] = {"",        "two",  "ONE", "Quorum",
                                      "quorum ", " all", "2",   "majority"};

    assert_flag_refuses("--consistency", bad, ARRAY_LEN(bad));
    PARSE("--consistency=most");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'most' for option --consistency "
                            "(see --help)\n");
}
END_TEST

START_TEST(test_settings_read_repair_chance_takes_a_fraction_from_0_to_1)
{
    static const struct {
        const char *item;
        double want;
    } ok[] = {{"read_repair_chance=0", 0},
              {"read_repair_chance=1", 1},
              {"read_repair_chance=1.0", 1},
              {"read_repair_chance=0.25", 0.25},
              {"read_repair_chance=.5", 0.5}};

    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        ck_assert_msg(PARSE("-o", ok[i].item) == 0, "-o %s refused: %s", ok[i].item,
                      r.err);
        ck_assert_double_eq(r.s.read_repair_chance, ok[i].want);
        ck_assert_str_eq(r.err, "");
    }
}
END_TEST

START_TEST(test_settings_refuses_read_repair_chances_outside_0_to_1_or_not_numbers)
{
    static const char *const bad[] = {
        "read_repair_chance=1.5",   "read_repair_chance=-0.1",
        "read_repair_chance=nan",   "read_repair_chance=abc",
        "read_repair_chance=inf",   "read_repair_chance=",
        "read_repair_chance",       "read_repair_chance=.",
        "read_repair_chance=1.0.0", "read_repair_chance=1e-1",
        "read_repair_chance=0x0p",  "read_repair_chance= 0.5",
        "read_repair_chance=0.5x",  "read_repair_chance=+0.5",
        "read_repair_chance=1.0001"};

    assert_o_refuses("read_repair_chance", bad, ARRAY_LEN(bad),
                     "meshcached: -o read_repair_chance needs a fraction from 0 to 1\n");
}
END_TEST

START_TEST(test_settings_tombstone_ttl_takes_1_to_2592000_seconds)
{
    static const char *const bad[] = {"tombstone_ttl=0", "tombstone_ttl=2592001",
                                      "tombstone_ttl=",  "tombstone_ttl",
                                      "tombstone_ttl=x", "tombstone_ttl=-1"};

    assert_o_takes_bounds("tombstone_ttl", &r.s.tombstone_ttl, 1, 2592000);
    assert_o_refuses("tombstone_ttl", bad, ARRAY_LEN(bad),
                     "meshcached: -o tombstone_ttl needs a number of seconds from 1 to "
                     "2592000\n");
}
END_TEST

/* 0 turns hinted handoff off; it is not refused like the other zeros. */
START_TEST(test_settings_hints_max_takes_0_to_16777216)
{
    static const char *const bad[] = {"hints_max=16777217", "hints_max=", "hints_max",
                                      "hints_max=-1", "hints_max=1k"};

    assert_o_takes_bounds("hints_max", &r.s.hints_max, 0, 16777216);
    assert_o_refuses("hints_max", bad, ARRAY_LEN(bad),
                     "meshcached: -o hints_max needs a number from 0 to 16777216\n");
}
END_TEST

START_TEST(test_settings_help_lists_the_replication_flags)
{
    static const char *const entries[] = {
        "--replicas=<num>",      "--write-quorum=<num>",    "--read-quorum=<num>",
        "--consistency=<level>", "tombstone_ttl=<seconds>", "read_repair_chance=<0..1>",
        "hints_max=<num>"};

    assert_help_lists(entries, ARRAY_LEN(entries));
}
END_TEST

static Suite *settings_repl_suite(void)
{
    Suite *s = suite_create("settings_repl");
    TCase *tc = tcase_create("replication");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(
        tc,
        test_settings_replication_defaults_to_two_copies_written_to_both_read_from_one);
    tcase_add_test(tc, test_settings_replication_flags_are_accepted_on_a_single_node);
    tcase_add_test(tc, test_settings_replicas_and_quorums_take_1_to_16);
    tcase_add_test(tc,
                   test_settings_replicas_1_alone_lowers_the_default_write_quorum_to_1);
    tcase_add_test(tc,
                   test_settings_consistency_sets_both_quorums_from_the_replica_count);
    tcase_add_test(tc,
                   test_settings_an_explicit_quorum_beats_consistency_in_either_order);
    tcase_add_test(tc, test_settings_refuses_a_quorum_larger_than_the_replica_count);
    tcase_add_test(tc, test_settings_refuses_replica_and_quorum_counts_outside_1_to_16);
    tcase_add_test(tc, test_settings_refuses_unknown_consistency_levels);
    tcase_add_test(tc, test_settings_read_repair_chance_takes_a_fraction_from_0_to_1);
    tcase_add_test(
        tc, test_settings_refuses_read_repair_chances_outside_0_to_1_or_not_numbers);
    tcase_add_test(tc, test_settings_tombstone_ttl_takes_1_to_2592000_seconds);
    tcase_add_test(tc, test_settings_hints_max_takes_0_to_16777216);
    tcase_add_test(tc, test_settings_help_lists_the_replication_flags);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(settings_repl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
