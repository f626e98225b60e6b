/*
 * ae: anti-entropy. Replicas find and repair the keys on which they
 * differ, in the background, whatever made them differ (a write that
 * missed an owner that was paused or cut off, a restart that emptied one,
 * hints that were dropped).
 *
 * Each node keeps, for every other node, a hash tree of the key states
 * both own (aetree.h, kept up to date on every change). Once per
 * -o ae_interval_ms it takes the next other node of the ring that is up
 * and compares their trees over the cluster port (nng, sealed with the
 * cluster key like gossip; messages proto/aemsg.h):
 *
 *   ROOTS     my root and 64 segment hashes  -> the segments that differ,
 *             with the answerer's 64 leaf hashes of each
 *   KEYS      my key states (key, version, tombstone) in the leaves that
 *             differ -> the answerer's newer states (values included),
 *             and the keys it wants from me
 *   PUSH      those states -> how many were applied
 *
 * Either side applies what it receives with store_apply(): the newest
 * version wins, tombstones included, so a delete is never undone by a
 * stale copy (as long as the copies meet within -o tombstone_ttl). Two
 * nodes in sync exchange one ROOTS and its empty answer per interval.
 *
 * One exchange at a time per node: while its own is under way, a node
 * answers others' ROOTS with AEMSG_BUSY (ae_busy on their side). An
 * exchange covers its pair both ways, so declining loses nothing (each
 * node reaches every other in its own turns), and the keys a restarted
 * node lacks come once, from its own exchange, not also pushed to it by
 * every other node that compares with it meanwhile.
 *
 * Bounds: messages at most AEMSG_MAX_SIZE, and
 * after an exchange that moved B bytes the next waits B / ae_bytes_per_sec
 * seconds more. A node that evicted in the last interval, or that would
 * have less than a tenth of -m free after taking a key, takes no key it
 * does not hold from anti-entropy, only newer versions and deletes of keys
 * it holds, so that repair never churns a full cache; what it lacks is
 * taken once it has room.
 *
 * Threads: one thread of its own runs the exchanges and answers the other
 * nodes' requests, which nng's threads queue for it; the store observer
 * (aetree) runs on whatever thread changes the store. Locks: its own
 * mutex (a leaf) around the queue and the pending answer.
 */
#ifndef MESHCACHED_AE_H
#define MESHCACHED_AE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

struct ae;
struct cluster;
struct gossip;
struct ring_ref;
struct store;

struct ae_config {
    struct store *st;
    struct ring_ref *ring;  /* the published ring */
    const char *self;       /* this node's id */
    unsigned replicas;      /* copies per key: trees only when > 1 */
    uint32_t interval_ms;   /* -o ae_interval_ms (0: no tree exchanges) */
    bool handoff;           /* -o handoff: move items to their new owners */
    struct cluster *cl;     /* told when handoff batches arrive (dual reads) */
    uint32_t bytes_per_sec; /* -o ae_bytes_per_sec */
    uint32_t timeout_ms;    /* how long one request may take */
    const int *verbose;     /* the server's verbosity (atomic), or NULL */
};

/* Creates the trees and starts watching the store (before other threads
 * use it); nothing is sent before ae_start(). Returns 0 or -ENOMEM. */
int ae_new(const struct ae_config *cfg, struct ae **out);

/* Starts the thread on gossip's cluster port (its transport, and the
 * members' cluster addresses) and takes anti-entropy requests there.
 * Returns 0 or -1. */
int ae_start(struct ae *ae, struct gossip *g);

/*
 * Leaving (SIGTERM; the member already announced it): stops the thread,
 * then with -o handoff hands the items this node owns to the nodes that
 * own them once it is gone, and the items it holds without owning them to
 * their owners, for at most timeout_ms (0: nothing), at full speed. The
 * workers must have stopped: a write after the walk of its shard would be
 * lost. NULL is a no-op.
 */
void ae_leave(struct ae *ae, uint32_t timeout_ms);

/* Stops the thread (an ask under way is given up, not waited for) and
 * stops taking requests, before the gossip it uses goes and after the
 * threads that change the store stopped. NULL or a second call: a no-op. */
void ae_stop(struct ae *ae);

/* Frees everything (ae_stop() first, if it was not called), once gossip's
 * transport closed: an ask given up is still called back until then.
 * NULL is a no-op. */
void ae_free(struct ae *ae);

/* Appends the anti-entropy lines of `stats cluster`. Any thread. */
void ae_stats(struct ae *ae, struct buf *out);

#endif
