/*
 * reach: reachability checks, a TCP connect to a member's port and nothing
 * more. A connection refused means the member's host answered and nothing
 * listens on the port: its process is gone (killed, crashed, not started
 * again). A process that is paused or starved of CPU still has its port
 * accept connections (the kernel completes the handshake), so a refusal is
 * evidence a timeout can never be.
 *
 * A struct reach belongs to one thread (gossip's): no locks, no threads of
 * its own. Checks are nonblocking connects, finished by reach_poll(),
 * which that thread calls until none is pending.
 */
#ifndef MESHCACHED_REACH_H
#define MESHCACHED_REACH_H

#include <stddef.h>
#include <stdint.h>

struct reach;

/* The end of a check: 0 (something accepted the connection),
 * -ECONNREFUSED (nothing listens), -ETIMEDOUT (no answer in time), or
 * another negative errno (unreachable, closing: -ECANCELED). */
typedef void (*reach_done_fn)(void *arg, int status);

/* An empty set of checks. Returns 0 or -ENOMEM. */
int reach_new(struct reach **out);

/* Ends every pending check with -ECANCELED and frees the set. NULL is a
 * no-op. */
void reach_free(struct reach *r);

/*
 * Starts a check of addr ("host:port", numeric; "[v6]:port" too), which
 * ends by timeout_ms after now (a monotonic ms count). Returns 0 when
 * done(arg, ...) will be called exactly once, by a later reach_poll() or
 * reach_free() (never from inside this call); -EINVAL for an address that
 * is not numeric, -ENOMEM, or the socket's errno: done is never called.
 */
int reach_start(struct reach *r, const char *addr, uint64_t now, uint32_t timeout_ms,
                reach_done_fn done, void *arg);

/* Ends the checks that finished or timed out by now, calling their done
 * functions; does not block. Returns how many are still pending. */
size_t reach_poll(struct reach *r, uint64_t now);

#endif
