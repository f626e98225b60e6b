#!/usr/bin/python3
"""The bad-input campaign (issue 15, part 5): attacks on one node's client
port and on a cluster's port, each run while a probe client does set/get
on its own connection. Each attack passes when the daemon survives (and
exits cleanly at the end), its resident memory stays within a generous
bound, and the probe keeps being served: at least PROBE_RATE round trips a
second through the attack and none slower than PROBE_MAX_S.

The attacks: slowloris (2,000 connections sending a byte a second), 20,000
connection attempts against -c 1024, a set of 4,000,000,000 bytes, a 1 MB
line without a newline, binary garbage, a multi-get of 100,000 keys,
half-sent values then close, replies the client never reads, and forged or
replayed gossip messages on a keyed cluster's port (garbage on the cluster
port is test_gossip.py's test_gossip_malformed_input; a member answering
malformed frames is test_peer_robust.py's).

Each prints one FIGURE line (RSS before, at the peak of the attack and
after it, in kB, and the probe's round trips) for the record. RSS bounds
are not checked in a sanitizer build, whose shadow memory and quarantine
say nothing about the daemon's own bounds, and there the probe's rate and
slowest round trip are SANITIZED_SLOWDOWN times looser.
"""

import os
import random
import socket
import struct
import threading
import time

import mchelper
from mchelper import Daemon, check, check_eq
from test_robust import read_all, sanitized

PROBE_RATE = 10  # round trips per second the probe must at least complete
PROBE_MAX_S = 2.0  # the slowest probe round trip allowed
SANITIZED_SLOWDOWN = 5  # both are this much looser in a sanitizer build
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h


class Probe(threading.Thread):
    """One client doing set/get of its own keys on one connection (opened
    before the attack) until stopped; counts its round trips and the
    slowest one; records the first problem instead of raising."""

    def __init__(self, port, max_s=PROBE_MAX_S, rate=PROBE_RATE):
        super().__init__(daemon=True)
        self.max_s, self.rate = max_s, rate
        self.conn = mchelper.Conn(port, timeout=max_s + 3)
        self.stop_flag = threading.Event()
        self.ops = 0
        self.slowest = 0.0
        self.problem = None
        self.started = time.monotonic()

    def run(self):
        try:
            i = 0
            deadline = time.monotonic() + 90
            while not self.stop_flag.is_set() and time.monotonic() < deadline:
                key = b"probe:%d" % (i % 20)
                value = b"%d-" % i + b"p" * (i % 300)
                t0 = time.monotonic()
                check_eq(self.conn.set_value(key, value), b"STORED\r\n", "probe set")
                check_eq(self.conn.get_value(key), value, "probe get")
                self.slowest = max(self.slowest, time.monotonic() - t0)
                self.ops += 1
                i += 1
                time.sleep(0.005)
        except Exception as e:  # reported by finish()
            self.problem = e

    def finish(self):
        self.stop_flag.set()
        self.join(10)
        self.conn.close()
        check(not self.is_alive(), "the probe hung")
        check(self.problem is None, "the probe failed: %r" % (self.problem,))
        took = time.monotonic() - self.started
        want = max(1, int(took * self.rate))
        check(self.ops >= want, "the probe was served only %d times in %.1f s" % (self.ops, took))
        check(self.slowest <= self.max_s,
              "a probe round trip took %.2f s during the attack" % self.slowest)


class Attack:
    """Runs around one attack: a daemon, a probe, RSS before/peak/after and
    the FIGURE line. bound_kb: the most RSS may grow over the attack;
    probe_max_s: the probe's slowest round trip allowed."""

    def __init__(self, name, bound_kb, args=(), probe_max_s=PROBE_MAX_S):
        self.name, self.bound_kb, self.probe_max_s = name, bound_kb, probe_max_s
        self.daemon = Daemon(args=list(args))
        self.peak = 0

    def __enter__(self):
        d = self.daemon.start()
        self.check_rss = not sanitized(d.binary)
        with d.connect() as c:  # warm: the probe's keys exist, buffers made
            for i in range(20):
                c.set_value(b"probe:%d" % i, b"x")
        time.sleep(0.2)
        self.before = d.rss_kb()
        slow = 1 if self.check_rss else SANITIZED_SLOWDOWN
        self.probe = Probe(d.port, self.probe_max_s * slow, PROBE_RATE / slow)
        self.probe.start()
        return self

    def sample(self):
        """Notes the RSS now (call at the height of the attack)."""
        self.peak = max(self.peak, self.daemon.rss_kb())
        return self.peak

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                d = self.daemon
                self.sample()
                check(d.alive(), "the daemon died under %s; log:\n%s" % (self.name, d.log_tail()))
                self.probe.finish()
                time.sleep(0.3)
                after = d.rss_kb()
                print("FIGURE attack=%s rss_before_kb=%d rss_peak_kb=%d rss_after_kb=%d "
                      "probe_ops=%d probe_slowest_ms=%.0f%s"
                      % (self.name, self.before, self.peak, after, self.probe.ops,
                         self.probe.slowest * 1000,
                         "" if self.check_rss else " (RSS not checked: sanitizer build)"),
                      flush=True)
                if self.check_rss:
                    grew = max(self.peak, after) - self.before
                    check(grew <= self.bound_kb, "%s: RSS grew by %d kB, bound %d kB"
                          % (self.name, grew, self.bound_kb))
                with d.connect() as c:
                    check_eq(c.set_value(b"after", b"ok"), b"STORED\r\n", "set after the attack")
                    check_eq(c.get_value(b"after"), b"ok", "get after the attack")
        finally:
            if exc_type is not None:
                self.probe.stop_flag.set()
            self.daemon.__exit__(exc_type, exc, tb)
        return False


def client_socket(port, i=0, timeout=5.0):
    """A connection from loopback source address 127.0.0.(2 + i // 20000),
    its port chosen at connect() (so that thousands of them do not run out
    of one address's ephemeral ports or trip over TIME_WAIT)."""
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    s.bind(("127.0.0.%d" % (2 + i // 20000), 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_line(s, timeout=2.0):
    """One reply line, or what came before the server closed or went quiet."""
    data = b""
    s.settimeout(timeout)
    try:
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def send_tolerant(s, data):
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        return False


def stat(d, name):
    with d.connect() as c:
        return int(c.stats()[name])


# ---- 1. slowloris ----

SLOW_CONNS = 2000
SLOW_SECONDS = 10


def test_slowloris():
    # Each connection costs what its half-read line holds; 2,000 of them
    # must not starve the probe nor take more than ~20 kB each.
    with Attack("slowloris", SLOW_CONNS * 20, ["-c", "4096", "-t", "4"]) as a:
        socks = []
        try:
            for i in range(SLOW_CONNS):
                socks.append(client_socket(a.daemon.port, i))
            line = b"get " + b"slow" * 10  # never finished within the attack
            for sec in range(SLOW_SECONDS):
                t0 = time.monotonic()
                for s in socks:
                    s.send(line[sec:sec + 1])
                a.sample()
                time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
            check_eq(stat(a.daemon, "curr_connections") >= SLOW_CONNS, True,
                     "every slow connection still open")
        finally:
            for s in socks:
                s.close()


# ---- 2. connection flood against -c 1024 ----

FLOOD_ATTEMPTS = 20000
REJECT = b"ERROR Too many open connections\r\n"


def test_connection_flood_against_maxconns():
    # memcached's answer on a full house: "ERROR Too many open connections"
    # and a hang-up (its maxconns_fast, the default). The connections
    # already open, the probe's among them, go on being served.
    with Attack("connflood", 30 * 1024, ["-c", "1024", "-t", "4"]) as a:
        d = a.daemon
        admin = d.connect()
        held, accepted = [], 0
        try:
            # Fill every slot: a connection is in when it answers a command.
            for i in range(1100):
                s = client_socket(d.port, i)
                s.sendall(b"mn\r\n")
                reply = read_line(s)
                if reply == REJECT:
                    s.close()
                    break
                check_eq(reply, b"MN\r\n", "connection %d before the limit" % i)
                held.append(s)
            accepted = len(held)
            check(900 <= accepted <= 1024, "%d connections accepted under -c 1024" % accepted)
            rejected0 = int(admin.stats()["rejected_connections"])
            started, refused, answered = time.monotonic(), 0, 0
            for batch in range(0, FLOOD_ATTEMPTS, 250):
                socks = []
                for i in range(batch, batch + 250):
                    try:
                        socks.append(client_socket(d.port, 20000 + i))
                    except OSError:
                        refused += 1  # a full backlog may refuse: also fine
                for s in socks:
                    data, closed = read_all(s, quiet=2.0, limit=2.0)
                    check(closed and data in (REJECT, b""),
                          "an attempt over the limit got %r (closed: %s)" % (data[:80], closed))
                    answered += data == REJECT
                    s.close()
                a.sample()
            took = time.monotonic() - started
            rejected = int(admin.stats()["rejected_connections"]) - rejected0
            print("connflood: %d accepted under -c 1024, then %d attempts in %.1f s: %d "
                  "answered %r, %d refused by the kernel; rejected_connections +%d"
                  % (accepted, FLOOD_ATTEMPTS, took, answered, REJECT, refused, rejected))
            check(answered >= FLOOD_ATTEMPTS * 0.9, "only %d rejections answered" % answered)
            check(rejected >= answered, "rejected_connections +%d < %d" % (rejected, answered))
            for s in held[:50]:  # the old connections still work
                s.sendall(b"mn\r\n")
                check_eq(read_line(s), b"MN\r\n", "a held connection")
        finally:
            for s in held:
                s.close()
            admin.close()
        # slots free again: new connections are served
        deadline = time.monotonic() + 5
        while stat(d, "curr_connections") > 20:
            check(time.monotonic() < deadline, "connections not released")
            time.sleep(0.1)


# ---- 3. a 4,000,000,000-byte set ----

def test_set_of_four_billion_bytes():
    with Attack("set4e9", 10 * 1024) as a, a.daemon.connect() as c:
        # memcached: the length does not fit its 32 bits: a bad command line,
        # and the data line is read as a command
        c.send(b"set k 0 0 4000000000\r\n")
        check_eq(c.read_until(b"\r\n"), b"CLIENT_ERROR bad command line format\r\n",
                 "set of 4e9 bytes")
        check_eq(c.line(b"get k\r\n"), b"END\r\n", "the connection goes on")
        # 2e9 fits: too large for the cache; the announced bytes are
        # swallowed as they come, never buffered
        c.send(b"set k 0 0 2000000000\r\n")
        check_eq(c.read_until(b"\r\n"), b"SERVER_ERROR object too large for cache\r\n",
                 "set of 2e9 bytes")
        chunk = b"z" * (1 << 20)
        for _ in range(64):
            c.send(chunk)
        a.sample()
        check_eq(stat(a.daemon, "curr_items"), 20, "no item from the huge sets")


# ---- 4. a 1 MB line without a newline ----

def test_megabyte_line_without_newline():
    with Attack("line1mb", 16 * 1024) as a:
        d = a.daemon
        with d.connect(timeout=10) as c:
            send_tolerant(c.sock, b"x" * (1 << 20))
            data, closed = read_all(c.sock, quiet=5.0, limit=10.0)
            check(closed, "a 1 MB line that is not a get stayed open (got %r)" % data[:80])
        # A multi-get may be that long (memcached's rule): it is kept, and
        # answered once its newline comes.
        with d.connect(timeout=10) as c:
            for i in range(20):
                c.set_value(b"lk:%d" % i, b"v")
            keys = b" ".join(b"lk:%d" % (i % 20) for i in range(200000))
            check(len(keys) > 1 << 20, "the get line is over 1 MB")
            c.send(b"get " + keys)
            a.sample()
            time.sleep(0.2)
            c.send(b"\r\n")
            reply = c.read_until(b"END\r\n", timeout=20)
            check_eq(reply.count(b"VALUE "), 200000, "values of the 1 MB get")
        lines = stat(d, "lines_too_long") if not mchelper.daemon_is_reference() else 1
        check(lines >= 1, "lines_too_long counted")


# ---- 5. binary garbage ----

def test_binary_garbage():
    rng = random.Random(15)
    errors = (b"ERROR", b"CLIENT_ERROR ", b"SERVER_ERROR ")
    with Attack("binary", 16 * 1024) as a:
        socks = [client_socket(a.daemon.port, i) for i in range(50)]
        try:
            for n, s in enumerate(socks):
                # half of them lead with 0x80, memcached's binary-protocol magic
                lead = b"\x80" if n % 2 else b""
                send_tolerant(s, lead + rng.randbytes(64 * 1024))
            a.sample()
            for n, s in enumerate(socks):
                data, _ = read_all(s, quiet=0.1, limit=3.0)
                if mchelper.daemon_is_reference() and n % 2:
                    continue  # memcached answers in its binary protocol
                bad = [l for l in data.split(b"\r\n")[:-1] if not l.startswith(errors)]
                check(not bad, "garbage #%d got non-error replies %r" % (n, bad[:3]))
        finally:
            for s in socks:
                s.close()


# ---- 6. a multi-get of 100,000 keys ----

def test_multiget_of_100000_keys():
    with Attack("multiget100k", 32 * 1024) as a, a.daemon.connect(timeout=30) as c:
        for i in range(100):
            c.set_value(b"mk:%d" % i, b"v%d" % i)
        keys = [b"mk:%d" % (i % 200) for i in range(100000)]  # half hit
        t0 = time.monotonic()
        c.send(b"get " + b" ".join(keys) + b"\r\n")
        reply = c.read_until(b"END\r\n", timeout=30)
        took = time.monotonic() - t0
        a.sample()
        check_eq(reply.count(b"VALUE "), 50000, "hits of the 100,000-key get")
        check(reply.startswith(b"VALUE mk:0 0 2\r\nv0\r\nVALUE mk:1 0 2\r\nv1\r\n"),
              "values in the order asked: %r" % reply[:60])
        distinct = b" ".join(b"nokey:%d" % i for i in range(100000))
        c.send(b"gets " + distinct + b"\r\n")
        check_eq(c.read_until(b"END\r\n", timeout=30), b"END\r\n", "100,000 misses")
        print("multiget: 100,000 keys (%d bytes of line) answered in %.2f s"
              % (len(keys) * 7, took))


# ---- 7. half-sent values, then close ----

def test_half_sent_values_then_close():
    with Attack("halfsent", 32 * 1024, ["-c", "2048"]) as a:
        d = a.daemon
        items = stat(d, "curr_items")
        for batch in range(0, 1000, 250):
            socks = [client_socket(d.port, i) for i in range(batch, batch + 250)]
            for i, s in enumerate(socks):
                send_tolerant(s, b"set half:%d 0 0 100000\r\n" % (batch + i) + b"h" * 50000)
            a.sample()
            for s in socks:
                s.close()
        time.sleep(0.5)
        check_eq(stat(d, "curr_items"), items, "curr_items after 1,000 half-sent sets")
        with d.connect() as c:
            check_eq(c.get_value(b"half:7"), None, "a half-sent value")


# ---- 8. replies the client never reads ----

UNREAD_CONNS = 20


def test_replies_never_read():
    # Every connection asks for far more than it reads: a multi-get naming
    # a 1 MB value 16 times, then single gets without end. The server must
    # stop reading each of them (the client's sends stall) and keep what
    # it holds for all of them bounded: without the shared bound on
    # unread replies (srv->reply_backlog) the multi-gets alone held 16 MB
    # each, 320 MB in all. Replies are copies of the values (memcached
    # sends them from the items): building the 64 MB or so that the bound
    # lets through keeps the workers busy for 0.5-1 s here, and up to 5 s
    # when `make check` runs other tests beside it, and a probe on one of
    # those workers waits that long. A known limit, measured (FIGURE
    # line), not hidden: the probe is allowed 10 s here.
    big = b"B" * (1 << 20)
    with Attack("unread", 200 * 1024, ["-c", "1024", "-m", "64"], probe_max_s=10.0) as a:
        d = a.daemon
        with d.connect() as c:
            check_eq(c.set_value(b"big", big), b"STORED\r\n", "set a 1 MB value")
        socks = [client_socket(d.port, i) for i in range(UNREAD_CONNS)]
        sent = []
        try:
            for s in socks:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(b"get" + b" big" * 16 + b"\r\n")
            a.sample()
            pipelined = b"get big\r\n" * 10000
            for s in socks:
                s.settimeout(0.05)
                n, end = 0, time.monotonic() + 0.25
                while time.monotonic() < end:
                    try:
                        n += s.send(pipelined)
                    except socket.timeout:
                        pass
                sent.append(n)
            time.sleep(1.0)
            peak = a.sample()
            print("unread: %d connections; the most one could send before the server "
                  "stopped reading: %d bytes; RSS %d kB" % (UNREAD_CONNS, max(sent), peak))
            # a reader-less client can push at most the socket buffers'
            # worth of requests (a few MB on loopback) and what the server
            # parsed before its reply backlog filled
            check(max(sent) < 16 << 20, "the server kept reading: %d bytes" % max(sent))
        finally:
            for s in socks:
                s.close()


# ---- 9. forged and replayed gossip messages ----

def test_forged_and_replayed_gossip():
    import hashlib
    import hmac
    import shutil
    import tempfile
    from test_gossip import (LIVE_STATES, GossipCluster, SP_REP, SP_REQ, gmsg, gmsg_record,
                             raw_session, req_frame, sp_header)

    tmp = tempfile.mkdtemp(prefix="attack-gossip-")
    try:
        secret = os.urandom(32)
        path = os.path.join(tmp, "cluster.key")
        with open(path, "wb") as f:
            f.write(secret)
        key = hashlib.blake2b(secret, digest_size=32).digest()  # the daemon's derivation

        def seal(body):
            return body + hmac.new(key, body, hashlib.sha256).digest()

        with GossipCluster(3, keys=[path] * 3) as cl:
            views = cl.wait_formed()
            target, victim = 0, 2
            vid = cl.ids[victim].encode()
            host, gport = cl.hosts[target], cl.gports[target]
            inc = views[target].incarnations[cl.ids[victim]]
            rss0 = cl.nodes[target].rss_kb()
            bad0 = views[target].field_int("gossip_bad_mac")

            def record(nid, state, n):
                i = cl.ids.index(nid.decode())
                return gmsg_record(nid, n, state, cl.addrs[i].encode(), cl.gaddrs[i].encode())

            sender = record(b"g02", 1, views[target].incarnations["g02"])
            dead = gmsg(1, sender, [record(vid, 3, inc + 5)])  # "g03 is dead", far ahead
            forged = [dead,  # no MAC
                      dead + os.urandom(32),  # a made-up MAC
                      dead + hmac.new(os.urandom(32), dead, hashlib.sha256).digest(),
                      seal(dead)[:-1]]  # a MAC cut short
            for n, msg in enumerate(forged * 25):
                raw_session(host, gport, [req_frame(n + 1, msg)], hold=0.02)
            views = cl.wait_states(range(3), cl.all_alive(), time.monotonic() + 3.0,
                                   "everyone alive after forged messages")
            bad = views[target].field_int("gossip_bad_mac") - bad0
            check(bad >= len(forged) * 25, "gossip_bad_mac +%d for %d forgeries"
                  % (bad, len(forged) * 25))

            # A genuine message (sealed with the key, as one captured on the
            # wire would be): g02 suspects g03. g03 refutes it with a higher
            # incarnation; replayed afterwards, the same message is stale.
            captured = req_frame(1000, seal(gmsg(1, sender, [record(vid, 2, inc)])))
            raw_session(host, gport, [captured], hold=0.05)
            views = cl.poll(range(3), lambda vs: all(
                v.incarnations.get(cl.ids[victim], 0) > inc and
                v.state(cl.ids[victim]) == "alive" for v in vs.values()),
                time.monotonic() + 5.0, "g03 refuted the suspicion")
            refuted = views[target].incarnations[cl.ids[victim]]
            watch_end = time.monotonic() + 3.0

            def never_suspect(vs, t):
                for i, v in vs.items():
                    check(v.state(cl.ids[victim]) == "alive",
                          "%s sees %s %s after a replay" % (cl.ids[i], cl.ids[victim],
                                                           v.state(cl.ids[victim])))

            with socket.create_connection((host, gport), timeout=2.0) as s:
                s.sendall(sp_header(SP_REQ))
                check_eq(s.recv(8), sp_header(SP_REP), "SP header")
                for _ in range(200):
                    s.sendall(captured)
            cl.poll(range(3), lambda vs: time.monotonic() > watch_end, watch_end + 2,
                    "no suspicion from replays", each=never_suspect)
            views = cl.wait_states(range(3), cl.all_alive(), time.monotonic() + 2.0,
                                   "everyone alive after the replays")
            check_eq(views[target].incarnations[cl.ids[victim]], refuted,
                     "g03's incarnation after replays of a stale suspicion")
            rss1 = cl.nodes[target].rss_kb()
            print("FIGURE attack=gossip_forged_replayed rss_before_kb=%d rss_after_kb=%d "
                  "forged=%d bad_mac=+%d replays=200 victim_incarnation=%d->%d"
                  % (rss0, rss1, len(forged) * 25, bad, inc, refuted))
            for i in range(3):
                check(all(v in LIVE_STATES for v in views[i].states().values()),
                      "membership after the attack")
            with cl.conn(target) as c:
                check_eq(c.set_value(b"after", b"ok"), b"STORED\r\n", "set after the attack")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    mchelper.run_tests([
        test_slowloris,
        test_connection_flood_against_maxconns,
        test_set_of_four_billion_bytes,
        test_megabyte_line_without_newline,
        test_binary_garbage,
        test_multiget_of_100000_keys,
        test_half_sent_values_then_close,
        test_replies_never_read,
        test_forged_and_replayed_gossip,
    ])
