#!/usr/bin/python3
"""Helpers of the operator-command tests (test_operator.py, test_keydump.py,
test_watch.py): one daemon of each kind side by side, and a question and
answer over the raw protocol."""

import re

import mchelper
from mchelper import Daemon, check_eq


def pair(args=()):
    """The daemon under test and the reference memcached, with args."""
    return (Daemon(args=list(args)),
            Daemon(binary=mchelper.reference_binary(), args=list(args)))


def ask(conn, cmd, end=b"\r\n"):
    """Sends cmd, returns the reply up to and including end."""
    conn.send(cmd)
    return conn.read_until(end)


def ask_quiet(conn, cmd):
    """Sends cmd (a noreply one) and then mn: returns what came before MN."""
    conn.send(cmd + b"mn\r\n")
    return conn.read_until(b"MN\r\n")[:-4]


def same_replies(d, ref, cmds, what, end=b"\r\n"):
    """Each of cmds gets the same reply from both daemons (fresh
    connections, in order)."""
    with d.connect() as a, ref.connect() as b:
        for cmd in cmds:
            check_eq(ask(a, cmd, end), ask(b, cmd, end), "%s: %r" % (what, cmd))


def blur(line, fields):
    """line with the values of the named fields replaced by '*'."""
    for f in fields:
        line = re.sub(rb"\b" + f + rb"=[^ \n]*", f + b"=*", line)
    return line
