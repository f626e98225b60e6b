/*
 * listener: the listening sockets and the accept loop, on the main thread's
 * event_base. Accepted sockets go round-robin to the workers; over the -c
 * limit a client gets memcached's "ERROR Too many open connections" and is
 * closed.
 */
#ifndef MESHCACHED_LISTENER_H
#define MESHCACHED_LISTENER_H

#include "base/server.h"

struct event_base;
struct listener;

/* Binds every address in the comma-separated -l list on -p. Returns NULL
 * after printing why. */
struct listener *listener_open(struct server *srv, struct event_base *base);

/* Stops accepting and closes the sockets. */
void listener_close(struct listener *l);

#endif
