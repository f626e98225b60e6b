/*
 * cmd_admin: memcached's operator commands: shutdown, cache_memlimit,
 * lru_crawler, watch and stats detail, with memcached 1.6.18's replies.
 */
#include "cmd/cmd_internal.h"
#include "base/tls.h"
#include "base/logger.h"
#include "base/prefix.h"
#include "proto/opcmd.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define CRAWLER_SLEEP_MAX 1000000 /* lru_crawler sleep: microseconds, one second */

enum cmd_next cmd_shutdown(struct cmd *c, struct token *tokens, size_t ntokens)
{
    int sig;

    if (!c->srv->settings.shutdown_command) {
        cmd_reply(c, "ERROR: shutdown not enabled");
        return CMD_NEXT_LINE;
    }
    if (ntokens == 2)
        sig = SIGINT;
    else if (ntokens == 3 && strcmp(tokens[1].value, "graceful") == 0)
        sig = SIGUSR1;
    else {
        cmd_reply(c, "CLIENT_ERROR invalid shutdown mode");
        return CMD_NEXT_LINE;
    }
    /* as memcached: no reply, the connection closes, and the process takes
     * the signal's way out (main's handlers) */
    if (__atomic_load_n(&c->srv->verbose, __ATOMIC_RELAXED) > 0)
        fprintf(stderr, "meshcached: shutdown%s command\n",
                sig == SIGUSR1 ? " graceful" : "");
    kill(getpid(), sig);
    return CMD_CLOSE;
}

void cmd_memlimit(struct cmd *c, struct token *tokens, size_t ntokens)
{
    uint64_t bytes;

    c->noreply = proto_noreply(tokens, ntokens);
    switch (opcmd_parse_memlimit(tokens[1].value, tokens[1].length, &bytes)) {
    case OPCMD_MEMLIMIT_NOT_A_NUMBER:
        cmd_reply(c, "ERROR");
        return;
    case OPCMD_MEMLIMIT_TOO_SMALL:
        cmd_reply(c, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
        return;
    case OPCMD_MEMLIMIT_NOT_MEGABYTES:
        cmd_reply(c, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
        return;
    case OPCMD_MEMLIMIT_OK:
        break;
    }
    /* still over the limit (-M: nothing may be evicted) is no failure: new
     * items are refused until enough expires or is deleted */
    (void)store_set_mem_limit(c->srv->store, bytes);
    if (__atomic_load_n(&c->srv->verbose, __ATOMIC_RELAXED) > 0)
        fprintf(stderr, "maxbytes adjusted to %llum\n",
                (unsigned long long)(bytes >> 20));
    cmd_reply(c, "OK");
}

/* "lru_crawler sleep|tocrawl <n>": accepted and reported, with no effect
 * (the expiry sampler paces itself). */
static void crawler_setting(struct cmd *c, const struct token *arg, uint32_t *setting,
                            uint32_t max)
{
    uint32_t v;

    if (!util_parse_u32_trunc(arg->value, arg->length, &v)) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (v > max) {
        cmd_reply(c, "CLIENT_ERROR sleep must be one second or less");
        return;
    }
    __atomic_store_n(setting, v, __ATOMIC_RELAXED);
    cmd_reply(c, "OK");
}

/* "lru_crawler metadump|mgdump <classes>": starts the listing; shard is
 * a store shard < STORE_SHARDS to list alone ("metadump shard <n>", the
 * admin port's paged key listing), or STORE_SHARDS for all. */
static enum cmd_next crawler_dump(struct cmd *c, const struct token *arg, uint8_t kind,
                                  uint32_t shard)
{
    bool class1 = true;
    enum cmd_next next;

    if (!c->srv->settings.dump_enabled) {
        cmd_reply(c, kind == CMD_DUMP_MGDUMP ? "ERROR mgdump not allowed"
                                             : "ERROR metadump not allowed");
        return CMD_NEXT_LINE;
    }
    if (!__atomic_load_n(&c->srv->lru_crawler, __ATOMIC_RELAXED)) {
        cmd_reply(c, "CLIENT_ERROR lru crawler disabled");
        return CMD_NEXT_LINE;
    }
    if (shard == STORE_SHARDS && opcmd_parse_classes(arg->value, &class1) != 0) {
        cmd_reply(c, "BADCLASS invalid class id");
        return CMD_NEXT_LINE;
    }
    __atomic_fetch_add(&c->srv->lru_crawler_starts, 1, __ATOMIC_RELAXED);
    next = cmd_dump_start(c, kind, class1, 0);
    if (shard < STORE_SHARDS) {
        c->dump.next_shard = shard;
        c->dump.end_shard = shard + 1;
    }
    return next;
}

enum cmd_next cmd_lru_crawler(struct cmd *c, struct token *tokens, size_t ntokens)
{
    struct server *srv = c->srv;
    const char *sub = tokens[1].value;
    bool class1;

    if (ntokens == 4 && strcmp(sub, "crawl") == 0) {
        if (!__atomic_load_n(&srv->lru_crawler, __ATOMIC_RELAXED))
            cmd_reply(c, "CLIENT_ERROR lru crawler disabled");
        else if (opcmd_parse_classes(tokens[2].value, &class1) != 0)
            cmd_reply(c, "BADCLASS invalid class id");
        else {
            /* the expiry sampler reclaims in the background all the time */
            __atomic_fetch_add(&srv->lru_crawler_starts, 1, __ATOMIC_RELAXED);
            cmd_reply(c, "OK");
        }
    } else if (ntokens == 4 && strcmp(sub, "metadump") == 0) {
        return crawler_dump(c, &tokens[2], CMD_DUMP_METADUMP, STORE_SHARDS);
    } else if (ntokens == 5 && strcmp(sub, "metadump") == 0 &&
               strcmp(tokens[2].value, "shard") == 0) {
        uint32_t shard;
        if (!util_parse_u32(tokens[3].value, tokens[3].length, &shard) ||
            shard >= STORE_SHARDS) {
            cmd_reply(c, "CLIENT_ERROR bad command line format");
            return CMD_NEXT_LINE;
        }
        return crawler_dump(c, &tokens[2], CMD_DUMP_METADUMP, shard);
    } else if (ntokens == 4 && strcmp(sub, "mgdump") == 0) {
        return crawler_dump(c, &tokens[2], CMD_DUMP_MGDUMP, STORE_SHARDS);
    } else if (ntokens == 4 && strcmp(sub, "tocrawl") == 0) {
        crawler_setting(c, &tokens[2], &srv->lru_crawler_tocrawl, UINT32_MAX);
    } else if (ntokens == 4 && strcmp(sub, "sleep") == 0) {
        crawler_setting(c, &tokens[2], &srv->lru_crawler_sleep, CRAWLER_SLEEP_MAX);
    } else if (ntokens == 3 && strcmp(sub, "enable") == 0) {
        /* memcached's answer when its crawler thread already runs */
        if (__atomic_exchange_n(&srv->lru_crawler, 1, __ATOMIC_RELAXED))
            cmd_reply(c, "ERROR failed to start lru crawler thread");
        else
            cmd_reply(c, "OK");
    } else if (ntokens == 3 && strcmp(sub, "disable") == 0) {
        __atomic_store_n(&srv->lru_crawler, 0, __ATOMIC_RELAXED);
        cmd_reply(c, "OK");
    } else {
        cmd_reply(c, "ERROR");
    }
    return CMD_NEXT_LINE;
}

enum cmd_next cmd_watch(struct cmd *c, struct token *tokens, size_t ntokens)
{
    unsigned mask = 0;

    if (!c->srv->settings.watch_enabled) {
        cmd_reply(c, "CLIENT_ERROR watch commands not allowed");
        return CMD_NEXT_LINE;
    }
    for (size_t i = 1; i + 1 < ntokens; i++) {
        unsigned m = opcmd_watch_type(tokens[i].value);
        if (m == 0) {
            cmd_reply(c, "ERROR");
            return CMD_NEXT_LINE;
        }
        mask |= m;
    }
    if (tokens[ntokens - 1].value != NULL) {
        cmd_reply(c, "ERROR"); /* more words than one tokenizing pass holds */
        return CMD_NEXT_LINE;
    }
    c->watch_mask = mask != 0 ? mask : LOGGER_FETCHERS;
    cmd_reply(c, "OK");
    return CMD_WATCH;
}

void cmd_stats_detail(struct cmd *c, struct token *tokens, size_t ntokens)
{
    const char *arg = ntokens >= 4 ? tokens[2].value : "";

    if (strcmp(arg, "on") == 0 || strcmp(arg, "off") == 0) {
        prefix_enable(c->srv->prefix, arg[1] == 'n');
        cmd_reply(c, "OK");
    } else if (strcmp(arg, "dump") == 0) {
        prefix_dump(c->srv->prefix, c->out);
    } else {
        cmd_reply(c, "CLIENT_ERROR usage: stats detail on|off|dump");
    }
}

/* ---- the log lines of watch ---- */

/* Whether a watcher wants type; if so, key URI-encoded into ukey. */
static bool log_key(struct cmd *c, unsigned type, const char *key, size_t nkey,
                    char ukey[OPCMD_URI_KEY_MAX + 1])
{
    if (!logger_wants(c->srv->logger, type))
        return false;
    ukey[util_uri_encode(key, nkey, ukey)] = '\0';
    return true;
}

void cmd_log_fetch(struct cmd *c, const char *key, size_t nkey, bool found,
                   uint32_t nvalue)
{
    char ukey[OPCMD_URI_KEY_MAX + 1];

    if (!log_key(c, LOGGER_FETCHERS, key, nkey, ukey))
        return;
    logger_log(c->srv->logger, LOGGER_FETCHERS,
               "type=item_get key=%s status=%s clsid=%d cfd=%d size=%u", ukey,
               found ? "found" : "not_found", found ? 1 : 0, c->cfd, found ? nvalue : 0);
}

void cmd_log_store(struct cmd *c, const char *key, size_t nkey, const char *status,
                   const char *cmd, rel_time_t exptime, uint32_t nvalue)
{
    char ukey[OPCMD_URI_KEY_MAX + 1];
    rel_time_t now = mctime_now();

    if (!log_key(c, LOGGER_MUTATIONS, key, nkey, ukey))
        return;
    logger_log(c->srv->logger, LOGGER_MUTATIONS,
               "type=item_store key=%s status=%s cmd=%s ttl=%d clsid=1 cfd=%d size=%u",
               ukey, status, cmd, exptime == 0 ? 0 : (int)(exptime - now), c->cfd,
               nvalue);
}

void cmd_log_delete(struct cmd *c, const char *key, size_t nkey, const char *cmd,
                    uint32_t nvalue)
{
    char ukey[OPCMD_URI_KEY_MAX + 1];

    if (!log_key(c, LOGGER_DELETIONS, key, nkey, ukey))
        return;
    logger_log(c->srv->logger, LOGGER_DELETIONS,
               "type=deleted key=%s cmd=%s clsid=1 size=%u", ukey, cmd, nvalue);
}

void cmd_refresh_certs(struct cmd *c)
{
    char err[4096 + 512];

    if (tls_refresh(err, sizeof(err)) != 0) {
        cmd_reply(c, err);
        return;
    }
    cmd_reply(c, "OK");
}
