/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl tail: records as JSON lines, the last few or everything after a
 * seq, optionally following new commits. */
#include "kanalctl.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "reader_int.h"

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_tail = {
    "tail",
    "print records as JSON lines; -f follows new commits",
    "usage: kanalctl [-s STORE] tail [-f] [-n N | --after SEQ] [--source S] [--kind K]\n"
    "                     [--sentiment positive|negative|neutral]\n"
    "\n"
    "Print interaction records as JSON lines (one record per line, as stored), in\n"
    "seq order.  By default the last 10 records; with --after, every record after\n"
    "that seq.\n"
    "\n"
    "Options:\n"
    "  -f, --follow      keep running and print each new record as kanald commits it\n"
    "                    (sleeps on the store between commits; stop with Ctrl-C)\n"
    "  -n, --lines N     start with the last N records that match (default 10)\n"
    "      --after SEQ   start after seq SEQ instead (0: from the first record)\n"
    "      --source S    only records of source S (a [source S] section)\n"
    "      --kind K      only records of kind K (message, comment, signup, ...)\n"
    "      --sentiment L only records whose annotations.sentiment.label is L\n"
    "                    (the sentiment processor, [processor sentiment])\n"
    "  -s, --store DIR   the store directory (default: $KANAL_STORE, else /var/lib/kanal)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 success (also when -f is stopped by SIGINT or SIGTERM);\n"
    "1 the store could not be read; 2 bad usage, or the store cannot be opened.\n"
    "\n"
    "Examples:\n"
    "  kanalctl tail -n 50 --kind message\n"
    "  kanalctl tail -f --after 0 --source wa-main | jq .text\n",
    run,
};

struct filter {
    const char *source, *kind, *sentiment;
    /* "source":"S" and "kind":"K" as kanald writes them (compact JSON; names
     * and kinds need no escaping): a record without them cannot match, and
     * most records are ruled out without parsing them. */
    char *source_text, *kind_text;
};

static char *member_text(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 6;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "\"%s\":\"%s\"", name, value);
    return s;
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int matches(const struct filter *f, const char *json, size_t len)
{
    if (!f->source && !f->kind && !f->sentiment)
        return 1;
    if ((f->source_text && !memmem(json, len, f->source_text, strlen(f->source_text))) ||
        (f->kind_text && !memmem(json, len, f->kind_text, strlen(f->kind_text))))
        return 0;
    json_t *rec = json_loadb(json, len, 0, NULL);
    if (!rec)
        return 0;
    const char *source = ctl_str(rec, "source"), *kind = ctl_str(rec, "kind");
    int ok = (!f->source || (source && strcmp(source, f->source) == 0)) &&
             (!f->kind || (kind && strcmp(kind, f->kind) == 0));
    if (ok && f->sentiment) {
        json_t *sa = json_object_get(json_object_get(rec, "annotations"), "sentiment");
        const char *label = json_string_value(json_object_get(sa, "label"));
        ok = label && strcmp(label, f->sentiment) == 0;
    }
    json_decref(rec);
    return ok;
}

/* The cursor that the last n matching records follow: scan back from the
 * end in one read transaction.  With fewer matches than n, the cursor
 * before the first of them (or the end, with none: no need to read it all
 * again). */
static int find_start(struct kanal_reader *r, const struct filter *f, uint64_t n, uint64_t *after)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_dbi log;
    *after = 0;
    if (n == 0)
        return kanal_reader_last_seq(r, after);
    int rc = kanal__reader_dbi(r, KANAL_STORE_DB_LOG, &log);
    if (rc || (rc = kanal__reader_begin(r, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, log, &cur)) == 0) {
        MDB_val k, v;
        uint64_t found = 0, seq, last = 0;
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        while (rc == 0) {
            memcpy(&seq, k.mv_data, sizeof seq);
            if (!last)
                last = seq;
            if (matches(f, v.mv_data, v.mv_size)) {
                *after = seq - 1;
                if (++found == n)
                    break;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        }
        if (!found)
            *after = last;
        if (rc == MDB_NOTFOUND)
            rc = 0;
        mdb_cursor_close(cur);
    }
    kanal__reader_end(r, txn);
    return kanal__reader_err(rc);
}

/* Print every matching record after *cursor up to seq until; 0, or a
 * negative error. */
static int print_available(struct kanal_reader *r, const struct filter *f, uint64_t *cursor,
                           uint64_t until)
{
    const char *json;
    size_t len;
    int rc;
    while ((rc = kanal_reader_next(r, cursor, &json, &len)) == 0) {
        if (*cursor > until)
            return 0;
        if (!matches(f, json, len))
            continue;
        fwrite(json, 1, len, stdout);
        putchar('\n');
    }
    return rc == -EAGAIN ? 0 : rc;
}

static int follow(struct kanal_reader *r, const struct filter *f, uint64_t cursor)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: the wait returns -EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_requested) {
        int rc = print_available(r, f, &cursor, UINT64_MAX);
        if (rc)
            return ctl_fail(&ctl_tail, "cannot read the store", rc);
        if (fflush(stdout) != 0)
            return CTL_FAILED;
        /* A bounded wait: a signal that lands just before the poll is
         * still seen within a second. */
        rc = kanal_reader_wait(r, cursor, 1000);
        if (rc && rc != -ETIMEDOUT && rc != -EINTR)
            return ctl_fail(&ctl_tail, "cannot wait for the store", rc);
    }
    return CTL_OK;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"follow", 0, NULL, 'f'},
                                         {"lines", 1, NULL, 'n'},
                                         {"after", 1, NULL, 'a'},
                                         {"source", 1, NULL, 'S'},
                                         {"kind", 1, NULL, 'k'},
                                         {"sentiment", 1, NULL, 'E'},
                                         CTL_COMMON_OPTIONS,
                                         {0}};
    struct filter f = {0};
    uint64_t lines = 10, after = 0;
    int follow_mode = 0, have_after = 0, have_lines = 0, opt;
    while ((opt = getopt_long(argc, argv, "fn:s:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            follow_mode = 1;
            break;
        case 'n':
            if (ctl_parse_u64(&ctl_tail, "-n", optarg, &lines))
                return CTL_USAGE;
            have_lines = 1;
            break;
        case 'a':
            if (ctl_parse_u64(&ctl_tail, "--after", optarg, &after))
                return CTL_USAGE;
            have_after = 1;
            break;
        case 'S':
            f.source = optarg;
            break;
        case 'k':
            f.kind = optarg;
            break;
        case 'E':
            if (strcmp(optarg, "positive") != 0 && strcmp(optarg, "negative") != 0 &&
                strcmp(optarg, "neutral") != 0)
                return ctl_usage_error(&ctl_tail, "--sentiment: positive, negative or neutral");
            f.sentiment = optarg;
            break;
        default: {
            int rc = ctl_common_option(ctl, &ctl_tail, opt);
            if (rc >= 0)
                return rc;
        }
        }
    }
    if (optind < argc)
        return ctl_usage_error(&ctl_tail, "unexpected argument '%s'", argv[optind]);
    if (have_after && have_lines)
        return ctl_usage_error(&ctl_tail, "give -n or --after, not both");
    if ((f.source && !(f.source_text = member_text("source", f.source))) ||
        (f.kind && !(f.kind_text = member_text("kind", f.kind)))) {
        free(f.source_text);
        return ctl_fail(&ctl_tail, "cannot start", -ENOMEM);
    }

    /* Without -f, stop at the record that was last when we started, so that
     * a busy kanald cannot keep the command running. */
    struct kanal_reader *r;
    uint64_t last;
    int rc = ctl_open(ctl, &r);
    if (rc) {
        free(f.source_text);
        free(f.kind_text);
        return rc;
    }
    if ((rc = kanal_reader_last_seq(r, &last)) ||
        (!have_after && (rc = find_start(r, &f, lines, &after)))) {
        rc = ctl_fail(&ctl_tail, "cannot read the store", rc);
    } else if (follow_mode) {
        rc = follow(r, &f, after);
    } else if ((rc = print_available(r, &f, &after, last))) {
        rc = ctl_fail(&ctl_tail, "cannot read the store", rc);
    }
    if (fflush(stdout) != 0 && rc == CTL_OK)
        rc = CTL_FAILED;
    kanal_reader_close(r);
    free(f.source_text);
    free(f.kind_text);
    return rc;
}
