/* SPDX-License-Identifier: Apache-2.0 */
/* Bounding the raw payload of an unknown record the store could not keep
 * as the plugin emitted it; see rawbound.c. */
#ifndef KANAL_RAWBOUND_H
#define KANAL_RAWBOUND_H

#include <stddef.h>

#include <jansson.h>

/* Where one record's "raw" value sits in the emitted text. */
struct raw_span {
    size_t rec; /* index of the record (0 for a single object) */
    size_t off, len;
};

/* Find the "raw" member of each record in text (one object, or an array of
 * objects) without parsing it, however deep it nests or whatever it holds,
 * and make a copy of text with each such value replaced by null.  Returns
 * the number of spans found (0: none, or text is not shaped so that they
 * can be found; then *cut is NULL); the caller frees *spans and *cut. */
size_t rawbound_scan(const char *text, size_t len, struct raw_span **spans, char **cut,
                     size_t *cut_len);

/* The bounded form of a raw payload given as its JSON text: that text as a
 * string when it is UTF-8 (at most max bytes, cut on a character
 * boundary), else {"base64": ...} of its first max bytes.  *truncated says
 * whether it was cut.  NULL when out of memory. */
json_t *rawbound_form(const char *text, size_t len, size_t max, int *truncated);

/* Replace the raw of the unknown record in by its bounded form, made from
 * raw's JSON text, and say so in its meta: raw_truncated, raw_size (bytes of
 * that text), raw_bounded (why).  0, or -ENOMEM. */
int rawbound_apply(json_t *in, const char *text, size_t len, size_t max, const char *why);

/* The raw text of in's raw when it must be bounded because it is larger
 * than max: *text is malloc'd JSON text (or NULL when raw is a string,
 * whose own bytes are used; *len is set either way).  1 when it must be
 * bounded, 0 when not. */
int rawbound_too_large(json_t *in, size_t max, char **text, const char **str, size_t *len);

/* Read an emitted text as kanald does: as a whole, or else without the
 * records' raw values (which may be what cannot be read: too deep, a NUL),
 * whose places go to *spans for rawbound_record.  NULL with err when it
 * cannot be read even so. */
json_t *rawbound_parse(const char *text, size_t len, struct raw_span **spans, size_t *nspans,
                       char *err, size_t err_len);

/* Record i (in) of an emitted text: an unknown record whose raw the store
 * cannot keep (it could not be read, see rawbound_parse, whose err is
 * parse_err; or it is larger than max) gets raw's bounded form, and *why
 * says why (else *why is ""); *size is the size of raw's text.  Any other
 * record whose raw could not be read: KANAL_ERECORD with err.  0, or
 * -ENOMEM. */
int rawbound_record(json_t *in, size_t i, const char *text, const struct raw_span *spans,
                    size_t nspans, const char *parse_err, size_t max, char *err, size_t err_len,
                    char *why, size_t why_len, size_t *size);

#endif
