/*
 * admintext: the pure text handling of the admin port: the STAT lines of
 * `stats` replies, percent-decoding of URL parts (keys), and the lines of
 * `lru_crawler metadump`.
 *
 * No I/O, no locks, no clock, no allocation: any thread.
 */
#ifndef MESHCACHED_ADMINTEXT_H
#define MESHCACHED_ADMINTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called for each "STAT <name> <value>" line: the value is the rest of the
 * line (it may hold spaces: "alive 127.0.0.1:11211 3"). */
typedef void (*admintext_stat_fn)(void *arg, const char *name, size_t nname,
                                  const char *value, size_t nvalue);

/* Walks the STAT lines of text[0..len) (lines end in "\r\n" or "\n"),
 * stopping at "END" or at the end of text; other lines are skipped.
 * Returns how many STAT lines fn saw. */
size_t admintext_stats(const char *text, size_t len, admintext_stat_fn fn, void *arg);

/* The value of STAT name in text[0..len) as an unsigned integer. Returns
 * false when the stat is missing or not a number. */
bool admintext_stat_u64(const char *text, size_t len, const char *name, uint64_t *out);

/* Whether p[0..n) starts with word. */
bool admintext_starts(const char *p, size_t n, const char *word);

/* Percent-decodes src[0..n) into dst (room for n bytes; the result is
 * never longer). '+' stays '+' (a path, not a form). Returns the decoded
 * length, or -1 for a '%' not followed by two hex digits. */
long admintext_pct_decode(const char *src, size_t n, char *dst);

/* One line of `lru_crawler metadump`. */
struct admintext_meta {
    char key[251]; /* the decoded key (not NUL-terminated: nkey) */
    size_t nkey;
    int64_t exp;   /* unix time it expires at, -1 for never */
    uint64_t cas;  /* its version */
    uint64_t size; /* bytes it takes */
};

/* Parses "key=<uri> exp=N la=N cas=N fetch=yes|no cls=1 size=N" (without
 * its newline). Returns false for anything else (a key over 250 bytes
 * included). */
bool admintext_metadump(const char *line, size_t len, struct admintext_meta *out);

#endif
