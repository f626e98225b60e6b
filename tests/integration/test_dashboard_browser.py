#!/usr/bin/python3
"""The admin dashboard (GET /) in headless Chromium, on a 3-node cluster
with --http-port on each (test_http's HttpCluster).

Debian's /usr/bin/chromium is driven by puppeteer-core from npm, pinned in
tests/browser/package-lock.json and installed with `npm ci` into the build
tree (never a browser download). With node_modules already there for the
same lockfile nothing is fetched; without them and without the npm
registry the test fails and says so.

The page must show every member alive, live numbers that change while a
load runs on the memcached port, the /events stream's hello; its console
sets a key (with the token typed into the page), its key browser lists
that key and previews its value; nothing is loaded from elsewhere and the
page throws no error. A screenshot goes to the build directory
(dashboard.png); MESHCACHED_DOCS_SCREENSHOT=path saves one for the README.

Every wait is bounded; nothing signals a process this test did not start.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import mchelper
from mchelper import TestFailure, check, check_eq
from test_http import TOKEN, HttpCluster

CHROMIUM = "/usr/bin/chromium"
NPM_TIMEOUT = 300    # npm ci, when it must fetch
BROWSER_TIMEOUT = 150  # the whole page script


def srcdir():
    return os.environ.get("MESHCACHED_SRCDIR",
                          os.path.join(os.path.dirname(__file__), "..", ".."))


def builddir():
    return os.environ.get("MESHCACHED_BUILDDIR", os.getcwd())


def node_modules():
    """Installs puppeteer-core from the lockfile into the build tree (once
    per lockfile); returns the directory that holds node_modules."""
    for tool in ("node", "npm"):
        check(shutil.which(tool) is not None,
              "%s is not installed: run contrib/deps (Node.js with npm)" % tool)
    check(os.access(CHROMIUM, os.X_OK), "%s is missing: run contrib/deps (chromium)" % CHROMIUM)
    src = os.path.join(srcdir(), "tests", "browser")
    dst = os.path.join(builddir(), "tests", "browser-node")
    lock = open(os.path.join(src, "package-lock.json"), "rb").read()
    stamp = os.path.join(dst, "node_modules", ".meshcached-lock-sha256")
    want = hashlib.sha256(lock).hexdigest()
    if os.path.exists(stamp) and open(stamp).read() == want:
        return dst
    os.makedirs(dst, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    try:
        r = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                            "--prefer-offline"],
                           cwd=dst, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=NPM_TIMEOUT)
        out = r.stdout.decode(errors="replace")
        ok = r.returncode == 0
    except subprocess.TimeoutExpired:
        out, ok = "(timed out after %d s)" % NPM_TIMEOUT, False
    if not ok:
        raise TestFailure(
            "npm ci of tests/browser/package-lock.json failed, and %s has no "
            "node_modules for it: the npm registry is needed once to install "
            "puppeteer-core (or copy a node_modules installed from this lockfile "
            "there). npm said:\n%s" % (dst, out[-3000:]))
    with open(stamp, "w") as f:
        f.write(want)
    return dst


class Load:
    """Sets and gets on a node's memcached port in a thread, until stopped
    (bounded: at most 10 minutes)."""

    def __init__(self, cl, i):
        self.cl, self.i = cl, i
        self.stop_ev = threading.Event()
        self.error = None
        self.ops = 0
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + 600
        try:
            with self.cl.conn(self.i) as c:
                n = 0
                while not self.stop_ev.is_set() and time.monotonic() < deadline:
                    key = b"load-%d" % (n % 500)
                    c.set_value(key, b"v" * (n % 100 + 1))
                    c.get_value(b"load-%d" % ((n * 7) % 700))  # some misses
                    n += 1
                    self.ops += 2
                    # vary the rate so ops/s keeps changing
                    if n % 50 == 0:
                        time.sleep(0.001 * (n // 50 % 20))
        except Exception as e:  # reported by stop()
            self.error = e

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.t.join(10)
        return False


def test_dashboard_shows_the_cluster_and_drives_the_console():
    mods = node_modules()
    key = "dash-key-%d" % time.monotonic_ns()
    value = "hello from the dashboard console"
    shot = os.path.join(builddir(), "dashboard.png")
    with HttpCluster(n=3) as cl, Load(cl, 1) as load:
        cfg = {"url": "http://%s:%d/" % (cl.hosts[0], cl.http_ports[0]),
               "token": TOKEN, "members": cl.ids, "key": key, "value": value,
               "screenshot": shot, "chromium": CHROMIUM}
        docs = os.environ.get("MESHCACHED_DOCS_SCREENSHOT")
        if docs:
            cfg["docsScreenshot"] = docs
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(cfg, f)
        try:
            t0 = time.monotonic()
            r = subprocess.run(
                ["node", os.path.join(srcdir(), "tests", "browser", "dashboard.test.js"),
                 mods, f.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=BROWSER_TIMEOUT)
        finally:
            os.unlink(f.name)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        print("page script (%.1f s): %s" % (time.monotonic() - t0, out.strip()))
        check(r.returncode == 0, "the page script failed (%d):\n%s\n%s\n%s"
              % (r.returncode, err[-4000:], out[-2000:], cl.logs()))
        seen = json.loads(out.strip().splitlines()[-1])
        check(seen["ok"], "the page script did not finish: %r" % seen)
        check_eq(sorted(seen["members"]), sorted(cl.ids), "members shown")
        check_eq(seen["dist"], 3, "rows of the ring distribution")
        check(seen["charts"] >= 4, "charts drawn: %r" % seen["charts"])
        check_eq(seen["pageErrors"], [], "errors thrown in the page")
        check_eq(seen["offsite"], [], "requests outside the node")
        check_eq([e for e in seen["consoleErrors"] if "Content Security Policy" in e], [],
                 "CSP violations")
        check(load.error is None, "the memcached load failed: %r" % load.error)
        # what the console set is there for the memcached port of another node
        with cl.conn(2) as c:
            check_eq(c.get_value(key.encode()), value.encode(), "the key set in the console")
        check(os.path.getsize(shot) > 10000, "screenshot %s too small" % shot)
        print("screenshot: %s" % shot)


if __name__ == "__main__":
    mchelper.run_tests([test_dashboard_shows_the_cluster_and_drives_the_console])
