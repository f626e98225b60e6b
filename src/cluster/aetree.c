/*
 * aetree: per-pair merkle trees of the key states this node holds, toggled
 * by a store observer and rebuilt shard by shard when the ring's nodes
 * change.
 */
#include "cluster/aetree.h"
#include "base/rng.h"
#include "cluster/ring.h"
#include "store/item.h"
#include "store/store.h"

#include <errno.h>
#include <murmurhash.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OWNERS 16 /* --replicas at most */

/* The trees of one layout. */
struct aeset {
    struct ring *ring; /* referenced: its preference lists define the pairs */
    uint64_t layout;
    size_t self;          /* this node's index in ring, SIZE_MAX when absent */
    size_t nnodes;        /* ring_node_count(ring) */
    size_t owners;        /* a key's owners: replicas, or fewer nodes */
    struct merkle *trees; /* one per ring node; trees[self] unused */
};

struct aetree {
    struct store *st;
    char *self_id;
    unsigned replicas;
    struct aeset *set; /* the current set (anti-entropy thread) */
    uint64_t layout;   /* set's layout, for any thread (atomic) */
    /* per shard, the set its changes go to; read by the observer and
     * switched by a rebuild, both under the shard's lock */
    struct aeset *shard_set[STORE_SHARDS];
};

static uint64_t digest_of(const struct item *it)
{
    return merkle_digest(it->data, it->nkey, it->cas, (it->iflags & ITEM_TOMBSTONE) != 0);
}

/* Toggles it into the trees of its co-owners in set s. */
/* The owners of key in s into idx (room for MAX_OWNERS), and how many;
 * 0 when there are none. When every node owns every key (as many copies
 * as nodes), they are the nodes in order, without walking the ring. */
static size_t owners_of(const struct aeset *s, const char *key, size_t nkey, size_t *idx)
{
    size_t n = 0;

    if (s->owners >= s->nnodes) {
        for (n = 0; n < s->nnodes; n++)
            idx[n] = n;
        return n;
    }
    return ring_preference(s->ring, key, nkey, NULL, s->owners, idx, &n) == 0 ? n : 0;
}

static void toggle(const struct aeset *s, const struct item *it, uint32_t hv)
{
    size_t idx[MAX_OWNERS], n;
    bool mine = false;
    uint64_t d;

    if (s == NULL || s->self == SIZE_MAX ||
        (n = owners_of(s, it->data, it->nkey, idx)) == 0)
        return;
    for (size_t i = 0; i < n; i++)
        mine |= idx[i] == s->self;
    if (!mine)
        return; /* not an owner: handed off, never compared */
    d = digest_of(it);
    for (size_t i = 0; i < n; i++)
        if (idx[i] != s->self)
            merkle_toggle(&s->trees[idx[i]], hv, d);
}

static void on_change(void *arg, const struct item *it)
{
    struct aetree *t = arg;
    uint32_t hv = store_item_hash(it);

    toggle(t->shard_set[hv & (STORE_SHARDS - 1)], it, hv);
}

int aetree_new(const struct aetree_config *cfg, struct aetree **out)
{
    struct aetree *t = calloc(1, sizeof(*t));
    struct store_observer ob = {.linked = on_change, .unlinked = on_change};

    if (t == NULL || (t->self_id = strdup(cfg->self)) == NULL) {
        free(t);
        return -ENOMEM;
    }
    t->st = cfg->st;
    t->replicas = cfg->replicas < MAX_OWNERS ? cfg->replicas : MAX_OWNERS;
    ob.arg = t;
    store_set_observer(t->st, &ob);
    *out = t;
    return 0;
}

static void set_free(struct aeset *s)
{
    if (s == NULL)
        return;
    ring_release(s->ring);
    free(s->trees);
    free(s);
}

void aetree_free(struct aetree *t)
{
    if (t == NULL)
        return;
    store_set_observer(t->st, NULL);
    set_free(t->set);
    free(t->self_id);
    free(t);
}

uint64_t aetree_layout_of(const struct ring *r, unsigned replicas)
{
    uint64_t x = rng_mix64((uint64_t)ring_vnodes(r) << 32 | replicas), h[2];

    /* a sum of mixed id hashes: the order nodes were learned in is not part
     * of the layout */
    for (size_t i = 0; i < ring_node_count(r); i++) {
        const char *id = ring_node(r, i)->id;
        lmmh_x64_128(id, (unsigned int)strlen(id), 0x61657472u, h);
        x += rng_mix64(h[0] ^ h[1]);
    }
    return x != 0 ? x : 1;
}

struct rebuild {
    struct aetree *t;
    struct aeset *next;
    uint32_t shard;
};

/* store_scan_shard()'s callback: every item of the shard into the new
 * set, then (it == NULL, still under the shard's lock) the shard's later
 * changes go to the new set too. */
static void rebuild_cb(void *arg, const struct item *it)
{
    struct rebuild *rb = arg;

    if (it != NULL)
        toggle(rb->next, it, store_item_hash(it));
    else
        rb->t->shard_set[rb->shard] = rb->next;
}

int aetree_sync(struct aetree *t, struct ring_ref *ref)
{
    struct ring *r = ring_acquire(ref);
    struct rebuild rb = {.t = t};
    struct aeset *s;
    size_t self;

    if (r == NULL)
        return 0;
    if (t->set != NULL && aetree_layout_of(r, t->replicas) == t->set->layout) {
        ring_release(r);
        return 0;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->trees = calloc(ring_node_count(r), sizeof(*s->trees))) == NULL) {
        free(s);
        ring_release(r);
        return -ENOMEM;
    }
    s->ring = r;
    s->layout = aetree_layout_of(r, t->replicas);
    s->nnodes = ring_node_count(r);
    s->self = ring_node_index(r, t->self_id, &self) == 0 ? self : SIZE_MAX;
    s->owners = s->nnodes < t->replicas ? s->nnodes : t->replicas;
    rb.next = s;
    for (rb.shard = 0; rb.shard < STORE_SHARDS; rb.shard++)
        store_scan_shard(t->st, rb.shard, rebuild_cb, &rb);
    set_free(t->set); /* every shard has switched: no observer uses it now */
    t->set = s;
    __atomic_store_n(&t->layout, s->layout, __ATOMIC_RELEASE);
    return 1;
}

uint64_t aetree_layout(const struct aetree *t)
{
    /* not through t->set: a rebuild frees the old set under a reader on
     * another thread (stats cluster, a busy answer from nng's thread) */
    return __atomic_load_n(&t->layout, __ATOMIC_ACQUIRE);
}

/* The index of the ring node with id in the current set, or SIZE_MAX. */
static size_t node_of(const struct aetree *t, const char *id)
{
    size_t i;

    if (t->set == NULL || t->set->self == SIZE_MAX ||
        ring_node_index(t->set->ring, id, &i) != 0 || i == t->set->self)
        return SIZE_MAX;
    return i;
}

const struct merkle *aetree_tree(const struct aetree *t, const char *id)
{
    size_t i = node_of(t, id);

    return i == SIZE_MAX ? NULL : &t->set->trees[i];
}

bool aetree_shared(const struct aetree *t, const char *key, size_t nkey, const char *id)
{
    size_t i = node_of(t, id), idx[MAX_OWNERS], n;
    bool mine = false, theirs = false;

    if (i == SIZE_MAX || (n = owners_of(t->set, key, nkey, idx)) == 0)
        return false;
    for (size_t k = 0; k < n; k++) {
        mine |= idx[k] == t->set->self;
        theirs |= idx[k] == i;
    }
    return mine && theirs;
}
