#!/usr/bin/python3
"""The daemon's layers call down, and no two modules call each other.

Reads the symbols of every object linked into src/meshcached (with nm) and
builds the link-level graph: object X depends on object Y when X uses a
symbol that Y defines. Each object belongs to a folder of src/ (its layer)
and to a module (folder + file stem up to the first '_', so cmd/cmd_text
and cmd/cmd_stats are the module cmd/cmd). It fails when

  a. an object uses an object of a later layer in LAYERS (an upward call),
  b. two or more modules depend on each other (a strongly connected
     component of the module graph; a loop inside one module is allowed),
  c. an object lies in a folder that LAYERS does not place,
  d. there are no objects at all (a check of nothing must not pass),
  e. a .c or .h file of src/ or tests/unit/ is longer than MAX_LINES (one
     concept per file: a file that long holds two).

Only what the linker sees counts: a struct layout shared through a header,
or a static inline function, makes no edge.

Usage: layers.py [BUILDDIR] [--graph | --self-test]. BUILDDIR defaults to
$MESHCACHED_BUILDDIR, then the current directory. Without an option it runs
the self-test and then the check, so that a checker broken into accepting
everything cannot pass. Under `make check`, $MESHCACHED_OBJECTS lists the
objects the Makefile links; by hand, src/**/*.o are read, less those whose
.c is gone from the source tree (stale after a move).
Exit status 0 when clean, 1 with a report otherwise.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap

# The layer order, lowest first: a folder may use only the folders before
# it. "main" is the top of src/ itself (main.c). A new folder of src/ must be
# placed here before the check passes.
LAYERS = ["base", "store", "proto", "cmd", "cluster", "net", "admin", "main"]

# The longest a source file of these folders may be (STYLE.md, habit 1).
MAX_LINES = 1000
LONG_DIRS = ["src", os.path.join("tests", "unit")]

# nm's letters for a global symbol an object defines, and for one it uses.
DEFINES = set("TDBRCGSVWiu")
USES = set("Uwv")

# Each kind of problem: its heading in the report, and how to fix it.
KINDS = [
    ("empty", "nothing to check", "build the daemon first, or give the build directory"),
    ("unplaced", "object(s) in no layer folder",
     "add the folder to LAYERS in tests/layers.py, at its place in the order"),
    ("upward", "upward call(s), object -> object it uses: symbols",
     "a lower layer must not name a function of a higher one: it declares a struct "
     "of callbacks and the higher one fills it in (STYLE.md, habit 11)"),
    ("loop", "loop(s) between modules, with the edges inside each",
     "cut one edge of each loop the same way: the module meant to sit lower "
     "declares the callbacks; a loop inside one module (cmd/cmd_*) is allowed"),
    ("long", "source file(s) over %d lines" % MAX_LINES,
     "split the file along the concepts it holds, one prefix per file"),
]


def place(obj):
    """Return (folder, module) of an object path relative to the build dir,
    e.g. src/cmd/cmd_text.o -> ("cmd", "cmd/cmd"). Automake prefixes the
    object's name with its target when a target has its own flags
    (src/base/libmeshcached_a-buf.o); the prefix is dropped. Objects at the
    top of src/ belong to "main"."""
    parts = obj.split("/")
    if parts and parts[0] == "src":
        parts = parts[1:]
    stem = os.path.splitext(parts[-1])[0]
    stem = stem.rsplit("-", 1)[-1]
    folder = "/".join(parts[:-1]) or "main"
    return folder, folder + "/" + stem.split("_", 1)[0]


def object_edges(symtab):
    """Return {(user, definer): sorted symbols} over distinct objects, from
    symtab = {object: (defined symbols, used symbols)}."""
    definers = {}
    for obj, (defined, _) in symtab.items():
        for sym in defined:
            definers.setdefault(sym, []).append(obj)
    edges = {}
    for obj, (_, used) in symtab.items():
        for sym in used:
            for other in definers.get(sym, ()):
                if other != obj:
                    edges.setdefault((obj, other), []).append(sym)
    return {pair: sorted(syms) for pair, syms in edges.items()}


def module_graph(symtab, edges):
    """Return {module: set of modules it depends on}, every module a key."""
    graph = {place(obj)[1]: set() for obj in symtab}
    for user, definer in edges:
        a, b = place(user)[1], place(definer)[1]
        if a != b:
            graph[a].add(b)
    return graph


def components(graph):
    """Return the strongly connected components of graph (Tarjan's
    algorithm, iterative), each as a sorted list, in sorted order."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, succ = work[-1]
            nxt = next(succ, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                found.append(sorted(comp))
    return sorted(found)


def rank(folder):
    return LAYERS.index(folder) if folder in LAYERS else None


def check(symtab):
    """Return the problems of symtab as a list of (kind, lines); an empty
    list means the layering holds."""
    if not symtab:
        return [("empty", ["no objects found"])]
    problems = []
    for obj in sorted(symtab):
        folder = place(obj)[0]
        if rank(folder) is None:
            problems.append(("unplaced", ["%s: folder %s is not in the layer order"
                                          % (obj, folder)]))
    edges = object_edges(symtab)
    for (user, definer), syms in sorted(edges.items()):
        uf, df = place(user)[0], place(definer)[0]
        if rank(uf) is not None and rank(df) is not None and rank(df) > rank(uf):
            problems.append(("upward", ["%s (%s) -> %s (%s): %s"
                                        % (user, uf, definer, df, ", ".join(syms))]))
    for comp in components(module_graph(symtab, edges)):
        if len(comp) < 2:
            continue
        members = set(comp)
        lines = ["loop between " + ", ".join(comp)]
        for (user, definer), syms in sorted(edges.items()):
            a, b = place(user)[1], place(definer)[1]
            if a != b and a in members and b in members:
                lines.append("  %s -> %s: %s" % (user, definer, ", ".join(syms)))
        problems.append(("loop", lines))
    return problems


def long_files(srcdir, dirs=None):
    """Return a "long" problem for every .c/.h file under the LONG_DIRS of
    srcdir that has more than MAX_LINES lines."""
    problems = []
    walks = [os.walk(os.path.join(srcdir, d)) for d in (dirs or LONG_DIRS)]
    for root, _, files in (entry for walk in walks for entry in walk):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                n = sum(1 for _ in f)
            if n > MAX_LINES:
                problems.append(("long", ["%s: %d lines" % (os.path.relpath(path, srcdir), n)]))
    return problems


def report(problems, out):
    """Print problems grouped by kind, each group with its advice."""
    for kind, heading, advice in KINDS:
        group = [lines for k, lines in problems if k == kind]
        if not group:
            continue
        print("FAIL: %d %s" % (len(group), heading), file=out)
        print(textwrap.fill(advice, 100, initial_indent="  fix: ",
                            subsequent_indent="       "), file=out)
        for lines in group:
            for line in lines:
                indent = "    " + " " * (len(line) - len(line.lstrip()))
                print(textwrap.fill(line, 100, initial_indent="  ",
                                    subsequent_indent=indent + "  ",
                                    break_on_hyphens=False), file=out)


def print_graph(symtab, out):
    """Print the module graph, grouped by folder in layer order, one line
    per module with the modules it depends on; "(up)" marks an upward
    dependency and "[loop N]" the modules of one loop."""
    edges = object_edges(symtab)
    graph = module_graph(symtab, edges)
    loops = [c for c in components(graph) if len(c) > 1]
    loop_of = {m: i + 1 for i, c in enumerate(loops) for m in c}
    folders = sorted({m.split("/")[0] for m in graph},
                     key=lambda f: (rank(f) is None, rank(f) or 0, f))
    for folder in folders:
        here = rank(folder)
        print(folder if here is not None else folder + " (not in LAYERS)", file=out)
        for module in sorted(m for m in graph if m.split("/")[0] == folder):
            deps = []
            for dep in sorted(graph[module], key=lambda m: (rank(m.split("/")[0]) or 0, m)):
                there = rank(dep.split("/")[0])
                up = here is not None and there is not None and there > here
                deps.append(dep + (" (up)" if up else ""))
            tag = " [loop %d]" % loop_of[module] if module in loop_of else ""
            print("  %s%s -> %s" % (module, tag, ", ".join(deps) or "-"), file=out)


def find_objects(builddir, srcdir, out):
    """Return the daemon's objects relative to builddir: those named by
    $MESHCACHED_OBJECTS, else every src/**/*.o whose .c still exists."""
    listed = os.environ.get("MESHCACHED_OBJECTS", "").split()
    if listed:
        return sorted(listed)
    found = []
    for dirpath, _, files in os.walk(os.path.join(builddir, "src")):
        for name in files:
            if not name.endswith(".o"):
                continue
            obj = os.path.relpath(os.path.join(dirpath, name), builddir)
            stem = os.path.splitext(name)[0].rsplit("-", 1)[-1]
            source = os.path.join(srcdir, os.path.dirname(obj), stem + ".c")
            if os.path.exists(source):
                found.append(obj)
            else:
                print("skipped %s: no %s (stale?)" % (obj, source), file=out)
    return sorted(found)


def read_symbols(builddir, objects):
    """Return {object: (defined, used)} from nm, or raise OSError."""
    nm = os.environ.get("NM", "nm")
    symtab = {}
    for obj in objects:
        path = os.path.join(builddir, obj)
        if not os.path.exists(path):
            raise OSError("%s: not built" % path)
        res = subprocess.run([nm, "-P", "--no-sort", path], capture_output=True,
                             text=True, check=False)
        if res.returncode != 0:
            raise OSError("%s -P %s: %s" % (nm, path, res.stderr.strip()))
        symtab[obj] = parse_nm(res.stdout)
    return symtab


def parse_nm(text):
    """Return (defined, used) global symbols from `nm -P` output."""
    defined, used = set(), set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        if fields[1] in DEFINES:
            defined.add(fields[0])
        elif fields[1] in USES:
            used.add(fields[0])
    return defined, used


# ---- self-test: the checker on synthetic graphs ----

def synthetic(*objects):
    """Build a symtab from (object, "defined symbols", "used symbols")."""
    return {obj: (set(d.split()), set(u.split())) for obj, d, u in objects}


CLEAN = [
    ("src/base/buf.o", "buf_init", ""),
    ("src/store/store.o", "store_get", "buf_init"),
    ("src/cmd/cmd_text.o", "cmd_text", "store_get buf_init"),
    ("src/net/conn.o", "conn_read", "cmd_text"),
    ("src/main.o", "main", "conn_read"),
]

# (name, symtab, expected problem kinds, a string the report must contain)
CASES = [
    ("a clean graph passes", synthetic(*CLEAN), [], None),
    ("no objects fails", {}, ["empty"], None),
    ("an upward call fails",
     synthetic(*CLEAN, ("src/base/util.o", "util_x", "store_get")),
     ["upward"], "src/base/util.o (base) -> src/store/store.o (store): store_get"),
    ("a loop between two modules of one folder fails",
     synthetic(*CLEAN, ("src/cluster/gossip.o", "gossip_send", "peer_find"),
               ("src/cluster/peer.o", "peer_find", "gossip_send")),
     ["loop"], "src/cluster/peer.o -> src/cluster/gossip.o: gossip_send"),
    ("a loop of three modules is one problem",
     synthetic(*CLEAN, ("src/cluster/a.o", "a_f", "b_f"), ("src/cluster/b.o", "b_f", "c_f"),
               ("src/cluster/c.o", "c_f", "a_f")),
     ["loop"], "loop between cluster/a, cluster/b, cluster/c"),
    ("a loop inside one module passes",
     synthetic(*CLEAN, ("src/cmd/cmd_stats.o", "cmd_stats", "cmd_text cmd_reply"),
               ("src/cmd/cmd_reply.o", "cmd_reply", "cmd_stats")),
     [], None),
    ("an upward call across a loop fails twice",
     synthetic(*CLEAN, ("src/cmd/cmd_stats.o", "cmd_stats", "worker_count"),
               ("src/net/worker.o", "worker_count", "cmd_stats")),
     ["upward", "loop"], "src/cmd/cmd_stats.o (cmd) -> src/net/worker.o (net): worker_count"),
    ("proto/peer_reply is not cluster/peer",
     synthetic(*CLEAN, ("src/proto/peer_reply.o", "peer_reply_parse", ""),
               ("src/cluster/peer.o", "peer_find", "peer_reply_parse")),
     [], None),
    ("an object in an unknown folder fails",
     synthetic(*CLEAN, ("src/extra/thing.o", "thing", "buf_init")),
     ["unplaced"], "src/extra/thing.o: folder extra"),
    ("automake's target prefix is dropped",
     synthetic(*CLEAN, ("src/cmd/libmeshcached_a-cmd_meta.o", "cmd_meta", "cmd_text"),
               ("src/cmd/libmeshcached_a-cmd_x.o", "cmd_x", "cmd_meta")),
     [], None),
]

# nm -P output: locals (lowercase) are neither defined nor used across
# objects; weak, common and read-only definitions are definitions.
NM_SAMPLE = """\
.LC0 r 0 0
local_fn t 10 20
text_fn T 30 40
weak_fn W 70 8
common_var C 8 8
const_tab R 0 10
bss_var B 0 4
data_var D 0 4
used_fn U
weak_ref w
"""
NM_WANT = ({"text_fn", "weak_fn", "common_var", "const_tab", "bss_var", "data_var"},
           {"used_fn", "weak_ref"})


def self_test(out):
    """Run CASES; return the number that failed."""
    failed = 0
    for name, symtab, kinds, needle in CASES:
        problems = check(symtab)
        got = sorted(kind for kind, _ in problems)
        text = "\n".join(line for _, lines in problems for line in lines)
        ok = got == sorted(kinds) and (needle is None or needle in text)
        if not ok:
            failed += 1
            print("self-test FAIL: %s: got %s, want %s%s\n%s"
                  % (name, got, sorted(kinds),
                     " mentioning %r" % needle if needle else "", text), file=out)
    places = {"src/proto/peer_reply.o": ("proto", "proto/peer"),
              "src/cmd/libmeshcached_a-cmd_stats.o": ("cmd", "cmd/cmd"),
              "src/main.o": ("main", "main/main")}
    for obj, want in sorted(places.items()):
        if place(obj) != want:
            failed += 1
            print("self-test FAIL: %s placed as %s, want %s" % (obj, place(obj), want),
                  file=out)
    if parse_nm(NM_SAMPLE) != NM_WANT:
        failed += 1
        print("self-test FAIL: nm parsed as %s, want %s" % (parse_nm(NM_SAMPLE), NM_WANT),
              file=out)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "src", "x"))
        for name, n in (("long.c", MAX_LINES + 1), ("ok.h", MAX_LINES)):
            with open(os.path.join(tmp, "src", "x", name), "w") as f:
                f.write("x\n" * n)
        got = long_files(tmp)
        if [lines[0].split(":")[0] for _, lines in got] != ["src/x/long.c"]:
            failed += 1
            print("self-test FAIL: long files found: %s, want src/x/long.c" % got, file=out)
    total = len(CASES) + len(places) + 2
    print("self-test: %d of %d cases passed" % (total - failed, total), file=out)
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("builddir", nargs="?",
                        default=os.environ.get("MESHCACHED_BUILDDIR") or os.getcwd())
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--graph", action="store_true", help="print the module graph")
    mode.add_argument("--self-test", action="store_true",
                      help="only check the checker on synthetic graphs")
    args = parser.parse_args()
    out = sys.stdout

    if args.self_test:
        return 1 if self_test(out) else 0
    if not args.graph and self_test(out):
        return 1

    srcdir = os.environ.get("MESHCACHED_SRCDIR") or os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    try:
        symtab = read_symbols(args.builddir, find_objects(args.builddir, srcdir, out))
    except OSError as err:
        print("FAIL: %s" % err, file=out)
        return 1
    if args.graph:
        if not symtab:
            report(check(symtab), out)
            return 1
        print_graph(symtab, out)
        return 0

    problems = check(symtab) + long_files(srcdir)
    modules = len(module_graph(symtab, object_edges(symtab)))
    print("layers: %d objects, %d modules in %s; order: %s"
          % (len(symtab), modules, os.path.abspath(args.builddir), " < ".join(LAYERS)),
          file=out)
    if not problems:
        print("OK: every call goes down the layers, no modules call each other, and no "
              "file of %s is over %d lines" % (" or ".join(LONG_DIRS), MAX_LINES), file=out)
        return 0
    report(problems, out)
    return 1


if __name__ == "__main__":
    sys.exit(main())
