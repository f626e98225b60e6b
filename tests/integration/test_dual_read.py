#!/usr/bin/python3
"""Dual reads: while a node receives ranges, a read that misses on it is
answered from the key's previous holders.

Nodes run with -o handoff=0 and -o ae_interval_ms=0 (and no background read
repair), so that nothing but dual reads can bring keys to a node that
joins: keys are written while the first nodes are alone, a node joins,
and every key is read at once through the new node and an old one, within
the receiving window (CLUSTER_RECEIVE_MS, 3 s after the ring changed).
Every key must hit, the new node's dual_read_hits must count what it
took, and the keys it owns must now be held by it. A key deleted through
the cluster (a tombstone) never comes back through a dual read, and a
paused holder costs a read at most -o peer_timeout_ms, never an error.

Figures (keys, hits, seconds) are printed for the record. Every wait is
bounded.
"""

import threading
import time

import mchelper
from mchelper import check, check_eq
from test_cluster import cluster_view
from test_gossip import GossipCluster
from test_replication import copies_of, preference

NKEYS = 2000
PER_GET = 100  # keys per multi-get line
QUIET = ["-o", "handoff=0", "-o", "ae_interval_ms=0", "-o", "read_repair_chance=0"]
PEER_TIMEOUT_MS = 500  # the default


def key(n):
    return b"dual:%05d" % n


def value(n):
    return b"value-%d" % n


def dual_stats(cl, i):
    with cl.conn(i, 2.0) as c:
        v = cluster_view(c)
    return {f: v.field_int(f) for f in ("dual_reads", "dual_read_hits")}


def write_all(cl, i, keys):
    with cl.conn(i, 20.0) as c:
        c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(value(n)), value(n))
                        for n, k in keys))
        for n, k in keys:
            check_eq(c.read_until(b"\r\n", 20.0), b"STORED\r\n", "set %r through %d" % (k, i))


def multiget(cl, i, keys, out):
    """Pipelined multi-gets of keys through node i: out[i] = {key: value}."""
    got = {}
    with cl.conn(i, 20.0) as c:
        lines = [keys[s:s + PER_GET] for s in range(0, len(keys), PER_GET)]
        c.send(b"".join(b"get " + b" ".join(chunk) + b"\r\n" for chunk in lines))
        for _ in lines:
            while True:
                line = c.read_until(b"\r\n", 20.0)
                if line == b"END\r\n":
                    break
                parts = line.split()
                check(parts[0] == b"VALUE", "node %d answered %r" % (i, line))
                got[parts[1]] = c.read_exact(int(parts[3]) + 2, 20.0)[:-2]
    out[i] = got


def read_at_once(cl, which, keys):
    """Reads every key through each node of which at the same time;
    returns ({node: {key: value}}, seconds)."""
    out = {}
    t0 = time.monotonic()
    threads = [threading.Thread(target=multiget, args=(cl, i, keys, out)) for i in which]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    took = time.monotonic() - t0
    check(all(i in out for i in which), "a reader failed or hung: %s" % sorted(out))
    return out, took


def join_and_read(n, replicas, what):
    """Nodes 0..n-2 alone take NKEYS keys; node n-1 joins; every key is read
    through it and through node 0 at once."""
    extra = ["--replicas", str(replicas)] + QUIET
    with GossipCluster(n=n, extra=extra, initial=range(n - 1)) as cl:
        cl.wait_formed()
        items = [(m, key(m)) for m in range(NKEYS)]
        write_all(cl, 0, items)
        new = n - 1
        cl.start([new])
        cl.wait_formed()
        formed = time.monotonic() - cl.started
        keys = [k for _, k in items]
        got, took = read_at_once(cl, (new, 0), keys)
        for i in (new, 0):
            hits = sum(got[i].get(k) == value(m) for m, k in items)
            print("%s: %d of %d keys hit through %s in %.2f s (formed %.2f s after the start)"
                  % (what, hits, NKEYS, cl.ids[i], took, formed))
            check_eq(hits, NKEYS, "%s: hits through %s" % (what, cl.ids[i]))
        s = dual_stats(cl, new)
        oracle = cl.oracle()
        mine = [k for k in keys if cl.ids[new] in preference(oracle, k, replicas)]
        held = copies_of(cl, new, mine)
        kept = sum(c is not None and not c.tomb for c in held.values())
        print("%s: %s's %s; it owns %d keys and now holds %d of them"
              % (what, cl.ids[new], s, len(mine), kept))
        check(s["dual_read_hits"] > 0 and s["dual_reads"] > 0,
              "%s: dual reads on %s: %s" % (what, cl.ids[new], s))
        check_eq(kept, len(mine), "%s: keys %s owns that it holds" % (what, cl.ids[new]))


def test_a_joining_node_reads_through_with_one_copy():
    join_and_read(2, 1, "--replicas 1, 2 nodes")


def test_a_joining_node_reads_through_with_two_copies():
    join_and_read(3, 2, "--replicas 2, 3 nodes")


def test_a_deleted_key_does_not_come_back():
    """With --replicas 2: keys deleted before the join (tombstones on the
    holders) and after it (the new owner's tombstone, while the node after
    the owners still has the value) stay deleted when read through every
    node."""
    with GossipCluster(n=3, extra=["--replicas", "2"] + QUIET, initial=(0, 1)) as cl:
        cl.wait_formed()
        items = [(m, key(m)) for m in range(NKEYS)]
        write_all(cl, 0, items)
        before = [k for m, k in items if m % 4 == 0]
        with cl.conn(0, 20.0) as c:
            c.send(b"".join(b"delete %s\r\n" % k for k in before))
            for k in before:
                check_eq(c.read_until(b"\r\n", 20.0), b"DELETED\r\n", "delete %r" % k)
        cl.start([2])
        cl.wait_formed()
        oracle = cl.oracle()
        # keys node 2 now owns first: their third holder keeps the value
        after = [k for m, k in items if m % 4 == 1
                 and preference(oracle, k, 2)[0] == cl.ids[2]]
        with cl.conn(1, 20.0) as c:
            c.send(b"".join(b"delete %s\r\n" % k for k in after))
            for k in after:
                # the new owner first fetches the key from where it still
                # is (a write that may depend on it), then deletes it and
                # leaves a tombstone
                check_eq(c.read_until(b"\r\n", 20.0), b"DELETED\r\n", "delete %r" % k)
        gone = set(before) | set(after)
        got, took = read_at_once(cl, (2, 0, 1), [k for _, k in items])
        for i in (2, 0, 1):
            back = [k for k in gone if k in got[i]]
            hits = sum(got[i].get(k) == value(m) for m, k in items if k not in gone)
            print("deletes: through %s %d of %d deleted keys came back, %d of %d others hit "
                  "(%.2f s)" % (cl.ids[i], len(back), len(gone), hits, NKEYS - len(gone), took))
            check_eq(back, [], "deleted keys read through %s" % cl.ids[i])
            check_eq(hits, NKEYS - len(gone), "live keys read through %s" % cl.ids[i])
        print("deletes: %s's %s (%d deleted before the join, %d after)"
              % (cl.ids[2], dual_stats(cl, 2), len(before), len(after)))


def writes_find_the_value_where_it_was(extra, what):
    """--replicas 1: keys are written while one node is alone; a second
    joins, and at once incr, append and delete of the keys it now owns run
    through it: each finds the value still on the first node (fetched
    first) and answers as memcached would; the deleted keys never come
    back, whatever moves later."""
    with GossipCluster(n=2, extra=extra, initial=(0,)) as cl:
        cl.wait_formed()
        items = [(m, b"w:%05d" % m) for m in range(600)]
        with cl.conn(0, 20.0) as c:
            c.send(b"".join(b"set %s 0 0 2\r\n10\r\n" % k for _, k in items))
            for _ in items:
                check_eq(c.read_until(b"\r\n", 20.0), b"STORED\r\n", "set")
        cl.start([1])
        cl.wait_formed()
        oracle = cl.oracle()
        mine = [k for _, k in items if oracle.owner(k) == cl.ids[1]]
        incr, append, delete = mine[0::3], mine[1::3], mine[2::3]
        with cl.conn(1, 20.0) as c:
            c.send(b"".join([b"incr %s 5\r\n" % k for k in incr] +
                            [b"append %s 0 0 1\r\nx\r\n" % k for k in append] +
                            [b"delete %s\r\n" % k for k in delete]))
            replies = [c.read_until(b"\r\n", 20.0) for _ in mine]
        want = [b"15\r\n"] * len(incr) + [b"STORED\r\n"] * len(append) + \
            [b"DELETED\r\n"] * len(delete)
        wrong = [(r, w) for r, w in zip(replies, want) if r != w]
        print("%s: %d incr, %d append, %d delete through the new %s right after it joined: "
              "%d wrong; its %s" % (what, len(incr), len(append), len(delete), cl.ids[1],
                                    len(wrong), dual_stats(cl, 1)))
        check_eq(wrong[:3], [], "%s: replies that missed the value on the old node" % what)
        time.sleep(4.0)  # past the receiving window; handoff, if on, is done
        out, _ = read_at_once(cl, (0, 1), [k for _, k in items])
        for i in (0, 1):
            check_eq(sorted(k for k in delete if k in out[i]), [],
                     "%s: deleted keys read through %s" % (what, cl.ids[i]))
            check_eq([out[i].get(k) for k in incr], [b"15"] * len(incr),
                     "%s: counted keys through %s" % (what, cl.ids[i]))
            check_eq([out[i].get(k) for k in append], [b"10x"] * len(append),
                     "%s: appended keys through %s" % (what, cl.ids[i]))


def test_writes_find_the_value_where_it_was():
    writes_find_the_value_where_it_was(QUIET, "handoff off")


def test_writes_find_the_value_where_it_was_with_handoff():
    writes_find_the_value_where_it_was(["-o", "ae_interval_ms=0"], "handoff on")


def test_a_paused_holder_costs_at_most_the_peer_timeout():
    """--replicas 1: the only holder of the new node's keys is paused; reads
    of those keys through the new node answer (a miss) within
    peer_timeout_ms, never an error."""
    with GossipCluster(n=2, extra=QUIET, initial=(0,)) as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        theirs = cl.oracle([cl.ids[0]])  # before the join, g01 held every key
        check(theirs.owner(key(0)) == cl.ids[0], "oracle of one node")
        mine = [k for k in (key(m) for m in range(NKEYS)) if oracle.owner(k) == cl.ids[1]]
        items = [(m, key(m)) for m in range(NKEYS) if key(m) in set(mine[:200])]
        write_all(cl, 0, items)
        cl.start([1])
        cl.wait_formed()
        base = dual_stats(cl, 1)
        cl.nodes[0].pause()
        try:
            with cl.conn(1, 5.0) as c:
                slowest, answers = 0.0, []
                for m, k in items[:20]:
                    t0 = time.monotonic()
                    c.send(b"get %s\r\n" % k)
                    line = c.read_until(b"\r\n", 5.0)
                    if line.startswith(b"VALUE"):
                        c.read_until(b"END\r\n", 5.0)
                    slowest = max(slowest, time.monotonic() - t0)
                    answers.append(line)
                t0 = time.monotonic()
                c.send(b"get " + b" ".join(k for _, k in items[20:]) + b"\r\n")
                tail = c.read_until(b"END\r\n", 5.0)
                multi = time.monotonic() - t0
        finally:
            cl.nodes[0].resume()
        s = dual_stats(cl, 1)
        print("paused holder: 20 gets, the slowest %.3f s; a get of %d keys %.3f s; %s"
              % (slowest, len(items) - 20, multi, s))
        check(all(a == b"END\r\n" or a.startswith(b"VALUE ") for a in answers),
              "answers with the holder paused: %r" % sorted(set(answers)))
        check(tail.endswith(b"END\r\n") and b"SERVER_ERROR" not in tail,
              "multi-get with the holder paused: %r" % tail[:200])
        limit = PEER_TIMEOUT_MS / 1000.0 + 0.2
        check(slowest < limit and multi < limit,
              "reads took %.3f / %.3f s, over %.1f s" % (slowest, multi, limit))
        check(s["dual_reads"] > base["dual_reads"], "the reads asked the paused holder: %s" % s)


if __name__ == "__main__":
    mchelper.run_tests([test_a_joining_node_reads_through_with_one_copy,
                        test_a_joining_node_reads_through_with_two_copies,
                        test_a_deleted_key_does_not_come_back,
                        test_writes_find_the_value_where_it_was,
                        test_writes_find_the_value_where_it_was_with_handoff,
                        test_a_paused_holder_costs_at_most_the_peer_timeout])
