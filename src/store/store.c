/*
 * store: sharded chained hash tables (of item handles) that grow
 * incrementally, linking and unlinking, tombstones and replicas' states,
 * and a single atomic byte counter that enforces the memory limit. The
 * memory items live in, and eviction, are store_seg.c's.
 */
#include "store/store_internal.h"
#include "base/logger.h"
#include "base/util.h"
#include "base/version.h"

#include <errno.h>
#include <malloc.h>
#include <murmurhash.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HASH_INITIAL_BUCKETS 64
#define HASH_MAX_BUCKETS     (1u << (32 - STORE_SHARD_BITS))
#define REHASH_STEP          4     /* buckets moved per insert while growing */
#define STORE_MAX_DRIFT_MS   60000 /* versions further ahead are not followed */

uint32_t store_hash(const char *key, size_t nkey)
{
    uint32_t h;

    lmmh_x86_32(key, (unsigned int)nkey, 0, &h);
    return h;
}

/* What an item is charged: its span in a segment, or a solo's allocation. */
static uint64_t charge_of(const struct store *st, const struct item *it)
{
    return item_in_arena(st, it) ? item_span(st, it) : solo_of(it)->charge;
}

bool mem_try_add(struct store *st, uint64_t n)
{
    uint64_t used = __atomic_load_n(&st->mem_used, __ATOMIC_RELAXED);

    do {
        if (used + n > __atomic_load_n(&st->cfg.maxbytes, __ATOMIC_RELAXED))
            return false;
    } while (!__atomic_compare_exchange_n(&st->mem_used, &used, used + n, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return true;
}

static inline uint32_t *bucket_of(struct htab *t, uint32_t hv)
{
    return &t->b[(hv >> STORE_SHARD_BITS) & t->mask];
}

static uint64_t table_charge(uint32_t buckets)
{
    return (uint64_t)buckets * sizeof(uint32_t);
}

/* ---- hash table ---- */

/* The slot (bucket or h_next) that holds handle h in hv's chain. */
static uint32_t *chain_slot(struct store_shard *sh, uint32_t hv, uint32_t h)
{
    for (int t = 0; t < (sh->growing ? 2 : 1); t++) {
        uint32_t *pp = bucket_of(&sh->ht[t], hv);
        for (; *pp != 0; pp = &item_at(sh->st, *pp)->h_next)
            if (*pp == h)
                return pp;
    }
    return NULL;
}

void do_store_rehash_step(struct store_shard *sh, int buckets)
{
    struct store *st = sh->st;

    while (sh->growing && buckets-- > 0) {
        uint32_t h = sh->ht[0].b[sh->rehash_idx];
        while (h != 0) {
            struct item *it = item_at(st, h);
            uint32_t next = it->h_next;
            uint32_t *pp = bucket_of(&sh->ht[1], store_item_hash(it));
            it->h_next = *pp;
            *pp = h;
            h = next;
        }
        sh->ht[0].b[sh->rehash_idx] = 0;
        if (sh->rehash_idx++ == sh->ht[0].mask) {
            uint64_t charge = table_charge(sh->ht[0].mask + 1);
            free(sh->ht[0].b);
            mem_sub(st, charge);
            sh->table_bytes -= charge;
            sh->ht[0] = sh->ht[1];
            sh->ht[1].b = NULL;
            sh->growing = false;
            sh->sample_pos = 0;
        }
    }
}

void do_store_moved(struct store_shard *sh, uint32_t hv, uint32_t from, uint32_t to)
{
    uint32_t *pp = chain_slot(sh, hv, from);

    if (pp != NULL)
        *pp = to;
}

/* Starts doubling the table when it is 1.5 times fuller than its buckets.
 * The new bucket array is charged to the limit like items are; when it does
 * not fit, the table stays as it is (chains just get longer) and growth is
 * tried again on a later insert. */
static void maybe_grow(struct store_shard *sh)
{
    struct store *st = sh->st;
    uint32_t size = sh->ht[0].mask + 1;
    uint32_t *b;
    uint64_t charge = table_charge(size * 2);

    if (sh->growing || sh->count < size + size / 2 || size >= HASH_MAX_BUCKETS)
        return;
    if (!segs_charge(st, charge))
        return;
    b = calloc((size_t)size * 2, sizeof(*b));
    if (b == NULL) {
        mem_sub(st, charge);
        return;
    }
    sh->table_bytes += charge;
    sh->ht[1].b = b;
    sh->ht[1].mask = size * 2 - 1;
    sh->rehash_idx = 0;
    sh->growing = true;
}

static inline void tell_linked(struct store_shard *sh, const struct item *it)
{
    if (sh->st->ob.linked != NULL)
        sh->st->ob.linked(sh->st->ob.arg, it);
}

static inline void tell_unlinked(struct store_shard *sh, const struct item *it)
{
    if (sh->st->ob.unlinked != NULL)
        sh->st->ob.unlinked(sh->st->ob.arg, it);
}

/* Removes it (its key's hash hv) from the table and gives its memory up. */
static void unlink_free_hv(struct store_shard *sh, struct item *it, uint32_t hv)
{
    struct store *st = sh->st;
    uint32_t *pp = chain_slot(sh, hv, item_handle(st, it));
    uint64_t charge = charge_of(st, it);

    tell_unlinked(sh, it);
    if (pp != NULL)
        *pp = it->h_next;
    it->iflags &= (uint8_t)~ITEM_LINKED;
    sh->count--;
    sh->tombs -= (it->iflags & ITEM_TOMBSTONE) != 0;
    sh->nexp -= it->exptime != 0;
    sh->bytes -= charge;
    do_segs_forget(st, it);
}

static void unlink_free(struct store_shard *sh, struct item *it)
{
    unlink_free_hv(sh, it, store_item_hash(it));
}

void do_store_reclaim(struct store_shard *sh, struct item *it)
{
    if (!(it->iflags & ITEM_FETCHED))
        sh->expired_unfetched++;
    sh->reclaimed++;
    unlink_free(sh, it);
}

bool store_spared(const struct item *it, const struct spare *sp)
{
    return sp != NULL && it->nkey == sp->nkey &&
           memcmp(item_key((struct item *)it), sp->key, sp->nkey) == 0;
}

/* Tells watchers of an eviction, in memcached's words. */
static void log_eviction(struct store *st, struct item *it, rel_time_t now)
{
    char key[3 * KEY_MAX_LENGTH + 1];

    if (!logger_wants(st->cfg.logger, LOGGER_EVICTIONS))
        return;
    key[util_uri_encode(item_key(it), it->nkey, key)] = '\0';
    logger_log(st->cfg.logger, LOGGER_EVICTIONS,
               "type=eviction key=%s fetch=%s ttl=%lld la=%d clsid=1 size=%u", key,
               (it->iflags & ITEM_FETCHED) ? "yes" : "no",
               it->exptime == 0 ? -1LL : (long long)it->exptime - (long long)now,
               (int)(now - it->time), it->nbytes - 2);
}

void do_store_evict(struct store_shard *sh, struct item *it, rel_time_t now)
{
    sh->evictions++;
    log_eviction(sh->st, it, now);
    if (it->exptime != 0)
        sh->evicted_nonzero++;
    if (!(it->iflags & ITEM_FETCHED))
        sh->evicted_unfetched++;
    unlink_free(sh, it);
}

/* ---- public API ---- */

int store_create(struct store **out, const struct store_config *cfg)
{
    struct store *st = aligned_alloc(64, sizeof(*st));
    uint32_t i;

    if (st == NULL)
        return -1;
    memset(st, 0, sizeof(*st));
    st->cfg = *cfg;
    if (segs_init(st) != 0) {
        free(st);
        return -1;
    }
    for (i = 0; i < STORE_SHARDS; i++) {
        struct store_shard *sh = &st->shards[i];
        sh->st = st;
        sh->ht[0].b = calloc(HASH_INITIAL_BUCKETS, sizeof(uint32_t));
        if (sh->ht[0].b == NULL)
            goto fail;
        sh->ht[0].mask = HASH_INITIAL_BUCKETS - 1;
        sh->table_bytes = table_charge(HASH_INITIAL_BUCKETS);
        st->mem_used += sh->table_bytes;
        pthread_mutex_init(&sh->lock, NULL);
    }
    *out = st;
    return 0;

fail:
    while (i-- > 0) {
        free(st->shards[i].ht[0].b);
        pthread_mutex_destroy(&st->shards[i].lock);
    }
    segs_destroy(st);
    free(st);
    return -1;
}

void store_destroy(struct store *st)
{
    if (st == NULL)
        return;
    for (uint32_t i = 0; i < STORE_SHARDS; i++) {
        struct store_shard *sh = &st->shards[i];
        free(sh->ht[0].b);
        free(sh->ht[1].b);
        pthread_mutex_destroy(&sh->lock);
    }
    segs_destroy(st); /* the items: the arena and the solos */
    free(st);
}

/* store_alloc(), and store_alloc_keep() when keep is true. */
static struct item *alloc_item(struct store *st, const char *key, size_t nkey,
                               uint32_t hv, uint32_t flags, rel_time_t exptime,
                               uint32_t nbytes, bool keep, enum store_alloc_err *err)
{
    struct spare sp = {.key = key, .nkey = nkey};
    struct item *it;

    if (nbytes < 2 || nbytes - 2 > st->cfg.item_size_max || nkey > KEY_MAX_LENGTH) {
        *err = STORE_ALLOC_TOO_LARGE;
        return NULL;
    }
    it = segs_stage(st, item_size(nkey, nbytes), hv, keep ? &sp : NULL, true, err);
    if (it == NULL)
        return NULL;
    it->exptime = exptime;
    it->flags = flags;
    it->nbytes = nbytes;
    it->nkey = (uint8_t)nkey;
    memcpy(it->data, key, nkey);
    return it;
}

struct item *store_alloc(struct store *st, const char *key, size_t nkey, uint32_t hv,
                         uint32_t flags, rel_time_t exptime, uint32_t nbytes,
                         enum store_alloc_err *err)
{
    return alloc_item(st, key, nkey, hv, flags, exptime, nbytes, false, err);
}

struct item *store_alloc_keep(struct store *st, const char *key, size_t nkey, uint32_t hv,
                              uint32_t flags, rel_time_t exptime, uint32_t nbytes,
                              enum store_alloc_err *err)
{
    return alloc_item(st, key, nkey, hv, flags, exptime, nbytes, true, err);
}

void store_release(struct store *st, struct item *it)
{
    if (it != NULL)
        segs_unstage(st, it);
}

uint32_t store_item_hash(const struct item *it)
{
    return store_hash(it->data, it->nkey);
}

uint32_t store_staged_hash(const struct item *it)
{
    return segs_staged_hash(it);
}

struct store_shard *store_lock(struct store *st, uint32_t hv)
{
    struct store_shard *sh = &st->shards[hv & (STORE_SHARDS - 1)];

    pthread_mutex_lock(&sh->lock);
    return sh;
}

void store_unlock(struct store_shard *sh)
{
    pthread_mutex_unlock(&sh->lock);
}

/* The key's item or tombstone; expired and flushed ones are reclaimed. */
static struct item *find_any(struct store_shard *sh, const char *key, size_t nkey,
                             uint32_t hv, enum store_miss *why)
{
    rel_time_t now = mctime_now();

    if (why != NULL)
        *why = STORE_MISS_NONE;
    for (int t = 0; t < (sh->growing ? 2 : 1); t++) {
        for (uint32_t h = *bucket_of(&sh->ht[t], hv); h != 0;) {
            struct item *it = item_at(sh->st, h);
            h = it->h_next;
            if (it->nkey != nkey || memcmp(it->data, key, nkey) != 0)
                continue;
            if (item_flushed(sh->st, it, now)) {
                if (why != NULL)
                    *why = STORE_MISS_FLUSHED;
                do_store_reclaim(sh, it);
                return NULL;
            }
            if (item_expired(it, now)) {
                if (why != NULL)
                    *why = STORE_MISS_EXPIRED;
                do_store_reclaim(sh, it);
                return NULL;
            }
            return it;
        }
    }
    return NULL;
}

struct item *do_store_find(struct store_shard *sh, const char *key, size_t nkey,
                           uint32_t hv, enum store_miss *why)
{
    struct item *it = find_any(sh, key, nkey, hv, why);

    return it != NULL && (it->iflags & ITEM_TOMBSTONE) ? NULL : it;
}

struct item *do_store_link_cas(struct store_shard *sh, struct item *it, struct item *old)
{
    uint32_t hv = segs_staged_hash(it);
    uint32_t *pp;

    if (old == NULL && sh->tombs > 0)
        old = find_any(sh, item_key(it), it->nkey, hv, NULL); /* its tombstone */
    if (old != NULL)
        unlink_free_hv(sh, old, hv); /* the same key */
    maybe_grow(sh);
    do_store_rehash_step(sh, REHASH_STEP);
    it->time = mctime_now();
    it->iflags |= ITEM_LINKED;
    it = do_segs_place(sh->st, it); /* where it lives from now on */
    pp = bucket_of(&sh->ht[sh->growing ? 1 : 0], hv);
    it->h_next = *pp;
    *pp = item_handle(sh->st, it);
    sh->count++;
    sh->nexp += it->exptime != 0;
    if (it->iflags & ITEM_TOMBSTONE)
        sh->tombs++;
    else
        sh->total_items++;
    sh->bytes += charge_of(sh->st, it);
    tell_linked(sh, it);
    return it;
}

struct item *do_store_link(struct store_shard *sh, struct item *it, struct item *old)
{
    it->cas = store_next_cas(sh->st);
    return do_store_link_cas(sh, it, old);
}

void do_store_unlink(struct store_shard *sh, struct item *it)
{
    unlink_free(sh, it);
}

void do_store_set_exptime(struct store_shard *sh, struct item *it, rel_time_t exptime)
{
    sh->nexp += (exptime != 0) - (it->exptime != 0);
    it->exptime = exptime;
}

void do_store_bump(struct store_shard *sh, struct item *it)
{
    (void)sh;
    it->time = mctime_now();
    it->iflags |= ITEM_ACCESSED;
}

void do_store_new_cas(struct store_shard *sh, struct item *it)
{
    tell_unlinked(sh, it); /* the observer sees the version change */
    it->cas = store_next_cas(sh->st);
    tell_linked(sh, it);
}

void do_store_set_cas(struct store_shard *sh, struct item *it, uint64_t cas)
{
    tell_unlinked(sh, it);
    it->cas = cas;
    store_observe_version(sh->st, cas);
    tell_linked(sh, it);
}

void store_set_observer(struct store *st, const struct store_observer *ob)
{
    st->ob = ob != NULL ? *ob : (struct store_observer){0};
}

uint64_t store_next_cas(struct store *st)
{
    uint64_t last, next;

    if (!st->cfg.hlc)
        return __atomic_add_fetch(&st->cas, 1, __ATOMIC_RELAXED);
    last = __atomic_load_n(&st->cas, __ATOMIC_RELAXED);
    do {
        next = version_next(last, mctime_wall_ms(), st->cfg.version_tag);
    } while (!__atomic_compare_exchange_n(&st->cas, &last, next, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return next;
}

int store_apply_state(struct store *st, const char *key, size_t nkey,
                      const struct store_state *s, const char *value, uint64_t *held)
{
    enum store_alloc_err err;
    struct item *it = store_alloc(st, key, nkey, store_hash(key, nkey), s->flags,
                                  s->exptime == 0 ? 0 : mctime_realtime(s->exptime),
                                  s->nvalue + 2, &err);

    if (it == NULL)
        return err == STORE_ALLOC_TOO_LARGE ? -E2BIG : -ENOMEM;
    if (s->nvalue > 0) /* an empty value may come without a buffer */
        memcpy(item_value(it), value, s->nvalue);
    memcpy(item_value(it) + s->nvalue, "\r\n", 2);
    it->cas = s->version;
    it->iflags |=
        s->iflags & (ITEM_TOMBSTONE | ITEM_STALE | ITEM_TOKEN | ITEM_KEY_BINARY);
    return (int)store_apply(st, it, held);
}

void store_observe_version(struct store *st, uint64_t v)
{
    uint64_t last = __atomic_load_n(&st->cas, __ATOMIC_RELAXED), next;

    /* A version from far ahead of this clock (a client's explicit E, a
     * peer with a broken clock) would drag every later write with it, and
     * near the top of the range wrap the clock around: such a version is
     * stored as given, but not followed. */
    if (!st->cfg.hlc || version_ms(v) > mctime_wall_ms() + STORE_MAX_DRIFT_MS)
        return;
    do {
        next = version_observe(last, v);
        if (next == last)
            return;
    } while (!__atomic_compare_exchange_n(&st->cas, &last, next, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

/* A tombstone for key, charged like an item; called with sh locked, so it
 * takes only room that needs no eviction. NULL when there is none. */
static struct item *tomb_new(struct store_shard *sh, const char *key, size_t nkey)
{
    struct store *st = sh->st;
    enum store_alloc_err err;
    struct item *t =
        segs_stage(st, item_size(nkey, 2), store_hash(key, nkey), NULL, false, &err);

    if (t == NULL)
        return NULL;
    t->exptime = mctime_now() + st->cfg.tombstone_ttl;
    t->nbytes = 2;
    t->nkey = (uint8_t)nkey;
    t->iflags = ITEM_TOMBSTONE;
    memcpy(t->data, key, nkey);
    memcpy(t->data + nkey, "\r\n", 2);
    t->cas = store_next_cas(st);
    return do_store_link_cas(sh, t, NULL);
}

uint64_t do_store_delete(struct store_shard *sh, struct item *it)
{
    char key[KEY_MAX_LENGTH];
    size_t nkey = it->nkey;
    uint8_t binary = it->iflags & ITEM_KEY_BINARY;
    struct item *t;

    memcpy(key, item_key(it), nkey);
    unlink_free(sh, it);
    if (!sh->st->cfg.tombstones || (t = tomb_new(sh, key, nkey)) == NULL)
        return 0;
    t->iflags |= binary;
    return t->cas;
}

uint64_t do_store_delete_absent(struct store_shard *sh, const char *key, size_t nkey,
                                uint32_t hv)
{
    struct item *t;

    if (!sh->st->cfg.tombstones)
        return 0;
    t = find_any(sh, key, nkey, hv, NULL);
    if (t == NULL)
        t = tomb_new(sh, key, nkey);
    return t != NULL ? t->cas : 0;
}

bool store_read_state(struct store *st, const char *key, size_t nkey,
                      struct store_state *s, struct buf *value)
{
    uint32_t hv = store_hash(key, nkey);
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = find_any(sh, key, nkey, hv, NULL);

    memset(s, 0, sizeof(*s));
    if (it != NULL) {
        s->version = it->cas;
        s->flags = it->flags;
        s->exptime = it->exptime != 0 ? (int64_t)mctime_to_unix(it->exptime) : 0;
        s->iflags =
            it->iflags & (ITEM_TOMBSTONE | ITEM_STALE | ITEM_TOKEN | ITEM_KEY_BINARY);
        s->nvalue = it->nbytes - 2;
        if (value != NULL)
            buf_append(value, item_value(it), s->nvalue);
    }
    store_unlock(sh);
    return it != NULL;
}

bool store_drop_version(struct store *st, const char *key, size_t nkey, uint64_t version)
{
    uint32_t hv = store_hash(key, nkey);
    struct store_shard *sh = store_lock(st, hv);
    struct item *it = find_any(sh, key, nkey, hv, NULL);
    bool dropped = it != NULL && it->cas == version;

    if (dropped)
        unlink_free(sh, it);
    store_unlock(sh);
    return dropped;
}

enum store_apply_result store_apply(struct store *st, struct item *it, uint64_t *held)
{
    uint32_t hv = store_staged_hash(it);
    struct store_shard *sh = store_lock(st, hv);
    struct item *cur = find_any(sh, item_key(it), it->nkey, hv, NULL);
    enum store_apply_result res = STORE_APPLIED;
    uint64_t version = it->cas;

    if (cur != NULL && cur->cas > version) {
        res = STORE_OLDER;
        version = cur->cas;
    } else if (cur != NULL && cur->cas == version) {
        /* a replicated touch: items only, tombstones keep their own expiry */
        if (!(cur->iflags & ITEM_TOMBSTONE) && cur->exptime != it->exptime)
            do_store_set_exptime(sh, cur, it->exptime);
        res = STORE_TOUCHED;
    } else {
        if ((it->iflags & ITEM_TOMBSTONE) && it->exptime == 0)
            it->exptime = mctime_now() + st->cfg.tombstone_ttl; /* never forever */
        do_store_link_cas(sh, it, cur);
        it = NULL;
    }
    store_unlock(sh);
    store_release(st, it);
    store_observe_version(st, version);
    if (held != NULL)
        *held = version;
    return res;
}

void store_flush(struct store *st, int64_t delay)
{
    rel_time_t now = mctime_now();
    rel_time_t live = (delay > 0 ? mctime_realtime(delay) : now) - 1;

    /* Everything last touched at or before `live` goes once `live` is
     * reached. When that is already the case, items stored earlier in this
     * very second must go too while items stored after this call stay: the
     * CAS counter tells them apart. */
    if (live <= now)
        __atomic_store_n(&st->oldest_cas, store_next_cas(st), __ATOMIC_RELAXED);
    __atomic_store_n(&st->oldest_live, live, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->flush_epoch, 1, __ATOMIC_RELAXED);
}

uint64_t store_mem_free(const struct store *st)
{
    uint64_t used = __atomic_load_n(&st->mem_used, __ATOMIC_RELAXED);
    uint64_t limit = store_mem_limit(st);

    return used < limit ? limit - used : 0;
}

uint64_t store_mem_limit(const struct store *st)
{
    return __atomic_load_n(&st->cfg.maxbytes, __ATOMIC_RELAXED);
}

int store_set_mem_limit(struct store *st, uint64_t bytes)
{
    __atomic_store_n(&st->cfg.maxbytes, bytes, __ATOMIC_RELAXED);
    /* Evict now rather than on the next store, which would otherwise pay
     * for the whole difference; the shards are locked one at a time. */
    while (!segs_charge(st, 0)) {
        if (!st->cfg.evict_to_free || !segs_evict(st, NULL))
            return -1;
    }
    return 0;
}

void store_get_stats(struct store *st, struct store_stats *out)
{
    rel_time_t now = mctime_now();

    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < STORE_SHARDS; i++) {
        struct store_shard *sh = &st->shards[i];
        pthread_mutex_lock(&sh->lock);
        out->curr_items += sh->count - sh->tombs;
        out->tombstones += sh->tombs;
        out->total_items += sh->total_items;
        out->bytes += sh->bytes;
        out->table_bytes += sh->table_bytes;
        out->evictions += sh->evictions;
        out->evicted_nonzero += sh->evicted_nonzero;
        out->evicted_unfetched += sh->evicted_unfetched;
        out->expired_unfetched += sh->expired_unfetched;
        out->reclaimed += sh->reclaimed;
        out->hash_buckets += (uint64_t)sh->ht[sh->growing ? 1 : 0].mask + 1;
        out->hash_expanding += sh->growing;
        pthread_mutex_unlock(&sh->lock);
    }
    out->oldest_age = now - segs_oldest(st, now);
    segs_get_stats(st, out);
    out->mem_used = __atomic_load_n(&st->mem_used, __ATOMIC_RELAXED);
    out->outofmemory = __atomic_load_n(&st->outofmemory, __ATOMIC_RELAXED);
}

void store_reset_stats(struct store *st)
{
    for (uint32_t i = 0; i < STORE_SHARDS; i++) {
        struct store_shard *sh = &st->shards[i];
        pthread_mutex_lock(&sh->lock);
        sh->total_items = 0;
        sh->evictions = 0;
        sh->evicted_nonzero = 0;
        sh->evicted_unfetched = 0;
        sh->expired_unfetched = 0;
        sh->reclaimed = 0;
        pthread_mutex_unlock(&sh->lock);
    }
    __atomic_store_n(&st->outofmemory, 0, __ATOMIC_RELAXED);
}
