/* check_ring: placement, lookups against a brute-force walk, balance and
 * minimal disruption over 1M keys, preference lists with down nodes, epochs,
 * out-of-memory unwinding and the lock-free ring_ref under threads. */
#include <check.h>
#include <errno.h>
#include <murmurhash.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ring.h"
#include "base/rng.h"

#define NKEYS  1000000
#define KEYLEN 20 /* "key:" and 16 hex digits */

/* ---- malloc failure injection (linked with -Wl,--wrap=malloc) ---- */

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static long fail_countdown = -1; /* the malloc that fails: 0 = next; -1 = none */
static long mallocs_seen;        /* mallocs since arm_malloc_failure() */

void *__wrap_malloc(size_t size)
{
    if (fail_countdown >= 0) {
        mallocs_seen++;
        if (fail_countdown-- == 0)
            return NULL;
    }
    return __real_malloc(size);
}

static void arm_malloc_failure(long nth)
{
    mallocs_seen = 0;
    fail_countdown = nth;
}

/* ---- helpers ---- */

static uint64_t rng_state;

/* splitmix64 (rng.h): fast, and plenty random for picking keys. */
static uint64_t next_random(void)
{
    return rng_splitmix64(&rng_state);
}

/* A random key "key:" + 16 hex digits; the same seed gives the same keys. */
static void make_key(char *dst)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = next_random();

    memcpy(dst, "key:", 4);
    for (int i = 0; i < 16; i++)
        dst[4 + i] = hex[(v >> (4 * i)) & 0xf];
}

#define MAXNODES 64

/* Node ids of a local cluster: 127.0.0.1:11211, :11212, ... */
static char idbuf[MAXNODES][32];
static struct ring_node ids[MAXNODES];

static void make_ids(void)
{
    for (int i = 0; i < MAXNODES; i++) {
        snprintf(idbuf[i], sizeof(idbuf[i]), "127.0.0.1:%d", 11211 + i);
        ids[i].id = idbuf[i];
    }
}

static struct ring *build(const struct ring_node *nodes, size_t n, unsigned vnodes)
{
    struct ring *r = NULL;

    ck_assert_int_eq(ring_build(nodes, n, vnodes, 1, &r), 0);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* The owner by definition: a linear walk for the first point >= hv. */
static size_t brute_owner(const struct ring *r, uint32_t hv)
{
    uint32_t tok;

    for (size_t i = 0; i < ring_point_count(r); i++) {
        size_t node = ring_point(r, i, &tok);

        if (tok >= hv)
            return node;
    }
    return ring_point(r, 0, &tok);
}

/* The preference list by definition: walk clockwise from the owner's point,
 * keeping nodes that are up and not yet listed. */
static size_t brute_preference(const struct ring *r, uint32_t hv, const bool *down,
                               size_t max, size_t *out)
{
    size_t np = ring_point_count(r), start = 0, k = 0;
    uint32_t tok;

    while (start < np && (ring_point(r, start, &tok), tok < hv))
        start++;
    for (size_t step = 0; step < np && k < max; step++) {
        size_t node = ring_point(r, (start + step) % np, &tok), j;

        if (down != NULL && down[node])
            continue;
        for (j = 0; j < k && out[j] != node; j++)
            ;
        if (j == k)
            out[k++] = node;
    }
    return k;
}

/* Node ids equal: mismatches are counted in loops and asserted once after,
 * because every ck_assert writes to Check's pipe. */
static bool same_id(const struct ring *a, size_t ia, const struct ring *b, size_t ib)
{
    return strcmp(ring_node(a, ia)->id, ring_node(b, ib)->id) == 0;
}

/* Most loaded node over the mean for n nodes at the default vnodes. */
static double max_over_mean(size_t n)
{
    struct ring *r = build(ids, n, RING_DEFAULT_VNODES);
    static size_t count[MAXNODES];
    size_t max = 0;
    double share_sum = 0;
    char key[KEYLEN];

    memset(count, 0, sizeof(count));
    rng_state = 1000 + n;
    for (int k = 0; k < NKEYS; k++) {
        make_key(key);
        count[ring_lookup(r, key, sizeof(key))]++;
    }
    for (size_t i = 0; i < n; i++) {
        /* the share predicts the keys each node gets */
        ck_assert_double_eq_tol((double)count[i] / NKEYS, ring_share(r, i), 0.005);
        share_sum += ring_share(r, i);
        if (count[i] > max)
            max = count[i];
    }
    ck_assert_double_eq_tol(share_sum, 1.0, 1e-9);
    ring_free(r);
    return (double)max * (double)n / NKEYS;
}

static void setup(void)
{
    make_ids();
    fail_countdown = -1;
}

/* ---- building ---- */

START_TEST(test_ring_carries_each_nodes_tag)
{
    struct ring_node nodes[3] = {{"c", 30}, {"a", 10}, {"b", 20}};
    struct ring *r = build(nodes, 3, 64);
    size_t at;

    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(ring_node(r, i)->id, nodes[i].id);
        ck_assert_uint_eq(ring_node(r, i)->tag, nodes[i].tag);
    }
    ck_assert_int_eq(ring_node_index(r, "a", &at), 0);
    ck_assert_uint_eq(ring_node(r, at)->tag, 10);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_build_rejects_bad_input)
{
    struct ring *r = (struct ring *)&r; /* must stay untouched */
    struct ring_node bad[2] = {{"127.0.0.1:1"}, {NULL}};
    char long_id[RING_MAX_ID_LEN + 2];

    ck_assert_int_eq(ring_build(NULL, 1, 8, 1, &r), -EINVAL);
    ck_assert_int_eq(ring_build(ids, 0, 8, 1, &r), -EINVAL);
    ck_assert_int_eq(ring_build(ids, 1, 0, 1, &r), -EINVAL);
    ck_assert_int_eq(ring_build(bad, 2, 8, 1, &r), -EINVAL);
    bad[1].id = "";
    ck_assert_int_eq(ring_build(bad, 2, 8, 1, &r), -EINVAL);
    bad[1].id = "127.0.0.1:1";
    ck_assert_int_eq(ring_build(bad, 2, 8, 1, &r), -EINVAL);
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    bad[1].id = long_id;
    ck_assert_int_eq(ring_build(bad, 2, 8, 1, &r), -EINVAL);
    long_id[RING_MAX_ID_LEN] = '\0'; /* exactly the limit is fine */
    ck_assert_int_eq(ring_build(bad, 2, 8, 1, &r), 0);
    ring_free(r);
    r = (struct ring *)&r;
    ck_assert_int_eq(ring_build(ids, 1, RING_MAX_VNODES + 1, 1, &r), -E2BIG);
    ck_assert_ptr_eq(r, (struct ring *)&r);
}
END_TEST

START_TEST(test_ring_build_refuses_more_points_or_nodes_than_the_limits)
{
    size_t n = RING_MAX_NODES + 1;
    struct ring_node *many = calloc(n, sizeof(*many));
    char *buf = malloc(n * 16);
    struct ring *r = NULL;

    ck_assert_ptr_nonnull(many);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < n; i++) {
        snprintf(buf + 16 * i, 16, "10.%zu.%zu:1", i / 256, i % 256);
        many[i].id = buf + 16 * i;
    }
    ck_assert_int_eq(ring_build(many, n, 1, 1, &r), -E2BIG);
    ck_assert_int_eq(ring_build(many, RING_MAX_POINTS / 1024 + 1, 1024, 1, &r), -E2BIG);
    ck_assert_ptr_null(r);
    /* at the limit it builds */
    ck_assert_int_eq(ring_build(many, RING_MAX_NODES, 1, 1, &r), 0);
    ck_assert_uint_eq(ring_node_count(r), RING_MAX_NODES);
    ring_free(r);
    free(many);
    free(buf);
}
END_TEST

START_TEST(test_ring_build_unwinds_when_any_allocation_fails)
{
    struct ring *r = NULL;
    long nth;
    int rc;

    /* fail the first malloc, then the second, ... until one build needs no
     * more than it got; ASan's leak check catches a leaked partial ring */
    for (nth = 0;; nth++) {
        arm_malloc_failure(nth);
        rc = ring_build(ids, 5, 64, 1, &r);
        fail_countdown = -1;
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, -ENOMEM);
        ck_assert_ptr_null(r);
    }
    ck_assert_int_ge(nth, 5); /* it does allocate several blocks */
    ck_assert_int_eq(mallocs_seen, nth);
    ck_assert_uint_eq(ring_node_count(r), 5);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_copies_ids_and_finds_nodes_by_id)
{
    char own[3][32] = {"b:1", "a:1", "c:1"};
    struct ring_node nodes[3] = {{own[0]}, {own[1]}, {own[2]}};
    struct ring *r = build(nodes, 3, 16);
    size_t idx = 99;

    memset(own, 'z', sizeof(own)); /* the ring keeps its own copies */
    ck_assert_str_eq(ring_node(r, 0)->id, "b:1");
    ck_assert_str_eq(ring_node(r, 1)->id, "a:1");
    ck_assert_str_eq(ring_node(r, 2)->id, "c:1");
    ck_assert_int_eq(ring_node_index(r, "a:1", &idx), 0);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(ring_node_index(r, "c:1", &idx), 0);
    ck_assert_uint_eq(idx, 2);
    ck_assert_int_eq(ring_node_index(r, "b:1", &idx), 0);
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(ring_node_index(r, "d:1", &idx), -ENOENT);
    ck_assert_int_eq(ring_node_index(r, "", &idx), -ENOENT);
    ck_assert_uint_eq(ring_vnodes(r), 16);
    ck_assert_uint_eq(ring_point_count(r), 48);
    ring_free(r);
}
END_TEST

/* ---- placement and lookup ---- */

START_TEST(test_ring_points_sit_where_the_header_says)
{
    struct ring *r = build(ids, 3, 100);
    char buf[64];
    uint32_t want, tok;
    size_t found = 0, unsorted = 0;

    /* point 42 of node 1 is at murmur3_x86_32("127.0.0.1:11212#42", RING_SEED) */
    snprintf(buf, sizeof(buf), "%s#%d", ids[1].id, 42);
    lmmh_x86_32(buf, (unsigned)strlen(buf), RING_SEED, &want);
    for (size_t i = 0; i < ring_point_count(r); i++)
        if (ring_point(r, i, &tok) == 1 && tok == want)
            found++;
    ck_assert_uint_eq(found, 1);
    /* sorted clockwise */
    for (size_t i = 1; i < ring_point_count(r); i++) {
        uint32_t prev;

        ring_point(r, i - 1, &prev);
        ring_point(r, i, &tok);
        unsorted += prev > tok;
    }
    ck_assert_uint_eq(unsorted, 0);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_owners_are_stable_across_versions)
{
    /* Every node of a cluster must compute the same owners: these pin the
     * hash, the seed and the placement. Change them only with a version
     * bump of the cluster protocol. */
    struct ring *r = build(ids, 3, 256);
    size_t pref[3], n;

    ck_assert_uint_eq(ring_hash("hello", 5), 1568626408u);
    ck_assert_uint_eq(ring_lookup(r, "foo", 3), 2);
    ck_assert_uint_eq(ring_lookup(r, "baz", 3), 1);
    ck_assert_uint_eq(ring_lookup(r, "session:42", 10), 0);
    ck_assert_int_eq(ring_preference(r, "foo", 3, NULL, 3, pref, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(pref[0], 2);
    ck_assert_uint_eq(pref[1], 1);
    ck_assert_uint_eq(pref[2], 0);
    ck_assert_int_eq(ring_preference(r, "bar", 3, NULL, 3, pref, &n), 0);
    ck_assert_uint_eq(pref[0], 2);
    ck_assert_uint_eq(pref[1], 0);
    ck_assert_uint_eq(pref[2], 1);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_lookup_matches_a_linear_walk)
{
    struct ring *r = build(ids, 4, 64);
    size_t wrong = 0;
    uint32_t tok;

    rng_state = 3;
    for (int i = 0; i < 20000; i++) {
        uint32_t hv = (uint32_t)next_random();

        wrong += ring_lookup_hash(r, hv) != brute_owner(r, hv);
    }
    /* at, just before and just after every point */
    for (size_t i = 0; i < ring_point_count(r); i++) {
        ring_point(r, i, &tok);
        wrong += ring_lookup_hash(r, tok) != brute_owner(r, tok);
        wrong += ring_lookup_hash(r, tok - 1) != brute_owner(r, tok - 1);
        wrong += ring_lookup_hash(r, tok + 1) != brute_owner(r, tok + 1);
    }
    ck_assert_uint_eq(wrong, 0);
    ck_assert_uint_eq(ring_lookup_hash(r, 0), brute_owner(r, 0));
    ck_assert_uint_eq(ring_lookup_hash(r, UINT32_MAX), brute_owner(r, UINT32_MAX));
    ring_free(r);
}
END_TEST

START_TEST(test_ring_lookup_matches_a_linear_walk_at_default_vnodes)
{
    struct ring *r = build(ids, 3, RING_DEFAULT_VNODES);
    size_t wrong = 0;

    rng_state = 4;
    for (int i = 0; i < 300; i++) {
        uint32_t hv = (uint32_t)next_random();

        wrong += ring_lookup_hash(r, hv) != brute_owner(r, hv);
    }
    ck_assert_uint_eq(wrong, 0);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_owner_wraps_around)
{
    struct ring *r = build(ids, 5, 8);
    size_t np = ring_point_count(r), first;
    uint32_t last, tok;

    first = ring_point(r, 0, &tok);
    ring_point(r, np - 1, &last);
    ck_assert_uint_lt(last, UINT32_MAX); /* true for these ids */
    /* past the last point the first point owns the key */
    ck_assert_uint_eq(ring_lookup_hash(r, last + 1), first);
    ck_assert_uint_eq(ring_lookup_hash(r, UINT32_MAX), first);
    ck_assert_uint_eq(ring_lookup_hash(r, 0), first);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_one_node_owns_everything)
{
    struct ring *r = build(ids, 1, 1);
    size_t pref[3], n;

    ck_assert_double_eq(ring_share(r, 0), 1.0);
    ck_assert_uint_eq(ring_lookup(r, "a", 1), 0);
    ck_assert_uint_eq(ring_lookup_hash(r, 0), 0);
    ck_assert_uint_eq(ring_lookup_hash(r, UINT32_MAX), 0);
    ck_assert_int_eq(ring_preference(r, "a", 1, NULL, 3, pref, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(pref[0], 0);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_shares_are_the_arcs_before_each_point)
{
    struct ring *r = build(ids, 3, 2);
    double want[3] = {0, 0, 0};
    uint32_t prev, tok;

    ring_point(r, ring_point_count(r) - 1, &prev);
    for (size_t i = 0; i < ring_point_count(r); i++) {
        size_t node = ring_point(r, i, &tok);

        want[node] += (double)(uint32_t)(tok - prev) / 4294967296.0;
        prev = tok;
    }
    for (size_t i = 0; i < 3; i++)
        ck_assert_double_eq_tol(ring_share(r, i), want[i], 1e-12);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_does_not_depend_on_the_order_of_the_nodes)
{
    struct ring_node shuffled[10];
    struct ring *a, *b;
    size_t differ = 0;
    char key[KEYLEN];

    for (size_t i = 0; i < 10; i++)
        shuffled[i] = ids[(i * 7 + 3) % 10];
    a = build(ids, 10, 256);
    b = build(shuffled, 10, 256);
    rng_state = 5;
    for (int k = 0; k < 100000; k++) {
        size_t pa[3], pb[3], na, nb;

        make_key(key);
        differ += !same_id(a, ring_lookup(a, key, sizeof(key)), b,
                           ring_lookup(b, key, sizeof(key)));
        ring_preference(a, key, sizeof(key), NULL, 3, pa, &na);
        ring_preference(b, key, sizeof(key), NULL, 3, pb, &nb);
        differ += na != 3 || nb != 3;
        for (size_t j = 0; j < na && j < nb; j++)
            differ += !same_id(a, pa[j], b, pb[j]);
    }
    ck_assert_uint_eq(differ, 0);
    ring_free(a);
    ring_free(b);
}
END_TEST

/* ---- balance and disruption, 1M keys, default vnodes ---- */

START_TEST(test_ring_balance_3_nodes_within_5_percent_of_the_mean)
{
    ck_assert_double_le(max_over_mean(3), 1.05);
}
END_TEST

START_TEST(test_ring_balance_10_nodes_within_5_percent_of_the_mean)
{
    ck_assert_double_le(max_over_mean(10), 1.05);
}
END_TEST

START_TEST(test_ring_adding_an_11th_node_moves_keys_only_onto_it)
{
    /* the new node goes in the middle of the array: indices shift, so
     * compare ids */
    struct ring_node eleven[11];
    struct ring *before, *after;
    size_t moved = 0, onto_new = 0;
    char key[KEYLEN];

    for (size_t i = 0, j = 0; i < 11; i++)
        eleven[i] = i == 4 ? ids[10] : ids[j++];
    before = build(ids, 10, RING_DEFAULT_VNODES);
    after = build(eleven, 11, RING_DEFAULT_VNODES);
    rng_state = 6;
    for (int k = 0; k < NKEYS; k++) {
        const char *was, *is;

        make_key(key);
        was = ring_node(before, ring_lookup(before, key, sizeof(key)))->id;
        is = ring_node(after, ring_lookup(after, key, sizeof(key)))->id;
        if (strcmp(was, is) != 0) {
            moved++;
            onto_new += strcmp(is, ids[10].id) == 0;
        }
    }
    ck_assert_uint_eq(onto_new, moved);
    ck_assert_uint_le(moved, (size_t)(1.1 / 11 * NKEYS));
    ck_assert_uint_ge(moved, (size_t)(0.9 / 11 * NKEYS));
    ring_free(before);
    ring_free(after);
}
END_TEST

START_TEST(test_ring_removing_a_node_moves_only_its_keys)
{
    struct ring_node nine[9];
    struct ring *before, *after;
    size_t moved = 0, moved_wrongly = 0;
    char key[KEYLEN];

    for (size_t i = 0, j = 0; i < 10; i++)
        if (i != 6)
            nine[j++] = ids[i];
    before = build(ids, 10, RING_DEFAULT_VNODES);
    after = build(nine, 9, RING_DEFAULT_VNODES);
    rng_state = 7;
    for (int k = 0; k < NKEYS; k++) {
        size_t was, is;

        make_key(key);
        was = ring_lookup(before, key, sizeof(key));
        is = ring_lookup(after, key, sizeof(key));
        if (was == 6) {
            moved++;
            continue;
        }
        moved_wrongly += !same_id(before, was, after, is);
    }
    ck_assert_uint_eq(moved_wrongly, 0);
    ck_assert_double_eq_tol((double)moved / NKEYS, ring_share(before, 6), 0.005);
    ring_free(before);
    ring_free(after);
}
END_TEST

/* ---- preference lists ---- */

START_TEST(test_ring_preference_lists_distinct_nodes_clockwise)
{
    struct ring *r = build(ids, 6, 32);
    size_t wrong = 0;
    char key[KEYLEN];

    rng_state = 8;
    for (int k = 0; k < 20000; k++) {
        size_t got[6], want[6], n, wn;
        uint32_t hv;

        make_key(key);
        hv = ring_hash(key, sizeof(key));
        wrong += ring_preference(r, key, sizeof(key), NULL, 3, got, &n) != 0;
        wn = brute_preference(r, hv, NULL, 3, want);
        wrong += n != 3 || wn != 3;
        wrong += got[0] != ring_lookup(r, key, sizeof(key));
        for (size_t j = 0; j < n && j < wn; j++)
            wrong += got[j] != want[j];
        wrong += got[0] == got[1] || got[0] == got[2] || got[1] == got[2];
    }
    ck_assert_uint_eq(wrong, 0);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_preference_longer_than_the_ring_lists_every_node_once)
{
    struct ring *r = build(ids, 4, 16);
    size_t got[8], n;
    unsigned seen = 0;

    ck_assert_int_eq(ring_preference(r, "k", 1, NULL, 8, got, &n), 0);
    ck_assert_uint_eq(n, 4);
    for (size_t j = 0; j < n; j++)
        seen |= 1u << got[j];
    ck_assert_uint_eq(seen, 0xf);
    ck_assert_int_eq(ring_preference(r, "k", 1, NULL, 0, got, &n), -EINVAL);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_preference_wraps_around)
{
    struct ring *r = build(ids, 5, 4);
    size_t np = ring_point_count(r), got[5], want[5], n;
    uint32_t last, tok;

    ring_point(r, np - 1, &last);
    ck_assert_int_eq(ring_preference_hash(r, last + 1, NULL, 5, got, &n), 0);
    ck_assert_uint_eq(n, 5);
    /* the list starts again at the first point */
    ck_assert_uint_eq(got[0], ring_point(r, 0, &tok));
    ck_assert_uint_eq(brute_preference(r, last + 1, NULL, 5, want), 5);
    for (size_t j = 0; j < n; j++)
        ck_assert_uint_eq(got[j], want[j]);
    /* from the last point itself: its node, then the first point's */
    ck_assert_int_eq(ring_preference_hash(r, last, NULL, 5, got, &n), 0);
    ck_assert_uint_eq(got[0], ring_point(r, np - 1, &tok));
    brute_preference(r, last, NULL, 5, want);
    for (size_t j = 0; j < n; j++)
        ck_assert_uint_eq(got[j], want[j]);
    ring_free(r);
}
END_TEST

START_TEST(test_ring_preference_skips_down_nodes_as_if_they_were_removed)
{
    bool down[10] = {false};
    struct ring_node up[7];
    struct ring *all, *without;
    size_t wrong = 0;
    char key[KEYLEN];

    down[2] = down[5] = down[7] = true;
    for (size_t i = 0, j = 0; i < 10; i++)
        if (!down[i])
            up[j++] = ids[i];
    all = build(ids, 10, 512);
    without = build(up, 7, 512);
    rng_state = 9;
    for (int k = 0; k < 100000; k++) {
        size_t got[3], want[3], n, wn;

        make_key(key);
        wrong += ring_preference(all, key, sizeof(key), down, 3, got, &n) != 0;
        wrong += ring_preference(without, key, sizeof(key), NULL, 3, want, &wn) != 0;
        wrong += n != 3 || wn != 3;
        for (size_t j = 0; j < n && j < wn; j++)
            wrong += down[got[j]] || !same_id(all, got[j], without, want[j]);
    }
    ck_assert_uint_eq(wrong, 0);
    ring_free(all);
    ring_free(without);
}
END_TEST

START_TEST(test_ring_nodes_built_down_serve_nothing_and_their_arcs_go_clockwise)
{
    struct ring_node marked[10], up[7];
    struct ring *all, *without;
    size_t wrong = 0;
    char key[KEYLEN];

    for (size_t i = 0, j = 0; i < 10; i++) {
        marked[i] = ids[i];
        marked[i].down = i == 2 || i == 5 || i == 7;
        if (!marked[i].down)
            up[j++] = ids[i];
    }
    all = build(marked, 10, 512);
    without = build(up, 7, 512);
    ck_assert_uint_eq(ring_down_count(all), 3);
    /* shares: as if the down nodes were not there at all */
    for (size_t i = 0; i < 10; i++) {
        size_t j;
        if (marked[i].down) {
            ck_assert_double_eq(ring_share(all, i), 0.0);
            continue;
        }
        ck_assert_int_eq(ring_node_index(without, ids[i].id, &j), 0);
        ck_assert_double_eq_tol(ring_share(all, i), ring_share(without, j), 1e-12);
    }
    /* owners and the first node up: the same lists, from the ring's own flags */
    rng_state = 11;
    for (int k = 0; k < 20000; k++) {
        size_t got[3], want[3], n, wn;
        uint32_t hv;

        make_key(key);
        hv = ring_hash(key, sizeof(key));
        wrong += ring_owners(all, hv, 3, got, &n) != 0;
        wrong += ring_preference_hash(without, hv, NULL, 3, want, &wn) != 0;
        wrong += n != 3 || wn != 3;
        for (size_t j = 0; j < n && j < wn; j++)
            wrong += marked[got[j]].down || !same_id(all, got[j], without, want[j]);
        wrong += ring_first_up(all, hv) != got[0];
    }
    ck_assert_uint_eq(wrong, 0);
    ring_free(all);
    ring_free(without);
}
END_TEST

START_TEST(test_ring_preference_with_few_nodes_up)
{
    bool down[6] = {true, true, false, true, true, true};
    struct ring *r = build(ids, 6, 64);
    size_t got[3] = {9, 9, 9}, n = 9;

    /* one node up: it is the whole list, wherever the key falls */
    ck_assert_int_eq(ring_preference(r, "x", 1, down, 3, got, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(got[0], 2);
    ck_assert_int_eq(ring_preference_hash(r, UINT32_MAX, down, 3, got, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(got[0], 2);
    /* none up */
    down[2] = true;
    ck_assert_int_eq(ring_preference(r, "x", 1, down, 3, got, &n), -ENOENT);
    ck_assert_uint_eq(n, 0);
    ring_free(r);
}
END_TEST

/* ---- epochs and sharing ---- */

static struct ring *build_epoch(size_t n, uint64_t epoch)
{
    struct ring *r = NULL;

    ck_assert_int_eq(ring_build(ids, n, 16, epoch, &r), 0);
    return r;
}

START_TEST(test_ring_publish_requires_a_newer_epoch)
{
    struct ring_ref ref;
    struct ring *r5 = build_epoch(3, 5), *again = build_epoch(4, 5);
    struct ring *older = build_epoch(4, 4), *r6 = build_epoch(4, 6), *got;

    ring_ref_init(&ref);
    ck_assert_ptr_null(ring_acquire(&ref));
    ck_assert_uint_eq(ring_epoch(r5), 5);
    ck_assert_int_eq(ring_ref_publish(&ref, r5), 0);
    ck_assert_int_eq(ring_ref_publish(&ref, again), -ESTALE);
    ck_assert_int_eq(ring_ref_publish(&ref, older), -ESTALE);
    got = ring_acquire(&ref);
    ck_assert_ptr_eq(got, r5);
    ring_release(got);
    ck_assert_int_eq(ring_ref_publish(&ref, r6), 0);
    got = ring_acquire(&ref);
    ck_assert_uint_eq(ring_epoch(got), 6);
    ck_assert_uint_eq(ring_node_count(got), 4);
    ring_release(got);
    ring_ref_fini(&ref);
    /* refused rings stay the caller's */
    ring_free(again);
    ring_free(older);
}
END_TEST

START_TEST(test_ring_held_ring_outlives_its_replacement)
{
    struct ring_ref ref;
    struct ring *old, *cur;

    ring_ref_init(&ref);
    ck_assert_int_eq(ring_ref_publish(&ref, build_epoch(3, 1)), 0);
    old = ring_acquire(&ref);
    ck_assert_int_eq(ring_ref_publish(&ref, build_epoch(5, 2)), 0);
    ck_assert_int_eq(ring_ref_publish(&ref, build_epoch(7, 3)), 0);
    /* still usable: ASan would flag a freed ring */
    ck_assert_uint_eq(ring_epoch(old), 1);
    ck_assert_uint_lt(ring_lookup(old, "k", 1), 3);
    cur = ring_acquire(&ref);
    ck_assert_uint_eq(ring_epoch(cur), 3);
    ring_ref_fini(&ref);
    ck_assert_uint_eq(ring_node_count(cur), 7); /* readers outlive the ref too */
    ring_release(old);
    ring_release(cur);
    ring_release(NULL);
}
END_TEST

START_TEST(test_ring_cache_follows_the_published_ring)
{
    struct ring_ref ref;
    struct ring_cache c = RING_CACHE_INIT;
    const struct ring *a, *b;

    ring_ref_init(&ref);
    ck_assert_ptr_null(ring_cache_get(&c, &ref));
    ck_assert_int_eq(ring_ref_publish(&ref, build_epoch(3, 1)), 0);
    a = ring_cache_get(&c, &ref);
    ck_assert_uint_eq(ring_epoch(a), 1);
    ck_assert_ptr_eq(ring_cache_get(&c, &ref), a);
    ck_assert_int_eq(ring_ref_publish(&ref, build_epoch(4, 2)), 0);
    /* the cache's reference keeps epoch 1 alive until the next get */
    ck_assert_uint_eq(ring_epoch(a), 1);
    b = ring_cache_get(&c, &ref);
    ck_assert_uint_eq(ring_epoch(b), 2);
    ring_cache_clear(&c);
    ck_assert_ptr_null(c.ring);
    ring_ref_fini(&ref);
}
END_TEST

#define READERS   3
#define PUBLISHES 2000

struct reader {
    struct ring_ref *ref;
    bool use_cache;
    int *stop;              /* atomic */
    unsigned long acquired; /* rings seen */
    unsigned long bad;      /* inconsistencies seen */
};

/* The writer builds epoch e with this many nodes, so a reader can tell a
 * torn or freed ring from a good one. */
static size_t nodes_for(uint64_t epoch)
{
    return 1 + epoch % 7;
}

static void check_ring(struct reader *rd, const struct ring *r, uint64_t *last)
{
    uint64_t e = ring_epoch(r);
    size_t n = ring_node_count(r);

    rd->acquired++;
    rd->bad += e < *last;
    rd->bad += n != nodes_for(e);
    *last = e;
    for (int k = 0; k < 8; k++) {
        size_t owner = ring_lookup_hash(r, (uint32_t)k * 0x20000001u);

        rd->bad += owner >= n;
        rd->bad += strncmp(ring_node(r, owner)->id, "127.0.0.1:", 10) != 0;
    }
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    struct ring_cache cache = RING_CACHE_INIT;
    uint64_t last = 0;

    while (!__atomic_load_n(rd->stop, __ATOMIC_RELAXED)) {
        if (rd->use_cache) {
            const struct ring *r = ring_cache_get(&cache, rd->ref);

            if (r != NULL)
                check_ring(rd, r, &last);
        } else {
            struct ring *r = ring_acquire(rd->ref);

            if (r != NULL) {
                check_ring(rd, r, &last);
                ring_release(r);
            }
        }
    }
    ring_cache_clear(&cache);
    return NULL;
}

START_TEST(test_ring_ref_survives_concurrent_readers_and_a_writer)
{
    struct ring_ref ref;
    struct reader rd[READERS];
    pthread_t t[READERS];
    int stop = 0;
    unsigned long acquired = 0;

    ring_ref_init(&ref);
    for (int i = 0; i < READERS; i++) {
        rd[i] = (struct reader){.ref = &ref, .use_cache = i == 0, .stop = &stop};
        ck_assert_int_eq(pthread_create(&t[i], NULL, reader_main, &rd[i]), 0);
    }
    for (uint64_t e = 1; e <= PUBLISHES; e++) {
        struct ring *r = NULL;

        ck_assert_int_eq(ring_build(ids, nodes_for(e), 8, e, &r), 0);
        ck_assert_int_eq(ring_ref_publish(&ref, r), 0);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < READERS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_uint_eq(rd[i].bad, 0);
        acquired += rd[i].acquired;
    }
    ck_assert_uint_gt(acquired, 0);
    ring_ref_fini(&ref);
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ring_build_rejects_bad_input);
    tcase_add_test(tc, test_ring_carries_each_nodes_tag);
    tcase_add_test(tc, test_ring_build_refuses_more_points_or_nodes_than_the_limits);
    tcase_add_test(tc, test_ring_build_unwinds_when_any_allocation_fails);
    tcase_add_test(tc, test_ring_copies_ids_and_finds_nodes_by_id);
    tcase_add_test(tc, test_ring_points_sit_where_the_header_says);
    tcase_add_test(tc, test_ring_owners_are_stable_across_versions);
    tcase_add_test(tc, test_ring_lookup_matches_a_linear_walk);
    tcase_add_test(tc, test_ring_lookup_matches_a_linear_walk_at_default_vnodes);
    tcase_add_test(tc, test_ring_owner_wraps_around);
    tcase_add_test(tc, test_ring_one_node_owns_everything);
    tcase_add_test(tc, test_ring_shares_are_the_arcs_before_each_point);
    tcase_add_test(tc, test_ring_does_not_depend_on_the_order_of_the_nodes);
    tcase_add_test(tc, test_ring_balance_3_nodes_within_5_percent_of_the_mean);
    tcase_add_test(tc, test_ring_balance_10_nodes_within_5_percent_of_the_mean);
    tcase_add_test(tc, test_ring_adding_an_11th_node_moves_keys_only_onto_it);
    tcase_add_test(tc, test_ring_removing_a_node_moves_only_its_keys);
    tcase_add_test(tc, test_ring_preference_lists_distinct_nodes_clockwise);
    tcase_add_test(tc, test_ring_preference_longer_than_the_ring_lists_every_node_once);
    tcase_add_test(tc, test_ring_preference_wraps_around);
    tcase_add_test(tc, test_ring_preference_skips_down_nodes_as_if_they_were_removed);
    tcase_add_test(tc, test_ring_preference_with_few_nodes_up);
    tcase_add_test(tc,
                   test_ring_nodes_built_down_serve_nothing_and_their_arcs_go_clockwise);
    tcase_add_test(tc, test_ring_publish_requires_a_newer_epoch);
    tcase_add_test(tc, test_ring_held_ring_outlives_its_replacement);
    tcase_add_test(tc, test_ring_cache_follows_the_published_ring);
    tcase_add_test(tc, test_ring_ref_survives_concurrent_readers_and_a_writer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ring_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
