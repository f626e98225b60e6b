/*
 * collapse: a worker's joinable gets in flight, hashed by key, and the
 * spares their entries are reused from.
 */
#include "cluster/collapse.h"

#include <stdlib.h>
#include <string.h>

#define COLLAPSE_BUCKETS 256 /* power of two */
#define COLLAPSE_SPARES  64  /* entries kept for reuse */

struct collapse {
    struct collapse_entry *bucket[COLLAPSE_BUCKETS];
    struct collapse_entry *spare;
    unsigned nspare;
    size_t count;
};

struct collapse *collapse_new(void)
{
    return calloc(1, sizeof(struct collapse));
}

void collapse_free(struct collapse *c)
{
    if (c == NULL)
        return;
    while (c->spare != NULL) {
        struct collapse_entry *e = c->spare;
        c->spare = e->next;
        free(e);
    }
    free(c);
}

struct collapse_entry *collapse_find(struct collapse *c, const char *key, size_t nkey,
                                     uint32_t hash, uint32_t owner, bool cas)
{
    for (struct collapse_entry *e = c->bucket[hash & (COLLAPSE_BUCKETS - 1)]; e != NULL;
         e = e->next)
        if (e->hash == hash && e->owner == owner && e->cas == cas && e->nkey == nkey &&
            memcmp(e->key, key, nkey) == 0)
            return e;
    return NULL;
}

struct collapse_entry *collapse_start(struct collapse *c, const char *key, size_t nkey,
                                      uint32_t hash, uint32_t owner, bool cas,
                                      uint64_t gen, struct fwdreq *r)
{
    struct collapse_entry *e = c->spare, **head;

    if (nkey >= sizeof(e->key))
        return NULL;
    if (e != NULL) {
        c->spare = e->next;
        c->nspare--;
    } else if ((e = malloc(sizeof(*e))) == NULL) {
        return NULL;
    }
    e->tab = c;
    e->hash = hash;
    e->owner = owner;
    e->gen = gen;
    e->cas = cas;
    e->fill = false;
    e->nwaiters = 1;
    e->waiters[0] = r;
    e->nkey = (uint8_t)nkey;
    memcpy(e->key, key, nkey);
    head = &c->bucket[hash & (COLLAPSE_BUCKETS - 1)];
    e->next = *head;
    *head = e;
    c->count++;
    return e;
}

void collapse_close(struct collapse_entry *e)
{
    struct collapse *c = e->tab;
    struct collapse_entry **p;

    if (c == NULL)
        return;
    for (p = &c->bucket[e->hash & (COLLAPSE_BUCKETS - 1)]; *p != NULL; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    e->next = NULL;
    e->tab = NULL;
    c->count--;
}

void collapse_join(struct collapse_entry *e, struct fwdreq *r)
{
    e->waiters[e->nwaiters++] = r;
    if (e->nwaiters == COLLAPSE_MAX_WAITERS)
        collapse_close(e);
}

void collapse_release(struct collapse *c, struct collapse_entry *e)
{
    collapse_close(e);
    if (c->nspare >= COLLAPSE_SPARES) {
        free(e);
        return;
    }
    e->next = c->spare;
    c->spare = e;
    c->nspare++;
}

size_t collapse_count(const struct collapse *c)
{
    return c->count;
}
