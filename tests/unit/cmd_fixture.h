/* cmd_fixture.h: what the check_cmd* programs share: a command layer (c)
 * over a store of its own, fed a protocol transcript the way a connection
 * would feed it, with the reply kept in reply. Each Check program is one file
 * that includes this once, so everything here is static: every program has
 * its own c. */
#ifndef CMD_FIXTURE_H
#define CMD_FIXTURE_H

#include <check.h>
#include <stdbool.h>
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

static struct server srv;
static struct thread_stats ts;
static struct buf out;
static struct cmd c;
static char *reply;             /* the last feed()'s reply, NUL-terminated */
static enum cmd_next last_next; /* what the last command line returned */

static inline void start(uint64_t maxbytes, uint32_t item_size_max, bool evict)
{
    struct store_config cfg = {0};

    mctime_init();
    memset(&srv, 0, sizeof(srv));
    memset(&ts, 0, sizeof(ts));
    settings_defaults(&srv.settings);
    srv.settings.maxbytes = maxbytes;
    srv.settings.item_size_max = item_size_max;
    srv.settings.evict_to_free = evict;
    srv.nworkers = 0;
    cfg.maxbytes = maxbytes;
    cfg.item_size_max = item_size_max;
    cfg.evict_to_free = evict;
    ck_assert_int_eq(store_create(&srv.store, &cfg), 0);
    buf_init(&out);
    cmd_init(&c, &srv, &ts, &out);
}

static inline void stop(void)
{
    cmd_reset(&c);
    store_destroy(srv.store);
    srv.store = NULL;
    buf_free(&out);
    free(reply);
    reply = NULL;
}

static inline void setup(void)
{
    start(64ULL * 1024 * 1024, 1024 * 1024, true);
}

/*
 * Feeds a stream of input as conn.c does: lines end at "\n" (a "\r" before
 * it is dropped), a data block of c.item->nbytes follows a command that
 * asks for one, swallowed bytes are skipped. Returns everything replied.
 */
static const char *feed_n(const char *in, size_t n)
{
    size_t pos = 0;

    buf_reset(&out);
    while (pos < n) {
        const char *nl = memchr(in + pos, '\n', n - pos);
        size_t len;
        char *line;

        ck_assert_msg(nl != NULL, "unterminated line in test input");
        len = (size_t)(nl - (in + pos));
        line = malloc(len + 1);
        ck_assert_ptr_nonnull(line);
        memcpy(line, in + pos, len);
        line[len] = '\0';
        pos += len + 1;
        if (len > 1 && line[len - 1] == '\r')
            len--;
        last_next = cmd_process_line(&c, line, len);
        free(line);
        if (last_next == CMD_READ_VALUE) {
            size_t nbytes = c.item->nbytes;
            ck_assert_msg(pos + nbytes <= n, "test input lacks the data block");
            memcpy(item_value(c.item), in + pos, nbytes);
            pos += nbytes;
            cmd_value_done(&c);
            ck_assert_ptr_null(c.item);
        } else if (last_next == CMD_SWALLOW) {
            size_t skip = c.swallow < n - pos ? (size_t)c.swallow : n - pos;
            pos += skip;
            c.swallow = 0;
        } else if (last_next == CMD_CLOSE) {
            break;
        }
    }
    ck_assert(!out.oom);
    free(reply);
    reply = malloc(buf_pending(&out) + 1);
    ck_assert_ptr_nonnull(reply);
    if (buf_pending(&out) > 0)
        memcpy(reply, out.data + out.off, buf_pending(&out));
    reply[buf_pending(&out)] = '\0';
    return reply;
}

static const char *feed(const char *in)
{
    return feed_n(in, strlen(in));
}

/* The CAS value a gets returns for key (which must exist). */
static inline unsigned long long cas_of(const char *key)
{
    char cmdline[300];
    unsigned long long cas;
    unsigned flags, len;

    snprintf(cmdline, sizeof(cmdline), "gets %s\r\n", key);
    feed(cmdline);
    ck_assert_msg(sscanf(reply, "VALUE %*s %u %u %llu", &flags, &len, &cas) == 3,
                  "no CAS in %s", reply);
    return cas;
}

#endif
