/*
 * fuzz_meta_flags: the pure parsing layer: tokenizing a line, parsing meta
 * flags from it (including in-place base64 key decoding) and the base64
 * codec on its own.
 *
 * Checks: no crash or undefined behaviour; the tokenizer's invariants; a
 * failed parse always names an error; base64 round trips and never writes
 * more than the decoded length.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_meta_flags: invariant broken: %s\n", what);
        abort();
    }
}

static void check_tokens(const char *line, size_t len, const struct token *t, size_t n,
                         size_t max)
{
    check(n >= 1 && n <= max, "token count out of range");
    for (size_t i = 0; i + 1 < n; i++) {
        check(t[i].length > 0, "empty token before the terminal");
        check(t[i].value >= line && t[i].value + t[i].length <= line + len,
              "token outside the line");
        check(memchr(t[i].value, ' ', t[i].length) == NULL, "space inside a token");
        check(t[i].value[t[i].length] == '\0', "token not NUL-terminated");
    }
    check(t[n - 1].length == 0, "terminal token has a length");
    check(t[n - 1].value == NULL ||
              (t[n - 1].value >= line && t[n - 1].value < line + len),
          "terminal token points outside the line");
    check(t[n - 1].value == NULL || n == max, "rest left over below the token cap");
}

static void fuzz_base64(const uint8_t *data, size_t size)
{
    size_t enc_len = base64_encoded_len(size);
    char *enc = malloc(enc_len + 1), *dec = malloc(size + 1), *exact;
    size_t n, m;

    if (enc == NULL || dec == NULL)
        goto out;
    /* encode then decode is the identity */
    n = base64_encode((const char *)data, size, enc);
    check(n == enc_len, "encoded length differs from base64_encoded_len");
    if (size > 0) {
        m = base64_decode(enc, n, dec);
        check(m == size && memcmp(dec, data, size) == 0, "round trip changed the bytes");
    }
    /* decoding arbitrary input writes at most 3 bytes per 4 (exact buffer
     * so that the sanitizer sees any overrun) */
    exact = malloc(size / 4 * 3 + 1);
    if (exact != NULL) {
        m = base64_decode((const char *)data, size, exact);
        check(m <= size / 4 * 3, "decoded more than 3/4 of the input");
        check(m == 0 || size % 4 == 0, "accepted a length that is not whole quads");
        free(exact);
    }
out:
    free(enc);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct token tokens[PROTO_MAX_TOKENS + 1];
    struct meta_flags mf;
    const char *err;
    size_t n, start;
    char *line;

    fuzz_base64(data, size);

    line = malloc(size + 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    n = proto_tokenize(line, size, tokens, PROTO_MAX_TOKENS);
    check_tokens(line, size, tokens, n, PROTO_MAX_TOKENS);
    (void)proto_noreply(tokens, n);

    /* As the meta commands do: flags after the key (mg, md, ma) or after
     * the length (ms), only when there is a key. */
    if (n >= 3) {
        size_t key_len = tokens[1].length;
        start = n >= 4 && tokens[0].length == 2 && tokens[0].value[1] == 's' ? 3 : 2;
        memset(&mf, 0, sizeof(mf));
        err = NULL;
        if (proto_meta_flags(tokens, start, &mf, &err) != 0) {
            /* F without a message is the one case that leaves err alone */
            check(err != NULL || mf.has_error, "failure without a reason");
            check(err == NULL || strncmp(err, "CLIENT_ERROR ", 13) == 0,
                  "error is not a CLIENT_ERROR line");
        } else {
            check(!mf.has_error, "success with has_error set");
        }
        if (mf.key_binary)
            check(tokens[1].length <= key_len / 4 * 3, "decoded key longer than 3/4");
        else
            check(tokens[1].length == key_len, "key changed without b");
    }
    free(line);
    return 0;
}
