/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl contacts import: match the CRM's customers to kanal's contacts.
 *
 * Unlike the other commands this one changes the store, so it does not
 * write it directly: only kanald may append to the log (a merge is a feed
 * record).  It reads the CRM's export, turns each row into a customer
 * (crm_id, e-mails, phones, handles, name) and posts them in batches to
 * kanald's POST /v1/contacts/import, which links them in one transaction per
 * batch and reports what it matched, created and merged. */
#include "kanalctl.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define BATCH_ROWS 5000

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_contacts = {
    "contacts",
    "import the CRM's customers (CSV or JSON lines) through the running kanald",
    "usage: kanalctl contacts import [--url URL] [--token-file FILE] [--country CC] FILE\n"
    "\n"
    "Link the CRM's customers to kanal's contacts.  FILE is a CSV export (comma or\n"
    "semicolon separated, UTF-8 with or without BOM, a header row) or JSON lines\n"
    "(FILE.jsonl, one object per line).  Columns / keys:\n"
    "  crm_id            the CRM's customer id (required; also: id, customer_id)\n"
    "  email, emails     e-mail addresses (several: separated by '|' or spaces)\n"
    "  phone, phones     phone numbers, national ones in --country's format\n"
    "  handles           other handles, scheme:value (wa:..., ig:..., x:...)\n"
    "  name              the customer's name\n"
    "  default_country   ISO code for this row's national numbers\n"
    "  value             the customer's value to the CRM, a number >= 0 (the scores'\n"
    "                    monetary value; also: deger, tutar)\n"
    "  currency          its ISO 4217 code, e.g. TRY (also: para_birimi)\n"
    "Every handle that kanal has seen links that contact to the crm_id; handles of\n"
    "two contacts in one row merge them (a merge record appears in the feed); a row\n"
    "that matches nothing creates a contact.  Import is idempotent: importing the\n"
    "same file again matches every row and changes nothing.\n"
    "\n"
    "The rows go to the running kanald (POST /v1/contacts/import), which needs a\n"
    "token with admin scope.\n"
    "\n"
    "Options:\n"
    "  --url URL          kanald's address (default: $KANAL_URL, else\n"
    "                     http://127.0.0.1:8470)\n"
    "  --token-file FILE  a file holding the admin token's secret (default: the\n"
    "                     secret in $KANAL_TOKEN)\n"
    "  --country CC       default_country of rows that name none (e.g. TR)\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit status: 0 every row was imported; 1 some rows were refused (listed with\n"
    "their line numbers) or kanald could not be reached; 2 bad usage or an\n"
    "unreadable FILE.\n"
    "\n"
    "Example:\n"
    "  KANAL_TOKEN=$(cat /etc/kanal/admin-token) kanalctl contacts import customers.csv\n",
    run,
};

/* ---- CSV ---- */

struct csv {
    const char *p, *end;
    char delim;
    int line;
};

/* One field into out (malloc'ed); 1 when the record ends after it, 0 when
 * more fields follow, -1 at the end of the input. */
static int csv_field(struct csv *c, char **out)
{
    size_t cap = 64, n = 0;
    char *buf = malloc(cap);
    if (!buf || c->p >= c->end) {
        free(buf);
        return -1;
    }
    int quoted = *c->p == '"';
    if (quoted)
        c->p++;
    for (;;) {
        if (c->p >= c->end) {
            buf[n] = '\0';
            *out = buf;
            return 1;
        }
        char ch = *c->p++;
        if (quoted && ch == '"') {
            if (c->p < c->end && *c->p == '"') {
                c->p++;
            } else {
                quoted = 0;
                continue;
            }
        } else if (!quoted && (ch == c->delim || ch == '\n' || ch == '\r')) {
            if (ch == '\r' && c->p < c->end && *c->p == '\n')
                c->p++;
            buf[n] = '\0';
            *out = buf;
            if (ch != c->delim)
                c->line++;
            return ch == c->delim ? 0 : 1;
        } else if (ch == '\n') {
            c->line++;
        }
        if (n + 2 > cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                free(buf);
                return -1;
            }
            buf = bigger;
        }
        buf[n++] = ch;
    }
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t i = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* Which key of a customer a header names, or NULL to ignore the column. */
static const char *column_key(const char *h)
{
    static const struct {
        const char *header, *key;
    } map[] = {
        {"crm_id", "crm_id"},   {"id", "crm_id"},         {"customer_id", "crm_id"},
        {"email", "emails"},    {"emails", "emails"},     {"e-mail", "emails"},
        {"e-posta", "emails"},  {"phone", "phones"},      {"phones", "phones"},
        {"telefon", "phones"},  {"mobile", "phones"},     {"handles", "handles"},
        {"name", "name"},       {"ad soyad", "name"},     {"default_country", "default_country"},
        {"country", "default_country"},
        {"value", "value"},     {"deger", "value"},       {"değer", "value"},
        {"tutar", "value"},     {"currency", "currency"}, {"para_birimi", "currency"},
        {"para birimi", "currency"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(h, map[i].header) == 0)
            return map[i].key;
    return NULL;
}

/* Split a cell with several values ("a@x | b@y") into the array. */
static void add_values(json_t *row, const char *key, const char *cell)
{
    json_t *list = json_object_get(row, key);
    if (!list) {
        list = json_array();
        json_object_set_new(row, key, list);
    }
    char *copy = strdup(cell), *save = NULL;
    for (char *t = strtok_r(copy, "|\t", &save); t; t = strtok_r(NULL, "|\t", &save)) {
        trim(t);
        if (*t)
            json_array_append_new(list, json_string(t));
    }
    free(copy);
}

/* A number cell ("1234.50", or with a decimal comma "1234,50") as a JSON
 * number; anything else as the text, for kanald to refuse with its line. */
static json_t *cell_number(const char *cell)
{
    char buf[64], *end;
    if (strlen(cell) >= sizeof buf)
        return json_string(cell);
    snprintf(buf, sizeof buf, "%s", cell);
    char *comma = strchr(buf, ',');
    if (comma && !strchr(buf, '.') && !strchr(comma + 1, ','))
        *comma = '.';
    errno = 0;
    double d = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(d))
        return json_string(cell);
    return json_real(d);
}

/* Rows of a CSV file; line numbers of each row go to lines. */
static int read_csv(const char *text, size_t len, json_t *rows, json_t *lines, char *why,
                    size_t why_len)
{
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
        len -= 3;
    }
    const char *eol = memchr(text, '\n', len);
    size_t hl = eol ? (size_t)(eol - text) : len;
    size_t commas = 0, semis = 0;
    for (size_t i = 0; i < hl; i++) {
        commas += text[i] == ',';
        semis += text[i] == ';';
    }
    struct csv c = {.p = text, .end = text + len, .delim = semis > commas ? ';' : ',', .line = 1};
    json_t *keys = json_array();
    int r;
    char *f;
    do {
        r = csv_field(&c, &f);
        if (r < 0)
            break;
        trim(f);
        const char *k = column_key(f);
        json_array_append_new(keys, k ? json_string(k) : json_null());
        free(f);
    } while (r == 0);
    int have_id = 0;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) have_id |= json_is_string(k) &&
                                              !strcmp(json_string_value(k), "crm_id");
    if (!have_id) {
        snprintf(why, why_len, "the header row names no crm_id column");
        json_decref(keys);
        return -1;
    }
    while (c.p < c.end) {
        int line = c.line;
        json_t *row = json_object();
        int empty = 1;
        for (size_t col = 0;; col++) {
            r = csv_field(&c, &f);
            if (r < 0)
                break;
            trim(f);
            const char *key = json_string_value(json_array_get(keys, col));
            if (*f)
                empty = 0;
            if (key && *f) {
                if (!strcmp(key, "value"))
                    json_object_set_new(row, key, cell_number(f));
                else if (!strcmp(key, "crm_id") || !strcmp(key, "name") ||
                         !strcmp(key, "default_country") || !strcmp(key, "currency"))
                    json_object_set_new(row, key, json_string(f));
                else
                    add_values(row, key, f);
            }
            free(f);
            if (r == 1)
                break;
        }
        if (empty) {
            json_decref(row);
            continue;
        }
        json_array_append_new(rows, row);
        json_array_append_new(lines, json_integer(line));
    }
    json_decref(keys);
    return 0;
}

static int read_jsonl(const char *text, size_t len, json_t *rows, json_t *lines, char *why,
                      size_t why_len)
{
    const char *p = text, *end = text + len;
    int line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (n && !(n == 1 && *p == '\r')) {
            json_t *row = json_loadb(p, n, 0, NULL);
            if (!json_is_object(row)) {
                json_decref(row);
                snprintf(why, why_len, "line %d is not a JSON object", line);
                return -1;
            }
            json_array_append_new(rows, row);
            json_array_append_new(lines, json_integer(line));
        }
        p += n + 1;
    }
    return 0;
}

/* ---- posting ---- */

struct buf {
    char *p;
    size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    char *bigger = realloc(b->p, b->len + size * n + 1);
    if (!bigger)
        return 0;
    b->p = bigger;
    memcpy(b->p + b->len, data, size * n);
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

static json_t *post_batch(const char *url, const char *token, const char *body, char *why,
                          size_t why_len)
{
    CURL *h = curl_easy_init();
    struct buf resp = {0};
    char auth[600], endpoint[1024];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(endpoint, sizeof endpoint, "%s/v1/contacts/import", url);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/x-ndjson");
    curl_easy_setopt(h, CURLOPT_URL, endpoint);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
    CURLcode cc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    json_t *out = resp.p ? json_loads(resp.p, 0, NULL) : NULL;
    if (cc != CURLE_OK)
        snprintf(why, why_len, "cannot reach kanald at %s: %s", url, curl_easy_strerror(cc));
    else if (code != 200)
        snprintf(why, why_len, "kanald answered %ld: %s", code,
                 json_string_value(json_object_get(json_object_get(out, "error"), "message"))
                     ?: (resp.p ? resp.p : ""));
    free(resp.p);
    if (cc != CURLE_OK || code != 200) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static char *read_token(const char *file)
{
    if (!file) {
        const char *env = getenv("KANAL_TOKEN");
        return env && *env ? strdup(env) : NULL;
    }
    FILE *f = fopen(file, "r");
    if (!f)
        return NULL;
    char line[512] = "";
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    if (!ok)
        return NULL;
    trim(line);
    return *line ? strdup(line) : NULL;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        CTL_COMMON_OPTIONS,
        {"url", 1, NULL, 'u'},
        {"token-file", 1, NULL, 't'},
        {"country", 1, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *url = getenv("KANAL_URL"), *token_file = NULL, *country = NULL;
    if (!url || !*url)
        url = "http://127.0.0.1:8470";
    int opt;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        if (opt == 'u')
            url = optarg;
        else if (opt == 't')
            token_file = optarg;
        else if (opt == 'c')
            country = optarg;
        else {
            int r = ctl_common_option(ctl, &ctl_contacts, opt);
            if (r >= 0)
                return r;
        }
    }
    if (optind + 2 != argc || strcmp(argv[optind], "import") != 0)
        return ctl_usage_error(&ctl_contacts, "expected: contacts import FILE");
    const char *path = argv[optind + 1];
    char *token = read_token(token_file);
    if (!token)
        return ctl_usage_error(&ctl_contacts, "no token: set KANAL_TOKEN or give --token-file");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kanalctl contacts: cannot read %s: %s\n", path, strerror(errno));
        free(token);
        return CTL_USAGE;
    }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    size_t n;
    while (text && (n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger) {
                free(text);
                text = NULL;
            }
            text = bigger;
        }
    }
    fclose(f);
    if (!text) {
        free(token);
        return ctl_fail(&ctl_contacts, "reading the file", -ENOMEM);
    }
    text[len] = '\0';
    json_t *rows = json_array(), *lines = json_array();
    char why[512] = "";
    size_t plen = strlen(path);
    int jsonl = (plen > 6 && !strcmp(path + plen - 6, ".jsonl")) ||
                (plen > 5 && !strcmp(path + plen - 5, ".json"));
    int r = jsonl ? read_jsonl(text, len, rows, lines, why, sizeof why)
                  : read_csv(text, len, rows, lines, why, sizeof why);
    free(text);
    if (r < 0) {
        fprintf(stderr, "kanalctl contacts: %s: %s\n", path, why);
        json_decref(rows);
        json_decref(lines);
        free(token);
        return CTL_USAGE;
    }
    if (country) {
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) if (!json_object_get(row, "default_country"))
            json_object_set_new(row, "default_country", json_string(country));
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long matched = 0, created = 0, merged = 0, refused = 0;
    int status = CTL_OK;
    size_t total = json_array_size(rows);
    for (size_t start = 0; start < total; start += BATCH_ROWS) {
        size_t end = start + BATCH_ROWS < total ? start + BATCH_ROWS : total;
        size_t blen = 0, bcap = 4096;
        char *body = malloc(bcap);
        for (size_t i = start; body && i < end; i++) {
            char *line = json_dumps(json_array_get(rows, i), JSON_COMPACT);
            size_t ll = strlen(line);
            if (blen + ll + 2 > bcap) {
                while (blen + ll + 2 > bcap)
                    bcap *= 2;
                body = realloc(body, bcap);
            }
            if (body) {
                memcpy(body + blen, line, ll);
                blen += ll;
                body[blen++] = '\n';
            }
            free(line);
        }
        if (!body) {
            status = ctl_fail(&ctl_contacts, "building a batch", -ENOMEM);
            break;
        }
        body[blen] = '\0';
        json_t *rep = post_batch(url, token, body, why, sizeof why);
        free(body);
        if (!rep) {
            fprintf(stderr, "kanalctl contacts: rows %zu-%zu: %s\n", start + 1, end, why);
            status = CTL_FAILED;
            break;
        }
        matched += (long)json_integer_value(json_object_get(rep, "matched"));
        created += (long)json_integer_value(json_object_get(rep, "created"));
        merged += (long)json_integer_value(json_object_get(rep, "merged"));
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(rep, "errors"), i, e)
        {
            size_t idx = start + (size_t)json_integer_value(json_object_get(e, "line")) - 1;
            fprintf(stderr, "%s:%lld: %s\n", path,
                    (long long)json_integer_value(json_array_get(lines, idx)),
                    json_string_value(json_object_get(e, "error")));
            refused++;
            status = CTL_FAILED;
        }
        json_decref(rep);
    }
    printf("%zu row(s): %ld matched, %ld created, %ld merged, %ld refused\n", total, matched,
           created, merged, refused);
    curl_global_cleanup();
    json_decref(rows);
    json_decref(lines);
    free(token);
    return status;
}
