/*
 * proxy: forwarding client commands to their keys' owners and relaying the
 * owners' replies; a multi-get over several owners is split per owner and
 * reassembled in the client's key order.
 */
#include "cluster/proxy.h"
#include "cluster/proxy_internal.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/stats.h"
#include "cluster/cluster.h"
#include "cluster/collapse.h"
#include "cluster/fetch.h"
#include "cluster/fwdreq.h"
#include "cluster/hot.h"
#include "cluster/peer.h"
#include "cluster/repl.h"
#include "cluster/ring.h"
#include "cluster/ringview.h"
#include "cmd/cmd.h"
#include "proto/proto.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One owner's part of a multi-get. */
struct proxy_sub {
    uint32_t owner;  /* member slot; CLUSTER_SELF for the local part */
    struct buf data; /* its VALUE blocks (and END, from a peer) */
    size_t at;       /* assembly: the next block to look at */
};

/* One allocation: this struct, then subs, key_sub and the line. */
struct proxy_multi {
    struct proxy *px;
    char *line; /* a copy of the client's line */
    size_t len;
    size_t keys_off;
    size_t nkeys;
    uint32_t *key_sub;  /* per key, in order: which sub answers it */
    size_t nsubs, cap;  /* subs in use, and room (twice the first split's) */
    uint32_t local_sub; /* the sub answered here, once its quorum is in */
    bool sending;       /* proxy_fanout() is still sending the subs */
    bool return_cas, touch;
    int32_t touch_time;
    struct proxy_sub subs[];
};

#define SUB_OF_STACK 64 /* ring nodes mapped to subs without a malloc */

static const char mn_line[] = "mn\r\n";

/* A member's hello on one of this worker's connections: it must be the
 * member the cluster view knows at that address, with our ring layout. */
static bool worker_hello(void *arg, uint32_t member, const char *id, unsigned vnodes)
{
    struct proxy *px = arg;

    return vnodes == px->srv->settings.vnodes && cluster_member_is(px->cl, member, id);
}

int proxy_new(struct server *srv, struct event_base *base, struct thread_stats *stats,
              struct proxy **out)
{
    struct proxy *px = calloc(1, sizeof(*px));
    struct peer_set_config pc = {
        .base = base,
        .self_id = srv->settings.node_id,
        .vnodes = srv->settings.vnodes,
        .timeout_ms = srv->settings.peer_timeout_ms,
        .max_value = srv->settings.item_size_max,
        .hello = worker_hello,
        .addr = cluster_peer_addr,
        .addr_arg = srv->cluster,
        .auth_key = srv->peer_key_set ? srv->peer_key : NULL,
        .tls = srv->settings.ssl_enabled,
        .down = cluster_peer_down,
        .down_arg = srv->cluster,
    };

    if (px == NULL)
        return -ENOMEM;
    px->srv = srv;
    px->cl = srv->cluster;
    px->stats = stats;
    px->hot = srv->hot;
    pc.hello_arg = px;
    buf_init(&px->scratch);
    fwdreq_pool_init(&px->pool);
    ringview_init(&px->view, cluster_ring_ref(srv->cluster));
    px->collapse = collapse_new();
    if (px->collapse == NULL || peer_set_new(&pc, &px->peers) != 0) {
        collapse_free(px->collapse);
        free(px);
        return -ENOMEM;
    }
    ringview_watch(&px->view, px->peers);
    /* the fetcher even with one copy per key, for dual reads: it opens no
     * connection until one is needed */
    if (fetch_new(srv, stats, &px->pool, &px->view, &pc, &px->fetch) != 0 ||
        repl_new(srv, stats, &px->pool, &px->view, px->fetch, base, &px->repl) != 0) {
        proxy_free(px);
        return -ENOMEM;
    }
    *out = px;
    return 0;
}

bool proxy_replicates(const struct proxy *px)
{
    return px->repl != NULL;
}

bool proxy_routes_peer_lines(struct proxy *px)
{
    return px->repl != NULL || cluster_receiving(px->cl);
}

void proxy_free(struct proxy *px)
{
    if (px == NULL)
        return;
    repl_stop(px->repl);      /* no new work from its timer */
    fetch_stop(px->fetch);    /* answers what it has outstanding, sending nothing */
    peer_set_free(px->peers); /* answers, and so frees, what is outstanding */
    repl_free(px->repl);
    fetch_free(px->fetch);
    collapse_free(px->collapse); /* its gets were answered above */
    fwdreq_pool_fini(&px->pool);
    ringview_fini(&px->view);
    buf_free(&px->scratch);
    free(px);
}

const struct ring *proxy_ring(struct proxy *px)
{
    px->ring = ringview_get(&px->view);
    return px->ring;
}

/*
 * The node that serves a key here. With one copy, its owner. With
 * replication: for a read this node when it is one of the owners; else
 * (and for a write) the first owner that is this node or whose connection
 * is not backing off after a failure, so that an owner that just died is
 * passed over at once, before membership declares it dead.
 */
static size_t serving_node(struct proxy *px, const struct ring *r, const char *key,
                           size_t nkey, bool write)
{
    uint32_t hv = ring_hash(key, nkey);
    size_t idx[REPL_MAX_REPLICAS], n;
    unsigned replicas = px->repl != NULL ? repl_replicas(px->repl) : 1;

    if (replicas == 1 || ring_owners(r, hv, replicas, idx, &n) != 0)
        return ring_first_up(r, hv);
    if (!write)
        for (size_t i = 0; i < n; i++)
            if (ring_node(r, idx[i])->tag == CLUSTER_SELF)
                return idx[i];
    for (size_t i = 0; i < n; i++) {
        uint32_t tag = ring_node(r, idx[i])->tag;
        if (tag == CLUSTER_SELF || peer_available(px->peers, tag))
            return idx[i];
    }
    return idx[0];
}

static uint32_t owner_of(struct proxy *px, const struct ring *r, const char *key,
                         size_t nkey, bool write)
{
    size_t i = serving_node(px, r, key, nkey, write);

    return i == SIZE_MAX ? CLUSTER_SELF : ring_node(r, i)->tag;
}

/* Whether every key of a multi-get is served by this node. */
static bool all_keys_here(struct proxy *px, const struct ring *r, const char *line,
                          size_t len, const struct route_req *rr, uint32_t *first)
{
    size_t pos = rr->keys_off;
    const char *key;
    size_t nkey;
    bool here = true;

    *first = UINT32_MAX;
    while (route_next_key(line, len, &pos, &key, &nkey)) {
        uint32_t o = owner_of(px, r, key, nkey, false);
        if (*first == UINT32_MAX)
            *first = o;
        if (o != *first)
            here = false;
    }
    return here;
}

/* Whether this node's copy of the key is invalidated (md I): an mg of it
 * may win a lease, which only the key's first live owner decides. */
static bool stale_here(struct proxy *px, const char *key, size_t nkey)
{
    struct store_state s;

    return store_read_state(px->srv->store, key, nkey, &s, NULL) &&
           (s.iflags & ITEM_STALE) != 0;
}

/* A read served here (or any command, PROXY_LOCAL otherwise): while this
 * node receives ranges and one of its keys holds nothing here, a dual read
 * (PROXY_SYNC, which proxy_sync() tells from a quorum read). */
static enum proxy_decision local(struct proxy *px, const char *line, size_t len,
                                 const struct route_req *rr)
{
    if (!cluster_receiving(px->cl))
        return PROXY_LOCAL;
    /* a set overwrites whatever was there: a copy arriving later is older */
    if (rr->kind == ROUTE_KEY && rr->write)
        return !(len > 4 && memcmp(line, "set ", 4) == 0) &&
                       fetch_missing(px->fetch, rr->key, rr->nkey)
                   ? PROXY_PREFETCH
                   : PROXY_LOCAL;
    if (fetch_dual_wanted(px->fetch, line, len, rr))
        return PROXY_SYNC;
    return PROXY_LOCAL;
}

static void on_prefetched(void *arg, const char *err)
{
    (void)err;
    fwdreq_answered(arg);
}

struct fwdreq *proxy_prefetch(struct proxy *px, struct fwdreq_queue *q,
                              const struct route_req *rr)
{
    struct fwdreq *r = fwdreq_new(&px->pool, q, FWDREQ_WRITE);
    const char *key = rr->key;
    size_t nkey = rr->nkey;

    if (r == NULL)
        return NULL;
    fwdreq_expect(r, 2); /* the fetch, and a hold: it may end at once */
    if (fetch_dual_keys(px->fetch, &key, &nkey, 1, on_prefetched, r) != 0)
        fwdreq_unhold(r); /* no fetch: the write runs as it is */
    fwdreq_unhold(r);
    return r;
}

enum proxy_decision proxy_route(struct proxy *px, const char *line, size_t len,
                                bool from_peer, struct route_req *rr, uint32_t *owner)
{
    const struct ring *r;
    uint32_t first;
    bool sync = px->repl != NULL && repl_read_quorum(px->repl) > 1;

    if (route_classify(line, len, px->srv->settings.item_size_max, rr) != ROUTE_LOCAL &&
        !from_peer)
        proxy_sample(px, line, len, rr);
    switch (rr->kind) {
    case ROUTE_LOCAL:
        if (!from_peer && len >= 9 && memcmp(line, "flush_all", 9) == 0 &&
            (len == 9 || line[9] == ' '))
            return ring_node_count(proxy_ring(px)) < 2 ? PROXY_LOCAL : PROXY_BROADCAST;
        return PROXY_LOCAL;
    case ROUTE_KEY:
        /* now, while rr->key points into the line: a data block still to
         * come may move the buffer. No get sent before this write is
         * joined from now on. */
        if (rr->write && px->hot != NULL)
            hot_wrote(px->hot, rr->key, rr->nkey, ring_hash(rr->key, rr->nkey));
        if (from_peer) /* served here, as the forwarder decided */
            return sync && !rr->write ? PROXY_SYNC : local(px, line, len, rr);
        r = proxy_ring(px);
        if (ring_node_count(r) < 2)
            return PROXY_LOCAL;
        *owner = owner_of(px, r, rr->key, rr->nkey, rr->write || rr->lease);
        if (*owner == CLUSTER_SELF && rr->meta_get && px->repl != NULL &&
            stale_here(px, rr->key, rr->nkey)) /* its W is the first owner's */
            *owner = owner_of(px, r, rr->key, rr->nkey, true);
        if (*owner != CLUSTER_SELF)
            return PROXY_FORWARD;
        return sync && !rr->write ? PROXY_SYNC : local(px, line, len, rr);
    case ROUTE_MULTIGET:
        if (from_peer)
            return sync ? PROXY_SYNC : local(px, line, len, rr);
        r = proxy_ring(px);
        if (ring_node_count(r) < 2)
            return PROXY_LOCAL;
        if (!all_keys_here(px, r, line, len, rr, &first))
            return PROXY_FANOUT;
        if (first == CLUSTER_SELF)
            return sync ? PROXY_SYNC : local(px, line, len, rr);
        /* with copies, as a fan-out of one part: a part whose owner fails
         * goes on to its keys' next owners */
        if (px->repl != NULL && rr->nkeys > 1)
            return PROXY_FANOUT;
        *owner = first;
        rr->reply = PEER_REPLY_GET;
        rr->quiet = false;
        rr->noreply = false;
        return PROXY_FORWARD;
    }
    return PROXY_LOCAL;
}

/* How long a forwarded command may take: with replication, the owner may
 * itself wait up to peer_timeout_ms for the other owners before it
 * answers (a quorum error then), and that answer must not be cut off. */
uint32_t proxy_forward_timeout(const struct proxy *px)
{
    uint32_t t = px->srv->settings.peer_timeout_ms;

    return px->repl != NULL ? 2 * t + 100 : t;
}

/* Makes r's reply the error for a member that failed with status. */
void proxy_fail_with(struct proxy *px, struct fwdreq *r, uint32_t member, int status)
{
    char name[SETTINGS_MAX_ID_LEN + 16], line[SETTINGS_MAX_ID_LEN + 64];
    int n;

    if (fwdreq_failed(r))
        return;
    STATS_INCR(px->stats, forward_errors);
    cluster_member_name(px->cl, member, name, sizeof(name));
    n = snprintf(line, sizeof(line), "SERVER_ERROR peer %s %s\r\n", name,
                 peer_strerror(status));
    fwdreq_fail(r, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void multi_free(void *arg)
{
    struct proxy_multi *m = arg;

    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nsubs; i++)
        buf_free(&m->subs[i].data);
    free(m);
}

/* An owner's answer to a forwarded command, relayed as it is (for a quiet
 * command, without the MN of the appended mn), and r answered. */
void proxy_relay(struct fwdreq *r, const char *reply, size_t len)
{
    if (!fwdreq_orphan(r)) /* first in its connection's queue: straight out */
        buf_append(fwdreq_out(r), reply,
                   fwdreq_quiet(r) ? len - (sizeof(mn_line) - 1) : len);
    fwdreq_answered(r);
}

/* A forwarded command's answer. The request's private data is the proxy. */
static void on_answer(void *arg, uint32_t member, int status, bool error,
                      const char *reply, size_t len)
{
    struct fwdreq *r = arg;

    (void)error;
    if (status != 0) {
        proxy_fail_with(fwdreq_priv(r), r, member, status);
        fwdreq_answered(r);
        return;
    }
    proxy_relay(r, reply, len);
}

/*
 * A write forwarded under replication: its bytes are kept, so that when
 * the owner fails (cannot be reached, or does not answer in time) it runs
 * on the next live owner instead, here when that is this node (failover).
 * Each send is preceded by "rd <deadline>": an owner that gets it after
 * the deadline (it was paused, say, and the forwarder has moved on) does
 * not run it, so a late copy never overwrites what the next owner wrote.
 */
struct fwd_write {
    struct proxy *px;
    uint32_t tried[REPL_MAX_REPLICAS]; /* owners sent to, in order */
    size_t ntried;
    enum peer_reply_kind reply;
    bool noreply, quiet;
    uint8_t nkey;
    char key[KEY_MAX_LENGTH];
    size_t nraw;
    char raw[];
};

static void on_write_answer(void *arg, uint32_t member, int status, bool error,
                            const char *reply, size_t len);

/* Sends the write to owner with a fresh deadline. Returns 0 or what
 * peer_request_within() does. */
static int send_write(struct fwdreq *r, struct fwd_write *fw, uint32_t owner)
{
    struct proxy *px = fw->px;
    uint32_t timeout = proxy_forward_timeout(px);
    char dl[32];
    /* the owner must start it while this node still waits for its answer,
     * which may itself wait peer_timeout_ms for the other owners */
    int n = snprintf(dl, sizeof(dl), "rd %llu\r\n",
                     (unsigned long long)(mctime_wall_ms() + timeout -
                                          px->srv->settings.peer_timeout_ms));
    struct iovec iov[3] = {{.iov_base = dl, .iov_len = (size_t)n},
                           {.iov_base = fw->raw, .iov_len = fw->nraw},
                           {.iov_base = (void *)mn_line, .iov_len = sizeof(mn_line) - 1}};

    if (fw->ntried < REPL_MAX_REPLICAS)
        fw->tried[fw->ntried++] = owner;
    return peer_request_within(px->peers, owner, iov, fw->quiet ? 3 : 2,
                               fw->quiet ? PEER_REPLY_QUIET : fw->reply, on_write_answer,
                               r, owner, timeout);
}

/* The owner failed with status: the write goes to the next live owner not
 * tried yet (run here when that is this node), or r gets the error. */
static void fail_over(struct fwdreq *r, struct fwd_write *fw, uint32_t member, int status)
{
    struct proxy *px = fw->px;
    const struct ring *ring = proxy_ring(px);
    size_t idx[REPL_MAX_REPLICAS], n = 0;
    bool tried;

    if (status != -ECANCELED && ring_owners(ring, ring_hash(fw->key, fw->nkey),
                                            repl_replicas(px->repl), idx, &n) != 0)
        n = 0;
    for (size_t i = 0; status != -ECANCELED && i < n; i++) {
        uint32_t next = ring_node(ring, idx[i])->tag;
        tried = false;
        for (size_t j = 0; j < fw->ntried; j++)
            tried |= fw->tried[j] == next;
        if (tried || (next != CLUSTER_SELF && !peer_available(px->peers, next)))
            continue;
        STATS_INCR(px->stats, write_failovers);
        if (next == CLUSTER_SELF) {
            repl_write_here(px->repl, r, fw->raw, fw->nraw);
            return;
        }
        if (send_write(r, fw, next) == 0)
            return;
    }
    proxy_fail_with(px, r, member, status);
    fwdreq_answered(r);
}

static void on_write_answer(void *arg, uint32_t member, int status, bool error,
                            const char *reply, size_t len)
{
    struct fwdreq *r = arg;
    struct fwd_write *fw = fwdreq_priv(r);

    (void)error;
    if (status != 0)
        fail_over(r, fw, member, status);
    else
        proxy_relay(r, reply, len);
}

static struct fwdreq *forward_write(struct proxy *px, struct fwdreq *r,
                                    const struct route_req *rr, uint32_t owner,
                                    const char *raw, size_t nraw)
{
    struct fwd_write *fw = malloc(sizeof(*fw) + nraw);
    int rc;

    if (fw == NULL) {
        fwdreq_fail(r, "SERVER_ERROR out of memory\r\n", 28);
        return r;
    }
    /* rr->key is valid here: conn.c points it into the line again once a
     * data block moved the input buffer (CONN_FORWARD) */
    *fw = (struct fwd_write){.px = px,
                             .reply = rr->reply,
                             .noreply = rr->noreply,
                             .quiet = rr->quiet,
                             .nkey = (uint8_t)rr->nkey,
                             .nraw = nraw};
    memcpy(fw->key, rr->key, rr->nkey);
    memcpy(fw->raw, raw, nraw);
    fwdreq_set_priv(r, fw, free);
    fwdreq_expect(r, 2); /* its answer, and a hold: it may end at once */
    rc = send_write(r, fw, owner);
    if (rc != 0)
        fail_over(r, fw, owner, rc);
    fwdreq_unhold(r); /* not queued yet: completing it wakes nobody */
    return r;
}

struct fwdreq *proxy_forward(struct proxy *px, struct fwdreq_queue *q,
                             const struct route_req *rr, uint32_t owner, const char *raw,
                             size_t nraw)
{
    enum fwdreq_kind kind = rr->write && px->repl != NULL ? FWDREQ_WRITE : FWDREQ_PLAIN;
    struct fwdreq *r;
    struct iovec iov[2] = {{.iov_base = (void *)raw, .iov_len = nraw},
                           {.iov_base = (void *)mn_line, .iov_len = sizeof(mn_line) - 1}};
    int rc;

    if (proxy_get_wanted(rr))
        return proxy_get(px, q, rr, owner, raw, nraw);
    STATS_INCR(px->stats, forwarded);
    r = fwdreq_new(&px->pool, q, kind);
    if (r == NULL)
        return NULL;
    fwdreq_set_mode(r, rr->noreply, rr->quiet);
    if (kind == FWDREQ_WRITE)
        return forward_write(px, r, rr, owner, raw, nraw);
    fwdreq_set_priv(r, px, NULL);
    rc = peer_request_within(px->peers, owner, iov, rr->quiet ? 2 : 1,
                             rr->quiet ? PEER_REPLY_QUIET : rr->reply, on_answer, r,
                             owner, proxy_forward_timeout(px));
    if (rc != 0)
        proxy_fail_with(px, r, owner, rc);
    else
        fwdreq_expect(r, 1);
    return r;
}

/* Builds the final reply of a multi-get from its parts, in key order. */
static void assemble(struct fwdreq *r)
{
    struct proxy_multi *m = fwdreq_priv(r);
    size_t pos = m->keys_off, k = 0;
    const char *key;
    size_t nkey;

    if (!fwdreq_failed(r)) {
        while (k < m->nkeys && route_next_key(m->line, m->len, &pos, &key, &nkey)) {
            struct proxy_sub *s = &m->subs[m->key_sub[k++]];
            size_t p = s->at, nv, nb;
            const char *vk, *block;
            if (route_next_value(s->data.data, s->data.len, &p, &vk, &nv, &block, &nb) &&
                nv == nkey && memcmp(vk, key, nkey) == 0) {
                buf_append(fwdreq_reply(r), block, nb);
                s->at = p;
            }
        }
        buf_append(fwdreq_reply(r), "END\r\n", 5);
    }
    multi_free(m);
    fwdreq_set_priv(r, NULL, NULL);
}

static int send_sub(struct fwdreq *r, uint32_t s);

/* The next owner after `failed` of the key at hv that can serve it: this
 * node (only with R = 1: a quorum read is not re-run here) or a member
 * not backing off. UINT32_MAX when there is none. */
static uint32_t next_owner(struct proxy *px, const struct ring *ring, uint32_t hv,
                           uint32_t failed)
{
    size_t idx[REPL_MAX_REPLICAS], n = 0, i = 0;

    if (ring_owners(ring, hv, repl_replicas(px->repl), idx, &n) != 0)
        return UINT32_MAX;
    while (i < n && ring_node(ring, idx[i])->tag != failed)
        i++;
    for (i++; i < n; i++) {
        uint32_t tag = ring_node(ring, idx[i])->tag;
        if (tag == CLUSTER_SELF ? repl_read_quorum(px->repl) == 1
                                : peer_available(px->peers, tag))
            return tag;
    }
    return UINT32_MAX;
}

/* The owner of sub s failed: with copies, each of its keys goes to its
 * own next owner (failover), in new subs, those of this node looked up
 * here at once. Not for gat/gats, which must reach the owner. Returns
 * whether every key found one (nothing changes when one did not). */
static bool reroute_sub(struct fwdreq *r, uint32_t s)
{
    struct proxy_multi *m = fwdreq_priv(r);
    struct proxy *px = m->px;
    const struct ring *ring = proxy_ring(px);
    uint32_t failed = m->subs[s].owner, first = (uint32_t)m->nsubs;
    size_t pos, k;
    const char *key;
    size_t nkey;

    if (px->repl == NULL || m->touch || fwdreq_failed(r) || fwdreq_orphan(r))
        return false; /* an orphan's client is gone: nothing to fail over for */
    /* every key's next owner, each a new sub (room for them checked
     * first, so that a failure leaves the split as it was) */
    for (int pass = 0; pass < 2; pass++) {
        size_t nnew = 0;
        for (pos = m->keys_off, k = 0;
             k < m->nkeys && route_next_key(m->line, m->len, &pos, &key, &nkey); k++) {
            uint32_t to, j;
            if (m->key_sub[k] != s)
                continue;
            to = next_owner(px, ring, ring_hash(key, nkey), failed);
            if (to == UINT32_MAX)
                return false;
            for (j = first; j < first + nnew && m->subs[j].owner != to; j++)
                ;
            if (j == first + nnew) {
                if (first + nnew == m->cap)
                    return false;
                m->subs[j].owner = to;
                nnew++;
            }
            if (pass == 1)
                m->key_sub[k] = j;
        }
        if (pass == 1)
            for (uint32_t j = first; j < first + nnew; j++) {
                buf_init(&m->subs[j].data);
                m->subs[j].at = 0;
                m->nsubs++;
            }
    }
    for (uint32_t j = first; j < m->nsubs; j++) {
        STATS_INCR(px->stats, read_failovers);
        if (m->subs[j].owner != CLUSTER_SELF) {
            int rc = send_sub(r, j);
            if (rc == 0)
                fwdreq_expect(r, 1);
            else
                proxy_fail_with(px, r, m->subs[j].owner, rc);
            continue;
        }
        for (pos = m->keys_off, k = 0;
             k < m->nkeys && route_next_key(m->line, m->len, &pos, &key, &nkey); k++)
            if (m->key_sub[k] == j)
                cmd_get_local(fetch_cmd(px->fetch), &m->subs[j].data, key, nkey,
                              m->return_cas, false, 0);
    }
    return true;
}

static void on_sub_answer(void *arg, uint32_t sub, int status, bool error,
                          const char *reply, size_t len)
{
    struct fwdreq *r = arg;
    struct proxy_multi *m = fwdreq_priv(r);

    if (status != 0 && status != -ECANCELED && reroute_sub(r, sub)) {
        /* its keys were sent on */
    } else if (status != 0) {
        proxy_fail_with(m->px, r, m->subs[sub].owner, status);
    } else if (error) {
        /* the owner's own error (say, its reply bound) is the answer */
        fwdreq_fail(r, reply, len);
    } else if (!fwdreq_orphan(r) && !fwdreq_failed(r)) {
        buf_append(&m->subs[sub].data, reply, len);
    }
    if (fwdreq_outstanding(r) == 1)
        assemble(r);
    fwdreq_answered(r);
}

/* Sends the get line for sub s: what comes before the keys in the
 * client's line (the command, and the exptime of gat/gats), then the keys
 * of s in the client's order. */
static int send_sub(struct fwdreq *r, uint32_t s)
{
    struct proxy_multi *m = fwdreq_priv(r);
    struct proxy *px = m->px;
    struct buf *b = &px->scratch;
    size_t pos = m->keys_off, k = 0, head = m->keys_off;
    const char *key;
    size_t nkey;
    struct iovec iov;
    int rc;

    while (head > 0 && m->line[head - 1] == ' ')
        head--;
    buf_reset(b);
    buf_append(b, m->line, head);
    while (route_next_key(m->line, m->len, &pos, &key, &nkey)) {
        if (m->key_sub[k++] != s)
            continue;
        buf_append(b, " ", 1);
        buf_append(b, key, nkey);
    }
    buf_append(b, "\r\n", 2);
    if (b->oom) {
        b->oom = false;
        return -ENOMEM;
    }
    iov.iov_base = b->data;
    iov.iov_len = b->len;
    rc = peer_request_within(px->peers, m->subs[s].owner, &iov, 1, PEER_REPLY_GET,
                             on_sub_answer, r, s, proxy_forward_timeout(px));
    buf_reset(b);
    return rc;
}

/* Splits the keys over their owners: key_sub and subs. */
static int split_keys(struct proxy_multi *m, const struct ring *ring)
{
    size_t nnodes = ring_node_count(ring), pos = m->keys_off, k = 0;
    uint32_t stack[SUB_OF_STACK];
    uint32_t *sub_of = nnodes <= SUB_OF_STACK ? stack : malloc(nnodes * sizeof(*sub_of));
    const char *key;
    size_t nkey;

    if (sub_of == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nnodes; i++)
        sub_of[i] = UINT32_MAX;
    while (k < m->nkeys && route_next_key(m->line, m->len, &pos, &key, &nkey)) {
        size_t node = serving_node(m->px, ring, key, nkey, false);
        if (sub_of[node] == UINT32_MAX) {
            sub_of[node] = (uint32_t)m->nsubs;
            m->subs[m->nsubs].owner = ring_node(ring, node)->tag;
            buf_init(&m->subs[m->nsubs].data);
            m->nsubs++;
        }
        m->key_sub[k++] = sub_of[node];
    }
    m->nkeys = k;
    if (sub_of != stack)
        free(sub_of);
    return 0;
}

/* Looks up the keys of the multi-get's local sub here; check: each is also
 * perhaps checked against its other owners (R = 1, read_repair_chance). */
static void local_part(struct fwdreq *r, struct cmd *cmd, bool check)
{
    struct proxy_multi *m = fwdreq_priv(r);
    struct proxy_sub *sub = &m->subs[m->local_sub];
    size_t pos = m->keys_off, k = 0;
    const char *key;
    size_t nkey;

    while (route_next_key(m->line, m->len, &pos, &key, &nkey)) {
        if (m->key_sub[k++] != m->local_sub)
            continue;
        cmd_get_local(cmd, &sub->data, key, nkey, m->return_cas, m->touch, m->touch_time);
        if (check)
            repl_read_done(m->px->repl, key, nkey);
    }
}

static void on_local_synced(void *arg, const char *err)
{
    struct fwdreq *r = arg;
    struct proxy_multi *m = fwdreq_priv(r);

    if (err != NULL)
        fwdreq_fail(r, err, strlen(err));
    else if (!fwdreq_failed(r) && !fwdreq_orphan(r))
        local_part(r, fetch_cmd(m->px->fetch), false);
    if (fwdreq_outstanding(r) == 1 && !m->sending)
        assemble(r);
    fwdreq_answered(r);
}

/* With a read quorum, or while receiving ranges (dual): the local sub's
 * keys are first brought up to date from the other owners, or looked up on
 * their holders when they hold nothing here. */
static int local_sync(struct fwdreq *r, bool dual)
{
    struct proxy_multi *m = fwdreq_priv(r);
    const char **keys = malloc(m->nkeys * sizeof(*keys));
    size_t *nkeys = malloc(m->nkeys * sizeof(*nkeys));
    size_t pos = m->keys_off, k = 0, n = 0;
    const char *key;
    size_t nkey;
    int rc = -ENOMEM;

    if (keys != NULL && nkeys != NULL) {
        while (route_next_key(m->line, m->len, &pos, &key, &nkey))
            if (m->key_sub[k++] == m->local_sub) {
                keys[n] = key;
                nkeys[n++] = nkey;
            }
        rc = dual ? fetch_dual_keys(m->px->fetch, keys, nkeys, n, on_local_synced, r)
                  : repl_sync_keys(m->px->repl, keys, nkeys, n, on_local_synced, r);
    }
    free(keys);
    free(nkeys);
    return rc;
}

struct fwdreq *proxy_fanout(struct proxy *px, struct fwdreq_queue *q, struct cmd *cmd,
                            const char *line, size_t len, const struct route_req *rr)
{
    struct fwdreq *r = fwdreq_new(&px->pool, q, FWDREQ_PLAIN);
    size_t nsubs_max = ring_node_count(px->ring);
    struct proxy_multi *m;

    STATS_INCR(px->stats, forwarded);
    if (r == NULL)
        return NULL;
    if (nsubs_max > rr->nkeys)
        nsubs_max = rr->nkeys;
    nsubs_max *= 2; /* room for the failovers of some */
    m = calloc(1, sizeof(*m) + nsubs_max * sizeof(m->subs[0]) +
                      rr->nkeys * sizeof(*m->key_sub) + len + 1);
    if (m == NULL)
        goto nomem;
    fwdreq_set_priv(r, m, multi_free);
    m->key_sub = (uint32_t *)(m->subs + nsubs_max);
    m->line = (char *)(m->key_sub + rr->nkeys);
    memcpy(m->line, line, len);
    m->line[len] = '\0';
    m->px = px;
    m->len = len;
    m->cap = nsubs_max;
    m->keys_off = rr->keys_off;
    m->nkeys = rr->nkeys;
    m->return_cas = rr->return_cas;
    m->touch = rr->touch;
    m->touch_time = rr->touch_time;
    if (split_keys(m, px->ring) != 0)
        goto nomem;

    fwdreq_expect(r, 1); /* held while sending, so nothing completes early */
    m->sending = true;
    for (uint32_t s = 0; s < m->nsubs; s++) {
        struct proxy_sub *sub = &m->subs[s];
        bool quorum;
        int rc;
        if (fwdreq_failed(r))
            break; /* the reply is an error whatever the others say */
        if (sub->owner != CLUSTER_SELF) {
            rc = send_sub(r, s);
            if (rc == 0)
                fwdreq_expect(r, 1);
            else
                proxy_fail_with(px, r, sub->owner, rc);
            continue;
        }
        m->local_sub = s;
        quorum = px->repl != NULL && repl_read_quorum(px->repl) > 1;
        if (quorum || cluster_receiving(px->cl)) {
            fwdreq_expect(r, 1); /* first: local_sync() may answer at once */
            if (local_sync(r, !quorum) != 0) {
                fwdreq_unhold(r);
                proxy_fail_with(px, r, CLUSTER_SELF, -ENOMEM);
            }
            continue;
        }
        local_part(r, cmd, px->repl != NULL);
    }
    m->sending = false;
    if (fwdreq_outstanding(r) == 1)
        assemble(r);
    fwdreq_unhold(r); /* not queued yet: completing it wakes nobody */
    return r;

nomem:
    fwdreq_free(r);
    return NULL;
}

static void on_bcast_answer(void *arg, uint32_t member, int status, bool error,
                            const char *reply, size_t len)
{
    static const char failed[] = "SERVER_ERROR flush_all failed on a peer\r\n";
    struct fwdreq *r = arg;
    bool quiet = fwdreq_quiet(r);
    bool ok = quiet ? len == 4 && memcmp(reply, "MN\r\n", 4) == 0
                    : len == 4 && memcmp(reply, "OK\r\n", 4) == 0;

    if (status != 0)
        proxy_fail_with(fwdreq_priv(r), r, member, status);
    else if (!ok && error)
        fwdreq_fail(r, reply, quiet ? len - (sizeof(mn_line) - 1) : len);
    else if (!ok)
        fwdreq_fail(r, failed, sizeof(failed) - 1);
    fwdreq_answered(r);
}

struct fwdreq *proxy_broadcast(struct proxy *px, struct fwdreq_queue *q, struct cmd *cmd,
                               const char *line, size_t len, const char *raw, size_t nraw)
{
    struct fwdreq *r = fwdreq_new(&px->pool, q, FWDREQ_PLAIN);
    const struct ring *ring = px->ring;
    struct iovec iov[2] = {{.iov_base = (void *)raw, .iov_len = nraw},
                           {.iov_base = (void *)mn_line, .iov_len = sizeof(mn_line) - 1}};
    struct buf *saved = cmd->out, *reply;
    char copy[PROTO_MAX_LINE_NOGET + 1];
    bool quiet;

    STATS_INCR(px->stats, forwarded);
    if (r == NULL)
        return NULL;
    fwdreq_set_priv(r, px, NULL);
    reply = fwdreq_reply(r);
    /* here first: the command's own checks decide whether it goes further */
    if (len > PROTO_MAX_LINE_NOGET)
        len = PROTO_MAX_LINE_NOGET;
    memcpy(copy, line, len);
    copy[len] = '\0';
    cmd_set_out(cmd, reply);
    cmd_process_line(cmd, copy, len);
    cmd_set_out(cmd, saved);
    if (reply->len > 0 && !(reply->len == 4 && memcmp(reply->data, "OK\r\n", 4) == 0))
        return r; /* refused here: no member is asked */
    quiet = reply->len == 0;
    fwdreq_set_mode(r, quiet, quiet);
    fwdreq_expect(r, 1); /* held while sending */
    for (size_t i = 0; i < ring_node_count(ring); i++) {
        uint32_t member = ring_node(ring, i)->tag;
        int rc;
        if (member == CLUSTER_SELF || ring_node(ring, i)->down)
            continue;
        rc = peer_request(px->peers, member, iov, quiet ? 2 : 1,
                          quiet ? PEER_REPLY_QUIET : PEER_REPLY_LINE, on_bcast_answer, r,
                          member);
        if (rc == 0)
            fwdreq_expect(r, 1);
        else
            proxy_fail_with(px, r, member, rc);
    }
    fwdreq_unhold(r);
    return r;
}

struct fwdreq *proxy_sync(struct proxy *px, struct fwdreq_queue *q, const char *line,
                          size_t len, const struct route_req *rr)
{
    if (px->repl != NULL && repl_read_quorum(px->repl) > 1)
        return repl_sync(px->repl, q, line, len, rr);
    return fetch_dual(px->fetch, q, line, len, rr);
}

struct fwdreq *proxy_wrote(struct proxy *px, struct fwdreq_queue *q,
                           const struct cmd *cmd, struct buf *out, size_t mark,
                           bool noreply)
{
    if (px->hot != NULL) {
        uint32_t hash = ring_hash(cmd->wrote_key, cmd->wrote_nkey);
        hot_wrote(px->hot, cmd->wrote_key, cmd->wrote_nkey, hash);
        proxy_near_announce(px, cmd->wrote_key, cmd->wrote_nkey, hash);
    }
    return px->repl != NULL ? repl_write(px->repl, q, cmd, out, mark, noreply) : NULL;
}

void proxy_read(struct proxy *px, const char *line, size_t len,
                const struct route_req *rr)
{
    size_t pos = rr->keys_off, k = 0, nkey;
    const char *key;

    if (px->repl == NULL || repl_read_quorum(px->repl) > 1)
        return; /* R > 1: the read was a quorum read (PROXY_SYNC) */
    if (rr->kind == ROUTE_KEY && !rr->write)
        repl_read_done(px->repl, rr->key, rr->nkey);
    else if (rr->kind == ROUTE_MULTIGET)
        while (k++ < rr->nkeys && route_next_key(line, len, &pos, &key, &nkey))
            repl_read_done(px->repl, key, nkey);
}
