/* check_nearcache: the near cache of hot keys' answers, and the per-worker
 * table of collapsed gets (src/cluster/nearcache.c, collapse.c). */
#include "base/buf.h"
#include "cluster/collapse.h"
#include "cluster/nearcache.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char reply[] = "VALUE k 0 1\r\nv\r\nEND\r\n";

static bool got(struct nearcache *nc, const char *key, uint32_t hash, uint64_t gen,
                uint64_t now, const char *want)
{
    struct buf b;
    bool hit;

    buf_init(&b);
    hit = nearcache_get(nc, key, strlen(key), hash, gen, now, &b);
    if (hit)
        ck_assert_int_eq(memcmp(b.data, want, strlen(want)), 0);
    if (hit)
        ck_assert_uint_eq(b.len, strlen(want));
    buf_free(&b);
    return hit;
}

START_TEST(test_nearcache_serves_a_copy_until_it_expires)
{
    struct nearcache *nc;

    ck_assert_int_eq(nearcache_new(1 << 20, &nc), 0);
    ck_assert_int_eq(nearcache_put(nc, "k", 1, 7, 3, 1000, reply, strlen(reply), 0), 0);
    ck_assert(got(nc, "k", 7, 3, 999, reply));
    ck_assert(!got(nc, "k", 7, 3, 1000, reply)); /* its time is up */
    ck_assert_uint_eq(nearcache_count(nc), 0);   /* and it was freed */
    ck_assert_uint_eq(nearcache_bytes(nc), 0);
    nearcache_free(nc);
}
END_TEST

START_TEST(test_nearcache_a_copy_of_another_generation_is_dropped)
{
    struct nearcache *nc;

    ck_assert_int_eq(nearcache_new(1 << 20, &nc), 0);
    ck_assert_int_eq(nearcache_put(nc, "k", 1, 7, 3, 1000, reply, strlen(reply), 0), 0);
    ck_assert(!got(nc, "k", 7, 4, 1, reply));
    ck_assert(!got(nc, "k", 7, 3, 1, reply));
    nearcache_free(nc);
}
END_TEST

START_TEST(test_nearcache_keys_with_one_hash_stay_apart_and_drop_alone)
{
    struct nearcache *nc;

    ck_assert_int_eq(nearcache_new(1 << 20, &nc), 0);
    ck_assert_int_eq(nearcache_put(nc, "a", 1, 9, 0, 100, "END\r\n", 5, 0), 0);
    ck_assert_int_eq(nearcache_put(nc, "b", 1, 9, 0, 100, reply, strlen(reply), 0), 0);
    ck_assert(got(nc, "a", 9, 0, 1, "END\r\n"));
    ck_assert(got(nc, "b", 9, 0, 1, reply));
    nearcache_drop(nc, "a", 1, 9);
    ck_assert(!got(nc, "a", 9, 0, 1, ""));
    ck_assert(got(nc, "b", 9, 0, 1, reply));
    /* a put replaces the key's copy */
    ck_assert_int_eq(nearcache_put(nc, "b", 1, 9, 1, 100, "END\r\n", 5, 2), 0);
    ck_assert_uint_eq(nearcache_count(nc), 1);
    ck_assert(got(nc, "b", 9, 1, 3, "END\r\n"));
    nearcache_drop(nc, NULL, 0, 0);
    ck_assert_uint_eq(nearcache_count(nc), 0);
    nearcache_free(nc);
}
END_TEST

START_TEST(test_nearcache_refuses_what_would_exceed_its_bound)
{
    struct nearcache *nc;
    char big[400];

    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(nearcache_new(1000, &nc), 0);
    ck_assert_int_eq(nearcache_put(nc, "a", 1, 1, 0, 100, big, sizeof(big), 0), 0);
    ck_assert_int_eq(nearcache_put(nc, "b", 1, 1, 0, 100, big, sizeof(big), 0), 0);
    ck_assert_int_eq(nearcache_put(nc, "c", 1, 1, 0, 100, big, sizeof(big), 0), -ENOSPC);
    ck_assert_uint_le(nearcache_bytes(nc), 1000);
    /* expired copies of the stripe make room */
    ck_assert_int_eq(nearcache_put(nc, "c", 1, 1, 0, 300, big, sizeof(big), 100), 0);
    ck_assert_uint_eq(nearcache_count(nc), 1);
    nearcache_free(nc);
}
END_TEST

START_TEST(test_collapse_joins_until_full_then_starts_anew)
{
    struct collapse *c = collapse_new();
    struct fwdreq *r = (struct fwdreq *)&c; /* never dereferenced */
    struct collapse_entry *e, *f;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(collapse_find(c, "k", 1, 5, 2, false));
    e = collapse_start(c, "k", 1, 5, 2, false, 0, r);
    ck_assert_ptr_nonnull(e);
    /* another owner, gets rather than get, another key: not the same */
    ck_assert_ptr_null(collapse_find(c, "k", 1, 5, 3, false));
    ck_assert_ptr_null(collapse_find(c, "k", 1, 5, 2, true));
    ck_assert_ptr_null(collapse_find(c, "j", 1, 5, 2, false));
    for (unsigned i = 1; i < COLLAPSE_MAX_WAITERS; i++) {
        ck_assert_ptr_eq(collapse_find(c, "k", 1, 5, 2, false), e);
        collapse_join(e, r);
    }
    ck_assert_uint_eq(e->nwaiters, COLLAPSE_MAX_WAITERS);
    ck_assert_ptr_null(collapse_find(c, "k", 1, 5, 2, false)); /* full */
    f = collapse_start(c, "k", 1, 5, 2, false, 0, r);
    ck_assert_ptr_eq(collapse_find(c, "k", 1, 5, 2, false), f);
    ck_assert_uint_eq(collapse_count(c), 1);
    collapse_close(f);
    collapse_close(f); /* idempotent */
    ck_assert_uint_eq(collapse_count(c), 0);
    collapse_release(c, e);
    collapse_release(c, f);
    /* released entries are reused */
    ck_assert_ptr_nonnull(collapse_start(c, "z", 1, 6, 2, true, 1, r));
    ck_assert_uint_eq(collapse_count(c), 1);
    collapse_release(c, collapse_find(c, "z", 1, 6, 2, true));
    collapse_free(c);
}
END_TEST

static Suite *nearcache_suite(void)
{
    Suite *s = suite_create("nearcache");
    TCase *tc = tcase_create("nearcache");

    tcase_add_test(tc, test_nearcache_serves_a_copy_until_it_expires);
    tcase_add_test(tc, test_nearcache_a_copy_of_another_generation_is_dropped);
    tcase_add_test(tc, test_nearcache_keys_with_one_hash_stay_apart_and_drop_alone);
    tcase_add_test(tc, test_nearcache_refuses_what_would_exceed_its_bound);
    suite_add_tcase(s, tc);
    tc = tcase_create("collapse");
    tcase_add_test(tc, test_collapse_joins_until_full_then_starts_anew);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nearcache_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
