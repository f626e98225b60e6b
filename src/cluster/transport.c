/*
 * transport: nng req/rep sockets for gossip, MAC sealing with libsodium,
 * and a shutdown order (with a bounded close) that libnng 1.5.2 survives.
 */
#include "cluster/transport.h"
#include "base/stats.h"
#include "base/mctime.h"

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
#include <unistd.h>

#define CLOSE_WAIT_MS 2000 /* longest wait for nng_close() at shutdown */

_Static_assert(TRANSPORT_KEY_LEN == crypto_auth_hmacsha256_KEYBYTES, "HMAC key size");
_Static_assert(TRANSPORT_MAC_LEN == crypto_auth_hmacsha256_BYTES, "HMAC size");

/* One outgoing request; freed by transport_reap() once done. */
struct treq {
    struct transport *t;
    nng_ctx ctx;
    nng_aio *aio;
    transport_done_fn fn;
    void *arg;
    bool receiving;                     /* the send is done, waiting for the answer */
    bool cancelled;                     /* transport_free() cancelled it */
    struct treq *next;                  /* the done list */
    struct treq *prev_live, *next_live; /* the list of unfinished requests */
};

/* A req socket to one remote address. */
struct tpeer {
    nng_socket sock;
    bool dialled;          /* a dialer is in place (it reconnects by itself) */
    struct closer *closer; /* at shutdown: closing it (close_start) */
    struct tpeer *next;
    char addr[]; /* "host:port" */
};

struct transport_served {
    struct transport *t;
    nng_ctx ctx;
    nng_aio *aio;
    bool sending; /* an answer is being sent */
};

struct transport {
    pthread_mutex_t lock; /* everything below but the counters; a leaf */
    struct transport_key key;
    size_t recv_max; /* body plus MAC */
    nng_socket rep;
    bool rep_open;
    struct transport_served serv[TRANSPORT_SERVE_CTXS];
    transport_serve_fn serve;
    void *serve_arg;
    struct tpeer *peers;
    struct treq *live; /* unfinished requests */
    struct treq *done; /* finished requests, freed by transport_reap() */
    unsigned inflight; /* requests not yet finished */
    bool closing;
    /* counters (atomic) */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, bad_mac;
};

/* ---- sealing ---- */

void transport_key_derive(struct transport_key *key, const void *secret, size_t len)
{
    /* any length of secret becomes a 32-byte HMAC key */
    crypto_generichash(key->k, sizeof(key->k), secret, len, NULL, 0);
    key->set = true;
}

int transport_key_read(const char *path, struct transport_key *key)
{
    unsigned char buf[4096];
    ssize_t n;
    int fd;

    if (sodium_init() < 0) {
        fprintf(stderr, "meshcached: out of memory starting gossip\n");
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
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
    transport_key_derive(key, buf, (size_t)n);
    sodium_memzero(buf, sizeof(buf));
    return 0;
}

void transport_key_clear(struct transport_key *key)
{
    sodium_memzero(key, sizeof(*key));
}

size_t transport_seal(const struct transport_key *key, const void *body, size_t len,
                      unsigned char *mac)
{
    if (key == NULL || !key->set)
        return 0;
    crypto_auth_hmacsha256(mac, body, len, key->k);
    return TRANSPORT_MAC_LEN;
}

int transport_open(const struct transport_key *key, const void *msg, size_t len,
                   size_t *body_len)
{
    const unsigned char *p = msg;

    if (key == NULL || !key->set) {
        *body_len = len;
        return 0;
    }
    if (len < TRANSPORT_MAC_LEN ||
        crypto_auth_hmacsha256_verify(p + len - TRANSPORT_MAC_LEN, p,
                                      len - TRANSPORT_MAC_LEN, key->k) != 0)
        return -EBADMSG;
    *body_len = len - TRANSPORT_MAC_LEN;
    return 0;
}

/* body[0..len) with its MAC in a new nng message, counted as sent. */
static nng_msg *seal_msg(struct transport *t, const char *body, size_t len)
{
    unsigned char mac[TRANSPORT_MAC_LEN];
    size_t maclen;
    nng_msg *msg;

    if (len == 0 || nng_msg_alloc(&msg, 0) != 0)
        return NULL;
    maclen = transport_seal(&t->key, body, len, mac);
    if (nng_msg_append(msg, body, len) != 0 ||
        (maclen > 0 && nng_msg_append(msg, mac, maclen) != 0)) {
        nng_msg_free(msg);
        return NULL;
    }
    stats_count(&t->msgs_out, 1);
    stats_count(&t->bytes_out, nng_msg_len(msg));
    return msg;
}

/* Counts a received message and checks its MAC. Returns 0 with *len the
 * body's length, or -EBADMSG (counted). */
static int open_msg(struct transport *t, nng_msg *msg, size_t *len)
{
    stats_count(&t->msgs_in, 1);
    stats_count(&t->bytes_in, nng_msg_len(msg));
    if (transport_open(&t->key, nng_msg_body(msg), nng_msg_len(msg), len) != 0) {
        stats_count(&t->bad_mac, 1);
        return -EBADMSG;
    }
    return 0;
}

/* ---- requests ---- */

/* The req socket for addr, opened and dialled on first use. Under lock. */
static struct tpeer *peer_for(struct transport *t, const char *addr)
{
    struct tpeer *p;
    char url[300];

    for (p = t->peers; p != NULL; p = p->next)
        if (strcmp(p->addr, addr) == 0)
            break;
    if (p == NULL) {
        size_t n = strlen(addr) + 1;
        p = calloc(1, sizeof(*p) + n);
        if (p == NULL)
            return NULL;
        memcpy(p->addr, addr, n);
        if (nng_req0_open(&p->sock) != 0) {
            free(p);
            return NULL;
        }
        /* no resends: SWIM decides what a lost answer means */
        nng_socket_set_ms(p->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, t->recv_max);
        nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 100);
        nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 1000);
        p->next = t->peers;
        t->peers = p;
    }
    /* A socket whose dial failed stays, to be dialled again by the next
     * request: closing it here could be inside an aio callback (a served
     * request that asks us to probe someone), which nng forbids. */
    if (!p->dialled) {
        if (snprintf(url, sizeof(url), "tcp://%s", addr) >= (int)sizeof(url) ||
            nng_dial(p->sock, url, NULL, NNG_FLAG_NONBLOCK) != 0)
            return NULL;
        p->dialled = true;
    }
    return p;
}

/* Ends a request: it goes to the done list for transport_reap(). */
static void req_finish(struct treq *q)
{
    struct transport *t = q->t;

    pthread_mutex_lock(&t->lock);
    if (q->prev_live != NULL)
        q->prev_live->next_live = q->next_live;
    else
        t->live = q->next_live;
    if (q->next_live != NULL)
        q->next_live->prev_live = q->prev_live;
    q->next = t->done;
    t->done = q;
    t->inflight--;
    pthread_mutex_unlock(&t->lock);
}

static int status_of(int rc)
{
    switch (rc) {
    case NNG_ETIMEDOUT:
        return -ETIMEDOUT;
    case NNG_ECANCELED:
    case NNG_ECLOSED:
        return -ECANCELED;
    default:
        return -EIO;
    }
}

static void req_cb(void *arg)
{
    struct treq *q = arg;
    struct transport *t = q->t;
    int rc = nng_aio_result(q->aio), status;
    nng_msg *msg = NULL;
    size_t len = 0;

    pthread_mutex_lock(&t->lock);
    if (!q->receiving) {
        if (rc == 0 && !t->closing) {
            q->receiving = true;
            pthread_mutex_unlock(&t->lock);
            nng_ctx_recv(q->ctx, q->aio);
            return;
        }
        nng_msg_free(nng_aio_get_msg(q->aio)); /* not sent: still ours */
        status = rc == 0 ? -ECANCELED : status_of(rc);
    } else {
        status = status_of(rc);
    }
    pthread_mutex_unlock(&t->lock);
    if (q->receiving && rc == 0) {
        msg = nng_aio_get_msg(q->aio);
        status = open_msg(t, msg, &len);
    }
    q->fn(q->arg, status, status == 0 ? nng_msg_body(msg) : NULL, status == 0 ? len : 0);
    if (msg != NULL)
        nng_msg_free(msg);
    req_finish(q);
}

int transport_request(struct transport *t, const char *addr, const char *msg, size_t len,
                      uint32_t timeout_ms, transport_done_fn fn, void *arg)
{
    struct tpeer *p;
    struct treq *q;
    nng_msg *m;
    int rc = -ENOMEM;

    pthread_mutex_lock(&t->lock);
    if (t->closing) {
        rc = -ECANCELED;
        goto out;
    }
    p = peer_for(t, addr);
    if (p == NULL) {
        rc = -EIO;
        goto out;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        goto out;
    q->t = t;
    q->fn = fn;
    q->arg = arg;
    if (nng_ctx_open(&q->ctx, p->sock) != 0) {
        free(q);
        goto out;
    }
    if (nng_aio_alloc(&q->aio, req_cb, q) != 0) {
        nng_ctx_close(q->ctx);
        free(q);
        goto out;
    }
    m = seal_msg(t, msg, len);
    if (m == NULL) {
        nng_aio_free(q->aio);
        nng_ctx_close(q->ctx);
        free(q);
        goto out;
    }
    /* a request with no peer connected would wait forever */
    nng_aio_set_timeout(q->aio, (nng_duration)timeout_ms);
    nng_aio_set_msg(q->aio, m);
    t->inflight++;
    q->next_live = t->live;
    if (t->live != NULL)
        t->live->prev_live = q;
    t->live = q;
    nng_ctx_send(q->ctx, q->aio);
    rc = 0;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void transport_reap(struct transport *t)
{
    struct treq *q;

    pthread_mutex_lock(&t->lock);
    q = t->done;
    t->done = NULL;
    pthread_mutex_unlock(&t->lock);
    while (q != NULL) {
        struct treq *next = q->next;
        nng_aio_free(q->aio);
        nng_ctx_close(q->ctx);
        free(q);
        q = next;
    }
}

/* ---- serving ---- */

static void serv_cb(void *arg)
{
    struct transport_served *s = arg;
    struct transport *t = s->t;
    int rc = nng_aio_result(s->aio);
    nng_msg *msg;
    size_t len;

    pthread_mutex_lock(&t->lock);
    if (s->sending) {
        s->sending = false;
        if (rc != 0)
            nng_msg_free(nng_aio_get_msg(s->aio));
    } else if (rc == 0) {
        msg = nng_aio_get_msg(s->aio);
        if (open_msg(t, msg, &len) == 0 && !t->closing) {
            pthread_mutex_unlock(&t->lock);
            /* answered through transport_answer(), which receives again */
            t->serve(t->serve_arg, s, nng_msg_body(msg), len);
            nng_msg_free(msg);
            return;
        }
        nng_msg_free(msg);
    } else if (rc == NNG_ECLOSED || t->closing) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (!t->closing)
        nng_ctx_recv(s->ctx, s->aio);
    pthread_mutex_unlock(&t->lock);
}

void transport_answer(struct transport *t, struct transport_served *s, const char *msg,
                      size_t len)
{
    nng_msg *m = NULL;

    pthread_mutex_lock(&t->lock);
    if (t->closing) {
        /* its context is being closed: a late answer is not sent */
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (msg != NULL)
        m = seal_msg(t, msg, len);
    if (m == NULL) {
        nng_ctx_recv(s->ctx, s->aio); /* drop it; the requester times out */
    } else {
        s->sending = true;
        nng_aio_set_msg(s->aio, m);
        nng_ctx_send(s->ctx, s->aio);
    }
    pthread_mutex_unlock(&t->lock);
}

void transport_counters(struct transport *t, struct transport_counters *c)
{
    c->msgs_in = stats_counted(&t->msgs_in);
    c->msgs_out = stats_counted(&t->msgs_out);
    c->bytes_in = stats_counted(&t->bytes_in);
    c->bytes_out = stats_counted(&t->bytes_out);
    c->bad_mac = stats_counted(&t->bad_mac);
}

/* ---- life ---- */

int transport_new(const struct transport_config *cfg, struct transport **out)
{
    struct transport *t = calloc(1, sizeof(*t));
    char url[300];
    int rc;

    if (t == NULL)
        goto nomem;
    pthread_mutex_init(&t->lock, NULL);
    if (sodium_init() < 0)
        goto nomem;
    if (cfg->key != NULL)
        t->key = *cfg->key;
    t->recv_max = cfg->max_msg + TRANSPORT_MAC_LEN;
    if (nng_rep0_open(&t->rep) != 0)
        goto nomem;
    t->rep_open = true;
    nng_socket_set_size(t->rep, NNG_OPT_RECVMAXSZ, t->recv_max);
    snprintf(url, sizeof(url), "tcp://%s", cfg->listen);
    rc = nng_listen(t->rep, url, NULL, 0);
    if (rc != 0) {
        fprintf(stderr, "meshcached: cannot listen on the cluster port %s: %s\n",
                cfg->listen, nng_strerror(rc));
        goto fail;
    }
    for (int i = 0; i < TRANSPORT_SERVE_CTXS; i++) {
        t->serv[i].t = t;
        if (nng_ctx_open(&t->serv[i].ctx, t->rep) != 0 ||
            nng_aio_alloc(&t->serv[i].aio, serv_cb, &t->serv[i]) != 0)
            goto nomem;
    }
    *out = t;
    return 0;

nomem:
    fprintf(stderr, "meshcached: out of memory starting gossip\n");
fail:
    transport_free(t);
    return -1;
}

void transport_start(struct transport *t, transport_serve_fn serve, void *arg)
{
    t->serve = serve;
    t->serve_arg = arg;
    for (int i = 0; i < TRANSPORT_SERVE_CTXS; i++)
        nng_ctx_recv(t->serv[i].ctx, t->serv[i].aio);
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

    pthread_setname_np(pthread_self(), "mc-closer");
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

/* Starts closing sock on a helper thread. Returns the closer to wait for,
 * or NULL when sock was closed here and then (no memory or thread). */
static struct closer *close_start(nng_socket sock)
{
    struct closer *c = calloc(1, sizeof(*c));
    pthread_t th;

    if (c == NULL) {
        nng_close(sock);
        return NULL;
    }
    c->sock = sock;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&th, NULL, closer_main, c) != 0) {
        closer_free(c);
        nng_close(sock);
        return NULL;
    }
    pthread_detach(th);
    return c;
}

/* Waits until c's close is done or the deadline passes (then leaves it to
 * the process's exit). Returns false when it did not finish. */
static bool close_wait(struct closer *c, const struct timespec *deadline)
{
    bool done;

    if (c == NULL)
        return true;
    pthread_mutex_lock(&c->lock);
    while (!c->done && pthread_cond_timedwait(&c->cond, &c->lock, deadline) == 0)
        ;
    done = c->done;
    c->abandoned = !done;
    pthread_mutex_unlock(&c->lock);
    if (done)
        closer_free(c);
    else
        fprintf(stderr, "meshcached: closing the cluster port did not finish; "
                        "leaving it to exit\n");
    return done;
}

static void close_bounded(nng_socket sock)
{
    struct timespec ts;

    mctime_deadline(&ts, CLOSE_WAIT_MS);
    close_wait(close_start(sock), &ts);
}

void transport_free(struct transport *t)
{
    struct timespec ts;

    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->closing = true;
    pthread_mutex_unlock(&t->lock);
    /* Tear down in an order that leaves nng nothing to race on: first stop
     * the server contexts' operations (with closing set, their callbacks
     * start no new ones, and a late answer is not sent), then end our
     * requests by closing their sockets, and close the listening socket
     * last, when none of its contexts has anything pending. (Closing it
     * first, with receives pending on 16 contexts, now and then never
     * returned in libnng 1.5.2 when many nodes stopped at once.) */
    for (int i = 0; i < TRANSPORT_SERVE_CTXS; i++)
        if (t->serv[i].aio != NULL)
            nng_aio_stop(t->serv[i].aio);
    /* Cancel our requests rather than let the sockets' close end them: a
     * request still queued for a peer that never connected was not freed
     * by libnng 1.5.2's close (LeakSanitizer). Their callbacks run with
     * closing set, end them with -ECANCELED and move them to the done
     * list. */
    for (;;) {
        struct treq *q;
        nng_aio *aio = NULL;
        pthread_mutex_lock(&t->lock);
        for (q = t->live; q != NULL; q = q->next_live) {
            if (!q->cancelled) {
                q->cancelled = true;
                aio = q->aio;
                break;
            }
        }
        pthread_mutex_unlock(&t->lock);
        if (aio == NULL)
            break;
        nng_aio_cancel(aio);
    }
    /* libnng 1.5.2's nng_close() of a request socket now and then never
     * returns when its peer stopped at the same moment: bounded, like the
     * listening socket's below, and all at once with one deadline (one
     * after the other, two stuck closes and the listener's took 6 s: a
     * client that pipelined requests to the cluster port and hung up made
     * that happen every other shutdown) */
    for (struct tpeer *p = t->peers; p != NULL; p = p->next)
        p->closer = close_start(p->sock);
    mctime_deadline(&ts, CLOSE_WAIT_MS);
    for (struct tpeer *p = t->peers; p != NULL; p = p->next)
        close_wait(p->closer, &ts);
    for (uint64_t until = mctime_mono_ms() + CLOSE_WAIT_MS;;) {
        bool idle;
        transport_reap(t);
        pthread_mutex_lock(&t->lock);
        idle = t->inflight == 0;
        pthread_mutex_unlock(&t->lock);
        if (idle)
            break;
        if (mctime_mono_ms() > until) {
            /* a close that hung never ends its requests: their callbacks
             * may still come, so t stays (the process is exiting) */
            fprintf(stderr, "meshcached: requests on the cluster port did not end; "
                            "leaving them to exit\n");
            return;
        }
        nng_msleep(5);
    }
    transport_reap(t);
    for (int i = 0; i < TRANSPORT_SERVE_CTXS; i++) {
        if (t->serv[i].aio != NULL) {
            nng_aio_stop(t->serv[i].aio);
            nng_ctx_close(t->serv[i].ctx);
            nng_aio_free(t->serv[i].aio);
        }
    }
    if (t->rep_open)
        close_bounded(t->rep);
    while (t->peers != NULL) {
        struct tpeer *p = t->peers;
        t->peers = p->next;
        free(p);
    }
    pthread_mutex_destroy(&t->lock);
    transport_key_clear(&t->key);
    free(t);
}
