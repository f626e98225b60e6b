/*
 * cmd_dump: the key listings (lru_crawler metadump and mgdump, stats
 * cachedump), one store shard per step so that neither a worker nor a
 * shard lock is held for long, whatever the size of the cache.
 */
#include "cmd/cmd_internal.h"
#include "base/mctime.h"
#include "proto/opcmd.h"

#include <stdio.h>

/* memcached stops a cachedump at 2 MB of reply. */
#define CACHEDUMP_MAX_BYTES (2u * 1024 * 1024)

enum cmd_next cmd_dump_start(struct cmd *c, uint8_t kind, bool class1, uint64_t limit)
{
    c->dump.kind = kind;
    /* meshcached keeps every item in class 1: other classes list nothing */
    c->dump.next_shard = class1 ? 0 : STORE_SHARDS;
    c->dump.end_shard = STORE_SHARDS;
    c->dump.left = limit != 0 ? limit : UINT64_MAX;
    c->dump.bytes = 0;
    return CMD_STREAM;
}

static void list_item(void *arg, const struct item *cit)
{
    struct cmd *c = arg;
    struct item *it = (struct item *)cit;
    struct opcmd_item oi = {
        .key = item_key(it),
        .nkey = it->nkey,
        .exptime = it->exptime == 0 ? 0 : mctime_to_unix(it->exptime),
        .atime = mctime_to_unix(it->time),
        .cas = cmd_visible_cas(c, it),
        .fetched = (it->iflags & ITEM_FETCHED) != 0,
        .size = item_size(it->nkey, it->nbytes),
        .nvalue = it->nbytes - 2,
        .binary = (it->iflags & ITEM_KEY_BINARY) != 0,
    };
    char *p;
    size_t n;

    if (it->iflags & ITEM_TOMBSTONE)
        return; /* a deleted key's version, not a key */
    if (c->dump.kind == CMD_DUMP_CACHEDUMP &&
        (c->dump.left == 0 || c->dump.bytes >= CACHEDUMP_MAX_BYTES))
        return;
    p = buf_reserve(c->out, OPCMD_LINE_MAX);
    if (p == NULL)
        return;
    if (c->dump.kind == CMD_DUMP_METADUMP)
        n = opcmd_metadump_line(p, &oi);
    else if (c->dump.kind == CMD_DUMP_MGDUMP)
        n = opcmd_mgdump_line(p, &oi);
    else
        n = opcmd_cachedump_line(p, &oi);
    buf_commit(c->out, n);
    c->dump.left--;
    c->dump.bytes += n;
}

bool cmd_stream(struct cmd *c)
{
    if (c->dump.next_shard < c->dump.end_shard) {
        /* the shard's low hash bits select all of it, and expired and
         * flushed items met on the way are reclaimed, not listed */
        store_scan_hash(c->srv->store, c->dump.next_shard++, STORE_SHARD_BITS, list_item,
                        c);
        if (c->dump.next_shard < c->dump.end_shard && !c->out->oom)
            return false;
    }
    buf_append_str(c->out, c->dump.kind == CMD_DUMP_MGDUMP ? "EN\r\n" : "END\r\n");
    c->dump.kind = CMD_DUMP_NONE;
    return true;
}

enum cmd_next cmd_stats_cachedump(struct cmd *c, struct token *tokens, size_t ntokens)
{
    uint32_t id, limit;

    if (ntokens < 5) {
        cmd_reply(c, "CLIENT_ERROR bad command line");
        return CMD_NEXT_LINE;
    }
    if (!c->srv->settings.dump_enabled) {
        cmd_reply(c, "CLIENT_ERROR stats cachedump not allowed");
        return CMD_NEXT_LINE;
    }
    if (!util_parse_u32_trunc(tokens[2].value, tokens[2].length, &id) ||
        !util_parse_u32_trunc(tokens[3].value, tokens[3].length, &limit)) {
        cmd_reply(c, "CLIENT_ERROR bad command line format");
        return CMD_NEXT_LINE;
    }
    if (id > OPCMD_MAX_CLASS) {
        cmd_reply(c, "CLIENT_ERROR Illegal slab id");
        return CMD_NEXT_LINE;
    }
    return cmd_dump_start(c, CMD_DUMP_CACHEDUMP, id == 1, limit);
}
