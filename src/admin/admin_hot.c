/*
 * admin_hot: GET /hotkeys, this node's hot keys (`stats hotkeys`) as JSON,
 * and the JSON form of a key that /keys shares.
 */
#include "admin/admin_internal.h"
#include "admin/admintext.h"
#include "store/item.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void admin_json_key(json_t *o, const char *key, size_t nkey)
{
    json_t *k = json_stringn(key, nkey); /* NULL when not UTF-8 */

    if (k != NULL) {
        json_object_set_new(o, "key", k);
    } else {
        char enc[3 * KEY_MAX_LENGTH + 1];
        size_t n = 0;
        for (size_t i = 0; i < nkey && i < KEY_MAX_LENGTH; i++)
            n += (size_t)snprintf(enc + n, sizeof(enc) - n, "%%%02X",
                                  (unsigned char)key[i]);
        json_object_set_new(o, "key_pct", json_string(enc));
    }
}

struct hot_walk {
    json_t *top, *keys;
};

/* "hotkey:<rank>" = "<key> rps=<n> role=<role>"; other lines are numbers. */
static void hot_line(void *arg, const char *name, size_t nname, const char *value,
                     size_t nvalue)
{
    struct hot_walk *w = arg;
    char field[64];

    if (nname > 7 && memcmp(name, "hotkey:", 7) == 0) {
        const char *rps = NULL, *role;
        json_t *o;
        for (size_t i = nvalue; i-- > 0;)
            if (i + 5 <= nvalue && memcmp(value + i, " rps=", 5) == 0) {
                rps = value + i;
                break;
            }
        role =
            rps != NULL ? memchr(rps + 5, ' ', nvalue - (size_t)(rps + 5 - value)) : NULL;
        if (rps == NULL || role == NULL || (size_t)(value + nvalue - role) < 6 ||
            (o = json_object()) == NULL)
            return;
        admin_json_key(o, value, (size_t)(rps - value));
        json_object_set_new(o, "rank", json_integer(strtoll(name + 7, NULL, 10)));
        json_object_set_new(o, "rps", json_integer(strtoll(rps + 5, NULL, 10)));
        json_object_set_new(o, "role",
                            json_stringn(role + 6, (size_t)(value + nvalue - role - 6)));
        json_array_append_new(w->keys, o);
    } else if (nname < sizeof(field)) {
        memcpy(field, name, nname);
        field[nname] = '\0';
        json_object_set_new(w->top, field, json_integer(strtoll(value, NULL, 10)));
    }
}

void admin_hotkeys(struct admin *a, struct evhttp_request *req)
{
    const struct buf *b = admin_run_local(a, "stats hotkeys");
    struct hot_walk w = {json_object(), json_array()};

    if (w.top == NULL || w.keys == NULL) {
        json_decref(w.top);
        json_decref(w.keys);
        admin_error(req, 500, "out of memory");
        return;
    }
    admintext_stats(b->data, b->len, hot_line, &w);
    json_object_set_new(w.top, "keys", w.keys);
    admin_json(req, 200, w.top);
}
