/*
 * peerauth: the challenge-response that turns a connection on the client
 * port into a peer connection when the cluster has a key (--cluster-key).
 *
 *   client: peer <client-id> <vnodes> <cn>          cn: its nonce, hex
 *   server: PEER <server-id> <vnodes> <sn> <smac>   sn: its nonce, hex
 *   client: peerauth <cmac>                         no answer when good
 *
 * smac = MAC(k, 'S', ids, cn, sn) proves the key to the client, cmac =
 * MAC(k, 'C', ids, cn, sn) to the server; a nonce of each side's per
 * connection means neither proof can be replayed on another connection.
 * MAC is HMAC-SHA512-256 (libsodium's crypto_auth) over a fixed label, the
 * role, both ids (length-prefixed: the client's, then the server's) and
 * both nonces, with a key derived from the cluster key for this use alone
 * (keyed BLAKE2b of a label), so that a peer proof is never a valid MAC of
 * a gossip or anti-entropy message.
 *
 * Pure but for peerauth_nonce() (the system's random source); any thread.
 */
#ifndef MESHCACHED_PEERAUTH_H
#define MESHCACHED_PEERAUTH_H

#include <stdbool.h>
#include <stddef.h>

#define PEERAUTH_KEY    32
#define PEERAUTH_NONCE  16
#define PEERAUTH_MAC    32
#define PEERAUTH_MAX_ID 255

/* The peer-auth key of a cluster key (itself PEERAUTH_KEY bytes). */
void peerauth_key(unsigned char out[PEERAUTH_KEY],
                  const unsigned char cluster_key[PEERAUTH_KEY]);

/* A fresh nonce. */
void peerauth_nonce(unsigned char out[PEERAUTH_NONCE]);

/* The proof of role 'S' (server) or 'C' (client) for one handshake. Ids
 * longer than PEERAUTH_MAX_ID are cut there. */
void peerauth_mac(const unsigned char key[PEERAUTH_KEY], char role, const char *client_id,
                  const char *server_id, const unsigned char cn[PEERAUTH_NONCE],
                  const unsigned char sn[PEERAUTH_NONCE],
                  unsigned char mac[PEERAUTH_MAC]);

/* Whether a and b (PEERAUTH_MAC bytes) are equal, in constant time. */
bool peerauth_equal(const unsigned char *a, const unsigned char *b);

/* Lower-case hex of in[0..n) into out (2n + 1 bytes, NUL-terminated). */
void peerauth_tohex(const unsigned char *in, size_t n, char *out);

/* Parses exactly 2n hex digits hex[0..len) into out[0..n). */
bool peerauth_fromhex(const char *hex, size_t len, unsigned char *out, size_t n);

#endif
