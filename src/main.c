/*
 * main: parse flags, build the server (store, listener, workers, maintenance
 * thread), run until SIGTERM or SIGINT, then take it all down in reverse.
 */
#include "admin/admin.h"
#include "cluster/ae.h"
#include "cluster/cluster.h"
#include "cluster/hot.h"
#include "cluster/pinger.h"
#include "cluster/transport.h"
#include "proto/peerauth.h"
#include "net/listener.h"
#include "store/maint.h"
#include "base/authfile.h"
#include "base/logger.h"
#include "base/mctime.h"
#include "base/prefix.h"
#include "base/server.h"
#include "store/store.h"
#include "base/tls.h"
#include "base/version.h"
#include "net/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* SIGTERM, SIGINT and SIGUSR1 (memcached's graceful stop; the shutdown
 * command raises SIGINT or SIGUSR1) all leave the same way: stop
 * accepting, close the connections, leave the cluster handing items off. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct event_base *base = arg;

    (void)what;
    if (sig == SIGUSR1)
        fprintf(stderr, "Gracefully stopping\n"); /* memcached's words */
    event_base_loopbreak(base);
}

static int daemonize(void)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    if (chdir("/") != 0)
        return -1;
    fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return -1;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

/* Descriptors beyond -c's connections: listeners, worker pipes and loops,
 * peer connections, the cluster port, logs. */
#define FD_HEADROOM 256

/* Raises the file limit to what -c needs, as memcached does at start (the
 * hard limit too, which takes root), before privileges are dropped. Never
 * lowers it. When it cannot, says so and goes on: connections beyond the
 * limit are refused at accept() (the listener pauses and retries). */
static void raise_nofile(int maxconns)
{
    rlim_t want = (rlim_t)maxconns + FD_HEADROOM;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    if (rl.rlim_max < want) {
        struct rlimit both = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &both) == 0)
            return;
    }
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        fprintf(stderr,
                "meshcached: -c %d needs %llu open files; the limit is %llu (try "
                "starting as root or a smaller -c)\n",
                maxconns, (unsigned long long)want, (unsigned long long)rl.rlim_max);
}

static int drop_privileges(const char *user)
{
    struct passwd *pw;

    if (user[0] == '\0' || getuid() != 0)
        return 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        fprintf(stderr, "meshcached: can't find the user %s to switch to\n", user);
        return -1;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "meshcached: failed to assume identity of user %s: %s\n", user,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes the pid file atomically (a temporary file renamed over it), so
 * that a reader never sees it empty or half written. */
static int write_pidfile(const char *path)
{
    char tmp[sizeof(((struct settings *)0)->pidfile) + 16];
    FILE *f;

    if (path[0] == '\0')
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "meshcached: could not open the pid file %s: %s\n", tmp,
                strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "meshcached: could not write the pid file %s: %s\n", path,
                strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* How long one anti-entropy request may take: the answerer may be in its
 * own exchange, and answers between its requests. */
#define AE_TIMEOUT_MS 5000

/* What `stats cluster` reports on. */
struct cluster_view {
    struct cluster *cl;
    struct ae *ae; /* NULL without anti-entropy */
};

/* `stats cluster` reaches membership and anti-entropy through this, so that
 * the command layer below does not call up into the cluster layer. */
static void cluster_stats_cb(void *arg, struct buf *out)
{
    struct cluster_view *v = arg;

    cluster_stats(v->cl, out);
    if (v->ae != NULL)
        ae_stats(v->ae, out);
}

/* `stats hotkeys`, for the command layer (as cluster_stats_cb). */
static void hotkeys_stats_cb(void *arg, struct buf *out)
{
    struct server *srv = arg;

    hot_stats(srv->hot, srv->cluster, srv->settings.replicas, mctime_mono_ms(), out);
}

/* The anti-entropy thread runs with gossip membership, for copies to
 * compare or items to hand off. */
static bool wants_ae(const struct settings *s)
{
    return s->gossip && ((s->replicas > 1 && s->ae_interval_ms > 0) || s->handoff);
}

/* -Y's users and -Z's certificates, read before privileges are dropped.
 * Returns 0, or -1 after printing why (with *rc set as memcached exits:
 * 1 for the auth file, 64 for TLS). */
static int load_security(struct server *srv, int *rc)
{
    char err[2 * 4096 + 512];

    if (srv->settings.auth_file[0] != '\0' &&
        authfile_load(srv->settings.auth_file, &srv->auth, err, sizeof(err)) != 0) {
        fprintf(stderr, "meshcached: %s\n", err);
        return -1;
    }
    if (srv->settings.ssl_enabled && tls_init(&srv->settings, err, sizeof(err)) != 0) {
        fprintf(stderr, "meshcached: %s\n", err);
        *rc = SETTINGS_EXIT_USAGE;
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct server srv;
    struct store_config scfg = {0};
    struct event_base *base = NULL;
    struct event *sigterm = NULL, *sigint = NULL, *sigusr1 = NULL;
    struct listener *lst = NULL;
    struct maint *maint = NULL;
    struct pinger *pinger = NULL;
    struct admin *admin = NULL;
    static struct cluster_view view;
    int rc = EXIT_FAILURE, r;

    settings_defaults(&srv.settings);
    r = settings_parse(&srv.settings, argc, argv, stdout, stderr);
    if (r > 0)
        return 0;
    if (r < 0)
        return SETTINGS_EXIT_USAGE;
    srv.verbose = srv.settings.verbose;

    signal(SIGPIPE, SIG_IGN);
    /* One malloc arena for all threads: items are allocated by one worker
     * and often freed (evicted) by another, and with per-thread arenas the
     * holes freed in one arena cannot serve the next allocation in another,
     * so resident memory under churn grew to 1.2 x -m; with one arena it
     * stays near 1.03 x -m. Small chunks still come from per-thread caches. */
    mallopt(M_ARENA_MAX, 1);
    mctime_init();
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "meshcached: libevent has no thread support\n");
        return EXIT_FAILURE;
    }
    scfg.maxbytes = srv.settings.maxbytes;
    scfg.item_size_max = srv.settings.item_size_max;
    scfg.evict_to_free = srv.settings.evict_to_free;
    if (logger_new(&srv.logger) != 0 ||
        prefix_new(srv.settings.prefix_delimiter, &srv.prefix) != 0) {
        fprintf(stderr, "meshcached: out of memory\n");
        goto out;
    }
    prefix_enable(srv.prefix, srv.settings.detail_enabled);
    scfg.logger = srv.logger;
    srv.lru_crawler = 1;
    srv.lru_crawler_sleep = 100; /* memcached's defaults, reported only */
    if (srv.settings.npeers > 0 || srv.settings.gossip) {
        /* a cluster: CAS values are versions comparable across nodes, and
         * with copies on several nodes, or items that move between nodes
         * (handoff, dual reads: gossip), a delete must outlive the item */
        scfg.hlc = true;
        scfg.version_tag =
            version_tag(srv.settings.node_id, strlen(srv.settings.node_id));
        scfg.tombstones = srv.settings.replicas > 1 || srv.settings.gossip;
        scfg.tombstone_ttl = srv.settings.tombstone_ttl;
    }
    if (store_create(&srv.store, &scfg) != 0) {
        fprintf(stderr, "meshcached: cannot allocate the store\n");
        goto out;
    }
    if (srv.settings.cluster_key_file[0] != '\0') {
        /* a connection becomes a peer's only with proof of the key */
        struct transport_key key;
        if (transport_key_read(srv.settings.cluster_key_file, &key) != 0)
            goto out;
        peerauth_key(srv.peer_key, key.k);
        srv.peer_key_set = true;
        transport_key_clear(&key);
    }
    if (load_security(&srv, &rc) != 0)
        goto out;
    if (cluster_new(&srv, &srv.cluster) != 0)
        goto out;
    if (hot_new(&srv.settings, &srv.hot) != 0) {
        fprintf(stderr, "meshcached: out of memory\n");
        goto out;
    }
    srv.hotkeys_stats = hotkeys_stats_cb;
    srv.hotkeys_stats_arg = &srv;
    srv.near_mark = hot_peer_mark;
    srv.near_drop = hot_peer_drop;
    srv.near_arg = srv.hot;
    view.cl = srv.cluster;
    srv.cluster_stats = cluster_stats_cb;
    srv.cluster_stats_arg = &view;
    if (wants_ae(&srv.settings)) {
        /* before any thread changes the store: its trees watch every change */
        struct ae_config ac = {
            .st = srv.store,
            .ring = cluster_ring_ref(srv.cluster),
            .self = srv.settings.node_id,
            .replicas = srv.settings.replicas,
            .interval_ms = srv.settings.ae_interval_ms,
            .bytes_per_sec = srv.settings.ae_bytes_per_sec,
            .handoff = srv.settings.handoff,
            .cl = srv.cluster,
            .timeout_ms = AE_TIMEOUT_MS,
            .verbose = &srv.verbose,
        };
        if (ae_new(&ac, &view.ae) != 0) {
            fprintf(stderr, "meshcached: out of memory for anti-entropy\n");
            goto out;
        }
    }
    base = event_base_new();
    if (base == NULL)
        goto out;
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    sigusr1 = evsignal_new(base, SIGUSR1, on_signal, base);
    if (sigterm == NULL || sigint == NULL || sigusr1 == NULL ||
        event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0 ||
        event_add(sigusr1, NULL) != 0)
        goto out;
    /* Only now accept clients: a test that connects and at once sends
     * SIGTERM must find the handler in place. The admin port first: once
     * the client port accepts, the admin port is bound too (its
     * connections wait in the backlog until admin_run()). */
    raise_nofile(srv.settings.maxconns);
    if (admin_open(&srv, &admin) != 0 || (lst = listener_open(&srv, base)) == NULL)
        goto out;
    if (srv.settings.daemonize && (daemonize() != 0 || event_reinit(base) != 0)) {
        fprintf(stderr, "meshcached: failed to daemonize: %s\n", strerror(errno));
        goto out;
    }
    if (write_pidfile(srv.settings.pidfile) != 0 ||
        drop_privileges(srv.settings.username) != 0)
        goto out;
    if (worker_start_all(&srv) != 0)
        goto out;
    maint = maint_start(&srv);
    if (maint == NULL) {
        fprintf(stderr, "meshcached: cannot start the maintenance thread\n");
        goto out;
    }
    /* membership: gossip, or the pinger of the static --peers (it sits
     * above the member view, which therefore cannot start it) */
    if (srv.settings.gossip)
        r = cluster_start(srv.cluster);
    else if (srv.settings.npeers > 0)
        r = pinger_new(&srv, srv.cluster, &pinger);
    else
        r = 0;
    if (r != 0) {
        fprintf(stderr, "meshcached: cannot start cluster membership\n");
        goto out;
    }
    if (view.ae != NULL && ae_start(view.ae, cluster_gossip(srv.cluster)) != 0) {
        fprintf(stderr, "meshcached: cannot start anti-entropy\n");
        goto out;
    }
    /* after the workers: its internal connection is served by one */
    if (admin_run(admin, srv.settings.daemonize) != 0)
        goto out;
    if (__atomic_load_n(&srv.verbose, __ATOMIC_RELAXED) > 0)
        fprintf(stderr, "meshcached listening on %s:%d with %d threads, %llu MB\n",
                srv.settings.listen_addr, srv.settings.port, srv.settings.num_threads,
                (unsigned long long)(srv.settings.maxbytes >> 20));
    event_base_dispatch(base);
    /* A second signal during shutdown must not kill us half way (freeing
     * the events restores the default action, so ignore after that). */
    event_free(sigterm);
    event_free(sigint);
    event_free(sigusr1);
    sigterm = sigint = sigusr1 = NULL;
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    if (__atomic_load_n(&srv.verbose, __ATOMIC_RELAXED) > 0) /* `verbosity` sets it */
        fprintf(stderr, "meshcached: shutting down\n");
    cluster_leave(srv.cluster); /* the others drop us now, not after suspicion */
    rc = EXIT_SUCCESS;

out:
    admin_stop(admin); /* before the workers: its connection is one's */
    listener_close(lst);
    if (srv.workers != NULL)
        worker_stop_all(&srv);
    maint_stop(maint);
    pinger_free(pinger); /* it reports to the cluster: first */
    /* leaving on a signal: hand off, now that no worker writes (the
     * others dropped this node from their rings at cluster_leave()) */
    if (rc == EXIT_SUCCESS)
        ae_leave(view.ae, srv.settings.handoff_timeout_ms);
    /* after the threads that change the store, before gossip's port */
    ae_stop(view.ae);
    hot_free(srv.hot); /* no worker is left to use it */
    cluster_free(srv.cluster);
    /* once gossip's transport closed: no answer to one of its asks can
     * come any more */
    ae_free(view.ae);
    view.ae = NULL;
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    if (sigusr1 != NULL)
        event_free(sigusr1);
    if (base != NULL)
        event_base_free(base);
    store_destroy(srv.store);
    tls_fini(); /* after the workers and their connections */
    authfile_free(srv.auth);
    prefix_free(srv.prefix);
    logger_free(srv.logger); /* after the workers and the store: no more lines */
    if (srv.settings.pidfile[0] != '\0' && rc == EXIT_SUCCESS)
        unlink(srv.settings.pidfile);
    libevent_global_shutdown();
    return rc;
}
