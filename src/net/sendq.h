/*
 * sendq: the small replies of one pass of a worker's event loop, sent with
 * one system call (io_uring) instead of one send(2) each.
 *
 * A connection whose commands are answered and whose socket had nothing
 * more to read copies its reply into the queue and carries on as if it had
 * sent it (its buffers go back to the pool at once, as after a send). After
 * the pass's callbacks, sendq_flush() submits one non-blocking send per
 * queued reply (MSG_DONTWAIT: a send that would block completes at once
 * with -EAGAIN, never later), so every send has completed when the submit
 * returns; done() then gets each result, and what a full socket did not
 * take. A pass's only reply goes by send(2), as cheaper than a submission
 * of one send.
 * Without liburing, or where the kernel refuses a ring (io_uring_disabled,
 * seccomp, old kernels), sendq_new() returns NULL and connections send as
 * they go.
 */
#ifndef MESHCACHED_NET_SENDQ_H
#define MESHCACHED_NET_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sendq;

/* A queued reply's send is over. result: the bytes sent, or -errno; rest,
 * nrest: the bytes not sent (nrest 0 when all went), valid during the
 * call. The owner cannot queue again during it. */
typedef void (*sendq_done_fn)(void *owner, ssize_t result, const char *rest,
                              size_t nrest);

/* A queue of up to depth replies and bytes bytes per pass, or NULL. */
struct sendq *sendq_new(unsigned depth, size_t bytes, sendq_done_fn done);
void sendq_free(struct sendq *q);

/* Copies n bytes to send on fd on behalf of owner (at most one queued
 * reply per owner: the caller remembers that it queued). False when there
 * is no room or the queue is being flushed: the owner sends by itself. */
bool sendq_add(struct sendq *q, void *owner, int fd, const void *data, size_t n);

/* Forgets owner's queued reply (the owner is being freed). */
void sendq_cancel(struct sendq *q, void *owner);

/* Sends every queued reply with one submission (a lone one with send(2)),
 * then tells each owner (done). Returns the number of sends submitted to
 * the ring (0 for a lone reply). */
unsigned sendq_flush(struct sendq *q);

#endif
