/* inbuf: compact-or-double input buffers for sockets. */
#include "base/inbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int inbuf_init(struct inbuf *b, size_t size)
{
    b->data = malloc(size);
    b->size = b->data != NULL ? size : 0;
    b->start = b->end = 0;
    return b->data != NULL ? 0 : -ENOMEM;
}

void inbuf_free(struct inbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->size = b->start = b->end = 0;
}

void inbuf_rewind(struct inbuf *b, size_t initial, size_t keep_max)
{
    char *small;

    if (b->start != b->end)
        return;
    b->start = b->end = 0;
    if (b->size <= keep_max)
        return;
    small = realloc(b->data, initial);
    if (small != NULL) {
        b->data = small;
        b->size = initial;
    }
}

void inbuf_attach(struct inbuf *b, char *block, size_t size)
{
    b->data = block;
    b->size = size;
    b->start = b->end = 0;
}

char *inbuf_detach(struct inbuf *b, size_t *size)
{
    char *block = b->data;

    if (block == NULL || b->start != b->end)
        return NULL;
    *size = b->size;
    b->data = NULL;
    b->size = b->start = b->end = 0;
    return block;
}

int inbuf_make_room(struct inbuf *b)
{
    char *big;

    if (b->end < b->size)
        return 0;
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
        return 0;
    }
    big = b->size > 0 ? realloc(b->data, b->size * 2) : NULL;
    if (big == NULL)
        return -ENOMEM;
    b->data = big;
    b->size *= 2;
    return 0;
}
