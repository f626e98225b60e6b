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

#include <stddef.h>
#include <time.h>

#include "base/settings.h"
#include "base/stats.h"

struct buf;
struct store;
struct worker;
struct cluster;
struct hot;
struct logger;
struct prefix_stats;
struct authfile;

struct server {
    struct settings settings;
    struct store *store;
    struct cluster *cluster; /* membership and ring; NULL until main builds it */
    struct hot *hot;         /* hot keys, near cache (cluster/hot.h); NULL alone */
    struct worker **workers;
    int nworkers;
    int uring_workers;      /* atomic: workers whose replies go out by io_uring */
    int uring_loop_workers; /* atomic: workers that wait in their ring */
    /* each worker's counters, filled in by worker_start_all() before any
     * connection is served; for `stats` (summed with relaxed loads) */
    struct thread_stats **thread_stats;
    /* appends the `stats cluster` lines of membership and the ring; set by
     * whoever builds the cluster, before any connection is served */
    void (*cluster_stats)(void *arg, struct buf *out);
    void *cluster_stats_arg;
    /* appends the `stats hotkeys` lines (cluster/hot.h); set like
     * cluster_stats */
    void (*hotkeys_stats)(void *arg, struct buf *out);
    void *hotkeys_stats_arg;
    /* near caching (cluster/hot.h), set by main: a peer's rh (it keeps a
     * near copy of the key), a peer's ri (a write: drop the near copy) and
     * flush_all (key NULL: drop them all) */
    void (*near_mark)(void *arg, const char *key, size_t nkey);
    void (*near_drop)(void *arg, const char *key, size_t nkey);
    void *near_arg;
    /* with --cluster-key: the key that proves a peer (proto/peerauth.h),
     * derived from it before any connection is served */
    bool peer_key_set;
    unsigned char peer_key[32];
    /* with -Y: the users of ASCII authentication; NULL: no authentication */
    struct authfile *auth;
    int nlisteners;        /* listening sockets (counted in curr_connections) */
    int verbose;           /* atomic; starts as settings.verbose */
    volatile int stopping; /* set by the signal path */
    /* operator commands' state, built by main() */
    struct logger *logger;       /* watch */
    struct prefix_stats *prefix; /* stats detail */
    int lru_crawler;             /* atomic: 1 after lru_crawler enable, 0 after disable */
    uint32_t lru_crawler_sleep;  /* atomic: lru_crawler sleep, reported only */
    uint32_t lru_crawler_tocrawl; /* atomic: lru_crawler tocrawl, reported only */
    uint64_t lru_crawler_starts;  /* atomic: crawls and dumps started */
    /* atomic: reply bytes waiting in the buffers of connections whose
     * clients read slower than they ask (net/conn.c counts a connection's
     * whole backlog once it passes its high-water mark); the gets of all of
     * them together build at most one get's bound (cmd_text.c) */
    uint64_t reply_backlog;
};

#endif
