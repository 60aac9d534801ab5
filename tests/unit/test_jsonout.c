/* SPDX-License-Identifier: Apache-2.0 */
/* The record serializer writes exactly what json_dumps(JSON_COMPACT) does,
 * for every value a record may hold, but for reals, which it writes in the
 * fewest digits that read back as the same double; it refuses what no
 * reader of kanal's would take back: nesting deeper than KANAL_MAX_DEPTH, a
 * NUL in a string. */
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <kanal/schema.h>

#include "jsonout.h"

/* What jsonout writes for v: jansson's text, but each real in the fewest
 * digits (15, 16 or 17) that read back as the same double (jansson writes
 * %.17g: 0.90000000000000002).  jansson has one precision for all the reals
 * of a value, so arrays and objects are composed from their members. */
static void expect(FILE *f, json_t *v)
{
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    const char *key;
    json_t *m;
    size_t i;
    char *t = NULL;
    switch (json_typeof(v)) {
    case JSON_ARRAY:
        fputc('[', f);
        json_array_foreach(v, i, m)
        {
            fputs(i ? "," : "", f);
            expect(f, m);
        }
        fputc(']', f);
        return;
    case JSON_OBJECT:
        fputc('{', f);
        i = 0;
        json_object_foreach(v, key, m)
        {
            json_t *k = json_string(key);
            t = json_dumps(k, flags);
            fprintf(f, "%s%s:", i++ ? "," : "", t);
            free(t);
            json_decref(k);
            expect(f, m);
        }
        fputc('}', f);
        return;
    case JSON_REAL:
        for (int digits = 15; digits <= 17; digits++) {
            t = json_dumps(v, flags | JSON_REAL_PRECISION(digits));
            json_t *back = json_loads(t, JSON_DECODE_ANY, NULL);
            int same = json_number_value(back) == json_real_value(v);
            json_decref(back);
            if (same || digits == 17)
                break;
            free(t);
        }
        break;
    default:
        t = json_dumps(v, flags);
    }
    fputs(t, f);
    free(t);
}

static char *expected(json_t *v)
{
    char *text = NULL;
    size_t size;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    expect(f, v);
    fclose(f);
    return text;
}

static void same_value(json_t *v)
{
    char *want = expected(v);
    size_t len = 0;
    char *got = jsonout_dump(v, &len);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
}

/* jsonout refuses v: NULL, with errno EINVAL (the value's fault). */
static void refused(const json_t *v)
{
    size_t len = 12345;
    errno = 0;
    char *got = jsonout_dump(v, &len);
    if (got)
        fail_msg("jsonout wrote %.80s", got);
    assert_int_equal(errno, EINVAL);
}

static void same_as_jansson(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v)
        fail_msg("bad fixture %s: %s", text, e.text);
    same_value(v);
    json_decref(v);
}

static void test_records(void **state)
{
    (void)state;
    same_as_jansson("{\"v\":1,\"seq\":42,\"id\":\"s/message/m1\",\"text\":\"Merhaba, sipari\\u015fim "
                    "h\\u00e2l\\u00e2 gelmedi \\ud83d\\ude42\",\"from\":{\"handle\":"
                    "\"email:a@example.com\",\"role\":\"customer\",\"handles\":[\"email:a@example."
                    "com\",\"phone:+905321234567\"]},\"to\":[],\"meta\":{}}");
    same_as_jansson("{\"quote\":\"say \\\"hi\\\"\",\"back\":\"a\\\\b\",\"ctl\":\"\\u0001\\b\\f\\n\\r"
                    "\\t\\u001f\\u007f\",\"slash\":\"a/b\"}");
    same_as_jansson("[true,false,null,0,-1,9223372036854775807,-9223372036854775808]");
    same_as_jansson("{\"r\":1.5,\"e\":1e100,\"small\":-0.000123,\"whole\":2.0}");
    same_as_jansson("{\"nested\":[[[],{}],{\"a\":[1,{\"b\":\"c\"}]}],\"\":\"empty key\"}");
    same_as_jansson("\"\\u2028\\u2029 separators\"");
}

/* Reals as people write them: a confidence on every identity link is 0.9,
 * not 0.90000000000000002, and every text reads back as the same double. */
static void test_short_reals(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *text;
    } cases[] = {{0.9, "0.9"},
                 {0.95, "0.95"},
                 {0.6, "0.6"},
                 {0.1, "0.1"},
                 {1.0, "1.0"},
                 {-0.0, "-0.0"},
                 {0.1 + 0.2, "0.30000000000000004"},
                 {1.0 / 3.0, "0.3333333333333333"},
                 {2.0 / 3.0, "0.6666666666666666"},
                 {1e22, "1e22"},
                 {1e-7, "1e-7"},
                 {123456789012345678.0, "1.2345678901234568e17"},
                 {5e-324, "4.94065645841247e-324"}, /* subnormal: 15 digits read back */
                 {12345.678, "12345.678"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_pack("{s:f}", "confidence", cases[i].d);
        size_t len;
        char *got = jsonout_dump(v, &len);
        char want[80];
        snprintf(want, sizeof want, "{\"confidence\":%s}", cases[i].text);
        assert_string_equal(got, want);
        free(got);
        got = jsonout_text(v);
        assert_string_equal(got, want);
        free(got);
        json_decref(v);
    }
}

/* Every real: the shortest text that reads back, in jansson's form. */
static void test_reals(void **state)
{
    (void)state;
    static const double fixed[] = {0.9, 0.95, 0.6, 1.0, 0.0, -0.0, 0.1, 100.0, 1e-7, 1e300,
                                   -2.5e-10, 123456789012345678.0, 5e-324, 1.7976931348623157e308,
                                   1e21, 1e22, 3.0e-5, 12345.678};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        json_t *v = json_pack("{s:f,s:[f]}", "r", fixed[i], "a", fixed[i]);
        same_value(v);
        json_decref(v);
    }
    /* The same reals again and again, in an order that makes them evict one
     * another from the writer's small cache of real texts. */
    json_t *many = json_array();
    const size_t nfixed = sizeof fixed / sizeof fixed[0];
    for (size_t i = 0; i < 20 * nfixed; i++)
        json_array_append_new(many, json_real(fixed[(i * 7 + i / nfixed) % nfixed]));
    same_value(many);
    json_decref(many);
    uint64_t x = 88172645463325252ULL; /* xorshift: every kind of bit pattern */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        json_t *v = json_real(d); /* NULL for NaN and infinities */
        if (!v)
            continue;
        same_value(v);
        json_decref(v);
    }
}

/* Strings are scanned eight bytes at a time: every byte that needs an
 * escape, at every position of a word and across words, in strings of every
 * length up to 40, with two-byte UTF-8 around them. */
static void test_strings(void **state)
{
    (void)state;
    static const char *const parts[] = {"a", "Z", " ", "~", "\x7f", "\"", "\\", "/",
                                        "\n", "\t", "\x01", "\x1f", "\x00", "\xc5\x9f"};
    const size_t nparts = sizeof parts / sizeof parts[0];
    uint64_t x = 2463534242ULL;
    char buf[128];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t want = (size_t)(x % 41), len = 0;
        uint64_t r = x;
        while (len < want) {
            const char *p = parts[r % nparts];
            size_t pl = p[0] ? strlen(p) : 1; /* "\x00" is one NUL byte */
            memcpy(buf + len, p, pl);
            len += pl;
            r = r / nparts ? r / nparts : x >> 3 | 1;
        }
        /* Mostly plain text: only every fourth string gets the specials. */
        for (size_t k = 0; i % 4 && k < len; k++) {
            unsigned char c = (unsigned char)buf[k];
            if (c < 0x20 || c == '"' || c == '\\')
                buf[k] = 'q';
        }
        json_t *v = json_stringn(buf, len);
        if (!v)
            fail_msg("fixture %d is not UTF-8", i);
        if (memchr(buf, '\0', len))
            refused(v);
        else
            same_value(v);
        json_decref(v);
    }
}

/* levels arrays one inside the other around inner (consumed). */
static json_t *nest(int levels, json_t *inner)
{
    json_t *v = inner;
    for (int i = 0; i < levels; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

/* Up to KANAL_MAX_DEPTH levels (the value itself the first, every value a
 * level, as jsonin counts) jsonout writes what jansson writes; one more and
 * it refuses, however the levels are made up. */
static void test_depth_limit(void **state)
{
    (void)state;
    for (int levels = KANAL_MAX_DEPTH - 2; levels <= KANAL_MAX_DEPTH + 2; levels++) {
        json_t *around_number = nest(levels - 1, json_integer(7));
        json_t *empty_inside = nest(levels - 1, json_array());
        json_t *objects = json_string("deepest");
        for (int i = 1; i < levels; i++)
            objects = json_pack("{s:o}", i % 2 ? "k" : "m", objects);
        /* A record-like value: the deep part under meta, after other members. */
        json_t *rec = json_pack("{s:i,s:s,s:o}", "v", 1, "text", "hi", "meta",
                                json_pack("{s:o}", "d", nest(levels - 3, json_true())));
        json_t *all[] = {around_number, empty_inside, objects, rec};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            if (levels <= KANAL_MAX_DEPTH)
                same_value(all[i]);
            else
                refused(all[i]);
            json_decref(all[i]);
        }
    }
}

/* A NUL in a string (jansson's json_stringn allows one) would be written
 * as \u0000, which jsonin and jansson's reader refuse: jsonout refuses it,
 * wherever the string is. */
static void test_nul_refused(void **state)
{
    (void)state;
    json_t *nul = json_stringn("x\0y", 3);
    assert_non_null(nul);
    refused(nul);
    json_t *in_record = json_pack("{s:i,s:s,s:{s:[s,O]}}", "v", 1, "text", "ok", "meta", "a",
                                  "fine", nul);
    refused(in_record);
    json_decref(in_record);
    json_t *at_end = json_stringn("abcdefghijklmnop\0", 17); /* after the fast run */
    refused(at_end);
    json_decref(at_end);
    json_decref(nul);
    /* A member name with a NUL (jansson takes one through json_object_setn)
     * is refused too, not cut at the NUL, whether it is short or long. */
    static const struct {
        const char *key;
        size_t len;
    } keys[] = {{"a\0b", 3}, {"\0", 1}, {"abcdefghij\0k", 12}, {"abcdefgh\0", 9}};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *o = json_pack("{s:i}", "v", 1);
        assert_int_equal(json_object_setn_new(o, keys[i].key, keys[i].len, json_true()), 0);
        refused(o);
        json_decref(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_records),
                                       cmocka_unit_test(test_reals),
                                       cmocka_unit_test(test_short_reals),
                                       cmocka_unit_test(test_strings),
                                       cmocka_unit_test(test_depth_limit),
                                       cmocka_unit_test(test_nul_refused)};
    return cmocka_run_group_tests_name("jsonout", tests, NULL, NULL);
}
