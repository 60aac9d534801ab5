/* SPDX-License-Identifier: Apache-2.0 */
/* A scoring run's first pass reads eight fields off each record's text
 * (score_peek, daemon/score/peek.c) instead of parsing it.  On any bytes:
 * when peek takes the text and jsonin parses it, each field peek read is
 * the one the parsed record has (json_string_value of the member, the
 * last of a repeated key; NULL when absent or not a string), within
 * PEEK_VALUE_MAX; what peek takes and jsonin refuses is what the second
 * pass finds out (peek.h), so only the bounds are checked then. */
#include "fuzz.h"

#include <jansson.h>

#include "jsonin.h"
#include "peek.h"
#include "../unit/peek_field.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct score_peek p;
    if (score_peek(text, size, &p) != 0)
        return 0;
    for (int f = 0; f < PEEK_FIELDS; f++)
        if (p.v[f] && strnlen(p.v[f], PEEK_VALUE_MAX) == PEEK_VALUE_MAX)
            FUZZ_FAIL("field %d not ended within PEEK_VALUE_MAX", f);
    json_t *rec = jsonin_parse(text, size, NULL, 0);
    if (!rec)
        return 0;
    if (!json_is_object(rec))
        FUZZ_FAIL("peek took a text that parses to no object");
    for (int f = 0; f < PEEK_FIELDS; f++) {
        const char *want = peek_field(rec, f);
        if ((want == NULL) != (p.v[f] == NULL) || (want && strcmp(want, p.v[f]) != 0))
            FUZZ_FAIL("field %d: parsed '%s', peeked '%s'", f, want ? want : "(none)",
                      p.v[f] ? p.v[f] : "(none)");
    }
    json_decref(rec);
    return 0;
}
