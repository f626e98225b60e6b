#!/usr/bin/python3
"""Replication: three $MESHCACHED nodes on 127.0.0.2-4 (test_cluster's
Cluster, -t 2) keeping --replicas copies of every key.

Each node's own copy of a key is read with `rg` over a connection that
introduced itself with `peer` (served locally, never forwarded), so the
copies are compared replica by replica, not only through the cluster.

Covered, with N=3 W=2 R=2 unless said otherwise: 5,000 keys written through
all nodes are on every replica with one version, and gets agree; one node
killed with -9 (reads keep working, writes succeed once it is dead); a
second one killed (quorum errors, fast, never a value); both restarted
empty (hints, read repair and convergence of every copy, deletes stay
deleted); 4 threads incrementing one key through different nodes; 4 threads
setting the same keys; N=2 W=1 R=1 (exactly two copies, on the ring's
owners, tombstones on both); malformed peer commands. Regressions: a read
repairing a tombstone or an empty value; two owners forwarding writes to
each other at once; the lone live owner answering a quorum error as a
connection's first command.

Every wait is bounded; every daemon is killed or stopped in a finally;
nothing signals a process this test did not start.
"""

import bisect
import contextlib
import re
import subprocess
import threading
import time
from collections import namedtuple

import mchelper
import test_cluster as tc
from mchelper import TestFailure, TestSkip, check, check_eq

PEER_TIMEOUT_MS = 500
QUORUM_ERROR_LIMIT = 2 * PEER_TIMEOUT_MS / 1000.0  # kill -> quorum error, per request
DEATH_TIMEOUT = 6.0  # kill -9 -> dead in the survivors' views (3 pings, 1 a second)
REVIVE_TIMEOUT = 6.0  # restart -> alive again everywhere
SETTLE_TIMEOUT = 5.0  # a write answered -> on every live replica
CONVERGE_TIMEOUT = 20.0  # restart -> every copy of every key the newest
BATCH = 250  # commands pipelined in one write
N_KEYS = 5000
QUORUM_RE = re.compile(rb"^SERVER_ERROR (write|read) quorum not met \((\d+) of (\d+)\)\r\n$")


def repl_args(n, w, r, threads=2):
    # after test_cluster's "--replicas 1": the later flag wins
    return ["-t", str(threads), "--replicas", str(n), "--write-quorum", str(w),
            "--read-quorum", str(r)]


def start_cluster(n, w, r, threads=2):
    """A formed 3-node cluster with N, W, R checked in every `stats cluster`."""
    cl = tc.Cluster(peer_timeout_ms=PEER_TIMEOUT_MS, extra=repl_args(n, w, r, threads))
    cl.start()
    try:
        views = cl.wait_formed()
        want = {"replicas": str(n), "write_quorum": str(w), "read_quorum": str(r)}
        for i, v in views.items():
            check_eq({f: v.fields.get(f) for f in want}, want,
                     "%s's stats cluster quorum fields" % cl.ids[i])
        print("formed in %.1f s: N=%d W=%d R=%d" % (time.monotonic() - cl.started, n, w, r))
    except Exception:
        cl.stop(clean=False)
        raise
    return cl


@contextlib.contextmanager
def stopped_after(cl):
    """A started cluster for a with block; every node must exit cleanly
    unless the block failed."""
    ok = False
    try:
        yield cl
        ok = True
    finally:
        cl.stop(clean=ok)


def running(n, w, r, threads=2):
    """start_cluster() for a with block (see stopped_after())."""
    return stopped_after(start_cluster(n, w, r, threads))


REPL_COUNTERS = ["ring_down", "repl_writes", "repl_applied", "repl_write_failures",
                 "quorum_failures", "forward_errors", "hints_stored", "hints_delivered"]


def repl_counters(cl):
    """The replication counters of the running nodes, for a failure message."""
    out = []
    for i, d in enumerate(cl.nodes):
        if not d.alive():
            continue
        try:
            out.append("%s %s" % (cl.ids[i], cluster_stats(cl, i, REPL_COUNTERS)))
        except Exception as e:  # a diagnostic only
            out.append("%s: %s" % (cl.ids[i], e))
    return "counters: " + "; ".join(out)


def cluster_stats(cl, i, names):
    with cl.conn(i, 2.0) as c:
        v = tc.cluster_view(c)
    return {name: v.field_int(name) for name in names}


# ---- one node's own copies ----

# A key's copy on one node, as rg gives it.
Copy = namedtuple("Copy", "version flags exptime value tomb")


def peer_conn(cl, i, timeout=mchelper.IO_TIMEOUT):
    """A connection to node i introduced as a peer: commands are served by
    node i itself. Only rg (and deliberate rs) go over it."""
    c = cl.conn(i, timeout)
    try:
        hello = c.line(b"peer repl-test %d\r\n" % cl.vnodes)
        check(hello.startswith(b"PEER %s " % cl.ids[i].encode()),
              "peer hello to %s answered %r" % (cl.ids[i], hello))
    except Exception:
        c.close()
        raise
    return c


def read_copy(conn, timeout=None):
    """One rg reply: a Copy, or None for EN."""
    line = conn.read_until(b"\r\n", timeout)
    if line == b"EN\r\n":
        return None
    parts = line.split()
    check(parts[:1] == [b"VA"] and len(parts) in (5, 6) and all(p.isdigit() for p in parts[1:5]),
          "bad rg reply %r" % line)
    data = conn.read_exact(int(parts[1]) + 2, timeout)
    check(data.endswith(b"\r\n"), "rg data not ended by \\r\\n after %r" % line)
    opts = parts[5] if len(parts) == 6 else b""
    return Copy(int(parts[4]), int(parts[2]), int(parts[3]), data[:-2], b"t" in opts)


def rg_copies(conn, keys, timeout):
    """{key: Copy or None} over a peer connection (pipelined rg)."""
    out = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start:start + BATCH]
        conn.send(b"".join(b"rg %s\r\n" % k for k in chunk))
        for k in chunk:
            out[k] = read_copy(conn, timeout)
    return out


def copies_of(cl, i, keys):
    """{key: Copy or None} of node i."""
    with peer_conn(cl, i, 10) as c:
        return rg_copies(c, keys, 10)


# An expected state of a key: ("val", flags, data) or ("tomb",).
def tomb():
    return ("tomb",)


def fits(want, copy):
    """Whether a copy is the expected state (a tombstone may also be absent)."""
    if want[0] == "tomb":
        return copy is None or (copy.tomb and copy.value == b"")
    return copy is not None and not copy.tomb and (copy.flags, copy.value) == want[1:]


def same_copy(a, b):
    if a is None or b is None:
        return a is b
    return (a.version, a.flags, a.value, a.tomb) == (b.version, b.flags, b.value, b.tomb)


def check_replicas_agree(cl, nodes, allowed, timeout, what, reread=None):
    """Polls rg on nodes until, for every key of allowed ({key: [states]}),
    every node's copy fits one allowed state and all present copies are
    the same version; a tombstone may be absent on some nodes. Between polls
    reread(lagging {node: [keys]}) may nudge the laggards. Returns (seconds
    waited, {key: the copy}, polls)."""
    t0 = time.monotonic()
    keys = list(allowed)
    agreed = {}
    polls = 0
    while True:
        polls += 1
        got = {i: copies_of(cl, i, keys) for i in nodes}
        bad, lagging = [], {}
        for k in keys:
            cs = [got[i][k] for i in nodes]
            present = [c for c in cs if c is not None]
            if (all(any(fits(w, c) for w in allowed[k]) for c in cs)
                    and all(same_copy(present[0], c) for c in present[1:])
                    and (len(present) == len(cs) or allowed[k] == [tomb()])):
                agreed[k] = present[0] if present else None
                continue
            bad.append(k)
            newest = max((c.version for c in present), default=0)
            for i, c in zip(nodes, cs):
                if c is None or c.version < newest or not any(fits(w, c) for w in allowed[k]):
                    lagging.setdefault(i, []).append(k)
        if not bad:
            return time.monotonic() - t0, agreed, polls
        if time.monotonic() - t0 > timeout:
            lines = ["%r: want one of %r;\n      %s" % (
                k, allowed[k], "\n      ".join("%s: %r" % (cl.ids[i], got[i][k]) for i in nodes))
                for k in bad[:5]]
            raise TestFailure("%s: %d of %d keys differ between replicas after %.1f s (%d polls), "
                              "e.g.\n    %s" % (what, len(bad), len(keys), timeout, polls,
                                                "\n    ".join(lines)))
        keys = bad
        if reread is not None:
            reread(lagging)
        time.sleep(0.2)


# ---- client commands, pipelined ----

def pipeline(conn, reqs, reader, what, timeout=10):
    """Sends reqs (bytes each), BATCH at a time, and reads one reply per
    request with reader(conn, timeout)."""
    out = []
    for start in range(0, len(reqs), BATCH):
        chunk = reqs[start:start + BATCH]
        conn.send(b"".join(chunk))
        for n in range(len(chunk)):
            try:
                out.append(reader(conn, timeout))
            except TestFailure as e:
                raise TestFailure("%s: reply %d of %d (%d before them): %s"
                                  % (what, n + 1, len(chunk), start, e))
    return out


def read_line(conn, timeout=None):
    return conn.read_until(b"\r\n", timeout)


def read_get(conn, timeout=None):
    """One single-key get/gets reply: ("val", flags, data, cas or None),
    ("miss",) or ("error", line)."""
    line = conn.read_until(b"\r\n", timeout)
    if line == b"END\r\n":
        return ("miss",)
    if not line.startswith(b"VALUE "):
        return ("error", line)
    parts = line.split()
    check(len(parts) in (4, 5), "bad VALUE line %r" % line)
    data = conn.read_exact(int(parts[3]) + 2, timeout)
    check(data.endswith(b"\r\n"), "value not ended by \\r\\n after %r" % line)
    check_eq(conn.read_until(b"\r\n", timeout), b"END\r\n", "get trailer after %r" % line)
    return ("val", int(parts[2]), data[:-2], int(parts[4]) if len(parts) == 5 else None)


def set_req(key, state):
    _, flags, data = state
    return b"set %s %d 0 %d\r\n%s\r\n" % (key, flags, len(data), data)


def gets_match(cl, i, keys, want, what, retry_for=0.0):
    """Pipelined gets of keys through node i; each must give want[key]
    (a miss for a tombstone). Keys answered otherwise are asked again for
    up to retry_for seconds. Returns how many keys needed another get."""
    deadline = time.monotonic() + retry_for
    todo, retried = list(keys), set()
    while True:
        with cl.conn(i, 10) as c:
            try:
                got = pipeline(c, [b"get %s\r\n" % k for k in todo], read_get, what)
            except TestFailure as e:
                raise TestFailure("%s; %s: %s" % (e, cl.ids[i], node_state(cl.nodes[i])))
        bad = []
        for k, g in zip(todo, got):
            w = want[k]
            if (w[0] == "tomb" and g != ("miss",)) or (w[0] == "val" and g[:3] != w):
                bad.append((k, w, g))
        if not bad:
            return len(retried)
        check(time.monotonic() < deadline,
              "%s: %d of %d gets wrong through %s%s, e.g. %s"
              % (what, len(bad), len(keys), cl.ids[i],
                 " (for %.0f s)" % retry_for if retry_for else "",
                 "; ".join("%r want %r got %r" % b for b in bad[:4])))
        todo = [b[0] for b in bad]
        retried.update(todo)
        time.sleep(0.2)


def write_through(cl, nodes, reqs, want_reply, what):
    """Pipelined writes spread round robin over nodes, all connections
    busy at once; every reply must be want_reply."""
    conns = [cl.conn(i, 10) for i in nodes]
    try:
        parts = [reqs[j::len(nodes)] for j in range(len(nodes))]
        for start in range(0, max(len(p) for p in parts), BATCH):
            for c, p in zip(conns, parts):
                c.send(b"".join(p[start:start + BATCH]))
            for i, c, p in zip(nodes, conns, parts):
                for n, req in enumerate(p[start:start + BATCH]):
                    try:
                        reply = c.read_until(b"\r\n", 10)
                    except TestFailure as e:
                        raise TestFailure("%s: %r through %s: %s; %s"
                                          % (what, req.split(b"\r\n")[0], cl.ids[i], e,
                                             node_state(cl.nodes[i])))
                    if reply != want_reply:
                        raise TestFailure("%s: %r (number %d in its batch) through %s answered "
                                          "%r (want %r); %s"
                                          % (what, req.split(b"\r\n")[0], n + 1, cl.ids[i],
                                             reply, want_reply, repl_counters(cl)))
    finally:
        for c in conns:
            c.close()


# ---- 1-4: one cluster through failures ----

def key_of(n):
    return b"rep:%05d" % n


def val_of(phase, n):
    return ("val", (n * 7 + len(phase)) % 65536, b"%s-%05d-" % (phase, n) + b"v" * (n % 61))


class Story:
    """The cluster of tests 1-4 and what the client knows it wrote."""

    def __init__(self):
        self.cl = None
        self.keys = [key_of(n) for n in range(N_KEYS)]
        self.allowed = {}  # key -> [states it may be in on any replica]
        self.phase = 0  # the last phase that passed
        self.survivor_copy = None  # node 0's copies before the restart

    def need(self, phase):
        if self.phase != phase:
            raise TestSkip("test %d of the failure story did not pass" % phase)

    def stop(self):
        if self.cl is not None:
            cl, self.cl = self.cl, None
            cl.stop(clean=False)


story = Story()


def test_every_replica_holds_every_write():
    cl = story.cl = start_cluster(3, 2, 2)
    keys = story.keys
    first = {k: val_of(b"one", n) for n, k in enumerate(keys)}
    t0 = time.monotonic()
    write_through(cl, [0, 1, 2], [set_req(k, first[k]) for k in keys], b"STORED\r\n",
                  "sets of %d keys" % N_KEYS)
    took = time.monotonic() - t0
    print("%d sets through 3 nodes in %.1f s (%.0f/s)" % (N_KEYS, took, N_KEYS / took))
    story.allowed = {k: [first[k]] for k in keys}
    waited, agreed, polls = check_replicas_agree(cl, [0, 1, 2], story.allowed, SETTLE_TIMEOUT,
                                                 "every replica after the sets")
    print("all 3 replicas hold the same version of %d keys (%.2f s after the last reply, "
          "%d polls)" % (N_KEYS, waited, polls))
    t0 = time.monotonic()
    for i in range(3):
        gets_match(cl, i, keys, first, "R=2 get after the sets")
    print("%d R=2 gets through the 3 nodes in %.1f s, all the latest value"
          % (3 * N_KEYS, time.monotonic() - t0))
    sample = keys[::17]
    cas = {}
    for i in range(3):
        with cl.conn(i, 10) as c:
            got = pipeline(c, [b"gets %s\r\n" % k for k in sample], read_get, "gets sample")
        for k, g in zip(sample, got):
            check(g[0] == "val", "gets %r through %s: %r" % (k, cl.ids[i], g))
            check_eq(g[3], agreed[k].version, "gets CAS of %r through %s (want rg's version)"
                     % (k, cl.ids[i]))
            cas.setdefault(k, set()).add(g[3])
    check(all(len(v) == 1 for v in cas.values()), "CAS differs between nodes")
    stats = [cluster_stats(cl, i, ["repl_writes", "repl_applied", "repl_write_failures",
                                   "quorum_failures", "forward_errors"]) for i in range(3)]
    print("repl stats per node: %s" % stats)
    check_eq(sum(s["quorum_failures"] for s in stats), 0, "quorum failures with every node up")
    story.phase = 1


def test_one_node_killed_keeps_reads_and_writes():
    story.need(1)
    cl, keys = story.cl, story.keys
    victim, survivors = 2, [0, 1]
    want = {k: story.allowed[k][0] for k in keys}
    killed_at = time.monotonic()
    cl.kill(victim)
    for i in survivors:
        gets_match(cl, i, keys, want, "R=2 get right after kill -9 of %s" % cl.ids[victim])
    read_took = time.monotonic() - killed_at
    with cl.conn(0, 2.0) as c:
        declared = tc.cluster_view(c).members[cl.ids[victim]][0] == "dead"
    print("%d R=2 gets through the survivors right after the kill: all the latest value, "
          "in %.1f s (%s declared dead by then: %s)"
          % (len(survivors) * N_KEYS, read_took, cl.ids[victim], declared))
    cl.wait_views(survivors, [cl.ids[i] for i in survivors], [cl.ids[victim]],
                  deadline=killed_at + DEATH_TIMEOUT,
                  what="%s dead within %.0f s of kill -9" % (cl.ids[victim], DEATH_TIMEOUT))
    print("%s declared dead after %.1f s" % (cl.ids[victim], time.monotonic() - killed_at))
    for i in survivors:
        gets_match(cl, i, keys, want, "R=2 get once %s is dead" % cl.ids[victim])
    # New writes: 1,000 overwrites and 200 deletes.
    over, gone = keys[:1000], keys[1000:1200]
    for n, k in enumerate(over):
        want[k] = val_of(b"two", n)
    t0 = time.monotonic()
    write_through(cl, survivors, [set_req(k, want[k]) for k in over], b"STORED\r\n",
                  "overwrite with one node dead")
    write_through(cl, survivors, [b"delete %s\r\n" % k for k in gone], b"DELETED\r\n",
                  "delete with one node dead")
    print("1000 sets and 200 deletes through the survivors in %.1f s" % (time.monotonic() - t0))
    for k in gone:
        want[k] = tomb()
    changed = {k: [want[k]] for k in over + gone}
    waited, agreed, _ = check_replicas_agree(cl, survivors, changed, SETTLE_TIMEOUT,
                                             "the survivors after the writes")
    check(all(agreed[k] is not None and agreed[k].tomb for k in gone),
          "deleted keys are tombstones on both survivors")
    for i in survivors:
        gets_match(cl, i, over + gone, want, "R=2 get of the new writes")
    hints = [cluster_stats(cl, i, ["hints_stored", "hints_dropped"]) for i in survivors]
    print("survivors agree on the 1200 writes (%.2f s); hints %s" % (waited, hints))
    check(sum(h["hints_stored"] for h in hints) > 0,
          "hints stored for the dead %s" % cl.ids[victim])
    story.allowed = {k: [want[k]] for k in keys}
    story.phase = 2


def node_state(node):
    """How a daemon is doing, for a failure message (a crashing one is
    given a second to be gone)."""
    try:
        node.proc.wait(1)
    except subprocess.TimeoutExpired:
        return "it is still running"
    log = node.log_tail(2500)
    return "it exited with status %r%s" % (node.proc.returncode, "; log:\n" + log if log else "")


def timed_line(conn, data, limit, node):
    """Sends data; returns (first reply line, seconds). A reply later than
    3 x limit is a hang."""
    t0 = time.monotonic()
    conn.send(data)
    try:
        line = conn.read_until(b"\r\n", 3 * limit)
    except TestFailure as e:
        raise TestFailure("%r: no reply within %.1f s: %s; %s"
                          % (data.split(b"\r\n")[0], 3 * limit, e, node_state(node)))
    return line, time.monotonic() - t0


def quorum_window(conn, node, ops, limit, forward_ok, what):
    """Runs [(request, kind)] one at a time; every reply must be a single
    SERVER_ERROR line (a quorum error, or with forward_ok, for writes, the
    forwarding error for an owner not yet known dead) within limit.
    Returns {kind: [seconds]} and {reply: count}."""
    took, seen = {}, {}
    for req, kind in ops:
        line, t = timed_line(conn, req, limit, node)
        m = QUORUM_RE.match(line)
        fwd = forward_ok and kind != "read" and line.startswith(b"SERVER_ERROR peer ")
        check(m is not None or fwd, "%s: %r answered %r (want SERVER_ERROR ... quorum not met%s)"
              % (what, req.split(b"\r\n")[0], line,
                 ", or a forwarding error" if forward_ok else ""))
        if m is not None:
            check_eq(m.group(1), b"read" if kind == "read" else b"write",
                     "%s: quorum error of %r" % (what, req.split(b"\r\n")[0]))
            check_eq(m.group(3), b"2", "%s: quorum in %r" % (what, line))
        check(t <= limit, "%s: %r answered %r after %.2f s (limit %.2f s = 2 x peer_timeout)"
              % (what, req.split(b"\r\n")[0], line, t, limit))
        took.setdefault(kind, []).append(t)
        seen[line] = seen.get(line, 0) + 1
    # a single error line per request: nothing else may follow
    check_eq(conn.line(b"mn\r\n"), b"MN\r\n", "%s: nothing after the errors" % what)
    return took, seen


def describe_times(took):
    return ", ".join("%s max %.3f s median %.3f s (%d)" % (
        kind, max(ts), sorted(ts)[len(ts) // 2], len(ts)) for kind, ts in sorted(took.items()))


def test_two_nodes_killed_quorum_errors():
    story.need(2)
    cl, keys = story.cl, story.keys
    survivor, victim = 0, 1
    sid = cl.ids[survivor]
    # window A: right after the kill, before the victim is known dead
    a_sets = [(n, val_of(b"three-a", n)) for n in range(2000, 2020)]
    ops = []
    for (n, st), r in zip(a_sets, range(3000, 3020)):
        ops.append((set_req(key_of(n), st), "set"))
        ops.append((b"get %s\r\n" % key_of(r), "read"))
    killed_at = time.monotonic()
    cl.kill(victim)
    with cl.conn(survivor, 10) as c:
        took_a, seen_a = quorum_window(c, cl.nodes[survivor], ops, QUORUM_ERROR_LIMIT, True,
                                       "on %s right after the second kill" % sid)
    print("right after kill -9 of %s (%.1f s of requests): %s; replies %s"
          % (cl.ids[victim], time.monotonic() - killed_at, describe_times(took_a),
             {k.decode().strip(): v for k, v in seen_a.items()}))
    cl.wait_views([survivor], [sid], [cl.ids[1], cl.ids[2]], deadline=killed_at + DEATH_TIMEOUT,
                  what="%s dead within %.0f s of kill -9" % (cl.ids[victim], DEATH_TIMEOUT))
    print("%s declared dead after %.1f s" % (cl.ids[victim], time.monotonic() - killed_at))
    # window B: the survivor is the only live owner of every key
    b_sets = [(n, val_of(b"three-b", n)) for n in range(2020, 2040)]
    b_dels = list(range(2040, 2060))
    ops = [(set_req(key_of(n), st), "set") for n, st in b_sets]
    ops += [(b"delete %s\r\n" % key_of(n), "delete") for n in b_dels]
    ops += [(b"get %s\r\n" % key_of(n), "read") for n in range(3020, 3040)]
    ops += [(b"gets %s %s %s\r\n" % (key_of(1), key_of(2500), key_of(4999)), "read"),
            (b"mg %s v\r\n" % key_of(3040), "read"),
            (b"touch %s 0\r\n" % key_of(3041), "touch")]
    with cl.conn(survivor, 10) as c:
        took_b, seen_b = quorum_window(c, cl.nodes[survivor], ops, QUORUM_ERROR_LIMIT, False,
                                       "on %s alone, the others dead" % sid)
    print("%s alone: %s; replies %s" % (sid, describe_times(took_b),
                                        {k.decode().strip(): v for k, v in seen_b.items()}))
    # A write that missed its quorum may stay on the survivor (and spread
    # later): either the old or the new state is allowed from now on.
    for n, st in a_sets + b_sets:
        story.allowed[key_of(n)].append(st)
    for n in b_dels:
        story.allowed[key_of(n)].append(tomb())
    copies = copies_of(cl, survivor, keys)
    bad = [k for k in keys if not any(fits(w, copies[k]) for w in story.allowed[k])]
    check(not bad, "%s's copies after the failed writes, e.g. %s"
          % (sid, ["%r: %r want %r" % (k, copies[k], story.allowed[k]) for k in bad[:4]]))
    stuck = sum(1 for n, st in a_sets + b_sets if fits(st, copies[key_of(n)]))
    stuck += sum(1 for n in b_dels if fits(tomb(), copies[key_of(n)]))
    print("writes answered with a quorum error yet kept on %s: %d of %d"
          % (sid, stuck, len(a_sets) + len(b_sets) + len(b_dels)))
    # What the survivor holds is the newest state of every key.
    story.survivor_copy = copies
    story.phase = 3


def test_restarted_nodes_converge():
    story.need(3)
    cl, keys = story.cl, story.keys
    survivor, back = 0, [2, 1]
    truth = story.survivor_copy
    want = {}
    for k in keys:
        c = truth[k]
        want[k] = tomb() if c is None or c.tomb else ("val", c.flags, c.value)
    restarted = time.monotonic()
    for i in back:
        cl.restart(i)
    cl.wait_views(range(3), cl.ids, deadline=restarted + REVIVE_TIMEOUT,
                  what="%s alive again within %.0f s of their restart"
                  % (" and ".join(cl.ids[i] for i in back), REVIVE_TIMEOUT))
    print("both alive again after %.1f s" % (time.monotonic() - restarted))
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        h = cluster_stats(cl, survivor, ["hints_stored", "hints_delivered", "hints_dropped"])
        if h["hints_delivered"] > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print("%s's hints %.1f s after the restart: %s" % (cl.ids[survivor],
                                                     time.monotonic() - restarted, h))
    check(h["hints_delivered"] > 0, "hints delivered by %s within %.0f s of the members' return"
          % (cl.ids[survivor], SETTLE_TIMEOUT))
    # A read through the survivor merges its copy (the newest) with another
    # owner's and repairs that one; afterwards two owners of every key are
    # current, so an R=2 read anywhere must see the newest.
    gets_match(cl, survivor, keys, want, "R=2 get through %s after the restart" % cl.ids[survivor])
    applied = None
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        now = [cluster_stats(cl, i, ["repl_applied"])["repl_applied"] for i in back]
        if now == applied:
            break
        applied = now
        time.sleep(0.5)
    # The repairs are sent in the background: a key read too early may be
    # asked again.
    retried = [gets_match(cl, i, keys, want, "R=2 get through the restarted %s after a read "
                          "pass through %s" % (cl.ids[i], cl.ids[survivor]), SETTLE_TIMEOUT)
               for i in back]
    print("read every key through %s, then through %s: all the newest (%s keys asked again; "
          "%.1f s after the restart)" % (cl.ids[survivor], " and ".join(cl.ids[i] for i in back),
                                        " and ".join(map(str, retried)),
                                        time.monotonic() - restarted))

    def reread(lagging):
        for i, ks in lagging.items():
            with cl.conn(i, 10) as c:
                pipeline(c, [b"get %s\r\n" % k for k in ks], read_get, "re-read")

    allowed = {k: [want[k]] for k in keys}
    waited, agreed, polls = check_replicas_agree(
        cl, [0, 1, 2], allowed, CONVERGE_TIMEOUT, "every copy after the restart", reread)
    for k in keys:
        if want[k][0] == "val":
            check_eq(agreed[k].version, truth[k].version, "converged version of %r" % k)
    tombs = sum(1 for k in keys if want[k][0] == "tomb")
    stats = [cluster_stats(cl, i, ["read_repairs", "hints_delivered", "repl_applied"])
             for i in range(3)]
    print("every node's copy of %d keys is %s's (%d deleted: tombstones or absent, none back) "
          "%.1f s after the restart (%d polls); stats %s"
          % (N_KEYS, cl.ids[survivor], tombs, time.monotonic() - restarted, polls, stats))
    story.phase = 4
    cl, story.cl = story.cl, None
    cl.stop()  # every node must exit cleanly


# ---- 5, 6: concurrency ----

def run_threads(fns, timeout, what):
    """Runs fns in threads; fails on the first exception or on a thread
    still running after timeout."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in fns]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    check(not any(t.is_alive() for t in threads), "%s: threads still running after %.0f s"
          % (what, timeout))
    if errors:
        raise TestFailure("%s: %s" % (what, errors[0]))


THREAD_NODES = [0, 1, 2, 0]


def test_concurrent_incr_counts_every_increment():
    per_thread, batch = 10000, 100
    key = b"counter"
    with running(3, 2, 2) as cl:
        with cl.conn(0) as c:
            check_eq(c.set_value(key, b"0"), b"STORED\r\n", "set counter")
        results = [[] for _ in THREAD_NODES]

        def worker(t):
            def run():
                with cl.conn(THREAD_NODES[t], 10) as c:
                    for _ in range(per_thread // batch):
                        c.send(b"incr %s 1\r\n" % key * batch)
                        for _ in range(batch):
                            line = c.read_until(b"\r\n", 10)
                            check(line[:-2].isdigit(), "incr through %s answered %r"
                                  % (cl.ids[THREAD_NODES[t]], line))
                            results[t].append(int(line))
            return run

        t0 = time.monotonic()
        run_threads([worker(t) for t in range(len(THREAD_NODES))], 150, "incr threads")
        took = time.monotonic() - t0
        total = per_thread * len(THREAD_NODES)
        print("%d incrs by %d threads through nodes %s in %.1f s (%.0f/s)"
              % (total, len(THREAD_NODES), THREAD_NODES, took, total / took))
        seen = sorted(v for r in results for v in r)
        dups = len(seen) - len(set(seen))
        check(seen == list(range(1, total + 1)),
              "incr replies are not 1..%d each once: %d replies, %d duplicates, min %s max %s"
              % (total, len(seen), dups, seen[:1], seen[-1:]))
        want = {key: [("val", 0, b"%d" % total)]}
        waited, agreed, _ = check_replicas_agree(cl, [0, 1, 2], want, SETTLE_TIMEOUT,
                                                 "the counter's replicas")
        print("every replica holds %d (%.2f s after the last reply), version %d"
              % (total, waited, agreed[key].version))
        for i in range(3):
            with cl.conn(i) as c:
                check_eq(c.get_value(key), b"%d" % total, "counter through %s" % cl.ids[i])


def test_concurrent_sets_converge():
    nkeys, duration = 200, 3.0
    keys = [b"race:%03d" % n for n in range(nkeys)]
    with running(3, 2, 2) as cl:
        last = [dict() for _ in THREAD_NODES]  # thread -> key -> its last acknowledged value
        rounds = [0] * len(THREAD_NODES)

        def worker(t):
            def run():
                end = time.monotonic() + duration
                with cl.conn(THREAD_NODES[t], 10) as c:
                    while time.monotonic() < end and rounds[t] < 1000:
                        vals = {k: b"t%d-r%d-%s" % (t, rounds[t], k) + b"x" * (t * 10)
                                for k in keys}
                        c.send(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, t, len(v), v)
                                        for k, v in vals.items()))
                        for k in keys:
                            line = c.read_until(b"\r\n", 10)
                            check(line == b"STORED\r\n", "set %r through %s answered %r"
                                  % (k, cl.ids[THREAD_NODES[t]], line))
                        last[t] = vals
                        rounds[t] += 1
            return run

        run_threads([worker(t) for t in range(len(THREAD_NODES))], duration + 60, "set threads")
        print("rounds of %d sets per thread: %s" % (nkeys, rounds))
        # A thread's writes to a key run in order on the key's first owner,
        # so the survivor of the race is one thread's last write.
        allowed = {k: [("val", t, last[t][k]) for t in range(len(THREAD_NODES)) if k in last[t]]
                   for k in keys}
        waited, agreed, polls = check_replicas_agree(cl, [0, 1, 2], allowed, SETTLE_TIMEOUT,
                                                     "replicas after the racing sets")
        winners = {}
        for k in keys:
            winners[agreed[k].flags] = winners.get(agreed[k].flags, 0) + 1
        print("all replicas agree on %d keys %.2f s after the race (%d polls); last writes won "
              "per thread: %s" % (nkeys, waited, polls, winners))
        want = {k: ("val", agreed[k].flags, agreed[k].value) for k in keys}
        for i in range(3):
            gets_match(cl, i, keys, want, "R=2 get after the race")


# ---- 7: two copies, W=1, R=1 ----

def preference(oracle, key, n):
    """The first n distinct nodes clockwise from the key (src/cluster/ring.h)."""
    i = bisect.bisect_left(oracle.tokens, tc.murmur3_x86_32(key, tc.RING_SEED))
    out = []
    for step in range(len(oracle.tokens)):
        nid = oracle.point_owner[(i + step) % len(oracle.tokens)]
        if nid not in out:
            out.append(nid)
            if len(out) == n:
                break
    return out


def test_two_replicas_write_one_read_one():
    nkeys = 300
    keys = [b"two:%03d" % n for n in range(nkeys)]
    items = {k: ("val", n, b"two-copies-%d" % n) for n, k in enumerate(keys)}
    with running(2, 1, 1) as cl:
        oracle = cl.oracle()
        owners = {k: preference(oracle, k, 2) for k in keys}
        write_through(cl, [0, 1, 2], [set_req(k, items[k]) for k in keys], b"STORED\r\n",
                      "N=2 sets")
        # W=1: the second copy may trail the reply by a moment.
        retried = 0
        for i in range(3):
            todo = keys
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while True:
                with cl.conn(i) as c:
                    got = pipeline(c, [b"get %s\r\n" % k for k in todo], read_get, "N=2 get")
                todo = [k for k, g in zip(todo, got) if g[:3] != items[k]]
                if not todo:
                    break
                check(time.monotonic() < deadline, "N=2: %d keys not readable through %s after "
                      "%.0f s, e.g. %r" % (len(todo), cl.ids[i], SETTLE_TIMEOUT, todo[:3]))
                retried += len(todo)
                time.sleep(0.1)
        print("%d keys readable through all 3 nodes (%d gets retried)" % (nkeys, retried))

        def holders(pred):
            copies = {i: copies_of(cl, i, keys) for i in range(3)}
            return copies, {k: sorted(cl.ids[i] for i in range(3) if pred(k, copies[i][k]))
                            for k in keys}

        def wait_holders(pred, what):
            deadline = time.monotonic() + SETTLE_TIMEOUT
            while True:
                copies, held = holders(pred)
                bad = [k for k in keys if held[k] != sorted(owners[k])]
                if not bad or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            check(not bad, "%s: %d of %d keys wrong, e.g. %s" % (
                what, len(bad), nkeys, "; ".join("%r on %s, ring owners %s" % (
                    k, held[k], sorted(owners[k])) for k in bad[:4])))
            return copies

        copies = wait_holders(lambda k, c: c is not None and fits(items[k], c),
                              "copies of each key (want exactly its 2 ring owners)")
        for k in keys:
            vs = {copies[i][k].version for i in range(3) if copies[i][k] is not None}
            check_eq(len(vs), 1, "versions of %r's 2 copies" % k)
        per_node = {cl.ids[i]: sum(1 for k in keys if copies[i][k] is not None) for i in range(3)}
        print("every key on exactly its 2 ring owners; copies per node %s" % per_node)
        write_through(cl, [2, 1, 0], [b"delete %s\r\n" % k for k in keys], b"DELETED\r\n",
                      "N=2 deletes")
        wait_holders(lambda k, c: c is not None and c.tomb,
                     "tombstones of the deleted keys (want on both ring owners only)")
        for i in range(3):
            gets_match(cl, i, keys, {k: tomb() for k in keys}, "N=2 get after delete")
        print("tombstones of all %d deleted keys on both owners, none elsewhere" % nkeys)


# ---- 8: malformed peer commands ----

BAD_RS = [
    b"rs k1 0 0 abc 1",  # version not a number
    b"rs k1 0 0 0 1",  # version 0
    b"rs k1 0 0 -5 1",
    b"rs k1 0 0 18446744073709551616 1",  # version past 2^64-1
    b"rs k1 x 0 5 1",  # bad flags
    b"rs k1 4294967296 0 5 1",  # flags past 32 bits
    b"rs k1 0 -1 5 1",  # negative exptime
    b"rs k1 0 0 5 1x",  # bad bytes
    b"rs k1 0 0 5 -1",
    b"rs k1 0 0 5 4294967294",  # bytes past UINT32_MAX - 2
    b"rs k1 0 0 5 99999999999999999999",
    b"rs k1 0 0 5 3 t",  # a tombstone with data
    b"rs !!!! 0 0 5 1 b",  # not base64
    b"rs a2V 0 0 5 1 b",  # unpadded: not valid padded base64
    b"rs k1 0 0 5 1 z",  # unknown opt
    b"rs k1 0 0 5 1 tq",
    b"rs k1 0 0 5",  # too few tokens
    b"rs k1 0 0 5 1 t extra",  # too many
    b"rs " + b"k" * 251 + b" 0 0 5 1",  # key too long
]

BAD_RG = [
    b"rg",  # no key
    b"rg k1 x",  # unknown opt
    b"rg k1 bb",
    b"rg k1 b",  # "k1" is not base64
    b"rg !!!! b",
    b"rg " + b"k" * 251,  # key too long
    b"rg k1 b extra",
]


def test_bad_peer_input_is_refused():
    with running(3, 2, 2) as cl:  # R + W > N: a get after a set sees it
        node = 1
        for bad in BAD_RS:
            with peer_conn(cl, node, 2.0) as c:
                c.send(bad + b"\r\nx\r\nrg k1\r\n")
                reply = c.read_until(b"\r\n")
                rest = c.read_until_eof(2.0)
            check(reply.startswith(b"CLIENT_ERROR "), "%r on a peer connection answered %r "
                  "(want CLIENT_ERROR)" % (bad[:60], reply))
            check_eq(rest, b"", "after %r (want the connection closed, like memcached after a "
                     "bad storage line)" % bad[:60])
        with peer_conn(cl, node, 2.0) as c:
            for bad in BAD_RG:
                check(c.line(bad + b"\r\n").startswith(b"CLIENT_ERROR "),
                      "%r on a peer connection: want CLIENT_ERROR" % bad[:60])
            check_eq(c.line(b"rg k1\r\n"), b"EN\r\n", "rg k1: nothing stored by the bad lines")
            # An item too large for the cache: refused, its data swallowed.
            big = 2 * 1024 * 1024
            c.send(b"rs k1 0 0 5 %d\r\n" % big)
            check_eq(c.read_until(b"\r\n"), b"SERVER_ERROR object too large for cache\r\n",
                     "rs of %d bytes" % big)
            c.send(b"y" * big + b"\r\nrg k1\r\n")
            check_eq(c.read_until(b"\r\n", 10), b"EN\r\n", "rg after the swallowed data block")
            # A data block of the wrong length.
            c.send(b"rs k1 0 0 5 1\r\nxyz\r\n")
            check(c.read_until(b"\r\n").startswith(b"CLIENT_ERROR "), "rs with a bad data chunk")
        with peer_conn(cl, node, 2.0) as c:
            # The good ones still work: newer wins, older answers NS <held>.
            check_eq(c.line(b"rs k2 7 0 100 3\r\nabc\r\n"), b"HD\r\n", "rs of a new key")
            check_eq(c.line(b"rs k2 8 0 50 3\r\nold\r\n"), b"NS 100\r\n", "rs of an older version")
            check_eq(c.line(b"rg k2\r\n") + c.read_until(b"\r\n"), b"VA 3 7 0 100\r\nabc\r\n",
                     "rg k2")
            check_eq(c.line(b"rs k2 0 0 101 0 t\r\n\r\n"), b"HD\r\n", "rs of a newer tombstone")
            check_eq(c.line(b"rg k2\r\n")[:-2].split()[:2] + [c.read_until(b"\r\n")],
                     [b"VA", b"0", b"\r\n"], "rg of a tombstone")
            # "bin key\x01" in base64
            check_eq(c.line(b"rs YmluIGtleQE= 0 0 5 2 b\r\nhi\r\n"), b"HD\r\n",
                     "rs of a base64 key")
            check_eq(c.line(b"rg YmluIGtleQE= b\r\n") + c.read_until(b"\r\n"),
                     b"VA 2 0 0 5\r\nhi\r\n",
                     "rg of a base64 key")
        with cl.conn(node, 2.0) as c:
            c.send(b"rs k1 0 0 5 1\r\nx\r\n")
            check_eq(c.read_until(b"\r\n") + c.read_until(b"\r\n"), b"ERROR\r\nERROR\r\n",
                     "rs and its data line on a client connection")
            check_eq(c.line(b"rg k1\r\n"), b"ERROR\r\n", "rg on a client connection")
            check_eq(c.line(b"rg k2\r\n"), b"ERROR\r\n",
                     "rg of a stored key on a client connection")
            check_eq(c.line(b"mn\r\n"), b"MN\r\n", "the client connection after them")
        for i in range(3):
            check(cl.nodes[i].alive(), "%s died" % cl.ids[i])
            with cl.conn(i, 2.0) as c:
                k = b"after:%d" % i
                check_eq(c.set_value(k, b"fine"), b"STORED\r\n", "set through %s" % cl.ids[i])
                check_eq(c.get_value(k), b"fine", "get through %s" % cl.ids[i])
        print("%d bad rs lines and %d bad rg lines refused; the nodes keep serving"
              % (len(BAD_RS), len(BAD_RG)))


# ---- regressions ----

def test_read_repair_copies_tombstones_and_empty_values():
    """An owner without a key that reads it (R=2) from an owner holding a
    tombstone or an empty value keeps that state, a zero-length value,
    before answering."""
    with running(3, 2, 2) as cl:
        version = 1000
        planted = {b"rr:tomb": (b"rs rr:tomb 0 0 %d 0 t\r\n\r\n" % version, tomb()),
                   b"rr:empty": (b"rs rr:empty 5 0 %d 0\r\n\r\n" % version, ("val", 5, b""))}
        for i in (0, 1):  # both other owners; node 2 has nothing
            with peer_conn(cl, i) as c:
                for key, (rs, _) in planted.items():
                    check_eq(c.line(rs), b"HD\r\n", "%r planted on %s" % (key, cl.ids[i]))
        with cl.conn(2, 5) as c:
            for key, (_, want) in planted.items():
                c.send(b"get %s\r\n" % key)
                try:
                    got = read_get(c, 5)
                except TestFailure as e:
                    raise TestFailure("get %r through %s: %s; %s"
                                      % (key, cl.ids[2], e, node_state(cl.nodes[2])))
                check_eq(got[:3], ("miss",) if want[0] == "tomb" else want,
                         "R=2 get of %r through %s" % (key, cl.ids[2]))
        copies = copies_of(cl, 2, list(planted))
        for key, (_, want) in planted.items():
            copy = copies[key]
            check(copy is not None and copy.version == version and fits(want, copy),
                  "%s's copy of %r after the read: %r (want version %d, %r)"
                  % (cl.ids[2], key, copy, version, want))
        print("tombstone and empty value repaired onto %s by a read" % cl.ids[2])


def test_crossed_forwarded_writes_answer_at_once():
    """Two owners each forwarding a write to the other at the same moment:
    each runs the other's write and copies it back, and the copy's answer
    (HD) must not queue behind the forwarded write's answer, which waits for
    the other copy's: that cycle only breaks at peer_timeout, with both
    writes failing. One worker per node (-t 1), so that each direction is
    one connection."""
    trials = 20
    with running(2, 2, 1, threads=1) as cl:
        oracle = cl.oracle()
        a, b = cl.ids[0], cl.ids[1]
        cand = [b"cross:%d" % n for n in range(2000)]
        a_first = [k for k in cand if preference(oracle, k, 2) == [a, b]][:trials + 1]
        b_first = [k for k in cand if preference(oracle, k, 2) == [b, a]][:trials + 1]
        check(len(a_first) > trials and len(b_first) > trials, "not enough keys per owner pair")
        failed, slowest = [], 0.0
        with cl.conn(0) as ca, cl.conn(1) as cb:
            # connections up before the first crossing
            check_eq(ca.set_value(b_first[trials], b"w"), b"STORED\r\n", "warm-up via %s" % a)
            check_eq(cb.set_value(a_first[trials], b"w"), b"STORED\r\n", "warm-up via %s" % b)
            for t in range(trials):
                t0 = time.monotonic()
                ca.send(b"set %s 0 0 1\r\na\r\n" % b_first[t])  # forwarded to b
                cb.send(b"set %s 0 0 1\r\nb\r\n" % a_first[t])  # forwarded to a
                ra = ca.read_until(b"\r\n", 3 * PEER_TIMEOUT_MS / 1000.0)
                rb = cb.read_until(b"\r\n", 3 * PEER_TIMEOUT_MS / 1000.0)
                took = time.monotonic() - t0
                slowest = max(slowest, took)
                if (ra, rb) != (b"STORED\r\n", b"STORED\r\n"):
                    failed.append((t, ra, rb, took))
        print("%d pairs of crossed forwarded sets: %d failed; slowest pair %.3f s"
              % (trials, len(failed), slowest))
        check(not failed, "crossed forwarded sets (one through %s owned first by %s, one "
              "through %s owned first by %s, sent together): %d of %d pairs not both STORED, "
              "e.g. %s" % (a, b, b, a, len(failed), trials, "; ".join(
                  "pair %d: %r and %r after %.3f s" % x for x in failed[:3])))


def test_lone_owner_answers_quorum_errors_on_fresh_connections():
    """The only live owner of every key fails the quorum of a read or write
    that is the first command of a connection, and keeps running."""
    with running(3, 2, 2) as cl:
        with cl.conn(0) as c:
            check_eq(c.set_value(b"lone", b"v"), b"STORED\r\n", "set before the kills")
        killed_at = time.monotonic()
        cl.kill(1)
        cl.kill(2)
        cl.wait_views([0], [cl.ids[0]], [cl.ids[1], cl.ids[2]],
                      deadline=killed_at + DEATH_TIMEOUT, what="two members dead")
        print("both dead after %.1f s" % (time.monotonic() - killed_at))
        cases = [(b"get lone\r\n", b"SERVER_ERROR read quorum not met (1 of 2)\r\n"),
                 (b"mg lone v\r\n", b"SERVER_ERROR read quorum not met (1 of 2)\r\n"),
                 (b"set lone 0 0 1\r\nx\r\n", b"SERVER_ERROR write quorum not met (1 of 2)\r\n"),
                 (b"delete lone\r\n", b"SERVER_ERROR write quorum not met (1 of 2)\r\n")]
        for req, want in cases:
            if not cl.nodes[0].alive():
                raise TestFailure("%s died before %r: %s"
                                  % (cl.ids[0], req.split(b"\r\n")[0], node_state(cl.nodes[0])))
            with cl.conn(0, 5) as c:
                line, took = timed_line(c, req, QUORUM_ERROR_LIMIT, cl.nodes[0])
            check_eq(line, want, "%r as the first command of a connection to the lone %s"
                     % (req.split(b"\r\n")[0], cl.ids[0]))
            check(took <= QUORUM_ERROR_LIMIT, "%r answered after %.2f s" % (req, took))
        if not cl.nodes[0].alive():
            raise TestFailure("%s died: %s" % (cl.ids[0], node_state(cl.nodes[0])))


if __name__ == "__main__":
    try:
        mchelper.run_tests([
            test_every_replica_holds_every_write,
            test_one_node_killed_keeps_reads_and_writes,
            test_two_nodes_killed_quorum_errors,
            test_restarted_nodes_converge,
            test_concurrent_incr_counts_every_increment,
            test_concurrent_sets_converge,
            test_two_replicas_write_one_read_one,
            test_bad_peer_input_is_refused,
            test_read_repair_copies_tombstones_and_empty_values,
            test_crossed_forwarded_writes_answer_at_once,
            test_lone_owner_answers_quorum_errors_on_fresh_connections,
        ])
    finally:
        story.stop()
