/* SPDX-License-Identifier: Apache-2.0 */
/* Stream messages to what a core node stores (nats_relay.h). */
#include "nats_relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *str_member(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* A message's common part: at most max_len bytes, one JSON object without
 * duplicate members (a record whose id says one thing and a second "id"
 * another is not one record), "v": 1. NULL with why set otherwise; `what`
 * names the message in the reasons. */
static json_t *load_v1(const char *data, size_t len, size_t max_len, const char *what, char *why,
                       size_t why_len)
{
    if (len > max_len) {
        snprintf(why, why_len, "%s of %zu bytes is larger than max_message (%zu)", what, len,
                 max_len);
        return NULL;
    }
    json_error_t e;
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        snprintf(why, why_len, "not JSON: %s", e.text);
        return NULL;
    }
    json_t *v = json_object_get(o, "v");
    if (json_is_object(o) && json_is_integer(v) && json_integer_value(v) == 1)
        return o;
    if (!json_is_object(o))
        snprintf(why, why_len, "not a JSON object");
    else
        snprintf(why, why_len, "not a kanal %s (v is not 1)", what);
    json_decref(o);
    return NULL;
}

enum kanal_nats_verdict kanal_nats_classify(const char *data, size_t len, size_t max_len, char *why,
                                            size_t why_len)
{
    json_t *rec = load_v1(data, len, max_len, "record", why, why_len);
    if (!rec)
        return KANAL_NATS_UNKNOWN;
    const char *bad = NULL;
    if (!json_is_integer(json_object_get(rec, "seq")))
        bad = "not a stored record (no integer seq)";
    else if (!str_member(rec, "id") || !str_member(rec, "source") || !str_member(rec, "kind") ||
             !str_member(rec, "external_id"))
        bad = "not a stored record (id, source, kind or external_id missing)";
    enum kanal_nats_verdict v = KANAL_NATS_RELAY;
    if (bad) {
        snprintf(why, why_len, "%s", bad);
        v = KANAL_NATS_UNKNOWN;
    } else if (!strcmp(str_member(rec, "source"), "kanal")) {
        v = KANAL_NATS_SKIP;
    }
    json_decref(rec);
    return v;
}

enum kanal_nats_verdict kanal_nats_classify_command(const char *data, size_t len, size_t max_len,
                                                    char *why, size_t why_len)
{
    json_t *c = load_v1(data, len, max_len, "state command", why, why_len);
    if (!c)
        return KANAL_NATS_UNKNOWN;
    json_t *at = json_object_get(c, "at_ms");
    const char *bad = NULL;
    if (!str_member(c, "command") || !str_member(c, "id"))
        bad = "not a state command (command or id missing)";
    else if (!json_is_integer(at) || json_integer_value(at) <= 0)
        bad = "not a state command (no positive integer at_ms)";
    else if (json_object_get(c, "seq"))
        bad = "a record, not a state command, on the state subject";
    json_decref(c);
    if (bad) {
        snprintf(why, why_len, "%s", bad);
        return KANAL_NATS_UNKNOWN;
    }
    return KANAL_NATS_COMMAND;
}

static int text_ok(const char *data, size_t len)
{
    if (memchr(data, '\0', len))
        return 0;
    json_t *s = json_stringn(data, len); /* NULL unless valid UTF-8 */
    json_decref(s);
    return s != NULL;
}

static char *base64(const unsigned char *in, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

char *kanal_nats_unknown_record(const struct kanal_nats_unknown *u, const char *data, size_t len,
                                size_t raw_max, size_t *out_len)
{
    char ext[160], id[320];
    snprintf(ext, sizeof ext, "%s-%llu", u->stream, (unsigned long long)u->stream_seq);
    snprintf(id, sizeof id, "%s/unknown/%s", u->source, ext);
    json_t *meta = json_pack("{s:s,s:I,s:s,s:I}", "stream", u->stream, "stream_seq",
                             (json_int_t)u->stream_seq, "reason", u->why, "size", (json_int_t)len);
    if (!meta) /* a reason cut inside a UTF-8 sequence: the rest still says enough */
        meta = json_pack("{s:s,s:I,s:I}", "stream", u->stream, "stream_seq",
                         (json_int_t)u->stream_seq, "size", (json_int_t)len);
    if (meta && u->subject) {
        json_t *subj = json_string(u->subject);
        if (subj)
            json_object_set_new(meta, "subject", subj);
    }
    json_t *rec = json_pack("{s:i,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[],s:[],s:[],s:o*}", "v", 1,
                            "seq", (json_int_t)(u->stream_seq ? u->stream_seq : 1), "id", id,
                            "source", u->source, "channel", "nats", "kind", "unknown", "direction",
                            "inbound", "occurred_at", u->occurred_at, "received_at", u->received_at,
                            "external_id", ext, "to", "mentions", "attachments", "meta", meta);
    if (!rec)
        return NULL;
    if (len <= raw_max) {
        json_t *raw = NULL;
        if (text_ok(data, len)) {
            raw = json_stringn(data, len);
        } else {
            char *b = base64((const unsigned char *)data, len);
            raw = b ? json_pack("{s:s}", "base64", b) : NULL;
            free(b);
        }
        if (raw)
            json_object_set_new(rec, "raw", raw);
    }
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (text && out_len)
        *out_len = strlen(text);
    return text;
}
