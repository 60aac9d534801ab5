/* SPDX-License-Identifier: Apache-2.0 */
/* The SMS plugin's webhook (plugins/sms/inbound.c) through its own http():
 * Twilio form posts, signed with X-Twilio-Signature exactly as Twilio does
 * (the harness collects the body's parameters with the host's form decoder
 * and signs them with plugins/sms/twilio_sig.c), so the fuzzer gets past the
 * signature to the normalizer.  Input: the selector byte (plugin_fuzz.h),
 * then the form body. */
#include "plugin_fuzz.h"

#include "crypto.h"
#include "form.h"
#include "twilio_sig.h"

const struct kanal_plugin *kanal_plugin_entry(void);

#define TOKEN "fuzz-auth-token-0123456789"
#define PUBLIC_URL "https://kanal.example.com/hooks/fuzz"

static const char *const config[] = {
    "account_sid", "AC0123456789abcdef0123456789abcdef",
    "auth_token",  TOKEN,
    "public_url",  PUBLIC_URL,
    "from",        "+15557654321",
    NULL,
};

static const struct twilio_crypto crypto = {
    .hmac_sha1 = crypto_hmac_sha1,
    .base64_encode = crypto_base64_encode,
    .equal_ct = crypto_equal_ct,
};

struct params {
    struct twilio_param p[1000];
    size_t n;
};

static int collect(void *arg, const char *name, const char *value)
{
    struct params *ps = arg;
    if (ps->n == 1000)
        return -E2BIG;
    ps->p[ps->n++] = (struct twilio_param){strdup(name), strdup(value)};
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    int sel = (int)fuzz_byte(&in);
    const char *b = (const char *)in.p;
    size_t len = in.n;
    char *query;
    split_query(sel, &b, &len, &query);
    char *body = fuzz_strndup((const uint8_t *)b, len);

    static struct params ps;
    ps.n = 0;
    form_decode(body, len, collect, &ps);
    char *url = twilio_request_url(PUBLIC_URL, query);
    char sig[TWILIO_SIG_LEN + 1];
    twilio_sign(&crypto, (sel & SEL_BAD_SIGNATURE) ? "not-the-token" : TOKEN, url, ps.p, ps.n, sig);
    free(url);
    for (size_t i = 0; i < ps.n; i++) {
        free((char *)ps.p[i].name);
        free((char *)ps.p[i].value);
    }
    struct kanal_http_header headers[] = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"X-Twilio-Signature", sig},
    };

    struct kanal_source *src = fake_source_new(kanal_plugin_entry(), config);
    if (fake_source_start(src) < 0)
        FUZZ_FAIL("the sms plugin did not start");
    fake_set_store_fails(src, sel & SEL_STORE_FAILS);
    int status = fake_request(src, (sel & SEL_GET) ? "GET" : "POST", "/hooks/fuzz", query, headers,
                              2, body, len);
    if (!(sel & SEL_GET))
        check_answer(status, sel, 0, fake_records(src));
    fake_source_free(src);
    free(body);
    free(query);
    return 0;
}
