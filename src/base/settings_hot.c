/*
 * settings_hot: the -o options of hot-key handling (issue 14), kept apart
 * from settings.c so that neither file grows past one concept.
 */
#include "base/settings.h"
#include "base/util.h"

#include <stddef.h>
#include <string.h>

#define DEFAULT_HOTKEYS_K    16
#define MAX_HOTKEYS_K        128
#define DEFAULT_HOT_CACHE_MS 1000
#define MAX_HOT_CACHE_MS     60000
#define DEFAULT_HOT_CACHE_MB 16
#define MAX_HOT_CACHE_MB     4096
#define MAX_TTL_JITTER_PCT   50

void settings_hot_defaults(struct settings *s)
{
    s->hotkeys_k = DEFAULT_HOTKEYS_K;
    s->hot_cache_ms = DEFAULT_HOT_CACHE_MS;
    s->hot_cache_mb = DEFAULT_HOT_CACHE_MB;
    s->ttl_jitter_pct = 0;
}

void settings_hot_usage(FILE *out)
{
    fputs("    hotkeys_k=<num>            hot keys tracked and listed by stats hotkeys\n"
          "                               (default: 16, min: 1, max: 128)\n"
          "    hot_cache_ms=<ms>          how long a node that does not own a hot key\n"
          "                               serves it from its near cache, 0 for no\n"
          "                               near cache (default: 1000, max: 60000)\n"
          "    hot_cache_mb=<num>         megabytes of the near cache, 0 for none\n"
          "                               (default: 16, max: 4096)\n"
          "    ttl_jitter_pct=<pct>       shortens each expiry time given to a\n"
          "                               storage command by a random 0 to pct\n"
          "                               percent (default: 0, off, max: 50)\n",
          out);
}

static bool number(const char *val, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint32_t v;

    if (val == NULL || *val < '0' || *val > '9' ||
        !util_parse_u32(val, strlen(val), &v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int settings_hot_ext(struct settings *s, const char *opt, const char *val, FILE *err)
{
    static const struct {
        const char *name;
        uint32_t lo, hi;
        size_t off;
    } opts[] = {
        {"hotkeys_k", 1, MAX_HOTKEYS_K, offsetof(struct settings, hotkeys_k)},
        {"hot_cache_ms", 0, MAX_HOT_CACHE_MS, offsetof(struct settings, hot_cache_ms)},
        {"hot_cache_mb", 0, MAX_HOT_CACHE_MB, offsetof(struct settings, hot_cache_mb)},
        {"ttl_jitter_pct", 0, MAX_TTL_JITTER_PCT,
         offsetof(struct settings, ttl_jitter_pct)},
    };

    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (strcmp(opt, opts[i].name) != 0)
            continue;
        if (!number(val, opts[i].lo, opts[i].hi,
                    (uint32_t *)(void *)((char *)s + opts[i].off))) {
            fprintf(err, "meshcached: -o %s needs a number from %u to %u\n", opt,
                    opts[i].lo, opts[i].hi);
            return -1;
        }
        return 1;
    }
    return 0;
}
