/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound SMS/MMS through Twilio's Messages API:
 *
 *   POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json
 *   Basic AccountSid:AuthToken; form To, From | MessagingServiceSid, Body,
 *   MediaUrl..., StatusCallback = public_url
 *
 *   201/200 with a sid            -> sent; the sid is the record's external id
 *   429 or error 20429, 5xx,
 *   network error, timeout        -> retry (Retry-After when Twilio gives one)
 *   21610 (recipient opted out)
 *   and every other 4xx           -> failed with Twilio's code and message
 *
 * A template ({"media_url": "https://..." or [...]}) adds MMS media. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "sms.h"

#define MAX_RESPONSE 65536

struct sending {
    struct sms *s;
    const struct kanal_send_request *msg;
    CURL *easy;
    char *url;
    char *body;
    char *resp;
    size_t resp_len;
    char to[64];   /* E.164 */
    json_t *media; /* the media URLs sent, or NULL */
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct sending *x = arg;
    size_t len = size * n;
    if (x->resp_len + len > MAX_RESPONSE)
        len = MAX_RESPONSE - x->resp_len;
    char *p = realloc(x->resp, x->resp_len + len + 1);
    if (!p)
        return 0;
    memcpy(p + x->resp_len, data, len);
    x->resp = p;
    x->resp_len += len;
    p[x->resp_len] = '\0';
    return size * n;
}

static void sending_free(struct sending *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    free(x->url);
    free(x->body);
    free(x->resp);
    json_decref(x->media);
    free(x);
}

/* Append "&name=value" (form-encoded) to *body. */
static int form_add(CURL *easy, char **body, const char *name, const char *value)
{
    char *v = curl_easy_escape(easy, value, 0);
    if (!v)
        return -ENOMEM;
    char *next;
    int r = asprintf(&next, "%s%s%s=%s", *body ? *body : "", *body ? "&" : "", name, v);
    curl_free(v);
    if (r < 0)
        return -ENOMEM;
    free(*body);
    *body = next;
    return 0;
}

static int finish(struct sms *s, const struct kanal_send_request *msg,
                  enum kanal_send_outcome outcome, const char *reason)
{
    struct kanal_send_result res = {.outcome = outcome, .retry_after_ms = -1, .reason = reason};
    return s->host->send_done(s->src, msg, &res);
}

/* The outbound record of an accepted message. */
static char *outbound_record(struct sending *x, json_t *answer, const char *sid)
{
    struct sms *s = x->s;
    const char *from = json_string_value(json_object_get(answer, "from"));
    json_t *brand = NULL;
    char h[320];
    if (from && sms_handle(s, from, h, sizeof h) == 0)
        brand = json_pack("{s:s,s:s}", "handle", h, "role", "brand");
    else if (s->from && sms_handle(s, s->from, h, sizeof h) == 0)
        brand = json_pack("{s:s,s:s}", "handle", h, "role", "brand");
    else {
        snprintf(h, sizeof h, "twilio:%s",
                 s->messaging_service_sid ? s->messaging_service_sid : s->account_sid);
        brand = json_pack("{s:s,s:s}", "handle", h, "role", "brand");
    }
    char to[80];
    snprintf(to, sizeof to, "phone:%s", x->to);
    json_t *meta = json_object();
    const char *status = json_string_value(json_object_get(answer, "status"));
    if (status)
        json_object_set_new(meta, "provider_status", json_string(status));
    const char *mss = json_string_value(json_object_get(answer, "messaging_service_sid"));
    if (mss)
        json_object_set_new(meta, "messaging_service_sid", json_string(mss));
    json_t *segs = json_object_get(answer, "num_segments");
    if (json_is_string(segs) && atoi(json_string_value(segs)) > 0)
        json_object_set_new(meta, "num_segments", json_integer(atoi(json_string_value(segs))));
    json_t *atts = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(x->media, i, m)
    {
        json_array_append_new(atts,
                              json_pack("{s:s,s:s}", "type", "file", "url", json_string_value(m)));
    }
    json_t *rec = json_pack("{s:s,s:s,s:s,s:o,s:[{s:s,s:s}],s:o,s:o}", "kind", "message",
                            "direction", "outbound", "external_id", sid, "from", brand, "to",
                            "handle", to, "role", "customer", "attachments", atts, "meta", meta);
    if (!rec)
        return NULL;
    if (x->msg->text)
        json_object_set_new(rec, "text", json_string(x->msg->text));
    if (x->msg->reply_to)
        json_object_set_new(rec, "reply_to", json_string(x->msg->reply_to));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static void on_sent(void *arg, int result, void *easy)
{
    struct sending *x = arg;
    struct sms *s = x->s;
    struct kanal_send_result res = {.retry_after_ms = -1};
    char reason[600];
    char *record = NULL;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    json_t *answer = x->resp ? json_loads(x->resp, 0, NULL) : NULL;
    json_int_t twilio_code = json_integer_value(json_object_get(answer, "code"));
    const char *twilio_msg = json_string_value(json_object_get(answer, "message"));
    if (result != CURLE_OK) {
        res.outcome = KANAL_SEND_RETRY;
        snprintf(reason, sizeof reason, "Twilio: %s", curl_easy_strerror((CURLcode)result));
        res.reason = reason;
    } else if (code >= 200 && code < 300) {
        const char *sid = json_string_value(json_object_get(answer, "sid"));
        if (!sid) {
            s->host->log(s->src, KANAL_LOG_WARNING,
                         "message %s: Twilio answered HTTP %ld without a sid", x->msg->id, code);
            sid = x->msg->id;
        }
        res.outcome = KANAL_SEND_SENT;
        res.provider_id = sid;
        record = outbound_record(x, answer, sid);
        res.record_json = record;
        s->host->set_health(s->src, 1, NULL);
    } else {
        if (twilio_code)
            snprintf(reason, sizeof reason, "Twilio error %lld: %.400s (HTTP %ld)",
                     (long long)twilio_code, twilio_msg ? twilio_msg : "", code);
        else
            snprintf(reason, sizeof reason, "Twilio: HTTP %ld: %.400s", code,
                     x->resp ? x->resp : "");
        res.reason = reason;
        if (code == 429 || twilio_code == 20429 || code >= 500 || code == 408) {
            res.outcome = KANAL_SEND_RETRY;
            curl_off_t after = -1;
            if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after >= 0)
                res.retry_after_ms = (int64_t)after * 1000;
        } else {
            res.outcome = KANAL_SEND_FAILED;
            if (code == 401 || code == 403)
                s->host->set_health(s->src, 0, "twilio: the API refused account_sid/auth_token");
        }
    }
    s->host->send_done(s->src, x->msg, &res);
    free(record);
    json_decref(answer);
    sending_free(x);
}

/* Media URLs from the template: {"media_url": "https://..."} or [...]. */
static json_t *template_media(const char *template_json)
{
    json_t *t = template_json ? json_loads(template_json, 0, NULL) : NULL;
    json_t *m = json_object_get(t, "media_url");
    json_t *out = json_array();
    if (json_is_string(m))
        json_array_append(out, m);
    size_t i;
    json_t *v;
    json_array_foreach(m, i, v)
    {
        if (json_is_string(v))
            json_array_append(out, v);
    }
    json_decref(t);
    return out;
}

int sms_send(void *state, const struct kanal_send_request *msg)
{
    struct sms *s = state;
    if (!s->from && !s->messaging_service_sid)
        return finish(s, msg, KANAL_SEND_FAILED,
                      "this source has neither from nor messaging_service_sid");
    const char *to = msg->to;
    if (strncmp(to, "phone:", 6) == 0)
        to += 6;
    char in[300], handle[320];
    snprintf(in, sizeof in, "phone:%s", to);
    size_t tl = 0;
    if (s->host->normalize_handle(s->src, in, handle, sizeof handle) < 0 ||
        (tl = strlen(handle + 6)) >= sizeof((struct sending *)0)->to) {
        char why[400];
        snprintf(why, sizeof why, "cannot send an SMS to '%.300s': not a phone number", msg->to);
        return finish(s, msg, KANAL_SEND_FAILED, why);
    }
    struct sending *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    x->s = s;
    x->msg = msg;
    memcpy(x->to, handle + 6, tl + 1);
    x->media = template_media(msg->template_json);
    x->easy = curl_easy_init();
    if (!x->easy || asprintf(&x->url, "%s/2010-04-01/Accounts/%s/Messages.json", s->api_url,
                             s->account_sid) < 0) {
        x->url = NULL;
        sending_free(x);
        return -ENOMEM;
    }
    int r = form_add(x->easy, &x->body, "To", x->to);
    if (!r)
        r = s->from ? form_add(x->easy, &x->body, "From", s->from)
                    : form_add(x->easy, &x->body, "MessagingServiceSid", s->messaging_service_sid);
    if (!r && msg->text)
        r = form_add(x->easy, &x->body, "Body", msg->text);
    size_t i;
    json_t *m;
    json_array_foreach(x->media, i, m)
    {
        if (!r)
            r = form_add(x->easy, &x->body, "MediaUrl", json_string_value(m));
    }
    if (!r)
        r = form_add(x->easy, &x->body, "StatusCallback", s->public_url);
    if (r < 0) {
        sending_free(x);
        return r;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(x->easy, CURLOPT_USERNAME, s->account_sid);
    curl_easy_setopt(x->easy, CURLOPT_PASSWORD, s->auth_token);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)s->send_timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    r = s->host->transfer(s->src, x->easy, on_sent, x);
    if (r < 0)
        sending_free(x);
    return r;
}
