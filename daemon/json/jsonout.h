/* SPDX-License-Identifier: Apache-2.0 */
/* Serializing records: the writer's hot path. */
#ifndef KANAL_JSONOUT_H
#define KANAL_JSONOUT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Compact JSON text of v, the same bytes json_dumps(v, JSON_COMPACT) writes
 * (UTF-8 kept as is, only what JSON requires escaped) but for reals, which
 * are the shortest text that reads back as the same double; malloc'ed, *len set.
 * NULL with errno ENOMEM on out-of-memory, EINVAL for a value nested deeper
 * than KANAL_MAX_DEPTH (the value itself is level 1, as jsonin counts) or
 * a string with a NUL in it, which no JSON reader of kanal's takes back. */
char *jsonout_dump(const json_t *v, size_t *len);

/* The compact text of an API answer or a stored value, reals written as
 * jsonout_dump writes them (shortest that reads back: 0.9, where
 * json_dumps writes 0.90000000000000002); malloc'ed, NUL-terminated.  A
 * value jsonout refuses (no stored one is) falls back to json_dumps; NULL
 * only on out-of-memory. */
char *jsonout_text(const json_t *v);

/* Writing a document of a fixed shape piece by piece, without a json_t:
 * the same bytes jsonout_dump writes for the same values.  Identity builds
 * a new contact this way for every record that names someone new.  Start
 * from a zeroed struct; a failure sticks and jsonout_finish reports it. */
struct jsonout {
    char *p;
    size_t len, cap;
    int failed;
    int oom; /* failed for want of memory, not for the value */
};

void jsonout_raw(struct jsonout *o, const char *s, size_t n);   /* as is */
/* Room for n more bytes at the end of the text, written in place and then
 * counted with jsonout_advance; NULL once o has failed (nothing more is
 * written then: jsonout_finish reports the failure). */
char *jsonout_grow(struct jsonout *o, size_t n);
static inline char *jsonout_room(struct jsonout *o, size_t n)
{
    return o->len + n <= o->cap && !o->failed ? o->p + o->len : jsonout_grow(o, n);
}
static inline void jsonout_advance(struct jsonout *o, size_t n)
{
    o->len += n;
}
void jsonout_string(struct jsonout *o, const char *s, size_t n); /* quoted */
/* Whether jsonout_string writes s[0..n) as it is, between its quotes. */
int jsonout_plain(const char *s, size_t n);
/* v as jsonout_dump writes it, at level depth of the document (the
 * document itself is 1): deeper than KANAL_MAX_DEPTH fails. */
void jsonout_value(struct jsonout *o, const json_t *v, int depth);
void jsonout_uint(struct jsonout *o, uint64_t v);
void jsonout_real(struct jsonout *o, double d);
/* The text written (malloc'ed, NUL-terminated, *len set) and o reset, or
 * NULL with errno ENOMEM or EINVAL (a NUL in a string, or a value of
 * jsonout_value nested too deep) and o freed. */
char *jsonout_finish(struct jsonout *o, size_t *len);

#endif
