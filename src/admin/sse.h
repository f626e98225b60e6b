/*
 * sse: the admin port's live event stream (GET /events), Server-Sent
 * Events to the dashboards that are open.
 *
 * Events: members whose state changed, evictions, read repairs (the log
 * lines of base/logger.h, which the hub watches while a client is
 * connected) and what the admin thread adds itself (anti-entropy and
 * handoff counts, once a second, sse_emit()). Each is one "event: <type>"
 * with a JSON "data:" line; keys only go to clients that gave the token.
 *
 * Everything runs on the admin thread (the logger's wake only activates an
 * event of its loop). Bounds: at most SSE_MAX_CLIENTS streams (503 beyond);
 * at most SSE_CLIENT_MAX_BYTES queued to one client, beyond which its
 * events are dropped and counted, and it reads a "skipped" event once it
 * catches up; a client that takes nothing of what is queued to it for
 * SSE_STALL_BEATS heartbeats (10 to 15 s) is closed; a comment line every SSE_HEARTBEAT_S
 * keeps proxies from closing an idle stream and finds clients that left.
 */
#ifndef MESHCACHED_SSE_H
#define MESHCACHED_SSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSE_MAX_CLIENTS      8
#define SSE_CLIENT_MAX_BYTES (64u * 1024)
#define SSE_HEARTBEAT_S      5
#define SSE_STALL_BEATS      3 /* heartbeats without taking a byte: closed */

struct event_base;
struct evhttp_request;
struct logger;
struct sse_hub;

struct sse_stats {
    uint64_t clients; /* streams open */
    uint64_t sent;    /* events written to clients */
    uint64_t dropped; /* events a client had no room for */
    uint64_t refused; /* streams refused: SSE_MAX_CLIENTS open */
    uint64_t closed;  /* streams that ended (the client left or stalled) */
    uint64_t stalled; /* of those, closed here: the client took nothing */
    uint64_t queued;  /* bytes waiting in the streams' output now */
};

/* A hub on base (the admin thread's loop) reading lg (may be NULL); node
 * is this node's id for the hello event. Returns NULL when out of memory. */
struct sse_hub *sse_new(struct event_base *base, struct logger *lg, const char *node);

/* Ends every stream and frees the hub; NULL is a no-op. Before the
 * evhttp server is freed. */
void sse_free(struct sse_hub *h);

/* Starts a stream on req (a GET /events), or answers 503 when the hub is
 * full. keys: whether its events may carry keys (the token was given). */
void sse_serve(struct sse_hub *h, struct evhttp_request *req, bool keys);

/* Sends an event of the admin thread's own to every stream; data holds no
 * key. Takes data's reference. */
void sse_emit(struct sse_hub *h, const char *type, json_t *data);

/* Reads the counters. */
void sse_get_stats(const struct sse_hub *h, struct sse_stats *out);

/*
 * One log line (without its newline: "ts=... gid=... type=evicted key=..."
 * or "skipped=N") as an event: its SSE type in *type (a static string)
 * and its fields as a JSON object (numbers where the value is one; "key"
 * left out unless keys). Pure. Returns NULL for a line without a type.
 */
json_t *sse_line_event(const char *line, size_t len, bool keys, const char **type);

#endif
