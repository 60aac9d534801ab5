/* SPDX-License-Identifier: Apache-2.0 */
/* Audiences: the named slices of records that scores are computed over.
 * Built in, named by their id alone:
 *   all               every record
 *   source:NAME       the records of one [source NAME]
 *   channel:NAME      one channel's records (email, whatsapp, web...)
 *   campaign:ID       the records carrying that campaign id (sends, clicks)
 *   event:ID          the event's sign-ups, check-ins and cancellations
 *   thread:ID         a post (its external id) and the records of its thread
 * and defined by the operator, [audience NAME] with match = words, each
 * FIELD:VALUE[,VALUE...], all of which a record must meet: source, channel,
 * kind, campaign, event (the event's id), thread, and within:DURATION (the
 * record occurred at most that long ago).  Whether one record belongs is
 * decided here; widening an event's audience to what its contacts did
 * around the event is the scoring pass's work, which knows the contacts. */
#ifndef KANAL_SCORE_AUDIENCE_H
#define KANAL_SCORE_AUDIENCE_H

#include <stdint.h>

#include <jansson.h>

/* An audience id's longest form: a prefix and a 200-byte value. */
#define AUDIENCE_ID_MAX 210

enum audience_kind {
    AUDIENCE_ALL,
    AUDIENCE_SOURCE,
    AUDIENCE_CHANNEL,
    AUDIENCE_CAMPAIGN,
    AUDIENCE_EVENT,
    AUDIENCE_THREAD,
    AUDIENCE_NAMED, /* an [audience NAME] section */
};

struct audience {
    enum audience_kind kind;
    char *id;          /* as the API names it: "all", "event:42", or the section's name */
    char *value;       /* a built-in's part after the colon; NULL for all and named */
    char *match;       /* a named audience's words */
    int64_t within_ms; /* a named audience's within:, 0 when it has none */
};

/* Parse a built-in id into a: 0; -ENOENT when id has no built-in's form
 * (a named audience's name, perhaps); -EINVAL for a built-in prefix with an
 * empty or too long value, or an unknown prefix. */
int audience_parse(const char *id, struct audience *a);

/* 1 when name may name an [audience NAME]: 1-64 of A-Z a-z 0-9 _ . -, and
 * not "all" (a colon would make it a built-in's id). */
int audience_name_ok(const char *name);

/* Check a named audience's match words: NULL when fine, else why not. */
const char *audience_match_check(const char *text);

/* a as the named audience name with those match words: 0, or -EINVAL when
 * audience_name_ok() or audience_match_check() refuses them. */
int audience_named(struct audience *a, const char *name, const char *match);

/* 1 when rec (a stored record) belongs to a at now_ms, else 0.  kanald's
 * own bookkeeping records (merge, split, erase) belong to none. */
int audience_matches(const struct audience *a, json_t *rec, int64_t now_ms);

void audience_free(struct audience *a);

#endif
