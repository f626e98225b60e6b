/*
 * sendq: batched non-blocking sends of small replies through io_uring (see
 * sendq.h).
 */
#include "config.h"

#include "net/sendq.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef HAVE_LIBURING
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>

/* What a completion is for: the top two bits of its user_data. */
#define TAG_SHIFT     62
#define TAG_SEND      0ull /* the rest: the index of the entry */
#define TAG_RECV      1ull /* the rest: the receive's slot */
#define TAG_WATCH     2ull
#define TAG_CANCEL    3ull
#define UDATA(tag, v) (((tag) << TAG_SHIFT) | (uint64_t)(v))

/* The loop mode's ring and buffers. */
#define LOOP_SQ   1024 /* submissions: a pass's sends, starts and stops */
#define LOOP_CQ   4096
#define LOOP_BUFS 128  /* receive buffers the kernel picks from */
#define LOOP_BUF  2048 /* bytes each: a request or a part of one */

struct rx_slot {
    void *owner; /* NULL: forgotten, or free */
    bool used;
};

/* A completion kept for after the pass's sends are settled. */
struct cqe_copy {
    uint64_t udata;
    int32_t res;
    uint32_t flags;
};

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
    /* the loop mode (sendq_loop_init) */
    bool loop;
    sendq_recv_fn recv;
    int watch_fd;
    struct io_uring_buf_ring *br;
    char *bufs;            /* LOOP_BUFS x LOOP_BUF */
    struct rx_slot *slots; /* by handle */
    unsigned nslots;       /* slots[0..nslots) exist */
    int *free_slots;       /* a stack of free handles */
    unsigned nfree;
    struct cqe_copy *stash; /* completions for after the sends */
    unsigned nstash, cstash;
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
    if (q->br != NULL)
        munmap(q->br, LOOP_BUFS * sizeof(struct io_uring_buf));
    free(q->bufs);
    free(q->slots);
    free(q->free_slots);
    free(q->stash);
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

/* Takes one completion: a send's result goes to its entry, anything else
 * (the loop mode's) is kept for after the sends (cancels need nothing).
 * Returns 1 for a send, 0 otherwise, -1 when there is no memory to keep
 * it (it stays in the ring for the next pass). */
static int take(struct sendq *q, const struct io_uring_cqe *cqe)
{
    uint64_t tag = cqe->user_data >> TAG_SHIFT;

    if (tag == TAG_SEND) {
        if (cqe->user_data < q->n) {
            q->e[cqe->user_data].res = cqe->res;
            q->e[cqe->user_data].pending = false;
        }
        return 1;
    }
    if (tag == TAG_CANCEL)
        return 0;
    if (q->nstash == q->cstash) {
        /* grows past the ring's size only when the kernel held back
         * completions for want of room (IORING_FEAT_NODROP) */
        unsigned cap = q->cstash > 0 ? 2 * q->cstash : LOOP_CQ;
        struct cqe_copy *bigger = realloc(q->stash, cap * sizeof(*bigger));
        if (bigger == NULL)
            return -1;
        q->stash = bigger;
        q->cstash = cap;
    }
    q->stash[q->nstash++] =
        (struct cqe_copy){.udata = cqe->user_data, .res = cqe->res, .flags = cqe->flags};
    return 0;
}

/* Collects the results of the `left` sends submitted, and keeps whatever
 * else has completed. The sends completed inline (MSG_DONTWAIT), so the
 * wait is only a safety net for a kernel that would queue them: a send
 * still pending after a second may yet go out, so its connection is
 * closed (-ETIMEDOUT) and batching stops, which leaves the bytes to the
 * kernel (nothing is copied there any more). */
static void reap(struct sendq *q, unsigned left)
{
    struct __kernel_timespec wait = {.tv_sec = 1};
    struct io_uring_cqe *cqe;

    for (;;) {
        int r = io_uring_peek_cqe(&q->ring, &cqe);
        if (r == -EAGAIN) {
            if (left == 0)
                return;
            r = io_uring_wait_cqe_timeout(&q->ring, &cqe, &wait);
        }
        if (r == -EINTR)
            continue;
        if (r != 0 || (r = take(q, cqe)) < 0)
            break;
        left -= (unsigned)r;
        io_uring_cqe_seen(&q->ring, cqe);
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

/* Puts a send for every queued reply in the ring. Returns how many. */
static unsigned prep_sends(struct sendq *q)
{
    unsigned sent = 0;

    for (unsigned i = 0; i < q->n; i++) {
        struct sendq_entry *e = &q->e[i];
        struct io_uring_sqe *sqe;

        e->res = -EAGAIN; /* what an entry not sent gets */
        e->pending = false;
        if (e->owner == NULL || (sqe = io_uring_get_sqe(&q->ring)) == NULL)
            continue;
        e->pending = true;
        io_uring_prep_send(sqe, e->fd, q->bytes + e->off, e->len,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, UDATA(TAG_SEND, i));
        sent++;
    }
    return sent;
}

/* After a submission of the `sent` sends that took r of them: collects
 * their results. Returns the sends that went. */
static unsigned settle(struct sendq *q, unsigned sent, int r)
{
    unsigned went = r > 0 ? (unsigned)r : 0;

    if (went < sent) {
        /* a refused submission: the entries after the first ones did not
         * go and stay -EAGAIN (each owner sends by itself), and as they are
         * left in the ring, no more batches */
        q->broken = true;
        for (unsigned i = 0, k = 0; i < q->n; i++)
            if (q->e[i].pending && k++ >= went)
                q->e[i].pending = false;
    }
    reap(q, went);
    return went;
}

/* Tells each owner how its send went, and empties the queue. */
static void finish(struct sendq *q)
{
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
}

unsigned sendq_flush(struct sendq *q)
{
    struct sendq_entry *lone = lone_entry(q);
    unsigned sent = 0;
    int r;

    if (lone != NULL) {
        ssize_t n;

        do
            n = send(lone->fd, q->bytes + lone->off, lone->len,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        lone->res = n >= 0 ? n : -errno;
    } else if ((sent = prep_sends(q)) > 0) {
        do
            r = io_uring_submit(&q->ring);
        while (r == -EINTR);
        sent = settle(q, sent, r);
    }
    finish(q);
    return sent;
}

/* ---- the loop mode ---- */

/* A free submission entry: when the ring is full, what is in it goes
 * first (starts and stops of receives only: sends are put in and
 * submitted by sendq_loop_wait() at once). NULL when the kernel refuses. */
static struct io_uring_sqe *loop_sqe(struct sendq *q)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

    if (sqe == NULL && io_uring_submit(&q->ring) >= 0)
        sqe = io_uring_get_sqe(&q->ring);
    return sqe;
}

void sendq_watch(struct sendq *q)
{
    struct io_uring_sqe *sqe = loop_sqe(q);

    if (sqe == NULL)
        return;
    io_uring_prep_poll_add(sqe, q->watch_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, UDATA(TAG_WATCH, 0));
}

bool sendq_loop_init(struct sendq *q, int watch_fd, sendq_recv_fn recv)
{
    static const unsigned modes[] = {
        /* completions are run by the waiting thread only, in its wait:
         * no interrupts, and recvs in the order asked */
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    struct io_uring ring;
    struct io_uring_buf_reg reg = {.ring_entries = LOOP_BUFS, .bgid = 0};
    size_t brsize = LOOP_BUFS * sizeof(struct io_uring_buf);
    unsigned i;

    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct io_uring_params p = {.flags = modes[i] | IORING_SETUP_CQSIZE,
                                    .cq_entries = LOOP_CQ};
        if (io_uring_queue_init_params(LOOP_SQ, &ring, &p) == 0)
            break;
    }
    if (i == sizeof(modes) / sizeof(modes[0]))
        return false;
    q->br =
        mmap(NULL, brsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    q->bufs = malloc((size_t)LOOP_BUFS * LOOP_BUF);
    q->stash = malloc(LOOP_CQ * sizeof(*q->stash));
    if (q->br == MAP_FAILED)
        q->br = NULL;
    reg.ring_addr = (uintptr_t)q->br;
    if (q->br == NULL || q->bufs == NULL || q->stash == NULL ||
        io_uring_register_buf_ring(&ring, &reg, 0) != 0) {
        io_uring_queue_exit(&ring);
        if (q->br != NULL)
            munmap(q->br, brsize);
        free(q->bufs);
        free(q->stash);
        q->br = NULL;
        q->bufs = NULL;
        q->stash = NULL;
        return false;
    }
    io_uring_buf_ring_init(q->br);
    for (unsigned b = 0; b < LOOP_BUFS; b++)
        io_uring_buf_ring_add(q->br, q->bufs + (size_t)b * LOOP_BUF, LOOP_BUF,
                              (uint16_t)b, io_uring_buf_ring_mask(LOOP_BUFS), (int)b);
    io_uring_buf_ring_advance(q->br, LOOP_BUFS);
    io_uring_queue_exit(&q->ring); /* the plain one, made on another thread */
    q->ring = ring;
    q->cstash = LOOP_CQ;
    q->nstash = 0;
    q->loop = true;
    q->recv = recv;
    q->watch_fd = watch_fd;
    sendq_watch(q);
    return true;
}

static int slot_new(struct sendq *q, void *owner)
{
    int h;

    if (q->nfree == 0) {
        unsigned cap = q->nslots > 0 ? 2 * q->nslots : 64;
        struct rx_slot *slots = realloc(q->slots, cap * sizeof(*slots));
        int *stack;

        if (slots == NULL)
            return -1;
        q->slots = slots;
        stack = realloc(q->free_slots, cap * sizeof(*stack));
        if (stack == NULL)
            return -1;
        q->free_slots = stack;
        memset(q->slots + q->nslots, 0, (cap - q->nslots) * sizeof(*slots));
        for (unsigned i = cap; i > q->nslots; i--)
            q->free_slots[q->nfree++] = (int)(i - 1);
        q->nslots = cap;
    }
    h = q->free_slots[--q->nfree];
    q->slots[h] = (struct rx_slot){.owner = owner, .used = true};
    return h;
}

static void slot_free(struct sendq *q, int h)
{
    q->slots[h] = (struct rx_slot){0};
    q->free_slots[q->nfree++] = h;
}

int sendq_recv_start(struct sendq *q, void *owner, int fd)
{
    struct io_uring_sqe *sqe;
    int h = slot_new(q, owner);

    if (h < 0)
        return -1;
    if ((sqe = loop_sqe(q)) == NULL) {
        slot_free(q, h);
        return -1;
    }
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, UDATA(TAG_RECV, h));
    return h;
}

void sendq_recv_stop(struct sendq *q, int handle, bool forget)
{
    struct io_uring_sqe *sqe;

    if (handle < 0 || (unsigned)handle >= q->nslots || !q->slots[handle].used)
        return;
    if (forget)
        q->slots[handle].owner = NULL;
    if ((sqe = loop_sqe(q)) == NULL)
        return; /* it ends when its socket does */
    io_uring_prep_cancel64(sqe, UDATA(TAG_RECV, handle), 0);
    io_uring_sqe_set_data64(sqe, UDATA(TAG_CANCEL, 0));
}

void sendq_commit(struct sendq *q)
{
    if (q->loop && io_uring_sq_ready(&q->ring) > 0)
        io_uring_submit(&q->ring);
}

void sendq_recv_forget(struct sendq *q, void *owner)
{
    for (unsigned i = 0; i < q->nslots; i++)
        if (q->slots[i].used && q->slots[i].owner == owner)
            q->slots[i].owner = NULL;
}

/* Hands a kept completion to its owner; next: the one after it, if any.
 * Returns true for the watch. */
static bool dispatch(struct sendq *q, const struct cqe_copy *c,
                     const struct cqe_copy *next)
{
    uint64_t tag = c->udata >> TAG_SHIFT;
    int h = (int)(c->udata & 0xffffffffu);
    bool final = !(c->flags & IORING_CQE_F_MORE),
         buffered = c->flags & IORING_CQE_F_BUFFER;
    unsigned bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
    const char *data =
        buffered && bid < LOOP_BUFS ? q->bufs + (size_t)bid * LOOP_BUF : NULL;

    if (tag == TAG_WATCH)
        return true;
    if (tag != TAG_RECV || (unsigned)h >= q->nslots || !q->slots[h].used)
        return false;
    if (q->slots[h].owner != NULL)
        q->recv(q->slots[h].owner, h, data, data != NULL || c->res <= 0 ? c->res : -EIO,
                final,
                data != NULL && next != NULL && next->udata == c->udata && next->res > 0);
    /* (the owner may have started receives: q->slots may have moved) */
    if (data != NULL) {
        io_uring_buf_ring_add(q->br, q->bufs + (size_t)bid * LOOP_BUF, LOOP_BUF,
                              (uint16_t)bid, io_uring_buf_ring_mask(LOOP_BUFS), 0);
        io_uring_buf_ring_advance(q->br, 1);
    }
    if (final)
        slot_free(q, h);
    return false;
}

bool sendq_loop_wait(struct sendq *q, bool wait, unsigned *sends)
{
    unsigned before = io_uring_sq_ready(&q->ring), sent = prep_sends(q);
    unsigned total = before + sent, went;
    bool ready = false;
    int r;

    do
        r = wait ? io_uring_submit_and_wait(&q->ring, sent + 1)
                 : io_uring_submit_and_get_events(&q->ring);
    while (r == -EINTR);
    /* Everything must go: a send left in the ring would go out at a later
     * submission, from bytes reused by then. A kernel short of memory
     * takes part of a submission; it gets the rest until it refuses for
     * good. */
    went = r > 0 ? (unsigned)r : 0;
    for (int tries = 0; went < total; tries++) {
        r = io_uring_submit(&q->ring);
        if (r > 0) {
            went += (unsigned)r;
            tries = 0;
        } else if (tries == 1000) {
            fprintf(stderr, "meshcached: the kernel refuses io_uring submissions: %s\n",
                    strerror(-r));
            abort();
        } else {
            sched_yield();
        }
    }
    reap(q, sent); /* and keeps the rest for below */
    *sends = sent;
    finish(q);
    /* the input, after every owner knows how its send went */
    for (unsigned i = 0; i < q->nstash; i++)
        ready |= dispatch(q, &q->stash[i], i + 1 < q->nstash ? &q->stash[i + 1] : NULL);
    q->nstash = 0;
    return ready;
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

bool sendq_loop_init(struct sendq *q, int watch_fd, sendq_recv_fn recv)
{
    (void)q;
    (void)watch_fd;
    (void)recv;
    return false;
}

int sendq_recv_start(struct sendq *q, void *owner, int fd)
{
    (void)q;
    (void)owner;
    (void)fd;
    return -1;
}

void sendq_recv_stop(struct sendq *q, int handle, bool forget)
{
    (void)q;
    (void)handle;
    (void)forget;
}

void sendq_recv_forget(struct sendq *q, void *owner)
{
    (void)q;
    (void)owner;
}

void sendq_commit(struct sendq *q)
{
    (void)q;
}

void sendq_watch(struct sendq *q)
{
    (void)q;
}

bool sendq_loop_wait(struct sendq *q, bool wait, unsigned *sends)
{
    (void)q;
    (void)wait;
    *sends = 0;
    return false;
}

#endif
