/*
 * admin_cluster: /cluster/status, /cluster/distribution and
 * /nodes/{id}/stats. A member's numbers come from its own `stats`, asked
 * over a TCP connection to its client port (any node answers for any
 * member); this node's from its own command layer.
 */
#include "admin/admin_internal.h"
#include "base/tls.h"
#include "admin/admintext.h"
#include "base/mctime.h"
#include "base/util.h"
#include "cluster/cluster.h"
#include "cluster/ring.h"

#include <event2/http.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STATS_REPLY_MAX (1u << 20) /* a `stats` reply is a few kB */

struct stat_json {
    json_t *obj;
};

static void stat_to_json(void *arg, const char *name, size_t nname, const char *value,
                         size_t nvalue)
{
    struct stat_json *s = arg;
    json_t *v;
    uint64_t u;

    if (util_parse_u64(value, nvalue, &u) && u <= (uint64_t)INT64_MAX)
        v = json_integer((json_int_t)u);
    else
        v = json_stringn_nocheck(value, nvalue);
    if (v != NULL)
        json_object_setn_nocheck(s->obj, name, nname, v);
    json_decref(v);
}

json_t *admin_stats_json(const char *text, size_t len)
{
    struct stat_json s = {.obj = json_object()};

    if (s.obj != NULL)
        admintext_stats(text, len, stat_to_json, &s);
    return s.obj;
}

/* ---- a member's stats ---- */

struct remote_stats {
    struct mcconn *m;
    mcconn_done_fn done;
    void *arg;
};

static void remote_done(void *arg, int status, const char *reply, size_t len)
{
    struct remote_stats *r = arg;

    /* an error line instead of STATs is no answer either */
    if (status == 0 && (len < 5 || memcmp(reply, "STAT ", 5) != 0))
        status = -1;
    r->done(r->arg, status, reply, len);
    mcconn_free_later(r->m);
    free(r);
}

int admin_member_stats(struct admin *a, const struct cluster_member_info *m,
                       mcconn_done_fn done, void *arg)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    struct remote_stats *r;

    if (m->self) {
        const struct buf *b = admin_run_local(a, "stats");
        done(arg, 0, b->data, b->len);
        return 0;
    }
    /* another member's client port wants TLS (-Z) or a login (-Y), which
     * this plain connection cannot give: its stats are not shown */
    if (tls_enabled() || a->srv->auth != NULL)
        return -1;
    if (cluster_member_addr(a->srv->cluster, m->slot, &sa, &salen) != 0)
        return -1;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    r->done = done;
    r->arg = arg;
    r->m = mcconn_connect(a->base, (struct sockaddr *)&sa, salen, STATS_REPLY_MAX,
                          ADMIN_TIMEOUT_MS);
    if (r->m == NULL ||
        mcconn_send(r->m, "stats\r\n", 7, MCCONN_END, remote_done, r) != 0) {
        mcconn_free(r->m);
        free(r);
        return -1;
    }
    return 0;
}

/* The member whose id is id, or NULL. */
static const struct cluster_member_info *
find_member(const struct cluster_member_info *all, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].id, id) == 0)
            return &all[i];
    }
    return NULL;
}

/* ---- /cluster/status ---- */

void admin_cluster_status(struct admin *a, struct evhttp_request *req)
{
    const struct settings *s = &a->srv->settings;
    struct cluster_member_info *all = calloc(ADMIN_MAX_MEMBERS, sizeof(*all));
    json_t *members = json_array(), *root;
    uint64_t now = mctime_wall_ms();
    struct ring *r;
    size_t n;

    if (all == NULL || members == NULL) {
        free(all);
        json_decref(members);
        admin_error(req, 500, "out of memory");
        return;
    }
    n = admin_members(a, all);
    r = ring_acquire(cluster_ring_ref(a->srv->cluster));
    for (size_t i = 0; i < n; i++) {
        size_t idx;
        bool in_ring = all[i].id[0] != '\0' && ring_node_index(r, all[i].id, &idx) == 0;
        json_t *m =
            json_pack("{s:s,s:s,s:s,s:I,s:b,s:b,s:f}", "id", all[i].id, "state",
                      all[i].state, "address", all[i].addr, "incarnation",
                      (json_int_t)all[i].incarnation, "self", all[i].self, "in_ring",
                      in_ring, "ring_share", in_ring ? ring_share(r, idx) : 0.0);
        if (m == NULL)
            continue;
        if (all[i].heard_ms > 0) {
            json_object_set_new(m, "last_heard_ms",
                                json_integer((json_int_t)all[i].heard_ms));
            json_object_set_new(
                m, "last_heard_ago_ms",
                json_integer(
                    (json_int_t)(now > all[i].heard_ms ? now - all[i].heard_ms : 0)));
        } else {
            json_object_set_new(m, "last_heard_ms", json_null());
            json_object_set_new(m, "last_heard_ago_ms", json_null());
        }
        json_array_append_new(members, m);
    }
    root = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:o}", "self", s->node_id,
                     "ring_epoch", (json_int_t)ring_epoch(r), "vnodes",
                     (json_int_t)ring_vnodes(r), "replicas", (json_int_t)s->replicas,
                     "write_quorum", (json_int_t)s->write_quorum, "read_quorum",
                     (json_int_t)s->read_quorum, "gossip", s->gossip, "members", members);
    ring_release(r);
    free(all);
    admin_json(req, root != NULL ? 200 : 500, root);
}

/* ---- /nodes/{id}/stats ---- */

struct node_req {
    struct evhttp_request *req;
    char id[SETTINGS_MAX_ID_LEN + 1];
};

static void node_done(void *arg, int status, const char *reply, size_t len)
{
    struct node_req *nr = arg;

    if (status != 0)
        admin_error(nr->req, 504, "the member did not answer");
    else
        admin_json(nr->req, 200,
                   json_pack("{s:s,s:o}", "node", nr->id, "stats",
                             admin_stats_json(reply, len)));
    free(nr);
}

void admin_node_stats(struct admin *a, struct evhttp_request *req, const char *id_enc)
{
    struct cluster_member_info *all = calloc(ADMIN_MAX_MEMBERS, sizeof(*all));
    const struct cluster_member_info *m;
    struct node_req *nr = calloc(1, sizeof(*nr));
    long n;

    if (all == NULL || nr == NULL) {
        admin_error(req, 500, "out of memory");
        goto out;
    }
    n = (long)strlen(id_enc) < (long)sizeof(nr->id)
            ? admintext_pct_decode(id_enc, strlen(id_enc), nr->id)
            : -1;
    if (n <= 0) {
        admin_error(req, 400, "bad node id");
        goto out;
    }
    nr->id[n] = '\0';
    nr->req = req;
    m = find_member(all, admin_members(a, all), nr->id);
    if (m == NULL) {
        admin_error(req, 404, "no such member");
        goto out;
    }
    if (admin_member_stats(a, m, node_done, nr) != 0) {
        admin_error(req, 503, "cannot reach the member");
        goto out;
    }
    nr = NULL;
out:
    free(nr);
    free(all);
}

/* ---- /cluster/distribution ---- */

struct dist_node {
    char id[SETTINGS_MAX_ID_LEN + 1];
    double share;
    bool answered;
    uint64_t items, bytes;
};

struct dist_req {
    struct evhttp_request *req;
    size_t n, pending;
    struct dist_node *nodes;
};

static void dist_reply(struct dist_req *d)
{
    json_t *nodes = json_array(), *root;
    double items = 0, bytes = 0;
    size_t ok = 0;

    for (size_t i = 0; i < d->n; i++) {
        if (d->nodes[i].answered) {
            items += (double)d->nodes[i].items;
            bytes += (double)d->nodes[i].bytes;
            ok++;
        }
    }
    items = ok > 0 ? items / (double)ok : 0;
    bytes = ok > 0 ? bytes / (double)ok : 0;
    for (size_t i = 0; i < d->n && nodes != NULL; i++) {
        const struct dist_node *x = &d->nodes[i];
        json_t *o = json_pack(
            "{s:s,s:f,s:f,s:b}", "id", x->id, "ring_share", x->share, "share_deviation",
            d->n > 0 ? x->share * (double)d->n - 1.0 : 0.0, "answered", x->answered);
        if (o == NULL)
            continue;
        if (x->answered) {
            json_object_set_new(o, "items", json_integer((json_int_t)x->items));
            json_object_set_new(o, "bytes", json_integer((json_int_t)x->bytes));
            json_object_set_new(
                o, "items_deviation",
                json_real(items > 0 ? (double)x->items / items - 1.0 : 0));
            json_object_set_new(
                o, "bytes_deviation",
                json_real(bytes > 0 ? (double)x->bytes / bytes - 1.0 : 0));
        }
        json_array_append_new(nodes, o);
    }
    root = json_pack("{s:f,s:f,s:o}", "mean_items", items, "mean_bytes", bytes, "nodes",
                     nodes);
    admin_json(d->req, root != NULL ? 200 : 500, root);
    free(d->nodes);
    free(d);
}

struct dist_part {
    struct dist_req *d;
    size_t i;
};

static void dist_done(void *arg, int status, const char *reply, size_t len)
{
    struct dist_part *p = arg;
    struct dist_node *x = &p->d->nodes[p->i];

    x->answered = status == 0 &&
                  admintext_stat_u64(reply, len, "curr_items", &x->items) &&
                  admintext_stat_u64(reply, len, "bytes", &x->bytes);
    if (--p->d->pending == 0)
        dist_reply(p->d);
    free(p);
}

void admin_cluster_distribution(struct admin *a, struct evhttp_request *req)
{
    struct cluster_member_info *all = calloc(ADMIN_MAX_MEMBERS, sizeof(*all));
    struct dist_req *d = calloc(1, sizeof(*d));
    struct ring *r;
    size_t nm;

    if (all == NULL || d == NULL) {
        free(all);
        free(d);
        admin_error(req, 500, "out of memory");
        return;
    }
    nm = admin_members(a, all);
    r = ring_acquire(cluster_ring_ref(a->srv->cluster));
    d->req = req;
    d->nodes = calloc(ring_node_count(r), sizeof(*d->nodes));
    d->pending = 1; /* held until every member is asked */
    for (size_t i = 0; d->nodes != NULL && i < ring_node_count(r); i++) {
        const struct cluster_member_info *m = find_member(all, nm, ring_node(r, i)->id);
        struct dist_node *x = &d->nodes[d->n++];
        struct dist_part *p;
        snprintf(x->id, sizeof(x->id), "%s", ring_node(r, i)->id);
        x->share = ring_share(r, i);
        p = m != NULL ? calloc(1, sizeof(*p)) : NULL;
        if (p == NULL)
            continue;
        p->d = d;
        p->i = d->n - 1;
        d->pending++;
        if (admin_member_stats(a, m, dist_done, p) != 0) {
            d->pending--;
            free(p);
        }
    }
    ring_release(r);
    free(all);
    if (d->nodes == NULL) {
        free(d);
        admin_error(req, 500, "out of memory");
        return;
    }
    if (--d->pending == 0)
        dist_reply(d);
}
