/* SPDX-License-Identifier: Apache-2.0 */
/* Twilio's request signature (plugins/sms/twilio_sig.c), checked with the
 * daemon's own HMAC and base64 against the two official vectors, the port
 * variants Twilio's SDKs accept, and tampering. */
#include "unit.h"

#include "crypto.h"
#include "twilio_sig.h"

static const struct twilio_crypto crypto = {
    .hmac_sha1 = crypto_hmac_sha1,
    .base64_encode = crypto_base64_encode,
    .equal_ct = crypto_equal_ct,
};

static const char token[] = "12345";
static const char url[] = "https://mycompany.com/myapp.php?foo=1&bar=2";

/* Deliberately not in sorted order: the signature sorts them. */
static const struct twilio_param vector1[] = {
    {"To", "+18005551212"},
    {"CallSid", "CA1234567890ABCDE"},
    {"From", "+14158675309"},
    {"Digits", "1234"},
    {"Caller", "+14158675309"},
};

static const struct twilio_param vector2[] = {
    {"CallSid", "CA1234567890ABCDE"},
    {"Caller", "+14158675310"},
    {"Digits", "1234"},
    {"From", "+14158675310"},
    {"To", "+18005551212"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_signed_text_sorts_by_name(void **state)
{
    (void)state;
    char *text = twilio_signed_text(url, vector1, N(vector1));
    assert_non_null(text);
    assert_string_equal(text, "https://mycompany.com/myapp.php?foo=1&bar=2"
                              "CallSidCA1234567890ABCDECaller+14158675309Digits1234"
                              "From+14158675309To+18005551212");
    free(text);
}

static void test_official_vector_1(void **state)
{
    (void)state;
    char sig[TWILIO_SIG_LEN + 1];
    assert_int_equal(twilio_sign(&crypto, token, url, vector1, N(vector1), sig), 0);
    assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    assert_true(twilio_signature_ok(&crypto, token, url, vector1, N(vector1),
                                    "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
}

static void test_official_vector_2(void **state)
{
    (void)state;
    char sig[TWILIO_SIG_LEN + 1];
    assert_int_equal(twilio_sign(&crypto, token, url, vector2, N(vector2), sig), 0);
    assert_string_equal(sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
    assert_true(twilio_signature_ok(&crypto, token, url, vector2, N(vector2),
                                    "GvWf1cFY/Q7PnoempGyD5oXAezc="));
}

static void test_tampering_is_refused(void **state)
{
    (void)state;
    const char *good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    /* The other vector's signature, a changed parameter, a missing one, an
     * extra one, another token, another URL, no or a malformed header. */
    assert_false(twilio_signature_ok(&crypto, token, url, vector1, N(vector1),
                                     "GvWf1cFY/Q7PnoempGyD5oXAezc="));
    struct twilio_param changed[N(vector1)];
    memcpy(changed, vector1, sizeof changed);
    changed[3].value = "1235";
    assert_false(twilio_signature_ok(&crypto, token, url, changed, N(changed), good));
    assert_false(twilio_signature_ok(&crypto, token, url, vector1, N(vector1) - 1, good));
    struct twilio_param extra[N(vector1) + 1];
    memcpy(extra, vector1, sizeof vector1);
    extra[N(vector1)] = (struct twilio_param){"Body", "STOP"};
    assert_false(twilio_signature_ok(&crypto, token, url, extra, N(extra), good));
    assert_false(twilio_signature_ok(&crypto, "12346", url, vector1, N(vector1), good));
    assert_false(twilio_signature_ok(&crypto, token, "https://mycompany.com/myapp.php?foo=1",
                                     vector1, N(vector1), good));
    assert_false(twilio_signature_ok(&crypto, token, url, vector1, N(vector1), NULL));
    assert_false(twilio_signature_ok(&crypto, token, url, vector1, N(vector1), ""));
    assert_false(twilio_signature_ok(&crypto, token, url, vector1, N(vector1),
                                     "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
}

/* Twilio's SDKs accept the URL with and without an explicit default port. */
static void test_explicit_default_port(void **state)
{
    (void)state;
    const char *good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    assert_true(twilio_signature_ok(&crypto, token, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                                    vector1, N(vector1), good));
    char sig443[TWILIO_SIG_LEN + 1];
    assert_int_equal(twilio_sign(&crypto, token, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                                 vector1, N(vector1), sig443),
                     0);
    assert_true(twilio_signature_ok(&crypto, token, url, vector1, N(vector1), sig443));
    /* Some other port is part of the URL: no variant. */
    assert_false(twilio_signature_ok(&crypto, token,
                                     "https://mycompany.com:8443/myapp.php?foo=1&bar=2", vector1,
                                     N(vector1), good));
}

static void test_port_variants(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"https://a.example/x?y=1", "https://a.example:443/x?y=1"},
        {"https://a.example:443/x", "https://a.example/x"},
        {"http://a.example", "http://a.example:80"},
        {"http://a.example:80/hooks/sms", "http://a.example/hooks/sms"},
        {"https://[2001:db8::1]/h", "https://[2001:db8::1]:443/h"},
        {"https://[2001:db8::1]:443/h", "https://[2001:db8::1]/h"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *v = twilio_url_port_variant(cases[i][0]);
        assert_non_null(v);
        assert_string_equal(v, cases[i][1]);
        free(v);
    }
    assert_null(twilio_url_port_variant("https://a.example:8443/x"));
    assert_null(twilio_url_port_variant("http://a.example:443/x"));
    assert_null(twilio_url_port_variant("ftp://a.example/x"));
}

/* Repeated names (MediaUrl with several values, say) sort by value too. */
static void test_repeated_names_sort_by_value(void **state)
{
    (void)state;
    static const struct twilio_param p[] = {{"b", "2"}, {"a", "z"}, {"b", "1"}, {"a", "y"}};
    char *text = twilio_signed_text("https://x.example/h", p, N(p));
    assert_string_equal(text, "https://x.example/hayazb1b2"); /* a:y a:z b:1 b:2 */
    free(text);
}

static void test_request_url(void **state)
{
    (void)state;
    char *u = twilio_request_url("https://crm.example.com/hooks/sms", "");
    assert_string_equal(u, "https://crm.example.com/hooks/sms");
    free(u);
    u = twilio_request_url("https://crm.example.com/hooks/sms", "a=1&b=2");
    assert_string_equal(u, "https://crm.example.com/hooks/sms?a=1&b=2");
    free(u);
    /* The query Twilio actually sent wins over one written in public_url;
     * a fragment (Twilio's #rc= connection overrides) is never sent. */
    u = twilio_request_url("https://crm.example.com/hooks/sms?old=1#rc=3", "new=2");
    assert_string_equal(u, "https://crm.example.com/hooks/sms?new=2");
    free(u);
    u = twilio_request_url("https://crm.example.com/hooks/sms#rc=3", NULL);
    assert_string_equal(u, "https://crm.example.com/hooks/sms");
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_text_sorts_by_name),
        cmocka_unit_test(test_official_vector_1),
        cmocka_unit_test(test_official_vector_2),
        cmocka_unit_test(test_tampering_is_refused),
        cmocka_unit_test(test_explicit_default_port),
        cmocka_unit_test(test_port_variants),
        cmocka_unit_test(test_repeated_names_sort_by_value),
        cmocka_unit_test(test_request_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
