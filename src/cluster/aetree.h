/*
 * aetree: this node's anti-entropy trees, kept up to date as the store
 * changes.
 *
 * For every other node of the ring there is one merkle tree (merkle.h) of
 * the key states this node holds that both it and that node own: keys
 * whose preference list, the first --replicas distinct nodes clockwise,
 * holds both. Two replicas that agree on a pair's keys have equal trees for
 * each other, so anti-entropy compares the tree for the pair on each side.
 *
 * Layout: the owners of a key are taken with every node of the ring, down
 * or up (a dead member stays in the ring, marked down, and keeps its place
 * in the preference lists: replication hints its writes), so a member
 * failing or coming back changes nothing here. Only a change of the ring's
 * nodes (a member joining or being forgotten) changes the layout; then the
 * trees are rebuilt by walking the store once, shard by shard, while writes
 * go on (aetree_sync()).
 *
 * Updates: a store observer (store_set_observer()) toggles each linked or
 * unlinked item state into the trees of its co-owners, under the item's
 * shard lock, on the thread that changes the store: a ring hash, a
 * preference list and one atomic XOR per other owner.
 *
 * Rebuild without losing or doubling a change: each shard has a pointer to
 * the tree set its changes go to, read by the observer and switched by the
 * rebuild under that shard's lock, right after the rebuild walked the
 * shard (store_scan_shard()). A change before the switch is in the walk, a
 * change after it goes to the new set: each counted once. The old set is
 * freed once every shard has switched, when no observer can still use it.
 *
 * Threads: the observer runs on any thread; everything else (sync, trees,
 * layout, shared) on the one thread that drives anti-entropy. Locks: only
 * the store's shard locks (taken by the store around the observer, by
 * store_scan_shard() around the walk).
 */
#ifndef MESHCACHED_AETREE_H
#define MESHCACHED_AETREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/merkle.h"

struct aetree;
struct ring;
struct ring_ref;
struct store;

struct aetree_config {
    struct store *st;  /* watched with store_set_observer() */
    const char *self;  /* this node's id in the ring */
    unsigned replicas; /* copies per key (>= 2) */
};

/* Creates the tree set (empty, no layout yet) and starts watching the
 * store; call before other threads use the store. Returns 0 or -ENOMEM. */
int aetree_new(const struct aetree_config *cfg, struct aetree **out);

/* Stops watching the store and frees everything. Call once other threads
 * have stopped changing the store. NULL is a no-op. */
void aetree_free(struct aetree *t);

/* The identifier of a ring's layout: its nodes (ids, not their up or down
 * state), vnodes and the number of replicas; equal on every node that sees
 * the same members, whatever order they were learned in. */
uint64_t aetree_layout_of(const struct ring *r, unsigned replicas);

/*
 * Brings the trees to the layout of the ring published in ref: when it
 * differs from the current one (or there is none), builds new trees by
 * walking the store, shard by shard, and keeps a reference to that ring.
 * Returns 1 when it rebuilt, 0 when the layout was the same (or no ring is
 * published), -ENOMEM (the old trees stay).
 */
int aetree_sync(struct aetree *t, struct ring_ref *ref);

/* The current layout (0 before the first sync). Any thread. */
uint64_t aetree_layout(const struct aetree *t);

/* The tree for the pair {this node, the ring node with id}, or NULL when
 * that node is not in the current layout (or is this node). Its leaves
 * change under the reader's feet (atomic words). */
const struct merkle *aetree_tree(const struct aetree *t, const char *id);

/* Whether key is owned by both this node and the ring node with id in the
 * current layout: the test for listing a leaf's keys to that node. */
bool aetree_shared(const struct aetree *t, const char *key, size_t nkey, const char *id);

#endif
