/* stats: summing per-thread counters and formatting STAT lines. */
#include "base/stats.h"

#include <stdarg.h>
#include <stdio.h>

struct conn_stats conn_stats;

void stats_sum(struct thread_stats *const *all, int n, struct thread_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < n; i++) {
#define STATS_SUM(name) out->name += __atomic_load_n(&all[i]->name, __ATOMIC_RELAXED);
        THREAD_STATS_FIELDS(STATS_SUM)
#undef STATS_SUM
    }
}

void stats_reset_thread(struct thread_stats *ts)
{
#define STATS_ZERO(name) __atomic_store_n(&ts->name, 0, __ATOMIC_RELAXED);
    THREAD_STATS_FIELDS(STATS_ZERO)
#undef STATS_ZERO
    lat_reset(&ts->lat);
}

void stats_line(struct buf *out, const char *name, const char *fmt, ...)
{
    char val[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(val))
        n = sizeof(val) - 1;
    buf_append(out, "STAT ", 5);
    buf_append_str(out, name);
    buf_append(out, " ", 1);
    buf_append(out, val, (size_t)n);
    buf_append(out, "\r\n", 2);
}
