/* The structural checks of the record schema, version 1, in C: the fields
 * and their types, the required ones, the enums, the patterns of times,
 * names and handles.  It mirrors sdk/schema/interaction-v1.json; keep the
 * two in step. */
#include "kanalctl.h"

#include <kanal/schema.h>

#include <stdarg.h>
#include <string.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const kinds[] = {KANAL_RECORD_KINDS};
/* Kinds that need no "from": no party acted. */
static const char *const kinds_without_from[] = {KANAL_KINDS_WITHOUT_FROM};
static const char *const directions[] = {KANAL_RECORD_DIRECTIONS};
static const char *const statuses[] = {KANAL_RECORD_STATUSES};
static const char *const roles[] = {KANAL_PARTY_ROLES};

static const char *const record_fields[] = {KANAL_RECORD_FIELDS};
static const char *const required_fields[] = {KANAL_RECORD_REQUIRED_FIELDS};
static const char *const party_fields[] = {KANAL_PARTY_FIELDS};
static const char *const trusts[] = {KANAL_PARTY_TRUSTS};
static const char *const attachment_fields[] = {KANAL_ATTACHMENT_FIELDS};
static const char *const event_fields[] = {KANAL_EVENT_FIELDS};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
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

/* 1 to max characters, each in the set; lower: only lower-case letters. */
static int is_name(const char *s, size_t max, int lower)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 (!lower && ((c >= 'A' && c <= 'Z') || c == '.'));
        if (!ok)
            return 0;
    }
    return 1;
}

/* scheme:value, the scheme a lower-case word, the value starting with a
 * non-space and on one line. */
static int is_handle(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || colon - s > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (const char *p = s + 1; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    const char *v = colon + 1;
    if (!*v || strchr(" \t\r\n\f\v", *v))
        return 0;
    return !strpbrk(v, "\r\n");
}

static int only_fields(json_t *obj, const char *const *allowed, size_t n, const char *where,
                       char *why, size_t len)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        if (!in_list(key, allowed, n))
            return fail(why, len, "%sunknown field '%s'", where, key);
    }
    return 0;
}

static int check_party(json_t *p, const char *where, char *why, size_t len)
{
    if (!json_is_object(p))
        return fail(why, len, "%s: not an object", where);
    char w[64];
    snprintf(w, sizeof w, "%s: ", where);
    if (only_fields(p, party_fields, LEN(party_fields), w, why, len))
        return -1;
    const char *handle = ctl_str(p, "handle"), *role = ctl_str(p, "role");
    json_t *name = json_object_get(p, "name"), *handles = json_object_get(p, "handles");
    if (!handle)
        return fail(why, len, "%s.handle: missing or not a string", where);
    if (!is_handle(handle))
        return fail(why, len, "%s.handle: '%s' is not scheme:value", where, handle);
    if (name && !json_is_string(name))
        return fail(why, len, "%s.name: not a string", where);
    if (!role || !in_list(role, roles, LEN(roles)))
        return fail(why, len, "%s.role: missing or not customer or brand", where);
    json_t *trust = json_object_get(p, "trust");
    if (trust && (!json_is_string(trust) || !in_list(json_string_value(trust), trusts, LEN(trusts))))
        return fail(why, len, "%s.trust: not verified or asserted", where);
    if (!json_is_array(handles) || json_array_size(handles) == 0)
        return fail(why, len, "%s.handles: missing, empty or not an array", where);
    size_t i;
    json_t *h;
    json_array_foreach(handles, i, h)
    {
        if (!json_is_string(h) || !is_handle(json_string_value(h)))
            return fail(why, len, "%s.handles[%zu]: not a handle (scheme:value)", where, i);
    }
    return 0;
}

static int check_parties(json_t *rec, const char *field, char *why, size_t len)
{
    json_t *a = json_object_get(rec, field);
    if (!json_is_array(a))
        return fail(why, len, "%s: not an array", field);
    size_t i;
    json_t *p;
    json_array_foreach(a, i, p)
    {
        char where[48];
        snprintf(where, sizeof where, "%s[%zu]", field, i);
        if (check_party(p, where, why, len))
            return -1;
    }
    return 0;
}

static int check_attachments(json_t *a, char *why, size_t len)
{
    if (!json_is_array(a))
        return fail(why, len, "attachments: not an array");
    size_t i;
    json_t *att;
    json_array_foreach(a, i, att)
    {
        char w[48];
        snprintf(w, sizeof w, "attachments[%zu]: ", i);
        if (!json_is_object(att))
            return fail(why, len, "%snot an object", w);
        if (only_fields(att, attachment_fields, LEN(attachment_fields), w, why, len))
            return -1;
        if (!ctl_str(att, "type"))
            return fail(why, len, "%stype missing or not a string", w);
        const char *key;
        json_t *v;
        json_object_foreach(att, key, v)
        {
            if (strcmp(key, "size") == 0) {
                if (!json_is_integer(v) || json_integer_value(v) < 0)
                    return fail(why, len, "%ssize: not a non-negative integer", w);
            } else if (!json_is_string(v)) {
                return fail(why, len, "%s%s: not a string", w, key);
            }
        }
    }
    return 0;
}

static int check_event(json_t *e, char *why, size_t len)
{
    if (!json_is_object(e))
        return fail(why, len, "event: not an object");
    if (only_fields(e, event_fields, LEN(event_fields), "event: ", why, len))
        return -1;
    const char *id = ctl_str(e, "id");
    if (!id || !*id)
        return fail(why, len, "event.id: missing, empty or not a string");
    json_t *name = json_object_get(e, "name"), *starts = json_object_get(e, "starts_at");
    if (name && !json_is_string(name))
        return fail(why, len, "event.name: not a string");
    if (starts && !(json_is_string(starts) && is_time(json_string_value(starts))))
        return fail(why, len, "event.starts_at: not an RFC 3339 UTC time with milliseconds");
    return 0;
}

/* The string fields with a shape of their own; the other optional strings
 * only need to be strings. */
static int check_strings(json_t *rec, char *why, size_t len)
{
    static const char *const plain[] = {"thread", "reply_to", "subject",
                                        "text",   "campaign", "contact"};
    for (size_t i = 0; i < LEN(plain); i++) {
        json_t *v = json_object_get(rec, plain[i]);
        if (v && !json_is_string(v))
            return fail(why, len, "%s: not a string", plain[i]);
    }
    const char *id = ctl_str(rec, "id"), *source = ctl_str(rec, "source");
    const char *channel = ctl_str(rec, "channel"), *ext = ctl_str(rec, "external_id");
    if (!id || utf8_length(id) < 5)
        return fail(why, len, "id: not a string of 5 or more characters");
    if (!source || !is_name(source, 64, 0))
        return fail(why, len, "source: not a source name ([A-Za-z0-9_.-], 1 to 64)");
    if (!channel || !is_name(channel, 32, 1))
        return fail(why, len, "channel: not a channel name ([a-z0-9_-], 1 to 32)");
    if (!ext || utf8_length(ext) < 1 || utf8_length(ext) > 1024)
        return fail(why, len, "external_id: not a string of 1 to 1024 characters");
    static const char *const times[] = {"occurred_at", "received_at"};
    for (size_t i = 0; i < LEN(times); i++) {
        const char *t = ctl_str(rec, times[i]);
        if (!t || !is_time(t))
            return fail(why, len, "%s: not an RFC 3339 UTC time with milliseconds", times[i]);
    }
    return 0;
}

int ctl_validate_record(json_t *rec, char *why, size_t len)
{
    if (!json_is_object(rec))
        return fail(why, len, "not a JSON object");
    if (only_fields(rec, record_fields, LEN(record_fields), "", why, len))
        return -1;
    for (size_t i = 0; i < LEN(required_fields); i++)
        if (!json_object_get(rec, required_fields[i]))
            return fail(why, len, "required field '%s' is missing", required_fields[i]);
    json_t *v = json_object_get(rec, "v"), *seq = json_object_get(rec, "seq");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return fail(why, len, "v: not 1");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1)
        return fail(why, len, "seq: not a positive integer");
    const char *kind = ctl_str(rec, "kind"), *direction = ctl_str(rec, "direction");
    if (!kind || !in_list(kind, kinds, LEN(kinds)))
        return fail(why, len, "kind: '%s' is not one of the schema's kinds",
                    kind ? kind : "(not a string)");
    if (!direction || !in_list(direction, directions, LEN(directions)))
        return fail(why, len, "direction: '%s' is not inbound, outbound or peer",
                    direction ? direction : "(not a string)");
    json_t *status = json_object_get(rec, "status");
    if (status &&
        !(json_is_string(status) && in_list(json_string_value(status), statuses, LEN(statuses))))
        return fail(why, len, "status: not sent, delivered, read or failed");
    if (check_strings(rec, why, len))
        return -1;
    json_t *from = json_object_get(rec, "from");
    if (from) {
        if (check_party(from, "from", why, len))
            return -1;
    } else if (!in_list(kind, kinds_without_from, LEN(kinds_without_from))) {
        return fail(why, len, "from: missing (required for kind %s)", kind);
    }
    if (check_parties(rec, "to", why, len) || check_parties(rec, "mentions", why, len) ||
        check_attachments(json_object_get(rec, "attachments"), why, len))
        return -1;
    json_t *event = json_object_get(rec, "event");
    if (event && check_event(event, why, len))
        return -1;
    if (!json_is_object(json_object_get(rec, "meta")))
        return fail(why, len, "meta: not an object");
    return 0;
}
