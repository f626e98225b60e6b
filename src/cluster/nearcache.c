/*
 * nearcache: striped lists of copies. Only hot keys get here (a few dozen
 * at a time), so a stripe's list is short and walked whole.
 */
#include "cluster/nearcache.h"
#include "base/buf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64 /* power of two */

struct near_entry {
    struct near_entry *next;
    uint32_t hash;
    uint64_t gen;        /* the key's write generation when it was fetched */
    uint64_t expires_ms; /* mctime_mono_ms() */
    size_t len;          /* of the reply */
    uint8_t nkey;
    char data[]; /* the key, then the reply */
};

struct nearcache {
    size_t max_bytes;
    size_t bytes; /* atomic */
    size_t count; /* atomic */
    struct near_stripe {
        pthread_mutex_t lock;
        struct near_entry *head;
    } stripe[STRIPES];
};

static size_t entry_size(const struct near_entry *e)
{
    return sizeof(*e) + e->nkey + e->len;
}

int nearcache_new(size_t max_bytes, struct nearcache **out)
{
    struct nearcache *nc = calloc(1, sizeof(*nc));

    if (nc == NULL)
        return -ENOMEM;
    nc->max_bytes = max_bytes;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&nc->stripe[i].lock, NULL);
    *out = nc;
    return 0;
}

/* With the stripe's lock: unlinks *p and frees it. */
static void unlink_free(struct nearcache *nc, struct near_entry **p)
{
    struct near_entry *e = *p;

    *p = e->next;
    __atomic_fetch_sub(&nc->bytes, entry_size(e), __ATOMIC_RELAXED);
    __atomic_fetch_sub(&nc->count, 1, __ATOMIC_RELAXED);
    free(e);
}

void nearcache_free(struct nearcache *nc)
{
    if (nc == NULL)
        return;
    nearcache_drop(nc, NULL, 0, 0);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&nc->stripe[i].lock);
    free(nc);
}

static struct near_entry **find(struct near_stripe *s, const char *key, size_t nkey,
                                uint32_t hash)
{
    struct near_entry **p;

    for (p = &s->head; *p != NULL; p = &(*p)->next)
        if ((*p)->hash == hash && (*p)->nkey == nkey &&
            memcmp((*p)->data, key, nkey) == 0)
            return p;
    return NULL;
}

bool nearcache_get(struct nearcache *nc, const char *key, size_t nkey, uint32_t hash,
                   uint64_t gen, uint64_t now_ms, struct buf *out)
{
    struct near_stripe *s = &nc->stripe[hash & (STRIPES - 1)];
    struct near_entry **p;
    bool hit = false;

    pthread_mutex_lock(&s->lock);
    p = find(s, key, nkey, hash);
    if (p != NULL && ((*p)->gen != gen || (*p)->expires_ms <= now_ms)) {
        unlink_free(nc, p); /* outdated: a write passed, or its time is up */
    } else if (p != NULL) {
        buf_append(out, (*p)->data + (*p)->nkey, (*p)->len);
        hit = true;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

int nearcache_put(struct nearcache *nc, const char *key, size_t nkey, uint32_t hash,
                  uint64_t gen, uint64_t expires_ms, const char *reply, size_t len,
                  uint64_t now_ms)
{
    struct near_stripe *s = &nc->stripe[hash & (STRIPES - 1)];
    struct near_entry **p, *e;
    size_t size = sizeof(*e) + nkey + len;
    int rc = 0;

    if (nkey > UINT8_MAX)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    if ((p = find(s, key, nkey, hash)) != NULL)
        unlink_free(nc, p);
    for (p = &s->head; *p != NULL;) {
        if ((*p)->expires_ms <= now_ms)
            unlink_free(nc, p);
        else
            p = &(*p)->next;
    }
    if (__atomic_load_n(&nc->bytes, __ATOMIC_RELAXED) + size > nc->max_bytes) {
        rc = -ENOSPC;
    } else if ((e = malloc(size)) == NULL) {
        rc = -ENOMEM;
    } else {
        e->hash = hash;
        e->gen = gen;
        e->expires_ms = expires_ms;
        e->len = len;
        e->nkey = (uint8_t)nkey;
        memcpy(e->data, key, nkey);
        memcpy(e->data + nkey, reply, len);
        e->next = s->head;
        s->head = e;
        __atomic_fetch_add(&nc->bytes, size, __ATOMIC_RELAXED);
        __atomic_fetch_add(&nc->count, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void nearcache_drop(struct nearcache *nc, const char *key, size_t nkey, uint32_t hash)
{
    for (int i = 0; i < STRIPES; i++) {
        struct near_stripe *s = &nc->stripe[i];
        struct near_entry **p;
        if (key != NULL && i != (int)(hash & (STRIPES - 1)))
            continue;
        pthread_mutex_lock(&s->lock);
        if (key == NULL) {
            while (s->head != NULL)
                unlink_free(nc, &s->head);
        } else if ((p = find(s, key, nkey, hash)) != NULL) {
            unlink_free(nc, p);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

size_t nearcache_count(const struct nearcache *nc)
{
    return __atomic_load_n(&nc->count, __ATOMIC_RELAXED);
}

size_t nearcache_bytes(const struct nearcache *nc)
{
    return __atomic_load_n(&nc->bytes, __ATOMIC_RELAXED);
}
