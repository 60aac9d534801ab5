/* SPDX-License-Identifier: Apache-2.0 */
/* HMAC, base64, hex and constant-time compare: the primitives that decide
 * whether a webhook is authentic. */
#include "unit.h"

#include <errno.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"

static void assert_hex(const unsigned char *bytes, size_t len, const char *want)
{
    char hex[129];
    assert_true(len * 2 < sizeof hex);
    assert_int_equal(crypto_hex_encode(bytes, len, hex), 0);
    assert_string_equal(hex, want);
}

/* RFC 4231, test case 2. */
static void test_hmac_sha256_rfc4231(void **state)
{
    (void)state;
    static const char data[] = "what do ya want for nothing?";
    unsigned char mac[32];
    assert_int_equal(crypto_hmac_sha256("Jefe", 4, data, strlen(data), mac), 0);
    assert_hex(mac, sizeof mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231, test case 6: a key longer than the block is hashed first. */
static void test_hmac_sha256_long_key(void **state)
{
    (void)state;
    unsigned char key[131], mac[32];
    memset(key, 0xaa, sizeof key);
    static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_int_equal(crypto_hmac_sha256(key, sizeof key, data, strlen(data), mac), 0);
    assert_hex(mac, sizeof mac, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* kanald keeps the keyed states of the last keys: every key length (empty,
 * up to the block, longer, longer than it keeps), every data length, more
 * keys in turn than it keeps, the same key again after others pushed it
 * out: always what OpenSSL's own HMAC() computes. */
static void test_hmac_sha256_matches_openssl_for_many_keys(void **state)
{
    (void)state;
    static const size_t key_lens[] = {0, 1, 4, 31, 32, 63, 64, 65, 100, 128, 255, 256, 257, 400};
    unsigned char key[400], data[300], mac[32], want[32];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 13 + 1);
    for (int round = 0; round < 3; round++)
        for (size_t dl = 0; dl <= sizeof data; dl += 23)
            for (size_t k = 0; k < sizeof key_lens / sizeof *key_lens; k++) {
                /* Keys differing in their last byte only, by round. */
                size_t kl = key_lens[k];
                unsigned char kk[400];
                memcpy(kk, key, kl);
                if (kl)
                    kk[kl - 1] ^= (unsigned char)(round + dl);
                unsigned wl = 0;
                assert_non_null(HMAC(EVP_sha256(), kk, (int)kl, data, dl, want, &wl));
                assert_int_equal(wl, 32);
                assert_int_equal(crypto_hmac_sha256(kk, kl, data, dl, mac), 0);
                assert_memory_equal(mac, want, 32);
            }
}

/* RFC 2202, test case 2. */
static void test_hmac_sha1_rfc2202(void **state)
{
    (void)state;
    static const char data[] = "what do ya want for nothing?";
    unsigned char mac[20];
    assert_int_equal(crypto_hmac_sha1("Jefe", 4, data, strlen(data), mac), 0);
    assert_hex(mac, sizeof mac, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

/* FIPS 180-2, "abc". */
static void test_sha256(void **state)
{
    (void)state;
    unsigned char md[32];
    assert_int_equal(crypto_sha256("abc", 3, md), 0);
    assert_hex(md, sizeof md, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hex(void **state)
{
    (void)state;
    static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof in + 1];
    memset(out, 'x', sizeof out);
    assert_int_equal(crypto_hex_encode(in, sizeof in, out), 0);
    assert_string_equal(out, "00017f80abff");
    assert_int_equal(crypto_hex_encode(in, 0, out), 0);
    assert_string_equal(out, "");
}

/* RFC 4648 section 10 vectors, both ways, with every padding case. */
static void test_base64_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *b64;
    } v[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char enc[16];
        assert_int_equal(crypto_base64_encode(v[i].plain, strlen(v[i].plain), enc), 0);
        assert_string_equal(enc, v[i].b64);
        unsigned char dec[16];
        size_t n = sizeof dec;
        assert_int_equal(crypto_base64_decode(v[i].b64, strlen(v[i].b64), dec, &n), 0);
        assert_int_equal(n, strlen(v[i].plain));
        assert_memory_equal(dec, v[i].plain, n);
    }
}

/* Every length from 0 to 300 with bytes 0..255 round-trips exactly. */
static void test_base64_round_trip_binary(void **state)
{
    (void)state;
    unsigned char in[300], out[300];
    char enc[4 * (sizeof in + 2) / 3 + 1];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof in; len++) {
        assert_int_equal(crypto_base64_encode(in, len, enc), 0);
        assert_int_equal(strlen(enc), 4 * ((len + 2) / 3));
        size_t n = sizeof out;
        assert_int_equal(crypto_base64_decode(enc, strlen(enc), out, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, in, len);
    }
    /* A trailing newline, as from a file or a header, is not part of the data. */
    unsigned char dec[8];
    size_t n = sizeof dec;
    assert_int_equal(crypto_base64_decode("Zm9vYg==\r\n", 10, dec, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(dec, "foob", 4);
}

static void test_base64_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zm9",      /* not a multiple of 4 */
        "Zm9vY",    /* not a multiple of 4 */
        "Zm9v!A==", /* not in the alphabet */
        "Zm 9v",    /* space inside */
        "Zm9v\x01g==",
        "====",     /* padding alone */
        "Zg==Zg==", /* padding in the middle */
        "Z===",     /* three padding characters */
        "Zg=a",     /* data after padding */
        "=Zg=",     /* padding first */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char out[16];
        size_t n = sizeof out;
        int r = crypto_base64_decode(bad[i], strlen(bad[i]), out, &n);
        if (r != -EINVAL)
            fail_msg("crypto_base64_decode(\"%s\") = %d, expected -EINVAL", bad[i], r);
    }
    /* Too small an output buffer is refused rather than overrun. */
    unsigned char small[5];
    size_t n = 2;
    assert_int_equal(crypto_base64_decode("Zm9vYmFy", 8, small, &n), -ENOBUFS);
    n = 4;
    assert_int_equal(crypto_base64_decode("Zm9vYmE=", 8, small, &n), -ENOBUFS);
}

/* A buffer exactly as large as the decoded data is enough: a plugin decodes
 * a signature header into unsigned char mac[20] or mac[32]. */
static void test_base64_exact_buffer(void **state)
{
    (void)state;
    unsigned char one[1];
    size_t n = sizeof one;
    assert_int_equal(crypto_base64_decode("Zg==", 4, one, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(one[0], 'f');

    unsigned char five[5];
    n = sizeof five;
    assert_int_equal(crypto_base64_decode("Zm9vYmE=", 8, five, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(five, "fooba", 5);

    unsigned char mac[32], dec[32];
    char enc[45];
    for (size_t i = 0; i < sizeof mac; i++)
        mac[i] = (unsigned char)(0xff - i);
    assert_int_equal(crypto_base64_encode(mac, sizeof mac, enc), 0);
    n = sizeof dec;
    assert_int_equal(crypto_base64_decode(enc, strlen(enc), dec, &n), 0);
    assert_int_equal(n, 32);
    assert_memory_equal(dec, mac, 32);
}

static void test_equal_ct(void **state)
{
    (void)state;
    static const unsigned char a[] = "0123456789abcdef0123456789abcdef";
    unsigned char b[sizeof a];
    memcpy(b, a, sizeof a);
    assert_int_equal(crypto_equal_ct(a, b, sizeof a), 1);
    b[0] ^= 1;
    assert_int_equal(crypto_equal_ct(a, b, sizeof a), 0);
    b[0] ^= 1;
    b[sizeof a - 2] ^= 0x80;
    assert_int_equal(crypto_equal_ct(a, b, sizeof a), 0);
    /* Only the first len bytes count. */
    assert_int_equal(crypto_equal_ct(a, b, sizeof a - 2), 1);
    assert_int_equal(crypto_equal_ct(a, b, 0), 1);
}

/* Twilio's X-Twilio-Signature as the sms plugin computes it: base64 of
 * HMAC-SHA1(auth token, URL + every POST parameter as name then value,
 * sorted by name). */
struct param {
    const char *name, *value;
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void twilio_signature(const char *token, const char *url, struct param *params,
                             size_t n, char out[29])
{
    char data[1024];
    qsort(params, n, sizeof *params, param_cmp);
    size_t len = (size_t)snprintf(data, sizeof data, "%s", url);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(data + len, sizeof data - len, "%s%s", params[i].name,
                                params[i].value);
    assert_true(len < sizeof data);
    unsigned char mac[20];
    assert_int_equal(crypto_hmac_sha1(token, strlen(token), data, len, mac), 0);
    assert_int_equal(crypto_base64_encode(mac, sizeof mac, out), 0);
}

static void test_twilio_vectors(void **state)
{
    (void)state;
    static const char url[] = "https://mycompany.com/myapp.php?foo=1&bar=2";
    /* Given out of order: the signature sorts them. */
    struct param p1[] = {
        {"To", "+18005551212"},   {"Digits", "1234"},          {"From", "+14158675309"},
        {"Caller", "+14158675309"}, {"CallSid", "CA1234567890ABCDE"},
    };
    char sig[29];
    twilio_signature("12345", url, p1, sizeof p1 / sizeof p1[0], sig);
    assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");

    struct param p2[] = {
        {"CallSid", "CA1234567890ABCDE"}, {"Caller", "+14158675310"}, {"Digits", "1234"},
        {"From", "+14158675310"},         {"To", "+18005551212"},
    };
    twilio_signature("12345", url, p2, sizeof p2 / sizeof p2[0], sig);
    assert_string_equal(sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");

    /* The check a plugin makes: decode the header, compare in constant time. */
    unsigned char got[20], want[20];
    size_t n = sizeof got;
    assert_int_equal(crypto_base64_decode("GvWf1cFY/Q7PnoempGyD5oXAezc=", 28, got, &n), 0);
    assert_int_equal(n, 20);
    assert_int_equal(crypto_base64_decode(sig, strlen(sig), want, &(size_t){20}), 0);
    assert_int_equal(crypto_equal_ct(got, want, 20), 1);
    /* A different token gives a different signature. */
    twilio_signature("12346", url, p2, sizeof p2 / sizeof p2[0], sig);
    assert_string_not_equal(sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
}

static void test_random(void **state)
{
    (void)state;
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    assert_int_equal(crypto_random(a, sizeof a), 0);
    assert_int_equal(crypto_random(b, sizeof b), 0);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_hmac_sha256_long_key),
        cmocka_unit_test(test_hmac_sha256_matches_openssl_for_many_keys),
        cmocka_unit_test(test_hmac_sha1_rfc2202),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_round_trip_binary),
        cmocka_unit_test(test_base64_invalid),
        cmocka_unit_test(test_base64_exact_buffer),
        cmocka_unit_test(test_equal_ct),
        cmocka_unit_test(test_twilio_vectors),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
