/* swim_fixture.h: what the check_swim* programs share: the instance under
 * test (sw, with config cfg) and the changes its callback reported, records
 * to feed it, and messages built and read back with gmsg to see what it
 * piggybacks. Each Check program is one file that includes this once, so
 * everything here is static: every program has its own sw. */
#ifndef SWIM_FIXTURE_H
#define SWIM_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* Every change callback, in order (this test process only). */
struct event {
    struct gmsg_member m;
    int old_state;
};
static struct event ev[MAXEV];
static size_t nev;

static inline void on_change(void *arg, const struct gmsg_member *m, int old_state)
{
    (void)arg;
    if (nev < MAXEV) {
        ev[nev].m = *m;
        ev[nev].old_state = old_state;
    }
    nev++;
}

static inline const char *state_name(int state)
{
    static const char *names[] = {"none", "alive", "suspect", "dead", "left"};

    return state >= 0 && state <= GMSG_LEFT ? names[state] : "invalid";
}

/* A record about id at host "host" (addr host:11211, gaddr host:7946). */
static inline struct gmsg_member rec_at(const char *id, uint64_t inc, int state,
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

static inline struct gmsg_member rec(const char *id, uint64_t inc, int state)
{
    return rec_at(id, inc, state, id);
}

static inline struct swim *make_swim_cfg(const struct swim_config *c, uint64_t seed)
{
    struct gmsg_member self = rec(SELF, SELFINC, GMSG_ALIVE);
    struct swim *s = NULL;

    ck_assert_int_eq(swim_new(c, &self, seed, on_change, NULL, &s), 0);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Replaces the fixture's instance by one with config c. */
static inline void remake(const struct swim_config *c, uint64_t seed)
{
    swim_free(sw);
    sw = make_swim_cfg(c, seed);
    nev = 0;
}

static inline void setup(void)
{
    swim_config_defaults(&cfg, IV);
    sw = make_swim_cfg(&cfg, SEED);
    nev = 0;
}

static inline void teardown(void)
{
    swim_free(sw);
    sw = NULL;
}

static inline void learn(struct swim *s, const char *id, uint64_t inc, uint64_t now)
{
    struct gmsg_member m = rec(id, inc, GMSG_ALIVE);

    ck_assert_msg(swim_apply(s, &m, now), "learning %s changed nothing", id);
}

/* Applies a record that must be taken. */
static inline void put(struct swim *s, const char *id, uint64_t inc, int state,
                       uint64_t now)
{
    struct gmsg_member m = rec(id, inc, state);

    ck_assert_msg(swim_apply(s, &m, now), "%s(%llu) about %s not taken",
                  state_name(state), (unsigned long long)inc, id);
}

static inline int state_of(const struct swim *s, const char *id)
{
    const struct gmsg_member *m = swim_find(s, id);

    return m != NULL ? m->state : 0;
}

static inline uint64_t inc_of(const struct swim *s, const char *id)
{
    const struct gmsg_member *m = swim_find(s, id);

    ck_assert_msg(m != NULL, "%s unknown", id);
    return m->incarnation;
}

/* Builds one PING of at most cap bytes from s with its piggybacked updates,
 * reads it back, and returns its records in out[0..max). */
static inline unsigned send_msg(struct swim *s, size_t cap, struct gmsg_member *out,
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

static inline unsigned send_big(struct swim *s, struct gmsg_member *out, unsigned max)
{
    return send_msg(s, 65536, out, max);
}

static inline unsigned count_id(const struct gmsg_member *r, unsigned n, const char *id)
{
    unsigned k = 0;

    for (unsigned i = 0; i < n; i++)
        k += strcmp(r[i].id, id) == 0;
    return k;
}

/* Sends big messages until one comes out empty; returns how many records
 * about id went out in all. */
static inline unsigned drain(struct swim *s, const char *id)
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

/* The callback saw exactly one change, about id, to state, from old. */
static inline void assert_one_event(const char *id, int state, int old)
{
    ck_assert_msg(nev == 1, "%zu change callbacks, want 1", nev);
    ck_assert_str_eq(ev[0].m.id, id);
    ck_assert_msg(ev[0].m.state == state, "callback state %s, want %s",
                  state_name(ev[0].m.state), state_name(state));
    ck_assert_msg(ev[0].old_state == old, "callback old_state %s, want %s",
                  state_name(ev[0].old_state), state_name(old));
}

/* The index of id in ids[0..n), or -1. */
static inline int index_of(const char *const *ids, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return i;
    return -1;
}

#endif /* SWIM_FIXTURE_H */
