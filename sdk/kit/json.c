/* SPDX-License-Identifier: Apache-2.0 */
/* kit: JSON text without a JSON library — a growing buffer, a string
 * escaper, a validator, and the two answers every plugin gives. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

void kanal_kit_buf_free(struct kanal_kit_buf *b)
{
    free(b->data);
    *b = (struct kanal_kit_buf){0};
}

static int grow(struct kanal_kit_buf *b, size_t more)
{
    if (b->err)
        return b->err;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        return b->err = -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int kanal_kit_buf_add(struct kanal_kit_buf *b, const char *s, size_t n)
{
    int r = grow(b, n);
    if (r < 0)
        return r;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

size_t kanal_kit_u64(char out[24], uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

int kanal_kit_buf_printf(struct kanal_kit_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return b->err = -EINVAL;
    int r = grow(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int kanal_kit_buf_json_string(struct kanal_kit_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes \u00XX. */
    int r = grow(b, 6 * n + 2);
    if (r < 0)
        return r;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* Length of the UTF-8 sequence at s[i..n), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t n)
{
    unsigned c = s[i];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (i + len > n)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int kanal_kit_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s, i, n);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* A recursive-descent check; depth is bounded by max_depth, so is the stack. */
struct scan {
    const unsigned char *t;
    size_t n, i;
    int max_depth, deepest;
};

static void ws(struct scan *s)
{
    while (s->i < s->n &&
           (s->t[s->i] == ' ' || s->t[s->i] == '\t' || s->t[s->i] == '\n' || s->t[s->i] == '\r'))
        s->i++;
}

static int lit(struct scan *s, const char *w)
{
    size_t l = strlen(w);
    if (s->n - s->i < l || memcmp(s->t + s->i, w, l) != 0)
        return 0;
    s->i += l;
    return 1;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int str(struct scan *s)
{
    s->i++; /* the opening quote */
    while (s->i < s->n) {
        unsigned char c = s->t[s->i];
        /* Printable ASCII other than '"' and '\\', most of any text: one
         * comparison each, no UTF-8 decoding. */
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            s->i++;
            continue;
        }
        if (c == '"') {
            s->i++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (++s->i >= s->n)
                return 0;
            c = s->t[s->i];
            if (c == 'u') {
                if (s->n - s->i < 5)
                    return 0;
                for (int k = 1; k <= 4; k++)
                    if (!is_hex(s->t[s->i + k]))
                        return 0;
                if (memcmp(s->t + s->i + 1, "0000", 4) == 0)
                    return 0; /* a NUL the store cannot keep */
                s->i += 5;
            } else if (strchr("\"\\/bfnrt", c) && c) {
                s->i++;
            } else {
                return 0;
            }
            continue;
        }
        size_t k = utf8_seq(s->t, s->i, s->n);
        if (!k)
            return 0;
        s->i += k;
    }
    return 0;
}

static int digits(struct scan *s)
{
    size_t start = s->i;
    while (s->i < s->n && s->t[s->i] >= '0' && s->t[s->i] <= '9')
        s->i++;
    return s->i > start;
}

static int num(struct scan *s)
{
    if (s->t[s->i] == '-')
        s->i++;
    if (s->i < s->n && s->t[s->i] == '0')
        s->i++;
    else if (!digits(s))
        return 0;
    if (s->i < s->n && s->t[s->i] == '.') {
        s->i++;
        if (!digits(s))
            return 0;
    }
    if (s->i < s->n && (s->t[s->i] == 'e' || s->t[s->i] == 'E')) {
        s->i++;
        if (s->i < s->n && (s->t[s->i] == '+' || s->t[s->i] == '-'))
            s->i++;
        if (!digits(s))
            return 0;
    }
    return 1;
}

static int value(struct scan *s, int depth)
{
    ws(s);
    if (s->i >= s->n)
        return 0;
    unsigned char c = s->t[s->i];
    if (c == '"')
        return str(s);
    if (c == '{' || c == '[') {
        if (depth > s->max_depth)
            return 0;
        if (depth > s->deepest)
            s->deepest = depth;
        unsigned char close = c == '{' ? '}' : ']';
        s->i++;
        ws(s);
        if (s->i < s->n && s->t[s->i] == close) {
            s->i++;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                ws(s);
                if (s->i >= s->n || s->t[s->i] != '"' || !str(s))
                    return 0;
                ws(s);
                if (s->i >= s->n || s->t[s->i] != ':')
                    return 0;
                s->i++;
            }
            if (!value(s, depth + 1))
                return 0;
            ws(s);
            if (s->i >= s->n)
                return 0;
            if (s->t[s->i] == ',') {
                s->i++;
                continue;
            }
            if (s->t[s->i] != close)
                return 0;
            s->i++;
            return 1;
        }
    }
    if (c == 't')
        return lit(s, "true");
    if (c == 'f')
        return lit(s, "false");
    if (c == 'n')
        return lit(s, "null");
    if (c == '-' || (c >= '0' && c <= '9'))
        return num(s);
    return 0;
}

int kanal_kit_json_valid(const char *text, size_t len, int max_depth, int *depth)
{
    struct scan s = {.t = (const unsigned char *)text, .n = len, .max_depth = max_depth};
    *depth = 0;
    ws(&s);
    if (s.i >= s.n || (s.t[s.i] != '{' && s.t[s.i] != '['))
        return 0;
    if (!value(&s, 1))
        return 0;
    ws(&s);
    if (s.i != s.n)
        return 0;
    *depth = s.deepest;
    return 1;
}

#define ADD(b, lit) kanal_kit_buf_add((b), lit, sizeof lit - 1)

int kanal_kit_respond_json(const struct kanal_host *host, struct kanal_http_request *req,
                           int status, const char *json)
{
    return host->http_respond(req, status, "application/json", json, strlen(json));
}

int kanal_kit_respond_error(const struct kanal_host *host, struct kanal_http_request *req,
                            int status, const char *code, const char *message)
{
    struct kanal_kit_buf b = {0};
    ADD(&b, "{\"error\":{\"code\":");
    kanal_kit_buf_json_string(&b, code, strlen(code));
    ADD(&b, ",\"message\":");
    kanal_kit_buf_json_string(&b, message, strlen(message));
    int r = ADD(&b, "}}");
    if (r < 0) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        return host->http_respond(req, 500, "application/json", oom, sizeof oom - 1);
    }
    r = host->http_respond(req, status, "application/json", b.data, b.len);
    kanal_kit_buf_free(&b);
    return r;
}

/* Decode the JSON string at s->t[s->i] (a '"', already validated) into out. */
static int decode_string(struct scan *s, char *out, size_t cap)
{
    size_t o = 0;
    s->i++;
    for (;;) {
        unsigned c = s->t[s->i++];
        if (c == '"')
            break;
        if (c == '\\') {
            c = s->t[s->i++];
            const char *esc = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", (int)c);
            if (c != 'u' && esc) {
                c = (unsigned char)esc[1];
            } else {
                unsigned cp = (unsigned)strtoul(
                    (const char[5]){(char)s->t[s->i], (char)s->t[s->i + 1], (char)s->t[s->i + 2],
                                    (char)s->t[s->i + 3], 0},
                    NULL, 16);
                s->i += 4;
                if (cp >= 0xd800 && cp <= 0xdbff && s->i + 6 <= s->n && s->t[s->i] == '\\' &&
                    s->t[s->i + 1] == 'u') {
                    unsigned lo = (unsigned)strtoul(
                        (const char[5]){(char)s->t[s->i + 2], (char)s->t[s->i + 3],
                                        (char)s->t[s->i + 4], (char)s->t[s->i + 5], 0},
                        NULL, 16);
                    if (lo >= 0xdc00 && lo <= 0xdfff) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        s->i += 6;
                    }
                }
                if (cp >= 0xd800 && cp <= 0xdfff)
                    cp = 0xfffd; /* a lone surrogate is no character */
                char u[4];
                size_t k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                if (k == 1)
                    u[0] = (char)cp;
                else {
                    for (size_t j = k - 1; j > 0; j--, cp >>= 6)
                        u[j] = (char)(0x80 | (cp & 0x3f));
                    u[0] = (char)((k == 2 ? 0xc0 : k == 3 ? 0xe0 : 0xf0) | cp);
                }
                if (o + k >= cap)
                    return -ENOBUFS;
                memcpy(out + o, u, k);
                o += k;
                continue;
            }
        }
        if (o + 1 >= cap)
            return -ENOBUFS;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int get_string(const char *text, size_t len, const char *key, char *out, size_t cap,
                      int to_the_end);

int kanal_kit_json_get_string(const char *text, size_t len, const char *key, char *out, size_t cap)
{
    return get_string(text, len, key, out, cap, 1);
}

int kanal_kit_record_get_string(const char *record, size_t len, const char *key, char *out,
                                size_t cap)
{
    return get_string(record, len, key, out, cap, 0);
}

/* to_the_end: check the text after the member too (else stop there). */
static int get_string(const char *text, size_t len, const char *key, char *out, size_t cap,
                      int to_the_end)
{
    /* One pass: each member is checked as it is skipped (value() is the
     * validator), the wanted one decoded, and the rest checked to the end,
     * so the answer is the same as validating first, at half the cost. */
    if (cap == 0)
        return -EINVAL;
    struct scan s = {.t = (const unsigned char *)text, .n = len, .max_depth = KANAL_KIT_MAX_DEPTH};
    ws(&s);
    if (s.i >= s.n || s.t[s.i] != '{')
        return -EINVAL;
    s.i++;
    size_t klen = strlen(key);
    int found = -ENOENT, have = 0;
    ws(&s);
    if (s.i < s.n && s.t[s.i] == '}') {
        s.i++;
    } else {
        for (;;) {
            ws(&s);
            if (s.i >= s.n || s.t[s.i] != '"')
                return -EINVAL;
            size_t kstart = s.i + 1;
            if (!str(&s))
                return -EINVAL;
            int match = !have && s.i - 1 - kstart == klen && memcmp(s.t + kstart, key, klen) == 0;
            ws(&s);
            if (s.i >= s.n || s.t[s.i] != ':')
                return -EINVAL;
            s.i++;
            ws(&s);
            size_t vstart = s.i;
            if (!value(&s, 2))
                return -EINVAL;
            if (match) {
                have = 1;
                if (s.t[vstart] != '"') {
                    found = -EINVAL;
                } else {
                    struct scan d = s;
                    d.i = vstart;
                    found = decode_string(&d, out, cap);
                }
                if (!to_the_end)
                    return found;
            }
            ws(&s);
            if (s.i >= s.n)
                return -EINVAL;
            if (s.t[s.i] == ',') {
                s.i++;
                continue;
            }
            if (s.t[s.i] != '}')
                return -EINVAL;
            s.i++;
            break;
        }
    }
    ws(&s);
    return s.i == s.n ? found : -EINVAL;
}
