/*
 * settings: the daemon's flags, parsed and validated into one struct.
 *
 * settings_parse() runs once in main() before any thread starts; afterwards
 * the struct is read-only and shared by every thread without locks. Flags
 * follow memcached's where the meaning is the same. Invalid values are
 * refused (never clamped) so that a typo cannot silently change behaviour.
 */
#ifndef MESHCACHED_SETTINGS_H
#define MESHCACHED_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SETTINGS_EXIT_USAGE 64 /* sysexits.h EX_USAGE */

#define SETTINGS_MAX_PEERS    128 /* entries in --peers, in --join */
#define SETTINGS_MAX_ID_LEN   255 /* bytes in --node-id (RING_MAX_ID_LEN) */
#define SETTINGS_MAX_REPLICAS 16  /* --replicas, and so --write/read-quorum */

/* One --peers or --join entry: a member's client port for --peers, its
 * cluster (gossip) port for --join; either list may hold this node's own
 * address. */
struct settings_peer {
    char host[256]; /* name or address, as given (no brackets for IPv6) */
    int port;       /* 1..65535 */
};

struct settings {
    int port;               /* -p: TCP port for clients */
    char listen_addr[256];  /* -l: address to bind */
    int backlog;            /* -b: listen(2) backlog */
    uint64_t maxbytes;      /* -m: item memory limit in bytes */
    int maxconns;           /* -c: simultaneous client connections */
    int num_threads;        /* -t: worker threads */
    uint32_t item_size_max; /* -I: largest value accepted, in bytes */
    bool evict_to_free;     /* false with -M: fail writes instead of evicting */
    bool use_cas;           /* false with -C: CAS values are always 0 */
    int verbose;            /* -v count */
    bool daemonize;         /* -d */
    char pidfile[4096];     /* -P, empty for none */
    char username[256];     /* -u, empty for none */
    int reqs_per_event;     /* -R: commands per read event before yielding */
    uint32_t idle_timeout;  /* -o idle_timeout: seconds, 0 = never */
    /* operator commands (memcached's -A, -F, -W, -X, -D, -B) */
    bool shutdown_command; /* -A: the shutdown command is allowed */
    bool flush_enabled;    /* false with -F: flush_all is refused */
    bool watch_enabled;    /* false with -W: watch is refused */
    bool dump_enabled;     /* false with -X: cachedump and metadump are refused */
    char prefix_delimiter; /* -D: ends a key's prefix for stats detail (':') */
    bool detail_enabled;   /* -D also turns stats detail on, as in memcached */
    bool protocol_auto;    /* -B auto (the default) rather than -B ascii */
    char auth_file[4096];  /* -Y: ASCII authentication's user:pass file; empty: off */
    /* TLS on every client port (memcached's -Z and -o ssl_*; base/tls.h) */
    bool ssl_enabled;          /* -Z */
    char ssl_chain_cert[4096]; /* -o ssl_chain_cert: PEM certificate chain */
    char ssl_key[4096];        /* -o ssl_key: private key; default: the chain file */
    char ssl_ca_cert[4096];    /* -o ssl_ca_cert: CAs of client certificates */
    int ssl_verify_mode;       /* -o ssl_verify_mode 0..3, as OpenSSL's SSL_VERIFY_*
                                * bits (0, 1, 3, 7), which stats settings shows */
    int ssl_keyformat;         /* -o ssl_keyformat: SSL_FILETYPE_PEM (1) or _ASN1 (2) */
    char ssl_ciphers[1024];    /* -o ssl_ciphers: OpenSSL cipher list; empty: default */
    uint32_t ssl_wbuf_size;    /* -o ssl_wbuf_size: bytes per TLS write (16 KiB) */
    bool ssl_session_cache;    /* -o ssl_session_cache: resumable sessions */
    bool ssl_kernel_tls;       /* -o ssl_kernel_tls: kernel TLS offload when possible */
    int ssl_min_version;       /* -o ssl_min_version: 0 TLS 1.0 .. 3 TLS 1.3 */

    /* cluster */
    char node_id[SETTINGS_MAX_ID_LEN + 1];          /* --node-id, or "<-l>:<-p>" */
    struct settings_peer peers[SETTINGS_MAX_PEERS]; /* --peers, in order given */
    size_t npeers;                                  /* 0: a single node */
    unsigned vnodes;                                /* --vnodes: ring points per node */
    uint32_t peer_timeout_ms; /* -o peer_timeout_ms: forwarded request deadline */
    /* gossip membership (SWIM); on when --join or --cluster-port is given */
    bool gossip;      /* --join or --cluster-port seen */
    int cluster_port; /* --cluster-port; default -p + 1000 */
    struct settings_peer joins[SETTINGS_MAX_PEERS]; /* --join seeds (gossip ports) */
    size_t njoins;                                  /* 0: start a new cluster */
    char cluster_key_file[4096]; /* --cluster-key; empty: messages unauthenticated */
    uint32_t gossip_interval_ms; /* -o gossip_interval_ms: protocol period */
    /* replication; the flags are accepted on a single node too, where they
     * have no effect */
    unsigned replicas;           /* --replicas: owners (copies) of every key, N */
    unsigned write_quorum;       /* --write-quorum: owners that store a write before
                                  * the client's reply, W <= N */
    unsigned read_quorum;        /* --read-quorum: owners a read consults, R <= N */
    uint32_t tombstone_ttl;      /* -o tombstone_ttl: seconds a delete's tombstone
                                  * is kept */
    double read_repair_chance;   /* -o read_repair_chance: with R = 1, fraction of
                                  * reads that check the other owners, 0..1 */
    uint32_t hints_max;          /* -o hints_max: writes kept per node for down
                                  * owners (hinted handoff), 0 = none */
    uint32_t ae_interval_ms;     /* -o ae_interval_ms: anti-entropy exchanges,
                                  * one per interval, 0 = none */
    uint32_t ae_bytes_per_sec;   /* -o ae_bytes_per_sec: their average bandwidth */
    bool handoff;                /* -o handoff: move items to their new owners */
    bool io_uring;               /* -o io_uring: batch reply sends (net/sendq.h) */
    uint32_t handoff_timeout_ms; /* -o handoff_timeout_ms: leaving, at most this
                                  * long handing items off, 0 = not at all */
    /* the HTTP admin port (src/admin/) */
    int http_port;              /* --http-port on the -l address; 0 = off */
    char http_token_file[4096]; /* --http-token: bearer token of the routes that
                                 * write or list keys; empty: they answer 403 */
    /* hot keys (settings_hot.c) */
    uint32_t hotkeys_k;      /* -o hotkeys_k: hot keys tracked and listed */
    uint32_t hot_cache_ms;   /* -o hot_cache_ms: near copies live this long, 0 = off */
    uint32_t hot_cache_mb;   /* -o hot_cache_mb: near cache memory, 0 = off */
    uint32_t ttl_jitter_pct; /* -o ttl_jitter_pct: expiry shortened by 0..pct % */
};

/* Fills s with the defaults; node_id is left empty for settings_parse() to
 * derive from -l and -p. */
void settings_defaults(struct settings *s);

/*
 * Parses argv into s (which must hold the defaults). Returns 0 to run, 1 when
 * the command only asked for help or the version (already printed to out),
 * or -1 after printing a one-line error to err (exit with
 * SETTINGS_EXIT_USAGE). Warnings (ignored memcached-only options) go to err.
 * On 0, node_id is set: without --node-id it is the first -l entry with its
 * port ("127.0.0.1:11211", "[::1]:11211"), and -1 if that is not a valid id.
 * A later --peers or --join replaces an earlier list; the entries are unique
 * as written. --peers with --join or --cluster-port is -1. With gossip on and
 * no --cluster-port, cluster_port is set to -p + 1000, and -1 returned if
 * that is above 65535. --cluster-key is checked for length only, not read.
 * --consistency one|quorum|all sets whichever of write_quorum and read_quorum
 * was not given by --write-quorum / --read-quorum (in any order) to 1,
 * replicas / 2 + 1 or replicas; without either, write_quorum is lowered to
 * replicas when that is less. An explicit quorum above replicas is -1.
 */
int settings_parse(struct settings *s, int argc, char **argv, FILE *out, FILE *err);

/* Prints the --help text. */
void settings_usage(FILE *out);

/* Prints one line to err as the parser does (control characters as \xNN). */
void settings_error_line(FILE *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* settings_tls.c: -Z, -Y and the -o ssl_* keys. settings_tls_ext() parses
 * one -o key: 1 when it was one of them (0 when not; -1 after an error
 * line); settings_tls_check() runs after every flag is read (0 or -1);
 * settings_tls_usage() prints their --help lines. */
int settings_tls_ext(struct settings *s, const char *key, const char *val, FILE *err);
int settings_tls_check(struct settings *s, FILE *err);
void settings_tls_usage(FILE *out);
/* settings_hot.c: the hot-key options' defaults; their --help lines; and
 * -o opt=val when opt is one of them: 1 when parsed, 0 when opt is not
 * theirs, -1 after a one-line error to err. */
void settings_hot_defaults(struct settings *s);
void settings_hot_usage(FILE *out);
int settings_hot_ext(struct settings *s, const char *opt, const char *val, FILE *err);

#endif
