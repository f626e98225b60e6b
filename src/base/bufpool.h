/*
 * bufpool: a free list of equal-sized memory blocks, one per worker thread,
 * from which connections borrow their input and output buffers (and their
 * command state) while they read or write, and to which they give them back
 * when they go idle, as memcached 1.6 does with its read-buffer cache. An
 * idle connection then holds no buffer at all.
 *
 * Owned and used by one thread; no locks. Blocks come from malloc, one by
 * one, so a borrower may realloc one it outgrows: such a block (or any block
 * whose size is not the pool's) is freed, not kept, when given back. At most
 * max_free spare blocks are kept; more are freed.
 */
#ifndef MESHCACHED_BUFPOOL_H
#define MESHCACHED_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

struct bufpool_block;

struct bufpool {
    size_t size;                 /* bytes per block, at least a pointer's */
    unsigned max_free;           /* spare blocks kept at most */
    unsigned nfree;              /* spare blocks on the list */
    struct bufpool_block *spare; /* the spares, most recently returned first */
    uint64_t oom;                /* borrows that found no memory */
};

/* An empty pool of blocks of size bytes (rounded up to a pointer's size). */
void bufpool_init(struct bufpool *p, size_t size, unsigned max_free);

/* Frees the spares. Blocks still lent are the borrowers' to free. */
void bufpool_fini(struct bufpool *p);

/* A block of p->size bytes, uninitialised: a spare (the warmest one) or a
 * new one. NULL when memory runs out (counted in oom). */
void *bufpool_get(struct bufpool *p);

/* Takes back a block that bufpool_get() lent. size is what the block holds
 * now: a block that was reallocated to another size is freed, as is one the
 * list has no room for. NULL is a no-op. */
void bufpool_put(struct bufpool *p, void *block, size_t size);

#endif
