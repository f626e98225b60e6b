/*
 * store: sharded chained hash tables that grow incrementally, one LRU list
 * per shard, and a single atomic byte counter that enforces the memory limit.
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
#define TAIL_SEARCH          5     /* LRU tail items checked for an expired one */
#define STORE_MAX_DRIFT_MS   60000 /* versions further ahead are not followed */

uint32_t store_hash(const char *key, size_t nkey)
{
    uint32_t h;

    lmmh_x86_32(key, (unsigned int)nkey, 0, &h);
    return h;
}

/* The real size of an allocation: what malloc gave plus its chunk header. */
static uint64_t charge_of(void *p)
{
    return malloc_usable_size(p) + sizeof(size_t);
}

static bool mem_try_add(struct store *st, uint64_t n)
{
    uint64_t used = __atomic_load_n(&st->mem_used, __ATOMIC_RELAXED);

    do {
        if (used + n > __atomic_load_n(&st->cfg.maxbytes, __ATOMIC_RELAXED))
            return false;
    } while (!__atomic_compare_exchange_n(&st->mem_used, &used, used + n, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return true;
}

static void mem_sub(struct store *st, uint64_t n)
{
    __atomic_fetch_sub(&st->mem_used, n, __ATOMIC_RELAXED);
}

static inline struct item **bucket_of(struct htab *t, uint32_t hv)
{
    return &t->b[(hv >> STORE_SHARD_BITS) & t->mask];
}

/* ---- LRU ---- */

/* How recently an item was used, comparable across shards: its second,
 * then its millisecond (which orders items used within the same second; a
 * millisecond clock that wrapped within that second misorders them once in
 * 49.7 days). */
static inline uint64_t tail_key(const struct item *it)
{
    return it == NULL ? UINT64_MAX : (uint64_t)it->time << 32 | it->atime_ms;
}

/* Tells eviction about the shard's current tail; a store only when it
 * changed, so that the shared array is not written on every access. */
static void publish_tail(struct store_shard *sh)
{
    uint64_t *slot = &sh->st->tail_keys[sh - sh->st->shards];
    uint64_t key = tail_key(sh->lru_tail);

    if (__atomic_load_n(slot, __ATOMIC_RELAXED) != key)
        __atomic_store_n(slot, key, __ATOMIC_RELAXED);
}

static void lru_unlink(struct store_shard *sh, struct item *it)
{
    bool was_tail = it->next == NULL;

    if (it->prev != NULL)
        it->prev->next = it->next;
    else
        sh->lru_head = it->next;
    if (it->next != NULL)
        it->next->prev = it->prev;
    else
        sh->lru_tail = it->prev;
    it->prev = it->next = NULL;
    if (was_tail)
        publish_tail(sh);
}

static void lru_push_head(struct store_shard *sh, struct item *it)
{
    it->prev = NULL;
    it->next = sh->lru_head;
    if (sh->lru_head != NULL)
        sh->lru_head->prev = it;
    sh->lru_head = it;
    if (sh->lru_tail == NULL) {
        sh->lru_tail = it;
        publish_tail(sh);
    }
}

/* ---- hash table ---- */

static struct item **chain_slot(struct store_shard *sh, struct item *it)
{
    for (int t = 0; t < (sh->growing ? 2 : 1); t++) {
        struct item **pp = bucket_of(&sh->ht[t], it->hv);
        for (; *pp != NULL; pp = &(*pp)->h_next)
            if (*pp == it)
                return pp;
    }
    return NULL;
}

void do_store_rehash_step(struct store_shard *sh, int buckets)
{
    while (sh->growing && buckets-- > 0) {
        struct item *it = sh->ht[0].b[sh->rehash_idx];
        while (it != NULL) {
            struct item *next = it->h_next;
            struct item **pp = bucket_of(&sh->ht[1], it->hv);
            it->h_next = *pp;
            *pp = it;
            it = next;
        }
        sh->ht[0].b[sh->rehash_idx] = NULL;
        if (sh->rehash_idx++ == sh->ht[0].mask) {
            uint64_t charge = charge_of(sh->ht[0].b);
            free(sh->ht[0].b);
            mem_sub(sh->st, charge);
            sh->table_bytes -= charge;
            sh->ht[0] = sh->ht[1];
            sh->ht[1].b = NULL;
            sh->growing = false;
            sh->sample_pos = 0;
        }
    }
}

static bool evict_one(struct store *st, struct store_shard *held, const struct spare *sp,
                      uint32_t from);

/* Starts doubling the table when it is 1.5 times fuller than its buckets.
 * The new bucket array is charged to the limit like items are; when it does
 * not fit, the table stays as it is (chains just get longer) and growth is
 * tried again on a later insert. */
static void maybe_grow(struct store_shard *sh)
{
    struct store *st = sh->st;
    uint32_t size = sh->ht[0].mask + 1;
    struct item **b;
    uint64_t charge;

    if (sh->growing || sh->count < size + size / 2 || size >= HASH_MAX_BUCKETS)
        return;
    b = calloc((size_t)size * 2, sizeof(*b));
    if (b == NULL)
        return;
    charge = charge_of(b);
    for (int tries = 0; !mem_try_add(st, charge); tries++) {
        if (!st->cfg.evict_to_free || tries >= 64 ||
            !evict_one(st, sh, NULL, (uint32_t)(sh - st->shards))) {
            free(b);
            return;
        }
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

/* Removes it from the table and the LRU and frees it. */
static void unlink_free(struct store_shard *sh, struct item *it)
{
    struct item **pp = chain_slot(sh, it);
    uint64_t charge = charge_of(it);

    tell_unlinked(sh, it);
    if (pp != NULL)
        *pp = it->h_next;
    lru_unlink(sh, it);
    sh->count--;
    sh->tombs -= (it->iflags & ITEM_TOMBSTONE) != 0;
    sh->nexp -= it->exptime != 0;
    sh->bytes -= charge;
    mem_sub(sh->st, charge);
    free(it);
}

void do_store_reclaim(struct store_shard *sh, struct item *it)
{
    if (!(it->iflags & ITEM_FETCHED))
        sh->expired_unfetched++;
    sh->reclaimed++;
    unlink_free(sh, it);
}

static bool spared(const struct item *it, const struct spare *sp)
{
    return sp != NULL && it->hv == sp->hv && it->nkey == sp->nkey &&
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

/* In a locked shard: reclaims an expired or flushed item near the LRU tail
 * if there is one, else evicts the tail; when the tail is spared, the item
 * before it, if that was used no later than `newest` (the oldest tail of the
 * other shards: else it is not the least recently used). Returns false when
 * the shard has nothing to free. */
static bool free_from(struct store *st, struct store_shard *sh, const struct spare *sp,
                      rel_time_t now, uint64_t newest)
{
    struct item *it, *victim = sh->lru_tail;
    int n = 0;

    for (it = sh->lru_tail; it != NULL && n < TAIL_SEARCH; it = it->prev, n++) {
        if ((item_expired(it, now) || item_flushed(st, it, now)) && !spared(it, sp)) {
            do_store_reclaim(sh, it);
            return true;
        }
    }
    if (victim != NULL && spared(victim, sp)) {
        victim = victim->prev; /* a key has one item: the next is another's */
        if (victim != NULL && tail_key(victim) > newest)
            return false;
    }
    if (victim == NULL)
        return false;
    sh->evictions++;
    log_eviction(st, victim, now);
    if (victim->exptime != 0)
        sh->evicted_nonzero++;
    if (!(victim->iflags & ITEM_FETCHED))
        sh->evicted_unfetched++;
    unlink_free(sh, victim);
    return true;
}

/*
 * Frees one item to make room, from the shard whose LRU tail was used least
 * recently of all (so eviction follows one LRU order across shards, to the
 * millisecond: see tail_key()); an expired or flushed item near that tail
 * goes first. `held` is a shard the caller already has locked (or NULL), in
 * which case the others are only try-locked so that two evicting threads
 * can never deadlock; a shard that cannot be locked, or turns out to have
 * nothing to free, is passed over for the next oldest. Never frees the item
 * sp names.
 */
/* The shard whose published tail was used least recently, among those not
 * in skip, or STORE_SHARDS; its key in *key. The walk starts at shard
 * `from`: tails used in the same millisecond are common under churn, and
 * threads that start at different shards (their keys') pick different ones
 * among them instead of all queueing on one shard's lock. */
static uint32_t oldest_shard(const struct store *st, const uint64_t *skip, uint32_t from,
                             uint64_t *key)
{
    uint64_t best = UINT64_MAX;
    uint32_t pick = STORE_SHARDS;

    for (uint32_t n = 0; n < STORE_SHARDS; n++) {
        uint32_t i = (from + n) & (STORE_SHARDS - 1);
        uint64_t k = __atomic_load_n(&st->tail_keys[i], __ATOMIC_RELAXED);
        if (k < best && !(skip[i / 64] >> (i % 64) & 1)) {
            best = k;
            pick = i;
        }
    }
    *key = best;
    return pick;
}

static bool evict_one(struct store *st, struct store_shard *held, const struct spare *sp,
                      uint32_t from)
{
    rel_time_t now = mctime_now();
    uint64_t skip[STORE_SHARDS / 64] = {0};

    for (uint32_t tries = 0; tries < STORE_SHARDS; tries++) {
        uint64_t key, newest = UINT64_MAX;
        uint32_t pick = oldest_shard(st, skip, from, &key);
        struct store_shard *sh;
        bool freed;

        if (pick == STORE_SHARDS)
            return false; /* every shard is empty, or was passed over */
        skip[pick / 64] |= (uint64_t)1 << (pick % 64);
        /* the spared key's shard: its tail may be the spared item, and then
         * the item before it goes only if it is older than every other tail */
        if (sp != NULL && pick == (sp->hv & (STORE_SHARDS - 1)))
            oldest_shard(st, skip, from, &newest);
        sh = &st->shards[pick];
        if (sh != held) {
            if (held == NULL)
                pthread_mutex_lock(&sh->lock);
            else if (pthread_mutex_trylock(&sh->lock) != 0)
                continue;
        }
        freed = free_from(st, sh, sp, now, newest);
        if (sh != held)
            pthread_mutex_unlock(&sh->lock);
        if (freed)
            return true;
    }
    return false;
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
    for (i = 0; i < STORE_SHARDS; i++)
        st->tail_keys[i] = UINT64_MAX;
    for (i = 0; i < STORE_SHARDS; i++) {
        struct store_shard *sh = &st->shards[i];
        sh->st = st;
        sh->ht[0].b = calloc(HASH_INITIAL_BUCKETS, sizeof(struct item *));
        if (sh->ht[0].b == NULL)
            goto fail;
        sh->ht[0].mask = HASH_INITIAL_BUCKETS - 1;
        sh->table_bytes = charge_of(sh->ht[0].b);
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
    free(st);
    return -1;
}

void store_destroy(struct store *st)
{
    if (st == NULL)
        return;
    for (uint32_t i = 0; i < STORE_SHARDS; i++) {
        struct store_shard *sh = &st->shards[i];
        struct item *it = sh->lru_head;
        while (it != NULL) {
            struct item *next = it->next;
            free(it);
            it = next;
        }
        free(sh->ht[0].b);
        free(sh->ht[1].b);
        pthread_mutex_destroy(&sh->lock);
    }
    free(st);
}

/* store_alloc(), and store_alloc_keep() when keep is true. */
static struct item *alloc_item(struct store *st, const char *key, size_t nkey,
                               uint32_t hv, uint32_t flags, rel_time_t exptime,
                               uint32_t nbytes, bool keep, enum store_alloc_err *err)
{
    struct spare sp = {.key = key, .nkey = nkey, .hv = hv};
    struct item *it;
    uint64_t charge;

    if (nbytes < 2 || nbytes - 2 > st->cfg.item_size_max || nkey > KEY_MAX_LENGTH) {
        *err = STORE_ALLOC_TOO_LARGE;
        return NULL;
    }
    it = malloc(item_size(nkey, nbytes));
    if (it == NULL)
        goto nomem;
    charge = charge_of(it);
    while (!mem_try_add(st, charge)) {
        if (!st->cfg.evict_to_free || !evict_one(st, NULL, keep ? &sp : NULL, hv)) {
            free(it);
            goto nomem;
        }
    }
    item_clear_header(it);
    it->exptime = exptime;
    it->flags = flags;
    it->nbytes = nbytes;
    it->hv = hv;
    it->nkey = (uint8_t)nkey;
    memcpy(it->data, key, nkey);
    *err = STORE_ALLOC_OK;
    return it;

nomem:
    __atomic_fetch_add(&st->outofmemory, 1, __ATOMIC_RELAXED);
    *err = STORE_ALLOC_NOMEM;
    return NULL;
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
    if (it == NULL)
        return;
    mem_sub(st, charge_of(it));
    free(it);
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
        for (struct item *it = *bucket_of(&sh->ht[t], hv); it != NULL; it = it->h_next) {
            if (it->hv != hv || it->nkey != nkey || memcmp(it->data, key, nkey) != 0)
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

void do_store_link_cas(struct store_shard *sh, struct item *it, struct item *old)
{
    struct item **pp;

    if (old == NULL && sh->tombs > 0)
        old = find_any(sh, item_key(it), it->nkey, it->hv, NULL); /* its tombstone */
    if (old != NULL)
        unlink_free(sh, old);
    maybe_grow(sh);
    do_store_rehash_step(sh, REHASH_STEP);
    pp = bucket_of(&sh->ht[sh->growing ? 1 : 0], it->hv);
    it->h_next = *pp;
    *pp = it;
    it->time = mctime_now();
    it->atime_ms = mctime_coarse_ms();
    it->iflags |= ITEM_LINKED;
    lru_push_head(sh, it);
    sh->count++;
    sh->nexp += it->exptime != 0;
    if (it->iflags & ITEM_TOMBSTONE)
        sh->tombs++;
    else
        sh->total_items++;
    sh->bytes += charge_of(it);
    tell_linked(sh, it);
}

void do_store_link(struct store_shard *sh, struct item *it, struct item *old)
{
    it->cas = store_next_cas(sh->st);
    do_store_link_cas(sh, it, old);
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
    it->time = mctime_now();
    it->atime_ms = mctime_coarse_ms();
    if (sh->lru_tail == it && sh->lru_head == it)
        publish_tail(sh); /* alone in its shard: its use moved the tail's key */
    if (sh->lru_head != it) {
        lru_unlink(sh, it);
        lru_push_head(sh, it);
    }
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

/* A tombstone for key, charged like an item; called with sh locked, so
 * room is made by evicting with trylock only. NULL when there is none. */
static struct item *tomb_new(struct store_shard *sh, const char *key, size_t nkey,
                             uint32_t hv)
{
    struct store *st = sh->st;
    struct item *t = malloc(item_size(nkey, 2));
    uint64_t charge;

    if (t == NULL)
        return NULL;
    charge = charge_of(t);
    for (int tries = 0; !mem_try_add(st, charge); tries++) {
        if (!st->cfg.evict_to_free || tries >= 64 ||
            !evict_one(st, sh, NULL, (uint32_t)(sh - st->shards))) {
            free(t);
            return NULL;
        }
    }
    item_clear_header(t);
    t->exptime = mctime_now() + st->cfg.tombstone_ttl;
    t->nbytes = 2;
    t->hv = hv;
    t->nkey = (uint8_t)nkey;
    t->iflags = ITEM_TOMBSTONE;
    memcpy(t->data, key, nkey);
    memcpy(t->data + nkey, "\r\n", 2);
    t->cas = store_next_cas(st);
    do_store_link_cas(sh, t, NULL);
    return t;
}

uint64_t do_store_delete(struct store_shard *sh, struct item *it)
{
    char key[KEY_MAX_LENGTH];
    size_t nkey = it->nkey;
    uint32_t hv = it->hv;
    uint8_t binary = it->iflags & ITEM_KEY_BINARY;
    struct item *t;

    memcpy(key, item_key(it), nkey);
    unlink_free(sh, it); /* first: eviction for the tombstone must not pick it */
    if (!sh->st->cfg.tombstones || (t = tomb_new(sh, key, nkey, hv)) == NULL)
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
        t = tomb_new(sh, key, nkey, hv);
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
    struct store_shard *sh = store_lock(st, it->hv);
    struct item *cur = find_any(sh, item_key(it), it->nkey, it->hv, NULL);
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
    while (__atomic_load_n(&st->mem_used, __ATOMIC_RELAXED) > bytes) {
        if (!st->cfg.evict_to_free || !evict_one(st, NULL, NULL, 0))
            return -1;
    }
    return 0;
}

void store_get_stats(struct store *st, struct store_stats *out)
{
    rel_time_t now = mctime_now(), oldest = now;

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
        if (sh->lru_tail != NULL && sh->lru_tail->time < oldest)
            oldest = sh->lru_tail->time;
        pthread_mutex_unlock(&sh->lock);
    }
    out->oldest_age = now - oldest;
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
