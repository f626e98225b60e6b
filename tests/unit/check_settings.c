/* check_settings: flag parsing and validation; bad values are refused with
 * one line on stderr, never clamped. */
#include <check.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cluster/ring.h"
#include "base/settings.h"

#define MAX_ARGS     32
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One settings_parse() call with captured output. */
struct run {
    struct settings s;
    int rc;
    char *out; /* what went to out, NUL-terminated */
    char *err; /* what went to err */
};

static struct run r;

/* Forgets glibc getopt's position inside a previous, freed argv (see
 * test_settings_a_second_parse_does_not_inherit_the_first_ones_state):
 * optind = 0 is the documented way to reinitialize the scanner. */
static void reset_getopt(void)
{
    char prog[] = "x";
    char *argv[] = {prog, NULL};

    optind = 0;
    while (getopt(1, argv, "") != -1)
        ;
}

/* Parses the NULL-terminated argument list (argv[0] is supplied) into s,
 * which the caller filled with the defaults; the result and the output go to
 * r. Arguments are copied because the parser may write into them (strtok_r
 * on -o lists). */
static int parse_into(struct settings *s, const char *first, ...)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    size_t outlen = 0, errlen = 0;
    FILE *out, *err;
    va_list ap;

    argv[argc++] = strdup("meshcached");
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, char *)) {
        ck_assert_int_lt(argc, MAX_ARGS);
        argv[argc++] = strdup(a);
    }
    va_end(ap);
    argv[argc] = NULL;

    free(r.out);
    free(r.err);
    r.out = r.err = NULL;
    out = open_memstream(&r.out, &outlen);
    err = open_memstream(&r.err, &errlen);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(err);
    reset_getopt();
    r.rc = settings_parse(s, argc, argv, out, err);
    fclose(out);
    fclose(err);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return r.rc;
}

#define PARSE(...) (settings_defaults(&r.s), parse_into(&r.s, __VA_ARGS__, (char *)NULL))

static void teardown(void)
{
    free(r.out);
    free(r.err);
    r.out = r.err = NULL;
}

static int count_char(const char *s, char c)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

/* A refused command line: -1, nothing on out, exactly one line on err. */
static void assert_refused(const char *what)
{
    ck_assert_msg(r.rc == -1, "%s: accepted (rc %d)", what, r.rc);
    ck_assert_msg(r.out[0] == '\0', "%s: wrote to out: %s", what, r.out);
    ck_assert_msg(count_char(r.err, '\n') == 1 && r.err[strlen(r.err) - 1] == '\n',
                  "%s: not one line: \"%s\"", what, r.err);
    ck_assert_msg(strncmp(r.err, "meshcached: ", 12) == 0, "%s: \"%s\"", what, r.err);
}

/* Checks that flag is refused, on one line that names it, with each value in
 * bad (as a separate argument) and with no value. */
static void assert_flag_refuses(const char *flag, const char *const *bad, size_t nbad)
{
    char label[64];

    for (size_t i = 0; i <= nbad; i++) {
        if (i < nbad) {
            snprintf(label, sizeof(label), "%s='%s'", flag, bad[i]);
            PARSE(flag, bad[i]);
        } else {
            snprintf(label, sizeof(label), "%s without a value", flag);
            PARSE(flag);
        }
        assert_refused(label);
        ck_assert_msg(strstr(r.err, flag) != NULL, "%s: %s", label, r.err);
    }
}

/* --help shows each of entries ("--flag=<arg>") at the start of an indented
 * line. */
static void assert_help_lists(const char *const *entries, size_t n)
{
    char want[128];

    ck_assert_int_eq(PARSE("--help"), 1);
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "\n    %s ", entries[i]);
        ck_assert_msg(strstr(r.out, want) != NULL, "--help does not list %s", entries[i]);
    }
}

/* -o key=lo and -o key=hi are taken silently into *field, a field of r.s
 * (which every PARSE fills again). */
static void assert_o_takes_bounds(const char *key, const uint32_t *field, uint32_t lo,
                                  uint32_t hi)
{
    const uint32_t bounds[] = {lo, hi};
    char item[64];

    for (size_t i = 0; i < ARRAY_LEN(bounds); i++) {
        snprintf(item, sizeof(item), "%s=%" PRIu32, key, bounds[i]);
        ck_assert_msg(PARSE("-o", item) == 0, "-o %s refused: %s", item, r.err);
        ck_assert_uint_eq(*field, bounds[i]);
        ck_assert_str_eq(r.err, "");
    }
}

/* Each -o item in bad is refused on one line that names key; unless error is
 * NULL, the line for bad[0] is error to the letter. */
static void assert_o_refuses(const char *key, const char *const *bad, size_t nbad,
                             const char *error)
{
    for (size_t i = 0; i < nbad; i++) {
        PARSE("-o", bad[i]);
        assert_refused(bad[i]);
        ck_assert_msg(strstr(r.err, key) != NULL, "%s: %s", bad[i], r.err);
        if (i == 0 && error != NULL)
            ck_assert_str_eq(r.err, error);
    }
}

START_TEST(test_settings_defaults_match_memcached_where_they_overlap)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert_int_eq(s.port, 11211);
    ck_assert_str_eq(s.listen_addr, "127.0.0.1");
    ck_assert_int_eq(s.backlog, 1024);
    ck_assert_uint_eq(s.maxbytes, 64ULL * 1024 * 1024);
    ck_assert_int_eq(s.maxconns, 1024);
    ck_assert_int_eq(s.num_threads, 4);
    ck_assert_uint_eq(s.item_size_max, 1024 * 1024);
    ck_assert(s.evict_to_free);
    ck_assert(s.use_cas);
    ck_assert_int_eq(s.verbose, 0);
    ck_assert(!s.daemonize);
    ck_assert_str_eq(s.pidfile, "");
    ck_assert_str_eq(s.username, "");
    ck_assert_int_eq(s.reqs_per_event, 20);
    ck_assert_uint_eq(s.idle_timeout, 0);
}
END_TEST

START_TEST(test_settings_cluster_defaults_are_a_single_node)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert_str_eq(s.node_id, ""); /* derived by settings_parse() */
    ck_assert_uint_eq(s.npeers, 0);
    ck_assert_uint_eq(s.vnodes, RING_DEFAULT_VNODES);
    ck_assert_uint_eq(s.vnodes, 16384);
    ck_assert_uint_eq(s.peer_timeout_ms, 500);
}
END_TEST

START_TEST(test_settings_no_arguments_keeps_the_defaults_silently)
{
    struct settings d;

    settings_defaults(&d);
    strcpy(d.node_id, "127.0.0.1:11211");
    settings_defaults(&r.s);
    ck_assert_int_eq(parse_into(&r.s, NULL), 0);
    ck_assert_mem_eq(&r.s, &d, sizeof(d));
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(test_settings_parses_every_short_flag)
{
    ck_assert_int_eq(PARSE("-p", "12345", "-l", "0.0.0.0", "-U", "0", "-b", "77", "-m",
                           "128", "-M", "-c", "99", "-t", "8", "-I", "2m", "-C", "-R",
                           "7", "-v", "-d", "-P", "/tmp/mc.pid", "-u", "nobody", "-o",
                           "idle_timeout=30"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert_int_eq(r.s.port, 12345);
    ck_assert_str_eq(r.s.listen_addr, "0.0.0.0");
    ck_assert_int_eq(r.s.backlog, 77);
    ck_assert_uint_eq(r.s.maxbytes, 128ULL * 1024 * 1024);
    ck_assert(!r.s.evict_to_free);
    ck_assert_int_eq(r.s.maxconns, 99);
    ck_assert_int_eq(r.s.num_threads, 8);
    ck_assert_uint_eq(r.s.item_size_max, 2 * 1024 * 1024);
    ck_assert(!r.s.use_cas);
    ck_assert_int_eq(r.s.reqs_per_event, 7);
    ck_assert_int_eq(r.s.verbose, 1);
    ck_assert(r.s.daemonize);
    ck_assert_str_eq(r.s.pidfile, "/tmp/mc.pid");
    ck_assert_str_eq(r.s.username, "nobody");
    ck_assert_uint_eq(r.s.idle_timeout, 30);
}
END_TEST

START_TEST(test_settings_parses_long_options_in_both_spellings)
{
    ck_assert_int_eq(PARSE("--port=2000", "--listen", "::1", "--udp-port=0",
                           "--listen-backlog=5", "--memory-limit=256",
                           "--disable-evictions", "--conn-limit", "10", "--threads=2",
                           "--max-item-size=512k", "--disable-cas",
                           "--max-reqs-per-event=3", "--daemon", "--pidfile=/run/x.pid",
                           "--user=mc", "--extended=idle_timeout=9"),
                     0);
    ck_assert_int_eq(r.s.port, 2000);
    ck_assert_str_eq(r.s.listen_addr, "::1");
    ck_assert_int_eq(r.s.backlog, 5);
    ck_assert_uint_eq(r.s.maxbytes, 256ULL * 1024 * 1024);
    ck_assert(!r.s.evict_to_free);
    ck_assert_int_eq(r.s.maxconns, 10);
    ck_assert_int_eq(r.s.num_threads, 2);
    ck_assert_uint_eq(r.s.item_size_max, 512 * 1024);
    ck_assert(!r.s.use_cas);
    ck_assert_int_eq(r.s.reqs_per_event, 3);
    ck_assert(r.s.daemonize);
    ck_assert_str_eq(r.s.pidfile, "/run/x.pid");
    ck_assert_str_eq(r.s.username, "mc");
    ck_assert_uint_eq(r.s.idle_timeout, 9);
}
END_TEST

START_TEST(test_settings_accepts_attached_short_values)
{
    ck_assert_int_eq(PARSE("-p2001", "-t3", "-m32"), 0);
    ck_assert_int_eq(r.s.port, 2001);
    ck_assert_int_eq(r.s.num_threads, 3);
    ck_assert_uint_eq(r.s.maxbytes, 32ULL * 1024 * 1024);
}
END_TEST

START_TEST(test_settings_counts_repeated_verbose_flags)
{
    ck_assert_int_eq(PARSE("-vv"), 0);
    ck_assert_int_eq(r.s.verbose, 2);
    ck_assert_int_eq(PARSE("-v", "-v", "-v"), 0);
    ck_assert_int_eq(r.s.verbose, 3);
    ck_assert_int_eq(PARSE("--verbose=2"), 0);
    ck_assert_int_eq(r.s.verbose, 2);
}
END_TEST

START_TEST(test_settings_memory_limit_takes_megabytes_or_a_suffixed_size)
{
    ck_assert_int_eq(PARSE("-m", "1024"), 0);
    ck_assert_uint_eq(r.s.maxbytes, 1024ULL * 1024 * 1024);
    ck_assert_int_eq(PARSE("-m", "1g"), 0);
    ck_assert_uint_eq(r.s.maxbytes, 1024ULL * 1024 * 1024);
    ck_assert_int_eq(PARSE("-m", "4096k", "-I", "1k"), 0);
    ck_assert_uint_eq(r.s.maxbytes, 4ULL * 1024 * 1024);
}
END_TEST

START_TEST(test_settings_item_size_accepts_bytes_and_suffixes_within_1k_to_1g)
{
    ck_assert_int_eq(PARSE("-I", "1024"), 0);
    ck_assert_uint_eq(r.s.item_size_max, 1024);
    ck_assert_int_eq(PARSE("-I", "1k"), 0);
    ck_assert_uint_eq(r.s.item_size_max, 1024);
    ck_assert_int_eq(PARSE("-m", "4096", "-I", "1g"), 0);
    ck_assert_uint_eq(r.s.item_size_max, 1024u * 1024 * 1024);
    ck_assert_int_eq(PARSE("-m", "4096", "-I", "1024m"), 0);
    ck_assert_uint_eq(r.s.item_size_max, 1024u * 1024 * 1024);
}
END_TEST

START_TEST(test_settings_refuses_port_zero_and_ports_beyond_65535)
{
    PARSE("-p", "0");
    assert_refused("-p 0");
    PARSE("-p", "70000");
    assert_refused("-p 70000");
    PARSE("-p", "65536");
    assert_refused("-p 65536");
    PARSE("-p", "-1");
    assert_refused("-p -1");
    PARSE("-p", "http");
    assert_refused("-p http");
    PARSE("-p", "");
    assert_refused("-p ''");
    ck_assert_int_eq(PARSE("-p", "65535"), 0);
    ck_assert_int_eq(r.s.port, 65535);
}
END_TEST

START_TEST(test_settings_refuses_zero_threads_and_too_many)
{
    PARSE("-t", "0");
    assert_refused("-t 0");
    PARSE("-t", "-4");
    assert_refused("-t -4");
    PARSE("-t", "100000");
    assert_refused("-t 100000");
}
END_TEST

START_TEST(test_settings_refuses_memory_below_one_megabyte)
{
    PARSE("-m", "0");
    assert_refused("-m 0");
    PARSE("-m", "512k");
    assert_refused("-m 512k");
    PARSE("-m", "lots");
    assert_refused("-m lots");
    PARSE("-m", "-64");
    assert_refused("-m -64");
}
END_TEST

START_TEST(test_settings_refuses_item_size_outside_1k_to_1g)
{
    PARSE("-I", "512");
    assert_refused("-I 512");
    PARSE("-I", "1023");
    assert_refused("-I 1023");
    PARSE("-m", "8192", "-I", "2g");
    assert_refused("-I 2g");
    PARSE("-m", "8192", "-I", "1025m");
    assert_refused("-I 1025m");
    PARSE("-I", "1q");
    assert_refused("-I 1q");
}
END_TEST

START_TEST(test_settings_refuses_item_size_above_half_the_memory_limit)
{
    PARSE("-m", "1", "-I", "1m");
    assert_refused("-m 1 -I 1m");
    /* order does not matter: checked once everything is parsed */
    PARSE("-I", "4m", "-m", "4");
    assert_refused("-I 4m -m 4");
    /* exactly half is fine */
    ck_assert_int_eq(PARSE("-m", "2", "-I", "1m"), 0);
    /* the default -I 1m with -m 1 is too big as well, as in memcached */
    PARSE("-m", "1");
    assert_refused("-m 1");
}
END_TEST

START_TEST(test_settings_refuses_udp_other_than_zero)
{
    PARSE("-U", "1");
    assert_refused("-U 1");
    ck_assert_ptr_nonnull(strstr(r.err, "UDP"));
    PARSE("-U", "11211");
    assert_refused("-U 11211");
    ck_assert_int_eq(PARSE("-U", "0"), 0);
}
END_TEST

START_TEST(test_settings_refuses_other_out_of_range_numbers)
{
    PARSE("-c", "0");
    assert_refused("-c 0");
    PARSE("-b", "0");
    assert_refused("-b 0");
    PARSE("-R", "0");
    assert_refused("-R 0");
    PARSE("--verbose=9");
    assert_refused("--verbose=9");
}
END_TEST

START_TEST(test_settings_refuses_empty_and_oversized_strings)
{
    char big[5000];

    PARSE("-l", "");
    assert_refused("-l ''");
    PARSE("-P", "");
    assert_refused("-P ''");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    PARSE("-P", big);
    assert_refused("-P <4999 bytes>");
    big[300] = '\0';
    PARSE("-u", big);
    assert_refused("-u <300 bytes>");
    PARSE("-l", big);
    assert_refused("-l <300 bytes>");
}
END_TEST

START_TEST(test_settings_refuses_unknown_options)
{
    PARSE("-x");
    assert_refused("-x");
    ck_assert_ptr_nonnull(strstr(r.err, "-x"));
    PARSE("--no-such-option");
    assert_refused("--no-such-option");
    ck_assert_ptr_nonnull(strstr(r.err, "--no-such-option"));
}
END_TEST

START_TEST(test_settings_refuses_a_missing_argument)
{
    PARSE("-p");
    assert_refused("-p");
    ck_assert_ptr_nonnull(strstr(r.err, "-p"));
    PARSE("-d", "-m");
    assert_refused("-m");
    PARSE("--threads");
    assert_refused("--threads");
}
END_TEST

START_TEST(test_settings_refuses_stray_positional_arguments)
{
    PARSE("-p", "2000", "extra");
    assert_refused("extra");
    ck_assert_ptr_nonnull(strstr(r.err, "extra"));
}
END_TEST

START_TEST(test_settings_refuses_unknown_or_malformed_extended_options)
{
    PARSE("-o", "no_such_key=1");
    assert_refused("-o no_such_key=1");
    ck_assert_ptr_nonnull(strstr(r.err, "no_such_key"));
    PARSE("-o", "idle_timeout");
    assert_refused("-o idle_timeout");
    PARSE("-o", "idle_timeout=soon");
    assert_refused("-o idle_timeout=soon");
    PARSE("-o", "modern,bogus");
    ck_assert_int_eq(r.rc, -1);
    ck_assert_ptr_nonnull(strstr(r.err, "bogus"));
}
END_TEST

START_TEST(test_settings_accepts_memcached_only_extended_options_with_a_warning)
{
    ck_assert_int_eq(PARSE("-o", "modern"), 0);
    ck_assert_ptr_nonnull(strstr(r.err, "warning"));
    ck_assert_ptr_nonnull(strstr(r.err, "modern"));
    ck_assert_str_eq(r.out, "");

    ck_assert_int_eq(PARSE("-o", "hashpower=20,no_lru_crawler,ext_path=/tmp/x:1g,"
                                 "slab_reassign,idle_timeout=7"),
                     0);
    ck_assert_uint_eq(r.s.idle_timeout, 7);
    ck_assert_int_eq(count_char(r.err, '\n'), 4);
    ck_assert_ptr_nonnull(strstr(r.err, "hashpower"));
    ck_assert_ptr_nonnull(strstr(r.err, "lru_crawler"));
}
END_TEST

START_TEST(test_settings_help_prints_usage_and_asks_to_exit)
{
    ck_assert_int_eq(PARSE("-h"), 1);
    ck_assert_ptr_nonnull(strstr(r.out, "Usage: meshcached"));
    ck_assert_ptr_nonnull(strstr(r.out, "--max-item-size"));
    ck_assert_str_eq(r.err, "");
    ck_assert_int_eq(PARSE("-p", "2000", "--help"), 1);
    ck_assert_ptr_nonnull(strstr(r.out, "Usage: meshcached"));
}
END_TEST

START_TEST(test_settings_version_prints_the_package_version_and_asks_to_exit)
{
    ck_assert_int_eq(PARSE("-V"), 1);
    ck_assert_str_eq(r.out, "meshcached " PACKAGE_VERSION "\n");
    ck_assert_str_eq(r.err, "");
    ck_assert_int_eq(PARSE("--version"), 1);
    ck_assert_str_eq(r.out, "meshcached " PACKAGE_VERSION "\n");
}
END_TEST

/* The value in its own argument ("-p 0"): the message must still name the
 * flag, not repeat the value ("invalid value '0' for option '0'"). */
START_TEST(test_settings_error_names_the_flag_when_the_value_is_a_separate_argument)
{
    PARSE("-p", "0");
    assert_refused("-p 0");
    ck_assert_msg(strstr(r.err, "-p") != NULL, "message does not name -p: %s", r.err);
    PARSE("--threads", "0");
    assert_refused("--threads 0");
    ck_assert_msg(strstr(r.err, "-t") != NULL || strstr(r.err, "--threads") != NULL,
                  "message does not name --threads: %s", r.err);
    PARSE("-m", "0");
    assert_refused("-m 0");
    ck_assert_msg(strstr(r.err, "-m") != NULL, "message does not name -m: %s", r.err);
}
END_TEST

/* The settings header promises invalid values are refused: the protocol's
 * lenient number rule (white space ends a number, anything may follow) must
 * not let "-t '4 8'" through as 4 threads. */
START_TEST(test_settings_refuses_numbers_followed_by_junk)
{
    PARSE("-t", "4 8");
    assert_refused("-t '4 8'");
    PARSE("-p", "11211 junk");
    assert_refused("-p '11211 junk'");
}
END_TEST

/* BUG: settings_parse() resets getopt with optind = 1, which in glibc does
 * not clear the scanner's position inside a group of short flags: a parse
 * that returned in the middle of "-hd" leaves "d" pending, and the next
 * parse applies it (reading the previous argv, which may have been freed). */
START_TEST(test_settings_a_second_parse_does_not_inherit_the_first_ones_state)
{
    char prog[] = "meshcached", hd[] = "-hd", p[] = "-p", port[] = "2000";
    char *first[] = {prog, hd, NULL};
    char *second[] = {prog, p, port, NULL};
    struct settings s;
    FILE *devnull = fopen("/dev/null", "w");
    int rc;

    ck_assert_ptr_nonnull(devnull);
    reset_getopt();
    settings_defaults(&s);
    ck_assert_int_eq(settings_parse(&s, 2, first, devnull, devnull), 1);
    settings_defaults(&s);
    rc = settings_parse(&s, 3, second, devnull, devnull);
    fclose(devnull);
    ck_assert_msg(
        rc == 0 && s.port == 2000 && !s.daemonize,
        "\"-p 2000\" after \"-hd\": rc %d, port %d, daemonize %d (want 0, 2000, 0)", rc,
        s.port, s.daemonize);
}
END_TEST

/* ---- cluster flags ---- */

/* s filled with c repeated n times. */
static char *repeat(char *s, char c, size_t n)
{
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(test_settings_node_id_defaults_to_the_listen_address_and_port)
{
    ck_assert_int_eq(PARSE("-v"), 0);
    ck_assert_str_eq(r.s.node_id, "127.0.0.1:11211");
    ck_assert_int_eq(PARSE("-l", "10.1.2.3", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "10.1.2.3:2000");
    ck_assert_int_eq(PARSE("-l", "cache-1.example", "--port=2001"), 0);
    ck_assert_str_eq(r.s.node_id, "cache-1.example:2001");
    /* the first of several -l entries */
    ck_assert_int_eq(PARSE("-l", "10.0.0.1,10.0.0.2", "-p", "3000"), 0);
    ck_assert_str_eq(r.s.node_id, "10.0.0.1:3000");
}
END_TEST

/* An -l entry that names its own port is where this node listens: it is the
 * id as it is. A bare IPv6 address gets brackets, as in a --peers entry. */
START_TEST(test_settings_node_id_default_follows_the_forms_of_listen)
{
    ck_assert_int_eq(PARSE("-l", "10.1.2.3:3000", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "10.1.2.3:3000");
    ck_assert_int_eq(PARSE("-l", "::1"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:11211");
    ck_assert_int_eq(PARSE("-l", "[::1]", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:2000");
    ck_assert_int_eq(PARSE("-l", "[::1]:3000", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:3000");
    ck_assert_int_eq(PARSE("-l", "::1,127.0.0.1", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:2000");
}
END_TEST

START_TEST(test_settings_node_id_takes_printable_ascii_up_to_255_bytes)
{
    char id[300], all[0x7f - 0x21 + 1];

    ck_assert_int_eq(PARSE("--node-id=cache-a"), 0);
    ck_assert_str_eq(r.s.node_id, "cache-a");
    ck_assert_str_eq(r.err, "");
    /* given, it wins over the default whatever the order */
    ck_assert_int_eq(PARSE("--node-id", "n1", "-l", "10.0.0.9", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "n1");
    ck_assert_int_eq(PARSE("--node-id=x", "--node-id=y"), 0);
    ck_assert_str_eq(r.s.node_id, "y");
    ck_assert_int_eq(PARSE("--node-id", repeat(id, 'a', 255)), 0);
    ck_assert_str_eq(r.s.node_id, id);
    for (int c = 0x21; c <= 0x7e; c++)
        all[c - 0x21] = (char)c;
    all[sizeof(all) - 1] = '\0';
    ck_assert_int_eq(PARSE("--node-id", all), 0);
    ck_assert_str_eq(r.s.node_id, all);
}
END_TEST

START_TEST(test_settings_peers_parse_names_ipv4_and_bracketed_ipv6)
{
    ck_assert_int_eq(PARSE("--peers=10.0.0.1:11211,cache-b.example:11212,[::1]:11213,"
                           "[fe80::1%eth0]:1,Host-C:65535"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(r.s.npeers, 5);
    ck_assert_str_eq(r.s.peers[0].host, "10.0.0.1");
    ck_assert_int_eq(r.s.peers[0].port, 11211);
    ck_assert_str_eq(r.s.peers[1].host, "cache-b.example");
    ck_assert_int_eq(r.s.peers[1].port, 11212);
    ck_assert_str_eq(r.s.peers[2].host, "::1");
    ck_assert_int_eq(r.s.peers[2].port, 11213);
    ck_assert_str_eq(r.s.peers[3].host, "fe80::1%eth0");
    ck_assert_int_eq(r.s.peers[3].port, 1);
    ck_assert_str_eq(r.s.peers[4].host, "Host-C");
    ck_assert_int_eq(r.s.peers[4].port, 65535);
    ck_assert_int_eq(PARSE("--peers", "127.0.0.1:2000"), 0);
    ck_assert_uint_eq(r.s.npeers, 1);
}
END_TEST

/* Every node of a cluster can be given the same list. */
START_TEST(test_settings_peers_may_list_this_nodes_own_address)
{
    ck_assert_int_eq(PARSE("-p", "2001", "--peers=127.0.0.1:2001,127.0.0.1:2002"), 0);
    ck_assert_uint_eq(r.s.npeers, 2);
    ck_assert_str_eq(r.s.node_id, "127.0.0.1:2001");
    ck_assert_str_eq(r.s.peers[0].host, "127.0.0.1");
    ck_assert_int_eq(r.s.peers[0].port, 2001);
}
END_TEST

START_TEST(test_settings_a_later_peers_list_replaces_an_earlier_one)
{
    ck_assert_int_eq(PARSE("--peers=a:1,b:2,c:3", "--peers=d:4"), 0);
    ck_assert_uint_eq(r.s.npeers, 1);
    ck_assert_str_eq(r.s.peers[0].host, "d");
    ck_assert_int_eq(r.s.peers[0].port, 4);
    /* so the second list's entries are not duplicates of the first's */
    ck_assert_int_eq(PARSE("--peers=a:1,b:2", "--peers=b:2,a:1"), 0);
    ck_assert_uint_eq(r.s.npeers, 2);
    ck_assert_str_eq(r.s.peers[0].host, "b");
}
END_TEST

/* A list of n entries "h0:1,h1:1,..." (each at most 8 bytes with its comma). */
static char *peer_list(char *buf, size_t cap, int n)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%sh%d:1", i > 0 ? "," : "", i);
        ck_assert(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    return buf;
}

START_TEST(test_settings_peers_hold_up_to_128_members)
{
    char list[SETTINGS_MAX_PEERS * 8 + 16];

    ck_assert_int_eq(SETTINGS_MAX_PEERS, 128);
    ck_assert_int_eq(PARSE("--peers", peer_list(list, sizeof(list), 128)), 0);
    ck_assert_uint_eq(r.s.npeers, 128);
    ck_assert_str_eq(r.s.peers[127].host, "h127");
    PARSE("--peers", peer_list(list, sizeof(list), 129));
    assert_refused("--peers <129 members>");
    ck_assert_ptr_nonnull(strstr(r.err, "128"));
}
END_TEST

START_TEST(test_settings_vnodes_take_1_to_65536_and_default_to_16384)
{
    ck_assert_int_eq(PARSE("--vnodes=1"), 0);
    ck_assert_uint_eq(r.s.vnodes, 1);
    ck_assert_int_eq(PARSE("--vnodes", "65536"), 0);
    ck_assert_uint_eq(r.s.vnodes, RING_MAX_VNODES);
    ck_assert_int_eq(PARSE("--vnodes=160"), 0);
    ck_assert_uint_eq(r.s.vnodes, 160);
    ck_assert_int_eq(PARSE("-p", "2000"), 0);
    ck_assert_uint_eq(r.s.vnodes, 16384);
}
END_TEST

START_TEST(test_settings_peer_timeout_takes_1_to_60000_ms_and_defaults_to_500)
{
    assert_o_takes_bounds("peer_timeout_ms", &r.s.peer_timeout_ms, 1, 60000);
    ck_assert_int_eq(PARSE("-o", "idle_timeout=5,peer_timeout_ms=250", "-o", "modern"),
                     0);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 250);
    ck_assert_uint_eq(r.s.idle_timeout, 5);
    ck_assert_int_eq(PARSE("-o", "idle_timeout=5"), 0);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 500);
}
END_TEST

START_TEST(test_settings_parses_cluster_flags_together)
{
    ck_assert_int_eq(PARSE("-l", "0.0.0.0", "-p", "2000", "--node-id=n2",
                           "--peers=10.0.0.1:2000,10.0.0.2:2000", "--vnodes=4096", "-o",
                           "peer_timeout_ms=100"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert_str_eq(r.s.node_id, "n2");
    ck_assert_uint_eq(r.s.npeers, 2);
    ck_assert_uint_eq(r.s.vnodes, 4096);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 100);
}
END_TEST

START_TEST(test_settings_help_lists_the_cluster_flags)
{
    static const char *const entries[] = {"--node-id=<id>", "--peers=<host:port,...>",
                                          "--vnodes=<num>", "peer_timeout_ms=<ms>"};

    assert_help_lists(entries, ARRAY_LEN(entries));
}
END_TEST

/* ---- gossip membership flags ---- */

START_TEST(test_settings_gossip_is_off_by_default)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert(!s.gossip);
    ck_assert_int_eq(s.cluster_port, 0); /* filled by settings_parse() */
    ck_assert_uint_eq(s.njoins, 0);
    ck_assert_str_eq(s.cluster_key_file, "");
    ck_assert_uint_eq(s.gossip_interval_ms, 500);
    ck_assert_int_eq(PARSE("-p", "2000", "--vnodes=160"), 0);
    ck_assert(!r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 0);
}
END_TEST

START_TEST(test_settings_cluster_port_turns_gossip_on)
{
    ck_assert_int_eq(PARSE("--cluster-port=7946"), 0);
    ck_assert_str_eq(r.err, "");
    ck_assert(r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 7946);
    ck_assert_uint_eq(r.s.njoins, 0); /* a new cluster */
    ck_assert_int_eq(PARSE("--cluster-port", "1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 1);
    ck_assert_int_eq(PARSE("--cluster-port=65535"), 0);
    ck_assert_int_eq(r.s.cluster_port, 65535);
    ck_assert_int_eq(PARSE("--cluster-port=5000", "--cluster-port=6000"), 0);
    ck_assert_int_eq(r.s.cluster_port, 6000);
}
END_TEST

START_TEST(test_settings_join_turns_gossip_on_and_parses_like_peers)
{
    ck_assert_int_eq(PARSE("--join=10.0.0.1:12211,cache-b.example:7946,[::1]:1,"
                           "Host-C:65535"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert(r.s.gossip);
    ck_assert_uint_eq(r.s.npeers, 0);
    ck_assert_uint_eq(r.s.njoins, 4);
    ck_assert_str_eq(r.s.joins[0].host, "10.0.0.1");
    ck_assert_int_eq(r.s.joins[0].port, 12211);
    ck_assert_str_eq(r.s.joins[1].host, "cache-b.example");
    ck_assert_int_eq(r.s.joins[1].port, 7946);
    ck_assert_str_eq(r.s.joins[2].host, "::1");
    ck_assert_int_eq(r.s.joins[2].port, 1);
    ck_assert_str_eq(r.s.joins[3].host, "Host-C");
    ck_assert_int_eq(r.s.joins[3].port, 65535);
}
END_TEST

/* Every node of a cluster can be started with the same seeds. */
START_TEST(test_settings_join_may_list_this_nodes_own_cluster_address)
{
    ck_assert_int_eq(PARSE("-p", "2001", "--join=127.0.0.1:3001,127.0.0.1:3002"), 0);
    ck_assert_int_eq(r.s.cluster_port, 3001);
    ck_assert_uint_eq(r.s.njoins, 2);
    ck_assert_int_eq(r.s.joins[0].port, 3001);
}
END_TEST

START_TEST(test_settings_a_later_join_list_replaces_an_earlier_one)
{
    ck_assert_int_eq(PARSE("--join=a:1,b:2,c:3", "--join=d:4"), 0);
    ck_assert_uint_eq(r.s.njoins, 1);
    ck_assert_str_eq(r.s.joins[0].host, "d");
    ck_assert_int_eq(PARSE("--join=a:1,b:2", "--join=b:2,a:1"), 0);
    ck_assert_uint_eq(r.s.njoins, 2);
    ck_assert_str_eq(r.s.joins[0].host, "b");
}
END_TEST

START_TEST(test_settings_join_holds_up_to_128_seeds)
{
    char list[SETTINGS_MAX_PEERS * 8 + 16];

    ck_assert_int_eq(PARSE("--join", peer_list(list, sizeof(list), 128)), 0);
    ck_assert_uint_eq(r.s.njoins, 128);
    ck_assert_str_eq(r.s.joins[127].host, "h127");
    PARSE("--join", peer_list(list, sizeof(list), 129));
    assert_refused("--join <129 members>");
    ck_assert_ptr_nonnull(strstr(r.err, "--join"));
    ck_assert_ptr_nonnull(strstr(r.err, "128"));
}
END_TEST

/* Checked once everything is parsed, so -p may come after --join. */
START_TEST(test_settings_cluster_port_defaults_to_the_client_port_plus_1000)
{
    ck_assert_int_eq(PARSE("--join=a:1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 12211);
    ck_assert_int_eq(PARSE("--join=a:1", "-p", "2000"), 0);
    ck_assert_int_eq(r.s.cluster_port, 3000);
    ck_assert_int_eq(PARSE("-p", "64535", "--join=a:1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 65535);
    /* given, it wins */
    ck_assert_int_eq(PARSE("-p", "2000", "--join=a:1", "--cluster-port=9000"), 0);
    ck_assert_int_eq(r.s.cluster_port, 9000);
    ck_assert_int_eq(r.s.port, 2000);
}
END_TEST

START_TEST(test_settings_refuses_a_default_cluster_port_above_65535)
{
    PARSE("-p", "64536", "--join=a:1");
    assert_refused("-p 64536 --join=a:1");
    ck_assert_ptr_nonnull(strstr(r.err, "--cluster-port"));
    PARSE("--join=a:1", "-p", "65535");
    assert_refused("--join=a:1 -p 65535");
    ck_assert_int_eq(PARSE("-p", "65535", "--join=a:1", "--cluster-port=1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 1);
    /* without gossip there is no cluster port to derive */
    ck_assert_int_eq(PARSE("-p", "65535"), 0);
    ck_assert_int_eq(r.s.cluster_port, 0);
}
END_TEST

START_TEST(test_settings_cluster_key_takes_a_path_and_does_not_turn_gossip_on)
{
    char path[sizeof(r.s.cluster_key_file)];

    ck_assert_int_eq(PARSE("--cluster-key=/etc/meshcached/key"), 0);
    ck_assert_str_eq(r.s.cluster_key_file, "/etc/meshcached/key");
    ck_assert(!r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 0);
    /* not read while parsing */
    ck_assert_int_eq(PARSE("--cluster-key", "/nonexistent/key", "--join=a:1"), 0);
    ck_assert_str_eq(r.s.cluster_key_file, "/nonexistent/key");
    ck_assert(r.s.gossip);
    ck_assert_int_eq(PARSE("--cluster-key", repeat(path, 'k', sizeof(path) - 1)), 0);
    ck_assert_uint_eq(strlen(r.s.cluster_key_file), sizeof(path) - 1);
}
END_TEST

START_TEST(test_settings_refuses_empty_and_oversized_cluster_key_paths)
{
    char path[sizeof(r.s.cluster_key_file) + 1];

    PARSE("--cluster-key=");
    assert_refused("--cluster-key=''");
    ck_assert_ptr_nonnull(strstr(r.err, "--cluster-key"));
    PARSE("--cluster-key", repeat(path, 'k', sizeof(path) - 1));
    assert_refused("--cluster-key <4096 bytes>");
    PARSE("--cluster-key");
    assert_refused("--cluster-key without a value");
}
END_TEST

START_TEST(test_settings_gossip_interval_takes_50_to_60000_ms_and_defaults_to_500)
{
    assert_o_takes_bounds("gossip_interval_ms", &r.s.gossip_interval_ms, 50, 60000);
    ck_assert_int_eq(PARSE("-o", "peer_timeout_ms=250,gossip_interval_ms=200"), 0);
    ck_assert_uint_eq(r.s.gossip_interval_ms, 200);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 250);
    ck_assert_int_eq(PARSE("--join=a:1"), 0);
    ck_assert_uint_eq(r.s.gossip_interval_ms, 500);
}
END_TEST

START_TEST(test_settings_refuses_gossip_intervals_outside_50_to_60000)
{
    static const char *const bad[] = {
        "gossip_interval_ms=49",    "gossip_interval_ms=0",
        "gossip_interval_ms=60001", "gossip_interval_ms=",
        "gossip_interval_ms",       "gossip_interval_ms=x",
        "gossip_interval_ms=-500",  "gossip_interval_ms=+500",
        "gossip_interval_ms=0.5",   "gossip_interval_ms=4294967296"};

    assert_o_refuses("gossip_interval_ms", bad, ARRAY_LEN(bad), NULL);
}
END_TEST

START_TEST(test_settings_refuses_cluster_ports_outside_1_to_65535)
{
    static const char *const bad[] = {"0", "65536", "-1", "x", "", "1 ", "+5", "0x50"};

    assert_flag_refuses("--cluster-port", bad, ARRAY_LEN(bad));
}
END_TEST

/* The same rules as --peers (see test_settings_refuses_malformed_peer_entries
 * for all of them): one parser serves both. */
START_TEST(test_settings_refuses_malformed_join_entries)
{
    static const char *const bad[] = {
        "",       "a:1,",   "a:1,,b:2", "a",       "a:0",     "a:+1",      "a b:1",
        "::1:80", "[::1]:", "a:1:2",    "a:1,a:1", "A:1,a:1", "a:80,a:080"};

    assert_flag_refuses("--join", bad, ARRAY_LEN(bad));
    PARSE("--join=a:1,b:1,a:1");
    ck_assert_ptr_nonnull(strstr(r.err, "twice"));
}
END_TEST

/* Static and gossiped membership would disagree on who is in the ring. */
START_TEST(test_settings_refuses_peers_with_join)
{
    PARSE("--peers=a:1", "--join=b:2");
    assert_refused("--peers=a:1 --join=b:2");
    ck_assert_ptr_nonnull(strstr(r.err, "--peers"));
    ck_assert_ptr_nonnull(strstr(r.err, "--join"));
    PARSE("--join=b:2", "--peers=a:1");
    assert_refused("--join=b:2 --peers=a:1");
}
END_TEST

START_TEST(test_settings_refuses_peers_with_cluster_port)
{
    PARSE("--peers=a:1", "--cluster-port=7946");
    assert_refused("--peers=a:1 --cluster-port=7946");
    ck_assert_ptr_nonnull(strstr(r.err, "--peers"));
    ck_assert_ptr_nonnull(strstr(r.err, "--cluster-port"));
    PARSE("--cluster-port=7946", "--peers=a:1");
    assert_refused("--cluster-port=7946 --peers=a:1");
}
END_TEST

START_TEST(test_settings_parses_gossip_flags_together)
{
    ck_assert_int_eq(PARSE("-l", "0.0.0.0", "-p", "2000", "--node-id=n2",
                           "--join=10.0.0.1:7946,10.0.0.2:7946", "--cluster-port=7946",
                           "--cluster-key=/etc/meshcached/key", "-o",
                           "gossip_interval_ms=200", "--vnodes=4096"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert(r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 7946);
    ck_assert_uint_eq(r.s.njoins, 2);
    ck_assert_uint_eq(r.s.npeers, 0);
    ck_assert_str_eq(r.s.cluster_key_file, "/etc/meshcached/key");
    ck_assert_uint_eq(r.s.gossip_interval_ms, 200);
    ck_assert_str_eq(r.s.node_id, "n2");
}
END_TEST

START_TEST(test_settings_help_lists_the_gossip_flags)
{
    static const char *const entries[] = {
        "--cluster-port=<port>", "--join=<host:port,...>", "--cluster-key=<file>",
        "gossip_interval_ms=<ms>"};

    assert_help_lists(entries, ARRAY_LEN(entries));
}
END_TEST

/* ---- replication flags ---- */

/* The command line is accepted with write quorum w and read quorum rd; a
 * macro, so that a failure names the caller's line. */
#define PARSES_WITH_QUORUMS(w, rd, ...)                                                  \
    do {                                                                                 \
        ck_assert_int_eq(PARSE(__VA_ARGS__), 0);                                         \
        ck_assert_uint_eq(r.s.write_quorum, (w));                                        \
        ck_assert_uint_eq(r.s.read_quorum, (rd));                                        \
    } while (0)

START_TEST(test_settings_replication_defaults_to_two_copies_written_to_both_read_from_one)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert_uint_eq(s.replicas, 2);
    ck_assert_uint_eq(s.write_quorum, 2);
    ck_assert_uint_eq(s.read_quorum, 1);
    ck_assert_uint_eq(s.tombstone_ttl, 600);
    ck_assert_double_eq(s.read_repair_chance, 0.1);
    ck_assert_uint_eq(s.hints_max, 65536);
    PARSES_WITH_QUORUMS(2, 1, "-p", "2000");
    ck_assert_uint_eq(r.s.replicas, 2);
}
END_TEST

/* The flags only take effect in a cluster, but a single node accepts them so
 * that every node can be started with the same command line. */
START_TEST(test_settings_replication_flags_are_accepted_on_a_single_node)
{
    ck_assert_int_eq(PARSE("--replicas=3", "--write-quorum=2", "--read-quorum=2", "-o",
                           "tombstone_ttl=60,read_repair_chance=0.5,hints_max=10"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(r.s.npeers, 0);
    ck_assert(!r.s.gossip);
    ck_assert_uint_eq(r.s.replicas, 3);
    ck_assert_uint_eq(r.s.write_quorum, 2);
    ck_assert_uint_eq(r.s.read_quorum, 2);
    ck_assert_uint_eq(r.s.tombstone_ttl, 60);
    ck_assert_double_eq(r.s.read_repair_chance, 0.5);
    ck_assert_uint_eq(r.s.hints_max, 10);
}
END_TEST

START_TEST(test_settings_replicas_and_quorums_take_1_to_16)
{
    PARSES_WITH_QUORUMS(16, 16, "--replicas=16", "--write-quorum=16", "--read-quorum",
                        "16");
    ck_assert_uint_eq(r.s.replicas, SETTINGS_MAX_REPLICAS);
    PARSES_WITH_QUORUMS(1, 1, "--replicas", "1", "--write-quorum=1", "--read-quorum=1");
    ck_assert_uint_eq(r.s.replicas, 1);
    ck_assert_int_eq(PARSE("--replicas=5", "--replicas=3"), 0);
    ck_assert_uint_eq(r.s.replicas, 3);
}
END_TEST

/* W defaults to 2, which one copy cannot satisfy: not given, it follows N. */
START_TEST(test_settings_replicas_1_alone_lowers_the_default_write_quorum_to_1)
{
    PARSES_WITH_QUORUMS(1, 1, "--replicas=1");
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(r.s.replicas, 1);
    /* and it is not raised with N */
    PARSES_WITH_QUORUMS(2, 1, "--replicas=5");
}
END_TEST

START_TEST(test_settings_consistency_sets_both_quorums_from_the_replica_count)
{
    PARSES_WITH_QUORUMS(1, 1, "--replicas=3", "--consistency=one");
    PARSES_WITH_QUORUMS(2, 2, "--replicas=3", "--consistency=quorum");
    PARSES_WITH_QUORUMS(3, 3, "--replicas=3", "--consistency", "all");
    /* a majority of 2 is both */
    PARSES_WITH_QUORUMS(2, 2, "--consistency=quorum");
    PARSES_WITH_QUORUMS(3, 3, "--replicas=4", "--consistency=quorum");
    /* N is read once every flag is: --replicas may come after */
    PARSES_WITH_QUORUMS(5, 5, "--consistency=all", "--replicas=5");
    /* the last --consistency counts */
    PARSES_WITH_QUORUMS(1, 1, "--replicas=3", "--consistency=all", "--consistency=one");
}
END_TEST

START_TEST(test_settings_an_explicit_quorum_beats_consistency_in_either_order)
{
    PARSES_WITH_QUORUMS(1, 3, "--replicas=3", "--write-quorum=1", "--consistency=all");
    PARSES_WITH_QUORUMS(1, 3, "--replicas=3", "--consistency=all", "--write-quorum=1");
    PARSES_WITH_QUORUMS(1, 3, "--read-quorum=3", "--consistency=one", "--replicas=3");
    PARSES_WITH_QUORUMS(1, 3, "--consistency=one", "--replicas=3", "--read-quorum=3");
}
END_TEST

/* Checked once every flag is read, so the order does not matter; the
 * default W is lowered instead (see above), a given one never is. */
START_TEST(test_settings_refuses_a_quorum_larger_than_the_replica_count)
{
    PARSE("--write-quorum=3");
    assert_refused("--write-quorum=3");
    ck_assert_str_eq(r.err, "meshcached: --write-quorum 3 is larger than --replicas 2\n");
    PARSE("--read-quorum=3");
    assert_refused("--read-quorum=3");
    ck_assert_str_eq(r.err, "meshcached: --read-quorum 3 is larger than --replicas 2\n");
    PARSE("--write-quorum=4", "--replicas=3");
    assert_refused("--write-quorum=4 --replicas=3");
    ck_assert_str_eq(r.err, "meshcached: --write-quorum 4 is larger than --replicas 3\n");
    PARSE("--replicas=1", "--write-quorum=2");
    assert_refused("--replicas=1 --write-quorum=2");
    PARSE("--replicas=5", "--read-quorum=6", "--consistency=one");
    assert_refused("--replicas=5 --read-quorum=6 --consistency=one");
    /* a later --replicas counts, not the one before the quorum */
    PARSE("--replicas=3", "--write-quorum=3", "--replicas=2");
    assert_refused("--replicas=3 --write-quorum=3 --replicas=2");
    ck_assert_int_eq(PARSE("--write-quorum=3", "--read-quorum=3", "--replicas=3"), 0);
}
END_TEST

START_TEST(test_settings_refuses_replica_and_quorum_counts_outside_1_to_16)
{
    static const char *const flags[] = {"--replicas", "--write-quorum", "--read-quorum"};
    static const char *const bad[] = {
        "0", "17", "-1", "x", "", "2 ", "+2", "1.5", "99999999999999999999"};

    for (size_t f = 0; f < ARRAY_LEN(flags); f++)
        assert_flag_refuses(flags[f], bad, ARRAY_LEN(bad));
    PARSE("--replicas=0");
    ck_assert_str_eq(r.err, "meshcached: invalid value '0' for option --replicas "
                            "(see --help)\n");
}
END_TEST

START_TEST(test_settings_refuses_unknown_consistency_levels)
{
    static const char *const bad[] = {"",        "two",  "ONE", "Quorum",
                                      "quorum ", " all", "2",   "majority"};

    assert_flag_refuses("--consistency", bad, ARRAY_LEN(bad));
    PARSE("--consistency=most");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'most' for option --consistency "
                            "(see --help)\n");
}
END_TEST

START_TEST(test_settings_read_repair_chance_takes_a_fraction_from_0_to_1)
{
    static const struct {
        const char *item;
        double want;
    } ok[] = {{"read_repair_chance=0", 0},
              {"read_repair_chance=1", 1},
              {"read_repair_chance=1.0", 1},
              {"read_repair_chance=0.25", 0.25},
              {"read_repair_chance=.5", 0.5}};

    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        ck_assert_msg(PARSE("-o", ok[i].item) == 0, "-o %s refused: %s", ok[i].item,
                      r.err);
        ck_assert_double_eq(r.s.read_repair_chance, ok[i].want);
        ck_assert_str_eq(r.err, "");
    }
}
END_TEST

START_TEST(test_settings_refuses_read_repair_chances_outside_0_to_1_or_not_numbers)
{
    static const char *const bad[] = {
        "read_repair_chance=1.5",   "read_repair_chance=-0.1",
        "read_repair_chance=nan",   "read_repair_chance=abc",
        "read_repair_chance=inf",   "read_repair_chance=",
        "read_repair_chance",       "read_repair_chance=.",
        "read_repair_chance=1.0.0", "read_repair_chance=1e-1",
        "read_repair_chance=0x0p",  "read_repair_chance= 0.5",
        "read_repair_chance=0.5x",  "read_repair_chance=+0.5",
        "read_repair_chance=1.0001"};

    assert_o_refuses("read_repair_chance", bad, ARRAY_LEN(bad),
                     "meshcached: -o read_repair_chance needs a fraction from 0 to 1\n");
}
END_TEST

START_TEST(test_settings_tombstone_ttl_takes_1_to_2592000_seconds)
{
    static const char *const bad[] = {"tombstone_ttl=0", "tombstone_ttl=2592001",
                                      "tombstone_ttl=",  "tombstone_ttl",
                                      "tombstone_ttl=x", "tombstone_ttl=-1"};

    assert_o_takes_bounds("tombstone_ttl", &r.s.tombstone_ttl, 1, 2592000);
    assert_o_refuses("tombstone_ttl", bad, ARRAY_LEN(bad),
                     "meshcached: -o tombstone_ttl needs a number of seconds from 1 to "
                     "2592000\n");
}
END_TEST

/* 0 turns hinted handoff off; it is not refused like the other zeros. */
START_TEST(test_settings_hints_max_takes_0_to_16777216)
{
    static const char *const bad[] = {"hints_max=16777217", "hints_max=", "hints_max",
                                      "hints_max=-1", "hints_max=1k"};

    assert_o_takes_bounds("hints_max", &r.s.hints_max, 0, 16777216);
    assert_o_refuses("hints_max", bad, ARRAY_LEN(bad),
                     "meshcached: -o hints_max needs a number from 0 to 16777216\n");
}
END_TEST

START_TEST(test_settings_help_lists_the_replication_flags)
{
    static const char *const entries[] = {
        "--replicas=<num>",      "--write-quorum=<num>",    "--read-quorum=<num>",
        "--consistency=<level>", "tombstone_ttl=<seconds>", "read_repair_chance=<0..1>",
        "hints_max=<num>"};

    assert_help_lists(entries, ARRAY_LEN(entries));
}
END_TEST

START_TEST(test_settings_refuses_bad_node_ids)
{
    char id[300];

    PARSE("--node-id=");
    assert_refused("--node-id=''");
    PARSE("--node-id", repeat(id, 'a', 256));
    assert_refused("--node-id <256 bytes>");
    PARSE("--node-id=a b");
    assert_refused("--node-id='a b'");
    PARSE("--node-id=a\tb");
    assert_refused("--node-id=a<TAB>b");
    PARSE("--node-id=a\x7f");
    assert_refused("--node-id=a<DEL>");
    PARSE("--node-id=n\xc3\xa9");
    assert_refused("--node-id=<UTF-8>");
    PARSE("--node-id=x\r\n");
    assert_refused("--node-id=x<CR><LF>");
    PARSE("--node-id");
    assert_refused("--node-id without a value");
    ck_assert_ptr_nonnull(strstr(r.err, "--node-id"));
}
END_TEST

/* The default id is checked like a given one, and only then: --node-id
 * makes the same -l acceptable. */
START_TEST(test_settings_refuses_a_default_node_id_that_is_not_a_valid_id)
{
    char host[300];

    ck_assert_int_eq(PARSE("-l", repeat(host, 'a', 249)), 0);
    ck_assert_uint_eq(strlen(r.s.node_id), 255);
    PARSE("-l", repeat(host, 'a', 250));
    assert_refused("-l <250 bytes> (id of 256)");
    ck_assert_ptr_nonnull(strstr(r.err, "--node-id"));
    /* the port counts */
    ck_assert_int_eq(PARSE("-l", repeat(host, 'a', 251), "-p", "100"), 0);
    ck_assert_uint_eq(strlen(r.s.node_id), 255);
    PARSE("-l", repeat(host, 'a', 251), "-p", "1000");
    assert_refused("-l <251 bytes> -p 1000");
    ck_assert_int_eq(PARSE("-l", repeat(host, 'a', 250), "--node-id=n1"), 0);
    ck_assert_str_eq(r.s.node_id, "n1");
    PARSE("-l", "my host");
    assert_refused("-l 'my host'");
    ck_assert_int_eq(PARSE("-l", "my host", "--node-id=n1"), 0);
}
END_TEST

START_TEST(test_settings_refuses_malformed_peer_entries)
{
    static const char *const bad[] = {
        "",          ",",     "a:1,",    ",a:1",   "a:1,,b:2", "a",         "a:",
        ":1",        "a:0",   "a:65536", "a:-1",   "a:+1",     "a:1x",      "a: 1",
        "a:1 ",      " a:1",  "a b:1",   "a\tb:1", "::1:80",   "::1",       "[::1]",
        "[::1]80",   "[]:80", "[::1:80", "[::1]:", "[::1]:0",  "a[b:1",     "a]b:1",
        "[[::1]]:1", "a:1:2", "a:0x50",  "a:1e3",  "a:\x7f",   "\xc3\xa9:1"};
    char big[300];

    assert_flag_refuses("--peers", bad, ARRAY_LEN(bad));
    repeat(big, 'h', 256);
    strcat(big, ":1");
    PARSE("--peers", big);
    assert_refused("--peers <256-byte host>:1");
    repeat(big, 'h', 255);
    strcat(big, ":1");
    ck_assert_int_eq(PARSE("--peers", big), 0);
    ck_assert_uint_eq(strlen(r.s.peers[0].host), 255);
}
END_TEST

START_TEST(test_settings_refuses_duplicate_peers)
{
    PARSE("--peers=a:1,b:1,a:1");
    assert_refused("--peers=a:1,b:1,a:1");
    ck_assert_ptr_nonnull(strstr(r.err, "twice"));
    PARSE("--peers=[::1]:7,[::1]:7");
    assert_refused("--peers=[::1]:7,[::1]:7");
    /* host names are case-insensitive */
    PARSE("--peers=Cache-A:1,cache-a:1");
    assert_refused("--peers=Cache-A:1,cache-a:1");
    /* one port, written two ways, is one port */
    PARSE("--peers=a:80,a:080");
    assert_refused("--peers=a:80,a:080");
    /* same host, other port: another member */
    ck_assert_int_eq(PARSE("--peers=a:1,a:2,b:1"), 0);
    ck_assert_uint_eq(r.s.npeers, 3);
}
END_TEST

START_TEST(test_settings_refuses_vnodes_outside_1_to_65536)
{
    static const char *const bad[] = {
        "0", "65537", "-1", "x", "", "16k", "1 ", "+5", "99999999999999999999"};

    assert_flag_refuses("--vnodes", bad, ARRAY_LEN(bad));
}
END_TEST

START_TEST(test_settings_refuses_peer_timeouts_outside_1_to_60000)
{
    static const char *const bad[] = {
        "peer_timeout_ms=0",  "peer_timeout_ms=60001", "peer_timeout_ms=",
        "peer_timeout_ms",    "peer_timeout_ms=x",     "peer_timeout_ms=-5",
        "peer_timeout_ms=+5", "peer_timeout_ms=1.5",   "peer_timeout_ms=4294967296"};

    assert_o_refuses("peer_timeout_ms", bad, ARRAY_LEN(bad), NULL);
}
END_TEST

/* Long-only options have no short letter to show: the message names
 * "--vnodes", not "-\x01/--vnodes". */
START_TEST(test_settings_error_names_a_long_only_flag_by_its_long_name)
{
    PARSE("--vnodes=0");
    assert_refused("--vnodes=0");
    ck_assert_str_eq(r.err, "meshcached: invalid value '0' for option --vnodes "
                            "(see --help)\n");
    PARSE("--node-id=a b");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'a b' for option --node-id "
                            "(see --help)\n");
    PARSE("--peers=a:1,b:0");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'a:1,b:0' for option --peers: "
                            "'b:0': port must be 1 to 65535 (see --help)\n");
    PARSE("--vnodes");
    ck_assert_str_eq(r.err, "meshcached: option --vnodes needs a value\n");
    PARSE("--cluster-port=0");
    ck_assert_str_eq(r.err, "meshcached: invalid value '0' for option --cluster-port "
                            "(see --help)\n");
    PARSE("--join=a:1,b:0");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'a:1,b:0' for option --join: "
                            "'b:0': port must be 1 to 65535 (see --help)\n");
    PARSE("--cluster-key=");
    ck_assert_str_eq(r.err, "meshcached: invalid value '' for option --cluster-key "
                            "(see --help)\n");
}
END_TEST

/* BUG: the value was echoed as it was, so a value holding a newline gave a
 * two-line error. */
START_TEST(test_settings_error_for_a_value_with_a_newline_is_still_one_line)
{
    PARSE("-p", "1\n2");
    assert_refused("-p '1<LF>2'");
    ck_assert_str_eq(r.err, "meshcached: invalid value '1\\x0a2' for option -p/--port "
                            "(see --help)\n");
    PARSE("--peers=a:1\r\n");
    assert_refused("--peers='a:1<CR><LF>'");
    PARSE("--no\nsuch");
    assert_refused("--no<LF>such");
}
END_TEST

static Suite *settings_suite(void)
{
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("accepted");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_settings_defaults_match_memcached_where_they_overlap);
    tcase_add_test(tc, test_settings_no_arguments_keeps_the_defaults_silently);
    tcase_add_test(tc, test_settings_parses_every_short_flag);
    tcase_add_test(tc, test_settings_parses_long_options_in_both_spellings);
    tcase_add_test(tc, test_settings_accepts_attached_short_values);
    tcase_add_test(tc, test_settings_counts_repeated_verbose_flags);
    tcase_add_test(tc, test_settings_memory_limit_takes_megabytes_or_a_suffixed_size);
    tcase_add_test(tc,
                   test_settings_item_size_accepts_bytes_and_suffixes_within_1k_to_1g);
    tcase_add_test(tc,
                   test_settings_accepts_memcached_only_extended_options_with_a_warning);
    tcase_add_test(tc, test_settings_help_prints_usage_and_asks_to_exit);
    tcase_add_test(tc, test_settings_version_prints_the_package_version_and_asks_to_exit);
    suite_add_tcase(s, tc);

    tc = tcase_create("cluster");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_settings_cluster_defaults_are_a_single_node);
    tcase_add_test(tc, test_settings_node_id_defaults_to_the_listen_address_and_port);
    tcase_add_test(tc, test_settings_node_id_default_follows_the_forms_of_listen);
    tcase_add_test(tc, test_settings_node_id_takes_printable_ascii_up_to_255_bytes);
    tcase_add_test(tc, test_settings_peers_parse_names_ipv4_and_bracketed_ipv6);
    tcase_add_test(tc, test_settings_peers_may_list_this_nodes_own_address);
    tcase_add_test(tc, test_settings_a_later_peers_list_replaces_an_earlier_one);
    tcase_add_test(tc, test_settings_peers_hold_up_to_128_members);
    tcase_add_test(tc, test_settings_vnodes_take_1_to_65536_and_default_to_16384);
    tcase_add_test(tc,
                   test_settings_peer_timeout_takes_1_to_60000_ms_and_defaults_to_500);
    tcase_add_test(tc, test_settings_parses_cluster_flags_together);
    tcase_add_test(tc, test_settings_help_lists_the_cluster_flags);
    tcase_add_test(tc, test_settings_refuses_bad_node_ids);
    tcase_add_test(tc, test_settings_refuses_a_default_node_id_that_is_not_a_valid_id);
    tcase_add_test(tc, test_settings_refuses_malformed_peer_entries);
    tcase_add_test(tc, test_settings_refuses_duplicate_peers);
    tcase_add_test(tc, test_settings_refuses_vnodes_outside_1_to_65536);
    tcase_add_test(tc, test_settings_refuses_peer_timeouts_outside_1_to_60000);
    tcase_add_test(tc, test_settings_error_names_a_long_only_flag_by_its_long_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("gossip");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_settings_gossip_is_off_by_default);
    tcase_add_test(tc, test_settings_cluster_port_turns_gossip_on);
    tcase_add_test(tc, test_settings_join_turns_gossip_on_and_parses_like_peers);
    tcase_add_test(tc, test_settings_join_may_list_this_nodes_own_cluster_address);
    tcase_add_test(tc, test_settings_a_later_join_list_replaces_an_earlier_one);
    tcase_add_test(tc, test_settings_join_holds_up_to_128_seeds);
    tcase_add_test(tc, test_settings_cluster_port_defaults_to_the_client_port_plus_1000);
    tcase_add_test(tc, test_settings_refuses_a_default_cluster_port_above_65535);
    tcase_add_test(tc,
                   test_settings_cluster_key_takes_a_path_and_does_not_turn_gossip_on);
    tcase_add_test(tc, test_settings_refuses_empty_and_oversized_cluster_key_paths);
    tcase_add_test(
        tc, test_settings_gossip_interval_takes_50_to_60000_ms_and_defaults_to_500);
    tcase_add_test(tc, test_settings_refuses_gossip_intervals_outside_50_to_60000);
    tcase_add_test(tc, test_settings_refuses_cluster_ports_outside_1_to_65535);
    tcase_add_test(tc, test_settings_refuses_malformed_join_entries);
    tcase_add_test(tc, test_settings_refuses_peers_with_join);
    tcase_add_test(tc, test_settings_refuses_peers_with_cluster_port);
    tcase_add_test(tc, test_settings_parses_gossip_flags_together);
    tcase_add_test(tc, test_settings_help_lists_the_gossip_flags);
    suite_add_tcase(s, tc);

    tc = tcase_create("replication");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(
        tc,
        test_settings_replication_defaults_to_two_copies_written_to_both_read_from_one);
    tcase_add_test(tc, test_settings_replication_flags_are_accepted_on_a_single_node);
    tcase_add_test(tc, test_settings_replicas_and_quorums_take_1_to_16);
    tcase_add_test(tc,
                   test_settings_replicas_1_alone_lowers_the_default_write_quorum_to_1);
    tcase_add_test(tc,
                   test_settings_consistency_sets_both_quorums_from_the_replica_count);
    tcase_add_test(tc,
                   test_settings_an_explicit_quorum_beats_consistency_in_either_order);
    tcase_add_test(tc, test_settings_refuses_a_quorum_larger_than_the_replica_count);
    tcase_add_test(tc, test_settings_refuses_replica_and_quorum_counts_outside_1_to_16);
    tcase_add_test(tc, test_settings_refuses_unknown_consistency_levels);
    tcase_add_test(tc, test_settings_read_repair_chance_takes_a_fraction_from_0_to_1);
    tcase_add_test(
        tc, test_settings_refuses_read_repair_chances_outside_0_to_1_or_not_numbers);
    tcase_add_test(tc, test_settings_tombstone_ttl_takes_1_to_2592000_seconds);
    tcase_add_test(tc, test_settings_hints_max_takes_0_to_16777216);
    tcase_add_test(tc, test_settings_help_lists_the_replication_flags);
    suite_add_tcase(s, tc);

    tc = tcase_create("refused");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_settings_refuses_port_zero_and_ports_beyond_65535);
    tcase_add_test(tc, test_settings_refuses_zero_threads_and_too_many);
    tcase_add_test(tc, test_settings_refuses_memory_below_one_megabyte);
    tcase_add_test(tc, test_settings_refuses_item_size_outside_1k_to_1g);
    tcase_add_test(tc, test_settings_refuses_item_size_above_half_the_memory_limit);
    tcase_add_test(tc, test_settings_refuses_udp_other_than_zero);
    tcase_add_test(tc, test_settings_refuses_other_out_of_range_numbers);
    tcase_add_test(tc, test_settings_refuses_empty_and_oversized_strings);
    tcase_add_test(tc, test_settings_refuses_unknown_options);
    tcase_add_test(tc, test_settings_refuses_a_missing_argument);
    tcase_add_test(tc, test_settings_refuses_stray_positional_arguments);
    tcase_add_test(tc, test_settings_refuses_unknown_or_malformed_extended_options);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(
        tc, test_settings_error_names_the_flag_when_the_value_is_a_separate_argument);
    tcase_add_test(tc, test_settings_refuses_numbers_followed_by_junk);
    tcase_add_test(tc,
                   test_settings_a_second_parse_does_not_inherit_the_first_ones_state);
    tcase_add_test(tc, test_settings_error_for_a_value_with_a_newline_is_still_one_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(settings_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
