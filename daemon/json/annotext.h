/* SPDX-License-Identifier: Apache-2.0 */
/* A record's text under processing: processors' annotations added to the
 * text the loop thread serialized once, without parsing the record again. */
#ifndef KANAL_ANNOTEXT_H
#define KANAL_ANNOTEXT_H

#include <stddef.h>

/* 1 when s[0..n) is exactly the text jsonout_dump writes for the value
 * json_loadb(s, n, JSON_DECODE_ANY) reads, nesting at most max_depth levels
 * (the value itself is level 1, as record_check_depth counts); else 0, and
 * the caller reads the value the slow way (which may yet accept it: a
 * real in exponent form, an escaped non-ASCII character, blanks, a
 * repeated key, an object of more keys than this check remembers). */
int annotext_canonical(const char *s, size_t n, int max_depth);

/* A record serialized by jsonout_dump (an object, its "annotations", if
 * any, its last member): malloc'ed and NUL-terminated. */
struct annotext {
    char *p;
    size_t len, cap;
    size_t ann_at; /* offset of the "annotations" object's '{'; 0: none yet */
};

/* Add "name":ann to the record's annotations, where json_object_set_new
 * would have put it: a new "annotations" member at the end of the record,
 * or the last member of the existing one.  ann is canonical text (above),
 * name a checked processor name that needs no escaping and is not yet
 * among the annotations.  0, or -ENOMEM (t unchanged). */
int annotext_add(struct annotext *t, const char *name, const char *ann, size_t n);

#endif
