/* SPDX-License-Identifier: Apache-2.0 */
/* The one check of interaction records against schema v1, compiled into
 * kanald (record.c checks what plugins emit with it, then normalizes) and
 * into kanalctl (check, validate: what is stored).  The JSON Schema
 * sdk/schema/interaction-v1.json stays the published description;
 * tests/e2e/test_record_schema.py shows that it and this check agree. */
#ifndef KANAL_RECORD_CHECK_H
#define KANAL_RECORD_CHECK_H

#include <stddef.h>

#include <jansson.h>

enum record_check_mode {
    /* What a plugin emits, before kanald normalizes it: null stands for an
     * absent member; v, source and occurred_at are optional; seq, id and
     * received_at are kanald's and refused; handles and times are only
     * checked to be strings (normalizing them checks the rest); meta nests
     * at most KANAL_MAX_DEPTH - 1 levels; external_id is at most 1024
     * bytes. */
    RECORD_CHECK_EMITTED,
    /* A record as stored and served: every field the schema requires, with
     * the schema's types, enums and patterns (handles scheme:value, times
     * RFC 3339 UTC with milliseconds, seq >= 1, v = 1). */
    RECORD_CHECK_STORED,
};

/* Check rec; 0, or KANAL_ERECORD with the first problem, naming the field
 * ("field 'to[1].role' must be customer or brand"), written to err. */
int record_check(json_t *rec, enum record_check_mode mode, char *err, size_t err_len);

/* A record's members by name, in KANAL_RECORD_FIELDS' order: the check
 * reads every member once, and kanald's normalization reads them from here
 * instead of looking each up again. */
enum record_field {
    RF_V,
    RF_SEQ,
    RF_ID,
    RF_SOURCE,
    RF_CHANNEL,
    RF_KIND,
    RF_DIRECTION,
    RF_OCCURRED_AT,
    RF_RECEIVED_AT,
    RF_EXTERNAL_ID,
    RF_THREAD,
    RF_REPLY_TO,
    RF_FROM,
    RF_TO,
    RF_MENTIONS,
    RF_SUBJECT,
    RF_TEXT,
    RF_ATTACHMENTS,
    RF_EVENT,
    RF_CAMPAIGN,
    RF_STATUS,
    RF_CONTACT,
    RF_META,
    RF_RAW,
    RF_ANNOTATIONS,
    RF_COUNT
};
/* A party's members, in KANAL_PARTY_FIELDS' order. */
enum party_field { PF_HANDLE, PF_NAME, PF_ROLE, PF_HANDLES, PF_TRUST, PF_COUNT };
/* The members as they are (null included), borrowed from the record. */
struct record_view {
    json_t *f[RF_COUNT];
    json_t *from[PF_COUNT]; /* the from party's members (all NULL without one) */
};

/* record_check that also fills view (on success). */
int record_check_view(json_t *rec, enum record_check_mode mode, struct record_view *view, char *err,
                      size_t err_len);
/* The members of party p (an object that passed the check) in out. */
void record_party_members(json_t *p, json_t *out[PF_COUNT]);

/* 1 when kind is one of schema v1's kinds. */
int record_check_kind(const char *kind);
/* 1 when a record of this kind needs a "from" party. */
int record_check_needs_from(const char *kind);
/* 1 when v nests at most max levels, v itself the first (as kanald's JSON
 * reader counts them): for raw, which kanald checks only when it keeps it. */
int record_check_depth(const json_t *v, int max);
/* 1 when s is "scheme:value" as the schema's handle pattern says. */
int record_check_handle(const char *s);

#endif
