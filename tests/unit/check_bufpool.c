/* check_bufpool: the per-worker free list of buffers: blocks come back
 * warmest first, the list keeps at most max_free spares, and blocks of
 * another size (grown by realloc) are freed rather than kept. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/bufpool.h"

static struct bufpool p;

static void setup(void)
{
    bufpool_init(&p, 64, 2);
}

static void teardown(void)
{
    bufpool_fini(&p);
}

START_TEST(test_bufpool_get_gives_a_writable_block_of_the_pool_size)
{
    char *b = bufpool_get(&p);

    ck_assert_ptr_nonnull(b);
    memset(b, 'x', p.size); /* ASan: the whole block is ours */
    ck_assert_uint_eq(p.nfree, 0);
    bufpool_put(&p, b, p.size);
    ck_assert_uint_eq(p.nfree, 1);
}
END_TEST

START_TEST(test_bufpool_lends_the_last_returned_block_first)
{
    char *a = bufpool_get(&p), *b = bufpool_get(&p);

    bufpool_put(&p, a, p.size);
    bufpool_put(&p, b, p.size);
    ck_assert_ptr_eq(bufpool_get(&p), b);
    ck_assert_ptr_eq(bufpool_get(&p), a);
    ck_assert_uint_eq(p.nfree, 0);
    bufpool_put(&p, a, p.size);
    bufpool_put(&p, b, p.size);
}
END_TEST

START_TEST(test_bufpool_keeps_at_most_max_free_spares)
{
    char *blocks[5];

    for (int i = 0; i < 5; i++)
        blocks[i] = bufpool_get(&p);
    for (int i = 0; i < 5; i++)
        bufpool_put(&p, blocks[i], p.size);
    ck_assert_uint_eq(p.nfree, 2); /* the other three were freed (ASan: no leak) */
}
END_TEST

START_TEST(test_bufpool_frees_a_block_that_grew_instead_of_keeping_it)
{
    char *b = bufpool_get(&p);

    b = realloc(b, 4 * p.size);
    ck_assert_ptr_nonnull(b);
    bufpool_put(&p, b, 4 * p.size);
    ck_assert_uint_eq(p.nfree, 0);
    bufpool_put(&p, NULL, 0); /* a no-op */
    ck_assert_uint_eq(p.nfree, 0);
}
END_TEST

START_TEST(test_bufpool_rounds_a_tiny_size_up_to_hold_its_link)
{
    struct bufpool tiny;
    void *b;

    bufpool_init(&tiny, 1, 4);
    ck_assert_uint_ge(tiny.size, sizeof(void *));
    b = bufpool_get(&tiny);
    bufpool_put(&tiny, b, tiny.size);
    ck_assert_uint_eq(tiny.nfree, 1);
    bufpool_fini(&tiny);
    ck_assert_uint_eq(tiny.nfree, 0);
}
END_TEST

static Suite *bufpool_suite(void)
{
    Suite *s = suite_create("bufpool");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bufpool_get_gives_a_writable_block_of_the_pool_size);
    tcase_add_test(tc, test_bufpool_lends_the_last_returned_block_first);
    tcase_add_test(tc, test_bufpool_keeps_at_most_max_free_spares);
    tcase_add_test(tc, test_bufpool_frees_a_block_that_grew_instead_of_keeping_it);
    tcase_add_test(tc, test_bufpool_rounds_a_tiny_size_up_to_hold_its_link);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bufpool_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
