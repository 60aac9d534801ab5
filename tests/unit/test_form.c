/* SPDX-License-Identifier: Apache-2.0 */
/* application/x-www-form-urlencoded: Twilio's webhooks and query strings. */
#include "unit.h"

#include "form.h"

#define MAX_PAIRS 16

struct pairs {
    char *name[MAX_PAIRS], *value[MAX_PAIRS];
    size_t n;
    size_t stop_after; /* return 7 after this many pairs; 0: never */
};

static int collect(void *arg, const char *name, const char *value)
{
    struct pairs *p = arg;
    assert_true(p->n < MAX_PAIRS);
    p->name[p->n] = strdup(name);
    p->value[p->n] = strdup(value);
    p->n++;
    return p->stop_after && p->n == p->stop_after ? 7 : 0;
}

static void pairs_free(struct pairs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->name[i]);
        free(p->value[i]);
    }
    p->n = 0;
}

static void assert_pair(const struct pairs *p, size_t i, const char *name, const char *value)
{
    assert_true(i < p->n);
    assert_string_equal(p->name[i], name);
    assert_string_equal(p->value[i], value);
}

static void test_decode_in_order(void **state)
{
    (void)state;
    static const char in[] = "a=1&b=hello+world&c=%C5%9F%20x&empty=&noval";
    struct pairs p = {.n = 0};
    assert_int_equal(form_decode(in, strlen(in), collect, &p), 0);
    assert_int_equal(p.n, 5);
    assert_pair(&p, 0, "a", "1");
    assert_pair(&p, 1, "b", "hello world");
    assert_pair(&p, 2, "c", "\xC5\x9F x"); /* "ş x" */
    assert_pair(&p, 3, "empty", "");
    assert_pair(&p, 4, "noval", "");
    pairs_free(&p);
}

static void test_decode_names_and_separators(void **state)
{
    (void)state;
    /* Empty pieces are skipped, names are decoded too, only the first '='
     * splits, and len bounds the input (no NUL needed). */
    static const char in[] = "&&Media+Url%30=http%3A%2F%2Fx%2Fa%3Fb%3D1&&k=v=w&cut=123456";
    struct pairs p = {.n = 0};
    assert_int_equal(form_decode(in, strlen(in) - 3, collect, &p), 0);
    assert_int_equal(p.n, 3);
    assert_pair(&p, 0, "Media Url0", "http://x/a?b=1");
    assert_pair(&p, 1, "k", "v=w");
    assert_pair(&p, 2, "cut", "123");
    pairs_free(&p);

    assert_int_equal(form_decode("", 0, collect, &p), 0);
    assert_int_equal(p.n, 0);
}

static void test_decode_stops_on_callback(void **state)
{
    (void)state;
    static const char in[] = "a=1&b=2&c=3";
    struct pairs p = {.n = 0, .stop_after = 2};
    assert_int_equal(form_decode(in, strlen(in), collect, &p), 7);
    assert_int_equal(p.n, 2);
    assert_pair(&p, 1, "b", "2");
    pairs_free(&p);
}

static void test_get(void **state)
{
    (void)state;
    static const char in[] = "a=1&b=hello+world&c=%C5%9F%20x&empty=&noval&b=second";
    char *v = form_get(in, strlen(in), "b");
    assert_non_null(v);
    assert_string_equal(v, "hello world"); /* the first of repeated names */
    free(v);
    v = form_get(in, strlen(in), "c");
    assert_non_null(v);
    assert_string_equal(v, "\xC5\x9F x");
    free(v);
    v = form_get(in, strlen(in), "empty");
    assert_non_null(v);
    assert_string_equal(v, "");
    free(v);
    v = form_get(in, strlen(in), "noval");
    assert_non_null(v);
    assert_string_equal(v, "");
    free(v);
    assert_null(form_get(in, strlen(in), "missing"));
    assert_null(form_get(in, strlen(in), "A")); /* names are case-sensitive */
    assert_null(form_get(in, strlen(in), "hello"));
    assert_null(form_get("", 0, "a"));
}

/* Malformed escapes are kept literally, never half-decoded or over-read. */
static void test_unescape_edges(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        int plus;
    } v[] = {
        {"%zz", "%zz", 1},   {"100%", "100%", 1},    {"%4", "%4", 1},
        {"%4g", "%4g", 1},   {"a%2", "a%2", 1},      {"%41%42", "AB", 1},
        {"%e2%82%AC", "\xe2\x82\xac", 1},            {"100%25", "100%", 1},
        {"a+b", "a b", 1},   {"a+b", "a+b", 0},      {"%2B", "+", 1},
        {"%%41", "%A", 1},   {"", "", 1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t len = strlen(v[i].in);
        /* An exact-size heap copy: reading past the end would show. */
        char *in = malloc(len ? len : 1);
        char *out = malloc(len + 1);
        assert_non_null(in);
        assert_non_null(out);
        memcpy(in, v[i].in, len);
        size_t n = form_unescape(in, len, out, v[i].plus);
        if (n != strlen(v[i].out) || strcmp(out, v[i].out) != 0)
            fail_msg("form_unescape(\"%s\") = \"%s\" (%zu), expected \"%s\"", v[i].in, out, n,
                     v[i].out);
        free(in);
        free(out);
    }
    /* %00 decodes to a NUL byte, counted in the length. */
    char out[4];
    assert_int_equal(form_unescape("a%00b", 5, out, 1), 3);
    assert_memory_equal(out, "a\0b", 4);
}

static void test_decode_bad_escapes(void **state)
{
    (void)state;
    static const char in[] = "x=%zz&y=50%&z=%4&%=%";
    struct pairs p = {.n = 0};
    assert_int_equal(form_decode(in, strlen(in), collect, &p), 0);
    assert_int_equal(p.n, 4);
    assert_pair(&p, 0, "x", "%zz");
    assert_pair(&p, 1, "y", "50%");
    assert_pair(&p, 2, "z", "%4");
    assert_pair(&p, 3, "%", "%");
    pairs_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_in_order),
        cmocka_unit_test(test_decode_names_and_separators),
        cmocka_unit_test(test_decode_stops_on_callback),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_unescape_edges),
        cmocka_unit_test(test_decode_bad_escapes),
    };
    return cmocka_run_group_tests_name("form", tests, NULL, NULL);
}
