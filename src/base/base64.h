/*
 * base64: standard alphabet with padding, for meta commands' binary keys (b).
 * Pure functions, any thread.
 */
#ifndef MESHCACHED_BASE64_H
#define MESHCACHED_BASE64_H

#include <stddef.h>

#define BASE64_KEY_MAX 336 /* base64 of the longest key (250 bytes) */

/* Decodes n bytes of src into dst (which may equal src). Returns the decoded
 * length, or 0 when src is not valid padded base64 or decodes to nothing. */
size_t base64_decode(const char *src, size_t n, char *dst);

/* Encodes n bytes of src into dst, which must hold base64_encoded_len(n).
 * Returns the length written (no NUL). */
size_t base64_encode(const char *src, size_t n, char *dst);

static inline size_t base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

#endif
