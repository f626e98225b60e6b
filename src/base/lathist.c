/* lathist: log-spaced latency buckets, recorded by their one writer. */
#include "base/lathist.h"

#include <string.h>
#include <time.h>

unsigned lat_bucket(uint64_t ns)
{
    uint64_t us = (ns + 999) / 1000; /* rounded up: ns <= us * 1000 */
    unsigned bits;

    if (us <= (1u << LAT_MIN_SHIFT))
        return 0;
    /* the smallest b with us <= 2^b is the bit length of us - 1 */
    bits = 64u - (unsigned)__builtin_clzll(us - 1);
    if (bits - LAT_MIN_SHIFT >= LAT_BUCKETS)
        return LAT_BUCKETS;
    return bits - LAT_MIN_SHIFT;
}

uint64_t lat_bound_ns(unsigned i)
{
    return (1ull << (i + LAT_MIN_SHIFT)) * 1000;
}

static int word_is(const char *w, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(w, name, n) == 0;
}

enum lat_cmd lat_classify(const char *line, size_t len)
{
    static const struct {
        const char *name;
        enum lat_cmd cmd;
    } words[] = {
        {"get", LAT_GET},       {"gets", LAT_GET},    {"gat", LAT_GET},
        {"gats", LAT_GET},      {"mg", LAT_GET},      {"set", LAT_SET},
        {"add", LAT_SET},       {"replace", LAT_SET}, {"append", LAT_SET},
        {"prepend", LAT_SET},   {"cas", LAT_SET},     {"ms", LAT_SET},
        {"delete", LAT_DELETE}, {"md", LAT_DELETE},   {"incr", LAT_ARITH},
        {"decr", LAT_ARITH},    {"ma", LAT_ARITH},    {"touch", LAT_TOUCH},
    };
    size_t n = 0;

    while (n < len && line[n] != ' ' && line[n] != '\0')
        n++;
    if (n < 2 || n > 7) /* no word of the table: not worth the loop */
        return LAT_OTHER;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (word_is(line, n, words[i].name))
            return words[i].cmd;
    }
    return LAT_OTHER;
}

const char *lat_cmd_name(enum lat_cmd c)
{
    static const char *const names[LAT_NCMD] = {"get",       "set",   "delete",
                                                "incr_decr", "touch", "other"};

    return (unsigned)c < LAT_NCMD ? names[c] : "other";
}

const char *lat_path_name(enum lat_path p)
{
    return p == LAT_FORWARDED ? "forwarded" : "local";
}

uint64_t lat_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void add_relaxed(uint64_t *p, uint64_t n)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

void lat_record(struct lat_hist *h, enum lat_cmd c, enum lat_path p, uint64_t ns)
{
    struct lat_cell *cell = &h->cell[c][p];

    add_relaxed(&cell->count[lat_bucket(ns)], 1);
    add_relaxed(&cell->sum_ns, ns);
}

void lat_reset(struct lat_hist *h)
{
    for (int c = 0; c < LAT_NCMD; c++) {
        for (int p = 0; p < LAT_NPATH; p++) {
            struct lat_cell *cell = &h->cell[c][p];
            for (int b = 0; b <= LAT_BUCKETS; b++)
                __atomic_store_n(&cell->count[b], 0, __ATOMIC_RELAXED);
            __atomic_store_n(&cell->sum_ns, 0, __ATOMIC_RELAXED);
        }
    }
}

void lat_sum(const struct lat_hist *const *all, int n, struct lat_hist *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < LAT_NCMD; c++) {
            for (int p = 0; p < LAT_NPATH; p++) {
                const struct lat_cell *in = &all[i]->cell[c][p];
                struct lat_cell *o = &out->cell[c][p];
                for (int b = 0; b <= LAT_BUCKETS; b++)
                    o->count[b] += __atomic_load_n(&in->count[b], __ATOMIC_RELAXED);
                o->sum_ns += __atomic_load_n(&in->sum_ns, __ATOMIC_RELAXED);
            }
        }
    }
}
