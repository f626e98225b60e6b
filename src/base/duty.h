/*
 * duty: keeps a background thread's share of a busy CPU small.
 *
 * Anti-entropy and handoff must not slow client traffic down, but a fixed
 * rate is either too slow on an idle machine or too much on a saturated
 * one. The kernel says which is the case: a thread that is ready to run
 * but waits for a CPU (the run-queue wait in /proc/thread-self/schedstat)
 * shares that CPU with busier threads. After each piece of work the thread
 * asks how long to rest: nothing while it did not wait for the CPU, and
 * while it did, long enough that its CPU time stays below a share of the
 * time that passes (busy_pct).
 *
 * Within a piece of work, the thread gives way (duty_breathe()): the
 * scheduler lets a thread that was picked run for a slice of a few
 * milliseconds before a waking worker may preempt it, and a request that
 * waits that long behind a background thread is the tail of the latency.
 *
 * Threads: a struct duty belongs to the thread that called duty_init() and
 * measures that thread only. No locks.
 */
#ifndef MESHCACHED_DUTY_H
#define MESHCACHED_DUTY_H

#include <stdint.h>

struct duty {
    int fd;            /* /proc/thread-self/schedstat, or -1: never rests */
    unsigned busy_pct; /* the share of a contended CPU the thread may use */
    uint64_t cpu_ns;   /* the thread's CPU time at the last sample */
    uint64_t wait_ns;  /* its run-queue wait at the last sample */
    uint64_t gave_ns;  /* CLOCK_MONOTONIC when it last gave way */
};

/* How long a thread runs before duty_breathe() gives way. */
#define DUTY_SLICE_NS 100000

/* Starts measuring the calling thread. Without schedstat (an old or
 * restricted kernel) the thread is never told to rest. busy_pct is from 1
 * to 100 (100: never rests). */
void duty_init(struct duty *d, unsigned busy_pct);

/* Closes what duty_init() opened. */
void duty_fini(struct duty *d);

/* The nanoseconds to rest after the work done since the last call. */
uint64_t duty_rest_ns(struct duty *d);

/* Between two small steps of a piece of work (holding no lock): once
 * DUTY_SLICE_NS passed since the thread last gave way, it yields the CPU
 * to any thread ready to run (at once, with none). */
void duty_breathe(struct duty *d);

/* The pure rule: after cpu_ns of work during which the thread waited
 * wait_ns for a CPU, the rest that keeps it at busy_pct of the CPU when it
 * waited a quarter of its running time or more; otherwise 0. */
uint64_t duty_rest_for(uint64_t cpu_ns, uint64_t wait_ns, unsigned busy_pct);

#endif
