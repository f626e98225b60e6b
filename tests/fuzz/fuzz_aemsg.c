/*
 * fuzz_aemsg: arbitrary bytes through the anti-entropy message reader.
 *
 * Checks: no crash or undefined behaviour (the sanitizers); the reader
 * refuses with -EPROTO or -E2BIG only; an accepted message yields exactly
 * its counts of parts, each with valid fields, and then no more, also when
 * read skipping parts; and the encoding is canonical: the writer, given what
 * the reader decoded, in a buffer of exactly the input's size, writes the
 * input back byte for byte.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/aemsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_aemsg: invariant broken: %s\n", what);
        abort();
    }
}

static void check_key(const char *key, size_t nkey)
{
    check(key != NULL && nkey >= 1 && nkey <= AEMSG_MAX_KEY, "key length");
}

static void check_ref(const struct aemsg_ref *r)
{
    check_key(r->key, r->nkey);
    check(r->version != 0, "version 0");
    check((r->iflags & ~AEMSG_IFLAGS) == 0, "iflags");
}

static void check_state(const struct aemsg_state *s)
{
    struct aemsg_ref r = {s->key, s->nkey, s->st.version, s->st.iflags};

    check_ref(&r);
    check(s->st.exptime >= 0, "negative exptime");
    check(s->st.nvalue <= AEMSG_MAX_VALUE, "value size");
    check(!(s->st.iflags & ITEM_TOMBSTONE) || s->st.nvalue == 0, "tombstone value");
}

/* Reads the message again skipping parts (a leaf's refs, the states before
 * the wanted keys): the counts must still come out. */
static void read_skipping(const char *in, size_t size, const struct aemsg_header *h)
{
    struct aemsg_reader r;
    struct aemsg_header h2;
    const char *key;
    size_t nkey;
    unsigned index, n = 0;
    uint32_t nstates;

    check(aemsg_read_header(&r, in, size, &h2) == 0, "second read refused");
    if (h->type == AEMSG_KEYS) {
        while (aemsg_read_leaf(&r, &index, &nstates) == 1)
            n++;
        check(n == h->count, "leaves read skipping refs");
    } else if (h->type == AEMSG_KEYS_ACK) {
        while (aemsg_read_wanted(&r, &key, &nkey) == 1)
            n++;
        check(n == h->nwanted, "wanted keys read skipping states");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly sized copies, so that ASan sees any read or write past them. */
    char *in = malloc(size > 0 ? size : 1), *out;
    struct aemsg_reader r;
    struct aemsg_header h;
    struct aemsg_writer w;
    struct aemsg_ref ref;
    struct aemsg_state s;
    uint64_t hashes[AEMSG_SEG_LEAVES], root;
    const char *key;
    size_t nkey;
    unsigned index, parts = 0, refs;
    uint32_t nstates;
    int rc;

    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    rc = aemsg_read_header(&r, in, size, &h);
    if (rc != 0) {
        check(rc == -EPROTO || rc == -E2BIG, "error code");
        check(aemsg_read_state(&r, &s) == 0 && aemsg_read_leaf(&r, &index, &nstates) == 0,
              "a refused message has parts");
        free(in);
        return 0;
    }
    check(size <= AEMSG_MAX_SIZE, "size");
    check(aemsg_has_magic(in, size), "magic");
    check(h.type >= AEMSG_ROOTS && h.type <= AEMSG_HANDOFF, "type");
    check(h.status <= AEMSG_NOT_READY, "status");
    check(h.status == AEMSG_OK ||
              (h.count == 0 && h.nwanted == 0 && h.applied == 0 && !h.more),
          "a status other than OK with a body");
    out = malloc(size);
    if (out == NULL) {
        free(in);
        return 0;
    }
    check(aemsg_begin(&w, out, size, h.type, h.sender, h.layout) == 0,
          "the writer refuses a header the reader accepted");
    if (h.type == AEMSG_ROOTS_ACK || h.type == AEMSG_KEYS_ACK || h.type == AEMSG_PUSH_ACK)
        check(aemsg_set_status(&w, h.status) == 0, "status refused");
    if (aemsg_read_roots(&r, &root, hashes) == 1)
        check(aemsg_put_roots(&w, root, hashes) == 0, "roots refused");
    while (aemsg_read_segment(&r, &index, hashes) == 1) {
        check(index < AEMSG_SEGMENTS, "segment index");
        check(aemsg_put_segment(&w, index, hashes) == 0, "segment refused");
        parts++;
    }
    while (aemsg_read_leaf(&r, &index, &nstates) == 1) {
        check(index < AEMSG_LEAVES, "leaf index");
        check(aemsg_put_leaf(&w, index) == 0, "leaf refused");
        for (refs = 0; aemsg_read_ref(&r, &ref) == 1; refs++) {
            check_ref(&ref);
            check(aemsg_put_ref(&w, &ref) == 0, "ref refused");
        }
        check(refs == nstates, "refs read differ from the leaf's count");
        parts++;
    }
    while (aemsg_read_state(&r, &s) == 1) {
        check_state(&s);
        check(aemsg_put_state(&w, &s) == 0, "state refused");
        parts++;
    }
    check(parts == h.count, "parts read differ from the count");
    for (parts = 0; aemsg_read_wanted(&r, &key, &nkey) == 1; parts++) {
        check_key(key, nkey);
        check(aemsg_put_wanted(&w, key, nkey) == 0, "wanted key refused");
    }
    check(parts == h.nwanted, "wanted keys read differ from the count");
    /* With a status other than OK, the writer takes neither (both are 0). */
    if (h.type == AEMSG_KEYS_ACK && h.status == AEMSG_OK)
        check(aemsg_set_more(&w, h.more) == 0, "more refused");
    if (h.type == AEMSG_PUSH_ACK && h.status == AEMSG_OK)
        check(aemsg_set_applied(&w, h.applied) == 0, "applied refused");
    check(aemsg_end(&w) == size, "re-encoded length differs");
    check(memcmp(out, in, size) == 0, "re-encoding differs from the input");
    read_skipping(in, size, &h);
    check(memcmp(in, data, size) == 0, "input modified");
    free(out);
    free(in);
    return 0;
}
