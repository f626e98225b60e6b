/*
 * proto: the pure part of the memcached ASCII protocol: splitting a command
 * line into tokens exactly as memcached does, and parsing meta-command flags.
 *
 * No I/O, no locks, no clock: safe from any thread, and fuzzed.
 */
#ifndef MESHCACHED_PROTO_H
#define MESHCACHED_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAX_TOKENS      24   /* per tokenizing pass, as memcached */
#define PROTO_META_MAX_TOKENS 20   /* meta commands: command, key, flags, terminal */
#define PROTO_META_MAX_OPAQUE 32   /* including the leading 'O' */
#define PROTO_MAX_LINE_NOGET  2048 /* longest unterminated non-get line kept */

struct token {
    char *value;   /* NUL-terminated in place; NULL only in a final token */
    size_t length; /* 0 marks the final (terminal) token */
};

/*
 * Splits line[0..len) on single spaces, in place (spaces become NULs), into
 * at most max-1 tokens plus a terminal token of length 0 whose value is NULL
 * when the whole line was consumed, or points at the unconsumed rest.
 * Returns the number of tokens including the terminal one. `line[len]` must
 * be writable and is set to NUL.
 */
size_t proto_tokenize(char *line, size_t len, struct token *tokens, size_t max);

/* True when tokens[ntokens-2] is "noreply" (memcached's set_noreply_maybe). */
bool proto_noreply(const struct token *tokens, size_t ntokens);

/* Parsed meta-command flags (mg, ms, md, ma). Times are the client's raw
 * values; the caller converts them to server time. */
struct meta_flags {
    bool has_error;
    bool no_update;        /* u */
    bool vivify;           /* N */
    bool value;            /* v */
    bool set_stale;        /* I */
    bool no_reply;         /* q */
    bool has_cas;          /* C */
    bool has_new_cas;      /* E: explicit CAS for the modified item */
    bool new_ttl;          /* T */
    bool recache;          /* R */
    bool key_binary;       /* b */
    char mode;             /* M */
    int32_t ttl;           /* T */
    int32_t autoviv_ttl;   /* N */
    int32_t recache_ttl;   /* R */
    uint32_t client_flags; /* F */
    uint64_t req_cas;      /* C */
    uint64_t new_cas;      /* E */
    uint64_t delta;        /* D */
    uint64_t initial;      /* J */
};

/*
 * Parses the flags in tokens[start..] (up to the terminal token) into *mf,
 * which the caller has zeroed and given its defaults. A 'b' flag base64-
 * decodes tokens[1] (the key) in place. Returns 0, or -1 with *errstr set to
 * memcached's error line for the problem found (the last one when
 * several tokens are bad, as in memcached).
 */
int proto_meta_flags(struct token *tokens, size_t start, struct meta_flags *mf,
                     const char **errstr);

#endif
