/*
 * ring_bench: what the ring costs and how evenly it spreads keys. Prints the
 * ns per lookup for 10 and 100 nodes, the most loaded node over the mean for
 * 3, 10 and 50 nodes over 1M random keys, and the keys that move when a node
 * joins or leaves. Not a test: nothing here fails a build.
 *
 * usage: ring_bench [vnodes [id-sets]]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/ring.h"
#include "base/rng.h"

#define NKEYS    1000000
#define KEYLEN   20 /* "key:" and 16 hex digits */
#define MAXNODES 128

static uint64_t rng_state;

/* splitmix64 (rng.h): fast, and plenty random for picking keys. */
static uint64_t next_random(void)
{
    return rng_splitmix64(&rng_state);
}

static void make_key(char *dst)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = next_random();

    memcpy(dst, "key:", 4);
    for (int i = 0; i < 16; i++)
        dst[4 + i] = hex[(v >> (4 * i)) & 0xf];
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct ids {
    char buf[MAXNODES][48];
    struct ring_node nodes[MAXNODES];
};

/* Set 0 is one host's ports, as a local cluster names itself; the others
 * are hosts of a subnet. */
static void make_ids(struct ids *ids, size_t n, int set)
{
    for (size_t i = 0; i < n; i++) {
        if (set == 0)
            snprintf(ids->buf[i], sizeof(ids->buf[i]), "127.0.0.1:%zu", 11211 + i);
        else
            snprintf(ids->buf[i], sizeof(ids->buf[i]), "10.%d.%zu.%zu:11211", set,
                     i / 250, 1 + i % 250);
        ids->nodes[i] = (struct ring_node){.id = ids->buf[i]};
    }
}

static struct ring *build(const struct ids *ids, size_t n, unsigned vnodes, double *ms)
{
    struct ring *r;
    double t0 = now_ns();
    int rc = ring_build(ids->nodes, n, vnodes, 1, &r);

    if (rc < 0) {
        fprintf(stderr, "ring_build: %s\n", strerror(-rc));
        exit(1);
    }
    if (ms != NULL)
        *ms = (now_ns() - t0) / 1e6;
    return r;
}

/* Most loaded node over the mean, by keys and by ring share. */
static void balance(const struct ring *r, size_t n, double *by_keys, double *by_share)
{
    static size_t count[MAXNODES];
    char key[KEYLEN];
    size_t max = 0;
    double smax = 0;

    memset(count, 0, sizeof(count));
    for (int k = 0; k < NKEYS; k++) {
        make_key(key);
        count[ring_lookup(r, key, sizeof(key))]++;
    }
    for (size_t i = 0; i < n; i++) {
        if (count[i] > max)
            max = count[i];
        if (ring_share(r, i) > smax)
            smax = ring_share(r, i);
    }
    *by_keys = (double)max * (double)n / NKEYS;
    *by_share = smax * (double)n;
}

static void report_balance(unsigned vnodes, int sets)
{
    static const size_t sizes[] = {3, 10, 50};
    struct ids ids;

    printf("balance over %d random keys, most loaded node / mean:\n", NKEYS);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        double keys0 = 0, share0 = 0, worst_keys = 0, worst_share = 0, ms = 0;

        for (int set = 0; set <= sets; set++) {
            double bk, bs;
            struct ring *r;

            make_ids(&ids, n, set);
            r = build(&ids, n, vnodes, set == 0 ? &ms : NULL);
            rng_state = 42 + (uint64_t)set;
            balance(r, n, &bk, &bs);
            ring_free(r);
            if (set == 0) {
                keys0 = bk;
                share0 = bs;
            }
            worst_keys = bk > worst_keys ? bk : worst_keys;
            worst_share = bs > worst_share ? bs : worst_share;
        }
        printf("  %3zu nodes: keys %.4f  share %.4f  (127.0.0.1:port ids)   "
               "worst of %d id sets: keys %.4f share %.4f   build %.1f ms\n",
               n, keys0, share0, sets + 1, worst_keys, worst_share, ms);
    }
}

/* Keys that change owner when node 10 joins nodes 0..9, and when node 3
 * leaves them; "elsewhere" counts moves that break minimal disruption. */
static void report_disruption(unsigned vnodes)
{
    struct ids ids, less;
    struct ring *ten, *eleven, *nine;
    size_t joined = 0, join_elsewhere = 0, left = 0, left_elsewhere = 0;
    char key[KEYLEN];

    make_ids(&ids, 11, 0);
    ten = build(&ids, 10, vnodes, NULL);
    eleven = build(&ids, 11, vnodes, NULL);
    less = ids;
    for (size_t i = 0, j = 0; i < 10; i++)
        if (i != 3)
            less.nodes[j++].id = ids.buf[i];
    nine = build(&less, 9, vnodes, NULL);
    rng_state = 7;
    for (int k = 0; k < NKEYS; k++) {
        size_t a, b, c;

        make_key(key);
        a = ring_lookup(ten, key, sizeof(key));
        b = ring_lookup(eleven, key, sizeof(key));
        c = ring_lookup(nine, key, sizeof(key));
        if (a != b) {
            joined++;
            join_elsewhere += b != 10;
        }
        /* nine's index j is ten's j, or j + 1 past the removed node 3 */
        if (a != (c < 3 ? c : c + 1)) {
            left++;
            left_elsewhere += a != 3;
        }
    }
    printf("disruption over %d keys:\n"
           "  10 -> 11 nodes: %zu moved (%.4f of keys, bound 1.1/11 = %.4f), "
           "%zu not onto the new node\n"
           "  10 -> 9 nodes:  %zu moved (%.4f), %zu not from the removed node\n",
           NKEYS, joined, (double)joined / NKEYS, 1.1 / 11, join_elsewhere, left,
           (double)left / NKEYS, left_elsewhere);
    ring_free(ten);
    ring_free(eleven);
    ring_free(nine);
}

#define NLOOKUP_KEYS (1u << 16)
#define NLOOKUPS     20000000

static void report_speed(unsigned vnodes)
{
    static const size_t sizes[] = {10, 100};
    static char keys[NLOOKUP_KEYS][KEYLEN];
    struct ids ids;

    rng_state = 1;
    for (size_t k = 0; k < NLOOKUP_KEYS; k++)
        make_key(keys[k]);
    printf("lookup cost (%d lookups over %u keys):\n", NLOOKUPS, NLOOKUP_KEYS);
    for (size_t s = 0; s < 2; s++) {
        size_t n = sizes[s], sum = 0, pref[3], npref;
        double ms, t0, key_ns, hash_ns, pref_ns;
        struct ring *r;

        make_ids(&ids, n, 0);
        r = build(&ids, n, vnodes, &ms);
        /* warm up, then time ring_lookup (hash included) */
        for (size_t k = 0; k < NLOOKUP_KEYS; k++)
            sum += ring_lookup(r, keys[k], KEYLEN);
        t0 = now_ns();
        for (uint32_t i = 0; i < NLOOKUPS; i++)
            sum += ring_lookup(r, keys[i & (NLOOKUP_KEYS - 1)], KEYLEN);
        key_ns = (now_ns() - t0) / NLOOKUPS;
        /* random hashes: the search alone, over the whole ring */
        t0 = now_ns();
        for (uint32_t i = 0; i < NLOOKUPS; i++)
            sum += ring_lookup_hash(r, (uint32_t)next_random());
        hash_ns = (now_ns() - t0) / NLOOKUPS;
        t0 = now_ns();
        for (uint32_t i = 0; i < NLOOKUPS / 4; i++) {
            ring_preference(r, keys[i & (NLOOKUP_KEYS - 1)], KEYLEN, NULL, 3, pref,
                            &npref);
            sum += pref[npref - 1];
        }
        pref_ns = (now_ns() - t0) / (NLOOKUPS / 4);
        printf("  %3zu nodes (%zu points, build %.1f ms): ring_lookup %.1f ns, "
               "ring_lookup_hash (random hash) %.1f ns, ring_preference(3) %.1f ns  "
               "[%zu]\n",
               n, ring_point_count(r), ms, key_ns, hash_ns, pref_ns, sum % 10);
        ring_free(r);
    }
}

int main(int argc, char **argv)
{
    unsigned vnodes = RING_DEFAULT_VNODES;
    int sets = 10;

    if (argc > 1)
        vnodes = (unsigned)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        sets = atoi(argv[2]);
    if (vnodes == 0 || sets < 0) {
        fprintf(stderr, "usage: ring_bench [vnodes [id-sets]]\n");
        return 2;
    }
    printf("ring_bench: %u vnodes per node (default %u)\n", vnodes, RING_DEFAULT_VNODES);
    report_speed(vnodes);
    report_balance(vnodes, sets);
    report_disruption(vnodes);
    return 0;
}
