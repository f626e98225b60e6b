/*
 * reach: nonblocking TCP connects polled to completion; the connection is
 * closed as soon as it is made (nothing is sent).
 */
#include "cluster/reach.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct check {
    int fd;
    uint64_t deadline;
    reach_done_fn done;
    void *arg;
};

struct reach {
    struct check *c;
    size_t n, cap;
};

int reach_new(struct reach **out)
{
    struct reach *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return -ENOMEM;
    *out = r;
    return 0;
}

/* Ends check i with status and closes its socket (with a reset: the peer
 * need not keep anything of it). */
static void finish(struct reach *r, size_t i, int status)
{
    struct check c = r->c[i];
    struct linger abort_now = {.l_onoff = 1, .l_linger = 0};

    r->c[i] = r->c[--r->n];
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof(abort_now));
    close(c.fd);
    c.done(c.arg, status);
}

void reach_free(struct reach *r)
{
    if (r == NULL)
        return;
    while (r->n > 0)
        finish(r, r->n - 1, -ECANCELED);
    free(r->c);
    free(r);
}

/* Splits "host:port" or "[host]:port" and resolves it, numerically only. */
static int resolve(const char *addr, struct sockaddr_storage *sa, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(addr, ':'), *h = addr;
    size_t hl;
    struct addrinfo hints, *res = NULL;

    if (colon == NULL || colon[1] == '\0')
        return -EINVAL;
    hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        h = addr + 1;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
        return -EINVAL;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int reach_start(struct reach *r, const char *addr, uint64_t now, uint32_t timeout_ms,
                reach_done_fn done, void *arg)
{
    struct sockaddr_storage sa;
    socklen_t len;
    int fd, rc = resolve(addr, &sa, &len);

    if (rc != 0)
        return rc;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 8;
        struct check *nc = realloc(r->c, ncap * sizeof(*nc));
        if (nc == NULL)
            return -ENOMEM;
        r->c = nc;
        r->cap = ncap;
    }
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* An immediate result (loopback refuses at once) is still reported by
     * reach_poll(): poll sees the socket's error. */
    (void)connect(fd, (struct sockaddr *)&sa, len);
    r->c[r->n++] =
        (struct check){.fd = fd, .deadline = now + timeout_ms, .done = done, .arg = arg};
    return 0;
}

size_t reach_poll(struct reach *r, uint64_t now)
{
    struct pollfd pfd[64];
    size_t base = 0;

    while (base < r->n) {
        size_t m = r->n - base < 64 ? r->n - base : 64;
        bool ended = false;

        for (size_t i = 0; i < m; i++)
            pfd[i] = (struct pollfd){.fd = r->c[base + i].fd, .events = POLLOUT};
        if (poll(pfd, (nfds_t)m, 0) < 0)
            m = 0;
        /* backwards: finish() moves the last check into the freed place */
        for (size_t i = m; i-- > 0;) {
            size_t at = base + i;
            int err = 0;
            socklen_t el = sizeof(err);
            if (pfd[i].revents != 0) {
                if (getsockopt(r->c[at].fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
                    err = errno;
                finish(r, at, -err);
                ended = true;
            } else if (now >= r->c[at].deadline) {
                finish(r, at, -ETIMEDOUT);
                ended = true;
            }
        }
        if (!ended)
            base += m;
    }
    return r->n;
}
