/*
 * server: the process-wide state every part of the daemon can reach: the
 * settings, the store, the workers (for summing stats) and start time.
 *
 * Built by main() before any thread starts and torn down after they all
 * stop; read-only in between except for `verbose`, which the `verbosity`
 * command changes (atomically).
 */
#ifndef MESHCACHED_SERVER_H
#define MESHCACHED_SERVER_H

#include <time.h>

#include "base/settings.h"
#include "base/stats.h"

struct store;
struct worker;
struct cluster;

struct server {
    struct settings settings;
    struct store *store;
    struct cluster *cluster; /* membership and ring; NULL until main builds it */
    struct worker **workers;
    int nworkers;
    int nlisteners;        /* listening sockets (counted in curr_connections) */
    int verbose;           /* atomic; starts as settings.verbose */
    volatile int stopping; /* set by the signal path */
};

/* The thread stats of worker i (for `stats`). */
struct thread_stats *server_thread_stats(struct server *srv, int i);

#endif
