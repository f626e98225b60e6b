/*
 * fetch: keys' states asked of other members (rg) and the newest kept here,
 * for replication's quorum reads and read repair, and for dual reads while
 * ranges move to this node.
 */
#include "cluster/fetch.h"
#include "base/server.h"
#include "base/stats.h"
#include "cluster/cluster.h"
#include "cluster/fwdreq.h"
#include "cluster/peer.h"
#include "cluster/ring.h"
#include "cluster/ringview.h"
#include "cmd/cmd.h"
#include "proto/replmsg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fetch {
    struct server *srv;
    struct thread_stats *stats; /* the worker's */
    struct fwdreq_pool *pool;   /* the worker's requests */
    struct ringview *view;      /* the worker's ring */
    struct peer_set *peers;     /* rs and rg only (see fetch.h); NULL once stopped */
    struct cmd cmd;             /* runs the reads that waited for a fetch */
    struct buf enc;             /* encodes rg commands */
    unsigned replicas;          /* --replicas */
    bool stopping;              /* the worker is going away: send nothing new */
};

int fetch_send(struct fetch *f, uint32_t slot, const struct buf *enc,
               enum peer_reply_kind kind, peer_done_fn fn, void *arg, uint32_t tag)
{
    struct iovec iov = {.iov_base = enc->data, .iov_len = enc->len};

    if (f->stopping)
        return -ECANCELED; /* answers to what is cancelled must not send more */
    return peer_request(f->peers, slot, &iov, 1, kind, fn, arg, tag);
}

struct cmd *fetch_cmd(struct fetch *f)
{
    return &f->cmd;
}

/* ---- ops ---- */

struct fetch_op *fetch_op_new(struct fetch *f, size_t nkeys, const char *line, size_t len,
                              size_t priv, fetch_done_fn done)
{
    /* keys[] ends 8-aligned (struct fetch_key holds uint64_t): priv follows */
    size_t keys = sizeof(struct fetch_op) + nkeys * sizeof(struct fetch_key);
    struct fetch_op *op = calloc(1, keys + priv);

    if (op == NULL)
        return NULL;
    op->f = f;
    op->done = done;
    op->nkeys = op->cap = nkeys;
    op->priv = priv > 0 ? (char *)op + keys : NULL;
    if (line != NULL) {
        op->line = malloc(len + 1);
        if (op->line == NULL) {
            free(op);
            return NULL;
        }
        memcpy(op->line, line, len);
        op->line[len] = '\0';
        op->len = len;
    }
    return op;
}

void fetch_op_free(struct fetch_op *op)
{
    for (size_t i = 0; i < op->nkeys; i++)
        buf_free(&op->keys[i].best_value);
    free(op->line);
    free(op);
}

void fetch_key_init(struct fetch_key *k, const char *key, size_t nkey)
{
    k->nkey = (uint8_t)nkey;
    memcpy(k->key, key, nkey);
    buf_init(&k->best_value);
}

static void on_answer(void *arg, uint32_t tag, int status, bool error, const char *reply,
                      size_t len);

/* Asks the next holder of key k; false when none is left. */
static bool ask(struct fetch_op *op, size_t k)
{
    struct fetch *f = op->f;
    struct fetch_key *fk = &op->keys[k];

    while (fk->next < fk->nholders) {
        size_t i = fk->next++;
        struct iovec iov;
        uint32_t tag = (uint32_t)(k << FETCH_KEY_SHIFT | i);
        buf_reset(&f->enc);
        replmsg_encode_get(&f->enc, fk->key, fk->nkey);
        if (f->enc.oom || f->stopping)
            return false;
        iov.iov_base = f->enc.data;
        iov.iov_len = f->enc.len;
        if (peer_request(f->peers, fk->holders[i], &iov, 1, PEER_REPLY_META, on_answer,
                         op, tag) == 0) {
            op->outstanding++;
            return true;
        }
    }
    return false;
}

static void on_answer(void *arg, uint32_t tag, int status, bool error, const char *reply,
                      size_t len)
{
    struct fetch_op *op = arg;
    struct fetch_key *fk = &op->keys[tag >> FETCH_KEY_SHIFT];
    uint32_t slot = fk->holders[tag & (FETCH_MAX_HOLDERS - 1)];
    struct store_state st;
    const char *value;

    op->outstanding--;
    if (status == 0 && !error && replmsg_parse_state(reply, len, &st, &value) == 0) {
        fk->got++;
        fk->seen_slot[fk->nseen] = slot;
        fk->seen_version[fk->nseen++] = st.version;
        if (st.version > fk->best.version) {
            fk->best = st;
            buf_reset(&fk->best_value);
            buf_append(&fk->best_value, value, st.nvalue);
        }
    } else if (status != -ECANCELED) {
        ask(op, tag >> FETCH_KEY_SHIFT); /* try another holder, if any */
    }
    if (op->outstanding == 0)
        op->done(op);
}

void fetch_start(struct fetch_op *op)
{
    op->outstanding++; /* held while sending */
    for (size_t k = 0; k < op->nkeys; k++)
        for (unsigned i = 0; i < op->keys[k].need; i++)
            if (!ask(op, k))
                break;
    if (--op->outstanding == 0)
        op->done(op);
}

bool fetch_take(struct fetch *f, const struct fetch_key *k)
{
    if (k->best.version == 0 || k->best_value.oom)
        return false;
    return store_apply_state(f->srv->store, k->key, k->nkey, &k->best, k->best_value.data,
                             NULL) == STORE_APPLIED;
}

struct fwdreq *fetch_line(struct fetch_op *op, struct fwdreq_queue *q,
                          const struct route_req *rr, fetch_add_fn add, void *arg)
{
    struct fwdreq *r = op != NULL ? fwdreq_new(op->f->pool, q, FWDREQ_SYNC) : NULL;
    size_t pos = rr->keys_off, nkey, k = 0;
    const char *key;

    if (r == NULL) {
        if (op != NULL)
            fetch_op_free(op);
        return NULL;
    }
    op->r = r;
    op->nkeys = 0;
    if (rr->kind == ROUTE_MULTIGET) {
        while (k++ < op->cap && route_next_key(op->line, op->len, &pos, &key, &nkey))
            add(op, key, nkey, arg);
    } else {
        add(op, rr->key, rr->nkey, arg);
    }
    fwdreq_expect(r, 2); /* held while starting: the fetch may end at once */
    fetch_start(op);
    fwdreq_unhold(r); /* not queued yet: completing it wakes nobody */
    return r;
}

void fetch_run(struct fetch_op *op)
{
    struct fetch *f = op->f;
    struct fwdreq *r = op->r;

    cmd_set_out(&f->cmd, fwdreq_reply(r));
    cmd_process_line(&f->cmd, op->line, op->len);
    f->cmd.out = NULL; /* r may be gone by the next use */
    fetch_op_free(op);
    fwdreq_answered(r);
}

/* ---- dual reads ---- */

size_t fetch_holders(const struct ring *r, uint32_t hv, unsigned replicas, uint32_t *out,
                     size_t max)
{
    size_t idx[FETCH_MAX_HOLDERS + 1], n = 0, nout = 0;
    size_t want = (size_t)replicas + 1;

    if (want > FETCH_MAX_HOLDERS)
        want = FETCH_MAX_HOLDERS;
    if (ring_owners(r, hv, want, idx, &n) != 0)
        return 0;
    for (size_t i = 0; i < n && nout < max; i++) {
        uint32_t tag = ring_node(r, idx[i])->tag;
        if (tag != CLUSTER_SELF)
            out[nout++] = tag;
    }
    return nout;
}

/* Whether key holds nothing here: neither an item nor a tombstone. */
bool fetch_missing(struct fetch *f, const char *key, size_t nkey)
{
    struct store_state s;

    return !store_read_state(f->srv->store, key, nkey, &s, NULL);
}

bool fetch_dual_wanted(struct fetch *f, const char *line, size_t len,
                       const struct route_req *rr)
{
    size_t pos = rr->keys_off, nkey;
    const char *key;

    if (rr->kind == ROUTE_KEY)
        return !rr->write && fetch_missing(f, rr->key, rr->nkey);
    if (rr->kind != ROUTE_MULTIGET)
        return false;
    while (route_next_key(line, len, &pos, &key, &nkey))
        if (fetch_missing(f, key, nkey))
            return true;
    return false;
}

/* What a dual read of fetch_dual_keys() keeps beside its fetch_op. */
struct dual_then {
    void (*done)(void *arg, const char *err);
    void *arg;
};

static void dual_done(struct fetch_op *op)
{
    struct dual_then *then = op->priv;

    if (op->nkeys > 0)
        STATS_INCR(op->f->stats, dual_reads);
    for (size_t k = 0; k < op->nkeys; k++)
        if (fetch_take(op->f, &op->keys[k]))
            STATS_INCR(op->f->stats, dual_read_hits);
    if (then == NULL) {
        fetch_run(op);
        return;
    }
    then->done(then->arg, NULL);
    fetch_op_free(op);
}

/* Adds key to op (at op->nkeys) when it holds nothing here and has holders
 * to ask (a fetch_add_fn). */
static void dual_key(struct fetch_op *op, const char *key, size_t nkey, void *ring)
{
    struct fetch_key *fk = &op->keys[op->nkeys];

    if (!fetch_missing(op->f, key, nkey))
        return;
    fk->nholders = fetch_holders(ring, ring_hash(key, nkey), op->f->replicas, fk->holders,
                                 FETCH_MAX_HOLDERS);
    if (fk->nholders == 0)
        return;
    fetch_key_init(fk, key, nkey);
    fk->need = (unsigned)fk->nholders; /* no quorum: the newest of all */
    op->nkeys++;
}

struct fwdreq *fetch_dual(struct fetch *f, struct fwdreq_queue *q, const char *line,
                          size_t len, const struct route_req *rr)
{
    const struct ring *ring = ringview_get(f->view);
    size_t nkeys = rr->kind == ROUTE_MULTIGET ? rr->nkeys : 1;

    return fetch_line(fetch_op_new(f, nkeys, line, len, 0, dual_done), q, rr, dual_key,
                      (void *)ring);
}

int fetch_dual_keys(struct fetch *f, const char *const *keys, const size_t *nkeys,
                    size_t n, void (*done)(void *arg, const char *err), void *arg)
{
    const struct ring *ring = ringview_get(f->view);
    struct fetch_op *op =
        fetch_op_new(f, n, NULL, 0, sizeof(struct dual_then), dual_done);
    struct dual_then *then;

    if (op == NULL)
        return -ENOMEM;
    then = op->priv;
    then->done = done;
    then->arg = arg;
    op->nkeys = 0;
    for (size_t k = 0; k < n; k++)
        dual_key(op, keys[k], nkeys[k], (void *)ring);
    fetch_start(op);
    return 0;
}

/* ---- life ---- */

int fetch_new(struct server *srv, struct thread_stats *stats, struct fwdreq_pool *pool,
              struct ringview *view, const struct peer_set_config *pc, struct fetch **out)
{
    struct fetch *f = calloc(1, sizeof(*f));
    struct peer_set_config mine = *pc;

    *out = NULL;
    if (f == NULL)
        return -ENOMEM;
    f->srv = srv;
    f->stats = stats;
    f->pool = pool;
    f->view = view;
    f->replicas = srv->settings.replicas;
    cmd_init(&f->cmd, srv, stats, NULL);
    f->cmd.from_peer = true;
    buf_init(&f->enc);
    /* With one copy per key a forwarder waits peer_timeout_ms for the
     * owner, which may itself wait for a dual read: half of it here (the
     * hello included), so that the owner's answer, a miss at worst, comes
     * first. With copies forwarders wait twice as long (proxy.c). */
    if (f->replicas < 2)
        mine.timeout_ms = pc->timeout_ms / 2 > 0 ? pc->timeout_ms / 2 : 1;
    if (peer_set_new(&mine, &f->peers) != 0 || ringview_watch(view, f->peers) != 0) {
        fetch_stop(f);
        fetch_free(f);
        return -ENOMEM;
    }
    *out = f;
    return 0;
}

void fetch_stop(struct fetch *f)
{
    struct peer_set *ps;

    if (f == NULL)
        return;
    f->stopping = true;
    ps = f->peers;
    f->peers = NULL;
    peer_set_free(ps); /* answers what is outstanding, sending nothing */
}

void fetch_free(struct fetch *f)
{
    if (f == NULL)
        return;
    cmd_reset(&f->cmd);
    buf_free(&f->enc);
    free(f);
}
