/*
 * store: the sharded hash table of items, eviction under a hard memory
 * limit, and expiry (lazy on access plus a background sampler).
 *
 * Threads: any thread may call any function. Keys are spread over
 * STORE_SHARDS shards by hash; each shard has one mutex protecting its table,
 * its items and its counters. Functions named do_* require the caller to
 * hold the shard's lock (from store_lock()) and never take another shard's
 * lock (only the store's own, inside it). Eviction runs with no shard lock
 * held, in store_alloc(), and takes one shard lock at a time.
 *
 * Memory: items are packed into segments (large ones held alone), and the
 * segments, large items and hash tables charged never exceed the
 * configured limit (store_internal.h has the design). store_alloc() makes
 * room by evicting (or fails with -M, which only compacts): the oldest
 * segment goes first, keeping the items used since they were stored.
 * An item returned by store_alloc() belongs to the caller until it is
 * linked (the store owns it from then on, and it may live elsewhere: the
 * link returns where) or handed back with store_release().
 */
#ifndef MESHCACHED_STORE_H
#define MESHCACHED_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "store/item.h"

struct logger;

#define STORE_SHARD_BITS 8
#define STORE_SHARDS     (1u << STORE_SHARD_BITS)

struct store;
struct store_shard;

struct store_config {
    uint64_t maxbytes;      /* hard limit for items and tables; atomic, see
                             * store_set_mem_limit() */
    uint32_t item_size_max; /* largest value (without "\r\n") accepted */
    bool evict_to_free;     /* false: fail allocations when full (-M) */
    /* replication (a cluster with copies on several nodes) */
    bool hlc;               /* CAS values are hybrid logical clock versions */
    uint32_t version_tag;   /* with hlc: this node's tag (version_tag()) */
    bool tombstones;        /* deletes leave tombstones */
    uint32_t tombstone_ttl; /* seconds a tombstone is kept */
    struct logger *logger;  /* told of evictions (watch evictions); may be NULL */
};

/* Why store_alloc() failed. */
enum store_alloc_err {
    STORE_ALLOC_OK = 0,
    STORE_ALLOC_TOO_LARGE, /* bigger than item_size_max */
    STORE_ALLOC_NOMEM,     /* no room and nothing (allowed) to evict */
};

/* Why do_store_find() found nothing. */
enum store_miss {
    STORE_MISS_NONE,    /* never there (or already gone) */
    STORE_MISS_EXPIRED, /* was there but expired: reclaimed now */
    STORE_MISS_FLUSHED, /* was there but flushed: reclaimed now */
};

/* Counters summed over all shards by store_get_stats(). */
struct store_stats {
    uint64_t curr_items; /* live items, tombstones not counted */
    uint64_t tombstones;
    uint64_t total_items;
    uint64_t bytes; /* memory charged to linked items */
    uint64_t table_bytes;
    uint64_t seg_bytes;   /* segments holding memory (live, dead and free space) */
    uint64_t large_bytes; /* items held alone, linked or being written */
    uint64_t reserved;    /* segment bytes promised to items being written */
    uint64_t mem_used;    /* segments + large items + tables: what the limit bounds */
    uint64_t evictions;
    uint64_t evicted_nonzero; /* evicted items that had an expiry time */
    uint64_t evicted_unfetched;
    uint64_t expired_unfetched;
    uint64_t reclaimed; /* expired or flushed items whose memory was reused */
    uint64_t outofmemory;
    uint64_t hash_buckets;
    uint64_t hash_expanding;
    uint32_t oldest_age; /* seconds since the least recently used item's use */
};

/* Creates the store. Returns 0, or -1 when memory for it cannot be had. */
int store_create(struct store **out, const struct store_config *cfg);

/* Frees the store and every item in it. No other thread may use it. */
void store_destroy(struct store *st);

/* The key hash used for shards (murmur3 x86_32). */
uint32_t store_hash(const char *key, size_t nkey);

/*
 * Allocates an unlinked item for key with room for nbytes of value (the
 * value's length plus 2 for the trailing "\r\n", which the caller writes).
 * The caller must not hold any shard lock. Returns NULL and sets *err when
 * the item is too large or there is no room.
 */
struct item *store_alloc(struct store *st, const char *key, size_t nkey, uint32_t hv,
                         uint32_t flags, rel_time_t exptime, uint32_t nbytes,
                         enum store_alloc_err *err);

/*
 * As store_alloc(), but never evicts the item that key holds now to make
 * room: for an item that will be joined with it (append, prepend) or take
 * its counted value (incr, decr). A plain set may let the old value go.
 */
struct item *store_alloc_keep(struct store *st, const char *key, size_t nkey, uint32_t hv,
                              uint32_t flags, rel_time_t exptime, uint32_t nbytes,
                              enum store_alloc_err *err);

/* Frees an item that was allocated but never linked. */
void store_release(struct store *st, struct item *it);

/* store_hash() of the item's key. */
uint32_t store_item_hash(const struct item *it);

/* The same for an item from store_alloc() not yet linked: the hash it was
 * allocated with, without hashing again. */
uint32_t store_staged_hash(const struct item *it);

/* Locks and returns the shard owning hash hv. */
struct store_shard *store_lock(struct store *st, uint32_t hv);
void store_unlock(struct store_shard *sh);

/*
 * Looks up a live item. Expired and flushed items found on the way are
 * unlinked and freed, and *why (if not NULL) says so. Does not count as a use.
 */
struct item *do_store_find(struct store_shard *sh, const char *key, size_t nkey,
                           uint32_t hv, enum store_miss *why);

/* Links it (a fresh item from store_alloc) with a new CAS value, replacing
 * and freeing old (the live item with the same key, or NULL). Returns the
 * linked item: it is not where `it` was. */
struct item *do_store_link(struct store_shard *sh, struct item *it, struct item *old);

/* Same, but keeps the CAS value the caller set in it->cas. */
struct item *do_store_link_cas(struct store_shard *sh, struct item *it, struct item *old);

/* Unlinks and frees a linked item. */
void do_store_unlink(struct store_shard *sh, struct item *it);

/* Changes a linked item's expiry time (the store counts items that can
 * expire, so that the sampler skips shards without any). */
void do_store_set_exptime(struct store_shard *sh, struct item *it, rel_time_t exptime);

/* Marks it used (eviction keeps it once more) and records the access time. */
void do_store_bump(struct store_shard *sh, struct item *it);

/* Gives a linked item a fresh CAS value (after an in-place change). */
void do_store_new_cas(struct store_shard *sh, struct item *it);

/* Gives a linked item the CAS (version) cas, which the clock observes (an
 * explicit CAS, meta E, changed in place). */
void do_store_set_cas(struct store_shard *sh, struct item *it, uint64_t cas);

/* The next CAS value (monotonic, never 0). */
uint64_t store_next_cas(struct store *st);

/*
 * Deletes a linked live item. Without tombstones it is unlinked and freed;
 * with them it is replaced by a tombstone with a fresh version that expires
 * after tombstone_ttl (or simply unlinked when no memory can be had for
 * the tombstone). Returns the tombstone's version, or 0 when none is left.
 */
uint64_t do_store_delete(struct store_shard *sh, struct item *it);

/*
 * With tombstones: records the deletion of a key that has no live item
 * (evicted here, say, but perhaps still held by a replica), unless a
 * tombstone already stands for it. Returns the version of the key's
 * tombstone, or 0 (no memory, or tombstones are off).
 */
uint64_t do_store_delete_absent(struct store_shard *sh, const char *key, size_t nkey,
                                uint32_t hv);

/* ---- replication: the state of a key as replicas exchange it ---- */

struct store_state {
    uint64_t version; /* 0: the key holds neither an item nor a tombstone */
    uint32_t flags;   /* client flags */
    int64_t exptime;  /* unix time it expires at, 0 for never */
    uint8_t iflags;   /* ITEM_TOMBSTONE, ITEM_STALE, ITEM_TOKEN, ITEM_KEY_BINARY */
    uint32_t nvalue;  /* value bytes, without the "\r\n" */
};

/*
 * Copies the state of key: its live item or tombstone, into *s, and its
 * value (without "\r\n") onto value when value is not NULL. Does not bump
 * count as a use or a fetch. Returns true when the key holds something.
 */
bool store_read_state(struct store *st, const char *key, size_t nkey,
                      struct store_state *s, struct buf *value);

/* What store_apply() did. */
enum store_apply_result {
    STORE_APPLIED, /* it is the key's state now */
    STORE_TOUCHED, /* same version already held: an item takes the expiry */
    STORE_OLDER,   /* the key holds a newer version: ignored */
};

/*
 * Applies a replica's state: it (from store_alloc(), its value written, its
 * cas the version, iflags among ITEM_TOMBSTONE, ITEM_STALE, ITEM_TOKEN and
 * ITEM_KEY_BINARY) replaces what the key holds when its version is newer;
 * with the same version only the expiry is taken (a replicated touch);
 * an older one is ignored. Newest wins, whatever order versions arrive in.
 * The version is observed by the clock, so later local writes are newer.
 * Always consumes it. *held (if not NULL) gets the version the key holds
 * afterwards.
 */
enum store_apply_result store_apply(struct store *st, struct item *it, uint64_t *held);

/*
 * store_apply() of a state given by its parts: key, s (version, flags,
 * exptime, iflags, nvalue) and value (s->nvalue bytes, without "\r\n").
 * Returns the apply result, or -ENOMEM (-E2BIG for a value over -I) when
 * no item could be had for it.
 */
int store_apply_state(struct store *st, const char *key, size_t nkey,
                      const struct store_state *s, const char *value, uint64_t *held);

/*
 * Handoff: removes the key's item or tombstone when it still has version
 * (another node owns the key now and has taken that state), without
 * leaving a tombstone: the key is simply no longer held here. Returns true
 * when it removed it; false when the key holds another version (changed
 * since) or nothing.
 */
bool store_drop_version(struct store *st, const char *key, size_t nkey, uint64_t version);

/* Makes this node's next version newer than v (a version seen elsewhere),
 * unless v is more than a minute ahead of the wall clock. */
void store_observe_version(struct store *st, uint64_t v);

/*
 * flush_all: items stored before now (delay 0) or before the moment `delay`
 * (a client exptime) names become invisible and are reclaimed lazily.
 */
void store_flush(struct store *st, int64_t delay);

/*
 * Reclaims expired and flushed items, walking each shard's table from where
 * the last call stopped, for at most about budget_us microseconds. Returns
 * the number of items reclaimed.
 */
uint64_t store_sample_expired(struct store *st, uint64_t budget_us);

/* ---- watching and walking the table (anti-entropy) ---- */

/*
 * Who is told of every item and tombstone that enters or leaves the table:
 * linked(it) after a store, a replace, a delete's tombstone, a replica's
 * state; unlinked(it) before a replace, a delete, an expiry, an eviction,
 * a flush's reclaim frees it. An in-place version change (incr, meta E,
 * meta I) is an unlinked() of the old version and a linked() of the new.
 * Both are called with the item's shard lock held, on the thread that
 * changes the store: they must be quick, must not call into the store and
 * must not keep the pointer.
 */
struct store_observer {
    void (*linked)(void *arg, const struct item *it);
    void (*unlinked)(void *arg, const struct item *it);
    void *arg;
};

/* Sets (or, with NULL, clears) the observer. Call before other threads use
 * the store: the observer is read without locks. */
void store_set_observer(struct store *st, const struct store_observer *ob);

/*
 * Calls fn(arg, it) for every live item and tombstone whose store hash has
 * value in its low `bits` bits (STORE_SHARD_BITS <= bits <= STORE_SHARD_BITS
 * + 6: the shard and the low bucket bits, so only that part of one shard's
 * table is walked), under that shard's lock; expired and flushed items met
 * on the way are reclaimed instead. fn must not call into the store or keep
 * the pointer. Returns how many fn saw.
 */
size_t store_scan_hash(struct store *st, uint32_t value, unsigned bits,
                       void (*fn)(void *arg, const struct item *it), void *arg);

/*
 * Calls fn(arg, it) for every item and tombstone linked in shard (expired
 * ones too), then fn(arg, NULL), all under the shard's lock: an observer
 * can tell which of its shards it has seen whole and count every later
 * change exactly once. Returns how many items fn saw.
 */
size_t store_scan_shard(struct store *st, uint32_t shard,
                        void (*fn)(void *arg, const struct item *it), void *arg);

/* Bytes left below the memory limit (0 when at or over it). Any thread,
 * no lock: one atomic load. */
uint64_t store_mem_free(const struct store *st);

/* The memory limit (-m, or the last store_set_mem_limit()), in bytes. Any
 * thread, no lock. */
uint64_t store_mem_limit(const struct store *st);

/*
 * Changes the memory limit (cache_memlimit) at runtime; any thread, no lock
 * held. When more than bytes is in use, evicts the oldest segments and
 * items (one shard lock at a time) until it fits. Returns 0 when the store is
 * within the new limit, -1 when it is still over it (evictions are off
 * with -M, or nothing is left to evict): the limit holds anyway, and new
 * items are refused until enough is freed.
 */
int store_set_mem_limit(struct store *st, uint64_t bytes);

/* Sums the counters of every shard. */
void store_get_stats(struct store *st, struct store_stats *out);

/* Zeroes the resettable counters (evictions, reclaimed, ...), as stats reset. */
void store_reset_stats(struct store *st);

#endif
