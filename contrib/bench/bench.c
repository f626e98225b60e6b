/*
 * meshcached-bench: a load generator for memcached-protocol servers. This
 * file parses the command line, starts the worker threads (load.c), and
 * merges and reports their counters as text or JSON.
 */
#include "config.h"

#include "bench.h"
#include "load.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_ERRORS     1  /* the run finished, but requests failed */
#define EXIT_CANNOT_RUN 2  /* no run: a server could not be reached, ... */
#define EXIT_USAGE      64 /* bad command line (as sysexits' EX_USAGE) */

#define DEFAULT_SERVER   "127.0.0.1:11211"
#define DEFAULT_PORT     "11211"
#define DEFAULT_DURATION 10.0
#define MAX_THREADS      256
#define MAX_CONNS        10000
#define MAX_PIPELINE     4096
#define MAX_MULTIGET     1000
#define MAX_VALUE        (64u << 20)
#define MAX_PREFIX       200
#define MAX_SECONDS      1000000.0
#define MAX_TIMEOUT      3600.0

volatile sig_atomic_t bench_interrupted;

const char *const bench_err_names[ERR_COUNT] = {
    [ERR_SERVER] = "server_error",   [ERR_CLIENT] = "client_error", [ERR_ERROR] = "error",
    [ERR_UNEXPECTED] = "unexpected", [ERR_LOST] = "lost",
};

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_counters_add(struct bench_counters *dst, const struct bench_counters *src)
{
    dst->requests += src->requests;
    dst->gets += src->gets;
    dst->get_keys += src->get_keys;
    dst->hits += src->hits;
    dst->misses += src->misses;
    dst->sets += src->sets;
    dst->errors += src->errors;
    for (int i = 0; i < ERR_COUNT; i++)
        dst->err[i] += src->err[i];
}

/* ---- command line ------------------------------------------------------ */

static const char usage_text[] =
    "Usage: meshcached-bench [option...]\n"
    "Load generator for memcached-protocol servers (meshcached, memcached).\n"
    "Each thread runs its own event loop over its connections; every\n"
    "connection keeps up to --pipeline requests in flight.\n"
    "\n"
    "-s, --server=HOST:PORT   server to load; repeat it or give a comma-separated\n"
    "                         list to spread the connections over several\n"
    "                         (default: " DEFAULT_SERVER ")\n"
    "-t, --threads=N          worker threads (default: 1, min: 1, max: 256)\n"
    "-c, --conns=N            connections per thread (default: 4, min: 1, max: 10000)\n"
    "-P, --pipeline=D         requests in flight per connection (default: 1, min: 1,\n"
    "                         max: 4096)\n"
    "-r, --ratio=G:S          gets to sets, e.g. 9:1 or 0:1 (default: 9:1)\n"
    "-k, --keys=N             key space: keys PREFIX0 to PREFIX<N-1> (default: 100000,\n"
    "                         min: 1, max: 4294967295)\n"
    "    --key-prefix=STR     prefix of every key (default: key:)\n"
    "    --dist=NAME          key popularity: uniform or zipf (default: uniform)\n"
    "    --zipf-skew=S        exponent of --dist zipf; key number k is picked with\n"
    "                         probability proportional to 1/(k+1)^S (default: 0.99,\n"
    "                         min: 0, max: 100)\n"
    "    --value-size=N|MIN-MAX  value bytes of a set, fixed or uniform in a range\n"
    "                         (default: 32, min: 0, max: 67108864)\n"
    "-m, --multiget=W         keys per get: `get k1 .. kW' (default: 1, min: 1,\n"
    "                         max: 1000)\n"
    "-d, --duration=SECONDS   measure for this long (default: 10 unless --requests\n"
    "                         is given)\n"
    "-n, --requests=N         measure this many requests, spread over the threads;\n"
    "                         with --duration too, whichever ends first\n"
    "-w, --warmup=SECONDS     run unmeasured for this long first (default: 0)\n"
    "    --prefill            before anything else, set every key once on every\n"
    "                         server\n"
    "    --set-on-miss        after a get misses a key, set that key before sending\n"
    "                         anything else (cache-aside); these sets count as\n"
    "                         requests and sets\n"
    "    --rate=N             send N requests/s in all (spread over the threads)\n"
    "                         on a fixed schedule instead of as fast as replies\n"
    "                         come; latency counts from the scheduled time, so\n"
    "                         a server that falls behind shows it (default: 0,\n"
    "                         unpaced)\n"
    "    --seed=N             seed of the random key, operation and size choices\n"
    "                         (default: 1)\n"
    "    --timeout=SECONDS    a connect or a reply taking longer is an error\n"
    "                         (default: 5)\n"
    "-j, --json               print the result as one JSON object\n"
    "-h, --help               print this help and exit\n"
    "-V, --version            print the version and exit\n"
    "\n"
    "Exit status: 0 when every request succeeded, 1 when some failed, 2 when\n"
    "the run could not start, 64 on a bad command line.\n";

enum long_only {
    OPT_KEY_PREFIX = 256,
    OPT_DIST,
    OPT_ZIPF_SKEW,
    OPT_VALUE_SIZE,
    OPT_PREFILL,
    OPT_SET_ON_MISS,
    OPT_SEED,
    OPT_TIMEOUT,
    OPT_RATE,
};

static const struct option long_options[] = {
    {"server", required_argument, NULL, 's'},
    {"threads", required_argument, NULL, 't'},
    {"conns", required_argument, NULL, 'c'},
    {"pipeline", required_argument, NULL, 'P'},
    {"ratio", required_argument, NULL, 'r'},
    {"keys", required_argument, NULL, 'k'},
    {"key-prefix", required_argument, NULL, OPT_KEY_PREFIX},
    {"dist", required_argument, NULL, OPT_DIST},
    {"zipf-skew", required_argument, NULL, OPT_ZIPF_SKEW},
    {"value-size", required_argument, NULL, OPT_VALUE_SIZE},
    {"multiget", required_argument, NULL, 'm'},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"warmup", required_argument, NULL, 'w'},
    {"prefill", no_argument, NULL, OPT_PREFILL},
    {"set-on-miss", no_argument, NULL, OPT_SET_ON_MISS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"rate", required_argument, NULL, OPT_RATE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* One line on stderr and exit 64, like the daemon. */
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("meshcached-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    exit(EXIT_USAGE);
}

static uint64_t parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        usage_error("%s: '%s' is not a number", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        usage_error("%s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        usage_error("%s: %llu is out of range %llu to %llu", opt, v,
                    (unsigned long long)min, (unsigned long long)max);
    return v;
}

static double parse_seconds(const char *opt, const char *s, double min, double max,
                            bool min_exclusive)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        usage_error("%s: '%s' is not a number of seconds", opt, s);
    if (v < min || (min_exclusive && v == min) || v > max)
        usage_error("%s: %s is out of range (%s%g to %g)", opt, s,
                    min_exclusive ? "above " : "", min, max);
    return v;
}

/* Resolves "host:port", "host", "[v6]:port" or a bare IPv6 address. */
static void add_server(struct bench_config *cfg, const char *spec)
{
    char host[256];
    const char *port = DEFAULT_PORT;
    size_t len = strlen(spec);
    if (len == 0 || len >= sizeof(host))
        usage_error("--server: '%s' is not a host:port", spec);
    memcpy(host, spec, len + 1);
    char *h = host;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            usage_error("--server: '%s' is not a [address]:port", spec);
        *close = '\0';
        h = host + 1;
        if (close[1] == ':')
            port = close + 2;
    } else {
        char *colon = strrchr(host, ':');
        if (colon && strchr(host, ':') == colon) {
            *colon = '\0';
            port = colon + 1;
        }
    }
    parse_uint("--server port", port, 1, 65535);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(h, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        fprintf(stderr, "meshcached-bench: --server %s: %s\n", spec, gai_strerror(rc));
        exit(EXIT_CANNOT_RUN);
    }
    struct bench_server *s =
        realloc(cfg->servers, sizeof(*s) * (size_t)(cfg->nservers + 1));
    char *name = strdup(spec);
    if (s == NULL || name == NULL) {
        fputs("meshcached-bench: out of memory\n", stderr);
        exit(EXIT_CANNOT_RUN);
    }
    cfg->servers = s;
    s = &cfg->servers[cfg->nservers++];
    memset(s, 0, sizeof(*s));
    s->name = name;
    memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
    s->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

static void add_servers(struct bench_config *cfg, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    if (copy == NULL) {
        fputs("meshcached-bench: out of memory\n", stderr);
        exit(EXIT_CANNOT_RUN);
    }
    if (*list == '\0' || list[strlen(list) - 1] == ',' || *list == ',')
        usage_error("--server: empty entry in '%s'", list);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        add_server(cfg, t);
    free(copy);
}

static void parse_ratio(struct bench_config *cfg, const char *s)
{
    char buf[64];
    const char *colon = strchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(buf))
        usage_error("--ratio: '%s' is not G:S", s);
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = '\0';
    cfg->get_weight = (unsigned)parse_uint("--ratio", buf, 0, 1000000);
    cfg->set_weight = (unsigned)parse_uint("--ratio", colon + 1, 0, 1000000);
    if (cfg->get_weight + cfg->set_weight == 0)
        usage_error("--ratio: 0:0 sends nothing");
}

static void parse_value_size(struct bench_config *cfg, const char *s)
{
    char buf[64];
    const char *dash = strchr(s, '-');
    if (dash == NULL) {
        cfg->value_min = cfg->value_max =
            (uint32_t)parse_uint("--value-size", s, 0, MAX_VALUE);
        return;
    }
    if ((size_t)(dash - s) >= sizeof(buf))
        usage_error("--value-size: '%s' is not N or MIN-MAX", s);
    memcpy(buf, s, (size_t)(dash - s));
    buf[dash - s] = '\0';
    cfg->value_min = (uint32_t)parse_uint("--value-size", buf, 0, MAX_VALUE);
    cfg->value_max = (uint32_t)parse_uint("--value-size", dash + 1, 0, MAX_VALUE);
    if (cfg->value_min > cfg->value_max)
        usage_error("--value-size: %s has MIN above MAX", s);
}

static void check_prefix(const char *p)
{
    if (strlen(p) > MAX_PREFIX)
        usage_error("--key-prefix: longer than %d bytes", MAX_PREFIX);
    for (const char *q = p; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            usage_error("--key-prefix: keys cannot hold spaces or control characters");
}

static void parse_args(struct bench_config *cfg, int argc, char **argv)
{
    bool have_duration = false;
    int c;

    cfg->threads = 1;
    cfg->conns = 4;
    cfg->pipeline = 1;
    cfg->get_weight = 9;
    cfg->set_weight = 1;
    cfg->keys = 100000;
    cfg->key_prefix = "key:";
    cfg->zipf_skew = 0.99;
    cfg->value_min = cfg->value_max = 32;
    cfg->multiget = 1;
    cfg->timeout = 5;
    cfg->seed = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:t:c:P:r:k:m:d:n:w:jhV", long_options,
                            NULL)) != -1) {
        switch (c) {
        case 's':
            add_servers(cfg, optarg);
            break;
        case 't':
            cfg->threads = (int)parse_uint("--threads", optarg, 1, MAX_THREADS);
            break;
        case 'c':
            cfg->conns = (int)parse_uint("--conns", optarg, 1, MAX_CONNS);
            break;
        case 'P':
            cfg->pipeline = (int)parse_uint("--pipeline", optarg, 1, MAX_PIPELINE);
            break;
        case 'r':
            parse_ratio(cfg, optarg);
            break;
        case 'k':
            cfg->keys = parse_uint("--keys", optarg, 1, UINT32_MAX);
            break;
        case OPT_KEY_PREFIX:
            check_prefix(optarg);
            cfg->key_prefix = optarg;
            break;
        case OPT_DIST:
            if (strcmp(optarg, "uniform") == 0)
                cfg->zipf = false;
            else if (strcmp(optarg, "zipf") == 0)
                cfg->zipf = true;
            else
                usage_error("--dist: '%s' is neither uniform nor zipf", optarg);
            break;
        case OPT_ZIPF_SKEW:
            cfg->zipf_skew = parse_seconds("--zipf-skew", optarg, 0, 100, false);
            break;
        case OPT_VALUE_SIZE:
            parse_value_size(cfg, optarg);
            break;
        case 'm':
            cfg->multiget = (int)parse_uint("--multiget", optarg, 1, MAX_MULTIGET);
            break;
        case 'd':
            cfg->duration = parse_seconds("--duration", optarg, 0, MAX_SECONDS, true);
            have_duration = true;
            break;
        case 'n':
            cfg->requests = parse_uint("--requests", optarg, 1, UINT64_MAX / 2);
            break;
        case 'w':
            cfg->warmup = parse_seconds("--warmup", optarg, 0, MAX_SECONDS, false);
            break;
        case OPT_PREFILL:
            cfg->prefill = true;
            break;
        case OPT_SET_ON_MISS:
            cfg->set_on_miss = true;
            break;
        case OPT_SEED:
            cfg->seed = parse_uint("--seed", optarg, 0, UINT64_MAX);
            break;
        case OPT_TIMEOUT:
            cfg->timeout = parse_seconds("--timeout", optarg, 0, MAX_TIMEOUT, true);
            break;
        case OPT_RATE:
            cfg->rate = parse_seconds("--rate", optarg, 0, 1e9, false);
            break;
        case 'j':
            cfg->json = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        case 'V':
            printf("meshcached-bench %s\n", PACKAGE_VERSION);
            exit(0);
        case ':':
            usage_error("%s needs a value", argv[optind - 1]);
        default:
            if (optopt)
                usage_error("unknown option -%c", optopt);
            usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (cfg->nservers == 0)
        add_server(cfg, DEFAULT_SERVER);
    if (!have_duration && cfg->requests == 0)
        cfg->duration = DEFAULT_DURATION;
    if ((uint64_t)cfg->threads * (uint64_t)cfg->conns < (uint64_t)cfg->nservers)
        usage_error(
            "%d server(s) need at least as many connections (--threads x --conns)",
            cfg->nservers);
    cfg->prefix_len = strlen(cfg->key_prefix);
    if (cfg->zipf && zipf_init(&cfg->zipf_state, cfg->keys, cfg->zipf_skew) < 0)
        usage_error("--zipf-skew: %g is out of range", cfg->zipf_skew);
}

/* ---- the run ----------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The value every set sends: printable, and different from byte to byte
 * so a server that mangled it would be noticed by anyone reading it. */
static char *make_value(uint32_t len)
{
    char *v = malloc(len ? len : 1);
    if (v == NULL)
        return NULL;
    for (uint32_t i = 0; i < len; i++)
        v[i] = (char)('a' + i % 26);
    return v;
}

struct summary {
    struct bench_counters ctr[PHASE_COUNT];
    struct hist *hist;
    double elapsed;         /* measured seconds */
    double prefill_elapsed; /* seconds the prefill took */
    int conns_lost;
    const char *first_error;
};

static double ns_to_us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_counters(FILE *f, const struct bench_counters *c)
{
    fprintf(f,
            "{\"requests\": %llu, \"gets\": %llu, \"get_keys\": %llu, \"hits\": %llu, "
            "\"misses\": %llu, \"sets\": %llu, \"errors\": %llu, \"errors_by_kind\": {",
            (unsigned long long)c->requests, (unsigned long long)c->gets,
            (unsigned long long)c->get_keys, (unsigned long long)c->hits,
            (unsigned long long)c->misses, (unsigned long long)c->sets,
            (unsigned long long)c->errors);
    for (int i = 0; i < ERR_COUNT; i++)
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", bench_err_names[i],
                (unsigned long long)c->err[i]);
    fputs("}}", f);
}

static double rate(uint64_t n, double secs)
{
    return secs > 0 ? (double)n / secs : 0.0;
}

/* Rates count the requests that got a reply (success or error), not the
 * ones lost with a connection. Lost gets are not told apart from lost
 * sets, so for keys/s they count as one key each. */
static uint64_t answered(const struct bench_counters *c)
{
    return c->requests - c->err[ERR_LOST];
}

static uint64_t answered_keys(const struct bench_counters *c)
{
    uint64_t keys = c->get_keys + c->sets;
    uint64_t lost = c->err[ERR_LOST];
    return keys > lost ? keys - lost : 0;
}

static void report_json(const struct bench_config *cfg, const struct summary *sm)
{
    const struct bench_counters *m = &sm->ctr[PHASE_MEASURE];
    FILE *f = stdout;
    fprintf(f, "{\"tool\": \"meshcached-bench\", \"version\": \"%s\",\n",
            PACKAGE_VERSION);
    fputs(" \"params\": {\"servers\": [", f);
    for (int i = 0; i < cfg->nservers; i++) {
        if (i)
            fputs(", ", f);
        json_string(f, cfg->servers[i].name);
    }
    fprintf(f,
            "], \"threads\": %d, \"conns\": %d, \"pipeline\": %d, \"ratio\": \"%u:%u\", "
            "\"keys\": %llu, \"key_prefix\": ",
            cfg->threads, cfg->conns, cfg->pipeline, cfg->get_weight, cfg->set_weight,
            (unsigned long long)cfg->keys);
    json_string(f, cfg->key_prefix);
    fprintf(
        f,
        ", \"dist\": \"%s\", \"zipf_skew\": %g, \"value_size_min\": %u, "
        "\"value_size_max\": %u, \"multiget\": %d, \"duration\": %g, \"requests\": %llu, "
        "\"warmup\": %g, \"prefill\": %s, \"set_on_miss\": %s, \"seed\": %llu, "
        "\"timeout\": %g, \"rate\": %g},\n",
        cfg->zipf ? "zipf" : "uniform", cfg->zipf_skew, cfg->value_min, cfg->value_max,
        cfg->multiget, cfg->duration, (unsigned long long)cfg->requests, cfg->warmup,
        cfg->prefill ? "true" : "false", cfg->set_on_miss ? "true" : "false",
        (unsigned long long)cfg->seed, cfg->timeout, cfg->rate);
    fprintf(
        f,
        " \"elapsed_s\": %.6f, \"requests\": %llu, \"gets\": %llu, \"get_keys\": %llu, ",
        sm->elapsed, (unsigned long long)m->requests, (unsigned long long)m->gets,
        (unsigned long long)m->get_keys);
    fprintf(f, "\"sets\": %llu, \"hits\": %llu, \"misses\": %llu, \"hit_ratio\": ",
            (unsigned long long)m->sets, (unsigned long long)m->hits,
            (unsigned long long)m->misses);
    if (m->hits + m->misses)
        fprintf(f, "%.6f", (double)m->hits / (double)(m->hits + m->misses));
    else
        fputs("null", f);
    /* ops_per_sec: the same figure as requests_per_s, under the name
     * contrib/bench/compare reads. */
    fprintf(f,
            ",\n \"requests_per_s\": %.1f, \"ops_per_sec\": %.1f, \"keys_per_s\": %.1f, "
            "\"errors\": %llu, ",
            rate(answered(m), sm->elapsed), rate(answered(m), sm->elapsed),
            rate(answered_keys(m), sm->elapsed), (unsigned long long)m->errors);
    fputs("\"errors_by_kind\": {", f);
    for (int i = 0; i < ERR_COUNT; i++)
        fprintf(f, "%s\"%s\": %llu", i ? ", " : "", bench_err_names[i],
                (unsigned long long)m->err[i]);
    const struct hist *h = sm->hist;
    fprintf(f,
            "},\n \"latency_us\": {\"count\": %llu, \"min\": %.1f, \"p50\": %.1f, "
            "\"p90\": %.1f, \"p99\": %.1f, \"p99.9\": %.1f, \"max\": %.1f, \"mean\": "
            "%.1f},\n",
            (unsigned long long)h->count, ns_to_us(h->count ? h->min : 0),
            ns_to_us(hist_percentile(h, 50)), ns_to_us(hist_percentile(h, 90)),
            ns_to_us(hist_percentile(h, 99)), ns_to_us(hist_percentile(h, 99.9)),
            ns_to_us(h->max), hist_mean(h) / 1000.0);
    fputs(" \"prefill\": ", f);
    json_counters(f, &sm->ctr[PHASE_PREFILL]);
    fprintf(f, ",\n \"prefill_elapsed_s\": %.6f,\n \"warmup\": ", sm->prefill_elapsed);
    json_counters(f, &sm->ctr[PHASE_WARMUP]);
    fprintf(f, ",\n \"connections_lost\": %d, \"interrupted\": %s, \"first_error\": ",
            sm->conns_lost, bench_interrupted ? "true" : "false");
    if (sm->first_error)
        json_string(f, sm->first_error);
    else
        fputs("null", f);
    fputs("}\n", f);
}

static void print_errors(FILE *f, const struct bench_counters *c)
{
    fprintf(f, "%llu", (unsigned long long)c->errors);
    if (c->errors == 0)
        return;
    const char *sep = " (";
    for (int i = 0; i < ERR_COUNT; i++) {
        if (c->err[i]) {
            fprintf(f, "%s%s %llu", sep, bench_err_names[i],
                    (unsigned long long)c->err[i]);
            sep = ", ";
        }
    }
    fputc(')', f);
}

static void report_text(const struct bench_config *cfg, const struct summary *sm)
{
    const struct bench_counters *m = &sm->ctr[PHASE_MEASURE];
    const struct hist *h = sm->hist;
    FILE *f = stdout;

    fprintf(f, "meshcached-bench %s:", PACKAGE_VERSION);
    for (int i = 0; i < cfg->nservers; i++)
        fprintf(f, "%s%s", i ? "," : " ", cfg->servers[i].name);
    fprintf(f, "; %d thread(s) x %d conn(s), pipeline %d; get:set %u:%u; %llu keys %s",
            cfg->threads, cfg->conns, cfg->pipeline, cfg->get_weight, cfg->set_weight,
            (unsigned long long)cfg->keys, cfg->zipf ? "zipf" : "uniform");
    if (cfg->zipf)
        fprintf(f, " %g", cfg->zipf_skew);
    if (cfg->value_min == cfg->value_max)
        fprintf(f, "; values %u B", cfg->value_min);
    else
        fprintf(f, "; values %u-%u B", cfg->value_min, cfg->value_max);
    fprintf(f, "; multiget %d%s\n", cfg->multiget,
            cfg->set_on_miss ? "; set on miss" : "");
    if (cfg->prefill) {
        fprintf(f, "prefill:    %llu sets in %.2f s, errors ",
                (unsigned long long)sm->ctr[PHASE_PREFILL].sets, sm->prefill_elapsed);
        print_errors(f, &sm->ctr[PHASE_PREFILL]);
        fputc('\n', f);
    }
    if (cfg->warmup > 0) {
        fprintf(f, "warmup:     %llu requests in %g s, errors ",
                (unsigned long long)sm->ctr[PHASE_WARMUP].requests, cfg->warmup);
        print_errors(f, &sm->ctr[PHASE_WARMUP]);
        fputc('\n', f);
    }
    fprintf(f,
            "measured:   %llu requests in %.3f s: %llu gets (%llu keys), %llu sets%s\n",
            (unsigned long long)m->requests, sm->elapsed, (unsigned long long)m->gets,
            (unsigned long long)m->get_keys, (unsigned long long)m->sets,
            bench_interrupted ? " (interrupted)" : "");
    fprintf(f, "throughput: %.0f requests/s, %.0f keys/s\n",
            rate(answered(m), sm->elapsed), rate(answered_keys(m), sm->elapsed));
    if (m->hits + m->misses)
        fprintf(f, "hit ratio:  %.4f (%llu hits, %llu misses)\n",
                (double)m->hits / (double)(m->hits + m->misses),
                (unsigned long long)m->hits, (unsigned long long)m->misses);
    else
        fputs("hit ratio:  - (no gets)\n", f);
    fputs("errors:     ", f);
    print_errors(f, m);
    if (sm->conns_lost)
        fprintf(f, "; %d connection(s) lost", sm->conns_lost);
    fputc('\n', f);
    fprintf(f, "latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
            ns_to_us(hist_percentile(h, 50)), ns_to_us(hist_percentile(h, 99)),
            ns_to_us(hist_percentile(h, 99.9)), ns_to_us(h->max), hist_mean(h) / 1000.0);
}

int main(int argc, char **argv)
{
    static struct bench_config cfg;
    static struct bench_run run;
    static struct hist merged;
    struct summary sm;
    int rc = 0;

    parse_args(&cfg, argc, argv);
    install_signals();
    cfg.value = make_value(cfg.value_max);
    struct worker *workers = calloc((size_t)cfg.threads, sizeof(*workers));
    if (cfg.value == NULL || workers == NULL) {
        fputs("meshcached-bench: out of memory\n", stderr);
        return EXIT_CANNOT_RUN;
    }
    run.cfg = &cfg;
    if (pthread_barrier_init(&run.barrier, NULL, (unsigned)cfg.threads + 1) != 0) {
        fputs("meshcached-bench: cannot create a barrier\n", stderr);
        return EXIT_CANNOT_RUN;
    }
    for (int i = 0; i < cfg.threads; i++) {
        workers[i].id = i;
        workers[i].run = &run;
        int err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (err != 0) {
            /* The barrier counts every thread: without this one nobody
             * would get past it, so give up at once. */
            fprintf(stderr, "meshcached-bench: cannot start thread %d: %s\n", i,
                    strerror(err));
            exit(EXIT_CANNOT_RUN);
        }
    }

    pthread_barrier_wait(&run.barrier); /* 1: connected */
    bool failed = atomic_load(&run.failed);
    uint64_t t0 = bench_now_ns();
    if (!failed) {
        pthread_barrier_wait(&run.barrier); /* 2: prefill done */
        run.t_start = bench_now_ns();
        pthread_barrier_wait(&run.barrier); /* 3: go */
    }
    uint64_t t_prefill_done = run.t_start;

    memset(&sm, 0, sizeof(sm));
    hist_init(&merged);
    uint64_t t_end = 0;
    for (int i = 0; i < cfg.threads; i++) {
        pthread_join(workers[i].thread, NULL);
        const struct bench_result *r = &workers[i].res;
        for (int p = 0; p < PHASE_COUNT; p++)
            bench_counters_add(&sm.ctr[p], &r->ctr[p]);
        hist_merge(&merged, &r->hist);
        if (r->t_end > t_end)
            t_end = r->t_end;
        sm.conns_lost += r->conns_lost;
        if (sm.first_error == NULL && r->first_error[0])
            sm.first_error = r->first_error;
    }
    if (failed) {
        fprintf(stderr, "meshcached-bench: %s\n",
                sm.first_error ? sm.first_error : "a worker could not start");
        rc = EXIT_CANNOT_RUN;
        goto out;
    }
    uint64_t t_measure = run.t_start + (uint64_t)(cfg.warmup * 1e9);
    sm.hist = &merged;
    sm.elapsed = t_end > t_measure ? (double)(t_end - t_measure) / 1e9 : 0.0;
    sm.prefill_elapsed = cfg.prefill ? (double)(t_prefill_done - t0) / 1e9 : 0.0;
    if (cfg.json)
        report_json(&cfg, &sm);
    else
        report_text(&cfg, &sm);
    fflush(stdout);
    uint64_t errors = 0;
    for (int p = 0; p < PHASE_COUNT; p++)
        errors += sm.ctr[p].errors;
    if (errors || sm.conns_lost) {
        fprintf(stderr, "meshcached-bench: %llu request(s) failed; first error: %s\n",
                (unsigned long long)errors,
                sm.first_error ? sm.first_error : "(none noted)");
        rc = EXIT_ERRORS;
    }
out:
    /* sm.first_error points into workers[]: free only after reporting. */
    pthread_barrier_destroy(&run.barrier);
    free(workers);
    free((char *)cfg.value);
    for (int i = 0; i < cfg.nservers; i++)
        free(cfg.servers[i].name);
    free(cfg.servers);
    return rc;
}
