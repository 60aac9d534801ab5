/* SPDX-License-Identifier: Apache-2.0 */
/* record_normalize on parsed JSON, the way the host checks what a plugin
 * emits; then the invariant the writer relies on: every record normalize
 * accepts serializes (jsonout_dump) and reads back as the same value.  A
 * record the loop accepts but the writer cannot store would be lost after
 * the plugin was told it was queued.  record_normalize_text, the host's
 * way without identity or processors, answers the same: the same refusal
 * and message, or the very bytes jsonout_dump writes of the object; and
 * record_normalize_parties (identity without processors) the same again,
 * with the customer parties contacts_resolve would read in the object.
 *
 * Input: one flags byte (keep_raw, the default country), then the JSON text
 * (one record or an array of them, as emit() takes). */
#include "fuzz.h"

#include <string.h>

#include <jansson.h>

#include <kanal/plugin.h>

#include "jsonin.h"
#include "jsonout.h"
#include "record.h"

/* parties are the object's customer parties as contacts_resolve takes
 * them: from, to, mentions, at most RECORD_RESOLVED_MAX. */
static void check_parties(json_t *out, const struct record_parties *rp)
{
    size_t np = 0;
    static const char *const keys[] = {"from", "to", "mentions"};
    for (size_t k = 0; k < 3; k++) {
        json_t *v = json_object_get(out, keys[k]);
        size_t n = k == 0 ? (v != NULL) : json_array_size(v);
        for (size_t i = 0; i < n && np < RECORD_RESOLVED_MAX; i++) {
            json_t *p = k == 0 ? v : json_array_get(v, i);
            const char *role = json_string_value(json_object_get(p, "role"));
            if (!role || strcmp(role, "customer") != 0)
                continue;
            if (np >= rp->n)
                FUZZ_FAIL("party %zu of %s missing (%zu given)", np, keys[k], rp->n);
            const struct record_party *got = &rp->p[np++];
            json_t *hs = json_object_get(p, "handles");
            if (got->n != json_array_size(hs))
                FUZZ_FAIL("party %zu: %zu handles, not %zu", np - 1, got->n, json_array_size(hs));
            const char *h = got->handles;
            for (size_t j = 0; j < got->n; j++, h += strlen(h) + 1)
                if (strcmp(h, json_string_value(json_array_get(hs, j))) != 0)
                    FUZZ_FAIL("party %zu: handle %zu is %.100s", np - 1, j, h);
            const char *trust = json_string_value(json_object_get(p, "trust"));
            if (got->verified != (trust && strcmp(trust, "verified") == 0))
                FUZZ_FAIL("party %zu: verified %d", np - 1, got->verified);
        }
    }
    if (rp->n != np)
        FUZZ_FAIL("%zu parties given, %zu in the record", rp->n, np);
}

static void check_one(json_t *in, const struct record_ctx *ctx)
{
    char err[256] = "", terr[256] = "";
    json_t *out = NULL;
    int r = record_normalize(in, ctx, &out, err, sizeof err);
    struct record_info info;
    char *as_text = NULL;
    size_t text_len = 0;
    int tr = record_normalize_text(in, ctx, &info, &as_text, &text_len, terr, sizeof terr);
    if (tr != r || (r && strcmp(err, terr) != 0))
        FUZZ_FAIL("record_normalize %d (%s), record_normalize_text %d (%s)", r, err, tr, terr);
    struct record_parties parties = {0};
    char *ptext = NULL, perr[256] = "";
    size_t plen = 0;
    int pr = record_normalize_parties(in, ctx, &info, &ptext, &plen, &parties, perr, sizeof perr);
    if (pr != tr || strcmp(perr, terr) != 0)
        FUZZ_FAIL("record_normalize_text %d (%s), record_normalize_parties %d (%s)", tr, terr, pr,
                  perr);
    if (!ptext != !as_text || (ptext && (plen != text_len || memcmp(ptext, as_text, plen) != 0)))
        FUZZ_FAIL("written with the parties otherwise: %.300s", ptext ? ptext : "(none)");
    free(ptext);
    if (out)
        check_parties(out, &parties);
    else if (parties.p || parties.buf)
        FUZZ_FAIL("a refused record's parties left behind");
    record_parties_clear(&parties);
    if (r != 0) {
        if (r != KANAL_ERECORD || out)
            FUZZ_FAIL("record_normalize returned %d (out %p)", r, (void *)out);
        if (!err[0])
            FUZZ_FAIL("record_normalize refused a record without saying why");
        return;
    }
    size_t len = 0;
    char *text = jsonout_dump(out, &len);
    if (!text)
        FUZZ_FAIL("record_normalize accepted a record that jsonout_dump refuses");
    if (!as_text || text_len != len || memcmp(as_text, text, len) != 0)
        FUZZ_FAIL("written as text otherwise: %.300s", as_text ? as_text : "(refused)");
    free(as_text);
    char e[160];
    json_t *back = jsonin_parse(text, len, e, sizeof e);
    if (!back)
        FUZZ_FAIL("the stored form does not read back: %s: %.300s", e, text);
    if (!json_equal(back, out))
        FUZZ_FAIL("the stored form reads back as another value: %.300s", text);
    json_decref(back);
    free(text);
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const countries[] = {NULL, "TR", "US", "DE"};
    struct fuzz_in in = {data, size};
    unsigned flags = fuzz_byte(&in);
    struct record_ctx ctx = {
        .source = "fuzz",
        .channel = "webhook",
        .default_country = countries[(flags >> 1) & 3],
        .keep_raw = flags & 1,
        .received_at = "2026-12-05T01:00:00.000Z",
    };
    json_t *root = jsonin_parse((const char *)in.p, in.n, NULL, 0);
    if (!root)
        return 0;
    if (json_is_array(root))
        for (size_t i = 0; i < json_array_size(root); i++)
            check_one(json_array_get(root, i), &ctx);
    else
        check_one(root, &ctx);
    json_decref(root);
    return 0;
}
