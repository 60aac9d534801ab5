/* SPDX-License-Identifier: Apache-2.0 */
/* A run's rows made as text (result.h's score_result_text, keep.h's
 * score_kept_text) are the rows the jansson path makes (score_result_rows,
 * each row json_dumps'ed by score_kept_row): byte for byte, with the same
 * ranks in every order and the same summary.  The audiences are drawn at
 * random: every kind of record, replies, mentions, sentiment, sign-ups,
 * contact ids that need escapes or are not ASCII, decay or none, the
 * thresholds moved, and CRM values across the doubles' range (the rows'
 * reals are written as jansson writes them, %.17g). */
#include "unit.h"

#include <errno.h>
#include <float.h>
#include <math.h>

#include "build.h"
#include "keep.h"
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

#define DAY (24 * 3600 * 1000LL)

static int64_t now_ms(void)
{
    int64_t t;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &t), 0);
    return t;
}

/* Contact ids: plain, and ones JSON escapes or writes as they are. */
static void contact_id(unsigned *seed, char *out, size_t size)
{
    static const char *const odd[] = {"q\"uote",
                                      "back\\slash",
                                      "ctl\x01\x1f",
                                      "tab\tnl\n",
                                      "slash/x",
                                      "caf\xc3\xa9",
                                      "\xe4\xb8\xad\xe6\x96\x87",
                                      "del\x7f",
                                      "\xf0\x9f\x98\x80"};
    unsigned r = (unsigned)rand_r(seed);
    if (r % 8 == 0)
        snprintf(out, size, "%s%u", odd[(r / 8) % (sizeof odd / sizeof *odd)], r % 5);
    else
        snprintf(out, size, "c%u", r % 60);
}

static const char *const kinds[] = {"message", "comment", "post",   "mention",  "reaction",
                                    "share",   "click",   "signup", "delivery", "other"};

static void add_record(struct score_build *b, unsigned *seed, int i)
{
    char cid[48], xid[24], when[40];
    contact_id(seed, cid, sizeof cid);
    snprintf(xid, sizeof xid, "X%d", i);
    util_format_time(now_ms() - (int64_t)(rand_r(seed) % (90 * 24)) * 3600 * 1000, when,
                     sizeof when);
    const char *kind = kinds[rand_r(seed) % (sizeof kinds / sizeof *kinds)];
    int outbound = rand_r(seed) % 6 == 0;
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s}", "source", rand_r(seed) % 3 ? "fb" : "x",
                            "kind", kind, "direction", outbound ? "outbound" : "inbound",
                            "external_id", xid, "occurred_at", when);
    if (!outbound || rand_r(seed) % 2)
        json_object_set_new(rec, "contact", json_string(cid));
    if (i > 0 && rand_r(seed) % 2) {
        char to[24];
        snprintf(to, sizeof to, "X%d", rand_r(seed) % i);
        json_object_set_new(rec, "reply_to", json_string(to));
    }
    json_t *tos = json_pack("[{s:s,s:s}]", "handle", "fbpage:1", "role", "brand");
    for (int m = rand_r(seed) % 3; m > 0; m--) {
        char h[24];
        snprintf(h, sizeof h, "x:h%d", rand_r(seed) % 60);
        json_array_append_new(tos, json_pack("{s:s}", "handle", h));
    }
    json_object_set_new(rec, "to", tos);
    if (rand_r(seed) % 2) {
        static const char *const labels[] = {"positive", "negative", "neutral"};
        json_object_set_new(rec, "annotations",
                            json_pack("{s:{s:s,s:f,s:b}}", "sentiment", "label",
                                      labels[rand_r(seed) % 3], "score", 0.9, "complaint",
                                      rand_r(seed) % 4 == 0));
    }
    if (!strcmp(kind, "signup")) {
        char ev[16];
        snprintf(ev, sizeof ev, "e%d", rand_r(seed) % 4);
        json_object_set_new(rec, "event", json_pack("{s:s}", "id", ev));
    }
    assert_int_equal(score_build_add(b, rec), 0);
    json_decref(rec);
}

/* A double from across the range, the awkward ones often. */
static double some_real(unsigned *seed)
{
    static const double fixed[] = {0.0,
                                   -0.0,
                                   1.0,
                                   0.1,
                                   1e-5,
                                   1e-4,
                                   1e16,
                                   1e17,
                                   1e21,
                                   1e22,
                                   1e300,
                                   -1.5,
                                   2.5e-7,
                                   DBL_MAX,
                                   DBL_MIN,
                                   5e-324,
                                   9007199254740992.0,
                                   9007199254740994.0,
                                   123456789012345678.0,
                                   1.0 / 3,
                                   NAN,
                                   INFINITY};
    unsigned r = (unsigned)rand_r(seed);
    if (r % 3 == 0)
        return fixed[(r / 3) % (sizeof fixed / sizeof *fixed)];
    if (r % 3 == 1)
        return (double)(rand_r(seed) % 100000) / 100;
    return (rand_r(seed) / (double)RAND_MAX) * pow(10, rand_r(seed) % 60 - 30);
}

static void text_row(void *arg, const struct score_row_text *row)
{
    score_kept_text(arg, row);
}

static void json_row(void *arg, json_t *row)
{
    score_kept_row(arg, row);
    json_decref(row);
}

static void same_rows(struct score_build *b, int seq)
{
    struct score_kept kj, kt;
    assert_int_equal(score_kept_begin(&kj, "all"), 0);
    assert_int_equal(score_kept_begin(&kt, "all"), 0);
    json_t *sj = score_result_rows("all", (uint64_t)seq, b, json_row, &kj);
    json_t *st = score_result_text("all", (uint64_t)seq, b, text_row, &kt);
    assert_non_null(sj);
    assert_non_null(st);
    assert_int_equal(kj.rc, 0);
    assert_int_equal(kt.rc, 0);
    assert_true(kj.nrows > 0);
    assert_int_equal(kt.nrows, kj.nrows);
    assert_int_equal(score_kept_end(&kj, sj), 0);
    assert_int_equal(score_kept_end(&kt, st), 0);
    assert_string_equal(kt.summary, kj.summary);
    for (size_t i = 0; i < kj.nrows; i++) {
        assert_string_equal(kt.rows[i].contact, kj.rows[i].contact);
        if (kt.rows[i].len != kj.rows[i].len ||
            memcmp(kt.rows[i].value, kj.rows[i].value, kj.rows[i].len) != 0)
            fail_msg("row %zu differs:\n  json %.*s\n  text %.*s", i,
                     (int)(kj.rows[i].len - SCORE_ROW_HEAD), kj.rows[i].value + SCORE_ROW_HEAD,
                     (int)(kt.rows[i].len - SCORE_ROW_HEAD), kt.rows[i].value + SCORE_ROW_HEAD);
    }
    json_decref(sj);
    json_decref(st);
    score_kept_free(&kj);
    score_kept_free(&kt);
}

static void test_rows_as_jansson_writes_them(void **state)
{
    (void)state;
    unsigned seed = 19;
    for (int a = 0; a < 150; a++) {
        struct score_build b;
        score_build_init(&b, now_ms(), a % 2 ? 30 * DAY : 0, &RES);
        int nrec = 5 + rand_r(&seed) % 300;
        for (int i = 0; i < nrec; i++)
            add_record(&b, &seed, i);
        if (a % 3 == 0) { /* thresholds moved: other advocates, risks, keys */
            b.params.advocate_min = rand_r(&seed) % 3;
            b.params.advocate_max_negative = rand_r(&seed) % 101;
            b.params.risk_min = rand_r(&seed) % 3;
            b.params.key_influence = rand_r(&seed) % 300;
            b.params.critic_min = rand_r(&seed) % 3;
        }
        /* CRM values and currencies, as collect.c gives them. */
        score_facts_grow(&b.facts, b.nnodes);
        for (uint32_t v = 1; v < b.nnodes; v++) {
            if (rand_r(&seed) % 2)
                b.facts.monetary[v] = some_real(&seed);
            if (rand_r(&seed) % 4 == 0)
                memcpy(b.facts.currency[v], rand_r(&seed) % 2 ? "EUR" : "TRY", 4);
        }
        same_rows(&b, a + 1);
        score_build_free(&b);
    }
}

/* score_real_text is json_dumps(json_real(d)) byte for byte. */
static void same_real(double d)
{
    if (!isfinite(d))
        return;
    json_t *j = json_real(d);
    assert_non_null(j);
    char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    assert_non_null(want);
    char got[SCORE_REAL_MAX];
    size_t n = score_real_text(d, got);
    if (n != strlen(want) || strcmp(got, want) != 0)
        fail_msg("real %a: jansson %s, score_real_text %s (%zu)", d, want, got, n);
    free(want);
    json_decref(j);
}

static uint64_t rand64(unsigned *seed)
{
    uint64_t u = 0;
    for (int i = 0; i < 5; i++)
        u = u << 15 ^ (uint64_t)(rand_r(seed) & 0x7fff);
    return u;
}

static double of_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Every class of double: any bit pattern (denormals, the largest and
 * smallest exponents), a mantissa at random over the exponents rows have,
 * decimals of few digits, exact ties at the 17th digit (which round to
 * even), the powers of ten and their neighbours, and the specials. */
static void test_reals_as_jansson_writes_them(void **state)
{
    (void)state;
    static const double fixed[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.0,
                                   0.1,
                                   0.5,
                                   1e-5,
                                   1e-4,
                                   1e-11,
                                   1e-12,
                                   1e15,
                                   1e16,
                                   1e17,
                                   1e21,
                                   1e22,
                                   1e300,
                                   -1e300,
                                   DBL_MAX,
                                   -DBL_MAX,
                                   DBL_MIN,
                                   5e-324,
                                   -5e-324,
                                   2.2250738585072009e-308,
                                   9007199254740991.0,
                                   9007199254740992.0,
                                   9007199254740993.0,
                                   9007199254740994.0,
                                   -9007199254740994.0,
                                   99999999999999984.0,
                                   123456789012345678.0,
                                   123456789012345.125,
                                   123456789012345.375,
                                   0.30000000000000004,
                                   1.0 / 3,
                                   2.0 / 3,
                                   -2.0 / 3};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        same_real(fixed[i]);
    for (int k = -330; k <= 310; k++) {
        double p = pow(10, k);
        same_real(p);
        same_real(-p);
        same_real(nextafter(p, 0));
        same_real(nextafter(p, INFINITY));
        same_real(p * 5);
        same_real(nextafter(p * 5, 0));
    }
    unsigned seed = 1919;
    for (int i = 0; i < 200000; i++) {
        same_real(of_bits(rand64(&seed)));
        /* over what a row holds: 1e-13 to 1e18, either sign */
        uint64_t m = rand64(&seed) & ((1ULL << 52) - 1);
        uint64_t e = 1023 - 44 + (uint64_t)(rand_r(&seed) % 105);
        same_real(of_bits((uint64_t)(rand_r(&seed) & 1) << 63 | e << 52 | m));
        /* few digits: n / 10^j */
        same_real((double)(rand_r(&seed) % 1000000) / pow(10, rand_r(&seed) % 14));
        /* a tie at the 17th digit: n + j / 2^b with n of 17 - b' digits */
        int b = 1 + rand_r(&seed) % 6;
        double n =
            floor(pow(10, 16 - b) * (1 + rand_r(&seed) % 9) + (double)(rand_r(&seed) % 100000));
        same_real(n + (double)(rand_r(&seed) % (1 << b)) / (1 << b));
        /* a ratio, as the shares and the ranks are */
        same_real((double)(rand_r(&seed) % 1000 + 1) / (rand_r(&seed) % 100000 + 1));
    }
}

/* A row whose contact id has a NUL cannot be: but a row that cannot be
 * written is refused by the text path as by the jansson one (EINVAL),
 * and the other rows are not changed by it. */
static void test_unwritable_row(void **state)
{
    (void)state;
    struct score_kept k;
    assert_int_equal(score_kept_begin(&k, "all"), 0);
    struct score_row_text ok = {.contact = "c1", .text = "{}", .len = 2, .has = 1};
    assert_int_equal(score_kept_text(&k, &ok), 0);
    struct score_row_text bad = {.contact = "c2"};
    assert_int_equal(score_kept_text(&k, &bad), EINVAL);
    assert_int_equal(k.nrows, 1);
    json_t *sum = json_object();
    assert_int_equal(score_kept_end(&k, sum), EINVAL);
    json_decref(sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_as_jansson_writes_them),
        cmocka_unit_test(test_reals_as_jansson_writes_them),
        cmocka_unit_test(test_unwritable_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
