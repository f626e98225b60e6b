/* settings: memcached-compatible command-line flags, strictly validated. */
#include "settings.h"
#include "util.h"

#include <getopt.h>
#include <string.h>

#include "config.h"

#define MIN_ITEM_SIZE 1024
#define MAX_ITEM_SIZE (1024u * 1024 * 1024)

void settings_defaults(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->port = 11211;
    strcpy(s->listen_addr, "127.0.0.1");
    s->backlog = 1024;
    s->maxbytes = 64ULL * 1024 * 1024;
    s->maxconns = 1024;
    s->num_threads = 4;
    s->item_size_max = 1024 * 1024;
    s->evict_to_free = true;
    s->use_cas = true;
    s->reqs_per_event = 20;
}

void settings_usage(FILE *out)
{
    fputs(
        "Usage: meshcached [options]\n"
        "A memcached-compatible distributed in-memory cache.\n"
        "\n"
        "-p, --port=<num>               TCP port to listen on (default: 11211)\n"
        "-l, --listen=<addr>            interface to listen on (default: 127.0.0.1)\n"
        "-U, --udp-port=<num>           UDP port; only 0 (off) is accepted (default: 0)\n"
        "-b, --listen-backlog=<num>     backlog queue limit (default: 1024)\n"
        "-m, --memory-limit=<num>       item memory in megabytes (default: 64)\n"
        "-M, --disable-evictions        return an error when memory is full instead of\n"
        "                               evicting\n"
        "-c, --conn-limit=<num>         max simultaneous connections (default: 1024)\n"
        "-t, --threads=<num>            number of worker threads (default: 4)\n"
        "-I, --max-item-size=<num>      largest value stored, k/m suffixes accepted\n"
        "                               (default: 1m, min: 1k, max: 1024m)\n"
        "-C, --disable-cas              disable use of CAS\n"
        "-R, --max-reqs-per-event=<num> requests handled per connection per event\n"
        "                               before yielding (default: 20)\n"
        "-v, --verbose                  print errors and warnings; -vv also prints\n"
        "                               client commands and connection events\n"
        "-d, --daemon                   run as a daemon\n"
        "-P, --pidfile=<file>           write the process id to <file>\n"
        "-u, --user=<user>              switch to <user> after start (when root)\n"
        "-o, --extended=<key=value,...> extended options:\n"
        "    idle_timeout=<seconds>     close client connections idle this long\n"
        "                               (default: 0, never)\n"
        "    memcached-only keys (modern, hashpower, lru_crawler, slab_*, ...)\n"
        "                               are accepted and ignored with a warning\n"
        "-h, --help                     print this help and exit\n"
        "-V, --version                  print version and exit\n",
        out);
}

/* memcached's -o keys that have no meaning here: accepted so existing command
 * lines keep working, with a warning. */
static const char *const ignored_ext[] = {"modern",
                                          "maxconns_fast",
                                          "hashpower",
                                          "tail_repair_time",
                                          "hash_algorithm",
                                          "lru_crawler",
                                          "lru_crawler_sleep",
                                          "lru_crawler_tocrawl",
                                          "lru_maintainer",
                                          "read_buf_mem_limit",
                                          "hot_lru_pct",
                                          "warm_lru_pct",
                                          "hot_max_factor",
                                          "warm_max_factor",
                                          "temporary_ttl",
                                          "slab_reassign",
                                          "slab_automove",
                                          "slab_automove_ratio",
                                          "slab_automove_window",
                                          "slab_chunk_max",
                                          "slab_sizes",
                                          "track_sizes",
                                          "watcher_logbuf_size",
                                          "worker_logbuf_size",
                                          "inline_ascii_response",
                                          "chunked_items",
                                          "drop_privileges",
                                          "resp_obj_mem_limit",
                                          "lru_segmented",
                                          "hashexpand",
                                          "ssl_chain_cert",
                                          "ssl_key",
                                          "bind_proto",
                                          "proxy_config",
                                          NULL};

static bool is_ignored_ext(const char *key)
{
    if (strncmp(key, "no_", 3) == 0)
        key += 3;
    if (strncmp(key, "ext_", 4) == 0)
        return true;
    for (int i = 0; ignored_ext[i] != NULL; i++)
        if (strcmp(key, ignored_ext[i]) == 0)
            return true;
    return false;
}

/* Flag values are plain decimal numbers: no spaces, no '+', nothing after. */
static bool is_decimal(const char *arg)
{
    const char *p = arg + (arg[0] == '-');

    if (*p == '\0')
        return false;
    for (; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static int parse_ext(struct settings *s, char *list, FILE *err)
{
    char *save = NULL;

    for (char *opt = strtok_r(list, ",", &save); opt != NULL;
         opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        const char *val = eq != NULL ? eq + 1 : NULL;
        if (eq != NULL)
            *eq = '\0';
        if (strcmp(opt, "idle_timeout") == 0) {
            if (val == NULL || !is_decimal(val) || val[0] == '-' ||
                !util_parse_u32(val, strlen(val), &s->idle_timeout)) {
                fprintf(err, "meshcached: -o idle_timeout needs a number of seconds\n");
                return -1;
            }
        } else if (is_ignored_ext(opt)) {
            fprintf(err,
                    "meshcached: warning: -o %s is a memcached option with no "
                    "effect here; ignored\n",
                    opt);
        } else {
            fprintf(err, "meshcached: unknown -o option '%s'\n", opt);
            return -1;
        }
    }
    return 0;
}

static bool parse_int_range(const char *arg, int lo, int hi, int *out)
{
    int64_t v;

    if (!is_decimal(arg) || !util_parse_i64(arg, strlen(arg), &v) || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* A decimal number with an optional k, m or g suffix. */
static bool parse_size_arg(const char *arg, uint64_t *out)
{
    char digits[32];
    size_t n = strlen(arg);

    if (n == 0 || n >= sizeof(digits))
        return false;
    memcpy(digits, arg, n + 1);
    if (strchr("kKmMgG", digits[n - 1]) != NULL)
        digits[n - 1] = '\0';
    return digits[0] != '-' && is_decimal(digits) && util_parse_size(arg, n, out);
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* -m takes megabytes, as in memcached; a k, m or g suffix gives bytes. */
static bool parse_memory(const char *arg, uint64_t *out)
{
    size_t n = strlen(arg);
    uint64_t v;

    if (!parse_size_arg(arg, &v))
        return false;
    if (n > 0 && arg[n - 1] >= '0' && arg[n - 1] <= '9') {
        if (v > (1ULL << 40))
            return false;
        v *= 1024 * 1024;
    }
    if (v < 1024 * 1024)
        return false;
    *out = v;
    return true;
}

/* The option as the user wrote it, for error messages. */
static const char *option_name(const struct option *longopts, int opt, char *buf,
                               size_t cap)
{
    for (const struct option *o = longopts; o->name != NULL; o++) {
        if (o->val == opt) {
            snprintf(buf, cap, "-%c/--%s", opt, o->name);
            return buf;
        }
    }
    snprintf(buf, cap, "-%c", opt);
    return buf;
}

int settings_parse(struct settings *s, int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"listen", required_argument, NULL, 'l'},
        {"udp-port", required_argument, NULL, 'U'},
        {"listen-backlog", required_argument, NULL, 'b'},
        {"memory-limit", required_argument, NULL, 'm'},
        {"disable-evictions", no_argument, NULL, 'M'},
        {"conn-limit", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"max-item-size", required_argument, NULL, 'I'},
        {"disable-cas", no_argument, NULL, 'C'},
        {"max-reqs-per-event", required_argument, NULL, 'R'},
        {"verbose", optional_argument, NULL, 'v'},
        {"daemon", no_argument, NULL, 'd'},
        {"pidfile", required_argument, NULL, 'P'},
        {"user", required_argument, NULL, 'u'},
        {"extended", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    uint64_t size;
    int c, udp;
    char name[64];

    opterr = 0;
    optind = 0; /* 0, not 1: glibc then also forgets a half-read "-hd" cluster */
    while ((c = getopt_long(argc, argv, ":p:l:U:b:m:Mc:t:I:CR:vdP:u:o:hV", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!parse_int_range(optarg, 1, 65535, &s->port))
                goto bad_value;
            break;
        case 'l':
            if (!copy_str(s->listen_addr, sizeof(s->listen_addr), optarg))
                goto bad_value;
            break;
        case 'U':
            if (!parse_int_range(optarg, 0, 65535, &udp))
                goto bad_value;
            if (udp != 0) {
                fprintf(err, "meshcached: UDP is not supported; only -U 0 is accepted\n");
                return -1;
            }
            break;
        case 'b':
            if (!parse_int_range(optarg, 1, 65535, &s->backlog))
                goto bad_value;
            break;
        case 'm':
            if (!parse_memory(optarg, &s->maxbytes))
                goto bad_value;
            break;
        case 'M':
            s->evict_to_free = false;
            break;
        case 'c':
            if (!parse_int_range(optarg, 1, 1000000, &s->maxconns))
                goto bad_value;
            break;
        case 't':
            if (!parse_int_range(optarg, 1, 256, &s->num_threads))
                goto bad_value;
            break;
        case 'I':
            if (!parse_size_arg(optarg, &size) || size < MIN_ITEM_SIZE ||
                size > MAX_ITEM_SIZE)
                goto bad_value;
            s->item_size_max = (uint32_t)size;
            break;
        case 'C':
            s->use_cas = false;
            break;
        case 'R':
            if (!parse_int_range(optarg, 1, 1000000, &s->reqs_per_event))
                goto bad_value;
            break;
        case 'v':
            s->verbose++;
            /* --verbose=N sets the level directly. */
            if (optarg != NULL && !parse_int_range(optarg, 0, 3, &s->verbose))
                goto bad_value;
            break;
        case 'd':
            s->daemonize = true;
            break;
        case 'P':
            if (!copy_str(s->pidfile, sizeof(s->pidfile), optarg))
                goto bad_value;
            break;
        case 'u':
            if (!copy_str(s->username, sizeof(s->username), optarg))
                goto bad_value;
            break;
        case 'o':
            if (parse_ext(s, optarg, err) != 0)
                return -1;
            break;
        case 'h':
            settings_usage(out);
            return 1;
        case 'V':
            fprintf(out, "meshcached %s\n", PACKAGE_VERSION);
            return 1;
        case ':':
            fprintf(err, "meshcached: option %s needs a value\n",
                    option_name(longopts, optopt, name, sizeof(name)));
            return -1;
        default:
            if (optopt != 0)
                fprintf(err, "meshcached: unknown option '-%c' (see --help)\n", optopt);
            else
                fprintf(err, "meshcached: unknown option '%s' (see --help)\n",
                        argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(err, "meshcached: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if ((uint64_t)s->item_size_max > s->maxbytes / 2) {
        fprintf(err, "meshcached: -I %u is more than half of -m (%llu bytes)\n",
                s->item_size_max, (unsigned long long)s->maxbytes);
        return -1;
    }
    return 0;

bad_value:
    fprintf(err, "meshcached: invalid value '%s' for option %s (see --help)\n", optarg,
            option_name(longopts, c, name, sizeof(name)));
    return -1;
}
