/*
 * sendq: batched non-blocking sends of small replies through io_uring (see
 * sendq.h).
 */
#include "config.h"

#include "net/sendq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef HAVE_LIBURING
#include <liburing.h>

struct sendq_entry {
    void *owner; /* NULL: cancelled */
    int fd;
    uint32_t off; /* in bytes[] */
    uint32_t len;
    ssize_t res;
    bool pending; /* submitted, no completion yet */
};

struct sendq {
    struct io_uring ring;
    sendq_done_fn done;
    unsigned depth;
    unsigned n;    /* entries queued */
    size_t cap;    /* of bytes[] */
    size_t used;   /* bytes[] queued */
    bool flushing; /* no adds while the done callbacks run */
    bool broken;   /* a submission failed: no more adds */
    struct sendq_entry *e;
    char *bytes;
};

struct sendq *sendq_new(unsigned depth, size_t bytes, sendq_done_fn done)
{
    struct sendq *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->e = calloc(depth, sizeof(*q->e));
    q->bytes = malloc(bytes);
    if (q->e == NULL || q->bytes == NULL ||
        io_uring_queue_init(depth, &q->ring, 0) != 0) {
        free(q->e);
        free(q->bytes);
        free(q);
        return NULL;
    }
    q->depth = depth;
    q->cap = bytes;
    q->done = done;
    return q;
}

void sendq_free(struct sendq *q)
{
    if (q == NULL)
        return;
    io_uring_queue_exit(&q->ring);
    free(q->e);
    free(q->bytes);
    free(q);
}

bool sendq_add(struct sendq *q, void *owner, int fd, const void *data, size_t n)
{
    struct sendq_entry *e;

    if (q->flushing || q->broken || q->n == q->depth || n > q->cap - q->used)
        return false;
    e = &q->e[q->n++];
    *e = (struct sendq_entry){
        .owner = owner, .fd = fd, .off = (uint32_t)q->used, .len = (uint32_t)n};
    memcpy(q->bytes + q->used, data, n);
    q->used += n;
    return true;
}

void sendq_cancel(struct sendq *q, void *owner)
{
    for (unsigned i = 0; i < q->n; i++)
        if (q->e[i].owner == owner)
            q->e[i].owner = NULL;
}

/* Collects the results of the `left` sends submitted. They completed
 * inline (MSG_DONTWAIT), so the wait is only a safety net for a kernel
 * that would queue them: a send still pending after a second may yet go
 * out, so its connection is closed (-ETIMEDOUT) and batching stops, which
 * leaves the bytes to the kernel (nothing is copied there any more). */
static void reap(struct sendq *q, unsigned left)
{
    struct __kernel_timespec wait = {.tv_sec = 1};
    struct io_uring_cqe *cqe;

    while (left > 0) {
        int r = io_uring_peek_cqe(&q->ring, &cqe);
        if (r == -EAGAIN)
            r = io_uring_wait_cqe_timeout(&q->ring, &cqe, &wait);
        if (r == -EINTR)
            continue;
        if (r != 0)
            break;
        if (cqe->user_data < q->n) {
            q->e[cqe->user_data].res = cqe->res;
            q->e[cqe->user_data].pending = false;
        }
        io_uring_cqe_seen(&q->ring, cqe);
        left--;
    }
    if (left == 0)
        return;
    q->broken = true;
    for (unsigned i = 0; i < q->n; i++)
        if (q->e[i].pending)
            q->e[i].res = -ETIMEDOUT;
}

/* The only reply of a pass goes by send(2): a submission that holds one
 * send costs more than the call (0.5 us more here; README, "System calls
 * per request"). Returns it, or NULL when there are none or several. */
static struct sendq_entry *lone_entry(struct sendq *q)
{
    struct sendq_entry *lone = NULL;

    for (unsigned i = 0; i < q->n; i++) {
        if (q->e[i].owner == NULL)
            continue;
        if (lone != NULL)
            return NULL;
        lone = &q->e[i];
    }
    return lone;
}

unsigned sendq_flush(struct sendq *q)
{
    struct sendq_entry *lone = lone_entry(q);
    unsigned sent = 0;
    int r;

    for (unsigned i = 0; lone == NULL && i < q->n; i++) {
        struct sendq_entry *e = &q->e[i];
        struct io_uring_sqe *sqe;

        e->res = -EAGAIN; /* what an entry not sent gets */
        e->pending = false;
        if (e->owner == NULL || (sqe = io_uring_get_sqe(&q->ring)) == NULL)
            continue;
        e->pending = true;
        io_uring_prep_send(sqe, e->fd, q->bytes + e->off, e->len,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, i);
        sent++;
    }
    if (lone != NULL) {
        ssize_t n;

        do
            n = send(lone->fd, q->bytes + lone->off, lone->len,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        lone->res = n >= 0 ? n : -errno;
    } else if (sent > 0) {
        do
            r = io_uring_submit(&q->ring);
        while (r == -EINTR);
        if (r < 0)
            r = 0;
        if ((unsigned)r < sent) {
            /* a refused submission: the entries after the first r did not
             * go and stay -EAGAIN (each owner sends by itself), and as they
             * are left in the ring, no more batches */
            q->broken = true;
            for (unsigned i = 0, k = 0; i < q->n; i++)
                if (q->e[i].pending && k++ >= (unsigned)r)
                    q->e[i].pending = false;
        }
        reap(q, (unsigned)r);
        sent = (unsigned)r;
    }
    q->flushing = true;
    for (unsigned i = 0; i < q->n; i++) {
        struct sendq_entry *e = &q->e[i];
        size_t done = e->res > 0 ? (size_t)e->res : 0;

        if (e->owner != NULL)
            q->done(e->owner, e->res, q->bytes + e->off + done, e->len - done);
    }
    q->flushing = false;
    q->n = 0;
    q->used = 0;
    return sent;
}

#else /* no liburing: every reply is sent by its connection */

struct sendq *sendq_new(unsigned depth, size_t bytes, sendq_done_fn done)
{
    (void)depth;
    (void)bytes;
    (void)done;
    return NULL;
}

void sendq_free(struct sendq *q)
{
    (void)q;
}

bool sendq_add(struct sendq *q, void *owner, int fd, const void *data, size_t n)
{
    (void)q;
    (void)owner;
    (void)fd;
    (void)data;
    (void)n;
    return false;
}

void sendq_cancel(struct sendq *q, void *owner)
{
    (void)q;
    (void)owner;
}

unsigned sendq_flush(struct sendq *q)
{
    (void)q;
    return 0;
}

#endif
