/*
 * gossip: the SWIM protocol period, join, push/pull and leave, driven by
 * one thread, over nng req/rep sockets whose callbacks feed swim.c under
 * one lock.
 */
#include "cluster/gossip.h"
#include "cluster/gmsg.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/stats.h"
#include "cluster/swim.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SERVER_CTXS     16 /* requests served at once */
#define MAC_LEN         crypto_auth_hmacsha256_BYTES
#define PROBE_MSG_MAX   (64u * 1024) /* a probe's piggyback room */
#define SYNC_EVERY      4            /* periods between push/pulls */
#define SYNC_DEAD_EVERY 2            /* every 2nd push/pull: with a dead member */
#define LEAVE_WAIT_MS   500
#define RING_EVERY_MS   100  /* ring builds at most this often */
#define CLOSE_WAIT_MS   2000 /* longest wait for nng_close() at shutdown */
#define RECV_MAX        (GMSG_MAX_SIZE + MAC_LEN)

enum req_kind {
    REQ_PROBE,    /* our direct probe of this period's target */
    REQ_INDIRECT, /* PING_REQ to a helper about the target */
    REQ_RELAY,    /* our probe on behalf of a helper's requester */
    REQ_SYNC,     /* push/pull */
    REQ_LEAVE,    /* telling a member we leave */
};

struct gpeer; /* a req socket to one gossip address */
struct gserv; /* one rep context */

/* One outgoing request; freed by the gossip thread once done. */
struct greq {
    struct gossip *g;
    enum req_kind kind;
    nng_ctx ctx;
    nng_aio *aio;
    bool receiving; /* the send is done, waiting for the answer */
    uint64_t round; /* REQ_PROBE, REQ_INDIRECT: the probe round */
    char target[GMSG_MAX_ID + 1];
    struct gserv *relay_for;            /* REQ_RELAY: whose PING_REQ we serve */
    struct greq *next;                  /* the done list */
    struct greq *prev_live, *next_live; /* the list of unfinished requests */
    bool cancelled;                     /* gossip_free() cancelled it */
};

struct gpeer {
    char gaddr[GMSG_MAX_ADDR + 1];
    nng_socket sock;
    struct gpeer *next;
};

struct gserv {
    struct gossip *g;
    nng_ctx ctx;
    nng_aio *aio;
    bool sending; /* an answer is being sent */
};

struct gossip {
    struct server *srv;
    struct gossip_listener l;
    pthread_mutex_t lock; /* everything below except the counters */
    pthread_cond_t cond;
    bool dirty; /* the listener asked for a commit */
    struct swim *swim;
    nng_socket rep;
    struct gserv serv[SERVER_CTXS];
    struct gpeer *peers;
    struct greq *done; /* finished requests, freed by the thread */
    struct greq *live; /* unfinished requests */
    unsigned inflight; /* requests not yet finished */
    pthread_t thread;
    bool started, stop;
    bool keyed;
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    /* the current probe */
    uint64_t round;
    char target[GMSG_MAX_ID + 1]; /* "" when nothing is probed */
    bool acked;
    uint64_t probe_deadline, period_end;
    bool indirect_sent;
    unsigned syncs;
    char *wbuf; /* message being built (under the lock) */
    /* counters (atomic) */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, dropped, bad_mac;
};

static int verbose(const struct gossip *g)
{
    return __atomic_load_n(&g->srv->verbose, __ATOMIC_RELAXED);
}

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* ---- messages ---- */

/* Wraps buf[0..len) (a gmsg) with its MAC into a new nng message. */
static nng_msg *seal(struct gossip *g, const char *buf, size_t len)
{
    nng_msg *msg;

    if (len == 0 || nng_msg_alloc(&msg, 0) != 0)
        return NULL;
    if (nng_msg_append(msg, buf, len) != 0)
        goto fail;
    if (g->keyed) {
        unsigned char mac[MAC_LEN];
        crypto_auth_hmacsha256(mac, (const unsigned char *)buf, len, g->key);
        if (nng_msg_append(msg, mac, MAC_LEN) != 0)
            goto fail;
    }
    count(&g->msgs_out, 1);
    count(&g->bytes_out, nng_msg_len(msg));
    return msg;
fail:
    nng_msg_free(msg);
    return NULL;
}

/* Checks a received message's MAC and header. Returns 0 with *r positioned
 * at the records, or -1 (counted) for anything to drop. */
static int open_msg(struct gossip *g, nng_msg *msg, struct gmsg_reader *r,
                    struct gmsg_header *h)
{
    const unsigned char *body = nng_msg_body(msg);
    size_t len = nng_msg_len(msg);

    count(&g->msgs_in, 1);
    count(&g->bytes_in, len);
    if (g->keyed) {
        if (len < MAC_LEN || crypto_auth_hmacsha256_verify(body + len - MAC_LEN, body,
                                                           len - MAC_LEN, g->key) != 0) {
            count(&g->bad_mac, 1);
            return -1;
        }
        len -= MAC_LEN;
    }
    if (gmsg_read_header(r, (const char *)body, len, h) != 0) {
        count(&g->dropped, 1);
        return -1;
    }
    return 0;
}

/* Applies the sender's record and every record of a message. Under lock. */
static void absorb(struct gossip *g, struct gmsg_reader *r, const struct gmsg_header *h)
{
    struct gmsg_member m;
    uint64_t now = mctime_mono_ms();

    swim_apply(g->swim, &h->sender, now);
    while (gmsg_read_record(r, &m) == 1)
        swim_apply(g->swim, &m, now);
}

/* Builds a message of type with piggybacked updates (or, for SYNC and
 * SYNC_ACK, every member) into g->wbuf; subject is who the message is
 * about (NULL: nobody). Under lock. Returns its length. */
static size_t build(struct gossip *g, enum gmsg_type type, const char *subject)
{
    struct gmsg_writer w;
    bool full = type == GMSG_SYNC || type == GMSG_SYNC_ACK;
    const struct gmsg_member *about =
        subject != NULL ? swim_find(g->swim, subject) : NULL;

    gmsg_begin(&w, g->wbuf, full ? GMSG_MAX_SIZE : PROBE_MSG_MAX, type,
               swim_self(g->swim), type == GMSG_PING_REQ ? subject : NULL);
    if (full) {
        swim_fill_all(g->swim, &w);
    } else {
        /* A suspect we probe learns of its suspicion from the probe itself
         * (as in memberlist), not only if a rumour happens to reach it. */
        if (type == GMSG_PING && about != NULL && about->state == GMSG_SUSPECT)
            gmsg_add(&w, about);
        swim_piggyback(g->swim, &w);
    }
    return gmsg_end(&w);
}

/* ---- outgoing requests ---- */

static struct gpeer *peer_for(struct gossip *g, const char *gaddr)
{
    struct gpeer *p;
    char url[GMSG_MAX_ADDR + 16];

    for (p = g->peers; p != NULL; p = p->next)
        if (strcmp(p->gaddr, gaddr) == 0)
            return p;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    snprintf(p->gaddr, sizeof(p->gaddr), "%s", gaddr);
    snprintf(url, sizeof(url), "tcp://%s", gaddr);
    if (nng_req0_open(&p->sock) != 0) {
        free(p);
        return NULL;
    }
    /* no resends: SWIM decides what a lost answer means */
    nng_socket_set_ms(p->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, RECV_MAX);
    nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 1000);
    if (nng_dial(p->sock, url, NULL, NNG_FLAG_NONBLOCK) != 0) {
        nng_close(p->sock);
        free(p);
        return NULL;
    }
    p->next = g->peers;
    g->peers = p;
    return p;
}

static void req_cb(void *arg);

/* Ends a request: it goes to the done list for the thread to free. */
static void req_finish(struct greq *q)
{
    struct gossip *g = q->g;

    if (q->prev_live != NULL)
        q->prev_live->next_live = q->next_live;
    else
        g->live = q->next_live;
    if (q->next_live != NULL)
        q->next_live->prev_live = q->prev_live;
    q->next = g->done;
    g->done = q;
    g->inflight--;
    pthread_cond_signal(&g->cond);
}

/* Sends a message of type to gaddr, answered into req_cb; subject is the
 * member the request is about (a probe's or a PING_REQ's target), or NULL.
 * Under lock. Returns 0, or -1 when it could not even be sent. */
static int send_req(struct gossip *g, enum req_kind kind, const char *gaddr,
                    enum gmsg_type type, const char *subject, uint32_t timeout_ms,
                    struct greq **out)
{
    struct gpeer *p = peer_for(g, gaddr);
    struct greq *q;
    nng_msg *msg;

    if (p == NULL)
        return -1;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return -1;
    q->g = g;
    q->kind = kind;
    q->round = g->round;
    if (subject != NULL)
        snprintf(q->target, sizeof(q->target), "%s", subject);
    if (nng_ctx_open(&q->ctx, p->sock) != 0) {
        free(q);
        return -1;
    }
    if (nng_aio_alloc(&q->aio, req_cb, q) != 0) {
        nng_ctx_close(q->ctx);
        free(q);
        return -1;
    }
    msg = seal(g, g->wbuf, build(g, type, subject));
    if (msg == NULL) {
        nng_aio_free(q->aio);
        nng_ctx_close(q->ctx);
        free(q);
        return -1;
    }
    nng_aio_set_timeout(q->aio, (nng_duration)timeout_ms);
    nng_aio_set_msg(q->aio, msg);
    g->inflight++;
    q->next_live = g->live;
    if (g->live != NULL)
        g->live->prev_live = q;
    g->live = q;
    if (out != NULL)
        *out = q;
    nng_ctx_send(q->ctx, q->aio);
    return 0;
}

static void serv_answer(struct gserv *s, enum gmsg_type type);

static void req_cb(void *arg)
{
    struct greq *q = arg;
    struct gossip *g = q->g;
    int rc = nng_aio_result(q->aio);
    nng_msg *msg = NULL;
    struct gmsg_reader r;
    struct gmsg_header h;
    bool answered = false, ack = false;

    pthread_mutex_lock(&g->lock);
    if (!q->receiving) {
        if (rc == 0 && !g->stop) {
            q->receiving = true;
            pthread_mutex_unlock(&g->lock);
            nng_ctx_recv(q->ctx, q->aio);
            return;
        }
        nng_msg_free(nng_aio_get_msg(q->aio)); /* not sent: still ours */
    } else if (rc == 0) {
        msg = nng_aio_get_msg(q->aio);
        if (open_msg(g, msg, &r, &h) == 0) {
            answered = true;
            ack = h.type == GMSG_ACK || h.type == GMSG_SYNC_ACK;
            absorb(g, &r, &h);
        }
        nng_msg_free(msg);
    }
    switch (q->kind) {
    case REQ_PROBE:
    case REQ_INDIRECT:
        if (q->kind == REQ_INDIRECT)
            swim_helper_result(g->swim, answered);
        if (ack && q->round == g->round && strcmp(q->target, g->target) == 0 &&
            !g->acked) {
            g->acked = true;
            swim_probe_acked(g->swim, q->target, mctime_mono_ms());
        }
        break;
    case REQ_RELAY:
        serv_answer(q->relay_for, ack ? GMSG_ACK : GMSG_NACK);
        break;
    case REQ_SYNC:
    case REQ_LEAVE:
        break;
    }
    req_finish(q);
    pthread_mutex_unlock(&g->lock);
}

/* ---- serving requests ---- */

static void serv_cb(void *arg);

/* Answers the request held by s. Under lock. */
static void serv_answer(struct gserv *s, enum gmsg_type type)
{
    struct gossip *g = s->g;
    nng_msg *msg;

    if (g->stop)
        return; /* shutting down: its context is being closed */
    msg = seal(g, g->wbuf, build(g, type, NULL));
    if (msg == NULL) {
        nng_ctx_recv(s->ctx, s->aio); /* drop it; the requester times out */
        return;
    }
    s->sending = true;
    nng_aio_set_msg(s->aio, msg);
    nng_ctx_send(s->ctx, s->aio);
}

static void serv_cb(void *arg)
{
    struct gserv *s = arg;
    struct gossip *g = s->g;
    int rc = nng_aio_result(s->aio);
    struct gmsg_reader r;
    struct gmsg_header h;
    nng_msg *msg;

    pthread_mutex_lock(&g->lock);
    if (s->sending) {
        s->sending = false;
        if (rc != 0)
            nng_msg_free(nng_aio_get_msg(s->aio));
    } else if (rc == 0) {
        msg = nng_aio_get_msg(s->aio);
        if (open_msg(g, msg, &r, &h) == 0) {
            absorb(g, &r, &h);
            nng_msg_free(msg);
            switch (h.type) {
            case GMSG_PING:
                serv_answer(s, GMSG_ACK);
                pthread_mutex_unlock(&g->lock);
                return;
            case GMSG_SYNC:
                serv_answer(s, GMSG_SYNC_ACK);
                pthread_mutex_unlock(&g->lock);
                return;
            case GMSG_PING_REQ: {
                const struct gmsg_member *t = swim_find(g->swim, h.target);
                struct greq *q;
                if (t != NULL && !g->stop &&
                    send_req(g, REQ_RELAY, t->gaddr, GMSG_PING, t->id,
                             swim_probe_timeout_ms(g->swim), &q) == 0) {
                    q->relay_for = s; /* answered when our probe ends */
                    pthread_mutex_unlock(&g->lock);
                    return;
                }
                serv_answer(s, GMSG_NACK);
                pthread_mutex_unlock(&g->lock);
                return;
            }
            default:
                count(&g->dropped, 1); /* answers are not requests */
                break;
            }
        } else {
            nng_msg_free(msg);
        }
    } else if (rc == NNG_ECLOSED || g->stop) {
        pthread_mutex_unlock(&g->lock);
        return;
    }
    if (!g->stop)
        nng_ctx_recv(s->ctx, s->aio);
    pthread_mutex_unlock(&g->lock);
}

/* ---- the protocol period ---- */

/* Frees finished requests. Called by the thread without the lock (freeing
 * an aio waits for its callback, which takes the lock). */
static void reap(struct gossip *g)
{
    struct greq *q;

    pthread_mutex_lock(&g->lock);
    q = g->done;
    g->done = NULL;
    pthread_mutex_unlock(&g->lock);
    while (q != NULL) {
        struct greq *next = q->next;
        nng_aio_free(q->aio);
        nng_ctx_close(q->ctx);
        free(q);
        q = next;
    }
}

/* Push/pull with a member, now and then with a dead one (the other side of
 * a healed partition) or, while we know nobody, with the seeds. Under lock. */
static void sync_round(struct gossip *g)
{
    const struct settings *s = &g->srv->settings;
    struct gmsg_member m;
    bool alone = swim_live_count(g->swim) < 2;

    g->syncs++;
    if (alone || g->syncs % (SYNC_DEAD_EVERY * 2) == 0) {
        for (size_t i = 0; i < s->njoins; i++) {
            char gaddr[GMSG_MAX_ADDR + 1];
            util_format_hostport(gaddr, sizeof(gaddr), s->joins[i].host,
                                 s->joins[i].port);
            if (strcmp(gaddr, swim_self(g->swim)->gaddr) != 0)
                send_req(g, REQ_SYNC, gaddr, GMSG_SYNC, NULL,
                         swim_interval_ms(g->swim) * 2, NULL);
        }
        if (alone)
            return;
    }
    if (swim_pick_sync(g->swim, g->syncs % SYNC_DEAD_EVERY == 0, &m))
        send_req(g, REQ_SYNC, m.gaddr, GMSG_SYNC, NULL, swim_interval_ms(g->swim) * 2,
                 NULL);
}

/* One step of the period; returns when the thread should next wake. */
static uint64_t step(struct gossip *g, uint64_t now)
{
    struct gmsg_member t, helpers[8];

    if (now >= g->period_end) {
        if (g->target[0] != '\0' && !g->acked)
            swim_probe_failed(g->swim, g->target, now);
        swim_tick(g->swim, now);
        g->round++;
        g->target[0] = '\0';
        g->acked = g->indirect_sent = false;
        g->period_end = now + swim_interval_ms(g->swim);
        if (g->round % SYNC_EVERY == 1 || swim_live_count(g->swim) < 2)
            sync_round(g);
        if (swim_probe_start(g->swim, now, &t)) {
            snprintf(g->target, sizeof(g->target), "%s", t.id);
            g->probe_deadline = now + swim_probe_timeout_ms(g->swim);
            if (send_req(g, REQ_PROBE, t.gaddr, GMSG_PING, t.id,
                         swim_probe_timeout_ms(g->swim), NULL) != 0)
                g->probe_deadline = now;
        }
    }
    if (g->target[0] != '\0' && !g->acked && !g->indirect_sent &&
        now >= g->probe_deadline) {
        size_t k = swim_indirect_k(g->swim);
        size_t n = swim_probe_helpers(g->swim, g->target, helpers,
                                      k < sizeof(helpers) / sizeof(helpers[0])
                                          ? k
                                          : sizeof(helpers) / sizeof(helpers[0]));
        g->indirect_sent = true;
        for (size_t i = 0; i < n; i++)
            if (send_req(g, REQ_INDIRECT, helpers[i].gaddr, GMSG_PING_REQ, g->target,
                         (uint32_t)(g->period_end - now), NULL) != 0)
                swim_helper_result(g->swim, false);
    }
    if (g->target[0] != '\0' && !g->acked && !g->indirect_sent)
        return g->probe_deadline < g->period_end ? g->probe_deadline : g->period_end;
    return g->period_end;
}

static void *gossip_main(void *arg)
{
    struct gossip *g = arg;
    uint64_t last_ring = 0;

    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        uint64_t wake = step(g, mctime_mono_ms());
        struct timespec ts;
        uint64_t now = mctime_mono_ms();

        if (g->done != NULL) {
            pthread_mutex_unlock(&g->lock);
            reap(g);
            pthread_mutex_lock(&g->lock);
            continue;
        }
        if (g->dirty) {
            /* at most one ring per RING_EVERY_MS: a burst of changes
             * (a cluster forming) costs one build, not one each */
            if (now >= last_ring + RING_EVERY_MS) {
                g->dirty = false;
                pthread_mutex_unlock(&g->lock);
                g->l.commit(g->l.arg);
                last_ring = mctime_mono_ms();
                pthread_mutex_lock(&g->lock);
                continue;
            }
            if (wake > last_ring + RING_EVERY_MS)
                wake = last_ring + RING_EVERY_MS;
        }
        if (wake <= now)
            continue;
        mctime_deadline(&ts, wake - now);
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* ---- membership changes to the listener ---- */

static void on_change(void *arg, const struct gmsg_member *m, int old_state)
{
    struct gossip *g = arg;
    static const char *const names[] = {"forgotten", "alive", "suspect", "dead", "left"};

    if (verbose(g) > 0 && m->state != old_state)
        fprintf(stderr, "meshcached: member %s (%s) is %s (incarnation %llu)\n", m->id,
                m->addr, names[m->state <= GMSG_LEFT ? m->state : 0],
                (unsigned long long)m->incarnation);
    if (g->l.update(g->l.arg, m->id, m->addr, m->state, m->incarnation)) {
        g->dirty = true;
        pthread_cond_signal(&g->cond); /* the thread commits */
    }
}

/* ---- set-up and tear-down ---- */

static int read_key(struct gossip *g, const char *path)
{
    unsigned char buf[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "meshcached: cannot open --cluster-key %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "meshcached: --cluster-key %s is empty or unreadable\n", path);
        return -1;
    }
    /* any length of secret becomes a 32-byte HMAC key */
    crypto_generichash(g->key, sizeof(g->key), buf, (size_t)n, NULL, 0);
    sodium_memzero(buf, sizeof(buf));
    g->keyed = true;
    return 0;
}

int gossip_new(struct server *srv, const struct gossip_listener *l, struct gossip **out)
{
    const struct settings *s = &srv->settings;
    struct gossip *g = calloc(1, sizeof(*g));
    struct gmsg_member self;
    struct swim_config sc;
    char url[GMSG_MAX_ADDR + 16];
    uint64_t seed;
    int rc;

    if (g == NULL || sodium_init() < 0)
        goto nomem;
    g->srv = srv;
    g->l = *l;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->wbuf = malloc(GMSG_MAX_SIZE);
    if (g->wbuf == NULL)
        goto nomem;
    if (s->cluster_key_file[0] != '\0' && read_key(g, s->cluster_key_file) != 0)
        goto fail;
    if (strcmp(s->listen_addr, "0.0.0.0") == 0 || strcmp(s->listen_addr, "::") == 0) {
        /* it is also the address this node advertises */
        fprintf(stderr,
                "meshcached: gossip needs -l set to an address the other members "
                "can reach, not %s\n",
                s->listen_addr);
        goto fail;
    }
    memset(&self, 0, sizeof(self));
    snprintf(self.id, sizeof(self.id), "%s", s->node_id);
    /* a restart must outrank whatever the others remember of us: the wall
     * clock in milliseconds (a refutation adds only 1 at a time) */
    self.incarnation = mctime_wall_ms();
    self.state = GMSG_ALIVE;
    util_format_hostport(self.addr, sizeof(self.addr), s->listen_addr, s->port);
    util_format_hostport(self.gaddr, sizeof(self.gaddr), s->listen_addr, s->cluster_port);
    swim_config_defaults(&sc, s->gossip_interval_ms);
    getrandom(&seed, sizeof(seed), 0);
    rc = swim_new(&sc, &self, seed, on_change, g, &g->swim);
    if (rc != 0) {
        fprintf(stderr, "meshcached: cannot gossip as %s at %s: %s\n", self.id,
                self.gaddr,
                rc == -EINVAL ? "-l must be an address other members can reach"
                              : "out of memory");
        goto fail;
    }
    if (l->update(l->arg, self.id, self.addr, GMSG_ALIVE, self.incarnation))
        g->dirty = true;
    if (nng_rep0_open(&g->rep) != 0)
        goto nomem;
    nng_socket_set_size(g->rep, NNG_OPT_RECVMAXSZ, RECV_MAX);
    snprintf(url, sizeof(url), "tcp://%s", self.gaddr);
    rc = nng_listen(g->rep, url, NULL, 0);
    if (rc != 0) {
        fprintf(stderr, "meshcached: cannot listen on the cluster port %s: %s\n",
                self.gaddr, nng_strerror(rc));
        goto fail;
    }
    for (int i = 0; i < SERVER_CTXS; i++) {
        g->serv[i].g = g;
        if (nng_ctx_open(&g->serv[i].ctx, g->rep) != 0 ||
            nng_aio_alloc(&g->serv[i].aio, serv_cb, &g->serv[i]) != 0)
            goto nomem;
    }
    *out = g;
    return 0;

nomem:
    fprintf(stderr, "meshcached: out of memory starting gossip\n");
fail:
    gossip_free(g);
    return -1;
}

int gossip_start(struct gossip *g)
{
    for (int i = 0; i < SERVER_CTXS; i++)
        nng_ctx_recv(g->serv[i].ctx, g->serv[i].aio);
    if (pthread_create(&g->thread, NULL, gossip_main, g) != 0)
        return -1;
    g->started = true;
    return 0;
}

void gossip_leave(struct gossip *g)
{
    struct timespec until;

    if (g == NULL || !g->started)
        return;
    pthread_mutex_lock(&g->lock);
    swim_leave(g->swim);
    for (size_t i = 1; i < swim_count(g->swim); i++) {
        const struct gmsg_member *m = swim_member(g->swim, i);
        if (m->state == GMSG_ALIVE || m->state == GMSG_SUSPECT)
            send_req(g, REQ_LEAVE, m->gaddr, GMSG_PING, NULL, LEAVE_WAIT_MS, NULL);
    }
    /* every finished request signals the condition */
    mctime_deadline(&until, LEAVE_WAIT_MS);
    while (g->inflight > 0 && pthread_cond_timedwait(&g->cond, &g->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&g->lock);
}

/* Closes a socket on a helper thread and waits at most CLOSE_WAIT_MS for
 * it: libnng 1.5.2's nng_close() of a listening socket now and then never
 * returns when its peers hang up at the same moment (30 nodes stopped at
 * once, about one shutdown in ten, even with nothing of ours pending). By
 * then nothing of ours can be called back, so a stuck close is left to the
 * process's exit rather than hang it. */
struct closer {
    nng_socket sock;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done, abandoned;
};

static void closer_free(struct closer *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    bool abandoned;

    nng_close(c->sock);
    pthread_mutex_lock(&c->lock);
    c->done = true;
    abandoned = c->abandoned;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (abandoned)
        closer_free(c);
    return NULL;
}

static void close_bounded(nng_socket sock)
{
    struct closer *c = calloc(1, sizeof(*c));
    struct timespec ts;
    pthread_t t;
    bool done;

    if (c == NULL) {
        nng_close(sock);
        return;
    }
    c->sock = sock;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&t, NULL, closer_main, c) != 0) {
        closer_free(c);
        nng_close(sock);
        return;
    }
    pthread_detach(t);
    mctime_deadline(&ts, CLOSE_WAIT_MS);
    pthread_mutex_lock(&c->lock);
    while (!c->done && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
        ;
    done = c->done;
    c->abandoned = !done;
    pthread_mutex_unlock(&c->lock);
    if (done)
        closer_free(c);
    else
        fprintf(stderr, "meshcached: closing the cluster port did not finish; "
                        "leaving it to exit\n");
}

void gossip_free(struct gossip *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
    if (g->started)
        pthread_join(g->thread, NULL);
    /* Tear down in an order that leaves nng nothing to race on: first stop
     * the server contexts' operations (with stop set, their callbacks
     * start no new ones, and a relay's late answer is not sent), then end
     * our requests by closing their sockets, and close the listening socket
     * last, when none of its contexts has anything pending. (Closing it
     * first, with receives pending on 16 contexts, now and then never
     * returned in libnng 1.5.2 when many nodes stopped at once.) */
    for (int i = 0; i < SERVER_CTXS; i++)
        if (g->serv[i].aio != NULL)
            nng_aio_stop(g->serv[i].aio);
    /* Cancel our requests rather than let the sockets' close end them: a
     * request still queued for a peer that never connected was not freed
     * by libnng 1.5.2's close (LeakSanitizer). Their callbacks run with
     * stop set, free what is ours and move them to the done list. */
    for (;;) {
        struct greq *q;
        nng_aio *aio = NULL;
        pthread_mutex_lock(&g->lock);
        for (q = g->live; q != NULL; q = q->next_live) {
            if (!q->cancelled) {
                q->cancelled = true;
                aio = q->aio;
                break;
            }
        }
        pthread_mutex_unlock(&g->lock);
        if (aio == NULL)
            break;
        nng_aio_cancel(aio);
    }
    for (struct gpeer *p = g->peers; p != NULL; p = p->next)
        nng_close(p->sock);
    for (;;) {
        bool idle;
        reap(g);
        pthread_mutex_lock(&g->lock);
        idle = g->inflight == 0;
        pthread_mutex_unlock(&g->lock);
        if (idle)
            break;
        nng_msleep(5);
    }
    reap(g);
    for (int i = 0; i < SERVER_CTXS; i++) {
        if (g->serv[i].aio != NULL) {
            nng_aio_stop(g->serv[i].aio);
            nng_ctx_close(g->serv[i].ctx);
            nng_aio_free(g->serv[i].aio);
        }
    }
    close_bounded(g->rep);
    while (g->peers != NULL) {
        struct gpeer *p = g->peers;
        g->peers = p->next;
        free(p);
    }
    swim_free(g->swim);
    free(g->wbuf);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    sodium_memzero(g->key, sizeof(g->key));
    free(g);
}

void gossip_stats(struct gossip *g, struct buf *out)
{
    stats_line(out, "gossip_interval_ms", "%u", g->srv->settings.gossip_interval_ms);
    stats_line(out, "gossip_msgs_in", "%llu",
               (unsigned long long)__atomic_load_n(&g->msgs_in, __ATOMIC_RELAXED));
    stats_line(out, "gossip_msgs_out", "%llu",
               (unsigned long long)__atomic_load_n(&g->msgs_out, __ATOMIC_RELAXED));
    stats_line(out, "gossip_bytes_in", "%llu",
               (unsigned long long)__atomic_load_n(&g->bytes_in, __ATOMIC_RELAXED));
    stats_line(out, "gossip_bytes_out", "%llu",
               (unsigned long long)__atomic_load_n(&g->bytes_out, __ATOMIC_RELAXED));
    stats_line(out, "gossip_dropped", "%llu",
               (unsigned long long)__atomic_load_n(&g->dropped, __ATOMIC_RELAXED));
    stats_line(out, "gossip_bad_mac", "%llu",
               (unsigned long long)__atomic_load_n(&g->bad_mac, __ATOMIC_RELAXED));
}
