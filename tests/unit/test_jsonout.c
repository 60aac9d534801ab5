/* The record serializer writes exactly what json_dumps(JSON_COMPACT) does. */
#include "unit.h"

#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "jsonout.h"

static void same_value(json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = jsonout_dump(v, &len);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
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
                    "\\t\\u001f\\u007f\",\"slash\":\"a/b\",\"nul\":\"x\\u0000y\"}");
    same_as_jansson("[true,false,null,0,-1,9223372036854775807,-9223372036854775808]");
    same_as_jansson("{\"r\":1.5,\"e\":1e100,\"small\":-0.000123,\"whole\":2.0}");
    same_as_jansson("{\"nested\":[[[],{}],{\"a\":[1,{\"b\":\"c\"}]}],\"\":\"empty key\"}");
    same_as_jansson("\"\\u2028\\u2029 separators\"");
}

/* Reals as jansson writes them: a confidence on every identity link. */
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
        same_value(v);
        json_decref(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_records),
                                       cmocka_unit_test(test_reals),
                                       cmocka_unit_test(test_strings)};
    return cmocka_run_group_tests_name("jsonout", tests, NULL, NULL);
}
