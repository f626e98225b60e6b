/* settings_fixture.h: what the check_settings* programs share: one
 * settings_parse() call on a command line given as arguments, with what it
 * wrote to out and err captured in r, and the checks that a command line is
 * refused on one line, that --help lists flags and that -o items take their
 * bounds. Each Check program is one file that includes this once, so
 * everything here is static: every program has its own r. */
#ifndef SETTINGS_FIXTURE_H
#define SETTINGS_FIXTURE_H

#include <check.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * check_settings's
 * test_settings_a_second_parse_does_not_inherit_the_first_ones_state):
 * optind = 0 is the documented way to reinitialize the scanner. */
static inline void reset_getopt(void)
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
static inline int parse_into(struct settings *s, const char *first, ...)
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

static inline void teardown(void)
{
    free(r.out);
    free(r.err);
    r.out = r.err = NULL;
}

static inline int count_char(const char *s, char c)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

/* A refused command line: -1, nothing on out, exactly one line on err. */
static inline void assert_refused(const char *what)
{
    ck_assert_msg(r.rc == -1, "%s: accepted (rc %d)", what, r.rc);
    ck_assert_msg(r.out[0] == '\0', "%s: wrote to out: %s", what, r.out);
    ck_assert_msg(count_char(r.err, '\n') == 1 && r.err[strlen(r.err) - 1] == '\n',
                  "%s: not one line: \"%s\"", what, r.err);
    ck_assert_msg(strncmp(r.err, "meshcached: ", 12) == 0, "%s: \"%s\"", what, r.err);
}

/* Checks that flag is refused, on one line that names it, with each value in
 * bad (as a separate argument) and with no value. */
static inline void assert_flag_refuses(const char *flag, const char *const *bad,
                                       size_t nbad)
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
static inline void assert_help_lists(const char *const *entries, size_t n)
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
static inline void assert_o_takes_bounds(const char *key, const uint32_t *field,
                                         uint32_t lo, uint32_t hi)
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
static inline void assert_o_refuses(const char *key, const char *const *bad, size_t nbad,
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

#endif
