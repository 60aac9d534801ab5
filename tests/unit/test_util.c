/* SPDX-License-Identifier: Apache-2.0 */
/* Option value parsers and RFC 3339 times. */
#include "unit.h"

#include <time.h>

#include <errno.h>

#include <lmdb.h>
#include <string.h>

#include "error.h"
#include "util.h"

typedef int (*parse_fn)(const char *s, int64_t *out);

static void expect_parsed(parse_fn fn, const char *what, const char *s, int64_t want)
{
    int64_t v = -12345;
    int r = fn(s, &v);
    if (r != 0 || v != want)
        fail_msg("%s(\"%s\") = %d, value %lld; expected %lld", what, s, r, (long long)v,
                 (long long)want);
}

static void expect_rejected(parse_fn fn, const char *what, const char *s)
{
    int64_t v = -12345;
    int r = fn(s, &v);
    if (r != -EINVAL)
        fail_msg("%s(\"%s\") = %d (value %lld), expected -EINVAL", what, s, r, (long long)v);
    assert_int_equal(v, -12345); /* untouched on error */
}

#define GOOD(fn, s, want) expect_parsed(fn, #fn, s, want)
#define BAD(fn, s) expect_rejected(fn, #fn, s)

static void test_parse_size(void **state)
{
    (void)state;
    GOOD(util_parse_size, "0", 0);
    GOOD(util_parse_size, "512", 512);
    GOOD(util_parse_size, "64K", 65536);
    GOOD(util_parse_size, "64k", 65536);
    GOOD(util_parse_size, "1M", 1048576);
    GOOD(util_parse_size, "1MB", 1048576);
    GOOD(util_parse_size, "2G", 2147483648LL);
    BAD(util_parse_size, "");
    BAD(util_parse_size, "-1");
    BAD(util_parse_size, "-1M");
    BAD(util_parse_size, "10x");
    BAD(util_parse_size, "1.5M");
    BAD(util_parse_size, "M");
    BAD(util_parse_size, "1 M");
    BAD(util_parse_size, "lots");
    BAD(util_parse_size, "99999999999999G");          /* overflows int64 */
    BAD(util_parse_size, "99999999999999999999999"); /* overflows strtoll */
}

static void test_parse_duration(void **state)
{
    (void)state;
    GOOD(util_parse_duration_ms, "30s", 30000);
    GOOD(util_parse_duration_ms, "5", 5000); /* a bare number is seconds */
    GOOD(util_parse_duration_ms, "0", 0);
    GOOD(util_parse_duration_ms, "250ms", 250);
    GOOD(util_parse_duration_ms, "5m", 300000);
    GOOD(util_parse_duration_ms, "5min", 300000);
    GOOD(util_parse_duration_ms, "2h", 7200000);
    GOOD(util_parse_duration_ms, "1d", 86400000);
    BAD(util_parse_duration_ms, "-1");
    BAD(util_parse_duration_ms, "-5s");
    BAD(util_parse_duration_ms, "10x");
    BAD(util_parse_duration_ms, "");
    BAD(util_parse_duration_ms, "s");
    BAD(util_parse_duration_ms, "1.5s");
    BAD(util_parse_duration_ms, "30 s");
    BAD(util_parse_duration_ms, "30S");
    BAD(util_parse_duration_ms, "9999999999999999d");
}

static void test_parse_int(void **state)
{
    (void)state;
    GOOD(util_parse_int, "42", 42);
    GOOD(util_parse_int, "-7", -7);
    GOOD(util_parse_int, "0", 0);
    GOOD(util_parse_int, "9223372036854775807", INT64_MAX);
    BAD(util_parse_int, "");
    BAD(util_parse_int, "many");
    BAD(util_parse_int, "4x");
    BAD(util_parse_int, "1.0");
    BAD(util_parse_int, "9223372036854775808");
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True"};
    static const char *const no[] = {"no", "false", "off", "0", "NO", "Off"};
    static const char *const bad[] = {"maybe", "", "2", "yess", "y", "n", "enabled"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        int b = -1;
        assert_int_equal(util_parse_bool(yes[i], &b), 0);
        assert_int_equal(b, 1);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        int b = -1;
        assert_int_equal(util_parse_bool(no[i], &b), 0);
        assert_int_equal(b, 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int b = -1;
        if (util_parse_bool(bad[i], &b) != -EINVAL)
            fail_msg("util_parse_bool(\"%s\") accepted", bad[i]);
        assert_int_equal(b, -1);
    }
}

static void expect_format(int64_t ms, const char *want)
{
    char out[32];
    assert_int_equal(util_format_time(ms, out, sizeof out), 0);
    assert_string_equal(out, want);
    int64_t back = 0;
    assert_int_equal(util_parse_time(out, &back), 0);
    assert_int_equal(back, ms);
}

static void test_format_time_round_trip(void **state)
{
    (void)state;
    expect_format(0, "1970-01-01T00:00:00.000Z");
    expect_format(1795451400123LL, "2026-11-23T16:30:00.123Z");
    expect_format(951782400000LL, "2000-02-29T00:00:00.000Z");
    expect_format(-1, "1969-12-31T23:59:59.999Z");
    expect_format(4102444799999LL, "2099-12-31T23:59:59.999Z");
    /* Every millisecond value survives the round trip. */
    for (int64_t ms = 1795451400000LL; ms < 1795451401000LL; ms += 7) {
        char out[32];
        int64_t back = 0;
        assert_int_equal(util_format_time(ms, out, sizeof out), 0);
        assert_int_equal(util_parse_time(out, &back), 0);
        assert_int_equal(back, ms);
    }
    char small[24];
    assert_int_equal(util_format_time(0, small, sizeof small), -ENOBUFS);
}

/* The calendar arithmetic agrees with the C library's gmtime_r and timegm
 * from 1600 to 2400, leap days and centuries included. */
static void test_time_matches_libc(void **state)
{
    (void)state;
    for (int64_t secs = -11676096000LL; secs < 13569465600LL; secs += 86400 * 13 + 3607) {
        struct tm tm;
        time_t t = (time_t)secs;
        assert_non_null(gmtime_r(&t, &tm));
        char want[96], out[32];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.042Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_int_equal(util_format_time(secs * 1000 + 42, out, sizeof out), 0);
        assert_string_equal(out, want);
        int64_t back = 0;
        assert_int_equal(util_parse_time(want, &back), 0);
        assert_int_equal(back, (int64_t)timegm(&tm) * 1000 + 42);
    }
}

static void expect_time(const char *s, const char *want_utc)
{
    int64_t ms = 0, want = 0;
    int r = util_parse_time(s, &ms);
    if (r != 0)
        fail_msg("util_parse_time(\"%s\") = %d", s, r);
    assert_int_equal(util_parse_time(want_utc, &want), 0);
    char out[32];
    assert_int_equal(util_format_time(ms, out, sizeof out), 0);
    if (ms != want)
        fail_msg("util_parse_time(\"%s\") is %s, expected %s", s, out, want_utc);
    assert_string_equal(out, want_utc);
}

static void test_parse_time_offsets_and_fractions(void **state)
{
    (void)state;
    expect_time("2026-11-23T12:00:00+03:00", "2026-11-23T09:00:00.000Z");
    expect_time("2026-11-23T12:00:00.250+03:00", "2026-11-23T09:00:00.250Z");
    expect_time("2026-11-23T12:00:00-05:30", "2026-11-23T17:30:00.000Z");
    expect_time("2026-11-23T01:00:00+03:00", "2026-11-22T22:00:00.000Z");
    expect_time("2026-11-23T16:30:00Z", "2026-11-23T16:30:00.000Z");
    expect_time("2026-11-23T16:30:00z", "2026-11-23T16:30:00.000Z");
    expect_time("2026-11-23T16:30:00+00:00", "2026-11-23T16:30:00.000Z");
    expect_time("2026-11-23T16:30:00.5Z", "2026-11-23T16:30:00.500Z");
    expect_time("2026-11-23T16:30:00.12Z", "2026-11-23T16:30:00.120Z");
    expect_time("2026-11-23T16:30:00.123456789Z", "2026-11-23T16:30:00.123Z");
    expect_time("2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00.000Z");
    expect_time("2026-12-31T23:59:59.999Z", "2026-12-31T23:59:59.999Z");
    int64_t ms = 0;
    assert_int_equal(util_parse_time("2026-11-23T16:30:00.123Z", &ms), 0);
    assert_int_equal(ms, 1795451400123LL);
}

static void test_parse_time_bad_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "now",
        "2026-11-23",
        "2026-11-23T16:30:00",      /* no zone */
        "2026-11-23 16:30:00Z",     /* space for T */
        "2026-11-23T16:30Z",        /* no seconds */
        "2026-13-01T00:00:00Z",     /* month 13 */
        "2026-00-10T00:00:00Z",     /* month 0 */
        "2026-11-32T00:00:00Z",     /* day 32 */
        "2026-11-23T24:00:00Z",     /* hour 24 */
        "2026-11-23T16:60:00Z",     /* minute 60 */
        "2026-11-23T16:30:00.Z",    /* empty fraction */
        "2026-11-23T16:30:00Zjunk", /* trailing text */
        "2026-11-23T16:30:00+03",   /* offset without minutes */
        "2026-11-23T16:30:00+0300", /* offset without colon */
        "2026-11-23T16:30:00+3:00", /* one-digit offset hour */
        "2026-11-23T16:30:00+03:0", /* one-digit offset minute */
        "2026-11-23T16:30:00+03:5x",
        "2026-11-23T16:30:00+03:00x",
        "2026-+1-23T16:30:00Z",     /* signs inside the fields */
        "2026-11-23T-1:30:00Z",
        "26-11-23T16:30:00Z",
        "2026-02-30T00:00:00Z",     /* no 30 February */
        "2025-02-29T00:00:00Z",     /* 2025 is no leap year */
        "2026-04-31T00:00:00Z",     /* April has 30 days */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* An exact-size heap copy, so that reading past its end shows. */
        char *s = strdup(bad[i]);
        assert_non_null(s);
        int64_t ms = 0;
        int r = util_parse_time(s, &ms);
        if (r != -EINVAL)
            fail_msg("util_parse_time(\"%s\") = %d (%lld), expected -EINVAL", bad[i], r,
                     (long long)ms);
        free(s);
    }
}

static void test_now(void **state)
{
    (void)state;
    int64_t a = util_now_ms();
    assert_true(a > 1767225600000LL); /* after 2026-01-01 */
    uint64_t m1 = util_monotonic_ms(), m2 = util_monotonic_ms();
    assert_true(m2 >= m1);
}

static void test_read_file(void **state)
{
    (void)state;
    char *dir = unit_tempdir();
    char *path = unit_write_file(dir, "f.txt", "line one\nline two\n");
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(path, &data, &len), 0);
    assert_int_equal(len, 18);
    assert_string_equal(data, "line one\nline two\n");
    free(data);
    char *missing = unit_path(dir, "missing");
    assert_int_equal(util_read_file(missing, &data, &len), -ENOENT);
    assert_int_equal(util_read_file(dir, &data, &len), -EISDIR);
    free(missing);
    free(path);
    unit_rmtree(dir);
}

/* Every LMDB code, first to last, is named by LMDB's own text, and codes
 * just outside LMDB's range are not taken for LMDB's. */
static void test_strerror_names_lmdb_codes(void **state)
{
    (void)state;
    for (int e = MDB_KEYEXIST; e <= MDB_LAST_ERRCODE; e++) {
        assert_string_equal(kanal_strerror(e), mdb_strerror(e));
        assert_string_not_equal(kanal_strerror(e), "unknown error");
    }
    assert_non_null(strstr(kanal_strerror(MDB_MAP_FULL), "MDB_MAP_FULL"));
    assert_string_equal(kanal_strerror(MDB_KEYEXIST - 1), "unknown error");
    assert_string_equal(kanal_strerror(MDB_LAST_ERRCODE + 1), "unknown error");
    assert_string_equal(kanal_strerror(-ENOENT), strerror(ENOENT));
    assert_string_equal(kanal_strerror(KANAL_ERECORD),
                        "record does not match interaction schema v1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_format_time_round_trip),
        cmocka_unit_test(test_time_matches_libc),
        cmocka_unit_test(test_parse_time_offsets_and_fractions),
        cmocka_unit_test(test_parse_time_bad_refused),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_strerror_names_lmdb_codes),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
