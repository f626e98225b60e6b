/*
 * gossip: the SWIM protocol period, join, push/pull and leave, driven by
 * one thread (or a test), over requests whose answers feed swim.c under
 * one lock.
 */
#include "cluster/gossip.h"
#include "proto/aemsg.h"
#include "cluster/gmsg.h"
#include "cluster/reach.h"
#include "cluster/seeds.h"
#include "cluster/swim.h"
#include "cluster/transport.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/stats.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define PROBE_MSG_MAX    (64u * 1024) /* a probe's piggyback room */
#define SYNC_EVERY       4            /* periods between push/pulls */
#define SYNC_DEAD_EVERY  2            /* every 2nd push/pull: with a dead member */
#define LEAVE_WAIT_MS    500
#define CHECKS_MAX       64   /* members checked (or asked for) at once */
#define CHECK_POLL_MS    5    /* how often pending checks are polled */
#define NACKED_MAX       8    /* helpers' NACKs remembered per probe round */
#define FANOUT           3    /* members told at once that one died */
#define RESOLVE_EVERY_MS 2000 /* seed names looked up again, while alone */

enum req_kind {
    REQ_PROBE,    /* our direct probe of this period's target */
    REQ_INDIRECT, /* PING_REQ to a helper about the target */
    REQ_RELAY,    /* our probe on behalf of a helper's requester */
    REQ_SYNC,     /* push/pull */
    REQ_LEAVE,    /* telling a member we leave */
    REQ_NEWS,     /* telling a member at once that another died */
};

/* One outgoing request, from its sending to its done function. */
struct greq {
    struct gossip *g;
    enum req_kind kind;
    uint64_t round; /* REQ_PROBE, REQ_INDIRECT: the probe round */
    char target[GMSG_MAX_ID + 1];
    void *relay_for; /* REQ_RELAY: the served PING_REQ to answer */
};

/* A reachability check of one member (gossip_transport.reach): asked for
 * when it becomes suspect, every period while it is, and when the data
 * plane could not reach it. */
struct gcheck {
    struct gossip *g;
    char id[GMSG_MAX_ID + 1]; /* "" when the slot is free */
    uint64_t inc;             /* the member's incarnation when checked */
    uint64_t at;              /* when the last check started */
    bool want;                /* a check is asked for */
    bool inflight;            /* its done function has not run */
    bool suspect_if_silent;   /* no answer at all makes the member suspect */
};

struct gossip {
    struct gossip_transport tp;
    struct transport *wire; /* gossip_new()'s transport, or NULL (a test's) */
    struct gossip_listener l;
    uint64_t (*now_ms)(void *arg);
    void *now_arg;
    const int *verbose;
    uint32_t interval_ms;
    seeds_addr *seeds; /* SEEDS_MAX: the addresses to join through */
    size_t nseeds;
    /* the seeds as configured, when some are names to look up (the
     * stepping thread's own) */
    seeds_addr *seed_names;
    size_t nnames;
    uint64_t resolve_at;  /* when to look them up again */
    pthread_mutex_t lock; /* everything below but commit_at and dropped */
    pthread_cond_t cond;  /* news for the thread, or for gossip_leave() */
    struct swim *swim;
    pthread_t thread;
    bool started, stop;
    bool poked;         /* the thread has news: a request ended, a change */
    bool dirty;         /* the listener asked for a commit */
    bool fanout;        /* a member died: tell FANOUT others now */
    uint64_t commit_at; /* of the last commit (the stepping thread's own) */
    unsigned inflight;  /* requests whose done function has not run */
    /* the current probe */
    uint64_t round;
    char target[GMSG_MAX_ID + 1]; /* "" when nothing is probed */
    bool acked;
    uint64_t probe_deadline, period_end;
    bool indirect_sent;
    char nacked[NACKED_MAX][GMSG_MAX_ID + 1]; /* helpers that NACKed this round */
    unsigned nnacked;
    unsigned syncs;
    struct gcheck *checks;        /* CHECKS_MAX slots */
    unsigned checking;            /* checks in flight */
    uint64_t checks_run, refused; /* `stats cluster` counters (atomic) */
    char *wbuf;                   /* message being built (under the lock) */
    uint64_t dropped;             /* messages that did not decode (atomic) */
    /* requests on the cluster port that are not gossip (anti-entropy),
     * with their magic; other is published last (atomic) */
    char other_magic[3];
    transport_serve_fn other;
    void *other_arg;
    unsigned other_busy; /* wire_serve() calls of other under way (atomic) */
};

static uint64_t now(const struct gossip *g)
{
    return g->now_ms != NULL ? g->now_ms(g->now_arg) : mctime_mono_ms();
}

static int verbose(const struct gossip *g)
{
    return g->verbose != NULL ? __atomic_load_n(g->verbose, __ATOMIC_RELAXED) : 0;
}

/* ---- messages ---- */

/* Reads a message's header. Returns 0 with *r at the records, or -1
 * (counted) for anything to drop. */
static int decode(struct gossip *g, const char *msg, size_t len, struct gmsg_reader *r,
                  struct gmsg_header *h)
{
    if (gmsg_read_header(r, msg, len, h) != 0) {
        __atomic_fetch_add(&g->dropped, 1, __ATOMIC_RELAXED);
        return -1;
    }
    return 0;
}

/* Applies the sender's record and every record of a message. Under lock. */
static void absorb(struct gossip *g, struct gmsg_reader *r, const struct gmsg_header *h)
{
    struct gmsg_member m;
    uint64_t t = now(g);

    swim_apply(g->swim, &h->sender, t);
    while (gmsg_read_record(r, &m) == 1)
        swim_apply(g->swim, &m, t);
}

/* Builds a message of type with piggybacked updates (or, for SYNC and
 * SYNC_ACK, every member) into g->wbuf; subject is who the message is
 * about (NULL: nobody). Under lock. Returns its length, 0 if it failed. */
static size_t build(struct gossip *g, enum gmsg_type type, const char *subject)
{
    struct gmsg_writer w;
    bool full = type == GMSG_SYNC || type == GMSG_SYNC_ACK;
    const struct gmsg_member *about =
        subject != NULL ? swim_find(g->swim, subject) : NULL;

    gmsg_begin(&w, g->wbuf, full ? GMSG_MAX_SIZE : PROBE_MSG_MAX, type,
               swim_self(g->swim), type == GMSG_PING_REQ ? subject : NULL);
    if (full) {
        swim_fill_all(g->swim, &w);
    } else {
        /* A suspect we probe learns of its suspicion from the probe itself
         * (as in memberlist), not only if a rumour happens to reach it. */
        if (type == GMSG_PING && about != NULL && about->state == GMSG_SUSPECT)
            gmsg_add(&w, about);
        swim_piggyback(g->swim, &w);
    }
    return gmsg_end(&w);
}

/* ---- requests ---- */

static void req_done(void *arg, int status, const char *msg, size_t len);

/* Sends a message of type to gaddr, ended by req_done(); subject is the
 * member the request is about (a probe's or a PING_REQ's target), or NULL.
 * Under lock. Returns 0, or -1 when it could not even be sent. */
static int send_req(struct gossip *g, enum req_kind kind, const char *gaddr,
                    enum gmsg_type type, const char *subject, uint32_t timeout_ms,
                    struct greq **out)
{
    struct greq *q = calloc(1, sizeof(*q));
    size_t len;

    if (q == NULL)
        return -1;
    q->g = g;
    q->kind = kind;
    q->round = g->round;
    if (subject != NULL)
        snprintf(q->target, sizeof(q->target), "%s", subject);
    len = build(g, type, subject);
    if (len == 0 ||
        g->tp.request(g->tp.arg, gaddr, g->wbuf, len, timeout_ms, req_done, q) != 0) {
        free(q);
        return -1;
    }
    g->inflight++;
    if (out != NULL)
        *out = q; /* req_done() takes the lock: the caller may still fill it */
    return 0;
}

/* Answers a served request with a message of type. Under lock. */
static void serv_answer(struct gossip *g, void *served, enum gmsg_type type)
{
    size_t len;

    if (g->stop) {
        /* shutting down: a relay's late answer is not sent */
        g->tp.answer(g->tp.arg, served, NULL, 0);
        return;
    }
    len = build(g, type, NULL);
    g->tp.answer(g->tp.arg, served, len > 0 ? g->wbuf : NULL, len);
}

static void req_done(void *arg, int status, const char *msg, size_t len)
{
    struct greq *q = arg;
    struct gossip *g = q->g;
    struct gmsg_reader r;
    struct gmsg_header h;
    bool answered = false, ack = false;

    pthread_mutex_lock(&g->lock);
    if (status == 0 && decode(g, msg, len, &r, &h) == 0) {
        answered = true;
        ack = h.type == GMSG_ACK || h.type == GMSG_SYNC_ACK;
        absorb(g, &r, &h);
    }
    switch (q->kind) {
    case REQ_PROBE:
    case REQ_INDIRECT:
        if (q->kind == REQ_INDIRECT) {
            swim_helper_result(g->swim, answered);
            /* the helper could not reach the target either: Lifeguard's
             * independent confirmation, applied if our probe fails */
            if (answered && h.type == GMSG_NACK && q->round == g->round &&
                strcmp(q->target, g->target) == 0 && g->nnacked < NACKED_MAX)
                snprintf(g->nacked[g->nnacked++], sizeof(g->nacked[0]), "%s",
                         h.sender.id);
        }
        if (ack && q->round == g->round && strcmp(q->target, g->target) == 0 &&
            !g->acked) {
            g->acked = true;
            swim_probe_acked(g->swim, q->target, now(g));
        }
        break;
    case REQ_RELAY:
        serv_answer(g, q->relay_for, ack ? GMSG_ACK : GMSG_NACK);
        break;
    case REQ_SYNC:
    case REQ_LEAVE:
    case REQ_NEWS:
        break;
    }
    g->inflight--;
    g->poked = true;
    /* both the thread and gossip_leave() may be waiting */
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    free(q);
}

/* ---- serving requests ---- */

void gossip_serve(struct gossip *g, void *served, const char *msg, size_t len)
{
    struct gmsg_reader r;
    struct gmsg_header h;

    pthread_mutex_lock(&g->lock);
    if (decode(g, msg, len, &r, &h) != 0) {
        g->tp.answer(g->tp.arg, served, NULL, 0);
        goto out;
    }
    absorb(g, &r, &h);
    switch (h.type) {
    case GMSG_PING:
        serv_answer(g, served, GMSG_ACK);
        break;
    case GMSG_SYNC:
        serv_answer(g, served, GMSG_SYNC_ACK);
        break;
    case GMSG_PING_REQ: {
        const struct gmsg_member *t = swim_find(g->swim, h.target);
        struct greq *q;
        if (t != NULL && !g->stop &&
            send_req(g, REQ_RELAY, t->gaddr, GMSG_PING, t->id,
                     swim_probe_timeout_ms(g->swim), &q) == 0)
            q->relay_for = served; /* answered when our probe ends */
        else
            serv_answer(g, served, GMSG_NACK);
        break;
    }
    default:
        /* answers are not requests */
        __atomic_fetch_add(&g->dropped, 1, __ATOMIC_RELAXED);
        g->tp.answer(g->tp.arg, served, NULL, 0);
        break;
    }
out:
    pthread_mutex_unlock(&g->lock);
}

/* ---- reachability checks ---- */

/* The slot of the member with id, or a free one for it; NULL when all are
 * taken. Under lock. */
static struct gcheck *check_slot(struct gossip *g, const char *id)
{
    struct gcheck *free_slot = NULL;

    for (size_t i = 0; i < CHECKS_MAX; i++) {
        struct gcheck *c = &g->checks[i];
        if (strcmp(c->id, id) == 0)
            return c;
        if (c->id[0] == '\0' && free_slot == NULL)
            free_slot = c;
    }
    if (free_slot != NULL) {
        memset(free_slot, 0, sizeof(*free_slot));
        free_slot->g = g;
        snprintf(free_slot->id, sizeof(free_slot->id), "%s", id);
    }
    return free_slot;
}

/* Asks for a check of the member with id by the next step. Under lock. */
static void ask_check(struct gossip *g, const char *id, bool suspect_if_silent)
{
    struct gcheck *c;

    if (g->tp.reach == NULL || strcmp(id, swim_self(g->swim)->id) == 0)
        return;
    c = check_slot(g, id);
    if (c == NULL)
        return;
    c->want = true;
    c->suspect_if_silent |= suspect_if_silent;
    g->poked = true;
}

/* Every suspect is checked again each period: it may have died since its
 * last check accepted (paused first, killed later). Under lock. */
static void ask_suspects_checked(struct gossip *g)
{
    for (size_t i = 1; i < swim_count(g->swim); i++) {
        const struct gmsg_member *m = swim_member(g->swim, i);
        if (m->state == GMSG_SUSPECT)
            ask_check(g, m->id, false);
    }
}

/* A check ended: called under lock, from run_checks() or gossip_free(). */
static void check_done(void *arg, int status)
{
    struct gcheck *c = arg;
    struct gossip *g = c->g;
    const struct gmsg_member *m = swim_find(g->swim, c->id);

    c->inflight = false;
    g->checking--;
    if (g->stop || m == NULL || m->incarnation != c->inc)
        goto out;
    if (status == -ECONNREFUSED) {
        __atomic_fetch_add(&g->refused, 1, __ATOMIC_RELAXED);
        swim_evidence(g->swim, c->id, c->inc, now(g));
    } else if (status != 0 && c->suspect_if_silent) {
        swim_probe_failed(g->swim, c->id, now(g));
    }
out:
    c->suspect_if_silent = false;
}

/* Starts the checks asked for (each member at most once per probe
 * timeout), frees the slots of members no longer live, and polls what is
 * in flight. Returns how many checks are. Under lock. */
static unsigned run_checks(struct gossip *g, uint64_t t)
{
    uint32_t gap = swim_probe_timeout_ms(g->swim);

    if (g->tp.reach == NULL)
        return 0;
    for (size_t i = 0; i < CHECKS_MAX; i++) {
        struct gcheck *c = &g->checks[i];
        const struct gmsg_member *m;
        if (c->id[0] == '\0' || c->inflight)
            continue;
        m = swim_find(g->swim, c->id);
        if (m == NULL || (m->state != GMSG_ALIVE && m->state != GMSG_SUSPECT)) {
            c->id[0] = '\0';
            continue;
        }
        if (!c->want || (c->at != 0 && t < c->at + gap))
            continue;
        c->want = false;
        if (g->tp.reach(g->tp.reach_arg, m->gaddr, t, gap, check_done, c) != 0)
            continue;
        c->inflight = true;
        c->inc = m->incarnation;
        c->at = t;
        g->checking++;
        __atomic_fetch_add(&g->checks_run, 1, __ATOMIC_RELAXED);
    }
    if (g->checking > 0)
        g->tp.reach_poll(g->tp.reach_arg, t);
    return g->checking;
}

void gossip_member_unreachable(struct gossip *g, const char *id)
{
    pthread_mutex_lock(&g->lock);
    ask_check(g, id, true);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* ---- the protocol period ---- */

/* Push/pull with a member, now and then with a dead one (the other side of
 * a healed partition) or, while we know nobody, with the seeds. Under lock. */
static void sync_round(struct gossip *g)
{
    struct gmsg_member m;
    bool alone = swim_live_count(g->swim) < 2;

    g->syncs++;
    if (alone || g->syncs % (SYNC_DEAD_EVERY * 2) == 0) {
        for (size_t i = 0; i < g->nseeds; i++)
            if (strcmp(g->seeds[i], swim_self(g->swim)->gaddr) != 0)
                send_req(g, REQ_SYNC, g->seeds[i], GMSG_SYNC, NULL,
                         swim_interval_ms(g->swim) * 2, NULL);
        if (alone)
            return;
    }
    if (swim_pick_sync(g->swim, g->syncs % SYNC_DEAD_EVERY == 0, &m))
        send_req(g, REQ_SYNC, m.gaddr, GMSG_SYNC, NULL, swim_interval_ms(g->swim) * 2,
                 NULL);
}

/* One step of the period at time t; returns when the next is due. Under
 * lock. */
static uint64_t period(struct gossip *g, uint64_t t)
{
    struct gmsg_member target, helpers[8];
    uint64_t wake;

    if (t >= g->period_end) {
        if (g->target[0] != '\0' && !g->acked) {
            swim_probe_failed(g->swim, g->target, t);
            /* a suspect already: our failure confirms it (if we are not
             * its accuser), and so does each helper's NACK */
            swim_confirm(g->swim, g->target, swim_self(g->swim)->id, t);
            for (unsigned i = 0; i < g->nnacked; i++)
                swim_confirm(g->swim, g->target, g->nacked[i], t);
        }
        g->nnacked = 0;
        swim_tick(g->swim, t);
        ask_suspects_checked(g);
        g->round++;
        g->target[0] = '\0';
        g->acked = g->indirect_sent = false;
        g->period_end = t + swim_interval_ms(g->swim);
        if (g->round % SYNC_EVERY == 1 || swim_live_count(g->swim) < 2)
            sync_round(g);
        if (swim_probe_start(g->swim, t, &target)) {
            snprintf(g->target, sizeof(g->target), "%s", target.id);
            g->probe_deadline = t + swim_probe_timeout_ms(g->swim);
            if (send_req(g, REQ_PROBE, target.gaddr, GMSG_PING, target.id,
                         swim_probe_timeout_ms(g->swim), NULL) != 0)
                g->probe_deadline = t;
        }
    }
    if (g->target[0] != '\0' && !g->acked && !g->indirect_sent &&
        t >= g->probe_deadline) {
        size_t k = swim_indirect_k(g->swim);
        size_t n = swim_probe_helpers(g->swim, g->target, helpers,
                                      k < sizeof(helpers) / sizeof(helpers[0])
                                          ? k
                                          : sizeof(helpers) / sizeof(helpers[0]));
        g->indirect_sent = true;
        /* while the helpers try: is its process gone? */
        ask_check(g, g->target, false);
        for (size_t i = 0; i < n; i++)
            if (send_req(g, REQ_INDIRECT, helpers[i].gaddr, GMSG_PING_REQ, g->target,
                         (uint32_t)(g->period_end - t), NULL) != 0)
                swim_helper_result(g->swim, false);
    }
    if (g->fanout) {
        /* A death waits for no probe: every member that learns of one
         * tells FANOUT others at once, so the news spreads in round trips
         * (log n of them), not in periods. */
        size_t n = swim_probe_helpers(g->swim, "", helpers, FANOUT);
        g->fanout = false;
        for (size_t i = 0; i < n; i++)
            send_req(g, REQ_NEWS, helpers[i].gaddr, GMSG_PING, NULL,
                     swim_probe_timeout_ms(g->swim), NULL);
    }
    if (run_checks(g, t) > 0)
        return t + CHECK_POLL_MS;
    /* a suspect dies at its deadline, not at the end of that period */
    swim_tick(g->swim, t);
    wake = swim_next_deadline(g->swim);
    if (g->period_end < wake)
        wake = g->period_end;
    if (g->target[0] != '\0' && !g->acked && !g->indirect_sent &&
        g->probe_deadline < wake)
        wake = g->probe_deadline;
    return wake;
}

uint64_t gossip_step(struct gossip *g)
{
    uint64_t t, wake;
    bool commit = false;

    pthread_mutex_lock(&g->lock);
    t = now(g);
    wake = period(g, t);
    if (g->dirty) {
        if (t >= g->commit_at + GOSSIP_COMMIT_EVERY_MS) {
            g->dirty = false;
            commit = true;
        } else if (wake > g->commit_at + GOSSIP_COMMIT_EVERY_MS) {
            wake = g->commit_at + GOSSIP_COMMIT_EVERY_MS;
        }
    }
    pthread_mutex_unlock(&g->lock);
    if (commit) {
        /* off the lock: a ring build takes tens of milliseconds */
        g->l.commit(g->l.arg);
        g->commit_at = now(g);
        wake = t; /* at once again: more may have changed meanwhile */
    }
    return wake;
}

/* While this node knows no other member, looks the seed names up again
 * (without the lock: a resolver may take seconds) and joins through what
 * they resolve to now: pods of a StatefulSet appear in DNS one by one. */
static void resolve_seeds(struct gossip *g)
{
    seeds_addr fresh[SEEDS_MAX];
    const char *names[SEEDS_MAX];
    uint64_t t = now(g);
    size_t n;

    if (g->nnames == 0 || t < g->resolve_at)
        return;
    pthread_mutex_lock(&g->lock);
    n = swim_live_count(g->swim);
    pthread_mutex_unlock(&g->lock);
    if (n >= 2 && g->resolve_at != 0)
        return;
    for (size_t i = 0; i < g->nnames; i++)
        names[i] = g->seed_names[i];
    n = seeds_expand(names, g->nnames, fresh, SEEDS_MAX);
    pthread_mutex_lock(&g->lock);
    memcpy(g->seeds, fresh, n * sizeof(*fresh));
    g->nseeds = n;
    pthread_mutex_unlock(&g->lock);
    g->resolve_at = now(g) + RESOLVE_EVERY_MS;
}

static void *gossip_main(void *arg)
{
    struct gossip *g = arg;

    pthread_setname_np(pthread_self(), "mc-gossip");
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        struct timespec ts;
        uint64_t wake, t;

        g->poked = false;
        pthread_mutex_unlock(&g->lock);
        if (g->tp.reap != NULL)
            g->tp.reap(g->tp.arg); /* without the lock: see gossip_transport */
        resolve_seeds(g);
        wake = gossip_step(g);
        pthread_mutex_lock(&g->lock);
        t = now(g);
        if (g->poked || wake <= t)
            continue;
        mctime_deadline(&ts, wake - t);
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* ---- membership changes to the listener ---- */

static void on_change(void *arg, const struct gmsg_member *m, int old_state)
{
    struct gossip *g = arg;
    static const char *const names[] = {"forgotten", "alive", "suspect", "dead", "left"};

    if (verbose(g) > 0 && m->state != old_state)
        fprintf(stderr, "meshcached: member %s (%s) is %s (incarnation %llu)\n", m->id,
                m->addr, names[m->state <= GMSG_LEFT ? m->state : 0],
                (unsigned long long)m->incarnation);
    /* a suspicion, ours or heard: is its process gone? */
    if (m->state == GMSG_SUSPECT && old_state != GMSG_SUSPECT)
        ask_check(g, m->id, false);
    if (m->state == GMSG_DEAD && old_state != GMSG_DEAD) {
        g->fanout = true;
        g->poked = true;
    }
    if (g->l.update(g->l.arg, m->id, m->addr, m->state, m->incarnation)) {
        g->dirty = true;
        g->poked = true;
        pthread_cond_broadcast(&g->cond); /* the thread commits */
    }
}

/* ---- set-up and tear-down ---- */

int gossip_new_on(const struct gossip_config *cfg, const struct gossip_transport *tp,
                  const struct gossip_listener *l, struct gossip **out)
{
    struct gossip *g = calloc(1, sizeof(*g));
    struct gmsg_member self;
    struct swim_config sc;
    int rc = -ENOMEM;

    if (g == NULL)
        return -ENOMEM;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->tp = *tp;
    g->l = *l;
    g->now_ms = cfg->now_ms;
    g->now_arg = cfg->now_arg;
    g->verbose = cfg->verbose;
    g->interval_ms = cfg->interval_ms;
    g->wbuf = malloc(GMSG_MAX_SIZE);
    g->checks = calloc(CHECKS_MAX, sizeof(*g->checks));
    if (g->wbuf == NULL || g->checks == NULL)
        goto fail;
    if (cfg->nseeds > 0) {
        bool names = false;
        g->seeds = calloc(SEEDS_MAX, sizeof(*g->seeds));
        if (g->seeds == NULL)
            goto fail;
        for (size_t i = 0; i < cfg->nseeds && i < SEEDS_MAX; i++) {
            snprintf(g->seeds[i], sizeof(g->seeds[i]), "%s", cfg->seeds[i]);
            names |= !seeds_numeric(cfg->seeds[i]);
        }
        g->nseeds = cfg->nseeds < SEEDS_MAX ? cfg->nseeds : SEEDS_MAX;
        if (cfg->resolve_seeds && names) {
            g->seed_names = calloc(g->nseeds, sizeof(*g->seed_names));
            if (g->seed_names == NULL)
                goto fail;
            memcpy(g->seed_names, g->seeds, g->nseeds * sizeof(*g->seeds));
            g->nnames = g->nseeds;
        }
    }
    memset(&self, 0, sizeof(self));
    snprintf(self.id, sizeof(self.id), "%s", cfg->id);
    snprintf(self.addr, sizeof(self.addr), "%s", cfg->addr);
    snprintf(self.gaddr, sizeof(self.gaddr), "%s", cfg->gaddr);
    self.incarnation = cfg->incarnation;
    self.state = GMSG_ALIVE;
    swim_config_defaults(&sc, cfg->interval_ms);
    rc = swim_new(&sc, &self, cfg->seed, on_change, g, &g->swim);
    if (rc != 0)
        goto fail;
    if (l->update(l->arg, self.id, self.addr, GMSG_ALIVE, self.incarnation))
        g->dirty = true;
    *out = g;
    return 0;

fail:
    g->tp.close = NULL; /* the caller's transport: not ours to close on failure */
    g->tp.reach_close = NULL;
    gossip_free(g);
    return rc;
}

/* The nng transport behind the driver's transport functions. */
static int wire_request(void *arg, const char *gaddr, const char *msg, size_t len,
                        uint32_t timeout_ms, gossip_done_fn done, void *done_arg)
{
    return transport_request(arg, gaddr, msg, len, timeout_ms, done, done_arg);
}

static void wire_answer(void *arg, void *served, const char *msg, size_t len)
{
    transport_answer(arg, served, msg, len);
}

static void wire_reap(void *arg)
{
    transport_reap(arg);
}

static void wire_counters(void *arg, struct transport_counters *c)
{
    transport_counters(arg, c);
}

static void wire_close(void *arg)
{
    transport_free(arg);
}

static int wire_reach(void *arg, const char *gaddr, uint64_t t, uint32_t timeout_ms,
                      gossip_reach_fn done, void *done_arg)
{
    return reach_start(arg, gaddr, t, timeout_ms, done, done_arg) == 0 ? 0 : -1;
}

static size_t wire_reach_poll(void *arg, uint64_t t)
{
    return reach_poll(arg, t);
}

static void wire_reach_close(void *arg)
{
    reach_free(arg);
}

static void wire_serve(void *arg, struct transport_served *s, const char *msg, size_t len)
{
    struct gossip *g = arg;
    transport_serve_fn other;

    /* counted before other is read: gossip_unshare_port() waits for it */
    __atomic_add_fetch(&g->other_busy, 1, __ATOMIC_SEQ_CST);
    other = __atomic_load_n(&g->other, __ATOMIC_SEQ_CST);
    if (other != NULL && len >= sizeof(g->other_magic) &&
        memcmp(msg, g->other_magic, sizeof(g->other_magic)) == 0) {
        other(g->other_arg, s, msg, len);
        __atomic_sub_fetch(&g->other_busy, 1, __ATOMIC_SEQ_CST);
        return;
    }
    __atomic_sub_fetch(&g->other_busy, 1, __ATOMIC_SEQ_CST);
    gossip_serve(g, s, msg, len);
}

void gossip_unshare_port(struct gossip *g)
{
    if (g == NULL)
        return;
    __atomic_store_n(&g->other, NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&g->other_busy, __ATOMIC_SEQ_CST) > 0)
        sched_yield();
}

void gossip_share_port(struct gossip *g, const char magic[3], transport_serve_fn serve,
                       void *arg)
{
    memcpy(g->other_magic, magic, sizeof(g->other_magic));
    g->other_arg = arg;
    __atomic_store_n(&g->other, serve, __ATOMIC_RELEASE); /* after the rest */
}

struct transport *gossip_wire(struct gossip *g)
{
    return g->wire;
}

bool gossip_gaddr(struct gossip *g, const char *id, char *buf, size_t cap)
{
    const struct gmsg_member *m;
    bool found = false;

    pthread_mutex_lock(&g->lock);
    m = swim_find(g->swim, id);
    if (m != NULL && strlen(m->gaddr) < cap) {
        memcpy(buf, m->gaddr, strlen(m->gaddr) + 1);
        found = true;
    }
    pthread_mutex_unlock(&g->lock);
    return found;
}

int gossip_new(struct server *srv, const struct gossip_listener *l, struct gossip **out)
{
    const struct settings *s = &srv->settings;
    struct gossip_transport tp = {.request = wire_request,
                                  .answer = wire_answer,
                                  .reap = wire_reap,
                                  .counters = wire_counters,
                                  .close = wire_close,
                                  .reach = wire_reach,
                                  .reach_poll = wire_reach_poll,
                                  .reach_close = wire_reach_close};
    struct transport_key key = {.set = false};
    char addr[GMSG_MAX_ADDR + 1], gaddr[GMSG_MAX_ADDR + 1];
    char(*seeds)[GMSG_MAX_ADDR + 1] = NULL;
    const char **seedp = NULL;
    struct transport_config tc;
    struct gossip_config cfg;
    struct transport *t = NULL;
    struct gossip *g = NULL;
    int rc;

    if (s->cluster_key_file[0] != '\0' &&
        transport_key_read(s->cluster_key_file, &key) != 0)
        return -1;
    if (reach_new((struct reach **)&tp.reach_arg) != 0) {
        fprintf(stderr, "meshcached: out of memory starting gossip\n");
        transport_key_clear(&key);
        return -1;
    }
    if (strcmp(s->listen_addr, "0.0.0.0") == 0 || strcmp(s->listen_addr, "::") == 0) {
        /* it is also the address this node advertises */
        fprintf(stderr,
                "meshcached: gossip needs -l set to an address the other members "
                "can reach, not %s\n",
                s->listen_addr);
        goto fail;
    }
    util_format_hostport(addr, sizeof(addr), s->listen_addr, s->port);
    util_format_hostport(gaddr, sizeof(gaddr), s->listen_addr, s->cluster_port);
    seeds = calloc(s->njoins + 1, sizeof(*seeds));
    seedp = calloc(s->njoins + 1, sizeof(*seedp));
    if (seeds == NULL || seedp == NULL) {
        fprintf(stderr, "meshcached: out of memory starting gossip\n");
        goto fail;
    }
    for (size_t i = 0; i < s->njoins; i++) {
        util_format_hostport(seeds[i], sizeof(seeds[i]), s->joins[i].host,
                             s->joins[i].port);
        seedp[i] = seeds[i];
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.id = s->node_id;
    cfg.addr = addr;
    cfg.gaddr = gaddr;
    /* a restart must outrank whatever the others remember of us: the wall
     * clock in milliseconds (a refutation adds only 1 at a time) */
    cfg.incarnation = mctime_wall_ms();
    cfg.interval_ms = s->gossip_interval_ms;
    cfg.seeds = seedp;
    cfg.nseeds = s->njoins;
    cfg.resolve_seeds = true;
    getrandom(&cfg.seed, sizeof(cfg.seed), 0);
    cfg.verbose = &srv->verbose;
    rc = gossip_new_on(&cfg, &tp, l, &g);
    free(seedp);
    free(seeds);
    seedp = NULL;
    seeds = NULL;
    if (rc != 0) {
        fprintf(stderr, "meshcached: cannot gossip as %s at %s: %s\n", s->node_id, gaddr,
                rc == -EINVAL ? "-l must be an address other members can reach"
                              : "out of memory");
        goto fail;
    }
    tc.listen = gaddr;
    tc.key = &key;
    /* the port is shared with anti-entropy, whose messages are larger */
    tc.max_msg = GMSG_MAX_SIZE > AEMSG_MAX_SIZE ? GMSG_MAX_SIZE : AEMSG_MAX_SIZE;
    if (transport_new(&tc, &t) != 0)
        goto fail;
    g->wire = t;
    g->tp.arg = t;
    transport_key_clear(&key);
    *out = g;
    return 0;

fail:
    free(seedp);
    free(seeds);
    if (g == NULL)
        reach_free(tp.reach_arg); /* else gossip_free() frees it */
    gossip_free(g); /* its transport is not plugged in yet: nothing to close */
    transport_key_clear(&key);
    return -1;
}

int gossip_start(struct gossip *g)
{
    /* the driver is complete: only now may the transport deliver to it */
    if (g->wire != NULL)
        transport_start(g->wire, wire_serve, g);
    if (pthread_create(&g->thread, NULL, gossip_main, g) != 0)
        return -1;
    g->started = true;
    return 0;
}

void gossip_leave(struct gossip *g)
{
    struct timespec until;

    if (g == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    swim_leave(g->swim);
    for (size_t i = 1; i < swim_count(g->swim); i++) {
        const struct gmsg_member *m = swim_member(g->swim, i);
        if (m->state == GMSG_ALIVE || m->state == GMSG_SUSPECT)
            send_req(g, REQ_LEAVE, m->gaddr, GMSG_PING, NULL, LEAVE_WAIT_MS, NULL);
    }
    /* every finished request broadcasts the condition */
    mctime_deadline(&until, LEAVE_WAIT_MS);
    while (g->started && g->inflight > 0 &&
           pthread_cond_timedwait(&g->cond, &g->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&g->lock);
}

void gossip_free(struct gossip *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    if (g->started)
        pthread_join(g->thread, NULL);
    /* ends every request: their done functions free them */
    if (g->tp.close != NULL)
        g->tp.close(g->tp.arg);
    if (g->tp.reach_close != NULL) {
        pthread_mutex_lock(&g->lock); /* check_done() expects it */
        g->tp.reach_close(g->tp.reach_arg);
        pthread_mutex_unlock(&g->lock);
    }
    free(g->checks);
    swim_free(g->swim);
    free(g->seeds);
    free(g->seed_names);
    free(g->wbuf);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void gossip_stats(struct gossip *g, struct buf *out)
{
    struct transport_counters c = {0};

    if (g->tp.counters != NULL)
        g->tp.counters(g->tp.arg, &c);
    stats_line(out, "gossip_interval_ms", "%u", g->interval_ms);
    stats_line(out, "gossip_msgs_in", "%llu", (unsigned long long)c.msgs_in);
    stats_line(out, "gossip_msgs_out", "%llu", (unsigned long long)c.msgs_out);
    stats_line(out, "gossip_bytes_in", "%llu", (unsigned long long)c.bytes_in);
    stats_line(out, "gossip_bytes_out", "%llu", (unsigned long long)c.bytes_out);
    stats_line(out, "gossip_dropped", "%llu",
               (unsigned long long)__atomic_load_n(&g->dropped, __ATOMIC_RELAXED));
    stats_line(out, "gossip_bad_mac", "%llu", (unsigned long long)c.bad_mac);
    stats_line(out, "gossip_checks", "%llu",
               (unsigned long long)__atomic_load_n(&g->checks_run, __ATOMIC_RELAXED));
    stats_line(out, "gossip_refused", "%llu",
               (unsigned long long)__atomic_load_n(&g->refused, __ATOMIC_RELAXED));
}
