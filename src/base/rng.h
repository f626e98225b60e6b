/*
 * rng: a small, fast pseudo-random generator (xoshiro256**, seeded through
 * splitmix64) for the load generator, and splitmix64 alone for the daemon's
 * few random choices (gossip targets).
 *
 * One struct rng per thread; nothing here is shared or locked. Not for
 * anything that needs unpredictability: a benchmark wants repeatable runs.
 */
#ifndef MESHCACHED_RNG_H
#define MESHCACHED_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
};

/* splitmix64's finalizer: a bijective, non-linear mix of 64 bits (for
 * hashing as well as for the generator below). */
static inline uint64_t rng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rng_splitmix64(uint64_t *x)
{
    return rng_mix64(*x += 0x9e3779b97f4a7c15ULL);
}

/* Seeds r from seed; different seeds give unrelated streams. */
static inline void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* The next 64 random bits. */
static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* A number in [0, n), n > 0. Multiply-shift: the bias is below n / 2^64,
 * far under anything a benchmark can see. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* A double in [0, 1). */
static inline double rng_double(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

#endif
