/* sse: GET /events, the streams of the dashboards that are open. */
#include "admin/sse.h"
#include "base/buf.h"
#include "base/logger.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_LOG_TYPES (LOGGER_EVICTIONS | LOGGER_MEMBERS | LOGGER_REPAIRS)

struct sse_client {
    struct sse_hub *hub;
    struct sse_client *next;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    bool keys;        /* it gave the token: its events carry keys */
    uint64_t skipped; /* events dropped since it last had room */
    struct evbuffer_cb_entry *drain_cb;
    uint64_t drained;       /* bytes the socket took from its output */
    uint64_t drained_seen;  /* at the last heartbeat */
    unsigned stalled_beats; /* heartbeats since it last took anything */
};

struct sse_hub {
    struct event_base *base;
    struct logger *lg;
    struct logger_watcher *watcher; /* while a client is connected */
    struct event *wake;             /* the watcher has lines */
    struct event *beat;             /* the heartbeat */
    struct sse_client *clients;
    struct buf lines; /* taken from the watcher, not yet sent */
    char node[256];
    struct sse_stats st;
};

/* ---- log lines into events ---- */

static const char *event_type(const char *t, size_t n)
{
    static const struct {
        const char *log, *sse;
    } map[] = {
        {"eviction", "eviction"},
        {"member", "member"},
        {"repair", "repair"},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strlen(map[i].log) == n && memcmp(map[i].log, t, n) == 0)
            return map[i].sse;
    return "log";
}

/* A field's value as JSON: an integer or a number where it is one. */
static json_t *field_value(const char *v, size_t n)
{
    char tmp[32], *end;

    if (n > 0 && n < sizeof(tmp) && strspn(v, "-0123456789.") >= n) {
        memcpy(tmp, v, n);
        tmp[n] = '\0';
        errno = 0;
        if (memchr(v, '.', n) == NULL) {
            long long i = strtoll(tmp, &end, 10);
            if (errno == 0 && *end == '\0')
                return json_integer(i);
        } else {
            double d = strtod(tmp, &end);
            if (errno == 0 && *end == '\0')
                return json_real(d);
        }
    }
    return json_stringn(v, n); /* NULL for bytes that are not UTF-8 */
}

json_t *sse_line_event(const char *line, size_t len, bool keys, const char **type)
{
    json_t *o = json_object();
    const char *p = line, *end = line + len;

    *type = NULL;
    if (o == NULL)
        return NULL;
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p)), *eq;
        size_t n = (size_t)((sp != NULL ? sp : end) - p);

        eq = memchr(p, '=', n);
        if (eq != NULL && eq > p) {
            size_t nk = (size_t)(eq - p), nv = n - nk - 1;
            if (nk == 4 && memcmp(p, "type", 4) == 0)
                *type = event_type(eq + 1, nv);
            if (nk == 7 && memcmp(p, "skipped", 7) == 0)
                *type = "skipped";
            if (keys || !(nk == 3 && memcmp(p, "key", 3) == 0)) {
                json_t *v = field_value(eq + 1, nv);
                if (v != NULL)
                    json_object_setn_new_nocheck(o, p, nk, v);
            }
        }
        p += n + 1;
    }
    if (*type == NULL) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- streams ---- */

static struct evbuffer *output_of(struct sse_client *c)
{
    return bufferevent_get_output(evhttp_connection_get_bufferevent(c->evcon));
}

/* Queues text to c unless that would pass its bound; returns whether it
 * did. A client that had no room first reads what it missed. */
static bool send_text(struct sse_client *c, const char *text, size_t n)
{
    struct evbuffer *b;

    if (evbuffer_get_length(output_of(c)) + n > SSE_CLIENT_MAX_BYTES)
        return false;
    b = evbuffer_new();
    if (b == NULL)
        return false;
    if (c->skipped > 0) {
        evbuffer_add_printf(b, "event: skipped\ndata: {\"events\":%llu}\n\n",
                            (unsigned long long)c->skipped);
        c->skipped = 0;
    }
    evbuffer_add(b, text, n);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
    return true;
}

static void send_event(struct sse_hub *h, struct sse_client *c, const char *type,
                       json_t *data)
{
    char *s = json_dumps(data, JSON_COMPACT);
    struct buf ev;

    if (s == NULL)
        return;
    buf_init(&ev);
    buf_append_str(&ev, "event: ");
    buf_append_str(&ev, type);
    buf_append_str(&ev, "\ndata: ");
    buf_append_str(&ev, s);
    buf_append_str(&ev, "\n\n");
    free(s);
    if (!ev.oom && send_text(c, ev.data, ev.len)) {
        h->st.sent++;
    } else {
        c->skipped++;
        h->st.dropped++;
    }
    buf_free(&ev);
}

/* Counts what the socket takes, to find clients that take nothing. */
static void on_output(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    struct sse_client *c = arg;

    (void)b;
    c->drained += info->n_deleted;
}

static void unlink_client(struct sse_client *c)
{
    struct sse_hub *h = c->hub;

    /* the connection is still there: ours, or evhttp's that it closes */
    if (c->drain_cb != NULL)
        evbuffer_remove_cb_entry(output_of(c), c->drain_cb);

    for (struct sse_client **pp = &h->clients; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    h->st.clients--;
    h->st.closed++;
    if (h->clients == NULL && h->watcher != NULL) {
        logger_unwatch(h->watcher); /* the workers stop logging for us */
        h->watcher = NULL;
        buf_reset(&h->lines);
    }
    free(c);
}

/* evhttp's close callback: the client left, or stalled past the timeout.
 * evhttp detached the request from the connection (we had not ended the
 * reply), so it is ours to free. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct sse_client *c = arg;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_request_free(c->req);
    unlink_client(c);
}

static void on_wake_from_logger(void *arg)
{
    struct sse_hub *h = arg;

    event_active(h->wake, EV_READ, 0); /* any thread: the loop's lock */
}

static void on_lines(evutil_socket_t fd, short what, void *arg)
{
    struct sse_hub *h = arg;
    size_t off = 0;

    (void)fd;
    (void)what;
    if (h->watcher == NULL)
        return;
    logger_take(h->watcher, &h->lines);
    while (off < h->lines.len) {
        const char *line = h->lines.data + off, *nl;
        size_t n;

        nl = memchr(line, '\n', h->lines.len - off);
        n = nl != NULL ? (size_t)(nl - line) : h->lines.len - off;
        for (struct sse_client *c = h->clients; c != NULL; c = c->next) {
            const char *type;
            json_t *ev = sse_line_event(line, n, c->keys, &type);
            if (ev != NULL)
                send_event(h, c, type, ev);
            json_decref(ev);
        }
        off += n + 1;
    }
    buf_reset(&h->lines);
}

/* Ends a stream from our side (it stalled, or the hub goes). */
static void drop_client(struct sse_client *c)
{
    struct evhttp_connection *evcon = c->evcon;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_request_free(c->req);
    unlink_client(c);
    evhttp_connection_free(evcon); /* frees the request still on it */
}

/* The heartbeat, and the end of clients that took nothing of what waits
 * for them since SSE_STALL_BEATS heartbeats (small events may still fit
 * under the bound and re-arm the write timeout). */
static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    struct sse_hub *h = arg;
    struct sse_client *next;

    (void)fd;
    (void)what;
    for (struct sse_client *c = h->clients; c != NULL; c = next) {
        next = c->next;
        if (evbuffer_get_length(output_of(c)) > 0 && c->drained == c->drained_seen) {
            if (++c->stalled_beats >= SSE_STALL_BEATS) {
                h->st.stalled++;
                drop_client(c);
                continue;
            }
        } else {
            c->stalled_beats = 0;
        }
        c->drained_seen = c->drained;
        send_text(c, ": heartbeat\n\n", 13);
    }
}

void sse_serve(struct sse_hub *h, struct evhttp_request *req, bool keys)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct timeval wt = {.tv_sec = 10};
    struct sse_client *c;
    json_t *hello;

    if (h->st.clients >= SSE_MAX_CLIENTS) {
        h->st.refused++;
        evhttp_add_header(out, "Retry-After", "5");
        evhttp_add_header(out, "Content-Type", "application/json");
        evhttp_send_error(req, 503, "too many event streams");
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (h->watcher == NULL &&
                      (h->watcher = logger_watch(h->lg, SSE_LOG_TYPES,
                                                 on_wake_from_logger, h)) == NULL)) {
        free(c);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    c->hub = h;
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    c->keys = keys;
    c->next = h->clients;
    h->clients = c;
    h->st.clients++;
    evhttp_add_header(out, "Content-Type", "text/event-stream");
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    /* no read timeout (the client says nothing after its request); the
     * write timeout closes a client that takes nothing for 10 s */
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(c->evcon), NULL, &wt);
    evhttp_connection_set_closecb(c->evcon, on_close, c);
    c->drain_cb = evbuffer_add_cb(output_of(c), on_output, c);
    send_text(c, "retry: 2000\n\n", 13);
    hello = json_pack("{s:s,s:b}", "node", h->node, "keys", keys);
    if (hello != NULL)
        send_event(h, c, "hello", hello);
    json_decref(hello);
}

void sse_emit(struct sse_hub *h, const char *type, json_t *data)
{
    if (data == NULL)
        return;
    for (struct sse_client *c = h->clients; c != NULL; c = c->next)
        send_event(h, c, type, data);
    json_decref(data);
}

void sse_get_stats(const struct sse_hub *h, struct sse_stats *out)
{
    *out = h->st;
    out->queued = 0;
    for (struct sse_client *c = h->clients; c != NULL; c = c->next)
        out->queued += evbuffer_get_length(output_of(c));
}

struct sse_hub *sse_new(struct event_base *base, struct logger *lg, const char *node)
{
    struct sse_hub *h = calloc(1, sizeof(*h));
    struct timeval beat = {.tv_sec = SSE_HEARTBEAT_S};

    if (h == NULL)
        return NULL;
    h->base = base;
    h->lg = lg;
    snprintf(h->node, sizeof(h->node), "%s", node);
    buf_init(&h->lines);
    h->wake = event_new(base, -1, 0, on_lines, h);
    h->beat = event_new(base, -1, EV_PERSIST, on_beat, h);
    if (h->wake == NULL || h->beat == NULL || event_add(h->beat, &beat) != 0) {
        sse_free(h);
        return NULL;
    }
    return h;
}

void sse_free(struct sse_hub *h)
{
    if (h == NULL)
        return;
    while (h->clients != NULL)
        drop_client(h->clients);
    logger_unwatch(h->watcher);
    if (h->wake != NULL)
        event_free(h->wake);
    if (h->beat != NULL)
        event_free(h->beat);
    buf_free(&h->lines);
    free(h);
}
