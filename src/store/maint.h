/*
 * maint: the maintenance thread. Ten times a second it advances the server
 * clock and lets the store reclaim expired items (within a small time
 * budget), so that memory held by items nobody reads again comes back.
 */
#ifndef MESHCACHED_MAINT_H
#define MESHCACHED_MAINT_H

#include "base/server.h"

struct maint;

/* Starts the thread. Returns NULL on failure. */
struct maint *maint_start(struct server *srv);

/* Stops and joins the thread. */
void maint_stop(struct maint *m);

#endif
