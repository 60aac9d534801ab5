/* SPDX-License-Identifier: Apache-2.0 */
/* score_peek (daemon/score/peek.c) reads a record's few fields from its
 * text as jsonin's parse has them: on records drawn at random from every
 * kind of member (the wanted keys and others, strings plain, escaped or
 * not ASCII, numbers, literals, arrays, objects holding the same keys,
 * "event" as an object or not, repeated keys, white space), whenever it
 * takes a record that parses, each field is the parse's.  It takes
 * kanald's own records, and refuses texts it cannot be sure of. */
#include "unit.h"

#include "jsonin.h"
#include "peek.h"
#include "peek_field.h"
#include "recgen.h"

static const char *const keys[] = {"kind",      "source",      "channel", "campaign",
                                   "contact",   "occurred_at", "event",   "id",
                                   "starts_at", "meta",        "text",    "x"};
static const char *const scalars[] = {"\"post\"",
                                      "\"fb\"",
                                      "\"e1\"",
                                      "\"c_1\"",
                                      "\"\"",
                                      "\"caf\xc3\xa9\"",
                                      "\"a\\\"b\"",
                                      "\"back\\\\s\"",
                                      "\"\\u00e9\"",
                                      "\"x}y,z]\"",
                                      "\"2026-11-30T00:00:00.000Z\"",
                                      "12",
                                      "-0.5e3",
                                      "true",
                                      "false",
                                      "null",
                                      "\"merge\"",
                                      "\"erase\""};
static const struct recgen gen = {keys, scalars, sizeof keys / sizeof *keys,
                                  sizeof scalars / sizeof *scalars, 3};

static void test_peek_as_parsed(void **state)
{
    (void)state;
    unsigned seed = 9;
    size_t took = 0, parsed = 0;
    for (int t = 0; t < 60000; t++) {
        char buf[4096];
        size_t len;
        recgen_record(&gen, &seed, buf, sizeof buf, &len);
        char err[128];
        json_t *rec = jsonin_parse(buf, len, err, sizeof err);
        struct score_peek p;
        int rc = score_peek(buf, len, &p);
        if (rec)
            parsed++;
        if (rc == 0 && rec) {
            took++;
            for (int f = 0; f < PEEK_FIELDS; f++) {
                const char *want = peek_field(rec, f);
                if ((want == NULL) != (p.v[f] == NULL) || (want && strcmp(want, p.v[f]) != 0))
                    fail_msg("field %d of %.*s: parsed %s, peeked %s", f, (int)len, buf,
                             want ? want : "(none)", p.v[f] ? p.v[f] : "(none)");
            }
        }
        json_decref(rec);
    }
    assert_true(parsed > 20000);
    assert_true(took > parsed / 4); /* the comparison compared something */
}

/* A record as kanald writes it is taken; texts it cannot be sure of are
 * left to the parse. */
static void test_own_records_taken(void **state)
{
    (void)state;
    static const char rec[] =
        "{\"seq\":7,\"source\":\"fb\",\"channel\":\"facebook\",\"kind\":\"signup\","
        "\"direction\":\"inbound\",\"external_id\":\"X1\",\"occurred_at\":\"2026-11-30T00:00:00."
        "000Z\",\"event\":{\"id\":\"e1\",\"starts_at\":\"2026-12-01T00:00:00.000Z\"},"
        "\"meta\":{\"source\":\"no\",\"a\":[1,{\"kind\":\"no\"}]},\"contact\":\"c_9\","
        "\"campaign\":\"spring\"}";
    struct score_peek p;
    assert_int_equal(score_peek(rec, sizeof rec - 1, &p), 0);
    assert_string_equal(p.v[PEEK_KIND], "signup");
    assert_string_equal(p.v[PEEK_SOURCE], "fb");
    assert_string_equal(p.v[PEEK_CHANNEL], "facebook");
    assert_string_equal(p.v[PEEK_CAMPAIGN], "spring");
    assert_string_equal(p.v[PEEK_CONTACT], "c_9");
    assert_string_equal(p.v[PEEK_OCCURRED_AT], "2026-11-30T00:00:00.000Z");
    assert_string_equal(p.v[PEEK_EVENT_ID], "e1");
    assert_string_equal(p.v[PEEK_EVENT_STARTS_AT], "2026-12-01T00:00:00.000Z");
    static const char *const unsure[] = {
        "{\"source\":\"f\\u0062\"}",        /* an escape in a wanted value */
        "{\"sour\\u0063e\":\"fb\"}",        /* in a key */
        "{\"event\":{\"i\\u0064\":\"e\"}}", /* in event's */
        "{\"source\":\"fb\"} x",            /* something after the object */
        "{\"source\":\"fb\"",               /* cut short */
        "[\"source\"]",                     /* not an object */
        "",
    };
    for (size_t i = 0; i < sizeof unsure / sizeof *unsure; i++)
        assert_int_equal(score_peek(unsure[i], strlen(unsure[i]), &p), -1);
    char big[600] = "{\"source\":\"";
    memset(big + 11, 'a', PEEK_VALUE_MAX);
    strcpy(big + 11 + PEEK_VALUE_MAX, "\"}");
    assert_int_equal(score_peek(big, strlen(big), &p), -1); /* too long to hold */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peek_as_parsed),
        cmocka_unit_test(test_own_records_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
