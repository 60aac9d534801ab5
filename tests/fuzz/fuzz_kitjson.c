/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin kit's JSON getter (sdk/kit/json.c) on any bytes: it reads in
 * one pass, and must answer exactly as validating first and reading after
 * would: -EINVAL whenever kanal_kit_json_valid refuses the text, else the
 * member as jansson reads it (objects with a repeated key are left out:
 * jansson keeps the last, the getter the first).  The key is taken from
 * the first byte, so that found, missing and non-string members all come.
 * kanal_kit_record_get_string, which stops at the member, must read any
 * bytes within their length and give the same answer on valid text. */
#include "fuzz.h"

#include <errno.h>

#include <jansson.h>
#include <kanal/kit.h>

static const char *const keys[] = {"text", "id", "a", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *key = keys[data[0] % (sizeof keys / sizeof *keys)];
    size_t cap = 1 + (size_t)(data[0] >> 2) * 4; /* 1..253: -ENOBUFS comes too */
    const char *t = (const char *)data + 1;
    size_t n = size - 1;
    char got[256];
    int g = kanal_kit_json_get_string(t, n, key, got, cap);
    char rgot[256];
    int rg = kanal_kit_record_get_string(t, n, key, rgot, cap); /* reads within n, any text */
    int depth;
    if (!kanal_kit_json_valid(t, n, KANAL_KIT_MAX_DEPTH, &depth)) {
        if (g != -EINVAL)
            abort();
        return 0;
    }
    json_error_t e;
    json_t *v = json_loadb(t, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!v)
        return 0; /* a repeated key, or a depth jansson refuses */
    json_t *m = json_is_object(v) ? json_object_get(v, key) : NULL;
    int want;
    if (!json_is_object(v) || (m && !json_is_string(m)))
        want = -EINVAL;
    else if (!m)
        want = -ENOENT;
    else if (json_string_length(m) + 1 > cap)
        want = -ENOBUFS;
    else
        want = 0;
    if (g != want || rg != want)
        abort();
    if (rg == 0 && strcmp(rgot, json_string_value(m)) != 0)
        abort();
    if (g == 0 && strcmp(got, json_string_value(m)) != 0)
        abort();
    json_decref(v);
    return 0;
}
