/* SPDX-License-Identifier: Apache-2.0 */
/* Rows of an attendee export to sign-up records.
 *
 * The header row is found among the first rows (exports often start with a
 * title line): the first row with a cell naming an e-mail or phone column,
 * by common names in English and Turkish (signup_role_of), or exactly the
 * headers the columns option gives.  A file without any header whose first
 * row holds an e-mail address is read as data from its first row.
 *
 * Each data row is one sign-up: external id "<event id>/<e-mail or phone
 * handle>", so the same person dropped again (the same file twice, or a
 * later export of the same event) is recognised.  A row without a valid
 * e-mail or phone is listed with its line number, never dropped silently.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

#define MAX_META_FIELDS 30

static const char *const role_keys[ROLE_COUNT] = {NULL,   "email",      "phone",
                                                  "name", "first_name", "last_name"};

/* Names that span lines in a spreadsheet cell read as one line. */
static void one_line(char *s)
{
    char *o = s;
    int space = 0;
    for (char *p = s; *p; p++) {
        if (isspace((unsigned char)*p)) {
            space = 1;
            continue;
        }
        if (space && o > s)
            *o++ = ' ';
        space = 0;
        *o++ = *p;
    }
    *o = '\0';
}

int csv_columns_parse(const char *spec, char labels[ROLE_COUNT][128], char *err, size_t errlen)
{
    memset(labels, 0, ROLE_COUNT * sizeof labels[0]);
    const char *p = spec;
    int any = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        const char *k = p;
        while (k < p + n && isspace((unsigned char)*k))
            k++;
        size_t klen = eq ? (size_t)(eq - k) : 0;
        while (klen > 0 && isspace((unsigned char)k[klen - 1]))
            klen--;
        int role = eq ? signup_role_key(k, klen) : -1;
        size_t vlen = eq ? n - (size_t)(eq + 1 - p) : 0;
        if (role < 0 || vlen == 0 || vlen >= sizeof labels[0]) {
            snprintf(err, errlen,
                     "columns: '%.*s' is not key=header with a key of email, phone, name, "
                     "first_name, last_name",
                     (int)(n > 60 ? 60 : n), p);
            return -1;
        }
        memcpy(labels[role], eq + 1, vlen);
        labels[role][vlen] = '\0';
        signup_trim(labels[role]);
        any = 1;
        p += n;
        if (*p == ',')
            p++;
    }
    if (!any || (!labels[ROLE_EMAIL][0] && !labels[ROLE_PHONE][0])) {
        snprintf(err, errlen, "columns must name an email or a phone column");
        return -1;
    }
    return 0;
}

static int looks_like_email(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at > s && strchr(at, '.') && !strpbrk(s, " \t");
}

static int looks_like_phone(const char *s)
{
    int digits = 0;
    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            digits++;
        else if (!strchr("+ -()./", *s))
            return 0;
    }
    return digits >= 7;
}

/* Which column holds what: the header row's index, or -1 for a file
 * without header (data from row `*first`). */
static int find_columns(const struct csv_doc *doc, const char *columns, int col[ROLE_COUNT],
                        size_t *first, long *header, char *err, size_t errlen)
{
    char labels[ROLE_COUNT][128];
    if (columns && csv_columns_parse(columns, labels, err, errlen) < 0)
        return -1;
    size_t limit = doc->nrows;
    for (size_t r = 0; r < limit; r++) {
        const struct csv_row *row = &doc->rows[r];
        for (int k = 0; k < ROLE_COUNT; k++)
            col[k] = -1;
        int complete = 1;
        for (int role = ROLE_EMAIL; role < ROLE_COUNT; role++) {
            for (size_t c = 0; c < row->nfields && col[role] < 0; c++) {
                int hit = columns
                              ? labels[role][0] && signup_label_equal(row->fields[c], labels[role])
                              : signup_role_of(row->fields[c]) == (enum signup_role)role;
                if (hit)
                    col[role] = (int)c;
            }
            if (columns && labels[role][0] && col[role] < 0)
                complete = 0;
        }
        if (complete && (col[ROLE_EMAIL] >= 0 || col[ROLE_PHONE] >= 0)) {
            *header = (long)r;
            *first = r + 1;
            return 0;
        }
    }
    if (columns) {
        snprintf(err, errlen,
                 "no header row with the headers given in columns (%s) in the first "
                 "%d rows",
                 columns, CSV_HEADER_ROWS);
        return -1;
    }
    /* No header: a first row holding an e-mail address is data. */
    for (size_t r = 0; r < doc->nrows; r++) {
        const struct csv_row *row = &doc->rows[r];
        for (int k = 0; k < ROLE_COUNT; k++)
            col[k] = -1;
        int blank = 1;
        for (size_t c = 0; c < row->nfields; c++) {
            const char *v = row->fields[c];
            blank &= v[0] == '\0';
            if (col[ROLE_EMAIL] < 0 && looks_like_email(v))
                col[ROLE_EMAIL] = (int)c;
            else if (col[ROLE_PHONE] < 0 && looks_like_phone(v))
                col[ROLE_PHONE] = (int)c;
            else if (col[ROLE_NAME] < 0 && v[0] && !strpbrk(v, "@0123456789"))
                col[ROLE_NAME] = (int)c;
        }
        if (blank)
            continue;
        if (col[ROLE_EMAIL] >= 0) {
            *header = -1;
            *first = r;
            return 0;
        }
        break;
    }
    snprintf(err, errlen,
             "no header row naming an e-mail or phone column in the first %d rows (looked for "
             "names like email, e-posta, phone, telefon, cep); set columns = email=<header>,...",
             CSV_HEADER_ROWS);
    return -1;
}

static void add_error(struct csv_result *res, size_t line, const char *why)
{
    /* The list is held until the file is done: past a bound, bad rows are
     * only counted (csv_import_end says how many more there were). */
    if (res->nerrors >= CSV_MAX_ERROR_LINES) {
        res->nerrors++;
        return;
    }
    char entry[400];
    int n = line ? snprintf(entry, sizeof entry, "line %zu: %s\n", line, why)
                 : snprintf(entry, sizeof entry, "%s\n", why);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof entry ? (size_t)n : sizeof entry - 1;
    /* Grow geometrically: a file can have many bad rows. */
    if (res->errors_len + len + 1 > res->errors_cap) {
        size_t cap = res->errors_cap ? res->errors_cap * 2 : 1024;
        while (cap < res->errors_len + len + 1)
            cap *= 2;
        char *p = realloc(res->errors, cap);
        if (!p)
            return;
        res->errors = p;
        res->errors_cap = cap;
    }
    memcpy(res->errors + res->errors_len, entry, len + 1);
    res->errors_len += len;
    res->nerrors++;
}

static const char *cell(const struct csv_row *row, int c)
{
    return c >= 0 && (size_t)c < row->nfields ? row->fields[c] : NULL;
}

int csv_import_begin(struct csv_doc *head, const char *columns, struct csv_result *res, char *err,
                     size_t errlen)
{
    memset(res, 0, sizeof *res);
    for (size_t r = 0; r < head->nrows; r++)
        for (size_t c = 0; c < head->rows[r].nfields; c++)
            signup_trim(head->rows[r].fields[c]);
    long header;
    if (find_columns(head, columns, res->col, &res->first_row, &header, err, errlen) < 0)
        return -1;
    res->header = header >= 0 ? &head->rows[header] : NULL;
    res->header_line = res->header ? res->header->line : 0;
    size_t used = 0;
    for (int role = ROLE_EMAIL; role < ROLE_COUNT; role++)
        if (res->col[role] >= 0 && used < sizeof res->columns)
            used += (size_t)snprintf(res->columns + used, sizeof res->columns - used,
                                     "%s%s=%s (column %d)", used ? ", " : "", role_keys[role],
                                     res->header ? res->header->fields[res->col[role]] : "?",
                                     res->col[role] + 1);
    res->seen = json_object();
    return res->seen ? 0 : -1;
}

json_t *csv_import_row(struct signup *s, struct csv_row *row, const char *file,
                       const char *occurred_at, struct csv_result *res)
{
    const int *col = res->col;
    const struct csv_row *head = res->header;
    int blank = 1;
    for (size_t c = 0; c < row->nfields; c++) {
        signup_trim(row->fields[c]);
        blank &= row->fields[c][0] == '\0';
    }
    if (blank)
        return NULL;
    res->nrows++;
    for (int role = ROLE_NAME; role < ROLE_COUNT; role++)
        if (cell(row, col[role]))
            one_line(row->fields[col[role]]);
    struct signup_person p = {cell(row, col[ROLE_EMAIL]), cell(row, col[ROLE_PHONE]),
                              cell(row, col[ROLE_NAME]), cell(row, col[ROLE_FIRST_NAME]),
                              cell(row, col[ROLE_LAST_NAME])};
    json_t *party;
    char key[512], why[256];
    if (signup_party(s, &p, &party, key, sizeof key, why, sizeof why) < 0) {
        add_error(res, row->line, why);
        return NULL;
    }
    json_t *before = json_object_get(res->seen, key);
    if (before) {
        snprintf(why, sizeof why, "the same attendee as line %lld (%.200s); not stored twice",
                 (long long)json_integer_value(before), key);
        add_error(res, row->line, why);
        json_decref(party);
        return NULL;
    }
    json_object_set_new(res->seen, key, json_integer((json_int_t)row->line));
    char ext[600];
    snprintf(ext, sizeof ext, "%s/%s", s->event_id, key);
    json_t *fields = json_object();
    for (size_t c = 0; head && c < row->nfields && c < head->nfields; c++) {
        int taken = 0;
        for (int role = ROLE_EMAIL; role < ROLE_COUNT; role++)
            taken |= col[role] == (int)c;
        if (!taken && head->fields[c][0] && row->fields[c][0] &&
            json_object_size(fields) < MAX_META_FIELDS)
            json_object_set_new(fields, head->fields[c], json_string(row->fields[c]));
    }
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:{s:s,s:I}}", "kind", "signup", "direction", "inbound",
                  "external_id", ext, "from", party, "event",
                  signup_event(s->event_id, s->event_name, s->event_starts_at), "occurred_at",
                  occurred_at, "meta", "file", file, "line", (json_int_t)row->line);
    if (rec && json_object_size(fields))
        json_object_set(json_object_get(rec, "meta"), "fields", fields);
    json_decref(fields);
    if (rec && s->event_name)
        json_object_set_new(rec, "subject", json_string(s->event_name));
    if (rec)
        res->nrecords++;
    return rec;
}

void csv_result_free(struct csv_result *r)
{
    json_decref(r->seen);
    free(r->errors);
    memset(r, 0, sizeof *r);
}

void csv_import_end(struct csv_result *res)
{
    if (res->nerrors > CSV_MAX_ERROR_LINES) {
        size_t more = res->nerrors - CSV_MAX_ERROR_LINES;
        char why[100];
        snprintf(why, sizeof why, "%zu more bad row(s), not listed", more);
        size_t n = res->nerrors;
        res->nerrors = CSV_MAX_ERROR_LINES - 1; /* room for this one line */
        add_error(res, 0, why);
        res->nerrors = n;
    }
}
