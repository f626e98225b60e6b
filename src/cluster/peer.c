/*
 * peer: pipelined connections to cluster members, one per member per
 * thread; requests queue in order with their deadlines and callbacks, and
 * replies are framed by peer_reply and handed back in the same order.
 */
#include "cluster/peer.h"
#include "proto/peerauth.h"
#include "base/buf.h"
#include "base/inbuf.h"
#include "base/mctime.h"
#include "base/tls.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF_INITIAL  16384
#define RBUF_KEEP_MAX (256u * 1024)
#define MAX_PENDING   65536               /* requests queued per member */
#define MAX_OUT_BYTES (64u * 1024 * 1024) /* unsent bytes per member */
#define BACKOFF_FIRST 25                  /* ms before the first reconnect */
#define BACKOFF_MAX   1000                /* ms, the cap */
#define HELLO_TAG     UINT32_MAX
#define AUTH_LINE     (9 + 2 * PEERAUTH_MAC + 2) /* "peerauth <hex proof>\r\n" */

enum peer_state {
    PEER_IDLE,       /* no connection */
    PEER_CONNECTING, /* connect(2) in progress */
    PEER_UP,         /* connected; the hello may still be unanswered */
};

/* One request waiting for its reply. */
struct pending {
    peer_done_fn fn; /* NULL for our hello */
    void *arg;
    uint32_t tag;
    uint8_t kind;         /* enum peer_reply_kind */
    uint64_t deadline_ms; /* monotonic */
};

struct peer {
    struct peer_set *ps;
    uint32_t member;
    enum peer_state state;
    int fd;
    struct tls *tls;     /* -Z: the connection's TLS session; NULL: plain */
    struct event *ev;    /* socket readiness */
    short ev_flags;      /* as registered */
    struct event *timer; /* the oldest request's deadline */
    struct buf out;      /* requests not yet written */
    struct inbuf in;     /* replies read, not yet framed */
    struct peer_reply_parser parser;
    struct pending *q; /* ring buffer of requests awaiting replies */
    size_t qcap, qhead, qlen;
    uint64_t retry_at_ms; /* IDLE: no connect before this */
    uint32_t backoff_ms;  /* the next failure's wait */
    /* keyed hello: out[0..hold) may go before the answer, nothing after it
     * (0: no hold); our proof goes at out[hold..hold + AUTH_LINE) */
    size_t hold;
    unsigned char cn[PEERAUTH_NONCE]; /* our nonce on this connection */
    bool dirty;                       /* on the set's flush list */
    struct peer *next_dirty;
};

struct peer_set {
    struct peer_set_config cfg;
    struct peer **peers; /* by member slot, created on first use */
    size_t npeers;
    struct event *flush_ev; /* writes the batch once per loop pass */
    struct peer *dirty;
    char hello[64 + 256];
    size_t hello_len;
};

static void peer_event(evutil_socket_t fd, short what, void *arg);
static void peer_timer(evutil_socket_t fd, short what, void *arg);

const char *peer_strerror(int status)
{
    switch (status) {
    case -ETIMEDOUT:
        return "timed out";
    case -EPROTO:
        return "protocol error";
    case -ENOBUFS:
        return "overloaded";
    case -ECANCELED:
        return "shutting down";
    default:
        return "unreachable";
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg);

int peer_set_new(const struct peer_set_config *cfg, struct peer_set **out)
{
    struct peer_set *ps = calloc(1, sizeof(*ps));
    int n;

    if (ps == NULL)
        return -ENOMEM;
    ps->cfg = *cfg;
    ps->flush_ev = event_new(cfg->base, -1, 0, flush_cb, ps);
    if (ps->flush_ev == NULL) {
        free(ps);
        return -ENOMEM;
    }
    /* keyed: each connection's nonce follows */
    n = snprintf(ps->hello, sizeof(ps->hello),
                 cfg->auth_key != NULL ? "peer %s %u " : "peer %s %u\r\n", cfg->self_id,
                 cfg->vnodes);
    ps->hello_len = n > 0 && (size_t)n < sizeof(ps->hello) ? (size_t)n : 0;
    *out = ps;
    return 0;
}

static struct peer *peer_get(struct peer_set *ps, uint32_t member)
{
    struct peer *p;

    if (member >= ps->npeers) {
        size_t n = (size_t)member + 1;
        struct peer **grown = realloc(ps->peers, n * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        memset(grown + ps->npeers, 0, (n - ps->npeers) * sizeof(*grown));
        ps->peers = grown;
        ps->npeers = n;
    }
    if (ps->peers[member] != NULL)
        return ps->peers[member];
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->ps = ps;
    p->member = member;
    p->fd = -1;
    p->backoff_ms = BACKOFF_FIRST;
    p->timer = evtimer_new(ps->cfg.base, peer_timer, p);
    if (p->timer == NULL) {
        free(p);
        return NULL;
    }
    buf_init(&p->out);
    ps->peers[member] = p;
    return p;
}

static void arm_timer(struct peer *p)
{
    uint64_t now, wait;
    struct timeval tv;

    if (p->qlen == 0) {
        evtimer_del(p->timer);
        return;
    }
    now = mctime_mono_ms();
    wait = p->q[p->qhead].deadline_ms > now ? p->q[p->qhead].deadline_ms - now : 0;
    tv.tv_sec = (time_t)(wait / 1000);
    tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
    evtimer_add(p->timer, &tv);
}

static int set_events(struct peer *p, short flags)
{
    if (p->ev_flags == flags)
        return 0;
    event_del(p->ev);
    if (event_assign(p->ev, p->ps->cfg.base, p->fd, flags | EV_PERSIST, peer_event, p) !=
            0 ||
        event_add(p->ev, NULL) != 0)
        return -1;
    p->ev_flags = flags;
    return 0;
}

/* No reconnect before the backoff runs out; the next one waits twice as
 * long, up to BACKOFF_MAX. */
static void back_off(struct peer *p)
{
    p->retry_at_ms = mctime_mono_ms() + p->backoff_ms;
    p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX ? BACKOFF_MAX : p->backoff_ms * 2;
}

/*
 * Closes the connection and answers every queued request with status. The
 * queue is taken off the peer first, so a callback that queues a new request
 * for this member sees an idle peer in backoff.
 */
static void peer_fail(struct peer *p, int status)
{
    struct pending *q = p->q;
    size_t qcap = p->qcap, qhead = p->qhead, qlen = p->qlen;

    if (p->fd >= 0) {
        /* Abort, do not close: a normal close would still deliver what is
         * unsent or unacknowledged, so after a partition heals a command
         * the client was told had failed (timed out) could run on the
         * member, late, and as a write even win over newer ones. A reset
         * drops it. */
        struct linger abort_now = {.l_onoff = 1, .l_linger = 0};
        setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof(abort_now));
        event_free(p->ev);
        p->ev = NULL;
        tls_free(p->tls, false);
        p->tls = NULL;
        close(p->fd);
        p->fd = -1;
    }
    p->state = PEER_IDLE;
    p->ev_flags = 0;
    evtimer_del(p->timer);
    buf_reset(&p->out);
    p->hold = 0;
    p->in.start = p->in.end = 0;
    p->q = NULL;
    p->qcap = p->qhead = p->qlen = 0;
    back_off(p);
    for (size_t i = 0; i < qlen; i++) {
        struct pending *e = &q[(qhead + i) % qcap];
        if (e->fn != NULL)
            e->fn(e->arg, e->tag, status, false, NULL, 0);
    }
    free(q);
}

/* peer_fail() for a connection the member refused or dropped (err: the
 * errno, 0 for an orderly close), which the set's owner is told of. */
static void peer_lost(struct peer *p, int err)
{
    const struct peer_set_config *cfg = &p->ps->cfg;

    peer_fail(p, -ECONNRESET);
    if (cfg->down != NULL &&
        (err == 0 || err == ECONNREFUSED || err == ECONNRESET || err == EPIPE))
        cfg->down(cfg->down_arg, p->member,
                  err == ECONNREFUSED ? -ECONNREFUSED : -ECONNRESET);
}

static void mark_dirty(struct peer *p)
{
    if (p->dirty)
        return;
    p->dirty = true;
    p->next_dirty = p->ps->dirty;
    if (p->ps->dirty == NULL)
        event_active(p->ps->flush_ev, EV_WRITE, 0);
    p->ps->dirty = p;
}

/* Writes what is queued. Returns 0, or -1 after failing the peer. */
static int peer_flush(struct peer *p)
{
    size_t end;

    while ((end = p->hold != 0 ? p->hold : p->out.len) > p->out.off) {
        ssize_t n =
            tls_io_write(p->tls, p->fd, p->out.data + p->out.off, end - p->out.off);
        if (n > 0) {
            p->out.off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return set_events(p, EV_READ | tls_io_want(p->tls, EV_WRITE)) == 0
                       ? 0
                       : (peer_fail(p, -ECONNRESET), -1);
        peer_lost(p, n < 0 ? errno : 0);
        return -1;
    }
    if (p->hold == 0)
        buf_reset(&p->out);
    if (set_events(p, EV_READ) != 0) {
        peer_fail(p, -ECONNRESET);
        return -1;
    }
    return 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct peer_set *ps = arg;

    (void)fd;
    (void)what;
    while (ps->dirty != NULL) {
        struct peer *p = ps->dirty;
        ps->dirty = p->next_dirty;
        p->dirty = false;
        if (p->state == PEER_UP)
            peer_flush(p);
    }
}

static int push_pending(struct peer *p, peer_done_fn fn, void *arg, uint32_t tag,
                        enum peer_reply_kind kind, uint32_t timeout_ms)
{
    struct pending *e;

    if (p->qlen == p->qcap) {
        size_t ncap = p->qcap ? p->qcap * 2 : 16;
        struct pending *nq = malloc(ncap * sizeof(*nq));
        if (nq == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < p->qlen; i++)
            nq[i] = p->q[(p->qhead + i) % p->qcap];
        free(p->q);
        p->q = nq;
        p->qcap = ncap;
        p->qhead = 0;
    }
    e = &p->q[(p->qhead + p->qlen) % p->qcap];
    e->fn = fn;
    e->arg = arg;
    e->tag = tag;
    e->kind = (uint8_t)kind;
    e->deadline_ms = mctime_mono_ms() + timeout_ms;
    /* A pending timer is for an earlier deadline: it fires first and
     * re-arms for the queue's head then, which saves a timer update per
     * request. */
    if (p->qlen++ == 0 && !evtimer_pending(p->timer, NULL))
        arm_timer(p);
    return 0;
}

/* Starts connecting and queues our hello first. Returns 0 or -EAGAIN. */
static int peer_connect(struct peer *p)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int one = 1, fd;

    if (p->ps->cfg.addr(p->ps->cfg.addr_arg, p->member, &sa, &salen) != 0)
        return -EAGAIN;
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, salen) != 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        back_off(p);
        if (err == ECONNREFUSED && p->ps->cfg.down != NULL)
            p->ps->cfg.down(p->ps->cfg.down_arg, p->member, -ECONNREFUSED);
        return -EAGAIN;
    }
    p->ev = event_new(p->ps->cfg.base, fd, EV_WRITE | EV_PERSIST, peer_event, p);
    p->tls = p->ps->cfg.tls ? tls_client_new(fd) : NULL;
    if (p->ev == NULL || (p->ps->cfg.tls && p->tls == NULL) ||
        event_add(p->ev, NULL) != 0) {
        if (p->ev != NULL)
            event_free(p->ev);
        p->ev = NULL;
        tls_free(p->tls, false);
        p->tls = NULL;
        close(fd);
        goto fail;
    }
    p->fd = fd;
    p->ev_flags = EV_WRITE;
    p->state = PEER_CONNECTING;
    if (p->in.data == NULL)
        inbuf_init(&p->in, RBUF_INITIAL);
    peer_reply_init(&p->parser, p->ps->cfg.max_value);
    buf_append(&p->out, p->ps->hello, p->ps->hello_len);
    if (p->ps->cfg.auth_key != NULL) {
        /* the nonce, then room for our proof, which waits for the answer */
        char hex[2 * PEERAUTH_NONCE + 1];
        peerauth_nonce(p->cn);
        peerauth_tohex(p->cn, sizeof(p->cn), hex);
        buf_append(&p->out, hex, 2 * PEERAUTH_NONCE);
        buf_append(&p->out, "\r\n", 2);
        p->hold = p->out.len;
        /* "peerauth " and the proof's room, filled by prove() */
        static const char room[AUTH_LINE + 1] =
            "peerauth "
            "0000000000000000000000000000000000000000000000000000000000000000\r\n";
        _Static_assert(sizeof(room) == AUTH_LINE + 1, "the proof's room");
        buf_append(&p->out, room, AUTH_LINE);
    }
    if (p->in.data == NULL || p->out.oom ||
        push_pending(p, NULL, NULL, HELLO_TAG, PEER_REPLY_LINE, p->ps->cfg.timeout_ms) !=
            0) {
        peer_fail(p, -ECONNRESET);
        return -EAGAIN;
    }
    return 0;

fail:
    back_off(p);
    return -EAGAIN;
}

int peer_request(struct peer_set *ps, uint32_t member, const struct iovec *iov,
                 int iovcnt, enum peer_reply_kind kind, peer_done_fn fn, void *arg,
                 uint32_t tag)
{
    return peer_request_within(ps, member, iov, iovcnt, kind, fn, arg, tag,
                               ps->cfg.timeout_ms);
}

int peer_request_within(struct peer_set *ps, uint32_t member, const struct iovec *iov,
                        int iovcnt, enum peer_reply_kind kind, peer_done_fn fn, void *arg,
                        uint32_t tag, uint32_t timeout_ms)
{
    struct peer *p = peer_get(ps, member);
    size_t mark;
    int rc;

    if (p == NULL)
        return -ENOMEM;
    if (p->qlen >= MAX_PENDING || buf_pending(&p->out) >= MAX_OUT_BYTES)
        return -ENOBUFS;
    if (p->state == PEER_IDLE) {
        if (mctime_mono_ms() < p->retry_at_ms)
            return -EAGAIN;
        if ((rc = peer_connect(p)) != 0)
            return rc;
    }
    mark = p->out.len;
    for (int i = 0; i < iovcnt; i++)
        buf_append(&p->out, iov[i].iov_base, iov[i].iov_len);
    if (p->out.oom || push_pending(p, fn, arg, tag, kind, timeout_ms) != 0) {
        p->out.len = mark;
        p->out.oom = false;
        return -ENOMEM;
    }
    if (p->state == PEER_UP)
        mark_dirty(p);
    return 0;
}

bool peer_available(const struct peer_set *ps, uint32_t member)
{
    const struct peer *p = member < ps->npeers ? ps->peers[member] : NULL;

    return p == NULL || p->state != PEER_IDLE || mctime_mono_ms() >= p->retry_at_ms;
}

void peer_reset_backoff(struct peer_set *ps, uint32_t member)
{
    struct peer *p = member < ps->npeers ? ps->peers[member] : NULL;

    if (p != NULL) {
        p->retry_at_ms = 0;
        p->backoff_ms = BACKOFF_FIRST;
    }
}

/* A keyed hello's answer goes on "<nonce> <proof>" (at s): checks the
 * proof of the member with id, and writes ours into the room left for it,
 * which may then go. */
static bool prove(struct peer *p, const char *id, const char *s)
{
    unsigned char sn[PEERAUTH_NONCE], mac[PEERAUTH_MAC], want[PEERAUTH_MAC];
    const unsigned char *k = p->ps->cfg.auth_key;
    const char *sp = strchr(s, ' ');
    char hex[2 * PEERAUTH_MAC + 1];

    if (sp == NULL || p->hold == 0 ||
        !peerauth_fromhex(s, (size_t)(sp - s), sn, sizeof(sn)) ||
        !peerauth_fromhex(sp + 1, strlen(sp + 1), mac, sizeof(mac)))
        return false;
    peerauth_mac(k, 'S', p->ps->cfg.self_id, id, p->cn, sn, want);
    if (!peerauth_equal(mac, want))
        return false;
    peerauth_mac(k, 'C', p->ps->cfg.self_id, id, p->cn, sn, mac);
    peerauth_tohex(mac, sizeof(mac), hex);
    memcpy(p->out.data + p->hold + 9, hex, 2 * PEERAUTH_MAC);
    p->hold = 0;
    mark_dirty(p);
    return true;
}

/* Our hello's answer: "PEER <id> <vnodes>", and with a key " <nonce>
 * <proof>" (then ours goes). */
static bool hello_ok(struct peer *p, const char *s, size_t n)
{
    char line[PEER_REPLY_MAX_LINE], *id, *sp, *end;
    unsigned long vnodes;

    if (n < 7 || n - 2 >= sizeof(line) || memcmp(s, "PEER ", 5) != 0)
        return false;
    memcpy(line, s + 5, n - 7);
    line[n - 7] = '\0';
    id = line;
    sp = strchr(id, ' ');
    if (sp == NULL || sp == id)
        return false;
    *sp = '\0';
    errno = 0;
    vnodes = strtoul(sp + 1, &end, 10);
    if (errno != 0 || end == sp + 1 || vnodes > UINT32_MAX)
        return false;
    if (p->ps->cfg.auth_key != NULL ? *end != ' ' || !prove(p, id, end + 1)
                                    : *end != '\0')
        return false;
    if (p->ps->cfg.hello == NULL)
        return true;
    return p->ps->cfg.hello(p->ps->cfg.hello_arg, p->member, id, (unsigned)vnodes);
}

/* Frames and hands out every whole reply in rbuf. Returns 0, or -1 after
 * failing the peer. */
static int peer_deliver(struct peer *p)
{
    while (p->in.start < p->in.end) {
        struct pending e;
        size_t consumed = 0;
        const char *r = p->in.data + p->in.start;
        int rc;

        if (p->qlen == 0) {
            peer_fail(p, -EPROTO); /* bytes nobody asked for */
            return -1;
        }
        e = p->q[p->qhead];
        rc = peer_reply_frame(&p->parser, (enum peer_reply_kind)e.kind, r,
                              p->in.end - p->in.start, &consumed);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            peer_fail(p, -EPROTO);
            return -1;
        }
        p->qhead = (p->qhead + 1) % p->qcap;
        p->qlen--;
        p->in.start += consumed;
        if (e.fn == NULL) {
            if (p->parser.error || !hello_ok(p, r, consumed)) {
                peer_fail(p, -ECONNRESET);
                return -1;
            }
            p->backoff_ms = BACKOFF_FIRST;
        } else {
            e.fn(e.arg, e.tag, 0, p->parser.error, r, consumed);
        }
        if (p->state != PEER_UP)
            return -1; /* a callback cannot fail us, but stay safe */
    }
    return 0;
}

static int peer_read(struct peer *p)
{
    for (;;) {
        ssize_t n;

        inbuf_rewind(&p->in, RBUF_INITIAL, RBUF_KEEP_MAX);
        /* moving the unframed reply is safe: the parser's offsets are
         * relative to the reply's first byte */
        if (inbuf_make_room(&p->in) != 0) {
            peer_fail(p, -ECONNRESET);
            return -1;
        }
        n = tls_io_read(p->tls, p->fd, p->in.data + p->in.end, p->in.size - p->in.end);
        if (n > 0) {
            p->in.end += (size_t)n;
            if (peer_deliver(p) != 0)
                return -1;
            if (p->in.end < p->in.size)
                return 0; /* short read: drained */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        peer_lost(p, n < 0 ? errno : 0);
        return -1;
    }
}

static void peer_event(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;

    (void)fd;
    if (p->state == PEER_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            peer_lost(p, err != 0 ? err : EIO);
            return;
        }
        p->state = PEER_UP;
        peer_flush(p);
        return;
    }
    if ((what & EV_READ) && peer_read(p) != 0)
        return;
    /* TLS: a write that waited for the other side's handshake goes now */
    if (((what & EV_WRITE) || p->tls != NULL) && p->state == PEER_UP)
        peer_flush(p);
}

static void peer_timer(evutil_socket_t fd, short what, void *arg)
{
    struct peer *p = arg;

    (void)fd;
    (void)what;
    if (p->qlen > 0 && p->q[p->qhead].deadline_ms <= mctime_mono_ms())
        peer_fail(p, -ETIMEDOUT);
    else
        arm_timer(p);
}

void peer_set_free(struct peer_set *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = 0; i < ps->npeers; i++) {
        struct peer *p = ps->peers[i];
        if (p == NULL)
            continue;
        peer_fail(p, -ECANCELED);
        event_free(p->timer);
        buf_free(&p->out);
        inbuf_free(&p->in);
        free(p);
    }
    free(ps->peers);
    event_free(ps->flush_ev);
    free(ps);
}
