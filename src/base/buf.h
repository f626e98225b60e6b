/*
 * buf: a growable byte buffer for replies.
 *
 * Owned by one connection, so never shared between threads. Appending never
 * fails loudly: when memory runs out the buffer sets `oom`, drops further
 * appends, and the owner closes the connection after the current command
 * (a reply that cannot be built completely must not be sent in part).
 */
#ifndef MESHCACHED_BUF_H
#define MESHCACHED_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct buf {
    char *data;
    size_t len; /* bytes held */
    size_t off; /* bytes already consumed from the front (sent) */
    size_t cap;
    unsigned resets; /* times buf_reset() ran: tells stale positions apart */
    bool oom;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);

/* Makes room for n more bytes; returns a pointer to the free space or NULL
 * (and sets oom). The caller writes at most n bytes and then calls
 * buf_commit(). */
char *buf_reserve(struct buf *b, size_t n);

static inline void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
}

/* Appends p[0..n); p may be NULL when n is 0 (an empty buffer's data). */
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    char *dst;

    if (n == 0)
        return; /* b->data may be NULL: not even data + 0 */
    dst = !b->oom && b->len + n <= b->cap ? b->data + b->len : buf_reserve(b, n);
    if (dst != NULL) {
        memcpy(dst, p, n);
        b->len += n;
    }
}

static inline void buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* Appends the decimal form of v. */
void buf_append_u64(struct buf *b, unsigned long long v);

/* Drops everything, keeping the allocation (or shrinking a big one). */
void buf_reset(struct buf *b);

/* Lends block[0..size) to b, which has no buffer (data NULL, nothing
 * held): for a connection that borrows its reply buffer from a pool. */
void buf_attach(struct buf *b, char *block, size_t size);

/* Once everything is consumed: resets b (as buf_reset) and takes its buffer
 * away (data becomes NULL), returning it with its size in *size, for the
 * caller to free or give back to its pool. NULL (b unchanged) while bytes
 * are pending or b has no buffer. */
char *buf_detach(struct buf *b, size_t *size);

/* Bytes not yet consumed. */
static inline size_t buf_pending(const struct buf *b)
{
    return b->len - b->off;
}

#endif
