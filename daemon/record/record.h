/* SPDX-License-Identifier: Apache-2.0 */
/* Interaction records: what plugins emit, checked against schema v1 (the
 * shared check, common/record_check.c) and normalized into the stored form. */
#ifndef KANAL_RECORD_H
#define KANAL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A source's `trust` option: what its customer parties prove
 * (docs/identity.md).  AUTO keeps the plugin's marks. */
enum record_trust { RECORD_TRUST_AUTO = 0, RECORD_TRUST_ASSERTED, RECORD_TRUST_VERIFIED };

struct record_ctx {
    const char *source;
    const char *channel;         /* default for "channel": the plugin's name */
    const char *default_country; /* for national phone numbers, or NULL */
    int keep_raw;
    const char *received_at;     /* RFC 3339, filled into every record */
    int64_t received_ms;         /* received_at in ms since the epoch, or 0: not known */
    enum record_trust trust;     /* the source's trust option */
};

/* Check one record (record_check, emitted mode, then what only normalizing
 * can tell: handles, times, the source's name) and build its stored form
 * (canonical field order, handles normalized, id and received_at filled,
 * seq 0 until the commit).  On error
 * returns KANAL_ERECORD with a message naming the field in err. */
int record_normalize(json_t *in, const struct record_ctx *ctx, json_t **out, char *err,
                     size_t err_len);

/* What the caller of record_normalize_info or _text needs of a record,
 * pointing into in (valid while in is). */
struct record_info {
    const char *kind, *external_id, *direction;
    int given_contact; /* the record names its contact */
};

/* record_normalize, with info filled (pointing into in) when it is 0. */
int record_normalize_info(json_t *in, const struct record_ctx *ctx, json_t **out,
                          struct record_info *info, char *err, size_t err_len);

/* The same check, and the stored form written straight as the text
 * jsonout_dump would write of record_normalize's object, without making
 * it: for a record nothing reads as values before the commit (no identity,
 * no processor).  0 with *text (malloc'ed, *len set; NULL with errno ENOMEM,
 * or EINVAL for a string with a NUL or a value nested too deep, as
 * jsonout_dump) and info filled, or KANAL_ERECORD with err. */
int record_normalize_text(json_t *in, const struct record_ctx *ctx, struct record_info *info,
                          char **text, size_t *len, char *err, size_t err_len);

/* A record's customer parties as identity resolution takes them (from,
 * then to, then mentions; customers only, at most RECORD_RESOLVED_MAX), as
 * contacts_resolve would read them from the stored record's values. */
#define RECORD_RESOLVED_MAX 64
struct record_party {
    const char *handles; /* n normalized handles, each NUL-terminated, the main one first */
    size_t n;
    int verified; /* the stored party says "trust": "verified" */
    size_t off;   /* (handles' offset in buf while they are gathered) */
};
struct record_parties {
    const char *source, *received_at; /* the record's */
    int64_t received_ms;              /* received_at in ms (the context's), or 0: not known */
    struct record_party *p;
    size_t n;
    char contact[32]; /* the contact resolved, set by the writer ("": none) */
    char *buf;        /* (what the pointers above point into) */
    size_t len, cap, pcap;
};
/* record_normalize_text, and the record's customer parties into *parties
 * (zeroed by the caller; when it is not 0, cleared again): for a record
 * whose stored form nothing but identity reads before the commit. */
int record_normalize_parties(json_t *in, const struct record_ctx *ctx, struct record_info *info,
                             char **text, size_t *len, struct record_parties *parties, char *err,
                             size_t err_len);
void record_parties_clear(struct record_parties *parties);

/* A record another kanald stored (a relayed one): checked as a stored
 * record, its id <source>/<kind>/<external_id>, rebuilt in the stored
 * form's order keeping every member but seq (0 until the commit) and
 * contact (this store resolves its own).  0 or KANAL_ERECORD with err. */
int record_relay(json_t *in, json_t **out, char *err, size_t err_len);

int record_kind_valid(const char *kind);

/* The schema's own (static) string equal to kind or direction, or NULL. */
const char *record_kind_name(const char *kind);
const char *record_direction_name(const char *direction);

/* Check one member of a record's annotations: its name is a processor's
 * (section-name syntax) and its value nests within what the store keeps.
 * 0 or KANAL_ERECORD with err filled. */
int record_check_annotation(const char *name, const json_t *value, char *err, size_t err_len);

#endif
