/* check_ring_handoff: the range arithmetic of handoff on ring changes
 * (ring_handoff_targets()): after a join, only the keys that moved go, and
 * only to the new node; a leaving owner gives each key to exactly the owner
 * that replaces it; a holder that owns nothing gives to every owner up; a
 * node that is down is never a target. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ring.h"

#define NODES   6
#define VNODES  64
#define NKEYS   20000
#define MAXREPL 4

static char idbuf[NODES][16];
static struct ring_node nodes[NODES];

static struct ring *build(size_t n, const bool *down)
{
    struct ring *r = NULL;

    for (size_t i = 0; i < NODES; i++) {
        snprintf(idbuf[i], sizeof(idbuf[i]), "node-%zu", i);
        nodes[i] = (struct ring_node){
            .id = idbuf[i], .tag = (uint32_t)i, .down = down != NULL && down[i]};
    }
    ck_assert_int_eq(ring_build(nodes, n, VNODES, 1, &r), 0);
    return r;
}

static uint32_t hash_of(unsigned k)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "key:%u", k);

    return ring_hash(key, (size_t)n);
}

/* Whether node v is among the n owners of hv in r. */
static bool owns(const struct ring *r, uint32_t hv, size_t replicas, size_t v)
{
    size_t own[MAXREPL], n;

    ck_assert_int_eq(ring_owners(r, hv, replicas, own, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (own[i] == v)
            return true;
    return false;
}

START_TEST(test_after_a_join_only_moved_keys_go_and_only_to_the_new_node)
{
    for (size_t replicas = 1; replicas <= 3; replicas++) {
        struct ring *before = build(NODES - 1, NULL), *after = build(NODES, NULL);
        size_t joined = NODES - 1, moved = 0;

        for (unsigned k = 0; k < NKEYS; k++) {
            uint32_t hv = hash_of(k);
            for (size_t h = 0; h < NODES - 1; h++) {
                size_t t[MAXREPL], n;
                if (!owns(before, hv, replicas, h))
                    continue; /* only holders: the owners before the join */
                n = ring_handoff_targets(after, hv, h, replicas, NULL, t);
                if (owns(after, hv, replicas, h)) {
                    ck_assert_uint_eq(n, 0);
                    continue;
                }
                /* pushed out by the new node: its copies go to every owner
                 * now, the new node among them */
                ck_assert_uint_eq(n, replicas);
                ck_assert(owns(after, hv, replicas, joined));
                moved++;
            }
        }
        /* about replicas/NODES of the copies change hands */
        ck_assert_uint_gt(moved, NKEYS * replicas / NODES / 2);
        ck_assert_uint_lt(moved, NKEYS * replicas * 2 / NODES);
        ring_free(before);
        ring_free(after);
    }
}
END_TEST

START_TEST(test_a_leaving_owner_gives_each_key_to_the_owner_that_replaces_it)
{
    for (size_t replicas = 1; replicas <= 3; replicas++) {
        bool gone[NODES] = {false};
        struct ring *r = build(NODES, NULL);
        size_t self = 2, given = 0;

        gone[self] = true;
        for (unsigned k = 0; k < NKEYS; k++) {
            uint32_t hv = hash_of(k);
            size_t t[MAXREPL], n = ring_handoff_targets(r, hv, self, replicas, gone, t);
            size_t later[MAXREPL], m;
            if (!owns(r, hv, replicas, self)) {
                /* not its key: it holds no copy to give (it would go to
                 * every owner, all of them up) */
                ck_assert_uint_eq(n, replicas);
                continue;
            }
            /* exactly one new owner, the one that is an owner once self is
             * gone and is not one now */
            ck_assert_uint_eq(n, 1);
            ck_assert(!owns(r, hv, replicas, t[0]));
            ck_assert_int_eq(ring_preference_hash(r, hv, gone, replicas, later, &m), 0);
            ck_assert_uint_eq(m, replicas);
            ck_assert_uint_eq(t[0], later[m - 1]); /* the next one clockwise */
            ck_assert_uint_ne(t[0], self);
            given++;
        }
        ck_assert_uint_gt(given, 0);
        ring_free(r);
    }
}
END_TEST

START_TEST(test_an_owner_that_stays_keeps_its_keys)
{
    struct ring *r = build(NODES, NULL);

    for (unsigned k = 0; k < NKEYS; k++) {
        uint32_t hv = hash_of(k);
        size_t t[MAXREPL];
        for (size_t h = 0; h < NODES; h++)
            if (owns(r, hv, 2, h))
                ck_assert_uint_eq(ring_handoff_targets(r, hv, h, 2, NULL, t), 0);
    }
    ring_free(r);
}
END_TEST

START_TEST(test_a_node_that_is_down_is_never_a_target)
{
    bool down[NODES] = {false}, gone[NODES] = {false};
    struct ring *r;

    down[4] = true; /* dead: in the ring, serving nothing */
    r = build(NODES, down);
    gone[4] = gone[1] = true; /* node 1 leaves; 4 stays down */
    for (unsigned k = 0; k < NKEYS; k++) {
        uint32_t hv = hash_of(k);
        for (size_t h = 0; h < NODES; h++) {
            size_t t[MAXREPL];
            size_t n = ring_handoff_targets(r, hv, h, 3, h == 1 ? gone : NULL, t);
            for (size_t i = 0; i < n; i++) {
                ck_assert_uint_ne(t[i], 4);
                ck_assert_uint_ne(t[i], h);
            }
        }
    }
    ring_free(r);
}
END_TEST

START_TEST(test_a_lone_node_and_oversized_replicas)
{
    struct ring *r = build(1, NULL);
    bool gone[1] = {true};
    size_t t[RING_MAX_HANDOFF];

    /* alone: owner of everything; leaving, nobody to give to */
    ck_assert_uint_eq(ring_handoff_targets(r, 12345, 0, 1, NULL, t), 0);
    ck_assert_uint_eq(ring_handoff_targets(r, 12345, 0, 1, gone, t), 0);
    ring_free(r);
    r = build(NODES, NULL);
    /* more replicas than nodes or than the bound: every node owns it */
    ck_assert_uint_eq(ring_handoff_targets(r, 99, 0, 1000, NULL, t), 0);
    ring_free(r);
}
END_TEST

static Suite *handoff_suite(void)
{
    Suite *s = suite_create("ring_handoff");
    TCase *tc = tcase_create("targets");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_after_a_join_only_moved_keys_go_and_only_to_the_new_node);
    tcase_add_test(tc, test_a_leaving_owner_gives_each_key_to_the_owner_that_replaces_it);
    tcase_add_test(tc, test_an_owner_that_stays_keeps_its_keys);
    tcase_add_test(tc, test_a_node_that_is_down_is_never_a_target);
    tcase_add_test(tc, test_a_lone_node_and_oversized_replicas);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(handoff_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
