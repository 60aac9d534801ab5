/* SPDX-License-Identifier: Apache-2.0 */
/* The host checks every record a plugin emits: a plugin bug must end in one
 * clear log line naming the field, never in a crash or a half-written batch.
 * The checks are schema v1's, shared with kanalctl (common/record_check.c);
 * this file normalizes what passed them: handles, times, defaults, the
 * host's fields.  The stored form has a fixed field order so that records
 * read the same whichever plugin made them. */
#include "record.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "handle.h"
#include "jsonout.h"
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
    struct record_parties *parties; /* NULL: not asked for */
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

static const char *in_names(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, names[i]))
            return names[i];
    return NULL;
}

const char *record_kind_name(const char *kind)
{
    static const char *const kinds[] = {KANAL_RECORD_KINDS};
    return in_names(kind, kinds, sizeof kinds / sizeof *kinds);
}

const char *record_direction_name(const char *direction)
{
    static const char *const directions[] = {KANAL_RECORD_DIRECTIONS};
    return in_names(direction, directions, sizeof directions / sizeof *directions);
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

/* Where a record's stored form goes, member by member in the stored order:
 * jansson values (rec, for identity and processors, which read it), or
 * straight its text (o), what jsonout_dump would write of those values. */
struct recout {
    struct jsonout *o; /* the text; NULL: jansson values */
    json_t *top[4];    /* jansson: the containers open, top[0] the record */
    int count[4];      /* text: members written in each container open */
    int depth;         /* containers open */
};

/* The writers of the stored form are inlined where they are called: every
 * name is a constant there, its length too. */
#define RO_INLINE static inline __attribute__((always_inline))

/* Text: the comma before a member, its name (none in an array: a name of
 * kanald's own, which needs no escape), then value (when not NULL: a
 * string kanald made, quoted, escaped where it must be unless known to
 * be plain), written in place. */
RO_INLINE void ro_name_with(struct recout *w, const char *key, const char *value, int known_plain)
{
    size_t kl = key ? strlen(key) : 0, vl = value ? strlen(value) : 0;
    int plain = !value || known_plain || jsonout_plain(value, vl);
    char *p = jsonout_room(w->o, kl + (plain ? vl : 0) + 6), *start = p;
    if (!p)
        return;
    if (w->count[w->depth - 1]++)
        *p++ = ',';
    if (key) {
        *p++ = '"';
        memcpy(p, key, kl);
        p += kl;
        *p++ = '"';
        *p++ = ':';
    }
    if (value && plain) {
        *p++ = '"';
        memcpy(p, value, vl);
        p += vl;
        *p++ = '"';
    }
    jsonout_advance(w->o, (size_t)(p - start));
    if (!plain)
        jsonout_string(w->o, value, vl);
}

/* One byte of the text: a bracket. */
RO_INLINE void ro_byte(struct recout *w, char c)
{
    char *p = jsonout_room(w->o, 1);
    if (p) {
        *p = c;
        jsonout_advance(w->o, 1);
    }
}

#define ro_name(w, key) ro_name_with(w, key, NULL, 1)

/* Jansson: v (its reference taken) into the container open; out of line,
 * as are the other values' branches of the inlined writers. */
__attribute__((noinline)) static void ro_add(struct recout *w, const char *key, json_t *v)
{
    json_t *c = w->top[w->depth - 1];
    if (json_is_array(c))
        json_array_append_new(c, v);
    else
        json_object_set_new_nocheck(c, key, v);
}

__attribute__((noinline)) static void ro_add_string(struct recout *w, const char *key,
                                                    const char *s)
{
    ro_add(w, key, json_stringn_nocheck(s, strlen(s)));
}

__attribute__((noinline)) static void ro_begin_values(struct recout *w, const char *key, int array)
{
    json_t *c = array ? json_array() : json_object();
    if (w->depth)
        ro_add(w, key, json_incref(c));
    w->top[w->depth] = c;
}

RO_INLINE void ro_begin(struct recout *w, const char *key, int array)
{
    if (w->o) {
        if (w->depth) /* else the record itself */
            ro_name(w, key);
        ro_byte(w, array ? '[' : '{');
    } else {
        ro_begin_values(w, key, array);
    }
    w->count[w->depth++] = 0;
}

RO_INLINE void ro_end(struct recout *w, int array)
{
    w->depth--;
    if (w->o)
        ro_byte(w, array ? ']' : '}');
    else if (w->depth)
        json_decref(w->top[w->depth]); /* its container holds it */
}

/* After a refusal: the jansson values made so far freed, the containers
 * still open included (their parent holds one reference, top the other). */
static void ro_abandon(struct recout *w)
{
    if (w->o)
        return;
    while (w->depth > 1)
        json_decref(w->top[--w->depth]);
    if (w->depth)
        json_decref(w->top[0]);
    w->depth = 0;
}

/* A string made of checked strings (a handle, the id) or that kanald
 * holds (a name): valid UTF-8 without a NUL. */
RO_INLINE void ro_ascii(struct recout *w, const char *key, const char *s)
{
    if (w->o)
        ro_name_with(w, key, s, 0);
    else
        ro_add_string(w, key, s);
}

/* A string kanald wrote (a time) or chose (a constant, one of the roles):
 * nothing in it needs an escape. */
RO_INLINE void ro_const(struct recout *w, const char *key, const char *s)
{
    if (w->o)
        ro_name_with(w, key, s, 1);
    else
        ro_add_string(w, key, s);
}

/* A value of the input, shared (jansson) or written at level depth. */
RO_INLINE void ro_val(struct recout *w, const char *key, json_t *v)
{
    if (w->o) {
        ro_name(w, key);
        jsonout_value(w->o, v, w->depth + 1);
    } else {
        ro_add(w, key, json_incref(v));
    }
}

/* A member of the input under the input's own name, which may need
 * escaping (ro_val's names are kanald's). */
static void ro_input_val(struct recout *w, const char *key, json_t *v)
{
    if (w->o) {
        ro_name(w, NULL); /* the comma */
        jsonout_string(w->o, key, strlen(key));
        ro_byte(w, ':');
        jsonout_value(w->o, v, w->depth + 1);
    } else {
        ro_add(w, key, json_incref(v));
    }
}

RO_INLINE void ro_uint(struct recout *w, const char *key, uint64_t v)
{
    if (w->o) {
        ro_name(w, key);
        jsonout_uint(w->o, v);
    } else {
        ro_add(w, key, json_integer((json_int_t)v));
    }
}

/* A party's handles, normalized and without repeats, the main one first. */
struct handles {
    char *p; /* each NUL-terminated, one after the other */
    size_t len, cap, n;
    char first[1024];
};

static int handles_add(struct handles *hs, const char *h)
{
    size_t l = strlen(h);
    const char *q = hs->p;
    for (size_t i = 0; i < hs->n; i++, q += strlen(q) + 1)
        if (!strcmp(q, h))
            return 0;
    if (hs->len + l + 1 > hs->cap) {
        size_t cap = (hs->len + l + 1) * 2;
        char *p = hs->p == hs->first ? malloc(cap) : realloc(hs->p, cap);
        if (!p)
            return -1;
        if (hs->p == hs->first)
            memcpy(p, hs->first, hs->len);
        hs->p = p;
        hs->cap = cap;
    }
    memcpy(hs->p + hs->len, h, l + 1);
    hs->len += l + 1;
    hs->n++;
    return 0;
}

/* where, then suffix, then "[i]" when i >= 0, into w (cut short if need
 * be): the field names of error messages. */
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

/* A party's field, named in an error message only: list[i].field[j] ("from"
 * has no i, "handle" no j: -1). */
struct field_at {
    const char *list;
    long i;
    const char *field;
    long j;
};

static const char *field_at_path(char *w, size_t n, const struct field_at *at)
{
    char party[48];
    return field_path(w, n, field_path(party, sizeof party, at->list, "", at->i), at->field, at->j);
}

static int normalize_handle_value(struct check *c, const struct field_at *at, const char *in,
                                  struct handles *hs)
{
    char buf[512], w[64];
    const char *why = "";
    int r = handle_normalize(in, c->ctx->default_country, buf, sizeof buf, &why);
    if (r < 0)
        return fail(c, "field '%s': handle '%.60s': %s", field_at_path(w, sizeof w, at), in,
                    r == KANAL_EHANDLE ? why : "too long");
    /* buf is the handle (a jansson string: valid UTF-8) with only ASCII
     * bytes changed, trimmed or written (tolower and isspace in the C locale
     * kanald runs in), so it is valid UTF-8 too: no second check. */
    return handles_add(hs, buf)
               ? fail(c, "field '%s': out of memory", field_at_path(w, sizeof w, at))
               : 0;
}

/* n bytes of s at the end of the parties' buffer: their offset, or
 * (size_t)-1 without memory. */
static size_t parties_put(struct record_parties *rp, const char *s, size_t n)
{
    if (rp->len + n > rp->cap) {
        size_t cap = rp->cap ? rp->cap : 256;
        while (cap < rp->len + n)
            cap *= 2;
        char *b = realloc(rp->buf, cap);
        if (!b)
            return (size_t)-1;
        rp->buf = b;
        rp->cap = cap;
    }
    memcpy(rp->buf + rp->len, s, n);
    rp->len += n;
    return rp->len - n;
}

/* A customer party's handles (hs) for identity, as contacts_resolve reads
 * them from the stored party: 0, or -1 without memory. */
static int parties_add(struct record_parties *rp, const struct handles *hs, int verified)
{
    if (rp->n == RECORD_RESOLVED_MAX)
        return 0; /* contacts_resolve takes no more */
    if (rp->n == rp->pcap) {
        size_t cap = rp->pcap ? rp->pcap * 2 : 4;
        struct record_party *p = realloc(rp->p, cap * sizeof *p);
        if (!p)
            return -1;
        rp->p = p;
        rp->pcap = cap;
    }
    size_t off = parties_put(rp, hs->p, hs->len);
    if (off == (size_t)-1)
        return -1;
    rp->p[rp->n++] = (struct record_party){.n = hs->n, .verified = verified, .off = off};
    return 0;
}

void record_parties_clear(struct record_parties *rp)
{
    free(rp->p);
    free(rp->buf);
    memset(rp, 0, sizeof *rp);
}

/* A party that passed record_check, as member key of out (NULL: in an
 * array): its handles normalized, its role defaulted, its trust decided. */
static int party(struct check *c, json_t *in, const char *list, long index, json_t *const *members,
                 struct recout *out, const char *key)
{
    json_t *m[PF_COUNT];
    if (members)
        memcpy(m, members, sizeof m);
    else
        record_party_members(in, m);
    const char *role = str(m[PF_ROLE]), *trust = str(m[PF_TRUST]);
    /* The source's option overrides the plugin's mark; only "verified" is
     * stored, so that an unmarked party reads as asserted everywhere. */
    int verified = c->ctx->trust == RECORD_TRUST_VERIFIED ||
                   (c->ctx->trust == RECORD_TRUST_AUTO && trust && !strcmp(trust, "verified"));
    struct handles hs; /* first[] is not cleared: a party a record */
    hs.p = hs.first;
    hs.len = hs.n = 0;
    hs.cap = sizeof hs.first;
    struct field_at at = {list, index, ".handle", -1};
    int r = normalize_handle_value(c, &at, str(m[PF_HANDLE]), &hs);
    json_t *handles = m[PF_HANDLES];
    size_t i;
    json_t *e;
    if (json_is_array(handles)) /* record_check: an array of strings, or absent or null */
        json_array_foreach(handles, i, e)
        {
            if (r)
                break;
            at.field = ".handles";
            at.j = (long)i;
            r = normalize_handle_value(c, &at, json_string_value(e), &hs);
        }
    if (r == 0) {
        /* jansson: the main handle's one string, shared by handle and handles */
        json_t *shared = out->o ? NULL : json_stringn_nocheck(hs.p, strlen(hs.p));
        ro_begin(out, key, 0);
        if (shared)
            ro_val(out, "handle", shared);
        else
            ro_ascii(out, "handle", hs.p);
        if (str(m[PF_NAME]))
            ro_val(out, "name", m[PF_NAME]);
        ro_const(out, "role", role ? role : "customer"); /* one of roles */
        ro_begin(out, "handles", 1);
        const char *q = hs.p;
        for (size_t j = 0; j < hs.n; j++, q += strlen(q) + 1) {
            if (j == 0 && shared)
                ro_val(out, NULL, shared);
            else
                ro_ascii(out, NULL, q);
        }
        ro_end(out, 1);
        json_decref(shared);
        int customer = !role || !strcmp(role, "customer");
        if (verified && customer)
            ro_const(out, "trust", "verified");
        ro_end(out, 0);
        char w[48];
        if (customer && c->parties && parties_add(c->parties, &hs, verified) < 0)
            r = fail(c, "field '%s': out of memory", field_path(w, sizeof w, list, "", index));
    }
    if (hs.p != hs.first)
        free(hs.p);
    return r;
}

static int party_list(struct check *c, json_t *in, const char *key, struct recout *out)
{
    ro_begin(out, key, 1);
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e) /* record_check: an array of parties, or absent or null */
    {
        int r = party(c, e, key, (long)i, NULL, out, NULL);
        if (r)
            return r;
    }
    ro_end(out, 1);
    return 0;
}

/* The attachments as given, without their null members.  Their names are
 * taken as json_object_set takes them, up to a NUL (which jsonin refuses
 * in any string before). */
static void attachments(json_t *in, struct recout *out)
{
    ro_begin(out, "attachments", 1);
    size_t i;
    json_t *e;
    json_array_foreach(in, i, e) /* record_check: an array of objects, or absent or null */
    {
        ro_begin(out, NULL, 0);
        const char *key;
        json_t *v;
        json_object_foreach(e, key, v)
        {
            if (!json_is_null(v))
                ro_input_val(out, key, v);
        }
        ro_end(out, 0);
    }
    ro_end(out, 1);
}

/* The event with starts_at in the stored form, if the record has one. */
static int event(struct check *c, json_t *in, struct recout *out)
{
    if (!json_is_object(in)) /* record_check: an object, or absent or null */
        return 0;
    json_t *id = json_object_get(in, "id"), *name = json_object_get(in, "name");
    const char *starts = str(json_object_get(in, "starts_at"));
    int r;
    char ts[32];
    if (starts && (r = check_time(c, "event.starts_at", starts, ts)))
        return r;
    ro_begin(out, "event", 0);
    if (str(id)) /* record_check: required, a string */
        ro_val(out, "id", id);
    if (str(name))
        ro_val(out, "name", name);
    if (starts)
        ro_const(out, "starts_at", ts);
    ro_end(out, 0);
    return 0;
}

/* Check in and write its stored form into out, telling info what the
 * caller needs of it. */
static int normalize(json_t *in, const struct record_ctx *ctx, struct recout *out,
                     struct record_info *info, struct record_parties *parties, char *err,
                     size_t err_len)
{
    struct check c = {.err = err, .err_len = err_len, .ctx = ctx, .parties = parties};
    int r;
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

    ro_begin(out, NULL, 0);
    char id[MAX_EXTERNAL_ID + 160];
    size_t sl = strlen(ctx->source), kl = strlen(kind), el = strlen(external_id);
    ro_uint(out, "v", 1);
    ro_uint(out, "seq", 0);
    if (sl + kl + el + 3 <= sizeof id) {
        memcpy(id, ctx->source, sl);
        id[sl] = '/';
        memcpy(id + sl + 1, kind, kl);
        id[sl + 1 + kl] = '/';
        memcpy(id + sl + kl + 2, external_id, el + 1);
        ro_ascii(out, "id", id); /* checked strings and '/' */
    } else {
        char *long_id = NULL;
        if (asprintf(&long_id, "%s/%s/%s", ctx->source, kind, external_id) < 0)
            return fail(&c, "out of memory");
        ro_ascii(out, "id", long_id);
        free(long_id);
    }
    ro_ascii(out, "source", ctx->source); /* a checked source name */
    if (channel)
        ro_val(out, "channel", f[RF_CHANNEL]);
    else
        ro_ascii(out, "channel", ctx->channel);
    /* Strings already checked are shared with the input, not copied. */
    ro_val(out, "kind", f[RF_KIND]);
    ro_val(out, "direction", f[RF_DIRECTION]);
    ro_const(out, "occurred_at", occurred ? occurred_buf : ctx->received_at);
    ro_const(out, "received_at", ctx->received_at);
    ro_val(out, "external_id", f[RF_EXTERNAL_ID]);
    if (str(f[RF_THREAD]))
        ro_val(out, "thread", f[RF_THREAD]);
    if (str(f[RF_REPLY_TO]))
        ro_val(out, "reply_to", f[RF_REPLY_TO]);
    if (json_is_object(f[RF_FROM]) &&
        (r = party(&c, f[RF_FROM], "from", -1, view.from, out, "from")))
        return r;
    if ((r = party_list(&c, f[RF_TO], "to", out)) ||
        (r = party_list(&c, f[RF_MENTIONS], "mentions", out)))
        return r;
    if (str(f[RF_SUBJECT]))
        ro_val(out, "subject", f[RF_SUBJECT]);
    if (str(f[RF_TEXT]))
        ro_val(out, "text", f[RF_TEXT]);
    attachments(f[RF_ATTACHMENTS], out);
    if ((r = event(&c, f[RF_EVENT], out)))
        return r;
    if (str(f[RF_CAMPAIGN]))
        ro_val(out, "campaign", f[RF_CAMPAIGN]);
    if (str(f[RF_STATUS]))
        ro_val(out, "status", f[RF_STATUS]);
    if (str(f[RF_CONTACT]))
        ro_val(out, "contact", f[RF_CONTACT]);
    if (meta && json_is_object(meta)) {
        ro_val(out, "meta", meta);
    } else {
        ro_begin(out, "meta", 0);
        ro_end(out, 0);
    }
    if (keep_raw)
        ro_val(out, "raw", raw);
    ro_end(out, 0);
    if (info) {
        info->kind = kind;
        info->external_id = external_id;
        info->direction = str(f[RF_DIRECTION]);
        info->given_contact = str(f[RF_CONTACT]) != NULL;
    }
    return 0;
}

int record_normalize(json_t *in, const struct record_ctx *ctx, json_t **out, char *err,
                     size_t err_len)
{
    return record_normalize_info(in, ctx, out, NULL, err, err_len);
}

int record_normalize_info(json_t *in, const struct record_ctx *ctx, json_t **out,
                          struct record_info *info, char *err, size_t err_len)
{
    struct recout w = {0};
    *out = NULL;
    int r = normalize(in, ctx, &w, info, NULL, err, err_len);
    if (r) {
        ro_abandon(&w); /* what was made before the refusal */
        return r;
    }
    *out = w.top[0];
    return 0;
}

static int normalize_text(json_t *in, const struct record_ctx *ctx, struct record_info *info,
                          char **text, size_t *len, struct record_parties *parties, char *err,
                          size_t err_len)
{
    struct jsonout o = {0};
    struct recout w = {.o = &o};
    *text = NULL;
    int r = normalize(in, ctx, &w, info, parties, err, err_len);
    if (r) {
        free(o.p);
        return r;
    }
    /* NULL (errno ENOMEM, or EINVAL for a NUL or too deep a value) is the
     * caller's to report, as for jsonout_dump. */
    *text = jsonout_finish(&o, len);
    return 0;
}

int record_normalize_text(json_t *in, const struct record_ctx *ctx, struct record_info *info,
                          char **text, size_t *len, char *err, size_t err_len)
{
    return normalize_text(in, ctx, info, text, len, NULL, err, err_len);
}

int record_normalize_parties(json_t *in, const struct record_ctx *ctx, struct record_info *info,
                             char **text, size_t *len, struct record_parties *parties, char *err,
                             size_t err_len)
{
    int r = normalize_text(in, ctx, info, text, len, parties, err, err_len);
    int text_errno = errno; /* why *text is NULL, if it is: the caller reads it */
    size_t so = r ? 0 : parties_put(parties, ctx->source, strlen(ctx->source) + 1);
    size_t ro = r || so == (size_t)-1
                    ? 0
                    : parties_put(parties, ctx->received_at, strlen(ctx->received_at) + 1);
    if (!r && (so == (size_t)-1 || ro == (size_t)-1)) {
        free(*text);
        *text = NULL;
        snprintf(err, err_len, "out of memory");
        r = KANAL_ERECORD;
    }
    if (r) {
        record_parties_clear(parties);
        return r;
    }
    /* The buffer has its final place: the pointers into it. */
    parties->source = parties->buf + so;
    parties->received_at = parties->buf + ro;
    parties->received_ms = ctx->received_ms;
    for (size_t i = 0; i < parties->n; i++)
        parties->p[i].handles = parties->buf + parties->p[i].off;
    errno = text_errno;
    return 0;
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
