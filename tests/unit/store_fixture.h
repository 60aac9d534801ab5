/* SPDX-License-Identifier: Apache-2.0 */
/* What test_store.c, test_writer.c and test_timeline.c share: a real store
 * in a temp dir (the fixture, its setup and teardown), items of records and
 * state entries for the group commit, the log's keys checked to run 1..n,
 * items of new people, and meta's and the trees' contents. */
#ifndef KANAL_STORE_FIXTURE_H
#define KANAL_STORE_FIXTURE_H

#include "unit.h"

#include <jansson.h>
#include <lmdb.h>

#include "store.h"
#include "writer.h"

struct fixture {
    char *dir;
    char *store_dir; /* dir/store: created by store_open */
    struct store st;
    int open;
};

static inline int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = unit_tempdir();
    f->store_dir = unit_path(f->dir, "store");
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->open)
        store_close(&f->st);
    free(f->store_dir);
    unit_rmtree(f->dir);
    free(f);
    return 0;
}

static inline void open_store(struct fixture *f, size_t initial_map)
{
    char err[512];
    int r = store_open(&f->st, f->store_dir, SYNC_NONE, initial_map, err, sizeof err);
    if (r != 0)
        fail_msg("store_open: %d: %s", r, err);
    f->open = 1;
}

static inline void close_store(struct fixture *f)
{
    store_close(&f->st);
    f->open = 0;
}

/* An item of n records of source s1, kind message, external ids ext[i]. */
static inline struct write_item *item_new(size_t n, const char *const *ext)
{
    struct write_item *it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->recs = calloc(n, sizeof *it->recs);
    assert_non_null(it->recs);
    it->nrecs = n;
    for (size_t i = 0; i < n; i++) {
        char key[256];
        size_t len = store_idem_key(key, sizeof key, "s1", "message", ext[i]);
        assert_true(len > 0);
        it->recs[i].rec = json_pack("{s:s, s:s}", "external_id", ext[i], "text", "hello");
        assert_non_null(it->recs[i].rec);
        it->recs[i].idem = malloc(len);
        assert_non_null(it->recs[i].idem);
        memcpy(it->recs[i].idem, key, len);
        it->recs[i].idem_len = len;
    }
    return it;
}

/* Add a state entry (value NULL: delete) to an item. */
static inline void item_add_state(struct write_item *it, const char *key, const char *value)
{
    it->states = realloc(it->states, (it->nstates + 1) * sizeof *it->states);
    assert_non_null(it->states);
    struct write_state *ws = &it->states[it->nstates++];
    char buf[256];
    ws->key_len = store_state_key(buf, sizeof buf, "s1", key);
    assert_true(ws->key_len > 0);
    ws->key = malloc(ws->key_len);
    assert_non_null(ws->key);
    memcpy(ws->key, buf, ws->key_len);
    ws->value = value ? strdup(value) : NULL;
    ws->len = value ? strlen(value) : 0;
}

static inline void commit(struct fixture *f, struct write_item *items, struct writer_stats *stats)
{
    int r = writer_commit_batch(&f->st, items, stats);
    if (r != 0)
        fail_msg("writer_commit_batch: %d", r);
    for (struct write_item *it = items; it; it = it->next)
        assert_int_equal(it->status, 0);
}

static inline void items_free(struct write_item *items)
{
    while (items) {
        struct write_item *next = items->next;
        write_item_free(items);
        items = next;
    }
}

/* The log's keys in order, each checked against its record's "seq". */
static inline size_t log_keys(struct fixture *f, uint64_t *keys, size_t cap)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    size_t n = 0;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, f->st.log, &c), 0);
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        assert_int_equal(k.mv_size, sizeof seq);
        memcpy(&seq, k.mv_data, sizeof seq);
        json_error_t e;
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, &e);
        assert_non_null(rec);
        assert_int_equal(json_integer_value(json_object_get(rec, "seq")), seq);
        json_decref(rec);
        if (n < cap)
            keys[n] = seq;
        n++;
    }
    mdb_cursor_close(c);
    store_read_end(&f->st, txn);
    return n;
}

static inline void assert_log_is_1_to(struct fixture *f, size_t n)
{
    uint64_t *keys = calloc(n + 1, sizeof *keys);
    assert_non_null(keys);
    assert_int_equal(log_keys(f, keys, n + 1), n);
    for (size_t i = 0; i < n; i++)
        if (keys[i] != i + 1)
            fail_msg("log entry %zu has seq %llu", i, (unsigned long long)keys[i]);
    free(keys);
}

/* An apply() step that fails with the error its arg points to. */
static inline int apply_fails(struct write_item *it, struct store *st, MDB_txn *txn)
{
    (void)st;
    (void)txn;
    return *(int *)it->arg;
}

/* An item of one record from a new person, person<i>@example.com. */
static inline struct write_item *person_item(int i)
{
    char ext[32], handle[64];
    snprintf(ext, sizeof ext, "person-%d", i);
    snprintf(handle, sizeof handle, "email:person%d@example.com", i);
    const char *e[1] = {ext};
    struct write_item *it = item_new(1, e);
    json_object_set_new(
        it->recs[0].rec, "from",
        json_pack("{s:s,s:s,s:[s]}", "handle", handle, "role", "customer", "handles", handle));
    return it;
}

/* n items of one new person each (make(person), person counting up),
 * committed as one batch. */
static inline void commit_people(struct fixture *f, int *person, int n,
                                 struct write_item *(*make)(int))
{
    struct write_item *batch = NULL, **tail = &batch;
    for (int i = 0; i < n; i++) {
        *tail = make((*person)++);
        tail = &(*tail)->next;
    }
    commit(f, batch, NULL);
    items_free(batch);
}

/* A uint64 in meta, 0 when it has none. */
static inline uint64_t meta_u64(struct fixture *f, const char *key)
{
    MDB_txn *txn;
    uint64_t n = 0;
    MDB_val k = {strlen(key), (void *)key}, v;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    if (mdb_get(txn, f->st.meta, &k, &v) == 0 && v.mv_size == sizeof n)
        memcpy(&n, v.mv_data, sizeof n);
    store_read_end(&f->st, txn);
    return n;
}

/* The stored record at seq, parsed (the caller's to decref). */
static inline json_t *log_record(struct fixture *f, uint64_t seq)
{
    MDB_txn *txn;
    MDB_val k = {sizeof seq, &seq}, v;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_get(txn, f->st.log, &k, &v), 0);
    json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    store_read_end(&f->st, txn);
    assert_non_null(rec);
    return rec;
}

/* The record of the log's last seq names contact want. */
static inline void assert_last_contact(struct fixture *f, const char *want)
{
    json_t *rec = log_record(f, store_last_seq(&f->st));
    assert_string_equal(json_string_value(json_object_get(rec, "contact")), want);
    json_decref(rec);
}

/* Entries of a tree of f's store. */
static inline size_t tree_entries(struct fixture *f, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_stat ms;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_stat(txn, dbi, &ms), 0);
    store_read_end(&f->st, txn);
    return ms.ms_entries;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#endif
