/* SPDX-License-Identifier: Apache-2.0 */
/* A CSV parser for the files people actually export: RFC 4180 quoting
 * (delimiters, quotes and line breaks inside quoted fields), CRLF or LF,
 * UTF-8 with or without a byte-order mark, ',' or ';' (what spreadsheet
 * programs write in Turkish, German and other locales where ',' is the
 * decimal mark) or tab, and Excel's "sep=;" hint line.  It is lenient where
 * the meaning is clear (text after a closing quote is kept) and refuses
 * what cannot be read: bytes that are not UTF-8, binary files, a quote
 * that never closes, a row with more than CSV_MAX_FIELDS fields.
 *
 * It reads one row at a time and checks the text in slices of a given
 * size, so that a large file is read in many short turns of the event loop
 * and only the row at hand is held as fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

/* Check s[*pos..) for at most budget bytes (finishing the last character):
 * the line of the first byte that is not UTF-8 or is a NUL (*nul set), or
 * 0 with *pos and *line moved past the bytes checked. */
static size_t invalid_utf8_line(const unsigned char *s, size_t len, size_t *pos, size_t *line,
                                size_t budget, int *nul)
{
    size_t i = *pos, end = len - i > budget ? i + budget : len;
    *nul = 0;
    while (i < end) {
        unsigned char c = s[i];
        if (c == '\n')
            (*line)++;
        if (c == 0) {
            *nul = 1;
            return *line;
        }
        size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xe  ? 3
                   : (c >> 3) == 0x1e ? 4
                                      : 0;
        if (n == 0 || i + n > len)
            return *line;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return *line;
        /* Overlong forms, surrogates and code points past U+10FFFF. */
        if ((n == 2 && c < 0xc2) || (n == 3 && c == 0xe0 && s[i + 1] < 0xa0) ||
            (n == 3 && c == 0xed && s[i + 1] >= 0xa0) || (n == 4 && c == 0xf0 && s[i + 1] < 0x90) ||
            (n == 4 && (c > 0xf4 || (c == 0xf4 && s[i + 1] >= 0x90))))
            return *line;
        i += n;
    }
    *pos = i;
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

static int buf_put(struct csv_reader *r, char c)
{
    if (!r->keep)
        return 0;
    if (r->flen + 2 > r->fcap) {
        size_t cap = r->fcap ? r->fcap * 2 : 64;
        char *p = realloc(r->field, cap);
        if (!p)
            return -1;
        r->field = p;
        r->fcap = cap;
    }
    r->field[r->flen++] = c;
    r->field[r->flen] = '\0';
    return 0;
}

static int row_add(struct csv_reader *r, struct csv_row *row)
{
    if (row->nfields >= CSV_MAX_FIELDS)
        return -3;
    if (!r->keep) {
        row->nfields++;
        return 0;
    }
    if ((row->nfields & (row->nfields - 1)) == 0) { /* grow at powers of two */
        char **f = realloc(row->fields, (row->nfields ? row->nfields * 2 : 1) * sizeof *f);
        if (!f)
            return -1;
        row->fields = f;
    }
    row->fields[row->nfields] = strndup(r->field ? r->field : "", r->flen);
    if (!row->fields[row->nfields])
        return -1;
    row->nfields++;
    r->flen = 0;
    return 0;
}

void csv_row_free(struct csv_row *row)
{
    for (size_t i = 0; row->fields && i < row->nfields; i++)
        free(row->fields[i]);
    free(row->fields);
    memset(row, 0, sizeof *row);
}

void csv_doc_free(struct csv_doc *doc)
{
    for (size_t i = 0; i < doc->nrows; i++)
        csv_row_free(&doc->rows[i]);
    free(doc->rows);
    memset(doc, 0, sizeof *doc);
}

int csv_doc_add(struct csv_doc *doc, struct csv_row *row)
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

void csv_reader_init(struct csv_reader *r, const char *s, size_t len, char delimiter)
{
    memset(r, 0, sizeof *r);
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        s += 3;
        len -= 3;
    }
    r->s = s;
    r->len = len;
    r->line = 1;
    r->checked_line = 1;
    /* Excel's hint line, "sep=;", names the delimiter. */
    if (len >= 5 && strncmp(s, "sep=", 4) == 0 && (len == 5 || s[5] == '\n' || s[5] == '\r')) {
        delimiter = s[4];
        r->pos = 5;
        if (r->pos < len && s[r->pos] == '\r')
            r->pos++;
        if (r->pos < len && s[r->pos] == '\n')
            r->pos++;
        r->line = 2;
    }
    if (!delimiter)
        delimiter = detect_delimiter(s + r->pos, len - r->pos);
    r->delimiter = delimiter;
    r->start_pos = r->pos;
    r->start_line = r->line;
}

int csv_check(struct csv_reader *r, size_t budget, char *err, size_t errlen)
{
    int nul;
    size_t bad = invalid_utf8_line((const unsigned char *)r->s, r->len, &r->checked,
                                   &r->checked_line, budget, &nul);
    if (bad) {
        snprintf(err, errlen,
                 nul ? "binary file (a NUL byte on line %zu), not a CSV export"
                     : "not UTF-8 (line %zu): export it as \"CSV UTF-8\"",
                 bad);
        return -1;
    }
    return r->checked < r->len;
}

void csv_rewind(struct csv_reader *r)
{
    r->pos = r->start_pos;
    r->line = r->start_line;
}

int csv_next(struct csv_reader *r, struct csv_row *out, char *err, size_t errlen)
{
    const char *s = r->s;
    size_t len = r->len, pos = r->pos, line = r->line;
    struct csv_row row = {0};
    int res = 0;
    if (pos >= len)
        return 0;
    r->keep = out != NULL;
    r->flen = 0;
    row.line = line;
    for (;;) { /* one field */
        if (pos < len && s[pos] == '"') {
            size_t opened = line;
            pos++;
            for (;;) {
                if (pos >= len) {
                    snprintf(err, errlen, "a quoted field opened on line %zu never closes", opened);
                    res = -2;
                    break;
                }
                char c = s[pos];
                if (c == '"' && pos + 1 < len && s[pos + 1] == '"') {
                    res = buf_put(r, '"');
                    pos += 2;
                } else if (c == '"') {
                    pos++;
                    break;
                } else {
                    if (c == '\n' || (c == '\r' && (pos + 1 >= len || s[pos + 1] != '\n')))
                        line++;
                    if (!(c == '\r' && pos + 1 < len && s[pos + 1] == '\n'))
                        res = buf_put(r, c == '\r' ? '\n' : c);
                    pos++;
                }
                if (res)
                    break;
            }
            if (res)
                break;
        }
        /* Unquoted text, or what follows a closing quote. */
        while (res == 0 && pos < len && s[pos] != r->delimiter && s[pos] != '\n' && s[pos] != '\r')
            res = buf_put(r, s[pos++]);
        if (res || (res = row_add(r, &row)))
            break;
        if (pos < len && s[pos] == r->delimiter) {
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
    if (res) {
        if (res == -1)
            snprintf(err, errlen, "out of memory");
        else if (res == -3)
            snprintf(err, errlen, "the row on line %zu has more than %d fields", row.line,
                     CSV_MAX_FIELDS);
        csv_row_free(&row);
        return -1;
    }
    r->pos = pos;
    r->line = line;
    if (out)
        *out = row;
    return 1;
}

void csv_reader_free(struct csv_reader *r)
{
    free(r->field);
    r->field = NULL;
    r->flen = r->fcap = 0;
}
