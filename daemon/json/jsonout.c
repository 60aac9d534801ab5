/* SPDX-License-Identifier: Apache-2.0 */
/* A compact JSON writer for records.  jansson's json_dumps() decodes every
 * string character by character and appends through callbacks; records are
 * written once per commit, so the writer thread spends a quarter of its time
 * there.  Strings in a json_t are already valid UTF-8 (jansson checks them
 * when they are made), so they only need JSON's escapes. */
#include "jsonout.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/schema.h>

#include "util.h"

static void reserve(struct jsonout *o, size_t n)
{
    if (o->len + n <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 1024; /* most records fit */
    while (cap < o->len + n)
        cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) {
        o->failed = o->oom = 1;
        return;
    }
    o->p = p;
    o->cap = cap;
}

static void put(struct jsonout *o, const char *s, size_t n)
{
    reserve(o, n);
    if (o->failed)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static inline void put_char(struct jsonout *o, char c)
{
    if (o->len < o->cap)
        o->p[o->len++] = c;
    else
        put(o, &c, 1);
}

static inline int byte_needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* The index of the first byte of s[i..n) that needs an escape, or n:
 * eight bytes at a time, then byte by byte (a string shorter than eight
 * bytes, or from the word that has one). */
static size_t skip_plain(const char *s, size_t i, size_t n)
{
    uint64_t w;
    while (i + 8 <= n && (memcpy(&w, s + i, 8), !util_json_word_special(w)))
        i += 8;
    if (i < n && n - i < 8 && n >= 8) {
        /* The tail as the string's last eight bytes (some read twice): one
         * load, where a copy of fewer bytes is a call. */
        memcpy(&w, s + n - 8, 8);
        if (!util_json_word_special(w))
            return n;
    }
    while (i < n && !byte_needs_escape((unsigned char)s[i]))
        i++;
    return i;
}

static void put_string(struct jsonout *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
    reserve(o, n + 2);
    if (o->failed)
        return;
    size_t i = skip_plain(s, 0, n);
    if (i == n) { /* nothing to escape: nearly every string */
        char *p = o->p + o->len;
        *p = '"';
        memcpy(p + 1, s, n);
        p[n + 1] = '"';
        o->len += n + 2;
        return;
    }
    put_char(o, '"');
    size_t run = 0;
    for (; i < n; i = skip_plain(s, i + 1, n)) {
        unsigned char c = (unsigned char)s[i];
        put(o, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\0': /* no reader takes \u0000 back (jsonin refuses it too) */
            o->failed = 1;
            return;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        put(o, esc, el);
    }
    put(o, s + run, n - run);
    put_char(o, '"');
}

/* A real's shortest text that reads back as the same double: 0.9, not
 * jansson's %.17g 0.90000000000000002.  Every decimal of up to 15 digits
 * survives a double (DBL_DIG), so %.15g is the shortest when it reads back,
 * else %.16g, else %.17g, which always does.  Then jansson's form: a ".0"
 * when that looks like an integer, no '+' and no leading zeros in the
 * exponent; n on success. */
static int real_text(double d, char *num, size_t size)
{
    int n = -1;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(num, size, "%.*g", digits, d);
        if (n < 0 || (size_t)n >= size - 3)
            return -1;
        if (strtod(num, NULL) == d)
            break;
    }
    if (!strchr(num, '.') && !strchr(num, 'e')) {
        memcpy(num + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(num, 'e');
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(num + n - end) + 1);
            n -= (int)(end - start);
        }
    }
    return n;
}

/* Identity provenance puts a confidence on every link, and there are only
 * a few of them (0.9, 0.95, 1.0, ...), while snprintf's %.15g (and the
 * strtod that checks it) costs some thousands of instructions a value: each
 * thread remembers the text of the last reals it wrote. */
#define REAL_CACHE 8

static void put_real(struct jsonout *o, double d)
{
    static _Thread_local struct {
        uint64_t bits;
        int len; /* 0: empty */
        char text[40];
    } cache[REAL_CACHE];
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    unsigned slot = (unsigned)((bits * 0x9E3779B97F4A7C15ull) >> 61) % REAL_CACHE;
    if (cache[slot].len && cache[slot].bits == bits) {
        put(o, cache[slot].text, (size_t)cache[slot].len);
        return;
    }
    char num[64];
    int n = real_text(d, num, sizeof num);
    if (n < 0) {
        o->failed = 1;
        return;
    }
    if ((size_t)n < sizeof cache[slot].text) {
        memcpy(cache[slot].text, num, (size_t)n);
        cache[slot].len = n;
        cache[slot].bits = bits;
    }
    put(o, num, (size_t)n);
}

static void put_value(struct jsonout *o, const json_t *v, int depth)
{
    char num[64];
    if (depth > KANAL_MAX_DEPTH) { /* jsonin and record checks refuse it before */
        o->failed = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put_char(o, '{');
        /* The iterator itself, not json_object_foreach, which finds it
         * again from the key twice per member; the key's length is kept. */
        int first = 1;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                put_char(o, ',');
            first = 0;
            put_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
            put_char(o, ':');
            put_value(o, json_object_iter_value(it), depth + 1);
        }
        put_char(o, '}');
        break;
    }
    case JSON_ARRAY: {
        put_char(o, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put_char(o, ',');
            put_value(o, json_array_get(v, i), depth + 1);
        }
        put_char(o, ']');
        break;
    }
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        /* Digits by hand: every record has two integers at least. */
        json_int_t i = json_integer_value(v);
        char *e = num + sizeof num;
        char *d = util_u64_dec(e, i < 0 ? 0 - (uint64_t)i : (uint64_t)i);
        if (i < 0)
            *--d = '-';
        put(o, d, (size_t)(e - d));
        break;
    }
    case JSON_REAL:
        put_real(o, json_real_value(v));
        break;
    case JSON_TRUE:
        put(o, "true", 4);
        break;
    case JSON_FALSE:
        put(o, "false", 5);
        break;
    case JSON_NULL:
        put(o, "null", 4);
        break;
    }
}

char *jsonout_dump(const json_t *v, size_t *len)
{
    struct jsonout o = {0};
    put_value(&o, v, 1);
    reserve(&o, 1);
    if (o.failed) {
        free(o.p);
        errno = o.oom ? ENOMEM : EINVAL;
        return NULL;
    }
    o.p[o.len] = '\0';
    *len = o.len;
    return o.p;
}

char *jsonout_text(const json_t *v)
{
    size_t len;
    char *text = jsonout_dump(v, &len);
    if (!text && errno == EINVAL)
        text = json_dumps(v, JSON_COMPACT);
    return text;
}

/* ---- piece by piece ---- */

char *jsonout_grow(struct jsonout *o, size_t n)
{
    reserve(o, n);
    return o->failed ? NULL : o->p + o->len;
}

void jsonout_raw(struct jsonout *o, const char *s, size_t n)
{
    put(o, s, n);
}

void jsonout_string(struct jsonout *o, const char *s, size_t n)
{
    put_string(o, s, n); /* fails on a NUL, as put_value does */
}

int jsonout_plain(const char *s, size_t n)
{
    return skip_plain(s, 0, n) == n;
}

void jsonout_value(struct jsonout *o, const json_t *v, int depth)
{
    put_value(o, v, depth);
}

void jsonout_uint(struct jsonout *o, uint64_t v)
{
    char num[24], *e = num + sizeof num;
    char *d = util_u64_dec(e, v);
    put(o, d, (size_t)(e - d));
}

void jsonout_real(struct jsonout *o, double d)
{
    put_real(o, d);
}

char *jsonout_finish(struct jsonout *o, size_t *len)
{
    reserve(o, 1);
    if (o->failed) {
        free(o->p);
        o->p = NULL;
        errno = o->oom ? ENOMEM : EINVAL;
        return NULL;
    }
    o->p[o->len] = '\0';
    *len = o->len;
    char *p = o->p;
    *o = (struct jsonout){0};
    return p;
}
