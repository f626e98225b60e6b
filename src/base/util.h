/*
 * util: strict number parsing shared by the flag parser and the protocol.
 *
 * Pure functions, callable from any thread. Each returns true and stores the
 * value on success; on failure (empty input, trailing garbage, overflow or a
 * sign where none is allowed) it returns false and leaves *out untouched.
 * They follow memcached's safe_strto* rules so that replies match: a leading
 * '-' is refused by the unsigned parsers, and the whole string must be a
 * number. The input need not be NUL-terminated: the length is explicit.
 */
#ifndef MESHCACHED_UTIL_H
#define MESHCACHED_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool util_parse_u32(const char *s, size_t len, uint32_t *out);
bool util_parse_i32(const char *s, size_t len, int32_t *out);
bool util_parse_u64(const char *s, size_t len, uint64_t *out);
bool util_parse_i64(const char *s, size_t len, int64_t *out);

/* memcached's protocol parsers read 64-bit numbers and then keep the low 32
 * bits (flags 4294967297 is stored as 1, a length of 2^32+1 reads 1 byte):
 * these do the same, so that replies match. Out-of-64-bit-range input and
 * negative unsigned input still fail. */
bool util_parse_u32_trunc(const char *s, size_t len, uint32_t *out);
bool util_parse_i32_trunc(const char *s, size_t len, int32_t *out);

/* Parses a byte size with an optional k, m or g suffix (case-insensitive,
 * powers of 1024), as memcached's -I does. */
bool util_parse_size(const char *s, size_t len, uint64_t *out);

/* Formats v in decimal at dst (at least 21 bytes); returns the length. */
size_t util_u64_to_str(uint64_t v, char *dst);

/* Writes "host:port" into buf (cap bytes), bracketing a host that holds a
 * ':' (an IPv6 address): "[::1]:11211". Returns snprintf()'s result, so a
 * value >= cap means it was truncated. */
int util_format_hostport(char *buf, size_t cap, const char *host, int port);

/*
 * URI-encodes src[0..n) into dst (which must hold 3 * n bytes) as memcached
 * does for key listings and watch lines: letters, digits and "-._~" are
 * kept, every other byte becomes %XX (upper-case hex). Returns the length
 * written (no NUL).
 */
size_t util_uri_encode(const char *src, size_t n, char *dst);

#endif
