#!/usr/bin/python3
"""The documentation agrees with the daemon.

Checks that man/meshcached.1 and `meshcached --help` list the same options
(short and long, long-only ones included, with or without an argument) and
the same defaults and limits; that the memcached-only -o keys the man page lists are really
accepted with a warning; that -V prints the version configure.ac sets (and
the man page's footer names); that invalid command lines exit with status 64
and a one-line error within 2 s while the boundary values the man page gives
are accepted; that `-o modern` starts a daemon that answers `version` and
exits 0 within 5 s of SIGTERM; that the man page renders without groff
warnings (when groff is installed); and that README.md opens with the two
commands it promises.

Environment: MESHCACHED = the binary, MESHCACHED_SRCDIR = the source tree.
Exit status 0 when every check passes, 1 otherwise. Every process started
here is killed by its pid in a finally block.
"""

import fnmatch
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRCDIR = os.environ.get("MESHCACHED_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BINARY = os.environ.get("MESHCACHED") or os.path.join(SRCDIR, "build", "src", "meshcached")
MAN = os.path.join(SRCDIR, "man", "meshcached.1")
README = os.path.join(SRCDIR, "README.md")

USAGE_EXIT = 64
QUICK_TIMEOUT = 10.0  # an invalid command line is refused, not served (a bound on a hang, not a speed test: sanitizer builds on a loaded machine take seconds)
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


# ---- processes ----------------------------------------------------------

def run(args, timeout=QUICK_TIMEOUT):
    """Runs BINARY with args; returns (status, stdout, stderr, seconds).
    status is None when it did not exit within timeout (it is then killed)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([BINARY] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "", "", time.monotonic() - t0
        return (proc.returncode, out.decode("utf-8", "replace"),
                err.decode("utf-8", "replace"), time.monotonic() - t0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




# ---- roff ---------------------------------------------------------------

def unescape(s):
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)
    s = s.replace("\\(lq", '"').replace("\\(rq", '"').replace("\\(em", "--")
    s = s.replace("\\-", "-").replace("\\&", "").replace("\\ ", " ")
    s = s.replace("\\e", "\\")
    return s


def split_args(s):
    """Splits a macro's arguments the way roff does (double quotes group)."""
    args, cur, quoted, have = [], "", False, False
    for ch in s:
        if ch == '"':
            quoted = not quoted
            have = True
        elif ch == " " and not quoted:
            if have:
                args.append(cur)
            cur, have = "", False
        else:
            cur += ch
            have = True
    if have:
        args.append(cur)
    return args


def roff_line_text(line):
    """The text a roff source line contributes (None for pure requests)."""
    if line.startswith('.\\"') or line.startswith("'\\\""):
        return None
    if not line.startswith("."):
        return unescape(line)
    m = re.match(r"\.(\w+)\s*(.*)$", line)
    if m is None:
        return None
    macro, rest = m.group(1), m.group(2)
    args = split_args(rest)
    if macro in ("B", "I", "SH", "SS"):
        return unescape(" ".join(args))
    if macro in ("BR", "RB", "BI", "IB", "IR", "RI"):
        return unescape("".join(args))
    return None


def parse_man(path):
    """Returns {section: [entry]}; an entry is a dict with the .TP tag text,
    the body text and the raw source lines of the body. Text outside any
    .TP goes in an entry with tag None."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    sections, section, entry, want_tag = {}, None, None, False
    for line in lines:
        if line.startswith(".SH"):
            section = (roff_line_text(line) or "").strip().strip('"')
            entry = {"tag": None, "body": "", "raw": []}
            sections.setdefault(section, []).append(entry)
            continue
        if section is None:
            continue
        if line.startswith(".TP"):
            want_tag = True
            continue
        if want_tag:
            want_tag = False
            entry = {"tag": roff_line_text(line) or "", "body": "", "raw": []}
            sections[section].append(entry)
            continue
        if line.startswith((".PP", ".SS", ".RE")):
            entry = {"tag": None, "body": "", "raw": []}
            sections[section].append(entry)
            continue
        entry["raw"].append(line)
        text = roff_line_text(line)
        if text is not None:
            entry["body"] += text + " "
    return sections


SHORT_RE = re.compile(r"(?<![\w-])(-[A-Za-z0-9])(?![\w-])")
LONG_RE = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


# ---- --help -------------------------------------------------------------

def parse_help(text):
    """Returns a list of items {short, long, arg, text, sub} where sub holds
    the -o sub-items {name, text}; short is None for a long-only option
    (indented to the long options' column), long is None for a short-only
    one ("-D <char>", as memcached has it). A heading such as "Cluster:"
    ends the item before it."""
    items, cur, sub = [], None, None
    for line in text.split("\n"):
        m = (re.match(r"^(-[A-Za-z0-9]), (--[a-z][a-z0-9-]*)(\S*)\s*(.*)$", line)
             or re.match(r"^ {4}()(--[a-z][a-z0-9-]*)(\S*)\s*(.*)$", line))
        short_only = re.match(r"^(-[A-Za-z0-9]) <([a-z]+)>\s+(.*)$", line)
        if m is None and short_only:
            cur = {"short": short_only.group(1), "long": None,
                   "arg": "=<%s>" % short_only.group(2), "text": short_only.group(3),
                   "sub": []}
            items.append(cur)
            sub = None
            continue
        if m:
            cur = {"short": m.group(1) or None, "long": m.group(2), "arg": m.group(3),
                   "text": m.group(4), "sub": []}
            items.append(cur)
            sub = None
            continue
        if re.match(r"^[A-Z][^:]*:$", line):
            cur, sub = None, None
            continue
        if cur is None:
            continue
        m = re.match(r"^ {2,6}(\S+)\s*(.*)$", line)
        if m:
            name = m.group(1).split("=")[0]
            sub = {"name": name, "text": m.group(2)}
            cur["sub"].append(sub)
            continue
        if line.strip():
            (sub if sub is not None else cur)["text"] += " " + line.strip()
    return items


LIMIT_RE = re.compile(r"\b(default|min|max): ([^,)]+)")
LIMIT_WORDS = {"default": r"default:?", "min": r"(?:min|minimum):?", "max": r"(?:max|maximum):?"}


def check_limits(what, help_text, man_body):
    for kind, value in LIMIT_RE.findall(help_text):
        # --help writes a placeholder <host>, the man page an italic host.
        value = re.sub(r"<([^<>]*)>", r"\1", value.strip())
        pat = LIMIT_WORDS[kind] + r"\s+" + re.escape(value) + r"(?!\w|\.\w)"
        if re.search(pat, man_body, re.I):
            ok("%s: %s %s in the man page" % (what, kind, value))
        else:
            fail("%s: --help says %s: %s, the man page entry does not" % (what, kind, value))


# ---- checks -------------------------------------------------------------

def check_options(help_out, man):
    items = parse_help(help_out)
    if len(items) < 10:
        fail("--help lists only %d options; parser or help text broken" % len(items))
        return items
    entries = [e for e in man.get("OPTIONS", []) if e["tag"]]
    man_opts = {}
    for e in entries:
        shorts = SHORT_RE.findall(e["tag"])
        longs = LONG_RE.findall(e["tag"])
        for o in shorts + longs:
            man_opts[o] = e
        if len(shorts) > 1 or len(longs) > 1:
            fail("man OPTIONS tag %r names more than one option" % e["tag"])
    help_opts = set()
    for it in items:
        names = ", ".join(o for o in (it["short"], it["long"]) if o)
        help_opts.update(o for o in (it["short"], it["long"]) if o)
        e2 = man_opts.get(it["long"] or it["short"])
        e1 = man_opts.get(it["short"]) if it["short"] else e2
        if e1 is None or e2 is None:
            fail("%s is in --help but not in the man page OPTIONS" % names)
            continue
        if it["long"] is None and LONG_RE.search(e1["tag"]):
            fail("%s is short-only in --help, the man page gives it a long form" % it["short"])
            continue
        if e1 is not e2:
            fail("%s and %s are separate entries in the man page" % (it["short"], it["long"]))
            continue
        if it["short"] is None and SHORT_RE.search(e1["tag"]):
            fail("%s is long-only in --help, the man page gives it a short form" % it["long"])
            continue
        ok("%s documented" % names)
        help_arg = it["arg"].startswith("=")
        name = it["long"] or it["short"]
        man_arg = re.search(re.escape(name) + (r"=\w" if it["long"] else r" \w"),
                            e1["tag"]) is not None
        if help_arg != man_arg:
            fail("%s: --help says %s, the man page says %s" % (
                name, "it takes a value" if help_arg else "it takes no value",
                "it takes a value" if man_arg else "it takes no value"))
        check_limits(name, it["text"], e1["body"])
        for sub in it["sub"]:
            if sub["name"] == "memcached-only":
                continue
            se = [e for e in entries if e["tag"].split("=")[0].strip() == sub["name"]]
            if not se:
                fail("-o %s is in --help but has no entry in the man page" % sub["name"])
                continue
            ok("-o %s documented" % sub["name"])
            check_limits("-o " + sub["name"], sub["text"], se[0]["body"])
    for o in sorted(man_opts):
        if o not in help_opts:
            fail("%s is in the man page OPTIONS but not in --help" % o)
    return items


def check_ignored_ext_keys(help_items, man):
    entry = None
    for e in man.get("OPTIONS", []):
        if e["tag"] and e["tag"].startswith("memcached-only keys"):
            entry = e
    if entry is None:
        fail("the man page has no 'memcached-only keys' entry under -o")
        return
    keys = []
    for line in entry["raw"]:
        m = re.match(r"^\.BR ([a-z][a-z0-9_]*) ,$", line)
        if m:
            keys.append(m.group(1))
    if len(keys) < 5:
        fail("found only %d memcached-only -o keys in the man page" % len(keys))
        return
    # The examples --help gives must be among them.
    o_item = [it for it in help_items if it["short"] == "-o"]
    if o_item:
        for sub in o_item[0]["sub"]:
            if sub["name"] != "memcached-only":
                continue
            m = re.search(r"\(([^)]*)\)", sub["text"])
            for ex in (m.group(1).split(",") if m else []):
                ex = ex.strip()
                if ex in ("", "..."):
                    continue
                if any(fnmatch.fnmatchcase(k, ex) for k in keys):
                    ok("--help's example -o %s is in the man page list" % ex)
                else:
                    fail("--help names -o %s as ignored; the man page list does not" % ex)
    # Every key the man page lists, plus the ext_* and no_ forms it
    # promises, is accepted with one warning each.
    probe = keys + ["ext_path=/nonexistent:64m", "no_" + keys[0], keys[1] + "=1"]
    status, out, err, secs = run(["-o", ",".join(probe), "-V"])
    if status != 0:
        last = err.strip().splitlines()[-1:] or [""]
        fail("-o with the man page's memcached-only keys exited %r: %s" % (status, last[0]))
        return
    warned = [l for l in err.splitlines() if "warning" in l]
    if len(warned) != len(probe):
        fail("-o with %d ignored keys printed %d warnings" % (len(probe), len(warned)))
    else:
        ok("all %d memcached-only -o keys of the man page are accepted with a warning"
           % len(keys))


def check_version(man):
    with open(os.path.join(SRCDIR, "configure.ac"), encoding="utf-8") as f:
        m = re.search(r"AC_INIT\(\[meshcached\],\s*\[([^\]]+)\]", f.read())
    want = m.group(1) if m else None
    for flag in ("-V", "--version"):
        status, out, err, secs = run([flag])
        if status != 0 or err:
            fail("%s: exit %r, stderr %r" % (flag, status, err))
        elif want is None or out != "meshcached %s\n" % want:
            fail("%s printed %r, want 'meshcached %s'" % (flag, out, want))
        else:
            ok("%s prints %r" % (flag, out.strip()))
    with open(MAN, encoding="utf-8") as f:
        th = [l for l in f if l.startswith(".TH")]
    if not th or ('"meshcached %s"' % want) not in th[0]:
        fail("the man page's .TH does not name meshcached %s: %r" % (want, th[:1]))
    else:
        ok("the man page footer names version %s" % want)


# Invalid command lines: each is refused with status 64 and one line on
# stderr. They come after a valid -l/-p/-U so that a wrongly accepted one
# would only bind a free loopback port (and is killed after 2 s).
INVALID = [
    ["-p", "0"], ["-p", "65536"], ["-p", "abc"], ["-t", "0"], ["-t", "257"],
    ["-m", "abc"], ["-m", "0"], ["-m", "1k"], ["-U", "1"], ["-U", "65536"],
    ["-I", "2g"], ["-I", "1023"], ["-I", "40m"], ["-c", "0"], ["-c", "1000001"],
    ["-b", "0"], ["-b", "65536"], ["-R", "0"], ["-R", "1000001"], ["--bogus"],
    ["-o", "bogus"], ["-o", "idle_timeout=x"], ["-o", "idle_timeout"],
    ["--verbose=4"], ["-l", ""], ["-P", ""], ["-u", ""], ["unexpected"], ["-p"],
    ["--node-id="], ["--node-id=a b"], ["--node-id=" + "n" * 256], ["--node-id"],
    ["--peers="], ["--peers=127.0.0.1:0"], ["--peers=127.0.0.1"], ["--peers=::1:11211"],
    ["--peers=a:1,,b:2"], ["--peers=a:1,b:2,a:1"],
    ["--peers=" + ",".join("h%d:1" % i for i in range(129))],
    ["--vnodes=0"], ["--vnodes=65537"], ["--vnodes=x"], ["-o", "peer_timeout_ms=0"],
    ["-o", "peer_timeout_ms=60001"], ["-o", "peer_timeout_ms"],
    ["--cluster-port=0"], ["--cluster-port=65536"], ["--cluster-port"], ["--join="],
    ["--join=127.0.0.1:0"], ["--join=a:1,a:1"], ["--cluster-key="],
    ["-o", "gossip_interval_ms=49"], ["-o", "gossip_interval_ms=60001"],
    ["--peers=127.0.0.1:1", "--join=127.0.0.1:2"],
    ["--peers=127.0.0.1:1", "--cluster-port=2"], ["-p", "64536", "--join=127.0.0.1:2"],
    ["--replicas=0"], ["--replicas=17"], ["--write-quorum=0"], ["--read-quorum=17"],
    ["--write-quorum=3"], ["--replicas=3", "--read-quorum=4"], ["--consistency=most"],
    ["-o", "tombstone_ttl=0"], ["-o", "tombstone_ttl=2592001"],
    ["-o", "read_repair_chance=1.5"], ["-o", "read_repair_chance=-0.1"],
    ["-o", "read_repair_chance=nan"], ["-o", "hints_max=16777217"],
    ["-o", "ae_interval_ms=9"], ["-o", "ae_interval_ms=3600001"],
    ["-o", "ae_bytes_per_sec=4095"], ["-o", "ae_bytes_per_sec=1073741825"],
    ["-o", "ae_bytes_per_sec=fast"], ["-o", "handoff=2"], ["-o", "handoff=yes"],
    ["-o", "handoff_timeout_ms=3600001"], ["-o", "handoff_timeout_ms=-1"],
    ["-B", "binary"], ["-B", "foo"], ["--protocol=binary"], ["-D", ""], ["-A", "x"],
]

# Boundary values the man page states as valid; -V makes each exit at once
# after its value has been parsed.
VALID = [
    ["-p", "1"], ["-p", "65535"], ["-t", "1"], ["-t", "256"], ["-c", "1"],
    ["-c", "1000000"], ["-b", "1"], ["-b", "65535"], ["-R", "1"], ["-R", "1000000"],
    ["-I", "1k"], ["-I", "1024"], ["-I", "1024m"], ["-I", "1G"], ["-m", "1"], ["-m", "2g"],
    ["-m", "1099511627776"], ["-U", "0"], ["-o", "idle_timeout=4294967295"],
    ["--verbose=3"], ["-vv"], ["-M"], ["-C"], ["--port=11211"], ["-l", "127.0.0.1,::1"],
    ["--node-id=" + "n" * 255], ["--node-id=!~"], ["--vnodes=1"], ["--vnodes=65536"],
    ["--peers=" + ",".join("h%d:1" % i for i in range(128))],
    ["--peers=[::1]:1,localhost:65535"], ["-o", "peer_timeout_ms=1"],
    ["-o", "peer_timeout_ms=60000"], ["--cluster-port=1"], ["--cluster-port=65535"],
    ["--join=" + ",".join("h%d:1" % i for i in range(128))],
    ["--cluster-key=/nonexistent/key"], ["-o", "gossip_interval_ms=50"],
    ["-o", "gossip_interval_ms=60000"], ["--replicas=1"], ["--replicas=16"],
    ["--replicas=16", "--write-quorum=16", "--read-quorum=16"],
    ["--consistency=one"], ["--consistency=quorum"], ["--consistency=all"],
    ["-o", "tombstone_ttl=1"], ["-o", "tombstone_ttl=2592000"],
    ["-o", "read_repair_chance=0"], ["-o", "read_repair_chance=1"],
    ["-o", "hints_max=0"], ["-o", "hints_max=16777216"],
    ["-o", "ae_interval_ms=0"], ["-o", "ae_interval_ms=10"],
    ["-o", "ae_interval_ms=3600000"], ["-o", "ae_bytes_per_sec=4096"],
    ["-o", "ae_bytes_per_sec=1073741824"], ["-o", "handoff=0"], ["-o", "handoff=1"],
    ["-o", "handoff_timeout_ms=0"], ["-o", "handoff_timeout_ms=3600000"],
    ["-B", "ascii"], ["-B", "auto"], ["--protocol=auto"], ["-A"], ["--enable-shutdown"],
    ["-F"], ["--disable-flush-all"], ["-W"], ["--disable-watch"], ["-X"],
    ["--disable-dumping"], ["-D", "/"], ["-D", "ab"],
]


def check_invalid():
    for args in INVALID:
        full = ["-l", "127.0.0.1", "-p", str(free_port()), "-U", "0"] + args
        status, out, err, secs = run(full)
        what = " ".join(args) or "''"
        lines = err.splitlines()
        if status is None:
            fail("%s: still running after %.0f s (not refused)" % (what, QUICK_TIMEOUT))
        elif status != USAGE_EXIT:
            fail("%s: exit status %d, want %d" % (what, status, USAGE_EXIT))
        elif len(lines) != 1 or not lines[0].strip() or not err.endswith("\n"):
            fail("%s: want one line on stderr, got %r" % (what, err))
        elif out:
            fail("%s: unexpected stdout %r" % (what, out))
        else:
            ok("%s refused (%d) in %.2f s: %s" % (what, status, secs, lines[0]))


def check_valid():
    for args in VALID:
        status, out, err, secs = run(args + ["-V"])
        what = " ".join(args)
        if status != 0 or not out.startswith("meshcached "):
            fail("%s: documented as valid but exit %r: %s" % (what, status, err.strip()))
        else:
            ok("%s accepted" % what)


def check_help_flags(help_out):
    status, out, err, secs = run(["-h"])
    if status != 0 or out != help_out or err:
        fail("-h differs from --help (exit %r)" % status)
    else:
        ok("-h prints the same text as --help")


def connect(port, deadline):
    while time.monotonic() < deadline:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=1.0)
        except OSError:
            time.sleep(0.05)
    return None


def check_modern():
    for attempt in range(5):
        port = free_port()
        errf = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [BINARY, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-o", "modern"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            sock = None
            while time.monotonic() < deadline and proc.poll() is None:
                sock = connect(port, min(deadline, time.monotonic() + 0.2))
                if sock is not None:
                    break
            if sock is None:
                errf.seek(0)
                err = errf.read().decode("utf-8", "replace")
                if proc.poll() is not None and "in use" in err and attempt < 4:
                    continue  # lost the port to someone else: try another
                fail("-o modern: daemon not reachable (exit %r): %s" % (proc.poll(), err.strip()))
                return
            with sock:
                sock.settimeout(5.0)
                sock.sendall(b"version\r\n")
                reply = b""
                while not reply.endswith(b"\r\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            if re.match(rb"^VERSION \S+\r\n$", reply):
                ok("-o modern: daemon answers %r" % reply.strip().decode())
            else:
                fail("-o modern: version answered %r" % reply)
            errf.seek(0)
            err = errf.read().decode("utf-8", "replace")
            if "modern" in err and "warning" in err:
                ok("-o modern: warned on stderr")
            else:
                fail("-o modern: no warning on stderr: %r" % err)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                status = proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                fail("-o modern: still running %.0f s after SIGTERM" % STOP_TIMEOUT)
                return
            if status != 0:
                fail("-o modern: exit status %d after SIGTERM, want 0" % status)
            else:
                ok("SIGTERM: exit 0 in %.2f s" % (time.monotonic() - t0))
            return
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            errf.close()


def check_render():
    groff = shutil.which("groff")
    if groff is None:
        print("skip: groff not installed; man page rendering not checked")
        return
    proc = subprocess.Popen([groff, "-man", "-ww", "-z", MAN], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or err:
        fail("groff -man -ww warns: %s" % err.decode("utf-8", "replace").strip())
    else:
        ok("the man page renders without groff warnings")


def check_readme():
    try:
        with open(README, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail("README.md: %s" % e)
        return
    m = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    cmds = [l.strip() for l in m.group(1).splitlines() if l.strip()] if m else []
    if cmds != ["contrib/run", "contrib/test"]:
        fail("README.md's first code block is %r, want contrib/run and contrib/test" % cmds)
        return
    before = text[:m.start()]
    if "```" in before or len(before.split("\n")) > 12:
        fail("README.md does not open with the two commands")
        return
    for c in cmds:
        p = os.path.join(SRCDIR, c)
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            fail("README.md names %s, which is not an executable file" % c)
            return
    ok("README.md opens with contrib/run and contrib/test")


def main():
    if not os.access(BINARY, os.X_OK):
        print("FAIL: no meshcached binary at %s (set MESHCACHED)" % BINARY)
        return 1
    man = parse_man(MAN)
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS",
              "SEE ALSO"):
        if s not in man:
            fail("the man page has no %s section" % s)
    status, help_out, err, secs = run(["--help"])
    if status != 0 or err or not help_out:
        fail("--help: exit %r, stderr %r" % (status, err))
        help_items = []
    else:
        ok("--help exits 0")
        help_items = check_options(help_out, man)
        check_help_flags(help_out)
    check_ignored_ext_keys(help_items, man)
    check_version(man)
    check_invalid()
    check_valid()
    check_modern()
    check_render()
    check_readme()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all documentation checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
