/* SPDX-License-Identifier: Apache-2.0 */
/* Audiences (daemon/score/audience.c): ids, match words, and which
 * records belong to which audience. */
#include "unit.h"

#include <errno.h>

#include "audience.h"
#include "util.h"

static void test_parse_ids(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        enum audience_kind kind;
        const char *value;
    } good[] = {
        {"all", AUDIENCE_ALL, NULL},
        {"source:wa-main", AUDIENCE_SOURCE, "wa-main"},
        {"channel:email", AUDIENCE_CHANNEL, "email"},
        {"campaign:spring-2026", AUDIENCE_CAMPAIGN, "spring-2026"},
        {"event:123456", AUDIENCE_EVENT, "123456"},
        {"thread:1234_5678", AUDIENCE_THREAD, "1234_5678"},
        {"thread:a:b", AUDIENCE_THREAD, "a:b"}, /* the value may hold a colon */
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct audience a;
        if (audience_parse(good[i].id, &a) != 0)
            fail_msg("audience_parse(\"%s\") refused", good[i].id);
        assert_int_equal(a.kind, good[i].kind);
        assert_string_equal(a.id, good[i].id);
        if (good[i].value)
            assert_string_equal(a.value, good[i].value);
        else
            assert_null(a.value);
        audience_free(&a);
    }
    static const char *const bad[] = {"source:",    "event:",         "nosuch:x", "thread:a b",
                                      "channel:\t", "campaign:x\x7f", ":x"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct audience a;
        if (audience_parse(bad[i], &a) != -EINVAL)
            fail_msg("audience_parse(\"%s\") not -EINVAL", bad[i]);
    }
    char big[AUDIENCE_ID_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "event:", 6);
    struct audience a;
    assert_int_equal(audience_parse(big, &a), -EINVAL);
    big[AUDIENCE_ID_MAX] = 0; /* exactly the longest */
    assert_int_equal(audience_parse(big, &a), 0);
    audience_free(&a);
    /* A name with no colon: not a built-in, perhaps a named audience. */
    assert_int_equal(audience_parse("vip", &a), -ENOENT);
}

static void test_names_and_words(void **state)
{
    (void)state;
    assert_true(audience_name_ok("vip"));
    assert_true(audience_name_ok("Istanbul_2026.fans-1"));
    assert_false(audience_name_ok(""));
    assert_false(audience_name_ok("all"));
    assert_false(audience_name_ok("event:1"));
    assert_false(audience_name_ok("two words"));
    char longname[66];
    memset(longname, 'a', 65);
    longname[65] = 0;
    assert_false(audience_name_ok(longname));
    longname[64] = 0;
    assert_true(audience_name_ok(longname));

    static const char *const good[] = {
        "source:wa-main",
        "source:wa-main,web kind:message,comment",
        "  channel:email\tcampaign:c1 ",
        "event:1,2 within:30d",
        "thread:p1 within:12h kind:comment",
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        if (audience_match_check(good[i]))
            fail_msg("\"%s\" refused: %s", good[i], audience_match_check(good[i]));
    static const char *const bad[] = {
        "",        "   ",     "source",      "source:",   "colour:red",          "kind:a,,b",
        "kind:,a", "kind:a,", "within:soon", "within:0s", "within:1d within:2d", "within:1d,2d",
        ":x",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        if (!audience_match_check(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);

    struct audience a;
    assert_int_equal(audience_named(&a, "all", "kind:message"), -EINVAL);
    assert_int_equal(audience_named(&a, "vip", "colour:red"), -EINVAL);
    assert_int_equal(audience_named(&a, "vip", "kind:message within:7d"), 0);
    assert_int_equal(a.kind, AUDIENCE_NAMED);
    assert_string_equal(a.id, "vip");
    assert_int_equal(a.within_ms, 7 * 86400000LL);
    audience_free(&a);
}

static json_t *rec(const char *json)
{
    json_error_t err;
    json_t *r = json_loads(json, 0, &err);
    if (!r)
        fail_msg("bad test record: %s", err.text);
    return r;
}

/* Each audience against each record: whether it belongs. */
static void test_matches(void **state)
{
    (void)state;
    int64_t now;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &now), 0);
    json_t *r[] = {
        /* 0: a WhatsApp message, recent */
        rec("{\"source\":\"wa-main\",\"channel\":\"whatsapp\",\"kind\":\"message\","
            "\"external_id\":\"w1\",\"occurred_at\":\"2026-11-30T10:00:00.000Z\"}"),
        /* 1: a comment in thread p1, old */
        rec("{\"source\":\"fb\",\"channel\":\"facebook\",\"kind\":\"comment\","
            "\"external_id\":\"c1\",\"thread\":\"p1\",\"reply_to\":\"p1\","
            "\"occurred_at\":\"2026-09-01T10:00:00.000Z\"}"),
        /* 2: the post p1 itself */
        rec("{\"source\":\"fb\",\"channel\":\"facebook\",\"kind\":\"post\","
            "\"external_id\":\"p1\",\"occurred_at\":\"2026-08-31T10:00:00.000Z\"}"),
        /* 3: a sign-up to event 42 */
        rec("{\"source\":\"eb\",\"channel\":\"signup\",\"kind\":\"signup\","
            "\"external_id\":\"a1\",\"event\":{\"id\":\"42\"},"
            "\"occurred_at\":\"2026-11-20T10:00:00.000Z\"}"),
        /* 4: a click of campaign spring */
        rec("{\"source\":\"kanal\",\"channel\":\"web\",\"kind\":\"click\","
            "\"external_id\":\"k1\",\"campaign\":\"spring\","
            "\"occurred_at\":\"2026-11-29T10:00:00.000Z\"}"),
        /* 5: a merge: kanald's bookkeeping, in no audience */
        rec("{\"source\":\"kanal\",\"channel\":\"kanal\",\"kind\":\"merge\","
            "\"external_id\":\"m1\",\"occurred_at\":\"2026-11-30T10:00:00.000Z\"}"),
        /* 6: a record whose time does not parse */
        rec("{\"source\":\"wa-main\",\"channel\":\"whatsapp\",\"kind\":\"message\","
            "\"external_id\":\"w2\",\"occurred_at\":\"yesterday\"}"),
    };
    static const struct {
        const char *id, *match; /* match NULL: a built-in id */
        const char *want;       /* one character per record */
    } cases[] = {
        {"all", NULL, "1111101"},
        {"source:wa-main", NULL, "1000001"},
        {"source:fb", NULL, "0110000"},
        {"channel:facebook", NULL, "0110000"},
        {"campaign:spring", NULL, "0000100"},
        {"campaign:autumn", NULL, "0000000"},
        {"event:42", NULL, "0001000"},
        {"event:4", NULL, "0000000"},
        {"thread:p1", NULL, "0110000"},
        {"recent", "within:30d", "1001100"},
        {"fbcomments", "source:fb,wa-main kind:comment,message", "1100001"},
        {"recent_wa", "source:wa-main within:7d", "1000000"},
        {"ev", "event:41,42", "0001000"},
        {"th", "thread:p1", "0100000"}, /* the word is the thread field only */
        {"clicks", "kind:click campaign:spring", "0000100"},
    };
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        struct audience a;
        if (cases[c].match)
            assert_int_equal(audience_named(&a, cases[c].id, cases[c].match), 0);
        else
            assert_int_equal(audience_parse(cases[c].id, &a), 0);
        for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
            int got = audience_matches(&a, r[i], now);
            if (got != (cases[c].want[i] == '1'))
                fail_msg("%s: record %zu: %d, expected %c", cases[c].id, i, got, cases[c].want[i]);
        }
        audience_free(&a);
    }
    for (size_t i = 0; i < ARRAY_SIZE(r); i++)
        json_decref(r[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ids),
        cmocka_unit_test(test_names_and_words),
        cmocka_unit_test(test_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
