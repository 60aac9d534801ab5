/* SPDX-License-Identifier: Apache-2.0 */
/* Handle normalization: the identifiers that match a person across channels. */
#include "unit.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>

#include <kanal/plugin.h>

#include "handle.h"

/* Normalize in and expect success with want. */
static void expect_handle(const char *in, const char *country, const char *want)
{
    char out[128];
    const char *why = NULL;
    int r = handle_normalize(in, country, out, sizeof out, &why);
    if (r != 0)
        fail_msg("handle_normalize(\"%s\", %s) = %d (%s), expected \"%s\"", in,
                 country ? country : "NULL", r, why ? why : "?", want);
    assert_string_equal(out, want);
}

/* Normalize in and expect KANAL_EHANDLE with a reason. */
static void expect_bad_handle(const char *in, const char *country)
{
    char out[128] = "";
    const char *why = NULL;
    int r = handle_normalize(in, country, out, sizeof out, &why);
    if (r != KANAL_EHANDLE)
        fail_msg("handle_normalize(\"%s\") = %d (\"%s\"), expected KANAL_EHANDLE", in, r, out);
    assert_non_null(why);
    assert_true(strlen(why) > 0);
}

static void expect_e164(const char *in, const char *country, const char *want)
{
    char out[32];
    const char *why = NULL;
    int r = handle_phone_e164(in, country, out, sizeof out, &why);
    if (r != 0)
        fail_msg("handle_phone_e164(\"%s\", %s) = %d (%s), expected \"%s\"", in,
                 country ? country : "NULL", r, why ? why : "?", want);
    assert_string_equal(out, want);
}

static void expect_bad_e164(const char *in, const char *country)
{
    char out[32] = "";
    const char *why = NULL;
    int r = handle_phone_e164(in, country, out, sizeof out, &why);
    if (r != KANAL_EHANDLE)
        fail_msg("handle_phone_e164(\"%s\", %s) = %d (\"%s\"), expected KANAL_EHANDLE", in,
                 country ? country : "NULL", r, out);
    assert_non_null(why);
}

static void test_email_lowercased_and_trimmed(void **state)
{
    (void)state;
    expect_handle("email:  Ayse.Yilmaz@Example.COM \t", NULL, "email:ayse.yilmaz@example.com");
    expect_handle("email:info@kanal.example", "TR", "email:info@kanal.example");
}

static void test_email_bad_refused(void **state)
{
    (void)state;
    expect_bad_handle("email:no-at-sign.example", NULL);
    expect_bad_handle("email:@example.com", NULL);
    expect_bad_handle("email:ayse@", NULL);
    expect_bad_handle("email:a@b@example.com", NULL);
    expect_bad_handle("email:ay se@example.com", NULL);
}

static void test_phone_turkish(void **state)
{
    (void)state;
    expect_e164("0532 123 45 67", "TR", "+905321234567");
    expect_e164("+90 (532) 123-45-67", "TR", "+905321234567");
    expect_e164("+90 (532) 123-45-67", NULL, "+905321234567");
    expect_e164("00905321234567", "TR", "+905321234567");
    expect_e164("00905321234567", NULL, "+905321234567");
    /* Written internationally without '+', as WhatsApp ids are. */
    expect_e164("905321234567", "TR", "+905321234567");
    /* National significant number without the trunk 0. */
    expect_e164("532 123 45 67", "TR", "+905321234567");

    expect_handle("phone:0532 123 45 67", "TR", "phone:+905321234567");
    expect_handle("phone: +90 (532) 123-45-67 ", NULL, "phone:+905321234567");
    expect_handle("phone:905321234567", "TR", "phone:+905321234567");
}

static void test_phone_other_countries(void **state)
{
    (void)state;
    expect_e164("030 123456", "DE", "+4930123456");
    expect_e164("(415) 867-5309", "US", "+14158675309");
    expect_e164("1 415 867 5309", "US", "+14158675309");
    expect_e164("011 44 20 7946 0958", "US", "+442079460958");
    expect_e164("020 7946 0958", "GB", "+442079460958");
    expect_handle("phone:030 123456", "DE", "phone:+4930123456");
    expect_handle("phone:011 44 20 7946 0958", "US", "phone:+442079460958");
    /* The default country only applies to national numbers. */
    expect_e164("+49 30 123456", "TR", "+4930123456");
}

static void test_phone_national_needs_country(void **state)
{
    (void)state;
    expect_bad_e164("0532 123 45 67", NULL);
    expect_bad_handle("phone:0532 123 45 67", NULL);
    /* An unknown default_country is no better than none. */
    expect_bad_e164("0532 123 45 67", "XX");
}

static void test_phone_bad_refused(void **state)
{
    (void)state;
    expect_bad_e164("0532 ABC 45 67", "TR");
    expect_bad_e164("+90 532 123 45 67 ext 5", "TR");
    expect_bad_handle("phone:0532 12x 45 67", "TR");
    expect_bad_handle("phone:+90", "TR");             /* too short */
    expect_bad_handle("phone:+9053212345678901234", NULL); /* too long for E.164 */
    expect_bad_handle("phone:+0532 123 45 67", NULL); /* no country code starts with 0 */
}

static void test_wa_and_x_numeric(void **state)
{
    (void)state;
    expect_handle("wa:+905321234567", NULL, "wa:905321234567");
    expect_handle("wa:905321234567", NULL, "wa:905321234567");
    expect_handle("x: 783214 ", NULL, "x:783214");
    expect_bad_handle("wa:90532abc", NULL);
    expect_bad_handle("x:jack", NULL);
}

static void test_unknown_scheme_kept_trimmed(void **state)
{
    (void)state;
    expect_handle("fb:  1234567890/987654321  ", NULL, "fb:1234567890/987654321");
    expect_handle("crm:C-0042", NULL, "crm:C-0042");
    expect_handle("my_scheme-2: Mixed Case Id ", "TR", "my_scheme-2:Mixed Case Id");
}

static void test_invalid_scheme_refused(void **state)
{
    (void)state;
    expect_bad_handle("Email:ayse@example.com", NULL);
    expect_bad_handle("EMAIL:ayse@example.com", NULL);
    expect_bad_handle("email:", NULL);
    expect_bad_handle("custom:   ", NULL);
    expect_bad_handle("ayse@example.com", NULL);
    expect_bad_handle(":value", NULL);
    expect_bad_handle("1x:value", NULL);
    expect_bad_handle("sch eme:value", NULL);
    expect_bad_handle("custom:line\nbreak", NULL);
}

static void test_small_buffer(void **state)
{
    (void)state;
    char out[8];
    const char *why = NULL;
    assert_int_equal(handle_normalize("email:ayse@example.com", NULL, out, sizeof out, &why),
                     -ENOBUFS);
    assert_int_equal(handle_normalize("phone:+905321234567", NULL, out, sizeof out, &why),
                     -ENOBUFS);
}

static void test_country_known(void **state)
{
    (void)state;
    assert_true(handle_country_known("TR"));
    assert_true(handle_country_known("de"));
    assert_false(handle_country_known("XX"));
    assert_false(handle_country_known(NULL));
}

/* Every byte, as the C locale classes it (kanald runs in it): white space
 * around a value is trimmed, an e-mail address is lowercased in A-Z only,
 * a control byte is refused, anything else is kept as it is. */
static void test_every_byte_as_the_c_locale_reads_it(void **state)
{
    (void)state;
    assert_non_null(setlocale(LC_CTYPE, "C"));
    for (int b = 1; b < 256; b++) {
        char in[32], want[32], out[64];
        const char *why = NULL;
        snprintf(in, sizeof in, "email:%cx%c@y.z%c", b, b, b);
        int r = handle_normalize(in, NULL, out, sizeof out, &why);
        if (isspace(b)) {
            /* trimmed at both ends; in the middle, refused */
            if (r != KANAL_EHANDLE)
                fail_msg("byte 0x%02x inside an address: %d, expected a refusal", b, r);
            snprintf(in, sizeof in, "email:%cx@y.z%c", b, b);
            assert_int_equal(handle_normalize(in, NULL, out, sizeof out, &why), 0);
            assert_string_equal(out, "email:x@y.z");
        } else if (b < 0x20 || b == 0x7f) {
            if (r != KANAL_EHANDLE)
                fail_msg("control byte 0x%02x: %d, expected a refusal", b, r);
        } else if (b == '@') {
            assert_int_equal(r, KANAL_EHANDLE); /* three of them */
        } else {
            int l = tolower(b);
            snprintf(want, sizeof want, "email:%cx%c@y.z%c", l, l, l);
            if (r != 0 || strcmp(out, want) != 0)
                fail_msg("byte 0x%02x: %d \"%s\", expected \"%s\"", b, r, r ? "" : out, want);
        }
        snprintf(in, sizeof in, "web:%cv%c", b, b);
        r = handle_normalize(in, NULL, out, sizeof out, &why);
        if (!isspace(b) && b >= 0x20 && b != 0x7f) {
            snprintf(want, sizeof want, "web:%cv%c", b, b);
            if (r != 0 || strcmp(out, want) != 0)
                fail_msg("web handle with byte 0x%02x: %d, expected \"%s\"", b, r, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_lowercased_and_trimmed),
        cmocka_unit_test(test_email_bad_refused),
        cmocka_unit_test(test_phone_turkish),
        cmocka_unit_test(test_phone_other_countries),
        cmocka_unit_test(test_phone_national_needs_country),
        cmocka_unit_test(test_phone_bad_refused),
        cmocka_unit_test(test_wa_and_x_numeric),
        cmocka_unit_test(test_unknown_scheme_kept_trimmed),
        cmocka_unit_test(test_invalid_scheme_refused),
        cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_country_known),
        cmocka_unit_test(test_every_byte_as_the_c_locale_reads_it),
    };
    return cmocka_run_group_tests_name("handle", tests, NULL, NULL);
}
