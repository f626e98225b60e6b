/*
 * hot: the node-wide state of hot-key handling, shared by the workers:
 *   - each key's write generation (by key hash, 4096 slots): bumped when a
 *     write to the key passes through this node or an owner announces one
 *     (hi), so that a get never joins a request, or fills the near cache
 *     from an answer, that was sent before the write;
 *   - the hot-key sketch (base/topk.h) that the workers sample one client
 *     request in HOT_SAMPLE_EVERY into, and the hot set published from it
 *     every HOT_PUBLISH_MS: the top -o hotkeys_k keys that hold at least
 *     1 / (8 k) of the samples (so a uniform load has no hot key);
 *   - the near cache of hot keys' values (nearcache.h), and, on owners,
 *     which keys other nodes keep in theirs (so that a write invalidates
 *     them everywhere).
 *
 * Threads: every function may be called from any worker. The generations
 * and the hot set are atomics; the sketch takes a try-lock on the sampled
 * path (a sample is dropped rather than waited for) and its lock to be
 * listed; the near cache has its own locks.
 */
#ifndef MESHCACHED_HOT_H
#define MESHCACHED_HOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOT_SAMPLE_EVERY 8    /* one client request in this many is sampled */
#define HOT_PUBLISH_MS   200  /* the hot set is recomputed this often */
#define HOT_DECAY_MS     2000 /* the sketch's counts halve this often */

struct hot;
struct buf;
struct cluster;
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

/* flush_all ran here: every near copy goes, and every generation moves
 * on (a fetch in flight must not refill one). */
void hot_flushed(struct hot *h);

/* Whether this node keeps near copies (-o hot_cache_ms and hot_cache_mb
 * both above 0). */
bool hot_near_on(const struct hot *h);

/* Appends the key's near copy to out and returns true, when there is a
 * current one. */
bool hot_near_get(struct hot *h, const char *key, size_t nkey, uint32_t hash,
                  uint64_t now_ms, struct buf *out);

/* Keeps the owner's answer reply[0..len) to a get of the key for
 * hot_cache_ms, unless a write was seen since it was sent under
 * generation gen. Returns whether it was kept. */
bool hot_near_put(struct hot *h, const char *key, size_t nkey, uint32_t hash,
                  uint64_t gen, const char *reply, size_t len, uint64_t now_ms);

/* Owner: another node fetched the key for its near cache (rh): until
 * hot_cache_ms (plus a margin) from now, a write to it here is announced
 * to every member (ri). */
void hot_mark(struct hot *h, uint32_t hash, uint64_t now_ms);
bool hot_marked(const struct hot *h, uint32_t hash, uint64_t now_ms);

/* The command layer's callbacks (struct server's near_mark, near_drop;
 * arg is the struct hot): a peer's rh marks the key, a peer's ri is
 * hot_wrote(), and key NULL (flush_all) is hot_flushed(). */
void hot_peer_mark(void *arg, const char *key, size_t nkey);
void hot_peer_drop(void *arg, const char *key, size_t nkey);

/* A sampled request for the key (the caller samples one in
 * HOT_SAMPLE_EVERY) at now_ms (mctime_mono_ms()). Never waits: dropped
 * when another worker holds the sketch. */
void hot_sample(struct hot *h, const char *key, size_t nkey, uint32_t hash,
                uint64_t now_ms);

/* Whether the key (by hash) is in the hot set. Lock-free. */
bool hot_is_hot(const struct hot *h, uint32_t hash);

/* Appends the `stats hotkeys` lines: hotkeys_k, hot_keys_tracked (counters
 * in use), near_entries and near_bytes (the near cache), then per hot-list rank i (1 =
 * hottest, at most hotkeys_k) "STAT hotkey:<i> <key> rps=<estimated requests/s>
 * role=<owner|replica| none>", the role being this node's place among the key's replicas
 * owners in cl's current ring. now_ms: mctime_mono_ms(). */
void hot_stats(struct hot *h, struct cluster *cl, unsigned replicas, uint64_t now_ms,
               struct buf *out);

#endif
