/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin kit's JSON and digest parts, checked against jansson and
 * OpenSSL (what the in-tree plugins used before the kit): every string the
 * escaper writes reads back the same, the validator agrees with jansson on
 * what is a JSON object or array, the getter unescapes, and SHA-256 is
 * SHA-256 at every length around the block edges; option binding fills
 * each type and leaves unset options' members as the plugin set them. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <kanal/kit.h>
#include <openssl/evp.h>

/* s escaped, read back by jansson, is s again. */
static void round_trip(const char *s, size_t n)
{
    struct kanal_kit_buf b = {0};
    assert_int_equal(kanal_kit_buf_json_string(&b, s, n), 0);
    json_error_t e;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    assert_non_null(v);
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), n);
    assert_memory_equal(json_string_value(v), s, n);
    json_decref(v);
    kanal_kit_buf_free(&b);
}

static void test_escaper_round_trips_every_character_class(void **state)
{
    char all[128];
    for (int i = 0; i < 128; i++) /* every ASCII byte, controls and NUL included */
        all[i] = (char)i;
    round_trip(all, sizeof all);
    for (int i = 0; i < 128; i++)
        round_trip(all + i, 1);
    const char *samples[] = {"",
                             "plain",
                             "quote \" and \\ backslash",
                             "line\nbreak\r\ttab",
                             "ç ğ ı ö ş ü",
                             "\xf0\x9f\x98\x80 emoji",
                             "</script>",
                             "\x7f"};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++)
        round_trip(samples[i], strlen(samples[i]));
}

static void test_error_answer_text_is_escaped(void **state)
{
    /* The same writer builds {"error":{"code","message"}}: a message with
     * quotes and controls still makes one JSON object. */
    struct kanal_kit_buf b = {0};
    const char *msg = "bad \"value\"\n\\ here";
    kanal_kit_buf_printf(&b, "{\"error\":{\"code\":");
    kanal_kit_buf_json_string(&b, "x", 1);
    kanal_kit_buf_printf(&b, ",\"message\":");
    kanal_kit_buf_json_string(&b, msg, strlen(msg));
    kanal_kit_buf_printf(&b, "}}");
    json_t *v = json_loads(b.data, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "message")),
                        msg);
    json_decref(v);
    kanal_kit_buf_free(&b);
}

static void test_validator_agrees_with_jansson(void **state)
{
    const char *texts[] = {
        "{}",
        "[]",
        "{\"a\":1}",
        "[1,2.5,-3e4,true,false,null,\"x\"]",
        " {\"a\" : [ {} ] } ",
        "{\"u\":\"\\u00e7\\ud83d\\ude00\"}",
        "{\"a\":1,}",
        "[1,]",
        "{a:1}",
        "[01]",
        "[1.]",
        "[\"\\x\"]",
        "{\"a\":1}x",
        "\"str\"",
        "42",
        "",
        "[",
        "{\"a\"}",
        "[\"\xff\"]",
        "[\"\xc0\x80\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"tab\there\"]",
        "[-]",
        "[1e]",
        "[tru]",
        "[\"\\u0000\"]",
        "{\"a\":{\"b\":[null]}}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        json_t *v = json_loads(texts[i], 0, NULL); /* objects and arrays only, no NUL */
        int depth;
        int ok = kanal_kit_json_valid(texts[i], strlen(texts[i]), 64, &depth);
        if (ok != (v != NULL))
            fail_msg("kit says %d, jansson %d for %s", ok, v != NULL, texts[i]);
        json_decref(v);
    }
    assert_false(kanal_kit_json_valid("[1]\0", 4, 64, &(int){0})); /* a NUL byte */
}

static void test_validator_counts_depth_and_stops_at_the_bound(void **state)
{
    char deep[2 * 200 + 1];
    for (int n = 1; n <= 200; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        int depth = -1;
        int ok = kanal_kit_json_valid(deep, 2 * (size_t)n, 63, &depth);
        assert_int_equal(ok, n <= 63);
        if (ok)
            assert_int_equal(depth, n);
    }
}

static void test_getter_unescapes_and_names_what_is_missing(void **state)
{
    const char *t =
        "{\"n\":1,\"deep\":{\"id\":\"inner\"},\"id\":\"a\\\"b\\\\c\\n\\u00e7\\ud83d\\ude00\","
        "\"list\":[1,{\"x\":2}],\"num\":5}";
    char out[64];
    assert_int_equal(kanal_kit_json_get_string(t, strlen(t), "id", out, sizeof out), 0);
    assert_string_equal(out, "a\"b\\c\n\xc3\xa7\xf0\x9f\x98\x80");
    assert_int_equal(kanal_kit_json_get_string(t, strlen(t), "x", out, sizeof out), -ENOENT);
    assert_int_equal(kanal_kit_json_get_string(t, strlen(t), "num", out, sizeof out), -EINVAL);
    assert_int_equal(kanal_kit_json_get_string(t, strlen(t), "id", out, 5), -ENOBUFS);
    assert_int_equal(kanal_kit_json_get_string("[1]", 3, "id", out, sizeof out), -EINVAL);
    assert_int_equal(kanal_kit_json_get_string("{\"id\":", 6, "id", out, sizeof out), -EINVAL);
}

static void test_sha256_is_sha256_at_every_length(void **state)
{
    unsigned char data[300], got[32], want[32];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof data; n++) {
        unsigned int wl = 0;
        assert_true(EVP_Digest(data, n, want, &wl, EVP_sha256(), NULL));
        kanal_kit_sha256(data, n, got);
        assert_memory_equal(got, want, 32);
    }
}

static void test_utf8_check(void **state)
{
    const char *good = "ascii \xc3\xa7 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_true(kanal_kit_utf8_valid(good, strlen(good)));
    for (size_t cut = 1; cut <= 3; cut++) /* a 4-byte character cut short */
        assert_false(kanal_kit_utf8_valid(good, strlen(good) - cut));
    const char *bad[] = {
        "\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(kanal_kit_utf8_valid(bad[i], strlen(bad[i])));
}

static void test_host_has_follows_the_hosts_size(void **state)
{
    /* A host whose table ends before a member does not have it; the size
     * of a table that ends just after it does. */
    struct kanal_host h = {.size = (uint32_t)offsetof(struct kanal_host, now_ms)};
    assert_false(KANAL_HOST_HAS(&h, now_ms));
    assert_true(KANAL_HOST_HAS(&h, format_time));
    h.size = (uint32_t)(offsetof(struct kanal_host, now_ms) + sizeof h.now_ms - 1);
    assert_false(KANAL_HOST_HAS(&h, now_ms));
    h.size = (uint32_t)sizeof h;
    assert_true(KANAL_HOST_HAS(&h, now_ms));
    assert_true(KANAL_HOST_HAS(&h, log));
    h.size = 8; /* the three version fields only */
    assert_false(KANAL_HOST_HAS(&h, log));
}

/* ---- option binding, against a host table whose options are a list ---- */

struct opt {
    const char *name;
    const char *text; /* a string option, or NULL */
    int numeric;      /* config_int: 0 set, -ENOENT unset, -EINVAL not numeric */
    int64_t num;
};

static const struct opt opts[] = {
    {"url", "https://example.com", -EINVAL, 0},
    {"empty", "", -EINVAL, 0},
    {"timeout", "30s", 0, 30000},
    {"huge", "9G", 0, 9LL * 1024 * 1024 * 1024},
    {"flag", "yes", 0, 1},
    {"unset", NULL, -ENOENT, 0},
};

static const struct opt *find_opt(const char *name)
{
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static const char *opt_string(struct kanal_source *src, const char *name)
{
    (void)src;
    const struct opt *o = find_opt(name);
    return o ? o->text : NULL;
}

static int opt_int(struct kanal_source *src, const char *name, int64_t *out)
{
    (void)src;
    const struct opt *o = find_opt(name);
    if (!o)
        return -ENOENT;
    if (o->numeric == 0)
        *out = o->num;
    return o->numeric;
}

static int logged;
static void opt_log(struct kanal_source *src, int level, const char *fmt, ...)
{
    (void)src;
    (void)fmt;
    logged += level == KANAL_LOG_ERR;
}

static const char *opt_strerror(int err)
{
    (void)err;
    return "error";
}

struct bound {
    const char *url, *empty, *unset_str;
    int64_t timeout, huge, unset_num;
    int flag, timeout_int;
};

static void test_bind_options_fills_each_type_and_keeps_unset_members(void **state)
{
    const struct kanal_host h = {.size = sizeof h,
                                 .config_string = opt_string,
                                 .config_int = opt_int,
                                 .log = opt_log,
                                 .strerror = opt_strerror};
    static const struct kanal_kit_bind table[] = {
        {"url", KANAL_KIT_STR, offsetof(struct bound, url)},
        {"empty", KANAL_KIT_STR, offsetof(struct bound, empty)},
        {"unset", KANAL_KIT_STR, offsetof(struct bound, unset_str)},
        {"timeout", KANAL_KIT_INT64, offsetof(struct bound, timeout)},
        {"huge", KANAL_KIT_INT64, offsetof(struct bound, huge)},
        {"unset", KANAL_KIT_INT64, offsetof(struct bound, unset_num)},
        {"flag", KANAL_KIT_BOOL, offsetof(struct bound, flag)},
        {"timeout", KANAL_KIT_INT, offsetof(struct bound, timeout_int)},
        {NULL, 0, 0},
    };
    /* Defaults the plugin set before the call stay when an option is unset. */
    struct bound b = {.unset_str = "default", .unset_num = 42};
    logged = 0;
    assert_int_equal(kanal_kit_bind_options(&h, NULL, table, &b), 0);
    assert_string_equal(b.url, "https://example.com");
    assert_string_equal(b.empty, "");
    assert_string_equal(b.unset_str, "default");
    assert_int_equal(b.timeout, 30000);
    assert_int_equal(b.huge, 9LL * 1024 * 1024 * 1024);
    assert_int_equal(b.unset_num, 42);
    assert_int_equal(b.flag, 1);
    assert_int_equal(b.timeout_int, 30000);
    assert_int_equal(logged, 0);

    /* An int that cannot hold the value, and a string read as a number,
     * are configuration errors, logged. */
    static const struct kanal_kit_bind too_big[] = {
        {"huge", KANAL_KIT_INT, offsetof(struct bound, timeout_int)}, {NULL, 0, 0}};
    assert_int_equal(kanal_kit_bind_options(&h, NULL, too_big, &b), KANAL_ECONFIG);
    assert_int_equal(b.timeout_int, 30000);
    static const struct kanal_kit_bind not_numeric[] = {
        {"url", KANAL_KIT_INT64, offsetof(struct bound, timeout)}, {NULL, 0, 0}};
    assert_int_equal(kanal_kit_bind_options(&h, NULL, not_numeric, &b), KANAL_ECONFIG);
    assert_int_equal(b.timeout, 30000);
    assert_int_equal(logged, 2);
}

/* The getter reads in one pass and answers as validating first would:
 * -EINVAL for any text kanal_kit_json_valid refuses (a fault before, at
 * or after the member), else the member as jansson reads it.  Checked on
 * every prefix and on single-byte changes of member-rich objects. */
static int getter_reference(const char *t, size_t n, const char *key, char *out, size_t cap)
{
    int depth;
    if (!kanal_kit_json_valid(t, n, KANAL_KIT_MAX_DEPTH, &depth))
        return -EINVAL;
    json_error_t e;
    json_t *v = json_loadb(t, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!v)
        return 1; /* a duplicate key (jansson keeps the last): not compared */
    int r;
    json_t *m = json_is_object(v) ? json_object_get(v, key) : NULL;
    if (!json_is_object(v))
        r = -EINVAL;
    else if (!m)
        r = -ENOENT;
    else if (!json_is_string(m))
        r = -EINVAL;
    else if (json_string_length(m) + 1 > cap)
        r = -ENOBUFS;
    else {
        memcpy(out, json_string_value(m), json_string_length(m) + 1);
        r = 0;
    }
    json_decref(v);
    return r;
}

static void getter_agrees(const char *t, size_t n)
{
    static const char *const keys[] = {"text", "id", "a", "n", "zz"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        char want[256], got[256];
        for (size_t cap = 4; cap <= sizeof got; cap *= 8) {
            int r = getter_reference(t, n, keys[k], want, cap);
            if (r == 1)
                return;
            int g = kanal_kit_json_get_string(t, n, keys[k], got, cap);
            assert_int_equal(g, r);
            if (g == 0)
                assert_string_equal(got, want);
            /* The record reader stops at the member: the same answer on
             * valid text, any answer (read within n) on the rest. */
            int rg = kanal_kit_record_get_string(t, n, keys[k], got, cap);
            if (r != -EINVAL || g != -EINVAL) {
                int depth;
                if (kanal_kit_json_valid(t, n, KANAL_KIT_MAX_DEPTH, &depth)) {
                    assert_int_equal(rg, r);
                    if (rg == 0)
                        assert_string_equal(got, want);
                }
            }
        }
    }
}

static void test_getter_reads_in_one_pass_as_validating_first(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"id\":\"x1\",\"text\":\"G\\u00fczel \\\"\\u00e7ok\\\" \\ud83d\\ude00\\n\",\"a\":[1,2.5e3,"
        "{\"text\":\"inner\"}],\"n\":null}",
        " { \"a\" : { \"b\" : [ true , false , null ] } , \"text\" : \"t\" , \"zz\" : -0.0 } ",
        "{\"text\":\"first\",\"id\":{},\"x\":[[],[[]]],\"n\":\"\\/\\b\\f\\r\\t\\\\\"}",
        "{\"text\":12,\"id\":\"\\u00e9\\u20ac\",\"a\":\"Ş ı İ ğ 😀\"}",
        "{}",
    };
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        const char *doc = docs[d];
        size_t n = strlen(doc);
        char *t = malloc(n + 1);
        assert_non_null(t);
        for (size_t cut = 0; cut <= n; cut++)
            getter_agrees(doc, cut);
        static const char subst[] = {'"', '\\', ',', ':', '}', ']', '{', 'x', '1', ' ', '\x01',
                                     (char)0xc3, (char)0xff};
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < sizeof subst; c++) {
                memcpy(t, doc, n + 1);
                t[i] = subst[c];
                getter_agrees(t, n);
            }
        free(t);
    }
    /* What follows the member is not read by the record reader. */
    static const char tail[] = "{\"text\":\"ok\",\"raw\":[1,2,";
    char got[16];
    assert_int_equal(kanal_kit_json_get_string(tail, strlen(tail), "text", got, sizeof got),
                     -EINVAL);
    assert_int_equal(kanal_kit_record_get_string(tail, strlen(tail), "text", got, sizeof got), 0);
    assert_string_equal(got, "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaper_round_trips_every_character_class),
        cmocka_unit_test(test_error_answer_text_is_escaped),
        cmocka_unit_test(test_validator_agrees_with_jansson),
        cmocka_unit_test(test_validator_counts_depth_and_stops_at_the_bound),
        cmocka_unit_test(test_getter_unescapes_and_names_what_is_missing),
        cmocka_unit_test(test_getter_reads_in_one_pass_as_validating_first),
        cmocka_unit_test(test_sha256_is_sha256_at_every_length),
        cmocka_unit_test(test_utf8_check),
        cmocka_unit_test(test_host_has_follows_the_hosts_size),
        cmocka_unit_test(test_bind_options_fills_each_type_and_keeps_unset_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
