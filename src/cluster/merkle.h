/*
 * merkle: the hash trees anti-entropy compares. A tree summarises a set of
 * key states (key, version, tombstone or not) so that two replicas find
 * the keys on which they differ by exchanging a few hashes: the root, then
 * MERKLE_FANOUT segment hashes, then the leaf hashes of the segments that
 * differ, then the keys of the leaves that differ.
 *
 * Shape: MERKLE_LEAVES leaves (2^12), chosen by the low 12 bits of the
 * key's store hash (store_hash(), store_item_hash()), so that a leaf's keys lie in
 * one store shard and one sixteenth of its table buckets (see
 * store_scan()); MERKLE_FANOUT segments of MERKLE_FANOUT leaves each; one
 * root.
 *
 * Hashes: a leaf is the XOR of the digests (merkle_digest()) of its keys,
 * and a segment or the root the XOR of what is below it. XOR makes adding
 * and removing a key state the same O(1) operation (merkle_toggle()), in
 * any order, without a lock (an atomic XOR on one word), so the trees are
 * kept up to date on every write, delete, expiry and eviction instead of
 * being rebuilt for an exchange. Digests mix the key's hash and the
 * version non-linearly, so that two sets whose states differ (say, two
 * keys' versions swapped) have different XORs but for a 2^-64 chance.
 *
 * Pure: no I/O, no clock, no locks (merkle_toggle() is atomic; the readers
 * see each leaf whole, possibly a toggle earlier or later, which an
 * exchange tolerates: a key written during an exchange is compared again
 * at the next one).
 */
#ifndef MESHCACHED_MERKLE_H
#define MESHCACHED_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MERKLE_LEAF_BITS 12
#define MERKLE_LEAVES    (1u << MERKLE_LEAF_BITS)
#define MERKLE_FANOUT    64 /* segments per tree, leaves per segment */

struct merkle {
    uint64_t leaf[MERKLE_LEAVES]; /* atomic: XOR of the digests in the leaf */
};

/* The leaf of a key with store hash hv. */
static inline uint32_t merkle_leaf_of(uint32_t hv)
{
    return hv & (MERKLE_LEAVES - 1);
}

/* The digest of one key state: key[0..nkey), its version (the CAS of its
 * item or tombstone), and whether it is a tombstone. Never 0. */
uint64_t merkle_digest(const char *key, size_t nkey, uint64_t version, bool tombstone);

/* Empties the tree. */
void merkle_init(struct merkle *t);

/* Adds a key state to the tree, or removes it when it is in (the same
 * call: XOR). hv is the key's store hash. Any thread, no lock. */
void merkle_toggle(struct merkle *t, uint32_t hv, uint64_t digest);

/* The XOR of every leaf. */
uint64_t merkle_root(const struct merkle *t);

/* The MERKLE_FANOUT segment hashes: out[s] is the XOR of leaves
 * s * MERKLE_FANOUT .. (s + 1) * MERKLE_FANOUT - 1. */
void merkle_segments(const struct merkle *t, uint64_t out[MERKLE_FANOUT]);

/* The MERKLE_FANOUT leaf hashes of segment seg (< MERKLE_FANOUT). */
void merkle_leaves(const struct merkle *t, unsigned seg, uint64_t out[MERKLE_FANOUT]);

/* The indexes i < n where a[i] != b[i], in order, into idx (room for n).
 * Returns how many. */
size_t merkle_diff(const uint64_t *a, const uint64_t *b, size_t n, uint32_t *idx);

#endif
