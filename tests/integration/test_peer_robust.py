#!/usr/bin/python3
"""Bad input from a peer: a node forwarding to a member that answers
garbage, too much, nothing, or hangs up mid-reply answers its clients
SERVER_ERROR within the peer timeout, drops that connection, keeps serving
every other key, and talks to the member again once it behaves.

The member here is a fake written in Python: it answers the hello and the
pings like a real node (so it is alive and owns part of the ring) and
answers forwarded commands the way the test tells it to.
"""

import socket
import threading
import time

import mchelper
from mchelper import Daemon, TestFailure, check, check_eq
from test_cluster import RingOracle, cluster_field, require_meshcached
from test_robust import sanitized

VNODES = 64
TIMEOUT_MS = 300
FAKE_ID = "fake-member"


class FakeMember:
    """A listening socket that speaks just enough of the protocol. mode says
    how it answers anything but the hello and mn: 'ok' (a valid miss),
    'garbage' (a line no reply starts with), 'longline' (no newline, ever
    more bytes), 'hugevalue' (a VALUE or VA header far above -I), 'extra' (a
    valid reply plus bytes nobody asked for), 'silent' (nothing), 'hangup'
    (half a reply, then close), 'binary' (random bytes with NULs and
    newlines), 'badlen' (a VALUE or VA header whose length is not a
    number), 'neglen' (a negative length), 'flood' (a valid reply, then a
    megabyte of replies nobody asked for)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.mode = "ok"
        self.stop = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _answer(self, line):
        if line.startswith(b"peer "):
            return b"PEER %s %d\r\n" % (FAKE_ID.encode(), VNODES)
        if line == b"mn":
            return b"MN\r\n"
        mode = self.mode
        if mode == "ok":
            return b"EN\r\n" if line.startswith(b"m") else b"END\r\n"
        if mode == "garbage":
            return b"\r\n"  # an empty line is no reply of any kind
        if mode == "longline":
            return b"x" * 70000
        if mode == "hugevalue":
            return b"VA 999999999\r\n" if line.startswith(b"m") else b"VALUE k 0 999999999\r\n"
        if mode == "extra":
            return (b"EN\r\n" if line.startswith(b"m") else b"END\r\n") + b"SURPRISE\r\n"
        if mode == "hangup":
            return None
        if mode == "binary":
            return b"\x00\x80\xff\r\n\x00" + bytes(range(256)) + b"\r\n"
        if mode == "badlen":
            return b"VA 1x2\r\nab\r\n" if line.startswith(b"m") else b"VALUE k 0 ten\r\n"
        if mode == "neglen":
            return b"VA -5\r\n" if line.startswith(b"m") else b"VALUE k 0 -5\r\n"
        if mode == "flood":
            return (b"EN\r\n" if line.startswith(b"m") else b"END\r\n") + b"END\r\n" * 200000
        return b""  # silent

    def _serve(self, c):
        buf = b""
        c.settimeout(0.2)
        try:
            while not self.stop:
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    return
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    reply = self._answer(line.rstrip(b"\r"))
                    if reply is None:
                        c.sendall(b"VA 10\r\nabc" if line.startswith(b"m")
                                  else b"VALUE k 0 10\r\nabc")
                        c.close()
                        return
                    if reply:
                        c.sendall(reply)
        except OSError:
            return

    def close(self):
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()


def first_line(conn, data, limit):
    """Sends data; returns the first reply line and the seconds it took."""
    start = time.monotonic()
    conn.send(data)
    line = conn.read_until(b"\r\n", limit)
    return line, time.monotonic() - start


def test_misbehaving_member_gets_errors_not_trust():
    require_meshcached()
    fake = FakeMember()
    port = mchelper.free_port()
    peers = "127.0.0.1:%d,127.0.0.1:%d" % (port, fake.port)
    node_id = "real-node"
    args = ["--node-id", node_id, "--peers", peers, "--vnodes", str(VNODES), "--replicas", "1",
            "-o", "peer_timeout_ms=%d" % TIMEOUT_MS, "-v"]
    try:
        with Daemon(args=args, port=port) as d:
            deadline = time.monotonic() + 5
            while True:
                with d.connect(2.0) as c:
                    if cluster_field(c, "ring_nodes") == 2:
                        break
                check(time.monotonic() < deadline, "the fake member never joined the ring")
                time.sleep(0.1)
            oracle = RingOracle([node_id, FAKE_ID], VNODES)
            theirs = oracle.keys_of(FAKE_ID, b"bad:", 40)
            mine = oracle.keys_of(node_id, b"good:", 5)
            with d.connect(2.0) as c:
                for k in mine:
                    check_eq(c.set_value(k, b"v"), b"STORED\r\n", "a local key")

            want = {"garbage": b"protocol error", "longline": b"protocol error",
                    "hugevalue": b"protocol error", "extra": None, "silent": b"timed out",
                    "hangup": b"unreachable", "binary": b"protocol error",
                    "badlen": b"protocol error", "neglen": b"protocol error", "flood": None}
            rss0 = d.rss_kb()
            n = 0
            for mode, reason in want.items():
                fake.mode = mode
                for probe in (b"get %s\r\n", b"mg %s v\r\n"):
                    key = theirs[n]
                    n += 1
                    time.sleep(0.15)  # past the reconnect backoff of the last failure
                    with d.connect(2.0) as c:
                        try:
                            line, took = first_line(c, probe % key, 2.0)
                        except TestFailure as e:
                            raise TestFailure("%s: %r got no reply within 2 s: %s"
                                              % (mode, probe, e))
                        if reason is None:
                            # a valid reply is relayed; the bytes after it
                            # cost the member its connection, and reach no one
                            check(line in (b"END\r\n", b"EN\r\n"), "%s: relayed %r" % (mode, line))
                        else:
                            check_eq(line, b"SERVER_ERROR peer %s %s\r\n"
                                     % (FAKE_ID.encode(), reason), "%s: %r" % (mode, probe))
                        check(took < TIMEOUT_MS / 1000.0 + 1.0,
                              "%s: the error took %.2f s" % (mode, took))
                        if mode == "silent":
                            check(took >= TIMEOUT_MS / 1000.0 * 0.9,
                                  "silent: timed out after %.2f s, before the timeout" % took)
                        # the node still serves its own keys on that connection
                        c.send(b"get " + mine[0] + b"\r\n")
                        check_eq(c.read_until(b"END\r\n", 2.0),
                                 b"VALUE %s 0 1\r\nv\r\nEND\r\n" % mine[0],
                                 "%s: a local key after the failure" % mode)
                    check(d.alive(), "the node died after the member's %s" % mode)

            # Behaving again: forwarding works again (after the backoff).
            fake.mode = "ok"
            deadline = time.monotonic() + 5
            while True:
                with d.connect(2.0) as c:
                    line, _ = first_line(c, b"get %s\r\n" % theirs[-1], 2.0)
                if line == b"END\r\n":
                    break
                check(time.monotonic() < deadline,
                      "forwarding never recovered once the member behaved: %r" % line)
                time.sleep(0.2)
            with d.connect(2.0) as c:
                errors = cluster_field(c, "forward_errors")
            check(errors >= 16, "forward_errors counted the failures: %d" % errors)
            rss1 = d.rss_kb()
            print("FIGURE attack=peer_malformed_frames modes=%d rss_before_kb=%d "
                  "rss_after_kb=%d forward_errors=%d" % (len(want), rss0, rss1, errors))
            if not sanitized(d.binary):
                check(rss1 - rss0 < 32 * 1024, "RSS grew %d kB" % (rss1 - rss0))
    finally:
        fake.close()


if __name__ == "__main__":
    mchelper.run_tests([test_misbehaving_member_gets_errors_not_trust])
