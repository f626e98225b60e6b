/*
 * cmd_internal: what the classic (cmd_text.c), meta (cmd_meta.c) and stats
 * (cmd_stats.c) halves of the command layer share. Not for other modules.
 */
#ifndef MESHCACHED_CMD_INTERNAL_H
#define MESHCACHED_CMD_INTERNAL_H

#include "cmd/cmd.h"
#include "store/item.h"
#include "proto/proto.h"
#include "base/server.h"
#include "base/stats.h"
#include "store/store.h"
#include "store/storeop.h"
#include "base/util.h"

/* What `version` and `stats` report: the memcached release whose protocol
 * meshcached speaks, then meshcached's own version. */
#define CMD_VERSION_STRING "1.6.18-meshcached-" PACKAGE_VERSION

/* Counts a get that found an expired or flushed item (get_expired,
 * get_flushed). */
void cmd_count_miss(struct cmd *c, enum store_miss why);

/* memcached's out_string(): the reply is dropped (once) under noreply. */
void cmd_reply(struct cmd *c, const char *s);

/* -o ttl_jitter_pct: a relative expiry time (1 s to 30 days) shortened by a
 * random 0 to pct percent (at least 1 s is left); any other value, and
 * every value with pct 0, as it is. */
int64_t cmd_jitter_ttl(const struct cmd *c, int64_t exptime);

/* memcached's out_errstring(): errors are sent even under noreply. */
void cmd_error(struct cmd *c, const char *s);

/* What the store operations (store/storeop.h) need from this command. */
static inline struct storeop_env cmd_storeop_env(const struct cmd *c)
{
    struct storeop_env env = {
        .st = c->srv->store,
        .stats = c->stats,
        .use_cas = c->srv->settings.use_cas,
    };

    return env;
}

/* The CAS value clients see (0 when CAS is disabled with -C). */
static inline uint64_t cmd_visible_cas(const struct cmd *c, const struct item *it)
{
    return c->srv->settings.use_cas ? it->cas : 0;
}

/* Meta commands (mg ms md ma me); tokens[0] is the two-letter command. */
enum cmd_next cmd_meta(struct cmd *c, struct token *tokens, size_t ntokens);

/* Replies to an ms whose data block was stored with result res: the code
 * and the return flags the ms stashed. key is the item's key (the item is
 * the store's now), binary whether it was given in base64, cas the stored
 * item's CAS (0 when nothing was stored). */
void cmd_meta_store_reply(struct cmd *c, enum storeop_result res, const char *key,
                          size_t nkey, bool binary, uint64_t cas);

/* Replica commands (rs rg), peer connections only; tokens[0] is the
 * two-letter command. */
enum cmd_next cmd_repl(struct cmd *c, struct token *tokens, size_t ntokens);

/* The data block of an rs is in it: apply it and reply. Consumes it. */
void cmd_repl_value_done(struct cmd *c, struct item *it);

/* Notes that the command changed key (see cmd->wrote). */
static inline void cmd_note_write(struct cmd *c, const char *key, size_t nkey)
{
    c->wrote = true;
    c->wrote_nkey = (uint8_t)nkey;
    memcpy(c->wrote_key, key, nkey);
}

/* ---- ASCII authentication, -Y (cmd_auth.c) ---- */

/* A line of a connection not yet authenticated: the start of an attempt
 * (CMD_READ_VALUE into a private cmd->item, auth_block set), or an
 * error. */
enum cmd_next cmd_auth_line(struct cmd *c, const struct token *tokens, size_t ntokens);

/* The attempt's block is read: checks it, replies, frees the block. */
void cmd_auth_done(struct cmd *c);

/* Frees an attempt's block that was not read to its end. */
void cmd_auth_release(struct cmd *c);

/* refresh_certs: reloads the TLS certificates (cmd_admin.c). */
void cmd_refresh_certs(struct cmd *c);

/* The stats command family; a CMD_STREAM for stats cachedump. */
enum cmd_next cmd_stats(struct cmd *c, struct token *tokens, size_t ntokens);

/* ---- operator commands (cmd_admin.c) ---- */

/* shutdown [graceful]: with -A, signals the process (SIGINT, SIGUSR1) and
 * closes the connection without a reply. */
enum cmd_next cmd_shutdown(struct cmd *c, struct token *tokens, size_t ntokens);

/* cache_memlimit <MB> [noreply]. */
void cmd_memlimit(struct cmd *c, struct token *tokens, size_t ntokens);

/* lru_crawler enable|disable|crawl|sleep|tocrawl|metadump|mgdump. */
enum cmd_next cmd_lru_crawler(struct cmd *c, struct token *tokens, size_t ntokens);

/* watch [types...]: CMD_WATCH with cmd->watch_mask set, after "OK". */
enum cmd_next cmd_watch(struct cmd *c, struct token *tokens, size_t ntokens);

/* stats detail on|off|dump. */
void cmd_stats_detail(struct cmd *c, struct token *tokens, size_t ntokens);

/* Watch lines (each a no-op while nobody watches that type): a lookup of
 * key (nvalue: the value's length when found), a store's outcome (status
 * and cmd in memcached's words), a delete. */
void cmd_log_fetch(struct cmd *c, const char *key, size_t nkey, bool found,
                   uint32_t nvalue);
void cmd_log_store(struct cmd *c, const char *key, size_t nkey, const char *status,
                   const char *cmd, rel_time_t exptime, uint32_t nvalue);
void cmd_log_delete(struct cmd *c, const char *key, size_t nkey, const char *cmd,
                    uint32_t nvalue);

/* ---- key listings (cmd_dump.c) ---- */

/* Starts a listing of kind (CMD_DUMP_*); class1: whether class 1, which
 * holds every item, is asked for; limit: most lines (cachedump), 0 = all. */
enum cmd_next cmd_dump_start(struct cmd *c, uint8_t kind, bool class1, uint64_t limit);

/* stats cachedump <class> <limit>. */
enum cmd_next cmd_stats_cachedump(struct cmd *c, struct token *tokens, size_t ntokens);

#endif
