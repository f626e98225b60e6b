/*
 * store_internal: what the files of the store share: store.c (the table,
 * linking, tombstones, replicas' states), store_seg.c (the memory: segments,
 * large items, eviction) and store_scan.c (walks of the table: the expiry
 * sampler, anti-entropy's walks). Not for other modules: they use store.h.
 *
 * Memory. Items live in segments: equal slices (32 KiB to 1 MiB, by -m) of
 * one reserved stretch of address space, the arena, filled one after
 * another by appending items. An item bigger than a quarter of a segment
 * is held alone (a "solo": one malloc with a small header). Both are
 * addressed by 32-bit handles: an arena item by its offset in 4-byte (or,
 * for big arenas, larger) units plus one, a solo by HANDLE_SOLO and its
 * index; 0 is no item. Hash chains are made of handles, which is what
 * keeps the per-item cost low: 30 bytes of header, no allocator header or
 * rounding beyond 4 bytes, and a 4-byte bucket.
 *
 * An item under construction (store_alloc() until the link) is staged in
 * a malloc'd solo; linking copies a small one into the active segment (or
 * links a large one as it is). Space for the copy is reserved when it is
 * staged, with no lock held, so that linking under a shard lock never has
 * to evict: a slow client writing a value pins no segment.
 *
 * Eviction takes the oldest unit (segment or solo) of a FIFO: every item
 * of a segment that was used since it was stored is kept (moved down
 * within the segment, which then takes new items again), the others are
 * evicted; a used solo goes to the back of the FIFO. Deleted and replaced
 * items leave dead space until their segment's turn.
 *
 * Locks: a shard lock protects its table and its items (also their bytes
 * in a segment); segs.lock, taken inside a shard lock or alone, the
 * segment bookkeeping; segs.evict_lock (never inside a shard lock) makes
 * evictions one at a time. Every do_ function here expects the caller to
 * hold the shard's lock.
 */
#ifndef MESHCACHED_STORE_INTERNAL_H
#define MESHCACHED_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/item.h"
#include "store/store.h"

#define SAMPLE_BUCKETS 64 /* buckets examined per shard per sampler pass */

#define HANDLE_SOLO 0x80000000u /* a handle naming a solo by index */
#define UNIT_NONE   UINT32_MAX  /* no segment or solo (FIFO and list ends) */

struct htab {
    uint32_t *b;   /* buckets: handles of the chains' first items */
    uint32_t mask; /* bucket count - 1 */
};

struct store_shard {
    pthread_mutex_t lock;
    struct store *st;
    struct htab ht[2];    /* ht[1] is the bigger table while growing */
    bool growing;         /* moving buckets from ht[0] to ht[1] */
    uint32_t rehash_idx;  /* next ht[0] bucket to move */
    uint32_t count;       /* linked items, tombstones included */
    uint32_t tombs;       /* linked tombstones */
    uint32_t nexp;        /* linked items with an expiry time */
    uint32_t sweep_epoch; /* flush epoch when the current sampler sweep began */
    uint32_t swept_epoch; /* flush epoch a whole sampler sweep has covered */
    uint32_t sample_pos;  /* the sampler's cursor into ht[0] */
    /* counters, under lock */
    uint64_t bytes;
    uint64_t table_bytes;
    uint64_t total_items;
    uint64_t evictions;
    uint64_t evicted_nonzero;
    uint64_t evicted_unfetched;
    uint64_t expired_unfetched;
    uint64_t reclaimed;
} __attribute__((aligned(64)));

/* One segment of the arena. */
enum seg_state {
    SEG_UNUSED,   /* holds no memory (never used, or given back) */
    SEG_FREE,     /* on the free list: items may be placed after `used` */
    SEG_ACTIVE,   /* the segment items are placed in now */
    SEG_FIFO,     /* full: waits in the FIFO for eviction */
    SEG_EVICTING, /* being walked by eviction */
};

struct seg {
    uint32_t used;       /* bytes placed from its start */
    uint32_t live;       /* atomic: bytes of linked items */
    uint32_t pending;    /* atomic: places taken whose item is not written yet */
    uint32_t prev, next; /* FIFO neighbours, or the next free or unused one */
    rel_time_t sealed;   /* when it entered the FIFO */
    uint8_t state;       /* enum seg_state */
};

/* The header of a solo; its item follows it. */
struct solo {
    uint32_t prev, next; /* FIFO neighbours (linked solos) */
    uint32_t idx;        /* index in the solo directory, UINT32_MAX for none */
    uint32_t resv;       /* a staged small item: the segment bytes reserved for it */
    uint64_t charge;     /* bytes charged: to mem_used (large) or pending (staged) */
    rel_time_t sealed;   /* when it entered the FIFO */
    uint32_t state;      /* enum solo_state */
    uint32_t hv;         /* store_hash() of its key, given when staged */
    uint32_t pad;
};

enum solo_state {
    SOLO_STAGED,   /* allocated, not linked */
    SOLO_FIFO,     /* linked, in the FIFO */
    SOLO_EVICTING, /* taken out of the FIFO by eviction */
    SOLO_DEAD,     /* unlinked while eviction had it: eviction frees it */
};

#define SOLO_PAGE_BITS 12
#define SOLO_PAGES     (1u << 15)

struct segs {
    pthread_mutex_t lock;
    pthread_mutex_t evict_lock;
    char *arena;          /* the reserved address space */
    uintptr_t abase;      /* arena - one unit: handle h is at abase + (h << ushift) */
    uint64_t arena_bytes; /* its size */
    uint32_t seg_size;    /* bytes per segment */
    uint32_t small_max;   /* largest item placed in segments (a quarter of one) */
    uint32_t nseg;        /* segments in the arena */
    uint32_t ntouched;    /* segments [0, ntouched) have been mapped read-write */
    uint8_t ushift;       /* log2 of the handle unit (and the items' alignment) */
    struct seg *seg;      /* nseg entries */
    uint32_t active;      /* the segment being filled, or UNIT_NONE */
    uint32_t fifo_head;   /* oldest unit */
    uint32_t fifo_tail;   /* newest unit */
    uint32_t free_head;   /* free segments (SEG_FREE), by seg.next */
    uint32_t unused_head; /* touched segments holding no memory, by seg.next */
    uint32_t nfree_empty; /* free segments with nothing placed in them */
    uint64_t free_space;  /* bytes placeable in free segments */
    uint64_t committed;   /* bytes of segments holding memory (in mem_used) */
    uint64_t reserved;    /* segment bytes promised to staged small items */
    uint64_t pending;     /* atomic: bytes of staged small items */
    uint64_t pending_max; /* their limit */
    uint64_t solo_bytes;  /* charged to linked and staged large items */
    struct solo **solo_dir[SOLO_PAGES]; /* pages of 1 << SOLO_PAGE_BITS */
    uint32_t *solo_free;                /* indexes given back, a stack */
    uint32_t nsolo_free, solo_free_cap;
    uint32_t solo_next; /* indexes below this have been used */
};

/* What eviction must not free: the key an operation is about to join with
 * or count from (append, prepend, incr). */
struct spare {
    const char *key;
    size_t nkey;
};

struct store {
    struct store_config cfg;
    struct store_observer ob; /* set before other threads use the store */
    uint64_t mem_used;        /* atomic: segments + large items + tables charged */
    uint64_t cas;             /* atomic: last CAS value handed out */
    uint64_t outofmemory;     /* atomic */
    rel_time_t oldest_live;   /* atomic: flush_all deadline, 0 = none */
    uint64_t oldest_cas;      /* atomic: items below this CAS were flushed */
    uint32_t flush_epoch;     /* atomic: flush_all calls so far */
    struct segs segs;
    struct store_shard shards[STORE_SHARDS];
};

static inline bool item_flushed(const struct store *st, const struct item *it,
                                rel_time_t now)
{
    rel_time_t live = __atomic_load_n(&st->oldest_live, __ATOMIC_RELAXED);
    uint64_t ocas = __atomic_load_n(&st->oldest_cas, __ATOMIC_RELAXED);

    if (live == 0 || live > now)
        return false;
    return it->time <= live || (ocas != 0 && it->cas < ocas);
}

static inline bool item_expired(const struct item *it, rel_time_t now)
{
    return it->exptime != 0 && it->exptime <= now;
}

static inline struct solo *solo_of(const struct item *it)
{
    return (struct solo *)it - 1;
}

static inline struct item *solo_item(struct solo *so)
{
    return (struct item *)(so + 1);
}

/* The item a handle (not 0) names. */
static inline struct item *item_at(const struct store *st, uint32_t h)
{
    const struct segs *sg = &st->segs;

    if (h & HANDLE_SOLO) {
        uint32_t i = h & ~HANDLE_SOLO;
        return solo_item(
            sg->solo_dir[i >> SOLO_PAGE_BITS][i & ((1u << SOLO_PAGE_BITS) - 1)]);
    }
    return (struct item *)(sg->abase + ((uintptr_t)h << sg->ushift));
}

static inline bool item_in_arena(const struct store *st, const struct item *it)
{
    return (const char *)it >= st->segs.arena &&
           (const char *)it < st->segs.arena + st->segs.arena_bytes;
}

/* The handle of a linked item (or one being placed). */
static inline uint32_t item_handle(const struct store *st, const struct item *it)
{
    if (!item_in_arena(st, it))
        return HANDLE_SOLO | solo_of(it)->idx;
    return (uint32_t)(((uintptr_t)it - st->segs.abase) >> st->segs.ushift);
}

/* Bytes an arena item takes: its size rounded up to the unit. */
static inline uint32_t item_span(const struct store *st, const struct item *it)
{
    uint32_t unit = 1u << st->segs.ushift;

    return (uint32_t)((item_size(it->nkey, it->nbytes) + unit - 1) & ~(size_t)(unit - 1));
}

static inline void mem_sub(struct store *st, uint64_t n)
{
    __atomic_fetch_sub(&st->mem_used, n, __ATOMIC_RELAXED);
}

/* Adds n to mem_used if that stays within the limit. */
bool mem_try_add(struct store *st, uint64_t n);

/* ---- store_seg.c ---- */

/* Sets up the arena and the bookkeeping for cfg's limit; 0 or -1. */
int segs_init(struct store *st);
void segs_destroy(struct store *st);

/* A staged item of that many bytes (item_size()) for a key of hash hv,
 * its header zeroed; NULL with *err set. Evicts (never what sp names) to
 * make room. No shard lock may be held, unless may_evict is false. */
struct item *segs_stage(struct store *st, size_t size, uint32_t hv,
                        const struct spare *sp, bool may_evict,
                        enum store_alloc_err *err);

/* The hash a staged item was given. */
static inline uint32_t segs_staged_hash(const struct item *it)
{
    return solo_of(it)->hv;
}

/* Frees a staged item that was never linked. */
void segs_unstage(struct store *st, struct item *it);

/* Under the item's shard lock, at its link: where the staged item lives
 * from now on (a small one is copied into a segment and the staged copy
 * freed). */
struct item *do_segs_place(struct store *st, struct item *it);

/* Under the item's shard lock, as a linked item is unlinked: its memory
 * is given up (a segment's becomes dead space, a solo's is freed). */
void do_segs_forget(struct store *st, struct item *it);

/* Evicts one unit (see above), never the item sp names. No shard lock
 * may be held. False when there is nothing to evict. */
bool segs_evict(struct store *st, const struct spare *sp);

/* Charges want bytes (a table) to the limit, giving empty free segments'
 * memory back for them; with want 0, only gives back until within the
 * limit. True when it fits. Any shard lock may be held. */
bool segs_charge(struct store *st, uint64_t want);

/* Fills seg_bytes, large_bytes and reserved. */
void segs_get_stats(struct store *st, struct store_stats *out);

/* When the oldest unit of the FIFO entered it (now when there is none). */
rel_time_t segs_oldest(struct store *st, rel_time_t now);

/* ---- store.c, for the eviction walk ---- */

/* Frees an expired or flushed item, counting it as reclaimed. */
void do_store_reclaim(struct store_shard *sh, struct item *it);

/* Evicts a linked item, counting it. */
void do_store_evict(struct store_shard *sh, struct item *it, rel_time_t now);

/* The item handle `from` now lives at handle `to`: the chain is told. */
void do_store_moved(struct store_shard *sh, uint32_t hv, uint32_t from, uint32_t to);

/* Moves up to `buckets` buckets of a growing table to the bigger one. */
void do_store_rehash_step(struct store_shard *sh, int buckets);

/* Whether it is the item sp names. */
bool store_spared(const struct item *it, const struct spare *sp);

#endif
