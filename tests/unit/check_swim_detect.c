/* check_swim_detect: SWIM's failure detector, driven with time passed in
 * and fixed seeds: round-robin probing and the choice of indirect probe
 * helpers, suspicion and its timeout, and local health. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "cluster/gmsg.h"
#include "cluster/swim.h"

#include "swim_fixture.h"

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
        /* unconfirmed: Lifeguard's max, beta * alpha * log10(n) * interval */
        double want =
            c.suspicion_max_mult * c.suspicion_mult * log10((double)n) * c.interval_ms;
        uint32_t got;
        snprintf(id, sizeof(id), "m%d", n);
        learn(sw, id, 1, 0);
        ck_assert_uint_eq(swim_live_count(sw), (size_t)n);
        got = swim_suspicion_ms(sw);
        ck_assert_msg(fabs(got - want) <= 1.0, "%d live: %u ms, want %.0f", n, got, want);
        ck_assert_uint_ge(got, prev);
        prev = got;
    }
    ck_assert_uint_eq(swim_suspicion_ms(sw), 48000); /* 6 * 4 * log10(100) * 1000 */
    /* dead and left members do not count */
    for (int n = 11; n <= 100; n++) {
        snprintf(id, sizeof(id), "m%d", n);
        put(sw, id, 1, n % 2 ? GMSG_DEAD : GMSG_LEFT, 0);
    }
    ck_assert_uint_eq(swim_live_count(sw), 10);
    ck_assert_uint_eq(swim_suspicion_ms(sw), 24000);
}
END_TEST

START_TEST(test_swim_suspicion_timeout_never_goes_below_the_minimum)
{
    char id[16];

    ck_assert_uint_eq(swim_suspicion_ms(sw), cfg.suspicion_min_ms);
    for (int n = 2; n <= 20; n++) {
        snprintf(id, sizeof(id), "m%d", n);
        learn(sw, id, 1, 0);
        for (unsigned k = 0; k <= cfg.suspicion_k + 1; k++)
            ck_assert_uint_ge(swim_suspicion_timeout_ms(sw, k, false),
                              cfg.suspicion_min_ms);
    }
    /* fully confirmed, 4 * log10(21) * 1000 < 6000: still the floor */
    ck_assert_uint_eq(swim_suspicion_timeout_ms(sw, cfg.suspicion_k, false),
                      cfg.suspicion_min_ms);
}
END_TEST

/* ---- Lifeguard: confirmations and hard evidence ---- */

START_TEST(test_swim_suspicion_timeout_falls_from_max_to_min_with_confirmations)
{
    struct swim_config c = cfg;
    char id[16];
    uint32_t prev = UINT32_MAX;

    c.suspicion_min_ms = 1;
    remake(&c, SEED);
    for (int n = 2; n <= 10; n++) {
        snprintf(id, sizeof(id), "m%d", n);
        learn(sw, id, 1, 0);
    }
    /* n = 10: min = 4 * 1 * 1000, max = 6 * min */
    ck_assert_uint_eq(swim_suspicion_timeout_ms(sw, 0, false), 24000);
    ck_assert_uint_eq(swim_suspicion_timeout_ms(sw, 1, false), 14000); /* log 2 / log 4 */
    for (unsigned k = 0; k <= c.suspicion_k; k++) {
        uint32_t t = swim_suspicion_timeout_ms(sw, k, false);
        ck_assert_uint_lt(t, prev);
        prev = t;
    }
    ck_assert_uint_eq(prev, 4000);
    ck_assert_uint_eq(swim_suspicion_timeout_ms(sw, c.suspicion_k + 3, false), 4000);
    /* hard evidence: one period, whatever n */
    ck_assert_uint_eq(swim_suspicion_timeout_ms(sw, 0, true), c.evidence_ms);
    ck_assert_uint_eq(c.evidence_ms, IV);
}
END_TEST

START_TEST(test_swim_confirmations_bring_the_deadline_closer_each_member_once)
{
    const uint64_t t0 = 5000;
    uint64_t d0, d1;

    learn(sw, "a", 5, 0);
    learn(sw, "b", 5, 0);
    learn(sw, "c", 5, 0);
    learn(sw, "d", 5, 0);
    ck_assert(!swim_confirm(sw, "a", "b", t0)); /* not suspect yet */
    swim_probe_failed(sw, "a", t0);
    d0 = swim_deadline(sw, "a");
    ck_assert_uint_eq(d0, t0 + swim_suspicion_ms(sw));
    ck_assert(!swim_confirm(sw, "a", SELF, t0 + 1)); /* its accuser */
    ck_assert(!swim_confirm(sw, "a", "a", t0 + 1));
    ck_assert(swim_confirm(sw, "a", "b", t0 + 1));
    d1 = swim_deadline(sw, "a");
    ck_assert_uint_eq(d1, t0 + swim_suspicion_timeout_ms(sw, 1, false));
    ck_assert_uint_lt(d1, d0);
    ck_assert(!swim_confirm(sw, "a", "b", t0 + 2)); /* once */
    ck_assert_uint_eq(swim_deadline(sw, "a"), d1);
    ck_assert(swim_confirm(sw, "a", "c", t0 + 3));
    ck_assert(swim_confirm(sw, "a", "d", t0 + 4));
    /* 3 = k: Lifeguard's min, held at the floor by timeouts alone */
    ck_assert_uint_eq(swim_deadline(sw, "a"), t0 + cfg.suspicion_min_ms);
    swim_tick(sw, t0 + cfg.suspicion_min_ms - 1);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_SUSPECT);
    swim_tick(sw, t0 + cfg.suspicion_min_ms);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
    ck_assert_uint_eq(swim_deadline(sw, "a"), 0);
}
END_TEST

START_TEST(test_swim_heard_suspicion_counts_this_nodes_own_failure_as_a_confirmation)
{
    learn(sw, "a", 5, 0);
    learn(sw, "b", 5, 0);
    put(sw, "a", 5, GMSG_SUSPECT, 100);
    ck_assert_uint_eq(swim_deadline(sw, "a"), 100 + swim_suspicion_ms(sw));
    ck_assert(swim_confirm(sw, "a", SELF, 200));
    ck_assert_uint_eq(swim_deadline(sw, "a"),
                      100 + swim_suspicion_timeout_ms(sw, 1, false));
}
END_TEST

START_TEST(test_swim_evidence_suspects_an_alive_member_dead_one_period_later)
{
    const uint64_t t0 = 7000;

    learn(sw, "a", 5, 0);
    learn(sw, "b", 5, 0);
    nev = 0;
    ck_assert(swim_evidence(sw, "a", 5, t0));
    assert_one_event("a", GMSG_SUSPECT, GMSG_ALIVE);
    ck_assert_uint_eq(swim_deadline(sw, "a"), t0 + cfg.evidence_ms);
    ck_assert_uint_eq(swim_next_deadline(sw), t0 + cfg.evidence_ms);
    ck_assert(!swim_evidence(sw, "a", 5, t0 + 10)); /* once is enough */
    swim_tick(sw, t0 + cfg.evidence_ms - 1);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_SUSPECT);
    swim_tick(sw, t0 + cfg.evidence_ms);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_DEAD);
    ck_assert_uint_eq(inc_of(sw, "a"), 5);
    ck_assert_uint_eq(swim_next_deadline(sw), UINT64_MAX);
}
END_TEST

START_TEST(test_swim_evidence_brings_a_suspicion_forward_never_back)
{
    struct swim_config c = cfg;
    const uint64_t t0 = 7000;

    learn(sw, "a", 5, 0);
    swim_probe_failed(sw, "a", t0);
    ck_assert(swim_evidence(sw, "a", 5, t0 + 500));
    ck_assert_uint_eq(swim_deadline(sw, "a"), t0 + 500 + cfg.evidence_ms);
    /* evidence that would come due later than the suspicion changes nothing */
    c.evidence_ms = 100000;
    remake(&c, SEED);
    learn(sw, "a", 5, 0);
    swim_probe_failed(sw, "a", t0);
    ck_assert(!swim_evidence(sw, "a", 5, t0 + 500));
    ck_assert_uint_eq(swim_deadline(sw, "a"), t0 + swim_suspicion_ms(sw));
}
END_TEST

START_TEST(test_swim_evidence_ignores_other_incarnations_the_dead_self_and_strangers)
{
    learn(sw, "a", 5, 0);
    learn(sw, "b", 5, 0);
    put(sw, "b", 5, GMSG_DEAD, 10);
    nev = 0;
    ck_assert(!swim_evidence(sw, "a", 4, 100)); /* an older life */
    ck_assert(!swim_evidence(sw, "a", 6, 100));
    ck_assert(!swim_evidence(sw, "b", 5, 100));
    ck_assert(!swim_evidence(sw, SELF, SELFINC, 100));
    ck_assert(!swim_evidence(sw, "nobody", 1, 100));
    ck_assert_uint_eq(nev, 0);
    ck_assert_int_eq(state_of(sw, "a"), GMSG_ALIVE);
    ck_assert_int_eq(swim_self(sw)->state, GMSG_ALIVE);
}
END_TEST

START_TEST(test_swim_new_suspicion_forgets_the_old_ones_confirmations_and_evidence)
{
    learn(sw, "a", 5, 0);
    swim_evidence(sw, "a", 5, 100);
    put(sw, "a", 6, GMSG_ALIVE, 200); /* refuted */
    put(sw, "a", 6, GMSG_SUSPECT, 300);
    ck_assert_uint_eq(swim_deadline(sw, "a"), 300 + swim_suspicion_ms(sw));
    ck_assert(swim_evidence(sw, "a", 6, 400));
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

static Suite *swim_detect_suite(void)
{
    Suite *s = suite_create("swim_detect");
    TCase *tc = tcase_create("detect");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
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
    tcase_add_test(tc,
                   test_swim_suspicion_timeout_falls_from_max_to_min_with_confirmations);
    tcase_add_test(tc,
                   test_swim_confirmations_bring_the_deadline_closer_each_member_once);
    tcase_add_test(
        tc, test_swim_heard_suspicion_counts_this_nodes_own_failure_as_a_confirmation);
    tcase_add_test(tc, test_swim_evidence_suspects_an_alive_member_dead_one_period_later);
    tcase_add_test(tc, test_swim_evidence_brings_a_suspicion_forward_never_back);
    tcase_add_test(
        tc, test_swim_evidence_ignores_other_incarnations_the_dead_self_and_strangers);
    tcase_add_test(
        tc, test_swim_new_suspicion_forgets_the_old_ones_confirmations_and_evidence);
    tcase_add_test(tc, test_swim_acked_probes_lower_health_but_not_below_zero);
    tcase_add_test(tc, test_swim_missed_nacks_and_refutations_raise_health_up_to_the_cap);
    tcase_add_test(tc, test_swim_probe_timeout_and_interval_scale_with_health);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(swim_detect_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
