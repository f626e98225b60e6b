/* authfile: "user:pass" lines, checked without early exits. */
#include "base/authfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (1u << 20) /* a list of users, not a database */

struct entry {
    const char *user, *pass;
    size_t ulen, plen;
};

struct authfile {
    char *data; /* the file; entries point into it */
    struct entry *e;
    size_t n;
};

void authfile_free(struct authfile *a)
{
    if (a == NULL)
        return;
    free(a->data);
    free(a->e);
    free(a);
}

/* Reads the whole file into a->data (NUL-terminated). */
static int slurp(const char *path, struct authfile *a, size_t *len, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        snprintf(err, cap, "Could not open authfile [%s] for reading, error %s", path,
                 strerror(errno));
        return -1;
    }
    a->data = malloc(MAX_FILE + 1);
    n = a->data != NULL ? fread(a->data, 1, MAX_FILE + 1, f) : 0;
    if (a->data == NULL || ferror(f) || n > MAX_FILE) {
        snprintf(err, cap, "Could not read authfile [%s]: %s", path,
                 a->data == NULL ? "out of memory"
                 : n > MAX_FILE  ? "larger than 1 MiB"
                                 : "read error");
        fclose(f);
        return -1;
    }
    fclose(f);
    a->data[n] = '\0';
    *len = n;
    return 0;
}

int authfile_load(const char *path, struct authfile **out, char *err, size_t cap)
{
    struct authfile *a = calloc(1, sizeof(*a));
    size_t len, lines = 1;
    char *p;

    if (a == NULL) {
        snprintf(err, cap, "Could not load authfile [%s]: out of memory", path);
        return -1;
    }
    if (slurp(path, a, &len, err, cap) != 0)
        goto fail;
    for (size_t i = 0; i < len; i++)
        lines += a->data[i] == '\n';
    a->e = calloc(lines, sizeof(*a->e));
    if (a->e == NULL) {
        snprintf(err, cap, "Could not load authfile [%s]: out of memory", path);
        goto fail;
    }
    for (p = a->data; p < a->data + len;) {
        size_t n = strcspn(p, "\n"), end = n;
        char *colon = memchr(p, ':', n);

        while (end > 0 && p[end - 1] == '\r')
            end--;
        if (colon == NULL) {
            snprintf(err, cap,
                     "Authfile [%s] has a malformed entry. Should be 'user:password'",
                     path);
            goto fail;
        }
        a->e[a->n++] = (struct entry){.user = p,
                                      .ulen = (size_t)(colon - p),
                                      .pass = colon + 1,
                                      .plen = end - (size_t)(colon + 1 - p)};
        p += n + (p[n] == '\n');
    }
    *out = a;
    return 0;

fail:
    authfile_free(a);
    return -1;
}

/* Equal lengths and bytes, looking at every byte. */
static bool same(const char *a, size_t na, const char *b, size_t nb)
{
    unsigned char diff = na != nb;

    for (size_t i = 0; i < na && i < nb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

bool authfile_check(const struct authfile *a, const char *user, size_t ulen,
                    const char *pass, size_t plen)
{
    bool found = false;

    for (size_t i = 0; i < a->n; i++) {
        bool u = same(user, ulen, a->e[i].user, a->e[i].ulen);
        bool p = same(pass, plen, a->e[i].pass, a->e[i].plen);
        found |= u & p;
    }
    return found;
}
