/*
 * repl: replication, the part of a worker's proxy that keeps N copies of
 * every key on its ring owners.
 *
 * Writes: a command that changed a key here (cmd->wrote) has its result,
 * the key's item or tombstone with its version, sent ("rs") to the key's
 * other live owners; the client's reply waits until W owners (this one
 * included) have it. Owners that are down, or that fail to take it, get a
 * hint: the key, kept here and sent again (its newest state) once the
 * member is alive. Reads under a read quorum R > 1 ask R-1 other owners
 * ("rg") first and serve the newest copy, which is also written back to
 * the owners found stale, an owner without the key included (read repair);
 * with R = 1 a fraction of reads does the same in the background. The
 * worker's read_repairs counts copies repaired: this node's own copy
 * replaced by a newer one, and each repair an owner acknowledged (HD).
 *
 * Both go over the connections of the worker's fetcher (fetch.h), which
 * also asks the owners for their copies (rg) and keeps the newest.
 *
 * Threads: a struct repl belongs to its worker's proxy (which alone calls
 * it) and runs on that worker's loop only (its fetcher's connections, its
 * timer): no locks besides the store's. It shares the worker's pool of
 * requests and view of the ring.
 */
#ifndef MESHCACHED_REPL_H
#define MESHCACHED_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/route.h"

#define REPL_MAX_REPLICAS 16 /* --replicas at most */

struct cmd;
struct event_base;
struct fetch;
struct fwdreq;
struct fwdreq_pool;
struct fwdreq_queue;
struct ringview;
struct server;
struct thread_stats;
struct repl;

/*
 * Creates a worker's replication state in *out, or leaves NULL there when
 * the settings keep one copy per key. It sends over fetch's connections
 * (fetch outlives it) and runs its hint timer on base. Returns 0 or
 * -ENOMEM.
 */
int repl_new(struct server *srv, struct thread_stats *stats, struct fwdreq_pool *pool,
             struct ringview *view, struct fetch *fetch, struct event_base *base,
             struct repl **out);

/* Stops the hint timer (before the fetcher stops). */
void repl_stop(struct repl *rp);

/* Frees what is left (hints), after fetch_stop() answered what was
 * outstanding. NULL is a no-op. */
void repl_free(struct repl *rp);

unsigned repl_replicas(const struct repl *rp);
unsigned repl_read_quorum(const struct repl *rp);

/*
 * After a command run here changed a key (cmd->wrote): copies the key's
 * state to its other owners. The command's reply is out[mark..]: when the
 * client must wait for the write quorum it is moved into the returned
 * request, which completes once W owners have the write (or then holds the
 * quorum error); NULL when the reply may go at once. noreply: the client
 * reads no reply (classic noreply), so no quorum error is sent either.
 */
struct fwdreq *repl_write(struct repl *rp, struct fwdreq_queue *q, const struct cmd *cmd,
                          struct buf *out, size_t mark, bool noreply);

/*
 * Failover: a write whose first owner failed runs here, this node being
 * the next live owner. raw[0..nraw) is the client's line and data block;
 * its reply goes into r's, which is completed (answered once) when the
 * write quorum is decided, or at once.
 */
void repl_write_here(struct repl *rp, struct fwdreq *r, const char *raw, size_t nraw);

/*
 * A PROXY_SYNC read (rr from proxy_route): asks R-1 other owners of each
 * key for their copies, keeps the newest here, repairs stale copies, then
 * runs the line (copied) into the returned request's reply; or the reply is
 * "SERVER_ERROR read quorum not met (<answers> of <R>)". NULL when out of
 * memory.
 */
struct fwdreq *repl_sync(struct repl *rp, struct fwdreq_queue *q, const char *line,
                         size_t len, const struct route_req *rr);

/*
 * Makes this node's copies of keys[0..n) the newest that R owners hold, as
 * repl_sync() does, then calls done(arg, err) on this worker: err is NULL,
 * or the "SERVER_ERROR read quorum not met ...\r\n" line for the first key
 * short of its quorum. The keys are copied. done may run before this
 * returns. Returns 0, or -ENOMEM (done is then never called).
 */
int repl_sync_keys(struct repl *rp, const char *const *keys, const size_t *nkeys,
                   size_t n, void (*done)(void *arg, const char *err), void *arg);

/*
 * After a read of key served here with R = 1 (each key of a multi-get
 * counts as one read): with probability read_repair_chance, and when this
 * node is one of the key's owners, asks every other live owner for its copy
 * in the background, then repairs as a quorum read does: a newer copy is
 * kept here, and owners holding an older copy or none (EN) are sent the
 * newest state, a tombstone included. At most CHECKS_MAX (repl.c) checks
 * are outstanding per worker; a read sampled beyond that is not checked.
 * Nothing is sent before the loop pass ends. No-op with R > 1.
 */
void repl_read_done(struct repl *rp, const char *key, size_t nkey);

/* Quorum arithmetic (pure). */
enum repl_quorum {
    REPL_PENDING, /* not decided yet */
    REPL_MET,     /* need acknowledgements arrived */
    REPL_FAILED,  /* too many failed for need to be reached */
};

/* need of total asked, acks and fails answered so far. */
enum repl_quorum repl_quorum(unsigned need, unsigned total, unsigned acks,
                             unsigned fails);

#endif
