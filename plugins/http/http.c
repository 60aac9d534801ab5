/* SPDX-License-Identifier: Apache-2.0 */
/* http: a sink that POSTs committed records to a CRM's URL.
 *
 *   [sink crm]
 *   plugin = http
 *   url    = https://crm.example.com/kanal
 *   secret = file:/etc/kanal/crm.secret
 *
 * Each delivery is one POST of {"records":[...]} (at most the section's
 * batch_max records, in seq order), signed like the webhook plugin signs:
 * X-Kanal-Signature: sha256=<hex HMAC-SHA256 of the body with secret>.  A
 * 2xx acknowledges the batch.  5xx, 408, 429 and network errors are retried
 * for ever, after Retry-After when the answer has one, else with kanald's
 * backoff (1s doubling to 60s).  Other answers (4xx: the CRM refuses the
 * batch) are retried with backoff up to max_attempts; after that the sink
 * is unhealthy, and it keeps trying every 5 minutes: records are never
 * skipped, so an operator fixes the CRM or the data, and delivery goes on
 * from the same record.
 *
 * One POST is in flight at a time, so the CRM sees batches in seq order;
 * batches the host hands over meanwhile wait in a queue the host bounds
 * (max_inflight).  Transfers run on the host's curl multi handle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <kanal/kit.h>
#include <kanal/plugin.h>

#define MAX_RESPONSE 2048
#define GIVEN_UP_RETRY_MS (5 * 60 * 1000)

struct batch {
    struct batch *next;
    char *body;
    size_t len;
    uint64_t last_seq;
};

struct sink {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *url, *secret;
    int64_t timeout_ms, max_attempts;
    struct batch *head, *tail; /* head is being sent when busy */
    int busy, stopped;
    int64_t attempts; /* failed attempts of the head batch (not retryable kinds) */
    CURL *easy;
    struct curl_slist *headers;
    char *resp;
    size_t resp_len;
};

static void batch_free_all(struct sink *s)
{
    while (s->head) {
        struct batch *b = s->head;
        s->head = b->next;
        free(b->body);
        free(b);
    }
    s->tail = NULL;
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
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

static void transfer_clear(struct sink *s)
{
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    free(s->resp);
    s->easy = NULL;
    s->headers = NULL;
    s->resp = NULL;
    s->resp_len = 0;
    s->busy = 0;
}

static void send_next(struct sink *s);

/* The host delivers again from its cursor after the wait: what is queued
 * here would be sent twice, so it goes. */
static void failed(struct sink *s, int64_t retry_after_ms, const char *reason)
{
    batch_free_all(s);
    s->host->sink_fail(s->src, retry_after_ms, reason);
}

static void on_done(void *arg, int result, void *easy)
{
    struct sink *s = arg;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    char reason[600];
    if (result == CURLE_OK && code >= 200 && code < 300) {
        struct batch *b = s->head;
        s->head = b->next;
        if (!s->head)
            s->tail = NULL;
        uint64_t seq = b->last_seq;
        free(b->body);
        free(b);
        transfer_clear(s);
        if (s->attempts >= s->max_attempts)
            s->host->set_health(s->src, 1, NULL);
        s->attempts = 0;
        s->host->sink_ack(s->src, seq);
        send_next(s);
        return;
    }
    if (result != CURLE_OK) {
        snprintf(reason, sizeof reason, "POST %s: %s", s->url,
                 curl_easy_strerror((CURLcode)result));
        transfer_clear(s);
        failed(s, -1, reason);
        return;
    }
    snprintf(reason, sizeof reason, "POST %s: HTTP %ld: %.400s", s->url, code,
             s->resp ? s->resp : "");
    if (code == 429 || code == 408 || code >= 500) {
        curl_off_t after = -1;
        int64_t wait = -1;
        if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after >= 0 &&
            (code == 429 || code == 503))
            wait = (int64_t)after * 1000;
        transfer_clear(s);
        failed(s, wait, reason);
        return;
    }
    transfer_clear(s);
    s->attempts++;
    if (s->attempts >= s->max_attempts) {
        char why[700];
        snprintf(why, sizeof why,
                 "%s (refused %lld times; retrying every 5 minutes, nothing is "
                 "skipped)",
                 reason, (long long)s->attempts);
        s->host->set_health(s->src, 0, why);
        failed(s, GIVEN_UP_RETRY_MS, why);
    } else {
        failed(s, -1, reason);
    }
}

static void send_next(struct sink *s)
{
    if (s->busy || !s->head || s->stopped)
        return;
    struct batch *b = s->head;
    unsigned char mac[32];
    char hex[65], sig[100];
    s->host->hmac_sha256(s->secret, strlen(s->secret), b->body, b->len, mac);
    s->host->hex_encode(mac, sizeof mac, hex);
    snprintf(sig, sizeof sig, "X-Kanal-Signature: sha256=%s", hex);
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    s->headers = curl_slist_append(s->headers, sig);
    s->easy = curl_easy_init();
    if (!s->easy || !s->headers) {
        transfer_clear(s);
        failed(s, -1, "out of memory");
        return;
    }
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, b->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    s->busy = 1;
    int r = s->host->transfer(s->src, s->easy, on_done, s);
    if (r < 0) {
        transfer_clear(s);
        failed(s, -1, s->host->strerror(r));
    }
}

static int http_deliver(void *state, const struct kanal_sink_batch *batch)
{
    struct sink *s = state;
    struct batch *b = calloc(1, sizeof *b);
    size_t cap = batch->len + 16;
    if (!b || !(b->body = malloc(cap))) {
        free(b);
        return -ENOMEM;
    }
    /* batch->json is already the array: wrap it, no parsing. */
    b->len = (size_t)snprintf(b->body, cap, "{\"records\":%.*s}", (int)batch->len, batch->json);
    b->last_seq = batch->last_seq;
    if (s->tail)
        s->tail->next = b;
    else
        s->head = b;
    s->tail = b;
    send_next(s);
    return 0;
}

static const struct kanal_kit_bind http_binds[] = {
    {"url", KANAL_KIT_STR, offsetof(struct sink, url)},
    {"secret", KANAL_KIT_STR, offsetof(struct sink, secret)},
    {"timeout", KANAL_KIT_INT64, offsetof(struct sink, timeout_ms)},
    {"max_attempts", KANAL_KIT_INT64, offsetof(struct sink, max_attempts)},
    {NULL, 0, 0},
};

static int http_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    if (host->abi_minor < 1 || !host->sink_ack)
        return KANAL_EABI;
    struct sink *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    s->src = src;
    int r = kanal_kit_bind_options(host, src, http_binds, s);
    if (r < 0) {
        free(s);
        return r;
    }
    if (s->max_attempts < 1)
        s->max_attempts = 1;
    *state = s;
    return 0;
}

static int http_start(void *state)
{
    (void)state;
    return 0;
}

static int http_stop(void *state)
{
    struct sink *s = state;
    s->stopped = 1; /* a POST in flight ends; nothing new starts */
    return 0;
}

static void http_destroy(void *state)
{
    struct sink *s = state;
    batch_free_all(s);
    transfer_clear(s);
    free(s);
}

static const struct kanal_option http_options[] = {
    {"url", KANAL_OPT_URL, NULL, 1, "where batches of records are POSTed", NULL},
    {"secret", KANAL_OPT_SECRET, NULL, 1,
     "HMAC-SHA256 key: X-Kanal-Signature: sha256=<hex> of the body", NULL},
    {"max_attempts", KANAL_OPT_INT, "10", 0,
     "tries of a batch the CRM refuses (4xx) before the sink is unhealthy and slows down", NULL},
    {"timeout", KANAL_OPT_DURATION, "30s", 0, "time allowed for one POST", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin http_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "http",
    .version = "1.0.0",
    .description = "sink: POSTs committed records to a URL, signed, in seq order",
    .options = http_options,
    .init = http_init,
    .start = http_start,
    .stop = http_stop,
    .destroy = http_destroy,
    .deliver = http_deliver,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &http_plugin;
}
