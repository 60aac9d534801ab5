/* SPDX-License-Identifier: Apache-2.0 */
/* The body of the targets whose webhooks are signed "sha256=<hex HMAC-SHA256
 * of the body>" in a header (SIG_HEADER): facebook and whatsapp
 * (X-Hub-Signature-256 with the app secret) and webhook (X-Kanal-Signature);
 * twitter signs "sha256=<base64>" (SIG_BASE64) in x-twitter-webhooks-signature
 * with the consumer secret, and its GET is the CRC check of ?crc_token=.
 * The request goes through the plugin's own http(), signed correctly so the
 * fuzzer reaches the normalizer; GET runs Meta's hub.* handshake with the
 * query from the input.  Input: the selector byte (plugin_fuzz.h), then the
 * body (or "query\n" and the body with SEL_QUERY). */
#ifndef KANAL_FUZZ_HMAC_TARGET_H
#define KANAL_FUZZ_HMAC_TARGET_H

#include "plugin_fuzz.h"

const struct kanal_plugin *kanal_plugin_entry(void);

#define APP_SECRET "fuzz-app-secret-0123456789"

static const char *const config[] = {
    "app_secret",   APP_SECRET,        "secret",
    APP_SECRET,     "verify_token",    "fuzz-verify",
    "page_id",      "1234567890",      "page_access_token",
    "EAAfuzz",      "phone_number_id", "1098765432",
    "access_token", "EAAfuzz",         "keep_raw",
    "yes",          "consumer_secret", APP_SECRET,
    "user_id",      "2244994945",      NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    int sel = (int)fuzz_byte(&in);
    const char *b = (const char *)in.p;
    size_t len = in.n;
    char *query;
    split_query(sel, &b, &len, &query);
    char *body = fuzz_strndup((const uint8_t *)b, len);
    char hex[65], sig[80];
    const char *key = (sel & SEL_BAD_SIGNATURE) ? "not-the-secret" : APP_SECRET;
#ifdef SIG_BASE64
    unsigned char mac[32];
    fake_host.hmac_sha256(key, strlen(key), body, len, mac);
    fake_host.base64_encode(mac, sizeof mac, hex);
#else
    fake_hmac256_hex(key, body, len, hex);
#endif
    snprintf(sig, sizeof sig, "sha256=%s", hex);
    struct kanal_http_header headers[] = {
        {"Content-Type", "application/json"},
        {SIG_HEADER, sig},
    };
    struct kanal_source *src = fake_source_new(kanal_plugin_entry(), config);
    if (fake_source_start(src) < 0)
        FUZZ_FAIL("the plugin did not start");
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

#endif
