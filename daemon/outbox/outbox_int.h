/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox's internals, shared by the scheduler (outbox.c) and the HTTP
 * routes (outbox_api.c). */
#ifndef KANAL_OUTBOX_INT_H
#define KANAL_OUTBOX_INT_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "outbox.h"

struct outbox_msg {
    struct kanal_send_request req; /* what the plugin sees */
    struct outbox_msg *next;
    uint64_t num; /* key in the outbox db */
    char *id, *source, *to, *text, *reply_to, *campaign, *template_json, *idem_key;
    char *provider_key; /* idempotency key handed to the provider */
    char *unsub_url;    /* the recipient's unsubscribe link, made at the first try */
    unsigned attempts;
    int64_t created_ms, next_try_ms;
    char *last_error;
    int inflight;   /* with the plugin */
    int finishing;  /* terminal state being committed */
    int forgotten;  /* erased while with the plugin: drop the outcome */
    /* The final state whose commit failed, to commit again (never to send
     * again): "sent" or "failed", with what it carried. */
    char *final_status, *final_reason, *final_provider_id;
    json_t *final_record;
    struct kanal_source *src;
    void *jsmsg; /* edge: the stream's message, acknowledged once final */
    int cluster; /* edge: taken from the cluster's stream */
};

struct bucket {
    char *source;
    double tokens;
    uint64_t refilled_ms;
    unsigned inflight;
    struct outbox_source_stats stats;
};

struct outbox {
    struct outbox_env env;
    struct outbox_msg *pending;
    uv_timer_t timer;
    struct bucket *buckets;
    size_t nbuckets;
    struct outbox_source_stats *stats_view;
    uint64_t depth;
    int closed;
    int scheduling, again; /* a plugin answering inside send() reschedules */
    struct outbox_nats *nats; /* in a cluster (outbox_nats.c), or NULL */
};

/* A pending message from its stored JSON. */
struct outbox_msg *outbox__msg_from_json(json_t *o);
/* A string member copied, or NULL. */
char *outbox__opt_dup(json_t *o, const char *name);
/* Whether a message to `to` (a handle, or the channel's address for one)
 * may be sent through a source of plugin `channel` now (outbox.c); page_id:
 * a facebook source's page, for bare PSIDs. */
enum outbox_consent {
    CONSENT_GIVEN,     /* the store says the recipient did not opt out */
    CONSENT_OPTED_OUT, /* fail the message: opted_out */
    CONSENT_UNKNOWN,   /* the handle cannot be looked up: consent_unknown */
    CONSENT_RETRY,     /* the store cannot be read now: try again later */
};
enum outbox_consent outbox__consent(struct outbox *ob, const char *to, const char *channel,
                                    const char *default_country, const char *page_id,
                                    const char **why);
/* The handle `to` is filed under on `channel` (a handle, or the channel's
 * address for a person): 0 with it in out, 1 when the message has no
 * recipient person (a public X post), KANAL_EHANDLE with *why, or -ENOBUFS.
 * POST /v1/messages refuses a `to` of which it can make none. */
int outbox__recipient_handle(const char *to, const char *channel, const char *default_country,
                             const char *page_id, char *out, size_t out_len, const char **why);
/* Hand due messages to their plugins; arm the timer for the next. */
void outbox__schedule(struct outbox *ob);

/* outbox_nats.c: whether this node hands sends to the cluster; publish m
 * (consent granted) to the stream; acknowledge (ack) or give back the
 * stream's message of m; stop. */
int outbox_nats__core(const struct outbox *ob);
void outbox_nats__publish(struct outbox *ob, struct outbox_msg *m);
void outbox_nats__release(struct outbox *ob, struct outbox_msg *m, int ack);
void outbox_nats__close(struct outbox *ob);
/* outbox.c: the stream stored m (err NULL) or not; a message taken from
 * the stream, committed here as stored, to send. */
void outbox__relayed(struct outbox *ob, struct outbox_msg *m, const char *err);
void outbox__adopt(struct outbox *ob, json_t *stored, void *jsmsg);
void outbox__msg_free(struct outbox_msg *m);

/* outbox_wire.c: a message of the cluster's outbox stream, checked with the
 * bounds of POST /v1/messages: the object, or NULL with *bad (and *which, the
 * member) saying why; the entry an edge commits for it as its num-th. */
json_t *outbox_wire_parse(const char *data, size_t len, const char **bad, const char **which);
json_t *outbox_wire_entry(json_t *in, uint64_t num, int64_t now_ms);

#endif
