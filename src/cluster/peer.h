/*
 * peer: one thread's persistent, pipelined connections to the other members
 * of the cluster, speaking the memcached protocol.
 *
 * A struct peer_set belongs to one thread and its event_base (a worker, or
 * the pinger's thread) and is used from that thread only: no locks. It
 * holds at most one connection per member, opened lazily by the first
 * request, introduced with "peer <our-id> <vnodes>" (after which the
 * member serves everything on it locally, never forwarding it again), and
 * reconnected after a failure with capped exponential backoff. Requests are
 * written back to back without waiting for replies, batched into one write
 * per loop pass, and replies are matched to requests in order.
 *
 * Every accepted request is answered exactly once through its callback, on
 * the set's thread and never from inside peer_request(): with the framed
 * reply, or with a failure when the member cannot be reached, the reply
 * does not arrive within the timeout, or the reply cannot be framed. A
 * failure closes the connection and fails every request queued on it: after
 * a lost or late reply nothing later on that stream can be trusted.
 */
#ifndef MESHCACHED_PEER_H
#define MESHCACHED_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "proto/peer_reply.h"

struct event_base;
struct peer_set;

/*
 * The answer to one request. status 0: reply[0..len) is the whole framed
 * reply (valid only during the call), and error tells whether it ended with
 * an error line. Otherwise status is a negative errno, reply is NULL:
 *   -ETIMEDOUT   no reply within the timeout;
 *   -ECONNRESET  the connection failed (refused, reset, closed, refused our
 *                hello) before the reply arrived;
 *   -EPROTO      the member's bytes could not be framed as a reply;
 *   -ECANCELED   the set is being freed.
 */
typedef void (*peer_done_fn)(void *arg, uint32_t tag, int status, bool error,
                             const char *reply, size_t len);

/* Decides whether a member's answer to our hello is acceptable: its id and
 * vnodes as it states them. Returning false fails the connection. */
typedef bool (*peer_hello_fn)(void *arg, uint32_t member, const char *id,
                              unsigned vnodes);

/* Where a member's client port is, asked each time a connection to it
 * opens (a member may move). Returns 0 with *sa and *len filled, or a
 * negative errno: the request that needed the connection then fails with
 * -EAGAIN. Called on the set's thread. */
typedef int (*peer_addr_fn)(void *arg, uint32_t member, struct sockaddr_storage *sa,
                            socklen_t *len);

/* The member's side refused or dropped a connection: status -ECONNREFUSED
 * (connecting was refused) or -ECONNRESET (reset, or closed by the
 * member). Evidence that its process may be gone, for the membership
 * layer; timeouts, protocol errors and refused hellos are not reported.
 * Called on the set's thread, after the connection's requests failed. */
typedef void (*peer_down_fn)(void *arg, uint32_t member, int status);

struct peer_set_config {
    struct event_base *base; /* the owning thread's loop */
    const char *self_id;     /* sent in our hello */
    unsigned vnodes;         /* sent in our hello */
    uint32_t timeout_ms;     /* per request, from when it is queued */
    size_t max_value;        /* longest data block accepted in a reply */
    peer_hello_fn hello;     /* may be NULL: accept any member */
    void *hello_arg;
    peer_addr_fn addr; /* member addresses; required */
    void *addr_arg;
    /* with a cluster key: the peer-auth key (proto/peerauth.h); the hello
     * then carries a nonce, the answer's proof is checked, and requests go
     * only after our own proof. NULL: the plain hello. */
    const unsigned char *auth_key;
    bool tls;          /* -Z: members' client ports speak TLS (base/tls.h) */
    peer_down_fn down; /* may be NULL: nobody is told */
    void *down_arg;
};

/* Creates an empty set (no connection is opened until a request needs one).
 * Returns 0 or -ENOMEM. */
int peer_set_new(const struct peer_set_config *cfg, struct peer_set **out);

/* Fails every outstanding request with -ECANCELED, closes every connection
 * and frees the set. NULL is a no-op. */
void peer_set_free(struct peer_set *ps);

/*
 * Queues a request for member (a cluster member slot): the bytes of
 * iov[0..iovcnt) are copied, so the caller's buffers may go away at once,
 * and are written with the next batch. kind says how the reply is framed.
 * On success fn(arg, tag, ...) will be called exactly once, later, and 0 is
 * returned. On failure fn is never called and the result is:
 *   -EAGAIN   the member failed recently and its backoff has not run out,
 *             or connecting failed at once;
 *   -ENOBUFS  too many requests or bytes already queued for the member;
 *   -ENOMEM   out of memory.
 */
int peer_request(struct peer_set *ps, uint32_t member, const struct iovec *iov,
                 int iovcnt, enum peer_reply_kind kind, peer_done_fn fn, void *arg,
                 uint32_t tag);

/* The same with its own timeout instead of the set's. Replies come in
 * order, so a request behind one with a later deadline may wait for that
 * one's. */
int peer_request_within(struct peer_set *ps, uint32_t member, const struct iovec *iov,
                        int iovcnt, enum peer_reply_kind kind, peer_done_fn fn, void *arg,
                        uint32_t tag, uint32_t timeout_ms);

/* False while the member's connection failed recently and its backoff
 * runs: a request now would fail at once with -EAGAIN. */
bool peer_available(const struct peer_set *ps, uint32_t member);

/* Forgets a member's backoff, so that the next request connects at once
 * (called when the membership view learns the member is alive again). */
void peer_reset_backoff(struct peer_set *ps, uint32_t member);

/* A short, static description of a failure status, for error replies:
 * "timed out", "unreachable", "protocol error". */
const char *peer_strerror(int status);

#endif
