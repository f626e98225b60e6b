/*
 * store_scan: walks of the table: the expiry sampler, and the walks by hash
 * bits and by shard that anti-entropy's trees are built and compared with.
 */
#include "store/store_internal.h"

#include <time.h>

static uint64_t elapsed_us(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000 +
           (uint64_t)((t1.tv_nsec - t0->tv_nsec) / 1000);
}

/* Whether a flush_all has taken effect that the sampler has not yet swept
 * this shard for; returns the epoch to sweep for. */
static bool flush_unswept(const struct store_shard *sh, rel_time_t now, uint32_t *epoch)
{
    rel_time_t live = __atomic_load_n(&sh->st->oldest_live, __ATOMIC_RELAXED);

    *epoch = __atomic_load_n(&sh->st->flush_epoch, __ATOMIC_RELAXED);
    return live != 0 && live <= now && sh->swept_epoch != *epoch;
}

/* Examines up to SAMPLE_BUCKETS buckets of one shard from its cursor;
 * returns the number of items reclaimed and adds to *seen what it examined.
 * Shards with nothing that can expire and no flush to apply are skipped. */
static uint64_t sample_shard(struct store_shard *sh, rel_time_t now, uint64_t *seen)
{
    uint64_t freed = 0;
    uint32_t epoch;

    pthread_mutex_lock(&sh->lock);
    if (sh->growing) {
        /* Finish growing first: the cursor refers to the table being left. */
        do_store_rehash_step(sh, SAMPLE_BUCKETS);
    } else if (sh->nexp > 0 || flush_unswept(sh, now, &epoch)) {
        flush_unswept(sh, now, &epoch);
        if (sh->sample_pos == 0)
            sh->sweep_epoch = epoch;
        for (int n = 0; n < SAMPLE_BUCKETS; n++) {
            uint32_t *pp = &sh->ht[0].b[sh->sample_pos];
            while (*pp != 0) {
                struct item *it = item_at(sh->st, *pp);
                (*seen)++;
                if (item_expired(it, now) || item_flushed(sh->st, it, now)) {
                    do_store_reclaim(sh,
                                     it); /* unlinks it: *pp now holds its successor */
                    freed++;
                } else {
                    pp = &it->h_next;
                }
            }
            sh->sample_pos = (sh->sample_pos + 1) & sh->ht[0].mask;
            if (sh->sample_pos == 0) {
                sh->swept_epoch = sh->sweep_epoch;
                break;
            }
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return freed;
}

uint64_t store_sample_expired(struct store *st, uint64_t budget_us)
{
    struct timespec t0;
    rel_time_t now = mctime_now();
    uint64_t freed = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* One pass over every shard; more passes while a good share of what is
     * examined turns out to be expired, until the time budget is spent. */
    for (int pass = 0; pass < 1000; pass++) {
        uint64_t seen = 0, pass_freed = 0;
        for (uint32_t i = 0; i < STORE_SHARDS; i++)
            pass_freed += sample_shard(&st->shards[i], now, &seen);
        freed += pass_freed;
        if (pass_freed * 10 < seen || seen == 0 || elapsed_us(&t0) >= budget_us)
            break;
    }
    return freed;
}

/* Calls fn for the items of table t with (hv & vmask) == value, whose table
 * bucket index has low bits `low` (of lowmask), reclaiming expired and
 * flushed ones instead. Returns how many fn saw. */
static size_t scan_table(struct store_shard *sh, struct htab *t, uint32_t value,
                         uint32_t vmask, uint32_t low, uint32_t lowmask, rel_time_t now,
                         void (*fn)(void *arg, const struct item *it), void *arg)
{
    size_t n = 0;

    if (t->b == NULL)
        return 0;
    for (uint32_t j = low; j <= t->mask; j += lowmask + 1) {
        uint32_t *pp = &t->b[j];
        while (*pp != 0) {
            struct item *it = item_at(sh->st, *pp);
            if ((store_item_hash(it) & vmask) != value) {
                pp = &it->h_next;
            } else if (item_expired(it, now) || item_flushed(sh->st, it, now)) {
                do_store_reclaim(sh, it); /* *pp now holds its successor */
            } else {
                fn(arg, it);
                n++;
                pp = &it->h_next;
            }
        }
    }
    return n;
}

size_t store_scan_hash(struct store *st, uint32_t value, unsigned bits,
                       void (*fn)(void *arg, const struct item *it), void *arg)
{
    uint32_t vmask = bits >= 32 ? UINT32_MAX : (1u << bits) - 1;
    unsigned above = bits > STORE_SHARD_BITS ? bits - STORE_SHARD_BITS : 0;
    uint32_t lowmask = (1u << above) - 1, low = (value & vmask) >> STORE_SHARD_BITS;
    struct store_shard *sh = &st->shards[value & (STORE_SHARDS - 1)];
    rel_time_t now = mctime_now();
    size_t n;

    value &= vmask;
    pthread_mutex_lock(&sh->lock);
    n = scan_table(sh, &sh->ht[0], value, vmask, low, lowmask, now, fn, arg);
    if (sh->growing)
        n += scan_table(sh, &sh->ht[1], value, vmask, low, lowmask, now, fn, arg);
    pthread_mutex_unlock(&sh->lock);
    return n;
}

size_t store_scan_shard(struct store *st, uint32_t shard,
                        void (*fn)(void *arg, const struct item *it), void *arg)
{
    struct store_shard *sh = &st->shards[shard & (STORE_SHARDS - 1)];
    size_t n = 0;

    pthread_mutex_lock(&sh->lock);
    for (int t = 0; t < (sh->growing ? 2 : 1); t++)
        for (uint32_t j = 0; j <= sh->ht[t].mask; j++)
            for (uint32_t h = sh->ht[t].b[j]; h != 0; h = item_at(st, h)->h_next) {
                fn(arg, item_at(st, h));
                n++;
            }
    fn(arg, NULL);
    pthread_mutex_unlock(&sh->lock);
    return n;
}
