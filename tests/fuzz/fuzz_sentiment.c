/* SPDX-License-Identifier: Apache-2.0 */
/* The sentiment processor's text analyser (plugins/sentiment/analyse.c):
 * any bytes, as a record's text up to the plugin's largest max_text, with
 * the language identified or forced to Turkish or English by the first
 * byte.  Checks: the label is one of three, the score within -1..1 and on
 * the label's side, the language a short code. */
#include "fuzz.h"

#include "analyse.h"

static struct sa_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    const char *dir = getenv("KANAL_SENTIMENT_DATA");
    if (sa_model_load(&model, dir ? dir : "plugins/sentiment/data", "/usr/share/libexttextcat", err,
                      sizeof err) < 0) {
        fprintf(stderr, "fuzz_sentiment: %s (run from the repository's root)\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned sel = fuzz_byte(&in);
    const char *lang = sel % 3 == 1 ? "tr" : sel % 3 == 2 ? "en" : NULL;
    const uint8_t *text;
    size_t n = fuzz_take(&in, SA_TEXT_MAX, &text);
    struct sa_result r;
    if (sa_analyse(model, (const char *)text, n, lang, &r) != 0)
        FUZZ_FAIL("sa_analyse failed on %zu bytes", n);
    if (!(r.score >= -1 && r.score <= 1))
        FUZZ_FAIL("score %f out of -1..1", r.score);
    if (strcmp(r.label, "positive") && strcmp(r.label, "negative") && strcmp(r.label, "neutral"))
        FUZZ_FAIL("label %s", r.label);
    if ((strcmp(r.label, "positive") == 0 && r.score <= 0) ||
        (strcmp(r.label, "negative") == 0 && r.score >= 0))
        FUZZ_FAIL("label %s with score %f", r.label, r.score);
    if (strlen(r.lang) < 2 || strlen(r.lang) > 7)
        FUZZ_FAIL("lang '%s'", r.lang);
    return 0;
}
