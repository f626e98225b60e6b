/*
 * hot: the generations, the sketch and its hot set, the near cache and
 * the owner's record of near copies, behind one node-wide struct.
 */
#include "cluster/hot.h"
#include "base/settings.h"

#include <errno.h>
#include <stdlib.h>

#define GEN_SLOTS 4096 /* power of two; a shared slot only costs a re-send */

struct hot {
    uint64_t gen[GEN_SLOTS]; /* atomics */
};

int hot_new(const struct settings *s, struct hot **out)
{
    struct hot *h = calloc(1, sizeof(*h));

    (void)s;
    if (h == NULL)
        return -ENOMEM;
    *out = h;
    return 0;
}

void hot_free(struct hot *h)
{
    free(h);
}

uint64_t hot_gen(const struct hot *h, uint32_t hash)
{
    return __atomic_load_n(&h->gen[hash & (GEN_SLOTS - 1)], __ATOMIC_ACQUIRE);
}

void hot_wrote(struct hot *h, const char *key, size_t nkey, uint32_t hash)
{
    (void)key;
    (void)nkey;
    __atomic_fetch_add(&h->gen[hash & (GEN_SLOTS - 1)], 1, __ATOMIC_ACQ_REL);
}
