/*
 * bench: what the parts of meshcached-bench share: the run's settings
 * (parsed once by bench.c, read-only afterwards), the counters each worker
 * thread keeps, and the rendezvous between the main thread and the workers.
 *
 * Threads: main parses options, starts the workers (load.c) and meets them
 * at a barrier after connecting, after the prefill and before the measured
 * run; it reads a worker's counters only after joining it.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hist.h"
#include "zipf.h"

struct bench_server {
    char *name;                   /* as given: host:port */
    struct sockaddr_storage addr; /* resolved once, before the threads start */
    socklen_t addrlen;
};

struct bench_config {
    struct bench_server *servers; /* connection g goes to servers[g % nservers] */
    int nservers;
    int threads;         /* worker threads, each with its own event_base */
    int conns;           /* connections per thread */
    int pipeline;        /* requests outstanding per connection */
    unsigned get_weight; /* --ratio G:S */
    unsigned set_weight;
    uint64_t keys; /* key space: prefix + 0 .. keys-1 */
    const char *key_prefix;
    size_t prefix_len;
    bool zipf; /* else uniform */
    double zipf_skew;
    struct zipf zipf_state; /* shared, read-only */
    uint32_t value_min;     /* value sizes, uniform in [min, max] */
    uint32_t value_max;
    int multiget;      /* keys per get */
    double duration;   /* measured seconds; 0 = until --requests */
    uint64_t requests; /* measured requests; 0 = until --duration */
    double warmup;     /* seconds of unmeasured load first */
    double timeout;    /* seconds a connect or a reply may take */
    bool prefill;
    bool set_on_miss; /* a missed key is set next (cache-aside) */
    double rate;      /* requests/s over all threads (open loop); 0 = as fast as
                       * replies allow (closed loop) */
    bool json;
    uint64_t seed;
    const char *value; /* value_max bytes sent as every value */
};

/* The phases a request can belong to; each has its own counters. */
enum bench_phase { PHASE_PREFILL, PHASE_WARMUP, PHASE_MEASURE, PHASE_COUNT };

/* Kinds of errors, in the order they are reported. */
enum bench_err {
    ERR_SERVER,     /* SERVER_ERROR ... */
    ERR_CLIENT,     /* CLIENT_ERROR ... */
    ERR_ERROR,      /* ERROR */
    ERR_UNEXPECTED, /* any other reply the request does not allow */
    ERR_LOST,       /* no reply: connection closed, failed or timed out */
    ERR_COUNT
};

extern const char *const bench_err_names[ERR_COUNT];

struct bench_counters {
    uint64_t requests;       /* requests answered or lost */
    uint64_t gets;           /* get requests */
    uint64_t get_keys;       /* keys asked for by them (multiget W each) */
    uint64_t hits;           /* keys answered with VALUE */
    uint64_t misses;         /* keys of a complete get reply without VALUE */
    uint64_t sets;           /* set requests */
    uint64_t errors;         /* requests that got an error or no reply */
    uint64_t err[ERR_COUNT]; /* errors by kind */
};

/* Adds src into dst. */
void bench_counters_add(struct bench_counters *dst, const struct bench_counters *src);

/* What one worker thread hands back. */
struct bench_result {
    struct bench_counters ctr[PHASE_COUNT];
    struct hist hist;      /* latency of measured requests, ns */
    uint64_t t_end;        /* monotonic ns when the worker's last measured reply came */
    int conns_lost;        /* connections that failed during the run */
    char first_error[200]; /* the first error this worker saw, for the report */
};

/* The rendezvous between main and the workers. */
struct bench_run {
    const struct bench_config *cfg;
    pthread_barrier_t barrier; /* threads + 1 (main) */
    atomic_int failed;         /* set when a worker could not connect */
    uint64_t t_start;          /* monotonic ns: warmup (or measurement) starts;
                                * written by main between two barriers */
};

/* Set by SIGINT/SIGTERM: stop sending, drain and report. */
extern volatile sig_atomic_t bench_interrupted;

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);

#endif
