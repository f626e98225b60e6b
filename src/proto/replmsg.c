/*
 * replmsg: the rs/rg codec replicas speak. Pure, so that cmd_repl (which
 * serves rs and rg) and repl (which sends them) share it from below.
 */
#include "proto/replmsg.h"
#include "base/util.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A key travels as is when it is a plain token, else base64 ("b"). */
static bool key_is_plain(const char *key, size_t nkey)
{
    for (size_t i = 0; i < nkey; i++)
        if ((unsigned char)key[i] <= ' ' || (unsigned char)key[i] >= 0x7f)
            return false;
    return nkey > 0;
}

static void append_key(struct buf *out, const char *key, size_t nkey, bool *b64)
{
    char enc[BASE64_KEY_MAX];

    assert(nkey <= KEY_MAX_LENGTH); /* enc holds the base64 of 250 bytes */
    *b64 = !key_is_plain(key, nkey);
    if (*b64)
        buf_append(out, enc, base64_encode(key, nkey, enc));
    else
        buf_append(out, key, nkey);
}

/* " <opts>" for a state: b (key in base64), B (the item echoes its key in
 * base64), t (tombstone), s (stale), w (a meta win token is out); nothing
 * when none applies. */
static void append_opts(struct buf *out, bool b64, uint8_t iflags)
{
    char opts[6];
    size_t n = 0;

    if (b64)
        opts[n++] = 'b';
    if (iflags & ITEM_KEY_BINARY)
        opts[n++] = 'B';
    if (iflags & ITEM_TOMBSTONE)
        opts[n++] = 't';
    if (iflags & ITEM_STALE)
        opts[n++] = 's';
    if (iflags & ITEM_TOKEN)
        opts[n++] = 'w';
    if (n > 0) {
        buf_append(out, " ", 1);
        buf_append(out, opts, n);
    }
}

/* " <flags> <exptime> <version>" */
static void append_state(struct buf *out, const struct store_state *s)
{
    buf_append(out, " ", 1);
    buf_append_u64(out, s->flags);
    buf_append(out, " ", 1);
    buf_append_u64(out, (unsigned long long)s->exptime);
    buf_append(out, " ", 1);
    buf_append_u64(out, s->version);
}

void replmsg_encode_store(struct buf *out, const char *key, size_t nkey,
                          const struct store_state *s, const char *value)
{
    bool b64;

    buf_append(out, "rs ", 3);
    append_key(out, key, nkey, &b64);
    append_state(out, s);
    buf_append(out, " ", 1);
    buf_append_u64(out, s->nvalue);
    append_opts(out, b64, s->iflags);
    buf_append(out, "\r\n", 2);
    buf_append(out, value, s->nvalue);
    buf_append(out, "\r\n", 2);
}

void replmsg_encode_get(struct buf *out, const char *key, size_t nkey)
{
    bool b64;

    buf_append(out, "rg ", 3);
    append_key(out, key, nkey, &b64);
    if (b64)
        buf_append(out, " b", 2);
    buf_append(out, "\r\n", 2);
}

void replmsg_encode_state(struct buf *out, const struct store_state *s, const char *value)
{
    buf_append(out, "VA ", 3);
    buf_append_u64(out, s->nvalue);
    append_state(out, s);
    append_opts(out, false, s->iflags);
    buf_append(out, "\r\n", 2);
    buf_append(out, value, s->nvalue);
    buf_append(out, "\r\n", 2);
}

void replmsg_encode_miss(struct buf *out)
{
    buf_append(out, "EN\r\n", 4);
}

/* Parses an opts token into *b64 and *iflags. */
static bool parse_opts(const struct token *t, bool *b64, uint8_t *iflags)
{
    for (size_t i = 0; i < t->length; i++) {
        switch (t->value[i]) {
        case 'b':
            *b64 = true;
            break;
        case 'B':
            *iflags |= ITEM_KEY_BINARY;
            break;
        case 't':
            *iflags |= ITEM_TOMBSTONE;
            break;
        case 's':
            *iflags |= ITEM_STALE;
            break;
        case 'w':
            *iflags |= ITEM_TOKEN;
            break;
        default:
            return false;
        }
    }
    return true;
}

/* The key of an rs/rg: decoded into buf when it came in base64. */
static bool parse_key(const struct token *t, bool b64, char *buf, const char **key,
                      size_t *nkey)
{
    if (!b64) {
        *key = t->value;
        *nkey = t->length;
        return t->length <= KEY_MAX_LENGTH;
    }
    if (t->length > BASE64_KEY_MAX)
        return false;
    *nkey = base64_decode(t->value, t->length, buf);
    *key = buf;
    return *nkey > 0 && *nkey <= KEY_MAX_LENGTH;
}

int replmsg_parse_store(const struct token *tokens, size_t ntokens, char *kbuf,
                        const char **key, size_t *nkey, struct store_state *s)
{
    uint64_t bytes;
    bool b64 = false;

    memset(s, 0, sizeof(*s));
    /* "rs <key> <flags> <exptime> <version> <bytes>[ <opts>]" and the
     * terminal token */
    if (ntokens < 7 || ntokens > 8 ||
        !util_parse_u32(tokens[2].value, tokens[2].length, &s->flags) ||
        !util_parse_i64(tokens[3].value, tokens[3].length, &s->exptime) ||
        s->exptime < 0 ||
        !util_parse_u64(tokens[4].value, tokens[4].length, &s->version) ||
        s->version == 0 || !util_parse_u64(tokens[5].value, tokens[5].length, &bytes) ||
        bytes > UINT32_MAX - 2 || /* the block and its "\r\n" fit an item */
        (ntokens == 8 && !parse_opts(&tokens[6], &b64, &s->iflags)) ||
        !parse_key(&tokens[1], b64, kbuf, key, nkey) ||
        ((s->iflags & ITEM_TOMBSTONE) && bytes != 0))
        return -EPROTO;
    s->nvalue = (uint32_t)bytes;
    return 0;
}

int replmsg_parse_get(const struct token *tokens, size_t ntokens, char *kbuf,
                      const char **key, size_t *nkey)
{
    bool b64 = ntokens == 4 && tokens[2].length == 1 && tokens[2].value[0] == 'b';

    if ((ntokens != 3 && !b64) || !parse_key(&tokens[1], b64, kbuf, key, nkey))
        return -EPROTO;
    return 0;
}

int replmsg_parse_state(const char *reply, size_t len, struct store_state *s,
                        const char **value)
{
    struct token tokens[8];
    char line[REPLMSG_MAX_STATE_LINE + 1];
    const char *nl = memchr(reply, '\n', len);
    size_t n, ntokens;
    uint64_t u;
    int64_t exptime;
    bool b64 = false;

    memset(s, 0, sizeof(*s));
    *value = NULL;
    if (nl == NULL || nl == reply || nl[-1] != '\r')
        return -EPROTO;
    n = (size_t)(nl - reply) - 1;
    if (n == 2 && memcmp(reply, "EN", 2) == 0)
        return 0;
    if (n >= sizeof(line))
        return -EPROTO;
    memcpy(line, reply, n);
    line[n] = '\0';
    ntokens = proto_tokenize(line, n, tokens, 8);
    /* "VA <bytes> <flags> <exptime> <version>[ <opts>]" */
    if (ntokens < 6 || ntokens > 7 || strcmp(tokens[0].value, "VA") != 0 ||
        !util_parse_u64(tokens[1].value, tokens[1].length, &u) || u > UINT32_MAX ||
        !util_parse_u32(tokens[2].value, tokens[2].length, &s->flags) ||
        !util_parse_i64(tokens[3].value, tokens[3].length, &exptime) || exptime < 0 ||
        !util_parse_u64(tokens[4].value, tokens[4].length, &s->version) ||
        s->version == 0 || (ntokens == 7 && !parse_opts(&tokens[5], &b64, &s->iflags)))
        return -EPROTO;
    s->nvalue = (uint32_t)u;
    s->exptime = exptime;
    if ((s->iflags & ITEM_TOMBSTONE) && s->nvalue != 0)
        return -EPROTO;
    if ((size_t)(nl + 1 - reply) + s->nvalue + 2 != len)
        return -EPROTO; /* peer_reply framed it: a short block is a bug */
    *value = nl + 1;
    return 0;
}
