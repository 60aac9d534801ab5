/* SPDX-License-Identifier: Apache-2.0 */
/* NKey signatures (common/nkey.c): a user seed signs a server's nonce so
 * that its public key verifies it; anything that is not a user seed is
 * refused. */
#include "unit.h"

#include <errno.h>

#include <openssl/evp.h>

#include "nkey.h"
#include "util.h"

/* Two user seeds and their public keys, derived by another implementation
 * (python3-cryptography, as tests/e2e/test_cluster_auth.py makes them). */
static const char *const known[][2] = {
    {"SUAOCLUL6OMT5HPOIA6I4LTGVFQGKOO5ZYGGTB7SE5NOG46SYG7R47K3SA",
     "UCYJW73EEEWL4S3V5IHCVG6PBDEDM4QTM7BMJE6NVY4WO3LLZSAPIAXN"},
    {"SUAM6GBDLCFV4MZWHDN4CDIQUIDEWBPFSWCD4S27PDAMCBFKPVFDURXISY",
     "UDLUQHFNM6WXUUGV3YI7XVXW6IWOROR3UHQMBTE2BFMCECYCTBFKZ73E"},
};

/* The 32 key bytes of a public key "U...": base32, one prefix byte. */
static void public_raw(const char *text, unsigned char out[32])
{
    unsigned char raw[35];
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = text; *p; p++) {
        int v = *p >= 'A' && *p <= 'Z' ? *p - 'A' : *p - '2' + 26;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            assert_true(n < sizeof raw);
            raw[n++] = (unsigned char)(acc >> bits);
        }
    }
    assert_int_equal(n, 35);
    memcpy(out, raw + 1, 32);
}

static int verifies(const char *public, const unsigned char *sig, int sig_len, const char *msg)
{
    unsigned char pub[32];
    public_raw(public, pub);
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, sizeof pub);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = key && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, (size_t)sig_len, (const unsigned char *)msg,
                              strlen(msg)) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

static void test_known_seeds_sign_what_their_public_key_verifies(void **state)
{
    (void)state;
    const char *nonces[] = {"", "nonce-abc", "XkqfJ3Hq8D0oVz1Q_long_nonce_from_the_server"};
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        for (size_t j = 0; j < ARRAY_SIZE(nonces); j++) {
            unsigned char *sig = NULL;
            int len = 0;
            assert_int_equal(kanal_nkey_sign(known[i][0], (const unsigned char *)nonces[j],
                                             strlen(nonces[j]), &sig, &len),
                             0);
            assert_int_equal(len, 64);
            assert_true(verifies(known[i][1], sig, len, nonces[j]));
            /* Another key's public key does not verify it. */
            assert_false(verifies(known[1 - i][1], sig, len, nonces[j]));
            free(sig);
        }
}

static void test_what_is_not_a_user_seed_is_refused(void **state)
{
    (void)state;
    const char *seed = known[0][0];
    char bad[80];
    unsigned char *sig = (unsigned char *)"x";
    int len = 1;
    /* Every single character changed: the CRC (or the prefix) no longer
     * holds, or the padding bits are not zero. */
    for (size_t i = 0; i < strlen(seed); i++) {
        snprintf(bad, sizeof bad, "%s", seed);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_int_equal(kanal_nkey_sign(bad, (const unsigned char *)"n", 1, &sig, &len),
                         -EINVAL);
        assert_null(sig);
        assert_int_equal(len, 0);
    }
    const char *others[] = {
        "",
        "SUAOCLUL6OMT5HPOIA6I4LTGVFQGKOO5ZYGGTB7SE5NOG46SYG7R47K3S",   /* short */
        "SUAOCLUL6OMT5HPOIA6I4LTGVFQGKOO5ZYGGTB7SE5NOG46SYG7R47K3SAA", /* long */
        "suaoclul6omt5hpoia6i4ltgvfqgkoo5zyggtb7se5nog46syg7r47k3sa",  /* case */
        "UCYJW73EEEWL4S3V5IHCVG6PBDEDM4QTM7BMJE6NVY4WO3LLZSAPIAXN",    /* a public key */
        "SUAOCLUL6OMT5HPOIA6I4LTGVFQGKOO5ZYGGTB7SE5NOG46SYG7R47K3S=",  /* padding */
    };
    for (size_t i = 0; i < ARRAY_SIZE(others); i++)
        assert_int_equal(kanal_nkey_sign(others[i], (const unsigned char *)"n", 1, &sig, &len),
                         -EINVAL);
    assert_int_equal(kanal_nkey_sign(NULL, (const unsigned char *)"n", 1, &sig, &len), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_seeds_sign_what_their_public_key_verifies),
        cmocka_unit_test(test_what_is_not_a_user_seed_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
