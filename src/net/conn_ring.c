/*
 * conn_ring: a connection's traffic through its worker's io_uring
 * (net/sendq.h): small replies handed to the pass's batched send, and, in
 * the worker's loop mode, input received by multishot receives instead of
 * read events and recv(2).
 */
#include "net/conn_int.h"
#include "net/sendq.h"
#include "base/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Hands the connection's replies to the pass's batched send (home->sq):
 * when there is one, the connection is plain, its commands are all
 * answered and the reply is small. They count as sent from here on (the
 * connection rests as after a send); conn_sent() gets what the socket did
 * not take. Otherwise (no room left in the batch, too big a reply) they go
 * out with send(2) as usual. */
void conn_defer(struct conn *c)
{
    struct conn_io *io = c->io;
    size_t n = buf_pending(&io->out);

    if (c->home->sq == NULL || c->tls != NULL || n == 0 || n > SENDQ_REPLY ||
        io->out.oom || c->state != CONN_LINE || !fwdreq_queue_empty(&io->pq) ||
        !sendq_add(c->home->sq, c, c->fd, io->out.data + io->out.off, n))
        return;
    io->out.off += n;
    c->queued = true;
}

/* The batched send of the connection's replies is over. What the socket
 * did not take goes back in front of the connection's output (nothing was
 * produced since: conn_run() waits while queued), to go out by conn_flush()
 * as any reply would. */
void conn_sent(void *arg, ssize_t res, const char *rest, size_t nrest)
{
    struct conn *c = arg;
    bool missed = c->missed;

    c->queued = c->missed = false;
    if (res > 0)
        STATS_ADD(c->home->stats, bytes_written, (uint64_t)res);
    if (res < 0 && res != -EAGAIN && res != -EWOULDBLOCK && res != -EINTR) {
        c->close_reason = CLOSE_ERROR;
        conn_free(c);
        return;
    }
    if (nrest > 0) {
        if (conn_borrow(c) != 0) {
            c->close_reason = CLOSE_ERROR;
            conn_free(c);
            return;
        }
        conn_out_block(c);
        buf_append(&c->io->out, rest, nrest);
    } else if (!missed) {
        return;
    }
    conn_run(c, missed);
}

/* n replies went out in one submission (none: no batch). */
static void count_batch(struct conn_list *home, unsigned n)
{
    if (n == 0)
        return;
    STATS_INCR(home->stats, reply_batches);
    STATS_ADD(home->stats, reply_batch_sends, n);
}

void conn_list_flush(struct conn_list *home)
{
    if (home->sq != NULL)
        count_batch(home, sendq_flush(home->sq));
}

/* A resting ring connection asks for its input. Returns 0, or -1 when it
 * could not and could not wait for a read event either. */
int conn_listen(struct conn *c)
{
    if (!c->ring || c->rx >= 0)
        return 0;
    if ((c->rx = sendq_recv_start(c->home->sq, c, c->fd)) >= 0)
        return 0;
    c->ring = false; /* no room in the ring: as without one */
    return conn_set_events(c, EV_READ);
}

/* It takes no more input for now (what is on its way still comes). */
void conn_unlisten(struct conn *c)
{
    if (c->rx < 0)
        return;
    sendq_recv_stop(c->home->sq, c->rx, false);
    c->rx = -1;
    if (c->rx_stopping < UINT16_MAX)
        c->rx_stopping++;
}

/* Appends data[0..n) to the input and, unless more comes at once, runs
 * the connection. */
static void conn_input(struct conn *c, const char *data, size_t n, bool more)
{
    struct conn_io *io;

    STATS_ADD(c->home->stats, bytes_read, (uint64_t)n);
    if (conn_borrow(c) != 0)
        goto fail;
    io = c->io;
    if (io->in.start == io->in.end)
        inbuf_rewind(&io->in, RBUF_INITIAL, RBUF_KEEP_MAX);
    while (n > 0) {
        size_t take;
        if (conn_in_room(c) != 0)
            goto fail;
        take = io->in.size - io->in.end < n ? io->in.size - io->in.end : n;
        memcpy(io->in.data + io->in.end, data, take);
        io->in.end += take;
        data += take;
        n -= take;
    }
    if (!more)
        conn_run(c, false);
    return;

fail:
    c->close_reason = CLOSE_ERROR;
    conn_free(c);
}

/* The ring's news of a receive of this connection (sendq_recv_fn). */
static void conn_recv(void *owner, int handle, const char *data, ssize_t n, bool final,
                      bool more)
{
    struct conn *c = owner;
    bool current = handle == c->rx;

    if (final && current)
        c->rx = -1; /* conn_listen() asks again when it rests */
    else if (final && c->rx_stopping > 0)
        c->rx_stopping--;
    if (n > 0) {
        conn_input(c, data, (size_t)n, more); /* also what came before a stop */
        return;
    }
    if (n == 0) {
        c->eof = true;
        conn_run(c, false);
        return;
    }
    if (!current || n == -ECANCELED)
        return; /* a receive it stopped */
    if (n == -EINVAL) {
        c->ring = false; /* a kernel without multishot receives */
        conn_run(c, true);
        return;
    }
    if (n == -ENOBUFS) {
        conn_run(c, false); /* asks again: buffers are back by then */
        return;
    }
    c->close_reason = CLOSE_ERROR;
    conn_free(c);
}

bool conn_list_loop(struct conn_list *home, int watch_fd, void (*wake)(void *arg),
                    void *wake_arg)
{
    home->loop = home->sq != NULL && sendq_loop_init(home->sq, watch_fd, conn_recv);
    home->wake = wake;
    home->wake_arg = wake_arg;
    return home->loop;
}

bool conn_list_wait(struct conn_list *home, bool wait)
{
    unsigned n;
    bool ready = sendq_loop_wait(home->sq, wait, &n);

    count_batch(home, n);
    return ready;
}

void conn_list_watch(struct conn_list *home)
{
    sendq_watch(home->sq);
}
