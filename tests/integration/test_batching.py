#!/usr/bin/python3
"""Replies sent in batches (issue 17, CPU per op): a worker answers the
commands of every connection that became readable in one pass of its event
loop, copies the small replies aside and sends them all with one io_uring
submission (src/net/sendq.c; a pass's only reply with send(2)). These tests hold it to what a client sees:
every reply whole and in order, on every connection, whether the batch
went, a full socket refused part of it, or io_uring is off (-o io_uring=0,
a build without liburing, a kernel that refuses rings), and `stats` saying
which.
"""

import os
import socket
import subprocess
import threading
import time

import mchelper
from mchelper import Daemon, check, check_eq
from test_attack import client_socket


def uring_expected(binary):
    """Whether the daemon can have io_uring here: linked with liburing and
    the kernel allowing rings to everyone."""
    linked = b"liburing" in subprocess.run(["ldd", binary], capture_output=True).stdout
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            allowed = f.read().strip() == "0"
    except FileNotFoundError:
        allowed = True  # kernels before 6.6 have no such switch
    return linked and allowed


def value_of(i, size):
    head = b"v%d:" % i
    return head + bytes([97 + i % 26]) * (size - len(head))


def rounds_of_gets(d, nconn, nkeys, rounds, size, paused=0):
    """nconn connections each send a get, all before any reads, rounds
    times; every reply must be whole and its key's. In the first `paused`
    rounds the daemon is stopped (SIGSTOP) while they send, so that one
    pass of its loop finds them all ready."""
    socks = [client_socket(d.port, i) for i in range(nconn)]
    try:
        for r in range(rounds):
            if r < paused:
                d.pause()
            for n, s in enumerate(socks):
                s.sendall(b"get k%d\r\n" % ((n + r) % nkeys))
            if r < paused:
                d.resume()
            for n, s in enumerate(socks):
                i = (n + r) % nkeys
                want = b"VALUE k%d 0 %d\r\n%s\r\nEND\r\n" % (i, size, value_of(i, size))
                got = b""
                while len(got) < len(want):
                    part = s.recv(65536)
                    check(part, "connection %d closed in round %d" % (n, r))
                    got += part
                check_eq(got, want, "round %d, connection %d" % (r, n))
    finally:
        for s in socks:
            s.close()


def fill(c, nkeys, size):
    c.send(b"".join(b"set k%d 0 0 %d noreply\r\n%s\r\n" % (i, size, value_of(i, size))
                    for i in range(nkeys)))
    check_eq(c.line(b"mn\r\n"), b"MN\r\n", "sets done")


def test_replies_of_one_pass_go_out_together():
    with Daemon(args=["-t", "1"]) as d, d.connect() as c:
        fill(c, 64, 100)
        rounds_of_gets(d, 32, 64, 40, 100, paused=3)
        if mchelper.daemon_is_reference():
            return
        st, settings = c.stats(), c.stats(b"settings")
        batches, sends = int(st["reply_batches"]), int(st["reply_batch_sends"])
        print("FIGURE io_uring=%s reply_batches=%d reply_batch_sends=%d (%.1f per batch) "
              "for %d gets" % (settings["io_uring"], batches, sends,
                               sends / batches if batches else 0, 32 * 40))
        if uring_expected(d.binary):
            check_eq(settings["io_uring"], "yes", "stats settings io_uring")
            check(batches > 0, "no reply went out in a batch")
            # the paused rounds: a pass finds 32 connections ready
            check(sends > batches, "%d sends in %d batches: never more than one" % (sends, batches))
            check(sends <= 32 * 40 + 10, "%d batched sends for %d gets" % (sends, 32 * 40))
        else:
            check_eq(settings["io_uring"], "unavailable", "stats settings io_uring")
            check_eq(batches, 0, "batches without io_uring")


def test_io_uring_off_sends_each_reply_itself():
    args = ["-t", "1"] + ([] if mchelper.daemon_is_reference() else ["-o", "io_uring=0"])
    with Daemon(args=args) as d, d.connect() as c:
        fill(c, 64, 100)
        rounds_of_gets(d, 32, 64, 20, 100, paused=3)
        if mchelper.daemon_is_reference():
            return
        st, settings = c.stats(), c.stats(b"settings")
        check_eq(settings["io_uring"], "no", "stats settings io_uring with -o io_uring=0")
        check_eq(st["reply_batches"], "0", "reply_batches with -o io_uring=0")
        check_eq(st["reply_batch_sends"], "0", "reply_batch_sends with -o io_uring=0")


def test_a_full_socket_takes_the_rest_later():
    # A client that asks one key at a time but does not read: each reply
    # (3,900 bytes, small enough to be batched) goes out with its pass's
    # batch (by send(2) when it is the pass's only reply, through the same
    # queue) until the socket is full (the server's send buffer grows to
    # 4 MB on loopback: tcp_wmem); then a queued send is refused in part
    # or whole, and what it did not take must go out first, when the
    # client reads, before any later reply. Another client is served all
    # along.
    size, count = 3900, 1600
    with Daemon(args=["-t", "1"]) as d, d.connect() as c:
        fill(c, count, size)
        s = client_socket(d.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stop = threading.Event()
        served = []

        def other():
            with d.connect() as o:
                while not stop.is_set():
                    check_eq(o.get_value(b"k7"), value_of(7, size), "the other client")
                    served.append(1)
                    time.sleep(0.005)

        t = threading.Thread(target=other)
        t.start()
        try:
            for i in range(count):
                s.sendall(b"get k%d\r\n" % i)
                time.sleep(0.001)  # one get per pass of the server's loop
            time.sleep(0.3)
            # a window of a few kB would make reading it all take many
            # seconds (as with memcached): open it before reading
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            want = b"".join(b"VALUE k%d 0 %d\r\n%s\r\nEND\r\n" % (i, size, value_of(i, size))
                            for i in range(count))
            got = b""
            s.settimeout(10)
            while len(got) < len(want):
                part = s.recv(65536)
                check(part, "closed after %d of %d bytes" % (len(got), len(want)))
                got += part
            for i in range(count):
                one = b"VALUE k%d 0 %d\r\n%s\r\nEND\r\n" % (i, size, value_of(i, size))
                check_eq(got[:len(one)], one, "reply %d of %d" % (i, count))
                got = got[len(one):]
            check_eq(got, b"", "bytes after the last reply")
        finally:
            stop.set()
            t.join()
            s.close()
        check(len(served) > 0, "the other client was never served")
        if not mchelper.daemon_is_reference() and uring_expected(d.binary):
            st = c.stats()
            # (batches of two only when the other client's get shares a pass)
            print("FIGURE reply_batches=%s reply_batch_sends=%s other_client_gets=%d"
                  % (st["reply_batches"], st["reply_batch_sends"], len(served)))


def test_workers_wait_in_their_ring():
    # On a single node every worker waits in its ring (stats settings
    # io_uring_loop counts them); an idle timeout (a timer, which a wait in
    # the ring would not see) or -o io_uring=0 keeps the event loop. Each
    # serves either way.
    if mchelper.daemon_is_reference():
        return
    ring = uring_expected(mchelper.daemon_binary())
    for args, want in ((["-t", "3"], 3 if ring else 0),
                       (["-t", "3", "-o", "idle_timeout=60"], 0),
                       (["-t", "3", "-o", "io_uring=0"], 0)):
        with Daemon(args=args) as d, d.connect() as c:
            check_eq(c.stats(b"settings")["io_uring_loop"], str(want),
                     "io_uring_loop with %s" % args)
            c.set_value(b"k", b"v")
            check_eq(c.get_value(b"k"), b"v", "a get with %s" % args)


def test_ring_input_whole_and_in_order():
    # What arrives through the ring's receives (2 KB buffers, a request
    # split across several; a small request budget, -R 4, so that a long
    # pipeline stops and restarts its receive many times) is parsed whole
    # and in order; a client that closes its sending side after its
    # commands still gets every reply, then the end of the stream.
    with Daemon(args=["-t", "1", "-R", "4"]) as d:
        with d.connect() as c:
            big = bytes(range(256)) * 2048  # 512 KB, in one write
            c.send(b"set big 0 0 %d\r\n%s\r\n" % (len(big), big))
            check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "a 512 KB set")
            mid = bytes(range(256)) * 40  # 10 KB, a few bytes per send
            msg = b"set mid 0 0 %d\r\n%s\r\n" % (len(mid), mid)
            for i in range(0, len(msg), 7):
                c.send(msg[i:i + 7])
            check_eq(c.read_until(b"\r\n"), b"STORED\r\n", "a set sent 7 bytes at a time")
            n = 5000
            c.send(b"".join(b"set p%d 0 0 %d noreply\r\n%d\r\n" % (i, len(b"%d" % i), i)
                            for i in range(n)))
            c.send(b"".join(b"mg p%d v\r\n" % i for i in range(n)) + b"mn\r\n")
            want = b"".join(b"VA %d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(n))
            got = c.read_until(b"MN\r\n", timeout=20)
            check_eq(got, want + b"MN\r\n", "%d pipelined mg replies" % n)
            check_eq(c.get_value(b"big"), big, "the 512 KB value")
            check_eq(c.get_value(b"mid"), mid, "the 10 KB value")
            check(int(c.stats()["conn_yields"]) > 0, "the pipeline never yielded")
        s = client_socket(d.port)
        try:
            s.sendall(b"".join(b"get p%d\r\n" % i for i in range(200)))
            s.shutdown(socket.SHUT_WR)
            want = b"".join(b"VALUE p%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(b"%d" % i), i)
                            for i in range(200))
            got = b""
            s.settimeout(10)
            while True:
                part = s.recv(65536)
                if not part:
                    break
                got += part
            check_eq(got, want, "replies before the end of the stream")
        finally:
            s.close()


if __name__ == "__main__":
    mchelper.run_tests([
        test_replies_of_one_pass_go_out_together,
        test_io_uring_off_sends_each_reply_itself,
        test_a_full_socket_takes_the_rest_later,
        test_workers_wait_in_their_ring,
        test_ring_input_whole_and_in_order,
    ])
