/*
 * duty: a background thread's CPU share under contention, from the
 * kernel's per-thread scheduler statistics (see duty.h).
 */
#include "base/duty.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads "<cpu ns> <run-queue wait ns> <timeslices>". Returns 0 or -1. */
static int sample(int fd, uint64_t *cpu_ns, uint64_t *wait_ns)
{
    char line[96];
    ssize_t n;

    if (fd < 0)
        return -1;
    n = pread(fd, line, sizeof(line) - 1, 0);
    if (n <= 0)
        return -1;
    line[n] = '\0';
    return sscanf(line, "%" SCNu64 " %" SCNu64, cpu_ns, wait_ns) == 2 ? 0 : -1;
}

void duty_init(struct duty *d, unsigned busy_pct)
{
    d->busy_pct = busy_pct < 1 ? 1 : busy_pct > 100 ? 100 : busy_pct;
    d->gave_ns = now_ns();
    d->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (sample(d->fd, &d->cpu_ns, &d->wait_ns) != 0)
        duty_fini(d);
}

void duty_fini(struct duty *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
}

uint64_t duty_rest_for(uint64_t cpu_ns, uint64_t wait_ns, unsigned busy_pct)
{
    if (busy_pct >= 100 || cpu_ns == 0 || wait_ns < cpu_ns / 4)
        return 0;
    if (busy_pct == 0)
        busy_pct = 1;
    if (cpu_ns / busy_pct > UINT64_MAX / (100 - busy_pct))
        return UINT64_MAX; /* a broken clock: the caller caps its rest */
    return cpu_ns / busy_pct * (100 - busy_pct);
}

uint64_t duty_rest_ns(struct duty *d)
{
    uint64_t cpu, wait, rest;

    if (sample(d->fd, &cpu, &wait) != 0 || cpu < d->cpu_ns || wait < d->wait_ns)
        return 0;
    rest = duty_rest_for(cpu - d->cpu_ns, wait - d->wait_ns, d->busy_pct);
    d->cpu_ns = cpu;
    d->wait_ns = wait;
    return rest;
}

void duty_breathe(struct duty *d)
{
    uint64_t now = now_ns();

    if (now - d->gave_ns < DUTY_SLICE_NS)
        return;
    sched_yield();
    d->gave_ns = now_ns();
}
