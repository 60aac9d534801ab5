/* SPDX-License-Identifier: Apache-2.0 */
/* rawbound: finding each record's raw in emitted text without parsing it,
 * and the bounded form an unknown record's raw is kept in. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "jsonin.h"
#include "rawbound.h"

struct want {
    size_t rec;
    const char *text; /* the raw value's text */
};

/* Scan text; expect exactly the spans in want, and a cut text that is text
 * with each of them replaced by null. */
static void expect_spans(const char *text, const struct want *want, size_t n, const char *cut_want)
{
    struct raw_span *spans;
    char *cut;
    size_t cut_len;
    size_t got = rawbound_scan(text, strlen(text), &spans, &cut, &cut_len);
    if (got != n)
        fail_msg("%s: %zu spans, want %zu", text, got, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(spans[i].rec, want[i].rec);
        assert_int_equal(spans[i].len, strlen(want[i].text));
        assert_memory_equal(text + spans[i].off, want[i].text, spans[i].len);
    }
    if (n) {
        assert_int_equal(cut_len, strlen(cut_want));
        assert_string_equal(cut, cut_want);
    } else {
        assert_null(cut);
    }
    free(spans);
    free(cut);
}

static void test_scan_finds_raw_at_record_level_only(void **state)
{
    (void)state;
    expect_spans("{\"kind\":\"unknown\",\"raw\":[[[1]]],\"meta\":{}}",
                 (struct want[]){{0, "[[[1]]]"}}, 1,
                 "{\"kind\":\"unknown\",\"raw\":null,\"meta\":{}}");
    /* White space anywhere JSON allows it. */
    expect_spans(" { \"raw\" \n:\t\"a\\\"}b\" , \"x\":1 } ", (struct want[]){{0, "\"a\\\"}b\""}}, 1,
                 " { \"raw\" \n:\tnull , \"x\":1 } ");
    /* Scalars, and raw as the last member. */
    expect_spans("{\"a\":1,\"raw\":12.5e3}", (struct want[]){{0, "12.5e3"}}, 1,
                 "{\"a\":1,\"raw\":null}");
    /* A "raw" below the record, or as a string value, is not the record's. */
    expect_spans("{\"meta\":{\"raw\":[1]},\"x\":\"raw\",\"y\":[\"raw\",{\"raw\":2}]}", NULL, 0,
                 NULL);
    /* Brackets and quotes inside strings do not count. */
    expect_spans("{\"s\":\"{[\\\\\",\"raw\":{\"k\":\"]}\\\"\"}}",
                 (struct want[]){{0, "{\"k\":\"]}\\\"\"}"}}, 1, "{\"s\":\"{[\\\\\",\"raw\":null}");
    /* No raw, or no object or array at the top. */
    expect_spans("{\"kind\":\"message\"}", NULL, 0, NULL);
    expect_spans("\"raw\"", NULL, 0, NULL);
    expect_spans("", NULL, 0, NULL);
}

static void test_scan_numbers_records_of_an_array(void **state)
{
    (void)state;
    /* Every element counts, whatever it is; a repeated key is found twice. */
    expect_spans("[1,{\"raw\":[]},\"x\",{\"a\":{\"raw\":1},\"raw\":\"\\u0000\",\"raw\":2}]",
                 (struct want[]){{1, "[]"}, {3, "\"\\u0000\""}, {3, "2"}}, 3,
                 "[1,{\"raw\":null},\"x\",{\"a\":{\"raw\":1},\"raw\":null,\"raw\":null}]");
    /* Records that are arrays hold no members. */
    expect_spans("[[\"raw\",1],{\"raw\":0}]", (struct want[]){{1, "0"}}, 1,
                 "[[\"raw\",1],{\"raw\":null}]");
}

static void test_scan_any_depth_and_what_jsonin_refuses(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *text = malloc(2 * depth + 64);
    char *p = text + sprintf(text, "[{\"kind\":\"unknown\",\"raw\":");
    memset(p, '[', depth);
    memset(p + depth, ']', depth);
    strcpy(p + 2 * depth, "}]");
    struct raw_span *spans;
    char *cut;
    size_t cut_len;
    assert_int_equal(rawbound_scan(text, strlen(text), &spans, &cut, &cut_len), 1);
    assert_int_equal(spans[0].len, 2 * depth);
    assert_string_equal(cut, "[{\"kind\":\"unknown\",\"raw\":null}]");
    char err[160];
    json_t *j = jsonin_parse(cut, cut_len, err, sizeof err);
    assert_non_null(j);
    json_decref(j);
    free(spans);
    free(cut);
    free(text);
}

static void test_scan_refuses_what_it_cannot_delimit(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"raw\":[[1]",  /* unclosed */
        "{\"raw\":\"abc", /* unterminated string */
        "{\"raw\":}",     /* no value */
        "{\"raw\":",      /* nothing after */
        "{\"a\":\"x}",    /* unterminated string before */
        "{\"raw\":1}]]",  /* more closed than opened */
        "{\"raw\" 1}",    /* no colon: not a key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct raw_span *spans;
        char *cut;
        size_t cut_len;
        if (rawbound_scan(bad[i], strlen(bad[i]), &spans, &cut, &cut_len) != 0)
            fail_msg("%s: spans found", bad[i]);
        assert_null(spans);
        assert_null(cut);
    }
}

static void expect_form(const char *text, size_t len, size_t max, const char *want_str,
                        int want_truncated)
{
    int truncated = -1;
    json_t *raw = rawbound_form(text, len, max, &truncated);
    assert_non_null(raw);
    assert_int_equal(truncated, want_truncated);
    if (want_str) {
        assert_true(json_is_string(raw));
        assert_string_equal(json_string_value(raw), want_str);
    } else {
        assert_true(json_is_object(raw));
        assert_non_null(json_string_value(json_object_get(raw, "base64")));
    }
    json_decref(raw);
}

static void test_form_is_text_cut_on_a_character_boundary(void **state)
{
    (void)state;
    expect_form("[1,2]", 5, 64, "[1,2]", 0);
    expect_form("abcdef", 6, 4, "abcd", 1);
    /* "ş" is 2 bytes, "€" 3, "😀" 4: a cut inside one leaves it out whole. */
    expect_form("ab\xc5\x9f", 4, 3, "ab", 1);
    expect_form("a\xe2\x82\xac", 4, 3, "a", 1);
    expect_form("a\xe2\x82\xac", 4, 2, "a", 1);
    expect_form("a\xf0\x9f\x98\x80z", 6, 4, "a", 1);
    expect_form("a\xf0\x9f\x98\x80z", 6, 5, "a\xf0\x9f\x98\x80", 1);
    /* Not UTF-8, or a NUL byte: base64. */
    expect_form("\xff\xfe", 2, 64, NULL, 0);
    expect_form("a\0b", 3, 64, NULL, 0);
    expect_form("\xff\xfe\xfd\xfc\xfb", 5, 4, NULL, 1);
}

static void test_apply_sets_raw_and_meta(void **state)
{
    (void)state;
    json_t *in = json_pack("{s:s,s:i}", "kind", "unknown", "raw", 1);
    assert_int_equal(rawbound_apply(in, "[[[[1]]]]", 9, 4, "why"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "raw")), "[[[[");
    json_t *meta = json_object_get(in, "meta");
    assert_true(json_is_true(json_object_get(meta, "raw_truncated")));
    assert_int_equal(json_integer_value(json_object_get(meta, "raw_size")), 9);
    assert_string_equal(json_string_value(json_object_get(meta, "raw_bounded")), "why");
    json_decref(in);
    /* A meta that is no object is left for the record check to refuse. */
    in = json_pack("{s:s,s:i}", "kind", "unknown", "meta", 5);
    assert_int_equal(rawbound_apply(in, "x", 1, 64, "why"), 0);
    assert_int_equal(json_integer_value(json_object_get(in, "meta")), 5);
    json_decref(in);
}

static void test_too_large_measures_strings_as_themselves(void **state)
{
    (void)state;
    char *dumped;
    const char *text;
    size_t len;
    json_t *in = json_pack("{s:s}", "raw", "abcd");
    assert_int_equal(rawbound_too_large(in, 4, &dumped, &text, &len), 0);
    assert_int_equal(rawbound_too_large(in, 3, &dumped, &text, &len), 1);
    assert_null(dumped);
    assert_int_equal(len, 4);
    assert_memory_equal(text, "abcd", 4);
    json_decref(in);
    in = json_pack("{s:[i,i]}", "raw", 1, 2);
    assert_int_equal(rawbound_too_large(in, 5, &dumped, &text, &len), 0);
    assert_int_equal(rawbound_too_large(in, 4, &dumped, &text, &len), 1);
    assert_string_equal(dumped, "[1,2]");
    assert_ptr_equal(text, dumped);
    free(dumped);
    json_decref(in);
    in = json_pack("{s:n}", "raw");
    assert_int_equal(rawbound_too_large(in, 0, &dumped, &text, &len), 0);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_finds_raw_at_record_level_only),
        cmocka_unit_test(test_scan_numbers_records_of_an_array),
        cmocka_unit_test(test_scan_any_depth_and_what_jsonin_refuses),
        cmocka_unit_test(test_scan_refuses_what_it_cannot_delimit),
        cmocka_unit_test(test_form_is_text_cut_on_a_character_boundary),
        cmocka_unit_test(test_apply_sets_raw_and_meta),
        cmocka_unit_test(test_too_large_measures_strings_as_themselves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
