/* SPDX-License-Identifier: Apache-2.0 */
/* Twilio's signature (plugins/sms/twilio_sig.c): the canonical text builder,
 * the request URL and its port variant, and the check.  Input: public_url,
 * query, token, then name/value pairs, NUL-separated.  What is checked: a
 * signature made by twilio_sign is accepted for the URL and for its port
 * variant; a signature of other parameters is not; nothing reads out of
 * bounds on any URL. */
#include "fuzz.h"

#include "crypto.h"
#include "twilio_sig.h"

static const struct twilio_crypto crypto = {
    .hmac_sha1 = crypto_hmac_sha1,
    .base64_encode = crypto_base64_encode,
    .equal_ct = crypto_equal_ct,
};

static int authority_ok(const char *h, size_t n)
{
    size_t i = 0;
    if (n && h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        if (!rb)
            return 0;
        i = (size_t)(rb - h) + 1;
    }
    for (; i < n && h[i] != ':'; i++)
        if (h[i] == '[' || h[i] == ']')
            return 0;
    if (i < n) {
        if (++i == n)
            return 0;
        for (; i < n; i++)
            if (h[i] < '0' || h[i] > '9')
                return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *public_url = fuzz_str(&in), *query = fuzz_str(&in), *token = fuzz_str(&in);
    struct twilio_param params[16];
    char *strs[32];
    size_t n = 0, ns = 0;
    while (in.n && n < 16) {
        strs[ns++] = fuzz_str(&in);
        strs[ns++] = fuzz_str(&in);
        params[n].name = strs[ns - 2];
        params[n].value = strs[ns - 1];
        n++;
    }
    char *url = twilio_request_url(public_url, query);
    char *text = twilio_signed_text(url, params, n);
    if (!url || !text)
        FUZZ_FAIL("out of memory");
    if (strncmp(text, url, strlen(url)) != 0)
        FUZZ_FAIL("the signed text does not start with the URL");
    char sig[TWILIO_SIG_LEN + 1];
    if (twilio_sign(&crypto, token, url, params, n, sig) < 0)
        FUZZ_FAIL("twilio_sign failed");
    if (!twilio_signature_ok(&crypto, token, url, params, n, sig))
        FUZZ_FAIL("a signature twilio_sign made is refused");
    /* Both forms of a URL accept the signature when its authority is well
     * formed (a name or an [IPv6] literal, then at most one :digits); the
     * public_url comes from the operator's config, not from a peer. */
    const char *host = strstr(url, "://");
    int well_formed = host && authority_ok(host + 3, strcspn(host + 3, "/?#"));
    char *other = twilio_url_port_variant(url);
    if (other && well_formed) {
        if (!twilio_signature_ok(&crypto, token, other, params, n, sig))
            FUZZ_FAIL("the port variant %s of %s is refused", other, url);
    }
    free(other);
    /* One more parameter: the same signature must not do. */
    if (n < 16) {
        params[n] = (struct twilio_param){"Extra", "1"};
        char *other_url = twilio_url_port_variant(url);
        int fooled = twilio_signature_ok(&crypto, token, url, params, n + 1, sig);
        free(other_url);
        if (fooled)
            FUZZ_FAIL("a signature holds after a parameter was added");
    }
    twilio_signature_ok(&crypto, token, url, params, n, public_url); /* any text as a signature */
    free(text);
    free(url);
    for (size_t i = 0; i < ns; i++)
        free(strs[i]);
    free(public_url);
    free(query);
    free(token);
    return 0;
}
