/*
 * connreg: the process-wide list of listening sockets and client
 * connections behind `stats conns`.
 *
 * Threads: an entry is added and removed by the thread that owns it (the
 * listener's, a worker's), under one mutex; `state` and `last_cmd` are
 * atomics that the owner updates and connreg_dump() reads from any thread.
 * Entries are embedded in their owners, which must remove them before
 * freeing them.
 */
#ifndef MESHCACHED_CONNREG_H
#define MESHCACHED_CONNREG_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/mctime.h"

#define CONNREG_ADDR_MAX 72 /* "tcp:[v6 address]:65535" */

/* Laid out without holes: one is embedded in every client connection. */
struct connreg_entry {
    int fd;
    rel_time_t last_cmd; /* atomic: when the last command (or the accept) was */
    /* the peer of a client connection, kept because getpeername() fails
     * once the peer has reset it; the local addresses are asked of the
     * socket when printed (a connection is 144 bytes smaller for it) */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer;
    bool listening;    /* a listening socket */
    const char *state; /* atomic: memcached's name of the state, a literal */
    struct connreg_entry *prev, *next;
};

/* Fills e's peer address from its socket (getpeername) and adds it; state
 * starts as given. */
void connreg_add(struct connreg_entry *e, int fd, bool listening, const char *state);

/* Removes e (added before). */
void connreg_remove(struct connreg_entry *e);

static inline void connreg_set_state(struct connreg_entry *e, const char *state)
{
    __atomic_store_n(&e->state, state, __ATOMIC_RELAXED);
}

static inline void connreg_touch(struct connreg_entry *e, rel_time_t now)
{
    __atomic_store_n(&e->last_cmd, now, __ATOMIC_RELAXED);
}

/* Appends the `stats conns` lines of every entry, by fd: "STAT <fd>:addr",
 * ":listen_addr" (connections only), ":state", ":secs_since_last_cmd". */
void connreg_dump(struct buf *out, rel_time_t now);

/* Formats e's peer address as connreg_format_addr() does ("tcp:..."). */
void connreg_peer_name(const struct connreg_entry *e, char *dst);

/* Formats a socket address as "tcp:<addr>:<port>" ("tcp:[v6]:port"). */
void connreg_format_addr(const void *sockaddr, char *dst);

#endif
