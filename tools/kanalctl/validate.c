/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl validate: records as JSON lines, checked against schema v1 by
 * the same code kanald uses (common/record_check.c), without a store: for
 * an export, a backup's records, or what a plugin under development emits. */
#include "kanalctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "record_check.h"

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_validate = {
    "validate",
    "check records (JSON lines) against schema v1, without a store",
    "usage: kanalctl validate [--emitted] [FILE]\n"
    "\n"
    "Read records, one JSON object per line, from FILE (default: standard input)\n"
    "and check each against schema v1 with kanald's own record check.  Blank lines\n"
    "are skipped.  Prints one line per invalid record (\"line N: why\"), then a\n"
    "summary.\n"
    "\n"
    "By default a record is checked as stored and served (kanalctl export, the\n"
    "feed): every required field, the schema's types, enums and patterns.  With\n"
    "--emitted it is checked as a plugin emits it, before kanald normalizes it:\n"
    "seq, id and received_at must be absent, null stands for an absent member, and\n"
    "handles and times need only be strings (kanald normalizes them, and refuses\n"
    "the ones it cannot).\n"
    "\n"
    "Options:\n"
    "      --emitted     check records as a plugin emits them\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 every record is valid; 1 some are not, or FILE could not be\n"
    "read; 2 bad usage.\n"
    "\n"
    "Example:\n"
    "  kanalctl export --after 1000 | kanalctl validate\n",
    run,
};

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {CTL_COMMON_OPTIONS, {"emitted", 0, NULL, 'e'}, {0}};
    enum record_check_mode mode = RECORD_CHECK_STORED;
    int opt;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        if (opt == 'e') {
            mode = RECORD_CHECK_EMITTED;
            continue;
        }
        int rc = ctl_common_option(ctl, &ctl_validate, opt);
        if (rc >= 0)
            return rc;
    }
    if (argc - optind > 1)
        return ctl_usage_error(&ctl_validate, "unexpected argument '%s'", argv[optind + 1]);
    const char *path = optind < argc ? argv[optind] : NULL;
    FILE *in = path && strcmp(path, "-") != 0 ? fopen(path, "re") : stdin;
    if (!in)
        return ctl_fail(&ctl_validate, path, -errno);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, records = 0, invalid = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)n)
            continue;
        records++;
        json_error_t jerr;
        char why[256];
        json_t *rec = json_loadb(line, (size_t)n, 0, &jerr);
        if (!rec) {
            printf("line %" PRIu64 ": not valid JSON: %s\n", lineno, jerr.text);
            invalid++;
        } else if (record_check(rec, mode, why, sizeof why)) {
            printf("line %" PRIu64 ": %s\n", lineno, why);
            invalid++;
        }
        json_decref(rec);
    }
    int read_error = ferror(in);
    free(line);
    if (in != stdin)
        fclose(in);
    if (read_error)
        return ctl_fail(&ctl_validate, path ? path : "standard input", -EIO);
    printf("validate: %" PRIu64 " record(s), %" PRIu64 " invalid (schema v1, %s)\n", records,
           invalid, mode == RECORD_CHECK_STORED ? "as stored" : "as emitted");
    return invalid ? CTL_FAILED : CTL_OK;
}
