/*
 * proxy_get: a single-key get or gets bound for another node, collapsed
 * with the identical ones in flight from this worker (one request to the
 * owner, its answer fanned out to every waiter).
 */
#include "cluster/proxy_internal.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/stats.h"
#include "cluster/collapse.h"
#include "cluster/hot.h"
#include "cluster/peer.h"
#include "cluster/ring.h"

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

/* The owner's answer (or failure) goes to every waiter, in the order they
 * came: each is its connection's own request. */
static void on_get_answer(void *arg, uint32_t member, int status, bool error,
                          const char *reply, size_t len)
{
    struct collapse_entry *e = arg;
    struct proxy *px = e->arg;

    (void)error;
    collapse_close(e);
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
    struct iovec iov = {.iov_base = (void *)raw, .iov_len = nraw};
    int rc;

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
    rc = peer_request_within(px->peers, owner, &iov, 1, PEER_REPLY_GET, on_get_answer, e,
                             owner, proxy_forward_timeout(px));
    if (rc != 0) {
        collapse_release(px->collapse, e);
        proxy_fail_with(px, r, owner, rc);
        return r;
    }
    fwdreq_expect(r, 1);
    return r;
}
