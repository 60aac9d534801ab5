/* SPDX-License-Identifier: Apache-2.0 */
/* A JSON reader for what plugins emit, the counterpart of jsonout.
 *
 * Every record a plugin emits arrives as JSON text and is parsed on the
 * loop thread.  json_loadb() reads its input through a callback one byte
 * at a time and copies every token through a growing buffer; on a webhook
 * that is a sixth of kanald's time.  This reader scans the buffer in place
 * and builds the same jansson values.  It accepts and refuses what
 * json_loadb(text, len, 0, ...) does: an object or array at the top, valid
 * UTF-8, no \u0000, no leading zeros, integers that fit in json_int_t,
 * reals that do not overflow, and nothing after the value but white space;
 * a repeated key keeps its last value.  The unit tests hold the two readers
 * to that on many inputs.  It differs on purpose in two things:
 *
 *  - nesting: at most KANAL_MAX_DEPTH levels (jansson: 2048), the limit
 *    record checks and jsonout share, so that whatever this reader accepts
 *    the writer can store and every feed reader can read back;
 *  - a NUL byte right after a number, true, false or null: jansson's
 *    reader skips it ({"a":true\0} reads as {"a":true}, [1\0,2] as [1,2]);
 *    this one refuses a NUL byte outside a string like any other stray
 *    byte.  Refusing is the safer side: a NUL there means the text is not
 *    what its sender meant, and nothing a plugin emitted is dropped unread.
 *    (After the whole value both refuse.) */
#include "jsonin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/schema.h>

#include "util.h"

struct in {
    const unsigned char *p, *end, *start;
    char *err;
    size_t err_len;
    int depth;
};

static json_t *value(struct in *in);

static json_t *fail(struct in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static json_t *fail(struct in *in, const char *fmt, ...)
{
    if (in->err && in->err[0] == '\0') {
        int line = 1;
        for (const unsigned char *q = in->start; q < in->p && q < in->end; q++)
            line += *q == '\n';
        int n = snprintf(in->err, in->err_len, "line %d: ", line);
        if (n > 0 && (size_t)n < in->err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(in->err + n, in->err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return NULL;
}

static void skip_space(struct in *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\n' || *in->p == '\t' || *in->p == '\r'))
        in->p++;
}

/* Length of the UTF-8 sequence at p (1-4), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at in->p (just after the opening quote), decoded into a new
 * buffer of *len bytes, or pointed to in place (*copy = 0) when it has no
 * escapes. */
static char *string(struct in *in, size_t *len, int *copy)
{
    const unsigned char *s = in->p, *q = s;
    int escapes = 0;
    while (q < in->end && *q != '"') {
        /* Plain ASCII eight bytes at a time, then on to the first other
         * byte: the lowest flagged one is exact, and on a little-endian
         * machine the lowest is the first in memory. */
        uint64_t w, m = 0;
        while (in->end - q >= 8 &&
               (memcpy(&w, q, 8), !(m = util_json_word_special(w) | (w & 0x8080808080808080ull))))
            q += 8;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (m)
            q += __builtin_ctzll(m) >> 3;
#endif
        if (q >= in->end || *q == '"')
            break;
        if (*q < 0x20) {
            in->p = q;
            fail(in, "control character 0x%x in a string", *q);
            return NULL;
        }
        if (*q == '\\') {
            escapes = 1;
            if (q + 1 < in->end)
                q++;
            q++;
        } else if (*q < 0x80) {
            q++;
        } else {
            size_t n = utf8_len(q, in->end);
            if (!n) {
                in->p = q;
                fail(in, "invalid UTF-8 in a string");
                return NULL;
            }
            q += n;
        }
    }
    if (q >= in->end) {
        in->p = in->end;
        fail(in, "premature end of input in a string");
        return NULL;
    }
    in->p = q + 1;
    if (!escapes) {
        *len = (size_t)(q - s);
        *copy = 0;
        return (char *)s;
    }
    /* Decoding never makes a string longer. */
    char *out = malloc((size_t)(q - s) + 1), *o = out;
    if (!out) {
        fail(in, "out of memory");
        return NULL;
    }
    for (const unsigned char *r = s; r < q;) {
        if (*r != '\\') {
            *o++ = (char)*r++;
            continue;
        }
        r++;
        switch (*r) {
        case '"':
        case '\\':
        case '/':
            *o++ = (char)*r++;
            continue;
        case 'b':
            *o++ = '\b';
            r++;
            continue;
        case 'f':
            *o++ = '\f';
            r++;
            continue;
        case 'n':
            *o++ = '\n';
            r++;
            continue;
        case 'r':
            *o++ = '\r';
            r++;
            continue;
        case 't':
            *o++ = '\t';
            r++;
            continue;
        case 'u':
            break;
        default:
            in->p = r;
            free(out);
            fail(in, "invalid escape in a string");
            return NULL;
        }
        unsigned cp, lo;
        if (q - r < 5 || hex4(r + 1, &cp) < 0) {
            in->p = r;
            free(out);
            fail(in, "invalid \\u escape in a string");
            return NULL;
        }
        r += 5;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (q - r < 6 || r[0] != '\\' || r[1] != 'u' || hex4(r + 2, &lo) < 0 || lo < 0xDC00 ||
                lo > 0xDFFF) {
                in->p = r;
                free(out);
                fail(in, "invalid Unicode '\\u%04X'", cp);
                return NULL;
            }
            r += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            in->p = r;
            free(out);
            fail(in, "invalid Unicode '\\u%04X'", cp);
            return NULL;
        } else if (cp == 0) {
            in->p = r;
            free(out);
            fail(in, "\\u0000 is not allowed");
            return NULL;
        }
        o += put_utf8(o, cp);
    }
    *len = (size_t)(o - out);
    *copy = 1;
    return out;
}

/* A number at in->p, checked as json_loadb checks it (its grammar, an
 * integer that fits in json_int_t, a real that does not overflow) and
 * converted: 0 (in->p past it), or -1 (failed). */
static int number_read(struct in *in, int *real, long long *ival, double *dval)
{
    const unsigned char *s = in->p, *q = s;
    *real = 0;
    if (q < in->end && *q == '-')
        q++;
    if (q < in->end && *q == '0') {
        q++;
        if (q < in->end && *q >= '0' && *q <= '9')
            return fail(in, "leading zero in a number"), -1;
    } else if (q < in->end && *q >= '1' && *q <= '9') {
        while (q < in->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return fail(in, "invalid token"), -1;
    }
    if (q < in->end && *q == '.') {
        q++;
        if (q >= in->end || *q < '0' || *q > '9')
            return fail(in, "invalid number"), -1;
        while (q < in->end && *q >= '0' && *q <= '9')
            q++;
        *real = 1;
    }
    if (q < in->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < in->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= in->end || *q < '0' || *q > '9')
            return fail(in, "invalid number"), -1;
        while (q < in->end && *q >= '0' && *q <= '9')
            q++;
        *real = 1;
    }
    char buf[64], *text = buf;
    size_t n = (size_t)(q - s);
    if (n >= sizeof buf && !(text = malloc(n + 1)))
        return fail(in, "out of memory"), -1;
    memcpy(text, s, n);
    text[n] = '\0';
    int rc = 0;
    errno = 0;
    if (!*real) {
        *ival = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            rc = -1, fail(in, "too big integer");
    } else {
        *dval = strtod(text, NULL);
        if (errno == ERANGE && (*dval > 1.0 || *dval < -1.0))
            rc = -1, fail(in, "real number overflow");
    }
    if (text != buf)
        free(text);
    in->p = q;
    return rc;
}

static json_t *number(struct in *in)
{
    int real;
    long long i;
    double d;
    if (number_read(in, &real, &i, &d) != 0)
        return NULL;
    return real ? json_real(d) : json_integer((json_int_t)i);
}

static int literal(struct in *in, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
        return -1;
    in->p += n;
    return 0;
}

/* After white space, the byte c: consume it and say so. */
static int eat(struct in *in, char c)
{
    skip_space(in);
    if (in->p < in->end && *in->p == c) {
        in->p++;
        return 1;
    }
    return 0;
}

/* After a container's last member: its closing byte, or an error (and the
 * container is freed). */
static json_t *close_container(struct in *in, json_t *c, char close)
{
    if (eat(in, close))
        return c;
    json_decref(c);
    return fail(in, "'%c' expected", close);
}

static json_t *array(struct in *in)
{
    json_t *a = json_array();
    if (!a)
        return fail(in, "out of memory");
    if (eat(in, ']'))
        return a;
    do {
        json_t *v = value(in);
        if (!v || json_array_append_new(a, v) < 0) {
            json_decref(a);
            return NULL;
        }
    } while (eat(in, ','));
    return close_container(in, a, ']');
}

static json_t *object(struct in *in)
{
    json_t *o = json_object();
    if (!o)
        return fail(in, "out of memory");
    if (eat(in, '}'))
        return o;
    do {
        if (!eat(in, '"')) {
            json_decref(o);
            return fail(in, "string or '}' expected");
        }
        size_t klen;
        int copy;
        char *key = string(in, &klen, &copy);
        json_t *v = !key ? NULL : eat(in, ':') ? value(in) : fail(in, "':' expected");
        int r = v ? json_object_setn_new_nocheck(o, key, klen, v) : -1;
        if (key && copy)
            free(key);
        if (r < 0) {
            json_decref(o);
            return NULL;
        }
    } while (eat(in, ','));
    return close_container(in, o, '}');
}

/* One value; like jansson, every value counts as a level of nesting. */
static json_t *scalar_or_container(struct in *in)
{
    json_t *v;
    switch (*in->p) {
    case '{':
        in->p++;
        return object(in);
    case '[':
        in->p++;
        return array(in);
    case '"': {
        in->p++;
        size_t len;
        int copy;
        char *s = string(in, &len, &copy);
        if (!s)
            return NULL;
        v = json_stringn_nocheck(s, len);
        if (copy)
            free(s);
        return v ? v : fail(in, "out of memory");
    }
    case 't':
        return literal(in, "true") == 0 ? json_true() : fail(in, "invalid token");
    case 'f':
        return literal(in, "false") == 0 ? json_false() : fail(in, "invalid token");
    case 'n':
        return literal(in, "null") == 0 ? json_null() : fail(in, "invalid token");
    default:
        return number(in);
    }
}

static json_t *value(struct in *in)
{
    skip_space(in);
    if (in->p >= in->end)
        return fail(in, "premature end of input");
    if (++in->depth > KANAL_MAX_DEPTH)
        return fail(in, "maximum parsing depth reached (KANAL_MAX_DEPTH is %d levels)",
                    KANAL_MAX_DEPTH);
    json_t *v = scalar_or_container(in);
    in->depth--;
    return v;
}

json_t *jsonin_parse(const char *text, size_t len, char *err, size_t err_len)
{
    struct in in = {
        .p = (const unsigned char *)text,
        .end = (const unsigned char *)text + len,
        .start = (const unsigned char *)text,
        .err = err,
        .err_len = err_len,
    };
    if (err && err_len)
        err[0] = '\0';
    skip_space(&in);
    if (in.p >= in.end || (*in.p != '{' && *in.p != '['))
        return fail(&in, "'[' or '{' expected");
    json_t *v = value(&in);
    if (!v)
        return NULL;
    skip_space(&in);
    if (in.p != in.end) {
        json_decref(v);
        return fail(&in, "end of input expected");
    }
    return v;
}

/* ---- reading without building (jsonin_scan) ---- */

struct scan {
    struct in in;
    void (*item)(void *arg, const struct jsonin_item *it);
    void *arg;
};

static int scan_value(struct scan *sc, const char *key, size_t klen);

static int scan_close(struct in *in, char close)
{
    if (eat(in, close))
        return 0;
    fail(in, "'%c' expected", close);
    return -1;
}

static int scan_array(struct scan *sc)
{
    struct in *in = &sc->in;
    if (eat(in, ']'))
        return 0;
    do {
        if (scan_value(sc, NULL, 0) != 0)
            return -1;
    } while (eat(in, ','));
    return scan_close(in, ']');
}

static int scan_object(struct scan *sc)
{
    struct in *in = &sc->in;
    if (eat(in, '}'))
        return 0;
    do {
        if (!eat(in, '"')) {
            fail(in, "string or '}' expected");
            return -1;
        }
        size_t klen;
        int copy, rc = -1;
        char *key = string(in, &klen, &copy);
        if (key && eat(in, ':'))
            rc = scan_value(sc, key, klen);
        else if (key)
            fail(in, "':' expected");
        if (key && copy)
            free(key);
        if (rc)
            return -1;
    } while (eat(in, ','));
    return scan_close(in, '}');
}

/* value()'s twin: the same checks, in the same order, item() called
 * instead of a value built. */
static int scan_value(struct scan *sc, const char *key, size_t klen)
{
    struct in *in = &sc->in;
    skip_space(in);
    if (in->p >= in->end) {
        fail(in, "premature end of input");
        return -1;
    }
    if (++in->depth > KANAL_MAX_DEPTH) {
        fail(in, "maximum parsing depth reached (KANAL_MAX_DEPTH is %d levels)", KANAL_MAX_DEPTH);
        return -1;
    }
    struct jsonin_item it = {.depth = in->depth - 1, .key = key, .klen = klen};
    int rc = 0;
    switch (*in->p) {
    case '{':
    case '[':
        it.type = *in->p == '{' ? JSONIN_OBJECT : JSONIN_ARRAY;
        in->p++;
        sc->item(sc->arg, &it);
        rc = it.type == JSONIN_OBJECT ? scan_object(sc) : scan_array(sc);
        break;
    case '"': {
        in->p++;
        int copy;
        char *s = string(in, &it.len, &copy);
        if (!s) {
            rc = -1;
            break;
        }
        it.type = JSONIN_STRING;
        it.str = s;
        sc->item(sc->arg, &it);
        if (copy)
            free(s);
        break;
    }
    case 't':
    case 'f':
    case 'n': {
        static const char *const word[] = {"true", "false", "null"};
        int w = *in->p == 't' ? 0 : *in->p == 'f' ? 1 : 2;
        if (literal(in, word[w]) != 0) {
            fail(in, "invalid token");
            rc = -1;
            break;
        }
        it.type = w == 0 ? JSONIN_TRUE : w == 1 ? JSONIN_FALSE : JSONIN_NULL;
        sc->item(sc->arg, &it);
        break;
    }
    default: {
        int real;
        long long i;
        double d;
        if ((rc = number_read(in, &real, &i, &d)) == 0) {
            it.type = JSONIN_NUMBER;
            sc->item(sc->arg, &it);
        }
    }
    }
    in->depth--;
    return rc;
}

int jsonin_scan(const char *text, size_t len, void (*item)(void *arg, const struct jsonin_item *it),
                void *arg, char *err, size_t err_len)
{
    struct scan sc = {
        .in = {.p = (const unsigned char *)text,
               .end = (const unsigned char *)text + len,
               .start = (const unsigned char *)text,
               .err = err,
               .err_len = err_len},
        .item = item,
        .arg = arg,
    };
    struct in *in = &sc.in;
    if (err && err_len)
        err[0] = '\0';
    skip_space(in);
    if (in->p >= in->end || (*in->p != '{' && *in->p != '[')) {
        fail(in, "'[' or '{' expected");
        return -1;
    }
    if (scan_value(&sc, NULL, 0) != 0)
        return -1;
    skip_space(in);
    if (in->p != in->end) {
        fail(in, "end of input expected");
        return -1;
    }
    return 0;
}
