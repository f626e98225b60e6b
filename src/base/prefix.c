/* prefix: a chained hash table of key prefixes and their counters. */
#include "base/prefix.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096 /* chains stay short up to PREFIX_MAX prefixes */

struct entry {
    struct entry *next;
    uint64_t gets, hits, sets, dels;
    size_t len;
    char name[];
};

struct prefix_stats {
    pthread_mutex_t lock;
    bool on; /* atomic */
    char delimiter;
    size_t count; /* under lock */
    struct entry *b[BUCKETS];
};

int prefix_new(char delimiter, struct prefix_stats **out)
{
    struct prefix_stats *ps = calloc(1, sizeof(*ps));

    if (ps == NULL)
        return -1;
    pthread_mutex_init(&ps->lock, NULL);
    ps->delimiter = delimiter;
    *out = ps;
    return 0;
}

static void clear_locked(struct prefix_stats *ps)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        while (ps->b[i] != NULL) {
            struct entry *e = ps->b[i];
            ps->b[i] = e->next;
            free(e);
        }
    }
    ps->count = 0;
}

void prefix_free(struct prefix_stats *ps)
{
    if (ps == NULL)
        return;
    clear_locked(ps);
    pthread_mutex_destroy(&ps->lock);
    free(ps);
}

void prefix_enable(struct prefix_stats *ps, bool on)
{
    __atomic_store_n(&ps->on, on, __ATOMIC_RELAXED);
}

bool prefix_enabled(const struct prefix_stats *ps)
{
    return ps != NULL && __atomic_load_n(&ps->on, __ATOMIC_RELAXED);
}

long prefix_length(const char *key, size_t nkey, char delimiter)
{
    const char *d = memchr(key, delimiter, nkey);

    return d == NULL ? -1 : (long)(d - key);
}

static size_t hash(const char *s, size_t n)
{
    size_t h = 5381;

    for (size_t i = 0; i < n; i++)
        h = h * 33 + (unsigned char)s[i];
    return h % BUCKETS;
}

void prefix_record(struct prefix_stats *ps, const char *key, size_t nkey,
                   enum prefix_op op, bool hit)
{
    long len;
    struct entry *e;
    size_t h;

    if (!prefix_enabled(ps) || (len = prefix_length(key, nkey, ps->delimiter)) < 0)
        return;
    h = hash(key, (size_t)len);
    pthread_mutex_lock(&ps->lock);
    for (e = ps->b[h]; e != NULL; e = e->next)
        if (e->len == (size_t)len && memcmp(e->name, key, (size_t)len) == 0)
            break;
    if (e == NULL && ps->count < PREFIX_MAX &&
        (e = calloc(1, sizeof(*e) + (size_t)len + 1)) != NULL) {
        e->len = (size_t)len;
        memcpy(e->name, key, (size_t)len);
        e->next = ps->b[h];
        ps->b[h] = e;
        ps->count++;
    }
    if (e != NULL) {
        if (op == PREFIX_GET) {
            e->gets++;
            e->hits += hit;
        } else if (op == PREFIX_SET) {
            e->sets++;
        } else {
            e->dels++;
        }
    }
    pthread_mutex_unlock(&ps->lock);
}

void prefix_dump(struct prefix_stats *ps, struct buf *out)
{
    if (ps == NULL) { /* none kept (as prefix_enabled() allows) */
        buf_append(out, "END\r\n", 5);
        return;
    }
    pthread_mutex_lock(&ps->lock);
    for (size_t i = 0; i < BUCKETS; i++) {
        for (const struct entry *e = ps->b[i]; e != NULL; e = e->next) {
            char line[128];
            int n =
                snprintf(line, sizeof(line), " get %llu hit %llu set %llu del %llu\r\n",
                         (unsigned long long)e->gets, (unsigned long long)e->hits,
                         (unsigned long long)e->sets, (unsigned long long)e->dels);
            buf_append(out, "PREFIX ", 7);
            buf_append(out, e->name, e->len);
            buf_append(out, line, (size_t)n);
        }
    }
    pthread_mutex_unlock(&ps->lock);
    buf_append(out, "END\r\n", 5);
}

void prefix_clear(struct prefix_stats *ps)
{
    if (ps == NULL)
        return;
    pthread_mutex_lock(&ps->lock);
    clear_locked(ps);
    pthread_mutex_unlock(&ps->lock);
}
