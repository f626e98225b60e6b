/* check_cmd: the command layer driven without sockets. Each test feeds a
 * protocol transcript the way a connection would and compares the exact
 * reply bytes with what memcached sends. The meta commands are tested in
 * check_cmd_meta. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "base/buf.h"
#include "cmd/cmd.h"
#include "store/item.h"
#include "base/server.h"
#include "base/stats.h"
#include "store/store.h"

#include "cmd_fixture.h"

static struct store_stats store_stats_now(void)
{
    struct store_stats s;

    store_get_stats(srv.store, &s);
    return s;
}

/* What items hold: linked ones, and what items being written take. */
static uint64_t held(const struct store_stats *s)
{
    return s->bytes + s->reserved + s->large_bytes;
}

static uint64_t held_now(void)
{
    struct store_stats s = store_stats_now();

    return held(&s);
}

/* ---- storage commands ---- */

START_TEST(test_cmd_set_then_get_returns_the_value_with_its_flags)
{
    ck_assert_str_eq(feed("set foo 5 0 3\r\nbar\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("get foo\r\n"), "VALUE foo 5 3\r\nbar\r\nEND\r\n");
    ck_assert_uint_eq(ts.cmd_set, 1);
    ck_assert_uint_eq(ts.cmd_get, 1);
    ck_assert_uint_eq(ts.get_hits, 1);
}
END_TEST

START_TEST(test_cmd_get_of_a_missing_key_is_just_end)
{
    ck_assert_str_eq(feed("get nope\r\n"), "END\r\n");
    ck_assert_uint_eq(ts.get_misses, 1);
}
END_TEST

START_TEST(test_cmd_multi_get_returns_hits_in_request_order)
{
    feed("set a 0 0 1\r\n1\r\nset c 0 0 1\r\n3\r\n");
    ck_assert_str_eq(
        feed("get c b a c\r\n"),
        "VALUE c 0 1\r\n3\r\nVALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_get_with_more_keys_than_one_tokenizer_pass)
{
    char line[1024], want[4096];
    size_t l = 0, w = 0;

    l += (size_t)snprintf(line + l, sizeof(line) - l, "get");
    for (int i = 0; i < 40; i++) {
        char set[64];
        snprintf(set, sizeof(set), "set k%d 0 0 2\r\n%02d\r\n", i, i);
        ck_assert_str_eq(feed(set), "STORED\r\n");
        l += (size_t)snprintf(line + l, sizeof(line) - l, " k%d", i);
        w += (size_t)snprintf(want + w, sizeof(want) - w, "VALUE k%d 0 2\r\n%02d\r\n", i,
                              i);
    }
    snprintf(line + l, sizeof(line) - l, "\r\n");
    snprintf(want + w, sizeof(want) - w, "END\r\n");
    ck_assert_str_eq(feed(line), want);
}
END_TEST

START_TEST(test_cmd_set_replaces_and_keeps_binary_safe_values)
{
    static const char in[] = "set bin 0 0 5\r\na\0\r\nb\r\n";

    ck_assert_str_eq(feed_n(in, sizeof(in) - 1), "STORED\r\n");
    feed("get bin\r\n");
    ck_assert_uint_eq(buf_pending(&out), strlen("VALUE bin 0 5\r\n") + 7 + 5);
    ck_assert_mem_eq(reply, "VALUE bin 0 5\r\na\0\r\nb\r\nEND\r\n", buf_pending(&out));
    feed("set bin 1 0 0\r\n\r\n");
    ck_assert_str_eq(feed("get bin\r\n"), "VALUE bin 1 0\r\n\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_flags_cover_the_full_32_bits)
{
    ck_assert_str_eq(feed("set f 4294967295 0 1\r\nx\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("get f\r\n"), "VALUE f 4294967295 1\r\nx\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_gets_returns_a_cas_that_changes_on_every_store)
{
    unsigned long long a, b;

    feed("set k 0 0 1\r\na\r\n");
    a = cas_of("k");
    ck_assert_uint_ne(a, 0);
    feed("set k 0 0 1\r\nb\r\n");
    b = cas_of("k");
    ck_assert_uint_gt(b, a);
}
END_TEST

START_TEST(test_cmd_add_stores_only_a_missing_key)
{
    ck_assert_str_eq(feed("add k 0 0 1\r\na\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("add k 0 0 1\r\nb\r\n"), "NOT_STORED\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_replace_stores_only_an_existing_key)
{
    ck_assert_str_eq(feed("replace k 0 0 1\r\na\r\n"), "NOT_STORED\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "END\r\n");
    feed("set k 0 0 1\r\na\r\n");
    ck_assert_str_eq(feed("replace k 3 0 2\r\nbb\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "VALUE k 3 2\r\nbb\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_append_and_prepend_join_values_and_keep_the_old_flags)
{
    ck_assert_str_eq(feed("append k 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
    ck_assert_str_eq(feed("prepend k 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
    feed("set k 7 0 1\r\nb\r\n");
    ck_assert_str_eq(feed("append k 9 0 2\r\ncd\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("prepend k 9 0 1\r\na\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "VALUE k 7 4\r\nabcd\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_cas_stores_only_with_the_current_cas)
{
    unsigned long long cas;
    char line[128];

    ck_assert_str_eq(feed("cas k 0 0 1 1\r\na\r\n"), "NOT_FOUND\r\n");
    feed("set k 0 0 1\r\na\r\n");
    cas = cas_of("k");
    snprintf(line, sizeof(line), "cas k 0 0 1 %llu\r\nb\r\n", cas + 1);
    ck_assert_str_eq(feed(line), "EXISTS\r\n");
    snprintf(line, sizeof(line), "cas k 0 0 1 %llu\r\nb\r\n", cas);
    ck_assert_str_eq(feed(line), "STORED\r\n");
    /* the same CAS again is now stale */
    ck_assert_str_eq(feed(line), "EXISTS\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "VALUE k 0 1\r\nb\r\nEND\r\n");
    ck_assert_uint_eq(ts.cas_misses, 1);
    ck_assert_uint_eq(ts.cas_hits, 1);
    ck_assert_uint_eq(ts.cas_badval, 2);
}
END_TEST

START_TEST(test_cmd_without_cas_support_gets_reports_zero)
{
    srv.settings.use_cas = false;
    feed("set k 0 0 1\r\na\r\n");
    ck_assert_str_eq(feed("gets k\r\n"), "VALUE k 0 1 0\r\na\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_noreply_suppresses_only_that_commands_reply)
{
    ck_assert_str_eq(feed("set k 0 0 1 noreply\r\na\r\n"), "");
    ck_assert_str_eq(feed("add k 0 0 1 noreply\r\nb\r\n"), "");
    ck_assert_str_eq(feed("append k 0 0 1 noreply\r\nc\r\n"), "");
    ck_assert_str_eq(feed("incr n 1 noreply\r\n"), "");
    ck_assert_str_eq(feed("touch k 10 noreply\r\n"), "");
    ck_assert_str_eq(feed("get k\r\n"), "VALUE k 0 2\r\nac\r\nEND\r\n");
    ck_assert_str_eq(feed("delete k noreply\r\nget k\r\n"), "END\r\n");
    ck_assert_str_eq(feed("flush_all noreply\r\nversion\r\n"),
                     "VERSION 1.6.18-meshcached-" PACKAGE_VERSION "\r\n");
}
END_TEST

START_TEST(test_cmd_noreply_does_not_leak_into_the_next_command)
{
    ck_assert_str_eq(feed("set k 0 0 1 noreply\r\na\r\nset j 0 0 1\r\nb\r\n"),
                     "STORED\r\n");
}
END_TEST

/* ---- errors on storage commands ---- */

START_TEST(test_cmd_storage_command_with_wrong_token_count_is_error)
{
    ck_assert_str_eq(feed("set k 0 0\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("set k 0 0 1 noreply extra\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("cas k 0 0 1\r\n"), "ERROR\r\n");
}
END_TEST

START_TEST(test_cmd_storage_command_with_bad_numbers_is_a_client_error)
{
    ck_assert_str_eq(feed("set k abc 0 1\r\n"),
                     "CLIENT_ERROR bad command line format\r\n");
    ck_assert_str_eq(feed("set k 0 abc 1\r\n"),
                     "CLIENT_ERROR bad command line format\r\n");
    ck_assert_str_eq(feed("set k 0 0 -1\r\n"),
                     "CLIENT_ERROR bad command line format\r\n");
    ck_assert_str_eq(feed("set k -1 0 1\r\n"),
                     "CLIENT_ERROR bad command line format\r\n");
    ck_assert_str_eq(feed("cas k 0 0 1 x\r\n"),
                     "CLIENT_ERROR bad command line format\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "END\r\n");
}
END_TEST

START_TEST(test_cmd_key_longer_than_250_bytes_is_a_client_error)
{
    char line[600], key[252];

    memset(key, 'k', 251);
    key[251] = '\0';
    snprintf(line, sizeof(line), "set %s 0 0 1\r\n", key);
    ck_assert_str_eq(feed(line), "CLIENT_ERROR bad command line format\r\n");
    snprintf(line, sizeof(line), "get a %s\r\n", key);
    feed("set a 0 0 1\r\na\r\n");
    /* the hits before the long key are dropped: only the error is sent */
    ck_assert_str_eq(feed(line), "CLIENT_ERROR bad command line format\r\n");
    key[250] = '\0';
    snprintf(line, sizeof(line), "set %s 0 0 1\r\nx\r\n", key);
    ck_assert_str_eq(feed(line), "STORED\r\n");
}
END_TEST

/* A get naming a key over 250 bytes answers only the error: its own hits
 * are dropped, and so is every reply memcached has not written yet. memcached
 * writes after each classic get, so replies up to the last get survive and
 * the ones after it (sets, meta commands) are culled. Checked against
 * memcached 1.6.18 with each transcript sent in one packet. */
START_TEST(test_cmd_too_long_get_key_culls_replies_back_to_the_last_get)
{
    char line[700], key[252];

    memset(key, 'k', 251);
    key[251] = '\0';
    snprintf(line, sizeof(line), "set a 0 0 1\r\na\r\nget a %s\r\n", key);
    ck_assert_str_eq(feed(line), "CLIENT_ERROR bad command line format\r\n");
    snprintf(line, sizeof(line), "set a 0 0 1\r\na\r\nmg a v\r\nget a %s\r\n", key);
    ck_assert_str_eq(feed(line), "CLIENT_ERROR bad command line format\r\n");
    snprintf(line, sizeof(line), "set a 0 0 1\r\na\r\nget a\r\nget a %s\r\nget a\r\n",
             key);
    ck_assert_str_eq(feed(line), "STORED\r\nVALUE a 0 1\r\na\r\nEND\r\n"
                                 "CLIENT_ERROR bad command line format\r\n"
                                 "VALUE a 0 1\r\na\r\nEND\r\n");
    snprintf(line, sizeof(line),
             "set a 0 0 1\r\na\r\nget a\r\nset b 0 0 1\r\nb\r\nget a %s\r\n", key);
    ck_assert_str_eq(feed(line), "STORED\r\nVALUE a 0 1\r\na\r\nEND\r\n"
                                 "CLIENT_ERROR bad command line format\r\n");
}
END_TEST

START_TEST(test_cmd_value_too_large_is_refused_swallowed_and_drops_the_old_value)
{
    char *in = malloc(2 * 1024 * 1024);
    size_t n;

    ck_assert_ptr_nonnull(in);
    feed("set big 0 0 1\r\nx\r\n");
    n = (size_t)sprintf(in, "set big 0 0 %d\r\n", 1024 * 1024 + 1);
    memset(in + n, 'v', 1024 * 1024 + 1);
    n += 1024 * 1024 + 1;
    n += (size_t)sprintf(in + n, "\r\nget big\r\n");
    ck_assert_str_eq(feed_n(in, n), "SERVER_ERROR object too large for cache\r\nEND\r\n");
    ck_assert_uint_eq(ts.store_too_large, 1);
    free(in);
}
END_TEST

START_TEST(test_cmd_data_block_without_crlf_is_a_bad_data_chunk)
{
    char line[] = "set k 0 0 2";
    struct store_stats before = store_stats_now();

    buf_reset(&out);
    ck_assert_int_eq(cmd_process_line(&c, line, strlen(line)), CMD_READ_VALUE);
    ck_assert_uint_eq(c.item->nbytes, 4);
    memcpy(item_value(c.item), "abcd", 4);
    cmd_value_done(&c);
    ck_assert_uint_eq(buf_pending(&out), 29);
    ck_assert_mem_eq(out.data, "CLIENT_ERROR bad data chunk\r\n", 29);
    ck_assert_str_eq(feed("get k\r\n"), "END\r\n");
    ck_assert_uint_eq(held_now(), held(&before));
}
END_TEST

START_TEST(test_cmd_reset_releases_a_half_read_item)
{
    char line[] = "set k 0 0 1000";
    struct store_stats before = store_stats_now();

    ck_assert_int_eq(cmd_process_line(&c, line, strlen(line)), CMD_READ_VALUE);
    ck_assert_uint_gt(held_now(), held(&before));
    cmd_reset(&c);
    ck_assert_ptr_null(c.item);
    ck_assert_uint_eq(held_now(), held(&before));
}
END_TEST

START_TEST(test_cmd_out_of_memory_without_eviction_refuses_the_set)
{
    char *in = malloc(300 * 1024);
    size_t n;
    int stored = 0;

    stop();
    start(2 * 1024 * 1024, 256 * 1024, false);
    ck_assert_ptr_nonnull(in);
    feed("set victim 0 0 1\r\nx\r\n");
    for (int i = 0; i < 20; i++) {
        n = (size_t)sprintf(in, "set k%d 0 0 %d\r\n", i, 200 * 1024);
        memset(in + n, 'v', 200 * 1024);
        n += 200 * 1024;
        memcpy(in + n, "\r\n", 2);
        feed_n(in, n + 2);
        if (strcmp(reply, "STORED\r\n") == 0) {
            stored++;
            continue;
        }
        ck_assert_str_eq(reply, "SERVER_ERROR out of memory storing object\r\n");
        break;
    }
    ck_assert_int_gt(stored, 3);
    ck_assert_int_lt(stored, 10);
    ck_assert_uint_eq(ts.store_no_memory, 1);
    /* a failed set of an existing key must not leave the old value */
    n = (size_t)sprintf(in, "set victim 0 0 %d\r\n", 200 * 1024);
    memset(in + n, 'v', 200 * 1024);
    memcpy(in + n + 200 * 1024, "\r\n", 2);
    ck_assert_str_eq(feed_n(in, n + 200 * 1024 + 2),
                     "SERVER_ERROR out of memory storing object\r\n");
    ck_assert_str_eq(feed("get victim\r\n"), "END\r\n");
    ck_assert_uint_eq(store_stats_now().evictions, 0);
    free(in);
}
END_TEST

/* ---- incr / decr ---- */

START_TEST(test_cmd_incr_and_decr_change_a_decimal_value)
{
    feed("set n 0 0 2\r\n10\r\n");
    ck_assert_str_eq(feed("incr n 5\r\n"), "15\r\n");
    ck_assert_str_eq(feed("decr n 3\r\n"), "12\r\n");
    ck_assert_str_eq(feed("get n\r\n"), "VALUE n 0 2\r\n12\r\nEND\r\n");
    ck_assert_uint_eq(ts.incr_hits, 1);
    ck_assert_uint_eq(ts.decr_hits, 1);
}
END_TEST

START_TEST(test_cmd_decr_that_shortens_the_value_pads_with_spaces)
{
    feed("set n 0 0 3\r\n100\r\n");
    ck_assert_str_eq(feed("decr n 1\r\n"), "99\r\n");
    ck_assert_str_eq(feed("get n\r\n"), "VALUE n 0 3\r\n99 \r\nEND\r\n");
    /* the padded value still counts */
    ck_assert_str_eq(feed("incr n 1\r\n"), "100\r\n");
    ck_assert_str_eq(feed("get n\r\n"), "VALUE n 0 3\r\n100\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_incr_that_lengthens_the_value_grows_the_item)
{
    feed("set n 3 0 2\r\n99\r\n");
    ck_assert_str_eq(feed("incr n 1\r\n"), "100\r\n");
    ck_assert_str_eq(feed("get n\r\n"), "VALUE n 3 3\r\n100\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_decr_stops_at_zero_and_incr_wraps_at_2_to_the_64)
{
    feed("set n 0 0 1\r\n5\r\n");
    ck_assert_str_eq(feed("decr n 10\r\n"), "0\r\n");
    feed("set n 0 0 20\r\n18446744073709551615\r\n");
    ck_assert_str_eq(feed("incr n 2\r\n"), "1\r\n");
    ck_assert_str_eq(feed("get n\r\n"),
                     "VALUE n 0 20\r\n1                   \r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_incr_changes_the_cas)
{
    unsigned long long a;

    feed("set n 0 0 1\r\n1\r\n");
    a = cas_of("n");
    feed("incr n 1\r\n");
    ck_assert_uint_gt(cas_of("n"), a);
}
END_TEST

START_TEST(test_cmd_incr_errors_match_memcached)
{
    ck_assert_str_eq(feed("incr n 1\r\n"), "NOT_FOUND\r\n");
    ck_assert_str_eq(feed("decr n 1\r\n"), "NOT_FOUND\r\n");
    feed("set n 0 0 3\r\nabc\r\n");
    ck_assert_str_eq(feed("incr n 1\r\n"),
                     "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    feed("set e 0 0 0\r\n\r\n");
    ck_assert_str_eq(feed("incr e 1\r\n"),
                     "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    feed("set n 0 0 1\r\n1\r\n");
    ck_assert_str_eq(feed("incr n x\r\n"),
                     "CLIENT_ERROR invalid numeric delta argument\r\n");
    ck_assert_str_eq(feed("incr n -1\r\n"),
                     "CLIENT_ERROR invalid numeric delta argument\r\n");
    ck_assert_str_eq(feed("incr n\r\n"), "ERROR\r\n");
    ck_assert_uint_eq(ts.incr_misses, 1);
    ck_assert_uint_eq(ts.decr_misses, 1);
}
END_TEST

/* ---- delete, touch, flush_all, misc ---- */

START_TEST(test_cmd_delete_removes_a_key_once)
{
    feed("set k 0 0 1\r\na\r\n");
    ck_assert_str_eq(feed("delete k\r\n"), "DELETED\r\n");
    ck_assert_str_eq(feed("delete k\r\n"), "NOT_FOUND\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "END\r\n");
    ck_assert_uint_eq(ts.delete_hits, 1);
    ck_assert_uint_eq(ts.delete_misses, 1);
}
END_TEST

START_TEST(test_cmd_delete_accepts_only_the_legacy_zero_argument)
{
    feed("set k 0 0 1\r\na\r\n");
    ck_assert_str_eq(
        feed("delete k 1\r\n"),
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
    ck_assert_str_eq(feed("delete k 0\r\n"), "DELETED\r\n");
    feed("set k 0 0 1\r\na\r\n");
    ck_assert_str_eq(feed("delete k 0 noreply\r\n"), "");
    ck_assert_str_eq(
        feed("delete k 0 0\r\n"),
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
    ck_assert_str_eq(feed("delete\r\n"), "ERROR\r\n");
}
END_TEST

START_TEST(test_cmd_touch_updates_the_expiry)
{
    ck_assert_str_eq(feed("touch k 10\r\n"), "NOT_FOUND\r\n");
    feed("set k 0 0 1\r\na\r\n");
    ck_assert_str_eq(feed("touch k 100\r\n"), "TOUCHED\r\n");
    ck_assert_str_eq(feed("mg k t\r\n"), "HD t100\r\n");
    ck_assert_str_eq(feed("touch k -1\r\n"), "TOUCHED\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "END\r\n");
    ck_assert_str_eq(feed("touch k x\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
    ck_assert_uint_eq(ts.touch_hits, 2);
    ck_assert_uint_eq(ts.touch_misses, 1);
}
END_TEST

START_TEST(test_cmd_gat_returns_the_value_and_sets_the_expiry)
{
    feed("set k 0 0 1\r\na\r\n");
    ck_assert_str_eq(feed("gat 100 k missing\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");
    ck_assert_str_eq(feed("mg k t\r\n"), "HD t100\r\n");
    feed("gats -1 k\r\n");
    ck_assert_msg(strncmp(reply, "VALUE k 0 1 ", 12) == 0, "%s", reply);
    ck_assert_str_eq(feed("get k\r\n"), "END\r\n");
    ck_assert_str_eq(feed("gat x k\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
}
END_TEST

START_TEST(test_cmd_set_with_negative_exptime_is_immediately_expired)
{
    ck_assert_str_eq(feed("set k 0 -1 1\r\na\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "END\r\n");
    ck_assert_uint_eq(ts.get_expired, 1);
    ck_assert_str_eq(feed("set k 0 1000 1\r\na\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("get k\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");
}
END_TEST

START_TEST(test_cmd_flush_all_hides_everything_stored_before_it)
{
    feed("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n");
    ck_assert_str_eq(feed("flush_all\r\n"), "OK\r\n");
    ck_assert_str_eq(feed("get a b\r\n"), "END\r\n");
    ck_assert_uint_eq(ts.get_flushed, 2);
    ck_assert_str_eq(feed("set a 0 0 1\r\n3\r\n"), "STORED\r\n");
    ck_assert_str_eq(feed("get a\r\n"), "VALUE a 0 1\r\n3\r\nEND\r\n");
    ck_assert_str_eq(feed("flush_all 0\r\n"), "OK\r\n");
    ck_assert_str_eq(feed("get a\r\n"), "END\r\n");
    ck_assert_uint_eq(ts.cmd_flush, 2);
}
END_TEST

START_TEST(test_cmd_flush_all_with_a_delay_keeps_items_for_now)
{
    feed("set a 0 0 1\r\n1\r\n");
    ck_assert_str_eq(feed("flush_all 60\r\n"), "OK\r\n");
    ck_assert_str_eq(feed("get a\r\n"), "VALUE a 0 1\r\n1\r\nEND\r\n");
    ck_assert_str_eq(feed("flush_all 60 noreply\r\n"), "");
    ck_assert_str_eq(feed("flush_all soon\r\n"),
                     "CLIENT_ERROR invalid exptime argument\r\n");
}
END_TEST

START_TEST(test_cmd_unknown_and_empty_commands_are_errors)
{
    ck_assert_str_eq(feed("bogus\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("g\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("get\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("gets\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("getx k\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("SET k 0 0 1\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("mz k\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("mg\r\n"), "ERROR\r\n");
}
END_TEST

START_TEST(test_cmd_peer_hello_answers_our_id_and_marks_the_connection)
{
    strcpy(srv.settings.node_id, "n1");
    srv.settings.vnodes = 128;
    ck_assert(!c.from_peer);
    ck_assert_str_eq(feed("peer\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("peer n2\r\n"), "ERROR\r\n");
    ck_assert(!c.from_peer);
    ck_assert_str_eq(feed("peer n2 128\r\nmn\r\n"), "PEER n1 128\r\nMN\r\n");
    ck_assert(c.from_peer);
}
END_TEST

/* Found by fuzz_route: the empty line's only token has no value, and the
 * deadline check compared it with "rd" (strcmp of NULL). */
START_TEST(test_cmd_an_empty_line_after_a_peer_deadline_is_an_error)
{
    strcpy(srv.settings.node_id, "n1");
    srv.settings.vnodes = 128;
    ck_assert_str_eq(feed("peer n2 128\r\nmn\r\n"), "PEER n1 128\r\nMN\r\n");
    ck_assert_str_eq(feed("rd 99999999999999\r\n\r\nmn\r\n"), "ERROR\r\nMN\r\n");
    ck_assert_str_eq(feed("\r\n"), "ERROR\r\n");
}
END_TEST

START_TEST(test_cmd_get_local_appends_value_blocks_to_the_given_buffer)
{
    struct buf part;

    buf_init(&part);
    feed("set a 5 0 1\r\nx\r\nset b 0 0 2\r\nyz\r\n");
    buf_reset(&out);
    cmd_get_local(&c, &part, "b", 1, false, false, 0);
    cmd_get_local(&c, &part, "none", 4, false, false, 0);
    cmd_get_local(&c, &part, "a", 1, true, true, 100);
    ck_assert_uint_eq(buf_pending(&out), 0);
    buf_append(&part, "", 1);
    /* b as get, the miss as nothing, a as gats (with its cas), in order */
    ck_assert_msg(strncmp(part.data, "VALUE b 0 2\r\nyz\r\nVALUE a 5 1 ", 29) == 0, "%s",
                  part.data);
    ck_assert_str_eq(part.data + strlen(part.data) - 5, "\r\nx\r\n");
    ck_assert_str_eq(feed("mg a t\r\n"), "HD t100\r\n");
    buf_free(&part);
}
END_TEST

START_TEST(test_cmd_version_verbosity_shutdown_and_quit)
{
    ck_assert_str_eq(feed("version\r\n"),
                     "VERSION 1.6.18-meshcached-" PACKAGE_VERSION "\r\n");
    ck_assert_str_eq(feed("verbosity 1\r\n"), "OK\r\n");
    ck_assert_int_eq(srv.verbose, 1);
    ck_assert_str_eq(feed("verbosity 9 noreply\r\n"), "");
    ck_assert_int_eq(srv.verbose, 2);
    ck_assert_str_eq(feed("verbosity x\r\n"), "CLIENT_ERROR bad command line format\r\n");
    ck_assert_str_eq(feed("verbosity\r\n"), "ERROR\r\n");
    ck_assert_str_eq(feed("shutdown\r\n"), "ERROR: shutdown not enabled\r\n");
    ck_assert_str_eq(feed("quit\r\nversion\r\n"), "");
    ck_assert_int_eq(last_next, CMD_CLOSE);
}
END_TEST

START_TEST(test_cmd_line_ending_in_bare_newline_is_accepted)
{
    ck_assert_str_eq(feed("set k 0 0 1\na\r\nget k\n"),
                     "STORED\r\nVALUE k 0 1\r\na\r\nEND\r\n");
}
END_TEST

static Suite *cmd_suite(void)
{
    Suite *s = suite_create("cmd");
    TCase *tc = tcase_create("storage");

    tcase_add_checked_fixture(tc, setup, stop);
    tcase_add_test(tc, test_cmd_set_then_get_returns_the_value_with_its_flags);
    tcase_add_test(tc, test_cmd_get_of_a_missing_key_is_just_end);
    tcase_add_test(tc, test_cmd_multi_get_returns_hits_in_request_order);
    tcase_add_test(tc, test_cmd_get_with_more_keys_than_one_tokenizer_pass);
    tcase_add_test(tc, test_cmd_set_replaces_and_keeps_binary_safe_values);
    tcase_add_test(tc, test_cmd_flags_cover_the_full_32_bits);
    tcase_add_test(tc, test_cmd_gets_returns_a_cas_that_changes_on_every_store);
    tcase_add_test(tc, test_cmd_add_stores_only_a_missing_key);
    tcase_add_test(tc, test_cmd_replace_stores_only_an_existing_key);
    tcase_add_test(tc, test_cmd_append_and_prepend_join_values_and_keep_the_old_flags);
    tcase_add_test(tc, test_cmd_cas_stores_only_with_the_current_cas);
    tcase_add_test(tc, test_cmd_without_cas_support_gets_reports_zero);
    tcase_add_test(tc, test_cmd_noreply_suppresses_only_that_commands_reply);
    tcase_add_test(tc, test_cmd_noreply_does_not_leak_into_the_next_command);
    suite_add_tcase(s, tc);

    tc = tcase_create("storage_errors");
    tcase_add_checked_fixture(tc, setup, stop);
    tcase_add_test(tc, test_cmd_storage_command_with_wrong_token_count_is_error);
    tcase_add_test(tc, test_cmd_storage_command_with_bad_numbers_is_a_client_error);
    tcase_add_test(tc, test_cmd_key_longer_than_250_bytes_is_a_client_error);
    tcase_add_test(tc, test_cmd_too_long_get_key_culls_replies_back_to_the_last_get);
    tcase_add_test(tc,
                   test_cmd_value_too_large_is_refused_swallowed_and_drops_the_old_value);
    tcase_add_test(tc, test_cmd_data_block_without_crlf_is_a_bad_data_chunk);
    tcase_add_test(tc, test_cmd_reset_releases_a_half_read_item);
    tcase_add_test(tc, test_cmd_out_of_memory_without_eviction_refuses_the_set);
    suite_add_tcase(s, tc);

    tc = tcase_create("arith");
    tcase_add_checked_fixture(tc, setup, stop);
    tcase_add_test(tc, test_cmd_incr_and_decr_change_a_decimal_value);
    tcase_add_test(tc, test_cmd_decr_that_shortens_the_value_pads_with_spaces);
    tcase_add_test(tc, test_cmd_incr_that_lengthens_the_value_grows_the_item);
    tcase_add_test(tc, test_cmd_decr_stops_at_zero_and_incr_wraps_at_2_to_the_64);
    tcase_add_test(tc, test_cmd_incr_changes_the_cas);
    tcase_add_test(tc, test_cmd_incr_errors_match_memcached);
    suite_add_tcase(s, tc);

    tc = tcase_create("other");
    tcase_add_checked_fixture(tc, setup, stop);
    tcase_add_test(tc, test_cmd_delete_removes_a_key_once);
    tcase_add_test(tc, test_cmd_delete_accepts_only_the_legacy_zero_argument);
    tcase_add_test(tc, test_cmd_touch_updates_the_expiry);
    tcase_add_test(tc, test_cmd_gat_returns_the_value_and_sets_the_expiry);
    tcase_add_test(tc, test_cmd_set_with_negative_exptime_is_immediately_expired);
    tcase_add_test(tc, test_cmd_flush_all_hides_everything_stored_before_it);
    tcase_add_test(tc, test_cmd_flush_all_with_a_delay_keeps_items_for_now);
    tcase_add_test(tc, test_cmd_unknown_and_empty_commands_are_errors);
    tcase_add_test(tc, test_cmd_version_verbosity_shutdown_and_quit);
    tcase_add_test(tc, test_cmd_peer_hello_answers_our_id_and_marks_the_connection);
    tcase_add_test(tc, test_cmd_an_empty_line_after_a_peer_deadline_is_an_error);
    tcase_add_test(tc, test_cmd_get_local_appends_value_blocks_to_the_given_buffer);
    tcase_add_test(tc, test_cmd_line_ending_in_bare_newline_is_accepted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cmd_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
