/* SPDX-License-Identifier: Apache-2.0 */
/* A scoring run's second pass reads each record's fields from its text
 * (score_pre_scan, daemon/score/pre.c, on jsonin_scan) instead of parsing
 * it.  On records drawn at random from every kind of member the pass
 * reads (at the top, in event, meta, annotations.sentiment, from, and the
 * parties of to and mentions; strings plain, escaped or not ASCII,
 * numbers, literals, containers, repeated keys, texts cut short):
 * jsonin_scan accepts what jsonin_parse accepts, with the same error
 * otherwise, and score_pre_scan reads what score_pre_read reads from the
 * parsed record. */
#include "unit.h"

#include "jsonin.h"
#include "pre.h"
#include "pre_same.h"
#include "recgen.h"

static void no_item(void *arg, const struct jsonin_item *it)
{
    (void)arg;
    (void)it;
}

static const char *const keys[] = {
    "kind",        "source",    "channel", "campaign",  "contact", "occurred_at", "direction",
    "external_id", "reply_to",  "event",   "id",        "meta",    "erased",      "suspected_bot",
    "annotations", "sentiment", "label",   "complaint", "from",    "to",          "mentions",
    "handle",      "role",      "text"};
static const char *const scalars[] = {"\"post\"",
                                      "\"comment\"",
                                      "\"fb\"",
                                      "\"e1\"",
                                      "\"c_1\"",
                                      "\"\"",
                                      "\"brand\"",
                                      "\"br\\u0061nd\"",
                                      "\"customer\"",
                                      "\"outbound\"",
                                      "\"peer\"",
                                      "\"positive\"",
                                      "\"negative\"",
                                      "\"email:a@example.com\"",
                                      "\"erased:x\"",
                                      "\"caf\xc3\xa9\"",
                                      "\"a\\\"b\"",
                                      "\"\\u00e9\\ud83d\\ude00\"",
                                      "\"2026-11-30T00:00:00.000Z\"",
                                      "12",
                                      "-0.5e3",
                                      "1e999",
                                      "01",
                                      "true",
                                      "false",
                                      "null",
                                      "\"\\u0000\"",
                                      "\"\xff\""};
static const struct recgen gen = {keys, scalars, sizeof keys / sizeof *keys,
                                  sizeof scalars / sizeof *scalars, 4};

/* The members the pass reads, often in their places: a record of them. */
static void put(char *buf, size_t *at, const char *s)
{
    recgen_put(buf, at, 4096, s);
}

static void scalar(unsigned *seed, char *buf, size_t *at)
{
    put(buf, at, scalars[(size_t)rand_r(seed) % (sizeof scalars / sizeof *scalars)]);
}

/* An object of members named from names (or any key now and then). */
static void members(unsigned *seed, char *buf, size_t *at, const char *const *names, int n,
                    void (*value)(unsigned *, char *, size_t *))
{
    put(buf, at, "{");
    for (int i = rand_r(seed) % 4; i >= 0; i--) {
        put(buf, at, recgen_ws[rand_r(seed) % 7]);
        put(buf, at, "\"");
        put(buf, at,
            rand_r(seed) % 8 ? names[rand_r(seed) % n] : keys[(size_t)rand_r(seed) % gen.nkeys]);
        put(buf, at, rand_r(seed) % 40 ? "\":" : "\\u0041\":");
        if (rand_r(seed) % 10)
            value(seed, buf, at);
        else
            recgen_value(&gen, seed, buf, at, 4096, 2);
        if (i)
            put(buf, at, ",");
    }
    put(buf, at, "}");
}

static void party(unsigned *seed, char *buf, size_t *at)
{
    static const char *const names[] = {"handle", "role"};
    if (rand_r(seed) % 6)
        members(seed, buf, at, names, 2, scalar);
    else
        scalar(seed, buf, at);
}

static void parties(unsigned *seed, char *buf, size_t *at)
{
    put(buf, at, "[");
    for (int i = rand_r(seed) % 4; i > 0; i--) {
        party(seed, buf, at);
        if (i > 1)
            put(buf, at, ",");
    }
    put(buf, at, "]");
}

static void sentiment(unsigned *seed, char *buf, size_t *at)
{
    static const char *const names[] = {"label", "complaint"};
    members(seed, buf, at, names, 2, scalar);
}

static void member(unsigned *seed, char *buf, size_t *at)
{
    static const char *const top[] = {"kind",      "source",      "channel",
                                      "campaign",  "contact",     "occurred_at",
                                      "direction", "external_id", "reply_to"};
    static const char *const meta[] = {"erased", "suspected_bot"}, *const ann[] = {"sentiment"},
                             *const event[] = {"id"};
    int r = rand_r(seed) % 16;
    const char *key = r < 8     ? top[rand_r(seed) % 9]
                      : r == 8  ? "from"
                      : r == 9  ? "to"
                      : r == 10 ? "mentions"
                      : r == 11 ? "meta"
                      : r == 12 ? "annotations"
                      : r == 13 ? "event"
                                : keys[(size_t)rand_r(seed) % gen.nkeys];
    put(buf, at, "\"");
    put(buf, at, key);
    put(buf, at, "\":");
    put(buf, at, recgen_ws[rand_r(seed) % 7]);
    if (rand_r(seed) % 10 == 0 || r >= 14)
        recgen_value(&gen, seed, buf, at, 4096, 1);
    else if (r < 8)
        scalar(seed, buf, at);
    else if (r == 8)
        party(seed, buf, at);
    else if (r < 11)
        parties(seed, buf, at);
    else if (r == 11)
        members(seed, buf, at, meta, 2, scalar);
    else if (r == 12)
        members(seed, buf, at, ann, 1, sentiment);
    else
        members(seed, buf, at, event, 1, scalar);
}

static void record(unsigned *seed, char *buf, size_t *len)
{
    size_t at = 0;
    buf[0] = 0;
    if (rand_r(seed) % 8 == 0) { /* anything */
        recgen_record(&gen, seed, buf, 4096, len);
        return;
    }
    put(buf, &at, "{\"kind\":\"comment\"");
    for (int i = rand_r(seed) % 10; i >= 0; i--) {
        put(buf, &at, ",");
        member(seed, buf, &at);
    }
    put(buf, &at, "}");
    *len = at;
    if (rand_r(seed) % 20 == 0)
        *len = (size_t)rand_r(seed) % (at + 1);
}

static void test_scan_as_parsed(void **state)
{
    (void)state;
    unsigned seed = 11;
    size_t parsed = 0, ok = 0, parties = 0, rated = 0, from = 0;
    struct score_pool pool = {0};
    for (int t = 0; t < 80000; t++) {
        char buf[4096];
        size_t len;
        record(&seed, buf, &len);
        char err[128], serr[128];
        json_t *rec = jsonin_parse(buf, len, err, sizeof err);
        int scanned = jsonin_scan(buf, len, no_item, NULL, serr, sizeof serr);
        if ((scanned == 0) != (rec != NULL))
            fail_msg("%.*s: parse %s, scan %s", (int)len, buf, rec ? "accepts" : err,
                     scanned == 0 ? "accepts" : serr);
        if (!rec && strcmp(err, serr) != 0)
            fail_msg("%.*s: parse says %s, scan %s", (int)len, buf, err, serr);
        score_pool_reset(&pool);
        struct score_pre a, b;
        int rc = score_pre_scan(&a, buf, len, &pool);
        assert_int_equal(rc == 0, rec != NULL);
        if (rec) {
            parsed++;
            score_pre_read(&b, rec, &pool);
            const char *d = pre_differ(&a, &b);
            if (d)
                fail_msg("%s differs on %.*s", d, (int)len, buf);
            ok += b.ok;
            parties += b.nto + b.nment > 0;
            rated += b.rated;
            from += b.has_from;
        }
        json_decref(rec);
    }
    score_pool_free(&pool);
    /* The comparison compared something of each kind. */
    assert_true(parsed > 20000);
    assert_true(ok > 10000 && parties > 2000 && from > 2000 && rated > 1000);
}

/* A record as kanald writes it, escapes in its handles. */
static void test_own_record(void **state)
{
    (void)state;
    static const char rec[] =
        "{\"seq\":7,\"source\":\"fb\",\"channel\":\"facebook\",\"kind\":\"comment\","
        "\"direction\":\"inbound\",\"external_id\":\"X1\",\"reply_to\":\"P1\","
        "\"occurred_at\":\"2026-11-30T00:00:00.000Z\",\"contact\":\"c_9\","
        "\"from\":{\"handle\":\"fb:\\u00e9mile\",\"role\":\"customer\"},"
        "\"to\":[{\"handle\":\"fb:page\",\"role\":\"brand\"},{\"handle\":\"fb:b\\\"ob\"},7],"
        "\"mentions\":[{\"handle\":\"x:al\"}],\"meta\":{\"suspected_bot\":true},"
        "\"annotations\":{\"sentiment\":{\"label\":\"negative\",\"complaint\":true}},"
        "\"event\":{\"id\":\"e1\"},\"campaign\":\"spring\"}";
    struct score_pool pool = {0};
    struct score_pre p;
    assert_int_equal(score_pre_scan(&p, rec, sizeof rec - 1, &pool), 0);
    assert_true(p.ok && p.bot && p.rated && p.negative && p.complaint && !p.by_brand);
    assert_string_equal(p.kind_name, "comment");
    assert_string_equal(p.cid, "c_9");
    assert_string_equal(p.from_handle, "fb:\xc3\xa9mile");
    assert_string_equal(p.event_id, "e1");
    assert_string_equal(p.campaign, "spring");
    assert_int_equal(p.nto, 3);
    assert_true(p.to[0].brand);
    assert_string_equal(p.to[1].handle, "fb:b\"ob");
    assert_null(p.to[2].handle);
    assert_int_equal(p.nment, 1);
    assert_string_equal(p.mentions[0].handle, "x:al");
    assert_int_equal(p.self, score_pre_digest("fb", "X1"));
    assert_int_equal(p.reply, score_pre_digest("fb", "P1"));
    /* Not JSON: refused, as the parse refuses it. */
    static const char *const bad[] = {"{\"kind\":\"post\"", "{\"kind\":\"post\"} x",
                                      "{\"kind\":\"\\u0000\"}", "{\"kind\":01}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(score_pre_scan(&p, bad[i], strlen(bad[i]), &pool), -1);
    score_pool_free(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_as_parsed),
        cmocka_unit_test(test_own_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
