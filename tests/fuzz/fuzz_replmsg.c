/*
 * fuzz_replmsg: arbitrary bytes through the rs/rg codec, whole as an rg
 * answer, and their first line (split as cmd_process_line() splits it) as
 * the tokens of an rs and of an rg.
 *
 * Checks: no crash or undefined behaviour (the sanitizers); what a parser
 * accepts is within the contract (versions not 0, keys of 1..250 bytes,
 * tombstones without a value, the answer's block filling the input); the
 * parsers leave their input alone; and what parses, encoded again, parses
 * back to the same key and state, the encoding being canonical (encoding
 * that again gives the same bytes).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "proto/proto.h"
#include "proto/replmsg.h"
#include "store/item.h"
#include "store/store.h"

#define VALUE_CAP  4096 /* longest value the round trips build */
#define OPT_IFLAGS (ITEM_KEY_BINARY | ITEM_TOMBSTONE | ITEM_STALE | ITEM_TOKEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_replmsg: invariant broken: %s\n", what);
        abort();
    }
}

static int same_state(const struct store_state *a, const struct store_state *b)
{
    return a->version == b->version && a->flags == b->flags && a->exptime == b->exptime &&
           a->nvalue == b->nvalue && a->iflags == b->iflags;
}

static void check_state(const struct store_state *s, uint32_t max_nvalue)
{
    check(s->version != 0, "version 0 accepted");
    check(s->exptime >= 0, "negative exptime accepted");
    check(s->nvalue <= max_nvalue, "length beyond the bound accepted");
    check((s->iflags & ~OPT_IFLAGS) == 0, "iflags beyond the opts");
    check(!(s->iflags & ITEM_TOMBSTONE) || s->nvalue == 0, "tombstone with a value");
}

static void check_key(const char *key, size_t nkey, const struct token *t,
                      const char *kbuf)
{
    check(nkey >= 1 && nkey <= KEY_MAX_LENGTH, "key length");
    check(key == kbuf || (key == t->value && nkey == t->length),
          "key neither the token nor the decoded buffer");
}

/* A line split into tokens, as a connection hands it to the command layer. */
struct line {
    char *text;
    size_t len;
    struct token tokens[PROTO_MAX_TOKENS];
    size_t ntokens;
};

static int split(struct line *l, const char *p, size_t len)
{
    l->text = malloc(len + 1);
    if (l->text == NULL)
        return -1;
    memcpy(l->text, p, len);
    l->len = len;
    l->ntokens = proto_tokenize(l->text, len, l->tokens, PROTO_MAX_TOKENS);
    return 0;
}

/* The first line of b (without "\r\n"), which must end with "\r\n". */
static size_t first_line(const struct buf *b)
{
    const char *nl = memchr(b->data, '\n', b->len);

    check(nl != NULL && nl > b->data && nl[-1] == '\r',
          "encoded line not ended by \\r\\n");
    return (size_t)(nl - b->data) - 1;
}

/* The rg answer: parse, check, encode, parse again, encode again. */
static void fuzz_answer(const char *in, size_t size)
{
    struct store_state s, s2;
    const char *value, *value2;
    struct buf b, b2;
    int rc = replmsg_parse_state(in, size, &s, &value);

    check(rc == 0 || rc == -EPROTO, "unexpected return value");
    if (rc != 0) {
        check(value == NULL, "value set on a refused answer");
        return;
    }
    buf_init(&b);
    buf_init(&b2);
    if (value == NULL) {
        check(s.version == 0 && s.nvalue == 0 && s.iflags == 0, "EN is not empty");
        check(size >= 4 && memcmp(in, "EN\r\n", 4) == 0,
              "EN accepted for something else");
        replmsg_encode_miss(&b);
        check(!b.oom && b.len == 4, "EN encoding");
        check(replmsg_parse_state(b.data, b.len, &s2, &value2) == 0 && s2.version == 0,
              "EN does not parse back");
        goto out;
    }
    check_state(&s, UINT32_MAX);
    check(value > in && (size_t)(value - in) + s.nvalue + 2 == size,
          "block does not fill the answer");
    /* The two bytes after the block are not looked at: peer_reply, which
     * framed the answer, checked that they are "\r\n". */
    replmsg_encode_state(&b, &s, value);
    if (b.oom)
        goto out;
    check(replmsg_parse_state(b.data, b.len, &s2, &value2) == 0,
          "encoded answer does not parse");
    check(same_state(&s, &s2), "answer state differs after a round trip");
    check(memcmp(value, value2, s.nvalue) == 0,
          "answer value differs after a round trip");
    replmsg_encode_state(&b2, &s2, value2);
    check(b2.oom || (b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0),
          "answer encoding not canonical");
out:
    buf_free(&b);
    buf_free(&b2);
}

/* The rs tokens: parse, check, encode (the value capped), parse again. */
static void fuzz_store(const struct line *l, const char *rest, size_t nrest)
{
    char kbuf[REPLMSG_KEY_BUF], kbuf2[REPLMSG_KEY_BUF];
    const char *key, *key2;
    size_t nkey, nkey2, n;
    struct store_state s, s2;
    struct line l2;
    struct buf b, b2;
    char *value;
    int rc = replmsg_parse_store(l->tokens, l->ntokens, kbuf, &key, &nkey, &s);

    check(rc == 0 || rc == -EPROTO, "unexpected return value");
    if (rc != 0)
        return;
    check_state(&s, UINT32_MAX - 2);
    check_key(key, nkey, &l->tokens[1], kbuf);

    /* A state with a value this process can hold: the rest of the input. */
    s.nvalue %= VALUE_CAP;
    value = malloc(s.nvalue + 1);
    if (value == NULL)
        return;
    n = nrest < s.nvalue ? nrest : s.nvalue;
    memcpy(value, rest, n);
    memset(value + n, 'v', s.nvalue - n);
    buf_init(&b);
    buf_init(&b2);
    replmsg_encode_store(&b, key, nkey, &s, value);
    if (b.oom || split(&l2, b.data, first_line(&b)) != 0)
        goto out;
    n = l2.len + 2;
    check(b.len == n + s.nvalue + 2 && memcmp(b.data + n, value, s.nvalue) == 0 &&
              memcmp(b.data + n + s.nvalue, "\r\n", 2) == 0,
          "rs block");
    check(replmsg_parse_store(l2.tokens, l2.ntokens, kbuf2, &key2, &nkey2, &s2) == 0,
          "encoded rs does not parse");
    check(nkey2 == nkey && memcmp(key, key2, nkey) == 0,
          "rs key differs after a round trip");
    check(same_state(&s, &s2), "rs state differs after a round trip");
    replmsg_encode_store(&b2, key2, nkey2, &s2, value);
    check(b2.oom || (b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0),
          "rs encoding not canonical");
    free(l2.text);
out:
    buf_free(&b);
    buf_free(&b2);
    free(value);
}

/* The rg tokens: parse, check, encode, parse again. */
static void fuzz_get(const struct line *l)
{
    char kbuf[REPLMSG_KEY_BUF], kbuf2[REPLMSG_KEY_BUF];
    const char *key, *key2;
    size_t nkey, nkey2;
    struct line l2;
    struct buf b, b2;
    int rc = replmsg_parse_get(l->tokens, l->ntokens, kbuf, &key, &nkey);

    check(rc == 0 || rc == -EPROTO, "unexpected return value");
    if (rc != 0)
        return;
    check_key(key, nkey, &l->tokens[1], kbuf);
    buf_init(&b);
    buf_init(&b2);
    replmsg_encode_get(&b, key, nkey);
    if (b.oom || split(&l2, b.data, first_line(&b)) != 0)
        goto out;
    check(l2.len + 2 == b.len, "rg is more than a line");
    check(replmsg_parse_get(l2.tokens, l2.ntokens, kbuf2, &key2, &nkey2) == 0,
          "encoded rg does not parse");
    check(nkey2 == nkey && memcmp(key, key2, nkey) == 0,
          "rg key differs after a round trip");
    replmsg_encode_get(&b2, key2, nkey2);
    check(b2.oom || (b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0),
          "rg encoding not canonical");
    free(l2.text);
out:
    buf_free(&b);
    buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly sized copies, so that ASan sees any read past them. */
    char *in = malloc(size > 0 ? size : 1), *saved;
    const char *nl;
    size_t len, rest;
    struct line l;
    struct token tokens[PROTO_MAX_TOKENS];

    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    fuzz_answer(in, size);
    check(memcmp(in, data, size) == 0, "answer parser modified its input");

    /* The first line, as conn hands it over: without "\r\n", cut at a NUL. */
    nl = memchr(in, '\n', size);
    len = nl != NULL ? (size_t)(nl - in) : size;
    rest = nl != NULL ? size - len - 1 : 0;
    if (len > 0 && in[len - 1] == '\r')
        len--;
    len = strnlen(in, len);
    if (split(&l, in, len) != 0)
        goto out;
    saved = malloc(len + 1);
    if (saved == NULL) {
        free(l.text);
        goto out;
    }
    memcpy(saved, l.text, len + 1);
    memcpy(tokens, l.tokens, sizeof(tokens));
    fuzz_store(&l, nl != NULL ? nl + 1 : in + size, rest);
    fuzz_get(&l);
    check(memcmp(saved, l.text, len + 1) == 0 &&
              memcmp(tokens, l.tokens, l.ntokens * sizeof(tokens[0])) == 0,
          "token parser modified its input");
    free(saved);
    free(l.text);
out:
    free(in);
    return 0;
}
