/* check_opcmd: the pure parts of the operator commands (cache_memlimit's
 * argument, lru_crawler's classes, watch's types, the URI encoding of keys
 * and the listing lines), and the two tables behind watch and stats detail
 * (logger, prefix). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/logger.h"
#include "base/prefix.h"
#include "base/util.h"
#include "proto/opcmd.h"

static enum opcmd_memlimit memlimit(const char *arg, uint64_t *bytes)
{
    return opcmd_parse_memlimit(arg, strlen(arg), bytes);
}

START_TEST(test_memlimit_takes_megabytes_from_8_to_a_billion)
{
    uint64_t b = 0;

    ck_assert_int_eq(memlimit("8", &b), OPCMD_MEMLIMIT_OK);
    ck_assert_uint_eq(b, 8ull << 20);
    ck_assert_int_eq(memlimit("1000000000", &b), OPCMD_MEMLIMIT_OK);
    ck_assert_uint_eq(b, 1000000000ull << 20);
}
END_TEST

START_TEST(test_memlimit_refuses_as_memcached_does)
{
    uint64_t b = 12345;

    ck_assert_int_eq(memlimit("7", &b), OPCMD_MEMLIMIT_TOO_SMALL);
    ck_assert_int_eq(memlimit("0", &b), OPCMD_MEMLIMIT_TOO_SMALL);
    ck_assert_int_eq(memlimit("1000000001", &b), OPCMD_MEMLIMIT_NOT_MEGABYTES);
    ck_assert_int_eq(memlimit("67108864", &b), OPCMD_MEMLIMIT_OK); /* 64 TB: megabytes */
    ck_assert_int_eq(memlimit("abc", &b), OPCMD_MEMLIMIT_NOT_A_NUMBER);
    ck_assert_int_eq(memlimit("-1", &b), OPCMD_MEMLIMIT_NOT_A_NUMBER);
    ck_assert_int_eq(memlimit("8.5", &b), OPCMD_MEMLIMIT_NOT_A_NUMBER);
    ck_assert_int_eq(memlimit("", &b), OPCMD_MEMLIMIT_NOT_A_NUMBER);
    /* memcached's safe_strtoul keeps the low 32 bits: 2^32 + 8 is 8 */
    ck_assert_int_eq(memlimit("4294967304", &b), OPCMD_MEMLIMIT_OK);
    ck_assert_uint_eq(b, 8ull << 20);
}
END_TEST

START_TEST(test_classes_all_hash_and_lists_of_1_to_63)
{
    bool c1 = false;

    ck_assert_int_eq(opcmd_parse_classes("all", &c1), 0);
    ck_assert(c1);
    ck_assert_int_eq(opcmd_parse_classes("hash", &c1), 0);
    ck_assert(c1);
    ck_assert_int_eq(opcmd_parse_classes("2,1", &c1), 0);
    ck_assert(c1);
    ck_assert_int_eq(opcmd_parse_classes("1,", &c1), 0);
    ck_assert(c1);
    ck_assert_int_eq(opcmd_parse_classes("63", &c1), 0);
    ck_assert(!c1);
    ck_assert_int_eq(opcmd_parse_classes("0", &c1), -1);
    ck_assert_int_eq(opcmd_parse_classes("64", &c1), -1);
    ck_assert_int_eq(opcmd_parse_classes("1,99", &c1), -1);
    ck_assert_int_eq(opcmd_parse_classes("x", &c1), -1);
}
END_TEST

START_TEST(test_watch_types_are_memcached_names)
{
    ck_assert_uint_eq(opcmd_watch_type("fetchers"), LOGGER_FETCHERS);
    ck_assert_uint_eq(opcmd_watch_type("mutations"), LOGGER_MUTATIONS);
    ck_assert_uint_eq(opcmd_watch_type("evictions"), LOGGER_EVICTIONS);
    ck_assert_uint_eq(opcmd_watch_type("connevents"), LOGGER_CONNEVENTS);
    ck_assert_uint_eq(opcmd_watch_type("deletions"), LOGGER_DELETIONS);
    ck_assert_uint_eq(opcmd_watch_type("rawcmds"), 0);
    ck_assert_uint_eq(opcmd_watch_type("Fetchers"), 0);
}
END_TEST

START_TEST(test_uri_encoding_keeps_unreserved_bytes_and_escapes_the_rest)
{
    char out[3 * 256];
    char all[256];
    size_t n;

    n = util_uri_encode("a%20b\x01~._-Z9", 12, out);
    ck_assert_mem_eq(out, "a%2520b%01~._-Z9", n);
    ck_assert_uint_eq(n, 16);
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    n = util_uri_encode(all, 256, out);
    /* 62 letters and digits and 4 marks stay, 190 bytes become %XX */
    ck_assert_uint_eq(n, 66 + 3 * 190);
    ck_assert_mem_eq(out, "%00%01", 6);
    ck_assert_mem_eq(out + n - 3, "%FF", 3);
}
END_TEST

START_TEST(test_metadump_line_is_memcacheds)
{
    char line[OPCMD_LINE_MAX];
    struct opcmd_item it = {.key = "a b",
                            .nkey = 3,
                            .exptime = 0,
                            .atime = 1700000000,
                            .cas = 42,
                            .fetched = true,
                            .size = 65,
                            .nvalue = 3};
    size_t n = opcmd_metadump_line(line, &it);

    ck_assert_str_eq(line,
                     "key=a%20b exp=-1 la=1700000000 cas=42 fetch=yes cls=1 size=65\n");
    ck_assert_uint_eq(n, strlen(line));
    it.exptime = 1700000100;
    it.fetched = false;
    opcmd_metadump_line(line, &it);
    ck_assert_str_eq(
        line, "key=a%20b exp=1700000100 la=1700000000 cas=42 fetch=no cls=1 size=65\n");
}
END_TEST

START_TEST(test_mgdump_and_cachedump_lines)
{
    char line[OPCMD_LINE_MAX];
    struct opcmd_item it = {.key = "foo", .nkey = 3, .exptime = 1700000100, .nvalue = 7};
    size_t n;

    n = opcmd_mgdump_line(line, &it);
    ck_assert_mem_eq(line, "mg foo\r\n", n);
    it.binary = true;
    n = opcmd_mgdump_line(line, &it);
    ck_assert_mem_eq(line, "mg Zm9v b\r\n", n);
    n = opcmd_cachedump_line(line, &it);
    ck_assert_mem_eq(line, "ITEM foo [7 b; 1700000100 s]\r\n", n);
}
END_TEST

/* ---- prefix (stats detail) ---- */

static char *dump(struct prefix_stats *ps, struct buf *b)
{
    buf_reset(b);
    prefix_dump(ps, b);
    buf_append(b, "", 1);
    return b->data;
}

START_TEST(test_prefix_counts_only_while_on_and_only_keys_with_a_delimiter)
{
    struct prefix_stats *ps;
    struct buf b;

    buf_init(&b);
    ck_assert_int_eq(prefix_new(':', &ps), 0);
    prefix_record(ps, "a:1", 3, PREFIX_SET, false);
    ck_assert_str_eq(dump(ps, &b), "END\r\n");
    prefix_enable(ps, true);
    prefix_record(ps, "a:1", 3, PREFIX_SET, false);
    prefix_record(ps, "a:b:c", 5, PREFIX_GET, true);
    prefix_record(ps, "a:2", 3, PREFIX_GET, false);
    prefix_record(ps, "a:2", 3, PREFIX_DEL, false);
    prefix_record(ps, "nodelim", 7, PREFIX_SET, false);
    prefix_record(ps, ":x", 2, PREFIX_SET, false);
    ck_assert_ptr_nonnull(strstr(dump(ps, &b), "PREFIX a get 2 hit 1 set 1 del 1\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "PREFIX  get 0 hit 0 set 1 del 0\r\n"));
    ck_assert_ptr_null(strstr(b.data, "nodelim"));
    prefix_enable(ps, false);
    prefix_record(ps, "a:1", 3, PREFIX_SET, false);
    ck_assert_ptr_nonnull(strstr(dump(ps, &b), "PREFIX a get 2 hit 1 set 1 del 1\r\n"));
    prefix_clear(ps);
    ck_assert_str_eq(dump(ps, &b), "END\r\n");
    prefix_free(ps);
    buf_free(&b);
}
END_TEST

START_TEST(test_prefix_table_is_bounded)
{
    struct prefix_stats *ps;
    struct buf b;
    char key[32];
    size_t lines = 0;

    buf_init(&b);
    ck_assert_int_eq(prefix_new('/', &ps), 0);
    prefix_enable(ps, true);
    for (int i = 0; i < PREFIX_MAX + 100; i++) {
        int n = snprintf(key, sizeof(key), "p%d/k", i);
        prefix_record(ps, key, (size_t)n, PREFIX_SET, false);
    }
    dump(ps, &b);
    /* one line each and END (strstr() in a loop is quadratic under ASan) */
    for (size_t i = 0; i < b.len; i++)
        lines += b.data[i] == '\n';
    ck_assert_uint_eq(lines, PREFIX_MAX + 1);
    prefix_free(ps);
    buf_free(&b);
}
END_TEST

/* ---- logger (watch) ---- */

static int wakes;

static void count_wake(void *arg)
{
    (void)arg;
    wakes++;
}

START_TEST(test_logger_queues_lines_of_the_watched_types_and_wakes_once)
{
    struct logger *lg;
    struct logger_watcher *w;
    struct buf b;
    struct logger_stats st;

    buf_init(&b);
    wakes = 0;
    ck_assert_int_eq(logger_new(&lg), 0);
    ck_assert(!logger_wants(lg, LOGGER_FETCHERS));
    w = logger_watch(lg, LOGGER_FETCHERS | LOGGER_DELETIONS, count_wake, NULL);
    ck_assert_ptr_nonnull(w);
    ck_assert(logger_wants(lg, LOGGER_FETCHERS));
    ck_assert(!logger_wants(lg, LOGGER_MUTATIONS));
    logger_log(lg, LOGGER_FETCHERS, "type=item_get key=%s", "a");
    logger_log(lg, LOGGER_MUTATIONS, "type=item_store key=%s", "b");
    logger_log(lg, LOGGER_DELETIONS, "type=deleted key=%s", "c");
    ck_assert_int_eq(wakes, 1);
    logger_take(w, &b);
    buf_append(&b, "", 1);
    ck_assert_ptr_nonnull(strstr(b.data, " gid=1 type=item_get key=a\n"));
    ck_assert_ptr_nonnull(strstr(b.data, " gid=2 type=deleted key=c\n"));
    ck_assert_ptr_null(strstr(b.data, "item_store"));
    ck_assert_mem_eq(b.data, "ts=", 3);
    logger_get_stats(lg, &st);
    ck_assert_uint_eq(st.written, 2);
    ck_assert_uint_eq(st.sent, 2);
    ck_assert_uint_eq(st.watchers, 1);
    logger_unwatch(w);
    ck_assert(!logger_wants(lg, LOGGER_FETCHERS));
    logger_free(lg);
    buf_free(&b);
}
END_TEST

START_TEST(test_logger_drops_lines_beyond_the_queue_bound_and_says_so)
{
    struct logger *lg;
    struct logger_watcher *w;
    struct logger_stats st;
    struct buf b;
    int n = 0;

    buf_init(&b);
    ck_assert_int_eq(logger_new(&lg), 0);
    w = logger_watch(lg, LOGGER_MUTATIONS, count_wake, NULL);
    for (int i = 0; i < 20000; i++)
        logger_log(lg, LOGGER_MUTATIONS, "type=item_store key=k%d", i);
    logger_get_stats(lg, &st);
    ck_assert_uint_gt(st.dropped, 0);
    ck_assert_uint_eq(st.written + st.dropped, 20000);
    logger_take(w, &b);
    ck_assert_uint_le(b.len, LOGGER_QUEUE_MAX + 64);
    buf_append(&b, "", 1);
    ck_assert_mem_eq(b.data, "skipped=", 8);
    for (const char *p = b.data; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    ck_assert_uint_eq((uint64_t)n, st.written + 1);
    logger_unwatch(w);
    logger_free(lg);
    buf_free(&b);
}
END_TEST

static Suite *opcmd_suite(void)
{
    Suite *s = suite_create("opcmd");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, test_memlimit_takes_megabytes_from_8_to_a_billion);
    tcase_add_test(tc, test_memlimit_refuses_as_memcached_does);
    tcase_add_test(tc, test_classes_all_hash_and_lists_of_1_to_63);
    tcase_add_test(tc, test_watch_types_are_memcached_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_uri_encoding_keeps_unreserved_bytes_and_escapes_the_rest);
    tcase_add_test(tc, test_metadump_line_is_memcacheds);
    tcase_add_test(tc, test_mgdump_and_cachedump_lines);
    suite_add_tcase(s, tc);

    tc = tcase_create("tables");
    tcase_add_test(tc, test_prefix_counts_only_while_on_and_only_keys_with_a_delimiter);
    tcase_add_test(tc, test_prefix_table_is_bounded);
    tcase_add_test(tc, test_logger_queues_lines_of_the_watched_types_and_wakes_once);
    tcase_add_test(tc, test_logger_drops_lines_beyond_the_queue_bound_and_says_so);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(opcmd_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
