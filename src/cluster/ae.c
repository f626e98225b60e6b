/*
 * ae: the anti-entropy thread: one exchange with one co-owner per
 * interval, and the answers to the others' exchanges.
 */
#include "cluster/ae.h"
#include "cluster/ae_internal.h"
#include "base/mctime.h"
#include "base/stats.h"
#include "cluster/aetree.h"
#include "cluster/cluster.h"
#include "cluster/gmsg.h"
#include "cluster/gossip.h"
#include "cluster/merkle.h"
#include "cluster/ring.h"
#include "cluster/transport.h"
#include "proto/aemsg.h"
#include "store/item.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The anti-entropy thread's nice value, above the workers' (0). */
#define AE_NICE 10
/* The loop's period while a handoff pass is under way. */
#define BUSY_WAIT_MS 10
/* Times one leaf is asked again in one exchange when the answers keep
 * stopping at their size within it (a leaf of more states than a message
 * holds). */
#define MAX_AGAIN 64

int ae_verbose(const struct ae *ae)
{
    return ae->verbose != NULL ? __atomic_load_n(ae->verbose, __ATOMIC_RELAXED) : 0;
}

uint64_t ae_layout(const struct ae *ae)
{
    return ae->tree != NULL ? aetree_layout(ae->tree) : 0;
}

/* ---- the store side ---- */

static int entries_add_key(struct entries *es, const char *key, size_t nkey,
                           uint8_t iflags, uint64_t version)
{
    if (es->n == es->cap) {
        size_t cap = es->cap != 0 ? 2 * es->cap : 64;
        struct entry *e = realloc(es->e, cap * sizeof(*e));
        if (e == NULL) {
            es->oom = true;
            return -ENOMEM;
        }
        es->e = e;
        es->cap = cap;
    }
    memcpy(es->e[es->n].key, key, nkey);
    es->e[es->n].nkey = (uint8_t)nkey;
    es->e[es->n].iflags = iflags & AEMSG_IFLAGS;
    es->e[es->n].version = version;
    es->e[es->n].seen = false;
    es->n++;
    return 0;
}

static int entries_add(struct entries *es, const struct item *it)
{
    return entries_add_key(es, it->data, it->nkey, it->iflags, it->cas);
}

struct leaf_scan {
    struct ae *ae;
    const char *peer;
    struct entries *es;
};

static void leaf_cb(void *arg, const struct item *it)
{
    struct leaf_scan *ls = arg;

    if (!ls->es->oom && aetree_shared(ls->ae->tree, it->data, it->nkey, ls->peer))
        entries_add(ls->es, it);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->nkey < y->nkey ? x->nkey : y->nkey);

    return c != 0 ? c : (int)x->nkey - (int)y->nkey;
}

/* The states this node holds in leaf that it shares with peer, sorted by
 * key, into ae->mine. Returns 0 or -ENOMEM. */
static int leaf_entries(struct ae *ae, unsigned leaf, const char *peer)
{
    struct leaf_scan ls = {.ae = ae, .peer = peer, .es = &ae->mine};

    ae->mine.n = 0;
    ae->mine.oom = false;
    store_scan_hash(ae->st, leaf, MERKLE_LEAF_BITS, leaf_cb, &ls);
    if (ae->mine.oom)
        return -ENOMEM;
    if (ae->mine.n > 1) /* an empty leaf may have no array at all */
        qsort(ae->mine.e, ae->mine.n, sizeof(*ae->mine.e), entry_cmp);
    return 0;
}

int ae_put_current(struct ae *ae, struct aemsg_writer *w, const char *key, size_t nkey)
{
    struct aemsg_state s = {.key = key, .nkey = nkey};
    struct buf v;
    int rc;

    ae_breathe(ae);
    buf_init(&v);
    if (!store_read_state(ae->st, key, nkey, &s.st, &v)) {
        buf_free(&v);
        return -ENOENT;
    }
    if (v.oom) {
        buf_free(&v);
        return -ENOMEM;
    }
    s.value = v.data;
    rc = aemsg_put_state(w, &s);
    buf_free(&v);
    return rc;
}

/* Whether a key this node does not hold would take memory it cannot
 * spare: it evicted in the last interval, or taking it would leave less
 * than a tenth of -m free (evicting for repair would churn the cache). */
static bool no_room_for(struct ae *ae, const struct aemsg_state *s)
{
    uint64_t need = (uint64_t)s->nkey + s->st.nvalue + 128;

    return ae->full || store_mem_free(ae->st) < need + store_mem_limit(ae->st) / 10;
}

/* Applies a received state, unless it is a key this node does not hold
 * and has no room for (see ae.h). Returns true when it was applied. */
static bool apply(struct ae *ae, const struct aemsg_state *s)
{
    struct store_state here;

    ae_breathe(ae);
    if (!(s->st.iflags & ITEM_TOMBSTONE) && no_room_for(ae, s) &&
        !store_read_state(ae->st, s->key, s->nkey, &here, NULL)) {
        stats_count(&ae->skipped_full, 1);
        return false;
    }
    if (store_apply_state(ae->st, s->key, s->nkey, &s->st, s->value, NULL) ==
        STORE_APPLIED) {
        stats_count(&ae->received, 1);
        return true;
    }
    return false;
}

/* ---- answering the others ---- */

static void answer(struct ae *ae, struct transport_served *s, struct aemsg_writer *w)
{
    size_t len = aemsg_end(w);

    stats_count(&ae->bytes_out, len);
    transport_answer(ae->wire, s, len > 0 ? ae->out : NULL, len);
}

static void serve_roots(struct ae *ae, struct aemsg_reader *r,
                        const struct aemsg_header *h, struct aemsg_writer *w)
{
    const struct merkle *t = ae->tree != NULL ? aetree_tree(ae->tree, h->sender) : NULL;
    uint64_t root, theirs[AEMSG_SEGMENTS], mine[MERKLE_FANOUT], leaves[MERKLE_FANOUT];
    uint32_t diff[MERKLE_FANOUT];
    size_t n;

    if (h->layout != ae_layout(ae)) {
        aemsg_set_status(w, AEMSG_LAYOUT_MISMATCH);
        return;
    }
    if (t == NULL || aemsg_read_roots(r, &root, theirs) != 1) {
        aemsg_set_status(w, AEMSG_NOT_READY);
        return;
    }
    merkle_segments(t, mine);
    n = merkle_diff(theirs, mine, MERKLE_FANOUT, diff);
    for (size_t i = 0; i < n; i++) {
        merkle_leaves(t, diff[i], leaves);
        if (aemsg_put_segment(w, diff[i], leaves) != 0)
            break; /* cannot happen: 64 segments always fit */
    }
}

/* KEYS: for each leaf, merges the sender's refs with this node's states:
 * what is newer here (or missing there) goes back whole, what is newer
 * there (or missing here) is asked for. */
static void serve_keys(struct ae *ae, struct aemsg_reader *r,
                       const struct aemsg_header *h, struct aemsg_writer *w)
{
    unsigned leaf;
    uint32_t nrefs;
    bool stopped = false;

    if (ae->tree == NULL) { /* one copy per key: nothing to compare */
        aemsg_set_status(w, AEMSG_NOT_READY);
        return;
    }
    if (h->layout != ae_layout(ae)) {
        aemsg_set_status(w, AEMSG_LAYOUT_MISMATCH);
        return;
    }
    while (!stopped && aemsg_read_leaf(r, &leaf, &nrefs) == 1) {
        struct aemsg_ref ref;
        size_t i;
        int more = aemsg_read_ref(r, &ref);
        if (leaf_entries(ae, leaf, h->sender) != 0) {
            aemsg_set_more(w, true);
            break;
        }
        /* their refs arrive in any order: sort-free merge by lookup */
        while (!stopped && more == 1) {
            struct entry probe = {.nkey = (uint8_t)ref.nkey};
            /* refs carry no value size: a small key's need stands for it */
            struct aemsg_state ref_size = {.nkey = ref.nkey};
            struct entry *mine;
            int rc = 0;
            memcpy(probe.key, ref.key, ref.nkey);
            mine = ae->mine.n == 0 ? NULL
                                   : bsearch(&probe, ae->mine.e, ae->mine.n,
                                             sizeof(probe), entry_cmp);
            if (mine == NULL) {
                /* missing here: wanted, unless it would not fit (a delete
                 * always does) */
                if ((ref.iflags & ITEM_TOMBSTONE) || !no_room_for(ae, &ref_size))
                    rc = aemsg_put_wanted(w, ref.key, ref.nkey);
            } else {
                mine->seen = true;
                if (mine->version < ref.version)
                    rc = aemsg_put_wanted(w, ref.key, ref.nkey);
                else if (mine->version > ref.version)
                    rc = ae_put_current(ae, w, ref.key, ref.nkey);
            }
            if (rc == -ENOSPC || w->len >= AE_MSG_TARGET) {
                aemsg_set_more(w, true);
                stopped = true;
            }
            more = aemsg_read_ref(r, &ref);
        }
        /* what they did not list at all */
        for (i = 0; !stopped && i < ae->mine.n; i++) {
            struct entry *e = &ae->mine.e[i];
            int rc;
            if (e->seen)
                continue;
            rc = ae_put_current(ae, w, e->key, e->nkey);
            if (rc == -ENOSPC || w->len >= AE_MSG_TARGET) {
                aemsg_set_more(w, true);
                stopped = true;
            }
        }
    }
}

static void serve_push(struct ae *ae, struct aemsg_reader *r, struct aemsg_writer *w)
{
    struct aemsg_state s;
    uint32_t applied = 0;

    while (aemsg_read_state(r, &s) == 1)
        applied += apply(ae, &s);
    aemsg_set_applied(w, applied);
}

void ae_serve_one(struct ae *ae, struct served *sv)
{
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_writer w;
    enum aemsg_type reply;

    stats_count(&ae->bytes_in, sv->len);
    if (aemsg_read_header(&r, sv->msg, sv->len, &h) != 0) {
        stats_count(&ae->dropped, 1);
        transport_answer(ae->wire, sv->s, NULL, 0);
        return;
    }
    switch (h.type) {
    case AEMSG_ROOTS:
        reply = AEMSG_ROOTS_ACK;
        break;
    case AEMSG_KEYS:
        reply = AEMSG_KEYS_ACK;
        break;
    case AEMSG_PUSH:
    case AEMSG_HANDOFF:
        reply = AEMSG_PUSH_ACK;
        break;
    default: /* an answer sent as a request */
        stats_count(&ae->dropped, 1);
        transport_answer(ae->wire, sv->s, NULL, 0);
        return;
    }
    aemsg_begin(&w, ae->out, AEMSG_MAX_SIZE, reply, ae->self, ae_layout(ae));
    if (h.type == AEMSG_ROOTS && ae->exchanging)
        aemsg_set_status(&w, AEMSG_BUSY); /* one exchange at a time: see ae.h */
    else if (reply == AEMSG_ROOTS_ACK)
        serve_roots(ae, &r, &h, &w);
    else if (reply == AEMSG_KEYS_ACK)
        serve_keys(ae, &r, &h, &w);
    else if (h.type == AEMSG_HANDOFF)
        ae_serve_handoff(ae, &r, &w);
    else
        serve_push(ae, &r, &w);
    answer(ae, sv->s, &w);
}

/* nng's thread: a request that will not be served (the thread stops, or
 * its queue is full) is answered BUSY at once, so that its sender (a node
 * handing off as it leaves, say) need not wait for its timeout; anything
 * malformed is dropped. */
static void answer_busy(struct ae *ae, struct transport_served *s, const char *msg,
                        size_t len)
{
    static const enum aemsg_type ack[] = {[AEMSG_ROOTS] = AEMSG_ROOTS_ACK,
                                          [AEMSG_KEYS] = AEMSG_KEYS_ACK,
                                          [AEMSG_PUSH] = AEMSG_PUSH_ACK,
                                          [AEMSG_HANDOFF] = AEMSG_PUSH_ACK};
    char out[AEMSG_HEADER_MAX + 16];
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_writer w;
    size_t n = 0;

    if (aemsg_read_header(&r, msg, len, &h) == 0 &&
        h.type < sizeof(ack) / sizeof(ack[0]) && ack[h.type] != 0 &&
        aemsg_begin(&w, out, sizeof(out), ack[h.type], ae->self, ae_layout(ae)) == 0 &&
        aemsg_set_status(&w, AEMSG_BUSY) == 0)
        n = aemsg_end(&w);
    stats_count(&ae->dropped, 1);
    transport_answer(ae->wire, s, n > 0 ? out : NULL, n);
}

/* nng's thread: a request arrived for us (its MAC checked). */
static void on_request(void *arg, struct transport_served *s, const char *msg, size_t len)
{
    struct ae *ae = arg;
    struct served *sv = malloc(sizeof(*sv) + len);

    if (sv == NULL) {
        transport_answer(ae->wire, s, NULL, 0);
        return;
    }
    sv->next = NULL;
    sv->s = s;
    sv->len = len;
    memcpy(sv->msg, msg, len);
    pthread_mutex_lock(&ae->lock);
    if (ae->stop || ae->nq >= QUEUE_MAX) {
        pthread_mutex_unlock(&ae->lock);
        free(sv);
        answer_busy(ae, s, msg, len);
        return;
    }
    if (ae->q_tail != NULL)
        ae->q_tail->next = sv;
    else
        ae->q_head = sv;
    ae->q_tail = sv;
    ae->nq++;
    pthread_cond_signal(&ae->cond);
    pthread_mutex_unlock(&ae->lock);
}

/* ---- asking the others ---- */

/* What the transport calls back with: the ask it answers. */
struct ask_token {
    struct ae *ae;
    uint64_t seq;
};

/* nng's thread: the answer to the thread's request, unless that ask was
 * given up meanwhile (the thread stopped). */
static void on_answer(void *arg, int status, const char *msg, size_t len)
{
    struct ask_token *tok = arg;
    struct ae *ae = tok->ae;
    char *copy = NULL;

    pthread_mutex_lock(&ae->lock);
    if (tok->seq == ae->ask_seq && !ae->answered) {
        copy = status == 0 ? malloc(len > 0 ? len : 1) : NULL;
        ae->status = status == 0 && copy == NULL ? -ENOMEM : status;
        if (copy != NULL)
            memcpy(copy, msg, len);
        free(ae->answer);
        ae->answer = copy;
        ae->answer_len = copy != NULL ? len : 0;
        ae->answered = true;
        pthread_cond_signal(&ae->cond);
    }
    pthread_mutex_unlock(&ae->lock);
    free(tok);
}

int ae_ask(struct ae *ae, const char *gaddr, size_t len, struct aemsg_reader *r,
           struct aemsg_header *h)
{
    struct ask_token *tok = malloc(sizeof(*tok));
    int rc;

    if (tok == NULL)
        return -ENOMEM;
    if (len == 0) {
        free(tok);
        return -EINVAL;
    }
    pthread_mutex_lock(&ae->lock);
    if (ae->abandon) { /* stopping: nothing more is asked */
        pthread_mutex_unlock(&ae->lock);
        free(tok);
        return -ECANCELED;
    }
    ae->answered = false;
    ae->waiting = true;
    *tok = (struct ask_token){.ae = ae, .seq = ++ae->ask_seq};
    pthread_mutex_unlock(&ae->lock);
    stats_count(&ae->bytes_out, len);
    rc = transport_request(ae->wire, gaddr, ae->out, len, ae->timeout_ms, on_answer, tok);
    pthread_mutex_lock(&ae->lock);
    if (rc != 0) {
        free(tok); /* never called back */
        ae->answered = true;
    }
    /* the transport calls back exactly once, at the latest at its timeout
     * or when it closes (after ae_stop()); a stopping thread does not wait
     * that long: the answer, should it come, is dropped (ae_free() runs
     * after the transport closed) */
    while (!ae->answered && !ae->abandon) {
        ae_serve_queued_locked(ae);
        if (!ae->answered && !ae->abandon)
            ae_wait_locked(ae, NULL);
    }
    if (!ae->answered) {
        ae->ask_seq++;
        rc = -ECANCELED;
    }
    ae->waiting = false;
    if (rc == 0)
        rc = ae->status;
    pthread_mutex_unlock(&ae->lock);
    if (rc != 0)
        return rc;
    stats_count(&ae->bytes_in, ae->answer_len);
    if (!ae->ho_leaving)
        ae_pace(ae, len + ae->answer_len);
    if (aemsg_read_header(r, ae->answer, ae->answer_len, h) != 0) {
        stats_count(&ae->dropped, 1);
        return -EPROTO;
    }
    return h->status == AEMSG_OK ? 0 : -EAGAIN;
}

/* Copies the wanted keys of an answer into ae->wanted. Returns 0 or
 * -ENOMEM. */
static int copy_wanted(struct ae *ae, struct aemsg_reader *r)
{
    const char *key;
    size_t nkey;

    ae->wanted.n = 0;
    ae->wanted.oom = false;
    while (aemsg_read_wanted(r, &key, &nkey) == 1)
        if (nkey <= KEY_MAX_LENGTH && entries_add_key(&ae->wanted, key, nkey, 0, 0) != 0)
            return -ENOMEM;
    return 0;
}

/* Sends the PUSH being built in w, if it holds anything, and starts the
 * next one. Returns 0 or what ae_ask() does. */
static int push(struct ae *ae, const char *gaddr, struct aemsg_writer *w, size_t *pushed)
{
    struct aemsg_reader r;
    struct aemsg_header h;
    int rc = 0;

    if (*pushed > 0) {
        stats_count(&ae->sent, *pushed);
        rc = ae_ask(ae, gaddr, aemsg_end(w), &r, &h);
    }
    *pushed = 0;
    aemsg_begin(w, ae->out, AEMSG_MAX_SIZE, AEMSG_PUSH, ae->self, ae_layout(ae));
    return rc;
}

/* The leaf of key. */
static uint32_t leaf_of_key(const char *key, size_t nkey)
{
    return merkle_leaf_of(store_hash(key, nkey));
}

/* How many of the leaves diff[0..n) (increasing) lie before leaf: those an
 * answer that stopped at its size in leaf finished. */
static size_t leaves_before(const uint32_t *diff, size_t n, uint32_t leaf)
{
    size_t k = 0;

    while (k < n && diff[k] < leaf)
        k++;
    return k;
}

/* KEYS for the leaves in diff[0..n): sends this node's refs, applies the
 * newer states that come back and pushes the ones asked for. Returns the
 * number of leaves it finished, or a negative errno. *more: the answer
 * stopped at its size; the answerer goes through the leaves in order, so
 * those before the last one its answer touched are finished, and the next
 * ask starts at that one (its refs then include what was just taken),
 * instead of going over the finished ones again. */
static int sync_leaves(struct ae *ae, const char *peer, const char *gaddr,
                       const uint32_t *diff, size_t n, bool *more)
{
    struct aemsg_writer w, mark;
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_state s;
    const char *key;
    size_t nkey, done = 0, pushed = 0;
    uint32_t last = 0; /* the furthest leaf the answer touched */
    int rc;

    aemsg_begin(&w, ae->out, AEMSG_MAX_SIZE, AEMSG_KEYS, ae->self, ae_layout(ae));
    while (done < n) {
        mark = w;
        if (leaf_entries(ae, diff[done], peer) != 0 ||
            aemsg_put_leaf(&w, diff[done]) != 0)
            break;
        rc = 0;
        for (size_t i = 0; rc == 0 && i < ae->mine.n; i++) {
            struct aemsg_ref ref = {.key = ae->mine.e[i].key,
                                    .nkey = ae->mine.e[i].nkey,
                                    .version = ae->mine.e[i].version,
                                    .iflags = ae->mine.e[i].iflags};
            rc = aemsg_put_ref(&w, &ref);
        }
        if (rc != 0) {
            w = mark; /* this leaf goes in the next message */
            break;
        }
        done++;
        if (w.len >= AE_MSG_TARGET)
            break;
    }
    if (done == 0)
        return -E2BIG; /* one leaf holds more than a message: never compared */
    rc = ae_ask(ae, gaddr, aemsg_end(&w), &r, &h);
    if (rc != 0)
        return rc;
    *more = h.more;
    while (aemsg_read_state(&r, &s) == 1) {
        apply(ae, &s);
        if (h.more && leaf_of_key(s.key, s.nkey) > last)
            last = leaf_of_key(s.key, s.nkey);
    }
    /* the wanted keys are read from the answer, which stays until the next
     * ask(): copied first, as the PUSHes that carry them are asks too */
    rc = copy_wanted(ae, &r);
    if (rc != 0)
        return rc;
    for (size_t i = 0; h.more && i < ae->wanted.n; i++)
        if (leaf_of_key(ae->wanted.e[i].key, ae->wanted.e[i].nkey) > last)
            last = leaf_of_key(ae->wanted.e[i].key, ae->wanted.e[i].nkey);
    if (h.more)
        done = leaves_before(diff, done, last);
    push(ae, gaddr, &w, &pushed);
    for (size_t i = 0; i < ae->wanted.n; i++) {
        key = ae->wanted.e[i].key;
        nkey = ae->wanted.e[i].nkey;
        rc = ae_put_current(ae, &w, key, nkey);
        if (rc == -ENOSPC && pushed > 0 && (rc = push(ae, gaddr, &w, &pushed)) == 0)
            rc = ae_put_current(ae, &w, key, nkey);
        pushed += rc == 0;
        if (w.len >= AE_MSG_TARGET && (rc = push(ae, gaddr, &w, &pushed)) != 0)
            return rc;
    }
    rc = push(ae, gaddr, &w, &pushed);
    return rc != 0 ? rc : (int)done;
}

/* One exchange with peer: returns 0 or a negative errno (-EBUSY: the
 * peer was busy, in an exchange of its own, say). */
static int exchange_with(struct ae *ae, const char *peer)
{
    const struct merkle *t = aetree_tree(ae->tree, peer);
    uint64_t seg[MERKLE_FANOUT], theirs[MERKLE_FANOUT], mine[MERKLE_FANOUT];
    uint32_t *diff = NULL, idx[MERKLE_FANOUT];
    struct aemsg_writer w;
    struct aemsg_reader r;
    struct aemsg_header h = {.status = AEMSG_OK};
    char gaddr[GMSG_MAX_ADDR + 1];
    unsigned index;
    size_t ndiff = 0;
    int rc;

    if (t == NULL || !gossip_gaddr(ae->g, peer, gaddr, sizeof(gaddr)))
        return -ENOENT;
    merkle_segments(t, seg);
    aemsg_begin(&w, ae->out, AEMSG_MAX_SIZE, AEMSG_ROOTS, ae->self, ae_layout(ae));
    aemsg_put_roots(&w, merkle_root(t), seg);
    stats_count(&ae->exchanges, 1);
    rc = ae_ask(ae, gaddr, aemsg_end(&w), &r, &h);
    if (rc == -EAGAIN && h.status == AEMSG_BUSY)
        return -EBUSY;
    if (rc != 0)
        return rc;
    if (h.count == 0) {
        stats_count(&ae->in_sync, 1);
        return 0;
    }
    diff = malloc(MERKLE_LEAVES * sizeof(*diff));
    if (diff == NULL)
        return -ENOMEM;
    while (aemsg_read_segment(&r, &index, theirs) == 1) {
        size_t n;
        merkle_leaves(t, index, mine);
        n = merkle_diff(theirs, mine, MERKLE_FANOUT, idx);
        for (size_t i = 0; i < n; i++)
            diff[ndiff++] = index * MERKLE_FANOUT + idx[i];
    }
    stats_count(&ae->leaves, ndiff);
    for (size_t at = 0, again = 0; at < ndiff;) {
        bool more = false;
        rc = sync_leaves(ae, peer, gaddr, diff + at, ndiff - at, &more);
        if (rc == -E2BIG) {
            at++; /* skip a leaf too big for one message */
            continue;
        }
        if (rc < 0)
            break;
        at += (size_t)rc;
        /* an answer cut at its size within the first leaf asked: that leaf
         * again, a bounded number of times (the rest of a leaf that big
         * waits for the next exchange) */
        if (rc > 0 || !more)
            again = 0;
        else if (again++ >= MAX_AGAIN) {
            again = 0;
            at++;
        }
        rc = 0;
    }
    free(diff);
    return rc;
}

static int exchange(struct ae *ae, const char *peer)
{
    int rc;

    ae->exchanging = true;
    rc = exchange_with(ae, peer);
    ae->exchanging = false;
    return rc;
}

/* The next node of the ring to compare with (round robin, skipping this
 * one and those down), into peer; false when there is none. */
static bool next_peer(struct ae *ae, char *peer, size_t cap)
{
    struct ring *r = ring_acquire(ae->ring);
    size_t n = r != NULL ? ring_node_count(r) : 0;
    bool found = false;

    for (size_t k = 0; k < n && !found; k++) {
        const struct ring_node *node = ring_node(r, ae->next_peer++ % n);
        if (!node->down && strcmp(node->id, ae->self) != 0 && strlen(node->id) < cap) {
            memcpy(peer, node->id, strlen(node->id) + 1);
            found = true;
        }
    }
    ring_release(r);
    return found;
}

/* One pass of the thread's loop: a tree exchange when one is due, and a
 * step of handoff. Returns whether handoff has more to do now. */
static bool interval(struct ae *ae)
{
    struct store_stats ss;
    char peer[AEMSG_MAX_ID + 1];
    uint64_t now = mctime_mono_ms();
    bool more = false;
    int rc;

    if (ae->handoff)
        more = ae_handoff_step(ae, (uint64_t)ae->bytes_per_sec * ae->interval_ms / 1000);
    if (ae->tree == NULL || now - ae->last_exchange_ms < ae->interval_ms)
        return more;
    ae->last_exchange_ms = now;
    store_get_stats(ae->st, &ss);
    ae->full = ss.evictions > ae->evictions;
    ae->evictions = ss.evictions;
    if (aetree_sync(ae->tree, ae->ring) > 0 && ae_verbose(ae) > 0)
        fprintf(stderr, "meshcached: anti-entropy trees rebuilt for layout %016llx\n",
                (unsigned long long)ae_layout(ae));
    /* A node without room would be sent the keys it lacks only to drop
     * them: it waits for the others' exchanges, in which it still takes
     * deletes and newer versions of what it holds, and gives its own. */
    if (ae->full || store_mem_free(ae->st) < store_mem_limit(ae->st) / 10)
        return more;
    if (!next_peer(ae, peer, sizeof(peer)))
        return more;
    rc = exchange(ae, peer);
    if (rc == -EBUSY)
        stats_count(&ae->busy, 1);
    else if (rc != 0 && rc != -ENOENT) {
        stats_count(&ae->errors, 1);
        if (ae_verbose(ae) > 1)
            fprintf(stderr, "meshcached: anti-entropy with %s: %s\n", peer,
                    strerror(-rc));
    }
    return more;
}

static void *ae_main(void *arg)
{
    struct ae *ae = arg;

    pthread_setname_np(pthread_self(), "mc-ae");
    /* Background work: on a busy CPU the workers go first (Linux gives a
     * thread its own nice value); repair slows down, clients do not. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), AE_NICE) != 0 &&
        ae_verbose(ae) > 1)
        fprintf(stderr, "meshcached: anti-entropy keeps the workers' priority: %s\n",
                strerror(errno));
    duty_init(&ae->duty, AE_BUSY_CPU_PCT);
    pthread_mutex_lock(&ae->lock);
    while (!ae->stop) {
        struct timespec until;
        uint64_t wait_ms;
        bool busy;
        pthread_mutex_unlock(&ae->lock);
        /* every ask paced itself (ae_ask()); a handoff under way goes on
         * at once, not an interval later */
        busy = interval(ae);
        wait_ms = busy ? BUSY_WAIT_MS : ae->interval_ms;
        mctime_deadline(&until, wait_ms);
        pthread_mutex_lock(&ae->lock);
        ae_serve_until_locked(ae, &until);
    }
    pthread_mutex_unlock(&ae->lock);
    duty_fini(&ae->duty);
    return NULL;
}

/* ---- life ---- */

int ae_new(const struct ae_config *cfg, struct ae **out)
{
    struct ae *ae = calloc(1, sizeof(*ae));
    struct aetree_config tc = {
        .st = cfg->st, .self = cfg->self, .replicas = cfg->replicas};

    if (ae == NULL)
        return -ENOMEM;
    ae->st = cfg->st;
    ae->ring = cfg->ring;
    ae->duty.fd = -1; /* measures the thread once it runs */
    snprintf(ae->self, sizeof(ae->self), "%s", cfg->self);
    /* without tree exchanges the loop still paces handoff by an interval */
    ae->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 1000;
    ae->handoff = cfg->handoff;
    ae->replicas = cfg->replicas;
    ae->cl = cfg->cl;
    ae->bytes_per_sec = cfg->bytes_per_sec > 0 ? cfg->bytes_per_sec : 1;
    ae->timeout_ms = cfg->timeout_ms;
    ae->verbose = cfg->verbose;
    pthread_mutex_init(&ae->lock, NULL);
    pthread_cond_init(&ae->cond, NULL);
    ae->out = malloc(AEMSG_MAX_SIZE);
    if (ae->out == NULL ||
        (cfg->replicas > 1 && cfg->interval_ms > 0 && aetree_new(&tc, &ae->tree) != 0)) {
        ae_free(ae);
        return -ENOMEM;
    }
    *out = ae;
    return 0;
}

int ae_start(struct ae *ae, struct gossip *g)
{
    ae->g = g;
    ae->wire = gossip_wire(g);
    if (ae->wire == NULL)
        return -1;
    if (ae->tree != NULL)
        aetree_sync(ae->tree, ae->ring); /* trees for the ring as it is now */
    gossip_share_port(ae->g, "MCa", on_request, ae);
    if (pthread_create(&ae->thread, NULL, ae_main, ae) != 0)
        return -1;
    ae->started = true;
    return 0;
}

/* Stops the thread, which gives up an ask under way; what is queued
 * stays, unanswered. */
static void stop_thread(struct ae *ae)
{
    pthread_mutex_lock(&ae->lock);
    ae->stop = true;
    ae->abandon = true;
    pthread_cond_signal(&ae->cond);
    pthread_mutex_unlock(&ae->lock);
    if (ae->started)
        pthread_join(ae->thread, NULL);
    ae->started = false;
    pthread_mutex_lock(&ae->lock);
    ae->abandon = false; /* the leaving handoff's asks wait for answers */
    pthread_mutex_unlock(&ae->lock);
}

void ae_leave(struct ae *ae, uint32_t timeout_ms)
{
    if (ae == NULL)
        return;
    stop_thread(ae);
    if (ae->handoff && ae->wire != NULL && timeout_ms > 0)
        ae_handoff_leave(ae, timeout_ms);
}

void ae_stop(struct ae *ae)
{
    if (ae == NULL || ae->stopped)
        return;
    gossip_unshare_port(ae->g); /* no request reaches on_request() from now on */
    stop_thread(ae);
    /* requests still queued get no answer: their senders time out */
    while (ae->q_head != NULL) {
        struct served *sv = ae->q_head;
        ae->q_head = sv->next;
        transport_answer(ae->wire, sv->s, NULL, 0);
        free(sv);
    }
    ae->stopped = true;
}

void ae_free(struct ae *ae)
{
    if (ae == NULL)
        return;
    ae_stop(ae);
    aetree_free(ae->tree);
    ae_handoff_fini(ae);
    free(ae->answer);
    free(ae->out);
    free(ae->mine.e);
    free(ae->wanted.e);
    pthread_cond_destroy(&ae->cond);
    pthread_mutex_destroy(&ae->lock);
    free(ae);
}

void ae_stats(struct ae *ae, struct buf *out)
{
#define AE_STAT(name)                                                                    \
    stats_line(out, "ae_" #name, "%llu", (unsigned long long)stats_counted(&ae->name));
    stats_line(out, "ae_layout", "%016llx", (unsigned long long)ae_layout(ae));
    AE_STAT(exchanges)
    AE_STAT(in_sync)
    AE_STAT(leaves)
    AE_STAT(sent)
    AE_STAT(received)
    AE_STAT(skipped_full)
    AE_STAT(bytes_out)
    AE_STAT(bytes_in)
    AE_STAT(errors)
    AE_STAT(dropped)
    AE_STAT(busy)
    stats_line(out, "handoff_passes", "%llu",
               (unsigned long long)stats_counted(&ae->ho_passes));
    stats_line(out, "handoff_progress", "%u",
               __atomic_load_n(&ae->ho_progress, __ATOMIC_RELAXED));
    stats_line(out, "handoff_sent", "%llu",
               (unsigned long long)stats_counted(&ae->ho_sent));
    stats_line(out, "handoff_received", "%llu",
               (unsigned long long)stats_counted(&ae->ho_received));
    stats_line(out, "handoff_dropped", "%llu",
               (unsigned long long)stats_counted(&ae->ho_dropped));
    stats_line(out, "handoff_failed", "%llu",
               (unsigned long long)stats_counted(&ae->ho_failed));
    stats_line(out, "receiving", "%d", ae->cl != NULL && cluster_receiving(ae->cl));
#undef AE_STAT
}
