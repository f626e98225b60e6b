/*
 * conn_int: what conn.c and conn_ring.c share about a connection: its
 * layout and the steps of its state machine. Not for other modules (they
 * see conn.h).
 */
#ifndef MESHCACHED_CONN_INT_H
#define MESHCACHED_CONN_INT_H

#include "net/conn.h"
#include "base/buf.h"
#include "base/connreg.h"
#include "base/inbuf.h"
#include "base/lathist.h"
#include "cluster/proxy.h"
#include "cmd/cmd.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RBUF_INITIAL   16384 /* a pool block: memcached's read buffer size */
#define RBUF_KEEP_MAX  65536
#define RBUF_MAX_LINE  (4u * 1024 * 1024) /* longest multi-get line accepted */
#define OUT_HIGH_WATER (1u * 1024 * 1024) /* stop parsing above this backlog */
#define MAX_PROXIED    256                /* forwarded commands awaiting replies */
#define POOL_SPARES    64  /* spare blocks a worker keeps, per pool (1 MiB of buffers) */
#define SENDQ_DEPTH    256 /* replies one pass of the loop sends together */
#define SENDQ_BYTES    65536 /* their bytes, copied */
#define SENDQ_REPLY    4096  /* the largest reply copied there */

enum conn_state {
    CONN_LINE,    /* waiting for a command line */
    CONN_VALUE,   /* reading a data block into cmd.item */
    CONN_SWALLOW, /* discarding cmd.swallow bytes */
    CONN_FORWARD, /* buffering a storage command to forward (fwd_need bytes) */
    CONN_STREAM,  /* sending a key listing, part by part (cmd_stream) */
    CONN_WATCH,   /* a watcher: sending log lines, ignoring input */
    CONN_CLOSING, /* flush what is queued, then close */
};

/* Why a connection closed, for watch connevents. */
enum conn_close_reason { CLOSE_NORMAL, CLOSE_ERROR, CLOSE_IDLE_TIMEOUT, CLOSE_SHUTDOWN };

/* What a connection holds only while it has work: a block of the worker's
 * io pool, taken on the first event that brings work and given back (with
 * the buffers) when the connection waits for input with nothing pending
 * (conn_rest). A peer's or a watcher's connection keeps it. */
struct conn_io {
    struct inbuf in;    /* [start, end): read, not yet parsed; a pool block */
    struct buf out;     /* replies; a pool block while it holds some */
    uint32_t value_got; /* bytes of the data block read so far */
    size_t backlog;     /* of out, what srv->reply_backlog counts (conn_count_backlog) */
    bool woken;         /* wake_ev was activated and has not run yet */
    bool held;          /* the next line waits until forwarded ones are answered */
    bool prefetched;    /* the held line's key was fetched: run it now */
    struct cmd cmd;
    /* forwarding (home->px is NULL on a single node) */
    struct fwdreq_queue pq;         /* commands waiting for other members, in order */
    struct event wake_ev;           /* run when one of them is complete */
    struct route_req fwd_rr;        /* the route of the last line */
    uint32_t fwd_owner;             /* CONN_FORWARD: where it goes */
    uint64_t fwd_need;              /* CONN_FORWARD: line + data bytes */
    size_t fwd_key_off;             /* CONN_FORWARD: fwd_rr.key's offset in the
                                     * line (the buffer may move while the data
                                     * block arrives), SIZE_MAX: not in it */
    struct logger_watcher *watcher; /* CONN_WATCH (woken through wake_ev) */
    uint64_t lat_t0;                /* when the current command's line was read */
    enum lat_cmd lat_cmd;           /* its class, for the latency histograms */
};

/* What every connection holds for its whole life: about 240 bytes. */
struct conn {
    struct event ev;          /* the socket's, embedded: no allocation of its own */
    struct conn_list *home;   /* the worker's connections, loop, pools */
    struct conn *prev, *next; /* the worker's list */
    struct conn_io *io;       /* NULL while idle */
    struct connreg_entry reg; /* for stats conns */
    struct tls *tls;          /* -Z: the socket's TLS session; NULL: plain */
    int fd;
    short ev_flags;       /* EV_READ or EV_WRITE, as registered */
    uint8_t state;        /* enum conn_state */
    uint8_t close_reason; /* enum conn_close_reason */
    bool authed;          /* -Y: logged in (kept while the command state is
                           * back in the pool); an internal connection is */
    bool queued;          /* its reply waits in home->sq, to go after this pass */
    bool missed;          /* it had an event while queued: run it after */
    bool ring;            /* its input comes through the worker's ring (conn_recv) */
    bool eof;             /* ring: the client closed its side */
    uint16_t rx_stopping; /* ring: receives stopped whose end has not come */
    int32_t rx;           /* ring: the receive running while it rests, or -1 */
};

/* conn.c */
/* Runs the connection: parses, replies, reads more (see conn.c). */
void conn_run(struct conn *c, bool more);
void conn_free(struct conn *c);
/* Takes the command state from the pool when it has none: 0, or -1. */
int conn_borrow(struct conn *c);
/* Lends the output a pooled block when it has none. */
void conn_out_block(struct conn *c);
/* Makes room at the end of the input (a pooled block when it has none):
 * 0, or -1 without memory. */
int conn_in_room(struct conn *c);
/* Waits for flags (EV_READ, EV_WRITE, 0: parked): 0, or -1. */
int conn_set_events(struct conn *c, short flags);

/* conn_ring.c: replies batched through the worker's ring, and input
 * received through it (worker.c's loop mode) */
void conn_defer(struct conn *c);
void conn_sent(void *arg, ssize_t res, const char *rest, size_t nrest);
int conn_listen(struct conn *c);
void conn_unlisten(struct conn *c);

#endif
