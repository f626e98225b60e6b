/*
 * fwdreq: requests waiting for other members' answers, reused from a
 * per-worker pool, and each connection's queue of them in command order.
 */
#include "cluster/fwdreq.h"

#include <stdlib.h>

#define FWDREQ_SPARES 256  /* finished requests a worker keeps for reuse */
#define SPARE_BUF_MAX 4096 /* largest buffer a spare keeps */

struct fwdreq {
    struct fwdreq_pool *pool; /* where it goes back when freed */
    struct fwdreq_queue *q;   /* its connection's queue; NULL once detached */
    struct fwdreq *next;      /* the queue, or the pool's spares */
    struct buf reply;         /* what the client gets, when complete */
    struct buf after;         /* local replies that follow this one */
    unsigned outstanding;     /* answers still awaited */
    enum fwdreq_kind kind;
    bool noreply; /* classic noreply: the client reads nothing */
    bool quiet;   /* sent with "mn": the owner's MN is cut */
    bool failed;  /* reply holds an error line */
    void *priv;   /* the sender's state (a multi-get's parts) */
    void (*priv_free)(void *);
    struct lat_hist *lat; /* where its latency goes; NULL: untimed */
    uint64_t lat_t0;      /* when its command line was read (ns) */
    enum lat_cmd lat_cmd;
    enum lat_path lat_path;
};

void fwdreq_pool_init(struct fwdreq_pool *p)
{
    p->spare = NULL;
    p->nspare = 0;
}

static void destroy(struct fwdreq *r)
{
    buf_free(&r->reply);
    buf_free(&r->after);
    free(r);
}

void fwdreq_pool_fini(struct fwdreq_pool *p)
{
    while (p->spare != NULL) {
        struct fwdreq *r = p->spare;
        p->spare = r->next;
        destroy(r);
    }
    p->nspare = 0;
}

struct fwdreq *fwdreq_new(struct fwdreq_pool *p, struct fwdreq_queue *q,
                          enum fwdreq_kind kind)
{
    struct fwdreq *r = p->spare;

    if (r != NULL) {
        p->spare = r->next;
        p->nspare--;
        r->next = NULL;
    } else {
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return NULL;
        buf_init(&r->reply);
        buf_init(&r->after);
    }
    r->pool = p;
    r->q = q;
    r->kind = kind;
    return r;
}

/* Empties a spare's buffer, keeping at most SPARE_BUF_MAX of it: spares
 * must not pin the memory of a big reply. */
static void spare_buf(struct buf *b)
{
    if (b->cap > SPARE_BUF_MAX)
        buf_free(b); /* and ready for use again */
    else
        buf_reset(b);
}

void fwdreq_free(struct fwdreq *r)
{
    struct fwdreq_pool *p;

    if (r == NULL)
        return;
    if (r->priv_free != NULL)
        r->priv_free(r->priv);
    p = r->pool;
    if (p->nspare >= FWDREQ_SPARES) {
        destroy(r);
        return;
    }
    spare_buf(&r->reply);
    spare_buf(&r->after);
    *r = (struct fwdreq){.reply = r->reply, .after = r->after, .next = p->spare};
    p->spare = r;
    p->nspare++;
}

void fwdreq_set_mode(struct fwdreq *r, bool noreply, bool quiet)
{
    r->noreply = noreply;
    r->quiet = quiet;
}

bool fwdreq_noreply(const struct fwdreq *r)
{
    return r->noreply;
}

bool fwdreq_quiet(const struct fwdreq *r)
{
    return r->quiet;
}

void fwdreq_set_priv(struct fwdreq *r, void *priv, void (*free_fn)(void *))
{
    r->priv = priv;
    r->priv_free = free_fn;
}

void *fwdreq_priv(const struct fwdreq *r)
{
    return r->priv;
}

void fwdreq_expect(struct fwdreq *r, unsigned n)
{
    r->outstanding += n;
}

unsigned fwdreq_outstanding(const struct fwdreq *r)
{
    return r->outstanding;
}

bool fwdreq_done(const struct fwdreq *r)
{
    return r->outstanding == 0;
}

void fwdreq_answered(struct fwdreq *r)
{
    if (--r->outstanding > 0)
        return;
    if (r->q == NULL)
        fwdreq_free(r);
    else
        r->q->ready(r->q->arg);
}

void fwdreq_unhold(struct fwdreq *r)
{
    r->outstanding--;
}

bool fwdreq_orphan(const struct fwdreq *r)
{
    return r->q == NULL;
}

struct buf *fwdreq_reply(struct fwdreq *r)
{
    return &r->reply;
}

struct buf *fwdreq_out(struct fwdreq *r)
{
    return r->q != NULL && r->q->head == r ? r->q->out : &r->reply;
}

bool fwdreq_fail(struct fwdreq *r, const char *err, size_t len)
{
    if (r->failed)
        return false;
    r->failed = true;
    buf_reset(&r->reply);
    if (!r->noreply)
        buf_append(&r->reply, err, len);
    return true;
}

bool fwdreq_failed(const struct fwdreq *r)
{
    return r->failed;
}

void fwdreq_time(struct fwdreq *r, struct lat_hist *h, enum lat_cmd c, enum lat_path p,
                 uint64_t t0_ns)
{
    r->lat = h;
    r->lat_cmd = c;
    r->lat_path = p;
    r->lat_t0 = t0_ns;
}

/* ---- the connection's queue ---- */

void fwdreq_queue_init(struct fwdreq_queue *q, struct buf *out, void (*ready)(void *arg),
                       void *arg)
{
    *q = (struct fwdreq_queue){.out = out, .ready = ready, .arg = arg};
}

void fwdreq_detach(struct fwdreq *r)
{
    r->next = NULL;
    r->q = NULL;
    if (r->outstanding == 0)
        fwdreq_free(r);
}

void fwdreq_queue_detach_all(struct fwdreq_queue *q)
{
    while (q->head != NULL) {
        struct fwdreq *r = q->head;
        q->head = r->next;
        fwdreq_detach(r);
    }
    q->tail = NULL;
    q->n = q->nsync = q->nwrites = 0;
}

void fwdreq_queue_push(struct fwdreq_queue *q, struct fwdreq *r)
{
    r->q = q;
    r->next = NULL;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
    q->nsync += r->kind == FWDREQ_SYNC;
    q->nwrites += r->kind == FWDREQ_WRITE;
}

struct buf *fwdreq_queue_after(struct fwdreq_queue *q)
{
    return q->tail != NULL ? &q->tail->after : q->out;
}

size_t fwdreq_queue_backlog(const struct fwdreq_queue *q)
{
    return q->tail != NULL ? buf_pending(&q->tail->after) : 0;
}

bool fwdreq_queue_drain(struct fwdreq_queue *q)
{
    bool moved = false;
    uint64_t now = 0; /* one clock read for all that complete at once */

    while (q->head != NULL && q->head->outstanding == 0) {
        struct fwdreq *r = q->head;
        if (r->lat != NULL) {
            if (now == 0)
                now = lat_now_ns();
            lat_record(r->lat, r->lat_cmd, r->lat_path,
                       now > r->lat_t0 ? now - r->lat_t0 : 0);
        }
        buf_append(q->out, r->reply.data, r->reply.len);
        buf_append(q->out, r->after.data + r->after.off, buf_pending(&r->after));
        q->head = r->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->n--;
        q->nsync -= r->kind == FWDREQ_SYNC;
        q->nwrites -= r->kind == FWDREQ_WRITE;
        fwdreq_free(r);
        moved = true;
    }
    return moved;
}
