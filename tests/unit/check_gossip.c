/* check_gossip: the SWIM driver (gossip.c) run on an in-memory network and
 * a fake clock, several drivers in one thread: joining through a seed,
 * suspicion and death of a node that stops answering, refutation, leave,
 * indirect probes, foreign cluster keys, undecodable requests, and the
 * batching of commits; and the transport's MAC sealing, without sockets. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#include "base/buf.h"
#include "cluster/gmsg.h"
#include "cluster/gossip.h"
#include "cluster/transport.h"

#define IV            100u      /* protocol period of the tests, ms */
#define TICK          10u       /* clock step of run_for(), ms */
#define SUSPICION     (6 * IV)  /* swim's floor, which small clusters get */
#define SUSPICION_MAX (12 * IV) /* unconfirmed, 3 members: 6 * 4 * log10(3) */
#define MAXNODES      6
#define MAXHEARD      1024
#define NEVER         UINT64_MAX

/* ---- a network in memory ---- */

/* One request: from its sending to its done function, and on the serving
 * side from gossip_serve() to the answer. */
struct call {
    struct call *next;
    int from, to;    /* node indices; to is -1 for an address nobody has */
    char *req, *ans; /* wire bytes (body, then the MAC when keyed) */
    size_t reqlen, anslen;
    uint64_t deadline; /* the requester's timeout */
    gossip_done_fn done;
    void *done_arg;
    bool delivered; /* handed to the target (or lost on its bad MAC) */
    bool held;      /* the target has it and has not answered yet */
    bool finished;  /* the requester's done function ran */
};

/* What a node's listener heard. */
struct heard {
    char id[32];
    int state;
    uint64_t incarnation, at;
};

struct node {
    struct gossip *g;
    char id[32], addr[32], gaddr[32];
    bool down;  /* crashed or paused: not stepped, gets nothing delivered */
    bool gone;  /* down, and its port refuses connections (crashed) */
    bool blind; /* its reachability checks never get an answer */
    struct transport_key key;
    struct transport_counters wire;
    struct heard heard[MAXHEARD];
    size_t nheard;
    uint64_t commits, last_commit, last_update;
    uint64_t commit_gap; /* the shortest time between two commits */
};

static struct node nodes[MAXNODES];
static size_t nnodes;
static uint64_t clock_ms;
static struct call *calls;
static bool cut[MAXNODES][MAXNODES]; /* requests from i to j are lost */

static uint64_t fake_now(void *arg)
{
    (void)arg;
    return clock_ms;
}

static int node_at(const char *gaddr)
{
    for (size_t i = 0; i < nnodes; i++)
        if (strcmp(nodes[i].gaddr, gaddr) == 0)
            return (int)i;
    return -1;
}

/* body[0..len) and its MAC under n's key, as the wire carries it. */
static char *seal(struct node *n, const char *body, size_t len, size_t *wirelen)
{
    char *w = malloc(len + TRANSPORT_MAC_LEN);

    ck_assert_ptr_nonnull(w);
    memcpy(w, body, len);
    *wirelen = len + transport_seal(&n->key, body, len, (unsigned char *)w + len);
    n->wire.msgs_out++;
    n->wire.bytes_out += *wirelen;
    return w;
}

/* Checks a message arriving at n. Returns 0 with *len the body's length. */
static int unseal(struct node *n, const char *wire, size_t wirelen, size_t *len)
{
    n->wire.msgs_in++;
    n->wire.bytes_in += wirelen;
    if (transport_open(&n->key, wire, wirelen, len) != 0) {
        n->wire.bad_mac++;
        return -EBADMSG;
    }
    return 0;
}

static int fake_request(void *arg, const char *gaddr, const char *msg, size_t len,
                        uint32_t timeout_ms, gossip_done_fn done, void *done_arg)
{
    struct node *n = arg;
    struct call *c = calloc(1, sizeof(*c)), **tail = &calls;

    ck_assert_ptr_nonnull(c);
    c->from = (int)(n - nodes);
    c->to = node_at(gaddr);
    c->req = seal(n, msg, len, &c->reqlen);
    c->deadline = clock_ms + timeout_ms;
    c->done = done;
    c->done_arg = done_arg;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = c; /* delivered by pump(), never from inside this call */
    return 0;
}

static void fake_answer(void *arg, void *served, const char *msg, size_t len)
{
    struct node *n = arg;
    struct call *c = served;

    ck_assert(c->held);
    c->held = false;
    if (msg != NULL && len > 0 && !c->finished)
        c->ans = seal(n, msg, len, &c->anslen);
}

static void fake_counters(void *arg, struct transport_counters *c)
{
    *c = ((struct node *)arg)->wire;
}

/* Ends n's requests (as the nng transport does when it closes) and lets go
 * of the requests it was serving. */
static void fake_close(void *arg)
{
    int self = (int)((struct node *)arg - nodes);

    for (struct call *c = calls; c != NULL; c = c->next) {
        if (c->to == self)
            c->held = false;
        if (c->from == self && !c->finished) {
            c->finished = true;
            c->done(c->done_arg, -ECANCELED, NULL, 0);
        }
    }
}

/* Reachability checks: answered at the requester's next poll, refused
 * when the target is gone, accepted otherwise (a paused node's port
 * accepts). */
struct fcheck {
    int from, to;
    gossip_reach_fn done;
    void *arg;
};
static struct fcheck fchecks[64];
static size_t nfchecks;

static int fake_reach(void *arg, const char *gaddr, uint64_t now, uint32_t timeout_ms,
                      gossip_reach_fn done, void *done_arg)
{
    (void)now;
    (void)timeout_ms;
    if (nfchecks == sizeof(fchecks) / sizeof(fchecks[0]))
        return -1;
    fchecks[nfchecks++] = (struct fcheck){.from = (int)((struct node *)arg - nodes),
                                          .to = node_at(gaddr),
                                          .done = done,
                                          .arg = done_arg};
    return 0;
}

/* Ends from's checks with status, or by their targets when status is 0. */
static size_t end_checks(int from, int status)
{
    for (size_t i = nfchecks; i-- > 0;) {
        struct fcheck c = fchecks[i];
        int st = status;
        if (c.from != from)
            continue;
        fchecks[i] = fchecks[--nfchecks];
        if (st == 0)
            st = nodes[from].blind              ? -ETIMEDOUT
                 : c.to < 0 || nodes[c.to].gone ? -ECONNREFUSED
                                                : 0;
        c.done(c.arg, st);
    }
    return 0;
}

static size_t fake_reach_poll(void *arg, uint64_t now)
{
    (void)now;
    return end_checks((int)((struct node *)arg - nodes), 0);
}

static void fake_reach_close(void *arg)
{
    end_checks((int)((struct node *)arg - nodes), -ECANCELED);
}

/* Delivers one thing that can be: a request to its target, an answer to
 * its requester, or a timeout. Returns false when nothing could. */
static bool deliver_one(void)
{
    for (struct call *c = calls; c != NULL; c = c->next) {
        size_t len;
        if (c->finished)
            continue;
        if (!c->delivered && c->to >= 0 && !nodes[c->to].down && !cut[c->from][c->to]) {
            c->delivered = true;
            if (unseal(&nodes[c->to], c->req, c->reqlen, &len) == 0) {
                c->held = true;
                gossip_serve(nodes[c->to].g, c, c->req, len);
            }
            return true;
        }
        if (nodes[c->from].down)
            continue;
        if (c->ans != NULL) {
            c->finished = true;
            if (unseal(&nodes[c->from], c->ans, c->anslen, &len) == 0)
                c->done(c->done_arg, 0, c->ans, len);
            else
                c->done(c->done_arg, -EBADMSG, NULL, 0);
            return true;
        }
        if (clock_ms >= c->deadline) {
            c->finished = true;
            c->done(c->done_arg, -ETIMEDOUT, NULL, 0);
            return true;
        }
    }
    return false;
}

static void pump(void)
{
    struct call **p = &calls;

    while (deliver_one())
        ;
    while (*p != NULL) {
        struct call *c = *p;
        if (c->finished && !c->held) {
            *p = c->next;
            free(c->req);
            free(c->ans);
            free(c);
        } else {
            p = &c->next;
        }
    }
}

/* Moves the clock by ms, stepping every node that is up at each TICK. */
static void run_for(uint64_t ms)
{
    uint64_t end = clock_ms + ms;

    while (clock_ms < end) {
        clock_ms += TICK;
        for (size_t i = 0; i < nnodes; i++) {
            if (!nodes[i].down)
                gossip_step(nodes[i].g);
            pump();
        }
    }
}

/* ---- the listener ---- */

static bool heard(void *arg, const char *id, const char *addr, int state,
                  uint64_t incarnation)
{
    struct node *n = arg;
    struct heard *h = &n->heard[n->nheard < MAXHEARD ? n->nheard : MAXHEARD - 1];

    (void)addr;
    snprintf(h->id, sizeof(h->id), "%s", id);
    h->state = state;
    h->incarnation = incarnation;
    h->at = clock_ms;
    if (n->nheard < MAXHEARD)
        n->nheard++;
    n->last_update = clock_ms;
    return true;
}

static void committed(void *arg)
{
    struct node *n = arg;

    if (n->commits > 0 && clock_ms - n->last_commit < n->commit_gap)
        n->commit_gap = clock_ms - n->last_commit;
    n->commits++;
    n->last_commit = clock_ms;
}

/* The last state node i heard of id (0: never, or forgotten). */
static int state_of(size_t i, const char *id)
{
    for (size_t k = nodes[i].nheard; k-- > 0;)
        if (strcmp(nodes[i].heard[k].id, id) == 0)
            return nodes[i].heard[k].state;
    return 0;
}

static uint64_t incarnation_of(size_t i, const char *id)
{
    for (size_t k = nodes[i].nheard; k-- > 0;)
        if (strcmp(nodes[i].heard[k].id, id) == 0)
            return nodes[i].heard[k].incarnation;
    return 0;
}

/* When node i first heard id in state, or NEVER. */
static uint64_t first_at(size_t i, const char *id, int state)
{
    for (size_t k = 0; k < nodes[i].nheard; k++)
        if (strcmp(nodes[i].heard[k].id, id) == 0 && nodes[i].heard[k].state == state)
            return nodes[i].heard[k].at;
    return NEVER;
}

/* ---- nodes ---- */

/* Adds a node named id that joins through seed (a node index, or -1 for
 * none) with the cluster key secret (NULL: none). Returns its index. */
static size_t add_node(const char *id, int seed, const char *secret)
{
    size_t i = nnodes++;
    struct node *n = &nodes[i];
    const char *seeds[1];
    struct gossip_config cfg;
    struct gossip_transport tp = {.request = fake_request,
                                  .answer = fake_answer,
                                  .counters = fake_counters,
                                  .close = fake_close,
                                  .reach = fake_reach,
                                  .reach_poll = fake_reach_poll,
                                  .reach_close = fake_reach_close,
                                  .reach_arg = n,
                                  .arg = n};
    struct gossip_listener l = {.update = heard, .commit = committed, .arg = n};

    ck_assert_uint_lt(i, MAXNODES);
    memset(n, 0, sizeof(*n));
    n->commit_gap = NEVER;
    snprintf(n->id, sizeof(n->id), "%s", id);
    snprintf(n->addr, sizeof(n->addr), "10.0.0.%zu:11211", i + 1);
    snprintf(n->gaddr, sizeof(n->gaddr), "10.0.0.%zu:7946", i + 1);
    if (secret != NULL)
        transport_key_derive(&n->key, secret, strlen(secret));
    if (seed >= 0)
        seeds[0] = nodes[seed].gaddr;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id = n->id;
    cfg.addr = n->addr;
    cfg.gaddr = n->gaddr;
    cfg.incarnation = 1000;
    cfg.interval_ms = IV;
    cfg.seeds = seeds;
    cfg.nseeds = seed >= 0 ? 1 : 0;
    cfg.seed = 42 + i;
    cfg.now_ms = fake_now;
    ck_assert_int_eq(gossip_new_on(&cfg, &tp, &l, &n->g), 0);
    return i;
}

/* n0 and the others joining through it, run until they know each other. */
static void form(size_t n)
{
    add_node("n0", -1, NULL);
    for (size_t i = 1; i < n; i++) {
        char id[8];
        snprintf(id, sizeof(id), "n%zu", i);
        add_node(id, 0, NULL);
    }
    run_for(20 * IV);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            ck_assert_int_eq(state_of(i, nodes[j].id), GMSG_ALIVE);
}

/* A `stats cluster` counter of node i. */
static unsigned long long stat_of(size_t i, const char *name)
{
    struct buf out;
    char key[64];
    const char *p;
    unsigned long long v = ~0ull;

    buf_init(&out);
    gossip_stats(nodes[i].g, &out);
    buf_append(&out, "", 1);
    snprintf(key, sizeof(key), "STAT %s ", name);
    p = strstr(out.data, key);
    if (p != NULL)
        v = strtoull(p + strlen(key), NULL, 10);
    buf_free(&out);
    return v;
}

static void setup(void)
{
    nnodes = 0;
    clock_ms = 1000000; /* a monotonic clock is far from 0 */
    calls = NULL;
    nfchecks = 0;
    memset(cut, 0, sizeof(cut));
}

static void teardown(void)
{
    for (size_t i = 0; i < nnodes; i++)
        gossip_free(nodes[i].g);
    pump(); /* frees what the closes finished */
    ck_assert_ptr_null(calls);
}

/* ---- the driver ---- */

START_TEST(test_gossip_new_node_reports_itself_alive_at_once)
{
    add_node("n0", -1, NULL);
    ck_assert_int_eq(state_of(0, "n0"), GMSG_ALIVE);
    ck_assert_uint_eq(incarnation_of(0, "n0"), 1000);
}
END_TEST

START_TEST(test_gossip_nodes_joining_through_a_seed_learn_each_other)
{
    add_node("n0", -1, NULL);
    add_node("n1", 0, NULL);
    add_node("n2", 0, NULL);
    run_for(20 * IV);
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++)
            ck_assert_msg(state_of(i, nodes[j].id) == GMSG_ALIVE, "%s sees %s as %d",
                          nodes[i].id, nodes[j].id, state_of(i, nodes[j].id));
    /* n1 and n2 never talked to each other to start with: the seed told them */
    ck_assert_uint_lt(first_at(1, "n2", GMSG_ALIVE), NEVER);
    ck_assert_uint_gt(nodes[1].commits, 0);
}
END_TEST

START_TEST(test_gossip_seed_that_is_this_node_is_skipped)
{
    add_node("n0", 0, NULL); /* its own address as its seed */
    run_for(5 * IV);
    ck_assert_uint_eq(nodes[0].wire.msgs_out, 0);
}
END_TEST

START_TEST(
    test_gossip_member_that_stops_answering_is_suspected_then_dead_after_the_timeout)
{
    uint64_t suspected, dead;

    form(3);
    nodes[2].down = true;
    run_for(40 * IV);
    suspected = first_at(0, "n2", GMSG_SUSPECT);
    dead = first_at(0, "n2", GMSG_DEAD);
    ck_assert_uint_lt(suspected, NEVER);
    ck_assert_uint_lt(dead, NEVER);
    ck_assert_uint_ge(dead - suspected, SUSPICION);
    ck_assert_uint_le(dead - suspected, SUSPICION_MAX + 2 * IV);
    ck_assert_int_eq(state_of(0, "n2"), GMSG_DEAD);
    ck_assert_int_eq(state_of(1, "n2"), GMSG_DEAD);
    ck_assert_int_eq(state_of(0, "n1"), GMSG_ALIVE);
}
END_TEST

START_TEST(test_gossip_suspect_that_answers_again_refutes_and_is_never_dead)
{
    uint64_t inc;

    form(3);
    inc = incarnation_of(0, "n2");
    nodes[2].down = true;
    for (int i = 0; i < 400 && state_of(0, "n2") != GMSG_SUSPECT; i++)
        run_for(TICK);
    ck_assert_int_eq(state_of(0, "n2"), GMSG_SUSPECT);
    nodes[2].down = false; /* back well within the suspicion timeout */
    run_for(SUSPICION_MAX + 10 * IV);
    ck_assert_int_eq(state_of(0, "n2"), GMSG_ALIVE);
    ck_assert_int_eq(state_of(1, "n2"), GMSG_ALIVE);
    ck_assert_uint_gt(incarnation_of(0, "n2"), inc); /* n2 outranked the rumour */
    ck_assert_uint_eq(first_at(0, "n2", GMSG_DEAD), NEVER);
    ck_assert_uint_eq(first_at(1, "n2", GMSG_DEAD), NEVER);
}
END_TEST

START_TEST(test_gossip_member_whose_port_refuses_is_dead_one_period_after_the_evidence)
{
    uint64_t suspected, dead;

    form(3);
    nodes[2].down = nodes[2].gone = true; /* kill -9 */
    run_for(10 * IV);
    suspected = first_at(0, "n2", GMSG_SUSPECT);
    dead = first_at(0, "n2", GMSG_DEAD);
    ck_assert_uint_lt(suspected, NEVER);
    ck_assert_uint_lt(dead, NEVER);
    /* long before a suspicion on timeouts alone could end */
    ck_assert_uint_le(dead - suspected, IV + 2 * TICK);
    ck_assert_int_eq(state_of(1, "n2"), GMSG_DEAD);
    ck_assert_uint_gt(stat_of(0, "gossip_refused"), 0);
}
END_TEST

START_TEST(test_gossip_data_plane_failure_is_checked_and_suspected_at_once)
{
    form(3);
    nodes[2].down = nodes[2].gone = true;
    gossip_member_unreachable(nodes[0].g, "n2");
    run_for(TICK);
    ck_assert_int_eq(state_of(0, "n2"), GMSG_SUSPECT);
    run_for(IV + TICK);
    ck_assert_int_eq(state_of(0, "n2"), GMSG_DEAD);
}
END_TEST

START_TEST(test_gossip_death_is_told_to_the_others_at_once_not_at_their_next_probe)
{
    uint64_t first = NEVER, last = 0;

    form(5);
    nodes[4].down = nodes[4].gone = true;
    for (int i = 1; i < 4; i++)
        nodes[i].blind = true;                   /* they would wait for timeouts */
    gossip_member_unreachable(nodes[0].g, "n4"); /* n0 alone knows, early */
    run_for(TICK);
    ck_assert_int_eq(state_of(0, "n4"), GMSG_SUSPECT);
    run_for(IV + 2 * TICK);
    for (int i = 0; i < 4; i++) {
        uint64_t d = first_at(i, "n4", GMSG_DEAD);
        ck_assert_uint_lt(d, NEVER);
        first = d < first ? d : first;
        last = d > last ? d : last;
    }
    /* told by n0 (and on), not at their next exchange with it */
    ck_assert_uint_le(last - first, 2 * TICK);
}
END_TEST

START_TEST(test_gossip_data_plane_failure_of_a_member_that_accepts_changes_nothing)
{
    form(3);
    /* it closed an idle connection, or it restarted: its port accepts */
    for (int i = 0; i < 20; i++) {
        gossip_member_unreachable(nodes[0].g, "n1");
        run_for(IV / 2);
    }
    ck_assert_int_eq(state_of(0, "n1"), GMSG_ALIVE);
    ck_assert_uint_eq(first_at(0, "n1", GMSG_SUSPECT), NEVER);
    ck_assert_uint_gt(stat_of(0, "gossip_checks"), 0);
    ck_assert_uint_eq(stat_of(0, "gossip_refused"), 0);
}
END_TEST

START_TEST(test_gossip_paused_member_is_not_hastened_by_checks)
{
    uint64_t suspected, dead;

    form(3);
    nodes[2].down = true; /* SIGSTOP: its port still accepts */
    run_for(40 * IV);
    suspected = first_at(0, "n2", GMSG_SUSPECT);
    dead = first_at(0, "n2", GMSG_DEAD);
    ck_assert_uint_lt(dead, NEVER);
    ck_assert_uint_ge(dead - suspected, SUSPICION);
    ck_assert_uint_eq(stat_of(0, "gossip_refused"), 0);
}
END_TEST

START_TEST(test_gossip_leaving_member_is_reported_left_by_the_others_at_once)
{
    form(3);
    gossip_leave(nodes[2].g); /* not started: announces, does not wait */
    nodes[2].down = true;     /* and exits */
    pump();
    ck_assert_int_eq(state_of(0, "n2"), GMSG_LEFT);
    ck_assert_int_eq(state_of(1, "n2"), GMSG_LEFT);
    ck_assert_int_eq(state_of(2, "n2"), GMSG_LEFT);
    run_for(SUSPICION + 5 * IV); /* and it stays left, never suspected */
    ck_assert_int_eq(state_of(0, "n2"), GMSG_LEFT);
    ck_assert_uint_eq(first_at(0, "n2", GMSG_SUSPECT), NEVER);
}
END_TEST

START_TEST(test_gossip_member_reachable_only_through_a_helper_is_not_suspected)
{
    form(3);
    cut[0][2] = cut[2][0] = true; /* n0 and n2 cannot talk; n1 reaches both */
    run_for(40 * IV);
    ck_assert_uint_eq(first_at(0, "n2", GMSG_SUSPECT), NEVER);
    ck_assert_uint_eq(first_at(2, "n0", GMSG_SUSPECT), NEVER);
    ck_assert_int_eq(state_of(0, "n2"), GMSG_ALIVE);
}
END_TEST

START_TEST(test_gossip_member_nobody_reaches_is_suspected_even_with_helpers)
{
    form(3);
    cut[0][2] = cut[2][0] = cut[1][2] = cut[2][1] = true;
    run_for(40 * IV);
    ck_assert_int_eq(state_of(0, "n2"), GMSG_DEAD);
    ck_assert_int_eq(state_of(1, "n2"), GMSG_DEAD);
}
END_TEST

START_TEST(test_gossip_nodes_with_another_cluster_key_never_meet_and_count_bad_macs)
{
    add_node("n0", -1, "secret");
    add_node("n1", 0, "secret");
    add_node("x2", 0, "another secret");
    run_for(20 * IV);
    ck_assert_int_eq(state_of(0, "n1"), GMSG_ALIVE);
    ck_assert_int_eq(state_of(1, "n0"), GMSG_ALIVE);
    ck_assert_int_eq(state_of(0, "x2"), 0);
    ck_assert_int_eq(state_of(1, "x2"), 0);
    ck_assert_int_eq(state_of(2, "n0"), 0);
    ck_assert_uint_gt(stat_of(0, "gossip_bad_mac"), 0);
    ck_assert_uint_eq(stat_of(1, "gossip_bad_mac"), 0);
    ck_assert_uint_eq(stat_of(0, "gossip_dropped"), 0);
}
END_TEST

START_TEST(test_gossip_undecodable_request_is_dropped_unanswered_and_counted)
{
    struct call c;
    struct gmsg_member self;
    struct gmsg_writer w;
    char msg[GMSG_HEADER_MAX];
    size_t len;

    add_node("n0", -1, NULL);
    memset(&c, 0, sizeof(c));
    c.held = true;
    gossip_serve(nodes[0].g, &c, "garbage", 7);
    ck_assert(!c.held);
    ck_assert_ptr_null(c.ans);
    ck_assert_uint_eq(stat_of(0, "gossip_dropped"), 1);

    /* well-formed, but an answer where a request belongs */
    memset(&self, 0, sizeof(self));
    snprintf(self.id, sizeof(self.id), "n9");
    self.incarnation = 1;
    self.state = GMSG_ALIVE;
    snprintf(self.addr, sizeof(self.addr), "10.0.0.9:11211");
    snprintf(self.gaddr, sizeof(self.gaddr), "10.0.0.9:7946");
    gmsg_begin(&w, msg, sizeof(msg), GMSG_ACK, &self, NULL);
    len = gmsg_end(&w);
    ck_assert_uint_gt(len, 0);
    c.held = true;
    gossip_serve(nodes[0].g, &c, msg, len);
    ck_assert(!c.held);
    ck_assert_ptr_null(c.ans);
    ck_assert_uint_eq(stat_of(0, "gossip_dropped"), 2);
}
END_TEST

START_TEST(test_gossip_commits_at_most_once_per_interval_and_never_loses_a_change)
{
    form(5);
    nodes[4].down = true;
    run_for(40 * IV); /* n4 suspected, then dead: more changes */
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_gt(nodes[i].commits, 1);
        ck_assert_uint_ge(nodes[i].commit_gap, GOSSIP_COMMIT_EVERY_MS);
        /* the last change was committed after it happened */
        ck_assert_uint_ge(nodes[i].last_commit, nodes[i].last_update);
    }
}
END_TEST

START_TEST(test_gossip_stats_lists_the_counters_in_order)
{
    static const char *const names[] = {
        "gossip_interval_ms", "gossip_msgs_in",   "gossip_msgs_out",
        "gossip_bytes_in",    "gossip_bytes_out", "gossip_dropped",
        "gossip_bad_mac",     "gossip_checks",    "gossip_refused"};
    struct buf out;
    const char *p;

    form(2);
    buf_init(&out);
    gossip_stats(nodes[0].g, &out);
    buf_append(&out, "", 1);
    p = out.data;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "STAT %s ", names[i]);
        ck_assert_msg(strncmp(p, key, strlen(key)) == 0, "%s at %s", names[i], p);
        p = strstr(p, "\r\n") + 2;
    }
    ck_assert_str_eq(p, "");
    buf_free(&out);
    ck_assert_uint_eq(stat_of(0, "gossip_interval_ms"), IV);
    ck_assert_uint_eq(stat_of(0, "gossip_msgs_out"), nodes[0].wire.msgs_out);
    ck_assert_uint_gt(stat_of(0, "gossip_msgs_in"), 0);
}
END_TEST

/* ---- the transport's sealing ---- */

START_TEST(test_transport_sealed_message_opens_with_the_same_key)
{
    struct transport_key k;
    unsigned char msg[64 + TRANSPORT_MAC_LEN];
    size_t n, body;

    transport_key_derive(&k, "secret", 6);
    memcpy(msg, "a gossip message", 16);
    n = 16 + transport_seal(&k, msg, 16, msg + 16);
    ck_assert_uint_eq(n, 16 + TRANSPORT_MAC_LEN);
    ck_assert_int_eq(transport_open(&k, msg, n, &body), 0);
    ck_assert_uint_eq(body, 16);
}
END_TEST

START_TEST(test_transport_tampered_truncated_or_foreign_messages_are_refused)
{
    struct transport_key k, other;
    unsigned char msg[64 + TRANSPORT_MAC_LEN];
    size_t n, body;

    transport_key_derive(&k, "secret", 6);
    transport_key_derive(&other, "secret!", 7);
    memcpy(msg, "a gossip message", 16);
    n = 16 + transport_seal(&k, msg, 16, msg + 16);
    ck_assert_int_eq(transport_open(&other, msg, n, &body), -EBADMSG);
    ck_assert_int_eq(transport_open(&k, msg, n - 1, &body), -EBADMSG);
    ck_assert_int_eq(transport_open(&k, msg, TRANSPORT_MAC_LEN - 1, &body), -EBADMSG);
    ck_assert_int_eq(transport_open(&k, msg, 16, &body), -EBADMSG); /* no MAC */
    for (size_t bit = 0; bit < n * 8; bit += 7) {
        msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ck_assert_int_eq(transport_open(&k, msg, n, &body), -EBADMSG);
        msg[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    ck_assert_int_eq(transport_open(&k, msg, n, &body), 0);
}
END_TEST

START_TEST(test_transport_without_a_key_messages_go_unsealed)
{
    struct transport_key none = {.set = false};
    unsigned char mac[TRANSPORT_MAC_LEN];
    size_t body;

    ck_assert_uint_eq(transport_seal(&none, "abc", 3, mac), 0);
    ck_assert_uint_eq(transport_seal(NULL, "abc", 3, mac), 0);
    ck_assert_int_eq(transport_open(&none, "abc", 3, &body), 0);
    ck_assert_uint_eq(body, 3);
}
END_TEST

START_TEST(test_transport_key_file_gives_the_key_of_its_contents)
{
    char path[] = "/tmp/check_gossip_keyXXXXXX";
    struct transport_key fromfile, direct, other;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "a long cluster secret\n", 22), 22);
    close(fd);
    ck_assert_int_eq(transport_key_read(path, &fromfile), 0);
    transport_key_derive(&direct, "a long cluster secret\n", 22);
    transport_key_derive(&other, "a long cluster secret", 21);
    ck_assert(fromfile.set);
    ck_assert_mem_eq(fromfile.k, direct.k, TRANSPORT_KEY_LEN);
    ck_assert(memcmp(fromfile.k, other.k, TRANSPORT_KEY_LEN) != 0);
    unlink(path);
    ck_assert_int_eq(transport_key_read(path, &fromfile), -1); /* gone */
    transport_key_clear(&direct);
    ck_assert(!direct.set);
}
END_TEST

static Suite *gossip_suite(void)
{
    Suite *s = suite_create("gossip");
    TCase *tc = tcase_create("driver");
    TCase *tt = tcase_create("transport");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gossip_new_node_reports_itself_alive_at_once);
    tcase_add_test(tc, test_gossip_nodes_joining_through_a_seed_learn_each_other);
    tcase_add_test(tc, test_gossip_seed_that_is_this_node_is_skipped);
    tcase_add_test(
        tc,
        test_gossip_member_that_stops_answering_is_suspected_then_dead_after_the_timeout);
    tcase_add_test(tc, test_gossip_suspect_that_answers_again_refutes_and_is_never_dead);
    tcase_add_test(
        tc, test_gossip_member_whose_port_refuses_is_dead_one_period_after_the_evidence);
    tcase_add_test(tc, test_gossip_data_plane_failure_is_checked_and_suspected_at_once);
    tcase_add_test(
        tc, test_gossip_data_plane_failure_of_a_member_that_accepts_changes_nothing);
    tcase_add_test(
        tc, test_gossip_death_is_told_to_the_others_at_once_not_at_their_next_probe);
    tcase_add_test(tc, test_gossip_paused_member_is_not_hastened_by_checks);
    tcase_add_test(tc, test_gossip_leaving_member_is_reported_left_by_the_others_at_once);
    tcase_add_test(tc,
                   test_gossip_member_reachable_only_through_a_helper_is_not_suspected);
    tcase_add_test(tc, test_gossip_member_nobody_reaches_is_suspected_even_with_helpers);
    tcase_add_test(
        tc, test_gossip_nodes_with_another_cluster_key_never_meet_and_count_bad_macs);
    tcase_add_test(tc, test_gossip_undecodable_request_is_dropped_unanswered_and_counted);
    tcase_add_test(
        tc, test_gossip_commits_at_most_once_per_interval_and_never_loses_a_change);
    tcase_add_test(tc, test_gossip_stats_lists_the_counters_in_order);
    suite_add_tcase(s, tc);

    tcase_add_test(tt, test_transport_sealed_message_opens_with_the_same_key);
    tcase_add_test(tt, test_transport_tampered_truncated_or_foreign_messages_are_refused);
    tcase_add_test(tt, test_transport_without_a_key_messages_go_unsealed);
    tcase_add_test(tt, test_transport_key_file_gives_the_key_of_its_contents);
    suite_add_tcase(s, tt);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gossip_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
