#!/usr/bin/python3
"""The dashboard's routes of the admin port: GET / and /assets/ (the files
embedded at build time), GET /history (the last hour at 1 s) and GET
/events (Server-Sent Events), with their bad input.

Covered: the page and its assets with their headers (CSP, ETag and 304),
404 for an unknown asset, 405 for a PUT; the build's embed.py refusing a
vendored file that does not match its SHA-256; /history sampling once a second
from the counters /metrics reads (ops, hit ratio, latency quantiles,
memory), ?since= filtering, 400 for a bad since and 414 for a 100 kB query;
/events: a hello, evictions with their key only for a client that gave the
token, a member's state change in a 3-node cluster, heartbeats that keep a
stream open past the admin port's 10 s idle timeout, the cap on streams
(503, then room again when one leaves), a client that never reads (its
events dropped and counted, its connection closed after 3 heartbeats without progress,
the bytes queued for the streams bounded, a reading client served meanwhile), and many
streams opened and dropped at once; the memcached port serves throughout.

Every wait is bounded; nothing signals a process this test did not start.
"""

import json
import socket
import time

import mchelper
from mchelper import Daemon, check, check_eq
from test_http import AUTH, HttpCluster, http_request, status_of, token_file

SSE_MAX_CLIENTS = 8  # src/admin/sse.h
SSE_CLIENT_MAX_BYTES = 64 * 1024
HEARTBEAT_S = 5


class Node:
    """One daemon with --http-port and --http-token."""

    def __init__(self, extra=()):
        self.token_path = token_file()
        self.http_port = mchelper.free_port()
        self.d = Daemon(args=["--http-port", str(self.http_port), "--http-token",
                              self.token_path] + list(extra))

    def __enter__(self):
        self.d.start()  # the admin port is bound before the client port
        return self

    def __exit__(self, *exc):
        import os
        try:
            self.d.stop()
        finally:
            os.unlink(self.token_path)
        return False

    def http(self, method, path, headers=None, body=None, timeout=5.0):
        return http_request("127.0.0.1", self.http_port, method, path, body, headers,
                            timeout)

    def json(self, path, want=200):
        status, _, body = self.http("GET", path)
        check_eq(status, want, "GET %s: %r" % (path, body[:300]))
        return json.loads(body)

    def metric(self, name):
        _, _, body = self.http("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise mchelper.TestFailure("no %s in /metrics" % name)


class Stream:
    """A raw GET /events: the status, then events as they come."""

    def __init__(self, port, headers=None, host="127.0.0.1", rcvbuf=None, read=True):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(5)
        self.s.connect((host, port))
        req = "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.s.sendall((req + "\r\n").encode())
        self.buf = b""
        self.status = None
        self.chunked = False
        if read:
            self._head()

    def _head(self):
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in self.buf and time.monotonic() < deadline:
            d = self.s.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = status_of(head + b"\r\n")
        self.chunked = b"chunked" in head.lower()
        self.raw = b""

    def _dechunk(self):
        """Moves whole chunks from buf to raw."""
        while True:
            line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return
            size = int(line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self.raw += rest[:size]
            self.buf = rest[size + 2:]

    def _parse(self, out):
        if self.chunked:
            self._dechunk()
        else:
            self.raw, self.buf = self.raw + self.buf, b""
        while b"\n\n" in self.raw:
            block, _, self.raw = self.raw.partition(b"\n\n")
            etype, data = "message", None
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    out.append(("comment", line[1:].strip()))
                elif line.startswith("event: "):
                    etype = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if data is not None:
                out.append((etype, data))

    def events(self, timeout, until=None):
        """(type, data) pairs (and ("comment", text) for heartbeats) read
        until until(list) is true or timeout passes; or the stream closed:
        then the last item is ("closed", None)."""
        out = []
        deadline = time.monotonic() + timeout
        self._parse(out)
        while time.monotonic() < deadline and not (until and until(out)):
            self.s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                d = b""
            if not d:
                out.append(("closed", None))
                break
            self.buf += d
            self._parse(out)
        return out

    def close(self):
        self.s.close()


def memcached_ok(port, what):
    with mchelper.Conn(port) as c:
        key = b"ok-%d" % time.monotonic_ns()
        check_eq(c.set_value(key, b"1"), b"STORED\r\n", what + ": set")
        check_eq(c.get_value(key), b"1", what + ": get")


# ---- the page ----

def test_page_and_assets():
    with Node() as n:
        status, h, body = n.http("GET", "/")
        check_eq(status, 200, "GET /")
        check(h["content-type"].startswith("text/html"), "type of /: %r" % h)
        check(b"/assets/dash.js" in body and b"/assets/uPlot.iife.min.js" in body,
              "the page loads its scripts from the node")
        check(b"http://" not in body and b"https://" not in body, "the page links elsewhere")
        check("default-src 'self'" in h["content-security-policy"], "CSP: %r" % h)
        check_eq(h["x-content-type-options"], "nosniff", "nosniff")
        for path, ctype, needle in (
                ("/assets/dash.js", "text/javascript", b"/events"),
                ("/assets/dash.css", "text/css", b".card"),
                ("/assets/uPlot.iife.min.js", "text/javascript", b"uPlot (v1.6.32)"),
                ("/assets/uPlot.min.css", "text/css", b".uplot"),
                ("/assets/uPlot.LICENSE.txt", "text/plain", b"MIT")):
            status, h, body = n.http("GET", path)
            check_eq(status, 200, "GET " + path)
            check(h["content-type"].startswith(ctype), "type of %s: %r" % (path, h))
            check(needle in body, "%s does not hold %r" % (path, needle))
            etag = h["etag"]
            status, _, body = n.http("GET", path, headers={"If-None-Match": etag})
            check_eq((status, body), (304, b""), "GET %s with its ETag" % path)
        check_eq(n.http("GET", "/assets/nope.js")[0], 404, "unknown asset")
        check_eq(n.http("GET", "/assets/../admin.c")[0], 404, "a path outside the assets")
        check_eq(n.http("PUT", "/", body=b"x")[0], 405, "PUT /")
        memcached_ok(n.d.port, "after the page")


def test_embed_checks_the_vendored_files():
    """The build's embed.py embeds the files, and stops when a vendored
    file is not the one SHA256SUMS names."""
    import os
    import shutil
    import subprocess
    import tempfile
    src = os.environ.get("MESHCACHED_SRCDIR",
                         os.path.join(os.path.dirname(__file__), "..", ".."))
    embed = os.path.join(src, "contrib", "admin-assets", "embed.py")
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("contrib/admin-assets", "src/admin/www"):
            shutil.copytree(os.path.join(src, d), os.path.join(tmp, d))
        out = os.path.join(tmp, "assets.c")
        r = subprocess.run(["/usr/bin/python3", embed, tmp, out], capture_output=True,
                           timeout=60)
        check_eq(r.returncode, 0, "embed.py on the tree: %r" % r.stderr)
        text = open(out).read()
        check("admin_asset_find" in text and '"/assets/uPlot.iife.min.js"' in text,
              "the generated file")
        with open(os.path.join(tmp, "contrib/admin-assets/uplot/uPlot.iife.min.js"), "ab") as f:
            f.write(b"/* changed */")
        os.unlink(out)
        r = subprocess.run(["/usr/bin/python3", embed, tmp, out], capture_output=True,
                           timeout=60)
        check(r.returncode != 0 and b"SHA256SUMS says" in r.stderr,
              "embed.py with a changed uPlot: %d %r" % (r.returncode, r.stderr))
        check(not os.path.exists(out), "a file was written anyway")


# ---- /history ----

def test_history_samples_every_second():
    with Node() as n:
        t0 = time.time()
        with mchelper.Conn(n.d.port) as c:
            for i in range(200):
                c.set_value(b"h%d" % i, b"x" * 1000)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                for i in range(0, 300, 3):
                    c.get_value(b"h%d" % i)  # 2 of 3 hit
        time.sleep(1.2)
        h = n.json("/history")
        check_eq((h["interval_s"], h["capacity"]), (1, 3600), "interval and capacity")
        cols = ("t", "ops_per_sec", "hit_ratio", "p50_us", "p99_us", "evictions_per_sec",
                "repaired_per_sec", "memory_bytes", "items", "connections")
        nsamples = len(h["t"])
        check(nsamples >= 3, "samples after 4 s: %d" % nsamples)
        for c in cols:
            check_eq(len(h[c]), nsamples, "length of " + c)
        steps = [b - a for a, b in zip(h["t"], h["t"][1:])]
        check(all(0.5 <= s < 3.0 for s in steps), "about 1 s apart: %r" % steps)
        check(h["t"][-1] >= t0 and h["t"][-1] <= time.time() + 1, "wall clock t: %r" % h["t"])
        busy = [i for i, v in enumerate(h["ops_per_sec"]) if v > 100]
        check(busy, "no busy second in %r" % h["ops_per_sec"])
        i = busy[-1]
        check(0.55 < h["hit_ratio"][i] < 0.80, "hit ratio of a busy second: %r" % h["hit_ratio"])
        check(0 < h["p50_us"][i] <= h["p99_us"][i] < 1e6, "p50 %r p99 %r" % (h["p50_us"][i], h["p99_us"][i]))
        check(h["memory_bytes"][-1] > 200 * 1000, "memory: %r" % h["memory_bytes"][-1])
        check_eq(h["items"][-1], 200, "items")
        check_eq(h["memory_limit_bytes"], 64 * 1024 * 1024, "limit")
        # since: only later samples
        later = n.json("/history?since=%f" % h["t"][-2])
        check_eq(later["t"], h["t"][-1:] if later["t"][:1] == h["t"][-1:] else later["t"],
                 "since")
        check(all(t > h["t"][-2] for t in later["t"]) and later["t"][:1] == h["t"][-1:],
              "since=%r gave %r" % (h["t"][-2], later["t"]))
        check_eq(n.json("/history?since=%d" % (time.time() + 3600))["t"], [], "since the future")
        # idle seconds: no commands, no ratio and no quantiles (null)
        time.sleep(2.2)
        idle = n.json("/history?since=%f" % (time.time() - 1.5))
        check(idle["t"] and idle["ops_per_sec"][-1] < 5, "idle ops: %r" % idle["ops_per_sec"])
        check_eq(idle["hit_ratio"][-1], None, "hit ratio without gets")
        # bad input
        for q in ("since=abc", "since=", "since=nan", "since=1e999", "since=%ZZ"):
            status, _, body = n.http("GET", "/history?" + q)
            check_eq(status, 400, "GET /history?%s: %r" % (q, body))
        status, _, _ = n.http("GET", "/history?since=1&x=" + "a" * 100000, timeout=10)
        check(status in (400, 414), "a 100 kB query: %d" % status)
        memcached_ok(n.d.port, "after /history")


# ---- /events ----

def evictions_until(port, stream, timeout, keys):
    """Writes big values on a small node until stream saw an eviction."""
    got = []
    deadline = time.monotonic() + timeout
    with mchelper.Conn(port) as c:
        i = 0
        while time.monotonic() < deadline:
            for _ in range(100):
                c.set_value(b"ev-%d" % i, b"e" * 50000)
                i += 1
            got += stream.events(0.2)
            if any(t == "eviction" for t, _ in got):
                return got
    raise mchelper.TestFailure("no eviction event after %d sets: %r" % (i, got[-5:]))


def test_events_evictions_keys_only_with_token():
    with Node(extra=["-m", "4"]) as n:
        anon = Stream(n.http_port)
        authed = Stream(n.http_port, headers=AUTH)
        wrong = Stream(n.http_port, headers={"Authorization": "Bearer nope"})
        try:
            for s, keys in ((anon, False), (authed, True), (wrong, False)):
                check_eq(s.status, 200, "GET /events")
                hello = s.events(3, until=lambda o: any(t == "hello" for t, _ in o))
                check(("hello", {"node": "127.0.0.1:%d" % n.d.port, "keys": keys}) in hello,
                      "hello: %r" % hello)
            check_eq(n.metric("meshcached_http_event_streams"), 3, "streams open")
            got = evictions_until(n.d.port, authed, 20, True)
            a = [d for t, d in got + authed.events(1) if t == "eviction"]
            b = [d for t, d in anon.events(3) + wrong.events(1) if t == "eviction"]
            check(a and b, "evictions seen: with token %d, without %d" % (len(a), len(b)))
            check(all(d["key"].startswith("ev-") for d in a), "keys: %r" % a[:3])
            check(all("key" not in d and d["type"] == "eviction" and "size" in d for d in b),
                  "no key without the token: %r" % b[:3])
        finally:
            for s in (anon, authed, wrong):
                s.close()
        deadline = time.monotonic() + 5
        while n.metric("meshcached_http_event_streams") != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        check_eq(n.metric("meshcached_http_event_streams"), 0, "streams after the clients left")
        memcached_ok(n.d.port, "after the event streams")


def test_events_stream_outlives_the_idle_timeout():
    with Node() as n:
        s = Stream(n.http_port)
        try:
            got = s.events(HEARTBEAT_S * 2 + 3)  # the admin port closes idle clients at 10 s
            beats = [x for x in got if x == ("comment", "heartbeat")]
            check(("closed", None) not in got, "the stream closed: %r" % got)
            check(len(beats) >= 2, "heartbeats in %d s: %r" % (HEARTBEAT_S * 2 + 3, got))
        finally:
            s.close()


def test_events_cap_then_room_again():
    with Node() as n:
        streams = [Stream(n.http_port) for _ in range(SSE_MAX_CLIENTS)]
        try:
            check(all(s.status == 200 for s in streams), "the first %d" % SSE_MAX_CLIENTS)
            extra = Stream(n.http_port)
            check_eq(extra.status, 503, "stream over the cap")
            extra.close()
            check_eq(n.metric("meshcached_http_event_streams_refused_total"), 1, "refused")
            streams.pop().close()
            deadline = time.monotonic() + 5
            again = None
            while time.monotonic() < deadline:
                again = Stream(n.http_port)
                if again.status == 200:
                    break
                again.close()
                time.sleep(0.2)
            check_eq(again.status, 200, "a stream once one left")
            streams.append(again)
            memcached_ok(n.d.port, "with the streams full")
        finally:
            for s in streams:
                s.close()
        # many opened and dropped at once, some before their reply
        socks = []
        for i in range(40):
            s = Stream(n.http_port, read=False)
            socks.append(s)
            if i % 2:
                s.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
        for s in socks:
            s.close()
        deadline = time.monotonic() + 8
        while n.metric("meshcached_http_event_streams") != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        check_eq(n.metric("meshcached_http_event_streams"), 0, "streams after a storm")
        check(Stream(n.http_port).status == 200, "a stream after the storm")
        memcached_ok(n.d.port, "after the storm")


def test_events_slow_client_is_bounded_and_closed():
    with Node(extra=["-m", "4"]) as n:
        rss0 = mchelper.rss_kb(n.d.pid)
        stuck = Stream(n.http_port, headers=AUTH, rcvbuf=4096)  # never reads again
        reader = Stream(n.http_port, headers=AUTH)
        seen = 0
        try:
            # evictions with 250-byte keys: about 400 bytes per event
            t0 = time.monotonic()
            with mchelper.Conn(n.d.port) as c:
                i = 0
                while time.monotonic() < t0 + 8:
                    for _ in range(200):
                        c.set_value(b"k" * 240 + b"%010d" % i, b"e" * 20000)
                        i += 1
                    seen += sum(1 for t, _ in reader.events(0.01) if t == "eviction")
            dropped = n.metric("meshcached_http_events_dropped_total")
            check(dropped > 0, "no event dropped for the stuck client (%d sets)" % i)
            check(seen > 1000, "the reading client saw %d evictions" % seen)
            # what waits for the two streams stays under their bounds (an
            # event may pass its stream's by its own size)
            queued = n.metric("meshcached_http_event_streams_queued_bytes")
            check(0 < queued <= 2 * (SSE_CLIENT_MAX_BYTES + 2048),
                  "bytes queued for the streams: %d" % queued)
            rss = mchelper.rss_kb(n.d.pid)
            # the stuck client takes nothing: closed after 3 heartbeats (10-15 s)
            deadline = time.monotonic() + 25
            while n.metric("meshcached_http_event_streams") > 1 and time.monotonic() < deadline:
                reader.events(0.2)
            check_eq(n.metric("meshcached_http_event_streams"), 1, "streams after the stall")
            check_eq(n.metric("meshcached_http_event_streams_stalled_total"), 1, "stalled")
            got = reader.events(HEARTBEAT_S + 1, until=lambda o: ("comment", "heartbeat") in o)
            check(("comment", "heartbeat") in got, "the reader still served: %r" % got[-3:])
            print("slow client: %d events dropped, reader saw %d, %d bytes queued, "
                  "RSS +%d kB (not a bound: the store's churn and ASan's quarantine "
                  "move it)" % (dropped, seen, queued, rss - rss0))
        finally:
            stuck.close()
            reader.close()
        memcached_ok(n.d.port, "after the slow client")


def test_events_member_changes_in_a_cluster():
    with HttpCluster(n=3, extra=["-o", "peer_timeout_ms=300"]) as cl:
        cl.wait_formed()
        s = Stream(cl.http_ports[0], host=cl.hosts[0])
        try:
            check_eq(s.status, 200, "GET /events")
            cl.kill(2)
            got = s.events(15, until=lambda o: any(
                t == "member" and d["id"] == cl.ids[2] for t, d in o))
            ev = [d for t, d in got if t == "member" and d["id"] == cl.ids[2]]
            check(ev, "no member event for %s: %r" % (cl.ids[2], got))
            check_eq((ev[0]["state"], ev[0]["addr"]), ("dead", cl.addrs[2]), "its state")
            cl.restart(2)
            got = s.events(15, until=lambda o: any(
                t == "member" and d["id"] == cl.ids[2] and d["state"] == "alive" for t, d in o))
            check(any(t == "member" and d["state"] == "alive" for t, d in got),
                  "no alive event after the restart: %r" % got)
        finally:
            s.close()
        with cl.conn(0) as c:
            check_eq(c.set_value(b"after", b"1"), b"STORED\r\n", "memcached after the changes")


if __name__ == "__main__":
    mchelper.run_tests([
        test_page_and_assets,
        test_embed_checks_the_vendored_files,
        test_history_samples_every_second,
        test_events_evictions_keys_only_with_token,
        test_events_stream_outlives_the_idle_timeout,
        test_events_cap_then_room_again,
        test_events_slow_client_is_bounded_and_closed,
        test_events_member_changes_in_a_cluster,
    ])
