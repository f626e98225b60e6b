/*
 * logger: the live event log behind `watch`: one process-wide hub of
 * watchers, each with a bounded queue of log lines in memcached's format
 * ("ts=<sec>.<usec> gid=<n> type=... \n").
 *
 * Threads: any thread logs (workers, the store while it evicts); a watcher
 * is added, drained and removed by the worker that owns its connection.
 * One mutex guards the watchers and their queues; logging takes it only
 * when some watcher wants that type (logger_wants(): one relaxed load, so
 * the hot path pays nothing while nobody watches). It may be taken with a
 * store shard lock held, and takes no lock itself but the libevent lock
 * inside a watcher's wake function: never call into the logger holding
 * that. A full queue drops the line (counted) rather than block a worker:
 * the watcher then reads "skipped=N" in its stream.
 */
#ifndef MESHCACHED_LOGGER_H
#define MESHCACHED_LOGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* The log types, by watch's names for them. */
#define LOGGER_FETCHERS   0x01u
#define LOGGER_MUTATIONS  0x02u
#define LOGGER_EVICTIONS  0x04u
#define LOGGER_CONNEVENTS 0x08u
#define LOGGER_DELETIONS  0x10u
/* meshcached's own types, which `watch` does not name (the admin port's
 * /events streams them): a member's state changed, a key was repaired */
#define LOGGER_MEMBERS 0x20u
#define LOGGER_REPAIRS 0x40u

#define LOGGER_QUEUE_MAX (256u * 1024) /* bytes queued per watcher, as memcached */

struct logger;
struct logger_watcher;

/* What `stats` reports of the log. */
struct logger_stats {
    uint64_t written; /* lines queued for watchers (log_worker_written) */
    uint64_t dropped; /* lines dropped on full queues (log_worker_dropped) */
    uint64_t sent;    /* lines handed to watchers' connections */
    uint64_t skipped; /* lines watchers missed (log_watcher_skipped) */
    uint64_t watchers;
};

/* Returns 0 and the hub in *out, or -1 when out of memory. */
int logger_new(struct logger **out);

/* Frees the hub; every watcher must be gone. NULL is allowed. */
void logger_free(struct logger *lg);

/* Whether a watcher wants any type in mask; lg may be NULL (no log). */
bool logger_wants(const struct logger *lg, unsigned mask);

/* Logs one event of type (one LOGGER_* bit): fmt gives what follows
 * "ts=... gid=... ", without the newline. */
void logger_log(struct logger *lg, unsigned type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Adds a watcher of the types in mask. wake(arg) is called, with the hub
 * locked and from any thread, when its queue goes from empty to not empty;
 * it must only schedule a call to logger_take() on the owner's thread.
 * Returns NULL when out of memory.
 */
struct logger_watcher *logger_watch(struct logger *lg, unsigned mask,
                                    void (*wake)(void *arg), void *arg);

/* Moves the watcher's queued lines to out. Returns how many bytes it moved. */
size_t logger_take(struct logger_watcher *w, struct buf *out);

/* Removes and frees the watcher: wake is never called for it afterwards. */
void logger_unwatch(struct logger_watcher *w);

/* Reads the counters. */
void logger_get_stats(struct logger *lg, struct logger_stats *out);

#endif
