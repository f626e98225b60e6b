/*
 * proxy: the client side of forwarding. Decides, per command line, whether
 * this node serves it or its keys' owners do, sends it to them over the
 * worker's peer connections, and builds the client's reply from theirs:
 * byte for byte for a single owner, reassembled in the client's key order
 * for a multi-get that spans several owners.
 *
 * A struct proxy belongs to one worker thread (its peer connections and its
 * cached ring); a struct proxy_req is one forwarded client command. The
 * connection that issued a request keeps it in its queue of replies; when
 * the request is answered, proxy calls conn_proxy_ready() on its
 * connection, which then writes the replies that are ready, in order. A
 * connection that closes with requests outstanding detaches them
 * (proxy_req_detach()); they are freed when their last answer arrives.
 */
#ifndef MESHCACHED_PROXY_H
#define MESHCACHED_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/route.h"

struct server;
struct cmd;
struct conn;
struct event_base;
struct thread_stats;
struct proxy;

struct proxy_req {
    struct proxy *px;       /* the worker's proxy that sent it */
    struct conn *conn;      /* NULL once the client is gone */
    struct proxy_req *next; /* the connection's queue */
    struct buf reply;       /* what the client gets, when complete */
    struct buf after;       /* local replies that follow this one */
    unsigned outstanding;   /* answers still awaited */
    bool noreply;           /* classic noreply: the client reads nothing */
    bool quiet;             /* sent with "mn": strip the owner's MN */
    bool failed;            /* reply holds an error line */
    bool sync;              /* a read waiting for its quorum: the connection
                               runs no local write until it is answered */
    bool fwd_write;         /* a write forwarded to the key's first owner: the
                               connection runs nothing keyed here until it is
                               answered (a read must see the write before it) */
    /* multi-get across several owners */
    struct proxy_multi *multi;
};

/* What proxy_route() decided for a line. */
enum proxy_decision {
    PROXY_LOCAL,     /* serve it here */
    PROXY_FORWARD,   /* one remote owner: send the line (and data) as is */
    PROXY_FANOUT,    /* a multi-get over several owners, this node perhaps one */
    PROXY_BROADCAST, /* flush_all: here and on every other member */
    PROXY_SYNC,      /* a read served here once R-1 other owners answered */
};

/* The worker's proxy, or NULL when the node is not in a cluster. Returns 0
 * or -ENOMEM. */
int proxy_new(struct server *srv, struct event_base *base, struct thread_stats *stats,
              struct proxy **out);

/* Whether keys have several copies (--replicas > 1). */
bool proxy_replicates(const struct proxy *px);

/* Fails everything outstanding and frees the proxy. NULL is a no-op. */
void proxy_free(struct proxy *px);

/*
 * Classifies the line (into *rr) and looks up its owner(s) in the current
 * ring. PROXY_FORWARD sets *owner (a member slot). Cheap when the result is
 * PROXY_LOCAL for a command without keys. A line from a peer (from_peer) is
 * never forwarded: it is PROXY_LOCAL or, for a read under a read quorum,
 * PROXY_SYNC.
 */
enum proxy_decision proxy_route(struct proxy *px, const char *line, size_t len,
                                bool from_peer, struct route_req *rr, uint32_t *owner);

/*
 * Sends a PROXY_FORWARD command: raw[0..nraw) is the client's line with its
 * line ending and, for storage commands, the whole data block. Returns a new
 * request for the connection's queue (already complete, holding an error,
 * when the owner cannot be reached at once), or NULL when out of memory.
 */
struct proxy_req *proxy_forward(struct proxy *px, struct conn *conn,
                                const struct route_req *rr, uint32_t owner,
                                const char *raw, size_t nraw);

/*
 * Sends a PROXY_FANOUT multi-get: its keys' share owned here is looked up at
 * once through cmd (into the request), the rest is asked of the owners. The
 * line is copied. Returns a new request, or NULL when out of memory.
 */
struct proxy_req *proxy_fanout(struct proxy *px, struct conn *conn, struct cmd *cmd,
                               const char *line, size_t len, const struct route_req *rr);

/*
 * Runs a PROXY_BROADCAST command (flush_all) here through cmd, and when it
 * succeeds sends raw[0..nraw) (the line with its line ending) to every other
 * member of the ring: a client that talks to one node flushes the cache it
 * sees, which is all of them. The reply is this node's unless a member fails
 * or answers otherwise, then that member's error. Returns a new request, or
 * NULL when out of memory.
 */
struct proxy_req *proxy_broadcast(struct proxy *px, struct conn *conn, struct cmd *cmd,
                                  const char *line, size_t len, const char *raw,
                                  size_t nraw);

/* True once every answer is in and reply holds what the client gets. */
static inline bool proxy_req_done(const struct proxy_req *r)
{
    return r->outstanding == 0;
}

/* The connection is going away: frees r now when complete, else when its
 * last answer arrives. */
void proxy_req_detach(struct proxy_req *r);

/* Frees a complete request whose reply has been taken. */
void proxy_req_free(struct proxy_req *r);

/* Implemented by conn.c: one of conn's requests is complete. */
void conn_proxy_ready(struct conn *conn);

/* Implemented by conn.c: where r's reply may be written at once (the
 * connection's output, when r is first in its queue), or NULL. */
struct buf *conn_proxy_out(struct conn *conn, const struct proxy_req *r);

#endif
