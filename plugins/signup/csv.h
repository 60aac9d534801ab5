/* SPDX-License-Identifier: Apache-2.0 */
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

/* A few rows kept together (the first rows, where the header is looked for). */
struct csv_doc {
    struct csv_row *rows;
    size_t nrows;
};

/* The most fields in one row: a row of nothing but delimiters must not
 * become millions of fields in memory. */
#define CSV_MAX_FIELDS 1000
/* The most bad rows listed (with their line and why) in a file's report. */
#define CSV_MAX_ERROR_LINES 10000
/* The header row is looked for among this many first rows. */
#define CSV_HEADER_ROWS 10

/* A CSV text (UTF-8, a BOM and Excel's "sep=;" first line allowed, RFC 4180
 * quoting with delimiters and line breaks inside quotes) read one row at a
 * time.  The text stays the caller's. */
struct csv_reader {
    const char *s;
    size_t len;
    size_t pos, line;             /* where the next row starts */
    size_t start_pos, start_line; /* the first row, for csv_rewind */
    size_t checked, checked_line; /* how far csv_check got */
    char delimiter;
    int keep; /* fields are kept (not only counted) */
    char *field;
    size_t flen, fcap;
};

/* delimiter 0 detects ',', ';' or tab from the first lines. */
void csv_reader_init(struct csv_reader *r, const char *buf, size_t len, char delimiter);
/* Check the next budget bytes: 1 while more remain, 0 once the whole text
 * is UTF-8 without NUL bytes, -1 with err (not UTF-8, binary). */
int csv_check(struct csv_reader *r, size_t budget, char *err, size_t errlen);
/* The next row into *row (NULL: skip it, only checking it): 1, 0 at the
 * end, -1 with err (an unterminated quote, too many fields, no memory). */
int csv_next(struct csv_reader *r, struct csv_row *row, char *err, size_t errlen);
/* Back to the first row. */
void csv_rewind(struct csv_reader *r);
void csv_reader_free(struct csv_reader *r);
void csv_row_free(struct csv_row *row);
/* Append row (moved: *row is emptied); -1 without memory. */
int csv_doc_add(struct csv_doc *doc, struct csv_row *row);
void csv_doc_free(struct csv_doc *doc);

/* Parse the columns option ("email=E-posta,name=Ad Soyad,phone=Telefon")
 * into the header label of each role; -1 with err when it is malformed. */
int csv_columns_parse(const char *spec, char labels[ROLE_COUNT][128], char *err, size_t errlen);

/* An import of a file in progress, and what it made so far. */
struct csv_result {
    int col[ROLE_COUNT];          /* column of each role, or -1 */
    const struct csv_row *header; /* NULL for a file without header */
    size_t header_line;           /* 0 when the file has no header row */
    size_t first_row;             /* the index of the first data row */
    json_t *seen;                 /* handle -> line, for people listed twice */
    char *errors;                 /* "line N: why" lines, or NULL */
    size_t errors_len, errors_cap;
    size_t nerrors;
    size_t nrows;      /* data rows so far (blank rows aside) */
    size_t nrecords;   /* records made so far */
    char columns[512]; /* which column was taken for what, for the summary */
};

/* Find the header row and the columns among the first rows of the file
 * (head, at most CSV_HEADER_ROWS); -1 with err when no header row (or data
 * row) says where e-mails or phone numbers are.  columns is the columns
 * option (NULL: recognise headers by name).  res->header points into head. */
int csv_import_begin(struct csv_doc *head, const char *columns, struct csv_result *res, char *err,
                     size_t errlen);
/* The sign-up record of one data row for event s->event_id, or NULL when
 * the row is blank, bad or repeated (bad rows are noted in res). */
json_t *csv_import_row(struct signup *s, struct csv_row *row, const char *file,
                       const char *occurred_at, struct csv_result *res);
/* At the end of the file: a last line saying how many bad rows past
 * CSV_MAX_ERROR_LINES were not listed. */
void csv_import_end(struct csv_result *res);
void csv_result_free(struct csv_result *r);

#endif
