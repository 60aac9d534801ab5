/* SPDX-License-Identifier: Apache-2.0 */
/* A record's few fields from its text (peek.h). */
#include "peek.h"

#include <string.h>

struct cur {
    const char *s, *e;
};

static void ws(struct cur *c)
{
    while (c->s < c->e && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
        c->s++;
}

/* A string's body without escapes or control characters (c at its
 * opening quote, left after the closing one): 0, or -1 (not certain). */
static int plain_string(struct cur *c, const char **at, size_t *len)
{
    const char *p = ++c->s;
    while (p < c->e && *p != '"') {
        if (*p == '\\' || (unsigned char)*p < 0x20)
            return -1;
        p++;
    }
    if (p >= c->e)
        return -1;
    *at = c->s;
    *len = (size_t)(p - c->s);
    c->s = p + 1;
    return 0;
}

/* Past any value (c at its first byte): strings with their escapes, and
 * arrays and objects by their brackets. -1 when the text ends first. */
static int skip_value(struct cur *c)
{
    int depth = 0;
    while (c->s < c->e) {
        char ch = *c->s;
        if (ch == '"') {
            for (c->s++; c->s < c->e && *c->s != '"'; c->s++)
                if (*c->s == '\\')
                    c->s++;
            if (c->s >= c->e)
                return -1;
            c->s++;
        } else if (ch == '{' || ch == '[') {
            depth++;
            c->s++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return 0; /* the end of the object holding the value */
            depth--;
            c->s++;
        } else if (ch == ',' && depth == 0) {
            return 0;
        } else {
            c->s++;
        }
        if (depth == 0 && (ch == '"' || ch == '}' || ch == ']'))
            return 0;
    }
    return -1;
}

struct want {
    const char *key;
    int field; /* PEEK_*, or -1: the "event" object */
};

static const struct want top[] = {{"kind", PEEK_KIND},
                                  {"source", PEEK_SOURCE},
                                  {"channel", PEEK_CHANNEL},
                                  {"campaign", PEEK_CAMPAIGN},
                                  {"contact", PEEK_CONTACT},
                                  {"occurred_at", PEEK_OCCURRED_AT},
                                  {"event", -1},
                                  {NULL, 0}};
static const struct want in_event[] = {
    {"id", PEEK_EVENT_ID}, {"starts_at", PEEK_EVENT_STARTS_AT}, {NULL, 0}};

static int which(const struct want *w, const char *k, size_t n)
{
    for (int i = 0; w[i].key; i++)
        if (strlen(w[i].key) == n && memcmp(w[i].key, k, n) == 0)
            return i;
    return -2;
}

/* One object's members (c at its '{', left past its '}'): the wanted
 * keys' values set, a repeated key's last one kept, as a parse keeps it. */
static int object(struct cur *c, const struct want *w, struct score_peek *p)
{
    c->s++;
    ws(c);
    if (c->s < c->e && *c->s == '}') {
        c->s++;
        return 0;
    }
    for (;;) {
        ws(c);
        const char *k;
        size_t kn;
        if (c->s >= c->e || *c->s != '"' || plain_string(c, &k, &kn) != 0)
            return -1;
        ws(c);
        if (c->s >= c->e || *c->s != ':')
            return -1;
        c->s++;
        ws(c);
        if (c->s >= c->e)
            return -1;
        int i = which(w, k, kn);
        if (i >= 0 && w[i].field < 0) { /* "event": its fields anew */
            p->v[PEEK_EVENT_ID] = p->v[PEEK_EVENT_STARTS_AT] = NULL;
            if (*c->s == '{') {
                if (object(c, in_event, p) != 0)
                    return -1;
            } else if (skip_value(c) != 0) {
                return -1;
            }
        } else if (i >= 0) {
            int f = w[i].field;
            p->v[f] = NULL;
            if (*c->s == '"') {
                const char *at;
                size_t n;
                if (plain_string(c, &at, &n) != 0 || n >= PEEK_VALUE_MAX)
                    return -1;
                memcpy(p->buf[f], at, n);
                p->buf[f][n] = 0;
                p->v[f] = p->buf[f];
            } else if (skip_value(c) != 0) {
                return -1;
            }
        } else if (skip_value(c) != 0) {
            return -1;
        }
        ws(c);
        if (c->s >= c->e)
            return -1;
        if (*c->s == '}') {
            c->s++;
            return 0;
        }
        if (*c->s != ',')
            return -1;
        c->s++;
    }
}

int score_peek(const char *text, size_t len, struct score_peek *p)
{
    struct cur c = {text, text + len};
    for (int f = 0; f < PEEK_FIELDS; f++)
        p->v[f] = NULL;
    ws(&c);
    if (c.s >= c.e || *c.s != '{' || object(&c, top, p) != 0)
        return -1;
    ws(&c);
    return c.s == c.e ? 0 : -1;
}
