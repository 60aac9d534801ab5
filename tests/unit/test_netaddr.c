/* SPDX-License-Identifier: Apache-2.0 */
/* Client addresses: parsing, trusted_proxies blocks, X-Forwarded-For. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "netaddr.h"

static struct net_addr addr(const char *s)
{
    struct net_addr a;
    if (net_addr_parse(s, strlen(s), &a) < 0)
        fail_msg("'%s' did not parse", s);
    return a;
}

static void test_parse_and_format(void **state)
{
    (void)state;
    static const char *const good[][2] = {
        {"127.0.0.1", "127.0.0.1"},
        {"::1", "::1"},
        {"2001:db8::10", "2001:db8::10"},
        {"::ffff:192.0.2.1", "192.0.2.1"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct net_addr a = addr(good[i][0]);
        char buf[64];
        net_addr_format(&a, buf, sizeof buf);
        assert_string_equal(buf, good[i][1]);
    }
    static const char *const bad[] = {"", "nginx", "1.2.3", "1.2.3.4.5", "::g", "1.2.3.4/8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct net_addr a;
        if (net_addr_parse(bad[i], strlen(bad[i]), &a) != -EINVAL)
            fail_msg("'%s' parsed", bad[i]);
    }
    struct net_addr m = addr("::ffff:10.0.0.1"), v4 = addr("10.0.0.1");
    assert_true(net_addr_equal(&m, &v4)); /* one client, whatever the socket */
}

static void test_cidr_list(void **state)
{
    (void)state;
    struct net_cidr *l;
    char bad[80];
    int n = net_cidr_list_parse(" 127.0.0.1, 10.0.0.0/8 2001:db8::/32,::ffff:172.16.0.0/108", &l,
                                bad, sizeof bad);
    assert_int_equal(n, 4);
    static const char *const in[] = {"127.0.0.1", "10.255.1.2", "2001:db8:ffff::1", "172.31.0.9",
                                     "::ffff:10.0.0.3"};
    static const char *const out[] = {"127.0.0.2", "11.0.0.1", "2001:db9::1", "172.32.0.1", "::1"};
    for (size_t i = 0; i < 5; i++) {
        struct net_addr a = addr(in[i]), b = addr(out[i]);
        if (!net_cidr_match(l, (size_t)n, &a))
            fail_msg("%s not in the list", in[i]);
        if (net_cidr_match(l, (size_t)n, &b))
            fail_msg("%s in the list", out[i]);
    }
    free(l);
    assert_int_equal(net_cidr_list_parse("", &l, bad, sizeof bad), 0);
    assert_null(l);
    static const char *const wrong[] = {"10.0.0.0/33", "::/129",       "10.0.0.1/",
                                        "1.2.3.4, x",  "10.0.0.0/8/8", "::ffff:1.2.3.4/95"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        if (net_cidr_list_parse(wrong[i], &l, bad, sizeof bad) != -EINVAL)
            fail_msg("'%s' accepted", wrong[i]);
        assert_null(l);
    }
}

/* The client net_forwarded_walk finds in one header, or "" for none. */
static void expect_client(const char *xff, const char *want)
{
    struct net_cidr *l;
    char bad[80];
    int n = net_cidr_list_parse("127.0.0.1 10.0.0.0/8 fd00::/8", &l, bad, sizeof bad);
    assert_int_equal(n, 3);
    struct net_addr a = {0};
    int found = 0;
    net_forwarded_walk(xff, l, (size_t)n, &a, &found);
    char got[64] = "";
    if (found)
        net_addr_format(&a, got, sizeof got);
    if (strcmp(got, want))
        fail_msg("X-Forwarded-For: %s -> '%s', expected '%s'", xff, got, want);
    free(l);
}

static void test_forwarded_for(void **state)
{
    (void)state;
    expect_client("198.51.100.7", "198.51.100.7");
    /* Right-most untrusted: whatever the client wrote on the left is ignored. */
    expect_client("6.6.6.6, 198.51.100.7", "198.51.100.7");
    expect_client("6.6.6.6,198.51.100.7 , 10.1.2.3,fd00::5", "198.51.100.7");
    expect_client("[2001:db8::1]:443, 10.0.0.1", "2001:db8::1");
    expect_client("192.0.2.9:5060", "192.0.2.9");
    /* All trusted: the left-most. */
    expect_client("10.0.0.7, 10.0.0.8", "10.0.0.7");
    /* Garbage where an address belongs ends the walk at the last good one. */
    expect_client("198.51.100.7, unknown", "");
    expect_client("unknown, 10.0.0.8", "10.0.0.8");
    expect_client("", "");
    expect_client(" , ,", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_cidr_list),
        cmocka_unit_test(test_forwarded_for),
    };
    return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}
