/*
 * admin_cache: GET, PUT and DELETE /cache/{key}, as meta commands (mg, ms,
 * md, the key in base64 with the b flag so any byte may be in it) over
 * this node's internal client connection: they take exactly the memcached
 * port's routing, replication and quorums.
 */
#include "admin/admin_internal.h"
#include "admin/admintext.h"
#include "base/base64.h"
#include "base/util.h"
#include "store/item.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cache_req {
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
};

/* An error line of memcached as an HTTP answer. */
static void reply_error(struct evhttp_request *req, const char *line, size_t n)
{
    char msg[256];
    int code = 502;

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    snprintf(msg, sizeof(msg), "%.*s", (int)n, line);
    if (admintext_starts(line, n, "SERVER_ERROR object too large"))
        code = 413;
    else if (admintext_starts(line, n, "SERVER_ERROR out of memory"))
        code = 507;
    else if (admintext_starts(line, n, "SERVER_ERROR"))
        code = 503; /* a quorum not reached, an owner not answering */
    else if (admintext_starts(line, n, "CLIENT_ERROR"))
        code = 400;
    admin_error(req, code, msg);
}

/* "VA <n> f<flags> t<ttl> c<cas>\r\n<data>\r\n": the value and its
 * metadata as the answer to GET. The reply is not NUL-terminated: its
 * header line is parsed from a bounded copy. */
static void reply_value(struct evhttp_request *req, const char *r, size_t n)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *nl = memchr(r, '\n', n);
    char line[128], *save = NULL, *tok;
    size_t nline = nl != NULL ? (size_t)(nl - r) : 0;
    unsigned long long len = 0;

    if (nl == NULL || nline >= sizeof(line)) {
        admin_error(req, 502, "malformed reply from the worker");
        return;
    }
    memcpy(line, r, nline);
    line[nline] = '\0';
    strtok_r(line, " \r", &save); /* "VA" */
    tok = strtok_r(NULL, " \r", &save);
    if (tok != NULL)
        len = strtoull(tok, NULL, 10);
    if (tok == NULL || len > n - nline - 1) {
        admin_error(req, 502, "malformed reply from the worker");
        return;
    }
    while ((tok = strtok_r(NULL, " \r", &save)) != NULL) {
        char etag[40];
        if (tok[0] == 'f')
            evhttp_add_header(h, "X-Meshcached-Flags", tok + 1);
        else if (tok[0] == 't')
            evhttp_add_header(h, "X-Meshcached-TTL", tok + 1);
        else if (tok[0] == 'c' && snprintf(etag, sizeof(etag), "\"%s\"", tok + 1) > 0)
            evhttp_add_header(h, "ETag", etag);
    }
    admin_reply(req, 200, "application/octet-stream", nl + 1, (size_t)len);
}

static void cache_done(void *arg, int status, const char *r, size_t n)
{
    struct cache_req *c = arg;
    struct evhttp_request *req = c->req;

    if (status != 0)
        admin_error(req, 503, "no answer from this node's worker");
    else if (c->method == EVHTTP_REQ_GET && admintext_starts(r, n, "VA "))
        reply_value(req, r, n);
    else if (admintext_starts(r, n, "EN") || admintext_starts(r, n, "NF"))
        admin_error(req, 404, "no such key");
    else if (admintext_starts(r, n, "HD") && c->method == EVHTTP_REQ_PUT)
        admin_json(req, 200, json_pack("{s:b}", "stored", 1));
    else if (admintext_starts(r, n, "HD") && c->method == EVHTTP_REQ_DELETE)
        admin_json(req, 200, json_pack("{s:b}", "deleted", 1));
    else if (admintext_starts(r, n, "NS"))
        admin_error(req, 409, "not stored");
    else
        reply_error(req, r, n);
    free(c);
}

/* Whether a text command can carry the key as it is. */
static bool plain_key(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)k[i] <= ' ' || (unsigned char)k[i] == 127)
            return false;
    }
    return true;
}

/* ?ttl= and ?flags= of a PUT into *ttl and *flags; false for garbage. */
static bool put_params(struct evhttp_request *req, int64_t *ttl, uint32_t *flags)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq params;
    const char *v;
    bool ok = true;

    *ttl = 0;
    *flags = 0;
    if (q == NULL)
        return true;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(q, &params) != 0)
        return false;
    v = evhttp_find_header(&params, "ttl");
    if (v != NULL && !util_parse_i64(v, strlen(v), ttl))
        ok = false;
    v = evhttp_find_header(&params, "flags");
    if (v != NULL && !util_parse_u32(v, strlen(v), flags))
        ok = false;
    evhttp_clear_headers(&params);
    return ok;
}

void admin_cache(struct admin *a, struct evhttp_request *req, const char *key_enc)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    size_t nenc = strlen(key_enc);
    char *key = malloc(nenc + 1), b64[BASE64_KEY_MAX + 1];
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    struct evbuffer *cmd = NULL;
    struct cache_req *c = NULL;
    struct mcconn *m;
    long nkey;
    size_t nb64;
    const char *bflag = " b";

    if (key == NULL) {
        admin_error(req, 500, "out of memory");
        return;
    }
    nkey = admintext_pct_decode(key_enc, nenc, key);
    if (nkey < 0) {
        admin_error(req, 400, "bad percent-encoding in the key");
        goto out;
    }
    if (nkey == 0 || nkey > KEY_MAX_LENGTH) {
        admin_error(req, 400, "a key is 1 to 250 bytes");
        goto out;
    }
    /* a key a text command can carry goes as it is (memcached limits a
     * base64 key's encoded length to 250 too); others in base64 */
    if (plain_key(key, (size_t)nkey)) {
        memcpy(b64, key, (size_t)nkey);
        b64[nkey] = '\0';
        bflag = "";
    } else {
        nb64 = base64_encode(key, (size_t)nkey, b64);
        b64[nb64] = '\0';
    }
    cmd = evbuffer_new();
    c = calloc(1, sizeof(*c));
    if (cmd == NULL || c == NULL) {
        admin_error(req, 500, "out of memory");
        goto out;
    }
    c->req = req;
    c->method = method;
    if (method == EVHTTP_REQ_GET) {
        evbuffer_add_printf(cmd, "mg %s%s v f t c\r\n", b64, bflag);
    } else if (method == EVHTTP_REQ_DELETE) {
        evbuffer_add_printf(cmd, "md %s%s\r\n", b64, bflag);
    } else if (method == EVHTTP_REQ_PUT) {
        size_t len = evbuffer_get_length(body);
        int64_t ttl;
        uint32_t flags;
        if (!put_params(req, &ttl, &flags)) {
            admin_error(req, 400, "ttl is an integer, flags a 32-bit unsigned one");
            goto out;
        }
        if (len > a->srv->settings.item_size_max) {
            admin_error(req, 413, "value larger than the item size limit (-I)");
            goto out;
        }
        evbuffer_add_printf(cmd, "ms %s %zu%s F%u T%lld\r\n", b64, len, bflag, flags,
                            (long long)ttl);
        evbuffer_add_buffer(cmd, body);
        evbuffer_add(cmd, "\r\n", 2);
    } else {
        admin_error(req, 405, "method not allowed on this route");
        goto out;
    }
    m = admin_self(a);
    if (m == NULL || mcconn_send(m, evbuffer_pullup(cmd, -1), evbuffer_get_length(cmd),
                                 MCCONN_LINE, cache_done, c) != 0) {
        admin_error(req, 503, "cannot reach this node's workers");
        goto out;
    }
    c = NULL; /* cache_done() has it */
out:
    free(c);
    if (cmd != NULL)
        evbuffer_free(cmd);
    free(key);
}
