/* check_swim: the SWIM member table, driven with time passed in and fixed
 * seeds: creation, learning members, update precedence (exhaustively, per
 * the table in swim.h), refutation of rumours about self, and forgetting.
 * Failure detection is in check_swim_detect.c, dissemination and a
 * simulated cluster in check_swim_dissemination.c. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "cluster/gmsg.h"
#include "cluster/swim.h"

#include "swim_fixture.h"

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

static Suite *swim_suite(void)
{
    Suite *s = suite_create("swim");
    TCase *tc = tcase_create("swim");

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
    tcase_add_test(tc, test_swim_dead_and_left_members_are_forgotten_after_dead_keep_ms);
    tcase_add_test(
        tc, test_swim_member_dead_by_timeout_is_forgotten_dead_keep_ms_after_it_died);
    tcase_add_test(tc, test_swim_forgotten_member_is_learned_again_as_new);
    tcase_add_test(tc, test_swim_forgetting_many_members_keeps_the_others_intact);
    suite_add_tcase(s, tc);
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
