#!/usr/bin/python3
"""Hot keys across a cluster (issue 14), on three real nodes over loopback:

- request collapsing: 200 gets of one remote key, all in flight at once
  (the owner is paused while they arrive), cost the owner at most
  ceil(200 / 64) requests, and every client gets the value; when the owner
  does not answer in time, every waiter gets today's timeout error; a get
  never joins one sent before a write of its connection;
- hot-key detection: `stats hotkeys` ranks a Zipf(1.1) load's known top 10
  in order, with each key's role;
- near cache: 30,000 gets of one key over three nodes, at most 5% reach
  the owner; a write through any node is read back at once through it and
  through every node within 1 s;
- -o ttl_jitter_pct shortens relative expiry times by up to pct percent.
"""

import contextlib
import random
import time

import mchelper
from mchelper import Daemon, check, check_eq
from test_cluster import Cluster

WAITERS = 64  # COLLAPSE_MAX_WAITERS in src/cluster/collapse.h


def stat(conn, name, sub=b""):
    return int(conn.stats(sub)[name])


def wait_for(what, fn, timeout=10.0):
    """Polls fn() until it returns true; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not fn():
        check(time.monotonic() < deadline, "timed out waiting for " + what)
        time.sleep(0.02)


def read_value(conn):
    """The value of a get reply already asked for, or None on a miss."""
    head = conn.read_until(b"\r\n")
    if head == b"END\r\n":
        return None
    check(head.startswith(b"VALUE "), "bad get reply %r" % head)
    data = conn.read_exact(int(head.split()[3]) + 2)[:-2]
    check_eq(conn.read_until(b"\r\n"), b"END\r\n", "get trailer")
    return data


def herd_through(cl, via, key, n):
    """n connections to node via, each sending one get of key, while the
    key's owner is paused, until via has taken every get in; returns the
    connections (their replies still unread)."""
    conns = [cl.conn(via) for _ in range(n)]
    with cl.conn(via) as s:
        before = stat(s, "forwarded", b"cluster") + stat(s, "collapsed", b"cluster")
        for c in conns:
            c.send(b"get %s\r\n" % key)
        wait_for("node %s to take %d gets" % (cl.ids[via], n),
                 lambda: stat(s, "forwarded", b"cluster") + stat(s, "collapsed", b"cluster")
                 >= before + n)
    return conns


def test_collapse_one_remote_key():
    # one worker on the forwarding node: every get meets the same table
    with Cluster(extra=["-t", "1", "-o", "peer_timeout_ms=4000"]) as cl:
        cl.wait_formed()
        key = cl.oracle().keys_of(cl.ids[1], b"herd", 1)[0]
        with cl.conn(1) as owner:
            check_eq(owner.set_value(key, b"the-value"), b"STORED\r\n", "seed")
            gets_before = stat(owner, "cmd_get")
        cl.nodes[1].pause()
        try:
            conns = herd_through(cl, 0, key, 200)
        finally:
            cl.nodes[1].resume()
        for c in conns:
            check_eq(read_value(c), b"the-value", "collapsed get's value")
            c.close()
        with cl.conn(1) as owner:
            sent = stat(owner, "cmd_get") - gets_before
        check(1 <= sent <= (200 + WAITERS - 1) // WAITERS,
              "200 collapsed gets cost the owner %d gets" % sent)
        with cl.conn(0) as a:
            check(stat(a, "collapsed", b"cluster") >= 200 - (200 + WAITERS - 1) // WAITERS,
                  "collapsed count")


def test_collapse_never_joins_a_get_sent_before_a_write():
    # pipelined through a non-owner: the second get must not join the first,
    # which left before the set (a data block that moves the input buffer)
    with Cluster() as cl:
        cl.wait_formed()
        key = cl.oracle().keys_of(cl.ids[1], b"order", 1)[0]
        big = b"x" * 70006
        with cl.conn(0) as c:
            c.send(b"set %s 1 0 %d\r\n%s\r\nget %s\r\nset %s 2 0 6\r\nsmall!\r\n"
                   b"get %s\r\n" % (key, len(big), big, key, key, key))
            check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "first set")
            check_eq(read_value(c), big, "get after the first set")
            check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "second set")
            check_eq(read_value(c), b"small!", "get after the second set")


def hotkeys(conn):
    """`stats hotkeys` as [(key, rps, role)] in rank order."""
    conn.send(b"stats hotkeys\r\n")
    out = []
    stats = mchelper.parse_stats(conn.read_until(b"END\r\n"))
    for rank in range(1, int(stats["hotkeys_k"]) + 1):
        line = stats.get("hotkey:%d" % rank)
        if line is None:
            break
        key, rps, role = line.split(" ")
        check(rps.startswith("rps=") and role.startswith("role="), "hotkey line %r" % line)
        out.append((key, float(rps[4:]), role[5:]))
    check_eq(len(stats), 4 + len(out), "stats hotkeys lines: %r" % stats)
    return out


def zipf_counts(nkeys, total, s):
    weights = [1.0 / (i + 1) ** s for i in range(nkeys)]
    norm = sum(weights)
    return [max(1, round(total * w / norm)) for w in weights]


def test_hotkeys_rank_a_zipf_load():
    # 1000 keys, Zipf 1.1, 400,000 requests in multi-gets of 100 keys,
    # shuffled: the node's top 10 is the known top 10, in order
    with Cluster(extra=["-t", "1"]) as cl:
        cl.wait_formed()
        counts = zipf_counts(1000, 400000, 1.1)
        keys = [b"zipf:%d" % i for i in range(len(counts))]
        stream = [k for k, n in zip(keys, counts) for _ in range(n)]
        random.Random(14).shuffle(stream)
        oracle = cl.oracle()
        with cl.conn(0) as c:
            for at in range(0, len(stream), 50000):
                chunk = stream[at:at + 50000]
                c.send(b"".join(b"get %s\r\n" % b" ".join(chunk[i:i + 100])
                                for i in range(0, len(chunk), 100)))
                for _ in range(0, len(chunk), 100):
                    c.read_until(b"END\r\n")
            top = hotkeys(c)
        check(len(top) >= 10, "stats hotkeys lists %d keys" % len(top))
        check_eq([k for k, _, _ in top[:10]], [k.decode() for k in keys[:10]],
                 "the top 10 in order")
        for key, rps, role in top[:10]:
            check(rps > 0, "estimated rate of %s: %r" % (key, rps))
            want = "owner" if oracle.owner(key.encode()) == cl.ids[0] else "none"
            check_eq(role, want, "role of %s on %s" % (key, cl.ids[0]))


def cluster_stat(conn, name):
    return stat(conn, name, b"cluster")


def round_robin_gets(conns, key, count, want):
    """count gets of key, one at a time, through conns in turn; each must
    answer want."""
    for i in range(count):
        c = conns[i % len(conns)]
        c.send(b"get %s\r\n" % key)
        got = read_value(c)
        if got != want:
            raise mchelper.TestFailure("get %d through conn %d: %r, want %r"
                                       % (i, i % len(conns), got, want))


@contextlib.contextmanager
def formed_with_key(prefix, owner, extra=()):
    """A formed three-node cluster, a key of node owner's, and one
    connection to each node."""
    with Cluster(extra=list(extra)) as cl:
        cl.wait_formed()
        key = cl.oracle().keys_of(cl.ids[owner], prefix, 1)[0]
        conns = [cl.conn(i) for i in range(3)]
        try:
            yield cl, key, conns
        finally:
            for c in conns:
                c.close()


def test_near_cache_absorbs_a_hot_key():
    # 30,000 gets of one key over all three nodes: at most 5% are forwarded
    # to its owner; the other nodes answer from their near copies
    with formed_with_key(b"hot", 2) as (cl, key, conns):
        check_eq(conns[2].set_value(key, b"hot-value"), b"STORED\r\n", "seed")
        before = [cluster_stat(c, "forwarded") for c in conns]
        round_robin_gets(conns, key, 30000, b"hot-value")
        forwarded = sum(cluster_stat(c, "forwarded") - b for c, b in zip(conns, before))
        hits = sum(cluster_stat(c, "near_hits") for c in conns[:2])
        print("30000 gets over 3 nodes: %d forwarded, %d near hits" % (forwarded, hits))
        check(forwarded <= 1500, "forwarded %d of 30000 gets" % forwarded)
        check(hits >= 20000 - 1500, "near hits %d of 20000 gets on non-owners" % hits)
        check_eq(cluster_stat(conns[2], "near_hits"), 0, "near hits on the owner")
        for c in conns[:2]:
            top = hotkeys(c)
            check(top and top[0][0] == key.decode() and top[0][2] == "none",
                  "hottest key on a non-owner: %r" % top[:1])
        check_eq(hotkeys(conns[2])[0][2], "owner", "the owner's role")


def test_near_cache_write_is_seen_everywhere():
    # a write through a non-owner is read back at once through it, and
    # through every node within 1 s: near copies live 60 s here, so only
    # the owner's announcement (ri) can drop them in time
    with formed_with_key(b"seen", 1, ["-o", "hot_cache_ms=60000"]) as (cl, key, conns):
        check_eq(conns[1].set_value(key, b"v0"), b"STORED\r\n", "seed")
        for n, writer in enumerate((0, 2, 1, 0)):
            value = b"v%d" % (n + 1)
            old = b"v%d" % n
            round_robin_gets(conns, key, 3000, old)  # hot, near-cached
            check_eq(conns[writer].set_value(key, value), b"STORED\r\n", "write")
            check_eq(conns[writer].get_value(key), value,
                     "read through the writer %s at once" % cl.ids[writer])
            start = time.monotonic()
            for i, c in enumerate(conns):
                while True:
                    got = c.get_value(key)
                    if got == value:
                        break
                    check_eq(got, old, "value through %s" % cl.ids[i])
                    check(time.monotonic() - start < 1.0,
                          "write through %s not seen through %s within 1 s"
                          % (cl.ids[writer], cl.ids[i]))
                    time.sleep(0.01)
        fills = sum(cluster_stat(c, "near_fills") for c in conns)
        sent = cluster_stat(conns[1], "near_invalidations")
        check(fills > 0 and sent > 0, "near fills %d, invalidations %d" % (fills, sent))


def ttls(conn, keys):
    out = []
    for k in keys:
        tok = conn.line(b"mg %s t\r\n" % k).split()
        check_eq(tok[0], b"HD", "mg t of %s" % k)
        out.append(int(tok[1][1:]))
    return out


def test_ttl_jitter():
    keys = [b"j%d" % i for i in range(200)]
    with Daemon(args=["-o", "ttl_jitter_pct=20"]) as d, d.connect() as c:
        check_eq(c.stats(b"settings")["ttl_jitter_pct"], "20", "stats settings")
        for k in keys[:100]:
            check_eq(c.set_value(k, b"v", exptime=1000), b"STORED\r\n", "set")
        for k in keys[100:]:
            check_eq(c.line(b"ms %s 1 T1000\r\nv\r\n" % k), b"HD\r\n", "ms")
        got = ttls(c, keys)
        check(all(795 <= t <= 1000 for t in got), "jittered TTLs out of range: %r"
              % sorted(got)[:5])
        check(len(set(got)) >= 20, "only %d distinct TTLs" % len(set(got)))
        check(min(got) < 900, "no TTL cut by more than 10%%: min %d" % min(got))
        # an absolute expiry time is kept as it is
        at = int(time.time()) + 5000
        check_eq(c.set_value(b"abs", b"v", exptime=at), b"STORED\r\n", "set abs")
        check(ttls(c, [b"abs"])[0] >= 4990, "absolute expiry jittered")
    with Daemon() as d, d.connect() as c:
        check_eq(c.stats(b"settings")["ttl_jitter_pct"], "0", "default")
        for k in keys[:50]:
            c.set_value(k, b"v", exptime=1000)
        check(all(t >= 998 for t in ttls(c, keys[:50])), "TTLs without jitter")


def test_collapse_timeout_fails_every_waiter():
    with Cluster(extra=["-t", "1", "-o", "peer_timeout_ms=1500"]) as cl:
        cl.wait_formed()
        key = cl.oracle().keys_of(cl.ids[2], b"late", 1)[0]
        cl.nodes[2].pause()
        try:
            conns = herd_through(cl, 0, key, 20)
            for c in conns:
                check_eq(c.read_until(b"\r\n", 5.0),
                         b"SERVER_ERROR peer %s timed out\r\n" % cl.ids[2].encode(),
                         "waiter's reply when the owner is late")
                c.close()
        finally:
            cl.nodes[2].resume()
        # the peer connection was reset by the timeout: the next get works
        with cl.conn(0) as a:
            deadline = time.monotonic() + 5
            while True:
                a.send(b"get %s\r\n" % key)
                line = a.read_until(b"\r\n")
                if line == b"END\r\n" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            check_eq(line, b"END\r\n", "get after the owner is back")


if __name__ == "__main__":
    mchelper.run_tests([test_collapse_one_remote_key,
                        test_collapse_never_joins_a_get_sent_before_a_write,
                        test_collapse_timeout_fails_every_waiter,
                        test_hotkeys_rank_a_zipf_load,
                        test_near_cache_absorbs_a_hot_key,
                        test_near_cache_write_is_seen_everywhere,
                        test_ttl_jitter])
