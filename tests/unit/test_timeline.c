/* SPDX-License-Identifier: Apache-2.0 */
/* A contact's timeline (contacts_store.c) under the group commit, on a real
 * store in a temp dir: the entries the writer keeps in memory and their
 * journal, and the fold of `pending` into `timeline` under sustained load
 * (the sweep in key order), with failed commits and an erasure's fold. */
#include "store_fixture.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

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

/* The keys of `timeline`, as "<contact>/<seq>" lines. */
static char *timeline_keys(struct fixture *f, size_t *n)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    assert_non_null(m);
    *n = 0;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, f->st.timeline, &cur), 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *id = k.mv_data;
        size_t il = strnlen(id, k.mv_size);
        uint64_t seq = 0;
        assert_true(kanal_timeline_key_of(k.mv_data, k.mv_size, id, il, &seq));
        fprintf(m, "%.*s/%llu\n", (int)il, id, (unsigned long long)seq);
        ++*n;
    }
    mdb_cursor_close(cur);
    store_read_end(&f->st, txn);
    fclose(m);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "c<s>/<s>" for the first n of seqs 1..total in timeline key order (the
 * people of 1..total, person<s-1> being c<s> at seq s). */
static char *first_in_key_order(size_t total, size_t n)
{
    char **ids = calloc(total, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < total; i++) {
        ids[i] = malloc(24);
        assert_non_null(ids[i]);
        snprintf(ids[i], 24, "c%zu", i + 1);
    }
    qsort(ids, total, sizeof *ids, cmp_str);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    assert_non_null(m);
    for (size_t i = 0; i < total; i++) {
        if (i < n)
            fprintf(m, "%s/%s\n", ids[i], ids[i] + 1);
        free(ids[i]);
    }
    fclose(m);
    free(ids);
    return out;
}

/* Seq s's entry (c<s>) in `timeline` (where) and in `pending` (queued). */
static void entry_at(struct fixture *f, uint64_t seq, int *where, int *queued)
{
    MDB_txn *txn;
    char cid[32];
    unsigned char key[64];
    snprintf(cid, sizeof cid, "c%llu", (unsigned long long)seq);
    MDB_val k = {kanal_timeline_key(key, sizeof key, cid, seq), key}, pk = {sizeof seq, &seq}, v;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    *where = mdb_get(txn, f->st.timeline, &k, &v) == 0;
    *queued = mdb_get(txn, f->st.pending, &pk, &v) == 0;
    store_read_end(&f->st, txn);
}

/* A store with 65536 records waiting in `pending`, one new person each
 * (c1..c65536): the backlog at which batches start to fold.  Returns the
 * next person's number. */
static int backlog(struct fixture *f)
{
    open_store(f, 64 << 20);
    int person = 0;
    while (person < 65536)
        commit_people(f, &person, 512, person_item);
    return person;
}

/* Under sustained load the timeline's backlog is folded in the batches'
 * own commits: once 65536 records wait in `pending`, a batch folds two
 * entries for each of its records, taken in timeline key order from the
 * backlog read once (a sweep), so that a commit's entries share a few
 * leaves of `timeline` instead of one each; once they are all put, the
 * sweep deletes its records from `pending`, eight for each record of a
 * batch.  No entry is lost or read twice on the way, and below the
 * backlog a batch folds nothing (the idle writer folds the rest). */
static void test_backlog_swept_in_key_order(void **state)
{
    struct fixture *f = *state;
    int person = backlog(f);
    assert_int_equal(tree_entries(f, f->st.pending), 65536);
    assert_int_equal(tree_entries(f, f->st.timeline), 0);

    /* Seqs 65537..65636: the sweep reads seqs 1..65536 and puts the first
     * 200 of them in key order (c1, c10, c100, c1000, c10000, c10001, ...);
     * nothing leaves `pending` yet. */
    commit_people(f, &person, 100, person_item);
    size_t n;
    char *got = timeline_keys(f, &n), *want = first_in_key_order(65536, 200);
    assert_int_equal(n, 200);
    assert_string_equal(got, want);
    free(got);
    free(want);
    assert_int_equal(tree_entries(f, f->st.pending), 65636);
    assert_timeline(f, "c1", 1, 1); /* in both trees: read once */
    assert_timeline(f, "c65600", 65600, 65600);

    /* A transaction that folds its share and is then rolled back (as a
     * commit that fails) puts nothing: the next commit goes on from where
     * the sweep was (200 more, the next in key order). */
    MDB_txn *txn;
    size_t deleted, left;
    contacts_batch_begin(&f->st);
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, 0, &txn), 0);
    assert_int_equal(contacts_fold_share(&f->st, txn, 300, &deleted, &left), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(left, SIZE_MAX); /* 65636 records: more than a sweep reads */
    mdb_txn_abort(txn);
    contacts_batch_end(&f->st, 0);
    commit_people(f, &person, 100, person_item);
    got = timeline_keys(f, &n);
    want = first_in_key_order(65536, 400);
    assert_int_equal(n, 400);
    assert_string_equal(got, want);
    free(got);
    free(want);

    /* The rest of the sweep: all 65536 put before any record of it leaves
     * `pending`, then its records deleted. */
    size_t queued = tree_entries(f, f->st.pending);
    while (tree_entries(f, f->st.timeline) < 65536) {
        commit_people(f, &person, 1000, person_item);
        size_t now = tree_entries(f, f->st.pending);
        if (tree_entries(f, f->st.timeline) < 65536)
            assert_int_equal(now, queued + 1000); /* still putting */
        queued = now;
    }
    /* Deleting whenever the backlog is 65536 or more: down to it, then
     * about there. */
    int where, in_pending = 1;
    for (int i = 0; i < 1000 && in_pending; i++) {
        commit_people(f, &person, 100, person_item);
        entry_at(f, 65536, &where, &in_pending);
        size_t now = tree_entries(f, f->st.pending);
        if (queued > 65536 + 800)
            assert_int_equal(now, queued + 100 - 800);
        else
            assert_in_range(now, 65536 - 800, 65536 + 100);
        queued = now;
    }
    assert_false(in_pending);
    for (uint64_t seq = 1; seq <= 65536; seq++) {
        entry_at(f, seq, &where, &in_pending);
        if (!where || in_pending)
            fail_msg("seq %llu: in timeline %d, in pending %d", (unsigned long long)seq, where,
                     in_pending);
    }
    /* Every later record is queued or folded, none lost. */
    for (uint64_t seq = 65537; seq <= (uint64_t)person; seq++) {
        entry_at(f, seq, &where, &in_pending);
        if (!where && !in_pending)
            fail_msg("seq %llu: on no timeline", (unsigned long long)seq);
    }
    assert_timeline(f, "c1", 1, 1);
    assert_timeline(f, "c65536", 65536, 65536);
    assert_int_equal(store_last_seq(&f->st), (uint64_t)person);
}

/* An item that folds everything and deletes the timeline entries of the
 * contact its arg names, as an erasure does. */
static int apply_erase_timeline(struct write_item *it, struct store *st, MDB_txn *txn)
{
    size_t folded;
    int rc = contacts_fold(st, txn, SIZE_MAX, &folded);
    const char *id = it->arg;
    MDB_cursor *cur;
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->timeline, &cur);
    if (rc)
        return rc;
    MDB_val k = {strlen(id) + 1, (void *)id}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        if (!kanal_timeline_key_of(k.mv_data, k.mv_size, id, strlen(id), &seq))
            break;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* An erasure in the middle of a sweep: its fold of everything lets the
 * sweep go, so that the sweep's memory does not put an entry of the erased
 * contact back, not even the next one in key order, due in the erasure's
 * own commit; and the writer's count of `pending` follows the erasure, so
 * that the batches after it fold nothing while the backlog is small. */
static void test_erasure_lets_the_sweep_go(void **state)
{
    struct fixture *f = *state;
    int person = backlog(f);
    commit_people(f, &person, 10, person_item); /* the sweep puts the first 20 */
    char *order = first_in_key_order(65536, 21), *last = strrchr(order, '\n');
    *last = '\0';
    last = strrchr(order, '\n') + 1; /* "c<s>/<s>", the 21st */
    uint64_t next = strtoull(strchr(last, '/') + 1, NULL, 10);
    char cid[32];
    snprintf(cid, sizeof cid, "c%llu", (unsigned long long)next);
    free(order);
    int where, in_pending;
    entry_at(f, next, &where, &in_pending);
    assert_true(!where && in_pending);

    /* The erasure, with 100 new people in the same commit. */
    struct write_item *it = calloc(1, sizeof *it), **tail = &it->next;
    assert_non_null(it);
    it->apply = apply_erase_timeline;
    it->arg = cid;
    for (int i = 0; i < 100; i++, tail = &(*tail)->next)
        *tail = person_item(person++);
    commit(f, it, NULL);
    items_free(it);
    entry_at(f, next, &where, &in_pending);
    assert_false(where || in_pending);
    /* The backlog is gone: later batches fold nothing, as below 65536. */
    size_t queued = tree_entries(f, f->st.pending);
    for (int i = 0; i < 20; i++)
        commit_people(f, &person, 100, person_item);
    assert_int_equal(tree_entries(f, f->st.pending), queued + 2000);
    entry_at(f, next, &where, &in_pending);
    assert_false(where || in_pending);
    assert_timeline(f, "c10000", 10000, 10000);
    assert_timeline(f, "c65646", 65646, 65646);
    for (uint64_t seq = 65547; seq <= (uint64_t)person; seq++) {
        entry_at(f, seq, &where, &in_pending);
        if (!where && !in_pending)
            fail_msg("seq %llu: on no timeline", (unsigned long long)seq);
    }
}

/* Run the real writer thread with nothing queued until `pending` is
 * empty or secs have passed, calling poll (when set) every 5 ms; poll
 * returns nonzero to stop early.  Nothing may assert while the thread
 * runs: a failure would leave it running on this stack. */
static void run_idle_writer(struct fixture *f, int secs, int (*poll)(struct fixture *, void *),
                            void *arg)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct writer w = {0};
    assert_int_equal(writer_start(&w, &loop, &f->st), 0);
    struct timespec now, until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += secs;
    do {
        if (poll && poll(f, arg))
            break;
        usleep(5000);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (tree_entries(f, f->st.pending) > 0 && now.tv_sec < until.tv_sec);
    writer_stop(&w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* What the idle writer's sweep put, looked at while it puts. */
struct sweep_watch {
    char *order;      /* the 65536 entries' keys in key order */
    char *wrong;      /* a snapshot that is not a prefix of it */
    size_t mid_sweep; /* snapshots taken between the first and last put */
};

static int watch_sweep(struct fixture *f, void *arg)
{
    struct sweep_watch *sw = arg;
    size_t n;
    char *got = timeline_keys(f, &n);
    if (n > 200 && n < 65536) {
        if (strncmp(got, sw->order, strlen(got)) != 0) {
            sw->wrong = got;
            return 1;
        }
        sw->mid_sweep++;
    }
    free(got);
    return 0;
}

/* The sweep that load began is carried on by the idle writer (the real
 * writer thread, nothing queued): every snapshot taken while it puts holds
 * the first entries in key order, which a fold from the oldest record
 * would not; in the end `pending` is empty and every record on its
 * contact's timeline, those after the sweep's 65536 too. */
static void test_idle_writer_goes_on_with_the_sweep(void **state)
{
    struct fixture *f = *state;
    int person = backlog(f);
    commit_people(f, &person, 100, person_item); /* the sweep puts 200 */
    assert_int_equal(tree_entries(f, f->st.timeline), 200);

    struct sweep_watch sw = {.order = first_in_key_order(65536, 65536)};
    run_idle_writer(f, 120, watch_sweep, &sw);
    free(sw.order);
    if (sw.wrong)
        fail_msg("not a prefix of the key order while the idle writer swept:\n%.300s", sw.wrong);
    assert_true(sw.mid_sweep > 0);
    assert_int_equal(tree_entries(f, f->st.pending), 0);
    assert_int_equal(tree_entries(f, f->st.timeline), (size_t)person);
    int where, in_pending;
    for (uint64_t seq = 1; seq <= (uint64_t)person; seq++) {
        entry_at(f, seq, &where, &in_pending);
        if (!where || in_pending)
            fail_msg("seq %llu: in timeline %d, in pending %d", (unsigned long long)seq, where,
                     in_pending);
    }
    assert_timeline(f, "c65636", 65636, 65636);
}

/* The idle fold in a store whose map is full to its last page (reopened
 * with the smallest map LMDB allows, as after a restart that kept the
 * data file's size): the writer grows the map and folds everything. */
static void test_idle_fold_grows_a_full_map(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 20);
    int person = 0;
    while (person < 20000)
        commit_people(f, &person, 500, person_item);
    close_store(f);
    open_store(f, 1);
    size_t map = f->st.map_size;
    run_idle_writer(f, 60, NULL, NULL);
    assert_true(f->st.map_size > map);
    assert_int_equal(tree_entries(f, f->st.pending), 0);
    assert_int_equal(tree_entries(f, f->st.timeline), (size_t)person);
    assert_timeline(f, "c1", 1, 1);
    assert_timeline(f, "c20000", 20000, 20000);
}

int main(void)
{
    log_setup(KANAL_LOG_WARNING, 0);
    const struct CMUnitTest tests[] = {
        T(test_timeline_entries_kept_in_memory),
        T(test_backlog_swept_in_key_order),
        T(test_erasure_lets_the_sweep_go),
        T(test_idle_writer_goes_on_with_the_sweep),
        T(test_idle_fold_grows_a_full_map),
    };
    return cmocka_run_group_tests_name("timeline", tests, NULL, NULL);
}
