/*
 * gmsg: the wire format of gossip messages between nodes (SWIM membership).
 *
 * Pure: no I/O, no locks, no clock, no allocation; safe from any thread on
 * distinct writers and readers, and fuzzed. Authentication (the HMAC of
 * --cluster-key) wraps the encoded bytes outside this module.
 *
 * A message, all integers big-endian:
 *
 *   magic    3 bytes "MCg"
 *   version  u8  GMSG_VERSION; any other is refused
 *   type     u8  enum gmsg_type
 *   sender   a member record: who sends, as the sender sees itself
 *   target   PING_REQ only: u8 length (1..255) + the id to probe
 *   count    u16 number of member records that follow (<= GMSG_MAX_RECORDS)
 *   records  count member records: piggybacked updates, or the whole
 *            member list for SYNC
 *   (nothing after the last record)
 *
 *   member record:
 *     id           u8 length (1..255) + bytes
 *     incarnation  u64
 *     state        u8  enum gmsg_state
 *     addr         u8 length (3..GMSG_MAX_ADDR) + "host:port": clients' port
 *     gaddr        u8 length (3..GMSG_MAX_ADDR) + "host:port": gossip port
 *
 * Ids and hosts are printable ASCII without spaces (0x21..0x7e); a host has
 * no ':', '[' or ']' unless it is an IPv6 address in brackets (hex digits,
 * ':' and '.'); ports are 1..65535 in decimal without leading zeros. A
 * message is at most GMSG_MAX_SIZE bytes.
 */
#ifndef MESHCACHED_GMSG_H
#define MESHCACHED_GMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMSG_VERSION     1
#define GMSG_MAX_ID      255
#define GMSG_MAX_ADDR    255 /* "host:port": its length is one byte on the wire */
#define GMSG_MAX_RECORDS 4096
#define GMSG_MAX_SIZE    (2u * 1024 * 1024)
#define GMSG_HEADER_MAX  (3 + 1 + 1 + GMSG_RECORD_MAX + 1 + GMSG_MAX_ID + 2)
#define GMSG_RECORD_MAX  (1 + GMSG_MAX_ID + 8 + 1 + 2 * (1 + GMSG_MAX_ADDR))

enum gmsg_type {
    GMSG_PING = 1,     /* are you alive? answered by ACK */
    GMSG_ACK = 2,      /* alive (to PING, or to PING_REQ when the target was) */
    GMSG_PING_REQ = 3, /* probe target for me; answered by ACK or NACK */
    GMSG_NACK = 4,     /* PING_REQ: the target did not answer in time */
    GMSG_SYNC = 5,     /* full state push/pull: records are all members */
    GMSG_SYNC_ACK = 6, /* the answer to SYNC: the answerer's full state */
};

enum gmsg_state {
    GMSG_ALIVE = 1,
    GMSG_SUSPECT = 2,
    GMSG_DEAD = 3,
    GMSG_LEFT = 4,
};

/* One member as carried on the wire; strings are NUL-terminated. */
struct gmsg_member {
    char id[GMSG_MAX_ID + 1];
    uint64_t incarnation;
    uint8_t state; /* enum gmsg_state */
    char addr[GMSG_MAX_ADDR + 1];
    char gaddr[GMSG_MAX_ADDR + 1];
};

/* Builds one message into a caller's buffer. */
struct gmsg_writer {
    char *buf;
    size_t cap;
    size_t len;
    size_t count_at; /* offset of the record count */
    unsigned count;  /* records added */
    bool failed;     /* the header did not fit, or a field was invalid */
};

/*
 * Starts a message of the given type from sender (target: the id to probe
 * for PING_REQ, NULL otherwise) in buf[0..cap). Invalid fields (a target
 * with another type is one) or a buffer too small for the header set
 * w->failed (gmsg_end() then returns 0, and gmsg_add() false).
 */
void gmsg_begin(struct gmsg_writer *w, char *buf, size_t cap, enum gmsg_type type,
                const struct gmsg_member *sender, const char *target);

/* Appends one record. Returns false, leaving the message as it was, when it
 * does not fit in the buffer, the count is at GMSG_MAX_RECORDS, or the
 * record is invalid. */
bool gmsg_add(struct gmsg_writer *w, const struct gmsg_member *m);

/* Finishes the message: returns its length, or 0 if it failed. */
size_t gmsg_end(struct gmsg_writer *w);

/* Reads one message: a header, then the records one by one. */
struct gmsg_reader {
    const char *buf;
    size_t len;
    size_t pos;
    unsigned left; /* records not yet read */
};

struct gmsg_header {
    enum gmsg_type type;
    struct gmsg_member sender;
    char target[GMSG_MAX_ID + 1]; /* PING_REQ; "" otherwise */
    unsigned count;               /* records that follow */
};

/*
 * Validates the whole message buf[0..len) (every field of every record, the
 * count, and that nothing follows the last record) and reads its header.
 * Returns 0 and positions r at the first record, or -EPROTO for anything
 * malformed, truncated, oversized or of another version: such a message
 * must be dropped (and counted) without using any of it.
 */
int gmsg_read_header(struct gmsg_reader *r, const char *buf, size_t len,
                     struct gmsg_header *h);

/* The next record of a message whose header was read: returns 1 with *m
 * filled, 0 when none is left. (The records were validated already.) */
int gmsg_read_record(struct gmsg_reader *r, struct gmsg_member *m);

/* True when s is a valid "host:port" for a record. */
bool gmsg_addr_valid(const char *s);

#endif
