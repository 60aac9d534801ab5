/* SPDX-License-Identifier: Apache-2.0 */
/* What a message of the records stream becomes on a core node: a record
 * to relay as it is, one to skip (kanald's own), or an unknown record
 * that keeps the message.  No libnats here: the fuzz target links it. */
#ifndef KANAL_NATS_RELAY_H
#define KANAL_NATS_RELAY_H

#include <stddef.h>
#include <stdint.h>

enum kanal_nats_verdict {
    KANAL_NATS_RELAY = 1, /* a stored record of another kanald: relay the data as is */
    KANAL_NATS_SKIP,      /* a record of kanald's own source "kanal": each node makes its own */
    KANAL_NATS_UNKNOWN,   /* not JSON, not a record, too big: keep it as kind unknown */
    KANAL_NATS_COMMAND,   /* a state command of a core's API: relay it alone, kanald applies it */
};

/* The subject a core's state commands are published to, after the
 * source's subject_prefix ([kanald] state_subject, docs/cluster.md). */
#define KANAL_NATS_STATE_SUFFIX ".kanal.state"

/* Look at a message's data (len bytes, not NUL-terminated) of at most
 * max_len bytes: the shape of a stored record (an object with v 1, an
 * integer seq, strings id, source, kind, external_id).  kanald's relay
 * checks the rest; what it refuses becomes unknown as well.  why says
 * what is wrong for KANAL_NATS_UNKNOWN. */
enum kanal_nats_verdict kanal_nats_classify(const char *data, size_t len, size_t max_len, char *why,
                                            size_t why_len);

/* Look at a message of the state subject: the shape of a state command
 * (an object with v 1, strings command and id, a positive integer at_ms,
 * no seq).  kanald checks the rest (the command's name and arguments);
 * what it refuses becomes unknown as well.  KANAL_NATS_COMMAND, or
 * KANAL_NATS_UNKNOWN with why. */
enum kanal_nats_verdict kanal_nats_classify_command(const char *data, size_t len, size_t max_len,
                                                    char *why, size_t why_len);

/* What the unknown record of one message is made of. */
struct kanal_nats_unknown {
    const char *source;      /* the nats source's name */
    const char *stream;      /* the stream's name */
    const char *subject;     /* the message's subject, or NULL */
    uint64_t stream_seq;     /* the message's sequence in the stream */
    const char *occurred_at; /* RFC 3339 UTC with ms: when the stream stored it */
    const char *received_at; /* RFC 3339 UTC with ms: now */
    const char *why;         /* why it is not relayed */
};

/* The unknown record (stored form, for relay) keeping the message: raw is
 * its text when it is UTF-8 without NUL, else {"base64": ...}; data over
 * raw_max bytes is not kept (meta.size says how big it was).  meta holds
 * stream, stream_seq, subject and reason.  malloc'd JSON text, or NULL
 * when out of memory. */
char *kanal_nats_unknown_record(const struct kanal_nats_unknown *u, const char *data, size_t len,
                                size_t raw_max, size_t *out_len);

#endif
