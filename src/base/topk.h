/*
 * topk: a bounded sketch of the most frequent keys of a stream
 * (Space-Saving, Metwally et al. 2005), with exponential decay so that it
 * follows what is hot now.
 *
 * The sketch keeps cap counters. A key that has one gets it incremented; a
 * new key takes the counter of the smallest count c, starting at c + w with
 * error c (its count may be overestimated by at most that). So every key
 * whose true weight exceeds total / cap holds a counter, count - error <=
 * true weight <= count, and with no more distinct keys than counters every
 * count is exact. topk_decay() halves every count, error and the total.
 *
 * Pure: no I/O, no locks, no clock; one allocation at init. The caller
 * serialises access (hot.c holds a mutex, taken with a try-lock on the
 * sampled request path).
 */
#ifndef MESHCACHED_TOPK_H
#define MESHCACHED_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPK_MAX_KEY 250 /* memcached's longest key */

struct topk_entry {
    uint64_t count; /* estimated weight, decayed */
    uint64_t error; /* count - error <= true weight */
    uint32_t hash;  /* the caller's hash of the key */
    uint8_t nkey;
    char key[TOPK_MAX_KEY];
};

struct topk {
    struct topk_entry *e; /* cap counters, n in use */
    size_t cap, n;
    uint64_t total; /* weight added, decayed like the counts */
};

/* A sketch of cap (>= 1) counters; 0 or -ENOMEM. */
int topk_init(struct topk *t, size_t cap);

/* Frees the counters; the sketch is empty and unusable until init. */
void topk_fini(struct topk *t);

/* Adds weight w (>= 1) to key[0..nkey) (nkey <= TOPK_MAX_KEY; longer keys
 * are ignored), whose hash is hash. */
void topk_add(struct topk *t, const char *key, size_t nkey, uint32_t hash, uint64_t w);

/* Halves every count, error and the total; counters that reach 0 are
 * freed. */
void topk_decay(struct topk *t);

/* The key's counter, or NULL when it has none. */
const struct topk_entry *topk_find(const struct topk *t, const char *key, size_t nkey,
                                   uint32_t hash);

/* Fills out[0..k) with pointers to the k largest counters (fewer when the
 * sketch holds fewer), largest count first; equal counts by smaller error,
 * then by key bytes, so that the order is deterministic. Returns how many.
 * The pointers are valid until the next change of the sketch. */
size_t topk_top(const struct topk *t, const struct topk_entry **out, size_t k);

#endif
