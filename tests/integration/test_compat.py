#!/usr/bin/python3
"""Differential ASCII-protocol test: $MESHCACHED against reference memcached.

Each scenario is a list of steps sent on one fresh connection to a fresh
daemon: raw byte chunks (each chunk is one send(), with a short pause
between chunks so split packets are exercised), pauses, and functions that
build the next chunk from the replies so far (for cas values). The runner
then appends `mn\\r\\n` and reads until `MN\\r\\n`, or reads until EOF for
scenarios that end the connection, and compares the two replies byte for
byte after normalize() has replaced what legitimately differs (CAS values,
the version string, second-granular clock readings).

Scenarios with `expect` also pin memcached's exact bytes, so this file
asserts real behaviour even when $MESHCACHED is memcached itself; the
surprising ones are summarised in COMPAT_NOTES.md.

    test_compat.py                 run every scenario (exit 0/1)
    test_compat.py --dump [WORD]   print the reference's normalized replies
"""

import concurrent.futures
import math
import os
import re
import socket
import sys
import time

import mchelper
from compat_scenarios import SCENARIOS, Sleep
from mchelper import check

CHUNK_PAUSE = 0.02  # seconds between the send() calls of one scenario
BYTE_PAUSE = 0.001  # between the bytes of a bytewise scenario
REPLY_TIMEOUT = 3.0  # per scenario, waiting for the sentinel or EOF
WORKERS = 8  # scenarios run in parallel, each on its own pair of daemons
# Marks a server-side close; EOF and RST are the same to a client here.
CLOSED = b"<CLOSED>"


# --- normalization ----------------------------------------------------------

VALUE_LINE = re.compile(rb"^VALUE ([^ ]+) (\d+) (\d+)( \d+)?$")
NUMBER = re.compile(rb"^-?\d+$")
META_CODES = (b"HD", b"VA", b"EN", b"NF", b"NS", b"EX", b"MN")


def _round_ttl(n):
    """Blur a second-granular remaining time: 91..100 -> 100, -95 -> -100.

    A reading taken right after a store can be one second lower when the
    server's clock ticks in between, so scenarios use TTLs ending in 5.
    """
    if n in (-1, 0):
        return b"%d" % n
    mag = int(math.ceil(abs(n) / 10.0)) * 10
    return b"%d~" % (mag if n > 0 else -mag)


class Normalizer:
    def __init__(self, keep):
        self.keep = keep
        self.cas = {}

    def cas_token(self, text):
        n = int(text)
        if n == 0 or n in self.keep:
            return text
        if n not in self.cas:
            self.cas[n] = len(self.cas) + 1
        return b"<cas%d>" % self.cas[n]

    def meta_flags(self, tokens):
        out = []
        for tok in tokens:
            if NUMBER.match(tok[1:]):
                if tok[:1] == b"c":
                    tok = b"c" + self.cas_token(tok[1:])
                elif tok[:1] == b"t":
                    tok = b"t" + _round_ttl(int(tok[1:]))
                elif tok[:1] == b"l":
                    # seconds since last access: 0 or 1 in a quick scenario
                    tok = b"l<small>" if int(tok[1:]) <= 2 else tok
            out.append(tok)
        return out

    def me_line(self, line):
        out = []
        for tok in line.split(b" "):
            name, eq, val = tok.partition(b"=")
            if not NUMBER.match(val):
                pass  # not a number: compared as is
            elif eq and name == b"exp":
                val = _round_ttl(int(val))
            elif eq and name == b"la":
                val = b"<small>" if int(val) <= 2 else val
            elif eq and name == b"cas":
                val = self.cas_token(val)
            elif eq and name in (b"cls", b"size"):
                # slab class and item size describe memcached's own
                # memory layout; meshcached need not copy them.
                val = b"<%s>" % name
            out.append(name + eq + val)
        return b" ".join(out)

    def run(self, reply):
        out = []
        pos = 0
        while pos < len(reply):
            end = reply.find(b"\r\n", pos)
            if end < 0:
                out.append(reply[pos:])
                break
            line = reply[pos:end]
            pos = end + 2
            data_len = None
            m = VALUE_LINE.match(line)
            tokens = line.split(b" ")
            if m:
                data_len = int(m.group(3))
                if m.group(4):
                    line = line[:m.start(4)] + b" " + self.cas_token(m.group(4)[1:])
            elif tokens[0] in META_CODES:
                if tokens[0] == b"VA" and len(tokens) > 1 and tokens[1].isdigit():
                    data_len = int(tokens[1])
                    tokens = tokens[:2] + self.meta_flags(tokens[2:])
                else:
                    tokens = tokens[:1] + self.meta_flags(tokens[1:])
                line = b" ".join(tokens)
            elif tokens[0] == b"ME":
                line = self.me_line(line)
            elif tokens[0] == b"VERSION":
                line = b"VERSION <version>"
            out.append(line + b"\r\n")
            if data_len is not None:
                out.append(reply[pos:pos + data_len + 2])
                pos += data_len + 2
        return b"".join(out)


def normalize(reply, keep=()):
    return Normalizer(set(keep)).run(reply)


# --- running ----------------------------------------------------------------

MN_LINE = re.compile(rb"(?:^|\n) *mn(?=[ \r\n])")


class _Run:
    """One scenario on one connection: what was sent, what came back.

    Completion is detected by counting: after the runner's own `mn` the
    reply must hold one `MN\r\n` per `mn` line sent so far, so scenarios
    may contain `mn` themselves.
    """

    def __init__(self, port, sc):
        self.sc = sc
        self.conn = mchelper.Conn(port, REPLY_TIMEOUT)
        self.sent = b""
        self.reply = b""
        self.closed = False

    def send(self, data):
        self.sent += data
        if not self.sc.bytewise:
            self.conn.send(data)
            return
        for i in range(len(data)):
            self.conn.send(data[i:i + 1])
            time.sleep(BYTE_PAUSE)

    def _read(self, done):
        """Read until done() holds; False on close or timeout (marked)."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                self.reply += b"<TIMEOUT>"
                return False
            self.conn.sock.settimeout(left)
            try:
                chunk = self.conn.sock.recv(65536)
            except socket.timeout:
                self.reply += b"<TIMEOUT>"
                return False
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.reply += CLOSED
                self.closed = True
                return False
            self.reply += chunk
        return True

    def sync(self):
        self.send(b"mn\r\n")
        want = len(MN_LINE.findall(self.sent))
        return self._read(lambda: self.reply.count(b"MN\r\n") >= want)

    def read_to_close(self):
        self._read(lambda: False)

    def run(self):
        first = True
        for step in self.sc.steps:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            if callable(step):
                # Synchronise so the step sees every reply so far.
                if not self.sync():
                    return
                step = step(self.reply)
            if not first:
                time.sleep(CHUNK_PAUSE)
            first = False
            self.send(step)
        if self.sc.eof:
            self.read_to_close()
        else:
            self.sync()


def run_scenario(port, sc):
    """The raw reply of one scenario (with <CLOSED>/<TIMEOUT> markers)."""
    r = _Run(port, sc)
    try:
        r.run()
    except (BrokenPipeError, ConnectionResetError):
        # The server closed while we were still sending.
        if not r.closed:
            r.reply += CLOSED
    finally:
        r.conn.close()
    return r.reply


def run_on_fresh_daemon(binary, sc, reaper):
    """Run sc on a new daemon, then SIGTERM it without waiting (memcached
    takes about a second to exit); reaper collects it for stop_all()."""
    d = mchelper.Daemon(binary, sc.args).start()
    try:
        return run_scenario(d.port, sc)
    finally:
        d.terminate()
        reaper.append(d)


def compare(sc, ref_reply, got_reply, dut_is_ref):
    """None if equal, else a message describing the difference.

    Scenarios of a declared meshcached extension (ext_expect) hold the
    daemon to ext_expect instead of the reference, unless the daemon under
    test is the reference itself.
    """
    ref = normalize(ref_reply, sc.keep)
    got = normalize(got_reply, sc.keep)
    problems = []
    if sc.expect is not None and ref != sc.expect:
        problems.append("reference differs from the pinned expectation:\n"
                        "  expect: %r\n  ref:    %r" % (sc.expect, ref))
    if sc.ext_expect is not None and not dut_is_ref:
        if got != sc.ext_expect:
            problems.append("daemon differs from the extension's expectation:\n"
                            "  ext: %r\n  got: %r" % (sc.ext_expect, got))
    elif got != ref:
        problems.append("daemon differs from reference:\n"
                        "  ref: %r\n  got: %r" % (ref, got))
    if not sc.eof and not ref.endswith(b"MN\r\n"):
        problems.append("reference reply incomplete: %r" % ref)
    return "\n".join(problems) or None


def stop_all(daemons):
    """Wait for every daemon; describe those that did not exit cleanly
    (crashed before the SIGTERM, or a nonzero/signal status after it)."""
    crashed = []
    for d in daemons:
        status = d.stop(require_clean=False)
        if status != 0 or not d.sigterm_sent:
            crashed.append("%s pid %d status %r%s; log:\n%s"
                           % (d.binary, d.pid, status,
                              "" if d.sigterm_sent else " (died before SIGTERM)",
                              d.log_tail(500)))
    return crashed


def run_all(selected):
    ref_bin = mchelper.reference_binary()
    dut_bin = mchelper.daemon_binary()
    reaper = []

    dut_is_ref = mchelper.daemon_is_reference()

    def one(sc):
        ref = run_on_fresh_daemon(ref_bin, sc, reaper)
        got = run_on_fresh_daemon(dut_bin, sc, reaper)
        return sc, compare(sc, ref, got, dut_is_ref)

    failures = []
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        for sc, problem in pool.map(one, selected):
            if problem:
                failures.append(sc.name)
                print("FAIL %s\n%s" % (sc.name, problem), flush=True)
    crashed = stop_all(reaper)
    for c in crashed:
        print("CRASH/unclean exit: %s" % c)
    print("%d scenarios, %d failed, %d unclean exits"
          % (len(selected), len(failures), len(crashed)))
    return not failures and not crashed


def dump(selected):
    reaper = []
    try:
        for sc in selected:
            reply = run_on_fresh_daemon(mchelper.reference_binary(), sc, reaper)
            print("%-40s %r" % (sc.name, normalize(reply, sc.keep)), flush=True)
    finally:
        stop_all(reaper)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--dump":
        word = args[1] if len(args) > 1 else ""
        dump([sc for sc in SCENARIOS if word in sc.name])
        return 0
    if not os.access(mchelper.daemon_binary(), os.X_OK):
        print("FAIL: daemon %s is not executable" % mchelper.daemon_binary())
        return 1
    if not os.access(mchelper.reference_binary(), os.X_OK):
        print("SKIP: reference %s is not executable" % mchelper.reference_binary())
        return mchelper.EXIT_SKIP
    names = [sc.name for sc in SCENARIOS]
    check(len(names) == len(set(names)), "duplicate scenario names")
    t0 = time.monotonic()
    ok = run_all(SCENARIOS)
    print("%.1f s" % (time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
