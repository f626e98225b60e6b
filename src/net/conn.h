/*
 * conn: one client connection: its input buffer, its reply buffer, the
 * command state machine (command line, data block, bytes to swallow) and
 * backpressure (input is not parsed while too many reply bytes are queued).
 * Its buffers and command state are borrowed from its worker's pools while
 * it works and given back when it idles (about 240 bytes remain).
 *
 * A connection lives and dies on the worker thread that created it.
 */
#ifndef MESHCACHED_CONN_H
#define MESHCACHED_CONN_H

#include <stdbool.h>

#include "base/bufpool.h"

struct conn;
struct event_base;
struct proxy;
struct server;
struct thread_stats;

/* What a worker gives its connections, and the list of them (which conn.c
 * maintains). Embedded in the worker. */
struct conn_list {
    struct event_base *base; /* the worker's loop */
    struct server *srv;
    struct thread_stats *stats; /* the worker's counters */
    struct proxy *px;           /* the worker's forwarding; NULL on one node */
    struct conn *head;          /* the connections */
    struct bufpool bufs;        /* input and reply buffers, lent while busy */
    struct bufpool ios;         /* command states, lent while busy */
    struct sendq *sq;           /* replies sent once per loop iteration; or NULL */
};

/* Fills in home, with empty pools, for a worker's loop. */
void conn_list_init(struct conn_list *home, struct event_base *base, struct server *srv,
                    struct thread_stats *stats);

/* Sends the replies that connections queued during this loop iteration
 * (after the iteration's callbacks: worker.c). */
void conn_list_flush(struct conn_list *home);

/* Takes ownership of fd and of the connection slot (curr_connections) the
 * listener counted for it, and adds the connection to home; on failure
 * closes fd and gives the slot back. An internal connection (the admin
 * port's socketpair) speaks no TLS and is authenticated from the start.
 * Returns 0 or -1. */
int conn_new(struct conn_list *home, int fd, bool internal);

/* Closes an accepted socket that never became a connection and gives its
 * slot back. */
void conn_drop_fd(int fd);

/* Closes and frees every connection of home, and the spares of its pools
 * (at shutdown). */
void conn_free_all(struct conn_list *home);

#endif
