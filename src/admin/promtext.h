/*
 * promtext: the Prometheus text exposition format (version 0.0.4) of the
 * admin port's /metrics: metric names, families, samples, the latency
 * histograms, and the mapping of every `stats` field to a metric.
 *
 * Naming follows Prometheus' rules: one prefix (meshcached_), base units
 * (seconds, bytes) named in the metric, `_total` on counters, no per-key
 * labels. Pure: no I/O, no locks, no clock; any thread.
 */
#ifndef MESHCACHED_PROMTEXT_H
#define MESHCACHED_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/lathist.h"

#define PROM_PREFIX   "meshcached_"
#define PROM_NAME_MAX 128

/* Whether name matches [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool prom_name_valid(const char *name);

/* Appends "# HELP name help\n# TYPE name type\n" (type "counter", "gauge",
 * "histogram"). */
void prom_family(struct buf *out, const char *name, const char *type, const char *help);

/* Appends `key="value"`, the value escaped (\\, \", \n), after a ',' when
 * first is false. */
void prom_label(struct buf *out, bool first, const char *key, const char *value);

/* Appends one sample line "name{labels} value\n"; labels (without the
 * braces) may be NULL or "". Integers print exactly; non-finite values as
 * +Inf, -Inf, NaN. */
void prom_sample(struct buf *out, const char *name, const char *labels, double value);
void prom_sample_u64(struct buf *out, const char *name, const char *labels, uint64_t v);

/* How a `stats` field becomes a metric. */
enum prom_kind {
    PROM_SKIP,    /* not a number worth a metric (version, pid ...) */
    PROM_COUNTER, /* only grows (until stats reset) */
    PROM_GAUGE,   /* goes up and down */
};

/* The metric of `stats` field stat: its kind, its full name into name
 * (PROM_NAME_MAX bytes) and the factor that turns the field's value into
 * base units (ms -> s ...). Fields it does not know are counters named
 * meshcached_<stat>_total, with characters outside [a-zA-Z0-9_] as '_'. */
enum prom_kind prom_stat_metric(const char *stat, size_t nstat, char *name,
                                double *scale);

/* Appends one family per numeric STAT line of text[0..len) (a `stats` or
 * `stats cluster` reply), skipping names already in the seen list of n
 * names; adds what it wrote to it (room for cap). Returns the new n. */
size_t prom_stats(struct buf *out, const char *text, size_t len,
                  char (*seen)[PROM_NAME_MAX], size_t n, size_t cap);

/* Appends the histogram family meshcached_command_duration_seconds, with
 * labels cmd and path, from h (a sum over the workers). */
void prom_latency(struct buf *out, const struct lat_hist *h);

#endif
