/* logger: watchers' bounded queues of event lines, behind one mutex. */
#include "base/logger.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define LINE_MAX_BYTES 1536 /* a line with a URI-encoded 250-byte key fits */

struct logger_watcher {
    struct logger *lg;
    struct logger_watcher *next;
    unsigned mask;
    struct buf q;     /* lines not yet taken */
    uint64_t skipped; /* lines dropped since the last take */
    void (*wake)(void *arg);
    void *arg;
};

struct logger {
    pthread_mutex_t lock;
    unsigned mask; /* atomic: the union of the watchers' masks */
    uint64_t gid;  /* under lock: the last event's id */
    struct logger_watcher *watchers;
    struct logger_stats st; /* under lock */
};

int logger_new(struct logger **out)
{
    struct logger *lg = calloc(1, sizeof(*lg));

    if (lg == NULL)
        return -1;
    pthread_mutex_init(&lg->lock, NULL);
    *out = lg;
    return 0;
}

void logger_free(struct logger *lg)
{
    if (lg == NULL)
        return;
    pthread_mutex_destroy(&lg->lock);
    free(lg);
}

bool logger_wants(const struct logger *lg, unsigned mask)
{
    return lg != NULL && (__atomic_load_n(&lg->mask, __ATOMIC_RELAXED) & mask) != 0;
}

/* Recomputes the union of the masks; under lock. */
static void update_mask(struct logger *lg)
{
    unsigned m = 0;

    for (struct logger_watcher *w = lg->watchers; w != NULL; w = w->next)
        m |= w->mask;
    __atomic_store_n(&lg->mask, m, __ATOMIC_RELAXED);
}

void logger_log(struct logger *lg, unsigned type, const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    struct timeval tv;
    va_list ap;
    int head, n;

    if (!logger_wants(lg, type))
        return;
    gettimeofday(&tv, NULL);
    pthread_mutex_lock(&lg->lock);
    head = snprintf(line, sizeof(line), "ts=%ld.%06ld gid=%llu ", (long)tv.tv_sec,
                    (long)tv.tv_usec, (unsigned long long)++lg->gid);
    va_start(ap, fmt);
    n = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    n += head;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2; /* cut, but still one line */
    line[n++] = '\n';
    for (struct logger_watcher *w = lg->watchers; w != NULL; w = w->next) {
        if (!(w->mask & type))
            continue;
        if (buf_pending(&w->q) + (size_t)n > LOGGER_QUEUE_MAX) {
            w->skipped++;
            lg->st.dropped++;
            continue;
        }
        bool was_empty = buf_pending(&w->q) == 0 && w->skipped == 0;
        buf_append(&w->q, line, (size_t)n);
        lg->st.written++;
        if (was_empty)
            w->wake(w->arg);
    }
    pthread_mutex_unlock(&lg->lock);
}

struct logger_watcher *logger_watch(struct logger *lg, unsigned mask,
                                    void (*wake)(void *arg), void *arg)
{
    struct logger_watcher *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->lg = lg;
    w->mask = mask;
    w->wake = wake;
    w->arg = arg;
    buf_init(&w->q);
    pthread_mutex_lock(&lg->lock);
    w->next = lg->watchers;
    lg->watchers = w;
    lg->st.watchers++;
    update_mask(lg);
    pthread_mutex_unlock(&lg->lock);
    return w;
}

size_t logger_take(struct logger_watcher *w, struct buf *out)
{
    struct logger *lg = w->lg;
    size_t n;

    pthread_mutex_lock(&lg->lock);
    if (w->skipped > 0) {
        /* memcached tells a slow watcher what it missed the same way */
        char line[64];
        int len = snprintf(line, sizeof(line), "skipped=%llu\n",
                           (unsigned long long)w->skipped);
        buf_append(out, line, (size_t)len);
        lg->st.skipped += w->skipped;
        w->skipped = 0;
    }
    n = buf_pending(&w->q);
    buf_append(out, w->q.data + w->q.off, n);
    for (size_t i = 0; i < n; i++)
        lg->st.sent += w->q.data[w->q.off + i] == '\n';
    buf_reset(&w->q);
    pthread_mutex_unlock(&lg->lock);
    return n;
}

void logger_unwatch(struct logger_watcher *w)
{
    struct logger *lg;

    if (w == NULL)
        return;
    lg = w->lg;
    pthread_mutex_lock(&lg->lock);
    for (struct logger_watcher **pp = &lg->watchers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    lg->st.watchers--;
    update_mask(lg);
    pthread_mutex_unlock(&lg->lock);
    buf_free(&w->q);
    free(w);
}

void logger_get_stats(struct logger *lg, struct logger_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (lg == NULL)
        return;
    pthread_mutex_lock(&lg->lock);
    *out = lg->st;
    pthread_mutex_unlock(&lg->lock);
}
