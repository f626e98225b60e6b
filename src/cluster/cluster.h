/*
 * cluster: this node's view of the cluster (the members, their states and
 * ids) and the ring built from the members that are in it.
 *
 * Two sources of membership, chosen by the settings:
 *
 * Static (--peers): members are this node (slot 0) and the --peers entries
 * that are not this node (slots 1..). The pinger (pinger.h), which sits
 * above this module and is started by main, pings them and reports what it
 * learns through cluster_member_hello() (a member's id, from its answer to
 * our hello: --peers lists addresses, not ids) and
 * cluster_member_reachable(). A member starts dead.
 *
 * Gossip (--join, --cluster-port): cluster_start() starts the gossip module,
 * which reports every member it learns of and every change of state (alive,
 * suspect, dead, left, forgotten) through the listener cluster.c gives it
 * (struct gossip_listener); members get slots in the order they are
 * learned, up to CLUSTER_MAX_MEMBERS, and keep them. Changes to the ring
 * are batched: gossip asks for one build per burst of changes (a cluster
 * forming, several nodes failing at once) instead of one per change, and
 * out of the gossip lock (a build takes tens of milliseconds for tens of
 * nodes).
 *
 * Either way, every change of the set of members in the ring (alive, and
 * with gossip suspect too) builds a new ring of them (epoch + 1) and
 * publishes it; workers read it without locks through cluster_ring_ref().
 *
 * Threads: the member table is written by the pinger or gossip thread and
 * read by any thread under the cluster's mutex (a leaf lock but for the
 * gossip lock, which is taken before it; taken only on cold paths:
 * connecting, refusing a hello, error replies, `stats cluster`).
 */
#ifndef MESHCACHED_CLUSTER_H
#define MESHCACHED_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/settings.h"
#include "cluster/ring.h"

#define CLUSTER_SELF 0 /* this node's member slot */

struct server;
struct cluster;

/*
 * Builds the member table from srv->settings (resolving every --peers
 * address) and publishes a ring of this node alone. Starts nothing.
 * Returns 0, or -1 after printing why to stderr.
 */
int cluster_new(struct server *srv, struct cluster **out);

/* Gossip mode: starts gossip (after any fork), which opens the cluster
 * port. With static --peers there is nothing to start here (main starts
 * the pinger) and it returns 0. Returns 0 or -1 (after printing why). */
int cluster_start(struct cluster *cl);

/* Stops gossip (if started) and frees everything; rings that workers still
 * hold stay valid until they release them. A pinger must have been freed
 * before. NULL is a no-op. */
void cluster_free(struct cluster *cl);

/* Gossip membership's driver once cluster_start() ran it, else NULL (its
 * cluster port is shared with anti-entropy). */
struct gossip *cluster_gossip(struct cluster *cl);

/* Where the current ring is published. */
struct ring_ref *cluster_ring_ref(struct cluster *cl);

/* The address of a member's client port. Returns 0, or -ENOENT for a slot
 * that is not a member. Any thread. */
int cluster_member_addr(struct cluster *cl, uint32_t slot, struct sockaddr_storage *sa,
                        socklen_t *len);

/* cluster_member_addr() in the shape of peer.h's peer_addr_fn, for a
 * struct peer_set_config: .addr = cluster_peer_addr, .addr_arg = the
 * cluster. */
int cluster_peer_addr(void *cl, uint32_t member, struct sockaddr_storage *sa,
                      socklen_t *len);

/* peer.h's peer_down_fn, for a struct peer_set_config: .down =
 * cluster_peer_down, .down_arg = the cluster. In gossip mode a connection
 * refused or reset by a member has gossip check at once whether its
 * process is gone (gossip_member_unreachable()); with static membership it
 * does nothing. Any thread. */
void cluster_peer_down(void *cl, uint32_t member, int status);

/* Copies a member's id, or its address while its id is unknown, into
 * buf (cap > 0 bytes, NUL-terminated, truncated to fit). Any thread. */
void cluster_member_name(struct cluster *cl, uint32_t slot, char *buf, size_t cap);

/* True when id is the id this node last learned for the member (a worker's
 * check of a member's hello). Any thread. */
bool cluster_member_is(struct cluster *cl, uint32_t slot, const char *id);

/* One member as cluster_members() reports it (the admin port's view). */
struct cluster_member_info {
    char id[SETTINGS_MAX_ID_LEN + 1];   /* "" while unknown (static --peers) */
    char addr[SETTINGS_MAX_ID_LEN + 8]; /* its client port, "host:port" */
    uint32_t slot;                      /* for cluster_member_addr() */
    bool self;                          /* this node */
    const char *state;    /* "alive", "suspect", "dead" or "left" (static) */
    uint64_t incarnation; /* gossip: its own version of itself; else 0 */
    uint64_t heard_ms;    /* wall-clock ms of the last news of it this node
                           * had (a gossip update, a ping answered); 0: none */
};

/* Copies up to max members (neither aliases nor forgotten ones) into out,
 * in slot order, this node first. Returns how many. Any thread (takes the
 * cluster's mutex). */
size_t cluster_members(struct cluster *cl, struct cluster_member_info *out, size_t max);

/* Appends the `stats cluster` lines, without the final "END". Any thread. */
void cluster_stats(struct cluster *cl, struct buf *out);

/* ---- static membership: what the pinger learns (pinger thread) ---- */

/* Member slots in use (this node's included): 0..count-1. Fixed once
 * cluster_new() returns with static membership. */
uint32_t cluster_member_count(struct cluster *cl);

/* True when the member turned out to be this node under another address:
 * there is no point in pinging it. */
bool cluster_member_alias(struct cluster *cl, uint32_t slot);

/* A member answered our hello with its id and vnodes: learns its id (and
 * rebuilds the ring if an alive member changed id). Returns false, and the
 * connection should be refused, for this node under another address (then
 * an alias), a member whose --vnodes differ from ours (its ring would not
 * match), or an id too long. */
bool cluster_member_hello(struct cluster *cl, uint32_t slot, const char *id,
                          unsigned vnodes);

/* A member answered our pings (alive) or stopped answering them (dead):
 * rebuilds the ring when its state changes. Ignored for an alias and for a
 * member whose id is not known yet. */
void cluster_member_reachable(struct cluster *cl, uint32_t slot, bool reachable);

/* Gossip mode: tells the other members this node is leaving (SIGTERM), for
 * a short bounded time. A no-op with static membership. */
void cluster_leave(struct cluster *cl);

/*
 * Range streaming: whether a read that misses here should look for its key
 * on the nodes that may still hold it (dual read, proxy.h). True, in gossip
 * mode, for CLUSTER_RECEIVE_MS after the ring changed (a member joined,
 * came back or went: this node may have gained ranges whose items are
 * still on their previous holders, which hand them off within that time or
 * start to), and for CLUSTER_HANDOFF_IDLE_MS after the last handoff batch
 * arrived here. Any thread, no lock: one atomic load and the clock.
 */
#define CLUSTER_RECEIVE_MS      3000
#define CLUSTER_HANDOFF_IDLE_MS 2000
bool cluster_receiving(struct cluster *cl);

/* Ends the receiving window now (a test that builds the ring by hand and
 * wants no dual read; a node that knows its handoff is complete). */
void cluster_receiving_end(struct cluster *cl);

/* Anti-entropy's handoff: a batch of another node's items arrived here. */
void cluster_note_handoff(struct cluster *cl);

struct gossip_listener;

/* Fills in *l with the listener through which gossip reports membership
 * to this view (cluster_start() hands it to gossip; a test may drive the
 * view through it without any gossip running). */
void cluster_gossip_listener(struct cluster *cl, struct gossip_listener *l);

#endif
