/*
 * seeds: --join names resolved to every address they have (see seeds.h).
 */
#include "cluster/seeds.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"

/* Splits "host:port" or "[addr]:port" into host and port. Returns 0 or -1. */
static int split(const char *name, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *h = name, *colon;
    size_t nh;

    if (name[0] == '[') {
        const char *close = strchr(name, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = name + 1;
        nh = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(name, ':');
        if (colon == NULL)
            return -1;
        nh = (size_t)(colon - name);
    }
    if (nh == 0 || nh >= hcap || strlen(colon + 1) == 0 || strlen(colon + 1) >= pcap)
        return -1;
    memcpy(host, h, nh);
    host[nh] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    return 0;
}

bool seeds_numeric(const char *name)
{
    char host[GMSG_MAX_ADDR + 1], port[16];
    unsigned char buf[sizeof(struct in6_addr)];

    return split(name, host, sizeof(host), port, sizeof(port)) == 0 &&
           (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1);
}

/* Appends addr to out[0..*n) unless it is there already or out is full. */
static void add(seeds_addr *out, size_t cap, size_t *n, const char *addr)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i], addr) == 0)
            return;
    if (*n < cap)
        snprintf(out[(*n)++], sizeof(out[0]), "%s", addr);
}

size_t seeds_expand(const char *const *names, size_t n, seeds_addr *out, size_t cap)
{
    size_t got = 0;

    for (size_t i = 0; i < n; i++) {
        char host[GMSG_MAX_ADDR + 1], port[16];
        struct addrinfo hints, *res = NULL;
        size_t before = got;

        if (split(names[i], host, sizeof(host), port, sizeof(port)) == 0) {
            memset(&hints, 0, sizeof(hints));
            hints.ai_family = AF_UNSPEC;
            hints.ai_socktype = SOCK_STREAM;
            hints.ai_flags = AI_NUMERICSERV;
            if (getaddrinfo(host, port, &hints, &res) == 0) {
                for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
                    char ip[INET6_ADDRSTRLEN];
                    seeds_addr addr;
                    const void *src =
                        a->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)a->ai_addr)
                                  ->sin6_addr;
                    if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
                        inet_ntop(a->ai_family, src, ip, sizeof(ip)) == NULL ||
                        (size_t)util_format_hostport(addr, sizeof(addr), ip,
                                                     atoi(port)) >= sizeof(addr))
                        continue;
                    add(out, cap, &got, addr);
                }
                freeaddrinfo(res);
            }
        }
        if (got == before)
            add(out, cap, &got, names[i]);
    }
    return got;
}
