/* settings: memcached-compatible command-line flags, strictly validated. */
#include "base/settings.h"
#include "cluster/ring.h"
#include "base/util.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define MIN_ITEM_SIZE 1024
#define MAX_ITEM_SIZE (1024u * 1024 * 1024)

#define DEFAULT_PEER_TIMEOUT_MS 500
#define MAX_PEER_TIMEOUT_MS     60000

#define DEFAULT_GOSSIP_INTERVAL_MS 500
#define MIN_GOSSIP_INTERVAL_MS     50
#define MAX_GOSSIP_INTERVAL_MS     60000

#define DEFAULT_REPLICAS     2
#define DEFAULT_WRITE_QUORUM 2 /* lowered to --replicas when that is less */
#define DEFAULT_READ_QUORUM  1

#define DEFAULT_TOMBSTONE_TTL 600
#define MAX_TOMBSTONE_TTL     (30 * 24 * 3600) /* memcached's relative-expiry limit */

#define DEFAULT_READ_REPAIR_CHANCE 0.1

#define DEFAULT_HINTS_MAX 65536
#define MAX_HINTS_MAX     (16u * 1024 * 1024)

/* anti-entropy: one exchange with one co-owner per interval, and the bytes
 * a node's exchanges may move per second on average */
#define DEFAULT_AE_INTERVAL_MS     1000
#define MIN_AE_INTERVAL_MS         10
#define MAX_AE_INTERVAL_MS         3600000
#define DEFAULT_AE_BYTES_PER_SEC   (8u * 1024 * 1024)
#define MIN_AE_BYTES_PER_SEC       4096
#define DEFAULT_HANDOFF_TIMEOUT_MS 30000
#define MAX_HANDOFF_TIMEOUT_MS     3600000
#define MAX_AE_BYTES_PER_SEC       (1024u * 1024 * 1024)

/* Without --cluster-port, gossip listens this far above -p. */
#define CLUSTER_PORT_OFFSET 1000

/* Every node of a --peers list, plus this one if it is not in the list, fits
 * in one ring at any --vnodes: no check across the two flags is needed. */
_Static_assert((SETTINGS_MAX_PEERS + 1) * (uint64_t)RING_MAX_VNODES <= RING_MAX_POINTS,
               "--peers and --vnodes limits exceed the ring's");
_Static_assert(SETTINGS_MAX_ID_LEN == RING_MAX_ID_LEN, "node id limits differ");

/* getopt_long values of the options that have no short form. */
enum {
    OPT_NODE_ID = 256,
    OPT_PEERS,
    OPT_VNODES,
    OPT_CLUSTER_PORT,
    OPT_JOIN,
    OPT_CLUSTER_KEY,
    OPT_REPLICAS,
    OPT_WRITE_QUORUM,
    OPT_READ_QUORUM,
    OPT_CONSISTENCY,
    OPT_HTTP_PORT,
    OPT_HTTP_TOKEN,
};

/* --consistency: the quorum it stands for is known only once --replicas is. */
enum consistency {
    CONSISTENCY_UNSET,
    CONSISTENCY_ONE,    /* 1 */
    CONSISTENCY_QUORUM, /* a majority of the owners: N / 2 + 1 */
    CONSISTENCY_ALL,    /* N */
};

/* Prints one line to err: control characters typed into a value are shown
 * as \xNN, so that a refused command line always gives exactly one line. */
#define error_line settings_error_line

void settings_error_line(FILE *err, const char *fmt, ...)
{
    char small[512], *msg = small;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(small)) {
        char *big = malloc((size_t)n + 1);
        if (big != NULL) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            va_end(ap);
            msg = big;
        } else {
            n = (int)sizeof(small) - 1; /* out of memory: truncated */
        }
    }
    for (int i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch < 0x20 || ch == 0x7f)
            fprintf(err, "\\x%02x", ch);
        else
            putc(ch, err);
    }
    putc('\n', err);
    if (msg != small)
        free(msg);
}

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
    s->flush_enabled = true;
    s->watch_enabled = true;
    s->dump_enabled = true;
    s->prefix_delimiter = ':';
    s->protocol_auto = true;
    s->reqs_per_event = 20;
    s->vnodes = RING_DEFAULT_VNODES;
    s->peer_timeout_ms = DEFAULT_PEER_TIMEOUT_MS;
    s->gossip_interval_ms = DEFAULT_GOSSIP_INTERVAL_MS;
    s->replicas = DEFAULT_REPLICAS;
    s->write_quorum = DEFAULT_WRITE_QUORUM;
    s->read_quorum = DEFAULT_READ_QUORUM;
    s->tombstone_ttl = DEFAULT_TOMBSTONE_TTL;
    s->read_repair_chance = DEFAULT_READ_REPAIR_CHANCE;
    s->hints_max = DEFAULT_HINTS_MAX;
    s->ae_interval_ms = DEFAULT_AE_INTERVAL_MS;
    s->ae_bytes_per_sec = DEFAULT_AE_BYTES_PER_SEC;
    s->handoff = true;
    s->io_uring = true;
    s->handoff_timeout_ms = DEFAULT_HANDOFF_TIMEOUT_MS;
    s->ssl_keyformat = 1; /* SSL_FILETYPE_PEM */
    s->ssl_wbuf_size = 16384;
    s->ssl_min_version = 2; /* TLS 1.2 */
    settings_hot_defaults(s);
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

/* An -o value: a plain decimal number from lo to hi. */
static bool parse_ext_u32(const char *val, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint32_t v;

    if (val == NULL || !is_decimal(val) || val[0] == '-' ||
        !util_parse_u32(val, strlen(val), &v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* An -o fraction from 0 to 1, written as digits with at most one point
 * ("0", "0.05", "1.0"): strtod() alone would also take a sign, spaces, an
 * exponent, hex, "inf" and "nan". */
static bool parse_ext_fraction(const char *val, double *out)
{
    size_t ndigits = 0, npoints = 0;
    char *end;
    double v;

    if (val == NULL)
        return false;
    for (const char *p = val; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9')
            ndigits++;
        else if (*p == '.')
            npoints++;
        else
            return false;
    }
    if (ndigits == 0 || npoints > 1)
        return false;
    v = strtod(val, &end);
    if (*end != '\0' || !isfinite(v) || v < 0 || v > 1)
        return false;
    *out = v;
    return true;
}

static int parse_ext(struct settings *s, char *list, FILE *err)
{
    char *save = NULL;
    int tls;
    int hot;

    for (char *opt = strtok_r(list, ",", &save); opt != NULL;
         opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        const char *val = eq != NULL ? eq + 1 : NULL;
        if (eq != NULL)
            *eq = '\0';
        if (strcmp(opt, "idle_timeout") == 0) {
            if (!parse_ext_u32(val, 0, UINT32_MAX, &s->idle_timeout)) {
                error_line(err, "meshcached: -o idle_timeout needs a number of seconds");
                return -1;
            }
        } else if (strcmp(opt, "peer_timeout_ms") == 0) {
            if (!parse_ext_u32(val, 1, MAX_PEER_TIMEOUT_MS, &s->peer_timeout_ms)) {
                error_line(
                    err,
                    "meshcached: -o peer_timeout_ms needs a number of milliseconds "
                    "from 1 to %d",
                    MAX_PEER_TIMEOUT_MS);
                return -1;
            }
        } else if (strcmp(opt, "gossip_interval_ms") == 0) {
            if (!parse_ext_u32(val, MIN_GOSSIP_INTERVAL_MS, MAX_GOSSIP_INTERVAL_MS,
                               &s->gossip_interval_ms)) {
                error_line(
                    err,
                    "meshcached: -o gossip_interval_ms needs a number of milliseconds "
                    "from %d to %d",
                    MIN_GOSSIP_INTERVAL_MS, MAX_GOSSIP_INTERVAL_MS);
                return -1;
            }
        } else if (strcmp(opt, "tombstone_ttl") == 0) {
            if (!parse_ext_u32(val, 1, MAX_TOMBSTONE_TTL, &s->tombstone_ttl)) {
                error_line(
                    err,
                    "meshcached: -o tombstone_ttl needs a number of seconds from 1 "
                    "to %d",
                    MAX_TOMBSTONE_TTL);
                return -1;
            }
        } else if (strcmp(opt, "read_repair_chance") == 0) {
            if (!parse_ext_fraction(val, &s->read_repair_chance)) {
                error_line(
                    err,
                    "meshcached: -o read_repair_chance needs a fraction from 0 to 1");
                return -1;
            }
        } else if (strcmp(opt, "ae_interval_ms") == 0) {
            if (!parse_ext_u32(val, 0, MAX_AE_INTERVAL_MS, &s->ae_interval_ms) ||
                (s->ae_interval_ms != 0 && s->ae_interval_ms < MIN_AE_INTERVAL_MS)) {
                error_line(err,
                           "meshcached: -o ae_interval_ms needs 0 or a number of "
                           "milliseconds from %d to %d",
                           MIN_AE_INTERVAL_MS, MAX_AE_INTERVAL_MS);
                return -1;
            }
        } else if (strcmp(opt, "ae_bytes_per_sec") == 0) {
            if (!parse_ext_u32(val, MIN_AE_BYTES_PER_SEC, MAX_AE_BYTES_PER_SEC,
                               &s->ae_bytes_per_sec)) {
                error_line(err,
                           "meshcached: -o ae_bytes_per_sec needs a number from %u to %u",
                           MIN_AE_BYTES_PER_SEC, MAX_AE_BYTES_PER_SEC);
                return -1;
            }
        } else if (strcmp(opt, "handoff") == 0 || strcmp(opt, "io_uring") == 0) {
            uint32_t on;
            if (!parse_ext_u32(val, 0, 1, &on)) {
                error_line(err, "meshcached: -o %s needs 0 or 1", opt);
                return -1;
            }
            *(opt[0] == 'h' ? &s->handoff : &s->io_uring) = on == 1;
        } else if (strcmp(opt, "handoff_timeout_ms") == 0) {
            if (!parse_ext_u32(val, 0, MAX_HANDOFF_TIMEOUT_MS, &s->handoff_timeout_ms)) {
                error_line(err,
                           "meshcached: -o handoff_timeout_ms needs a number of "
                           "milliseconds from 0 to %d",
                           MAX_HANDOFF_TIMEOUT_MS);
                return -1;
            }
        } else if (strcmp(opt, "hints_max") == 0) {
            if (!parse_ext_u32(val, 0, MAX_HINTS_MAX, &s->hints_max)) {
                error_line(err, "meshcached: -o hints_max needs a number from 0 to %u",
                           MAX_HINTS_MAX);
                return -1;
            }
        } else if ((tls = settings_tls_ext(s, opt, val, err)) != 0) {
            if (tls < 0)
                return -1;
        } else if ((hot = settings_hot_ext(s, opt, val, err)) != 0) {
            if (hot < 0)
                return -1;
        } else if (is_ignored_ext(opt)) {
            error_line(err,
                       "meshcached: warning: -o %s is a memcached option with no "
                       "effect here; ignored",
                       opt);
        } else {
            error_line(err, "meshcached: unknown -o option '%s'", opt);
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

/* A node id is one protocol token that prints as it is: 1..255 bytes of
 * printable ASCII, no space. */
static bool valid_node_id(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > SETTINGS_MAX_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
            return false;
    return true;
}

/*
 * Parses one --peers entry e[0..n), "host:port" or "[addr]:port", into *p.
 * Returns NULL on success, else why the entry is refused. The host must be
 * printable without spaces because a member not reached yet is shown, and
 * named in errors, by its host:port.
 */
static const char *parse_peer(const char *e, size_t n, struct settings_peer *p)
{
    const char *host, *colon = NULL;
    size_t nhost, nport;
    char port[32];
    int v;

    if (n == 0)
        return "empty entry";
    if (e[0] == '[') {
        const char *close = memchr(e, ']', n);
        if (close == NULL || close + 1 == e + n || close[1] != ':')
            return "an IPv6 address is written [addr]:port";
        host = e + 1;
        nhost = (size_t)(close - host);
        colon = close + 1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (e[i] == ':')
                colon = e + i;
        if (colon == NULL)
            return "no :port";
        host = e;
        nhost = (size_t)(colon - e);
        if (memchr(host, ':', nhost) != NULL)
            return "an IPv6 address is written [addr]:port";
    }
    if (nhost == 0)
        return "empty host";
    if (nhost >= sizeof(p->host))
        return "host longer than 255 bytes";
    for (size_t i = 0; i < nhost; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (ch < 0x21 || ch > 0x7e || ch == '[' || ch == ']')
            return "host has a space, a control character or a bracket";
    }
    nport = n - (size_t)(colon + 1 - e);
    if (nport == 0 || nport >= sizeof(port))
        return "port must be 1 to 65535";
    memcpy(port, colon + 1, nport);
    port[nport] = '\0';
    if (!parse_int_range(port, 1, 65535, &v))
        return "port must be 1 to 65535";
    memcpy(p->host, host, nhost);
    p->host[nhost] = '\0';
    p->port = v;
    return NULL;
}

/*
 * --peers and --join (opt, for errors): parses list into peers[0..*npeers),
 * which holds SETTINGS_MAX_PEERS. A later list replaces an earlier one, so
 * that a wrapper script's default list can be overridden on its command line.
 */
static int parse_peer_list(const char *opt, const char *list, struct settings_peer *peers,
                           size_t *npeers, FILE *err)
{
    const char *e = list;

    *npeers = 0;
    for (;;) {
        size_t n = strcspn(e, ",");
        struct settings_peer *p;
        const char *why;

        if (*npeers == SETTINGS_MAX_PEERS) {
            error_line(err,
                       "meshcached: invalid value '%s' for option %s: more than %d "
                       "members (see --help)",
                       list, opt, SETTINGS_MAX_PEERS);
            return -1;
        }
        p = &peers[*npeers];
        why = parse_peer(e, n, p);
        if (why != NULL) {
            error_line(err,
                       "meshcached: invalid value '%s' for option %s: '%.*s': %s "
                       "(see --help)",
                       list, opt, (int)n, e, why);
            return -1;
        }
        /* As written: a name and its address are not recognised as one. */
        for (size_t i = 0; i < *npeers; i++) {
            if (peers[i].port == p->port && strcasecmp(peers[i].host, p->host) == 0) {
                error_line(err,
                           "meshcached: invalid value '%s' for option %s: '%.*s' is "
                           "listed twice (see --help)",
                           list, opt, (int)n, e);
                return -1;
            }
        }
        (*npeers)++;
        if (e[n] == '\0')
            return 0;
        e += n + 1;
    }
}

/*
 * The default --node-id: the address this node listens on, written as a
 * member's --peers entry would be. The first -l entry is taken; when it names
 * its own port (memcached's host:port and [addr]:port forms) it is used as
 * it is, otherwise -p is appended (with brackets around a bare IPv6 address).
 */
static int default_node_id(struct settings *s, FILE *err)
{
    const char *list = s->listen_addr + strspn(s->listen_addr, ",");
    size_t n = strcspn(list, ",");
    char first[sizeof(s->listen_addr)];
    const char *colon;
    int len;

    memcpy(first, list, n);
    first[n] = '\0';
    colon = strchr(first, ':');
    /* The same reading of the entry as the listener's. */
    if (first[0] == '[' ? strstr(first, "]:") != NULL
                        : colon != NULL && colon == strrchr(first, ':'))
        len = snprintf(s->node_id, sizeof(s->node_id), "%s", first);
    else if (first[0] == '[') /* "[v6]" without a port */
        len = snprintf(s->node_id, sizeof(s->node_id), "%s:%d", first, s->port);
    else
        len = util_format_hostport(s->node_id, sizeof(s->node_id), first, s->port);
    if (len < 0 || (size_t)len >= sizeof(s->node_id) || !valid_node_id(s->node_id)) {
        error_line(err,
                   "meshcached: -l '%s' makes no valid node id (1 to %d printable bytes "
                   "without spaces); give --node-id",
                   first, SETTINGS_MAX_ID_LEN);
        s->node_id[0] = '\0';
        return -1;
    }
    return 0;
}

static bool parse_consistency(const char *arg, enum consistency *out)
{
    if (strcmp(arg, "one") == 0)
        *out = CONSISTENCY_ONE;
    else if (strcmp(arg, "quorum") == 0)
        *out = CONSISTENCY_QUORUM;
    else if (strcmp(arg, "all") == 0)
        *out = CONSISTENCY_ALL;
    else
        return false;
    return true;
}

/*
 * Sets one quorum (*q, holding its default) once every flag is read, so that
 * the order of the flags does not matter: the value given by its own flag
 * (opt; 0 when not given) wins and must not exceed n = --replicas; else
 * --consistency's; else the default, lowered to n so that "--replicas 1"
 * alone is a valid command line.
 */
static int resolve_quorum(const char *opt, unsigned given, enum consistency c, unsigned n,
                          unsigned *q, FILE *err)
{
    if (given > n) {
        error_line(err, "meshcached: %s %u is larger than --replicas %u", opt, given, n);
        return -1;
    }
    if (given != 0)
        *q = given;
    else if (c == CONSISTENCY_ONE)
        *q = 1;
    else if (c == CONSISTENCY_QUORUM)
        *q = n / 2 + 1;
    else if (c == CONSISTENCY_ALL)
        *q = n;
    else if (*q > n)
        *q = n;
    return 0;
}

/* The option as the user wrote it, for error messages. */
static const char *option_name(const struct option *longopts, int opt, char *buf,
                               size_t cap)
{
    for (const struct option *o = longopts; o->name != NULL; o++) {
        if (o->val == opt) {
            if (opt > 0xff) /* long only */
                snprintf(buf, cap, "--%s", o->name);
            else
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
        {"protocol", required_argument, NULL, 'B'},
        {"enable-shutdown", no_argument, NULL, 'A'},
        {"disable-flush-all", no_argument, NULL, 'F'},
        {"disable-watch", no_argument, NULL, 'W'},
        {"disable-dumping", no_argument, NULL, 'X'},
        {"enable-ssl", no_argument, NULL, 'Z'},
        {"auth-file", required_argument, NULL, 'Y'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"node-id", required_argument, NULL, OPT_NODE_ID},
        {"peers", required_argument, NULL, OPT_PEERS},
        {"vnodes", required_argument, NULL, OPT_VNODES},
        {"cluster-port", required_argument, NULL, OPT_CLUSTER_PORT},
        {"join", required_argument, NULL, OPT_JOIN},
        {"cluster-key", required_argument, NULL, OPT_CLUSTER_KEY},
        {"replicas", required_argument, NULL, OPT_REPLICAS},
        {"write-quorum", required_argument, NULL, OPT_WRITE_QUORUM},
        {"read-quorum", required_argument, NULL, OPT_READ_QUORUM},
        {"consistency", required_argument, NULL, OPT_CONSISTENCY},
        {"http-port", required_argument, NULL, OPT_HTTP_PORT},
        {"http-token", required_argument, NULL, OPT_HTTP_TOKEN},
        {NULL, 0, NULL, 0}};
    enum consistency consistency = CONSISTENCY_UNSET;
    unsigned write_quorum = 0, read_quorum = 0; /* 0: not given */
    uint64_t size;
    int c, udp, num;
    char name[64];

    opterr = 0;
    optind = 0; /* 0, not 1: glibc then also forgets a half-read "-hd" cluster */
    while ((c = getopt_long(argc, argv, ":p:l:U:b:m:Mc:t:I:CR:vdP:u:o:B:AFWXD:ZY:hV",
                            longopts, NULL)) != -1) {
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
                error_line(err,
                           "meshcached: UDP is not supported; only -U 0 is accepted");
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
        case 'B':
            if (strcmp(optarg, "binary") == 0) {
                error_line(err, "meshcached: -B binary: the binary protocol is not "
                                "supported; use -B ascii or -B auto");
                return -1;
            }
            if (strcmp(optarg, "ascii") != 0 && strcmp(optarg, "auto") != 0)
                goto bad_value;
            s->protocol_auto = strcmp(optarg, "auto") == 0;
            break;
        case 'A':
            s->shutdown_command = true;
            break;
        case 'F':
            s->flush_enabled = false;
            break;
        case 'W':
            s->watch_enabled = false;
            break;
        case 'X':
            s->dump_enabled = false;
            break;
        case 'D':
            /* memcached takes the first character of the value */
            if (optarg[0] == '\0')
                goto bad_value;
            s->prefix_delimiter = optarg[0];
            s->detail_enabled = true;
            break;
        case 'Z':
            s->ssl_enabled = true;
            break;
        case 'Y':
            if (!copy_str(s->auth_file, sizeof(s->auth_file), optarg))
                goto bad_value;
            break;
        case OPT_NODE_ID:
            if (!valid_node_id(optarg))
                goto bad_value;
            memcpy(s->node_id, optarg, strlen(optarg) + 1);
            break;
        case OPT_PEERS:
            if (parse_peer_list("--peers", optarg, s->peers, &s->npeers, err) != 0)
                return -1;
            break;
        case OPT_VNODES:
            if (!parse_int_range(optarg, 1, RING_MAX_VNODES, &num))
                goto bad_value;
            s->vnodes = (unsigned)num;
            break;
        case OPT_REPLICAS:
            if (!parse_int_range(optarg, 1, SETTINGS_MAX_REPLICAS, &num))
                goto bad_value;
            s->replicas = (unsigned)num;
            break;
        case OPT_WRITE_QUORUM:
            if (!parse_int_range(optarg, 1, SETTINGS_MAX_REPLICAS, &num))
                goto bad_value;
            write_quorum = (unsigned)num;
            break;
        case OPT_READ_QUORUM:
            if (!parse_int_range(optarg, 1, SETTINGS_MAX_REPLICAS, &num))
                goto bad_value;
            read_quorum = (unsigned)num;
            break;
        case OPT_CONSISTENCY:
            if (!parse_consistency(optarg, &consistency))
                goto bad_value;
            break;
        case OPT_CLUSTER_PORT:
            if (!parse_int_range(optarg, 1, 65535, &s->cluster_port))
                goto bad_value;
            s->gossip = true;
            break;
        case OPT_JOIN:
            if (parse_peer_list("--join", optarg, s->joins, &s->njoins, err) != 0)
                return -1;
            s->gossip = true;
            break;
        case OPT_CLUSTER_KEY:
            /* Only the path: the daemon reads the secret at start-up. */
            if (!copy_str(s->cluster_key_file, sizeof(s->cluster_key_file), optarg))
                goto bad_value;
            break;
        case OPT_HTTP_PORT:
            if (!parse_int_range(optarg, 1, 65535, &s->http_port))
                goto bad_value;
            break;
        case OPT_HTTP_TOKEN:
            /* Only the path: the daemon reads the token at start-up. */
            if (!copy_str(s->http_token_file, sizeof(s->http_token_file), optarg))
                goto bad_value;
            break;
        case 'h':
            settings_usage(out);
            return 1;
        case 'V':
            fprintf(out, "meshcached %s\n", PACKAGE_VERSION);
            return 1;
        case ':':
            error_line(err, "meshcached: option %s needs a value",
                       option_name(longopts, optopt, name, sizeof(name)));
            return -1;
        default:
            if (optopt != 0)
                error_line(err, "meshcached: unknown option '-%c' (see --help)", optopt);
            else
                error_line(err, "meshcached: unknown option '%s' (see --help)",
                           argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        error_line(err, "meshcached: unexpected argument '%s' (see --help)",
                   argv[optind]);
        return -1;
    }
    if ((uint64_t)s->item_size_max > s->maxbytes / 2) {
        error_line(err, "meshcached: -I %u is more than half of -m (%llu bytes)",
                   s->item_size_max, (unsigned long long)s->maxbytes);
        return -1;
    }
    /* Two sources of membership would disagree on who is in the ring. */
    if (s->gossip && s->npeers > 0) {
        error_line(err,
                   "meshcached: --peers cannot be used with %s: membership is either "
                   "static or gossiped",
                   s->njoins > 0 ? "--join" : "--cluster-port");
        return -1;
    }
    if (s->gossip && s->cluster_port == 0) {
        if (s->port > 65535 - CLUSTER_PORT_OFFSET) {
            error_line(err,
                       "meshcached: -p %d leaves no default cluster port (-p + %d is "
                       "above 65535); give --cluster-port",
                       s->port, CLUSTER_PORT_OFFSET);
            return -1;
        }
        s->cluster_port = s->port + CLUSTER_PORT_OFFSET;
    }
    if (resolve_quorum("--write-quorum", write_quorum, consistency, s->replicas,
                       &s->write_quorum, err) != 0 ||
        resolve_quorum("--read-quorum", read_quorum, consistency, s->replicas,
                       &s->read_quorum, err) != 0)
        return -1;
    if (s->node_id[0] == '\0' && default_node_id(s, err) != 0)
        return -1;
    return settings_tls_check(s, err);

bad_value:
    error_line(err, "meshcached: invalid value '%s' for option %s (see --help)", optarg,
               option_name(longopts, c, name, sizeof(name)));
    return -1;
}
