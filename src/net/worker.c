/*
 * worker: threads with their own event loop, fed new sockets by the listener
 * through a queue and a pipe (one byte per message: 'c' connection, 'q' quit,
 * 'w' wake).
 */
#include "net/worker.h"
#include "net/conn.h"
#include "net/sendq.h"
#include "cluster/proxy.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fd_node {
    int fd;
    bool internal; /* worker_dispatch()'s */
    struct fd_node *next;
};

struct worker {
    struct server *srv;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct event *notify_ev;
    int notify[2];          /* pipe: [0] read by the worker, [1] written by others */
    pthread_mutex_t q_lock; /* protects q_head/q_tail; a leaf lock */
    struct fd_node *q_head, *q_tail;
    struct conn_list conns; /* owned connections (conn.c keeps the list) */
    struct thread_stats stats;
};

static unsigned next_worker; /* atomic: the listener and the admin thread hand out */

static int pop_fd(struct worker *w, bool *internal)
{
    struct fd_node *n;
    int fd = -1;

    pthread_mutex_lock(&w->q_lock);
    n = w->q_head;
    if (n != NULL) {
        w->q_head = n->next;
        if (w->q_head == NULL)
            w->q_tail = NULL;
    }
    pthread_mutex_unlock(&w->q_lock);
    if (n != NULL) {
        fd = n->fd;
        if (internal != NULL)
            *internal = n->internal;
        free(n);
    }
    return fd;
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    char msgs[64];
    ssize_t n;

    (void)what;
    n = read(fd, msgs, sizeof(msgs));
    for (ssize_t i = 0; i < n; i++) {
        if (msgs[i] == 'q') {
            event_base_loopbreak(w->base);
        } else if (msgs[i] == 'w') {
            continue; /* worker_wake(): the loop ran, which was the point */
        } else {
            bool internal = false;
            int cfd = pop_fd(w, &internal);
            if (cfd >= 0)
                conn_new(&w->conns, cfd, internal);
        }
    }
}

/* The epoll instance of the worker's event loop: the one whose watch list
 * (/proc/self/fdinfo) holds the worker's pipe. libevent does not give it
 * out. -1 when it cannot be found (no /proc, another backend). */
static int loop_epoll_fd(const struct worker *w)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;
    int found = -1;

    if (dir == NULL)
        return -1;
    while (found < 0 && (de = readdir(dir)) != NULL) {
        char path[300], target[64], line[256];
        ssize_t n;
        FILE *f;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", de->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            int tfd;
            if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == w->notify[0]) {
                found = atoi(de->d_name);
                break;
            }
        }
        fclose(f);
    }
    closedir(dir);
    return found;
}

static void send_msg(struct worker *w, char m);

/* Wakes the worker's ring loop (conn_list_loop), from any thread. */
static void worker_wake(void *arg)
{
    send_msg(arg, 'w');
}

/* Whether the worker can wait in its ring (conn_list_loop) rather than in
 * libevent: only when libevent has no timers to run on it, as the ring
 * cannot know when they are due (no forwarding, whose peers have timers,
 * and no idle timeout). */
static bool ring_loop_possible(const struct worker *w)
{
    return w->srv->settings.io_uring && w->conns.px == NULL &&
           w->srv->settings.idle_timeout == 0;
}

/* The loop in the ring: each pass is one system call that sends the
 * pass's replies and waits for the next input (conn_list_wait); libevent
 * runs, without waiting, when its epoll fd is readable (new connections
 * from the pipe, sockets waiting to write, other threads' wake-ups) or
 * when events were made active (a yield, a forwarded reply). */
static void ring_loop(struct worker *w)
{
    bool ready = false;

    for (;;) {
        bool active = event_base_get_num_events(w->base, EVENT_BASE_COUNT_ACTIVE) > 0;

        if (ready || active) {
            event_base_loop(w->base, EVLOOP_NONBLOCK);
            if (event_base_got_break(w->base) || event_base_got_exit(w->base))
                return;
            if (ready)
                conn_list_watch(&w->conns);
            active = event_base_get_num_events(w->base, EVENT_BASE_COUNT_ACTIVE) > 0;
        }
        ready = conn_list_wait(&w->conns, !active); /* no sleep with events to run */
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int epfd;

    pthread_setname_np(pthread_self(), "mc-worker");
    if (ring_loop_possible(w) && (epfd = loop_epoll_fd(w)) >= 0 &&
        conn_list_loop(&w->conns, epfd, worker_wake, w)) {
        __atomic_fetch_add(&w->srv->uring_loop_workers, 1, __ATOMIC_RELAXED);
        ring_loop(w);
    } else {
        /* One iteration at a time, so that the replies it produced go
         * out together after its callbacks (conn_list_flush). */
        while (event_base_loop(w->base, EVLOOP_ONCE) == 0) {
            conn_list_flush(&w->conns);
            if (event_base_got_break(w->base) || event_base_got_exit(w->base))
                break;
        }
    }
    conn_free_all(&w->conns);
    /* after the connections: it answers their orphaned forwarded requests */
    proxy_free(w->conns.px);
    w->conns.px = NULL;
    return NULL;
}

static void worker_free(struct worker *w)
{
    int fd;

    if (w == NULL)
        return;
    while ((fd = pop_fd(w, NULL)) >= 0)
        conn_drop_fd(fd);
    proxy_free(w->conns.px);
    sendq_free(w->conns.sq); /* a worker that never ran: conn_free_all() did not */
    if (w->notify_ev != NULL)
        event_free(w->notify_ev);
    if (w->base != NULL)
        event_base_free(w->base);
    if (w->notify[0] >= 0)
        close(w->notify[0]);
    if (w->notify[1] >= 0)
        close(w->notify[1]);
    pthread_mutex_destroy(&w->q_lock);
    free(w);
}

static struct worker *worker_new(struct server *srv)
{
    struct worker *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->srv = srv;
    w->notify[0] = w->notify[1] = -1;
    pthread_mutex_init(&w->q_lock, NULL);
    if (pipe2(w->notify, O_NONBLOCK | O_CLOEXEC) != 0)
        goto fail;
    w->base = event_base_new();
    if (w->base == NULL)
        goto fail;
    w->notify_ev = event_new(w->base, w->notify[0], EV_READ | EV_PERSIST, notify_cb, w);
    if (w->notify_ev == NULL || event_add(w->notify_ev, NULL) != 0)
        goto fail;
    conn_list_init(&w->conns, w->base, srv, &w->stats);
    if ((srv->settings.npeers > 0 || srv->settings.gossip) &&
        proxy_new(srv, w->base, &w->stats, &w->conns.px) != 0)
        goto fail;
    return w;

fail:
    worker_free(w);
    return NULL;
}

int worker_start_all(struct server *srv)
{
    int n = srv->settings.num_threads;

    srv->workers = calloc((size_t)n, sizeof(*srv->workers));
    if (srv->workers == NULL)
        return -1;
    srv->nworkers = 0;
    srv->thread_stats = calloc((size_t)n, sizeof(*srv->thread_stats));
    if (srv->thread_stats == NULL)
        goto fail;
    for (int i = 0; i < n; i++) {
        struct worker *w = worker_new(srv);
        if (w == NULL)
            goto fail;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            worker_free(w);
            goto fail;
        }
        w->started = true;
        srv->thread_stats[srv->nworkers] = &w->stats;
        srv->workers[srv->nworkers++] = w;
    }
    return 0;

fail:
    fprintf(stderr, "meshcached: cannot start worker threads: %s\n", strerror(errno));
    worker_stop_all(srv);
    return -1;
}

static void send_msg(struct worker *w, char m)
{
    /* The pipe holds 64 KiB of one-byte messages; if it is ever full the
     * worker is far behind and the message is retried. */
    while (write(w->notify[1], &m, 1) != 1 && (errno == EINTR || errno == EAGAIN))
        ;
}

void worker_dispatch(struct server *srv, int fd, bool internal)
{
    unsigned i = __atomic_fetch_add(&next_worker, 1, __ATOMIC_RELAXED);
    struct worker *w = srv->workers[i % (unsigned)srv->nworkers];
    struct fd_node *n = malloc(sizeof(*n));

    if (n == NULL) {
        conn_drop_fd(fd);
        return;
    }
    n->fd = fd;
    n->internal = internal;
    n->next = NULL;
    pthread_mutex_lock(&w->q_lock);
    if (w->q_tail != NULL)
        w->q_tail->next = n;
    else
        w->q_head = n;
    w->q_tail = n;
    pthread_mutex_unlock(&w->q_lock);
    send_msg(w, 'c');
}

void worker_stop_all(struct server *srv)
{
    for (int i = 0; i < srv->nworkers; i++)
        send_msg(srv->workers[i], 'q');
    /* all stopped before any is freed: a worker still running may sum the
     * others' counters (stats) */
    for (int i = 0; i < srv->nworkers; i++)
        if (srv->workers[i]->started)
            pthread_join(srv->workers[i]->thread, NULL);
    for (int i = 0; i < srv->nworkers; i++)
        worker_free(srv->workers[i]);
    free(srv->workers);
    srv->workers = NULL;
    free(srv->thread_stats);
    srv->thread_stats = NULL;
    srv->nworkers = 0;
}
