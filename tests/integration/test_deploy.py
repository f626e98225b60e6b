#!/usr/bin/python3
"""The deployment files in contrib/ are well formed and start a node.

- contrib/systemd/meshcached@.service: `systemd-analyze verify` (when
  installed) reports nothing; the command line it builds from
  contrib/systemd/meshcached.env (${VAR} one word, $VAR split on spaces, as
  systemd does) starts $MESHCACHED, which then serves and gossips.
- contrib/k8s/meshcached.yaml (parsed with python3-yaml): a headless
  Service that publishes pods before they are ready, a StatefulSet bound to
  it whose selector, ports and probes agree with the Services, a grace
  period longer than the leave handoff, every pod joining through the
  headless Service's name; its container arguments, with the pod's fields
  filled in, start $MESHCACHED too.

No cluster or systemd instance runs here: what this does not check is
said in README.md ("Deployment").
"""

import os
import re
import shutil
import subprocess
import tempfile

import mchelper
from mchelper import TestSkip, check, check_eq
from test_cluster import require_meshcached

TOP = os.environ.get("MESHCACHED_SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
UNIT = os.path.join(TOP, "contrib", "systemd", "meshcached@.service")
ENV = os.path.join(TOP, "contrib", "systemd", "meshcached.env")
K8S = os.path.join(TOP, "contrib", "k8s", "meshcached.yaml")
HANDOFF_TIMEOUT_S = 30  # the daemon's default -o handoff_timeout_ms


def read_env(path):
    env = {}
    for ln in open(path):
        ln = ln.strip()
        if ln and not ln.startswith("#"):
            k, _, v = ln.partition("=")
            env[k.strip()] = v.strip()
    return env


def unit_exec_start(path):
    text = open(path).read().replace("\\\n", " ")
    m = re.search(r"^ExecStart=(.*)$", text, re.M)
    check(m is not None, "no ExecStart in %s" % path)
    return m.group(1).split()


def expand_systemd(words, env, instance):
    """systemd's rules: ${VAR} is one word, $VAR alone splits into words,
    %i is the instance."""
    out = []
    for w in words:
        w = w.replace("%i", instance)
        m = re.fullmatch(r"\$([A-Z_]+)", w)
        if m:
            out += env.get(m.group(1), "").split()
            continue
        out.append(re.sub(r"\$\{([A-Z_]+)\}", lambda x: env.get(x.group(1), ""), w))
    return out


def without_address_flags(argv):
    """argv without -l/-p and their values (mchelper.Daemon gives its own)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("-l", "-p"):
            skip = True
        else:
            out.append(a)
    return out


def serves_and_gossips(args, what):
    """Starts $MESHCACHED with args on loopback: it must serve a set/get and
    show itself alive in stats cluster."""
    d = mchelper.Daemon(args=args)
    d.start()
    try:
        with mchelper.Conn(d.port) as c:
            c.send(b"set deploy 0 0 2\r\nok\r\nget deploy\r\nstats cluster\r\n")
            check_eq(c.read_until(b"\r\n"), b"STORED\r\n", what + ": set")
            check_eq(c.read_until(b"END\r\n"), b"VALUE deploy 0 2\r\nok\r\nEND\r\n",
                     what + ": get")
            stats = c.read_until(b"END\r\n").decode()
            check("gossip" in stats or "member" in stats,
                  "%s: stats cluster shows no gossip membership:\n%s" % (what, stats))
    finally:
        d.stop()


def test_systemd_unit_verifies_and_its_command_line_starts_a_node():
    require_meshcached()
    words = unit_exec_start(UNIT)
    env = read_env(ENV)
    for var in set(re.findall(r"\$\{?([A-Z_]+)\}?", " ".join(words))):
        check(var in env, "%s uses $%s, which meshcached.env does not set" % (UNIT, var))
    argv = expand_systemd(words, env, "node1")
    check_eq(argv[0], "/usr/local/bin/meshcached", "ExecStart binary")
    gport = mchelper.free_port()
    args = without_address_flags(argv[1:])
    # the example's seeds are other hosts' addresses: join nobody here
    i = args.index("--join")
    args[i + 1] = "127.0.0.1:%d" % gport
    args[args.index("--cluster-port") + 1] = str(gport)
    serves_and_gossips(args, "systemd unit's command line")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("systemd-analyze not installed: the unit's syntax was not verified")
        return
    with tempfile.TemporaryDirectory() as tmp:
        unit = open(UNIT).read().replace("/usr/local/bin/meshcached", mchelper.daemon_binary())
        unit = unit.replace("/etc/meshcached/%i.env", os.path.join(tmp, "%i.env"))
        with open(os.path.join(tmp, "meshcached@.service"), "w") as f:
            f.write(unit)
        shutil.copy(ENV, os.path.join(tmp, "node1.env"))
        proc = subprocess.run([analyze, "verify", "--man=no",
                               os.path.join(tmp, "meshcached@node1.service")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60, cwd=tmp)
        out = proc.stdout.decode(errors="replace").strip()
        check(proc.returncode == 0 and out == "",
              "systemd-analyze verify: status %d:\n%s" % (proc.returncode, out))
        print("systemd-analyze verify: clean")


def test_k8s_manifest_is_consistent_and_its_args_start_a_node():
    require_meshcached()
    try:
        import yaml
    except ImportError:
        raise TestSkip("python3-yaml is not installed")
    docs = [d for d in yaml.safe_load_all(open(K8S)) if d]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    sets = [d for d in docs if d["kind"] == "StatefulSet"]
    check_eq(len(sets), 1, "StatefulSets in %s (%s)" % (K8S, kinds))
    sts = sets[0]
    headless = services.get(sts["spec"]["serviceName"])
    check(headless is not None, "serviceName %r names no Service" % sts["spec"]["serviceName"])
    check_eq(headless["spec"].get("clusterIP"), "None", "headless Service clusterIP")
    check_eq(headless["spec"].get("publishNotReadyAddresses"), True,
             "headless Service publishes starting pods")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for name, svc in services.items():
        for k, v in svc["spec"]["selector"].items():
            check_eq(labels.get(k), v, "Service %s selects the pods (%s)" % (name, k))
    for k, v in sts["spec"]["selector"]["matchLabels"].items():
        check_eq(labels.get(k), v, "StatefulSet selector label %s" % k)
    pod = sts["spec"]["template"]["spec"]
    check(pod.get("terminationGracePeriodSeconds", 30) > HANDOFF_TIMEOUT_S,
          "the grace period must outlast the leave handoff (%d s)" % HANDOFF_TIMEOUT_S)
    (ctr,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    for name, svc in services.items():
        for p in svc["spec"]["ports"]:
            check(p["targetPort"] in ports.values() or p["targetPort"] in ports,
                  "Service %s port %s targets no container port" % (name, p["name"]))
    for probe in ("readinessProbe", "livenessProbe"):
        port = ctr[probe]["tcpSocket"]["port"]
        check(port in ports, "%s names port %r" % (probe, port))
    fields = {"POD_IP": "127.0.0.1", "POD_NAME": "meshcached-0", "POD_NAMESPACE": "cache"}
    env_names = {e["name"] for e in ctr["env"]}
    argv = []
    for a in ctr["args"]:
        for var in re.findall(r"\$\(([A-Z_]+)\)", a):
            check(var in env_names, "args use $(%s), which env does not set" % var)
        argv.append(re.sub(r"\$\(([A-Z_]+)\)", lambda m: fields[m.group(1)], a))
    i = argv.index("--join")
    check_eq(argv[i + 1], "%s.cache.svc.cluster.local:%d" % (headless["metadata"]["name"],
                                                             ports["cluster"]),
             "every pod joins through the headless Service's name")
    check_eq(argv[argv.index("--cluster-port") + 1], str(ports["cluster"]), "cluster port")
    check_eq(argv[argv.index("-p") + 1], str(ports["memcache"]), "client port")
    args = without_address_flags(argv)
    gport = mchelper.free_port()
    args[args.index("--join") + 1] = "127.0.0.1:%d" % gport
    args[args.index("--cluster-port") + 1] = str(gport)
    serves_and_gossips(args, "StatefulSet's container args")


if __name__ == "__main__":
    mchelper.run_tests([test_systemd_unit_verifies_and_its_command_line_starts_a_node,
                        test_k8s_manifest_is_consistent_and_its_args_start_a_node])
