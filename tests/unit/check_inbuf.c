/* check_inbuf: the socket input buffer: compaction before growth, doubling
 * when full, shrinking back once drained, and nothing lost on the way. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/inbuf.h"

static struct inbuf b;

static void setup(void)
{
    ck_assert_int_eq(inbuf_init(&b, 8), 0);
}

static void teardown(void)
{
    inbuf_free(&b);
}

/* Simulates a read of n bytes of text at the end. */
static void fill(const char *text)
{
    size_t n = strlen(text);

    ck_assert_uint_le(b.end + n, b.size);
    memcpy(b.data + b.end, text, n);
    b.end += n;
}

START_TEST(test_inbuf_init_is_empty_with_the_size_asked)
{
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(b.size, 8);
    ck_assert_uint_eq(b.start, 0);
    ck_assert_uint_eq(b.end, 0);
}
END_TEST

START_TEST(test_inbuf_make_room_does_nothing_while_there_is_room)
{
    fill("abc");
    ck_assert_int_eq(inbuf_make_room(&b), 0);
    ck_assert_uint_eq(b.size, 8);
    ck_assert_uint_eq(b.end, 3);
}
END_TEST

START_TEST(test_inbuf_make_room_moves_unconsumed_bytes_to_the_front_first)
{
    fill("abcdefgh");
    b.start = 5;
    ck_assert_int_eq(inbuf_make_room(&b), 0);
    ck_assert_uint_eq(b.size, 8);
    ck_assert_uint_eq(b.start, 0);
    ck_assert_uint_eq(b.end, 3);
    ck_assert_int_eq(memcmp(b.data, "fgh", 3), 0);
}
END_TEST

START_TEST(test_inbuf_make_room_doubles_a_full_buffer_keeping_its_bytes)
{
    fill("abcdefgh");
    ck_assert_int_eq(inbuf_make_room(&b), 0);
    ck_assert_uint_eq(b.size, 16);
    ck_assert_uint_eq(b.end, 8);
    ck_assert_int_eq(memcmp(b.data, "abcdefgh", 8), 0);
    fill("ijklmnop");
    ck_assert_int_eq(inbuf_make_room(&b), 0);
    ck_assert_uint_eq(b.size, 32);
    ck_assert_int_eq(memcmp(b.data, "abcdefghijklmnop", 16), 0);
}
END_TEST

START_TEST(test_inbuf_rewind_shrinks_a_grown_buffer_only_once_drained)
{
    fill("abcdefgh");
    inbuf_make_room(&b);
    fill("ijklmnop");
    inbuf_make_room(&b);
    ck_assert_uint_eq(b.size, 32);
    b.start = 10;
    inbuf_rewind(&b, 8, 16); /* bytes remain: untouched */
    ck_assert_uint_eq(b.size, 32);
    ck_assert_uint_eq(b.start, 10);
    b.start = b.end;
    inbuf_rewind(&b, 8, 16);
    ck_assert_uint_eq(b.size, 8);
    ck_assert_uint_eq(b.start, 0);
    ck_assert_uint_eq(b.end, 0);
}
END_TEST

START_TEST(test_inbuf_rewind_keeps_a_buffer_within_keep_max)
{
    fill("abcdefgh");
    inbuf_make_room(&b);
    b.start = b.end;
    inbuf_rewind(&b, 8, 16);
    ck_assert_uint_eq(b.size, 16);
    ck_assert_uint_eq(b.end, 0);
}
END_TEST

START_TEST(test_inbuf_detach_gives_the_buffer_back_only_once_drained)
{
    char *block;
    size_t size = 0;

    fill("abc");
    ck_assert_ptr_null(inbuf_detach(&b, &size)); /* unconsumed bytes */
    b.start = b.end;
    block = inbuf_detach(&b, &size);
    ck_assert_ptr_nonnull(block);
    ck_assert_uint_eq(size, 8);
    ck_assert_ptr_null(b.data);
    ck_assert_ptr_null(inbuf_detach(&b, &size)); /* nothing left to give */
    inbuf_attach(&b, block, size);
    ck_assert_ptr_eq(b.data, block);
    ck_assert_uint_eq(b.end, 0);
    fill("defgh"); /* usable again */
    ck_assert_int_eq(memcmp(b.data, "defgh", 5), 0);
}
END_TEST

static Suite *inbuf_suite(void)
{
    Suite *s = suite_create("inbuf");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_inbuf_init_is_empty_with_the_size_asked);
    tcase_add_test(tc, test_inbuf_make_room_does_nothing_while_there_is_room);
    tcase_add_test(tc, test_inbuf_make_room_moves_unconsumed_bytes_to_the_front_first);
    tcase_add_test(tc, test_inbuf_make_room_doubles_a_full_buffer_keeping_its_bytes);
    tcase_add_test(tc, test_inbuf_rewind_shrinks_a_grown_buffer_only_once_drained);
    tcase_add_test(tc, test_inbuf_rewind_keeps_a_buffer_within_keep_max);
    tcase_add_test(tc, test_inbuf_detach_gives_the_buffer_back_only_once_drained);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(inbuf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
