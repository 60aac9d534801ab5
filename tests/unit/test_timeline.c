/* SPDX-License-Identifier: Apache-2.0 */
/* A contact's timeline (contacts_store.c) under the group commit, on a real
 * store in a temp dir: the entries the writer keeps in memory and their
 * journal, and the fold of `pending` into `timeline` under sustained load. */
#include "store_fixture.h"

#include <errno.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "contacts.h"
#include "contacts_api.h"
#include "log.h"
#include "store.h"
#include "writer.h"

/* An item of one record (external id visit-<n>) from person<who>. */
static struct write_item *visit_item(int n, int who)
{
    struct write_item *it = person_item(who);
    char ext[32], key[256];
    snprintf(ext, sizeof ext, "visit-%d", n);
    json_object_set_new(it->recs[0].rec, "external_id", json_string(ext));
    size_t len = store_idem_key(key, sizeof key, "s1", "message", ext);
    free(it->recs[0].idem);
    it->recs[0].idem = malloc(len);
    assert_non_null(it->recs[0].idem);
    memcpy(it->recs[0].idem, key, len);
    it->recs[0].idem_len = len;
    return it;
}

/* contacts_timeline of contact id is seqs from..to, every one. */
static void assert_timeline(struct fixture *f, const char *id, uint64_t from, uint64_t to)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    json_t *c = NULL;
    assert_int_equal(contacts_load(&f->st, txn, id, &c), 0);
    uint64_t *seqs = NULL;
    size_t n = 0;
    assert_int_equal(contacts_timeline(&f->st, txn, c, &seqs, &n), 0);
    store_read_end(&f->st, txn);
    json_decref(c);
    if (n != to - from + 1)
        fail_msg("%s: %zu records on the timeline, expected %llu", id, n,
                 (unsigned long long)(to - from + 1));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], from + i);
    free(seqs);
}

static int apply_fold_all(struct write_item *it, struct store *st, MDB_txn *txn)
{
    size_t folded;
    (void)it;
    return contacts_fold(st, txn, SIZE_MAX, &folded);
}

/* A record whose one contact is its "contact" leaves its timeline entry in
 * the writer's memory, put in `pending` 64 records at a time with the seq
 * reached (meta's pending_through); the log after that seq is the journal
 * the timeline reads, and a reopened store (as after a crash) reads it
 * again.  A failed commit leaves no entry behind; a fold of everything (an
 * erasure's) takes the kept entries too. */
static void test_timeline_entries_kept_in_memory(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    int n = 0;
    struct write_item *it;
    for (int i = 0; i < 10; i++, n++) { /* seqs 1..10, all person0's: c1 */
        it = visit_item(n, 0);
        commit(f, it, NULL);
        items_free(it);
    }
    assert_int_equal(meta_u64(f, KANAL_META_PENDING_THROUGH), 1); /* the first commit */
    assert_int_equal(tree_entries(f, f->st.pending), 1);
    assert_timeline(f, "c1", 1, 10);

    close_store(f); /* the writer's memory lost, as in a crash */
    open_store(f, 0);
    assert_timeline(f, "c1", 1, 10);
    for (int i = 0; i < 60; i++, n++) { /* seqs 11..70: 65 puts them */
        it = visit_item(n, 0);
        commit(f, it, NULL);
        items_free(it);
    }
    assert_int_equal(meta_u64(f, KANAL_META_PENDING_THROUGH), 65);
    assert_int_equal(tree_entries(f, f->st.pending), 65);
    assert_timeline(f, "c1", 1, 70);

    /* A commit that fails as a whole: its seq 71 is given again, to a
     * record of no one, then 72 to c2; c1 gets neither. */
    int enospc = ENOSPC;
    it = visit_item(n++, 0);
    it->next = item_new(1, (const char *const[]){"fails"});
    it->next->apply = apply_fails;
    it->next->arg = &enospc;
    assert_int_equal(writer_commit_batch(&f->st, it, NULL), -ENOSPC);
    items_free(it);
    it = item_new(1, (const char *const[]){"no-one"});
    commit(f, it, NULL);
    items_free(it);
    it = visit_item(n++, 1);
    commit(f, it, NULL);
    items_free(it);
    assert_last_contact(f, "c2");
    assert_timeline(f, "c1", 1, 70);
    assert_timeline(f, "c2", 72, 72);

    /* Everything folded (an erasure does that first). */
    it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->apply = apply_fold_all;
    commit(f, it, NULL);
    items_free(it);
    assert_int_equal(tree_entries(f, f->st.pending), 0);
    assert_int_equal(tree_entries(f, f->st.timeline), 71);
    assert_int_equal(meta_u64(f, KANAL_META_PENDING_THROUGH), 72);
    assert_timeline(f, "c1", 1, 70);
    assert_timeline(f, "c2", 72, 72);
}

/* Under sustained load the timeline's backlog is folded in the batches' own
 * commits: once 65536 records wait in `pending`, a batch folds the oldest
 * two for each of its records, so the backlog shrinks while records keep
 * coming, and no fold of its own holds the next batch's answers; below
 * that, a batch folds nothing (the idle writer folds the rest). */
static void test_backlog_folded_within_commits(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 20);
    int person = 0;
    while (person < 65536)
        commit_people(f, &person, 512, person_item);
    assert_int_equal(tree_entries(f, f->st.pending), 65536);
    assert_int_equal(tree_entries(f, f->st.timeline), 0);

    commit_people(f, &person, 100, person_item); /* seqs 65537..65636: folds seqs 1..200 */
    assert_int_equal(tree_entries(f, f->st.pending), 65536 + 100 - 200);
    assert_int_equal(tree_entries(f, f->st.timeline), 200);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    for (uint64_t seq = 1; seq <= 201; seq++) {
        char cid[32];
        snprintf(cid, sizeof cid, "c%llu", (unsigned long long)seq); /* a person each */
        unsigned char key[64];
        MDB_val k = {kanal_timeline_key(key, sizeof key, cid, seq), key}, v;
        assert_int_equal(mdb_get(txn, f->st.timeline, &k, &v), seq <= 200 ? 0 : MDB_NOTFOUND);
        MDB_val pk = {sizeof seq, &seq};
        assert_int_equal(mdb_get(txn, f->st.pending, &pk, &v), seq <= 200 ? MDB_NOTFOUND : 0);
    }
    store_read_end(&f->st, txn);

    commit_people(f, &person, 100, person_item); /* below the backlog again: nothing folded */
    assert_int_equal(tree_entries(f, f->st.pending), 65536);
    assert_int_equal(tree_entries(f, f->st.timeline), 200);
    commit_people(f, &person, 1000, person_item); /* folds 2000, then more while it lasts */
    assert_int_equal(tree_entries(f, f->st.pending), 65536 + 1000 - 2000);
    assert_int_equal(tree_entries(f, f->st.timeline), 2200);
    assert_int_equal(store_last_seq(&f->st), (uint64_t)person);
}

int main(void)
{
    log_setup(KANAL_LOG_WARNING, 0);
    const struct CMUnitTest tests[] = {
        T(test_backlog_folded_within_commits),
        T(test_timeline_entries_kept_in_memory),
    };
    return cmocka_run_group_tests_name("timeline", tests, NULL, NULL);
}
