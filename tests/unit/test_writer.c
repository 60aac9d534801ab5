/* SPDX-License-Identifier: Apache-2.0 */
/* The group commit (writer.c) on a real store in a temp dir: seqs in order
 * and gap-free, idempotency, state with records, records serialized ahead,
 * completions, one bad item failing alone, and contact ids in commit order.
 * The store itself is test_store.c; store_fixture.h is what the two share. */
#include "store_fixture.h"

#include <errno.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "contacts.h"
#include "contacts_api.h"
#include "contacts_int.h"
#include "jsonout.h"
#include "log.h"
#include "record.h"
#include "util.h"
#include "store.h"
#include "writer.h"

static void test_seqs_in_order_gap_free(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    static const char *const a[] = {"a1", "a2", "a3"}, *const b[] = {"b1", "b2"},
                             *const c[] = {"c1", "c2", "c3", "c4"};
    struct write_item *batch = item_new(3, a);
    batch->next = item_new(2, b);
    struct writer_stats stats = {0};
    commit(f, batch, &stats);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(batch->seqs[i], i + 1);
    assert_int_equal(batch->nnew, 3);
    assert_int_equal(batch->next->seqs[0], 4);
    assert_int_equal(batch->next->seqs[1], 5);
    assert_int_equal(batch->next->nnew, 2);
    assert_int_equal(store_last_seq(&f->st), 5);
    items_free(batch);

    batch = item_new(4, c);
    commit(f, batch, &stats);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(batch->seqs[i], 6 + i);
    items_free(batch);
    assert_int_equal(store_last_seq(&f->st), 9);
    assert_int_equal(stats.duplicates, 0);
    assert_log_is_1_to(f, 9);

    /* The stored record carries its seq and what the item held. */
    json_t *rec = log_record(f, 7);
    assert_string_equal(json_string_value(json_object_get(rec, "external_id")), "c2");
    json_decref(rec);
}

static void test_idempotency(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    static const char *const first[] = {"m1", "m2"};
    struct write_item *it = item_new(2, first);
    commit(f, it, NULL);
    items_free(it);

    /* A redelivery: m2 again (with other contents), then a new m3. */
    static const char *const again[] = {"m2", "m3"};
    it = item_new(2, again);
    json_object_set_new(it->recs[0].rec, "text", json_string("changed"));
    struct writer_stats stats = {0};
    commit(f, it, &stats);
    assert_int_equal(it->seqs[0], 2); /* the existing seq */
    assert_int_equal(it->seqs[1], 3); /* no gap for the duplicate */
    assert_int_equal(it->nnew, 1);
    assert_int_equal(stats.duplicates, 1);
    items_free(it);
    assert_int_equal(store_last_seq(&f->st), 3);
    assert_log_is_1_to(f, 3);

    /* The stored m2 is the first one. */
    MDB_txn *txn;
    uint64_t seq = 2;
    MDB_val k = {sizeof seq, &seq}, v;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_get(txn, f->st.log, &k, &v), 0);
    json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    store_read_end(&f->st, txn);
    assert_string_equal(json_string_value(json_object_get(rec, "text")), "hello");
    json_decref(rec);

    /* Duplicates inside one batch, across items and within one item. */
    static const char *const twice[] = {"m4", "m4"}, *const once[] = {"m4"};
    it = item_new(2, twice);
    it->next = item_new(1, once);
    commit(f, it, NULL);
    assert_int_equal(it->seqs[0], 4);
    assert_int_equal(it->seqs[1], 4);
    assert_int_equal(it->nnew, 1);
    assert_int_equal(it->next->seqs[0], 4);
    assert_int_equal(it->next->nnew, 0);
    items_free(it);
    assert_int_equal(store_last_seq(&f->st), 4);
    assert_log_is_1_to(f, 4);
}

static void test_state_with_records(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    static const char *const ext[] = {"x1"};
    struct write_item *it = item_new(1, ext);
    item_add_state(it, "cursor", "uid:42");
    item_add_state(it, "other", "7");
    commit(f, it, NULL);
    items_free(it);

    char buf[64];
    size_t len = sizeof buf;
    assert_int_equal(store_state_get(&f->st, "s1", "cursor", buf, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "uid:42", 6);
    len = 3;
    assert_int_equal(store_state_get(&f->st, "s1", "cursor", buf, &len), -ENOBUFS);
    assert_int_equal(len, 6);
    len = sizeof buf;
    assert_int_equal(store_state_get(&f->st, "s2", "cursor", buf, &len), -ENOENT);
    assert_int_equal(store_state_get(&f->st, "s1", "missing", buf, &len), -ENOENT);

    /* A state entry alone (no records), an update and a delete. */
    it = calloc(1, sizeof *it);
    assert_non_null(it);
    item_add_state(it, "cursor", "uid:43");
    item_add_state(it, "other", NULL);
    commit(f, it, NULL);
    items_free(it);
    len = sizeof buf;
    assert_int_equal(store_state_get(&f->st, "s1", "cursor", buf, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "uid:43", 6);
    len = sizeof buf;
    assert_int_equal(store_state_get(&f->st, "s1", "other", buf, &len), -ENOENT);
    assert_int_equal(store_last_seq(&f->st), 1);
}

/* Every key and value of dbi, as text: "key\tvalue\n" each. */
static char *dump_db(struct fixture *f, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    assert_non_null(m);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        fwrite(k.mv_data, 1, k.mv_size, m);
        fputc('\t', m);
        fwrite(v.mv_data, 1, v.mv_size, m);
        fputc('\n', m);
    }
    fclose(m);
    mdb_cursor_close(cur);
    store_read_end(&f->st, txn);
    return out;
}

/* Records the loop thread serialized ahead (wr->text) are stored byte for
 * byte as the writer would have serialized them itself, with identity
 * resolution on (the contact put in) and off; ahead 2: written as text
 * alone (record_normalize_text, no rec), as the loop does without
 * identity and processors; ahead 3: as text with the parties alone
 * (record_normalize_parties, no rec), as the loop does with identity and
 * no processor.  out: the log, seq by seq (merges included), NULL ended. */
static void commit_normalized(struct fixture *f, int identity, int ahead, char ***out, size_t n)
{
    static const char *const inputs[] = {
        "{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":\"m-%zu\","
        "\"from\":{\"handle\":\"email:p%zu@example.com\",\"handles\":[\"phone:+90532000%04zu\"]},"
        "\"text\":\"merhaba \\\"%zu\\\" \\u00e7\",\"meta\":{\"n\":%zu}}",
        "{\"kind\":\"reaction\",\"direction\":\"outbound\",\"external_id\":\"r-%zu\","
        "\"from\":{\"handle\":\"email:brand@example.com\",\"role\":\"brand\"},\"to\":[{\"handle\":"
        "\"email:p%zu@example.com\"}],\"text\":\"%zu%zu%zu\"}",
        "{\"kind\":\"click\",\"direction\":\"inbound\",\"external_id\":\"k-%zu\","
        "\"from\":{\"handle\":\"email:brand%zu@example.com\",\"role\":\"brand\"},"
        "\"meta\":{\"x\":\"%zu%zu%zu\"}}",
        /* verified: handles of two contacts (another's phone) merge them */
        "{\"kind\":\"comment\",\"direction\":\"peer\",\"external_id\":\"c-%zu\","
        "\"from\":{\"handle\":\"email:p%zu@example.com\",\"trust\":\"verified\","
        "\"handles\":[\"phone:+90532000%04zu\"]},\"mentions\":[{\"handle\":\"x:1001\"},"
        "{\"handle\":\"x:1002\",\"role\":\"brand\"}]}",
    };
    f->st.identity = identity;
    /* received_ms as the loop gives it: identity's clock from it (ahead 3)
     * writes the contacts the clock parsed from received_at does. */
    struct record_ctx ctx = {.source = "s1",
                             .channel = "webhook",
                             .received_at = "2026-11-23T10:00:00.000Z",
                             .received_ms = 1795428000000};
    for (size_t i = 0; i < n; i++) {
        char text[1024];
        size_t k = i % ARRAY_SIZE(inputs);
        if (k == 3)
            snprintf(text, sizeof text, inputs[k], i, i % 7, (i + 3) % 7);
        else
            snprintf(text, sizeof text, inputs[k], i, i % 7, i % 7, i, i);
        json_error_t e;
        json_t *in = json_loads(text, 0, &e);
        if (!in)
            fail_msg("fixture %zu: %s", i, e.text);
        char err[256];
        struct write_item *it = calloc(1, sizeof *it);
        assert_non_null(it);
        it->recs = calloc(1, sizeof *it->recs);
        assert_non_null(it->recs);
        it->nrecs = 1;
        struct write_record *wr = &it->recs[0];
        struct record_info info;
        if (ahead == 3) {
            wr->parties = calloc(1, sizeof *wr->parties);
            assert_non_null(wr->parties);
        }
        if ((ahead == 2
                 ? record_normalize_text(in, &ctx, &info, &wr->text, &wr->text_len, err, sizeof err)
             : ahead == 3 ? record_normalize_parties(in, &ctx, &info, &wr->text, &wr->text_len,
                                                     wr->parties, err, sizeof err)
                          : record_normalize(in, &ctx, &wr->rec, err, sizeof err)) < 0)
            fail_msg("fixture %zu: %s", i, err);
        if (ahead == 1)
            wr->text = jsonout_dump(wr->rec, &wr->text_len);
        if (ahead < 2) {
            info.kind = json_string_value(json_object_get(wr->rec, "kind"));
            info.external_id = json_string_value(json_object_get(wr->rec, "external_id"));
        }
        assert_non_null(wr->text || wr->rec);
        char key[256];
        wr->idem_len = store_idem_key(key, sizeof key, "s1", info.kind, info.external_id);
        json_decref(in);
        wr->idem = malloc(wr->idem_len);
        assert_non_null(wr->idem);
        memcpy(wr->idem, key, wr->idem_len);
        commit(f, it, NULL);
        items_free(it);
    }
    size_t cap = 2 * n + 1, got = 0;
    *out = calloc(cap, sizeof **out);
    assert_non_null(*out);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    MDB_val v;
    for (uint64_t seq = 1;; seq++) {
        MDB_val k = {sizeof seq, &seq};
        if (mdb_get(txn, f->st.log, &k, &v) != 0)
            break;
        assert_true(got + 1 < cap);
        (*out)[got++] = strndup(v.mv_data, v.mv_size);
    }
    store_read_end(&f->st, txn);
    assert_true(got >= n);
}

static void free_log(char **log)
{
    for (char **p = log; *p; p++)
        free(*p);
    free(log);
}

static void test_serialized_ahead_is_stored_the_same(void **state)
{
    struct fixture *f = *state;
    enum { N = 120 };
    /* identity off, on; text alone (identity off); text and parties (on) */
    static const int identities[] = {0, 1, 0, 1}, aheads[] = {1, 1, 2, 3};
    for (size_t run = 0; run < ARRAY_SIZE(aheads); run++) {
        int identity = identities[run], ahead = aheads[run];
        char **want, **got, *want_db[4], *got_db[4];
        MDB_dbi dbis[4] = {0};
        open_store(f, 0);
        dbis[0] = f->st.contacts, dbis[1] = f->st.handles, dbis[2] = f->st.pending;
        dbis[3] = f->st.candidates;
        commit_normalized(f, identity, 0, &want, N);
        for (int d = 0; d < 4; d++)
            want_db[d] = dump_db(f, dbis[d]);
        close_store(f);
        unit_rmtree(strdup(f->store_dir));
        open_store(f, 0);
        commit_normalized(f, identity, ahead, &got, N);
        for (int d = 0; d < 4; d++)
            got_db[d] = dump_db(f, dbis[d]);
        close_store(f);
        unit_rmtree(strdup(f->store_dir));
        int contacts = 0, merges = 0;
        size_t i = 0;
        for (; want[i]; i++) {
            if (!got[i])
                fail_msg("run %zu: record %zu stored the first time only: %s", run, i, want[i]);
            assert_string_equal(got[i], want[i]);
            contacts += strstr(got[i], "\"contact\":\"c") != NULL;
            merges += strstr(got[i], "\"kind\":\"merge\"") != NULL;
        }
        assert_null(got[i]);
        /* the same contacts, handles, timelines to fold and candidates */
        for (int d = 0; d < 4; d++) {
            assert_string_equal(got_db[d], want_db[d]);
            free(got_db[d]);
            free(want_db[d]);
        }
        /* messages, reactions and comments; merges name their contact */
        assert_int_equal(contacts, identity ? 90 + merges : 0);
        if (identity && merges == 0)
            fail_msg("run %zu: no merge: the fixture no longer tests one", run);
        assert_int_equal((int)i, N + merges);
        free_log(got);
        free_log(want);
    }
}

/* Completions through the real writer thread. */
struct done_log {
    int calls;
    uint64_t seq;
};

static void on_done(struct write_item *it)
{
    struct done_log *d = it->arg;
    d->calls++;
    d->seq = it->status == 0 && it->seqs ? it->seqs[0] : 0;
    write_item_free(it);
}

/* writer_poll runs a finished commit's completion at once, before the loop
 * has seen the writer's wakeup; without a finished commit it does nothing. */
static void test_poll_delivers_before_the_wakeup(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct writer w = {0};
    assert_int_equal(writer_start(&w, &loop, &f->st), 0);
    struct done_log d[2] = {{0}, {0}};
    const char *ext[][1] = {{"a"}, {"b"}};
    for (int i = 0; i < 2; i++) {
        writer_poll(&w);
        struct write_item *it = item_new(1, ext[i]);
        it->done = on_done;
        it->arg = &d[i];
        writer_submit(&w, it);
        for (int ms = 0; ms < 10000 && !atomic_load(&w.done_ready); ms++)
            usleep(1000);
        assert_int_equal(d[i].calls, 0); /* committed, not yet delivered */
        writer_poll(&w);
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].seq, (uint64_t)i + 1);
    }
    /* The wakeup that follows finds nothing left to deliver. */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(d[0].calls + d[1].calls, 2);
    writer_stop(&w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_log_is_1_to(f, 2);
}

/* The external ids in the log, in order, into ids (each strdup'ed). */
static size_t log_external_ids(struct fixture *f, char **ids, size_t cap)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    size_t n = 0;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, f->st.log, &c), 0);
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < cap;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        assert_non_null(rec);
        ids[n++] = strdup(json_string_value(json_object_get(rec, "external_id")));
        json_decref(rec);
    }
    mdb_cursor_close(c);
    store_read_end(&f->st, txn);
    return n;
}

/* One item of a commit fails for its own sake (an idempotency key LMDB
 * refuses, a record nested too deep or with a NUL in a string, a state key
 * too long): only that item fails; the others commit, gap-free, with their
 * state, and so does the next batch. */
static void test_bad_item_fails_alone(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    static const char *const a[] = {"a1", "a2"}, *const bad[] = {"bad"}, *const b[] = {"b1"},
                             *const c[] = {"c1"}, *const d[] = {"d1"};
    struct write_item *items[8];
    size_t n = 0;
    items[n++] = item_new(2, a); /* good */
    struct write_item *long_key = items[n++] = item_new(1, bad);
    free(long_key->recs[0].idem);
    long_key->recs[0].idem_len = STORE_MAX_KEY + 100;
    long_key->recs[0].idem = calloc(1, long_key->recs[0].idem_len);
    items[n++] = item_new(1, b); /* good, with state */
    item_add_state(items[n - 1], "cursor", "b");
    struct write_item *too_deep = items[n++] = item_new(1, bad);
    json_t *v = json_string("bottom");
    for (int i = 0; i < KANAL_MAX_DEPTH; i++) {
        json_t *arr = json_array();
        json_array_append_new(arr, v);
        v = arr;
    }
    json_object_set_new(too_deep->recs[0].rec, "meta", v);
    struct write_item *nul = items[n++] = item_new(1, bad);
    json_object_set_new(nul->recs[0].rec, "text", json_stringn("a\0b", 3));
    struct write_item *bad_state = items[n++] = item_new(1, d);
    item_add_state(bad_state, "other", "x");
    free(bad_state->states[0].key);
    bad_state->states[0].key_len = STORE_MAX_KEY + 1;
    bad_state->states[0].key = calloc(1, STORE_MAX_KEY + 1);
    items[n++] = item_new(1, c); /* good */
    for (size_t i = 0; i + 1 < n; i++)
        items[i]->next = items[i + 1];
    struct writer_stats stats = {0};
    assert_int_equal(writer_commit_batch(&f->st, items[0], &stats), 0);
    assert_int_equal(items[0]->status, 0);
    assert_int_equal(items[2]->status, 0);
    assert_int_equal(items[6]->status, 0);
    assert_int_equal(long_key->status, KANAL_ERECORD);
    assert_int_equal(too_deep->status, KANAL_ERECORD);
    assert_int_equal(nul->status, KANAL_ERECORD);
    assert_true(bad_state->status < 0);
    assert_int_equal(items[0]->seqs[0], 1);
    assert_int_equal(items[0]->seqs[1], 2);
    assert_int_equal(items[2]->seqs[0], 3);
    assert_int_equal(items[6]->seqs[0], 4);
    assert_int_equal(store_last_seq(&f->st), 4);
    assert_log_is_1_to(f, 4);
    char *ids[8];
    assert_int_equal(log_external_ids(f, ids, 8), 4);
    static const char *const want[] = {"a1", "a2", "b1", "c1"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(ids[i], want[i]);
        free(ids[i]);
    }
    char buf[16];
    size_t len = sizeof buf;
    assert_int_equal(store_state_get(&f->st, "s1", "cursor", buf, &len), 0);
    assert_int_equal(len, 1);
    assert_memory_equal(buf, "b", 1);
    items_free(items[0]);

    /* The failed items' records were never written: d1 comes next, at 5. */
    static const char *const e[] = {"d1", "e1"};
    struct write_item *next = item_new(2, e);
    commit(f, next, &stats);
    assert_int_equal(next->seqs[0], 5);
    assert_int_equal(next->seqs[1], 6);
    assert_int_equal(next->nnew, 2);
    items_free(next);
    assert_log_is_1_to(f, 6);
}

/* An apply() step failing for its own sake (a negative errno) fails its
 * item alone, records and all; a failure of the store itself (no space)
 * fails every item of the commit, and nothing is stored. */
static void test_store_wide_failure_fails_everyone(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    static const char *const a[] = {"a1"}, *const b[] = {"b1"}, *const c[] = {"c1"};
    int einval = -EINVAL, enospc = ENOSPC;
    struct write_item *batch = item_new(1, a);
    batch->next = item_new(1, b);
    batch->next->apply = apply_fails;
    batch->next->arg = &einval;
    batch->next->next = item_new(1, c);
    assert_int_equal(writer_commit_batch(&f->st, batch, NULL), 0);
    assert_int_equal(batch->status, 0);
    assert_int_equal(batch->next->status, -EINVAL);
    assert_int_equal(batch->next->next->status, 0);
    assert_int_equal(batch->next->next->seqs[0], 2);
    items_free(batch);
    assert_log_is_1_to(f, 2);

    static const char *const d[] = {"d1"}, *const e[] = {"e1"};
    batch = item_new(1, d);
    batch->next = item_new(1, e);
    batch->next->apply = apply_fails;
    batch->next->arg = &enospc;
    assert_int_equal(writer_commit_batch(&f->st, batch, NULL), -ENOSPC);
    assert_int_equal(batch->status, KANAL_ESTORE);
    assert_int_equal(batch->next->status, KANAL_ESTORE);
    items_free(batch);
    assert_log_is_1_to(f, 2);
    assert_int_equal(store_last_seq(&f->st), 2);
}

/* The contacts of the log's records in seq order, each checked to exist
 * and to own its record's handle. */
static size_t log_contacts(struct fixture *f, char (*out)[32], size_t cap)
{
    MDB_txn *txn;
    size_t n = 0;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    for (uint64_t seq = 1; seq <= store_last_seq(&f->st) && n < cap; seq++) {
        MDB_val k = {sizeof seq, &seq}, v;
        assert_int_equal(mdb_get(txn, f->st.log, &k, &v), 0);
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        assert_non_null(rec);
        const char *cid = json_string_value(json_object_get(rec, "contact"));
        const char *handle =
            json_string_value(json_object_get(json_object_get(rec, "from"), "handle"));
        assert_non_null(cid);
        MDB_val ck = {strlen(cid), (void *)cid}, cv;
        if (mdb_get(txn, f->st.contacts, &ck, &cv) != 0)
            fail_msg("record %llu names contact %s, which does not exist", (unsigned long long)seq,
                     cid);
        MDB_val hk = {strlen(handle), (void *)handle}, hv;
        assert_int_equal(mdb_get(txn, f->st.handles, &hk, &hv), 0);
        assert_string_equal((const char *)hv.mv_data, cid); /* "<contact>\0<provenance>" */
        snprintf(out[n++], 32, "%s", cid);
        json_decref(rec);
    }
    store_read_end(&f->st, txn);
    return n;
}

/* The log holds n records, with contacts c1, c2, ... cn in seq order. */
static void assert_contacts_in_commit_order(struct fixture *f, int n)
{
    assert_int_equal(store_last_seq(&f->st), n);
    char(*cids)[32] = calloc((size_t)n, sizeof *cids);
    assert_non_null(cids);
    assert_int_equal(log_contacts(f, cids, (size_t)n), n);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "c%d", i + 1);
        if (strcmp(cids[i], want) != 0)
            fail_msg("record %d: contact %s, expected %s", i + 1, cids[i], want);
    }
    free(cids);
}

/* Contact ids are c1, c2, ... in commit order, whatever happens to the
 * transactions that make them: the writer keeps the counter between
 * commits, so a commit retried because the map grew, an item rolled back
 * after its contact was made, a commit that fails as a whole, and a
 * reopened store must neither skip an id nor give one twice. */
static void test_contact_ids_follow_commit_order(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 10);
    size_t initial = f->st.map_size;
    int person = 0, stored = 0;
    /* Batches of 7 items, each a new person: the map grows under some. */
    for (int b = 0; b < 60; b++, stored += 7)
        commit_people(f, &person, 7, person_item);
    assert_true(f->st.map_size > initial);

    /* A new person, then an item whose person is resolved (a contact made)
     * before its record proves too deep to store, then another new person:
     * the failed item's contact is rolled back with it. */
    struct write_item *batch = person_item(person++);
    struct write_item *bad = batch->next = person_item(100000);
    json_t *v = json_string("bottom");
    for (int i = 0; i < KANAL_MAX_DEPTH; i++) {
        json_t *arr = json_array();
        json_array_append_new(arr, v);
        v = arr;
    }
    json_object_set_new(bad->recs[0].rec, "meta", v);
    bad->next = person_item(person++);
    assert_int_equal(writer_commit_batch(&f->st, batch, NULL), 0);
    assert_int_equal(batch->status, 0);
    assert_int_equal(bad->status, KANAL_ERECORD);
    assert_int_equal(bad->next->status, 0);
    items_free(batch);
    stored += 2;

    /* A commit that fails as a whole after making a contact stores none. */
    int enospc = ENOSPC;
    batch = person_item(200000);
    batch->next = item_new(1, (const char *const[]){"fails"});
    batch->next->apply = apply_fails;
    batch->next->arg = &enospc;
    assert_int_equal(writer_commit_batch(&f->st, batch, NULL), -ENOSPC);
    items_free(batch);

    /* Written one at a time, then again after the store is reopened. */
    for (int i = 0; i < 3; i++, stored++) {
        batch = person_item(person++);
        commit(f, batch, NULL);
        items_free(batch);
    }
    close_store(f);
    open_store(f, 64 << 10);
    for (int i = 0; i < 3; i++, stored++) {
        batch = person_item(person++);
        commit(f, batch, NULL);
        items_free(batch);
    }

    assert_contacts_in_commit_order(f, stored);
}

/* meta's block of contact numbers: its start and end (next_contact). */
static void assert_block(struct fixture *f, uint64_t from, uint64_t next)
{
    assert_int_equal(meta_u64(f, KANAL_META_CONTACT_FROM), from);
    assert_int_equal(meta_u64(f, KANAL_META_NEXT_CONTACT), next);
}

/* An item that deletes the contacts its arg names (NULL ended), as an
 * erasure does: the counter pinned first. */
static int apply_erase_contacts(struct write_item *it, struct store *st, MDB_txn *txn)
{
    int rc = contacts_counter_pin(st, txn);
    for (const char *const *id = it->arg; rc == 0 && *id; id++) {
        MDB_val k = {strlen(*id), (void *)*id};
        rc = mdb_del(txn, st->contacts, &k, NULL);
    }
    return rc;
}

/* The counter reaches meta a block of 64 numbers at a time: next_contact
 * is always past every id given (what an earlier kanald goes on from), and
 * a reopened store counts on from the block's start over the contacts
 * that exist; an erasure of the newest contacts writes a new block first,
 * so their ids are not given again.  A store whose next_contact is not
 * its block's end (an earlier kanald wrote it) goes on from it exactly. */
static void test_contact_counter_in_blocks(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    int person = 0;
    commit_people(f, &person, 1, person_item); /* c1: the first block */
    assert_block(f, 2, 66);
    for (int i = 0; i < 9; i++) /* c2..c10, one commit each: no put in meta */
        commit_people(f, &person, 1, person_item);
    assert_block(f, 2, 66);
    commit_people(f, &person, 60, person_item); /* c11..c70: past 66 */
    assert_block(f, 71, 135);
    commit_people(f, &person, 5, person_item); /* c71..c75 */
    assert_block(f, 71, 135);

    close_store(f);
    open_store(f, 0);
    commit_people(f, &person, 1, person_item); /* c76, counted on from 71 */
    assert_block(f, 71, 135);
    assert_contacts_in_commit_order(f, 76);

    /* The newest two erased, reopened: c77 next, not c75. */
    static const char *const erased[] = {"c75", "c76", NULL};
    struct write_item *it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->apply = apply_erase_contacts;
    it->arg = (void *)erased;
    commit(f, it, NULL);
    items_free(it);
    assert_block(f, 77, 141);
    close_store(f);
    open_store(f, 0);
    it = person_item(person++);
    commit(f, it, NULL);
    items_free(it);
    assert_last_contact(f, "c77");

    /* An erasure first after a reopen, and a contact made and erased in
     * the batch that erases it. */
    static const char *const newest[] = {"c77", NULL};
    close_store(f);
    open_store(f, 0);
    it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->apply = apply_erase_contacts;
    it->arg = (void *)newest;
    it->next = person_item(person++); /* c78 */
    commit(f, it, NULL);
    items_free(it);
    assert_block(f, 79, 143);
    assert_last_contact(f, "c78");

    /* An earlier kanald went on from next_contact (143) and made c143 and
     * c144: its exact value is where this one goes on. */
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, 0, &txn), 0);
    for (int i = 143; i <= 144; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        MDB_val k = {strlen(id), id}, v = {2, "{}"};
        assert_int_equal(mdb_put(txn, f->st.contacts, &k, &v, 0), 0);
    }
    uint64_t next = 145;
    MDB_val k = {strlen(KANAL_META_NEXT_CONTACT), KANAL_META_NEXT_CONTACT},
            v = {sizeof next, &next};
    assert_int_equal(mdb_put(txn, f->st.meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    close_store(f);
    open_store(f, 0);
    it = person_item(person++);
    commit(f, it, NULL);
    items_free(it);
    assert_last_contact(f, "c145");
    assert_block(f, 146, 210);
}

/* person_item's record as the loop makes it with identity and no
 * processor: its text and its parties, no values. */
static struct write_item *person_parties_item(int i)
{
    char in_text[256], err[256];
    snprintf(in_text, sizeof in_text,
             "{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":\"person-%d\","
             "\"from\":{\"handle\":\"email:person%d@example.com\"}}",
             i, i);
    json_t *in = json_loads(in_text, 0, NULL);
    assert_non_null(in);
    struct write_item *it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->recs = calloc(1, sizeof *it->recs);
    assert_non_null(it->recs);
    it->nrecs = 1;
    struct write_record *wr = &it->recs[0];
    wr->parties = calloc(1, sizeof *wr->parties);
    assert_non_null(wr->parties);
    struct record_ctx ctx = {.source = "s1", .channel = "webhook",
                             .received_at = "2026-11-23T10:00:00.000Z"};
    struct record_info info;
    if (record_normalize_parties(in, &ctx, &info, &wr->text, &wr->text_len, wr->parties, err,
                                 sizeof err))
        fail_msg("person %d: %s", i, err);
    char key[256];
    wr->idem_len = store_idem_key(key, sizeof key, "s1", info.kind, info.external_id);
    wr->idem = malloc(wr->idem_len);
    assert_non_null(wr->idem);
    memcpy(wr->idem, key, wr->idem_len);
    json_decref(in);
    return it;
}

/* Records resolved from their parties alone, in commits retried because
 * the map grew: each gets its contact once, c1, c2, ... in commit order,
 * and owns its handle. */
static void test_parties_resolved_across_retried_commits(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 10);
    size_t initial = f->st.map_size;
    int person = 0;
    for (int b = 0; b < 60; b++)
        commit_people(f, &person, 7, person_parties_item);
    assert_true(f->st.map_size > initial); /* some commits were retried */
    assert_contacts_in_commit_order(f, person);
}

/* An item of one record whose customer names handles a and b. */
static struct write_item *party_item(const char *ext, const char *a, const char *b)
{
    const char *e[1] = {ext};
    struct write_item *it = item_new(1, e);
    json_object_set_new(
        it->recs[0].rec, "from",
        json_pack("{s:s,s:s,s:[s,s]}", "handle", a, "role", "customer", "handles", a, b));
    return it;
}

/* The contact a handle points at ("" when none). */
static void handle_contact(struct fixture *f, const char *handle, char out[32])
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    MDB_val k = {strlen(handle), (void *)handle}, v;
    out[0] = '\0';
    if (mdb_get(txn, f->st.handles, &k, &v) == 0)
        snprintf(out, 32, "%s", (const char *)v.mv_data);
    store_read_end(&f->st, txn);
}

/* Inside a batch the writer looks a party's handles up and puts the new
 * ones through cursors it keeps for the whole transaction, while other
 * records' puts split and copy the pages under them, and a full map rolls
 * the transaction back and retries it.  Every handle must still point at
 * the right contact: new people get c1, c2, ... in order (also when a
 * party names a handle twice), a record naming a handle made earlier in
 * the same batch goes to that contact and links its other handle there. */
static void test_handles_linked_right_within_batches(void **state)
{
    struct fixture *f = *state;
    open_store(f, 64 << 10);
    size_t initial = f->st.map_size;
    enum { BATCHES = 12, PER = 60 };
    int person = 0;
    char want[BATCHES * PER][32];
    for (int b = 0; b < BATCHES; b++) {
        struct write_item *batch = NULL, **tail = &batch;
        for (int i = 0; i < PER; i++) {
            int r = b * PER + i;
            char ext[32], a[64], c[64];
            snprintf(ext, sizeof ext, "r%d", r);
            if (i % 3 == 2) {
                /* The person of the record before, and an alias new to
                 * the graph. */
                snprintf(a, sizeof a, "email:person%d@example.com", person - 1);
                snprintf(c, sizeof c, "email:alias%d@example.com", r);
                snprintf(want[r], 32, "c%d", person);
            } else {
                /* Handles spread over the tree: e-mails and phones sort
                 * apart, and the numbers go backwards. */
                snprintf(a, sizeof a, "email:person%d@example.com", person);
                snprintf(c, sizeof c, "phone:+1555%07d", 9999999 - person * 7919 % 9999999);
                if (i % 10 == 9) /* a party naming one handle twice */
                    snprintf(c, sizeof c, "%s", a);
                snprintf(want[r], 32, "c%d", ++person);
            }
            *tail = party_item(ext, a, c);
            tail = &(*tail)->next;
        }
        commit(f, batch, NULL);
        items_free(batch);
    }
    assert_true(f->st.map_size > initial); /* some commits were retried */
    int pending = 1;
    for (int r = 0, p = 0; r < BATCHES * PER; r++) {
        char a[64], c[64], got[32];
        if (r % PER % 3 == 2) {
            snprintf(c, sizeof c, "email:alias%d@example.com", r);
            handle_contact(f, c, got);
            if (strcmp(got, want[r]) != 0)
                fail_msg("%s: contact '%s', expected %s", c, got, want[r]);
            continue;
        }
        snprintf(a, sizeof a, "email:person%d@example.com", p);
        snprintf(c, sizeof c, "phone:+1555%07d", 9999999 - p * 7919 % 9999999);
        if (r % PER % 10 == 9)
            snprintf(c, sizeof c, "%s", a);
        p++;
        handle_contact(f, a, got);
        if (strcmp(got, want[r]) != 0)
            fail_msg("%s: contact '%s', expected %s", a, got, want[r]);
        handle_contact(f, c, got);
        if (strcmp(got, want[r]) != 0)
            fail_msg("%s: contact '%s', expected %s", c, got, want[r]);
        pending = 0;
    }
    assert_int_equal(pending, 0);
    /* And each record names its contact. */
    char(*cids)[32] = calloc(BATCHES * PER, sizeof *cids);
    assert_non_null(cids);
    size_t n = 0;
    MDB_txn *txn;
    assert_int_equal(store_read_begin(&f->st, &txn), 0);
    for (uint64_t seq = 1; seq <= store_last_seq(&f->st); seq++) {
        MDB_val k = {sizeof seq, &seq}, v;
        assert_int_equal(mdb_get(txn, f->st.log, &k, &v), 0);
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        assert_non_null(rec);
        snprintf(cids[n++], 32, "%s", json_string_value(json_object_get(rec, "contact")));
        json_decref(rec);
    }
    store_read_end(&f->st, txn);
    assert_int_equal(n, BATCHES * PER);
    for (size_t r = 0; r < n; r++)
        if (strcmp(cids[r], want[r]) != 0)
            fail_msg("record %zu: contact %s, expected %s", r + 1, cids[r], want[r]);
    free(cids);
}

int main(void)
{
    log_setup(KANAL_LOG_WARNING, 0);
    const struct CMUnitTest tests[] = {
        T(test_seqs_in_order_gap_free),
        T(test_idempotency),
        T(test_state_with_records),
        T(test_serialized_ahead_is_stored_the_same),
        T(test_poll_delivers_before_the_wakeup),
        T(test_bad_item_fails_alone),
        T(test_store_wide_failure_fails_everyone),
        T(test_contact_ids_follow_commit_order),
        T(test_contact_counter_in_blocks),
        T(test_parties_resolved_across_retried_commits),
        T(test_handles_linked_right_within_batches),
    };
    return cmocka_run_group_tests_name("writer", tests, NULL, NULL);
}
