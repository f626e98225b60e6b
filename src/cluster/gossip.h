/*
 * gossip: SWIM membership over nng. The only user of nng in the daemon.
 *
 * Transport: nng's req/rep protocol over TCP on the cluster port. Every
 * SWIM exchange is a request and its answer (PING/ACK, PING_REQ/ACK or
 * NACK, SYNC/SYNC_ACK), which is exactly what req/rep gives, with the
 * answer matched to its request by nng; a rep socket with several contexts
 * serves requests concurrently (a PING_REQ holds its context until its own
 * probe of the target ends), and one req socket per remote member, each
 * request on its own context with an aio timeout, addresses one node (a req
 * socket with several peers would spread requests over them). nng 1.5 has
 * no UDP transport; over TCP a probe of a dead node fails at its timeout
 * like a lost datagram would, and a live node's connection is reused.
 *
 * Threads: nng calls our aio callbacks on its own threads; they and the
 * gossip thread (which runs the protocol period) take one mutex around the
 * state machine (swim.c), so SWIM's logic runs single-threaded. Callbacks
 * never block and never close nng objects; finished requests are freed by
 * the gossip thread. Lock order: the gossip lock, then the cluster lock
 * (membership changes are pushed into cluster.c, which builds the ring).
 *
 * Every message is a gmsg, followed by an HMAC-SHA256 (libsodium) of it
 * when --cluster-key is set; a message that does not decode, or whose MAC
 * is missing or wrong, is dropped and counted, never answered.
 */
#ifndef MESHCACHED_GOSSIP_H
#define MESHCACHED_GOSSIP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

struct server;
struct gossip;

/* What gossip tells the layer above (the member view). */
struct gossip_listener {
    /* A member's record changed (this node's included): its id, client
     * address ("host:port", numeric), state (a gmsg_state, or 0 once it is
     * forgotten) and incarnation. Called under the gossip lock: must not
     * call into gossip. Returns true when the change needs a commit(). */
    bool (*update)(void *arg, const char *id, const char *addr, int state,
                   uint64_t incarnation);
    /* Applies what update() asked for (the member view builds its ring).
     * Called by the gossip thread without the gossip lock, at most once per
     * 100 ms: a burst of changes (a cluster forming, several nodes failing)
     * costs one commit, not one each. */
    void (*commit)(void *arg);
    void *arg;
};

/*
 * Opens the cluster port and reads the cluster key (if any); reports this
 * node to l at once. Does not start the thread. Returns 0, or -1 after
 * printing why to stderr.
 */
int gossip_new(struct server *srv, const struct gossip_listener *l, struct gossip **out);

/* Starts the protocol: joins through the seeds, then probes every period.
 * Returns 0 or -1. */
int gossip_start(struct gossip *g);

/* Tells the other members this node leaves (state left), waiting a short
 * bounded time for them to hear it. For a graceful shutdown. */
void gossip_leave(struct gossip *g);

/* Stops the thread, closes the sockets and frees everything. NULL is a
 * no-op. */
void gossip_free(struct gossip *g);

/* Appends the gossip counters as `stats cluster` lines. Any thread. */
void gossip_stats(struct gossip *g, struct buf *out);

#endif
