/*
 * cmd_text: the classic memcached commands, with memcached's argument
 * checks in memcached's order so that every error reply matches.
 */
#include "cmd/cmd_internal.h"
#include "base/mctime.h"
#include "base/prefix.h"
#include "base/rng.h"
#include "base/util.h"
#include "proto/peerauth.h"

#include <limits.h>
#include <stdio.h>

#include "config.h"

#define GET_REPLY_MIN_MAX (64u * 1024 * 1024)
#define BIG_VALUE         (64u * 1024) /* room made before the lock (find_for_copy) */

void cmd_init(struct cmd *c, struct server *srv, struct thread_stats *stats,
              struct buf *out)
{
    memset(c, 0, sizeof(*c));
    c->srv = srv;
    c->stats = stats;
    c->out = out;
    c->authenticated = srv->auth == NULL;
}

void cmd_reset(struct cmd *c)
{
    if (c->auth_block)
        cmd_auth_release(c);
    store_release(c->srv->store, c->item);
    c->item = NULL;
    c->swallow = 0;
    c->noreply = false;
}

bool cmd_idle(const struct cmd *c)
{
    return c->item == NULL && c->swallow == 0 && !c->from_peer && !c->peer_pending &&
           c->deadline_ms == 0 && c->dump.kind == CMD_DUMP_NONE && c->watch_mask == 0;
}

void cmd_reply(struct cmd *c, const char *s)
{
    if ((s[0] == 'E' && s[1] == 'R') || (s[0] == 'C' && s[1] == 'L'))
        STATS_INCR(c->stats, protocol_errors); /* ERROR, CLIENT_ERROR */
    if (c->noreply) {
        c->noreply = false;
        return;
    }
    buf_append_str(c->out, s);
    buf_append(c->out, "\r\n", 2);
}

void cmd_error(struct cmd *c, const char *s)
{
    c->noreply = false;
    cmd_reply(c, s);
}

/* ---- commands ---- */

int64_t cmd_jitter_ttl(const struct cmd *c, int64_t exptime)
{
    static __thread uint64_t seed; /* each worker its own sequence */
    uint32_t pct = c->srv->settings.ttl_jitter_pct;
    int64_t cut;

    if (pct == 0 || exptime <= 1 || exptime > MCTIME_MAX_DELTA)
        return exptime;
    if (seed == 0)
        seed = (uint64_t)(uintptr_t)&seed ^ mctime_wall_ms();
    /* 0 .. exptime * pct / 100, uniformly */
    cut = (int64_t)(rng_splitmix64(&seed) % ((uint64_t)exptime * pct / 100 + 1));
    return exptime - cut >= 1 ? exptime - cut : 1;
}

static enum cmd_next process_update(struct cmd *c, struct token *tokens, size_t ntokens,
                                    enum storeop_op op)
{
    struct store *st = c->srv->store;
    const char *key = tokens[1].value;
    size_t nkey = tokens[1].length;
    uint32_t flags;
    int32_t exptime, vlen;
    uint64_t req_cas = 0;
    struct item *it;
    enum store_alloc_err err;

    c->noreply = proto_noreply(tokens, ntokens);
    if (nkey > KEY_MAX_LENGTH) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return CMD_NEXT_LINE;
    }
    prefix_record(c->srv->prefix, key, nkey, PREFIX_SET, false);
    if (!util_parse_u32_trunc(tokens[2].value, tokens[2].length, &flags) ||
        !util_parse_i32_trunc(tokens[3].value, tokens[3].length, &exptime) ||
        !util_parse_i32_trunc(tokens[4].value, tokens[4].length, &vlen)) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return CMD_NEXT_LINE;
    }
    if (op == STOREOP_CAS &&
        !util_parse_u64(tokens[5].value, tokens[5].length, &req_cas)) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return CMD_NEXT_LINE;
    }
    if (vlen < 0 || vlen > INT_MAX - 2) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return CMD_NEXT_LINE;
    }
    /* the data block of an append or prepend must not evict what it joins */
    it = (op == STOREOP_APPEND || op == STOREOP_PREPEND ? store_alloc_keep : store_alloc)(
        st, key, nkey, store_hash(key, nkey), flags,
        mctime_realtime(cmd_jitter_ttl(c, exptime)), (uint32_t)vlen + 2, &err);
    if (it == NULL) {
        if (err == STORE_ALLOC_TOO_LARGE) {
            STATS_INCR(c->stats, store_too_large);
            cmd_reply(c, "SERVER_ERROR object too large for cache");
        } else {
            STATS_INCR(c->stats, store_no_memory);
            cmd_reply(c, "SERVER_ERROR out of memory storing object");
        }
        /* A set that failed must not leave the previous value readable. */
        if (op == STOREOP_SET)
            storeop_drop_key(st, key, nkey);
        c->swallow = (uint64_t)vlen + 2;
        return CMD_SWALLOW;
    }
    c->item = it;
    c->replica = false;
    c->op = op;
    c->req_cas = req_cas;
    c->meta = false;
    return CMD_READ_VALUE;
}

/* The most bytes append_value() writes for it. */
static size_t value_need(const struct item *it)
{
    return 6 + it->nkey + 2 * 11 + 22 + 2 + it->nbytes;
}

/* Appends one VALUE line and the data block; called under the shard lock. */
static void append_value(struct cmd *c, struct item *it, bool return_cas)
{
    char *p = buf_reserve(c->out, value_need(it)), *start = p;

    if (p == NULL)
        return;
    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, item_key(it), it->nkey);
    p += it->nkey;
    *p++ = ' ';
    p += util_u64_to_str(it->flags, p);
    *p++ = ' ';
    p += util_u64_to_str(it->nbytes - 2, p);
    if (return_cas) {
        *p++ = ' ';
        p += util_u64_to_str(cmd_visible_cas(c, it), p);
    }
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, item_value(it), it->nbytes);
    p += it->nbytes;
    buf_commit(c->out, (size_t)(p - start));
}

void cmd_count_miss(struct cmd *c, enum store_miss why)
{
    if (why == STORE_MISS_EXPIRED)
        STATS_INCR(c->stats, get_expired);
    else if (why == STORE_MISS_FLUSHED)
        STATS_INCR(c->stats, get_flushed);
}

/* Makes room for n more bytes in out and faults its pages in. Returns
 * false when memory ran out (out->oom is set). */
static bool prepare_room(struct buf *out, size_t n)
{
    volatile char *p = (volatile char *)buf_reserve(out, n);

    if (p == NULL)
        return false;
    for (size_t i = 0; i < n; i += 4096)
        p[i] = 0;
    return true;
}

/* Finds key under its shard's lock, which the caller then holds. A big
 * value is copied out under that lock, so its room in out is made, and
 * its pages faulted in, before (looking the key up twice): then the others
 * waiting for the shard wait for a memcpy, never for a realloc or page
 * faults (20 clients reading a 1 MB value 16 times each held its shard,
 * and so every worker, for seconds). */
static struct item *find_for_copy(struct cmd *c, const char *key, size_t nkey,
                                  uint32_t hv, struct store_shard **sh,
                                  enum store_miss *why)
{
    struct item *it;
    size_t need;

    *sh = store_lock(c->srv->store, hv);
    it = do_store_find(*sh, key, nkey, hv, why);
    if (it == NULL || it->nbytes < BIG_VALUE)
        return it;
    need = value_need(it);
    store_unlock(*sh);
    prepare_room(c->out, need); /* on failure append_value() fails as before */
    *sh = store_lock(c->srv->store, hv);
    return do_store_find(*sh, key, nkey, hv, why);
}

static void get_one(struct cmd *c, const char *key, size_t nkey, bool return_cas,
                    bool touch, rel_time_t exptime)
{
    uint32_t hv = store_hash(key, nkey);
    struct store_shard *sh;
    enum store_miss why;
    struct item *it = find_for_copy(c, key, nkey, hv, &sh, &why);

    prefix_record(c->srv->prefix, key, nkey, PREFIX_GET, it != NULL);
    if (it != NULL) {
        uint32_t nvalue = it->nbytes - 2;
        if (touch)
            do_store_set_exptime(sh, it, exptime);
        it->iflags |= ITEM_FETCHED;
        do_store_bump(sh, it);
        append_value(c, it, return_cas);
        store_unlock(sh);
        cmd_log_fetch(c, key, nkey, true, nvalue);
        if (touch) {
            STATS_INCR(c->stats, cmd_touch);
            STATS_INCR(c->stats, touch_hits);
        } else {
            STATS_INCR(c->stats, cmd_get);
            STATS_INCR(c->stats, get_hits);
        }
        return;
    }
    store_unlock(sh);
    cmd_log_fetch(c, key, nkey, false, 0);
    cmd_count_miss(c, why);
    if (touch) {
        STATS_INCR(c->stats, cmd_touch);
        STATS_INCR(c->stats, touch_misses);
    } else {
        STATS_INCR(c->stats, cmd_get);
        STATS_INCR(c->stats, get_misses);
    }
}

void cmd_get_local(struct cmd *c, struct buf *out, const char *key, size_t nkey,
                   bool return_cas, bool touch, int32_t touch_time)
{
    struct buf *saved = c->out;

    c->out = out;
    get_one(c, key, nkey, return_cas, touch, touch ? mctime_realtime(touch_time) : 0);
    c->out = saved;
}

/* Notes that memcached would write its replies out at this point. */
static void mark_sent(struct cmd *c)
{
    c->sent_mark = c->out->len;
    c->sent_resets = c->out->resets;
}

void cmd_set_out(struct cmd *c, struct buf *out)
{
    c->out = out;
    mark_sent(c);
}

/* The largest reply one get may build. The reply is copied into the
 * connection's buffer, so without a bound one line naming a big value
 * thousands of times could make the server allocate terabytes. Twice the
 * largest item, and never less than 64 MB, less what connections that do
 * not read their replies hold already (srv->reply_backlog): clients that
 * never read cannot pile up that much each. Beyond it the get answers
 * memcached's own out-of-memory error for get responses. */
static size_t get_reply_max(const struct cmd *c)
{
    size_t twice = 2 * (size_t)c->srv->settings.item_size_max;
    size_t max = twice > GET_REPLY_MIN_MAX ? twice : GET_REPLY_MIN_MAX;
    uint64_t held = __atomic_load_n(&c->srv->reply_backlog, __ATOMIC_RELAXED);

    return held < max ? max - (size_t)held : 0;
}

static void process_get(struct cmd *c, struct token *tokens, size_t ntokens,
                        bool return_cas, bool touch)
{
    size_t k = 1, start = c->out->len;
    rel_time_t exptime = 0;
    int32_t exp;

    if (touch) {
        if (!util_parse_i32_trunc(tokens[1].value, tokens[1].length, &exp)) {
            cmd_reply(c, "CLIENT_ERROR invalid exptime argument");
            return;
        }
        exptime = mctime_realtime(exp);
        k = 2;
    }
    for (;;) {
        for (; tokens[k].length != 0; k++) {
            const char *err = NULL;
            if (tokens[k].length > KEY_MAX_LENGTH)
                err = "CLIENT_ERROR bad command line format";
            else if (c->out->len - start > get_reply_max(c))
                err = "SERVER_ERROR out of memory writing get response";
            if (err != NULL) {
                /* memcached culls every reply it has not written yet, this
                 * command's partial one included, and sends only the error.
                 * It writes after each get and mn, so those survive. */
                c->out->len =
                    c->sent_resets == c->out->resets && c->sent_mark > c->out->off
                        ? c->sent_mark
                        : c->out->off;
                cmd_reply(c, err);
                return;
            }
            get_one(c, tokens[k].value, tokens[k].length, return_cas, touch, exptime);
        }
        if (tokens[k].value == NULL)
            break;
        /* more keys than one tokenizing pass holds */
        char *rest = tokens[k].value;
        ntokens = proto_tokenize(rest, strlen(rest), tokens, PROTO_MAX_TOKENS);
        k = 0;
    }
    (void)ntokens;
    buf_append(c->out, "END\r\n", 5);
    mark_sent(c);
}

static void process_touch(struct cmd *c, struct token *tokens, size_t ntokens)
{
    const char *key = tokens[1].value;
    size_t nkey = tokens[1].length;
    int32_t exp;
    uint32_t hv;
    struct store_shard *sh;
    struct item *it;

    c->noreply = proto_noreply(tokens, ntokens);
    if (nkey > KEY_MAX_LENGTH) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (!util_parse_i32_trunc(tokens[2].value, tokens[2].length, &exp)) {
        cmd_reply(c, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    hv = store_hash(key, nkey);
    sh = store_lock(c->srv->store, hv);
    it = do_store_find(sh, key, nkey, hv, NULL);
    if (it != NULL) {
        do_store_set_exptime(sh, it, mctime_realtime(exp));
        it->iflags |= ITEM_FETCHED;
        do_store_bump(sh, it);
        cmd_note_write(c, key, nkey);
    }
    store_unlock(sh);
    STATS_INCR(c->stats, cmd_touch);
    if (it != NULL) {
        STATS_INCR(c->stats, touch_hits);
        cmd_reply(c, "TOUCHED");
    } else {
        STATS_INCR(c->stats, touch_misses);
        cmd_reply(c, "NOT_FOUND");
    }
}

static void process_arith(struct cmd *c, struct token *tokens, size_t ntokens, bool incr)
{
    struct storeop_env env = cmd_storeop_env(c);
    struct storeop_delta_req req = {.incr = incr};
    struct storeop_delta_res res;

    c->noreply = proto_noreply(tokens, ntokens);
    if (tokens[1].length > KEY_MAX_LENGTH) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (!util_parse_u64(tokens[2].value, tokens[2].length, &req.delta)) {
        cmd_reply(c, "CLIENT_ERROR invalid numeric delta argument");
        return;
    }
    switch (storeop_add_delta(&env, tokens[1].value, tokens[1].length, &req, &res)) {
    case STOREOP_DELTA_OK:
        cmd_note_write(c, tokens[1].value, tokens[1].length);
        cmd_reply(c, res.value);
        break;
    case STOREOP_DELTA_NON_NUMERIC:
        cmd_reply(c, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        break;
    case STOREOP_DELTA_EOM:
        cmd_reply(c, "SERVER_ERROR out of memory");
        break;
    case STOREOP_DELTA_NOT_FOUND:
        if (incr)
            STATS_INCR(c->stats, incr_misses);
        else
            STATS_INCR(c->stats, decr_misses);
        cmd_reply(c, "NOT_FOUND");
        break;
    case STOREOP_DELTA_CAS_MISMATCH:
        break; /* no CAS given: cannot happen */
    }
}

static void process_delete(struct cmd *c, struct token *tokens, size_t ntokens)
{
    const char *key = tokens[1].value;
    size_t nkey = tokens[1].length;
    struct store_shard *sh;
    struct item *it;
    uint32_t hv, nvalue = 0;

    if (ntokens > 3) {
        /* memcached still accepts the long-gone "delete <key> 0" form */
        bool hold_is_zero = strcmp(tokens[2].value, "0") == 0;
        bool noreply = c->noreply = proto_noreply(tokens, ntokens);
        bool valid = (ntokens == 4 && (hold_is_zero || noreply)) ||
                     (ntokens == 5 && hold_is_zero && noreply);
        if (!valid) {
            cmd_reply(c, "CLIENT_ERROR bad command line format.  "
                         "Usage: delete <key> [noreply]");
            return;
        }
    }
    if (nkey > KEY_MAX_LENGTH) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    prefix_record(c->srv->prefix, key, nkey, PREFIX_DEL, false);
    hv = store_hash(key, nkey);
    sh = store_lock(c->srv->store, hv);
    it = do_store_find(sh, key, nkey, hv, NULL);
    /* with tombstones, even a miss here is written down and replicated: a
     * replica may still hold the key (evicted here) */
    if (it != NULL) {
        nvalue = it->nbytes - 2;
        do_store_delete(sh, it); /* frees it: only its NULLness is used below */
        cmd_note_write(c, key, nkey);
    } else if (do_store_delete_absent(sh, key, nkey, hv) != 0) {
        cmd_note_write(c, key, nkey);
    }
    store_unlock(sh);
    if (it != NULL) {
        cmd_log_delete(c, key, nkey, "delete", nvalue);
        STATS_INCR(c->stats, delete_hits);
        cmd_reply(c, "DELETED");
    } else {
        STATS_INCR(c->stats, delete_misses);
        cmd_reply(c, "NOT_FOUND");
    }
}

static void process_flush_all(struct cmd *c, struct token *tokens, size_t ntokens)
{
    int32_t delay = 0;

    c->noreply = proto_noreply(tokens, ntokens);
    STATS_INCR(c->stats, cmd_flush);
    if (!c->srv->settings.flush_enabled) {
        cmd_reply(c, "CLIENT_ERROR flush_all not allowed");
        return;
    }
    if (ntokens != (c->noreply ? 3u : 2u) &&
        !util_parse_i32_trunc(tokens[1].value, tokens[1].length, &delay)) {
        cmd_reply(c, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    store_flush(c->srv->store, delay);
    if (c->srv->near_drop != NULL) /* near copies go at once, whatever the delay */
        c->srv->near_drop(c->srv->near_arg, NULL, 0);
    cmd_reply(c, "OK");
}

static void process_verbosity(struct cmd *c, struct token *tokens, size_t ntokens)
{
    uint32_t level;

    c->noreply = proto_noreply(tokens, ntokens);
    if (!util_parse_u32_trunc(tokens[1].value, tokens[1].length, &level)) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    __atomic_store_n(&c->srv->verbose, level > 2 ? 2 : (int)level, __ATOMIC_RELAXED);
    cmd_reply(c, "OK");
}

/* "peer <node-id> <vnodes>": another node opens its connection with this.
 * From then on this connection's commands are served here whatever the
 * ring says, so that no request is forwarded twice. With a cluster key the
 * node must prove it first: "peer <node-id> <vnodes> <nonce>" is answered
 * with this node's nonce and proof, and the connection becomes a peer's
 * only after a good "peerauth <proof>" (proto/peerauth.h). */
static void process_peer(struct cmd *c, const struct token *tokens, size_t ntokens)
{
    char line[64 + SETTINGS_MAX_ID_LEN + 2 * (PEERAUTH_NONCE + PEERAUTH_MAC)];
    char snh[2 * PEERAUTH_NONCE + 1], mach[2 * PEERAUTH_MAC + 1];
    unsigned char cn[PEERAUTH_NONCE], sn[PEERAUTH_NONCE], mac[PEERAUTH_MAC];
    const char *self = c->srv->settings.node_id;

    c->peer_pending = false;
    if (!c->srv->peer_key_set) {
        if (ntokens != 4 && ntokens != 5) {
            cmd_reply(c, "ERROR");
            return;
        }
        c->from_peer = true;
        snprintf(line, sizeof(line), "PEER %s %u", self, c->srv->settings.vnodes);
        cmd_reply(c, line);
        return;
    }
    if (ntokens != 5 ||
        !peerauth_fromhex(tokens[3].value, tokens[3].length, cn, sizeof(cn))) {
        STATS_INCR(c->stats, auth_errors);
        cmd_reply(c, "CLIENT_ERROR peer authentication required");
        return;
    }
    peerauth_nonce(sn);
    peerauth_mac(c->srv->peer_key, 'S', tokens[1].value, self, cn, sn, mac);
    peerauth_mac(c->srv->peer_key, 'C', tokens[1].value, self, cn, sn, c->peer_expect);
    c->peer_pending = true;
    peerauth_tohex(sn, sizeof(sn), snh);
    peerauth_tohex(mac, sizeof(mac), mach);
    snprintf(line, sizeof(line), "PEER %s %u %s %s", self, c->srv->settings.vnodes, snh,
             mach);
    cmd_reply(c, line);
}

/* "peerauth <proof>": the end of a keyed peer handshake. No answer when
 * good; a wrong or unexpected proof closes the connection. */
static enum cmd_next process_peerauth(struct cmd *c, const struct token *tokens,
                                      size_t ntokens)
{
    unsigned char mac[PEERAUTH_MAC];
    bool good = c->peer_pending && ntokens == 3 &&
                peerauth_fromhex(tokens[1].value, tokens[1].length, mac, sizeof(mac)) &&
                peerauth_equal(mac, c->peer_expect);

    c->peer_pending = false;
    if (good) {
        c->from_peer = true;
        return CMD_NEXT_LINE;
    }
    STATS_INCR(c->stats, auth_errors);
    cmd_reply(c, "CLIENT_ERROR peer authentication failed");
    return CMD_CLOSE;
}

/* Whether token t is name; an empty line's only token has no value. */
static bool is(const struct token *t, const char *name)
{
    return t->value != NULL && strcmp(t->value, name) == 0;
}

/* memcached's WANT_TOKENS_OR: anything else is a plain ERROR. */
static bool want(struct cmd *c, size_t ntokens, size_t a, size_t b)
{
    if (ntokens == a || ntokens == b)
        return true;
    cmd_reply(c, "ERROR");
    return false;
}

/* The classic storage commands: "<name> <key> <flags> <exptime> <bytes>
 * [noreply]", with "<cas unique>" before noreply for cas. */
static const struct {
    const char *name;
    enum storeop_op op;
} storage[] = {
    {"set", STOREOP_SET},         {"add", STOREOP_ADD},
    {"replace", STOREOP_REPLACE}, {"append", STOREOP_APPEND},
    {"prepend", STOREOP_PREPEND}, {"cas", STOREOP_CAS},
};

/* A command nobody knows: ERROR, except that a line whose last word starts
 * with "HTTP/" (an HTTP request: a browser sent across protocols) gets the
 * connection closed without a word, as memcached does. */
static enum cmd_next unknown(struct cmd *c, const struct token *tokens, size_t ntokens)
{
    if (ntokens >= 4 && tokens[ntokens - 2].length >= 5 &&
        memcmp(tokens[ntokens - 2].value, "HTTP/", 5) == 0)
        return CMD_CLOSE;
    cmd_reply(c, "ERROR");
    return CMD_NEXT_LINE;
}

/* Whether cmd is a storage command: one with a data block. */
static bool is_storage(const struct token *cmd)
{
    if (is(cmd, "ms"))
        return true;
    for (size_t i = 0; i < sizeof(storage) / sizeof(storage[0]); i++)
        if (is(cmd, storage[i].name))
            return true;
    return false;
}

/* A command after an rd (a write forwarded to this node): when it comes
 * after its deadline it is not run. A storage command's block is still
 * read (c->late: cmd_value_done() drops it), anything else is answered
 * here. Returns true when the command is done. */
static bool past_deadline(struct cmd *c, const struct token *cmd)
{
    bool late = mctime_wall_ms() > c->deadline_ms;

    c->deadline_ms = 0;
    if (!late)
        return false;
    STATS_INCR(c->stats, late_writes);
    if (is_storage(cmd)) {
        c->late = true;
        return false;
    }
    cmd_reply(c, "SERVER_ERROR deadline exceeded");
    return true;
}

enum cmd_next cmd_process_line(struct cmd *c, char *line, size_t len)
{
    struct token tokens[PROTO_MAX_TOKENS];
    size_t ntokens;
    const struct token *cmd = &tokens[0];

    /* memcached handles the line as a C string: a NUL ends it. */
    len = strnlen(line, len);
    ntokens = proto_tokenize(line, len, tokens, PROTO_MAX_TOKENS);
    c->noreply = false;
    c->wrote = false;
    c->late = false;
    /* -Y: nothing runs before the client authenticated, but a peer's
     * handshake, which proves the cluster key instead (a cluster with -Y
     * must have one) */
    if (!cmd_authenticated(c) &&
        !(c->srv->peer_key_set && (is(cmd, "peer") || is(cmd, "peerauth"))))
        return cmd_auth_line(c, tokens, ntokens);
    if (c->deadline_ms != 0 && !is(cmd, "rd") && past_deadline(c, cmd))
        return CMD_NEXT_LINE;
    if (ntokens < 2 || cmd->length < 2) {
        cmd_reply(c, "ERROR");
        return CMD_NEXT_LINE;
    }
    if (cmd->value[0] == 'm' && cmd->length == 2) {
        if (cmd->value[1] == 'n') {
            cmd_reply(c, "MN");
            mark_sent(c);
            return CMD_NEXT_LINE;
        }
        return cmd_meta(c, tokens, ntokens);
    }
    if (cmd->value[0] == 'r' && cmd->length == 2 &&
        strchr("sgdhi", cmd->value[1]) != NULL)
        return cmd_repl(c, tokens, ntokens);
    if (cmd->value[0] == 'g') {
        bool s = is(cmd, "gets") || is(cmd, "gats");
        bool t = is(cmd, "gat") || is(cmd, "gats");
        if (ntokens < 3 || !(s || t || is(cmd, "get"))) {
            cmd_reply(c, "ERROR");
            return CMD_NEXT_LINE;
        }
        process_get(c, tokens, ntokens, s, t);
        return CMD_NEXT_LINE;
    }
    for (size_t i = 0; i < sizeof(storage) / sizeof(storage[0]); i++)
        if (is(cmd, storage[i].name)) {
            size_t n = storage[i].op == STOREOP_CAS ? 7 : 6; /* cas adds its CAS */
            return want(c, ntokens, n, n + 1)
                       ? process_update(c, tokens, ntokens, storage[i].op)
                       : CMD_NEXT_LINE;
        }
    if (is(cmd, "incr") || is(cmd, "decr")) {
        if (want(c, ntokens, 4, 5))
            process_arith(c, tokens, ntokens, cmd->value[0] == 'i');
    } else if (is(cmd, "delete")) {
        if (ntokens >= 3 && ntokens <= 5)
            process_delete(c, tokens, ntokens);
        else
            cmd_reply(c, "ERROR");
    } else if (is(cmd, "touch")) {
        if (want(c, ntokens, 4, 5))
            process_touch(c, tokens, ntokens);
    } else if (is(cmd, "stats")) {
        return cmd_stats(c, tokens, ntokens);
    } else if (is(cmd, "flush_all")) {
        if (ntokens >= 2 && ntokens <= 4)
            process_flush_all(c, tokens, ntokens);
        else
            cmd_reply(c, "ERROR");
    } else if (is(cmd, "version")) {
        cmd_reply(c, "VERSION " CMD_VERSION_STRING);
    } else if (is(cmd, "quit")) {
        return CMD_CLOSE;
    } else if (is(cmd, "verbosity")) {
        if (want(c, ntokens, 3, 4))
            process_verbosity(c, tokens, ntokens);
    } else if (is(cmd, "peerauth")) {
        return process_peerauth(c, tokens, ntokens);
    } else if (is(cmd, "peer")) {
        process_peer(c, tokens, ntokens);
    } else if (is(cmd, "shutdown")) {
        return cmd_shutdown(c, tokens, ntokens);
    } else if (is(cmd, "cache_memlimit")) {
        if (want(c, ntokens, 3, 4))
            cmd_memlimit(c, tokens, ntokens);
    } else if (is(cmd, "lru_crawler")) {
        return cmd_lru_crawler(c, tokens, ntokens);
    } else if (is(cmd, "watch")) {
        return cmd_watch(c, tokens, ntokens);
    } else if (is(cmd, "refresh_certs")) {
        cmd_refresh_certs(c);
    } else {
        return unknown(c, tokens, ntokens);
    }
    return CMD_NEXT_LINE;
}

/* ---- after a data block ---- */

static const char *const classic_result[] = {
    [STOREOP_STORED] = "STORED",
    [STOREOP_NOT_STORED] = "NOT_STORED",
    [STOREOP_EXISTS] = "EXISTS",
    [STOREOP_NOT_FOUND] = "NOT_FOUND",
};

/* The words of watch's item_store lines. */
static const char *const store_status[] = {
    [STOREOP_STORED] = "stored",
    [STOREOP_NOT_STORED] = "not_stored",
    [STOREOP_EXISTS] = "exists",
    [STOREOP_NOT_FOUND] = "not_found",
};

static const char *const op_name[] = {
    [STOREOP_SET] = "set",         [STOREOP_ADD] = "add",
    [STOREOP_REPLACE] = "replace", [STOREOP_APPEND] = "append",
    [STOREOP_PREPEND] = "prepend", [STOREOP_CAS] = "cas",
};

void cmd_value_done(struct cmd *c)
{
    struct item *it = c->item;
    const char *v = item_value(it);
    char key[KEY_MAX_LENGTH];
    size_t nkey = it->nkey;
    bool binary = (it->iflags & ITEM_KEY_BINARY) != 0;
    struct storeop_env env = cmd_storeop_env(c);
    struct storeop_req req = {
        .op = c->op,
        .req_cas = c->req_cas,
        .set_stale = c->meta_stale,
        .keep_cas = c->meta_new_cas,
    };
    enum storeop_result res;
    uint64_t cas = 0;
    rel_time_t exptime;
    uint32_t nvalue;

    if (c->auth_block) {
        cmd_auth_done(c);
        return;
    }
    c->item = NULL;
    if (c->late) {
        c->late = false;
        store_release(c->srv->store, it);
        c->noreply = false;
        cmd_reply(c, "SERVER_ERROR deadline exceeded");
        return;
    }
    if (!c->replica)
        STATS_INCR(c->stats, cmd_set);
    if (v[it->nbytes - 2] != '\r' || v[it->nbytes - 1] != '\n') {
        store_release(c->srv->store, it);
        if (c->meta)
            c->noreply = false;
        cmd_reply(c, "CLIENT_ERROR bad data chunk");
        return;
    }
    if (c->replica) {
        cmd_repl_value_done(c, it);
        return;
    }
    /* The store owns the item once it is stored, and another thread may
     * free it as soon as the shard is unlocked: keep the key for
     * replication and for an ms that echoes it (k). */
    memcpy(key, item_key(it), nkey);
    exptime = it->exptime;
    nvalue = it->nbytes - 2;
    res = storeop_store_item(&env, it, &req, &cas);
    cmd_log_store(c, key, nkey, store_status[res], op_name[c->op], exptime, nvalue);
    if (res == STOREOP_STORED)
        cmd_note_write(c, key, nkey);
    if (c->meta)
        cmd_meta_store_reply(c, res, key, nkey, binary, cas);
    else
        cmd_reply(c, classic_result[res]);
}
