/* util: strict decimal parsing and formatting without locale or errno games. */
#include "base/util.h"

#include <stdio.h>
#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Parses [+-]?digits as memcached's safe_strto* do (strtoull underneath):
 * leading white space is skipped, and the number may be followed by white
 * space and then anything. *neg tells the sign; the magnitude must fit in
 * 64 bits. */
static bool parse_mag(const char *s, size_t len, bool *neg, uint64_t *mag)
{
    size_t i = 0;
    uint64_t v = 0;

    while (i < len && is_space(s[i]))
        i++;
    *neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
        *neg = s[i] == '-';
        i++;
    }
    if (i == len)
        return false;
    if ((unsigned)((unsigned char)s[i] - '0') > 9)
        return false;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) {
            if (!is_space(s[i]))
                return false;
            break;
        }
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *mag = v;
    return true;
}

bool util_parse_u64(const char *s, size_t len, uint64_t *out)
{
    bool neg;
    uint64_t v;

    if (!parse_mag(s, len, &neg, &v) || (neg && v != 0))
        return false;
    *out = v;
    return true;
}

bool util_parse_u32(const char *s, size_t len, uint32_t *out)
{
    uint64_t v;

    if (!util_parse_u64(s, len, &v) || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool util_parse_i64(const char *s, size_t len, int64_t *out)
{
    bool neg;
    uint64_t v;

    if (!parse_mag(s, len, &neg, &v))
        return false;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = (int64_t)(0 - v);
    } else {
        if (v > INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

bool util_parse_i32(const char *s, size_t len, int32_t *out)
{
    int64_t v;

    if (!util_parse_i64(s, len, &v) || v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

bool util_parse_u32_trunc(const char *s, size_t len, uint32_t *out)
{
    uint64_t v;

    if (!util_parse_u64(s, len, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

bool util_parse_i32_trunc(const char *s, size_t len, int32_t *out)
{
    int64_t v;

    if (!util_parse_i64(s, len, &v))
        return false;
    *out = (int32_t)(uint32_t)(uint64_t)v;
    return true;
}

bool util_parse_size(const char *s, size_t len, uint64_t *out)
{
    uint64_t v, mult = 1;

    if (len > 0) {
        switch (s[len - 1]) {
        case 'k':
        case 'K':
            mult = 1024;
            break;
        case 'm':
        case 'M':
            mult = 1024 * 1024;
            break;
        case 'g':
        case 'G':
            mult = 1024ULL * 1024 * 1024;
            break;
        }
        if (mult != 1)
            len--;
    }
    if (!util_parse_u64(s, len, &v) || v > UINT64_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

size_t util_u64_to_str(uint64_t v, char *dst)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    dst[n] = '\0';
    return n;
}

int util_format_hostport(char *buf, size_t cap, const char *host, int port)
{
    return snprintf(buf, cap, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host,
                    port);
}

static bool uri_unreserved(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

size_t util_uri_encode(const char *src, size_t n, char *dst)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t out = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (uri_unreserved(ch)) {
            dst[out++] = (char)ch;
        } else {
            dst[out++] = '%';
            dst[out++] = hex[ch >> 4];
            dst[out++] = hex[ch & 15];
        }
    }
    return out;
}
