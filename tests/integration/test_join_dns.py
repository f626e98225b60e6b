#!/usr/bin/python3
"""--join through a host name with several addresses, as a Kubernetes
headless Service or a DNS round robin gives.

Three $MESHCACHED nodes in one network namespace (mcj-<pid>), at
127.0.0.11-13 with the same client and cluster ports, as pods of a
StatefulSet have. `ip netns exec` gives the namespace's processes
/etc/netns/<ns>/hosts as their /etc/hosts, where the test writes the name
members.meshcached.test; the file is rewritten in place, so the daemons see
each change at their next lookup.

1. Only 127.0.0.11 is listed; node 0 starts with --join name:port and is
   alone (the name resolves to itself alone).
2. All three are listed; nodes 1 and 2 start joining each other by address,
   not through the name and not node 0: they form a cluster of two.
3. Node 0, still alone, looks the name up again, joins through the other
   two addresses, and every node sees all three alive.

Then a restart: node 1 is stopped and started again with --join name:port;
it joins through the name (which lists itself too) at once.

Needs root and `ip netns`; skipped (77) otherwise. The namespace and its
hosts file are removed in a finally block. Every wait is bounded.
"""

import os
import shutil
import subprocess
import time

import mchelper
from mchelper import TestFailure, TestSkip, check
from test_cluster import require_meshcached
from test_gossip import GossipCluster
from test_gossip_netns import InNetns, ip_binary

NAME = "members.meshcached.test"
ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
PORT, GPORT = 11211, 12211
# the alone node looks up again every 2 s, then needs a push/pull or two
JOIN_TIMEOUT = 15.0


class Netns:
    def __init__(self):
        self.ip_bin = ip_binary()
        self.name = "mcj-%d" % os.getpid()
        self.etc = "/etc/netns/%s" % self.name
        self.made = False

    def run(self, *args):
        proc = subprocess.run([self.ip_bin] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        check(proc.returncode == 0, "ip %s: %s" % (" ".join(args), proc.stdout))

    def setup(self):
        os.makedirs(self.etc, exist_ok=True)
        self.hosts([])
        try:
            self.run("netns", "add", self.name)
        except TestFailure as e:
            raise TestSkip("cannot create a network namespace here: %s" % e)
        self.made = True
        self.run("-n", self.name, "link", "set", "lo", "up")

    def hosts(self, addrs):
        """Rewrites the namespace's hosts file in place (same inode: the bind
        mount of a running daemon keeps seeing it)."""
        text = "127.0.0.1 localhost\n" + "".join("%s %s\n" % (a, NAME) for a in addrs)
        with open(os.path.join(self.etc, "hosts"), "r+" if os.path.exists(
                os.path.join(self.etc, "hosts")) else "w") as f:
            f.seek(0)
            f.write(text)
            f.truncate()

    def cleanup(self):
        if self.made:
            self.run("netns", "del", self.name)
            self.made = False
        shutil.rmtree(self.etc, ignore_errors=True)


class DnsCluster(GossipCluster):
    def __init__(self, net, joins):
        self.net = net
        super().__init__(3, hosts=ADDRS, ports=[PORT] * 3, gports=[GPORT] * 3,
                         prefixes=[[net.ip_bin, "netns", "exec", net.name]] * 3)
        for i, j in enumerate(joins):
            a = self.args[i]
            a[a.index("--join") + 1] = j

    def conn(self, i, timeout=mchelper.IO_TIMEOUT):
        with InNetns(self.net.name):
            return mchelper.Conn(self.ports[i], timeout, self.hosts[i])


def test_join_through_a_name_with_several_addresses():
    require_meshcached()
    if os.geteuid() != 0:
        raise TestSkip("network namespaces need root")
    if ip_binary() is None:
        raise TestSkip("no ip(8) binary (iproute2)")
    net = Netns()
    cl = None
    try:
        net.setup()
        by_name = "%s:%d" % (NAME, GPORT)
        cl = DnsCluster(net, [by_name, "%s:%d" % (ADDRS[2], GPORT),
                              "%s:%d" % (ADDRS[1], GPORT)])
        net.hosts(ADDRS[:1])
        cl.start([0])
        cl.wait_formed("node 0 alone")
        net.hosts(ADDRS)
        cl.start([1, 2])
        t0 = time.monotonic()
        cl.wait_formed("all three, node 0 through the name looked up again",
                       timeout=JOIN_TIMEOUT)
        print("node 0 joined through %s %.1f s after the other two started"
              % (NAME, time.monotonic() - t0))
        # a restarted member that joins through the name, which lists it too
        cl.nodes[1].terminate()
        cl.nodes[1].proc.wait(timeout=mchelper.STOP_TIMEOUT)
        a = cl.args[1]
        a[a.index("--join") + 1] = by_name
        cl.nodes = cl.nodes[:1] + [cl._daemon(1, 3)] + cl.nodes[2:]
        cl.start([1])
        cl.wait_formed("node 1 back through the name", timeout=JOIN_TIMEOUT)
        cl.stop()
        cl = None
    finally:
        if cl is not None:
            cl.stop(clean=False)
        net.cleanup()


if __name__ == "__main__":
    mchelper.run_tests([test_join_through_a_name_with_several_addresses])
