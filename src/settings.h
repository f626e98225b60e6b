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
};

/* Fills s with the defaults. */
void settings_defaults(struct settings *s);

/*
 * Parses argv into s (which must hold the defaults). Returns 0 to run, 1 when
 * the command only asked for help or the version (already printed to out),
 * or -1 after printing a one-line error to err (exit with
 * SETTINGS_EXIT_USAGE). Warnings (ignored memcached-only options) go to err.
 */
int settings_parse(struct settings *s, int argc, char **argv, FILE *out, FILE *err);

/* Prints the --help text. */
void settings_usage(FILE *out);

#endif
