/*
 * proxy: the client side of forwarding, and the one face of the cluster
 * layer that a connection talks to. Decides, per command line, whether
 * this node serves it or its keys' owners do, sends it to them over the
 * worker's peer connections, and builds the client's reply from theirs:
 * byte for byte for a single owner, reassembled in the client's key order
 * for a multi-get that spans several owners. With replication it hands
 * writes and quorum reads to repl.
 *
 * A struct proxy belongs to one worker thread (its peer connections, its
 * view of the ring, its pool of requests). Every command that waits for
 * other members is a struct fwdreq (fwdreq.h) that the connection pushes
 * onto its struct fwdreq_queue; the queue's ready callback tells the
 * connection when one is complete. A connection that closes detaches its
 * queue; its requests are freed when their last answer arrives.
 */
#ifndef MESHCACHED_PROXY_H
#define MESHCACHED_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "cluster/fwdreq.h"
#include "proto/route.h"

struct server;
struct cmd;
struct event_base;
struct thread_stats;
struct proxy;

/* What proxy_route() decided for a line. */
enum proxy_decision {
    PROXY_LOCAL,     /* serve it here */
    PROXY_FORWARD,   /* one remote owner: send the line (and data) as is */
    PROXY_FANOUT,    /* a multi-get over several owners, this node perhaps one */
    PROXY_BROADCAST, /* flush_all: here and on every other member */
    PROXY_SYNC,      /* a read served here once R-1 other owners answered,
                        or (dual read) once its keys' holders did */
    PROXY_PREFETCH,  /* a write here on a key that may still be elsewhere:
                        proxy_prefetch(), then route the line again */
};

/* The worker's proxy, or NULL when the node is not in a cluster. Returns 0
 * or -ENOMEM. */
int proxy_new(struct server *srv, struct event_base *base, struct thread_stats *stats,
              struct proxy **out);

/* Whether keys have several copies (--replicas > 1). */
bool proxy_replicates(const struct proxy *px);

/* Whether a line from a peer must go through proxy_route(): with several
 * copies per key (quorum reads, writes' copies), and while this node
 * receives ranges (dual reads). One atomic load with one copy per key. */
bool proxy_routes_peer_lines(struct proxy *px);

/* Fails everything outstanding and frees the proxy. NULL is a no-op. */
void proxy_free(struct proxy *px);

/*
 * Classifies the line (into *rr) and looks up its owner(s) in the current
 * ring. PROXY_FORWARD sets *owner (a member slot). Cheap when the result is
 * PROXY_LOCAL for a command without keys. A line from a peer (from_peer) is
 * never forwarded: it is PROXY_LOCAL or, for a read under a read quorum,
 * PROXY_SYNC. A read served here is PROXY_SYNC too, a dual read, when this
 * node is receiving ranges (cluster_receiving()) and one of its keys holds
 * nothing here (no item, no tombstone): its previous holders may still
 * have it.
 */
enum proxy_decision proxy_route(struct proxy *px, const char *line, size_t len,
                                bool from_peer, struct route_req *rr, uint32_t *owner);

/*
 * Sends a PROXY_FORWARD command: raw[0..nraw) is the client's line with its
 * line ending and, for storage commands, the whole data block. Returns a new
 * request for queue q (already complete, holding an error, when the owner
 * cannot be reached at once), or NULL when out of memory. Under replication
 * a write is a FWDREQ_WRITE.
 */
struct fwdreq *proxy_forward(struct proxy *px, struct fwdreq_queue *q,
                             const struct route_req *rr, uint32_t owner, const char *raw,
                             size_t nraw);

/*
 * Sends a PROXY_FANOUT multi-get: its keys' share owned here is looked up at
 * once through cmd (into the request; first synced under a read quorum, or
 * dual read while receiving ranges), the rest is asked of the owners. The
 * line is copied. Returns a new request, or NULL when out of memory.
 */
struct fwdreq *proxy_fanout(struct proxy *px, struct fwdreq_queue *q, struct cmd *cmd,
                            const char *line, size_t len, const struct route_req *rr);

/*
 * Runs a PROXY_BROADCAST command (flush_all) here through cmd, and when it
 * succeeds sends raw[0..nraw) (the line with its line ending) to every other
 * member of the ring: a client that talks to one node flushes the cache it
 * sees, which is all of them. The reply is this node's unless a member fails
 * or answers otherwise, then that member's error. Returns a new request, or
 * NULL when out of memory.
 */
struct fwdreq *proxy_broadcast(struct proxy *px, struct fwdreq_queue *q, struct cmd *cmd,
                               const char *line, size_t len, const char *raw,
                               size_t nraw);

/*
 * A PROXY_SYNC read (rr from proxy_route): brought up to date from R-1
 * other owners, then run (the line is copied) into the returned request's
 * reply, a FWDREQ_SYNC; or the reply is the read quorum error. Without a
 * read quorum it is a dual read (fetch.h: fetch_dual()): no quorum, no
 * error. NULL when out of memory.
 */
struct fwdreq *proxy_sync(struct proxy *px, struct fwdreq_queue *q, const char *line,
                          size_t len, const struct route_req *rr);

/*
 * A PROXY_PREFETCH write (rr from proxy_route()): while ranges move, a
 * write here on a key that holds nothing here may find its current value
 * (for append, incr, add, cas, delete ...) still on the node that held it:
 * its state is fetched as a dual read would and kept here. The returned
 * request (a FWDREQ_WRITE, so that the connection holds the line behind
 * it) completes with an empty reply once it is; the connection then routes
 * the line again and runs it (once: it must not ask twice). NULL when out
 * of memory.
 */
struct fwdreq *proxy_prefetch(struct proxy *px, struct fwdreq_queue *q,
                              const struct route_req *rr);

/*
 * After a command run here changed a key (cmd->wrote): copies the key's
 * state to its other owners. The command's reply is out[mark..]: when the
 * client must wait for the write quorum it is moved into the returned
 * request; NULL when the reply may go at once (or without replication).
 * noreply: the client reads no reply, so no quorum error is sent either.
 */
struct fwdreq *proxy_wrote(struct proxy *px, struct fwdreq_queue *q,
                           const struct cmd *cmd, struct buf *out, size_t mark,
                           bool noreply);

/*
 * Before a read runs here (rr from proxy_route, which said PROXY_LOCAL):
 * with replication and R = 1, each key it names (one for mg, every key of a
 * get/gets/gat/gats line[0..len)) is checked against its other owners in
 * the background with probability read_repair_chance (read repair). The
 * check sends nothing before this loop pass ends and never delays the
 * read's reply; other commands are ignored.
 */
void proxy_read(struct proxy *px, const char *line, size_t len,
                const struct route_req *rr);

#endif
