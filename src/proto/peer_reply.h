/*
 * peer_reply: finds where one memcached ASCII reply ends in a byte stream,
 * so that a node forwarding a client command over a pipelined peer
 * connection can relay the owner's reply byte-exact without parsing it.
 *
 * No I/O, no locks, no clock, no allocation: safe from any thread on
 * distinct parsers, and fuzzed. The parser is caller-owned (embed it).
 *
 * Incremental use: the caller keeps the unconsumed bytes of the connection
 * buffered and calls peer_reply_frame() with buf pointing at the first byte
 * of the current reply, again after each read with the new bytes appended
 * (the earlier bytes unchanged, len never smaller). The parser remembers how
 * far it has framed and where its search for a line end stopped, so each byte
 * is looked at a bounded number of times: O(n) overall, whatever the split.
 *
 * Lines end with "\r\n"; a '\n' without the '\r' before it is a protocol
 * error. A line, "\r\n" included, is at most PEER_REPLY_MAX_LINE bytes.
 */
#ifndef MESHCACHED_PEER_REPLY_H
#define MESHCACHED_PEER_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#define PEER_REPLY_MAX_LINE 4096 /* longest line, "\r\n" included */
#define PEER_REPLY_MAX_KEY  250  /* longest key in a VALUE line, as memcached */

/* What the forwarded command was, hence the shape of its reply. For every
 * kind but PEER_REPLY_QUIET, a line "ERROR" (alone or followed by a space), or starting
 * with "CLIENT_ERROR " or "SERVER_ERROR ", ends the reply wherever it occurs and sets the
 * parser's `error`. */
enum peer_reply_kind {
    /* One non-empty line: STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED,
     * TOUCHED, OK, an incr/decr number, VERSION ..., MN, HD/NS/EX/NF/EN... */
    PEER_REPLY_LINE,
    /* One non-empty line, except that a line whose first token is "VA" is
     * "VA <n>[ <flags>]" followed by exactly n data bytes and "\r\n". */
    PEER_REPLY_META,
    /* get/gets/gat/gats: zero or more "VALUE <key> <flags> <bytes>[ <cas>]"
     * lines each followed by <bytes> data bytes and "\r\n", then "END". */
    PEER_REPLY_GET,
    /* stats: zero or more "STAT ..." lines, then "END". */
    PEER_REPLY_STATS,
    /* A quiet command (classic noreply, meta q) followed by "mn": zero or
     * more replies, each a line or a "VA" line and its data block, then the
     * line "MN". Error lines set `error` but do not end the reply. */
    PEER_REPLY_QUIET,
};

/* Caller-owned; set up with peer_reply_init(). The fields below `nvalues`
 * are private to peer_reply.c. */
struct peer_reply_parser {
    size_t max_value; /* longest data block accepted, from peer_reply_init() */
    bool error;       /* the framed reply ended with an error line */
    size_t nvalues;   /* data blocks (VALUE or VA) framed in this reply */
    size_t pos;       /* bytes of the reply framed so far: next line/block */
    size_t scan;      /* [pos, scan) is known to hold no '\n' */
    size_t data_len;  /* in_data: length of the block at pos, without "\r\n" */
    bool in_data;     /* a data block starts at pos */
    bool done;        /* the last call returned 1: the next call starts anew */
    bool failed;      /* the last call returned -EPROTO: sticky until init */
};

/* Resets *p to frame a new reply whose data blocks are at most max_value
 * bytes long (a longer one is a protocol error). Cannot fail. */
void peer_reply_init(struct peer_reply_parser *p, size_t max_value);

/*
 * Frames the reply of the given kind that starts at buf[0], looking at
 * buf[0..len). Returns:
 *   1        a whole reply is in buf; *consumed = its length in bytes, and
 *            p->error and p->nvalues describe it until the next call, which
 *            starts framing a new reply (buf then points at its first byte);
 *   0        more bytes are needed; *consumed is untouched;
 *   -EPROTO  the bytes cannot be a reply of this kind (bad header or number,
 *            data not followed by "\r\n", an over-long line, a data block
 *            above max_value...). The stream has lost its framing: the
 *            caller must drop the connection; later calls return -EPROTO
 *            until peer_reply_init().
 * Between the calls that frame one reply, kind must not change and the
 * bytes already passed must not change.
 */
int peer_reply_frame(struct peer_reply_parser *p, enum peer_reply_kind kind,
                     const char *buf, size_t len, size_t *consumed);

#endif
