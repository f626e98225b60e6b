/* opcmd: operator commands' arguments and line formats, as memcached's. */
#include "proto/opcmd.h"
#include "base/base64.h"
#include "base/logger.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum opcmd_memlimit opcmd_parse_memlimit(const char *arg, size_t len, uint64_t *bytes)
{
    uint32_t mb;

    if (!util_parse_u32_trunc(arg, len, &mb))
        return OPCMD_MEMLIMIT_NOT_A_NUMBER;
    if (mb < OPCMD_MEMLIMIT_MIN_MB)
        return OPCMD_MEMLIMIT_TOO_SMALL;
    if (mb > OPCMD_MEMLIMIT_MAX_MB)
        return OPCMD_MEMLIMIT_NOT_MEGABYTES;
    *bytes = (uint64_t)mb * 1024 * 1024;
    return OPCMD_MEMLIMIT_OK;
}

int opcmd_parse_classes(const char *arg, bool *class1)
{
    const char *p = arg;

    *class1 = false;
    if (strcmp(arg, "all") == 0 || strcmp(arg, "hash") == 0) {
        *class1 = true;
        return 0;
    }
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        uint32_t id;
        if (n > 0) {
            if (!util_parse_u32_trunc(p, n, &id) || id < 1 || id > OPCMD_MAX_CLASS)
                return -1;
            *class1 |= id == 1;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

unsigned opcmd_watch_type(const char *arg)
{
    static const struct {
        const char *name;
        unsigned mask;
    } types[] = {
        {"fetchers", LOGGER_FETCHERS},   {"mutations", LOGGER_MUTATIONS},
        {"evictions", LOGGER_EVICTIONS}, {"connevents", LOGGER_CONNEVENTS},
        {"deletions", LOGGER_DELETIONS},
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(arg, types[i].name) == 0)
            return types[i].mask;
    return 0;
}

size_t opcmd_metadump_line(char *dst, const struct opcmd_item *it)
{
    char key[OPCMD_URI_KEY_MAX + 1];
    size_t nkey = util_uri_encode(it->key, it->nkey, key);
    int n;

    key[nkey] = '\0';
    n = snprintf(dst, OPCMD_LINE_MAX,
                 "key=%s exp=%" PRId64 " la=%" PRId64 " cas=%" PRIu64
                 " fetch=%s cls=1 size=%" PRIu64 "\n",
                 key, it->exptime == 0 ? (int64_t)-1 : it->exptime, it->atime, it->cas,
                 it->fetched ? "yes" : "no", it->size);
    return n > 0 ? (size_t)n : 0;
}

size_t opcmd_mgdump_line(char *dst, const struct opcmd_item *it)
{
    size_t n = 3;

    memcpy(dst, "mg ", 3);
    if (it->binary) {
        n += base64_encode(it->key, it->nkey, dst + n);
        memcpy(dst + n, " b", 2);
        n += 2;
    } else {
        memcpy(dst + n, it->key, it->nkey);
        n += it->nkey;
    }
    memcpy(dst + n, "\r\n", 2);
    return n + 2;
}

size_t opcmd_cachedump_line(char *dst, const struct opcmd_item *it)
{
    int n = snprintf(dst, OPCMD_LINE_MAX, "ITEM %.*s [%" PRIu32 " b; %" PRId64 " s]\r\n",
                     (int)it->nkey, it->key, it->nvalue, it->exptime);

    return n > 0 ? (size_t)n : 0;
}
