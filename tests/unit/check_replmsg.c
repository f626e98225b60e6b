/* check_replmsg: the wire format replicas exchange (rs/rg and their answers),
 * byte for byte, encoded and parsed back, and every malformed line or answer
 * the parsers refuse: a replica must never store a state it misread. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/buf.h"
#include "proto/proto.h"
#include "proto/replmsg.h"
#include "store/item.h"
#include "store/store.h"

/* A command line split as cmd_process_line() splits it. */
struct line {
    char text[1024];
    struct token tokens[PROTO_MAX_TOKENS];
    size_t ntokens;
};

static void split(struct line *l, const char *text, size_t len)
{
    ck_assert_uint_lt(len, sizeof(l->text));
    memcpy(l->text, text, len);
    l->ntokens = proto_tokenize(l->text, len, l->tokens, PROTO_MAX_TOKENS);
}

/* Parses text (no "\r\n") as an rs line. */
static int parse_store(const char *text, char *kbuf, const char **key, size_t *nkey,
                       struct store_state *s)
{
    static struct line l; /* *key may point into it */

    split(&l, text, strlen(text));
    return replmsg_parse_store(l.tokens, l.ntokens, kbuf, key, nkey, s);
}

static int parse_get(const char *text, char *kbuf, const char **key, size_t *nkey)
{
    static struct line l;

    split(&l, text, strlen(text));
    return replmsg_parse_get(l.tokens, l.ntokens, kbuf, key, nkey);
}

static bool store_refused(const char *text)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;
    struct store_state s;

    return parse_store(text, kbuf, &key, &nkey, &s) == -EPROTO;
}

static bool get_refused(const char *text)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;

    return parse_get(text, kbuf, &key, &nkey) == -EPROTO;
}

static void assert_bytes(const struct buf *b, const char *want, size_t nwant)
{
    ck_assert(!b->oom);
    ck_assert_msg(b->len == nwant && memcmp(b->data, want, nwant) == 0,
                  "got \"%.*s\", want \"%.*s\"", (int)b->len, b->data, (int)nwant, want);
}

static void assert_same_state(const struct store_state *got,
                              const struct store_state *want)
{
    ck_assert_uint_eq(got->version, want->version);
    ck_assert_uint_eq(got->flags, want->flags);
    ck_assert_int_eq(got->exptime, want->exptime);
    ck_assert_uint_eq(got->nvalue, want->nvalue);
    ck_assert_uint_eq(got->iflags, want->iflags);
}

/* A line of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- rs and rg: what the encoders write ---- */

/* Encodes an rs for a state, checks the line, then frames the state as the
 * rg answer a replica would send and parses it back. */
static void round_trip(const char *key, size_t nkey, const struct store_state *s,
                       const char *value, const char *want_line)
{
    struct buf b, ans;
    struct store_state got;
    const char *v;
    char line[256];

    buf_init(&b);
    replmsg_encode_store(&b, key, nkey, s, value);
    ck_assert(!b.oom);
    snprintf(line, sizeof(line), "%s\r\n", want_line);
    ck_assert_uint_ge(b.len, strlen(line));
    ck_assert_int_eq(memcmp(b.data, line, strlen(line)), 0);
    ck_assert_uint_eq(b.len, strlen(line) + s->nvalue + 2);
    ck_assert_int_eq(memcmp(b.data + strlen(line), value, s->nvalue), 0);

    /* the rg answer, built by hand: "VA <bytes> <flags> <exptime> <version>[ <opts>]" */
    buf_init(&ans);
    buf_append_str(&ans, "VA ");
    buf_append_u64(&ans, s->nvalue);
    buf_append_str(&ans, " ");
    buf_append_u64(&ans, s->flags);
    buf_append_str(&ans, " ");
    buf_append_u64(&ans, (unsigned long long)s->exptime);
    buf_append_str(&ans, " ");
    buf_append_u64(&ans, s->version);
    if (s->iflags & ITEM_TOMBSTONE)
        buf_append_str(&ans, " t");
    buf_append_str(&ans, "\r\n");
    buf_append(&ans, value, s->nvalue);
    buf_append_str(&ans, "\r\n");
    ck_assert_int_eq(replmsg_parse_state(ans.data, ans.len, &got, &v), 0);
    ck_assert_uint_eq(got.version, s->version);
    ck_assert_uint_eq(got.flags, s->flags);
    ck_assert_int_eq(got.exptime, s->exptime);
    ck_assert_uint_eq(got.nvalue, s->nvalue);
    ck_assert_uint_eq(got.iflags & ITEM_TOMBSTONE, s->iflags & ITEM_TOMBSTONE);
    ck_assert_int_eq(memcmp(v, value, s->nvalue), 0);
    buf_free(&b);
    buf_free(&ans);
}

START_TEST(test_replmsg_store_command_carries_the_whole_state)
{
    struct store_state s = {.version = 383183834633472870ull,
                            .flags = 4294967295u,
                            .exptime = 1795425945,
                            .nvalue = 5};
    struct store_state t = {.version = 42, .iflags = ITEM_TOMBSTONE, .exptime = 7};

    round_trip("k1", 2, &s, "hello", "rs k1 4294967295 1795425945 383183834633472870 5");
    round_trip("gone", 4, &t, "", "rs gone 0 7 42 0 t");
}
END_TEST

START_TEST(test_replmsg_keys_that_are_not_plain_tokens_travel_in_base64)
{
    struct store_state s = {.version = 9, .nvalue = 1, .iflags = ITEM_KEY_BINARY};
    struct buf b;

    round_trip("a b", 3, &s, "x", "rs YSBi 0 0 9 1 bB");
    buf_init(&b);
    replmsg_encode_get(&b, "a\r", 2);
    assert_bytes(&b, "rg YQ0= b\r\n", 11);
    buf_reset(&b);
    replmsg_encode_get(&b, "plain", 5);
    assert_bytes(&b, "rg plain\r\n", 10);
    buf_free(&b);
}
END_TEST

START_TEST(test_replmsg_keys_with_control_or_high_bytes_travel_in_base64)
{
    static const char *const keys[] = {"a\tb", "\x7f", "caf\xc3\xa9", "a\nb", "\x01"};
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char enc[BASE64_KEY_MAX], want[BASE64_KEY_MAX + 16];
        size_t n = base64_encode(keys[i], strlen(keys[i]), enc);
        int w = snprintf(want, sizeof(want), "rg %.*s b\r\n", (int)n, enc);

        buf_reset(&b);
        replmsg_encode_get(&b, keys[i], strlen(keys[i]));
        assert_bytes(&b, want, (size_t)w);
    }
    /* '!' and '~' are the ends of the plain range */
    buf_reset(&b);
    replmsg_encode_get(&b, "!~", 2);
    assert_bytes(&b, "rg !~\r\n", 7);
    buf_free(&b);
}
END_TEST

START_TEST(test_replmsg_opts_are_written_in_the_order_b_B_t_s_w)
{
    struct store_state s = {.version = 5,
                            .iflags = ITEM_STALE | ITEM_TOMBSTONE | ITEM_KEY_BINARY};
    struct store_state w = {.version = 6, .iflags = ITEM_TOKEN | ITEM_STALE};
    struct buf b;

    buf_init(&b);
    replmsg_encode_store(&b, "\xff", 1, &s, NULL);
    assert_bytes(&b, "rs /w== 0 0 5 0 bBts\r\n\r\n", 24);
    buf_reset(&b);
    replmsg_encode_store(&b, "k", 1, &w, NULL);
    assert_bytes(&b, "rs k 0 0 6 0 sw\r\n\r\n", 19);
    buf_free(&b);
}
END_TEST

/* ---- rg answers ---- */

START_TEST(test_replmsg_state_answer_is_a_va_line_and_the_block)
{
    struct store_state s = {.version = 42,
                            .flags = 3,
                            .exptime = 1795425945,
                            .nvalue = 5,
                            .iflags = ITEM_KEY_BINARY | ITEM_STALE};
    struct store_state t = {.version = 7, .iflags = ITEM_TOMBSTONE};
    struct buf b;

    buf_init(&b);
    replmsg_encode_state(&b, &s, "hello");
    assert_bytes(&b, "VA 5 3 1795425945 42 Bs\r\nhello\r\n", 32);
    buf_reset(&b);
    replmsg_encode_state(&b, &t, NULL);
    assert_bytes(&b, "VA 0 0 0 7 t\r\n\r\n", 16);
    buf_reset(&b);
    replmsg_encode_miss(&b);
    assert_bytes(&b, "EN\r\n", 4);
    buf_free(&b);
}
END_TEST

START_TEST(test_replmsg_state_answer_parses_back_to_the_state_encoded)
{
    static const struct store_state states[] = {
        {.version = 1},
        {.version = UINT64_MAX, .flags = UINT32_MAX, .exptime = INT64_MAX, .nvalue = 3},
        {.version = 2, .iflags = ITEM_TOMBSTONE | ITEM_KEY_BINARY},
        {.version = 3, .nvalue = 3, .iflags = ITEM_STALE},
        {.version = 4, .nvalue = 3, .exptime = 1, .iflags = ITEM_KEY_BINARY | ITEM_STALE},
        {.version = 5, .nvalue = 3, .iflags = ITEM_TOKEN}, /* a vivified placeholder */
    };
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        struct store_state got;
        const char *v;

        buf_reset(&b);
        replmsg_encode_state(&b, &states[i], "a\r\n");
        ck_assert(!b.oom);
        ck_assert_int_eq(replmsg_parse_state(b.data, b.len, &got, &v), 0);
        assert_same_state(&got, &states[i]);
        ck_assert_ptr_eq(v, b.data + b.len - 2 - states[i].nvalue);
        ck_assert_int_eq(memcmp(v, "a\r\n", got.nvalue), 0);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_replmsg_miss_answer_is_an_empty_state)
{
    struct store_state s;
    const char *v;

    ck_assert_int_eq(replmsg_parse_state("EN\r\n", 4, &s, &v), 0);
    ck_assert_uint_eq(s.version, 0);
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(test_replmsg_state_answer_takes_opts_in_any_order_and_ignores_b)
{
    struct store_state s;
    const char *v;
    const char *ans = "VA 1 0 0 5 sbBsb\r\nx\r\n";

    ck_assert_int_eq(replmsg_parse_state(ans, strlen(ans), &s, &v), 0);
    ck_assert_uint_eq(s.iflags, ITEM_STALE | ITEM_KEY_BINARY);
}
END_TEST

START_TEST(test_replmsg_malformed_answers_are_refused)
{
    static const char *const bad[] = {
        "VA 1 0 0 0\r\nx\r\n",                    /* version 0 */
        "VA 1 0 0\r\nx\r\n",                      /* too few fields */
        "VA 1 0 0 5 q\r\nx\r\n",                  /* unknown opt */
        "VA 1 0 -1 5\r\nx\r\n",                   /* negative exptime */
        "VA 1 0 0 5 t\r\nx\r\n",                  /* a tombstone with a value */
        "VA 2 0 0 5\r\nx\r\n",                    /* block shorter than stated */
        "VA 0 0 0 5\r\nx\r\n",                    /* block longer than stated */
        "VA 1 x 0 5\r\nx\r\n",                    /* flags not a number */
        "VA 1 4294967296 0 5\r\nx\r\n",           /* flags beyond 32 bits */
        "VA 4294967296 0 0 5\r\n\r\n",            /* length beyond 32 bits */
        "VA 1 0 0 18446744073709551616\r\nx\r\n", /* version beyond 64 bits */
        "VA 1 0 0 5\nx\r\n",                      /* a bare \n */
        "VB 1 0 0 5\r\nx\r\n",
        "HD\r\n",
        "EN",
        "",
        "\r\n",
        "VA 1 0 0 5 1 2 3\r\nx\r\n", /* too many fields */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct store_state s;
        const char *v;
        ck_assert_msg(replmsg_parse_state(bad[i], strlen(bad[i]), &s, &v) == -EPROTO,
                      "accepted %s", bad[i]);
        ck_assert_ptr_null(v);
    }
}
END_TEST

START_TEST(test_replmsg_state_answer_leaves_the_block_terminator_to_the_framer)
{
    /* peer_reply refuses a block not followed by "\r\n" before this runs */
    struct store_state s;
    const char *v;

    ck_assert_int_eq(replmsg_parse_state("VA 1 0 0 5\r\nxyz", 15, &s, &v), 0);
    ck_assert_uint_eq(s.nvalue, 1);
    ck_assert_int_eq(*v, 'x');
}
END_TEST

START_TEST(test_replmsg_state_line_over_127_bytes_is_refused)
{
    /* "VA 0 1 0 1", its flags padded with leading zeros to n bytes */
    char ans[256];
    struct store_state s;
    const char *v;

    for (size_t n = 120; n <= 130; n++) {
        char *zeros = repeat('0', n - strlen("VA 0 1 0 1"));
        int len = snprintf(ans, sizeof(ans), "VA 0 %s1 0 1\r\n\r\n", zeros);
        int rc = replmsg_parse_state(ans, (size_t)len, &s, &v);

        free(zeros);
        ck_assert_msg(rc == (n <= REPLMSG_MAX_STATE_LINE ? 0 : -EPROTO),
                      "line of %zu: %d", n, rc);
    }
}
END_TEST

/* ---- rs lines ---- */

START_TEST(test_replmsg_store_line_parses_into_key_and_state)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;
    struct store_state s;
    struct store_state want = {.version = 383183834633472870ull,
                               .flags = 4294967295u,
                               .exptime = 1795425945,
                               .nvalue = 5,
                               .iflags = ITEM_STALE};

    ck_assert_int_eq(parse_store("rs k1 4294967295 1795425945 383183834633472870 5 s",
                                 kbuf, &key, &nkey, &s),
                     0);
    ck_assert_uint_eq(nkey, 2);
    ck_assert_int_eq(memcmp(key, "k1", 2), 0);
    ck_assert_ptr_ne(key, kbuf); /* a plain key points into the line */
    assert_same_state(&s, &want);
}
END_TEST

START_TEST(test_replmsg_store_line_with_b_decodes_the_key_into_kbuf)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;
    struct store_state s;

    ck_assert_int_eq(parse_store("rs YSBi 0 0 9 1 bB", kbuf, &key, &nkey, &s), 0);
    ck_assert_ptr_eq(key, kbuf);
    ck_assert_uint_eq(nkey, 3);
    ck_assert_int_eq(memcmp(key, "a b", 3), 0);
    ck_assert_uint_eq(s.iflags, ITEM_KEY_BINARY);
    /* without b the same token is the key itself */
    ck_assert_int_eq(parse_store("rs YSBi 0 0 9 1 B", kbuf, &key, &nkey, &s), 0);
    ck_assert_uint_eq(nkey, 4);
    ck_assert_int_eq(memcmp(key, "YSBi", 4), 0);
}
END_TEST

START_TEST(test_replmsg_store_line_leaves_its_tokens_unchanged)
{
    struct line l;
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;
    struct store_state s;
    const char *text = "rs YSBi 0 0 9 1 b";

    split(&l, text, strlen(text));
    ck_assert_int_eq(replmsg_parse_store(l.tokens, l.ntokens, kbuf, &key, &nkey, &s), 0);
    ck_assert_uint_eq(l.tokens[1].length, 4);
    ck_assert_int_eq(memcmp(l.tokens[1].value, "YSBi", 4), 0);
}
END_TEST

START_TEST(test_replmsg_store_line_round_trips_through_the_encoder)
{
    static const char *const keys[] = {"k", "a b", "\xff\x00", "!~"};
    struct store_state s = {
        .version = 77, .flags = 12, .exptime = 99, .nvalue = 3, .iflags = ITEM_STALE};
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        size_t nk = i == 2 ? 2 : strlen(keys[i]);
        struct line l;
        char kbuf[REPLMSG_KEY_BUF];
        const char *key;
        size_t nkey;
        struct store_state got;
        const char *nl;

        buf_reset(&b);
        replmsg_encode_store(&b, keys[i], nk, &s, "v\r\n");
        ck_assert(!b.oom);
        nl = memchr(b.data, '\n', b.len);
        ck_assert_ptr_nonnull(nl);
        split(&l, b.data, (size_t)(nl - 1 - b.data));
        ck_assert_int_eq(
            replmsg_parse_store(l.tokens, l.ntokens, kbuf, &key, &nkey, &got), 0);
        ck_assert_uint_eq(nkey, nk);
        ck_assert_int_eq(memcmp(key, keys[i], nk), 0);
        assert_same_state(&got, &s);
        ck_assert_int_eq(memcmp(nl + 1, "v\r\n\r\n", 5), 0);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_replmsg_store_line_refuses_malformed_versions)
{
    ck_assert(!store_refused("rs k1 0 0 18446744073709551615 1"));
    ck_assert(store_refused("rs k1 0 0 abc 1"));
    ck_assert(store_refused("rs k1 0 0 0 1"));
    ck_assert(store_refused("rs k1 0 0 -5 1"));
    ck_assert(store_refused("rs k1 0 0 18446744073709551616 1"));
    ck_assert(store_refused("rs k1 0 0 5x 1"));
}
END_TEST

START_TEST(test_replmsg_store_line_refuses_flags_beyond_32_bits)
{
    ck_assert(!store_refused("rs k1 4294967295 0 5 1"));
    ck_assert(store_refused("rs k1 4294967296 0 5 1"));
    ck_assert(store_refused("rs k1 x 0 5 1"));
    ck_assert(store_refused("rs k1 -1 0 5 1"));
}
END_TEST

START_TEST(test_replmsg_store_line_refuses_negative_or_oversized_exptime)
{
    ck_assert(!store_refused("rs k1 0 0 5 1"));
    ck_assert(!store_refused("rs k1 0 9223372036854775807 5 1"));
    ck_assert(store_refused("rs k1 0 -1 5 1"));
    ck_assert(store_refused("rs k1 0 9223372036854775808 5 1"));
    ck_assert(store_refused("rs k1 0 1y 5 1"));
}
END_TEST

START_TEST(test_replmsg_store_line_refuses_lengths_an_item_cannot_hold)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;
    struct store_state s;

    ck_assert_int_eq(parse_store("rs k1 0 0 5 4294967293", kbuf, &key, &nkey, &s), 0);
    ck_assert_uint_eq(s.nvalue, 4294967293u);
    ck_assert(store_refused("rs k1 0 0 5 4294967294"));
    ck_assert(store_refused("rs k1 0 0 5 99999999999999999999"));
    ck_assert(store_refused("rs k1 0 0 5 -1"));
    ck_assert(store_refused("rs k1 0 0 5 1x"));
}
END_TEST

START_TEST(test_replmsg_store_line_refuses_a_tombstone_with_a_value)
{
    ck_assert(!store_refused("rs k1 0 0 5 0 t"));
    ck_assert(store_refused("rs k1 0 0 5 1 t"));
}
END_TEST

START_TEST(test_replmsg_store_line_refuses_unknown_opts)
{
    ck_assert(!store_refused("rs k1 0 0 5 1 sBsB"));
    ck_assert(store_refused("rs k1 0 0 5 1 q"));
    ck_assert(store_refused("rs k1 0 0 5 1 bq"));
    ck_assert(store_refused("rs k1 0 0 5 1 T"));
}
END_TEST

START_TEST(test_replmsg_store_line_refuses_too_few_or_too_many_tokens)
{
    ck_assert(store_refused("rs"));
    ck_assert(store_refused("rs k1"));
    ck_assert(store_refused("rs k1 0 0 5"));
    ck_assert(store_refused("rs k1 0 0 5 1 s s"));
}
END_TEST

START_TEST(test_replmsg_keys_over_250_bytes_are_refused)
{
    char line[1024], enc[BASE64_KEY_MAX + 8];
    char *k250 = repeat('k', 250), *k251 = repeat('k', 251), *k340 = repeat('A', 340);
    size_t n;

    snprintf(line, sizeof(line), "rs %s 0 0 5 1", k250);
    ck_assert(!store_refused(line));
    snprintf(line, sizeof(line), "rs %s 0 0 5 1", k251);
    ck_assert(store_refused(line));
    snprintf(line, sizeof(line), "rg %s", k250);
    ck_assert(!get_refused(line));
    snprintf(line, sizeof(line), "rg %s", k251);
    ck_assert(get_refused(line));

    /* in base64: the decoded length counts */
    n = base64_encode(k250, 250, enc);
    snprintf(line, sizeof(line), "rs %.*s 0 0 5 1 b", (int)n, enc);
    ck_assert(!store_refused(line));
    snprintf(line, sizeof(line), "rg %.*s b", (int)n, enc);
    ck_assert(!get_refused(line));
    n = base64_encode(k251, 251, enc);
    snprintf(line, sizeof(line), "rs %.*s 0 0 5 1 b", (int)n, enc);
    ck_assert(store_refused(line));
    snprintf(line, sizeof(line), "rg %.*s b", (int)n, enc);
    ck_assert(get_refused(line));
    /* a token longer than any key's base64 is refused before decoding */
    snprintf(line, sizeof(line), "rg %s b", k340);
    ck_assert(get_refused(line));
    free(k250);
    free(k251);
    free(k340);
}
END_TEST

START_TEST(test_replmsg_bad_base64_keys_are_refused)
{
    static const char *const keys[] = {
        "YQ", "YQ=", "Y!==", "====", "A===", "YQ==YQ==", "YQ=a"};
    char line[64];

    ck_assert(!store_refused("rs YQ== 0 0 5 1 b"));
    ck_assert(!get_refused("rg YQ== b"));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(line, sizeof(line), "rs %s 0 0 5 1 b", keys[i]);
        ck_assert_msg(store_refused(line), "accepted %s", line);
        snprintf(line, sizeof(line), "rg %s b", keys[i]);
        ck_assert_msg(get_refused(line), "accepted %s", line);
    }
}
END_TEST

/* ---- rg lines ---- */

START_TEST(test_replmsg_get_line_takes_a_plain_or_base64_key)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;

    ck_assert_int_eq(parse_get("rg plain", kbuf, &key, &nkey), 0);
    ck_assert_uint_eq(nkey, 5);
    ck_assert_int_eq(memcmp(key, "plain", 5), 0);
    ck_assert_int_eq(parse_get("rg YQ0= b", kbuf, &key, &nkey), 0);
    ck_assert_ptr_eq(key, kbuf);
    ck_assert_uint_eq(nkey, 2);
    ck_assert_int_eq(memcmp(key, "a\r", 2), 0);
}
END_TEST

START_TEST(test_replmsg_get_line_round_trips_through_the_encoder)
{
    static const char *const keys[] = {"k", "a b", "\r\n", "!~", "k\x80"};
    struct buf b;

    buf_init(&b);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct line l;
        char kbuf[REPLMSG_KEY_BUF];
        const char *key;
        size_t nkey;

        buf_reset(&b);
        replmsg_encode_get(&b, keys[i], strlen(keys[i]));
        ck_assert(!b.oom);
        ck_assert_uint_ge(b.len, 2);
        split(&l, b.data, b.len - 2);
        ck_assert_int_eq(replmsg_parse_get(l.tokens, l.ntokens, kbuf, &key, &nkey), 0);
        ck_assert_uint_eq(nkey, strlen(keys[i]));
        ck_assert_int_eq(memcmp(key, keys[i], nkey), 0);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_replmsg_get_line_refuses_other_shapes)
{
    ck_assert(get_refused("rg"));
    ck_assert(get_refused("rg k x"));
    ck_assert(get_refused("rg k bb"));
    ck_assert(get_refused("rg k B"));
    ck_assert(get_refused("rg YQ== b b"));
    ck_assert(get_refused("rg k 0 0 5 1"));
}
END_TEST

static Suite *replmsg_suite(void)
{
    Suite *s = suite_create("replmsg");
    TCase *tc = tcase_create("encode");

    tcase_add_test(tc, test_replmsg_store_command_carries_the_whole_state);
    tcase_add_test(tc, test_replmsg_keys_that_are_not_plain_tokens_travel_in_base64);
    tcase_add_test(tc, test_replmsg_keys_with_control_or_high_bytes_travel_in_base64);
    tcase_add_test(tc, test_replmsg_opts_are_written_in_the_order_b_B_t_s_w);
    suite_add_tcase(s, tc);

    tc = tcase_create("answer");
    tcase_add_test(tc, test_replmsg_state_answer_is_a_va_line_and_the_block);
    tcase_add_test(tc, test_replmsg_state_answer_parses_back_to_the_state_encoded);
    tcase_add_test(tc, test_replmsg_miss_answer_is_an_empty_state);
    tcase_add_test(tc, test_replmsg_state_answer_takes_opts_in_any_order_and_ignores_b);
    tcase_add_test(tc, test_replmsg_malformed_answers_are_refused);
    tcase_add_test(tc,
                   test_replmsg_state_answer_leaves_the_block_terminator_to_the_framer);
    tcase_add_test(tc, test_replmsg_state_line_over_127_bytes_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("rs");
    tcase_add_test(tc, test_replmsg_store_line_parses_into_key_and_state);
    tcase_add_test(tc, test_replmsg_store_line_with_b_decodes_the_key_into_kbuf);
    tcase_add_test(tc, test_replmsg_store_line_leaves_its_tokens_unchanged);
    tcase_add_test(tc, test_replmsg_store_line_round_trips_through_the_encoder);
    tcase_add_test(tc, test_replmsg_store_line_refuses_malformed_versions);
    tcase_add_test(tc, test_replmsg_store_line_refuses_flags_beyond_32_bits);
    tcase_add_test(tc, test_replmsg_store_line_refuses_negative_or_oversized_exptime);
    tcase_add_test(tc, test_replmsg_store_line_refuses_lengths_an_item_cannot_hold);
    tcase_add_test(tc, test_replmsg_store_line_refuses_a_tombstone_with_a_value);
    tcase_add_test(tc, test_replmsg_store_line_refuses_unknown_opts);
    tcase_add_test(tc, test_replmsg_store_line_refuses_too_few_or_too_many_tokens);
    suite_add_tcase(s, tc);

    tc = tcase_create("rg");
    tcase_add_test(tc, test_replmsg_get_line_takes_a_plain_or_base64_key);
    tcase_add_test(tc, test_replmsg_get_line_round_trips_through_the_encoder);
    tcase_add_test(tc, test_replmsg_get_line_refuses_other_shapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_test(tc, test_replmsg_keys_over_250_bytes_are_refused);
    tcase_add_test(tc, test_replmsg_bad_base64_keys_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(replmsg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
