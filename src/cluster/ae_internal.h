/*
 * ae_internal: what the anti-entropy thread's parts share: ae.c (the
 * thread, tree exchanges, answering the others) and ae_handoff.c (moving
 * items to the nodes that own them now). Not for other modules.
 */
#ifndef MESHCACHED_AE_INTERNAL_H
#define MESHCACHED_AE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/duty.h"
#include "cluster/ae.h"
#include "proto/aemsg.h"
#include "store/item.h"

/* Messages aim at this size (a larger state still goes, alone): each one,
 * and applying its states on either side, is a short burst of work, and
 * pacing (ae_bytes_per_sec) waits between them, so that a repair of many
 * keys never holds client traffic up for long. */
#define AE_MSG_TARGET (64u * 1024)

struct aetree;
struct cluster;
struct gossip;
struct ring;
struct ring_ref;
struct store;
struct transport;
struct transport_served;
struct ho_entry;

#define QUEUE_MAX 64 /* requests waiting to be answered; more are dropped */

/* A request from another node, waiting for the thread. */
struct served {
    struct served *next;
    struct transport_served *s;
    size_t len;
    char msg[];
};

/* A key state found in a leaf: key and value copied out of the store. */
struct entry {
    char key[KEY_MAX_LENGTH];
    uint8_t nkey;
    uint8_t iflags;
    bool seen; /* the other side listed it too */
    uint64_t version;
};

struct entries {
    struct entry *e;
    size_t n, cap;
    bool oom;
};

struct ae {
    struct store *st;
    struct ring_ref *ring;
    struct gossip *g;
    struct transport *wire;
    struct aetree *tree;
    char self[AEMSG_MAX_ID + 1];
    uint32_t interval_ms, bytes_per_sec, timeout_ms;
    const int *verbose;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* the queue, the pending answer, stop */
    pthread_cond_t cond;  /* news for the thread */
    bool stop;
    struct served *q_head, *q_tail;
    unsigned nq;
    /* the answer to the thread's one outstanding request: ask_seq names
     * it (an answer to an ask given up is dropped); abandon, set while
     * the thread stops, ends the wait for it */
    bool waiting, answered, abandon, stopped;
    uint64_t ask_seq;
    int status;
    char *answer;
    size_t answer_len;
    /* the thread's own */
    char *out;          /* AEMSG_MAX_SIZE: messages built */
    size_t next_peer;   /* round robin over the ring's nodes */
    uint64_t evictions; /* the store's, at the last interval */
    bool full;          /* it evicted in the last interval */
    struct entries mine;
    struct entries wanted; /* the keys an answer asked for */
    /* handoff (ae_handoff.c), the thread's own but for the counters */
    bool handoff;         /* -o handoff */
    unsigned replicas;    /* --replicas */
    struct cluster *cl;   /* told of the handoff batches that arrive */
    uint64_t ho_epoch;    /* the ring epoch of the current pass (0: none yet) */
    uint32_t ho_shard;    /* the next shard of the pass; STORE_SHARDS: done */
    unsigned ho_rounds;   /* passes since the ring changed */
    uint64_t ho_next_ms;  /* mctime_mono_ms() the next pass may start at */
    bool ho_moved;        /* the pass moved or failed to move something */
    bool *ho_bad;         /* per ring node: failed in this pass, skipped */
    bool *ho_ok;          /* leaving: per ring node, answered the probe */
    bool ho_leaving;      /* the pass is ae_leave()'s */
    uint64_t ho_deadline; /* leaving: mctime_mono_ms() it must end by */
    size_t ho_nbad;
    struct ho_entry *ho; /* a shard's items to move */
    size_t ho_n, ho_cap;
    uint64_t last_exchange_ms;
    bool exchanging; /* an exchange of this node's own is under way */
    /* the thread's CPU share while a CPU is contended (duty.h): after work
     * it rests, answering no request and asking nothing, until rest_until */
    struct duty duty;
    bool resting;
    struct timespec rest_until; /* CLOCK_REALTIME, as the condition waits */
    /* counters (atomic) */
    uint64_t exchanges, in_sync, leaves, sent, received, skipped_full;
    uint64_t bytes_out, bytes_in, errors, dropped, busy;
    uint64_t ho_passes, ho_sent, ho_received, ho_dropped, ho_failed;
    uint32_t ho_progress; /* shards done of the current pass (atomic) */
};

/* The thread's share of a CPU that the workers keep busy (duty.h). */
#define AE_BUSY_CPU_PCT 5

int ae_verbose(const struct ae *ae);

/* ae.c: answers one queued request (on the thread, without the lock). */
void ae_serve_one(struct ae *ae, struct served *sv);

/* ae_pace.c, with the lock held: answers what is queued, dropping the
 * lock for each, until the thread has to rest (a HANDOFF even then). */
void ae_serve_queued_locked(struct ae *ae);

/* ae_pace.c, with the lock held: waits for news until `until` (NULL: no
 * end), or until a rest ends while requests wait for it. */
void ae_wait_locked(struct ae *ae, const struct timespec *until);

/* ae_pace.c, with the lock held: answers requests as they come until
 * `until` (CLOCK_REALTIME) or the thread stops. */
void ae_serve_until_locked(struct ae *ae, const struct timespec *until);

/* ae_pace.c: between two states read or applied: gives way to the
 * workers now and then (duty_breathe()), unless leaving. */
void ae_breathe(struct ae *ae);

/* ae_pace.c: after an ask of `bytes` both ways: rests as the thread's CPU
 * share wants, and waits until those bytes at ae_bytes_per_sec would have
 * taken, answering the others' requests meanwhile. */
void ae_pace(struct ae *ae, uint64_t bytes);

/* Appends key's current full state to w. Returns what aemsg_put_state()
 * does, or -ENOENT when the key holds nothing now. */
int ae_put_current(struct ae *ae, struct aemsg_writer *w, const char *key, size_t nkey);

/* Sends ae->out[0..len) to gaddr and waits (at most ae->timeout_ms) for the
 * answer, answering the others' requests meanwhile unless stopping; then,
 * but when leaving, waits for the bytes both ways to pay for themselves at
 * ae_bytes_per_sec (answering requests meanwhile too). Returns 0 with the
 * answer validated into r and h, or a negative errno. */
int ae_ask(struct ae *ae, const char *gaddr, size_t len, struct aemsg_reader *r,
           struct aemsg_header *h);

/* The ring layout of the trees (0 without trees: --replicas 1). */
uint64_t ae_layout(const struct ae *ae);

/* ae_handoff.c: one step of the current pass, within the thread's byte
 * budget; starts a pass when the ring changed. Returns whether a pass is
 * under way (the thread then comes back soon). */
bool ae_handoff_step(struct ae *ae, uint64_t budget);

/* ae_handoff.c: a HANDOFF request: applies its states, into w's PUSH_ACK. */
void ae_serve_handoff(struct ae *ae, struct aemsg_reader *r, struct aemsg_writer *w);

/* ae_handoff.c: the leaving pass (see ae_leave()). */
void ae_handoff_leave(struct ae *ae, uint32_t timeout_ms);

/* ae_handoff.c: frees the pass's memory. */
void ae_handoff_fini(struct ae *ae);

#endif
