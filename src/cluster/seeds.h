/*
 * seeds: the --join entries as the addresses to join through.
 *
 * A --join host may be a name with several addresses (a Kubernetes
 * headless Service has one per pod; a DNS round robin one per member), and
 * the addresses change while pods come and go. Joining through the first
 * address alone would find one member, perhaps this node itself. So every
 * entry is resolved to all its addresses, and gossip resolves again while
 * the node knows no other member.
 *
 * Threads: any; no locks, no state. seeds_expand() blocks for as long as
 * the resolver takes (the hosts file at once, DNS up to its timeouts).
 */
#ifndef MESHCACHED_SEEDS_H
#define MESHCACHED_SEEDS_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/gmsg.h"

/* The most addresses kept from all entries together. */
#define SEEDS_MAX 64

typedef char seeds_addr[GMSG_MAX_ADDR + 1];

/*
 * Resolves each entry of names[0..n), "host:port" or "[addr]:port", to
 * every address of host (IPv4 and IPv6, numerically, as "addr:port" or
 * "[addr]:port"), each once, into out[0..cap). An entry that does not
 * resolve is kept as written (the transport resolves it when it dials).
 * Returns how many addresses were written.
 */
size_t seeds_expand(const char *const *names, size_t n, seeds_addr *out, size_t cap);

/* Whether the entry's host is written as an IP address (nothing to
 * resolve). */
bool seeds_numeric(const char *name);

#endif
