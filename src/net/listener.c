/* listener: non-blocking accept, with a pause when out of descriptors. */
#include "net/listener.h"
#include "base/connreg.h"
#include "net/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTEN 16

struct listener {
    struct server *srv;
    struct event_base *base;
    int nfds;
    int fds[MAX_LISTEN];
    struct event *evs[MAX_LISTEN];
    struct connreg_entry reg[MAX_LISTEN]; /* for stats conns */
    struct event *resume;                 /* re-enables accepting after EMFILE */
};

static void reject(int fd)
{
    static const char msg[] = "ERROR Too many open connections\r\n";
    ssize_t n;

    /* counted before the client can see the answer (and ask for stats) */
    __atomic_fetch_add(&conn_stats.rejected_connections, 1, __ATOMIC_RELAXED);
    n = write(fd, msg, sizeof(msg) - 1);
    (void)n;
    close(fd);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct listener *l = arg;

    (void)fd;
    (void)what;
    for (int i = 0; i < l->nfds; i++)
        event_add(l->evs[i], NULL);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct listener *l = arg;
    struct server *srv = l->srv;

    (void)what;
    for (int n = 0; n < 64; n++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: stop accepting briefly instead of
                 * spinning on a socket that stays readable. */
                struct timeval tv = {0, 100000};
                if (srv->verbose > 0)
                    fprintf(stderr, "Too many open connections\n");
                for (int i = 0; i < l->nfds; i++)
                    event_del(l->evs[i]);
                event_add(l->resume, &tv);
            }
            return;
        }
        /* Count the connection here, not when its worker gets to it, so
         * that a burst of accepts cannot overshoot -c. */
        if (__atomic_add_fetch(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED) >
            (uint64_t)srv->settings.maxconns) {
            __atomic_fetch_sub(&conn_stats.curr_connections, 1, __ATOMIC_RELAXED);
            reject(fd);
            continue;
        }
        worker_dispatch(srv, fd, false);
    }
}

/* Splits memcached's "host:port" and "[v6]:port" forms; a bare host (or
 * bare IPv6 address) keeps the -p port. */
static void split_host_port(char *spec, const char **host, char *port, size_t cap,
                            int dflt)
{
    char *colon = strrchr(spec, ':');

    snprintf(port, cap, "%d", dflt);
    *host = spec;
    if (spec[0] == '[') {
        char *close = strchr(spec, ']');
        if (close != NULL) {
            *close = '\0';
            *host = spec + 1;
            if (close[1] == ':')
                snprintf(port, cap, "%s", close + 2);
        }
    } else if (colon != NULL && strchr(spec, ':') == colon) {
        *colon = '\0';
        snprintf(port, cap, "%s", colon + 1);
    }
}

static int bind_one(struct listener *l, char *spec)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res, *ai;
    const char *host;
    char port[16];
    int err, bound = 0;

    split_host_port(spec, &host, port, sizeof(port), l->srv->settings.port);
    err = getaddrinfo(host, port, &hints, &res);
    if (err != 0) {
        fprintf(stderr, "meshcached: cannot resolve listen address '%s': %s\n", host,
                gai_strerror(err));
        return -1;
    }
    for (ai = res; ai != NULL && l->nfds < MAX_LISTEN; ai = ai->ai_next) {
        int one = 1;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
            listen(fd, l->srv->settings.backlog) != 0) {
            fprintf(stderr, "meshcached: failed to listen on %s port %s: %s\n", host,
                    port, strerror(errno));
            close(fd);
            freeaddrinfo(res);
            return -1;
        }
        l->fds[l->nfds] = fd;
        l->evs[l->nfds] = event_new(l->base, fd, EV_READ | EV_PERSIST, accept_cb, l);
        if (l->evs[l->nfds] == NULL || event_add(l->evs[l->nfds], NULL) != 0) {
            close(fd);
            freeaddrinfo(res);
            return -1;
        }
        connreg_add(&l->reg[l->nfds], fd, true, "conn_listening");
        l->nfds++;
        bound++;
    }
    freeaddrinfo(res);
    return bound > 0 ? 0 : -1;
}

struct listener *listener_open(struct server *srv, struct event_base *base)
{
    struct listener *l = calloc(1, sizeof(*l));
    char list[sizeof(srv->settings.listen_addr)], *save = NULL;

    if (l == NULL)
        return NULL;
    l->srv = srv;
    l->base = base;
    l->resume = evtimer_new(base, resume_cb, l);
    if (l->resume == NULL)
        goto fail;
    memcpy(list, srv->settings.listen_addr, sizeof(list));
    for (char *h = strtok_r(list, ",", &save); h != NULL;
         h = strtok_r(NULL, ",", &save)) {
        if (bind_one(l, h) != 0)
            goto fail;
    }
    srv->nlisteners = l->nfds;
    return l;

fail:
    listener_close(l);
    return NULL;
}

void listener_close(struct listener *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < l->nfds; i++) {
        connreg_remove(&l->reg[i]);
        event_free(l->evs[i]);
        close(l->fds[i]);
    }
    if (l->resume != NULL)
        event_free(l->resume);
    free(l);
}
