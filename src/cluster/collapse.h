/*
 * collapse: request collapsing. A worker's identical single-key gets that
 * are in flight to the same owner are sent once; every later one joins the
 * request in flight and gets the same answer (singleflight).
 *
 * What may join: a plain "get <key>" or "gets <key>" (the CAS is the
 * owner's, the same for every waiter) for the same owner, while the request
 * has fewer than COLLAPSE_MAX_WAITERS waiters and no write to the key has
 * been seen by this node since it was sent (the caller compares the key's
 * write generation, hot.h: hot_gen()). A full or outdated request leaves
 * the table, so the next get starts a new one.
 *
 * Threads: a struct collapse belongs to one worker (its proxy): no locks.
 * Entries are reused, so a warmed-up worker allocates nothing per get.
 */
#ifndef MESHCACHED_COLLAPSE_H
#define MESHCACHED_COLLAPSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COLLAPSE_MAX_WAITERS 64 /* waiters of one request, the first included */

struct fwdreq;
struct collapse;

/* One request in flight and its waiters; fields are read-only outside
 * collapse.c. */
struct collapse_entry {
    struct collapse_entry *next; /* bucket chain, or the spare list */
    struct collapse *tab;        /* the table while joinable, else NULL */
    uint32_t hash;               /* of the key */
    uint32_t owner;              /* the member it was sent to */
    uint64_t gen;                /* the key's write generation when sent */
    bool cas;                    /* gets rather than get */
    bool fill;                   /* its answer fills the near cache */
    void *arg;                   /* the caller's (its proxy) */
    unsigned nwaiters;
    struct fwdreq *waiters[COLLAPSE_MAX_WAITERS];
    uint8_t nkey;
    char key[256];
};

/* An empty table, or NULL when out of memory. */
struct collapse *collapse_new(void);

/* Frees the table and its spare entries; entries in flight must be gone
 * (collapse_release()d) already. NULL is a no-op. */
void collapse_free(struct collapse *c);

/* The joinable request in flight for this key, owner and kind, or NULL. */
struct collapse_entry *collapse_find(struct collapse *c, const char *key, size_t nkey,
                                     uint32_t hash, uint32_t owner, bool cas);

/* A new request for the key, in the table (it replaces nothing: the caller
 * found none joinable), with r its first waiter; NULL when out of memory. */
struct collapse_entry *collapse_start(struct collapse *c, const char *key, size_t nkey,
                                      uint32_t hash, uint32_t owner, bool cas,
                                      uint64_t gen, struct fwdreq *r);

/* Adds waiter r (the entry must come from collapse_find()); the entry
 * leaves the table when it is full. */
void collapse_join(struct collapse_entry *e, struct fwdreq *r);

/* Takes the entry out of the table: no get joins it any more. Idempotent. */
void collapse_close(struct collapse_entry *e);

/* After its answer went to every waiter: the entry (closed first) goes
 * back to c's spares. */
void collapse_release(struct collapse *c, struct collapse_entry *e);

/* Requests in flight in the table (joinable ones). */
size_t collapse_count(const struct collapse *c);

#endif
