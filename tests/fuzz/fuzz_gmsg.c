/*
 * fuzz_gmsg: arbitrary bytes through the gossip message reader.
 *
 * Checks: no crash or undefined behaviour (the sanitizers); an accepted
 * message has count records, each with valid fields, and then no more; and
 * the encoding is canonical: the writer, given what the reader decoded, in a
 * buffer of exactly the input's size, writes the input back byte for byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_gmsg: invariant broken: %s\n", what);
        abort();
    }
}

static void check_member(const struct gmsg_member *m)
{
    size_t n = strlen(m->id);

    check(n >= 1 && n <= GMSG_MAX_ID, "id length");
    for (size_t i = 0; i < n; i++)
        check(m->id[i] > 0x20 && m->id[i] < 0x7f, "id not printable");
    check(m->state >= GMSG_ALIVE && m->state <= GMSG_LEFT, "state");
    check(gmsg_addr_valid(m->addr) && gmsg_addr_valid(m->gaddr), "address");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly sized copies, so that ASan sees any read or write past them. */
    char *in = malloc(size > 0 ? size : 1), *out;
    struct gmsg_reader r;
    struct gmsg_header h;
    struct gmsg_writer w;
    struct gmsg_member m;
    unsigned n = 0;

    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    if (gmsg_read_header(&r, in, size, &h) != 0) {
        free(in);
        return 0;
    }
    check(h.type >= GMSG_PING && h.type <= GMSG_SYNC_ACK, "type");
    check(h.count <= GMSG_MAX_RECORDS, "count");
    check(size <= GMSG_MAX_SIZE, "size");
    check_member(&h.sender);
    check((h.type == GMSG_PING_REQ) == (h.target[0] != '\0'), "target");
    out = malloc(size);
    if (out == NULL) {
        free(in);
        return 0;
    }
    gmsg_begin(&w, out, size, h.type, &h.sender,
               h.type == GMSG_PING_REQ ? h.target : NULL);
    check(!w.failed, "the writer refuses a header the reader accepted");
    while (gmsg_read_record(&r, &m) == 1) {
        check_member(&m);
        check(gmsg_add(&w, &m), "the writer refuses a record the reader accepted");
        n++;
    }
    check(n == h.count, "records read differ from the count");
    check(gmsg_read_record(&r, &m) == 0, "a record after the last");
    check(gmsg_end(&w) == size, "re-encoded length differs");
    check(memcmp(out, in, size) == 0, "re-encoding differs from the input");
    check(memcmp(in, data, size) == 0, "input modified");
    free(out);
    free(in);
    return 0;
}
