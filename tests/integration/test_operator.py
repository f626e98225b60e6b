#!/usr/bin/python3
"""memcached's operator flags and commands on $MESHCACHED, side by side with
the reference memcached: -A/-B/-F/-W/-X/-D and their long forms, shutdown
(with and without -A), SIGUSR1, cache_memlimit, flush_all under -F, the
general `stats` fields, `stats settings`, `stats conns` and `stats detail`.
"""

import os
import re
import signal
import socket
import subprocess
import time

import mchelper
from mchelper import Daemon, TestFailure, check, check_eq
from opcheck import ask, ask_quiet, pair, same_replies

MB = 1024 * 1024


def test_memcached_flags_are_accepted():
    for args in (["-A"], ["-F"], ["-W"], ["-X"], ["-B", "ascii"], ["-B", "auto"],
                 ["-D", "/"], ["--enable-shutdown"], ["--disable-flush-all"],
                 ["--disable-watch"], ["--disable-dumping"], ["--protocol=ascii"]):
        d, ref = pair(args)
        with d, ref:
            same_replies(d, ref, [b"set k 0 0 1\r\n1\r\n"], "with %s" % args)


def test_binary_protocol_is_refused_with_a_reason():
    proc = subprocess.run([mchelper.daemon_binary(), "-B", "binary", "-p", "1"],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    check_eq(proc.returncode, 64, "-B binary exit status")
    err = proc.stderr.decode()
    check("binary protocol is not supported" in err and len(err.splitlines()) == 1,
          "-B binary message: %r" % err)


def settings_of(d):
    with d.connect() as c:
        return c.stats(b"settings")


def test_stats_settings_report_the_flags_as_memcached():
    names = ["shutdown_command", "flush_enabled", "dump_enabled", "binding_protocol",
             "stat_key_prefix", "detail_enabled", "lru_crawler", "domain_socket",
             "auth_enabled_sasl", "auth_enabled_ascii", "evictions", "oldest", "umask",
             "lru_crawler_sleep", "lru_crawler_tocrawl", "hash_algorithm",
             "watcher_logbuf_size", "ssl_enabled"]
    for args in ([], ["-A", "-F", "-X", "-B", "ascii", "-D", "/"]):
        d, ref = pair(args)
        with d, ref:
            got, want = settings_of(d), settings_of(ref)
            for n in names:
                check_eq(got.get(n), want[n], "stats settings %s with %s" % (n, args))


def test_shutdown_is_refused_without_A():
    d, ref = pair()
    with d, ref:
        same_replies(d, ref, [b"shutdown\r\n", b"shutdown graceful\r\n", b"shutdown x\r\n"],
                     "no -A")


def test_shutdown_modes_as_memcached():
    d, ref = pair(["-A"])
    with d, ref:
        same_replies(d, ref, [b"shutdown foo\r\n", b"shutdown graceful x\r\n",
                              b"shutdown noreply\r\n"], "-A")
    for mode in (b"shutdown\r\n", b"shutdown graceful\r\n"):
        for daemon in pair(["-A"]):
            with daemon as dd, dd.connect() as c:
                c.send(mode)
                check_eq(c.read_until_eof(), b"", "%s: reply of %r" % (dd.binary, mode))
                try:
                    status = dd.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    raise TestFailure("%s did not exit on %r" % (dd.binary, mode))
                check_eq(status, 0, "%s exit status after %r" % (dd.binary, mode))
                dd.killed = True  # exited: stop() only collects the status


def test_sigusr1_stops_gracefully():
    for daemon in pair():
        with daemon as dd, dd.connect() as c:
            check_eq(ask(c, b"version\r\n")[:8], b"VERSION ", "served before SIGUSR1")
            os.kill(dd.pid, signal.SIGUSR1)
            status = dd.proc.wait(timeout=10)
            check_eq(status, 0, "%s exit status on SIGUSR1" % dd.binary)
            check("Gracefully stopping" in dd.log_tail(), "%s log: %r"
                  % (dd.binary, dd.log_tail()))
            dd.killed = True


def test_cache_memlimit_replies_as_memcached():
    d, ref = pair()
    with d, ref:
        same_replies(d, ref, [b"cache_memlimit 7\r\n", b"cache_memlimit 0\r\n",
                              b"cache_memlimit 1000000001\r\n", b"cache_memlimit abc\r\n",
                              b"cache_memlimit -1\r\n", b"cache_memlimit 8.5\r\n",
                              b"cache_memlimit\r\n", b"cache_memlimit 8 noreply x\r\n",
                              b"cache_memlimit 8 x\r\n", b"cache_memlimit 100\r\n"],
                     "cache_memlimit")
        for dd in (d, ref):
            with dd.connect() as c:
                check_eq(ask_quiet(c, b"cache_memlimit 24 noreply\r\n"), b"",
                         "noreply on %s" % dd.binary)
                check_eq(c.stats()["limit_maxbytes"], str(24 * MB), "limit_maxbytes")
                check_eq(c.stats(b"settings")["maxbytes"], str(24 * MB), "maxbytes")


def test_cache_memlimit_evicts_down_to_the_new_limit():
    value = b"v" * 100000
    with Daemon(args=["-m", "64"]) as d, d.connect() as c:
        for i in range(400):  # 40 MB
            c.send(b"set k%d 0 0 %d noreply\r\n%s\r\n" % (i, len(value), value))
        check_eq(ask(c, b"mn\r\n"), b"MN\r\n", "sets done")
        before = c.stats()
        check(int(before["memory_used"]) > 30 * MB, "filled: %s" % before["memory_used"])
        check_eq(ask(c, b"cache_memlimit 16\r\n"), b"OK\r\n", "lowered")
        after = c.stats()
        check(int(after["memory_used"]) <= 16 * MB, "memory_used %s" % after["memory_used"])
        check(int(after["evictions"]) > int(before["evictions"]), "evicted")
        check_eq(after["limit_maxbytes"], str(16 * MB), "limit_maxbytes")
        check(c.get_value(b"k399") == value, "the newest item stays")
        check(c.get_value(b"k0") is None, "the oldest item went")


def test_flush_all_is_refused_with_F():
    d, ref = pair(["-F"])
    with d, ref:
        same_replies(d, ref, [b"set k 0 0 1\r\n1\r\n", b"flush_all\r\n", b"flush_all 0\r\n",
                              b"flush_all x\r\n", b"flush_all noreply\r\nget k\r\n"],
                     "-F")
        for dd in (d, ref):
            with dd.connect() as c:
                check_eq(c.stats()["cmd_flush"], "4", "cmd_flush counts refused flushes")


def stats_names(d, sub=b""):
    with d.connect() as c:
        c.send(b"stats" + (b" " + sub if sub else b"") + b"\r\n")
        raw = c.read_until(b"END\r\n")
    return [l.split(b" ")[1].decode() for l in raw.split(b"\r\n") if l.startswith(b"STAT ")]


def test_stats_has_every_general_field_of_memcached_in_its_order():
    d, ref = pair(["-o", "idle_timeout=5"])
    with d, ref:
        got, want = stats_names(d), stats_names(ref)
        missing = [n for n in want if n not in got]
        check(not missing, "stats lacks %s" % missing)
        order = [n for n in got if n in want]
        check_eq(order, want, "memcached's fields in memcached's order")


def test_idle_kicks_count_idle_timeouts():
    with Daemon(args=["-o", "idle_timeout=1"]) as d:
        with d.connect() as idle:
            time.sleep(2.5)
            check_eq(idle.read_until_eof(timeout=3), b"", "idle connection closed")
        with d.connect() as c:
            check_eq(c.stats()["idle_kicks"], "1", "idle_kicks")


STAT_CONN = re.compile(rb"^STAT (\d+):(addr|listen_addr|state|secs_since_last_cmd) (\S+)$")


def conns_of(d, c):
    c.send(b"stats conns\r\n")
    raw = c.read_until(b"END\r\n")
    out = {}
    for line in raw.split(b"\r\n")[:-2]:
        m = STAT_CONN.match(line)
        check(m is not None, "stats conns line %r" % line)
        out.setdefault(int(m.group(1)), {})[m.group(2).decode()] = m.group(3).decode()
    return out


def test_stats_conns_as_memcached():
    for dd in pair():
        with dd, dd.connect() as c, dd.connect() as other:
            ask(other, b"version\r\n")
            conns = conns_of(dd, c)
            listen = "tcp:127.0.0.1:%d" % dd.port
            listeners = [e for e in conns.values() if e["state"] == "conn_listening"]
            check_eq(len(listeners), 1, "%s: one listener in %r" % (dd.binary, conns))
            check_eq(listeners[0]["addr"], listen, "listener addr")
            check("listen_addr" not in listeners[0], "a listener has no listen_addr")
            me = "tcp:127.0.0.1:%d" % c.sock.getsockname()[1]
            mine = [e for e in conns.values() if e["addr"] == me]
            check_eq(len(mine), 1, "%s: this connection in %r" % (dd.binary, conns))
            check_eq(mine[0], {"addr": me, "listen_addr": listen, "state": "conn_parse_cmd",
                               "secs_since_last_cmd": "0"}, "this connection")
            check_eq(len(conns), 3, "%s: the listener and two clients" % dd.binary)


def prefix_lines(reply):
    lines = reply.split(b"\r\n")
    check_eq(lines[-2:], [b"END", b""], "stats detail dump ends with END")
    return sorted(lines[:-2])


DETAIL_OPS = (b"set a:1 0 0 1\r\n1\r\nset a:2 0 0 1\r\n2\r\nset :x 0 0 1\r\n3\r\n"
              b"set nodelim 0 0 1\r\n4\r\nset b/c:d 0 0 1\r\n5\r\n"
              b"get a:1 a:3 nodelim b/c:d\r\ngets a:2\r\ndelete a:1\r\ndelete q:1\r\n"
              b"mg a:2 v\r\nincr a:2 1\r\ntouch a:2 10\r\n")


def test_stats_detail_as_memcached():
    for args in ([], ["-D", "/"]):
        d, ref = pair(args)
        with d, ref:
            same_replies(d, ref, [b"stats detail\r\n", b"stats detail foo\r\n",
                                  b"stats detail on\r\n", b"stats detail off\r\n"],
                         "stats detail %s" % args)
            dumps = []
            for dd in (d, ref):
                with dd.connect() as c:
                    ask(c, b"stats detail on\r\n")
                    c.send(DETAIL_OPS + b"mn\r\n")
                    c.read_until(b"MN\r\n")
                    first = prefix_lines(ask(c, b"stats detail dump\r\n", b"END\r\n"))
                    ask(c, b"stats detail off\r\n")
                    ask(c, b"set a:9 0 0 1\r\n9\r\n")
                    off = prefix_lines(ask(c, b"stats detail dump\r\n", b"END\r\n"))
                    check_eq(off, first, "%s: nothing counted while off" % dd.binary)
                    ask(c, b"stats reset\r\n")
                    reset = ask(c, b"stats detail dump\r\n", b"END\r\n")
                    dumps.append((first, reset))
            check_eq(dumps[0], dumps[1], "PREFIX lines with %s" % args)
            check(dumps[0][0], "something was counted")


if __name__ == "__main__":
    mchelper.run_tests([
        test_memcached_flags_are_accepted,
        test_binary_protocol_is_refused_with_a_reason,
        test_stats_settings_report_the_flags_as_memcached,
        test_shutdown_is_refused_without_A,
        test_shutdown_modes_as_memcached,
        test_sigusr1_stops_gracefully,
        test_cache_memlimit_replies_as_memcached,
        test_cache_memlimit_evicts_down_to_the_new_limit,
        test_flush_all_is_refused_with_F,
        test_stats_has_every_general_field_of_memcached_in_its_order,
        test_idle_kicks_count_idle_timeouts,
        test_stats_conns_as_memcached,
        test_stats_detail_as_memcached,
    ])
