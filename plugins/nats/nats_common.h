/* SPDX-License-Identifier: Apache-2.0 */
/* What the nats sink and source share: the connection options, the
 * stream check and the subject of a record. */
#ifndef KANAL_NATS_COMMON_H
#define KANAL_NATS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <kanal/kit.h>
#include <kanal/plugin.h>
#include <nats/nats.h>

struct kanal_nats_opts {
    const char *servers, *stream, *subject_prefix;
    const char *creds, *nkey, *nkey_public, *user, *password, *tls_ca;
};

/* Entries of a kanal_kit_bind table for a state type T whose member M is
 * a struct kanal_nats_opts. */
#define KANAL_NATS_BIND(T, M, name)                                                   \
    {                                                                                 \
#name, KANAL_KIT_STR, offsetof(T, M) + offsetof(struct kanal_nats_opts, name) \
    }
#define KANAL_NATS_BINDS(T, M)                                               \
    KANAL_NATS_BIND(T, M, servers), KANAL_NATS_BIND(T, M, stream),           \
        KANAL_NATS_BIND(T, M, subject_prefix), KANAL_NATS_BIND(T, M, creds), \
        KANAL_NATS_BIND(T, M, nkey), KANAL_NATS_BIND(T, M, nkey_public),     \
        KANAL_NATS_BIND(T, M, user), KANAL_NATS_BIND(T, M, password),        \
        KANAL_NATS_BIND(T, M, tls_ca)

/* The options of the kanal_option table both plugins share. */
#define KANAL_NATS_OPTIONS                                                                    \
    {"servers",                                                                               \
     KANAL_OPT_STRING,                                                                        \
     "nats://127.0.0.1:4222",                                                                 \
     0,                                                                                       \
     "NATS servers, comma-separated nats:// or tls:// URLs",                                  \
     NULL},                                                                                   \
        {"stream", KANAL_OPT_STRING, "KANAL", 0, "the JetStream stream of records", NULL},    \
        {"subject_prefix",                                                                    \
         KANAL_OPT_STRING,                                                                    \
         "kanal.records",                                                                     \
         0,                                                                                   \
         "records go to <subject_prefix>.<source>.<kind>",                                    \
         NULL},                                                                               \
        {"creds",                                                                             \
         KANAL_OPT_STRING,                                                                    \
         NULL,                                                                                \
         0,                                                                                   \
         "path of a NATS .creds file (user JWT and seed), read by libnats",                   \
         NULL},                                                                               \
        {"nkey", KANAL_OPT_SECRET, NULL, 0, "NKey seed (SU...) to authenticate with", NULL},  \
        {"nkey_public", KANAL_OPT_STRING, NULL, 0, "the public key (U...) of nkey", NULL},    \
        {"user", KANAL_OPT_STRING, NULL, 0, "user name to authenticate with", NULL},          \
        {"password", KANAL_OPT_SECRET, NULL, 0, "password of user", NULL},                    \
    {                                                                                         \
        "tls_ca", KANAL_OPT_STRING, NULL, 0, "CA bundle that verifies the servers' TLS", NULL \
    }

/* Refuse option combinations that cannot work; logs why. */
int kanal_nats_opts_check(const struct kanal_host *host, struct kanal_source *src,
                          const struct kanal_nats_opts *o);

/* libnats options from o: servers, authentication, TLS, reconnect for ever.
 * @return 0, or KANAL_ECONFIG with why filled */
int kanal_nats_options(const struct kanal_nats_opts *o, natsOptions **out, char *why,
                       size_t why_len);

/* The wait before the next connection attempt after attempts failed ones
 * (0: the first retry): 100 ms, doubling to 5 s.  libnats waits as much
 * between reconnections, and the plugin between connections that a
 * server refused. */
int64_t kanal_nats_backoff_ms(int attempts);

/* Why a connection failed, for a log line: libnats' status text and the
 * server's words (detail: "Authorization Violation"), never a secret. */
void kanal_nats_conn_why(natsStatus st, const char *detail, char *why, size_t len);

/* The CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
struct timespec kanal_nats_deadline(int64_t ms);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t kanal_nats_now_ms(void);

/* How long a subscription replaced on a live connection is kept after it
 * was unsubscribed or given up, before it is destroyed: libnats 3.4's read
 * loop takes a subscription out of its map and locks it after letting go
 * of the map's lock, without a reference, so one destroyed in between is
 * used after it is freed (libnats 3.6 holds a reference).  A closed
 * connection's subscriptions are destroyed at once: its read loop ended. */
#define KANAL_NATS_SUB_GRACE_MS 10000

/* The stream exists with file storage, a duplicate window and subjects
 * covering <subject_prefix>.>.
 * @return 0; -EAGAIN when JetStream does not answer (no leader, down);
 *         KANAL_ECONFIG with why saying what differs */
int kanal_nats_check_stream(jsCtx *js, const struct kanal_nats_opts *o, char *why, size_t why_len);

/* <prefix>.<source>.<kind>, each token with '.', '*', '>' and blanks as
 * '_' so that a name cannot add or wildcard tokens; malloc'd, or NULL. */
char *kanal_nats_subject(const char *prefix, const char *source, const char *kind);

/* What a record's message needs: its id, source and kind (NULL when
 * absent) and seq (0 when absent); malloc'd. */
struct kanal_nats_fields {
    char *id, *source, *kind;
    long long seq;
};

/* The stored record at [p, end) read without building it: one pass over
 * its text for its end and the top-level id, source, kind and seq (parsed
 * with jansson, records were most of the sink's CPU: 16% of an edge's at
 * full ingest).  @return the record's end, or NULL with f empty when it is
 * not that plain (an escape in those strings, a seq that is not digits,
 * text that does not end): the caller parses it then. */
const char *kanal_nats_scan_record(const char *p, const char *end, struct kanal_nats_fields *f);
void kanal_nats_fields_free(struct kanal_nats_fields *f);

#endif
