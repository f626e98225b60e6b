/*
 * hot: the generations, the sketch and its hot set, the near cache and
 * the owner's record of near copies, behind one node-wide struct.
 */
#include "cluster/hot.h"
#include "base/mctime.h"
#include "base/settings.h"
#include "base/stats.h"
#include "base/topk.h"
#include "cluster/cluster.h"
#include "cluster/nearcache.h"
#include "cluster/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define GEN_SLOTS      4096 /* power of two; a shared slot only costs a re-send */
#define HOT_MAX        128  /* the largest hotkeys_k */
#define HOT_MIN_COUNT  4    /* samples (after decay) before a key may be hot */
#define MARK_SLOTS     4096 /* power of two; a shared slot costs a spare ri */
#define MARK_MARGIN_MS 1000 /* marks outlive the near copies by this much */

struct hot {
    uint64_t gen[GEN_SLOTS]; /* atomics */
    uint64_t flushes;        /* atomic: flush_all seen, added to every gen */
    unsigned k;              /* -o hotkeys_k */
    struct nearcache *near;  /* NULL when off */
    uint32_t near_ms;        /* -o hot_cache_ms */
    /* owner: keys some node keeps a near copy of, by hash: (hash << 32) |
     * until, until in 16 ms units of mctime_mono_ms(); atomics */
    uint64_t mark[MARK_SLOTS];
    /* the hot set: published by whoever holds the lock, read lock-free */
    uint32_t hotset[HOT_MAX]; /* atomics: hashes */
    unsigned nhot;            /* atomic */
    pthread_mutex_t lock;     /* the sketch and the fields below */
    struct topk sketch;
    uint64_t tick_ms;   /* the last publish */
    uint64_t decay_ms;  /* the last decay */
    uint64_t samples;   /* since the last publish */
    double sample_rate; /* samples per second, smoothed over publishes */
};

int hot_new(const struct settings *s, struct hot **out)
{
    struct hot *h = calloc(1, sizeof(*h));
    size_t cap;

    if (h == NULL)
        return -ENOMEM;
    h->k = s->hotkeys_k < HOT_MAX ? s->hotkeys_k : HOT_MAX;
    if (h->k == 0)
        h->k = 1;
    /* four counters per listed key: Space-Saving's counts are close to
     * exact for the keys well above total / cap */
    cap = 4 * (size_t)h->k;
    if (cap < 32)
        cap = 32;
    h->near_ms = s->hot_cache_ms;
    if (topk_init(&h->sketch, cap) != 0 || pthread_mutex_init(&h->lock, NULL) != 0 ||
        (s->hot_cache_ms > 0 && s->hot_cache_mb > 0 &&
         nearcache_new((size_t)s->hot_cache_mb << 20, &h->near) != 0)) {
        topk_fini(&h->sketch);
        free(h);
        return -ENOMEM;
    }
    *out = h;
    return 0;
}

void hot_free(struct hot *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->lock);
    topk_fini(&h->sketch);
    nearcache_free(h->near);
    free(h);
}

uint64_t hot_gen(const struct hot *h, uint32_t hash)
{
    return __atomic_load_n(&h->gen[hash & (GEN_SLOTS - 1)], __ATOMIC_ACQUIRE) +
           __atomic_load_n(&h->flushes, __ATOMIC_ACQUIRE);
}

void hot_wrote(struct hot *h, const char *key, size_t nkey, uint32_t hash)
{
    __atomic_fetch_add(&h->gen[hash & (GEN_SLOTS - 1)], 1, __ATOMIC_ACQ_REL);
    if (h->near != NULL)
        nearcache_drop(h->near, key, nkey, hash); /* its memory, at once */
}

void hot_flushed(struct hot *h)
{
    __atomic_fetch_add(&h->flushes, 1, __ATOMIC_ACQ_REL);
    if (h->near != NULL)
        nearcache_drop(h->near, NULL, 0, 0);
}

bool hot_near_on(const struct hot *h)
{
    return h->near != NULL;
}

bool hot_near_get(struct hot *h, const char *key, size_t nkey, uint32_t hash,
                  uint64_t now_ms, struct buf *out)
{
    return h->near != NULL &&
           nearcache_get(h->near, key, nkey, hash, hot_gen(h, hash), now_ms, out);
}

bool hot_near_put(struct hot *h, const char *key, size_t nkey, uint32_t hash,
                  uint64_t gen, const char *reply, size_t len, uint64_t now_ms)
{
    /* a write seen since the fetch left: its answer may be older */
    if (h->near == NULL || hot_gen(h, hash) != gen)
        return false;
    return nearcache_put(h->near, key, nkey, hash, gen, now_ms + h->near_ms, reply, len,
                         now_ms) == 0;
}

void hot_mark(struct hot *h, uint32_t hash, uint64_t now_ms)
{
    uint32_t until = (uint32_t)((now_ms + h->near_ms + MARK_MARGIN_MS) / 16);

    __atomic_store_n(&h->mark[hash & (MARK_SLOTS - 1)], (uint64_t)hash << 32 | until,
                     __ATOMIC_RELEASE);
}

bool hot_marked(const struct hot *h, uint32_t hash, uint64_t now_ms)
{
    uint64_t m = __atomic_load_n(&h->mark[hash & (MARK_SLOTS - 1)], __ATOMIC_ACQUIRE);

    return m != 0 && (uint32_t)(m >> 32) == hash &&
           (int32_t)((uint32_t)m - (uint32_t)(now_ms / 16)) >= 0;
}

/* Whether a counter makes its key hot: enough samples, and at least
 * 1 / (8 k) of them. */
static bool is_hot_entry(const struct hot *h, const struct topk_entry *e)
{
    return e->count - e->error >= HOT_MIN_COUNT && e->count * 8 * h->k >= h->sketch.total;
}

/* With the lock: a key that just became hot joins the hot set at once,
 * rather than at the next publish (the set is only appended to here). */
static void promote(struct hot *h, const char *key, size_t nkey, uint32_t hash)
{
    const struct topk_entry *e = topk_find(&h->sketch, key, nkey, hash);
    unsigned n = __atomic_load_n(&h->nhot, __ATOMIC_RELAXED);

    if (e == NULL || n >= h->k || !is_hot_entry(h, e) || hot_is_hot(h, hash))
        return;
    __atomic_store_n(&h->hotset[n], hash, __ATOMIC_RELAXED);
    __atomic_store_n(&h->nhot, n + 1, __ATOMIC_RELEASE);
}

/* With the lock: recomputes the hot set, and decays the sketch when due. */
static void publish(struct hot *h, uint64_t now_ms)
{
    const struct topk_entry *top[HOT_MAX];
    uint64_t elapsed = now_ms - h->tick_ms;
    double rate = elapsed > 0 ? (double)h->samples * 1000.0 / (double)elapsed : 0;
    size_t n, nhot = 0;

    h->sample_rate = h->sample_rate > 0 ? (h->sample_rate + rate) / 2 : rate;
    h->samples = 0;
    h->tick_ms = now_ms;
    if (now_ms - h->decay_ms >= HOT_DECAY_MS) {
        topk_decay(&h->sketch);
        h->decay_ms = now_ms;
    }
    n = topk_top(&h->sketch, top, h->k);
    for (size_t i = 0; i < n; i++) {
        const struct topk_entry *e = top[i];
        if (!is_hot_entry(h, e))
            break;
        __atomic_store_n(&h->hotset[nhot++], e->hash, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&h->nhot, (unsigned)nhot, __ATOMIC_RELEASE);
}

void hot_sample(struct hot *h, const char *key, size_t nkey, uint32_t hash,
                uint64_t now_ms)
{
    if (pthread_mutex_trylock(&h->lock) != 0)
        return;
    if (h->tick_ms == 0)
        h->tick_ms = h->decay_ms = now_ms;
    topk_add(&h->sketch, key, nkey, hash, 1);
    h->samples++;
    if (now_ms - h->tick_ms >= HOT_PUBLISH_MS)
        publish(h, now_ms);
    else
        promote(h, key, nkey, hash);
    pthread_mutex_unlock(&h->lock);
}

bool hot_is_hot(const struct hot *h, uint32_t hash)
{
    unsigned n = __atomic_load_n(&h->nhot, __ATOMIC_ACQUIRE);

    for (unsigned i = 0; i < n; i++)
        if (__atomic_load_n(&h->hotset[i], __ATOMIC_RELAXED) == hash)
            return true;
    return false;
}

/* This node's place among the key's owners. */
static const char *role(const struct ring *r, uint32_t hash, unsigned replicas)
{
    size_t idx[SETTINGS_MAX_REPLICAS], n = 0;

    if (r == NULL || ring_node_count(r) == 0)
        return "owner"; /* a single node owns everything */
    if (replicas == 0 || replicas > SETTINGS_MAX_REPLICAS)
        replicas = 1;
    if (ring_owners(r, hash, replicas, idx, &n) != 0)
        return "none";
    for (size_t i = 0; i < n; i++)
        if (ring_node(r, idx[i])->tag == CLUSTER_SELF)
            return i == 0 ? "owner" : "replica";
    return "none";
}

void hot_stats(struct hot *h, struct cluster *cl, unsigned replicas, uint64_t now_ms,
               struct buf *out)
{
    const struct topk_entry *top[HOT_MAX];
    struct ring *r = cl != NULL ? ring_acquire(cluster_ring_ref(cl)) : NULL;
    size_t n;
    double per_sample;

    pthread_mutex_lock(&h->lock);
    if (h->tick_ms != 0 && now_ms - h->tick_ms >= HOT_PUBLISH_MS)
        publish(h, now_ms); /* the rate also falls when requests stop */
    else if (h->sample_rate == 0 && now_ms > h->tick_ms && h->tick_ms != 0)
        h->sample_rate = (double)h->samples * 1000.0 / (double)(now_ms - h->tick_ms);
    stats_line(out, "hotkeys_k", "%u", h->k);
    stats_line(out, "hot_keys_tracked", "%zu", h->sketch.n);
    stats_line(out, "near_entries", "%zu",
               h->near != NULL ? nearcache_count(h->near) : 0);
    stats_line(out, "near_bytes", "%zu", h->near != NULL ? nearcache_bytes(h->near) : 0);
    n = topk_top(&h->sketch, top, h->k);
    /* a key's share of the samples times the node's request rate */
    per_sample = h->sketch.total > 0
                     ? h->sample_rate * HOT_SAMPLE_EVERY / (double)h->sketch.total
                     : 0;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "hotkey:%zu", i + 1);
        stats_line(out, name, "%.*s rps=%.0f role=%s", (int)top[i]->nkey, top[i]->key,
                   (double)top[i]->count * per_sample, role(r, top[i]->hash, replicas));
    }
    pthread_mutex_unlock(&h->lock);
    if (r != NULL)
        ring_release(r);
}

void hot_peer_mark(void *arg, const char *key, size_t nkey)
{
    hot_mark(arg, ring_hash(key, nkey), mctime_mono_ms());
}

void hot_peer_drop(void *arg, const char *key, size_t nkey)
{
    if (key == NULL)
        hot_flushed(arg);
    else
        hot_wrote(arg, key, nkey, ring_hash(key, nkey));
}
