/* buf: reply buffer growth, doubling, with a sticky out-of-memory flag. */
#include "base/buf.h"
#include "base/util.h"

#include <stdint.h>
#include <stdlib.h>

#define BUF_INITIAL  2048
#define BUF_KEEP_MAX (256 * 1024) /* larger buffers are freed when emptied */

void buf_init(struct buf *b)
{
    memset(b, 0, sizeof(*b));
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

char *buf_reserve(struct buf *b, size_t n)
{
    size_t cap;
    char *p;

    if (b->oom)
        return NULL;
    if (n > SIZE_MAX / 4 - b->len) {
        b->oom = true; /* no buffer can be that big */
        return NULL;
    }
    if (b->len + n <= b->cap && b->data != NULL)
        return b->data + b->len;
    if (b->off > 0 && b->len - b->off + n <= b->cap) {
        /* Reuse the consumed front instead of growing. */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        return b->data + b->len;
    }
    cap = b->cap ? b->cap : BUF_INITIAL;
    while (cap < b->len + n)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->oom = true;
        return NULL;
    }
    b->data = p;
    b->cap = cap;
    return b->data + b->len;
}

void buf_append_u64(struct buf *b, unsigned long long v)
{
    char *dst = buf_reserve(b, 21);

    if (dst != NULL)
        b->len += util_u64_to_str(v, dst);
}

void buf_reset(struct buf *b)
{
    b->len = b->off = 0;
    b->oom = false;
    b->resets++;
    if (b->cap > BUF_KEEP_MAX) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

void buf_attach(struct buf *b, char *block, size_t size)
{
    b->data = block;
    b->cap = size;
    b->len = b->off = 0;
}

char *buf_detach(struct buf *b, size_t *size)
{
    char *block;

    if (b->data == NULL || buf_pending(b) > 0)
        return NULL;
    buf_reset(b);
    block = b->data;
    if (block != NULL) {
        *size = b->cap;
        b->data = NULL;
        b->cap = 0;
    }
    return block;
}
