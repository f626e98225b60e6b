/*
 * replmsg: the wire format of what replicas exchange over a peer connection
 * (one that said `peer`; a client sending rs or rg gets ERROR): encoding the
 * rs and rg commands and their answers, and parsing them back.
 *
 * No I/O, no locks, no clock, no store access: safe from any thread, and
 * fuzzed. Output goes to a caller-owned struct buf; parsed keys and values
 * point into the caller's input (or a caller-owned key buffer).
 *
 * rs <key> <flags> <exptime> <version> <bytes>[ <opts>]\r\n<data>\r\n
 *   gives a replica the key's state: client flags (32 bits), exptime as unix
 *   time (0: never; negative refused), version (the HLC version, the CAS;
 *   0 refused), bytes (the value's length, at most 2^32 - 3), then the value.
 *   Answers: "HD" when the replica took it (or held that same version), or
 *   "NS <version>" when it holds the newer <version> and ignored the rs; any
 *   other answer (SERVER_ERROR when out of memory) means it did not take it.
 *   A malformed line answers "CLIENT_ERROR bad command line format" and the
 *   connection closes (the block's length is unknown).
 * rg <key>[ b]\r\n
 *   asks a replica for the key's state, tombstones included. Answers:
 *   "VA <bytes> <flags> <exptime> <version>[ <opts>]\r\n<data>\r\n", or "EN"
 *   when the key holds nothing. A malformed line answers "CLIENT_ERROR bad
 *   command line format" and the connection stays.
 *
 * A key travels as is when each byte is printable ASCII other than a space
 * (0x21..0x7e); any other key travels in padded base64 and the line says b
 * (rs: in opts; rg: a last token "b"). A key decodes to 1..250 bytes.
 * opts is one token of letters: b (key in base64), B (the item was stored
 * with a binary key: echo it in base64), t (a tombstone: bytes must be 0),
 * s (stale, meta I), w (a meta win token is out: the next owner answers Z
 * after a failover, as the first would have). The encoders write them in that order and
 * only when one applies (a VA never says b); the parsers take them in any order,
 * repeated, and a VA's b is ignored. Numbers are decimal, parsed as util.h's util_parse_*
 * do.
 */
#ifndef MESHCACHED_REPLMSG_H
#define MESHCACHED_REPLMSG_H

#include <stddef.h>

#include "base/base64.h"
#include "base/buf.h"
#include "proto/proto.h"
#include "store/store.h"

/* Room a parser needs to decode a base64 key (see replmsg_parse_store()). */
#define REPLMSG_KEY_BUF BASE64_KEY_MAX

/* Longest VA line replmsg_parse_state() accepts, without its "\r\n". */
#define REPLMSG_MAX_STATE_LINE 127

/* Appends the rs that gives a replica the state s of key (nkey at most
 * KEY_MAX_LENGTH), value being its s->nvalue bytes. */
void replmsg_encode_store(struct buf *out, const char *key, size_t nkey,
                          const struct store_state *s, const char *value);

/* Appends the rg that asks a replica for key's state (nkey at most
 * KEY_MAX_LENGTH). */
void replmsg_encode_get(struct buf *out, const char *key, size_t nkey);

/* Appends the answer to an rg for a key in state s (an item or a tombstone),
 * value being its s->nvalue bytes: "VA ..." and the data block. */
void replmsg_encode_state(struct buf *out, const struct store_state *s,
                          const char *value);

/* Appends the answer to an rg for a key that holds nothing: "EN". */
void replmsg_encode_miss(struct buf *out);

/*
 * Parses the tokens of an rs line (as proto_tokenize() split it, the
 * terminal token counted in ntokens; tokens[0], the command, is not looked
 * at) into the key and its state *s (s->nvalue: the data block's length,
 * without "\r\n"). *key points into tokens[1], or into kbuf
 * (REPLMSG_KEY_BUF bytes) when the key came in base64. The tokens are not
 * modified. Returns 0, or -EPROTO when the line is malformed (*s, *key and
 * *nkey are then meaningless).
 */
int replmsg_parse_store(const struct token *tokens, size_t ntokens, char *kbuf,
                        const char **key, size_t *nkey, struct store_state *s);

/* Parses the tokens of an rg line like replmsg_parse_store(), into the key
 * alone. Returns 0 or -EPROTO. */
int replmsg_parse_get(const struct token *tokens, size_t ntokens, char *kbuf,
                      const char **key, size_t *nkey);

/*
 * Parses the answer to an rg, reply[0..len) as peer_reply framed it
 * (PEER_REPLY_META): "EN" (s->version 0: nothing held; whatever follows its
 * "\r\n" is not looked at) or a VA line of at most REPLMSG_MAX_STATE_LINE
 * bytes, its state and *value, pointing into reply (s->nvalue bytes), the
 * block and two more bytes filling the rest of reply exactly (those two are
 * not looked at: peer_reply checked they are "\r\n"). Returns 0 or -EPROTO;
 * *value is NULL unless a VA was parsed.
 */
int replmsg_parse_state(const char *reply, size_t len, struct store_state *s,
                        const char **value);

#endif
