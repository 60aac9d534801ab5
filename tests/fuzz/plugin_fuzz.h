/* Shared by the plugin fuzzers: how the first input byte drives a request,
 * and the checks every webhook answer must pass (README.md). */
#ifndef KANAL_FUZZ_PLUGIN_FUZZ_H
#define KANAL_FUZZ_PLUGIN_FUZZ_H

#include <ctype.h>

#include <jansson.h>

#include "fakehost.h"
#include "fuzz.h"

/* The selector byte in front of every plugin target's input.  0 means: a
 * correctly signed POST of the rest as the body, with a working store, so
 * that a fixture with a 0 byte in front is a seed. */
#define SEL_STORE_FAILS 0x01   /* emits complete with KANAL_ESTORE */
#define SEL_BAD_SIGNATURE 0x02 /* sign something else */
#define SEL_GET 0x04           /* GET instead of POST (verification handshakes) */
#define SEL_QUERY 0x08         /* the body's first line is the query string instead */

/* What every webhook answer must be, whatever the plugin. */
static inline void check_answer(int status, int sel, size_t stored_before, size_t stored_after)
{
    if (sel & SEL_BAD_SIGNATURE) {
        if (stored_after != stored_before)
            FUZZ_FAIL("a request with a wrong signature stored %zu records",
                      stored_after - stored_before);
        if (status < 400)
            FUZZ_FAIL("a request with a wrong signature was answered %d", status);
        return;
    }
    /* Authentic and the store works: the provider must not be told to retry
     * or that kanald failed; a 5xx would have it resend the same event
     * until it gives up. */
    if (!(sel & SEL_STORE_FAILS) && status >= 500)
        FUZZ_FAIL("an authentic request was answered %d with a working store", status);
    /* The store fails: answered 2xx only when nothing needed storing. */
    if ((sel & SEL_STORE_FAILS) && stored_after != stored_before)
        FUZZ_FAIL("records counted as stored while the store fails");
}

/* Bugs found here and being fixed elsewhere stop a fuzzer at once; with
 * KANAL_FUZZ_SKIP_KNOWN=1 in the environment a target passes over the
 * inputs that reach them, to explore past them (README.md lists them).
 * make check and make fuzz never set it. */
static inline int skip_known(const char *body, size_t len)
{
    static int skip = -1;
    if (skip < 0)
        skip = getenv("KANAL_FUZZ_SKIP_KNOWN") != NULL;
    /* A NUL byte in an authentic body: the unknown record's raw string
     * holds \u0000, which kanald refuses (plugins/shared/meta.c body_raw,
     * plugins/twitter/twitter.c). */
    return skip && memchr(body, '\0', len) != NULL;
}

/* 1 when s[0..n) is valid UTF-8 (NUL bytes allowed). */
static inline int utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        while (k < 4 && i + k <= n) {
            json_t *v = json_stringn((const char *)s + i, k);
            json_decref(v);
            if (v)
                break;
            k++;
        }
        if (k == 4 || i + k > n)
            return 0;
        i += k;
    }
    return 1;
}

/* Known bugs in plugins/signup/ (being fixed there): bytes that are not
 * UTF-8 in a form post (answered 503) or in Eventbrite's API answer (a
 * NULL error body).  Skipped only with KANAL_FUZZ_SKIP_KNOWN. */
static inline int skip_known_utf8(const uint8_t *s, size_t n)
{
    static int skip = -1;
    if (skip < 0)
        skip = getenv("KANAL_FUZZ_SKIP_KNOWN") != NULL;
    if (!skip)
        return 0;
    /* A form's values are percent-decoded first. */
    char *d = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit(s[i + 1]) && isxdigit(s[i + 2])) {
            char hex[3] = {(char)s[i + 1], (char)s[i + 2], 0};
            d[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            d[k++] = (char)s[i];
        }
    }
    int bad = !utf8_ok((const uint8_t *)d, k);
    free(d);
    return bad;
}

/* Split the body off a "query\n" first line when SEL_QUERY is set. */
static inline void split_query(int sel, const char **body, size_t *len, char **query)
{
    const char *nl = (sel & SEL_QUERY) ? memchr(*body, '\n', *len) : NULL;
    if (!nl) {
        *query = fuzz_strndup((const uint8_t *)"", 0);
        return;
    }
    size_t ql = (size_t)(nl - *body);
    *query = fuzz_strndup((const uint8_t *)*body, ql);
    *len -= ql + 1;
    *body = nl + 1;
}

#endif
