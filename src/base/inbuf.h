/*
 * inbuf: the input buffer of one socket (a client connection or a peer
 * connection): bytes are read in at the end and consumed from the front.
 * When the end is reached the unconsumed bytes move to the front, or the
 * buffer doubles when they fill it; a buffer that grew shrinks back once it
 * is empty, so one large request does not pin memory for the connection's
 * life; or, for a buffer borrowed from a pool, it is detached when empty
 * (inbuf_attach/inbuf_detach). Owned by one connection on one thread.
 */
#ifndef MESHCACHED_INBUF_H
#define MESHCACHED_INBUF_H

#include <stddef.h>

struct inbuf {
    char *data;
    size_t size;  /* allocated */
    size_t start; /* first unconsumed byte */
    size_t end;   /* end of the bytes read */
};

/* Allocates size bytes. Returns 0, or -ENOMEM with b->data NULL. */
int inbuf_init(struct inbuf *b, size_t size);

/* Frees the buffer (NULL data is a no-op). */
void inbuf_free(struct inbuf *b);

/* Once everything is consumed: rewinds to the front and shrinks a buffer
 * that grew beyond keep_max back to initial bytes (keeping the large one if
 * the shrink fails). Does nothing while unconsumed bytes remain. */
void inbuf_rewind(struct inbuf *b, size_t initial, size_t keep_max);

/* Lends block[0..size) to b, which has no buffer (data NULL): for a
 * connection that borrows its buffer from a pool while it reads. */
void inbuf_attach(struct inbuf *b, char *block, size_t size);

/* Once everything is consumed: takes the buffer away from b (data becomes
 * NULL) and returns it, its size in *size, for the caller to free or give
 * back to its pool. NULL (b unchanged) while unconsumed bytes remain or b
 * has no buffer. */
char *inbuf_detach(struct inbuf *b, size_t *size);

/* Makes room for at least one more byte at the end: moves the unconsumed
 * bytes to the front, or doubles the buffer when they fill it. Returns 0,
 * or -ENOMEM with the buffer unchanged. */
int inbuf_make_room(struct inbuf *b);

#endif
