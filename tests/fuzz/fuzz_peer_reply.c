/*
 * fuzz_peer_reply: arbitrary peer bytes through the reply framer. The first
 * byte picks the reply kind and max_value; the rest is the stream.
 *
 * Checks: no crash or undefined behaviour (the sanitizers); a framed reply
 * fits in the input and ends with "\r\n"; framing the same bytes again gives
 * the same answer; feeding them a byte at a time to one parser gives the
 * answer framing them whole gave; back-to-back replies frame one by one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peer_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_peer_reply: invariant broken: %s\n", what);
        abort();
    }
}

static int frame_fresh(enum peer_reply_kind kind, size_t max_value, const char *buf,
                       size_t len, size_t *consumed)
{
    struct peer_reply_parser p;

    peer_reply_init(&p, max_value);
    return peer_reply_frame(&p, kind, buf, len, consumed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_reply_parser p;
    enum peer_reply_kind kind;
    size_t max_value, consumed = 0, again = 0, i, off;
    const char *buf;
    int rc, rc2;

    if (size == 0)
        return 0;
    kind = (enum peer_reply_kind)(data[0] & 3);
    /* A small bound makes over-long values reachable; 0 only empty ones. */
    max_value = (data[0] & 4) ? (data[0] & 8 ? 0 : 16) : 1024 * 1024;
    buf = (const char *)data + 1;
    size--;

    rc = frame_fresh(kind, max_value, buf, size, &consumed);
    check(rc == 1 || rc == 0 || rc == -EPROTO, "unexpected return value");
    if (rc == 1) {
        check(consumed >= 2 && consumed <= size, "consumed outside the input");
        check(buf[consumed - 2] == '\r' && buf[consumed - 1] == '\n',
              "reply does not end with \\r\\n");
    }
    rc2 = frame_fresh(kind, max_value, buf, size, &again);
    check(rc2 == rc && (rc != 1 || again == consumed), "reframing differs");

    /* One parser, one more byte per call. */
    peer_reply_init(&p, max_value);
    for (i = 0; i <= size; i++) {
        again = 0;
        rc2 = peer_reply_frame(&p, kind, buf, i, &again);
        if (rc2 != 0)
            break;
    }
    if (rc == 0) {
        check(rc2 == 0, "incremental framing ended early");
    } else if (rc == 1) {
        check(rc2 == 1 && again == consumed && i == consumed,
              "incremental framing disagrees on the reply's end");
    } else {
        check(rc2 == -EPROTO, "incremental framing missed a malformed reply");
        check(peer_reply_frame(&p, kind, buf, size, &again) == -EPROTO,
              "failure is not sticky");
    }

    /* Back to back, with the parser reused after each reply. */
    peer_reply_init(&p, max_value);
    for (off = 0; off < size;) {
        size_t c = 0;
        if (peer_reply_frame(&p, kind, buf + off, size - off, &c) != 1)
            break;
        check(c > 0 && c <= size - off, "pipelined reply outside the input");
        off += c;
    }
    return 0;
}
