/* bufpool: per-thread free lists of buffers that idle connections give back. */
#include "base/bufpool.h"

#include <stdlib.h>

struct bufpool_block {
    struct bufpool_block *next;
};

void bufpool_init(struct bufpool *p, size_t size, unsigned max_free)
{
    *p = (struct bufpool){
        .size = size < sizeof(struct bufpool_block) ? sizeof(struct bufpool_block) : size,
        .max_free = max_free};
}

void bufpool_fini(struct bufpool *p)
{
    while (p->spare != NULL) {
        struct bufpool_block *b = p->spare;
        p->spare = b->next;
        free(b);
    }
    p->nfree = 0;
}

void *bufpool_get(struct bufpool *p)
{
    struct bufpool_block *b = p->spare;

    if (b != NULL) {
        p->spare = b->next;
        p->nfree--;
    } else if ((b = malloc(p->size)) == NULL) {
        p->oom++;
        return NULL;
    }
    return b;
}

void bufpool_put(struct bufpool *p, void *block, size_t size)
{
    struct bufpool_block *b = block;

    if (b == NULL)
        return;
    if (size != p->size || p->nfree >= p->max_free) {
        free(b);
        return;
    }
    b->next = p->spare;
    p->spare = b;
    p->nfree++;
}
