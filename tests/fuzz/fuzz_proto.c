/*
 * fuzz_proto: arbitrary client input through the command layer, split into
 * lines and data blocks exactly as conn.c does, against a real store.
 *
 * Checks: no crash, leak or undefined behaviour (the sanitizers); every
 * command's reply is whole lines; the reply buffer never runs out; memory
 * accounting stays within the limit and balances once nothing is pending.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cmd/cmd.h"
#include "store/item.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/settings.h"
#include "base/stats.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small enough that a few big values fill it: eviction and -M get hit. */
#define MAXBYTES      (512u * 1024)
#define ITEM_SIZE_MAX (64u * 1024)

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_proto: invariant broken: %s\n", what);
        abort();
    }
}

/* limit: the largest the memory limit was since the input began
 * (cache_memlimit changes it: raised, the store may fill up to it; lowered,
 * what is over the new one goes only as later stores evict it). */
static void check_accounting(struct store *st, uint64_t *limit)
{
    struct store_stats s;

    if (store_mem_limit(st) > *limit)
        *limit = store_mem_limit(st);
    store_get_stats(st, &s);
    check(s.mem_used <= *limit, "memory use above the limit");
    check(s.mem_used == s.seg_bytes + s.large_bytes + s.table_bytes,
          "memory accounting does not balance");
    check(s.bytes <= s.seg_bytes + s.large_bytes, "items hold more than is charged");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    struct server srv;
    struct thread_stats ts;
    struct store_config cfg = {MAXBYTES, ITEM_SIZE_MAX, true};
    struct buf out;
    struct cmd c;
    size_t pos = 0;
    uint64_t limit = MAXBYTES;
    uint8_t opts;

    if (!initialized) {
        mctime_init();
        initialized = 1;
    }
    if (size == 0)
        return 0;
    /* The first byte picks the server options (-C, -M), whether a data
     * block longer than the rest of the input is made up (else the client
     * is taken to have gone away mid-value), whether the input comes from
     * a peer (rs and rg are served) and whether the store replicates
     * (versions, tombstones). */
    opts = data[0];
    data++;
    size--;

    memset(&srv, 0, sizeof(srv));
    memset(&ts, 0, sizeof(ts));
    settings_defaults(&srv.settings);
    srv.settings.maxbytes = MAXBYTES;
    srv.settings.item_size_max = ITEM_SIZE_MAX;
    srv.settings.use_cas = !(opts & 1);
    srv.settings.evict_to_free = !(opts & 2);
    cfg.evict_to_free = srv.settings.evict_to_free;
    cfg.hlc = cfg.tombstones = (opts & 16) != 0;
    cfg.tombstone_ttl = 600;
    cfg.version_tag = 3;
    if (store_create(&srv.store, &cfg) != 0)
        return 0;
    buf_init(&out);
    cmd_init(&c, &srv, &ts, &out);
    c.from_peer = (opts & 8) != 0;

    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len, before = out.len;
        enum cmd_next next;
        char *line;

        if (nl == NULL)
            break; /* an unterminated line is never processed */
        len = (size_t)(nl - (data + pos));
        line = malloc(len + 1);
        if (line == NULL)
            break;
        memcpy(line, data + pos, len);
        pos += len + 1;
        if (len > 1 && line[len - 1] == '\r')
            len--;
        next = cmd_process_line(&c, line, len);
        free(line);
        if (next == CMD_READ_VALUE) {
            struct item *it = c.item;
            check(it != NULL, "CMD_READ_VALUE without an item");
            if (size - pos < it->nbytes && !(opts & 4)) {
                cmd_reset(&c); /* the client went away mid-value */
                break;
            }
            if (size - pos < it->nbytes) {
                /* Let short inputs store big values: a filler block that
                 * consumes no input, so the commands after it still run. */
                memset(item_value(it), 'x', it->nbytes - 2);
                memcpy(item_value(it) + it->nbytes - 2, "\r\n", 2);
            } else {
                memcpy(item_value(it), data + pos, it->nbytes);
                pos += it->nbytes;
            }
            cmd_value_done(&c);
            check(c.item == NULL, "item kept after cmd_value_done");
        } else if (next == CMD_SWALLOW) {
            pos += c.swallow < size - pos ? (size_t)c.swallow : size - pos;
            c.swallow = 0;
        }
        check(!out.oom, "reply buffer out of memory");
        if (out.len > before) {
            check(out.len - before >= 2, "reply shorter than a line ending");
            check(memcmp(out.data + out.len - 2, "\r\n", 2) == 0,
                  "reply does not end with \\r\\n");
        }
        check_accounting(srv.store, &limit);
        if (next == CMD_CLOSE)
            break;
        /* keep the buffer small, as a connection that flushes would */
        if (out.len > 1024 * 1024)
            buf_reset(&out);
    }

    cmd_reset(&c);
    check_accounting(srv.store, &limit);
    store_destroy(srv.store);
    buf_free(&out);
    return 0;
}
