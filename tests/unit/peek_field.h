/* SPDX-License-Identifier: Apache-2.0 */
/* The oracle of score_peek (daemon/score/peek.h): field f of a parsed
 * record, as the first pass must read it from the text.  Shared by
 * test_score_peek and tests/fuzz/fuzz_peek.c. */
#ifndef KANAL_TEST_PEEK_FIELD_H
#define KANAL_TEST_PEEK_FIELD_H

#include <jansson.h>

#include "peek.h"

static inline const char *peek_field(json_t *rec, int f)
{
    static const char *const name[PEEK_FIELDS] = {"kind",     "source",  "channel",
                                                  "campaign", "contact", "occurred_at"};
    if (f == PEEK_EVENT_ID)
        return json_string_value(json_object_get(json_object_get(rec, "event"), "id"));
    if (f == PEEK_EVENT_STARTS_AT)
        return json_string_value(json_object_get(json_object_get(rec, "event"), "starts_at"));
    return json_string_value(json_object_get(rec, name[f]));
}

#endif
