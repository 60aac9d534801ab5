/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl export: a range of the log as JSON lines or as CSV (RFC 4180). */
#include "kanalctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_export = {
    "export",
    "write records as JSON lines or CSV, for a CRM import or a spreadsheet",
    "usage: kanalctl [-s STORE] export [--format jsonl|csv] [--after SEQ] [--until SEQ]\n"
    "\n"
    "Write the records after --after up to --until (inclusive) to standard output,\n"
    "in seq order.  Without --until, up to the last record committed when export\n"
    "starts, so a busy kanald does not keep it running.\n"
    "\n"
    "jsonl: one record per line, exactly as stored (schema v1).\n"
    "csv:   RFC 4180 (CRLF line ends; fields holding a comma, quote or line break\n"
    "       are quoted, quotes doubled), a header row, then one row per record with\n"
    "       the columns seq, id, source, channel, kind, direction, occurred_at,\n"
    "       received_at, external_id, thread, reply_to, from_handle, from_name,\n"
    "       to_handles (the to parties' handles, separated by ';'), subject, text,\n"
    "       campaign, status, contact.  A field the record lacks is empty.\n"
    "\n"
    "Options:\n"
    "      --format F    jsonl (default) or csv\n"
    "      --after SEQ   start after this seq (default 0: from the first record)\n"
    "      --until SEQ   stop at this seq (default: the last one)\n"
    "  -s, --store DIR   the store directory (default: $KANAL_STORE, else /var/lib/kanal)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 success; 1 the store could not be read or the output written;\n"
    "2 bad usage, or the store cannot be opened.\n"
    "\n"
    "Example:\n"
    "  kanalctl export --format csv --after 1000 > interactions.csv\n",
    run,
};

static const char *const csv_columns[] = {
    "seq",         "id",          "source",   "channel",  "kind",        "direction", "occurred_at",
    "received_at", "external_id", "thread",   "reply_to", "from_handle", "from_name", "to_handles",
    "subject",     "text",        "campaign", "status",   "contact",
};
#define NCOLUMNS (sizeof csv_columns / sizeof csv_columns[0])

/* One field, quoted when it must be. */
static void csv_field(const char *s, int first)
{
    if (!first)
        putchar(',');
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static char *join_handles(json_t *parties)
{
    size_t len = 0, i;
    json_t *p;
    json_array_foreach(parties, i, p)
    {
        const char *h = ctl_str(p, "handle");
        if (h)
            len += strlen(h) + 1;
    }
    char *out = calloc(1, len + 1), *w = out;
    if (!out)
        return NULL;
    json_array_foreach(parties, i, p)
    {
        const char *h = ctl_str(p, "handle");
        if (!h)
            continue;
        if (w != out)
            *w++ = ';';
        w = stpcpy(w, h);
    }
    return out;
}

static void csv_row(uint64_t seq, const char *json, size_t len)
{
    json_t *rec = json_loadb(json, len, 0, NULL);
    char seq_text[24];
    snprintf(seq_text, sizeof seq_text, "%" PRIu64, seq);
    json_t *from = json_object_get(rec, "from");
    char *to = rec ? join_handles(json_object_get(rec, "to")) : NULL;
    for (size_t i = 0; i < NCOLUMNS; i++) {
        const char *col = csv_columns[i], *v;
        if (strcmp(col, "seq") == 0)
            v = seq_text;
        else if (strcmp(col, "from_handle") == 0)
            v = ctl_str(from, "handle");
        else if (strcmp(col, "from_name") == 0)
            v = ctl_str(from, "name");
        else if (strcmp(col, "to_handles") == 0)
            v = to;
        else
            v = ctl_str(rec, col);
        csv_field(v, i == 0);
    }
    fputs("\r\n", stdout);
    free(to);
    json_decref(rec);
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"format", 1, NULL, 'F'},
                                         {"after", 1, NULL, 'a'},
                                         {"until", 1, NULL, 'u'},
                                         CTL_COMMON_OPTIONS,
                                         {0}};
    uint64_t after = 0, until = 0;
    int csv = 0, have_until = 0, opt;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'F':
            if (strcmp(optarg, "csv") == 0)
                csv = 1;
            else if (strcmp(optarg, "jsonl") == 0)
                csv = 0;
            else
                return ctl_usage_error(&ctl_export, "--format is jsonl or csv, not '%s'", optarg);
            break;
        case 'a':
            if (ctl_parse_u64(&ctl_export, "--after", optarg, &after))
                return CTL_USAGE;
            break;
        case 'u':
            if (ctl_parse_u64(&ctl_export, "--until", optarg, &until))
                return CTL_USAGE;
            have_until = 1;
            break;
        default: {
            int rc = ctl_common_option(ctl, &ctl_export, opt);
            if (rc >= 0)
                return rc;
        }
        }
    }
    if (optind < argc)
        return ctl_usage_error(&ctl_export, "unexpected argument '%s'", argv[optind]);

    struct kanal_reader *r;
    int rc = ctl_open(ctl, &r);
    if (rc)
        return rc;
    if (!have_until && (rc = kanal_reader_last_seq(r, &until))) {
        kanal_reader_close(r);
        return ctl_fail(&ctl_export, "cannot read the store", rc);
    }
    if (!have_until && after > until) {
        /* As libkanal's next: a cursor this store never handed out. */
        kanal_reader_close(r);
        return ctl_fail(&ctl_export, "cannot read the store", KANAL_ECURSOR);
    }
    if (csv) {
        for (size_t i = 0; i < NCOLUMNS; i++)
            csv_field(csv_columns[i], i == 0);
        fputs("\r\n", stdout);
    }
    const char *json;
    size_t len;
    uint64_t seq = after;
    while (seq < until && (rc = kanal_reader_next(r, &seq, &json, &len)) == 0 && seq <= until) {
        if (csv) {
            csv_row(seq, json, len);
        } else {
            fwrite(json, 1, len, stdout);
            putchar('\n');
        }
    }
    kanal_reader_close(r);
    if (rc && rc != -EAGAIN)
        return ctl_fail(&ctl_export, "cannot read the store", rc);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "kanalctl export: cannot write the output: %s\n", strerror(errno));
        return CTL_FAILED;
    }
    return CTL_OK;
}
