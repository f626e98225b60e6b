/* check_swim: the SWIM membership state machine, driven with time passed in
 * and fixed seeds: update precedence (exhaustively, per the table in
 * swim.h), refutation, round-robin probing, suspicion, forgetting, local
 * health, dissemination through real gmsg messages, and a simulated cluster
 * of five instances that gossip in memory. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "cluster/gmsg.h"
#include "cluster/swim.h"

#define IV      1000u /* protocol period of the tests, ms */
#define SEED    42
#define SELF    "self"
#define SELFINC 100u
#define MAXREC  256 /* records kept from one message */
#define MAXEV   1024

static struct swim_config cfg;
static struct swim *sw;

/* ---- helpers ---- */

/* Every change callback, in order (this test process only). */
struct event {
    struct gmsg_member m;
    int old_state;
};
static struct event ev[MAXEV];
static size_t nev;

static void on_change(void *arg, const struct gmsg_member *m, int old_state)
{
    (void)arg;
    if (nev < MAXEV) {
        ev[nev].m = *m;
        ev[nev].old_state = old_state;
    }
    nev++;
}

static const char *state_name(int state)
{
    static const char *names[] = {"none", "alive", "suspect", "dead", "left"};

    return state >= 0 && state <= GMSG_LEFT ? names[state] : "invalid";
}

/* A record about id at host "host" (addr host:11211, gaddr host:7946). */
static struct gmsg_member rec_at(const char *id, uint64_t inc, int state,
                                 const char *host)
{
    struct gmsg_member m;

    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), "%s", id);
    m.incarnation = inc;
    m.state = (uint8_t)state;
    snprintf(m.addr, sizeof(m.addr), "%s:11211", host);
    snprintf(m.gaddr, sizeof(m.gaddr), "%s:7946", host);
    return m;
}

static struct gmsg_member rec(const char *id, uint64_t inc, int state)
{
    return rec_at(id, inc, state, id);
}

static struct swim *make_swim_cfg(const struct swim_config *c, uint64_t seed)
{
    struct gmsg_member self = rec(SELF, SELFINC, GMSG_ALIVE);
    struct swim *s = NULL;

    ck_assert_int_eq(swim_new(c, &self, seed, on_change, NULL, &s), 0);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Replaces the fixture's instance by one with config c. */
static void remake(const struct swim_config *c, uint64_t seed)
{
    swim_free(sw);
    sw = make_swim_cfg(c, seed);
    nev = 0;
}

static void setup(void)
{
    swim_config_defaults(&cfg, IV);
    sw = make_swim_cfg(&cfg, SEED);
    nev = 0;
}

static void teardown(void)
{
    swim_free(sw);
    sw = NULL;
}

static void learn(struct swim *s, const char *id, uint64_t inc, uint64_t now)
{
    struct gmsg_member m = rec(id, inc, GMSG_ALIVE);

    ck_assert_msg(swim_apply(s, &m, now), "learning %s changed nothing", id);
}

/* Applies a record that must be taken. */
static void put(struct swim *s, const char *id, uint64_t inc, int state, uint64_t now)
{
    struct gmsg_member m = rec(id, inc, state);

    ck_assert_msg(swim_apply(s, &m, now), "%s(%llu) about %s not taken",
                  state_name(state), (unsigned long long)inc, id);
}

static int state_of(const struct swim *s, const char *id)
{
    const struct gmsg_member *m = swim_find(s, id);

    return m != NULL ? m->state : 0;
}

static uint64_t inc_of(const struct swim *s, const char *id)
{
    const struct gmsg_member *m = swim_find(s, id);

    ck_assert_msg(m != NULL, "%s unknown", id);
    return m->incarnation;
}

static size_t rec_size(const struct gmsg_member *m)
{
    return 1 + strlen(m->id) + 8 + 1 + 1 + strlen(m->addr) + 1 + strlen(m->gaddr);
}

/* The smallest buffer for a PING from s carrying no record. */
static size_t header_size(const struct swim *s)
{
    return 3 + 1 + 1 + rec_size(swim_self(s)) + 2;
}

/* Builds one PING of at most cap bytes from s with its piggybacked updates,
 * reads it back, and returns its records in out[0..max). */
static unsigned send_msg(struct swim *s, size_t cap, struct gmsg_member *out,
                         unsigned max)
{
    static char buf[GMSG_MAX_SIZE];
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member m;
    unsigned n = 0;
    size_t len;

    ck_assert_uint_le(cap, sizeof(buf));
    gmsg_begin(&w, buf, cap, GMSG_PING, swim_self(s), NULL);
    ck_assert_msg(!w.failed, "message header does not fit in %zu bytes", cap);
    swim_piggyback(s, &w);
    len = gmsg_end(&w);
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_le(len, cap);
    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
    ck_assert_int_eq(h.type, GMSG_PING);
    ck_assert_str_eq(h.sender.id, swim_self(s)->id);
    while (gmsg_read_record(&r, &m) == 1) {
        if (n < max)
            out[n] = m;
        n++;
    }
    ck_assert_uint_eq(n, h.count);
    ck_assert_uint_le(n, max);
    return n;
}

static unsigned send_big(struct swim *s, struct gmsg_member *out, unsigned max)
{
    return send_msg(s, 65536, out, max);
}

static unsigned count_id(const struct gmsg_member *r, unsigned n, const char *id)
{
    unsigned k = 0;

    for (unsigned i = 0; i < n; i++)
        k += strcmp(r[i].id, id) == 0;
    return k;
}

/* Sends big messages until one comes out empty; returns how many records
 * about id went out in all. */
static unsigned drain(struct swim *s, const char *id)
{
    static struct gmsg_member r[MAXREC];
    unsigned total = 0, n;

    for (int i = 0; i < 1000; i++) {
        n = send_big(s, r, MAXREC);
        if (n == 0)
            return total;
        if (id != NULL)
            total += count_id(r, n, id);
    }
    ck_abort_msg("the dissemination queue never empties");
    return total;
}

/* The retransmission limit of swim.h for n members, computed independently. */
static unsigned retransmits(unsigned n)
{
    unsigned digits = 0;

    /* ceil(log10(n + 1)) is the number of decimal digits of n */
    for (unsigned v = n; v > 0; v /= 10)
        digits++;
    return cfg.retransmit_mult * digits;
}

/* The callback saw exactly one change, about id, to state, from old. */
static void assert_one_event(const char *id, int state, int old)
{
    ck_assert_msg(nev == 1, "%zu change callbacks, want 1", nev);
    ck_assert_str_eq(ev[0].m.id, id);
    ck_assert_msg(ev[0].m.state == state, "callback state %s, want %s",
                  state_name(ev[0].m.state), state_name(state));
    ck_assert_msg(ev[0].old_state == old, "callback old_state %s, want %s",
                  state_name(ev[0].old_state), state_name(old));
}

/* ---- creation ---- */

START_TEST(test_swim_new_makes_self_alive_and_counted)
{
    struct gmsg_member self = rec(SELF, 7, GMSG_DEAD);
    struct swim *s = NULL;

    ck_assert_int_eq(swim_new(&cfg, &self, SEED, NULL, NULL, &s), 0);
    ck_assert_str_eq(swim_self(s)->id, SELF);
    ck_assert_uint_eq(swim_self(s)->incarnation, 7);
    ck_assert_int_eq(swim_self(s)->state, GMSG_ALIVE);
    ck_assert_str_eq(swim_self(s)->addr, SELF ":11211");
    ck_assert_str_eq(swim_self(s)->gaddr, SELF ":7946");
    ck_assert_uint_eq(swim_count(s), 1);
    ck_assert_uint_eq(swim_live_count(s), 1);
    ck_assert_ptr_eq(swim_member(s, 0), swim_self(s));
    ck_assert_ptr_null(swim_member(s, 1));
    ck_assert_ptr_eq(swim_find(s, SELF), swim_self(s));
    ck_assert_ptr_null(swim_find(s, "other"));
    ck_assert_uint_eq(swim_health(s), 0);
    swim_free(s);
    swim_free(NULL);
}
END_TEST

START_TEST(test_swim_new_refuses_an_invalid_self)
{
    struct gmsg_member bad[4];
    struct swim *s = (struct swim *)&bad; /* must stay untouched */

    bad[0] = rec("", 1, GMSG_ALIVE);
    bad[1] = rec(SELF, 1, GMSG_ALIVE);
    snprintf(bad[1].addr, sizeof(bad[1].addr), "no-port");
    bad[2] = rec(SELF, 1, GMSG_ALIVE);
    snprintf(bad[2].gaddr, sizeof(bad[2].gaddr), "host:0");
    bad[3] = rec(SELF, 1, GMSG_ALIVE);
    bad[3].addr[0] = '\0';
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(swim_new(&cfg, &bad[i], SEED, NULL, NULL, &s) == -EINVAL,
                      "bad self %d accepted", i);
        ck_assert_ptr_eq(s, (struct swim *)&bad);
    }
}
END_TEST

/* gmsg.h: ids are printable ASCII without spaces. A self whose id the wire
 * cannot carry would never be disseminated, and swim_fill_all() would stop
 * at it and send nobody. */
START_TEST(test_swim_new_refuses_a_self_id_the_wire_cannot_carry)
{
    static const char *ids[] = {"has space", "tab\there", "del\x7f"};
    struct gmsg_member self;
    struct swim *s = NULL;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        self = rec_at(ids[i], 1, GMSG_ALIVE, "h");
        s = NULL;
        ck_assert_msg(swim_new(&cfg, &self, SEED, NULL, NULL, &s) == -EINVAL,
                      "swim_new accepted self id \"%s\", which gmsg cannot encode",
                      ids[i]);
        swim_free(s);
    }
}
END_TEST

START_TEST(test_swim_config_defaults_scale_with_the_period)
{
    struct swim_config c;

    swim_config_defaults(&c, 500);
    ck_assert_uint_eq(c.interval_ms, 500);
    ck_assert_uint_gt(c.probe_timeout_ms, 0);
    ck_assert_uint_lt(c.probe_timeout_ms, c.interval_ms);
    ck_assert_uint_ge(c.suspicion_min_ms, c.interval_ms);
    ck_assert_uint_gt(c.dead_keep_ms, c.suspicion_min_ms);
    ck_assert_uint_gt(c.indirect_k, 0);
    ck_assert_uint_gt(c.retransmit_mult, 0);
    ck_assert_uint_gt(c.suspicion_mult, 0);
    swim_config_defaults(&c, 1);
    ck_assert_uint_gt(c.probe_timeout_ms, 0);
}
END_TEST

/* ---- learning members ---- */

START_TEST(test_swim_apply_alive_about_an_unknown_member_adds_it)
{
    struct gmsg_member a = rec_at("a", 5, GMSG_ALIVE, "10.0.0.1");
    const struct gmsg_member *m;

    ck_assert(swim_apply(sw, &a, 10));
    assert_one_event("a", GMSG_ALIVE, 0);
    ck_assert_uint_eq(ev[0].m.incarnation, 5);
    ck_assert_uint_eq(swim_count(sw), 2);
    ck_assert_uint_eq(swim_live_count(sw), 2);
    m = swim_find(sw, "a");
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->incarnation, 5);
    ck_assert_int_eq(m->state, GMSG_ALIVE);
    ck_assert_str_eq(m->addr, "10.0.0.1:11211");
    ck_assert_str_eq(m->gaddr, "10.0.0.1:7946");
    ck_assert_ptr_eq(swim_member(sw, 1), m);
}
END_TEST

START_TEST(test_swim_apply_the_same_update_twice_changes_nothing)
{
    struct gmsg_member a = rec("a", 5, GMSG_ALIVE);

    learn(sw, "a", 5, 10);
    nev = 0;
    ck_assert(!swim_apply(sw, &a, 20));
    ck_assert_uint_eq(nev, 0);
    ck_assert_uint_eq(swim_count(sw), 2);
}
END_TEST

START_TEST(test_swim_apply_suspect_about_an_unknown_member_adds_it_as_suspect)
{
    struct gmsg_member a = rec("a", 5, GMSG_SUSPECT);

    ck_assert(swim_apply(sw, &a, 1000));
    assert_one_event("a", GMSG_SUSPECT, 0);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_SUSPECT);
    ck_assert_uint_eq(swim_live_count(sw), 2);
}
END_TEST

START_TEST(test_swim_apply_dead_or_left_about_an_unknown_member_is_ignored)
{
    struct gmsg_member d = rec("d", 5, GMSG_DEAD), l = rec("l", 5, GMSG_LEFT);

    ck_assert(!swim_apply(sw, &d, 10));
    ck_assert(!swim_apply(sw, &l, 10));
    ck_assert_uint_eq(nev, 0);
    ck_assert_uint_eq(swim_count(sw), 1);
    ck_assert_ptr_null(swim_find(sw, "d"));
    ck_assert_ptr_null(swim_find(sw, "l"));
}
END_TEST

START_TEST(test_swim_learns_many_members_past_the_initial_table)
{
    char id[16];

    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        learn(sw, id, (uint64_t)i, 10);
    }
    ck_assert_uint_eq(swim_count(sw), 201);
    ck_assert_uint_eq(swim_live_count(sw), 201);
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        ck_assert_uint_eq(inc_of(sw, id), (uint64_t)i);
    }
    ck_assert_str_eq(swim_self(sw)->id, SELF);
}
END_TEST

/* ---- precedence ---- */

/* swim.h's table: takes[current - 1][update - 1][lower, equal, higher]. */
static const bool takes[4][4][3] = {
    /* current alive:    alive      suspect    dead       left */
    {{0, 0, 1}, {0, 1, 1}, {0, 1, 1}, {0, 1, 1}},
    /* current suspect */
    {{0, 0, 1}, {0, 0, 1}, {0, 1, 1}, {0, 1, 1}},
    /* current dead: only a restart (alive, higher) or leaving */
    {{0, 0, 1}, {0, 0, 0}, {0, 0, 0}, {0, 1, 1}},
    /* current left: only a restart */
    {{0, 0, 1}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}},
};

START_TEST(test_swim_precedence_follows_the_table_for_every_state_and_incarnation)
{
    static const char *rel[] = {"lower", "equal", "higher"};
    const uint64_t i0 = 10;

    for (int cur = GMSG_ALIVE; cur <= GMSG_LEFT; cur++) {
        for (int upd = GMSG_ALIVE; upd <= GMSG_LEFT; upd++) {
            for (int d = 0; d < 3; d++) {
                struct swim *s = make_swim_cfg(&cfg, SEED);
                struct gmsg_member old = rec_at("m", i0, GMSG_ALIVE, "old");
                struct gmsg_member u = rec_at("m", i0 + (uint64_t)d - 1, upd, "new");
                const struct gmsg_member *m;
                bool want = takes[cur - 1][upd - 1][d], got;

                ck_assert(swim_apply(s, &old, 100));
                if (cur != GMSG_ALIVE) {
                    old.state = (uint8_t)cur;
                    ck_assert(swim_apply(s, &old, 100));
                }
                ck_assert_int_eq(state_of(s, "m"), cur);
                nev = 0;
                got = swim_apply(s, &u, 200);
                m = swim_find(s, "m");
                ck_assert_ptr_nonnull(m);
                ck_assert_msg(got == want, "%s(%s) over %s: returned %d, want %d",
                              state_name(upd), rel[d], state_name(cur), got, want);
                if (want) {
                    ck_assert_int_eq(m->state, upd);
                    ck_assert_uint_eq(m->incarnation, u.incarnation);
                    ck_assert_str_eq(m->addr, "new:11211");
                    ck_assert_str_eq(m->gaddr, "new:7946");
                    ck_assert_msg(nev == 1, "%s(%s) over %s: %zu callbacks",
                                  state_name(upd), rel[d], state_name(cur), nev);
                    ck_assert_int_eq(ev[0].old_state, cur);
                    ck_assert_int_eq(ev[0].m.state, upd);
                    ck_assert_str_eq(ev[0].m.addr, "new:11211");
                } else {
                    ck_assert_int_eq(m->state, cur);
                    ck_assert_uint_eq(m->incarnation, i0);
                    ck_assert_str_eq(m->addr, "old:11211");
                    ck_assert_str_eq(m->gaddr, "old:7946");
                    ck_assert_uint_eq(nev, 0);
                }
                ck_assert_uint_eq(swim_count(s), 2);
                swim_free(s);
            }
        }
    }
}
END_TEST

START_TEST(test_swim_member_that_restarts_comes_back_from_dead_and_left)
{
    learn(sw, "a", 5, 0);
    learn(sw, "b", 5, 0);
    put(sw, "a", 5, GMSG_DEAD, 10);
    put(sw, "b", 5, GMSG_LEFT, 10);
    ck_assert_uint_eq(swim_live_count(sw), 1);
    nev = 0;
    put(sw, "a", 1000, GMSG_ALIVE, 20);
    assert_one_event("a", GMSG_ALIVE, GMSG_DEAD);
    put(sw, "b", 1000, GMSG_ALIVE, 20);
    ck_assert_uint_eq(swim_live_count(sw), 3);
}
END_TEST

/* ---- refutation ---- */

START_TEST(test_swim_refutes_a_rumour_about_self_with_a_higher_incarnation)
{
    static const uint64_t incs[] = {SELFINC, SELFINC + 1, SELFINC + 1000};
    struct gmsg_member r[MAXREC];

    for (int st = GMSG_SUSPECT; st <= GMSG_LEFT; st++) {
        for (size_t k = 0; k < sizeof(incs) / sizeof(incs[0]); k++) {
            struct gmsg_member u = rec(SELF, incs[k], st);
            unsigned n;

            remake(&cfg, SEED);
            drain(sw, NULL);
            ck_assert_msg(swim_apply(sw, &u, 500), "%s(%llu) about self not refuted",
                          state_name(st), (unsigned long long)incs[k]);
            ck_assert_uint_eq(swim_self(sw)->incarnation, incs[k] + 1);
            ck_assert_int_eq(swim_self(sw)->state, GMSG_ALIVE);
            ck_assert_uint_eq(swim_health(sw), 1);
            assert_one_event(SELF, GMSG_ALIVE, GMSG_ALIVE);
            ck_assert_uint_eq(ev[0].m.incarnation, incs[k] + 1);
            ck_assert_uint_eq(swim_count(sw), 1);
            n = send_big(sw, r, MAXREC);
            ck_assert_msg(count_id(r, n, SELF) >= 1, "the refutation is not piggybacked");
            for (unsigned i = 0; i < n; i++) {
                ck_assert_int_eq(r[i].state, GMSG_ALIVE);
                ck_assert_uint_eq(r[i].incarnation, incs[k] + 1);
            }
        }
    }
}
END_TEST

START_TEST(test_swim_ignores_a_rumour_about_self_older_than_its_incarnation)
{
    for (int st = GMSG_SUSPECT; st <= GMSG_LEFT; st++) {
        struct gmsg_member u = rec(SELF, SELFINC - 1, st);

        drain(sw, NULL);
        nev = 0;
        ck_assert(!swim_apply(sw, &u, 500));
        ck_assert_uint_eq(swim_self(sw)->incarnation, SELFINC);
        ck_assert_int_eq(swim_self(sw)->state, GMSG_ALIVE);
        ck_assert_uint_eq(swim_health(sw), 0);
        ck_assert_uint_eq(nev, 0);
        ck_assert_uint_eq(drain(sw, NULL), 0);
    }
}
END_TEST

START_TEST(test_swim_ignores_alive_about_self_even_at_a_higher_incarnation)
{
    struct gmsg_member u = rec_at(SELF, SELFINC + 10, GMSG_ALIVE, "elsewhere");

    ck_assert(!swim_apply(sw, &u, 500));
    ck_assert_uint_eq(swim_self(sw)->incarnation, SELFINC);
    ck_assert_str_eq(swim_self(sw)->addr, SELF ":11211");
    ck_assert_uint_eq(swim_count(sw), 1);
    ck_assert_uint_eq(nev, 0);
}
END_TEST

START_TEST(test_swim_after_leave_self_is_left_and_not_refuted_back_to_alive)
{
    struct gmsg_member r[MAXREC];
    unsigned n;

    drain(sw, NULL);
    swim_leave(sw);
    ck_assert_int_eq(swim_self(sw)->state, GMSG_LEFT);
    ck_assert_uint_eq(swim_self(sw)->incarnation, SELFINC + 1);
    assert_one_event(SELF, GMSG_LEFT, GMSG_ALIVE);
    ck_assert_uint_eq(swim_live_count(sw), 0);
    n = send_big(sw, r, MAXREC);
    ck_assert_uint_ge(count_id(r, n, SELF), 1);
    ck_assert_int_eq(r[0].state, GMSG_LEFT);
    for (int st = GMSG_SUSPECT; st <= GMSG_LEFT; st++) {
        struct gmsg_member u = rec(SELF, SELFINC + 50, st);
        ck_assert(!swim_apply(sw, &u, 600));
    }
    ck_assert_int_eq(swim_self(sw)->state, GMSG_LEFT);
    ck_assert_uint_eq(swim_self(sw)->incarnation, SELFINC + 1);
    swim_leave(sw); /* twice: nothing more */
    ck_assert_uint_eq(swim_self(sw)->incarnation, SELFINC + 1);
    ck_assert_uint_eq(nev, 1);
    swim_tick(sw, 10u * cfg.dead_keep_ms);
    ck_assert_uint_eq(swim_count(sw), 1); /* self is never forgotten */
}
END_TEST

/* ---- probing ---- */

START_TEST(test_swim_probe_start_returns_false_without_other_live_members)
{
    struct gmsg_member t;

    ck_assert(!swim_probe_start(sw, 0, &t));
    learn(sw, "d", 1, 0);
    learn(sw, "l", 1, 0);
    put(sw, "d", 1, GMSG_DEAD, 0);
    put(sw, "l", 1, GMSG_LEFT, 0);
    ck_assert(!swim_probe_start(sw, 0, &t));
    ck_assert(!swim_probe_start(sw, IV, &t));
}
END_TEST

/* The index of id in ids[0..n), or -1. */
static int index_of(const char *const *ids, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return i;
    return -1;
}

START_TEST(test_swim_probe_start_visits_every_live_member_once_per_round)
{
    static const char *ids[] = {"a", "b", "c", "d", "e", "f", "g"};
    const int n = 7;
    int order[5][7];
    bool reshuffled = false;
    uint64_t now = 0;

    for (int i = 0; i < n; i++)
        learn(sw, ids[i], 1, 0);
    for (int round = 0; round < 5; round++) {
        bool seen[7] = {false};
        for (int k = 0; k < n; k++) {
            struct gmsg_member t;
            int x;
            ck_assert(swim_probe_start(sw, now += IV, &t));
            x = index_of(ids, n, t.id);
            ck_assert_msg(x >= 0, "probed %s", t.id);
            ck_assert_msg(!seen[x], "round %d probes %s twice", round, t.id);
            seen[x] = true;
            order[round][k] = x;
            ck_assert_int_eq(t.state, GMSG_ALIVE);
            ck_assert_str_eq(t.addr, swim_find(sw, t.id)->addr);
        }
        if (round > 0 && memcmp(order[round], order[round - 1], sizeof(order[0])) != 0)
            reshuffled = true;
    }
    ck_assert_msg(reshuffled, "five rounds in the same order: never reshuffled");
}
END_TEST

START_TEST(test_swim_probe_start_skips_dead_and_left_members_but_probes_suspects)
{
    static const char *ids[] = {"a", "b", "c", "d", "e", "f"};
    uint64_t now = 0;
    struct gmsg_member t;

    for (int i = 0; i < 6; i++)
        learn(sw, ids[i], 1, 0);
    put(sw, "a", 1, GMSG_DEAD, 0);
    put(sw, "b", 1, GMSG_LEFT, 0);
    put(sw, "c", 1, GMSG_SUSPECT, 0);
    for (int round = 0; round < 4; round++) {
        bool seen[6] = {false};
        for (int k = 0; k < 4; k++) {
            int x;
            ck_assert(swim_probe_start(sw, now += IV, &t));
            x = index_of(ids, 6, t.id);
            ck_assert_msg(x >= 2, "probed %s, which is %s", t.id,
                          state_name(state_of(sw, t.id)));
            ck_assert_msg(!seen[x], "round %d probes %s twice", round, t.id);
            seen[x] = true;
        }
    }
}
END_TEST

START_TEST(test_swim_probe_start_skips_a_member_that_died_mid_round)
{
    static const char *ids[] = {"a", "b", "c", "d", "e"};
    struct gmsg_member t;
    bool seen[5] = {false};
    int x, victim = -1;

    for (int i = 0; i < 5; i++)
        learn(sw, ids[i], 1, 0);
    ck_assert(swim_probe_start(sw, IV, &t));
    seen[index_of(ids, 5, t.id)] = true;
    for (int i = 0; i < 5 && victim < 0; i++)
        if (!seen[i])
            victim = i;
    put(sw, ids[victim], 1, GMSG_DEAD, IV);
    for (int k = 0; k < 3; k++) {
        ck_assert(swim_probe_start(sw, IV * (uint64_t)(k + 2), &t));
        x = index_of(ids, 5, t.id);
        ck_assert_msg(x != victim, "probed dead %s", t.id);
        ck_assert_msg(!seen[x], "probed %s twice in a round", t.id);
        seen[x] = true;
    }
}
END_TEST

/* A member learned mid-round waits for the next round; the round in
 * progress still reaches everyone it was going to reach, so a steady trickle
 * of joins cannot starve a member of probes. */
START_TEST(test_swim_member_learned_mid_round_is_probed_from_a_later_round)
{
    static const char *ids[] = {"a", "b", "c", "d", "new"};

    for (uint64_t seed = 1; seed <= 10; seed++) {
        bool seen[5] = {false};
        struct gmsg_member t;
        uint64_t now = 0;
        int x;

        remake(&cfg, seed);
        for (int i = 0; i < 4; i++)
            learn(sw, ids[i], 1, 0);
        for (int k = 0; k < 2; k++) {
            ck_assert(swim_probe_start(sw, now += IV, &t));
            seen[index_of(ids, 5, t.id)] = true;
        }
        learn(sw, "new", 1, now);
        for (int k = 0; k < 2; k++) {
            ck_assert(swim_probe_start(sw, now += IV, &t));
            x = index_of(ids, 5, t.id);
            ck_assert_msg(x != 4 && !seen[x],
                          "seed %llu: a member joined mid-round and the round restarted:"
                          " probe %d of the round went to %s before the round reached"
                          " every old member",
                          (unsigned long long)seed, k + 3, t.id);
            seen[x] = true;
        }
        memset(seen, 0, sizeof(seen));
        for (int k = 0; k < 5; k++) {
            ck_assert(swim_probe_start(sw, now += IV, &t));
            x = index_of(ids, 5, t.id);
            ck_assert_msg(!seen[x], "seed %llu: next round probes %s twice",
                          (unsigned long long)seed, t.id);
            seen[x] = true;
        }
    }
}
END_TEST

START_TEST(test_swim_probe_round_covers_the_live_members_after_one_is_forgotten)
{
    static const char *ids[] = {"a", "b", "c", "d", "e", "f"};
    struct gmsg_member t;
    uint64_t now = 0;
    bool seen[6] = {false};

    for (int i = 0; i < 6; i++)
        learn(sw, ids[i], 1, 0);
    put(sw, "a", 1, GMSG_DEAD, 0);
    ck_assert(swim_probe_start(sw, now += IV, &t));
    swim_tick(sw, cfg.dead_keep_ms); /* forgets a, moving the table around */
    ck_assert_ptr_null(swim_find(sw, "a"));
    for (int k = 0; k < 10; k++) {
        int x;
        ck_assert(swim_probe_start(sw, now += IV, &t));
        x = index_of(ids, 6, t.id);
        ck_assert_msg(x > 0, "probed forgotten or unknown %s", t.id);
        seen[x] = true;
    }
    for (int i = 1; i < 6; i++)
        ck_assert_msg(seen[i], "%s not probed in two rounds", ids[i]);
}
END_TEST

START_TEST(test_swim_probe_helpers_exclude_self_and_the_target_and_are_distinct)
{
    char id[16];
    struct gmsg_member out[32];
    size_t n;

    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        learn(sw, id, 1, 0);
    }
    put(sw, "m8", 1, GMSG_DEAD, 0);
    put(sw, "m9", 1, GMSG_LEFT, 0);
    put(sw, "m7", 1, GMSG_SUSPECT, 0);
    for (int trial = 0; trial < 200; trial++) {
        n = swim_probe_helpers(sw, "m0", out, 3);
        ck_assert_uint_eq(n, 3);
        for (size_t i = 0; i < n; i++) {
            ck_assert_str_ne(out[i].id, SELF);
            ck_assert_str_ne(out[i].id, "m0");
            ck_assert_msg(out[i].state == GMSG_ALIVE || out[i].state == GMSG_SUSPECT,
                          "helper %s is %s", out[i].id, state_name(out[i].state));
            for (size_t j = 0; j < i; j++)
                ck_assert_str_ne(out[i].id, out[j].id);
        }
    }
    /* m1..m7 are the only candidates: asking for more gives those seven */
    n = swim_probe_helpers(sw, "m0", out, 32);
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(out[i].id, out[j].id);
    ck_assert_uint_eq(swim_probe_helpers(sw, "m0", out, 0), 0);
    /* an unknown target excludes only self */
    ck_assert_uint_eq(swim_probe_helpers(sw, "zz", out, 32), 8);
}
END_TEST

START_TEST(test_swim_indirect_k_is_the_configured_helper_count)
{
    struct swim_config c = cfg;

    ck_assert_uint_eq(swim_indirect_k(sw), cfg.indirect_k);
    c.indirect_k = 5;
    remake(&c, SEED);
    ck_assert_uint_eq(swim_indirect_k(sw), 5);
}
END_TEST

START_TEST(test_swim_probe_helpers_returns_none_when_only_the_target_exists)
{
    struct gmsg_member out[4];

    ck_assert_uint_eq(swim_probe_helpers(sw, "a", out, 4), 0);
    learn(sw, "a", 1, 0);
    ck_assert_uint_eq(swim_probe_helpers(sw, "a", out, 4), 0);
    learn(sw, "b", 1, 0);
    ck_assert_uint_eq(swim_probe_helpers(sw, "a", out, 4), 1);
    ck_assert_str_eq(out[0].id, "b");
}
END_TEST

/* Each candidate is as likely as any other, whatever its place in the
 * table: here 99 live candidates sit behind 100 dead members, and 64 are
 * asked for, so each should come out about 64/99 of the time. */
START_TEST(test_swim_probe_helpers_choose_uniformly_among_many_candidates)
{
    enum { NDEAD = 100, NLIVE = 100, MAXH = 64, TRIALS = 2000 };
    static struct gmsg_member out[MAXH];
    static unsigned hits[NLIVE];
    char id[16];
    double want = (double)MAXH / (NLIVE - 1), lo = 1.0, hi = 0.0;
    int lo_at = 0, hi_at = 0;

    for (int i = 0; i < NDEAD; i++) {
        snprintf(id, sizeof(id), "d%d", i);
        learn(sw, id, 1, 0);
        put(sw, id, 1, GMSG_DEAD, 0);
    }
    for (int i = 0; i < NLIVE; i++) {
        snprintf(id, sizeof(id), "l%d", i);
        learn(sw, id, 1, 0);
    }
    for (int t = 0; t < TRIALS; t++) {
        size_t n = swim_probe_helpers(sw, "l0", out, MAXH);
        ck_assert_uint_eq(n, MAXH);
        for (size_t i = 0; i < n; i++) {
            int x;
            ck_assert_msg(out[i].id[0] == 'l', "dead helper %s", out[i].id);
            x = atoi(out[i].id + 1);
            ck_assert_int_ne(x, 0);
            hits[x]++;
        }
    }
    for (int i = 1; i < NLIVE; i++) {
        double f = (double)hits[i] / TRIALS;
        if (f < lo) {
            lo = f;
            lo_at = i;
        }
        if (f > hi) {
            hi = f;
            hi_at = i;
        }
    }
    ck_assert_msg(lo > want - 0.08 && hi < want + 0.08,
                  "helpers are not uniform: each should be chosen %.2f of the time, but"
                  " l%d is chosen %.2f and l%d %.2f",
                  want, lo_at, lo, hi_at, hi);
}
END_TEST

/* ---- suspicion ---- */

START_TEST(test_swim_probe_failed_makes_an_alive_member_suspect)
{
    struct gmsg_member r[MAXREC];
    unsigned n;

    learn(sw, "a", 5, 0);
    drain(sw, NULL);
    nev = 0;
    swim_probe_failed(sw, "a", IV);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_SUSPECT);
    ck_assert_uint_eq(inc_of(sw, "a"), 5);
    assert_one_event("a", GMSG_SUSPECT, GMSG_ALIVE);
    ck_assert_uint_eq(swim_live_count(sw), 2);
    n = send_big(sw, r, MAXREC);
    ck_assert_msg(count_id(r, n, "a") >= 1, "the suspicion is not piggybacked");
    ck_assert_int_eq(r[0].state, GMSG_SUSPECT);
}
END_TEST

START_TEST(test_swim_probe_failed_leaves_dead_left_unknown_and_self_alone)
{
    learn(sw, "d", 5, 0);
    learn(sw, "l", 5, 0);
    put(sw, "d", 5, GMSG_DEAD, 0);
    put(sw, "l", 5, GMSG_LEFT, 0);
    nev = 0;
    swim_probe_failed(sw, "d", IV);
    swim_probe_failed(sw, "l", IV);
    swim_probe_failed(sw, "nobody", IV);
    swim_probe_failed(sw, SELF, IV);
    ck_assert_uint_eq(nev, 0);
    ck_assert_int_eq(state_of(sw, "d"), GMSG_DEAD);
    ck_assert_int_eq(state_of(sw, "l"), GMSG_LEFT);
    ck_assert_int_eq(swim_self(sw)->state, GMSG_ALIVE);
    ck_assert_uint_eq(swim_count(sw), 3);
}
END_TEST

START_TEST(test_swim_suspect_becomes_dead_after_the_suspicion_timeout)
{
    const uint64_t t0 = 5000;
    uint32_t susp;

    learn(sw, "a", 5, 0);
    learn(sw, "b", 5, 0);
    swim_probe_failed(sw, "a", t0);
    susp = swim_suspicion_ms(sw);
    ck_assert_uint_ge(susp, cfg.suspicion_min_ms);
    nev = 0;
    swim_tick(sw, t0 + IV);
    swim_tick(sw, t0 + susp - 1);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_SUSPECT);
    ck_assert_uint_eq(nev, 0);
    swim_tick(sw, t0 + susp);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
    ck_assert_uint_eq(inc_of(sw, "a"), 5);
    assert_one_event("a", GMSG_DEAD, GMSG_SUSPECT);
    ck_assert_int_eq(state_of(sw, "b"), GMSG_ALIVE);
    ck_assert_uint_eq(swim_live_count(sw), 2);
    swim_tick(sw, t0 + 2 * susp);
    ck_assert_uint_eq(nev, 1);
}
END_TEST

START_TEST(test_swim_suspect_that_was_late_for_a_tick_is_dead_at_the_next)
{
    const uint64_t t0 = 5000;
    uint32_t susp;

    learn(sw, "a", 5, 0);
    swim_probe_failed(sw, "a", t0);
    susp = swim_suspicion_ms(sw);
    swim_tick(sw, t0 + susp + 12345);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
}
END_TEST

START_TEST(test_swim_suspect_heard_from_a_peer_becomes_dead_after_the_timeout)
{
    const uint64_t t0 = 3000;
    uint32_t susp;

    learn(sw, "a", 5, 0);
    put(sw, "a", 5, GMSG_SUSPECT, t0);
    susp = swim_suspicion_ms(sw);
    swim_tick(sw, t0 + susp - 1);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_SUSPECT);
    swim_tick(sw, t0 + susp);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
}
END_TEST

START_TEST(test_swim_repeated_probe_failures_do_not_push_the_deadline_back)
{
    const uint64_t t0 = 5000;
    uint32_t susp;

    learn(sw, "a", 5, 0);
    swim_probe_failed(sw, "a", t0);
    susp = swim_suspicion_ms(sw);
    nev = 0;
    swim_probe_failed(sw, "a", t0 + susp / 2);
    ck_assert_uint_eq(nev, 0);
    swim_tick(sw, t0 + susp);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
}
END_TEST

START_TEST(test_swim_alive_with_a_higher_incarnation_clears_the_suspicion)
{
    const uint64_t t0 = 5000;
    uint32_t susp;

    learn(sw, "a", 5, 0);
    swim_probe_failed(sw, "a", t0);
    susp = swim_suspicion_ms(sw);
    nev = 0;
    put(sw, "a", 6, GMSG_ALIVE, t0 + susp - 1);
    assert_one_event("a", GMSG_ALIVE, GMSG_SUSPECT);
    swim_tick(sw, t0 + susp);
    swim_tick(sw, t0 + 3 * susp);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_ALIVE);
    ck_assert_uint_eq(inc_of(sw, "a"), 6);
    ck_assert_uint_eq(nev, 1);
}
END_TEST

START_TEST(test_swim_alive_at_the_same_incarnation_does_not_clear_the_suspicion)
{
    struct gmsg_member a = rec("a", 5, GMSG_ALIVE);
    uint32_t susp;

    learn(sw, "a", 5, 0);
    swim_probe_failed(sw, "a", 0);
    susp = swim_suspicion_ms(sw);
    ck_assert(!swim_apply(sw, &a, 10));
    swim_tick(sw, susp);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
}
END_TEST

START_TEST(test_swim_suspicion_timeout_grows_with_the_log_of_live_members)
{
    struct swim_config c = cfg;
    char id[16];
    uint32_t prev = 0;

    c.suspicion_min_ms = 1;
    remake(&c, SEED);
    ck_assert_uint_eq(swim_suspicion_ms(sw), 1); /* log10(1) = 0: the floor */
    for (int n = 2; n <= 100; n++) {
        double want = c.suspicion_mult * log10((double)n) * c.interval_ms;
        uint32_t got;
        snprintf(id, sizeof(id), "m%d", n);
        learn(sw, id, 1, 0);
        ck_assert_uint_eq(swim_live_count(sw), (size_t)n);
        got = swim_suspicion_ms(sw);
        ck_assert_msg(fabs(got - want) <= 1.0, "%d live: %u ms, want %.0f", n, got, want);
        ck_assert_uint_ge(got, prev);
        prev = got;
    }
    ck_assert_uint_eq(swim_suspicion_ms(sw), 12000); /* 6 * log10(100) * 1000 */
    /* dead and left members do not count */
    for (int n = 11; n <= 100; n++) {
        snprintf(id, sizeof(id), "m%d", n);
        put(sw, id, 1, n % 2 ? GMSG_DEAD : GMSG_LEFT, 0);
    }
    ck_assert_uint_eq(swim_live_count(sw), 10);
    ck_assert_uint_eq(swim_suspicion_ms(sw), 6000);
}
END_TEST

START_TEST(test_swim_suspicion_timeout_never_goes_below_the_minimum)
{
    char id[16];

    ck_assert_uint_eq(swim_suspicion_ms(sw), cfg.suspicion_min_ms);
    for (int n = 2; n <= 20; n++) {
        snprintf(id, sizeof(id), "m%d", n);
        learn(sw, id, 1, 0);
        ck_assert_uint_ge(swim_suspicion_ms(sw), cfg.suspicion_min_ms);
    }
    /* 6 * log10(21) * 1000 < 8000: still the minimum */
    ck_assert_uint_eq(swim_suspicion_ms(sw), cfg.suspicion_min_ms);
}
END_TEST

/* ---- forgetting ---- */

START_TEST(test_swim_dead_and_left_members_are_forgotten_after_dead_keep_ms)
{
    const uint64_t t0 = 1000;
    bool saw_d = false, saw_l = false;

    learn(sw, "a", 1, 0);
    learn(sw, "d", 1, 0);
    learn(sw, "l", 1, 0);
    put(sw, "d", 1, GMSG_DEAD, t0);
    put(sw, "l", 1, GMSG_LEFT, t0);
    nev = 0;
    swim_tick(sw, t0 + cfg.dead_keep_ms - 1);
    ck_assert_uint_eq(swim_count(sw), 4);
    ck_assert_uint_eq(nev, 0);
    swim_tick(sw, t0 + cfg.dead_keep_ms);
    ck_assert_uint_eq(swim_count(sw), 2);
    ck_assert_ptr_null(swim_find(sw, "d"));
    ck_assert_ptr_null(swim_find(sw, "l"));
    ck_assert_int_eq(state_of(sw, "a"), GMSG_ALIVE);
    ck_assert_ptr_eq(swim_member(sw, 0), swim_self(sw));
    ck_assert_str_eq(swim_self(sw)->id, SELF);
    ck_assert_uint_eq(nev, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_msg(ev[i].m.state == 0, "forgetting %s reports state %s", ev[i].m.id,
                      state_name(ev[i].m.state));
        if (strcmp(ev[i].m.id, "d") == 0) {
            ck_assert_int_eq(ev[i].old_state, GMSG_DEAD);
            saw_d = true;
        } else {
            ck_assert_str_eq(ev[i].m.id, "l");
            ck_assert_int_eq(ev[i].old_state, GMSG_LEFT);
            saw_l = true;
        }
    }
    ck_assert(saw_d && saw_l);
    swim_tick(sw, t0 + 100u * cfg.dead_keep_ms);
    ck_assert_uint_eq(swim_count(sw), 2);
}
END_TEST

START_TEST(test_swim_member_dead_by_timeout_is_forgotten_dead_keep_ms_after_it_died)
{
    uint32_t susp;
    uint64_t died;

    learn(sw, "a", 1, 0);
    swim_probe_failed(sw, "a", 0);
    susp = swim_suspicion_ms(sw);
    died = susp;
    swim_tick(sw, died);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
    swim_tick(sw, died + cfg.dead_keep_ms - 1);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
    swim_tick(sw, died + cfg.dead_keep_ms);
    ck_assert_ptr_null(swim_find(sw, "a"));
}
END_TEST

START_TEST(test_swim_forgotten_member_is_learned_again_as_new)
{
    learn(sw, "a", 1, 0);
    put(sw, "a", 1, GMSG_DEAD, 0);
    swim_tick(sw, cfg.dead_keep_ms);
    ck_assert_ptr_null(swim_find(sw, "a"));
    nev = 0;
    learn(sw, "a", 2, cfg.dead_keep_ms + 1);
    assert_one_event("a", GMSG_ALIVE, 0);
}
END_TEST

START_TEST(test_swim_forgetting_many_members_keeps_the_others_intact)
{
    char id[16];

    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        learn(sw, id, (uint64_t)i, 0);
        if (i % 3 != 0)
            put(sw, id, (uint64_t)i, GMSG_DEAD, 0);
    }
    swim_tick(sw, cfg.dead_keep_ms);
    ck_assert_uint_eq(swim_count(sw), 1 + 14);
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        if (i % 3 == 0)
            ck_assert_uint_eq(inc_of(sw, id), (uint64_t)i);
        else
            ck_assert_ptr_null(swim_find(sw, id));
    }
}
END_TEST

/* ---- local health ---- */

START_TEST(test_swim_acked_probes_lower_health_but_not_below_zero)
{
    swim_probe_acked(sw, "x", 0);
    ck_assert_uint_eq(swim_health(sw), 0);
    for (int i = 0; i < 3; i++)
        swim_helper_result(sw, false);
    ck_assert_uint_eq(swim_health(sw), 3);
    swim_probe_acked(sw, "x", IV);
    ck_assert_uint_eq(swim_health(sw), 2);
    for (int i = 0; i < 10; i++)
        swim_probe_acked(sw, "x", IV);
    ck_assert_uint_eq(swim_health(sw), 0);
}
END_TEST

START_TEST(test_swim_missed_nacks_and_refutations_raise_health_up_to_the_cap)
{
    struct gmsg_member u;

    swim_helper_result(sw, true); /* a NACK: the helper is fine, so are we */
    ck_assert_uint_eq(swim_health(sw), 0);
    swim_helper_result(sw, false);
    ck_assert_uint_eq(swim_health(sw), 1);
    u = rec(SELF, SELFINC, GMSG_SUSPECT);
    ck_assert(swim_apply(sw, &u, 0));
    ck_assert_uint_eq(swim_health(sw), 2);
    for (unsigned i = 0; i < 3 * cfg.health_max; i++)
        swim_helper_result(sw, false);
    ck_assert_uint_eq(swim_health(sw), cfg.health_max);
    u = rec(SELF, swim_self(sw)->incarnation, GMSG_DEAD);
    ck_assert(swim_apply(sw, &u, 0));
    ck_assert_uint_eq(swim_health(sw), cfg.health_max);
}
END_TEST

START_TEST(test_swim_probe_timeout_and_interval_scale_with_health)
{
    for (unsigned h = 0; h <= cfg.health_max; h++) {
        ck_assert_uint_eq(swim_health(sw), h);
        ck_assert_uint_eq(swim_probe_timeout_ms(sw), cfg.probe_timeout_ms * (h + 1));
        ck_assert_uint_eq(swim_interval_ms(sw), cfg.interval_ms * (h + 1));
        swim_helper_result(sw, false);
    }
    for (unsigned h = cfg.health_max; h > 0; h--)
        swim_probe_acked(sw, "x", 0);
    ck_assert_uint_eq(swim_probe_timeout_ms(sw), cfg.probe_timeout_ms);
    ck_assert_uint_eq(swim_interval_ms(sw), cfg.interval_ms);
}
END_TEST

/* ---- dissemination ---- */

START_TEST(test_swim_new_node_announces_itself)
{
    struct gmsg_member r[MAXREC];
    unsigned n = send_big(sw, r, MAXREC);

    ck_assert_uint_ge(count_id(r, n, SELF), 1);
    ck_assert_int_eq(r[0].state, GMSG_ALIVE);
    ck_assert_uint_eq(r[0].incarnation, SELFINC);
}
END_TEST

/* Retransmissions go to different peers, one per message: sending a change
 * several times in one message reaches only one peer and uses up its
 * retransmissions at once. */
START_TEST(test_swim_piggyback_carries_each_change_at_most_once_per_message)
{
    static struct gmsg_member r[MAXREC];
    unsigned n, msgs = 0, total = 0, limit;

    drain(sw, NULL);
    learn(sw, "a", 1, 0);
    limit = retransmits(2);
    for (int i = 0; i < 100; i++) {
        unsigned k;
        n = send_big(sw, r, MAXREC);
        if (n == 0)
            break;
        k = count_id(r, n, "a");
        ck_assert_msg(k <= 1,
                      "message %u carries the change about a %u times (retransmissions"
                      " should go out in %u separate messages)",
                      msgs + 1, k, limit);
        msgs += k > 0;
        total += k;
    }
    ck_assert_uint_eq(total, limit);
    ck_assert_uint_eq(msgs, limit);
}
END_TEST

/* Messages with room for one record, so each transmission is a message. */
static unsigned send_one(struct swim *s, struct gmsg_member *r, size_t record_size)
{
    return send_msg(s, header_size(s) + record_size, r, 1);
}

START_TEST(test_swim_each_change_is_piggybacked_retransmit_times_then_stops)
{
    struct gmsg_member r[1], a = rec("a", 1, GMSG_ALIVE);
    unsigned sent = 0, limit;

    drain(sw, NULL);
    ck_assert_uint_eq(send_big(sw, r, 1), 0);
    learn(sw, "a", 1, 0);
    limit = retransmits(2);
    ck_assert_uint_eq(limit, cfg.retransmit_mult);
    for (int i = 0; i < 50; i++) {
        if (send_one(sw, r, rec_size(&a)) == 0)
            break;
        ck_assert_str_eq(r[0].id, "a");
        ck_assert_int_eq(r[0].state, GMSG_ALIVE);
        sent++;
    }
    ck_assert_uint_eq(sent, limit);
    ck_assert_uint_eq(drain(sw, "a"), 0);
}
END_TEST

START_TEST(test_swim_retransmissions_grow_with_the_log_of_the_cluster_size)
{
    char id[16];
    struct gmsg_member r[1], z;
    unsigned sent = 0;

    for (int i = 1; i <= 9; i++) { /* 10 members: ceil(log10(11)) = 2 */
        snprintf(id, sizeof(id), "m%d", i);
        learn(sw, id, 1, 0);
    }
    drain(sw, NULL);
    put(sw, "m1", 1, GMSG_SUSPECT, 0);
    z = rec("m1", 1, GMSG_SUSPECT);
    for (int i = 0; i < 50; i++) {
        if (send_one(sw, r, rec_size(&z)) == 0)
            break;
        ck_assert_str_eq(r[0].id, "m1");
        sent++;
    }
    ck_assert_uint_eq(sent, retransmits(10));
    ck_assert_uint_eq(sent, 2 * cfg.retransmit_mult);
}
END_TEST

START_TEST(test_swim_piggyback_sends_the_fewest_sent_changes_first)
{
    struct gmsg_member r[1], a = rec("a", 1, GMSG_ALIVE);
    size_t one = rec_size(&a);
    bool got_a = false, got_b = false;

    drain(sw, NULL);
    learn(sw, "a", 1, 0);
    ck_assert_uint_eq(send_one(sw, r, one), 1);
    ck_assert_str_eq(r[0].id, "a");
    ck_assert_uint_eq(send_one(sw, r, one), 1);
    ck_assert_str_eq(r[0].id, "a"); /* a: 2 transmissions */
    learn(sw, "b", 1, 0);
    ck_assert_uint_eq(send_one(sw, r, one), 1);
    ck_assert_str_eq(r[0].id, "b"); /* b: 1 */
    ck_assert_uint_eq(send_one(sw, r, one), 1);
    ck_assert_str_eq(r[0].id, "b"); /* b: 2 */
    for (int i = 0; i < 2; i++) {   /* a and b at 2 each: one message each */
        ck_assert_uint_eq(send_one(sw, r, one), 1);
        got_a |= strcmp(r[0].id, "a") == 0;
        got_b |= strcmp(r[0].id, "b") == 0;
    }
    ck_assert(got_a && got_b);
}
END_TEST

START_TEST(test_swim_new_change_to_a_member_resets_its_retransmit_count)
{
    struct gmsg_member r[1], a = rec("a", 1, GMSG_ALIVE);
    unsigned sent = 0, limit = retransmits(2);

    drain(sw, NULL);
    learn(sw, "a", 1, 0);
    for (unsigned i = 0; i + 1 < limit; i++)
        ck_assert_uint_eq(send_one(sw, r, rec_size(&a)), 1);
    swim_probe_failed(sw, "a", IV); /* a new change: suspect */
    for (int i = 0; i < 50; i++) {
        if (send_one(sw, r, rec_size(&a)) == 0)
            break;
        ck_assert_str_eq(r[0].id, "a");
        ck_assert_msg(r[0].state == GMSG_SUSPECT, "stale %s record sent after the change",
                      state_name(r[0].state));
        sent++;
    }
    ck_assert_uint_eq(sent, limit);
}
END_TEST

START_TEST(test_swim_piggyback_takes_what_fits_and_the_rest_comes_later)
{
    static const char *ids[] = {"a", "b", "c", "d", "e"};
    struct gmsg_member r[2], a = rec("a", 1, GMSG_ALIVE);
    unsigned per[5] = {0}, n, total = 0, limit;
    size_t two = 2 * rec_size(&a);

    drain(sw, NULL);
    /* a buffer with no room for any record sends nothing and costs nothing */
    ck_assert_uint_eq(send_msg(sw, header_size(sw), r, 0), 0);
    for (int i = 0; i < 5; i++)
        learn(sw, ids[i], 1, 0);
    limit = retransmits(6);
    ck_assert_uint_eq(send_msg(sw, header_size(sw) + rec_size(&a) - 1, r, 0), 0);
    /* the first three messages carry all five changes once */
    for (int m = 0; m < 3; m++) {
        n = send_msg(sw, header_size(sw) + two, r, 2);
        ck_assert_uint_eq(n, 2);
        for (unsigned i = 0; i < n; i++) {
            int x = index_of(ids, 5, r[i].id);
            ck_assert_int_ge(x, 0);
            per[x]++;
        }
    }
    for (int i = 0; i < 5; i++)
        ck_assert_msg(per[i] >= 1, "%s not sent in the first three messages", ids[i]);
    /* and all of them go out exactly limit times in the end */
    for (int m = 0; m < 100; m++) {
        n = send_msg(sw, header_size(sw) + two, r, 2);
        if (n == 0)
            break;
        for (unsigned i = 0; i < n; i++)
            per[index_of(ids, 5, r[i].id)]++;
    }
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(per[i] == limit, "%s sent %u times, want %u", ids[i], per[i],
                      limit);
        total += per[i];
    }
    ck_assert_uint_eq(total, 5 * limit);
}
END_TEST

START_TEST(test_swim_fill_all_lists_every_member_self_first)
{
    static struct gmsg_member r[MAXREC];
    unsigned n;

    learn(sw, "a", 1, 0);
    learn(sw, "s", 2, 0);
    learn(sw, "d", 3, 0);
    learn(sw, "l", 4, 0);
    put(sw, "s", 2, GMSG_SUSPECT, 0);
    put(sw, "d", 3, GMSG_DEAD, 0);
    put(sw, "l", 4, GMSG_LEFT, 0);
    for (int rep = 0; rep < 2; rep++) { /* fill_all consumes no retransmission */
        static char buf[65536];
        struct gmsg_writer w;
        struct gmsg_reader rd;
        struct gmsg_header h;
        size_t len;

        gmsg_begin(&w, buf, sizeof(buf), GMSG_SYNC, swim_self(sw), NULL);
        swim_fill_all(sw, &w);
        len = gmsg_end(&w);
        ck_assert_int_eq(gmsg_read_header(&rd, buf, len, &h), 0);
        n = 0;
        while (n < MAXREC && gmsg_read_record(&rd, &r[n]) == 1)
            n++;
        ck_assert_uint_eq(n, 5);
        ck_assert_str_eq(r[0].id, SELF);
        ck_assert_uint_eq(r[0].incarnation, SELFINC);
        ck_assert_int_eq(r[0].state, GMSG_ALIVE);
        for (unsigned i = 1; i < n; i++) {
            const struct gmsg_member *m = swim_find(sw, r[i].id);
            ck_assert_ptr_nonnull(m);
            ck_assert_int_eq(r[i].state, m->state);
            ck_assert_uint_eq(r[i].incarnation, m->incarnation);
            ck_assert_str_eq(r[i].addr, m->addr);
            ck_assert_uint_eq(count_id(r, n, r[i].id), 1);
        }
    }
}
END_TEST

START_TEST(test_swim_pick_sync_picks_only_live_members_unless_dead_ok)
{
    struct gmsg_member out;
    bool seen_a = false, seen_b = false, seen_d = false, seen_l = false;

    ck_assert(!swim_pick_sync(sw, false, &out));
    ck_assert(!swim_pick_sync(sw, true, &out));
    learn(sw, "d", 1, 0);
    learn(sw, "l", 1, 0);
    put(sw, "d", 1, GMSG_DEAD, 0);
    put(sw, "l", 1, GMSG_LEFT, 0);
    ck_assert(!swim_pick_sync(sw, false, &out));
    learn(sw, "a", 1, 0);
    learn(sw, "b", 1, 0);
    put(sw, "b", 1, GMSG_SUSPECT, 0);
    for (int i = 0; i < 200; i++) {
        ck_assert(swim_pick_sync(sw, false, &out));
        ck_assert_msg(strcmp(out.id, "a") == 0 || strcmp(out.id, "b") == 0,
                      "picked %s (%s) without dead_ok", out.id, state_name(out.state));
        seen_a |= strcmp(out.id, "a") == 0;
        seen_b |= strcmp(out.id, "b") == 0;
        ck_assert(swim_pick_sync(sw, true, &out));
        ck_assert_msg(strcmp(out.id, "d") == 0 || strcmp(out.id, "l") == 0,
                      "picked %s (%s) with dead_ok and dead members known", out.id,
                      state_name(out.state));
        seen_d |= strcmp(out.id, "d") == 0;
        seen_l |= strcmp(out.id, "l") == 0;
    }
    ck_assert(seen_a && seen_b && seen_d && seen_l);
    /* dead_ok without any dead member falls back to a live one */
    swim_tick(sw, cfg.dead_keep_ms);
    ck_assert_uint_eq(swim_count(sw), 3);
    for (int i = 0; i < 20; i++) {
        ck_assert(swim_pick_sync(sw, true, &out));
        ck_assert_str_ne(out.id, SELF);
    }
}
END_TEST

/* ---- a simulated cluster ---- */

#define NN 5

struct node {
    struct swim *s;
    bool up;                 /* runs its periods and answers messages */
    uint64_t suspect_at[NN]; /* when it first thought node i suspect (0: never) */
    uint64_t dead_at[NN];    /* when it first thought node i dead (0: never) */
};

static struct node net[NN];
static uint64_t sim_now;
static unsigned sim_periods;
/* Periods between push/pulls (gossip.c's SYNC_EVERY), or 0 for none: with
 * none, members learn of each other through piggybacked updates alone. */
static unsigned sim_sync_every;

static int node_of(const char *id)
{
    ck_assert_msg(id[0] == 'n' && id[1] >= '0' && id[1] < '0' + NN && id[2] == '\0',
                  "unexpected id %s", id);
    return id[1] - '0';
}

static void on_sim_change(void *arg, const struct gmsg_member *m, int old_state)
{
    struct node *me = arg;
    int x = node_of(m->id);

    if (m->state == GMSG_SUSPECT && me->suspect_at[x] == 0)
        me->suspect_at[x] = sim_now;
    (void)old_state;
    if (m->state == GMSG_DEAD && me->dead_at[x] == 0)
        me->dead_at[x] = sim_now;
}

/* from sends a message of type to `to` with its piggybacked updates (which
 * count as sent either way), or for SYNC and SYNC_ACK with every member it
 * knows; `to`, if up, takes the sender's own record and every other. */
static void deliver(int from, int to, enum gmsg_type type, const char *target)
{
    static char buf[65536];
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member m;
    size_t len;

    gmsg_begin(&w, buf, sizeof(buf), type, swim_self(net[from].s), target);
    if (type == GMSG_SYNC || type == GMSG_SYNC_ACK)
        swim_fill_all(net[from].s, &w);
    else
        swim_piggyback(net[from].s, &w);
    len = gmsg_end(&w);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
    if (!net[to].up)
        return;
    swim_apply(net[to].s, &h.sender, sim_now);
    while (gmsg_read_record(&r, &m) == 1)
        swim_apply(net[to].s, &m, sim_now);
}

/* One protocol period of node a: a direct probe, indirect ones through
 * helpers when the target does not answer, suspicion when nobody does. */
static void period(int a)
{
    struct swim *s = net[a].s;
    struct gmsg_member t, helpers[8];
    size_t nh;
    int b;

    swim_tick(s, sim_now);
    if (sim_sync_every != 0 && (sim_periods + (unsigned)a) % sim_sync_every == 0) {
        /* as gossip.c: now and then with a dead member, if one is known */
        bool dead_ok = (sim_periods / sim_sync_every) % 2 == 0;
        if (swim_pick_sync(s, dead_ok, &t)) {
            b = node_of(t.id);
            deliver(a, b, GMSG_SYNC, NULL);
            if (net[b].up)
                deliver(b, a, GMSG_SYNC_ACK, NULL);
        }
    }
    if (!swim_probe_start(s, sim_now, &t))
        return;
    b = node_of(t.id);
    deliver(a, b, GMSG_PING, NULL);
    if (net[b].up) {
        deliver(b, a, GMSG_ACK, NULL);
        swim_probe_acked(s, t.id, sim_now);
        return;
    }
    nh = swim_probe_helpers(s, t.id, helpers, swim_indirect_k(s));
    for (size_t i = 0; i < nh; i++) {
        int h = node_of(helpers[i].id);
        deliver(a, h, GMSG_PING_REQ, t.id);
        if (!net[h].up) {
            swim_helper_result(s, false);
            continue;
        }
        deliver(h, b, GMSG_PING, NULL); /* lost: b is down */
        deliver(h, a, GMSG_NACK, NULL);
        swim_helper_result(s, true);
    }
    swim_probe_failed(s, t.id, sim_now);
}

static void sim_setup(void)
{
    memset(net, 0, sizeof(net));
    sim_now = IV;
    sim_periods = 0;
    sim_sync_every = 0;
    for (int i = 0; i < NN; i++) {
        char id[16], host[16];
        struct gmsg_member self;
        snprintf(id, sizeof(id), "n%d", i);
        snprintf(host, sizeof(host), "10.0.0.%d", i + 1);
        self = rec_at(id, 1000 + (uint64_t)i, GMSG_ALIVE, host);
        ck_assert_int_eq(
            swim_new(&cfg, &self, SEED + (uint64_t)i, on_sim_change, &net[i], &net[i].s),
            0);
        net[i].up = true;
    }
    /* everyone is started knowing the seed node n0 */
    for (int i = 1; i < NN; i++)
        ck_assert(swim_apply(net[i].s, swim_self(net[0].s), sim_now));
}

static void sim_teardown(void)
{
    for (int i = 0; i < NN; i++)
        swim_free(net[i].s);
    memset(net, 0, sizeof(net));
}

static void run_periods(int k)
{
    for (int p = 0; p < k; p++) {
        sim_now += IV;
        sim_periods++;
        for (int i = 0; i < NN; i++)
            if (net[i].up)
                period(i);
    }
}

/* Every up node sees node x in state st (and, when inc != 0, at inc). */
static bool all_see(int x, int st, uint64_t inc)
{
    char id[16];

    snprintf(id, sizeof(id), "n%d", x);
    for (int i = 0; i < NN; i++) {
        const struct gmsg_member *m;
        if (!net[i].up || i == x)
            continue;
        m = swim_find(net[i].s, id);
        if (m == NULL || m->state != st || (inc != 0 && m->incarnation != inc))
            return false;
    }
    return true;
}

static void assert_converged(void)
{
    for (int i = 0; i < NN; i++) {
        ck_assert_msg(swim_count(net[i].s) == NN, "n%d knows %zu members", i,
                      swim_count(net[i].s));
        ck_assert_msg(all_see(i, GMSG_ALIVE, swim_self(net[i].s)->incarnation),
                      "not everyone sees n%d alive at incarnation %llu", i,
                      (unsigned long long)swim_self(net[i].s)->incarnation);
    }
}

START_TEST(test_swim_cluster_of_5_converges_to_the_same_view)
{
    run_periods(30);
    assert_converged();
    for (int i = 0; i < NN; i++) {
        ck_assert_uint_eq(swim_self(net[i].s)->incarnation, 1000 + (uint64_t)i);
        for (int j = 0; j < NN; j++)
            ck_assert_uint_eq(net[i].suspect_at[j], 0);
        ck_assert_str_eq(swim_find(net[0].s, swim_self(net[i].s)->id)->addr,
                         swim_self(net[i].s)->addr);
    }
}
END_TEST

START_TEST(test_swim_cluster_declares_a_crashed_member_dead_after_the_suspicion_timeout)
{
    const int x = 4;
    uint64_t crash, first_suspect = UINT64_MAX, first_dead = UINT64_MAX, susp;

    run_periods(30);
    assert_converged();
    susp = swim_suspicion_ms(net[0].s);
    crash = sim_now;
    net[x].up = false;
    /* each node probes x within two rounds of NN - 1 probes; give gossip a
     * few more periods to spread the verdict */
    run_periods((int)(2 * (NN - 1) + susp / IV + 10));
    for (int i = 0; i < NN; i++) {
        if (i == x)
            continue;
        ck_assert_msg(net[i].dead_at[x] != 0, "n%d never declared n%d dead", i, x);
        if (net[i].suspect_at[x] != 0 && net[i].suspect_at[x] < first_suspect)
            first_suspect = net[i].suspect_at[x];
        if (net[i].dead_at[x] < first_dead)
            first_dead = net[i].dead_at[x];
        ck_assert_int_eq(state_of(net[i].s, "n4"), GMSG_DEAD);
        for (int j = 0; j < NN; j++)
            if (j != x && j != i)
                ck_assert_msg(state_of(net[i].s, swim_self(net[j].s)->id) == GMSG_ALIVE,
                              "n%d sees healthy n%d as %s", i, j,
                              state_name(state_of(net[i].s, swim_self(net[j].s)->id)));
    }
    ck_assert_msg(first_suspect != UINT64_MAX, "nobody suspected n%d first", x);
    ck_assert_uint_gt(first_suspect, crash);
    ck_assert_msg(first_dead >= first_suspect + susp,
                  "n%d declared dead at %llu, before the suspicion timeout (suspected at"
                  " %llu, timeout %llu)",
                  x, (unsigned long long)first_dead, (unsigned long long)first_suspect,
                  (unsigned long long)susp);
}
END_TEST

static bool anyone_suspects(int x)
{
    for (int i = 0; i < NN; i++)
        if (i != x && net[i].suspect_at[x] != 0)
            return true;
    return false;
}

/* n3 stops (a long GC pause, a stalled VM) until somebody suspects it, then
 * comes back. It hears of the rumour about itself by piggybacking only if
 * some retransmission is left by then; the push/pull that gossip.c runs
 * every few periods is what makes sure it does. */
START_TEST(test_swim_cluster_keeps_a_paused_member_that_refutes_in_time)
{
    const int x = 3;
    uint64_t inc0, pause, susp;

    sim_sync_every = 4;
    run_periods(30);
    assert_converged();
    inc0 = swim_self(net[x].s)->incarnation;
    susp = swim_suspicion_ms(net[0].s);
    pause = sim_now;
    net[x].up = false;
    for (int p = 0; p < 20 && !anyone_suspects(x); p++)
        run_periods(1);
    ck_assert_msg(anyone_suspects(x), "nobody suspected n%d during its pause", x);
    net[x].up = true;
    run_periods((int)(3 * susp / IV));
    for (int i = 0; i < NN; i++)
        ck_assert_msg(i == x || net[i].dead_at[x] == 0,
                      "n%d declared paused n%d dead at +%llu ms (suspected at +%llu ms, "
                      "suspicion timeout %llu ms)",
                      i, x, (unsigned long long)(net[i].dead_at[x] - pause),
                      (unsigned long long)(net[i].suspect_at[x] - pause),
                      (unsigned long long)susp);
    ck_assert_uint_gt(swim_self(net[x].s)->incarnation, inc0);
    ck_assert(all_see(x, GMSG_ALIVE, swim_self(net[x].s)->incarnation));
    assert_converged();
}
END_TEST

static Suite *swim_suite(void)
{
    Suite *s = suite_create("swim");
    TCase *tc = tcase_create("swim");
    TCase *sim = tcase_create("cluster");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_swim_new_makes_self_alive_and_counted);
    tcase_add_test(tc, test_swim_new_refuses_an_invalid_self);
    tcase_add_test(tc, test_swim_new_refuses_a_self_id_the_wire_cannot_carry);
    tcase_add_test(tc, test_swim_config_defaults_scale_with_the_period);
    tcase_add_test(tc, test_swim_apply_alive_about_an_unknown_member_adds_it);
    tcase_add_test(tc, test_swim_apply_the_same_update_twice_changes_nothing);
    tcase_add_test(tc,
                   test_swim_apply_suspect_about_an_unknown_member_adds_it_as_suspect);
    tcase_add_test(tc, test_swim_apply_dead_or_left_about_an_unknown_member_is_ignored);
    tcase_add_test(tc, test_swim_learns_many_members_past_the_initial_table);
    tcase_add_test(
        tc, test_swim_precedence_follows_the_table_for_every_state_and_incarnation);
    tcase_add_test(tc, test_swim_member_that_restarts_comes_back_from_dead_and_left);
    tcase_add_test(tc, test_swim_refutes_a_rumour_about_self_with_a_higher_incarnation);
    tcase_add_test(tc, test_swim_ignores_a_rumour_about_self_older_than_its_incarnation);
    tcase_add_test(tc, test_swim_ignores_alive_about_self_even_at_a_higher_incarnation);
    tcase_add_test(tc, test_swim_after_leave_self_is_left_and_not_refuted_back_to_alive);
    tcase_add_test(tc, test_swim_probe_start_returns_false_without_other_live_members);
    tcase_add_test(tc, test_swim_probe_start_visits_every_live_member_once_per_round);
    tcase_add_test(tc,
                   test_swim_probe_start_skips_dead_and_left_members_but_probes_suspects);
    tcase_add_test(tc, test_swim_probe_start_skips_a_member_that_died_mid_round);
    tcase_add_test(tc, test_swim_member_learned_mid_round_is_probed_from_a_later_round);
    tcase_add_test(tc,
                   test_swim_probe_round_covers_the_live_members_after_one_is_forgotten);
    tcase_add_test(tc,
                   test_swim_probe_helpers_exclude_self_and_the_target_and_are_distinct);
    tcase_add_test(tc, test_swim_indirect_k_is_the_configured_helper_count);
    tcase_add_test(tc, test_swim_probe_helpers_returns_none_when_only_the_target_exists);
    tcase_add_test(tc, test_swim_probe_helpers_choose_uniformly_among_many_candidates);
    tcase_add_test(tc, test_swim_probe_failed_makes_an_alive_member_suspect);
    tcase_add_test(tc, test_swim_probe_failed_leaves_dead_left_unknown_and_self_alone);
    tcase_add_test(tc, test_swim_suspect_becomes_dead_after_the_suspicion_timeout);
    tcase_add_test(tc, test_swim_suspect_that_was_late_for_a_tick_is_dead_at_the_next);
    tcase_add_test(tc,
                   test_swim_suspect_heard_from_a_peer_becomes_dead_after_the_timeout);
    tcase_add_test(tc, test_swim_repeated_probe_failures_do_not_push_the_deadline_back);
    tcase_add_test(tc, test_swim_alive_with_a_higher_incarnation_clears_the_suspicion);
    tcase_add_test(tc,
                   test_swim_alive_at_the_same_incarnation_does_not_clear_the_suspicion);
    tcase_add_test(tc, test_swim_suspicion_timeout_grows_with_the_log_of_live_members);
    tcase_add_test(tc, test_swim_suspicion_timeout_never_goes_below_the_minimum);
    tcase_add_test(tc, test_swim_dead_and_left_members_are_forgotten_after_dead_keep_ms);
    tcase_add_test(
        tc, test_swim_member_dead_by_timeout_is_forgotten_dead_keep_ms_after_it_died);
    tcase_add_test(tc, test_swim_forgotten_member_is_learned_again_as_new);
    tcase_add_test(tc, test_swim_forgetting_many_members_keeps_the_others_intact);
    tcase_add_test(tc, test_swim_acked_probes_lower_health_but_not_below_zero);
    tcase_add_test(tc, test_swim_missed_nacks_and_refutations_raise_health_up_to_the_cap);
    tcase_add_test(tc, test_swim_probe_timeout_and_interval_scale_with_health);
    tcase_add_test(tc, test_swim_new_node_announces_itself);
    tcase_add_test(tc, test_swim_piggyback_carries_each_change_at_most_once_per_message);
    tcase_add_test(tc, test_swim_each_change_is_piggybacked_retransmit_times_then_stops);
    tcase_add_test(tc, test_swim_retransmissions_grow_with_the_log_of_the_cluster_size);
    tcase_add_test(tc, test_swim_piggyback_sends_the_fewest_sent_changes_first);
    tcase_add_test(tc, test_swim_new_change_to_a_member_resets_its_retransmit_count);
    tcase_add_test(tc, test_swim_piggyback_takes_what_fits_and_the_rest_comes_later);
    tcase_add_test(tc, test_swim_fill_all_lists_every_member_self_first);
    tcase_add_test(tc, test_swim_pick_sync_picks_only_live_members_unless_dead_ok);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(sim, setup, teardown);
    tcase_add_checked_fixture(sim, sim_setup, sim_teardown);
    tcase_set_timeout(sim, 60);
    tcase_add_test(sim, test_swim_cluster_of_5_converges_to_the_same_view);
    tcase_add_test(
        sim,
        test_swim_cluster_declares_a_crashed_member_dead_after_the_suspicion_timeout);
    tcase_add_test(sim, test_swim_cluster_keeps_a_paused_member_that_refutes_in_time);
    suite_add_tcase(s, sim);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(swim_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
