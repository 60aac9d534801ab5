/* The host checks every record a plugin emits: a plugin bug must end in one
 * clear log line naming the field, never in a crash or a half-written batch.
 * The stored form has a fixed field order so that records read the same
 * whichever plugin made them. */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "handle.h"
#include "util.h"

static const char *const kinds[] = {KANAL_RECORD_KINDS};
static const char *const directions[] = {KANAL_RECORD_DIRECTIONS};
static const char *const statuses[] = {KANAL_RECORD_STATUSES};
static const char *const roles[] = {KANAL_PARTY_ROLES};
static const char *const trusts[] = {KANAL_PARTY_TRUSTS};
static const char *const kinds_without_from[] = {KANAL_KINDS_WITHOUT_FROM};

/* Fields a plugin may set, in stored order; the host fills v, seq, id,
 * source and received_at. */
static const char *const record_fields[] = {KANAL_RECORD_FIELDS};

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

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[0] == list[i][0] && strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

int record_kind_valid(const char *kind)
{
    return in_list(kind, kinds, ARRAY_SIZE(kinds));
}

/* A string member, or absent/null (then *out is NULL). */
static int opt_string(struct check *c, json_t *obj, const char *where, const char *name,
                      const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(c, "field '%s%s' must be a string", where, name);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(c, "field '%s%s' contains a NUL character", where, name);
    *out = json_string_value(v);
    return 0;
}

/* 1 when v nests no more than max levels (v itself is the first), as
 * jsonin counts them; stops as soon as it knows. */
static int depth_within(const json_t *v, int max)
{
    if (max < 1)
        return 0;
    if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m) if (!depth_within(m, max - 1)) return 0;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (!depth_within(e, max - 1)) return 0;
    }
    return 1;
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

static int only_fields(struct check *c, json_t *obj, const char *where, const char *const *allowed,
                       size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (!in_list(key, allowed, n))
            return fail(c, "field '%s%s' is not part of schema v1", where, key);
    }
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
    *out = json_string(buf);
    return *out ? 0 : fail(c, "field '%s' is not valid UTF-8", where);
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

static int party(struct check *c, json_t *in, const char *where, json_t **out)
{
    static const char *const party_fields[] = {KANAL_PARTY_FIELDS};
    char w[64];
    if (!json_is_object(in))
        return fail(c, "field '%s' must be an object {handle, name, role, handles}", where);
    field_path(w, sizeof w, where, ".", -1);
    int r = only_fields(c, in, w, party_fields, ARRAY_SIZE(party_fields));
    if (r)
        return r;
    const char *handle, *name, *role, *trust;
    if ((r = opt_string(c, in, w, "handle", &handle)) ||
        (r = opt_string(c, in, w, "name", &name)) || (r = opt_string(c, in, w, "role", &role)) ||
        (r = opt_string(c, in, w, "trust", &trust)))
        return r;
    if (!handle)
        return fail(c, "field '%s.handle' is required", where);
    if (role && !in_list(role, roles, ARRAY_SIZE(roles)))
        return fail(c, "field '%s.role' must be customer or brand", where);
    if (trust && !in_list(trust, trusts, ARRAY_SIZE(trusts)))
        return fail(c, "field '%s.trust' must be verified or asserted", where);
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
        set_shared(p, "name", json_object_get(in, "name"));
    set_new(p, "role", ascii_string(role ? role : "customer")); /* one of roles */
    /* handles lists every identifier of the party, the main one first. */
    json_t *list = json_array();
    json_array_append(list, h);
    json_t *hs = json_object_get(in, "handles");
    if (hs && !json_is_null(hs)) {
        if (!json_is_array(hs)) {
            json_decref(list);
            json_decref(p);
            return fail(c, "field '%s.handles' must be an array of strings", where);
        }
        size_t i;
        json_t *e;
        json_array_foreach(hs, i, e)
        {
            json_t *nh = NULL;
            field_path(w, sizeof w, where, ".handles", (long)i);
            if (!json_is_string(e)) {
                r = fail(c, "field '%s' must be a string", w);
            } else {
                r = normalize_handle_value(c, w, json_string_value(e), &nh);
            }
            if (r) {
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
    if (!in || json_is_null(in))
        return 0;
    if (!json_is_array(in)) {
        json_decref(*out);
        *out = NULL;
        return fail(c, "field '%s' must be an array of parties", where);
    }
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e)
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

static int attachments(struct check *c, json_t *in, json_t **out)
{
    static const char *const fields[] = {KANAL_ATTACHMENT_FIELDS};
    *out = json_array();
    if (!in || json_is_null(in))
        return 0;
    if (!json_is_array(in))
        goto bad;
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e)
    {
        char w[48];
        snprintf(w, sizeof w, "attachments[%zu].", i);
        if (!json_is_object(e))
            goto bad;
        int r = only_fields(c, e, w, fields, ARRAY_SIZE(fields));
        const char *type, *s;
        if (!r)
            r = opt_string(c, e, w, "type", &type);
        if (!r && !type)
            r = fail(c, "field '%stype' is required", w);
        for (size_t f = 1; !r && f < ARRAY_SIZE(fields); f++)
            if (strcmp(fields[f], "size") != 0)
                r = opt_string(c, e, w, fields[f], &s);
        json_t *size = json_object_get(e, "size");
        if (!r && size && !json_is_null(size) &&
            (!json_is_integer(size) || json_integer_value(size) < 0))
            r = fail(c, "field '%ssize' must be a non-negative integer", w);
        if (r) {
            json_decref(*out);
            *out = NULL;
            return r;
        }
        json_t *copy = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(e, key, v)
        {
            if (!json_is_null(v))
                json_object_set(copy, key, v);
        }
        json_array_append_new(*out, copy);
    }
    return 0;
bad:
    json_decref(*out);
    *out = NULL;
    return fail(c, "field 'attachments' must be an array of objects {type, url, mime, size, name}");
}

static int event(struct check *c, json_t *in, json_t **out)
{
    static const char *const fields[] = {KANAL_EVENT_FIELDS};
    *out = NULL;
    if (!in || json_is_null(in))
        return 0;
    if (!json_is_object(in))
        return fail(c, "field 'event' must be an object {id, name, starts_at}");
    int r = only_fields(c, in, "event.", fields, ARRAY_SIZE(fields));
    const char *id, *name, *starts;
    if (r || (r = opt_string(c, in, "event.", "id", &id)) ||
        (r = opt_string(c, in, "event.", "name", &name)) ||
        (r = opt_string(c, in, "event.", "starts_at", &starts)))
        return r;
    if (!id || !*id)
        return fail(c, "field 'event.id' is required");
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
    if (!json_is_object(in))
        return fail(&c, "a record must be a JSON object");
    if ((r = only_fields(&c, in, "", record_fields, ARRAY_SIZE(record_fields))))
        return r;
    static const char *const assigned[] = {"seq", "id", "received_at"};
    for (size_t i = 0; i < ARRAY_SIZE(assigned); i++)
        if (json_object_get(in, assigned[i]))
            return fail(&c, "field '%s' is assigned by kanald; leave it out", assigned[i]);
    json_t *v = json_object_get(in, "v");
    if (v && !(json_is_integer(v) && json_integer_value(v) == 1))
        return fail(&c, "field 'v' must be 1 (this kanald writes schema version 1)");

    const char *source, *channel, *kind, *direction, *occurred, *external_id;
    const char *optional[7];
    static const char *const optional_names[7] = {"thread", "reply_to", "subject", "text",
                                                  "campaign", "status",   "contact"};
    if ((r = opt_string(&c, in, "", "source", &source)) ||
        (r = opt_string(&c, in, "", "channel", &channel)) ||
        (r = opt_string(&c, in, "", "kind", &kind)) ||
        (r = opt_string(&c, in, "", "direction", &direction)) ||
        (r = opt_string(&c, in, "", "occurred_at", &occurred)) ||
        (r = opt_string(&c, in, "", "external_id", &external_id)))
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(optional_names); i++)
        if ((r = opt_string(&c, in, "", optional_names[i], &optional[i])))
            return r;
    if (source && strcmp(source, ctx->source) != 0)
        return fail(&c, "field 'source' is '%.64s' but the record comes from source '%s'", source,
                    ctx->source);
    if (!kind)
        return fail(&c, "field 'kind' is required");
    if (!record_kind_valid(kind))
        return fail(&c, "field 'kind' has unknown value '%.40s'", kind);
    if (!direction)
        return fail(&c, "field 'direction' is required");
    if (!in_list(direction, directions, ARRAY_SIZE(directions)))
        return fail(&c, "field 'direction' must be inbound, outbound or peer");
    if (!external_id || !*external_id)
        return fail(&c, "field 'external_id' is required");
    if (strlen(external_id) > MAX_EXTERNAL_ID)
        return fail(&c, "field 'external_id' is longer than %d bytes", MAX_EXTERNAL_ID);
    if (channel) {
        size_t n = strlen(channel);
        if (n == 0 || n > 32)
            return fail(&c, "field 'channel' must be 1-32 characters");
        for (const char *p = channel; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
                return fail(&c, "field 'channel' must be lower-case letters, digits, '_' or '-'");
    }
    const char *status = optional[5];
    if (status && !in_list(status, statuses, ARRAY_SIZE(statuses)))
        return fail(&c, "field 'status' must be sent, delivered, read or failed");
    char occurred_buf[32];
    if (occurred && (r = check_time(&c, "occurred_at", occurred, occurred_buf)))
        return r;
    json_t *meta = json_object_get(in, "meta");
    if (meta && !json_is_null(meta) && !json_is_object(meta))
        return fail(&c, "field 'meta' must be an object");
    /* meta and raw are kept as given, one level below the record: what
     * nests deeper than the writer and feed readers take is refused here,
     * not in the commit it would share with other records. */
    json_t *raw = json_object_get(in, "raw");
    int keep_raw = raw && !json_is_null(raw) && (ctx->keep_raw || strcmp(kind, "unknown") == 0);
    if (json_is_object(meta) && !depth_within(meta, KANAL_MAX_DEPTH - 1))
        return fail(&c, "field 'meta' nests deeper than %d levels", KANAL_MAX_DEPTH - 1);
    if (keep_raw && !depth_within(raw, KANAL_MAX_DEPTH - 1))
        return fail(&c, "field 'raw' nests deeper than %d levels", KANAL_MAX_DEPTH - 1);

    json_t *fin = json_object_get(in, "from");
    int needs_from = !in_list(kind, kinds_without_from, ARRAY_SIZE(kinds_without_from));
    if (fin && !json_is_null(fin)) {
        if ((r = party(&c, fin, "from", &from)))
            goto fail;
    } else if (needs_from) {
        r = fail(&c, "field 'from' is required for kind '%s'", kind);
        goto fail;
    }
    if ((r = party_list(&c, json_object_get(in, "to"), "to", &to)) ||
        (r = party_list(&c, json_object_get(in, "mentions"), "mentions", &mentions)) ||
        (r = attachments(&c, json_object_get(in, "attachments"), &att)) ||
        (r = event(&c, json_object_get(in, "event"), &ev)))
        goto fail;

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
    set_shared(rec, "kind", json_object_get(in, "kind"));
    set_shared(rec, "direction", json_object_get(in, "direction"));
    set_new(rec, "occurred_at", ascii_string(occurred ? occurred_buf : ctx->received_at));
    set_new(rec, "received_at", ascii_string(ctx->received_at));
    /* Strings already checked are shared with the input, not copied. */
    set_shared(rec, "external_id", json_object_get(in, "external_id"));
    if (optional[0])
        set_shared(rec, "thread", json_object_get(in, "thread"));
    if (optional[1])
        set_shared(rec, "reply_to", json_object_get(in, "reply_to"));
    if (from)
        set_new(rec, "from", from);
    set_new(rec, "to", to);
    set_new(rec, "mentions", mentions);
    if (optional[2])
        set_shared(rec, "subject", json_object_get(in, "subject"));
    if (optional[3])
        set_shared(rec, "text", json_object_get(in, "text"));
    set_new(rec, "attachments", att);
    if (ev)
        set_new(rec, "event", ev);
    if (optional[4])
        set_shared(rec, "campaign", json_object_get(in, "campaign"));
    if (status)
        set_shared(rec, "status", json_object_get(in, "status"));
    if (optional[6])
        set_shared(rec, "contact", json_object_get(in, "contact"));
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
