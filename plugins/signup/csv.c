/* A CSV parser for the files people actually export: RFC 4180 quoting
 * (delimiters, quotes and line breaks inside quoted fields), CRLF or LF,
 * UTF-8 with or without a byte-order mark, ',' or ';' (what spreadsheet
 * programs write in Turkish, German and other locales where ',' is the
 * decimal mark) or tab, and Excel's "sep=;" hint line.  It is lenient where
 * the meaning is clear (text after a closing quote is kept) and refuses
 * what cannot be read: bytes that are not UTF-8, binary files, a quote
 * that never closes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

/* The line of the first byte that is not UTF-8, or 0. */
static size_t invalid_utf8_line(const unsigned char *s, size_t len, int *nul)
{
    size_t line = 1;
    *nul = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c == '\n')
            line++;
        if (c == 0) {
            *nul = 1;
            return line;
        }
        size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xe  ? 3
                   : (c >> 3) == 0x1e ? 4
                                      : 0;
        if (n == 0 || i + n > len)
            return line;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return line;
        /* Overlong forms, surrogates and code points past U+10FFFF. */
        if ((n == 2 && c < 0xc2) || (n == 3 && c == 0xe0 && s[i + 1] < 0xa0) ||
            (n == 3 && c == 0xed && s[i + 1] >= 0xa0) || (n == 4 && c == 0xf0 && s[i + 1] < 0x90) ||
            (n == 4 && (c > 0xf4 || (c == 0xf4 && s[i + 1] >= 0x90))))
            return line;
        i += n;
    }
    return 0;
}

/* Count candidate delimiters outside quotes in the first lines. */
static char detect_delimiter(const char *s, size_t len)
{
    size_t counts[3] = {0, 0, 0};
    const char cands[3] = {',', ';', '\t'};
    int quoted = 0;
    size_t lines = 0;
    for (size_t i = 0; i < len && lines < 20; i++) {
        if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == '\n')
            lines++;
        else if (!quoted)
            for (int k = 0; k < 3; k++)
                counts[k] += s[i] == cands[k];
    }
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (counts[k] > counts[best])
            best = k;
    return cands[best];
}

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_put(struct buf *b, char c)
{
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
    return 0;
}

static int row_add(struct csv_row *row, struct buf *field)
{
    char **f = realloc(row->fields, (row->nfields + 1) * sizeof *f);
    if (!f)
        return -1;
    row->fields = f;
    f[row->nfields] = strndup(field->p ? field->p : "", field->len);
    if (!f[row->nfields])
        return -1;
    row->nfields++;
    field->len = 0;
    return 0;
}

static int doc_add(struct csv_doc *doc, struct csv_row *row)
{
    if ((doc->nrows & (doc->nrows - 1)) == 0) { /* grow at powers of two */
        struct csv_row *r = realloc(doc->rows, (doc->nrows ? doc->nrows * 2 : 1) * sizeof *r);
        if (!r)
            return -1;
        doc->rows = r;
    }
    doc->rows[doc->nrows++] = *row;
    memset(row, 0, sizeof *row);
    return 0;
}

static void row_free(struct csv_row *row)
{
    for (size_t i = 0; i < row->nfields; i++)
        free(row->fields[i]);
    free(row->fields);
}

void csv_doc_free(struct csv_doc *doc)
{
    for (size_t i = 0; i < doc->nrows; i++)
        row_free(&doc->rows[i]);
    free(doc->rows);
    memset(doc, 0, sizeof *doc);
}

int csv_parse(const char *s, size_t len, char delimiter, struct csv_doc *doc, char *err,
              size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        s += 3;
        len -= 3;
    }
    int nul;
    size_t bad = invalid_utf8_line((const unsigned char *)s, len, &nul);
    if (bad) {
        snprintf(err, errlen,
                 nul ? "binary file (a NUL byte on line %zu), not a CSV export"
                     : "not UTF-8 (line %zu): export it as \"CSV UTF-8\"",
                 bad);
        return -1;
    }
    size_t line = 1, pos = 0;
    /* Excel's hint line, "sep=;", names the delimiter. */
    if (len >= 5 && strncmp(s, "sep=", 4) == 0 && (len == 5 || s[5] == '\n' || s[5] == '\r')) {
        delimiter = s[4];
        pos = 5;
        if (pos < len && s[pos] == '\r')
            pos++;
        if (pos < len && s[pos] == '\n')
            pos++;
        line = 2;
    }
    if (!delimiter)
        delimiter = detect_delimiter(s + pos, len - pos);
    doc->delimiter = delimiter;
    struct csv_row row = {0};
    struct buf field = {0};
    int r = 0;
    while (pos < len && r == 0) {
        row.line = line;
        for (;;) { /* one field */
            if (pos < len && s[pos] == '"') {
                size_t opened = line;
                pos++;
                for (;;) {
                    if (pos >= len) {
                        snprintf(err, errlen, "a quoted field opened on line %zu never closes",
                                 opened);
                        r = -2;
                        break;
                    }
                    char c = s[pos];
                    if (c == '"' && pos + 1 < len && s[pos + 1] == '"') {
                        r = buf_put(&field, '"');
                        pos += 2;
                    } else if (c == '"') {
                        pos++;
                        break;
                    } else {
                        if (c == '\n' || (c == '\r' && (pos + 1 >= len || s[pos + 1] != '\n')))
                            line++;
                        if (!(c == '\r' && pos + 1 < len && s[pos + 1] == '\n'))
                            r = buf_put(&field, c == '\r' ? '\n' : c);
                        pos++;
                    }
                    if (r)
                        break;
                }
                if (r)
                    break;
            }
            /* Unquoted text, or what follows a closing quote. */
            while (r == 0 && pos < len && s[pos] != delimiter && s[pos] != '\n' && s[pos] != '\r')
                r = buf_put(&field, s[pos++]);
            if (r || (r = row_add(&row, &field)))
                break;
            if (pos < len && s[pos] == delimiter) {
                pos++;
                continue;
            }
            if (pos < len && s[pos] == '\r')
                pos++;
            if (pos < len && s[pos] == '\n')
                pos++;
            line++;
            break;
        }
        if (r == 0)
            r = doc_add(doc, &row);
    }
    row_free(&row);
    free(field.p);
    if (r) {
        if (r == -1)
            snprintf(err, errlen, "out of memory");
        csv_doc_free(doc);
        return -1;
    }
    return 0;
}
