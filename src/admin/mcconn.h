/*
 * mcconn: an asynchronous memcached text-protocol client on the admin
 * thread's event_base. Requests are pipelined on one connection and
 * answered in order; each completes through its callback with the whole
 * reply, or with an error when the connection fails, times out, or
 * answers more than the reply limit.
 *
 * Two kinds of connection: an internal one to this node, a socketpair whose
 * other end a worker serves exactly like an accepted client (so what the
 * HTTP port does takes the memcached port's routing, replication and
 * quorums), and a TCP one to another member's client port (its `stats`,
 * its keys).
 *
 * Threads: one (the admin thread's); no locks of its own.
 */
#ifndef MESHCACHED_MCCONN_H
#define MESHCACHED_MCCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct mcconn;
struct server;

/* How a reply ends. */
enum mcconn_frame {
    MCCONN_LINE, /* one line ("HD", "EN" ...), or "VA <n> ..." and its n bytes */
    MCCONN_END,  /* lines up to "END" (stats, metadump), or one error line */
};

/* status 0: reply[0..len) is the whole reply (its last "\r\n" included);
 * -1: no reply (connection failed, closed, timed out, reply too long).
 * The reply is valid only during the call. */
typedef void (*mcconn_done_fn)(void *arg, int status, const char *reply, size_t len);

/* A connection to this node: a socketpair whose other end goes to a worker
 * (counted as a client connection). NULL when out of descriptors or
 * memory. */
struct mcconn *mcconn_internal(struct event_base *base, struct server *srv,
                               size_t max_reply, unsigned timeout_ms);

/* A TCP connection to sa (connects in the background). NULL on failure. */
struct mcconn *mcconn_connect(struct event_base *base, const struct sockaddr *sa,
                              socklen_t salen, size_t max_reply, unsigned timeout_ms);

/* Sends req[0..n) (whole commands with their "\r\n" and data blocks);
 * done(arg, ...) runs once the reply is in (never from within this call).
 * Returns 0, or -1 when the connection is broken or out of memory (done is
 * then not called). */
int mcconn_send(struct mcconn *m, const void *req, size_t n, enum mcconn_frame frame,
                mcconn_done_fn done, void *arg);

/* True once the connection failed: open another. */
bool mcconn_broken(const struct mcconn *m);

/* Requests sent and not answered yet. */
size_t mcconn_pending(const struct mcconn *m);

/* Closes the connection; every pending request completes with -1 first.
 * Never from a done callback of m (use mcconn_free_later()). */
void mcconn_free(struct mcconn *m);

/* The same, from anywhere (a done callback of m included): pending
 * requests complete with -1 now, the memory goes on the next loop pass. */
void mcconn_free_later(struct mcconn *m);

#endif
