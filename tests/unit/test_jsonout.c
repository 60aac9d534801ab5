/* The record serializer writes exactly what json_dumps(JSON_COMPACT) does. */
#include "unit.h"

#include <jansson.h>

#include "jsonout.h"

static void same_as_jansson(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v)
        fail_msg("bad fixture %s: %s", text, e.text);
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = jsonout_dump(v, &len);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_records)};
    return cmocka_run_group_tests_name("jsonout", tests, NULL, NULL);
}
