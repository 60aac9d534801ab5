/* SPDX-License-Identifier: Apache-2.0 */
/* text/html reduced to text, for mail that has no text/plain part: what a
 * CRM user would read, without markup.  Not a renderer: tags are dropped,
 * block elements start new lines, script/style/head contents vanish,
 * character references are decoded and white space collapses as in HTML. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "email.h"

struct out {
    char *s;
    size_t n, cap;
    int space;    /* white space seen since the last text */
    int newlines; /* newlines at the end of the output */
};

static int put(struct out *o, const char *p, size_t n)
{
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *s = realloc(o->s, cap);
        if (!s)
            return -1;
        o->s = s;
        o->cap = cap;
    }
    memcpy(o->s + o->n, p, n);
    o->n += n;
    o->s[o->n] = '\0';
    return 0;
}

static void text(struct out *o, const char *p, size_t n)
{
    if (o->space && o->n > 0 && !o->newlines && o->s[o->n - 1] != ' ')
        put(o, " ", 1);
    o->space = 0;
    o->newlines = 0;
    put(o, p, n);
}

static void newline(struct out *o, int max)
{
    o->space = 0;
    if (o->n == 0)
        return;
    while (o->n > 0 && o->s[o->n - 1] == ' ') /* no trailing blanks */
        o->s[--o->n] = '\0';
    while (o->newlines < max) {
        put(o, "\n", 1);
        o->newlines++;
    }
}

static void utf8(struct out *o, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    text(o, b, n);
}

/* A character reference at p ('&'); returns the bytes consumed, 0 when it
 * is not one (the '&' is then text). */
static size_t entity(struct out *o, const char *p, const char *end)
{
    static const struct {
        const char *name;
        unsigned long cp;
    } names[] = {
        {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},
        {"apos", '\''},    {"nbsp", ' '},      {"copy", 0xA9},    {"reg", 0xAE},
        {"euro", 0x20AC},  {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013},
        {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201C}, {"rdquo", 0x201D},
        {"bull", 0x2022},  {"middot", 0xB7},   {"laquo", 0xAB},   {"raquo", 0xBB},
        {"ccedil", 0xE7},  {"Ccedil", 0xC7},   {"ouml", 0xF6},    {"Ouml", 0xD6},
        {"uuml", 0xFC},    {"Uuml", 0xDC},     {"auml", 0xE4},    {"Auml", 0xC4},
        {"szlig", 0xDF},   {"eacute", 0xE9},   {"egrave", 0xE8},  {"agrave", 0xE0},
    };
    if (end - p >= 2 && p[1] == '#') {
        /* Digits only (strtoul would also take blanks, signs and "0x"), as
         * many as there are: a huge number is out of range, not text. */
        int hex = end - p >= 3 && (p[2] == 'x' || p[2] == 'X');
        const char *digits = p + 2 + hex, *d = digits;
        unsigned long cp = 0;
        for (; d < end; d++) {
            int v = isdigit((unsigned char)*d)           ? *d - '0'
                    : hex && isxdigit((unsigned char)*d) ? (tolower((unsigned char)*d) - 'a' + 10)
                                                         : -1;
            if (v < 0)
                break;
            if (cp <= 0x10FFFF) /* beyond, it stays out of range: no overflow */
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
        }
        if (d == digits || d == end || *d != ';')
            return 0;
        const char *semi = d;
        if (cp == 0xA0 || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f')
            cp = ' ';
        else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            cp = 0xFFFD; /* control characters are not text */
        if (cp == ' ')
            o->space = 1;
        else
            utf8(o, cp);
        return (size_t)(semi - p) + 1;
    }
    /* The longest name kanal decodes is "hellip"; a ';' further away ends
     * something else. */
    size_t room = (size_t)(end - p) < 12 ? (size_t)(end - p) : 12;
    const char *semi = memchr(p, ';', room);
    if (!semi)
        return 0;
    const char *name = p + 1;
    size_t len = (size_t)(semi - name);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && strncmp(names[i].name, name, len) == 0) {
            if (names[i].cp == ' ')
                o->space = 1;
            else
                utf8(o, names[i].cp);
            return (size_t)(semi - p) + 1;
        }
    return 0;
}

static int tag_is(const char *name, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == len && strncasecmp(*list, name, len) == 0)
            return 1;
    return 0;
}

/* Skip to the end of an element whose content is not text (<script>...).
 * A <head> also ends where <body> starts: mail often leaves out </head>,
 * and its text must not vanish with it. */
static const char *skip_element(const char *p, const char *end, const char *name, size_t len)
{
    int head = len == 4 && strncasecmp(name, "head", 4) == 0;
    for (const char *q = p; q + len + 2 < end; q++) {
        if (q[0] != '<')
            continue;
        if (head && strncasecmp(q + 1, "body", 4) == 0)
            return q;
        if (q[1] == '/' && strncasecmp(q + 2, name, len) == 0) {
            const char *gt = memchr(q, '>', (size_t)(end - q));
            return gt ? gt + 1 : end;
        }
    }
    return end;
}

/* Whether the '<' at p starts markup.  As in HTML, "a < b", "<3" or a '<'
 * at the very end is text. */
static int opens_markup(const char *p, const char *end)
{
    if (end - p < 2)
        return 0;
    unsigned char c = (unsigned char)p[1];
    if (isalpha(c) || c == '!' || c == '?')
        return 1;
    return c == '/' && end - p >= 3 && isalpha((unsigned char)p[2]);
}

char *html_to_text(const char *html, size_t len)
{
    static const char *const paragraphs[] = {
        "p",  "div", "h1",  "h2", "h3",      "h4",      "h5",     "h6",     "table", "blockquote",
        "ul", "ol",  "pre", "hr", "section", "article", "header", "footer", NULL};
    static const char *const lines[] = {"br", "li", "tr", "dt", "dd", "title", NULL};
    static const char *const cells[] = {"td", "th", NULL};
    static const char *const hidden[] = {"script", "style", "head", "noscript", "template", NULL};
    struct out o = {0};
    const char *p = html, *end = html + len;
    if (put(&o, "", 0) < 0)
        return NULL;
    while (p < end) {
        if (*p == '<' && opens_markup(p, end)) {
            if (end - p >= 4 && strncmp(p, "<!--", 4) == 0) {
                const char *c = p + 4;
                while (c + 3 <= end && strncmp(c, "-->", 3) != 0)
                    c++;
                p = c + 3 <= end ? c + 3 : end;
                continue;
            }
            const char *gt = memchr(p, '>', (size_t)(end - p));
            if (!gt)
                break;
            const char *name = p + 1;
            int closing = *name == '/';
            if (closing)
                name++;
            size_t nl = 0;
            while (name + nl < gt && (isalnum((unsigned char)name[nl])))
                nl++;
            p = gt + 1;
            if (!closing && tag_is(name, nl, hidden)) {
                p = skip_element(p, end, name, nl);
                continue;
            }
            if (tag_is(name, nl, paragraphs))
                newline(&o, 2);
            else if (tag_is(name, nl, lines))
                newline(&o, 1);
            else if (tag_is(name, nl, cells))
                o.space = 1;
            if (!closing && nl == 2 && strncasecmp(name, "li", 2) == 0)
                text(&o, "- ", 2);
            continue;
        }
        if (*p == '&') {
            size_t used = entity(&o, p, end);
            if (used) {
                p += used;
                continue;
            }
        }
        if (isspace((unsigned char)*p)) {
            o.space = 1;
            p++;
            continue;
        }
        /* Text up to the next markup or blank.  The first byte is taken
         * whatever it is: an '&' that is no reference, or a '<' that opens
         * no tag, is text, and the scan must move past it. */
        const char *q = p + 1;
        while (q < end && *q != '<' && *q != '&' && !isspace((unsigned char)*q))
            q++;
        text(&o, p, (size_t)(q - p));
        p = q;
    }
    while (o.n > 0 && isspace((unsigned char)o.s[o.n - 1]))
        o.s[--o.n] = '\0';
    return o.s;
}
