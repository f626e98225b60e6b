/*
 * authfile: the users of ASCII authentication (memcached's -Y): a file of
 * "user:pass" lines, read once at start-up.
 *
 * Built by main() before any thread starts, read-only afterwards: any
 * thread may check a pair without locks.
 */
#ifndef MESHCACHED_AUTHFILE_H
#define MESHCACHED_AUTHFILE_H

#include <stdbool.h>
#include <stddef.h>

struct authfile;

/* Reads path. Returns 0 with *out set, or -1 after writing memcached's
 * message into err: the file cannot be opened or read, or a line has no
 * ':' (a user may not contain ':'; the password is the rest of the line,
 * without its "\r\n"). */
int authfile_load(const char *path, struct authfile **out, char *err, size_t cap);

/* Frees a (NULL is a no-op). */
void authfile_free(struct authfile *a);

/* Whether user[0..ulen) with pass[0..plen) is in a; every entry is compared
 * in full, so the time taken does not tell how much of a guess matched. */
bool authfile_check(const struct authfile *a, const char *user, size_t ulen,
                    const char *pass, size_t plen);

#endif
