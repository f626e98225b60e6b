/*
 * mcconn: pipelined memcached requests over a bufferevent, replies framed
 * in order (a line, a "VA" block, or lines up to "END").
 */
#include "admin/mcconn.h"
#include "admin/admintext.h"
#include "base/stats.h"
#include "net/worker.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mcreq {
    struct mcreq *next;
    enum mcconn_frame frame;
    mcconn_done_fn done;
    void *arg;
};

struct mcconn {
    struct event_base *base;
    struct bufferevent *bev;
    struct mcreq *head, *tail; /* sent, awaiting their replies in order */
    size_t npending;
    size_t max_reply;
    size_t scanned; /* MCCONN_END: bytes of the head's reply known to be no END */
    struct timeval timeout;
    bool broken;
};

/* An error line ends any reply: memcached answers a command it cannot run
 * with one line. */
static bool error_line(const char *p, size_t n)
{
    return admintext_starts(p, n, "ERROR") || admintext_starts(p, n, "CLIENT_ERROR") ||
           admintext_starts(p, n, "SERVER_ERROR") || admintext_starts(p, n, "BADCLASS");
}

/* The length of the head request's reply when data[0..len) holds it all,
 * else 0. */
static size_t reply_len(struct mcconn *m, const char *data, size_t len)
{
    const char *nl;

    if (m->head->frame == MCCONN_LINE) {
        nl = memchr(data, '\n', len);
        if (nl == NULL)
            return 0;
        if (admintext_starts(data, len, "VA ")) {
            unsigned long long n = strtoull(data + 3, NULL, 10);
            size_t need = (size_t)(nl - data) + 1 + (size_t)n + 2;
            return n <= m->max_reply && len >= need ? need : 0;
        }
        return (size_t)(nl - data) + 1;
    }
    while (m->scanned < len) {
        const char *line = data + m->scanned;
        size_t n;
        nl = memchr(line, '\n', len - m->scanned);
        if (nl == NULL)
            return 0;
        n = (size_t)(nl - line);
        m->scanned += n + 1;
        if ((n >= 3 && memcmp(line, "END", 3) == 0 && (n == 3 || line[3] == '\r')) ||
            error_line(line, n))
            return m->scanned;
    }
    return 0;
}

static struct mcreq *pop(struct mcconn *m)
{
    struct mcreq *r = m->head;

    m->head = r->next;
    if (m->head == NULL)
        m->tail = NULL;
    m->npending--;
    m->scanned = 0;
    return r;
}

/* Fails every pending request and marks the connection broken. */
static void fail_all(struct mcconn *m)
{
    m->broken = true;
    bufferevent_disable(m->bev, EV_READ | EV_WRITE);
    while (m->head != NULL) {
        struct mcreq *r = pop(m);
        r->done(r->arg, -1, NULL, 0);
        free(r);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct mcconn *m = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (m->head != NULL) {
        size_t len = evbuffer_get_length(in), n;
        const char *data;
        struct mcreq *r;

        if (len == 0)
            return;
        data = (const char *)evbuffer_pullup(in, -1);
        n = data != NULL ? reply_len(m, data, len) : 0;
        if (n == 0) {
            if (len > m->max_reply || data == NULL)
                fail_all(m); /* a reply larger than allowed */
            return;
        }
        r = pop(m);
        r->done(r->arg, 0, data, n);
        free(r);
        evbuffer_drain(in, n);
    }
    if (evbuffer_get_length(in) > 0)
        fail_all(m); /* bytes nobody asked for: framing lost */
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct mcconn *m = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if ((what & BEV_EVENT_TIMEOUT) && m->head == NULL) {
        /* idle: nothing was awaited */
        bufferevent_enable(m->bev, EV_READ);
        return;
    }
    fail_all(m);
}

static struct mcconn *wrap(struct event_base *base, int fd, size_t max_reply,
                           unsigned timeout_ms)
{
    struct mcconn *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->base = base;
    m->max_reply = max_reply;
    m->timeout.tv_sec = timeout_ms / 1000;
    m->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    m->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (m->bev == NULL) {
        free(m);
        return NULL;
    }
    bufferevent_setcb(m->bev, read_cb, NULL, event_cb, m);
    bufferevent_set_timeouts(m->bev, &m->timeout, &m->timeout);
    bufferevent_enable(m->bev, EV_READ | EV_WRITE);
    return m;
}

struct mcconn *mcconn_internal(struct event_base *base, struct server *srv,
                               size_t max_reply, unsigned timeout_ms)
{
    int sv[2];
    struct mcconn *m;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return NULL;
    m = wrap(base, sv[0], max_reply, timeout_ms);
    if (m == NULL) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    /* the worker's end is a client connection like any accepted one: its
     * slot is counted as the listener counts one */
    __atomic_fetch_add(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED);
    worker_dispatch(srv, sv[1], true);
    return m;
}

struct mcconn *mcconn_connect(struct event_base *base, const struct sockaddr *sa,
                              socklen_t salen, size_t max_reply, unsigned timeout_ms)
{
    struct mcconn *m = wrap(base, -1, max_reply, timeout_ms);

    if (m == NULL)
        return NULL;
    if (bufferevent_socket_connect(m->bev, (struct sockaddr *)sa, (int)salen) != 0) {
        mcconn_free(m);
        return NULL;
    }
    return m;
}

int mcconn_send(struct mcconn *m, const void *req, size_t n, enum mcconn_frame frame,
                mcconn_done_fn done, void *arg)
{
    struct mcreq *r;

    if (m->broken)
        return -1;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    if (bufferevent_write(m->bev, req, n) != 0) {
        free(r);
        return -1;
    }
    r->frame = frame;
    r->done = done;
    r->arg = arg;
    if (m->tail != NULL)
        m->tail->next = r;
    else
        m->head = r;
    m->tail = r;
    m->npending++;
    /* the read timeout counts from now: re-arm it */
    bufferevent_enable(m->bev, EV_READ);
    return 0;
}

bool mcconn_broken(const struct mcconn *m)
{
    return m->broken;
}

size_t mcconn_pending(const struct mcconn *m)
{
    return m->npending;
}

void mcconn_free(struct mcconn *m)
{
    if (m == NULL)
        return;
    fail_all(m);
    bufferevent_free(m->bev);
    free(m);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    mcconn_free(arg);
}

void mcconn_free_later(struct mcconn *m)
{
    struct timeval now = {0, 0};

    if (m == NULL)
        return;
    fail_all(m); /* nothing more is read: no callback after this one */
    if (event_base_once(m->base, -1, EV_TIMEOUT, free_cb, m, &now) != 0)
        m->broken = true; /* leaked rather than freed under a caller */
}
