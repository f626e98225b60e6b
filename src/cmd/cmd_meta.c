/*
 * cmd_meta: memcached's meta commands (mg, ms, md, ma, me), including the
 * win/stale/token flags (W, X, Z) that protect a backend from thundering
 * herds: only one client at a time is told to recache a missing or stale key.
 */
#include "base/base64.h"
#include "cmd/cmd_internal.h"
#include "base/mctime.h"
#include "base/util.h"

#include <limits.h>
#include <stdio.h>

static const char bad_format[] = "CLIENT_ERROR bad command line format";
static const char opaque_too_long[] = "CLIENT_ERROR opaque token too long";
static const char too_many_flags[] = "CLIENT_ERROR options flags too long";
static const char bad_flags[] = "CLIENT_ERROR invalid or duplicate flag";

static void append_char_u64(struct cmd *c, char flag, uint64_t v)
{
    char s[2] = {' ', flag};

    buf_append(c->out, s, 2);
    buf_append_u64(c->out, v);
}

/* " t<seconds left>" or " t-1" for items that never expire. */
static void append_ttl(struct cmd *c, rel_time_t exptime)
{
    if (exptime == 0)
        buf_append(c->out, " t-1", 4);
    else
        append_char_u64(c, 't', (uint32_t)(exptime - mctime_now()));
}

/* " k<key>", or " k<base64 key> b" for a key given in base64. */
static void append_key(struct cmd *c, const char *key, size_t nkey, bool binary)
{
    char *p;

    buf_append(c->out, " k", 2);
    if (!binary) {
        buf_append(c->out, key, nkey);
        return;
    }
    p = buf_reserve(c->out, base64_encoded_len(nkey) + 2);
    if (p == NULL)
        return;
    buf_commit(c->out, base64_encode(key, nkey, p));
    buf_append(c->out, " b", 2);
}

/* What the return flags every meta reply echoes the same way (O, k, c)
 * give back for this reply. */
struct meta_echo {
    const char *key; /* k: the key, as stored */
    size_t nkey;
    bool binary;  /* the key came in base64: k echoes it encoded, then " b" */
    bool has_cas; /* the reply carries a CAS: c echoes cas (0 under -C) */
    uint64_t cas;
};

/* Whether meta_echo_flag() echoes flag f (what an ms keeps for its reply). */
static bool meta_echoes(char f)
{
    return f == 'O' || f == 'k' || f == 'c';
}

/*
 * Echoes the return flag t when it is O (the opaque token as given), k (the
 * key) or c (the CAS, when the reply carries one); any other flag is the
 * caller's. Returns false, having appended nothing, when t is an opaque too
 * long to echo: the caller discards the reply and sends opaque_too_long.
 */
static bool meta_echo_flag(struct cmd *c, const struct token *t,
                           const struct meta_echo *e)
{
    switch (t->value[0]) {
    case 'O':
        if (t->length > PROTO_META_MAX_OPAQUE)
            return false;
        buf_append(c->out, " ", 1);
        buf_append(c->out, t->value, t->length);
        break;
    case 'k':
        append_key(c, e->key, e->nkey, e->binary);
        break;
    case 'c':
        if (e->has_cas)
            append_char_u64(c, 'c', c->srv->settings.use_cas ? e->cas : 0);
        break;
    }
    return true;
}

/* meta_echo_flag() for each flag of a request, in order: the whole echo of
 * a reply that has no item to describe (EN, NF, EX, NS, md's HD). */
static bool meta_echo_flags(struct cmd *c, const struct token *tokens, size_t ntokens,
                            const struct meta_echo *e)
{
    for (size_t i = 2; i < ntokens - 1; i++)
        if (!meta_echo_flag(c, &tokens[i], e))
            return false;
    return true;
}

/*
 * The checks mg, md and ma open with, in memcached's order: key length, flag
 * count, then the flags themselves. memcached words the errors differently
 * per command: too_many is the flag-count error, and bad_flag (NULL: the
 * parser's own message) the flag error. Returns false after replying.
 */
static bool meta_start(struct cmd *c, struct token *tokens, size_t ntokens,
                       struct meta_flags *mf, const char *too_many, const char *bad_flag)
{
    const char *errstr = bad_format;

    if (tokens[1].length > KEY_MAX_LENGTH) {
        cmd_error(c, bad_format);
        return false;
    }
    if (ntokens > PROTO_META_MAX_TOKENS) {
        cmd_error(c, too_many);
        return false;
    }
    if (proto_meta_flags(tokens, 2, mf, &errstr) != 0) {
        cmd_error(c, bad_flag != NULL ? bad_flag : errstr);
        return false;
    }
    c->noreply = mf->no_reply;
    return true;
}

/* ---- mg ---- */

static void process_mg(struct cmd *c, struct token *tokens, size_t ntokens)
{
    struct meta_flags mf = {0};
    struct store *st = c->srv->store;
    size_t start = c->out->len;
    struct store_shard *sh;
    struct item *it, *stub = NULL;
    struct meta_echo echo = {0};
    enum store_miss why;
    bool created = false, won = false, ttl_set = false;
    const char *key;
    size_t nkey;
    uint32_t hv, nvalue;
    rel_time_t now = mctime_now();

    if (!meta_start(c, tokens, ntokens, &mf, "CLIENT_ERROR options flags are too long",
                    NULL))
        return;
    key = tokens[1].value;
    nkey = tokens[1].length;
    hv = store_hash(key, nkey);
    if (mf.vivify) {
        /* Allocate before locking (allocation may evict, which locks). */
        enum store_alloc_err err;
        stub = store_alloc(st, key, nkey, hv, 0, 0, 2, &err);
        if (stub != NULL)
            memcpy(item_value(stub), "\r\n", 2);
    }

    sh = store_lock(st, hv);
    it = do_store_find(sh, key, nkey, hv, &why);
    if (it == NULL && stub != NULL) {
        if (mf.has_new_cas) {
            stub->cas = mf.new_cas;
            store_observe_version(st, stub->cas);
            it = do_store_link_cas(sh, stub, NULL);
        } else {
            it = do_store_link(sh, stub, NULL);
        }
        stub = NULL;
        created = true;
    }
    if (stub != NULL) {
        /* not needed after all; freeing takes no shard lock */
        store_release(st, stub);
    }
    if (it == NULL) {
        store_unlock(sh);
        cmd_log_fetch(c, key, nkey, false, 0);
        cmd_count_miss(c, why);
        if (mf.new_ttl) {
            STATS_INCR(c->stats, cmd_touch);
            STATS_INCR(c->stats, touch_misses);
        } else {
            STATS_INCR(c->stats, cmd_get);
            STATS_INCR(c->stats, get_misses);
        }
        echo.key = key;
        echo.nkey = nkey;
        echo.binary = mf.key_binary;
        buf_append(c->out, "EN", 2);
        if (!meta_echo_flags(c, tokens, ntokens, &echo)) {
            c->out->len = start;
            cmd_error(c, opaque_too_long);
            return;
        }
        buf_append(c->out, "\r\n", 2);
        if (c->noreply)
            c->out->len = start; /* q: misses are silent */
        c->noreply = false;
        return;
    }

    if (mf.value) {
        buf_append(c->out, "VA ", 3);
        buf_append_u64(c->out, it->nbytes - 2);
    } else {
        buf_append(c->out, "HD", 2);
    }
    echo.key = item_key(it);
    echo.nkey = it->nkey;
    echo.binary = (it->iflags & ITEM_KEY_BINARY) != 0;
    echo.has_cas = true;
    echo.cas = it->cas;
    for (size_t i = 2; i < ntokens - 1; i++) {
        switch (tokens[i].value[0]) {
        case 'T':
            ttl_set = true;
            do_store_set_exptime(sh, it, mctime_realtime(mf.ttl));
            break;
        case 'N':
            if (created) {
                do_store_set_exptime(sh, it, mctime_realtime(mf.autoviv_ttl));
                won = true;
            }
            break;
        case 'R':
            /* recache: win when the TTL left is below the token */
            if (!(it->iflags & ITEM_TOKEN) && !created && it->exptime != 0 &&
                it->exptime < mctime_realtime(mf.recache_ttl))
                won = true;
            break;
        case 's':
            append_char_u64(c, 's', it->nbytes - 2);
            break;
        case 't':
            append_ttl(c, it->exptime);
            break;
        case 'f':
            append_char_u64(c, 'f', it->flags);
            break;
        case 'l':
            append_char_u64(c, 'l', now - it->time);
            break;
        case 'h':
            buf_append(c->out, (it->iflags & ITEM_FETCHED) ? " h1" : " h0", 3);
            break;
        default:
            if (!meta_echo_flag(c, &tokens[i], &echo)) {
                store_unlock(sh);
                c->out->len = start;
                cmd_error(c, opaque_too_long);
                return;
            }
            break;
        }
    }
    /* Z before W: a client never sees both */
    if (it->iflags & ITEM_TOKEN) {
        buf_append(c->out, " Z", 2);
        STATS_INCR(c->stats, lease_losses);
    }
    if (it->iflags & ITEM_STALE) {
        buf_append(c->out, " X", 2);
        if (!(it->iflags & ITEM_TOKEN))
            won = true;
    }
    if (won) {
        buf_append(c->out, " W", 2);
        it->iflags |= ITEM_TOKEN;
        STATS_INCR(c->stats, lease_wins);
    }
    buf_append(c->out, "\r\n", 2);
    if (mf.value)
        buf_append(c->out, item_value(it), it->nbytes);
    if (!mf.no_update) {
        it->iflags |= ITEM_FETCHED;
        do_store_bump(sh, it);
    }
    nvalue = it->nbytes - 2;
    store_unlock(sh);
    cmd_log_fetch(c, key, nkey, true, nvalue);
    c->noreply = false;
    if (created || ttl_set)
        cmd_note_write(c, key, nkey);
    if (ttl_set) {
        STATS_INCR(c->stats, cmd_touch);
        STATS_INCR(c->stats, touch_hits);
    } else {
        STATS_INCR(c->stats, cmd_get);
        STATS_INCR(c->stats, get_hits);
    }
}

/* ---- ms ---- */

static enum cmd_next ms_fail(struct cmd *c, const char *errstr, int64_t vlen)
{
    cmd_error(c, errstr);
    c->swallow = (uint64_t)vlen;
    return CMD_SWALLOW;
}

static enum cmd_next process_ms(struct cmd *c, struct token *tokens, size_t ntokens)
{
    struct meta_flags mf = {0};
    const char *errstr = bad_format;
    struct store *st = c->srv->store;
    enum storeop_op op = STOREOP_SET;
    enum store_alloc_err err;
    bool has_error = false;
    struct item *it;
    int32_t vlen;

    if (tokens[1].length > KEY_MAX_LENGTH || ntokens == 3) {
        cmd_error(c, bad_format);
        return CMD_NEXT_LINE;
    }
    if (ntokens > PROTO_META_MAX_TOKENS) {
        cmd_error(c, "CLIENT_ERROR options flags too long");
        return CMD_NEXT_LINE;
    }
    if (!util_parse_i32_trunc(tokens[2].value, tokens[2].length, &vlen) || vlen < 0 ||
        vlen > INT_MAX - 2) {
        cmd_error(c, bad_format);
        return CMD_NEXT_LINE;
    }
    /* From here on the data block follows whatever happens: swallow it. */
    vlen += 2;
    if (proto_meta_flags(tokens, 3, &mf, &errstr) != 0)
        return ms_fail(c, errstr, vlen);
    c->noreply = mf.no_reply;

    /* Keep the flags to echo, in order, for after the block is read: the
     * line they are in will be gone by then. */
    c->stash_len = 0;
    for (size_t i = 3; i < ntokens - 1; i++) {
        char f = tokens[i].value[0];
        size_t n = f == 'O' ? tokens[i].length : 1; /* k and c: the letter */
        if (!meta_echoes(f))
            continue;
        if (n > PROTO_META_MAX_OPAQUE) {
            errstr = opaque_too_long;
            has_error = true;
            continue;
        }
        c->stash[c->stash_len++] = (char)n;
        memcpy(c->stash + c->stash_len, tokens[i].value, n);
        c->stash_len += n;
    }
    switch (mf.mode) {
    case 0:
    case 'S':
        op = STOREOP_SET;
        break;
    case 'E':
        op = STOREOP_ADD;
        break;
    case 'A':
        op = STOREOP_APPEND;
        break;
    case 'P':
        op = STOREOP_PREPEND;
        break;
    case 'R':
        op = STOREOP_REPLACE;
        break;
    default:
        return ms_fail(c, "CLIENT_ERROR invalid mode for ms M token", vlen);
    }
    /* a compare CAS turns set and replace into cas */
    if (mf.has_cas && (op == STOREOP_SET || op == STOREOP_REPLACE))
        op = STOREOP_CAS;
    if (has_error)
        return ms_fail(c, errstr, vlen);

    /* the data block of an append or prepend must not evict what it joins */
    it = (op == STOREOP_APPEND || op == STOREOP_PREPEND ? store_alloc_keep : store_alloc)(
        st, tokens[1].value, tokens[1].length,
        store_hash(tokens[1].value, tokens[1].length), mf.client_flags,
        mf.new_ttl ? mctime_realtime(cmd_jitter_ttl(c, mf.ttl)) : 0, (uint32_t)vlen,
        &err);
    if (it == NULL) {
        if (err == STORE_ALLOC_TOO_LARGE) {
            STATS_INCR(c->stats, store_too_large);
            errstr = "SERVER_ERROR object too large for cache";
        } else {
            STATS_INCR(c->stats, store_no_memory);
            errstr = "SERVER_ERROR out of memory storing object";
        }
        storeop_drop_key(st, tokens[1].value, tokens[1].length);
        return ms_fail(c, errstr, vlen);
    }
    if (mf.key_binary)
        it->iflags |= ITEM_KEY_BINARY;
    if (mf.has_new_cas)
        it->cas = mf.new_cas;
    c->item = it;
    c->replica = false;
    c->op = op;
    c->req_cas = mf.req_cas;
    c->meta = true;
    c->meta_quiet = mf.no_reply;
    c->meta_stale = mf.set_stale && op == STOREOP_CAS;
    c->meta_new_cas = mf.has_new_cas;
    return CMD_READ_VALUE;
}

static const char *const ms_result[] = {
    [STOREOP_STORED] = "HD",
    [STOREOP_NOT_STORED] = "NS",
    [STOREOP_EXISTS] = "EX",
    [STOREOP_NOT_FOUND] = "NF",
};

void cmd_meta_store_reply(struct cmd *c, enum storeop_result res, const char *key,
                          size_t nkey, bool binary, uint64_t cas)
{
    struct meta_echo echo = {
        .key = key, .nkey = nkey, .binary = binary, .has_cas = true, .cas = cas};

    if (res == STOREOP_STORED && c->meta_quiet)
        return;
    buf_append(c->out, ms_result[res], 2);
    /* the stash holds the flags to echo as <length><token>, in request
     * order; process_ms() refused an opaque too long to echo */
    for (size_t i = 0; i < c->stash_len; i += 1 + (unsigned char)c->stash[i]) {
        struct token t = {c->stash + i + 1, (unsigned char)c->stash[i]};
        meta_echo_flag(c, &t, &echo);
    }
    buf_append(c->out, "\r\n", 2);
}

/* ---- md ---- */

static void process_md(struct cmd *c, struct token *tokens, size_t ntokens)
{
    struct meta_flags mf = {0};
    size_t start = c->out->len;
    struct meta_echo echo = {0};
    struct store_shard *sh;
    struct item *it;
    const char *code;
    uint32_t hv, deleted = 0;

    if (!meta_start(c, tokens, ntokens, &mf, too_many_flags, bad_flags))
        return;
    echo.key = tokens[1].value;
    echo.nkey = tokens[1].length;
    echo.binary = mf.key_binary;
    buf_append(c->out, "XX", 2); /* the code goes here once known */
    if (!meta_echo_flags(c, tokens, ntokens, &echo)) {
        c->out->len = start;
        cmd_error(c, opaque_too_long);
        return;
    }
    hv = store_hash(tokens[1].value, tokens[1].length);
    sh = store_lock(c->srv->store, hv);
    it = do_store_find(sh, tokens[1].value, tokens[1].length, hv, NULL);
    if (it == NULL) {
        STATS_INCR(c->stats, delete_misses);
        code = "NF";
        /* replicated: written down all the same (a replica may hold it) */
        if (!mf.has_cas && !mf.set_stale &&
            do_store_delete_absent(sh, tokens[1].value, tokens[1].length, hv) != 0)
            cmd_note_write(c, tokens[1].value, tokens[1].length);
    } else if (mf.has_cas && it->cas != mf.req_cas) {
        STATS_INCR(c->stats, delete_misses);
        code = "EX";
    } else if (mf.set_stale) {
        /* invalidate: keep serving the value, marked stale, and let the
         * next reader win the right to recache it */
        if (mf.new_ttl)
            do_store_set_exptime(sh, it, mctime_realtime(mf.ttl));
        it->iflags |= ITEM_STALE;
        it->iflags &= (uint8_t)~ITEM_TOKEN;
        if (mf.has_new_cas)
            do_store_set_cas(sh, it, mf.new_cas);
        else
            do_store_new_cas(sh, it);
        cmd_note_write(c, tokens[1].value, tokens[1].length);
        code = "HD";
    } else {
        STATS_INCR(c->stats, delete_hits);
        deleted = it->nbytes - 1; /* the value's length + 1: never 0 */
        do_store_delete(sh, it);
        cmd_note_write(c, tokens[1].value, tokens[1].length);
        code = "HD";
    }
    store_unlock(sh);
    if (deleted != 0)
        cmd_log_delete(c, tokens[1].value, tokens[1].length, "md", deleted - 1);
    if (code[0] == 'H' && c->noreply) {
        c->out->len = start;
    } else {
        memcpy(c->out->data + start, code, 2);
        buf_append(c->out, "\r\n", 2);
    }
    c->noreply = false;
}

/* ---- ma ---- */

static void process_ma(struct cmd *c, struct token *tokens, size_t ntokens)
{
    struct meta_flags mf = {.delta = 1};
    const char *key = tokens[1].value;
    size_t nkey, start = c->out->len;
    struct storeop_env env = cmd_storeop_env(c);
    struct storeop_delta_req req = {.incr = true};
    struct storeop_delta_res res;
    struct meta_echo echo = {0};
    bool have = false, created = false;
    rel_time_t exptime;

    if (!meta_start(c, tokens, ntokens, &mf, too_many_flags, bad_flags))
        return;
    nkey = tokens[1].length;
    switch (mf.mode) {
    case 0:
    case 'I':
    case '+':
        break;
    case 'D':
    case '-':
        req.incr = false;
        break;
    default:
        cmd_error(c, "CLIENT_ERROR invalid mode for ma M token");
        return;
    }
    req.delta = mf.delta;
    req.req_cas = mf.req_cas;
    req.new_cas = mf.has_new_cas ? mf.new_cas : 0;
    req.set_ttl = mf.new_ttl;
    req.ttl = mf.new_ttl ? mctime_realtime(mf.ttl) : 0;

    switch (storeop_add_delta(&env, key, nkey, &req, &res)) {
    case STOREOP_DELTA_OK:
        cmd_note_write(c, key, nkey);
        have = true;
        break;
    case STOREOP_DELTA_NON_NUMERIC:
        cmd_error(c, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        return;
    case STOREOP_DELTA_EOM:
        cmd_error(c, "SERVER_ERROR out of memory");
        return;
    case STOREOP_DELTA_CAS_MISMATCH:
        buf_append(c->out, "EX", 2);
        break;
    case STOREOP_DELTA_NOT_FOUND:
        if (mf.vivify) {
            /* N: create it with the initial value (J), expiring per N/T in
             * the order given */
            struct storeop_req add = {.op = STOREOP_ADD, .keep_cas = mf.has_new_cas};
            enum store_alloc_err err;
            uint64_t cas = 0;
            struct item *it;
            res.len = util_u64_to_str(mf.initial, res.value);
            exptime = 0;
            for (size_t i = 2; i < ntokens - 1; i++) {
                if (tokens[i].value[0] == 'N')
                    exptime = mctime_realtime(mf.autoviv_ttl);
                else if (tokens[i].value[0] == 'T')
                    exptime = req.ttl;
            }
            it = store_alloc(c->srv->store, key, nkey, store_hash(key, nkey), 0, exptime,
                             (uint32_t)res.len + 2, &err);
            if (it == NULL) {
                cmd_error(c, "SERVER_ERROR Out of memory allocating new item");
                return;
            }
            memcpy(item_value(it), res.value, res.len);
            memcpy(item_value(it) + res.len, "\r\n", 2);
            if (mf.has_new_cas)
                it->cas = mf.new_cas;
            if (storeop_store_item(&env, it, &add, &cas) == STOREOP_STORED) {
                cmd_note_write(c, key, nkey);
                created = have = true;
                res.cas = cas;
                res.old_exptime = 0;
            } else {
                buf_append(c->out, "NS", 2);
            }
        } else {
            if (req.incr)
                STATS_INCR(c->stats, incr_misses);
            else
                STATS_INCR(c->stats, decr_misses);
            buf_append(c->out, "NF", 2);
        }
        break;
    }

    echo.key = key;
    echo.nkey = nkey;
    echo.binary = mf.key_binary;
    if (!have) {
        if (!meta_echo_flags(c, tokens, ntokens, &echo)) {
            c->out->len = start;
            cmd_error(c, opaque_too_long);
            return;
        }
        buf_append(c->out, "\r\n", 2);
        c->noreply = false;
        return;
    }
    if (mf.value) {
        buf_append(c->out, "VA ", 3);
        buf_append_u64(c->out, res.len);
    } else {
        buf_append(c->out, "HD", 2);
    }
    echo.has_cas = true;
    echo.cas = res.cas;
    /* replay T and N in order so that t shows the TTL at its position */
    exptime = res.old_exptime;
    for (size_t i = 2; i < ntokens - 1; i++) {
        switch (tokens[i].value[0]) {
        case 't':
            append_ttl(c, exptime);
            break;
        case 'T':
            exptime = req.ttl;
            break;
        case 'N':
            if (created)
                exptime = mctime_realtime(mf.autoviv_ttl);
            break;
        default:
            if (!meta_echo_flag(c, &tokens[i], &echo)) {
                c->out->len = start;
                cmd_error(c, opaque_too_long);
                return;
            }
            break;
        }
    }
    if (mf.value) {
        buf_append(c->out, "\r\n", 2);
        buf_append(c->out, res.value, res.len);
    }
    buf_append(c->out, "\r\n", 2);
    if (c->noreply && !created)
        c->out->len = start; /* q: a change is silent (a creation is not) */
    c->noreply = false;
}

/* ---- me ---- */

/* The slab class memcached would put an item of this total size in (default
 * -f 1.25, -n 48), so that `me` output matches. */
static unsigned slab_class_of(size_t ntotal)
{
    size_t size = 96;
    unsigned cls = 1;

    while (size < ntotal && size < 512 * 1024) {
        size = (size_t)((double)size * 1.25);
        size = (size + 7) & ~(size_t)7;
        cls++;
    }
    return cls;
}

static void process_me(struct cmd *c, struct token *tokens, size_t ntokens)
{
    char *key = tokens[1].value;
    size_t nkey = tokens[1].length;
    struct store_shard *sh;
    struct item *it;
    uint32_t hv;
    char line[256];

    STATS_INCR(c->stats, cmd_meta);
    if (ntokens < 3 || nkey > KEY_MAX_LENGTH) {
        cmd_error(c, bad_format);
        return;
    }
    if (ntokens >= 4 && tokens[2].length == 1 && tokens[2].value[0] == 'b') {
        nkey = base64_decode(key, nkey, key);
        if (nkey == 0) {
            cmd_error(c, bad_format);
            return;
        }
    }
    hv = store_hash(key, nkey);
    sh = store_lock(c->srv->store, hv);
    it = do_store_find(sh, key, nkey, hv, NULL);
    if (it == NULL) {
        store_unlock(sh);
        cmd_reply(c, "EN");
        return;
    }
    {
        rel_time_t now = mctime_now();
        bool use_cas = c->srv->settings.use_cas;
        size_t ntotal =
            48 + it->nkey + 1 + it->nbytes + (it->flags ? 4 : 0) + (use_cas ? 8 : 0);
        int n = snprintf(
            line, sizeof(line), " exp=%d la=%llu cas=%llu fetch=%s cls=%u size=%zu\r\n",
            it->exptime == 0 ? -1 : (int)(now - it->exptime),
            (unsigned long long)(now - it->time),
            (unsigned long long)cmd_visible_cas(c, it),
            (it->iflags & ITEM_FETCHED) ? "yes" : "no", slab_class_of(ntotal), ntotal);
        buf_append(c->out, "ME ", 3);
        if (it->iflags & ITEM_KEY_BINARY) {
            char *p = buf_reserve(c->out, base64_encoded_len(it->nkey));
            if (p != NULL)
                buf_commit(c->out, base64_encode(item_key(it), it->nkey, p));
        } else {
            buf_append(c->out, item_key(it), it->nkey);
        }
        store_unlock(sh);
        if (n > 0)
            buf_append(c->out, line,
                       (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
}

enum cmd_next cmd_meta(struct cmd *c, struct token *tokens, size_t ntokens)
{
    char which = tokens[0].value[1];

    if (which == 'e') {
        process_me(c, tokens, ntokens);
        return CMD_NEXT_LINE;
    }
    if (which != 'g' && which != 's' && which != 'd' && which != 'a') {
        cmd_reply(c, "ERROR");
        return CMD_NEXT_LINE;
    }
    if (ntokens < 3) {
        cmd_reply(c, "ERROR");
        return CMD_NEXT_LINE;
    }
    STATS_INCR(c->stats, cmd_meta);
    switch (which) {
    case 'g':
        process_mg(c, tokens, ntokens);
        break;
    case 's':
        return process_ms(c, tokens, ntokens);
    case 'd':
        process_md(c, tokens, ntokens);
        break;
    default:
        process_ma(c, tokens, ntokens);
        break;
    }
    return CMD_NEXT_LINE;
}
