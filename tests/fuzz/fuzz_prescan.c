/* SPDX-License-Identifier: Apache-2.0 */
/* A scoring run's second pass reads each record's fields from its text
 * (score_pre_scan, daemon/score/pre.c, on jsonin_scan) instead of parsing
 * it.  On any bytes: jsonin_scan accepts exactly what jsonin_parse
 * accepts, and refuses the rest with the same message; score_pre_scan
 * takes the text exactly when the parse does, and then reads what
 * score_pre_read reads from the parsed record (the same strings, flags,
 * digests and parties). */
#include "fuzz.h"

#include <jansson.h>

#include "../unit/pre_same.h"
#include "jsonin.h"
#include "pre.h"

static void no_item(void *arg, const struct jsonin_item *it)
{
    (void)arg;
    (void)it;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[160], serr[160];
    json_t *rec = jsonin_parse(text, size, err, sizeof err);
    int scanned = jsonin_scan(text, size, no_item, NULL, serr, sizeof serr);
    if ((scanned == 0) != (rec != NULL))
        FUZZ_FAIL("jsonin_parse %s, jsonin_scan %s", rec ? "accepts" : err,
                  scanned == 0 ? "accepts" : serr);
    if (!rec && strcmp(err, serr) != 0)
        FUZZ_FAIL("jsonin_parse says '%s', jsonin_scan '%s'", err, serr);
    struct score_pool pool = {0};
    struct score_pre a, b;
    int rc = score_pre_scan(&a, text, size, &pool);
    if ((rc == 0) != (rec != NULL))
        FUZZ_FAIL("score_pre_scan %s a text the parse %s", rc ? "refused" : "took",
                  rec ? "accepts" : "refuses");
    if (rec) {
        score_pre_read(&b, rec, &pool);
        const char *d = pre_differ(&a, &b);
        if (d)
            FUZZ_FAIL("%s read from the text differs from the parsed record's", d);
    }
    score_pool_free(&pool);
    json_decref(rec);
    return 0;
}
