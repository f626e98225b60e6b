/*
 * load: the worker threads' event loops. Requests are written in batches
 * (one send() for everything the pipeline has room for) and replies are
 * parsed in place from one read buffer; each outstanding request keeps its
 * send time and its keys in a ring, so a reply is matched to its request
 * by order, as the protocol answers.
 */
#include "load.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/rng.h"

#define IBUF_SIZE    (64 * 1024) /* longest reply line we accept, and read size */
#define TICK_USEC    100000      /* how often timeouts and SIGINT are checked */
#define PACE_USEC    100         /* --rate: how often due requests are sent */
#define KEY_DIGITS   10          /* a uint32_t key number in decimal */
#define ERR_LINE_MAX 80          /* bytes of a bad reply quoted in the report */

enum op { OP_GET, OP_SET };

enum parse_state {
    PS_LINE,     /* expecting a reply line */
    PS_DATA,     /* skipping a value's data_left bytes */
    PS_DATA_END, /* expecting the \r\n after a value */
};

struct pending {
    uint64_t t_send; /* monotonic ns when it was queued for sending */
    uint8_t op;      /* enum op */
    uint8_t phase;   /* enum bench_phase it counts in */
    uint16_t nkeys;  /* keys of a get (the ring_keys slots used) */
};

struct loop;

struct conn {
    struct loop *lp;
    int idx; /* global number: thread * conns + i */
    int fd;  /* -1 once closed */
    const struct bench_server *server;
    struct event *rev, *wev;
    bool wev_on;                /* wev is added: output is waiting */
    struct pending *ring;       /* outstanding requests, oldest at head */
    uint32_t *ring_keys;        /* multiget keys per ring slot */
    unsigned mask, head, count; /* ring size - 1, oldest slot, outstanding */
    char *obuf;                 /* requests not yet sent: [ooff, olen) */
    size_t olen, ooff, ocap;
    char *ibuf; /* bytes received, parsed up to ipos */
    size_t ilen, ipos;
    enum parse_state ps;
    uint64_t data_left;             /* PS_DATA: value bytes still to skip */
    unsigned kpos;                  /* head get: next requested key a VALUE may be */
    unsigned hits;                  /* head get: VALUEs seen so far */
    bool bad;                       /* head get: a VALUE for a key not asked for */
    uint64_t pf_next, pf_end;       /* prefill: keys this connection still sets */
    uint32_t *miss_q;               /* --set-on-miss: missed keys to set next */
    unsigned miss_head, miss_count; /* (capacity: ring size x multiget) */
};

struct loop {
    struct worker *w;
    const struct bench_config *cfg;
    struct event_base *base;
    struct conn *conns;
    int nconns;
    int live; /* connections still open */
    struct rng rng;
    enum bench_phase phase; /* phase of the requests sent now */
    bool stopping;          /* send nothing more; drain */
    bool budgeted;          /* --requests: measured requests are limited */
    uint64_t budget;        /* measured requests this thread may still send */
    uint64_t inflight;      /* outstanding requests over all connections */
    uint64_t timeout_ns;
    size_t max_req; /* bytes the longest request can take */
    struct event *tick, *warm_ev, *stop_ev;
    /* --rate: request k of this thread is due at pace_start + k * pace_ns */
    bool paced;
    uint64_t pace_start;
    double pace_ns;
    uint64_t paced_sent;
    int pace_rr; /* connection the next pacer pass starts at */
    struct event *pace_ev;
};

/* ---- errors ---------------------------------------------------------- */

static void loop_note_error(struct loop *lp, const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps the first error of the thread, with where it happened. */
static void loop_note_error(struct loop *lp, const struct conn *c, const char *fmt, ...)
{
    char *dst = lp->w->res.first_error;
    size_t cap = sizeof(lp->w->res.first_error);
    if (dst[0])
        return;
    int n = c ? snprintf(dst, cap, "connection %d to %s: ", c->idx, c->server->name) : 0;
    if (n < 0 || (size_t)n >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A reply line quoted for the report: printable ASCII, cut short. */
static void quote_line(char *dst, size_t cap, const char *line, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 5 < cap && i < ERR_LINE_MAX; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            dst[n++] = (char)ch;
        else
            n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", ch);
    }
    dst[n] = '\0';
}

static enum bench_err classify(const char *line, size_t len)
{
    if (len >= 12 && memcmp(line, "SERVER_ERROR", 12) == 0)
        return ERR_SERVER;
    if (len >= 12 && memcmp(line, "CLIENT_ERROR", 12) == 0)
        return ERR_CLIENT;
    if (len == 5 && memcmp(line, "ERROR", 5) == 0)
        return ERR_ERROR;
    return ERR_UNEXPECTED;
}

/* ---- phases and the end of the loop ---------------------------------- */

/* May connection c send another request now (ignoring pipeline room)? */
static bool conn_may_issue(const struct conn *c)
{
    const struct loop *lp = c->lp;
    if (lp->stopping || c->fd < 0)
        return false;
    if (lp->phase == PHASE_PREFILL)
        return c->pf_next < c->pf_end;
    if (lp->phase == PHASE_MEASURE && lp->budgeted)
        return lp->budget > 0;
    return true;
}

/* True when the current phase is over for this thread: nothing is
 * outstanding and no connection may send more. */
static bool loop_done(const struct loop *lp)
{
    if (lp->inflight > 0)
        return false;
    for (int i = 0; i < lp->nconns; i++)
        if (conn_may_issue(&lp->conns[i]))
            return false;
    return true;
}

static void loop_check_done(struct loop *lp)
{
    if (lp->inflight == 0 && loop_done(lp))
        event_base_loopbreak(lp->base);
}

/* ---- connections ----------------------------------------------------- */

/* Closes c, counting every request still outstanding on it as lost. */
static void conn_fail(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void conn_fail(struct conn *c, const char *fmt, ...)
{
    struct loop *lp = c->lp;
    if (c->fd < 0)
        return;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    loop_note_error(lp, c, "%s (%u requests lost)", msg, c->count);
    for (unsigned i = 0; i < c->count; i++) {
        const struct pending *p = &c->ring[(c->head + i) & c->mask];
        struct bench_counters *ct = &lp->w->res.ctr[p->phase];
        ct->requests++;
        if (p->op == OP_GET) {
            ct->gets++;
            ct->get_keys += p->nkeys;
        } else {
            ct->sets++;
        }
        ct->errors++;
        ct->err[ERR_LOST]++;
    }
    lp->inflight -= c->count;
    c->count = 0;
    event_del(c->rev);
    event_del(c->wev);
    c->wev_on = false;
    close(c->fd);
    c->fd = -1;
    lp->live--;
    lp->w->res.conns_lost++;
}

/* Sends what obuf holds, as far as the socket takes it; the rest waits for
 * EV_WRITE. */
static void conn_flush(struct conn *c)
{
    while (c->ooff < c->olen) {
        ssize_t n = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
        if (n > 0) {
            c->ooff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->wev_on && event_add(c->wev, NULL) == 0)
                c->wev_on = true;
            return;
        }
        conn_fail(c, "send: %s", n < 0 ? strerror(errno) : "sent nothing");
        return;
    }
    c->olen = c->ooff = 0;
    if (c->wev_on) {
        event_del(c->wev);
        c->wev_on = false;
    }
}

/* Makes room for one more request in obuf; false (and c failed) on OOM. */
static bool conn_reserve(struct conn *c)
{
    size_t need = c->lp->max_req;
    if (c->ocap - c->olen >= need)
        return true;
    if (c->ooff > 0) {
        memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
        c->olen -= c->ooff;
        c->ooff = 0;
        if (c->ocap - c->olen >= need)
            return true;
    }
    size_t cap = c->ocap * 2 > c->olen + need ? c->ocap * 2 : c->olen + need;
    char *p = realloc(c->obuf, cap);
    if (p == NULL) {
        conn_fail(c, "out of memory for a %zu-byte output buffer", cap);
        return false;
    }
    c->obuf = p;
    c->ocap = cap;
    return true;
}

static char *put_u32(char *dst, uint32_t v)
{
    char tmp[KEY_DIGITS];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *dst++ = tmp[--n];
    return dst;
}

static char *put_key(char *dst, const struct bench_config *cfg, uint32_t key)
{
    memcpy(dst, cfg->key_prefix, cfg->prefix_len);
    return put_u32(dst + cfg->prefix_len, key);
}

/* Reads a key we generated back into its number; false if it is not one. */
static bool parse_key(const struct bench_config *cfg, const char *s, size_t len,
                      uint32_t *out)
{
    if (len <= cfg->prefix_len || len > cfg->prefix_len + KEY_DIGITS ||
        memcmp(s, cfg->key_prefix, cfg->prefix_len) != 0)
        return false;
    s += cfg->prefix_len;
    len -= cfg->prefix_len;
    if (s[0] == '0' && len > 1)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v >= cfg->keys)
        return false;
    *out = (uint32_t)v;
    return true;
}

static uint32_t loop_pick_key(struct loop *lp)
{
    const struct bench_config *cfg = lp->cfg;
    if (cfg->zipf)
        return (uint32_t)zipf_sample(&cfg->zipf_state, &lp->rng);
    return (uint32_t)rng_below(&lp->rng, cfg->keys);
}

static char *put_set(struct loop *lp, char *dst, uint32_t key)
{
    const struct bench_config *cfg = lp->cfg;
    uint32_t len = cfg->value_min;
    if (cfg->value_max > cfg->value_min)
        len += (uint32_t)rng_below(&lp->rng,
                                   (uint64_t)(cfg->value_max - cfg->value_min) + 1);
    memcpy(dst, "set ", 4);
    dst = put_key(dst + 4, cfg, key);
    memcpy(dst, " 0 0 ", 5);
    dst = put_u32(dst + 5, len);
    memcpy(dst, "\r\n", 2);
    memcpy(dst + 2, cfg->value, len);
    dst += 2 + len;
    memcpy(dst, "\r\n", 2);
    return dst + 2;
}

/* With --rate: the scheduled time of the next request if it is due by now,
 * else 0. */
static uint64_t pace_due(const struct loop *lp, uint64_t now)
{
    uint64_t due = lp->pace_start + (uint64_t)((double)lp->paced_sent * lp->pace_ns);
    return due <= now ? due : 0;
}

/* Queues requests until the pipeline is full or the phase allows no more,
 * then sends them. */
static void conn_fill(struct conn *c)
{
    struct loop *lp = c->lp;
    const struct bench_config *cfg = lp->cfg;
    unsigned depth = (unsigned)cfg->pipeline;
    if (c->count >= depth || !conn_may_issue(c))
        return;
    uint64_t now = bench_now_ns();
    while (c->count < depth && conn_may_issue(c)) {
        if (!conn_reserve(c))
            return;
        unsigned slot = (c->head + c->count) & c->mask;
        struct pending *p = &c->ring[slot];
        char *dst = c->obuf + c->olen;
        p->t_send = now;
        if (lp->paced && lp->phase != PHASE_PREFILL) {
            /* Latency counts from the schedule: a late send is the
             * server's (or the queue's) delay, not hidden. */
            uint64_t due = pace_due(lp, now);
            if (due == 0)
                break;
            p->t_send = due;
            lp->paced_sent++;
        }
        p->phase = (uint8_t)lp->phase;
        p->nkeys = 0;
        if (lp->phase == PHASE_PREFILL) {
            p->op = OP_SET;
            dst = put_set(lp, dst, (uint32_t)c->pf_next++);
        } else {
            if (lp->phase == PHASE_MEASURE && lp->budgeted)
                lp->budget--;
            uint64_t total = (uint64_t)cfg->get_weight + cfg->set_weight;
            if (c->miss_count > 0) {
                unsigned cap = (c->mask + 1) * (unsigned)cfg->multiget;
                p->op = OP_SET;
                dst = put_set(lp, dst, c->miss_q[c->miss_head]);
                c->miss_head = (c->miss_head + 1) % cap;
                c->miss_count--;
            } else if (rng_below(&lp->rng, total) < cfg->get_weight) {
                uint32_t *keys = &c->ring_keys[(size_t)slot * (unsigned)cfg->multiget];
                p->op = OP_GET;
                p->nkeys = (uint16_t)cfg->multiget;
                memcpy(dst, "get", 3);
                dst += 3;
                for (int i = 0; i < cfg->multiget; i++) {
                    keys[i] = loop_pick_key(lp);
                    *dst++ = ' ';
                    dst = put_key(dst, cfg, keys[i]);
                }
                memcpy(dst, "\r\n", 2);
                dst += 2;
            } else {
                p->op = OP_SET;
                dst = put_set(lp, dst, loop_pick_key(lp));
            }
        }
        c->olen = (size_t)(dst - c->obuf);
        c->count++;
        lp->inflight++;
    }
    conn_flush(c);
}

/* --set-on-miss: the head get's keys kpos..upto-1 were not returned.
 * Gets are sent only when the queue is empty, so it never holds more than
 * the keys of the gets in flight: ring size x multiget. */
static void conn_queue_misses(struct conn *c, unsigned upto)
{
    const struct bench_config *cfg = c->lp->cfg;
    if (!cfg->set_on_miss)
        return;
    const uint32_t *keys = &c->ring_keys[(size_t)c->head * (unsigned)cfg->multiget];
    unsigned cap = (c->mask + 1) * (unsigned)cfg->multiget;
    for (unsigned i = c->kpos; i < upto && c->miss_count < cap; i++)
        c->miss_q[(c->miss_head + c->miss_count++) % cap] = keys[i];
}

/* The head request got its whole reply; kind is an enum bench_err or -1
 * for success. */
static void conn_complete(struct conn *c, uint64_t now, int kind)
{
    struct loop *lp = c->lp;
    const struct pending *p = &c->ring[c->head];
    struct bench_result *res = &lp->w->res;
    struct bench_counters *ct = &res->ctr[p->phase];
    ct->requests++;
    if (p->op == OP_GET) {
        ct->gets++;
        ct->get_keys += p->nkeys;
        if (kind < 0) {
            ct->hits += c->hits;
            ct->misses += p->nkeys - c->hits;
        }
    } else {
        ct->sets++;
    }
    if (kind >= 0) {
        ct->errors++;
        ct->err[kind]++;
    }
    if (p->phase == PHASE_MEASURE) {
        hist_record(&res->hist, now > p->t_send ? now - p->t_send : 0);
        res->t_end = now;
    }
    c->head = (c->head + 1) & c->mask;
    c->count--;
    lp->inflight--;
    c->kpos = 0;
    c->hits = 0;
    c->bad = false;
}

/* A reply that leaves us unable to tell where the next one starts: the
 * head request (if any) fails and the connection is closed. */
static int conn_desync(struct conn *c, uint64_t now, const char *why, const char *line,
                       size_t len)
{
    char q[ERR_LINE_MAX * 4 + 8];
    quote_line(q, sizeof(q), line, len);
    if (c->count > 0) {
        conn_complete(c, now, ERR_UNEXPECTED);
    } else {
        struct bench_counters *ct = &c->lp->w->res.ctr[c->lp->phase];
        ct->errors++;
        ct->err[ERR_UNEXPECTED]++;
    }
    conn_fail(c, "%s: \"%s\"", why, q);
    return -1;
}

/* "VALUE <key> <flags> <bytes>[ <cas>]": checks that the key is one the
 * head get asked for (replies come in request order, misses left out) and
 * arranges to skip the data. */
static int conn_value(struct conn *c, uint64_t now, const char *line, size_t len)
{
    const char *s = line + 6, *end = line + len;
    const char *key = s;
    while (s < end && *s != ' ')
        s++;
    size_t klen = (size_t)(s - key);
    if (s == end || klen == 0)
        return conn_desync(c, now, "malformed VALUE line", line, len);
    s++;
    const char *flags = s;
    while (s < end && *s >= '0' && *s <= '9')
        s++;
    if (s == flags || s == end || *s != ' ')
        return conn_desync(c, now, "malformed VALUE line", line, len);
    s++;
    uint64_t bytes = 0;
    const char *digits = s;
    while (s < end && *s >= '0' && *s <= '9' && s - digits < 19)
        bytes = bytes * 10 + (uint64_t)(*s++ - '0');
    if (s == digits || (s < end && *s != ' '))
        return conn_desync(c, now, "malformed VALUE line", line, len);

    const struct bench_config *cfg = c->lp->cfg;
    const struct pending *p = &c->ring[c->head];
    const uint32_t *keys = &c->ring_keys[(size_t)c->head * (unsigned)cfg->multiget];
    uint32_t k;
    bool found = false;
    if (parse_key(cfg, key, klen, &k)) {
        for (unsigned i = c->kpos; i < p->nkeys; i++) {
            if (keys[i] == k) {
                conn_queue_misses(c, i);
                c->kpos = i + 1;
                found = true;
                break;
            }
        }
    }
    if (found) {
        c->hits++;
    } else if (!c->bad) {
        char q[ERR_LINE_MAX * 4 + 8];
        quote_line(q, sizeof(q), line, len);
        loop_note_error(c->lp, c, "VALUE for a key the get did not ask for: \"%s\"", q);
        c->bad = true;
    }
    c->data_left = bytes;
    c->ps = PS_DATA;
    return 0;
}

static int conn_line(struct conn *c, uint64_t now, const char *line, size_t len)
{
    if (c->ps == PS_DATA_END) {
        if (len != 0)
            return conn_desync(c, now, "no \\r\\n after a value", line, len);
        c->ps = PS_LINE;
        return 0;
    }
    if (c->count == 0)
        return conn_desync(c, now, "reply with no request outstanding", line, len);
    const struct pending *p = &c->ring[c->head];
    if (p->op == OP_GET) {
        if (len >= 6 && memcmp(line, "VALUE ", 6) == 0)
            return conn_value(c, now, line, len);
        if (len == 3 && memcmp(line, "END", 3) == 0) {
            conn_queue_misses(c, p->nkeys);
            conn_complete(c, now, c->bad ? ERR_UNEXPECTED : -1);
            return 0;
        }
    } else if (len == 6 && memcmp(line, "STORED", 6) == 0) {
        conn_complete(c, now, -1);
        return 0;
    }
    char q[ERR_LINE_MAX * 4 + 8];
    quote_line(q, sizeof(q), line, len);
    loop_note_error(c->lp, c, "%s answered \"%s\"", p->op == OP_GET ? "get" : "set", q);
    conn_complete(c, now, (int)classify(line, len));
    return 0;
}

/* Consumes every complete reply line (and value data) in ibuf. Returns -1
 * if the connection was closed. */
static int conn_parse(struct conn *c, uint64_t now)
{
    while (c->ipos < c->ilen) {
        if (c->ps == PS_DATA) {
            size_t avail = c->ilen - c->ipos;
            size_t take = avail < c->data_left ? avail : (size_t)c->data_left;
            c->ipos += take;
            c->data_left -= take;
            if (c->data_left > 0)
                break;
            c->ps = PS_DATA_END;
            continue;
        }
        char *line = c->ibuf + c->ipos;
        char *nl = memchr(line, '\n', c->ilen - c->ipos);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - line);
        c->ipos += len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (conn_line(c, now, line, len) < 0)
            return -1;
    }
    if (c->ipos == c->ilen) {
        c->ipos = c->ilen = 0;
    } else if (c->ipos > 0) {
        memmove(c->ibuf, c->ibuf + c->ipos, c->ilen - c->ipos);
        c->ilen -= c->ipos;
        c->ipos = 0;
    }
    return 0;
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)what;
    ssize_t n = recv(fd, c->ibuf + c->ilen, IBUF_SIZE - c->ilen, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n == 0)
            conn_fail(c, "connection closed by the server");
        else
            conn_fail(c, "recv: %s", strerror(errno));
        loop_check_done(c->lp);
        return;
    }
    c->ilen += (size_t)n;
    if (conn_parse(c, bench_now_ns()) < 0) {
        loop_check_done(c->lp);
        return;
    }
    if (c->ilen == IBUF_SIZE) {
        conn_fail(c, "reply line longer than %d bytes", IBUF_SIZE);
        loop_check_done(c->lp);
        return;
    }
    conn_fill(c);
    if (c->lp->inflight == 0)
        loop_check_done(c->lp);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    conn_flush(c);
    if (c->fd < 0)
        loop_check_done(c->lp);
}

/* Opens c's socket with a bounded connect. Returns 0 or -1 (error noted). */
static int conn_open(struct conn *c)
{
    struct loop *lp = c->lp;
    const struct bench_server *srv = c->server;
    int fd = socket(srv->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        loop_note_error(lp, c, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&srv->addr, srv->addrlen) < 0) {
        if (errno != EINPROGRESS) {
            loop_note_error(lp, c, "connect: %s", strerror(errno));
            goto fail;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r;
        do {
            r = poll(&pfd, 1, (int)(lp->cfg->timeout * 1000));
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
            loop_note_error(lp, c, "connect: no answer within %g s", lp->cfg->timeout);
            goto fail;
        }
        int err = 0;
        socklen_t elen = sizeof(err);
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
        if (err != 0) {
            loop_note_error(lp, c, "connect: %s", strerror(err));
            goto fail;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    return 0;
fail:
    close(fd);
    return -1;
}

/* ---- timers ---------------------------------------------------------- */

static void loop_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct loop *lp = arg;
    (void)fd;
    (void)what;
    if (bench_interrupted)
        lp->stopping = true;
    uint64_t now = bench_now_ns();
    for (int i = 0; i < lp->nconns; i++) {
        struct conn *c = &lp->conns[i];
        if (c->fd >= 0 && c->count > 0 && now - c->ring[c->head].t_send > lp->timeout_ns)
            conn_fail(c, "no reply within %g s", lp->cfg->timeout);
    }
    loop_check_done(lp);
}

/* --rate: hands the requests now due to connections with pipeline room,
 * round-robin. */
static void loop_on_pace(evutil_socket_t fd, short what, void *arg)
{
    struct loop *lp = arg;
    (void)fd;
    (void)what;
    for (int n = 0; n < lp->nconns && pace_due(lp, bench_now_ns()) != 0; n++) {
        struct conn *c = &lp->conns[lp->pace_rr];
        lp->pace_rr = (lp->pace_rr + 1) % lp->nconns;
        conn_fill(c);
    }
}

static void loop_on_warm_end(evutil_socket_t fd, short what, void *arg)
{
    struct loop *lp = arg;
    (void)fd;
    (void)what;
    lp->phase = PHASE_MEASURE;
    /* With --requests the budget may allow nothing at all. */
    loop_check_done(lp);
}

static void loop_on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct loop *lp = arg;
    (void)fd;
    (void)what;
    lp->stopping = true;
    loop_check_done(lp);
}

/* Arms ev to fire at monotonic time `at` (ns). */
static int loop_add_at(struct event *ev, uint64_t at)
{
    uint64_t now = bench_now_ns();
    uint64_t d = at > now ? at - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(d / 1000000000u),
                         .tv_usec = (suseconds_t)(d % 1000000000u / 1000u)};
    return event_add(ev, &tv);
}

/* ---- setup and the thread -------------------------------------------- */

static void loop_free(struct loop *lp)
{
    for (int i = 0; lp->conns && i < lp->nconns; i++) {
        struct conn *c = &lp->conns[i];
        if (c->fd >= 0)
            close(c->fd);
        if (c->rev)
            event_free(c->rev);
        if (c->wev)
            event_free(c->wev);
        free(c->ring);
        free(c->ring_keys);
        free(c->miss_q);
        free(c->obuf);
        free(c->ibuf);
    }
    free(lp->conns);
    if (lp->tick)
        event_free(lp->tick);
    if (lp->warm_ev)
        event_free(lp->warm_ev);
    if (lp->stop_ev)
        event_free(lp->stop_ev);
    if (lp->pace_ev)
        event_free(lp->pace_ev);
    if (lp->base)
        event_base_free(lp->base);
}

/* This connection's share of the prefill: the keys of its server are split
 * evenly over all connections to that server. */
static void conn_prefill_slice(struct conn *c, const struct bench_config *cfg)
{
    uint64_t total = (uint64_t)cfg->threads * (uint64_t)cfg->conns;
    uint64_t ns = (uint64_t)cfg->nservers;
    uint64_t s = (uint64_t)c->idx % ns, j = (uint64_t)c->idx / ns;
    uint64_t m = (total - s + ns - 1) / ns;
    c->pf_next = j * cfg->keys / m;
    c->pf_end = (j + 1) * cfg->keys / m;
}

static int loop_setup(struct loop *lp)
{
    const struct bench_config *cfg = lp->cfg;
    size_t get_len = 3 + (size_t)cfg->multiget * (1 + cfg->prefix_len + KEY_DIGITS) + 2;
    size_t set_len =
        4 + cfg->prefix_len + KEY_DIGITS + 5 + KEY_DIGITS + 2 + cfg->value_max + 2;
    unsigned ring = 1;
    while (ring < (unsigned)cfg->pipeline)
        ring <<= 1;

    lp->max_req = get_len > set_len ? get_len : set_len;
    lp->timeout_ns = (uint64_t)(cfg->timeout * 1e9);
    /* libevent's default timer clock is CLOCK_MONOTONIC_COARSE, which
     * would end --duration up to a few ms early. */
    struct event_config *ec = event_config_new();
    if (ec != NULL) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
        lp->base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    lp->nconns = cfg->conns;
    lp->conns = calloc((size_t)cfg->conns, sizeof(*lp->conns));
    if (lp->base == NULL || lp->conns == NULL) {
        loop_note_error(lp, NULL, "out of memory setting up thread %d", lp->w->id);
        return -1;
    }
    for (int i = 0; i < lp->nconns; i++)
        lp->conns[i].fd = -1;
    lp->tick = event_new(lp->base, -1, EV_PERSIST, loop_on_tick, lp);
    lp->warm_ev = event_new(lp->base, -1, 0, loop_on_warm_end, lp);
    lp->stop_ev = event_new(lp->base, -1, 0, loop_on_stop, lp);
    struct timeval tick = {.tv_sec = 0, .tv_usec = TICK_USEC};
    if (lp->tick == NULL || lp->warm_ev == NULL || lp->stop_ev == NULL ||
        event_add(lp->tick, &tick) < 0) {
        loop_note_error(lp, NULL, "cannot create timers in thread %d", lp->w->id);
        return -1;
    }
    for (int i = 0; i < lp->nconns; i++) {
        struct conn *c = &lp->conns[i];
        c->lp = lp;
        c->idx = lp->w->id * cfg->conns + i;
        c->server = &cfg->servers[c->idx % cfg->nservers];
        c->mask = ring - 1;
        c->ring = calloc(ring, sizeof(*c->ring));
        c->ring_keys = calloc((size_t)ring * (unsigned)cfg->multiget, sizeof(uint32_t));
        c->ocap = lp->max_req * 4 + 4096;
        c->obuf = malloc(c->ocap);
        c->ibuf = malloc(IBUF_SIZE);
        if (cfg->set_on_miss)
            c->miss_q = calloc((size_t)ring * (unsigned)cfg->multiget, sizeof(uint32_t));
        if (c->ring == NULL || c->ring_keys == NULL || c->obuf == NULL ||
            c->ibuf == NULL || (cfg->set_on_miss && c->miss_q == NULL)) {
            loop_note_error(lp, c, "out of memory for the connection's buffers");
            return -1;
        }
        if (cfg->prefill)
            conn_prefill_slice(c, cfg);
        if (conn_open(c) < 0)
            return -1;
        c->rev = event_new(lp->base, c->fd, EV_READ | EV_PERSIST, conn_on_read, c);
        c->wev = event_new(lp->base, c->fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
        if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) < 0) {
            loop_note_error(lp, c, "cannot create the connection's events");
            return -1;
        }
        lp->live++;
    }
    return 0;
}

/* Starts every connection sending, then runs the loop until the phase is
 * over for this thread. */
static void loop_run(struct loop *lp)
{
    if (bench_interrupted)
        lp->stopping = true;
    for (int i = 0; i < lp->nconns; i++)
        conn_fill(&lp->conns[i]);
    if (!loop_done(lp))
        event_base_dispatch(lp->base);
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench_run *run = w->run;
    const struct bench_config *cfg = run->cfg;
    struct loop lp;

    memset(&lp, 0, sizeof(lp));
    lp.w = w;
    lp.cfg = cfg;
    rng_seed(&lp.rng, cfg->seed + 0x632be59bd9b4e019ULL * (uint64_t)(w->id + 1));
    hist_init(&w->res.hist);
    if (loop_setup(&lp) < 0)
        atomic_store(&run->failed, 1);

    pthread_barrier_wait(&run->barrier); /* 1: everyone connected */
    if (atomic_load(&run->failed))
        goto out;
    if (cfg->prefill) {
        lp.phase = PHASE_PREFILL;
        loop_run(&lp);
    }
    pthread_barrier_wait(&run->barrier); /* 2: prefill done everywhere */
    pthread_barrier_wait(&run->barrier); /* 3: main has set t_start */

    uint64_t t_measure = run->t_start + (uint64_t)(cfg->warmup * 1e9);
    if (cfg->requests) {
        lp.budgeted = true;
        lp.budget = cfg->requests / (uint64_t)cfg->threads +
                    ((uint64_t)w->id < cfg->requests % (uint64_t)cfg->threads);
    }
    lp.phase = cfg->warmup > 0 ? PHASE_WARMUP : PHASE_MEASURE;
    if (cfg->rate > 0) {
        struct timeval pace = {.tv_sec = 0, .tv_usec = PACE_USEC};
        lp.paced = true;
        lp.pace_start = run->t_start;
        lp.pace_ns = 1e9 * (double)cfg->threads / cfg->rate;
        lp.pace_ev = event_new(lp.base, -1, EV_PERSIST, loop_on_pace, &lp);
        if (lp.pace_ev == NULL || event_add(lp.pace_ev, &pace) < 0) {
            loop_note_error(&lp, NULL, "cannot arm the pacing timer");
            lp.stopping = true;
        }
    }
    if (lp.phase == PHASE_WARMUP && loop_add_at(lp.warm_ev, t_measure) < 0)
        lp.phase = PHASE_MEASURE;
    if (cfg->duration > 0 &&
        loop_add_at(lp.stop_ev, t_measure + (uint64_t)(cfg->duration * 1e9)) < 0) {
        loop_note_error(&lp, NULL, "cannot arm the stop timer");
        lp.stopping = true;
    }
    loop_run(&lp);
    if (w->res.t_end == 0)
        w->res.t_end = bench_now_ns();
out:
    loop_free(&lp);
    return NULL;
}
