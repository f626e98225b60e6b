/*
 * conn: non-blocking reads into one buffer, commands parsed in place, all
 * replies of a batch sent with one write; data blocks larger than what is
 * buffered are read straight into the item.
 */
#include "net/conn.h"
#include "base/buf.h"
#include "base/connreg.h"
#include "base/inbuf.h"
#include "base/logger.h"
#include "base/server.h"
#include "base/stats.h"
#include "base/tls.h"
#include "cluster/proxy.h"
#include "base/mctime.h"
#include "cmd/cmd.h"
#include "proto/proto.h"
#include "store/item.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF_INITIAL   16384
#define RBUF_KEEP_MAX  65536
#define RBUF_MAX_LINE  (4u * 1024 * 1024) /* longest multi-get line accepted */
#define OUT_HIGH_WATER (1u * 1024 * 1024) /* stop parsing above this backlog */
#define MAX_PROXIED    256                /* forwarded commands awaiting replies */

enum conn_state {
    CONN_LINE,    /* waiting for a command line */
    CONN_VALUE,   /* reading a data block into cmd.item */
    CONN_SWALLOW, /* discarding cmd.swallow bytes */
    CONN_FORWARD, /* buffering a storage command to forward (fwd_need bytes) */
    CONN_STREAM,  /* sending a key listing, part by part (cmd_stream) */
    CONN_WATCH,   /* a watcher: sending log lines, ignoring input */
    CONN_CLOSING, /* flush what is queued, then close */
};

struct conn {
    int fd;
    struct tls *tls;        /* -Z: the socket's TLS session; NULL: plain */
    struct conn_list *home; /* the worker's connections */
    struct server *srv;
    struct thread_stats *stats;
    struct event *ev;
    short ev_flags; /* EV_READ or EV_WRITE, as registered */
    enum conn_state state;
    struct inbuf in;    /* [start, end): read, not yet parsed */
    uint32_t value_got; /* bytes of the data block read so far */
    struct buf out;
    struct cmd cmd;
    struct conn *prev, *next; /* the worker's list */
    /* forwarding (px is NULL on a single node) */
    struct proxy *px;
    struct fwdreq_queue pq;         /* commands waiting for other members, in order */
    struct event *wake_ev;          /* run when one of them is complete */
    struct route_req fwd_rr;        /* the route of the last line */
    uint32_t fwd_owner;             /* CONN_FORWARD: where it goes */
    uint64_t fwd_need;              /* CONN_FORWARD: line + data bytes */
    size_t fwd_key_off;             /* CONN_FORWARD: fwd_rr.key's offset in the
                                     * line (the buffer may move while the data
                                     * block arrives), SIZE_MAX: not in it */
    bool held;                      /* the next line waits until those are answered */
    bool prefetched;                /* the held line's key was fetched: run it now */
    struct connreg_entry reg;       /* for stats conns */
    const char *close_reason;       /* for watch connevents: "normal", "error", ... */
    struct logger_watcher *watcher; /* CONN_WATCH (woken through wake_ev) */
    uint64_t lat_t0;                /* when the current command's line was read */
    enum lat_cmd lat_cmd;           /* its class, for the latency histograms */
};

static void conn_event(evutil_socket_t fd, short what, void *arg);
static void conn_free(struct conn *c);
static void conn_run(struct conn *c, bool more);

static int verbose(const struct conn *c)
{
    return __atomic_load_n(&c->srv->verbose, __ATOMIC_RELAXED);
}

/* memcached's name of the connection's state, for stats conns. */
static const char *state_name(const struct conn *c, short flags)
{
    static const char *const names[] = {
        [CONN_LINE] = "conn_waiting",    [CONN_VALUE] = "conn_nread",
        [CONN_SWALLOW] = "conn_swallow", [CONN_FORWARD] = "conn_nread",
        [CONN_STREAM] = "conn_mwrite",   [CONN_WATCH] = "conn_watch",
        [CONN_CLOSING] = "conn_closing",
    };

    return flags == EV_WRITE && c->state != CONN_WATCH ? "conn_mwrite" : names[c->state];
}

static int set_events(struct conn *c, short flags)
{
    struct timeval tv = {.tv_sec = c->srv->settings.idle_timeout};
    bool timeout = (flags & EV_READ) && c->srv->settings.idle_timeout > 0 &&
                   c->state != CONN_WATCH; /* watchers only listen */

    connreg_set_state(&c->reg, state_name(c, flags));
    if (c->ev_flags == flags)
        return 0;
    event_del(c->ev);
    c->ev_flags = 0;
    if (flags == 0)
        return 0; /* parked until a forwarded reply wakes it */
    if (event_assign(c->ev, c->home->base, c->fd, flags | EV_PERSIST, conn_event, c) !=
            0 ||
        event_add(c->ev, timeout ? &tv : NULL) != 0)
        return -1;
    c->ev_flags = flags;
    return 0;
}

static void conn_ready(void *arg);

/* A connevents line: "type=conn_new rip=<ip> rport=<port> transport=tcp
 * cfd=<fd>", with "reason=<why>" before cfd for conn_close. */
static void log_conn(const struct conn *c, const char *type, const char *reason)
{
    struct logger *lg = c->srv->logger;
    const char *addr = c->reg.addr + 4, *colon = strrchr(addr, ':');
    int nip;

    if (!logger_wants(lg, LOGGER_CONNEVENTS) || colon == NULL)
        return;
    nip = (int)(colon - addr);
    if (addr[0] == '[') { /* "[v6]:port": the address without brackets */
        addr++;
        nip -= 2;
    }
    logger_log(lg, LOGGER_CONNEVENTS,
               "type=%s rip=%.*s rport=%s transport=tcp%s%s cfd=%d", type, nip, addr,
               colon + 1, reason != NULL ? " reason=" : "", reason != NULL ? reason : "",
               c->fd);
}

int conn_new(struct conn_list *home, int fd, bool internal)
{
    struct conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL)
        goto fail;
    c->fd = fd;
    c->home = home;
    c->srv = home->srv;
    c->stats = home->stats;
    c->px = home->px;
    c->ev = event_new(home->base, fd, 0, conn_event, c);
    if (inbuf_init(&c->in, RBUF_INITIAL) != 0 || c->ev == NULL)
        goto fail;
    buf_init(&c->out);
    fwdreq_queue_init(&c->pq, &c->out, conn_ready, c);
    cmd_init(&c->cmd, c->srv, c->stats, &c->out);
    c->cmd.cfd = fd;
    if (internal)
        c->cmd.authenticated = true; /* the admin port checks its token */
    c->close_reason = "normal";
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!internal && tls_enabled() && (c->tls = tls_server_new(fd)) == NULL)
        goto fail;
    connreg_add(&c->reg, fd, false, "conn_new_cmd");
    if (set_events(c, EV_READ) != 0) {
        connreg_remove(&c->reg);
        goto fail;
    }
    log_conn(c, "conn_new", NULL);
    c->next = home->head;
    if (c->next != NULL)
        c->next->prev = c;
    home->head = c;
    __atomic_fetch_add(&conn_stats.total_connections, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&conn_stats.connection_structures, 1, __ATOMIC_RELAXED);
    if (verbose(c) > 1)
        fprintf(stderr, "<%d new auto-negotiating client connection\n", fd);
    return 0;

fail:
    if (c != NULL) {
        tls_free(c->tls, false);
        if (c->ev != NULL)
            event_free(c->ev);
        inbuf_free(&c->in);
        free(c);
    }
    conn_drop_fd(fd);
    return -1;
}

void conn_drop_fd(int fd)
{
    close(fd);
    __atomic_fetch_sub(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED);
}

static void conn_free(struct conn *c)
{
    if (verbose(c) > 1)
        fprintf(stderr, "<%d connection closed.\n", c->fd);
    log_conn(c, "conn_close", c->close_reason);
    connreg_remove(&c->reg);
    logger_unwatch(c->watcher); /* no wake after this: wake_ev may go */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->home->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    fwdreq_queue_detach_all(&c->pq);
    if (c->wake_ev != NULL)
        event_free(c->wake_ev);
    event_free(c->ev);
    tls_free(c->tls, true);
    close(c->fd);
    cmd_reset(&c->cmd);
    buf_free(&c->out);
    inbuf_free(&c->in);
    free(c);
    __atomic_fetch_sub(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&conn_stats.connection_structures, 1, __ATOMIC_RELAXED);
}

void conn_free_all(struct conn_list *home)
{
    while (home->head != NULL) {
        home->head->close_reason = "shutdown";
        conn_free(home->head);
    }
}

/* A line without a newline this long can only be a multi-get (memcached's
 * rule); anything else is junk and the connection is dropped. */
static bool long_line_allowed(const struct conn *c)
{
    const char *p = c->in.data + c->in.start, *end = c->in.data + c->in.end;
    size_t spaces = 0;

    while (p < end && *p == ' ') {
        p++;
        spaces++;
    }
    if (spaces > 100)
        return false;
    if ((size_t)(end - p) >= 4 && memcmp(p, "get ", 4) == 0)
        return true;
    return (size_t)(end - p) >= 5 && memcmp(p, "gets ", 5) == 0;
}

/* Too many forwarded commands await replies, or too many local replies wait
 * behind them: parse nothing more until some are answered. */
static bool proxy_blocked(const struct conn *c)
{
    return fwdreq_queue_len(&c->pq) >= MAX_PROXIED || c->held ||
           fwdreq_queue_backlog(&c->pq) >= OUT_HIGH_WATER;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_run(arg, false);
}

/* A command of this connection that waited for other members is complete
 * (fwdreq_queue's ready callback). */
static void conn_ready(void *arg)
{
    struct conn *c = arg;

    event_active(c->wake_ev, EV_READ, 0);
}

/* Appends a forwarded command to the queue of replies; local replies now
 * go behind it. */
static bool conn_can_wait(struct conn *c)
{
    if (c->wake_ev == NULL)
        c->wake_ev = event_new(c->home->base, -1, 0, wake_cb, c);
    return c->wake_ev != NULL;
}

/* The current command is served: its latency goes to the worker's
 * histogram (lathist.h). */
static void conn_timed(struct conn *c)
{
    uint64_t now = lat_now_ns();

    lat_record(&c->stats->lat, c->lat_cmd, LAT_LOCAL,
               now > c->lat_t0 ? now - c->lat_t0 : 0);
}

/* Queues r; its latency is recorded as served on path when its reply is
 * drained (path < 0: untimed, a prefetch before the command itself). */
static void conn_queue(struct conn *c, struct fwdreq *r, int path)
{
    if (r == NULL || !conn_can_wait(c)) {
        if (r != NULL)
            fwdreq_detach(r); /* cannot be woken: drop it (answered or not) */
        buf_append_str(c->cmd.out, "SERVER_ERROR out of memory\r\n");
        return;
    }
    if (path >= 0)
        fwdreq_time(r, &c->stats->lat, c->lat_cmd, (enum lat_path)path, c->lat_t0);
    fwdreq_queue_push(&c->pq, r);
    cmd_set_out(&c->cmd, fwdreq_queue_after(&c->pq));
}

/* Moves the replies of answered forwarded commands, and the local replies
 * behind them, to the output, in order. */
static void conn_drain(struct conn *c)
{
    if (!fwdreq_queue_drain(&c->pq))
        return;
    c->held = false; /* the held line decides again */
    if (fwdreq_queue_empty(&c->pq))
        cmd_set_out(&c->cmd, &c->out);
}

/* Forwards raw[0..nraw) as c->fwd_rr and c->fwd_owner say. */
static void conn_forward(struct conn *c, const char *raw, size_t nraw)
{
    conn_queue(c, proxy_forward(c->px, &c->pq, &c->fwd_rr, c->fwd_owner, raw, nraw),
               LAT_FORWARDED);
}

/* Sends the line at line[0..len) (ending at nl) to its owner when another
 * node owns its key(s), or through a read quorum. Returns 1 when it took the
 * line, 0 when the line runs here, -1 when it must wait: a write here must
 * not overtake reads before it that wait for their quorum. */
static int conn_route(struct conn *c, const char *line, size_t len, const char *nl)
{
    size_t raw = (size_t)(nl - line) + 1;
    bool again = c->prefetched;
    struct fwdreq *r;

    enum proxy_decision d =
        proxy_route(c->px, line, len, c->cmd.from_peer, &c->fwd_rr, &c->fwd_owner);

    /* Commands of one connection take effect in order: nothing keyed runs
     * here while a write forwarded before it is unanswered, and no write
     * runs here while a read before it waits for its quorum. */
    if (d != PROXY_FORWARD && c->fwd_rr.kind != ROUTE_LOCAL &&
        (fwdreq_queue_writes(&c->pq) > 0 ||
         (fwdreq_queue_syncs(&c->pq) > 0 && c->fwd_rr.write))) {
        c->held = true;
        return -1;
    }
    c->prefetched = false;
    switch (d) {
    case PROXY_PREFETCH:
        /* fetched (or found nowhere) the last time: runs here now; out of
         * memory for the fetch: runs as it is */
        if (again || !conn_can_wait(c) ||
            (r = proxy_prefetch(c->px, &c->pq, &c->fwd_rr)) == NULL)
            return 0;
        c->prefetched = true;
        conn_queue(c, r, -1);
        c->held = true;
        return -1;
    case PROXY_LOCAL:
        /* before the command runs: it tokenizes the line in place */
        proxy_read(c->px, line, len, &c->fwd_rr);
        return 0;
    case PROXY_SYNC:
        c->in.start += raw;
        conn_queue(c, proxy_sync(c->px, &c->pq, line, len, &c->fwd_rr), LAT_LOCAL);
        return 1;
    case PROXY_FORWARD:
        if (c->fwd_rr.data_len > 0) {
            /* wait until the data block is buffered behind the line; the
             * input buffer may grow (move) meanwhile */
            c->fwd_key_off = c->fwd_rr.key >= line && c->fwd_rr.key < line + len
                                 ? (size_t)(c->fwd_rr.key - line)
                                 : SIZE_MAX;
            c->fwd_need = raw + c->fwd_rr.data_len;
            c->state = CONN_FORWARD;
            return 1;
        }
        c->in.start += raw;
        conn_forward(c, line, raw);
        return 1;
    case PROXY_FANOUT:
        c->in.start += raw;
        conn_queue(c, proxy_fanout(c->px, &c->pq, &c->cmd, line, len, &c->fwd_rr),
                   LAT_FORWARDED);
        return 1;
    case PROXY_BROADCAST:
        c->in.start += raw;
        conn_queue(c, proxy_broadcast(c->px, &c->pq, &c->cmd, line, len, line, raw),
                   LAT_LOCAL);
        return 1;
    }
    return 0;
}

/* After a command ran here: a write is copied to the key's other owners
 * (the reply perhaps waiting for them; reads were handed to proxy_read()
 * by conn_route()). mark is where the command's reply starts in cmd.out.
 * The command's latency is recorded now, or when its reply waited for the
 * other owners, once they answered. */
static void conn_after(struct conn *c, size_t mark)
{
    struct fwdreq *r = NULL;

    if (c->px != NULL && c->cmd.wrote)
        r = proxy_wrote(c->px, &c->pq, &c->cmd, c->cmd.out, mark, c->fwd_rr.noreply);
    if (r != NULL)
        conn_queue(c, r, LAT_LOCAL);
    else
        conn_timed(c);
}

static void conn_value_done(struct conn *c)
{
    size_t mark = c->cmd.out->len;

    cmd_value_done(&c->cmd);
    conn_after(c, mark);
}

/* After "watch": the connection only receives log lines from now on. The
 * logger wakes it (from any thread) as forwarded replies do: conn_ready()
 * activates wake_ev. */
static void conn_watch(struct conn *c)
{
    if (conn_can_wait(c))
        c->watcher = logger_watch(c->srv->logger, c->cmd.watch_mask, conn_ready, c);
    if (c->watcher == NULL) {
        buf_append_str(&c->out, "SERVER_ERROR out of memory\r\n");
        c->state = CONN_CLOSING;
        return;
    }
    c->state = CONN_WATCH;
}

/* Handles one unit of buffered input. Returns 1 when it did something,
 * 0 when more input is needed. */
static int conn_step(struct conn *c)
{
    size_t avail = c->in.end - c->in.start;
    char *line, *nl;
    size_t len, mark;

    switch (c->state) {
    case CONN_LINE:
        if (avail == 0 || proxy_blocked(c))
            return 0;
        nl = memchr(c->in.data + c->in.start, '\n', avail);
        if (nl == NULL) {
            if (avail > PROTO_MAX_LINE_NOGET &&
                (!long_line_allowed(c) || avail >= RBUF_MAX_LINE)) {
                STATS_INCR(c->stats, lines_too_long);
                c->state = CONN_CLOSING;
                return 1;
            }
            return 0;
        }
        line = c->in.data + c->in.start;
        len = (size_t)(nl - line);
        if (len > 1 && line[len - 1] == '\r')
            len--;
        if (verbose(c) > 1)
            fprintf(stderr, "<%d %.*s\n", c->fd, (int)len, line);
        c->lat_t0 = lat_now_ns();
        c->lat_cmd = lat_classify(line, len);
        /* a line from a peer is never forwarded: it needs routing only
         * for a read quorum, a write's replies and dual reads (and to wait
         * for the reads queued before it) */
        if (c->px != NULL && cmd_authenticated(&c->cmd) &&
            (!c->cmd.from_peer || !fwdreq_queue_empty(&c->pq) ||
             proxy_routes_peer_lines(c->px))) {
            int routed = conn_route(c, line, len, nl);
            if (routed != 0)
                return routed > 0;
        }
        c->in.start += (size_t)(nl - line) + 1;
        mark = c->cmd.out->len;
        connreg_set_state(&c->reg, "conn_parse_cmd");
        connreg_touch(&c->reg, mctime_now());
        switch (cmd_process_line(&c->cmd, line, len)) {
        case CMD_NEXT_LINE:
            conn_after(c, mark);
            break;
        case CMD_STREAM:
            c->state = CONN_STREAM;
            break;
        case CMD_WATCH:
            conn_watch(c);
            break;
        case CMD_READ_VALUE:
            c->state = CONN_VALUE;
            c->value_got = 0;
            break;
        case CMD_SWALLOW:
            c->state = CONN_SWALLOW;
            break;
        case CMD_CLOSE:
            c->state = CONN_CLOSING;
            break;
        }
        return 1;
    case CONN_VALUE: {
        struct item *it = c->cmd.item;
        size_t take = it->nbytes - c->value_got;
        if (take > avail)
            take = avail;
        memcpy(item_value(it) + c->value_got, c->in.data + c->in.start, take);
        c->in.start += take;
        c->value_got += (uint32_t)take;
        if (c->value_got < it->nbytes)
            return 0;
        conn_value_done(c);
        c->state = CONN_LINE;
        return 1;
    }
    case CONN_SWALLOW: {
        size_t take = c->cmd.swallow < avail ? (size_t)c->cmd.swallow : avail;
        c->in.start += take;
        c->cmd.swallow -= take;
        if (c->cmd.swallow > 0)
            return 0;
        c->state = CONN_LINE;
        return 1;
    }
    case CONN_FORWARD:
        if (avail < c->fwd_need)
            return 0;
        if (c->fwd_key_off != SIZE_MAX)
            c->fwd_rr.key = c->in.data + c->in.start + c->fwd_key_off;
        conn_forward(c, c->in.data + c->in.start, (size_t)c->fwd_need);
        c->in.start += (size_t)c->fwd_need;
        c->state = CONN_LINE;
        return 1;
    case CONN_STREAM:
        /* one part per step: the loop above sends what piles up */
        if (cmd_stream(&c->cmd))
            c->state = CONN_LINE;
        return 1;
    case CONN_WATCH:
        c->in.start = c->in.end; /* a watcher's input is ignored */
        logger_take(c->watcher, &c->out);
        return 0;
    case CONN_CLOSING:
        break;
    }
    return 0;
}

/* Reads once. Returns >0 bytes read, 0 on EOF, -1 on error, -2 on EAGAIN.
 * *more is false when the read came back short: the socket is drained, and
 * the next read would only say EAGAIN (the event loop tells us when not). */
static ssize_t conn_read(struct conn *c, bool *more)
{
    ssize_t n;
    size_t want;

    *more = false;
    if (c->in.start == c->in.end) {
        inbuf_rewind(&c->in, RBUF_INITIAL, RBUF_KEEP_MAX);
        if (c->state == CONN_VALUE) {
            /* Nothing buffered: read the data block straight into the item. */
            struct item *it = c->cmd.item;
            want = it->nbytes - c->value_got;
            n = tls_io_read(c->tls, c->fd, item_value(it) + c->value_got, want);
            *more = n == (ssize_t)want;
            if (n > 0) {
                c->value_got += (uint32_t)n;
                STATS_ADD(c->stats, bytes_read, (uint64_t)n);
                if (c->value_got == it->nbytes) {
                    conn_value_done(c);
                    c->state = CONN_LINE;
                }
            }
            return n < 0 ? (errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1) : n;
        }
    }
    if (inbuf_make_room(&c->in) != 0)
        return -1;
    want = c->in.size - c->in.end;
    n = tls_io_read(c->tls, c->fd, c->in.data + c->in.end, want);
    *more = n == (ssize_t)want;
    if (n > 0) {
        c->in.end += (size_t)n;
        STATS_ADD(c->stats, bytes_read, (uint64_t)n);
        return n;
    }
    if (n == 0)
        return 0;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -2 : -1;
}

/* Writes queued replies. Returns 1 when all is sent, 0 when the socket is
 * full (now waiting for EV_WRITE), -1 when the connection must close. */
static int conn_flush(struct conn *c)
{
    if (c->out.oom)
        return -1;
    while (buf_pending(&c->out) > 0) {
        ssize_t n =
            tls_io_write(c->tls, c->fd, c->out.data + c->out.off, buf_pending(&c->out));
        if (n > 0) {
            c->out.off += (size_t)n;
            STATS_ADD(c->stats, bytes_written, (uint64_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return set_events(c, tls_io_want(c->tls, EV_WRITE)) == 0 ? 0 : -1;
        return -1;
    }
    buf_reset(&c->out);
    return 1;
}

/* Parses what is buffered, replies, reads more; until the socket has
 * nothing more, the reply backlog blocks, or the request budget (-R) is
 * spent, in which case the connection yields to the others on this thread. */
static void conn_run(struct conn *c, bool more)
{
    int budget = c->srv->settings.reqs_per_event;

    for (;;) {
        bool starved = false; /* parsing stopped for want of input */
        ssize_t n;
        int f;

        if (!fwdreq_queue_empty(&c->pq))
            conn_drain(c);
        while (c->state != CONN_CLOSING && budget > 0 &&
               buf_pending(&c->out) < OUT_HIGH_WATER) {
            if (!conn_step(c)) {
                starved = !proxy_blocked(c);
                break;
            }
            budget--;
        }
        if (!fwdreq_queue_empty(&c->pq))
            conn_drain(c);
        f = conn_flush(c);
        if (f < 0 || (f > 0 && c->state == CONN_CLOSING && fwdreq_queue_empty(&c->pq))) {
            if (f < 0)
                c->close_reason = "error";
            conn_free(c);
            return;
        }
        if (f == 0)
            return; /* resumes in conn_event on EV_WRITE */
        if ((c->state == CONN_CLOSING || proxy_blocked(c)) &&
            !fwdreq_queue_empty(&c->pq)) {
            /* read no more until forwarded replies come back (wake_cb) */
            if (set_events(c, 0) != 0)
                conn_free(c);
            return;
        }
        if (set_events(c, EV_READ) != 0) {
            conn_free(c);
            return;
        }
        if (budget == 0) {
            STATS_INCR(c->stats, conn_yields);
            event_active(c->ev, EV_READ, 0);
            return;
        }
        if (!more) {
            /* Parsing stopped for room (output sent since) or behind
             * forwarded commands (answered since), not for input: go on
             * with what is buffered, as no read event may come for it. */
            if (!starved && c->state != CONN_CLOSING)
                continue;
            return; /* drained: saves a read that would say EAGAIN */
        }
        n = conn_read(c, &more);
        if (n == -2) {
            /* TLS may have to write first (a handshake's answer) */
            if (tls_io_want(c->tls, EV_READ) == EV_WRITE &&
                set_events(c, EV_READ | EV_WRITE) != 0)
                conn_free(c);
            return;
        }
        if (n == 0 && !fwdreq_queue_empty(&c->pq)) {
            /* The client is done sending ("printf ... | nc"), but replies
             * of commands it sent are still on their way: send them, then
             * close. What is left unparsed is an incomplete command. */
            c->state = CONN_CLOSING;
            continue;
        }
        if (n <= 0) {
            if (n < 0)
                c->close_reason = "error";
            conn_free(c);
            return;
        }
    }
}

static void conn_event(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    if ((what & EV_TIMEOUT) && !(what & (EV_READ | EV_WRITE))) {
        if (verbose(c) > 0)
            fprintf(stderr, "<%d idle timeout, closing\n", c->fd);
        STATS_INCR(c->stats, idle_kicks);
        c->close_reason = "idle_timeout";
        conn_free(c);
        return;
    }
    conn_run(c, true);
}
