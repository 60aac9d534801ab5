/* SPDX-License-Identifier: Apache-2.0 */
/* A processor's annotation goes into the record's text as it is only when
 * it is already exactly what the store writes for it (jansson reads it,
 * jsonout writes it back byte for byte, nesting within bounds): never a
 * "yes" for anything else, whatever the bytes; and the text with the
 * annotations added is byte for byte the record serialized with them. */
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <kanal/schema.h>

#include "annotext.h"
#include "jsonout.h"
#include "record_check.h"

#define MAXD (KANAL_MAX_DEPTH - 2)

/* What the slow way stores for s: jansson's value, jsonout's text; 1 when
 * that is s itself and nests within max. */
static int oracle(const char *s, size_t n, int max)
{
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    if (!v)
        return 0;
    size_t len = 0;
    char *text = record_check_depth(v, max) ? jsonout_dump(v, &len) : NULL;
    int same = text && len == n && memcmp(text, s, n) == 0;
    free(text);
    json_decref(v);
    return same;
}

/* The check never says yes where the slow way would store other bytes. */
static void sound(const char *s, size_t n)
{
    if (annotext_canonical(s, n, MAXD) && !oracle(s, n, MAXD)) {
        fprintf(stderr, "accepted, but stored otherwise: '%.*s'\n", (int)n, s);
        fail();
    }
}

static void test_what_is_and_is_not_the_stored_form(void **st)
{
    (void)st;
    static const char *const yes[] = {
        "{\"label\":\"negative\",\"score\":-0.4588,\"lang\":\"tr\",\"complaint\":true}",
        "{\"tags\":[\"kargo\",\"iade\"]}",
        "{}",
        "[]",
        "null",
        "true",
        "false",
        "0",
        "-7",
        "123456789012345678",
        "1.0",
        "-0.0",
        "0.0001",
        "0.5",
        "123456789012345.0",
        "0.123456789012345",
        "\"\"",
        "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\"",
        "\"\\u001F\\u0001\"",
        "\"çok güzel 😀 \x7f\"",
        "{\"a\":{\"b\":[1,2,{\"c\":null}]},\"d\":\"\"}",
        "{\"a\":1,\"b\":{\"a\":2}}",
    };
    static const char *const no[] = {
        " {}",
        "{} ",
        "{\"a\": 1}",
        "{\"a\":1,\"a\":2}",
        "\"\\u00e9\"",
        "\"\\u001f\"",
        "\"\\u000A\"",
        "\"\\u0000\"",
        "\"\\/\"",
        "\"a\x01\"",
        "1.50",
        "1e5",
        "1E5",
        "1.5e3",
        "-0",
        "01",
        "1.",
        ".5",
        "+1",
        "0.00001",
        "1234567890123456.0",
        "0.1234567890123456",
        "1234567890123456789",
        "\"\xc3\"",
        "\"\xc0\xaf\"",
        "\"\xe0\x80\xaf\"",
        "\"\xf0\x80\x80\xaf\"",
        "\"\xed\xa0\x80\"",
        "\"\xf5\x80\x80\x80\"",
        "\"\xe2\x82\"",
        "\"\xf4\x90\x80\x80\"",
        "{\"a\":1,}",
        "[1,]",
        "[1 ,2]",
        "nul",
        "tru",
        "{\"a\"}",
        "\"open",
        "{",
        "[",
        "",
        "{}{}",
        "NaN",
        "Infinity",
        "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        size_t n = strlen(yes[i]);
        if (!annotext_canonical(yes[i], n, MAXD)) {
            fprintf(stderr, "refused: '%s'\n", yes[i]);
            fail();
        }
        assert_true(oracle(yes[i], n, MAXD));
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        size_t n = strlen(no[i]);
        if (annotext_canonical(no[i], n, MAXD)) {
            fprintf(stderr, "accepted: '%s'\n", no[i]);
            fail();
        }
    }
    /* A NUL inside. */
    assert_false(annotext_canonical("\"a\0b\"", 5, MAXD));
}

static void test_nesting_is_bounded_as_the_store_counts_it(void **st)
{
    (void)st;
    char buf[2 * KANAL_MAX_DEPTH + 8];
    for (int depth = 1; depth <= KANAL_MAX_DEPTH; depth++) {
        /* depth - 1 arrays around a 1: depth levels. */
        size_t n = 0;
        for (int i = 0; i < depth - 1; i++)
            buf[n++] = '[';
        buf[n++] = '1';
        for (int i = 0; i < depth - 1; i++)
            buf[n++] = ']';
        assert_int_equal(annotext_canonical(buf, n, MAXD), depth <= MAXD);
        assert_int_equal(oracle(buf, n, MAXD), depth <= MAXD);
    }
}

static unsigned long long rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static json_t *random_string(void)
{
    static const char *const pieces[] = {"a",  "Z",    " ",    "\"",   "\\", "/", "\n",
                                         "\t", "\x01", "\x1f", "\x7f", "ç",  "ğ", "İ",
                                         "ı",  "€",    "😀",    "e",    "0",  "{", "}"};
    char buf[64];
    size_t n = 0, k = rnd(6);
    buf[0] = '\0';
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[rnd(sizeof pieces / sizeof *pieces)];
        memcpy(buf + n, p, strlen(p) + 1);
        n += strlen(p);
    }
    return json_string(buf);
}

static json_t *random_real(void)
{
    static const double scale[] = {1, 10, 1000, 1e6, 1e-3, 1e-5, 1e15, 1e17, 1e300, 1e-300};
    switch (rnd(4)) {
    case 0: /* a score: a few decimals */
        return json_real((double)((int)rnd(20001) - 10000) / 10000.0);
    case 1:
        return json_real((double)rnd(1000000) * scale[rnd(10)]);
    case 2:
        return json_real(((double)rnd(1u << 30) / (1u << 30)) * scale[rnd(10)]);
    default:
        return json_real((double)((int)rnd(201) - 100));
    }
}

static json_t *random_value(int depth)
{
    unsigned k = depth > 4 ? 4 + rnd(5) : rnd(9);
    switch (k) {
    case 0: {
        json_t *o = json_object();
        for (unsigned i = rnd(5); i > 0; i--) {
            json_t *key = random_string();
            json_object_set_new(o, json_string_value(key), random_value(depth + 1));
            json_decref(key);
        }
        return o;
    }
    case 1:
    case 2: {
        json_t *a = json_array();
        for (unsigned i = rnd(4); i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    case 3:
        return json_object();
    case 4:
    case 5:
        return random_string();
    case 6:
        return random_real();
    case 7:
        return json_integer((json_int_t)rnd(2000000) - 1000000);
    default:
        return rnd(3) == 0 ? json_null() : json_boolean(rnd(2));
    }
}

/* Random values as jsonout writes them, then each mangled a byte at a
 * time: every text the check accepts is stored as it is. */
static void test_random_values_and_their_mutations(void **st)
{
    (void)st;
    static const char bytes[] = " \t\"\\/,:[]{}0123456789.-+eEnul\x01\xc3\xa7\xff";
    size_t accepted = 0, scores = 0;
    for (int round = 0; round < 20000; round++) {
        json_t *v = random_value(0);
        size_t n;
        char *text = jsonout_dump(v, &n);
        assert_non_null(text);
        sound(text, n);
        accepted += (size_t)annotext_canonical(text, n, MAXD);
        for (int m = 0; m < 8 && n > 0; m++) {
            char *t = malloc(n + 2);
            memcpy(t, text, n);
            size_t tn = n, at = rnd((unsigned)n);
            switch (rnd(3)) {
            case 0:
                t[at] = bytes[rnd(sizeof bytes - 1)];
                break;
            case 1:
                memmove(t + at + 1, t + at, n - at);
                t[at] = bytes[rnd(sizeof bytes - 1)];
                tn++;
                break;
            default:
                memmove(t + at, t + at + 1, n - at - 1);
                tn--;
            }
            sound(t, tn);
            free(t);
        }
        free(text);
        json_decref(v);
        /* What a sentiment processor answers is always taken as it is. */
        json_t *ann = json_pack("{s:s,s:o,s:s,s:b}", "label", rnd(2) ? "positive" : "negative",
                                "score", json_real((double)((int)rnd(20001) - 10000) / 10000.0),
                                "lang", "tr", "complaint", (int)rnd(2));
        text = jsonout_dump(ann, &n);
        scores += (size_t)annotext_canonical(text, n, MAXD);
        assert_true(oracle(text, n, MAXD));
        free(text);
        json_decref(ann);
    }
    assert_int_equal(scores, 20000);
    assert_true(accepted > 10000); /* most of the class goes the fast way */
}

/* Numbers as text of every shape: signs, leading zeros, 1 to 19 digits
 * before and after the point, trailing zeros, exponents; whatever the
 * check takes is what jsonout writes for it. */
static void test_numbers_of_every_shape(void **st)
{
    (void)st;
    char buf[64];
    size_t accepted = 0;
    for (int round = 0; round < 200000; round++) {
        size_t n = 0;
        if (rnd(3) == 0)
            buf[n++] = '-';
        unsigned il = 1 + rnd(19), fl = rnd(3) ? rnd(19) : 0;
        for (unsigned i = 0; i < il; i++)
            buf[n++] = (char)('0' + (i == 0 && rnd(2) ? 0 : rnd(10)));
        if (fl || rnd(4) == 0) {
            buf[n++] = '.';
            unsigned zeros = rnd(6);
            for (unsigned i = 0; i < fl; i++)
                buf[n++] = (char)('0' + (i < zeros ? 0 : rnd(10)));
        }
        if (rnd(5) == 0)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "e%d", (int)rnd(40) - 20);
        sound(buf, n);
        accepted += (size_t)annotext_canonical(buf, n, MAXD);
    }
    assert_true(accepted > 10000);
}

/* A record-like object, its text, then annotations added both ways. */
static void test_added_annotations_are_the_record_serialized_with_them(void **st)
{
    (void)st;
    static const char *const names[] = {"sentiment", "tagger", "lang.id", "x-1_y"};
    for (int round = 0; round < 2000; round++) {
        json_t *rec = json_pack("{s:i,s:i,s:s,s:o}", "v", 1, "seq", 0, "id", "s/message/1", "meta",
                                random_value(3));
        for (unsigned i = rnd(4); i > 0; i--)
            json_object_set_new(rec, i == 1 ? "text" : i == 2 ? "raw" : "contact", random_value(2));
        struct annotext t = {0};
        t.p = jsonout_dump(rec, &t.len);
        assert_non_null(t.p);
        t.cap = t.len + 1;
        unsigned k = 1 + rnd(4);
        for (unsigned i = 0; i < k; i++) {
            json_t *ann = random_value(1);
            size_t n;
            char *text = jsonout_dump(ann, &n);
            json_t *all = json_object_get(rec, "annotations");
            if (!all) {
                all = json_object();
                json_object_set_new(rec, "annotations", all);
            }
            json_object_set_new(all, names[i], ann);
            assert_int_equal(annotext_add(&t, names[i], text, n), 0);
            free(text);
            size_t want_len;
            char *want = jsonout_dump(rec, &want_len);
            assert_int_equal(t.len, want_len);
            assert_memory_equal(t.p, want, want_len);
            assert_int_equal(t.p[t.len], '\0');
            /* ann_at points at the annotations' object, which runs to the end. */
            json_t *back = json_loadb(t.p + t.ann_at, t.len - t.ann_at - 1, 0, NULL);
            assert_non_null(back);
            assert_true(json_equal(back, all));
            json_decref(back);
            free(want);
        }
        free(t.p);
        json_decref(rec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_what_is_and_is_not_the_stored_form),
        cmocka_unit_test(test_nesting_is_bounded_as_the_store_counts_it),
        cmocka_unit_test(test_random_values_and_their_mutations),
        cmocka_unit_test(test_numbers_of_every_shape),
        cmocka_unit_test(test_added_annotations_are_the_record_serialized_with_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
