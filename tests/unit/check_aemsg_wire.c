/* check_aemsg_wire: the anti-entropy reader against malformed bytes: every
 * truncation and single-byte corruption of generated messages, and
 * hand-made messages that break one rule each. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aemsg_fixture.h"

/* ---- hand-made messages ---- */

/* A message being made by hand, field by field. */
static struct {
    char b[40000];
    size_t n;
} m;

static void raw(const void *p, size_t n)
{
    ck_assert_uint_le(m.n + n, sizeof(m.b));
    memcpy(m.b + m.n, p, n);
    m.n += n;
}

static void u8(unsigned v)
{
    unsigned char c = (unsigned char)v;

    raw(&c, 1);
}

static void u16(unsigned v)
{
    u8(v >> 8);
    u8(v);
}

static void u32(uint32_t v)
{
    u16(v >> 16);
    u16(v & 0xffff);
}

static void u64(uint64_t v)
{
    u32((uint32_t)(v >> 32));
    u32((uint32_t)v);
}

/* Starts a message of type from "n" for layout 0. */
static void head(unsigned type)
{
    m.n = 0;
    raw("MCa", 3);
    u8(AEMSG_VERSION);
    u8(type);
    u8(1);
    u8('n');
    u64(0);
}

/* A key of n bytes, each c; its length byte says n. */
static void key(size_t n, char c)
{
    u8((unsigned)n);
    for (size_t i = 0; i < n; i++)
        raw(&c, 1);
}

static void ref(size_t nkey, uint64_t version, unsigned iflags)
{
    key(nkey, 'r');
    u64(version);
    u8(iflags);
}

/* A full state whose nvalue says nvalue and that carries have bytes. */
static void state(size_t nkey, uint64_t version, unsigned iflags, int64_t exptime,
                  uint32_t nvalue, size_t have)
{
    key(nkey, 's');
    u64(version);
    u8(iflags);
    u32(0xabcd);
    u64((uint64_t)exptime);
    u32(nvalue);
    for (size_t i = 0; i < have; i++)
        u8(i);
}

/* A PUSH of one state. */
static void push1(size_t nkey, uint64_t version, unsigned iflags, int64_t exptime,
                  uint32_t nvalue, size_t have)
{
    head(AEMSG_PUSH);
    u32(1);
    state(nkey, version, iflags, exptime, nvalue, have);
}

/* A KEYS of one leaf with one ref. */
static void keys1(size_t nkey, uint64_t version, unsigned iflags)
{
    head(AEMSG_KEYS);
    u16(1);
    u16(7);
    u32(1);
    ref(nkey, version, iflags);
}

/* A KEYS_ACK, status OK, of no state and one wanted key. */
static void wanted1(size_t nkey)
{
    head(AEMSG_KEYS_ACK);
    u8(AEMSG_OK);
    u8(0);
    u32(0);
    u32(1);
    key(nkey, 'w');
}

static void segment(unsigned index)
{
    u8(index);
    for (unsigned i = 0; i < AEMSG_SEG_LEAVES; i++)
        u64(i);
}

static int rd(void)
{
    return read_exact(m.b, m.n);
}

/* ---- generated messages ---- */

START_TEST(test_aemsg_every_truncation_is_refused)
{
    static char buf[16 * 1024];

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf), all_types[t], few_ops(all_types[t]));

        ck_assert_int_eq(read_exact(buf, len), 0);
        for (size_t cut = 0; cut < len; cut++)
            ck_assert_msg(read_exact(buf, cut) == -EPROTO, "type %d: %zu of %zu taken",
                          all_types[t], cut, len);
    }
}
END_TEST

START_TEST(test_aemsg_every_single_byte_corruption_decodes_canonically_or_is_refused)
{
    static const unsigned char flips[] = {0x01, 0x80, 0xff};
    static char buf[16 * 1024];

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf), all_types[t], few_ops(all_types[t]));

        for (size_t i = 0; i < len; i++) {
            for (size_t f = 0; f < sizeof(flips); f++) {
                int rc;

                buf[i] = (char)(buf[i] ^ flips[f]);
                rc = read_exact(buf, len);
                ck_assert(rc == 0 || rc == -EPROTO || rc == -E2BIG);
                if (rc == 0)
                    assert_reencodes(buf, len);
                buf[i] = (char)(buf[i] ^ flips[f]);
            }
        }
    }
}
END_TEST

START_TEST(test_aemsg_trailing_bytes_are_refused)
{
    static char buf[32 * 1024];

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf), all_types[t], few_ops(all_types[t]));

        buf[len] = '\0';
        ck_assert_int_eq(read_exact(buf, len + 1), -EPROTO);
        memcpy(buf + len, buf, len); /* two messages back to back */
        ck_assert_int_eq(read_exact(buf, 2 * len), -EPROTO);
    }
}
END_TEST

START_TEST(test_aemsg_readers_skip_unread_parts_and_read_nothing_of_other_types)
{
    static char buf[16 * 1024];
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_state s;
    struct aemsg_ref rf;
    uint64_t hashes[64], root;
    const char *k;
    size_t nk, len;
    unsigned index;
    uint32_t n;

    /* KEYS, ops: leaf 0, 2 refs, leaf 5, 2 refs, leaf 10; refs not read. */
    len = build(buf, sizeof(buf), AEMSG_KEYS, 7);
    ck_assert_int_eq(aemsg_read_header(&r, buf, len, &h), 0);
    ck_assert_int_eq(aemsg_read_leaf(&r, &index, &n), 1);
    ck_assert_uint_eq(index, 0);
    ck_assert_int_eq(aemsg_read_ref(&r, &rf), 1);
    for (unsigned want = 5; want <= 10; want += 5) {
        ck_assert_int_eq(aemsg_read_leaf(&r, &index, &n), 1);
        ck_assert_uint_eq(index, want);
    }
    ck_assert_int_eq(aemsg_read_leaf(&r, &index, &n), 0);
    ck_assert_int_eq(aemsg_read_state(&r, &s), 0);
    ck_assert_int_eq(aemsg_read_wanted(&r, &k, &nk), 0);
    ck_assert_int_eq(aemsg_read_segment(&r, &index, hashes), 0);
    ck_assert_int_eq(aemsg_read_roots(&r, &root, hashes), 0);

    /* KEYS_ACK: the wanted keys without reading the states, then no state. */
    len = build(buf, sizeof(buf), AEMSG_KEYS_ACK, 6);
    ck_assert_int_eq(aemsg_read_header(&r, buf, len, &h), 0);
    ck_assert_uint_eq(h.count, 4);
    ck_assert_int_eq(aemsg_read_state(&r, &s), 1);
    ck_assert_int_eq(aemsg_read_wanted(&r, &k, &nk), 1);
    nth_ref(&rf, 2);
    ck_assert_uint_eq(nk, rf.nkey);
    ck_assert_mem_eq(k, rf.key, nk);
    ck_assert_int_eq(aemsg_read_state(&r, &s), 0);
    ck_assert_int_eq(aemsg_read_wanted(&r, &k, &nk), 1);
    ck_assert_int_eq(aemsg_read_wanted(&r, &k, &nk), 0);
    ck_assert_int_eq(aemsg_read_leaf(&r, &index, &n), 0);
    ck_assert_int_eq(aemsg_read_ref(&r, &rf), 0);
}
END_TEST

START_TEST(test_aemsg_a_refused_message_leaves_nothing_to_read)
{
    static char buf[16 * 1024];

    for (size_t t = 0; t < NTYPES; t++) {
        size_t len = build(buf, sizeof(buf), all_types[t], few_ops(all_types[t]));
        struct aemsg_reader r;
        struct aemsg_header h;
        struct aemsg_state s;
        struct aemsg_ref rf;
        uint64_t hashes[64], root;
        const char *k;
        size_t nk;
        unsigned index;
        uint32_t n;

        ck_assert_int_eq(aemsg_read_header(&r, buf, len - 1, &h), -EPROTO);
        ck_assert_int_eq(aemsg_read_roots(&r, &root, hashes), 0);
        ck_assert_int_eq(aemsg_read_segment(&r, &index, hashes), 0);
        ck_assert_int_eq(aemsg_read_leaf(&r, &index, &n), 0);
        ck_assert_int_eq(aemsg_read_ref(&r, &rf), 0);
        ck_assert_int_eq(aemsg_read_state(&r, &s), 0);
        ck_assert_int_eq(aemsg_read_wanted(&r, &k, &nk), 0);
    }
    ck_assert_int_eq(
        aemsg_read_header(&(struct aemsg_reader){0}, NULL, 10, &(struct aemsg_header){0}),
        -EPROTO);
}
END_TEST

/* ---- hand-made ---- */

START_TEST(test_aemsg_bad_magic_version_or_type_is_refused)
{
    static const unsigned char bad_versions[] = {0, 2, 255}, bad_types[] = {0, 8, 255};

    head(AEMSG_PUSH_ACK);
    u8(AEMSG_OK);
    u32(0);
    ck_assert_int_eq(rd(), 0);
    for (size_t i = 0; i < 3; i++) {
        m.b[i] = (char)(m.b[i] ^ 0x20); /* "mCa", "Mca", "MCA" */
        ck_assert_int_eq(rd(), -EPROTO);
        m.b[i] = (char)(m.b[i] ^ 0x20);
    }
    m.b[2] = 'g';
    ck_assert_int_eq(rd(), -EPROTO);
    m.b[2] = 'a';
    for (size_t i = 0; i < sizeof(bad_versions); i++) {
        m.b[3] = (char)bad_versions[i];
        ck_assert_int_eq(rd(), -EPROTO);
    }
    m.b[3] = AEMSG_VERSION;
    for (size_t i = 0; i < sizeof(bad_types); i++) {
        m.b[4] = (char)bad_types[i];
        ck_assert_int_eq(rd(), -EPROTO);
    }
    ck_assert_int_eq(read_exact("", 0), -EPROTO);
}
END_TEST

START_TEST(test_aemsg_a_message_over_max_size_is_refused_with_e2big)
{
    char *buf = calloc(1, AEMSG_MAX_SIZE + 1);

    ck_assert_ptr_nonnull(buf);
    memcpy(buf, "MCa\x01\x05", 5);
    ck_assert_int_eq(read_exact(buf, AEMSG_MAX_SIZE + 1), -E2BIG);
    ck_assert_int_eq(read_exact(buf, AEMSG_MAX_SIZE), -EPROTO);
    free(buf);
}
END_TEST

START_TEST(test_aemsg_an_invalid_sender_on_the_wire_is_refused)
{
    static const char bad[] = {' ', 0x7f, (char)0x80, '\0', '\t'};

    head(AEMSG_PUSH);
    u32(0);
    ck_assert_int_eq(rd(), 0);
    for (size_t i = 0; i < sizeof(bad); i++) {
        m.b[6] = bad[i];
        ck_assert_int_eq(rd(), -EPROTO);
    }
    m.b[6] = 'n';
    m.b[5] = 0; /* no sender */
    ck_assert_int_eq(rd(), -EPROTO);
    m.b[5] = (char)200; /* past the end */
    ck_assert_int_eq(rd(), -EPROTO);
}
END_TEST

START_TEST(test_aemsg_zero_and_oversized_keys_are_refused)
{
    keys1(AEMSG_MAX_KEY, 1, 0);
    ck_assert_int_eq(rd(), 0);
    keys1(AEMSG_MAX_KEY + 1, 1, 0);
    ck_assert_int_eq(rd(), -E2BIG);
    keys1(0, 1, 0);
    ck_assert_int_eq(rd(), -EPROTO);
    push1(AEMSG_MAX_KEY, 1, 0, 0, 0, 0);
    ck_assert_int_eq(rd(), 0);
    push1(AEMSG_MAX_KEY + 1, 1, 0, 0, 0, 0);
    ck_assert_int_eq(rd(), -E2BIG);
    push1(0, 1, 0, 0, 0, 0);
    ck_assert_int_eq(rd(), -EPROTO);
    wanted1(AEMSG_MAX_KEY);
    ck_assert_int_eq(rd(), 0);
    wanted1(255);
    ck_assert_int_eq(rd(), -E2BIG);
    wanted1(0);
    ck_assert_int_eq(rd(), -EPROTO);
}
END_TEST

START_TEST(test_aemsg_lengths_and_counts_past_the_end_are_refused)
{
    push1(10, 1, 0, 0, 5, 5);
    ck_assert_int_eq(rd(), 0);
    push1(10, 1, 0, 0, 5, 4); /* value */
    ck_assert_int_eq(rd(), -EPROTO);
    push1(10, 1, 0, 0, 5, 5);
    m.b[m.n - 5 - STATE_FIXED - 11 - 1] = 2; /* states */
    ck_assert_int_eq(rd(), -EPROTO);
    m.b[m.n - 5 - STATE_FIXED - 11 - 4] = (char)0xff;
    ck_assert_int_eq(rd(), -EPROTO);
    wanted1(3);
    m.b[m.n - 4] = 4; /* a key */
    ck_assert_int_eq(rd(), -EPROTO);

    keys1(3, 1, 0);
    m.b[m.n - 13 - 1] = 2; /* refs in the leaf */
    ck_assert_int_eq(rd(), -EPROTO);
    keys1(3, 1, 0);
    m.b[m.n - 13 - 6 - 1] = 2; /* leaves */
    ck_assert_int_eq(rd(), -EPROTO);

    wanted1(3);
    m.b[m.n - 4 - 1] = 2; /* wanted keys */
    ck_assert_int_eq(rd(), -EPROTO);

    head(AEMSG_ROOTS_ACK);
    u8(AEMSG_OK);
    u8(2); /* segments */
    segment(3);
    ck_assert_int_eq(rd(), -EPROTO);
    head(AEMSG_ROOTS);
    u64(1);
    for (unsigned i = 0; i < AEMSG_SEGMENTS - 1; i++)
        u64(i);
    ck_assert_int_eq(rd(), -EPROTO);
    u64(0);
    ck_assert_int_eq(rd(), 0);
}
END_TEST

START_TEST(test_aemsg_segment_and_leaf_indexes_must_increase_and_stay_in_range)
{
    static const unsigned segs[][2] = {{0, 63}, {3, 3}, {3, 2}, {0, 64}, {0, 255}};
    static const unsigned leaves[][2] = {
        {0, 4095}, {5, 5}, {5, 4}, {0, 4096}, {0, 0xffff}};

    for (size_t i = 0; i < 5; i++) {
        head(AEMSG_ROOTS_ACK);
        u8(AEMSG_OK);
        u8(2);
        segment(segs[i][0]);
        segment(segs[i][1]);
        ck_assert_int_eq(rd(), i == 0 ? 0 : -EPROTO);
        head(AEMSG_KEYS);
        u16(2);
        u16(leaves[i][0]);
        u32(0);
        u16(leaves[i][1]);
        u32(0);
        ck_assert_int_eq(rd(), i == 0 ? 0 : -EPROTO);
    }
}
END_TEST

START_TEST(
    test_aemsg_zero_versions_bad_iflags_tombstone_values_and_negative_exptimes_are_refused)
{
    static const unsigned bad_iflags[] = {0x01, 0x02, 0x04, 0x40, 0x80, 0xff};

    keys1(3, 0, 0);
    ck_assert_int_eq(rd(), -EPROTO);
    push1(3, 0, 0, 0, 0, 0);
    ck_assert_int_eq(rd(), -EPROTO);
    for (size_t i = 0; i < sizeof(bad_iflags) / sizeof(bad_iflags[0]); i++) {
        keys1(3, 1, bad_iflags[i]);
        ck_assert_int_eq(rd(), -EPROTO);
        push1(3, 1, bad_iflags[i], 0, 0, 0);
        ck_assert_int_eq(rd(), -EPROTO);
    }
    for (size_t i = 0; i < sizeof(good_iflags); i++) {
        keys1(3, UINT64_MAX, good_iflags[i]);
        ck_assert_int_eq(rd(), 0);
        push1(3, UINT64_MAX, good_iflags[i], INT64_MAX, 0, 0);
        ck_assert_int_eq(rd(), 0);
    }
    push1(3, 1, ITEM_TOMBSTONE, 0, 1, 1);
    ck_assert_int_eq(rd(), -EPROTO);
    push1(3, 1, ITEM_TOMBSTONE | ITEM_KEY_BINARY, 0, 1, 1);
    ck_assert_int_eq(rd(), -EPROTO);
    push1(3, 1, 0, -1, 1, 1);
    ck_assert_int_eq(rd(), -EPROTO);
    push1(3, 1, 0, INT64_MIN, 1, 1);
    ck_assert_int_eq(rd(), -EPROTO);
}
END_TEST

START_TEST(test_aemsg_a_value_over_max_value_is_refused_with_e2big)
{
    push1(3, 1, 0, 0, AEMSG_MAX_VALUE + 1, 0);
    ck_assert_int_eq(rd(), -E2BIG);
    push1(3, 1, 0, 0, UINT32_MAX, 0);
    ck_assert_int_eq(rd(), -E2BIG);
    push1(3, 1, 0, 0, AEMSG_MAX_VALUE, 0); /* in bounds, but not there */
    ck_assert_int_eq(rd(), -EPROTO);
}
END_TEST

START_TEST(test_aemsg_counts_over_their_bounds_are_refused)
{
    head(AEMSG_ROOTS_ACK);
    u8(AEMSG_OK);
    u8(AEMSG_SEGMENTS + 1);
    for (unsigned i = 0; i <= AEMSG_SEGMENTS; i++)
        segment(i);
    ck_assert_int_eq(rd(), -E2BIG);

    for (unsigned count = 0; count <= AEMSG_MAX_LEAVES; count += AEMSG_MAX_LEAVES / 2) {
        head(AEMSG_KEYS);
        u16(count);
        for (unsigned i = 0; i < count; i++) {
            u16(i);
            u32(0);
        }
        ck_assert_int_eq(rd(), count == 0 ? -EPROTO : 0);
    }
    head(AEMSG_KEYS);
    u16(AEMSG_MAX_LEAVES + 1);
    for (unsigned i = 0; i <= AEMSG_MAX_LEAVES; i++) {
        u16(i);
        u32(0);
    }
    ck_assert_int_eq(rd(), -E2BIG);
}
END_TEST

START_TEST(test_aemsg_bad_status_or_more_and_non_ok_bodies_are_refused)
{
    for (unsigned st = 0; st <= 5; st++) {
        bool ok = st == AEMSG_OK, known = st <= AEMSG_NOT_READY;

        head(AEMSG_ROOTS_ACK);
        u8(st);
        u8(0);
        ck_assert_int_eq(rd(), known ? 0 : -EPROTO);
        segment(9);
        m.b[m.n - 1 - 8 * AEMSG_SEG_LEAVES - 1] = 1;
        ck_assert_int_eq(rd(), ok ? 0 : -EPROTO);

        head(AEMSG_PUSH_ACK);
        u8(st);
        u32(0);
        ck_assert_int_eq(rd(), known ? 0 : -EPROTO);
        m.b[m.n - 1] = 1;
        ck_assert_int_eq(rd(), ok ? 0 : -EPROTO);

        for (unsigned part = 0; part < 4; part++) {
            head(AEMSG_KEYS_ACK);
            u8(st);
            u8(part == 1);
            u32(part == 2);
            if (part == 2)
                state(3, 1, 0, 0, 0, 0);
            u32(part == 3);
            if (part == 3)
                key(3, 'w');
            ck_assert_int_eq(rd(), ok || (known && part == 0) ? 0 : -EPROTO);
        }
    }
    head(AEMSG_KEYS_ACK);
    u8(AEMSG_OK);
    u8(2); /* more is 0 or 1 */
    u32(0);
    u32(0);
    ck_assert_int_eq(rd(), -EPROTO);
}
END_TEST

static Suite *aemsg_wire_suite(void)
{
    Suite *s = suite_create("aemsg_wire");
    TCase *tc = tcase_create("generated");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_aemsg_every_truncation_is_refused);
    tcase_add_test(
        tc, test_aemsg_every_single_byte_corruption_decodes_canonically_or_is_refused);
    tcase_add_test(tc, test_aemsg_trailing_bytes_are_refused);
    tcase_add_test(tc,
                   test_aemsg_readers_skip_unread_parts_and_read_nothing_of_other_types);
    tcase_add_test(tc, test_aemsg_a_refused_message_leaves_nothing_to_read);
    suite_add_tcase(s, tc);

    tc = tcase_create("handmade");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_aemsg_bad_magic_version_or_type_is_refused);
    tcase_add_test(tc, test_aemsg_a_message_over_max_size_is_refused_with_e2big);
    tcase_add_test(tc, test_aemsg_an_invalid_sender_on_the_wire_is_refused);
    tcase_add_test(tc, test_aemsg_zero_and_oversized_keys_are_refused);
    tcase_add_test(tc, test_aemsg_lengths_and_counts_past_the_end_are_refused);
    tcase_add_test(tc,
                   test_aemsg_segment_and_leaf_indexes_must_increase_and_stay_in_range);
    tcase_add_test(
        tc,
        test_aemsg_zero_versions_bad_iflags_tombstone_values_and_negative_exptimes_are_refused);
    tcase_add_test(tc, test_aemsg_a_value_over_max_value_is_refused_with_e2big);
    tcase_add_test(tc, test_aemsg_counts_over_their_bounds_are_refused);
    tcase_add_test(tc, test_aemsg_bad_status_or_more_and_non_ok_bodies_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(aemsg_wire_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
