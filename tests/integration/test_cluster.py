#!/usr/bin/python3
"""Cluster routing: three $MESHCACHED nodes on 127.0.0.2-4 (127.0.0.1 with
distinct ports where those cannot be bound) started with --node-id,
--peers and --vnodes.

Every node accepts every command and forwards a key's command to the key's
owner; the owner of every key is computed here independently, with a pure
Python murmur3_x86_32 and the placement rule of src/cluster/ring.h, and checked
against where the keys really are (each node's curr_items). Covered:
formation and `stats cluster`; 10,000 keys stored only on their owners;
multi-key gets in the client's key order; replies through a non-owner byte
for byte equal to the owner's; a node killed with -9 (errors, never misses,
until it is declared dead, then its keys move clockwise), restarted, or
stopped with SIGSTOP (timeouts); real clients through one node; a single
node's `stats cluster`.

Every wait is bounded; nothing signals a process this test did not start.
"""

import base64
import bisect
import os
import random
import re
import shlex
import subprocess
import threading
import time

import mchelper
from mchelper import Daemon, TestFailure, TestSkip, check, check_eq

RING_SEED = 0x9747B28C
DEFAULT_VNODES = 16384
TEST_VNODES = 256  # on every node of a test cluster: cheap for the oracle
DEFAULT_PEER_TIMEOUT_MS = 500
FORM_TIMEOUT = 5.0  # start -> every member alive in every view
DEATH_TIMEOUT = 5.0  # kill -9 -> dead in every survivor's view
REVIVE_TIMEOUT = 5.0  # restart -> alive again everywhere
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
NODE_NAMES = ("node-a", "node-b", "node-c")
MEMCCAPABLE = "/usr/bin/memccapable"
PIPELINE_BATCH = 500  # commands sent in one write before reading replies


# ---- the ownership oracle ----

def _rotl32(x, r):
    return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF


def murmur3_x86_32(data, seed=0):
    """MurmurHash3_x86_32 of bytes data (Austin Appleby's reference)."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & 0xFFFFFFFF
    n = len(data)
    nblocks = n // 4
    for i in range(0, nblocks * 4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = _rotl32((k * c1) & 0xFFFFFFFF, 15)
        h ^= (k * c2) & 0xFFFFFFFF
        h = (_rotl32(h, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
    tail = nblocks * 4
    k = 0
    rest = n & 3
    if rest == 3:
        k ^= data[tail + 2] << 16
    if rest >= 2:
        k ^= data[tail + 1] << 8
    if rest >= 1:
        k ^= data[tail]
        k = _rotl32((k * c1) & 0xFFFFFFFF, 15)
        h ^= (k * c2) & 0xFFFFFFFF
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


# Published test vectors of MurmurHash3_x86_32.
MURMUR3_VECTORS = [
    (b"hello", 0, 613153351),
    (b"", 0, 0),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"\0\0\0\0", 0, 0x2362F9DE),
    (b"a", 0x9747B28C, 0x7FA09EA6),
    (b"ab", 0x9747B28C, 0x74875592),
    (b"abc", 0x9747B28C, 0xC84A62DD),
    (b"abcd", 0x9747B28C, 0xF0478627),
    (b"aaaa", 0x9747B28C, 0x5A97808A),
    (b"Hello, world!", 0x9747B28C, 0x24884CBA),
    (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
]


class RingOracle:
    """src/cluster/ring.h's placement, recomputed: point i of node ID at
    murmur3("ID#i"), a key at murmur3(key), the owner is the first point at
    or after the key clockwise (wrapping), colliding points ordered by id
    (strcmp order, which is the order of Python bytes)."""

    def __init__(self, ids, vnodes):
        points = []
        for nid in ids:
            raw = nid.encode()
            for i in range(vnodes):
                points.append((murmur3_x86_32(b"%s#%d" % (raw, i), RING_SEED), raw))
        points.sort()
        self.ids = list(ids)
        self.tokens = [t for t, _ in points]
        self.point_owner = [o.decode() for _, o in points]

    def owner(self, key):
        return self.owner_of_hash(murmur3_x86_32(key, RING_SEED))

    def owner_of_hash(self, hv):
        i = bisect.bisect_left(self.tokens, hv)
        return self.point_owner[i if i < len(self.tokens) else 0]

    def shares(self):
        """Fraction of the circle each node owns: point i owns the positions
        (token[i-1], token[i]], the first one also those past the last."""
        arcs = dict.fromkeys(self.ids, 0)
        prev = self.tokens[-1] - (1 << 32)
        for token, nid in zip(self.tokens, self.point_owner):
            arcs[nid] += token - prev
            prev = token
        return {nid: arc / float(1 << 32) for nid, arc in arcs.items()}

    def keys_of(self, nid, prefix, count, start=0, length=None):
        """count keys prefix<n> owned by nid (n counting from start; zero
        padded to length digits when given)."""
        out, n = [], start
        fmt = b"%s%0" + (b"%d" % length if length else b"") + b"d"
        while len(out) < count:
            key = fmt % (prefix, n)
            if self.owner(key) == nid:
                out.append(key)
            n += 1
            check(n < start + count * 1000, "no keys owned by %s" % nid)
        return out


def test_murmur3_oracle():
    for data, seed, want in MURMUR3_VECTORS:
        check_eq(murmur3_x86_32(data, seed), want, "murmur3_x86_32(%r, %#x)" % (data, seed))
    # Colliding points (ordered by id) and the wrap, on a two-node ring
    # whose points are forced onto tokens 10 (both nodes) and 20 (b).
    o = RingOracle([], 0)
    o.ids, o.tokens, o.point_owner = ["b", "a"], [10, 10, 20], ["a", "b", "b"]
    for hv, want in ((0, "a"), (10, "a"), (11, "b"), (20, "b"), (21, "a"), (2 ** 32 - 1, "a")):
        check_eq(o.owner_of_hash(hv), want, "owner of position %d" % hv)
    check_eq(o.shares(), {"a": 1 - 10 / 2.0 ** 32, "b": 10 / 2.0 ** 32}, "shares")
    # Real points: the collision order must not depend on the order of ids.
    check_eq(RingOracle(["x", "y", "z"], 8).point_owner, RingOracle(["z", "x", "y"], 8).point_owner,
             "points of the same ids given in another order")


# ---- stats cluster ----

CLUSTER_FIELDS = ["ring_epoch", "ring_vnodes", "ring_nodes", "ring_down", "ring_share",
                  "peer_timeout_ms", "replicas", "write_quorum", "read_quorum",
                  "forwarded", "forward_errors", "write_failovers", "read_failovers", "late_writes",
                  "repl_applied", "repl_writes",
                  "repl_write_failures", "quorum_failures", "read_repairs", "hints_stored",
                  "hints_delivered", "hints_dropped", "dual_reads", "dual_read_hits",
                  "collapsed", "near_hits", "near_fills", "near_invalidations"]


class ClusterView:
    """One node's `stats cluster`: self_id, members {id: (state, addr)},
    fields {name: value}, and the lines as sent."""

    def __init__(self, lines):
        self.lines = lines
        self.self_id = None
        self.members = {}
        self.fields = {}
        for line in lines:
            parts = line.split(" ", 2)
            check(len(parts) == 3 and parts[0] == "STAT", "bad stats cluster line %r" % line)
            name, value = parts[1], parts[2]
            if name == "self":
                self.self_id = value
            elif name.startswith("member:"):
                state, _, addr = value.partition(" ")
                self.members[name[len("member:"):]] = (state, addr)
            else:
                self.fields[name] = value

    def __str__(self):
        return "\n    ".join(self.lines) or "(nothing)"

    def ids_in(self, state):
        return {nid for nid, (st, _) in self.members.items() if st == state}

    def field_int(self, name):
        value = self.fields.get(name)
        check(value is not None and value.isdigit(),
              "stats cluster field %s is %r; view:\n    %s" % (name, value, self))
        return int(value)

    def check_format(self):
        """The order and shape the interface gives: self, the members, then
        CLUSTER_FIELDS in that order."""
        names = [line.split(" ", 2)[1] for line in self.lines]
        nmembers = len(self.members)
        check(names[:1] == ["self"], "stats cluster does not start with self: %s" % self)
        check(all(n.startswith("member:") for n in names[1:1 + nmembers]),
              "member lines are not right after self: %s" % self)
        check_eq(names[1 + nmembers:], CLUSTER_FIELDS, "stats cluster field order")
        for nid, (state, addr) in self.members.items():
            check(state in ("alive", "dead"), "member %s state %r" % (nid, state))
            host, _, port = addr.rpartition(":")
            check(host and port.isdigit(), "member %s address %r" % (nid, addr))
        for name in CLUSTER_FIELDS:
            if name != "ring_share":
                self.field_int(name)
        share = self.fields["ring_share"]
        check(len(share.partition(".")[2]) == 4, "ring_share %r is not x.xxxx" % share)


def cluster_view(conn, timeout=2.0):
    """Sends `stats cluster` and parses the reply (fails at once on a
    reply that is not STAT lines, e.g. ERROR from a daemon without it)."""
    conn.send(b"stats cluster\r\n")
    lines = []
    while True:
        line = conn.read_until(b"\r\n", timeout)
        if line == b"END\r\n":
            return ClusterView(lines)
        check(line.startswith(b"STAT "), "stats cluster answered %r after %r" % (line, lines))
        lines.append(line[:-2].decode("utf-8", "replace"))


def cluster_field(conn, name):
    """One integer field of `stats cluster`."""
    return cluster_view(conn).field_int(name)


# ---- replies ----

def read_values(conn, timeout=None):
    """A get-family reply up to END: [(key, flags, data, cas or None)].
    Any other line (a SERVER_ERROR, a bare error) fails."""
    out = []
    while True:
        line = conn.read_until(b"\r\n", timeout)
        if line == b"END\r\n":
            return out
        parts = line.split()
        check(parts[:1] == [b"VALUE"] and len(parts) in (4, 5),
              "unexpected line %r in a get reply after %d values" % (line, len(out)))
        data = conn.read_exact(int(parts[3]) + 2, timeout)
        check(data.endswith(b"\r\n"), "value of %r not ended by \\r\\n" % parts[1])
        out.append((parts[1], int(parts[2]), data[:-2], parts[4] if len(parts) == 5 else None))


def value_block(key, flags, data):
    return b"VALUE %s %d %d\r\n%s\r\n" % (key, flags, len(data), data)


def store_all(conn, items, batch=None):
    """Pipelined sets of {key: (flags, data)} through conn, batch (default
    PIPELINE_BATCH) at a time; every reply must be STORED."""
    batch = batch or PIPELINE_BATCH
    items = list(items.items())
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        conn.send(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, f, len(d), d) for k, (f, d) in chunk))
        for n, (key, _) in enumerate(chunk):
            try:
                reply = conn.read_until(b"\r\n", 10)
            except TestFailure as e:
                raise TestFailure("reply %d of %d pipelined sets (key %r), %d sets before them: %s"
                                  % (n + 1, len(chunk), key, start, e))
            check_eq(reply, b"STORED\r\n", "set %r" % key)


def curr_items(node):
    with node.connect() as c:
        return int(c.stats()["curr_items"])


# ---- a cluster of daemons ----

_bindable = {}  # candidate addresses -> whether all of them can be bound


def cluster_hosts(n, hosts=HOSTS):
    """The first n of hosts (distinct loopback addresses) when they can all
    be bound, else 127.0.0.1 n times (the nodes then differ by port only)."""
    hosts = tuple(hosts)
    check(n <= len(hosts), "at most %d nodes" % len(hosts))
    if hosts not in _bindable:
        import socket
        _bindable[hosts] = True
        for host in hosts:
            try:
                with socket.socket() as s:
                    s.bind((host, 0))
            except OSError:
                _bindable[hosts] = False
                break
    return list(hosts[:n]) if _bindable[hosts] else ["127.0.0.1"] * n


def require_meshcached():
    if mchelper.daemon_is_reference():
        raise TestSkip("cluster flags are meshcached's; the daemon is memcached")


class Cluster:
    """n nodes started with --node-id/--peers/--vnodes; a context manager.

    names: the --node-id of each node, or None to leave --node-id out (the
    id is then the default "<-l>:<-p>"). peers_self: whether each node's
    --peers lists the node itself too. vnodes None leaves --vnodes out (the
    default). peer_timeout_ms None leaves -o peer_timeout_ms out.
    """

    def __init__(self, n=3, names=NODE_NAMES, vnodes=TEST_VNODES, peers_self=True,
                 peer_timeout_ms=None, extra=()):
        require_meshcached()
        self.hosts = cluster_hosts(n)
        self.ports = [mchelper.free_port(h) for h in self.hosts]
        self.addrs = ["%s:%d" % hp for hp in zip(self.hosts, self.ports)]
        self.ids = list(names[:n]) if names else list(self.addrs)
        self.vnodes = vnodes if vnodes is not None else DEFAULT_VNODES
        self.nodes = []
        self.dead = []  # killed Daemons, kept for their logs
        self.args = []
        for i in range(n):
            peers = [a for j, a in enumerate(self.addrs) if peers_self or j != i]
            # one copy per key: these tests pin placement and forwarding
            # (test_replication covers copies)
            args = ["-v", "--peers", ",".join(peers), "--replicas", "1"]
            if names:
                args += ["--node-id", self.ids[i]]
            if vnodes is not None:
                args += ["--vnodes", str(vnodes)]
            if peer_timeout_ms is not None:
                args += ["-o", "peer_timeout_ms=%d" % peer_timeout_ms]
            self.args.append(args + list(extra))
        self.started = None

    def _daemon(self, i, attempts):
        return Daemon(args=self.args[i], host=self.hosts[i], port=self.ports[i],
                      attempts=attempts)

    def start(self):
        try:
            for i in range(len(self.ids)):
                self.nodes.append(self._daemon(i, 3).start())
        except Exception:
            self.stop(clean=False)
            raise
        self.started = time.monotonic()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(clean=exc_type is None)
        return False

    def stop(self, clean=True):
        for d in self.nodes:
            if d.proc is not None and not d.killed:
                d.resume()
                d.terminate()
        first = None
        for d in self.nodes:
            try:
                d.stop(require_clean=clean)
            except Exception as e:
                first = first or e
        if first is not None:
            raise first

    def conn(self, i, timeout=mchelper.IO_TIMEOUT):
        return self.nodes[i].connect(timeout)

    def kill(self, i):
        """kill -9 node i (the test's own child)."""
        self.nodes[i].kill()

    def restart(self, i):
        """Starts node i again with the same id, address, port and flags."""
        old = self.nodes[i]
        check(not old.alive(), "restart of a running node")
        self.dead.append(old)
        self.nodes[i] = self._daemon(i, 10).start()

    def logs(self, which=None):
        out = []
        for i in (which if which is not None else range(len(self.nodes))):
            out.append("--- log of %s (%s):\n%s" % (self.ids[i], self.addrs[i],
                                                   self.nodes[i].log_tail(1500)))
        return "\n".join(out)

    def wait_views(self, which, alive, dead=(), deadline=None, timeout=FORM_TIMEOUT, what=""):
        """Polls `stats cluster` on nodes `which` until each lists exactly
        the members alive (ids) as alive and dead as dead, with ring_nodes
        len(alive). Returns {i: view}; fails with the last views and the
        logs when the deadline passes."""
        alive, dead = set(alive), set(dead)
        if deadline is None:
            deadline = time.monotonic() + timeout
        views = {}
        conns = {}
        try:
            while True:
                done = True
                for i in which:
                    if i not in conns:
                        try:
                            conns[i] = self.conn(i, 2.0)
                        except OSError as e:
                            raise TestFailure("%s: cannot connect to %s (%s): %s\n%s"
                                              % (what, self.ids[i], self.addrs[i], e,
                                                 self.logs([i])))
                    v = views[i] = cluster_view(conns[i])
                    if (v.ids_in("alive") != alive or v.ids_in("dead") != dead
                            or set(v.members) != alive | dead
                            or v.fields.get("ring_nodes") != str(len(alive))):
                        done = False
                if done:
                    return views
                if time.monotonic() > deadline:
                    raise TestFailure(
                        "%s: want alive %s, dead %s, ring_nodes %d; last views:\n%s\n%s"
                        % (what or "membership", sorted(alive), sorted(dead), len(alive),
                           "\n".join("  %s: %s" % (self.ids[i], views[i]) for i in which),
                           self.logs(which)))
                time.sleep(0.1)
        finally:
            for c in conns.values():
                c.close()

    def wait_formed(self, what="cluster formation"):
        check(self.started is not None, "cluster not started")
        return self.wait_views(range(len(self.ids)), self.ids,
                               deadline=self.started + FORM_TIMEOUT,
                               what="%s within %.0f s of start" % (what, FORM_TIMEOUT))

    def oracle(self, ids=None):
        return RingOracle(ids if ids is not None else self.ids, self.vnodes)


# ---- 1. formation ----

def test_cluster_forms():
    for peers_self, timeout_ms in ((True, None), (False, 300)):
        with Cluster(peers_self=peers_self, peer_timeout_ms=timeout_ms) as cl:
            what = "formation (--peers %s the node itself)" % ("lists" if peers_self else "omits")
            views = cl.wait_formed(what)
            shares = cl.oracle().shares()
            total = 0.0
            for i, v in views.items():
                nid = cl.ids[i]
                v.check_format()
                check_eq(v.self_id, nid, "self of node %d" % i)
                for j, other in enumerate(cl.ids):
                    check_eq(v.members[other], ("alive", cl.addrs[j]),
                             "%s's entry for %s" % (nid, other))
                check_eq(v.fields["ring_vnodes"], str(TEST_VNODES), "%s ring_vnodes" % nid)
                check_eq(v.fields["peer_timeout_ms"], str(timeout_ms or DEFAULT_PEER_TIMEOUT_MS),
                         "%s peer_timeout_ms" % nid)
                check(v.field_int("ring_epoch") >= 1, "%s ring_epoch %s" % (nid, v.fields["ring_epoch"]))
                check_eq(v.fields["forwarded"], "0", "%s forwarded before any command" % nid)
                check_eq(v.fields["forward_errors"], "0", "%s forward_errors" % nid)
                share = float(v.fields["ring_share"])
                check(abs(share - shares[nid]) <= 0.00051,
                      "%s ring_share %s, oracle says %.6f" % (nid, v.fields["ring_share"], shares[nid]))
                total += share
            check(abs(total - 1.0) <= 0.0005, "ring shares sum to %.4f" % total)
            print("%s: formed in %.1f s; shares %s" % (
                what, time.monotonic() - cl.started,
                " ".join("%s=%s" % (cl.ids[i], v.fields["ring_share"]) for i, v in views.items())))


# ---- 2. 10,000 keys, each stored on its owner only ----

def test_keys_stored_on_owners():
    # --vnodes left out: the default (16384) on every node.
    with Cluster(vnodes=None) as cl:
        views = cl.wait_formed()
        for i, v in views.items():
            check_eq(v.fields["ring_vnodes"], str(DEFAULT_VNODES), "%s default ring_vnodes" % cl.ids[i])
        oracle = cl.oracle()
        items = {b"key:%05d" % i: (i * 7919 % 65536, b"value-%d-" % i + b"v" * (i % 97))
                 for i in range(10000)}
        want = dict.fromkeys(cl.ids, 0)
        for key in items:
            want[oracle.owner(key)] += 1
        check(min(want.values()) > 2000, "oracle puts keys unevenly: %r" % want)

        with cl.conn(0, 10) as c:
            store_all(c, items)
            forwarded = cluster_field(c, "forwarded")
        remote = len(items) - want[cl.ids[0]]
        check(forwarded >= remote, "%s forwarded %d commands for %d remote keys"
              % (cl.ids[0], forwarded, remote))

        keys = list(items)
        # Through node 2: pipelined single-key gets.
        with cl.conn(1, 10) as c:
            for start in range(0, len(keys), PIPELINE_BATCH):
                chunk = keys[start:start + PIPELINE_BATCH]
                c.send(b"".join(b"get %s\r\n" % k for k in chunk))
                for n, key in enumerate(chunk):
                    try:
                        got = read_values(c, 10)
                    except TestFailure as e:
                        raise TestFailure("reply %d of %d pipelined gets through %s (key %r), "
                                          "%d gets before them: %s"
                                          % (n + 1, len(chunk), cl.ids[1], key, start, e))
                    flags, data = items[key]
                    check_eq(got, [(key, flags, data, None)], "get %r through %s" % (key, cl.ids[1]))
        # Through node 3: 100-key gets.
        with cl.conn(2, 10) as c:
            for start in range(0, len(keys), 100):
                chunk = keys[start:start + 100]
                c.send(b"get " + b" ".join(chunk) + b"\r\n")
                got = read_values(c, 10)
                check_eq([g[0] for g in got], chunk, "keys of a 100-key get through %s" % cl.ids[2])
                for key, flags, data, _ in got:
                    check_eq((flags, data), items[key], "value of %r through %s" % (key, cl.ids[2]))

        have = {nid: curr_items(cl.nodes[i]) for i, nid in enumerate(cl.ids)}
        check_eq(have, want, "curr_items per node (want: the oracle's owner counts)")
        check_eq(sum(have.values()), len(items), "items in the cluster")


# ---- 3. multi-key gets in the client's key order ----

def test_multiget_key_order():
    with Cluster() as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        rng = random.Random(3)
        stored = {}
        for n in range(90):
            size = rng.choice((0, 1, 10, 100, 3000, 20000))
            stored[b"mget:%03d" % n] = (n * 37, bytes(rng.randrange(33, 127) for _ in range(size)))
        missing = [b"mget:miss%d" % n for n in range(5)]
        request = list(stored) + missing + rng.sample(list(stored), 5)  # 5 duplicates
        rng.shuffle(request)
        check_eq(len(request), 100, "request size")
        owners = {oracle.owner(k) for k in request}
        check_eq(owners, set(cl.ids), "owners of the requested keys")
        with cl.conn(0) as c:
            store_all(c, stored)
        cas = {}
        for i, nid in enumerate(cl.ids):  # reference CAS values, from the owners
            with cl.conn(i) as c:
                for key in stored:
                    if oracle.owner(key) == nid:
                        c.send(b"gets %s\r\n" % key)
                        cas[key] = read_values(c)[0][3]
        want = [(k,) + stored[k] for k in request if k in stored]
        for i, nid in enumerate(cl.ids):
            with cl.conn(i, 10) as c:
                for cmd in (b"get", b"gets", b"gat 0", b"gats 0"):
                    c.send(cmd + b" " + b" ".join(request) + b"\r\n")
                    got = read_values(c, 10)
                    what = "%s of 100 keys through %s" % (cmd.decode(), nid)
                    check_eq([g[0] for g in got], [w[0] for w in want], what + ": keys")
                    for g, w in zip(got, want):
                        check_eq(g[1:3], w[1:3], what + ": flags and value of %r" % g[0])
                    if cmd in (b"gets", b"gats 0"):
                        bad = [(g[0], g[3], cas[g[0]]) for g in got if g[3] != cas[g[0]]]
                        check(not bad, what + ": CAS differs from the owner's (key, got, "
                              "want): %r" % bad[:5])
                    else:
                        check(all(g[3] is None for g in got), what + ": CAS in a get")
                # Only misses; one remote owner's keys only; one key.
                c.send(b"get " + b" ".join(missing) + b"\r\n")
                check_eq(read_values(c), [], "get of missing keys through %s" % nid)
                other = cl.ids[(i + 1) % 3]
                theirs = [k for k in request if oracle.owner(k) == other]
                c.send(b"get " + b" ".join(theirs) + b"\r\n")
                check_eq(read_values(c, 10), [(k,) + stored[k] + (None,) for k in theirs if k in stored],
                         "get of %s's keys only through %s" % (other, nid))
                # Two multi-gets and a set in one write.
                c.send(b"get %s %s\r\nset mget:new 0 0 1\r\nn\r\ngets %s mget:new %s\r\n"
                       % (request[0], request[1], request[2], request[0]))
                first = read_values(c)
                check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "pipelined set between gets")
                second = read_values(c)
                check_eq([g[0] for g in first], [k for k in request[:2] if k in stored],
                         "first pipelined get through %s" % nid)
                check_eq([g[0] for g in second],
                         [k for k in (request[2], b"mget:new", request[0])
                          if k in stored or k == b"mget:new"],
                         "second pipelined get through %s" % nid)


# ---- 4. byte-exact relay ----

# Placeholders: <K> the key, <B64> its base64, <CAS> the last CAS value seen
# in this run's replies, <CAS0> the first one. Each step is sent followed
# by "mn\r\n" and its reply read up to "MN\r\n".
RELAY_STEPS = [
    b"get <K>\r\n",
    b"gets <K>\r\n",
    b"mg <K> v\r\n",
    b"mg <K> v q k Oq1\r\n",
    b"set <K> 5 0 5\r\nhello\r\n",
    b"get <K>\r\n",
    b"gets <K>\r\n",
    b"add <K> 0 0 1\r\nx\r\n",
    b"replace <K> 7 0 3\r\nabc\r\n",
    b"append <K> 0 0 3\r\ndef\r\n",
    b"prepend <K> 0 0 3\r\nxyz\r\n",
    b"gets <K>\r\n",
    b"cas <K> 9 0 2 <CAS>\r\nok\r\n",
    b"cas <K> 9 0 2 <CAS0>\r\nno\r\n",
    b"mg <K> v c f t k s Oop1\r\n",
    b"mg <K> k q Oop2\r\n",
    b"mg <K> s v q\r\n",
    b"ms <K> 4 T0 F3 c k Oop3\r\nmeta\r\n",
    b"ms <K> 2 MA\r\nzz\r\n",
    b"ms <K> 2 MP q\r\naa\r\n",
    b"ms <K> 2 C<CAS0> c\r\nbb\r\n",
    b"mg <K> v c f\r\n",
    b"ms <K> 2 C<CAS> c\r\ncc\r\n",
    b"ms <K> 2 ME\r\ndd\r\n",
    b"ms <K> 3 MS I\r\nfff\r\n",
    b"mg <K> v\r\n",
    b"md <K> q\r\n",
    b"md <K> Oop4\r\n",
    b"mg <K> v q\r\n",
    b"mg <K> v k Oop5\r\n",
    b"set <K> 0 0 2\r\n10\r\n",
    b"incr <K> 5\r\n",
    b"decr <K> 20\r\n",
    b"incr <K> 18446744073709551615\r\n",
    b"incr <K> 1\r\n",
    b"incr <K> abc\r\n",
    b"ma <K>\r\n",
    b"ma <K> v c t N0 MI D7 Oop6\r\n",
    b"ma <K> MD D100 v\r\n",
    b"ma <K> q\r\n",
    b"mg <K> v\r\n",
    b"touch <K> 3600\r\n",
    b"gat 0 <K>\r\n",
    b"gats 0 <K>\r\n",
    b"mg <K> t v\r\n",
    b"delete <K>\r\n",
    b"delete <K>\r\n",
    b"touch <K> 10\r\n",
    b"incr <K> 1\r\n",
    b"cas <K> 0 0 1 <CAS>\r\nx\r\n",
    b"ma <K> N0 J13 v\r\n",
    b"ma <K> q\r\n",
    b"mg <K> v c\r\n",
    b"set <K> 0 0 1 noreply\r\na\r\n",
    b"append <K> 0 0 1 noreply\r\nb\r\n",
    b"prepend <K> 0 0 1 noreply\r\nc\r\n",
    b"add <K> 0 0 1 noreply\r\nd\r\n",
    b"get <K>\r\n",
    b"replace <K> 3 0 1 noreply\r\n5\r\n",
    b"incr <K> 2 noreply\r\n",
    b"decr <K> 1 noreply\r\n",
    b"incr <K> abc noreply\r\n",
    b"touch <K> 100 noreply\r\n",
    b"cas <K> 0 0 1 <CAS0> noreply\r\nz\r\n",
    b"gets <K>\r\n",
    b"delete <K> noreply\r\n",
    b"get <K>\r\n",
    b"ms <B64> 3 b T0\r\nb64\r\n",
    b"mg <B64> b v k c\r\n",
    b"get <K>\r\n",
    b"md <B64> b q\r\n",
    b"mg <B64> b v\r\n",
    b"set <K> 0 0 3\r\nabcdef\r\n",  # bad data chunk
    b"set <K> 0 0 3 noreply\r\nabcdef\r\n",
    b"ms <K> 3 T0\r\nabcdef\r\n",
    b"get <K>\r\n",
    b"set <K> 0 0 -1\r\n",
    b"set <K> abc 0 1\r\nx\r\n",
    b"delete <K> 5\r\n",
    b"incr <K>\r\n",
    b"mg <K> v zz\r\n",
    b"get " + b"x" * 251 + b"\r\n",
    b"set <K> 0 0 2000000\r\n" + b"y" * 2000000 + b"\r\n",
    b"get <K>\r\n",
    b"set <K> 0 0 5\r\nfinal\r\n",
    b"mg <K> v k c f s t\r\n",
]


def _cas_values(reply):
    """CAS values in a reply: 5th field of VALUE lines, c<n> meta flags."""
    out = []
    for line in reply.split(b"\r\n"):
        parts = line.split(b" ")
        if parts[0] == b"VALUE" and len(parts) == 5:
            out.append(parts[4])
        elif parts[0] in (b"VA", b"HD", b"EN", b"NS", b"EX", b"NF"):
            out += [p[1:] for p in parts[1:] if p[:1] == b"c" and p[1:].isdigit()]
    return out


def relay_run(conn, key):
    """Runs RELAY_STEPS on key; returns the list of replies (each without
    its trailing MN)."""
    b64 = base64.b64encode(key)
    first_cas = last_cas = b"0"
    replies = []
    for step in RELAY_STEPS:
        cmd = (step.replace(b"<K>", key).replace(b"<B64>", b64)
               .replace(b"<CAS0>", first_cas).replace(b"<CAS>", last_cas))
        conn.send(cmd + b"mn\r\n")
        try:
            reply = conn.read_until(b"MN\r\n", 10)[:-4]
        except TestFailure as e:
            raise TestFailure("%r (on %r): %s" % (cmd[:80], key, e))
        seen = _cas_values(reply)
        if seen:
            if first_cas == b"0":
                first_cas = seen[0]
            last_cas = seen[-1]
        replies.append(reply)
    return replies


def renumber_cas(replies):
    """The replies of one run with its CAS values (clock versions in a
    cluster) replaced by their order of first appearance."""
    order = {}
    for reply in replies:
        for v in _cas_values(reply):
            if v != b"0":
                order.setdefault(v, b"<CAS%d>" % len(order))
    out = []
    for reply in replies:
        for v, name in order.items():
            reply = re.sub(rb"(?<![0-9])" + v + rb"(?![0-9])", name, reply)
        out.append(reply)
    return out


def test_relay_byte_exact():
    # In each round every node owns the key of exactly one run of
    # RELAY_STEPS; the runs' replies must be equal byte for byte, CAS values
    # (clock versions, different in every run) compared by their order of
    # appearance. One run goes to its owner directly, two through
    # non-owners; over the three rounds every (owner, entry node) pair is
    # used.
    rounds = [(0, [(1, 2), (2, 0)]), (1, [(0, 2), (2, 1)]), (2, [(0, 1), (1, 0)])]
    with Cluster() as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        keys = {nid: oracle.keys_of(nid, b"relay-", 3, length=6) for nid in cl.ids}
        for rnd, (direct, forwarded) in enumerate(rounds):
            runs = [(direct, direct)] + forwarded  # (owner, entry node)
            results = []
            for owner, entry in runs:
                key = keys[cl.ids[owner]][rnd]
                with cl.conn(entry, 10) as c:
                    results.append((owner, entry, key, renumber_cas(relay_run(c, key))))
            _, _, key0, want = results[0]
            for owner, entry, key, got in results[1:]:
                norm = [r.replace(key, key0).replace(base64.b64encode(key), base64.b64encode(key0))
                        for r in got]
                for n, (w, g) in enumerate(zip(want, norm)):
                    if w != g:
                        raise TestFailure(
                            "round %d: %r (owner %s) through %s differs from %r through its owner "
                            "%s at step %d %r:\n  owner:     %r\n  non-owner: %r"
                            % (rnd, key, cl.ids[owner], cl.ids[entry], key0, cl.ids[direct], n,
                               RELAY_STEPS[n][:60], w[:300], g[:300]))
        with cl.conn(0) as c:
            check(cluster_field(c, "forwarded") > 0, "forwarded stayed 0")


def test_relay_pipelined_mix():
    # One write of ~600 commands on keys of all three owners through each
    # node; the replies must be exactly what one memcached would send.
    with Cluster() as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        for entry, nid in enumerate(cl.ids):
            rng = random.Random(entry)
            keys = []
            for owner in cl.ids:
                keys += oracle.keys_of(owner, b"pipe%d-" % entry, 15)
            counters = [k + b"-n" for k in keys[::5]]
            model = {}
            cmds, want = [], []
            for _ in range(600):
                key = rng.choice(keys)
                op = rng.random()
                if op < 0.25:
                    data = b"%d" % rng.randrange(10 ** 6) + b"d" * rng.choice((0, 5, 300, 70000))
                    flags = rng.randrange(1 << 16)
                    if rng.random() < 0.2:
                        cmds.append(b"set %s %d 0 %d noreply\r\n%s\r\n" % (key, flags, len(data), data))
                    else:
                        cmds.append(b"set %s %d 0 %d\r\n%s\r\n" % (key, flags, len(data), data))
                        want.append((len(cmds) - 1, b"STORED\r\n"))
                    model[key] = (flags, data)
                elif op < 0.45:
                    ks = [key] if rng.random() < 0.5 else rng.sample(keys, 4)
                    cmds.append(b"get %s\r\n" % b" ".join(ks))
                    want.append((len(cmds) - 1, b"".join(value_block(k, *model[k]) for k in ks if k in model)
                                 + b"END\r\n"))
                elif op < 0.6:
                    cmds.append(b"mg %s k v Oo%d\r\n" % (key, len(cmds)))
                    if key in model:
                        data = model[key][1]
                        want.append((len(cmds) - 1, b"VA %d k%s Oo%d\r\n%s\r\n"
                                     % (len(data), key, len(cmds) - 1, data)))
                    else:
                        want.append((len(cmds) - 1, b"EN k%s Oo%d\r\n" % (key, len(cmds) - 1)))
                elif op < 0.7:
                    cmds.append(b"mg %s v q\r\n" % key)
                    if key in model:
                        want.append((len(cmds) - 1, b"VA %d\r\n%s\r\n"
                                     % (len(model[key][1]), model[key][1])))
                elif op < 0.8:
                    cmds.append(b"delete %s\r\n" % key)
                    want.append((len(cmds) - 1,
                                 b"DELETED\r\n" if model.pop(key, None) else b"NOT_FOUND\r\n"))
                elif op < 0.85:
                    cmds.append(b"md %s q\r\n" % key)
                    if model.pop(key, None) is None:
                        want.append((len(cmds) - 1, b"NF\r\n"))
                else:
                    ctr = rng.choice(counters)
                    if ctr not in model:
                        cmds.append(b"set %s 0 0 1\r\n0\r\n" % ctr)
                        want.append((len(cmds) - 1, b"STORED\r\n"))
                        model[ctr] = (0, b"0")
                    delta = rng.randrange(1000)
                    cmds.append(b"incr %s %d\r\n" % (ctr, delta))
                    value = b"%d" % (int(model[ctr][1]) + delta)
                    model[ctr] = (0, value)
                    want.append((len(cmds) - 1, value + b"\r\n"))
            cmds.append(b"mn\r\n")
            want.append((len(cmds) - 1, b"MN\r\n"))
            with cl.conn(entry, 20) as c:
                # Sent from a thread: the replies may fill the socket
                # buffers before all the commands are written.
                sender = send_async(c, b"".join(cmds))
                for n, (i, w) in enumerate(want):
                    got = c.read_exact(len(w), 20)
                    if got != w:
                        raise TestFailure(
                            "pipelined reply %d through %s, to command %d %r: got %r, want %r"
                            % (n, nid, i, cmds[i][:100], got[:200], w[:200]))
                sender.finish()
                c.sock.settimeout(0.2)
                try:
                    extra = c.sock.recv(4096)
                except OSError:
                    extra = b""
                check_eq(extra, b"", "bytes after the last pipelined reply through %s" % nid)


class send_async(threading.Thread):
    """Sends data on conn from a thread; finish() joins and re-raises."""

    def __init__(self, conn, data):
        super().__init__(daemon=True)
        self.conn, self.data, self.error = conn, data, None
        self.start()

    def run(self):
        try:
            self.conn.sock.sendall(self.data)
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self):
        self.join(20)
        check(not self.is_alive(), "sending the pipelined commands hung")
        check(self.error is None, "sending the pipelined commands failed: %r" % (self.error,))


# ---- 5. a node killed with -9 ----

def _first_line_timed(conn, data, limit=1.0):
    t0 = time.monotonic()
    conn.send(data)
    line = conn.read_until(b"\r\n", limit)
    return line, time.monotonic() - t0


def test_node_killed():
    with Cluster() as cl:
        cl.wait_formed()
        victim, survivors = 2, (0, 1)
        vid = cl.ids[victim]
        oracle3 = cl.oracle()
        keys = {nid: oracle3.keys_of(nid, b"kill:", 30) for nid in cl.ids}
        items = {k: (1, b"before-" + k) for ks in keys.values() for k in ks}
        with cl.conn(0) as c:
            store_all(c, items)
        conns = {s: cl.conn(s, 1.0) for s in survivors}
        try:
            killed_at = time.monotonic()
            cl.kill(victim)
            # Until the survivors declare it dead (3 missed pings, >= 2 s
            # away), its keys get errors, quickly, and never a miss.
            errors = dict.fromkeys(survivors, 0)
            declared = dict.fromkeys(survivors, False)
            late = set()  # keys a probe may have changed on their next owner
            probes = [b"get %s\r\n", b"set %s 0 0 3\r\nnew\r\n", b"mg %s v\r\n",
                      b"delete %s\r\n", b"gets %s\r\n", b"incr %s 1\r\n", b"touch %s 9\r\n"]
            for n, key in enumerate(keys[vid][:12]):
                for s in survivors:
                    if declared[s]:
                        continue
                    probe = probes[n % len(probes)] % key
                    try:
                        line, took = _first_line_timed(conns[s], probe, 1.0)
                    except TestFailure as e:
                        raise TestFailure("%r through %s for a key of killed %s: no reply within "
                                          "1 s (%s)" % (probe[:40], cl.ids[s], vid, e))
                    if line.startswith(b"SERVER_ERROR "):
                        errors[s] += 1
                        check(took < 1.0, "SERVER_ERROR after %.2f s" % took)
                        continue
                    # Not an error: acceptable only once s has declared it dead.
                    with cl.conn(s, 2.0) as sc:
                        view = cluster_view(sc)
                    check(view.members.get(vid, ("?",))[0] == "dead",
                          "%r through %s %.2f s after killing %s answered %r while %s still "
                          "counts it %s (want SERVER_ERROR until it is dead)"
                          % (probe[:40], cl.ids[s], time.monotonic() - killed_at, vid, line,
                             cl.ids[s], view.members.get(vid)))
                    declared[s] = True
                    if probe.startswith(b"set "):
                        late.add(key)
                    conns[s].close()
                    conns[s] = cl.conn(s, 1.0)  # the rest of that reply is unknown
                # Keys of the live nodes keep working meanwhile.
                for s in survivors:
                    if declared[s]:
                        continue
                    for owner in (cl.ids[0], cl.ids[1]):
                        key = keys[owner][n]
                        conns[s].send(b"get %s\r\n" % key)
                        check_eq(read_values(conns[s], 1.0), [(key, 1, items[key][1], None)],
                                 "get of %s's key through %s after the kill" % (owner, cl.ids[s]))
            for s in survivors:
                check(errors[s] > 0, "%s never answered SERVER_ERROR for the killed node's keys"
                      % cl.ids[s])
            print("SERVER_ERROR replies before death: %s" % errors)
        finally:
            for c in conns.values():
                c.close()

        alive = [cl.ids[s] for s in survivors]
        views = cl.wait_views(survivors, alive, [vid], deadline=killed_at + DEATH_TIMEOUT,
                              what="%s dead within %.0f s of kill -9" % (vid, DEATH_TIMEOUT))
        print("declared dead after %.1f s" % (time.monotonic() - killed_at))
        oracle2 = cl.oracle(alive)
        shares = oracle2.shares()
        for s, v in views.items():
            share = float(v.fields["ring_share"])
            check(abs(share - shares[cl.ids[s]]) <= 0.00051,
                  "%s ring_share %s after the death, oracle says %.6f"
                  % (cl.ids[s], v.fields["ring_share"], shares[cl.ids[s]]))
        # Its keys now belong to the next node clockwise: they miss there,
        # can be stored and read back, and are stored on that node.
        before = {s: curr_items(cl.nodes[s]) for s in survivors}
        moved = dict.fromkeys(alive, 0)
        for k in keys[vid]:
            if k not in late:
                moved[oracle2.owner(k)] += 1
        for s in survivors:
            with cl.conn(s, 2.0) as c:
                for k in keys[vid]:
                    if k in late:
                        continue
                    c.send(b"get %s\r\n" % k)
                    check_eq(read_values(c, 2.0), [], "get of dead %s's key %r through %s"
                             % (vid, k, cl.ids[s]))
        with cl.conn(0, 2.0) as c:
            store_all(c, {k: (2, b"after-" + k) for k in keys[vid]})
        with cl.conn(1, 2.0) as c:
            for k in keys[vid]:
                c.send(b"get %s\r\n" % k)
                check_eq(read_values(c, 2.0), [(k, 2, b"after-" + k, None)],
                         "key %r of dead %s, set again, through %s" % (k, vid, cl.ids[1]))
            for owner in alive:
                for k in keys[owner]:
                    c.send(b"get %s\r\n" % k)
                    check_eq(read_values(c, 2.0), [(k, 1, items[k][1], None)],
                             "%s's key %r after the death" % (owner, k))
        after = {s: curr_items(cl.nodes[s]) for s in survivors}
        check_eq({cl.ids[s]: after[s] - before[s] for s in survivors}, moved,
                 "items added per survivor (want the oracle's new owners of the dead node's keys)")


# ---- 6. the killed node comes back ----

def test_node_restarted():
    with Cluster() as cl:
        cl.wait_formed()
        victim = 1
        vid = cl.ids[victim]
        others = [i for i in range(3) if i != victim]
        killed_at = time.monotonic()
        cl.kill(victim)
        cl.wait_views(others, [cl.ids[i] for i in others], [vid],
                      deadline=killed_at + DEATH_TIMEOUT,
                      what="%s dead within %.0f s of kill -9" % (vid, DEATH_TIMEOUT))
        cl.restart(victim)
        restarted = time.monotonic()
        views = cl.wait_views(range(3), cl.ids, deadline=restarted + REVIVE_TIMEOUT,
                              what="%s alive again within %.0f s of its restart"
                              % (vid, REVIVE_TIMEOUT))
        print("alive again after %.1f s" % (time.monotonic() - restarted))
        for i in others:
            check_eq(views[i].members[vid], ("alive", cl.addrs[victim]),
                     "%s's entry for the restarted %s" % (cl.ids[i], vid))
        oracle = cl.oracle()
        mine = oracle.keys_of(vid, b"back:", 40)
        theirs = oracle.keys_of(cl.ids[others[0]], b"back:", 10)
        check_eq(curr_items(cl.nodes[victim]), 0, "items on the restarted node before any set")
        with cl.conn(others[0]) as c:
            store_all(c, {k: (3, b"again-" + k) for k in mine + theirs})
        check_eq(curr_items(cl.nodes[victim]), len(mine),
                 "items stored on the restarted %s (set through %s)" % (vid, cl.ids[others[0]]))
        for i in (victim, others[1]):
            with cl.conn(i) as c:
                c.send(b"get " + b" ".join(mine + theirs) + b"\r\n")
                check_eq(read_values(c), [(k, 3, b"again-" + k, None) for k in mine + theirs],
                         "keys read through %s after the restart" % cl.ids[i])


# ---- (extra) a node that stops answering: timeouts, then dead, then back ----

def test_node_stopped_times_out():
    timeout_ms = 300
    with Cluster(peer_timeout_ms=timeout_ms) as cl:
        cl.wait_formed()
        victim = 0
        vid = cl.ids[victim]
        others = [1, 2]
        oracle = cl.oracle()
        keys = oracle.keys_of(vid, b"stop:", 10)
        with cl.conn(1) as c:
            store_all(c, {k: (4, b"v-" + k) for k in keys})
        paused_at = time.monotonic()
        cl.nodes[victim].pause()
        for s in others:
            with cl.conn(s, 2.0) as c:
                for k in keys[:3]:
                    line, took = _first_line_timed(c, b"get %s\r\n" % k, 2.0)
                    check(line.startswith(b"SERVER_ERROR "),
                          "get of stopped %s's key through %s answered %r (want SERVER_ERROR)"
                          % (vid, cl.ids[s], line))
                    check(took <= timeout_ms / 1000.0 + 0.5,
                          "SERVER_ERROR after %.2f s with peer_timeout_ms=%d" % (took, timeout_ms))
            print("through %s: %r" % (cl.ids[s], line))
        # Pings time out as well: dead within a few timed-out pings.
        cl.wait_views(others, [cl.ids[i] for i in others], [vid],
                      deadline=paused_at + DEATH_TIMEOUT + 3 * timeout_ms / 1000.0,
                      what="SIGSTOPped %s dead" % vid)
        resumed_at = time.monotonic()
        cl.nodes[victim].resume()
        cl.wait_views(range(3), cl.ids, deadline=resumed_at + REVIVE_TIMEOUT,
                      what="%s alive again within %.0f s of SIGCONT" % (vid, REVIVE_TIMEOUT))
        # Late replies to requests sent while it was stopped must not leak
        # into later ones.
        for s in others:
            with cl.conn(s) as c:
                for n, k in enumerate(keys):
                    c.send(b"set %s 0 0 %d\r\n%s\r\nget %s\r\n" % (k, len(b"%d" % n), b"%d" % n, k))
                    check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "set %r through %s after SIGCONT"
                             % (k, cl.ids[s]))
                    check_eq(read_values(c), [(k, 0, b"%d" % n, None)],
                             "get %r through %s after SIGCONT" % (k, cl.ids[s]))


# ---- 7. real clients through one node ----

def test_pymemcache_through_cluster():
    try:
        from pymemcache.client.base import Client
    except ImportError:
        raise TestSkip("python3-pymemcache is not installed")
    # --node-id left out: the ids are the default "<-l>:<-p>".
    with Cluster(names=None) as cl:
        views = cl.wait_formed()
        for i, v in views.items():
            check_eq(v.self_id, cl.addrs[i], "default node id")
        oracle = cl.oracle()
        mc = Client((cl.hosts[0], cl.ports[0]), connect_timeout=5, timeout=5)
        try:
            values = {}
            for nid in cl.ids:
                for k in oracle.keys_of(nid, b"py:", 10):
                    values[k.decode()] = b"value of " + k + b"." * len(values)
            check_eq(mc.set_many(values, noreply=False), [], "set_many failures")
            got = mc.get_many(list(values) + ["py:absent"])
            check_eq(got, values, "get_many")
            for k in list(values)[::7]:
                check_eq(mc.get(k), values[k], "get %s" % k)
            counters = [k.decode() for nid in cl.ids for k in oracle.keys_of(nid, b"pyn:", 1)]
            for k in counters:
                check(mc.set(k, b"41", noreply=False), "set %s" % k)
                check_eq(mc.incr(k, 1, noreply=False), 42, "incr %s" % k)
                check_eq(mc.decr(k, 2, noreply=False), 40, "decr %s" % k)
                value, cas = mc.gets(k)
                check_eq(value, b"40", "gets %s" % k)
                check_eq(mc.cas(k, b"x", cas, noreply=False), True, "cas %s with fresh token" % k)
                check_eq(mc.cas(k, b"y", cas, noreply=False), False, "cas %s with stale token" % k)
                check_eq(mc.get(k), b"x", "value of %s after cas" % k)
                check_eq(mc.delete(k, noreply=False), True, "delete %s" % k)
                check_eq(mc.delete(k, noreply=False), False, "delete %s again" % k)
                check_eq(mc.incr(k, 1, noreply=False), None, "incr of deleted %s" % k)
            many = mc.gets_many(list(values)[:15])
            check_eq({k: v[0] for k, v in many.items()}, {k: values[k] for k in list(values)[:15]},
                     "gets_many")
        finally:
            mc.close()


def memccapable_results(out):
    """{subtest: verdict} of the ascii subtests in memccapable's output.
    Its summary (on stderr) can land between a name and its verdict, which
    then starts the next line."""
    results = {}
    lines = out.splitlines()
    for n, line in enumerate(lines):
        if not line.startswith("ascii "):
            continue
        rest = line[len("ascii "):].rstrip()
        if rest.endswith("]") and "[" in rest:
            name, _, verdict = rest.rpartition("[")
        else:
            name = rest.split("  ")[0]
            after = lines[n + 1].strip() if n + 1 < len(lines) else ""
            verdict = after[1:] if after.startswith("[") else "?"
        results[name.strip()] = verdict.rstrip("]")
    return results


def test_memccapable_through_cluster():
    if not os.access(MEMCCAPABLE, os.X_OK):
        raise TestSkip("%s not installed (libmemcached-tools)" % MEMCCAPABLE)
    from test_clients import MEMCCAPABLE_TESTS
    with Cluster() as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        # Point it at a node that owns none of its flush test keys, so that
        # flush_all must reach the other nodes to pass (when there is one).
        flush_owners = {oracle.owner(b"test_ascii_flush"), oracle.owner(b"test_ascii_flush_noreply")}
        entry = next((i for i, nid in enumerate(cl.ids) if nid not in flush_owners), 0)
        print("memccapable -a against %s (flush keys owned by %s)"
              % (cl.ids[entry], ", ".join(sorted(flush_owners))))
        proc = subprocess.run(
            [MEMCCAPABLE, "-a", "-t", "5", "-h", cl.hosts[entry], "-p", str(cl.ports[entry])],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = proc.stdout.decode("utf-8", "replace")
        print(out, end="")
        results = memccapable_results(out)
        want = {name: "pass" for name in shlex.split(MEMCCAPABLE_TESTS)}
        failed = sorted(name for name in want if results.get(name) != "pass")
        hint = ""
        if any(name.startswith("flush") for name in failed) and cl.ids[entry] not in flush_owners:
            hint = ("; its flush tests set a key owned by %s and expect it gone after a "
                    "flush_all sent to %s, so flush_all must reach every node"
                    % (", ".join(sorted(flush_owners)), cl.ids[entry]))
        check(not failed, "memccapable subtests failing through %s: %s%s"
              % (cl.ids[entry], ", ".join(failed), hint))
        check_eq(sorted(results), sorted(want), "memccapable subtests run")
        check("All tests passed" in out, "memccapable did not report success")
        check_eq(proc.returncode, 0, "memccapable exit status")


# ---- 8. a single node ----

def test_flush_all_reaches_every_member():
    with Cluster() as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        owned = {nid: oracle.keys_of(nid, b"flush:", 5) for nid in cl.ids}
        keys = [k for nid in cl.ids for k in owned[nid]]
        items = {k: (0, b"v" + k) for k in keys}

        def hits(c, ks):
            c.send(b"get " + b" ".join(ks) + b"\r\n")
            return c.read_until(b"END\r\n").count(b"VALUE ")

        with cl.conn(1) as c:
            store_all(c, items)
            check_eq(hits(c, keys), len(keys), "every key readable before flush_all")
            check_eq(c.line(b"flush_all\r\n"), b"OK\r\n", "flush_all through node 2")
            check_eq(hits(c, keys), 0, "every key gone after flush_all")
            store_all(c, items)
            # noreply: nothing comes back, and the next command's reply is its own
            c.send(b"flush_all noreply\r\nmn\r\n")
            check_eq(c.read_until(b"\r\n"), b"MN\r\n", "flush_all noreply answers nothing")
            check_eq(hits(c, keys), 0, "every key gone after flush_all noreply")
            check_eq(c.line(b"flush_all x\r\n"), b"CLIENT_ERROR invalid exptime argument\r\n",
                     "a bad flush_all is refused here, as by memcached")
            store_all(c, items)
        # On a peer's connection (after the hello) flush_all stays local.
        with cl.conn(0) as c:
            check(c.line(b"peer tester %d\r\n" % cl.vnodes).startswith(b"PEER "), "hello")
            check_eq(c.line(b"flush_all\r\n"), b"OK\r\n", "flush_all on a peer connection")
        with cl.conn(1) as c:
            check_eq(hits(c, owned[cl.ids[0]]), 0, "node 1's keys gone")
            check_eq(hits(c, owned[cl.ids[1]] + owned[cl.ids[2]]), 10,
                     "flush_all from a peer connection flushes that node only")
        # A member down: the others are flushed, the client hears which failed.
        cl.kill(2)
        with cl.conn(0) as c:
            reply = c.line(b"flush_all\r\n")
        check(reply.startswith(b"SERVER_ERROR peer "),
              "flush_all with a member down (not yet marked dead) answers %r" % reply)
        with cl.conn(1, 2.0) as c:
            check_eq(hits(c, owned[cl.ids[1]]), 0, "the reachable member was flushed anyway")


def test_forwarded_command_is_never_forwarded_again():
    """A node serves whatever arrives on a peer connection itself, even a key
    its own ring gives to another node: two views that disagree cannot make
    a request bounce."""
    with Cluster() as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        key = oracle.keys_of(cl.ids[1], b"bounce:", 1)[0]  # owned by node 2
        with cl.conn(0) as c:
            check(c.line(b"peer tester %d\r\n" % cl.vnodes).startswith(b"PEER "), "hello")
            check_eq(c.set_value(key, b"here"), b"STORED\r\n", "set on a peer connection")
            check_eq(cluster_field(c, "forwarded"), 0, "nothing forwarded from a peer connection")
        check_eq(curr_items(cl.nodes[0]), 1, "stored where it arrived")
        check_eq(curr_items(cl.nodes[1]), 0, "not on the ring's owner")


def test_single_node():
    require_meshcached()
    # No --peers at all, then --peers naming only itself.
    port = mchelper.free_port()
    for args in ([], ["--peers", "127.0.0.1:%d" % port]):
        with Daemon(args=args, port=port) as d, d.connect(2.0) as c:
            nid = "127.0.0.1:%d" % d.port
            v = cluster_view(c)
            what = "stats cluster of a single node (flags %r)" % args
            v.check_format()
            check_eq(v.self_id, nid, what + ": self (default id <-l>:<-p>)")
            check_eq(v.members, {nid: ("alive", nid)}, what + ": members")
            want = {"ring_nodes": "1", "ring_vnodes": str(DEFAULT_VNODES), "ring_share": "1.0000",
                    "peer_timeout_ms": str(DEFAULT_PEER_TIMEOUT_MS), "forwarded": "0",
                    "forward_errors": "0"}
            check_eq({k: v.fields.get(k) for k in want}, want, what)
            check_eq(c.set_value(b"k", b"v"), b"STORED\r\n", "set on a single node")
            check_eq(c.get_value(b"k"), b"v", "get on a single node")
            check_eq(cluster_view(c).fields["forwarded"], "0", "forwarded on a single node")
            check_eq(c.stats()["curr_items"], "1", "curr_items")


if __name__ == "__main__":
    mchelper.run_tests([
        test_murmur3_oracle,
        test_single_node,
        test_cluster_forms,
        test_keys_stored_on_owners,
        test_multiget_key_order,
        test_relay_byte_exact,
        test_relay_pipelined_mix,
        test_node_killed,
        test_node_restarted,
        test_node_stopped_times_out,
        test_pymemcache_through_cluster,
        test_memccapable_through_cluster,
        test_flush_all_reaches_every_member,
        test_forwarded_command_is_never_forwarded_again,
    ])
