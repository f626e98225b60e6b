/*
 * conn: one client connection: its input buffer, its reply buffer, the
 * command state machine (command line, data block, bytes to swallow) and
 * backpressure (input is not parsed while too many reply bytes are queued).
 *
 * A connection lives and dies on the worker thread that created it.
 */
#ifndef MESHCACHED_CONN_H
#define MESHCACHED_CONN_H

struct worker;
struct conn;

/* Takes ownership of fd and of the connection slot (curr_connections) the
 * listener counted for it; on failure closes fd and gives the slot back.
 * Returns 0 or -1. */
int conn_new(struct worker *w, int fd);

/* Closes an accepted socket that never became a connection and gives its
 * slot back. */
void conn_drop_fd(int fd);

/* Closes and frees every connection of the worker (at shutdown). */
void conn_free_all(struct worker *w);

#endif
