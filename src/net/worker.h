/*
 * worker: the worker threads. Each owns a libevent event_base, the
 * connections handed to it and a struct thread_stats; nothing it owns is
 * touched by another thread, except new connections, which arrive through a
 * mutex-protected queue plus a notify pipe (the only cross-thread path).
 */
#ifndef MESHCACHED_WORKER_H
#define MESHCACHED_WORKER_H

#include <stdbool.h>

#include "base/server.h"

struct worker;

/* Starts srv->settings.num_threads workers into srv->workers. Returns 0 or
 * -1 (after stopping any already started). */
int worker_start_all(struct server *srv);

/* Hands an accepted socket (and its connection slot, counted in
 * conn_stats.curr_connections by the caller) to the next worker,
 * round-robin. Called by the listener thread and by the admin port's
 * thread for its internal client connection (admin/mcconn.h; internal: a
 * socketpair inside the process, which speaks no TLS and needs no -Y
 * login). Closes fd and gives the slot back on failure. */
void worker_dispatch(struct server *srv, int fd, bool internal);

/* Asks every worker to close its connections and exit, joins them and
 * frees them. */
void worker_stop_all(struct server *srv);

#endif
