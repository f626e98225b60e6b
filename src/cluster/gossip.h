/*
 * gossip: the SWIM driver. Runs swim.c's state machine over a transport:
 * the protocol period (one probe per period, indirect probes through
 * helpers when the target does not answer, push/pull now and then),
 * joining through seeds, leaving, and serving the other members' requests.
 *
 * Every SWIM exchange is a request and its answer (PING/ACK, PING_REQ/ACK
 * or NACK, SYNC/SYNC_ACK) of gmsg messages; a message that does not decode
 * is dropped and counted, never answered.
 *
 * Below it: a transport, reached only through struct gossip_transport (the
 * daemon's is transport.c over nng, plugged in by gossip_new(); a test
 * plugs an in-memory one into gossip_new_on()), and a clock function.
 * Above it: the member view, told of every change through struct
 * gossip_listener. gossip knows neither by name.
 *
 * Threads: gossip_start() runs the period on a thread of its own; the
 * transport delivers answers and requests on its threads. One mutex (the
 * gossip lock) is held around swim.c, so SWIM's logic runs single-threaded.
 * Lock order: the gossip lock, then the listener's (update() is called
 * under the gossip lock), then the transport's. Without gossip_start()
 * nothing runs by itself: a test calls gossip_step() as its clock moves.
 */
#ifndef MESHCACHED_GOSSIP_H
#define MESHCACHED_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "cluster/transport.h"

#define GOSSIP_COMMIT_EVERY_MS 100 /* the listener commits at most this often */

struct server;
struct gossip;
struct transport_counters;

/* What the driver tells the layer above. */
struct gossip_listener {
    /* A member's record changed (this node's included): its id, client
     * address ("host:port", numeric), state (a gmsg_state, or 0 once it is
     * forgotten) and incarnation. Called under the gossip lock: must not
     * call into gossip. Returns true when the change needs a commit(). */
    bool (*update)(void *arg, const char *id, const char *addr, int state,
                   uint64_t incarnation);
    /* Applies what update() asked for (the member view builds its ring).
     * Called by the stepping thread without the gossip lock, at most once
     * per GOSSIP_COMMIT_EVERY_MS: a burst of changes (a cluster forming,
     * several nodes failing) costs one commit, not one each. */
    void (*commit)(void *arg);
    void *arg;
};

/* The end of a reachability check, as reach.h's reach_done_fn: 0 (the port
 * accepted a connection), -ECONNREFUSED (nothing listens: the member's
 * process is gone), or another negative errno (no answer). */
typedef void (*gossip_reach_fn)(void *arg, int status);

/* The end of a request, as transport_done_fn (transport.h) describes it:
 * status 0 with the answer msg[0..len), or a negative errno. */
typedef void (*gossip_done_fn)(void *arg, int status, const char *msg, size_t len);

/*
 * What the driver needs from a transport. request() and answer() are
 * called with the gossip lock held: neither may call back into the driver
 * from inside.
 */
struct gossip_transport {
    /* Sends msg[0..len) (copied) as a request to gaddr, a cluster address
     * ("host:port"). Returns 0 when done(done_arg, ...) will be called
     * exactly once, later and from outside this call; -1 (or any error)
     * when it will not. */
    int (*request)(void *arg, const char *gaddr, const char *msg, size_t len,
                   uint32_t timeout_ms, gossip_done_fn done, void *done_arg);
    /* Answers the request that gossip_serve() was handed as served with
     * msg[0..len) (copied), or drops it when msg is NULL. */
    void (*answer)(void *arg, void *served, const char *msg, size_t len);
    /* Frees what finished requests left behind; called by the gossip
     * thread without the lock. May be NULL. */
    void (*reap)(void *arg);
    /* The wire's counters for `stats cluster`. May be NULL (all zero). */
    void (*counters)(void *arg, struct transport_counters *c);
    /* Starts a reachability check of gaddr (a TCP connect to it, as
     * reach.h's), ending by timeout_ms after now (the driver's clock).
     * Returns 0 when done(done_arg, ...) will be called exactly once, by a
     * later reach_poll() or at close; -1 otherwise. May be NULL: then
     * suspicions rest on probes alone. Called with the gossip lock held. */
    int (*reach)(void *arg, const char *gaddr, uint64_t now, uint32_t timeout_ms,
                 gossip_reach_fn done, void *done_arg);
    /* Ends the checks that finished by now, calling their done functions
     * from inside (the gossip lock held); returns how many are pending. */
    size_t (*reach_poll)(void *arg, uint64_t now);
    /* Ends every pending check (done is called, with the gossip lock held,
     * an error status) and frees what reach() needs. Called once, by
     * gossip_free(). May be NULL. */
    void (*reach_close)(void *arg);
    void *reach_arg;
    /* Called by gossip_free(), without the lock, after the thread stopped:
     * ends every outstanding request (its done function runs, with an
     * error) and delivers nothing after it returns. May be NULL. */
    void (*close)(void *arg);
    void *arg;
};

/* Who this node is and how it gossips. Strings are copied. */
struct gossip_config {
    const char *id;                /* this node's id */
    const char *addr;              /* its client address, "host:port" */
    const char *gaddr;             /* its cluster address, "host:port" */
    uint64_t incarnation;          /* above any it can have had before */
    uint32_t interval_ms;          /* the protocol period */
    const char *const *seeds;      /* cluster addresses to join through */
    size_t nseeds;                 /* (this node's own is skipped) */
    bool resolve_seeds;            /* a seed that is a name joins through
                                      all its addresses (seeds.h), looked
                                      up again while no member is known */
    uint64_t seed;                 /* for swim's random choices */
    uint64_t (*now_ms)(void *arg); /* a monotonic clock; NULL: the system's */
    void *now_arg;
    const int *verbose; /* read atomically: > 0 logs changes; NULL: quiet */
};

/*
 * The daemon's driver: this node as srv->settings describe it, with the
 * nng transport on the cluster port (--cluster-key read and applied) and
 * the monotonic clock. Reports this node to l at once. Does not start the
 * thread. Returns 0, or -1 after printing why to stderr.
 */
int gossip_new(struct server *srv, const struct gossip_listener *l, struct gossip **out);

/*
 * A driver on any transport and clock (a test's). The transport must not
 * deliver before this returns. Reports this node to l at once. Returns 0,
 * -EINVAL for an id or address gmsg cannot carry, or -ENOMEM.
 */
int gossip_new_on(const struct gossip_config *cfg, const struct gossip_transport *tp,
                  const struct gossip_listener *l, struct gossip **out);

/* Starts the protocol on its own thread: joins through the seeds, then
 * probes every period. Returns 0 or -1. */
int gossip_start(struct gossip *g);

/*
 * Does what is due by the clock: ends the period (the unanswered target
 * becomes suspect, suspicions time out), starts the next (a probe, a
 * push/pull), sends indirect probes when the direct one timed out, and
 * commits changes to the listener. Returns the clock time by which it
 * should run again. The thread of gossip_start() calls it; a test calls it
 * instead, from one thread.
 */
uint64_t gossip_step(struct gossip *g);

/* A request arrived from another member: msg[0..len), valid during the
 * call. Answers it through the transport's answer(served, ...), at once or
 * (PING_REQ) when its own probe ends. Called by the transport. */
void gossip_serve(struct gossip *g, void *served, const char *msg, size_t len);

/*
 * The data plane's news: a connection to the member with id (to its client
 * port) was refused or reset. Checks at once whether its cluster port
 * still accepts connections: refused there too is hard evidence (swim.h);
 * no answer at all makes it suspect; accepted (it closed an idle
 * connection, it restarted) changes nothing. Any thread (takes the gossip
 * lock); cheap to call often: a member is checked at most once per probe
 * timeout.
 */
void gossip_member_unreachable(struct gossip *g, const char *id);

/* Tells the other members this node leaves (state left). A started driver
 * then waits a short bounded time for them to hear it (a graceful
 * shutdown); one driven by gossip_step() returns at once. NULL is a no-op. */
void gossip_leave(struct gossip *g);

/* Stops the thread, closes the transport and frees everything. NULL is a
 * no-op. */
void gossip_free(struct gossip *g);

/* ---- sharing the cluster port (anti-entropy) ---- */

/* Requests on the cluster port whose body starts with magic (3 bytes, not
 * gossip's "MCg") go to serve(arg, ...) instead of gossip, on nng's
 * threads; serve answers each with transport_answer() on gossip_wire().
 * Once only, at any time: until then such requests reach gossip, which
 * drops them as undecodable. */
void gossip_share_port(struct gossip *g, const char magic[3], transport_serve_fn serve,
                       void *arg);

/* The cluster port's transport (gossip_new()'s), for requests of the port's
 * other users; NULL for a driver on a test's transport. */
struct transport *gossip_wire(struct gossip *g);

/* Undoes gossip_share_port(): once it returns, serve is not running and
 * will not be called again (its requests go to gossip, which drops them).
 * Any thread but nng's; NULL is a no-op. */
void gossip_unshare_port(struct gossip *g);

/* Copies the cluster address ("host:port") of the member with id into buf
 * (cap bytes). Returns false when gossip does not know the member. Any
 * thread (takes the gossip lock). */
bool gossip_gaddr(struct gossip *g, const char *id, char *buf, size_t cap);

/* Appends the gossip counters as `stats cluster` lines. Any thread. */
void gossip_stats(struct gossip *g, struct buf *out);

#endif
