/* check_util: the strict number parsers shared by flags and protocol, which
 * must accept and refuse exactly what memcached's safe_strto* do. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* Parse a NUL-terminated literal with its full length. */
#define U64(s, out)  util_parse_u64((s), strlen(s), (out))
#define I64(s, out)  util_parse_i64((s), strlen(s), (out))
#define U32(s, out)  util_parse_u32((s), strlen(s), (out))
#define I32(s, out)  util_parse_i32((s), strlen(s), (out))
#define SIZE(s, out) util_parse_size((s), strlen(s), (out))

START_TEST(test_util_u64_parses_zero_and_the_maximum)
{
    uint64_t v = 7;

    ck_assert(U64("0", &v));
    ck_assert_uint_eq(v, 0);
    ck_assert(U64("18446744073709551615", &v));
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert(U64("000000000000000000000000042", &v));
    ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(test_util_u64_refuses_overflow_and_leaves_out_untouched)
{
    uint64_t v = 1234;

    ck_assert(!U64("18446744073709551616", &v));
    ck_assert(!U64("99999999999999999999", &v));
    ck_assert(!U64("184467440737095516150", &v));
    ck_assert_uint_eq(v, 1234);
}
END_TEST

START_TEST(test_util_u64_refuses_negative_numbers)
{
    uint64_t v = 5;

    ck_assert(!U64("-1", &v));
    ck_assert(!U64("-18446744073709551615", &v));
    ck_assert(!U64(" -7", &v));
    ck_assert_uint_eq(v, 5);
}
END_TEST

START_TEST(test_util_u64_accepts_a_plus_sign_like_strtoull)
{
    uint64_t v = 0;

    ck_assert(U64("+12", &v));
    ck_assert_uint_eq(v, 12);
    ck_assert(!U64("+", &v));
    ck_assert(!U64("++1", &v));
    ck_assert(!U64("+-1", &v));
}
END_TEST

START_TEST(test_util_parsers_refuse_empty_and_blank_input)
{
    uint64_t u = 9;
    int64_t i = 9;

    ck_assert(!util_parse_u64("", 0, &u));
    ck_assert(!util_parse_i64("", 0, &i));
    ck_assert(!U64(" ", &u));
    ck_assert(!U64("\t\r\n", &u));
    ck_assert(!I64("  ", &i));
    ck_assert(!I64("-", &i));
    ck_assert_uint_eq(u, 9);
    ck_assert_int_eq(i, 9);
}
END_TEST

START_TEST(test_util_parsers_refuse_trailing_garbage)
{
    uint64_t u = 3;
    int64_t i = 3;
    uint32_t u32 = 3;
    int32_t i32 = 3;

    ck_assert(!U64("12a", &u));
    ck_assert(!U64("0x10", &u));
    ck_assert(!U64("1.5", &u));
    ck_assert(!U64("abc", &u));
    ck_assert(!I64("-12a", &i));
    ck_assert(!U32("7k", &u32));
    ck_assert(!I32("1e3", &i32));
    ck_assert_uint_eq(u, 3);
    ck_assert_int_eq(i, 3);
    ck_assert_uint_eq(u32, 3);
    ck_assert_int_eq(i32, 3);
}
END_TEST

/* memcached's safe_strtoull: white space ends the number and whatever
 * follows it is ignored ("5\r\n" in a counter, "5 junk"). */
START_TEST(test_util_parsers_accept_whitespace_after_the_number_and_ignore_the_rest)
{
    uint64_t u = 0;
    int64_t i = 0;

    ck_assert(U64("12 ", &u));
    ck_assert_uint_eq(u, 12);
    ck_assert(U64("13\r\n", &u));
    ck_assert_uint_eq(u, 13);
    ck_assert(U64("14\tx", &u));
    ck_assert_uint_eq(u, 14);
    ck_assert(U64("15 junk", &u));
    ck_assert_uint_eq(u, 15);
    ck_assert(I64("-16 ", &i));
    ck_assert_int_eq(i, -16);
}
END_TEST

START_TEST(test_util_parsers_skip_leading_whitespace)
{
    uint64_t u = 0;
    int64_t i = 0;

    ck_assert(U64("  7", &u));
    ck_assert_uint_eq(u, 7);
    ck_assert(I64("\t-8", &i));
    ck_assert_int_eq(i, -8);
}
END_TEST

START_TEST(test_util_parsers_stop_at_the_given_length)
{
    uint64_t u = 0;
    int64_t i = 0;
    uint32_t u32 = 0;
    int32_t i32 = 0;
    const char digits[] = "123456789";

    ck_assert(util_parse_u64(digits, 3, &u));
    ck_assert_uint_eq(u, 123);
    ck_assert(util_parse_i64("-42xyz", 3, &i));
    ck_assert_int_eq(i, -42);
    ck_assert(util_parse_u32(digits, 1, &u32));
    ck_assert_uint_eq(u32, 1);
    ck_assert(util_parse_i32("99999", 2, &i32));
    ck_assert_int_eq(i32, 99);
    /* not NUL-terminated at all: the length is the only limit */
    char raw[4] = {'4', '0', '9', '6'};
    ck_assert(util_parse_u64(raw, sizeof(raw), &u));
    ck_assert_uint_eq(u, 4096);
}
END_TEST

START_TEST(test_util_i64_accepts_both_extremes_and_refuses_beyond)
{
    int64_t v = 1;

    ck_assert(I64("9223372036854775807", &v));
    ck_assert_int_eq(v, INT64_MAX);
    ck_assert(I64("-9223372036854775808", &v));
    ck_assert_int_eq(v, INT64_MIN);
    v = 1;
    ck_assert(!I64("9223372036854775808", &v));
    ck_assert(!I64("-9223372036854775809", &v));
    ck_assert(!I64("18446744073709551615", &v));
    ck_assert_int_eq(v, 1);
    ck_assert(I64("-0", &v));
    ck_assert_int_eq(v, 0);
    ck_assert(I64("+3", &v));
    ck_assert_int_eq(v, 3);
}
END_TEST

START_TEST(test_util_u32_accepts_its_range_and_refuses_beyond)
{
    uint32_t v = 1;

    ck_assert(U32("4294967295", &v));
    ck_assert_uint_eq(v, UINT32_MAX);
    ck_assert(U32("0", &v));
    ck_assert_uint_eq(v, 0);
    v = 1;
    ck_assert(!U32("4294967296", &v));
    ck_assert(!U32("18446744073709551616", &v));
    ck_assert(!U32("-1", &v));
    ck_assert_uint_eq(v, 1);
}
END_TEST

START_TEST(test_util_i32_accepts_its_range_and_refuses_beyond)
{
    int32_t v = 1;

    ck_assert(I32("2147483647", &v));
    ck_assert_int_eq(v, INT32_MAX);
    ck_assert(I32("-2147483648", &v));
    ck_assert_int_eq(v, INT32_MIN);
    ck_assert(I32("-1", &v));
    ck_assert_int_eq(v, -1);
    v = 1;
    ck_assert(!I32("2147483648", &v));
    ck_assert(!I32("-2147483649", &v));
    ck_assert(!I32("4294967295", &v));
    ck_assert_int_eq(v, 1);
}
END_TEST

START_TEST(test_util_size_applies_binary_suffixes_in_either_case)
{
    uint64_t v = 0;

    ck_assert(SIZE("512", &v));
    ck_assert_uint_eq(v, 512);
    ck_assert(SIZE("1k", &v));
    ck_assert_uint_eq(v, 1024);
    ck_assert(SIZE("3K", &v));
    ck_assert_uint_eq(v, 3 * 1024);
    ck_assert(SIZE("2m", &v));
    ck_assert_uint_eq(v, 2 * 1024 * 1024);
    ck_assert(SIZE("5M", &v));
    ck_assert_uint_eq(v, 5 * 1024 * 1024);
    ck_assert(SIZE("1g", &v));
    ck_assert_uint_eq(v, 1024ULL * 1024 * 1024);
    ck_assert(SIZE("4G", &v));
    ck_assert_uint_eq(v, 4ULL * 1024 * 1024 * 1024);
    ck_assert(SIZE("0k", &v));
    ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(test_util_size_refuses_bad_suffixes_and_bare_suffixes)
{
    uint64_t v = 77;

    ck_assert(!SIZE("", &v));
    ck_assert(!SIZE("k", &v));
    ck_assert(!SIZE("m", &v));
    ck_assert(!SIZE("1x", &v));
    ck_assert(!SIZE("1kb", &v));
    ck_assert(!SIZE("1t", &v));
    ck_assert(!SIZE("k1", &v));
    ck_assert(!SIZE("-1k", &v));
    ck_assert(!SIZE("1.5m", &v));
    ck_assert_uint_eq(v, 77);
}
END_TEST

START_TEST(test_util_size_refuses_a_product_that_overflows)
{
    uint64_t v = 77;

    /* 2^34 g = 2^64 */
    ck_assert(!SIZE("17179869184g", &v));
    ck_assert(!SIZE("18014398509481984k", &v));
    ck_assert(!SIZE("18446744073709551616", &v));
    ck_assert_uint_eq(v, 77);
    /* the largest that fits */
    ck_assert(SIZE("17179869183g", &v));
    ck_assert_uint_eq(v, 17179869183ULL << 30);
}
END_TEST

START_TEST(test_util_u64_to_str_formats_decimal_and_terminates)
{
    char buf[32];

    memset(buf, 'x', sizeof(buf));
    ck_assert_uint_eq(util_u64_to_str(0, buf), 1);
    ck_assert_str_eq(buf, "0");
    ck_assert_uint_eq(util_u64_to_str(7, buf), 1);
    ck_assert_str_eq(buf, "7");
    ck_assert_uint_eq(util_u64_to_str(10, buf), 2);
    ck_assert_str_eq(buf, "10");
    ck_assert_uint_eq(util_u64_to_str(1234567890, buf), 10);
    ck_assert_str_eq(buf, "1234567890");
    memset(buf, 'x', sizeof(buf));
    ck_assert_uint_eq(util_u64_to_str(UINT64_MAX, buf), 20);
    ck_assert_str_eq(buf, "18446744073709551615");
    /* it writes exactly 21 bytes at most */
    ck_assert_int_eq(buf[21], 'x');
}
END_TEST

START_TEST(test_util_u64_to_str_round_trips_through_the_parser)
{
    char buf[21];
    uint64_t v = 1, back = 0;

    /* powers of 3 and their neighbours cover every digit count */
    for (int i = 0; i < 41; i++, v *= 3) {
        for (uint64_t d = 0; d < 3; d++) {
            uint64_t x = v - 1 + d;
            size_t n = util_u64_to_str(x, buf);
            ck_assert(util_parse_u64(buf, n, &back));
            ck_assert_uint_eq(back, x);
        }
    }
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, test_util_u64_parses_zero_and_the_maximum);
    tcase_add_test(tc, test_util_u64_refuses_overflow_and_leaves_out_untouched);
    tcase_add_test(tc, test_util_u64_refuses_negative_numbers);
    tcase_add_test(tc, test_util_u64_accepts_a_plus_sign_like_strtoull);
    tcase_add_test(tc, test_util_parsers_refuse_empty_and_blank_input);
    tcase_add_test(tc, test_util_parsers_refuse_trailing_garbage);
    tcase_add_test(
        tc, test_util_parsers_accept_whitespace_after_the_number_and_ignore_the_rest);
    tcase_add_test(tc, test_util_parsers_skip_leading_whitespace);
    tcase_add_test(tc, test_util_parsers_stop_at_the_given_length);
    tcase_add_test(tc, test_util_i64_accepts_both_extremes_and_refuses_beyond);
    tcase_add_test(tc, test_util_u32_accepts_its_range_and_refuses_beyond);
    tcase_add_test(tc, test_util_i32_accepts_its_range_and_refuses_beyond);
    tcase_add_test(tc, test_util_size_applies_binary_suffixes_in_either_case);
    tcase_add_test(tc, test_util_size_refuses_bad_suffixes_and_bare_suffixes);
    tcase_add_test(tc, test_util_size_refuses_a_product_that_overflows);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_util_u64_to_str_formats_decimal_and_terminates);
    tcase_add_test(tc, test_util_u64_to_str_round_trips_through_the_parser);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(util_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
