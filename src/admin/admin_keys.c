/*
 * admin_keys: GET /keys?prefix=&limit=&cursor=, the cluster's keys page by
 * page. The listing walks the ring's members in ring order and each one's
 * store shard by shard (`lru_crawler metadump shard <n>`, one shard per
 * round trip, over the internal connection for this node and over a TCP
 * connection to the client port for the others), so neither a worker nor a
 * shard lock is held for long. A member lists only the keys it is the
 * first live owner of: each key appears once however many copies it has.
 *
 * The cursor is "<epoch>-<member>-<shard>-<key>": the ring it started on,
 * the member's position among the ring's members sorted by id (every node
 * numbers its ring differently: it is first in its own), the shard, and the last key
 * earlier pages returned of that shard, in hex (empty: none yet). A shard's keys are
 * listed in byte order, so a page goes on after that key whatever the
 * store did to its table meanwhile (it grows, items move). A listing that
 * spans a ring change goes on with the new ring: it may then repeat or
 * miss keys that moved.
 */
#include "admin/admin_internal.h"
#include "admin/admintext.h"
#include "cluster/cluster.h"
#include "cluster/ring.h"
#include "store/store.h"

#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEYS_LIMIT_DEFAULT 100
#define KEYS_LIMIT_MAX     1000
#define KEYS_SHARDS_BUDGET 256 /* shards one page may walk before it answers */
#define DUMP_REPLY_MAX     (64u << 20)

struct keys_req {
    struct admin *a;
    struct evhttp_request *req;
    struct ring *ring; /* held for the whole page */
    char prefix[KEY_MAX_LENGTH + 1];
    size_t nprefix;
    size_t limit;
    size_t *order;              /* the ring's node indices, sorted by id */
    size_t node, shard;         /* where the page goes on: order[node], shard */
    char after[KEY_MAX_LENGTH]; /* in that shard, after this key */
    size_t nafter;              /* 0: from the shard's first key */
    unsigned budget;
    struct mcconn *remote; /* to ring node `node` when it is another member */
    json_t *keys;
};

static void keys_free(struct keys_req *k)
{
    if (k->remote != NULL)
        mcconn_free_later(k->remote);
    ring_release(k->ring);
    free(k->order);
    json_decref(k->keys);
    free(k);
}

static void keys_reply(struct keys_req *k, bool more)
{
    char cursor[64 + 2 * KEY_MAX_LENGTH];
    size_t n;
    json_t *root;

    n = (size_t)snprintf(cursor, sizeof(cursor), "%" PRIu64 "-%zu-%zu-",
                         ring_epoch(k->ring), k->node, k->shard);
    for (size_t i = 0; i < k->nafter; i++)
        n += (size_t)snprintf(cursor + n, sizeof(cursor) - n, "%02x",
                              (unsigned char)k->after[i]);
    root = json_pack("{s:O,s:I,s:o}", "keys", k->keys, "ring_epoch",
                     (json_int_t)ring_epoch(k->ring), "next_cursor",
                     more ? json_string(cursor) : json_null());
    admin_json(k->req, root != NULL ? 200 : 500, root);
    keys_free(k);
}

static void keys_fail(struct keys_req *k, int code, const char *msg)
{
    admin_error(k->req, code, msg);
    keys_free(k);
}

/* The next member: from its first shard. */
static void next_node(struct keys_req *k)
{
    k->node++;
    k->shard = 0;
    k->nafter = 0;
    if (k->remote != NULL)
        mcconn_free_later(k->remote);
    k->remote = NULL;
}

static json_t *key_json(struct keys_req *k, const struct admintext_meta *m,
                        const size_t *owners, size_t nowners, time_t now)
{
    json_t *o = json_object(), *own = json_array();

    if (o == NULL || own == NULL) {
        json_decref(o);
        json_decref(own);
        return NULL;
    }
    admin_json_key(o, m->key, m->nkey);
    for (size_t i = 0; i < nowners; i++)
        json_array_append_new(own, json_string(ring_node(k->ring, owners[i])->id));
    json_object_set_new(o, "size", json_integer((json_int_t)m->size));
    json_object_set_new(o, "ttl",
                        json_integer(m->exp < 0     ? -1
                                     : m->exp > now ? (json_int_t)(m->exp - now)
                                                    : 0));
    json_object_set_new(o, "version", json_integer((json_int_t)m->cas));
    json_object_set_new(o, "owners", own);
    return o;
}

static void keys_step(struct keys_req *k);

static int key_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);

    return c != 0 ? c : (na > nb) - (na < nb);
}

static int meta_cmp(const void *x, const void *y)
{
    const struct admintext_meta *a = x, *b = y;

    return key_cmp(a->key, a->nkey, b->key, b->nkey);
}

/* The keys of a metadump reply that this page lists: of the prefix, first
 * owned by the page's member, after the cursor's key; sorted. Returns how
 * many (in *out, to free), or -1 when out of memory. */
static long shard_keys(struct keys_req *k, const char *reply, size_t len,
                       struct admintext_meta **out)
{
    struct admintext_meta *all = NULL;
    size_t n = 0, cap = 0, pos = 0;

    while (pos < len) {
        const char *line = reply + pos, *nl = memchr(line, '\n', len - pos);
        size_t ln = nl != NULL ? (size_t)(nl - line) : len - pos;
        size_t owners[RING_MAX_HANDOFF], nowners = 0;
        struct admintext_meta m;

        pos += ln + 1;
        if (ln > 0 && line[ln - 1] == '\r')
            ln--;
        if (!admintext_metadump(line, ln, &m) || m.nkey < k->nprefix ||
            memcmp(m.key, k->prefix, k->nprefix) != 0 ||
            (k->nafter > 0 && key_cmp(m.key, m.nkey, k->after, k->nafter) <= 0))
            continue;
        if (ring_owners(k->ring, ring_hash(m.key, m.nkey), k->a->srv->settings.replicas,
                        owners, &nowners) != 0 ||
            nowners == 0 || owners[0] != k->order[k->node])
            continue; /* listed by its first owner */
        if (n == cap) {
            struct admintext_meta *bigger;
            cap = cap > 0 ? 2 * cap : 64;
            bigger = realloc(all, cap * sizeof(*all));
            if (bigger == NULL) {
                free(all);
                return -1;
            }
            all = bigger;
        }
        all[n++] = m;
    }
    if (n > 1)
        qsort(all, n, sizeof(*all), meta_cmp);
    *out = all;
    return (long)n;
}

/* One shard's metadump: adds the keys this member lists, in key order,
 * after the cursor's; stops the page at the limit. */
static void shard_done(void *arg, int status, const char *reply, size_t len)
{
    struct keys_req *k = arg;
    struct admintext_meta *keys = NULL;
    time_t now = time(NULL);
    long n;

    /* a listing ends in END; an error line (-X: "ERROR metadump not
     * allowed") ends the reply instead */
    if (status != 0 || len < 5 || memcmp(reply + len - 5, "END\r\n", 5) != 0) {
        keys_fail(k, 502, "a member did not list its keys");
        return;
    }
    n = shard_keys(k, reply, len, &keys);
    if (n < 0) {
        keys_fail(k, 500, "out of memory");
        return;
    }
    for (long i = 0; i < n; i++) {
        size_t owners[RING_MAX_HANDOFF], nowners = 0;
        json_t *o;
        if (json_array_size(k->keys) == k->limit) {
            free(keys);
            keys_reply(k, true); /* goes on after the last key listed */
            return;
        }
        ring_owners(k->ring, ring_hash(keys[i].key, keys[i].nkey),
                    k->a->srv->settings.replicas, owners, &nowners);
        o = key_json(k, &keys[i], owners, nowners, now);
        if (o != NULL)
            json_array_append_new(k->keys, o);
        memcpy(k->after, keys[i].key, keys[i].nkey);
        k->nafter = keys[i].nkey;
    }
    free(keys);
    k->nafter = 0;
    if (++k->shard == STORE_SHARDS)
        next_node(k);
    keys_step(k);
}

static void keys_step(struct keys_req *k)
{
    struct cluster_member_info *all, *m = NULL;
    char line[64];
    struct mcconn *c;
    size_t count = ring_node_count(k->ring);

    while (k->node < count && ring_node(k->ring, k->order[k->node])->down)
        next_node(k);
    if (k->node >= count) {
        keys_reply(k, false);
        return;
    }
    if (json_array_size(k->keys) == k->limit || k->budget-- == 0) {
        keys_reply(k, true);
        return;
    }
    if (k->remote == NULL) {
        all = calloc(ADMIN_MAX_MEMBERS, sizeof(*all));
        if (all == NULL) {
            keys_fail(k, 500, "out of memory");
            return;
        }
        for (size_t i = 0, n = admin_members(k->a, all); i < n; i++) {
            if (strcmp(all[i].id, ring_node(k->ring, k->order[k->node])->id) == 0)
                m = &all[i];
        }
        if (m != NULL && !m->self) {
            struct sockaddr_storage sa;
            socklen_t salen;
            if (cluster_member_addr(k->a->srv->cluster, m->slot, &sa, &salen) == 0)
                k->remote = mcconn_connect(k->a->base, (struct sockaddr *)&sa, salen,
                                           DUMP_REPLY_MAX, ADMIN_TIMEOUT_MS);
        }
        c = m != NULL && m->self ? admin_self(k->a) : k->remote;
        free(all);
    } else {
        c = k->remote;
    }
    snprintf(line, sizeof(line), "lru_crawler metadump shard %zu\r\n", k->shard);
    if (c == NULL || mcconn_send(c, line, strlen(line), MCCONN_END, shard_done, k) != 0)
        keys_fail(k, 502, "cannot reach a member to list its keys");
}

static int id_cmp(const void *x, const void *y, void *arg)
{
    const struct ring *r = arg;

    return strcmp(ring_node(r, *(const size_t *)x)->id,
                  ring_node(r, *(const size_t *)y)->id);
}

/* Parses "<epoch>-<node>-<shard>-<hex key>"; false for anything else. */
static bool parse_cursor(const char *s, struct keys_req *k)
{
    unsigned long long epoch;
    size_t node, shard, nhex;
    int end = 0;
    const char *hex;

    if (sscanf(s, "%llu-%zu-%zu-%n", &epoch, &node, &shard, &end) != 3 || end == 0 ||
        shard >= STORE_SHARDS || node > RING_MAX_NODES)
        return false;
    hex = s + end;
    nhex = strlen(hex);
    if (nhex % 2 != 0 || nhex > 2 * KEY_MAX_LENGTH)
        return false;
    for (size_t i = 0; i < nhex / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
            !strchr("0123456789abcdef", hex[2 * i]) ||
            !strchr("0123456789abcdef", hex[2 * i + 1]))
            return false;
        k->after[i] = (char)v;
    }
    k->node = node;
    k->shard = shard;
    k->nafter = nhex / 2;
    return true;
}

void admin_keys(struct admin *a, struct evhttp_request *req)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct keys_req *k = calloc(1, sizeof(*k));
    struct evkeyvalq params;
    const char *v;
    bool ok = true;

    if (k == NULL || (k->keys = json_array()) == NULL) {
        free(k);
        admin_error(req, 500, "out of memory");
        return;
    }
    k->a = a;
    k->req = req;
    k->limit = KEYS_LIMIT_DEFAULT;
    k->budget = KEYS_SHARDS_BUDGET;
    k->ring = ring_acquire(cluster_ring_ref(a->srv->cluster));
    k->order = malloc(ring_node_count(k->ring) * sizeof(*k->order));
    if (k->order == NULL) {
        keys_fail(k, 500, "out of memory");
        return;
    }
    for (size_t i = 0; i < ring_node_count(k->ring); i++)
        k->order[i] = i;
    qsort_r(k->order, ring_node_count(k->ring), sizeof(*k->order), id_cmp, k->ring);
    TAILQ_INIT(&params);
    if (q != NULL && evhttp_parse_query_str(q, &params) != 0)
        ok = false;
    if (ok && (v = evhttp_find_header(&params, "prefix")) != NULL) {
        k->nprefix = strlen(v);
        ok = k->nprefix <= KEY_MAX_LENGTH;
        if (ok)
            memcpy(k->prefix, v, k->nprefix);
    }
    if (ok && (v = evhttp_find_header(&params, "limit")) != NULL) {
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        ok = *v >= '0' && *v <= '9' && *end == '\0' && n >= 1 && n <= KEYS_LIMIT_MAX;
        k->limit = n;
    }
    if (ok && (v = evhttp_find_header(&params, "cursor")) != NULL && v[0] != '\0')
        ok = parse_cursor(v, k);
    evhttp_clear_headers(&params);
    if (!ok) {
        keys_fail(k, 400, "bad prefix, limit (1..1000) or cursor");
        return;
    }
    keys_step(k);
}
