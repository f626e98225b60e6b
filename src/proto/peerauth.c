/*
 * peerauth: the peer handshake's proofs (see peerauth.h).
 */
#include "proto/peerauth.h"

#include <sodium.h>
#include <string.h>

#define LABEL     "meshcached peer auth 1"
#define KEY_LABEL "meshcached peer key 1"

void peerauth_key(unsigned char out[PEERAUTH_KEY],
                  const unsigned char cluster_key[PEERAUTH_KEY])
{
    crypto_generichash(out, PEERAUTH_KEY, (const unsigned char *)KEY_LABEL,
                       sizeof(KEY_LABEL) - 1, cluster_key, PEERAUTH_KEY);
}

void peerauth_nonce(unsigned char out[PEERAUTH_NONCE])
{
    randombytes_buf(out, PEERAUTH_NONCE);
}

static void put_id(crypto_auth_hmacsha512256_state *st, const char *id)
{
    size_t n = strnlen(id, PEERAUTH_MAX_ID);
    unsigned char len = (unsigned char)n;

    crypto_auth_hmacsha512256_update(st, &len, 1);
    crypto_auth_hmacsha512256_update(st, (const unsigned char *)id, n);
}

void peerauth_mac(const unsigned char key[PEERAUTH_KEY], char role, const char *client_id,
                  const char *server_id, const unsigned char cn[PEERAUTH_NONCE],
                  const unsigned char sn[PEERAUTH_NONCE], unsigned char mac[PEERAUTH_MAC])
{
    crypto_auth_hmacsha512256_state st;
    unsigned char r = (unsigned char)role;

    crypto_auth_hmacsha512256_init(&st, key, PEERAUTH_KEY);
    crypto_auth_hmacsha512256_update(&st, (const unsigned char *)LABEL,
                                     sizeof(LABEL) - 1);
    crypto_auth_hmacsha512256_update(&st, &r, 1);
    put_id(&st, client_id);
    put_id(&st, server_id);
    crypto_auth_hmacsha512256_update(&st, cn, PEERAUTH_NONCE);
    crypto_auth_hmacsha512256_update(&st, sn, PEERAUTH_NONCE);
    crypto_auth_hmacsha512256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
}

bool peerauth_equal(const unsigned char *a, const unsigned char *b)
{
    return crypto_verify_32(a, b) == 0;
}

void peerauth_tohex(const unsigned char *in, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

bool peerauth_fromhex(const char *hex, size_t len, unsigned char *out, size_t n)
{
    size_t got = 0;

    if (len != 2 * n)
        return false;
    for (size_t i = 0; i < len; i++) /* sodium_hex2bin would skip ignored chars */
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f') ||
              (hex[i] >= 'A' && hex[i] <= 'F')))
            return false;
    return sodium_hex2bin(out, n, hex, len, NULL, &got, NULL) == 0 && got == n;
}
