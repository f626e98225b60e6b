/*
 * topk: Space-Saving over a flat array. Lookups and the search for the
 * smallest counter are linear: the sketch is small (a few hundred counters
 * at most) and only sampled requests reach it.
 */
#include "base/topk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int topk_init(struct topk *t, size_t cap)
{
    t->n = 0;
    t->total = 0;
    t->cap = cap;
    t->e = cap > 0 ? calloc(cap, sizeof(*t->e)) : NULL;
    return t->e != NULL ? 0 : -ENOMEM;
}

void topk_fini(struct topk *t)
{
    free(t->e);
    t->e = NULL;
    t->cap = t->n = 0;
    t->total = 0;
}

static struct topk_entry *find(const struct topk *t, const char *key, size_t nkey,
                               uint32_t hash)
{
    for (size_t i = 0; i < t->n; i++) {
        struct topk_entry *e = &t->e[i];
        if (e->hash == hash && e->nkey == nkey && memcmp(e->key, key, nkey) == 0)
            return e;
    }
    return NULL;
}

const struct topk_entry *topk_find(const struct topk *t, const char *key, size_t nkey,
                                   uint32_t hash)
{
    return find(t, key, nkey, hash);
}

void topk_add(struct topk *t, const char *key, size_t nkey, uint32_t hash, uint64_t w)
{
    struct topk_entry *e;

    if (nkey == 0 || nkey > TOPK_MAX_KEY || w == 0 || t->cap == 0)
        return;
    t->total += w;
    e = find(t, key, nkey, hash);
    if (e != NULL) {
        e->count += w;
        return;
    }
    if (t->n < t->cap) {
        e = &t->e[t->n++];
        e->count = w;
        e->error = 0;
    } else {
        e = &t->e[0];
        for (size_t i = 1; i < t->n; i++)
            if (t->e[i].count < e->count)
                e = &t->e[i];
        e->error = e->count;
        e->count += w;
    }
    e->hash = hash;
    e->nkey = (uint8_t)nkey;
    memcpy(e->key, key, nkey);
}

void topk_decay(struct topk *t)
{
    size_t j = 0;

    for (size_t i = 0; i < t->n; i++) {
        struct topk_entry *e = &t->e[i];
        e->count /= 2;
        e->error /= 2;
        if (e->count == 0)
            continue;
        if (j != i)
            t->e[j] = *e;
        j++;
    }
    t->n = j;
    t->total /= 2;
}

/* Whether a ranks before b. */
static bool before(const struct topk_entry *a, const struct topk_entry *b)
{
    int c;

    if (a->count != b->count)
        return a->count > b->count;
    if (a->error != b->error)
        return a->error < b->error;
    c = memcmp(a->key, b->key, a->nkey < b->nkey ? a->nkey : b->nkey);
    return c != 0 ? c < 0 : a->nkey < b->nkey;
}

size_t topk_top(const struct topk *t, const struct topk_entry **out, size_t k)
{
    size_t n = 0;

    /* insertion into a sorted prefix of at most k: k and n are small */
    for (size_t i = 0; i < t->n; i++) {
        const struct topk_entry *e = &t->e[i];
        size_t at = n;
        while (at > 0 && before(e, out[at - 1]))
            at--;
        if (at >= k)
            continue;
        if (n < k)
            n++;
        memmove(&out[at + 1], &out[at], (n - 1 - at) * sizeof(*out));
        out[at] = e;
    }
    return n;
}
