/* SPDX-License-Identifier: Apache-2.0 */
/* Graph API calls for the Meta plugins' sends, and what their errors mean.
 *
 * Graph answers errors as {"error":{"message","type","code","error_subcode",
 * "is_transient","error_data","fbtrace_id"}}.  The code says what to do:
 *
 *   4, 17, 32, 613, 80007, 130429, 131056   rate limits: retry, after the
 *                                           usage headers' estimate if any
 *   1, 2, 131000, 131016, 133004            temporary: retry with backoff
 *   190, 10, 200-299                        bad token or missing permission:
 *                                           fail, source reported unhealthy
 *   131047                                  re-engagement (24-hour window)
 *   131026, 551, anything else              permanent: fail
 *
 * A transport error, HTTP 429 or a 5xx without a known code is retried;
 * is_transient: true is retried too. */
#include "meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define MAX_RESPONSE (256 * 1024)

struct meta_call {
    struct meta *m;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    char *resp;
    size_t resp_len;
    char *buc_usage, *app_usage;
    meta_reply_cb cb;
    void *arg;
};

static void call_free(struct meta_call *c)
{
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->body);
    free(c->resp);
    free(c->buc_usage);
    free(c->app_usage);
    free(c);
}

static size_t collect_body(char *data, size_t size, size_t n, void *arg)
{
    struct meta_call *c = arg;
    size_t len = size * n;
    if (c->resp_len + len > MAX_RESPONSE)
        len = MAX_RESPONSE - c->resp_len; /* keep the start: the error object comes first */
    char *p = realloc(c->resp, c->resp_len + len + 1);
    if (!p)
        return 0;
    memcpy(p + c->resp_len, data, len);
    c->resp = p;
    c->resp_len += len;
    p[c->resp_len] = '\0';
    return size * n;
}

/* The value of header line data (len bytes) if it is header name, else NULL. */
static char *header_value(const char *data, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(data, name, nl) != 0 || data[nl] != ':')
        return NULL;
    const char *v = data + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    return strndup(v, vl);
}

/* Keep the two usage headers; a later response's replace an earlier one's. */
static size_t collect_header(char *data, size_t size, size_t n, void *arg)
{
    struct meta_call *c = arg;
    size_t len = size * n;
    char *v;
    if ((v = header_value(data, len, "X-Business-Use-Case-Usage"))) {
        free(c->buc_usage);
        c->buc_usage = v;
    } else if ((v = header_value(data, len, "X-App-Usage"))) {
        free(c->app_usage);
        c->app_usage = v;
    }
    return len;
}

static void on_done(void *arg, int result, void *easy)
{
    struct meta_call *c = arg;
    struct meta_reply reply = {.curl_result = result,
                               .body = c->resp ? c->resp : "",
                               .buc_usage = c->buc_usage,
                               .app_usage = c->app_usage};
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
    c->cb(c->arg, &reply);
    call_free(c);
}

int meta_graph_post(struct meta *m, const char *node, const char *edge, const char *token,
                    enum meta_token_place place, const char *body_json, meta_reply_cb cb, void *arg)
{
    struct meta_call *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->m = m;
    c->cb = cb;
    c->arg = arg;
    c->easy = curl_easy_init();
    c->body = strdup(body_json);
    if (!c->easy || !c->body) {
        call_free(c);
        return -ENOMEM;
    }
    /* appsecret_proof proves the call comes from the app's own server;
     * required when the app sets "Require App Secret", harmless otherwise. */
    unsigned char mac[32];
    char proof[65];
    m->host->hmac_sha256(m->app_secret, strlen(m->app_secret), token, strlen(token), mac);
    m->host->hex_encode(mac, sizeof mac, proof);
    char *enode = curl_easy_escape(c->easy, node, 0);
    char *etoken = curl_easy_escape(c->easy, token, 0);
    int n = -1;
    if (enode && etoken) {
        if (place == META_TOKEN_QUERY)
            n = asprintf(&c->url, "%s/%s/%s/%s?access_token=%s&appsecret_proof=%s", m->api_url,
                         m->api_version, enode, edge, etoken, proof);
        else
            n = asprintf(&c->url, "%s/%s/%s/%s?appsecret_proof=%s", m->api_url, m->api_version,
                         enode, edge, proof);
    }
    curl_free(enode);
    curl_free(etoken);
    if (n < 0) {
        c->url = NULL;
        call_free(c);
        return -ENOMEM;
    }
    c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    if (place == META_TOKEN_BEARER) {
        char *auth;
        if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
            call_free(c);
            return -ENOMEM;
        }
        c->headers = curl_slist_append(c->headers, auth);
        free(auth);
    }
    if (!c->headers) {
        call_free(c);
        return -ENOMEM;
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)m->send_timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    int r = m->host->transfer(m->src, c->easy, on_done, c);
    if (r < 0)
        call_free(c);
    return r;
}

/* ---- usage headers ---- */

/* The largest number member named key anywhere under v. */
static double max_member(json_t *v, const char *key)
{
    double best = -1;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            double d = -1;
            if (strcmp(k, key) == 0 && json_is_number(x))
                d = json_number_value(x);
            else if (json_is_object(x) || json_is_array(x))
                d = max_member(x, key);
            if (d > best)
                best = d;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            double d = max_member(x, key);
            if (d > best)
                best = d;
        }
    }
    return best;
}

int64_t meta_usage_delay_ms(const char *buc_usage, const char *app_usage)
{
    /* {"<business id>":[{"type":"messenger","call_count":100,...,
     *   "estimated_time_to_regain_access":5}]}: minutes until calls pass again. */
    if (buc_usage) {
        json_t *v = json_loads(buc_usage, 0, NULL);
        double eta = max_member(v, "estimated_time_to_regain_access");
        double used = -1;
        static const char *const pcts[] = {"call_count", "total_cputime", "total_time"};
        for (size_t i = 0; i < 3; i++) {
            double p = max_member(v, pcts[i]);
            if (p > used)
                used = p;
        }
        json_decref(v);
        if (eta > 0)
            return (int64_t)(eta * 60000);
        if (used >= 100)
            return 60000;
    }
    /* {"call_count":28,"total_time":25,"total_cputime":25}: percentages of
     * the app's one-hour allowance; the window slides, so near the top a
     * few minutes free enough room. */
    if (app_usage) {
        json_t *v = json_loads(app_usage, 0, NULL);
        double used = -1;
        static const char *const pcts[] = {"call_count", "total_time", "total_cputime"};
        for (size_t i = 0; i < 3; i++) {
            double p = max_member(v, pcts[i]);
            if (p > used)
                used = p;
        }
        json_decref(v);
        if (used >= 100)
            return 5 * 60000;
        if (used >= 90)
            return 60000;
    }
    return -1;
}

/* ---- classification ---- */

enum graph_class { GRAPH_RATE, GRAPH_TEMPORARY, GRAPH_AUTH, GRAPH_PERMANENT };

static enum graph_class classify_code(long code, const char **what)
{
    switch (code) {
    case 4:
        *what = "application rate limit";
        return GRAPH_RATE;
    case 17:
        *what = "user rate limit";
        return GRAPH_RATE;
    case 32:
        *what = "page rate limit";
        return GRAPH_RATE;
    case 613:
        *what = "rate limit";
        return GRAPH_RATE;
    case 80007:
        *what = "account rate limit";
        return GRAPH_RATE;
    case 130429:
        *what = "throughput limit";
        return GRAPH_RATE;
    case 131056:
        *what = "too many messages to this recipient";
        return GRAPH_RATE;
    case 1:
    case 2:
    case 131000:
    case 131016:
    case 133004:
        *what = "temporary error";
        return GRAPH_TEMPORARY;
    case 190:
        *what = "the access token is invalid or expired";
        return GRAPH_AUTH;
    case 131047:
        *what = "re-engagement: more than 24 hours since the customer last wrote";
        return GRAPH_PERMANENT;
    case 131026:
        *what = "message undeliverable";
        return GRAPH_PERMANENT;
    case 551:
        *what = "this person is not available";
        return GRAPH_PERMANENT;
    default:
        if (code == 10 || (code >= 200 && code <= 299)) {
            *what = "missing permission";
            return GRAPH_AUTH;
        }
        *what = NULL;
        return GRAPH_PERMANENT;
    }
}

void meta_classify(struct meta *m, const struct meta_reply *reply, struct kanal_send_result *res,
                   char *reason, size_t reason_len)
{
    res->retry_after_ms = -1;
    res->reason = reason;
    if (reply->curl_result != CURLE_OK) {
        res->outcome = KANAL_SEND_RETRY;
        snprintf(reason, reason_len, "%s", curl_easy_strerror((CURLcode)reply->curl_result));
        return;
    }
    json_t *o = json_loads(reply->body, 0, NULL);
    json_t *err = json_object_get(o, "error");
    if (!json_is_object(err)) {
        /* No Graph error object: a proxy's page, or an empty answer. */
        int again = reply->status == 429 || reply->status >= 500 || reply->status == 408;
        res->outcome = again ? KANAL_SEND_RETRY : KANAL_SEND_FAILED;
        snprintf(reason, reason_len, "HTTP %ld: %.300s", reply->status,
                 *reply->body ? reply->body : "(no body)");
        if (again)
            res->retry_after_ms = meta_usage_delay_ms(reply->buc_usage, reply->app_usage);
        json_decref(o);
        return;
    }
    long code = (long)json_integer_value(json_object_get(err, "code"));
    long sub = (long)json_integer_value(json_object_get(err, "error_subcode"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *details =
        json_string_value(json_object_get(json_object_get(err, "error_data"), "details"));
    const char *trace = json_string_value(json_object_get(err, "fbtrace_id"));
    const char *what = NULL;
    enum graph_class cls = classify_code(code, &what);
    if (cls == GRAPH_PERMANENT && !what &&
        (json_is_true(json_object_get(err, "is_transient")) || reply->status >= 500)) {
        cls = GRAPH_TEMPORARY;
        what = "temporary error";
    }
    char subtext[32] = "";
    if (sub)
        snprintf(subtext, sizeof subtext, "/%ld", sub);
    snprintf(reason, reason_len, "Graph error %ld%s%s%s%s: %.200s%s%.200s%s%s", code, subtext,
             what ? " (" : "", what ? what : "", what ? ")" : "", msg ? msg : "no message",
             details ? ": " : "", details ? details : "", trace ? "; fbtrace_id " : "",
             trace ? trace : "");
    switch (cls) {
    case GRAPH_RATE:
        res->outcome = KANAL_SEND_RETRY;
        res->retry_after_ms = meta_usage_delay_ms(reply->buc_usage, reply->app_usage);
        break;
    case GRAPH_TEMPORARY:
        res->outcome = KANAL_SEND_RETRY;
        break;
    case GRAPH_AUTH:
        res->outcome = KANAL_SEND_FAILED;
        m->token_bad = 1;
        m->host->set_health(m->src, 0, reason);
        break;
    case GRAPH_PERMANENT:
    default:
        res->outcome = KANAL_SEND_FAILED;
        break;
    }
    json_decref(o);
}

void meta_graph_ok(struct meta *m)
{
    if (m->token_bad) {
        m->token_bad = 0;
        m->host->set_health(m->src, 1, NULL);
    }
}

json_t *meta_send_reply(struct meta *m, const struct meta_reply *reply,
                        struct kanal_send_result *res, char *reason, size_t reason_len)
{
    json_t *o = NULL;
    int ok = reply->curl_result == 0 && reply->status >= 200 && reply->status < 300;
    if (ok) {
        o = json_loads(reply->body, 0, NULL);
        ok = !json_is_object(json_object_get(o, "error"));
    }
    if (!ok) {
        json_decref(o);
        meta_classify(m, reply, res, reason, reason_len);
        return NULL;
    }
    meta_graph_ok(m);
    res->outcome = KANAL_SEND_SENT;
    return o;
}
