#!/usr/bin/python3
"""The HTTP admin port (--http-port) on a 3-node cluster (test_cluster's
Cluster: --peers, two copies per key).

Covered: every route (/healthz, /readyz, /metrics, /cache/{key},
/cluster/status, /cluster/distribution, /nodes/{id}/stats, /keys); what
the HTTP port of one node writes, the memcached port of another reads, and
back; /metrics parsed by Debian's prometheus_client text parser, with the
expected families and counters and histograms that move after traffic;
/readyz turning 503 when the write quorum cannot be reached; the bearer
token (401, and 403 without --http-token); bad input (a 100 kB URL, a URL
over 8 kB, garbage bytes, a huge Content-Length, a body over -I, keys over
250 bytes, bad escapes, a slow client and idle connections held open)
while the node keeps serving its memcached port.

Every wait is bounded; nothing signals a process this test did not start.
"""

import http.client
import os
import random
import socket
import tempfile
import time
import urllib.parse

import mchelper
from mchelper import Daemon, TestFailure, check, check_eq
from test_cluster import Cluster, read_values, require_meshcached

TOKEN = "t0ken-for-the-test"
AUTH = {"Authorization": "Bearer " + TOKEN}
DEATH_TIMEOUT = 8.0  # SIGSTOP -> dead in the survivor's view -> 503


def token_file():
    f = tempfile.NamedTemporaryFile("w", prefix="mc-http-token-", delete=False)
    f.write(TOKEN + "\n")
    f.close()
    return f.name


def http_request(host, port, method, path, body=None, headers=None, timeout=5.0):
    """One request: (status, headers dict (lower-case names), body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class HttpCluster(Cluster):
    """A Cluster whose nodes each serve --http-port (with --http-token)."""

    def __init__(self, n=3, extra=(), token=True):
        super().__init__(n=n, extra=["--replicas", "2"] + list(extra))
        self.token_path = token_file() if token else None
        self.http_ports = [mchelper.free_port(h) for h in self.hosts]
        for i in range(n):
            self.args[i] += ["--http-port", str(self.http_ports[i])]
            if token:
                self.args[i] += ["--http-token", self.token_path]

    def stop(self, clean=True):
        try:
            super().stop(clean)
        finally:
            if self.token_path:
                os.unlink(self.token_path)
                self.token_path = None

    def http(self, i, method, path, body=None, headers=None, timeout=5.0):
        """(status, headers dict (lower-case names), body bytes)."""
        return http_request(self.hosts[i], self.http_ports[i], method, path, body,
                            headers, timeout)

    def json(self, i, path, headers=None, want=200):
        import json
        status, _, body = self.http(i, "GET", path, headers=headers)
        check_eq(status, want, "GET %s on %s: %r" % (path, self.ids[i], body[:300]))
        return json.loads(body)


def reply_complete(out):
    """Whether out holds a whole HTTP reply (headers and Content-Length)."""
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def raw_http(host, port, data, timeout=5.0):
    """Sends raw bytes, returns the reply: what comes back until it is
    whole or the server closes."""
    s = socket.create_connection((host, port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            out += d
            if reply_complete(out):
                break
    except (BrokenPipeError, ConnectionResetError):
        pass  # it answered and closed while we were still sending
    finally:
        s.close()
    return out


def status_of(reply):
    check(reply.startswith(b"HTTP/1.1 "), "not an HTTP reply: %r" % reply[:100])
    return int(reply.split(b" ", 2)[1])


def memcached_works(cl, i, what):
    """A set and a get on node i's memcached port."""
    with cl.conn(i) as c:
        key = b"alive-%d-%d" % (i, time.monotonic_ns())
        check_eq(c.set_value(key, b"yes"), b"STORED\r\n", what + ": set")
        check_eq(c.get_value(key), b"yes", what + ": get")


def quote(key):
    return urllib.parse.quote(key, safe="")


# ---- the routes ----

def test_cache_written_on_one_port_is_read_on_the_other():
    with HttpCluster() as cl:
        cl.wait_formed()
        for i in range(3):
            check_eq(cl.http(i, "GET", "/healthz")[0], 200, "healthz on %s" % cl.ids[i])
            check_eq(cl.json(i, "/readyz")["ready"], True, "readyz on %s" % cl.ids[i])
        # HTTP on A -> memcached on B and C, many keys (some owned by A)
        for n in range(40):
            key = "hk-%d" % n
            st, _, body = cl.http(0, "PUT", "/cache/%s?ttl=300&flags=%d" % (key, n),
                                  body=b"value-%d" % n, headers=AUTH)
            check_eq(st, 200, "PUT %s: %r" % (key, body))
        for i in (1, 2):
            with cl.conn(i) as c:
                for n in range(40):
                    c.send(b"get hk-%d\r\n" % n)
                    check_eq(read_values(c), [(b"hk-%d" % n, n, b"value-%d" % n, None)],
                             "get hk-%d on %s" % (n, cl.ids[i]))
        # memcached on B -> HTTP on A and C, with flags, TTL and version
        with cl.conn(1) as c:
            for n in range(20):
                check_eq(c.set_value(b"mk-%d" % n, b"from-b-%d" % n, flags=n + 3, exptime=600),
                         b"STORED\r\n", "set mk-%d on B" % n)
            c.send(b"gets mk-0\r\n")
            cas = read_values(c)[0][3]
        for i in (0, 2):
            for n in range(20):
                st, h, body = cl.http(i, "GET", "/cache/mk-%d" % n, headers=AUTH)
                check_eq((st, body), (200, b"from-b-%d" % n), "GET mk-%d on %s" % (n, cl.ids[i]))
                check_eq(h.get("x-meshcached-flags"), str(n + 3), "flags of mk-%d" % n)
                ttl = int(h.get("x-meshcached-ttl", "-2"))
                # 601 too: each node's clock ticks its seconds on its own
                # (ten times a second), so a node whose tick is still in
                # the second before the writer's reads one second more
                check(590 <= ttl <= 601, "TTL of mk-%d: %d" % (n, ttl))
                check(h.get("etag", "").strip('"').isdigit(), "ETag %r" % h.get("etag"))
            st, h, _ = cl.http(i, "GET", "/cache/mk-0", headers=AUTH)
            check_eq(h.get("etag"), '"%s"' % cas.decode(), "ETag is the version (gets' CAS)")
        # keys that are not URL-safe, percent-decoded; binary ones too
        for key in (b"a key with spaces", b"slash/and?query#frag", b"caf\xc3\xa9",
                    b"nl\nand\x00nul", b"k" * 250):
            path = "/cache/" + urllib.parse.quote(key, safe="")
            st, _, body = cl.http(0, "PUT", path, body=b"v:" + key, headers=AUTH)
            check_eq(st, 200, "PUT %r: %r" % (key, body))
            for i in (1, 2):
                st, _, body = cl.http(i, "GET", path, headers=AUTH)
                check_eq((st, body), (200, b"v:" + key), "GET %r on %s" % (key, cl.ids[i]))
        with cl.conn(2) as c:
            c.send(b"get a key with spaces\r\n")  # not a key to a text command
            c.send(b"get slash/and?query#frag\r\n")
            c.read_until(b"\r\n")  # the first line's reply, whatever it is
            got = c.read_until(b"END\r\n")
            check(b"v:slash/and?query#frag" in got, "text get of a PUT key: %r" % got)
        # DELETE through C, gone everywhere
        st, _, body = cl.http(2, "DELETE", "/cache/mk-1", headers=AUTH)
        check_eq((st, body), (200, b'{"deleted":true}'), "DELETE mk-1")
        check_eq(cl.http(2, "DELETE", "/cache/mk-1", headers=AUTH)[0], 404, "DELETE again")
        check_eq(cl.http(0, "GET", "/cache/mk-1", headers=AUTH)[0], 404, "GET deleted")
        with cl.conn(0) as c:
            c.send(b"get mk-1\r\n")
            check_eq(read_values(c), [], "memcached get of a key deleted over HTTP")
        # TTL and flags: garbage is 400; an expired TTL stores nothing visible
        for q in ("?ttl=abc", "?flags=-1", "?flags=4294967296", "?ttl=1.5"):
            st, _, body = cl.http(0, "PUT", "/cache/x" + q, body=b"v", headers=AUTH)
            check_eq(st, 400, "PUT with %s: %r" % (q, body))
        check_eq(cl.http(0, "PUT", "/cache/neg?ttl=-1", body=b"v", headers=AUTH)[0], 200,
                 "PUT with a negative TTL")
        check_eq(cl.http(1, "GET", "/cache/neg", headers=AUTH)[0], 404, "negative TTL: gone")
        memcached_works(cl, 0, "after /cache")


def test_token_is_required_for_key_routes():
    with HttpCluster(n=1) as cl:
        for path in ("/cache/k", "/keys"):
            st, h, body = cl.http(0, "GET", path)
            check_eq(st, 401, "GET %s without a token: %r" % (path, body))
            check("bearer" in h.get("www-authenticate", "").lower(), "WWW-Authenticate")
            for bad in ("Bearer nope", "Bearer " + TOKEN + "x", "Basic " + TOKEN, TOKEN,
                        "Bearer"):
                st, _, _ = cl.http(0, "GET", path, headers={"Authorization": bad})
                check_eq(st, 401, "GET %s with %r" % (path, bad))
        check_eq(cl.http(0, "PUT", "/cache/k", body=b"v")[0], 401, "PUT without a token")
        check_eq(cl.http(0, "DELETE", "/cache/k")[0], 401, "DELETE without a token")
        for path in ("/metrics", "/healthz", "/cluster/status", "/cluster/distribution"):
            check_eq(cl.http(0, "GET", path)[0], 200, "%s is open" % path)
        # one node of two copies, W=2: open, and not ready
        check_eq(cl.http(0, "GET", "/readyz")[0], 503, "/readyz is open")
    with HttpCluster(n=1, token=False) as cl:
        for method, path in (("GET", "/cache/k"), ("PUT", "/cache/k"),
                             ("DELETE", "/cache/k"), ("GET", "/keys")):
            st, _, body = cl.http(0, method, path, body=b"v" if method == "PUT" else None,
                                  headers=AUTH)
            check_eq(st, 403, "%s %s without --http-token: %r" % (method, path, body))
        check_eq(cl.http(0, "GET", "/metrics")[0], 200, "metrics without --http-token")


def test_cluster_routes():
    with HttpCluster() as cl:
        cl.wait_formed()
        with cl.conn(0) as c:
            for n in range(300):
                check_eq(c.set_value(b"d-%d" % n, b"x" * 10), b"STORED\r\n", "set")
        for i in range(3):
            s = cl.json(i, "/cluster/status")
            check_eq(s["self"], cl.ids[i], "self")
            check_eq((s["replicas"], s["write_quorum"], s["read_quorum"]), (2, 2, 1), "N/W/R")
            check(s["ring_epoch"] >= 1, "ring epoch")
            members = {m["id"]: m for m in s["members"]}
            check_eq(set(members), set(cl.ids), "members of %s" % cl.ids[i])
            for nid, m in members.items():
                check_eq(m["state"], "alive", "state of %s" % nid)
                check_eq(m["self"], nid == cl.ids[i], "self flag of %s" % nid)
                check(m["in_ring"] and 0.15 < m["ring_share"] < 0.55,
                      "ring share of %s: %r" % (nid, m["ring_share"]))
                check(isinstance(m["last_heard_ms"], int), "last heard of %s" % nid)
            check(abs(sum(m["ring_share"] for m in s["members"]) - 1) < 1e-6, "shares sum")
            check_eq(members[cl.ids[1]]["address"], cl.addrs[1], "address")
        d = cl.json(1, "/cluster/distribution")
        check_eq({x["id"] for x in d["nodes"]}, set(cl.ids), "distribution nodes")
        check(all(x["answered"] for x in d["nodes"]), "every member answered: %r" % d)
        # two copies of each key: 600 items over the three nodes
        check_eq(sum(x["items"] for x in d["nodes"]), 600, "items over the nodes")
        for x in d["nodes"]:
            check(abs(x["items"] / d["mean_items"] - 1 - x["items_deviation"]) < 1e-9,
                  "deviation of %s" % x["id"])
        # any node answers for any member, by asking it: the pid is the member's
        for i in range(3):
            for j in range(3):
                r = cl.json(i, "/nodes/%s/stats" % quote(cl.ids[j]))
                check_eq(r["node"], cl.ids[j], "node")
                check_eq(r["stats"]["pid"], cl.nodes[j].pid, "pid of %s asked on %s"
                         % (cl.ids[j], cl.ids[i]))
        check_eq(cl.http(0, "GET", "/nodes/nobody/stats")[0], 404, "unknown member")
        check_eq(cl.http(0, "GET", "/nodes/%zz/stats")[0], 400, "bad escape in an id")
        check_eq(cl.http(0, "GET", "/nodes//stats")[0], 404, "empty id")


def test_keys_lists_each_key_once_across_pages():
    with HttpCluster() as cl:
        cl.wait_formed()
        want = {b"pk:%d" % n for n in range(333)}
        with cl.conn(1) as c:
            for k in sorted(want):
                check_eq(c.set_value(k, b"v" * 5, exptime=1000), b"STORED\r\n", "set")
            for n in range(50):
                check_eq(c.set_value(b"other-%d" % n, b"v"), b"STORED\r\n", "set other")
        seen = []
        cursor = ""
        for page in range(200):
            q = "/keys?prefix=pk%3A&limit=40" + ("&cursor=" + cursor if cursor else "")
            r = cl.json(page % 3, q, headers=AUTH)
            check(len(r["keys"]) <= 40, "page over its limit")
            for k in r["keys"]:
                check_eq(len(k["owners"]), 2, "owners of %s" % k["key"])
                check(set(k["owners"]) <= set(cl.ids), "owners are members")
                check(k["size"] > 5 and isinstance(k["version"], int), "size, version")
                check(990 <= k["ttl"] <= 1000, "ttl %r" % k["ttl"])
                seen.append(k["key"].encode())
            cursor = r["next_cursor"]
            if cursor is None:
                break
        check_eq(cursor, None, "the listing ended")
        check_eq(len(seen), len(set(seen)), "each key once (replicas not repeated)")
        check_eq(set(seen), want, "every key of the prefix")
        r = cl.json(0, "/keys?limit=1000", headers=AUTH)
        check(len(r["keys"]) > 0, "a listing without a prefix")
        for q in ("limit=0", "limit=1001", "limit=x", "cursor=junk", "cursor=1-0-256-",
                  "cursor=1-0-3-abc", "cursor=1-0-3-zz", "cursor=1-0-3-" + "61" * 251,
                  "prefix=" + "p" * 251):
            check_eq(cl.http(0, "GET", "/keys?" + q, headers=AUTH)[0], 400, "/keys?" + q)


def parse_metrics(text):
    from prometheus_client.parser import text_string_to_metric_families
    fams = {}
    for f in text_string_to_metric_families(text):
        check(f.name not in fams, "family %s twice" % f.name)
        fams[f.name] = f
    return fams


def sample(fams, family, name, **labels):
    for s in fams[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise TestFailure("no sample %s%r in %s" % (name, labels, family))


def test_metrics_parse_and_move():
    with HttpCluster() as cl:
        cl.wait_formed()
        st, h, body = cl.http(0, "GET", "/metrics")
        check_eq(st, 200, "metrics")
        check(h["content-type"].startswith("text/plain; version=0.0.4"), h["content-type"])
        before = parse_metrics(body.decode())
        for fam, typ in (("meshcached_cmd_get", "counter"), ("meshcached_current_items", "gauge"),
                         ("meshcached_read_bytes", "counter"), ("meshcached_forwarded", "counter"),
                         ("meshcached_quorum_failures", "counter"),
                         ("meshcached_read_repairs", "counter"),
                         ("meshcached_hints_stored", "counter"),
                         ("meshcached_command_duration_seconds", "histogram"),
                         ("meshcached_cluster_members", "gauge"),
                         ("meshcached_ring_node_share_ratio", "gauge"),
                         ("meshcached_build_info", "gauge"),
                         ("meshcached_uptime_seconds", "gauge")):
            check(fam in before, "family %s missing" % fam)
            check_eq(before[fam].type, typ, "type of " + fam)
        for f in before.values():
            check(f.name.startswith("meshcached_"), "prefix of " + f.name)
            for s in f.samples:
                if f.type == "counter":
                    check(s.name.endswith("_total"), "counter sample %s" % s.name)
                check("key" not in s.labels, "no per-key label: %s" % s.name)
        check_eq(sample(before, "meshcached_cluster_members", "meshcached_cluster_members",
                        state="alive"), 3.0, "alive members")
        check_eq(sample(before, "meshcached_build_info", "meshcached_build_info"), 1.0, "info")
        hist = "meshcached_command_duration_seconds"

        def count(fams, cmd, path):
            return sample(fams, hist, hist + "_count", cmd=cmd, path=path)
        # traffic on A: sets and gets, some keys owned elsewhere (forwarded)
        with cl.conn(0) as c:
            for n in range(200):
                check_eq(c.set_value(b"m-%d" % n, b"v"), b"STORED\r\n", "set")
            for n in range(200):
                check_eq(c.get_value(b"m-%d" % n), b"v", "get")
        after = parse_metrics(cl.http(0, "GET", "/metrics")[2].decode())
        got = sample(after, "meshcached_cmd_get", "meshcached_cmd_get_total")
        check(got >= sample(before, "meshcached_cmd_get", "meshcached_cmd_get_total") + 1,
              "cmd_get moved")
        gets = count(after, "get", "local") + count(after, "get", "forwarded")
        check(gets - count(before, "get", "local") - count(before, "get", "forwarded") >= 200,
              "200 gets in the histogram")
        check(count(after, "get", "forwarded") > count(before, "get", "forwarded"),
              "forwarded gets counted")
        check(count(after, "set", "local") > count(before, "set", "local"), "local sets")
        check(sample(after, "meshcached_forwarded", "meshcached_forwarded_total")
              > sample(before, "meshcached_forwarded", "meshcached_forwarded_total"),
              "forwarded counter moved")
        inf = sample(after, hist, hist + "_bucket", cmd="set", path="local", le="+Inf")
        check_eq(inf, count(after, "set", "local"), "+Inf bucket is the count")
        lows = [s for s in after[hist].samples if s.name == hist + "_bucket"
                and s.labels["cmd"] == "get" and s.labels["path"] == "local"]
        check(all(a.value <= b.value for a, b in zip(lows, lows[1:])), "cumulative buckets")


def test_big_set_forwarded_while_the_input_buffer_grows():
    """Regression: a storage command forwarded to another owner kept a
    pointer to its key in the connection's input buffer while the data
    block arrived; a block that made the buffer grow (realloc) left it
    dangling (a use-after-free under ASan, found by a 60 kB PUT)."""
    with HttpCluster() as cl:
        cl.wait_formed()
        values = {b"big-%d" % n: bytes([65 + n % 26]) * (60000 + n) for n in range(12)}
        with cl.conn(0) as c:
            for k, v in values.items():
                check_eq(c.set_value(k, v), b"STORED\r\n", "set %r" % k)
        for k, v in values.items():
            st, _, body = cl.http(1, "PUT", "/cache/h" + k.decode(), body=v, headers=AUTH)
            check_eq(st, 200, "PUT h%r" % k)
        with cl.conn(2) as c:
            for k, v in values.items():
                check_eq(c.get_value(k), v, "get %r" % k)
                check_eq(c.get_value(b"h" + k), v, "get h%r" % k)


# ---- health ----

def test_readyz_follows_the_write_quorum():
    with HttpCluster() as cl:
        cl.wait_formed()
        check_eq(cl.http(0, "GET", "/readyz")[0], 200, "ready with every member")
        cl.nodes[1].pause()
        cl.nodes[2].pause()
        try:
            deadline = time.monotonic() + DEATH_TIMEOUT
            while cl.http(0, "GET", "/readyz")[0] != 503:
                check(time.monotonic() < deadline, "not 503 with 1 of W=2 owners up:\n"
                      + cl.logs([0]))
                time.sleep(0.2)
            check_eq(cl.http(0, "GET", "/healthz")[0], 200, "healthz while not ready")
            body = cl.json(0, "/readyz", want=503)
            check_eq((body["ready"], body["live_nodes"]), (False, 1), "readyz body")
        finally:
            cl.nodes[1].resume()
            cl.nodes[2].resume()
        deadline = time.monotonic() + DEATH_TIMEOUT
        while cl.http(0, "GET", "/readyz")[0] != 200:
            check(time.monotonic() < deadline, "not ready again after resume")
            time.sleep(0.2)


# ---- bad input ----

def test_bad_input_while_memcached_serves():
    with HttpCluster(extra=["-I", "64k"]) as cl:
        cl.wait_formed()
        host, port = cl.hosts[0], cl.http_ports[0]
        # a slow client that never finishes its request, and idle ones
        slow = socket.create_connection((host, port))
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        idle = [socket.create_connection((host, port)) for _ in range(50)]
        try:
            t0 = time.monotonic()
            check_eq(status_of(raw_http(host, port, b"GET /" + b"a" * 100000
                                        + b" HTTP/1.1\r\nHost: x\r\n\r\n")), 414, "100 kB URL")
            check_eq(status_of(raw_http(host, port, b"GET /" + b"a" * 300000
                                        + b" HTTP/1.1\r\nHost: x\r\n\r\n")), 400,
                     "300 kB URL: over the headers' limit")
            check_eq(status_of(raw_http(host, port, b"GET /" + b"a" * 10000
                                        + b" HTTP/1.1\r\nHost: x\r\n\r\n")), 414, "10 kB URL")
            check_eq(status_of(raw_http(host, port, b"\x00\xff\xfe garbage \x01\r\n\r\n")),
                     400, "garbage")
            check_eq(status_of(raw_http(host, port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                        b"Bad Header Line\r\n\r\n")), 400, "a bad header")
            check_eq(status_of(raw_http(host, port, os.urandom(3000) + b"\r\n\r\n")), 400,
                     "random bytes")
            check_eq(status_of(raw_http(
                host, port, b"PUT /cache/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + TOKEN.encode() + b"\r\nContent-Length: 99999999999999\r\n\r\n")), 413,
                "huge Content-Length")
            st, _, _ = cl.http(0, "PUT", "/cache/big", body=b"x" * 200000, headers=AUTH)
            check_eq(st, 413, "a body over -I (and evhttp's limit)")
            st, _, body = cl.http(0, "PUT", "/cache/big", body=b"x" * (65536 + 100),
                                  headers=AUTH)
            check_eq(st, 413, "a value over -I: %r" % body)
            st, _, _ = cl.http(0, "PUT", "/cache/fits", body=b"x" * 60000, headers=AUTH)
            check_eq(st, 200, "a value under -I")
            check_eq(cl.http(0, "GET", "/cache/" + "k" * 251, headers=AUTH)[0], 400,
                     "a 251-byte key")
            check_eq(cl.http(0, "GET", "/cache/" + "%41" * 251, headers=AUTH)[0], 400,
                     "a 251-byte key, percent-encoded")
            check_eq(cl.http(0, "GET", "/cache/", headers=AUTH)[0], 400, "an empty key")
            check_eq(cl.http(0, "GET", "/cache/%4", headers=AUTH)[0], 400, "a bad escape")
            for path in ("/nope", "/metrics/x", "/cluster", "/nodes/x", "/cachex",
                         "/assets/", "/historyx", "/events/x"):
                check_eq(cl.http(0, "GET", path)[0], 404, "GET " + path)
            check_eq(cl.http(0, "DELETE", "/metrics")[0], 405, "DELETE /metrics")
            check(cl.http(0, "POST", "/metrics")[0] in (405, 501), "POST /metrics")
            # everything above was answered while the slow client held on
            check(time.monotonic() - t0 < 8, "answers waited for the slow client")
            memcached_works(cl, 0, "with a slow HTTP client")
            check_eq(cl.http(0, "GET", "/healthz")[0], 200, "healthz with a slow client")
        finally:
            slow.close()
            for s in idle:
                s.close()
        memcached_works(cl, 0, "after the bad input")
        st, _, body = cl.http(0, "GET", "/metrics")
        check_eq(st, 200, "metrics after the bad input")


def test_cache_routes_on_a_tls_and_auth_node():
    """With -Z and -Y the admin port's internal connection needs neither
    TLS nor a login (its token guards it), while a plain or unauthenticated
    client of the memcached port still gets nothing."""
    from test_tls import Pki, TlsConn
    from test_auth import Files, login
    with Pki() as pki, Files() as files:
        tok = token_file()
        hport = mchelper.free_port()
        d = mchelper.Daemon(args=pki.server_args() + ["-Y", files.auth, "--http-port",
                                                      str(hport), "--http-token", tok])
        d.start()
        try:
            auth = {"Authorization": "Bearer " + TOKEN}

            def req(method, path, body=None):
                c = http.client.HTTPConnection("127.0.0.1", hport, timeout=5.0)
                try:
                    c.request(method, path, body=body, headers=auth)
                    r = c.getresponse()
                    return r.status, r.read()
                finally:
                    c.close()

            deadline = time.monotonic() + 10.0  # a slow (sanitizer) build starts late
            while True:
                try:
                    status = req("GET", "/cache/secure-k")[0]
                    break
                except ConnectionRefusedError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            check_eq(status, 404, "GET before the PUT")
            check_eq(req("PUT", "/cache/secure-k?ttl=60", b"v-over-http")[0], 200,
                     "PUT on a -Z -Y node")
            status, body = req("GET", "/cache/secure-k")
            check_eq((status, body), (200, b"v-over-http"), "GET on a -Z -Y node")
            with TlsConn(d.port, pki.client_ctx()) as c:
                check_eq(c.line(b"get secure-k\r\n"), b"CLIENT_ERROR unauthenticated\r\n",
                         "a TLS client before its login")
                check_eq(login(c), b"STORED\r\n", "login")
                check_eq(c.get_value(b"secure-k"), b"v-over-http", "the value over TLS")
            check_eq(req("DELETE", "/cache/secure-k")[0], 200, "DELETE on a -Z -Y node")
            check_eq(req("GET", "/cache/secure-k")[0], 404, "gone")
        finally:
            d.stop()
            os.unlink(tok)


def test_hotkeys_as_json_and_metrics():
    """GET /hotkeys (token required: it names keys) ranks a skewed load's
    keys as stats hotkeys does; /metrics carries the counts, never a key."""
    with HttpCluster() as cl:
        cl.wait_formed()
        with cl.conn(0) as c:
            load = [b"hotj:a"] * 3000 + [b"hotj:b"] * 1000 + [b"hotj:%d" % i for i in range(300)]
            random.Random(3).shuffle(load)
            c.send(b"".join(b"get %s\r\n" % k for k in load))
            for _ in load:
                c.read_until(b"END\r\n")
        check_eq(cl.http(0, "GET", "/hotkeys")[0], 401, "GET /hotkeys without a token")
        hot = cl.json(0, "/hotkeys", headers=AUTH)
        keys = [k.get("key") for k in hot["keys"]]
        check(keys[:2] == ["hotj:a", "hotj:b"], "hot keys in rank order: %r" % hot)
        check(hot["hot_keys_tracked"] >= 2 and hot["keys"][0]["rps"] > 0
              and hot["keys"][0]["role"] in ("owner", "replica", "none")
              and hot["keys"][0]["rank"] == 1, "hot key fields: %r" % hot["keys"][0])
        st, _, body = cl.http(0, "GET", "/metrics")
        fams = parse_metrics(body.decode())
        check(sample(fams, "meshcached_hot_keys_tracked", "meshcached_hot_keys_tracked") >= 2,
              "hot_keys_tracked in /metrics")
        check(b"hotj:" not in body, "a key in /metrics")


if __name__ == "__main__":
    require_meshcached()
    mchelper.run_tests([test_hotkeys_as_json_and_metrics, test_cache_routes_on_a_tls_and_auth_node,
                        
        test_cache_written_on_one_port_is_read_on_the_other,
        test_token_is_required_for_key_routes,
        test_cluster_routes,
        test_keys_lists_each_key_once_across_pages,
        test_metrics_parse_and_move,
        test_big_set_forwarded_while_the_input_buffer_grows,
        test_readyz_follows_the_write_quorum,
        test_bad_input_while_memcached_serves,
    ])
