/*
 * hot: the node-wide state of hot-key handling, shared by the workers:
 *   - each key's write generation (by key hash, 4096 slots): bumped when a
 *     write to the key passes through this node or an owner announces one
 *     (hi), so that a get never joins a request, or fills the near cache
 *     from an answer, that was sent before the write;
 *   - the hot-key sketch (topk.h) that the workers sample their requests
 *     into, and the hot set published from it;
 *   - the near cache of hot keys' values (nearcache.h), and, on owners,
 *     which keys other nodes keep in theirs (so that a write invalidates
 *     them everywhere).
 *
 * Threads: every function may be called from any worker. The generations
 * are atomics; the sketch takes a try-lock on the sampled path (a sample is
 * dropped rather than waited for) and a lock to be read; the near cache
 * has its own locks (nearcache.h).
 */
#ifndef MESHCACHED_HOT_H
#define MESHCACHED_HOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hot;
struct settings;

/* The node's hot-key state for these settings; 0 or -ENOMEM. */
int hot_new(const struct settings *s, struct hot **out);

/* NULL is a no-op. No worker may use it any more. */
void hot_free(struct hot *h);

/* The key's write generation (hash: ring_hash() of the key). */
uint64_t hot_gen(const struct hot *h, uint32_t hash);

/* A write to the key passes through this node, or an owner announced one:
 * the generation moves on and the near copy, if any, is dropped. */
void hot_wrote(struct hot *h, const char *key, size_t nkey, uint32_t hash);

#endif
