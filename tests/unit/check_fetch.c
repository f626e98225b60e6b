/* check_fetch: the holders a dual read asks (the pure part of fetch; the
 * dual reads themselves are check_proxy_dual's). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/cluster.h"
#include "cluster/fetch.h"
#include "cluster/ring.h"

#define NNODES 5
#define VNODES 64

static struct ring *build(const bool *down)
{
    static const char *ids[NNODES] = {"n0", "n1", "n2", "n3", "n4"};
    struct ring_node nodes[NNODES];
    struct ring *r = NULL;

    for (uint32_t i = 0; i < NNODES; i++) {
        nodes[i].id = ids[i];
        nodes[i].tag = i; /* member slot: n0 is this node (CLUSTER_SELF) */
        nodes[i].down = down != NULL && down[i];
    }
    ck_assert_int_eq(ring_build(nodes, NNODES, VNODES, 1, &r), 0);
    return r;
}

/* The first n owners of hv that are up, as member slots. */
static size_t owners(const struct ring *r, uint32_t hv, size_t n, uint32_t *out)
{
    size_t idx[NNODES], got = 0;

    ck_assert_int_eq(ring_owners(r, hv, n, idx, &got), 0);
    for (size_t i = 0; i < got; i++)
        out[i] = ring_node(r, idx[i])->tag;
    return got;
}

START_TEST(test_fetch_holders_are_the_first_replicas_plus_one_owners_but_this_node)
{
    struct ring *r = build(NULL);

    for (unsigned replicas = 1; replicas <= 3; replicas++)
        for (uint32_t k = 0; k < 2000; k++) {
            uint32_t hv = ring_hash(&k, sizeof(k)), want[NNODES], got[NNODES];
            size_t n = owners(r, hv, replicas + 1, want), m = 0, nget;
            nget = fetch_holders(r, hv, replicas, got, NNODES);
            for (size_t i = 0; i < n; i++) {
                if (want[i] == CLUSTER_SELF)
                    continue;
                ck_assert_uint_lt(m, nget);
                ck_assert_uint_eq(got[m++], want[i]); /* in preference order */
            }
            ck_assert_uint_eq(m, nget);
            ck_assert_uint_ge(nget, replicas); /* self is one of them at most */
        }
    ring_free(r);
}
END_TEST

START_TEST(test_fetch_holders_of_a_new_first_owner_include_the_pushed_out_one)
{
    /* n0 joins: keys it now owns first were on the next N owners before,
     * which are its next N nodes now: all of them are asked */
    static const char *old_ids[NNODES - 1] = {"n1", "n2", "n3", "n4"};
    struct ring_node old_nodes[NNODES - 1];
    struct ring *r = build(NULL), *old = NULL;
    unsigned replicas = 2, checked = 0;

    for (uint32_t i = 0; i < NNODES - 1; i++)
        old_nodes[i] = (struct ring_node){.id = old_ids[i], .tag = i + 1};
    ck_assert_int_eq(ring_build(old_nodes, NNODES - 1, VNODES, 1, &old), 0);
    for (uint32_t k = 0; k < 2000; k++) {
        uint32_t hv = ring_hash(&k, sizeof(k)), before[NNODES], got[NNODES];
        size_t n, nget;
        if (ring_node(r, ring_first_up(r, hv))->tag != CLUSTER_SELF)
            continue;
        n = owners(old, hv, replicas, before);
        nget = fetch_holders(r, hv, replicas, got, NNODES);
        for (size_t i = 0; i < n; i++) {
            bool asked = false;
            for (size_t j = 0; j < nget; j++)
                asked |= got[j] == before[i];
            ck_assert_msg(asked, "key %u: previous owner %u not asked", k, before[i]);
        }
        checked++;
    }
    ck_assert_uint_gt(checked, 100);
    ring_free(r);
    ring_free(old);
}
END_TEST

START_TEST(test_fetch_holders_skip_nodes_that_are_down_and_respect_max)
{
    bool down[NNODES] = {false, true, false, false, false};
    struct ring *r = build(down);
    uint32_t got[NNODES];

    for (uint32_t k = 0; k < 2000; k++) {
        uint32_t hv = ring_hash(&k, sizeof(k));
        size_t n = fetch_holders(r, hv, 2, got, NNODES);
        ck_assert_uint_ge(n, 2);
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_ne(got[i], 1);
            ck_assert_uint_ne(got[i], CLUSTER_SELF);
        }
        ck_assert_uint_le(fetch_holders(r, hv, 2, got, 1), 1);
    }
    ring_free(r);
}
END_TEST

START_TEST(test_fetch_holders_of_a_lone_node_are_none)
{
    struct ring_node self = {.id = "n0", .tag = CLUSTER_SELF};
    struct ring *r = NULL;
    uint32_t got[4];

    ck_assert_int_eq(ring_build(&self, 1, VNODES, 1, &r), 0);
    ck_assert_uint_eq(fetch_holders(r, 12345, 1, got, 4), 0);
    ck_assert_uint_eq(fetch_holders(r, 12345, 3, got, 4), 0);
    ring_free(r);
}
END_TEST

static Suite *fetch_suite(void)
{
    Suite *s = suite_create("fetch");
    TCase *tc = tcase_create("holders");

    tcase_add_test(
        tc, test_fetch_holders_are_the_first_replicas_plus_one_owners_but_this_node);
    tcase_add_test(tc,
                   test_fetch_holders_of_a_new_first_owner_include_the_pushed_out_one);
    tcase_add_test(tc, test_fetch_holders_skip_nodes_that_are_down_and_respect_max);
    tcase_add_test(tc, test_fetch_holders_of_a_lone_node_are_none);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fetch_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
