#!/usr/bin/python3
"""The daemon as an operator runs it: signals, pid file, -d, -c, -R,
idle timeout, verbose logging and deep pipelining."""

import os
import signal
import socket
import subprocess
import tempfile
import time

import mchelper
from mchelper import Conn, Daemon, check, check_eq, free_port


def test_sigterm_and_sigint_exit_cleanly():
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Daemon().start()
        with Conn(d.port) as c:
            check_eq(c.set_value(b"k", b"v"), b"STORED\r\n", "set")
            os.kill(d.pid, sig)
            check_eq(d.proc.wait(timeout=5), 0, "exit status after %s" % sig)
            check_eq(c.read_until_eof(timeout=5), b"", "connection closed on shutdown")


def running(pid):
    """True while pid exists and has not exited. A daemon's parent is init,
    which may leave it a zombie (state Z) for a while after it exits."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_pidfile_and_daemonize():
    binary = mchelper.daemon_binary()
    with tempfile.TemporaryDirectory() as tmp:
        pidfile = os.path.join(tmp, "mc.pid")
        port = free_port()
        rc = subprocess.run([binary, "-d", "-P", pidfile, "-p", str(port),
                             "-l", "127.0.0.1", "-U", "0"], timeout=10).returncode
        check_eq(rc, 0, "parent of -d exits 0")
        pid = None
        deadline = time.monotonic() + 5
        while pid is None and time.monotonic() < deadline:
            try:
                pid = int(open(pidfile).read().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        check(pid is not None, "the pid file %s was not written within 5 s" % pidfile)
        try:
            with Conn(port) as c:
                check(c.line(b"version\r\n").startswith(b"VERSION "), "daemon answers")
                check_eq(int(c.stats()["pid"]), pid, "stats pid is the pid file's")
        finally:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not running(pid), "daemon exits on SIGTERM")
        check(not os.path.exists(pidfile), "pid file removed on clean exit")


def test_connection_limit_rejects_with_error():
    with Daemon(args=["-c", "5"]) as d:
        held = [Conn(d.port) for _ in range(5)]
        try:
            for c in held:
                check(c.line(b"version\r\n").startswith(b"VERSION"), "held conn works")
            extra = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            data = b""
            while True:
                chunk = extra.recv(4096)
                if not chunk:
                    break
                data += chunk
            extra.close()
            check_eq(data, b"ERROR Too many open connections\r\n", "over-limit reply")
            check(int(held[0].stats()["rejected_connections"]) >= 1, "counted")
        finally:
            for c in held:
                c.close()
        # room again once they are gone
        time.sleep(0.2)
        with Conn(d.port) as c:
            check(c.line(b"version\r\n").startswith(b"VERSION"), "accepts again")


def test_connection_limit_holds_for_a_burst():
    # 40 connections opened at once against -c 5: however the accepts and the
    # workers interleave, at most 5 are served and the rest get the error.
    with Daemon(args=["-c", "5", "-t", "2"]) as d:
        socks = [socket.create_connection(("127.0.0.1", d.port), timeout=5)
                 for _ in range(40)]
        served = rejected = 0
        try:
            for s in socks:
                try:
                    s.sendall(b"version\r\n")
                    reply = s.recv(4096)
                except OSError:
                    reply = b""
                if reply.startswith(b"VERSION "):
                    served += 1
                elif reply in (b"ERROR Too many open connections\r\n", b""):
                    rejected += 1
                else:
                    raise mchelper.TestFailure("unexpected reply %r" % reply)
        finally:
            for s in socks:
                s.close()
        check(served <= 5, "%d connections served with -c 5" % served)
        check_eq(served + rejected, 40, "every connection served or rejected")


def test_deep_pipeline_answered_in_order_with_yields():
    with Daemon(args=["-R", "5", "-t", "2"]) as d, Conn(d.port) as c:
        n = 3000
        req = b"".join(b"set p%d 0 0 %d\r\n%d\r\nget p%d\r\n" % (i, len(b"%d" % i), i, i)
                       for i in range(n))
        c.send(req + b"mn\r\n")
        for i in range(n):
            check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "set %d" % i)
            v = b"%d" % i
            check_eq(c.read_until(b"END\r\n"),
                     b"VALUE p%d 0 %d\r\n%s\r\nEND\r\n" % (i, len(v), v), "get %d" % i)
        check_eq(c.read_until(b"\r\n"), b"MN\r\n", "end marker")
        check(int(c.stats()["conn_yields"]) > 0, "-R 5 made the connection yield")


def test_idle_timeout_closes_idle_clients_only():
    with Daemon(args=["-o", "idle_timeout=1"]) as d:
        idle = Conn(d.port)
        busy = Conn(d.port)
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            check(busy.line(b"version\r\n").startswith(b"VERSION"), "busy client served")
            time.sleep(0.2)
        check_eq(idle.read_until_eof(timeout=3), b"", "idle client closed")
        check(busy.line(b"version\r\n").startswith(b"VERSION"), "busy client kept")
        idle.close()
        busy.close()


def test_very_verbose_logs_commands():
    with Daemon(args=["-vv"]) as d:
        with Conn(d.port) as c:
            check_eq(c.set_value(b"logged", b"v"), b"STORED\r\n", "set")
        time.sleep(0.2)
        log = d.log_tail(100000)
        check("set logged" in log, "-vv logs the command; log: %r" % log[-500:])


if __name__ == "__main__":
    mchelper.run_tests([
        test_sigterm_and_sigint_exit_cleanly,
        test_pidfile_and_daemonize,
        test_connection_limit_rejects_with_error,
        test_connection_limit_holds_for_a_burst,
        test_deep_pipeline_answered_in_order_with_yields,
        test_idle_timeout_closes_idle_clients_only,
        test_very_verbose_logs_commands,
    ])
