/* settings_tls: memcached's -o ssl_* keys, and the checks of -Z and -Y. */
#include "base/settings.h"
#include "base/util.h"

#include <openssl/ssl.h>
#include <string.h>

/* The file-name keys: where each is kept. */
static char *path_of(struct settings *s, const char *key, size_t *cap)
{
    *cap = sizeof(s->ssl_chain_cert);
    if (strcmp(key, "ssl_chain_cert") == 0)
        return s->ssl_chain_cert;
    if (strcmp(key, "ssl_key") == 0)
        return s->ssl_key;
    if (strcmp(key, "ssl_ca_cert") == 0)
        return s->ssl_ca_cert;
    if (strcmp(key, "ssl_ciphers") == 0) {
        *cap = sizeof(s->ssl_ciphers);
        return s->ssl_ciphers;
    }
    return NULL;
}

/* A one-digit value from 0 to hi; -1 when it is not one. */
static int digit(const char *val, int hi)
{
    if (val == NULL || val[0] < '0' || val[0] > '0' + hi || val[1] != '\0')
        return -1;
    return val[0] - '0';
}

int settings_tls_ext(struct settings *s, const char *key, const char *val, FILE *err)
{
    /* memcached's levels as OpenSSL's bits: none, request, require, once */
    static const int verify_bits[] = {
        SSL_VERIFY_NONE,
        SSL_VERIFY_PEER,
        SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
        SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE,
    };
    size_t cap;
    char *path = path_of(s, key, &cap);
    uint32_t kb;
    int v;

    if (path != NULL) {
        if (val == NULL || val[0] == '\0' || strlen(val) >= cap) {
            settings_error_line(err, "meshcached: -o %s needs a value", key);
            return -1;
        }
        memcpy(path, val, strlen(val) + 1);
    } else if (strcmp(key, "ssl_verify_mode") == 0) {
        if ((v = digit(val, 3)) < 0) {
            settings_error_line(err, "meshcached: -o ssl_verify_mode needs 0 (none), 1 "
                                     "(request), 2 (require) or 3 (once)");
            return -1;
        }
        s->ssl_verify_mode = verify_bits[v];
    } else if (strcmp(key, "ssl_keyformat") == 0) {
        if ((v = digit(val, 2)) < 1) {
            settings_error_line(err, "meshcached: -o ssl_keyformat needs 1 (PEM) or 2 "
                                     "(DER)");
            return -1;
        }
        s->ssl_keyformat = v == 1 ? SSL_FILETYPE_PEM : SSL_FILETYPE_ASN1;
    } else if (strcmp(key, "ssl_min_version") == 0) {
        if ((v = digit(val, 3)) < 0) {
            settings_error_line(err, "meshcached: -o ssl_min_version needs 0 (TLS 1.0), "
                                     "1 (1.1), 2 (1.2) or 3 (1.3)");
            return -1;
        }
        s->ssl_min_version = v;
    } else if (strcmp(key, "ssl_wbuf_size") == 0) {
        if (val == NULL || !util_parse_u32(val, strlen(val), &kb) || kb < 1 ||
            kb > 1024) {
            settings_error_line(err, "meshcached: -o ssl_wbuf_size needs a number of "
                                     "kilobytes from 1 to 1024");
            return -1;
        }
        s->ssl_wbuf_size = kb * 1024;
    } else if (strcmp(key, "ssl_session_cache") == 0 ||
               strcmp(key, "no_ssl_session_cache") == 0) {
        s->ssl_session_cache = key[0] != 'n';
    } else if (strcmp(key, "ssl_kernel_tls") == 0 ||
               strcmp(key, "no_ssl_kernel_tls") == 0) {
        s->ssl_kernel_tls = key[0] != 'n';
    } else {
        return 0;
    }
    return 1;
}

int settings_tls_check(struct settings *s, FILE *err)
{
    if (s->ssl_enabled && s->ssl_chain_cert[0] == '\0') {
        settings_error_line(err, "meshcached: -Z needs -o ssl_chain_cert=<file>");
        return -1;
    }
    if (s->ssl_key[0] == '\0') /* memcached: the key may be in the chain file */
        memcpy(s->ssl_key, s->ssl_chain_cert, sizeof(s->ssl_key));
    /* A peer's "peer" line makes its connection a peer's, served without
     * -Y's password: only the cluster key's proof may allow that. */
    if (s->auth_file[0] != '\0' && (s->npeers > 0 || s->gossip) &&
        s->cluster_key_file[0] == '\0') {
        settings_error_line(
            err, "meshcached: -Y in a cluster needs --cluster-key: peers prove "
                 "the key instead of a password");
        return -1;
    }
    return 0;
}

void settings_tls_usage(FILE *out)
{
    fputs("    ssl_chain_cert=<file>      -Z: certificate chain file in PEM format\n"
          "    ssl_key=<file>             -Z: private key, if not part of the\n"
          "                               ssl_chain_cert file\n"
          "    ssl_keyformat=<1|2>        private key format: 1 PEM, 2 DER (default: 1)\n"
          "    ssl_verify_mode=<0..3>     client certificates: 0 none, 1 request,\n"
          "                               2 require, 3 once (default: 0)\n"
          "    ssl_ca_cert=<file>         PEM file of the CAs client (and peer)\n"
          "                               certificates must chain to\n"
          "    ssl_ciphers=<list>         OpenSSL cipher list (TLS 1.2 and below)\n"
          "    ssl_wbuf_size=<kb>         most bytes per TLS write (default: 16)\n"
          "    ssl_session_cache          let clients resume TLS sessions\n"
          "    ssl_kernel_tls             kernel TLS offload where the kernel has it\n"
          "    ssl_min_version=<0..3>     oldest TLS accepted: 0 1.0, 1 1.1, 2 1.2,\n"
          "                               3 1.3 (default: 2)\n",
          out);
}
