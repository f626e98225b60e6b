/*
 * route: classifies command lines for forwarding by replaying the command
 * layer's own checks (same tokenizer, same parsers, same order) on a copy.
 */
#include "proto/route.h"
#include "base/base64.h"
#include "proto/proto.h"
#include "base/util.h"

#include <limits.h>
#include <string.h>

/* Longest non-get line classified; memcached itself keeps at most 2048. */
#define ROUTE_MAX_LINE 4096

static bool tok_is(const struct token *t, const char *s)
{
    return t->length == strlen(s) && memcmp(t->value, s, t->length) == 0;
}

/* A run of non-space bytes at or after p, or false at the end of the line. */
static bool next_word(const char *line, size_t len, size_t *p, size_t *start, size_t *n)
{
    const char *key;

    if (!route_next_key(line, len, p, &key, n))
        return false;
    *start = (size_t)(key - line);
    return true;
}

static bool is_get_word(const char *w, size_t n)
{
    return (n == 3 && (memcmp(w, "get", 3) == 0 || memcmp(w, "gat", 3) == 0)) ||
           (n == 4 && (memcmp(w, "gets", 4) == 0 || memcmp(w, "gats", 4) == 0));
}

/* get/gets/gat/gats, walked in place: such a line may be megabytes long. */
static enum route_kind classify_get(const char *line, size_t len, size_t cmd, size_t ncmd,
                                    size_t pos, struct route_req *r)
{
    const char *key;
    size_t start, n;

    r->cmd = line + cmd;
    r->ncmd = ncmd;
    r->return_cas = ncmd == 4;
    r->touch = line[cmd + 1] == 'a';
    if (r->touch) {
        if (!next_word(line, len, &pos, &start, &n) ||
            !util_parse_i32_trunc(line + start, n, &r->touch_time))
            return ROUTE_LOCAL;
        r->exptime = line + start;
        r->nexptime = n;
    }
    r->keys_off = pos;
    while (route_next_key(line, len, &pos, &key, &n)) {
        if (n > KEY_MAX_LENGTH)
            return ROUTE_LOCAL; /* a CLIENT_ERROR, whichever node answers */
        r->nkeys++;
    }
    /* No key: "get" is an ERROR and "gat 0" an empty END, both local. */
    return r->nkeys > 0 ? ROUTE_MULTIGET : ROUTE_LOCAL;
}

/* The key (tokens[1] of the copy) as a pointer into the original line. */
static void set_key(struct route_req *r, const char *line, const char *copy,
                    const struct token *t)
{
    r->key = line + (t->value - copy);
    r->nkey = t->length;
}

/* set, add, replace, append, prepend, cas: process_update's checks. */
static enum route_kind classify_update(const struct token *tokens, size_t ntokens,
                                       bool cas, uint32_t item_size_max,
                                       struct route_req *r)
{
    uint32_t flags;
    int32_t exptime, vlen;
    uint64_t req_cas;

    if (ntokens != (cas ? 7u : 6u) && ntokens != (cas ? 8u : 7u))
        return ROUTE_LOCAL;
    if (tokens[1].length > KEY_MAX_LENGTH ||
        !util_parse_u32_trunc(tokens[2].value, tokens[2].length, &flags) ||
        !util_parse_i32_trunc(tokens[3].value, tokens[3].length, &exptime) ||
        !util_parse_i32_trunc(tokens[4].value, tokens[4].length, &vlen))
        return ROUTE_LOCAL;
    if (cas && !util_parse_u64(tokens[5].value, tokens[5].length, &req_cas))
        return ROUTE_LOCAL;
    if (vlen < 0 || vlen > INT_MAX - 2 || (uint32_t)vlen > item_size_max)
        return ROUTE_LOCAL;
    r->data_len = (uint64_t)vlen + 2;
    r->noreply = r->quiet = proto_noreply(tokens, ntokens);
    r->write = true;
    return ROUTE_KEY;
}

/* incr, decr, touch, delete: one line back, no data block. */
static enum route_kind classify_keyed(const struct token *tokens, size_t ntokens,
                                      struct route_req *r)
{
    const struct token *cmd = &tokens[0];
    uint64_t delta;
    int32_t exptime;
    bool noreply = false;

    if (tok_is(cmd, "incr") || tok_is(cmd, "decr")) {
        if ((ntokens != 4 && ntokens != 5) ||
            !util_parse_u64(tokens[2].value, tokens[2].length, &delta))
            return ROUTE_LOCAL;
        noreply = proto_noreply(tokens, ntokens);
    } else if (tok_is(cmd, "touch")) {
        if ((ntokens != 4 && ntokens != 5) ||
            !util_parse_i32_trunc(tokens[2].value, tokens[2].length, &exptime))
            return ROUTE_LOCAL;
        noreply = proto_noreply(tokens, ntokens);
    } else if (tok_is(cmd, "delete")) {
        if (ntokens < 3 || ntokens > 5)
            return ROUTE_LOCAL;
        /* process_delete looks for noreply only past "delete <key>" */
        if (ntokens > 3) {
            bool zero = tok_is(&tokens[2], "0");
            noreply = proto_noreply(tokens, ntokens);
            if (!((ntokens == 4 && (zero || noreply)) ||
                  (ntokens == 5 && zero && noreply)))
                return ROUTE_LOCAL;
        }
    } else {
        return ROUTE_LOCAL;
    }
    if (tokens[1].length > KEY_MAX_LENGTH)
        return ROUTE_LOCAL;
    r->noreply = r->quiet = noreply;
    r->write = true;
    return ROUTE_KEY;
}

/* Decodes a base64 key into r->keybuf; false when the owner would refuse it. */
static bool decode_key(struct route_req *r)
{
    size_t n;

    /* KEY_MAX_LENGTH encoded bytes decode to at most 3/4 as many */
    if (r->nkey > KEY_MAX_LENGTH)
        return false;
    n = base64_decode(r->key, r->nkey, r->keybuf);
    if (n == 0 || n > KEY_MAX_LENGTH)
        return false;
    r->key = r->keybuf;
    r->nkey = n;
    return true;
}

/* mg, ms, md, ma, me: the checks of meta_start, process_ms and process_me. */
static enum route_kind classify_meta(const struct token *tokens, size_t ntokens,
                                     uint32_t item_size_max, struct route_req *r)
{
    char which = tokens[0].value[1];
    size_t first_flag = 2;
    bool binary = false;
    int32_t vlen;

    if (ntokens < 3 || tokens[1].length > KEY_MAX_LENGTH)
        return ROUTE_LOCAL;
    r->reply = PEER_REPLY_META;
    if (which == 'e') {
        /* me has no flags: only "me <key> b" makes the key base64 */
        if (ntokens >= 4 && tok_is(&tokens[2], "b") && !decode_key(r))
            return ROUTE_LOCAL;
        return ROUTE_KEY;
    }
    if (which != 'g' && which != 's' && which != 'd' && which != 'a')
        return ROUTE_LOCAL;
    if (ntokens > PROTO_META_MAX_TOKENS)
        return ROUTE_LOCAL;
    if (which == 's') {
        /* Errors before the length is parsed leave the block unread. */
        if (ntokens == 3 ||
            !util_parse_i32_trunc(tokens[2].value, tokens[2].length, &vlen) || vlen < 0 ||
            vlen > INT_MAX - 2 || (uint32_t)vlen > item_size_max)
            return ROUTE_LOCAL;
        r->data_len = (uint64_t)vlen + 2;
        first_flag = 3;
    }
    /* Any other flag error is one error line (after the block, for ms). */
    for (size_t i = first_flag; i < ntokens - 1; i++) {
        if (tokens[i].value[0] == 'q')
            r->quiet = true;
        else if (tokens[i].value[0] == 'b')
            binary = true;
        else if (tokens[i].value[0] == 'N' || tokens[i].value[0] == 'T')
            r->write = true; /* mg: creates the item, or touches it */
        else if (tokens[i].value[0] == 'R')
            r->lease = true; /* mg: may win the recache */
    }
    if (which != 'g')
        r->write = true;
    else
        r->meta_get = true;
    if (binary && !decode_key(r))
        return ROUTE_LOCAL;
    return ROUTE_KEY;
}

enum route_kind route_classify(const char *line, size_t len, uint32_t item_size_max,
                               struct route_req *r)
{
    char copy[ROUTE_MAX_LINE + 1];
    struct token tokens[PROTO_MAX_TOKENS];
    const struct token *cmd = &tokens[0];
    size_t ntokens, pos = 0, start, n;
    enum route_kind kind;
    const char *nul = memchr(line, '\0', len);

    memset(r, 0, sizeof(*r));
    if (nul != NULL)
        len = (size_t)(nul - line);
    if (!next_word(line, len, &pos, &start, &n)) {
        kind = ROUTE_LOCAL;
    } else if (is_get_word(line + start, n)) {
        kind = classify_get(line, len, start, n, pos, r);
    } else if (len > ROUTE_MAX_LINE) {
        kind = ROUTE_LOCAL;
    } else {
        memcpy(copy, line, len);
        ntokens = proto_tokenize(copy, len, tokens, PROTO_MAX_TOKENS);
        if (ntokens < 3 || cmd->length < 2)
            return ROUTE_LOCAL; /* nothing names a key */
        set_key(r, line, copy, &tokens[1]);
        r->reply = PEER_REPLY_LINE;
        if (cmd->length == 2 && cmd->value[0] == 'm')
            kind = cmd->value[1] == 'n'
                       ? ROUTE_LOCAL
                       : classify_meta(tokens, ntokens, item_size_max, r);
        else if (tok_is(cmd, "set") || tok_is(cmd, "add") || tok_is(cmd, "replace") ||
                 tok_is(cmd, "append") || tok_is(cmd, "prepend") || tok_is(cmd, "cas"))
            kind = classify_update(tokens, ntokens, tok_is(cmd, "cas"), item_size_max, r);
        else
            kind = classify_keyed(tokens, ntokens, r);
    }
    if (kind == ROUTE_LOCAL)
        memset(r, 0, sizeof(*r)); /* no half-filled answer to misread */
    r->kind = kind;
    return kind;
}

bool route_next_key(const char *line, size_t len, size_t *pos, const char **key,
                    size_t *nkey)
{
    size_t i = *pos, start;

    while (i < len && line[i] == ' ')
        i++;
    *pos = i;
    if (i >= len || line[i] == '\0')
        return false;
    start = i;
    while (i < len && line[i] != ' ' && line[i] != '\0')
        i++;
    *key = line + start;
    *nkey = i - start;
    *pos = i;
    return true;
}

/* Unsigned decimal without sign or spaces, at most max. */
static bool parse_num(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* The next token of s[0..n) at *off, ending at a single space or at n. */
static bool split(const char *s, size_t n, size_t *off, const char **tok, size_t *len)
{
    const char *sp;

    if (*off > n)
        return false;
    *tok = s + *off;
    sp = memchr(*tok, ' ', n - *off);
    *len = sp != NULL ? (size_t)(sp - *tok) : n - *off;
    *off += *len + 1;
    return true;
}

bool route_next_value(const char *buf, size_t len, size_t *pos, const char **key,
                      size_t *nkey, const char **block, size_t *nblock)
{
    const char *s, *nl, *tok, *k;
    size_t n, off = 0, tlen, nk, avail, hdr;
    uint64_t flags, bytes, cas;

    if (*pos >= len)
        return false;
    s = buf + *pos;
    avail = len - *pos;
    /* a VALUE line is far shorter than a peer reply line may be */
    nl = memchr(s, '\n', avail < PEER_REPLY_MAX_LINE ? avail : PEER_REPLY_MAX_LINE);
    if (nl == NULL || nl == s || nl[-1] != '\r')
        return false;
    n = (size_t)(nl - s) - 1;
    hdr = n + 2;
    if (!split(s, n, &off, &tok, &tlen) || tlen != 5 || memcmp(tok, "VALUE", 5) != 0)
        return false;
    if (!split(s, n, &off, &k, &nk) || nk == 0 || nk > KEY_MAX_LENGTH)
        return false;
    if (!split(s, n, &off, &tok, &tlen) || !parse_num(tok, tlen, UINT32_MAX, &flags))
        return false;
    if (!split(s, n, &off, &tok, &tlen) || !parse_num(tok, tlen, SIZE_MAX, &bytes))
        return false;
    if (split(s, n, &off, &tok, &tlen) && !parse_num(tok, tlen, UINT64_MAX, &cas))
        return false;
    if (off <= n) /* something after the cas */
        return false;
    if (avail - hdr < 2 || avail - hdr - 2 < bytes)
        return false;
    if (s[hdr + bytes] != '\r' || s[hdr + bytes + 1] != '\n')
        return false;
    *key = k;
    *nkey = nk;
    *block = s;
    *nblock = hdr + (size_t)bytes + 2;
    *pos += *nblock;
    return true;
}
