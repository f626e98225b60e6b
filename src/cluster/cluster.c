/*
 * cluster: the member table, fed by the pinger (static --peers) or by
 * gossip, and the ring rebuilt from its members on every change.
 */
#include "cluster/cluster.h"
#include "cluster/gmsg.h"
#include "cluster/gossip.h"
#include "base/logger.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/stats.h"
#include "base/util.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum member_state {
    MEMBER_DEAD,    /* not in the ring: never reached, or stopped answering */
    MEMBER_ALIVE,   /* in the ring */
    MEMBER_SUSPECT, /* gossip: may be down; still in the ring */
    MEMBER_LEFT,    /* gossip: left on purpose; not in the ring */
    MEMBER_GONE,    /* gossip: forgotten; not shown */
};

/* Room for members learned by gossip; slots are never reused, so a member
 * keeps its slot (and workers their connection) across restarts. */
#define CLUSTER_MAX_MEMBERS 4096

struct member {
    char addr[SETTINGS_MAX_ID_LEN + 8]; /* "host:port" as configured */
    struct sockaddr_storage sa;         /* its client port, resolved at start */
    socklen_t salen;
    char id[SETTINGS_MAX_ID_LEN + 1]; /* learned from its hello; "" until then */
    enum member_state state;
    bool alias;           /* turned out to be this node under another address */
    bool resolved;        /* sa holds addr's address */
    uint64_t incarnation; /* gossip: the member's own version of itself */
    uint64_t heard_ms;    /* mctime_wall_ms() of the last news of it; 0: none */
};

struct cluster {
    struct server *srv;
    pthread_mutex_t lock;   /* protects the members' id, state, alias; a leaf */
    struct member *members; /* room for cap; slots below nmembers in use */
    size_t nmembers, cap;
    struct gossip *gossip; /* gossip mode; NULL with static --peers */
    bool ring_dirty;       /* gossip mode: members changed since the last ring */
    struct ring_ref ring;
    uint64_t epoch;           /* of the last ring built (under the lock) */
    uint64_t receiving_until; /* mctime_mono_ms(); atomic (cluster_receiving()) */
};

static const char *state_name(enum member_state s)
{
    static const char *const names[] = {"dead", "alive", "suspect", "left", "gone"};

    return names[s];
}

/* Tells the event log (the admin port's /events) that member id is now in
 * state s; called without the lock, which the logger's must not nest in. */
static void log_member(struct cluster *cl, const char *id, const char *addr,
                       enum member_state s, uint64_t incarnation)
{
    if (!logger_wants(cl->srv->logger, LOGGER_MEMBERS))
        return;
    logger_log(cl->srv->logger, LOGGER_MEMBERS,
               "type=member id=%s addr=%s state=%s incarnation=%llu", id, addr,
               state_name(s), (unsigned long long)incarnation);
}

/* Dead members stay in the ring, marked down: their keys are served by the
 * next owners meanwhile, and their copies are hinted (replication). */
static bool in_ring(const struct member *m)
{
    return (m->state == MEMBER_ALIVE || m->state == MEMBER_SUSPECT ||
            m->state == MEMBER_DEAD) &&
           !m->alias && m->id[0] != '\0' && m->resolved;
}

/* How a member appears in the ring: 0 not at all, 1 up, 2 down. */
static int ring_state(const struct member *m)
{
    return !in_ring(m) ? 0 : m->state == MEMBER_DEAD ? 2 : 1;
}

static int verbose(const struct cluster *cl)
{
    return __atomic_load_n(&cl->srv->verbose, __ATOMIC_RELAXED);
}

struct gossip *cluster_gossip(struct cluster *cl)
{
    return cl->gossip;
}

struct ring_ref *cluster_ring_ref(struct cluster *cl)
{
    return &cl->ring;
}

int cluster_member_addr(struct cluster *cl, uint32_t slot, struct sockaddr_storage *sa,
                        socklen_t *len)
{
    int rc = -ENOENT;

    pthread_mutex_lock(&cl->lock);
    if (slot < cl->nmembers && cl->members[slot].resolved) {
        *sa = cl->members[slot].sa;
        *len = cl->members[slot].salen;
        rc = 0;
    }
    pthread_mutex_unlock(&cl->lock);
    return rc;
}

int cluster_peer_addr(void *cl, uint32_t member, struct sockaddr_storage *sa,
                      socklen_t *len)
{
    return cluster_member_addr(cl, member, sa, len);
}

void cluster_peer_down(void *arg, uint32_t member, int status)
{
    struct cluster *cl = arg;
    struct gossip *g = __atomic_load_n(&cl->gossip, __ATOMIC_ACQUIRE);
    char id[SETTINGS_MAX_ID_LEN + 1];
    bool known;

    (void)status; /* refused or reset: gossip checks either way */
    if (g == NULL || member == CLUSTER_SELF)
        return; /* static membership: the pinger's pings decide */
    /* copied out: the gossip lock comes before ours */
    pthread_mutex_lock(&cl->lock);
    known = member < cl->nmembers && cl->members[member].id[0] != '\0';
    if (known)
        snprintf(id, sizeof(id), "%s", cl->members[member].id);
    pthread_mutex_unlock(&cl->lock);
    if (known)
        gossip_member_unreachable(g, id);
}

void cluster_member_name(struct cluster *cl, uint32_t slot, char *buf, size_t cap)
{
    pthread_mutex_lock(&cl->lock);
    if (slot >= cl->nmembers)
        snprintf(buf, cap, "#%u", slot);
    else
        snprintf(buf, cap, "%s",
                 cl->members[slot].id[0] != '\0' ? cl->members[slot].id
                                                 : cl->members[slot].addr);
    pthread_mutex_unlock(&cl->lock);
}

bool cluster_member_is(struct cluster *cl, uint32_t slot, const char *id)
{
    bool same;

    pthread_mutex_lock(&cl->lock);
    same = slot < cl->nmembers && strcmp(cl->members[slot].id, id) == 0;
    pthread_mutex_unlock(&cl->lock);
    return same;
}

/* Moves the end of the receiving window to ms from now, never earlier. */
static void receive_until(struct cluster *cl, uint64_t ms)
{
    uint64_t until = mctime_mono_ms() + ms;
    uint64_t cur = __atomic_load_n(&cl->receiving_until, __ATOMIC_RELAXED);

    while (cur < until &&
           !__atomic_compare_exchange_n(&cl->receiving_until, &cur, until, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Called on every read: once the window has passed, it is cleared, so that
 * the common case costs one load and no clock read. */
bool cluster_receiving(struct cluster *cl)
{
    uint64_t until = __atomic_load_n(&cl->receiving_until, __ATOMIC_RELAXED);

    if (until == 0)
        return false;
    if (mctime_mono_ms() < until)
        return true;
    __atomic_compare_exchange_n(&cl->receiving_until, &until, 0, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    return false;
}

void cluster_receiving_end(struct cluster *cl)
{
    __atomic_store_n(&cl->receiving_until, 0, __ATOMIC_RELAXED);
}

void cluster_note_handoff(struct cluster *cl)
{
    receive_until(cl, CLUSTER_HANDOFF_IDLE_MS);
}

/* Builds and publishes the ring of this node plus the alive members. Called
 * with the lock held (it reads ids and states), by one thread at a time. */
static void rebuild_ring_locked(struct cluster *cl)
{
    struct ring_node *nodes = malloc(cl->nmembers * sizeof(*nodes));
    struct ring *r = NULL;
    size_t n = 0;
    int rc;

    if (nodes == NULL) {
        fprintf(stderr, "meshcached: out of memory rebuilding the ring\n");
        return;
    }
    for (size_t i = 0; i < cl->nmembers; i++) {
        const struct member *m = &cl->members[i];
        if (in_ring(m)) {
            nodes[n].id = m->id;
            nodes[n].tag = (uint32_t)i;
            nodes[n].down = m->state == MEMBER_DEAD;
            n++;
        }
    }
    rc = ring_build(nodes, n, cl->srv->settings.vnodes, cl->epoch + 1, &r);
    free(nodes);
    if (rc != 0) {
        /* duplicate ids (two members claim one id) or no memory: keep the
         * ring we have rather than route by a wrong one */
        fprintf(stderr, "meshcached: cannot rebuild the ring: %s\n", strerror(-rc));
        return;
    }
    if (ring_ref_publish(&cl->ring, r) != 0) {
        ring_free(r);
        return;
    }
    cl->epoch++;
    if (cl->srv->settings.gossip)
        receive_until(cl, CLUSTER_RECEIVE_MS);
    if (verbose(cl) > 0)
        fprintf(stderr, "meshcached: ring epoch %llu: %zu nodes\n",
                (unsigned long long)cl->epoch, n);
}

/* Stores the first address of host and port in m->sa. Returns 0, a
 * getaddrinfo() error, or EAI_FAMILY for an address that does not fit. */
static int lookup(struct member *m, const char *host, const char *port, int flags)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = flags};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);

    if (rc == 0 && (res == NULL || res->ai_addrlen > sizeof(m->sa)))
        rc = EAI_FAMILY;
    if (rc == 0) {
        memcpy(&m->sa, res->ai_addr, res->ai_addrlen);
        m->salen = res->ai_addrlen;
    }
    if (res != NULL)
        freeaddrinfo(res);
    return rc;
}

/* A --peers entry, by name or number (start-up only: may wait on DNS). */
static int resolve(struct member *m, const struct settings_peer *p)
{
    char port[16];
    int rc;

    snprintf(port, sizeof(port), "%d", p->port);
    rc = lookup(m, p->host, port, 0);
    if (rc != 0)
        fprintf(stderr, "meshcached: cannot resolve peer %s:%d: %s\n", p->host, p->port,
                rc == EAI_FAMILY ? "no address" : gai_strerror(rc));
    return rc == 0 ? 0 : -1;
}

int cluster_new(struct server *srv, struct cluster **out)
{
    const struct settings *s = &srv->settings;
    struct cluster *cl = calloc(1, sizeof(*cl));

    if (cl == NULL)
        goto nomem;
    cl->srv = srv;
    pthread_mutex_init(&cl->lock, NULL);
    ring_ref_init(&cl->ring);
    /* untouched pages of a large calloc() cost no memory */
    cl->cap = s->gossip ? CLUSTER_MAX_MEMBERS : s->npeers + 1;
    cl->members = calloc(cl->cap, sizeof(*cl->members));
    if (cl->members == NULL)
        goto nomem;
    /* slot 0: this node, always alive */
    snprintf(cl->members[0].addr, sizeof(cl->members[0].addr), "%s:%d", s->listen_addr,
             s->port);
    snprintf(cl->members[0].id, sizeof(cl->members[0].id), "%s", s->node_id);
    cl->members[0].state = MEMBER_ALIVE;
    cl->members[0].resolved = true;
    cl->nmembers = 1;
    for (size_t i = 0; i < s->npeers; i++) {
        struct member *m = &cl->members[cl->nmembers];
        const struct settings_peer *p = &s->peers[i];
        if (p->port == s->port && strcmp(p->host, s->listen_addr) == 0)
            continue; /* the shared list names this node too */
        util_format_hostport(m->addr, sizeof(m->addr), p->host, p->port);
        if (resolve(m, p) != 0)
            goto fail;
        m->resolved = true;
        cl->nmembers++;
    }
    pthread_mutex_lock(&cl->lock);
    rebuild_ring_locked(cl);
    pthread_mutex_unlock(&cl->lock);
    if (cl->epoch == 0)
        goto nomem;
    *out = cl;
    return 0;

nomem:
    fprintf(stderr, "meshcached: out of memory building the cluster view\n");
fail:
    cluster_free(cl);
    return -1;
}

uint32_t cluster_member_count(struct cluster *cl)
{
    uint32_t n;

    pthread_mutex_lock(&cl->lock);
    n = (uint32_t)cl->nmembers;
    pthread_mutex_unlock(&cl->lock);
    return n;
}

bool cluster_member_alias(struct cluster *cl, uint32_t slot)
{
    bool alias;

    pthread_mutex_lock(&cl->lock);
    alias = slot < cl->nmembers && cl->members[slot].alias;
    pthread_mutex_unlock(&cl->lock);
    return alias;
}

bool cluster_member_hello(struct cluster *cl, uint32_t slot, const char *id,
                          unsigned vnodes)
{
    struct member *m;
    bool ok = true;

    pthread_mutex_lock(&cl->lock);
    if (slot >= cl->nmembers) {
        pthread_mutex_unlock(&cl->lock);
        return false;
    }
    m = &cl->members[slot];
    if (strcmp(id, cl->srv->settings.node_id) == 0) {
        if (!m->alias && verbose(cl) > 0)
            fprintf(stderr, "meshcached: peer %s is this node\n", m->addr);
        m->alias = true;
        ok = false;
    } else if (vnodes != cl->srv->settings.vnodes) {
        fprintf(stderr,
                "meshcached: peer %s (%s) uses --vnodes %u, this node %u: "
                "not adding it to the ring\n",
                m->addr, id, vnodes, cl->srv->settings.vnodes);
        ok = false;
    } else if (strlen(id) > SETTINGS_MAX_ID_LEN) {
        ok = false;
    } else if (strcmp(m->id, id) != 0) {
        if (m->id[0] != '\0' && verbose(cl) > 0)
            fprintf(stderr, "meshcached: peer %s is now %s (was %s)\n", m->addr, id,
                    m->id);
        snprintf(m->id, sizeof(m->id), "%s", id);
        if (m->state == MEMBER_ALIVE)
            rebuild_ring_locked(cl);
    }
    pthread_mutex_unlock(&cl->lock);
    return ok;
}

void cluster_member_reachable(struct cluster *cl, uint32_t slot, bool reachable)
{
    enum member_state st = reachable ? MEMBER_ALIVE : MEMBER_DEAD;
    char id[SETTINGS_MAX_ID_LEN + 1] = "", addr[SETTINGS_MAX_ID_LEN + 8];
    struct member *m;

    pthread_mutex_lock(&cl->lock);
    m = slot < cl->nmembers ? &cl->members[slot] : NULL;
    if (m != NULL && reachable)
        m->heard_ms = mctime_wall_ms();
    if (m != NULL && m->state != st && !m->alias && m->id[0] != '\0') {
        m->state = st;
        if (verbose(cl) > 0)
            fprintf(stderr, "meshcached: member %s (%s) is %s\n", m->id, m->addr,
                    state_name(st));
        rebuild_ring_locked(cl);
        snprintf(id, sizeof(id), "%s", m->id);
        snprintf(addr, sizeof(addr), "%s", m->addr);
    }
    pthread_mutex_unlock(&cl->lock);
    if (id[0] != '\0')
        log_member(cl, id, addr, st, 0);
}

/* "host:port" or "[v6]:port" into sa; numeric only (never a DNS wait on a
 * gossip thread). Returns 0 or -1. */
static int resolve_addr(struct member *m, const char *addr)
{
    char host[GMSG_MAX_ADDR + 1];
    const char *colon = strrchr(addr, ':');
    size_t hl;

    if (colon == NULL)
        return -1;
    hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        addr++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(host))
        return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    return lookup(m, host, colon + 1, AI_NUMERICHOST | AI_NUMERICSERV) == 0 ? 0 : -1;
}

/* The gossip listener's update: what the membership protocol says of a
 * member. Adds members not seen before; marks the ring for a rebuild when
 * the set of members in it changes (built by on_gossip_commit(), off the
 * gossip lock). Called under the gossip lock. */
static bool on_gossip_update(void *arg, const char *id, const char *addr, int state,
                             uint64_t incarnation)
{
    struct cluster *cl = arg;
    static const enum member_state map[] = {
        [0] = MEMBER_GONE,
        [GMSG_ALIVE] = MEMBER_ALIVE,
        [GMSG_SUSPECT] = MEMBER_SUSPECT,
        [GMSG_DEAD] = MEMBER_DEAD,
        [GMSG_LEFT] = MEMBER_LEFT,
    };
    struct member *m = NULL;
    bool dirty, changed = false;
    int was, now;

    if (state < 0 || state > GMSG_LEFT)
        return false;
    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; i < cl->nmembers; i++)
        if (strcmp(cl->members[i].id, id) == 0)
            m = &cl->members[i];
    if (m == &cl->members[0]) {
        m->incarnation = incarnation; /* ourselves: for stats only */
        goto out;
    }
    if (m == NULL) {
        if (state == 0 || cl->nmembers == cl->cap)
            goto out;
        m = &cl->members[cl->nmembers++];
        snprintf(m->id, sizeof(m->id), "%s", id);
        m->state = MEMBER_GONE;
    }
    was = ring_state(m);
    if (strcmp(m->addr, addr) != 0 || !m->resolved) {
        snprintf(m->addr, sizeof(m->addr), "%s", addr);
        m->salen = 0;
        m->resolved = resolve_addr(m, addr) == 0;
        if (!m->resolved)
            fprintf(stderr,
                    "meshcached: member %s has an address that is not numeric: %s\n", id,
                    addr);
    }
    changed = m->state != map[state];
    m->state = map[state];
    m->incarnation = incarnation;
    m->heard_ms = mctime_wall_ms();
    now = ring_state(m);
    if (was != now)
        cl->ring_dirty = true;
out:
    dirty = cl->ring_dirty;
    pthread_mutex_unlock(&cl->lock);
    if (changed)
        log_member(cl, id, addr, map[state], incarnation);
    return dirty;
}

/* The gossip listener's commit: builds and publishes the ring when members
 * joined or left it since the last build. */
static void on_gossip_commit(void *arg)
{
    struct cluster *cl = arg;

    pthread_mutex_lock(&cl->lock);
    if (cl->ring_dirty) {
        cl->ring_dirty = false;
        rebuild_ring_locked(cl);
    }
    pthread_mutex_unlock(&cl->lock);
}

void cluster_gossip_listener(struct cluster *cl, struct gossip_listener *l)
{
    *l = (struct gossip_listener){
        .update = on_gossip_update, .commit = on_gossip_commit, .arg = cl};
}

int cluster_start(struct cluster *cl)
{
    struct gossip_listener l;
    struct gossip *g;

    cluster_gossip_listener(cl, &l);
    if (!cl->srv->settings.gossip)
        return 0;
    /* nng starts threads: only now, after any fork */
    if (gossip_new(cl->srv, &l, &g) != 0)
        return -1;
    /* workers read it (cluster_peer_down()) */
    __atomic_store_n(&cl->gossip, g, __ATOMIC_RELEASE);
    return gossip_start(g);
}

void cluster_leave(struct cluster *cl)
{
    if (cl != NULL)
        gossip_leave(cl->gossip);
}

void cluster_free(struct cluster *cl)
{
    if (cl == NULL)
        return;
    gossip_free(cl->gossip);
    ring_ref_fini(&cl->ring);
    free(cl->members);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}

size_t cluster_members(struct cluster *cl, struct cluster_member_info *out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; i < cl->nmembers && n < max; i++) {
        const struct member *m = &cl->members[i];
        struct cluster_member_info *o = &out[n];
        if (m->alias || m->state == MEMBER_GONE)
            continue;
        snprintf(o->id, sizeof(o->id), "%s", m->id);
        snprintf(o->addr, sizeof(o->addr), "%s", m->addr);
        o->slot = (uint32_t)i;
        o->self = i == CLUSTER_SELF;
        /* this node is alive to itself, whatever the others say of it */
        o->state = o->self ? "alive" : state_name(m->state);
        o->incarnation = m->incarnation;
        o->heard_ms = o->self ? mctime_wall_ms() : m->heard_ms;
        n++;
    }
    pthread_mutex_unlock(&cl->lock);
    return n;
}

void cluster_stats(struct cluster *cl, struct buf *out)
{
    struct ring *r = ring_acquire(&cl->ring);
    size_t self;

    stats_line(out, "self", "%s", cl->srv->settings.node_id);
    pthread_mutex_lock(&cl->lock);
    for (size_t i = 0; i < cl->nmembers; i++) {
        const struct member *m = &cl->members[i];
        char name[SETTINGS_MAX_ID_LEN + 16];
        if (m->alias || m->state == MEMBER_GONE)
            continue;
        snprintf(name, sizeof(name), "member:%s", m->id[0] != '\0' ? m->id : m->addr);
        if (cl->srv->settings.gossip)
            stats_line(out, name, "%s %s %llu", state_name(m->state), m->addr,
                       (unsigned long long)m->incarnation);
        else
            stats_line(out, name, "%s %s", state_name(m->state), m->addr);
    }
    pthread_mutex_unlock(&cl->lock);
    if (cl->gossip != NULL)
        gossip_stats(cl->gossip, out);
    stats_line(out, "ring_epoch", "%llu", (unsigned long long)ring_epoch(r));
    stats_line(out, "ring_vnodes", "%u", ring_vnodes(r));
    stats_line(out, "ring_nodes", "%zu", ring_node_count(r) - ring_down_count(r));
    stats_line(out, "ring_down", "%zu", ring_down_count(r));
    stats_line(out, "ring_share", "%.4f",
               ring_node_index(r, cl->srv->settings.node_id, &self) == 0
                   ? ring_share(r, self)
                   : 0.0);
    stats_line(out, "peer_timeout_ms", "%u", cl->srv->settings.peer_timeout_ms);
    stats_line(out, "replicas", "%u", cl->srv->settings.replicas);
    stats_line(out, "write_quorum", "%u", cl->srv->settings.write_quorum);
    stats_line(out, "read_quorum", "%u", cl->srv->settings.read_quorum);
    ring_release(r);
}
