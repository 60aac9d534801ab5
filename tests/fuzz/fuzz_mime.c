/* SPDX-License-Identifier: Apache-2.0 */
/* A raw message to records through GMime (plugins/email/mime.c, ingest.c),
 * as the LMTP listener and the IMAP poller hand it over: batch_add_message,
 * then batch_emit into the fake host (jsonin, record_normalize, jsonout on
 * what it emits).  Input: a flags byte (LMTP or IMAP origin, truncated,
 * store fails), then the message.  Whatever the message, it becomes a
 * record (a message, a bounce or unknown) the host accepts. */
#include "plugin_fuzz.h"

#include "email.h"

const struct kanal_plugin *kanal_plugin_entry(void);

static const char *const config[] = {
    "lmtp_listen",
    "127.0.0.1:0",
    "brand_addresses",
    "destek@marka.example,@marka.example",
    "from",
    "Marka Destek <destek@marka.example>",
    NULL,
};

/* GMime stays initialized between inputs (mime_init counts references):
 * kanald initializes it once per source, not once per message, and
 * g_mime_shutdown does not give back everything a later init takes. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mime_init();
    return 0;
}

struct done {
    int called, status;
};

static void on_done(void *arg, const struct kanal_kit_result *res)
{
    struct done *d = arg;
    d->called++;
    d->status = res->status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned flags = fuzz_byte(&in);
    struct kanal_source *src = fake_source_new(kanal_plugin_entry(), config);
    if (fake_source_init(src) < 0)
        FUZZ_FAIL("the email plugin did not start");
    fake_set_store_fails(src, flags & SEL_STORE_FAILS);
    struct email *e = fake_source_state(src);
    char *raw = fuzz_strndup(in.p, in.n);
    char *const rcpt[] = {"destek@marka.example", "satis@marka.example"};
    struct mail_origin o = {.via = (flags & 2) ? "imap" : "lmtp",
                            .uidvalidity = 7,
                            .uid = 42,
                            .envelope_from = (flags & 4) ? "" : "ayse@example.com",
                            .envelope_to = rcpt,
                            .nenvelope_to = 2};
    struct mail_batch b;
    batch_init(&b);
    int r = batch_add_message(e, &b, raw, in.n, &o, (flags & 8) != 0);
    if (r < 0)
        r = batch_add_unknown(e, &b, raw, in.n, &o, "the fuzzer's message");
    if (r < 0)
        FUZZ_FAIL("neither a record nor an unknown one from a message: %d", r);
    struct done d = {0};
    r = batch_emit(e, &b, NULL, on_done, &d); /* no fallback: the host must take it */
    if (r < 0)
        FUZZ_FAIL("the host refused the batch of one message: %d", r);
    fake_drain(src);
    if (d.called != 1)
        FUZZ_FAIL("the emit's callback ran %d times", d.called);
    batch_free(e, &b);
    fake_source_free(src);
    free(raw);
    return 0;
}
