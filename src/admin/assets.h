/*
 * assets: the dashboard's files (GET / and /assets/...), embedded into the
 * binary at build time by contrib/admin-assets/embed.py, which generates
 * the definition (admin_assets.c in the build tree) after checking the
 * vendored uPlot against its SHA-256 sums. Read-only data: any thread.
 */
#ifndef MESHCACHED_ASSETS_H
#define MESHCACHED_ASSETS_H

#include <stddef.h>

struct admin_asset {
    const char *path; /* the URL path it answers */
    const char *type; /* its Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted, from its SHA-256 */
};

/* The asset served at path, or NULL. */
const struct admin_asset *admin_asset_find(const char *path);

#endif
