/* metrics: one scrape, from counters, histograms and the member list. */
#include "admin/metrics.h"
#include "admin/promtext.h"
#include "base/server.h"
#include "cluster/cluster.h"
#include "cluster/ring.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAX_FAMILIES 512 /* `stats` families, for one page without duplicates */

static void latency(struct server *srv, struct buf *out)
{
    const struct lat_hist *all[256];
    struct lat_hist *sum = malloc(sizeof(*sum));
    int n = srv->nworkers < 256 ? srv->nworkers : 256;

    if (sum == NULL)
        return;
    for (int i = 0; i < n; i++)
        all[i] = &srv->thread_stats[i]->lat;
    lat_sum(all, n, sum);
    prom_latency(out, sum);
    free(sum);
}

static void members(struct server *srv, struct buf *out)
{
    static const char *const states[] = {"alive", "suspect", "dead", "left"};
    struct cluster_member_info *m;
    struct ring *r;
    size_t n;

    if (srv->cluster == NULL)
        return;
    m = calloc(256, sizeof(*m));
    if (m == NULL)
        return;
    n = cluster_members(srv->cluster, m, 256);
    prom_family(out, PROM_PREFIX "cluster_members", "gauge",
                "Members this node knows of, by state.");
    for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
        struct buf l;
        uint64_t count = 0;
        for (size_t i = 0; i < n; i++)
            count += strcmp(m[i].state, states[s]) == 0;
        buf_init(&l);
        prom_label(&l, true, "state", states[s]);
        buf_append(&l, "", 1);
        prom_sample_u64(out, PROM_PREFIX "cluster_members", l.data, count);
        buf_free(&l);
    }
    free(m);
    r = ring_acquire(cluster_ring_ref(srv->cluster));
    prom_family(out, PROM_PREFIX "ring_node_share_ratio", "gauge",
                "Each ring member's share of the hash space as first owner up.");
    for (size_t i = 0; i < ring_node_count(r); i++) {
        struct buf l;
        buf_init(&l);
        prom_label(&l, true, "node", ring_node(r, i)->id);
        buf_append(&l, "", 1);
        prom_sample(out, PROM_PREFIX "ring_node_share_ratio", l.data, ring_share(r, i));
        buf_free(&l);
    }
    ring_release(r);
}

void metrics_render(struct server *srv, const char *stats, size_t nstats, const char *cl,
                    size_t ncl, struct buf *out)
{
    char(*seen)[PROM_NAME_MAX] = calloc(MAX_FAMILIES, PROM_NAME_MAX);
    size_t n = 0;
    struct buf l;

    if (seen != NULL) {
        n = prom_stats(out, stats, nstats, seen, n, MAX_FAMILIES);
        prom_stats(out, cl, ncl, seen, n, MAX_FAMILIES);
        free(seen);
    }
    latency(srv, out);
    members(srv, out);
    prom_family(out, PROM_PREFIX "build_info", "gauge",
                "Always 1: the version of this meshcached in its label.");
    buf_init(&l);
    prom_label(&l, true, "version", PACKAGE_VERSION);
    buf_append(&l, "", 1);
    prom_sample_u64(out, PROM_PREFIX "build_info", l.data, 1);
    buf_free(&l);
}
