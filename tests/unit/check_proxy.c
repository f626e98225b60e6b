/* check_proxy: forwarding on real sockets. A real server and store, a
 * gossip-mode cluster of this node ("self") and two fake members whose
 * client ports are loopback sockets the test listens on, all on the test's
 * own event_base. The fakes answer the hello as the daemon does and then
 * canned replies; the test plays the connection (its queue, its output,
 * its ready callback), as conn.c does. The ring itself is the oracle for
 * who owns a key. */
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
#define SLOW_MS      300   /* peer_timeout_ms where members fail */
#define PATIENT_MS   10000 /* peer_timeout_ms where they must not */
#define WAIT_MS      10000 /* the longest any wait may take: a failed test */
#define NFAKES       2
#define FAKE_KEYS    32
#define MAX_LINE_LEN 2048

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

static void client_ready(void *arg)
{
    ((struct client *)arg)->nready++;
}

static void client_init(struct client *c)
{
    buf_init(&c->out);
    fwdreq_queue_init(&c->q, &c->out, client_ready, c);
    c->nready = 0;
}

static void client_fini(struct client *c)
{
    fwdreq_queue_detach_all(&c->q);
    buf_free(&c->out);
}

static void heap_ready_cb(void *arg)
{
    (void)arg;
    heap_ready++;
}

/* A connection on the heap, to be closed as conn_free() closes one: its
 * queue detached, its output and itself freed, so that any later touch of
 * them is a use after free that the sanitizer build reports. */
static struct client *conn_open(void)
{
    struct client *c = calloc(1, sizeof(*c));

    ck_assert_ptr_nonnull(c);
    buf_init(&c->out);
    fwdreq_queue_init(&c->q, &c->out, heap_ready_cb, NULL);
    return c;
}

static void conn_close(struct client *c)
{
    fwdreq_queue_detach_all(&c->q);
    buf_free(&c->out);
    free(c);
}

static int fake_find(const struct fake *f, const char *key)
{
    for (size_t i = 0; i < f->nkv; i++)
        if (strcmp(f->kv[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* Gives the member key=val[0..nval). */
static void fake_put_n(struct fake *f, const char *key, unsigned flags, const char *val,
                       size_t nval)
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

static void fake_put(struct fake *f, const char *key, unsigned flags, const char *val)
{
    fake_put_n(f, key, flags, val, strlen(val));
}

/* The VALUE block of a get reply. */
static void value_block(struct buf *b, const char *key, unsigned flags, const char *val)
{
    char line[128];
    int n = snprintf(line, sizeof(line), "VALUE %s %u %zu\r\n", key, flags, strlen(val));

    buf_append(b, line, (size_t)n);
    buf_append_str(b, val);
    buf_append_str(b, "\r\n");
}

static void fake_drop(struct fake *f)
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
static void fake_flush(struct fake *f)
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

static void fake_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fake_flush(arg);
}

static void fake_send(struct fake *f, const char *p, size_t n)
{
    if (f->fd < 0)
        return;
    buf_append(&f->out, p, n);
    ck_assert(!f->out.oom);
    fake_flush(f);
}

/* Sends what a FAKE_HOLD member kept, and answers at once from now on. */
static void fake_release(struct fake *f)
{
    fake_send(f, f->held.data, f->held.len);
    buf_reset(&f->held);
    f->mode = FAKE_ANSWER;
}

/* Splits line at spaces into at most max NUL-terminated tokens. */
static size_t split(char *line, char **tok, size_t max)
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
static void fake_answer(struct fake *f, char **tok, size_t ntok, const char *data,
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
static void fake_serve(struct fake *f)
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

static void fake_readable(evutil_socket_t fd, short what, void *arg)
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

static void fake_accept(evutil_socket_t lfd, short what, void *arg)
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

static void fake_open(struct fake *f, const char *id)
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

static void fake_close(struct fake *f)
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
static void fake_got(const struct fake *f, const char *want)
{
    size_t n = strlen(want);

    ck_assert_msg(f->got.len == n && (n == 0 || memcmp(f->got.data, want, n) == 0),
                  "%s got \"%.*s\", want \"%s\"", f->id, (int)f->got.len,
                  f->got.data != NULL ? f->got.data : "", want);
}

/* ---- the event loop, bounded ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* One pass of the loop, returning by the deadline at the latest. */
static void loop_once(uint64_t deadline)
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

/* Runs the loop for ms milliseconds, whatever happens. */
static void run_for(unsigned ms)
{
    uint64_t deadline = mctime_mono_ms() + ms;

    while (mctime_mono_ms() < deadline)
        loop_once(deadline);
}

/* ---- set-up ---- */

/* The member slot the ring gives the member with this id. */
static uint32_t member_slot(const char *id)
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
static void join(struct fake *f)
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

static void start(uint32_t peer_timeout_ms, bool members)
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
    ck_assert_int_eq(proxy_new(&srv, base, &ts, &px), 0);
    ck_assert(!proxy_replicates(px));
    buf_init(&cmd_out);
    cmd_init(&cmd, &srv, &ts, &cmd_out);
    client_init(&cl);
    heap_ready = 0;
}

static void setup(void)
{
    start(PATIENT_MS, true);
}

static void setup_slow(void)
{
    start(SLOW_MS, true);
}

static void setup_alone(void)
{
    start(PATIENT_MS, false);
}

static void teardown(void)
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
static uint32_t ring_owner(const char *key)
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
static const char *key_of(uint32_t slot, int n, const char *prefix, char *buf, size_t cap)
{
    for (unsigned i = 0; i < 100000; i++) {
        snprintf(buf, cap, "%s%u", prefix, i);
        if (ring_owner(buf) == slot && n-- == 0)
            return buf;
    }
    ck_abort_msg("no key for slot %u", slot);
    return NULL;
}

static enum proxy_decision route(const char *line, bool from_peer, struct route_req *rr,
                                 uint32_t *owner)
{
    *owner = UINT32_MAX;
    return proxy_route(px, line, strlen(line), from_peer, rr, owner);
}

/* Stores key=val here, through the command layer. */
static void local_set(const char *key, unsigned flags, const char *val)
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
static struct fwdreq *forward(struct client *c, const char *raw)
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
static struct fwdreq *fanout(struct client *c, const char *line)
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
static void client_out_is(struct client *c, const char *want)
{
    size_t n = strlen(want);

    fwdreq_queue_drain(&c->q);
    ck_assert_msg(buf_pending(&c->out) == n &&
                      (n == 0 || memcmp(c->out.data + c->out.off, want, n) == 0),
                  "client got \"%.*s\", want \"%s\"", (int)buf_pending(&c->out),
                  c->out.data != NULL ? c->out.data + c->out.off : "", want);
}

static void client_out_is_buf(struct client *c, const struct buf *want)
{
    char *s = malloc(want->len + 1);

    ck_assert_ptr_nonnull(s);
    memcpy(s, want->data, want->len);
    s[want->len] = '\0';
    client_out_is(c, s);
    free(s);
}

/* ---- routing ---- */

START_TEST(test_proxy_routes_each_key_to_its_ring_owner)
{
    static const char *const forms[][2] = {
        {"get ", ""},  {"set ", " 0 0 1"}, {"delete ", ""},
        {"mg ", " v"}, {"incr ", " 1"},    {"touch ", " 10"},
    };
    unsigned owned[NFAKES + 1] = {0};

    for (unsigned i = 0; i < 3000; i++) {
        char key[32];
        uint32_t want;
        snprintf(key, sizeof(key), "key:%u", i);
        want = ring_owner(key);
        ck_assert(want == CLUSTER_SELF || want == fakes[0].slot || want == fakes[1].slot);
        owned[want == CLUSTER_SELF ? 0 : want == fakes[0].slot ? 1 : 2]++;
        for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
            char line[64];
            struct route_req rr;
            uint32_t owner;
            enum proxy_decision d;
            snprintf(line, sizeof(line), "%s%s%s", forms[f][0], key, forms[f][1]);
            d = route(line, false, &rr, &owner);
            if (want == CLUSTER_SELF) {
                ck_assert_msg(d == PROXY_LOCAL, "%s: %d, want local", line, d);
            } else {
                ck_assert_msg(d == PROXY_FORWARD, "%s: %d, want forward", line, d);
                ck_assert_msg(owner == want, "%s: to %u, want %u", line, owner, want);
            }
        }
    }
    /* three owners of about a third each: the test saw every case */
    for (int i = 0; i <= NFAKES; i++)
        ck_assert_uint_gt(owned[i], 500);
}
END_TEST

START_TEST(test_proxy_routes_a_multiget_over_several_owners_as_fanout)
{
    char a[32], b[32], l1[32], l2[32], a2[32], line[256];
    struct route_req rr;
    uint32_t owner;

    key_of(fakes[0].slot, 0, "k", a, sizeof(a));
    key_of(fakes[0].slot, 1, "k", a2, sizeof(a2));
    key_of(fakes[1].slot, 0, "k", b, sizeof(b));
    key_of(CLUSTER_SELF, 0, "k", l1, sizeof(l1));
    key_of(CLUSTER_SELF, 1, "k", l2, sizeof(l2));

    snprintf(line, sizeof(line), "get %s %s %s", l1, a, b);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FANOUT);
    snprintf(line, sizeof(line), "gets %s %s", a, b);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FANOUT);
    snprintf(line, sizeof(line), "gat 10 %s %s", a, l1);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FANOUT);

    /* all here: served here */
    snprintf(line, sizeof(line), "get %s %s %s", l1, l2, l1);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_LOCAL);

    /* all on one other member: forwarded whole, its reply a get's */
    snprintf(line, sizeof(line), "get %s %s %s", a, a2, a);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FORWARD);
    ck_assert_uint_eq(owner, fakes[0].slot);
    ck_assert_int_eq(rr.reply, PEER_REPLY_GET);
    ck_assert(!rr.quiet);
}
END_TEST

START_TEST(test_proxy_routes_flush_all_as_broadcast_with_two_or_more_nodes)
{
    struct route_req rr;
    uint32_t owner;

    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_BROADCAST);
    ck_assert_int_eq(route("flush_all 0", false, &rr, &owner), PROXY_BROADCAST);
    ck_assert_int_eq(route("flush_all noreply", false, &rr, &owner), PROXY_BROADCAST);
    /* a peer's flush_all is that member's broadcast reaching us */
    ck_assert_int_eq(route("flush_all", true, &rr, &owner), PROXY_LOCAL);
    ck_assert_int_eq(route("flush_allx", false, &rr, &owner), PROXY_LOCAL);
}
END_TEST

START_TEST(test_proxy_never_forwards_a_line_from_a_peer)
{
    for (int i = 0; i < NFAKES; i++) {
        char key[32], other[32], line[128];
        struct route_req rr;
        uint32_t owner;

        key_of(fakes[i].slot, 0, "p", key, sizeof(key));
        key_of(fakes[1 - i].slot, 0, "p", other, sizeof(other));
        snprintf(line, sizeof(line), "get %s", key);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        snprintf(line, sizeof(line), "set %s 0 0 1", key);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        snprintf(line, sizeof(line), "mg %s v q", key);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        snprintf(line, sizeof(line), "get %s %s", key, other);
        ck_assert_int_eq(route(line, true, &rr, &owner), PROXY_LOCAL);
        ck_assert_uint_eq(owner, UINT32_MAX); /* untouched */
    }
}
END_TEST

START_TEST(test_proxy_keeps_commands_without_keys_local)
{
    static const char *const lines[] = {
        "version", "stats", "stats cluster", "mn", "verbosity 1", "get", "gat 10",
        "quit",    "me",    "bogus",         "",
    };

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct route_req rr;
        uint32_t owner;
        ck_assert_msg(route(lines[i], false, &rr, &owner) == PROXY_LOCAL, "\"%s\"",
                      lines[i]);
        ck_assert_uint_eq(owner, UINT32_MAX);
    }
}
END_TEST

START_TEST(test_proxy_routes_around_a_dead_member)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    struct gossip_listener l;
    char addr[32];
    unsigned moved = 0;
    struct route_req rr;
    uint32_t owner, before[2000];
    struct fwdreq *r;

    for (unsigned i = 0; i < 2000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "dead:%u", i);
        before[i] = ring_owner(key);
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", b->port);
    cluster_gossip_listener(srv.cluster, &l);
    ck_assert(l.update(l.arg, b->id, addr, GMSG_DEAD, 2));
    l.commit(l.arg);

    for (unsigned i = 0; i < 2000; i++) {
        char key[32], line[64];
        uint32_t want;
        enum proxy_decision d;
        snprintf(key, sizeof(key), "dead:%u", i);
        want = ring_owner(key);
        ck_assert_uint_ne(want, b->slot);
        /* only the dead member's keys move */
        if (before[i] != b->slot)
            ck_assert_uint_eq(want, before[i]);
        else
            moved++;
        snprintf(line, sizeof(line), "get %s", key);
        d = route(line, false, &rr, &owner);
        if (want == CLUSTER_SELF)
            ck_assert_int_eq(d, PROXY_LOCAL);
        else
            ck_assert(d == PROXY_FORWARD && owner == want);
    }
    ck_assert_uint_gt(moved, 300);

    /* flush_all asks the live members only */
    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_BROADCAST);
    r = proxy_broadcast(px, &cl.q, &cmd, "flush_all", 9, "flush_all\r\n", 11);
    ck_assert_ptr_nonnull(r);
    fwdreq_queue_push(&cl.q, r);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "OK\r\n");
    fake_got(a, "flush_all\r\n");
    ck_assert_uint_eq(b->nconns, 0);
}
END_TEST

START_TEST(test_proxy_serves_everything_here_while_alone)
{
    struct route_req rr;
    uint32_t owner;
    char key[32], line[64];

    ck_assert_int_eq(route("get a b c d e f g", false, &rr, &owner), PROXY_LOCAL);
    ck_assert_int_eq(route("set a 0 0 1", false, &rr, &owner), PROXY_LOCAL);
    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_LOCAL);

    /* a member joins: the next line sees the new ring */
    join(&fakes[0]);
    key_of(fakes[0].slot, 0, "j", key, sizeof(key));
    snprintf(line, sizeof(line), "get %s", key);
    ck_assert_int_eq(route(line, false, &rr, &owner), PROXY_FORWARD);
    ck_assert_uint_eq(owner, fakes[0].slot);
    ck_assert_int_eq(route("flush_all", false, &rr, &owner), PROXY_BROADCAST);
}
END_TEST

/* ---- forwarding ---- */

START_TEST(test_proxy_relays_a_forwarded_reply_byte_for_byte)
{
    struct fake *a = &fakes[0];
    char key[32], raw[128], canned[256];

    key_of(a->slot, 0, "f", key, sizeof(key));
    /* a value whose data looks like the end of a reply, a maximal flags
     * and CAS: framed by length, relayed untouched */
    snprintf(
        canned, sizeof(canned),
        "VALUE %s 4294967295 12 18446744073709551615\r\nEND\r\n\r\nEND\r\n\r\nEND\r\n",
        key);
    a->canned = canned;
    snprintf(raw, sizeof(raw), "gets %s\r\n", key);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, canned);
    fake_got(a, raw);
    ck_assert_uint_eq(ts.forwarded, 1);
    ck_assert_uint_eq(ts.forward_errors, 0);
}
END_TEST

START_TEST(test_proxy_forwards_a_storage_command_with_its_data_block)
{
    struct fake *b = &fakes[1];
    char key[32], raw[128], get[64], want[128];

    key_of(b->slot, 0, "s", key, sizeof(key));
    snprintf(raw, sizeof(raw), "set %s 42 0 9\r\nab\r\ncd\r\nx\r\n", key);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "STORED\r\n");
    fake_got(b, raw);

    snprintf(get, sizeof(get), "get %s\r\n", key);
    forward(&cl, get);
    WAIT_UNTIL(cl.nready == 2);
    snprintf(want, sizeof(want), "STORED\r\nVALUE %s 42 9\r\nab\r\ncd\r\nx\r\nEND\r\n",
             key);
    client_out_is(&cl, want);
    ck_assert_uint_eq(b->nconns, 1); /* one pipelined connection */
}
END_TEST

START_TEST(test_proxy_replies_in_command_order_across_members)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char ka[32], kb[32], raw[64], want[512];
    struct buf exp;

    key_of(a->slot, 0, "o", ka, sizeof(ka));
    key_of(b->slot, 0, "o", kb, sizeof(kb));
    fake_put(a, ka, 1, "from-a");
    fake_put(b, kb, 2, "from-b");
    a->mode = FAKE_HOLD;
    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(&cl, raw);
    buf_append_str(fwdreq_queue_after(&cl.q), "LOCAL-1\r\n");
    snprintf(raw, sizeof(raw), "get %s\r\n", kb);
    forward(&cl, raw);
    snprintf(raw, sizeof(raw), "mg %s v\r\n", ka);
    forward(&cl, raw);
    buf_append_str(fwdreq_queue_after(&cl.q), "LOCAL-2\r\n");

    WAIT_UNTIL(cl.nready == 1 && a->ncmds == 2); /* b answered, a holds */
    client_out_is(&cl, "");
    fake_release(a);
    WAIT_UNTIL(cl.nready == 3);

    buf_init(&exp);
    value_block(&exp, ka, 1, "from-a");
    buf_append_str(&exp, "END\r\nLOCAL-1\r\n");
    value_block(&exp, kb, 2, "from-b");
    snprintf(want, sizeof(want), "END\r\nVA 6\r\nfrom-a\r\nLOCAL-2\r\n");
    buf_append_str(&exp, want);
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
}
END_TEST

START_TEST(test_proxy_quiet_command_loses_only_the_appended_mn)
{
    struct fake *a = &fakes[0];
    char hit[32], miss[32], raw[128], sent[512];

    key_of(a->slot, 0, "q", hit, sizeof(hit));
    key_of(a->slot, 1, "q", miss, sizeof(miss));
    fake_put(a, hit, 0, "quiet!");

    snprintf(raw, sizeof(raw), "mg %s v q\r\n", hit);
    forward(&cl, raw);
    snprintf(sent, sizeof(sent), "%smn\r\n", raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "VA 6\r\nquiet!\r\n");
    fake_got(a, sent);

    /* a miss under q: nothing at all, and still complete */
    snprintf(raw, sizeof(raw), "mg %s v q\r\n", miss);
    forward(&cl, raw);
    snprintf(sent + strlen(sent), sizeof(sent) - strlen(sent), "%smn\r\n", raw);
    WAIT_UNTIL(cl.nready == 2);
    client_out_is(&cl, "VA 6\r\nquiet!\r\n");
    ck_assert(fwdreq_queue_empty(&cl.q));

    /* classic noreply is quiet too */
    snprintf(raw, sizeof(raw), "set %s 0 0 2 noreply\r\nhi\r\n", miss);
    forward(&cl, raw);
    snprintf(sent + strlen(sent), sizeof(sent) - strlen(sent), "%smn\r\n", raw);
    WAIT_UNTIL(cl.nready == 3);
    client_out_is(&cl, "VA 6\r\nquiet!\r\n");
    fake_got(a, sent);
    ck_assert_int_ge(fake_find(a, miss), 0);
}
END_TEST

START_TEST(test_proxy_relays_values_larger_than_a_socket_buffer)
{
    enum { BIG = 700000, BIG2 = 400000 }; /* both under -I, 1 MB */
    struct fake *a = &fakes[0], *b = &fakes[1];
    char ka[32], kb[32], kl[32], line[128];
    char *big = malloc(BIG), *big2 = malloc(BIG2);
    struct buf raw, exp;

    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(big2);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < BIG2; i++)
        big2[i] = (char)('A' + i % 23);
    key_of(a->slot, 0, "big", ka, sizeof(ka));
    key_of(b->slot, 0, "big", kb, sizeof(kb));
    key_of(CLUSTER_SELF, 0, "big", kl, sizeof(kl));
    fake_put_n(a, ka, 4, big2, BIG2);
    local_set(kl, 5, "small");

    /* to the member: the data block arrives whole */
    buf_init(&raw);
    snprintf(line, sizeof(line), "set %s 9 0 %d\r\n", kb, BIG);
    buf_append_str(&raw, line);
    buf_append(&raw, big, BIG);
    buf_append_str(&raw, "\r\n");
    buf_append(&raw, "", 1); /* forward() takes a C string */
    forward(&cl, raw.data);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "STORED\r\n");
    ck_assert_uint_eq(b->got.len, raw.len - 1);
    ck_assert(memcmp(b->got.data, raw.data, raw.len - 1) == 0);
    buf_reset(&cl.out);

    /* from the member: relayed byte for byte */
    snprintf(line, sizeof(line), "get %s\r\n", kb);
    forward(&cl, line);
    WAIT_UNTIL(cl.nready == 2);
    buf_init(&exp);
    snprintf(line, sizeof(line), "VALUE %s 9 %d\r\n", kb, BIG);
    buf_append_str(&exp, line);
    buf_append(&exp, big, BIG);
    buf_append_str(&exp, "\r\nEND\r\n");
    client_out_is_buf(&cl, &exp);
    buf_reset(&cl.out);

    /* and reassembled from two members */
    snprintf(line, sizeof(line), "get %s %s %s", kb, kl, ka);
    fanout(&cl, line);
    WAIT_UNTIL(cl.nready == 3);
    buf_reset(&exp);
    snprintf(line, sizeof(line), "VALUE %s 9 %d\r\n", kb, BIG);
    buf_append_str(&exp, line);
    buf_append(&exp, big, BIG);
    buf_append_str(&exp, "\r\n");
    value_block(&exp, kl, 5, "small");
    snprintf(line, sizeof(line), "VALUE %s 4 %d\r\n", ka, BIG2);
    buf_append_str(&exp, line);
    buf_append(&exp, big2, BIG2);
    buf_append_str(&exp, "\r\nEND\r\n");
    client_out_is_buf(&cl, &exp);

    buf_free(&exp);
    buf_free(&raw);
    free(big);
    free(big2);
}
END_TEST

/* ---- multi-get reassembly ---- */

/* _i: which member answers first (the local share is there at once). */
START_TEST(test_proxy_fanout_reassembles_values_in_the_client_key_order)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    struct fake *first = _i == 0 ? b : a, *second = _i == 0 ? a : b;
    char a1[32], a2[32], a3[32], b1[32], b2[32], l1[32], l2[32], l3[32];
    char line[512], want_a[256], want_b[256];
    struct fwdreq *r;
    struct buf exp;

    key_of(a->slot, 0, "m", a1, sizeof(a1));
    key_of(a->slot, 1, "m", a2, sizeof(a2));
    key_of(a->slot, 2, "m", a3, sizeof(a3)); /* a miss on a */
    key_of(b->slot, 0, "m", b1, sizeof(b1));
    key_of(b->slot, 1, "m", b2, sizeof(b2)); /* a miss on b */
    key_of(CLUSTER_SELF, 0, "m", l1, sizeof(l1));
    key_of(CLUSTER_SELF, 1, "m", l2, sizeof(l2));
    key_of(CLUSTER_SELF, 2, "m", l3, sizeof(l3)); /* a miss here */
    fake_put(a, a1, 11, "a-one");
    fake_put(a, a2, 12, "a-two");
    fake_put(b, b1, 21, "b-one");
    local_set(l1, 31, "local-one");
    local_set(l2, 32, "local-two");
    a->mode = b->mode = FAKE_HOLD;

    /* duplicates and misses of every owner, interleaved */
    snprintf(line, sizeof(line), "get %s %s %s %s %s %s %s %s %s %s %s", a1, b1, l1, a3,
             a1, l3, b2, a2, l2, b1, l1);
    r = fanout(&cl, line);
    WAIT_UNTIL(a->ncmds == 1 && b->ncmds == 1);
    /* each member is asked for its keys only, in the client's order */
    snprintf(want_a, sizeof(want_a), "get %s %s %s %s\r\n", a1, a3, a1, a2);
    snprintf(want_b, sizeof(want_b), "get %s %s %s\r\n", b1, b2, b1);
    fake_got(a, want_a);
    fake_got(b, want_b);

    ck_assert_uint_eq(fwdreq_outstanding(r), 2);
    fake_release(first);
    WAIT_UNTIL(fwdreq_outstanding(r) == 1);
    ck_assert_uint_eq(cl.nready, 0);
    client_out_is(&cl, "");
    fake_release(second);
    WAIT_UNTIL(cl.nready == 1);

    buf_init(&exp);
    value_block(&exp, a1, 11, "a-one");
    value_block(&exp, b1, 21, "b-one");
    value_block(&exp, l1, 31, "local-one");
    value_block(&exp, a1, 11, "a-one");
    value_block(&exp, a2, 12, "a-two");
    value_block(&exp, l2, 32, "local-two");
    value_block(&exp, b1, 21, "b-one");
    value_block(&exp, l1, 31, "local-one");
    buf_append_str(&exp, "END\r\n");
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
    ck_assert_uint_eq(ts.forward_errors, 0);
}
END_TEST

START_TEST(test_proxy_fanout_of_misses_only_is_a_bare_end)
{
    char a1[32], b1[32], l1[32], line[128];

    key_of(fakes[0].slot, 0, "n", a1, sizeof(a1));
    key_of(fakes[1].slot, 0, "n", b1, sizeof(b1));
    key_of(CLUSTER_SELF, 0, "n", l1, sizeof(l1));
    snprintf(line, sizeof(line), "get %s %s %s", b1, l1, a1);
    fanout(&cl, line);
    buf_append_str(fwdreq_queue_after(&cl.q), "STORED\r\n");
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "END\r\nSTORED\r\n");
}
END_TEST

START_TEST(test_proxy_fanout_of_gat_sends_the_exptime_to_every_member)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char a1[32], b1[32], l1[32], line[128], want[128];
    struct buf exp;

    key_of(a->slot, 0, "gt", a1, sizeof(a1));
    key_of(b->slot, 0, "gt", b1, sizeof(b1));
    key_of(CLUSTER_SELF, 0, "gt", l1, sizeof(l1));
    fake_put(a, a1, 1, "one");
    fake_put(b, b1, 2, "two");
    local_set(l1, 3, "three");
    snprintf(line, sizeof(line), "gat 3600 %s %s %s", l1, b1, a1);
    fanout(&cl, line);
    WAIT_UNTIL(cl.nready == 1);
    snprintf(want, sizeof(want), "gat 3600 %s\r\n", a1);
    fake_got(a, want);
    snprintf(want, sizeof(want), "gat 3600 %s\r\n", b1);
    fake_got(b, want);
    buf_init(&exp);
    value_block(&exp, l1, 3, "three");
    value_block(&exp, b1, 2, "two");
    value_block(&exp, a1, 1, "one");
    buf_append_str(&exp, "END\r\n");
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
}
END_TEST

START_TEST(test_proxy_fanout_with_a_member_error_is_that_error)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char a1[32], b1[32], l1[32], line[128];

    key_of(a->slot, 0, "me", a1, sizeof(a1));
    key_of(b->slot, 0, "me", b1, sizeof(b1));
    key_of(CLUSTER_SELF, 0, "me", l1, sizeof(l1));
    fake_put(a, a1, 0, "fine");
    local_set(l1, 0, "fine");
    b->canned = "SERVER_ERROR out of memory writing get response\r\n";
    snprintf(line, sizeof(line), "get %s %s %s", a1, l1, b1);
    fanout(&cl, line);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "SERVER_ERROR out of memory writing get response\r\n");
}
END_TEST

/* ---- flush_all ---- */

START_TEST(test_proxy_broadcast_flushes_here_and_on_every_member)
{
    static const char *const lines[] = {"flush_all", "flush_all noreply"};
    static const char *const want[] = {"OK\r\n", ""};

    for (int i = 0; i < 2; i++) {
        char raw[64], sent[64];
        struct route_req rr;
        uint32_t owner;
        struct fwdreq *r;

        local_set("here", 0, "x");
        ck_assert_int_eq(route(lines[i], false, &rr, &owner), PROXY_BROADCAST);
        snprintf(raw, sizeof(raw), "%s\r\n", lines[i]);
        r = proxy_broadcast(px, &cl.q, &cmd, lines[i], strlen(lines[i]), raw,
                            strlen(raw));
        ck_assert_ptr_nonnull(r);
        fwdreq_queue_push(&cl.q, r);
        WAIT_UNTIL(cl.nready == (unsigned)i + 1);
        client_out_is(&cl, want[i]);
        buf_reset(&cl.out);
        snprintf(sent, sizeof(sent), "%s%s", raw, i == 1 ? "mn\r\n" : "");
        for (int f = 0; f < NFAKES; f++) {
            fake_got(&fakes[f], sent);
            buf_reset(&fakes[f].got);
        }
        /* and here */
        buf_reset(&cmd_out);
        cmd_get_local(&cmd, &cmd_out, "here", 4, false, false, 0);
        ck_assert_uint_eq(cmd_out.len, 0);
    }
}
END_TEST

/* ---- failures ---- */

START_TEST(test_proxy_member_that_closes_yields_a_peer_error)
{
    struct fake *a = &fakes[0];
    char key[32], raw[64];

    a->mode = FAKE_CLOSE;
    key_of(a->slot, 0, "c", key, sizeof(key));
    snprintf(raw, sizeof(raw), "get %s\r\n", key);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "SERVER_ERROR peer fake-a unreachable\r\n");
    ck_assert_uint_eq(a->ncmds, 1);
    ck_assert_uint_eq(ts.forward_errors, 1);
}
END_TEST

START_TEST(test_proxy_silent_member_times_out_and_its_late_answer_is_dropped)
{
    struct fake *a = &fakes[0];
    char key[32], raw[64], want[128];
    uint64_t t0, took;

    a->mode = FAKE_HOLD; /* silent until the test lets it speak */
    key_of(a->slot, 0, "t", key, sizeof(key));
    fake_put(a, key, 5, "stale");
    snprintf(raw, sizeof(raw), "get %s\r\n", key);
    t0 = mctime_mono_ms();
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 1);
    took = mctime_mono_ms() - t0;
    ck_assert_msg(took + 5 >= SLOW_MS && took < SLOW_MS + 5000,
                  "failed after %llu ms, want the %d ms timeout",
                  (unsigned long long)took, SLOW_MS);
    client_out_is(&cl, "SERVER_ERROR peer fake-a timed out\r\n");
    fake_got(a, raw);

    /* the member answers at last, on the stream the forwarder gave up */
    fake_release(a);
    WAIT_UNTIL(a->ndropped == 1);
    run_for(50); /* and past the first reconnect backoff, 25 ms */
    ck_assert_uint_eq(cl.nready, 1);
    client_out_is(&cl, "SERVER_ERROR peer fake-a timed out\r\n");

    /* the next request gets a new connection and its own answer only */
    fake_put(a, key, 5, "fresh");
    buf_reset(&cl.out);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 2);
    snprintf(want, sizeof(want), "VALUE %s 5 5\r\nfresh\r\nEND\r\n", key);
    client_out_is(&cl, want);
    ck_assert_uint_eq(a->nconns, 2);
    ck_assert_uint_eq(ts.forward_errors, 1);
}
END_TEST

/* _i: the hello claims another id, or another ring layout (vnodes). */
START_TEST(test_proxy_member_whose_hello_does_not_match_is_unreachable)
{
    struct fake *a = &fakes[0];
    char key[32], raw[64];

    if (_i == 0)
        a->hello_id = "someone-else";
    else
        a->hello_vnodes = srv.settings.vnodes * 2;
    key_of(a->slot, 0, "h", key, sizeof(key));
    snprintf(raw, sizeof(raw), "get %s\r\n", key);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "SERVER_ERROR peer fake-a unreachable\r\n");
}
END_TEST

START_TEST(test_proxy_timeout_fails_every_request_pipelined_to_the_member_in_order)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char ka[32], kb[32], raw[64];
    struct buf exp;

    key_of(a->slot, 0, "w", ka, sizeof(ka));
    key_of(b->slot, 0, "w", kb, sizeof(kb));
    fake_put(b, kb, 3, "bee");
    a->mode = FAKE_SILENT;
    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(&cl, raw);
    snprintf(raw, sizeof(raw), "get %s\r\n", kb);
    forward(&cl, raw);
    snprintf(raw, sizeof(raw), "mg %s v\r\n", ka);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 3);

    buf_init(&exp);
    buf_append_str(&exp, "SERVER_ERROR peer fake-a timed out\r\n");
    value_block(&exp, kb, 3, "bee");
    buf_append_str(&exp, "END\r\nSERVER_ERROR peer fake-a timed out\r\n");
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
    ck_assert_uint_eq(ts.forward_errors, 2);
}
END_TEST

START_TEST(test_proxy_fanout_with_a_silent_member_is_that_member_error)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char a1[32], b1[32], l1[32], line[128];

    key_of(a->slot, 0, "x", a1, sizeof(a1));
    key_of(b->slot, 0, "x", b1, sizeof(b1));
    key_of(CLUSTER_SELF, 0, "x", l1, sizeof(l1));
    fake_put(a, a1, 0, "never");
    fake_put(b, b1, 0, "unused");
    local_set(l1, 0, "unused");
    b->mode = FAKE_SILENT;
    snprintf(line, sizeof(line), "get %s %s %s", l1, a1, b1);
    fanout(&cl, line);
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "SERVER_ERROR peer fake-b timed out\r\n");
    ck_assert_uint_eq(a->ncmds, 1);
}
END_TEST

START_TEST(test_proxy_failure_of_a_noreply_command_writes_nothing)
{
    struct fake *a = &fakes[0];
    char key[32], raw[64];

    a->mode = FAKE_CLOSE;
    key_of(a->slot, 0, "z", key, sizeof(key));
    snprintf(raw, sizeof(raw), "set %s 0 0 1 noreply\r\nx\r\n", key);
    forward(&cl, raw);
    buf_append_str(fwdreq_queue_after(&cl.q), "VERSION x\r\n");
    WAIT_UNTIL(cl.nready == 1);
    client_out_is(&cl, "VERSION x\r\n");
    ck_assert_uint_eq(ts.forward_errors, 1);
}
END_TEST

START_TEST(test_proxy_unreachable_member_fails_at_once_while_backing_off)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    char key[32], kb[32], raw[64], line[128];
    struct fwdreq *r1, *r2;
    uint64_t failed_at;
    unsigned ready = 0;
    int attempt;

    a->mode = FAKE_CLOSE;
    key_of(a->slot, 0, "u", key, sizeof(key));
    key_of(b->slot, 0, "u", kb, sizeof(kb));
    snprintf(raw, sizeof(raw), "get %s\r\n", key);
    snprintf(line, sizeof(line), "get %s %s", key, kb);
    /* The backoff is 25 ms: on a machine that stalls past it between the
     * failure and the next requests, try again with a fresh failure; a
     * machine that never manages it fails the test rather than passing it
     * unchecked. */
    for (attempt = 0; attempt < 20; attempt++) {
        ready = cl.nready;
        forward(&cl, raw);
        WAIT_UNTIL(cl.nready == ready + 1);
        ready = cl.nready;
        client_out_is(&cl, "SERVER_ERROR peer fake-a unreachable\r\n");
        buf_reset(&cl.out);

        /* within the backoff: complete at once, nobody called back, and a
         * fan-out asks nobody else either */
        failed_at = mctime_mono_ms();
        r1 = forward(&cl, raw);
        r2 = fanout(&cl, line);
        if (mctime_mono_ms() - failed_at <= 20 || (fwdreq_done(r1) && fwdreq_done(r2)))
            break;
        /* stalled: let both finish, then start over */
        WAIT_UNTIL(fwdreq_done(r1) && fwdreq_done(r2));
        fwdreq_queue_drain(&cl.q);
        buf_reset(&cl.out);
        ck_assert_uint_eq(b->nconns, 0);
    }
    ck_assert_msg(attempt < 20, "the machine stalled past the 25 ms backoff 20 times");
    ck_assert(fwdreq_done(r1));
    ck_assert(fwdreq_done(r2));
    ck_assert_uint_eq(cl.nready, ready); /* nobody was called back */
    client_out_is(&cl, "SERVER_ERROR peer fake-a unreachable\r\n"
                       "SERVER_ERROR peer fake-a unreachable\r\n");
    ck_assert_uint_eq(b->nconns, 0);
}
END_TEST

/* ---- a connection that goes away ---- */

START_TEST(test_proxy_detached_requests_are_freed_when_answers_arrive)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    struct client *gone = conn_open();
    char ka[32], kb[32], kl[32], line[128], raw[64];
    struct buf exp;

    key_of(a->slot, 0, "d", ka, sizeof(ka));
    key_of(b->slot, 0, "d", kb, sizeof(kb));
    key_of(CLUSTER_SELF, 0, "d", kl, sizeof(kl));
    fake_put(a, ka, 0, "aa");
    fake_put(b, kb, 0, "bb");
    local_set(kl, 0, "ll");
    a->mode = b->mode = FAKE_HOLD;

    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(gone, raw);
    snprintf(line, sizeof(line), "get %s %s %s", ka, kl, kb);
    fanout(gone, line);
    snprintf(raw, sizeof(raw), "mg %s v q\r\n", kb);
    forward(gone, raw);
    buf_append_str(fwdreq_queue_after(&gone->q), "LOCAL\r\n");
    WAIT_UNTIL(a->ncmds == 2 && b->ncmds == 3);

    conn_close(gone);
    fake_release(a);
    fake_release(b);

    /* replies come in order on each member's stream: once a later
     * request's answers are in, so are the orphans' */
    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(&cl, raw);
    snprintf(raw, sizeof(raw), "get %s\r\n", kb);
    forward(&cl, raw);
    WAIT_UNTIL(cl.nready == 2);
    buf_init(&exp);
    value_block(&exp, ka, 0, "aa");
    buf_append_str(&exp, "END\r\n");
    value_block(&exp, kb, 0, "bb");
    buf_append_str(&exp, "END\r\n");
    client_out_is_buf(&cl, &exp);
    buf_free(&exp);
    ck_assert_uint_eq(heap_ready, 0);
    ck_assert_uint_eq(ts.forward_errors, 0);
}
END_TEST

START_TEST(test_proxy_detached_requests_that_time_out_are_freed_silently)
{
    struct fake *a = &fakes[0];
    struct client *gone = conn_open();
    char ka[32], raw[64];

    key_of(a->slot, 0, "e", ka, sizeof(ka));
    a->mode = FAKE_SILENT;
    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(gone, raw);
    snprintf(raw, sizeof(raw), "set %s 0 0 1\r\nx\r\n", ka);
    forward(gone, raw);
    conn_close(gone);
    WAIT_UNTIL(ts.forward_errors == 2);
    ck_assert_uint_eq(heap_ready, 0);
}
END_TEST

START_TEST(test_proxy_free_cancels_what_detached_connections_left_outstanding)
{
    struct fake *a = &fakes[0], *b = &fakes[1];
    struct client *gone = conn_open();
    char ka[32], kb[32], kl[32], raw[64], line[128];

    key_of(a->slot, 0, "g", ka, sizeof(ka));
    key_of(b->slot, 0, "g", kb, sizeof(kb));
    key_of(CLUSTER_SELF, 0, "g", kl, sizeof(kl));
    a->mode = b->mode = FAKE_SILENT;
    snprintf(raw, sizeof(raw), "get %s\r\n", ka);
    forward(gone, raw);
    snprintf(line, sizeof(line), "get %s %s %s", kb, ka, kl);
    fanout(gone, line);
    WAIT_UNTIL(a->ncmds == 2 && b->ncmds == 1);
    conn_close(gone);
    proxy_free(px); /* the sanitizer build reports a leak or a use after free */
    px = NULL;
    ck_assert_uint_eq(heap_ready, 0);
    ck_assert_uint_eq(ts.forward_errors, 2); /* the forward, the fan-out once */
}
END_TEST

static Suite *proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *routing = tcase_create("routing");
    TCase *alone = tcase_create("alone");
    TCase *fwd = tcase_create("forwarding");
    TCase *fail = tcase_create("failures");

    tcase_add_checked_fixture(routing, setup, teardown);
    tcase_add_test(routing, test_proxy_routes_each_key_to_its_ring_owner);
    tcase_add_test(routing, test_proxy_routes_a_multiget_over_several_owners_as_fanout);
    tcase_add_test(routing,
                   test_proxy_routes_flush_all_as_broadcast_with_two_or_more_nodes);
    tcase_add_test(routing, test_proxy_never_forwards_a_line_from_a_peer);
    tcase_add_test(routing, test_proxy_keeps_commands_without_keys_local);
    tcase_add_test(routing, test_proxy_routes_around_a_dead_member);
    suite_add_tcase(s, routing);

    tcase_add_checked_fixture(alone, setup_alone, teardown);
    tcase_add_test(alone, test_proxy_serves_everything_here_while_alone);
    suite_add_tcase(s, alone);

    tcase_add_checked_fixture(fwd, setup, teardown);
    tcase_set_timeout(fwd, 60);
    tcase_add_test(fwd, test_proxy_relays_a_forwarded_reply_byte_for_byte);
    tcase_add_test(fwd, test_proxy_forwards_a_storage_command_with_its_data_block);
    tcase_add_test(fwd, test_proxy_replies_in_command_order_across_members);
    tcase_add_test(fwd, test_proxy_quiet_command_loses_only_the_appended_mn);
    tcase_add_test(fwd, test_proxy_relays_values_larger_than_a_socket_buffer);
    tcase_add_loop_test(fwd, test_proxy_fanout_reassembles_values_in_the_client_key_order,
                        0, 2);
    tcase_add_test(fwd, test_proxy_fanout_of_misses_only_is_a_bare_end);
    tcase_add_test(fwd, test_proxy_fanout_of_gat_sends_the_exptime_to_every_member);
    tcase_add_test(fwd, test_proxy_fanout_with_a_member_error_is_that_error);
    tcase_add_test(fwd, test_proxy_broadcast_flushes_here_and_on_every_member);
    tcase_add_test(fwd, test_proxy_detached_requests_are_freed_when_answers_arrive);
    suite_add_tcase(s, fwd);

    tcase_add_checked_fixture(fail, setup_slow, teardown);
    tcase_set_timeout(fail, 60);
    tcase_add_test(fail, test_proxy_member_that_closes_yields_a_peer_error);
    tcase_add_test(fail,
                   test_proxy_silent_member_times_out_and_its_late_answer_is_dropped);
    tcase_add_loop_test(fail, test_proxy_member_whose_hello_does_not_match_is_unreachable,
                        0, 2);
    tcase_add_test(
        fail, test_proxy_timeout_fails_every_request_pipelined_to_the_member_in_order);
    tcase_add_test(fail, test_proxy_fanout_with_a_silent_member_is_that_member_error);
    tcase_add_test(fail, test_proxy_failure_of_a_noreply_command_writes_nothing);
    tcase_add_test(fail, test_proxy_unreachable_member_fails_at_once_while_backing_off);
    tcase_add_test(fail, test_proxy_detached_requests_that_time_out_are_freed_silently);
    tcase_add_test(fail,
                   test_proxy_free_cancels_what_detached_connections_left_outstanding);
    suite_add_tcase(s, fail);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proxy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
