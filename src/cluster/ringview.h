/*
 * ringview: a worker's view of the current ring. Reading it costs one
 * atomic load while the ring is unchanged (a struct ring_cache); when the
 * ring changed, the members in it get a fresh connection attempt at once on
 * every peer set that watches the view, instead of waiting out a backoff
 * begun while they were down.
 *
 * Threads: embedded in one worker's state and used on that worker only.
 */
#ifndef MESHCACHED_RINGVIEW_H
#define MESHCACHED_RINGVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/ring.h"

#define RINGVIEW_MAX_SETS 2 /* forwarding and replication connections */

struct peer_set;

struct ringview {
    struct ring_ref *ref;                     /* where membership publishes rings */
    struct ring_cache rc;                     /* this worker's reference */
    uint64_t epoch;                           /* of the ring last returned */
    struct peer_set *sets[RINGVIEW_MAX_SETS]; /* backoffs reset on a change */
    size_t nsets;
};

void ringview_init(struct ringview *v, struct ring_ref *ref);

/* Releases the ring held. */
void ringview_fini(struct ringview *v);

/* Adds ps (up to RINGVIEW_MAX_SETS) to the sets whose backoffs a new ring
 * resets. Returns 0, or -ENOSPC. */
int ringview_watch(struct ringview *v, struct peer_set *ps);

/* The current ring, valid until the next call on this view. */
const struct ring *ringview_get(struct ringview *v);

#endif
