/* SPDX-License-Identifier: Apache-2.0 */
/* A record's few fields read from its text without parsing it into a
 * json_t: what a scoring run's first pass (run.c: which audiences, each
 * event's participants and span) needs of every record. */
#ifndef KANAL_SCORE_PEEK_H
#define KANAL_SCORE_PEEK_H

#include <stddef.h>

enum {
    PEEK_KIND,
    PEEK_SOURCE,
    PEEK_CHANNEL,
    PEEK_CAMPAIGN,
    PEEK_CONTACT,
    PEEK_OCCURRED_AT,
    PEEK_EVENT_ID,        /* event.id */
    PEEK_EVENT_STARTS_AT, /* event.starts_at */
    PEEK_FIELDS
};

/* Room for a field's value, its NUL included. */
#define PEEK_VALUE_MAX 256

struct score_peek {
    /* Each field's value, as json_string_value(json_object_get(...))
     * gives it for the parsed record (the last of a repeated key), or
     * NULL when the field is absent or not a string. */
    const char *v[PEEK_FIELDS];
    char buf[PEEK_FIELDS][PEEK_VALUE_MAX];
};

/* 0 with p's fields filled when text is one JSON object whose fields are
 * certain from the text alone: its keys, and the values of the fields,
 * hold no escape and no control character, the values are shorter than
 * PEEK_VALUE_MAX, and the object ends where the text does (but for white
 * space).  -1 otherwise: parse the record (jsonin) and read it there.  It
 * does not check the rest of the object: a text jsonin would refuse may
 * be read here (the caller finds that out from the parse of the second
 * pass). */
int score_peek(const char *text, size_t len, struct score_peek *p);

#endif
