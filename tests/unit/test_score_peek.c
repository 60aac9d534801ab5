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

static const char *const keys[] = {"kind",      "source",      "channel", "campaign",
                                   "contact",   "occurred_at", "event",   "id",
                                   "starts_at", "meta",        "text",    "x"};
static const char *const ws[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};

static void put(char *buf, size_t *at, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (*at + n < size) {
        memcpy(buf + *at, s, n);
        *at += n;
        buf[*at] = 0;
    }
}

static void value(unsigned *seed, char *buf, size_t *at, size_t size, int depth);

static void object_text(unsigned *seed, char *buf, size_t *at, size_t size, int depth)
{
    put(buf, at, size, "{");
    int n = rand_r(seed) % 7;
    for (int i = 0; i < n; i++) {
        if (i)
            put(buf, at, size, ",");
        put(buf, at, size, ws[rand_r(seed) % 7]);
        put(buf, at, size, "\"");
        put(buf, at, size, keys[rand_r(seed) % (sizeof keys / sizeof *keys)]);
        put(buf, at, size, rand_r(seed) % 40 ? "\"" : "\\u0041\"");
        put(buf, at, size, ws[rand_r(seed) % 7]);
        put(buf, at, size, ":");
        put(buf, at, size, ws[rand_r(seed) % 7]);
        value(seed, buf, at, size, depth + 1);
        put(buf, at, size, ws[rand_r(seed) % 7]);
    }
    put(buf, at, size, "}");
}

static void value(unsigned *seed, char *buf, size_t *at, size_t size, int depth)
{
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
    int r = rand_r(seed) % 10;
    if (r < 6 || depth > 3)
        put(buf, at, size, scalars[rand_r(seed) % (sizeof scalars / sizeof *scalars)]);
    else if (r < 8)
        object_text(seed, buf, at, size, depth);
    else {
        put(buf, at, size, "[");
        for (int i = rand_r(seed) % 3; i > 0; i--) {
            value(seed, buf, at, size, depth + 1);
            if (i > 1)
                put(buf, at, size, ",");
        }
        put(buf, at, size, "]");
    }
}

static const char *field(json_t *rec, int f)
{
    static const char *const name[PEEK_FIELDS] = {"kind",     "source",  "channel",
                                                  "campaign", "contact", "occurred_at"};
    if (f == PEEK_EVENT_ID)
        return json_string_value(json_object_get(json_object_get(rec, "event"), "id"));
    if (f == PEEK_EVENT_STARTS_AT)
        return json_string_value(json_object_get(json_object_get(rec, "event"), "starts_at"));
    return json_string_value(json_object_get(rec, name[f]));
}

static void test_peek_as_parsed(void **state)
{
    (void)state;
    unsigned seed = 9;
    size_t took = 0, parsed = 0;
    for (int t = 0; t < 60000; t++) {
        char buf[4096];
        size_t at = 0;
        buf[0] = 0;
        put(buf, &at, sizeof buf, ws[rand_r(&seed) % 7]);
        object_text(&seed, buf, &at, sizeof buf, 0);
        put(buf, &at, sizeof buf, ws[rand_r(&seed) % 7]);
        size_t len = at;
        if (rand_r(&seed) % 10 == 0) /* cut short, or something after it */
            len = rand_r(&seed) % 2 ? (size_t)rand_r(&seed) % (at + 1) : at;
        if (len == at && rand_r(&seed) % 20 == 0)
            put(buf, &at, sizeof buf, rand_r(&seed) % 2 ? "x" : "{}"), len = at;
        char err[128];
        json_t *rec = jsonin_parse(buf, len, err, sizeof err);
        struct score_peek p;
        int rc = score_peek(buf, len, &p);
        if (rec)
            parsed++;
        if (rc == 0 && rec) {
            took++;
            for (int f = 0; f < PEEK_FIELDS; f++) {
                const char *want = field(rec, f);
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
