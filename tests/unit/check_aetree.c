/* check_aetree: the anti-entropy trees of three nodes with two copies per
 * key agree pair by pair when the copies agree, point at exactly the keys
 * that differ, ignore keys a node holds without owning them, and survive a
 * layout change rebuilt while writes go on without losing or doubling one. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mctime.h"
#include "base/rng.h"
#include "cluster/aetree.h"
#include "cluster/merkle.h"
#include "cluster/ring.h"
#include "store/item.h"
#include "store/store.h"

#define NNODES   3
#define REPLICAS 2
#define VNODES   64
#define NKEYS    6000

static const char *const ids[] = {"n-a", "n-b", "n-c", "n-d"};

struct node {
    struct store *st;
    struct aetree *t;
};

static struct node nodes[4];
static struct ring_ref ref;
static uint64_t epoch;

static void publish(size_t n)
{
    struct ring_node rn[4];
    struct ring *r;

    for (size_t i = 0; i < n; i++)
        rn[i] = (struct ring_node){.id = ids[i], .tag = (uint32_t)i};
    ck_assert_int_eq(ring_build(rn, n, VNODES, ++epoch, &r), 0);
    ck_assert_int_eq(ring_ref_publish(&ref, r), 0);
}

static void setup(void)
{
    struct store_config cfg = {.maxbytes = 256u << 20,
                               .item_size_max = 1 << 20,
                               .evict_to_free = true,
                               .hlc = true,
                               .tombstones = true,
                               .tombstone_ttl = 600};

    mctime_init();
    ring_ref_init(&ref);
    epoch = 0;
    publish(NNODES);
    for (size_t i = 0; i < 4; i++) {
        struct aetree_config ac = {.self = ids[i], .replicas = REPLICAS};
        cfg.version_tag = (uint32_t)i + 1;
        ck_assert_int_eq(store_create(&nodes[i].st, &cfg), 0);
        ac.st = nodes[i].st;
        ck_assert_int_eq(aetree_new(&ac, &nodes[i].t), 0);
        ck_assert_int_eq(aetree_sync(nodes[i].t, &ref), 1);
    }
}

static void teardown(void)
{
    for (size_t i = 0; i < 4; i++) {
        aetree_free(nodes[i].t);
        store_destroy(nodes[i].st);
    }
    ring_ref_fini(&ref);
}

/* Gives node n the state (version, tombstone or not) of key. */
static void give(size_t n, const char *key, uint64_t version, bool tomb)
{
    size_t nkey = strlen(key);
    enum store_alloc_err err;
    struct item *it = store_alloc(nodes[n].st, key, nkey, store_hash(key, nkey), 0, 0,
                                  tomb ? 2 : 6, &err);

    ck_assert_ptr_nonnull(it);
    memcpy(item_value(it), tomb ? "\r\n" : "vvvv\r\n", tomb ? 2 : 6);
    it->cas = version;
    if (tomb)
        it->iflags |= ITEM_TOMBSTONE;
    store_apply(nodes[n].st, it, NULL);
}

/* The nodes (indexes) that own key in the current ring. */
static size_t owners(const char *key, size_t *out)
{
    struct ring *r = ring_acquire(&ref);
    size_t idx[REPLICAS], n = 0;

    ck_assert_int_eq(ring_preference(r, key, strlen(key), NULL, REPLICAS, idx, &n), 0);
    for (size_t i = 0; i < n; i++)
        out[i] = ring_node(r, idx[i])->tag;
    ring_release(r);
    return n;
}

/* Writes every key, with the same version, to both its owners. */
static void replicate_all(const char *prefix, uint64_t version)
{
    char key[32];
    size_t own[REPLICAS];

    for (int k = 0; k < NKEYS; k++) {
        snprintf(key, sizeof(key), "%s%d", prefix, k);
        for (size_t i = 0, n = owners(key, own); i < n; i++)
            give(own[i], key, version + (uint64_t)k, k % 17 == 0);
    }
}

static bool pair_equal(size_t x, size_t y)
{
    const struct merkle *a = aetree_tree(nodes[x].t, ids[y]);
    const struct merkle *b = aetree_tree(nodes[y].t, ids[x]);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    return memcmp(a->leaf, b->leaf, sizeof(a->leaf)) == 0;
}

START_TEST(test_aetree_pairs_agree_when_their_copies_agree)
{
    replicate_all("k", 1000);
    for (size_t x = 0; x < NNODES; x++)
        for (size_t y = 0; y < NNODES; y++)
            if (x != y)
                ck_assert_msg(pair_equal(x, y), "pair %zu/%zu", x, y);
    ck_assert_uint_ne(merkle_root(aetree_tree(nodes[0].t, ids[1])), 0);
    ck_assert_ptr_null(aetree_tree(nodes[0].t, ids[0])); /* no pair with itself */
    ck_assert_ptr_null(aetree_tree(nodes[0].t, "n-z"));
}
END_TEST

START_TEST(test_aetree_a_newer_copy_shows_in_exactly_its_leaf)
{
    const struct merkle *a, *b;
    size_t own[REPLICAS], n, diff = 0;
    char key[32];
    uint32_t leaf;

    replicate_all("k", 1000);
    snprintf(key, sizeof(key), "k%d", 1234);
    n = owners(key, own);
    ck_assert_uint_eq(n, 2);
    give(own[1], key, 999999, false); /* the second owner takes a newer write */
    a = aetree_tree(nodes[own[0]].t, ids[own[1]]);
    b = aetree_tree(nodes[own[1]].t, ids[own[0]]);
    leaf = merkle_leaf_of(store_hash(key, strlen(key)));
    for (uint32_t i = 0; i < MERKLE_LEAVES; i++) {
        diff += a->leaf[i] != b->leaf[i];
        ck_assert_msg((a->leaf[i] != b->leaf[i]) == (i == leaf), "leaf %u", i);
    }
    ck_assert_uint_eq(diff, 1);
    ck_assert(aetree_shared(nodes[own[0]].t, key, strlen(key), ids[own[1]]));
}
END_TEST

START_TEST(test_aetree_a_key_held_without_owning_it_is_in_no_tree)
{
    size_t own[REPLICAS];
    uint64_t before[NNODES];
    char key[32];
    int k;

    for (k = 0;; k++) { /* a key that node 0 does not own */
        snprintf(key, sizeof(key), "s%d", k);
        owners(key, own);
        if (own[0] != 0 && own[1] != 0)
            break;
    }
    for (size_t y = 1; y < NNODES; y++)
        before[y] = merkle_root(aetree_tree(nodes[0].t, ids[y]));
    give(0, key, 5, false);
    for (size_t y = 1; y < NNODES; y++) {
        ck_assert_uint_eq(merkle_root(aetree_tree(nodes[0].t, ids[y])), before[y]);
        ck_assert(!aetree_shared(nodes[0].t, key, strlen(key), ids[y]));
    }
}
END_TEST

/* As many copies as nodes: every node owns every key (the trees skip the
 * ring walk then), so every key is shared with every other node and is in
 * its tree for each of them. */
START_TEST(test_aetree_every_key_is_shared_when_every_node_owns_it)
{
    struct aetree_config ac = {.self = ids[0], .replicas = NNODES, .st = nodes[0].st};
    struct aetree *all;
    uint64_t before[NNODES];
    char key[32];

    ck_assert_int_eq(aetree_new(&ac, &all), 0); /* takes over node 0's store */
    ck_assert_int_eq(aetree_sync(all, &ref), 1);
    for (size_t y = 1; y < NNODES; y++)
        before[y] = merkle_root(aetree_tree(all, ids[y]));
    for (int k = 0; k < 500; k++) {
        snprintf(key, sizeof(key), "all%d", k);
        for (size_t y = 1; y < NNODES; y++)
            ck_assert(aetree_shared(all, key, strlen(key), ids[y]));
        give(0, key, 77, false);
    }
    for (size_t y = 1; y < NNODES; y++)
        ck_assert_uint_ne(merkle_root(aetree_tree(all, ids[y])), before[y]);
    ck_assert_uint_eq(merkle_root(aetree_tree(all, ids[1])),
                      merkle_root(aetree_tree(all, ids[2])));
    aetree_free(all);
}
END_TEST

START_TEST(test_aetree_layout_ignores_node_order_and_down_flags)
{
    struct ring_node one[3] = {{.id = "x"}, {.id = "y"}, {.id = "z"}};
    struct ring_node two[3] = {{.id = "z"}, {.id = "x", .down = true}, {.id = "y"}};
    struct ring_node other[2] = {{.id = "x"}, {.id = "y"}};
    struct ring *r1, *r2, *r3;

    ck_assert_int_eq(ring_build(one, 3, VNODES, 1, &r1), 0);
    ck_assert_int_eq(ring_build(two, 3, VNODES, 1, &r2), 0);
    ck_assert_int_eq(ring_build(other, 2, VNODES, 1, &r3), 0);
    ck_assert_uint_eq(aetree_layout_of(r1, 2), aetree_layout_of(r2, 2));
    ck_assert_uint_ne(aetree_layout_of(r1, 2), aetree_layout_of(r3, 2));
    ck_assert_uint_ne(aetree_layout_of(r1, 2), aetree_layout_of(r1, 3));
    ring_free(r1);
    ring_free(r2);
    ring_free(r3);
    /* the same layout published again is not rebuilt */
    publish(NNODES);
    ck_assert_int_eq(aetree_sync(nodes[0].t, &ref), 0);
}
END_TEST

/* What node n's tree for peer should hold: walked with the ring as the
 * oracle. */
struct oracle {
    struct merkle *tree;
    size_t n, peer;
};

static void oracle_cb(void *arg, const struct item *it)
{
    struct oracle *o = arg;
    size_t own[REPLICAS], n;
    char key[KEY_MAX_LENGTH + 1];
    bool mine = false, theirs = false;

    if (it == NULL)
        return;
    memcpy(key, it->data, it->nkey);
    key[it->nkey] = '\0';
    n = owners(key, own);
    for (size_t i = 0; i < n; i++) {
        mine |= own[i] == o->n;
        theirs |= own[i] == o->peer;
    }
    if (mine && theirs)
        merkle_toggle(o->tree, store_item_hash(it),
                      merkle_digest(it->data, it->nkey, it->cas,
                                    (it->iflags & ITEM_TOMBSTONE) != 0));
}

static void assert_tree_is_oracle(size_t n, size_t peer)
{
    struct oracle o = {.tree = malloc(sizeof(struct merkle)), .n = n, .peer = peer};
    const struct merkle *t = aetree_tree(nodes[n].t, ids[peer]);

    ck_assert_ptr_nonnull(o.tree);
    ck_assert_ptr_nonnull(t);
    merkle_init(o.tree);
    for (uint32_t s = 0; s < STORE_SHARDS; s++)
        store_scan_shard(nodes[n].st, s, oracle_cb, &o);
    ck_assert_msg(memcmp(o.tree->leaf, t->leaf, sizeof(t->leaf)) == 0,
                  "node %zu's tree for %zu is not what it holds", n, peer);
    free(o.tree);
}

struct writer {
    bool stop; /* both atomic: the test thread reads and sets them */
    unsigned writes;
};

static void *write_loop(void *arg)
{
    struct writer *w = arg;
    struct rng rng;
    char key[32];

    rng_seed(&rng, 11);
    while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
        snprintf(key, sizeof(key), "w%u", (unsigned)rng_below(&rng, 20000));
        give(0, key, 100 + rng_below(&rng, 1u << 30), rng_below(&rng, 9) == 0);
        __atomic_fetch_add(&w->writes, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* A fourth node joins: node 0's trees are rebuilt for the new layout while
 * another thread keeps writing to node 0's store; afterwards every tree is
 * exactly what the store holds, so no change was lost or counted twice. */
START_TEST(test_aetree_rebuild_during_writes_loses_and_doubles_nothing)
{
    struct writer w = {0};
    pthread_t th;
    uint64_t old;

    replicate_all("k", 1000);
    old = aetree_layout(nodes[0].t);
    ck_assert_int_eq(pthread_create(&th, NULL, write_loop, &w), 0);
    while (__atomic_load_n(&w.writes, __ATOMIC_RELAXED) < 2000)
        ;
    publish(4);
    ck_assert_int_eq(aetree_sync(nodes[0].t, &ref), 1);
    ck_assert_uint_ne(aetree_layout(nodes[0].t), old);
    while (__atomic_load_n(&w.writes, __ATOMIC_RELAXED) < 20000)
        ;
    __atomic_store_n(&w.stop, true, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    for (size_t peer = 1; peer < 4; peer++)
        assert_tree_is_oracle(0, peer);
}
END_TEST

static Suite *aetree_suite(void)
{
    Suite *s = suite_create("aetree");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_aetree_pairs_agree_when_their_copies_agree);
    tcase_add_test(tc, test_aetree_a_newer_copy_shows_in_exactly_its_leaf);
    tcase_add_test(tc, test_aetree_a_key_held_without_owning_it_is_in_no_tree);
    tcase_add_test(tc, test_aetree_every_key_is_shared_when_every_node_owns_it);
    tcase_add_test(tc, test_aetree_layout_ignores_node_order_and_down_flags);
    tcase_add_test(tc, test_aetree_rebuild_during_writes_loses_and_doubles_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(aetree_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
