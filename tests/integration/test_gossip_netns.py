#!/usr/bin/python3
"""A network partition between gossip nodes, made with network namespaces.

Five $MESHCACHED nodes, each in its own namespace (mcg-<pid>-<i>) with one
veth link to a "switch" namespace (mcg-<pid>-sw) holding two bridges; the
nodes have the addresses 10.233.<x>.1-5/24 and all start on bridge br0.
They form one cluster by gossip (all --join the first). Moving the switch
ends of two nodes' links to the other bridge, br1, splits the network 3|2
(the two can still reach each other, not the three): each side must mark
the other side dead and keep its own side alive. Moving them back heals it:
every member alive in every view again within HEAL_TIMEOUT.

The test talks to each node from inside its namespace (setns(2) around the
socket's creation; the socket stays there), so it can watch both sides of
the partition. It needs root and `ip netns`; it is skipped (77) otherwise.
Namespaces, links and processes are removed in a finally block, always.

Every wait is bounded; nothing signals a process this test did not start.
"""

import ctypes
import os
import shutil
import subprocess
import time

import mchelper
from mchelper import TestFailure, TestSkip, check
from test_cluster import require_meshcached
from test_gossip import GossipCluster, check_reads, stored_keys

N = 5
SIDE_A = (0, 1, 2)  # stays on br0, with the seed
SIDE_B = (3, 4)  # moved to br1
PORT, GPORT = 11211, 12211  # each node has a namespace of its own
FORM_TIMEOUT = 5.0
# split -> each side shows the other dead. The minority side is the slow
# one: its indirect probes go to the unreachable side, unanswered, which
# Lifeguard's local health takes for its own slowness and stretches its
# protocol period (measured 5-15 s at the defaults).
SPLIT_TIMEOUT = 30.0
HEAL_TIMEOUT = 15.0  # heal -> every member alive everywhere
HEAL_OBSERVE = 60.0  # when the heal is late: how long to go on watching, for the report
IP_TIMEOUT = 10.0
CLONE_NEWNET = 0x40000000


def ip_binary():
    for path in (shutil.which("ip"), "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"):
        if path and os.access(path, os.X_OK):
            return path
    return None


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: %s" % os.strerror(err))


class InNetns:
    """Runs the calling thread in network namespace name for the duration
    of a with block (sockets made inside stay in that namespace)."""

    def __init__(self, name):
        self.name = name
        self.home = None

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/%s" % self.name, os.O_RDONLY)
        try:
            _setns(fd)
        except Exception:
            os.close(self.home)
            raise
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            _setns(self.home)
        finally:
            os.close(self.home)
        return False


class Net:
    """The namespaces, bridges and veth links of one run."""

    def __init__(self, n):
        self.ip_bin = ip_binary()
        pid = os.getpid()
        tag = "mcg-%d" % pid
        short = pid % 1000000  # interface names: at most 15 characters
        self.sw = tag + "-sw"
        self.ns = ["%s-%d" % (tag, i + 1) for i in range(n)]
        self.node_if = ["mg%dn%d" % (short, i + 1) for i in range(n)]
        self.sw_if = ["mg%ds%d" % (short, i + 1) for i in range(n)]
        net = 1 + pid % 250
        self.addrs = ["10.233.%d.%d" % (net, i + 1) for i in range(n)]
        self.created = []

    def ip(self, *args):
        """Runs ip with args; fails with its output unless it succeeds."""
        proc = subprocess.run([self.ip_bin] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=IP_TIMEOUT)
        if proc.returncode != 0:
            raise TestFailure("ip %s: status %d: %s" % (" ".join(args), proc.returncode,
                                                         proc.stdout.decode(errors="replace")))
        return proc.stdout.decode(errors="replace")

    def add_ns(self, name):
        self.ip("netns", "add", name)
        self.created.append(name)

    def setup(self):
        if self.ip_bin is None:
            raise TestSkip("no ip(8) binary (iproute2)")
        try:
            self.add_ns(self.sw)
        except TestFailure as e:
            raise TestSkip("cannot create a network namespace here: %s" % e)
        self.ip("-n", self.sw, "link", "set", "lo", "up")
        for br in ("br0", "br1"):
            self.ip("-n", self.sw, "link", "add", br, "type", "bridge")
            self.ip("-n", self.sw, "link", "set", br, "up")
        for i, ns in enumerate(self.ns):
            self.add_ns(ns)
            self.ip("-n", ns, "link", "set", "lo", "up")
            # Both ends made right in their namespaces: nothing in ours.
            self.ip("link", "add", self.node_if[i], "netns", ns, "type", "veth",
                    "peer", "name", self.sw_if[i], "netns", self.sw)
            self.ip("-n", self.sw, "link", "set", self.sw_if[i], "master", "br0")
            self.ip("-n", self.sw, "link", "set", self.sw_if[i], "up")
            self.ip("-n", ns, "addr", "add", self.addrs[i] + "/24", "dev", self.node_if[i])
            self.ip("-n", ns, "link", "set", self.node_if[i], "up")

    def attach(self, i, bridge):
        """Moves node i's link to bridge (br0: the main network; br1: the
        other side of the partition)."""
        self.ip("-n", self.sw, "link", "set", self.sw_if[i], "master", bridge)

    def cleanup(self):
        """Deletes every namespace made (their links go with them)."""
        errors = []
        for name in reversed(self.created):
            try:
                self.ip("netns", "del", name)
            except Exception as e:  # keep deleting the others
                errors.append(str(e))
        self.created = []
        if errors:
            print("cleanup: %s" % "; ".join(errors))


class NetnsCluster(GossipCluster):
    """A GossipCluster whose node i runs in namespace net.ns[i], at
    net.addrs[i]; the test reaches it from inside that namespace."""

    def __init__(self, net):
        self.net = net
        super().__init__(N, hosts=net.addrs, ports=[PORT] * N, gports=[GPORT] * N,
                         prefixes=[[net.ip_bin, "netns", "exec", ns] for ns in net.ns])

    def conn(self, i, timeout=mchelper.IO_TIMEOUT):
        with InNetns(self.net.ns[i]):
            return mchelper.Conn(self.ports[i], timeout, self.hosts[i])


def test_partition_and_heal():
    require_meshcached()
    if os.geteuid() != 0:
        raise TestSkip("network namespaces need root")
    if ip_binary() is None:
        raise TestSkip("no ip(8) binary (iproute2)")
    net = Net(N)
    cl = None
    clean = False
    try:
        net.setup()
        cl = NetnsCluster(net)
        cl.start()
        cl.wait_formed(timeout=FORM_TIMEOUT)
        print("%d nodes in %d namespaces: one view everywhere %.2f s after the last start"
              % (N, N, time.monotonic() - cl.started))
        keys = stored_keys(cl, b"netns:", 5)
        allkeys = [k for nid in cl.ids for k in keys[nid]]
        with cl.conn(0) as c:
            c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(k), k) for k in allkeys))
            for k in allkeys:
                check(c.read_until(b"\r\n") == b"STORED\r\n", "set %r through g01" % k)
        check_reads(cl, range(N), allkeys, lambda k: k, "keys across namespaces")

        a_ids = [cl.ids[i] for i in SIDE_A]
        b_ids = [cl.ids[i] for i in SIDE_B]
        want_a = dict({nid: "alive" for nid in a_ids}, **{nid: "dead" for nid in b_ids})
        want_b = dict({nid: "dead" for nid in a_ids}, **{nid: "alive" for nid in b_ids})
        split_done = {}

        def record_split(vs, t):
            for i, v in vs.items():
                if i not in split_done and cl.matches(v, want_a if i in SIDE_A else want_b):
                    split_done[i] = t

        split_at = time.monotonic()
        for i in SIDE_B:
            net.attach(i, "br1")
        cl.poll(range(N), lambda vs: all(cl.matches(v, want_a if i in SIDE_A else want_b)
                                         for i, v in vs.items()),
                split_at + SPLIT_TIMEOUT,
                "split %s | %s: each side shows the other dead within %.0f s"
                % (",".join(a_ids), ",".join(b_ids), SPLIT_TIMEOUT), each=record_split)
        print("split %s | %s: each side shows the other dead after %.2f s (per node: %s)" % (
            ",".join(a_ids), ",".join(b_ids), time.monotonic() - split_at,
            " ".join("%s %.1f" % (cl.ids[i], t - split_at) for i, t in sorted(split_done.items()))))

        heal_at = time.monotonic()
        for i in SIDE_B:
            net.attach(i, "br0")
        what = "healed: every member alive everywhere within %.0f s" % HEAL_TIMEOUT
        heal_done = {}

        def record_heal(vs, t):
            for i, v in vs.items():
                if cl.matches(v, cl.all_alive()):
                    heal_done.setdefault(i, t)
                else:
                    heal_done.pop(i, None)

        try:
            cl.wait_states(range(N), cl.all_alive(), heal_at + HEAL_TIMEOUT, what,
                           each=record_heal)
        except TestFailure as e:
            # Go on watching, to say how late it is (or that it never heals).
            try:
                cl.wait_states(range(N), cl.all_alive(), heal_at + HEAL_OBSERVE, what)
                late = "converged only %.1f s after the heal" % (time.monotonic() - heal_at)
            except TestFailure:
                late = "still not converged %.0f s after the heal" % HEAL_OBSERVE
            raise TestFailure("%s\n(%s)" % (e, late))
        print("healed: every member alive everywhere after %.2f s (per node: %s)" % (
            time.monotonic() - heal_at,
            " ".join("%s %.1f" % (cl.ids[i], t - heal_at) for i, t in sorted(heal_done.items()))))
        # Routing across the healed network: the keys are where they were
        # (values are not moved: whatever each owner kept).
        with cl.conn(N - 1) as c:
            c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(k) + 1, k + b"!")
                            for k in allkeys))
            for k in allkeys:
                check(c.read_until(b"\r\n") == b"STORED\r\n", "set %r through %s" % (k, cl.ids[-1]))
        check_reads(cl, range(N), allkeys, lambda k: k + b"!", "keys after the heal")
        clean = True
    finally:
        try:
            if cl is not None:
                try:
                    cl.stop(clean=clean)
                finally:
                    for d in cl.nodes:
                        if d.alive():
                            d.kill()
        finally:
            net.cleanup()


if __name__ == "__main__":
    mchelper.run_tests([test_partition_and_heal])
