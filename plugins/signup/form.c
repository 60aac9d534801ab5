/* SPDX-License-Identifier: Apache-2.0 */
/* Plain HTML form posts: <form method="post" action=".../hooks/<source>">.
 *
 *   a valid post            -> a signup record, then 303 to redirect_url (the thank-you page)
 *   required field missing  -> 400 naming it; an invalid e-mail or phone -> 400 saying so
 *   honeypot field filled   -> 303 like a success (a bot learns nothing), nothing stored
 *   too many posts from one client address within rate_window -> 429
 *
 * Only the fields the `fields` option lists are kept; the ones named like
 * an e-mail, phone or name (email, e-posta, telefon, ad_soyad, ...) make
 * the attendee, the others go to meta.fields.  The external id is
 * "<event id>/<e-mail or phone handle>": the same person posting twice
 * (a double click, a reload) is one sign-up.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kanal/kit.h>

#include "signup.h"

#define MAX_FIELDS 32
#define MAX_PAIRS 200
#define MAX_CLIENTS 4096

struct form_field {
    char name[64];
    int required;
    enum signup_role role;
};

struct client {
    char addr[64];
    int64_t window_start;
    int64_t count;
};

struct form {
    const char *redirect_url;
    const char *honeypot;
    struct form_field fields[MAX_FIELDS];
    size_t nfields;
    int64_t rate_limit;
    int64_t rate_window_ms;
    int64_t trust_forwarded_for;
    struct client *clients;
    size_t nclients;
};

struct pair {
    char *name;
    char *value;
};

struct posted {
    struct pair pairs[MAX_PAIRS];
    size_t n;
};

static void respond_text(struct signup *s, struct kanal_http_request *req, int status,
                         const char *text)
{
    s->host->http_respond(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void redirect(struct signup *s, struct kanal_http_request *req)
{
    static const char body[] = "Thank you.\n";
    s->host->http_add_header(req, "Location", s->form->redirect_url);
    s->host->http_respond(req, 303, "text/plain; charset=utf-8", body, sizeof body - 1);
}

/* ---- the rate limit ---- */

static const char *client_addr(struct signup *s, const struct kanal_http_request *req, char *buf,
                               size_t len)
{
    const char *xff =
        s->form->trust_forwarded_for ? s->host->http_header(req, "X-Forwarded-For") : NULL;
    if (!xff)
        return req->remote_addr;
    /* The last address is the one our own proxy added; the rest is hearsay. */
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (isspace((unsigned char)*last))
        last++;
    snprintf(buf, len, "%s", last);
    size_t n = strlen(buf);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    return n ? buf : req->remote_addr;
}

/* 0 when the client may post now, else the seconds until it may. */
static int64_t rate_limited(struct signup *s, const char *addr)
{
    struct form *fm = s->form;
    if (fm->rate_limit <= 0)
        return 0;
    int64_t now = s->host->now_ms();
    struct client *c = NULL, *oldest = NULL;
    for (size_t i = 0; i < fm->nclients; i++) {
        struct client *e = &fm->clients[i];
        if (strcmp(e->addr, addr) == 0)
            c = e;
        if (!oldest || e->window_start < oldest->window_start)
            oldest = e;
    }
    if (!c) {
        /* A full table reuses the entry whose window started first. */
        c = fm->nclients < MAX_CLIENTS ? &fm->clients[fm->nclients++] : oldest;
        snprintf(c->addr, sizeof c->addr, "%s", addr);
        c->window_start = now;
        c->count = 0;
    }
    if (now - c->window_start >= fm->rate_window_ms) {
        c->window_start = now;
        c->count = 0;
    }
    if (++c->count <= fm->rate_limit)
        return 0;
    return (c->window_start + fm->rate_window_ms - now + 999) / 1000;
}

/* ---- the post ---- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF, no truncated or stray continuation bytes. */
static int utf8_ok(const unsigned char *p)
{
    while (*p) {
        unsigned c = *p++;
        if (c < 0x80)
            continue;
        unsigned lo = 0x80, hi = 0xBF, more;
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* past U+10FFFF */
        } else {
            return 0; /* continuation byte, C0, C1 or F5..FF */
        }
        if (*p < lo || *p > hi)
            return 0;
        for (p++; --more; p++)
            if (*p < 0x80 || *p > 0xBF)
                return 0;
    }
    return 1;
}

/* The length of v cut to at most max bytes, not inside a character. */
static size_t utf8_prefix(const char *v, size_t max)
{
    size_t n = strnlen(v, max + 1);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* A NUL only arrives as %00, and would silently cut a decoded value short. */
static int has_nul_escape(const char *body, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (body[i] == '%' && body[i + 1] == '0' && body[i + 2] == '0')
            return 1;
    return 0;
}

static int collect(void *arg, const char *name, const char *value)
{
    struct posted *p = arg;
    if (p->n >= MAX_PAIRS)
        return 1;
    p->pairs[p->n].name = strdup(name);
    p->pairs[p->n].value = strdup(value);
    p->n++;
    return 0;
}

static void posted_free(struct posted *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->pairs[i].name);
        free(p->pairs[i].value);
    }
    free(p);
}

/* The first non-blank value of a field, trimmed in place; NULL when blank. */
static const char *value_of(struct posted *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++) {
        if (!p->pairs[i].name || !p->pairs[i].value || strcmp(p->pairs[i].name, name) != 0)
            continue;
        char *v = p->pairs[i].value;
        signup_trim(v);
        if (*v)
            return v;
    }
    return NULL;
}

/* Should kanald refuse the sign-up record (its log names the field: a
 * setting such as an event_id longer than an external id may be makes every
 * post fail so), the post is kept as unknown, its record as text in raw, so
 * that nothing a person submitted is lost and the person is not asked to
 * retry what no retry can fix; keyed by the text's digest, so a double
 * submit is one record.  This is that record's text. */
static char *refused_as_unknown(struct signup *s, const char *refused)
{
    unsigned char digest[32];
    char hex[65], ext[80];
    s->host->hmac_sha256("kanal-unknown", 13, refused, strlen(refused), digest);
    s->host->hex_encode(digest, sizeof digest, hex);
    snprintf(ext, sizeof ext, "form-%s", hex);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "kind", "unknown", "direction", "inbound",
                            "external_id", ext, "raw", refused, "meta", "reason",
                            "the sign-up record was refused (kanald's log names the field)");
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    return text;
}

static void handle(struct signup *s, struct kanal_http_request *req, struct posted *p)
{
    struct form *fm = s->form;
    const char *trap = fm->honeypot && fm->honeypot[0] ? value_of(p, fm->honeypot) : NULL;
    if (trap) {
        s->host->log(s->src, KANAL_LOG_INFO,
                     "post from %s filled the honeypot field '%s': not "
                     "stored",
                     req->remote_addr, fm->honeypot);
        redirect(s, req);
        return;
    }
    char missing[512] = "";
    struct signup_person person = {0};
    json_t *fields = json_object();
    for (size_t i = 0; i < fm->nfields; i++) {
        const struct form_field *f = &fm->fields[i];
        const char *v = value_of(p, f->name);
        if (!v && f->required) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", f->name);
        }
        if (!v)
            continue;
        const char **slot = f->role == ROLE_EMAIL        ? &person.email
                            : f->role == ROLE_PHONE      ? &person.phone
                            : f->role == ROLE_NAME       ? &person.name
                            : f->role == ROLE_FIRST_NAME ? &person.first_name
                            : f->role == ROLE_LAST_NAME  ? &person.last_name
                                                         : NULL;
        if (slot && !*slot)
            *slot = v;
        else if (!slot)
            json_object_set_new(fields, f->name, json_stringn(v, utf8_prefix(v, 2000)));
    }
    if (missing[0]) {
        char text[600];
        snprintf(text, sizeof text, "Please fill in the required field(s): %s\n", missing);
        respond_text(s, req, 400, text);
        json_decref(fields);
        return;
    }
    json_t *party;
    char key[512], why[256];
    if (signup_party(s, &person, &party, key, sizeof key, why, sizeof why) < 0) {
        char text[400];
        snprintf(text, sizeof text, "Please check the form: %s.\n",
                 strstr(why, "neither") ? "give an e-mail address or a phone number" : why);
        respond_text(s, req, 400, text);
        json_decref(fields);
        return;
    }
    char ext[600];
    snprintf(ext, sizeof ext, "%s/%s", s->event_id, key);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:o,s:o,s:{}}", "kind", "signup", "direction", "inbound",
                            "external_id", ext, "from", party, "event",
                            signup_event(s->event_id, s->event_name, s->event_starts_at), "meta");
    if (json_object_size(fields))
        json_object_set(json_object_get(rec, "meta"), "fields", fields);
    json_decref(fields);
    if (s->event_name)
        json_object_set_new(rec, "subject", json_string(s->event_name));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    char *unknown = text ? refused_as_unknown(s, text) : NULL;
    /* Thanked (303 to redirect_url) only after the commit, the refused kept
     * as unknown and thanked too; 503 + Retry-After when the store cannot
     * commit, so the person tries again. */
    const struct kanal_kit_answer answer = {
        .status = 303,
        .content_type = "text/plain; charset=utf-8",
        .body = "Thank you.\n",
        .location = s->form->redirect_url,
        .busy_type = "text/plain; charset=utf-8",
        .busy_body = "Your sign-up could not be saved just now. Please try again in a moment.\n",
        .unknown_json = unknown,
    };
    int r = text && unknown
                ? kanal_kit_emit_answer(s->host, s->src, req, text, strlen(text), NULL, 0, &answer)
                : -ENOMEM;
    if (r == -ENOMEM && !(text && unknown))
        respond_text(s, req, 500, "Your sign-up could not be saved (out of memory).\n");
    if (r < 0)
        s->host->log(s->src, KANAL_LOG_ERR, "cannot store a sign-up: %s", s->host->strerror(r));
    free(text);
    free(unknown);
}

int form_http(struct signup *s, struct kanal_http_request *req)
{
    if (strcmp(req->method, "POST") != 0) {
        s->host->http_add_header(req, "Allow", "POST");
        respond_text(s, req, 405, "This address takes form posts.\n");
        return 0;
    }
    char buf[64];
    int64_t wait = rate_limited(s, client_addr(s, req, buf, sizeof buf));
    if (wait > 0) {
        char after[24];
        snprintf(after, sizeof after, "%lld", (long long)wait);
        s->host->http_add_header(req, "Retry-After", after);
        s->host->log(s->src, KANAL_LOG_NOTICE, "too many posts from %s: refused (429)",
                     client_addr(s, req, buf, sizeof buf));
        respond_text(s, req, 429, "Too many sign-ups from your address; please try later.\n");
        return 0;
    }
    const char *type = s->host->http_header(req, "Content-Type");
    if (!type || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0) {
        respond_text(s, req, 415,
                     "Expected application/x-www-form-urlencoded (a plain HTML "
                     "form post).\n");
        return 0;
    }
    struct posted *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    s->host->form_decode(req->body, req->body_len, collect, p);
    /* A broken encoding is the sender's permanent error: 400, never the 503
     * (retry) that a record kanald cannot build would otherwise get. */
    const char *bad = has_nul_escape(req->body, req->body_len) ? "a NUL character (%00)" : NULL;
    for (size_t i = 0; !bad && i < p->n; i++) {
        const unsigned char *name = (const unsigned char *)p->pairs[i].name;
        const unsigned char *value = (const unsigned char *)p->pairs[i].value;
        if (name && value && (!utf8_ok(name) || !utf8_ok(value)))
            bad = "text that is not valid UTF-8";
    }
    if (bad) {
        char text[160];
        s->host->log(s->src, KANAL_LOG_NOTICE, "refused a post from %s: it contains %s",
                     req->remote_addr, bad);
        snprintf(text, sizeof text,
                 "{\"error\":{\"code\":\"bad_encoding\",\"message\":\"the form contains %s; "
                 "send it as UTF-8\"}}",
                 bad);
        s->host->http_respond(req, 400, "application/json", text, strlen(text));
        posted_free(p);
        return 0;
    }
    handle(s, req, p);
    posted_free(p);
    return 0;
}

/* ---- lifecycle ---- */

static const struct kanal_kit_bind form_binds[] = {
    {"redirect_url", KANAL_KIT_STR, offsetof(struct form, redirect_url)},
    {"honeypot", KANAL_KIT_STR, offsetof(struct form, honeypot)},
    {"rate_limit", KANAL_KIT_INT64, offsetof(struct form, rate_limit)},
    {"rate_window", KANAL_KIT_INT64, offsetof(struct form, rate_window_ms)},
    {"trust_forwarded_for", KANAL_KIT_INT64, offsetof(struct form, trust_forwarded_for)},
    {NULL, 0, 0},
};

int form_init(struct signup *s)
{
    struct form *fm = calloc(1, sizeof *fm);
    if (!fm)
        return -ENOMEM;
    s->form = fm;
    int r = kanal_kit_bind_options(s->host, s->src, form_binds, fm);
    if (r < 0)
        return r;
    fm->clients = calloc(MAX_CLIENTS, sizeof *fm->clients);
    if (!fm->clients)
        return -ENOMEM;
    if (!fm->redirect_url) {
        s->host->log(s->src, KANAL_LOG_ERR,
                     "provider form needs redirect_url (the thank-you "
                     "page)");
        return KANAL_ECONFIG;
    }
    const char *p = s->host->config_string(s->src, "fields");
    int contact = 0;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        char item[80] = "";
        if (n < sizeof item) {
            memcpy(item, p, n);
            item[n] = '\0';
        }
        signup_trim(item);
        size_t len = strlen(item);
        int required = len > 0 && item[len - 1] == '*';
        if (required) {
            item[len - 1] = '\0';
            signup_trim(item);
        }
        if (!item[0] || strlen(item) >= sizeof fm->fields[0].name || fm->nfields >= MAX_FIELDS) {
            s->host->log(s->src, KANAL_LOG_ERR,
                         "fields: '%.*s' is not a field name (at most %d "
                         "fields of up to 63 characters)",
                         (int)(n > 60 ? 60 : n), p, MAX_FIELDS);
            return KANAL_ECONFIG;
        }
        struct form_field *f = &fm->fields[fm->nfields++];
        memcpy(f->name, item, strlen(item) + 1); /* fits: checked above */
        f->required = required;
        f->role = signup_role_of(f->name);
        contact |= f->role == ROLE_EMAIL || f->role == ROLE_PHONE;
        p += n;
        if (*p == ',')
            p++;
    }
    if (!contact) {
        s->host->log(s->src, KANAL_LOG_ERR,
                     "fields must include an e-mail or phone field (e.g. "
                     "email, phone, e-posta, telefon)");
        return KANAL_ECONFIG;
    }
    return 0;
}

void form_free(struct signup *s)
{
    if (!s->form)
        return;
    free(s->form->clients);
    free(s->form);
    s->form = NULL;
}
