/*
 * ae_handoff: range streaming and leave handoff, on the anti-entropy
 * thread. Items go to the nodes that own them now, and the node that gave
 * them drops its copy once they took them.
 *
 * After every change of the ring (a member joined, came back, went down
 * or left) this node walks its store, one shard per step, and sends every
 * item or tombstone it holds but does not own (it is none of the key's
 * --replicas first live nodes) to the key's live owners in HANDOFF
 * messages (proto/aemsg.h), which they apply newest-wins even if they must
 * evict for it: they own it. Once every owner acknowledged, the copy here
 * is dropped unless it changed meanwhile (store_drop_version()). So a node
 * that joins gets its ranges from the nodes that served them, a node that
 * comes back gets back what was written to the others while it was away
 * (with one copy per key too, where anti-entropy has nothing to compare),
 * and no node keeps stale copies of keys it gave up.
 *
 * A pass that moved or failed to move something is followed by another
 * one an interval later (writes routed by a view of the ring that was not
 * yet updated still land on the old owner), up to MAX_ROUNDS; a pass that
 * finds nothing to move ends it. An owner that fails a request is skipped
 * for the rest of the pass. The bytes a step sends count against
 * -o ae_bytes_per_sec like an exchange's.
 *
 * Leaving (ae_leave()): one pass at full speed in which this node counts
 * itself gone: what it owns goes to the nodes that own it once it is gone
 * (those that do not own it already: the others have their copy), what it
 * holds without owning to the owners; bounded by -o handoff_timeout_ms.
 */
#include "base/mctime.h"
#include "base/stats.h"
#include "cluster/ae_internal.h"
#include "cluster/cluster.h"
#include "cluster/gmsg.h"
#include "cluster/gossip.h"
#include "cluster/ring.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS   8 /* passes after one ring change, while they move items */
#define MAX_TARGETS  RING_MAX_HANDOFF /* --replicas at most */
#define ROUND_GAP_MS 1000
#define PROBE_MS     300  /* leaving: how long a node may take to say it takes */
#define LEAVE_REQ_MS 2000 /* leaving: how long one batch may take */

/* An item of the shard being walked, and where it goes. */
struct ho_entry {
    char key[KEY_MAX_LENGTH];
    uint8_t nkey;
    uint8_t ntargets;
    bool failed; /* an owner did not take it: kept here */
    bool gone;   /* nothing to send any more (expired, deleted here) */
    bool in_msg; /* in the message being sent */
    uint64_t version;
    uint32_t target[MAX_TARGETS]; /* ring node indices */
};

/* How one walk decides, for the ring it holds. */
struct ho_walk {
    struct ae *ae;
    const struct ring *r;
    size_t self; /* this node's index in r */
    bool leaving;
    bool *down; /* leaving: the ring's down flags, this node's set */
    bool oom;
};

static bool has(const uint32_t *set, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == v)
            return true;
    return false;
}

/* Under the shard's lock: notes an item that goes elsewhere. */
static void walk_cb(void *arg, const struct item *it)
{
    struct ho_walk *w = arg;
    struct ae *ae = w->ae;
    struct ho_entry *e;
    size_t t[MAX_TARGETS], n;

    if (it == NULL || w->oom)
        return;
    n = ring_handoff_targets(w->r, ring_hash(it->data, it->nkey), w->self, ae->replicas,
                             w->leaving ? w->down : NULL, t);
    if (n == 0)
        return;
    if (ae->ho_n == ae->ho_cap) {
        size_t cap = ae->ho_cap != 0 ? 2 * ae->ho_cap : 256;
        struct ho_entry *grown = realloc(ae->ho, cap * sizeof(*grown));
        if (grown == NULL) {
            w->oom = true;
            return;
        }
        ae->ho = grown;
        ae->ho_cap = cap;
    }
    e = &ae->ho[ae->ho_n++];
    memcpy(e->key, it->data, it->nkey);
    e->nkey = it->nkey;
    e->version = it->cas;
    e->ntargets = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        e->target[i] = (uint32_t)t[i];
    e->failed = e->gone = e->in_msg = false;
}

/* Sends the HANDOFF built in ae->out to node; marks its entries failed
 * when the node did not take them. */
static void send_msg(struct ae *ae, struct aemsg_writer *mw, const char *gaddr,
                     uint32_t node, size_t nsent)
{
    struct aemsg_reader r;
    struct aemsg_header h;
    int rc = ae_ask(ae, gaddr, aemsg_end(mw), &r, &h);

    for (size_t i = 0; i < ae->ho_n; i++) {
        struct ho_entry *e = &ae->ho[i];
        if (e->in_msg && rc != 0)
            e->failed = true;
        e->in_msg = false;
    }
    if (rc == 0) {
        stats_count(&ae->ho_sent, nsent);
        return;
    }
    stats_count(&ae->ho_failed, nsent);
    if (node < ae->ho_nbad)
        ae->ho_bad[node] = true;
    if (ae_verbose(ae) > 1)
        fprintf(stderr, "meshcached: handoff to %s: %s\n", gaddr, strerror(-rc));
}

/* Leaving: before the first batch to a node, an empty HANDOFF, answered at
 * once by a node that takes handoffs; one that does not answer within
 * PROBE_MS (it exited, hangs, or is leaving too: BUSY) is skipped, so that
 * the pass waits on no batch that cannot succeed. Only the nodes that
 * something goes to are asked. Returns whether node takes handoffs. */
static bool probe(struct ae *ae, uint32_t node, const char *gaddr)
{
    uint32_t timeout = ae->timeout_ms;
    uint64_t now = mctime_mono_ms();
    struct aemsg_writer mw;
    struct aemsg_reader rd;
    struct aemsg_header h;
    bool ok;

    if (!ae->ho_leaving || ae->ho_ok[node])
        return true;
    if (now >= ae->ho_deadline)
        return false;
    ae->timeout_ms =
        (uint32_t)(ae->ho_deadline - now < PROBE_MS ? ae->ho_deadline - now : PROBE_MS);
    aemsg_begin(&mw, ae->out, AEMSG_MAX_SIZE, AEMSG_HANDOFF, ae->self, ae_layout(ae));
    ok = ae_ask(ae, gaddr, aemsg_end(&mw), &rd, &h) == 0;
    ae->timeout_ms = timeout;
    ae->ho_ok[node] = ok;
    return ok;
}

static bool is_bad(const struct ae *ae, uint32_t node)
{
    return node < ae->ho_nbad && ae->ho_bad[node];
}

/* node takes nothing more in this pass: what was to go there stays. */
static void fail_node(struct ae *ae, uint32_t node)
{
    if (node < ae->ho_nbad)
        ae->ho_bad[node] = true;
    for (size_t i = 0; i < ae->ho_n; i++)
        if (has(ae->ho[i].target, ae->ho[i].ntargets, node))
            ae->ho[i].failed = true;
}

/* Sends what mw holds (nsent states) to node and starts the next message.
 * Returns false when node failed. */
static bool flush(struct ae *ae, struct aemsg_writer *mw, const char *gaddr,
                  uint32_t node, size_t *nsent)
{
    if (*nsent > 0)
        send_msg(ae, mw, gaddr, node, *nsent);
    *nsent = 0;
    aemsg_begin(mw, ae->out, AEMSG_MAX_SIZE, AEMSG_HANDOFF, ae->self, ae_layout(ae));
    return !is_bad(ae, node);
}

/* Sends the walked entries that go to node. */
static void send_to(struct ae *ae, const struct ring *r, uint32_t node)
{
    char gaddr[GMSG_MAX_ADDR + 1];
    struct aemsg_writer mw;
    size_t nsent = 0;

    if (is_bad(ae, node) ||
        !gossip_gaddr(ae->g, ring_node(r, node)->id, gaddr, sizeof(gaddr)) ||
        !probe(ae, node, gaddr)) {
        fail_node(ae, node);
        return;
    }
    flush(ae, &mw, gaddr, node, &nsent);
    for (size_t i = 0; i < ae->ho_n; i++) {
        struct ho_entry *e = &ae->ho[i];
        int rc;
        if (e->gone || e->failed || !has(e->target, e->ntargets, node))
            continue;
        rc = ae_put_current(ae, &mw, e->key, e->nkey);
        if (rc == -ENOSPC && nsent > 0) {
            if (!flush(ae, &mw, gaddr, node, &nsent))
                break;
            rc = ae_put_current(ae, &mw, e->key, e->nkey);
        }
        if (rc == 0) {
            e->in_msg = true;
            nsent++;
            /* a short message: a short burst of work on both sides */
            if (mw.len >= AE_MSG_TARGET && !flush(ae, &mw, gaddr, node, &nsent))
                break;
        } else if (rc == -ENOENT) {
            e->gone = true;
        } else {
            e->failed = true; /* a value no message carries (-E2BIG) */
        }
    }
    flush(ae, &mw, gaddr, node, &nsent);
    if (is_bad(ae, node))
        fail_node(ae, node);
}

/* Walks one shard and moves what goes elsewhere. Returns whether it found
 * anything to move. */
static bool move_shard(struct ae *ae, struct ho_walk *w, uint32_t shard)
{
    uint32_t done[MAX_TARGETS * 4];
    size_t ndone = 0;
    bool any;

    ae->ho_n = 0;
    w->oom = false;
    store_scan_shard(ae->st, shard, walk_cb, w);
    any = ae->ho_n > 0 || w->oom;
    /* each target once, in the order the entries name them */
    for (size_t i = 0; i < ae->ho_n; i++)
        for (size_t j = 0; j < ae->ho[i].ntargets; j++) {
            uint32_t node = ae->ho[i].target[j];
            if (has(done, ndone, node))
                continue;
            send_to(ae, w->r, node);
            if (ndone < sizeof(done) / sizeof(done[0]))
                done[ndone++] = node;
        }
    if (!w->leaving)
        for (size_t i = 0; i < ae->ho_n; i++) {
            struct ho_entry *e = &ae->ho[i];
            if (!e->failed && !e->gone &&
                store_drop_version(ae->st, e->key, e->nkey, e->version))
                stats_count(&ae->ho_dropped, 1);
        }
    for (size_t i = 0; i < ae->ho_n; i++)
        ae->ho_moved |= ae->ho[i].failed || !ae->ho[i].gone;
    return any;
}

/* Starts a pass over ring r: every node good again. */
static int pass_begin(struct ae *ae, const struct ring *r)
{
    size_t n = ring_node_count(r);

    if (n > ae->ho_nbad) {
        bool *bad = realloc(ae->ho_bad, n * sizeof(*bad));
        bool *ok = bad != NULL ? realloc(ae->ho_ok, n * sizeof(*ok)) : NULL;
        if (bad != NULL)
            ae->ho_bad = bad;
        if (ok == NULL)
            return -ENOMEM;
        ae->ho_ok = ok;
    }
    ae->ho_nbad = n;
    memset(ae->ho_bad, 0, n * sizeof(*ae->ho_bad));
    memset(ae->ho_ok, 0, n * sizeof(*ae->ho_ok));
    ae->ho_shard = 0;
    ae->ho_moved = false;
    __atomic_store_n(&ae->ho_progress, 0, __ATOMIC_RELAXED);
    stats_count(&ae->ho_passes, 1);
    return 0;
}

bool ae_handoff_step(struct ae *ae, uint64_t budget)
{
    struct ring *r = ring_acquire(ae->ring);
    struct ho_walk w = {.ae = ae, .r = r};
    uint64_t start = stats_counted(&ae->bytes_out);
    uint64_t now = mctime_mono_ms();
    bool busy;

    if (r == NULL)
        return false;
    if (ring_epoch(r) != ae->ho_epoch) {
        /* a new ring: a new series of passes, from the first shard */
        ae->ho_epoch = ring_epoch(r);
        ae->ho_rounds = 0;
        ae->ho_shard = STORE_SHARDS;
        ae->ho_next_ms = now;
    }
    if (ae->ho_shard == STORE_SHARDS) {
        if (ae->ho_rounds >= MAX_ROUNDS || now < ae->ho_next_ms ||
            ring_node_count(r) < 2 || pass_begin(ae, r) != 0) {
            ring_release(r);
            return false;
        }
        ae->ho_rounds++;
    }
    if (ring_node_index(r, ae->self, &w.self) != 0) {
        ring_release(r); /* not in its own ring: moves nothing */
        return false;
    }
    do {
        move_shard(ae, &w, ae->ho_shard++);
        __atomic_store_n(&ae->ho_progress, ae->ho_shard, __ATOMIC_RELAXED);
    } while (ae->ho_shard < STORE_SHARDS &&
             stats_counted(&ae->bytes_out) - start < budget);
    if (ae->ho_shard == STORE_SHARDS) {
        /* nothing left to move: the series ends; else another pass later */
        if (!ae->ho_moved)
            ae->ho_rounds = MAX_ROUNDS;
        ae->ho_next_ms = now + ROUND_GAP_MS;
    }
    busy = ae->ho_shard < STORE_SHARDS;
    ring_release(r);
    return busy;
}

void ae_serve_handoff(struct ae *ae, struct aemsg_reader *r, struct aemsg_writer *w)
{
    struct aemsg_state s;
    uint32_t applied = 0;

    if (ae->cl != NULL)
        cluster_note_handoff(ae->cl);
    while (aemsg_read_state(r, &s) == 1)
        if (store_apply_state(ae->st, s.key, s.nkey, &s.st, s.value, NULL) ==
            STORE_APPLIED)
            applied++;
    stats_count(&ae->ho_received, applied);
    aemsg_set_applied(w, applied);
}

/* Leaving: the nodes that left (or died) since the walk's ring was taken
 * are skipped, so that a whole cluster stopping at once does not wait for
 * each other's timeouts. */
static void skip_gone(struct ae *ae, const struct ring *r)
{
    struct ring *cur = ring_acquire(ae->ring);

    for (size_t i = 0; i < ae->ho_nbad; i++) {
        size_t j;
        if (cur == NULL || ring_node_index(cur, ring_node(r, i)->id, &j) != 0 ||
            ring_node(cur, j)->down)
            ae->ho_bad[i] = true;
    }
    ring_release(cur);
}

void ae_handoff_leave(struct ae *ae, uint32_t timeout_ms)
{
    struct ring *r = ring_acquire(ae->ring);
    uint64_t deadline = mctime_mono_ms() + timeout_ms, t0 = mctime_mono_ms();
    uint64_t sent = stats_counted(&ae->ho_sent), failed = stats_counted(&ae->ho_failed);
    uint32_t timeout = ae->timeout_ms, shard = 0;
    struct ho_walk w = {.ae = ae, .r = r, .leaving = true};
    size_t n = r != NULL ? ring_node_count(r) : 0;

    if (n < 2 || ring_node_index(r, ae->self, &w.self) != 0 || pass_begin(ae, r) != 0 ||
        (w.down = calloc(n, sizeof(bool))) == NULL) {
        ring_release(r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        w.down[i] = ring_node(r, i)->down || strcmp(ring_node(r, i)->id, ae->self) == 0;
        ae->ho_bad[i] = ring_node(r, i)->down;
    }
    ae->ho_leaving = true;
    ae->ho_deadline = deadline;
    for (; shard < STORE_SHARDS; shard++) {
        uint64_t now = mctime_mono_ms();
        if (now >= deadline)
            break;
        /* no request may outlast the bound */
        ae->timeout_ms =
            (uint32_t)(deadline - now < LEAVE_REQ_MS ? deadline - now : LEAVE_REQ_MS);
        skip_gone(ae, r);
        move_shard(ae, &w, shard);
        __atomic_store_n(&ae->ho_progress, shard + 1, __ATOMIC_RELAXED);
    }
    ae->timeout_ms = timeout;
    ae->ho_leaving = false;
    if (ae_verbose(ae) > 0 || shard < STORE_SHARDS ||
        stats_counted(&ae->ho_failed) > failed)
        fprintf(
            stderr,
            "meshcached: leaving: handed off %llu items in %llu ms (%u of %u shards), "
            "%llu not taken\n",
            (unsigned long long)(stats_counted(&ae->ho_sent) - sent),
            (unsigned long long)(mctime_mono_ms() - t0), shard, STORE_SHARDS,
            (unsigned long long)(stats_counted(&ae->ho_failed) - failed));
    free(w.down);
    ring_release(r);
}

void ae_handoff_fini(struct ae *ae)
{
    free(ae->ho);
    free(ae->ho_bad);
    free(ae->ho_ok);
    ae->ho = NULL;
    ae->ho_bad = NULL;
    ae->ho_ok = NULL;
}
