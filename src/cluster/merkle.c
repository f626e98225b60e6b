/* merkle: XOR hash trees of key-state digests, updated in place. */
#include "cluster/merkle.h"
#include "base/rng.h"

#include <murmurhash.h>
#include <string.h>

#define DIGEST_SEED 0x6d65726bu /* "merk": unrelated to the ring's and the store's */

_Static_assert(MERKLE_FANOUT *MERKLE_FANOUT == MERKLE_LEAVES, "two levels of fan-out");

uint64_t merkle_digest(const char *key, size_t nkey, uint64_t version, bool tombstone)
{
    uint64_t h[2], d;

    lmmh_x64_128(key, (unsigned int)nkey, DIGEST_SEED, h);
    d = rng_mix64(h[0] + rng_mix64(version << 1 | tombstone) + h[1]);
    return d != 0 ? d : 1; /* 0 is what an empty leaf holds */
}

void merkle_init(struct merkle *t)
{
    memset(t->leaf, 0, sizeof(t->leaf));
}

void merkle_toggle(struct merkle *t, uint32_t hv, uint64_t digest)
{
    __atomic_fetch_xor(&t->leaf[merkle_leaf_of(hv)], digest, __ATOMIC_RELAXED);
}

static uint64_t leaf(const struct merkle *t, size_t i)
{
    return __atomic_load_n(&t->leaf[i], __ATOMIC_RELAXED);
}

uint64_t merkle_root(const struct merkle *t)
{
    uint64_t x = 0;

    for (size_t i = 0; i < MERKLE_LEAVES; i++)
        x ^= leaf(t, i);
    return x;
}

void merkle_segments(const struct merkle *t, uint64_t out[MERKLE_FANOUT])
{
    for (size_t s = 0; s < MERKLE_FANOUT; s++) {
        uint64_t x = 0;
        for (size_t i = 0; i < MERKLE_FANOUT; i++)
            x ^= leaf(t, s * MERKLE_FANOUT + i);
        out[s] = x;
    }
}

void merkle_leaves(const struct merkle *t, unsigned seg, uint64_t out[MERKLE_FANOUT])
{
    for (size_t i = 0; i < MERKLE_FANOUT; i++)
        out[i] = leaf(t, (size_t)seg * MERKLE_FANOUT + i);
}

size_t merkle_diff(const uint64_t *a, const uint64_t *b, size_t n, uint32_t *idx)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            idx[k++] = (uint32_t)i;
    return k;
}
