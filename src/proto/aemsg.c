/* aemsg: encodes and decodes anti-entropy messages (see aemsg.h for the
 * format). The writer and the reader apply the same field checks, so every
 * message the reader accepts has exactly one encoding, the one the writer
 * produces. */
#include <errno.h>
#include <string.h>

#include "proto/aemsg.h"

#define MAGIC       "MCa"
#define MAGIC_LEN   3
#define FIXED_HEAD  (MAGIC_LEN + 1 + 1) /* magic, version, type */
#define HASHES_LEN  (8 * AEMSG_SEGMENTS)
#define SEG_LEN     (1 + 8 * AEMSG_SEG_LEAVES)
#define LEAF_LEN    (2 + 4)
#define REF_FIXED   (8 + 1)             /* after the key: version, iflags */
#define STATE_FIXED (8 + 1 + 4 + 8 + 4) /* after the key: ..., nvalue */

_Static_assert(AEMSG_HEADER_MAX + (1 + 1 + 4 + 4) + 1 + AEMSG_MAX_KEY + STATE_FIXED +
                       AEMSG_MAX_VALUE <=
                   AEMSG_MAX_SIZE,
               "a value of AEMSG_MAX_VALUE must fit alone in a KEYS_ACK");
_Static_assert((AEMSG_SEGMENTS * AEMSG_SEG_LEAVES) == AEMSG_LEAVES, "tree shape");

static void put_u16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

static void put_u32(char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        p[i] = (char)v;
        v >>= 8;
    }
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)v;
        v >>= 8;
    }
}

static uint16_t get_u16(const char *p)
{
    return (uint16_t)((unsigned char)p[0] << 8 | (unsigned char)p[1]);
}

static uint32_t get_u32(const char *p)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

static uint64_t get_u64(const char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

static bool id_valid(const char *s, size_t n)
{
    if (n < 1 || n > AEMSG_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

static bool is_answer(unsigned type)
{
    return type == AEMSG_ROOTS_ACK || type == AEMSG_KEYS_ACK || type == AEMSG_PUSH_ACK;
}

/* The types whose body has full states. */
static bool carries_states(unsigned type)
{
    return type == AEMSG_KEYS_ACK || type == AEMSG_PUSH || type == AEMSG_HANDOFF;
}

/* The checks shared by both sides; each returns 0, -EINVAL for an invalid
 * field (the reader turns it into -EPROTO) or -E2BIG for one over its bound. */

static int key_check(const char *key, size_t nkey)
{
    if (nkey == 0 || key == NULL)
        return -EINVAL;
    return nkey > AEMSG_MAX_KEY ? -E2BIG : 0;
}

static int ref_check(uint64_t version, uint8_t iflags)
{
    return version == 0 || (iflags & ~AEMSG_IFLAGS) != 0 ? -EINVAL : 0;
}

static int state_check(const struct store_state *st, const char *value)
{
    if (ref_check(st->version, st->iflags) != 0 || st->exptime < 0 ||
        ((st->iflags & ITEM_TOMBSTONE) && st->nvalue != 0) ||
        (value == NULL && st->nvalue != 0))
        return -EINVAL;
    return st->nvalue > AEMSG_MAX_VALUE ? -E2BIG : 0;
}

/* ---- writer ---- */

/* The bytes of the body's fixed fields (status, more, counts, applied),
 * which aemsg_begin() reserves and aemsg_end() writes; a KEYS_ACK keeps 4
 * more at the end for its wanted count. ROOTS has none: its hashes are a
 * part, aemsg_put_roots(). */
static size_t fixed_len(unsigned type)
{
    switch (type) {
    case AEMSG_ROOTS_ACK:
        return 1 + 1;
    case AEMSG_KEYS:
        return 2;
    case AEMSG_KEYS_ACK:
        return 1 + 1 + 4;
    case AEMSG_PUSH:
    case AEMSG_HANDOFF:
        return 4;
    case AEMSG_PUSH_ACK:
        return 1 + 4;
    default:
        return 0;
    }
}

int aemsg_begin(struct aemsg_writer *w, char *buf, size_t cap, enum aemsg_type type,
                const char *sender, uint64_t layout)
{
    size_t ns, tail = type == AEMSG_KEYS_ACK ? 4 : 0;

    memset(w, 0, sizeof(*w));
    w->failed = true;
    w->last = -1;
    if ((int)type < AEMSG_ROOTS || (int)type > AEMSG_HANDOFF || buf == NULL ||
        sender == NULL)
        return -EINVAL;
    ns = strnlen(sender, AEMSG_MAX_ID + 1);
    if (!id_valid(sender, ns))
        return -EINVAL;
    w->buf = buf;
    w->cap = cap < AEMSG_MAX_SIZE ? cap : AEMSG_MAX_SIZE;
    w->body = FIXED_HEAD + 1 + ns + 8;
    if (w->body + fixed_len(type) + tail > w->cap)
        return -ENOSPC;
    memcpy(buf, MAGIC, MAGIC_LEN);
    buf[MAGIC_LEN] = AEMSG_VERSION;
    buf[MAGIC_LEN + 1] = (char)type;
    buf[FIXED_HEAD] = (char)ns;
    memcpy(buf + FIXED_HEAD + 1, sender, ns);
    put_u64(buf + FIXED_HEAD + 1 + ns, layout);
    /* The fixed fields are written by aemsg_end(), from w, so that a copy of
     * the writer restores them too. */
    w->len = w->body + fixed_len(type);
    w->back = w->cap - tail;
    w->type = (uint8_t)type;
    w->status = AEMSG_OK;
    w->failed = false;
    return 0;
}

/* 0 when w takes a part of this type now, else -EINVAL. */
static int usable(const struct aemsg_writer *w, unsigned type)
{
    return w->failed || w->ended || w->type != type || w->status != AEMSG_OK ? -EINVAL
                                                                             : 0;
}

static bool fits(const struct aemsg_writer *w, size_t n)
{
    return n <= w->back - w->len;
}

int aemsg_set_status(struct aemsg_writer *w, enum aemsg_status status)
{
    if (w->failed || w->ended || !is_answer(w->type) || (int)status < AEMSG_OK ||
        (int)status > AEMSG_NOT_READY)
        return -EINVAL;
    if (status != AEMSG_OK &&
        (w->count != 0 || w->nwanted != 0 || w->more || w->applied != 0))
        return -EINVAL;
    w->status = (uint8_t)status;
    return 0;
}

int aemsg_put_roots(struct aemsg_writer *w, uint64_t root,
                    const uint64_t seg[AEMSG_SEGMENTS])
{
    if (usable(w, AEMSG_ROOTS) != 0 || w->roots || seg == NULL)
        return -EINVAL;
    if (!fits(w, 8 + HASHES_LEN))
        return -ENOSPC;
    put_u64(w->buf + w->len, root);
    for (unsigned i = 0; i < AEMSG_SEGMENTS; i++)
        put_u64(w->buf + w->len + 8 + 8 * i, seg[i]);
    w->len += 8 + HASHES_LEN;
    w->roots = true;
    return 0;
}

int aemsg_put_segment(struct aemsg_writer *w, unsigned index,
                      const uint64_t leaves[AEMSG_SEG_LEAVES])
{
    if (usable(w, AEMSG_ROOTS_ACK) != 0 || leaves == NULL || index >= AEMSG_SEGMENTS ||
        (int)index <= w->last)
        return -EINVAL;
    if (!fits(w, SEG_LEN))
        return -ENOSPC;
    w->buf[w->len] = (char)index;
    for (unsigned i = 0; i < AEMSG_SEG_LEAVES; i++)
        put_u64(w->buf + w->len + 1 + 8 * i, leaves[i]);
    w->len += SEG_LEN;
    w->count++;
    w->last = (int)index;
    return 0;
}

/* KEYS: writes the current leaf's nstates. */
static void close_leaf(struct aemsg_writer *w)
{
    if (w->count > 0)
        put_u32(w->buf + w->leaf_at, w->nstates);
}

int aemsg_put_leaf(struct aemsg_writer *w, unsigned index)
{
    if (usable(w, AEMSG_KEYS) != 0 || index >= AEMSG_LEAVES || (int)index <= w->last)
        return -EINVAL;
    if (w->count >= AEMSG_MAX_LEAVES || !fits(w, LEAF_LEN))
        return -ENOSPC;
    close_leaf(w);
    put_u16(w->buf + w->len, (uint16_t)index);
    w->leaf_at = w->len + 2;
    w->len += LEAF_LEN;
    w->count++;
    w->nstates = 0;
    w->last = (int)index;
    return 0;
}

/* Writes a length byte and key[0..nkey) at p; returns the bytes written. */
static size_t put_key(char *p, const char *key, size_t nkey)
{
    p[0] = (char)(unsigned char)nkey;
    memcpy(p + 1, key, nkey);
    return 1 + nkey;
}

int aemsg_put_ref(struct aemsg_writer *w, const struct aemsg_ref *ref)
{
    char *p;

    if (usable(w, AEMSG_KEYS) != 0 || w->count == 0 || ref == NULL ||
        key_check(ref->key, ref->nkey) != 0 || ref_check(ref->version, ref->iflags) != 0)
        return -EINVAL;
    if (!fits(w, 1 + ref->nkey + REF_FIXED))
        return -ENOSPC;
    p = w->buf + w->len;
    p += put_key(p, ref->key, ref->nkey);
    put_u64(p, ref->version);
    p[8] = (char)ref->iflags;
    w->len += 1 + ref->nkey + REF_FIXED;
    w->nstates++;
    return 0;
}

int aemsg_put_state(struct aemsg_writer *w, const struct aemsg_state *s)
{
    size_t n;
    char *p;
    int rc;

    if (w->failed || w->ended || !carries_states(w->type) || w->status != AEMSG_OK ||
        s == NULL)
        return -EINVAL;
    if (key_check(s->key, s->nkey) != 0)
        return -EINVAL;
    if ((rc = state_check(&s->st, s->value)) != 0)
        return rc;
    n = 1 + s->nkey + STATE_FIXED + s->st.nvalue;
    if (!fits(w, n))
        return -ENOSPC;
    p = w->buf + w->len;
    p += put_key(p, s->key, s->nkey);
    put_u64(p, s->st.version);
    p[8] = (char)s->st.iflags;
    put_u32(p + 9, s->st.flags);
    put_u64(p + 13, (uint64_t)s->st.exptime);
    put_u32(p + 21, s->st.nvalue);
    if (s->st.nvalue > 0)
        memcpy(p + STATE_FIXED, s->value, s->st.nvalue);
    w->len += n;
    w->count++;
    return 0;
}

/*
 * The wanted keys go on a stack that grows down from the end of the buffer,
 * so that they can be appended between the states (as a leaf's comparison
 * finds them) without moving anything; aemsg_end() turns the stack into the
 * list after the states, in the order the keys came.
 */
int aemsg_put_wanted(struct aemsg_writer *w, const char *key, size_t nkey)
{
    if (usable(w, AEMSG_KEYS_ACK) != 0 || key_check(key, nkey) != 0)
        return -EINVAL;
    if (!fits(w, 1 + nkey))
        return -ENOSPC;
    w->back -= 1 + nkey;
    put_key(w->buf + w->back, key, nkey);
    w->nwanted++;
    return 0;
}

int aemsg_set_more(struct aemsg_writer *w, bool more)
{
    if (usable(w, AEMSG_KEYS_ACK) != 0)
        return -EINVAL;
    w->more = more;
    return 0;
}

int aemsg_set_applied(struct aemsg_writer *w, uint32_t applied)
{
    if (usable(w, AEMSG_PUSH_ACK) != 0)
        return -EINVAL;
    w->applied = applied;
    return 0;
}

static void reverse(char *p, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        char c = p[i];

        p[i] = p[j - 1];
        p[j - 1] = c;
    }
}

/* Moves the wanted keys' stack [back, cap - 4) after the states, behind
 * their count, first pushed first. The stack holds the keys last pushed
 * first; reversing it whole puts them in order but each one backwards, its
 * length byte last, which lets a walk from the end find and right each. */
static void flush_wanted(struct aemsg_writer *w)
{
    size_t top = w->cap - 4, n = top - w->back, end = top;

    reverse(w->buf + w->back, n);
    while (end > w->back) {
        size_t start = end - 1 - (unsigned char)w->buf[end - 1];

        reverse(w->buf + start, end - start);
        end = start;
    }
    /* The stack may start right at len: move it before writing the count. */
    memmove(w->buf + w->len + 4, w->buf + w->back, n);
    put_u32(w->buf + w->len, w->nwanted);
    w->len += 4 + n;
    w->back = w->len;
}

size_t aemsg_end(struct aemsg_writer *w)
{
    char *body = w->buf + w->body;

    if (w->failed)
        return 0;
    if (w->ended)
        return w->len;
    switch (w->type) {
    case AEMSG_ROOTS:
        if (!w->roots)
            return 0;
        break;
    case AEMSG_ROOTS_ACK:
        body[0] = (char)w->status;
        body[1] = (char)w->count;
        break;
    case AEMSG_KEYS:
        if (w->count == 0)
            return 0;
        close_leaf(w);
        put_u16(body, (uint16_t)w->count);
        break;
    case AEMSG_KEYS_ACK:
        body[0] = (char)w->status;
        body[1] = (char)w->more;
        put_u32(body + 2, w->count);
        flush_wanted(w);
        break;
    case AEMSG_PUSH:
    case AEMSG_HANDOFF:
        put_u32(body, w->count);
        break;
    case AEMSG_PUSH_ACK:
        body[0] = (char)w->status;
        put_u32(body + 1, w->applied);
        break;
    }
    w->ended = true;
    return w->len;
}

/* ---- reader ---- */

/* A position in a message; pos <= len always. */
struct cur {
    const char *buf;
    size_t len;
    size_t pos;
};

static bool has(const struct cur *c, size_t n)
{
    return n <= c->len - c->pos;
}

/* The reader's error for a field check's result. */
static int proto_err(int rc)
{
    return rc == -E2BIG ? -E2BIG : rc != 0 ? -EPROTO : 0;
}

static int get_key(struct cur *c, const char **key, size_t *nkey)
{
    size_t n;
    int rc;

    if (!has(c, 1))
        return -EPROTO;
    n = (unsigned char)c->buf[c->pos];
    rc = key_check(c->buf + c->pos + 1, n);
    if (rc != 0)
        return proto_err(rc);
    if (!has(c, 1 + n))
        return -EPROTO;
    *key = c->buf + c->pos + 1;
    *nkey = n;
    c->pos += 1 + n;
    return 0;
}

static int get_ref(struct cur *c, struct aemsg_ref *ref)
{
    const char *p;
    int rc = get_key(c, &ref->key, &ref->nkey);

    if (rc != 0)
        return rc;
    if (!has(c, REF_FIXED))
        return -EPROTO;
    p = c->buf + c->pos;
    ref->version = get_u64(p);
    ref->iflags = (uint8_t)p[8];
    c->pos += REF_FIXED;
    return proto_err(ref_check(ref->version, ref->iflags));
}

static int get_state(struct cur *c, struct aemsg_state *s)
{
    const char *p;
    int rc = get_key(c, &s->key, &s->nkey);

    if (rc != 0)
        return rc;
    if (!has(c, STATE_FIXED))
        return -EPROTO;
    p = c->buf + c->pos;
    s->st.version = get_u64(p);
    s->st.iflags = (uint8_t)p[8];
    s->st.flags = get_u32(p + 9);
    s->st.exptime = (int64_t)get_u64(p + 13);
    s->st.nvalue = get_u32(p + 21);
    c->pos += STATE_FIXED;
    s->value = c->buf + c->pos;
    rc = proto_err(state_check(&s->st, s->value));
    if (rc != 0)
        return rc;
    if (!has(c, s->st.nvalue))
        return -EPROTO;
    c->pos += s->st.nvalue;
    return 0;
}

static int get_status(struct cur *c, struct aemsg_header *h)
{
    unsigned st;

    if (!has(c, 1))
        return -EPROTO;
    st = (unsigned char)c->buf[c->pos++];
    if (st > AEMSG_NOT_READY)
        return -EPROTO;
    h->status = (enum aemsg_status)st;
    return 0;
}

static int body_roots_ack(struct cur *c, struct aemsg_header *h)
{
    int last = -1;

    if (get_status(c, h) != 0 || !has(c, 1))
        return -EPROTO;
    h->count = (unsigned char)c->buf[c->pos++];
    if (h->count > AEMSG_SEGMENTS)
        return -E2BIG;
    if (h->status != AEMSG_OK && h->count != 0)
        return -EPROTO;
    for (uint32_t i = 0; i < h->count; i++) {
        int index;

        if (!has(c, SEG_LEN))
            return -EPROTO;
        index = (unsigned char)c->buf[c->pos];
        if (index >= AEMSG_SEGMENTS || index <= last)
            return -EPROTO;
        last = index;
        c->pos += SEG_LEN;
    }
    return 0;
}

static int body_keys(struct cur *c, struct aemsg_header *h)
{
    struct aemsg_ref ref;
    int last = -1, rc;

    if (!has(c, 2))
        return -EPROTO;
    h->count = get_u16(c->buf + c->pos);
    c->pos += 2;
    if (h->count == 0)
        return -EPROTO;
    if (h->count > AEMSG_MAX_LEAVES)
        return -E2BIG;
    for (uint32_t i = 0; i < h->count; i++) {
        int index;
        uint32_t n;

        if (!has(c, LEAF_LEN))
            return -EPROTO;
        index = get_u16(c->buf + c->pos);
        n = get_u32(c->buf + c->pos + 2);
        if (index >= (int)AEMSG_LEAVES || index <= last)
            return -EPROTO;
        last = index;
        c->pos += LEAF_LEN;
        /* Each ref takes bytes: the walk ends at the message's end. */
        for (uint32_t j = 0; j < n; j++)
            if ((rc = get_ref(c, &ref)) != 0)
                return rc;
    }
    return 0;
}

/* A u32 count, then that many full states. */
static int states(struct cur *c, uint32_t *count)
{
    struct aemsg_state s;
    int rc;

    if (!has(c, 4))
        return -EPROTO;
    *count = get_u32(c->buf + c->pos);
    c->pos += 4;
    for (uint32_t i = 0; i < *count; i++)
        if ((rc = get_state(c, &s)) != 0)
            return rc;
    return 0;
}

static int body_keys_ack(struct cur *c, struct aemsg_header *h, size_t *wanted_at)
{
    const char *key;
    size_t nkey;
    unsigned more;
    int rc;

    if (get_status(c, h) != 0 || !has(c, 1))
        return -EPROTO;
    more = (unsigned char)c->buf[c->pos++];
    if (more > 1)
        return -EPROTO;
    h->more = more == 1;
    if ((rc = states(c, &h->count)) != 0)
        return rc;
    *wanted_at = c->pos;
    if (!has(c, 4))
        return -EPROTO;
    h->nwanted = get_u32(c->buf + c->pos);
    c->pos += 4;
    if (h->status != AEMSG_OK && (h->more || h->count != 0 || h->nwanted != 0))
        return -EPROTO;
    for (uint32_t i = 0; i < h->nwanted; i++)
        if ((rc = get_key(c, &key, &nkey)) != 0)
            return rc;
    return 0;
}

static int body_push_ack(struct cur *c, struct aemsg_header *h)
{
    if (get_status(c, h) != 0 || !has(c, 4))
        return -EPROTO;
    h->applied = get_u32(c->buf + c->pos);
    c->pos += 4;
    return h->status != AEMSG_OK && h->applied != 0 ? -EPROTO : 0;
}

/* Validates the header and body at c; fills h and, for a KEYS_ACK,
 * *wanted_at. */
static int validate(struct cur *c, struct aemsg_header *h, size_t *wanted_at)
{
    unsigned type;
    size_t ns;
    int rc = 0;

    if (c->len > AEMSG_MAX_SIZE)
        return -E2BIG;
    if (c->len < FIXED_HEAD + 1 || memcmp(c->buf, MAGIC, MAGIC_LEN) != 0 ||
        (unsigned char)c->buf[MAGIC_LEN] != AEMSG_VERSION)
        return -EPROTO;
    type = (unsigned char)c->buf[MAGIC_LEN + 1];
    if (type < AEMSG_ROOTS || type > AEMSG_HANDOFF)
        return -EPROTO;
    ns = (unsigned char)c->buf[FIXED_HEAD];
    c->pos = FIXED_HEAD + 1;
    if (!has(c, ns + 8) || !id_valid(c->buf + c->pos, ns))
        return -EPROTO;
    memcpy(h->sender, c->buf + c->pos, ns);
    h->sender[ns] = '\0';
    h->layout = get_u64(c->buf + c->pos + ns);
    c->pos += ns + 8;
    h->type = (enum aemsg_type)type;
    h->status = AEMSG_OK;
    h->more = false;
    h->count = h->nwanted = h->applied = 0;
    switch (type) {
    case AEMSG_ROOTS:
        rc = has(c, 8 + HASHES_LEN) ? 0 : -EPROTO;
        c->pos += rc == 0 ? 8 + HASHES_LEN : 0;
        break;
    case AEMSG_ROOTS_ACK:
        rc = body_roots_ack(c, h);
        break;
    case AEMSG_KEYS:
        rc = body_keys(c, h);
        break;
    case AEMSG_KEYS_ACK:
        rc = body_keys_ack(c, h, wanted_at);
        break;
    case AEMSG_PUSH:
    case AEMSG_HANDOFF:
        rc = states(c, &h->count);
        break;
    case AEMSG_PUSH_ACK:
        rc = body_push_ack(c, h);
        break;
    }
    if (rc == 0 && c->pos != c->len)
        rc = -EPROTO;
    return rc;
}

bool aemsg_has_magic(const char *buf, size_t len)
{
    return buf != NULL && len >= MAGIC_LEN && memcmp(buf, MAGIC, MAGIC_LEN) == 0;
}

unsigned aemsg_peek_type(const char *buf, size_t len)
{
    if (!aemsg_has_magic(buf, len) || len < MAGIC_LEN + 2 ||
        (uint8_t)buf[MAGIC_LEN] != AEMSG_VERSION)
        return 0;
    return (uint8_t)buf[MAGIC_LEN + 1];
}

/* Leaves nothing to read: after a refused message, or should a validated
 * one have changed under the reader. */
static void stop(struct aemsg_reader *r)
{
    r->type = 0;
    r->left = r->inleaf = r->nwanted = 0;
    r->roots = false;
}

int aemsg_read_header(struct aemsg_reader *r, const char *buf, size_t len,
                      struct aemsg_header *h)
{
    struct cur c = {buf, len, 0};
    size_t wanted_at = 0;
    int rc;

    memset(r, 0, sizeof(*r));
    r->buf = buf;
    r->len = len;
    if (buf == NULL)
        return -EPROTO;
    rc = validate(&c, h, &wanted_at);
    if (rc != 0)
        return rc;
    r->type = (uint8_t)h->type;
    r->pos = FIXED_HEAD + 1 + strlen(h->sender) + 8 + fixed_len(h->type);
    r->wanted_at = wanted_at;
    r->left = h->count;
    r->nwanted = h->nwanted;
    r->roots = h->type == AEMSG_ROOTS;
    return 0;
}

/* The cursor of r, and back. */
static struct cur cur_of(const struct aemsg_reader *r)
{
    struct cur c = {r->buf, r->len, r->pos <= r->len ? r->pos : r->len};

    return c;
}

int aemsg_read_roots(struct aemsg_reader *r, uint64_t *root, uint64_t seg[AEMSG_SEGMENTS])
{
    struct cur c = cur_of(r);

    if (r->type != AEMSG_ROOTS || !r->roots)
        return 0;
    r->roots = false;
    if (!has(&c, 8 + HASHES_LEN)) {
        stop(r);
        return 0;
    }
    *root = get_u64(r->buf + c.pos);
    for (unsigned i = 0; i < AEMSG_SEGMENTS; i++)
        seg[i] = get_u64(r->buf + c.pos + 8 + 8 * i);
    r->pos = c.pos + 8 + HASHES_LEN;
    return 1;
}

int aemsg_read_segment(struct aemsg_reader *r, unsigned *index,
                       uint64_t leaves[AEMSG_SEG_LEAVES])
{
    struct cur c = cur_of(r);

    if (r->type != AEMSG_ROOTS_ACK || r->left == 0)
        return 0;
    if (!has(&c, SEG_LEN)) {
        stop(r);
        return 0;
    }
    *index = (unsigned char)r->buf[c.pos];
    for (unsigned i = 0; i < AEMSG_SEG_LEAVES; i++)
        leaves[i] = get_u64(r->buf + c.pos + 1 + 8 * i);
    r->pos = c.pos + SEG_LEN;
    r->left--;
    return 1;
}

int aemsg_read_ref(struct aemsg_reader *r, struct aemsg_ref *ref)
{
    struct cur c = cur_of(r);

    if (r->type != AEMSG_KEYS || r->inleaf == 0)
        return 0;
    if (get_ref(&c, ref) != 0) {
        stop(r);
        return 0;
    }
    r->pos = c.pos;
    r->inleaf--;
    return 1;
}

int aemsg_read_leaf(struct aemsg_reader *r, unsigned *index, uint32_t *nstates)
{
    struct aemsg_ref skip;
    struct cur c;

    if (r->type != AEMSG_KEYS)
        return 0;
    while (r->inleaf > 0)
        if (aemsg_read_ref(r, &skip) == 0)
            return 0;
    c = cur_of(r);
    if (r->left == 0)
        return 0;
    if (!has(&c, LEAF_LEN)) {
        stop(r);
        return 0;
    }
    *index = get_u16(r->buf + c.pos);
    *nstates = get_u32(r->buf + c.pos + 2);
    r->pos = c.pos + LEAF_LEN;
    r->inleaf = *nstates;
    r->left--;
    return 1;
}

int aemsg_read_state(struct aemsg_reader *r, struct aemsg_state *s)
{
    struct cur c = cur_of(r);

    if (!carries_states(r->type) || r->in_wanted || r->left == 0)
        return 0;
    if (get_state(&c, s) != 0) {
        stop(r);
        return 0;
    }
    r->pos = c.pos;
    r->left--;
    return 1;
}

int aemsg_read_wanted(struct aemsg_reader *r, const char **key, size_t *nkey)
{
    struct cur c;

    if (r->type != AEMSG_KEYS_ACK)
        return 0;
    if (!r->in_wanted) {
        r->in_wanted = true;
        r->left = 0;
        r->pos = r->wanted_at + 4;
    }
    if (r->nwanted == 0)
        return 0;
    c = cur_of(r);
    if (get_key(&c, key, nkey) != 0) {
        stop(r);
        return 0;
    }
    r->pos = c.pos;
    r->nwanted--;
    return 1;
}
