/*
 * proxy_internal: what the forwarding (proxy.c) and replication (repl.c)
 * halves of a worker's proxy share. Not for other modules.
 */
#ifndef MESHCACHED_PROXY_INTERNAL_H
#define MESHCACHED_PROXY_INTERNAL_H

#include "base/buf.h"
#include "cluster/proxy.h"
#include "cluster/ring.h"

struct repl;

struct proxy {
    struct server *srv;
    struct cluster *cl;
    struct peer_set *peers;
    struct ring_cache rc;
    const struct ring *ring; /* from the last proxy_ring(), until the next */
    uint64_t epoch;          /* of the ring last seen */
    struct thread_stats *stats;
    struct buf scratch;      /* builds per-owner get lines */
    struct proxy_req *spare; /* finished requests kept for reuse */
    unsigned nspare;
    struct repl *repl; /* replication; NULL with one copy per key */
};

/* The current ring (also left in px->ring); when it changed, members that
 * came back get a fresh connection attempt at once instead of waiting out
 * their backoff. */
const struct ring *proxy_ring(struct proxy *px);

/* A fresh request for conn (reused from the spares when there is one), or
 * NULL when out of memory. */
struct proxy_req *proxy_req_new(struct proxy *px, struct conn *conn);

/* One answer less: tells the connection when none is left, or frees the
 * request when its connection is gone. */
void proxy_req_answered(struct proxy_req *r);

#endif
