/* mctime: one clock read per tick instead of a syscall per request. */
#include "base/mctime.h"

static time_t started;
static rel_time_t now_rel;

void mctime_init(void)
{
    /* Start the epoch a couple of seconds in the past so that the smallest
     * live rel_time_t is well above 1 ("already expired"). */
    started = time(NULL) - 2;
    __atomic_store_n(&now_rel, (rel_time_t)2, __ATOMIC_RELAXED);
}

void mctime_tick(void)
{
    time_t t = time(NULL);
    rel_time_t r = t > started ? (rel_time_t)(t - started) : 2;
    /* The server clock never runs backwards, even if the wall clock does. */
    if (r > __atomic_load_n(&now_rel, __ATOMIC_RELAXED))
        __atomic_store_n(&now_rel, r, __ATOMIC_RELAXED);
}

rel_time_t mctime_now(void)
{
    return __atomic_load_n(&now_rel, __ATOMIC_RELAXED);
}

time_t mctime_started(void)
{
    return started;
}

rel_time_t mctime_from_exptime(int64_t exptime, rel_time_t now, time_t start)
{
    if (exptime == 0)
        return 0;
    if (exptime < 0)
        return 1;
    if (exptime > MCTIME_MAX_DELTA) {
        if (exptime <= (int64_t)start)
            return 1;
        if (exptime - start > UINT32_MAX)
            return UINT32_MAX;
        return (rel_time_t)(exptime - start);
    }
    return (rel_time_t)(exptime + now);
}

rel_time_t mctime_realtime(int64_t exptime)
{
    return mctime_from_exptime(exptime, mctime_now(), started);
}

time_t mctime_to_unix(rel_time_t t)
{
    return started + (time_t)t;
}

uint64_t mctime_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t mctime_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void mctime_deadline(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}
