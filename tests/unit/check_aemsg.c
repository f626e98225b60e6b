/* check_aemsg: the anti-entropy wire format, from the writer's side: round
 * trips of every type, the bounds, the golden bytes, and the writer's
 * refusals, which must leave the message as it was. (check_aemsg_wire
 * holds the reader against malformed bytes.) */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aemsg_fixture.h"

/* Reads buf[0..len), built with ops 0..n-1 of type, and checks every part. */
static void check_built(const char *buf, size_t len, enum aemsg_type type, unsigned n)
{
    struct aemsg_reader r;
    struct aemsg_header h;
    uint64_t hashes[64], want[64], root;
    struct aemsg_ref ref, wref;
    struct aemsg_state s, ws;
    const char *key;
    size_t nkey;
    unsigned index, nseg = 0, nleaves = 0, nstates = 0, nwanted = 0;
    uint32_t inleaf;

    ck_assert_int_eq(aemsg_read_header(&r, buf, len, &h), 0);
    ck_assert_int_eq(h.type, type);
    ck_assert_str_eq(h.sender, SENDER);
    ck_assert_uint_eq(h.layout, LAYOUT);
    ck_assert_int_eq(h.status, AEMSG_OK);
    ck_assert(!h.more);
    if (type == AEMSG_ROOTS) {
        ck_assert_int_eq(aemsg_read_roots(&r, &root, hashes), 1);
        nth_hashes(want, 0);
        ck_assert_uint_eq(root, 0xfeed);
        ck_assert_mem_eq(hashes, want, sizeof(want));
        ck_assert_int_eq(aemsg_read_roots(&r, &root, hashes), 0);
    }
    for (unsigned j = 0; j < n; j++) {
        switch (type) {
        case AEMSG_ROOTS_ACK:
            ck_assert_int_eq(aemsg_read_segment(&r, &index, hashes), 1);
            nth_hashes(want, j);
            ck_assert_uint_eq(index, j);
            ck_assert_mem_eq(hashes, want, sizeof(want));
            nseg++;
            break;
        case AEMSG_KEYS:
            if (keys_op_is_leaf(j)) {
                ck_assert_int_eq(aemsg_read_leaf(&r, &index, &inleaf), 1);
                ck_assert_uint_eq(index, j / 3 * 5);
                ck_assert_uint_eq(inleaf, j + 2 < n ? 2 : n - j - 1);
                nleaves++;
            } else {
                ck_assert_int_eq(aemsg_read_ref(&r, &ref), 1);
                nth_ref(&wref, j);
                assert_ref_eq(&ref, &wref);
            }
            break;
        case AEMSG_KEYS_ACK:
        case AEMSG_PUSH:
        case AEMSG_HANDOFF:
            if (type == AEMSG_KEYS_ACK && ack_op_is_wanted(j))
                continue; /* read after the states */
            ck_assert_int_eq(aemsg_read_state(&r, &s), 1);
            nth_state(&ws, j);
            assert_state_eq(&s, &ws);
            nstates++;
            break;
        default:
            break;
        }
    }
    ck_assert_int_eq(aemsg_read_segment(&r, &index, hashes), 0);
    ck_assert_int_eq(aemsg_read_leaf(&r, &index, &inleaf), 0);
    ck_assert_int_eq(aemsg_read_ref(&r, &ref), 0);
    ck_assert_int_eq(aemsg_read_state(&r, &s), 0);
    for (unsigned j = 0; type == AEMSG_KEYS_ACK && j < n; j++) {
        if (!ack_op_is_wanted(j))
            continue;
        ck_assert_int_eq(aemsg_read_wanted(&r, &key, &nkey), 1);
        nth_ref(&wref, j);
        ck_assert_uint_eq(nkey, wref.nkey);
        ck_assert_mem_eq(key, wref.key, nkey);
        nwanted++;
    }
    ck_assert_int_eq(aemsg_read_wanted(&r, &key, &nkey), 0);
    ck_assert_uint_eq(h.count, type == AEMSG_ROOTS_ACK ? nseg
                               : type == AEMSG_KEYS    ? nleaves
                                                       : nstates);
    ck_assert_uint_eq(h.nwanted, nwanted);
    ck_assert_uint_eq(h.applied, type == AEMSG_PUSH_ACK && n > 0 ? 12345 : 0);
}

/* ---- round trips ---- */

START_TEST(test_aemsg_every_type_round_trips_empty_single_and_many_parts)
{
    static const unsigned counts[] = {0, 1, 2, 3, 7, 64, 1000};
    char *buf = malloc(BIG);

    ck_assert_ptr_nonnull(buf);
    for (size_t t = 0; t < NTYPES; t++) {
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            unsigned n = clamp_ops(all_types[t], counts[c]);
            size_t len = build(buf, BIG, all_types[t], n);

            ck_assert_uint_gt(len, 0);
            ck_assert_int_eq(read_exact(buf, len), 0);
            check_built(buf, len, all_types[t], n);
            assert_reencodes(buf, len);
        }
    }
    free(buf);
}
END_TEST

START_TEST(test_aemsg_keys_take_max_leaves_and_refuse_one_more)
{
    static char buf[64 * 1024];
    struct aemsg_writer w;
    struct aemsg_reader r;
    struct aemsg_header h;
    unsigned index;
    uint32_t n;
    size_t before, len;

    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS, SENDER, 1), 0);
    for (unsigned i = 0; i < AEMSG_MAX_LEAVES; i++)
        ck_assert_int_eq(aemsg_put_leaf(&w, i * 16 + 15), 0);
    before = w.len;
    ck_assert_int_eq(aemsg_put_leaf(&w, AEMSG_LEAVES), -EINVAL);
    ck_assert_uint_eq(w.len, before);
    len = aemsg_end(&w);
    ck_assert_int_eq(aemsg_read_header(&r, buf, len, &h), 0);
    ck_assert_uint_eq(h.count, AEMSG_MAX_LEAVES);
    for (unsigned i = 0; i < AEMSG_MAX_LEAVES; i++) {
        ck_assert_int_eq(aemsg_read_leaf(&r, &index, &n), 1);
        ck_assert_uint_eq(index, i * 16 + 15);
        ck_assert_uint_eq(n, 0);
    }
    ck_assert_int_eq(aemsg_read_leaf(&r, &index, &n), 0);
    /* With room for a 257th leaf whose index is in order. */
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS, SENDER, 1), 0);
    for (unsigned i = 0; i < AEMSG_MAX_LEAVES; i++)
        ck_assert_int_eq(aemsg_put_leaf(&w, i), 0);
    ck_assert_int_eq(aemsg_put_leaf(&w, AEMSG_MAX_LEAVES), -ENOSPC);
    ck_assert_uint_eq(aemsg_end(&w), len);
}
END_TEST

START_TEST(test_aemsg_keys_ack_keeps_each_list_in_order_however_interleaved)
{
    static char buf[16 * 1024], pat[64];
    struct aemsg_writer w;
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_state s, got;
    const char *key;
    size_t nkey, len;

    /* pat: bit i says whether part i is a wanted key or a state. */
    for (unsigned p = 0; p < 64; p++) {
        unsigned ns = 0, nw = 0;

        ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS_ACK, SENDER, 2), 0);
        ck_assert_int_eq(aemsg_set_more(&w, p % 2 == 1), 0);
        for (unsigned i = 0; i < 6; i++) {
            pat[i] = (char)(p >> i & 1);
            nth_state(&s, i);
            if (pat[i])
                ck_assert_int_eq(aemsg_put_wanted(&w, s.key, s.nkey), 0);
            else
                ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
        }
        len = aemsg_end(&w);
        ck_assert_int_eq(aemsg_read_header(&r, buf, len, &h), 0);
        ck_assert(h.more == (p % 2 == 1));
        for (unsigned i = 0; i < 6; i++) {
            if (pat[i])
                continue;
            nth_state(&s, i);
            ck_assert_int_eq(aemsg_read_state(&r, &got), 1);
            assert_state_eq(&got, &s);
            ns++;
        }
        for (unsigned i = 0; i < 6; i++) {
            if (!pat[i])
                continue;
            nth_state(&s, i);
            ck_assert_int_eq(aemsg_read_wanted(&r, &key, &nkey), 1);
            ck_assert_uint_eq(nkey, s.nkey);
            ck_assert_mem_eq(key, s.key, nkey);
            nw++;
        }
        ck_assert_int_eq(aemsg_read_wanted(&r, &key, &nkey), 0);
        ck_assert_uint_eq(h.count, ns);
        ck_assert_uint_eq(h.nwanted, nw);
        assert_reencodes(buf, len);
    }
}
END_TEST

START_TEST(test_aemsg_states_carry_binary_keys_and_extreme_fields)
{
    static char buf[4096];
    char key[AEMSG_MAX_KEY], value[] = {'\0', '\r', '\n', (char)0xff};
    struct aemsg_writer w;
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_state s = {0}, got;
    size_t len;

    memset(key, 0xff, sizeof(key));
    key[0] = '\0';
    key[1] = ' ';
    s.key = key;
    s.nkey = sizeof(key);
    s.st.version = UINT64_MAX;
    s.st.iflags = ITEM_STALE | ITEM_KEY_BINARY;
    s.st.flags = UINT32_MAX;
    s.st.exptime = INT64_MAX;
    s.st.nvalue = sizeof(value);
    s.value = value;
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_PUSH, SENDER, UINT64_MAX),
                     0);
    ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
    s.st.iflags = ITEM_TOMBSTONE;
    s.st.nvalue = 0;
    s.value = NULL;
    ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
    len = aemsg_end(&w);
    ck_assert_int_eq(aemsg_read_header(&r, buf, len, &h), 0);
    ck_assert_uint_eq(h.layout, UINT64_MAX);
    ck_assert_int_eq(aemsg_read_state(&r, &got), 1);
    s.st.iflags = ITEM_STALE | ITEM_KEY_BINARY;
    s.st.nvalue = sizeof(value);
    s.value = value;
    assert_state_eq(&got, &s);
    ck_assert_int_eq(aemsg_read_state(&r, &got), 1);
    ck_assert_uint_eq(got.st.iflags, ITEM_TOMBSTONE);
    ck_assert_uint_eq(got.st.nvalue, 0);
    ck_assert_int_eq(aemsg_read_state(&r, &got), 0);
}
END_TEST

START_TEST(test_aemsg_non_ok_answers_round_trip_with_empty_bodies)
{
    static const enum aemsg_type answers[] = {AEMSG_ROOTS_ACK, AEMSG_KEYS_ACK,
                                              AEMSG_PUSH_ACK};
    char buf[512];
    struct aemsg_writer w;
    struct aemsg_reader r;
    struct aemsg_header h;

    for (size_t t = 0; t < 3; t++) {
        for (int st = AEMSG_OK; st <= AEMSG_NOT_READY; st++) {
            size_t len;

            ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), answers[t], SENDER, 3), 0);
            ck_assert_int_eq(aemsg_set_status(&w, (enum aemsg_status)st), 0);
            len = aemsg_end(&w);
            ck_assert_int_eq(aemsg_read_header(&r, buf, len, &h), 0);
            ck_assert_int_eq(h.status, st);
            ck_assert_uint_eq(h.count + h.nwanted + h.applied + h.more, 0);
            assert_reencodes(buf, len);
        }
    }
}
END_TEST

/* Starts a message from the longest sender, in a buffer of BIG bytes. */
static void begin_longest(struct aemsg_writer *w, char *buf, enum aemsg_type type)
{
    char sender[AEMSG_MAX_ID + 1];

    memset(sender, 's', AEMSG_MAX_ID);
    sender[AEMSG_MAX_ID] = '\0';
    ck_assert_int_eq(aemsg_begin(w, buf, BIG, type, sender, 1), 0);
}

START_TEST(test_aemsg_a_max_value_fits_alone_with_the_longest_key_and_sender)
{
    static const enum aemsg_type carriers[] = {AEMSG_KEYS_ACK, AEMSG_PUSH, AEMSG_HANDOFF};
    char *buf = malloc(BIG), *value = calloc(1, AEMSG_MAX_VALUE + 1);
    char key[AEMSG_MAX_KEY];
    struct aemsg_writer w;
    struct aemsg_state s = {0};

    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(value);
    memset(key, 'k', sizeof(key));
    s.key = key;
    s.nkey = sizeof(key);
    s.st.version = 1;
    s.value = value;
    for (size_t t = 0; t < sizeof(carriers) / sizeof(carriers[0]); t++) {
        size_t len;

        begin_longest(&w, buf, carriers[t]);
        s.st.nvalue = AEMSG_MAX_VALUE + 1;
        ck_assert_int_eq(aemsg_put_state(&w, &s), -E2BIG);
        s.st.nvalue = AEMSG_MAX_VALUE;
        ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
        /* A full message still says -E2BIG for what no message carries. */
        s.st.nvalue = AEMSG_MAX_VALUE + 1;
        ck_assert_int_eq(aemsg_put_state(&w, &s), -E2BIG);
        s.st.nvalue = AEMSG_MAX_VALUE;
        ck_assert_int_eq(aemsg_put_state(&w, &s), -ENOSPC);
        len = aemsg_end(&w);
        ck_assert_uint_le(len, AEMSG_MAX_SIZE);
        ck_assert_int_eq(read_exact(buf, len), 0);
        assert_reencodes(buf, len);
    }
    free(value);
    free(buf);
}
END_TEST

START_TEST(test_aemsg_a_message_of_max_size_round_trips_and_one_byte_more_is_e2big)
{
    char *buf = malloc(BIG), *value = calloc(1, AEMSG_MAX_VALUE);
    char key[AEMSG_MAX_KEY];
    struct aemsg_writer w;
    struct aemsg_state s = {0};
    size_t len, rest;

    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(value);
    memset(key, 'k', sizeof(key));
    s.key = key;
    s.nkey = sizeof(key);
    s.st.version = 7;
    s.value = value;
    begin_longest(&w, buf, AEMSG_PUSH);
    s.st.nvalue = AEMSG_MAX_VALUE;
    ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
    /* The rest of AEMSG_MAX_SIZE exactly, though the buffer is larger. */
    rest = AEMSG_MAX_SIZE - w.len - (1 + AEMSG_MAX_KEY + STATE_FIXED);
    s.st.nvalue = (uint32_t)rest + 1;
    ck_assert_int_eq(aemsg_put_state(&w, &s), -ENOSPC);
    s.st.nvalue = (uint32_t)rest;
    ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
    s.nkey = 1;
    s.st.nvalue = 0;
    ck_assert_int_eq(aemsg_put_state(&w, &s), -ENOSPC);
    len = aemsg_end(&w);
    ck_assert_uint_eq(len, AEMSG_MAX_SIZE);
    ck_assert_int_eq(read_exact(buf, len), 0);
    assert_reencodes(buf, len);
    buf[len] = 0;
    ck_assert_int_eq(read_exact(buf, len + 1), -E2BIG);
    free(value);
    free(buf);
}
END_TEST

START_TEST(test_aemsg_golden_bytes_pin_the_encoding)
{
    static const char push_ack[] = "MCa\x01\x06"
                                   "\x01"
                                   "a\x01\x02\x03\x04\x05\x06\x07\x08"
                                   "\x00\x00\x00\x00\x03";
    static const char keys_msg[] = "MCa\x01\x03\x01n\0\0\0\0\0\0\0\0"
                                   "\x00\x02"
                                   "\x01\x23\0\0\0\x01"
                                   "\x02"
                                   "ab\0\0\0\0\0\0\0\x01\x20"
                                   "\x0f\xff\0\0\0\0";
    static const char keys_ack[] = "MCa\x01\x04\x02n1\0\0\0\0\0\0\0\x09"
                                   "\x00\x01\0\0\0\x01"
                                   "\x01k\0\0\0\0\0\0\0\x10\x00\xde\xad\xbe\xef"
                                   "\0\0\0\0\0\0\0\x7f\0\0\0\x02vv"
                                   "\0\0\0\x02\x02w1\x02w2";
    char buf[256];
    struct aemsg_writer w;
    struct aemsg_ref ref = {"ab", 2, 1, ITEM_TOMBSTONE};
    struct aemsg_state s = {"k", 1, {0x10, 0xdeadbeef, 0x7f, 0, 2}, "vv"};

    ck_assert_int_eq(
        aemsg_begin(&w, buf, sizeof(buf), AEMSG_PUSH_ACK, "a", 0x0102030405060708ull), 0);
    ck_assert_int_eq(aemsg_set_applied(&w, 3), 0);
    ck_assert_uint_eq(aemsg_end(&w), sizeof(push_ack) - 1);
    ck_assert_mem_eq(buf, push_ack, sizeof(push_ack) - 1);

    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS, "n", 0), 0);
    ck_assert_int_eq(aemsg_put_leaf(&w, 0x123), 0);
    ck_assert_int_eq(aemsg_put_ref(&w, &ref), 0);
    ck_assert_int_eq(aemsg_put_leaf(&w, 0xfff), 0);
    ck_assert_uint_eq(aemsg_end(&w), sizeof(keys_msg) - 1);
    ck_assert_mem_eq(buf, keys_msg, sizeof(keys_msg) - 1);

    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS_ACK, "n1", 9), 0);
    ck_assert_int_eq(aemsg_put_wanted(&w, S("w1")), 0);
    ck_assert_int_eq(aemsg_put_state(&w, &s), 0);
    ck_assert_int_eq(aemsg_put_wanted(&w, S("w2")), 0);
    ck_assert_int_eq(aemsg_set_more(&w, true), 0);
    ck_assert_uint_eq(aemsg_end(&w), sizeof(keys_ack) - 1);
    ck_assert_mem_eq(buf, keys_ack, sizeof(keys_ack) - 1);
}
END_TEST

START_TEST(test_aemsg_magic_tells_anti_entropy_from_gossip)
{
    char buf[1024];
    size_t len = build(buf, sizeof(buf), AEMSG_PUSH_ACK, 1);

    ck_assert(aemsg_has_magic(buf, len));
    ck_assert(aemsg_has_magic(S("MCa")));
    ck_assert(!aemsg_has_magic(S("MC")));
    ck_assert(!aemsg_has_magic(S("MCg\x01\x01")));
    ck_assert(!aemsg_has_magic(NULL, 3));
    /* the type, for a queue that picks HANDOFFs first */
    ck_assert_uint_eq(aemsg_peek_type(buf, len), AEMSG_PUSH_ACK);
    ck_assert_uint_eq(aemsg_peek_type(buf, build(buf, sizeof(buf), AEMSG_HANDOFF, 1)),
                      AEMSG_HANDOFF);
    ck_assert_uint_eq(aemsg_peek_type(S("MCa\x01")), 0);     /* no type */
    ck_assert_uint_eq(aemsg_peek_type(S("MCa\x02\x07")), 0); /* another version */
    ck_assert_uint_eq(aemsg_peek_type(S("MCg\x01\x07")), 0);
}
END_TEST

/* ---- writer ---- */

/* The header and fixed fields of each type, from SENDER. */
static size_t min_len(enum aemsg_type type)
{
    static const size_t fixed[] = {0, 0, 2, 2, 1 + 1 + 4 + 4, 4, 1 + 4, 4};

    return 3 + 1 + 1 + 1 + strlen(SENDER) + 8 + fixed[type];
}

START_TEST(test_aemsg_begin_refuses_a_bad_type_sender_or_small_buffer)
{
    static const int bad_types[] = {0, 8, 255, -1};
    static const char *bad_senders[] = {"", "a b", "tab\t", "del\x7f", "\xff"};
    char buf[1024], id[AEMSG_MAX_ID + 2];
    struct aemsg_writer w;

    for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
        ck_assert_int_eq(
            aemsg_begin(&w, buf, sizeof(buf), (enum aemsg_type)bad_types[i], SENDER, 0),
            -EINVAL);
        ck_assert_uint_eq(aemsg_end(&w), 0);
        ck_assert_int_eq(aemsg_set_applied(&w, 1), -EINVAL);
    }
    for (size_t i = 0; i < sizeof(bad_senders) / sizeof(bad_senders[0]); i++)
        ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_PUSH, bad_senders[i], 0),
                         -EINVAL);
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_PUSH, NULL, 0), -EINVAL);
    ck_assert_int_eq(aemsg_begin(&w, NULL, sizeof(buf), AEMSG_PUSH, SENDER, 0), -EINVAL);
    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_PUSH, id, 0), -EINVAL);
    id[AEMSG_MAX_ID] = '\0';
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_PUSH, id, 0), 0);
    for (size_t t = 0; t < NTYPES; t++) {
        size_t need = min_len(all_types[t]);

        memset(buf, 0x5a, sizeof(buf));
        for (size_t cap = 0; cap < need; cap++)
            ck_assert_int_eq(aemsg_begin(&w, buf, cap, all_types[t], SENDER, 0), -ENOSPC);
        for (size_t j = 0; j < sizeof(buf); j++)
            ck_assert_int_eq(buf[j], 0x5a);
        ck_assert_int_eq(aemsg_begin(&w, buf, need, all_types[t], SENDER, 0), 0);
    }
}
END_TEST

static void assert_writer_same(const struct aemsg_writer *a, const struct aemsg_writer *b)
{
    ck_assert_uint_eq(a->len, b->len);
    ck_assert_uint_eq(a->back, b->back);
    ck_assert_uint_eq(a->count, b->count);
    ck_assert_uint_eq(a->nstates, b->nstates);
    ck_assert_uint_eq(a->nwanted, b->nwanted);
    ck_assert_int_eq(a->last, b->last);
}

/* The first byte of buf[from..to) that is not c, or to. */
static size_t first_not(const char *buf, size_t from, size_t to, char c)
{
    while (from < to && buf[from] == c)
        from++;
    return from;
}

START_TEST(test_aemsg_writer_refuses_a_full_buffer_without_changing_the_message)
{
    static char ref[8192], want[8192], buf[8192 + 16], snap[sizeof(buf)];

    /* Every capacity up to the whole message: the writer takes parts until
     * one does not fit, leaves the buffer as it was then, never writes at or
     * past cap, and ends a valid message of the parts it took. */
    for (size_t t = 0; t < NTYPES; t++) {
        enum aemsg_type type = all_types[t];
        unsigned n = few_ops(type);
        size_t reflen = build(ref, sizeof(ref), type, n), top = reflen + 16;

        for (size_t cap = 0; cap <= reflen; cap++) {
            struct aemsg_writer w, before;
            unsigned k = 0;
            size_t len;
            int rc = 0;

            memset(buf, 0x5a, top);
            if (aemsg_begin(&w, buf, cap, type, SENDER, LAYOUT) != 0) {
                ck_assert_uint_eq(first_not(buf, 0, top, 0x5a), top);
                continue;
            }
            for (; k < n; k++) {
                memcpy(snap, buf, top);
                before = w;
                if ((rc = op(&w, type, k)) != 0)
                    break;
            }
            if (k < n) {
                ck_assert_int_eq(rc, -ENOSPC);
                ck_assert_mem_eq(buf, snap, top);
                assert_writer_same(&w, &before);
            }
            len = aemsg_end(&w);
            ck_assert_msg(first_not(buf, cap, top, 0x5a) == top, "type %d cap %zu", type,
                          cap);
            if (type == AEMSG_KEYS && k == 0) {
                ck_assert_uint_eq(len, 0);
                continue;
            }
            ck_assert_uint_le(len, cap);
            ck_assert_uint_eq(len, build(want, sizeof(want), type, k));
            ck_assert_mem_eq(buf, want, len);
            if (cap == reflen)
                ck_assert_uint_eq(k, n);
        }
    }
}
END_TEST

/* Each way to make state 1 of the generated messages invalid. */
static void invalidate_state(struct aemsg_state *s, unsigned how)
{
    static const char longkey[AEMSG_MAX_KEY + 1] = "";
    static const uint8_t bad_iflags[] = {0x01, 0x02, 0x04, 0x40, 0x80, 0xff};

    nth_state(s, 1);
    switch (how) {
    case 0:
        s->key = NULL;
        break;
    case 1:
        s->nkey = 0;
        break;
    case 2:
        s->key = longkey;
        s->nkey = sizeof(longkey);
        break;
    case 3:
        s->st.version = 0;
        break;
    case 4:
        s->st.exptime = -1;
        break;
    case 5:
        s->st.exptime = INT64_MIN;
        break;
    case 6:
        s->st.iflags = ITEM_TOMBSTONE; /* with a value */
        break;
    case 7:
        s->value = NULL;
        break;
    default:
        s->st.iflags = bad_iflags[how - 8];
        break;
    }
}
#define NBAD_STATE 14

/* Tries the invalid part of try(w, how) on a KEYS_ACK of 3 ops (or a KEYS
 * of 2): it must be refused with -EINVAL and change nothing. */
static void assert_refused_unchanged(enum aemsg_type type, unsigned how,
                                     int (*try)(struct aemsg_writer *, unsigned))
{
    char buf[4096], want[4096], snap[sizeof(buf)];
    unsigned n = type == AEMSG_KEYS ? 2 : 3;
    struct aemsg_writer w, before;
    size_t len;

    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), type, SENDER, LAYOUT), 0);
    for (unsigned j = 0; j < n; j++)
        ck_assert_int_eq(op(&w, type, j), 0);
    memcpy(snap, buf, sizeof(buf));
    before = w;
    ck_assert_msg(try(&w, how) == -EINVAL, "type %d: invalid part %u taken", type, how);
    ck_assert_mem_eq(buf, snap, sizeof(buf));
    assert_writer_same(&w, &before);
    len = aemsg_end(&w);
    ck_assert_uint_eq(len, build(want, sizeof(want), type, n));
    ck_assert_mem_eq(buf, want, len);
}

static int try_state(struct aemsg_writer *w, unsigned how)
{
    struct aemsg_state s;

    if (how == NBAD_STATE)
        return aemsg_put_state(w, NULL);
    invalidate_state(&s, how);
    return aemsg_put_state(w, &s);
}

static int try_ref(struct aemsg_writer *w, unsigned how)
{
    struct aemsg_state s;
    struct aemsg_ref r;

    if (how == NBAD_STATE)
        return aemsg_put_ref(w, NULL);
    invalidate_state(&s, how);
    r.key = s.key;
    r.nkey = s.nkey;
    r.version = s.st.version;
    r.iflags = s.st.iflags;
    return aemsg_put_ref(w, &r);
}

static int try_wanted(struct aemsg_writer *w, unsigned how)
{
    static const char key[AEMSG_MAX_KEY + 1] = "";

    return aemsg_put_wanted(w, how == 0 ? NULL : key, how == 1 ? 0 : sizeof(key));
}

START_TEST(test_aemsg_writer_refuses_invalid_parts_without_changing_the_message)
{
    for (unsigned how = 0; how <= NBAD_STATE; how++)
        assert_refused_unchanged(AEMSG_KEYS_ACK, how, try_state);
    /* A ref has no exptime, value or tombstone rule. */
    for (unsigned how = 0; how <= NBAD_STATE; how++)
        if (how < 4 || how >= 8)
            assert_refused_unchanged(AEMSG_KEYS, how, try_ref);
    for (unsigned how = 0; how < 3; how++)
        assert_refused_unchanged(AEMSG_KEYS_ACK, how, try_wanted);
}
END_TEST

START_TEST(test_aemsg_writer_refuses_indexes_out_of_order_or_range)
{
    char buf[4096];
    struct aemsg_writer w;
    struct aemsg_ref r;
    uint64_t h[64] = {0};

    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_ROOTS_ACK, SENDER, 0), 0);
    ck_assert_int_eq(aemsg_put_segment(&w, 64, h), -EINVAL);
    ck_assert_int_eq(aemsg_put_segment(&w, 5, NULL), -EINVAL);
    ck_assert_int_eq(aemsg_put_segment(&w, 5, h), 0);
    ck_assert_int_eq(aemsg_put_segment(&w, 5, h), -EINVAL);
    ck_assert_int_eq(aemsg_put_segment(&w, 4, h), -EINVAL);
    ck_assert_int_eq(aemsg_put_segment(&w, 63, h), 0);
    ck_assert_int_eq(aemsg_put_segment(&w, 64, h), -EINVAL);
    ck_assert_uint_eq(w.count, 2);

    nth_ref(&r, 0);
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS, SENDER, 0), 0);
    ck_assert_int_eq(aemsg_put_ref(&w, &r), -EINVAL); /* before any leaf */
    ck_assert_int_eq(aemsg_put_leaf(&w, AEMSG_LEAVES), -EINVAL);
    ck_assert_int_eq(aemsg_put_leaf(&w, 10), 0);
    ck_assert_int_eq(aemsg_put_leaf(&w, 10), -EINVAL);
    ck_assert_int_eq(aemsg_put_leaf(&w, 9), -EINVAL);
    ck_assert_int_eq(aemsg_put_leaf(&w, AEMSG_LEAVES - 1), 0);
    ck_assert_int_eq(aemsg_put_leaf(&w, 0xffff), -EINVAL);
    ck_assert_uint_eq(w.count, 2);
}
END_TEST

START_TEST(test_aemsg_writer_refuses_parts_of_another_type)
{
    char buf[4096];
    struct aemsg_writer w;
    struct aemsg_state s;
    struct aemsg_ref r;
    uint64_t h[64] = {0};

    nth_state(&s, 3);
    nth_ref(&r, 3);
    for (size_t t = 0; t < NTYPES; t++) {
        enum aemsg_type y = all_types[t];
        bool answer = y == AEMSG_ROOTS_ACK || y == AEMSG_KEYS_ACK || y == AEMSG_PUSH_ACK;

        ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), y, SENDER, 0), 0);
        ck_assert_int_eq(aemsg_put_roots(&w, 1, h), y == AEMSG_ROOTS ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_put_roots(&w, 1, h), -EINVAL); /* twice */
        ck_assert_int_eq(aemsg_put_segment(&w, 0, h), y == AEMSG_ROOTS_ACK ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_put_leaf(&w, 0), y == AEMSG_KEYS ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_put_ref(&w, &r), y == AEMSG_KEYS ? 0 : -EINVAL);
        ck_assert_int_eq(
            aemsg_put_state(&w, &s),
            y == AEMSG_KEYS_ACK || y == AEMSG_PUSH || y == AEMSG_HANDOFF ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_put_wanted(&w, S("k")), y == AEMSG_KEYS_ACK ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_set_more(&w, true), y == AEMSG_KEYS_ACK ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_set_applied(&w, 1), y == AEMSG_PUSH_ACK ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_set_status(&w, AEMSG_OK), answer ? 0 : -EINVAL);
        ck_assert_int_eq(aemsg_set_status(&w, (enum aemsg_status)4), -EINVAL);
        ck_assert_int_eq(aemsg_set_status(&w, (enum aemsg_status) - 1), -EINVAL);
        ck_assert_int_eq(read_exact(buf, aemsg_end(&w)), 0);
    }
}
END_TEST

START_TEST(test_aemsg_non_ok_status_needs_an_empty_body_and_then_takes_nothing)
{
    char buf[4096];
    struct aemsg_writer w;
    struct aemsg_state s;
    uint64_t h[64] = {0};

    nth_state(&s, 1);
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_ROOTS_ACK, SENDER, 0), 0);
    ck_assert_int_eq(aemsg_put_segment(&w, 0, h), 0);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_BUSY), -EINVAL);

    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS_ACK, SENDER, 0), 0);
    ck_assert_int_eq(aemsg_set_more(&w, true), 0);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_NOT_READY), -EINVAL);
    ck_assert_int_eq(aemsg_set_more(&w, false), 0);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_NOT_READY), 0);
    ck_assert_int_eq(aemsg_put_state(&w, &s), -EINVAL);
    ck_assert_int_eq(aemsg_put_wanted(&w, S("k")), -EINVAL);
    ck_assert_int_eq(aemsg_set_more(&w, true), -EINVAL);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_OK), 0);
    ck_assert_int_eq(aemsg_put_wanted(&w, S("k")), 0);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_LAYOUT_MISMATCH), -EINVAL);

    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_PUSH_ACK, SENDER, 0), 0);
    ck_assert_int_eq(aemsg_set_applied(&w, 1), 0);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_BUSY), -EINVAL);
    ck_assert_int_eq(aemsg_set_applied(&w, 0), 0);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_BUSY), 0);
    ck_assert_int_eq(aemsg_set_applied(&w, 1), -EINVAL);
}
END_TEST

START_TEST(test_aemsg_end_refuses_an_incomplete_message_and_repeats_its_length)
{
    char buf[4096], copy[4096];
    struct aemsg_writer w;
    uint64_t h[64] = {0};
    size_t len;

    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_ROOTS, SENDER, 0), 0);
    ck_assert_uint_eq(aemsg_end(&w), 0);
    ck_assert_int_eq(aemsg_put_roots(&w, 1, h), 0);
    ck_assert_uint_eq(aemsg_end(&w), min_len(AEMSG_ROOTS) + 8 * 65);
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS, SENDER, 0), 0);
    ck_assert_uint_eq(aemsg_end(&w), 0);
    ck_assert_int_eq(aemsg_put_leaf(&w, 1), 0);
    ck_assert_uint_eq(aemsg_end(&w), min_len(AEMSG_KEYS) + 6);

    /* A KEYS_ACK's end moves its wanted keys: a second end must not. */
    ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), AEMSG_KEYS_ACK, SENDER, 0), 0);
    for (unsigned j = 0; j < 6; j++)
        ck_assert_int_eq(op(&w, AEMSG_KEYS_ACK, j), 0);
    len = aemsg_end(&w);
    memcpy(copy, buf, len);
    ck_assert_uint_eq(aemsg_end(&w), len);
    ck_assert_mem_eq(buf, copy, len);
    ck_assert_int_eq(op(&w, AEMSG_KEYS_ACK, 6), -EINVAL);
    ck_assert_int_eq(aemsg_set_more(&w, true), -EINVAL);
    ck_assert_int_eq(aemsg_set_status(&w, AEMSG_OK), -EINVAL);
    ck_assert_uint_eq(aemsg_end(&w), len);
    ck_assert_int_eq(read_exact(buf, len), 0);
}
END_TEST

START_TEST(test_aemsg_a_copy_of_the_writer_is_a_checkpoint)
{
    static const enum aemsg_type types[] = {AEMSG_KEYS, AEMSG_KEYS_ACK};
    char buf[16384], want[16384];

    /* Ops 0..3, a checkpoint, ops 4..8 then undone: ops 0..3 alone. */
    for (size_t t = 0; t < 2; t++) {
        struct aemsg_writer w, mark;
        size_t len;

        ck_assert_int_eq(aemsg_begin(&w, buf, sizeof(buf), types[t], SENDER, LAYOUT), 0);
        mark = w;
        for (unsigned j = 0; j < 9; j++) {
            if (j == 4)
                mark = w;
            ck_assert_int_eq(op(&w, types[t], j), 0);
        }
        if (types[t] == AEMSG_KEYS_ACK)
            ck_assert_int_eq(aemsg_set_more(&w, true), 0);
        w = mark;
        len = aemsg_end(&w);
        ck_assert_uint_eq(len, build(want, sizeof(want), types[t], 4));
        ck_assert_mem_eq(buf, want, len);
    }
}
END_TEST

static Suite *aemsg_suite(void)
{
    Suite *s = suite_create("aemsg");
    TCase *tc = tcase_create("roundtrip");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_aemsg_every_type_round_trips_empty_single_and_many_parts);
    tcase_add_test(tc, test_aemsg_keys_take_max_leaves_and_refuse_one_more);
    tcase_add_test(tc, test_aemsg_keys_ack_keeps_each_list_in_order_however_interleaved);
    tcase_add_test(tc, test_aemsg_states_carry_binary_keys_and_extreme_fields);
    tcase_add_test(tc, test_aemsg_non_ok_answers_round_trip_with_empty_bodies);
    tcase_add_test(tc, test_aemsg_a_max_value_fits_alone_with_the_longest_key_and_sender);
    tcase_add_test(
        tc, test_aemsg_a_message_of_max_size_round_trips_and_one_byte_more_is_e2big);
    tcase_add_test(tc, test_aemsg_golden_bytes_pin_the_encoding);
    tcase_add_test(tc, test_aemsg_magic_tells_anti_entropy_from_gossip);
    suite_add_tcase(s, tc);

    tc = tcase_create("writer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_aemsg_begin_refuses_a_bad_type_sender_or_small_buffer);
    tcase_add_test(tc,
                   test_aemsg_writer_refuses_a_full_buffer_without_changing_the_message);
    tcase_add_test(tc,
                   test_aemsg_writer_refuses_invalid_parts_without_changing_the_message);
    tcase_add_test(tc, test_aemsg_writer_refuses_indexes_out_of_order_or_range);
    tcase_add_test(tc, test_aemsg_writer_refuses_parts_of_another_type);
    tcase_add_test(tc,
                   test_aemsg_non_ok_status_needs_an_empty_body_and_then_takes_nothing);
    tcase_add_test(tc,
                   test_aemsg_end_refuses_an_incomplete_message_and_repeats_its_length);
    tcase_add_test(tc, test_aemsg_a_copy_of_the_writer_is_a_checkpoint);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(aemsg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
