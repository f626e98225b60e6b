#!/usr/bin/python3
"""Eviction under the memory limit: an item being modified is never the
victim, and the victims are the oldest items not read since they were
stored, across the whole cache, not the new key's shard.

Regressions for two bugs that lost data:
  - append, prepend (classic and ms MA/MP) and incr allocated their new item
    after dropping the shard lock, and eviction began at the key's own
    shard, where the item being modified was often the LRU tail: the reply
    was NOT_STORED / NOT_FOUND and the value was gone;
  - each of the 256 shards had its own LRU and eviction took the tail of the
    new key's shard, so with few items per shard the newest item could go
    while the oldest stayed.
"""


import mchelper
from mchelper import Daemon, check, check_eq

BIG_TIMEOUT = 20.0
MB = 1000000


def fill(c, key, n, byte=b"b"):
    c.send(b"set %s 0 0 %d\r\n%s\r\n" % (key, n, byte * n))
    check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "set %s" % key.decode())


def size_of(c, key):
    """The value size the key holds (mg s), or None on a miss. Bumps it."""
    c.send(b"mg %s s\r\n" % key)
    line = c.read_until(b"\r\n")
    if line == b"EN\r\n":
        return None
    check(line.startswith(b"HD s"), "mg %s s: %r" % (key, line))
    return int(line[4:-2])


def present(c, key):
    """Whether the key holds an item, without touching its LRU position
    (me, the meta debug command, does not bump)."""
    c.send(b"me %s\r\n" % key)
    line = c.read_until(b"\r\n")
    if line == b"EN\r\n":
        return False
    check(line.startswith(b"ME "), "me %s: %r" % (key, line))
    return True


def nearly_full(d):
    """A connection to a daemon with -m 4 where 'a' (1 byte, the oldest
    item) sits beside three 1 MB values: the next megabyte must evict."""
    c = d.connect(timeout=BIG_TIMEOUT)
    fill(c, b"a", 1, b"x")
    for i in (1, 2, 3):
        fill(c, b"b%d" % i, MB)  # held alone: evicted in the order stored
    return c


def test_append_keeps_the_item_it_joins():
    for cmd, reply, want in ((b"append a 0 0 %d\r\n", b"STORED\r\n", b"x" + b"y" * 900000),
                             (b"prepend a 0 0 %d\r\n", b"STORED\r\n", b"y" * 900000 + b"x"),
                             (b"ms a %d MA\r\n", b"HD\r\n", b"x" + b"y" * 900000),
                             (b"ms a %d MP\r\n", b"HD\r\n", b"y" * 900000 + b"x")):
        with Daemon(args=["-m", "4"]) as d:
            c = nearly_full(d)
            c.send(cmd % 900000 + b"y" * 900000 + b"\r\n")
            check_eq(c.read_until(b"\r\n"), reply, cmd.split(b" ")[0].decode())
            c.send(b"get a\r\n")
            check_eq(c.read_until(b"END\r\n"),
                     b"VALUE a 0 %d\r\n%s\r\nEND\r\n" % (len(want), want),
                     "the joined value of %s" % cmd.split(b" ")[0].decode())
            # what went instead: the least recently used of the others
            check_eq(present(c, b"b1"), False, "b1 (oldest after a) evicted")
            check_eq(present(c, b"b3"), True, "b3 (newest) kept")


def stat(c, sub, name):
    c.send(b"stats%s\r\n" % sub)
    text = c.read_until(b"END\r\n").decode()
    return int(text.split("STAT %s " % name)[1].split("\r\n")[0])


def test_an_item_being_joined_or_counted_is_kept_by_eviction():
    """The counter n is the oldest item, in the oldest segment. Fillers are
    written until an append to n is what evicts: its data block (allocated
    sparing n, as an incr's longer item is) needs more room than a filler,
    so it is the first write the full cache cannot take without evicting.
    The block ends badly, so n stays as it was: the eviction took n's
    segment and must have kept n. Then an incr that needs a longer item
    works on it."""
    with Daemon(args=["-m", "4"]) as d:
        c = d.connect(timeout=BIG_TIMEOUT)
        fill(c, b"n", 2, b"9")  # "99": the incr below needs a longer item
        for i in range(2000):
            before = stat(c, b"", "evictions")
            c.send(b"append n 0 0 8000\r\n" + b"y" * 8000 + b"XX")
            check_eq(c.read_until(b"\r\n"), b"CLIENT_ERROR bad data chunk\r\n", "append")
            if stat(c, b"", "evictions") > before:
                break
            fill(c, b"f%d" % i, 4000)
            check_eq(stat(c, b"", "evictions"), 0, "evictions by fillers")
        else:
            raise mchelper.TestFailure("2000 fillers never filled -m 4")
        check(i > 100, "the cache held %d fillers" % i)
        check_eq(present(c, b"f0"), False, "the rest of the oldest segment evicted")
        check_eq(present(c, b"n"), True, "the item being joined kept")
        c.send(b"incr n 1\r\n")
        check_eq(c.read_until(b"\r\n"), b"100\r\n", "incr of a counter that grows")
        c.send(b"ma n N0 v\r\n")
        check_eq(c.read_until(b"\r\n"), b"VA 3\r\n", "ma")
        check_eq(c.read_until(b"\r\n"), b"101\r\n", "ma value")


def test_eviction_takes_the_oldest_unread_items_first():
    """100 values of 1 MB under -m 64 (about 60 fit): write k0..k49, read
    k0..k19 again, then write k50..k79. The 256 shards hold one or two items
    each, so only an order across shards evicts k20, k21, ... (the oldest
    unread: the re-read ones get a second chance) and keeps the re-read
    working set."""
    with Daemon(args=["-m", "64"]) as d:
        c = d.connect(timeout=BIG_TIMEOUT)
        keys = [b"k%d" % i for i in range(100)]
        for k in keys[:50]:
            fill(c, k, MB)
        check(all(present(c, k) for k in keys[:50]), "50 MB fit in -m 64")
        for k in keys[:20]:
            check_eq(size_of(c, k), MB, "re-read %s" % k.decode())
        for k in keys[50:80]:
            fill(c, k, MB)
        gone = [i for i, k in enumerate(keys[:80]) if not present(c, k)]
        print("evicted: %s" % " ".join("k%d" % i for i in gone))
        check(len(gone) >= 10, "writing 30 MB more into a full -m 64 evicts (%d)" % len(gone))
        check_eq(gone, list(range(20, 20 + len(gone))),
                 "the evicted are the oldest unread, oldest first")
        for k in keys[50:80]:
            check(present(c, k), "the newest %s kept" % k.decode())
        c.send(b"stats\r\n")
        stats = c.read_until(b"END\r\n").decode()
        evictions = int(stats.split("STAT evictions ")[1].split("\r\n")[0])
        check_eq(evictions, len(gone), "stats evictions")


if __name__ == "__main__":
    mchelper.run_tests([test_append_keeps_the_item_it_joins,
                        test_an_item_being_joined_or_counted_is_kept_by_eviction,
                        test_eviction_takes_the_oldest_unread_items_first])
