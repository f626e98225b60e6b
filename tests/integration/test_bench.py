#!/usr/bin/python3
"""meshcached-bench, the load generator, is a measuring tool and must count
right: against a live $MESHCACHED (memcached if unset) its get, set, hit and
miss counts equal the deltas of the server's `stats` when it is the only
client; a prefilled key space that fits in memory hits every time, an
empty server never; errors and lost requests are counted and reported;
--json parses; and --help agrees with man/meshcached-bench.1.

No assertion here is about speed.

Environment: MESHCACHED_BENCH = the load generator (default: the build
tree's contrib/bench/meshcached-bench), MESHCACHED = the daemon,
MESHCACHED_SRCDIR = the source tree.
"""

import json
import os
import re
import signal
import subprocess

import mchelper
from mchelper import Daemon, TestFailure, check, check_eq

SRCDIR = os.environ.get("MESHCACHED_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BENCH = os.environ.get("MESHCACHED_BENCH") or os.path.join(
    SRCDIR, "build", "contrib", "bench", "meshcached-bench")
MAN = os.path.join(SRCDIR, "man", "meshcached-bench.1")

RUN_TIMEOUT = 60  # seconds; a run here takes about one
COUNTED = ["cmd_get", "cmd_set", "get_hits", "get_misses"]


def bench(args, want_status=0):
    """Runs the load generator; returns (status, stdout, stderr)."""
    if not os.access(BENCH, os.X_OK):
        raise TestFailure("load generator %s is not executable (set MESHCACHED_BENCH)"
                          % BENCH)
    proc = subprocess.run([BENCH] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=RUN_TIMEOUT)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if want_status is not None and proc.returncode != want_status:
        raise TestFailure("%s exited %d, want %d; stderr: %s; stdout: %s"
                          % (" ".join(map(str, args)), proc.returncode, want_status,
                             err.strip(), out[-1000:]))
    return proc.returncode, out, err


def bench_json(port_or_servers, args, want_status=0):
    servers = port_or_servers if isinstance(port_or_servers, str) \
        else "127.0.0.1:%d" % port_or_servers
    status, out, err = bench(["--server", servers, "--json"] + list(args), want_status)
    try:
        return json.loads(out)
    except ValueError as e:
        raise TestFailure("--json printed no valid JSON (%s): %r" % (e, out[:2000]))


def server_counts(d):
    with d.connect() as c:
        st = c.stats()
    return {n: int(st[n]) for n in COUNTED}


def bench_counts(r):
    """What the server must have seen: every phase's gets (per key), sets,
    hits and misses."""
    phases = [r, r["prefill"], r["warmup"]]
    return {
        "cmd_get": sum(p["get_keys"] for p in phases),
        "cmd_set": sum(p["sets"] for p in phases),
        "get_hits": sum(p["hits"] for p in phases),
        "get_misses": sum(p["misses"] for p in phases),
    }


def delta(before, after):
    return {n: after[n] - before[n] for n in COUNTED}


def check_clean(r, what):
    check_eq(r["errors"], 0, what + ": errors")
    for phase in ("prefill", "warmup"):
        check_eq(r[phase]["errors"], 0, "%s: %s errors" % (what, phase))
    check_eq(r["connections_lost"], 0, what + ": connections lost")
    check(r["first_error"] is None, "%s: first_error %r" % (what, r["first_error"]))
    check_eq(r["requests"], r["gets"] + r["sets"], what + ": requests = gets + sets")
    check_eq(r["hits"] + r["misses"], r["get_keys"], what + ": hits + misses = keys")
    lat = r["latency_us"]
    check_eq(lat["count"], r["requests"], what + ": one latency per request")
    if lat["count"]:
        check(0 < lat["p50"] <= lat["p99"] <= lat["p99.9"] <= lat["max"],
              "%s: percentiles out of order: %r" % (what, lat))
        check(lat["min"] <= lat["mean"] <= lat["max"], "%s: mean out of range" % what)


def test_counts_equal_server_stats():
    with Daemon(args=["-t", "2"]) as d:
        before = server_counts(d)
        r = bench_json(d.port, ["--requests", 200000, "--threads", 2, "--conns", 2,
                                "--pipeline", 16, "--ratio", "9:1", "--keys", 5000,
                                "--value-size", 32])
        after = server_counts(d)
        check_clean(r, "9:1")
        check_eq(r["requests"], 200000, "requests")
        check(r["gets"] > 170000 and r["sets"] > 10000, "mix near 9:1: %r" % r)
        check_eq(bench_counts(r), delta(before, after), "bench counts vs server deltas")
        check(0 < r["hit_ratio"] < 1, "a mixed load on a fresh server hits sometimes")
        check_eq(r["params"]["pipeline"], 16, "params echoed")


def test_multiget_zipf_ranges_and_warmup_counts():
    with Daemon(args=["-t", "2"]) as d:
        before = server_counts(d)
        r = bench_json(d.port, ["--requests", 20000, "--threads", 2, "--conns", 3,
                                "--pipeline", 8, "--ratio", "3:1", "--multiget", 7,
                                "--dist", "zipf", "--zipf-skew", 0.99, "--keys", 100000,
                                "--value-size", "1-3000", "--warmup", 0.2, "--seed", 7])
        after = server_counts(d)
        check_clean(r, "multiget")
        check_eq(r["requests"], 20000, "requests")
        check_eq(r["get_keys"], 7 * r["gets"], "a multiget counts its keys")
        check(r["warmup"]["requests"] > 0, "warmup sent requests")
        check_eq(bench_counts(r), delta(before, after), "bench counts vs server deltas")


def test_prefill_then_every_get_hits():
    with Daemon() as d:
        before = server_counts(d)
        r = bench_json(d.port, ["--prefill", "--keys", 3000, "--ratio", "1:0",
                                "--requests", 20000, "--conns", 3, "--pipeline", 8,
                                "--multiget", 3, "--value-size", "10-100"])
        after = server_counts(d)
        check_clean(r, "prefill")
        check_eq(r["prefill"]["sets"], 3000, "prefill sets every key once")
        check_eq(r["sets"], 0, "no sets with --ratio 1:0")
        check_eq(r["hit_ratio"], 1.0, "hit ratio after prefill")
        check_eq(r["misses"], 0, "misses after prefill")
        check_eq(bench_counts(r), delta(before, after), "bench counts vs server deltas")
        with d.connect() as c:
            check_eq(int(c.stats()["curr_items"]), 3000, "items after prefill")


def test_empty_server_never_hits():
    with Daemon() as d:
        before = server_counts(d)
        r = bench_json(d.port, ["--ratio", "1:0", "--requests", 20000, "--conns", 2,
                                "--pipeline", 4])
        after = server_counts(d)
        check_clean(r, "gets only")
        check_eq(r["hit_ratio"], 0.0, "hit ratio on an empty server")
        check_eq(r["hits"], 0, "hits")
        check_eq(bench_counts(r), delta(before, after), "bench counts vs server deltas")


def test_set_on_miss_fills_the_cache():
    with Daemon() as d:
        before = server_counts(d)
        r = bench_json(d.port, ["--ratio", "1:0", "--set-on-miss", "--keys", 200,
                                "--requests", 5000, "--conns", 2, "--pipeline", 4,
                                "--multiget", 2])
        after = server_counts(d)
        check_clean(r, "set on miss")
        # Each miss is followed by a set of its key, except those still
        # queued when the request budget ran out (at most conns x
        # pipeline x multiget).
        check(r["misses"] - 16 <= r["sets"] <= r["misses"],
              "sets %d follow misses %d" % (r["sets"], r["misses"]))
        check(r["hit_ratio"] > 0.5, "the cache fills: hit ratio %r" % r["hit_ratio"])
        check_eq(bench_counts(r), delta(before, after), "bench counts vs server deltas")


def test_sets_only_and_duration():
    with Daemon() as d:
        before = server_counts(d)
        r = bench_json(d.port, ["--ratio", "0:1", "--duration", 0.5, "--conns", 2,
                                "--pipeline", 4])
        after = server_counts(d)
        check_clean(r, "sets only")
        check(r["hit_ratio"] is None, "no hit ratio without gets: %r" % r["hit_ratio"])
        check_eq(r["gets"], 0, "gets")
        check(r["sets"] > 0, "sets were sent")
        check(r["elapsed_s"] >= 0.5, "elapsed %r covers --duration" % r["elapsed_s"])
        check_eq(bench_counts(r), delta(before, after), "bench counts vs server deltas")


def test_rate_never_sends_ahead_of_the_schedule():
    # --rate: request k is due at start + k/rate; none may go out early, so
    # over d seconds at most rate*d (+1 per thread) are sent. The count is
    # still exact against the server's stats.
    with Daemon() as d:
        before = server_counts(d)
        r = bench_json(d.port, ["--rate", 2000, "--duration", 1, "--threads", 2,
                                "--conns", 4, "--ratio", "1:1"])
        after = server_counts(d)
        check_clean(r, "paced run")
        check_eq(r["params"]["rate"], 2000, "rate echoed in the parameters")
        # request k of a thread is due at k/1000 s: each thread sends at most
        # 1 + elapsed x 1000 (the stop timer may fire a little late, so the
        # bound uses the run's own elapsed time); an unpaced run sends far more
        bound = 2 * (1 + (r["elapsed_s"] + 0.005) * 1000)
        check(0 < r["requests"] <= bound,
              "paced run sent %d requests in %.3f s at 2000/s (bound %.0f)"
              % (r["requests"], r["elapsed_s"], bound))
        check_eq(bench_counts(r), delta(before, after), "bench counts vs server deltas")


def test_connections_spread_over_servers():
    with Daemon() as a, Daemon() as b:
        servers = "127.0.0.1:%d,127.0.0.1:%d" % (a.port, b.port)
        ba, bb = server_counts(a), server_counts(b)
        r = bench_json(servers, ["--prefill", "--keys", 1000, "--conns", 4,
                                 "--requests", 10000, "--pipeline", 4])
        da, db = delta(ba, server_counts(a)), delta(bb, server_counts(b))
        check_clean(r, "two servers")
        check_eq(r["prefill"]["sets"], 2000, "prefill sets every key on each server")
        check_eq(r["hit_ratio"], 1.0, "every key is on every server")
        check(da["cmd_get"] > 0 and db["cmd_get"] > 0, "both servers loaded")
        both = {n: da[n] + db[n] for n in COUNTED}
        check_eq(bench_counts(r), both, "bench counts vs summed server deltas")


def test_error_replies_are_counted():
    # Values above the default 1 MB item size limit are refused with
    # SERVER_ERROR (and their data swallowed).
    with Daemon() as d:
        r = bench_json(d.port, ["--ratio", "0:1", "--value-size", 1100000,
                                "--requests", 20, "--conns", 1, "--pipeline", 4],
                       want_status=1)
        check_eq(r["errors"], 20, "every oversized set is an error")
        check_eq(r["errors_by_kind"]["server_error"], 20, "counted as SERVER_ERROR")
        check("SERVER_ERROR" in r["first_error"], "first error quoted: %r" % r["first_error"])
        with d.connect() as c:
            check_eq(c.line(b"version\r\n")[:8], b"VERSION ", "stream still in sync")


def test_unanswered_requests_count_as_lost():
    with Daemon() as d:
        os.kill(d.pid, signal.SIGSTOP)
        try:
            r = bench_json(d.port, ["--requests", 10, "--conns", 2, "--pipeline", 4,
                                    "--timeout", 0.5], want_status=1)
        finally:
            os.kill(d.pid, signal.SIGCONT)
        check_eq(r["errors_by_kind"]["lost"], 8, "the 2 x 4 requests in flight are lost")
        check_eq(r["errors"], 8, "errors")
        check_eq(r["connections_lost"], 2, "connections closed")


def test_text_report_and_refused_server():
    with Daemon() as d:
        status, out, err = bench(["-s", "127.0.0.1:%d" % d.port, "-n", 1000, "-m", 2])
        for label in ("measured:", "throughput:", "hit ratio:", "errors:", "latency us:"):
            check(re.search("^" + label, out, re.M), "text report has %r: %r" % (label, out))
        check(re.search(r"^errors:\s+0$", out, re.M), "no errors: %r" % out)
        port = d.port
    status, out, err = bench(["-s", "127.0.0.1:%d" % port, "-n", 10], want_status=2)
    check("connect" in err, "a refused connection is reported: %r" % err)


def test_bad_command_lines_are_refused():
    for args in (["--threads", 0], ["--pipeline", 4097], ["--ratio", "0:0"],
                 ["--ratio", "9"], ["--dist", "pareto"], ["--value-size", "9-3"],
                 ["--multiget", 1001], ["--keys", 0], ["--duration", 0],
                 ["--zipf-skew", -1], ["--key-prefix", "a b"], ["--bogus"],
                 ["--server", "127.0.0.1:0"], ["extra"]):
        status, out, err = bench(args, want_status=64)
        check(len(err.splitlines()) == 1 and not out,
              "%r: want one line on stderr, got %r" % (args, err))


def parse_help_options(text):
    """{--long: {"short": "-x" or None, "arg": bool, "limits": {kind: value}}}"""
    opts, cur = {}, None
    for line in text.split("\n"):
        m = re.match(r"^(?:(-[A-Za-z]), |    )(--[a-z][a-z0-9-]*)(=\S+)?(.*)$", line)
        if m:
            cur = {"short": m.group(1), "arg": m.group(3) is not None, "text": m.group(4)}
            opts[m.group(2)] = cur
        elif cur is not None and line.startswith(" "):
            cur["text"] += " " + line.strip()
        else:
            cur = None
    return opts


def parse_man_options(path):
    """{--long: {"short": ..., "arg": bool, "body": text}} from OPTIONS."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    opts, section, tag_next, cur = {}, None, False, None
    for line in lines:
        if line.startswith(".SH"):
            section = line[3:].strip().strip('"')
            cur = None
            continue
        if section != "OPTIONS":
            continue
        if line.startswith(".TP"):
            tag_next = True
            continue
        plain = re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-")
        if tag_next:
            tag_next = False
            longs = re.findall(r"--[a-z][a-z0-9-]*", plain)
            shorts = re.findall(r"(?<![\w-])-[A-Za-z](?![\w-])", plain)
            check(len(longs) == 1, "man tag %r names one long option" % line)
            cur = {"short": shorts[0] if shorts else None,
                   "arg": re.search(r"--[a-z0-9-]+ =", plain) is not None, "body": ""}
            opts[longs[0]] = cur
        elif cur is not None:
            cur["body"] += " " + re.sub(r"^\.\w+ ?", "", plain)
    return opts


def test_help_agrees_with_man_page():
    status, help_out, err = bench(["--help"])
    check_eq(bench(["-h"])[1], help_out, "-h is --help")
    check(bench(["--version"])[1].startswith("meshcached-bench "), "--version")
    hopts, mopts = parse_help_options(help_out), parse_man_options(MAN)
    check(len(hopts) >= 20, "--help lists %d options" % len(hopts))
    check_eq(sorted(hopts), sorted(mopts), "options in --help vs the man page")
    limit = re.compile(r"\b(default|min|max): ([^,)\s]+)", re.I)
    for name, h in hopts.items():
        m = mopts[name]
        check_eq(m["short"], h["short"], name + ": short form")
        check_eq(m["arg"], h["arg"], name + ": takes a value")
        want = {k.lower(): v.rstrip(".") for k, v in limit.findall(h["text"])}
        got = {k.lower(): v.rstrip(".") for k, v in limit.findall(m["body"])}
        check_eq(got, want, name + ": defaults and limits in the man page")


def test_slap_reports_every_server():
    # contrib/bench/slap, the memaslap comparison: one short round of both
    # methods must report each server's CPU per request and the ratios,
    # from requests the servers counted themselves.
    script = os.path.join(SRCDIR, "contrib", "bench", "slap")
    args = [script, "--meshcached", mchelper.daemon_binary(), "--memcached",
            mchelper.reference_binary(), "--rounds", "1", "--duration", "1"]
    names = ["memcached", "meshcached"]
    if not mchelper.daemon_is_reference():
        args += ["--variant", "nouring=-o io_uring=0"]
        names.append("nouring")
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT * 2)
    check_eq(proc.returncode, 0, "slap's status (stderr: %s)" % proc.stderr[-2000:])
    runs = [l for l in proc.stdout.splitlines() if re.match(r"(seq|pair) +round 1 ", l)]
    check_eq(len(runs), len(names), "runs: one seq, one pair per meshcached")
    for line in runs:
        for name, us, reqs in re.findall(r"(\w+) ([0-9.]+) us/req \((\d+) req\)", line):
            check(float(us) > 0 and int(reqs) > 1000, "%s in %r" % (name, line))
    summary = {tuple(l.split()[:2]): l.split()[2:] for l in proc.stdout.splitlines()
               if re.match(r"(seq|pair) +\w+ +[0-9.]+ ", l)}
    for mode in ("seq", "pair"):
        for name in names:
            row = summary.get((mode, name))
            check(row is not None, "no summary row for %s %s:\n%s" % (mode, name, proc.stdout))
            if name == "memcached":
                check_eq(row[1:], ["-", "-"], "memcached's ratio columns")
            else:
                ratio = float(row[1])
                check(0.05 < ratio < 20, "%s %s ratio %s" % (mode, name, row[1]))


if __name__ == "__main__":
    mchelper.run_tests([
        test_counts_equal_server_stats,
        test_multiget_zipf_ranges_and_warmup_counts,
        test_prefill_then_every_get_hits,
        test_empty_server_never_hits,
        test_set_on_miss_fills_the_cache,
        test_sets_only_and_duration,
        test_rate_never_sends_ahead_of_the_schedule,
        test_connections_spread_over_servers,
        test_error_replies_are_counted,
        test_unanswered_requests_count_as_lost,
        test_text_report_and_refused_server,
        test_bad_command_lines_are_refused,
        test_help_agrees_with_man_page,
        test_slap_reports_every_server,
    ])
