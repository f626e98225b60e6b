/* base64: RFC 4648 encoding; decoding is strict about length and padding. */
#include "base/base64.h"

#include <stdint.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t base64_decode(const char *src, size_t n, char *dst)
{
    size_t out = 0;

    if (n == 0 || n % 4 != 0)
        return 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)src[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (pad > 0)
                return 0; /* data after padding */
            v[j] = value_of(c);
            if (v[j] < 0)
                return 0;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        /* dst may alias src: we have read this quad before writing at most
         * three bytes, and out <= i always. */
        dst[out++] = (char)(w >> 16);
        if (pad < 2)
            dst[out++] = (char)(w >> 8 & 0xff);
        if (pad < 1)
            dst[out++] = (char)(w & 0xff);
    }
    return out;
}

size_t base64_encode(const char *src, size_t n, char *dst)
{
    size_t out = 0, i = 0;
    const unsigned char *s = (const unsigned char *)src;

    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        dst[out++] = alphabet[w >> 18];
        dst[out++] = alphabet[w >> 12 & 63];
        dst[out++] = alphabet[w >> 6 & 63];
        dst[out++] = alphabet[w & 63];
    }
    if (i < n) {
        uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        dst[out++] = alphabet[w >> 18];
        dst[out++] = alphabet[w >> 12 & 63];
        dst[out++] = i + 1 < n ? alphabet[w >> 6 & 63] : '=';
        dst[out++] = '=';
    }
    return out;
}
