/* check_route: the forwarding classifier, command by command and fallback by
 * fallback, and route_next_value()'s walk over a get reply. Generated lines
 * and the cross-check with the command layer are in check_route_crosscheck. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "base/base64.h"
#include "proto/peer_reply.h"
#include "proto/route.h"

#include "route_fixture.h"

#define S(x) x, sizeof(x) - 1

static enum route_kind classify(const char *line)
{
    return classify_n(line, strlen(line));
}

static void assert_key_is(const char *key)
{
    ck_assert_uint_eq(r.nkey, strlen(key));
    ck_assert_msg(memcmp(r.key, key, r.nkey) == 0, "key %.*s, want %s", (int)r.nkey,
                  r.key, key);
}

/* line forwards to key with this data block, reply shape and quietness. */
static void assert_forwards(const char *line, const char *key, uint64_t data_len,
                            enum peer_reply_kind reply, bool quiet, bool noreply)
{
    ck_assert_msg(classify(line) == ROUTE_KEY, "not ROUTE_KEY: %s", line);
    ck_assert_int_eq(r.kind, ROUTE_KEY);
    assert_key_is(key);
    ck_assert_uint_eq(r.data_len, data_len);
    ck_assert_int_eq(r.reply, reply);
    ck_assert_msg(r.quiet == quiet, "quiet %d: %s", r.quiet, line);
    ck_assert_msg(r.noreply == noreply, "noreply %d: %s", r.noreply, line);
}

static void assert_local(const char *line)
{
    ck_assert_msg(classify(line) == ROUTE_LOCAL, "not ROUTE_LOCAL: %s", line);
    ck_assert_int_eq(r.kind, ROUTE_LOCAL);
    ck_assert_ptr_null(r.key);
    ck_assert_uint_eq(r.nkeys, 0);
}

static void assert_multiget(const char *line, size_t nkeys)
{
    ck_assert_msg(classify(line) == ROUTE_MULTIGET, "not ROUTE_MULTIGET: %s", line);
    ck_assert_uint_eq(r.nkeys, nkeys);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- classic storage ---- */

START_TEST(test_route_set_forwards_its_key_and_data_block)
{
    const char *line = "set foo 5 0 10";

    assert_forwards(line, "foo", 12, PEER_REPLY_LINE, false, false);
    ck_assert_ptr_eq(r.key, line + 4); /* into the line, not a copy */
}
END_TEST

START_TEST(test_route_every_storage_command_forwards)
{
    assert_forwards("add k 0 0 1", "k", 3, PEER_REPLY_LINE, false, false);
    assert_forwards("replace k 0 0 2", "k", 4, PEER_REPLY_LINE, false, false);
    assert_forwards("append k 0 0 3", "k", 5, PEER_REPLY_LINE, false, false);
    assert_forwards("prepend k 0 0 4", "k", 6, PEER_REPLY_LINE, false, false);
    assert_forwards("cas k 0 0 5 77", "k", 7, PEER_REPLY_LINE, false, false);
}
END_TEST

START_TEST(test_route_set_with_noreply_is_quiet)
{
    assert_forwards("set k 0 0 1 noreply", "k", 3, PEER_REPLY_LINE, true, true);
    assert_forwards("cas k 0 0 1 9 noreply", "k", 3, PEER_REPLY_LINE, true, true);
    /* a seventh token that is not noreply is accepted and ignored */
    assert_forwards("set k 0 0 1 whatever", "k", 3, PEER_REPLY_LINE, false, false);
}
END_TEST

START_TEST(test_route_zero_length_value_still_has_its_crlf)
{
    assert_forwards("set k 0 0 0", "k", 2, PEER_REPLY_LINE, false, false);
}
END_TEST

START_TEST(test_route_storage_with_wrong_token_count_is_local)
{
    assert_local("set k 0 0");
    assert_local("set k 0 0 1 noreply extra");
    assert_local("cas k 0 0 1");
    assert_local("cas k 0 0 1 2 noreply x");
    assert_local("set");
}
END_TEST

START_TEST(test_route_storage_with_bad_numbers_is_local)
{
    assert_local("set k -1 0 1");
    assert_local("set k x 0 1");
    assert_local("set k 0 x 1");
    assert_local("set k 0 0 x");
    assert_local("set k 0 0 -1");
    assert_local("set k 0 0 18446744073709551616");
    assert_local("cas k 0 0 1 -5");
    assert_local("cas k 0 0 1 x");
    /* above INT_MAX - 2 is refused before any allocation */
    ck_assert_int_eq(route_classify(S("set k 0 0 2147483646"), 0xffffffffu, &r),
                     ROUTE_LOCAL);
    ck_assert_int_eq(route_classify(S("set k 0 0 2147483645"), 0xffffffffu, &r),
                     ROUTE_KEY);
    ck_assert_uint_eq(r.data_len, 2147483647u);
}
END_TEST

START_TEST(test_route_storage_numbers_keep_the_low_32_bits_like_memcached)
{
    assert_forwards("set k 4294967297 0 1", "k", 3, PEER_REPLY_LINE, false, false);
    /* a length of 2^32 + 5 reads 5 bytes */
    assert_forwards("set k 0 0 4294967301", "k", 7, PEER_REPLY_LINE, false, false);
    assert_forwards("set k 0 0 \t3", "k", 5, PEER_REPLY_LINE, false, false);
}
END_TEST

START_TEST(test_route_key_of_250_bytes_forwards_and_251_is_local)
{
    char *k250 = repeat('a', 250), *k251 = repeat('a', 251);
    char line[600];

    snprintf(line, sizeof(line), "set %s 0 0 1", k250);
    assert_forwards(line, k250, 3, PEER_REPLY_LINE, false, false);
    snprintf(line, sizeof(line), "set %s 0 0 1", k251);
    assert_local(line);
    snprintf(line, sizeof(line), "incr %s 1", k251);
    assert_local(line);
    snprintf(line, sizeof(line), "mg %s v", k251);
    assert_local(line);
    snprintf(line, sizeof(line), "get a %s", k251);
    assert_local(line);
    free(k250);
    free(k251);
}
END_TEST

START_TEST(test_route_value_of_item_size_max_forwards_and_one_more_is_local)
{
    ck_assert_int_eq(route_classify(S("set k 0 0 100"), 100, &r), ROUTE_KEY);
    ck_assert_uint_eq(r.data_len, 102);
    ck_assert_int_eq(route_classify(S("set k 0 0 101"), 100, &r), ROUTE_LOCAL);
    ck_assert_int_eq(route_classify(S("ms k 100 T0"), 100, &r), ROUTE_KEY);
    ck_assert_uint_eq(r.data_len, 102);
    ck_assert_int_eq(route_classify(S("ms k 101 T0"), 100, &r), ROUTE_LOCAL);
}
END_TEST

/* ---- incr, decr, touch, delete ---- */

START_TEST(test_route_incr_and_decr_forward_without_data)
{
    assert_forwards("incr k 5", "k", 0, PEER_REPLY_LINE, false, false);
    assert_forwards("decr k 18446744073709551615", "k", 0, PEER_REPLY_LINE, false, false);
    assert_forwards("incr k 1 noreply", "k", 0, PEER_REPLY_LINE, true, true);
}
END_TEST

START_TEST(test_route_incr_with_a_bad_delta_or_token_count_is_local)
{
    assert_local("incr k -1");
    assert_local("incr k x");
    assert_local("decr k 18446744073709551616");
    assert_local("incr k");
    assert_local("incr k 1 noreply x");
    assert_local("incr k noreply");
}
END_TEST

START_TEST(test_route_touch_forwards_and_a_bad_exptime_is_local)
{
    assert_forwards("touch k 10", "k", 0, PEER_REPLY_LINE, false, false);
    assert_forwards("touch k -1 noreply", "k", 0, PEER_REPLY_LINE, true, true);
    assert_local("touch k x");
    assert_local("touch k");
    assert_local("touch k 1 noreply x");
}
END_TEST

START_TEST(test_route_delete_follows_the_legacy_argument_rules)
{
    assert_forwards("delete k", "k", 0, PEER_REPLY_LINE, false, false);
    assert_forwards("delete k 0", "k", 0, PEER_REPLY_LINE, false, false);
    assert_forwards("delete k noreply", "k", 0, PEER_REPLY_LINE, true, true);
    assert_forwards("delete k 0 noreply", "k", 0, PEER_REPLY_LINE, true, true);
    /* "delete noreply" deletes the key "noreply" and answers */
    assert_forwards("delete noreply", "noreply", 0, PEER_REPLY_LINE, false, false);
    assert_local("delete k 1");
    assert_local("delete k 0 0");
    assert_local("delete k noreply 0");
    assert_local("delete k 0 noreply x");
    assert_local("delete");
}
END_TEST

/* ---- get, gets, gat, gats ---- */

START_TEST(test_route_get_lists_its_keys_in_place)
{
    const char *line = "get a bb ccc", *key;
    size_t pos, nkey;

    assert_multiget(line, 3);
    ck_assert_uint_eq(r.ncmd, 3);
    ck_assert_ptr_eq(r.cmd, line);
    ck_assert(!r.return_cas && !r.touch);
    ck_assert_ptr_null(r.exptime);
    pos = r.keys_off;
    ck_assert(route_next_key(line, strlen(line), &pos, &key, &nkey));
    ck_assert_ptr_eq(key, line + 4);
    ck_assert_uint_eq(nkey, 1);
    ck_assert(route_next_key(line, strlen(line), &pos, &key, &nkey));
    ck_assert_ptr_eq(key, line + 6);
    ck_assert_uint_eq(nkey, 2);
    ck_assert(route_next_key(line, strlen(line), &pos, &key, &nkey));
    ck_assert_ptr_eq(key, line + 9);
    ck_assert_uint_eq(nkey, 3);
    ck_assert(!route_next_key(line, strlen(line), &pos, &key, &nkey));
    ck_assert(!route_next_key(line, strlen(line), &pos, &key, &nkey));
}
END_TEST

START_TEST(test_route_gets_asks_for_cas)
{
    assert_multiget("gets a b", 2);
    ck_assert(r.return_cas && !r.touch);
    ck_assert_uint_eq(r.ncmd, 4);
}
END_TEST

START_TEST(test_route_gat_and_gats_carry_the_exptime)
{
    const char *line = "gats -1 a";

    assert_multiget("gat 100 a b", 2);
    ck_assert(r.touch && !r.return_cas);
    ck_assert_int_eq(r.touch_time, 100);
    ck_assert_uint_eq(r.nexptime, 3);
    ck_assert_mem_eq(r.exptime, "100", 3);
    assert_multiget(line, 1);
    ck_assert(r.touch && r.return_cas);
    ck_assert_int_eq(r.touch_time, -1);
    ck_assert_ptr_eq(r.exptime, line + 5);
    ck_assert_uint_ge(r.keys_off, 7);
    /* memcached keeps the low 32 bits of the exptime */
    assert_multiget("gat 4294967306 a", 1);
    ck_assert_int_eq(r.touch_time, 10);
}
END_TEST

START_TEST(test_route_gat_with_a_bad_exptime_is_local)
{
    assert_local("gat x a");
    assert_local("gat 18446744073709551616 a");
    assert_local("gats a");
}
END_TEST

START_TEST(test_route_get_without_keys_is_local)
{
    assert_local("get");
    assert_local("gets    ");
    assert_local("gat 10");
    assert_local("gat");
}
END_TEST

START_TEST(test_route_keys_separated_by_several_spaces)
{
    const char *line = "  get   a     b  c   ", *key;
    size_t pos, nkey, n = 0;
    const char *want[] = {"a", "b", "c"};

    assert_multiget(line, 3);
    pos = r.keys_off;
    while (route_next_key(line, strlen(line), &pos, &key, &nkey)) {
        ck_assert_uint_eq(nkey, 1);
        ck_assert_int_eq(key[0], want[n][0]);
        n++;
    }
    ck_assert_uint_eq(n, 3);
    assert_multiget("gat  5   x", 1);
    ck_assert_int_eq(r.touch_time, 5);
}
END_TEST

START_TEST(test_route_get_with_1000_keys_walks_them_all_in_place)
{
    size_t cap = 1000 * 20, len = 0, pos, nkey, n = 0;
    char *line = malloc(cap), *before = malloc(cap);
    size_t offs[1000];
    const char *key;

    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(before);
    len += (size_t)sprintf(line, "gets");
    for (int i = 0; i < 1000; i++) {
        len += (size_t)sprintf(line + len, "%*s", 1 + i % 3, "");
        offs[i] = len;
        len += (size_t)sprintf(line + len, "key:%d", i);
    }
    ck_assert_uint_gt(len, 4096);
    memcpy(before, line, len);
    assert_multiget(line, 1000);
    ck_assert_mem_eq(line, before, len);
    pos = r.keys_off;
    while (route_next_key(line, len, &pos, &key, &nkey)) {
        char want[16];
        ck_assert_uint_lt(n, 1000);
        ck_assert_ptr_eq(key, line + offs[n]);
        ck_assert_uint_eq(nkey, (size_t)sprintf(want, "key:%zu", n));
        ck_assert_mem_eq(key, want, nkey);
        n++;
    }
    ck_assert_uint_eq(n, 1000);
    free(line);
    free(before);
}
END_TEST

/* ---- meta ---- */

START_TEST(test_route_mg_md_ma_me_forward_with_a_meta_reply)
{
    assert_forwards("mg k v f t", "k", 0, PEER_REPLY_META, false, false);
    assert_forwards("md k", "k", 0, PEER_REPLY_META, false, false);
    assert_forwards("ma k D5", "k", 0, PEER_REPLY_META, false, false);
    assert_forwards("me k", "k", 0, PEER_REPLY_META, false, false);
}
END_TEST

START_TEST(test_route_meta_q_flag_is_quiet_but_not_noreply)
{
    assert_forwards("mg k v q", "k", 0, PEER_REPLY_META, true, false);
    assert_forwards("md k q O1", "k", 0, PEER_REPLY_META, true, false);
    assert_forwards("ma k q", "k", 0, PEER_REPLY_META, true, false);
    assert_forwards("ms k 2 q", "k", 4, PEER_REPLY_META, true, false);
    /* the key and the datalen are not flags; me has no flags at all */
    assert_forwards("mg q v", "q", 0, PEER_REPLY_META, false, false);
    assert_forwards("me k q", "k", 0, PEER_REPLY_META, false, false);
}
END_TEST

START_TEST(test_route_ms_data_len_counts_the_crlf)
{
    assert_forwards("ms k 0", "k", 2, PEER_REPLY_META, false, false);
    assert_forwards("ms k 10 T30 F5 c", "k", 12, PEER_REPLY_META, false, false);
    assert_forwards("ms k 4294967301", "k", 7, PEER_REPLY_META, false, false);
}
END_TEST

START_TEST(test_route_ms_errors_before_the_datalen_are_local)
{
    assert_local("ms k");
    assert_local("ms k x");
    assert_local("ms k -1");
    assert_local("ms k 18446744073709551616");
    assert_local("ms k 5 a b c d e f g h i j k l m n o p q r"); /* 22 tokens */
}
END_TEST

START_TEST(test_route_ms_with_bad_flags_still_forwards_as_the_block_is_swallowed)
{
    assert_forwards("ms k 2 Mx", "k", 4, PEER_REPLY_META, false, false);
    assert_forwards("ms k 2 T1 T2", "k", 4, PEER_REPLY_META, false, false);
    assert_forwards("ms k 2 !", "k", 4, PEER_REPLY_META, false, false);
}
END_TEST

START_TEST(test_route_meta_with_too_many_tokens_is_local)
{
    assert_forwards("mg k a c d e f g h i j l m n o p r s t", "k", 0, PEER_REPLY_META,
                    false, false); /* 20 tokens */
    assert_local("mg k a c d e f g h i j l m n o p r s t u");
    assert_local("md k a c d e f g h i j l m n o p r s t u");
    assert_local("ma k a c d e f g h i j l m n o p r s t u");
}
END_TEST

START_TEST(test_route_meta_without_a_key_is_local)
{
    assert_local("mg");
    assert_local("ms");
    assert_local("md   ");
    assert_local("me");
}
END_TEST

START_TEST(test_route_meta_b_flag_routes_by_the_decoded_key)
{
    assert_forwards("mg Zm9v b v", "foo", 0, PEER_REPLY_META, false, false);
    ck_assert_ptr_eq(r.key, r.keybuf);
    assert_forwards("md Zm9vYg== q b", "foob", 0, PEER_REPLY_META, true, false);
    assert_forwards("ma Zm9v b", "foo", 0, PEER_REPLY_META, false, false);
    assert_forwards("ms Zm9v 3 T0 b", "foo", 5, PEER_REPLY_META, false, false);
    assert_forwards("me Zm9v b", "foo", 0, PEER_REPLY_META, false, false);
    /* any flag token starting with b is the b flag */
    assert_forwards("mg Zm9v bx", "foo", 0, PEER_REPLY_META, false, false);
}
END_TEST

START_TEST(test_route_meta_b_with_a_key_that_does_not_decode_is_local)
{
    assert_local("mg foo b");
    assert_local("mg Zm9v= b");
    assert_local("ms ab!= 2 b");
    assert_local("md ==== b");
    assert_local("me Zm9 b");
}
END_TEST

START_TEST(test_route_b_is_a_flag_only_where_the_command_parses_flags)
{
    /* ms: tokens[2] is the datalen */
    assert_local("ms Zm9v b");
    /* me: only "me <key> b" */
    assert_forwards("me Zm9v x b", "Zm9v", 0, PEER_REPLY_META, false, false);
    assert_forwards("me Zm9v bb", "Zm9v", 0, PEER_REPLY_META, false, false);
    assert_local("me b b"); /* "b" is not base64 */
    ck_assert_int_eq(classify("me ab== b"), ROUTE_KEY);
    ck_assert_uint_eq(r.nkey, 1);
}
END_TEST

START_TEST(test_route_b_keys_of_250_encoded_bytes_forward_and_251_are_local)
{
    char raw[187], enc[260], line[300];
    size_t n;

    memset(raw, 0xfe, sizeof(raw));
    n = base64_encode(raw, 186, enc); /* 248 bytes */
    enc[n] = '\0';
    snprintf(line, sizeof(line), "mg %s b", enc);
    ck_assert_int_eq(classify(line), ROUTE_KEY);
    ck_assert_uint_eq(r.nkey, 186);
    ck_assert_mem_eq(r.key, raw, 186);
    n = base64_encode(raw, 187, enc); /* 252 bytes */
    enc[n] = '\0';
    snprintf(line, sizeof(line), "mg %s b", enc);
    assert_local(line);
}
END_TEST

START_TEST(test_route_mn_is_never_forwarded)
{
    assert_local("mn");
    assert_local("mn k");
}
END_TEST

/* ---- fallbacks ---- */

START_TEST(test_route_keyless_and_unknown_commands_are_local)
{
    const char *lines[] = {
        "",          "   ",          "stats",        "stats items", "stats k",
        "flush_all", "flush_all 10", "version",      "verbosity 1", "quit",
        "shutdown",  "foo k",        "mx k",         "m k",         "g k",
        "GET k",     "geta k",       "set2 k 0 0 1", "s k 0 0 1",   "incrk 1"};

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_local(lines[i]);
}
END_TEST

START_TEST(test_route_nul_ends_the_line)
{
    const char nr[] = "set k 0 0 1\0 noreply";
    const char del[] = "delete k\0 x y z";
    const char get[] = "get a\0 b c";
    const char lead[] = "\0set k 0 0 1";
    const char *key;
    size_t pos, nkey;

    ck_assert_int_eq(classify_n(nr, sizeof(nr) - 1), ROUTE_KEY);
    ck_assert(!r.quiet);
    ck_assert_int_eq(classify_n(del, sizeof(del) - 1), ROUTE_KEY);
    ck_assert_int_eq(classify_n(get, sizeof(get) - 1), ROUTE_MULTIGET);
    ck_assert_uint_eq(r.nkeys, 1);
    /* the key walk stops at the NUL even when given the full length */
    pos = r.keys_off;
    ck_assert(route_next_key(get, sizeof(get) - 1, &pos, &key, &nkey));
    ck_assert_uint_eq(nkey, 1);
    ck_assert(!route_next_key(get, sizeof(get) - 1, &pos, &key, &nkey));
    ck_assert_int_eq(classify_n(lead, sizeof(lead) - 1), ROUTE_LOCAL);
}
END_TEST

START_TEST(test_route_long_non_get_line_is_local)
{
    char *line = malloc(5000);

    ck_assert_ptr_nonnull(line);
    memset(line, ' ', 5000);
    memcpy(line, "set k 0 0 1", 11);
    ck_assert_int_eq(classify_n(line, 4096), ROUTE_KEY);
    ck_assert_int_eq(classify_n(line, 4097), ROUTE_LOCAL);
    memcpy(line, "mg k v      ", 12);
    ck_assert_int_eq(classify_n(line, 4096), ROUTE_KEY);
    ck_assert_int_eq(classify_n(line, 5000), ROUTE_LOCAL);
    memcpy(line, "get k       ", 12);
    ck_assert_int_eq(classify_n(line, 5000), ROUTE_MULTIGET);
    free(line);
}
END_TEST

START_TEST(test_route_leading_spaces_are_skipped_as_the_tokenizer_does)
{
    const char *line = "   set   k  0 0 1";

    assert_forwards(line, "k", 3, PEER_REPLY_LINE, false, false);
    ck_assert_ptr_eq(r.key, line + 9);
    assert_multiget("   get  k", 1);
}
END_TEST

START_TEST(test_route_never_modifies_the_line)
{
    const char *lines[] = {"set k 0 0 1 noreply", "mg Zm9v b v", "ms Zm9v 2 b q",
                           "get a b c",           "gat 1 a",     "delete k 0"};

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char buf[64];
        size_t n = strlen(lines[i]);
        memcpy(buf, lines[i], n + 1);
        classify_n(buf, n);
        ck_assert_str_eq(buf, lines[i]);
    }
}
END_TEST

/* ---- route_next_value ---- */

static bool next_value(const char *buf, size_t len, size_t *pos, const char *want_key,
                       size_t want_block)
{
    const char *key, *block;
    size_t nkey, nblock, start = *pos;

    if (!route_next_value(buf, len, pos, &key, &nkey, &block, &nblock))
        return false;
    ck_assert_uint_eq(nkey, strlen(want_key));
    ck_assert_mem_eq(key, want_key, nkey);
    ck_assert_ptr_eq(block, buf + start);
    ck_assert_uint_eq(nblock, want_block);
    ck_assert_uint_eq(*pos, start + nblock);
    return true;
}

START_TEST(test_route_next_value_walks_values_with_and_without_cas)
{
    const char buf[] = "VALUE a 0 3\r\nabc\r\n"
                       "VALUE bb 7 0 12345\r\n\r\n"
                       "VALUE c 4294967295 4 0\r\n\r\nEN\r\n";
    size_t pos = 0;

    ck_assert(next_value(buf, sizeof(buf) - 1, &pos, "a", 18));
    ck_assert(next_value(buf, sizeof(buf) - 1, &pos, "bb", 22));
    ck_assert(next_value(buf, sizeof(buf) - 1, &pos, "c", 30));
    ck_assert_uint_eq(pos, sizeof(buf) - 1);
    ck_assert(!next_value(buf, sizeof(buf) - 1, &pos, "", 0));
}
END_TEST

START_TEST(test_route_next_value_stops_at_end)
{
    const char buf[] = "VALUE a 0 1\r\nx\r\nEND\r\nVALUE b 0 1\r\ny\r\n";
    size_t pos = 0;

    ck_assert(next_value(buf, sizeof(buf) - 1, &pos, "a", 16));
    ck_assert(!next_value(buf, sizeof(buf) - 1, &pos, "", 0));
    ck_assert_uint_eq(pos, 16);
    pos = 0;
    ck_assert(!next_value(S("END\r\n"), &pos, "", 0));
    ck_assert(!next_value(S(""), &pos, "", 0));
}
END_TEST

START_TEST(test_route_next_value_refuses_truncated_blocks)
{
    const char buf[] = "VALUE a 0 3\r\nabc\r\nVALUE b 0 5 99\r\nhello\r\n";
    size_t len = sizeof(buf) - 1;

    for (size_t n = 0; n <= len; n++) {
        size_t pos = 0, got = 0;
        while (route_next_value(buf, n, &pos, &(const char *){0}, &(size_t){0},
                                &(const char *){0}, &(size_t){0}))
            got++;
        ck_assert_uint_eq(got, n < 18 ? 0 : n < len ? 1 : 2);
        ck_assert_uint_eq(pos, got == 0 ? 0 : got == 1 ? 18 : len);
    }
}
END_TEST

START_TEST(test_route_next_value_refuses_malformed_blocks)
{
    const char *bad[] = {
        "VALUE a 0 3\nabc\r\n",                        /* no \r */
        "VALUE a 0 3\r\nabcd\r\n",                     /* data not followed by \r\n */
        "VALUE a 0 3\r\nab\r\n\r\n",                   /* short data */
        "VALUE  a 0 3\r\nabc\r\n",                     /* empty key */
        "VALUE a 0 3 \r\nabc\r\n",                     /* trailing space */
        "VALUE a 0 3 1 2\r\nabc\r\n",                  /* after the cas */
        "VALUE a -1 3\r\nabc\r\n",                     /* sign */
        "VALUE a 4294967296 3\r\nabc\r\n",             /* flags above 32 bits */
        "VALUE a 0 x\r\nabc\r\n",                      /* bytes */
        "VALUE a 0 18446744073709551615\r\nabc\r\n",   /* huge */
        "VALUE a 0 18446744073709551616\r\nabc\r\n",   /* overflow */
        "VALUE a 0 3 18446744073709551616\r\nabc\r\n", /* cas overflow */
        "VALUE a 0\r\n\r\n",
        "VALUE a\r\n",
        "VALUE\r\n",
        "\r\n",
        "STAT a b\r\n",
        "value a 0 3\r\nabc\r\n",
    };
    char line[300];
    char *k251 = repeat('k', 251);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t pos = 0;
        ck_assert_msg(!next_value(bad[i], strlen(bad[i]), &pos, "", 0), "%s", bad[i]);
        ck_assert_uint_eq(pos, 0);
    }
    snprintf(line, sizeof(line), "VALUE %s 0 1\r\nx\r\n", k251);
    ck_assert(!next_value(line, strlen(line), &(size_t){0}, "", 0));
    snprintf(line, sizeof(line), "VALUE %.250s 0 1\r\nx\r\n", k251);
    ck_assert(next_value(line, strlen(line), &(size_t){0}, k251 + 1, strlen(line)));
    free(k251);
}
END_TEST

START_TEST(test_route_next_value_takes_data_as_opaque_bytes)
{
    const char buf[] = "VALUE a 0 12\r\nEND\r\nVALUE \0\r\nVALUE b 0 0\r\n\r\n";
    size_t pos = 0;

    ck_assert(next_value(buf, sizeof(buf) - 1, &pos, "a", 28));
    ck_assert(next_value(buf, sizeof(buf) - 1, &pos, "b", 15));
    ck_assert_uint_eq(pos, sizeof(buf) - 1);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("classic");

    tcase_add_test(tc, test_route_set_forwards_its_key_and_data_block);
    tcase_add_test(tc, test_route_every_storage_command_forwards);
    tcase_add_test(tc, test_route_set_with_noreply_is_quiet);
    tcase_add_test(tc, test_route_zero_length_value_still_has_its_crlf);
    tcase_add_test(tc, test_route_storage_with_wrong_token_count_is_local);
    tcase_add_test(tc, test_route_storage_with_bad_numbers_is_local);
    tcase_add_test(tc, test_route_storage_numbers_keep_the_low_32_bits_like_memcached);
    tcase_add_test(tc, test_route_key_of_250_bytes_forwards_and_251_is_local);
    tcase_add_test(tc, test_route_value_of_item_size_max_forwards_and_one_more_is_local);
    tcase_add_test(tc, test_route_incr_and_decr_forward_without_data);
    tcase_add_test(tc, test_route_incr_with_a_bad_delta_or_token_count_is_local);
    tcase_add_test(tc, test_route_touch_forwards_and_a_bad_exptime_is_local);
    tcase_add_test(tc, test_route_delete_follows_the_legacy_argument_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("get");
    tcase_add_test(tc, test_route_get_lists_its_keys_in_place);
    tcase_add_test(tc, test_route_gets_asks_for_cas);
    tcase_add_test(tc, test_route_gat_and_gats_carry_the_exptime);
    tcase_add_test(tc, test_route_gat_with_a_bad_exptime_is_local);
    tcase_add_test(tc, test_route_get_without_keys_is_local);
    tcase_add_test(tc, test_route_keys_separated_by_several_spaces);
    tcase_add_test(tc, test_route_get_with_1000_keys_walks_them_all_in_place);
    suite_add_tcase(s, tc);

    tc = tcase_create("meta");
    tcase_add_test(tc, test_route_mg_md_ma_me_forward_with_a_meta_reply);
    tcase_add_test(tc, test_route_meta_q_flag_is_quiet_but_not_noreply);
    tcase_add_test(tc, test_route_ms_data_len_counts_the_crlf);
    tcase_add_test(tc, test_route_ms_errors_before_the_datalen_are_local);
    tcase_add_test(tc,
                   test_route_ms_with_bad_flags_still_forwards_as_the_block_is_swallowed);
    tcase_add_test(tc, test_route_meta_with_too_many_tokens_is_local);
    tcase_add_test(tc, test_route_meta_without_a_key_is_local);
    tcase_add_test(tc, test_route_meta_b_flag_routes_by_the_decoded_key);
    tcase_add_test(tc, test_route_meta_b_with_a_key_that_does_not_decode_is_local);
    tcase_add_test(tc, test_route_b_is_a_flag_only_where_the_command_parses_flags);
    tcase_add_test(tc, test_route_b_keys_of_250_encoded_bytes_forward_and_251_are_local);
    tcase_add_test(tc, test_route_mn_is_never_forwarded);
    suite_add_tcase(s, tc);

    tc = tcase_create("fallbacks");
    tcase_add_test(tc, test_route_keyless_and_unknown_commands_are_local);
    tcase_add_test(tc, test_route_nul_ends_the_line);
    tcase_add_test(tc, test_route_long_non_get_line_is_local);
    tcase_add_test(tc, test_route_leading_spaces_are_skipped_as_the_tokenizer_does);
    tcase_add_test(tc, test_route_never_modifies_the_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_route_next_value_walks_values_with_and_without_cas);
    tcase_add_test(tc, test_route_next_value_stops_at_end);
    tcase_add_test(tc, test_route_next_value_refuses_truncated_blocks);
    tcase_add_test(tc, test_route_next_value_refuses_malformed_blocks);
    tcase_add_test(tc, test_route_next_value_takes_data_as_opaque_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
