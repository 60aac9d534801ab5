/* SPDX-License-Identifier: Apache-2.0 */
/* The CSV attendee export parser (plugins/signup/csv.c), read the way the
 * signup plugin reads a dropped file: checked in slices, then row by row,
 * skipping rows (only counting them) and keeping them.  Input: one byte
 * choosing the delimiter (detected, ',', ';', tab) and the slice size, then
 * the file.  Checks: a refusal says why; rows' lines grow and stay within
 * the file; each field is a C string no longer than the file; no row has
 * more than CSV_MAX_FIELDS fields; skipping and keeping rows agree. */
#include "fuzz.h"

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[] = {0, ',', ';', '\t'};
    struct fuzz_in in = {data, size};
    uint8_t b = fuzz_byte(&in);
    char delim = delims[b & 3];
    size_t slice = 1 + (size_t)(b >> 2) * 97; /* 1 .. 6112 bytes per check */
    /* The plugin reads files into a NUL-terminated buffer. */
    char *text = fuzz_strndup(in.p, in.n);
    struct csv_reader r;
    csv_reader_init(&r, text, in.n, delim);
    char err[256] = "";
    int c;
    while ((c = csv_check(&r, slice, err, sizeof err)) == 1)
        ;
    if (c < 0) {
        if (!err[0])
            FUZZ_FAIL("csv_check refused without saying why");
        csv_reader_free(&r);
        free(text);
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < in.n; i++)
        lines += text[i] == '\n' || text[i] == '\r';
    /* First pass: count the rows without keeping them. */
    size_t counted = 0;
    int n;
    while ((n = csv_next(&r, NULL, err, sizeof err)) == 1)
        counted++;
    int skip_failed = n < 0;
    if (skip_failed && !err[0])
        FUZZ_FAIL("csv_next refused a skipped row without saying why");
    /* Second pass: keep them. */
    csv_rewind(&r);
    size_t kept = 0, last = 0;
    struct csv_row row = {0};
    err[0] = '\0';
    while ((n = csv_next(&r, &row, err, sizeof err)) == 1) {
        if (row.line < last || row.line == 0 || row.line > lines)
            FUZZ_FAIL("row %zu says line %zu (previous %zu, %zu lines)", kept, row.line, last,
                      lines);
        last = row.line;
        if (row.nfields > CSV_MAX_FIELDS)
            FUZZ_FAIL("a row of %zu fields", row.nfields);
        for (size_t j = 0; j < row.nfields; j++)
            if (strlen(row.fields[j]) > in.n)
                FUZZ_FAIL("a field longer than the file");
        csv_row_free(&row);
        kept++;
    }
    csv_row_free(&row);
    if (n < 0 && !err[0])
        FUZZ_FAIL("csv_next refused a row without saying why");
    if ((n < 0) != skip_failed || (!skip_failed && kept != counted))
        FUZZ_FAIL("skipping found %zu rows (%s), keeping %zu (%s)", counted,
                  skip_failed ? "refused" : "ok", kept, n < 0 ? "refused" : "ok");
    csv_reader_free(&r);
    free(text);
    return 0;
}
