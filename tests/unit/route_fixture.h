/* route_fixture.h: what the check_route* programs share: the request the
 * classifier fills in (r) and the classifier with the item size limit of
 * the plain tests. Each Check program is one file that includes this once,
 * so everything here is static: every program has its own r. */
#ifndef ROUTE_FIXTURE_H
#define ROUTE_FIXTURE_H

#include <stddef.h>

#include "proto/route.h"

#define MAXV (1024u * 1024) /* item_size_max for the plain tests */

static struct route_req r;

static inline enum route_kind classify_n(const char *line, size_t len)
{
    return route_classify(line, len, MAXV, &r);
}

#endif
