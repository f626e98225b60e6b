/* admintext: STAT lines, percent-decoding and metadump lines, parsed. */
#include "admin/admintext.h"
#include "base/util.h"

#include <string.h>

size_t admintext_stats(const char *text, size_t len, admintext_stat_fn fn, void *arg)
{
    size_t pos = 0, seen = 0;

    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
        const char *name, *sp;

        pos += n + (nl != NULL);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 3 && memcmp(line, "END", 3) == 0)
            break;
        if (n < 6 || memcmp(line, "STAT ", 5) != 0)
            continue;
        name = line + 5;
        sp = memchr(name, ' ', n - 5);
        if (sp == NULL || sp == name)
            continue;
        fn(arg, name, (size_t)(sp - name), sp + 1, (size_t)(line + n - sp - 1));
        seen++;
    }
    return seen;
}

struct find {
    const char *name;
    const char *value;
    size_t nvalue;
    bool found;
};

static void find_one(void *arg, const char *name, size_t nname, const char *value,
                     size_t nvalue)
{
    struct find *f = arg;

    if (!f->found && strlen(f->name) == nname && memcmp(f->name, name, nname) == 0) {
        f->found = true;
        f->value = value;
        f->nvalue = nvalue;
    }
}

bool admintext_stat_u64(const char *text, size_t len, const char *name, uint64_t *out)
{
    struct find f = {.name = name};

    admintext_stats(text, len, find_one, &f);
    return f.found && util_parse_u64(f.value, f.nvalue, out);
}

bool admintext_starts(const char *p, size_t n, const char *word)
{
    size_t nw = strlen(word);

    return n >= nw && memcmp(p, word, nw) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long admintext_pct_decode(const char *src, size_t n, char *dst)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (src[i] != '%') {
            dst[o++] = src[i];
            continue;
        }
        if (i + 2 >= n)
            return -1;
        hi = hexval(src[i + 1]);
        lo = hexval(src[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        dst[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (long)o;
}

/* The value of field "name=" in line[0..len): a token up to the next
 * space. */
static bool field(const char *line, size_t len, const char *name, const char **v,
                  size_t *nv)
{
    size_t nn = strlen(name), pos = 0;

    while (pos < len) {
        const char *tok = line + pos, *sp = memchr(tok, ' ', len - pos);
        size_t nt = sp != NULL ? (size_t)(sp - tok) : len - pos;
        if (nt > nn && memcmp(tok, name, nn) == 0 && tok[nn] == '=') {
            *v = tok + nn + 1;
            *nv = nt - nn - 1;
            return true;
        }
        pos += nt + 1;
    }
    return false;
}

bool admintext_metadump(const char *line, size_t len, struct admintext_meta *out)
{
    char enc[3 * 250];
    const char *v;
    size_t nv;
    long nkey;

    if (!field(line, len, "key", &v, &nv) || nv == 0 || nv > sizeof(enc))
        return false;
    memcpy(enc, v, nv);
    nkey = admintext_pct_decode(enc, nv, enc);
    if (nkey <= 0 || nkey > 250)
        return false;
    memcpy(out->key, enc, (size_t)nkey);
    out->nkey = (size_t)nkey;
    return field(line, len, "exp", &v, &nv) && util_parse_i64(v, nv, &out->exp) &&
           field(line, len, "cas", &v, &nv) && util_parse_u64(v, nv, &out->cas) &&
           field(line, len, "size", &v, &nv) && util_parse_u64(v, nv, &out->size);
}
