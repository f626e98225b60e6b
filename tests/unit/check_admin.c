/* check_admin: the admin port's pure parts: latency buckets, the Prometheus
 * text of metrics and histograms, STAT lines, and URL key decoding. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admintext.h"
#include "admin/promtext.h"
#include "base/lathist.h"

/* A NUL-terminated copy of a buffer, for strstr. */
static char *text(const struct buf *b)
{
    char *s = malloc(b->len + 1);

    ck_assert_ptr_nonnull(s);
    memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    return s;
}

START_TEST(test_lat_bucket_bounds_are_powers_of_two_microseconds)
{
    ck_assert_uint_eq(lat_bound_ns(0), 8000);
    ck_assert_uint_eq(lat_bound_ns(1), 16000);
    ck_assert_uint_eq(lat_bound_ns(LAT_BUCKETS - 1), (1ull << 20) * 1000);
    /* about 10 us to about 1 s, log-spaced */
    ck_assert(lat_bound_ns(0) <= 10000);
    ck_assert(lat_bound_ns(LAT_BUCKETS - 1) >= 1000000000ull);
}
END_TEST

START_TEST(test_lat_bucket_is_the_first_bound_not_below_the_duration)
{
    ck_assert_uint_eq(lat_bucket(0), 0);
    ck_assert_uint_eq(lat_bucket(1), 0);
    ck_assert_uint_eq(lat_bucket(8000), 0);
    ck_assert_uint_eq(lat_bucket(8001), 1);
    ck_assert_uint_eq(lat_bucket(16000), 1);
    ck_assert_uint_eq(lat_bucket(16001), 2);
    ck_assert_uint_eq(lat_bucket((1ull << 20) * 1000), LAT_BUCKETS - 1);
    ck_assert_uint_eq(lat_bucket((1ull << 20) * 1000 + 1), LAT_BUCKETS);
    ck_assert_uint_eq(lat_bucket(UINT64_MAX / 2), LAT_BUCKETS);
    /* exhaustively against the definition, over a log sweep */
    for (uint64_t ns = 1; ns < 4000000000ull; ns = ns * 3 / 2 + 1) {
        unsigned b = lat_bucket(ns);
        if (b < LAT_BUCKETS)
            ck_assert(ns <= lat_bound_ns(b));
        else
            ck_assert(ns > lat_bound_ns(LAT_BUCKETS - 1));
        if (b > 0)
            ck_assert(ns > lat_bound_ns(b - 1));
    }
}
END_TEST

START_TEST(test_lat_classify_groups_commands_by_their_first_word)
{
    ck_assert_int_eq(lat_classify("get a b", 7), LAT_GET);
    ck_assert_int_eq(lat_classify("gats 10 k", 9), LAT_GET);
    ck_assert_int_eq(lat_classify("mg k v", 6), LAT_GET);
    ck_assert_int_eq(lat_classify("set k 0 0 1", 11), LAT_SET);
    ck_assert_int_eq(lat_classify("prepend k 0 0 1", 15), LAT_SET);
    ck_assert_int_eq(lat_classify("ms k 2", 6), LAT_SET);
    ck_assert_int_eq(lat_classify("delete k", 8), LAT_DELETE);
    ck_assert_int_eq(lat_classify("md k", 4), LAT_DELETE);
    ck_assert_int_eq(lat_classify("incr k 1", 8), LAT_ARITH);
    ck_assert_int_eq(lat_classify("ma k", 4), LAT_ARITH);
    ck_assert_int_eq(lat_classify("touch k 1", 9), LAT_TOUCH);
    ck_assert_int_eq(lat_classify("stats", 5), LAT_OTHER);
    ck_assert_int_eq(lat_classify("getx k", 6), LAT_OTHER);
    ck_assert_int_eq(lat_classify("", 0), LAT_OTHER);
    /* the length bounds the word, not a NUL */
    ck_assert_int_eq(lat_classify("gets", 3), LAT_GET);
}
END_TEST

START_TEST(test_lat_sum_adds_every_workers_counts)
{
    static struct lat_hist a, b, sum;
    const struct lat_hist *all[] = {&a, &b};

    lat_record(&a, LAT_GET, LAT_LOCAL, 5000);
    lat_record(&b, LAT_GET, LAT_LOCAL, 7000);
    lat_record(&b, LAT_SET, LAT_FORWARDED, 2000000000ull);
    lat_sum(all, 2, &sum);
    ck_assert_uint_eq(sum.cell[LAT_GET][LAT_LOCAL].count[0], 2);
    ck_assert_uint_eq(sum.cell[LAT_GET][LAT_LOCAL].sum_ns, 12000);
    ck_assert_uint_eq(sum.cell[LAT_SET][LAT_FORWARDED].count[LAT_BUCKETS], 1);
    ck_assert_uint_eq(sum.cell[LAT_SET][LAT_LOCAL].count[0], 0);
}
END_TEST

START_TEST(test_prom_histogram_is_cumulative_with_inf_sum_and_count)
{
    static struct lat_hist h;
    struct buf b;
    char *s;

    lat_record(&h, LAT_GET, LAT_FORWARDED, 1000);          /* bucket 0 */
    lat_record(&h, LAT_GET, LAT_FORWARDED, 20000);         /* bucket 2 */
    lat_record(&h, LAT_GET, LAT_FORWARDED, 3000000000ull); /* +Inf */
    buf_init(&b);
    prom_latency(&b, &h);
    s = text(&b);
    ck_assert_ptr_nonnull(
        strstr(s, "# TYPE meshcached_command_duration_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(s,
                                 "meshcached_command_duration_seconds_bucket{cmd=\"get\","
                                 "path=\"forwarded\",le=\"8e-06\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s,
                                 "meshcached_command_duration_seconds_bucket{cmd=\"get\","
                                 "path=\"forwarded\",le=\"1.6e-05\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s,
                                 "meshcached_command_duration_seconds_bucket{cmd=\"get\","
                                 "path=\"forwarded\",le=\"3.2e-05\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(s,
                                 "meshcached_command_duration_seconds_bucket{cmd=\"get\","
                                 "path=\"forwarded\",le=\"1.048576\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(s,
                                 "meshcached_command_duration_seconds_bucket{cmd=\"get\","
                                 "path=\"forwarded\",le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(s,
                                 "meshcached_command_duration_seconds_count{cmd=\"get\","
                                 "path=\"forwarded\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(s, "meshcached_command_duration_seconds_sum{cmd=\"get\","
                                    "path=\"forwarded\"} 3.000021\n"));
    /* every class and path appears, even without samples */
    ck_assert_ptr_nonnull(
        strstr(s, "meshcached_command_duration_seconds_count{cmd=\"touch\","
                  "path=\"local\"} 0\n"));
    free(s);
    buf_free(&b);
}
END_TEST

START_TEST(test_prom_stat_metric_names_counters_gauges_and_units)
{
    char name[PROM_NAME_MAX];
    double scale;

    ck_assert_int_eq(prom_stat_metric("cmd_get", 7, name, &scale), PROM_COUNTER);
    ck_assert_str_eq(name, "meshcached_cmd_get_total");
    ck_assert_int_eq(prom_stat_metric("curr_items", 10, name, &scale), PROM_GAUGE);
    ck_assert_str_eq(name, "meshcached_current_items");
    ck_assert_int_eq(prom_stat_metric("bytes_read", 10, name, &scale), PROM_COUNTER);
    ck_assert_str_eq(name, "meshcached_read_bytes_total");
    ck_assert_int_eq(prom_stat_metric("peer_timeout_ms", 15, name, &scale), PROM_GAUGE);
    ck_assert_str_eq(name, "meshcached_peer_timeout_seconds");
    ck_assert(fabs(scale - 0.001) < 1e-12);
    ck_assert_int_eq(prom_stat_metric("uptime", 6, name, &scale), PROM_GAUGE);
    ck_assert_str_eq(name, "meshcached_uptime_seconds");
    ck_assert_int_eq(prom_stat_metric("version", 7, name, &scale), PROM_SKIP);
    ck_assert_int_eq(prom_stat_metric("member:node-a", 13, name, &scale), PROM_SKIP);
    /* an unknown field is a counter, its name made valid */
    ck_assert_int_eq(prom_stat_metric("new-thing.x", 11, name, &scale), PROM_COUNTER);
    ck_assert_str_eq(name, "meshcached_new_thing_x_total");
    ck_assert(prom_name_valid(name));
    /* the name is bounded by the stat's length, not a NUL */
    ck_assert_int_eq(prom_stat_metric("bytesXX", 5, name, &scale), PROM_GAUGE);
    ck_assert_str_eq(name, "meshcached_current_bytes");
}
END_TEST

START_TEST(test_prom_name_valid_follows_the_data_model)
{
    ck_assert(prom_name_valid("meshcached_cmd_get_total"));
    ck_assert(prom_name_valid("a:b_c9"));
    ck_assert(!prom_name_valid(""));
    ck_assert(!prom_name_valid("9abc"));
    ck_assert(!prom_name_valid("a-b"));
    ck_assert(!prom_name_valid("a b"));
}
END_TEST

START_TEST(test_prom_stats_renders_numbers_once_and_skips_text)
{
    static const char stats[] = "STAT pid 12\r\nSTAT version 1.6\r\nSTAT cmd_get 5\r\n"
                                "STAT rusage_user 1.500000\r\nSTAT curr_items 3\r\n"
                                "STAT member:a alive 1.2.3.4:5 2\r\nEND\r\n";
    static const char again[] = "STAT cmd_get 9\r\nSTAT ring_share 0.2500\r\n";
    char seen[16][PROM_NAME_MAX];
    struct buf b;
    size_t n;
    char *s;

    buf_init(&b);
    n = prom_stats(&b, stats, sizeof(stats) - 1, seen, 0, 16);
    ck_assert_uint_eq(n, 3);
    n = prom_stats(&b, again, sizeof(again) - 1, seen, n, 16);
    ck_assert_uint_eq(n, 4);
    s = text(&b);
    ck_assert_ptr_nonnull(strstr(s, "# TYPE meshcached_cmd_get_total counter\n"
                                    "meshcached_cmd_get_total 5\n"));
    ck_assert_ptr_null(strstr(s, "meshcached_cmd_get_total 9"));
    ck_assert_ptr_nonnull(strstr(s, "meshcached_cpu_user_seconds_total 1.5\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE meshcached_current_items gauge\n"));
    ck_assert_ptr_nonnull(strstr(s, "meshcached_ring_share_ratio 0.25\n"));
    ck_assert_ptr_null(strstr(s, "pid"));
    ck_assert_ptr_null(strstr(s, "version"));
    ck_assert_ptr_null(strstr(s, "member"));
    free(s);
    buf_free(&b);
}
END_TEST

START_TEST(test_prom_label_escapes_quotes_backslashes_and_newlines)
{
    struct buf b;
    char *s;

    buf_init(&b);
    prom_label(&b, true, "node", "a\"b\\c\nd");
    prom_label(&b, false, "x", "");
    s = text(&b);
    ck_assert_str_eq(s, "node=\"a\\\"b\\\\c\\nd\",x=\"\"");
    free(s);
    buf_free(&b);
}
END_TEST

START_TEST(test_prom_sample_prints_integers_exactly_and_specials)
{
    struct buf b;
    char *s;

    buf_init(&b);
    prom_sample(&b, "m", NULL, 12345678901234.0);
    prom_sample(&b, "m", "a=\"1\"", 0.5);
    prom_sample(&b, "m", "", INFINITY);
    prom_sample(&b, "m", NULL, NAN);
    prom_sample_u64(&b, "m", NULL, UINT64_MAX);
    s = text(&b);
    ck_assert_str_eq(s, "m 12345678901234\nm{a=\"1\"} 0.5\nm +Inf\nm NaN\n"
                        "m 18446744073709551615\n");
    free(s);
    buf_free(&b);
}
END_TEST

START_TEST(test_admintext_pct_decode_decodes_and_refuses_bad_escapes)
{
    char out[64];

    ck_assert_int_eq(admintext_pct_decode("a%20b", 5, out), 3);
    ck_assert_mem_eq(out, "a b", 3);
    ck_assert_int_eq(admintext_pct_decode("%2F%2f%00x", 10, out), 4);
    ck_assert_mem_eq(out, "//\0x", 4);
    ck_assert_int_eq(admintext_pct_decode("a+b", 3, out), 3);
    ck_assert_mem_eq(out, "a+b", 3);
    ck_assert_int_eq(admintext_pct_decode("%", 1, out), -1);
    ck_assert_int_eq(admintext_pct_decode("%4", 2, out), -1);
    ck_assert_int_eq(admintext_pct_decode("%zz", 3, out), -1);
    ck_assert_int_eq(admintext_pct_decode("ab%4g", 5, out), -1);
    ck_assert_int_eq(admintext_pct_decode("", 0, out), 0);
    /* in place */
    strcpy(out, "k%C3%A9y");
    ck_assert_int_eq(admintext_pct_decode(out, 8, out), 4);
    ck_assert_mem_eq(out, "k\xc3\xa9y", 4);
}
END_TEST

START_TEST(test_admintext_stats_walks_stat_lines_up_to_end)
{
    static const char t[] = "STAT a 1\r\nnoise\r\nSTAT member:x alive h:1 3\r\nSTAT b\r\n"
                            "END\r\nSTAT c 3\r\n";
    uint64_t v;

    ck_assert(admintext_stat_u64(t, sizeof(t) - 1, "a", &v));
    ck_assert_uint_eq(v, 1);
    ck_assert(!admintext_stat_u64(t, sizeof(t) - 1, "member:x", &v)); /* not a number */
    ck_assert(!admintext_stat_u64(t, sizeof(t) - 1, "b", &v));        /* no value */
    ck_assert(!admintext_stat_u64(t, sizeof(t) - 1, "c", &v));        /* after END */
    ck_assert(!admintext_stat_u64(t, 4, "a", &v));                    /* cut short */
}
END_TEST

START_TEST(test_admintext_metadump_parses_memcacheds_line)
{
    static const char l[] =
        "key=a%20b exp=-1 la=1700000000 cas=42 fetch=no cls=1 size=70";
    static const char l2[] = "key=k exp=1700000100 la=1 cas=7 fetch=yes cls=1 size=9";
    struct admintext_meta m;

    ck_assert(admintext_metadump(l, sizeof(l) - 1, &m));
    ck_assert_uint_eq(m.nkey, 3);
    ck_assert_mem_eq(m.key, "a b", 3);
    ck_assert_int_eq(m.exp, -1);
    ck_assert_uint_eq(m.cas, 42);
    ck_assert_uint_eq(m.size, 70);
    ck_assert(admintext_metadump(l2, sizeof(l2) - 1, &m));
    ck_assert_int_eq(m.exp, 1700000100);
    ck_assert(!admintext_metadump("END", 3, &m));
    ck_assert(!admintext_metadump("key= exp=1 cas=1 size=1", 23, &m));
    ck_assert(!admintext_metadump("key=%zz exp=1 cas=1 size=1", 26, &m));
    ck_assert(!admintext_metadump("key=a exp=x cas=1 size=1", 24, &m));
}
END_TEST

static Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("lathist");

    tcase_add_test(tc, test_lat_bucket_bounds_are_powers_of_two_microseconds);
    tcase_add_test(tc, test_lat_bucket_is_the_first_bound_not_below_the_duration);
    tcase_add_test(tc, test_lat_classify_groups_commands_by_their_first_word);
    tcase_add_test(tc, test_lat_sum_adds_every_workers_counts);
    suite_add_tcase(s, tc);

    tc = tcase_create("promtext");
    tcase_add_test(tc, test_prom_histogram_is_cumulative_with_inf_sum_and_count);
    tcase_add_test(tc, test_prom_stat_metric_names_counters_gauges_and_units);
    tcase_add_test(tc, test_prom_name_valid_follows_the_data_model);
    tcase_add_test(tc, test_prom_stats_renders_numbers_once_and_skips_text);
    tcase_add_test(tc, test_prom_label_escapes_quotes_backslashes_and_newlines);
    tcase_add_test(tc, test_prom_sample_prints_integers_exactly_and_specials);
    suite_add_tcase(s, tc);

    tc = tcase_create("admintext");
    tcase_add_test(tc, test_admintext_pct_decode_decodes_and_refuses_bad_escapes);
    tcase_add_test(tc, test_admintext_stats_walks_stat_lines_up_to_end);
    tcase_add_test(tc, test_admintext_metadump_parses_memcacheds_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(admin_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
