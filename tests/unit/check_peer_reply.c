/* check_peer_reply: framing of relayed replies; a framing bug desynchronises
 * every later reply on a peer connection, so each kind is fed whole, split
 * at every byte, back to back and broken in every way we know. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peer_reply.h"

#define MAXV   1024
#define S(x)   x, sizeof(x) - 1
#define KLINE  PEER_REPLY_LINE
#define KMETA  PEER_REPLY_META
#define KGET   PEER_REPLY_GET
#define KSTAT  PEER_REPLY_STATS
#define KQUIET PEER_REPLY_QUIET

static int frame_once(enum peer_reply_kind kind, const char *buf, size_t len,
                      size_t *consumed)
{
    struct peer_reply_parser p;

    peer_reply_init(&p, MAXV);
    return peer_reply_frame(&p, kind, buf, len, consumed);
}

/* buf[0..len) is exactly one reply: framed whole, fed one more byte at a
 * time to one parser, and each prefix to a fresh parser. */
static void assert_reply(enum peer_reply_kind kind, const char *buf, size_t len)
{
    struct peer_reply_parser p;
    size_t consumed = 0, i;

    ck_assert_int_eq(frame_once(kind, buf, len, &consumed), 1);
    ck_assert_uint_eq(consumed, len);

    peer_reply_init(&p, MAXV);
    for (i = 0; i < len; i++) {
        size_t fresh = 0;
        ck_assert_int_eq(peer_reply_frame(&p, kind, buf, i, &consumed), 0);
        ck_assert_int_eq(frame_once(kind, buf, i, &fresh), 0);
    }
    consumed = 0;
    ck_assert_int_eq(peer_reply_frame(&p, kind, buf, len, &consumed), 1);
    ck_assert_uint_eq(consumed, len);
}

/* buf[0..len) cannot start a reply of this kind: refused whole, and fed a
 * byte at a time it never completes and, once refused, stays refused. */
static void assert_malformed(enum peer_reply_kind kind, const char *buf, size_t len)
{
    struct peer_reply_parser p;
    size_t consumed = 0, i;
    int rc = 0;

    ck_assert_int_eq(frame_once(kind, buf, len, &consumed), -EPROTO);
    peer_reply_init(&p, MAXV);
    for (i = 0; i <= len; i++) {
        int now = peer_reply_frame(&p, kind, buf, i, &consumed);
        ck_assert_int_ne(now, 1);
        if (rc == -EPROTO)
            ck_assert_int_eq(now, -EPROTO);
        rc = now;
    }
    ck_assert_int_eq(rc, -EPROTO);
}

START_TEST(test_peer_reply_line_kind_frames_one_line)
{
    static const char *const lines[] = {
        "STORED\r\n",      "NOT_STORED\r\n",
        "EXISTS\r\n",      "NOT_FOUND\r\n",
        "DELETED\r\n",     "TOUCHED\r\n",
        "OK\r\n",          "18446744073709551615\r\n",
        "VERSION 1.6\r\n", "MN\r\n",
        "HD c123 t-1\r\n", "NS\r\n",
        "EX\r\n",          "NF\r\n",
        "EN\r\n",          "VALUE looks odd\r\n",
    };
    size_t i;

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_reply(KLINE, lines[i], strlen(lines[i]));
}
END_TEST

START_TEST(test_peer_reply_meta_plain_lines_are_whole_replies)
{
    assert_reply(KMETA, S("HD\r\n"));
    assert_reply(KMETA, S("HD f30 s5 c99 Oopaque\r\n"));
    assert_reply(KMETA, S("EN\r\n"));
    assert_reply(KMETA, S("MN\r\n"));
    assert_reply(KMETA, S("NS\r\n"));
    assert_reply(KMETA, S("VAX\r\n")); /* first token is not VA */
}
END_TEST

START_TEST(test_peer_reply_meta_va_is_followed_by_its_data)
{
    assert_reply(KMETA, S("VA 5\r\nhello\r\n"));
    assert_reply(KMETA, S("VA 5 f1 t-1 c7\r\nhello\r\n"));
    assert_reply(KMETA, S("VA 6\r\n\r\nEN\r\n\r\n"));
    assert_reply(KMETA, S("VA 3 b\r\n\0\n\r\r\n"));
}
END_TEST

START_TEST(test_peer_reply_meta_va_0_has_an_empty_block)
{
    struct peer_reply_parser p;
    size_t consumed;

    assert_reply(KMETA, S("VA 0\r\n\r\n"));
    assert_reply(KMETA, S("VA 0 s0\r\n\r\n"));
    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(peer_reply_frame(&p, KMETA, S("VA 0\r\n\r\n"), &consumed), 1);
    ck_assert_uint_eq(p.nvalues, 1);
    ck_assert(!p.error);
}
END_TEST

START_TEST(test_peer_reply_get_frames_values_then_end)
{
    struct peer_reply_parser p;
    size_t consumed;

    assert_reply(KGET, S("END\r\n"));
    assert_reply(KGET, S("VALUE foo 0 3\r\nbar\r\nEND\r\n"));
    assert_reply(KGET,
                 S("VALUE foo 4294967295 3 18446744073709551615\r\nbar\r\nEND\r\n"));
    assert_reply(KGET, S("VALUE e 0 0\r\n\r\nEND\r\n"));
    assert_reply(KGET, S("VALUE a 1 1\r\nA\r\nVALUE b 2 2 9\r\nBB\r\n"
                         "VALUE c 3 0\r\n\r\nEND\r\n"));

    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(
        peer_reply_frame(&p, KGET, S("VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nEND\r\n"),
                         &consumed),
        1);
    ck_assert_uint_eq(p.nvalues, 2);
    ck_assert(!p.error);
}
END_TEST

START_TEST(test_peer_reply_get_data_may_hold_end_and_line_breaks)
{
    assert_reply(KGET, S("VALUE k 0 7\r\n\r\nEND\r\n\r\nEND\r\n"));
    assert_reply(KGET, S("VALUE k 0 12\r\nVALUE k 0 3\n\r\nEND\r\n"));
    assert_reply(KGET, S("VALUE k 0 4\r\n\0\0\r\0\r\nEND\r\n"));
}
END_TEST

START_TEST(test_peer_reply_get_key_up_to_250_bytes)
{
    char buf[400];
    int n;

    n = snprintf(
        buf, sizeof(buf), "VALUE %.*s 0 1\r\nx\r\nEND\r\n", PEER_REPLY_MAX_KEY,
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
    assert_reply(KGET, buf, (size_t)n);
    n = snprintf(
        buf, sizeof(buf), "VALUE %.*sk 0 1\r\nx\r\nEND\r\n", PEER_REPLY_MAX_KEY,
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
    assert_malformed(KGET, buf, (size_t)n);
}
END_TEST

START_TEST(test_peer_reply_stats_frames_stat_lines_then_end)
{
    assert_reply(KSTAT, S("END\r\n"));
    assert_reply(KSTAT, S("STAT pid 1\r\nEND\r\n"));
    assert_reply(KSTAT, S("STAT pid 1\r\nSTAT version 1.6 x\r\nSTAT items:1:number 3\r\n"
                          "END\r\n"));
}
END_TEST

START_TEST(test_peer_reply_error_lines_end_every_kind)
{
    static const char *const errs[] = {
        "ERROR\r\n",
        "ERROR unknown command\r\n",
        "CLIENT_ERROR bad data chunk\r\n",
        "SERVER_ERROR out of memory storing object\r\n",
    };
    enum peer_reply_kind k;
    size_t i;

    for (k = KLINE; k <= KSTAT; k++) {
        for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
            struct peer_reply_parser p;
            size_t consumed = 0, len = strlen(errs[i]);

            assert_reply(k, errs[i], len);
            peer_reply_init(&p, MAXV);
            ck_assert_int_eq(peer_reply_frame(&p, k, errs[i], len, &consumed), 1);
            ck_assert(p.error);
            ck_assert_uint_eq(consumed, len);
        }
    }
}
END_TEST

START_TEST(test_peer_reply_error_after_values_ends_a_get_and_is_reported)
{
    static const char r[] = "VALUE a 0 1\r\nA\r\nSERVER_ERROR out of memory\r\nEND\r\n";
    struct peer_reply_parser p;
    size_t consumed = 0;

    assert_reply(KGET, r, sizeof(r) - 1 - 5);
    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(peer_reply_frame(&p, KGET, S(r), &consumed), 1);
    ck_assert_uint_eq(consumed, sizeof(r) - 1 - 5);
    ck_assert(p.error);
    ck_assert_uint_eq(p.nvalues, 1);

    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(
        peer_reply_frame(&p, KSTAT, S("STAT a 1\r\nSERVER_ERROR x\r\n"), &consumed), 1);
    ck_assert(p.error);
}
END_TEST

START_TEST(test_peer_reply_error_like_lines_are_not_errors)
{
    struct peer_reply_parser p;
    size_t consumed;

    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(peer_reply_frame(&p, KLINE, S("ERRORS\r\n"), &consumed), 1);
    ck_assert(!p.error);
    assert_malformed(KGET, S("ERRORS\r\n"));
    assert_malformed(KGET, S("CLIENT_ERROR\r\n"));
    assert_malformed(KSTAT, S("SERVER_ERROR\r\n"));
}
END_TEST

START_TEST(test_peer_reply_pipelined_replies_frame_one_at_a_time)
{
    static const char r[] = "VALUE a 0 5\r\nEND\r\n\r\nEND\r\n"
                            "END\r\n"
                            "VALUE b 0 1\r\nB\r\nEND\r\n";
    static const char m[] = "VA 2\r\nHD\r\nHD\r\nEN\r\nVA 0\r\n\r\n";
    static const size_t rlen[] = {25, 5, 21};
    static const size_t mlen[] = {10, 4, 4, 8};
    struct peer_reply_parser p;
    size_t off = 0, consumed, i;

    peer_reply_init(&p, MAXV);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(
            peer_reply_frame(&p, KGET, r + off, sizeof(r) - 1 - off, &consumed), 1);
        ck_assert_uint_eq(consumed, rlen[i]);
        off += consumed;
    }
    ck_assert_uint_eq(off, sizeof(r) - 1);

    off = 0;
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(
            peer_reply_frame(&p, KMETA, m + off, sizeof(m) - 1 - off, &consumed), 1);
        ck_assert_uint_eq(consumed, mlen[i]);
        off += consumed;
    }
    ck_assert_uint_eq(off, sizeof(m) - 1);
    ck_assert_int_eq(peer_reply_frame(&p, KMETA, m + off, 0, &consumed), 0);
}
END_TEST

START_TEST(test_peer_reply_pipelined_stream_split_at_every_byte)
{
    /* One parser, a stream arriving a byte at a time, replies consumed as
     * soon as they are whole: the forwarding loop of a peer connection. */
    static const char r[] = "STAT a 1\r\nEND\r\nSTAT b 2\r\nSTAT c 3\r\nEND\r\nEND\r\n";
    struct peer_reply_parser p;
    size_t start = 0, have, consumed, n = 0;

    peer_reply_init(&p, MAXV);
    for (have = 0; have <= sizeof(r) - 1; have++) {
        int rc = peer_reply_frame(&p, KSTAT, r + start, have - start, &consumed);
        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            start += consumed;
            n++;
        }
    }
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(start, sizeof(r) - 1);
}
END_TEST

START_TEST(test_peer_reply_malformed_lines_are_refused)
{
    enum peer_reply_kind k;

    for (k = KLINE; k <= KSTAT; k++) {
        assert_malformed(k, S("\r\n"));     /* empty line */
        assert_malformed(k, S("\n"));       /* bare newline */
        assert_malformed(k, S("STORED\n")); /* no \r */
        assert_malformed(k, S("END\n"));    /* no \r */
        assert_malformed(k, S("ERROR\n"));  /* no \r */
    }
}
END_TEST

START_TEST(test_peer_reply_junk_lines_are_refused_not_relayed)
{
    static const char *const junk[] = {"stored\r\n",
                                       " STORED\r\n",
                                       "\x7f"
                                       "EN\r\n",
                                       "\xc3\xa9\r\n",
                                       "x\ry\r\n",
                                       "\tHD\r\n"};

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_malformed(KLINE, junk[i], strlen(junk[i]));
        assert_malformed(KMETA, junk[i], strlen(junk[i]));
    }
    assert_malformed(KLINE, S("\x00\x80\xff\r\n"));
    assert_malformed(KMETA, S("\x00\x80\xff\r\n"));
    assert_malformed(KLINE, S("\x00OK\r\n"));
    assert_malformed(KQUIET, S("HD\r\n\x00junk\r\nMN\r\n"));
    /* what replies look like, keys with high bytes included, still pass */
    assert_reply(KLINE, S("NOT_STORED\r\n"));
    assert_reply(KLINE, S("18446744073709551615\r\n"));
    assert_reply(KMETA, S("HD k\xc3\xa9 O123 c9\r\n"));
    assert_reply(KMETA, S("ME k\t exp=-1 la=0\r\n")); /* a key may hold a tab */
    assert_reply(KQUIET, S("NS\r\nHD\r\nMN\r\n"));
}
END_TEST

START_TEST(test_peer_reply_malformed_va_is_refused)
{
    assert_malformed(KMETA, S("VA\r\n"));
    assert_malformed(KMETA, S("VA \r\n"));
    assert_malformed(KMETA, S("VA  5\r\nhello\r\n"));
    assert_malformed(KMETA, S("VA -1\r\n"));
    assert_malformed(KMETA, S("VA +1\r\nx\r\n"));
    assert_malformed(KMETA, S("VA 5x\r\nhello\r\n"));
    assert_malformed(KMETA, S("VA x\r\n"));
    assert_malformed(KMETA, S("VA 18446744073709551616\r\n"));
    assert_malformed(KMETA, S("VA 5\r\nhelloXX"));   /* data not followed by \r\n */
    assert_malformed(KMETA, S("VA 5\r\nhello\n\r")); /* swapped */
    assert_malformed(KMETA, S("VA 0\r\nX\r\n"));
}
END_TEST

START_TEST(test_peer_reply_malformed_get_is_refused)
{
    assert_malformed(KGET, S("STORED\r\n"));
    assert_malformed(KGET, S("END \r\n"));
    assert_malformed(KGET, S("end\r\n"));
    assert_malformed(KGET, S("VALUE\r\n"));
    assert_malformed(KGET, S("VALUE k\r\n"));
    assert_malformed(KGET, S("VALUE k 0\r\n"));
    assert_malformed(KGET, S("VALUE k 0 \r\n"));
    assert_malformed(KGET, S("VALUE k 0 3 \r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k 0 3 1 2\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE  k 0 3\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k  0 3\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k x 3\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k -1 3\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k 4294967296 3\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k 0 3x\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k 0 3 c\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k 0 3 18446744073709551616\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUEk 0 3\r\nabc\r\nEND\r\n"));
    assert_malformed(KGET, S("VALUE k 0 3\r\nabcd\r\nEND\r\n")); /* longer data */
    assert_malformed(KGET, S("VALUE k 0 3\r\nab\r\nEND\r\n"));   /* shorter data */
    assert_malformed(KGET, S("VALUE k 0 1\r\nA\r\nSTORED\r\n")); /* no END */
    assert_malformed(KGET, S("STAT pid 1\r\nEND\r\n"));
}
END_TEST

START_TEST(test_peer_reply_malformed_stats_is_refused)
{
    assert_malformed(KSTAT, S("STAT\r\n"));
    assert_malformed(KSTAT, S("STAT \r\n"));
    assert_malformed(KSTAT, S("STATS x\r\n"));
    assert_malformed(KSTAT, S("STAT a 1\r\nOK\r\n"));
    assert_malformed(KSTAT, S("VALUE k 0 1\r\nA\r\nEND\r\n"));
    assert_malformed(KSTAT, S("STAT a 1\r\nEND\n"));
}
END_TEST

START_TEST(test_peer_reply_value_above_max_value_is_refused)
{
    char buf[64];
    int n;

    n = snprintf(buf, sizeof(buf), "VALUE k 0 %u\r\n", MAXV + 1);
    assert_malformed(KGET, buf, (size_t)n);
    n = snprintf(buf, sizeof(buf), "VA %u\r\n", MAXV + 1);
    assert_malformed(KMETA, buf, (size_t)n);
}
END_TEST

START_TEST(test_peer_reply_value_of_exactly_max_value_is_framed)
{
    static char buf[MAXV + 64];
    struct peer_reply_parser p;
    size_t consumed = 0;
    int n;

    n = snprintf(buf, sizeof(buf), "VALUE k 0 %u\r\n", MAXV);
    memset(buf + n, 'v', MAXV);
    memcpy(buf + n + MAXV, "\r\nEND\r\n", 7);
    assert_reply(KGET, buf, (size_t)n + MAXV + 7);

    /* max_value 0 admits only empty values */
    peer_reply_init(&p, 0);
    ck_assert_int_eq(peer_reply_frame(&p, KMETA, S("VA 0\r\n\r\n"), &consumed), 1);
    peer_reply_init(&p, 0);
    ck_assert_int_eq(peer_reply_frame(&p, KMETA, S("VA 1\r\nx\r\n"), &consumed), -EPROTO);
}
END_TEST

START_TEST(test_peer_reply_line_limit_includes_crlf)
{
    static char buf[PEER_REPLY_MAX_LINE + 16];
    enum peer_reply_kind k;

    for (k = KLINE; k <= KSTAT; k++) {
        size_t len = PEER_REPLY_MAX_LINE;
        memset(buf, 'x', sizeof(buf));
        memcpy(buf, k == KSTAT ? "STAT " : "ERROR ", k == KSTAT ? 5 : 6);
        memcpy(buf + len - 2, "\r\n", 2);
        if (k == KSTAT) {
            memcpy(buf + len, "END\r\n", 5);
            assert_reply(k, buf, len + 5);
        } else {
            assert_reply(k, buf, len);
        }
        /* one byte longer */
        buf[len - 2] = 'x';
        memcpy(buf + len - 1, "\r\n", 2);
        assert_malformed(k, buf, len + 1);
        /* no line end at all: refused once the limit is reached */
        memset(buf + 6, 'x', sizeof(buf) - 6);
        assert_malformed(k, buf, PEER_REPLY_MAX_LINE);
        {
            size_t consumed;
            ck_assert_int_eq(frame_once(k, buf, PEER_REPLY_MAX_LINE - 1, &consumed), 0);
        }
    }
}
END_TEST

START_TEST(test_peer_reply_quiet_kind_ends_at_mn_only)
{
    struct peer_reply_parser p;
    size_t consumed = 0;
    static const char both[] = "CLIENT_ERROR bad command line format\r\nMN\r\n";

    assert_reply(KQUIET, S("MN\r\n"));
    assert_reply(KQUIET, S("HD\r\nMN\r\n"));
    assert_reply(KQUIET, S("VA 5 f1\r\nhello\r\nEN\r\nMN\r\n"));
    assert_reply(KQUIET, S("SERVER_ERROR out of memory\r\nERROR\r\nMN\r\n"));
    /* an error line does not end a quiet reply, but is noted */
    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(peer_reply_frame(&p, KQUIET, S(both), &consumed), 1);
    ck_assert_uint_eq(consumed, sizeof(both) - 1);
    ck_assert(p.error);
    ck_assert_uint_eq(p.nvalues, 0);
    /* VA data that looks like MN is data */
    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(peer_reply_frame(&p, KQUIET, S("VA 2\r\nMN\r\nMN\r\n"), &consumed),
                     1);
    ck_assert_uint_eq(consumed, 14);
    ck_assert_uint_eq(p.nvalues, 1);
    ck_assert(!p.error);
}
END_TEST

START_TEST(test_peer_reply_malformed_quiet_is_refused)
{
    assert_malformed(KQUIET, S("\r\nMN\r\n"));
    assert_malformed(KQUIET, S("HD\nMN\r\n"));
    assert_malformed(KQUIET, S("VA x\r\nMN\r\n"));
    assert_malformed(KQUIET, S("VA 2\r\nabcMN\r\n"));
}
END_TEST

START_TEST(test_peer_reply_failure_is_sticky_until_init)
{
    struct peer_reply_parser p;
    size_t consumed;

    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(peer_reply_frame(&p, KLINE, S("\r\n"), &consumed), -EPROTO);
    ck_assert_int_eq(peer_reply_frame(&p, KLINE, S("OK\r\n"), &consumed), -EPROTO);
    peer_reply_init(&p, MAXV);
    ck_assert_int_eq(peer_reply_frame(&p, KLINE, S("OK\r\n"), &consumed), 1);
    ck_assert_uint_eq(consumed, 4);
}
END_TEST

START_TEST(test_peer_reply_unknown_kind_is_refused)
{
    size_t consumed;

    ck_assert_int_eq(frame_once((enum peer_reply_kind)42, S("OK\r\n"), &consumed),
                     -EPROTO);
}
END_TEST

static Suite *peer_reply_suite(void)
{
    Suite *s = suite_create("peer_reply");
    TCase *tc;

    tc = tcase_create("complete");
    tcase_add_test(tc, test_peer_reply_line_kind_frames_one_line);
    tcase_add_test(tc, test_peer_reply_meta_plain_lines_are_whole_replies);
    tcase_add_test(tc, test_peer_reply_meta_va_is_followed_by_its_data);
    tcase_add_test(tc, test_peer_reply_meta_va_0_has_an_empty_block);
    tcase_add_test(tc, test_peer_reply_get_frames_values_then_end);
    tcase_add_test(tc, test_peer_reply_get_data_may_hold_end_and_line_breaks);
    tcase_add_test(tc, test_peer_reply_get_key_up_to_250_bytes);
    tcase_add_test(tc, test_peer_reply_stats_frames_stat_lines_then_end);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_peer_reply_error_lines_end_every_kind);
    tcase_add_test(tc, test_peer_reply_error_after_values_ends_a_get_and_is_reported);
    tcase_add_test(tc, test_peer_reply_error_like_lines_are_not_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("pipelined");
    tcase_add_test(tc, test_peer_reply_pipelined_replies_frame_one_at_a_time);
    tcase_add_test(tc, test_peer_reply_pipelined_stream_split_at_every_byte);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, test_peer_reply_malformed_lines_are_refused);
    tcase_add_test(tc, test_peer_reply_malformed_va_is_refused);
    tcase_add_test(tc, test_peer_reply_malformed_get_is_refused);
    tcase_add_test(tc, test_peer_reply_malformed_stats_is_refused);
    tcase_add_test(tc, test_peer_reply_value_above_max_value_is_refused);
    tcase_add_test(tc, test_peer_reply_value_of_exactly_max_value_is_framed);
    tcase_add_test(tc, test_peer_reply_line_limit_includes_crlf);
    tcase_add_test(tc, test_peer_reply_quiet_kind_ends_at_mn_only);
    tcase_add_test(tc, test_peer_reply_malformed_quiet_is_refused);
    tcase_add_test(tc, test_peer_reply_junk_lines_are_refused_not_relayed);
    tcase_add_test(tc, test_peer_reply_failure_is_sticky_until_init);
    tcase_add_test(tc, test_peer_reply_unknown_kind_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(peer_reply_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
