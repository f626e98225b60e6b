/* aemsg_fixture.h: what the check_aemsg* programs share: generated
 * messages (op j of a type is a fixed part, so a message of n ops is the
 * first n parts of one sequence), their builders and the canonical
 * re-encoding check. Each Check program is one file that includes this
 * once, so everything here is static. */
#ifndef AEMSG_FIXTURE_H
#define AEMSG_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/merkle.h"
#include "proto/aemsg.h"

#define S(x)        x, sizeof(x) - 1
#define BIG         (AEMSG_MAX_SIZE + 64 * 1024)
#define STATE_FIXED 25 /* a full state after its key: version ... nvalue */
#define SENDER      "node-a"
#define LAYOUT      0x0123456789abcdefull

_Static_assert(AEMSG_SEGMENTS == MERKLE_FANOUT && AEMSG_SEG_LEAVES == MERKLE_FANOUT &&
                   AEMSG_LEAVES == MERKLE_LEAVES,
               "aemsg carries merkle's trees");

static const enum aemsg_type all_types[] = {
    AEMSG_ROOTS, AEMSG_ROOTS_ACK, AEMSG_KEYS,   AEMSG_KEYS_ACK,
    AEMSG_PUSH,  AEMSG_PUSH_ACK,  AEMSG_HANDOFF};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))
static const uint8_t good_iflags[] = {0,
                                      ITEM_STALE,
                                      ITEM_KEY_BINARY,
                                      ITEM_TOMBSTONE,
                                      ITEM_STALE | ITEM_KEY_BINARY,
                                      ITEM_TOMBSTONE | ITEM_KEY_BINARY};

/* ---- the generated messages: op j of a type is a fixed part ---- */

static char keys[4][AEMSG_MAX_KEY]; /* nth_* fill keys[i % 4] */
static char vpat[1024];             /* values are slices of this */

/* Binary keys of every length 1..250 (key 0 is one NUL byte). */
static inline size_t nth_key(char *k, unsigned i)
{
    size_t n = 1 + (i * 97u) % AEMSG_MAX_KEY;

    for (size_t j = 0; j < n; j++)
        k[j] = (char)(i * 31u + j * 7u);
    return n;
}

static inline uint64_t nth_version(unsigned i)
{
    uint64_t v = (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;

    return v != 0 ? v : 1;
}

static inline void nth_ref(struct aemsg_ref *r, unsigned i)
{
    r->key = keys[i % 4];
    r->nkey = nth_key(keys[i % 4], i);
    r->version = nth_version(i);
    r->iflags = good_iflags[i % sizeof(good_iflags)];
}

static inline void nth_state(struct aemsg_state *s, unsigned i)
{
    memset(s, 0, sizeof(*s));
    for (size_t j = 0; j < sizeof(vpat); j++)
        vpat[j] = (char)(j * 13 + j / 256);
    s->key = keys[i % 4];
    s->nkey = nth_key(keys[i % 4], i);
    s->st.version = nth_version(i);
    s->st.iflags = good_iflags[i % sizeof(good_iflags)];
    s->st.flags = i * 2654435761u;
    s->st.exptime = i % 3 == 0 ? 0 : i % 3 == 1 ? 1700000000 + i : INT64_MAX - i;
    s->st.nvalue = (s->st.iflags & ITEM_TOMBSTONE) ? 0 : (i * 53u) % 700;
    s->value = vpat + i % 13;
}

static inline void nth_hashes(uint64_t *h, unsigned i)
{
    for (unsigned j = 0; j < 64; j++)
        h[j] = nth_version(i * 64 + j) ^ ((uint64_t)j << 56);
}

/* KEYS: every third op starts a leaf (indexes 0, 5, 10, ...). */
static inline bool keys_op_is_leaf(unsigned j)
{
    return j % 3 == 0;
}

/* KEYS_ACK: every third op is a wanted key, between the states. */
static inline bool ack_op_is_wanted(unsigned j)
{
    return j % 3 == 2;
}

/* Performs op j of a message of type on w. */
static inline int op(struct aemsg_writer *w, enum aemsg_type type, unsigned j)
{
    uint64_t h[64];
    struct aemsg_ref r;
    struct aemsg_state s;

    switch (type) {
    case AEMSG_ROOTS:
        nth_hashes(h, 0);
        return aemsg_put_roots(w, 0xfeedull, h);
    case AEMSG_ROOTS_ACK:
        nth_hashes(h, j);
        return aemsg_put_segment(w, j, h);
    case AEMSG_KEYS:
        if (keys_op_is_leaf(j))
            return aemsg_put_leaf(w, j / 3 * 5);
        nth_ref(&r, j);
        return aemsg_put_ref(w, &r);
    case AEMSG_KEYS_ACK:
        if (ack_op_is_wanted(j)) {
            nth_ref(&r, j);
            return aemsg_put_wanted(w, r.key, r.nkey);
        }
        /* fall through */
    case AEMSG_PUSH:
    case AEMSG_HANDOFF:
        nth_state(&s, j);
        return aemsg_put_state(w, &s);
    default:
        return aemsg_set_applied(w, 12345);
    }
}

/* Writes a message of type with ops 0..n-1 into buf; returns its length. */
static inline size_t build(char *buf, size_t cap, enum aemsg_type type, unsigned n)
{
    struct aemsg_writer w;

    ck_assert_int_eq(aemsg_begin(&w, buf, cap, type, SENDER, LAYOUT), 0);
    for (unsigned j = 0; j < n; j++)
        ck_assert_msg(op(&w, type, j) == 0, "type %d: op %u refused", type, j);
    return aemsg_end(&w);
}

/* An exactly sized heap copy, so that ASan catches any read past the end. */
static inline int read_exact(const char *buf, size_t len)
{
    struct aemsg_reader r;
    struct aemsg_header h;
    char *p = malloc(len > 0 ? len : 1);
    int rc;

    ck_assert_ptr_nonnull(p);
    memcpy(p, buf, len);
    rc = aemsg_read_header(&r, p, len, &h);
    free(p);
    return rc;
}

static inline void assert_ref_eq(const struct aemsg_ref *a, const struct aemsg_ref *b)
{
    ck_assert_uint_eq(a->nkey, b->nkey);
    ck_assert_mem_eq(a->key, b->key, a->nkey);
    ck_assert_uint_eq(a->version, b->version);
    ck_assert_uint_eq(a->iflags, b->iflags);
}

static inline void assert_state_eq(const struct aemsg_state *a,
                                   const struct aemsg_state *b)
{
    ck_assert_uint_eq(a->nkey, b->nkey);
    ck_assert_mem_eq(a->key, b->key, a->nkey);
    ck_assert_uint_eq(a->st.version, b->st.version);
    ck_assert_uint_eq(a->st.iflags, b->st.iflags);
    ck_assert_uint_eq(a->st.flags, b->st.flags);
    ck_assert_int_eq(a->st.exptime, b->st.exptime);
    ck_assert_uint_eq(a->st.nvalue, b->st.nvalue);
    if (a->st.nvalue > 0)
        ck_assert_mem_eq(a->value, b->value, a->st.nvalue);
}

/* Decodes in[0..len) and encodes it again into out (cap bytes): returns
 * the new length. The encoding is canonical: it must be in's bytes. */
static inline size_t reencode(const char *in, size_t len, char *out, size_t cap)
{
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_writer w;
    struct aemsg_ref ref;
    struct aemsg_state s;
    uint64_t hashes[64], root;
    const char *key;
    size_t nkey;
    unsigned index;
    uint32_t n;

    ck_assert_int_eq(aemsg_read_header(&r, in, len, &h), 0);
    ck_assert_int_eq(aemsg_begin(&w, out, cap, h.type, h.sender, h.layout), 0);
    if (h.type == AEMSG_ROOTS_ACK || h.type == AEMSG_KEYS_ACK || h.type == AEMSG_PUSH_ACK)
        ck_assert_int_eq(aemsg_set_status(&w, h.status), 0);
    if (aemsg_read_roots(&r, &root, hashes))
        ck_assert_int_eq(aemsg_put_roots(&w, root, hashes), 0);
    while (aemsg_read_segment(&r, &index, hashes))
        ck_assert_int_eq(aemsg_put_segment(&w, index, hashes), 0);
    while (aemsg_read_leaf(&r, &index, &n)) {
        ck_assert_int_eq(aemsg_put_leaf(&w, index), 0);
        while (aemsg_read_ref(&r, &ref))
            ck_assert_int_eq(aemsg_put_ref(&w, &ref), 0);
    }
    while (aemsg_read_state(&r, &s))
        ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
    while (aemsg_read_wanted(&r, &key, &nkey))
        ck_assert_int_eq(aemsg_put_wanted(&w, key, nkey), 0);
    if (h.more)
        ck_assert_int_eq(aemsg_set_more(&w, true), 0);
    if (h.applied)
        ck_assert_int_eq(aemsg_set_applied(&w, h.applied), 0);
    return aemsg_end(&w);
}

static inline void assert_reencodes(const char *buf, size_t len)
{
    char *out = malloc(len);

    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(reencode(buf, len, out, len), len);
    ck_assert_mem_eq(out, buf, len);
    free(out);
}

/* Ops in the generated messages: none, one, a few, and the most a type
 * takes (ROOTS needs its one op, PUSH_ACK has one, KEYS needs a leaf). */
static inline unsigned clamp_ops(enum aemsg_type type, unsigned n)
{
    if (type == AEMSG_ROOTS)
        return 1;
    if (type == AEMSG_PUSH_ACK)
        return n > 1 ? 1 : n;
    if (type == AEMSG_ROOTS_ACK)
        return n > 64 ? 64 : n;
    if (type == AEMSG_KEYS)
        return n == 0 ? 1 : n > 3 * AEMSG_MAX_LEAVES ? 3 * AEMSG_MAX_LEAVES : n;
    return n;
}

/* Ops in the messages of the writer's and reader's tests. */
static inline unsigned few_ops(enum aemsg_type type)
{
    return clamp_ops(type, 7);
}

#endif
