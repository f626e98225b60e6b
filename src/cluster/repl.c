/*
 * repl: copies a key's state to its other owners with a write quorum,
 * quorum reads with read repair, and hinted handoff for owners that are down.
 */
#include "cluster/repl.h"
#include "cluster/cluster.h"
#include "cluster/fetch.h"
#include "cluster/peer.h"
#include "cmd/cmd.h"
#include "cluster/fwdreq.h"
#include "cluster/ringview.h"
#include "proto/replmsg.h"
#include "base/logger.h"
#include "base/rng.h"
#include "base/server.h"
#include "base/stats.h"
#include "store/store.h"
#include "base/util.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HINT_TICK_MS 200 /* how often members that came back get their hints */
#define HINT_BATCH   256 /* hints sent to one member per tick */
/* Background read checks (R = 1) outstanding per worker: they share the
 * connections that carry writes to their quorum, so a burst of sampled
 * reads must not queue without bound in front of those; a read sampled
 * beyond it goes unchecked. */
#define CHECKS_MAX 1024

/* A key whose newest state a member that was down has to be sent. */
struct hint {
    struct hint *next;
    uint32_t slot; /* the member */
    uint8_t nkey;
    char key[];
};

struct hint_list {
    struct hint *head, *tail;
};

struct repl {
    struct server *srv;
    struct thread_stats *stats; /* the worker's */
    struct fwdreq_pool *pool;   /* the worker's requests */
    struct ringview *view;      /* the worker's ring */
    unsigned n, w, r;           /* replicas, write and read quorum */
    double chance;              /* read_repair_chance */
    struct rng rng;
    struct fetch *fetch;     /* the worker's: rs and rg go over its connections */
    struct buf enc;          /* encodes rs commands */
    struct buf value;        /* a state's value while it is encoded */
    struct hint_list *hints; /* per member slot */
    size_t nlists;
    uint64_t nhints, hints_max; /* this worker's share of -o hints_max */
    struct event *tick;
    unsigned nchecks; /* background read checks outstanding */
};

/* The owners of a key as this worker's ring says. */
struct owners {
    size_t n;                         /* live owners, in preference order */
    uint32_t slot[REPL_MAX_REPLICAS]; /* their member slots */
    bool self;                        /* this node is one of them */
    size_t ndown;                     /* owners that are down (hinted) */
    uint32_t down[REPL_MAX_REPLICAS]; /* their slots */
};

static void owners_of(struct repl *rp, const struct ring *r, const char *key, size_t nkey,
                      struct owners *o)
{
    uint32_t hv = ring_hash(key, nkey);
    size_t idx[REPL_MAX_REPLICAS], n = 0;

    memset(o, 0, sizeof(*o));
    if (ring_owners(r, hv, rp->n, idx, &n) == 0)
        for (size_t i = 0; i < n; i++) {
            o->slot[o->n] = ring_node(r, idx[i])->tag;
            o->self |= o->slot[o->n] == CLUSTER_SELF;
            o->n++;
        }
    if (ring_down_count(r) == 0 || ring_preference_hash(r, hv, NULL, rp->n, idx, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (ring_node(r, idx[i])->down)
            o->down[o->ndown++] = ring_node(r, idx[i])->tag;
}

enum repl_quorum repl_quorum(unsigned need, unsigned total, unsigned acks, unsigned fails)
{
    if (acks >= need)
        return REPL_MET;
    if (fails > total || total - fails < need)
        return REPL_FAILED;
    return REPL_PENDING;
}

unsigned repl_replicas(const struct repl *rp)
{
    return rp->n;
}

unsigned repl_read_quorum(const struct repl *rp)
{
    return rp->r;
}

/* Appends the rs command for key's current state here to rp->enc. Returns
 * false when the key holds nothing. */
static bool encode_state(struct repl *rp, const char *key, size_t nkey)
{
    struct store_state s;

    buf_reset(&rp->enc);
    buf_reset(&rp->value);
    if (!store_read_state(rp->srv->store, key, nkey, &s, &rp->value) || rp->value.oom)
        return false;
    replmsg_encode_store(&rp->enc, key, nkey, &s, rp->value.data);
    return !rp->enc.oom;
}

static int send_enc(struct repl *rp, uint32_t slot, enum peer_reply_kind kind,
                    peer_done_fn fn, void *arg, uint32_t tag)
{
    return fetch_send(rp->fetch, slot, &rp->enc, kind, fn, arg, tag);
}

/* An rs answer: HD, or NS with the newer version the replica holds (which
 * counts: the replica has the write or something newer). */
static bool rs_ok(struct repl *rp, int status, bool error, const char *reply, size_t len)
{
    uint64_t v;

    if (status != 0 || error || len < 4)
        return false;
    if (memcmp(reply, "HD\r\n", 4) == 0)
        return true;
    if (len > 5 && memcmp(reply, "NS ", 3) == 0 &&
        util_parse_u64(reply + 3, len - 5, &v)) {
        store_observe_version(rp->srv->store, v);
        return true;
    }
    return false;
}

/* ---- hints ---- */

static void hint_push(struct repl *rp, struct hint *h)
{
    struct hint_list *l = &rp->hints[h->slot];

    h->next = NULL;
    if (l->tail != NULL)
        l->tail->next = h;
    else
        l->head = h;
    l->tail = h;
    rp->nhints++;
}

static void hint_add(struct repl *rp, uint32_t slot, const char *key, size_t nkey)
{
    struct hint_list *l;
    struct hint *h;

    if (slot >= rp->nlists) {
        size_t n = slot + 1 > 2 * rp->nlists ? slot + 1 : 2 * rp->nlists;
        struct hint_list *grown = realloc(rp->hints, n * sizeof(*grown));
        if (grown == NULL)
            goto drop;
        memset(grown + rp->nlists, 0, (n - rp->nlists) * sizeof(*grown));
        rp->hints = grown;
        rp->nlists = n;
    }
    l = &rp->hints[slot];
    if (l->tail != NULL && l->tail->nkey == nkey && memcmp(l->tail->key, key, nkey) == 0)
        return; /* the same key again: one delivery sends its newest state */
    if (rp->nhints >= rp->hints_max || (h = malloc(sizeof(*h) + nkey)) == NULL)
        goto drop;
    h->slot = slot;
    h->nkey = (uint8_t)nkey;
    memcpy(h->key, key, nkey);
    hint_push(rp, h);
    STATS_INCR(rp->stats, hints_stored);
    return;
drop:
    STATS_INCR(rp->stats, hints_dropped);
}

/* A hint's delivery: it rides along as the request's argument. */
struct hint_send {
    struct repl *rp;
    struct hint *h;
};

static void on_hint_sent(void *arg, uint32_t slot, int status, bool error,
                         const char *reply, size_t len)
{
    struct hint_send *hs = arg;
    struct repl *rp = hs->rp;

    (void)slot;
    if (status == -ECANCELED) {
        free(hs->h);
    } else if (rs_ok(rp, status, error, reply, len)) {
        STATS_INCR(rp->stats, hints_delivered);
        free(hs->h);
    } else if (rp->nhints < rp->hints_max) {
        hint_push(rp, hs->h); /* down again: wait for the next time */
    } else {
        STATS_INCR(rp->stats, hints_dropped);
        free(hs->h);
    }
    free(hs);
}

/* Sends up to HINT_BATCH hints to a member that is up. */
static void deliver(struct repl *rp, uint32_t slot)
{
    struct hint_list *l = &rp->hints[slot];

    for (int n = 0; n < HINT_BATCH && l->head != NULL; n++) {
        struct hint *h = l->head;
        struct hint_send *hs;
        l->head = h->next;
        if (l->head == NULL)
            l->tail = NULL;
        rp->nhints--;
        if (!encode_state(rp, h->key, h->nkey)) {
            free(h); /* nothing left here to send (evicted, expired) */
            continue;
        }
        hs = malloc(sizeof(*hs));
        if (hs != NULL) {
            hs->rp = rp;
            hs->h = h;
            if (send_enc(rp, slot, PEER_REPLY_LINE, on_hint_sent, hs, slot) == 0)
                continue;
            free(hs);
        }
        hint_push(rp, h); /* backing off, or no memory: next tick */
        return;
    }
}

static void hint_tick(evutil_socket_t fd, short what, void *arg)
{
    struct repl *rp = arg;
    const struct ring *r;

    (void)fd;
    (void)what;
    if (rp->nhints == 0)
        return;
    r = ringview_get(rp->view);
    for (size_t i = 0; i < ring_node_count(r); i++) {
        const struct ring_node *node = ring_node(r, i);
        if (!node->down && node->tag < rp->nlists && rp->hints[node->tag].head != NULL &&
            node->tag != CLUSTER_SELF)
            deliver(rp, node->tag);
    }
}

/* ---- writes ---- */

/* One write being copied to the other owners; outlives the client's
 * request, which it completes once the quorum is decided. */
struct repl_write {
    struct repl *rp;
    struct fwdreq *r; /* the client's, until decided; NULL after */
    unsigned need;    /* acknowledgements the client waits for */
    unsigned total;   /* owners asked */
    unsigned acks, fails, pending;
    unsigned w; /* the write quorum, for the error */
    bool self;  /* this node counts towards w */
    uint8_t nkey;
    char key[KEY_MAX_LENGTH];
};

/* Completes the client's request once the quorum is decided. From inside
 * repl_write() (at_once), the request is not queued yet: it is only marked
 * complete, as the connection must not be woken for it. */
static void write_decide(struct repl_write *wr, bool at_once)
{
    struct fwdreq *r = wr->r;
    char line[96];
    int n;

    if (r == NULL)
        return;
    switch (repl_quorum(wr->need, wr->total, wr->acks, wr->fails)) {
    case REPL_PENDING:
        return;
    case REPL_MET:
        break;
    case REPL_FAILED:
        STATS_INCR(wr->rp->stats, quorum_failures);
        n = snprintf(line, sizeof(line),
                     "SERVER_ERROR write quorum not met (%u of %u)\r\n",
                     wr->acks + wr->self, wr->w);
        fwdreq_fail(r, line, (size_t)n);
        break;
    }
    wr->r = NULL;
    if (at_once)
        fwdreq_unhold(r);
    else
        fwdreq_answered(r);
}

static void on_write_answer(void *arg, uint32_t slot, int status, bool error,
                            const char *reply, size_t len)
{
    struct repl_write *wr = arg;
    struct repl *rp = wr->rp;

    if (status == -ECANCELED) {
        wr->fails++;
    } else if (rs_ok(rp, status, error, reply, len)) {
        wr->acks++;
    } else {
        wr->fails++;
        STATS_INCR(rp->stats, repl_write_failures);
        hint_add(rp, slot, wr->key, wr->nkey);
    }
    write_decide(wr, false);
    if (--wr->pending == 0) {
        write_decide(wr, false); /* cannot stay pending: every answer is in */
        free(wr);
    }
}

/* Sends the state of the key cmd wrote to its other owners (hints for
 * those down). Returns the write's tracking, NULL when out of memory (the
 * write stays here; repair will spread it): the caller decides with it and
 * frees it when nothing is pending. */
static struct repl_write *replicate(struct repl *rp, const struct ring *ring,
                                    const struct cmd *cmd)
{
    struct owners o;
    struct repl_write *wr;

    owners_of(rp, ring, cmd->wrote_key, cmd->wrote_nkey, &o);
    for (size_t i = 0; i < o.ndown; i++)
        hint_add(rp, o.down[i], cmd->wrote_key, cmd->wrote_nkey);
    wr = calloc(1, sizeof(*wr));
    if (wr == NULL)
        return NULL;
    wr->rp = rp;
    wr->w = rp->w;
    wr->self = o.self;
    wr->need = rp->w > (unsigned)o.self ? rp->w - o.self : 0;
    wr->nkey = cmd->wrote_nkey;
    memcpy(wr->key, cmd->wrote_key, cmd->wrote_nkey);
    STATS_INCR(rp->stats, repl_writes);
    if (!encode_state(rp, wr->key, wr->nkey)) {
        /* Written, yet nothing is left (a set with an exptime in the past
         * expired at once): for the other owners that is a delete. */
        uint32_t hv = store_hash(wr->key, wr->nkey);
        struct store_shard *sh = store_lock(rp->srv->store, hv);
        do_store_delete_absent(sh, wr->key, wr->nkey, hv);
        store_unlock(sh);
    }
    if (encode_state(rp, wr->key, wr->nkey)) {
        for (size_t i = 0; i < o.n; i++) {
            if (o.slot[i] == CLUSTER_SELF)
                continue;
            wr->total++;
            if (send_enc(rp, o.slot[i], PEER_REPLY_LINE, on_write_answer, wr,
                         o.slot[i]) == 0) {
                wr->pending++;
            } else {
                wr->fails++;
                STATS_INCR(rp->stats, repl_write_failures);
                hint_add(rp, o.slot[i], wr->key, wr->nkey);
            }
        }
    }
    return wr;
}

struct fwdreq *repl_write(struct repl *rp, struct fwdreq_queue *q, const struct cmd *cmd,
                          struct buf *out, size_t mark, bool noreply)
{
    const struct ring *ring = ringview_get(rp->view);
    struct repl_write *wr;
    struct fwdreq *r;

    if (ring_node_count(ring) < 2 || (wr = replicate(rp, ring, cmd)) == NULL)
        return NULL;
    if (repl_quorum(wr->need, wr->total, wr->acks, wr->fails) == REPL_MET) {
        if (wr->pending == 0)
            free(wr);
        return NULL; /* the reply goes now; the copies are on their way */
    }
    r = fwdreq_new(rp->pool, q, FWDREQ_PLAIN);
    if (r == NULL) {
        if (wr->pending == 0)
            free(wr);
        return NULL;
    }
    fwdreq_set_mode(r, noreply, false);
    buf_append(fwdreq_reply(r), out->data + mark, out->len - mark);
    out->len = mark;
    fwdreq_expect(r, 1);
    wr->r = r;
    write_decide(wr, true); /* failures already known may decide it now */
    if (wr->pending == 0)
        free(wr);
    return r;
}

void repl_write_here(struct repl *rp, struct fwdreq *r, const char *raw, size_t nraw)
{
    const char *nl = memchr(raw, '\n', nraw);
    size_t len = nl != NULL ? (size_t)(nl - raw) : nraw;
    struct cmd *c = fetch_cmd(rp->fetch);
    struct repl_write *wr;
    char *line;

    if (len > 0 && raw[len - 1] == '\r')
        len--;
    line = malloc(len + 1);
    if (line == NULL) {
        fwdreq_fail(r, "SERVER_ERROR out of memory\r\n", 28);
        fwdreq_answered(r);
        return;
    }
    memcpy(line, raw, len);
    line[len] = '\0';
    cmd_set_out(c, fwdreq_reply(r));
    if (cmd_process_line(c, line, len) == CMD_READ_VALUE) {
        /* the block follows the line in raw, with its "\r\n" */
        size_t at = nl != NULL ? (size_t)(nl - raw) + 1 : nraw;
        if (nraw - at >= c->item->nbytes) {
            memcpy(item_value(c->item), raw + at, c->item->nbytes);
            cmd_value_done(c);
        } else {
            cmd_reset(c); /* cannot happen: route checked the length */
        }
    }
    c->out = NULL; /* r may be gone by the next use */
    free(line);
    if (!c->wrote || (wr = replicate(rp, ringview_get(rp->view), c)) == NULL) {
        fwdreq_answered(r);
        return;
    }
    wr->r = r;
    write_decide(wr, false);
    if (wr->pending == 0) {
        write_decide(wr, false); /* every answer is in: decided */
        free(wr);
    }
}

/* ---- reads ---- */

/* What a quorum read or a background check keeps beside its fetch_op. */
struct repl_sync {
    struct repl *rp;
    void (*done)(void *arg, const char *err); /* repl_sync_keys()'s */
    void *done_arg;
    bool background; /* a check of a read already answered (R = 1) */
};

/* A repair's answer: HD means the owner took the newest state (or had just
 * got it), which is what read_repairs counts; NS means it held something
 * newer still, so nothing was repaired there. */
static void on_repair_answer(void *arg, uint32_t slot, int status, bool error,
                             const char *reply, size_t len)
{
    struct repl *rp = arg;

    (void)slot;
    if (status == -ECANCELED)
        return;
    if (status == 0 && !error && len == 4 && memcmp(reply, "HD\r\n", 4) == 0)
        STATS_INCR(rp->stats, read_repairs);
    else
        rs_ok(rp, status, error, reply, len); /* catches the clock up on NS */
}

/* Tells the event log (the admin port's /events) what a read repair
 * found: how many answers were older than the newest, and whether this
 * node took the newest from another. Nothing when all agreed. */
static void log_repair(struct repl *rp, const struct fetch_key *fk, uint64_t newest,
                       bool taken)
{
    char ukey[3 * KEY_MAX_LENGTH + 1];
    unsigned stale = 0;

    for (size_t i = 0; i < fk->nseen; i++)
        stale += fk->seen_version[i] < newest;
    if ((stale == 0 && !taken) || !logger_wants(rp->srv->logger, LOGGER_REPAIRS))
        return;
    ukey[util_uri_encode(fk->key, fk->nkey, ukey)] = '\0';
    logger_log(rp->srv->logger, LOGGER_REPAIRS,
               "type=repair key=%s version=%llu stale=%u taken=%s", ukey,
               (unsigned long long)newest, stale, taken ? "yes" : "no");
}

/*
 * Read repair: makes this node's copy of fk the newest seen, and sends the
 * newest state to each owner that answered with something older or with
 * nothing (EN, version 0). The newest state may be a tombstone: it goes out
 * like a value, so a stale live copy is deleted, never the other way round.
 */
static void reconcile(struct repl *rp, struct fetch_key *fk)
{
    struct store_state here;
    uint64_t newest;
    bool theirs;

    store_read_state(rp->srv->store, fk->key, fk->nkey, &here, NULL);
    theirs = fk->best.version > here.version;
    if (theirs && fetch_take(rp->fetch, fk))
        STATS_INCR(rp->stats, read_repairs);
    newest = theirs ? fk->best.version : here.version;
    if (newest == 0)
        return; /* nobody holds anything */
    log_repair(rp, fk, newest, theirs);
    for (size_t i = 0; i < fk->nseen; i++) {
        if (fk->seen_version[i] >= newest)
            continue;
        /* encoded from the answer itself when it is the newest, so that a
         * copy that could not be kept here (no memory) still goes out */
        buf_reset(&rp->enc);
        if (theirs)
            replmsg_encode_store(&rp->enc, fk->key, fk->nkey, &fk->best,
                                 fk->best_value.data);
        else if (!encode_state(rp, fk->key, fk->nkey))
            return; /* gone meanwhile (expired): nothing to spread */
        if (rp->enc.oom)
            return;
        send_enc(rp, fk->seen_slot[i], PEER_REPLY_LINE, on_repair_answer, rp,
                 fk->seen_slot[i]);
    }
}

static void sync_finish(struct fetch_op *op)
{
    struct repl_sync *s = op->priv;
    struct repl *rp = s->rp;
    struct fetch_key *short_key = NULL;
    char line[96];
    int n = 0;

    for (size_t i = 0; i < op->nkeys; i++) {
        if (op->keys[i].got < op->keys[i].need && short_key == NULL)
            short_key = &op->keys[i];
        if (op->keys[i].got > 0)
            reconcile(rp, &op->keys[i]);
    }
    if (short_key != NULL) {
        STATS_INCR(rp->stats, quorum_failures);
        n = snprintf(line, sizeof(line),
                     "SERVER_ERROR read quorum not met (%u of %u)\r\n",
                     short_key->got + 1, rp->r);
    }
    if (s->done != NULL)
        s->done(s->done_arg, short_key != NULL ? line : NULL);
    if (s->background)
        rp->nchecks--;
    if (op->r == NULL) {
        fetch_op_free(op);
    } else if (short_key != NULL) {
        struct fwdreq *r = op->r;
        fwdreq_fail(r, line, (size_t)n);
        fetch_op_free(op);
        fwdreq_answered(r);
    } else {
        fetch_run(op);
    }
}

/* A sync of nkeys keys; the keys are filled in by the caller. */
static struct fetch_op *sync_new(struct repl *rp, size_t nkeys, const char *line,
                                 size_t len)
{
    struct fetch_op *op =
        fetch_op_new(rp->fetch, nkeys, line, len, sizeof(struct repl_sync), sync_finish);

    if (op != NULL)
        ((struct repl_sync *)op->priv)->rp = rp;
    return op;
}

/* Fills in fk for key, to be asked of need other owners; returns whether
 * this node is one of its owners. */
static bool sync_key_init(struct repl *rp, const struct ring *ring, struct fetch_key *fk,
                          const char *key, size_t nkey, unsigned need)
{
    struct owners o;

    fetch_key_init(fk, key, nkey);
    owners_of(rp, ring, key, nkey, &o);
    for (size_t i = 0; i < o.n; i++)
        if (o.slot[i] != CLUSTER_SELF)
            fk->holders[fk->nholders++] = o.slot[i];
    fk->need = need;
    return o.self;
}

/* A key of a quorum read (a fetch_add_fn; arg: the ring). */
static void sync_add(struct fetch_op *op, const char *key, size_t nkey, void *ring)
{
    struct repl *rp = ((struct repl_sync *)op->priv)->rp;

    sync_key_init(rp, ring, &op->keys[op->nkeys++], key, nkey, rp->r - 1);
}

struct fwdreq *repl_sync(struct repl *rp, struct fwdreq_queue *q, const char *line,
                         size_t len, const struct route_req *rr)
{
    const struct ring *ring = ringview_get(rp->view);
    size_t nkeys = rr->kind == ROUTE_MULTIGET ? rr->nkeys : 1;

    return fetch_line(sync_new(rp, nkeys, line, len), q, rr, sync_add, (void *)ring);
}

int repl_sync_keys(struct repl *rp, const char *const *keys, const size_t *nkeys,
                   size_t n, void (*done)(void *arg, const char *err), void *arg)
{
    const struct ring *ring = ringview_get(rp->view);
    struct fetch_op *op = sync_new(rp, n, NULL, 0);
    struct repl_sync *s;

    if (op == NULL)
        return -ENOMEM;
    s = op->priv;
    s->done = done;
    s->done_arg = arg;
    for (size_t k = 0; k < n; k++)
        sync_key_init(rp, ring, &op->keys[k], keys[k], nkeys[k], rp->r - 1);
    fetch_start(op);
    return 0;
}

void repl_read_done(struct repl *rp, const char *key, size_t nkey)
{
    const struct ring *ring;
    struct fetch_op *op;
    struct fetch_key *fk;

    if (rp->r > 1 || rp->chance <= 0 || rp->nchecks >= CHECKS_MAX ||
        rng_double(&rp->rng) >= rp->chance)
        return;
    ring = ringview_get(rp->view);
    if (ring_node_count(ring) < 2)
        return;
    op = sync_new(rp, 1, NULL, 0);
    if (op == NULL)
        return;
    fk = &op->keys[0];
    /* only an owner checks: another node's copy is not one of the N */
    if (!sync_key_init(rp, ring, fk, key, nkey, 0) || fk->nholders == 0) {
        fetch_op_free(op);
        return;
    }
    fk->need = (unsigned)fk->nholders; /* ask every other owner */
    ((struct repl_sync *)op->priv)->background = true;
    rp->nchecks++;
    fetch_start(op);
}

/* ---- life ---- */

int repl_new(struct server *srv, struct thread_stats *stats, struct fwdreq_pool *pool,
             struct ringview *view, struct fetch *fetch, struct event_base *base,
             struct repl **out)
{
    const struct settings *set = &srv->settings;
    struct timeval tv = {.tv_sec = 0, .tv_usec = HINT_TICK_MS * 1000};
    struct repl *rp;

    *out = NULL;
    if (set->replicas < 2)
        return 0;
    rp = calloc(1, sizeof(*rp));
    if (rp == NULL)
        return -ENOMEM;
    rp->srv = srv;
    rp->stats = stats;
    rp->pool = pool;
    rp->view = view;
    rp->n = set->replicas;
    rp->w = set->write_quorum;
    rp->r = set->read_quorum;
    rp->chance = set->read_repair_chance;
    rp->hints_max = (set->hints_max + (uint64_t)set->num_threads - 1) /
                    (uint64_t)(set->num_threads > 0 ? set->num_threads : 1);
    rng_seed(&rp->rng, mctime_mono_ms() ^ (uintptr_t)rp);
    rp->fetch = fetch;
    buf_init(&rp->enc);
    buf_init(&rp->value);
    rp->tick = event_new(base, -1, EV_PERSIST, hint_tick, rp);
    if (rp->tick == NULL || event_add(rp->tick, &tv) != 0) {
        repl_free(rp);
        return -ENOMEM;
    }
    *out = rp;
    return 0;
}

void repl_stop(struct repl *rp)
{
    if (rp != NULL && rp->tick != NULL) {
        event_free(rp->tick);
        rp->tick = NULL;
    }
}

void repl_free(struct repl *rp)
{
    if (rp == NULL)
        return;
    repl_stop(rp);
    for (size_t i = 0; i < rp->nlists; i++) {
        struct hint *h = rp->hints[i].head;
        while (h != NULL) {
            struct hint *next = h->next;
            free(h);
            h = next;
        }
    }
    free(rp->hints);
    buf_free(&rp->enc);
    buf_free(&rp->value);
    free(rp);
}
