/* SPDX-License-Identifier: Apache-2.0 */
/* The LMDB store, on a real store in a temp dir: opening, its version and
 * lock, the map growing under commits, its keys.  The group commit itself
 * is test_writer.c; store_fixture.h is what the two share. */
#include "store_fixture.h"

#include <errno.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "jsonout.h"
#include "log.h"
#include "record.h"
#include "util.h"
#include "store.h"
#include "writer.h"

static void test_open_creates(void **state)
{
    struct fixture *f = *state;
    struct stat sb;
    assert_int_equal(stat(f->store_dir, &sb), -1);
    open_store(f, 0);
    assert_int_equal(stat(f->store_dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    char *data = unit_path(f->store_dir, "data.mdb");
    assert_int_equal(stat(data, &sb), 0);
    free(data);
    assert_int_equal(store_last_seq(&f->st), 0);
    assert_int_equal(strlen(f->st.store_id), 32);
    char id[33];
    memcpy(id, f->st.store_id, sizeof id);

    /* The store id and version were stamped and stay. */
    close_store(f);
    open_store(f, 0);
    assert_string_equal(f->st.store_id, id);
    MDB_txn *txn;
    MDB_val k = {7, "version"}, v;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_get(txn, f->st.meta, &k, &v), 0);
    assert_int_equal(v.mv_size, 1);
    assert_memory_equal(v.mv_data, "1", 1);
    store_read_end(&f->st, txn);
}

static void test_open_refuses_bad_dir(void **state)
{
    struct fixture *f = *state;
    char *file = unit_write_file(f->dir, "plain-file", "x");
    char *below = unit_path(file, "store");
    char err[512];
    struct store st;
    assert_true(store_open(&st, below, SYNC_FULL, 0, err, sizeof err) < 0);
    assert_non_null(strstr(err, below));
    free(below);
    free(file);
}

static void test_reopen_keeps_last_seq(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    static const char *const ext[] = {"r1", "r2", "r3"};
    struct write_item *it = item_new(3, ext);
    item_add_state(it, "cursor", "c3");
    commit(f, it, NULL);
    items_free(it);
    close_store(f);

    open_store(f, 0);
    assert_int_equal(store_last_seq(&f->st), 3);
    char buf[8];
    size_t len = sizeof buf;
    assert_int_equal(store_state_get(&f->st, "s1", "cursor", buf, &len), 0);
    assert_memory_equal(buf, "c3", 2);
    /* Idempotency keys survive too, and seqs go on without a gap. */
    static const char *const more[] = {"r3", "r4"};
    it = item_new(2, more);
    commit(f, it, NULL);
    assert_int_equal(it->seqs[0], 3);
    assert_int_equal(it->seqs[1], 4);
    items_free(it);
    assert_log_is_1_to(f, 4);
}

static void test_newer_version_refused(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, 0, &txn), 0);
    MDB_val k = {7, "version"}, v = {2, "99"};
    assert_int_equal(mdb_put(txn, f->st.meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    close_store(f);

    char err[512] = "";
    struct store st;
    int r = store_open(&st, f->store_dir, SYNC_FULL, 0, err, sizeof err);
    assert_true(r < 0);
    assert_null(st.env);
    if (!strstr(err, "version") || !strstr(err, "99"))
        fail_msg("error does not name the version: %s", err);
    store_close(&st); /* safe after a failed open */
}

static void test_map_grows(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 10);
    size_t initial = f->st.map_size;
    assert_true(initial < (1 << 20));
    struct store_usage u0, u;
    store_usage(&f->st, &u0);
    assert_int_equal(u0.map_bytes, initial);
    assert_true(u0.used_bytes > 0 && u0.used_bytes <= u0.map_bytes);
    assert_true(u0.disk_free_bytes > 0);
    /* 3,000 records in batches of 100, then 2,000 in a single item. */
    enum { BATCHES = 30, PER_ITEM = 10, ITEMS = 10, BIG = 2000 };
    enum { TOTAL = BATCHES * ITEMS * PER_ITEM + BIG };
    uint64_t expect = 1;
    for (int b = 0; b < BATCHES; b++) {
        struct write_item *batch = NULL, **tail = &batch;
        char ids[ITEMS][PER_ITEM][48];
        for (int i = 0; i < ITEMS; i++) {
            const char *ext[PER_ITEM];
            for (int r = 0; r < PER_ITEM; r++) {
                snprintf(ids[i][r], sizeof ids[i][r], "grow-%d-%d-%d", b, i, r);
                ext[r] = ids[i][r];
            }
            *tail = item_new(PER_ITEM, ext);
            tail = &(*tail)->next;
        }
        commit(f, batch, NULL);
        for (struct write_item *it = batch; it; it = it->next)
            for (size_t r = 0; r < it->nrecs; r++)
                assert_int_equal(it->seqs[r], expect++);
        items_free(batch);
    }
    char(*big_ids)[32] = calloc(BIG, sizeof *big_ids);
    const char **big_ext = calloc(BIG, sizeof *big_ext);
    assert_non_null(big_ids);
    assert_non_null(big_ext);
    for (int r = 0; r < BIG; r++) {
        snprintf(big_ids[r], sizeof big_ids[r], "big-%d", r);
        big_ext[r] = big_ids[r];
    }
    struct write_item *big = item_new(BIG, big_ext);
    commit(f, big, NULL);
    for (size_t r = 0; r < BIG; r++)
        assert_int_equal(big->seqs[r], expect++);
    assert_int_equal(big->nnew, BIG);
    items_free(big);
    free(big_ext);
    free(big_ids);
    assert_int_equal(store_last_seq(&f->st), TOTAL);
    assert_true(f->st.map_size > initial);
    assert_log_is_1_to(f, TOTAL);
    /* /metrics' map use follows the growth: the map it reports is the
     * grown one, and the pages in use grew past the first map. */
    store_usage(&f->st, &u);
    assert_int_equal(u.map_bytes, f->st.map_size);
    assert_true(u.used_bytes > initial && u.used_bytes <= u.map_bytes);

    /* The grown store reopens with everything in it. */
    close_store(f);
    open_store(f, 64 << 10);
    assert_int_equal(store_last_seq(&f->st), TOTAL);
    assert_log_is_1_to(f, TOTAL);
}

/* A batch that has to grow the map is retried: its duplicates still count once. */
static void test_duplicates_counted_once_when_the_map_grows(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 10);
    static const char *const first[] = {"d1"};
    struct write_item *it = item_new(1, first);
    commit(f, it, NULL);
    items_free(it);

    enum { N = 1000 };
    char(*ids)[32] = calloc(N, sizeof *ids);
    const char **ext = calloc(N, sizeof *ext);
    assert_non_null(ids);
    assert_non_null(ext);
    ext[0] = "d1";
    for (int i = 1; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "new-%d", i);
        ext[i] = ids[i];
    }
    it = item_new(N, ext);
    size_t map_before = f->st.map_size;
    struct writer_stats stats = {0};
    commit(f, it, &stats);
    assert_true(f->st.map_size > map_before); /* the commit was retried */
    assert_int_equal(it->seqs[0], 1);
    assert_int_equal(it->seqs[N - 1], N);
    assert_int_equal(it->nnew, N - 1);
    assert_int_equal(stats.duplicates, 1);
    items_free(it);
    free(ext);
    free(ids);
}

static void test_keys(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(store_idem_key(buf, sizeof buf, "src", "message", "id1"), 15);
    assert_memory_equal(buf, "src\0message\0id1", 15);
    assert_int_equal(store_idem_key(buf, 14, "src", "message", "id1"), 0);
    assert_int_equal(store_state_key(buf, sizeof buf, "src", "cursor"), 10);
    assert_memory_equal(buf, "src\0cursor", 10);
    assert_int_equal(store_state_key(buf, 9, "src", "cursor"), 0);
}

/* Contacts made by a transaction that had to be retried because the map
 * grew must exist: every record's contact, every handle linked to it. */
static void test_contacts_survive_map_growth(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 10);
    size_t initial = f->st.map_size;
    enum { N = 600 };
    for (int i = 0; i < N; i++) {
        char ext[32], handle[64];
        snprintf(ext, sizeof ext, "p-%d", i);
        snprintf(handle, sizeof handle, "email:person%d@example.com", i);
        const char *e[1] = {ext};
        struct write_item *it = item_new(1, e);
        json_object_set_new(it->recs[0].rec, "from",
                            json_pack("{s:s,s:s,s:[s]}", "handle", handle, "role", "customer",
                                      "handles", handle));
        commit(f, it, NULL);
        items_free(it);
    }
    assert_true(f->st.map_size > initial);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    for (uint64_t seq = 1; seq <= N; seq++) {
        MDB_val k = {sizeof seq, &seq}, v;
        assert_int_equal(mdb_get(txn, f->st.log, &k, &v), 0);
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        const char *cid = json_string_value(json_object_get(rec, "contact"));
        const char *handle =
            json_string_value(json_object_get(json_object_get(rec, "from"), "handle"));
        assert_non_null(cid);
        MDB_val ck = {strlen(cid), (void *)cid}, cv;
        if (mdb_get(txn, f->st.contacts, &ck, &cv) != 0)
            fail_msg("record %llu names contact %s, which does not exist",
                     (unsigned long long)seq, cid);
        MDB_val hk = {strlen(handle), (void *)handle}, hv;
        assert_int_equal(mdb_get(txn, f->st.handles, &hk, &hv), 0);
        assert_int_equal(strcmp(hv.mv_data, cid), 0); /* "<contact>\0<provenance>" */
        json_decref(rec);
    }
    store_read_end(&f->st, txn);
}

/* An external id longer than an LMDB key is kept by its digest: stored,
 * recognised when repeated, and it fails nothing else in its batch. */
static void test_long_external_id(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    char *long_id = malloc(700);
    assert_non_null(long_id);
    memset(long_id, 'x', 699);
    long_id[699] = '\0';
    const char *a[1] = {long_id}, *b[1] = {"neighbour"};
    struct write_item *batch = item_new(1, a);
    batch->next = item_new(1, b);
    commit(f, batch, NULL);
    assert_int_equal(batch->seqs[0], 1);
    assert_int_equal(batch->next->seqs[0], 2);
    items_free(batch);
    struct write_item *again = item_new(1, a);
    commit(f, again, NULL);
    assert_int_equal(again->seqs[0], 1);
    assert_int_equal(again->nnew, 0);
    items_free(again);
    free(long_id);
    assert_log_is_1_to(f, 2);
}

/* A store is opened for writing by one owner at a time: a second
 * store_open of the same directory (another open file description, as a
 * second kanald would make) is refused with -EBUSY, naming the holder's
 * PID, and leaves the holder's store and lock file as they were; after the
 * holder closes it, it opens. */
static void test_second_open_is_refused_while_locked(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    char *lock = unit_path(f->store_dir, STORE_LOCK_FILE);
    char want[64], text[64] = "";
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    FILE *lf = fopen(lock, "r");
    assert_non_null(lf);
    assert_non_null(fgets(text, sizeof text, lf));
    fclose(lf);
    assert_string_equal(text, want);

    char err[512];
    struct store second;
    for (int i = 0; i < 2; i++) {
        int r = store_open(&second, f->store_dir, SYNC_NONE, 0, err, sizeof err);
        assert_int_equal(r, -EBUSY);
        assert_null(second.env);
        char msg[600];
        snprintf(msg, sizeof msg, "store %s is in use by kanald PID %ld", f->store_dir,
                 (long)getpid());
        assert_string_equal(err, msg);
        store_close(&second); /* safe after a refused open */
    }
    /* The holder still writes, and its lock file still names it. */
    static const char *const ext[] = {"after-refusal"};
    struct writer_stats stats = {0};
    struct write_item *it = item_new(1, ext);
    commit(f, it, &stats);
    items_free(it);
    lf = fopen(lock, "r");
    assert_non_null(lf);
    assert_non_null(fgets(text, sizeof text, lf));
    fclose(lf);
    assert_string_equal(text, want);

    close_store(f);
    assert_int_equal(store_open(&second, f->store_dir, SYNC_NONE, 0, err, sizeof err), 0);
    assert_int_equal(store_last_seq(&second), 1);
    store_close(&second);
    free(lock);
}
int main(void)
{
    log_setup(KANAL_LOG_WARNING, 0);
    const struct CMUnitTest tests[] = {
        T(test_open_creates),
        T(test_open_refuses_bad_dir),
        T(test_reopen_keeps_last_seq),
        T(test_newer_version_refused),
        T(test_map_grows),
        T(test_duplicates_counted_once_when_the_map_grows),
        T(test_contacts_survive_map_growth),
        T(test_long_external_id),
        T(test_second_open_is_refused_while_locked),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
