/*
 * route: decides, from a client's command line alone, whether a command
 * names keys and so may have to be forwarded to the node that owns them,
 * and what the owner's reply will look like. Also walks the keys of a
 * multi-key get line and the VALUE blocks of a get reply, for fan-out and
 * reassembly in the client's key order.
 *
 * Pure: no I/O, no locks, no clock, no allocation; the line is never
 * modified. Safe from any thread on distinct route_req structs, and fuzzed.
 *
 * The rule behind every decision: a command is classified ROUTE_KEY or
 * ROUTE_MULTIGET only when the owner, given the same bytes, consumes exactly
 * the line plus `data_len` bytes and answers with exactly one reply of the
 * stated shape (or, when `quiet`, with zero or more replies followed by the
 * "MN" that answers an appended "mn"). Anything malformed that would make a
 * node answer an error without consuming the data block the way the
 * forwarder expects is ROUTE_LOCAL: the local node answers the error itself,
 * exactly as the owner would have. So a stream to a peer never loses its
 * framing because of what a client sent.
 */
#ifndef MESHCACHED_ROUTE_H
#define MESHCACHED_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/item.h"
#include "proto/peer_reply.h"

enum route_kind {
    ROUTE_LOCAL,    /* no key, or answered here (errors included) */
    ROUTE_KEY,      /* one key: forward the line and its data block */
    ROUTE_MULTIGET, /* get/gets/gat/gats with at least one key */
};

struct route_req {
    enum route_kind kind;
    /* ROUTE_KEY: the shape of the owner's reply when !quiet. */
    enum peer_reply_kind reply;
    /* ROUTE_KEY: the owner may answer nothing (classic noreply, meta q; me
     * has no q and is never quiet): the forwarder appends "mn\r\n" and
     * frames with PEER_REPLY_QUIET. */
    bool quiet;
    /* ROUTE_KEY: classic noreply: the client reads no reply at all, so a
     * forwarding failure must not be reported to it either. */
    bool noreply;
    /* ROUTE_KEY: the command may change the key (a storage command, incr,
     * decr, touch, delete, ms, md, ma, mg with N or T): with replication it
     * runs on the key's first live owner, which copies the result. */
    bool write;
    /* ROUTE_KEY: an mg with R, which may win a meta lease (W) without
     * changing the key: with replication it is served by the key's first
     * live owner, like a write, so that one node decides. */
    bool lease;
    /* ROUTE_KEY: an mg (of which one of an item invalidated by md I may win
     * a lease too: the proxy looks). */
    bool meta_get;
    /* ROUTE_KEY: the key as the owner's store sees it (base64-decoded for a
     * meta command with the b flag): points into the line or into keybuf. */
    const char *key;
    size_t nkey;
    /* ROUTE_KEY: bytes of the data block after the line's "\n", its
     * "\r\n" included (set, cas, ms...); 0 when there is none. */
    uint64_t data_len;
    /* ROUTE_MULTIGET: the command word ("get", "gets", "gat", "gats") and,
     * for gat/gats, the exptime token, both pointing into the line; the keys
     * start at line offset keys_off (walk them with route_next_key()). */
    const char *cmd;
    size_t ncmd;
    const char *exptime;
    size_t nexptime;
    size_t keys_off;
    size_t nkeys;       /* keys on the line (> 0) */
    bool return_cas;    /* gets, gats */
    bool touch;         /* gat, gats */
    int32_t touch_time; /* gat, gats: the exptime as the client gave it */
    char keybuf[KEY_MAX_LENGTH];
};

/*
 * Classifies the command line line[0..len) (without its line ending; like
 * memcached, a NUL ends the line early). item_size_max is the node's -I: a
 * storage command whose data block is larger is ROUTE_LOCAL (the local node
 * answers "object too large" and swallows the block, as the owner would).
 * Fills *r and returns r->kind.
 */
enum route_kind route_classify(const char *line, size_t len, uint32_t item_size_max,
                               struct route_req *r);

/*
 * Walks the keys of a multi-get line: starting at *pos (r->keys_off for the
 * first key), skips spaces and stores the next key in *key and *nkey, advancing
 * *pos past it. Returns false when no key is left before len or before a NUL
 * (which ends the line for route_classify() too, so passing the line's full
 * length yields exactly the r->nkeys keys the command layer looks up).
 */
bool route_next_key(const char *line, size_t len, size_t *pos, const char **key,
                    size_t *nkey);

/*
 * Walks the VALUE blocks of a get reply (framed by peer_reply as
 * PEER_REPLY_GET, or built locally without the "END\r\n"): when buf[*pos..len)
 * starts with a whole "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n"
 * block, stores its key in *key and *nkey and the block's start and total length
 * in *block and *nblock, advances *pos past it and returns true. Returns false at
 * "END\r\n", at the end of buf, or at anything that is not a whole block.
 */
bool route_next_value(const char *buf, size_t len, size_t *pos, const char **key,
                      size_t *nkey, const char **block, size_t *nblock);

#endif
