#!/usr/bin/python3
"""Key listings on $MESHCACHED beside the reference memcached: lru_crawler
metadump (all, hash, class lists), lru_crawler mgdump, stats cachedump,
lru_crawler enable/disable/crawl/sleep/tocrawl and their errors, -X; a
listing of many keys that never stalls other clients; tombstones never
listed; and the clients that list keys: memcached-tool dump and
libmemcached's memdump (memcdump).
"""

import base64
import os
import re
import subprocess
import threading
import time

import mchelper
from mchelper import Daemon, TestSkip, check, check_eq
from opcheck import ask, blur, pair, same_replies

MEMCACHED_TOOL = "/usr/share/memcached/scripts/memcached-tool"
MEMDUMP = ("/usr/bin/memcdump", "/usr/bin/memdump")

KEYS = {b"foo": b"bar", b"a%20b": b"x", b"k\x01": b"yy", b"sp.ce_~-": b"z"}


def load(c, keys=KEYS, exptime=0):
    for k, v in sorted(keys.items()):
        check_eq(ask(c, b"set %s 0 %d %d\r\n%s\r\n" % (k, exptime, len(v), v)),
                 b"STORED\r\n", "set %r" % k)


def listing(c, cmd, end=b"END\r\n"):
    """The lines of a listing, sorted, each without its end of line."""
    raw = ask(c, cmd, end)
    body = raw[:-len(end)]
    return sorted(l for l in re.split(rb"\r?\n", body) if l)


def test_metadump_lists_what_memcached_lists():
    d, ref = pair()
    with d, ref:
        got = {}
        for dd in (d, ref):
            with dd.connect() as c:
                load(c)
                ask(c, b"get foo\r\n", b"END\r\n")
                got[dd.binary] = [listing(c, b"lru_crawler metadump %s\r\n" % arg)
                                  for arg in (b"all", b"hash", b"1", b"1,2", b"1,", b"63")]
        mine, theirs = got[d.binary], got[ref.binary]
        for a, b in zip(mine, theirs):
            check_eq([blur(l, [b"la", b"size", b"cas"]) for l in a],
                     [blur(l, [b"la", b"size", b"cas"]) for l in b], "metadump lines")
        check_eq(len(mine[0]), 4, "four keys")
        foo = [l for l in mine[0] if l.startswith(b"key=foo ")]
        check(len(foo) == 1 and b" exp=-1 " in foo[0] and b" fetch=yes cls=1 " in foo[0],
              "fetched foo: %r" % foo)
        now = time.time()
        for line in mine[0]:
            la = int(re.search(rb" la=(\d+) ", line).group(1))
            check(abs(la - now) < 10, "la is unix time: %r" % line)


def test_metadump_shows_expiry_as_unix_time():
    with Daemon() as d, d.connect() as c:
        load(c, {b"e": b"1"}, exptime=100)
        line = listing(c, b"lru_crawler metadump all\r\n")[0]
        exp = int(re.search(rb" exp=(\d+) ", line).group(1))
        check(abs(exp - (time.time() + 100)) < 5, "exp %d" % exp)


# memcached's answers while its crawler thread is busy with what earlier
# commands started, or is still starting after `lru_crawler enable`
CRAWLER_TRANSIENT = (b"BUSY currently processing crawler request\r\n",
                     b"ERROR an unknown error happened\r\n")


def ask_settled(conn, cmd, timeout=10.0):
    """memcached's answer to cmd once its crawler thread has settled: on a
    loaded machine the thread lags the commands, and memcached answers
    BUSY or an unknown error (having done nothing) until it catches up."""
    end = time.monotonic() + timeout
    while True:
        while conn.stats().get("lru_crawler_running", "0") != "0":
            check(time.monotonic() < end, "memcached's crawler still runs after %.0f s" % timeout)
            time.sleep(0.05)
        got = ask(conn, cmd)
        if got not in CRAWLER_TRANSIENT or time.monotonic() > end:
            return got
        time.sleep(0.1)


def test_crawler_commands_answer_as_memcached():
    d, ref = pair()
    with d, ref, d.connect() as a, ref.connect() as b:
        for cmd in [
            b"lru_crawler metadump\r\n", b"lru_crawler metadump 99\r\n",
            b"lru_crawler metadump 0\r\n", b"lru_crawler metadump 1,99\r\n",
            b"lru_crawler metadump x\r\n", b"lru_crawler metadump all x\r\n",
            # one crawl only: memcached answers BUSY to a second one while its
            # crawler thread still runs the first, which on a loaded machine
            # it may
            b"lru_crawler enable\r\n", b"lru_crawler crawl all\r\n",
            b"lru_crawler crawl 99\r\n", b"lru_crawler crawl\r\n",
            b"lru_crawler crawl all x\r\n", b"lru_crawler sleep 50\r\n",
            b"lru_crawler sleep 1000001\r\n", b"lru_crawler sleep x\r\n",
            b"lru_crawler tocrawl 10\r\n", b"lru_crawler tocrawl x\r\n",
            b"lru_crawler disable\r\n", b"lru_crawler disable\r\n",
            b"lru_crawler metadump all\r\n", b"lru_crawler crawl all\r\n",
            b"lru_crawler enable\r\n", b"lru_crawler enable x\r\n", b"lru_crawler foo\r\n",
            b"lru_crawler\r\n", b"stats cachedump\r\n", b"stats cachedump 1\r\n",
            b"stats cachedump x 0\r\n", b"stats cachedump 64 0\r\n",
            b"stats cachedump 0 0\r\n", b"stats cachedump 63 0\r\n",
        ]:
            check_eq(ask(a, cmd), ask_settled(b, cmd), "crawler: %r" % cmd)
        for dd in (d, ref):
            with dd.connect() as c:
                st = c.stats(b"settings")
                check_eq((st["lru_crawler"], st["lru_crawler_sleep"],
                          st["lru_crawler_tocrawl"]), ("yes", "50", "10"),
                         "%s settings" % dd.binary)


def test_dumping_is_refused_with_X():
    d, ref = pair(["-X"])
    with d, ref:
        same_replies(d, ref, [b"lru_crawler metadump all\r\n", b"lru_crawler metadump 99\r\n",
                              b"stats cachedump 1 0\r\n", b"stats cachedump 99 0\r\n"], "-X")
        with d.connect() as c:
            check_eq(ask(c, b"lru_crawler mgdump all\r\n"), b"ERROR mgdump not allowed\r\n",
                     "mgdump with -X")


def test_cachedump_lists_what_memcached_lists():
    d, ref = pair()
    with d, ref:
        got = []
        for dd in (d, ref):
            with dd.connect() as c:
                load(c)
                load(c, {b"exp": b"12345"}, exptime=1000)
                full = listing(c, b"stats cachedump 1 0\r\n")
                if dd is d:  # memcached's hot LRU may be empty by now
                    one = listing(c, b"stats cachedump 1 1\r\n")
                    check_eq(len(one), 1, "cachedump limit 1")
                    check(one[0] in full, "the limited line is a full one")
                got.append(full)
        # memcached lists one of a class's LRUs (the hot one) only, so its
        # lines are some of ours; its expiry is its own clock's
        mine = [re.sub(rb"\d{9,} s", b"T s", l) for l in got[0]]
        theirs = [re.sub(rb"\d{9,} s", b"T s", l) for l in got[1]]
        check(set(theirs) <= set(mine), "cachedump: %r not in %r" % (theirs, mine))
        check_eq(len(mine), 5, "every key listed")
        check(b"ITEM exp [5 b; " in b"".join(got[0]), "exp listed: %r" % got[0])
        check(b"ITEM foo [3 b; 0 s]" in got[0], "foo listed: %r" % got[0])


def test_mgdump_lists_keys_as_mg_commands():
    with Daemon() as d, d.connect() as c:
        load(c)
        key = b"\x00bin\xff"
        b64 = base64.b64encode(key)
        check_eq(ask(c, b"ms %s 1 b\r\n1\r\n" % b64), b"HD\r\n", "binary key stored")
        lines = listing(c, b"lru_crawler mgdump all\r\n", b"EN\r\n")
        want = sorted([b"mg " + k for k in KEYS] + [b"mg " + b64 + b" b"])
        check_eq(lines, want, "mgdump lines")
        check_eq(ask(c, b"lru_crawler mgdump 2\r\n"), b"EN\r\n", "another class: none")
        check_eq(ask(c, b"lru_crawler mgdump 99\r\n"), b"BADCLASS invalid class id\r\n",
                 "mgdump bad class")
        # each line is a command that works as it is
        c.send(b"".join(l + b" v\r\n" for l in lines) + b"mn\r\n")
        replies = c.read_until(b"MN\r\n")
        check_eq(replies.count(b"VA "), len(lines), "every mgdump line fetches its key")


def test_a_large_listing_never_stalls_other_clients():
    n = 100000
    with Daemon(args=["-t", "2", "-m", "256"]) as d, d.connect() as c, d.connect() as other:
        for start in range(0, n, 5000):
            c.send(b"".join(b"set key:%06d 0 0 4 noreply\r\nvalu\r\n" % i
                            for i in range(start, start + 5000)))
        check_eq(ask(c, b"mn\r\n"), b"MN\r\n", "loaded")
        c.send(b"lru_crawler metadump all\r\n")
        time.sleep(0.3)  # the dumper stops reading: its replies back up
        worst = 0.0
        for i in range(50):
            t0 = time.monotonic()
            check_eq(ask(other, b"mg key:%06d s\r\n" % i), b"HD s4\r\n", "served")
            worst = max(worst, time.monotonic() - t0)
        check(worst < 0.5, "a get took %.3f s during the listing" % worst)
        body = c.read_until(b"END\r\n", timeout=60)
        check_eq(body.count(b"\n"), n + 1, "every key listed once, then END")
        check_eq(ask(c, b"version\r\n")[:8], b"VERSION ", "the connection goes on after it")


def test_tombstones_are_not_listed():
    port = mchelper.free_port()
    with Daemon(args=["--cluster-port", str(port), "--replicas", "1"]) as d, \
            d.connect() as c:
        load(c, {b"kept": b"1", b"gone": b"2"})
        check_eq(ask(c, b"delete gone\r\n"), b"DELETED\r\n", "delete")
        check_eq(ask(c, b"delete never\r\n"), b"NOT_FOUND\r\n", "delete a miss")
        lines = listing(c, b"lru_crawler metadump all\r\n")
        check_eq([l.split(b" ")[0] for l in lines], [b"key=kept"], "metadump")
        check_eq(listing(c, b"lru_crawler mgdump all\r\n", b"EN\r\n"), [b"mg kept"], "mgdump")
        check_eq([l.split(b" ")[1] for l in listing(c, b"stats cachedump 1 0\r\n")], [b"kept"],
                 "cachedump")


def test_memcached_tool_dump_lists_every_key():
    if not os.access(MEMCACHED_TOOL, os.X_OK):
        raise TestSkip("memcached-tool is not installed")
    keys = {b"t%d" % i: b"v%d" % i for i in range(50)}
    with Daemon() as d, d.connect() as c:
        load(c, keys)
        out = subprocess.run([MEMCACHED_TOOL, "127.0.0.1:%d" % d.port, "dump"],
                             capture_output=True, timeout=30).stdout
        lines = out.split(b"\r\n")
        dumped = {lines[i].split(b" ")[1]: lines[i + 1]
                  for i in range(len(lines) - 1) if lines[i].startswith(b"add ")}
        check_eq(dumped, keys, "memcached-tool dump")


def test_memdump_lists_every_key():
    tool = next((t for t in MEMDUMP if os.access(t, os.X_OK)), None)
    if tool is None:
        raise TestSkip("libmemcached-tools' memdump is not installed")
    keys = {b"m%d" % i: b"v" for i in range(50)}
    with Daemon() as d, d.connect() as c:
        load(c, keys)
        out = subprocess.run([tool, "--servers=127.0.0.1:%d" % d.port],
                             capture_output=True, timeout=30).stdout
        check_eq(sorted(out.split()), sorted(keys), "memdump")


if __name__ == "__main__":
    mchelper.run_tests([
        test_metadump_lists_what_memcached_lists,
        test_metadump_shows_expiry_as_unix_time,
        test_crawler_commands_answer_as_memcached,
        test_dumping_is_refused_with_X,
        test_cachedump_lists_what_memcached_lists,
        test_mgdump_lists_keys_as_mg_commands,
        test_a_large_listing_never_stalls_other_clients,
        test_tombstones_are_not_listed,
        test_memcached_tool_dump_lists_every_key,
        test_memdump_lists_every_key,
    ])
