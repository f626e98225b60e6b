/*
 * admin: the admin port's thread, its evhttp server, the routing of
 * requests, the bearer token, and the routes that need nothing but this
 * node: /healthz, /readyz, /metrics.
 */
#include "admin/admin.h"
#include "admin/admin_internal.h"
#include "admin/metrics.h"
#include "admin/promtext.h"
#include "admin/sse.h"
#include "cluster/cluster.h"
#include "cluster/ring.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Request line and headers: evhttp answers 400 to more. Up to that a URL
 * longer than MAX_URI gets 414 from the router. */
#define MAX_HEADERS_SIZE (128 * 1024)
#define MAX_URI          8192
#define BODY_SLACK       4096 /* over -I: the body of a PUT may not be longer */
#define CLIENT_TIMEOUT_S 10   /* a client that sends or reads nothing this long */

void admin_reply(struct evhttp_request *req, int code, const char *ctype,
                 const void *body, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (b != NULL)
        evbuffer_add(b, body, n);
    evhttp_send_reply(req, code, NULL, b);
    if (b != NULL)
        evbuffer_free(b);
}

void admin_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (s == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    admin_reply(req, code, "application/json", s, strlen(s));
    free(s);
}

void admin_error(struct evhttp_request *req, int code, const char *msg)
{
    admin_json(req, code, json_pack("{s:s}", "error", msg));
}

struct mcconn *admin_self(struct admin *a)
{
    if (a->self != NULL && mcconn_broken(a->self)) {
        mcconn_free_later(a->self);
        a->self = NULL;
    }
    if (a->self == NULL)
        a->self = mcconn_internal(a->base, a->srv,
                                  (size_t)a->srv->settings.item_size_max + 1024,
                                  ADMIN_TIMEOUT_MS);
    return a->self;
}

const struct buf *admin_run_local(struct admin *a, const char *line)
{
    char tmp[64];
    size_t n = strlen(line);

    buf_reset(&a->cmd_out);
    if (n < sizeof(tmp)) {
        memcpy(tmp, line, n + 1);
        cmd_process_line(&a->cmd, tmp, n);
    }
    return &a->cmd_out;
}

size_t admin_members(struct admin *a, struct cluster_member_info *out)
{
    return cluster_members(a->srv->cluster, out, ADMIN_MAX_MEMBERS);
}

/* ---- the token ---- */

/* Compares without an early exit: the time taken tells nothing of where a
 * guess went wrong. */
static bool same_secret(const char *a, size_t na, const char *b, size_t nb)
{
    unsigned char diff = na != nb;
    size_t n = na < nb ? na : nb;

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Whether req carries the configured token. */
static bool token_given(struct admin *a, struct evhttp_request *req)
{
    const char *h =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

    return a->token[0] != '\0' && h != NULL && strncmp(h, "Bearer ", 7) == 0 &&
           same_secret(h + 7, strlen(h + 7), a->token, strlen(a->token));
}

/* Whether req may use a route that writes or lists keys; answers it (401
 * or 403) when not. */
static bool authorized(struct admin *a, struct evhttp_request *req)
{
    const char *h =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

    if (a->token[0] == '\0') {
        admin_error(req, 403, "this route needs --http-token, which is not set");
        return false;
    }
    if (token_given(a, req))
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      "Bearer realm=\"meshcached\"");
    admin_error(req, 401, h == NULL ? "missing bearer token" : "wrong bearer token");
    return false;
}

static int read_token(const char *path, char *token)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "meshcached: cannot read the HTTP token file %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    n = fread(token, 1, ADMIN_TOKEN_MAX, f);
    fclose(f);
    token[n] = '\0';
    while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r' ||
                     token[n - 1] == ' ' || token[n - 1] == '\t'))
        token[--n] = '\0';
    if (n == 0 || strlen(token) != n || strpbrk(token, " \t\r\n") != NULL) {
        fprintf(stderr,
                "meshcached: the HTTP token file %s must hold one token of 1 to %d "
                "characters\n",
                path, ADMIN_TOKEN_MAX);
        return -1;
    }
    return 0;
}

/* ---- routes of this node alone ---- */

static void readyz(struct admin *a, struct evhttp_request *req)
{
    const struct settings *s = &a->srv->settings;
    struct ring *r = ring_acquire(cluster_ring_ref(a->srv->cluster));
    size_t live = ring_node_count(r) - ring_down_count(r);
    /* a key's owners up are the first N of the live nodes: a write
     * reaches min(N, live) of them */
    size_t reach = live < s->replicas ? live : s->replicas;
    /* a single node writes here alone: the quorum flags have no effect */
    bool single = s->npeers == 0 && !s->gossip;
    bool ready = (single || reach >= s->write_quorum) && !a->srv->stopping;

    ring_release(r);
    admin_json(req, ready ? 200 : 503,
               json_pack("{s:b,s:I,s:I,s:I}", "ready", ready, "live_nodes",
                         (json_int_t)live, "replicas", (json_int_t)s->replicas,
                         "write_quorum", (json_int_t)s->write_quorum));
}

/* The event streams' own counters, after the node's. */
static void sse_metrics(struct admin *a, struct buf *page)
{
    struct sse_stats st;
    const struct {
        const char *name, *type, *help;
        uint64_t v;
    } rows[] = {
        {"http_event_streams", "gauge", "GET /events streams open.", 0},
        {"http_events_sent_total", "counter", "Events written to /events streams.", 0},
        {"http_events_dropped_total", "counter",
         "Events a /events stream had no room for (a slow client).", 0},
        {"http_event_streams_refused_total", "counter",
         "/events streams refused because the most were open.", 0},
        {"http_event_streams_stalled_total", "counter",
         "/events streams closed because the client took nothing for 15 s.", 0},
        {"http_event_streams_queued_bytes", "gauge",
         "Bytes waiting in the /events streams' output buffers.", 0},
    };
    uint64_t v[6];

    sse_get_stats(a->events, &st);
    v[0] = st.clients;
    v[1] = st.sent;
    v[2] = st.dropped;
    v[3] = st.refused;
    v[4] = st.stalled;
    v[5] = st.queued;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char name[PROM_NAME_MAX];
        snprintf(name, sizeof(name), PROM_PREFIX "%s", rows[i].name);
        prom_family(page, name, rows[i].type, rows[i].help);
        prom_sample_u64(page, name, "", v[i]);
    }
}

static void metrics(struct admin *a, struct evhttp_request *req)
{
    struct buf page, st;
    const struct buf *cl;

    buf_init(&page);
    buf_init(&st);
    cl = admin_run_local(a, "stats");
    buf_append(&st, cl->data, cl->len);
    cl = admin_run_local(a, "stats hotkeys"); /* its numbers; no key is a label */
    if (st.len >= 5 && memcmp(st.data + st.len - 5, "END\r\n", 5) == 0)
        st.len -= 5;
    buf_append(&st, cl->data, cl->len);
    cl = admin_run_local(a, "stats cluster");
    metrics_render(a->srv, st.data, st.len, cl->data, cl->len, &page);
    sse_metrics(a, &page);
    if (page.oom || st.oom)
        evhttp_send_error(req, 500, "out of memory");
    else
        admin_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", page.data,
                    page.len);
    buf_free(&page);
    buf_free(&st);
}

static bool method_is(struct evhttp_request *req, enum evhttp_cmd_type want)
{
    if (evhttp_request_get_command(req) == want)
        return true;
    admin_error(req, 405, "method not allowed on this route");
    return false;
}

/* "/nodes/<id>/stats": the id (still percent-encoded) into id, or false. */
static bool node_route(const char *path, char *id, size_t cap)
{
    const char *p = path + strlen("/nodes/"), *slash = strchr(p, '/');
    size_t n;

    if (slash == NULL || strcmp(slash, "/stats") != 0)
        return false;
    n = (size_t)(slash - p);
    if (n == 0 || n >= cap)
        return false;
    memcpy(id, p, n);
    id[n] = '\0';
    return true;
}

static void route(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    char id[3 * 256];

    if (strlen(evhttp_request_get_uri(req)) > MAX_URI) {
        admin_error(req, 414, "URI too long");
    } else if (path == NULL || path[0] != '/') {
        admin_error(req, 400, "bad request target");
    } else if (strcmp(path, "/") == 0 || strncmp(path, "/assets/", 8) == 0) {
        if (method_is(req, EVHTTP_REQ_GET) && !admin_asset(req, path))
            admin_error(req, 404, "no such file");
    } else if (strcmp(path, "/history") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            admin_history(a, req);
    } else if (strcmp(path, "/events") == 0) {
        /* open, as the counts it shows; keys only with the token */
        if (method_is(req, EVHTTP_REQ_GET))
            sse_serve(a->events, req, token_given(a, req));
    } else if (strcmp(path, "/healthz") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            admin_reply(req, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(path, "/readyz") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            readyz(a, req);
    } else if (strcmp(path, "/metrics") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            metrics(a, req);
    } else if (strncmp(path, "/cache/", 7) == 0) {
        if (authorized(a, req))
            admin_cache(a, req, path + 7);
    } else if (strcmp(path, "/cluster/status") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            admin_cluster_status(a, req);
    } else if (strcmp(path, "/cluster/distribution") == 0) {
        if (method_is(req, EVHTTP_REQ_GET))
            admin_cluster_distribution(a, req);
    } else if (strncmp(path, "/nodes/", 7) == 0 && node_route(path, id, sizeof(id))) {
        if (method_is(req, EVHTTP_REQ_GET))
            admin_node_stats(a, req, id);
    } else if (strcmp(path, "/keys") == 0) {
        if (method_is(req, EVHTTP_REQ_GET) && authorized(a, req))
            admin_keys(a, req);
    } else if (strcmp(path, "/hotkeys") == 0) {
        if (method_is(req, EVHTTP_REQ_GET) && authorized(a, req))
            admin_hotkeys(a, req);
    } else {
        admin_error(req, 404, "no such route");
    }
}

/* ---- the thread ---- */

static void *admin_main(void *arg)
{
    struct admin *a = arg;

    /* by name in /proc/PID/task: contrib/bench/compare --admin reads its CPU */
    pthread_setname_np(pthread_self(), "mc-admin");
    event_base_dispatch(a->base);
    return NULL;
}

/* Binds the port on every -l address (a "host:port" entry keeps its host). */
static int bind_all(struct admin *a)
{
    char list[sizeof(a->srv->settings.listen_addr)], *save = NULL;

    memcpy(list, a->srv->settings.listen_addr, sizeof(list));
    for (char *h = strtok_r(list, ",", &save); h != NULL;
         h = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(h, ':');
        if (h[0] == '[') {
            char *close = strchr(h, ']');
            if (close != NULL)
                *close = '\0';
            h++;
        } else if (colon != NULL && strchr(h, ':') == colon) {
            *colon = '\0';
        }
        if (evhttp_bind_socket_with_handle(
                a->http, h, (ev_uint16_t)a->srv->settings.http_port) == NULL) {
            fprintf(stderr, "meshcached: failed to listen on %s HTTP port %d: %s\n", h,
                    a->srv->settings.http_port, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int admin_open(struct server *srv, struct admin **out)
{
    struct admin *a;

    *out = NULL;
    if (srv->settings.http_port == 0)
        return 0;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -1;
    a->srv = srv;
    buf_init(&a->cmd_out);
    cmd_init(&a->cmd, srv, &a->cmd_stats, &a->cmd_out);
    if (srv->settings.http_token_file[0] != '\0' &&
        read_token(srv->settings.http_token_file, a->token) != 0)
        goto fail;
    a->base = event_base_new();
    a->http = a->base != NULL ? evhttp_new(a->base) : NULL;
    if (a->http == NULL)
        goto fail;
    evhttp_set_max_headers_size(a->http, MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(a->http,
                             (ev_ssize_t)srv->settings.item_size_max + BODY_SLACK);
    evhttp_set_timeout(a->http, CLIENT_TIMEOUT_S);
    evhttp_set_allowed_methods(a->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(a->http, route, a);
    if (admin_dash_open(a) != 0 || bind_all(a) != 0)
        goto fail;
    *out = a;
    return 0;

fail:
    admin_stop(a);
    return -1;
}

int admin_run(struct admin *a, bool forked)
{
    if (a == NULL)
        return 0;
    if ((forked && event_reinit(a->base) != 0) ||
        pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        fprintf(stderr, "meshcached: cannot start the HTTP admin thread\n");
        return -1;
    }
    a->started = true;
    return 0;
}

void admin_stop(struct admin *a)
{
    if (a == NULL)
        return;
    if (a->started) {
        event_base_loopbreak(a->base); /* thread-safe: evthread_use_pthreads() */
        pthread_join(a->thread, NULL);
    }
    mcconn_free(a->self);
    admin_dash_close(a); /* its streams' connections, before the server's */
    if (a->http != NULL)
        evhttp_free(a->http);
    if (a->base != NULL)
        event_base_free(a->base);
    cmd_reset(&a->cmd);
    buf_free(&a->cmd_out);
    free(a);
}
