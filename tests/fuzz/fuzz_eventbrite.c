/* SPDX-License-Identifier: Apache-2.0 */
/* Eventbrite webhooks into the signup plugin (plugins/signup/eventbrite.c):
 * the webhook names an order or attendee by its api_url; the plugin fetches
 * it from the API, which here is a local responder answering with a status
 * and a body from the input.  The webhook's secret is the hook_secret path
 * segment (SEL_BAD_SIGNATURE: another one).  Input: the selector byte
 * (plugin_fuzz.h), the webhook body up to a NUL byte, one byte choosing the
 * API's status, then the API's answer.
 *
 * A 5xx is what the plugin answers when the API fails or answers nonsense
 * (Eventbrite then delivers again), so only the signature rules of
 * check_answer apply here. */
#include "plugin_fuzz.h"

const struct kanal_plugin *kanal_plugin_entry(void);

static const char *const config[] = {
    "provider", "eventbrite", "token", "FUZZTOKEN0123", "hook_secret", "h00k-secret-fuzz", NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = {200, 200, 200, 200, 404, 429, 500, 401};
    struct fuzz_in in = {data, size};
    int sel = (int)fuzz_byte(&in);
    char *body = fuzz_str(&in);
    size_t len = strlen(body);
    int api_status = statuses[fuzz_byte(&in) % 8];
    struct kanal_http_header headers[] = {{"Content-Type", "application/json"}};
    struct kanal_source *src = fake_source_new(kanal_plugin_entry(), config);
    if (fake_source_start(src) < 0)
        FUZZ_FAIL("the signup plugin did not start");
    fake_set_store_fails(src, sel & SEL_STORE_FAILS);
    fake_set_api_response(src, api_status, in.p, in.n);
    const char *path =
        (sel & SEL_BAD_SIGNATURE) ? "/hooks/fuzz/h00k-secret-fuzx" : "/hooks/fuzz/h00k-secret-fuzz";
    int status =
        fake_request(src, (sel & SEL_GET) ? "GET" : "POST", path, "", headers, 1, body, len);
    if (sel & SEL_BAD_SIGNATURE) {
        if (status != 404 || fake_records(src))
            FUZZ_FAIL("a webhook to a wrong hook path was answered %d, %zu records", status,
                      fake_records(src));
    } else if ((sel & SEL_STORE_FAILS) && fake_records(src)) {
        FUZZ_FAIL("records counted as stored while the store fails");
    }
    fake_source_free(src);
    free(body);
    return 0;
}
