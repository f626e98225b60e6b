/* proto: memcached's tokenizing and meta-flag rules, reproduced exactly. */
#include "proto/proto.h"
#include "base/base64.h"
#include "base/util.h"

#include <string.h>

size_t proto_tokenize(char *line, size_t len, struct token *tokens, size_t max)
{
    char *s = line, *e = line, *end = line + len;
    size_t n = 0;

    *end = '\0';
    for (; e < end; e++) {
        if (*e != ' ')
            continue;
        if (s != e) {
            tokens[n].value = s;
            tokens[n].length = (size_t)(e - s);
            n++;
            *e = '\0';
            if (n == max - 1) {
                e++;
                s = e;
                break;
            }
        }
        s = e + 1;
    }
    if (s != e) {
        tokens[n].value = s;
        tokens[n].length = (size_t)(e - s);
        n++;
    }
    tokens[n].value = e < end ? e : NULL;
    tokens[n].length = 0;
    return n + 1;
}

bool proto_noreply(const struct token *tokens, size_t ntokens)
{
    const struct token *t;

    if (ntokens < 2)
        return false;
    t = &tokens[ntokens - 2];
    return t->value != NULL && t->length == 7 && memcmp(t->value, "noreply", 7) == 0;
}

static bool parse_i32_tok(const struct token *t, int32_t *out)
{
    return util_parse_i32_trunc(t->value + 1, t->length - 1, out);
}

static bool parse_u64_tok(const struct token *t, uint64_t *out)
{
    return util_parse_u64(t->value + 1, t->length - 1, out);
}

int proto_meta_flags(struct token *tokens, size_t start, struct meta_flags *mf,
                     const char **errstr)
{
    static const char bad_token[] = "CLIENT_ERROR bad token in command line format";
    bool seen[128] = {false};

    for (size_t i = start; tokens[i].length != 0; i++) {
        struct token *t = &tokens[i];
        unsigned char o = (unsigned char)t->value[0];
        size_t n;

        if (o >= 127 || seen[o]) {
            *errstr = "CLIENT_ERROR duplicate flag";
            return -1;
        }
        seen[o] = true;
        switch (o) {
        case 'b':
            n = base64_decode(tokens[1].value, tokens[1].length, tokens[1].value);
            if (n == 0) {
                *errstr = "CLIENT_ERROR error decoding key";
                mf->has_error = true;
            }
            tokens[1].length = n;
            mf->key_binary = true;
            break;
        case 'N':
            mf->vivify = true;
            if (!parse_i32_tok(t, &mf->autoviv_ttl)) {
                *errstr = bad_token;
                mf->has_error = true;
            }
            break;
        case 'T':
            if (!parse_i32_tok(t, &mf->ttl)) {
                *errstr = bad_token;
                mf->has_error = true;
            } else {
                mf->new_ttl = true;
            }
            break;
        case 'R':
            mf->recache = true;
            if (!parse_i32_tok(t, &mf->recache_ttl)) {
                *errstr = bad_token;
                mf->has_error = true;
            }
            break;
        case 'l':
        case 'h':
        case 'O':
        case 'P':
        case 'L':
        case 'k':
        case 's':
        case 't':
        case 'c':
        case 'f':
            break;
        case 'v':
            mf->value = true;
            break;
        case 'u':
            mf->no_update = true;
            break;
        case 'q':
            mf->no_reply = true;
            break;
        case 'F':
            if (!util_parse_u32_trunc(t->value + 1, t->length - 1, &mf->client_flags))
                mf->has_error = true;
            break;
        case 'C':
            if (!parse_u64_tok(t, &mf->req_cas)) {
                *errstr = bad_token;
                mf->has_error = true;
            } else {
                mf->has_cas = true;
            }
            break;
        case 'E':
            /* Explicit CAS for the new version (newer memcached; used by
             * replication to give every replica the same version). */
            if (!parse_u64_tok(t, &mf->new_cas) || mf->new_cas == 0) {
                *errstr = bad_token;
                mf->has_error = true;
            } else {
                mf->has_new_cas = true;
            }
            break;
        case 'M':
            if (t->length != 2) {
                *errstr = "CLIENT_ERROR incorrect length for M token";
                mf->has_error = true;
            } else {
                mf->mode = t->value[1];
            }
            break;
        case 'J':
            if (!parse_u64_tok(t, &mf->initial)) {
                *errstr = "CLIENT_ERROR invalid numeric initial value";
                mf->has_error = true;
            }
            break;
        case 'D':
            if (!parse_u64_tok(t, &mf->delta)) {
                *errstr = "CLIENT_ERROR invalid numeric delta value";
                mf->has_error = true;
            }
            break;
        case 'I':
            mf->set_stale = true;
            break;
        default:
            *errstr = "CLIENT_ERROR invalid flag";
            return -1;
        }
    }
    return mf->has_error ? -1 : 0;
}
