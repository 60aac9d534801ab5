/* SPDX-License-Identifier: Apache-2.0 */
/* twitter: X (Twitter) as a kanal channel.
 *
 * Webhooks (X's Account Activity API) arrive at /hooks/<source>:
 *   GET ?crc_token=T  -> 200 {"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, T)>"}
 *                        only for T of 1..256 characters [A-Za-z0-9+/=_-], else 400
 *   POST, signed with x-twitter-webhooks-signature: sha256=<base64 HMAC of the raw body>
 *                     -> 200 {"seqs":[...]} after the commit; 401 when the signature is wrong
 * Polling (tw_poll.c) reads the mentions timeline and a recent search with
 * the bearer token; sending (tw_send.c) posts, replies and DMs with the
 * user token.  Records take the brand's point of view (tw_normalize.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

#include "twitter.h"

/* ---- small shared helpers ---- */

const char *tw_handle(const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "x:%s", id);
    return buf;
}

void tw_conv_remember(struct twitter *tw, const char *id, const char *conv)
{
    if (!id || !conv || strlen(id) >= TW_ID_MAX || strlen(conv) >= TW_ID_MAX)
        return;
    if (tw_conv_lookup(tw, id))
        return;
    struct tw_conv *c = &tw->conv[tw->conv_next++ % TW_CONV_CACHE];
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->conv, sizeof c->conv, "%s", conv);
}

const char *tw_conv_lookup(const struct twitter *tw, const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; i < TW_CONV_CACHE; i++)
        if (tw->conv[i].id[0] && strcmp(tw->conv[i].id, id) == 0)
            return tw->conv[i].conv;
    return NULL;
}

void tw_set_problem(struct twitter *tw, int sending, const char *problem)
{
    char *slot = sending ? tw->send_problem : tw->poll_problem;
    snprintf(slot, sizeof tw->poll_problem, "%s", problem ? problem : "");
    const char *reason = tw->send_problem[0] ? tw->send_problem : tw->poll_problem;
    int ok = reason[0] == '\0';
    if (ok != tw->healthy || !ok) {
        tw->host->set_health(tw->src, ok, ok ? NULL : reason);
        tw->healthy = ok;
    }
}

json_t *tw_unknown_record(struct twitter *tw, json_t *raw, const char *what, const char *reason)
{
    char *text = json_dumps(raw, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    unsigned char digest[32];
    char hex[65], ext[96];
    tw->host->hmac_sha256("kanal-unknown", 13, text ? text : "", text ? strlen(text) : 0, digest);
    tw->host->hex_encode(digest, sizeof digest, hex);
    free(text);
    snprintf(ext, sizeof ext, "%s-%s", what, hex);
    return json_pack("{s:s,s:s,s:s,s:O,s:{s:s,s:s}}", "kind", "unknown", "direction", "inbound",
                     "external_id", ext, "raw", raw, "meta", "event", what, "reason", reason);
}

/* ---- webhooks ---- */

/* "sha256=" + base64(HMAC-SHA256(consumer secret, data)) into out[64]. */
static void sign(struct twitter *tw, const void *data, size_t len, char out[64])
{
    unsigned char mac[32];
    char b64[48];
    tw->host->hmac_sha256(tw->consumer_secret, strlen(tw->consumer_secret), data, len, mac);
    tw->host->base64_encode(mac, sizeof mac, b64);
    snprintf(out, 64, "sha256=%s", b64);
}

struct crc_find {
    char *token;
    int count;
};

static int find_crc(void *arg, const char *name, const char *value)
{
    struct crc_find *f = arg;
    if (strcmp(name, "crc_token") == 0 && f->count++ == 0)
        f->token = strdup(value);
    return 0;
}

/* The CRC answer is HMAC(consumer secret, token) in exactly the format of a
 * webhook signature, so answering any token would sign any body a caller
 * likes.  X sends short random tokens of letters, digits and base64
 * punctuation; accepting only those means no JSON body (it needs '{' or
 * '"') can ever be signed here. */
#define TW_CRC_TOKEN_MAX 256

static int crc_token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > TW_CRC_TOKEN_MAX)
        return 0;
    for (; *t; t++) {
        char c = *t;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A NUL can only arrive as %00; decoded values are C strings that would end
 * there, so look at the raw query for it. */
static int query_has_nul(const char *q)
{
    for (const char *p = strchr(q, '%'); p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return 1;
    return 0;
}

/* The challenge-response check X repeats to keep delivering. */
static void answer_crc(struct twitter *tw, struct kanal_http_request *req)
{
    struct crc_find f = {NULL, 0};
    const char *problem = NULL;
    if (query_has_nul(req->query)) {
        problem = "the query contains a NUL (%00)";
    } else {
        tw->host->form_decode(req->query, strlen(req->query), find_crc, &f);
        if (f.count == 0)
            problem = "expected ?crc_token=...";
        else if (f.count > 1)
            problem = "crc_token is given more than once";
        else if (!f.token) {
            kanal_kit_respond_error(tw->host, req, 503, "out_of_memory", "out of memory");
            return;
        } else if (!crc_token_ok(f.token))
            problem = "crc_token must be 1 to 256 characters of A-Z a-z 0-9 + / = _ -";
    }
    if (problem) {
        free(f.token);
        tw->host->log(tw->src, KANAL_LOG_WARNING, "refused a CRC check from %s: %s",
                      req->remote_addr, problem);
        kanal_kit_respond_error(tw->host, req, 400, "bad_crc_token", problem);
        return;
    }
    char token[64];
    sign(tw, f.token, strlen(f.token), token);
    free(f.token);
    tw->host->log(tw->src, KANAL_LOG_DEBUG, "answered X's CRC check from %s", req->remote_addr);
    char body[96];
    snprintf(body, sizeof body, "{\"response_token\":\"%s\"}", token); /* base64: no escapes */
    kanal_kit_respond_json(tw->host, req, 200, body);
}

static int signature_ok(struct twitter *tw, const struct kanal_http_request *req)
{
    const char *given = tw->host->http_header(req, "x-twitter-webhooks-signature");
    if (!given)
        return 0;
    char want[64];
    sign(tw, req->body, req->body_len, want);
    size_t n = strlen(want);
    return strlen(given) == n && tw->host->equal_ct(want, given, n);
}

/* A body made only of CRC-token characters may carry a signature obtained
 * from the CRC check rather than from X, so it proves nothing.  X's events
 * are JSON objects, which never look like that. */
static int crc_signable(const struct kanal_http_request *req)
{
    char buf[TW_CRC_TOKEN_MAX + 1];
    if (req->body_len == 0 || req->body_len > TW_CRC_TOKEN_MAX ||
        memchr(req->body, '\0', req->body_len))
        return 0;
    memcpy(buf, req->body, req->body_len);
    buf[req->body_len] = '\0';
    return crc_token_ok(buf);
}

static void handle_post(struct twitter *tw, struct kanal_http_request *req)
{
    int authentic = signature_ok(tw, req);
    if (authentic && crc_signable(req)) {
        tw->host->log(tw->src, KANAL_LOG_WARNING,
                      "refused a webhook from %s: its body could be a CRC token, so its "
                      "signature may come from the CRC check",
                      req->remote_addr);
        kanal_kit_respond_error(tw->host, req, 401, "bad_signature", "missing or wrong signature");
        return;
    }
    if (!authentic) {
        tw->host->log(
            tw->src, KANAL_LOG_WARNING, "refused a webhook from %s: %s signature", req->remote_addr,
            tw->host->http_header(req, "x-twitter-webhooks-signature") ? "wrong" : "missing");
        kanal_kit_respond_error(tw->host, req, 401, "bad_signature", "missing or wrong signature");
        return;
    }
    json_t *payload = json_loadb(req->body, req->body_len, 0, NULL);
    json_t *records;
    if (json_is_object(payload)) {
        records = tw_activity_records(tw, payload);
    } else {
        json_t *raw = payload ? json_incref(payload) : json_stringn(req->body, req->body_len);
        if (!raw)
            raw = json_string("(body is not UTF-8)");
        records = json_pack("[o]", tw_unknown_record(tw, raw, "body", "body is not a JSON object"));
        json_decref(raw);
    }
    if (json_array_size(records) == 0) {
        /* Only events kanal does not store (typing indicators). */
        json_decref(records);
        json_decref(payload);
        kanal_kit_respond_json(tw->host, req, 200, "{\"seqs\":[]}");
        return;
    }
    /* A payload shape kanal mis-read is kept whole rather than lost: as
     * JSON when it is JSON (kanald bounds a raw it cannot store), else as
     * text.  The kit answers {"seqs":[...]} after the commit, 503 +
     * Retry-After when the store cannot commit. */
    json_t *whole;
    if (payload) {
        whole = tw_unknown_record(tw, payload, "payload", "payload kanal could not normalize");
    } else {
        json_t *text = json_stringn(req->body, req->body_len);
        if (!text)
            text = json_string("(body is not UTF-8)");
        whole = tw_unknown_record(tw, text, "payload", "payload kanal could not read");
        json_decref(text);
    }
    char *text = json_dumps(records, JSON_COMPACT);
    char *fallback = whole ? json_dumps(whole, JSON_COMPACT) : NULL;
    json_decref(whole);
    json_decref(records);
    json_decref(payload);
    const struct kanal_kit_answer answer = {.unknown_json = fallback};
    if (!text)
        kanal_kit_respond_error(tw->host, req, 500, "internal", "out of memory");
    else
        kanal_kit_emit_answer(tw->host, tw->src, req, text, strlen(text), NULL, 0, &answer);
    free(text);
    free(fallback);
}

static int tw_http(void *state, struct kanal_http_request *req)
{
    struct twitter *tw = state;
    if (!tw->webhooks) {
        kanal_kit_respond_error(tw->host, req, 404, "no_webhooks",
                                "this source polls (mode = poll)");
        return 0;
    }
    if (strcmp(req->method, "GET") == 0)
        answer_crc(tw, req);
    else if (strcmp(req->method, "POST") == 0)
        handle_post(tw, req);
    else {
        tw->host->http_add_header(req, "Allow", "GET, POST");
        kanal_kit_respond_error(tw->host, req, 405, "method_not_allowed",
                                "GET for the CRC check, POST for events");
    }
    return 0;
}

/* ---- lifecycle ---- */

int tw_numeric_id(const char *s)
{
    if (!s || !*s || strlen(s) >= TW_ID_MAX)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static const struct kanal_kit_bind tw_binds[] = {
    {"user_id", KANAL_KIT_STR, offsetof(struct twitter, user_id)},
    {"consumer_secret", KANAL_KIT_STR, offsetof(struct twitter, consumer_secret)},
    {"bearer_token", KANAL_KIT_STR, offsetof(struct twitter, bearer_token)},
    {"user_token", KANAL_KIT_STR, offsetof(struct twitter, user_token)},
    {"poll_query", KANAL_KIT_STR, offsetof(struct twitter, poll_query)},
    {"poll_interval", KANAL_KIT_INT64, offsetof(struct twitter, poll_interval_ms)},
    {"poll_max_pages", KANAL_KIT_INT64, offsetof(struct twitter, poll_max_pages)},
    {"timeout", KANAL_KIT_INT64, offsetof(struct twitter, timeout_ms)},
    {NULL, 0, 0},
};

static int tw_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct twitter *tw = calloc(1, sizeof *tw);
    if (!tw)
        return -ENOMEM;
    tw->host = host;
    tw->src = src;
    tw->healthy = 1;
    int r = kanal_kit_bind_options(host, src, tw_binds, tw);
    if (r < 0) {
        free(tw);
        return r;
    }
    const char *mode = host->config_string(src, "mode");
    tw->webhooks = strcmp(mode, "poll") != 0;
    tw->polling = strcmp(mode, "webhook") != 0;
    tw->api_url = strdup(host->config_string(src, "api_url"));
    if (!tw->api_url) {
        free(tw);
        return -ENOMEM;
    }
    size_t n = strlen(tw->api_url);
    while (n > 0 && tw->api_url[n - 1] == '/')
        tw->api_url[--n] = '\0';
    const char *problem = NULL;
    if (!tw_numeric_id(tw->user_id))
        problem = "user_id must be the brand account's numeric id (not its screen name)";
    else if (tw->webhooks && !tw->consumer_secret)
        problem = "mode webhook or both needs consumer_secret";
    else if (tw->polling && !tw->bearer_token)
        problem = "mode poll or both needs bearer_token";
    else if (tw->poll_interval_ms < 1000)
        problem = "poll_interval must be at least 1s";
    else if (tw->poll_max_pages < 1)
        problem = "poll_max_pages must be at least 1";
    if (problem) {
        host->log(src, KANAL_LOG_ERR, "%s", problem);
        free(tw->api_url);
        free(tw);
        return KANAL_ECONFIG;
    }
    *state = tw;
    return 0;
}

static int tw_start(void *state)
{
    struct twitter *tw = state;
    if (tw->polling)
        return tw_poll_start(tw);
    return 0;
}

static int tw_stop(void *state)
{
    struct twitter *tw = state;
    tw->stopping = 1;
    tw_poll_stop(tw);
    return 0;
}

static void tw_destroy(void *state)
{
    struct twitter *tw = state;
    tw_poll_free(tw);
    free(tw->api_url);
    free(tw);
}

static const struct kanal_option tw_options[] = {
    {"user_id", KANAL_OPT_STRING, NULL, 1,
     "the brand account's numeric user id (records take its point of view)", NULL},
    {"mode", KANAL_OPT_ENUM, "webhook", 0,
     "webhook: Account Activity events; poll: mentions/search polling; both", "webhook|poll|both"},
    {"consumer_secret", KANAL_OPT_SECRET, NULL, 0,
     "the app's consumer secret: CRC answers and webhook signatures", NULL},
    {"bearer_token", KANAL_OPT_SECRET, NULL, 0, "app bearer token for polling", NULL},
    {"user_token", KANAL_OPT_SECRET, NULL, 0,
     "OAuth 2.0 user-context token of the brand account for posts, replies and DMs", NULL},
    {"poll_query", KANAL_OPT_STRING, NULL, 0,
     "recent-search query polled besides the mentions timeline, e.g. marka OR #marka", NULL},
    {"poll_interval", KANAL_OPT_DURATION, "60s", 0, "time between polls", NULL},
    {"poll_max_pages", KANAL_OPT_INT, "50", 0,
     "pages (of 100 tweets) read per timeline and poll at most", NULL},
    {"api_url", KANAL_OPT_URL, "https://api.x.com", 0, "X API base URL", NULL},
    {"timeout", KANAL_OPT_DURATION, "30s", 0, "time allowed for one X API request", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin tw_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "twitter",
    .version = "1.0.0",
    .description = "X (Twitter): Account Activity webhooks, mentions/search polling, posts and DMs",
    .options = tw_options,
    .init = tw_init,
    .start = tw_start,
    .stop = tw_stop,
    .destroy = tw_destroy,
    .http = tw_http,
    .send = tw_send,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &tw_plugin;
}
