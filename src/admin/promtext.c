/* promtext: Prometheus' text format, and `stats` fields as metrics. */
#include "admin/promtext.h"
#include "admin/admintext.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

bool prom_name_valid(const char *name)
{
    if (name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == ':'))
            return false;
    }
    return true;
}

void prom_family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_append_str(out, "# HELP ");
    buf_append_str(out, name);
    buf_append_str(out, " ");
    buf_append_str(out, help);
    buf_append_str(out, "\n# TYPE ");
    buf_append_str(out, name);
    buf_append_str(out, " ");
    buf_append_str(out, type);
    buf_append_str(out, "\n");
}

void prom_label(struct buf *out, bool first, const char *key, const char *value)
{
    if (!first)
        buf_append_str(out, ",");
    buf_append_str(out, key);
    buf_append_str(out, "=\"");
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\')
            buf_append_str(out, "\\\\");
        else if (*p == '"')
            buf_append_str(out, "\\\"");
        else if (*p == '\n')
            buf_append_str(out, "\\n");
        else
            buf_append(out, p, 1);
    }
    buf_append_str(out, "\"");
}

static void sample_start(struct buf *out, const char *name, const char *labels)
{
    buf_append_str(out, name);
    if (labels != NULL && labels[0] != '\0') {
        buf_append_str(out, "{");
        buf_append_str(out, labels);
        buf_append_str(out, "}");
    }
    buf_append_str(out, " ");
}

void prom_sample(struct buf *out, const char *name, const char *labels, double value)
{
    char num[64];

    sample_start(out, name, labels);
    if (isnan(value))
        snprintf(num, sizeof(num), "NaN");
    else if (isinf(value))
        snprintf(num, sizeof(num), value > 0 ? "+Inf" : "-Inf");
    else if (value == floor(value) && fabs(value) < 1e15)
        snprintf(num, sizeof(num), "%.0f", value);
    else
        snprintf(num, sizeof(num), "%.15g", value);
    buf_append_str(out, num);
    buf_append_str(out, "\n");
}

void prom_sample_u64(struct buf *out, const char *name, const char *labels, uint64_t v)
{
    sample_start(out, name, labels);
    buf_append_u64(out, (unsigned long long)v);
    buf_append_str(out, "\n");
}

/* Fields whose metric is not meshcached_<field>_total. */
static const struct {
    const char *stat;
    const char *metric; /* without the prefix; NULL: the field's name */
    enum prom_kind kind;
    double scale;
} rules[] = {
    /* text, identities and clocks Prometheus has better ways to show */
    {"pid", NULL, PROM_SKIP, 1},
    {"version", NULL, PROM_SKIP, 1},
    {"libevent", NULL, PROM_SKIP, 1},
    {"pointer_size", NULL, PROM_SKIP, 1},
    {"self", NULL, PROM_SKIP, 1},
    {"ae_layout", NULL, PROM_SKIP, 1},
    {"time", NULL, PROM_SKIP, 1},
    /* per-member lines: meshcached_cluster_members by state instead */
    {"member:", NULL, PROM_SKIP, 1},
    /* gauges */
    {"uptime", "uptime_seconds", PROM_GAUGE, 1},
    {"max_connections", NULL, PROM_GAUGE, 1},
    {"curr_connections", "current_connections", PROM_GAUGE, 1},
    {"connection_structures", NULL, PROM_GAUGE, 1},
    {"reserved_fds", NULL, PROM_GAUGE, 1},
    {"response_obj_count", NULL, PROM_GAUGE, 1},
    {"response_obj_bytes", NULL, PROM_GAUGE, 1},
    {"read_buf_count", NULL, PROM_GAUGE, 1},
    {"read_buf_bytes", NULL, PROM_GAUGE, 1},
    {"read_buf_bytes_free", NULL, PROM_GAUGE, 1},
    {"limit_maxbytes", "limit_bytes", PROM_GAUGE, 1},
    {"accepting_conns", NULL, PROM_GAUGE, 1},
    {"threads", NULL, PROM_GAUGE, 1},
    {"hash_power_level", NULL, PROM_GAUGE, 1},
    {"hash_bytes", NULL, PROM_GAUGE, 1},
    {"hash_is_expanding", NULL, PROM_GAUGE, 1},
    {"slab_reassign_running", NULL, PROM_GAUGE, 1},
    {"lru_crawler_running", NULL, PROM_GAUGE, 1},
    {"log_watchers", NULL, PROM_GAUGE, 1},
    {"bytes", "current_bytes", PROM_GAUGE, 1},
    {"curr_items", "current_items", PROM_GAUGE, 1},
    {"slab_global_page_pool", NULL, PROM_GAUGE, 1},
    {"memory_used", "memory_used_bytes", PROM_GAUGE, 1},
    {"ring_epoch", NULL, PROM_GAUGE, 1},
    {"hotkeys_k", NULL, PROM_GAUGE, 1},
    {"hot_keys_tracked", NULL, PROM_GAUGE, 1},
    {"near_entries", "near_cache_entries", PROM_GAUGE, 1},
    {"near_bytes", "near_cache_bytes", PROM_GAUGE, 1},
    {"hotkey:", NULL, PROM_SKIP, 1},
    {"ring_vnodes", NULL, PROM_GAUGE, 1},
    {"ring_nodes", NULL, PROM_GAUGE, 1},
    {"ring_down", "ring_down_nodes", PROM_GAUGE, 1},
    {"ring_share", "ring_share_ratio", PROM_GAUGE, 1},
    {"peer_timeout_ms", "peer_timeout_seconds", PROM_GAUGE, 0.001},
    {"replicas", NULL, PROM_GAUGE, 1},
    {"write_quorum", NULL, PROM_GAUGE, 1},
    {"read_quorum", NULL, PROM_GAUGE, 1},
    {"gossip_interval_ms", "gossip_interval_seconds", PROM_GAUGE, 0.001},
    {"handoff_progress", NULL, PROM_GAUGE, 1},
    {"receiving", "receiving_ranges", PROM_GAUGE, 1},
    /* counters in base units */
    {"rusage_user", "cpu_user_seconds_total", PROM_COUNTER, 1},
    {"rusage_system", "cpu_system_seconds_total", PROM_COUNTER, 1},
    {"bytes_read", "read_bytes_total", PROM_COUNTER, 1},
    {"bytes_written", "written_bytes_total", PROM_COUNTER, 1},
    {"total_connections", "connections_total", PROM_COUNTER, 1},
    {"total_items", "items_total", PROM_COUNTER, 1},
    {"time_in_listen_disabled_us", "listen_disabled_seconds_total", PROM_COUNTER, 1e-6},
    {"gossip_bytes_in", "gossip_in_bytes_total", PROM_COUNTER, 1},
    {"gossip_bytes_out", "gossip_out_bytes_total", PROM_COUNTER, 1},
    {"ae_bytes_in", "ae_in_bytes_total", PROM_COUNTER, 1},
    {"ae_bytes_out", "ae_out_bytes_total", PROM_COUNTER, 1},
};

enum prom_kind prom_stat_metric(const char *stat, size_t nstat, char *name, double *scale)
{
    size_t o;

    *scale = 1;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        size_t nr = strlen(rules[i].stat);
        bool prefix = rules[i].stat[nr - 1] == ':';
        if (prefix ? nstat < nr || memcmp(stat, rules[i].stat, nr) != 0
                   : nr != nstat || memcmp(stat, rules[i].stat, nr) != 0)
            continue;
        if (rules[i].kind == PROM_SKIP)
            return PROM_SKIP;
        *scale = rules[i].scale;
        if (rules[i].metric != NULL) {
            snprintf(name, PROM_NAME_MAX, PROM_PREFIX "%s", rules[i].metric);
            return rules[i].kind;
        }
        if (rules[i].kind == PROM_GAUGE) {
            snprintf(name, PROM_NAME_MAX, PROM_PREFIX "%.*s", (int)nstat, stat);
            return PROM_GAUGE;
        }
    }
    /* a counter: meshcached_<stat>_total, in characters a name may have */
    o = (size_t)snprintf(name, PROM_NAME_MAX, PROM_PREFIX);
    for (size_t i = 0; i < nstat && o + 7 < PROM_NAME_MAX; i++) {
        char c = stat[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_';
        name[o++] = ok ? c : '_';
    }
    snprintf(name + o, PROM_NAME_MAX - o, "_total");
    return PROM_COUNTER;
}

/* A stat's value as a number: an integer, or a decimal such as "0.1234"
 * or rusage's "12.000345". */
static bool parse_number(const char *v, size_t n, double *out)
{
    char tmp[64], *end;

    if (n == 0 || n >= sizeof(tmp))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((v[i] >= '0' && v[i] <= '9') || v[i] == '.' || (i == 0 && v[i] == '-')))
            return false;
    }
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    *out = strtod(tmp, &end);
    return *end == '\0';
}

struct stats_walk {
    struct buf *out;
    char (*seen)[PROM_NAME_MAX];
    size_t n, cap;
};

static void one_stat(void *arg, const char *name, size_t nname, const char *value,
                     size_t nvalue)
{
    struct stats_walk *w = arg;
    char metric[PROM_NAME_MAX], help[PROM_NAME_MAX + 32];
    enum prom_kind kind;
    double scale, v;

    kind = prom_stat_metric(name, nname, metric, &scale);
    if (kind == PROM_SKIP || !parse_number(value, nvalue, &v) || w->n == w->cap)
        return;
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->seen[i], metric) == 0)
            return;
    }
    snprintf(w->seen[w->n++], PROM_NAME_MAX, "%s", metric);
    snprintf(help, sizeof(help), "The %.*s field of stats.", (int)nname, name);
    prom_family(w->out, metric, kind == PROM_COUNTER ? "counter" : "gauge", help);
    prom_sample(w->out, metric, NULL, v * scale);
}

size_t prom_stats(struct buf *out, const char *text, size_t len,
                  char (*seen)[PROM_NAME_MAX], size_t n, size_t cap)
{
    struct stats_walk w = {.out = out, .seen = seen, .n = n, .cap = cap};

    admintext_stats(text, len, one_stat, &w);
    return w.n;
}

void prom_latency(struct buf *out, const struct lat_hist *h)
{
    static const char name[] = PROM_PREFIX "command_duration_seconds";

    prom_family(out, name, "histogram",
                "Time from a command's line read to its reply queued, by command "
                "class and by where it was served.");
    for (int c = 0; c < LAT_NCMD; c++) {
        for (int p = 0; p < LAT_NPATH; p++) {
            const struct lat_cell *cell = &h->cell[c][p];
            struct buf labels;
            uint64_t cum = 0;
            size_t base;

            buf_init(&labels);
            prom_label(&labels, true, "cmd", lat_cmd_name((enum lat_cmd)c));
            prom_label(&labels, false, "path", lat_path_name((enum lat_path)p));
            base = labels.len;
            for (unsigned b = 0; b <= LAT_BUCKETS; b++) {
                char le[32];
                cum += cell->count[b];
                if (b < LAT_BUCKETS)
                    snprintf(le, sizeof(le), "%.9g", (double)lat_bound_ns(b) / 1e9);
                else
                    snprintf(le, sizeof(le), "+Inf");
                labels.len = base;
                prom_label(&labels, false, "le", le);
                buf_append(&labels, "", 1); /* NUL-terminated for the sample */
                prom_sample_u64(out, PROM_PREFIX "command_duration_seconds_bucket",
                                labels.data, cum);
            }
            labels.len = base;
            buf_append(&labels, "", 1);
            prom_sample(out, PROM_PREFIX "command_duration_seconds_sum", labels.data,
                        (double)cell->sum_ns / 1e9);
            prom_sample_u64(out, PROM_PREFIX "command_duration_seconds_count",
                            labels.data, cum);
            buf_free(&labels);
        }
    }
}
