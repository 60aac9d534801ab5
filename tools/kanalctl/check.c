/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl check: is the store what the contract says?  The log has no gaps,
 * every record follows schema v1 and carries its own seq, and every
 * idempotency key points to the record it was made for.  One read snapshot,
 * so a running kanald cannot produce false alarms. */
#include "kanalctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "reader_int.h"
#include "record_check.h"

#define MAX_SHOWN 20

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_check = {
    "check",
    "verify the log, the records and the idempotency keys",
    "usage: kanalctl [-s STORE] check\n"
    "\n"
    "Verify the store, in one read snapshot (safe while kanald runs):\n"
    "  - the log's seqs run from 1 to the last one without a gap, and each\n"
    "    record's \"seq\" field is its position;\n"
    "  - every record is a JSON object with schema v1's fields: the required ones,\n"
    "    their types, the enums (kind, direction, status, role), the shapes of\n"
    "    times, source and channel names and handles, and no unknown field;\n"
    "  - every idempotency key (source, kind, external_id) points to an existing\n"
    "    record with that source, kind and external_id.\n"
    "Prints one line per problem (the first 20, then how many more), or a\n"
    "summary when everything is in order.\n"
    "\n"
    "Options:\n"
    "  -s, --store DIR   the store directory (default: $KANAL_STORE, else /var/lib/kanal)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 the store is in order; 1 problems were found (or the store\n"
    "could not be read); 2 bad usage, or the store cannot be opened.\n"
    "\n"
    "Example:\n"
    "  kanalctl -s /backup/kanal-2026-11-23 check\n",
    run,
};

struct check {
    uint64_t problems, records, keys, last_seq;
};

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct check *c, const char *fmt, ...)
{
    if (c->problems++ >= MAX_SHOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void check_record(struct check *c, uint64_t seq, const MDB_val *v)
{
    json_error_t err;
    json_t *rec = json_loadb(v->mv_data, v->mv_size, 0, &err);
    if (!rec) {
        problem(c, "record %" PRIu64 ": not valid JSON: %s (at byte %d)", seq, err.text,
                err.position);
        return;
    }
    char why[256];
    if (record_check(rec, RECORD_CHECK_STORED, why, sizeof why))
        problem(c, "record %" PRIu64 ": %s", seq, why);
    else if ((uint64_t)json_integer_value(json_object_get(rec, "seq")) != seq)
        problem(c, "record %" PRIu64 ": its seq field says %" JSON_INTEGER_FORMAT, seq,
                json_integer_value(json_object_get(rec, "seq")));
    json_decref(rec);
}

static int check_log(struct check *c, MDB_txn *txn, MDB_dbi log)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t expect = 1;
    int rc = mdb_cursor_open(txn, log, &cur);
    if (rc)
        return rc;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        uint64_t seq;
        if (k.mv_size != sizeof seq) {
            problem(c, "log: a key of %zu bytes (seqs are 8)", k.mv_size);
            continue;
        }
        memcpy(&seq, k.mv_data, sizeof seq);
        c->records++;
        if (seq == expect + 1)
            problem(c, "log: seq %" PRIu64 " is missing", expect);
        else if (seq > expect)
            problem(c, "log: seqs %" PRIu64 " to %" PRIu64 " are missing", expect, seq - 1);
        else if (seq < expect)
            problem(c, "log: seq %" PRIu64 " out of order", seq);
        if (seq >= expect)
            expect = seq + 1;
        c->last_seq = seq;
        check_record(c, seq, &v);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* An idem key (common/store_layout.h) split into its parts, and printed as
 * source/kind/external_id into text. */
static int split_key(const MDB_val *k, const char **part, size_t *id_len, char *text,
                     size_t text_len)
{
    const char *p = k->mv_data;
    size_t n = k->mv_size < text_len - 1 ? k->mv_size : text_len - 1;
    for (size_t i = 0; i < n; i++)
        text[i] = p[i] ? p[i] : '/';
    text[n] = '\0';
    return kanal_idem_key_split(k->mv_data, k->mv_size, part, id_len);
}

static int field_matches(json_t *rec, const char *field, const char *want, size_t want_len)
{
    const char *have = ctl_str(rec, field);
    return have && strlen(have) == want_len && memcmp(have, want, want_len) == 0;
}

static void check_key(struct check *c, MDB_txn *txn, MDB_dbi log, const MDB_val *k,
                      const MDB_val *v)
{
    const char *part[3];
    size_t id_len;
    char text[256];
    c->keys++;
    if (split_key(k, part, &id_len, text, sizeof text)) {
        problem(c, "idem key %s: not source\\0kind\\0external_id", text);
        return;
    }
    uint64_t seq;
    if (kanal_store_u64(v->mv_data, v->mv_size, &seq)) {
        problem(c, "idem key %s: its value is %zu bytes, not a seq", text, v->mv_size);
        return;
    }
    MDB_val lk = {sizeof seq, &seq}, lv;
    if (mdb_get(txn, log, &lk, &lv) != 0) {
        problem(c, "idem key %s: points to seq %" PRIu64 ", which is not in the log", text, seq);
        return;
    }
    json_t *rec = json_loadb(lv.mv_data, lv.mv_size, 0, NULL);
    if (!rec)
        return; /* reported with the log */
    /* An external_id too long for a key is stored as its digest, which
     * kanalctl does not compute: such a key needs a record whose id would
     * not have fitted. */
    const char *ext = ctl_str(rec, "external_id");
    size_t pl = sizeof KANAL_IDEM_DIGEST_PREFIX - 1;
    int digest = id_len > pl && memcmp(part[2], KANAL_IDEM_DIGEST_PREFIX, pl) == 0 && ext &&
                 !kanal_idem_key_fits(part[0], part[1], ext);
    if (!field_matches(rec, "source", part[0], strlen(part[0])) ||
        !field_matches(rec, "kind", part[1], strlen(part[1])) ||
        (!digest && !field_matches(rec, "external_id", part[2], id_len))) {
        const char *s = ctl_str(rec, "source"), *kd = ctl_str(rec, "kind");
        const char *e = ctl_str(rec, "external_id");
        problem(c, "idem key %s: points to seq %" PRIu64 ", which is %s/%s/%s", text, seq,
                s ? s : "?", kd ? kd : "?", e ? e : "?");
    }
    json_decref(rec);
}

static int check_idem(struct check *c, MDB_txn *txn, MDB_dbi log, MDB_dbi idem)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, idem, &cur);
    if (rc)
        return rc;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        check_key(c, txn, log, &k, &v);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {CTL_COMMON_OPTIONS, {0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        int rc = ctl_common_option(ctl, &ctl_check, opt);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return ctl_usage_error(&ctl_check, "unexpected argument '%s'", argv[optind]);

    struct kanal_reader *r;
    int rc = ctl_open(ctl, &r);
    if (rc)
        return rc;
    struct check c = {0};
    MDB_txn *txn;
    MDB_dbi log, idem;
    int have_idem = kanal__reader_dbi(r, KANAL_STORE_DB_IDEM, &idem) == 0;
    if ((rc = kanal__reader_dbi(r, KANAL_STORE_DB_LOG, &log)) || (rc = kanal__reader_begin(r, &txn))) {
        kanal_reader_close(r);
        return ctl_fail(&ctl_check, "cannot read the store", rc);
    }
    rc = check_log(&c, txn, log);
    if (rc == 0 && have_idem)
        rc = check_idem(&c, txn, log, idem);
    kanal__reader_end(r, txn);
    kanal_reader_close(r);
    if (rc)
        return ctl_fail(&ctl_check, "cannot read the store", kanal__reader_err(rc));
    if (c.problems > MAX_SHOWN)
        printf("... and %" PRIu64 " more problem(s)\n", c.problems - MAX_SHOWN);
    if (c.problems) {
        printf("check: %" PRIu64 " problem(s) in %s (%" PRIu64 " records, %" PRIu64
               " idempotency keys)\n",
               c.problems, ctl->store, c.records, c.keys);
        return CTL_FAILED;
    }
    if (c.records == 0)
        printf("check: ok: no records yet, %" PRIu64 " idempotency keys\n", c.keys);
    else
        printf("check: ok: %" PRIu64 " records, seqs 1 to %" PRIu64 " without gaps, all valid; "
               "%" PRIu64 " idempotency keys, all pointing to their records\n",
               c.records, c.last_seq, c.keys);
    return CTL_OK;
}
