/*
 * fetch: asks other members for keys' states ("rg") over a worker's
 * connections for replica traffic, and keeps the newest here. It serves
 * replication (repl.h: quorum reads, read repair, and the connections its
 * "rs" writes go over) and, with any number of copies, dual reads: while
 * this node is receiving ranges (cluster_receiving()), a read to be served
 * here whose key holds nothing here is first looked up on the key's
 * possible previous holders, so that a key not yet handed off is not a
 * miss.
 *
 * The connections are the worker's second peer set: members answer rs and
 * rg at once, whereas a forwarded client command may itself wait (for a
 * quorum, or for a dual read), and replies on one connection come in
 * order; sharing the forwarding connections would let two nodes' reads and
 * writes wait for each other. They are opened lazily: with one copy per
 * key and no dual read, none is.
 *
 * Threads: a struct fetch belongs to its worker's proxy and runs on that
 * worker's loop only: no locks besides the store's. It shares the worker's
 * pool of requests and view of the ring.
 */
#ifndef MESHCACHED_FETCH_H
#define MESHCACHED_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "cluster/peer.h"
#include "proto/route.h"
#include "store/store.h"

#define FETCH_KEY_SHIFT   5 /* rg tags: key index << 5 | holder index */
#define FETCH_MAX_HOLDERS (1u << FETCH_KEY_SHIFT)

struct cmd;
struct fetch;
struct fwdreq;
struct fwdreq_pool;
struct fwdreq_queue;
struct peer_set;
struct peer_set_config;
struct ring;
struct ringview;
struct server;
struct thread_stats;

/* One key of a fetch: whom to ask, and what they answered. Written by
 * fetch.c; the op's done callback reads it. */
struct fetch_key {
    uint8_t nkey;
    char key[KEY_MAX_LENGTH];
    uint32_t holders[FETCH_MAX_HOLDERS]; /* member slots to ask, in order */
    size_t nholders, next;               /* next: the next one to ask */
    unsigned need; /* answers wanted: asked at first, and one more holder
                      asked for each that fails */
    unsigned got;  /* answers (a miss included) */
    size_t nseen;  /* who answered what, in arrival order */
    uint32_t seen_slot[FETCH_MAX_HOLDERS];
    uint64_t seen_version[FETCH_MAX_HOLDERS]; /* 0: holds nothing */
    struct store_state best;                  /* the newest answer (version 0: none) */
    struct buf best_value;
};

struct fetch_op;

/* Called once every answer of op is in (or failed); it ends with
 * fetch_op_free(op), or with fetch_run(op). */
typedef void (*fetch_done_fn)(struct fetch_op *op);

/* A fetch of nkeys keys; the keys are filled in by fetch_key_init(). */
struct fetch_op {
    struct fetch *f;
    fetch_done_fn done;
    struct fwdreq *r; /* answered by fetch_run(); NULL when the caller's */
    char *line;       /* the command fetch_run() runs, NUL-ended, or NULL */
    size_t len;       /* its length */
    unsigned outstanding;
    void *priv;   /* the caller's priv bytes (fetch_op_new()) */
    size_t cap;   /* keys[] has room for cap keys */
    size_t nkeys; /* keys[0..nkeys) are in use */
    struct fetch_key keys[];
};

/* Creates a worker's fetcher in *out with its own (lazily connected) peer
 * set made from pc, watched by view; with one copy per key its requests
 * time out after half of pc's timeout (see fetch_dual()). Returns 0 or
 * -ENOMEM. */
int fetch_new(struct server *srv, struct thread_stats *stats, struct fwdreq_pool *pool,
              struct ringview *view, const struct peer_set_config *pc,
              struct fetch **out);

/* Sends nothing more, and closes the connections: what is outstanding is
 * answered (-ECANCELED) now. Before the users' state goes. NULL: no-op. */
void fetch_stop(struct fetch *f);

/* Frees the fetcher (after fetch_stop()). NULL is a no-op. */
void fetch_free(struct fetch *f);

/* peer_request() on the fetcher's connections, the bytes being enc's;
 * -ECANCELED once stopping. */
int fetch_send(struct fetch *f, uint32_t slot, const struct buf *enc,
               enum peer_reply_kind kind, peer_done_fn fn, void *arg, uint32_t tag);

/* The command context that runs reads after their fetch (as from a peer:
 * served here, never forwarded). */
struct cmd *fetch_cmd(struct fetch *f);

/* A new op of nkeys keys with priv bytes for the caller (op->priv), and a
 * copy of line[0..len) when line is not NULL. NULL when out of memory. */
struct fetch_op *fetch_op_new(struct fetch *f, size_t nkeys, const char *line, size_t len,
                              size_t priv, fetch_done_fn done);

void fetch_op_free(struct fetch_op *op);

/* Names k's key (copied); holders and need are the caller's to fill in. */
void fetch_key_init(struct fetch_key *k, const char *key, size_t nkey);

/* Asks each key's first need holders; op->done runs once all answered,
 * perhaps before this returns (nothing to ask). */
void fetch_start(struct fetch_op *op);

/* Applies k's newest answer here (store_apply_state: kept only when newer
 * than what the key holds). Returns whether it was kept. */
bool fetch_take(struct fetch *f, const struct fetch_key *k);

/* Adds a key to op (at op->nkeys, or not at all): what fetch_line() does
 * with each key of a line. */
typedef void (*fetch_add_fn)(struct fetch_op *op, const char *key, size_t nkey,
                             void *arg);

/*
 * A read that waits for a fetch: calls add(op, key, nkey, arg) for each key
 * of rr (op->line's, at most op->cap), starts op and returns the new
 * FWDREQ_SYNC request for q whose reply op->done gives (fetch_run(), or an
 * error). op may be NULL (out of memory); NULL, op freed, when out of
 * memory.
 */
struct fwdreq *fetch_line(struct fetch_op *op, struct fwdreq_queue *q,
                          const struct route_req *rr, fetch_add_fn add, void *arg);

/* Runs op->line into op->r's reply through fetch_cmd(), answers op->r and
 * frees op. */
void fetch_run(struct fetch_op *op);

/* ---- dual reads ---- */

/*
 * The members that may hold a key this node serves while ranges move: the
 * live nodes among the first replicas + 1 owners of hv in r other than this
 * node (the key's co-owners, and the node after its owners, where a joining
 * or returning node's keys were: a node inserted on the ring pushes the
 * last owner one place out). Stores their member slots in out (room for
 * max) and returns how many. Pure.
 */
size_t fetch_holders(const struct ring *r, uint32_t hv, unsigned replicas, uint32_t *out,
                     size_t max);

/* Whether key holds nothing here, neither an item nor a tombstone. */
bool fetch_missing(struct fetch *f, const char *key, size_t nkey);

/* Whether the read rr (a key read or a multi-get, on line[0..len)) names a
 * key that holds nothing here (a tombstone counts as held). */
bool fetch_dual_wanted(struct fetch *f, const char *line, size_t len,
                       const struct route_req *rr);

/*
 * A dual read: asks every holder (fetch_holders()) of each key of rr that
 * holds nothing here for its state, within -o peer_timeout_ms, or half of
 * it with one copy per key (a forwarder then waits peer_timeout_ms for this
 * node's answer; with copies it waits twice as long), keeps the newest here, then runs
 * the line (copied) into the returned request's reply. Holders that fail or time out are
 * passed over. Counts dual_reads (when any holder was asked) and dual_read_hits (copies
 * kept). NULL when out of memory.
 */
struct fwdreq *fetch_dual(struct fetch *f, struct fwdreq_queue *q, const char *line,
                          size_t len, const struct route_req *rr);

/* The same for keys[0..n) (copied; the local part of a multi-get that
 * spans several nodes), then done(arg, NULL) on this worker, perhaps
 * before this returns. Returns 0, or -ENOMEM (done is then never called). */
int fetch_dual_keys(struct fetch *f, const char *const *keys, const size_t *nkeys,
                    size_t n, void (*done)(void *arg, const char *err), void *arg);

#endif
