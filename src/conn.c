/*
 * conn: non-blocking reads into one buffer, commands parsed in place, all
 * replies of a batch sent with one write; data blocks larger than what is
 * buffered are read straight into the item.
 */
#include "conn.h"
#include "buf.h"
#include "cmd.h"
#include "item.h"
#include "proto.h"
#include "stats.h"
#include "worker.h"

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

enum conn_state {
    CONN_LINE,    /* waiting for a command line */
    CONN_VALUE,   /* reading a data block into cmd.item */
    CONN_SWALLOW, /* discarding cmd.swallow bytes */
    CONN_CLOSING, /* flush what is queued, then close */
};

struct conn {
    int fd;
    struct worker *w;
    struct server *srv;
    struct thread_stats *stats;
    struct event *ev;
    short ev_flags; /* EV_READ or EV_WRITE, as registered */
    enum conn_state state;
    char *rbuf;
    size_t rsize;       /* allocated */
    size_t rstart;      /* first unparsed byte */
    size_t rend;        /* end of data */
    uint32_t value_got; /* bytes of the data block read so far */
    struct buf out;
    struct cmd cmd;
    struct conn *prev, *next; /* the worker's list */
};

static void conn_event(evutil_socket_t fd, short what, void *arg);
static void conn_free(struct conn *c);

static int verbose(const struct conn *c)
{
    return __atomic_load_n(&c->srv->verbose, __ATOMIC_RELAXED);
}

static int set_events(struct conn *c, short flags)
{
    struct timeval tv = {.tv_sec = c->srv->settings.idle_timeout};
    bool timeout = (flags & EV_READ) && c->srv->settings.idle_timeout > 0;

    if (c->ev_flags == flags)
        return 0;
    event_del(c->ev);
    if (event_assign(c->ev, worker_base(c->w), c->fd, flags | EV_PERSIST, conn_event,
                     c) != 0 ||
        event_add(c->ev, timeout ? &tv : NULL) != 0)
        return -1;
    c->ev_flags = flags;
    return 0;
}

int conn_new(struct worker *w, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL)
        goto fail;
    c->fd = fd;
    c->w = w;
    c->srv = worker_server(w);
    c->stats = worker_stats(w);
    c->rbuf = malloc(RBUF_INITIAL);
    c->rsize = RBUF_INITIAL;
    c->ev = event_new(worker_base(w), fd, 0, conn_event, c);
    if (c->rbuf == NULL || c->ev == NULL)
        goto fail;
    buf_init(&c->out);
    cmd_init(&c->cmd, c->srv, c->stats, &c->out);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (set_events(c, EV_READ) != 0)
        goto fail;
    c->next = *worker_conns(w);
    if (c->next != NULL)
        c->next->prev = c;
    *worker_conns(w) = c;
    __atomic_fetch_add(&conn_stats.total_connections, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&conn_stats.connection_structures, 1, __ATOMIC_RELAXED);
    if (verbose(c) > 1)
        fprintf(stderr, "<%d new auto-negotiating client connection\n", fd);
    return 0;

fail:
    if (c != NULL) {
        if (c->ev != NULL)
            event_free(c->ev);
        free(c->rbuf);
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
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        *worker_conns(c->w) = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    event_free(c->ev);
    close(c->fd);
    cmd_reset(&c->cmd);
    buf_free(&c->out);
    free(c->rbuf);
    free(c);
    __atomic_fetch_sub(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&conn_stats.connection_structures, 1, __ATOMIC_RELAXED);
}

void conn_free_all(struct worker *w)
{
    while (*worker_conns(w) != NULL)
        conn_free(*worker_conns(w));
}

/* A line without a newline this long can only be a multi-get (memcached's
 * rule); anything else is junk and the connection is dropped. */
static bool long_line_allowed(const struct conn *c)
{
    const char *p = c->rbuf + c->rstart, *end = c->rbuf + c->rend;
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

/* Handles one unit of buffered input. Returns 1 when it did something,
 * 0 when more input is needed. */
static int conn_step(struct conn *c)
{
    size_t avail = c->rend - c->rstart;
    char *line, *nl;
    size_t len;

    switch (c->state) {
    case CONN_LINE:
        if (avail == 0)
            return 0;
        nl = memchr(c->rbuf + c->rstart, '\n', avail);
        if (nl == NULL) {
            if (avail > PROTO_MAX_LINE_NOGET &&
                (!long_line_allowed(c) || avail >= RBUF_MAX_LINE)) {
                STATS_INCR(c->stats, lines_too_long);
                c->state = CONN_CLOSING;
                return 1;
            }
            return 0;
        }
        line = c->rbuf + c->rstart;
        len = (size_t)(nl - line);
        if (len > 1 && line[len - 1] == '\r')
            len--;
        c->rstart += (size_t)(nl - line) + 1;
        if (verbose(c) > 1)
            fprintf(stderr, "<%d %.*s\n", c->fd, (int)len, line);
        switch (cmd_process_line(&c->cmd, line, len)) {
        case CMD_NEXT_LINE:
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
        memcpy(item_value(it) + c->value_got, c->rbuf + c->rstart, take);
        c->rstart += take;
        c->value_got += (uint32_t)take;
        if (c->value_got < it->nbytes)
            return 0;
        cmd_value_done(&c->cmd);
        c->state = CONN_LINE;
        return 1;
    }
    case CONN_SWALLOW: {
        size_t take = c->cmd.swallow < avail ? (size_t)c->cmd.swallow : avail;
        c->rstart += take;
        c->cmd.swallow -= take;
        if (c->cmd.swallow > 0)
            return 0;
        c->state = CONN_LINE;
        return 1;
    }
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
    if (c->rstart == c->rend) {
        c->rstart = c->rend = 0;
        if (c->rsize > RBUF_KEEP_MAX) {
            char *small = realloc(c->rbuf, RBUF_INITIAL);
            if (small != NULL) {
                c->rbuf = small;
                c->rsize = RBUF_INITIAL;
            }
        }
        if (c->state == CONN_VALUE) {
            /* Nothing buffered: read the data block straight into the item. */
            struct item *it = c->cmd.item;
            want = it->nbytes - c->value_got;
            n = read(c->fd, item_value(it) + c->value_got, want);
            *more = n == (ssize_t)want;
            if (n > 0) {
                c->value_got += (uint32_t)n;
                STATS_ADD(c->stats, bytes_read, (uint64_t)n);
                if (c->value_got == it->nbytes) {
                    cmd_value_done(&c->cmd);
                    c->state = CONN_LINE;
                }
            }
            return n < 0 ? (errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1) : n;
        }
    }
    if (c->rend == c->rsize) {
        if (c->rstart > 0) {
            memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
            c->rend -= c->rstart;
            c->rstart = 0;
        } else {
            char *big = realloc(c->rbuf, c->rsize * 2);
            if (big == NULL)
                return -1;
            c->rbuf = big;
            c->rsize *= 2;
        }
    }
    want = c->rsize - c->rend;
    n = read(c->fd, c->rbuf + c->rend, want);
    *more = n == (ssize_t)want;
    if (n > 0) {
        c->rend += (size_t)n;
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
        ssize_t n = write(c->fd, c->out.data + c->out.off, buf_pending(&c->out));
        if (n > 0) {
            c->out.off += (size_t)n;
            STATS_ADD(c->stats, bytes_written, (uint64_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return set_events(c, EV_WRITE) == 0 ? 0 : -1;
        return -1;
    }
    buf_reset(&c->out);
    return 1;
}

/* Parses what is buffered, replies, reads more; until the socket has
 * nothing more, the reply backlog blocks, or the request budget (-R) is
 * spent, in which case the connection yields to the others on this thread. */
static void conn_run(struct conn *c)
{
    int budget = c->srv->settings.reqs_per_event;
    bool more = true; /* the socket may hold unread bytes */

    for (;;) {
        ssize_t n;
        int f;

        while (c->state != CONN_CLOSING && budget > 0 &&
               buf_pending(&c->out) < OUT_HIGH_WATER && conn_step(c))
            budget--;
        f = conn_flush(c);
        if (f < 0 || (f > 0 && c->state == CONN_CLOSING)) {
            conn_free(c);
            return;
        }
        if (f == 0)
            return; /* resumes in conn_event on EV_WRITE */
        if (set_events(c, EV_READ) != 0) {
            conn_free(c);
            return;
        }
        if (budget == 0) {
            STATS_INCR(c->stats, conn_yields);
            event_active(c->ev, EV_READ, 0);
            return;
        }
        if (!more)
            return; /* drained: saves a read that would say EAGAIN */
        n = conn_read(c, &more);
        if (n == -2)
            return;
        if (n <= 0) {
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
        conn_free(c);
        return;
    }
    conn_run(c);
}
