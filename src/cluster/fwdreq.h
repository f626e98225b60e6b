/*
 * fwdreq: a client command that waits for answers from other members (a
 * forwarded command, a multi-get fanned out, a write waiting for its
 * quorum, a read waiting for its quorum), and the per-connection queue that
 * keeps those replies, and the local replies behind them, in the order the
 * client sent the commands.
 *
 * This module is the only writer of a request: proxy.c and repl.c fill a
 * request's reply and count its answers through the functions below; the
 * connection owns a struct fwdreq_queue and takes complete replies out of
 * it. When a request's last answer arrives, the queue's ready callback
 * tells the connection (the one upward call, through a function pointer the
 * connection fills in). A connection that goes away detaches its queue; its
 * requests are freed when their last answer arrives.
 *
 * Threads: everything here belongs to one worker thread (its pool, its
 * connections' queues); no locks.
 */
#ifndef MESHCACHED_FWDREQ_H
#define MESHCACHED_FWDREQ_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/lathist.h"

struct fwdreq;

/* What a request is to the order of its connection's commands. */
enum fwdreq_kind {
    FWDREQ_PLAIN, /* a reply to wait for */
    FWDREQ_SYNC,  /* a read waiting for its quorum: the connection runs no
                     local write until it is answered */
    FWDREQ_WRITE, /* a write forwarded to the key's first owner: the
                     connection runs nothing keyed here until it is
                     answered (a read must see the write before it) */
};

/* A worker's finished requests, kept for reuse so that forwarding allocates
 * nothing per command once the worker has warmed up. Embedded by its owner;
 * fields are private to fwdreq.c. */
struct fwdreq_pool {
    struct fwdreq *spare;
    unsigned nspare;
};

/* One connection's replies in order. Embedded in the connection; fields are
 * private to fwdreq.c (read them through the functions below). */
struct fwdreq_queue {
    struct fwdreq *head, *tail;
    unsigned n;               /* requests queued */
    unsigned nsync;           /* of which FWDREQ_SYNC */
    unsigned nwrites;         /* of which FWDREQ_WRITE */
    struct buf *out;          /* the connection's output */
    void (*ready)(void *arg); /* a request of this queue is complete */
    void *arg;
};

void fwdreq_pool_init(struct fwdreq_pool *p);

/* Frees the spares. Requests still in use must be gone already. */
void fwdreq_pool_fini(struct fwdreq_pool *p);

/* An empty queue writing complete replies to out; ready(arg) is called
 * (from an answer's callback, on the worker) when a request completes. */
void fwdreq_queue_init(struct fwdreq_queue *q, struct buf *out, void (*ready)(void *arg),
                       void *arg);

/* The connection is going away: every request is detached (freed now when
 * complete, else when its last answer arrives). The queue is empty after. */
void fwdreq_queue_detach_all(struct fwdreq_queue *q);

/* Appends r (from fwdreq_new() with this queue) behind what is queued. */
void fwdreq_queue_push(struct fwdreq_queue *q, struct fwdreq *r);

/* Where local replies go while requests are queued: behind the last one. */
struct buf *fwdreq_queue_after(struct fwdreq_queue *q);

/* Moves the replies of complete requests at the head, and the local
 * replies behind each, to the connection's output, in order, and frees
 * those requests. Returns true when it moved any. */
bool fwdreq_queue_drain(struct fwdreq_queue *q);

static inline bool fwdreq_queue_empty(const struct fwdreq_queue *q)
{
    return q->head == NULL;
}

static inline unsigned fwdreq_queue_len(const struct fwdreq_queue *q)
{
    return q->n;
}

/* Queued FWDREQ_SYNC and FWDREQ_WRITE requests. */
static inline unsigned fwdreq_queue_syncs(const struct fwdreq_queue *q)
{
    return q->nsync;
}

static inline unsigned fwdreq_queue_writes(const struct fwdreq_queue *q)
{
    return q->nwrites;
}

/* Bytes of local replies waiting behind the last request. */
size_t fwdreq_queue_backlog(const struct fwdreq_queue *q);

/* A fresh request of kind for queue q (reused from the pool's spares when
 * there is one), awaiting no answer yet; or NULL when out of memory. The
 * caller pushes it onto q, or frees it. */
struct fwdreq *fwdreq_new(struct fwdreq_pool *p, struct fwdreq_queue *q,
                          enum fwdreq_kind kind);

/* Its connection is going away before r was queued: frees r now when
 * complete, else when its last answer arrives. */
void fwdreq_detach(struct fwdreq *r);

/* Frees a request (complete, or never sent): back to its pool's spares,
 * with any private data freed. NULL is a no-op. */
void fwdreq_free(struct fwdreq *r);

/* Classic noreply: the client reads no reply, so no error either. quiet:
 * the command was sent with an appended "mn" whose "MN" must be cut. */
void fwdreq_set_mode(struct fwdreq *r, bool noreply, bool quiet);
bool fwdreq_noreply(const struct fwdreq *r);
bool fwdreq_quiet(const struct fwdreq *r);

/* Attaches the sender's private data, freed with free_fn (may be NULL)
 * when the request is freed. */
void fwdreq_set_priv(struct fwdreq *r, void *priv, void (*free_fn)(void *));
void *fwdreq_priv(const struct fwdreq *r);

/* n more answers to wait for. */
void fwdreq_expect(struct fwdreq *r, unsigned n);

/* Answers still awaited. */
unsigned fwdreq_outstanding(const struct fwdreq *r);

/* True once every answer is in. */
bool fwdreq_done(const struct fwdreq *r);

/* One answer less: when none is left, tells the request's queue, or frees
 * the request when its connection is gone. */
void fwdreq_answered(struct fwdreq *r);

/* One answer (or a hold the sender took while sending) less on a request
 * that is not queued yet: nobody is told, even when none is left. */
void fwdreq_unhold(struct fwdreq *r);

/* True when its connection went away: nobody will read the reply. */
bool fwdreq_orphan(const struct fwdreq *r);

/* The reply being built. */
struct buf *fwdreq_reply(struct fwdreq *r);

/* Where an answer may be written: the connection's output when r is first
 * in its queue (nothing before it waits), else r's own reply. */
struct buf *fwdreq_out(struct fwdreq *r);

/* Replaces the reply with the error err[0..len) (nothing under noreply:
 * the client reads no reply, so no error either), once: returns false,
 * changing nothing, when the request had already failed. */
bool fwdreq_fail(struct fwdreq *r, const char *err, size_t len);

bool fwdreq_failed(const struct fwdreq *r);

/* Times r for the latency histogram h (its worker's): when its reply is
 * drained to the connection's output, now - t0_ns is recorded as a command
 * of class c served on path p. Untimed requests record nothing. */
void fwdreq_time(struct fwdreq *r, struct lat_hist *h, enum lat_cmd c, enum lat_path p,
                 uint64_t t0_ns);

#endif
