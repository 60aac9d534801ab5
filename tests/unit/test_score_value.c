/* SPDX-License-Identifier: Apache-2.0 */
/* Value, advocacy, risk and position (daemon/score/value.c) with answers
 * known by construction: a helper who answers other customers kindly is an
 * advocate, a loud complainer is a risk and a critic, RFM quintiles,
 * events and clicks, and a complaint answered (by a reply, or by a later
 * message to its author) is no risk. */
#include "unit.h"

#include <math.h>

#include "build.h"
#include "result.h"
#include "util.h"
#include "value.h"

static const char *current(void *arg, const char *cid)
{
    (void)arg;
    return cid;
}

static const char *of_handle(void *arg, const char *handle)
{
    (void)arg;
    static char buf[32];
    if (strncmp(handle, "x:h", 3) != 0)
        return NULL;
    snprintf(buf, sizeof buf, "c%s", handle + 3);
    return buf;
}

static const struct score_resolver RES = {current, of_handle, NULL};

static int64_t now_ms(void)
{
    int64_t t;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &t), 0);
    return t;
}

static void add(struct score_build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct score_build *b, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_error_t err;
    json_t *r = json_loads(buf, 0, &err);
    if (!r)
        fail_msg("bad test record %s: %s", buf, err.text);
    assert_int_equal(score_build_add(b, r), 0);
    json_decref(r);
}

/* A customer's record: kind, external id, contact, answering reply_to
 * ("" none), at when, with sentiment s ("" none, else label[,complaint]). */
static void say(struct score_build *b, const char *kind, const char *xid, const char *cid,
                const char *reply_to, const char *when, const char *s)
{
    char answers[64] = "", ann[160] = "";
    if (*reply_to)
        snprintf(answers, sizeof answers, "\"reply_to\":\"%s\",", reply_to);
    if (*s)
        snprintf(ann, sizeof ann,
                 "\"annotations\":{\"sentiment\":{\"label\":\"%.*s\",\"score\":0.9,"
                 "\"complaint\":%s}},",
                 (int)strcspn(s, ","), s, strchr(s, ',') ? "true" : "false");
    add(b,
        "{\"source\":\"fb\",\"kind\":\"%s\",\"direction\":\"inbound\",\"external_id\":\"%s\","
        "\"contact\":\"%s\",%s%s\"occurred_at\":\"%s\","
        "\"to\":[{\"handle\":\"fbpage:1\",\"role\":\"brand\"}]}",
        kind, xid, cid, answers, ann, when);
}

static json_t *row_of(json_t *doc, const char *cid)
{
    size_t i;
    json_t *r;
    json_array_foreach(
        json_object_get(doc, "contacts"), i,
        r) if (!strcmp(json_string_value(json_object_get(r, "contact")), cid)) return r;
    fail_msg("no row for %s", cid);
    return NULL;
}

static json_int_t num(json_t *row, const char *obj, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(row, obj), key));
}

static double real(json_t *row, const char *obj, const char *key)
{
    return json_number_value(json_object_get(json_object_get(row, obj), key));
}

static int flag(json_t *row, const char *obj, const char *key)
{
    return json_is_true(json_object_get(json_object_get(row, obj), key));
}

#define NOW "2026-12-01T00:00:00.000Z"
#define HOUR_AGO "2026-11-30T23:00:00.000Z"
#define DAY2 "2026-11-29T00:00:00.000Z"
#define DAY3 "2026-11-28T00:00:00.000Z"
#define DAY40 "2026-10-22T00:00:00.000Z"

static void test_helper_and_complainer(void **state)
{
    (void)state;
    struct score_build b;
    score_build_init(&b, now_ms(), 0, &RES);
    /* c1 and c2 ask; c3 answers both kindly (one neutral, one with no
     * sentiment at all) and praises the brand; c6 answers c1 rudely. */
    say(&b, "post", "Q1", "c1", "", DAY3, "neutral");
    say(&b, "post", "Q2", "c2", "", DAY3, "");
    say(&b, "comment", "H1", "c3", "Q1", DAY2, "neutral");
    say(&b, "comment", "H2", "c3", "Q2", DAY2, "");
    say(&b, "mention", "H3", "c3", "", DAY2, "positive");
    say(&b, "comment", "X1", "c6", "Q1", DAY2, "negative");
    /* c8 likes and shares what others wrote: no reply, no help. */
    say(&b, "reaction", "L8", "c8", "Q1", DAY2, "");
    say(&b, "share", "S8", "c8", "H1", DAY2, "positive");
    /* c4 complains four times: K1 is answered by the brand's reply, K2 and
     * K3 wait two days, K4 an hour (not yet late), K0 is 40 days old (not
     * recent); c5 complains once and gets a message afterwards. */
    say(&b, "message", "K0", "c4", "", DAY40, "negative,complaint");
    say(&b, "message", "K1", "c4", "", DAY3, "negative,complaint");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"outbound\","
            "\"external_id\":\"A1\",\"reply_to\":\"K1\",\"occurred_at\":\"" DAY3 "\"}");
    say(&b, "message", "K2", "c4", "", DAY2, "negative,complaint");
    say(&b, "message", "K3", "c4", "", DAY2, "neutral,complaint");
    say(&b, "message", "K4", "c4", "", HOUR_AGO, "negative");
    say(&b, "message", "L1", "c5", "", DAY3, "negative,complaint");
    /* c7 complains (N1), then writes again (N2); the brand answers N2 by a
     * reply that names no customer: N1 is answered too, by what came after. */
    say(&b, "message", "N1", "c7", "", DAY3, "negative,complaint");
    say(&b, "message", "N2", "c7", "", DAY3, "neutral");
    add(&b, "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"outbound\","
            "\"external_id\":\"A7\",\"reply_to\":\"N2\",\"occurred_at\":\"" DAY2 "\"}");
    say(&b, "comment", "T9", "c9", "N1", DAY2, "negative");
    say(&b, "reaction", "T10", "c10", "N1", DAY2, "");
    /* c1 and c2 take up K2 (a reply and a reaction); c4 answering itself
     * and an answer to a happy record echo nothing. */
    say(&b, "comment", "E1", "c1", "K2", DAY2, "negative");
    say(&b, "reaction", "E2", "c2", "K2", DAY2, "");
    say(&b, "comment", "E3", "c4", "K2", DAY2, "");
    say(&b, "comment", "E4", "c2", "H3", DAY2, "");
    /* A delivery report "answers" nothing; the message after it does. */
    add(&b, "{\"source\":\"wa\",\"kind\":\"delivery\",\"direction\":\"outbound\","
            "\"external_id\":\"D5\",\"contact\":\"c5\",\"occurred_at\":\"" DAY2 "\"}");
    json_t *doc = score_result("all", 1, &b);
    assert_non_null(doc);
    json_t *c5 = row_of(doc, "c5");
    assert_true(flag(c5, "risk", "at_risk"));
    json_decref(doc);
    add(&b, "{\"source\":\"wa\",\"kind\":\"message\",\"direction\":\"outbound\","
            "\"external_id\":\"M5\",\"contact\":\"c5\",\"occurred_at\":\"" DAY2 "\"}");
    doc = score_result("all", 2, &b);
    assert_non_null(doc);

    json_t *helper = row_of(doc, "c3");
    assert_int_equal(num(helper, "advocacy", "helpful_replies"), 2);
    assert_int_equal(num(helper, "advocacy", "positive_mentions"), 1);
    assert_true(real(helper, "advocacy", "negative_share") == 0);
    assert_true(flag(helper, "advocacy", "advocate"));
    assert_false(flag(helper, "risk", "at_risk"));
    assert_string_equal(json_string_value(json_object_get(helper, "position")), "ordinary");

    assert_int_equal(num(row_of(doc, "c7"), "risk", "unanswered"), 0);
    /* c7 complained once, but c9 and c10 took it up: a critic. */
    assert_int_equal(num(row_of(doc, "c7"), "risk", "echoes"), 2);
    assert_string_equal(json_string_value(json_object_get(row_of(doc, "c7"), "position")),
                        "critic");
    assert_int_equal(num(row_of(doc, "c7"), "risk", "unhappy"), 1);
    assert_int_equal(num(row_of(doc, "c8"), "advocacy", "helpful_replies"), 0);
    assert_int_equal(num(row_of(doc, "c8"), "advocacy", "positive_mentions"), 1);
    /* A rude answer to another customer is no help. */
    json_t *rude = row_of(doc, "c6");
    assert_int_equal(num(rude, "advocacy", "helpful_replies"), 0);
    assert_false(flag(rude, "advocacy", "advocate"));

    json_t *loud = row_of(doc, "c4");
    assert_int_equal(num(loud, "risk", "unanswered"), 2);
    assert_true(flag(loud, "risk", "at_risk"));
    assert_true(fabs(real(loud, "risk", "oldest_unanswered_hours") - 48) < 1e-9);
    assert_int_equal(num(loud, "risk", "unhappy"), 5);
    assert_int_equal(num(loud, "risk", "echoes"), 2);
    assert_int_equal(num(helper, "risk", "echoes"), 0);
    assert_int_equal(num(loud, "advocacy", "complaints"), 4);
    assert_int_equal(num(loud, "advocacy", "negative"), 4);
    assert_true(real(loud, "advocacy", "negative_share") == 1);
    assert_false(flag(loud, "advocacy", "advocate"));
    assert_string_equal(json_string_value(json_object_get(loud, "position")), "critic");
    /* Answered by the message that came after: no risk, still a critic? One
     * complaint is below score_critic_min. */
    c5 = row_of(doc, "c5");
    assert_int_equal(num(c5, "risk", "unanswered"), 0);
    assert_false(flag(c5, "risk", "at_risk"));
    assert_string_equal(json_string_value(json_object_get(c5, "position")), "ordinary");
    json_decref(doc);

    /* The thresholds are the caller's: a shorter wait makes K4 late too,
     * and a lower bar makes c5 a critic. */
    b.params.unanswered_ms = 30 * 60 * 1000;
    b.params.critic_min = 1;
    b.params.advocate_min = 4;
    doc = score_result("all", 3, &b);
    assert_int_equal(num(row_of(doc, "c4"), "risk", "unanswered"), 3);
    assert_string_equal(json_string_value(json_object_get(row_of(doc, "c5"), "position")),
                        "critic");
    assert_false(flag(row_of(doc, "c3"), "advocacy", "advocate"));
    json_decref(doc);
    score_build_free(&b);
}

static void test_quintiles(void **state)
{
    (void)state;
    uint8_t q[10];
    static const double five[] = {30, 10, 50, 20, 40};
    score_quintiles(five, 5, q);
    static const uint8_t want5[] = {3, 1, 5, 2, 4};
    assert_memory_equal(q, want5, 5);
    static const double ties[] = {5, 5, 5, 1, 1};
    score_quintiles(ties, 5, q);
    static const uint8_t wantt[] = {3, 3, 3, 1, 1};
    assert_memory_equal(q, wantt, 5);
    static const double ten[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    score_quintiles(ten, 10, q);
    static const uint8_t want10[] = {5, 5, 4, 4, 3, 3, 2, 2, 1, 1};
    assert_memory_equal(q, want10, 10);
    static const double same[] = {0, 0, 0};
    score_quintiles(same, 3, q);
    assert_true(q[0] == 1 && q[1] == 1 && q[2] == 1);
    score_quintiles(same, 1, q);
    assert_int_equal(q[0], 1);
}

/* Random arrays against the definition (1 + 5 * the count of values
 * below / n), over what RFM ranks: ties, 0 and -0, negatives, the
 * -1e300 of no record, denormals, the largest reals, infinities, sizes
 * that leave every byte of the keys different or all but one the same. */
static void test_quintiles_random(void **state)
{
    (void)state;
    static const double odd[] = {0.0,      -0.0,      -1e300, 1e300,  5e-324,
                                 -5e-324,  1.0,       -1.0,   1e-300, 1.7976931348623157e308,
                                 INFINITY, -INFINITY, 2.5,    100,    1767225600000.0};
    unsigned seed = 5;
    for (int t = 0; t < 400; t++) {
        size_t n = 1 + (size_t)(rand_r(&seed) % (t < 200 ? 40 : 3000));
        double *x = malloc(n * sizeof *x);
        uint8_t *q = malloc(n), *want = malloc(n);
        int mode = t % 4;
        for (size_t i = 0; i < n; i++) {
            int r = rand_r(&seed);
            if (mode == 0)
                x[i] = odd[r % (sizeof odd / sizeof *odd)];
            else if (mode == 1)
                x[i] = r % 7; /* many ties */
            else if (mode == 2)
                x[i] = (r % 2 ? -1 : 1) * ldexp(rand_r(&seed), rand_r(&seed) % 200 - 100);
            else
                x[i] = 1767225600000.0 + (double)(r % 1000) * 5000; /* times */
        }
        for (size_t i = 0; i < n; i++) {
            size_t below = 0;
            for (size_t j = 0; j < n; j++)
                below += x[j] < x[i];
            want[i] = (uint8_t)(1 + (5 * below) / n);
        }
        score_quintiles(x, n, q);
        for (size_t i = 0; i < n; i++)
            if (q[i] != want[i])
                fail_msg("array %d (n %zu): x[%zu] = %a in quintile %u, not %u", t, n, i, x[i],
                         q[i], want[i]);
        free(x);
        free(q);
        free(want);
    }
}

/* RFM within the audience: c1..c5 wrote 1..5 records, the last of them
 * 5..1 days ago, and the CRM values them 100..500; events are counted once
 * each however many sign-ups, clicks without the scanners'. */
static void test_rfm_events_clicks(void **state)
{
    (void)state;
    struct score_build b;
    score_build_init(&b, now_ms(), 0, &RES);
    for (int c = 1; c <= 5; c++)
        for (int i = 1; i <= c; i++)
            add(&b,
                "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
                "\"external_id\":\"r%d-%d\",\"contact\":\"c%d\","
                "\"occurred_at\":\"2026-11-%02dT00:00:00.000Z\"}",
                c, i, c, 20 + c);
    for (int i = 0; i < 3; i++)
        add(&b,
            "{\"source\":\"form\",\"kind\":\"signup\",\"direction\":\"inbound\","
            "\"external_id\":\"s%d\",\"contact\":\"c1\",\"event\":{\"id\":\"%s\"},"
            "\"occurred_at\":\"2026-11-01T00:00:00.000Z\"}",
            i, i == 2 ? "E2" : "E1");
    add(&b, "{\"source\":\"kanal\",\"kind\":\"click\",\"direction\":\"inbound\","
            "\"external_id\":\"k1\",\"contact\":\"c2\",\"meta\":{\"suspected_bot\":false},"
            "\"occurred_at\":\"2026-11-01T00:00:00.000Z\"}");
    add(&b, "{\"source\":\"kanal\",\"kind\":\"click\",\"direction\":\"inbound\","
            "\"external_id\":\"k2\",\"contact\":\"c2\",\"meta\":{\"suspected_bot\":true},"
            "\"occurred_at\":\"2026-11-01T00:00:00.000Z\"}");
    score_facts_grow(&b.facts, b.nnodes);
    for (uint32_t v = 1; v < b.nnodes; v++) {
        int c = b.ids[v][1] - '0';
        b.facts.monetary[v] = 100.0 * c;
        memcpy(b.facts.currency[v], "TRY", 4);
    }
    json_t *doc = score_result("all", 1, &b);
    assert_non_null(doc);
    char cid[4];
    for (int c = 1; c <= 5; c++) {
        snprintf(cid, sizeof cid, "c%d", c);
        json_t *r = row_of(doc, cid);
        /* c1 also signed up (later in seq order, but earlier in time):
         * its last record is still its comment; its records 1 + 3. */
        assert_int_equal(num(r, "value", "r"), c);
        assert_int_equal(num(r, "value", "m"), c);
        assert_int_equal(num(r, "value", "records"), c == 1 ? 4 : c == 2 ? 3 : c);
        assert_true(real(r, "value", "monetary") == 100.0 * c);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "value"), "currency")), "TRY");
    }
    /* Frequency: c1 4, c2 3 (2 comments and the click), c3 3, c4 4, c5 5:
     * quintiles 3, 1, 1, 3, 5 (equal counts share one). */
    assert_int_equal(num(row_of(doc, "c2"), "value", "f"), 1);
    assert_int_equal(num(row_of(doc, "c1"), "value", "f"), 3);
    assert_int_equal(num(row_of(doc, "c5"), "value", "f"), 5);
    assert_int_equal(num(row_of(doc, "c5"), "value", "score"), 15);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(row_of(doc, "c5"), "value"), "rfm")),
        "555");
    assert_int_equal(num(row_of(doc, "c1"), "value", "events"), 2);
    assert_int_equal(num(row_of(doc, "c1"), "value", "signups"), 3);
    assert_int_equal(num(row_of(doc, "c2"), "value", "clicks"), 1);
    assert_int_equal(num(row_of(doc, "c3"), "value", "clicks"), 0);
    json_decref(doc);
    score_build_free(&b);
}

/* The counts are kept in 16 bits and spilled whole past them: a contact
 * with 65535, 65536 or 70001 records of a kind is counted exactly, in
 * each count its records make (records, sentiment, clicks, unhappy). */
static void test_counts_past_16_bits(void **state)
{
    (void)state;
    struct score_build b;
    score_build_init(&b, now_ms(), 0, &RES);
    static const int n[3] = {65535, 65536, 70001};
    for (int i = 0; i < n[0]; i++)
        add(&b,
            "{\"source\":\"fb\",\"kind\":\"comment\",\"direction\":\"inbound\","
            "\"external_id\":\"n%d\",\"contact\":\"c1\",\"occurred_at\":\"%s\","
            "\"annotations\":{\"sentiment\":{\"label\":\"negative\",\"complaint\":true}}}",
            i, DAY40);
    for (int i = 0; i < n[1]; i++)
        add(&b,
            "{\"source\":\"fb\",\"kind\":\"mention\",\"direction\":\"inbound\","
            "\"external_id\":\"p%d\",\"contact\":\"c2\",\"occurred_at\":\"%s\","
            "\"annotations\":{\"sentiment\":{\"label\":\"positive\"}}}",
            i, DAY2);
    for (int i = 0; i < n[2]; i++)
        add(&b,
            "{\"source\":\"kanal\",\"kind\":\"click\",\"direction\":\"inbound\","
            "\"external_id\":\"k%d\",\"contact\":\"c3\",\"occurred_at\":\"%s\"}",
            i, DAY3);
    json_t *doc = score_result("all", 1, &b);
    assert_non_null(doc);
    json_t *c1 = row_of(doc, "c1"), *c2 = row_of(doc, "c2"), *c3 = row_of(doc, "c3");
    assert_int_equal(num(c1, "value", "records"), n[0]);
    assert_int_equal(num(c1, "advocacy", "rated"), n[0]);
    assert_int_equal(num(c1, "advocacy", "negative"), n[0]);
    assert_int_equal(num(c1, "advocacy", "complaints"), n[0]);
    assert_int_equal(num(c1, "risk", "unhappy"), n[0]);
    assert_true(real(c1, "advocacy", "negative_share") == 1.0);
    assert_int_equal(num(c2, "value", "records"), n[1]);
    assert_int_equal(num(c2, "advocacy", "positive"), n[1]);
    assert_int_equal(num(c2, "advocacy", "positive_mentions"), n[1]);
    assert_int_equal(num(c2, "advocacy", "rated"), n[1]);
    assert_int_equal(num(c2, "risk", "unhappy"), 0);
    assert_int_equal(num(c3, "value", "records"), n[2]);
    assert_int_equal(num(c3, "value", "clicks"), n[2]);
    assert_int_equal(num(c3, "advocacy", "rated"), 0);
    json_decref(doc);
    score_build_free(&b);
}

static void test_currencies(void **state)
{
    (void)state;
    static const char *const ok[] = {"TRY", "EUR", "USD", "JPY", "GBP", "CHF", "XAU"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_true(score_currency_ok(ok[i]));
    static const char *const bad[] = {"try", "TR", "TRYY", "", "ABC", "XXX", "T Y", "EU,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (score_currency_ok(bad[i]))
            fail_msg("'%s' taken for a currency", bad[i]);
    assert_false(score_currency_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helper_and_complainer),
        cmocka_unit_test(test_quintiles),
        cmocka_unit_test(test_quintiles_random),
        cmocka_unit_test(test_rfm_events_clicks),
        cmocka_unit_test(test_currencies),
        cmocka_unit_test(test_counts_past_16_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
