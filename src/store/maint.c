/* maint: clock ticks and the expiry sampler, off the request path. */
#include "store/maint.h"
#include "base/mctime.h"
#include "store/store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define TICK_MS          100
#define SAMPLE_BUDGET_US 2000 /* at most 2% of one core per tick */

struct maint {
    struct server *srv;
    pthread_t thread;
    pthread_mutex_t lock; /* protects stop */
    pthread_cond_t cond;
    bool stop;
};

static void *maint_main(void *arg)
{
    struct maint *m = arg;
    struct timespec deadline;

    pthread_setname_np(pthread_self(), "mc-maint");
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        pthread_mutex_unlock(&m->lock);
        mctime_tick();
        store_sample_expired(m->srv->store, SAMPLE_BUDGET_US);
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += TICK_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&m->lock);
        while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == 0)
            ;
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

struct maint *maint_start(struct server *srv)
{
    struct maint *m = calloc(1, sizeof(*m));
    pthread_condattr_t attr;

    if (m == NULL)
        return NULL;
    m->srv = srv;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&m->thread, NULL, maint_main, m) != 0) {
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
    }
    return m;
}

void maint_stop(struct maint *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
