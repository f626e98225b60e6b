/*
 * storeop: set/add/replace/append/prepend/cas and incr/decr on the store.
 * Each runs as passes under the key's shard lock; a pass that needs a new
 * item says so, and the locked wrapper allocates it unlocked and runs again.
 */
#include "store/storeop.h"
#include "base/stats.h"
#include "base/util.h"

#include <string.h>

/* Allocations before giving up: a key rewritten faster than we can allocate
 * for it answers NOT_STORED / out of memory rather than spinning. */
#define STOREOP_MAX_ALLOCS 8

/* An item a pass needs but may not allocate under the shard lock
 * (allocating may evict, which takes shard locks). */
struct storeop_need {
    uint32_t nbytes; /* 0: the pass is final */
    uint32_t flags;
    rel_time_t exptime;
};

/*
 * Between a pass that asks for an item and the next one, the wrapper
 * allocates with no lock held. That allocation uses store_alloc_keep(): it
 * may evict anything but the item being appended to or counted (often the
 * oldest), which the next pass needs; a lost item would turn the command
 * into NOT_STORED / NOT_FOUND and lose the value.
 */

/* dst's value = first's value without its "\r\n", then second's. */
static void copy_joined(struct item *dst, struct item *first, struct item *second)
{
    size_t n1 = first->nbytes - 2;

    memcpy(item_value(dst), item_value(first), n1);
    memcpy(item_value(dst) + n1, item_value(second), second->nbytes);
}

/*
 * One pass of storeop_store_item() under sh's lock. *itp is the item to
 * store and *joinedp an item allocated by an earlier pass for the joined
 * value of an append or prepend (or NULL). Whatever it links it takes from
 * *itp and *joinedp (setting them to NULL); what is left there is the
 * caller's to free. When need->nbytes is set on return, the pass is not
 * final: allocate that item into *joinedp and pass again.
 */
static enum storeop_result
do_storeop_store_pass(struct store_shard *sh, const struct storeop_env *env,
                      const struct storeop_req *req, uint32_t hv, struct item **itp,
                      struct item **joinedp, struct storeop_need *need, uint64_t *cas_out)
{
    struct item *it = *itp, *joined = *joinedp;
    struct item *old = do_store_find(sh, item_key(it), it->nkey, hv, NULL);
    enum storeop_result res = STOREOP_NOT_STORED;
    bool store = false;

    if (old != NULL) {
        uint64_t want = env->use_cas ? req->req_cas : 0;
        uint64_t have = env->use_cas ? old->cas : 0;
        enum { CAS_NONE, CAS_MATCH, CAS_STALE, CAS_BADVAL } cr;
        cr = want == 0                       ? CAS_NONE
             : want == have                  ? CAS_MATCH
             : req->set_stale && want < have ? CAS_STALE
                                             : CAS_BADVAL;
        switch (req->op) {
        case STOREOP_ADD:
            /* add never replaces, but counts as a use of the old item */
            do_store_bump(sh, old);
            break;
        case STOREOP_CAS:
            if (cr == CAS_MATCH) {
                STATS_INCR(env->stats, cas_hits);
                store = true;
            } else if (cr == CAS_STALE) {
                /* meta I: an older writer may still store, marked stale */
                it->exptime = old->exptime;
                it->iflags |= ITEM_STALE | (old->iflags & ITEM_TOKEN);
                STATS_INCR(env->stats, cas_hits);
                store = true;
            } else {
                STATS_INCR(env->stats, cas_badval);
                res = STOREOP_EXISTS;
            }
            break;
        case STOREOP_APPEND:
        case STOREOP_PREPEND:
            if (cr != CAS_NONE && cr != CAS_MATCH) {
                res = STOREOP_EXISTS;
                break;
            }
            if (joined == NULL || joined->nbytes != old->nbytes + it->nbytes - 2) {
                /* first pass, or old changed size while we allocated */
                need->nbytes = old->nbytes + it->nbytes - 2;
                need->flags = old->flags;
                need->exptime = old->exptime;
                return res;
            }
            joined->flags = old->flags;
            joined->exptime = old->exptime;
            joined->iflags |= old->iflags & ITEM_KEY_BINARY;
            if (req->op == STOREOP_APPEND)
                copy_joined(joined, old, it);
            else
                copy_joined(joined, it, old);
            store_release(env->st, it);
            *itp = it = joined;
            *joinedp = NULL;
            store = true;
            break;
        case STOREOP_REPLACE:
        case STOREOP_SET:
            store = true;
            break;
        }
    } else {
        switch (req->op) {
        case STOREOP_ADD:
        case STOREOP_SET:
            store = true;
            break;
        case STOREOP_CAS:
            STATS_INCR(env->stats, cas_misses);
            res = STOREOP_NOT_FOUND;
            break;
        default:
            break;
        }
    }
    if (store) {
        if (req->keep_cas) {
            store_observe_version(env->st, it->cas);
            it = do_store_link_cas(sh, it, old);
        } else {
            it = do_store_link(sh, it, old);
        }
        *cas_out = it->cas;
        *itp = NULL; /* the store's now */
        res = STOREOP_STORED;
    }
    return res;
}

enum storeop_result storeop_store_item(const struct storeop_env *env, struct item *it,
                                       const struct storeop_req *req, uint64_t *cas_out)
{
    struct item *joined = NULL;
    uint32_t hv = store_staged_hash(it);

    for (int pass = 0;; pass++) {
        struct storeop_need need = {0};
        struct store_shard *sh = store_lock(env->st, hv);
        enum storeop_result res =
            do_storeop_store_pass(sh, env, req, hv, &it, &joined, &need, cas_out);
        enum store_alloc_err err;

        store_unlock(sh);
        if (need.nbytes == 0) {
            store_release(env->st, it);
            store_release(env->st, joined);
            return res;
        }
        store_release(env->st, joined);
        joined = pass < STOREOP_MAX_ALLOCS
                     ? store_alloc_keep(env->st, item_key(it), it->nkey, hv, need.flags,
                                        need.exptime, need.nbytes, &err)
                     : NULL;
        if (joined == NULL) {
            store_release(env->st, it);
            return STOREOP_NOT_STORED;
        }
    }
}

void do_storeop_drop_key(struct store_shard *sh, const char *key, size_t nkey,
                         uint32_t hv)
{
    struct item *it = do_store_find(sh, key, nkey, hv, NULL);

    if (it != NULL)
        do_store_unlink(sh, it);
}

void storeop_drop_key(struct store *st, const char *key, size_t nkey)
{
    uint32_t hv = store_hash(key, nkey);
    struct store_shard *sh = store_lock(st, hv);

    do_storeop_drop_key(sh, key, nkey, hv);
    store_unlock(sh);
}

/*
 * One pass of storeop_add_delta() under sh's lock. *freshp is an item an
 * earlier pass asked for (or NULL); the pass takes it (setting *freshp to
 * NULL) when it links it, and what is left there is the caller's to free.
 * When need->nbytes is set on return, the pass is not final: allocate that
 * item into *freshp and pass again.
 */
static enum storeop_delta_result
do_storeop_delta_pass(struct store_shard *sh, const struct storeop_env *env,
                      const char *key, size_t nkey, uint32_t hv,
                      const struct storeop_delta_req *req, struct storeop_delta_res *res,
                      struct item **freshp, struct storeop_need *need)
{
    struct item *it = do_store_find(sh, key, nkey, hv, NULL);
    struct item *fresh = *freshp;
    uint64_t value;

    if (it == NULL)
        return STOREOP_DELTA_NOT_FOUND;
    if (it->nbytes <= 2)
        return STOREOP_DELTA_NON_NUMERIC;
    if (req->req_cas != 0 && req->req_cas != it->cas)
        return STOREOP_DELTA_CAS_MISMATCH;
    /* memcached's safe_strtoull on the value: leading white space,
     * digits, then white space ("\r\n" at least) and anything after */
    if (!util_parse_u64(item_value(it), it->nbytes, &value))
        return STOREOP_DELTA_NON_NUMERIC;
    if (req->incr)
        value += req->delta;
    else
        value = req->delta > value ? 0 : value - req->delta;
    res->len = util_u64_to_str(value, res->value);

    if (res->len + 2 <= it->nbytes) {
        /* Fits: rewrite in place, padding with spaces as memcached
         * does (a shrunken counter keeps its length). */
        memset(item_value(it) + res->len, ' ', it->nbytes - 2 - res->len);
        memcpy(item_value(it), res->value, res->len);
        if (req->new_cas != 0) {
            do_store_set_cas(sh, it, req->new_cas);
        } else {
            do_store_new_cas(sh, it);
        }
        do_store_bump(sh, it);
    } else if (fresh == NULL || fresh->nbytes != res->len + 2) {
        /* first pass, or the value changed while we allocated */
        need->nbytes = (uint32_t)res->len + 2;
        need->flags = it->flags;
        need->exptime = it->exptime;
        return STOREOP_DELTA_OK;
    } else {
        memcpy(item_value(fresh), res->value, res->len);
        memcpy(item_value(fresh) + res->len, "\r\n", 2);
        fresh->flags = it->flags;
        fresh->exptime = it->exptime;
        fresh->iflags |= it->iflags & ITEM_KEY_BINARY;
        if (req->new_cas != 0) {
            fresh->cas = req->new_cas;
            store_observe_version(env->st, fresh->cas);
            it = do_store_link_cas(sh, fresh, it);
        } else {
            it = do_store_link(sh, fresh, it);
        }
        *freshp = NULL;
    }
    res->old_exptime = it->exptime;
    if (req->set_ttl)
        do_store_set_exptime(sh, it, req->ttl);
    res->cas = it->cas;
    if (req->incr)
        STATS_INCR(env->stats, incr_hits);
    else
        STATS_INCR(env->stats, decr_hits);
    return STOREOP_DELTA_OK;
}

enum storeop_delta_result storeop_add_delta(const struct storeop_env *env,
                                            const char *key, size_t nkey,
                                            const struct storeop_delta_req *req,
                                            struct storeop_delta_res *res)
{
    uint32_t hv = store_hash(key, nkey);
    struct item *fresh = NULL;

    for (int pass = 0;; pass++) {
        struct storeop_need need = {0};
        struct store_shard *sh = store_lock(env->st, hv);
        enum storeop_delta_result r =
            do_storeop_delta_pass(sh, env, key, nkey, hv, req, res, &fresh, &need);
        enum store_alloc_err err;

        store_unlock(sh);
        store_release(env->st, fresh);
        fresh = NULL;
        if (need.nbytes == 0)
            return r;
        fresh = pass < STOREOP_MAX_ALLOCS
                    ? store_alloc_keep(env->st, key, nkey, hv, need.flags, need.exptime,
                                       need.nbytes, &err)
                    : NULL;
        if (fresh == NULL)
            return STOREOP_DELTA_EOM;
    }
}
