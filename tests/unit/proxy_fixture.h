/* proxy_fixture.h: what the check_proxy* programs share: forwarding on
 * real sockets. A real server and store, a gossip-mode cluster of this node
 * ("self") and two fake members whose client ports are loopback sockets the
 * test listens on, all on the test's own event_base. The fakes answer the
 * hello as the daemon does and then canned replies; the test plays the
 * connection (its queue, its output, its ready callback), as conn.c does.
 * The ring itself is the oracle for who owns a key. Each Check program is
 * one file that includes this once, so everything here is static: every
 * program has its own server, proxy and fakes. */
#ifndef PROXY_FIXTURE_H
#define PROXY_FIXTURE_H

#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mctime.h"
#include "base/server.h"
#include "base/settings.h"
#include "base/stats.h"
#include "cluster/cluster.h"
#include "cluster/fwdreq.h"
#include "cluster/gmsg.h"
#include "cluster/gossip.h"
#include "cluster/proxy.h"
#include "cluster/ring.h"
#include "cmd/cmd.h"
#include "store/item.h"
#include "store/store.h"

#define VNODES       "256"
#define PATIENT_MS   10000 /* peer_timeout_ms where members must not fail */
#define WAIT_MS      10000 /* the longest any wait may take: a failed test */
#define NFAKES       2
#define FAKE_KEYS    32
#define MAX_LINE_LEN 2048
#define FAKE_VERSION 1000 /* the version of a fake's rg answers */

/* ---- fake members ---- */

enum fake_mode {
    FAKE_ANSWER, /* answers every command at once */
    FAKE_HOLD,   /* keeps its answers until fake_release() */
    FAKE_SILENT, /* answers the hello, then nothing */
    FAKE_CLOSE,  /* answers the hello, closes at the first command */
};

struct fake {
    char id[32];
    uint32_t slot; /* its member slot, as the ring says */
    int lfd;       /* listening, 127.0.0.1:port */
    uint16_t port;
    struct event *accept_ev;
    int fd;            /* the connection being served, or -1 */
    struct event *ev;  /* fd readable */
    struct event *wev; /* fd writable, while out holds bytes */
    bool hello_done;
    struct buf in;  /* received, not yet handled */
    struct buf out; /* answers not yet written */
    enum fake_mode mode;
    const char *canned;    /* when set: the answer to every command but mn */
    const char *hello_id;  /* when set: the id its hello claims */
    unsigned hello_vnodes; /* when not 0: the vnodes its hello claims */
    struct buf held;       /* FAKE_HOLD: answers not yet sent */
    struct buf got;        /* every byte received after a hello */
    unsigned nconns;       /* connections accepted */
    unsigned ndropped;     /* connections that ended */
    unsigned ncmds;        /* commands received after a hello */
    struct {
        char key[64];
        unsigned flags;
        char *val; /* NUL-terminated, malloc'd */
    } kv[FAKE_KEYS];
    size_t nkv;
};

static struct server srv;
static struct thread_stats ts;
static struct event_base *base;
static struct event *tick; /* bounds each loop pass of a wait */
static struct proxy *px;
static struct fake fakes[NFAKES];
static struct cmd cmd; /* runs what is served here */
static struct buf cmd_out;

/* The connection the test plays: its queue, output and ready calls. */
struct client {
    struct fwdreq_queue q;
    struct buf out;
    unsigned nready;
};

static struct client cl;
static unsigned heap_ready; /* ready calls of conn_open() connections */

static inline void client_ready(void *arg)
{
    ((struct client *)arg)->nready++;
}

static inline void client_init(struct client *c)
{
    buf_init(&c->out);
    fwdreq_queue_init(&c->q, &c->out, client_ready, c);
    c->nready = 0;
}

static inline void client_fini(struct client *c)
{
    fwdreq_queue_detach_all(&c->q);
    buf_free(&c->out);
}

static inline void heap_ready_cb(void *arg)
{
    (void)arg;
    heap_ready++;
}

/* A connection on the heap, to be closed as conn_free() closes one: its
 * queue detached, its output and itself freed, so that any later touch of
 * them is a use after free that the sanitizer build reports. */
static inline struct client *conn_open(void)
{
    struct client *c = calloc(1, sizeof(*c));

    ck_assert_ptr_nonnull(c);
    buf_init(&c->out);
    fwdreq_queue_init(&c->q, &c->out, heap_ready_cb, NULL);
    return c;
}

static inline void conn_close(struct client *c)
{
    fwdreq_queue_detach_all(&c->q);
    buf_free(&c->out);
    free(c);
}

static inline int fake_find(const struct fake *f, const char *key)
{
    for (size_t i = 0; i < f->nkv; i++)
        if (strcmp(f->kv[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* Gives the member key=val[0..nval). */
static inline void fake_put_n(struct fake *f, const char *key, unsigned flags,
                              const char *val, size_t nval)
{
    int i = fake_find(f, key);

    if (i < 0) {
        ck_assert_uint_lt(f->nkv, FAKE_KEYS);
        ck_assert_uint_lt(strlen(key), sizeof(f->kv[0].key));
        i = (int)f->nkv++;
        snprintf(f->kv[i].key, sizeof(f->kv[i].key), "%s", key);
    }
    free(f->kv[i].val);
    f->kv[i].val = malloc(nval + 1);
    ck_assert_ptr_nonnull(f->kv[i].val);
    memcpy(f->kv[i].val, val, nval);
    f->kv[i].val[nval] = '\0';
    f->kv[i].flags = flags;
}

static inline void fake_put(struct fake *f, const char *key, unsigned flags,
                            const char *val)
{
    fake_put_n(f, key, flags, val, strlen(val));
}

/* The VALUE block of a get reply. */
static inline void value_block(struct buf *b, const char *key, unsigned flags,
                               const char *val)
{
    char line[128];
    int n = snprintf(line, sizeof(line), "VALUE %s %u %zu\r\n", key, flags, strlen(val));

    buf_append(b, line, (size_t)n);
    buf_append_str(b, val);
    buf_append_str(b, "\r\n");
}

static inline void fake_drop(struct fake *f)
{
    if (f->fd < 0)
        return;
    event_free(f->ev);
    event_free(f->wev);
    f->ev = f->wev = NULL;
    close(f->fd);
    f->fd = -1;
    buf_reset(&f->in);
    buf_reset(&f->out);
    f->ndropped++;
}

/* Writes what it can of the answers; the rest when the socket has room. A
 * member whose peer went away just loses them, as a real one would. */
static inline void fake_flush(struct fake *f)
{
    while (f->fd >= 0 && buf_pending(&f->out) > 0) {
        ssize_t w =
            send(f->fd, f->out.data + f->out.off, buf_pending(&f->out), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ck_assert_int_eq(event_add(f->wev, NULL), 0);
            return;
        }
        if (w <= 0) {
            buf_reset(&f->out);
            return;
        }
        f->out.off += (size_t)w;
    }
    buf_reset(&f->out);
}

static inline void fake_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fake_flush(arg);
}

static inline void fake_send(struct fake *f, const char *p, size_t n)
{
    if (f->fd < 0)
        return;
    buf_append(&f->out, p, n);
    ck_assert(!f->out.oom);
    fake_flush(f);
}

/* Sends what a FAKE_HOLD member kept, and answers at once from now on. */
static inline void fake_release(struct fake *f)
{
    fake_send(f, f->held.data, f->held.len);
    buf_reset(&f->held);
    f->mode = FAKE_ANSWER;
}

/* Splits line at spaces into at most max NUL-terminated tokens. */
static inline size_t split(char *line, char **tok, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *t = strtok_r(line, " ", &save); t != NULL && n < max;
         t = strtok_r(NULL, " ", &save))
        tok[n++] = t;
    return n;
}

/* What a member answers to a command (its data block, "\r\n" included, in
 * data[0..ndata)). */
static inline void fake_answer(struct fake *f, char **tok, size_t ntok, const char *data,
                               size_t ndata, struct buf *ans)
{
    bool noreply = ntok > 1 && strcmp(tok[ntok - 1], "noreply") == 0;
    int i;

    if (strcmp(tok[0], "mn") == 0) {
        buf_append_str(ans, "MN\r\n");
    } else if (f->canned != NULL) {
        buf_append_str(ans, f->canned);
    } else if (strcmp(tok[0], "get") == 0 || strcmp(tok[0], "gets") == 0 ||
               strcmp(tok[0], "gat") == 0 || strcmp(tok[0], "gats") == 0) {
        for (size_t k = tok[0][1] == 'a' ? 2 : 1; k < ntok; k++)
            if ((i = fake_find(f, tok[k])) >= 0)
                value_block(ans, f->kv[i].key, f->kv[i].flags, f->kv[i].val);
        buf_append_str(ans, "END\r\n");
    } else if (strcmp(tok[0], "mg") == 0 && ntok >= 2) {
        bool v = false, q = false;
        for (size_t k = 2; k < ntok; k++) {
            v |= strcmp(tok[k], "v") == 0;
            q |= strcmp(tok[k], "q") == 0;
        }
        i = fake_find(f, tok[1]);
        if (i >= 0 && v) {
            char line[64];
            int n = snprintf(line, sizeof(line), "VA %zu\r\n", strlen(f->kv[i].val));
            buf_append(ans, line, (size_t)n);
            buf_append_str(ans, f->kv[i].val);
            buf_append_str(ans, "\r\n");
        } else if (i >= 0) {
            buf_append_str(ans, "HD\r\n");
        } else if (!q) {
            buf_append_str(ans, "EN\r\n");
        }
    } else if (strcmp(tok[0], "rg") == 0 && ntok >= 2) {
        /* a state at version FAKE_VERSION, never expiring */
        i = fake_find(f, tok[1]);
        if (i >= 0) {
            char line[96];
            int n =
                snprintf(line, sizeof(line), "VA %zu %u 0 %llu\r\n", strlen(f->kv[i].val),
                         f->kv[i].flags, (unsigned long long)FAKE_VERSION);
            buf_append(ans, line, (size_t)n);
            buf_append_str(ans, f->kv[i].val);
            buf_append_str(ans, "\r\n");
        } else {
            buf_append_str(ans, "EN\r\n");
        }
    } else if (strcmp(tok[0], "set") == 0 && ntok >= 5) {
        fake_put_n(f, tok[1], (unsigned)strtoul(tok[2], NULL, 10), data, ndata - 2);
        if (!noreply)
            buf_append_str(ans, "STORED\r\n");
    } else if (strcmp(tok[0], "flush_all") == 0) {
        if (!noreply)
            buf_append_str(ans, "OK\r\n");
    } else {
        buf_append_str(ans, "ERROR\r\n");
    }
}

/* Handles every whole command buffered. */
static inline void fake_serve(struct fake *f)
{
    while (f->fd >= 0) {
        char *start = f->in.data + f->in.off;
        char *nl = memchr(start, '\n', buf_pending(&f->in));
        char line[MAX_LINE_LEN], *tok[64];
        size_t nline, need, ntok;
        struct buf ans;

        if (nl == NULL)
            break;
        need = (size_t)(nl - start) + 1;
        nline = need - 1;
        if (nline > 0 && start[nline - 1] == '\r')
            nline--;
        ck_assert_uint_lt(nline, sizeof(line));
        memcpy(line, start, nline);
        line[nline] = '\0';
        ntok = split(line, tok, 64);
        ck_assert_uint_gt(ntok, 0);
        if (strcmp(tok[0], "set") == 0 && ntok >= 5)
            need += strtoul(tok[4], NULL, 10) + 2;
        if (buf_pending(&f->in) < need)
            break;
        f->in.off += need;
        if (!f->hello_done) {
            /* as process_peer() answers: "PEER <own id> <vnodes>" */
            char hello[64];
            int n =
                snprintf(hello, sizeof(hello), "PEER %s %u\r\n",
                         f->hello_id != NULL ? f->hello_id : f->id,
                         f->hello_vnodes != 0 ? f->hello_vnodes : srv.settings.vnodes);
            ck_assert_str_eq(tok[0], "peer");
            ck_assert_uint_eq(ntok, 3);
            ck_assert_str_eq(tok[1], srv.settings.node_id);
            ck_assert_str_eq(tok[2], VNODES);
            f->hello_done = true;
            fake_send(f, hello, (size_t)n);
            continue;
        }
        buf_append(&f->got, start, need);
        f->ncmds++;
        if (f->mode == FAKE_CLOSE) {
            fake_drop(f);
            return;
        }
        buf_init(&ans);
        fake_answer(f, tok, ntok, nl + 1, need - (size_t)(nl + 1 - start), &ans);
        if (f->mode == FAKE_ANSWER)
            fake_send(f, ans.data, ans.len);
        else if (f->mode == FAKE_HOLD)
            buf_append(&f->held, ans.data, ans.len);
        buf_free(&ans);
    }
    if (buf_pending(&f->in) == 0)
        buf_reset(&f->in);
}

static inline void fake_readable(evutil_socket_t fd, short what, void *arg)
{
    struct fake *f = arg;
    char *room = buf_reserve(&f->in, 65536);
    ssize_t n;

    (void)what;
    ck_assert_ptr_nonnull(room);
    n = recv(fd, room, 65536, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fake_drop(f);
        return;
    }
    buf_commit(&f->in, (size_t)n);
    fake_serve(f);
}

static inline void fake_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct fake *f = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    (void)what;
    if (fd < 0)
        return;
    fake_drop(f); /* a new connection replaces a dead one */
    f->fd = fd;
    f->hello_done = false;
    f->nconns++;
    f->ev = event_new(base, fd, EV_READ | EV_PERSIST, fake_readable, f);
    f->wev = event_new(base, fd, EV_WRITE, fake_writable, f);
    ck_assert_ptr_nonnull(f->ev);
    ck_assert_ptr_nonnull(f->wev);
    ck_assert_int_eq(event_add(f->ev, NULL), 0);
}

static inline void fake_open(struct fake *f, const char *id)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    memset(f, 0, sizeof(*f));
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->fd = -1;
    buf_init(&f->in);
    buf_init(&f->out);
    buf_init(&f->held);
    buf_init(&f->got);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(f->lfd, 0);
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(f->lfd, 8), 0);
    ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    f->accept_ev = event_new(base, f->lfd, EV_READ | EV_PERSIST, fake_accept, f);
    ck_assert_ptr_nonnull(f->accept_ev);
    ck_assert_int_eq(event_add(f->accept_ev, NULL), 0);
}

static inline void fake_close(struct fake *f)
{
    fake_drop(f);
    if (f->accept_ev != NULL)
        event_free(f->accept_ev);
    if (f->lfd >= 0)
        close(f->lfd);
    for (size_t i = 0; i < f->nkv; i++)
        free(f->kv[i].val);
    buf_free(&f->in);
    buf_free(&f->out);
    buf_free(&f->held);
    buf_free(&f->got);
}

/* Asserts that the member received exactly want since its hello. */
static inline void fake_got(const struct fake *f, const char *want)
{
    size_t n = strlen(want);

    ck_assert_msg(f->got.len == n && (n == 0 || memcmp(f->got.data, want, n) == 0),
                  "%s got \"%.*s\", want \"%s\"", f->id, (int)f->got.len,
                  f->got.data != NULL ? f->got.data : "", want);
}

/* ---- the event loop, bounded ---- */

static inline void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* One pass of the loop, returning by the deadline at the latest. */
static inline void loop_once(uint64_t deadline)
{
    uint64_t now = mctime_mono_ms();
    uint64_t wait = deadline > now ? deadline - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000),
                         .tv_usec = (suseconds_t)(wait % 1000) * 1000};

    evtimer_add(tick, &tv);
    event_base_loop(base, EVLOOP_ONCE);
}

/* Runs the loop until cond holds, failing the test after WAIT_MS. */
#define WAIT_UNTIL(cond)                                                                 \
    do {                                                                                 \
        uint64_t deadline_ = mctime_mono_ms() + WAIT_MS;                                 \
        while (!(cond) && mctime_mono_ms() < deadline_)                                  \
            loop_once(deadline_);                                                        \
        ck_assert_msg((cond), "still not true after %d ms: %s", WAIT_MS, #cond);         \
    } while (0)

/* ---- set-up ---- */

/* The member slot the ring gives the member with this id. */
static inline uint32_t member_slot(const char *id)
{
    struct ring *r = ring_acquire(cluster_ring_ref(srv.cluster));
    size_t i;
    uint32_t tag;

    ck_assert_int_eq(ring_node_index(r, id, &i), 0);
    tag = ring_node(r, i)->tag;
    ring_release(r);
    return tag;
}

/* Adds a fake member to the cluster, as gossip does when it learns one. */
static inline void join(struct fake *f)
{
    struct gossip_listener l;
    char addr[32];

    snprintf(addr, sizeof(addr), "127.0.0.1:%u", f->port);
    cluster_gossip_listener(srv.cluster, &l);
    ck_assert(l.update(l.arg, f->id, addr, GMSG_ALIVE, 1));
    l.commit(l.arg);
    f->slot = member_slot(f->id);
    ck_assert_uint_ne(f->slot, CLUSTER_SELF);
}

static inline void start(uint32_t peer_timeout_ms, bool members)
{
    char timeout_opt[64];
    char *argv[] = {
        "meshcached", "-p",       "11999", "--node-id",  "self", "--cluster-port",
        "12999",      "--vnodes", VNODES,  "--replicas", "1",    "-o",
        timeout_opt};
    struct store_config scfg = {0};
    FILE *devnull = fopen("/dev/null", "w");

    snprintf(timeout_opt, sizeof(timeout_opt), "peer_timeout_ms=%u", peer_timeout_ms);
    mctime_init();
    memset(&srv, 0, sizeof(srv));
    memset(&ts, 0, sizeof(ts));
    settings_defaults(&srv.settings);
    ck_assert_ptr_nonnull(devnull);
    ck_assert_int_eq(settings_parse(&srv.settings, (int)(sizeof(argv) / sizeof(argv[0])),
                                    argv, devnull, stderr),
                     0);
    fclose(devnull);
    ck_assert(srv.settings.gossip);
    ck_assert_uint_eq(srv.settings.peer_timeout_ms, peer_timeout_ms);
    scfg.maxbytes = srv.settings.maxbytes;
    scfg.item_size_max = srv.settings.item_size_max;
    scfg.evict_to_free = srv.settings.evict_to_free;
    ck_assert_int_eq(store_create(&srv.store, &scfg), 0);
    ck_assert_int_eq(cluster_new(&srv, &srv.cluster), 0);

    base = event_base_new();
    ck_assert_ptr_nonnull(base);
    tick = evtimer_new(base, tick_cb, NULL);
    ck_assert_ptr_nonnull(tick);
    fake_open(&fakes[0], "fake-a");
    fake_open(&fakes[1], "fake-b");
    if (members) {
        join(&fakes[0]);
        join(&fakes[1]);
        ck_assert_uint_ne(fakes[0].slot, fakes[1].slot);
    }
    /* the joins opened a receiving window: reads here that miss would be
     * dual reads (check_proxy_dual opens it again) */
    cluster_receiving_end(srv.cluster);
    ck_assert_int_eq(proxy_new(&srv, base, &ts, &px), 0);
    ck_assert(!proxy_replicates(px));
    buf_init(&cmd_out);
    cmd_init(&cmd, &srv, &ts, &cmd_out);
    client_init(&cl);
    heap_ready = 0;
}

static inline void setup(void)
{
    start(PATIENT_MS, true);
}

static inline void teardown(void)
{
    /* as a worker stops: connections first, then the proxy */
    client_fini(&cl);
    proxy_free(px);
    px = NULL;
    cmd_reset(&cmd);
    buf_free(&cmd_out);
    for (int i = 0; i < NFAKES; i++)
        fake_close(&fakes[i]);
    event_free(tick);
    event_base_free(base);
    cluster_free(srv.cluster);
    store_destroy(srv.store);
}

/* ---- helpers ---- */

/* The member slot that serves key, as the ring says. */
static inline uint32_t ring_owner(const char *key)
{
    struct ring *r = ring_acquire(cluster_ring_ref(srv.cluster));
    size_t i = ring_first_up(r, ring_hash(key, strlen(key)));
    uint32_t tag;

    ck_assert_uint_ne(i, SIZE_MAX);
    tag = ring_node(r, i)->tag;
    ring_release(r);
    return tag;
}

/* The n-th key (n >= 0) named "<prefix><number>" that slot owns, in buf. */
static inline const char *key_of(uint32_t slot, int n, const char *prefix, char *buf,
                                 size_t cap)
{
    for (unsigned i = 0; i < 100000; i++) {
        snprintf(buf, cap, "%s%u", prefix, i);
        if (ring_owner(buf) == slot && n-- == 0)
            return buf;
    }
    ck_abort_msg("no key for slot %u", slot);
    return NULL;
}

static inline enum proxy_decision route(const char *line, bool from_peer,
                                        struct route_req *rr, uint32_t *owner)
{
    *owner = UINT32_MAX;
    return proxy_route(px, line, strlen(line), from_peer, rr, owner);
}

/* Stores key=val here, through the command layer. */
static inline void local_set(const char *key, unsigned flags, const char *val)
{
    char line[300];
    int n = snprintf(line, sizeof(line), "set %s %u 0 %zu", key, flags, strlen(val));

    ck_assert_int_eq(cmd_process_line(&cmd, line, (size_t)n), CMD_READ_VALUE);
    ck_assert_uint_eq(cmd.item->nbytes, strlen(val) + 2);
    memcpy(item_value(cmd.item), val, strlen(val));
    memcpy(item_value(cmd.item) + strlen(val), "\r\n", 2);
    cmd_value_done(&cmd);
    buf_reset(&cmd_out);
}

/* Forwards raw (a line with its "\r\n", and its data block) as a
 * connection would, onto c's queue. */
static inline struct fwdreq *forward(struct client *c, const char *raw)
{
    struct route_req rr;
    uint32_t owner;
    const char *nl = strstr(raw, "\r\n");
    char line[MAX_LINE_LEN];
    struct fwdreq *r;

    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_lt((size_t)(nl - raw), sizeof(line));
    memcpy(line, raw, (size_t)(nl - raw));
    line[nl - raw] = '\0';
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FORWARD);
    r = proxy_forward(px, &c->q, &rr, owner, raw, strlen(raw));
    ck_assert_ptr_nonnull(r);
    fwdreq_queue_push(&c->q, r);
    return r;
}

/* Fans a multi-get line out as a connection would, onto c's queue. */
static inline struct fwdreq *fanout(struct client *c, const char *line)
{
    struct route_req rr;
    uint32_t owner;
    struct fwdreq *r;

    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FANOUT);
    r = proxy_fanout(px, &c->q, &cmd, line, strlen(line), &rr);
    ck_assert_ptr_nonnull(r);
    fwdreq_queue_push(&c->q, r);
    return r;
}

/* Drains c's queue and asserts its whole output so far. */
static inline void client_out_is(struct client *c, const char *want)
{
    size_t n = strlen(want);

    fwdreq_queue_drain(&c->q);
    ck_assert_msg(buf_pending(&c->out) == n &&
                      (n == 0 || memcmp(c->out.data + c->out.off, want, n) == 0),
                  "client got \"%.*s\", want \"%s\"", (int)buf_pending(&c->out),
                  c->out.data != NULL ? c->out.data + c->out.off : "", want);
}

static inline void client_out_is_buf(struct client *c, const struct buf *want)
{
    char *s = malloc(want->len + 1);

    ck_assert_ptr_nonnull(s);
    memcpy(s, want->data, want->len);
    s[want->len] = '\0';
    client_out_is(c, s);
    free(s);
}

#endif /* PROXY_FIXTURE_H */
