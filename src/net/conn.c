/*
 * conn: non-blocking reads into one buffer, commands parsed in place, all
 * replies of a batch sent with one write; data blocks larger than what is
 * buffered are read straight into the item. An idle connection is small:
 * its buffers and command state are borrowed from the worker's pools while
 * it works and given back when it waits for a client that has nothing more
 * to say.
 */
#include "net/conn_int.h"
#include "net/sendq.h"
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
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const close_reasons[] = {
    [CLOSE_NORMAL] = "normal",
    [CLOSE_ERROR] = "error",
    [CLOSE_IDLE_TIMEOUT] = "idle_timeout",
    [CLOSE_SHUTDOWN] = "shutdown",
};

static void conn_event(evutil_socket_t fd, short what, void *arg);
static void conn_ready(void *arg);
static void wake_cb(evutil_socket_t fd, short what, void *arg);

static int verbose(const struct conn *c)
{
    return __atomic_load_n(&c->home->srv->verbose, __ATOMIC_RELAXED);
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

int conn_set_events(struct conn *c, short flags)
{
    int idle = c->home->srv->settings.idle_timeout;
    struct timeval tv = {.tv_sec = idle};
    bool timeout = (flags & EV_READ) && idle > 0 &&
                   c->state != CONN_WATCH; /* watchers only listen */

    connreg_set_state(&c->reg, state_name(c, flags));
    if (c->ring && flags == EV_READ) {
        /* the input comes through the ring, asked for when the
         * connection rests (conn_listen) */
        if (c->ev_flags != 0)
            event_del(&c->ev);
        c->ev_flags = 0;
        return 0;
    }
    if (c->ring)
        conn_unlisten(c); /* no input while it cannot take more */
    if (c->ev_flags == flags)
        return 0;
    event_del(&c->ev);
    c->ev_flags = 0;
    if (flags == 0)
        return 0; /* parked until a forwarded reply wakes it */
    if (event_assign(&c->ev, c->home->base, c->fd, flags | EV_PERSIST, conn_event, c) !=
            0 ||
        event_add(&c->ev, timeout ? &tv : NULL) != 0)
        return -1;
    c->ev_flags = flags;
    return 0;
}

/* Takes the command state from the worker's pool, fresh, when the
 * connection has none. Returns 0, or -1 when memory ran out. */
int conn_borrow(struct conn *c)
{
    struct conn_list *home = c->home;
    struct conn_io *io = c->io;

    if (io != NULL)
        return 0;
    io = bufpool_get(&home->ios);
    if (io == NULL)
        return -1;
    io->in = (struct inbuf){0};
    buf_init(&io->out);
    io->value_got = 0;
    io->backlog = 0;
    io->woken = io->held = io->prefetched = false;
    cmd_init(&io->cmd, home->srv, home->stats, &io->out);
    io->cmd.cfd = c->fd;
    if (c->authed)
        io->cmd.authenticated = true;
    fwdreq_queue_init(&io->pq, &io->out, conn_ready, c);
    event_assign(&io->wake_ev, home->base, -1, 0, wake_cb, c);
    memset(&io->fwd_rr, 0, sizeof(io->fwd_rr));
    io->fwd_owner = 0;
    io->fwd_need = 0;
    io->fwd_key_off = SIZE_MAX;
    io->watcher = NULL;
    c->io = io;
    return 0;
}

/* Gives the empty buffers back to the pool, and the command state too when
 * nothing in it must outlive this moment: the connection waits for input
 * with nothing read, nothing to send, nothing forwarded. */
static void conn_rest(struct conn *c)
{
    struct conn_list *home = c->home;
    struct conn_io *io = c->io;
    size_t size;
    char *block;

    if (io == NULL)
        return;
    if ((block = inbuf_detach(&io->in, &size)) != NULL)
        bufpool_put(&home->bufs, block, size);
    if ((block = buf_detach(&io->out, &size)) != NULL)
        bufpool_put(&home->bufs, block, size);
    if (io->in.data != NULL || io->out.data != NULL || c->state != CONN_LINE ||
        io->held || io->prefetched || io->watcher != NULL ||
        !fwdreq_queue_empty(&io->pq) || !cmd_idle(&io->cmd))
        return;
    if (io->woken)
        event_del(&io->wake_ev); /* activated by a reply drained since */
    c->authed = io->cmd.authenticated;
    bufpool_put(&home->ios, io, sizeof(*io));
    c->io = NULL;
}

/* Gives back everything the connection borrowed, whatever it holds. */
static void conn_give_back(struct conn *c)
{
    struct conn_io *io = c->io;

    if (io == NULL)
        return;
    if (io->backlog > 0)
        __atomic_fetch_sub(&c->home->srv->reply_backlog, io->backlog, __ATOMIC_RELAXED);
    fwdreq_queue_detach_all(&io->pq);
    event_del(&io->wake_ev);
    cmd_reset(&io->cmd);
    bufpool_put(&c->home->bufs, io->in.data, io->in.size);
    bufpool_put(&c->home->bufs, io->out.data, io->out.cap);
    bufpool_put(&c->home->ios, io, sizeof(*io));
    c->io = NULL;
}

/* A connevents line: "type=conn_new rip=<ip> rport=<port> transport=tcp
 * cfd=<fd>", with "reason=<why>" before cfd for conn_close. */
static void log_conn(const struct conn *c, const char *type, const char *reason)
{
    struct logger *lg = c->home->srv->logger;
    char name[CONNREG_ADDR_MAX];
    const char *addr = name + 4, *colon;
    int nip;

    if (!logger_wants(lg, LOGGER_CONNEVENTS))
        return;
    connreg_peer_name(&c->reg, name);
    colon = strrchr(addr, ':');
    if (colon == NULL)
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

void conn_list_init(struct conn_list *home, struct event_base *base, struct server *srv,
                    struct thread_stats *stats)
{
    *home = (struct conn_list){.base = base, .srv = srv, .stats = stats};
    bufpool_init(&home->bufs, RBUF_INITIAL, POOL_SPARES);
    bufpool_init(&home->ios, sizeof(struct conn_io), POOL_SPARES);
    if (srv->settings.io_uring &&
        (home->sq = sendq_new(SENDQ_DEPTH, SENDQ_BYTES, conn_sent)) != NULL)
        __atomic_fetch_add(&srv->uring_workers, 1, __ATOMIC_RELAXED);
}

int conn_new(struct conn_list *home, int fd, bool internal)
{
    struct conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL) {
        conn_drop_fd(fd);
        return -1;
    }
    c->fd = fd;
    c->home = home;
    c->rx = -1;
    c->close_reason = CLOSE_NORMAL;
    c->authed = internal; /* the admin port checks its token */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!internal && tls_enabled() && (c->tls = tls_server_new(fd)) == NULL) {
        free(c);
        conn_drop_fd(fd);
        return -1;
    }
    event_assign(&c->ev, home->base, fd, 0, conn_event, c);
    connreg_add(&c->reg, fd, false, "conn_new_cmd");
    c->ring = home->loop && !internal && c->tls == NULL;
    if (conn_set_events(c, EV_READ) != 0 || conn_listen(c) != 0) {
        connreg_remove(&c->reg);
        tls_free(c->tls, false);
        free(c);
        conn_drop_fd(fd);
        return -1;
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
}

void conn_drop_fd(int fd)
{
    close(fd);
    __atomic_fetch_sub(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED);
}

void conn_free(struct conn *c)
{
    if (verbose(c) > 1)
        fprintf(stderr, "<%d connection closed.\n", c->fd);
    log_conn(c, "conn_close", close_reasons[c->close_reason]);
    connreg_remove(&c->reg);
    if (c->queued)
        sendq_cancel(c->home->sq, c);
    if (c->rx >= 0)
        sendq_recv_stop(c->home->sq, c->rx, true);
    if (c->rx_stopping > 0)
        sendq_recv_forget(c->home->sq, c);
    if (c->ring)
        sendq_commit(c->home->sq);
    if (c->io != NULL)
        logger_unwatch(c->io->watcher); /* no wake after this: wake_ev may go */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->home->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    conn_give_back(c);
    event_del(&c->ev);
    tls_free(c->tls, true);
    close(c->fd);
    free(c);
    __atomic_fetch_sub(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&conn_stats.connection_structures, 1, __ATOMIC_RELAXED);
}

void conn_free_all(struct conn_list *home)
{
    while (home->head != NULL) {
        home->head->close_reason = CLOSE_SHUTDOWN;
        conn_free(home->head);
    }
    bufpool_fini(&home->bufs);
    bufpool_fini(&home->ios);
    sendq_free(home->sq);
    home->sq = NULL;
}

/* A line without a newline this long can only be a multi-get (memcached's
 * rule); anything else is junk and the connection is dropped. */
static bool long_line_allowed(const struct conn *c)
{
    const char *p = c->io->in.data + c->io->in.start,
               *end = c->io->in.data + c->io->in.end;
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
    return fwdreq_queue_len(&c->io->pq) >= MAX_PROXIED || c->io->held ||
           fwdreq_queue_backlog(&c->io->pq) >= OUT_HIGH_WATER;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    c->io->woken = false;
    conn_run(c, false);
}

/* A command of this connection that waited for other members is complete
 * (fwdreq_queue's ready callback, on the worker). */
static void conn_ready(void *arg)
{
    struct conn *c = arg;

    c->io->woken = true;
    event_active(&c->io->wake_ev, EV_READ, 0);
}

/* The logger has lines for this watcher (from any thread: woken is not
 * touched; a watcher keeps its conn_io to the end). */
static void conn_log_ready(void *arg)
{
    struct conn *c = arg;

    event_active(&c->io->wake_ev, EV_READ, 0);
    if (c->home->loop)
        c->home->wake(c->home->wake_arg);
}

/* The current command is served: its latency goes to the worker's
 * histogram (lathist.h). */
static void conn_timed(struct conn *c)
{
    uint64_t now = lat_now_ns();

    lat_record(&c->home->stats->lat, c->io->lat_cmd, LAT_LOCAL,
               now > c->io->lat_t0 ? now - c->io->lat_t0 : 0);
}

/* Appends a forwarded command to the queue of replies; local replies now
 * go behind it. Its latency is recorded as served on path when its reply is
 * drained (path < 0: untimed, a prefetch before the command itself). */
static void conn_queue(struct conn *c, struct fwdreq *r, int path)
{
    if (r == NULL) {
        buf_append_str(c->io->cmd.out, "SERVER_ERROR out of memory\r\n");
        return;
    }
    if (path >= 0)
        fwdreq_time(r, &c->home->stats->lat, c->io->lat_cmd, (enum lat_path)path,
                    c->io->lat_t0);
    fwdreq_queue_push(&c->io->pq, r);
    cmd_set_out(&c->io->cmd, fwdreq_queue_after(&c->io->pq));
}

/* Moves the replies of answered forwarded commands, and the local replies
 * behind them, to the output, in order. */
static void conn_drain(struct conn *c)
{
    if (!fwdreq_queue_drain(&c->io->pq))
        return;
    c->io->held = false; /* the held line decides again */
    if (fwdreq_queue_empty(&c->io->pq))
        cmd_set_out(&c->io->cmd, &c->io->out);
}

/* Forwards raw[0..nraw) as c->io->fwd_rr and c->io->fwd_owner say. */
static void conn_forward(struct conn *c, const char *raw, size_t nraw)
{
    conn_queue(c,
               proxy_forward(c->home->px, &c->io->pq, &c->io->fwd_rr, c->io->fwd_owner,
                             raw, nraw),
               LAT_FORWARDED);
}

/* Sends the line at line[0..len) (ending at nl) to its owner when another
 * node owns its key(s), or through a read quorum. Returns 1 when it took the
 * line, 0 when the line runs here, -1 when it must wait: a write here must
 * not overtake reads before it that wait for their quorum. */
static int conn_route(struct conn *c, const char *line, size_t len, const char *nl)
{
    size_t raw = (size_t)(nl - line) + 1;
    bool again = c->io->prefetched;
    struct fwdreq *r;

    enum proxy_decision d = proxy_route(c->home->px, line, len, c->io->cmd.from_peer,
                                        &c->io->fwd_rr, &c->io->fwd_owner);

    /* Commands of one connection take effect in order: nothing keyed runs
     * here while a write forwarded before it is unanswered, and no write
     * runs here while a read before it waits for its quorum. */
    if (d != PROXY_FORWARD && c->io->fwd_rr.kind != ROUTE_LOCAL &&
        (fwdreq_queue_writes(&c->io->pq) > 0 ||
         (fwdreq_queue_syncs(&c->io->pq) > 0 && c->io->fwd_rr.write))) {
        c->io->held = true;
        return -1;
    }
    c->io->prefetched = false;
    switch (d) {
    case PROXY_PREFETCH:
        /* fetched (or found nowhere) the last time: runs here now; out of
         * memory for the fetch: runs as it is */
        if (again ||
            (r = proxy_prefetch(c->home->px, &c->io->pq, &c->io->fwd_rr)) == NULL)
            return 0;
        c->io->prefetched = true;
        conn_queue(c, r, -1);
        c->io->held = true;
        return -1;
    case PROXY_LOCAL:
        /* before the command runs: it tokenizes the line in place */
        proxy_read(c->home->px, line, len, &c->io->fwd_rr);
        return 0;
    case PROXY_SYNC:
        c->io->in.start += raw;
        conn_queue(c, proxy_sync(c->home->px, &c->io->pq, line, len, &c->io->fwd_rr),
                   LAT_LOCAL);
        return 1;
    case PROXY_FORWARD:
        if (c->io->fwd_rr.data_len > 0) {
            /* wait until the data block is buffered behind the line; the
             * input buffer may grow (move) meanwhile */
            c->io->fwd_key_off =
                c->io->fwd_rr.key >= line && c->io->fwd_rr.key < line + len
                    ? (size_t)(c->io->fwd_rr.key - line)
                    : SIZE_MAX;
            c->io->fwd_need = raw + c->io->fwd_rr.data_len;
            c->state = CONN_FORWARD;
            return 1;
        }
        c->io->in.start += raw;
        conn_forward(c, line, raw);
        return 1;
    case PROXY_FANOUT:
        c->io->in.start += raw;
        conn_queue(
            c,
            proxy_fanout(c->home->px, &c->io->pq, &c->io->cmd, line, len, &c->io->fwd_rr),
            LAT_FORWARDED);
        return 1;
    case PROXY_BROADCAST:
        c->io->in.start += raw;
        conn_queue(
            c,
            proxy_broadcast(c->home->px, &c->io->pq, &c->io->cmd, line, len, line, raw),
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

    if (c->home->px != NULL && c->io->cmd.wrote)
        r = proxy_wrote(c->home->px, &c->io->pq, &c->io->cmd, c->io->cmd.out, mark,
                        c->io->fwd_rr.noreply);
    if (r != NULL)
        conn_queue(c, r, LAT_LOCAL);
    else
        conn_timed(c);
}

static void conn_value_done(struct conn *c)
{
    size_t mark = c->io->cmd.out->len;

    cmd_value_done(&c->io->cmd);
    conn_after(c, mark);
}

/* After "watch": the connection only receives log lines from now on. The
 * logger wakes it (from any thread) as forwarded replies do:
 * conn_log_ready() activates wake_ev. */
static void conn_watch(struct conn *c)
{
    c->io->watcher =
        logger_watch(c->home->srv->logger, c->io->cmd.watch_mask, conn_log_ready, c);
    if (c->io->watcher == NULL) {
        buf_append_str(&c->io->out, "SERVER_ERROR out of memory\r\n");
        c->state = CONN_CLOSING;
        return;
    }
    c->state = CONN_WATCH;
}

/* Handles one unit of buffered input. Returns 1 when it did something,
 * 0 when more input is needed. */
static int conn_step(struct conn *c)
{
    size_t avail = c->io->in.end - c->io->in.start;
    char *line, *nl;
    size_t len, mark;

    switch (c->state) {
    case CONN_LINE:
        if (avail == 0 || proxy_blocked(c))
            return 0;
        nl = memchr(c->io->in.data + c->io->in.start, '\n', avail);
        if (nl == NULL) {
            if (avail > PROTO_MAX_LINE_NOGET &&
                (!long_line_allowed(c) || avail >= RBUF_MAX_LINE)) {
                STATS_INCR(c->home->stats, lines_too_long);
                c->state = CONN_CLOSING;
                return 1;
            }
            return 0;
        }
        line = c->io->in.data + c->io->in.start;
        len = (size_t)(nl - line);
        if (len > 1 && line[len - 1] == '\r')
            len--;
        if (verbose(c) > 1)
            fprintf(stderr, "<%d %.*s\n", c->fd, (int)len, line);
        c->io->lat_t0 = lat_now_ns();
        c->io->lat_cmd = lat_classify(line, len);
        /* a line from a peer is never forwarded: it needs routing only
         * for a read quorum, a write's replies and dual reads (and to wait
         * for the reads queued before it); nothing is routed before -Y's
         * login */
        if (c->home->px != NULL && cmd_authenticated(&c->io->cmd) &&
            (!c->io->cmd.from_peer || !fwdreq_queue_empty(&c->io->pq) ||
             proxy_routes_peer_lines(c->home->px))) {
            int routed = conn_route(c, line, len, nl);
            if (routed != 0)
                return routed > 0;
        }
        c->io->in.start += (size_t)(nl - line) + 1;
        mark = c->io->cmd.out->len;
        connreg_set_state(&c->reg, "conn_parse_cmd");
        connreg_touch(&c->reg, mctime_now());
        switch (cmd_process_line(&c->io->cmd, line, len)) {
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
            c->io->value_got = 0;
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
        struct item *it = c->io->cmd.item;
        size_t take = it->nbytes - c->io->value_got;
        if (avail == 0)
            return 0; /* (the input buffer may be back in the pool) */
        if (take > avail)
            take = avail;
        memcpy(item_value(it) + c->io->value_got, c->io->in.data + c->io->in.start, take);
        c->io->in.start += take;
        c->io->value_got += (uint32_t)take;
        if (c->io->value_got < it->nbytes)
            return 0;
        conn_value_done(c);
        c->state = CONN_LINE;
        return 1;
    }
    case CONN_SWALLOW: {
        size_t take = c->io->cmd.swallow < avail ? (size_t)c->io->cmd.swallow : avail;
        c->io->in.start += take;
        c->io->cmd.swallow -= take;
        if (c->io->cmd.swallow > 0)
            return 0;
        c->state = CONN_LINE;
        return 1;
    }
    case CONN_FORWARD:
        if (avail < c->io->fwd_need)
            return 0;
        if (c->io->fwd_key_off != SIZE_MAX)
            c->io->fwd_rr.key = c->io->in.data + c->io->in.start + c->io->fwd_key_off;
        conn_forward(c, c->io->in.data + c->io->in.start, (size_t)c->io->fwd_need);
        c->io->in.start += (size_t)c->io->fwd_need;
        c->state = CONN_LINE;
        return 1;
    case CONN_STREAM:
        /* one part per step: the loop above sends what piles up */
        if (cmd_stream(&c->io->cmd))
            c->state = CONN_LINE;
        return 1;
    case CONN_WATCH:
        c->io->in.start = c->io->in.end; /* a watcher's input is ignored */
        logger_take(c->io->watcher, &c->io->out);
        return 0;
    case CONN_CLOSING:
        break;
    }
    return 0;
}

int conn_in_room(struct conn *c)
{
    if (c->io->in.data == NULL) {
        char *block = bufpool_get(&c->home->bufs);
        if (block == NULL)
            return -1;
        inbuf_attach(&c->io->in, block, c->home->bufs.size);
    }
    return inbuf_make_room(&c->io->in) != 0 ? -1 : 0;
}

/* Reads once. Returns >0 bytes read, 0 on EOF, -1 on error, -2 on EAGAIN.
 * *more is false when the read came back short: the socket is drained, and
 * the next read would only say EAGAIN (the event loop tells us when not). */
static ssize_t conn_read(struct conn *c, bool *more)
{
    ssize_t n;
    size_t want;

    *more = false;
    if (c->io->in.start == c->io->in.end) {
        inbuf_rewind(&c->io->in, RBUF_INITIAL, RBUF_KEEP_MAX);
        if (c->state == CONN_VALUE) {
            /* Nothing buffered: read the data block straight into the item. */
            struct item *it = c->io->cmd.item;
            want = it->nbytes - c->io->value_got;
            n = tls_io_read(c->tls, c->fd, item_value(it) + c->io->value_got, want);
            *more = n == (ssize_t)want;
            if (n > 0) {
                c->io->value_got += (uint32_t)n;
                STATS_ADD(c->home->stats, bytes_read, (uint64_t)n);
                if (c->io->value_got == it->nbytes) {
                    conn_value_done(c);
                    c->state = CONN_LINE;
                }
            }
            return n < 0 ? (errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1) : n;
        }
    }
    if (conn_in_room(c) != 0)
        return -1;
    want = c->io->in.size - c->io->in.end;
    n = tls_io_read(c->tls, c->fd, c->io->in.data + c->io->in.end, want);
    *more = n == (ssize_t)want;
    if (n > 0) {
        c->io->in.end += (size_t)n;
        STATS_ADD(c->home->stats, bytes_read, (uint64_t)n);
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
    size_t size;
    char *block;

    if (c->io->out.oom)
        return -1;
    while (buf_pending(&c->io->out) > 0) {
        ssize_t n = tls_io_write(c->tls, c->fd, c->io->out.data + c->io->out.off,
                                 buf_pending(&c->io->out));
        if (n > 0) {
            c->io->out.off += (size_t)n;
            STATS_ADD(c->home->stats, bytes_written, (uint64_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return conn_set_events(c, tls_io_want(c->tls, EV_WRITE)) == 0 ? 0 : -1;
        return -1;
    }
    /* all sent: the buffer goes back to the pool (and is reset) */
    block = buf_detach(&c->io->out, &size);
    if (block != NULL)
        bufpool_put(&c->home->bufs, block, size);
    else
        buf_reset(&c->io->out);
    return 1;
}

/* Counts in srv->reply_backlog the replies of a connection whose client
 * does not read them as fast as it asks: its whole backlog once past the
 * high-water mark, nothing below it (no shared write for the others). */
static void conn_count_backlog(struct conn *c)
{
    struct conn_io *io = c->io;
    size_t pending = buf_pending(&io->out);
    size_t now = pending > OUT_HIGH_WATER ? pending : 0;

    if (now == io->backlog)
        return;
    if (now > io->backlog)
        __atomic_fetch_add(&c->home->srv->reply_backlog, now - io->backlog,
                           __ATOMIC_RELAXED);
    else
        __atomic_fetch_sub(&c->home->srv->reply_backlog, io->backlog - now,
                           __ATOMIC_RELAXED);
    io->backlog = now;
}

/* Lends the connection's output a block from the pool when it has none
 * (without one, buf_reserve() would malloc one of its own). */
void conn_out_block(struct conn *c)
{
    char *block;

    if (c->io->out.data != NULL || (block = bufpool_get(&c->home->bufs)) == NULL)
        return;
    buf_attach(&c->io->out, block, c->home->bufs.size);
}

/* Lends the connection a reply buffer before it parses, so that the
 * replies of a batch start in a pooled block; not when it has nothing to
 * parse or answer. */
static void conn_take_out(struct conn *c)
{
    struct conn_io *io = c->io;

    if (io->in.start == io->in.end && c->state == CONN_LINE &&
        fwdreq_queue_empty(&io->pq))
        return;
    conn_out_block(c);
}

/* Parses what is buffered, replies, reads more; until the socket has
 * nothing more, the reply backlog blocks, or the request budget (-R) is
 * spent, in which case the connection yields to the others on this thread.
 * A ring connection reads nothing itself: its input comes (conn_recv). */
void conn_run(struct conn *c, bool more)
{
    int budget = c->home->srv->settings.reqs_per_event;

    if (c->ring)
        more = false;

    if (c->queued) {
        /* its reply waits for the pass's batched send; nothing may go
         * out before it: conn_sent() runs the connection then */
        c->missed = true;
        return;
    }
    if (conn_borrow(c) != 0) {
        c->close_reason = CLOSE_ERROR; /* no memory for its state: as memcached */
        conn_free(c);
        return;
    }
    for (;;) {
        bool starved = false; /* parsing stopped for want of input */
        ssize_t n;
        int f;

        conn_take_out(c);
        if (!fwdreq_queue_empty(&c->io->pq))
            conn_drain(c);
        while (c->state != CONN_CLOSING && budget > 0 &&
               buf_pending(&c->io->out) < OUT_HIGH_WATER) {
            if (!conn_step(c)) {
                starved = !proxy_blocked(c);
                break;
            }
            budget--;
        }
        if (!fwdreq_queue_empty(&c->io->pq))
            conn_drain(c);
        if (!more && starved && budget > 0)
            conn_defer(c); /* the flush below finds nothing to send */
        f = conn_flush(c);
        if (f >= 0)
            conn_count_backlog(c);
        if (f < 0 ||
            (f > 0 && c->state == CONN_CLOSING && fwdreq_queue_empty(&c->io->pq))) {
            if (f < 0)
                c->close_reason = CLOSE_ERROR;
            conn_free(c);
            return;
        }
        if (f == 0)
            return; /* resumes in conn_event on EV_WRITE */
        if ((c->state == CONN_CLOSING || proxy_blocked(c)) &&
            !fwdreq_queue_empty(&c->io->pq)) {
            /* read no more until forwarded replies come back (wake_cb) */
            if (conn_set_events(c, 0) != 0)
                conn_free(c);
            return;
        }
        if (conn_set_events(c, EV_READ) != 0) {
            conn_free(c);
            return;
        }
        if (budget == 0) {
            STATS_INCR(c->home->stats, conn_yields);
            conn_unlisten(c); /* no more input until this is parsed */
            event_active(&c->ev, EV_READ, 0);
            return;
        }
        if (!more) {
            /* Parsing stopped for room (output sent since) or behind
             * forwarded commands (answered since), not for input: go on
             * with what is buffered, as no read event may come for it. */
            if (!starved && c->state != CONN_CLOSING)
                continue;
            if (!c->eof) {
                conn_rest(c);
                if (conn_listen(c) != 0)
                    conn_free(c);
                return; /* drained: saves a read that would say EAGAIN */
            }
            n = 0; /* ring: the client closed its side, as a read of 0 */
        } else if ((n = conn_read(c, &more)) == -2) {
            /* TLS may have to write first (a handshake's answer) */
            if (tls_io_want(c->tls, EV_READ) == EV_WRITE &&
                conn_set_events(c, EV_READ | EV_WRITE) != 0) {
                conn_free(c);
                return;
            }
            conn_rest(c);
            return;
        }
        if (n == 0 && !fwdreq_queue_empty(&c->io->pq)) {
            /* The client is done sending ("printf ... | nc"), but replies
             * of commands it sent are still on their way: send them, then
             * close. What is left unparsed is an incomplete command. */
            c->state = CONN_CLOSING;
            continue;
        }
        if (n <= 0) {
            if (n < 0)
                c->close_reason = CLOSE_ERROR;
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
        STATS_INCR(c->home->stats, idle_kicks);
        c->close_reason = CLOSE_IDLE_TIMEOUT;
        conn_free(c);
        return;
    }
    conn_run(c, true);
}
