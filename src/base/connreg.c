/* connreg: every socket of the daemon, listed for `stats conns`. */
#include "base/connreg.h"
#include "base/stats.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct connreg_entry *head; /* under lock */
static size_t count;               /* under lock */

void connreg_format_addr(const void *sockaddr, char *dst)
{
    const struct sockaddr *sa = sockaddr;
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = sockaddr;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(dst, CONNREG_ADDR_MAX, "tcp:[%s]:%u", ip, ntohs(s6->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = sockaddr;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(dst, CONNREG_ADDR_MAX, "tcp:%s:%u", ip, ntohs(s4->sin_port));
    } else {
        snprintf(dst, CONNREG_ADDR_MAX, "unknown");
    }
}

/* "tcp:<address>" of fd's own end (getsockname). */
static void local_name(int fd, char *dst)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        ss.ss_family = AF_UNSPEC;
    connreg_format_addr(&ss, dst);
}

void connreg_peer_name(const struct connreg_entry *e, char *dst)
{
    connreg_format_addr(&e->peer, dst);
}

void connreg_add(struct connreg_entry *e, int fd, bool listening, const char *state)
{
    socklen_t len = sizeof(e->peer);

    e->fd = fd;
    e->listening = listening;
    if (listening || getpeername(fd, &e->peer.sa, &len) != 0)
        e->peer.sa.sa_family = AF_UNSPEC;
    e->state = state;
    e->last_cmd = mctime_now();
    pthread_mutex_lock(&lock);
    e->prev = NULL;
    e->next = head;
    if (head != NULL)
        head->prev = e;
    head = e;
    count++;
    pthread_mutex_unlock(&lock);
}

void connreg_remove(struct connreg_entry *e)
{
    pthread_mutex_lock(&lock);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    count--;
    pthread_mutex_unlock(&lock);
}

static int by_fd(const void *a, const void *b)
{
    const struct connreg_entry *x = *(struct connreg_entry *const *)a;
    const struct connreg_entry *y = *(struct connreg_entry *const *)b;

    return (x->fd > y->fd) - (x->fd < y->fd);
}

void connreg_dump(struct buf *out, rel_time_t now)
{
    struct connreg_entry **all;
    size_t n = 0;

    pthread_mutex_lock(&lock);
    all = malloc((count + 1) * sizeof(*all));
    if (all == NULL) {
        pthread_mutex_unlock(&lock);
        out->oom = true; /* the connection closes rather than answer in part */
        return;
    }
    for (struct connreg_entry *e = head; e != NULL; e = e->next)
        all[n++] = e;
    qsort(all, n, sizeof(*all), by_fd);
    for (size_t i = 0; i < n; i++) {
        const struct connreg_entry *e = all[i];
        char name[32], addr[CONNREG_ADDR_MAX];
        rel_time_t last = __atomic_load_n(&e->last_cmd, __ATOMIC_RELAXED);

        /* the entry is in the list, so its socket is open: asking it
         * for its address is safe under the lock */
        if (e->listening)
            local_name(e->fd, addr);
        else
            connreg_peer_name(e, addr);
        snprintf(name, sizeof(name), "%d:addr", e->fd);
        stats_line(out, name, "%s", addr);
        if (!e->listening) {
            local_name(e->fd, addr);
            snprintf(name, sizeof(name), "%d:listen_addr", e->fd);
            stats_line(out, name, "%s", addr);
        }
        snprintf(name, sizeof(name), "%d:state", e->fd);
        stats_line(out, name, "%s", __atomic_load_n(&e->state, __ATOMIC_RELAXED));
        snprintf(name, sizeof(name), "%d:secs_since_last_cmd", e->fd);
        stats_line(out, name, "%u", now >= last ? now - last : 0);
    }
    pthread_mutex_unlock(&lock);
    free(all);
}
