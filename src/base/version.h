/*
 * version: hybrid logical clock (Kulkarni et al.) versions for replicated
 * writes, packed into the 64-bit CAS value so that the same write carries
 * the same CAS on every replica and newer writes compare greater.
 *
 *   bits 63..22  physical milliseconds since VERSION_EPOCH_MS (42 bits:
 *                until the year 2163)
 *   bits 21..10  logical counter: orders writes within one millisecond and
 *                keeps order when a clock steps backwards (12 bits)
 *   bits  9..0   the writer's tag (from its node id): breaks ties between
 *                writes of different nodes with equal time and counter
 *
 * Comparing two versions is comparing the numbers. A version is never 0
 * (0 means "no CAS" in the protocol).
 *
 * Pure: no clock, no locks. The caller passes the wall clock in and keeps
 * the state, a single uint64_t (the last version issued or observed), which
 * it may update with a compare-and-swap loop from any number of threads:
 *
 *     do { last = load(&state); next = version_next(last, wall, tag); }
 *     while (!cas(&state, last, next));
 */
#ifndef MESHCACHED_VERSION_H
#define MESHCACHED_VERSION_H

#include <stddef.h>
#include <stdint.h>

#define VERSION_EPOCH_MS 1704067200000ull /* 2024-01-01T00:00:00Z */
#define VERSION_TAG_BITS 10
#define VERSION_CTR_BITS 12
#define VERSION_MS_SHIFT (VERSION_TAG_BITS + VERSION_CTR_BITS)
#define VERSION_TAG_MAX  ((1u << VERSION_TAG_BITS) - 1)
#define VERSION_CTR_MAX  ((1u << VERSION_CTR_BITS) - 1)

/* The tag of a node id (murmur3 of the id, folded to VERSION_TAG_BITS). */
uint32_t version_tag(const char *node_id, size_t len);

/*
 * The version of a new local write: greater than last (whatever the wall
 * clock says: a clock that steps backwards keeps the milliseconds of last
 * and raises the counter; a full counter borrows the next millisecond), at
 * the wall clock when the wall clock is ahead, and carrying tag.
 */
uint64_t version_next(uint64_t last, uint64_t wall_ms, uint32_t tag);

/*
 * The new clock state after seeing seen (a version from another node):
 * at least last and at least seen's time and counter, so that this node's
 * next write is newer than anything it has seen. (The tag of the state
 * does not matter: version_next() replaces it.)
 */
uint64_t version_observe(uint64_t last, uint64_t seen);

/* The parts of a version. */
static inline uint64_t version_ms(uint64_t v)
{
    return (v >> VERSION_MS_SHIFT) + VERSION_EPOCH_MS;
}

static inline uint32_t version_counter(uint64_t v)
{
    return (uint32_t)(v >> VERSION_TAG_BITS) & VERSION_CTR_MAX;
}

static inline uint32_t version_tag_of(uint64_t v)
{
    return (uint32_t)v & VERSION_TAG_MAX;
}

#endif
