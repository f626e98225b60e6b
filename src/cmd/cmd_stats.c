/* cmd_stats: the `stats` command family, with memcached's field names. */
#include "cmd/cmd_internal.h"
#include "base/mctime.h"

#include <event2/event.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"

static void sum_threads(struct server *srv, struct thread_stats *sum)
{
    struct thread_stats *all[256];
    int n = srv->nworkers < 256 ? srv->nworkers : 256;

    for (int i = 0; i < n; i++)
        all[i] = srv->thread_stats[i];
    stats_sum(all, n, sum);
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void stats_general(struct cmd *c)
{
    struct server *srv = c->srv;
    struct buf *o = c->out;
    struct thread_stats t;
    struct store_stats ss;
    struct rusage ru;
    rel_time_t now = mctime_now();
    unsigned hash_power = 0;

    sum_threads(srv, &t);
    store_get_stats(srv->store, &ss);
    getrusage(RUSAGE_SELF, &ru);
    while ((1ULL << hash_power) < ss.hash_buckets)
        hash_power++;

    stats_line(o, "pid", "%ld", (long)getpid());
    stats_line(o, "uptime", "%u", now - 2);
    stats_line(o, "time", "%ld", (long)mctime_to_unix(now));
    stats_line(o, "version", "%s", CMD_VERSION_STRING);
    stats_line(o, "libevent", "%s", event_get_version());
    stats_line(o, "pointer_size", "%d", (int)(8 * sizeof(void *)));
    stats_line(o, "rusage_user", "%ld.%06ld", (long)ru.ru_utime.tv_sec,
               (long)ru.ru_utime.tv_usec);
    stats_line(o, "rusage_system", "%ld.%06ld", (long)ru.ru_stime.tv_sec,
               (long)ru.ru_stime.tv_usec);
    stats_line(o, "max_connections", "%d", srv->settings.maxconns);
    stats_line(o, "curr_connections", "%llu",
               (unsigned long long)(load(&conn_stats.curr_connections) +
                                    (uint64_t)srv->nlisteners));
    stats_line(o, "total_connections", "%llu",
               (unsigned long long)load(&conn_stats.total_connections));
    stats_line(o, "rejected_connections", "%llu",
               (unsigned long long)load(&conn_stats.rejected_connections));
    stats_line(o, "connection_structures", "%llu",
               (unsigned long long)load(&conn_stats.connection_structures));
#define LINE(name) stats_line(o, #name, "%llu", (unsigned long long)t.name);
    THREAD_STATS_MEMCACHED(LINE)
#undef LINE
    stats_line(o, "limit_maxbytes", "%llu", (unsigned long long)srv->settings.maxbytes);
    stats_line(o, "accepting_conns", "%d", 1);
    stats_line(o, "threads", "%d", srv->settings.num_threads);
    stats_line(o, "conn_yields", "%llu", (unsigned long long)t.conn_yields);
    stats_line(o, "hash_power_level", "%u", hash_power);
    stats_line(o, "hash_bytes", "%llu", (unsigned long long)ss.table_bytes);
    stats_line(o, "hash_is_expanding", "%d", ss.hash_expanding > 0);
    stats_line(o, "bytes", "%llu", (unsigned long long)ss.bytes);
    stats_line(o, "curr_items", "%llu", (unsigned long long)ss.curr_items);
    stats_line(o, "total_items", "%llu", (unsigned long long)ss.total_items);
    stats_line(o, "expired_unfetched", "%llu", (unsigned long long)ss.expired_unfetched);
    stats_line(o, "evicted_unfetched", "%llu", (unsigned long long)ss.evicted_unfetched);
    stats_line(o, "evictions", "%llu", (unsigned long long)ss.evictions);
    stats_line(o, "reclaimed", "%llu", (unsigned long long)ss.reclaimed);
    /* meshcached's own */
    stats_line(o, "memory_used", "%llu", (unsigned long long)ss.mem_used);
    stats_line(o, "outofmemory", "%llu", (unsigned long long)ss.outofmemory);
    stats_line(o, "protocol_errors", "%llu", (unsigned long long)t.protocol_errors);
    stats_line(o, "lines_too_long", "%llu", (unsigned long long)t.lines_too_long);
}

static void stats_settings(struct cmd *c)
{
    const struct settings *s = &c->srv->settings;
    struct buf *o = c->out;

    stats_line(o, "maxbytes", "%llu", (unsigned long long)s->maxbytes);
    stats_line(o, "maxconns", "%d", s->maxconns);
    stats_line(o, "tcpport", "%d", s->port);
    stats_line(o, "udpport", "%d", 0);
    stats_line(o, "inter", "%s", s->listen_addr);
    stats_line(o, "verbosity", "%d", __atomic_load_n(&c->srv->verbose, __ATOMIC_RELAXED));
    stats_line(o, "evictions", "%s", s->evict_to_free ? "on" : "off");
    stats_line(o, "num_threads", "%d", s->num_threads);
    stats_line(o, "reqs_per_event", "%d", s->reqs_per_event);
    stats_line(o, "cas_enabled", "%s", s->use_cas ? "yes" : "no");
    stats_line(o, "tcp_backlog", "%d", s->backlog);
    stats_line(o, "binding_protocol", "%s", "ascii");
    stats_line(o, "item_size_max", "%u", s->item_size_max);
    stats_line(o, "idle_timeout", "%u", s->idle_timeout);
    stats_line(o, "flush_enabled", "%s", "yes");
}

/* There are no slab classes here: one class (1) holds every item. */
static void stats_items(struct cmd *c)
{
    struct store_stats ss;
    struct buf *o = c->out;

    store_get_stats(c->srv->store, &ss);
    if (ss.curr_items == 0)
        return;
    stats_line(o, "items:1:number", "%llu", (unsigned long long)ss.curr_items);
    stats_line(o, "items:1:age", "%u", ss.oldest_age);
    stats_line(o, "items:1:evicted", "%llu", (unsigned long long)ss.evictions);
    stats_line(o, "items:1:evicted_nonzero", "%llu",
               (unsigned long long)ss.evicted_nonzero);
    stats_line(o, "items:1:outofmemory", "%llu", (unsigned long long)ss.outofmemory);
    stats_line(o, "items:1:reclaimed", "%llu", (unsigned long long)ss.reclaimed);
    stats_line(o, "items:1:expired_unfetched", "%llu",
               (unsigned long long)ss.expired_unfetched);
    stats_line(o, "items:1:evicted_unfetched", "%llu",
               (unsigned long long)ss.evicted_unfetched);
}

static void stats_slabs(struct cmd *c)
{
    struct store_stats ss;
    struct buf *o = c->out;

    store_get_stats(c->srv->store, &ss);
    if (ss.curr_items > 0) {
        stats_line(o, "1:used_chunks", "%llu", (unsigned long long)ss.curr_items);
        stats_line(o, "1:mem_requested", "%llu", (unsigned long long)ss.bytes);
    }
    stats_line(o, "active_slabs", "%d", ss.curr_items > 0);
    stats_line(o, "total_malloced", "%llu", (unsigned long long)ss.mem_used);
}

static void stats_cluster(struct cmd *c)
{
    struct thread_stats t;

    if (c->srv->cluster_stats != NULL)
        c->srv->cluster_stats(c->srv->cluster_stats_arg, c->out);
    sum_threads(c->srv, &t);
    stats_line(c->out, "forwarded", "%llu", (unsigned long long)t.forwarded);
    stats_line(c->out, "forward_errors", "%llu", (unsigned long long)t.forward_errors);
    stats_line(c->out, "write_failovers", "%llu", (unsigned long long)t.write_failovers);
    stats_line(c->out, "late_writes", "%llu", (unsigned long long)t.late_writes);
#define REPL_STAT(name) stats_line(c->out, #name, "%llu", (unsigned long long)t.name);
    REPL_STAT(repl_applied)
    REPL_STAT(repl_writes)
    REPL_STAT(repl_write_failures)
    REPL_STAT(quorum_failures)
    REPL_STAT(read_repairs)
    REPL_STAT(hints_stored)
    REPL_STAT(hints_delivered)
    REPL_STAT(hints_dropped)
    REPL_STAT(dual_reads)
    REPL_STAT(dual_read_hits)
#undef REPL_STAT
}

static void stats_reset(struct cmd *c)
{
    for (int i = 0; i < c->srv->nworkers; i++)
        stats_reset_thread(c->srv->thread_stats[i]);
    store_reset_stats(c->srv->store);
    __atomic_store_n(&conn_stats.total_connections, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&conn_stats.rejected_connections, 0, __ATOMIC_RELAXED);
}

void cmd_stats(struct cmd *c, struct token *tokens, size_t ntokens)
{
    const char *sub = tokens[1].value;

    if (ntokens == 2) {
        stats_general(c);
    } else if (strcmp(sub, "reset") == 0) {
        stats_reset(c);
        cmd_reply(c, "RESET");
        return;
    } else if (strcmp(sub, "detail") == 0) {
        /* per-prefix stats are not kept; answer as memcached does */
        const char *arg = ntokens >= 4 ? tokens[2].value : "";
        if (strcmp(arg, "on") == 0 || strcmp(arg, "off") == 0)
            cmd_reply(c, "OK");
        else if (strcmp(arg, "dump") == 0)
            buf_append(c->out, "END\r\n", 5);
        else
            cmd_reply(c, "CLIENT_ERROR usage: stats detail on|off|dump");
        return;
    } else if (strcmp(sub, "cachedump") == 0) {
        /* no slab classes to dump */
    } else if (strcmp(sub, "settings") == 0) {
        stats_settings(c);
    } else if (strcmp(sub, "items") == 0) {
        stats_items(c);
    } else if (strcmp(sub, "slabs") == 0) {
        stats_slabs(c);
    } else if (strcmp(sub, "sizes") == 0) {
        stats_line(c->out, "sizes_status", "%s", "disabled");
    } else if (strcmp(sub, "cluster") == 0) {
        stats_cluster(c);
    } else if (strcmp(sub, "conns") == 0) {
        /* nothing to report per connection yet */
    } else {
        cmd_reply(c, "ERROR");
        return;
    }
    buf_append(c->out, "END\r\n", 5);
}
