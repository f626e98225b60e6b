/*
 * transport: gossip's wire. Requests and their answers between cluster
 * ports over nng's req/rep protocol on TCP, every message sealed with an
 * HMAC-SHA256 (libsodium) of the cluster key when one is set. The only
 * user of nng in the daemon; it knows nothing of what the messages say.
 *
 * Why req/rep: every SWIM exchange is a request and its answer, which is
 * what req/rep gives, with the answer matched to its request by nng. A rep
 * socket with TRANSPORT_SERVE_CTXS contexts serves requests concurrently
 * (a request may be held while its server asks someone else), and one req
 * socket per remote address, each request on its own context with an aio
 * timeout and resends off, addresses one node (a req socket with several
 * peers would spread requests over them). nng 1.5 has no UDP transport;
 * over TCP a request to a dead node fails at its timeout as a lost
 * datagram would, and a live node's connection is reused.
 *
 * Threads: nng runs our aio callbacks on its own threads; they call the
 * serve and done functions given here, never with the transport's lock
 * held, so those may take their own lock and call back into the transport
 * (lock order: the caller's lock, then the transport's). Callbacks never
 * block and never close nng objects: finished requests wait on a list for
 * transport_reap(), which a thread of the caller's runs without locks.
 *
 * Ownership: message bytes handed to the transport are copied; bytes
 * handed out are valid only during the call that hands them out.
 */
#ifndef MESHCACHED_TRANSPORT_H
#define MESHCACHED_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRANSPORT_KEY_LEN    32 /* an HMAC-SHA256 key */
#define TRANSPORT_MAC_LEN    32 /* what a sealed message carries after its body */
#define TRANSPORT_SERVE_CTXS 16 /* requests served at once */

struct transport;
struct transport_served; /* one request being served; opaque */

/* The cluster key, or none (set false: messages go unsealed). */
struct transport_key {
    bool set;
    unsigned char k[TRANSPORT_KEY_LEN];
};

struct transport_config {
    const char *listen;              /* "host:port" of this node's cluster port */
    const struct transport_key *key; /* NULL: no key */
    size_t max_msg;                  /* largest body accepted (the MAC comes on top) */
};

/* What the transport counted since it opened. */
struct transport_counters {
    uint64_t msgs_in, msgs_out;   /* messages received and sent, both ways */
    uint64_t bytes_in, bytes_out; /* their sizes, MACs included */
    uint64_t bad_mac;             /* received with a missing or wrong MAC: dropped */
};

/*
 * The end of a request: status 0 with the answer's body msg[0..len), or a
 * negative errno with msg NULL:
 *   -ETIMEDOUT  no answer within the request's timeout;
 *   -EBADMSG    the answer's MAC was missing or wrong (counted in bad_mac);
 *   -ECANCELED  the transport is closing;
 *   -EIO        anything else (not sent, connection lost).
 */
typedef void (*transport_done_fn)(void *arg, int status, const char *msg, size_t len);

/* A request arrived and its MAC checked out: body msg[0..len). The callee
 * answers it exactly once with transport_answer(), now or later. */
typedef void (*transport_serve_fn)(void *arg, struct transport_served *s, const char *msg,
                                   size_t len);

/* ---- sealing: pure, any thread ---- */

/* Turns a secret of any length into a key (a BLAKE2b hash of it). */
void transport_key_derive(struct transport_key *key, const void *secret, size_t len);

/* Reads the secret of --cluster-key from path into a key. Returns 0, or -1
 * after printing why to stderr. */
int transport_key_read(const char *path, struct transport_key *key);

/* Wipes a key from memory. */
void transport_key_clear(struct transport_key *key);

/* Writes the MAC of body[0..len) into mac (TRANSPORT_MAC_LEN bytes).
 * Returns how many bytes to append: TRANSPORT_MAC_LEN, or 0 without a key. */
size_t transport_seal(const struct transport_key *key, const void *body, size_t len,
                      unsigned char *mac);

/* Checks a received message msg[0..len) (body then MAC). Returns 0 with
 * *body_len set to the body's length, or -EBADMSG when the MAC is missing
 * or wrong. Without a key the whole message is the body. */
int transport_open(const struct transport_key *key, const void *msg, size_t len,
                   size_t *body_len);

/* ---- the nng transport ---- */

/* Opens the cluster port (listening, with receives bounded by max_msg) but
 * serves nothing before transport_start(). Returns 0, or -1 after printing
 * why to stderr. */
int transport_new(const struct transport_config *cfg, struct transport **out);

/* Starts serving: every request that arrives goes to serve(arg, ...). */
void transport_start(struct transport *t, transport_serve_fn serve, void *arg);

/*
 * Sends msg[0..len) as a request to addr ("host:port" of a cluster port),
 * connecting on first use. On success fn(arg, ...) is called exactly once,
 * later, on an nng thread (never from inside this call), and 0 is
 * returned; on failure fn is never called and the result is -ENOMEM,
 * -ECANCELED (closing) or -EIO (the address cannot be dialled).
 */
int transport_request(struct transport *t, const char *addr, const char *msg, size_t len,
                      uint32_t timeout_ms, transport_done_fn fn, void *arg);

/* Answers a served request with msg[0..len), or drops it when msg is NULL
 * or len is 0 (its requester then times out). Ignored while closing. */
void transport_answer(struct transport *t, struct transport_served *s, const char *msg,
                      size_t len);

/* Frees what finished requests left behind. Call from a thread of the
 * caller's, holding no lock a callback may take (freeing an aio waits for
 * its callback). */
void transport_reap(struct transport *t);

/* A snapshot of the counters. Any thread. */
void transport_counters(struct transport *t, struct transport_counters *c);

/*
 * Closes everything: stops serving (answers given after this are
 * ignored), ends every outstanding request with -ECANCELED, and closes the
 * cluster port, waiting a bounded time for nng (see transport.c). Nothing
 * is called back once it returns. Must not be called from a callback or
 * with a lock a callback takes. NULL is a no-op.
 */
void transport_free(struct transport *t);

#endif
