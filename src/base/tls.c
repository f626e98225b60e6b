/*
 * tls: OpenSSL sessions on non-blocking sockets, driven by the callers'
 * event loops; contexts swapped whole on refresh_certs.
 */
#include "base/tls.h"
#include "base/mctime.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tls {
    SSL *ssl;
    bool failed; /* a fatal error: no close_notify may follow */
    short want;  /* after the last WANT_*: EV_READ or EV_WRITE */
};

static const struct settings *cfg; /* set once by tls_init(), read-only after */
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER; /* a leaf lock */
static SSL_CTX *server_ctx, *client_ctx;                     /* under ctx_lock */
static uint64_t handshake_errors, new_sessions;              /* atomic */
static uint32_t loaded_at;                                   /* atomic */

static const char session_context[] = "meshcached";

bool tls_enabled(void)
{
    /* a refresh swaps the pointer under ctx_lock; only NULL or not matters */
    return __atomic_load_n(&server_ctx, __ATOMIC_ACQUIRE) != NULL;
}

uint64_t tls_handshake_errors(void)
{
    return __atomic_load_n(&handshake_errors, __ATOMIC_RELAXED);
}

uint64_t tls_new_sessions(void)
{
    return __atomic_load_n(&new_sessions, __ATOMIC_RELAXED);
}

uint32_t tls_cert_loaded_at(void)
{
    return __atomic_load_n(&loaded_at, __ATOMIC_RELAXED);
}

const char *tls_version_name(int min_version)
{
    static const char *const names[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};

    return min_version >= 0 && min_version <= 3 ? names[min_version] : "unknown";
}

/* Counts a session the server cache took; the cache keeps its reference. */
static int count_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    __atomic_fetch_add(&new_sessions, 1, __ATOMIC_RELAXED);
    return 0;
}

/* The top OpenSSL error, for messages; clears the queue. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, cap, "unknown error");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

/* Loads what both contexts share: this node's chain and key (for the client
 * context the certificate it shows when a peer's verify mode asks for one),
 * and the CA file. Returns 0, or -1 with the message in err. */
static int load_files(SSL_CTX *ctx, bool server, char *err, size_t cap)
{
    char why[256];
    static const int versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                   TLS1_3_VERSION};

    SSL_CTX_set_min_proto_version(ctx, versions[cfg->ssl_min_version]);
    SSL_CTX_set_mode(ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* an end without close_notify reads as an end (0), as on plain TCP */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (cfg->ssl_kernel_tls)
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->ssl_chain_cert) != 1) {
        snprintf(err, cap, "Error loading the certificate chain: %s : %s",
                 cfg->ssl_chain_cert, ssl_reason(why, sizeof(why)));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->ssl_key, cfg->ssl_keyformat) != 1) {
        snprintf(err, cap, "Error loading the key: %s : %s", cfg->ssl_key,
                 ssl_reason(why, sizeof(why)));
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, cap, "Error validating the certificate: %s",
                 ssl_reason(why, sizeof(why)));
        return -1;
    }
    if (cfg->ssl_ca_cert[0] != '\0') {
        if (SSL_CTX_load_verify_locations(ctx, cfg->ssl_ca_cert, NULL) != 1) {
            snprintf(err, cap, "Error loading the CA certificate: %s : %s",
                     cfg->ssl_ca_cert, ssl_reason(why, sizeof(why)));
            return -1;
        }
        if (server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ssl_ca_cert);
            if (names != NULL)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    if (cfg->ssl_ciphers[0] != '\0' &&
        SSL_CTX_set_cipher_list(ctx, cfg->ssl_ciphers) != 1) {
        snprintf(err, cap, "Error setting the provided cipher(s): %s", cfg->ssl_ciphers);
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* A context of method with this node's files, or NULL with err set. */
static SSL_CTX *new_ctx(const SSL_METHOD *method, bool server, char *err, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL) {
        snprintf(err, cap, "Error creating the TLS context: out of memory");
        return NULL;
    }
    if (load_files(ctx, server, err, cap) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The server context: clients are verified as -o ssl_verify_mode says, and
 * sessions resumed only with ssl_session_cache. */
static SSL_CTX *new_server_ctx(char *err, size_t cap)
{
    SSL_CTX *ctx = new_ctx(TLS_server_method(), true, err, cap);

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_verify(ctx, cfg->ssl_verify_mode, NULL);
    if (cfg->ssl_session_cache) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)session_context,
                                       sizeof(session_context) - 1);
        SSL_CTX_sess_set_new_cb(ctx, count_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    return ctx;
}

/* The context of connections to peers. Who a peer is, is proved by the
 * cluster key (peerauth), not by its certificate: with a CA file the
 * peer's certificate must chain to it (no host name check: members are
 * addressed by IP), without one it is not checked. */
static SSL_CTX *new_client_ctx(char *err, size_t cap)
{
    SSL_CTX *ctx = new_ctx(TLS_client_method(), false, err, cap);

    if (ctx != NULL)
        SSL_CTX_set_verify(
            ctx, cfg->ssl_ca_cert[0] != '\0' ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* Builds both contexts and swaps them in. */
static int load(char *err, size_t cap)
{
    SSL_CTX *s = new_server_ctx(err, cap), *c, *old_s, *old_c;

    if (s == NULL)
        return -1;
    c = new_client_ctx(err, cap);
    if (c == NULL) {
        SSL_CTX_free(s);
        return -1;
    }
    pthread_mutex_lock(&ctx_lock);
    old_s = server_ctx;
    old_c = client_ctx;
    __atomic_store_n(&server_ctx, s, __ATOMIC_RELEASE);
    client_ctx = c;
    pthread_mutex_unlock(&ctx_lock);
    /* connections still using them hold their own references */
    SSL_CTX_free(old_s);
    SSL_CTX_free(old_c);
    __atomic_store_n(&loaded_at, (uint32_t)mctime_now(), __ATOMIC_RELAXED);
    return 0;
}

int tls_init(const struct settings *s, char *err, size_t cap)
{
    cfg = s;
    return load(err, cap);
}

int tls_refresh(char *err, size_t cap)
{
    if (!tls_enabled()) {
        snprintf(err, cap, "Error TLS not enabled");
        return -1;
    }
    return load(err, cap);
}

void tls_fini(void)
{
    pthread_mutex_lock(&ctx_lock);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    server_ctx = client_ctx = NULL;
    pthread_mutex_unlock(&ctx_lock);
}

static struct tls *tls_new(int fd, bool server)
{
    struct tls *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    pthread_mutex_lock(&ctx_lock);
    t->ssl = SSL_new(server ? server_ctx : client_ctx);
    pthread_mutex_unlock(&ctx_lock);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    if (server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    return t;
}

struct tls *tls_server_new(int fd)
{
    return tls_new(fd, true);
}

struct tls *tls_client_new(int fd)
{
    return tls_new(fd, false);
}

void tls_free(struct tls *t, bool notify)
{
    if (t == NULL)
        return;
    if (notify && !t->failed && SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl); /* one try: the socket closes right after */
    ERR_clear_error();
    SSL_free(t->ssl);
    free(t);
}

/* Maps the result of SSL_read/SSL_write to read(2)'s. A failure before the
 * handshake finished, once the other side sent anything, is a handshake
 * error (a plain-text client, a refused certificate); a connection opened
 * and closed without a byte (a reachability probe) is not. */
static ssize_t io_result(struct tls *t, int r)
{
    int e = SSL_get_error(t->ssl, r);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want = EV_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        t->want = EV_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0; /* close_notify */
    default:
        break;
    }
    t->failed = true;
    if (!SSL_is_init_finished(t->ssl) && BIO_number_read(SSL_get_rbio(t->ssl)) > 0)
        __atomic_fetch_add(&handshake_errors, 1, __ATOMIC_RELAXED);
    ERR_clear_error();
    if (e != SSL_ERROR_SYSCALL || errno == 0)
        errno = EPROTO;
    return -1;
}

ssize_t tls_io_read(struct tls *t, int fd, void *buf, size_t n)
{
    int r;

    if (t == NULL)
        return recv(fd, buf, n, 0);
    if (n > INT32_MAX)
        n = INT32_MAX;
    ERR_clear_error();
    r = SSL_read(t->ssl, buf, (int)n);
    return r > 0 ? r : io_result(t, r);
}

ssize_t tls_io_write(struct tls *t, int fd, const void *buf, size_t n)
{
    int r;

    if (t == NULL)
        return send(fd, buf, n, MSG_NOSIGNAL);
    if (n > cfg->ssl_wbuf_size)
        n = cfg->ssl_wbuf_size;
    ERR_clear_error();
    r = SSL_write(t->ssl, buf, (int)n);
    return r > 0 ? r : io_result(t, r);
}

short tls_io_want(const struct tls *t, short dflt)
{
    return t != NULL && t->want != 0 ? t->want : dflt;
}
