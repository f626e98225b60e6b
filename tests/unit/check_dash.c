/* check_dash: the dashboard's pure parts: the history ring (rates,
 * quantiles, resets, wrap-around, since) and log lines into SSE events. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "admin/history.h"
#include "admin/sse.h"

static struct history *hist_new(void)
{
    struct history *h = malloc(sizeof(*h));

    ck_assert_ptr_nonnull(h);
    history_init(h);
    return h;
}

START_TEST(test_quantile_interpolates_inside_the_bucket)
{
    uint64_t c[LAT_BUCKETS + 1] = {0};

    ck_assert(isnan(history_quantile_us(c, 0.5)));
    c[0] = 100; /* 0..8 us */
    ck_assert(fabs(history_quantile_us(c, 0.5) - 4.0) < 1e-9);
    ck_assert(fabs(history_quantile_us(c, 1.0) - 8.0) < 1e-9);
    c[2] = 100; /* 16..32 us: the upper half */
    ck_assert(fabs(history_quantile_us(c, 0.5) - 8.0) < 1e-9);
    ck_assert(fabs(history_quantile_us(c, 0.75) - 24.0) < 1e-9);
    ck_assert(fabs(history_quantile_us(c, 0.99) - 31.68) < 1e-9);
}
END_TEST

START_TEST(test_quantile_in_the_inf_bucket_reports_the_last_bound)
{
    uint64_t c[LAT_BUCKETS + 1] = {0};

    c[LAT_BUCKETS] = 3;
    ck_assert(fabs(history_quantile_us(c, 0.99) -
                   (double)lat_bound_ns(LAT_BUCKETS - 1) / 1000.0) < 1e-9);
}
END_TEST

START_TEST(test_history_rates_over_the_elapsed_time)
{
    struct history *h = hist_new();
    struct history_input in = {0};
    const struct history_sample *s;

    ck_assert_ptr_null(history_add(h, &in, 1000, 5000)); /* the first: nothing to rate */
    ck_assert_uint_eq(h->n, 0);
    in.hits = 300;
    in.misses = 100;
    in.evictions = 40;
    in.lat[1] = 1000; /* 8..16 us */
    in.mem_used = 12345;
    s = history_add(h, &in, 3000, 7000); /* 2 s later */
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->t_ms, 7000);
    ck_assert(fabs(s->ops - 500.0) < 1e-9);
    ck_assert(fabs(s->hit_ratio - 0.75) < 1e-9);
    ck_assert(fabs(s->evictions - 20.0) < 1e-9);
    ck_assert(fabs(s->p50_us - 12.0) < 1e-9);
    ck_assert_uint_eq(s->mem_used, 12345);
    /* nothing happened: no ratio, no quantiles, zero rates */
    s = history_add(h, &in, 4000, 8000);
    ck_assert(s->ops == 0.0 && isnan(s->hit_ratio) && isnan(s->p99_us));
    /* a clock that did not move, or a late timer's early next tick, adds
     * nothing: the next sample covers that interval */
    ck_assert_ptr_null(history_add(h, &in, 4000, 8000));
    in.lat[1] += 300;
    ck_assert_ptr_null(history_add(h, &in, 4400, 8400));
    ck_assert_uint_eq(h->n, 2);
    s = history_add(h, &in, 5000, 9000);
    ck_assert(fabs(s->ops - 300.0) < 1e-9);
    ck_assert_uint_eq(h->n, 3);
    free(h);
}
END_TEST

START_TEST(test_history_counter_reset_is_not_negative)
{
    struct history *h = hist_new();
    struct history_input in = {0};
    const struct history_sample *s;

    in.hits = 1000;
    in.lat[0] = 1000;
    history_add(h, &in, 0, 0);
    in.hits = 10; /* stats reset, then 10 more */
    in.lat[0] = 10;
    s = history_add(h, &in, 1000, 1000);
    ck_assert(fabs(s->ops - 10.0) < 1e-9);
    ck_assert(fabs(s->hit_ratio - 1.0) < 1e-9);
    free(h);
}
END_TEST

START_TEST(test_history_keeps_the_last_hour_in_order)
{
    struct history *h = hist_new();
    struct history_input in = {0};
    size_t first, n;

    for (int64_t i = 0; i <= HISTORY_LEN + 10; i++) {
        in.lat[0] = (uint64_t)i * 7;
        history_add(h, &in, i * 1000, 1000000 + i * 1000);
    }
    ck_assert_uint_eq(h->n, HISTORY_LEN);
    /* the oldest kept is the 11th + 1 (sample i ends at second i) */
    ck_assert_int_eq(history_at(h, 0)->t_ms, 1000000 + 11 * 1000);
    ck_assert_int_eq(history_at(h, HISTORY_LEN - 1)->t_ms,
                     1000000 + (HISTORY_LEN + 10) * 1000);
    for (size_t i = 1; i < h->n; i++)
        ck_assert_int_lt(history_at(h, i - 1)->t_ms, history_at(h, i)->t_ms);
    n = history_since(h, INT64_MIN, &first);
    ck_assert_uint_eq(n, HISTORY_LEN);
    ck_assert_uint_eq(first, 0);
    n = history_since(h, 1000000 + (HISTORY_LEN + 8) * 1000, &first);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(history_at(h, first)->t_ms, 1000000 + (HISTORY_LEN + 9) * 1000);
    n = history_since(h, 1000000 + (HISTORY_LEN + 8) * 1000 + 500, &first); /* between */
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(history_since(h, INT64_MAX, &first), 0);
    free(h);
}
END_TEST

static json_t *event(const char *line, bool keys, const char **type)
{
    return sse_line_event(line, strlen(line), keys, type);
}

START_TEST(test_sse_eviction_line_keeps_the_key_only_with_keys)
{
    const char *line = "ts=1700000000.000123 gid=7 type=eviction key=a%20b fetch=no "
                       "ttl=-1 la=3 clsid=1 size=100";
    const char *type;
    json_t *e = event(line, true, &type);

    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(type, "eviction");
    ck_assert_str_eq(json_string_value(json_object_get(e, "key")), "a%20b");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "ttl")), -1);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "size")), 100);
    ck_assert(fabs(json_real_value(json_object_get(e, "ts")) - 1700000000.000123) < 1e-6);
    ck_assert_str_eq(json_string_value(json_object_get(e, "fetch")), "no");
    json_decref(e);
    e = event(line, false, &type);
    ck_assert_ptr_null(json_object_get(e, "key"));
    ck_assert_int_eq(json_integer_value(json_object_get(e, "gid")), 7);
    json_decref(e);
}
END_TEST

START_TEST(test_sse_member_repair_and_skipped_lines)
{
    const char *type;
    json_t *e = event("ts=1.5 gid=1 type=member id=node-b addr=127.0.0.3:1 state=dead "
                      "incarnation=0",
                      false, &type);

    ck_assert_str_eq(type, "member");
    ck_assert_str_eq(json_string_value(json_object_get(e, "state")), "dead");
    ck_assert_str_eq(json_string_value(json_object_get(e, "addr")), "127.0.0.3:1");
    json_decref(e);
    e = event("ts=1.5 gid=2 type=repair key=k version=99 stale=1 taken=no", false, &type);
    ck_assert_str_eq(type, "repair");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "stale")), 1);
    json_decref(e);
    e = event("skipped=12", false, &type);
    ck_assert_str_eq(type, "skipped");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "skipped")), 12);
    json_decref(e);
}
END_TEST

START_TEST(test_sse_garbage_lines_give_no_event_or_strings)
{
    const char *type = "x";
    json_t *e;

    ck_assert_ptr_null(event("", false, &type));
    ck_assert_ptr_null(type);
    ck_assert_ptr_null(event("no fields here", false, &type));
    ck_assert_ptr_null(event("=x ==y type", false, &type));
    /* an unknown type still streams, as "log"; odd values stay strings */
    e = event("type=weird a=1.2.3 b=-- c=\xff d=99999999999999999999", false, &type);
    ck_assert_str_eq(type, "log");
    ck_assert(json_is_string(json_object_get(e, "a")));
    ck_assert(json_is_string(json_object_get(e, "b")));
    ck_assert_ptr_null(json_object_get(e, "c")); /* not UTF-8: left out */
    ck_assert(json_is_string(json_object_get(e, "d")));
    json_decref(e);
}
END_TEST

static Suite *dash_suite(void)
{
    Suite *s = suite_create("dash");
    TCase *tc = tcase_create("history");

    tcase_add_test(tc, test_quantile_interpolates_inside_the_bucket);
    tcase_add_test(tc, test_quantile_in_the_inf_bucket_reports_the_last_bound);
    tcase_add_test(tc, test_history_rates_over_the_elapsed_time);
    tcase_add_test(tc, test_history_counter_reset_is_not_negative);
    tcase_add_test(tc, test_history_keeps_the_last_hour_in_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("sse");
    tcase_add_test(tc, test_sse_eviction_line_keeps_the_key_only_with_keys);
    tcase_add_test(tc, test_sse_member_repair_and_skipped_lines);
    tcase_add_test(tc, test_sse_garbage_lines_give_no_event_or_strings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dash_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
