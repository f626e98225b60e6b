/* gmsg: encodes and decodes gossip messages (see gmsg.h for the format). The
 * writer and the reader apply the same field checks, so every message the
 * reader accepts has exactly one encoding, the one the writer produces. */
#include <errno.h>
#include <string.h>

#include "cluster/gmsg.h"

#define MAGIC      "MCg"
#define MAGIC_LEN  3
#define MIN_ADDR   3 /* "h:1" */
#define MAX_PORT   65535
#define IPV6_MIN   2 /* "::" */
#define IPV6_MAX   253
#define FIXED_HEAD (MAGIC_LEN + 1 + 1) /* magic, version, type */

static void put_u16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

static uint16_t get_u16(const char *p)
{
    return (uint16_t)((unsigned char)p[0] << 8 | (unsigned char)p[1]);
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

static bool printable(char c)
{
    return c >= 0x21 && c <= 0x7e;
}

static bool id_valid(const char *s, size_t n)
{
    if (n < 1 || n > GMSG_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!printable(s[i]))
            return false;
    return true;
}

static bool state_valid(uint8_t state)
{
    return state >= GMSG_ALIVE && state <= GMSG_LEFT;
}

/* 1..65535 in decimal, no sign, no leading zero. */
static bool port_valid(const char *s, size_t n)
{
    unsigned long v = 0;

    if (n < 1 || n > 5 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v <= MAX_PORT;
}

static bool ipv6_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           c == ':' || c == '.';
}

/* s[0..n) is "host:port" or "[ipv6]:port"; s need not be NUL-terminated. */
static bool addr_valid_n(const char *s, size_t n)
{
    size_t host_end; /* offset of the ':' before the port */

    if (n < MIN_ADDR || n > GMSG_MAX_ADDR)
        return false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        size_t inner;

        if (close == NULL)
            return false;
        inner = (size_t)(close - s) - 1;
        if (inner < IPV6_MIN || inner > IPV6_MAX)
            return false;
        for (size_t i = 1; i <= inner; i++)
            if (!ipv6_char(s[i]))
                return false;
        host_end = inner + 2;
        if (host_end >= n || s[host_end] != ':')
            return false;
    } else {
        for (host_end = 0; host_end < n && s[host_end] != ':'; host_end++)
            if (!printable(s[host_end]) || s[host_end] == '[' || s[host_end] == ']')
                return false;
        if (host_end == 0 || host_end == n)
            return false;
    }
    return port_valid(s + host_end + 1, n - host_end - 1);
}

bool gmsg_addr_valid(const char *s)
{
    return s != NULL && addr_valid_n(s, strnlen(s, GMSG_MAX_ADDR + 1));
}

/* ---- writer ---- */

/* The encoded size of m, or 0 when a field is invalid. The strings are
 * bounded by their arrays, so a member without its NUL is refused. */
static size_t member_size(const struct gmsg_member *m)
{
    size_t nid, na, ng;

    if (m == NULL)
        return 0;
    nid = strnlen(m->id, sizeof(m->id));
    na = strnlen(m->addr, sizeof(m->addr));
    ng = strnlen(m->gaddr, sizeof(m->gaddr));
    if (!id_valid(m->id, nid) || !state_valid(m->state) || !addr_valid_n(m->addr, na) ||
        !addr_valid_n(m->gaddr, ng))
        return 0;
    return 1 + nid + 8 + 1 + 1 + na + 1 + ng;
}

/* Writes a length byte and s[0..n) at p; returns the bytes written. */
static size_t put_str(char *p, const char *s, size_t n)
{
    p[0] = (char)(unsigned char)n;
    memcpy(p + 1, s, n);
    return 1 + n;
}

/* Writes m, checked by member_size(), at p; returns the bytes written. */
static size_t put_member(char *p, const struct gmsg_member *m)
{
    size_t off = put_str(p, m->id, strlen(m->id));

    put_u64(p + off, m->incarnation);
    off += 8;
    p[off++] = (char)m->state;
    off += put_str(p + off, m->addr, strlen(m->addr));
    off += put_str(p + off, m->gaddr, strlen(m->gaddr));
    return off;
}

void gmsg_begin(struct gmsg_writer *w, char *buf, size_t cap, enum gmsg_type type,
                const struct gmsg_member *sender, const char *target)
{
    size_t ns, nt = 0, need;

    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->count_at = 0;
    w->count = 0;
    w->failed = true;
    if ((int)type < GMSG_PING || (int)type > GMSG_SYNC_ACK)
        return;
    if ((type == GMSG_PING_REQ) != (target != NULL))
        return;
    if (target != NULL) {
        nt = strnlen(target, GMSG_MAX_ID + 1);
        if (!id_valid(target, nt))
            return;
    }
    ns = member_size(sender);
    if (ns == 0)
        return;
    need = FIXED_HEAD + ns + (target != NULL ? 1 + nt : 0) + 2;
    if (buf == NULL || need > cap)
        return;
    memcpy(buf, MAGIC, MAGIC_LEN);
    buf[MAGIC_LEN] = GMSG_VERSION;
    buf[MAGIC_LEN + 1] = (char)type;
    w->len = FIXED_HEAD;
    w->len += put_member(buf + w->len, sender);
    if (target != NULL)
        w->len += put_str(buf + w->len, target, nt);
    w->count_at = w->len;
    put_u16(buf + w->len, 0);
    w->len += 2;
    w->failed = false;
}

bool gmsg_add(struct gmsg_writer *w, const struct gmsg_member *m)
{
    size_t n;

    if (w->failed || w->count >= GMSG_MAX_RECORDS)
        return false;
    n = member_size(m);
    if (n == 0 || n > w->cap - w->len || n > GMSG_MAX_SIZE - w->len)
        return false;
    w->len += put_member(w->buf + w->len, m);
    w->count++;
    return true;
}

size_t gmsg_end(struct gmsg_writer *w)
{
    if (w->failed)
        return 0;
    put_u16(w->buf + w->count_at, (uint16_t)w->count);
    return w->len;
}

/* ---- reader ---- */

/* Reads a length byte (min..max) and its bytes into out, NUL-terminated;
 * the caller checks the bytes. */
static bool read_str(const char *buf, size_t len, size_t *pos, size_t min, size_t max,
                     char *out)
{
    size_t n;

    if (*pos >= len)
        return false;
    n = (unsigned char)buf[*pos];
    if (n < min || n > max || n > len - *pos - 1)
        return false;
    memcpy(out, buf + *pos + 1, n);
    out[n] = '\0';
    *pos += 1 + n;
    return true;
}

static bool read_id(const char *buf, size_t len, size_t *pos, char *out)
{
    size_t start = *pos;

    return read_str(buf, len, pos, 1, GMSG_MAX_ID, out) &&
           id_valid(out, *pos - start - 1);
}

static bool read_addr(const char *buf, size_t len, size_t *pos, char *out)
{
    size_t start = *pos;

    return read_str(buf, len, pos, MIN_ADDR, GMSG_MAX_ADDR, out) &&
           addr_valid_n(out, *pos - start - 1);
}

/* Reads and checks one member record at *pos; on false, *pos and *m are
 * unspecified. */
static bool read_member(const char *buf, size_t len, size_t *pos, struct gmsg_member *m)
{
    if (!read_id(buf, len, pos, m->id) || len - *pos < 8 + 1)
        return false;
    m->incarnation = get_u64(buf + *pos);
    m->state = (uint8_t)buf[*pos + 8];
    *pos += 8 + 1;
    return state_valid(m->state) && read_addr(buf, len, pos, m->addr) &&
           read_addr(buf, len, pos, m->gaddr);
}

int gmsg_read_header(struct gmsg_reader *r, const char *buf, size_t len,
                     struct gmsg_header *h)
{
    struct gmsg_member scratch;
    size_t pos = FIXED_HEAD, first;
    unsigned count, type;

    /* A refused message leaves no record to read, whatever the caller does. */
    r->buf = buf;
    r->len = len;
    r->pos = len;
    r->left = 0;
    if (buf == NULL || len > GMSG_MAX_SIZE || len < FIXED_HEAD ||
        memcmp(buf, MAGIC, MAGIC_LEN) != 0 ||
        (unsigned char)buf[MAGIC_LEN] != GMSG_VERSION)
        return -EPROTO;
    type = (unsigned char)buf[MAGIC_LEN + 1];
    if (type < GMSG_PING || type > GMSG_SYNC_ACK)
        return -EPROTO;
    if (!read_member(buf, len, &pos, &h->sender))
        return -EPROTO;
    h->target[0] = '\0';
    if (type == GMSG_PING_REQ && !read_id(buf, len, &pos, h->target))
        return -EPROTO;
    if (len - pos < 2)
        return -EPROTO;
    count = get_u16(buf + pos);
    pos += 2;
    if (count > GMSG_MAX_RECORDS)
        return -EPROTO;
    first = pos;
    for (unsigned i = 0; i < count; i++)
        if (!read_member(buf, len, &pos, &scratch))
            return -EPROTO;
    if (pos != len)
        return -EPROTO;
    h->type = (enum gmsg_type)type;
    h->count = count;
    r->pos = first;
    r->left = count;
    return 0;
}

int gmsg_read_record(struct gmsg_reader *r, struct gmsg_member *m)
{
    if (r->left == 0)
        return 0;
    /* Validated by gmsg_read_header(); checked again only to stay in bounds
     * should the caller have changed the buffer since. */
    if (!read_member(r->buf, r->len, &r->pos, m)) {
        r->left = 0;
        return 0;
    }
    r->left--;
    return 1;
}
