/*
 * admin: the HTTP admin port (--http-port): Prometheus /metrics, /healthz
 * and /readyz, and the JSON API (/cache/{key}, /cluster/status,
 * /cluster/distribution, /nodes/{id}/stats, /keys).
 *
 * libevent's evhttp serves it on a thread of its own with its own
 * event_base, so nothing it does (a slow client, a scrape, a member that
 * does not answer) ever waits on a worker or makes one wait: it reads the
 * store and the cluster through their public APIs (counters summed with
 * relaxed loads, the cluster's mutex for a member list), and reaches keys
 * through an internal client connection that a worker serves like any
 * other (mcconn.h), asynchronously.
 *
 * Routes that write or list keys (/cache, /keys) need "Authorization:
 * Bearer <token>" with the token of --http-token; without a token
 * configured they answer 403. The others are read-only and open.
 */
#ifndef MESHCACHED_ADMIN_H
#define MESHCACHED_ADMIN_H

#include <stdbool.h>

struct admin;
struct server;

/* Opens --http-port on the -l address(es) (connections wait in its
 * backlog until admin_run()) and reads the token; *out stays NULL when the
 * port is off. Call with the client port's listener, before daemonizing, so
 * that errors reach the terminal. Returns 0, or -1 after printing why. */
int admin_open(struct server *srv, struct admin **out);

/* Starts the admin thread; after worker_start_all() (its internal
 * connection goes to a worker) and after any fork (forked: the event loop
 * is reinitialized for the child). NULL is a no-op. Returns 0 or -1. */
int admin_run(struct admin *a, bool forked);

/* Stops the thread, closes the port and frees everything; before the
 * workers stop (its internal connection belongs to one). NULL is a no-op. */
void admin_stop(struct admin *a);

#endif
