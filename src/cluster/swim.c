/*
 * swim: member table, precedence of updates, round-robin probing, suspicion
 * timeouts scaled by cluster size, local health, and the dissemination
 * queue. Tables are small (a cluster's members), so lookups are linear.
 */
#include "cluster/swim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

struct smember {
    struct gmsg_member m;
    uint64_t since;                  /* when it entered its state */
    uint64_t deadline;               /* suspect: when it becomes dead */
    uint64_t conf[SWIM_MAX_CONFIRM]; /* suspect: hashes of who confirmed it */
    unsigned nconf;                  /* entries of conf (the accuser's included) */
    unsigned confirmed;              /* independent confirmations among them */
    bool hard;                       /* suspect: on hard evidence */
    unsigned sent;                   /* transmissions of its latest change */
    bool queued;                     /* its latest change still needs disseminating */
    bool in_msg;                     /* swim_piggyback(): already in this message */
};

struct swim {
    struct swim_config cfg;
    swim_change_fn changed;
    void *arg;
    struct smember *mem; /* mem[0] is this node */
    size_t n, cap;
    size_t *order; /* this round's probe order: indices into mem */
    size_t norder, next;
    uint64_t rng;
    unsigned health; /* Lifeguard's local health multiplier, 0..health_max */
};

void swim_config_defaults(struct swim_config *c, uint32_t interval_ms)
{
    c->interval_ms = interval_ms;
    c->probe_timeout_ms = interval_ms * 2 / 5 > 0 ? interval_ms * 2 / 5 : 1;
    c->indirect_k = 3;
    /* Lifeguard's (memberlist's) alpha and beta, k = the helpers of one
     * probe. At the default 500 ms period: a silent member is dead 3 s
     * after its accuser's three helpers confirmed, 8.4 s (5 members) or
     * 17.7 s (30) after an unconfirmed suspicion; a process paused for 2 s
     * suspected at the earliest 0.5 s into its pause has 1.5 s to refute.
     * A refused one is dead 0.5 s after the evidence. */
    c->suspicion_mult = 4;
    c->suspicion_max_mult = 6;
    c->suspicion_k = 3;
    c->suspicion_min_ms = 6 * interval_ms;
    c->evidence_ms = interval_ms;
    c->retransmit_mult = 4;
    c->dead_keep_ms = 60000 > 120 * interval_ms ? 60000 : 120 * interval_ms;
    c->health_max = 8;
}

static uint64_t rnd(struct swim *s, uint64_t bound)
{
    return bound > 0 ? rng_splitmix64(&s->rng) % bound : 0;
}

static bool live(const struct smember *m)
{
    return m->m.state == GMSG_ALIVE || m->m.state == GMSG_SUSPECT;
}

static struct smember *find(const struct swim *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->mem[i].m.id, id) == 0)
            return &s->mem[i];
    return NULL;
}

int swim_new(const struct swim_config *cfg, const struct gmsg_member *self, uint64_t seed,
             swim_change_fn changed, void *arg, struct swim **out)
{
    struct swim *s;

    size_t idlen = strnlen(self->id, sizeof(self->id));

    if (idlen == 0 || idlen > GMSG_MAX_ID || !gmsg_addr_valid(self->addr) ||
        !gmsg_addr_valid(self->gaddr))
        return -EINVAL;
    for (size_t i = 0; i < idlen; i++)
        if (self->id[i] < 0x21 || self->id[i] > 0x7e)
            return -EINVAL; /* what gmsg can carry */
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->cap = 16;
    s->mem = calloc(s->cap, sizeof(*s->mem));
    s->order = calloc(s->cap, sizeof(*s->order));
    if (s->mem == NULL || s->order == NULL) {
        swim_free(s);
        return -ENOMEM;
    }
    s->cfg = *cfg;
    s->changed = changed;
    s->arg = arg;
    s->rng = seed;
    s->mem[0].m = *self;
    s->mem[0].m.state = GMSG_ALIVE;
    s->mem[0].queued = true;
    s->n = 1;
    *out = s;
    return 0;
}

void swim_free(struct swim *s)
{
    if (s == NULL)
        return;
    free(s->mem);
    free(s->order);
    free(s);
}

const struct gmsg_member *swim_self(const struct swim *s)
{
    return &s->mem[0].m;
}

size_t swim_count(const struct swim *s)
{
    return s->n;
}

const struct gmsg_member *swim_member(const struct swim *s, size_t i)
{
    return i < s->n ? &s->mem[i].m : NULL;
}

const struct gmsg_member *swim_find(const struct swim *s, const char *id)
{
    struct smember *m = find(s, id);

    return m != NULL ? &m->m : NULL;
}

size_t swim_live_count(const struct swim *s)
{
    size_t k = 0;

    for (size_t i = 0; i < s->n; i++)
        k += live(&s->mem[i]);
    return k;
}

uint32_t swim_suspicion_timeout_ms(const struct swim *s, unsigned confirmations,
                                   bool hard)
{
    size_t n = swim_live_count(s);
    unsigned k =
        s->cfg.suspicion_k < SWIM_MAX_CONFIRM ? s->cfg.suspicion_k : SWIM_MAX_CONFIRM;
    double min =
        s->cfg.suspicion_mult * log10(n > 1 ? (double)n : 1.0) * s->cfg.interval_ms;
    double max = s->cfg.suspicion_max_mult * min, t;

    if (hard)
        return s->cfg.evidence_ms;
    if (confirmations >= k)
        t = min;
    else
        t = max - (max - min) * log(confirmations + 1.0) / log(k + 1.0);
    return t > s->cfg.suspicion_min_ms ? (uint32_t)t : s->cfg.suspicion_min_ms;
}

uint32_t swim_suspicion_ms(const struct swim *s)
{
    return swim_suspicion_timeout_ms(s, 0, false);
}

uint32_t swim_probe_timeout_ms(const struct swim *s)
{
    return s->cfg.probe_timeout_ms * (s->health + 1);
}

uint32_t swim_interval_ms(const struct swim *s)
{
    return s->cfg.interval_ms * (s->health + 1);
}

unsigned swim_health(const struct swim *s)
{
    return s->health;
}

static void health(struct swim *s, int delta)
{
    if (delta < 0 && s->health > 0)
        s->health--;
    else if (delta > 0 && s->health < s->cfg.health_max)
        s->health++;
}

/* Records that m changed (from old_state) at now: queue it, tell the caller. */
static void changed(struct swim *s, struct smember *m, int old_state, uint64_t now)
{
    m->since = now;
    m->nconf = m->confirmed = 0;
    m->hard = false;
    if (m->m.state == GMSG_SUSPECT)
        m->deadline = now + swim_suspicion_ms(s);
    m->sent = 0;
    m->queued = true;
    if (s->changed != NULL)
        s->changed(s->arg, &m->m, old_state);
}

static struct smember *add(struct swim *s, const struct gmsg_member *u)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap * 2;
        struct smember *nm = realloc(s->mem, ncap * sizeof(*nm));
        size_t *no;
        if (nm == NULL)
            return NULL;
        s->mem = nm;
        no = realloc(s->order, ncap * sizeof(*no));
        if (no == NULL)
            return NULL;
        s->order = no;
        s->cap = ncap;
    }
    memset(&s->mem[s->n], 0, sizeof(s->mem[s->n]));
    s->mem[s->n].m = *u;
    return &s->mem[s->n++];
}

/* Refutes a rumour about this node: a higher incarnation, alive. */
static bool refute(struct swim *s, const struct gmsg_member *u, uint64_t now)
{
    struct smember *self = &s->mem[0];

    if (self->m.state == GMSG_LEFT ||
        (u->state != GMSG_SUSPECT && u->state != GMSG_DEAD && u->state != GMSG_LEFT) ||
        u->incarnation < self->m.incarnation || u->incarnation == UINT64_MAX)
        return false;
    self->m.incarnation = u->incarnation + 1;
    health(s, +1); /* being suspected is a sign we are slow */
    changed(s, self, GMSG_ALIVE, now);
    return true;
}

bool swim_apply(struct swim *s, const struct gmsg_member *u, uint64_t now)
{
    struct smember *m;
    uint64_t i, j = u->incarnation;
    int cur;
    bool take;

    if (strcmp(u->id, s->mem[0].m.id) == 0)
        return refute(s, u, now);
    m = find(s, u->id);
    if (m == NULL) {
        /* Learn of members that are (or may be) up; news of the death of
         * one we never knew changes nothing. */
        if (u->state != GMSG_ALIVE && u->state != GMSG_SUSPECT)
            return false;
        m = add(s, u);
        if (m == NULL)
            return false;
        changed(s, m, 0, now); /* probed from the next round on */
        return true;
    }
    cur = m->m.state;
    i = m->m.incarnation;
    switch (u->state) {
    case GMSG_ALIVE:
        take = j > i;
        break;
    case GMSG_SUSPECT:
        take = (cur == GMSG_ALIVE && j >= i) || (cur == GMSG_SUSPECT && j > i);
        break;
    case GMSG_DEAD:
        take = (cur == GMSG_ALIVE || cur == GMSG_SUSPECT) && j >= i;
        break;
    case GMSG_LEFT:
        take = cur != GMSG_LEFT && j >= i;
        break;
    default:
        take = false;
    }
    if (!take)
        return false;
    m->m.incarnation = j;
    m->m.state = u->state;
    memcpy(m->m.addr, u->addr, sizeof(m->m.addr));
    memcpy(m->m.gaddr, u->gaddr, sizeof(m->m.gaddr));
    changed(s, m, cur, now);
    return true;
}

bool swim_probe_start(struct swim *s, uint64_t now, struct gmsg_member *target)
{
    (void)now;
    for (int pass = 0; pass < 2; pass++) {
        while (s->next < s->norder) {
            size_t i = s->order[s->next++];
            if (i < s->n && live(&s->mem[i])) {
                *target = s->mem[i].m;
                return true;
            }
        }
        /* a new round over the live members, in a fresh random order */
        s->norder = s->next = 0;
        for (size_t i = 1; i < s->n; i++)
            if (live(&s->mem[i]))
                s->order[s->norder++] = i;
        for (size_t i = s->norder; i > 1; i--) {
            size_t r = (size_t)rnd(s, i), t = s->order[i - 1];
            s->order[i - 1] = s->order[r];
            s->order[r] = t;
        }
    }
    return false;
}

size_t swim_probe_helpers(struct swim *s, const char *target_id, struct gmsg_member *out,
                          size_t max)
{
    size_t cand[64], nc = 0, seen = 0, k = 0;

    for (size_t i = 1; i < s->n; i++) {
        if (!live(&s->mem[i]) || strcmp(s->mem[i].m.id, target_id) == 0)
            continue;
        seen++;
        if (nc < sizeof(cand) / sizeof(cand[0])) {
            cand[nc++] = i;
        } else {
            /* reservoir sampling: every candidate equally likely */
            uint64_t r = rnd(s, seen);
            if (r < nc)
                cand[r] = i;
        }
    }
    while (k < max && nc > 0) {
        size_t r = (size_t)rnd(s, nc);
        out[k++] = s->mem[cand[r]].m;
        cand[r] = cand[--nc];
    }
    return k;
}

unsigned swim_indirect_k(const struct swim *s)
{
    return s->cfg.indirect_k;
}

void swim_probe_acked(struct swim *s, const char *target_id, uint64_t now)
{
    (void)target_id;
    (void)now;
    health(s, -1);
}

/* FNV-1a of an id: what a suspicion remembers of who confirmed it. */
static uint64_t id_hash(const char *id)
{
    uint64_t h = 14695981039346656037ull;

    for (; *id != '\0'; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ull;
    return h;
}

static bool confirmed_by(const struct smember *m, uint64_t h)
{
    for (unsigned i = 0; i < m->nconf; i++)
        if (m->conf[i] == h)
            return true;
    return false;
}

/* Brings m's deadline to base plus the timeout its evidence earns, if that
 * is sooner: evidence never postpones a death. */
static bool rearm(struct swim *s, struct smember *m, uint64_t base)
{
    uint64_t d = base + swim_suspicion_timeout_ms(s, m->confirmed, m->hard);

    if (d >= m->deadline)
        return false;
    m->deadline = d;
    return true;
}

void swim_probe_failed(struct swim *s, const char *target_id, uint64_t now)
{
    struct smember *m = find(s, target_id);

    if (m == NULL || m == &s->mem[0] || m->m.state != GMSG_ALIVE)
        return;
    m->m.state = GMSG_SUSPECT;
    changed(s, m, GMSG_ALIVE, now);
    /* we are its accuser: our own later failures confirm nothing new */
    m->conf[m->nconf++] = id_hash(s->mem[0].m.id);
}

bool swim_confirm(struct swim *s, const char *target_id, const char *from_id,
                  uint64_t now)
{
    struct smember *m = find(s, target_id);
    uint64_t h = id_hash(from_id);

    (void)now;
    if (m == NULL || m == &s->mem[0] || m->m.state != GMSG_SUSPECT ||
        strcmp(from_id, target_id) == 0 || confirmed_by(m, h) ||
        m->nconf >= SWIM_MAX_CONFIRM)
        return false;
    m->conf[m->nconf++] = h;
    m->confirmed++;
    rearm(s, m, m->since);
    return true;
}

bool swim_evidence(struct swim *s, const char *target_id, uint64_t inc, uint64_t now)
{
    struct smember *m = find(s, target_id);
    bool fresh;

    if (m == NULL || m == &s->mem[0] || m->m.incarnation != inc ||
        (m->m.state != GMSG_ALIVE && m->m.state != GMSG_SUSPECT) || m->hard)
        return false;
    fresh = m->m.state == GMSG_ALIVE;
    if (fresh) {
        m->m.state = GMSG_SUSPECT;
        changed(s, m, GMSG_ALIVE, now);
    }
    m->hard = true;
    /* counted from the evidence, not from the suspicion */
    return rearm(s, m, now) || fresh;
}

uint64_t swim_next_deadline(const struct swim *s)
{
    uint64_t d = UINT64_MAX;

    for (size_t i = 1; i < s->n; i++)
        if (s->mem[i].m.state == GMSG_SUSPECT && s->mem[i].deadline < d)
            d = s->mem[i].deadline;
    return d;
}

uint64_t swim_deadline(const struct swim *s, const char *id)
{
    const struct smember *m = find(s, id);

    return m != NULL && m->m.state == GMSG_SUSPECT ? m->deadline : 0;
}

void swim_helper_result(struct swim *s, bool answered)
{
    if (!answered)
        health(s, +1);
}

void swim_tick(struct swim *s, uint64_t now)
{
    for (size_t i = 1; i < s->n;) {
        struct smember *m = &s->mem[i];
        if (m->m.state == GMSG_SUSPECT && m->deadline <= now) {
            m->m.state = GMSG_DEAD;
            changed(s, m, GMSG_SUSPECT, now);
        } else if ((m->m.state == GMSG_DEAD || m->m.state == GMSG_LEFT) &&
                   now - m->since >= s->cfg.dead_keep_ms) {
            int old = m->m.state;
            m->m.state = 0; /* forgotten */
            if (s->changed != NULL)
                s->changed(s->arg, &m->m, old);
            s->mem[i] = s->mem[--s->n];
            s->norder = s->next = 0;
            continue;
        }
        i++;
    }
}

static unsigned retransmit_limit(const struct swim *s)
{
    return s->cfg.retransmit_mult * (unsigned)ceil(log10((double)s->n + 1));
}

void swim_piggyback(struct swim *s, struct gmsg_writer *w)
{
    unsigned limit = retransmit_limit(s), least = limit;

    /* Fewest transmissions first, so the newest news travels first; each
     * change at most once per message. */
    for (size_t i = 0; i < s->n; i++)
        if (s->mem[i].queued && s->mem[i].sent < least)
            least = s->mem[i].sent;
    for (unsigned round = least; round < limit; round++) {
        for (size_t i = 0; i < s->n; i++) {
            struct smember *m = &s->mem[i];
            if (!m->queued || m->sent != round || m->in_msg)
                continue;
            if (!gmsg_add(w, &m->m))
                goto out;
            m->in_msg = true;
        }
    }
out:
    for (size_t i = 0; i < s->n; i++) {
        struct smember *m = &s->mem[i];
        if (!m->in_msg)
            continue;
        m->in_msg = false;
        if (++m->sent >= limit)
            m->queued = false;
    }
}

void swim_fill_all(const struct swim *s, struct gmsg_writer *w)
{
    for (size_t i = 0; i < s->n; i++)
        if (!gmsg_add(w, &s->mem[i].m))
            return;
}

bool swim_pick_sync(struct swim *s, bool dead_ok, struct gmsg_member *out)
{
    size_t nlive = 0, ndead = 0, want;
    bool pick_dead;

    for (size_t i = 1; i < s->n; i++) {
        if (live(&s->mem[i]))
            nlive++;
        else
            ndead++;
    }
    pick_dead = dead_ok && ndead > 0;
    if (!pick_dead && nlive == 0)
        return false;
    want = (size_t)rnd(s, pick_dead ? ndead : nlive);
    for (size_t i = 1; i < s->n; i++) {
        if (live(&s->mem[i]) == pick_dead)
            continue;
        if (want-- == 0) {
            *out = s->mem[i].m;
            return true;
        }
    }
    return false;
}

void swim_leave(struct swim *s)
{
    struct smember *self = &s->mem[0];

    if (self->m.state == GMSG_LEFT)
        return;
    self->m.incarnation++;
    self->m.state = GMSG_LEFT;
    changed(s, self, GMSG_ALIVE, self->since);
}
