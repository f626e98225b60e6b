/*
 * cmd_auth: memcached's ASCII authentication (-Y). Until a client proves a
 * user, every line is answered CLIENT_ERROR unauthenticated, except
 * "set <any> <any> <any> <bytes>", whose data block "<user> <pass>" is the
 * proof. Its block is read into a private buffer, never into the store.
 */
#include "cmd/cmd_internal.h"
#include "base/authfile.h"

#include <stdlib.h>

/* A block longer than this cannot hold a user and password worth checking:
 * it is swallowed, so that unauthenticated clients cannot make the daemon
 * hold more than this each. */
#define AUTH_MAX_BLOCK 4096

enum cmd_next cmd_auth_line(struct cmd *c, const struct token *tokens, size_t ntokens)
{
    uint32_t size;
    struct item *it;

    c->noreply = false; /* memcached answers even "set ... noreply" here */
    if (ntokens < 6 || strcmp(tokens[0].value, "set") != 0 ||
        !util_parse_u32(tokens[4].value, tokens[4].length, &size)) {
        cmd_reply(c, "CLIENT_ERROR unauthenticated");
        return CMD_NEXT_LINE;
    }
    if (size > AUTH_MAX_BLOCK) {
        STATS_INCR(c->stats, auth_cmds);
        STATS_INCR(c->stats, auth_errors);
        cmd_reply(c, "CLIENT_ERROR authentication failure");
        c->swallow = (uint64_t)size + 2;
        return CMD_SWALLOW;
    }
    it = malloc(item_size(0, (size_t)size + 2));
    if (it == NULL) {
        cmd_reply(c, "SERVER_ERROR out of memory");
        return CMD_CLOSE;
    }
    item_clear_header(it);
    it->nbytes = size + 2;
    c->item = it;
    c->auth_block = true;
    return CMD_READ_VALUE;
}

/* The next word of d[*at..n) (split on spaces, as memcached's tokenizer):
 * false when there is none. */
static bool word(const char *d, size_t n, size_t *at, const char **w, size_t *wn)
{
    size_t i = *at;

    while (i < n && d[i] == ' ')
        i++;
    if (i == n)
        return false;
    *w = d + i;
    while (i < n && d[i] != ' ')
        i++;
    *wn = (size_t)(d + i - *w);
    *at = i;
    return true;
}

void cmd_auth_done(struct cmd *c)
{
    struct item *it = c->item;
    const char *d = item_value(it), *user, *pass;
    size_t n = it->nbytes, at = 0, ulen, plen;

    c->item = NULL;
    c->auth_block = false;
    if (d[n - 2] != '\r' || d[n - 1] != '\n') {
        cmd_reply(c, "CLIENT_ERROR bad command line termination");
    } else if (n = strnlen(d, n - 2), /* memcached reads a C string */
               !word(d, n, &at, &user, &ulen) || !word(d, n, &at, &pass, &plen)) {
        cmd_reply(c, "CLIENT_ERROR bad authentication token format");
    } else if (authfile_check(c->srv->auth, user, ulen, pass, plen)) {
        STATS_INCR(c->stats, auth_cmds);
        c->authenticated = true;
        cmd_reply(c, "STORED");
    } else {
        STATS_INCR(c->stats, auth_cmds);
        STATS_INCR(c->stats, auth_errors);
        cmd_reply(c, "CLIENT_ERROR authentication failure");
    }
    free(it);
}

void cmd_auth_release(struct cmd *c)
{
    free(c->item);
    c->item = NULL;
    c->auth_block = false;
}
