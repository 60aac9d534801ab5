/* SPDX-License-Identifier: Apache-2.0 */
/* What kanald's scoring runs need of daemon/score/ beyond the measures:
 * a long scan of the log in chunks that leaves the store's resize lock
 * free between them (so the writer can grow the map during a run), bounded
 * to the seq seen at the start and stoppable; the kept rows, paged in
 * every order from their rank index; and the kept scores without erased
 * contacts (score_forget, score_drop_gone). */
#include "unit.h"

#include <errno.h>
#include <pthread.h>

#include "collect.h"
#include "contacts.h"
#include "jsonin.h"
#include "keep.h"
#include "keep_int.h"
#include "store.h"

static uint64_t seq;

/* Resolve rec's contacts and append it to the log, as the writer would. */
static void commit(struct store *st, const char *json)
{
    json_error_t err;
    json_t *rec = json_loads(json, 0, &err);
    if (!rec)
        fail_msg("bad test record %s: %s", json, err.text);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    struct resolve_extra extra = {0};
    assert_int_equal(contacts_resolve(st, txn, rec, ++seq, &extra), 0);
    assert_int_equal(extra.n, 0);
    json_object_set_new(rec, "seq", json_integer((json_int_t)seq));
    char *text = json_dumps(rec, JSON_COMPACT);
    MDB_val k = {sizeof seq, &seq}, v = {strlen(text), text};
    assert_int_equal(mdb_put(txn, st->log, &k, &v, 0), 0);
    free(text);
    resolve_extra_clear(&extra);
    assert_int_equal(mdb_txn_commit(txn), 0);
    json_decref(rec);
}

static void post(struct store *st, int i)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"source\":\"fb\",\"channel\":\"facebook\",\"kind\":\"post\","
             "\"direction\":\"inbound\",\"external_id\":\"P%d\","
             "\"occurred_at\":\"2026-11-30T00:00:00.000Z\",\"meta\":{},"
             "\"from\":{\"handle\":\"email:u%d@example.com\",\"role\":\"customer\","
             "\"handles\":[\"email:u%d@example.com\"]}}",
             i, i, i);
    commit(st, buf);
}

static struct store *open_store(char **dir, char **path)
{
    static struct store st;
    char err[256];
    *dir = unit_tempdir();
    *path = unit_path(*dir, "store");
    if (store_open(&st, *path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    st.identity = 1;
    seq = 0;
    return &st;
}

static void close_store(struct store *st, char *dir, char *path)
{
    store_close(st);
    free(path);
    unit_rmtree(dir);
}

struct seen {
    struct store *st;
    uint64_t last;
    size_t records, betweens, free_betweens;
    size_t grow_at;   /* between number at which to grow the map, 0: never */
    size_t cancel_at; /* between number at which to stop, 0: never */
};

static int each(void *arg, MDB_txn *txn, json_t *rec)
{
    struct seen *s = arg;
    (void)txn;
    uint64_t q = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
    assert_true(q > s->last); /* in seq order, each once */
    s->last = q;
    s->records++;
    return 0;
}

static int between(void *arg)
{
    struct seen *s = arg;
    s->betweens++;
    /* No read transaction holds the resize lock: the writer could take it
     * here to grow the map. */
    if (pthread_rwlock_trywrlock(&s->st->resize_lock) == 0) {
        s->free_betweens++;
        pthread_rwlock_unlock(&s->st->resize_lock);
    }
    if (s->grow_at == s->betweens)
        assert_int_equal(store_grow(s->st), 0);
    return s->cancel_at == s->betweens;
}

static void test_scan_in_chunks(void **state)
{
    (void)state;
    char *dir, *path;
    struct store *st = open_store(&dir, &path);
    for (int i = 1; i <= 10; i++)
        post(st, i);
    size_t map = st->map_size;

    /* Up to seq 8 in chunks of 3: 3, 3, then 2 and the end; the map grows
     * between the first two chunks and the scan reads on. */
    struct seen s = {.st = st, .grow_at = 1};
    struct score_scan sc = {
        .st = st, .upto = 8, .chunk = 3, .each = each, .between = between, .arg = &s};
    assert_int_equal(score_scan_run(&sc), 0);
    assert_int_equal(s.records, 8);
    assert_int_equal(sc.records, 8);
    assert_int_equal(s.last, 8);
    assert_int_equal(s.betweens, 2);
    assert_int_equal(s.free_betweens, 2);
    assert_int_equal(st->map_size, map * 2);

    /* Every chunk size, the whole log: each record once, in order. */
    for (size_t chunk = 1; chunk <= 11; chunk++) {
        s = (struct seen){.st = st};
        sc = (struct score_scan){
            .st = st, .upto = 10, .chunk = chunk, .each = each, .between = between, .arg = &s};
        assert_int_equal(score_scan_run(&sc), 0);
        assert_int_equal(s.records, 10);
        assert_int_equal(s.free_betweens, s.betweens);
        assert_int_equal(s.betweens, (10 - 1) / chunk); /* after each chunk but the last */
    }

    /* Records committed after the start are not read. */
    post(st, 11);
    s = (struct seen){.st = st};
    sc = (struct score_scan){.st = st, .upto = 10, .each = each, .between = between, .arg = &s};
    assert_int_equal(score_scan_run(&sc), 0);
    assert_int_equal(s.last, 10);

    /* Stopped between two chunks (kanald stopping). */
    s = (struct seen){.st = st, .cancel_at = 2};
    sc = (struct score_scan){
        .st = st, .upto = 11, .chunk = 2, .each = each, .between = between, .arg = &s};
    assert_int_equal(score_scan_run(&sc), -ECANCELED);
    assert_int_equal(s.records, 4);

    /* An empty store: nothing to read. */
    s = (struct seen){.st = st};
    sc = (struct score_scan){.st = st, .upto = 0, .each = each, .arg = &s};
    assert_int_equal(score_scan_run(&sc), 0);
    assert_int_equal(s.records, 0);
    close_store(st, dir, path);
}

/* ---- read ahead (score_scan.ahead) ---- */

struct ahead_seen {
    uint64_t last;
    size_t records, prepared, betweens, paces, cancel_at, pace_stop, fail_at;
    int prepare;
};

/* The scan of the test below: its seen beside it. */
struct ahead_scan {
    struct score_scan sc;
    struct ahead_seen seen;
};

static int each_ahead(void *arg, MDB_txn *txn, json_t *rec)
{
    struct ahead_scan *a = arg;
    assert_non_null(txn); /* a transaction for the contacts */
    uint64_t q;
    if (a->seen.prepare) {
        assert_null(rec);
        assert_non_null(a->sc.prepared);
        memcpy(&q, a->sc.prepared, sizeof q);
        a->seen.prepared++;
    } else {
        assert_non_null(rec);
        assert_null(a->sc.prepared);
        q = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
    }
    assert_true(q > a->seen.last); /* in seq order, each once */
    a->seen.last = q;
    a->seen.records++;
    return a->seen.records == a->seen.fail_at ? 7 : 0;
}

static int between_ahead(void *arg)
{
    struct ahead_scan *a = arg;
    return ++a->seen.betweens == a->seen.cancel_at;
}

static int pace_ahead(void *arg)
{
    struct ahead_scan *a = arg;
    /* Called on the reading thread: counted only, as the run's pacing
     * would sleep. */
    return __atomic_add_fetch(&a->seen.paces, 1, __ATOMIC_SEQ_CST) == a->seen.pace_stop;
}

/* The seq of the record's text, as the prepared value. */
static int prepare_seq(const char *text, size_t len, void *out, struct score_pool *pool)
{
    (void)pool;
    json_t *rec = jsonin_parse(text, len, NULL, 0);
    if (!rec)
        return -1;
    uint64_t q = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
    memcpy(out, &q, sizeof q);
    json_decref(rec);
    return 0;
}

static void scan_ahead(struct ahead_scan *a, struct store *st, uint64_t upto, size_t chunk,
                       int prepare)
{
    *a = (struct ahead_scan){.sc = {.st = st,
                                    .upto = upto,
                                    .chunk = chunk,
                                    .each = each_ahead,
                                    .between = between_ahead,
                                    .pace = pace_ahead,
                                    .ahead = 1,
                                    .arg = a},
                             .seen = {.prepare = prepare}};
    if (prepare) {
        a->sc.prepare = prepare_seq;
        a->sc.prepare_size = sizeof(uint64_t);
    }
}

/* Read ahead on threads of the scan's own, in units of
 * SCORE_SCAN_AHEAD_RECORDS: each() still gets every record once, in seq
 * order, up to upto, parsed or prepared from its text; a record that is
 * not JSON is counted bad; between() comes after about chunk records;
 * the scan stops when between() or pace() says so. */
static void test_scan_ahead(void **state)
{
    (void)state;
    char *dir, *path;
    struct store *st = open_store(&dir, &path);
    const int n = 3 * SCORE_SCAN_AHEAD_RECORDS + 7;
    for (int i = 1; i <= n; i++)
        post(st, i);
    /* A record that is not JSON, as a damaged log would have. */
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    uint64_t bad = ++seq;
    MDB_val k = {sizeof bad, &bad}, v = {5, "{\"a\":"};
    assert_int_equal(mdb_put(txn, st->log, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    post(st, n + 1);
    uint64_t last = seq;
    post(st, n + 2); /* after the scan's upto */

    struct ahead_scan a;
    for (int prepare = 0; prepare < 2; prepare++) {
        scan_ahead(&a, st, last, 1000, prepare);
        assert_int_equal(score_scan_run(&a.sc), 0);
        assert_int_equal(a.seen.records, n + 1);
        assert_int_equal(a.sc.records, n + 2);
        assert_int_equal(a.sc.bad, 1);
        assert_int_equal(a.seen.last, last);
        assert_int_equal(a.seen.prepared, prepare ? (size_t)n + 1 : 0);
        assert_int_equal(a.seen.betweens, (size_t)(n + 2) / 1000);
        assert_true(a.seen.paces >= (n + 2) / SCORE_SCAN_AHEAD_RECORDS);
    }

    /* Fewer records than a unit, and a log of one. */
    scan_ahead(&a, st, 5, 0, 0);
    assert_int_equal(score_scan_run(&a.sc), 0);
    assert_int_equal(a.seen.records, 5);
    scan_ahead(&a, st, 1, 0, 1);
    assert_int_equal(score_scan_run(&a.sc), 0);
    assert_int_equal(a.seen.records, 1);

    /* Stopped between two chunks. */
    scan_ahead(&a, st, last, SCORE_SCAN_AHEAD_RECORDS, 0);
    a.seen.cancel_at = 2;
    assert_int_equal(score_scan_run(&a.sc), -ECANCELED);
    assert_int_equal(a.seen.records, 2 * SCORE_SCAN_AHEAD_RECORDS);

    /* each() failing (any nonzero value) stops the scan with its value,
     * in the middle of a unit: nothing is read again. */
    scan_ahead(&a, st, last, 0, 0);
    a.seen.fail_at = SCORE_SCAN_AHEAD_RECORDS + 88;
    assert_int_equal(score_scan_run(&a.sc), 7);
    assert_int_equal(a.seen.records, SCORE_SCAN_AHEAD_RECORDS + 88);
    assert_int_equal(a.sc.records, SCORE_SCAN_AHEAD_RECORDS + 88);

    /* Stopped by the pacing (kanald stopping while a run paused): the
     * units before the one it stopped are taken, none from it on (which
     * unit the third pace was for depends on the two readers' timing). */
    scan_ahead(&a, st, last, 0, 1);
    a.seen.pace_stop = 3;
    assert_int_equal(score_scan_run(&a.sc), -ECANCELED);
    assert_true(a.seen.records <= 2 * SCORE_SCAN_AHEAD_RECORDS);
    assert_int_equal(a.seen.records % SCORE_SCAN_AHEAD_RECORDS, 0);
    close_store(st, dir, path);
}

static json_t *doc_of(const char *audience, const char *const *ids, size_t n)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(rows, json_pack("{s:s,s:f}", "contact", ids[i], "influence", 1.0));
    return json_pack("{s:s,s:i,s:o}", "audience", audience, "seq", 1, "contacts", rows);
}

static size_t rows_of(struct store *st, const char *audience, const char *cid)
{
    MDB_txn *txn;
    json_t *doc;
    assert_int_equal(store_read_begin(st, &txn), 0);
    assert_int_equal(score_get(st, txn, audience, &doc), 0);
    store_read_end(st, txn);
    size_t n = 0, i;
    json_t *row;
    json_array_foreach(
        json_object_get(doc, "contacts"), i,
        row) if (!cid || !strcmp(json_string_value(json_object_get(row, "contact")), cid)) n++;
    json_decref(doc);
    return n;
}

static void test_erased_contacts_leave_kept_scores(void **state)
{
    (void)state;
    char *dir, *path;
    struct store *st = open_store(&dir, &path);
    post(st, 1);
    post(st, 2);
    post(st, 3); /* contacts c1, c2, c3 */
    static const char *const all[] = {"c1", "c2", "c3"}, *const some[] = {"c3", "c2"},
                             *const none_of[] = {"c3"};
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    json_t *d1 = doc_of("all", all, 3), *d2 = doc_of("event:A", some, 2),
           *d3 = doc_of("event:B", none_of, 1);
    assert_int_equal(score_put(st, txn, d1), 0);
    assert_int_equal(score_put(st, txn, d2), 0);
    assert_int_equal(score_put(st, txn, d3), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);

    /* Erasing c2 and what it absorbed (c1): both leave every document
     * that has them, and only those are rewritten. */
    json_t *ids = json_pack("[s,s]", "c2", "c1");
    size_t changed;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(score_forget(st, txn, ids, &changed), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(changed, 2);
    assert_int_equal(rows_of(st, "all", NULL), 1);
    assert_int_equal(rows_of(st, "all", "c3"), 1);
    assert_int_equal(rows_of(st, "event:A", NULL), 1);
    assert_int_equal(rows_of(st, "event:B", NULL), 1);
    json_decref(ids);

    /* A run's document made before an erasure is kept without the
     * contacts the store no longer has. */
    MDB_val k = {2, "c2"};
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_del(txn, st->contacts, &k, NULL), 0);
    json_t *memo = json_object();
    assert_int_equal(score_drop_gone(st, txn, d1, memo), 1);
    assert_int_equal(json_array_size(json_object_get(d1, "contacts")), 2);
    assert_int_equal(score_drop_gone(st, txn, d1, memo), 0);
    assert_int_equal(json_object_size(memo), 3); /* each contact looked up once */
    assert_int_equal(score_drop_gone(st, txn, d2, memo), 1);
    assert_int_equal(score_drop_gone(st, txn, d3, NULL), 0);
    json_decref(memo);
    mdb_txn_abort(txn);
    json_decref(d1);
    json_decref(d2);
    json_decref(d3);
    close_store(st, dir, path);
}

static int listed(void *arg, const char *id)
{
    for (const char *const *p = arg; *p; p++)
        if (!strcmp(*p, id))
            return 1;
    return 0;
}

/* Audiences a run no longer computes leave the store; the others stay,
 * whatever their order (adjacent deletes included). */
static void test_retire(void **state)
{
    (void)state;
    char *dir, *path;
    struct store *st = open_store(&dir, &path);
    static const char *const ids[] = {"all", "event:A", "event:B", "event:C", "mine", "thread:x"};
    static const char *const one[] = {"c1"};
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    for (size_t i = 0; i < 6; i++) {
        json_t *d = doc_of(ids[i], one, 1);
        assert_int_equal(score_put(st, txn, d), 0);
        json_decref(d);
    }
    static const char *const keep[] = {"all", "event:C", "thread:x", NULL};
    size_t n;
    assert_int_equal(score_retire(st, txn, listed, (void *)keep, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(store_read_begin(st, &txn), 0);
    for (size_t i = 0; i < 6; i++) {
        json_t *d;
        int want = listed((void *)keep, ids[i]) ? 0 : MDB_NOTFOUND;
        assert_int_equal(score_get(st, txn, ids[i], &d), want);
        json_decref(d);
    }
    store_read_end(st, txn);
    /* Nothing kept: all go; an empty store: nothing to do. */
    static const char *const nothing[] = {NULL};
    for (int round = 0; round < 2; round++) {
        assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
        assert_int_equal(score_retire(st, txn, listed, (void *)nothing, &n), 0);
        assert_int_equal(n, round ? 0 : 3);
        assert_int_equal(mdb_txn_commit(txn), 0);
    }
    close_store(st, dir, path);
}

/* A document of n rows with many ties, some rows without a number in an
 * order, and every third an advocate. */
static json_t *big_doc(const char *audience, size_t n)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof id, "c%zu", (i * 7919) % n + 1);
        json_t *row = json_pack("{s:s,s:f,s:i}", "contact", id, "influence",
                                (double)((i * 31) % 97) / 8.0, "reach", (int)(i % 13));
        if (i % 11)
            json_object_set_new(row, "value", json_pack("{s:i}", "score", (int)(i % 5) + 1));
        json_object_set_new(
            row, "advocacy",
            json_pack("{s:f,s:b}", "score", (double)(i % 17), "advocate", i % 3 == 0));
        json_object_set_new(row, "risk", json_pack("{s:i}", "score", i % 29 == 0 ? 1 : 0));
        json_array_append_new(rows, row);
    }
    return json_pack("{s:s,s:i,s:{s:i},s:o}", "audience", audience, "seq", 7, "shape", "nodes",
                     (int)n, "contacts", rows);
}

/* The order's key of row as the API sorts: has, value. */
static int want_key(json_t *row, enum score_order o, double *k)
{
    const char *name = o == SCORE_ORDER_ADVOCATES ? "advocacy" : score_order_name(o);
    json_t *v = json_object_get(row, name);
    if (json_is_object(v))
        v = json_object_get(v, "score");
    *k = json_number_value(v);
    return json_is_number(v);
}

/* 1 when row a comes after row b in order o. */
static int after_in(json_t *a, json_t *b, enum score_order o)
{
    double ka, kb;
    int ha = want_key(a, o, &ka), hb = want_key(b, o, &kb);
    if (ha != hb)
        return hb;
    if (ha && ka != kb)
        return ka < kb;
    return strcmp(json_string_value(json_object_get(a, "contact")),
                  json_string_value(json_object_get(b, "contact"))) > 0;
}

/* The keys an order of n ranks takes. */
static size_t parts(size_t n)
{
    return (n + SCORE_RANKS_PER_KEY - 1) / SCORE_RANKS_PER_KEY;
}

static size_t entries(struct store *st)
{
    MDB_txn *txn;
    MDB_stat ms;
    assert_int_equal(store_read_begin(st, &txn), 0);
    assert_int_equal(mdb_stat(txn, st->scores, &ms), 0);
    store_read_end(st, txn);
    return ms.ms_entries;
}

/* Every row once per order, in the order, whatever the page size; the
 * assembled document is the one kept; a smaller run's rows replace the
 * bigger's without a key left behind; an erasure leaves every order. */
static void test_rows_page_in_every_order(void **state)
{
    (void)state;
    char *dir, *path;
    struct store *st = open_store(&dir, &path);
    enum { N = 3000 };
    json_t *doc = big_doc("all", N), *other = big_doc("event:A", 50);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(score_put(st, txn, other), 0);
    assert_int_equal(score_put(st, txn, doc), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(store_read_begin(st, &txn), 0);
    json_t *back;
    assert_int_equal(score_get(st, txn, "all", &back), 0);
    assert_true(json_equal(back, doc));
    json_decref(back);
    size_t advocates = 0;
    for (enum score_order o = 0; o < SCORE_ORDERS; o++) {
        static const size_t limits[] = {1000, 7, 1};
        for (size_t l = 0; l < 3; l++) {
            json_t *all = json_array();
            char after[16] = "";
            int more = 1;
            while (more) {
                json_t *page = json_array();
                assert_int_equal(
                    score_page(st, txn, "all", o, *after ? after : NULL, limits[l], page, &more),
                    0);
                assert_true(json_array_size(page) <= limits[l]);
                assert_true(!more || json_array_size(page) == limits[l]);
                json_array_extend(all, page);
                if (json_array_size(page))
                    snprintf(after, sizeof after, "%s",
                             json_string_value(json_object_get(
                                 json_array_get(page, json_array_size(page) - 1), "contact")));
                json_decref(page);
            }
            size_t n = json_array_size(all);
            if (o == SCORE_ORDER_ADVOCATES) {
                advocates = n;
                assert_int_equal(n, N / 3);
            } else {
                assert_int_equal(n, N);
            }
            json_t *seen = json_object();
            for (size_t i = 0; i < n; i++) {
                json_t *row = json_array_get(all, i);
                const char *cid = json_string_value(json_object_get(row, "contact"));
                assert_null(json_object_get(seen, cid));
                json_object_set_new(seen, cid, json_true());
                if (i)
                    assert_false(after_in(json_array_get(all, i - 1), row, o));
                if (o == SCORE_ORDER_ADVOCATES)
                    assert_true(json_is_true(
                        json_object_get(json_object_get(row, "advocacy"), "advocate")));
            }
            json_decref(seen);
            json_decref(all);
        }
    }
    json_t *page = json_array();
    int more;
    assert_int_equal(score_page(st, txn, "all", SCORE_ORDER_INFLUENCE, "c999999", 5, page, &more),
                     ENOENT);
    /* A contact who is no advocate is no 'after' of the advocates. */
    assert_int_equal(score_page(st, txn, "all", SCORE_ORDER_ADVOCATES, "c2", 5, page, &more),
                     ENOENT);
    json_decref(page);
    store_read_end(st, txn);
    /* Summary, a row each, each order's ranks SCORE_RANKS_PER_KEY to a
     * key, the advocates' too. */
    assert_int_equal(entries(st), 2 + (N + 50) + 5 * parts(N) + parts(advocates) + 5 * parts(50) +
                                      parts(50 / 3 + 1));

    /* An erasure takes the row and its ranks, and the count follows. */
    json_t *ids = json_pack("[s]", "c5");
    size_t changed;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(score_forget(st, txn, ids, &changed), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(changed, 2);
    json_decref(ids);
    assert_int_equal(store_read_begin(st, &txn), 0);
    json_t *sum, *row;
    size_t nrows;
    assert_int_equal(score_summary_get(st, txn, "all", &sum, &nrows), 0);
    assert_int_equal(nrows, N - 1);
    json_decref(sum);
    assert_int_equal(score_row_get(st, txn, "all", "c5", &row, NULL), MDB_NOTFOUND);
    for (enum score_order o = 0; o < SCORE_ORDERS; o++) {
        /* Pages of 97 cross the keys' bounds; the gap c5 left is skipped
         * and every other row still served once. */
        size_t seen = 0;
        char after[16] = "";
        more = 1;
        while (more) {
            page = json_array();
            assert_int_equal(score_page(st, txn, "all", o, *after ? after : NULL, 97, page, &more),
                             0);
            size_t i;
            json_array_foreach(page, i, row)
            {
                const char *cid = json_string_value(json_object_get(row, "contact"));
                assert_string_not_equal(cid, "c5");
                snprintf(after, sizeof after, "%s", cid);
            }
            seen += json_array_size(page);
            json_decref(page);
        }
        if (o != SCORE_ORDER_ADVOCATES)
            assert_int_equal(seen, N - 1);
        else
            assert_true(seen == advocates || seen == advocates - 1);
    }
    store_read_end(st, txn);

    /* A smaller run replaces the audience whole: no key of the last stays. */
    json_t *small = big_doc("all", 10);
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(score_put(st, txn, small), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    /* event:A keeps its ranks' keys, c5's place in them empty. */
    assert_int_equal(entries(st),
                     2 + (10 + 49) + 5 * parts(10) + parts(4) + 5 * parts(50) + parts(50 / 3 + 1));
    assert_int_equal(store_read_begin(st, &txn), 0);
    assert_int_equal(score_get(st, txn, "all", &back), 0);
    assert_true(json_equal(back, small));
    json_decref(back);
    store_read_end(st, txn);
    json_decref(small);
    json_decref(doc);
    json_decref(other);
    close_store(st, dir, path);
}

/* Every row of audience "all" in order o, paged by limit. */
static json_t *all_pages(struct store *st, enum score_order o, size_t limit)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    json_t *all = json_array();
    char after[16] = "";
    int more = 1;
    while (more) {
        json_t *page = json_array();
        assert_int_equal(score_page(st, txn, "all", o, *after ? after : NULL, limit, page, &more),
                         0);
        if (json_array_size(page))
            snprintf(after, sizeof after, "%s",
                     json_string_value(json_object_get(
                         json_array_get(page, json_array_size(page) - 1), "contact")));
        json_array_extend(all, page);
        json_decref(page);
    }
    store_read_end(st, txn);
    return all;
}

/* A store kept by an older kanald has a key per rank (AUD \0 o \0 ORDER
 * \0 RANK): its pages are served as they were, an erasure takes the
 * person out of them, and the next run leaves none of those keys. */
static void test_older_layout_read_until_replaced(void **state)
{
    (void)state;
    char *dir, *path;
    struct store *st = open_store(&dir, &path);
    enum { N = 700 };
    json_t *doc = big_doc("all", N);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(score_put(st, txn, doc), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    json_t *want[SCORE_ORDERS];
    for (enum score_order o = 0; o < SCORE_ORDERS; o++)
        want[o] = all_pages(st, o, 1000);
    size_t fresh = entries(st);
    /* The ranks' keys rewritten as the older layout had them. */
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(txn, st->scores, &cur), 0);
    MDB_val k, v;
    size_t converted = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 6 || memcmp(k.mv_data, "all\0r\0", 6) != 0)
            continue;
        char cid[32];
        snprintf(cid, sizeof cid, "%.*s", (int)k.mv_size - 6, (char *)k.mv_data + 6);
        for (enum score_order o = 0; o < SCORE_ORDERS; o++) {
            uint32_t rank = score_key_get_u32((char *)v.mv_data + 4 * (1 + o));
            if (rank == SCORE_NO_RANK)
                continue;
            struct score_key key;
            score_key_rank_v1(&key, "all", o, rank);
            MDB_val ov = {strlen(cid), cid};
            assert_int_equal(mdb_put(txn, st->scores, &key.val, &ov, 0), 0);
            converted++;
        }
    }
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;) {
        if (k.mv_size > 6 && memcmp(k.mv_data, "all\0p\0", 6) == 0) {
            assert_int_equal(mdb_cursor_del(cur, 0), 0);
            rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    mdb_cursor_close(cur);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_true(converted > N);
    for (enum score_order o = 0; o < SCORE_ORDERS; o++) {
        json_t *got = all_pages(st, o, 7);
        assert_true(json_equal(got, want[o]));
        json_decref(got);
    }
    /* An erasure takes c5 out of the older keys too. */
    json_t *ids = json_pack("[s]", "c5");
    size_t changed;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(score_forget(st, txn, ids, &changed), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    json_decref(ids);
    json_t *inf = all_pages(st, SCORE_ORDER_INFLUENCE, 50);
    assert_int_equal(json_array_size(inf), N - 1);
    json_decref(inf);
    /* The next run's put leaves only this layout's keys. */
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(score_put(st, txn, doc), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(entries(st), fresh);
    for (enum score_order o = 0; o < SCORE_ORDERS; o++) {
        json_t *got = all_pages(st, o, 1000);
        assert_true(json_equal(got, want[o]));
        json_decref(got);
        json_decref(want[o]);
    }
    json_decref(doc);
    close_store(st, dir, path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_in_chunks),
        cmocka_unit_test(test_scan_ahead),
        cmocka_unit_test(test_erased_contacts_leave_kept_scores),
        cmocka_unit_test(test_retire),
        cmocka_unit_test(test_rows_page_in_every_order),
        cmocka_unit_test(test_older_layout_read_until_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
