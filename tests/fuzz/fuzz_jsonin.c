/* SPDX-License-Identifier: Apache-2.0 */
/* jsonin against jansson: on the same bytes both refuse, or both accept and
 * build equal values of the same types (jsonin.c promises exactly what
 * json_loadb(text, len, 0) does).  The serialized forms are compared too:
 * json_equal holds 1 and 1.0 alike.
 *
 * One difference is known and kept: jansson 2.14's scanner swallows a NUL
 * byte right after a number or a literal ("[33\0]" loads as [33],
 * {"a":true\0} as {"a":true}), where jsonin refuses the byte as the rest
 * of JSON does (jsonin.c says so).  When only jansson accepts, the input
 * passes if dropping each NUL that follows a digit or a letter makes jsonin
 * accept the same value; any other difference fails. */
#include "fuzz.h"

#include <ctype.h>

#include <jansson.h>

#include "jsonin.h"

/* The known difference above: is text what jansson read as want? */
static int nul_after_number(const char *text, size_t size, const json_t *want)
{
    if (!memchr(text, '\0', size))
        return 0;
    char *t = malloc(size ? size : 1);
    size_t n = 0;
    for (size_t i = 0; i < size; i++)
        if (!(text[i] == '\0' && n > 0 && isalnum((unsigned char)t[n - 1])))
            t[n++] = text[i];
    json_t *v = jsonin_parse(t, n, NULL, 0);
    int same = v && json_equal(v, want);
    json_decref(v);
    free(t);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_error_t e;
    char err[160] = "";
    json_t *want = json_loadb(text, size, 0, &e);
    json_t *got = jsonin_parse(text, size, err, sizeof err);
    if (want && !got && nul_after_number(text, size, want)) {
        json_decref(want);
        return 0;
    }
    if (!want != !got)
        FUZZ_FAIL("json_loadb %s, jsonin %s", want ? "accepts" : e.text, got ? "accepts" : err);
    if (!got && strncmp(err, "line ", 5) != 0)
        FUZZ_FAIL("jsonin refused without saying where: '%s'", err);
    if (want) {
        if (!json_equal(want, got))
            FUZZ_FAIL("jsonin and json_loadb built different values");
        char *a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!a != !b || (a && strcmp(a, b) != 0))
            FUZZ_FAIL("different serializations: %.200s / %.200s", a ? a : "(null)",
                      b ? b : "(null)");
        free(a);
        free(b);
    }
    json_decref(want);
    json_decref(got);
    return 0;
}
