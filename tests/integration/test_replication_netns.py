#!/usr/bin/python3
"""Replication across a network partition, made with network namespaces.

$MESHCACHED nodes, each in its own namespace (test_gossip_netns's Net: one
veth link per node to a switch namespace with bridges br0 and br1), formed
by gossip, with --replicas 3 --write-quorum 2 --read-quorum 1: three nodes
(each owns every key), then five (the owners of a key change while one is
dead). After an initial key set, the link of the last node (the isolated
one; the seed stays with the majority) is moved to br1, cutting it off
(1 | rest), while a client in the majority's namespaces keeps writing
through every majority node: overwrites, new keys, deletes, and new values
for deleted keys, pipelined in rounds. Every reply is recorded: STORED and
DELETED are acknowledged writes; a SERVER_ERROR leaves the key in doubt
(the old state or the failed write's, as a write is not undone). Writes go
on until the majority shows the isolated node dead (and the isolated node
the majority, within a bound), plus a while; the keys whose write failed
are then written again, so that no key is in doubt at the heal.

Then:
  - once every majority node shows the isolated node dead, no write fails;
  - before the heal, the majority's owners of every key hold its last
    acknowledged write (those that became owners in place of the isolated
    node may lack what was written before, as values are not copied when
    owners change);
  - the link is moved back (the heal); within CONVERGE_TIMEOUT every owner's
    own copy of every key (rg over a connection introduced with `peer`,
    served by that node and never forwarded) has the same version and the
    value of the last acknowledged write (a deleted key: a tombstone or
    absent on each owner, never an older value), and keeps it until
    CONVERGE_TIMEOUT has passed. No client reads before that, so hinted
    handoff alone must bring the isolated node up to date;
  - gets through every node then answer those values.

The watch goes on after agreement because of a bug this test found: a
forwarded write that had timed out at the forwarder (the client got
SERVER_ERROR) stayed in the kernel's send buffer of the closed peer
connection, was delivered by TCP retransmission after the heal, ran late
on the isolated node with a new version and replaced newer acknowledged
writes everywhere (the retransmission comes 3-9 s after the heal here).

Printed for the record: the time until the isolated node is suspect and
dead in the majority's views (and the majority in its view), the write
errors during the split (how many, which, when), hints_stored and
hints_delivered, the time until every member is alive everywhere after the
heal, and the time until every copy agrees.

It needs root and `ip netns`; it is skipped (77) otherwise. Namespaces,
links and processes are removed in a finally block, always. Every wait is
bounded; nothing signals a process this test did not start.
"""

import bisect
import os
import random
import time

import mchelper
from mchelper import TestFailure, TestSkip, check, check_eq
from test_cluster import RING_SEED, murmur3_x86_32, require_meshcached
from test_gossip import GossipCluster, gossip_view
from test_gossip_netns import GPORT, PORT, InNetns, Net, ip_binary
from test_replication import peer_conn as repl_peer_conn
from test_replication import rg_copies

REPLICAS = 3
REPL_ARGS = ["--replicas", str(REPLICAS), "--write-quorum", "2", "--read-quorum", "1"]

FORM_TIMEOUT = 5.0  # start of the last node -> one view everywhere
# split -> the isolated node dead in every majority view; documented: a
# crashed member is dead everywhere within about 5 to 6 s at the defaults.
DETECT_TIMEOUT = 15.0
# split -> the majority dead in the isolated node's view: only waited for,
# not required (its probes go unanswered, and Lifeguard stretches its
# period; test_gossip_netns measured 5-15 s).
MINORITY_WAIT = 20.0
WRITE_AFTER_DEAD = 3.0  # writes go on this long once the majority shows it dead
HEAL_ALIVE_TIMEOUT = 30.0  # heal -> every member alive everywhere (measured 2-7 s; 17 s seen under ASan on a loaded machine)
# heal -> every copy of every key the same: the heal, then hinted handoff
# (hints are checked every 200 ms once their member is alive again).
CONVERGE_TIMEOUT = 20.0
CONVERGE_AFTER_ALIVE = 5.0  # every member alive everywhere -> every copy the same
HEAL_OBSERVE = 40.0  # when convergence is late: how long to go on watching, for the report
SETTLE_TIMEOUT = 5.0  # the majority's copies of the acknowledged writes
IO_TIMEOUT = 10.0

INIT_KEYS = 300
ROUND_OPS = 30  # pipelined writes per round, spread over the majority nodes
ROUND_PERIOD = 0.05  # seconds between the starts of two rounds (a round may take longer)
BATCH = 250  # rg and get requests pipelined in one write
SEED = 6

HINT_FIELDS = ["hints_stored", "hints_delivered", "hints_dropped", "repl_write_failures",
               "quorum_failures", "forward_errors", "read_repairs"]

# A key's copy on one node, as rg gives it.
TOMB = ("tomb",)  # an expected state: deleted (a tombstone, or absent)


class ReplNetnsCluster(GossipCluster):
    """n gossip nodes, node i in namespace net.ns[i] at net.addrs[i] (like
    test_gossip_netns's NetnsCluster, with any n and the replication
    flags); the test reaches node i from inside its namespace."""

    def __init__(self, net, extra):
        self.net = net
        n = len(net.ns)
        super().__init__(n, hosts=net.addrs, ports=[PORT] * n, gports=[GPORT] * n,
                         prefixes=[[net.ip_bin, "netns", "exec", ns] for ns in net.ns],
                         extra=extra)

    def conn(self, i, timeout=mchelper.IO_TIMEOUT):
        with InNetns(self.net.ns[i]):
            return mchelper.Conn(self.ports[i], timeout, self.hosts[i])


class Owners:
    """src/cluster/ring.h's owners of a key: the first REPLICAS distinct live
    members clockwise from the key's hash (test_cluster's RingOracle holds
    every node's points; a dead member's are skipped)."""

    def __init__(self, oracle):
        self.oracle = oracle
        self.prefs = {}

    def preference(self, key):
        pref = self.prefs.get(key)
        if pref is None:
            tokens, owner = self.oracle.tokens, self.oracle.point_owner
            i = bisect.bisect_left(tokens, murmur3_x86_32(key, RING_SEED))
            pref = []
            for step in range(len(tokens)):
                nid = owner[(i + step) % len(tokens)]
                if nid not in pref:
                    pref.append(nid)
                    if len(pref) == len(self.oracle.ids):
                        break
            self.prefs[key] = pref
        return pref

    def of(self, key, live):
        return [nid for nid in self.preference(key) if nid in live][:REPLICAS]


# ---- one node's own copies ----

def copies_of(conn, keys):
    """{key: Copy or None} over a peer connection."""
    return rg_copies(conn, keys, IO_TIMEOUT)


def peer_conn(cl, i):
    return repl_peer_conn(cl, i, IO_TIMEOUT)


def read_get(conn):
    """One single-key get reply: ("val", flags, data), ("miss",) or
    ("error", line)."""
    line = conn.read_until(b"\r\n", IO_TIMEOUT)
    if line == b"END\r\n":
        return ("miss",)
    if not line.startswith(b"VALUE "):
        return ("error", line)
    parts = line.split()
    check(len(parts) in (4, 5), "bad VALUE line %r" % line)
    data = conn.read_exact(int(parts[3]) + 2, IO_TIMEOUT)
    check_eq(conn.read_until(b"\r\n", IO_TIMEOUT), b"END\r\n", "get trailer after %r" % line)
    return ("val", int(parts[2]), data[:-2])


def fits(want, copy):
    """Whether a copy is the expected state (a tombstone may be absent)."""
    if want == TOMB:
        return copy is None or (copy.tomb and copy.value == b"")
    return copy is not None and not copy.tomb and (copy.flags, copy.value) == want[1:]


def disagreement(allowed, copies, may_lack=0):
    """None when the copies (one per owner) agree on one allowed state:
    every present copy fits it and they are one version, and every owner
    holds it (a deleted key may be absent anywhere; a value on all but
    may_lack owners, those that became owners while the isolated node was
    dead, to which existing values are not copied); else why not."""
    present = [c for c in copies if c is not None]
    lacking = False
    for want in allowed:
        if not all(fits(want, c) for c in present):
            continue
        if want != TOMB and len(copies) - len(present) > may_lack:
            lacking = True
            continue
        if len({(c.version, c.flags, c.value, c.tomb) for c in present}) > 1:
            return "copies of different versions"
        return None
    if lacking:
        return "owners lack the last acknowledged write"
    return "a copy is not the last acknowledged write (nor a later failed one)"


def show(state):
    return "deleted" if state == TOMB else "%r (flags %d)" % (state[2], state[1])


def show_version(v):
    """src/base/version.h: milliseconds, counter and writer's tag."""
    return "v%d (ms %d ctr %d tag %d)" % (v, v >> 22, (v >> 10) & 0xfff, v & 0x3ff)


def show_copy(copy):
    if copy is None:
        return "EN"
    if copy.tomb:
        return "tombstone %s" % show_version(copy.version)
    return "%r (flags %d) %s" % (copy.value, copy.flags, show_version(copy.version))


# ---- what the client wrote ----

class Ledger:
    """Every write the client sent and how it was answered: for each key,
    the last acknowledged state and the states of the writes answered with
    an error since (any of them may have been kept)."""

    def __init__(self):
        self.acked = {}  # key -> last acknowledged state ("val", flags, data) or TOMB
        self.doubt = {}  # key -> [states of failed writes after the last ack]
        self.history = {}  # key -> [(monotonic time, request line, reply, node index)]
        self.sent = 0
        self.ok = 0
        self.errors = []  # (monotonic time, node index, request line, reply)
        self.anomalies = []  # replies no write should get
        self.seq = 0

    def allowed(self, key):
        return [self.acked.get(key, TOMB)] + self.doubt.get(key, [])

    def value(self, key):
        self.seq += 1
        return ("val", self.seq % 65536, b"w%06d-%s-" % (self.seq, key) + b"x" * (self.seq % 37))

    def record(self, key, state, reply, node, req, t):
        self.sent += 1
        self.history.setdefault(key, []).append((t, req, reply, node))
        if state == TOMB:
            good = reply == b"DELETED\r\n"
            # NOT_FOUND: right only when the key may be deleted already.
            if reply == b"NOT_FOUND\r\n":
                if TOMB not in self.allowed(key):
                    self.anomalies.append("%r answered %r, but %r holds %s (acknowledged)"
                                          % (req, reply, key, show(self.acked[key])))
                    return
                good = True
        else:
            good = reply == b"STORED\r\n"
        if good:
            self.ok += 1
            self.acked[key] = state
            self.doubt.pop(key, None)
        elif reply.startswith(b"SERVER_ERROR "):
            self.errors.append((t, node, req, reply))
            self.doubt.setdefault(key, []).append(state)
        else:
            self.anomalies.append("%r answered %r" % (req, reply))

    def describe(self, key, ids, t0, limit=6):
        """The last limit writes of key (times in seconds after t0)."""
        return "; ".join("%.2f %r via %s: %r" % (t - t0, req, ids[i], reply)
                         for t, req, reply, i in self.history.get(key, [])[-limit:])


# ---- one run ----

class Partition:
    """n nodes in namespaces, the last one cut off and healed; problems
    found along the way are collected and reported together at the end,
    so that one run tells all it can."""

    def __init__(self, n):
        self.n = n
        self.iso = n - 1
        self.majority = list(range(n - 1))
        self.all = list(range(n))
        self.net = Net(n)
        self.cl = None
        self.conns = []
        self.problems = []
        self.ledger = Ledger()
        self.rng = random.Random(SEED)
        self.keys = [b"rn:init:%04d" % i for i in range(INIT_KEYS)]
        self.fresh = iter(range(10 ** 6))

    # -- plumbing --

    def conn(self, i, peer=False):
        c = peer_conn(self.cl, i) if peer else self.cl.conn(i, IO_TIMEOUT)
        self.conns.append(c)
        return c

    def start(self):
        self.net.setup()
        cl = self.cl = ReplNetnsCluster(self.net, REPL_ARGS)
        cl.start()
        views = cl.wait_formed(timeout=FORM_TIMEOUT)
        for i, v in views.items():
            got = {f: v.fields.get(f) for f in ("replicas", "write_quorum", "read_quorum")}
            check_eq(got, {"replicas": "3", "write_quorum": "2", "read_quorum": "1"},
                     "%s's quorums" % cl.ids[i])
        print("%d nodes in %d namespaces, N=3 W=2 R=1: one view everywhere %.2f s after the "
              "last start" % (self.n, self.n, time.monotonic() - cl.started))
        self.x = cl.ids[self.iso]
        self.owners = Owners(cl.oracle())
        self.wconns = {i: self.conn(i) for i in self.majority}  # the writing client
        self.sconns = {i: self.conn(i) for i in self.all}  # stats cluster
        self.pconns = {i: self.conn(i, True) for i in self.all}  # rg

    def stop(self, clean):
        for c in self.conns:
            c.close()
        try:
            if self.cl is not None:
                try:
                    self.cl.stop(clean=clean)
                finally:
                    for d in self.cl.nodes:
                        if d.alive():
                            d.kill()
        finally:
            self.net.cleanup()

    def views(self):
        return {i: gossip_view(self.sconns[i]) for i in self.all}

    def counters(self, which):
        out = {}
        for i in which:
            v = gossip_view(self.sconns[i])
            out[self.cl.ids[i]] = {f: v.field_int(f) for f in HINT_FIELDS}
        return out

    # -- writes --

    def write_round(self, ops):
        """Sends ops [(key, state)] pipelined, spread over the majority
        nodes; records each reply."""
        per = {i: [] for i in self.majority}
        for j, op in enumerate(ops):
            per[self.majority[j % len(self.majority)]].append(op)
        reqs = {}
        for i, mine in per.items():
            reqs[i] = [b"delete %s\r\n" % k if st == TOMB
                       else b"set %s %d 0 %d\r\n%s\r\n" % (k, st[1], len(st[2]), st[2])
                       for k, st in mine]
            if mine:
                self.wconns[i].send(b"".join(reqs[i]))
        for i, mine in per.items():
            for (key, state), req in zip(mine, reqs[i]):
                line = req.split(b"\r\n")[0]
                try:
                    reply = self.wconns[i].read_until(b"\r\n", IO_TIMEOUT)
                except TestFailure as e:
                    raise TestFailure("%r through %s: no reply: %s\n%s"
                                      % (line, self.cl.ids[i], e, self.cl.logs()))
                self.ledger.record(key, state, reply, i, line, time.monotonic())

    def pick_ops(self, settle_doubt):
        """One round: distinct keys, mostly overwrites, some new keys, some
        deletes, a few new values for deleted keys. With settle_doubt, the
        keys whose last write failed come first: a new value or a delete."""
        ledger, rng = self.ledger, self.rng
        live = [k for k in self.keys if ledger.acked.get(k, TOMB) != TOMB]
        gone = [k for k in self.keys if ledger.acked.get(k, TOMB) == TOMB]
        chosen, ops = set(), []
        if settle_doubt:
            for k in sorted(ledger.doubt)[:ROUND_OPS // 2]:
                chosen.add(k)
                ops.append((k, TOMB if rng.random() < 0.2 else ledger.value(k)))

        def take(pool, count, state_of):
            for k in rng.sample(pool, min(count, len(pool))):
                if k not in chosen:
                    chosen.add(k)
                    ops.append((k, state_of(k)))

        take(live, ROUND_OPS * 6 // 10, ledger.value)
        take(live, ROUND_OPS * 15 // 100, lambda k: TOMB)
        take(gone, ROUND_OPS * 5 // 100, ledger.value)
        while len(ops) < ROUND_OPS:
            k = b"rn:new:%05d" % next(self.fresh)
            self.keys.append(k)
            ops.append((k, ledger.value(k)))
        rng.shuffle(ops)
        return ops

    # -- copies --

    def copies(self, nodes, live):
        """({key: {node index: copy}} of nodes, [keys whose owners among
        live ids disagree]); a key's owners are looked for in nodes only."""
        got = {i: copies_of(self.pconns[i], self.keys) for i in nodes}
        per_key, bad = {}, []
        for k in self.keys:
            per_key[k] = {i: got[i][k] for i in nodes}
            if self.disagreement(per_key, k, live) is not None:
                bad.append(k)
        return per_key, bad

    def disagreement(self, copies, key, live):
        """disagreement() of key's owners among live ids (copies: from
        copies()), with the owners that are not owners when every node is
        alive allowed to lack it."""
        normal = self.owners.of(key, self.cl.ids)
        owned = self.owners.of(key, live)
        return disagreement(self.ledger.allowed(key), self.owned(copies, key, live),
                            sum(1 for nid in owned if nid not in normal))

    def owned(self, copies, key, live):
        """The copies of key on its owners among live ids (from copies())."""
        return [copies[key][self.cl.ids.index(nid)] for nid in self.owners.of(key, live)]

    def describe_bad(self, copies, bad, live, limit=4, before=None):
        """The first limit keys of bad: every polled node's copy (owners
        marked), the copy before the heal, and the client's writes."""
        lines = []
        for k in bad[:limit]:
            allowed = self.ledger.allowed(k)
            own = self.owners.of(k, live)
            lines.append("%r: %s; want %s%s;\n      %s%s\n      writes (s after the split): %s" % (
                k, self.disagreement(copies, k, live),
                show(allowed[0]), "".join(" or %s" % show(s) for s in allowed[1:]),
                "\n      ".join("%s%s: %s" % (self.cl.ids[i], " (owner)" if self.cl.ids[i] in own
                                                 else "", show_copy(c))
                                for i, c in sorted(copies[k].items())),
                "\n      before the heal: %s" % before[k] if before is not None else "",
                self.ledger.describe(k, self.cl.ids, self.split_at)))
        return "\n    ".join(lines)

    # -- the phases --

    def write_initial(self):
        self.split_at = time.monotonic()  # (until the split: for the times of messages)
        for start in range(0, INIT_KEYS, ROUND_OPS):
            self.write_round([(k, self.ledger.value(k))
                              for k in self.keys[start:start + ROUND_OPS]])
        check(not self.ledger.errors and not self.ledger.anomalies,
              "initial sets with every node up: %s"
              % (self.ledger.errors + self.ledger.anomalies)[:5])
        live = set(self.cl.ids)
        copies, bad = self.copies(self.all, live)
        check(not bad, "initial %d keys, every node up: owners' copies differ:\n    %s"
              % (len(self.keys), self.describe_bad(copies, bad, live)))
        print("%d keys written, the same version on each key's %d owners"
              % (len(self.keys), REPLICAS))

    def split(self):
        """Cuts the isolated node off; writes until the majority shows it
        dead, and then some."""
        cl, x, ledger = self.cl, self.x, self.ledger
        others = [cl.ids[i] for i in self.majority]
        split_at = self.split_at = time.monotonic()
        self.net.attach(self.iso, "br1")
        detected, suspected = {}, {}  # majority index -> seconds after the split
        minority_at = None
        rounds = 0
        after_detect = []  # errors of rounds sent once every majority node showed x dead
        init_sent, init_ok = ledger.sent, ledger.ok
        while True:
            round_start = time.monotonic()
            all_dead = len(detected) == len(self.majority)
            before = len(ledger.errors)
            self.write_round(self.pick_ops(all_dead))
            rounds += 1
            if all_dead:
                after_detect += ledger.errors[before:]
            vs = self.views()
            now = time.monotonic()
            for i in self.majority:
                st = vs[i].state(x)
                if st == "suspect":
                    suspected.setdefault(i, now - split_at)
                if st == "dead" and vs[i].fields.get("ring_nodes") == str(self.n - 1):
                    detected.setdefault(i, now - split_at)
            if minority_at is None and all(vs[self.iso].state(o) == "dead" for o in others):
                minority_at = now - split_at
            if len(detected) < len(self.majority):
                if now > split_at + DETECT_TIMEOUT:
                    raise TestFailure("split: %s not dead in every majority view within %.0f s; "
                                      "views:\n%s\n%s"
                                      % (x, DETECT_TIMEOUT, cl.describe(vs), cl.logs()))
            else:
                long_enough = now >= split_at + max(detected.values()) + WRITE_AFTER_DEAD
                minority_done = minority_at is not None or now >= split_at + MINORITY_WAIT
                # (if writes fail now, that is the failure reported)
                settled = not ledger.doubt or after_detect
                if long_enough and minority_done and settled:
                    break
            time.sleep(max(0.0, round_start + ROUND_PERIOD - time.monotonic()))
        maj = "/".join(others)
        print("split %s | %s: %s suspect in %s's views after %s s, dead after %s s; %s"
              % (",".join(others), x, x, maj,
                 "/".join("%.1f" % suspected[i] if i in suspected else "-"
                          for i in self.majority),
                 "/".join("%.1f" % detected[i] for i in self.majority),
                 "%s shows them all dead after %.1f s" % (x, minority_at)
                 if minority_at is not None
                 else "%s still does not show them all dead after %.0f s" % (x, MINORITY_WAIT)))
        errs = ledger.errors
        kinds = {}
        for _, _, _, reply in errs:
            kind = reply.decode(errors="replace").strip()
            kinds[kind] = kinds.get(kind, 0) + 1
        on_x = sum(1 for _, _, req, _ in errs if self.owners.preference(req.split()[1])[0] == x)
        sent, ok = ledger.sent - init_sent, ledger.ok - init_ok
        print("writes during the split (%.1f s, %d rounds): %d sent, %d acknowledged, %d errors "
              "(%.1f%%), %d of them on keys whose first owner is %s; errors from %s to %s s "
              "after the split; replies: %s"
              % (time.monotonic() - split_at, rounds, sent, ok, len(errs),
                 100.0 * len(errs) / max(1, sent), on_x, x,
                 "%.2f" % (errs[0][0] - split_at) if errs else "-",
                 "%.2f" % (errs[-1][0] - split_at) if errs else "-",
                 kinds))
        doubted = {req.split()[1] for _, _, req, _ in errs}
        print("the %d keys whose write failed were written again once %s was dead: %d still in "
              "doubt at the heal" % (len(doubted), x, len(ledger.doubt)))
        self.split_acked = ok
        if ledger.anomalies:
            self.problems.append("%d unexpected replies, e.g. %s"
                                 % (len(ledger.anomalies), "; ".join(ledger.anomalies[:5])))
        if after_detect:
            self.problems.append(
                "%d writes failed although every majority node (%s) showed %s dead (the live "
                "owners make the quorum), e.g. %s"
                % (len(after_detect), maj, x, "; ".join(
                    "%.2f s %r through %s: %r" % (t - split_at, req, cl.ids[i], r)
                    for t, i, req, r in after_detect[:5])))

    def check_majority(self):
        """The last acknowledged write of every key is on its owners in the
        majority (the new ones, which replace the isolated node, may lack
        what was written before it was dead)."""
        live = {self.cl.ids[i] for i in self.majority}
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            copies, bad = self.copies(self.majority, live)
            if not bad or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.before_heal = {k: "; ".join("%s %s" % (self.cl.ids[i], show_copy(c))
                                         for i, c in sorted(copies[k].items())
                                         if self.cl.ids[i] in self.owners.of(k, live))
                            for k in self.keys}
        if bad:
            self.problems.append("before the heal, %d of %d keys differ between their owners in "
                                 "the majority or from the last acknowledged write:\n    %s"
                                 % (len(bad), len(self.keys),
                                    self.describe_bad(copies, bad, live)))
        else:
            moved = sum(1 for k in self.keys if self.x in self.owners.of(k, self.cl.ids))
            print("before the heal: the majority's owners of all %d keys hold the last "
                  "acknowledged write (%d keys have a new owner in place of %s)"
                  % (len(self.keys), moved if self.n > REPLICAS else 0, self.x))
        print("counters before the heal: %s" % self.counters(self.majority))

    def heal(self):
        """Moves the link back; polls the views and every node's copies (no
        client reads) for CONVERGE_TIMEOUT (while owners still disagree
        among themselves, up to HEAL_OBSERVE): from some time on to the
        end, every key's owners must agree on its last acknowledged write,
        and never differ again once they have."""
        cl = self.cl
        live = set(cl.ids)
        heal_at = time.monotonic()
        self.net.attach(self.iso, "br0")
        alive_at = None
        alive_node = {}
        first_agreed = None
        converged_at = None  # the start of the last run of polls finding every copy agreeing
        regressions = []  # (seconds after the heal, keys differing) once they had agreed
        polls = 0
        while True:
            vs = self.views()
            now = time.monotonic()
            for i, v in vs.items():
                if cl.matches(v, cl.all_alive()):
                    alive_node.setdefault(i, now - heal_at)
                else:
                    alive_node.pop(i, None)
            if alive_at is None and len(alive_node) == self.n:
                alive_at = now - heal_at
            copies, bad = self.copies(self.all, live)
            t = time.monotonic() - heal_at
            polls += 1
            if bad:
                if converged_at is not None:
                    regressions.append((t, len(bad), self.describe_bad(
                        copies, bad, live, limit=2, before=self.before_heal)))
                converged_at = None
            elif converged_at is None:
                converged_at = t
                if first_agreed is None:
                    first_agreed = t
            # keys whose owners hold one version, the wrong one: that lasts
            settled = all(len({c for c in self.owned(copies, k, live)}) == 1 for k in bad)
            if t >= CONVERGE_TIMEOUT and alive_at is not None and settled:
                break
            if t >= HEAL_OBSERVE:
                break
            time.sleep(0.2)
        hints = self.counters(self.all)
        print("heal: every member alive everywhere after %s (per node: %s)"
              % ("%.2f s" % alive_at if alive_at is not None else "more than %.0f s" % t,
                 " ".join("%s %.1f" % (cl.ids[i], a) for i, a in sorted(alive_node.items()))))
        print("convergence: %s; watched for %.1f s after the heal (%d polls); counters: %s"
              % ("the owners' copies of all %d keys the same from %.2f s after the heal on%s"
                 % (len(self.keys), converged_at,
                    " (first %.2f s, then they differed again)" % first_agreed
                    if regressions else "")
                 if converged_at is not None else
                 "%d of %d keys differ at the end%s" % (
                     len(bad), len(self.keys),
                     " (all had agreed %.2f s after the heal)" % first_agreed
                     if first_agreed is not None else ""),
                 t, polls, hints))
        if alive_at is None or alive_at > HEAL_ALIVE_TIMEOUT:
            self.problems.append(
                "heal: every member alive everywhere %s after the heal (want within %.0f s); "
                "last views:\n%s" % ("only %.1f s" % alive_at if alive_at is not None else
                                     "not within %.0f s" % t, HEAL_ALIVE_TIMEOUT,
                                     cl.describe(vs)))
        if regressions:
            rt, rn, rdesc = regressions[0]
            self.problems.append(
                "after the heal, the owners' copies of every key agreed on the last "
                "acknowledged write %.2f s after the heal, then %d keys differed %.2f s after "
                "it%s:\n    %s"
                % (first_agreed, rn, rt, "" if converged_at is None else
                   " (agreeing again from %.2f s)" % converged_at, rdesc))
        if converged_at is None:
            if bad:  # else the views are the problem, reported above
                self.problems.append(
                    "after the heal, %d of %d keys differ between their owners' own copies or "
                    "from the last acknowledged write %.1f s after the heal (where the owners "
                    "agree on another value, an acknowledged write is lost):\n    %s"
                    % (len(bad), len(self.keys), t,
                       self.describe_bad(copies, bad, live, before=self.before_heal)))
        elif converged_at > CONVERGE_TIMEOUT:
            self.problems.append("the owners' copies agree only %.1f s after the heal (want "
                                 "within %.0f s)" % (converged_at, CONVERGE_TIMEOUT))
        elif alive_at is not None and converged_at > alive_at + CONVERGE_AFTER_ALIVE:
            self.problems.append("the owners' copies agree only %.1f s after every member was "
                                 "alive everywhere (want within %.0f s)"
                                 % (converged_at - alive_at, CONVERGE_AFTER_ALIVE))
        stored = sum(h["hints_stored"] for h in hints.values())
        delivered = sum(h["hints_delivered"] for h in hints.values())
        if self.split_acked and stored == 0:
            self.problems.append("no hints stored for %s although %d writes were acknowledged "
                                 "while it was cut off" % (self.x, self.split_acked))
        if stored and delivered == 0:
            self.problems.append("%d hints stored, none delivered" % stored)
        dropped = {nid: h["hints_dropped"] for nid, h in hints.items() if h["hints_dropped"]}
        if dropped:
            self.problems.append("hints dropped (hints_max is 65536): %s" % dropped)
        return copies if converged_at is not None else None

    def check_reads(self, copies):
        """gets through every node answer the owners' agreed state."""
        live = set(self.cl.ids)
        want = {}
        for k in self.keys:
            c = copies[k][self.cl.ids.index(self.owners.of(k, live)[0])]
            want[k] = ("miss",) if c is None or c.tomb else ("val", c.flags, c.value)
        for i in self.all:
            wrong = []
            with self.cl.conn(i, IO_TIMEOUT) as c:
                for start in range(0, len(self.keys), BATCH):
                    chunk = self.keys[start:start + BATCH]
                    c.send(b"".join(b"get %s\r\n" % k for k in chunk))
                    for k in chunk:
                        got = read_get(c)
                        if got != want[k]:
                            wrong.append("%r: got %r, want %r" % (k, got, want[k]))
            if wrong:
                self.problems.append("gets through %s after convergence: %d of %d wrong, e.g. %s"
                                     % (self.cl.ids[i], len(wrong), len(self.keys),
                                        "; ".join(wrong[:4])))
        deleted = sum(1 for k in self.keys if want[k] == ("miss",))
        print("%d keys (%d deleted): gets through each of the %d nodes answer the last "
              "acknowledged write" % (len(self.keys), deleted, self.n)
              if not any(p.startswith("gets through") for p in self.problems) else
              "gets through some node did not answer the agreed values")


def run_partition(n):
    require_meshcached()
    if os.geteuid() != 0:
        raise TestSkip("network namespaces need root")
    if ip_binary() is None:
        raise TestSkip("no ip(8) binary (iproute2)")
    run = Partition(n)
    clean = False
    try:
        run.start()
        run.write_initial()
        run.split()
        run.check_majority()
        copies = run.heal()
        if copies is not None:
            run.check_reads(copies)
        check(not run.problems, "\n".join(run.problems))
        clean = True
    finally:
        run.stop(clean)


def test_partition_one_of_three_keeps_acknowledged_writes():
    """Every node owns every key: the majority are two of its owners."""
    run_partition(3)


def test_partition_one_of_five_keeps_acknowledged_writes():
    """The isolated node's keys get another owner while it is dead, and
    have it back after the heal."""
    run_partition(5)


if __name__ == "__main__":
    mchelper.run_tests([test_partition_one_of_three_keeps_acknowledged_writes,
                        test_partition_one_of_five_keeps_acknowledged_writes])
