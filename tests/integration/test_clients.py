#!/usr/bin/python3
"""Real clients against $MESHCACHED: pymemcache round-trips and
libmemcached's memccapable ASCII suite (which must report exactly what it
reports for memcached 1.6.18: every subtest passes)."""

import os
import shlex
import subprocess

import mchelper
from mchelper import Daemon, TestSkip, check, check_eq

MEMCCAPABLE = "/usr/bin/memccapable"
# Subtests memccapable -a runs; all of them pass against memcached 1.6.18.
MEMCCAPABLE_TESTS = """
version quit verbosity set "set noreply" get gets mget flush "flush noreply"
add "add noreply" replace "replace noreply" cas "cas noreply" delete
"delete noreply" incr "incr noreply" decr "decr noreply" append
"append noreply" prepend "prepend noreply" stat
"""


def pymemcache_client(port):
    try:
        from pymemcache.client.base import Client
    except ImportError:
        raise TestSkip("python3-pymemcache is not installed")
    return Client(("127.0.0.1", port), connect_timeout=5, timeout=5)


def test_pymemcache_round_trips():
    with Daemon() as d:
        mc = pymemcache_client(d.port)
        try:
            check(mc.set("k", b"v1", expire=0, noreply=False), "set")
            check_eq(mc.get("k"), b"v1", "get")
            check_eq(mc.get("missing"), None, "get miss")

            value, cas = mc.gets("k")
            check_eq(value, b"v1", "gets value")
            check(isinstance(cas, bytes) and cas.isdigit(), "gets cas %r" % cas)
            check_eq(mc.cas("k", b"v2", cas, noreply=False), True, "cas with fresh token")
            check_eq(mc.cas("k", b"v3", cas, noreply=False), False, "cas with stale token")
            check_eq(mc.cas("missing", b"x", cas, noreply=False), None, "cas on a miss")
            check_eq(mc.get("k"), b"v2", "value after cas")

            check(mc.set("n", b"41", noreply=False), "set counter")
            check_eq(mc.incr("n", 1, noreply=False), 42, "incr")
            check_eq(mc.decr("n", 50, noreply=False), 0, "decr clamps at 0")
            check_eq(mc.incr("missing", 1, noreply=False), None, "incr miss")
            check_eq(mc.get("n"), b"0 ", "decr pads with spaces like memcached")

            check_eq(mc.add("k", b"x", noreply=False), False, "add existing")
            check_eq(mc.add("new", b"x", noreply=False), True, "add new")
            check_eq(mc.replace("missing", b"x", noreply=False), False, "replace miss")
            check_eq(mc.replace("new", b"y", noreply=False), True, "replace hit")
            check_eq(mc.append("new", b"z", noreply=False), True, "append")
            check_eq(mc.prepend("new", b"w", noreply=False), True, "prepend")
            check_eq(mc.append("missing", b"z", noreply=False), False, "append miss")
            check_eq(mc.get("new"), b"wyz", "append/prepend result")

            check_eq(mc.touch("new", 100, noreply=False), True, "touch hit")
            check_eq(mc.touch("missing", 100, noreply=False), False, "touch miss")
            check_eq(mc.delete("new", noreply=False), True, "delete hit")
            check_eq(mc.delete("new", noreply=False), False, "delete miss")
            check_eq(mc.get("new"), None, "get after delete")

            version = mc.version()
            check(version[:1].isdigit(), "version string %r" % version)
        finally:
            mc.close()


def test_pymemcache_get_many():
    with Daemon() as d:
        mc = pymemcache_client(d.port)
        try:
            values = {"key:%03d" % i: b"value-%d-" % i + b"x" * (i * 37) for i in range(100)}
            failed = mc.set_many(values, noreply=False)
            check_eq(failed, [], "set_many failures")
            got = mc.get_many(list(values) + ["absent-1", "absent-2"])
            check_eq(sorted(got), sorted(values), "keys returned by get_many")
            bad = [k for k in values if got[k] != values[k]]
            check(not bad, "wrong values for %s" % bad[:5])
            cas = mc.gets_many(list(values)[:10])
            check_eq(len(cas), 10, "gets_many size")
            check(all(v[0] == values[k] for k, v in cas.items()), "gets_many values")
        finally:
            mc.close()


def test_memccapable_ascii():
    if not os.access(MEMCCAPABLE, os.X_OK):
        raise TestSkip("%s not installed (libmemcached-tools)" % MEMCCAPABLE)
    with Daemon() as d:
        proc = subprocess.run(
            [MEMCCAPABLE, "-a", "-t", "5", "-h", "127.0.0.1", "-p", str(d.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = proc.stdout.decode("utf-8", "replace")
        print(out, end="")
        results = {}
        for line in out.splitlines():
            if line.startswith("ascii ") and line.rstrip().endswith("]"):
                name, _, verdict = line[len("ascii "):].rpartition("[")
                results[name.strip()] = verdict.rstrip("]")
        want = {name: "pass" for name in shlex.split(MEMCCAPABLE_TESTS)}
        check_eq(results, want, "memccapable subtest results")
        check("All tests passed" in out, "memccapable did not report success")
        check_eq(proc.returncode, 0, "memccapable exit status")


if __name__ == "__main__":
    mchelper.run_tests([
        test_pymemcache_round_trips,
        test_pymemcache_get_many,
        test_memccapable_ascii,
    ])
