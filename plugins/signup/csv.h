/* CSV attendee exports: the parser (csv.c) and rows to sign-up records
 * (csv_import.c). */
#ifndef KANAL_SIGNUP_CSV_H
#define KANAL_SIGNUP_CSV_H

#include <stddef.h>

#include <jansson.h>

#include "signup.h"

struct csv_row {
    size_t line; /* the physical line the row starts on, from 1 */
    size_t nfields;
    char **fields;
};

struct csv_doc {
    struct csv_row *rows;
    size_t nrows;
    char delimiter;
};

/* Parse UTF-8 text (a BOM and Excel's "sep=;" first line allowed), RFC 4180
 * quoting with delimiters and line breaks inside quotes.  delimiter 0
 * detects ',', ';' or tab from the first lines.  -1 with err when the text
 * cannot be parsed at all (not UTF-8, binary, an unterminated quote). */
int csv_parse(const char *buf, size_t len, char delimiter, struct csv_doc *doc, char *err,
              size_t errlen);
void csv_doc_free(struct csv_doc *doc);

/* Parse the columns option ("email=E-posta,name=Ad Soyad,phone=Telefon")
 * into the header label of each role; -1 with err when it is malformed. */
int csv_columns_parse(const char *spec, char labels[ROLE_COUNT][128], char *err, size_t errlen);

/* An import of a parsed file in progress, and what it made so far. */
struct csv_result {
    int col[ROLE_COUNT];          /* column of each role, or -1 */
    const struct csv_row *header; /* NULL for a file without header */
    size_t header_line;           /* 0 when the file has no header row */
    size_t next_row;              /* the next row to turn into a record */
    json_t *seen;                 /* handle -> line, for people listed twice */
    char *errors;                 /* "line N: why" lines, or NULL */
    size_t errors_len, errors_cap;
    size_t nerrors;
    size_t nrows;      /* data rows so far (blank rows aside) */
    size_t nrecords;   /* records made so far */
    char columns[512]; /* which column was taken for what, for the summary */
};

/* Find the header row and the columns; -1 with err when no header row (or
 * data row) says where e-mails or phone numbers are.  columns is the
 * columns option (NULL: recognise headers by name). */
int csv_import_begin(const struct csv_doc *doc, const char *columns, struct csv_result *res,
                     char *err, size_t errlen);
/* The sign-up records of the next rows, at most max (an empty array when
 * every row is done), for event s->event_id.  Bad rows are noted in res. */
json_t *csv_import_next(struct signup *s, const struct csv_doc *doc, const char *file,
                        const char *occurred_at, struct csv_result *res, size_t max);
void csv_result_free(struct csv_result *r);

#endif
