/*
 * tls: TLS on a connection's socket (memcached's -Z), with OpenSSL, behind
 * read(2)/write(2)-shaped calls so that a connection speaks TLS or plain
 * TCP through the same few lines.
 *
 * The process has one server context (client connections: the chain, key,
 * CA and verify mode of -o ssl_*) and one client context (this node's
 * connections to its peers' client ports, which are TLS too under -Z). Both
 * are built by tls_init() before any thread starts, and rebuilt by
 * tls_refresh() (refresh_certs) from any thread: a new connection takes the
 * current context under a mutex, and a connection keeps the context it
 * started with (OpenSSL counts the references). A struct tls belongs to
 * the thread of its connection.
 *
 * The handshake runs inside the first reads and writes. A handshake that
 * fails after the other side sent something (a plain-text client, a bad or
 * missing certificate) is counted (tls_handshake_errors()).
 */
#ifndef MESHCACHED_TLS_H
#define MESHCACHED_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/settings.h"

struct tls;

/* Builds the contexts from s (s->ssl_enabled must be set). Returns 0, or -1
 * after writing one line saying why (a file that does not load, ciphers
 * OpenSSL refuses) into err. */
int tls_init(const struct settings *s, char *err, size_t cap);

/* Frees the contexts (after every connection is gone). */
void tls_fini(void);

/* Whether tls_init() succeeded: -Z is on. */
bool tls_enabled(void);

/* refresh_certs: loads the chain, key and CA files again into new contexts
 * for the connections that come next. Returns 0, or -1 with memcached's
 * message ("Error loading the certificate chain: <file> ...") in err; the
 * old contexts then stay. */
int tls_refresh(char *err, size_t cap);

/* Counters for stats: failed handshakes, sessions created (with
 * ssl_session_cache), and when the certificates were last loaded
 * (mctime_now() seconds). */
uint64_t tls_handshake_errors(void);
uint64_t tls_new_sessions(void);
uint32_t tls_cert_loaded_at(void);

/* A server (accepting) or client (connecting) TLS session on fd, which the
 * caller still owns and closes after tls_free(). NULL when out of memory. */
struct tls *tls_server_new(int fd);
struct tls *tls_client_new(int fd);

/* Frees t (NULL is a no-op). With notify and a finished, healthy session, a
 * close_notify alert is sent first (once, without waiting). */
void tls_free(struct tls *t, bool notify);

/*
 * read(2) and write(2) on fd, through t when t is not NULL (plain when it
 * is): > 0 bytes moved, 0 at the other side's orderly end (reads), -1 with
 * errno EAGAIN when the socket must become ready first (tls_io_want()
 * says for what), or -1 with another errno (EPROTO: a TLS failure) when
 * the connection is lost. Writes never raise SIGPIPE; a TLS write moves at
 * most ssl_wbuf_size bytes per call.
 */
ssize_t tls_io_read(struct tls *t, int fd, void *buf, size_t n);
ssize_t tls_io_write(struct tls *t, int fd, const void *buf, size_t n);

/* After EAGAIN: the libevent events to wait for (EV_READ or EV_WRITE). A
 * plain socket waits for what the call did (dflt); TLS may need the other
 * (a write during a handshake waits for the other side's answer). */
short tls_io_want(const struct tls *t, short dflt);

/* memcached's name of -o ssl_min_version's value: "tlsv1.2". */
const char *tls_version_name(int min_version);

#endif
