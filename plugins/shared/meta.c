/* SPDX-License-Identifier: Apache-2.0 */
/* The Meta webhook side shared by the facebook and whatsapp plugins: the
 * hub.* handshake, X-Hub-Signature-256, and one batch of records per POST
 * committed together with its state entries.
 *
 * State entries (the 24-hour window's last inbound time, WhatsApp's highest
 * status per message, comment authors) are read back before the commit of
 * the POST that wrote them may have happened: Meta delivers concurrently.
 * So every entry emitted is also kept in an overlay until its commit
 * completes, and readers look at the overlay before the store. */
#include "meta.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

struct meta_overlay {
    struct meta_overlay *next;
    unsigned gen; /* the emit that wrote it */
    char *key;
    char *value; /* NULL: deleted */
};

/* One emit waiting for its commit. */
struct meta_commit {
    struct meta *m;
    unsigned gen;
};

static const struct kanal_kit_bind meta_binds[] = {
    {"app_secret", KANAL_KIT_STR, offsetof(struct meta, app_secret)},
    {"verify_token", KANAL_KIT_STR, offsetof(struct meta, verify_token)},
    {"send_timeout", KANAL_KIT_INT64, offsetof(struct meta, send_timeout_ms)},
    {"keep_raw", KANAL_KIT_BOOL, offsetof(struct meta, keep_raw)},
    {NULL, 0, 0},
};

int meta_init(struct meta *m, const struct kanal_host *host, struct kanal_source *src,
              const char *channel)
{
    memset(m, 0, sizeof *m);
    m->host = host;
    m->src = src;
    m->channel = channel;
    m->send_timeout_ms = 30000;
    int r = kanal_kit_bind_options(host, src, meta_binds, m);
    if (r < 0)
        return r;
    const char *url = host->config_string(src, "api_url");
    const char *ver = host->config_string(src, "api_version");
    if (!m->app_secret || !*m->app_secret || !m->verify_token || !*m->verify_token) {
        host->log(src, KANAL_LOG_ERR, "app_secret and verify_token must not be empty");
        return KANAL_ECONFIG;
    }
    if (!ver || !*ver)
        ver = META_DEFAULT_API_VERSION;
    /* Accept "26.0" as well as "v26.0"; Graph wants the "v". */
    const char *digits = ver[0] == 'v' ? ver + 1 : ver;
    size_t n = strlen(digits);
    if (n == 0 || n + 2 > sizeof m->api_version || !isdigit((unsigned char)digits[0]) ||
        strspn(digits, "0123456789.") != n) {
        host->log(src, KANAL_LOG_ERR, "api_version '%s' is not a Graph API version like %s", ver,
                  META_DEFAULT_API_VERSION);
        return KANAL_ECONFIG;
    }
    snprintf(m->api_version, sizeof m->api_version, "v%s", digits);
    m->api_url = strdup(url ? url : META_DEFAULT_API_URL);
    if (!m->api_url)
        return -ENOMEM;
    size_t len = strlen(m->api_url);
    while (len > 0 && m->api_url[len - 1] == '/')
        m->api_url[--len] = '\0';
    return 0;
}

void meta_destroy(struct meta *m)
{
    for (struct meta_overlay *o = m->overlay, *next; o; o = next) {
        next = o->next;
        free(o->key);
        free(o->value);
        free(o);
    }
    m->overlay = NULL;
    free(m->api_url);
    m->api_url = NULL;
}

/* ---- answers ---- */

/* ---- handshake and signature ---- */

struct hub_query {
    char *mode, *token, *challenge;
};

static int hub_param(void *arg, const char *name, const char *value)
{
    struct hub_query *q = arg;
    char **slot = strcmp(name, "hub.mode") == 0           ? &q->mode
                  : strcmp(name, "hub.verify_token") == 0 ? &q->token
                  : strcmp(name, "hub.challenge") == 0    ? &q->challenge
                                                          : NULL;
    if (slot && !*slot)
        *slot = strdup(value);
    return 0;
}

/* Compare two texts of any length in constant time: compare their MACs. */
static int same_text(struct meta *m, const char *a, const char *b)
{
    unsigned char ma[32], mb[32];
    m->host->hmac_sha256("kanal-compare", 13, a, strlen(a), ma);
    m->host->hmac_sha256("kanal-compare", 13, b, strlen(b), mb);
    return m->host->equal_ct(ma, mb, sizeof ma);
}

static void handshake(struct meta *m, struct kanal_http_request *req)
{
    struct hub_query q = {0};
    m->host->form_decode(req->query, strlen(req->query), hub_param, &q);
    int ok = q.mode && strcmp(q.mode, "subscribe") == 0 && q.token && q.challenge &&
             same_text(m, q.token, m->verify_token);
    if (ok) {
        m->host->log(m->src, KANAL_LOG_NOTICE, "webhook verified by %s", req->remote_addr);
        m->host->http_respond(req, 200, "text/plain", q.challenge, strlen(q.challenge));
    } else {
        m->host->log(m->src, KANAL_LOG_WARNING, "refused a verification request from %s: %s",
                     req->remote_addr,
                     !q.mode || strcmp(q.mode, "subscribe") != 0 ? "hub.mode is not subscribe"
                     : !q.challenge                              ? "no hub.challenge"
                                                                 : "wrong hub.verify_token");
        kanal_kit_respond_error(m->host, req, 403, "forbidden", "verification refused");
    }
    free(q.mode);
    free(q.token);
    free(q.challenge);
}

/* X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(app secret, raw body)>. */
static int signature_ok(struct meta *m, const struct kanal_http_request *req)
{
    const char *sig = m->host->http_header(req, "X-Hub-Signature-256");
    if (!sig || strncmp(sig, "sha256=", 7) != 0 || strlen(sig + 7) != 64)
        return 0;
    unsigned char mac[32];
    char hex[65], given[65];
    m->host->hmac_sha256(m->app_secret, strlen(m->app_secret), req->body, req->body_len, mac);
    m->host->hex_encode(mac, sizeof mac, hex);
    for (int i = 0; i < 64; i++)
        given[i] = (char)tolower((unsigned char)sig[7 + i]);
    given[64] = '\0';
    return m->host->equal_ct(hex, given, 64);
}

int meta_http_gate(struct meta *m, struct kanal_http_request *req)
{
    if (strcmp(req->method, "GET") == 0) {
        handshake(m, req);
        return 1;
    }
    if (strcmp(req->method, "POST") != 0) {
        m->host->http_add_header(req, "Allow", "GET, POST");
        kanal_kit_respond_error(m->host, req, 405, "method_not_allowed",
                                "Meta verifies with GET and delivers with POST");
        return 1;
    }
    if (!signature_ok(m, req)) {
        int present = m->host->http_header(req, "X-Hub-Signature-256") != NULL;
        m->host->log(m->src, KANAL_LOG_WARNING, "refused a request from %s: %s X-Hub-Signature-256",
                     req->remote_addr, present ? "wrong" : "missing");
        kanal_kit_respond_error(m->host, req, 401, "bad_signature", "missing or wrong signature");
        return 1;
    }
    return 0;
}

/* ---- state: overlay, then store ---- */

static char *committed_state(struct meta *m, const char *key)
{
    char small[512];
    size_t len = sizeof small - 1;
    int r = m->host->state_get(m->src, key, small, &len);
    if (r == 0) {
        char *out = malloc(len + 1);
        if (out) {
            memcpy(out, small, len);
            out[len] = '\0';
        }
        return out;
    }
    if (r != -ENOBUFS)
        return NULL;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    if (m->host->state_get(m->src, key, out, &len) != 0) {
        free(out);
        return NULL;
    }
    out[len] = '\0';
    return out;
}

char *meta_state_get(struct meta *m, const char *key)
{
    for (struct meta_overlay *o = m->overlay; o; o = o->next)
        if (strcmp(o->key, key) == 0)
            return o->value ? strdup(o->value) : NULL;
    return committed_state(m, key);
}

static void overlay_push(struct meta *m, unsigned gen, const char *key, const char *value)
{
    struct meta_overlay *o = calloc(1, sizeof *o);
    if (!o)
        return;
    o->gen = gen;
    o->key = strdup(key);
    o->value = value ? strdup(value) : NULL;
    o->next = m->overlay;
    m->overlay = o;
}

/* The emit's entries are in the store now (or failed and will be
 * redelivered): readers go back to the store for them. */
static void overlay_drop(struct meta *m, unsigned gen)
{
    for (struct meta_overlay **p = &m->overlay; *p;) {
        struct meta_overlay *o = *p;
        if (o->gen == gen) {
            *p = o->next;
            free(o->key);
            free(o->value);
            free(o);
        } else {
            p = &o->next;
        }
    }
}

int meta_window_open(struct meta *m, const char *handle, int64_t now_ms)
{
    char key[600];
    snprintf(key, sizeof key, "last_in:%s", handle);
    char *v = meta_state_get(m, key);
    int64_t last = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return last > 0 && now_ms - last < META_WINDOW_MS;
}

/* ---- batches ---- */

void meta_batch_init(struct meta_batch *b, struct meta *m, struct kanal_http_request *req)
{
    b->m = m;
    b->req = req;
    b->records = json_array();
    b->states = json_object();
}

/* Keep a time member kanal could not read (after year 9999, negative, not a
 * time) in meta.original_time: the record took the entry's or the receipt
 * time instead, and the sender's value must not be lost. */
static void note_unreadable_time(struct meta_batch *b, json_t *rec, json_t *raw)
{
    static const char *const keys[] = {"timestamp", "created_time"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(raw, keys[i]);
        if (!v || json_is_null(v) || meta_time_ms(raw, keys[i]) >= 0)
            continue;
        json_t *meta = json_object_get(rec, "meta");
        if (!json_is_object(meta)) {
            meta = json_object();
            json_object_set_new(rec, "meta", meta);
        }
        json_object_set(meta, "original_time", v);
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        const char *at = json_string_value(json_object_get(rec, "occurred_at"));
        b->m->host->log(b->m->src, KANAL_LOG_WARNING,
                        "%s %.60s cannot be represented; the record is stored with occurred_at "
                        "%s and the value in meta.original_time",
                        keys[i], text ? text : "?", at ? at : "(none)");
        free(text);
        return;
    }
}

void meta_batch_add(struct meta_batch *b, json_t *rec, json_t *raw)
{
    if (!rec)
        return;
    if (json_is_object(raw))
        note_unreadable_time(b, rec, raw);
    if (raw && b->m->keep_raw)
        json_object_set(rec, "raw", raw);
    json_array_append_new(b->records, rec);
}

/* A stable id for content without one of its own: a digest of its
 * canonical serialisation, so that a redelivery maps to the same record. */
static void digest_id(struct meta *m, const char *prefix, const void *data, size_t len, char *out,
                      size_t out_len)
{
    unsigned char mac[32];
    char hex[65];
    m->host->hmac_sha256("kanal-unknown", 13, data, len, mac);
    m->host->hex_encode(mac, sizeof mac, hex);
    snprintf(out, out_len, "%s-%.40s", prefix, hex);
}

/* The raw body as JSON: parsed, else as a string, else base64 (not UTF-8). */
static json_t *body_raw(struct meta *m, const struct kanal_http_request *req)
{
    json_t *raw = json_loadb(req->body, req->body_len, 0, NULL);
    if (!raw)
        raw = json_stringn(req->body, req->body_len);
    if (!raw) {
        char *b64 = malloc(4 * ((req->body_len + 2) / 3) + 1);
        if (!b64)
            return NULL;
        m->host->base64_encode(req->body, req->body_len, b64);
        raw = json_pack("{s:s}", "base64", b64);
        free(b64);
    }
    return raw;
}

void meta_batch_unknown(struct meta_batch *b, const char *channel, json_t *item, const char *reason)
{
    char ext[80];
    json_t *raw;
    if (item) {
        char *canon = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        digest_id(b->m, "unknown", canon ? canon : "", canon ? strlen(canon) : 0, ext, sizeof ext);
        free(canon);
        raw = json_incref(item);
    } else {
        digest_id(b->m, "body", b->req->body, b->req->body_len, ext, sizeof ext);
        raw = body_raw(b->m, b->req);
    }
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:o*,s:{s:s}}", "kind", "unknown", "direction", "inbound",
                  "channel", channel, "external_id", ext, "raw", raw, "meta", "reason", reason);
    b->m->host->log(b->m->src, KANAL_LOG_INFO, "kept an item as unknown: %s", reason);
    json_array_append_new(b->records, rec);
}

void meta_batch_set_state(struct meta_batch *b, const char *key, const char *value)
{
    json_object_set_new(b->states, key, value ? json_string(value) : json_null());
}

char *meta_batch_get_state(struct meta_batch *b, const char *key)
{
    json_t *v = json_object_get(b->states, key);
    if (v)
        return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    return meta_state_get(b->m, key);
}

void meta_batch_note_inbound(struct meta_batch *b, const char *handle, int64_t unix_ms)
{
    char key[600], value[32];
    snprintf(key, sizeof key, "last_in:%s", handle);
    char *cur = meta_batch_get_state(b, key);
    int64_t last = cur ? strtoll(cur, NULL, 10) : 0;
    free(cur);
    if (unix_ms <= last)
        return;
    snprintf(value, sizeof value, "%lld", (long long)unix_ms);
    meta_batch_set_state(b, key, value);
}

/* A delivery's emit ended: the state it carried is committed or never will
 * be, so the overlay that showed it meanwhile goes. */
static void batch_done(void *arg, int status)
{
    struct meta_commit *c = arg;
    overlay_drop(c->m, c->gen);
    free(c);
}

/* State written outside a delivery (meta_state_put) committed, or not. */
static void state_committed(void *arg, int status, const uint64_t *seqs, size_t n)
{
    struct meta_commit *c = arg;
    overlay_drop(c->m, c->gen);
    if (status < 0)
        c->m->host->log(c->m->src, KANAL_LOG_WARNING, "cannot record state: %s",
                        c->m->host->strerror(status));
    free(c);
}

/* Should the host refuse a record the plugin built, the whole body is kept
 * instead, so that nothing authentic is dropped (the host's log line names
 * the field): this is that unknown record's text. */
static char *body_as_unknown(struct meta *m, struct kanal_http_request *req)
{
    char ext[80];
    digest_id(m, "body", req->body, req->body_len, ext, sizeof ext);
    json_t *raw = body_raw(m, req);
    if (!raw)
        return NULL;
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:{s:s}}", "kind", "unknown", "direction", "inbound",
                  "channel", m->channel, "external_id", ext, "raw", raw, "meta", "reason",
                  "the payload could not be normalized (kanald's log names the field)");
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

void meta_batch_commit(struct meta_batch *b)
{
    struct meta *m = b->m;
    size_t nstates = json_object_size(b->states);
    struct kanal_state_entry *states = calloc(nstates ? nstates : 1, sizeof *states);
    struct meta_commit *c = calloc(1, sizeof *c);
    char *text = json_dumps(b->records, JSON_COMPACT);
    char *unknown = body_as_unknown(m, b->req);
    if (!states || !c || !text || !unknown) {
        m->host->log(m->src, KANAL_LOG_ERR, "cannot store a webhook delivery: out of memory");
        kanal_kit_respond_error(m->host, b->req, 500, "internal", "out of memory");
        free(c);
        goto done;
    }
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(b->states, key, v)
    {
        states[i].key = key;
        states[i].value = json_is_string(v) ? json_string_value(v) : NULL;
        states[i].len = json_is_string(v) ? json_string_length(v) : 0;
        i++;
    }
    c->m = m;
    c->gen = ++m->next_gen;
    /* {"seqs":[...]} (with "stored_as":"unknown" for the fallback) after the
     * commit, 503 + Retry-After when the store cannot commit. */
    const struct kanal_kit_answer answer = {
        .unknown_json = unknown, .done = batch_done, .done_arg = c};
    int r = kanal_kit_emit_answer(m->host, m->src, b->req, text, strlen(text), states, nstates,
                                  &answer);
    if (r == 0) /* the states are queued: readers see them until the commit ends */
        for (i = 0; i < nstates; i++)
            overlay_push(m, c->gen, states[i].key, states[i].value);
    if (r < 0) {
        m->host->log(m->src, KANAL_LOG_ERR, "cannot store a webhook delivery: %s",
                     m->host->strerror(r));
        free(c); /* batch_done is not called */
    }
done:
    free(text);
    free(unknown);
    free(states);
    json_decref(b->records);
    json_decref(b->states);
    b->records = b->states = NULL;
}

int meta_state_put(struct meta *m, const struct kanal_state_entry *states, size_t n)
{
    struct meta_commit *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->m = m;
    c->gen = ++m->next_gen;
    int r = m->host->emit(m->src, NULL, 0, states, n, state_committed, c);
    if (r < 0) {
        free(c);
        return r;
    }
    for (size_t i = 0; i < n; i++)
        overlay_push(m, c->gen, states[i].key,
                     states[i].value ? (const char *)states[i].value : NULL);
    return 0;
}

/* ---- payload helpers ---- */

const char *meta_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

const char *meta_id(json_t *obj, const char *key, char *buf, size_t len)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    const char *s = json_string_value(v);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n == 0 || n > 256 || n + 1 > len || n != json_string_length(v))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return NULL;
    memcpy(buf, s, n + 1);
    return buf;
}

int meta_digits(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 20 && strspn(s, "0123456789") == n;
}

static int64_t days_from_civil(int64_t y, unsigned mo, unsigned d)
{
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2026-11-23T10:00:00+0000" (Graph's format), also with "Z" or "+00:00". */
static int64_t parse_graph_time(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || mo < 1 ||
        mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + n;
    int offset = 0;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 && sscanf(p + 1, "%2d%2d", &oh, &om) != 2)
            return -1;
        offset = sign * (oh * 60 + om);
    } else if (*p != 'Z' && *p != '\0') {
        return -1;
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    return ((days * 86400 + h * 3600 + mi * 60 + sec) - offset * 60LL) * 1000;
}

/* 9999-12-31T23:59:59.999Z: the last instant RFC 3339 (and kanal's
 * occurred_at) can write. */
#define META_TIME_MAX_MS 253402300799999LL

int64_t meta_time_ms(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    int64_t t;
    if (json_is_integer(v)) {
        t = json_integer_value(v);
    } else if (json_is_real(v)) {
        /* Out-of-range reals must not reach the cast (undefined behaviour). */
        double d = json_real_value(v);
        if (!(d > 0 && d <= (double)META_TIME_MAX_MS))
            return -1;
        t = (int64_t)d;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (meta_digits(s)) {
            t = strtoll(s, NULL, 10); /* saturates at INT64_MAX: out of range below */
        } else {
            t = parse_graph_time(s);
            return t >= 0 && t <= META_TIME_MAX_MS ? t : -1;
        }
    } else {
        return -1;
    }
    if (t <= 0)
        return -1;
    /* Seconds until the year 5138; milliseconds from 1973 on. */
    if (t < 100000000000LL)
        t *= 1000;
    return t <= META_TIME_MAX_MS ? t : -1;
}

void meta_time_text(struct meta *m, int64_t unix_ms, char out[32])
{
    /* Never leave out unwritten: an unrepresentable time becomes now (the
     * caller's fallback), and now itself always is representable. */
    if (unix_ms < 0 || m->host->format_time(unix_ms, out, 32) < 0)
        if (m->host->format_time(m->host->now_ms(), out, 32) < 0)
            snprintf(out, 32, "1970-01-01T00:00:00.000Z");
}

json_t *meta_party(const char *handle, const char *name, const char *role, const char *handle2,
                   const char *handle3)
{
    json_t *p = json_pack("{s:s,s:s}", "handle", handle, "role", role);
    if (name && *name)
        json_object_set_new(p, "name", json_string(name));
    json_t *list = json_array();
    json_array_append_new(list, json_string(handle));
    if (handle2)
        json_array_append_new(list, json_string(handle2));
    if (handle3)
        json_array_append_new(list, json_string(handle3));
    json_object_set_new(p, "handles", list);
    return p;
}
