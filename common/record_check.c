/* SPDX-License-Identifier: Apache-2.0 */
/* Schema v1 in C: the fields and their types, the required ones, the
 * enums, the patterns of names, handles and times.  One walk serves both
 * modes; where they differ, the mode says why (record_check.h).  Field
 * names for messages are built only when a check fails: kanald runs this
 * on every record a plugin emits. */
#include "record_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kanal/plugin.h>
#include <kanal/schema.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_EXTERNAL_ID 1024

static const char *const kinds[] = {KANAL_RECORD_KINDS};
static const char *const kinds_without_from[] = {KANAL_KINDS_WITHOUT_FROM};
static const char *const directions[] = {KANAL_RECORD_DIRECTIONS};
static const char *const statuses[] = {KANAL_RECORD_STATUSES};
static const char *const roles[] = {KANAL_PARTY_ROLES};
static const char *const trusts[] = {KANAL_PARTY_TRUSTS};
static const char *const record_fields[] = {KANAL_RECORD_FIELDS};
static const char *const required_fields[] = {KANAL_RECORD_REQUIRED_FIELDS};
static const char *const party_fields[] = {KANAL_PARTY_FIELDS};
static const char *const attachment_fields[] = {KANAL_ATTACHMENT_FIELDS};
static const char *const event_fields[] = {KANAL_EVENT_FIELDS};
/* Optional members that only need to be strings. */
static const enum record_field plain_strings[] = {RF_THREAD, RF_REPLY_TO, RF_SUBJECT,
                                                  RF_TEXT,   RF_CAMPAIGN, RF_CONTACT};

struct check {
    enum record_check_mode mode;
    char *err;
    size_t err_len;
};

_Static_assert(LEN(record_fields) == RF_COUNT, "enum record_field follows KANAL_RECORD_FIELDS");
_Static_assert(LEN(party_fields) == PF_COUNT, "enum party_field follows KANAL_PARTY_FIELDS");

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

int record_check_kind(const char *kind)
{
    return in_list(kind, kinds, LEN(kinds));
}

int record_check_needs_from(const char *kind)
{
    return !in_list(kind, kinds_without_from, LEN(kinds_without_from));
}

/* The code point of the UTF-8 sequence at s (valid UTF-8: jansson checked
 * it), its length in *len. */
static unsigned long code_point(const unsigned char *s, size_t *len)
{
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
    unsigned long cp = s[0] & (0x3F >> (n - 1));
    size_t i = 1;
    for (; i < n && s[i]; i++) /* never past the end, whatever the bytes */
        cp = cp << 6 | (s[i] & 0x3F);
    *len = i;
    return cp;
}

/* What the schema's patterns (ECMA-262 regular expressions) take for \s:
 * white space and line terminators. */
static int is_space(unsigned long cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

/* scheme:value, the scheme a lower-case word of at most 32 characters, the
 * value starting with a non-space and on one line: the schema's
 * "^[a-z][a-z0-9_-]{0,31}:[^\s].*$", where "." matches no line terminator
 * (\n, \r, U+2028, U+2029). */
int record_check_handle(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || colon - s > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (const char *p = s + 1; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    const unsigned char *v = (const unsigned char *)colon + 1;
    size_t len;
    if (!*v || is_space(code_point(v, &len)))
        return 0;
    for (v += len; *v; v += len) {
        unsigned long cp = code_point(v, &len);
        if (cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029)
            return 0;
    }
    return 1;
}

/* s matches the shape, where 'd' is a digit and anything else itself. */
static int has_shape(const char *s, const char *shape)
{
    for (; *shape; s++, shape++)
        if (*shape == 'd' ? !(*s >= '0' && *s <= '9') : *s != *shape)
            return 0;
    return *s == '\0';
}

static int is_time(const char *s)
{
    return has_shape(s, "dddd-dd-ddTdd:dd:dd.dddZ");
}

/* Characters in UTF-8 (what JSON Schema's lengths count). */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* 1 to max characters, each in [a-z0-9_-], or with upper: [A-Za-z0-9_.-]. */
static int is_name(const char *s, size_t max, int upper)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (; *s; s++) {
        char ch = *s;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
                 (upper && ((ch >= 'A' && ch <= 'Z') || ch == '.'));
        if (!ok)
            return 0;
    }
    return 1;
}

/* 1 when v nests no more than max levels (v itself is the first), as
 * kanald's JSON reader counts them; stops as soon as it knows. */
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

/* A member; in emitted mode null counts as absent. */
static json_t *member(struct check *c, json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return c->mode == RECORD_CHECK_EMITTED && json_is_null(v) ? NULL : v;
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

/* Every member of obj into out[] by its index in allowed (absent: NULL),
 * in one walk: a member not in allowed fails, as only_fields.  Members
 * mostly come in the schema's order, so the search starts after the last
 * match and compares a first byte before a whole name: a strcmp against
 * every name before the member's was a hundred calls per record. */
static int collect(struct check *c, json_t *obj, const char *where, const char *const *allowed,
                   size_t n, json_t **out)
{
    size_t next = 0;
    memset(out, 0, n * sizeof *out);
    /* The iterator itself: json_object_foreach finds it again from the key
     * twice per member. */
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t i = next, tried = 0;
        for (; tried < n; tried++, i = i + 1 < n ? i + 1 : 0)
            if (key[0] == allowed[i][0] && strcmp(key, allowed[i]) == 0)
                break;
        if (tried == n)
            return fail(c, "field '%s%s' is not part of schema v1", where, key);
        out[i] = json_object_iter_value(it);
        next = i + 1 < n ? i + 1 : 0;
    }
    return 0;
}

/* A collected member; in emitted mode null counts as absent. */
static json_t *got(const struct check *c, json_t *v)
{
    return c->mode == RECORD_CHECK_EMITTED && json_is_null(v) ? NULL : v;
}

/* A collected string member or absent: 0 with *out the string (or NULL). */
static int got_string(struct check *c, json_t *v, const char *where, const char *name,
                      const char **out)
{
    v = got(c, v);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return fail(c, "field '%s%s' must be a string", where, name);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(c, "field '%s%s' contains a NUL character", where, name);
    *out = json_string_value(v);
    return 0;
}

/* A string member or absent: 0 with *out the string (or NULL). */
static int opt_string(struct check *c, json_t *obj, const char *where, const char *name,
                      const char **out)
{
    return got_string(c, json_object_get(obj, name), where, name, out);
}

void record_party_members(json_t *p, json_t *out[PF_COUNT])
{
    struct check c = {.mode = RECORD_CHECK_STORED};
    (void)collect(&c, p, "", party_fields, PF_COUNT, out); /* checked: cannot fail */
}

/* "from", or "to[3]": the name of a party in messages. */
static const char *party_name(char *buf, size_t n, const char *list, long i)
{
    if (i < 0)
        return list;
    snprintf(buf, n, "%s[%ld]", list, i);
    return buf;
}

static int party_strings(struct check *c, json_t *p, const char *where, json_t **m,
                         const char **handle, const char **role, const char **trust)
{
    const char *name;
    int r;
    if ((r = collect(c, p, where, party_fields, PF_COUNT, m)) ||
        (r = got_string(c, m[PF_HANDLE], where, "handle", handle)) ||
        (r = got_string(c, m[PF_NAME], where, "name", &name)) ||
        (r = got_string(c, m[PF_ROLE], where, "role", role)) ||
        (r = got_string(c, m[PF_TRUST], where, "trust", trust)))
        return r;
    return 0;
}

/* The party's name ("from", "to[3]") is made only for a message. */
#define PN party_name(name, sizeof name, list, i)

/* Party p; its members go to m. */
static int check_party(struct check *c, json_t *p, const char *list, long i, json_t **m)
{
    char name[48], w[56];
    int stored = c->mode == RECORD_CHECK_STORED;
    if (!json_is_object(p))
        return fail(c, "field '%s' must be an object {handle, name, role, handles}",
                    party_name(name, sizeof name, list, i));
    const char *handle, *role, *trust;
    /* The party's name is made for a message only: on failure, again with it. */
    if (party_strings(c, p, "", m, &handle, &role, &trust)) {
        snprintf(w, sizeof w, "%s.", party_name(name, sizeof name, list, i));
        return party_strings(c, p, w, m, &handle, &role, &trust);
    }
    if (!handle)
        return fail(c, "field '%s.handle' is required", PN);
    if (stored && !record_check_handle(handle))
        return fail(c, "field '%s.handle' is not a handle (scheme:value): '%.60s'", PN, handle);
    if (stored && !role)
        return fail(c, "field '%s.role' is required", PN);
    if (role && !in_list(role, roles, LEN(roles)))
        return fail(c, "field '%s.role' must be customer or brand", PN);
    if (trust && !in_list(trust, trusts, LEN(trusts)))
        return fail(c, "field '%s.trust' must be verified or asserted", PN);
    json_t *hs = got(c, m[PF_HANDLES]);
    if (!hs && stored)
        return fail(c, "field '%s.handles' is required", PN);
    if (hs && !json_is_array(hs))
        return fail(c, "field '%s.handles' must be an array of strings", PN);
    if (stored && json_array_size(hs) == 0)
        return fail(c, "field '%s.handles' must not be empty", PN);
    size_t j;
    json_t *h;
    json_array_foreach(hs, j, h)
    {
        if (!json_is_string(h))
            return fail(c, "field '%s.handles[%zu]' must be a string", PN, j);
        if (strlen(json_string_value(h)) != json_string_length(h))
            return fail(c, "field '%s.handles[%zu]' contains a NUL character", PN, j);
        if (stored && !record_check_handle(json_string_value(h)))
            return fail(c, "field '%s.handles[%zu]' is not a handle (scheme:value)", PN, j);
    }
    return 0;
}
#undef PN

static int check_parties(struct check *c, json_t *a, const char *list)
{
    a = got(c, a);
    if (!a)
        return c->mode == RECORD_CHECK_STORED ? fail(c, "field '%s' is required", list) : 0;
    if (!json_is_array(a))
        return fail(c, "field '%s' must be an array of parties", list);
    size_t i;
    json_t *p;
    json_array_foreach(a, i, p)
    {
        json_t *m[PF_COUNT];
        int r = check_party(c, p, list, (long)i, m);
        if (r)
            return r;
    }
    return 0;
}

static int check_attachments(struct check *c, json_t *a)
{
    if (!a)
        return c->mode == RECORD_CHECK_STORED ? fail(c, "field 'attachments' is required") : 0;
    size_t i;
    json_t *e;
    if (!json_is_array(a))
        goto bad;
    json_array_foreach(a, i, e)
    {
        char w[48];
        if (!json_is_object(e))
            goto bad;
        snprintf(w, sizeof w, "attachments[%zu].", i);
        int r = only_fields(c, e, w, attachment_fields, LEN(attachment_fields));
        if (r)
            return r;
        const char *s;
        for (size_t f = 0; f < LEN(attachment_fields); f++)
            if (strcmp(attachment_fields[f], "size") != 0 &&
                (r = opt_string(c, e, w, attachment_fields[f], &s)))
                return r;
        if (!member(c, e, "type"))
            return fail(c, "field '%stype' is required", w);
        json_t *size = member(c, e, "size");
        if (size && (!json_is_integer(size) || json_integer_value(size) < 0))
            return fail(c, "field '%ssize' must be a non-negative integer", w);
    }
    return 0;
bad:
    return fail(c, "field 'attachments' must be an array of objects {type, url, mime, size, name}");
}

static int check_event(struct check *c, json_t *e)
{
    if (!e)
        return 0;
    if (!json_is_object(e))
        return fail(c, "field 'event' must be an object {id, name, starts_at}");
    const char *id, *name, *starts;
    int r;
    if ((r = only_fields(c, e, "event.", event_fields, LEN(event_fields))) ||
        (r = opt_string(c, e, "event.", "id", &id)) ||
        (r = opt_string(c, e, "event.", "name", &name)) ||
        (r = opt_string(c, e, "event.", "starts_at", &starts)))
        return r;
    if (!id || !*id)
        return fail(c, "field 'event.id' is required");
    if (starts && c->mode == RECORD_CHECK_STORED && !is_time(starts))
        return fail(c, "field 'event.starts_at' is not an RFC 3339 UTC time with milliseconds");
    return 0;
}

/* v, seq, id, source, received_at: the host's fields. */
static int check_host_fields(struct check *c, json_t *rec, json_t *const *f)
{
    json_t *v = got(c, f[RF_V]);
    if (c->mode == RECORD_CHECK_EMITTED) {
        /* annotations come from processors ([processor NAME]), after this. */
        static const enum record_field assigned[] = {RF_SEQ, RF_ID, RF_RECEIVED_AT, RF_ANNOTATIONS};
        for (size_t i = 0; i < LEN(assigned); i++)
            if (f[assigned[i]])
                return fail(c, "field '%s' is assigned by kanald; leave it out",
                            record_fields[assigned[i]]);
        if (v && !(json_is_integer(v) && json_integer_value(v) == 1))
            return fail(c, "field 'v' must be 1 (this kanald writes schema version 1)");
        const char *source;
        return got_string(c, f[RF_SOURCE], "", "source", &source);
    }
    for (size_t i = 0; i < LEN(required_fields); i++)
        if (!json_object_get(rec, required_fields[i]))
            return fail(c, "field '%s' is required", required_fields[i]);
    if (!(json_is_integer(v) && json_integer_value(v) == 1))
        return fail(c, "field 'v' must be 1");
    json_t *seq = f[RF_SEQ];
    if (!json_is_integer(seq) || json_integer_value(seq) < 1)
        return fail(c, "field 'seq' must be a positive integer");
    const char *id, *source, *received;
    int r;
    if ((r = got_string(c, f[RF_ID], "", "id", &id)) ||
        (r = got_string(c, f[RF_SOURCE], "", "source", &source)) ||
        (r = got_string(c, f[RF_RECEIVED_AT], "", "received_at", &received)))
        return r;
    if (utf8_length(id) < 5)
        return fail(c, "field 'id' must be a string of 5 or more characters");
    if (!is_name(source, 64, 1))
        return fail(c, "field 'source' must be 1-64 of [A-Za-z0-9_.-]");
    if (!is_time(received))
        return fail(c, "field 'received_at' is not an RFC 3339 UTC time with milliseconds");
    return 0;
}

int record_check(json_t *rec, enum record_check_mode mode, char *err, size_t err_len)
{
    struct record_view view;
    return record_check_view(rec, mode, &view, err, err_len);
}

int record_check_view(json_t *rec, enum record_check_mode mode, struct record_view *view, char *err,
                      size_t err_len)
{
    struct check c0 = {.mode = mode, .err = err, .err_len = err_len}, *c = &c0;
    json_t **f = view->f;
    int stored = mode == RECORD_CHECK_STORED;
    int r;
    if (!json_is_object(rec))
        return fail(c, "a record must be a JSON object");
    if ((r = collect(c, rec, "", record_fields, RF_COUNT, f)) || (r = check_host_fields(c, rec, f)))
        return r;
    const char *channel, *kind, *direction, *occurred, *ext, *status, *s;
    if ((r = got_string(c, f[RF_CHANNEL], "", "channel", &channel)) ||
        (r = got_string(c, f[RF_KIND], "", "kind", &kind)) ||
        (r = got_string(c, f[RF_DIRECTION], "", "direction", &direction)) ||
        (r = got_string(c, f[RF_OCCURRED_AT], "", "occurred_at", &occurred)) ||
        (r = got_string(c, f[RF_EXTERNAL_ID], "", "external_id", &ext)) ||
        (r = got_string(c, f[RF_STATUS], "", "status", &status)))
        return r;
    for (size_t i = 0; i < LEN(plain_strings); i++)
        if ((r = got_string(c, f[plain_strings[i]], "", record_fields[plain_strings[i]], &s)))
            return r;
    if (!kind)
        return fail(c, "field 'kind' is required");
    if (!record_check_kind(kind))
        return fail(c, "field 'kind' has unknown value '%.40s'", kind);
    if (!direction)
        return fail(c, "field 'direction' is required");
    if (!in_list(direction, directions, LEN(directions)))
        return fail(c, "field 'direction' must be inbound, outbound or peer, not '%.40s'",
                    direction);
    if (!ext || !*ext)
        return fail(c, "field 'external_id' is required");
    /* The schema counts characters; kanald takes at most 1024 bytes, so
     * that what it stores always passes. */
    if (stored ? utf8_length(ext) > MAX_EXTERNAL_ID : strlen(ext) > MAX_EXTERNAL_ID)
        return fail(c, "field 'external_id' is longer than %d %s", MAX_EXTERNAL_ID,
                    stored ? "characters" : "bytes");
    if (channel && !is_name(channel, 32, 0))
        return fail(c, "field 'channel' must be 1-32 of [a-z0-9_-]");
    if (status && !in_list(status, statuses, LEN(statuses)))
        return fail(c, "field 'status' must be sent, delivered, read or failed");
    if (stored && !is_time(occurred))
        return fail(c, "field 'occurred_at' is not an RFC 3339 UTC time with milliseconds");
    json_t *meta = got(c, f[RF_META]);
    if (meta && !json_is_object(meta))
        return fail(c, "field 'meta' must be an object");
    json_t *ann = got(c, f[RF_ANNOTATIONS]);
    if (ann) {
        if (!json_is_object(ann))
            return fail(c, "field 'annotations' must be an object");
        const char *pname;
        json_t *pv;
        json_object_foreach(ann, pname, pv)
        {
            (void)pv;
            if (!is_name(pname, 64, 1))
                return fail(c, "field 'annotations': '%.40s' is not a processor name", pname);
        }
    }
    /* What nests deeper than the writer and feed readers take is refused
     * here, not in the commit it would share with other records. */
    if (!stored && meta && !depth_within(meta, KANAL_MAX_DEPTH - 1))
        return fail(c, "field 'meta' nests deeper than %d levels", KANAL_MAX_DEPTH - 1);

    json_t *from = got(c, f[RF_FROM]);
    memset(view->from, 0, sizeof view->from);
    if (from) {
        if ((r = check_party(c, from, "from", -1, view->from)))
            return r;
    } else if (record_check_needs_from(kind)) {
        return fail(c, "field 'from' is required for kind '%s'", kind);
    }
    if ((r = check_parties(c, f[RF_TO], "to")) ||
        (r = check_parties(c, f[RF_MENTIONS], "mentions")) ||
        (r = check_attachments(c, got(c, f[RF_ATTACHMENTS]))) ||
        (r = check_event(c, got(c, f[RF_EVENT]))))
        return r;
    return 0;
}

int record_check_depth(const json_t *v, int max)
{
    return depth_within(v, max);
}
