/*
 * load: one worker thread of meshcached-bench: its own event_base, its own
 * connections, each keeping up to --pipeline requests outstanding and
 * parsing the replies incrementally, and its own counters and latency
 * histogram.
 *
 * A worker touches nothing shared but the read-only config and the
 * struct bench_run rendezvous; main reads w->res only after joining it.
 */
#ifndef BENCH_LOAD_H
#define BENCH_LOAD_H

#include "bench.h"

struct worker {
    int id; /* 0 .. threads-1 */
    pthread_t thread;
    struct bench_run *run;
    struct bench_result res; /* filled by the thread; hist_init()ed by it */
};

/* Thread body; arg is a struct worker *. Connects the worker's
 * connections, then meets main at the three barriers of struct bench_run
 * (connected, prefill done, go), runs the warmup and the measured load and
 * returns NULL once every request it sent has been answered or lost. On a
 * connect failure it sets run->failed and w->res.first_error and still
 * meets main at the first barrier. */
void *worker_main(void *arg);

#endif
