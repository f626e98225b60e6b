/*
 * item: the layout of one cached item, in a single piece of memory.
 *
 * An item holds its CAS/version, hash-chain link (a handle, not a
 * pointer: see store_internal.h), times, client flags and then the key
 * followed by the value and its trailing "\r\n" (kept so that a hit is
 * written with one copy). Items are 4-byte aligned and packed one after
 * another into the store's segments (or, when large, held alone). Items
 * are created and freed by the store; while linked, an item is protected
 * by its shard's lock and nobody outside the store may keep a pointer to
 * it after unlocking: eviction may move it.
 */
#ifndef MESHCACHED_ITEM_H
#define MESHCACHED_ITEM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/mctime.h"

#define KEY_MAX_LENGTH 250

/* iflags bits */
#define ITEM_LINKED     0x01 /* in a hash table */
#define ITEM_FETCHED    0x02 /* read at least once since it was stored */
#define ITEM_TOKEN      0x04 /* a meta "win" token has been handed out (Z for others) */
#define ITEM_STALE      0x08 /* invalidated by meta I: served with X */
#define ITEM_KEY_BINARY 0x10 /* stored with a base64 key (meta b): echo it encoded */
#define ITEM_TOMBSTONE  0x20 /* a deleted key's version (replication): never served */
#define ITEM_ACCESSED   0x40 /* used since it was stored or last kept by eviction */

/* A 64-bit field that needs only 4-byte alignment (items are 4-aligned). */
typedef uint64_t item_u64 __attribute__((aligned(4)));

struct item {
    item_u64 cas;       /* CAS unique / version; never 0 once stored */
    uint32_t h_next;    /* hash chain: the next item's handle, 0 for none */
    rel_time_t exptime; /* 0 = never, else expires when exptime <= now */
    rel_time_t time;    /* last store or access */
    uint32_t flags;     /* client flags */
    uint32_t nbytes;    /* value length including the trailing "\r\n" */
    uint8_t nkey;       /* key length */
    uint8_t iflags;     /* ITEM_* */
    char data[];        /* key, then value + "\r\n" */
};

static inline char *item_key(struct item *it)
{
    return it->data;
}

static inline char *item_value(struct item *it)
{
    return it->data + it->nkey;
}

/* Zeroes the header of a fresh allocation. Not memset(sizeof): with the
 * struct padded to 4 bytes, a small item's allocation may end before the
 * padding does. */
static inline void item_clear_header(struct item *it)
{
    memset(it, 0, offsetof(struct item, data));
}

/* Bytes an item with these lengths needs (the data starts right after the
 * last header field, not after padding). */
static inline size_t item_size(size_t nkey, size_t nbytes)
{
    return offsetof(struct item, data) + nkey + nbytes;
}

#endif
