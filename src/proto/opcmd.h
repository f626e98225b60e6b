/*
 * opcmd: the pure parts of memcached's operator commands: cache_memlimit's
 * argument, lru_crawler's class lists, watch's log types, and the URI
 * encoding of keys and the line formats of lru_crawler metadump / mgdump,
 * stats cachedump and watch.
 *
 * No I/O, no locks, no clock (times are passed in): any thread.
 */
#ifndef MESHCACHED_OPCMD_H
#define MESHCACHED_OPCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPCMD_MEMLIMIT_MIN_MB 8          /* memcached's smallest cache_memlimit */
#define OPCMD_MEMLIMIT_MAX_MB 1000000000 /* above: taken for bytes, refused */
#define OPCMD_MAX_CLASS       63         /* memcached's largest slab class id */

/* The longest URI-encoded key (util_uri_encode()): 250 bytes as %XX. */
#define OPCMD_URI_KEY_MAX (3 * 250)
/* Room for one metadump or watch line (the encoded key and the numbers). */
#define OPCMD_LINE_MAX (OPCMD_URI_KEY_MAX + 256)

/* What cache_memlimit's argument is. */
enum opcmd_memlimit {
    OPCMD_MEMLIMIT_OK,            /* *bytes is the new limit */
    OPCMD_MEMLIMIT_NOT_A_NUMBER,  /* "ERROR" */
    OPCMD_MEMLIMIT_TOO_SMALL,     /* below 8 MB */
    OPCMD_MEMLIMIT_NOT_MEGABYTES, /* so large it must be bytes */
};

/* Parses cache_memlimit's megabytes as memcached does (a 32-bit unsigned
 * decimal, truncated as its safe_strtoul truncates). */
enum opcmd_memlimit opcmd_parse_memlimit(const char *arg, size_t len, uint64_t *bytes);

/*
 * Parses lru_crawler's class argument: "all", "hash", or a comma-separated
 * list of slab class ids 1..63 (empty entries skipped). meshcached keeps
 * every item in class 1: *class1 tells whether the argument selects it.
 * Returns 0, or -1 for an invalid class ("BADCLASS invalid class id").
 */
int opcmd_parse_classes(const char *arg, bool *class1);

/* The mask (LOGGER_* of base/logger.h) one watch argument names, or 0 for
 * an unknown one. */
unsigned opcmd_watch_type(const char *arg);

/* One item as the key listings show it. */
struct opcmd_item {
    const char *key;
    size_t nkey;
    int64_t exptime; /* unix time it expires at, 0 for never */
    int64_t atime;   /* unix time of its last use */
    uint64_t cas;
    bool fetched;    /* read since it was stored */
    uint64_t size;   /* bytes it takes (header, key and value) */
    uint32_t nvalue; /* value bytes, without "\r\n" */
    bool binary;     /* stored with a base64 key (meta b) */
};

/* Writes "key=<uri> exp=<unix|-1> la=<unix> cas=N fetch=yes|no cls=1
 * size=N\n" (memcached's metadump line, ending in a bare newline) to dst,
 * which holds OPCMD_LINE_MAX bytes. Returns its length. */
size_t opcmd_metadump_line(char *dst, const struct opcmd_item *it);

/* Writes "mg <key>\r\n", or "mg <base64 key> b\r\n" for a binary key, to
 * dst (OPCMD_LINE_MAX bytes): the mgdump line. Returns its length. */
size_t opcmd_mgdump_line(char *dst, const struct opcmd_item *it);

/* Writes "ITEM <key> [<value bytes> b; <unix exptime, 0 for never> s]\r\n"
 * to dst (OPCMD_LINE_MAX bytes): the stats cachedump line. Returns its
 * length. */
size_t opcmd_cachedump_line(char *dst, const struct opcmd_item *it);

#endif
