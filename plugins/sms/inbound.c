/* SPDX-License-Identifier: Apache-2.0 */
/* Twilio webhooks: inbound messages and status callbacks.
 *
 *   signature missing or wrong          -> 401, nothing stored
 *   message (SMS or MMS)                -> `message` record (+ `optout`/`optin`)
 *   status callback                     -> `delivery` record for the message sent
 *   queued/accepted/sending/scheduled   -> acknowledged, nothing stored
 *   anything else authentic             -> `unknown` record with the parameters
 *   committed                           -> 200 empty TwiML; store failing -> 503
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <kanal/kit.h>

#include "sms.h"

#define MAX_PARAMS 1000
#define MAX_MEDIA 100

static const char twiml_empty[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

struct form {
    struct twilio_param *p;
    size_t n, cap;
};

static int collect_param(void *arg, const char *name, const char *value)
{
    struct form *f = arg;
    if (f->n == MAX_PARAMS)
        return -E2BIG;
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 32;
        struct twilio_param *p = realloc(f->p, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        f->p = p;
        f->cap = cap;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    f->p[f->n++] = (struct twilio_param){.name = n, .value = v};
    return 0;
}

static void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free((char *)f->p[i].name);
        free((char *)f->p[i].value);
    }
    free(f->p);
}

/* The first value of a parameter, or NULL. */
static const char *param(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->p[i].name, name) == 0)
            return f->p[i].value;
    return NULL;
}

/* A parameter that must not be empty, or NULL. */
static const char *param_set(const struct form *f, const char *name)
{
    const char *v = param(f, name);
    return v && *v ? v : NULL;
}

/* ---- answers ---- */

static void respond_twiml(struct sms *s, struct kanal_http_request *req)
{
    s->host->http_respond(req, 200, "text/xml", twiml_empty, sizeof twiml_empty - 1);
}

/* ---- records ---- */

static json_t *party(struct sms *s, const char *addr, const char *role)
{
    char h[320];
    if (sms_handle(s, addr, h, sizeof h) < 0)
        return NULL;
    /* Twilio signed the request: its From and To are the numbers the
     * carrier routed, verified evidence of the customer's number. */
    if (strcmp(role, "customer") == 0)
        return json_pack("{s:s,s:s,s:s}", "handle", h, "role", role, "trust", "verified");
    return json_pack("{s:s,s:s}", "handle", h, "role", role);
}

/* The brand's side when Twilio names no number: the configured sender, the
 * messaging service, or the account. */
static json_t *brand_party(struct sms *s, const char *addr)
{
    json_t *p = addr ? party(s, addr, "brand") : NULL;
    if (!p && s->from)
        p = party(s, s->from, "brand");
    if (!p) {
        char h[160];
        snprintf(h, sizeof h, "twilio:%s",
                 s->messaging_service_sid ? s->messaging_service_sid : s->account_sid);
        p = json_pack("{s:s,s:s}", "handle", h, "role", "brand");
    }
    return p;
}

static json_t *params_object(const struct form *f)
{
    json_t *o = json_object();
    for (size_t i = 0; i < f->n; i++)
        json_object_set_new(o, f->p[i].name, json_string(f->p[i].value));
    return o;
}

static void meta_copy(json_t *meta, const struct form *f, const char *param_name, const char *key)
{
    const char *v = param_set(f, param_name);
    if (v)
        json_object_set_new(meta, key, json_string(v));
}

static void meta_int(json_t *meta, const struct form *f, const char *param_name, const char *key)
{
    const char *v = param_set(f, param_name);
    char *end;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (v && *end == '\0')
        json_object_set_new(meta, key, json_integer(n));
}

/* Opt-out keywords: the whole body, trimmed, case-insensitive.  Returns
 * "optout", "optin", "help" or NULL, and the keyword in upper case. */
static const char *keyword_of(const char *body, char *kw, size_t kw_len)
{
    static const struct {
        const char *word, *what;
    } words[] = {
        {"STOP", "optout"},  {"STOPALL", "optout"}, {"UNSUBSCRIBE", "optout"}, {"CANCEL", "optout"},
        {"END", "optout"},   {"QUIT", "optout"},    {"START", "optin"},        {"YES", "optin"},
        {"UNSTOP", "optin"}, {"HELP", "help"},      {"INFO", "help"},
    };
    if (!body)
        return NULL;
    while (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')
        body++;
    size_t n = strlen(body);
    while (n > 0 && (body[n - 1] == ' ' || body[n - 1] == '\t' || body[n - 1] == '\r' ||
                     body[n - 1] == '\n'))
        n--;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == n && strncasecmp(body, words[i].word, n) == 0) {
            snprintf(kw, kw_len, "%s", words[i].word);
            return words[i].what;
        }
    return NULL;
}

/* Twilio's Advanced Opt-Out names the outcome itself, also for custom
 * keywords; it wins over kanal's own matching. */
static const char *opt_out_type(const struct form *f)
{
    const char *t = param_set(f, "OptOutType");
    if (!t)
        return NULL;
    if (strcasecmp(t, "STOP") == 0)
        return "optout";
    if (strcasecmp(t, "START") == 0)
        return "optin";
    if (strcasecmp(t, "HELP") == 0)
        return "help";
    return NULL;
}

static json_t *media_attachments(const struct form *f)
{
    json_t *list = json_array();
    const char *nm = param_set(f, "NumMedia");
    long count = nm ? strtol(nm, NULL, 10) : 0;
    if (count < 0 || count > MAX_MEDIA)
        count = MAX_MEDIA;
    for (long i = 0; i < count; i++) {
        char uk[32], tk[40];
        snprintf(uk, sizeof uk, "MediaUrl%ld", i);
        snprintf(tk, sizeof tk, "MediaContentType%ld", i);
        const char *url = param_set(f, uk), *mime = param_set(f, tk);
        if (!url)
            continue;
        const char *type = "file";
        if (mime && strncmp(mime, "image/", 6) == 0)
            type = "image";
        else if (mime && strncmp(mime, "video/", 6) == 0)
            type = "video";
        else if (mime && strncmp(mime, "audio/", 6) == 0)
            type = "audio";
        json_t *a = json_pack("{s:s,s:s}", "type", type, "url", url);
        if (mime)
            json_object_set_new(a, "mime", json_string(mime));
        json_array_append_new(list, a);
    }
    return list;
}

/* An inbound SMS or MMS: its message record, and an optout/optin record when
 * the body is one of the keywords.  NULL when From is not usable. */
static json_t *message_records(struct sms *s, const struct form *f, const char *sid)
{
    json_t *from = party(s, param_set(f, "From"), "customer");
    if (!from)
        return NULL;
    json_t *to = json_array();
    json_t *brand = param_set(f, "To") ? party(s, param(f, "To"), "brand") : NULL;
    if (brand)
        json_array_append_new(to, brand);
    const char *body = param(f, "Body");
    json_t *meta = json_object();
    static const char *const geo[][2] = {{"FromCity", "from_city"}, {"FromState", "from_state"},
                                         {"FromZip", "from_zip"},   {"FromCountry", "from_country"},
                                         {"ToCity", "to_city"},     {"ToState", "to_state"},
                                         {"ToZip", "to_zip"},       {"ToCountry", "to_country"}};
    for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++)
        meta_copy(meta, f, geo[i][0], geo[i][1]);
    meta_copy(meta, f, "AccountSid", "account_sid");
    meta_copy(meta, f, "MessagingServiceSid", "messaging_service_sid");
    meta_copy(meta, f, "OptOutType", "opt_out_type");
    meta_int(meta, f, "NumSegments", "num_segments");
    meta_int(meta, f, "NumMedia", "num_media");

    char kw[16] = "";
    const char *what = keyword_of(body, kw, sizeof kw);
    const char *advanced = opt_out_type(f);
    if (advanced)
        what = advanced;
    if (what) {
        json_object_set_new(meta, "keyword", json_string(*kw ? kw : param(f, "OptOutType")));
        if (strcmp(what, "help") == 0)
            json_object_set_new(meta, "help", json_true());
    }
    json_t *msg = json_pack("{s:s,s:s,s:s,s:O,s:O,s:o,s:o,s:o}", "kind", "message", "direction",
                            "inbound", "external_id", sid, "from", from, "to", to, "attachments",
                            media_attachments(f), "meta", meta, "raw", params_object(f));
    if (!msg) { /* not UTF-8 */
        json_decref(from);
        json_decref(to);
        return NULL;
    }
    if (body && *body)
        json_object_set_new(msg, "text", json_string(body));
    json_t *records = json_array();
    json_array_append_new(records, msg);
    if (what && strcmp(what, "help") != 0) {
        /* Its own record (distinct kind, so its own idempotency key): the
         * CRM's consent bookkeeping reads these without parsing texts. */
        json_t *opt = json_pack("{s:s,s:s,s:s,s:O,s:O,s:{s:s}}", "kind", what, "direction",
                                "inbound", "external_id", sid, "from", from, "to", to, "meta",
                                "keyword", json_string_value(json_object_get(meta, "keyword")));
        if (body && *body)
            json_object_set_new(opt, "text", json_string(body));
        json_array_append_new(records, opt);
    }
    json_decref(from);
    json_decref(to);
    return records;
}

/* A status callback for a message kanal sent.  NULL with *ignore set for the
 * statuses on the way (queued, accepted, sending, scheduled). */
static json_t *status_record(struct sms *s, const struct form *f, const char *sid,
                             const char *status, int *ignore)
{
    static const struct {
        const char *twilio, *status;
    } map[] = {
        {"sent", "sent"},
        {"delivered", "delivered"},
        {"read", "read"},
        {"failed", "failed"},
        {"undelivered", "failed"},
        {"canceled", "failed"},
        {"partially_delivered", "delivered"},
    };
    const char *mapped = NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(status, map[i].twilio) == 0)
            mapped = map[i].status;
    if (!mapped) {
        *ignore = 1;
        return NULL;
    }
    char ext[256];
    snprintf(ext, sizeof ext, "%s/%s", sid, status);
    json_t *to = json_array();
    json_t *customer = param_set(f, "To") ? party(s, param(f, "To"), "customer") : NULL;
    if (customer)
        json_array_append_new(to, customer);
    json_t *meta = json_pack("{s:s,s:s}", "provider_status", status, "message_sid", sid);
    meta_copy(meta, f, "ErrorCode", "error_code");
    meta_copy(meta, f, "ErrorMessage", "error_message");
    meta_copy(meta, f, "AccountSid", "account_sid");
    meta_copy(meta, f, "MessagingServiceSid", "messaging_service_sid");
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "kind", "delivery", "direction",
                     "outbound", "external_id", ext, "reply_to", sid, "status", mapped, "from",
                     brand_party(s, param_set(f, "From")), "to", to, "meta", meta, "raw",
                     params_object(f));
}

/* Authentic but not understood: keep it, keyed by the body's digest. */
static json_t *unknown_record(struct sms *s, const struct kanal_http_request *req,
                              const struct form *f, const char *why)
{
    unsigned char digest[32];
    char hex[65], ext[80];
    s->host->hmac_sha256("kanal-unknown", 13, req->body, req->body_len, digest);
    s->host->hex_encode(digest, sizeof digest, hex);
    snprintf(ext, sizeof ext, "body-%s", hex);
    json_t *raw = params_object(f);
    if (json_object_size(raw) != f->n) { /* repeated names or bytes that are not UTF-8 */
        json_decref(raw);
        /* A NUL byte would become \u0000, which kanald refuses: base64 then. */
        raw = memchr(req->body, '\0', req->body_len) ? NULL
                                                     : json_stringn(req->body, req->body_len);
    }
    if (!raw) {
        char *b64 = malloc(4 * ((req->body_len + 2) / 3) + 1);
        if (!b64)
            return NULL;
        s->host->base64_encode(req->body, req->body_len, b64);
        raw = json_pack("{s:s}", "base64", b64);
        free(b64);
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:{s:s}}", "kind", "unknown", "direction", "inbound",
                     "external_id", ext, "raw", raw, "meta", "reason", why);
}

/* Emit records and answer empty TwiML after the commit (503 + Retry-After
 * when the store cannot commit); when kanald refuses them, the parameters
 * are kept as unknown instead (fallback; NULL when records are that already). */
static void emit_records(struct sms *s, struct kanal_http_request *req, json_t *records,
                         json_t *fallback)
{
    char *text = records ? json_dumps(records, JSON_COMPACT) : NULL;
    char *unknown = fallback ? json_dumps(fallback, JSON_COMPACT) : NULL;
    json_decref(records);
    json_decref(fallback);
    const struct kanal_kit_answer answer = {
        .content_type = "text/xml", .body = twiml_empty, .unknown_json = unknown};
    if (!text || (fallback && !unknown))
        kanal_kit_respond_error(s->host, req, 500, "internal", "out of memory");
    else
        kanal_kit_emit_answer(s->host, s->src, req, text, strlen(text), NULL, 0, &answer);
    free(text);
    free(unknown);
}

int sms_http(void *state, struct kanal_http_request *req)
{
    struct sms *s = state;
    if (strcmp(req->method, "POST") != 0) {
        s->host->http_add_header(req, "Allow", "POST");
        kanal_kit_respond_error(s->host, req, 405, "method_not_allowed",
                                "Twilio webhooks are POSTed");
        return 0;
    }
    struct form f = {0};
    int r = s->host->form_decode(req->body, req->body_len, collect_param, &f);
    if (r < 0) {
        form_free(&f);
        kanal_kit_respond_error(s->host, req, r == -E2BIG ? 413 : 400, "bad_request",
                                "cannot read the form-encoded body");
        return 0;
    }
    char *url = twilio_request_url(s->public_url, req->query);
    const char *sig = s->host->http_header(req, "X-Twilio-Signature");
    int ok = url && twilio_signature_ok(&s->crypto, s->auth_token, url, f.p, f.n, sig);
    free(url);
    if (!ok) {
        s->host->log(s->src, KANAL_LOG_WARNING, "refused a request from %s: %s X-Twilio-Signature",
                     req->remote_addr, sig ? "wrong" : "missing");
        kanal_kit_respond_error(s->host, req, 401, "bad_signature",
                                "missing or wrong X-Twilio-Signature");
        form_free(&f);
        return 0;
    }

    const char *sid = param_set(&f, "MessageSid");
    if (!sid)
        sid = param_set(&f, "SmsSid");
    const char *status = param_set(&f, "MessageStatus");
    if (!status)
        status = param_set(&f, "SmsStatus");
    /* Inbound messages say SmsStatus=received (or nothing); a status
     * callback names the outbound message's state. */
    int incoming = status ? strcmp(status, "received") == 0 || strcmp(status, "receiving") == 0
                          : param(&f, "Body") || param(&f, "NumMedia");
    json_t *records = NULL;
    int ignore = 0;
    if (sid && incoming) {
        records = message_records(s, &f, sid);
        if (!records)
            records = unknown_record(s, req, &f, "message without a usable From");
    } else if (sid && status) {
        json_t *rec = status_record(s, &f, sid, status, &ignore);
        if (rec) {
            records = json_array();
            json_array_append_new(records, rec);
        }
    } else {
        records = unknown_record(s, req, &f, "neither a message nor a status callback");
    }
    if (!records && !ignore)
        records = unknown_record(s, req, &f, "parameters that are not UTF-8");
    if (ignore) {
        s->host->log(s->src, KANAL_LOG_DEBUG, "status '%s' of %s acknowledged, not stored", status,
                     sid);
        respond_twiml(s, req);
        form_free(&f);
        return 0;
    }
    /* When kanald refuses the records (its log names the field), the
     * payload is kept all the same. */
    int is_unknown =
        records && json_is_object(records) &&
        strcmp(json_string_value(json_object_get(records, "kind")) ?: "", "unknown") == 0;
    emit_records(s, req, records,
                 is_unknown ? NULL : unknown_record(s, req, &f, "its records were refused"));
    form_free(&f);
    return 0;
}
