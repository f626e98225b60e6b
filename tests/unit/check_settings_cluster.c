/* check_settings_cluster: the flags that make a cluster: the node id, a
 * static --peers list, vnodes and the peer timeout, and gossip membership
 * (--cluster-port, --join, --cluster-key, gossip_interval_ms). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cluster/ring.h"
#include "base/settings.h"

#include "settings_fixture.h"

/* ---- cluster flags ---- */

START_TEST(test_settings_cluster_defaults_are_a_single_node)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert_str_eq(s.node_id, ""); /* derived by settings_parse() */
    ck_assert_uint_eq(s.npeers, 0);
    ck_assert_uint_eq(s.vnodes, RING_DEFAULT_VNODES);
    ck_assert_uint_eq(s.vnodes, 16384);
    ck_assert_uint_eq(s.peer_timeout_ms, 500);
}
END_TEST

/* s filled with c repeated n times. */
static char *repeat(char *s, char c, size_t n)
{
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(test_settings_node_id_defaults_to_the_listen_address_and_port)
{
    ck_assert_int_eq(PARSE("-v"), 0);
    ck_assert_str_eq(r.s.node_id, "127.0.0.1:11211");
    ck_assert_int_eq(PARSE("-l", "10.1.2.3", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "10.1.2.3:2000");
    ck_assert_int_eq(PARSE("-l", "cache-1.example", "--port=2001"), 0);
    ck_assert_str_eq(r.s.node_id, "cache-1.example:2001");
    /* the first of several -l entries */
    ck_assert_int_eq(PARSE("-l", "10.0.0.1,10.0.0.2", "-p", "3000"), 0);
    ck_assert_str_eq(r.s.node_id, "10.0.0.1:3000");
}
END_TEST

/* An -l entry that names its own port is where this node listens: it is the
 * id as it is. A bare IPv6 address gets brackets, as in a --peers entry. */
START_TEST(test_settings_node_id_default_follows_the_forms_of_listen)
{
    ck_assert_int_eq(PARSE("-l", "10.1.2.3:3000", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "10.1.2.3:3000");
    ck_assert_int_eq(PARSE("-l", "::1"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:11211");
    ck_assert_int_eq(PARSE("-l", "[::1]", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:2000");
    ck_assert_int_eq(PARSE("-l", "[::1]:3000", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:3000");
    ck_assert_int_eq(PARSE("-l", "::1,127.0.0.1", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "[::1]:2000");
}
END_TEST

START_TEST(test_settings_node_id_takes_printable_ascii_up_to_255_bytes)
{
    char id[300], all[0x7f - 0x21 + 1];

    ck_assert_int_eq(PARSE("--node-id=cache-a"), 0);
    ck_assert_str_eq(r.s.node_id, "cache-a");
    ck_assert_str_eq(r.err, "");
    /* given, it wins over the default whatever the order */
    ck_assert_int_eq(PARSE("--node-id", "n1", "-l", "10.0.0.9", "-p", "2000"), 0);
    ck_assert_str_eq(r.s.node_id, "n1");
    ck_assert_int_eq(PARSE("--node-id=x", "--node-id=y"), 0);
    ck_assert_str_eq(r.s.node_id, "y");
    ck_assert_int_eq(PARSE("--node-id", repeat(id, 'a', 255)), 0);
    ck_assert_str_eq(r.s.node_id, id);
    for (int c = 0x21; c <= 0x7e; c++)
        all[c - 0x21] = (char)c;
    all[sizeof(all) - 1] = '\0';
    ck_assert_int_eq(PARSE("--node-id", all), 0);
    ck_assert_str_eq(r.s.node_id, all);
}
END_TEST

START_TEST(test_settings_peers_parse_names_ipv4_and_bracketed_ipv6)
{
    ck_assert_int_eq(PARSE("--peers=10.0.0.1:11211,cache-b.example:11212,[::1]:11213,"
                           "[fe80::1%eth0]:1,Host-C:65535"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert_uint_eq(r.s.npeers, 5);
    ck_assert_str_eq(r.s.peers[0].host, "10.0.0.1");
    ck_assert_int_eq(r.s.peers[0].port, 11211);
    ck_assert_str_eq(r.s.peers[1].host, "cache-b.example");
    ck_assert_int_eq(r.s.peers[1].port, 11212);
    ck_assert_str_eq(r.s.peers[2].host, "::1");
    ck_assert_int_eq(r.s.peers[2].port, 11213);
    ck_assert_str_eq(r.s.peers[3].host, "fe80::1%eth0");
    ck_assert_int_eq(r.s.peers[3].port, 1);
    ck_assert_str_eq(r.s.peers[4].host, "Host-C");
    ck_assert_int_eq(r.s.peers[4].port, 65535);
    ck_assert_int_eq(PARSE("--peers", "127.0.0.1:2000"), 0);
    ck_assert_uint_eq(r.s.npeers, 1);
}
END_TEST

/* Every node of a cluster can be given the same list. */
START_TEST(test_settings_peers_may_list_this_nodes_own_address)
{
    ck_assert_int_eq(PARSE("-p", "2001", "--peers=127.0.0.1:2001,127.0.0.1:2002"), 0);
    ck_assert_uint_eq(r.s.npeers, 2);
    ck_assert_str_eq(r.s.node_id, "127.0.0.1:2001");
    ck_assert_str_eq(r.s.peers[0].host, "127.0.0.1");
    ck_assert_int_eq(r.s.peers[0].port, 2001);
}
END_TEST

START_TEST(test_settings_a_later_peers_list_replaces_an_earlier_one)
{
    ck_assert_int_eq(PARSE("--peers=a:1,b:2,c:3", "--peers=d:4"), 0);
    ck_assert_uint_eq(r.s.npeers, 1);
    ck_assert_str_eq(r.s.peers[0].host, "d");
    ck_assert_int_eq(r.s.peers[0].port, 4);
    /* so the second list's entries are not duplicates of the first's */
    ck_assert_int_eq(PARSE("--peers=a:1,b:2", "--peers=b:2,a:1"), 0);
    ck_assert_uint_eq(r.s.npeers, 2);
    ck_assert_str_eq(r.s.peers[0].host, "b");
}
END_TEST

/* A list of n entries "h0:1,h1:1,..." (each at most 8 bytes with its comma). */
static char *peer_list(char *buf, size_t cap, int n)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%sh%d:1", i > 0 ? "," : "", i);
        ck_assert(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    return buf;
}

START_TEST(test_settings_peers_hold_up_to_128_members)
{
    char list[SETTINGS_MAX_PEERS * 8 + 16];

    ck_assert_int_eq(SETTINGS_MAX_PEERS, 128);
    ck_assert_int_eq(PARSE("--peers", peer_list(list, sizeof(list), 128)), 0);
    ck_assert_uint_eq(r.s.npeers, 128);
    ck_assert_str_eq(r.s.peers[127].host, "h127");
    PARSE("--peers", peer_list(list, sizeof(list), 129));
    assert_refused("--peers <129 members>");
    ck_assert_ptr_nonnull(strstr(r.err, "128"));
}
END_TEST

START_TEST(test_settings_vnodes_take_1_to_65536_and_default_to_16384)
{
    ck_assert_int_eq(PARSE("--vnodes=1"), 0);
    ck_assert_uint_eq(r.s.vnodes, 1);
    ck_assert_int_eq(PARSE("--vnodes", "65536"), 0);
    ck_assert_uint_eq(r.s.vnodes, RING_MAX_VNODES);
    ck_assert_int_eq(PARSE("--vnodes=160"), 0);
    ck_assert_uint_eq(r.s.vnodes, 160);
    ck_assert_int_eq(PARSE("-p", "2000"), 0);
    ck_assert_uint_eq(r.s.vnodes, 16384);
}
END_TEST

START_TEST(test_settings_peer_timeout_takes_1_to_60000_ms_and_defaults_to_500)
{
    assert_o_takes_bounds("peer_timeout_ms", &r.s.peer_timeout_ms, 1, 60000);
    ck_assert_int_eq(PARSE("-o", "idle_timeout=5,peer_timeout_ms=250", "-o", "modern"),
                     0);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 250);
    ck_assert_uint_eq(r.s.idle_timeout, 5);
    ck_assert_int_eq(PARSE("-o", "idle_timeout=5"), 0);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 500);
}
END_TEST

START_TEST(test_settings_parses_cluster_flags_together)
{
    ck_assert_int_eq(PARSE("-l", "0.0.0.0", "-p", "2000", "--node-id=n2",
                           "--peers=10.0.0.1:2000,10.0.0.2:2000", "--vnodes=4096", "-o",
                           "peer_timeout_ms=100"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert_str_eq(r.s.node_id, "n2");
    ck_assert_uint_eq(r.s.npeers, 2);
    ck_assert_uint_eq(r.s.vnodes, 4096);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 100);
}
END_TEST

START_TEST(test_settings_help_lists_the_cluster_flags)
{
    static const char *const entries[] = {"--node-id=<id>", "--peers=<host:port,...>",
                                          "--vnodes=<num>", "peer_timeout_ms=<ms>"};

    assert_help_lists(entries, ARRAY_LEN(entries));
}
END_TEST

START_TEST(test_settings_refuses_bad_node_ids)
{
    char id[300];

    PARSE("--node-id=");
    assert_refused("--node-id=''");
    PARSE("--node-id", repeat(id, 'a', 256));
    assert_refused("--node-id <256 bytes>");
    PARSE("--node-id=a b");
    assert_refused("--node-id='a b'");
    PARSE("--node-id=a\tb");
    assert_refused("--node-id=a<TAB>b");
    PARSE("--node-id=a\x7f");
    assert_refused("--node-id=a<DEL>");
    PARSE("--node-id=n\xc3\xa9");
    assert_refused("--node-id=<UTF-8>");
    PARSE("--node-id=x\r\n");
    assert_refused("--node-id=x<CR><LF>");
    PARSE("--node-id");
    assert_refused("--node-id without a value");
    ck_assert_ptr_nonnull(strstr(r.err, "--node-id"));
}
END_TEST

/* The default id is checked like a given one, and only then: --node-id
 * makes the same -l acceptable. */
START_TEST(test_settings_refuses_a_default_node_id_that_is_not_a_valid_id)
{
    char host[300];

    ck_assert_int_eq(PARSE("-l", repeat(host, 'a', 249)), 0);
    ck_assert_uint_eq(strlen(r.s.node_id), 255);
    PARSE("-l", repeat(host, 'a', 250));
    assert_refused("-l <250 bytes> (id of 256)");
    ck_assert_ptr_nonnull(strstr(r.err, "--node-id"));
    /* the port counts */
    ck_assert_int_eq(PARSE("-l", repeat(host, 'a', 251), "-p", "100"), 0);
    ck_assert_uint_eq(strlen(r.s.node_id), 255);
    PARSE("-l", repeat(host, 'a', 251), "-p", "1000");
    assert_refused("-l <251 bytes> -p 1000");
    ck_assert_int_eq(PARSE("-l", repeat(host, 'a', 250), "--node-id=n1"), 0);
    ck_assert_str_eq(r.s.node_id, "n1");
    PARSE("-l", "my host");
    assert_refused("-l 'my host'");
    ck_assert_int_eq(PARSE("-l", "my host", "--node-id=n1"), 0);
}
END_TEST

START_TEST(test_settings_refuses_malformed_peer_entries)
{
    static const char *const bad[] = {
        "",          ",",     "a:1,",    ",a:1",   "a:1,,b:2", "a",         "a:",
        ":1",        "a:0",   "a:65536", "a:-1",   "a:+1",     "a:1x",      "a: 1",
        "a:1 ",      " a:1",  "a b:1",   "a\tb:1", "::1:80",   "::1",       "[::1]",
        "[::1]80",   "[]:80", "[::1:80", "[::1]:", "[::1]:0",  "a[b:1",     "a]b:1",
        "[[::1]]:1", "a:1:2", "a:0x50",  "a:1e3",  "a:\x7f",   "\xc3\xa9:1"};
    char big[300];

    assert_flag_refuses("--peers", bad, ARRAY_LEN(bad));
    repeat(big, 'h', 256);
    strcat(big, ":1");
    PARSE("--peers", big);
    assert_refused("--peers <256-byte host>:1");
    repeat(big, 'h', 255);
    strcat(big, ":1");
    ck_assert_int_eq(PARSE("--peers", big), 0);
    ck_assert_uint_eq(strlen(r.s.peers[0].host), 255);
}
END_TEST

START_TEST(test_settings_refuses_duplicate_peers)
{
    PARSE("--peers=a:1,b:1,a:1");
    assert_refused("--peers=a:1,b:1,a:1");
    ck_assert_ptr_nonnull(strstr(r.err, "twice"));
    PARSE("--peers=[::1]:7,[::1]:7");
    assert_refused("--peers=[::1]:7,[::1]:7");
    /* host names are case-insensitive */
    PARSE("--peers=Cache-A:1,cache-a:1");
    assert_refused("--peers=Cache-A:1,cache-a:1");
    /* one port, written two ways, is one port */
    PARSE("--peers=a:80,a:080");
    assert_refused("--peers=a:80,a:080");
    /* same host, other port: another member */
    ck_assert_int_eq(PARSE("--peers=a:1,a:2,b:1"), 0);
    ck_assert_uint_eq(r.s.npeers, 3);
}
END_TEST

START_TEST(test_settings_refuses_vnodes_outside_1_to_65536)
{
    static const char *const bad[] = {
        "0", "65537", "-1", "x", "", "16k", "1 ", "+5", "99999999999999999999"};

    assert_flag_refuses("--vnodes", bad, ARRAY_LEN(bad));
}
END_TEST

START_TEST(test_settings_refuses_peer_timeouts_outside_1_to_60000)
{
    static const char *const bad[] = {
        "peer_timeout_ms=0",  "peer_timeout_ms=60001", "peer_timeout_ms=",
        "peer_timeout_ms",    "peer_timeout_ms=x",     "peer_timeout_ms=-5",
        "peer_timeout_ms=+5", "peer_timeout_ms=1.5",   "peer_timeout_ms=4294967296"};

    assert_o_refuses("peer_timeout_ms", bad, ARRAY_LEN(bad), NULL);
}
END_TEST

/* Long-only options have no short letter to show: the message names
 * "--vnodes", not "-\x01/--vnodes". */
START_TEST(test_settings_error_names_a_long_only_flag_by_its_long_name)
{
    PARSE("--vnodes=0");
    assert_refused("--vnodes=0");
    ck_assert_str_eq(r.err, "meshcached: invalid value '0' for option --vnodes "
                            "(see --help)\n");
    PARSE("--node-id=a b");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'a b' for option --node-id "
                            "(see --help)\n");
    PARSE("--peers=a:1,b:0");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'a:1,b:0' for option --peers: "
                            "'b:0': port must be 1 to 65535 (see --help)\n");
    PARSE("--vnodes");
    ck_assert_str_eq(r.err, "meshcached: option --vnodes needs a value\n");
    PARSE("--cluster-port=0");
    ck_assert_str_eq(r.err, "meshcached: invalid value '0' for option --cluster-port "
                            "(see --help)\n");
    PARSE("--join=a:1,b:0");
    ck_assert_str_eq(r.err, "meshcached: invalid value 'a:1,b:0' for option --join: "
                            "'b:0': port must be 1 to 65535 (see --help)\n");
    PARSE("--cluster-key=");
    ck_assert_str_eq(r.err, "meshcached: invalid value '' for option --cluster-key "
                            "(see --help)\n");
}
END_TEST

/* ---- gossip membership flags ---- */

START_TEST(test_settings_gossip_is_off_by_default)
{
    struct settings s;

    memset(&s, 0x5a, sizeof(s));
    settings_defaults(&s);
    ck_assert(!s.gossip);
    ck_assert_int_eq(s.cluster_port, 0); /* filled by settings_parse() */
    ck_assert_uint_eq(s.njoins, 0);
    ck_assert_str_eq(s.cluster_key_file, "");
    ck_assert_uint_eq(s.gossip_interval_ms, 500);
    ck_assert_int_eq(PARSE("-p", "2000", "--vnodes=160"), 0);
    ck_assert(!r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 0);
}
END_TEST

START_TEST(test_settings_cluster_port_turns_gossip_on)
{
    ck_assert_int_eq(PARSE("--cluster-port=7946"), 0);
    ck_assert_str_eq(r.err, "");
    ck_assert(r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 7946);
    ck_assert_uint_eq(r.s.njoins, 0); /* a new cluster */
    ck_assert_int_eq(PARSE("--cluster-port", "1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 1);
    ck_assert_int_eq(PARSE("--cluster-port=65535"), 0);
    ck_assert_int_eq(r.s.cluster_port, 65535);
    ck_assert_int_eq(PARSE("--cluster-port=5000", "--cluster-port=6000"), 0);
    ck_assert_int_eq(r.s.cluster_port, 6000);
}
END_TEST

START_TEST(test_settings_join_turns_gossip_on_and_parses_like_peers)
{
    ck_assert_int_eq(PARSE("--join=10.0.0.1:12211,cache-b.example:7946,[::1]:1,"
                           "Host-C:65535"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert(r.s.gossip);
    ck_assert_uint_eq(r.s.npeers, 0);
    ck_assert_uint_eq(r.s.njoins, 4);
    ck_assert_str_eq(r.s.joins[0].host, "10.0.0.1");
    ck_assert_int_eq(r.s.joins[0].port, 12211);
    ck_assert_str_eq(r.s.joins[1].host, "cache-b.example");
    ck_assert_int_eq(r.s.joins[1].port, 7946);
    ck_assert_str_eq(r.s.joins[2].host, "::1");
    ck_assert_int_eq(r.s.joins[2].port, 1);
    ck_assert_str_eq(r.s.joins[3].host, "Host-C");
    ck_assert_int_eq(r.s.joins[3].port, 65535);
}
END_TEST

/* Every node of a cluster can be started with the same seeds. */
START_TEST(test_settings_join_may_list_this_nodes_own_cluster_address)
{
    ck_assert_int_eq(PARSE("-p", "2001", "--join=127.0.0.1:3001,127.0.0.1:3002"), 0);
    ck_assert_int_eq(r.s.cluster_port, 3001);
    ck_assert_uint_eq(r.s.njoins, 2);
    ck_assert_int_eq(r.s.joins[0].port, 3001);
}
END_TEST

START_TEST(test_settings_a_later_join_list_replaces_an_earlier_one)
{
    ck_assert_int_eq(PARSE("--join=a:1,b:2,c:3", "--join=d:4"), 0);
    ck_assert_uint_eq(r.s.njoins, 1);
    ck_assert_str_eq(r.s.joins[0].host, "d");
    ck_assert_int_eq(PARSE("--join=a:1,b:2", "--join=b:2,a:1"), 0);
    ck_assert_uint_eq(r.s.njoins, 2);
    ck_assert_str_eq(r.s.joins[0].host, "b");
}
END_TEST

START_TEST(test_settings_join_holds_up_to_128_seeds)
{
    char list[SETTINGS_MAX_PEERS * 8 + 16];

    ck_assert_int_eq(PARSE("--join", peer_list(list, sizeof(list), 128)), 0);
    ck_assert_uint_eq(r.s.njoins, 128);
    ck_assert_str_eq(r.s.joins[127].host, "h127");
    PARSE("--join", peer_list(list, sizeof(list), 129));
    assert_refused("--join <129 members>");
    ck_assert_ptr_nonnull(strstr(r.err, "--join"));
    ck_assert_ptr_nonnull(strstr(r.err, "128"));
}
END_TEST

/* Checked once everything is parsed, so -p may come after --join. */
START_TEST(test_settings_cluster_port_defaults_to_the_client_port_plus_1000)
{
    ck_assert_int_eq(PARSE("--join=a:1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 12211);
    ck_assert_int_eq(PARSE("--join=a:1", "-p", "2000"), 0);
    ck_assert_int_eq(r.s.cluster_port, 3000);
    ck_assert_int_eq(PARSE("-p", "64535", "--join=a:1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 65535);
    /* given, it wins */
    ck_assert_int_eq(PARSE("-p", "2000", "--join=a:1", "--cluster-port=9000"), 0);
    ck_assert_int_eq(r.s.cluster_port, 9000);
    ck_assert_int_eq(r.s.port, 2000);
}
END_TEST

START_TEST(test_settings_refuses_a_default_cluster_port_above_65535)
{
    PARSE("-p", "64536", "--join=a:1");
    assert_refused("-p 64536 --join=a:1");
    ck_assert_ptr_nonnull(strstr(r.err, "--cluster-port"));
    PARSE("--join=a:1", "-p", "65535");
    assert_refused("--join=a:1 -p 65535");
    ck_assert_int_eq(PARSE("-p", "65535", "--join=a:1", "--cluster-port=1"), 0);
    ck_assert_int_eq(r.s.cluster_port, 1);
    /* without gossip there is no cluster port to derive */
    ck_assert_int_eq(PARSE("-p", "65535"), 0);
    ck_assert_int_eq(r.s.cluster_port, 0);
}
END_TEST

START_TEST(test_settings_cluster_key_takes_a_path_and_does_not_turn_gossip_on)
{
    char path[sizeof(r.s.cluster_key_file)];

    ck_assert_int_eq(PARSE("--cluster-key=/etc/meshcached/key"), 0);
    ck_assert_str_eq(r.s.cluster_key_file, "/etc/meshcached/key");
    ck_assert(!r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 0);
    /* not read while parsing */
    ck_assert_int_eq(PARSE("--cluster-key", "/nonexistent/key", "--join=a:1"), 0);
    ck_assert_str_eq(r.s.cluster_key_file, "/nonexistent/key");
    ck_assert(r.s.gossip);
    ck_assert_int_eq(PARSE("--cluster-key", repeat(path, 'k', sizeof(path) - 1)), 0);
    ck_assert_uint_eq(strlen(r.s.cluster_key_file), sizeof(path) - 1);
}
END_TEST

START_TEST(test_settings_refuses_empty_and_oversized_cluster_key_paths)
{
    char path[sizeof(r.s.cluster_key_file) + 1];

    PARSE("--cluster-key=");
    assert_refused("--cluster-key=''");
    ck_assert_ptr_nonnull(strstr(r.err, "--cluster-key"));
    PARSE("--cluster-key", repeat(path, 'k', sizeof(path) - 1));
    assert_refused("--cluster-key <4096 bytes>");
    PARSE("--cluster-key");
    assert_refused("--cluster-key without a value");
}
END_TEST

START_TEST(test_settings_gossip_interval_takes_50_to_60000_ms_and_defaults_to_500)
{
    assert_o_takes_bounds("gossip_interval_ms", &r.s.gossip_interval_ms, 50, 60000);
    ck_assert_int_eq(PARSE("-o", "peer_timeout_ms=250,gossip_interval_ms=200"), 0);
    ck_assert_uint_eq(r.s.gossip_interval_ms, 200);
    ck_assert_uint_eq(r.s.peer_timeout_ms, 250);
    ck_assert_int_eq(PARSE("--join=a:1"), 0);
    ck_assert_uint_eq(r.s.gossip_interval_ms, 500);
}
END_TEST

START_TEST(test_settings_refuses_gossip_intervals_outside_50_to_60000)
{
    static const char *const bad[] = {
        "gossip_interval_ms=49",    "gossip_interval_ms=0",
        "gossip_interval_ms=60001", "gossip_interval_ms=",
        "gossip_interval_ms",       "gossip_interval_ms=x",
        "gossip_interval_ms=-500",  "gossip_interval_ms=+500",
        "gossip_interval_ms=0.5",   "gossip_interval_ms=4294967296"};

    assert_o_refuses("gossip_interval_ms", bad, ARRAY_LEN(bad), NULL);
}
END_TEST

START_TEST(test_settings_refuses_cluster_ports_outside_1_to_65535)
{
    static const char *const bad[] = {"0", "65536", "-1", "x", "", "1 ", "+5", "0x50"};

    assert_flag_refuses("--cluster-port", bad, ARRAY_LEN(bad));
}
END_TEST

/* The same rules as --peers (see test_settings_refuses_malformed_peer_entries
 * for all of them): one parser serves both. */
START_TEST(test_settings_refuses_malformed_join_entries)
{
    static const char *const bad[] = {
        "",       "a:1,",   "a:1,,b:2", "a",       "a:0",     "a:+1",      "a b:1",
        "::1:80", "[::1]:", "a:1:2",    "a:1,a:1", "A:1,a:1", "a:80,a:080"};

    assert_flag_refuses("--join", bad, ARRAY_LEN(bad));
    PARSE("--join=a:1,b:1,a:1");
    ck_assert_ptr_nonnull(strstr(r.err, "twice"));
}
END_TEST

/* Static and gossiped membership would disagree on who is in the ring. */
START_TEST(test_settings_refuses_peers_with_join)
{
    PARSE("--peers=a:1", "--join=b:2");
    assert_refused("--peers=a:1 --join=b:2");
    ck_assert_ptr_nonnull(strstr(r.err, "--peers"));
    ck_assert_ptr_nonnull(strstr(r.err, "--join"));
    PARSE("--join=b:2", "--peers=a:1");
    assert_refused("--join=b:2 --peers=a:1");
}
END_TEST

START_TEST(test_settings_refuses_peers_with_cluster_port)
{
    PARSE("--peers=a:1", "--cluster-port=7946");
    assert_refused("--peers=a:1 --cluster-port=7946");
    ck_assert_ptr_nonnull(strstr(r.err, "--peers"));
    ck_assert_ptr_nonnull(strstr(r.err, "--cluster-port"));
    PARSE("--cluster-port=7946", "--peers=a:1");
    assert_refused("--cluster-port=7946 --peers=a:1");
}
END_TEST

START_TEST(test_settings_parses_gossip_flags_together)
{
    ck_assert_int_eq(PARSE("-l", "0.0.0.0", "-p", "2000", "--node-id=n2",
                           "--join=10.0.0.1:7946,10.0.0.2:7946", "--cluster-port=7946",
                           "--cluster-key=/etc/meshcached/key", "-o",
                           "gossip_interval_ms=200", "--vnodes=4096"),
                     0);
    ck_assert_str_eq(r.err, "");
    ck_assert(r.s.gossip);
    ck_assert_int_eq(r.s.cluster_port, 7946);
    ck_assert_uint_eq(r.s.njoins, 2);
    ck_assert_uint_eq(r.s.npeers, 0);
    ck_assert_str_eq(r.s.cluster_key_file, "/etc/meshcached/key");
    ck_assert_uint_eq(r.s.gossip_interval_ms, 200);
    ck_assert_str_eq(r.s.node_id, "n2");
}
END_TEST

START_TEST(test_settings_help_lists_the_gossip_flags)
{
    static const char *const entries[] = {
        "--cluster-port=<port>", "--join=<host:port,...>", "--cluster-key=<file>",
        "gossip_interval_ms=<ms>"};

    assert_help_lists(entries, ARRAY_LEN(entries));
}
END_TEST

static Suite *settings_cluster_suite(void)
{
    Suite *s = suite_create("settings_cluster");
    TCase *tc = tcase_create("cluster");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_settings_cluster_defaults_are_a_single_node);
    tcase_add_test(tc, test_settings_node_id_defaults_to_the_listen_address_and_port);
    tcase_add_test(tc, test_settings_node_id_default_follows_the_forms_of_listen);
    tcase_add_test(tc, test_settings_node_id_takes_printable_ascii_up_to_255_bytes);
    tcase_add_test(tc, test_settings_peers_parse_names_ipv4_and_bracketed_ipv6);
    tcase_add_test(tc, test_settings_peers_may_list_this_nodes_own_address);
    tcase_add_test(tc, test_settings_a_later_peers_list_replaces_an_earlier_one);
    tcase_add_test(tc, test_settings_peers_hold_up_to_128_members);
    tcase_add_test(tc, test_settings_vnodes_take_1_to_65536_and_default_to_16384);
    tcase_add_test(tc,
                   test_settings_peer_timeout_takes_1_to_60000_ms_and_defaults_to_500);
    tcase_add_test(tc, test_settings_parses_cluster_flags_together);
    tcase_add_test(tc, test_settings_help_lists_the_cluster_flags);
    tcase_add_test(tc, test_settings_refuses_bad_node_ids);
    tcase_add_test(tc, test_settings_refuses_a_default_node_id_that_is_not_a_valid_id);
    tcase_add_test(tc, test_settings_refuses_malformed_peer_entries);
    tcase_add_test(tc, test_settings_refuses_duplicate_peers);
    tcase_add_test(tc, test_settings_refuses_vnodes_outside_1_to_65536);
    tcase_add_test(tc, test_settings_refuses_peer_timeouts_outside_1_to_60000);
    tcase_add_test(tc, test_settings_error_names_a_long_only_flag_by_its_long_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("gossip");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_settings_gossip_is_off_by_default);
    tcase_add_test(tc, test_settings_cluster_port_turns_gossip_on);
    tcase_add_test(tc, test_settings_join_turns_gossip_on_and_parses_like_peers);
    tcase_add_test(tc, test_settings_join_may_list_this_nodes_own_cluster_address);
    tcase_add_test(tc, test_settings_a_later_join_list_replaces_an_earlier_one);
    tcase_add_test(tc, test_settings_join_holds_up_to_128_seeds);
    tcase_add_test(tc, test_settings_cluster_port_defaults_to_the_client_port_plus_1000);
    tcase_add_test(tc, test_settings_refuses_a_default_cluster_port_above_65535);
    tcase_add_test(tc,
                   test_settings_cluster_key_takes_a_path_and_does_not_turn_gossip_on);
    tcase_add_test(tc, test_settings_refuses_empty_and_oversized_cluster_key_paths);
    tcase_add_test(
        tc, test_settings_gossip_interval_takes_50_to_60000_ms_and_defaults_to_500);
    tcase_add_test(tc, test_settings_refuses_gossip_intervals_outside_50_to_60000);
    tcase_add_test(tc, test_settings_refuses_cluster_ports_outside_1_to_65535);
    tcase_add_test(tc, test_settings_refuses_malformed_join_entries);
    tcase_add_test(tc, test_settings_refuses_peers_with_join);
    tcase_add_test(tc, test_settings_refuses_peers_with_cluster_port);
    tcase_add_test(tc, test_settings_parses_gossip_flags_together);
    tcase_add_test(tc, test_settings_help_lists_the_gossip_flags);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(settings_cluster_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
