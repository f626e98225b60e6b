/*
 * fuzz_admintext: arbitrary bytes through the admin port's text handling:
 * the STAT lines of a `stats` reply (another member's reply is parsed, so a
 * hostile peer controls them), the metrics made from them, URL keys and
 * `lru_crawler metadump` lines.
 *
 * Checks: no crash or undefined behaviour (the sanitizers); a decoded key
 * is never longer than its source; every metric line written has a valid
 * metric name; a metadump line accepted has a key of 1 to 250 bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admintext.h"
#include "admin/promtext.h"
#include "base/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_admintext: invariant broken: %s\n", what);
        abort();
    }
}

static void count_stat(void *arg, const char *name, size_t nname, const char *value,
                       size_t nvalue)
{
    (void)value;
    (void)nvalue;
    check(nname > 0, "empty stat name");
    check(memchr(name, '\n', nname) == NULL, "stat name spans lines");
    (*(size_t *)arg)++;
}

/* Every sample line of a Prometheus text starts with a valid name. */
static void check_metrics(const struct buf *b)
{
    const char *p, *end;

    if (b->len == 0)
        return; /* data may be NULL: not even data + 0 */
    p = b->data;
    end = b->data + b->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[0] != '#') {
            char name[PROM_NAME_MAX + 1];
            size_t k = strcspn(p, "{ \n");
            check(k > 0 && k <= PROM_NAME_MAX && k <= n, "metric name length");
            memcpy(name, p, k);
            name[k] = '\0';
            check(prom_name_valid(name), "metric name");
        }
        p += n + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly sized copies, so that ASan sees any read or write past them. */
    char *in = malloc(size > 0 ? size : 1), *dst = malloc(size > 0 ? size : 1);
    char(*seen)[PROM_NAME_MAX] = calloc(64, sizeof(*seen));
    struct admintext_meta meta;
    struct buf out;
    size_t nstats = 0;
    uint64_t v;
    long n;

    if (in == NULL || dst == NULL || seen == NULL)
        abort();
    memcpy(in, data, size);
    admintext_stats(in, size, count_stat, &nstats);
    admintext_stat_u64(in, size, "curr_items", &v);
    admintext_starts(in, size, "STAT ");

    n = admintext_pct_decode(in, size, dst);
    check(n >= -1 && n <= (long)size, "decoded length");

    buf_init(&out);
    prom_stats(&out, in, size, seen, 0, 64);
    if (!out.oom)
        check_metrics(&out);
    buf_free(&out);

    for (const char *p = in, *end = in + size; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (admintext_metadump(p, len, &meta))
            check(meta.nkey >= 1 && meta.nkey <= 250, "metadump key length");
        p += len + 1;
    }
    free(seen);
    free(dst);
    free(in);
    return 0;
}
