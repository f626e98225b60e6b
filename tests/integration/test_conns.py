#!/usr/bin/python3
"""Idle connections are small (issue 17, connections): a connection that
waits for its client holds no buffer and no command state (they are lent
by its worker's pools while it works), so thousands of idle connections
cost little resident memory, and they all work again when their clients
speak. What must outlive one read (half a line, half a data block) is
kept across idle gaps.

The big count is 50,000 where the file limit allows (client and server
each need that many descriptors); here it is capped below the hard limit
of RLIMIT_NOFILE, and the count used is printed. contrib/bench/conns gives
the same figure side by side with memcached.
"""

import os
import resource
import socket
import time

import mchelper
from mchelper import Daemon, check, check_eq
from test_attack import client_socket
from test_robust import sanitized

MEMCACHED_BYTES = 629  # memcached 1.6.18's RSS per idle connection here (issue 17)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_idle(port, n, batch=500):
    """n connections, each after one small get (answered); returns them."""
    socks = []
    for start in range(0, n, batch):
        chunk = [client_socket(port, i) for i in range(start, min(n, start + batch))]
        for s in chunk:
            s.sendall(b"get k\r\n")
        for s in chunk:
            got = b""
            while not got.endswith(b"END\r\n"):
                part = s.recv(4096)
                check(part, "connection %d closed: %r" % (len(socks), got))
                got += part
            check_eq(got, b"VALUE k 0 5\r\nhello\r\nEND\r\n", "the get of an idle connection")
        socks.extend(chunk)
    return socks


def per_connection(count):
    """Starts a daemon, opens count idle connections; returns the RSS bytes
    per connection, after checking that every one still answers."""
    limit = raise_nofile(count + 4096)
    check(limit >= count + 1000, "RLIMIT_NOFILE %d is too low for %d connections" % (limit, count))
    with Daemon(args=["-c", str(count + 1000), "-t", "4"]) as d:
        with d.connect() as c:
            check_eq(c.set_value(b"k", b"hello"), b"STORED\r\n", "set")
            c.get_value(b"k")
            time.sleep(0.3)
            before = d.rss_kb()
            socks = open_idle(d.port, count)
            try:
                time.sleep(0.5)
                after = d.rss_kb()
                st = c.stats()
                check(int(st["curr_connections"]) >= count, "curr_connections %s with %d open"
                      % (st["curr_connections"], count))
                # all of them again: each borrows from the pool once more
                for s in socks:
                    s.sendall(b"get k\r\n")
                for n, s in enumerate(socks):
                    got = b""
                    while not got.endswith(b"END\r\n"):
                        part = s.recv(4096)
                        check(part, "connection %d closed on its second get" % n)
                        got += part
                    check_eq(got, b"VALUE k 0 5\r\nhello\r\nEND\r\n", "a second get")
            finally:
                for s in socks:
                    s.close()
            check(d.alive(), "the daemon died")
    return (after - before) * 1024 / count, before, after, sanitized(d.binary)


def test_idle_connections_cost_less_than_memcached():
    if mchelper.daemon_is_reference():
        raise mchelper.TestSkip("meshcached's bound")
    per, before, after, san = per_connection(4000)
    print("FIGURE idle_conns=4000 rss_before_kb=%d rss_after_kb=%d bytes_per_conn=%.0f "
          "(memcached: %d)%s" % (before, after, per, MEMCACHED_BYTES,
                                 " (not checked: sanitizer build)" if san else ""))
    if not san:
        check(per < MEMCACHED_BYTES, "%.0f B per idle connection, memcached %d B"
              % (per, MEMCACHED_BYTES))


def test_tens_of_thousands_of_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(50000, hard - 4096)
    if count < 10000:
        raise mchelper.TestSkip("RLIMIT_NOFILE hard limit %d" % hard)
    per, before, after, san = per_connection(count)
    print("FIGURE idle_conns=%d rss_before_kb=%d rss_after_kb=%d bytes_per_conn=%.0f%s%s"
          % (count, before, after, per, "" if count == 50000 else
             " (50,000 needs a hard file limit above %d; it is %d)" % (50000 + 4096, hard),
             " (sanitizer build)" if san else ""))
    if not san and not mchelper.daemon_is_reference():
        check(per < MEMCACHED_BYTES, "%.0f B per idle connection" % per)


def test_what_outlives_a_read_is_kept_across_idle_gaps():
    with Daemon() as d, d.connect() as c:
        # half a command line, then the rest after the connection idled
        c.send(b"set k 0 0 5\r\nhello\r\nge")
        check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "set")
        time.sleep(0.3)
        c.send(b"t k\r\n")
        check_eq(c.read_until(b"END\r\n"), b"VALUE k 0 5\r\nhello\r\nEND\r\n", "split get")
        # a data block in three parts, idle in between
        c.send(b"set big 0 0 100000\r\n" + b"a" * 40000)
        time.sleep(0.3)
        c.send(b"b" * 40000)
        time.sleep(0.3)
        c.send(b"c" * 20000 + b"\r\n")
        check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "split value")
        check_eq(c.get_value(b"big"), b"a" * 40000 + b"b" * 40000 + b"c" * 20000, "the value")
        # a meta set's flags are echoed after its data arrives late
        c.send(b"ms mk 2 T0 O123 k\r\nx")
        time.sleep(0.3)
        c.send(b"y\r\n")
        check_eq(c.read_until(b"\r\n"), b"HD O123 kmk\r\n", "ms flags kept across the gap")
        # a large pipelined batch, then idle, then more
        c.send(b"".join(b"set p%d 0 0 1\r\nx\r\n" % i for i in range(2000)))
        check_eq(c.read_exact(2000 * 8, timeout=10), b"STORED\r\n" * 2000, "pipelined sets")
        time.sleep(0.2)
        check_eq(c.get_value(b"p1999"), b"x", "after the batch")


def test_file_limit_is_raised_for_maxconns():
    # as memcached does at start: the soft limit goes up to what -c needs
    # (the hard one too when it can, as root)
    if mchelper.daemon_is_reference():
        raise mchelper.TestSkip("meshcached's headroom")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 6000:
        raise mchelper.TestSkip("hard file limit %d" % hard)
    with Daemon(args=["-c", "5000"], prefix=["prlimit", "--nofile=1024:%d" % hard, "--"]) as d:
        with open("/proc/%d/limits" % d.pid) as f:
            line = [l for l in f if l.startswith("Max open files")][0]
        got = int(line.split()[3])
        print("-c 5000 started with a soft limit of 1024: now %d" % got)
        check(got >= 5000, "the soft file limit stayed %d under -c 5000" % got)
        with d.connect() as c:
            check_eq(c.line(b"mn\r\n"), b"MN\r\n", "serving")


if __name__ == "__main__":
    mchelper.run_tests([
        test_file_limit_is_raised_for_maxconns,
        test_idle_connections_cost_less_than_memcached,
        test_tens_of_thousands_of_connections,
        test_what_outlives_a_read_is_kept_across_idle_gaps,
    ])
