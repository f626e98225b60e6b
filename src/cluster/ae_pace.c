/*
 * ae_pace: the anti-entropy thread's pace: its rests on a contended CPU
 * (duty.h), giving way within a piece of work, the byte rate between
 * messages, and the queue of the others' requests it answers meanwhile.
 * On the thread, but for what the lock guards.
 */
#include "cluster/ae_internal.h"
#include "base/mctime.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* The longest rest after one piece of work, well under any peer's wait. */
#define AE_REST_MAX_MS 250

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec != b->tv_sec ? a->tv_sec < b->tv_sec : a->tv_nsec < b->tv_nsec;
}

static bool ts_passed(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return !ts_before(&now, t);
}

/* After a piece of work: the rest that keeps the thread's share of a
 * contended CPU at AE_BUSY_CPU_PCT, added to a rest under way. A leaving
 * node never rests: its handoff has a deadline. */
static void rest_after_work(struct ae *ae)
{
    uint64_t ns = duty_rest_ns(&ae->duty), ms;
    struct timespec now;

    if (ns == 0 || ae->ho_leaving)
        return;
    ms = ns / 1000000 + 1;
    if (ms > AE_REST_MAX_MS)
        ms = AE_REST_MAX_MS;
    clock_gettime(CLOCK_REALTIME, &now);
    if (!ae->resting || ts_before(&ae->rest_until, &now))
        ae->rest_until = now;
    ae->rest_until.tv_sec += (time_t)(ms / 1000);
    ae->rest_until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ae->rest_until.tv_nsec >= 1000000000) {
        ae->rest_until.tv_sec++;
        ae->rest_until.tv_nsec -= 1000000000;
    }
    ae->resting = true;
}

static bool resting(struct ae *ae)
{
    if (ae->resting && ts_passed(&ae->rest_until))
        ae->resting = false;
    return ae->resting;
}

/* With the lock held: the next queued request to answer, unqueued, or
 * NULL. While the thread rests only a HANDOFF is: its sender is leaving,
 * within a deadline, and the items are otherwise lost. */
static struct served *next_queued_locked(struct ae *ae)
{
    struct served **pp = &ae->q_head, *sv, *prev = NULL;

    if (resting(ae))
        while (*pp != NULL && aemsg_peek_type((*pp)->msg, (*pp)->len) != AEMSG_HANDOFF) {
            prev = *pp;
            pp = &(*pp)->next;
        }
    if ((sv = *pp) == NULL)
        return NULL;
    *pp = sv->next;
    if (ae->q_tail == sv)
        ae->q_tail = prev;
    ae->nq--;
    return sv;
}

/* With the lock held: answers what is queued, dropping the lock for each,
 * until the thread has to rest (HANDOFFs even then). */
void ae_serve_queued_locked(struct ae *ae)
{
    struct served *sv;

    while (!ae->stop && (sv = next_queued_locked(ae)) != NULL) {
        pthread_mutex_unlock(&ae->lock);
        ae_serve_one(ae, sv);
        free(sv);
        rest_after_work(ae);
        pthread_mutex_lock(&ae->lock);
    }
}

/* With the lock held: waits for news until `until` (NULL: no end), or
 * until a rest ends while requests wait for it. */
void ae_wait_locked(struct ae *ae, const struct timespec *until)
{
    const struct timespec *t = until;

    if (ae->q_head != NULL && ae->resting && (t == NULL || ts_before(&ae->rest_until, t)))
        t = &ae->rest_until;
    if (t != NULL)
        pthread_cond_timedwait(&ae->cond, &ae->lock, t);
    else
        pthread_cond_wait(&ae->cond, &ae->lock);
}

/* Between two states read or applied: gives way to the workers now and
 * then (duty_breathe()), unless leaving, which has a deadline. */
void ae_serve_until_locked(struct ae *ae, const struct timespec *until)
{
    while (!ae->stop) {
        ae_serve_queued_locked(ae);
        if (ae->stop || ts_passed(until))
            break;
        ae_wait_locked(ae, until);
    }
}

void ae_breathe(struct ae *ae)
{
    if (!ae->ho_leaving)
        duty_breathe(&ae->duty);
}

/* Two nodes asking each other at once must not wait for each other: the
 * wait answers the others' requests. */
/* Waits until bytes moved at ae_bytes_per_sec would have taken, answering
 * the others' requests meanwhile (the answer of the last ask stays). */
void ae_pace(struct ae *ae, uint64_t bytes)
{
    struct timespec until;

    rest_after_work(ae); /* the ask, and applying its answer */
    mctime_deadline(&until, bytes * 1000 / ae->bytes_per_sec);
    if (ae->resting && ts_before(&until, &ae->rest_until))
        until = ae->rest_until;
    pthread_mutex_lock(&ae->lock);
    ae_serve_until_locked(ae, &until);
    pthread_mutex_unlock(&ae->lock);
}
