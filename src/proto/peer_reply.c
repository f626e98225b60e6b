/*
 * peer_reply: framing of memcached ASCII replies relayed between nodes.
 * Validates just enough (headers, lengths, terminators) to never lose sync.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "proto/peer_reply.h"

void peer_reply_init(struct peer_reply_parser *p, size_t max_value)
{
    memset(p, 0, sizeof(*p));
    p->max_value = max_value;
}

static int fail(struct peer_reply_parser *p)
{
    p->failed = true;
    return -EPROTO;
}

static int finish(struct peer_reply_parser *p, size_t end, size_t *consumed)
{
    p->done = true;
    *consumed = end;
    return 1;
}

/* Unsigned decimal, no sign, no spaces, at most max. */
static bool parse_num(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0)
        return false;
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Splits off the next token of s[0..n) at *off; tokens are separated by
 * exactly one space, so an empty token (two spaces, a trailing space) is
 * returned as such and refused by the callers. */
static bool next_token(const char *s, size_t n, size_t *off, const char **tok,
                       size_t *toklen)
{
    const char *sp;

    if (*off > n)
        return false;
    *tok = s + *off;
    sp = memchr(*tok, ' ', n - *off);
    *toklen = sp ? (size_t)(sp - *tok) : n - *off;
    *off += *toklen + 1; /* past the space, or one past n at the end */
    return true;
}

static bool token_is(const char *tok, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(tok, want, len) == 0;
}

static bool is_error_line(const char *s, size_t n)
{
    if (n >= 5 && memcmp(s, "ERROR", 5) == 0)
        return n == 5 || s[5] == ' ';
    return (n >= 13 && memcmp(s, "CLIENT_ERROR ", 13) == 0) ||
           (n >= 13 && memcmp(s, "SERVER_ERROR ", 13) == 0);
}

/* A reply line other than a data block's starts with a capital letter or
 * a digit (STORED, HD, VA, 42...). A peer that sends anything else (binary
 * junk, a NUL) has lost the protocol: relaying the line would hand its
 * junk to a client as a reply. (Only the first byte: a key echoed in a
 * reply may hold any byte but a space, control bytes included.) */
static bool plain_line(const char *s, size_t n)
{
    unsigned char first = n > 0 ? (unsigned char)s[0] : 0;

    return (first >= 'A' && first <= 'Z') || (first >= '0' && first <= '9');
}

static size_t value_bound(const struct peer_reply_parser *p)
{
    /* Keep pos + data_len + 2 from overflowing whatever max_value says. */
    return p->max_value < SIZE_MAX - PEER_REPLY_MAX_LINE ? p->max_value
                                                         : SIZE_MAX - PEER_REPLY_MAX_LINE;
}

/* "VALUE <key> <flags> <bytes>[ <cas>]": sets *bytes, or returns false. */
static bool parse_value_line(const struct peer_reply_parser *p, const char *s, size_t n,
                             size_t *bytes)
{
    const char *tok;
    size_t len, off = 0;
    uint64_t v;

    if (!next_token(s, n, &off, &tok, &len) || !token_is(tok, len, "VALUE"))
        return false;
    if (!next_token(s, n, &off, &tok, &len) || len == 0 || len > PEER_REPLY_MAX_KEY)
        return false;
    if (!next_token(s, n, &off, &tok, &len) || !parse_num(tok, len, UINT32_MAX, &v))
        return false;
    if (!next_token(s, n, &off, &tok, &len) || !parse_num(tok, len, value_bound(p), &v))
        return false;
    *bytes = (size_t)v;
    if (next_token(s, n, &off, &tok, &len)) {
        uint64_t cas;
        if (!parse_num(tok, len, UINT64_MAX, &cas))
            return false;
    }
    return off > n; /* nothing after the cas */
}

/* "VA <n>[ <flags>]": sets *bytes, or returns false. */
static bool parse_va_line(const struct peer_reply_parser *p, const char *s, size_t n,
                          size_t *bytes)
{
    const char *tok;
    size_t len, off = 3;
    uint64_t v;

    if (!next_token(s, n, &off, &tok, &len) || !parse_num(tok, len, value_bound(p), &v))
        return false;
    *bytes = (size_t)v;
    return true;
}

/*
 * Finds the line starting at p->pos. Returns 1 with *n = its length without
 * "\r\n", 0 when its end has not arrived, -EPROTO when it is too long or
 * its '\n' has no '\r' before it.
 */
static int next_line(struct peer_reply_parser *p, const char *buf, size_t len, size_t *n)
{
    size_t limit =
        len - p->pos < PEER_REPLY_MAX_LINE ? len : p->pos + PEER_REPLY_MAX_LINE;
    const char *nl;

    if (p->scan < p->pos)
        p->scan = p->pos;
    nl = p->scan < limit ? memchr(buf + p->scan, '\n', limit - p->scan) : NULL;
    if (nl == NULL) {
        p->scan = limit;
        return limit - p->pos == PEER_REPLY_MAX_LINE ? -EPROTO : 0;
    }
    *n = (size_t)(nl - (buf + p->pos));
    if (*n == 0 || buf[p->pos + *n - 1] != '\r')
        return -EPROTO;
    (*n)--;
    return 1;
}

int peer_reply_frame(struct peer_reply_parser *p, enum peer_reply_kind kind,
                     const char *buf, size_t len, size_t *consumed)
{
    if (p->failed)
        return -EPROTO;
    if (p->done)
        peer_reply_init(p, p->max_value);

    for (;;) {
        const char *s;
        size_t n, end;
        int rc;

        if (p->in_data) {
            size_t avail = len - p->pos;
            if (avail < 2 || avail - 2 < p->data_len)
                return 0;
            if (buf[p->pos + p->data_len] != '\r' ||
                buf[p->pos + p->data_len + 1] != '\n')
                return fail(p);
            p->pos += p->data_len + 2;
            p->in_data = false;
            p->nvalues++;
            if (kind == PEER_REPLY_META)
                return finish(p, p->pos, consumed);
            continue;
        }

        rc = next_line(p, buf, len, &n);
        if (rc == 0)
            return 0;
        if (rc < 0)
            return fail(p);
        s = buf + p->pos;
        end = p->pos + n + 2;
        if (kind == PEER_REPLY_QUIET) {
            /* Replies to quiet commands, each a line or a VA block, until
             * the MN of the appended mn; errors do not end them. */
            if (token_is(s, n, "MN"))
                return finish(p, end, consumed);
            if (!plain_line(s, n))
                return fail(p);
            if (is_error_line(s, n))
                p->error = true;
            else if (n >= 2 && memcmp(s, "VA", 2) == 0 && (n == 2 || s[2] == ' ')) {
                if (!parse_va_line(p, s, n, &p->data_len))
                    return fail(p);
                p->in_data = true;
            }
            p->pos = end;
            continue;
        }
        if (is_error_line(s, n)) {
            p->error = true;
            return finish(p, end, consumed);
        }

        switch (kind) {
        case PEER_REPLY_LINE:
            if (!plain_line(s, n))
                return fail(p);
            return finish(p, end, consumed);
        case PEER_REPLY_META:
            if (!plain_line(s, n))
                return fail(p);
            if (n >= 2 && memcmp(s, "VA", 2) == 0 && (n == 2 || s[2] == ' ')) {
                if (!parse_va_line(p, s, n, &p->data_len))
                    return fail(p);
                p->in_data = true;
                p->pos = end;
                continue;
            }
            return finish(p, end, consumed);
        case PEER_REPLY_GET:
            if (token_is(s, n, "END"))
                return finish(p, end, consumed);
            if (!parse_value_line(p, s, n, &p->data_len))
                return fail(p);
            p->in_data = true;
            p->pos = end;
            continue;
        case PEER_REPLY_QUIET:
            break; /* handled above */
        case PEER_REPLY_STATS:
            if (token_is(s, n, "END"))
                return finish(p, end, consumed);
            if (n <= 5 || memcmp(s, "STAT ", 5) != 0)
                return fail(p);
            p->pos = end;
            continue;
        }
        return fail(p); /* not a kind */
    }
}
