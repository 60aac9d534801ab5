/* SPDX-License-Identifier: Apache-2.0 */
/* Eventbrite webhooks.  Eventbrite POSTs {"api_url": ..., "config":
 * {"action": ...}} and signs nothing, so:
 *
 *  - the hook path carries an unguessable secret (hook_secret, required):
 *    it is the only authentication there is.  Paths are compared as HMAC
 *    digests in constant time, so neither the secret's bytes nor its length
 *    leak through timing;
 *  - api_url is accepted only on the configured API host and only in the
 *    shapes /v3/orders/<id>/ and /v3/events/<id>/attendees/<id>/; the URL
 *    fetched is rebuilt from api_url (the option) and the parsed ids, never
 *    taken from the payload;
 *  - the order (with its attendees) or the attendee is fetched with the
 *    token through the host's async transfers, then the event's name and
 *    start, once per event (cached in memory and in the source's state,
 *    committed with the records that first needed it);
 *  - the webhook is answered 200 after the records commit, 503 when a fetch
 *    or the commit failed, so that Eventbrite delivers it again;
 *  - a body on the secret path is authentic: one without api_url or
 *    config.action, or not JSON, is kept as unknown and answered 202.
 *
 * order.placed, order.updated, attendee.updated -> signup (cancel when the
 * order or attendee is refunded or cancelled); order.refunded -> cancel;
 * attendee.checked_in -> checkin.  One record per attendee, external id
 * "<attendee id>/<changed>", so a redelivery stores nothing new.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kanal/kit.h>

#include "api_fetch.h"
#include "signup.h"

#define ID_MAX 32

struct eventbrite {
    const char *token;
    unsigned char hook_digest[32]; /* path_digest() of hook_secret */
    char *api_url;                 /* the option, without a trailing '/' */
    char *scheme, *host, *port, *base_path;
    int64_t timeout_ms;
    json_t *events; /* event id -> {"name", "starts_at"} */
};

enum resource { ORDER, ATTENDEE };

/* One webhook on its way: fetch, fetch the event if needed, commit, answer. */
struct job {
    struct signup *s;
    struct kanal_http_request *req;
    char action[48];
    enum resource type;
    char id[ID_MAX];        /* order or attendee id */
    char url_event[ID_MAX]; /* the event id in an attendee URL */
    json_t *resource;
    char event_id[ID_MAX];
    json_t *event; /* {"name", "starts_at"} */
    int event_new;
    int malformed; /* no notification kanal reads: kept as unknown, 202 */
};

static void respond(struct signup *s, struct kanal_http_request *req, int status, const char *code,
                    const char *message)
{
    if (status == 503)
        s->host->http_add_header(req, "Retry-After", "30");
    if (code)
        kanal_kit_respond_error(s->host, req, status, code, message);
    else
        kanal_kit_respond_json(s->host, req, status, "{\"ok\":true}");
}

static void job_free(struct job *j)
{
    json_decref(j->resource);
    json_decref(j->event);
    free(j);
}

static void job_fail(struct job *j, const char *why)
{
    respond(j->s, j->req, 503, "fetch_failed", why);
    job_free(j);
}

/* ---- the api_url check ---- */

static char *url_part(CURLU *u, CURLUPart part, unsigned flags)
{
    char *v = NULL;
    if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
        return NULL;
    char *copy = strdup(v);
    curl_free(v);
    return copy;
}

static int digits(const char *s, size_t n)
{
    if (n == 0 || n >= ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Take the next "<digits>/" path segment into out. */
static const char *take_id(const char *p, char out[ID_MAX])
{
    size_t n = strcspn(p, "/");
    if (!digits(p, n))
        return NULL;
    memcpy(out, p, n);
    out[n] = '\0';
    return p[n] == '/' ? p + n + 1 : p + n;
}

/* Accept api_url only on the configured host, in a known shape. */
static int parse_api_url(struct eventbrite *eb, const char *text, struct job *j, const char **why)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL;
    int ok = 0;
    *why = "api_url is not a URL";
    if (u && curl_url_set(u, CURLUPART_URL, text, 0) == CURLUE_OK) {
        scheme = url_part(u, CURLUPART_SCHEME, 0);
        host = url_part(u, CURLUPART_HOST, 0);
        port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
        path = url_part(u, CURLUPART_PATH, 0);
        user = url_part(u, CURLUPART_USER, 0);
        *why = "api_url is not on the configured Eventbrite API host";
        if (scheme && host && port && path && !user && strcasecmp(scheme, eb->scheme) == 0 &&
            strcasecmp(host, eb->host) == 0 && strcmp(port, eb->port) == 0) {
            size_t bl = strlen(eb->base_path);
            const char *p = path;
            *why = "api_url is not an Eventbrite order or attendee";
            if (strncmp(p, eb->base_path, bl) == 0 && strncmp(p + bl, "/v3/", 4) == 0) {
                p += bl + 4;
                const char *q;
                if (strncmp(p, "orders/", 7) == 0) {
                    q = take_id(p + 7, j->id);
                    j->type = ORDER;
                    ok = q && !*q;
                } else if (strncmp(p, "events/", 7) == 0) {
                    q = take_id(p + 7, j->url_event);
                    q = q && strncmp(q, "attendees/", 10) == 0 ? take_id(q + 10, j->id) : NULL;
                    j->type = ATTENDEE;
                    ok = q && !*q;
                }
            }
        }
    }
    free(scheme);
    free(host);
    free(port);
    free(path);
    free(user);
    curl_url_cleanup(u);
    return ok ? 0 : -EINVAL;
}

/* ---- records ---- */

static const char *jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && *v ? v : NULL;
}

static int cancelled(json_t *o)
{
    static const char *const states[] = {"refunded", "cancelled", "deleted", "not attending"};
    const char *status = jstr(o, "status");
    for (size_t i = 0; status && i < sizeof states / sizeof states[0]; i++)
        if (strcasecmp(status, states[i]) == 0)
            return 1;
    return json_is_true(json_object_get(o, "cancelled")) ||
           json_is_true(json_object_get(o, "refunded"));
}

static json_t *answers(json_t *a)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        const char *q = jstr(e, "question"), *ans = jstr(e, "answer");
        if (q && ans && json_array_size(out) < 50)
            json_array_append_new(out, json_pack("{s:s,s:s}", "question", q, "answer", ans));
    }
    return out;
}

/* One attendee (or an order without attendees) as a record. */
static json_t *attendee_record(struct job *j, json_t *a, json_t *order)
{
    struct signup *s = j->s;
    json_t *profile = json_object_get(a, "profile");
    if (!profile)
        profile = a;
    struct signup_person p = {jstr(profile, "email"), jstr(profile, "cell_phone"),
                              jstr(profile, "name"), jstr(profile, "first_name"),
                              jstr(profile, "last_name")};
    if (!p.email && order)
        p.email = jstr(order, "email");
    const char *id = jstr(a, "id");
    if (!id)
        return NULL;
    json_t *party;
    char key[512], why[200];
    if (signup_party(s, &p, &party, key, sizeof key, why, sizeof why) < 0) {
        /* Still an attendee: keep it under Eventbrite's id. */
        s->host->log(s->src, KANAL_LOG_NOTICE, "attendee %s: %s; recorded as eventbrite:%s", id,
                     why, id);
        snprintf(key, sizeof key, "eventbrite:%s", id);
        party = json_pack("{s:s,s:s}", "handle", key, "role", "customer");
        if (p.name)
            json_object_set_new(party, "name", json_string(p.name));
    }
    const char *kind =
        strcmp(j->action, "attendee.checked_in") == 0 ? "checkin"
        : strcmp(j->action, "order.refunded") == 0 || cancelled(a) || (order && cancelled(order))
            ? "cancel"
            : "signup";
    const char *changed = jstr(a, "changed");
    if (!changed)
        changed = jstr(a, "created");
    char ext[128];
    snprintf(ext, sizeof ext, "%s/%s", id, changed ? changed : "0");
    const char *name = json_string_value(json_object_get(j->event, "name"));
    json_t *rec = json_pack(
        "{s:s,s:s,s:s,s:o,s:o}", "kind", kind, "direction", "inbound", "external_id", ext, "from",
        party, "event",
        signup_event(j->event_id, name, json_string_value(json_object_get(j->event, "starts_at"))));
    if (name)
        json_object_set_new(rec, "subject", json_string(name));
    const char *when = strcmp(kind, "signup") == 0 ? jstr(a, "created") : changed;
    if (signup_rfc3339(when))
        json_object_set_new(rec, "occurred_at", json_string(when));
    json_t *meta = json_pack("{s:s,s:s}", "action", j->action, "attendee_id", id);
    const char *order_id = jstr(a, "order_id");
    if (!order_id && order)
        order_id = jstr(order, "id");
    if (order_id)
        json_object_set_new(meta, "order_id", json_string(order_id));
    if (jstr(a, "ticket_class_name"))
        json_object_set_new(meta, "ticket_class", json_string(jstr(a, "ticket_class_name")));
    if (jstr(a, "status"))
        json_object_set_new(meta, "status", json_string(jstr(a, "status")));
    json_t *ans = answers(json_object_get(a, "answers"));
    if (json_array_size(ans))
        json_object_set(meta, "answers", ans);
    json_decref(ans);
    json_object_set_new(rec, "meta", meta);
    return rec;
}

/* The kit calls this once the emit has ended, before it answers. */
static void job_done(void *arg, int status)
{
    job_free(arg);
}

/* What kanal does not turn into sign-ups (an action it does not handle, or
 * a resource whose records kanald refused) is kept as kind unknown: the
 * payload as JSON, or, as_text, as its text (for a payload nested deeper
 * than kanald reads: a permanent problem must not be answered 503). */
static char *unknown_text(struct job *j, json_t *payload, const char *reason, int as_text)
{
    struct signup *s = j->s;
    char *canon = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    unsigned char digest[32];
    char hex[65], ext[80];
    s->host->hmac_sha256("kanal-unknown", 13, canon ? canon : "", canon ? strlen(canon) : 0,
                         digest);
    s->host->hex_encode(digest, sizeof digest, hex);
    snprintf(ext, sizeof ext, "eventbrite-%s", hex);
    json_t *raw = as_text ? json_string(canon ? canon : "") : json_incref(payload);
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:s}}", "kind", "unknown", "direction", "inbound",
                  "external_id", ext, "raw", raw, "meta", "action", j->action, "reason", reason);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    free(canon);
    return text;
}

/* Emit text (with st), answer after the commit through the kit (200, or
 * 202 for a malformed notification, {"seqs":[...]}; 503 + Retry-After 30
 * when the store cannot commit), fallback kept when kanald refuses it. */
static void emit_answer(struct job *j, const char *text, const struct kanal_state_entry *st,
                        char *fallback)
{
    struct signup *s = j->s;
    const struct kanal_kit_answer answer = {
        .status = j->malformed ? 202 : 200,
        .records_unknown = j->malformed,
        .retry_after = "30",
        .unknown_json = fallback,
        .done = job_done,
        .done_arg = j,
    };
    int r = text ? kanal_kit_emit_answer(s->host, s->src, j->req, text, strlen(text), st,
                                         st ? 1 : 0, &answer)
                 : -ENOMEM;
    if (!text)
        respond(s, j->req, 503, "store_unavailable", s->host->strerror(r));
    if (r < 0)
        job_free(j); /* answered; job_done is not called */
    free(fallback);
}

static void store_unknown(struct job *j, json_t *payload, const char *reason)
{
    char *text = unknown_text(j, payload, reason, 0);
    emit_answer(j, text, NULL, unknown_text(j, payload, reason, 1));
    free(text);
}

static void emit_records(struct job *j)
{
    struct signup *s = j->s;
    json_t *recs = json_array();
    json_t *list = j->type == ORDER ? json_object_get(j->resource, "attendees") : NULL;
    if (j->type == ATTENDEE) {
        json_array_append_new(recs, attendee_record(j, j->resource, NULL));
    } else if (json_array_size(list) > 0) {
        size_t i;
        json_t *a;
        json_array_foreach(list, i, a)
        {
            json_t *rec = attendee_record(j, a, j->resource);
            if (rec)
                json_array_append_new(recs, rec);
        }
    } else {
        json_array_append_new(recs, attendee_record(j, j->resource, NULL));
    }
    if (json_array_size(recs) == 0) {
        json_decref(recs);
        s->host->log(s->src, KANAL_LOG_ERR, "%s %s: cannot store its records: %s", j->action, j->id,
                     "no attendee with an id");
        respond(s, j->req, 422, "not_stored", "the resource has no attendee with an id");
        job_free(j);
        return;
    }
    char key[48];
    snprintf(key, sizeof key, "event/%s", j->event_id);
    char *cached = j->event_new ? json_dumps(j->event, JSON_COMPACT) : NULL;
    struct kanal_state_entry st = {key, cached, cached ? strlen(cached) : 0};
    char *text = json_dumps(recs, JSON_COMPACT);
    json_decref(recs);
    emit_answer(
        j, text, cached ? &st : NULL,
        unknown_text(j, j->resource, "records kanald refused (its log names the field)", 0));
    free(text);
    free(cached);
}

/* ---- fetches ---- */

static int fetch(struct job *j, const char *path, api_fetch_cb cb)
{
    struct eventbrite *eb = j->s->eb;
    char url[600];
    snprintf(url, sizeof url, "%s%s", eb->api_url, path);
    struct api_fetch *f = api_fetch_new(j->s->host, j->s->src, url, eb->timeout_ms);
    if (!f)
        return -ENOMEM;
    int r = api_fetch_bearer(f, eb->token);
    if (r < 0) {
        api_fetch_free(f);
        return r;
    }
    return api_fetch_start(f, cb, j);
}

/* The fetched JSON object; or NULL after answering 503 so that Eventbrite
 * delivers the webhook again (the job is gone then).  Frees f. */
static json_t *fetched(struct job *j, struct api_fetch *f, const char *what)
{
    struct signup *s = j->s;
    json_t *o = f->result == 0 && f->status == 200 ? api_fetch_json(f) : NULL;
    if (json_is_object(o)) {
        api_fetch_free(f);
        s->host->set_health(s->src, 1, NULL);
        return o;
    }
    json_decref(o);
    char why[400], msg[480];
    api_fetch_describe(f, why, sizeof why);
    snprintf(msg, sizeof msg, "fetching %s failed: %s%s", what, why,
             f->result == 0 && f->status == 200 ? " (not a JSON object)" : "");
    s->host->log(s->src, KANAL_LOG_WARNING, "%s %s: %s; answered 503 so Eventbrite retries",
                 j->action, j->id, msg);
    if (f->status == 401 || f->status == 403)
        s->host->set_health(s->src, 0, msg);
    api_fetch_free(f);
    job_fail(j, msg);
    return NULL;
}

static void on_event(void *arg, struct api_fetch *f)
{
    struct job *j = arg;
    json_t *ev = fetched(j, f, "the event");
    if (!ev)
        return;
    const char *name = json_string_value(json_object_get(json_object_get(ev, "name"), "text"));
    const char *start = json_string_value(json_object_get(json_object_get(ev, "start"), "utc"));
    j->event = json_object();
    if (name)
        json_object_set_new(j->event, "name", json_string(name));
    if (signup_rfc3339(start))
        json_object_set_new(j->event, "starts_at", json_string(start));
    json_decref(ev);
    j->event_new = 1;
    json_object_set(j->s->eb->events, j->event_id, j->event);
    emit_records(j);
}

/* The event's name and start: from memory, the committed state, or the API. */
static void with_event(struct job *j)
{
    struct signup *s = j->s;
    json_t *known = json_object_get(s->eb->events, j->event_id);
    if (!known) {
        char key[48], buf[2048];
        size_t len = sizeof buf - 1;
        snprintf(key, sizeof key, "event/%s", j->event_id);
        if (s->host->state_get(s->src, key, buf, &len) == 0) {
            json_t *cached = json_loadb(buf, len, 0, NULL);
            if (json_is_object(cached)) {
                json_object_set_new(s->eb->events, j->event_id, cached);
                known = cached;
            } else {
                json_decref(cached);
            }
        }
    }
    if (known) {
        j->event = json_incref(known);
        emit_records(j);
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/v3/events/%s/", j->event_id);
    int r = fetch(j, path, on_event);
    if (r < 0)
        job_fail(j, s->host->strerror(r));
}

static void on_resource(void *arg, struct api_fetch *f)
{
    struct job *j = arg;
    json_t *resource = fetched(j, f, j->type == ORDER ? "the order" : "the attendee");
    if (!resource)
        return; /* answered 503; j is gone */
    j->resource = resource;
    const char *ev = jstr(j->resource, "event_id");
    if (!ev)
        ev = j->url_event[0] ? j->url_event : NULL;
    if (!ev || !digits(ev, strlen(ev))) {
        job_fail(j, "the resource names no event_id");
        return;
    }
    snprintf(j->event_id, sizeof j->event_id, "%s", ev);
    with_event(j);
}

/* ---- the webhook ---- */

static int handled(const char *action)
{
    static const char *const actions[] = {"order.placed", "order.updated", "order.refunded",
                                          "attendee.updated", "attendee.checked_in"};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(action, actions[i]) == 0)
            return 1;
    return 0;
}

/* Both sides of the path comparison are hashed first: equal_ct on digests
 * takes the same time whatever the length of the guess or of the secret. */
static void path_digest(struct signup *s, const char *text, unsigned char out[32])
{
    static const char key[] = "kanal-eventbrite-hook-path";
    s->host->hmac_sha256(key, sizeof key - 1, text, strlen(text), out);
}

/* /hooks/<source>/<hook_secret>. */
static int path_ok(struct signup *s, const struct kanal_http_request *req)
{
    const char *name = s->host->source_name(s->src);
    const char *rest = req->path + 7 + strlen(name); /* after "/hooks/<name>" */
    unsigned char given[32];
    path_digest(s, rest[0] == '/' ? rest + 1 : "", given);
    return rest[0] == '/' && s->host->equal_ct(given, s->eb->hook_digest, sizeof given);
}

/* The hook path's secret matched, so the body is authentic; it is only no
 * notification kanal can read (not JSON, or without api_url or
 * config.action).  Kept as unknown and answered 202, not refused: a 4xx
 * would lose it, and Eventbrite may deliver it again and again. */
static int keep_malformed(struct signup *s, struct kanal_http_request *req, json_t *payload,
                          const char *action)
{
    json_t *raw = NULL;
    if (payload)
        raw = json_incref(payload);
    else if (req->body_len == 0) /* body may be NULL then */
        raw = json_string("");
    else if (!memchr(req->body, '\0', req->body_len))
        raw = json_stringn(req->body, req->body_len);
    if (!raw) { /* not UTF-8, or a NUL byte */
        char *b64 = malloc(4 * ((req->body_len + 2) / 3) + 1);
        if (b64) {
            s->host->base64_encode(req->body, req->body_len, b64);
            raw = json_pack("{s:s}", "base64", b64);
            free(b64);
        }
    }
    struct job *j = raw ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        json_decref(raw);
        json_decref(payload);
        return -ENOMEM;
    }
    j->s = s;
    j->req = req;
    j->malformed = 1;
    snprintf(j->action, sizeof j->action, "%s", action ? action : "(none)");
    const char *why = payload ? "no api_url or config.action" : "the body is not JSON";
    s->host->log(s->src, KANAL_LOG_NOTICE, "kept a webhook from %s as unknown: %s",
                 req->remote_addr, why);
    store_unknown(j, raw, why);
    json_decref(raw);
    json_decref(payload);
    return 0;
}

int eventbrite_http(struct signup *s, struct kanal_http_request *req)
{
    if (!path_ok(s, req)) {
        respond(s, req, 404, "unknown_hook", "no such hook");
        return 0;
    }
    if (strcmp(req->method, "POST") != 0) {
        s->host->http_add_header(req, "Allow", "POST");
        respond(s, req, 405, "method_not_allowed", "Eventbrite webhooks are POSTed");
        return 0;
    }
    json_t *payload = json_loadb(req->body, req->body_len, 0, NULL);
    const char *api_url = json_string_value(json_object_get(payload, "api_url"));
    const char *action =
        json_string_value(json_object_get(json_object_get(payload, "config"), "action"));
    if (!action || !api_url)
        return keep_malformed(s, req, payload, action);
    if (strcmp(action, "test") == 0) {
        s->host->log(s->src, KANAL_LOG_INFO, "Eventbrite's test webhook arrived");
        json_decref(payload);
        respond(s, req, 200, NULL, NULL);
        return 0;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(payload);
        return -ENOMEM;
    }
    j->s = s;
    j->req = req;
    snprintf(j->action, sizeof j->action, "%s", action);
    if (!handled(action)) {
        store_unknown(j, payload, "action kanal does not turn into sign-ups");
        json_decref(payload);
        return 0;
    }
    const char *why;
    if (parse_api_url(s->eb, api_url, j, &why) < 0) {
        s->host->log(s->src, KANAL_LOG_WARNING, "refused a webhook from %s: %s: '%.200s'",
                     req->remote_addr, why, api_url);
        json_decref(payload);
        respond(s, req, 400, "bad_api_url", why);
        job_free(j);
        return 0;
    }
    json_decref(payload);
    char path[96];
    if (j->type == ORDER)
        snprintf(path, sizeof path, "/v3/orders/%s/?expand=attendees", j->id);
    else
        snprintf(path, sizeof path, "/v3/events/%s/attendees/%s/", j->url_event, j->id);
    int r = fetch(j, path, on_resource);
    if (r < 0)
        job_fail(j, s->host->strerror(r));
    return 0;
}

/* ---- lifecycle ---- */

static const struct kanal_kit_bind eventbrite_binds[] = {
    {"token", KANAL_KIT_STR, offsetof(struct eventbrite, token)},
    {"timeout", KANAL_KIT_INT64, offsetof(struct eventbrite, timeout_ms)},
    {NULL, 0, 0},
};

int eventbrite_init(struct signup *s)
{
    struct eventbrite *eb = calloc(1, sizeof *eb);
    if (!eb)
        return -ENOMEM;
    s->eb = eb;
    int r = kanal_kit_bind_options(s->host, s->src, eventbrite_binds, eb);
    if (r < 0)
        return r;
    const char *hook_secret = s->host->config_string(s->src, "hook_secret");
    eb->events = json_object();
    eb->api_url = strdup(s->host->config_string(s->src, "api_url"));
    if (!eb->api_url)
        return -ENOMEM;
    size_t n = strlen(eb->api_url);
    while (n > 0 && eb->api_url[n - 1] == '/')
        eb->api_url[--n] = '\0';
    if (!eb->token) {
        s->host->log(s->src, KANAL_LOG_ERR, "provider eventbrite needs token");
        return KANAL_ECONFIG;
    }
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, eb->api_url, 0) == CURLUE_OK) {
        eb->scheme = url_part(u, CURLUPART_SCHEME, 0);
        eb->host = url_part(u, CURLUPART_HOST, 0);
        eb->port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
        eb->base_path = url_part(u, CURLUPART_PATH, 0);
    }
    curl_url_cleanup(u);
    if (!eb->scheme || !eb->host || !eb->port || !eb->base_path) {
        s->host->log(s->src, KANAL_LOG_ERR, "api_url '%s' cannot be parsed", eb->api_url);
        return KANAL_ECONFIG;
    }
    n = strlen(eb->base_path);
    while (n > 0 && eb->base_path[n - 1] == '/')
        eb->base_path[--n] = '\0';
    /* Eventbrite signs nothing: without a secret path anyone could post. */
    if (!hook_secret || strlen(hook_secret) < 16 || strchr(hook_secret, '/') ||
        strchr(hook_secret, '?') || strchr(hook_secret, '#')) {
        s->host->log(s->src, KANAL_LOG_ERR,
                     "provider eventbrite needs hook_secret, an unguessable path segment of at "
                     "least 16 characters without '/', '?' or '#' (Eventbrite signs nothing: "
                     "webhooks go to /hooks/%s/<hook_secret>)",
                     s->host->source_name(s->src));
        return KANAL_ECONFIG;
    }
    path_digest(s, hook_secret, eb->hook_digest);
    return 0;
}

void eventbrite_free(struct signup *s)
{
    struct eventbrite *eb = s->eb;
    if (!eb)
        return;
    free(eb->api_url);
    free(eb->scheme);
    free(eb->host);
    free(eb->port);
    free(eb->base_path);
    json_decref(eb->events);
    free(eb);
    s->eb = NULL;
}
