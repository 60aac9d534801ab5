/* SPDX-License-Identifier: Apache-2.0 */
/* kanalctl stats: what the store holds, counted in one read snapshot. */
#include "kanalctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reader_int.h"

static int run(struct ctl *ctl, int argc, char **argv);

const struct ctl_command ctl_stats = {
    "stats",
    "count records by source, kind and direction; sizes, keys, outbox depth",
    "usage: kanalctl [-s STORE] stats [--json]\n"
    "\n"
    "Print what the store holds: the last seq, the number of records, the size of\n"
    "data.mdb on disk, the LMDB map size and how much of it is used, the number of\n"
    "idempotency keys, the outbox depth (outbound messages not yet sent), and the\n"
    "records counted by source, by kind and by direction.  Every number comes from\n"
    "one read snapshot; on a large store counting takes a few seconds (it reads\n"
    "every record).\n"
    "\n"
    "Options:\n"
    "      --json        one JSON object instead of the table, for scripts: last_seq,\n"
    "                    records, file_size, map_size, map_used (bytes), idem_keys,\n"
    "                    outbox_depth, invalid_records, by_source, by_kind,\n"
    "                    by_direction (objects of counts), store, store_id, format\n"
    "  -s, --store DIR   the store directory (default: $KANAL_STORE, else /var/lib/kanal)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 success; 1 the store could not be read; 2 bad usage, or the\n"
    "store cannot be opened.\n"
    "\n"
    "Example:\n"
    "  kanalctl stats --json | jq .by_source\n",
    run,
};

struct stats {
    uint64_t last_seq, records, idem_keys, outbox_depth, invalid;
    uint64_t file_size, map_size, map_used;
    json_t *by_source, *by_kind, *by_direction;
};

static void count(json_t *map, const char *key)
{
    json_t *n = json_object_get(map, key ? key : "(none)");
    if (n)
        json_integer_set(n, json_integer_value(n) + 1);
    else
        json_object_set_new(map, key ? key : "(none)", json_integer(1));
}

static uint64_t entries(MDB_txn *txn, struct kanal_reader *r, enum kanal_store_db db)
{
    MDB_dbi dbi;
    MDB_stat st;
    if (kanal__reader_dbi(r, db, &dbi) || mdb_stat(txn, dbi, &st))
        return 0;
    return st.ms_entries;
}

static int collect(struct kanal_reader *r, struct stats *s)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_dbi log;
    size_t map_size;
    int rc = kanal__reader_map_size(r, &map_size);
    if (rc || (rc = kanal__reader_dbi(r, KANAL_STORE_DB_LOG, &log)) ||
        (rc = kanal__reader_begin(r, &txn)))
        return rc;
    s->map_size = map_size;
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(kanal__reader_env(r), &info);
    mdb_env_stat(kanal__reader_env(r), &est);
    s->map_used = ((uint64_t)info.me_last_pgno + 1) * est.ms_psize;
    s->records = entries(txn, r, KANAL_STORE_DB_LOG);
    s->idem_keys = entries(txn, r, KANAL_STORE_DB_IDEM);
    s->outbox_depth = entries(txn, r, KANAL_STORE_DB_OUTBOX);
    if ((rc = mdb_cursor_open(txn, log, &cur)) == 0) {
        MDB_val k, v;
        while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
            if (k.mv_size == sizeof s->last_seq)
                memcpy(&s->last_seq, k.mv_data, sizeof s->last_seq);
            json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            if (!json_is_object(rec)) {
                s->invalid++;
                json_decref(rec);
                continue;
            }
            count(s->by_source, ctl_str(rec, "source"));
            count(s->by_kind, ctl_str(rec, "kind"));
            count(s->by_direction, ctl_str(rec, "direction"));
            json_decref(rec);
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
        mdb_cursor_close(cur);
    }
    kanal__reader_end(r, txn);
    return kanal__reader_err(rc);
}

struct count_entry {
    const char *name;
    json_int_t n;
};

static int by_count(const void *a, const void *b)
{
    const struct count_entry *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* One "by ..." section, largest count first. */
static void print_counts(const char *title, json_t *map)
{
    size_t n = json_object_size(map), i = 0;
    printf("\nby %s:\n", title);
    if (n == 0) {
        printf("  (no records)\n");
        return;
    }
    struct count_entry *e = calloc(n, sizeof *e);
    if (!e)
        return;
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value)
    {
        e[i++] = (struct count_entry){key, json_integer_value(value)};
    }
    qsort(e, n, sizeof *e, by_count);
    for (i = 0; i < n; i++)
        printf("  %-24s %12" PRIu64 "\n", e[i].name, (uint64_t)e[i].n);
    free(e);
}

static void print_table(const char *store, struct kanal_reader *r, const struct stats *s)
{
    char file[32], map[32], used[32];
    ctl_human_size(s->file_size, file, sizeof file);
    ctl_human_size(s->map_size, map, sizeof map);
    ctl_human_size(s->map_used, used, sizeof used);
    const char *id = kanal_reader_store_id(r);
    printf("store          %s\n", store);
    printf("store id       %s\n", *id ? id : "(none)");
    printf("format         %d\n", kanal__reader_format(r));
    printf("last seq       %" PRIu64 "\n", s->last_seq);
    printf("records        %" PRIu64 "\n", s->records);
    if (s->invalid)
        printf("  not JSON     %" PRIu64 " (run kanalctl check)\n", s->invalid);
    printf("data.mdb       %s (%" PRIu64 " bytes)\n", file, s->file_size);
    printf("map            %s used of %s (%.0f%%)\n", used, map,
           s->map_size ? 100.0 * (double)s->map_used / (double)s->map_size : 0.0);
    printf("idem keys      %" PRIu64 "\n", s->idem_keys);
    printf("outbox         %" PRIu64 " pending\n", s->outbox_depth);
    print_counts("source", s->by_source);
    print_counts("kind", s->by_kind);
    print_counts("direction", s->by_direction);
}

static int print_json(const char *store, struct kanal_reader *r, struct stats *s)
{
    json_t *o = json_pack(
        "{s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:O,s:O,s:O}", "store", store, "store_id",
        kanal_reader_store_id(r), "format", kanal__reader_format(r), "last_seq",
        (json_int_t)s->last_seq, "records", (json_int_t)s->records, "invalid_records",
        (json_int_t)s->invalid, "file_size", (json_int_t)s->file_size, "map_size",
        (json_int_t)s->map_size, "map_used", (json_int_t)s->map_used, "idem_keys",
        (json_int_t)s->idem_keys, "outbox_depth", (json_int_t)s->outbox_depth, "by_source",
        s->by_source, "by_kind", s->by_kind, "by_direction", s->by_direction);
    if (!o)
        return -ENOMEM;
    int rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
    json_decref(o);
    return rc ? -EIO : 0;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"json", 0, NULL, 'j'}, CTL_COMMON_OPTIONS, {0}};
    int as_json = 0, opt;
    while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        if (opt == 'j') {
            as_json = 1;
            continue;
        }
        int rc = ctl_common_option(ctl, &ctl_stats, opt);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return ctl_usage_error(&ctl_stats, "unexpected argument '%s'", argv[optind]);

    struct kanal_reader *r;
    int rc = ctl_open(ctl, &r);
    if (rc)
        return rc;
    struct stats s = {
        .by_source = json_object(), .by_kind = json_object(), .by_direction = json_object()};
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", ctl->store);
    if (stat(path, &sb) == 0)
        s.file_size = (uint64_t)sb.st_size;
    rc = collect(r, &s);
    if (rc)
        rc = ctl_fail(&ctl_stats, "cannot read the store", rc);
    else if (as_json)
        rc = print_json(ctl->store, r, &s) ? CTL_FAILED : CTL_OK;
    else
        print_table(ctl->store, r, &s);
    json_decref(s.by_source);
    json_decref(s.by_kind);
    json_decref(s.by_direction);
    kanal_reader_close(r);
    if (fflush(stdout) != 0 && rc == CTL_OK)
        rc = CTL_FAILED;
    return rc;
}
