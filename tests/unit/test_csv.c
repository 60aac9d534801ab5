/* SPDX-License-Identifier: Apache-2.0 */
/* The signup plugin's CSV reader (plugins/signup/csv.c, compiled in here):
 * checked and read in slices of any size, it gives the same rows and the
 * same refusals as in one go, a multi-byte character cut by a slice's end
 * included; a row of too many fields is refused whether kept or skipped. */
#include "unit.h"

#include "../../plugins/signup/csv.c"

/* Check the whole text with budget bytes a turn: 0, or -1 with err. */
static int check_all(struct csv_reader *r, size_t budget, char *err, size_t errlen)
{
    int res;
    size_t turns = 0;
    while ((res = csv_check(r, budget, err, errlen)) == 1)
        assert_true(++turns < 1000000);
    return res;
}

static void test_slices_find_the_same_bad_byte(void **state)
{
    (void)state;
    /* ı (2 bytes), € (3 bytes), 😀 (4 bytes) on every line, then a stray
     * continuation byte on line 4. */
    const char *good = "Ad,E-posta\nAyşe Yılmaz,a€@example.com\nZ😀,z@example.com\n";
    char text[256];
    snprintf(text, sizeof text, "%s\x80x,y\n", good);
    for (size_t budget = 1; budget <= strlen(text) + 1; budget++) {
        struct csv_reader r;
        char err[200] = "";
        csv_reader_init(&r, good, strlen(good), 0);
        assert_int_equal(check_all(&r, budget, err, sizeof err), 0);
        csv_reader_init(&r, text, strlen(text), 0);
        assert_int_equal(check_all(&r, budget, err, sizeof err), -1);
        assert_string_equal(err, "not UTF-8 (line 4): export it as \"CSV UTF-8\"");
    }
    /* Cut in the middle of a character at the end of the text. */
    const char cut[] = "a,b\nc,\xe2\x82";
    struct csv_reader r;
    char err[200] = "";
    csv_reader_init(&r, cut, sizeof cut - 1, 0);
    assert_int_equal(check_all(&r, 3, err, sizeof err), -1);
    assert_string_equal(err, "not UTF-8 (line 2): export it as \"CSV UTF-8\"");
    const char nul[] = "a,b\nc,d\n\0e\n";
    csv_reader_init(&r, nul, sizeof nul - 1, 0);
    assert_int_equal(check_all(&r, 2, err, sizeof err), -1);
    assert_string_equal(err, "binary file (a NUL byte on line 3), not a CSV export");
}

static void test_rows_skipped_then_read_agree(void **state)
{
    (void)state;
    const char text[] = "\xef\xbb\xbfsep=;\r\nTitle\r\nAd;\"E-posta\"\r\n\"Yılmaz; Ayşe\";"
                        "\"a\"\"b\"\"@x.com\"\r\n\"line\none\";z@x.com\n\n;last";
    struct csv_reader r;
    char err[200];
    csv_reader_init(&r, text, sizeof text - 1, 0);
    assert_int_equal(r.delimiter, ';');
    size_t skipped = 0;
    int res;
    while ((res = csv_next(&r, NULL, err, sizeof err)) == 1)
        skipped++;
    assert_int_equal(res, 0);
    csv_rewind(&r);
    struct csv_row rows[8];
    size_t n = 0;
    while (n < 8 && (res = csv_next(&r, &rows[n], err, sizeof err)) == 1)
        n++;
    assert_int_equal(res, 0);
    assert_int_equal(n, skipped);
    assert_int_equal(n, 6);
    assert_int_equal(rows[0].line, 2);
    assert_string_equal(rows[0].fields[0], "Title");
    assert_string_equal(rows[2].fields[0], "Yılmaz; Ayşe");
    assert_string_equal(rows[2].fields[1], "a\"b\"@x.com");
    assert_int_equal(rows[3].line, 5);
    assert_string_equal(rows[3].fields[0], "line\none");
    assert_int_equal(rows[4].line, 7);
    assert_int_equal(rows[4].nfields, 1);
    assert_int_equal(rows[5].line, 8);
    assert_string_equal(rows[5].fields[1], "last");
    for (size_t i = 0; i < n; i++)
        csv_row_free(&rows[i]);
    csv_reader_free(&r);
}

static void test_refusals_kept_or_skipped(void **state)
{
    (void)state;
    size_t len = 4 + 2 * CSV_MAX_FIELDS;
    char *wide = malloc(len + 1);
    assert_non_null(wide);
    memcpy(wide, "a,b\n", 4);
    for (size_t i = 0; i < CSV_MAX_FIELDS; i++)
        memcpy(wide + 4 + 2 * i, i + 1 < CSV_MAX_FIELDS ? "x," : "x\n", 2);
    wide[len] = '\0';
    for (int keep = 0; keep < 2; keep++) {
        struct csv_reader r;
        struct csv_row row;
        char err[200] = "";
        /* Exactly CSV_MAX_FIELDS fields: read. */
        csv_reader_init(&r, wide, len, ',');
        assert_int_equal(csv_next(&r, keep ? &row : NULL, err, sizeof err), 1);
        if (keep)
            csv_row_free(&row);
        assert_int_equal(csv_next(&r, keep ? &row : NULL, err, sizeof err), 1);
        if (keep) {
            assert_int_equal(row.nfields, CSV_MAX_FIELDS);
            csv_row_free(&row);
        }
        csv_reader_free(&r);
        /* One more: refused, naming the line. */
        wide[len - 1] = ',';
        csv_reader_init(&r, wide, len, ',');
        assert_int_equal(csv_next(&r, NULL, err, sizeof err), 1);
        assert_int_equal(csv_next(&r, keep ? &row : NULL, err, sizeof err), -1);
        assert_string_equal(err, "the row on line 2 has more than 1000 fields");
        csv_reader_free(&r);
        wide[len - 1] = '\n';
        const char open[] = "a,b\n\"c,d\ne,f\n";
        csv_reader_init(&r, open, sizeof open - 1, ',');
        assert_int_equal(csv_next(&r, keep ? &row : NULL, err, sizeof err), 1);
        if (keep)
            csv_row_free(&row);
        assert_int_equal(csv_next(&r, keep ? &row : NULL, err, sizeof err), -1);
        assert_string_equal(err, "a quoted field opened on line 2 never closes");
        csv_reader_free(&r);
    }
    free(wide);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slices_find_the_same_bad_byte),
        cmocka_unit_test(test_rows_skipped_then_read_agree),
        cmocka_unit_test(test_refusals_kept_or_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
