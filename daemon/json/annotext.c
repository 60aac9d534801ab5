/* SPDX-License-Identifier: Apache-2.0 */
/* Processors' annotations into a record's text.
 *
 * Each record a processor sees is serialized once on the loop thread; what
 * the processor answers used to be read into jansson, checked, serialized
 * again as a probe, put into the record, and the whole record serialized a
 * second time for the writer.  When the answer is already the text the
 * store would write for it (compact, jsonout's escapes, reals in their
 * shortest form, no repeated key, nesting within bounds), it goes into the
 * record's text as it is, which is what the store would have written: the
 * stored bytes stay the same, and an answer in any other form still takes
 * the slow way.  The check is strict: anything it is unsure of is "no". */
#include "annotext.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Keys of the open objects remembered for the repeated-key check. */
#define MAX_KEYS 64

struct canon {
    const unsigned char *p, *end;
    int max;
    size_t nkeys;
    struct {
        const unsigned char *s;
        size_t n;
    } keys[MAX_KEYS];
};

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* One UTF-8 sequence starting at c->p[-1] (a byte >= 0x80), as jansson
 * accepts them: no overlong form, no surrogate, nothing above U+10FFFF. */
static int utf8_rest(struct canon *c, unsigned char b)
{
    int more;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        more = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
        more = 2;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        more = 3;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (c->end - c->p < more || c->p[0] < lo || c->p[0] > hi)
        return 0;
    for (int i = 1; i < more; i++)
        if (c->p[i] < 0x80 || c->p[i] > 0xBF)
            return 0;
    c->p += more;
    return 1;
}

/* A string as jsonout writes it: only '"', '\\' and the control characters
 * escaped, those with a short form (\b \f \n \r \t) in it, the others as
 * \u00XX in capitals; no NUL. */
static int string(struct canon *c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (c->p >= c->end || *c->p != '"')
        return 0;
    c->p++;
    while (c->p < c->end) {
        unsigned char b = *c->p++;
        if (b == '"')
            return 1;
        if (b < 0x20)
            return 0;
        if (b >= 0x80) {
            if (!utf8_rest(c, b))
                return 0;
            continue;
        }
        if (b != '\\')
            continue;
        if (c->p >= c->end)
            return 0;
        b = *c->p++;
        if (b == '"' || b == '\\' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't')
            continue;
        if (b != 'u' || c->end - c->p < 4 || c->p[0] != '0' || c->p[1] != '0' ||
            (c->p[2] != '0' && c->p[2] != '1'))
            return 0;
        const char *d = memchr(hex, c->p[3], 16);
        if (!d)
            return 0;
        unsigned v = (unsigned)(c->p[2] - '0') * 16 + (unsigned)(d - hex);
        if (v == 0 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
            return 0;
        c->p += 4;
    }
    return 0;
}

/* A number as jsonout writes it: an integer of at most 18 digits (no -0),
 * or a real in fixed notation that %.15g writes the same: at most 15
 * significant digits, no trailing zero but the one of "N.0", at least
 * 0.0001 in magnitude (below, %g turns to exponents), below 1e15. */
static int number(struct canon *c)
{
    const unsigned char *start = c->p;
    if (c->p < c->end && *c->p == '-')
        c->p++;
    const unsigned char *ip = c->p;
    while (c->p < c->end && is_digit(*c->p))
        c->p++;
    size_t il = (size_t)(c->p - ip);
    if (il == 0 || (il > 1 && ip[0] == '0'))
        return 0;
    if (c->p >= c->end || (*c->p != '.' && *c->p != 'e' && *c->p != 'E')) {
        /* An integer: "-0" reads back as 0. */
        return il <= 18 && !(il == 1 && ip[0] == '0' && ip > start);
    }
    if (*c->p != '.')
        return 0; /* exponent form: the slow way */
    c->p++;
    const unsigned char *fp = c->p;
    while (c->p < c->end && is_digit(*c->p))
        c->p++;
    size_t fl = (size_t)(c->p - fp);
    if (fl == 0 || (c->p < c->end && (*c->p == 'e' || *c->p == 'E')))
        return 0;
    if (fl == 1 && fp[0] == '0') /* N.0: %.15g writes N, jansson adds ".0" */
        return il <= 15;
    if (fp[fl - 1] == '0')
        return 0;
    if (ip[0] != '0') /* il significant digits before the point */
        return il + fl <= 15;
    size_t zeros = 0;
    while (zeros < fl && fp[zeros] == '0')
        zeros++;
    return zeros <= 3 && fl - zeros <= 15;
}

static int literal(struct canon *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int value(struct canon *c, int level);

static int object(struct canon *c, int level)
{
    c->p++; /* '{' */
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 1;
    }
    size_t first = c->nkeys;
    for (;;) {
        const unsigned char *k = c->p;
        if (!string(c))
            return 0;
        size_t kn = (size_t)(c->p - k);
        /* Each string has one canonical text: equal keys are equal bytes. */
        for (size_t i = first; i < c->nkeys; i++)
            if (c->keys[i].n == kn && memcmp(c->keys[i].s, k, kn) == 0)
                return 0; /* jansson keeps the last of repeated keys */
        if (c->nkeys == MAX_KEYS)
            return 0;
        c->keys[c->nkeys].s = k;
        c->keys[c->nkeys++].n = kn;
        if (c->p >= c->end || *c->p++ != ':' || !value(c, level + 1))
            return 0;
        if (c->p >= c->end)
            return 0;
        unsigned char b = *c->p++;
        if (b == '}')
            break;
        if (b != ',')
            return 0;
    }
    c->nkeys = first;
    return 1;
}

static int array(struct canon *c, int level)
{
    c->p++; /* '[' */
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return 1;
    }
    for (;;) {
        if (!value(c, level + 1) || c->p >= c->end)
            return 0;
        unsigned char b = *c->p++;
        if (b == ']')
            return 1;
        if (b != ',')
            return 0;
    }
}

static int value(struct canon *c, int level)
{
    if (level > c->max || c->p >= c->end)
        return 0;
    switch (*c->p) {
    case '{':
        return object(c, level);
    case '[':
        return array(c, level);
    case '"':
        return string(c);
    case 't':
        return literal(c, "true", 4);
    case 'f':
        return literal(c, "false", 5);
    case 'n':
        return literal(c, "null", 4);
    default:
        return number(c);
    }
}

int annotext_canonical(const char *s, size_t n, int max_depth)
{
    struct canon c = {
        .p = (const unsigned char *)s, .end = (const unsigned char *)s + n, .max = max_depth};
    return n > 0 && value(&c, 1) && c.p == c.end;
}

int annotext_add(struct annotext *t, const char *name, const char *ann, size_t n)
{
    static const char head[] = ",\"annotations\":{";
    size_t nl = strlen(name);
    /* The record's closing brace, and the annotations' one if they exist. */
    size_t tail = t->ann_at ? 2 : 1;
    size_t add = (t->ann_at ? 1 : sizeof head - 1) + nl + 3 + n + (t->ann_at ? 0 : 1);
    if (t->len + add + 1 > t->cap) {
        size_t cap = t->len + add + 1 + 256;
        char *p = realloc(t->p, cap);
        if (!p)
            return -ENOMEM;
        t->p = p;
        t->cap = cap;
    }
    char *o = t->p + t->len - tail;
    if (t->ann_at) {
        *o++ = ',';
    } else {
        memcpy(o, head, sizeof head - 1);
        t->ann_at = (size_t)(o - t->p) + sizeof head - 2;
        o += sizeof head - 1;
    }
    *o++ = '"';
    memcpy(o, name, nl);
    o += nl;
    *o++ = '"';
    *o++ = ':';
    memcpy(o, ann, n);
    o += n;
    *o++ = '}'; /* the annotations' */
    *o++ = '}'; /* the record's */
    t->len = (size_t)(o - t->p);
    *o = '\0';
    return 0;
}
