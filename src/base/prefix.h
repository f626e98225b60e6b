/*
 * prefix: the per-prefix counters of `stats detail` (memcached's -D): a key's
 * prefix is what comes before its first delimiter; keys without one are not
 * counted. Collected only between `stats detail on` and `stats detail off`.
 *
 * Threads: any thread; one mutex guards the table, taken only while
 * collection is on (prefix_enabled() is one relaxed load). The table holds
 * at most PREFIX_MAX prefixes: later new prefixes are not counted, so that
 * clients cannot grow it without bound.
 */
#ifndef MESHCACHED_PREFIX_H
#define MESHCACHED_PREFIX_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define PREFIX_MAX 65536

struct prefix_stats;

enum prefix_op {
    PREFIX_GET, /* a get of the key; hit says whether it was found */
    PREFIX_SET,
    PREFIX_DEL,
};

/* Returns 0 and an empty table in *out, -1 when out of memory. */
int prefix_new(char delimiter, struct prefix_stats **out);

/* Frees the table; NULL is allowed. */
void prefix_free(struct prefix_stats *ps);

/* stats detail on|off. */
void prefix_enable(struct prefix_stats *ps, bool on);
bool prefix_enabled(const struct prefix_stats *ps);

/* Counts op on key's prefix when collection is on. */
void prefix_record(struct prefix_stats *ps, const char *key, size_t nkey,
                   enum prefix_op op, bool hit);

/* Appends "PREFIX <p> get N hit N set N del N\r\n" per prefix, then "END\r\n". */
void prefix_dump(struct prefix_stats *ps, struct buf *out);

/* Forgets every prefix (stats reset). */
void prefix_clear(struct prefix_stats *ps);

/* The length of key's prefix: the bytes before the first delimiter; -1
 * when the key has none. */
long prefix_length(const char *key, size_t nkey, char delimiter);

#endif
