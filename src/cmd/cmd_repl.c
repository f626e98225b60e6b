/*
 * cmd_repl: executes the commands replicas exchange (rs, rg, rd; and rh, ri
 * of near caching), accepted only
 * on a connection that introduced itself with `peer`; their wire format is
 * proto/replmsg's. A client sending them gets ERROR, and route never
 * forwards them.
 */
#include "cmd/cmd_internal.h"
#include "base/util.h"
#include "proto/replmsg.h"

/* rs <key> <flags> <exptime> <version> <bytes>[ <opts>]: a replica's state,
 * stored when newer than what the key holds (answered in cmd_value_done). */
static enum cmd_next process_rs(struct cmd *c, struct token *tokens, size_t ntokens)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;
    struct store_state s;
    struct item *it;
    enum store_alloc_err err;

    if (replmsg_parse_store(tokens, ntokens, kbuf, &key, &nkey, &s) != 0) {
        /* the data block's length is unknown: like memcached, close */
        cmd_error(c, "CLIENT_ERROR bad command line format");
        return CMD_CLOSE;
    }
    it = store_alloc(c->srv->store, key, nkey, store_hash(key, nkey), s.flags,
                     s.exptime == 0 ? 0 : mctime_realtime(s.exptime), s.nvalue + 2, &err);
    if (it == NULL) {
        cmd_error(c, err == STORE_ALLOC_TOO_LARGE
                         ? "SERVER_ERROR object too large for cache"
                         : "SERVER_ERROR out of memory storing object");
        c->swallow = (uint64_t)s.nvalue + 2;
        return CMD_SWALLOW;
    }
    it->cas = s.version;
    it->iflags |= s.iflags;
    c->item = it;
    c->replica = true;
    c->meta = false;
    return CMD_READ_VALUE;
}

void cmd_repl_value_done(struct cmd *c, struct item *it)
{
    uint64_t held;
    char line[32];

    STATS_INCR(c->stats, repl_applied);
    if (store_apply(c->srv->store, it, &held) != STORE_OLDER) {
        cmd_reply(c, "HD");
        return;
    }
    /* tell the sender what is newer, so it can catch its clock up */
    snprintf(line, sizeof(line), "NS %llu", (unsigned long long)held);
    cmd_reply(c, line);
}

/* rd <unix-ms>: the next command (a forwarded write) runs only if it
 * starts before that wall-clock time; later, its forwarder has given up
 * and may have run it on another owner, so it must not run here (see
 * cmd_process_line()). No reply. */
static void process_rd(struct cmd *c, struct token *tokens, size_t ntokens)
{
    uint64_t ms;

    if (ntokens != 3 || !util_parse_u64(tokens[1].value, tokens[1].length, &ms) ||
        ms == 0) {
        cmd_error(c, "CLIENT_ERROR bad command line format");
        return;
    }
    c->deadline_ms = ms;
}

/* rh <key>: the sender keeps the answer to the get that follows in its
 * near cache: a write to the key here must tell it (ri). No reply.
 * ri <key>: a write to the key ran on its owner: drop the near copy.
 * Answers HD. */
static void process_near(struct cmd *c, struct token *tokens, size_t ntokens, bool mark)
{
    void (*fn)(void *, const char *, size_t) =
        mark ? c->srv->near_mark : c->srv->near_drop;

    if (ntokens != 3 || tokens[1].length > KEY_MAX_LENGTH) {
        cmd_error(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (fn != NULL)
        fn(c->srv->near_arg, tokens[1].value, tokens[1].length);
    if (!mark)
        cmd_reply(c, "HD");
}

/* rg <key>[ b]: the key's state, tombstones included, as
 * "VA <bytes> <flags> <exptime> <version>[ <opts>]" and the value, or EN. */
static void process_rg(struct cmd *c, struct token *tokens, size_t ntokens)
{
    char kbuf[REPLMSG_KEY_BUF];
    const char *key;
    size_t nkey;
    struct store_state s;
    struct buf value;

    if (replmsg_parse_get(tokens, ntokens, kbuf, &key, &nkey) != 0) {
        cmd_error(c, "CLIENT_ERROR bad command line format");
        return;
    }
    buf_init(&value);
    if (!store_read_state(c->srv->store, key, nkey, &s, &value))
        replmsg_encode_miss(c->out);
    else if (value.oom)
        cmd_error(c, "SERVER_ERROR out of memory");
    else
        replmsg_encode_state(c->out, &s, value.data);
    buf_free(&value);
}

enum cmd_next cmd_repl(struct cmd *c, struct token *tokens, size_t ntokens)
{
    if (!c->from_peer) {
        cmd_reply(c, "ERROR");
        return CMD_NEXT_LINE;
    }
    if (tokens[0].value[1] == 'd') {
        process_rd(c, tokens, ntokens);
        return CMD_NEXT_LINE;
    }
    if (tokens[0].value[1] == 'h' || tokens[0].value[1] == 'i') {
        process_near(c, tokens, ntokens, tokens[0].value[1] == 'h');
        return CMD_NEXT_LINE;
    }
    if (tokens[0].value[1] == 's')
        return process_rs(c, tokens, ntokens);
    process_rg(c, tokens, ntokens);
    return CMD_NEXT_LINE;
}
