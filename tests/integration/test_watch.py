#!/usr/bin/python3
"""`watch` on $MESHCACHED beside the reference memcached: its replies, -W,
the line format of every log type (fetchers, mutations and connevents
compared with memcached's lines; evictions and deletions, which memcached
1.6.18 lacks or words alike, by format), and a watcher that never reads:
the workers go on, and the lines it missed are counted.
"""

import re
import socket
import time

import mchelper
from mchelper import Daemon, check, check_eq
from opcheck import ask, blur, pair, same_replies

# memcached prints the microseconds without leading zeros (ts=1.5 is 5 us
# past the second); meshcached pads them to six digits
TS = re.compile(rb"^ts=\d+\.\d{1,6} gid=\d+ type=")
VARYING = [b"ts", b"gid", b"cfd", b"rport"]


def lines_of(w, want, timeout=5.0):
    """The next want log lines of watcher w, each without its newline."""
    out = []
    for _ in range(want):
        line = w.read_until(b"\n", timeout=timeout)[:-1]
        check(TS.match(line), "log line %r" % line)
        out.append(line)
    return out


def watched(dd, types, ops, want, preload=b""):
    """Runs ops on a fresh connection while a watcher of types listens;
    returns the first want lines it saw, their varying fields blurred."""
    with dd.connect() as c:
        if preload:
            c.send(preload + b"mn\r\n")
            c.read_until(b"MN\r\n")
        with dd.connect() as w:
            check_eq(ask(w, b"watch " + types + b"\r\n"), b"OK\r\n", "watch %r" % types)
            c.send(ops + b"mn\r\n")
            c.read_until(b"MN\r\n")
            return [blur(l, VARYING) for l in lines_of(w, want)]


def test_watch_replies_as_memcached():
    d, ref = pair()
    with d, ref:
        same_replies(d, ref, [b"watch bogus\r\n", b"watch fetchers bogus\r\n"], "watch")
        for types in (b"", b" fetchers", b" mutations evictions connevents"):
            same_replies(d, ref, [b"watch" + types + b"\r\n"], "watch %r" % types)
    d, ref = pair(["-W"])
    with d, ref:
        same_replies(d, ref, [b"watch\r\n", b"watch bogus\r\n", b"watch fetchers\r\n"], "-W")


def test_fetchers_lines_as_memcached():
    d, ref = pair()
    with d, ref:
        ops = b"get k\r\nget nokey\r\ngets k\r\n"
        got = [watched(dd, b"fetchers", ops, 3, b"set k 0 0 3\r\nabc\r\n") for dd in (d, ref)]
        check_eq(got[0], got[1], "fetchers lines")
        check_eq(got[0][0], b"ts=* gid=* type=item_get key=k status=found clsid=1 cfd=* size=3",
                 "a hit")


def test_mutations_lines_as_memcached():
    d, ref = pair()
    with d, ref:
        ops = b"set a%20b 0 100 2\r\nxy\r\nadd a%20b 0 0 1\r\nz\r\nreplace q 0 0 1\r\nz\r\n"
        got = [watched(dd, b"mutations", ops, 3) for dd in (d, ref)]
        check_eq(got[0], got[1], "mutations lines")
        check_eq(got[0][0], b"ts=* gid=* type=item_store key=a%2520b status=stored cmd=set "
                 b"ttl=100 clsid=1 cfd=* size=2", "a set")


def test_connevents_lines_as_memcached():
    d, ref = pair()
    with d, ref:
        got = []
        for dd in (d, ref):
            with dd.connect() as w:
                ask(w, b"watch connevents\r\n")
                c = dd.connect()
                ask(c, b"version\r\n")
                c.close()
                got.append([blur(l, VARYING) for l in lines_of(w, 2)])
        check_eq(got[0], got[1], "connevents lines")
        check_eq(got[0][1], b"ts=* gid=* type=conn_close rip=127.0.0.1 rport=* transport=tcp "
                 b"reason=normal cfd=*", "a close")


def test_evictions_and_deletions_lines():
    with Daemon(args=["-m", "8"]) as d, d.connect() as c, d.connect() as w:
        ask(w, b"watch evictions deletions\r\n")
        check_eq(ask(c, b"set gone 0 0 2\r\nab\r\ndelete gone\r\n"), b"STORED\r\n", "set")
        check_eq(c.read_until(b"\r\n"), b"DELETED\r\n", "delete")
        check_eq(ask(c, b"ms m 1\r\n1\r\nmd m\r\n"), b"HD\r\n", "ms")
        check_eq(c.read_until(b"\r\n"), b"HD\r\n", "md")
        check_eq([blur(l, VARYING) for l in lines_of(w, 2)],
                 [b"ts=* gid=* type=deleted key=gone cmd=delete clsid=1 size=2",
                  b"ts=* gid=* type=deleted key=m cmd=md clsid=1 size=1"], "deletions")
        big = b"x" * 500000
        for i in range(40):
            c.send(b"set big%d 0 0 %d noreply\r\n%s\r\n" % (i, len(big), big))
        check_eq(ask(c, b"mn\r\n"), b"MN\r\n", "filled")
        first = lines_of(w, 1)[0]
        check(re.search(rb" la=\d+ ", first), "la is seconds since last use: %r" % first)
        check_eq(blur(first, VARYING + [b"la"]), b"ts=* gid=* type=eviction key=big0 fetch=no "
                 b"ttl=-1 la=* clsid=1 size=500000", "the first eviction")


def test_a_watcher_that_never_reads_blocks_nobody():
    with Daemon(args=["-t", "2"]) as d, d.connect() as c:
        w = socket.create_connection(("127.0.0.1", d.port))
        w.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        w.sendall(b"watch mutations\r\n")
        time.sleep(0.2)
        t0 = time.monotonic()
        for start in range(0, 60000, 5000):
            c.send(b"".join(b"set key:%06d 0 0 4 noreply\r\nvalu\r\n" % i
                            for i in range(start, start + 5000)))
        check_eq(ask(c, b"mn\r\n", b"MN\r\n"), b"MN\r\n", "sets done")
        took = time.monotonic() - t0
        st = c.stats()
        check(int(st["log_worker_dropped"]) > 0, "lines dropped: %s" % st["log_worker_dropped"])
        check_eq(int(st["log_worker_written"]) + int(st["log_worker_dropped"]), 60000,
                 "every line written or dropped")
        check_eq(st["log_watchers"], "1", "log_watchers")
        check(took < 20, "60000 sets took %.1f s with a stuck watcher" % took)
        w.close()
        time.sleep(0.3)
        check_eq(c.stats()["log_watchers"], "0", "the watcher is gone when it closes")


if __name__ == "__main__":
    mchelper.run_tests([
        test_watch_replies_as_memcached,
        test_fetchers_lines_as_memcached,
        test_mutations_lines_as_memcached,
        test_connevents_lines_as_memcached,
        test_evictions_and_deletions_lines,
        test_a_watcher_that_never_reads_blocks_nobody,
    ])
