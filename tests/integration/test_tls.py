#!/usr/bin/python3
"""TLS on the client port (-Z, -o ssl_*), as memcached 1.6 has it.

A throwaway CA, server and client certificates are made with the openssl
CLI in a temp dir. The tests talk TLS with Python's ssl module and with
`openssl s_client`:

- a -Z daemon serves TLS clients; stats settings shows memcached's ssl_*
  names in memcached's order (checked against Debian's memcached -Z when it
  is there), stats shows ssl_handshake_errors and
  time_since_server_cert_refresh;
- a plain-text client is dropped without a reply and counted as a
  handshake error; a connection closed without a byte is not counted; TLS
  clients are served throughout;
- ssl_verify_mode 0..3 with ssl_ca_cert: a client certificate is required
  (2, 3), checked when shown (1), or ignored (0);
- refresh_certs loads new files for new connections, keeps the old ones
  on a bad file (and says why), and says "Error TLS not enabled" without -Z;
- ssl_session_cache lets a client resume; ssl_min_version refuses older TLS;
- bad TLS flags and files stop the daemon with status 64;
- three keyed gossip nodes with -Z and required client certificates form,
  forward and replicate over TLS connections to each other's client ports.
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import mchelper
from mchelper import Conn, Daemon, TestFailure, check, check_eq
from test_gossip import GossipCluster

SSL_SETTINGS = ["ssl_enabled", "ssl_chain_cert", "ssl_key", "ssl_verify_mode",
                "ssl_keyformat", "ssl_ciphers", "ssl_ca_cert", "ssl_wbuf_size",
                "ssl_session_cache", "ssl_kernel_tls", "ssl_min_version"]


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


class Pki:
    """ca: the trusted CA; srv, srv2: server certificates (127.0.0.1) it
    signed; cli: a client certificate it signed; rogue: a client
    certificate of another CA."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="meshcached-tls-")
        os.chmod(self.dir, 0o755)
        self.ca = self._ca("ca")
        self._ca("rogueca")
        for name, ca in (("srv", "ca"), ("srv2", "ca"), ("cli", "ca"), ("rogue", "rogueca")):
            self._leaf(name, ca)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", self.path(name + ".key"), "-out", self.path(name + ".pem"),
                "-subj", "/CN=" + name)
        return self.path(name + ".pem")

    def _leaf(self, name, ca):
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.path(name + ".key"),
                "-out", self.path(name + ".csr"), "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", self.path(name + ".csr"), "-CA", self.path(ca + ".pem"),
                "-CAkey", self.path(ca + ".key"), "-CAcreateserial", "-days", "2",
                "-extfile", ext, "-out", self.path(name + ".pem"))
        for suffix in (".pem", ".key"):
            os.chmod(self.path(name + suffix), 0o644)

    def server_args(self, name="srv", extra=""):
        opts = "ssl_chain_cert=%s,ssl_key=%s" % (self.path(name + ".pem"),
                                                 self.path(name + ".key"))
        return ["-Z", "-o", opts + ("," + extra if extra else "")]

    def client_ctx(self, cert=None, verify=True, max_version=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        if verify:
            ctx.load_verify_locations(self.ca)
        else:
            ctx.verify_mode = ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(self.path(cert + ".pem"), self.path(cert + ".key"))
        if max_version:
            ctx.maximum_version = max_version
        return ctx

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TlsConn(Conn):
    """mchelper.Conn over TLS (the handshake done at once)."""

    def __init__(self, port, ctx, timeout=mchelper.IO_TIMEOUT, host="127.0.0.1",
                 session=None):
        self.timeout = timeout
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, session=session)
        self.buf = b""


def settings_names(c):
    c.send(b"stats settings\r\n")
    raw = c.read_until(b"END\r\n")
    return [ln.split(b" ")[1].decode() for ln in raw.split(b"\r\n") if ln.startswith(b"STAT ")]


def fails_tls(port, ctx):
    """True when the handshake or the first exchange fails (TLS 1.3 reports
    a refused client certificate only at the first read)."""
    try:
        with TlsConn(port, ctx, timeout=3) as c:
            return c.line(b"version\r\n")[:8] != b"VERSION "
    except (ssl.SSLError, OSError, TestFailure):
        return True


def test_serves_tls_and_reports_settings():
    with Pki() as pki, Daemon(args=pki.server_args(extra="ssl_ca_cert=" + pki.ca)) as d:
        with TlsConn(d.port, pki.client_ctx()) as c:
            check_eq(c.set_value(b"k", b"over tls"), b"STORED\r\n", "set over TLS")
            check_eq(c.get_value(b"k"), b"over tls", "get over TLS")
            names = settings_names(c)
            ssl_names = [n for n in names if n.startswith("ssl_")]
            check_eq(ssl_names, SSL_SETTINGS, "stats settings ssl_* names")
            st = c.stats(b"settings")
            check_eq(st["ssl_enabled"], "yes", "ssl_enabled")
            check_eq(st["ssl_chain_cert"], pki.path("srv.pem"), "ssl_chain_cert")
            check_eq(st["ssl_ca_cert"], pki.ca, "ssl_ca_cert")
            check_eq(st["ssl_verify_mode"], "0", "ssl_verify_mode")
            check_eq(st["ssl_min_version"], "tlsv1.2", "ssl_min_version")
            gen = c.stats()
            for name in ("ssl_handshake_errors", "time_since_server_cert_refresh"):
                check(gen.get(name, "").isdigit(), "stats %s: %r" % (name, gen.get(name)))
        # openssl s_client speaks to it too
        out = subprocess.run(
            ["openssl", "s_client", "-quiet", "-CAfile", pki.ca, "-connect",
             "127.0.0.1:%d" % d.port], input=b"get k\r\nquit\r\n", capture_output=True,
            timeout=10).stdout
        check_eq(out, b"VALUE k 0 8\r\nover tls\r\nEND\r\n", "s_client get")
        if shutil.which("memcached"):
            compare_with_memcached(pki, names)


def compare_with_memcached(pki, ours):
    """Debian's memcached 1.6.18 is built with TLS: its ssl_* settings
    names come in the same order as ours."""
    with Daemon(binary=shutil.which("memcached"), args=pki.server_args()) as m:
        with TlsConn(m.port, pki.client_ctx()) as c:
            theirs = settings_names(c)
            gen = c.stats()
    check_eq([n for n in ours if n.startswith("ssl_")],
             [n for n in theirs if n.startswith("ssl_")], "ssl_* names vs memcached")
    check("ssl_handshake_errors" in gen and "time_since_server_cert_refresh" in gen,
          "memcached's stats fields are not what we copied: %r" % sorted(gen))


def test_plain_client_dropped_and_counted():
    with Pki() as pki, Daemon(args=pki.server_args()) as d:
        ctx = pki.client_ctx()
        with TlsConn(d.port, ctx) as c:
            before = int(c.stats()["ssl_handshake_errors"])
        # a probe that connects and leaves without a byte is not an error
        socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
        with Conn(d.port, timeout=3) as plain:
            plain.send(b"version\r\nset a 0 0 1\r\nx\r\n")
            got = plain.read_until_eof(3)
        check(b"VERSION" not in got and b"ERROR" not in got,
              "a plain client got a memcached reply: %r" % got)
        deadline = time.monotonic() + 3
        while True:
            with TlsConn(d.port, ctx) as c:
                st = c.stats()
                check_eq(c.line(b"version\r\n")[:8], b"VERSION ", "TLS served after")
            if int(st["ssl_handshake_errors"]) == before + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check_eq(int(st["ssl_handshake_errors"]), before + 1, "handshake errors counted")
        check(d.alive(), "daemon died")


def test_verify_modes():
    with Pki() as pki:
        # mode: (no certificate refused, rogue certificate refused)
        for mode, want in ((0, (False, False)), (1, (False, True)), (2, (True, True)),
                           (3, (True, True))):
            extra = "ssl_ca_cert=%s,ssl_verify_mode=%d" % (pki.ca, mode)
            with Daemon(args=pki.server_args(extra=extra)) as d:
                check(not fails_tls(d.port, pki.client_ctx(cert="cli")),
                      "mode %d refused a good client certificate" % mode)
                got = (fails_tls(d.port, pki.client_ctx()),
                       fails_tls(d.port, pki.client_ctx(cert="rogue")))
                check_eq(got, want, "mode %d: (no cert refused, rogue cert refused)" % mode)
                with TlsConn(d.port, pki.client_ctx(cert="cli")) as c:
                    st = c.stats(b"settings")
                    check_eq(st["ssl_verify_mode"], str([0, 1, 3, 7][mode]),
                             "ssl_verify_mode shown as OpenSSL's bits")
                    errors = int(c.stats()["ssl_handshake_errors"])
                check(errors >= (2 if mode >= 2 else 1 if mode == 1 else 0),
                      "mode %d counted %d handshake errors" % (mode, errors))


def peer_cert(port, ctx):
    with TlsConn(port, ctx) as c:
        return c.sock.getpeercert(binary_form=True)


def test_refresh_certs():
    with Pki() as pki:
        chain, key = pki.path("live.pem"), pki.path("live.key")
        shutil.copy(pki.path("srv.pem"), chain)
        shutil.copy(pki.path("srv.key"), key)
        opts = "ssl_chain_cert=%s,ssl_key=%s" % (chain, key)
        with Daemon(args=["-Z", "-o", opts]) as d:
            ctx = pki.client_ctx()
            first = peer_cert(d.port, ctx)
            old = TlsConn(d.port, ctx)
            time.sleep(1.1)
            shutil.copy(pki.path("srv2.pem"), chain)
            shutil.copy(pki.path("srv2.key"), key)
            with TlsConn(d.port, ctx) as c:
                check(int(c.stats()["time_since_server_cert_refresh"]) >= 1,
                      "time since refresh did not grow")
                check_eq(c.line(b"refresh_certs\r\n"), b"OK\r\n", "refresh_certs")
                check_eq(c.stats()["time_since_server_cert_refresh"], "0",
                         "time since refresh after refresh_certs")
            second = peer_cert(d.port, ctx)
            check(second != first, "new connections still get the old certificate")
            check_eq(old.line(b"version\r\n")[:8], b"VERSION ", "old connection after refresh")
            old.close()
            with open(chain, "w") as f:
                f.write("not a certificate\n")
            with TlsConn(d.port, ctx) as c:
                reply = c.line(b"refresh_certs\r\n")
            check(reply.startswith(b"Error loading the certificate chain: " + chain.encode()),
                  "refresh_certs on a bad file: %r" % reply)
            check_eq(peer_cert(d.port, ctx), second, "a failed refresh keeps the last good")
    with Daemon() as d, d.connect() as c:
        check_eq(c.line(b"refresh_certs\r\n"), b"Error TLS not enabled\r\n", "without -Z")
        check_eq(c.stats(b"settings")["ssl_enabled"], "no", "ssl_enabled without -Z")


def resumed(port, ctx):
    with TlsConn(port, ctx) as c:
        c.line(b"version\r\n")  # TLS 1.3 tickets arrive after the handshake
        sess = c.sock.session
    with TlsConn(port, ctx, session=sess) as c:
        c.line(b"version\r\n")
        return c.sock.session_reused


def test_session_cache_and_min_version():
    with Pki() as pki:
        ctx = pki.client_ctx()
        with Daemon(args=pki.server_args(extra="ssl_session_cache")) as d:
            check(resumed(d.port, ctx), "ssl_session_cache: session not resumed")
            with TlsConn(d.port, ctx) as c:
                check(int(c.stats()["ssl_new_sessions"]) >= 1, "ssl_new_sessions")
                check_eq(c.stats(b"settings")["ssl_session_cache"], "yes", "setting")
        with Daemon(args=pki.server_args()) as d:
            check(not resumed(d.port, ctx), "resumed without ssl_session_cache")
        with Daemon(args=pki.server_args(extra="ssl_min_version=3")) as d:
            check(fails_tls(d.port, pki.client_ctx(max_version=ssl.TLSVersion.TLSv1_2)),
                  "TLS 1.2 accepted with ssl_min_version=3")
            with TlsConn(d.port, ctx) as c:
                check_eq(c.sock.version(), "TLSv1.3", "negotiated version")
                check_eq(c.stats(b"settings")["ssl_min_version"], "tlsv1.3", "setting")


def start_status(args):
    p = subprocess.run([mchelper.daemon_binary(), "-p", str(mchelper.free_port())] + args,
                       capture_output=True, timeout=10)
    return p.returncode, p.stderr.decode()


def test_bad_tls_setup_exits_64():
    with Pki() as pki:
        cases = [
            (["-Z"], "ssl_chain_cert"),
            (["-Z", "-o", "ssl_chain_cert=" + pki.path("none.pem")],
             "Error loading the certificate chain"),
            (pki.server_args(name="srv") + ["-o", "ssl_key=" + pki.path("cli.key")],
             "Error loading the key"),
            (pki.server_args(extra="ssl_verify_mode=4"), "ssl_verify_mode"),
            (pki.server_args(extra="ssl_min_version=9"), "ssl_min_version"),
            (pki.server_args(extra="ssl_ciphers=NOSUCHCIPHER"), "cipher"),
        ]
        for args, why in cases:
            status, err = start_status(args)
            check_eq(status, 64, "exit status of %r (stderr %r)" % (args, err))
            check(why in err, "%r: stderr %r does not say %r" % (args, err, why))


class TlsGossip(GossipCluster):
    def __init__(self, pki, **kw):
        super().__init__(**kw)
        self.ctx = pki.client_ctx(cert="cli")

    def conn(self, i, timeout=mchelper.IO_TIMEOUT):
        return TlsConn(self.ports[i], self.ctx, timeout=timeout, host=self.hosts[i])


def test_cluster_over_tls():
    with Pki() as pki:
        keyfile = pki.path("cluster.key")
        with open(keyfile, "wb") as f:
            f.write(os.urandom(40))
        tls = pki.server_args(extra="ssl_ca_cert=%s,ssl_verify_mode=2" % pki.ca)
        with TlsGossip(pki, n=3, keys=[keyfile] * 3,
                       extra=tls + ["--replicas", "2"]) as cl:
            cl.wait_formed("formation over TLS")
            keys = [b"tls:%d" % n for n in range(200)]
            for n, key in enumerate(keys):
                with cl.conn(n % 3) as c:
                    check_eq(c.set_value(key, key), b"STORED\r\n", "set %r" % key)
            for i in range(3):
                with cl.conn(i) as c:
                    for key in keys:
                        check_eq(c.get_value(key), key, "get %r through node %d" % (key, i))
            applied = forwarded = items = 0
            for i in range(3):
                with cl.conn(i) as c:
                    st = c.stats(b"cluster")
                    applied += int(st["repl_applied"])
                    forwarded += int(st["forwarded"])
                    gen = c.stats()
                    items += int(gen["curr_items"])
                    check_eq(gen["ssl_handshake_errors"], "0", "handshake errors")
            # --write-quorum 2: both copies exist once a set is answered
            check_eq(items, 2 * len(keys), "copies held by the three nodes")
            check(applied >= len(keys), "only %d replica copies applied" % applied)
            check(forwarded > 0, "nothing was forwarded")

if __name__ == "__main__":
    mchelper.run_tests([
        test_serves_tls_and_reports_settings,
        test_plain_client_dropped_and_counted,
        test_verify_modes,
        test_refresh_certs,
        test_session_cache_and_min_version,
        test_bad_tls_setup_exits_64,
        test_cluster_over_tls,
    ])
