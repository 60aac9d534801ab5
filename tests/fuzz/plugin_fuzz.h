/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the plugin fuzzers: how the first input byte drives a request,
 * and the checks every webhook answer must pass (README.md). */
#ifndef KANAL_FUZZ_PLUGIN_FUZZ_H
#define KANAL_FUZZ_PLUGIN_FUZZ_H

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
