/*
 * ring: consistent hashing with vnodes, a slice table in front of the binary
 * search, and a refcounted ring_ref that readers use without a lock.
 */
#include "cluster/ring.h"

#include <assert.h>
#include <errno.h>
#include <murmurhash.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* One point of the circle: 8 bytes, so a lookup reads one cache line. */
struct ring_point {
    uint32_t token; /* position on the circle */
    uint32_t node;  /* index into ring->nodes */
};

struct ring {
    unsigned refs;             /* atomic: references held; freed at 0 */
    uint64_t epoch;            /* the caller's membership version */
    unsigned vnodes;           /* points per node */
    size_t nnodes;             /* entries in nodes, by_id and owned */
    struct ring_node *nodes;   /* the caller's order; ids point into idbuf */
    char *idbuf;               /* every id, NUL-terminated, back to back */
    uint32_t *by_id;           /* node indices sorted by id (strcmp) */
    uint64_t *owned;           /* per node: hash values it owns, out of 2^32 */
    bool *down;                /* per node: its ring_node's down flag */
    size_t ndown;              /* nodes that are down */
    size_t npoints;            /* nnodes * vnodes */
    struct ring_point *points; /* sorted by token, ties by id */
    uint32_t *slice;           /* slice j starts at points[slice[j]]; 2^bits + 1 */
    unsigned shift;            /* 32 - bits: hv >> shift is hv's slice */
};

uint32_t ring_hash(const void *key, size_t nkey)
{
    uint32_t h;

    lmmh_x86_32(key, (unsigned int)nkey, RING_SEED, &h);
    return h;
}

static void ring_destroy(struct ring *r)
{
    free(r->nodes);
    free(r->idbuf);
    free(r->by_id);
    free(r->owned);
    free(r->down);
    free(r->points);
    free(r->slice);
    free(r);
}

void ring_free(struct ring *r)
{
    if (r == NULL)
        return;
    assert(__atomic_load_n(&r->refs, __ATOMIC_RELAXED) == 1);
    ring_destroy(r);
}

static int cmp_id(const void *a, const void *b, void *arg)
{
    const struct ring_node *nodes = arg;

    return strcmp(nodes[*(const uint32_t *)a].id, nodes[*(const uint32_t *)b].id);
}

/* LSD radix sort by byte, skipping the bytes every key shares (most of the
 * low word, which only holds a node rank): a few linear passes where qsort()
 * would make n log n calls through a function pointer. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    size_t count[8][256];
    uint64_t *src = a, *dst = tmp;

    memset(count, 0, sizeof(count));
    for (size_t i = 0; i < n; i++)
        for (unsigned b = 0; b < 8; b++)
            count[b][(a[i] >> (8 * b)) & 0xff]++;
    for (unsigned b = 0; b < 8; b++) {
        size_t *c = count[b], sum = 0;
        uint64_t *swap;

        if (c[(src[0] >> (8 * b)) & 0xff] == n)
            continue;
        for (unsigned d = 0; d < 256; d++) {
            size_t k = c[d];

            c[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i] >> (8 * b)) & 0xff]++] = src[i];
        swap = src;
        src = dst;
        dst = swap;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
}

/* Copies the ids, sorts them and refuses duplicates. */
static int build_nodes(struct ring *r, const struct ring_node *nodes, size_t n)
{
    size_t total = 0, off = 0;

    for (size_t i = 0; i < n; i++)
        total += strlen(nodes[i].id) + 1;
    r->nodes = malloc(n * sizeof(*r->nodes));
    r->idbuf = malloc(total);
    r->by_id = malloc(n * sizeof(*r->by_id));
    r->owned = malloc(n * sizeof(*r->owned));
    r->down = malloc(n * sizeof(*r->down));
    if (r->nodes == NULL || r->idbuf == NULL || r->by_id == NULL || r->owned == NULL ||
        r->down == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(nodes[i].id) + 1;

        memcpy(r->idbuf + off, nodes[i].id, len);
        r->nodes[i] = nodes[i];
        r->nodes[i].id = r->idbuf + off;
        off += len;
        r->by_id[i] = (uint32_t)i;
        r->owned[i] = 0;
        r->down[i] = nodes[i].down;
        r->ndown += nodes[i].down;
    }
    r->nnodes = n;
    qsort_r(r->by_id, n, sizeof(*r->by_id), cmp_id, r->nodes);
    for (size_t i = 1; i < n; i++)
        if (strcmp(r->nodes[r->by_id[i - 1]].id, r->nodes[r->by_id[i]].id) == 0)
            return -EINVAL;
    return 0;
}

/* Places every node's points and sorts them. A sort key is the token above
 * the node's rank by id, so that colliding tokens are ordered by id whatever
 * order the caller listed the nodes in. The keys are sorted, then turned into
 * points where they lie (both are 8 bytes), which spares a third array of
 * the ring's size while it is built. */
static int build_points(struct ring *r)
{
    size_t n = r->nnodes, v = r->vnodes, np = n * v;
    uint64_t *keys = malloc(np * sizeof(*keys));
    uint64_t *tmp = malloc(np * sizeof(*tmp));
    char buf[RING_MAX_ID_LEN + 32];

    _Static_assert(sizeof(struct ring_point) == sizeof(uint64_t), "a point is a key");
    if (keys == NULL || tmp == NULL) {
        free(keys);
        free(tmp);
        return -ENOMEM;
    }
    for (size_t rank = 0; rank < n; rank++) {
        const char *id = r->nodes[r->by_id[rank]].id;
        size_t len = strlen(id);

        memcpy(buf, id, len);
        buf[len++] = '#';
        for (size_t i = 0; i < v; i++) {
            size_t blen = len + util_u64_to_str(i, buf + len);

            keys[rank * v + i] = (uint64_t)ring_hash(buf, blen) << 32 | rank;
        }
    }
    radix_sort(keys, tmp, np);
    free(tmp);
    for (size_t i = 0; i < np; i++) {
        struct ring_point p = {(uint32_t)(keys[i] >> 32), r->by_id[(uint32_t)keys[i]]};

        memcpy(&keys[i], &p, sizeof(p));
    }
    r->points = (struct ring_point *)(void *)keys;
    r->npoints = np;
    return 0;
}

/* The slice table: one slice per point on average (2^bits <= npoints), so
 * that a lookup binary-searches one or two points. */
static int build_slices(struct ring *r)
{
    unsigned bits = 1;
    size_t nslices, i = 0;

    while (bits < 24 && ((size_t)2 << bits) <= r->npoints)
        bits++;
    nslices = (size_t)1 << bits;
    r->shift = 32 - bits;
    r->slice = malloc((nslices + 1) * sizeof(*r->slice));
    if (r->slice == NULL)
        return -ENOMEM;
    for (size_t j = 0; j < nslices; j++) {
        uint64_t start = (uint64_t)j << r->shift;

        while (i < r->npoints && r->points[i].token < start)
            i++;
        r->slice[j] = (uint32_t)i;
    }
    r->slice[nslices] = (uint32_t)r->npoints;
    return 0;
}

/* The node that serves the arc ending at point i: its own node, or with
 * nodes down the first node up clockwise (next_up carries it backwards). */
static size_t arc_owner(const struct ring *r, size_t i, size_t *next_up)
{
    size_t node = r->points[i].node;

    if (!r->down[node])
        *next_up = node;
    return *next_up;
}

static void build_shares(struct ring *r)
{
    const struct ring_point *p = r->points;
    size_t np = r->npoints, next_up = SIZE_MAX;

    if (r->ndown == r->nnodes)
        return; /* nobody serves anything */
    /* the first node up from the start, for the arcs at the end */
    for (size_t i = 0; i < np && next_up == SIZE_MAX; i++)
        if (!r->down[p[i].node])
            next_up = p[i].node;
    /* Backwards, so that each arc's first up node is known. The first point
     * also owns the wrapped arc past the last one; with a single point that
     * arc is the whole circle. */
    for (size_t i = np - 1; i > 0; i--)
        r->owned[arc_owner(r, i, &next_up)] += p[i].token - p[i - 1].token;
    r->owned[arc_owner(r, 0, &next_up)] +=
        (uint64_t)p[0].token + (1ull << 32) - p[np - 1].token;
}

int ring_build(const struct ring_node *nodes, size_t n, unsigned vnodes, uint64_t epoch,
               struct ring **out)
{
    struct ring *r;
    int rc;

    if (nodes == NULL || n == 0 || vnodes == 0)
        return -EINVAL;
    if (n > RING_MAX_NODES || vnodes > RING_MAX_VNODES ||
        (uint64_t)n * vnodes > RING_MAX_POINTS)
        return -E2BIG;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].id == NULL || nodes[i].id[0] == '\0' ||
            strnlen(nodes[i].id, RING_MAX_ID_LEN + 1) > RING_MAX_ID_LEN)
            return -EINVAL;
    }
    r = malloc(sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    memset(r, 0, sizeof(*r));
    r->refs = 1;
    r->epoch = epoch;
    r->vnodes = vnodes;
    if ((rc = build_nodes(r, nodes, n)) < 0 || (rc = build_points(r)) < 0 ||
        (rc = build_slices(r)) < 0)
        goto fail;
    build_shares(r);
    *out = r;
    return 0;
fail:
    ring_destroy(r);
    return rc;
}

/* The first point at or after hv, wrapping to point 0. */
static size_t successor(const struct ring *r, uint32_t hv)
{
    uint32_t j = hv >> r->shift;
    size_t lo = r->slice[j], hi = r->slice[j + 1];

    /* points[slice[j] .. slice[j + 1]) lie in slice j, and points[slice[j + 1]]
     * lies past it, so that one is hv's successor when none of slice j is. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r->points[mid].token < hv)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->npoints ? 0 : lo;
}

size_t ring_lookup_hash(const struct ring *r, uint32_t hv)
{
    return r->points[successor(r, hv)].node;
}

size_t ring_lookup(const struct ring *r, const void *key, size_t nkey)
{
    return ring_lookup_hash(r, ring_hash(key, nkey));
}

int ring_preference_hash(const struct ring *r, uint32_t hv, const bool *down, size_t max,
                         size_t *out, size_t *out_n)
{
    size_t up = r->nnodes, want, k = 0, i = successor(r, hv);

    *out_n = 0;
    if (max == 0)
        return -EINVAL;
    if (down != NULL)
        for (size_t j = 0; j < r->nnodes; j++)
            up -= down[j];
    if (up == 0)
        return -ENOENT;
    want = max < up ? max : up;
    /* Every up node has a point, so one turn finds them all; the bound only
     * matters if down[] changes under us. */
    for (size_t step = 0; k < want && step < r->npoints;
         step++, i = i + 1 == r->npoints ? 0 : i + 1) {
        size_t node = r->points[i].node, j;

        if (down != NULL && down[node])
            continue;
        for (j = 0; j < k && out[j] != node; j++)
            ;
        if (j == k)
            out[k++] = node;
    }
    *out_n = k;
    return k > 0 ? 0 : -ENOENT;
}

int ring_preference(const struct ring *r, const void *key, size_t nkey, const bool *down,
                    size_t max, size_t *out, size_t *out_n)
{
    return ring_preference_hash(r, ring_hash(key, nkey), down, max, out, out_n);
}

int ring_owners(const struct ring *r, uint32_t hv, size_t max, size_t *out, size_t *out_n)
{
    return ring_preference_hash(r, hv, r->ndown > 0 ? r->down : NULL, max, out, out_n);
}

size_t ring_handoff_targets(const struct ring *r, uint32_t hv, size_t self,
                            size_t replicas, const bool *gone, size_t *out)
{
    size_t own[RING_MAX_HANDOFF], after[RING_MAX_HANDOFF], n, m, k = 0;
    bool mine = false;

    if (replicas > RING_MAX_HANDOFF)
        replicas = RING_MAX_HANDOFF;
    if (ring_owners(r, hv, replicas, own, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        mine |= own[i] == self;
    if (!mine) {
        memcpy(out, own, n * sizeof(*own));
        return n;
    }
    if (gone == NULL || ring_preference_hash(r, hv, gone, replicas, after, &m) != 0)
        return 0;
    for (size_t i = 0; i < m; i++) {
        bool owner = false;
        for (size_t j = 0; j < n; j++)
            owner |= own[j] == after[i];
        if (!owner)
            out[k++] = after[i];
    }
    return k;
}

size_t ring_first_up(const struct ring *r, uint32_t hv)
{
    size_t first;
    size_t n;

    if (r->ndown == 0)
        return ring_lookup_hash(r, hv);
    return ring_owners(r, hv, 1, &first, &n) == 0 ? first : SIZE_MAX;
}

size_t ring_down_count(const struct ring *r)
{
    return r->ndown;
}

double ring_share(const struct ring *r, size_t i)
{
    assert(i < r->nnodes);
    return (double)r->owned[i] / 4294967296.0;
}

uint64_t ring_epoch(const struct ring *r)
{
    return r->epoch;
}

size_t ring_node_count(const struct ring *r)
{
    return r->nnodes;
}

unsigned ring_vnodes(const struct ring *r)
{
    return r->vnodes;
}

const struct ring_node *ring_node(const struct ring *r, size_t i)
{
    assert(i < r->nnodes);
    return &r->nodes[i];
}

int ring_node_index(const struct ring *r, const char *id, size_t *out)
{
    size_t lo = 0, hi = r->nnodes;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->nodes[r->by_id[mid]].id, id);

        if (c == 0) {
            *out = r->by_id[mid];
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

size_t ring_point_count(const struct ring *r)
{
    return r->npoints;
}

size_t ring_point(const struct ring *r, size_t i, uint32_t *token)
{
    assert(i < r->npoints);
    *token = r->points[i].token;
    return r->points[i].node;
}

/* ---- sharing ---- */

void ring_ref_init(struct ring_ref *ref)
{
    memset(ref, 0, sizeof(*ref));
}

void ring_ref_fini(struct ring_ref *ref)
{
    ring_release(__atomic_exchange_n(&ref->cur, NULL, __ATOMIC_SEQ_CST));
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Waits until no reader that may have loaded the old pointer is still on its
 * way to counting it. Both slots must drain: a reader may have read the phase
 * long before incrementing. Flipping first steers new readers to the other
 * slot, so the one waited for only empties. */
static void ref_wait_readers(struct ring_ref *ref)
{
    for (int round = 0; round < 2; round++) {
        unsigned old = __atomic_load_n(&ref->phase, __ATOMIC_RELAXED);
        unsigned spins = 0;

        __atomic_store_n(&ref->phase, old ^ 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&ref->pending[old], __ATOMIC_SEQ_CST) != 0) {
            /* A reader preempted in ring_acquire() needs our CPU. */
            if (++spins % 64 == 0)
                sched_yield();
            else
                cpu_relax();
        }
    }
}

int ring_ref_publish(struct ring_ref *ref, struct ring *next)
{
    struct ring *old = __atomic_load_n(&ref->cur, __ATOMIC_RELAXED);

    assert(next != NULL);
    /* Only the writer stores cur, so what it reads here cannot change. */
    if (old != NULL && next->epoch <= old->epoch)
        return -ESTALE;
    old = __atomic_exchange_n(&ref->cur, next, __ATOMIC_SEQ_CST);
    if (old != NULL) {
        ref_wait_readers(ref);
        ring_release(old);
    }
    return 0;
}

struct ring *ring_acquire(struct ring_ref *ref)
{
    unsigned ph = __atomic_load_n(&ref->phase, __ATOMIC_RELAXED) & 1;
    struct ring *r;

    __atomic_fetch_add(&ref->pending[ph], 1, __ATOMIC_SEQ_CST);
    r = __atomic_load_n(&ref->cur, __ATOMIC_SEQ_CST);
    if (r != NULL)
        __atomic_fetch_add(&r->refs, 1, __ATOMIC_RELAXED);
    /* Release: the writer that sees the slot drained sees our increment. */
    __atomic_fetch_sub(&ref->pending[ph], 1, __ATOMIC_RELEASE);
    return r;
}

void ring_release(struct ring *r)
{
    if (r != NULL && __atomic_fetch_sub(&r->refs, 1, __ATOMIC_ACQ_REL) == 1)
        ring_destroy(r);
}

const struct ring *ring_cache_get(struct ring_cache *c, struct ring_ref *ref)
{
    /* Comparing pointers is safe from ABA: the cached ring cannot be freed
     * (and its address reused) while this cache holds it. */
    if (__atomic_load_n(&ref->cur, __ATOMIC_ACQUIRE) != c->ring) {
        struct ring *fresh = ring_acquire(ref);

        ring_release(c->ring);
        c->ring = fresh;
    }
    return c->ring;
}

void ring_cache_clear(struct ring_cache *c)
{
    ring_release(c->ring);
    c->ring = NULL;
}
