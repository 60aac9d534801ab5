/* SPDX-License-Identifier: Apache-2.0 */
/* An audience kept over the last run's (keep.h): score_kept_put deletes
 * puts the audience's new keys over the last run's and deletes the stale
 * ones, in one transaction.  Whatever
 * the two runs' rows, the store must then hold exactly what a put into an
 * empty store holds, and the audiences beside it must not change.  And
 * the rows made one at a time, as kanald's runs make them, are those of
 * the whole document.  Documents are drawn at random: contacts that come,
 * stay and go, ties, rows without a number, advocates that come and go. */
#include "unit.h"

#include <errno.h>

#include "keep.h"
#include "store.h"

/* Contact number num's id: every third longer than eight bytes, all of
 * those alike in their first eight, so that rows are ordered past the
 * ids' prefixes too (keep.c's by_id_order). */
static void contact_id(char cid[32], size_t num)
{
    snprintf(cid, 32, num % 3 ? "c%zu" : "c0000000%zu", num);
}

/* A document of audience id with n rows of contacts drawn from a pool of
 * `pool` ids (distinct), the numbers drawn from few values (ties), some
 * missing. */
static json_t *random_doc(const char *id, size_t n, size_t pool, unsigned *seed)
{
    json_t *rows = json_array();
    char *used = calloc(pool, 1);
    assert_non_null(used);
    for (size_t i = 0; i < n; i++) {
        size_t c;
        do
            c = (size_t)rand_r(seed) % pool;
        while (used[c]);
        used[c] = 1;
        char cid[32];
        contact_id(cid, c + 1);
        json_t *row = json_pack("{s:s,s:f,s:i}", "contact", cid, "influence",
                                (double)(rand_r(seed) % 7) / 3.0, "k_core", rand_r(seed) % 3);
        if (rand_r(seed) % 5)
            json_object_set_new(row, "reach", json_integer(rand_r(seed) % 4));
        static const char *const parts[] = {"value", "advocacy", "risk"};
        for (int p = 0; p < 3; p++) {
            json_t *o = json_object();
            if (rand_r(seed) % 4)
                json_object_set_new(o, "score", json_real((double)(rand_r(seed) % 5)));
            if (p == 1)
                json_object_set_new(o, "advocate", json_boolean(rand_r(seed) % 3 == 0));
            json_object_set_new(row, parts[p], o);
        }
        json_array_append_new(rows, row);
    }
    free(used);
    return json_pack("{s:s,s:i,s:o}", "audience", id, "seq", 1, "contacts", rows);
}

static void put(struct store *st, json_t *doc)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    struct score_kept k;
    assert_int_equal(score_kept_make(doc, &k), 0);
    assert_int_equal(score_kept_put(st, txn, &k, 0, NULL), 0);
    score_kept_free(&k);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

/* Every key and value of the 'scores' database, as one JSON array of
 * [key, value] hex strings. */
static json_t *dump(struct store *st)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, st->scores, &cur), 0);
    json_t *out = json_array();
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        json_t *pair = json_array();
        const MDB_val *both[2] = {&k, &v};
        for (int b = 0; b < 2; b++) {
            char *hex = malloc(2 * both[b]->mv_size + 1);
            assert_non_null(hex);
            for (size_t i = 0; i < both[b]->mv_size; i++)
                sprintf(hex + 2 * i, "%02x", ((unsigned char *)both[b]->mv_data)[i]);
            hex[2 * both[b]->mv_size] = '\0';
            json_array_append_new(pair, json_string(hex));
            free(hex);
        }
        json_array_append_new(out, pair);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return out;
}

static void open_at(struct store *st, const char *dir, const char *name)
{
    char err[256], *path = unit_path(dir, name);
    if (store_open(st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    free(path);
}

/* "al" and "all2" sort either side of "all" ("all" and a NUL before
 * "all2"'s '2'): their keys are next to all's and must stay. */
static void test_replacing_an_audience_leaves_what_a_fresh_put_does(void **state)
{
    (void)state;
    unsigned seed = 19;
    for (int round = 0; round < 40; round++) {
        char *dir = unit_tempdir();
        struct store over, fresh;
        open_at(&over, dir, "over");
        open_at(&fresh, dir, "fresh");
        /* Every tenth round thousands of rows: an audience over many
         * pages, its stale keys deleted across page boundaries.  Every
         * third round no "all2": all's keys are the database's last, and
         * the stale ones its very end. */
        size_t pool =
            round % 10 == 9 ? 2000 + (size_t)rand_r(&seed) % 3000 : 5 + (size_t)rand_r(&seed) % 200;
        int last = round % 3 == 0;
        json_t *left = random_doc("al", (size_t)rand_r(&seed) % pool, pool, &seed);
        json_t *right = random_doc("all2", last ? 0 : (size_t)rand_r(&seed) % pool, pool, &seed);
        json_t *old = random_doc("all", (size_t)rand_r(&seed) % pool, pool, &seed);
        /* Fewer rows than the last run as often as more, and none at all
         * (every key of the last run stale) now and then. */
        json_t *now =
            random_doc("all", round % 7 == 3 ? 0 : (size_t)rand_r(&seed) % pool, pool, &seed);
        /* Every fourth round the last run again, less some rows and one
         * row changed: most keys stay as they are, some go. */
        if (round % 4 == 1) {
            json_decref(now);
            now = json_deep_copy(old);
            json_t *rows = json_object_get(now, "contacts");
            for (size_t d = json_array_size(rows) / 20; d > 0; d--)
                json_array_remove(rows, (size_t)rand_r(&seed) % json_array_size(rows));
            if (json_array_size(rows))
                json_object_set_new(json_array_get(rows, 0), "k_core", json_integer(99));
        }
        put(&over, left);
        if (!last)
            put(&over, right);
        put(&over, old);
        put(&over, now);
        put(&fresh, left);
        if (!last)
            put(&fresh, right);
        put(&fresh, now);
        json_t *a = dump(&over), *b = dump(&fresh);
        if (!json_equal(a, b))
            fail_msg("round %d: %zu keys after a replace, %zu after a fresh put", round,
                     json_array_size(a), json_array_size(b));
        /* And what is read back is the document put last. */
        MDB_txn *txn;
        json_t *back;
        assert_int_equal(mdb_txn_begin(over.env, NULL, MDB_RDONLY, &txn), 0);
        assert_int_equal(score_get(&over, txn, "all", &back), 0);
        assert_true(json_equal(back, now));
        json_decref(back);
        mdb_txn_abort(txn);
        json_decref(a);
        json_decref(b);
        json_decref(left);
        json_decref(right);
        json_decref(old);
        json_decref(now);
        store_close(&over);
        store_close(&fresh);
        unit_rmtree(dir);
    }
}

/* Put doc with check_gone: the rows of contacts the store has not are
 * left out; how many went. */
static size_t put_checked(struct store *st, json_t *doc)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    struct score_kept k;
    size_t dropped = 0;
    assert_int_equal(score_kept_make(doc, &k), 0);
    assert_int_equal(score_kept_put(st, txn, &k, 1, &dropped), 0);
    score_kept_free(&k);
    assert_int_equal(mdb_txn_commit(txn), 0);
    return dropped;
}

/* The contacts c1..c<pool> in the store, but every fifth (erased). */
static void some_contacts(struct store *st, size_t pool)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    for (size_t c = 1; c <= pool; c++) {
        if (c % 5 == 0)
            continue;
        char cid[32];
        contact_id(cid, c);
        MDB_val k = {strlen(cid), cid}, v = {2, "{}"};
        assert_int_equal(mdb_put(txn, st->contacts, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
}

/* Rows of contacts erased since the run's snapshot are left out (each
 * counted), whether the audience is put over its last run in key order
 * or afresh in the document's order: both leave the same keys, and none
 * names an erased contact. */
static void test_rows_of_erased_contacts_are_left_out(void **state)
{
    (void)state;
    unsigned seed = 5;
    for (int round = 0; round < 8; round++) {
        char *dir = unit_tempdir();
        struct store over, fresh;
        open_at(&over, dir, "over");
        open_at(&fresh, dir, "fresh");
        size_t pool = round < 4 ? 60 : 2500;
        some_contacts(&over, pool);
        some_contacts(&fresh, pool);
        json_t *old = random_doc("all", pool - 1, pool, &seed);
        json_t *now = random_doc("all", pool - 2 - (size_t)rand_r(&seed) % 3, pool, &seed);
        size_t gone = 0;
        json_t *row;
        size_t i;
        json_array_foreach(json_object_get(now, "contacts"), i, row)
        {
            if (atoi(json_string_value(json_object_get(row, "contact")) + 1) % 5 == 0)
                gone++;
        }
        put_checked(&over, old);
        assert_int_equal(put_checked(&over, now), gone);
        assert_int_equal(put_checked(&fresh, now), gone);
        json_t *a = dump(&over), *b = dump(&fresh);
        if (!json_equal(a, b))
            fail_msg("round %d: %zu keys over the last run, %zu afresh", round, json_array_size(a),
                     json_array_size(b));
        MDB_txn *txn;
        json_t *back;
        assert_int_equal(mdb_txn_begin(over.env, NULL, MDB_RDONLY, &txn), 0);
        assert_int_equal(score_get(&over, txn, "all", &back), 0);
        assert_int_equal(json_array_size(json_object_get(back, "contacts")),
                         json_array_size(json_object_get(now, "contacts")) - gone);
        json_array_foreach(json_object_get(back, "contacts"), i, row)
        {
            assert_int_not_equal(atoi(json_string_value(json_object_get(row, "contact")) + 1) % 5,
                                 0);
        }
        json_decref(back);
        mdb_txn_abort(txn);
        json_decref(a);
        json_decref(b);
        json_decref(old);
        json_decref(now);
        store_close(&over);
        store_close(&fresh);
        unit_rmtree(dir);
    }
}

static int keep_but_all(void *arg, const char *id)
{
    (void)arg;
    return strcmp(id, "all") != 0;
}

/* Retiring an audience deletes its whole key range in one cursor walk and
 * nothing beside it: when its keys are the database's last, and when
 * another audience follows. */
static void test_retiring_an_audience_deletes_its_range_alone(void **state)
{
    (void)state;
    unsigned seed = 7;
    for (int round = 0; round < 6; round++) {
        char *dir = unit_tempdir();
        struct store over, fresh;
        open_at(&over, dir, "over");
        open_at(&fresh, dir, "fresh");
        size_t pool = round < 3 ? 50 : 3000;
        json_t *left = random_doc("al", pool / 2, pool, &seed);
        json_t *right = random_doc("all2", round % 3 == 0 ? 0 : pool / 3, pool, &seed);
        json_t *gone = random_doc("all", round % 3 == 1 ? 0 : pool - 1, pool, &seed);
        put(&over, left);
        put(&fresh, left);
        if (json_array_size(json_object_get(right, "contacts"))) {
            put(&over, right);
            put(&fresh, right);
        }
        put(&over, gone);
        MDB_txn *txn;
        size_t deleted = 0;
        assert_int_equal(mdb_txn_begin(over.env, NULL, 0, &txn), 0);
        assert_int_equal(score_retire(&over, txn, keep_but_all, NULL, &deleted), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        assert_int_equal(deleted, 1);
        json_t *a = dump(&over), *b = dump(&fresh);
        if (!json_equal(a, b))
            fail_msg("round %d: %zu keys after retiring all, %zu without it", round,
                     json_array_size(a), json_array_size(b));
        json_decref(a);
        json_decref(b);
        json_decref(left);
        json_decref(right);
        json_decref(gone);
        store_close(&over);
        store_close(&fresh);
        unit_rmtree(dir);
    }
}

/* Made a row at a time (score_kept_begin, _row, _end), as kanald's runs
 * make them, an audience's rows are those of its whole document; a row
 * whose contact no key can be refuses the audience. */
static void test_rows_made_one_by_one_are_the_documents(void **state)
{
    (void)state;
    unsigned seed = 7;
    for (int round = 0; round < 20; round++) {
        json_t *doc = random_doc("source:x", (size_t)rand_r(&seed) % 300, 400, &seed);
        struct score_kept whole, rows;
        assert_int_equal(score_kept_make(doc, &whole), 0);
        assert_int_equal(score_kept_begin(&rows, "source:x"), 0);
        json_t *list = json_object_get(doc, "contacts");
        for (size_t i = 0; i < json_array_size(list); i++)
            assert_int_equal(score_kept_row(&rows, json_array_get(list, i)), 0);
        json_t *sum = json_pack("{s:s,s:i}", "audience", "source:x", "seq", 1);
        assert_int_equal(score_kept_end(&rows, sum), 0);
        json_decref(sum);
        assert_int_equal(rows.nrows, whole.nrows);
        assert_int_equal(rows.summary_len, whole.summary_len);
        assert_memory_equal(rows.summary, whole.summary, whole.summary_len);
        for (size_t i = 0; i < whole.nrows; i++) {
            assert_string_equal(rows.rows[i].contact, whole.rows[i].contact);
            assert_int_equal(rows.rows[i].len, whole.rows[i].len);
            assert_memory_equal(rows.rows[i].value, whole.rows[i].value, whole.rows[i].len);
        }
        score_kept_free(&whole);
        score_kept_free(&rows);
        json_decref(doc);
    }
    struct score_kept k;
    assert_int_equal(score_kept_begin(&k, ""), EINVAL);
    score_kept_free(&k);
    assert_int_equal(score_kept_begin(&k, "all"), 0);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json_t *row = json_pack("{s:s}", "contact", big);
    assert_int_equal(score_kept_row(&k, row), EINVAL);
    json_decref(row);
    json_t *sum = json_object();
    assert_int_equal(score_kept_end(&k, sum), EINVAL); /* and k is freed */
    json_decref(sum);
    assert_int_equal(k.nrows, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replacing_an_audience_leaves_what_a_fresh_put_does),
        cmocka_unit_test(test_retiring_an_audience_deletes_its_range_alone),
        cmocka_unit_test(test_rows_of_erased_contacts_are_left_out),
        cmocka_unit_test(test_rows_made_one_by_one_are_the_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
