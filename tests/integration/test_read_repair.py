#!/usr/bin/python3
"""Read repair (issue 12, item 4 "Read repair that repairs"): three
$MESHCACHED nodes on 127.0.0.2-4 (test_cluster's Cluster), one of them
killed with -9 and started again empty, and reads through the others.

With --read-quorum 1, every read an owner serves (get, gets, gat, mg and
each key of a multi-get) checks the key's other owners with probability
-o read_repair_chance; an owner holding an older copy or none is sent the
newest state, a tombstone included, and the reading owner keeps a newer
copy it finds. The quorum path (R=2) repairs the owner it asked. Each
repair is counted once in read_repairs (`stats cluster`) of the node that
made it: its own copy replaced, or a repair the stale owner acknowledged.

Each node's own copies are read with `rg` over a connection introduced as
a peer (test_replication's helpers). Every wait is bounded; every daemon is
stopped or killed in a finally; nothing signals a process this test did
not start.
"""

import math
import time

import mchelper
import test_cluster as tc
import test_replication as tr
from mchelper import TestFailure, check, check_eq

PEER_TIMEOUT_MS = 500
DEATH_TIMEOUT = 8.0  # kill -9 -> dead in the survivors' views
REVIVE_TIMEOUT = 8.0  # restart -> alive again everywhere
REPAIR_TIMEOUT = 10.0  # the last read -> its repairs acknowledged and applied
CANARY_TIMEOUT = 10.0
BATCH = 100  # single-key reads in flight at once (the bound on checks is 1024)
MULTI = 50  # keys per multi-get line
LINES = 2  # multi-get lines in flight at once
ALPHA = 1e-9  # chance that test_default_chance_* fails on a correct daemon
RESTARTED = 2  # the node restarted empty


def start(n, w, r, chance=None, threads=2):
    extra = tr.repl_args(n, w, r, threads)
    if chance is not None:
        extra += ["-o", "read_repair_chance=%s" % chance]
    cl = tc.Cluster(peer_timeout_ms=PEER_TIMEOUT_MS, extra=extra)
    cl.start()
    try:
        cl.wait_formed()
    except Exception:
        cl.stop(clean=False)
        raise
    return cl


def running(n, w, r, chance=None):
    """A formed cluster for a with block (test_replication.stopped_after())."""
    return tr.stopped_after(start(n, w, r, chance))


def repairs(cl, i):
    return tr.cluster_stats(cl, i, ["read_repairs"])["read_repairs"]


def restart_empty(cl, i):
    """kill -9 node i, wait until the others hold it dead (so that the ring
    really changes twice, as after any crash that is noticed), start it
    again with nothing, wait until every node holds it alive."""
    others = [j for j in range(len(cl.nodes)) if j != i]
    t0 = time.monotonic()
    cl.kill(i)
    cl.wait_views(others, [cl.ids[j] for j in others], [cl.ids[i]],
                  deadline=t0 + DEATH_TIMEOUT, what="%s dead after kill -9" % cl.ids[i])
    t1 = time.monotonic()
    cl.restart(i)
    cl.wait_views(range(len(cl.nodes)), cl.ids, deadline=t1 + REVIVE_TIMEOUT,
                  what="%s alive again after its restart" % cl.ids[i])
    check_eq(tc.curr_items(cl.nodes[i]), 0, "items on the restarted %s" % cl.ids[i])
    print("%s dead %.1f s after kill -9, alive again %.1f s after its restart, empty"
          % (cl.ids[i], t1 - t0, time.monotonic() - t1))


def write_all(cl, live, deleted):
    """Sets live ({key: (flags, data)}) and deleted keys through node 0,
    then deletes the deleted ones: with W=3 every owner acknowledged each."""
    with cl.conn(0, 10) as c:
        tc.store_all(c, {**live, **{k: (0, b"doomed") for k in deleted}}, BATCH)
        tr.pipeline(c, [b"delete %s\r\n" % k for k in deleted], tr.read_line, "deletes")


def plant(cl, i, key, copy, data=b"stale"):
    """Gives node i a live copy of key one version older than copy."""
    with tr.peer_conn(cl, i) as c:
        check_eq(c.line(b"rs %s %d 0 %d %d\r\n%s\r\n"
                        % (key, copy.flags, copy.version - 1, len(data), data)),
                 b"HD\r\n", "older copy of %r planted on %s" % (key, cl.ids[i]))


def read_mg(conn, timeout=None):
    """One `mg <key> v` reply as read_get gives it (flags are not asked)."""
    line = conn.read_until(b"\r\n", timeout)
    if line == b"EN\r\n":
        return ("miss",)
    parts = line.split()
    if parts[:1] != [b"VA"]:
        return ("error", line)
    data = conn.read_exact(int(parts[1]) + 2, timeout)
    return ("val", None, data[:-2], None)


SINGLE = [(b"get %s\r\n", tr.read_get), (b"gets %s\r\n", tr.read_get),
          (b"gat 0 %s\r\n", tr.read_get), (b"mg %s v\r\n", read_mg)]
MULTIS = [b"get", b"gets", b"gat 0"]


def read_every_key(conn, keys, kinds=None):
    """Reads each key once over conn: single gets, gets, gat, mg and
    multi-key get, gets and gat lines, keys dealt round robin to these
    seven kinds (or to kinds, indexes into them). Returns {key: reply as
    read_get gives it} (mg replies have flags None)."""
    kinds = list(range(len(SINGLE) + len(MULTIS))) if kinds is None else kinds
    groups = {k: keys[n::len(kinds)] for n, k in enumerate(kinds)}
    got = {}
    for kind, ks in groups.items():
        if kind < len(SINGLE):
            fmt, reader = SINGLE[kind]
            replies = tr.pipeline(conn, [fmt % k for k in ks], reader,
                                  fmt.split()[0].decode())
            got.update(zip(ks, replies))
            continue
        cmd = MULTIS[kind - len(SINGLE)]
        lines = [ks[j:j + MULTI] for j in range(0, len(ks), MULTI)]
        for start in range(0, len(lines), LINES):
            chunk = lines[start:start + LINES]
            conn.send(b"".join(b"%s %s\r\n" % (cmd, b" ".join(line)) for line in chunk))
            for line in chunk:
                vals = {v[0]: v for v in tc.read_values(conn, 10)}
                for k in line:
                    v = vals.get(k)
                    got[k] = ("miss",) if v is None else ("val", v[1], v[2], v[3])
    return got


def wait_count(cl, i, base, want, what):
    """Polls node i's read_repairs until base + want, then checks that it
    stays there. Returns the count seen."""
    deadline = time.monotonic() + REPAIR_TIMEOUT
    while True:
        n = repairs(cl, i) - base
        if n >= want or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # a key counted twice would show by now
    n = repairs(cl, i) - base
    check_eq(n, want, "%s: read_repairs of %s" % (what, cl.ids[i]))
    return n


def wait_copies(cl, i, want, what):
    """Polls node i's copies of the keys of want ({key: Copy to match, or
    None for no copy}) until each has the wanted version and contents."""
    deadline = time.monotonic() + REPAIR_TIMEOUT
    keys = list(want)
    while True:
        got = tr.copies_of(cl, i, keys)
        bad = [k for k in keys if not tr.same_copy(got[k], want[k])]
        if not bad:
            return
        if time.monotonic() > deadline:
            raise TestFailure("%s: %d of %d copies on %s not the newest after %.0f s, e.g. %s"
                              % (what, len(bad), len(want), cl.ids[i], REPAIR_TIMEOUT,
                                 "; ".join("%r: %r, want %r" % (k, got[k], want[k])
                                           for k in bad[:4])))
        keys = bad
        time.sleep(0.2)


def wait_canary(cl, conn, key, holder, counter):
    """Reads key over conn until holder has a copy of it (the reading
    worker's connections to the restarted member are up), then until the
    read_repairs of node counter stays still for longer than a check may
    take, so that what the canary's checks count is all counted."""
    deadline = time.monotonic() + CANARY_TIMEOUT
    while not tr.copies_of(cl, holder, [key])[key]:
        check(time.monotonic() < deadline, "canary %r not repaired onto %s within %.0f s"
              % (key, cl.ids[holder], CANARY_TIMEOUT))
        conn.send(b"mg %s v\r\n" % key)
        read_mg(conn, 5)
        time.sleep(0.05)
    last = repairs(cl, counter)
    while True:
        time.sleep(2 * PEER_TIMEOUT_MS / 1000.0)
        now = repairs(cl, counter)
        if now == last:
            return
        check(time.monotonic() < deadline, "read_repairs of %s still moving %.0f s after "
              "the canary reads" % (cl.ids[counter], CANARY_TIMEOUT))
        last = now


def want_reply(copy):
    """What a get must answer for a key whose newest copy is copy."""
    if copy is None or copy.tomb:
        return ("miss",)
    return ("val", copy.flags, copy.value)


def reply_fits(got, copy):
    w = want_reply(copy)
    if w[0] == "miss" or got[0] != "val":
        return got[:1] == w[:1]
    return got[2] == w[2] and got[1] in (None, w[1])


def story_keys(prefix, nlive, ndeleted, nplanted):
    live = {b"%s:%04d" % (prefix, n): (n % 7, b"%s-value-%d" % (prefix, n) + b"x" * (n % 40))
            for n in range(nlive)}
    deleted = [b"%s:del:%02d" % (prefix, n) for n in range(ndeleted)]
    planted = sorted(live)[:nplanted]
    return live, deleted, planted


def test_background_repair_refills_an_owner_restarted_empty():
    """R=1, read_repair_chance=1: every key read once through another owner
    is repaired onto the owner restarted empty, at its newest version; an
    older live copy there of a deleted key gets the tombstone, one of a
    live key the newest value; read_repairs counts one repair per key."""
    live, deleted, planted = story_keys(b"bg", 600, 20, 20)
    canary = b"bg:canary"
    with running(3, 3, 1, chance=1) as cl:
        write_all(cl, {**live, canary: (0, b"c")}, deleted)
        keys = sorted(live) + deleted
        truth = tr.copies_of(cl, 0, keys)
        check(all(truth[k] is not None and truth[k].tomb for k in deleted),
              "tombstones of the deleted keys on %s" % cl.ids[0])
        restart_empty(cl, RESTARTED)
        for k in deleted + planted:
            plant(cl, RESTARTED, k, truth[k])
        before = {i: repairs(cl, i) for i in range(3)}
        with cl.conn(0, 10) as c:
            wait_canary(cl, c, canary, RESTARTED, 0)
            base = repairs(cl, 0)
            t0 = time.monotonic()
            got = read_every_key(c, keys)
            took = time.monotonic() - t0
        wrong = [k for k in keys if not reply_fits(got[k], truth[k])]
        check(not wrong, "reads through %s: %d wrong, e.g. %s" % (
            cl.ids[0], len(wrong), "; ".join("%r: %r" % (k, got[k]) for k in wrong[:4])))
        n = wait_count(cl, 0, base, len(keys), "%d keys read once through %s, each missing "
                       "or older on %s" % (len(keys), cl.ids[0], cl.ids[RESTARTED]))
        wait_copies(cl, RESTARTED, truth, "after reads through %s" % cl.ids[0])
        check_eq(repairs(cl, 1), before[1], "read_repairs of %s (its copies were the newest)"
                 % cl.ids[1])
        with cl.conn(RESTARTED, 10) as c:
            again = tr.pipeline(c, [b"get %s\r\n" % k for k in deleted + planted], tr.read_get,
                                "gets through %s" % cl.ids[RESTARTED])
        for k, g in zip(deleted + planted, again):
            check(reply_fits(g, truth[k]), "get %r through the repaired %s: %r, want %r"
                  % (k, cl.ids[RESTARTED], g, want_reply(truth[k])))
        print("%d keys (%d deleted, %d with an older copy planted) read once through %s in "
              "%.2f s: %d repairs, every copy on %s the newest, deleted keys stay deleted"
              % (len(keys), len(deleted), len(planted), cl.ids[0], took, n,
                 cl.ids[RESTARTED]))


def test_stale_reading_owner_takes_newer_copy():
    """R=1, read_repair_chance=1: reads through the owner restarted empty
    (or holding older copies) are served from its copy, and make it take
    the newest copy of each key, a tombstone included; the next read
    serves that. Its read_repairs counts one per key, once."""
    live, deleted, planted = story_keys(b"self", 300, 10, 10)
    canary = b"self:canary"
    with running(3, 3, 1, chance=1) as cl:
        write_all(cl, {**live, canary: (0, b"c")}, deleted)
        keys = sorted(live) + deleted
        truth = tr.copies_of(cl, 0, keys)
        restart_empty(cl, RESTARTED)
        for k in deleted + planted:
            plant(cl, RESTARTED, k, truth[k])
        with cl.conn(RESTARTED, 10) as c:
            wait_canary(cl, c, canary, RESTARTED, RESTARTED)
            base = repairs(cl, RESTARTED)
            others = [repairs(cl, i) for i in (0, 1)]
            first = read_every_key(c, keys)
            stale = sum(1 for k in keys if not reply_fits(first[k], truth[k]))
            n = wait_count(cl, RESTARTED, base, len(keys), "%d keys read once through %s"
                           % (len(keys), cl.ids[RESTARTED]))
            wait_copies(cl, RESTARTED, truth, "after reads through %s itself"
                        % cl.ids[RESTARTED])
            second = read_every_key(c, keys)
        wrong = [k for k in keys if not reply_fits(second[k], truth[k])]
        check(not wrong, "second reads through %s: %d not the newest, e.g. %s" % (
            cl.ids[RESTARTED], len(wrong),
            "; ".join("%r: %r, want %r" % (k, second[k], want_reply(truth[k]))
                      for k in wrong[:4])))
        check_eq(repairs(cl, RESTARTED) - base, len(keys),
                 "read_repairs of %s after a second read of every key" % cl.ids[RESTARTED])
        check_eq([repairs(cl, i) for i in (0, 1)], others,
                 "read_repairs of %s and %s (never stale)" % (cl.ids[0], cl.ids[1]))
        print("%d keys read through %s itself: %d first answers stale, %d copies taken, "
              "every second answer the newest" % (len(keys), cl.ids[RESTARTED], stale, n))


def binomial_bounds(n, p, alpha):
    """(lo, hi): X ~ Binomial(n, p) is below lo, and above hi, each with
    probability under alpha / 2."""
    def pmf(k):
        return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                        + k * math.log(p) + (n - k) * math.log1p(-p))
    lo, acc = 0, 0.0
    while acc + pmf(lo) < alpha / 2:
        acc += pmf(lo)
        lo += 1
    hi, acc = n, 0.0
    while acc + pmf(hi) < alpha / 2:
        acc += pmf(hi)
        hi -= 1
    return lo, hi


def test_default_chance_repairs_about_a_tenth():
    """R=1 at the default read_repair_chance (0.1): 4,000 keys read once
    each through another owner (half single gets, half 50-key multi-gets)
    repair Binomial(4000, 0.1) of them onto the owner restarted empty, each
    at its newest version, and read_repairs counts exactly those."""
    nkeys, chance = 4000, 0.1
    live = {b"tenth:%05d" % n: (0, b"tenth-%d" % n) for n in range(nkeys)}
    canary = b"tenth:canary"
    with running(3, 3, 1) as cl:
        with cl.conn(0) as c:
            check_eq(tc.cluster_field(c, "read_quorum"), 1, "read_quorum")
        write_all(cl, {**live, canary: (0, b"c")}, [])
        keys = sorted(live)
        truth = tr.copies_of(cl, 0, keys)
        restart_empty(cl, RESTARTED)
        with cl.conn(0, 10) as c:
            wait_canary(cl, c, canary, RESTARTED, 0)
            base = repairs(cl, 0)
            items0 = tc.curr_items(cl.nodes[RESTARTED])
            got = read_every_key(c, keys, kinds=[0, len(SINGLE)])
        check(all(reply_fits(got[k], truth[k]) for k in keys), "reads through %s" % cl.ids[0])
        # settled: the count stops moving and matches the copies made
        deadline = time.monotonic() + REPAIR_TIMEOUT
        last = None
        while True:
            now = (repairs(cl, 0) - base, tc.curr_items(cl.nodes[RESTARTED]) - items0)
            if now == last and now[0] == now[1]:
                break
            check(time.monotonic() < deadline, "read_repairs of %s and new items on %s "
                  "still differ or move after %.0f s: %r" % (cl.ids[0], cl.ids[RESTARTED],
                                                           REPAIR_TIMEOUT, now))
            last = now
            time.sleep(0.5)
        n = now[0]
        lo, hi = binomial_bounds(nkeys, chance, ALPHA)
        print("%d of %d reads through %s repaired a key onto %s (expected %d, accepted "
              "%d..%d)" % (n, nkeys, cl.ids[0], cl.ids[RESTARTED], nkeys * chance, lo, hi))
        check(lo <= n <= hi, "%d repairs out of %d reads at read_repair_chance %.1f: outside "
              "%d..%d" % (n, nkeys, chance, lo, hi))
        copies = tr.copies_of(cl, RESTARTED, keys)
        held = [k for k in keys if copies[k] is not None]
        check_eq(len(held), n, "keys with a copy on %s" % cl.ids[RESTARTED])
        old = [k for k in held if not tr.same_copy(copies[k], truth[k])]
        check(not old, "repaired copies on %s not the newest: %s"
              % (cl.ids[RESTARTED], "; ".join("%r: %r" % (k, copies[k]) for k in old[:4])))


def test_forwarded_and_split_reads_repair_their_owners():
    """N=2 of 3, R=1, read_repair_chance=1: reads through one node that
    forwards single gets and splits multi-gets over the owners repair, on
    whichever owner serves each key, the owner restarted empty: afterwards
    it holds the newest copy of every key it owns, and the repairs counted
    over all nodes are one per such key."""
    live = {b"fwd:%04d" % n: (n % 3, b"fwd-%d" % n) for n in range(900)}
    with running(2, 2, 1, chance=1) as cl:
        oracle = cl.oracle()
        write_all(cl, live, [])
        keys = sorted(live)
        mine = [k for k in keys if cl.ids[RESTARTED] in tr.preference(oracle, k, 2)]
        truth = {}
        for i in range(3):
            truth.update({k: c for k, c in tr.copies_of(cl, i, keys).items() if c is not None})
        restart_empty(cl, RESTARTED)
        base = sum(repairs(cl, i) for i in range(3))
        with cl.conn(0, 10) as c:
            got = read_every_key(c, keys, kinds=[0, 3, len(SINGLE), len(SINGLE) + 1])
        served_stale = sum(1 for k in keys if not reply_fits(got[k], truth[k]))
        wait_copies(cl, RESTARTED, {k: truth[k] for k in mine},
                    "keys of %s after reads through %s" % (cl.ids[RESTARTED], cl.ids[0]))
        deadline = time.monotonic() + REPAIR_TIMEOUT
        while sum(repairs(cl, i) for i in range(3)) - base < len(mine):
            check(time.monotonic() < deadline, "repairs counted")
            time.sleep(0.1)
        time.sleep(0.3)
        per = [repairs(cl, i) for i in range(3)]
        check_eq(sum(per) - base, len(mine), "read_repairs over all nodes (%s)" % per)
        print("%d keys read through %s (%d answered stale by %s): its %d keys repaired; "
              "read_repairs per node %s" % (len(keys), cl.ids[0], served_stale,
                                            cl.ids[RESTARTED], len(mine), per))


def test_quorum_read_repairs_the_owner_it_asked():
    """R=2: a read through node 0 asks the first other owner of the key in
    ring order; where that is the owner restarted empty, its missing copy
    is repaired (and counted), a tombstone included; the others are left
    to their own reads."""
    live, deleted, _ = story_keys(b"q", 600, 20, 0)
    with running(3, 3, 2) as cl:
        oracle = cl.oracle()
        write_all(cl, live, deleted)
        keys = sorted(live) + deleted
        truth = tr.copies_of(cl, 0, keys)
        asked = {k: [o for o in tr.preference(oracle, k, 3) if o != cl.ids[0]][0]
                 for k in keys}
        expect = [k for k in keys if asked[k] == cl.ids[RESTARTED]]
        restart_empty(cl, RESTARTED)
        base = repairs(cl, 0)
        with cl.conn(0, 10) as c:
            got = read_every_key(c, keys)
        wrong = [k for k in keys if not reply_fits(got[k], truth[k])]
        check(not wrong, "R=2 reads through %s: %d wrong, e.g. %s" % (
            cl.ids[0], len(wrong), "; ".join("%r: %r" % (k, got[k]) for k in wrong[:4])))
        n = wait_count(cl, 0, base, len(expect), "R=2 reads through %s" % cl.ids[0])
        want = {k: truth[k] if k in expect else None for k in keys}
        wait_copies(cl, RESTARTED, want, "R=2 reads through %s" % cl.ids[0])
        print("%d keys read with R=2 through %s: the %d that asked %s repaired there (%d "
              "counted), none of the rest" % (len(keys), cl.ids[0], len(expect),
                                               cl.ids[RESTARTED], n))


if __name__ == "__main__":
    mchelper.run_tests([
        test_background_repair_refills_an_owner_restarted_empty,
        test_stale_reading_owner_takes_newer_copy,
        test_default_chance_repairs_about_a_tenth,
        test_forwarded_and_split_reads_repair_their_owners,
        test_quorum_read_repairs_the_owner_it_asked,
    ])
