/*
 * admin_dash: what the dashboard reads besides the JSON API: its files
 * (GET /, /assets/...), the last hour sampled once a second (GET
 * /history) and the anti-entropy counts its event stream shows.
 */
#include "admin/admin_internal.h"
#include "admin/admintext.h"
#include "admin/assets.h"
#include "admin/history.h"
#include "admin/sse.h"
#include "base/mctime.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A stat of `stats` or `stats cluster`, 0 when missing. */
static uint64_t stat_of(const struct buf *text, const char *name)
{
    uint64_t v = 0;

    return admintext_stat_u64(text->data, text->len, name, &v) ? v : 0;
}

/* Reads what /metrics reads: this node's `stats`, `stats cluster` and the
 * workers' latency histograms (every command, local and forwarded). */
static void read_input(struct admin *a, struct history_input *in, uint64_t *ae,
                       uint64_t *handoff)
{
    const struct lat_hist *all[256];
    struct lat_hist *sum = malloc(sizeof(*sum));
    int n = a->srv->nworkers < 256 ? a->srv->nworkers : 256;
    const struct buf *t;

    memset(in, 0, sizeof(*in));
    t = admin_run_local(a, "stats");
    in->hits = stat_of(t, "get_hits");
    in->misses = stat_of(t, "get_misses");
    in->evictions = stat_of(t, "evictions");
    in->mem_used = stat_of(t, "memory_used");
    in->mem_limit = stat_of(t, "limit_maxbytes");
    in->items = stat_of(t, "curr_items");
    in->connections = stat_of(t, "curr_connections");
    in->repaired = stat_of(t, "read_repairs");
    t = admin_run_local(a, "stats cluster");
    *ae = stat_of(t, "ae_received");
    *handoff = stat_of(t, "handoff_received");
    in->repaired += *ae + *handoff;
    if (sum == NULL)
        return;
    for (int i = 0; i < n; i++)
        all[i] = &a->srv->thread_stats[i]->lat;
    lat_sum(all, n, sum);
    for (int c = 0; c < LAT_NCMD; c++)
        for (int p = 0; p < LAT_NPATH; p++)
            for (unsigned b = 0; b <= LAT_BUCKETS; b++)
                in->lat[b] += sum->cell[c][p].count[b];
    free(sum);
}

/* Once a second: a sample, and the keys anti-entropy and handoff brought
 * in since the last one as events. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    struct history_input in;
    uint64_t ae, handoff;

    (void)fd;
    (void)what;
    read_input(a, &in, &ae, &handoff);
    history_add(a->hist, &in, (int64_t)mctime_mono_ms(), (int64_t)mctime_wall_ms());
    if (a->hist->n > 0 && (ae > a->ae_seen || handoff > a->handoff_seen))
        sse_emit(
            a->events, "antientropy",
            json_pack(
                "{s:I,s:I}", "received",
                (json_int_t)(ae > a->ae_seen ? ae - a->ae_seen : 0), "handoff_received",
                (json_int_t)(handoff > a->handoff_seen ? handoff - a->handoff_seen : 0)));
    a->ae_seen = ae;
    a->handoff_seen = handoff;
}

int admin_dash_open(struct admin *a)
{
    struct timeval one = {.tv_sec = 1};

    a->hist = malloc(sizeof(*a->hist));
    if (a->hist == NULL)
        return -1;
    history_init(a->hist);
    a->events = sse_new(a->base, a->srv->logger, a->srv->settings.node_id);
    a->tick = event_new(a->base, -1, EV_PERSIST, on_tick, a);
    if (a->events == NULL || a->tick == NULL || event_add(a->tick, &one) != 0)
        return -1;
    return 0;
}

void admin_dash_close(struct admin *a)
{
    sse_free(a->events);
    a->events = NULL;
    if (a->tick != NULL)
        event_free(a->tick);
    a->tick = NULL;
    free(a->hist);
    a->hist = NULL;
}

/* ---- GET /history ---- */

static json_t *number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

void admin_history(struct admin *a, struct evhttp_request *req)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq kv = {0};
    const char *since_s;
    double since = -1;
    size_t first, n;
    json_t *o, *t, *ops, *hit, *p50, *p99, *ev, *rep, *mem, *items, *conns;

    if (q != NULL && evhttp_parse_query_str(q, &kv) != 0) {
        admin_error(req, 400, "bad query string");
        return;
    }
    since_s = evhttp_find_header(&kv, "since");
    if (since_s != NULL) {
        char *end;
        since = strtod(since_s, &end);
        if (*since_s == '\0' || *end != '\0' || !isfinite(since)) {
            evhttp_clear_headers(&kv);
            admin_error(req, 400, "since: seconds since the epoch");
            return;
        }
    }
    evhttp_clear_headers(&kv);
    n = history_since(a->hist, since < 0 ? INT64_MIN : (int64_t)(since * 1000.0), &first);
    o = json_pack("{s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "interval_s", 1,
                  "capacity", HISTORY_LEN, "t", json_array(), "ops_per_sec", json_array(),
                  "hit_ratio", json_array(), "p50_us", json_array(), "p99_us",
                  json_array(), "evictions_per_sec", json_array(), "repaired_per_sec",
                  json_array(), "memory_bytes", json_array(), "items", json_array(),
                  "connections", json_array());
    if (o == NULL) {
        admin_error(req, 500, "out of memory");
        return;
    }
    t = json_object_get(o, "t");
    ops = json_object_get(o, "ops_per_sec");
    hit = json_object_get(o, "hit_ratio");
    p50 = json_object_get(o, "p50_us");
    p99 = json_object_get(o, "p99_us");
    ev = json_object_get(o, "evictions_per_sec");
    rep = json_object_get(o, "repaired_per_sec");
    mem = json_object_get(o, "memory_bytes");
    items = json_object_get(o, "items");
    conns = json_object_get(o, "connections");
    for (size_t i = 0; i < n; i++) {
        const struct history_sample *s = history_at(a->hist, first + i);
        json_array_append_new(t, json_real((double)s->t_ms / 1000.0));
        json_array_append_new(ops, number(s->ops));
        json_array_append_new(hit, number(s->hit_ratio));
        json_array_append_new(p50, number(s->p50_us));
        json_array_append_new(p99, number(s->p99_us));
        json_array_append_new(ev, number(s->evictions));
        json_array_append_new(rep, number(s->repaired));
        json_array_append_new(mem, json_integer((json_int_t)s->mem_used));
        json_array_append_new(items, json_integer((json_int_t)s->items));
        json_array_append_new(conns, json_integer((json_int_t)s->connections));
    }
    if (n > 0)
        json_object_set_new(
            o, "memory_limit_bytes",
            json_integer((json_int_t)history_at(a->hist, first + n - 1)->mem_limit));
    admin_json(req, 200, o);
}

/* ---- GET / and /assets/... ---- */

bool admin_asset(struct evhttp_request *req, const char *path)
{
    const struct admin_asset *as = admin_asset_find(path);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *inm;

    if (as == NULL)
        return false;
    /* the page loads nothing from elsewhere, and nothing may frame it */
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                      "base-uri 'none'; frame-ancestors 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "ETag", as->etag);
    inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (inm != NULL && strcmp(inm, as->etag) == 0) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return true;
    }
    admin_reply(req, 200, as->type, as->data, as->len);
    return true;
}
