/* check_base64: the codec behind meta commands' binary keys (b flag). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *plain;
    const char *encoded;
} rfc4648[] = {
    {"f", "Zg=="},        {"fo", "Zm8="},        {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

START_TEST(test_base64_encodes_the_rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char out[16];
        size_t n = base64_encode(rfc4648[i].plain, strlen(rfc4648[i].plain), out);
        ck_assert_uint_eq(n, strlen(rfc4648[i].encoded));
        ck_assert_uint_eq(n, base64_encoded_len(strlen(rfc4648[i].plain)));
        ck_assert_mem_eq(out, rfc4648[i].encoded, n);
    }
}
END_TEST

START_TEST(test_base64_decodes_the_rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char out[16];
        size_t n = base64_decode(rfc4648[i].encoded, strlen(rfc4648[i].encoded), out);
        ck_assert_uint_eq(n, strlen(rfc4648[i].plain));
        ck_assert_mem_eq(out, rfc4648[i].plain, n);
    }
}
END_TEST

START_TEST(test_base64_encoded_len_rounds_up_to_whole_quads)
{
    ck_assert_uint_eq(base64_encoded_len(0), 0);
    ck_assert_uint_eq(base64_encoded_len(1), 4);
    ck_assert_uint_eq(base64_encoded_len(2), 4);
    ck_assert_uint_eq(base64_encoded_len(3), 4);
    ck_assert_uint_eq(base64_encoded_len(4), 8);
    ck_assert_uint_eq(base64_encoded_len(250), 336);
}
END_TEST

START_TEST(test_base64_round_trips_every_byte_value_at_every_length)
{
    unsigned char plain[300];
    char enc[400], dec[300];
    uint32_t x = 12345;

    for (size_t len = 1; len <= sizeof(plain); len++) {
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            plain[i] = (unsigned char)(x >> 16);
        }
        size_t n = base64_encode((const char *)plain, len, enc);
        ck_assert_uint_eq(n, base64_encoded_len(len));
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(enc[i] != '\0' && enc[i] != ' ' && enc[i] != '\r',
                          "encoded output must be printable");
        size_t m = base64_decode(enc, n, dec);
        ck_assert_uint_eq(m, len);
        ck_assert_mem_eq(dec, plain, len);
    }
}
END_TEST

START_TEST(test_base64_round_trips_all_256_byte_values)
{
    char plain[256], enc[344], dec[256];

    for (int i = 0; i < 256; i++)
        plain[i] = (char)i;
    size_t n = base64_encode(plain, sizeof(plain), enc);
    ck_assert_uint_eq(n, 344);
    ck_assert_uint_eq(base64_decode(enc, n, dec), 256);
    ck_assert_mem_eq(dec, plain, 256);
}
END_TEST

START_TEST(test_base64_decodes_in_place)
{
    char buf[] = "Zm9vYmFy";
    char bin[] = "AAECAwQF/w==";

    ck_assert_uint_eq(base64_decode(buf, 8, buf), 6);
    ck_assert_mem_eq(buf, "foobar", 6);
    ck_assert_uint_eq(base64_decode(bin, 12, bin), 7);
    ck_assert_mem_eq(bin, "\x00\x01\x02\x03\x04\x05\xff", 7);
}
END_TEST

START_TEST(test_base64_decode_refuses_lengths_that_are_not_whole_quads)
{
    char out[16];

    ck_assert_uint_eq(base64_decode("", 0, out), 0);
    ck_assert_uint_eq(base64_decode("Z", 1, out), 0);
    ck_assert_uint_eq(base64_decode("Zm", 2, out), 0);
    ck_assert_uint_eq(base64_decode("Zm9", 3, out), 0);
    ck_assert_uint_eq(base64_decode("Zm9vY", 5, out), 0);
    /* unpadded forms are not accepted */
    ck_assert_uint_eq(base64_decode("Zg", 2, out), 0);
}
END_TEST

START_TEST(test_base64_decode_refuses_characters_outside_the_alphabet)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"Zm9!", 4}, {"Zm 9", 4},     {"Zm9\n", 4},        {"Zm-v", 4},
        {"Zm_v", 4}, {"Zm9v Zg=", 8}, {"Zm9v\0\0\0\0", 8}, {"\xff\xfe\xfd\xfc", 4},
    };
    char out[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(base64_decode(bad[i].s, bad[i].n, out) == 0, "accepted case %zu",
                      i);
}
END_TEST

START_TEST(test_base64_decode_refuses_misplaced_padding)
{
    char out[16];

    ck_assert_uint_eq(base64_decode("====", 4, out), 0);
    ck_assert_uint_eq(base64_decode("Z===", 4, out), 0);
    ck_assert_uint_eq(base64_decode("=m9v", 4, out), 0);
    /* padding is only allowed at the very end */
    ck_assert_uint_eq(base64_decode("Zg==Zm9v", 8, out), 0);
    ck_assert_uint_eq(base64_decode("Zm8=Zm9v", 8, out), 0);
    /* data after padding inside the last quad */
    ck_assert_uint_eq(base64_decode("Zg=v", 4, out), 0);
}
END_TEST

static Suite *base64_suite(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_base64_encodes_the_rfc4648_vectors);
    tcase_add_test(tc, test_base64_decodes_the_rfc4648_vectors);
    tcase_add_test(tc, test_base64_encoded_len_rounds_up_to_whole_quads);
    tcase_add_test(tc, test_base64_round_trips_every_byte_value_at_every_length);
    tcase_add_test(tc, test_base64_round_trips_all_256_byte_values);
    tcase_add_test(tc, test_base64_decodes_in_place);
    suite_add_tcase(s, tc);

    tc = tcase_create("invalid");
    tcase_add_test(tc, test_base64_decode_refuses_lengths_that_are_not_whole_quads);
    tcase_add_test(tc, test_base64_decode_refuses_characters_outside_the_alphabet);
    tcase_add_test(tc, test_base64_decode_refuses_misplaced_padding);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(base64_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
