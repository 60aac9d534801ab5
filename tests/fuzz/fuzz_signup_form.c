/* SPDX-License-Identifier: Apache-2.0 */
/* HTML form posts into the signup plugin (plugins/signup/form.c): public,
 * unsigned, so any bytes are what a visitor could send.  Input: the selector
 * byte (plugin_fuzz.h; SEL_BAD_SIGNATURE sends another Content-Type), then
 * the form body.  With a working store no answer may be a 5xx: a form post
 * is refused with a 4xx that says why, or stored and redirected. */
#include "plugin_fuzz.h"

const struct kanal_plugin *kanal_plugin_entry(void);

static const char *const config[] = {
    "provider",
    "form",
    "event_id",
    "konf-2026",
    "event_name",
    "Konferans 2026",
    "event_starts_at",
    "2026-12-01T09:00:00+03:00",
    "redirect_url",
    "https://example.com/tesekkurler",
    "fields",
    "ad_soyad,email*,telefon,sirket,not",
    NULL,
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
    struct kanal_http_header headers[] = {
        {"Content-Type", (sel & SEL_BAD_SIGNATURE) ? "multipart/form-data; boundary=x"
                                                   : "application/x-www-form-urlencoded"},
        {"X-Forwarded-For", "198.51.100.7"},
    };
    struct kanal_source *src = fake_source_new(kanal_plugin_entry(), config);
    if (fake_source_start(src) < 0)
        FUZZ_FAIL("the signup plugin did not start");
    fake_set_store_fails(src, sel & SEL_STORE_FAILS);
    int status = fake_request(src, (sel & SEL_GET) ? "GET" : "POST", "/hooks/fuzz", query, headers,
                              2, body, len);
    if (!(sel & SEL_STORE_FAILS) && status >= 500)
        FUZZ_FAIL("a form post was answered %d with a working store", status);
    if ((sel & SEL_BAD_SIGNATURE) && (fake_records(src) || status < 400))
        FUZZ_FAIL("a post that is not a form was answered %d", status);
    fake_source_free(src);
    free(body);
    free(query);
    return 0;
}
