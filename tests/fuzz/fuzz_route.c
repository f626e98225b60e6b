/*
 * fuzz_route: arbitrary input through the forwarding classifier, the key
 * walk and the VALUE walk, cross-checked against the real command layer.
 * The input up to its first '\n' (a '\r' before it dropped, as conn.c does)
 * is the command line; the bytes after it are the data block, if one is
 * read. The whole input is also walked as a get reply.
 *
 * Checks: no crash or undefined behaviour (the sanitizers); the line is not
 * modified and classifying it twice gives the same answer; a forwarded key
 * is 1..KEY_MAX_LENGTH bytes inside the line or keybuf; a multi-get's key
 * walk yields r.nkeys keys inside the line; VALUE blocks are consecutive,
 * inside the input and end with "\r\n". And the framing contract: when route
 * forwards, the command layer reads or swallows exactly data_len bytes, under
 * the key route hashed, and answers one reply of the announced shape (or,
 * quiet, replies ending with the MN of an appended mn).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cmd/cmd.h"
#include "store/item.h"
#include "base/mctime.h"
#include "proto/peer_reply.h"
#include "proto/route.h"
#include "base/server.h"
#include "base/settings.h"
#include "store/store.h"

#define ISM 1024u /* item_size_max: small, so that both sides of it are reachable */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct server srv;
static struct thread_stats ts;
static struct buf out;
static struct cmd c;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_route: invariant broken: %s\n", what);
        abort();
    }
}

static void start_once(void)
{
    static int started;
    struct store_config cfg = {
        .maxbytes = 16u * 1024 * 1024, .item_size_max = ISM, .evict_to_free = true};

    if (started)
        return;
    started = 1;
    mctime_init();
    settings_defaults(&srv.settings);
    srv.settings.maxbytes = cfg.maxbytes;
    srv.settings.item_size_max = ISM;
    if (store_create(&srv.store, &cfg) != 0)
        abort();
    buf_init(&out);
    cmd_init(&c, &srv, &ts, &out);
}

static void check_one_reply(enum peer_reply_kind kind)
{
    struct peer_reply_parser p;
    size_t consumed = 0, pending = buf_pending(&out);

    peer_reply_init(&p, 4 * ISM);
    check(peer_reply_frame(&p, kind, out.data + out.off, pending, &consumed) == 1 &&
              consumed == pending,
          "the owner's answer is not one reply of the announced shape");
}

static void check_keys(const char *line, size_t len, const struct route_req *r)
{
    size_t pos = r->keys_off, n = 0, nkey;
    const char *key;

    while (route_next_key(line, len, &pos, &key, &nkey)) {
        check(key >= line + r->keys_off && key + nkey <= line + len, "key outside");
        check(nkey > 0 && nkey <= KEY_MAX_LENGTH, "bad key length");
        n++;
    }
    check(n == r->nkeys, "key walk disagrees with nkeys");
}

static void check_values(const char *buf, size_t len)
{
    size_t pos = 0, nkey, nblock, prev;
    const char *key, *block;

    for (;;) {
        prev = pos;
        if (!route_next_value(buf, len, &pos, &key, &nkey, &block, &nblock)) {
            check(pos == prev, "a refused block moved pos");
            break;
        }
        check(block == buf + prev && pos == prev + nblock && pos <= len,
              "block not consecutive");
        check(nblock >= 2 && memcmp(block, "VALUE ", 6) == 0 &&
                  block[nblock - 2] == '\r' && block[nblock - 1] == '\n',
              "block shape");
        check(key > block && key + nkey < block + nblock && nkey <= KEY_MAX_LENGTH,
              "value key outside its block");
    }
}

/* Runs the line through the command layer and checks the framing contract. */
static void crosscheck(const char *line, size_t len, const struct route_req *r,
                       const char *rest, size_t nrest)
{
    char *copy = malloc(len + 1);
    enum cmd_next next;

    if (copy == NULL)
        return;
    memcpy(copy, line, len);
    buf_reset(&out);
    next = cmd_process_line(&c, copy, len);
    free(copy);
    if (r->kind == ROUTE_KEY) {
        if (r->data_len == 0) {
            check(next == CMD_NEXT_LINE, "a block is read where route expects none");
        } else if (next == CMD_READ_VALUE) {
            struct item *it = c.item;
            size_t take = nrest < it->nbytes ? nrest : it->nbytes;
            check(it->nbytes == r->data_len, "block length differs");
            check(it->nkey == r->nkey && memcmp(item_key(it), r->key, r->nkey) == 0,
                  "stored under another key");
            memset(item_value(it), 0, it->nbytes);
            memcpy(item_value(it), rest, take);
            cmd_value_done(&c);
        } else {
            check(next == CMD_SWALLOW && c.swallow == r->data_len,
                  "block not swallowed whole");
            c.swallow = 0;
        }
        if (r->quiet) {
            char mn[] = "mn";
            cmd_process_line(&c, mn, 2);
            check_one_reply(PEER_REPLY_QUIET);
        } else {
            check_one_reply(r->reply);
        }
    } else if (r->kind == ROUTE_MULTIGET) {
        check(next == CMD_NEXT_LINE, "a get reads a block");
        check_one_reply(PEER_REPLY_GET);
    } else if (next == CMD_READ_VALUE) {
        cmd_reset(&c);
    } else if (next == CMD_SWALLOW) {
        c.swallow = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data, *nl = memchr(in, '\n', size);
    size_t len = nl != NULL ? (size_t)(nl - in) : size;
    size_t rest = nl != NULL ? (size_t)(nl - in) + 1 : size;
    struct route_req r, again;
    char *line;

    start_once();
    if (len > 1 && in[len - 1] == '\r')
        len--;
    line = malloc(len + 1); /* exactly sized, so ASan sees any overread */
    if (line == NULL)
        return 0;
    memcpy(line, in, len);
    route_classify(line, len, ISM, &r);
    check(memcmp(line, in, len) == 0, "line modified");
    route_classify(line, len, ISM, &again);
    check(again.kind == r.kind && again.nkey == r.nkey && again.data_len == r.data_len &&
              again.nkeys == r.nkeys && again.quiet == r.quiet,
          "classification not deterministic");
    if (r.kind == ROUTE_KEY) {
        check(r.nkey > 0 && r.nkey <= KEY_MAX_LENGTH, "bad key length");
        check(r.key == r.keybuf || (r.key > line && r.key + r.nkey <= line + len),
              "key outside the line");
    } else if (r.kind == ROUTE_MULTIGET) {
        check(r.nkeys > 0 && r.keys_off <= len, "bad multi-get");
        check_keys(line, len, &r);
    }
    crosscheck(line, len, &r, in + rest, size - rest);
    free(line);
    check_values(in, size);
    return 0;
}
