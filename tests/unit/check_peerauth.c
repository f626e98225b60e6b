/* check_peerauth: the peer handshake's proofs depend on the key, the role,
 * both ids and both nonces; hex is parsed strictly; the peer key is not
 * the cluster key. */
#include <check.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peerauth.h"

static unsigned char key[PEERAUTH_KEY], cn[PEERAUTH_NONCE], sn[PEERAUTH_NONCE];

static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)i;
    memset(cn, 0xc1, sizeof(cn));
    memset(sn, 0x5e, sizeof(sn));
}

START_TEST(test_every_input_changes_the_proof)
{
    unsigned char base[PEERAUTH_MAC], other[PEERAUTH_MAC], k2[PEERAUTH_KEY];
    unsigned char n2[PEERAUTH_NONCE];

    peerauth_mac(key, 'C', "a", "b", cn, sn, base);
    peerauth_mac(key, 'C', "a", "b", cn, sn, other);
    ck_assert(peerauth_equal(base, other)); /* deterministic */
    peerauth_mac(key, 'S', "a", "b", cn, sn, other);
    ck_assert(!peerauth_equal(base, other));
    peerauth_mac(key, 'C', "b", "a", cn, sn, other); /* ids swapped */
    ck_assert(!peerauth_equal(base, other));
    peerauth_mac(key, 'C', "ab", "", cn, sn, other); /* length-prefixed */
    ck_assert(!peerauth_equal(base, other));
    peerauth_mac(key, 'C', "a", "b", sn, cn, other); /* nonces swapped */
    ck_assert(!peerauth_equal(base, other));
    memcpy(n2, sn, sizeof(n2));
    n2[15] ^= 1;
    peerauth_mac(key, 'C', "a", "b", cn, n2, other);
    ck_assert(!peerauth_equal(base, other));
    memcpy(k2, key, sizeof(k2));
    k2[0] ^= 0x80;
    peerauth_mac(k2, 'C', "a", "b", cn, sn, other);
    ck_assert(!peerauth_equal(base, other));
}
END_TEST

START_TEST(test_the_peer_key_is_not_the_cluster_key)
{
    unsigned char pk[PEERAUTH_KEY], pk2[PEERAUTH_KEY];

    peerauth_key(pk, key);
    peerauth_key(pk2, key);
    ck_assert_mem_eq(pk, pk2, sizeof(pk));
    ck_assert(memcmp(pk, key, sizeof(pk)) != 0);
}
END_TEST

START_TEST(test_nonces_differ)
{
    unsigned char a[PEERAUTH_NONCE], b[PEERAUTH_NONCE];

    peerauth_nonce(a);
    peerauth_nonce(b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

START_TEST(test_hex_is_strict)
{
    unsigned char out[4], want[4] = {0xde, 0xad, 0xbe, 0xef};
    char hex[9];

    peerauth_tohex(want, 4, hex);
    ck_assert_str_eq(hex, "deadbeef");
    ck_assert(peerauth_fromhex("deadbeef", 8, out, 4));
    ck_assert_mem_eq(out, want, 4);
    ck_assert(peerauth_fromhex("DEADBEEF", 8, out, 4));
    ck_assert(!peerauth_fromhex("deadbee", 7, out, 4));     /* short */
    ck_assert(!peerauth_fromhex("deadbeef00", 10, out, 4)); /* long */
    ck_assert(!peerauth_fromhex("deadbeeg", 8, out, 4));    /* not hex */
    ck_assert(!peerauth_fromhex("dead:eef", 8, out, 4));    /* an ignorable char */
    ck_assert(!peerauth_fromhex("dead eef", 8, out, 4));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("peerauth");
    TCase *tc = tcase_create("proofs");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_every_input_changes_the_proof);
    tcase_add_test(tc, test_the_peer_key_is_not_the_cluster_key);
    tcase_add_test(tc, test_nonces_differ);
    tcase_add_test(tc, test_hex_is_strict);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
