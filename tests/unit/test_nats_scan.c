/* SPDX-License-Identifier: Apache-2.0 */
/* The nats sink's reading of a stored record without parsing it whole
 * (kanal_nats_scan_record, plugins/nats/nats_common.c), against jansson:
 * for records of every shape it either gives the same end, id, source,
 * kind and seq, or gives up (NULL) so that the sink parses the record;
 * it never reads past the text (each text is its own allocation). */
#include "unit.h"

#include <jansson.h>

#include "nats_common.h"

/* A copy of text in a buffer of exactly its length (no NUL after it). */
static char *exact(const char *text, size_t *len)
{
    *len = strlen(text);
    char *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    memcpy(b, text, *len);
    return b;
}

/* Scan text; if it gives an answer, it must be jansson's. 1: scanned,
 * 0: gave up. */
static int check(const char *text)
{
    size_t len;
    char *b = exact(text, &len);
    struct kanal_nats_fields f;
    const char *e = kanal_nats_scan_record(b, b + len, &f);
    if (!e) {
        assert_null(f.id);
        assert_null(f.source);
        assert_null(f.kind);
        free(b);
        return 0;
    }
    json_error_t jerr;
    json_t *rec = json_loadb(b, len, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_true(json_is_object(rec));
    assert_int_equal(e - b, jerr.position);
    const char *keys[] = {"id", "source", "kind"};
    char *got[] = {f.id, f.source, f.kind};
    for (int i = 0; i < 3; i++) {
        const char *want = json_string_value(json_object_get(rec, keys[i]));
        if (want) {
            assert_non_null(got[i]);
            assert_string_equal(got[i], want);
        } else {
            assert_null(got[i]);
        }
    }
    assert_int_equal(f.seq, json_integer_value(json_object_get(rec, "seq")));
    json_decref(rec);
    kanal_nats_fields_free(&f);
    free(b);
    return 1;
}

static void test_a_stored_record_is_read(void **st)
{
    (void)st;
    assert_true(check("{\"v\":1,\"seq\":42,\"id\":\"hooks/message/m1\",\"source\":\"hooks\","
                      "\"kind\":\"message\",\"external_id\":\"m1\",\"text\":\"hello\"}"));
    /* Any order, blanks, and what follows the record (the batch's array). */
    assert_true(check("{ \"kind\" : \"message\" , \"text\":\"x\", \"seq\" : 7, \"source\":\"s\","
                      " \"id\":\"s/message/a\" },{\"seq\":8}]"));
}

/* Names of the fields inside other values are not the record's. */
static void test_only_top_level_fields_count(void **st)
{
    (void)st;
    assert_true(check("{\"meta\":{\"id\":\"no\",\"seq\":9,\"kind\":\"x\",\"n\":{\"source\":[1,"
                      "{\"id\":\"deep\"}]}},\"id\":\"a/b/c\",\"seq\":3,\"source\":\"a\","
                      "\"kind\":\"b\",\"text\":\"\\\"id\\\":\\\"fake\\\" } ] {\"}"));
    assert_true(check("{\"text\":\"{\\\"seq\\\":1}\",\"seq\":2,\"id\":\"x\",\"tags\":[\"}\",\"]\","
                      "{}],\"flag\":true,\"none\":null,\"score\":-1.5e3,\"source\":\"s\","
                      "\"kind\":\"k\"}"));
    assert_true(check("{\"text\":\"Merhaba, siparişim hâlâ gelmedi 🙂\",\"seq\":5,\"id\":\"s/k/ü\","
                      "\"source\":\"s\",\"kind\":\"k\"}"));
}

/* Escapes in the fields it copies, a seq that is not plain digits, a
 * duplicate field: it gives up, and the sink parses the record. */
static void test_what_is_not_plain_is_left_to_the_parser(void **st)
{
    (void)st;
    assert_false(check("{\"seq\":1,\"id\":\"s/k/q\\\"uote\",\"source\":\"s\",\"kind\":\"k\"}"));
    assert_false(check("{\"seq\":1,\"id\":\"s/k/x\",\"source\":\"s\\u0041\",\"kind\":\"k\"}"));
    assert_false(check("{\"seq\":-1,\"id\":\"x\"}"));
    assert_false(check("{\"seq\":1.0,\"id\":\"x\"}"));
    assert_false(check("{\"seq\":12345678901234567890,\"id\":\"x\"}"));
    assert_false(check("{\"id\":\"x\",\"id\":\"y\",\"seq\":1}"));
    assert_false(check("{\"id\":5,\"seq\":1}"));
    assert_false(check("{\"k\\\"ey\":1,\"id\":\"x\",\"seq\":1}"));
    assert_false(check("[1,2]"));
    assert_false(check(""));
}

/* Text that ends too early (every prefix of a record): never read past
 * it, never an answer jansson would not give. */
static void test_every_prefix_is_safe(void **st)
{
    (void)st;
    const char *rec = "{\"v\":1,\"seq\":42,\"id\":\"hooks/message/m1\",\"meta\":{\"a\":[1,"
                      "{\"b\":\"}\\\\\"}]},\"source\":\"hooks\",\"kind\":\"message\",\"t\":\"x\"}";
    size_t n = strlen(rec);
    for (size_t i = 0; i < n; i++) {
        char *p = strndup(rec, i);
        assert_non_null(p);
        assert_false(check(p));
        free(p);
    }
    assert_true(check(rec));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_stored_record_is_read),
        cmocka_unit_test(test_only_top_level_fields_count),
        cmocka_unit_test(test_what_is_not_plain_is_left_to_the_parser),
        cmocka_unit_test(test_every_prefix_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
