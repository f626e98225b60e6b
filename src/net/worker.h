/*
 * worker: the worker threads. Each owns a libevent event_base, the
 * connections handed to it and a struct thread_stats; nothing it owns is
 * touched by another thread, except new connections, which arrive through a
 * mutex-protected queue plus a notify pipe (the only cross-thread path).
 */
#ifndef MESHCACHED_WORKER_H
#define MESHCACHED_WORKER_H

#include "base/server.h"

struct worker;
struct conn;
struct proxy;

/* Starts srv->settings.num_threads workers into srv->workers. Returns 0 or
 * -1 (after stopping any already started). */
int worker_start_all(struct server *srv);

/* Hands an accepted socket (and its connection slot) to the next worker,
 * round-robin. Called by the listener thread only. Closes fd and gives the
 * slot back on failure. */
void worker_dispatch(struct server *srv, int fd);

/* Asks every worker to close its connections and exit, joins them and
 * frees them. */
void worker_stop_all(struct server *srv);

/* For conn.c: the worker's loop, stats and connection list. */
struct event_base *worker_base(struct worker *w);
struct thread_stats *worker_stats(struct worker *w);
struct server *worker_server(struct worker *w);
/* Head of the worker's list of connections, which conn.c maintains. */
struct conn **worker_conns(struct worker *w);
/* The worker's forwarding state, or NULL on a single node. */
struct proxy *worker_proxy(struct worker *w);

#endif
