/*
 * ring: the consistent-hash ring that maps a key to the nodes that own it.
 *
 * A ring is built once from a list of node ids and is immutable afterwards:
 * every query takes a const ring, does no I/O, takes no lock and reads no
 * clock, so any number of threads may query one ring at once. Membership
 * changes build a new ring with a higher epoch and publish it through a
 * struct ring_ref, from which worker threads take counted references without
 * a lock (see "Sharing a ring between threads" below).
 *
 * Placement: each node owns `vnodes` points on a 32-bit circle; point i of the
 * node with id ID sits at murmur3_x86_32("ID#i", RING_SEED) (i in decimal).
 * A key sits at murmur3_x86_32(key, RING_SEED) and belongs to the first point
 * at or after it, clockwise, wrapping past 2^32-1 to 0. Points that collide
 * are ordered by node id, so the ring depends only on the set of ids, never
 * on the order of the array given to ring_build(): every node of a cluster
 * computes the same owners. Because a node's points depend on its id alone,
 * adding a node only moves keys onto it and removing one only moves its own
 * keys.
 *
 * All nodes of a cluster must build with the same vnodes, or they disagree
 * on owners; changing the hash, the seed or the id format of points moves
 * keys between versions (check_ring pins them).
 *
 * Lookups: a table indexed by the top bits of the hash narrows the search to
 * the one or two points of that slice, then a binary search finishes: O(1)
 * on average, O(log V) at worst, two cache misses.
 *
 * Memory: 10-12 bytes per point (8 for the point, up to 4 for the slice
 * table): 2 MB for 10 nodes at the default vnodes, 8.5 MB for 50, 17 MB for
 * 100, plus 16 bytes per point while ring_build() runs (tens of ms at 10
 * nodes, about 180 ms at 100). ring_build() is the only function that
 * allocates; when an allocation fails it frees what it took and returns
 * -ENOMEM.
 */
#ifndef MESHCACHED_RING_H
#define MESHCACHED_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Default points per node. A node's share of the circle is the sum of the
 * arcs before its points, which are exponentially distributed, so shares
 * spread by about 1/sqrt(vnodes) whatever the placement, as long as a node's
 * points depend on its own id alone (the price of minimal disruption).
 * Stratified points did no better in trials; multi-probe lookups or a
 * rendezvous among the points near a key buy evenness with lookup time at
 * about the rate vnodes buy it with memory, and would give up the one owner
 * list per range that anti-entropy walks. The worst cluster asked for, 50
 * nodes, sets the default: at 8192 one id set's true max share was 1.041,
 * too close to 1.05 once the sampling noise of 1M keys (~2%) is added.
 *
 * Measured by ring_bench, most loaded node / mean over 1M random keys (and
 * the exact share of the circle), ids 127.0.0.1:11211 upwards:
 *    3 nodes 1.010 (1.011), 10 nodes 1.016 (1.015), 50 nodes 1.026 (1.015);
 * worst over 31 id sets: 1.014 (1.012), 1.018 (1.019), 1.044 (1.028).
 * check_ring asserts <= 1.05 for 3 and 10 nodes.
 * Lookup with a 20-byte key hashed: 35-45 ns at 10 nodes, 50-65 ns at 100
 * (single runs reached 150 ns while other jobs shared this 2-core VM).
 */
#define RING_DEFAULT_VNODES 16384

#define RING_MAX_NODES   65536      /* nodes in one ring */
#define RING_MAX_VNODES  65536      /* points per node */
#define RING_MAX_POINTS  (1u << 24) /* nodes * vnodes: 200 MB of ring */
#define RING_MAX_ID_LEN  255        /* bytes in a node id, without the NUL */
#define RING_MAX_HANDOFF 16         /* ring_handoff_targets(): replicas at most */

/* The murmur3 seed of key and point positions. Not store_hash()'s 0, so that
 * the keys one node owns are not clustered in the store's buckets. */
#define RING_SEED 0x9747b28cu

struct ring;

/* One member as given to ring_build(). */
struct ring_node {
    const char *id; /* "host:port", unique, 1..RING_MAX_ID_LEN bytes */
    uint32_t tag;   /* the caller's, carried along (e.g. a member slot) */
    bool down;      /* placed, but not serving (a dead member): ring_owners()
                       and ring_first_up() skip it, ring_lookup() does not */
};

/*
 * Builds a ring of n nodes with vnodes points each, labelled with epoch (the
 * caller's membership version: a rebuild normally passes the old ring's epoch
 * plus one; ring_ref_publish() refuses to go backwards). The ring copies the
 * ids; node i of the ring is nodes[i], so indices returned by the queries
 * below index the caller's array. On success stores a ring holding one
 * reference, owned by the caller, in *out and returns 0. Returns -EINVAL for
 * n == 0, vnodes == 0, a NULL, empty, too long or duplicate id, -E2BIG when
 * n, vnodes or n * vnodes exceeds its RING_MAX_*, -ENOMEM when memory runs
 * out; *out is untouched on failure.
 */
int ring_build(const struct ring_node *nodes, size_t n, unsigned vnodes, uint64_t epoch,
               struct ring **out);

/* Frees a ring that was built but never published or shared (the caller holds
 * its only reference). NULL is a no-op. */
void ring_free(struct ring *r);

/* ---- queries: pure, any thread, as long as the caller holds the ring ---- */

/* The position of a key on the circle (murmur3_x86_32 with RING_SEED). */
uint32_t ring_hash(const void *key, size_t nkey);

/* The index of the node that owns the key (the first point clockwise). */
size_t ring_lookup(const struct ring *r, const void *key, size_t nkey);
size_t ring_lookup_hash(const struct ring *r, uint32_t hv);

/*
 * The preference list of a key: up to max distinct nodes in clockwise order
 * from the key, skipping every node i with down[i] set (down may be NULL: no
 * node is down). The first entry is ring_lookup()'s owner when it is up.
 * Skipping a node gives exactly the list a ring built without it would give.
 * Stores the node indices in out[0..*out_n) (out has room for max) and
 * returns 0; *out_n is less than max only when fewer nodes are up. The walk
 * is short unless most nodes are down: rebuild without them instead. Returns -ENOENT
 * (with *out_n = 0) when every node is down, -EINVAL when max is 0.
 */
int ring_preference(const struct ring *r, const void *key, size_t nkey, const bool *down,
                    size_t max, size_t *out, size_t *out_n);
int ring_preference_hash(const struct ring *r, uint32_t hv, const bool *down, size_t max,
                         size_t *out, size_t *out_n);

/* The preference list of hash hv without the nodes built as down: the
 * owners of the key that serve. Same results as ring_preference_hash(). */
int ring_owners(const struct ring *r, uint32_t hv, size_t max, size_t *out,
                size_t *out_n);

/*
 * Handoff (range streaming): where node self's copy of the key at hv should
 * go. When self is not one of the key's `replicas` owners up, to those
 * owners; when it is and gone is NULL, nowhere (it stays); when it is and
 * gone is not NULL (self leaves: gone holds the ring's down flags with
 * self's set too), to the owners once it is gone that do not own it now
 * (the others have their copy). Stores node indices in out (room for
 * replicas) and returns how many. Pure.
 */
size_t ring_handoff_targets(const struct ring *r, uint32_t hv, size_t self,
                            size_t replicas, const bool *gone, size_t *out);

/* The first node up clockwise from hv (ring_lookup_hash() when none is
 * down), or SIZE_MAX when every node is down. */
size_t ring_first_up(const struct ring *r, uint32_t hv);

/* Nodes built as down. */
size_t ring_down_count(const struct ring *r);

/* The fraction of the circle (so of uniformly hashed keys) node i serves
 * as first owner up (0 for a node that is down); the shares sum to 1
 * unless every node is down. */
double ring_share(const struct ring *r, size_t i);

uint64_t ring_epoch(const struct ring *r);
size_t ring_node_count(const struct ring *r);
unsigned ring_vnodes(const struct ring *r);

/* Node i (i < ring_node_count()); its id lives as long as the ring. */
const struct ring_node *ring_node(const struct ring *r, size_t i);

/* Finds the node with this id: stores its index in *out and returns 0, or
 * returns -ENOENT. */
int ring_node_index(const struct ring *r, const char *id, size_t *out);

/* The points in clockwise order, for walking ranges (anti-entropy) and for
 * tests: point i (i < ring_point_count()) sits at *token and belongs to the
 * returned node. Point i owns the keys in (token of point i-1, token], the
 * first point also the wrapped range past the last one. */
size_t ring_point_count(const struct ring *r);
size_t ring_point(const struct ring *r, size_t i, uint32_t *token);

/*
 * ---- Sharing a ring between threads ----
 *
 * A ring lives as long as someone holds a reference. One writer (the thread
 * that owns membership) publishes rings into a struct ring_ref; any number of
 * readers take references from it without a lock:
 *
 *   acquire: note the phase p, increment pending[p], load cur, increment
 *            cur's count, decrement pending[p]. Wait-free: five atomics,
 *            three of them writes to lines every reader shares.
 *   publish: exchange cur for the new ring, then wait until no reader is
 *            between its load of cur and its increment (pending[0] and
 *            pending[1] each drain once, flipping the phase first so new
 *            readers count in the other slot), then drop the ref's reference
 *            to the old ring.
 *
 * The wait closes the one race of a refcounted pointer (a reader loading the
 * old pointer, the writer freeing it, the reader incrementing freed memory):
 * a reader that could have loaded the old pointer is counted in pending[]
 * until its increment is done, and the writer waits for both slots, so the
 * old ring cannot reach zero before that increment. The writer waits only
 * for readers inside ring_acquire() (a few instructions), never for readers
 * holding a ring; those keep the old ring alive until their ring_release(),
 * which frees it when they were the last.
 *
 * On the hot path, a worker keeps a struct ring_cache instead of acquiring
 * per request: ring_cache_get() costs one atomic load (of a line that only
 * changes on publish and on ring_acquire()) while the published ring is
 * unchanged and trades its old
 * reference for a new one when it has changed. A cache pins its ring until
 * its next get or clear, so an idle thread may keep an old ring alive.
 */
struct ring_ref {
    struct ring *cur;    /* atomic: the published ring, or NULL */
    unsigned phase;      /* atomic: the pending[] slot new readers count in */
    unsigned pending[2]; /* atomic: readers between loading cur and counting */
};

/* Readies an empty ref (no ring published). */
void ring_ref_init(struct ring_ref *ref);

/* Drops the ref's reference to its ring. No reader may use the ref any more;
 * rings that readers still hold stay alive until they release them. */
void ring_ref_fini(struct ring_ref *ref);

/*
 * Writer only (one thread at a time). Publishes next (not NULL), taking over
 * the caller's reference, and drops the ref's reference to the ring it
 * replaces. Returns 0, or -ESTALE when next's epoch is not above the
 * published ring's, in which case the caller keeps next. May spin briefly,
 * yielding the CPU, for readers inside ring_acquire() (see above).
 */
int ring_ref_publish(struct ring_ref *ref, struct ring *next);

/* Any thread. A new reference to the published ring, or NULL when none has
 * been published. Pair with ring_release(). */
struct ring *ring_acquire(struct ring_ref *ref);

/* Drops a reference from ring_acquire(); frees the ring when it was the last
 * one (the ref's own is dropped when a newer ring is published). NULL is a
 * no-op. */
void ring_release(struct ring *r);

/* A per-thread cached reference (zero it, or use RING_CACHE_INIT). */
struct ring_cache {
    struct ring *ring; /* the reference this thread holds, or NULL */
};
#define RING_CACHE_INIT                                                                  \
    {                                                                                    \
        NULL                                                                             \
    }

/* The published ring (NULL when none), valid until the next get or clear on
 * this cache. Never called on one cache from two threads. */
const struct ring *ring_cache_get(struct ring_cache *c, struct ring_ref *ref);

/* Releases the cached reference. */
void ring_cache_clear(struct ring_cache *c);

#endif
