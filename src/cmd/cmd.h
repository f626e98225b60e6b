/*
 * cmd: executes memcached ASCII commands (classic and meta) against the
 * store and builds the replies.
 *
 * Called only by the connection that owns the context, on its worker
 * thread. Does no I/O: the connection feeds it complete command lines and,
 * when a command needs a data block, reads the block into cmd->item and
 * calls cmd_value_done(). Replies are appended to cmd->out.
 */
#ifndef MESHCACHED_CMD_H
#define MESHCACHED_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "store/item.h"
#include "store/storeop.h"

struct server;
struct thread_stats;
struct item;

/* What the connection should do after a command line. */
enum cmd_next {
    CMD_NEXT_LINE,  /* read the next command line */
    CMD_READ_VALUE, /* read item->nbytes bytes into item_value(cmd->item) */
    CMD_SWALLOW,    /* discard cmd->swallow bytes of input */
    CMD_CLOSE,      /* send what is queued, then close */
    CMD_WATCH,      /* become a watcher of cmd->watch_mask (see base/logger.h) */
    CMD_STREAM,     /* call cmd_stream() until it says the reply is complete */
};

/* The key listing a CMD_STREAM reply is. */
enum {
    CMD_DUMP_NONE,
    CMD_DUMP_METADUMP,  /* lru_crawler metadump */
    CMD_DUMP_MGDUMP,    /* lru_crawler mgdump */
    CMD_DUMP_CACHEDUMP, /* stats cachedump */
};

#define CMD_STASH_MAX 640 /* 17 flags, each at most a 32-byte opaque + 1 */

struct cmd {
    struct server *srv;
    struct thread_stats *stats;
    struct buf *out;

    bool noreply;         /* suppress the next nominal reply (classic) */
    size_t sent_mark;     /* out->len where memcached would have written ... */
    unsigned sent_resets; /* ... valid while out->resets still equals this */
    struct item *item;    /* item whose data block is being read */
    uint64_t swallow;     /* bytes to discard */
    bool replica;         /* the block is an rs's: a replica's state, newest wins */
    enum storeop_op op;   /* else the storage command's operation */
    uint64_t req_cas;     /* CAS given by cas / ms C */
    bool meta;            /* the pending store is an ms: reply in meta style */
    bool meta_quiet;      /* ms q */
    bool meta_stale;      /* ms I */
    bool meta_new_cas;    /* ms E: item->cas already holds the explicit CAS */
    bool meta_base64;     /* key was base64: echo it encoded */
    size_t stash_len;     /* ms flags to echo, in order: <length><token> each */
    char stash[CMD_STASH_MAX];
    bool from_peer; /* the connection said `peer`: serve locally, never forward */
    /* -Y: the client sent a good user and password (always true without
     * -Y); auth_block: cmd.item is the data block of an authentication
     * attempt, not the store's */
    bool authenticated;
    bool auth_block;
    bool peer_pending; /* `peer` answered with a challenge: peerauth expected */
    unsigned char peer_expect[32]; /* the proof peerauth must bring */
    uint64_t deadline_ms;          /* rd: the next command runs only before this wall
                                      clock time (unix ms), 0 for none */
    bool late; /* the pending store came after its deadline: dropped */
    /* the last command's change to the store, for replication: set when it
     * stored, deleted, touched or counted the key (cleared per command) */
    bool wrote;
    uint8_t wrote_nkey;
    char wrote_key[KEY_MAX_LENGTH];
    int cfd;             /* the client's socket, for watch lines (cfd=) */
    unsigned watch_mask; /* CMD_WATCH: the log types asked for */
    /* CMD_STREAM: a key listing in progress, one store shard per step */
    struct cmd_dump {
        uint8_t kind;        /* CMD_DUMP_* */
        uint32_t next_shard; /* the next shard to list */
        uint32_t end_shard;  /* the listing ends before this shard */
        uint64_t left;       /* stats cachedump: lines still allowed */
        uint64_t bytes;      /* stats cachedump: bytes listed so far */
    } dump;
};

void cmd_init(struct cmd *c, struct server *srv, struct thread_stats *stats,
              struct buf *out);

/* Whether the connection may run commands: it authenticated (or needs
 * not), or it is a peer's, which proved the cluster key. Until then, no
 * line may be routed to another node either. */
static inline bool cmd_authenticated(const struct cmd *c)
{
    return c->authenticated || c->from_peer;
}

/* Releases anything held (a half-read item). */
void cmd_reset(struct cmd *c);

/* True when c holds nothing the next command needs: it is what cmd_init()
 * makes, but for scratch space (the last command's stash, key and reply
 * marks). An idle connection gives such a context back to its worker's pool
 * and starts its next command with a fresh one; so a field that must
 * survive from one command to the next (a peer's identity, a pending
 * challenge, an rd deadline) must make this false while it is set. */
bool cmd_idle(const struct cmd *c);

/*
 * Executes one command line (without its "\r\n"; line[len] must be
 * writable). Returns what the connection must do next.
 */
enum cmd_next cmd_process_line(struct cmd *c, char *line, size_t len);

/*
 * After CMD_STREAM: appends the next part of the reply (one store shard's
 * keys) to cmd->out. Returns true when the reply is complete. The caller
 * sends what is queued between calls, so a listing of any size never holds
 * a worker or a shard lock for long.
 */
bool cmd_stream(struct cmd *c);

/* The data block of a storage command has been read into cmd->item. */
void cmd_value_done(struct cmd *c);

/* Sends later replies to out, counting what it holds as already written:
 * memcached's culling of unwritten replies after a failed get must not reach
 * replies that belong before a forwarded command's. */
void cmd_set_out(struct cmd *c, struct buf *out);

/*
 * Looks up one key of a get/gets/gat/gats in the local store, exactly as the
 * command would, and appends its "VALUE ..." block (nothing on a miss) to out
 * instead of cmd->out. touch_time is the client's exptime for gat/gats. Used
 * to answer this node's share of a multi-get that fans out to other nodes.
 */
void cmd_get_local(struct cmd *c, struct buf *out, const char *key, size_t nkey,
                   bool return_cas, bool touch, int32_t touch_time);

#endif
