/* check_swim_dissemination: how SWIM spreads changes, driven with time
 * passed in and fixed seeds: piggybacking on real gmsg messages, how often
 * and in which order each change is retransmitted, full-state syncs, and a
 * simulated cluster of five instances that gossip in memory. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "cluster/gmsg.h"
#include "cluster/swim.h"

#include "swim_fixture.h"

static size_t rec_size(const struct gmsg_member *m)
{
    return 1 + strlen(m->id) + 8 + 1 + 1 + strlen(m->addr) + 1 + strlen(m->gaddr);
}

/* The smallest buffer for a PING from s carrying no record. */
static size_t header_size(const struct swim *s)
{
    return 3 + 1 + 1 + rec_size(swim_self(s)) + 2;
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

static Suite *swim_dissemination_suite(void)
{
    Suite *s = suite_create("swim_dissemination");
    TCase *tc = tcase_create("dissemination");
    TCase *sim = tcase_create("cluster");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
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
    SRunner *sr = srunner_create(swim_dissemination_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
