/*
 * admin_internal: what the admin port's route files share. Everything here
 * runs on the admin thread.
 */
#ifndef MESHCACHED_ADMIN_INTERNAL_H
#define MESHCACHED_ADMIN_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "admin/mcconn.h"
#include "base/buf.h"
#include "base/server.h"
#include "cmd/cmd.h"

struct event;
struct evhttp;
struct evhttp_request;
struct cluster_member_info;
struct history;
struct sse_hub;

#define ADMIN_TIMEOUT_MS  3000 /* a member's answer, or this node's worker's */
#define ADMIN_TOKEN_MAX   256
#define ADMIN_MAX_MEMBERS 256 /* members a cluster route lists */

struct admin {
    struct server *srv;
    struct event_base *base; /* the admin thread's loop */
    struct evhttp *http;
    pthread_t thread;
    bool started;
    char token[ADMIN_TOKEN_MAX + 1]; /* --http-token's, "" when none */
    struct mcconn *self;             /* to a worker of this node; lazily reopened */
    struct cmd cmd;                  /* runs `stats` here, for /metrics */
    struct thread_stats cmd_stats;   /* what that command counts (unused) */
    struct buf cmd_out;
    struct history *hist;           /* GET /history (admin_dash.c) */
    struct event *tick;             /* samples it once a second */
    uint64_t ae_seen, handoff_seen; /* keys those had brought in at the last tick */
    struct sse_hub *events;         /* GET /events */
};

/* Replies code with body[0..n) of content type ctype. */
void admin_reply(struct evhttp_request *req, int code, const char *ctype,
                 const void *body, size_t n);

/* Replies code with j as JSON, and releases j. */
void admin_json(struct evhttp_request *req, int code, json_t *j);

/* Replies code with {"error": msg}. */
void admin_error(struct evhttp_request *req, int code, const char *msg);

/* This node's internal connection, opened again when it broke; NULL when
 * it cannot be. */
struct mcconn *admin_self(struct admin *a);

/* Runs the command line `line` here as a client would (`stats`, `stats
 * cluster`); returns its reply text, valid until the next call. */
const struct buf *admin_run_local(struct admin *a, const char *line);

/* A STAT reply as a JSON object: numbers where the value is one. */
json_t *admin_stats_json(const char *text, size_t len);

/* The members as the cluster knows them (this node alone without a
 * cluster). Returns how many (at most ADMIN_MAX_MEMBERS). */
size_t admin_members(struct admin *a, struct cluster_member_info *out);

/* Asks member m for `stats`: done(arg, status, reply, len) as mcconn's,
 * at once for this node. Returns 0 or -1 (done not called). */
int admin_member_stats(struct admin *a, const struct cluster_member_info *m,
                       mcconn_done_fn done, void *arg);

/* Route handlers. */
void admin_cache(struct admin *a, struct evhttp_request *req, const char *key_enc);
void admin_cluster_status(struct admin *a, struct evhttp_request *req);
void admin_cluster_distribution(struct admin *a, struct evhttp_request *req);
void admin_node_stats(struct admin *a, struct evhttp_request *req, const char *id_enc);
void admin_keys(struct admin *a, struct evhttp_request *req);
void admin_hotkeys(struct admin *a, struct evhttp_request *req);

/* Sets o's "key" to key[0..nkey), or "key_pct" (every byte as %XX) when
 * the key is not UTF-8, which a JSON string cannot carry. */
void admin_json_key(json_t *o, const char *key, size_t nkey);
void admin_history(struct admin *a, struct evhttp_request *req);

/* Answers req with the embedded file at path (the dashboard); false when
 * there is none. */
bool admin_asset(struct evhttp_request *req, const char *path);

/* The history, its sampling timer and the event hub, on the admin loop.
 * open returns 0 or -1 (close undoes what it did); close is safe twice. */
int admin_dash_open(struct admin *a);
void admin_dash_close(struct admin *a);

#endif
