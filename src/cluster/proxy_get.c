/*
 * proxy_get: a single-key get or gets bound for another node, collapsed
 * with the identical ones in flight from this worker (one request to the
 * owner, its answer fanned out to every waiter).
 */
#include "cluster/proxy_internal.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/stats.h"
#include "cluster/cluster.h"
#include "cluster/collapse.h"
#include "cluster/hot.h"
#include "cluster/peer.h"
#include "cluster/repl.h"
#include "cluster/ring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void proxy_sample(struct proxy *px, const char *line, size_t len,
                  const struct route_req *rr)
{
    size_t pos = rr->keys_off, nkey;
    const char *key;
    uint64_t now;

    if (px->hot == NULL || ++px->sample_tick < HOT_SAMPLE_EVERY)
        return;
    px->sample_tick = 0;
    now = mctime_mono_ms();
    if (rr->kind == ROUTE_KEY) {
        hot_sample(px->hot, rr->key, rr->nkey, ring_hash(rr->key, rr->nkey), now);
        return;
    }
    while (route_next_key(line, len, &pos, &key, &nkey))
        hot_sample(px->hot, key, nkey, ring_hash(key, nkey), now);
}

bool proxy_get_wanted(const struct route_req *rr)
{
    /* gat/gats touch: each must reach the owner */
    return rr->kind == ROUTE_MULTIGET && rr->nkeys == 1 && !rr->touch;
}

static void on_get_answer(void *arg, uint32_t member, int status, bool error,
                          const char *reply, size_t len);

/* The owner e was sent to failed: with copies, the get goes to the key's
 * next owner after it that is not backing off (never this node: a read
 * of a key this node owns is served here), for every waiter, without the
 * near cache's mark. Returns whether it was sent. */
static bool retry_get(struct proxy *px, struct collapse_entry *e, uint32_t failed)
{
    const struct ring *ring = proxy_ring(px);
    size_t idx[REPL_MAX_REPLICAS], n = 0, i = 0;
    char line[KEY_MAX_LENGTH + 8];
    struct iovec iov;

    if (px->repl == NULL ||
        ring_owners(ring, e->hash, repl_replicas(px->repl), idx, &n) != 0)
        return false;
    while (i < n && ring_node(ring, idx[i])->tag != failed)
        i++;
    iov.iov_base = line;
    iov.iov_len = (size_t)snprintf(line, sizeof(line), "%s %.*s\r\n",
                                   e->cas ? "gets" : "get", (int)e->nkey, e->key);
    for (i++; i < n; i++) {
        uint32_t next = ring_node(ring, idx[i])->tag;
        if (next == CLUSTER_SELF || !peer_available(px->peers, next))
            continue;
        e->owner = next;
        e->fill = false;
        if (peer_request_within(px->peers, next, &iov, 1, PEER_REPLY_GET, on_get_answer,
                                e, next, proxy_forward_timeout(px)) == 0) {
            STATS_INCR(px->stats, read_failovers);
            return true;
        }
    }
    return false;
}

/* The owner's answer (or failure) goes to every waiter, in the order they
 * came: each is its connection's own request. */
static void on_get_answer(void *arg, uint32_t member, int status, bool error,
                          const char *reply, size_t len)
{
    struct collapse_entry *e = arg;
    struct proxy *px = e->arg;

    collapse_close(e);
    if (status != 0 && status != -ECANCELED && retry_get(px, e, member))
        return;
    if (e->fill && status == 0 && !error &&
        hot_near_put(px->hot, e->key, e->nkey, e->hash, e->gen, reply, len,
                     mctime_mono_ms()))
        STATS_INCR(px->stats, near_fills);
    for (unsigned i = 0; i < e->nwaiters; i++) {
        struct fwdreq *w = e->waiters[i];
        if (status != 0) {
            proxy_fail_with(px, w, member, status);
            fwdreq_answered(w);
        } else {
            proxy_relay(w, reply, len);
        }
    }
    collapse_release(px->collapse, e);
}

struct fwdreq *proxy_get(struct proxy *px, struct fwdreq_queue *q,
                         const struct route_req *rr, uint32_t owner, const char *raw,
                         size_t nraw)
{
    struct fwdreq *r = fwdreq_new(&px->pool, q, FWDREQ_PLAIN);
    struct collapse_entry *e;
    size_t pos = rr->keys_off, nkey, nline = nraw;
    const char *key;
    uint32_t hash;
    uint64_t gen;
    struct iovec iov[2] = {{0}, {.iov_base = (void *)raw, .iov_len = nraw}};
    char mark[KEY_MAX_LENGTH + 8];
    bool near;
    int rc, n;

    if (r == NULL)
        return NULL;
    while (nline > 0 && (raw[nline - 1] == '\n' || raw[nline - 1] == '\r'))
        nline--; /* the key ends before the line ending */
    if (!route_next_key(raw, nline, &pos, &key, &nkey)) { /* cannot be: one key */
        fwdreq_fail(r, "SERVER_ERROR no key\r\n", 21);
        return r;
    }
    hash = ring_hash(key, nkey);
    gen = px->hot != NULL ? hot_gen(px->hot, hash) : 0;
    /* a hot key's plain get: from the near cache, or fetched for it (gets
     * bypasses it: a CAS must be the owner's current one) */
    near = px->hot != NULL && !rr->return_cas && hot_near_on(px->hot) &&
           hot_is_hot(px->hot, hash);
    if (near &&
        hot_near_get(px->hot, key, nkey, hash, mctime_mono_ms(), fwdreq_reply(r))) {
        STATS_INCR(px->stats, near_hits);
        return r; /* complete */
    }
    e = collapse_find(px->collapse, key, nkey, hash, owner, rr->return_cas);
    if (e != NULL && e->gen == gen) {
        STATS_INCR(px->stats, collapsed);
        fwdreq_expect(r, 1);
        collapse_join(e, r);
        return r;
    }
    if (e != NULL)
        collapse_close(e); /* sent before a write: later gets must not join it */
    STATS_INCR(px->stats, forwarded);
    e = collapse_start(px->collapse, key, nkey, hash, owner, rr->return_cas, gen, r);
    if (e == NULL) {
        fwdreq_fail(r, "SERVER_ERROR out of memory\r\n", 28);
        return r;
    }
    e->arg = px;
    e->fill = near;
    if (near) { /* "rh <key>": the owner tells us of writes from now on */
        n = snprintf(mark, sizeof(mark), "rh %.*s\r\n", (int)nkey, key);
        iov[0] = (struct iovec){.iov_base = mark, .iov_len = (size_t)n};
        iov[1] = (struct iovec){.iov_base = (void *)raw, .iov_len = nraw};
    }
    rc = peer_request_within(px->peers, owner, near ? iov : iov + 1, near ? 2 : 1,
                             PEER_REPLY_GET, on_get_answer, e, owner,
                             proxy_forward_timeout(px));
    if (rc != 0) {
        collapse_release(px->collapse, e);
        proxy_fail_with(px, r, owner, rc);
        return r;
    }
    fwdreq_expect(r, 1);
    return r;
}

static void on_announced(void *arg, uint32_t member, int status, bool error,
                         const char *reply, size_t len)
{
    (void)arg;
    (void)member;
    (void)status;
    (void)error;
    (void)reply;
    (void)len; /* lost: that member's copy lives out its hot_cache_ms */
}

void proxy_near_announce(struct proxy *px, const char *key, size_t nkey, uint32_t hash)
{
    const struct ring *ring = ringview_get(&px->view);
    char line[KEY_MAX_LENGTH + 8];
    int n = snprintf(line, sizeof(line), "ri %.*s\r\n", (int)nkey, key);
    struct iovec iov = {.iov_base = line, .iov_len = (size_t)n};

    if (!hot_marked(px->hot, hash, mctime_mono_ms()))
        return;
    /* only a key a get line can name is near-held; another (a meta
     * command's binary key) would not survive the line */
    for (size_t i = 0; i < nkey; i++)
        if ((unsigned char)key[i] <= ' ' || (unsigned char)key[i] >= 0x7f)
            return;
    for (size_t i = 0; i < ring_node_count(ring); i++) {
        const struct ring_node *node = ring_node(ring, i);
        if (node->tag == CLUSTER_SELF || node->down)
            continue;
        if (peer_request(px->peers, node->tag, &iov, 1, PEER_REPLY_LINE, on_announced, px,
                         node->tag) == 0)
            STATS_INCR(px->stats, near_invalidations);
    }
}
