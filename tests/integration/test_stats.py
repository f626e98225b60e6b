#!/usr/bin/python3
"""`stats` of $MESHCACHED: memcached's field names, counters that move as
memcached's do after known operations, `stats reset`, `stats settings`,
`stats items` and `stats slabs`.

The values cannot be compared byte for byte with memcached (times, pids,
memory layout), so this checks names and deltas instead.
"""

import time

import mchelper
from mchelper import Daemon, check, check_eq

STANDARD_FIELDS = """
pid uptime time version curr_connections total_connections cmd_get cmd_set
cmd_flush cmd_touch get_hits get_misses get_expired get_flushed delete_misses
delete_hits incr_misses incr_hits decr_misses decr_hits cas_misses cas_hits
cas_badval touch_hits touch_misses bytes_read bytes_written limit_maxbytes
threads bytes curr_items total_items expired_unfetched evicted_unfetched
evictions reclaimed
""".split()

# Counters that `stats reset` zeroes (memcached 1.6.18).
RESET_FIELDS = """
cmd_get cmd_set cmd_flush cmd_touch get_hits get_misses get_expired
get_flushed delete_misses delete_hits incr_misses incr_hits decr_misses
decr_hits cas_misses cas_hits cas_badval touch_hits touch_misses total_items
evictions reclaimed expired_unfetched evicted_unfetched
""".split()


def delta(before, after, names):
    return {n: int(after[n]) - int(before[n]) for n in names}


def expect_deltas(before, after, want):
    got = delta(before, after, want)
    check(got == want, "counter deltas: got %r, want %r" % (got, want))


def run_ops(conn, ops, reply_end):
    """Send ops, read replies up to the final reply_end; returns replies."""
    conn.send(ops)
    return conn.read_until(reply_end)


def test_stats_has_standard_fields():
    with Daemon(args=["-t", "3", "-m", "16"]) as d, d.connect() as c:
        st = c.stats()
        missing = [f for f in STANDARD_FIELDS if f not in st]
        check(not missing, "stats lacks %s" % missing)
        for f in STANDARD_FIELDS:
            if f != "version":
                check(st[f].isdigit(), "stats %s is not a number: %r" % (f, st[f]))
        check_eq(int(st["pid"]), d.pid, "stats pid")
        check_eq(int(st["threads"]), 3, "stats threads (-t 3)")
        check_eq(int(st["limit_maxbytes"]), 16 * 1024 * 1024, "limit_maxbytes (-m 16)")
        check(abs(int(st["time"]) - time.time()) <= 5, "stats time %s is not now" % st["time"])
        check(int(st["uptime"]) < 60, "uptime %s of a fresh daemon" % st["uptime"])
        check(st["version"], "empty version")
        check(int(st["curr_connections"]) >= 1, "curr_connections counts us")
        check_eq(int(st["curr_items"]), 0, "curr_items when empty")


def test_stats_counters_follow_operations():
    with Daemon() as d, d.connect() as c:
        before = c.stats()
        ops = (b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nset c 0 0 1\r\nx\r\n"
               b"get a\r\nget nope\r\ngets a b nope\r\n"
               b"delete c\r\ndelete c\r\n"
               b"incr a 5\r\nincr nope 1\r\ndecr b 1\r\ndecr nope 1\r\n"
               b"cas nope 0 0 1 1\r\nz\r\ncas a 0 0 1 987654321\r\nz\r\n"
               b"touch a 100\r\ntouch nope 100\r\nversion\r\n")
        replies = run_ops(c, ops, b"VERSION ")
        c.read_until(b"\r\n")
        after = c.stats()
        expect_deltas(before, after, {
            "cmd_set": 5, "curr_items": 2, "cmd_get": 5, "get_hits": 3, "get_misses": 2,
            "delete_hits": 1, "delete_misses": 1,
            "incr_hits": 1, "incr_misses": 1, "decr_hits": 1, "decr_misses": 1,
            "cas_misses": 1, "cas_badval": 1, "cas_hits": 0,
            "cmd_touch": 2, "touch_hits": 1, "touch_misses": 1,
        })
        # memcached also counts an incr/decr that rewrote the value.
        stored = delta(before, after, ["total_items"])["total_items"]
        check(3 <= stored <= 5, "total_items grew by %d after 3 sets" % stored)
        read = delta(before, after, ["bytes_read"])["bytes_read"]
        check(len(ops) <= read <= len(ops) + 64,
              "bytes_read grew by %d for %d bytes sent" % (read, len(ops)))
        written = delta(before, after, ["bytes_written"])["bytes_written"]
        check(written >= len(replies),
              "bytes_written grew by %d for %d bytes received" % (written, len(replies)))
        check(int(after["bytes"]) > 0, "bytes is 0 with 2 items stored")

        # A successful cas, then expiry and flush counters.
        c.send(b"gets b\r\n")
        cas = c.read_until(b"END\r\n").split(b"\r\n")[0].split()[4]
        before = c.stats()
        check_eq(c.line(b"cas b 0 0 1 %s\r\nq\r\n" % cas), b"STORED\r\n", "cas")
        check_eq(c.line(b"set e 0 -1 1\r\ne\r\n"), b"STORED\r\n", "set expired")
        check_eq(c.line(b"get e\r\n"), b"END\r\n", "get expired")
        check_eq(c.line(b"flush_all\r\n"), b"OK\r\n", "flush_all")
        check_eq(c.line(b"get a\r\n"), b"END\r\n", "get flushed")
        after = c.stats()
        expect_deltas(before, after, {
            "cas_hits": 1, "cmd_set": 2, "cmd_flush": 1, "cmd_get": 2,
            "get_misses": 2})
        # get_expired/get_flushed count items a read finds dead. meshcached's
        # expiry sampler (10 passes a second) may reclaim them before the read
        # comes, and then the read is a plain miss; memcached's crawler is
        # slower. Either way each counts at most once.
        dead = delta(before, after, ["get_expired", "get_flushed"])
        check(all(0 <= v <= 1 for v in dead.values()), "dead-item counters %r" % dead)


def test_stats_meta_counters():
    # Meta commands count like their classic equivalents; gat counts as touch.
    with Daemon() as d, d.connect() as c:
        c.set_value(b"a", b"1")
        before = c.stats()
        run_ops(c, b"mg a v\r\nmg nope v\r\nma a\r\nma nope\r\nms m 1\r\nx\r\n"
                b"md m\r\nmd m\r\ngat 100 a nope\r\nmn\r\n", b"MN\r\n")
        after = c.stats()
        expect_deltas(before, after, {
            "cmd_get": 2, "get_hits": 1, "get_misses": 1,
            "incr_hits": 1, "incr_misses": 1, "cmd_set": 1,
            "delete_hits": 1, "delete_misses": 1,
            "cmd_touch": 2, "touch_hits": 1, "touch_misses": 1})


def settled_stats(conn):
    """stats once connection counters stop moving (the start-up probe
    connection may still be being registered by a worker)."""
    last = conn.stats()
    for _ in range(40):
        time.sleep(0.05)
        st = conn.stats()
        if all(st[k] == last[k] for k in ("curr_connections", "total_connections")):
            return st
        last = st
    return last


def test_stats_connections():
    with Daemon() as d, d.connect() as c:
        before = settled_stats(c)
        extra = [d.connect() for _ in range(3)]
        try:
            for e in extra:  # make sure each was accepted and served
                check_eq(e.line(b"version\r\n")[:8], b"VERSION ", "version")
            after = c.stats()
            expect_deltas(before, after, {"curr_connections": 3, "total_connections": 3})
        finally:
            for e in extra:
                e.close()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # closes are noticed asynchronously
            if int(c.stats()["curr_connections"]) == int(before["curr_connections"]):
                break
            time.sleep(0.05)
        check_eq(c.stats()["curr_connections"], before["curr_connections"],
                 "curr_connections after closing 3")


def test_stats_reset():
    with Daemon() as d, d.connect() as c:
        run_ops(c, b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a\r\nget z\r\n"
                b"delete b\r\nincr a 1\r\ntouch a 10\r\nflush_all 0\r\n"
                b"set c 0 0 1\r\n3\r\nset d 0 0 1\r\n4\r\nmn\r\n", b"MN\r\n")
        # Flushed items may linger in curr_items until reaped; wait for it.
        deadline = time.monotonic() + 3
        while c.stats()["curr_items"] != "2" and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = c.stats()
        check(int(busy["cmd_get"]) > 0 and int(busy["cmd_set"]) > 0, "ops counted")
        check_eq(c.line(b"stats reset\r\n"), b"RESET\r\n", "stats reset reply")
        st = c.stats()
        nonzero = {f: st[f] for f in RESET_FIELDS if st[f] != "0"}
        check(not nonzero, "not zeroed by stats reset: %r" % nonzero)
        # Reset touches counters, not the cache or the configuration.
        check_eq(st["curr_items"], busy["curr_items"], "curr_items kept")
        check_eq(st["bytes"], busy["bytes"], "bytes kept")
        check_eq(st["limit_maxbytes"], busy["limit_maxbytes"], "limit_maxbytes kept")
        check_eq(st["pid"], busy["pid"], "pid kept")
        check_eq(c.get_value(b"c"), b"3", "items survive stats reset")


def test_stats_settings():
    args = ["-m", "12", "-c", "321", "-t", "2", "-I", "2m"]
    with Daemon(args=args) as d, d.connect() as c:
        st = c.stats(b"settings")
        want = {"maxbytes": str(12 * 1024 * 1024), "maxconns": "321",
                "tcpport": str(d.port), "num_threads": "2",
                "item_size_max": str(2 * 1024 * 1024), "evictions": "on",
                "cas_enabled": "yes", "verbosity": "0"}
        got = {k: st.get(k) for k in want}
        check_eq(got, want, "stats settings")
        check_eq(c.line(b"verbosity 1\r\n"), b"OK\r\n", "verbosity 1")
        check_eq(c.stats(b"settings").get("verbosity"), "1", "verbosity after change")
    with Daemon(args=["-M", "-C"]) as d, d.connect() as c:
        st = c.stats(b"settings")
        check_eq((st.get("evictions"), st.get("cas_enabled")), ("off", "no"),
                 "evictions/cas_enabled with -M -C")


def test_stats_items_and_slabs():
    with Daemon() as d, d.connect() as c:
        check_eq(c.line(b"stats items\r\n"), b"END\r\n", "stats items when empty")
        for i in range(5):
            c.set_value(b"k%d" % i, b"v" * (10 + 1000 * i))
        items = c.stats(b"items")
        numbers = 0
        for name, value in items.items():
            parts = name.split(":")
            check(len(parts) == 3 and parts[0] == "items" and parts[1].isdigit(),
                  "bad stats items name %r" % name)
            check(value.lstrip("-").isdigit(), "stats items %s value %r" % (name, value))
            if parts[2] == "number":
                numbers += int(value)
        fields = {n.split(":")[2] for n in items}
        for f in ("number", "age", "evicted", "outofmemory"):
            check(f in fields, "stats items lacks %s" % f)
        check_eq(numbers, 5, "sum of items:*:number")
        # stats slabs is optional for meshcached; if answered, it must be
        # well formed and carry memcached's totals.
        c.send(b"stats slabs\r\n")
        first = c.read_until(b"\r\n")
        if first != b"ERROR\r\n":
            slabs = mchelper.parse_stats(first + c.read_until(b"END\r\n"))
            for f in ("active_slabs", "total_malloced"):
                check(f in slabs, "stats slabs lacks %s" % f)
        check_eq(c.line(b"version\r\n")[:8], b"VERSION ", "connection still fine")


if __name__ == "__main__":
    mchelper.run_tests([
        test_stats_has_standard_fields,
        test_stats_counters_follow_operations,
        test_stats_meta_counters,
        test_stats_connections,
        test_stats_reset,
        test_stats_settings,
        test_stats_items_and_slabs,
    ])
