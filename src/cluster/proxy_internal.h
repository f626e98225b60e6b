/*
 * proxy_internal: what the files of the proxy module share (proxy.c, and
 * proxy_get.c: single-key gets, collapsed and served from the near cache).
 * Not for other modules.
 */
#ifndef MESHCACHED_PROXY_INTERNAL_H
#define MESHCACHED_PROXY_INTERNAL_H

#include "cluster/proxy.h"
#include "cluster/ringview.h"

struct collapse;
struct hot;

struct proxy {
    struct server *srv;
    struct cluster *cl;
    struct peer_set *peers;
    struct ringview view;
    const struct ring *ring; /* from the last proxy_ring(), until the next */
    struct thread_stats *stats;
    struct buf scratch;        /* builds per-owner get lines */
    struct fwdreq_pool pool;   /* requests, reused */
    struct fetch *fetch;       /* rg and rs: quorum reads, dual reads, copies */
    struct repl *repl;         /* replication; NULL with one copy per key */
    struct hot *hot;           /* the node's hot-key state; NULL in unit tests */
    struct collapse *collapse; /* gets in flight, to join */
    unsigned sample_tick;      /* client lines since the last sampled one */
};

/* Makes r's reply the error for a member that failed with status (once:
 * nothing when r already failed), and counts it. */
void proxy_fail_with(struct proxy *px, struct fwdreq *r, uint32_t member, int status);

/* An owner's answer to a forwarded command, relayed as it is (for a quiet
 * command, without the MN of the appended mn), and r answered. */
void proxy_relay(struct fwdreq *r, const char *reply, size_t len);

/* The current ring, also left in px->ring until the next call. */
const struct ring *proxy_ring(struct proxy *px);

/* How long a forwarded command may take. */
uint32_t proxy_forward_timeout(const struct proxy *px);

/*
 * proxy_get.c: a single-key get or gets (rr from proxy_route(), which said
 * PROXY_FORWARD to owner) for queue q: answered from the near cache when
 * the key is hot and held there, else joined to the same get in flight to
 * that owner, else sent (and, for a hot key, its answer kept in the near
 * cache). NULL when out of memory.
 */
struct fwdreq *proxy_get(struct proxy *px, struct fwdreq_queue *q,
                         const struct route_req *rr, uint32_t owner, const char *raw,
                         size_t nraw);

/* A client's keyed line (rr from route_classify()): one in
 * HOT_SAMPLE_EVERY has its keys sampled into the hot-key sketch. */
void proxy_sample(struct proxy *px, const char *line, size_t len,
                  const struct route_req *rr);

/* After a write to the key ran here: when another node keeps a near copy
 * of it (rh marked it), every other live member is told (ri), without
 * waiting for their answers. */
void proxy_near_announce(struct proxy *px, const char *key, size_t nkey, uint32_t hash);

/* Whether proxy_get() takes this forwarded line: get or gets of one key. */
bool proxy_get_wanted(const struct route_req *rr);

#endif
