/* SPDX-License-Identifier: Apache-2.0 */
/* Audiences (audience.h): parsing their ids and match words, and whether a
 * record belongs. */
#include "audience.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const struct {
    const char *prefix; /* with its colon */
    enum audience_kind kind;
} builtins[] = {
    {"source:", AUDIENCE_SOURCE}, {"channel:", AUDIENCE_CHANNEL}, {"campaign:", AUDIENCE_CAMPAIGN},
    {"event:", AUDIENCE_EVENT},   {"thread:", AUDIENCE_THREAD},
};

int audience_parse(const char *id, struct audience *a)
{
    *a = (struct audience){0};
    if (strcmp(id, "all") == 0) {
        a->kind = AUDIENCE_ALL;
        a->id = xstrdup(id);
        return 0;
    }
    const char *colon = strchr(id, ':');
    if (!colon)
        return -ENOENT;
    for (size_t i = 0; i < ARRAY_SIZE(builtins); i++) {
        size_t pl = strlen(builtins[i].prefix);
        if (strncmp(id, builtins[i].prefix, pl) != 0)
            continue;
        size_t vl = strlen(id + pl);
        /* A value is an external id or a name: printable, no spaces, so
         * that it reads back the same in a URL path and a log line. */
        if (vl == 0 || pl + vl > AUDIENCE_ID_MAX)
            return -EINVAL;
        for (const char *p = id + pl; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                return -EINVAL;
        a->kind = builtins[i].kind;
        a->id = xstrdup(id);
        a->value = xstrdup(id + pl);
        return 0;
    }
    return -EINVAL;
}

int audience_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 64 || strcmp(name, "all") == 0)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return 0;
    return 1;
}

/* The match words' fields; within takes one duration, not a list. */
static const char *const fields[] = {"source", "channel", "kind",  "campaign",
                                     "event",  "thread",  "within"};

static int field_index(const char *p, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        if (strlen(fields[i]) == len && strncmp(p, fields[i], len) == 0)
            return (int)i;
    return -1;
}

/* Walks the words of text: calls fn(field, value, value_len, arg) for
 * each, stopping at the first nonzero answer (which it returns). */
static int each_word(const char *text, int (*fn)(int, const char *, size_t, void *), void *arg)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t wl = strcspn(p, " \t");
        const char *colon = memchr(p, ':', wl);
        int f = colon ? field_index(p, (size_t)(colon - p)) : -1;
        int r = fn(f, colon ? colon + 1 : p, colon ? (size_t)(p + wl - colon - 1) : wl, arg);
        if (r)
            return r;
        p += wl;
    }
    return 0;
}

struct check {
    const char *why;
    int64_t within_ms;
    int words;
};

static int check_word(int f, const char *v, size_t vl, void *arg)
{
    struct check *c = arg;
    c->words++;
    if (f < 0) {
        c->why = "each word must be FIELD:VALUE[,VALUE...], FIELD one of source, channel, "
                 "kind, campaign, event, thread, within";
        return 1;
    }
    if (vl == 0 || v[0] == ',' || v[vl - 1] == ',' || memmem(v, vl, ",,", 2)) {
        c->why = "a field needs values, none of them empty";
        return 1;
    }
    if (strcmp(fields[f], "within") == 0) {
        char buf[32];
        int64_t ms;
        if (vl >= sizeof buf ||
            (memcpy(buf, v, vl), buf[vl] = 0, util_parse_duration_ms(buf, &ms) != 0 || ms <= 0)) {
            c->why = "within takes one duration, e.g. within:30d";
            return 1;
        }
        if (c->within_ms) {
            c->why = "within appears twice";
            return 1;
        }
        c->within_ms = ms;
    }
    return 0;
}

const char *audience_match_check(const char *text)
{
    struct check c = {0};
    if (each_word(text, check_word, &c))
        return c.why;
    if (c.words == 0)
        return "match needs at least one word (an audience of every record is 'all')";
    return NULL;
}

int audience_named(struct audience *a, const char *name, const char *match)
{
    *a = (struct audience){0};
    struct check c = {0};
    if (!audience_name_ok(name) || audience_match_check(match))
        return -EINVAL;
    each_word(match, check_word, &c);
    a->kind = AUDIENCE_NAMED;
    a->id = xstrdup(name);
    a->match = xstrdup(match);
    a->within_ms = c.within_ms;
    return 0;
}

/* 1 when value is one of the comma-separated list [v, v + vl). */
static int in_list(const char *v, size_t vl, const char *value)
{
    size_t n = strlen(value);
    const char *end = v + vl;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        size_t l = (size_t)((comma ? comma : end) - v);
        if (l == n && strncmp(v, value, n) == 0)
            return 1;
        v += l + 1;
    }
    return 0;
}

static const char *str(json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* The record's value of a match field (within aside). */
static const char *field_value(json_t *rec, int f)
{
    if (strcmp(fields[f], "event") == 0)
        return str(json_object_get(rec, "event"), "id");
    return str(rec, fields[f]);
}

struct meet {
    json_t *rec;
    int64_t now_ms;
};

/* 0 when the record meets the word, 1 when it does not (which stops). */
static int meet_word(int f, const char *v, size_t vl, void *arg)
{
    struct meet *m = arg;
    if (strcmp(fields[f], "within") == 0)
        return 0; /* audience_matches checks the window */
    const char *value = field_value(m->rec, f);
    return !value || !in_list(v, vl, value);
}

int audience_matches(const struct audience *a, json_t *rec, int64_t now_ms)
{
    const char *kind = str(rec, "kind");
    if (!kind || !strcmp(kind, "merge") || !strcmp(kind, "split") || !strcmp(kind, "erase"))
        return 0;
    const char *v;
    switch (a->kind) {
    case AUDIENCE_ALL:
        return 1;
    case AUDIENCE_SOURCE:
        return (v = str(rec, "source")) && strcmp(v, a->value) == 0;
    case AUDIENCE_CHANNEL:
        return (v = str(rec, "channel")) && strcmp(v, a->value) == 0;
    case AUDIENCE_CAMPAIGN:
        return (v = str(rec, "campaign")) && strcmp(v, a->value) == 0;
    case AUDIENCE_EVENT:
        return (v = str(json_object_get(rec, "event"), "id")) && strcmp(v, a->value) == 0;
    case AUDIENCE_THREAD:
        return ((v = str(rec, "thread")) && strcmp(v, a->value) == 0) ||
               ((v = str(rec, "external_id")) && strcmp(v, a->value) == 0);
    case AUDIENCE_NAMED:
        break;
    }
    if (a->within_ms) {
        int64_t at;
        if (!(v = str(rec, "occurred_at")) || util_parse_time(v, &at) != 0 ||
            at < now_ms - a->within_ms)
            return 0;
    }
    struct meet m = {rec, now_ms};
    return each_word(a->match, meet_word, &m) == 0;
}

void audience_free(struct audience *a)
{
    free(a->id);
    free(a->value);
    free(a->match);
    *a = (struct audience){0};
}
