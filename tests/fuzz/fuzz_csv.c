/* The CSV attendee export parser (plugins/signup/csv.c).  Input: one byte
 * choosing the delimiter (detected, ',', ';', tab), then the file.  Checks:
 * it parses or refuses with a reason; each row's fields are C strings; row
 * lines grow and stay within the file's line count. */
#include "fuzz.h"

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[] = {0, ',', ';', '\t'};
    struct fuzz_in in = {data, size};
    char delim = delims[fuzz_byte(&in) & 3];
    /* The plugin reads files into a NUL-terminated buffer. */
    char *text = fuzz_strndup(in.p, in.n);
    struct csv_doc doc;
    char err[256] = "";
    if (csv_parse(text, in.n, delim, &doc, err, sizeof err) < 0) {
        if (!err[0])
            FUZZ_FAIL("csv_parse refused without saying why");
        if (doc.rows || doc.nrows)
            FUZZ_FAIL("csv_parse refused but left rows");
        free(text);
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < in.n; i++)
        lines += text[i] == '\n' || text[i] == '\r';
    size_t last = 0;
    for (size_t i = 0; i < doc.nrows; i++) {
        const struct csv_row *row = &doc.rows[i];
        if (row->line < last || row->line == 0 || row->line > lines)
            FUZZ_FAIL("row %zu says line %zu (previous %zu, %zu lines)", i, row->line, last, lines);
        last = row->line;
        for (size_t j = 0; j < row->nfields; j++)
            if (strlen(row->fields[j]) > in.n)
                FUZZ_FAIL("a field longer than the file");
    }
    csv_doc_free(&doc);
    free(text);
    return 0;
}
