#!/usr/bin/python3
"""Shared helpers for the meshcached integration tests.

Starts and stops daemons on ephemeral loopback ports, speaks the raw ASCII
protocol with bounded timeouts, parses `stats`, reads VmRSS, and runs a list
of test functions with the exit-code contract of the Makefile
(0 = pass, 1 = fail, 77 = skip).

Every daemon is started and stopped by pid; nothing here signals a process
it did not start.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

DEFAULT_BINARY = "/usr/bin/memcached"
START_TIMEOUT = 5.0  # seconds until a fresh daemon must accept connections
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
IO_TIMEOUT = 5.0  # default per-read timeout of the raw client
EXIT_SKIP = 77


class TestFailure(Exception):
    """An assertion about the daemon's behaviour did not hold."""


class TestSkip(Exception):
    """The test cannot run here (missing tool or binary)."""


def check(cond, msg):
    """Fail the current test with msg unless cond holds."""
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


def daemon_binary():
    """The daemon under test: $MESHCACHED, else memcached."""
    return os.environ.get("MESHCACHED") or DEFAULT_BINARY


def reference_binary():
    """The reference for differential tests: $MEMCACHED_REF, else memcached."""
    return os.environ.get("MEMCACHED_REF") or DEFAULT_BINARY


_ports_lock = threading.Lock()
_ports_given = set()


def daemon_is_reference():
    """True when the daemon under test is the reference memcached itself
    (then memcached's own rules apply where meshcached deliberately
    differs: item size limit, meta E flag)."""
    dut = os.path.realpath(daemon_binary())
    return (dut == os.path.realpath(reference_binary())
            or os.path.basename(dut) == "memcached")


def free_port(host="127.0.0.1"):
    """A port that was free on host a moment ago (bind to 0, read it,
    release it).

    Never hands out the same port twice in one process, so daemons started
    in parallel by one test cannot race for it.
    """
    with _ports_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise TestFailure("no unused free port in 100 tries")


def _can_connect(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _listening_inodes(port, pid=None):
    """Socket inodes listening on TCP port (IPv4), from /proc/net/tcp (with
    pid: /proc/PID/net/tcp, the table of that process's network namespace);
    None if that file cannot be read."""
    try:
        with open("/proc/net/tcp" if pid is None else "/proc/%d/net/tcp" % pid) as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    inodes = set()
    for row in rows:
        fields = row.split()
        if len(fields) > 9 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def _owns_listener(pid, port):
    """True if process pid holds a socket listening on port; None if
    /proc cannot tell."""
    # The process's own table: it may run in another network namespace.
    inodes = _listening_inodes(port, pid)
    if inodes is None:
        inodes = _listening_inodes(port)
    if inodes is None:
        return None
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


class Daemon:
    """One daemon process on a loopback port; use as a context manager.

    args are extra flags (e.g. ["-m", "8", "-M"]). The daemon's stdout and
    stderr go to a temporary file whose tail is shown when something fails.

    host is the address given to -l (any 127.0.0.0/8 address works on Linux
    loopback). port fixes the port instead of picking a free one: when the
    daemon exits at start (the port is taken), it is tried again on the same
    port, attempts times in all, 0.2 s apart.

    prefix is a command put before the daemon's, e.g. ["ip", "netns",
    "exec", NAME]; it must exec the daemon in its own process (as `ip netns
    exec` does), so that the pid is the daemon's. Its listener is then found
    in /proc/PID/net/tcp, whatever network namespace it runs in.
    """

    def __init__(self, binary=None, args=(), attempts=5, host="127.0.0.1", port=None,
                 prefix=()):
        self.binary = binary or daemon_binary()
        self.args = list(args)
        self.prefix = list(prefix)
        self.attempts = attempts
        self.host = host
        self.fixed_port = port
        self.proc = None
        self.port = None
        self.log = None
        self.sigterm_sent = None  # None: not yet; else whether it was running
        self.killed = False  # kill() was used: stop() only collects the status
        self.paused = False  # pause() sent SIGSTOP and resume() has not undone it

    @property
    def pid(self):
        return self.proc.pid

    def _command(self, port):
        cmd = self.prefix + [self.binary, "-p", str(port), "-l", self.host, "-U", "0"]
        # memcached refuses to run as root without -u; meshcached accepts -u.
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        return cmd + self.args

    def start(self):
        if not os.access(self.binary, os.X_OK):
            # A missing daemon is a broken setup, not a reason to skip.
            raise TestFailure("daemon binary %s is not executable" % self.binary)
        last = ""
        for attempt in range(self.attempts):
            if self.fixed_port is None:
                port = free_port(self.host)
            else:
                port = self.fixed_port
                if attempt:
                    time.sleep(0.2)
            self.log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                self._command(port), stdin=subprocess.DEVNULL,
                stdout=self.log, stderr=subprocess.STDOUT)
            started = time.monotonic()
            while time.monotonic() < started + START_TIMEOUT:
                if self.proc.poll() is not None:
                    break
                # The listener must be ours: another daemon may have taken
                # the port, and ours is about to fail its bind(). A daemon
                # that forks (so the listener is not in our pid) is trusted
                # once it has been connectable for a while.
                owned = _owns_listener(self.proc.pid, port)
                trust = owned is None or time.monotonic() > started + 2
                if owned or (trust and _can_connect(port, self.host)):
                    self.port = port
                    return self
                time.sleep(0.02)
            last = self.log_tail()
            if self.proc.poll() is None:
                self._kill_hard()
                raise TestFailure("%s did not accept on port %d within %.0f s;"
                                  " log:\n%s" % (self.binary, port,
                                                 START_TIMEOUT, last))
            # It exited: most likely another process took the port between
            # free_port() and bind(). Try another port (or the fixed one
            # again).
        raise TestFailure("%s failed to start %d times; last log:\n%s"
                          % (self.binary, self.attempts, last))

    def _kill_hard(self):
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=STOP_TIMEOUT)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9 the daemon and reap it; stop() afterwards only returns
        the status. Signals only the process this object started."""
        if self.proc is not None:
            if self.proc.poll() is None:
                if self.paused:
                    self.resume()
                self._kill_hard()
            self.killed = True

    def pause(self):
        """SIGSTOP: the daemon keeps its sockets but answers nothing."""
        if self.alive() and not self.paused:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self):
        """SIGCONT after pause()."""
        if self.paused:
            self.paused = False
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)

    def terminate(self):
        """Send SIGTERM without waiting; stop() collects the exit status."""
        if self.proc is not None and self.sigterm_sent is None:
            self.sigterm_sent = self.proc.poll() is None
            if self.sigterm_sent:
                os.kill(self.proc.pid, signal.SIGTERM)

    def stop(self, require_clean=True):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status.

        With require_clean, fail unless the daemon was still running and
        exited with status 0 on SIGTERM (a crash shows as a signal or a
        nonzero status).
        """
        if self.proc is None:
            return None
        if self.killed:
            return self.proc.returncode
        self.resume()
        self.terminate()
        try:
            status = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill_hard()
            if require_clean:
                raise TestFailure("%s ignored SIGTERM for %.0f s"
                                  % (self.binary, STOP_TIMEOUT))
            status = self.proc.returncode
        if require_clean:
            check(self.sigterm_sent, "%s died before stop (status %r); log:\n%s"
                  % (self.binary, status, self.log_tail()))
            check(status == 0, "%s exited with status %r on SIGTERM; log:\n%s"
                  % (self.binary, status, self.log_tail()))
        return status

    def log_tail(self, limit=2000):
        if self.log is None:
            return ""
        self.log.flush()
        self.log.seek(0)
        data = self.log.read()
        return data[-limit:].decode("utf-8", "replace")

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def connect(self, timeout=IO_TIMEOUT):
        return Conn(self.port, timeout, self.host)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        # Do not mask the original failure with a stop failure.
        self.stop(require_clean=exc_type is None)
        return False


def rss_kb(pid):
    """Resident set size of pid in kB, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise TestFailure("no VmRSS for pid %d" % pid)


class Conn:
    """A raw protocol client with a timeout on every socket operation."""

    def __init__(self, port, timeout=IO_TIMEOUT, host="127.0.0.1"):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        self.sock.settimeout(self.timeout)
        if chunk:
            self.buf += chunk
        return chunk

    def read_until(self, terminator, timeout=None):
        """Bytes up to and including the first terminator.

        Raises TestFailure on timeout or if the server closes first.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        while terminator not in self.buf:
            try:
                chunk = self._fill(deadline)
            except socket.timeout:
                raise TestFailure("timeout waiting for %r; have %r"
                                  % (terminator, self.buf[-300:]))
            if not chunk:
                raise TestFailure("connection closed waiting for %r; have %r"
                                  % (terminator, self.buf[-300:]))
        end = self.buf.index(terminator) + len(terminator)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            try:
                chunk = self._fill(deadline)
            except socket.timeout:
                raise TestFailure("timeout reading %d bytes; have %d"
                                  % (n, len(self.buf)))
            if not chunk:
                raise TestFailure("connection closed after %d of %d bytes"
                                  % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until_eof(self, timeout=None):
        """Everything until the server closes; fails on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                chunk = self._fill(deadline)
            except socket.timeout:
                raise TestFailure("timeout waiting for close; have %r"
                                  % self.buf[-300:])
            except ConnectionResetError:
                break
            if not chunk:
                break
        out, self.buf = self.buf, b""
        return out

    def line(self, data):
        """Send data, return one reply line (with its \\r\\n)."""
        self.send(data)
        return self.read_until(b"\r\n")

    def get_value(self, key):
        """Value of key via `get`, or None on a miss."""
        self.send(b"get " + key + b"\r\n")
        head = self.read_until(b"\r\n")
        if head == b"END\r\n":
            return None
        check(head.startswith(b"VALUE "), "bad get reply %r" % head)
        length = int(head.split()[3])
        data = self.read_exact(length + 2)[:-2]
        check_eq(self.read_until(b"\r\n"), b"END\r\n", "get trailer")
        return data

    def set_value(self, key, value, flags=0, exptime=0):
        """Store with `set`; returns the reply line."""
        self.send(b"set %s %d %d %d\r\n%s\r\n"
                  % (key, flags, exptime, len(value), value))
        return self.read_until(b"\r\n")

    def stats(self, sub=b""):
        """Parse `stats [sub]` into {name: value-string}."""
        cmd = b"stats" + (b" " + sub if sub else b"") + b"\r\n"
        self.send(cmd)
        return parse_stats(self.read_until(b"END\r\n"))


def parse_stats(raw):
    """Parse `STAT name value` lines (up to END) into a dict of str."""
    out = {}
    for line in raw.split(b"\r\n"):
        if not line or line == b"END":
            continue
        parts = line.split(b" ", 2)
        check(parts[0] == b"STAT" and len(parts) == 3, "bad stats line %r" % line)
        out[parts[1].decode()] = parts[2].decode()
    return out


def run_tests(tests):
    """Run test functions in order; exit 0 if all pass, 77 if all skip."""
    failed, skipped = [], []
    for fn in tests:
        name = fn.__name__
        t0 = time.monotonic()
        try:
            fn()
        except TestSkip as e:
            skipped.append(name)
            print("SKIP %s: %s" % (name, e), flush=True)
            continue
        except Exception:
            failed.append(name)
            print("FAIL %s (%.1f s)" % (name, time.monotonic() - t0))
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            continue
        print("PASS %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
    if failed:
        print("%d failed: %s" % (len(failed), " ".join(failed)))
        sys.exit(1)
    if tests and len(skipped) == len(tests):
        sys.exit(EXIT_SKIP)
    sys.exit(0)
