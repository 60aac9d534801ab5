/* Interaction records: checking what plugins emit against schema v1. */
#ifndef KANAL_RECORD_H
#define KANAL_RECORD_H

#include <stddef.h>

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
    enum record_trust trust;     /* the source's trust option */
};

/* Check one record and build its stored form (canonical field order, handles
 * normalized, id and received_at filled, seq 0 until the commit).  On error
 * returns KANAL_ERECORD with a message naming the field in err. */
int record_normalize(json_t *in, const struct record_ctx *ctx, json_t **out, char *err,
                     size_t err_len);

int record_kind_valid(const char *kind);

#endif
