/*
 * pinger: static membership (--peers). A thread of its own pings every
 * other member once every PINGER_INTERVAL_MS over its own peer connections
 * ("mn"); a member's id is learned from its answer to our hello, so
 * --peers lists addresses, not ids. A member starts dead, becomes alive at
 * its first answered ping, and is dead again after PINGER_FAILURES pings
 * in a row fail.
 *
 * The pinger sits above the member view: it reports hellos and ping
 * results through cluster.h (cluster_member_hello(),
 * cluster_member_reachable()) and cluster never calls it. main starts it
 * when the settings list --peers, and frees it before the cluster.
 *
 * Threads: pinger_new() starts the thread; its event_base, peer
 * connections and failure counts belong to that thread alone.
 */
#ifndef MESHCACHED_PINGER_H
#define MESHCACHED_PINGER_H

#define PINGER_INTERVAL_MS 1000
#define PINGER_FAILURES    3

struct server;
struct cluster;
struct pinger;

/* Starts pinging the members of cl (after any fork), the first round at
 * once. Returns 0, or -1 (nothing left running). */
int pinger_new(struct server *srv, struct cluster *cl, struct pinger **out);

/* Stops the thread, fails what is outstanding, closes the connections and
 * frees the pinger. NULL is a no-op. */
void pinger_free(struct pinger *p);

#endif
