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

/*
 * The loop mode: the worker waits in the ring instead of epoll, so that one
 * system call per pass sends the pass's replies and waits for the next
 * input. Plain client sockets receive through multishot recvs into a pool
 * of buffers the kernel picks from (a connection holds none while it
 * waits); the rest of the worker's events (libevent's, on its epoll fd)
 * are watched with a poll of that fd.
 */

/* Input for owner. n > 0: data[0..n) arrived; 0: the peer closed its side;
 * < 0: -errno. final: the receive (handle) is over (after an error, the
 * end of the stream, a stop, or for want of buffers: -ENOBUFS); no call
 * for it follows. more: the next call, in this pass, brings more data of
 * the same receive (what arrived at once comes in buffer-sized parts). */
typedef void (*sendq_recv_fn)(void *owner, int handle, const char *data, ssize_t n,
                              bool final, bool more);

/* Turns q into the worker's loop (to be called on the worker's thread,
 * which must then be the only one using q): a new ring, the buffer pool,
 * a poll of watch_fd. False when the kernel cannot (q stays a plain
 * sendq). */
bool sendq_loop_init(struct sendq *q, int watch_fd, sendq_recv_fn recv);

/* Starts receiving from fd for owner; returns the receive's handle, or -1.
 * Goes with the next sendq_loop_wait(). */
int sendq_recv_start(struct sendq *q, void *owner, int fd);

/* Stops the receive handle. Data already received still comes to its
 * owner, then a final call; forget: no call at all any more (the owner
 * is being freed). */
void sendq_recv_stop(struct sendq *q, int handle, bool forget);

/* Forgets every receive of owner (it is being freed). */
void sendq_recv_forget(struct sendq *q, void *owner);

/* Submits the starts and stops asked for, now: before their socket is
 * closed, so that a new socket given the same number is not taken for it
 * by a receive started earlier and not yet submitted. */
void sendq_commit(struct sendq *q);

/* Watches watch_fd again (after it was reported ready). */
void sendq_watch(struct sendq *q);

/* One pass's system call: sends the queued replies (as sendq_flush()) and
 * starts and stops the receives asked for, then, when wait, sleeps until
 * something more happens; then hands every completion to its owner.
 * Returns true when watch_fd became readable; *sends gets the replies
 * submitted. */
bool sendq_loop_wait(struct sendq *q, bool wait, unsigned *sends);

/* Sends every queued reply with one submission (a lone one with send(2)),
 * then tells each owner (done). Returns the number of sends submitted to
 * the ring (0 for a lone reply). */
unsigned sendq_flush(struct sendq *q);

#endif
