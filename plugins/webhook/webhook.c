/* SPDX-License-Identifier: Apache-2.0 */
/* webhook: kanal's generic channel, for in-house systems, and the reference
 * plugin for authors.
 *
 * POST /hooks/<source> with one interaction record (or an array of them) in
 * the schema v1 shape, without seq, id and received_at, signed with
 * HMAC-SHA256 over the raw body:  X-Kanal-Signature: sha256=<hex>.
 *
 *   valid signature, valid records  -> 200 {"seqs":[...]} after the commit
 *   valid signature, invalid body   -> stored as kind "unknown", 202 (also
 *                                      an empty body, or one kanald cannot
 *                                      store as a record: too deep, NUL)
 *   missing or wrong signature      -> 401, nothing stored
 *   store cannot commit             -> 503, the sender retries
 *   not storable even as unknown    -> 422 (a kanald bug: retrying cannot help)
 *
 * A party the sender marks "trust": "verified" may merge contacts (the
 * HMAC authenticates the sender, who vouches for it); the source's trust
 * option overrides such marks (docs/identity.md).
 *
 * Outbound (POST /v1/messages naming this source): the message is POSTed as
 * JSON to send_url, signed the same way, with an Idempotency-Key header.
 *   2xx                 -> sent; the body's "id", if any, is the provider id
 *   429, 503            -> retry after the Retry-After hint (or backoff)
 *   408, other 5xx, network error or timeout -> retry with backoff
 *   other 4xx           -> failed, with the body's error message
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <kanal/kit.h>
#include <kanal/plugin.h>

struct webhook {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *secret;
    const char *header;
    const char *send_url;
    int64_t send_timeout_ms;
    int64_t unknown_raw_max; /* bytes of a body kept in an unknown record */
};

/* Check "sha256=<hex>" against HMAC-SHA256(secret, body), in constant time. */
static int signature_ok(struct webhook *w, const struct kanal_http_request *req)
{
    const char *sig = w->host->http_header(req, w->header);
    if (!sig || strncmp(sig, "sha256=", 7) != 0 || strlen(sig + 7) != 64)
        return 0;
    unsigned char mac[32];
    char hex[65];
    w->host->hmac_sha256(w->secret, strlen(w->secret), req->body, req->body_len, mac);
    w->host->hex_encode(mac, sizeof mac, hex);
    char given[65];
    for (int i = 0; i < 64; i++) /* accept upper-case hex too */
        given[i] = (char)((sig[7 + i] >= 'A' && sig[7 + i] <= 'F') ? sig[7 + i] + 32 : sig[7 + i]);
    given[64] = '\0';
    return w->host->equal_ct(hex, given, 64);
}

static int webhook_http(void *state, struct kanal_http_request *req)
{
    struct webhook *w = state;
    if (strcmp(req->method, "POST") != 0) {
        w->host->http_add_header(req, "Allow", "POST");
        kanal_kit_respond_error(w->host, req, 405, "method_not_allowed", "webhooks are POSTed");
        return 0;
    }
    if (!signature_ok(w, req)) {
        w->host->log(w->src, KANAL_LOG_WARNING, "refused a request from %s: %s %s",
                     req->remote_addr,
                     w->host->http_header(req, w->header) ? "wrong" : "missing", w->header);
        kanal_kit_respond_error(w->host, req, 401, "bad_signature", "missing or wrong signature");
        return 0;
    }
    /* A body that is not a valid record (an empty one included: the sender
     * meant something), or one kanald cannot store as one (too deep, NUL),
     * is kept as kind "unknown", keyed by its digest, answered 202; raw is
     * the body as JSON when it is JSON within unknown_raw_max, else its
     * first unknown_raw_max bytes as text, else as base64. */
    const struct kanal_kit_unknown unknown = {
        .id_prefix = "body",
        .reason = req->body_len ? "body is not a schema v1 record (kanald's log names the field)"
                                : "the body is empty",
        .raw_max = w->unknown_raw_max > 0 ? (size_t)w->unknown_raw_max : 0,
    };
    const struct kanal_kit_answer answer = {.unknown = &unknown, .unknown_status = 202};
    kanal_kit_emit_answer(w->host, w->src, req, req->body, req->body_len, NULL, 0, &answer);
    return 0;
}

/* ---- outbound ---- */

#define MAX_RESPONSE 65536

struct sending {
    struct webhook *w;
    const struct kanal_send_request *msg;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *resp;
    size_t resp_len;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct sending *s = arg;
    size_t len = size * n;
    if (s->resp_len + len > MAX_RESPONSE)
        len = MAX_RESPONSE - s->resp_len; /* keep the start: errors come first */
    char *p = realloc(s->resp, s->resp_len + len + 1);
    if (!p)
        return 0;
    memcpy(p + s->resp_len, data, len);
    s->resp = p;
    s->resp_len += len;
    p[s->resp_len] = '\0';
    return size * n;
}

static void sending_free(struct sending *s)
{
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    free(s->body);
    free(s->resp);
    free(s);
}

/* The provider's id from {"id": ...}, or the error text from
 * {"error": {"message": ...}} / {"error": "..."}; NULL when absent. */
static char *response_field(const char *resp, const char *what)
{
    json_t *o = resp ? json_loads(resp, 0, NULL) : NULL;
    char *out = NULL;
    if (json_is_object(o)) {
        json_t *v = json_object_get(o, what);
        if (json_is_object(v))
            v = json_object_get(v, "message");
        if (json_is_string(v))
            out = strdup(json_string_value(v));
        else if (json_is_integer(v) && asprintf(&out, "%lld", (long long)json_integer_value(v)) < 0)
            out = NULL;
    }
    json_decref(o);
    return out;
}

static void on_sent(void *arg, int result, void *easy)
{
    struct sending *s = arg;
    struct webhook *w = s->w;
    struct kanal_send_result res = {.retry_after_ms = -1};
    char reason[512];
    char *provider_id = NULL, *error = NULL;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (result != CURLE_OK) {
        res.outcome = KANAL_SEND_RETRY;
        snprintf(reason, sizeof reason, "%s", curl_easy_strerror((CURLcode)result));
        res.reason = reason;
    } else if (code >= 200 && code < 300) {
        res.outcome = KANAL_SEND_SENT;
        provider_id = response_field(s->resp, "id");
        res.provider_id = provider_id ? provider_id : s->msg->id;
    } else {
        error = response_field(s->resp, "error");
        snprintf(reason, sizeof reason, "HTTP %ld: %.400s", code,
                 error ? error : (s->resp ? s->resp : ""));
        res.reason = reason;
        if (code == 429 || code == 503 || code == 408 || code >= 500) {
            res.outcome = KANAL_SEND_RETRY;
            curl_off_t after = -1;
            if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after >= 0 &&
                (code == 429 || code == 503))
                res.retry_after_ms = (int64_t)after * 1000;
        } else {
            res.outcome = KANAL_SEND_FAILED;
        }
    }
    w->host->send_done(w->src, s->msg, &res);
    free(provider_id);
    free(error);
    sending_free(s);
}

static int webhook_send(void *state, const struct kanal_send_request *msg)
{
    struct webhook *w = state;
    if (!w->send_url) {
        struct kanal_send_result res = {.outcome = KANAL_SEND_FAILED, .retry_after_ms = -1,
                                        .reason = "this source has no send_url"};
        return w->host->send_done(w->src, msg, &res);
    }
    struct sending *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->w = w;
    s->msg = msg;
    json_t *o = json_pack("{s:s,s:s,s:s,s:i}", "id", msg->id, "to", msg->to, "idempotency_key",
                          msg->idempotency_key, "attempt", (int)msg->attempt);
    if (msg->text)
        json_object_set_new(o, "text", json_string(msg->text));
    if (msg->reply_to)
        json_object_set_new(o, "reply_to", json_string(msg->reply_to));
    if (msg->campaign)
        json_object_set_new(o, "campaign", json_string(msg->campaign));
    if (msg->template_json)
        json_object_set_new(o, "template", json_loads(msg->template_json, JSON_DECODE_ANY, NULL));
    s->body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    unsigned char mac[32];
    char hex[65], sig[160], key[400];
    w->host->hmac_sha256(w->secret, strlen(w->secret), s->body, strlen(s->body), mac);
    w->host->hex_encode(mac, sizeof mac, hex);
    snprintf(sig, sizeof sig, "%s: sha256=%s", w->header, hex);
    snprintf(key, sizeof key, "Idempotency-Key: %s", msg->idempotency_key);
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    s->headers = curl_slist_append(s->headers, sig);
    s->headers = curl_slist_append(s->headers, key);
    s->easy = curl_easy_init();
    if (!s->easy || !s->headers || !s->body) {
        sending_free(s);
        return -ENOMEM;
    }
    curl_easy_setopt(s->easy, CURLOPT_URL, w->send_url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)w->send_timeout_ms);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    int r = w->host->transfer(w->src, s->easy, on_sent, s);
    if (r < 0)
        sending_free(s);
    return r;
}

static int webhook_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct webhook *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->host = host;
    w->src = src;
    static const struct kanal_kit_bind binds[] = {
        {"secret", KANAL_KIT_STR, offsetof(struct webhook, secret)},
        {"signature_header", KANAL_KIT_STR, offsetof(struct webhook, header)},
        {"send_url", KANAL_KIT_STR, offsetof(struct webhook, send_url)},
        {"send_timeout", KANAL_KIT_INT64, offsetof(struct webhook, send_timeout_ms)},
        {"unknown_raw_max", KANAL_KIT_INT64, offsetof(struct webhook, unknown_raw_max)},
        {NULL, 0, 0},
    };
    int r = kanal_kit_bind_options(host, src, binds, w);
    if (r < 0) {
        free(w);
        return r;
    }
    *state = w;
    return 0;
}

static int webhook_start(void *state)
{
    (void)state;
    return 0;
}

static int webhook_stop(void *state)
{
    (void)state;
    return 0;
}

static void webhook_destroy(void *state)
{
    free(state);
}

static const struct kanal_option webhook_options[] = {
    {"secret", KANAL_OPT_SECRET, NULL, 1, "HMAC-SHA256 key shared with the sender", NULL},
    {"signature_header", KANAL_OPT_STRING, "X-Kanal-Signature", 0,
     "request header carrying sha256=<hex>", NULL},
    {"send_url", KANAL_OPT_URL, NULL, 0,
     "where outbound messages are POSTed (signed like inbound ones)", NULL},
    {"send_timeout", KANAL_OPT_DURATION, "30s", 0, "time allowed for one outbound POST", NULL},
    {"unknown_raw_max", KANAL_OPT_SIZE, "64K", 0,
     "bytes of a body kept in raw when it is stored as kind unknown (beyond: cut, "
     "meta.raw_truncated)",
     NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin webhook_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "webhook",
    .version = "1.0.0",
    .description = "generic signed JSON webhook in the interaction record shape",
    .options = webhook_options,
    .init = webhook_init,
    .start = webhook_start,
    .stop = webhook_stop,
    .destroy = webhook_destroy,
    .http = webhook_http,
    .send = webhook_send,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &webhook_plugin;
}
