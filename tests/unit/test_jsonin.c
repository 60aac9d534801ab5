/* SPDX-License-Identifier: Apache-2.0 */
/* The emit reader accepts and refuses what json_loadb(text, len, 0) does,
 * and builds equal values, except where it differs on purpose (see
 * jsonin.c): nesting deeper than KANAL_MAX_DEPTH, which jansson reads up to
 * 2048 levels, and a NUL byte right after a number or literal, which
 * jansson skips.  Those two are tested as differences below. */
#include "unit.h"

#include <jansson.h>
#include <kanal/schema.h>

#include "jsonin.h"
#include "util.h"

/* Both readers on the same bytes: both refuse, or both accept equal values. */
static void agree(const char *text, size_t len)
{
    json_error_t e;
    char err[160];
    json_t *want = json_loadb(text, len, 0, &e);
    json_t *got = jsonin_parse(text, len, err, sizeof err);
    if (!want != !got)
        fail_msg("%.*s: json_loadb %s, jsonin %s", (int)(len > 200 ? 200 : len), text,
                 want ? "accepts" : e.text, got ? "accepts" : err);
    if (want && !json_equal(want, got))
        fail_msg("%.*s: different values", (int)(len > 200 ? 200 : len), text);
    /* json_equal treats 1 and 1.0 alike: the types must match too. */
    if (want) {
        char *a = json_dumps(want, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    if (!got)
        assert_true(strncmp(err, "line ", 5) == 0);
    json_decref(want);
    json_decref(got);
}

static void agree_s(const char *text)
{
    agree(text, strlen(text));
}

static const char *const samples[] = {
    "{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":\"m-1\",\"occurred_at\":"
    "\"2026-11-23T10:00:00.000Z\",\"from\":{\"handle\":\"email:person0@example.com\",\"handles\":"
    "[\"phone:+905320000000\"],\"name\":\"Ay\xc5\x9f" "e Y\xc4\xb1lmaz\"},\"thread\":\"t-0\",\"text\":"
    "\"Merhaba, sipari\xc5\x9fim h\xc3\xa2l\xc3\xa2 gelmedi\",\"meta\":{\"bench\":true}}",
    "[{\"a\":1},{\"b\":[1,2.5,-3e2,0,-0,1E+2,1e-2]},null,true,false,\"\"]",
    "{\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e7\\u20ac\\ud83d\\ude42\"}",
    " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n",
    "{\"dup\":1,\"dup\":2,\"x\":{\"dup\":[3],\"dup\":\"last\"}}",
    "{\"big\":9223372036854775807,\"neg\":-9223372036854775808,\"r\":1.7976931348623157e308}",
    "{\"tiny\":1e-400,\"z\":0.0,\"e\":5e0}",
};

static const char *const refused[] = {
    "", " ", "1", "\"s\"", "true", "null", "{", "[", "{]", "[}", "{\"a\"}", "{\"a\":}", "{a:1}",
    "[1,]", "{\"a\":1,}", "[01]", "[-]", "[1.]", "[.5]", "[1e]", "[1e+]", "[+1]", "[-01]",
    "[tru]", "[truex]", "[nul]", "[NaN]", "[Infinity]", "[1]x", "{} {}", "[\"\\x\"]",
    "[\"\\u00\"]", "[\"\\u0000\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]",
    "[\"\\ud800x\"]", "[\"a\nb\"]", "[\"\x01\"]", "[\"\xc3\"]", "[\"\xc0\x80\"]", "[\"\xed\xa0\x80\"]",
    "[\"\xf4\x90\x80\x80\"]", "[\"\xff\"]", "[\"\xe0\x80\x80\"]", "[9223372036854775808]",
    "[-9223372036854775809]", "[1e400]", "[-1e400]", "[\"unterminated", "[\"\\", "{\"a\":1 \"b\":2}",
};

static void test_samples(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(samples); i++)
        agree_s(samples[i]);
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
        agree_s(refused[i]);
    agree("[\"a\0b\"]", 7); /* a NUL byte inside a string */
    agree("[1]\0", 4);      /* and after the value */
    agree("{\"a\0\":1}", 8);
}

/* Where the two readers differ on purpose: jansson accepts, jsonin
 * refuses, with a message starting "line N: ". */
static void differ(const char *text, size_t len, const char *why)
{
    json_error_t e;
    char err[160];
    json_t *want = json_loadb(text, len, 0, &e);
    json_t *got = jsonin_parse(text, len, err, sizeof err);
    if (!want)
        fail_msg("%.*s: json_loadb refuses (%s): no longer a difference", (int)(len > 80 ? 80 : len),
                 text, e.text);
    if (got)
        fail_msg("%.*s: jsonin accepts", (int)(len > 80 ? 80 : len), text);
    assert_true(strncmp(err, "line ", 5) == 0);
    if (!strstr(err, why))
        fail_msg("jsonin's error '%s' does not say '%s'", err, why);
    json_decref(want);
}

/* levels values one inside the other: arrays around a number, or around an
 * empty array when empty_inside (every value counts as a level, as in
 * jansson); cut short after the opening brackets when cut. */
static void nest(int levels, int empty_inside, int cut, char **text, size_t *len)
{
    int arrays = empty_inside ? levels : levels - 1;
    char *t = malloc((size_t)arrays * 2 + 2);
    assert_non_null(t);
    memset(t, '[', (size_t)arrays);
    size_t n = (size_t)arrays;
    if (!empty_inside)
        t[n++] = '7';
    if (!cut) {
        memset(t + n, ']', (size_t)arrays);
        n += (size_t)arrays;
    }
    *text = t;
    *len = cut ? (size_t)arrays : n;
}

static void test_nesting_limit(void **state)
{
    (void)state;
    /* Up to KANAL_MAX_DEPTH levels both readers read the same; beyond it,
     * where jansson goes on to 2048, jsonin refuses: the one limit jsonout
     * and record checks share. */
    for (int levels = KANAL_MAX_DEPTH - 2; levels <= KANAL_MAX_DEPTH + 2; levels++)
        for (int inner = 0; inner < 2; inner++) {
            char *t;
            size_t len;
            nest(levels, inner, 0, &t, &len);
            if (levels <= KANAL_MAX_DEPTH)
                agree(t, len);
            else
                differ(t, len, "maximum parsing depth");
            free(t);
            nest(levels, inner, 1, &t, &len);
            agree(t, len); /* cut short: both refuse */
            free(t);
        }
    /* And far beyond, around jansson's own limit, jsonin still refuses. */
    for (int levels = 2046; levels <= 2049; levels++) {
        char *t;
        size_t len;
        nest(levels, 0, 0, &t, &len);
        json_t *got = jsonin_parse(t, len, NULL, 0);
        assert_null(got);
        free(t);
    }
}

/* A NUL byte right after a number, true, false or null inside a container:
 * jansson's reader skips it and accepts ({"a":true\0} reads as
 * {"a":true}); jsonin refuses a NUL byte anywhere outside a string like any
 * other stray byte, so that nothing a plugin emitted is dropped unread.
 * After the whole value both refuse. */
static void test_nul_after_a_token(void **state)
{
    (void)state;
    differ("{\"a\":true\0}", 11, "expected");
    differ("{\"a\":1\0,\"b\":2}", 14, "expected");
    differ("[1,2\0]", 6, "expected");
    differ("[false\0]", 8, "expected");
    differ("[null\0,1]", 9, "expected");
    differ("[-1.5e3\0]", 9, "expected");
    agree("{\"a\":true}\0", 11);
    agree("{\"a\":true}\0{\"b\":1}", 18);
    agree("[\"a\"\0]", 6);
}

/* Random damage to valid documents: whatever it does, the readers agree. */
static void test_mutations(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\":,\\u0123456789abcdefABCDEF.eE+-tnrl \n\x01\x7f"
                                   "\xc3\xa7\xe2\x82\xac\xf0\x9f\x99\x82\xed\xa0\x80\xff";
    unsigned seed = 20261123;
    char buf[1024];
    for (int round = 0; round < 200000; round++) {
        const char *s = samples[(unsigned)round % ARRAY_SIZE(samples)];
        size_t len = strlen(s);
        memcpy(buf, s, len);
        int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
        for (int k = 0; k < edits; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % (len + 1);
            seed = seed * 1103515245u + 12345u;
            char c = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
            switch ((seed >> 20) % 3) {
            case 0: /* replace */
                if (at < len)
                    buf[at] = c;
                break;
            case 1: /* insert */
                if (len + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            default: /* delete */
                if (at < len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
            }
        }
        agree(buf, len);
    }
}

/* Strings are read eight plain ASCII bytes at a time: every byte that ends
 * the fast run (quote, backslash, control, DEL, non-ASCII, valid or not) at
 * every place of a word, in strings of every length up to three words, and
 * the same strings cut short. */
static void test_string_words(void **state)
{
    (void)state;
    static const char *const odd[] = {"\"", "\\n", "\\u00e7", "\x01", "\x1f", " ", "\x7f",
                                      "\x80", "\xc3\xa7", "\xe2\x82\xac", "\xf0\x9f\x99\x82",
                                      "\xc3", "\xed\xa0\x80", "\n", "~"};
    char buf[64];
    for (size_t len = 0; len <= 24; len++)
        for (size_t at = 0; at <= len; at++)
            for (size_t k = 0; k < ARRAY_SIZE(odd); k++) {
                size_t n = 0;
                buf[n++] = '[';
                buf[n++] = '"';
                for (size_t i = 0; i < len; i++) {
                    if (i == at)
                        for (const char *o = odd[k]; *o; o++)
                            buf[n++] = *o;
                    buf[n++] = (char)('a' + i % 26);
                }
                if (at == len)
                    for (const char *o = odd[k]; *o; o++)
                        buf[n++] = *o;
                buf[n++] = '"';
                buf[n++] = ']';
                agree(buf, n);
                agree(buf, n - 2); /* unterminated */
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_nul_after_a_token),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_string_words),
    };
    return cmocka_run_group_tests_name("jsonin", tests, NULL, NULL);
}
