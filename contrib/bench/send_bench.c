/*
 * send_bench: what a small reply costs the sender, sent with send(2) or
 * through an io_uring submission, when a pass of the event loop has k of
 * them (one per connection). The figures behind src/net/sendq.c's choices:
 * a batch of two or more replies goes in one submission, a lone reply by
 * send(2).
 *
 *   send_bench [rounds] [max-k]
 *
 * Prints, for k = 1..max-k, the microseconds per reply of both ways (the
 * sender's time only; the receiving side drains between rounds), and the
 * cost of a system call that does nothing (getppid) for scale. Loopback
 * TCP, TCP_NODELAY, 50-byte replies (a 32-byte value's get).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_K 16

static const char reply[] = "VALUE k 0 32\r\n01234567890123456789012345678901\r\nEND\r\n";

static double now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void die(const char *what)
{
    fprintf(stderr, "send_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* k connected pairs over loopback: srv[i] sends, cli[i] receives. */
static void connect_pairs(int k, int *srv, int *cli)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(l, MAX_K) != 0 || getsockname(l, (struct sockaddr *)&a, &alen) != 0)
        die("listen");
    for (int i = 0; i < k; i++) {
        cli[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (cli[i] < 0 || connect(cli[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
            (srv[i] = accept(l, NULL, NULL)) < 0)
            die("connect");
        setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    close(l);
}

/* Microseconds per reply over rounds of k replies, sent one way. */
static double run(struct io_uring *ring, int k, long rounds, bool uring)
{
    int srv[MAX_K], cli[MAX_K];
    char sink[4096];
    double spent = 0;

    connect_pairs(k, srv, cli);
    for (long r = 0; r < rounds; r++) {
        double t0 = now_us();

        if (uring) {
            struct io_uring_cqe *cqe;

            for (int i = 0; i < k; i++) {
                struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
                io_uring_prep_send(sqe, srv[i], reply, sizeof(reply) - 1,
                                   MSG_DONTWAIT | MSG_NOSIGNAL);
            }
            if (io_uring_submit(ring) != k)
                die("io_uring_submit");
            for (int i = 0; i < k; i++) {
                if (io_uring_wait_cqe(ring, &cqe) != 0)
                    die("io_uring_wait_cqe");
                io_uring_cqe_seen(ring, cqe);
            }
        } else {
            for (int i = 0; i < k; i++)
                if (send(srv[i], reply, sizeof(reply) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) <
                    0)
                    die("send");
        }
        spent += now_us() - t0;
        for (int i = 0; i < k; i++)
            if (recv(cli[i], sink, sizeof(sink), 0) <= 0)
                die("recv");
    }
    for (int i = 0; i < k; i++) {
        close(srv[i]);
        close(cli[i]);
    }
    return spent / (double)rounds / k;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 100000;
    int maxk = argc > 2 ? atoi(argv[2]) : 4;
    struct io_uring ring;
    double t0;

    if (rounds < 1 || maxk < 1 || maxk > MAX_K) {
        fprintf(stderr, "usage: send_bench [rounds] [max-k (1-%d)]\n", MAX_K);
        return 2;
    }
    if (io_uring_queue_init(MAX_K, &ring, 0) != 0)
        die("io_uring_queue_init");
    t0 = now_us();
    for (long i = 0; i < rounds; i++)
        syscall(SYS_getppid);
    printf("getppid: %.3f us per call\n", (now_us() - t0) / (double)rounds);
    printf("%4s %14s %14s %8s\n", "k", "send(2) us", "io_uring us", "ratio");
    for (int k = 1; k <= maxk; k++) {
        double s = run(&ring, k, rounds, false), u = run(&ring, k, rounds, true);
        printf("%4d %14.3f %14.3f %8.3f\n", k, s, u, u / s);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
