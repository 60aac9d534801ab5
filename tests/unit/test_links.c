/* SPDX-License-Identifier: Apache-2.0 */
/* Public links: the rate limiter (per token, per client, a table that never
 * grows) and the cut of stored header values. */
#include "unit.h"

#include <jansson.h>

#include "config.h"
#include "http.h"
#include "linkhit.h"
#include "links.h"

/* The links' context as main.c makes it: cfg points at the config pointer
 * a reload replaces. */
struct fixture {
    struct links l;
    struct config cfg, *current;
    struct http_req req;
};

static struct fixture *fixture_new(int64_t rate, int64_t client_rate, int64_t table)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->cfg.link_rate = rate;
    f->cfg.link_rate_client = client_rate;
    f->cfg.link_rate_table = table;
    f->current = &f->cfg;
    f->l.cfg = &f->current;
    strcpy(f->req.peer, "192.0.2.1");
    return f;
}

static void fixture_free(struct fixture *f)
{
    links_free(&f->l);
    free(f);
}

static void test_token_limit(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(3, 1000, 100);
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += links_rate_ok(&f->l, &f->req, "tokenAAAAAAAA");
    assert_int_equal(ok, 3);
    assert_int_equal(links_state(&f->l)->stats.limited, 7);
    assert_true(links_rate_ok(&f->l, &f->req, "tokenBBBBBBBB")); /* its own budget */
    fixture_free(f);
}

static void test_client_limit_across_tokens_and_ipv6_prefix(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(1000, 2, 100);
    char tok[32];
    int ok = 0;
    /* Addresses of one IPv6 /64 are one client. */
    static const char *const peers[] = {"2001:db8:1:2::1", "2001:db8:1:2::2",
                                        "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::9"};
    for (int i = 0; i < 4; i++) {
        strcpy(f->req.peer, peers[i]);
        snprintf(tok, sizeof tok, "token%08d", i);
        ok += links_rate_ok(&f->l, &f->req, tok);
    }
    assert_int_equal(ok, 2);
    strcpy(f->req.peer, "2001:db8:1:3::1"); /* another /64 */
    assert_true(links_rate_ok(&f->l, &f->req, "tokenCCCCCCCC"));
    strcpy(f->req.peer, "192.0.2.7"); /* IPv4: per address */
    assert_true(links_rate_ok(&f->l, &f->req, "tokenDDDDDDDD"));
    fixture_free(f);
}

static void test_client_key(void **state)
{
    (void)state;
    char buf[46];
    assert_string_equal(links_client_key("2001:db8:1:2:3:4:5:6", buf), "2001:db8:1:2::");
    assert_string_equal(links_client_key("::1", buf), "::");
    assert_string_equal(links_client_key("192.0.2.1", buf), "192.0.2.1");
    assert_string_equal(links_client_key("::ffff:192.0.2.1", buf), "::ffff:192.0.2.1");
    assert_string_equal(links_client_key("not an address", buf), "not an address");
}

static void test_table_never_grows(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(10, 100000, 16);
    char tok[32];
    int ok = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(tok, sizeof tok, "token%08d", i);
        ok += links_rate_ok(&f->l, &f->req, tok);
        assert_true(links_state(&f->l)->live <= 16);
    }
    assert_int_equal(ok, 15); /* the client's entry and 15 tokens */
    assert_int_equal(links_state(&f->l)->size, 32);
    fixture_free(f);
}

/* A reload replaces the config the context points at: the new limits hold
 * from the next hit, and a new table size starts the table afresh. */
static void test_limits_follow_the_current_config(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(1, 1000, 100);
    assert_true(links_rate_ok(&f->l, &f->req, "tokenAAAAAAAA"));
    assert_false(links_rate_ok(&f->l, &f->req, "tokenAAAAAAAA"));
    assert_int_equal(links_state(&f->l)->live, 2); /* the token and the client */
    struct config next = f->cfg;
    next.link_rate = 1000;
    next.link_rate_table = 64;
    f->current = &next;
    assert_int_equal(links_state(&f->l)->live, 0);
    assert_int_equal(links_state(&f->l)->size, 128);
    for (int i = 0; i < 5; i++)
        assert_true(links_rate_ok(&f->l, &f->req, "tokenAAAAAAAA"));
    assert_int_equal(links_state(&f->l)->stats.limited, 1); /* counters stay */
    fixture_free(f);
}

static void expect_clean(const char *in, size_t max, const char *want)
{
    json_t *j = links_clean_text(in, max);
    assert_non_null(j);
    assert_string_equal(json_string_value(j), want);
    assert_true(strlen(json_string_value(j)) <= max);
    json_decref(j);
}

static void test_clean_text(void **state)
{
    (void)state;
    expect_clean("Mozilla/5.0", 256, "Mozilla/5.0");
    expect_clean("abcdef", 4, "abcd");
    expect_clean("a\xc5\x9f\xc5\x9f", 4, "a\xc5\x9f");           /* not half a ş */
    expect_clean("\xe2\x82\xac\xe2\x82\xac", 5, "\xe2\x82\xac"); /* € is 3 bytes */
    expect_clean("\xf0\x9f\x98\x80z", 3, "");                    /* 😀 is 4 */
    expect_clean("a\xff"
                 "b",
                 16,
                 "a\xef\xbf\xbd"
                 "b");                                        /* invalid byte */
    expect_clean("a\xc3", 16, "a\xef\xbf\xbd");               /* truncated sequence */
    expect_clean("\xc0\xaf", 16, "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong '/' */
    expect_clean("\xed\xa0\x80", 16, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    expect_clean("\xf4\x90\x80\x80", 16,
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* beyond U+10FFFF */
    expect_clean("tab\there", 16, "tab\xef\xbf\xbdhere");
    expect_clean("x\xff", 3, "x"); /* the replacement does not fit: cut before it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_limit),
        cmocka_unit_test(test_client_limit_across_tokens_and_ipv6_prefix),
        cmocka_unit_test(test_client_key),
        cmocka_unit_test(test_table_never_grows),
        cmocka_unit_test(test_limits_follow_the_current_config),
        cmocka_unit_test(test_clean_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
