/* version: hybrid logical clock steps on packed 64-bit versions. */
#include "base/version.h"

#include <murmurhash.h>

uint32_t version_tag(const char *node_id, size_t len)
{
    uint32_t h;

    lmmh_x86_32(node_id, (unsigned int)len, 0, &h);
    return (h ^ (h >> VERSION_TAG_BITS) ^ (h >> (2 * VERSION_TAG_BITS))) &
           VERSION_TAG_MAX;
}

/* time and counter of v, without the tag: what orders writes */
static uint64_t stamp(uint64_t v)
{
    return v >> VERSION_TAG_BITS;
}

uint64_t version_next(uint64_t last, uint64_t wall_ms, uint32_t tag)
{
    uint64_t wall = wall_ms > VERSION_EPOCH_MS ? wall_ms - VERSION_EPOCH_MS : 0;
    uint64_t at = wall << VERSION_CTR_BITS; /* the wall clock, counter 0 */
    uint64_t s = stamp(last) + 1;           /* just after last: a full counter
                                               carries into the milliseconds */

    if (at > s)
        s = at;
    if (s == 0)
        s = 1; /* never version 0, even at the epoch with tag 0 */
    return (s << VERSION_TAG_BITS) | (tag & VERSION_TAG_MAX);
}

uint64_t version_observe(uint64_t last, uint64_t seen)
{
    return stamp(seen) > stamp(last) ? seen : last;
}
