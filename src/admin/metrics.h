/*
 * metrics: the admin port's /metrics page in Prometheus' text format: every
 * field of `stats` and `stats cluster` (promtext.h names them), the
 * per-command latency histograms summed over the workers, the members by
 * state and each one's share of the ring, and meshcached_build_info.
 *
 * Reads the workers' counters with relaxed loads and the cluster through
 * its public API: any thread (the admin thread calls it).
 */
#ifndef MESHCACHED_METRICS_H
#define MESHCACHED_METRICS_H

#include <stddef.h>

#include "base/buf.h"

struct server;

/* Appends the page to out; stats[0..nstats) and cl[0..ncl) are this node's
 * `stats` and `stats cluster` replies (ncl may be 0). */
void metrics_render(struct server *srv, const char *stats, size_t nstats, const char *cl,
                    size_t ncl, struct buf *out);

#endif
