#!/usr/bin/python3
"""Item size limit (-I): the largest storable value is stored and read back
intact, one byte more is refused with memcached's reply, the refused bytes
are swallowed and the connection stays usable.

Two rules exist (see COMPAT_NOTES.md, "Item size limit"):
  memcached 1.6.18: the whole item counts, so the largest value is
      -I - 59 - len(key), 4 bytes less when flags != 0;
  meshcached: a value is accepted iff len(value) <= -I.
The rule applied is memcached's when the daemon under test is the
reference memcached binary, meshcached's otherwise.
"""

import mchelper
from mchelper import Daemon, TestFailure, check, check_eq

TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"
BIG_TIMEOUT = 20.0  # seconds for replies to megabyte-sized requests


def largest_value(item_size_max, key, flags):
    if not mchelper.daemon_is_reference():
        return item_size_max
    return item_size_max - 59 - len(key) - (4 if flags else 0)


def start_with_item_size(spec):
    """A daemon with -I spec. memcached refuses -I below its default
    slab_chunk_max (512k) unless that is lowered too; meshcached takes
    the plain flag, so the extra option is only added when needed."""
    try:
        return Daemon(args=["-I", spec, "-m", "64"]).start()
    except TestFailure as e:
        if "slab_chunk_max" not in str(e):
            raise
    size = parse_size(spec)
    return Daemon(args=["-I", spec, "-m", "64", "-o",
                        "slab_chunk_max=%d" % min(size, 524288)]).start()


def parse_size(spec):
    units = {"k": 1024, "m": 1024 * 1024}
    if spec[-1].lower() in units:
        return int(spec[:-1]) * units[spec[-1].lower()]
    return int(spec)


def pattern(n, seed):
    """n bytes that reveal truncation, shifts and mixing up of values."""
    unit = bytes((i * 31 + seed) % 251 for i in range(251))
    return (unit * (n // len(unit) + 1))[:n]


def check_limit(d, item_size_max, key, flags):
    limit = largest_value(item_size_max, key, flags)
    c = d.connect(timeout=BIG_TIMEOUT)
    try:
        value = pattern(limit, len(key) + flags)
        c.send(b"set %s %d 0 %d\r\n%s\r\n" % (key, flags, limit, value))
        check_eq(c.read_until(b"\r\n"), b"STORED\r\n",
                 "set of the largest value (%d bytes, key %d bytes, flags %d)"
                 % (limit, len(key), flags))
        c.send(b"get %s\r\n" % key)
        head = c.read_until(b"\r\n")
        check_eq(head, b"VALUE %s %d %d\r\n" % (key, flags, limit), "get header")
        check(c.read_exact(limit + 2) == value + b"\r\n", "largest value corrupted")
        check_eq(c.read_until(b"\r\n"), b"END\r\n", "get trailer")

        # One byte more: refused, and its bytes must be swallowed, not run.
        # They are `delete canary` commands that would show if executed.
        check_eq(c.set_value(b"canary", b"alive"), b"STORED\r\n", "set canary")
        over = limit + 1
        junk = (b"delete canary\r\n" * (over // 15 + 1))[:over]
        big = key[:-1] + (b"j" if key[-1:] != b"j" else b"i")  # same length
        c.send(b"set %s %d 0 %d\r\n%s\r\nget canary\r\n" % (big, flags, over, junk))
        check_eq(c.read_until(b"\r\n"), TOO_LARGE, "set of limit+1 bytes")
        check_eq(c.read_until(b"END\r\n"), b"VALUE canary 0 5\r\nalive\r\nEND\r\n",
                 "command after the refused value (bytes not swallowed?)")
        # The same through the meta protocol.
        c.send(b"ms %s %d F%d\r\n%s\r\nmg canary v\r\n" % (big, over, flags, junk))
        check_eq(c.read_until(b"\r\n"), TOO_LARGE, "ms of limit+1 bytes")
        check_eq(c.read_until(b"alive\r\n"), b"VA 5\r\nalive\r\n", "mg after refused ms")
        check_eq(c.line(b"get %s\r\n" % big), b"END\r\n", "refused value not stored")
        check_eq(c.line(b"version\r\n")[:8], b"VERSION ", "connection usable")
    finally:
        c.close()


def check_far_too_large(d, item_size_max):
    """A value several times the limit is refused and swallowed too, and
    noreply hides the error."""
    with d.connect(timeout=BIG_TIMEOUT) as c:
        n = 3 * item_size_max + 17
        c.send(b"set huge 0 0 %d\r\n" % n + b"x" * n + b"\r\nget huge\r\n")
        check_eq(c.read_until(b"\r\n"), TOO_LARGE, "set of 3x the limit")
        check_eq(c.read_until(b"\r\n"), b"END\r\n", "get after 3x refused")
        c.send(b"set huge 0 0 %d noreply\r\n" % n + b"x" * n + b"\r\nmn\r\n")
        check_eq(c.read_until(b"\r\n"), b"MN\r\n", "noreply hides the error")


def run_limits(spec):
    size = parse_size(spec)
    d = start_with_item_size(spec)
    try:
        with d.connect() as c:
            check_eq(int(c.stats(b"settings")["item_size_max"]), size,
                     "item_size_max for -I %s" % spec)
        for key, flags in ((b"k", 0), (b"K" * 250, 0), (b"f", 123456)):
            check_limit(d, size, key, flags)
        check_far_too_large(d, size)
        check(d.alive(), "daemon died")
    finally:
        d.stop()


def test_item_size_1m():
    run_limits("1m")


def test_item_size_2k():
    run_limits("2k")


if __name__ == "__main__":
    print("item size rule: %s" % ("memcached (header counts)" if mchelper.daemon_is_reference()
                                  else "meshcached (value <= -I)"))
    mchelper.run_tests([test_item_size_1m, test_item_size_2k])
