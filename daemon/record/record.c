/* SPDX-License-Identifier: Apache-2.0 */
/* The host checks every record a plugin emits: a plugin bug must end in one
 * clear log line naming the field, never in a crash or a half-written batch.
 * The checks are schema v1's, shared with kanalctl (common/record_check.c);
 * this file normalizes what passed them: handles, times, defaults, the
 * host's fields.  The stored form has a fixed field order so that records
 * read the same whichever plugin made them. */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "handle.h"
#include "record_check.h"
#include "util.h"

/* external_id is at most this many bytes (record_check). */
#define MAX_EXTERNAL_ID 1024

/* Members of the stored form: their names are ASCII constants, which
 * json_object_set_new would check for valid UTF-8 once per call. */
#define set_new(obj, key, value) json_object_set_new_nocheck(obj, key, value)
#define set_shared(obj, key, value) json_object_set_new_nocheck(obj, key, json_incref(value))
/* A string known to be valid UTF-8 without NUL (ASCII kanald wrote, or
 * made of strings already checked). */
#define ascii_string(s) json_stringn_nocheck(s, strlen(s))

struct check {
    char *err;
    size_t err_len;
    const struct record_ctx *ctx;
};

static int fail(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_len, fmt, ap);
    va_end(ap);
    return KANAL_ERECORD;
}

int record_kind_valid(const char *kind)
{
    return record_check_kind(kind);
}

/* A member of a record that passed record_check as a string, or NULL when
 * it is absent or null. */
static const char *str(json_t *v)
{
    return json_string_value(v);
}

static int check_time(struct check *c, const char *where, const char *value, char out[32])
{
    int64_t ms;
    if (util_parse_time(value, &ms) < 0)
        return fail(c, "field '%s' is not an RFC 3339 time: '%.40s'", where, value);
    if (util_format_time(ms, out, 32) < 0)
        return fail(c, "field '%s' is outside the years 0000-9999 in UTC: '%.40s'", where, value);
    return 0;
}

static int normalize_handle_value(struct check *c, const char *where, const char *in, json_t **out)
{
    char buf[512];
    const char *why = "";
    int r = handle_normalize(in, c->ctx->default_country, buf, sizeof buf, &why);
    if (r < 0)
        return fail(c, "field '%s': handle '%.60s': %s", where, in,
                    r == KANAL_EHANDLE ? why : "too long");
    /* buf is the handle (a jansson string: valid UTF-8) with only ASCII
     * bytes changed, trimmed or written (tolower and isspace in the C locale
     * kanald runs in), so it is valid UTF-8 too: no second check. */
    *out = json_stringn_nocheck(buf, strlen(buf));
    return *out ? 0 : fail(c, "field '%s': out of memory", where);
}

/* where, then suffix, then "[i]" when i >= 0, into w (cut short if need
 * be): the field names of error messages, which every party of every
 * record needs at hand, so without snprintf. */
static const char *field_path(char *w, size_t n, const char *where, const char *suffix, long i)
{
    size_t len = 0;
    for (const char *part[2] = {where, suffix}, **p = part; p < part + 2; p++)
        for (const char *q = *p; *q && len + 1 < n; q++)
            w[len++] = *q;
    if (i >= 0) {
        char num[24], *d = num + sizeof num;
        *--d = ']';
        d = util_u64_dec(d, (uint64_t)i);
        *--d = '[';
        for (; d < num + sizeof num && len + 1 < n; d++)
            w[len++] = *d;
    }
    w[len] = '\0';
    return w;
}

/* A party that passed record_check: its handles normalized, its role
 * defaulted, its trust decided. */
static int party(struct check *c, json_t *in, const char *where, json_t **out)
{
    char w[64];
    json_t *m[PF_COUNT];
    record_party_members(in, m);
    const char *handle = str(m[PF_HANDLE]), *name = str(m[PF_NAME]), *role = str(m[PF_ROLE]);
    const char *trust = str(m[PF_TRUST]);
    int r;
    /* The source's option overrides the plugin's mark; only "verified" is
     * stored, so that an unmarked party reads as asserted everywhere. */
    int verified = c->ctx->trust == RECORD_TRUST_VERIFIED ||
                   (c->ctx->trust == RECORD_TRUST_AUTO && trust && !strcmp(trust, "verified"));
    json_t *p = json_object();
    json_t *h;
    field_path(w, sizeof w, where, ".handle", -1);
    if ((r = normalize_handle_value(c, w, handle, &h))) {
        json_decref(p);
        return r;
    }
    set_new(p, "handle", h);
    if (name)
        set_shared(p, "name", m[PF_NAME]);
    set_new(p, "role", ascii_string(role ? role : "customer")); /* one of roles */
    /* handles lists every identifier of the party, the main one first. */
    json_t *list = json_array();
    json_array_append(list, h);
    json_t *hs = m[PF_HANDLES];
    if (json_is_array(hs)) { /* record_check: an array of strings, or absent or null */
        size_t i;
        json_t *e;
        json_array_foreach(hs, i, e)
        {
            json_t *nh = NULL;
            field_path(w, sizeof w, where, ".handles", (long)i);
            if ((r = normalize_handle_value(c, w, json_string_value(e), &nh))) {
                json_decref(list);
                json_decref(p);
                return r;
            }
            int dup = 0;
            size_t j;
            json_t *x;
            json_array_foreach(list, j, x) dup |= json_equal(x, nh);
            if (dup)
                json_decref(nh);
            else
                json_array_append_new(list, nh);
        }
    }
    set_new(p, "handles", list);
    if (verified && (!role || !strcmp(role, "customer")))
        set_new(p, "trust", ascii_string("verified"));
    *out = p;
    return 0;
}

static int party_list(struct check *c, json_t *in, const char *where, json_t **out)
{
    *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e) /* record_check: an array of parties, or absent or null */
    {
        char w[48];
        field_path(w, sizeof w, where, "", (long)i);
        json_t *p;
        int r = party(c, e, w, &p);
        if (r) {
            json_decref(*out);
            *out = NULL;
            return r;
        }
        json_array_append_new(*out, p);
    }
    return 0;
}

/* The attachments as given, without their null members. */
static json_t *attachments(json_t *in)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e) /* record_check: an array of objects, or absent or null */
    {
        json_t *copy = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(e, key, v)
        {
            if (!json_is_null(v))
                json_object_set(copy, key, v);
        }
        json_array_append_new(out, copy);
    }
    return out;
}

/* The event with starts_at in the stored form, or NULL without one. */
static int event(struct check *c, json_t *in, json_t **out)
{
    *out = NULL;
    if (!json_is_object(in)) /* record_check: an object, or absent or null */
        return 0;
    const char *id = str(json_object_get(in, "id")), *name = str(json_object_get(in, "name")),
               *starts = str(json_object_get(in, "starts_at"));
    int r;
    char ts[32];
    if (starts && (r = check_time(c, "event.starts_at", starts, ts)))
        return r;
    *out = json_object();
    json_object_set_new(*out, "id", json_string(id));
    if (name)
        json_object_set_new(*out, "name", json_string(name));
    if (starts)
        json_object_set_new(*out, "starts_at", json_string(ts));
    return 0;
}

int record_normalize(json_t *in, const struct record_ctx *ctx, json_t **out, char *err,
                     size_t err_len)
{
    struct check c = {.err = err, .err_len = err_len, .ctx = ctx};
    json_t *rec = NULL, *from = NULL, *to = NULL, *mentions = NULL, *att = NULL, *ev = NULL;
    int r;
    *out = NULL;
    struct record_view view;
    json_t *const *f = view.f;
    if ((r = record_check_view(in, RECORD_CHECK_EMITTED, &view, err, err_len)))
        return r;

    /* What passed the check is read without checking or looking it up again. */
    const char *source = str(f[RF_SOURCE]), *channel = str(f[RF_CHANNEL]);
    const char *kind = str(f[RF_KIND]), *occurred = str(f[RF_OCCURRED_AT]);
    const char *external_id = str(f[RF_EXTERNAL_ID]);
    if (source && strcmp(source, ctx->source) != 0)
        return fail(&c, "field 'source' is '%.64s' but the record comes from source '%s'", source,
                    ctx->source);
    char occurred_buf[32];
    if (occurred && (r = check_time(&c, "occurred_at", occurred, occurred_buf)))
        return r;
    json_t *meta = f[RF_META];
    /* raw is kept as given, one level below the record: what nests deeper
     * than the writer and feed readers take is refused here, not in the
     * commit it would share with other records (meta: record_check). */
    json_t *raw = f[RF_RAW];
    int keep_raw = raw && !json_is_null(raw) && (ctx->keep_raw || strcmp(kind, "unknown") == 0);
    if (keep_raw && !record_check_depth(raw, KANAL_MAX_DEPTH - 1))
        return fail(&c, "field 'raw' nests deeper than %d levels", KANAL_MAX_DEPTH - 1);

    json_t *fin = f[RF_FROM];
    if (json_is_object(fin) && (r = party(&c, fin, "from", &from)))
        goto fail;
    if ((r = party_list(&c, f[RF_TO], "to", &to)) ||
        (r = party_list(&c, f[RF_MENTIONS], "mentions", &mentions)) ||
        (r = event(&c, f[RF_EVENT], &ev)))
        goto fail;
    att = attachments(f[RF_ATTACHMENTS]);

    rec = json_object();
    char id[MAX_EXTERNAL_ID + 160];
    size_t sl = strlen(ctx->source), kl = strlen(kind), el = strlen(external_id);
    json_t *idv;
    if (sl + kl + el + 3 <= sizeof id) {
        memcpy(id, ctx->source, sl);
        id[sl] = '/';
        memcpy(id + sl + 1, kind, kl);
        id[sl + 1 + kl] = '/';
        memcpy(id + sl + kl + 2, external_id, el + 1);
        idv = json_stringn_nocheck(id, sl + kl + el + 2); /* checked strings and '/' */
    } else {
        snprintf(id, sizeof id, "%s/%s/%s", ctx->source, kind, external_id);
        idv = json_string(id);
    }
    set_new(rec, "v", json_integer(1));
    set_new(rec, "seq", json_integer(0));
    set_new(rec, "id", idv);
    set_new(rec, "source", ascii_string(ctx->source)); /* a checked source name */
    set_new(rec, "channel", json_string(channel ? channel : ctx->channel));
    set_shared(rec, "kind", f[RF_KIND]);
    set_shared(rec, "direction", f[RF_DIRECTION]);
    set_new(rec, "occurred_at", ascii_string(occurred ? occurred_buf : ctx->received_at));
    set_new(rec, "received_at", ascii_string(ctx->received_at));
    /* Strings already checked are shared with the input, not copied. */
    set_shared(rec, "external_id", f[RF_EXTERNAL_ID]);
    if (str(f[RF_THREAD]))
        set_shared(rec, "thread", f[RF_THREAD]);
    if (str(f[RF_REPLY_TO]))
        set_shared(rec, "reply_to", f[RF_REPLY_TO]);
    if (from)
        set_new(rec, "from", from);
    set_new(rec, "to", to);
    set_new(rec, "mentions", mentions);
    if (str(f[RF_SUBJECT]))
        set_shared(rec, "subject", f[RF_SUBJECT]);
    if (str(f[RF_TEXT]))
        set_shared(rec, "text", f[RF_TEXT]);
    set_new(rec, "attachments", att);
    if (ev)
        set_new(rec, "event", ev);
    if (str(f[RF_CAMPAIGN]))
        set_shared(rec, "campaign", f[RF_CAMPAIGN]);
    if (str(f[RF_STATUS]))
        set_shared(rec, "status", f[RF_STATUS]);
    if (str(f[RF_CONTACT]))
        set_shared(rec, "contact", f[RF_CONTACT]);
    if (meta && json_is_object(meta))
        set_shared(rec, "meta", meta);
    else
        set_new(rec, "meta", json_object());
    if (keep_raw)
        set_shared(rec, "raw", raw);
    *out = rec;
    return 0;
fail:
    json_decref(from);
    json_decref(to);
    json_decref(mentions);
    json_decref(att);
    json_decref(ev);
    return r;
}

int record_relay(json_t *in, json_t **out, char *err, size_t err_len)
{
    struct check c = {.err = err, .err_len = err_len};
    struct record_view view;
    json_t *const *f = view.f;
    *out = NULL;
    int r = record_check_view(in, RECORD_CHECK_STORED, &view, err, err_len);
    if (r)
        return r;
    /* The id is the idempotency key this store keeps it under: one that
     * says something else would let two different records pass as one. */
    const char *id = str(f[RF_ID]), *source = str(f[RF_SOURCE]), *kind = str(f[RF_KIND]),
               *ext = str(f[RF_EXTERNAL_ID]);
    size_t sl = strlen(source), kl = strlen(kind), el = strlen(ext);
    if (strlen(id) != sl + kl + el + 2 || memcmp(id, source, sl) != 0 || id[sl] != '/' ||
        memcmp(id + sl + 1, kind, kl) != 0 || id[sl + 1 + kl] != '/' ||
        memcmp(id + sl + kl + 2, ext, el) != 0)
        return fail(&c, "field 'id' is not <source>/<kind>/<external_id>: '%.80s'", id);
    static const char *const names[RF_COUNT] = {KANAL_RECORD_FIELDS};
    json_t *rec = json_object();
    for (int i = 0; i < RF_COUNT; i++) {
        if (i == RF_SEQ)
            set_new(rec, names[i], json_integer(0)); /* this store's, at the commit */
        else if (i != RF_CONTACT && f[i] && !json_is_null(f[i]))
            set_shared(rec, names[i], f[i]);
    }
    *out = rec;
    return 0;
}

int record_check_annotation(const char *name, const json_t *value, char *err, size_t err_len)
{
    size_t n = strlen(name);
    int ok = n >= 1 && n <= 64;
    for (const char *p = name; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '-' || *p == '_' || *p == '.';
    if (!ok) {
        snprintf(err, err_len, "annotations member '%.64s' is not a processor name", name);
        return KANAL_ERECORD;
    }
    /* annotations.<name> is two levels below the record. */
    if (!record_check_depth(value, KANAL_MAX_DEPTH - 2)) {
        snprintf(err, err_len, "the annotation nests deeper than %d levels", KANAL_MAX_DEPTH - 2);
        return KANAL_ERECORD;
    }
    return 0;
}
