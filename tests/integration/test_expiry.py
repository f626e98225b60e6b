#!/usr/bin/python3
"""Expiry: items nobody reads again still give their memory back.

The store reclaims expired items lazily on access and with a background
sampler; these tests never read the expired keys, so only the sampler can
make curr_items and bytes fall.
"""

import time

import mchelper
from mchelper import Conn, Daemon, check, check_eq


def wait_for(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def test_sampler_reclaims_unread_expired_items():
    with Daemon(args=["-m", "64"]) as d, Conn(d.port) as c:
        n = 20000
        payload = b"x" * 100
        batch = b"".join(b"set exp:%d 0 3 %d noreply\r\n%s\r\n" % (i, len(payload), payload)
                         for i in range(n))
        c.send(batch)
        check_eq(c.line(b"mn\r\n"), b"MN\r\n", "pipeline done")
        # keep some that never expire: they must survive
        for i in range(100):
            check_eq(c.set_value(b"keep:%d" % i, b"v"), b"STORED\r\n", "set keep")
        st = c.stats()
        check(int(st["curr_items"]) >= n, "items stored: %s" % st["curr_items"])
        before = int(st["bytes"])
        # ttl 3 (1 let some expire before the count above on a loaded
        # machine) = gone within 4 s; the sampler should have them well
        # within 5 s more
        ok = wait_for(lambda: int(c.stats()["curr_items"]) == 100, 10.0)
        st = c.stats()
        check(ok, "expired items not reclaimed without reads: curr_items=%s"
              % st["curr_items"])
        check(int(st["bytes"]) < before // 50,
              "bytes did not fall: before %d now %s" % (before, st["bytes"]))
        check(int(st["reclaimed"]) >= n, "reclaimed %s" % st["reclaimed"])
        check(int(st["expired_unfetched"]) >= n,
              "expired_unfetched %s" % st["expired_unfetched"])
        for i in range(100):
            check_eq(c.get_value(b"keep:%d" % i), b"v", "survivor")


def test_absolute_and_negative_exptime():
    with Daemon() as d, Conn(d.port) as c:
        now = int(time.time())
        check_eq(c.set_value(b"past", b"v", exptime=now - 10), b"STORED\r\n", "past")
        check_eq(c.get_value(b"past"), None, "absolute time in the past is expired")
        check_eq(c.set_value(b"future", b"v", exptime=now + 100), b"STORED\r\n", "fut")
        check_eq(c.get_value(b"future"), b"v", "absolute time in the future lives")
        c.send(b"mg future t\r\n")
        ttl = int(c.read_until(b"\r\n").split()[1][1:])
        check(95 <= ttl <= 101, "ttl of absolute exptime: %d" % ttl)
        check_eq(c.set_value(b"neg", b"v", exptime=-1), b"STORED\r\n", "neg")
        check_eq(c.get_value(b"neg"), None, "negative exptime is expired")
        check_eq(c.set_value(b"rel", b"v", exptime=2592000), b"STORED\r\n", "30d")
        c.send(b"mg rel t\r\n")
        ttl = int(c.read_until(b"\r\n").split()[1][1:])
        check(2591990 <= ttl <= 2592000, "30 days is relative: %d" % ttl)


def test_touch_and_gat_extend_life():
    with Daemon() as d, Conn(d.port) as c:
        check_eq(c.set_value(b"t", b"v", exptime=1), b"STORED\r\n", "set")
        check_eq(c.line(b"touch t 100\r\n"), b"TOUCHED\r\n", "touch")
        c.send(b"gat 200 t\r\n")
        check_eq(c.read_until(b"END\r\n"), b"VALUE t 0 1\r\nv\r\nEND\r\n", "gat")
        time.sleep(2.2)
        check_eq(c.get_value(b"t"), b"v", "touched item outlives its first ttl")


def test_delayed_flush_all():
    with Daemon() as d, Conn(d.port) as c:
        check_eq(c.set_value(b"f", b"v"), b"STORED\r\n", "set")
        check_eq(c.line(b"flush_all 2\r\n"), b"OK\r\n", "flush_all 2")
        check_eq(c.get_value(b"f"), b"v", "still there before the delay")
        ok = wait_for(lambda: c.get_value(b"f") is None, 5.0)
        check(ok, "flushed after the delay")
        # Like memcached, whatever is stored within the deadline's second is
        # flushed too; a second later writes live again.
        time.sleep(1.1)
        check_eq(c.set_value(b"g", b"w"), b"STORED\r\n", "set after")
        check_eq(c.get_value(b"g"), b"w", "items stored after the flush live")


def test_sampler_reclaims_flushed_items():
    with Daemon() as d, Conn(d.port) as c:
        n = 5000
        c.send(b"".join(b"set fl:%d 0 0 1 noreply\r\nv\r\n" % i for i in range(n)))
        check_eq(c.line(b"mn\r\n"), b"MN\r\n", "pipeline done")
        check_eq(int(c.stats()["curr_items"]), n, "stored")
        check_eq(c.line(b"flush_all\r\n"), b"OK\r\n", "flush_all")
        ok = wait_for(lambda: int(c.stats()["curr_items"]) == 0, 5.0)
        check(ok, "flushed items not reclaimed without reads: curr_items=%s"
              % c.stats()["curr_items"])


if __name__ == "__main__":
    mchelper.run_tests([
        test_sampler_reclaims_unread_expired_items,
        test_absolute_and_negative_exptime,
        test_touch_and_gat_extend_life,
        test_delayed_flush_all,
        test_sampler_reclaims_flushed_items,
    ])
