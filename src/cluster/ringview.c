/* ringview: a worker's cached ring, and backoffs reset when it changes. */
#include "cluster/ringview.h"
#include "cluster/peer.h"

#include <errno.h>

void ringview_init(struct ringview *v, struct ring_ref *ref)
{
    *v = (struct ringview){.ref = ref};
}

void ringview_fini(struct ringview *v)
{
    ring_cache_clear(&v->rc);
}

int ringview_watch(struct ringview *v, struct peer_set *ps)
{
    if (v->nsets == RINGVIEW_MAX_SETS)
        return -ENOSPC;
    v->sets[v->nsets++] = ps;
    return 0;
}

const struct ring *ringview_get(struct ringview *v)
{
    const struct ring *r = ring_cache_get(&v->rc, v->ref);

    if (ring_epoch(r) != v->epoch) {
        v->epoch = ring_epoch(r);
        for (size_t i = 0; i < ring_node_count(r); i++)
            for (size_t s = 0; s < v->nsets; s++)
                peer_reset_backoff(v->sets[s], ring_node(r, i)->tag);
    }
    return r;
}
