/* cmd_stats: the `stats` command family, with memcached's field names. */
#include "cmd/cmd_internal.h"
#include "base/connreg.h"
#include "base/logger.h"
#include "base/mctime.h"
#include "base/prefix.h"
#include "base/tls.h"

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

/* Prints each name with the value 0: memcached's counters of mechanisms
 * meshcached does not have, for dashboards that expect every field. */
static void zeros(struct buf *o, const char *const *names)
{
    for (; *names != NULL; names++)
        stats_line(o, *names, "0");
}

static const char *const zero_conn_fields[] = {
    "response_obj_oom", "response_obj_count", "response_obj_bytes",
    "read_buf_count",   "read_buf_bytes",     "read_buf_bytes_free",
    "read_buf_oom",     "reserved_fds",       NULL};
static const char *const zero_slab_fields[] = {
    "slab_reassign_rescues",         "slab_reassign_chunk_rescues",
    "slab_reassign_evictions_nomem", "slab_reassign_inline_reclaim",
    "slab_reassign_busy_items",      "slab_reassign_busy_deletes",
    "slab_reassign_running",         "slabs_moved",
    "lru_crawler_running",           NULL};
static const char *const zero_lru_fields[] = {
    "crawler_reclaimed", "crawler_items_checked", "lrutail_reflocked",
    "moves_to_cold",     "moves_to_warm",         "moves_within_lru",
    "direct_reclaims",   "lru_bumps_dropped",     NULL};

static void stats_general(struct cmd *c)
{
    struct server *srv = c->srv;
    struct buf *o = c->out;
    struct thread_stats t;
    struct store_stats ss;
    struct rusage ru;
    struct logger_stats ls;
    rel_time_t now = mctime_now();
    unsigned hash_power = 0;

    sum_threads(srv, &t);
    store_get_stats(srv->store, &ss);
    getrusage(RUSAGE_SELF, &ru);
    logger_get_stats(srv->logger, &ls);
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
    zeros(o, zero_conn_fields);
#define LINE(name) stats_line(o, #name, "%llu", (unsigned long long)t.name);
    THREAD_STATS_MEMCACHED(LINE)
#undef LINE
    stats_line(o, "limit_maxbytes", "%llu",
               (unsigned long long)store_mem_limit(srv->store));
    stats_line(o, "accepting_conns", "%d", 1);
    stats_line(o, "listen_disabled_num", "0");
    stats_line(o, "time_in_listen_disabled_us", "0");
    stats_line(o, "threads", "%d", srv->settings.num_threads);
    stats_line(o, "conn_yields", "%llu", (unsigned long long)t.conn_yields);
    stats_line(o, "hash_power_level", "%u", hash_power);
    stats_line(o, "hash_bytes", "%llu", (unsigned long long)ss.table_bytes);
    stats_line(o, "hash_is_expanding", "%d", ss.hash_expanding > 0);
    zeros(o, zero_slab_fields);
    stats_line(o, "lru_crawler_starts", "%llu",
               (unsigned long long)load(&srv->lru_crawler_starts));
    stats_line(o, "lru_maintainer_juggles", "0");
    stats_line(o, "malloc_fails", "0");
    stats_line(o, "log_worker_dropped", "%llu", (unsigned long long)ls.dropped);
    stats_line(o, "log_worker_written", "%llu", (unsigned long long)ls.written);
    stats_line(o, "log_watcher_skipped", "%llu", (unsigned long long)ls.skipped);
    stats_line(o, "log_watcher_sent", "%llu", (unsigned long long)ls.sent);
    stats_line(o, "log_watchers", "%llu", (unsigned long long)ls.watchers);
    if (tls_enabled()) {
        if (srv->settings.ssl_session_cache)
            stats_line(o, "ssl_new_sessions", "%llu",
                       (unsigned long long)tls_new_sessions());
        stats_line(o, "ssl_handshake_errors", "%llu",
                   (unsigned long long)tls_handshake_errors());
        stats_line(o, "time_since_server_cert_refresh", "%u", now - tls_cert_loaded_at());
    }
    stats_line(o, "unexpected_napi_ids", "0");
    stats_line(o, "round_robin_fallback", "0");
    stats_line(o, "bytes", "%llu", (unsigned long long)ss.bytes);
    stats_line(o, "curr_items", "%llu", (unsigned long long)ss.curr_items);
    stats_line(o, "total_items", "%llu", (unsigned long long)ss.total_items);
    stats_line(o, "slab_global_page_pool", "0");
    stats_line(o, "expired_unfetched", "%llu", (unsigned long long)ss.expired_unfetched);
    stats_line(o, "evicted_unfetched", "%llu", (unsigned long long)ss.evicted_unfetched);
    stats_line(o, "evicted_active", "0");
    stats_line(o, "evictions", "%llu", (unsigned long long)ss.evictions);
    stats_line(o, "reclaimed", "%llu", (unsigned long long)ss.reclaimed);
    zeros(o, zero_lru_fields);
    /* meshcached's own */
    stats_line(o, "memory_used", "%llu", (unsigned long long)ss.mem_used);
    stats_line(o, "outofmemory", "%llu", (unsigned long long)ss.outofmemory);
    stats_line(o, "protocol_errors", "%llu", (unsigned long long)t.protocol_errors);
    stats_line(o, "lines_too_long", "%llu", (unsigned long long)t.lines_too_long);
    stats_line(o, "reply_batches", "%llu", (unsigned long long)t.reply_batches);
    stats_line(o, "reply_batch_sends", "%llu", (unsigned long long)t.reply_batch_sends);
    stats_line(o, "lease_wins", "%llu", (unsigned long long)t.lease_wins);
    stats_line(o, "lease_losses", "%llu", (unsigned long long)t.lease_losses);
}

/* memcached's ssl_* settings lines; NULL for a file not given ("(null)"
 * for the chain and key without -Z, as memcached prints them). */
static void stats_ssl(struct buf *o, const struct settings *s)
{
    const char *none = s->ssl_enabled ? "NULL" : "(null)";

    stats_line(o, "ssl_enabled", "%s", s->ssl_enabled ? "yes" : "no");
    stats_line(o, "ssl_chain_cert", "%s",
               s->ssl_chain_cert[0] ? s->ssl_chain_cert : none);
    stats_line(o, "ssl_key", "%s", s->ssl_key[0] ? s->ssl_key : none);
    stats_line(o, "ssl_verify_mode", "%d", s->ssl_verify_mode);
    stats_line(o, "ssl_keyformat", "%d", s->ssl_keyformat);
    stats_line(o, "ssl_ciphers", "%s", s->ssl_ciphers[0] ? s->ssl_ciphers : "NULL");
    stats_line(o, "ssl_ca_cert", "%s", s->ssl_ca_cert[0] ? s->ssl_ca_cert : "NULL");
    stats_line(o, "ssl_wbuf_size", "%u", s->ssl_wbuf_size);
    stats_line(o, "ssl_session_cache", "%s", s->ssl_session_cache ? "yes" : "no");
    stats_line(o, "ssl_kernel_tls", "%s", s->ssl_kernel_tls ? "yes" : "no");
    stats_line(o, "ssl_min_version", "%s", tls_version_name(s->ssl_min_version));
}

static void stats_settings(struct cmd *c)
{
    const struct settings *s = &c->srv->settings;
    struct buf *o = c->out;

    stats_line(o, "maxbytes", "%llu", (unsigned long long)store_mem_limit(c->srv->store));
    stats_line(o, "maxconns", "%d", s->maxconns);
    stats_line(o, "tcpport", "%d", s->port);
    stats_line(o, "udpport", "%d", 0);
    stats_line(o, "inter", "%s", s->listen_addr);
    stats_line(o, "verbosity", "%d", __atomic_load_n(&c->srv->verbose, __ATOMIC_RELAXED));
    stats_line(o, "oldest", "0");
    stats_line(o, "evictions", "%s", s->evict_to_free ? "on" : "off");
    stats_line(o, "domain_socket", "NULL");
    stats_line(o, "umask", "700");
    stats_line(o, "shutdown_command", "%s", s->shutdown_command ? "yes" : "no");
    stats_line(o, "num_threads", "%d", s->num_threads);
    stats_line(o, "stat_key_prefix", "%c", s->prefix_delimiter);
    stats_line(o, "detail_enabled", "%s", prefix_enabled(c->srv->prefix) ? "yes" : "no");
    stats_line(o, "reqs_per_event", "%d", s->reqs_per_event);
    stats_line(o, "cas_enabled", "%s", s->use_cas ? "yes" : "no");
    stats_line(o, "tcp_backlog", "%d", s->backlog);
    stats_line(o, "binding_protocol", "%s",
               s->protocol_auto ? "auto-negotiate" : "ascii");
    stats_line(o, "auth_enabled_sasl", "no");
    stats_line(o, "auth_enabled_ascii", "%s",
               s->auth_file[0] != '\0' ? s->auth_file : "no");
    stats_line(o, "item_size_max", "%u", s->item_size_max);
    stats_line(o, "lru_crawler", "%s",
               __atomic_load_n(&c->srv->lru_crawler, __ATOMIC_RELAXED) ? "yes" : "no");
    stats_line(o, "lru_crawler_sleep", "%u",
               __atomic_load_n(&c->srv->lru_crawler_sleep, __ATOMIC_RELAXED));
    stats_line(o, "lru_crawler_tocrawl", "%u",
               __atomic_load_n(&c->srv->lru_crawler_tocrawl, __ATOMIC_RELAXED));
    stats_line(o, "flush_enabled", "%s", s->flush_enabled ? "yes" : "no");
    stats_line(o, "dump_enabled", "%s", s->dump_enabled ? "yes" : "no");
    stats_line(o, "hash_algorithm", "murmur3");
    stats_line(o, "idle_timeout", "%u", s->idle_timeout);
    stats_line(o, "io_uring", "%s",
               !s->io_uring ? "no"
               : __atomic_load_n(&c->srv->uring_workers, __ATOMIC_RELAXED) > 0
                   ? "yes"
                   : "unavailable");
    stats_line(o, "io_uring_loop", "%d",
               __atomic_load_n(&c->srv->uring_loop_workers, __ATOMIC_RELAXED));
    stats_line(o, "watcher_logbuf_size", "%u", LOGGER_QUEUE_MAX);
    stats_ssl(o, s);
    stats_line(o, "hotkeys_k", "%u", s->hotkeys_k);
    stats_line(o, "hot_cache_ms", "%u", s->hot_cache_ms);
    stats_line(o, "hot_cache_mb", "%u", s->hot_cache_mb);
    stats_line(o, "ttl_jitter_pct", "%u", s->ttl_jitter_pct);
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
    stats_line(c->out, "read_failovers", "%llu", (unsigned long long)t.read_failovers);
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
    REPL_STAT(collapsed)
    REPL_STAT(near_hits)
    REPL_STAT(near_fills)
    REPL_STAT(near_invalidations)
#undef REPL_STAT
}

static void stats_reset(struct cmd *c)
{
    for (int i = 0; i < c->srv->nworkers; i++)
        stats_reset_thread(c->srv->thread_stats[i]);
    store_reset_stats(c->srv->store);
    prefix_clear(c->srv->prefix);
    __atomic_store_n(&conn_stats.total_connections, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&conn_stats.rejected_connections, 0, __ATOMIC_RELAXED);
}

enum cmd_next cmd_stats(struct cmd *c, struct token *tokens, size_t ntokens)
{
    const char *sub = tokens[1].value;

    if (ntokens == 2) {
        stats_general(c);
    } else if (strcmp(sub, "reset") == 0) {
        stats_reset(c);
        cmd_reply(c, "RESET");
        return CMD_NEXT_LINE;
    } else if (strcmp(sub, "detail") == 0) {
        cmd_stats_detail(c, tokens, ntokens);
        return CMD_NEXT_LINE;
    } else if (strcmp(sub, "cachedump") == 0) {
        return cmd_stats_cachedump(c, tokens, ntokens);
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
    } else if (strcmp(sub, "hotkeys") == 0) {
        if (c->srv->hotkeys_stats != NULL)
            c->srv->hotkeys_stats(c->srv->hotkeys_stats_arg, c->out);
    } else if (strcmp(sub, "conns") == 0) {
        connreg_dump(c->out, mctime_now());
    } else {
        cmd_reply(c, "ERROR");
        return CMD_NEXT_LINE;
    }
    buf_append(c->out, "END\r\n", 5);
    return CMD_NEXT_LINE;
}
