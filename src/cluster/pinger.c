/*
 * pinger: a thread with its own event_base and peer connections that pings
 * the static members and tells the member view what it hears.
 */
#include "cluster/pinger.h"
#include "cluster/cluster.h"
#include "cluster/peer.h"
#include "base/server.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct pinger {
    struct cluster *cl;
    uint32_t nmembers; /* slots to ping: 1..nmembers-1 */
    unsigned *fails;   /* per slot: pings failed in a row */
    struct event_base *base;
    struct event *tick;
    struct peer_set *peers;
    pthread_t thread;
    bool started;
};

static bool on_hello(void *arg, uint32_t slot, const char *id, unsigned vnodes)
{
    struct pinger *p = arg;

    return cluster_member_hello(p->cl, slot, id, vnodes);
}

static void ping_result(struct pinger *p, uint32_t slot, bool ok)
{
    if (ok) {
        p->fails[slot] = 0;
        cluster_member_reachable(p->cl, slot, true);
    } else if (++p->fails[slot] >= PINGER_FAILURES) {
        cluster_member_reachable(p->cl, slot, false);
    }
}

static void ping_done(void *arg, uint32_t slot, int status, bool error, const char *reply,
                      size_t len)
{
    ping_result(arg, slot,
                status == 0 && !error && len == 4 && memcmp(reply, "MN\r\n", 4) == 0);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    static const char mn[] = "mn\r\n";
    struct pinger *p = arg;
    struct iovec iov = {.iov_base = (void *)mn, .iov_len = sizeof(mn) - 1};

    (void)fd;
    (void)what;
    for (uint32_t i = 1; i < p->nmembers; i++) {
        if (cluster_member_alias(p->cl, i))
            continue;
        if (peer_request(p->peers, i, &iov, 1, PEER_REPLY_LINE, ping_done, p, i) != 0)
            ping_result(p, i, false);
    }
}

static void *pinger_main(void *arg)
{
    struct pinger *p = arg;

    pthread_setname_np(pthread_self(), "mc-pinger");
    tick_cb(-1, 0, p); /* the first round at once: a new cluster forms fast */
    event_base_dispatch(p->base);
    return NULL;
}

int pinger_new(struct server *srv, struct cluster *cl, struct pinger **out)
{
    const struct settings *s = &srv->settings;
    struct pinger *p = calloc(1, sizeof(*p));
    struct peer_set_config pc = {
        .self_id = s->node_id,
        .vnodes = s->vnodes,
        .timeout_ms = s->peer_timeout_ms,
        .max_value = 64,
        .hello = on_hello,
        .hello_arg = p,
        .addr = cluster_peer_addr,
        .addr_arg = cl,
        .auth_key = srv->peer_key_set ? srv->peer_key : NULL,
        .tls = srv->settings.ssl_enabled,
    };
    struct timeval every = {.tv_sec = PINGER_INTERVAL_MS / 1000,
                            .tv_usec = (PINGER_INTERVAL_MS % 1000) * 1000};

    if (p == NULL)
        return -1;
    p->cl = cl;
    p->nmembers = cluster_member_count(cl);
    p->fails = calloc(p->nmembers, sizeof(*p->fails));
    p->base = event_base_new();
    if (p->fails == NULL || p->base == NULL)
        goto fail;
    pc.base = p->base;
    if (peer_set_new(&pc, &p->peers) != 0)
        goto fail;
    p->tick = event_new(p->base, -1, EV_PERSIST, tick_cb, p);
    if (p->tick == NULL || event_add(p->tick, &every) != 0)
        goto fail;
    if (pthread_create(&p->thread, NULL, pinger_main, p) != 0)
        goto fail;
    p->started = true;
    *out = p;
    return 0;

fail:
    pinger_free(p);
    return -1;
}

void pinger_free(struct pinger *p)
{
    if (p == NULL)
        return;
    if (p->started) {
        event_base_loopbreak(p->base);
        pthread_join(p->thread, NULL);
    }
    peer_set_free(p->peers);
    if (p->tick != NULL)
        event_free(p->tick);
    if (p->base != NULL)
        event_base_free(p->base);
    free(p->fails);
    free(p);
}
