#!/usr/bin/python3
"""Thundering-herd protection of the meta protocol under real concurrency:
of many clients asking for a missing (N vivify), stale-soon (R recache) or
invalidated (md I) key at the same moment, exactly one gets the W (win)
flag and the rest get Z; once the winner stores a value, everyone sees it
without W/Z/X. `stats` counts the wins and losses (lease_wins,
lease_losses).

Across a cluster (three nodes, two copies per key): 60 clients spread over
the nodes race a vivifying mg on one missing key and exactly one wins (the
lease is decided on the key's first live owner); with the lease out, that
owner is killed, and when the survivors have declared it dead, a new race
hands out at most one W.
"""

import threading
import time

import mchelper
from mchelper import Daemon, TestFailure, check, check_eq
from test_cluster import Cluster

CLIENTS = 20


def meta_reply(conn):
    """One meta reply: (status line tokens, value or None)."""
    head = conn.read_until(b"\r\n")
    tokens = head.split()
    value = None
    if tokens[0] == b"VA":
        value = conn.read_exact(int(tokens[1]) + 2)[:-2]
    return tokens, value


def flags_of(tokens):
    return set(t[:1] for t in tokens[1 if tokens[0] != b"VA" else 2:])


def all_at_once(conns, request):
    """Send request on every connection as simultaneously as threads allow;
    returns the replies in connection order."""
    barrier = threading.Barrier(len(conns))
    replies = [None] * len(conns)
    errors = []

    def one(i):
        try:
            barrier.wait(10)
            conns[i].send(request)
            replies[i] = meta_reply(conns[i])
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    check(not any(t.is_alive() for t in threads), "herd requests hung")
    check(not errors, "herd requests failed: %r" % errors[:3])
    return replies


def cas_of(tokens):
    for t in tokens:
        if t[:1] == b"c":
            return t[1:]
    raise mchelper.TestFailure("no c flag in %r" % tokens)


def one_winner(replies, what):
    """Index of the single W reply; every other reply must carry Z."""
    winners = [i for i, (tok, _) in enumerate(replies) if b"W" in flags_of(tok)]
    check_eq(len(winners), 1, "%s: number of W replies in %r" % (what, [r[0] for r in replies]))
    for i, (tok, _) in enumerate(replies):
        if i != winners[0]:
            check(b"Z" in flags_of(tok) and b"W" not in flags_of(tok),
                  "%s: loser reply without Z: %r" % (what, tok))
    return winners[0]


def everyone_sees(conns, key, value, what):
    for tok, got in all_at_once(conns, b"mg %s v t c\r\n" % key):
        check_eq(tok[0], b"VA", "%s: status" % what)
        check_eq(got, value, "%s: value" % what)
        check(not (flags_of(tok) & {b"W", b"Z", b"X"}), "%s: stale flags %r" % (what, tok))


def herd(test):
    with Daemon(args=["-t", "4"]) as d:
        conns = [d.connect() for _ in range(CLIENTS)]
        try:
            test(conns)
        finally:
            for c in conns:
                c.close()
        check(d.alive(), "daemon died")


def vivify_round(conns, key):
    replies = all_at_once(conns, b"mg %s N30 v t c\r\n" % key)
    for tok, value in replies:
        check(tok[0] != b"EN", "EN returned to a vivifying client")
        check_eq((tok[0], value), (b"VA", b""), "vivified placeholder")
    win = one_winner(replies, "vivify")
    cas = cas_of(replies[win][0])
    check(all(cas_of(tok) == cas for tok, _ in replies), "placeholder CAS differs")
    # The winner fills the key with a CAS-guarded set; a loser that tries
    # the same afterwards finds the CAS changed.
    winner, loser = conns[win], conns[(win + 1) % len(conns)]
    check_eq(winner.line(b"ms %s 6 C%s T995\r\nfilled\r\n" % (key, cas)), b"HD\r\n",
             "winner's ms")
    check_eq(loser.line(b"ms %s 5 C%s\r\nlate!\r\n" % (key, cas)), b"EX\r\n",
             "loser's ms with the old CAS")
    everyone_sees(conns, key, b"filled", "after vivify")


def test_vivify_herd():
    # Three rounds on fresh keys so a lucky ordering cannot pass by chance.
    herd(lambda conns: [vivify_round(conns, b"herdkey%d" % i) for i in range(3)])


def test_lease_counters():
    with Daemon(args=["-t", "4"]) as d:
        conns = [d.connect() for _ in range(CLIENTS)]
        try:
            replies = all_at_once(conns, b"mg leased N30 v c\r\n")
            one_winner(replies, "vivify")
            stats = conns[0].stats()
            check_eq((int(stats["lease_wins"]), int(stats["lease_losses"])),
                     (1, CLIENTS - 1), "lease_wins, lease_losses")
        finally:
            for c in conns:
                c.close()


def count_w(replies, what):
    """Number of W replies; every other reply must carry Z."""
    wins = [tok for tok, _ in replies if b"W" in flags_of(tok)]
    for tok, _ in replies:
        check(tok[0] == b"VA", "%s: reply %r" % (what, tok))
        check(b"W" in flags_of(tok) or b"Z" in flags_of(tok), "%s: neither W nor Z: %r"
              % (what, tok))
    return len(wins)


def test_cluster_invalidate_and_recache_herds():
    # with two copies per key, every mg is decided on the key's first live
    # owner: a replica must not hand out its own W
    with Cluster(extra=["--replicas", "2", "--write-quorum", "2", "-t", "2"]) as cl:
        cl.wait_formed()
        conns = [cl.conn(i % 3) for i in range(60)]
        try:
            key = b"cl-inval"
            check_eq(conns[0].line(b"ms %s 5\r\nstale\r\n" % key), b"HD\r\n", "seed")
            check_eq(conns[1].line(b"md %s I T30\r\n" % key), b"HD\r\n", "md I")
            replies = all_at_once(conns, b"mg %s v c\r\n" % key)
            for tok, value in replies:
                check_eq(value, b"stale", "invalidated value")
                check(b"X" in flags_of(tok), "no X: %r" % tok)
            one_winner(replies, "invalidate over 3 nodes")
            key = b"cl-recache"
            check_eq(conns[2].line(b"ms %s 3 T20\r\nold\r\n" % key), b"HD\r\n", "seed")
            replies = all_at_once(conns, b"mg %s R30 v t c\r\n" % key)
            one_winner(replies, "recache over 3 nodes")
        finally:
            for c in conns:
                c.close()


def test_cluster_vivify_herd_and_failover():
    with Cluster(extra=["--replicas", "2", "--write-quorum", "1", "-t", "2"]) as cl:
        cl.wait_formed()
        oracle = cl.oracle()
        key = oracle.keys_of(cl.ids[0], b"herd", 1)[0]  # first owner: node 0
        conns = [cl.conn(i % 3) for i in range(60)]
        try:
            replies = all_at_once(conns, b"mg %s N30 v c\r\n" % key)
            check_eq(count_w(replies, "cluster vivify"), 1, "W replies over 3 nodes")
            first = [i for i, (tok, _) in enumerate(replies) if b"W" in flags_of(tok)][0]
            first_cas = cas_of(replies[first][0])
            with cl.conn(0) as owner:
                check_eq(int(owner.stats()["lease_wins"]), 1, "the W was the owner's")
        finally:
            for c in conns:
                c.close()
        # the lease is out (no value stored yet): its owner dies
        cl.kill(0)
        cl.wait_views([1, 2], cl.ids[1:], dead=[cl.ids[0]], timeout=15,
                      what="the owner declared dead")
        conns = [cl.conn(1 + i % 2) for i in range(40)]
        try:
            replies = all_at_once(conns, b"mg %s N30 v c\r\n" % key)
            wins = count_w(replies, "vivify after failover")
            print("W replies after the owner died: %d" % wins)
            check(wins <= 1, "%d W replies after failover" % wins)
            # the lease survives its owner (the token is copied with the
            # placeholder): the first winner fills the key through a
            # survivor with its CAS; a new winner, if any, with its own
            cas = first_cas
            if wins == 1:
                win = [i for i, (tok, _) in enumerate(replies) if b"W" in flags_of(tok)][0]
                cas = cas_of(replies[win][0])
            check_eq(conns[0].line(b"ms %s 6 C%s T60\r\nfilled\r\n" % (key, cas)),
                     b"HD\r\n", "the lease holder's ms after failover")
            # --write-quorum 1: the copy reaches the other live owner (which
            # serves its own reads) a moment after the HD
            deadline = time.monotonic() + 2.0
            while True:
                try:
                    everyone_sees(conns[:6], key, b"filled", "after failover")
                    break
                except TestFailure:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            for c in conns:
                c.close()


def test_recache_herd():
    def run(conns):
        key = b"recache"
        check_eq(conns[0].line(b"ms %s 3 T20\r\nold\r\n" % key), b"HD\r\n", "seed")
        replies = all_at_once(conns, b"mg %s R30 v t c\r\n" % key)
        for tok, value in replies:
            check_eq((tok[0], value), (b"VA", b"old"), "recache serves the old value")
        win = one_winner(replies, "recache")
        check_eq(conns[win].line(b"ms %s 3 T995\r\nnew\r\n" % key), b"HD\r\n", "winner's ms")
        everyone_sees(conns, key, b"new", "after recache")
    herd(run)


def test_invalidate_herd():
    def run(conns):
        key = b"inval"
        check_eq(conns[0].line(b"ms %s 5\r\nstale\r\n" % key), b"HD\r\n", "seed")
        check_eq(conns[0].line(b"md %s I T30\r\n" % key), b"HD\r\n", "md I")
        replies = all_at_once(conns, b"mg %s v c\r\n" % key)
        for tok, value in replies:
            check_eq((tok[0], value), (b"VA", b"stale"), "invalidated item still served")
            check(b"X" in flags_of(tok), "invalidated item without X: %r" % tok)
        win = one_winner(replies, "invalidate")
        cas = cas_of(replies[win][0])
        check_eq(conns[win].line(b"ms %s 5 I C%s\r\nfresh\r\n" % (key, cas)), b"HD\r\n",
                 "winner's ms after invalidate")
        everyone_sees(conns, key, b"fresh", "after invalidate")
    herd(run)


if __name__ == "__main__":
    mchelper.run_tests([test_vivify_herd, test_recache_herd, test_invalidate_herd,
                        test_lease_counters, test_cluster_invalidate_and_recache_herds,
                        test_cluster_vivify_herd_and_failover])
