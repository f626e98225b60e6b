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
    bool loop;                  /* the worker waits in sq's ring (conn_list_loop) */
    void (*wake)(void *arg);    /* loop: wakes the worker from another thread */
    void *wake_arg;
};

/* Fills in home, with empty pools, for a worker's loop. */
void conn_list_init(struct conn_list *home, struct event_base *base, struct server *srv,
                    struct thread_stats *stats);

/* Sends the replies that connections queued during this loop iteration
 * (after the iteration's callbacks: worker.c). */
void conn_list_flush(struct conn_list *home);

/* The worker's loop on io_uring: its plain client connections receive
 * through the ring, and conn_list_wait() replaces the event loop's wait;
 * watch_fd (the event loop's epoll fd) is watched for the rest, and
 * wake(wake_arg) must make it readable (libevent does not notice events
 * made active from other threads outside its own loop). Call on the
 * worker's thread before any connection; false: not possible here. */
bool conn_list_loop(struct conn_list *home, int watch_fd, void (*wake)(void *arg),
                    void *wake_arg);

/* One pass's wait (see sendq_loop_wait()): sends the queued replies,
 * waits when asked to for input or for watch_fd, hands the input to the
 * connections. Returns true when watch_fd is readable: then run the event
 * loop once and call conn_list_watch(). */
bool conn_list_wait(struct conn_list *home, bool wait);
void conn_list_watch(struct conn_list *home);

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
