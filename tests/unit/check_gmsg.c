/* check_gmsg: the gossip wire format. Round trips of every type, the writer's
 * refusals (which must leave the message as it was), and the reader against
 * truncated, corrupted, oversized and hand-made malformed messages. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gmsg.h"

#define S(x)       x, sizeof(x) - 1
#define MIN_RECORD 18 /* a record's size without its id: "h:1" addresses */
#define BIG        (GMSG_MAX_SIZE + 64 * 1024)

static const enum gmsg_type all_types[] = {GMSG_PING, GMSG_ACK,  GMSG_PING_REQ,
                                           GMSG_NACK, GMSG_SYNC, GMSG_SYNC_ACK};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void member(struct gmsg_member *m, const char *id, uint64_t inc, uint8_t state,
                   const char *addr, const char *gaddr)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->incarnation = inc;
    m->state = state;
    snprintf(m->addr, sizeof(m->addr), "%s", addr);
    snprintf(m->gaddr, sizeof(m->gaddr), "%s", gaddr);
}

/* The i-th record of the generated messages: every state, varied fields. */
static void nth_member(struct gmsg_member *m, unsigned i)
{
    char id[32], addr[32];

    snprintf(id, sizeof(id), "node-%u", i);
    snprintf(addr, sizeof(addr), i % 3 == 0 ? "[fe80::%x]:%u" : "10.0.%u.1:%u", i % 251,
             1 + i % 65535);
    member(m, id, (uint64_t)i * 0x0101010101ull, (uint8_t)(1 + i % 4), addr,
           "gossip.example:7946");
}

/* A member whose fields are all as long as they may be: 777 bytes. */
static void max_member(struct gmsg_member *m, unsigned i)
{
    memset(m, 0, sizeof(*m));
    memset(m->id, 'i', GMSG_MAX_ID);
    snprintf(m->id, sizeof(m->id), "%u", i);
    m->id[strlen(m->id)] = 'i';
    m->state = GMSG_ALIVE;
    memset(m->addr, 'a', GMSG_MAX_ADDR - 6);
    memcpy(m->addr + GMSG_MAX_ADDR - 6, ":65535", 6);
    memcpy(m->gaddr, m->addr, sizeof(m->addr));
}

static const char *target_for(enum gmsg_type type)
{
    return type == GMSG_PING_REQ ? "probe-me" : NULL;
}

/* Writes a message of type with records 0..n-1 into buf; returns its length. */
static size_t build(char *buf, size_t cap, enum gmsg_type type, unsigned n)
{
    struct gmsg_writer w;
    struct gmsg_member m;

    member(&m, "sender", 42, GMSG_ALIVE, "127.0.0.1:11211", "127.0.0.1:7946");
    gmsg_begin(&w, buf, cap, type, &m, target_for(type));
    for (unsigned i = 0; i < n; i++) {
        nth_member(&m, i);
        ck_assert_msg(gmsg_add(&w, &m), "record %u refused", i);
    }
    return gmsg_end(&w);
}

/* An exactly sized heap copy, so that ASan catches any read past the end. */
static char *dup_exact(const char *buf, size_t len)
{
    char *p = malloc(len > 0 ? len : 1);

    ck_assert_ptr_nonnull(p);
    memcpy(p, buf, len);
    return p;
}

static int read_exact(const char *buf, size_t len, struct gmsg_reader *r,
                      struct gmsg_header *h)
{
    char *p = dup_exact(buf, len);
    int rc = gmsg_read_header(r, p, len, h);

    free(p);
    return rc;
}

static void assert_member_eq(const struct gmsg_member *a, const struct gmsg_member *b)
{
    ck_assert_str_eq(a->id, b->id);
    ck_assert_uint_eq(a->incarnation, b->incarnation);
    ck_assert_uint_eq(a->state, b->state);
    ck_assert_str_eq(a->addr, b->addr);
    ck_assert_str_eq(a->gaddr, b->gaddr);
}

/* Decodes buf[0..len) and re-encodes it: the encoding is canonical, so any
 * message the reader accepts must come out byte for byte. */
static void assert_reencodes(const char *buf, size_t len)
{
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_writer w;
    struct gmsg_member m;
    char *out = malloc(len);
    unsigned n = 0;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
    gmsg_begin(&w, out, len, h.type, &h.sender,
               h.type == GMSG_PING_REQ ? h.target : NULL);
    while (gmsg_read_record(&r, &m) == 1) {
        ck_assert(gmsg_add(&w, &m));
        n++;
    }
    ck_assert_uint_eq(n, h.count);
    ck_assert_uint_eq(gmsg_end(&w), len);
    ck_assert_mem_eq(out, buf, len);
    free(out);
}

START_TEST(test_gmsg_every_type_round_trips_with_0_1_and_many_records)
{
    static char buf[64 * 1024];
    static const unsigned counts[] = {0, 1, 2, 100};

    for (size_t t = 0; t < NTYPES; t++) {
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            size_t len = build(buf, sizeof(buf), all_types[t], counts[c]);
            struct gmsg_reader r;
            struct gmsg_header h;
            struct gmsg_member want, got;

            ck_assert_uint_gt(len, 0);
            ck_assert_int_eq(read_exact(buf, len, &r, &h), 0);
            ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
            ck_assert_int_eq(h.type, all_types[t]);
            ck_assert_uint_eq(h.count, counts[c]);
            member(&want, "sender", 42, GMSG_ALIVE, "127.0.0.1:11211", "127.0.0.1:7946");
            assert_member_eq(&h.sender, &want);
            for (unsigned i = 0; i < counts[c]; i++) {
                ck_assert_int_eq(gmsg_read_record(&r, &got), 1);
                nth_member(&want, i);
                assert_member_eq(&got, &want);
            }
            ck_assert_int_eq(gmsg_read_record(&r, &got), 0);
            ck_assert_int_eq(gmsg_read_record(&r, &got), 0);
            assert_reencodes(buf, len);
        }
    }
}
END_TEST

START_TEST(test_gmsg_max_records_round_trip_and_one_more_is_refused)
{
    char *buf = malloc(BIG);
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member m;
    size_t len, before;

    ck_assert_ptr_nonnull(buf);
    member(&m, "s", 1, GMSG_ALIVE, "h:1", "h:2");
    gmsg_begin(&w, buf, BIG, GMSG_SYNC, &m, NULL);
    for (unsigned i = 0; i < GMSG_MAX_RECORDS; i++) {
        nth_member(&m, i);
        ck_assert_msg(gmsg_add(&w, &m), "record %u refused", i);
    }
    before = w.len;
    nth_member(&m, GMSG_MAX_RECORDS);
    ck_assert(!gmsg_add(&w, &m));
    ck_assert_uint_eq(w.len, before);
    ck_assert_uint_eq(w.count, GMSG_MAX_RECORDS);
    len = gmsg_end(&w);
    ck_assert_uint_eq(len, before);
    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
    ck_assert_uint_eq(h.count, GMSG_MAX_RECORDS);
    for (unsigned i = 0; i < GMSG_MAX_RECORDS; i++) {
        struct gmsg_member want;

        ck_assert_int_eq(gmsg_read_record(&r, &m), 1);
        nth_member(&want, i);
        assert_member_eq(&m, &want);
    }
    ck_assert_int_eq(gmsg_read_record(&r, &m), 0);
    free(buf);
}
END_TEST

START_TEST(test_gmsg_ping_req_carries_its_target_and_other_types_none)
{
    char buf[4096];
    struct gmsg_reader r;
    struct gmsg_header h;

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf), all_types[t], 1);

        ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
        ck_assert_str_eq(h.target, all_types[t] == GMSG_PING_REQ ? "probe-me" : "");
    }
}
END_TEST

START_TEST(test_gmsg_begin_refuses_a_missing_or_unexpected_target)
{
    char buf[4096];
    struct gmsg_writer w;
    struct gmsg_member s;
    char long_id[GMSG_MAX_ID + 2];
    static const char *bad[] = {"", "a b", "tab\t", "del\x7f", "\xff"};

    member(&s, "s", 1, GMSG_ALIVE, "h:1", "h:2");
    gmsg_begin(&w, buf, sizeof(buf), GMSG_PING_REQ, &s, NULL);
    ck_assert(w.failed);
    ck_assert_uint_eq(gmsg_end(&w), 0);
    for (size_t t = 0; t < NTYPES; t++) {
        if (all_types[t] == GMSG_PING_REQ)
            continue;
        gmsg_begin(&w, buf, sizeof(buf), all_types[t], &s, "x");
        ck_assert_uint_eq(gmsg_end(&w), 0);
    }
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gmsg_begin(&w, buf, sizeof(buf), GMSG_PING_REQ, &s, bad[i]);
        ck_assert_msg(gmsg_end(&w) == 0, "target \"%s\" accepted", bad[i]);
    }
    gmsg_begin(&w, buf, sizeof(buf), GMSG_PING_REQ, &s, long_id);
    ck_assert_uint_eq(gmsg_end(&w), 0);
    long_id[GMSG_MAX_ID] = '\0';
    gmsg_begin(&w, buf, sizeof(buf), GMSG_PING_REQ, &s, long_id);
    ck_assert_uint_gt(gmsg_end(&w), 0);
}
END_TEST

START_TEST(test_gmsg_begin_refuses_an_invalid_type_or_sender)
{
    char buf[4096];
    struct gmsg_writer w;
    struct gmsg_member s;
    static const int bad_types[] = {0, 7, 255, -1};

    member(&s, "s", 1, GMSG_ALIVE, "h:1", "h:2");
    for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
        gmsg_begin(&w, buf, sizeof(buf), (enum gmsg_type)bad_types[i], &s, NULL);
        ck_assert_uint_eq(gmsg_end(&w), 0);
        ck_assert(!gmsg_add(&w, &s));
    }
    gmsg_begin(&w, buf, sizeof(buf), GMSG_PING, NULL, NULL);
    ck_assert_uint_eq(gmsg_end(&w), 0);
    s.state = 0;
    gmsg_begin(&w, buf, sizeof(buf), GMSG_PING, &s, NULL);
    ck_assert_uint_eq(gmsg_end(&w), 0);
    member(&s, "s", 1, GMSG_ALIVE, "h:0", "h:2");
    gmsg_begin(&w, buf, sizeof(buf), GMSG_PING, &s, NULL);
    ck_assert_uint_eq(gmsg_end(&w), 0);
    ck_assert(!gmsg_add(&w, &s));
}
END_TEST

/* Each way to make one record invalid. */
static void invalidate(struct gmsg_member *m, int how)
{
    member(m, "ok", 7, GMSG_SUSPECT, "h:1", "h:2");
    switch (how) {
    case 0:
        m->id[0] = '\0';
        break;
    case 1:
        strcpy(m->id, "has space");
        break;
    case 2:
        strcpy(m->id, "ctl\x01");
        break;
    case 3:
        strcpy(m->id, "del\x7f");
        break;
    case 4:
        strcpy(m->id, "high\x80");
        break;
    case 5:
        memset(m->id, 'x', sizeof(m->id));
        break; /* no NUL */
    case 6:
        m->state = 0;
        break;
    case 7:
        m->state = GMSG_LEFT + 1;
        break;
    case 8:
        m->state = 255;
        break;
    case 9:
        strcpy(m->addr, "h:0");
        break;
    case 10:
        strcpy(m->addr, "nohost");
        break;
    case 11:
        strcpy(m->gaddr, "h:65536");
        break;
    case 12:
        strcpy(m->gaddr, "");
        break;
    case 13:
        memset(m->addr, 'a', sizeof(m->addr));
        break; /* no NUL */
    default:
        memset(m->gaddr, 'a', sizeof(m->gaddr));
        break;
    }
}
#define NINVALID 15

START_TEST(test_gmsg_writer_refuses_an_invalid_record_without_changing_the_message)
{
    char buf[4096], ref[4096];
    struct gmsg_writer w;
    struct gmsg_member s, m;
    size_t before, len, reflen = build(ref, sizeof(ref), GMSG_ACK, 3);

    ck_assert_uint_gt(reflen, 0);
    member(&s, "sender", 42, GMSG_ALIVE, "127.0.0.1:11211", "127.0.0.1:7946");
    memset(buf, 0x5a, sizeof(buf));
    gmsg_begin(&w, buf, sizeof(buf), GMSG_ACK, &s, NULL);
    for (unsigned i = 0; i < 3; i++) {
        for (int how = 0; how < NINVALID; how++) {
            char snap[4096];

            memcpy(snap, buf, sizeof(buf));
            before = w.len;
            invalidate(&m, how);
            ck_assert_msg(!gmsg_add(&w, &m), "invalid record %d accepted", how);
            ck_assert_uint_eq(w.len, before);
            ck_assert_uint_eq(w.count, i);
            ck_assert(!w.failed);
            ck_assert_mem_eq(buf, snap, sizeof(buf));
        }
        ck_assert(!gmsg_add(&w, NULL));
        nth_member(&m, i);
        ck_assert(gmsg_add(&w, &m));
    }
    len = gmsg_end(&w);
    ck_assert_uint_eq(len, reflen);
    ck_assert_mem_eq(buf, ref, len);
}
END_TEST

START_TEST(test_gmsg_writer_refuses_a_full_buffer_without_changing_the_message)
{
    char ref[4096], buf[4096 + 16], snap[sizeof(buf)];
    size_t reflen = build(ref, sizeof(ref), GMSG_PING_REQ, 3);

    /* Every capacity up to the whole message: the writer takes records until
     * one does not fit, leaves the buffer as it was then, and never writes at
     * or past cap. */
    for (size_t cap = 0; cap <= reflen; cap++) {
        struct gmsg_writer w;
        struct gmsg_reader r;
        struct gmsg_header h;
        struct gmsg_member s, m;
        unsigned added = 0;
        size_t len;

        member(&s, "sender", 42, GMSG_ALIVE, "127.0.0.1:11211", "127.0.0.1:7946");
        memset(buf, 0x5a, sizeof(buf));
        gmsg_begin(&w, buf, cap, GMSG_PING_REQ, &s, "probe-me");
        for (unsigned i = 0; i < 3; i++) {
            size_t before = w.len;

            memcpy(snap, buf, sizeof(buf));
            nth_member(&m, i);
            if (!gmsg_add(&w, &m)) {
                ck_assert_uint_eq(w.len, before);
                ck_assert_mem_eq(buf, snap, sizeof(buf));
                break;
            }
            added++;
        }
        len = gmsg_end(&w);
        for (size_t j = cap; j < sizeof(buf); j++)
            ck_assert_msg((unsigned char)buf[j] == 0x5a, "cap %zu: byte %zu written", cap,
                          j);
        if (len == 0) {
            ck_assert(w.failed);
            continue;
        }
        ck_assert_uint_le(len, cap);
        ck_assert_int_eq(read_exact(buf, len, &r, &h), 0);
        ck_assert_uint_eq(h.count, added);
        /* The complete message's bytes, but for the count. */
        ck_assert_mem_eq(buf, ref, w.count_at);
        ck_assert_mem_eq(buf + w.count_at + 2, ref + w.count_at + 2,
                         len - w.count_at - 2);
        if (added == 3)
            ck_assert_uint_eq(cap, reflen);
    }
}
END_TEST

START_TEST(test_gmsg_writer_refuses_a_record_past_max_size_and_reader_takes_max_size)
{
    char *buf = malloc(BIG);
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member m;
    unsigned n = 0;
    size_t room, before;

    ck_assert_ptr_nonnull(buf);
    max_member(&m, 0);
    gmsg_begin(&w, buf, BIG, GMSG_SYNC_ACK, &m, NULL);
    for (;;) {
        max_member(&m, n + 1);
        if (!gmsg_add(&w, &m))
            break;
        n++;
    }
    ck_assert_uint_lt(n, GMSG_MAX_RECORDS); /* stopped by the size, not the count */
    ck_assert_uint_le(w.len, GMSG_MAX_SIZE);
    ck_assert_uint_gt(w.len + 777, GMSG_MAX_SIZE);
    /* Fill the rest exactly with one smaller record. */
    room = GMSG_MAX_SIZE - w.len;
    ck_assert_uint_ge(room, MIN_RECORD + 1);
    ck_assert_uint_le(room, MIN_RECORD + GMSG_MAX_ID);
    member(&m, "", 9, GMSG_DEAD, "h:1", "h:1");
    memset(m.id, 'z', room - MIN_RECORD);
    ck_assert(gmsg_add(&w, &m));
    ck_assert_uint_eq(w.len, GMSG_MAX_SIZE);
    before = w.len;
    member(&m, "x", 9, GMSG_DEAD, "h:1", "h:1");
    ck_assert(!gmsg_add(&w, &m));
    ck_assert_uint_eq(w.len, before);
    ck_assert_uint_eq(gmsg_end(&w), GMSG_MAX_SIZE);
    ck_assert_int_eq(gmsg_read_header(&r, buf, GMSG_MAX_SIZE, &h), 0);
    ck_assert_uint_eq(h.count, n + 1);
    free(buf);
}
END_TEST

START_TEST(test_gmsg_reader_refuses_a_message_over_max_size)
{
    char *buf = malloc(BIG);
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member m;
    unsigned n = 0;
    size_t len, rec;

    ck_assert_ptr_nonnull(buf);
    max_member(&m, 0);
    gmsg_begin(&w, buf, BIG, GMSG_SYNC, &m, NULL);
    while (max_member(&m, n + 1), gmsg_add(&w, &m))
        n++;
    len = gmsg_end(&w);
    ck_assert_uint_gt(n, 1);
    /* Append one more copy of the last record and count it: well formed in
     * every way but its size. */
    rec = 777;
    memcpy(buf + len, buf + len - rec, rec);
    len += rec;
    ck_assert_uint_gt(len, GMSG_MAX_SIZE);
    buf[w.count_at] = (char)((n + 1) >> 8);
    buf[w.count_at + 1] = (char)(n + 1);
    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), -EPROTO);
    ck_assert_int_eq(gmsg_read_record(&r, &m), 0);
    free(buf);
}
END_TEST

START_TEST(test_gmsg_every_truncation_is_refused)
{
    char buf[8192];

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf), all_types[t], 5);

        for (size_t cut = 0; cut < len; cut++) {
            struct gmsg_reader r;
            struct gmsg_header h;

            ck_assert_msg(read_exact(buf, cut, &r, &h) == -EPROTO,
                          "type %d: prefix of %zu of %zu bytes accepted", all_types[t],
                          cut, len);
        }
    }
}
END_TEST

START_TEST(test_gmsg_every_single_byte_corruption_decodes_or_is_refused)
{
    char buf[8192];
    unsigned accepted = 0, refused = 0;

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf), all_types[t], 4);

        for (size_t pos = 0; pos < len; pos++) {
            unsigned char orig = (unsigned char)buf[pos];
            const unsigned char vals[] = {0x00,
                                          0x01,
                                          0x02,
                                          0x03,
                                          0x20,
                                          0x3a,
                                          0x5d,
                                          0x7f,
                                          0x80,
                                          0xff,
                                          (unsigned char)(orig ^ 1u),
                                          (unsigned char)(orig + 1u),
                                          (unsigned char)(orig - 1u)};

            for (size_t v = 0; v < sizeof(vals); v++) {
                char *p = dup_exact(buf, len);
                struct gmsg_reader r;
                struct gmsg_header h;

                if (vals[v] == orig) {
                    free(p);
                    continue;
                }
                p[pos] = (char)vals[v];
                if (gmsg_read_header(&r, p, len, &h) == 0) {
                    assert_reencodes(p, len);
                    accepted++;
                } else {
                    refused++;
                }
                free(p);
            }
        }
    }
    /* Both outcomes happen: incarnations take any byte, lengths do not. */
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_gt(refused, 0);
}
END_TEST

START_TEST(test_gmsg_wrong_magic_version_or_type_is_refused)
{
    char buf[4096];
    size_t len = build(buf, sizeof(buf), GMSG_PING, 1);
    struct gmsg_reader r;
    struct gmsg_header h;
    static const struct {
        size_t pos;
        unsigned char val;
    } bad[] = {{0, 'm'}, {1, 'c'}, {2, 'G'}, {0, 0}, {3, 0},
               {3, 2},   {3, 255}, {4, 0},   {4, 7}, {4, 255}};

    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *p = dup_exact(buf, len);

        p[bad[i].pos] = (char)bad[i].val;
        ck_assert_msg(gmsg_read_header(&r, p, len, &h) == -EPROTO,
                      "byte %zu = %u accepted", bad[i].pos, bad[i].val);
        free(p);
    }
    ck_assert_int_eq(gmsg_read_header(&r, NULL, 0, &h), -EPROTO);
}
END_TEST

START_TEST(test_gmsg_trailing_bytes_are_refused)
{
    char buf[4096];

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf) - 1024, all_types[t], 2);
        struct gmsg_reader r;
        struct gmsg_header h;

        for (unsigned v = 0; v < 256; v++) {
            buf[len] = (char)v;
            ck_assert_int_eq(read_exact(buf, len + 1, &r, &h), -EPROTO);
        }
        /* A whole extra record that the count does not announce. */
        memcpy(buf + len, buf + len - 40, 40);
        ck_assert_int_eq(read_exact(buf, len + 40, &r, &h), -EPROTO);
        ck_assert_int_eq(read_exact(buf, len, &r, &h), 0);
    }
}
END_TEST

START_TEST(test_gmsg_count_larger_than_the_records_present_is_refused)
{
    char buf[4096];
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member m;
    size_t len;
    static const unsigned counts[] = {3, 4, 255, 256, GMSG_MAX_RECORDS, 0xffff};

    member(&m, "s", 1, GMSG_ALIVE, "h:1", "h:2");
    gmsg_begin(&w, buf, sizeof(buf), GMSG_SYNC, &m, NULL);
    ck_assert(gmsg_add(&w, &m));
    ck_assert(gmsg_add(&w, &m));
    len = gmsg_end(&w);
    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), 0);
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        buf[w.count_at] = (char)(counts[i] >> 8);
        buf[w.count_at + 1] = (char)counts[i];
        ck_assert_msg(read_exact(buf, len, &r, &h) == -EPROTO, "count %u accepted",
                      counts[i]);
    }
    /* Fewer than present is trailing bytes. */
    buf[w.count_at] = 0;
    buf[w.count_at + 1] = 1;
    ck_assert_int_eq(read_exact(buf, len, &r, &h), -EPROTO);
}
END_TEST

START_TEST(test_gmsg_count_over_max_records_is_refused_even_when_all_are_present)
{
    char *buf = malloc(BIG);
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member m;
    size_t len, rec;

    ck_assert_ptr_nonnull(buf);
    member(&m, "s", 1, GMSG_ALIVE, "h:1", "h:2");
    gmsg_begin(&w, buf, BIG, GMSG_SYNC, &m, NULL);
    for (unsigned i = 0; i < GMSG_MAX_RECORDS; i++)
        ck_assert(gmsg_add(&w, &m));
    len = gmsg_end(&w);
    rec = MIN_RECORD + 1;
    memcpy(buf + len, buf + len - rec, rec);
    len += rec;
    buf[w.count_at] = (char)((GMSG_MAX_RECORDS + 1) >> 8);
    buf[w.count_at + 1] = (char)(GMSG_MAX_RECORDS + 1);
    ck_assert_int_eq(gmsg_read_header(&r, buf, len, &h), -EPROTO);
    free(buf);
}
END_TEST

/* The golden message of the encoding test, in pieces. */
#define GOLDEN                                                                           \
    "MCg\x01\x03" /* magic, version 1, PING_REQ */                                       \
    "\x01"        /* sender: id length */                                                \
    "a"                                                                                  \
    "\x01\x02\x03\x04\x05\x06\x07\x08" /* incarnation */                                 \
    "\x01"                             /* ALIVE */                                       \
    "\x03"                                                                               \
    "h:1"                                                                                \
    "\x03"                                                                               \
    "h:2"                                                                                \
    "\x01" /* target */                                                                  \
    "b"                                                                                  \
    "\x00\x01" /* one record */                                                          \
    "\x01"                                                                               \
    "c"                                                                                  \
    "\x00\x00\x00\x00\x00\x00\x01\x00" /* incarnation 256 */                             \
    "\x02"                             /* SUSPECT */                                     \
    "\x0b"                                                                               \
    "[::1]:11211"                                                                        \
    "\x06"                                                                               \
    "x:7946"

START_TEST(test_gmsg_golden_bytes_pin_the_encoding)
{
    static const char golden[] = GOLDEN;
    char buf[256];
    struct gmsg_writer w;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_member s, m, got;
    size_t len;

    member(&s, "a", 0x0102030405060708ull, GMSG_ALIVE, "h:1", "h:2");
    member(&m, "c", 256, GMSG_SUSPECT, "[::1]:11211", "x:7946");
    gmsg_begin(&w, buf, sizeof(buf), GMSG_PING_REQ, &s, "b");
    ck_assert(gmsg_add(&w, &m));
    len = gmsg_end(&w);
    ck_assert_uint_eq(len, sizeof(golden) - 1);
    ck_assert_mem_eq(buf, golden, len);

    ck_assert_int_eq(read_exact(golden, sizeof(golden) - 1, &r, &h), 0);
    ck_assert_int_eq(gmsg_read_header(&r, golden, sizeof(golden) - 1, &h), 0);
    ck_assert_int_eq(h.type, GMSG_PING_REQ);
    assert_member_eq(&h.sender, &s);
    ck_assert_str_eq(h.target, "b");
    ck_assert_uint_eq(h.count, 1);
    ck_assert_int_eq(gmsg_read_record(&r, &got), 1);
    assert_member_eq(&got, &m);
    ck_assert_int_eq(gmsg_read_record(&r, &got), 0);
}
END_TEST

/* A hand-made message: PING from "a" with one record, its fields given. */
static size_t handmade(char *buf, const char *rec, size_t nrec)
{
    static const char head[] = "MCg\x01\x01"
                               "\x01"
                               "a"
                               "\0\0\0\0\0\0\0\0"
                               "\x01"
                               "\x03"
                               "h:1"
                               "\x03"
                               "h:2"
                               "\x00\x01";

    memcpy(buf, head, sizeof(head) - 1);
    memcpy(buf + sizeof(head) - 1, rec, nrec);
    return sizeof(head) - 1 + nrec;
}

START_TEST(test_gmsg_invalid_fields_on_the_wire_are_refused)
{
    static const struct {
        const char *what;
        const char *rec;
        size_t len;
    } bad[] = {
        {"empty id", S("\x00"
                       "\0\0\0\0\0\0\0\0\x01\x03h:1\x03h:2")},
        {"space in id", S("\x02x \0\0\0\0\0\0\0\0\x01\x03h:1\x03h:2")},
        {"NUL in id", S("\x02x\0\0\0\0\0\0\0\0\0\x01\x03h:1\x03h:2")},
        {"0x7f in id", S("\x02x\x7f\0\0\0\0\0\0\0\0\x01\x03h:1\x03h:2")},
        {"state 0", S("\x01x\0\0\0\0\0\0\0\0\x00\x03h:1\x03h:2")},
        {"state 5", S("\x01x\0\0\0\0\0\0\0\0\x05\x03h:1\x03h:2")},
        {"addr length 2", S("\x01x\0\0\0\0\0\0\0\0\x01\x02h1\x03h:2")},
        {"port 0", S("\x01x\0\0\0\0\0\0\0\0\x01\x03h:0\x03h:2")},
        {"NUL in addr", S("\x01x\0\0\0\0\0\0\0\0\x01\x04h:1\0\x03h:2")},
        {"gaddr missing port", S("\x01x\0\0\0\0\0\0\0\0\x01\x03h:1\x03hh:")},
        {"gaddr missing", S("\x01x\0\0\0\0\0\0\0\0\x01\x03h:1")},
        {"id past the end", S("\x09x")},
        {"incarnation short", S("\x01x\0\0\0\0")},
        {"addr past the end", S("\x01x\0\0\0\0\0\0\0\0\x01\x20h:1")},
        {"gaddr past the end", S("\x01x\0\0\0\0\0\0\0\0\x01\x03h:1\x04h:2")},
        {"gaddr length 255", S("\x01x\0\0\0\0\0\0\0\0\x01\x03h:1\xffh:2")},
    };
    char buf[256];
    struct gmsg_reader r;
    struct gmsg_header h;
    size_t len = handmade(buf, S("\x01x\0\0\0\0\0\0\0\0\x01\x03h:1\x03h:2"));

    ck_assert_int_eq(read_exact(buf, len, &r, &h), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        len = handmade(buf, bad[i].rec, bad[i].len);
        ck_assert_msg(read_exact(buf, len, &r, &h) == -EPROTO, "%s accepted",
                      bad[i].what);
    }
}
END_TEST

START_TEST(test_gmsg_ping_req_without_a_valid_target_is_refused)
{
    char buf[256];
    size_t len = build(buf, sizeof(buf), GMSG_PING_REQ, 0);
    size_t tpos = len - 2 - 1 - strlen("probe-me");
    struct gmsg_reader r;
    struct gmsg_header h;

    ck_assert_int_eq(read_exact(buf, len, &r, &h), 0);
    /* The same bytes as a PING: the target is trailing garbage. */
    buf[4] = GMSG_PING;
    ck_assert_int_eq(read_exact(buf, len, &r, &h), -EPROTO);
    buf[4] = GMSG_PING_REQ;
    buf[tpos] = 0; /* empty target */
    ck_assert_int_eq(read_exact(buf, len, &r, &h), -EPROTO);
    buf[tpos] = (char)strlen("probe-me");
    buf[tpos + 3] = ' ';
    ck_assert_int_eq(read_exact(buf, len, &r, &h), -EPROTO);
    /* A PING with its count where a PING_REQ's target would be. */
    len = build(buf, sizeof(buf), GMSG_PING, 0);
    buf[4] = GMSG_PING_REQ;
    ck_assert_int_eq(read_exact(buf, len, &r, &h), -EPROTO);
}
END_TEST

START_TEST(test_gmsg_addr_valid_accepts_names_ipv4_and_bracketed_ipv6)
{
    static const char *good[] = {
        "h:1",
        "localhost:11211",
        "127.0.0.1:65535",
        "cache-1.example.com:7946",
        "[::1]:11211",
        "[::]:1",
        "[fe80::1:2:3:4]:80",
        "[::ffff:192.0.2.1]:443",
        "[2001:DB8::A]:9",
        "a!b~c*:8",
    };
    char longest[GMSG_MAX_ADDR + 1];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(gmsg_addr_valid(good[i]), "refused: %s", good[i]);
    memset(longest, 'n', GMSG_MAX_ADDR - 2);
    memcpy(longest + GMSG_MAX_ADDR - 2, ":1", 3);
    ck_assert_uint_eq(strlen(longest), GMSG_MAX_ADDR);
    ck_assert(gmsg_addr_valid(longest));
    longest[0] = '[';
    longest[GMSG_MAX_ADDR - 3] = ']';
    memset(longest + 1, ':', GMSG_MAX_ADDR - 4);
    ck_assert(gmsg_addr_valid(longest));
}
END_TEST

START_TEST(test_gmsg_addr_valid_refuses_bad_ports_hosts_and_brackets)
{
    static const char *bad[] = {
        "",          ":",           "h:",          ":80",         "host",
        "h:0",       "h:00",        "h:080",       "h:65536",     "h:99999",
        "h:123456",  "h:+80",       "h:-1",        "h:8 0",       "h: 80",
        "h:80 ",     "h:80x",       "ho st:80",    " host:80",    "host :80",
        "ho\tst:80", "ho\x01st:80", "ho\x7fst:80", "ho\x80st:80", "a:b:80",
        "::1:80",    "h]:80",       "h[:80",       "[::1]",       "[::1]:",
        "[::1]80",   "[::1]:0",     "[::1]:65536", "[:]:80",      "[]:80",
        "[::1:80",   "::1]:80",     "[::g]:80",    "[::1 ]:80",   "[host]:80",
        "[::1]]:80", "[[::1]:80",   "[::1]:80:80", "x[::1]:80",
    };
    char toolong[GMSG_MAX_ADDR + 2];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!gmsg_addr_valid(bad[i]), "accepted: \"%s\"", bad[i]);
    ck_assert(!gmsg_addr_valid(NULL));
    memset(toolong, 'n', GMSG_MAX_ADDR - 1);
    memcpy(toolong + GMSG_MAX_ADDR - 1, ":1", 3);
    ck_assert_uint_eq(strlen(toolong), GMSG_MAX_ADDR + 1);
    ck_assert(!gmsg_addr_valid(toolong));
}
END_TEST

static Suite *gmsg_suite(void)
{
    Suite *s = suite_create("gmsg");
    TCase *tc = tcase_create("roundtrip");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gmsg_every_type_round_trips_with_0_1_and_many_records);
    tcase_add_test(tc, test_gmsg_max_records_round_trip_and_one_more_is_refused);
    tcase_add_test(tc, test_gmsg_ping_req_carries_its_target_and_other_types_none);
    tcase_add_test(tc, test_gmsg_golden_bytes_pin_the_encoding);
    suite_add_tcase(s, tc);

    tc = tcase_create("writer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gmsg_begin_refuses_a_missing_or_unexpected_target);
    tcase_add_test(tc, test_gmsg_begin_refuses_an_invalid_type_or_sender);
    tcase_add_test(
        tc, test_gmsg_writer_refuses_an_invalid_record_without_changing_the_message);
    tcase_add_test(tc,
                   test_gmsg_writer_refuses_a_full_buffer_without_changing_the_message);
    tcase_add_test(
        tc, test_gmsg_writer_refuses_a_record_past_max_size_and_reader_takes_max_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("reader");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gmsg_every_truncation_is_refused);
    tcase_add_test(tc, test_gmsg_every_single_byte_corruption_decodes_or_is_refused);
    tcase_add_test(tc, test_gmsg_wrong_magic_version_or_type_is_refused);
    tcase_add_test(tc, test_gmsg_trailing_bytes_are_refused);
    tcase_add_test(tc, test_gmsg_count_larger_than_the_records_present_is_refused);
    tcase_add_test(tc,
                   test_gmsg_count_over_max_records_is_refused_even_when_all_are_present);
    tcase_add_test(tc, test_gmsg_reader_refuses_a_message_over_max_size);
    tcase_add_test(tc, test_gmsg_invalid_fields_on_the_wire_are_refused);
    tcase_add_test(tc, test_gmsg_ping_req_without_a_valid_target_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("addr");
    tcase_add_test(tc, test_gmsg_addr_valid_accepts_names_ipv4_and_bracketed_ipv6);
    tcase_add_test(tc, test_gmsg_addr_valid_refuses_bad_ports_hosts_and_brackets);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gmsg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
