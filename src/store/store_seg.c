/*
 * store_seg: the store's memory: the arena of segments items are appended
 * to, large items held alone (solos), the FIFO of both that eviction takes
 * from, and the reservations that let a link place an item without
 * evicting. See store_internal.h for the design and the locks.
 */
#include "store/store_internal.h"
#include "base/util.h"

#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SEG_MAX_SIZE   (256u << 10) /* a segment at -m 8 and above */
#define SEG_MIN_SIZE   (32u << 10)  /* the smallest (-m 1) */
#define SEG_PER_LIMIT  32           /* segments in -m, below SEG_MAX_SIZE */
#define UNIT_MIN_SHIFT 2
#define UNIT_MAX_SHIFT 6
#define PENDING_MIN    (4u << 20) /* staged small items may always take this much */
/* Room kept for what is allocated under a shard lock, which may not evict:
 * tombstones (the largest a few times over). */
#define HEADROOM (8 * item_size(KEY_MAX_LENGTH, 2))

/* What a walk of a unit keeps of its live items. */
enum walk {
    WALK_EVICT,   /* those used since they were stored, up to half a segment */
    WALK_CLEAR,   /* none of a segment: its memory is wanted (for a large item) */
    WALK_COMPACT, /* all, marks and all: only dead space goes */
};

static uint64_t charge_of(void *p)
{
    return malloc_usable_size(p) + sizeof(size_t);
}

static uint64_t limit_of(const struct store *st)
{
    return __atomic_load_n(&st->cfg.maxbytes, __ATOMIC_RELAXED);
}

/* ---- the FIFO of units: segments by index, solos by HANDLE_SOLO | index ---- */

static struct solo *solo_at(struct segs *sg, uint32_t i)
{
    return sg->solo_dir[i >> SOLO_PAGE_BITS][i & ((1u << SOLO_PAGE_BITS) - 1)];
}

static uint32_t *prev_of(struct segs *sg, uint32_t u)
{
    return (u & HANDLE_SOLO) ? &solo_at(sg, u & ~HANDLE_SOLO)->prev : &sg->seg[u].prev;
}

static uint32_t *next_of(struct segs *sg, uint32_t u)
{
    return (u & HANDLE_SOLO) ? &solo_at(sg, u & ~HANDLE_SOLO)->next : &sg->seg[u].next;
}

static void fifo_push(struct segs *sg, uint32_t u)
{
    *prev_of(sg, u) = sg->fifo_tail;
    *next_of(sg, u) = UNIT_NONE;
    if (sg->fifo_tail != UNIT_NONE)
        *next_of(sg, sg->fifo_tail) = u;
    else
        sg->fifo_head = u;
    sg->fifo_tail = u;
}

static void fifo_remove(struct segs *sg, uint32_t u)
{
    uint32_t p = *prev_of(sg, u), n = *next_of(sg, u);

    if (p != UNIT_NONE)
        *next_of(sg, p) = n;
    else
        sg->fifo_head = n;
    if (n != UNIT_NONE)
        *prev_of(sg, n) = p;
    else
        sg->fifo_tail = p;
}

static void seg_seal(struct segs *sg, uint32_t i)
{
    sg->seg[i].state = SEG_FIFO;
    sg->seg[i].sealed = mctime_now();
    fifo_push(sg, i);
}

/* ---- segments: free list, memory ---- */

static char *seg_base(const struct segs *sg, uint32_t i)
{
    return sg->arena + (size_t)i * sg->seg_size;
}

static void free_push(struct segs *sg, uint32_t i)
{
    struct seg *s = &sg->seg[i];

    s->state = SEG_FREE;
    s->next = sg->free_head;
    sg->free_head = i;
    sg->free_space += sg->seg_size - s->used;
    sg->nfree_empty += s->used == 0;
}

static uint32_t free_pop(struct segs *sg)
{
    uint32_t i = sg->free_head;

    if (i != UNIT_NONE) {
        struct seg *s = &sg->seg[i];
        sg->free_head = s->next;
        sg->free_space -= sg->seg_size - s->used;
        sg->nfree_empty -= s->used == 0;
    }
    return i;
}

/* A segment with memory, from the unused list or fresh from the arena,
 * charged to the limit; UNIT_NONE when the limit or the arena is reached. */
static uint32_t seg_commit(struct store *st)
{
    struct segs *sg = &st->segs;
    uint32_t i;

    if (!mem_try_add(st, sg->seg_size))
        return UNIT_NONE;
    if (sg->unused_head != UNIT_NONE) {
        i = sg->unused_head;
        sg->unused_head = sg->seg[i].next;
    } else if (sg->ntouched < sg->nseg &&
               mprotect(seg_base(sg, sg->ntouched), sg->seg_size,
                        PROT_READ | PROT_WRITE) == 0) {
        i = sg->ntouched++;
    } else {
        mem_sub(st, sg->seg_size);
        return UNIT_NONE;
    }
    sg->committed += sg->seg_size;
    memset(&sg->seg[i], 0, sizeof(sg->seg[i]));
    return i;
}

/* Gives an empty free segment's memory back to the system and its bytes
 * back to the limit. */
static bool seg_uncommit_one(struct store *st)
{
    struct segs *sg = &st->segs;
    uint32_t *pp = &sg->free_head;

    if (sg->nfree_empty == 0)
        return false;
    while (*pp != UNIT_NONE && sg->seg[*pp].used != 0)
        pp = &sg->seg[*pp].next;
    if (*pp == UNIT_NONE)
        return false;
    uint32_t i = *pp;
    *pp = sg->seg[i].next;
    sg->free_space -= sg->seg_size;
    sg->nfree_empty--;
    madvise(seg_base(sg, i), sg->seg_size, MADV_DONTNEED);
    sg->seg[i].state = SEG_UNUSED;
    sg->seg[i].next = sg->unused_head;
    sg->unused_head = i;
    sg->committed -= sg->seg_size;
    mem_sub(st, sg->seg_size);
    return true;
}

/* Under segs.lock: bytes placeable without evicting: the active segment's
 * rest, the free segments' and the segments the limit still allows. */
static uint64_t placeable(struct store *st)
{
    struct segs *sg = &st->segs;
    uint64_t used = __atomic_load_n(&st->mem_used, __ATOMIC_RELAXED);
    uint64_t left = limit_of(st) > used ? limit_of(st) - used : 0;
    uint64_t segs_left = left / sg->seg_size;
    uint64_t unmapped = sg->nseg - sg->committed / sg->seg_size;
    uint64_t w = sg->active == UNIT_NONE ? 0 : sg->seg_size - sg->seg[sg->active].used;

    return w + sg->free_space +
           (segs_left < unmapped ? segs_left : unmapped) * sg->seg_size;
}

/* Under segs.lock: limit bytes the reservations may still need for new
 * segments, which nothing else may take. */
static uint64_t reserved_budget(const struct segs *sg)
{
    uint64_t w = sg->active == UNIT_NONE ? 0 : sg->seg_size - sg->seg[sg->active].used;
    uint64_t have = w + sg->free_space;

    if (sg->reserved <= have)
        return 0;
    return (sg->reserved - have + sg->seg_size - 1) / sg->seg_size * sg->seg_size;
}

/* Under segs.lock: charges n bytes (a solo, a table) to the limit, leaving
 * what the reservations need; gives empty segments back for it. */
static bool charge_locked(struct store *st, uint64_t n)
{
    for (;;) {
        uint64_t need = reserved_budget(&st->segs);
        if (mem_try_add(st, n + need)) {
            mem_sub(st, need);
            return true;
        }
        if (!seg_uncommit_one(st))
            return false;
    }
}

bool segs_charge(struct store *st, uint64_t want)
{
    struct segs *sg = &st->segs;
    bool ok;

    pthread_mutex_lock(&sg->lock);
    while (__atomic_load_n(&st->mem_used, __ATOMIC_RELAXED) + want > limit_of(st) &&
           seg_uncommit_one(st))
        ;
    ok = __atomic_load_n(&st->mem_used, __ATOMIC_RELAXED) + want <= limit_of(st);
    if (ok && want > 0)
        ok = charge_locked(st, want);
    pthread_mutex_unlock(&sg->lock);
    return ok;
}

/* ---- solos' directory ---- */

static uint32_t solo_index(struct segs *sg, struct solo *so)
{
    uint32_t i;

    if (sg->nsolo_free > 0) {
        i = sg->solo_free[--sg->nsolo_free];
    } else {
        if (sg->solo_next >= (SOLO_PAGES << SOLO_PAGE_BITS))
            return UINT32_MAX;
        i = sg->solo_next;
        if (sg->solo_dir[i >> SOLO_PAGE_BITS] == NULL) {
            sg->solo_dir[i >> SOLO_PAGE_BITS] =
                calloc((size_t)1 << SOLO_PAGE_BITS, sizeof(struct solo *));
            if (sg->solo_dir[i >> SOLO_PAGE_BITS] == NULL)
                return UINT32_MAX;
        }
        sg->solo_next++;
    }
    sg->solo_dir[i >> SOLO_PAGE_BITS][i & ((1u << SOLO_PAGE_BITS) - 1)] = so;
    return i;
}

static void solo_unindex(struct segs *sg, uint32_t i)
{
    if (sg->nsolo_free == sg->solo_free_cap) {
        uint32_t cap = sg->solo_free_cap ? sg->solo_free_cap * 2 : 64;
        uint32_t *p = realloc(sg->solo_free, cap * sizeof(*p));
        if (p == NULL)
            return; /* the index is lost, not reused: harmless */
        sg->solo_free = p;
        sg->solo_free_cap = cap;
    }
    sg->solo_free[sg->nsolo_free++] = i;
}

/* Under segs.lock: frees a large solo and uncharges it. */
static void solo_free_locked(struct store *st, struct solo *so)
{
    solo_unindex(&st->segs, so->idx);
    st->segs.solo_bytes -= so->charge;
    mem_sub(st, so->charge);
    free(so);
}

/* ---- set-up ---- */

int segs_init(struct store *st)
{
    struct segs *sg = &st->segs;
    uint64_t limit = limit_of(st), seg = SEG_MAX_SIZE;
    unsigned shift = UNIT_MIN_SHIFT;

    while (seg > SEG_MIN_SIZE && seg * SEG_PER_LIMIT > limit)
        seg /= 2;
    /* handles hold 31 bits of units: room for twice the limit if it can */
    while (shift < UNIT_MAX_SHIFT && ((uint64_t)1 << (31 + shift)) < 2 * limit)
        shift++;
    sg->seg_size = (uint32_t)seg;
    sg->small_max = (uint32_t)seg / 4;
    sg->ushift = (uint8_t)shift;
    sg->arena_bytes =
        (((uint64_t)1 << (31 + shift)) - ((uint64_t)1 << shift)) / seg * seg;
    for (;;) {
        sg->arena = mmap(NULL, sg->arena_bytes, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (sg->arena != MAP_FAILED)
            break;
        /* a limited address space (ulimit -v): what it allows, at least -m */
        if (sg->arena_bytes / 2 < limit || sg->arena_bytes / 2 < seg)
            return -1;
        sg->arena_bytes = sg->arena_bytes / 2 / seg * seg;
    }
    sg->abase = (uintptr_t)sg->arena - ((uintptr_t)1 << shift);
    sg->nseg = (uint32_t)(sg->arena_bytes / seg);
    sg->seg = calloc(sg->nseg, sizeof(*sg->seg));
    if (sg->seg == NULL) {
        munmap(sg->arena, sg->arena_bytes);
        return -1;
    }
    sg->active = sg->fifo_head = sg->fifo_tail = UNIT_NONE;
    sg->free_head = sg->unused_head = UNIT_NONE;
    sg->pending_max = limit / 4 > PENDING_MIN ? limit / 4 : PENDING_MIN;
    pthread_mutex_init(&sg->lock, NULL);
    pthread_mutex_init(&sg->evict_lock, NULL);
    return 0;
}

void segs_destroy(struct store *st)
{
    struct segs *sg = &st->segs;

    for (uint32_t u = sg->fifo_head; u != UNIT_NONE;) {
        uint32_t next = *next_of(sg, u);
        if (u & HANDLE_SOLO)
            free(solo_at(sg, u & ~HANDLE_SOLO));
        u = next;
    }
    for (uint32_t p = 0; p < SOLO_PAGES; p++)
        free(sg->solo_dir[p]);
    free(sg->solo_free);
    free(sg->seg);
    munmap(sg->arena, sg->arena_bytes);
    pthread_mutex_destroy(&sg->lock);
    pthread_mutex_destroy(&sg->evict_lock);
}

/* ---- staging, placing, forgetting ---- */

static uint32_t span_of(const struct segs *sg, size_t size)
{
    size_t unit = (size_t)1 << sg->ushift;

    return (uint32_t)((size + unit - 1) & ~(unit - 1));
}

static bool compact_oldest(struct store *st);
static bool evict_unit(struct store *st, const struct spare *sp, enum walk how);

/* Reserves 2 * span segment bytes (an item can waste at most its own size
 * at the end of the active segment): evicts until they are placeable,
 * keeping HEADROOM spare for allocations that may not evict. Before taking
 * a new segment (or evicting), the oldest is compacted when half of it is
 * dead. */
static bool reserve(struct store *st, uint32_t span, const struct spare *sp,
                    bool may_evict)
{
    struct segs *sg = &st->segs;
    uint64_t want = 2 * (uint64_t)span + (may_evict ? HEADROOM : 0);

    for (;;) {
        uint64_t w;
        bool near, fits;
        pthread_mutex_lock(&sg->lock);
        w = sg->active == UNIT_NONE ? 0 : sg->seg_size - sg->seg[sg->active].used;
        /* near: without taking a segment; fits: taking one if need be */
        near = w + sg->free_space >= sg->reserved + want;
        fits = near || placeable(st) >= sg->reserved + want;
        if (fits && (near || !may_evict)) {
            sg->reserved += 2 * (uint64_t)span;
            pthread_mutex_unlock(&sg->lock);
            return true;
        }
        pthread_mutex_unlock(&sg->lock);
        /* a half-dead oldest segment is compacted before memory is taken */
        if (may_evict && compact_oldest(st))
            continue;
        if (fits) {
            pthread_mutex_lock(&sg->lock);
            if (placeable(st) >= sg->reserved + want) {
                sg->reserved += 2 * (uint64_t)span;
                pthread_mutex_unlock(&sg->lock);
                return true;
            }
            pthread_mutex_unlock(&sg->lock);
        }
        if (!may_evict || !segs_evict(st, sp))
            return false;
    }
}

struct item *segs_stage(struct store *st, size_t size, uint32_t hv,
                        const struct spare *sp, bool may_evict, enum store_alloc_err *err)
{
    struct segs *sg = &st->segs;
    struct solo *so = malloc(sizeof(*so) + size);
    uint64_t charge;

    if (so == NULL)
        goto nomem;
    memset(so, 0, sizeof(*so));
    so->idx = UINT32_MAX;
    so->hv = hv;
    charge = charge_of(so);
    so->charge = charge;
    if (size <= sg->small_max) {
        uint32_t span = span_of(sg, size);
        if (__atomic_add_fetch(&sg->pending, charge, __ATOMIC_RELAXED) >
                sg->pending_max ||
            !reserve(st, span, sp, may_evict)) {
            __atomic_fetch_sub(&sg->pending, charge, __ATOMIC_RELAXED);
            free(so);
            goto nomem;
        }
        so->resv = 2 * span;
    } else {
        for (;;) {
            pthread_mutex_lock(&sg->lock);
            if (charge_locked(st, charge)) {
                so->idx = solo_index(sg, so);
                if (so->idx == UINT32_MAX) {
                    mem_sub(st, charge);
                    pthread_mutex_unlock(&sg->lock);
                    free(so);
                    goto nomem;
                }
                sg->solo_bytes += charge;
                pthread_mutex_unlock(&sg->lock);
                break;
            }
            pthread_mutex_unlock(&sg->lock);
            /* memory itself is wanted: a walk that keeps items gives none */
            if (!may_evict || !evict_unit(st, sp, WALK_CLEAR)) {
                free(so);
                goto nomem;
            }
        }
    }
    item_clear_header(solo_item(so));
    *err = STORE_ALLOC_OK;
    return solo_item(so);

nomem:
    __atomic_fetch_add(&st->outofmemory, 1, __ATOMIC_RELAXED);
    *err = STORE_ALLOC_NOMEM;
    return NULL;
}

void segs_unstage(struct store *st, struct item *it)
{
    struct segs *sg = &st->segs;
    struct solo *so = solo_of(it);

    pthread_mutex_lock(&sg->lock);
    if (so->idx == UINT32_MAX) {
        sg->reserved -= so->resv;
        __atomic_fetch_sub(&sg->pending, so->charge, __ATOMIC_RELAXED);
        free(so);
    } else {
        solo_free_locked(st, so);
    }
    pthread_mutex_unlock(&sg->lock);
}

/* Under segs.lock: a place for span bytes in the active segment (sealing
 * it and taking a free or new one when it is full), or NULL. */
static char *take_place(struct store *st, uint32_t span, uint32_t *seg_out)
{
    struct segs *sg = &st->segs;
    struct seg *s;
    char *p;

    if (sg->active != UNIT_NONE && sg->seg[sg->active].used + span > sg->seg_size) {
        seg_seal(sg, sg->active);
        sg->active = UNIT_NONE;
    }
    if (sg->active == UNIT_NONE) {
        uint32_t i = free_pop(sg);
        if (i == UNIT_NONE)
            i = seg_commit(st);
        if (i == UNIT_NONE)
            return NULL;
        sg->seg[i].state = SEG_ACTIVE;
        sg->active = i;
    }
    s = &sg->seg[sg->active];
    p = seg_base(sg, sg->active) + s->used;
    s->used += span;
    __atomic_add_fetch(&s->pending, 1, __ATOMIC_RELAXED);
    *seg_out = sg->active;
    return p;
}

struct item *do_segs_place(struct store *st, struct item *it)
{
    struct segs *sg = &st->segs;
    struct solo *so = solo_of(it);
    size_t size = item_size(it->nkey, it->nbytes);
    uint32_t span, seg;
    char *p;

    pthread_mutex_lock(&sg->lock);
    if (so->idx != UINT32_MAX) {
        so->state = SOLO_FIFO;
        so->sealed = mctime_now();
        fifo_push(sg, HANDLE_SOLO | so->idx);
        pthread_mutex_unlock(&sg->lock);
        return it;
    }
    span = span_of(sg, size);
    sg->reserved -= so->resv;
    p = take_place(st, span, &seg);
    if (p == NULL) {
        /* Cannot happen while the reservations hold; should it, the item
         * stays where it is, as a solo over the limit, rather than lost. */
        so->idx = solo_index(sg, so);
        if (so->idx != UINT32_MAX) {
            __atomic_fetch_sub(&sg->pending, so->charge, __ATOMIC_RELAXED);
            __atomic_fetch_add(&st->mem_used, so->charge, __ATOMIC_RELAXED);
            sg->solo_bytes += so->charge;
            so->state = SOLO_FIFO;
            so->sealed = mctime_now();
            fifo_push(sg, HANDLE_SOLO | so->idx);
            pthread_mutex_unlock(&sg->lock);
            return it;
        }
        abort(); /* no memory for even an index: nothing sane is left */
    }
    pthread_mutex_unlock(&sg->lock);
    memcpy(p, it, size);
    __atomic_add_fetch(&sg->seg[seg].live, span, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&sg->seg[seg].pending, 1, __ATOMIC_RELEASE);
    __atomic_fetch_sub(&sg->pending, so->charge, __ATOMIC_RELAXED);
    free(so);
    return (struct item *)p;
}

void do_segs_forget(struct store *st, struct item *it)
{
    struct segs *sg = &st->segs;
    struct solo *so;

    if (item_in_arena(st, it)) {
        uint32_t i = (uint32_t)(((char *)it - sg->arena) / sg->seg_size);
        __atomic_sub_fetch(&sg->seg[i].live, item_span(st, it), __ATOMIC_RELAXED);
        return;
    }
    so = solo_of(it);
    pthread_mutex_lock(&sg->lock);
    if (so->state == SOLO_EVICTING) {
        so->state = SOLO_DEAD; /* eviction has it: it frees it */
    } else {
        fifo_remove(sg, HANDLE_SOLO | so->idx);
        solo_free_locked(st, so);
    }
    pthread_mutex_unlock(&sg->lock);
}

/* ---- eviction ---- */

/* Whether a walk keeps a live item: always with -M (which only compacts)
 * and for the spared key; else as `how` says. */
static bool keeps(const struct store *st, const struct item *it, const struct spare *sp,
                  enum walk how, uint32_t kept, uint32_t span)
{
    if (how == WALK_COMPACT || !st->cfg.evict_to_free || store_spared(it, sp))
        return true;
    return how == WALK_EVICT && (it->iflags & ITEM_ACCESSED) &&
           kept + span <= st->segs.seg_size / 2;
}

/* Walks segment i (taken out of the FIFO): its live items are kept (moved
 * down to the front) or evicted, as `how` says; then it is free again, or
 * back in the FIFO when what it kept leaves too little room. */
static void evict_seg(struct store *st, uint32_t i, const struct spare *sp, enum walk how)
{
    struct segs *sg = &st->segs;
    char *base = seg_base(sg, i);
    uint32_t used = sg->seg[i].used, off = 0, kept = 0;
    rel_time_t now = mctime_now();

    while (__atomic_load_n(&sg->seg[i].pending, __ATOMIC_ACQUIRE) != 0)
        sched_yield(); /* a link is copying its item in: microseconds */
    while (off < used) {
        struct item *it = (struct item *)(base + off);
        uint32_t span = item_span(st, it); /* lengths never change once placed */
        uint32_t hv = store_item_hash(it);
        struct store_shard *sh = &st->shards[hv & (STORE_SHARDS - 1)];

        pthread_mutex_lock(&sh->lock);
        if (!(it->iflags & ITEM_LINKED)) {
            /* dead space */
        } else if (item_expired(it, now) || item_flushed(st, it, now)) {
            do_store_reclaim(sh, it);
        } else if (keeps(st, it, sp, how, kept, span)) {
            if (how != WALK_COMPACT)
                it->iflags &= (uint8_t)~ITEM_ACCESSED;
            if (kept != off) {
                struct item *to = (struct item *)(base + kept);
                memmove(to, it, item_size(it->nkey, it->nbytes));
                do_store_moved(sh, hv, item_handle(st, it), item_handle(st, to));
            }
            kept += span;
        } else {
            do_store_evict(sh, it, now);
        }
        pthread_mutex_unlock(&sh->lock);
        off += span;
    }
    pthread_mutex_lock(&sg->lock);
    sg->seg[i].used = kept;
    if (sg->seg_size - kept >= sg->small_max)
        free_push(sg, i);
    else
        seg_seal(sg, i);
    pthread_mutex_unlock(&sg->lock);
}

/* Evicts (or keeps, sending it to the back) solo so, taken out of the
 * FIFO; hv is its key's hash. */
static void evict_solo(struct store *st, struct solo *so, uint32_t hv,
                       const struct spare *sp, enum walk how)
{
    struct segs *sg = &st->segs;
    struct item *it = solo_item(so);
    struct store_shard *sh = &st->shards[hv & (STORE_SHARDS - 1)];
    rel_time_t now = mctime_now();
    bool keep = false;

    pthread_mutex_lock(&sh->lock);
    pthread_mutex_lock(&sg->lock);
    if (so->state == SOLO_DEAD) {
        solo_free_locked(st, so);
        pthread_mutex_unlock(&sg->lock);
        pthread_mutex_unlock(&sh->lock);
        return;
    }
    so->state = SOLO_FIFO; /* unlinking it below frees it */
    /* a used solo goes to the back even when memory is wanted: what it
     * holds is its own, and the next unit may be unused */
    if (!item_expired(it, now) && !item_flushed(st, it, now) &&
        keeps(st, it, sp, how == WALK_CLEAR ? WALK_EVICT : how, 0, 0)) {
        it->iflags &= (uint8_t)~ITEM_ACCESSED;
        so->sealed = now;
        keep = true;
    }
    fifo_push(sg, HANDLE_SOLO | so->idx); /* kept, or where the unlink finds it */
    pthread_mutex_unlock(&sg->lock);
    if (!keep) {
        if (item_expired(it, now) || item_flushed(st, it, now))
            do_store_reclaim(sh, it);
        else
            do_store_evict(sh, it, now);
    }
    pthread_mutex_unlock(&sh->lock);
}

/* Under segs.lock: moves a free segment that holds kept items to the
 * FIFO, if there is one. */
static void seal_a_kept_one(struct segs *sg)
{
    for (uint32_t *pp = &sg->free_head; *pp != UNIT_NONE; pp = &sg->seg[*pp].next) {
        uint32_t i = *pp;
        if (sg->seg[i].used > 0) {
            *pp = sg->seg[i].next;
            sg->free_space -= sg->seg_size - sg->seg[i].used;
            seg_seal(sg, i);
            return;
        }
    }
}

/* Under segs.lock, with -M: the FIFO segment with the most dead space, or
 * UNIT_NONE when none has any. */
static uint32_t most_dead(struct segs *sg)
{
    uint32_t best = UNIT_NONE, most = 0;

    for (uint32_t u = sg->fifo_head; u != UNIT_NONE; u = *next_of(sg, u)) {
        if (u & HANDLE_SOLO)
            continue;
        uint32_t dead =
            sg->seg[u].used - __atomic_load_n(&sg->seg[u].live, __ATOMIC_RELAXED);
        if (dead > most) {
            most = dead;
            best = u;
        }
    }
    return best;
}

/* Evicts one unit, keeping what `how` says; see segs_evict(). */
static bool evict_unit(struct store *st, const struct spare *sp, enum walk how)
{
    struct segs *sg = &st->segs;
    uint32_t u;

    pthread_mutex_lock(&sg->evict_lock);
    pthread_mutex_lock(&sg->lock);
    if (sg->fifo_head == UNIT_NONE && sg->active != UNIT_NONE &&
        sg->seg[sg->active].used > 0) {
        seg_seal(sg, sg->active); /* everything is in the segment being filled */
        sg->active = UNIT_NONE;
    }
    if (sg->fifo_head == UNIT_NONE)
        seal_a_kept_one(sg); /* or in free segments that kept items */
    u = st->cfg.evict_to_free ? sg->fifo_head : most_dead(sg);
    if (u == UNIT_NONE) {
        pthread_mutex_unlock(&sg->lock);
        pthread_mutex_unlock(&sg->evict_lock);
        return false;
    }
    fifo_remove(sg, u);
    if (u & HANDLE_SOLO) {
        struct solo *so = solo_at(sg, u & ~HANDLE_SOLO);
        struct item *it = solo_item(so);
        uint32_t hv = store_item_hash(it);
        so->state = SOLO_EVICTING;
        pthread_mutex_unlock(&sg->lock);
        evict_solo(st, so, hv, sp, how);
    } else {
        sg->seg[u].state = SEG_EVICTING;
        pthread_mutex_unlock(&sg->lock);
        evict_seg(st, u, sp, how);
    }
    pthread_mutex_unlock(&sg->evict_lock);
    return true;
}

/* With no shard lock held: compacts the oldest segment when at least half
 * of it is dead space (deleted, replaced items), keeping every live item:
 * reusing that space is better than taking new memory, which costs page
 * faults (and evicting, which loses items). False when it is not so. */
static bool compact_oldest(struct store *st)
{
    struct segs *sg = &st->segs;
    uint32_t u;

    pthread_mutex_lock(&sg->evict_lock);
    pthread_mutex_lock(&sg->lock);
    u = sg->fifo_head;
    if (u == UNIT_NONE || (u & HANDLE_SOLO) ||
        __atomic_load_n(&sg->seg[u].live, __ATOMIC_RELAXED) > sg->seg_size / 2) {
        pthread_mutex_unlock(&sg->lock);
        pthread_mutex_unlock(&sg->evict_lock);
        return false;
    }
    fifo_remove(sg, u);
    sg->seg[u].state = SEG_EVICTING;
    pthread_mutex_unlock(&sg->lock);
    evict_seg(st, u, NULL, WALK_COMPACT);
    pthread_mutex_unlock(&sg->evict_lock);
    return true;
}

bool segs_evict(struct store *st, const struct spare *sp)
{
    return evict_unit(st, sp, WALK_EVICT);
}

rel_time_t segs_oldest(struct store *st, rel_time_t now)
{
    struct segs *sg = &st->segs;
    rel_time_t t = now;
    uint32_t u;

    pthread_mutex_lock(&sg->lock);
    u = sg->fifo_head;
    if (u != UNIT_NONE)
        t = (u & HANDLE_SOLO) ? solo_at(sg, u & ~HANDLE_SOLO)->sealed : sg->seg[u].sealed;
    pthread_mutex_unlock(&sg->lock);
    return t;
}

void segs_get_stats(struct store *st, struct store_stats *out)
{
    struct segs *sg = &st->segs;

    pthread_mutex_lock(&sg->lock);
    out->seg_bytes = sg->committed;
    out->large_bytes = sg->solo_bytes;
    out->reserved = sg->reserved;
    pthread_mutex_unlock(&sg->lock);
}
