/*
 * aemsg: the wire format of anti-entropy messages, what two replicas say to
 * each other over the cluster port (nng req/rep, beside gossip's "MCg"
 * messages) to find and repair the keys on which their Merkle trees
 * (cluster/merkle.h) differ.
 *
 * Pure: no I/O, no locks, no clock, no allocation; safe from any thread on
 * distinct writers and readers, and fuzzed. Authentication (the HMAC of
 * --cluster-key) wraps the encoded bytes outside this module. Keys and
 * values a reader hands out point into the message: valid while it is.
 *
 * A message, all integers big-endian:
 *
 *   magic    3 bytes "MCa"
 *   version  u8  AEMSG_VERSION; any other is refused
 *   type     u8  enum aemsg_type
 *   sender   u8 length (1..255) + the node id, printable ASCII (0x21..0x7e)
 *   layout   u64 the ring membership the sender's trees were built for:
 *            opaque here, only compared for equality by the receiver
 *   body     by type, below; nothing may follow it
 *
 *   ROOTS (request): "here is my tree for the pair {me, you}"
 *     root u64, then AEMSG_SEGMENTS segment hashes u64
 *   ROOTS_ACK: status u8, count u8 (0..AEMSG_SEGMENTS) of the segments that
 *     differ from the answerer's tree (0: the trees agree), each
 *       index u8 (0..63, strictly increasing), then the answerer's
 *       AEMSG_SEG_LEAVES leaf hashes u64 of that segment
 *   KEYS (request): "my key states in the leaves that differ"
 *     count u16 (1..AEMSG_MAX_LEAVES) of leaves, each
 *       index u16 (0..AEMSG_LEAVES - 1, strictly increasing), nstates u32,
 *       then nstates key refs (the requester's every state in the leaf,
 *       tombstones included)
 *   KEYS_ACK: status u8, more u8 (0 or 1: the answer stopped at the size
 *     bound; the requester should ask again once it applied this one),
 *     count u32 of full states (the answerer's, where they are newer than
 *     the requester's or missing there), then count u32 of wanted keys
 *     (key alone: the requester's state is newer, or missing at the
 *     answerer; the requester should PUSH them)
 *   PUSH (request): count u32 of full states, for the receiver to apply
 *     (the newest version wins, as for replication)
 *   PUSH_ACK: status u8, applied u32 (how many states the receiver took)
 *   HANDOFF (request): as PUSH, but the states are of keys the receiver owns
 *     now and the sender gives up (range streaming, leave handoff): the
 *     receiver takes them even when it must evict for them; answered by a
 *     PUSH_ACK
 *
 *   key:        u8 length (1..AEMSG_MAX_KEY) + bytes; any bytes (binary
 *               keys travel as they are)
 *   key ref:    key, version u64 (nonzero), iflags u8
 *   full state: key, version u64 (nonzero), iflags u8, flags u32 (client
 *               flags), exptime i64 (unix seconds, 0 = never; >= 0), nvalue
 *               u32 (<= AEMSG_MAX_VALUE; 0 for a tombstone) + the value's
 *               bytes (without memcached's "\r\n")
 *   iflags:     only ITEM_TOMBSTONE, ITEM_STALE and ITEM_KEY_BINARY
 *               (AEMSG_IFLAGS) may be set
 *
 * A status other than AEMSG_OK means nothing was done: its body must be
 * empty (counts 0, more 0, applied 0). The answers do not repeat the
 * sender's layout check: a request whose layout differs is answered with
 * AEMSG_LAYOUT_MISMATCH.
 *
 * Not checked here, left to the receiver: that a key belongs to the leaf
 * it is listed under (the codec knows no hash), and duplicate keys within
 * a leaf or a list (harmless to a receiver that compares versions, the
 * second one a no-op; finding them would take memory or quadratic time).
 *
 * Bounds: a message is at most AEMSG_MAX_SIZE bytes, which must stay within
 * what the cluster port's transport accepts (transport_config.max_msg; nng
 * drops the connection on a larger message). gossip.c opens that transport
 * with GMSG_MAX_SIZE, 2 MiB: serving anti-entropy there needs the larger of
 * the two. A
 * full state with a value of up to AEMSG_MAX_VALUE bytes always fits alone
 * in a KEYS_ACK or PUSH of AEMSG_MAX_SIZE, whatever its key and sender; a
 * larger value (-I allows up to 1 GiB) never does: the writer refuses it
 * with -E2BIG, and anti-entropy and handoff leave that key as it is (only
 * replication and read repair, over the peer connections, copy it).
 * Counts of states and keys have no bound of their own beyond the message
 * size: a validated count is never more than the message holds.
 */
#ifndef MESHCACHED_AEMSG_H
#define MESHCACHED_AEMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/item.h"
#include "store/store.h"

#define AEMSG_VERSION    1
#define AEMSG_MAX_ID     255
#define AEMSG_MAX_KEY    KEY_MAX_LENGTH
#define AEMSG_SEGMENTS   64   /* MERKLE_FANOUT: segments in a tree */
#define AEMSG_SEG_LEAVES 64   /* MERKLE_FANOUT: leaves in a segment */
#define AEMSG_LEAVES     4096 /* MERKLE_LEAVES */
#define AEMSG_MAX_LEAVES 256  /* leaves in one KEYS */
#define AEMSG_MAX_SIZE   (4u * 1024 * 1024)
/* A whole message but for 1 KiB: room for the longest header, a KEYS_ACK's
 * fixed fields and one full state's with the longest key (555 bytes). */
#define AEMSG_MAX_VALUE  (AEMSG_MAX_SIZE - 1024)
#define AEMSG_HEADER_MAX (3 + 1 + 1 + 1 + AEMSG_MAX_ID + 8)
#define AEMSG_IFLAGS     (ITEM_TOMBSTONE | ITEM_STALE | ITEM_KEY_BINARY)

enum aemsg_type {
    AEMSG_ROOTS = 1,     /* my root and segment hashes: which segments differ? */
    AEMSG_ROOTS_ACK = 2, /* these segments differ: here are my leaves of them */
    AEMSG_KEYS = 3,      /* my key states in these leaves */
    AEMSG_KEYS_ACK = 4,  /* my newer states, and the keys I want from you */
    AEMSG_PUSH = 5,      /* states to apply */
    AEMSG_PUSH_ACK = 6,  /* how many were applied */
    AEMSG_HANDOFF = 7,   /* states of keys you own now: take them */
};

/* An answer's status. */
enum aemsg_status {
    AEMSG_OK = 0,
    AEMSG_LAYOUT_MISMATCH = 1, /* the answerer's ring layout differs: no compare */
    AEMSG_BUSY = 2,            /* the answerer is at its limit: try later */
    AEMSG_NOT_READY = 3,       /* the answerer's trees are not built yet */
};

/* A key's state without its value, as KEYS lists them. */
struct aemsg_ref {
    const char *key;
    size_t nkey;
    uint64_t version;
    uint8_t iflags;
};

/* A key's full state, as KEYS_ACK, PUSH and HANDOFF carry it: st is what the
 * store reads and applies (store_read_state(), store_apply()), value its
 * st.nvalue bytes. */
struct aemsg_state {
    const char *key;
    size_t nkey;
    struct store_state st;
    const char *value;
};

/* ---- writer ---- */

/*
 * Builds one message into a caller's buffer: aemsg_begin(), then the
 * body's parts in wire order, then aemsg_end(). Every appender returns 0,
 * or a negative code leaving the message as it was:
 *   -EINVAL  an invalid field, or a call this type or moment does not take
 *            (a caller's bug);
 *   -E2BIG   a state's value over AEMSG_MAX_VALUE: no message carries it
 *            (checked before the room, so a full message still says so);
 *   -ENOSPC  no room left in the buffer (or AEMSG_MAX_SIZE, or
 *            AEMSG_MAX_LEAVES): end this message and go on in the next
 *            (a KEYS_ACK sets more).
 * A copy of the writer is a checkpoint: assigning it back before
 * aemsg_end() undoes what was appended since (to keep a KEYS leaf whole).
 */
struct aemsg_writer {
    char *buf;
    size_t cap;       /* the buffer's size, at most AEMSG_MAX_SIZE */
    size_t len;       /* bytes written from the front */
    size_t back;      /* KEYS_ACK: wanted keys stack down from here to cap - 4 */
    size_t body;      /* offset of the body, after the header */
    size_t leaf_at;   /* KEYS: offset of the current leaf's nstates */
    uint32_t count;   /* segments, leaves or full states appended */
    uint32_t nstates; /* KEYS: refs in the current leaf */
    uint32_t nwanted; /* KEYS_ACK: wanted keys appended */
    uint32_t applied; /* PUSH_ACK */
    int last;         /* the last segment or leaf index; -1 before the first */
    uint8_t type;     /* enum aemsg_type */
    uint8_t status;   /* answers: enum aemsg_status */
    bool more;        /* KEYS_ACK */
    bool roots;       /* ROOTS: the hashes are in */
    bool failed;      /* aemsg_begin() refused: nothing can be appended */
    bool ended;       /* aemsg_end() ran: nothing more can be appended */
};

/* Starts a message of type from sender (a node id) for ring layout in
 * buf[0..cap); an answer starts with status AEMSG_OK. Returns 0, -EINVAL
 * (bad type, sender or buffer) or -ENOSPC (cap too small for the header
 * and the body's fixed fields); on failure aemsg_end() returns 0. */
int aemsg_begin(struct aemsg_writer *w, char *buf, size_t cap, enum aemsg_type type,
                const char *sender, uint64_t layout);

/* Sets an answer's status. A status other than AEMSG_OK is taken only
 * while the body is empty, and then nothing can be appended. */
int aemsg_set_status(struct aemsg_writer *w, enum aemsg_status status);

/* ROOTS: the root and the segment hashes (exactly once). */
int aemsg_put_roots(struct aemsg_writer *w, uint64_t root,
                    const uint64_t seg[AEMSG_SEGMENTS]);

/* ROOTS_ACK: a segment that differs (index above the previous one's) and
 * the answerer's leaf hashes of it. */
int aemsg_put_segment(struct aemsg_writer *w, unsigned index,
                      const uint64_t leaves[AEMSG_SEG_LEAVES]);

/* KEYS: starts a leaf (index above the previous one's); its refs follow. */
int aemsg_put_leaf(struct aemsg_writer *w, unsigned index);

/* KEYS: a key ref of the current leaf. */
int aemsg_put_ref(struct aemsg_writer *w, const struct aemsg_ref *ref);

/* KEYS_ACK, PUSH, HANDOFF: a full state. */
int aemsg_put_state(struct aemsg_writer *w, const struct aemsg_state *s);

/* KEYS_ACK: a wanted key. States and wanted keys may be appended in any
 * order (as a leaf's comparison finds them); each list keeps its order. */
int aemsg_put_wanted(struct aemsg_writer *w, const char *key, size_t nkey);

/* KEYS_ACK: sets or clears more. */
int aemsg_set_more(struct aemsg_writer *w, bool more);

/* PUSH_ACK: sets applied. */
int aemsg_set_applied(struct aemsg_writer *w, uint32_t applied);

/* Finishes the message: returns its length (again, if called again), or 0
 * when it failed or is incomplete (a ROOTS without its hashes, a KEYS
 * without a leaf). */
size_t aemsg_end(struct aemsg_writer *w);

/* ---- reader ---- */

/* Reads one message: its header, then its body's parts in wire order. */
struct aemsg_reader {
    const char *buf;
    size_t len;
    size_t pos;       /* the next part */
    size_t wanted_at; /* KEYS_ACK: offset of the wanted keys' count */
    uint32_t left;    /* segments, leaves or full states not yet read */
    uint32_t inleaf;  /* KEYS: refs of the current leaf not yet read */
    uint32_t nwanted; /* KEYS_ACK: wanted keys not yet read */
    uint8_t type;     /* enum aemsg_type; 0 when nothing is to be read */
    bool roots;       /* ROOTS: the hashes are still to be read */
    bool in_wanted;   /* KEYS_ACK: pos is in the wanted keys */
};

struct aemsg_header {
    enum aemsg_type type;
    char sender[AEMSG_MAX_ID + 1]; /* NUL-terminated */
    uint64_t layout;
    enum aemsg_status status; /* answers; AEMSG_OK in requests */
    bool more;                /* KEYS_ACK */
    uint32_t count;           /* ROOTS_ACK: segments; KEYS: leaves; KEYS_ACK and
                                 PUSH, HANDOFF: full states; 0 otherwise */
    uint32_t nwanted;         /* KEYS_ACK: wanted keys */
    uint32_t applied;         /* PUSH_ACK */
};

/* True when buf[0..len) starts with the magic "MCa": an anti-entropy
 * message rather than a gossip one (it may still be malformed). */
bool aemsg_has_magic(const char *buf, size_t len);

/* The type byte of buf[0..len) when it starts with the magic and this
 * version, else 0 (not validated beyond that: aemsg_read_header() does). */
unsigned aemsg_peek_type(const char *buf, size_t len);

/*
 * Validates the whole message buf[0..len) (every field of every part, the
 * counts, the order of indexes, and that nothing follows the body) and
 * reads its header. Returns 0 and positions r at the body, or -E2BIG for a
 * message over AEMSG_MAX_SIZE or a length or count over its bound (a key
 * over AEMSG_MAX_KEY, a value over AEMSG_MAX_VALUE, segments over
 * AEMSG_SEGMENTS, leaves over AEMSG_MAX_LEAVES), or -EPROTO for anything
 * else malformed, truncated or of another version. A refused message must
 * be dropped (and counted) without using any of it: r then reads nothing
 * and *h is unspecified.
 */
int aemsg_read_header(struct aemsg_reader *r, const char *buf, size_t len,
                      struct aemsg_header *h);

/* The readers of the body's parts return 1 with the part filled, or 0 when
 * none is left or the message's type has none. (The message was validated:
 * they cannot fail otherwise.) */

/* ROOTS: the root and segment hashes, once. */
int aemsg_read_roots(struct aemsg_reader *r, uint64_t *root,
                     uint64_t seg[AEMSG_SEGMENTS]);

/* ROOTS_ACK: the next segment's index and leaf hashes. */
int aemsg_read_segment(struct aemsg_reader *r, unsigned *index,
                       uint64_t leaves[AEMSG_SEG_LEAVES]);

/* KEYS: the next leaf's index and its number of refs, skipping what was
 * not read of the previous leaf. */
int aemsg_read_leaf(struct aemsg_reader *r, unsigned *index, uint32_t *nstates);

/* KEYS: the next ref of the current leaf. */
int aemsg_read_ref(struct aemsg_reader *r, struct aemsg_ref *ref);

/* KEYS_ACK, PUSH, HANDOFF: the next full state. */
int aemsg_read_state(struct aemsg_reader *r, struct aemsg_state *s);

/* KEYS_ACK: the next wanted key, skipping the states not yet read. */
int aemsg_read_wanted(struct aemsg_reader *r, const char **key, size_t *nkey);

#endif
