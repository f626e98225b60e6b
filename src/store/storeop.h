/*
 * storeop: the read-modify-write operations the commands run on the store:
 * set, add, replace, append, prepend and cas (with meta's stale I and
 * explicit-CAS E variants), incr/decr (with meta's CAS compare, explicit CAS
 * and new TTL), and dropping a key. memcached keeps the same logic in
 * do_store_item()/do_add_delta() below its protocol code.
 *
 * Threads: any thread may call any function; each call passes its own
 * counters (struct storeop_env) and never touches another thread's.
 *
 * Locks: storeop_store_item(), storeop_add_delta() and storeop_drop_key()
 * take the key's shard lock themselves, so the caller must hold none. The
 * first two may need a new item (the joined value of an append or prepend, a
 * counter that grew a digit); allocating may evict, which takes shard locks,
 * so they drop the lock to allocate and then look at the key again, which
 * may have changed meanwhile. do_storeop_drop_key() expects the caller to
 * hold the key's shard lock and takes no other.
 *
 * Ownership: storeop_store_item() always consumes the item it is given: the
 * store owns it once stored, and it is freed otherwise. Either way the caller
 * must not touch it afterwards (another thread may replace and free it as
 * soon as the lock is dropped): copy its key first if it is still needed.
 *
 * Counters: the operations bump the CAS and incr/decr hit counters they
 * decide (cas_hits, cas_misses, cas_badval, incr_hits, decr_hits). cmd_set
 * and the incr/decr misses are the caller's to count: whether a miss counts
 * depends on the command (ma with N creates the key instead).
 */
#ifndef MESHCACHED_STOREOP_H
#define MESHCACHED_STOREOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mctime.h"
#include "store/item.h"
#include "store/store.h"

struct thread_stats;

/* What an operation needs besides its arguments: the caller's world. */
struct storeop_env {
    struct store *st;
    struct thread_stats *stats; /* the calling thread's own counters */
    bool use_cas;               /* false under -C: a CAS compare sees no CAS */
};

/* How a new value meets the one the key holds. */
enum storeop_op {
    STOREOP_SET,     /* store whatever the key holds */
    STOREOP_ADD,     /* only when the key holds nothing */
    STOREOP_REPLACE, /* only when the key holds a value */
    STOREOP_APPEND,  /* after the value held (which keeps its flags and expiry) */
    STOREOP_PREPEND, /* before the value held (same) */
    STOREOP_CAS,     /* only when the CAS held is the one the client compares */
};

struct storeop_req {
    enum storeop_op op;
    uint64_t req_cas; /* the CAS the client compares against; 0: none */
    bool set_stale;   /* meta I (cas only): an older req_cas stores the value,
                       * marked stale, instead of failing */
    bool keep_cas;    /* meta E: the item's cas holds an explicit CAS to keep */
};

enum storeop_result {
    STOREOP_STORED,
    STOREOP_NOT_STORED, /* add over a value, replace/append/prepend over none,
                         * or no memory for an append's joined value */
    STOREOP_EXISTS,     /* the CAS compared differs from the one held */
    STOREOP_NOT_FOUND,  /* cas on a key that holds nothing */
};

/*
 * Stores it (from store_alloc(), its value and "\r\n" written, its key, flags
 * and expiry set) with the semantics of req->op. Takes the key's shard lock.
 * A CAS compare (req->req_cas) also restricts append and prepend. Appending
 * or prepending copies both values into a new item that keeps the held
 * item's flags and expiry. Always consumes it. On STOREOP_STORED sets
 * *cas_out to the CAS of the stored item; otherwise leaves it alone.
 */
enum storeop_result storeop_store_item(const struct storeop_env *env, struct item *it,
                                       const struct storeop_req *req, uint64_t *cas_out);

/*
 * Unlinks the key's live item, if it has one (a failed set must not leave the
 * previous value readable). No tombstone: the key simply holds nothing.
 * storeop_drop_key() takes the key's shard lock; do_storeop_drop_key()
 * expects the caller to hold it (hv is store_hash() of the key).
 */
void storeop_drop_key(struct store *st, const char *key, size_t nkey);
void do_storeop_drop_key(struct store_shard *sh, const char *key, size_t nkey,
                         uint32_t hv);

enum storeop_delta_result {
    STOREOP_DELTA_OK,
    STOREOP_DELTA_NON_NUMERIC, /* the value is not a decimal number */
    STOREOP_DELTA_EOM,         /* no memory for a counter that grew */
    STOREOP_DELTA_NOT_FOUND,
    STOREOP_DELTA_CAS_MISMATCH, /* req_cas given and not the one held */
};

struct storeop_delta_req {
    bool incr;        /* false: decr */
    uint64_t delta;   /* incr wraps at 2^64; decr stops at 0 */
    uint64_t req_cas; /* 0: no compare */
    uint64_t new_cas; /* 0: a fresh CAS; else this one (meta E) */
    bool set_ttl;     /* meta T: set the expiry to ttl after the change */
    rel_time_t ttl;
};

struct storeop_delta_res {
    char value[24]; /* the new value in decimal, NUL-terminated */
    size_t len;
    uint64_t cas;           /* of the changed item */
    rel_time_t old_exptime; /* before set_ttl changed it */
};

/*
 * incr/decr: adds or subtracts req->delta to the key's value, a decimal
 * number as memcached parses it (leading spaces, digits, then at least
 * "\r\n"). A result that fits the value's length is written in place, padded
 * with spaces; a longer one goes into a new item that keeps the flags and
 * expiry. Takes the key's shard lock. res is meaningful only after
 * STOREOP_DELTA_OK.
 */
enum storeop_delta_result storeop_add_delta(const struct storeop_env *env,
                                            const char *key, size_t nkey,
                                            const struct storeop_delta_req *req,
                                            struct storeop_delta_res *res);

#endif
