/*
 * nearcache: a non-owner's copies of hot keys' answers (the owner's whole
 * get reply, "VALUE ... END" or a miss's "END"), each for a short time and
 * valid only while the key's write generation (hot.h) is the one it was
 * fetched under.
 *
 * Bounded by bytes (keys, replies and headers): a put that would go over
 * is refused after the expired copies of its stripe are freed. Threads:
 * any; 64 stripes by key hash, each with its own mutex (held for a lookup
 * or a copy of one reply).
 */
#ifndef MESHCACHED_NEARCACHE_H
#define MESHCACHED_NEARCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct nearcache;

/* An empty cache of at most max_bytes; 0 or -ENOMEM. */
int nearcache_new(size_t max_bytes, struct nearcache **out);

/* NULL is a no-op. */
void nearcache_free(struct nearcache *nc);

/* Appends the key's copy to out and returns true when there is one made
 * under generation gen that has not expired at now_ms; else false. */
bool nearcache_get(struct nearcache *nc, const char *key, size_t nkey, uint32_t hash,
                   uint64_t gen, uint64_t now_ms, struct buf *out);

/* Keeps reply[0..len) for the key until expires_ms, made under gen,
 * replacing any older copy. Returns 0, -ENOSPC over the bound, or -ENOMEM
 * (nothing kept). */
int nearcache_put(struct nearcache *nc, const char *key, size_t nkey, uint32_t hash,
                  uint64_t gen, uint64_t expires_ms, const char *reply, size_t len,
                  uint64_t now_ms);

/* Drops the key's copy, if any; with key NULL, every copy (flush_all). */
void nearcache_drop(struct nearcache *nc, const char *key, size_t nkey, uint32_t hash);

/* Copies held and their bytes. */
size_t nearcache_count(const struct nearcache *nc);
size_t nearcache_bytes(const struct nearcache *nc);

#endif
