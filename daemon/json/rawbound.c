/* SPDX-License-Identifier: Apache-2.0 */
/* An authentic payload kanal cannot read is stored as kind "unknown" with
 * the payload in raw.  Plugins build raw from what the provider sent, which
 * may nest deeper than the store takes, hold a \u0000, or be very large;
 * emit would refuse such a record and the provider, answered 503, would
 * send it again forever.  So the host bounds it, once for every plugin:
 * raw becomes its JSON text as a string (at most unknown_raw_max bytes, cut
 * on a character boundary), or {"base64": ...} when that text is not
 * UTF-8, and meta says so (raw_truncated, raw_size, raw_bounded).
 *
 * A raw too deep or with a NUL cannot be parsed at all (jsonin refuses the
 * whole text), so rawbound_scan finds each record's raw in the text without
 * parsing it: one pass, a depth counter and no recursion, so any depth is
 * fine.  Records of any other kind whose raw cannot be stored stay refused:
 * the plugin falls back to an unknown record. */
#include "rawbound.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/plugin.h>

#include "crypto.h"
#include "jsonin.h"
#include "jsonout.h"
#include "util.h"

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && is_ws(t[i]))
        i++;
    return i;
}

/* The index after the string that starts at t[i] (a '"'), or 0. */
static size_t string_end(const char *t, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return 0;
}

/* The index after the value that starts at t[i], or 0. */
static size_t value_end(const char *t, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (t[i] == '"')
        return string_end(t, len, i);
    if (t[i] == '{' || t[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = t[i];
            if (c == '"') {
                i = string_end(t, len, i);
                if (!i)
                    return 0;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return 0;
    }
    size_t s = i;
    while (i < len && !is_ws(t[i]) && t[i] != ',' && t[i] != '}' && t[i] != ']')
        i++;
    return i > s ? i : 0;
}

size_t rawbound_scan(const char *text, size_t len, struct raw_span **spans, char **cut,
                     size_t *cut_len)
{
    *spans = NULL;
    *cut = NULL;
    *cut_len = 0;
    size_t i = skip_ws(text, len, 0);
    if (i >= len || (text[i] != '{' && text[i] != '['))
        return 0;
    int root_array = text[i] == '[';
    size_t rec_depth = root_array ? 2 : 1, depth = 0, rec = 0, n = 0, cap = 0;
    int rec_is_object = 0;
    struct raw_span *sp = NULL;
    while (i < len) {
        char c = text[i];
        if (c == '"') {
            size_t j = string_end(text, len, i);
            if (!j)
                goto fail;
            size_t k = skip_ws(text, len, j);
            if (depth == rec_depth && rec_is_object && k < len && text[k] == ':' && j - i == 5 &&
                memcmp(text + i + 1, "raw", 3) == 0) {
                size_t v = skip_ws(text, len, k + 1);
                size_t ve = value_end(text, len, v);
                if (!ve)
                    goto fail;
                if (n == cap) {
                    cap = cap ? 2 * cap : 4;
                    sp = xrealloc(sp, cap * sizeof *sp);
                }
                sp[n++] = (struct raw_span){.rec = rec, .off = v, .len = ve - v};
                i = ve;
                continue;
            }
            i = j;
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth == rec_depth)
                rec_is_object = c == '{';
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                goto fail;
            depth--;
        } else if (c == ',' && root_array && depth == 1) {
            rec++;
        }
        i++;
    }
    if (n == 0)
        goto fail;
    /* The text with every raw value replaced by null. */
    size_t out_len = len;
    for (size_t s = 0; s < n; s++)
        out_len = out_len - sp[s].len + 4;
    char *out = xmalloc(out_len + 1), *o = out;
    size_t from = 0;
    for (size_t s = 0; s < n; s++) {
        memcpy(o, text + from, sp[s].off - from);
        o += sp[s].off - from;
        memcpy(o, "null", 4);
        o += 4;
        from = sp[s].off + sp[s].len;
    }
    memcpy(o, text + from, len - from);
    out[out_len] = '\0';
    *spans = sp;
    *cut = out;
    *cut_len = out_len;
    return n;
fail:
    free(sp);
    return 0;
}

json_t *rawbound_form(const char *text, size_t len, size_t max, int *truncated)
{
    *truncated = len > max;
    size_t n = *truncated ? max : len;
    if (!memchr(text, '\0', n)) {
        /* A cut may split a UTF-8 sequence of up to four bytes. */
        for (size_t back = 0; back <= (*truncated ? 3 : 0) && back <= n; back++) {
            json_t *s = json_stringn(text, n - back);
            if (s)
                return s;
        }
    }
    char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    if (!b64)
        return NULL;
    crypto_base64_encode(text, n, b64);
    json_t *raw = json_pack("{s:s}", "base64", b64);
    free(b64);
    return raw;
}

int rawbound_apply(json_t *in, const char *text, size_t len, size_t max, const char *why)
{
    int truncated;
    json_t *raw = rawbound_form(text, len, max, &truncated);
    if (!raw)
        return -ENOMEM;
    json_object_set_new(in, "raw", raw);
    json_t *meta = json_object_get(in, "meta");
    if (!meta) {
        meta = json_object();
        json_object_set_new(in, "meta", meta);
    }
    /* A meta that is not an object is the record check's to refuse. */
    if (json_is_object(meta)) {
        json_object_set_new(meta, "raw_truncated", json_boolean(truncated));
        json_object_set_new(meta, "raw_size", json_integer((json_int_t)len));
        json_object_set_new(meta, "raw_bounded", json_string(why));
    }
    return 0;
}

int rawbound_too_large(json_t *in, size_t max, char **text, const char **str, size_t *len)
{
    json_t *raw = json_object_get(in, "raw");
    *text = NULL;
    *str = NULL;
    *len = 0;
    if (!raw || json_is_null(raw))
        return 0;
    if (json_is_string(raw)) {
        /* A string is bounded as itself, not as its quoted text. */
        *len = json_string_length(raw);
        *str = json_string_value(raw);
        return *len > max;
    }
    if (!json_is_object(raw) && !json_is_array(raw))
        return 0;
    /* jsonout, not json_dumps: while the emit's arena is current, text
     * jansson allocates must not be freed. */
    char *t = jsonout_dump(raw, len);
    if (!t)
        return 0;
    if (*len <= max) {
        free(t);
        return 0;
    }
    *text = t;
    *str = t;
    return 1;
}

json_t *rawbound_parse(const char *text, size_t len, struct raw_span **spans, size_t *nspans,
                       char *err, size_t err_len)
{
    *spans = NULL;
    *nspans = 0;
    json_t *root = jsonin_parse(text, len, err, err_len);
    if (root)
        return root;
    /* Perhaps only a raw is what cannot be read: read the rest, and keep
     * that raw bounded if its record is an unknown one. */
    char *cut;
    size_t cut_len;
    char e2[160];
    *nspans = rawbound_scan(text, len, spans, &cut, &cut_len);
    if (*nspans)
        root = jsonin_parse(cut, cut_len, e2, sizeof e2);
    free(cut);
    if (!root) {
        free(*spans);
        *spans = NULL;
        *nspans = 0;
    }
    return root;
}

int rawbound_record(json_t *in, size_t i, const char *text, const struct raw_span *spans,
                    size_t nspans, const char *parse_err, size_t max, char *err, size_t err_len,
                    char *why, size_t why_len, size_t *size)
{
    const struct raw_span *span = NULL;
    for (size_t s = 0; s < nspans; s++)
        if (spans[s].rec == i)
            span = &spans[s]; /* a repeated key keeps its last value */
    const char *kind = json_string_value(json_object_get(in, "kind"));
    int unknown = kind && strcmp(kind, "unknown") == 0;
    why[0] = '\0';
    *size = span ? span->len : 0;
    if (span && !unknown) {
        snprintf(err, err_len, "field 'raw' cannot be stored (%s)", parse_err);
        return KANAL_ERECORD;
    }
    int r = 0;
    if (span) {
        snprintf(why, why_len, "it cannot be stored as JSON: %s", parse_err);
        r = rawbound_apply(in, text + span->off, span->len, max, why);
    } else if (unknown) {
        char *dumped;
        const char *raw_text;
        size_t raw_len;
        if (!rawbound_too_large(in, max, &dumped, &raw_text, &raw_len))
            return 0;
        snprintf(why, why_len, "it is larger than unknown_raw_max (%zu bytes)", max);
        r = rawbound_apply(in, raw_text, raw_len, max, why);
        *size = raw_len;
        free(dumped);
    }
    if (r < 0)
        snprintf(err, err_len, "out of memory bounding its raw");
    return r;
}
