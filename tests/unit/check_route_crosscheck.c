/* check_route_crosscheck: the forwarding classifier on generated lines,
 * checked against the real tokenizer and meta flag parser, and against the
 * real command layer: whenever route forwards a line, the owner must read
 * exactly the data block route expects and answer exactly one reply of the
 * shape route announced. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "base/rng.h"
#include "base/base64.h"
#include "base/buf.h"
#include "cmd/cmd.h"
#include "store/item.h"
#include "base/mctime.h"
#include "proto/peer_reply.h"
#include "proto/proto.h"
#include "proto/route.h"
#include "base/server.h"
#include "base/settings.h"
#include "store/store.h"

#include "route_fixture.h"

#define ISM 2000u /* item_size_max of the cross-check store */

/* ---- generated lines ---- */

static char key250[251], key251[252], b64_248[260], b64_252[260];

static const char *const gen_cmds[] = {
    "set",       "add",     "replace",   "append", "prepend", "cas", "incr",
    "decr",      "touch",   "delete",    "get",    "gets",    "gat", "gats",
    "mg",        "ms",      "md",        "ma",     "me",      "mn",  "stats",
    "flush_all", "version", "verbosity", "foo",    "g",       "mx",  "GET",
};
static const char *const gen_keys[] = {"k",    "foo",   "Zm9v",  "Zm9vYg==", "a=b",
                                       "!!",   "q",     "b",     "noreply",  key250,
                                       key251, b64_248, b64_252, "k\t",      "bar"};
static const char *const gen_nums[] = {"0",
                                       "1",
                                       "5",
                                       "-1",
                                       "abc",
                                       "10",
                                       "2000",
                                       "2001",
                                       "1999",
                                       "4294967297",
                                       "2147483645",
                                       "2147483646",
                                       "18446744073709551616",
                                       "\t7",
                                       "7\tx",
                                       "+3",
                                       "00",
                                       "1e3",
                                       "noreply",
                                       "3"};
static const char *const gen_flags[] = {
    "q",   "b",   "v",   "k",   "c",     "f",
    "t",   "s",   "T10", "T-1", "Tx",    "N30",
    "F5",  "Fx",  "C1",  "Cx",  "E7",    "E0",
    "MS",  "ME",  "MA",  "MP",  "MR",    "Mx",
    "MSS", "MI",  "MD",  "M+",  "O1234", "OOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOO",
    "D5",  "Dx",  "J1",  "I",   "u",     "h",
    "l",   "R30", "qq",  "bad", "\x80",  "!"};

/* Argument shapes per command: K key, N number, F flag, X anything. */
static const char *shape_of(const char *cmd)
{
    static const struct {
        const char *cmd, *shape;
    } shapes[] = {
        {"set", "KNNN"},     {"add", "KNNN"},  {"replace", "KNNN"}, {"append", "KNNN"},
        {"prepend", "KNNN"}, {"cas", "KNNNN"}, {"incr", "KN"},      {"decr", "KN"},
        {"touch", "KN"},     {"delete", "K"},  {"get", "KKK"},      {"gets", "KK"},
        {"gat", "NKK"},      {"gats", "NK"},   {"mg", "KFFF"},      {"ms", "KNFF"},
        {"md", "KFF"},       {"ma", "KFF"},    {"me", "KF"},
    };

    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        if (strcmp(shapes[i].cmd, cmd) == 0)
            return shapes[i].shape;
    return "X";
}

#define PICK(g, a) ((a)[rng_below((g), sizeof(a) / sizeof((a)[0]))])

static void init_gen_keys(void)
{
    char raw[187];
    size_t n;

    memset(key250, 'x', 250);
    key250[250] = '\0';
    memset(key251, 'y', 251);
    key251[251] = '\0';
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (char)i;
    n = base64_encode(raw, 186, b64_248);
    b64_248[n] = '\0';
    n = base64_encode(raw, 187, b64_252);
    b64_252[n] = '\0';
}

static void put(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (*len + n < cap) {
        memcpy(buf + *len, s, n);
        *len += n;
    }
}

static const char *any_token(struct rng *g)
{
    switch (rng_below(g, 3)) {
    case 0:
        return PICK(g, gen_keys);
    case 1:
        return PICK(g, gen_nums);
    default:
        return PICK(g, gen_flags);
    }
}

/* A random line, mostly shaped like its command; returns its length. */
static size_t gen_line(struct rng *g, char *buf, size_t cap)
{
    const char *cmd = PICK(g, gen_cmds), *shape = shape_of(cmd);
    size_t len = 0, nshape, nargs;

    if (rng_below(g, 8) == 0)
        put(buf, cap, &len, "  ");
    put(buf, cap, &len, cmd);
    if (rng_below(g, 4) == 0)
        shape += rng_below(g, strlen(shape) + 1); /* drop leading arguments */
    nshape = strlen(shape);
    nargs = nshape + rng_below(g, 4);
    if (rng_below(g, 20) == 0)
        nargs += 15 + rng_below(g, 10); /* past the token limits */
    for (size_t i = 0; i < nargs; i++) {
        char kind = i < nshape && rng_below(g, 8) != 0 ? shape[i] : 'X';
        put(buf, cap, &len, rng_below(g, 6) == 0 ? "   " : " ");
        put(buf, cap, &len,
            kind == 'K'   ? PICK(g, gen_keys)
            : kind == 'N' ? PICK(g, gen_nums)
            : kind == 'F' ? PICK(g, gen_flags)
                          : any_token(g));
    }
    if (rng_below(g, 10) == 0)
        put(buf, cap, &len, " noreply");
    if (rng_below(g, 10) == 0)
        put(buf, cap, &len, "  ");
    if (len > 0 && rng_below(g, 30) == 0)
        buf[rng_below(g, len)] = '\0';
    if (rng_below(g, 60) == 0)
        while (len < cap - 1 && len < 4200)
            buf[len++] = ' ';
    return len;
}

/* What the command layer would take as the key of a ROUTE_KEY line, found
 * with the real tokenizer and the real meta flag parser. Returns false when
 * the flags have an error, which leaves the key unspecified. */
static bool expected_key(const char *line, size_t len, char *out, size_t *nout)
{
    char copy[4200];
    struct token tokens[PROTO_MAX_TOKENS];
    size_t ntokens;

    len = strnlen(line, len);
    ck_assert_uint_lt(len, sizeof(copy));
    memcpy(copy, line, len);
    ntokens = proto_tokenize(copy, len, tokens, PROTO_MAX_TOKENS);
    ck_assert_uint_ge(ntokens, 3);
    if (tokens[0].length == 2 && tokens[0].value[0] == 'm') {
        char which = tokens[0].value[1];
        if (which == 'e') {
            if (ntokens >= 4 && strcmp(tokens[2].value, "b") == 0)
                tokens[1].length =
                    base64_decode(tokens[1].value, tokens[1].length, tokens[1].value);
        } else {
            struct meta_flags mf = {0};
            const char *err;
            if (proto_meta_flags(tokens, which == 's' ? 3 : 2, &mf, &err) != 0)
                return false;
        }
    }
    memcpy(out, tokens[1].value, tokens[1].length);
    *nout = tokens[1].length;
    return true;
}

START_TEST(test_route_key_is_tokens_1_or_the_decoded_key_for_generated_lines)
{
    struct rng g;
    char line[4400], before[4400], want[KEY_MAX_LENGTH];
    size_t nkey_seen = 0, nwant;

    init_gen_keys();
    rng_seed(&g, 20240611);
    for (int i = 0; i < 100000; i++) {
        size_t len = gen_line(&g, line, sizeof(line));
        struct route_req again;
        memcpy(before, line, len);
        if (classify_n(line, len) != ROUTE_KEY) {
            ck_assert_mem_eq(line, before, len);
            continue;
        }
        ck_assert_mem_eq(line, before, len);
        ck_assert_uint_ge(r.nkey, 1);
        ck_assert_uint_le(r.nkey, KEY_MAX_LENGTH);
        ck_assert_msg(r.key == r.keybuf || (r.key > line && r.key + r.nkey <= line + len),
                      "key outside the line");
        ck_assert_int_eq(route_classify(line, len, MAXV, &again), ROUTE_KEY);
        ck_assert_uint_eq(again.nkey, r.nkey);
        if (!expected_key(line, len, want, &nwant))
            continue;
        ck_assert_msg(nwant == r.nkey && memcmp(want, r.key, nwant) == 0,
                      "key differs for %.*s", (int)len, line);
        nkey_seen++;
    }
    ck_assert_uint_gt(nkey_seen, 10000);
}
END_TEST

/* ---- cross-check with the command layer ---- */

static struct server srv;
static struct thread_stats ts;
static struct buf out;
static struct cmd c;

static void cmd_setup(void)
{
    struct store_config cfg = {
        .maxbytes = 64ULL * 1024 * 1024, .item_size_max = ISM, .evict_to_free = true};

    mctime_init();
    memset(&srv, 0, sizeof(srv));
    memset(&ts, 0, sizeof(ts));
    settings_defaults(&srv.settings);
    srv.settings.maxbytes = cfg.maxbytes;
    srv.settings.item_size_max = ISM;
    ck_assert_int_eq(store_create(&srv.store, &cfg), 0);
    buf_init(&out);
    cmd_init(&c, &srv, &ts, &out);
    init_gen_keys();
}

static void cmd_teardown(void)
{
    cmd_reset(&c);
    store_destroy(srv.store);
    srv.store = NULL;
    buf_free(&out);
}

/* Runs one line through the command layer (completing any data block). */
static enum cmd_next run_line(const char *line, size_t len, struct item **item_seen)
{
    char *copy = malloc(len + 1);
    enum cmd_next next;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, line, len);
    next = cmd_process_line(&c, copy, len);
    free(copy);
    if (item_seen != NULL)
        *item_seen = next == CMD_READ_VALUE ? c.item : NULL;
    return next;
}

static void finish_value(bool bad_chunk)
{
    struct item *it = c.item;

    memset(item_value(it), 'v', it->nbytes);
    if (!bad_chunk)
        memcpy(item_value(it) + it->nbytes - 2, "\r\n", 2);
    cmd_value_done(&c);
}

/* The replies in out frame as exactly one reply of kind. */
static void assert_one_reply(enum peer_reply_kind kind, const char *line, size_t len)
{
    struct peer_reply_parser p;
    size_t consumed = 0, pending = buf_pending(&out);
    int rc;

    peer_reply_init(&p, 4 * ISM);
    rc = peer_reply_frame(&p, kind, out.data + out.off, pending, &consumed);
    ck_assert_msg(rc == 1 && consumed == pending,
                  "reply of kind %d to \"%.*s\" is not one reply: \"%.*s\"", kind,
                  (int)len, line, (int)pending, out.data + out.off);
}

/* The framing contract: for every line route forwards, the command layer
 * reads or swallows exactly data_len bytes and answers one reply of the
 * announced shape (or, quiet, zero or more then the MN of an appended mn). */
static void crosscheck(const char *line, size_t len, bool bad_chunk)
{
    struct route_req rr;
    enum route_kind kind = route_classify(line, len, ISM, &rr);
    struct item *it;
    enum cmd_next next;

    buf_reset(&out);
    next = run_line(line, len, &it);
    if (kind == ROUTE_KEY) {
        if (rr.data_len > 0) {
            ck_assert_msg(next == CMD_READ_VALUE || next == CMD_SWALLOW,
                          "\"%.*s\": no data block read", (int)len, line);
            if (next == CMD_READ_VALUE) {
                ck_assert_uint_eq(it->nbytes, rr.data_len);
                /* the owner stores under exactly the key route hashed */
                ck_assert_msg(it->nkey == rr.nkey &&
                                  memcmp(item_key(it), rr.key, rr.nkey) == 0,
                              "\"%.*s\": stored under another key", (int)len, line);
                finish_value(bad_chunk);
            } else {
                ck_assert_uint_eq(c.swallow, rr.data_len);
                c.swallow = 0;
            }
        } else {
            ck_assert_msg(next == CMD_NEXT_LINE, "\"%.*s\": returned %d", (int)len, line,
                          next);
        }
        if (rr.quiet) {
            char mn[] = "mn";
            ck_assert_int_eq(cmd_process_line(&c, mn, 2), CMD_NEXT_LINE);
            assert_one_reply(PEER_REPLY_QUIET, line, len);
        } else {
            assert_one_reply(rr.reply, line, len);
        }
    } else if (kind == ROUTE_MULTIGET) {
        size_t kpos = rr.keys_off, vpos = 0, nkey, nblock, n = 0;
        const char *key, *vkey, *block;
        ck_assert_int_eq(next, CMD_NEXT_LINE);
        assert_one_reply(PEER_REPLY_GET, line, len);
        /* the hits come back in the order of route's key walk */
        while (route_next_value(out.data + out.off, buf_pending(&out), &vpos, &vkey,
                                &nkey, &block, &nblock)) {
            bool found = false;
            size_t nk;
            while (!found && route_next_key(line, len, &kpos, &key, &nk))
                found = nk == nkey && memcmp(key, vkey, nk) == 0;
            ck_assert_msg(found, "\"%.*s\": a hit route does not list", (int)len, line);
            n++;
        }
        ck_assert_uint_le(n, rr.nkeys);
        ck_assert_uint_eq(vpos + 5, buf_pending(&out));
    } else if (next == CMD_READ_VALUE) {
        finish_value(bad_chunk);
    } else if (next == CMD_SWALLOW) {
        c.swallow = 0;
    }
}

static void crosscheck_str(const char *line)
{
    crosscheck(line, strlen(line), false);
}

START_TEST(test_route_agrees_with_the_command_layer_on_chosen_lines)
{
    const char *lines[] = {
        "set k 0 0 5",
        "set k 0 0 5 noreply",
        "add k 0 0 1",
        "add k 0 0 1 noreply",
        "replace k 0 0 0",
        "append k 0 0 3",
        "prepend k 0 0 3 noreply",
        "cas k 0 0 2 1",
        "cas k 0 0 2 1 noreply",
        "set k 0 0 2000",
        "set k 0 0 2001",
        "set k 0 0 4294967297",
        "set k 0 -1 1",
        "incr k 1",
        "set n 0 0 2",
        "incr n 5",
        "decr n 100 noreply",
        "incr missing 1 noreply",
        "touch n 100",
        "touch n 1 noreply",
        "delete n",
        "delete n 0",
        "delete n noreply",
        "delete n 0 noreply",
        "delete n 1",
        "delete noreply",
        "get k",
        "gets k n missing",
        "gat 10 k",
        "gats 0 k  k   k",
        "get",
        "gat 1",
        "mg k v",
        "mg k v q",
        "mg missing v q",
        "mg k k c f t s h l O9",
        "mg Zm9v b v",
        "ms Zm9v 2 b",
        "ms Zm9v 2 b q",
        "mg Zm9v b v k",
        "ms k 2 MA",
        "ms k 2 Mx",
        "ms k 2 q Mx",
        "ms k 2 T1 T2",
        "ms k 2 C1",
        "ms k 2 I C1",
        "ms k 2 OOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOO",
        "ms k 2000",
        "ms k 2001",
        "ms k",
        "ms k x",
        "ms k 2 a b c d e f g h i j k l m n o p q r",
        "md k q",
        "md k",
        "md k C5",
        "md k I T30",
        "ma c N0 J5",
        "ma c q",
        "ma c q MD D2",
        "ma c Mx",
        "ma k",
        "me k",
        "me Zm9v b",
        "me Zm9v q",
        "mn",
        "mg k Tx",
        "mg k v v",
        "mg foo b",
        "ms foo 2 b",
        "stats",
        "version",
        "verbosity 1",
    };

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        crosscheck_str(lines[i]);
    crosscheck_str("set k 0 0 1");
    crosscheck("set k 0 0 3", 11, true); /* bad data chunk is still one reply */
    crosscheck("ms k 3 q", 8, true);
}
END_TEST

START_TEST(test_route_agrees_with_the_command_layer_on_generated_lines)
{
    struct rng g;
    char line[4400];
    size_t counts[3] = {0};

    rng_seed(&g, 77);
    for (int i = 0; i < 100000; i++) {
        size_t len = gen_line(&g, line, sizeof(line));
        struct route_req rr;
        counts[route_classify(line, len, ISM, &rr)]++;
        crosscheck(line, len, rng_below(&g, 8) == 0);
    }
    /* the generator reaches every outcome often */
    ck_assert_uint_gt(counts[ROUTE_KEY], 10000);
    ck_assert_uint_gt(counts[ROUTE_MULTIGET], 2000);
    ck_assert_uint_gt(counts[ROUTE_LOCAL], 10000);
}
END_TEST

START_TEST(test_route_get_keys_are_the_keys_the_command_layer_looks_up)
{
    size_t cap = 1000 * 24, len = 0, vpos = 0, kpos, nkey, nvkey, nblock, n = 0;
    char *line = malloc(cap);
    const char *key, *vkey, *block;

    ck_assert_ptr_nonnull(line);
    for (int i = 0; i < 1000; i++) {
        char set[64];
        len = (size_t)snprintf(set, sizeof(set), "set key:%d 0 0 3", i);
        ck_assert_int_eq(run_line(set, len, NULL), CMD_READ_VALUE);
        finish_value(false);
    }
    len = (size_t)sprintf(line, "get");
    for (int i = 0; i < 1000; i++)
        len += (size_t)sprintf(line + len, "%*skey:%d", 1 + (i * 7) % 4, "", i);
    ck_assert_int_eq(route_classify(line, len, ISM, &r), ROUTE_MULTIGET);
    ck_assert_uint_eq(r.nkeys, 1000);
    buf_reset(&out);
    ck_assert_int_eq(run_line(line, len, NULL), CMD_NEXT_LINE);
    kpos = r.keys_off;
    while (route_next_value(out.data + out.off, buf_pending(&out), &vpos, &vkey, &nvkey,
                            &block, &nblock)) {
        ck_assert(route_next_key(line, len, &kpos, &key, &nkey));
        ck_assert_uint_eq(nkey, nvkey);
        ck_assert_mem_eq(key, vkey, nkey);
        n++;
    }
    ck_assert_uint_eq(n, 1000);
    ck_assert(!route_next_key(line, len, &kpos, &key, &nkey));
    ck_assert_uint_eq(buf_pending(&out) - vpos, 5);
    ck_assert_mem_eq(out.data + out.off + vpos, "END\r\n", 5);
    free(line);
}
END_TEST

static Suite *route_crosscheck_suite(void)
{
    Suite *s = suite_create("route_crosscheck");
    TCase *tc = tcase_create("properties");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_route_key_is_tokens_1_or_the_decoded_key_for_generated_lines);
    suite_add_tcase(s, tc);

    tc = tcase_create("crosscheck");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, cmd_setup, cmd_teardown);
    tcase_add_test(tc, test_route_agrees_with_the_command_layer_on_chosen_lines);
    tcase_add_test(tc, test_route_agrees_with_the_command_layer_on_generated_lines);
    tcase_add_test(tc, test_route_get_keys_are_the_keys_the_command_layer_looks_up);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_crosscheck_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
