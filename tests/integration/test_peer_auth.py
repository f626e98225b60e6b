#!/usr/bin/python3
"""Peer authentication: with --cluster-key, a connection on the client
port becomes a peer's only after proving the key.

- three keyed gossip nodes (--replicas 2) forward and replicate as
  before: their own peer connections pass the handshake;
- a client that says `peer` without the proof stays a client: `peer x 1`
  answers CLIENT_ERROR peer authentication required, and rs/rg answer
  ERROR; a wrong proof answers CLIENT_ERROR peer authentication failed and
  the connection closes;
- the handshake computed here from the key file (the daemon's derivation:
  BLAKE2b, HMAC-SHA512-256) makes a connection a peer's (rg works), the
  server's own proof checks out, and replaying that proof on a new
  connection (a new server nonce) fails;
- failures are counted in auth_errors.
"""

import hashlib
import hmac
import os
import shutil
import tempfile

import mchelper
from mchelper import check, check_eq
from test_gossip import GossipCluster

LABEL = b"meshcached peer auth 1"
KEY_LABEL = b"meshcached peer key 1"


def peer_key(secret):
    cluster = hashlib.blake2b(secret, digest_size=32).digest()
    return hashlib.blake2b(KEY_LABEL, digest_size=32, key=cluster).digest()


def proof(key, role, cid, sid, cn, sn):
    msg = LABEL + role + bytes([len(cid)]) + cid + bytes([len(sid)]) + sid + cn + sn
    return hmac.new(key, msg, hashlib.sha512).digest()[:32]


class Keyed:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="peer-auth-")
        self.secret = os.urandom(40)
        self.path = os.path.join(self.tmp, "cluster.key")
        with open(self.path, "wb") as f:
            f.write(self.secret)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)


def auth_errors(cl, i):
    with cl.conn(i) as c:
        return int(c.stats()["auth_errors"])


def handshake(c, key, cid, sid, cn):
    """Sends the keyed hello; returns (sn, the server's proof is right)."""
    reply = c.line(b"peer %s 16 %s\r\n" % (cid, cn.hex().encode()))
    parts = reply.split()
    check(len(parts) == 5 and parts[0] == b"PEER" and parts[1] == sid,
          "keyed hello answered %r" % reply)
    sn = bytes.fromhex(parts[3].decode())
    return sn, bytes.fromhex(parts[4].decode()) == proof(key, b"S", cid, sid, cn, sn)


def test_keyed_nodes_forward_and_replicate():
    with Keyed() as k, GossipCluster(n=3, keys=[k.path] * 3,
                                     extra=["--replicas", "2"]) as cl:
        cl.wait_formed()
        keys = [b"pa:%d" % n for n in range(300)]
        for n, key in enumerate(keys):
            with cl.conn(n % 3) as c:
                check_eq(c.line(b"set %s 0 0 2\r\nok\r\n" % key), b"STORED\r\n",
                         "set %r through %s" % (key, cl.ids[n % 3]))
        for i in range(3):
            with cl.conn(i) as c:
                c.send(b"get " + b" ".join(keys) + b"\r\n")
                data = c.read_until(b"END\r\n", 10.0)
                check_eq(data.count(b"VALUE "), len(keys), "keys read through %s" % cl.ids[i])
        print("keyed cluster: %d keys written and read through 3 nodes; auth_errors %s"
              % (len(keys), [auth_errors(cl, i) for i in range(3)]))
        check_eq([auth_errors(cl, i) for i in range(3)], [0, 0, 0], "failed handshakes")


def test_a_client_cannot_pose_as_a_peer():
    with Keyed() as k, GossipCluster(n=1, keys=[k.path]) as cl:
        cl.wait_formed()
        key = peer_key(k.secret)
        sid = cl.ids[0].encode()
        with cl.conn(0) as c:
            check_eq(c.line(b"set victim 0 0 1\r\nv\r\n"), b"STORED\r\n", "set")
        with cl.conn(0) as c:
            check_eq(c.line(b"peer evil 1\r\n"),
                     b"CLIENT_ERROR peer authentication required\r\n", "peer without proof")
            check_eq(c.line(b"rg victim\r\n"), b"ERROR\r\n", "rg from a client")
            # an unknown command: its data line is one more (unknown) command
            check_eq(c.line(b"rs victim 0 0 99999999999 1\r\nx\r\n"), b"ERROR\r\n",
                     "rs from a client")
            check_eq(c.read_until(b"\r\n", 5.0), b"ERROR\r\n", "its data line")
            check_eq(c.line(b"peerauth " + b"0" * 64 + b"\r\n"),
                     b"CLIENT_ERROR peer authentication failed\r\n", "peerauth unasked")
            check_eq(c.read_until_eof(5.0), b"", "the connection closed")
        with cl.conn(0) as c:
            cn = os.urandom(16)
            sn, good = handshake(c, key, b"evil", sid, cn)
            check(good, "the server's proof checks out with the key")
            check_eq(c.line(b"peerauth " + os.urandom(32).hex().encode() + b"\r\n"),
                     b"CLIENT_ERROR peer authentication failed\r\n", "a wrong proof")
            check_eq(c.read_until_eof(5.0), b"", "the connection closed")
        # the real thing, then its replay
        cn = os.urandom(16)
        with cl.conn(0) as c:
            sn, good = handshake(c, key, b"g77", sid, cn)
            check(good, "the server's proof checks out")
            mine = proof(key, b"C", b"g77", sid, cn, sn)
            c.send(b"peerauth " + mine.hex().encode() + b"\r\n")
            check(c.line(b"rg victim\r\n").startswith(b"VA 1 "), "rg once authenticated")
            c.read_until(b"\r\n", 5.0)  # the value's line
        with cl.conn(0) as c:
            sn2, _ = handshake(c, key, b"g77", sid, cn)
            check(sn2 != sn, "a new nonce per connection")
            check_eq(c.line(b"peerauth " + mine.hex().encode() + b"\r\n"),
                     b"CLIENT_ERROR peer authentication failed\r\n", "a replayed proof")
        errors = auth_errors(cl, 0)
        print("impostor: no proof, a wrong proof, an unasked proof and a replay refused; "
              "auth_errors %d" % errors)
        check_eq(errors, 4, "auth_errors")


if __name__ == "__main__":
    mchelper.run_tests([test_keyed_nodes_forward_and_replicate,
                        test_a_client_cannot_pose_as_a_peer])
