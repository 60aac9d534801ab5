/* SPDX-License-Identifier: Apache-2.0 */
/* Keyword matching and robots.txt.
 *
 * Folding is a small table of our own, not ICU: matching needs lower case
 * with the Turkish i's and the marks dropped, nothing locale-wide, and the
 * table keeps the plugin free of a 30 MB dependency.  Letters outside the
 * table are kept as they are (only ASCII is lowered). */
#include "lmatch.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Code points folded to an ASCII letter. */
static const struct {
    uint32_t cp;
    char to;
} fold_table[] = {
    {0x130, 'i'}, {0x131, 'i'}, /* İ ı */
    {0xC7, 'c'},  {0xE7, 'c'},  /* Ç ç */
    {0x11E, 'g'}, {0x11F, 'g'}, /* Ğ ğ */
    {0xD6, 'o'},  {0xF6, 'o'},  /* Ö ö */
    {0x15E, 's'}, {0x15F, 's'}, /* Ş ş */
    {0xDC, 'u'},  {0xFC, 'u'},  /* Ü ü */
    {0xC2, 'a'},  {0xE2, 'a'},  /* Â â */
    {0xCE, 'i'},  {0xEE, 'i'},  /* Î î */
    {0xDB, 'u'},  {0xFB, 'u'},  /* Û û */
    {0xC0, 'a'},  {0xE0, 'a'},  {0xC1, 'a'}, {0xE1, 'a'}, {0xC4, 'a'}, {0xE4, 'a'},
    {0xC8, 'e'},  {0xE8, 'e'},  {0xC9, 'e'}, {0xE9, 'e'}, {0xCA, 'e'}, {0xEA, 'e'},
    {0xCB, 'e'},  {0xEB, 'e'},  {0xCD, 'i'}, {0xED, 'i'}, {0xD3, 'o'}, {0xF3, 'o'},
    {0xD4, 'o'},  {0xF4, 'o'},  {0xDA, 'u'}, {0xFA, 'u'}, {0xD1, 'n'}, {0xF1, 'n'},
};

/* One UTF-8 character at s: its code point and length (an invalid byte is
 * itself, length 1). */
static uint32_t utf8_next(const unsigned char *s, size_t *len)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    uint32_t cp = n == 4 ? c & 0x07 : n == 3 ? c & 0x0F : c & 0x1F;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return c;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *len = (size_t)n;
    return n == 1 ? c : cp;
}

char *lmatch_fold(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 3);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    out[o++] = ' '; /* a word boundary before the first word */
    while (*p) {
        size_t len;
        uint32_t cp = utf8_next(p, &len);
        char to = 0;
        if (cp < 0x80) {
            /* Anything else, '#' and '@' too, breaks words: #Turkcell and
             * @TurkcellHizmet name turkcell. */
            to = isalnum((int)cp) ? (char)tolower((int)cp) : ' ';
        } else if (cp == 0x307) {
            p += len; /* combining dot above (from i̇): already dropped */
            continue;
        } else {
            for (size_t i = 0; i < sizeof fold_table / sizeof fold_table[0]; i++)
                if (fold_table[i].cp == cp)
                    to = fold_table[i].to;
            if (!to && (cp == 0xA0 || cp == 0x2019 || cp == 0x2018 || cp == 0x201C ||
                        cp == 0x201D || cp == 0x2013 || cp == 0x2014 || cp == 0x2026))
                to = ' '; /* nbsp, curly apostrophes and quotes, dashes, ellipsis */
        }
        if (to == ' ') {
            if (out[o - 1] != ' ')
                out[o++] = ' ';
        } else if (to) {
            out[o++] = to;
        } else {
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (out[o - 1] != ' ')
        out[o++] = ' ';
    out[o] = '\0';
    return out;
}

static int add_list(char ***v, size_t *n, const char *list)
{
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *one = strndup(p, len);
        if (!one)
            return -ENOMEM;
        char *f = lmatch_fold(one);
        free(one);
        if (!f)
            return -ENOMEM;
        if (strlen(f) <= 1) { /* only spaces or punctuation */
            free(f);
        } else {
            char **nv = realloc(*v, (*n + 1) * sizeof *nv);
            if (!nv) {
                free(f);
                return -ENOMEM;
            }
            *v = nv;
            /* Keep the leading space (the word boundary), drop the trailing
             * one: a suffix may follow the keyword. */
            f[strlen(f) - 1] = '\0';
            (*v)[(*n)++] = f;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int lmatch_init(struct lmatch *m, const char *keywords, const char *exclude)
{
    memset(m, 0, sizeof *m);
    int r = add_list(&m->kw, &m->nkw, keywords);
    if (r == 0)
        r = add_list(&m->ex, &m->nex, exclude);
    if (r < 0)
        lmatch_free(m);
    return r;
}

void lmatch_free(struct lmatch *m)
{
    for (size_t i = 0; i < m->nkw; i++)
        free(m->kw[i]);
    for (size_t i = 0; i < m->nex; i++)
        free(m->ex[i]);
    free(m->kw);
    free(m->ex);
    memset(m, 0, sizeof *m);
}

static int any(char *const *v, size_t n, const char *folded)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(folded, v[i]))
            return 1;
    return 0;
}

int lmatch_test(const struct lmatch *m, const char *title, const char *text)
{
    size_t tl = title ? strlen(title) : 0, xl = text ? strlen(text) : 0;
    char *both = malloc(tl + xl + 2);
    if (!both)
        return 0;
    memcpy(both, title ? title : "", tl);
    both[tl] = '\n';
    memcpy(both + tl + 1, text ? text : "", xl + 1);
    char *f = lmatch_fold(both);
    free(both);
    if (!f)
        return 0;
    int ok = (m->nkw == 0 || any(m->kw, m->nkw, f)) && !any(m->ex, m->nex, f);
    free(f);
    return ok;
}

/* ---- robots.txt (RFC 9309) ---- */

/* Does pattern pat[0..plen) ('*' any run) match the start of p, or all of
 * it when anchored? */
static int glob(const char *pat, size_t plen, const char *p, int anchored)
{
    while (plen) {
        if (*pat == '*') {
            pat++;
            plen--;
            if (!plen && !anchored)
                return 1;
            for (;; p++) {
                if (glob(pat, plen, p, anchored))
                    return 1;
                if (!*p)
                    return 0;
            }
        }
        if (*p != *pat)
            return 0;
        p++;
        pat++;
        plen--;
    }
    return anchored ? *p == '\0' : 1;
}

/* A rule's pattern against the path; a final '$' anchors it at the end.
 * Rules with more than four '*' never match: a hostile robots.txt must not
 * make matching take exponential time. */
static int rule_match(const char *pat, size_t plen, const char *path)
{
    size_t stars = 0;
    for (size_t i = 0; i < plen; i++)
        stars += pat[i] == '*';
    if (stars > 4)
        return 0;
    int anchored = plen > 0 && pat[plen - 1] == '$';
    return glob(pat, plen - (size_t)anchored, path, anchored);
}

int lrobots_allowed(const char *robots, const char *ua, const char *path)
{
    if (!robots)
        return 1;
    /* Two passes: rules of groups naming ua; if there are none, of "*". */
    for (int pass = 0; pass < 2; pass++) {
        int in_group = 0, last_was_agent = 0, found_group = 0;
        long best = -1;
        int allow = 1;
        const char *line = robots;
        while (*line) {
            const char *eol = strpbrk(line, "\r\n");
            size_t len = eol ? (size_t)(eol - line) : strlen(line);
            const char *hash = memchr(line, '#', len);
            if (hash)
                len = (size_t)(hash - line);
            const char *colon = memchr(line, ':', len);
            if (colon) {
                size_t klen = (size_t)(colon - line);
                while (klen > 0 && isspace((unsigned char)line[klen - 1]))
                    klen--;
                const char *v = colon + 1;
                const char *vend = line + len;
                while (v < vend && isspace((unsigned char)*v))
                    v++;
                while (vend > v && isspace((unsigned char)vend[-1]))
                    vend--;
                size_t vlen = (size_t)(vend - v);
                if (klen == 10 && strncasecmp(line, "user-agent", 10) == 0) {
                    if (!last_was_agent)
                        in_group = 0;
                    int hit = pass == 0 ? vlen == strlen(ua) && strncasecmp(v, ua, vlen) == 0
                                        : vlen == 1 && *v == '*';
                    if (hit) {
                        in_group = 1;
                        found_group = 1;
                    }
                    last_was_agent = 1;
                } else {
                    last_was_agent = 0;
                    int is_allow = klen == 5 && strncasecmp(line, "allow", 5) == 0;
                    int is_dis = klen == 8 && strncasecmp(line, "disallow", 8) == 0;
                    if (in_group && (is_allow || is_dis) && vlen > 0 && rule_match(v, vlen, path) &&
                        (long)vlen >= best) {
                        if ((long)vlen > best || is_allow)
                            allow = is_allow;
                        best = (long)vlen;
                    }
                }
            }
            if (!eol)
                break;
            line = eol + 1;
        }
        if (found_group)
            return allow;
    }
    return 1;
}
