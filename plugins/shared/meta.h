/* SPDX-License-Identifier: Apache-2.0 */
/* What the Meta plugins (facebook, whatsapp) share: the webhook handshake
 * and signature, one batch of records per webhook POST committed with its
 * state entries, the Graph API call for sends and the classification of
 * Graph errors into kanal's send outcomes.
 *
 * Compiled into each plugin that lists plugins/shared/meta.c in its
 * PLUGIN_EXTRA_<name>; every symbol stays hidden inside that plugin. */
#ifndef KANAL_PLUGINS_META_H
#define KANAL_PLUGINS_META_H

#include <stdint.h>

#include <jansson.h>
#include <kanal/plugin.h>

#define META_DEFAULT_API_URL "https://graph.facebook.com"
#define META_DEFAULT_API_VERSION "v26.0"

/* The 24-hour customer-service window of Messenger and WhatsApp. */
#define META_WINDOW_MS (24LL * 3600 * 1000)
#define META_WINDOW_REASON "outside the 24h customer-service window; use a template"

/* The options both plugins declare first, in this order. */
/* clang-format off */
#define META_COMMON_OPTIONS                                                                    \
    {"app_secret", KANAL_OPT_SECRET, NULL, 1,                                                  \
     "the Meta app's secret: checks X-Hub-Signature-256 and signs appsecret_proof", NULL},    \
    {"verify_token", KANAL_OPT_SECRET, NULL, 1,                                                \
     "the token you typed into the app's webhook settings (hub.verify_token)", NULL},          \
    {"api_url", KANAL_OPT_URL, META_DEFAULT_API_URL, 0, "Graph API base URL", NULL},           \
    {"api_version", KANAL_OPT_STRING, META_DEFAULT_API_VERSION, 0,                             \
     "Graph API version used for sends, e.g. v26.0", NULL},                                    \
    {"send_timeout", KANAL_OPT_DURATION, "30s", 0, "time allowed for one Graph API call", NULL}
/* clang-format on */

struct meta_overlay;

/* One source's Meta settings and shared state; embed it in the plugin's. */
struct meta {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *channel; /* the plugin's channel name, for log lines */
    const char *app_secret;
    const char *verify_token;
    char *api_url;        /* without a trailing '/' */
    char api_version[24]; /* "v26.0" */
    int64_t send_timeout_ms;
    int keep_raw;
    int token_bad; /* the source was reported unhealthy for its token */
    unsigned next_gen;
    struct meta_overlay *overlay; /* state entries emitted, not yet committed */
};

/* Read the common options.  @return 0, or KANAL_ECONFIG (logged). */
int meta_init(struct meta *m, const struct kanal_host *host, struct kanal_source *src,
              const char *channel);
void meta_destroy(struct meta *m);

/*
 * The part of every webhook request that is the same for all Meta products:
 * the hub.* verification GET, the method check and X-Hub-Signature-256 over
 * the raw body.  @return 1 when the request has been answered (handshake,
 * refusal), 0 for an authentic POST the plugin must now handle.
 */
int meta_http_gate(struct meta *m, struct kanal_http_request *req);

/* ---- one webhook POST: records and state, committed together ---- */

struct meta_batch {
    struct meta *m;
    struct kanal_http_request *req;
    json_t *records; /* array of records (schema v1 without seq, id, received_at) */
    json_t *states;  /* key -> string value, or null to delete */
};

void meta_batch_init(struct meta_batch *b, struct meta *m, struct kanal_http_request *req);
/* Add a record (the reference is stolen); attaches raw when keep_raw is set. */
void meta_batch_add(struct meta_batch *b, json_t *rec, json_t *raw);
/* Add an authentic item nobody understands as kind "unknown" with raw. */
void meta_batch_unknown(struct meta_batch *b, const char *channel, json_t *item,
                        const char *reason);
/* Set (value) or delete (NULL) a state entry, committed with the records. */
void meta_batch_set_state(struct meta_batch *b, const char *key, const char *value);
/*
 * The newest value of a state entry: this batch's, else one emitted and not
 * yet committed, else the committed one.  @return a malloc'd string or NULL.
 */
char *meta_batch_get_state(struct meta_batch *b, const char *key);
/* Record that handle wrote at unix_ms (the 24-hour window), if newer. */
void meta_batch_note_inbound(struct meta_batch *b, const char *handle, int64_t unix_ms);
/*
 * Emit everything in one commit and answer the request once it is durable
 * (200 {"seqs":[...]}, or 503 when the store cannot commit).  If the host
 * refuses a record, the whole body is kept as one "unknown" record instead.
 * Frees the batch's contents.
 */
void meta_batch_commit(struct meta_batch *b);

/* Read a state entry outside a batch (see meta_batch_get_state). */
char *meta_state_get(struct meta *m, const char *key);
/* Commit state entries on their own (no record). */
int meta_state_put(struct meta *m, const struct kanal_state_entry *states, size_t n);
/* 1 when handle wrote less than 24 hours before now_ms. */
int meta_window_open(struct meta *m, const char *handle, int64_t now_ms);

/* ---- payload helpers ---- */

/* A non-empty string member, or NULL. */
const char *meta_str(json_t *obj, const char *key);
/*
 * An id member (string or integer) that is safe inside a handle or an
 * external id: 1-256 printable ASCII characters without spaces.
 * @return buf, or NULL when absent or unfit
 */
const char *meta_id(json_t *obj, const char *key, char *buf, size_t len);
/*
 * A time member as unix ms: integer or numeric string in seconds or
 * milliseconds (told apart by size), or "2026-11-23T10:00:00+0000".
 * @return -1 when absent or unreadable
 */
int64_t meta_time_ms(json_t *obj, const char *key);
/* RFC 3339 text of unix_ms into out[32]; now when unix_ms < 0. */
void meta_time_text(struct meta *m, int64_t unix_ms, char out[32]);
/* A party; handles may be NULL, role "customer" or "brand". */
json_t *meta_party(const char *handle, const char *name, const char *role, const char *handle2,
                   const char *handle3);
/* 1 when s is 1-20 decimal digits. */
int meta_digits(const char *s);

/* ---- Graph API calls (sends) ---- */

/* Where the access token travels. */
enum meta_token_place {
    META_TOKEN_QUERY,  /* ?access_token= (Messenger Send API) */
    META_TOKEN_BEARER, /* Authorization: Bearer (WhatsApp Cloud API) */
};

/* What a Graph API call came back with; valid during the callback only. */
struct meta_reply {
    int curl_result;       /* 0 (CURLE_OK) when an answer came */
    long status;           /* HTTP status */
    const char *body;      /* NUL-terminated, possibly "" */
    const char *buc_usage; /* X-Business-Use-Case-Usage, or NULL */
    const char *app_usage; /* X-App-Usage, or NULL */
};

typedef void (*meta_reply_cb)(void *arg, const struct meta_reply *reply);

/*
 * POST body_json to {api_url}/{api_version}/{node}/{edge} with the token
 * (and appsecret_proof) on the host's async transfer.
 * @return 0 (cb will be called exactly once), or a negative error
 */
int meta_graph_post(struct meta *m, const char *node, const char *edge, const char *token,
                    enum meta_token_place place, const char *body_json, meta_reply_cb cb,
                    void *arg);

/*
 * Classify a call that did not succeed (transport error, non-2xx or a Graph
 * error object) into res: rate limits and temporary errors are retried,
 * with a delay taken from the usage headers when they give one; bad tokens
 * and missing permissions fail and report the source unhealthy; the rest
 * fail.  reason (the text behind res->reason) names the code and message.
 */
void meta_classify(struct meta *m, const struct meta_reply *reply, struct kanal_send_result *res,
                   char *reason, size_t reason_len);
/* A call succeeded: a source reported unhealthy for its token is healthy again. */
void meta_graph_ok(struct meta *m);
/*
 * The delay the usage headers ask for, in ms: the largest
 * estimated_time_to_regain_access (minutes) of X-Business-Use-Case-Usage,
 * else a wait scaled to X-App-Usage's highest percentage; -1 when they give
 * no hint (the outbox then backs off exponentially).
 */
int64_t meta_usage_delay_ms(const char *buc_usage, const char *app_usage);

/* A Graph reply to a send: the parsed body when Meta accepted it (and the
 * source marked healthy), or NULL with res and reason filled by
 * meta_classify(). */
json_t *meta_send_reply(struct meta *m, const struct meta_reply *reply,
                        struct kanal_send_result *res, char *reason, size_t reason_len);

#endif
