/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's graph from a real LMDB store (daemon/score/collect.c):
 * records resolved to contacts as the writer does, then read back on a
 * read snapshot.  Scores are per audience; merges count. */
#include "unit.h"

#include <errno.h>

#include "collect.h"
#include "contacts.h"
#include "graph.h"
#include "jarena.h"
#include "keep.h"
#include "result.h"
#include "run.h"
#include "store.h"
#include "util.h"

static uint64_t seq;

/* Resolve rec's contacts and append it (and any merge it causes) to the
 * log, in one write transaction, as the writer would. */
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
    json_t *all[8] = {rec};
    size_t n = 1;
    for (size_t i = 0; i < extra.n && n < 8; i++)
        all[n++] = extra.recs[i];
    for (size_t i = 0; i < n; i++) {
        uint64_t s = i ? ++seq : seq;
        json_object_set_new(all[i], "seq", json_integer((json_int_t)s));
        char *text = json_dumps(all[i], JSON_COMPACT);
        MDB_val k = {sizeof s, &s}, v = {strlen(text), text};
        assert_int_equal(mdb_put(txn, st->log, &k, &v, 0), 0);
        free(text);
    }
    resolve_extra_clear(&extra);
    assert_int_equal(mdb_txn_commit(txn), 0);
    json_decref(rec);
}

/* A customer's comment (answering reply_to) or post (reply_to NULL) on
 * source, by the party with handle h (and also h2 if not NULL: a party
 * the channel vouches for, which merges the contacts of both). */
static void say(struct store *st, const char *source, const char *xid, const char *reply_to,
                const char *h, const char *h2)
{
    char buf[1024], also[128] = "", answers[128] = "";
    if (h2)
        snprintf(also, sizeof also, ",\"%s\"],\"trust\":\"verified\"", h2);
    if (reply_to)
        snprintf(answers, sizeof answers, ",\"reply_to\":\"%s\"", reply_to);
    snprintf(buf, sizeof buf,
             "{\"source\":\"%s\",\"channel\":\"facebook\",\"kind\":\"%s\","
             "\"direction\":\"inbound\",\"external_id\":\"%s\"%s,"
             "\"occurred_at\":\"2026-11-30T00:00:00.000Z\",\"meta\":{},"
             "\"from\":{\"handle\":\"%s\",\"role\":\"customer\",\"handles\":[\"%s\"%s}}",
             source, reply_to ? "comment" : "post", xid, answers, h, h, h2 ? also : "]");
    commit(st, buf);
}

struct scored {
    struct score_build b;
    struct score_graph g;
    double *rank;
};

static void score(struct store *st, const char *id, struct scored *s)
{
    struct audience a;
    assert_int_equal(audience_parse(id, &a), 0);
    MDB_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    int64_t now;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &now), 0);
    uint64_t last;
    size_t bad;
    assert_int_equal(score_collect(st, txn, &a, now, 0, &s->b, &last, &bad), 0);
    store_read_end(st, txn);
    assert_int_equal(last, seq);
    assert_int_equal(bad, 0);
    assert_int_equal(score_graph_build(&s->g, s->b.nnodes, &s->b.edges), 0);
    s->rank = calloc(s->g.n, sizeof *s->rank);
    double *p = calloc(s->g.n, sizeof *p);
    for (uint32_t v = 0; v < s->g.n; v++)
        p[v] = s->b.member[v];
    assert_true(score_pagerank(&s->g, p, 0.85, 1e-12, 1000, s->rank) > 0);
    free(p);
    audience_free(&a);
}

static void scored_free(struct scored *s)
{
    free(s->rank);
    score_graph_free(&s->g);
    score_build_free(&s->b);
}

static uint32_t node(const struct scored *s, const char *cid)
{
    for (uint32_t v = 0; v < s->b.nnodes; v++)
        if (!strcmp(s->b.ids[v], cid))
            return v;
    fail_msg("no node %s", cid);
    return 0;
}

/* The contact a handle has now. */
static void contact_of(struct store *st, const char *handle, char *out)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    assert_int_equal(contacts_of_handle(st, txn, handle, out, 32), 0);
    store_read_end(st, txn);
}

static void test_per_audience_and_merges(void **state)
{
    (void)state;
    char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
    struct store st;
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    st.identity = 1;
    seq = 0;
#define A "email:ana@example.com"
#define B "email:bo@example.com"
#define C "email:cem@example.com"
#define D "email:dora@example.com"
    /* On fb, Ana posts and everyone answers her; on ig, Dora posts and
     * Ana is one of those who answer. */
    say(&st, "fb", "P1", NULL, A, NULL);
    say(&st, "fb", "R1", "P1", B, NULL);
    say(&st, "fb", "R2", "P1", C, NULL);
    say(&st, "fb", "R3", "P1", D, NULL);
    say(&st, "ig", "Q1", NULL, D, NULL);
    say(&st, "ig", "S1", "Q1", A, NULL);
    say(&st, "ig", "S2", "Q1", B, NULL);
    say(&st, "ig", "S3", "S2", C, NULL);
    char ana[32], dora[32];
    contact_of(&st, "email:ana@example.com", ana);
    contact_of(&st, "email:dora@example.com", dora);

    struct scored fb, ig;
    score(&st, "source:fb", &fb);
    score(&st, "source:ig", &ig);
    uint32_t a_fb = node(&fb, ana), a_ig = node(&ig, ana), d_ig = node(&ig, dora);
    for (uint32_t v = 1; v < fb.g.n; v++) /* Ana leads on fb */
        if (v != a_fb)
            assert_true(fb.rank[a_fb] > fb.rank[v]);
    assert_true(ig.rank[d_ig] > ig.rank[a_ig]); /* and not on ig */
    uint32_t core[16];
    assert_true(fb.g.n <= 16);
    score_kcore(&fb.g, core);
    assert_int_equal(core[a_fb], 1);
    scored_free(&fb);
    scored_free(&ig);

    /* Eve writes from two addresses, seen as two contacts, each answering
     * Ana once; then a verified party with both merges them, and her two
     * answers count for one contact. */
    say(&st, "fb", "E1", "P1", "email:eve@example.com", NULL);
    say(&st, "fb", "E2", "P1", "phone:+905551112233", NULL);
    char e1[32], e2[32];
    contact_of(&st, "email:eve@example.com", e1);
    contact_of(&st, "phone:+905551112233", e2);
    assert_string_not_equal(e1, e2);
    score(&st, "source:fb", &fb);
    a_fb = node(&fb, ana);
    size_t before = fb.b.nnodes;
    uint32_t n1 = node(&fb, e1), n2 = node(&fb, e2);
    assert_true(fb.g.out_wsum[n1] == 1 && fb.g.out_wsum[n2] == 1);
    scored_free(&fb);

    say(&st, "wa", "W1", NULL, "phone:+905551112233", "email:eve@example.com");
    char merged[32];
    contact_of(&st, "email:eve@example.com", merged);
    contact_of(&st, "phone:+905551112233", e2);
    assert_string_equal(merged, e2);
    score(&st, "source:fb", &fb);
    assert_int_equal(fb.b.nnodes, before - 1);
    uint32_t m = node(&fb, merged);
    assert_true(fb.g.out_wsum[m] == 2);
    assert_true(fb.g.out_start[m + 1] - fb.g.out_start[m] == 1); /* both to Ana */
    assert_int_equal(fb.g.out_dst[fb.g.out_start[m]], node(&fb, ana));
    scored_free(&fb);

    store_close(&st);
    free(path);
    unit_rmtree(dir);
}

/* Scores kept in the store survive a restart, with their snapshot's seq;
 * the next computation replaces them. */
static void test_kept_across_restart(void **state)
{
    (void)state;
    char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
    struct store st;
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    st.identity = 1;
    seq = 0;
    say(&st, "fb", "P1", NULL, A, NULL);
    say(&st, "fb", "R1", "P1", B, NULL);
    struct scored fb;
    score(&st, "source:fb", &fb);
    json_t *doc = score_result("source:fb", seq, &fb.b);
    assert_non_null(doc);
    scored_free(&fb);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    assert_int_equal(score_put(&st, txn, doc), 0);
    json_t *nameless = json_object();
    assert_int_equal(score_put(&st, txn, nameless), EINVAL);
    json_decref(nameless);
    assert_int_equal(mdb_txn_commit(txn), 0);
    store_close(&st);

    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open again: %s", err);
    assert_int_equal(store_read_begin(&st, &txn), 0);
    json_t *back;
    assert_int_equal(score_get(&st, txn, "source:fb", &back), 0);
    assert_true(json_equal(back, doc));
    assert_int_equal(json_integer_value(json_object_get(back, "seq")), 2);
    assert_int_equal(json_array_size(json_object_get(back, "contacts")), 2);
    json_decref(back);
    assert_int_equal(score_get(&st, txn, "source:ig", &back), MDB_NOTFOUND);
    assert_int_equal(score_get(&st, txn, "", &back), MDB_NOTFOUND);
    store_read_end(&st, txn);

    /* A later computation replaces the kept one. */
    say(&st, "fb", "R2", "P1", C, NULL);
    score(&st, "source:fb", &fb);
    json_t *doc2 = score_result("source:fb", seq, &fb.b);
    scored_free(&fb);
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    assert_int_equal(score_put(&st, txn, doc2), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(store_read_begin(&st, &txn), 0);
    assert_int_equal(score_get(&st, txn, "source:fb", &back), 0);
    assert_int_equal(json_integer_value(json_object_get(back, "seq")), 3);
    assert_int_equal(json_array_size(json_object_get(back, "contacts")), 3);
    json_decref(back);
    store_read_end(&st, txn);
    json_decref(doc);
    json_decref(doc2);
    store_close(&st);
    free(path);
    unit_rmtree(dir);
}

/* One run computes several audiences on one snapshot: they share its
 * seq, and each holds its own contacts. */
static void test_run_on_one_snapshot(void **state)
{
    (void)state;
    char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
    struct store st;
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    st.identity = 1;
    seq = 0;
    say(&st, "fb", "P1", NULL, A, NULL);
    say(&st, "fb", "R1", "P1", B, NULL);
    say(&st, "ig", "Q1", NULL, C, NULL);
    struct audience auds[3];
    assert_int_equal(audience_parse("all", &auds[0]), 0);
    assert_int_equal(audience_parse("source:fb", &auds[1]), 0);
    assert_int_equal(audience_named(&auds[2], "igonly", "source:ig kind:post"), 0);
    json_t *docs[3];
    uint64_t at;
    assert_int_equal(score_run(&st, auds, 3, 0, 0, docs, &at), 0);
    assert_int_equal(at, 3);
    static const size_t contacts[3] = {3, 2, 1};
    static const char *const ids[3] = {"all", "source:fb", "igonly"};
    for (int i = 0; i < 3; i++) {
        assert_non_null(docs[i]);
        assert_string_equal(json_string_value(json_object_get(docs[i], "audience")), ids[i]);
        assert_int_equal(json_integer_value(json_object_get(docs[i], "seq")), 3);
        assert_int_equal(json_array_size(json_object_get(docs[i], "contacts")), contacts[i]);
        json_decref(docs[i]);
        audience_free(&auds[i]);
    }
    store_close(&st);
    free(path);
    unit_rmtree(dir);
}

/* b and want are the same graph: nodes in the same order, members, edges
 * and what they were made from. */
static void same_build(const struct score_build *b, const struct score_build *want)
{
    assert_int_equal(b->nnodes, want->nnodes);
    for (uint32_t v = 0; v < b->nnodes; v++) {
        assert_string_equal(b->ids[v], want->ids[v]);
        assert_int_equal(b->member[v], want->member[v]);
    }
    assert_int_equal(b->edges.n, want->edges.n);
    for (size_t i = 0; i < b->edges.n; i++) {
        assert_int_equal(b->edges.src[i], want->edges.src[i]);
        assert_int_equal(b->edges.dst[i], want->edges.dst[i]);
        assert_true(b->edges.w[i] == want->edges.w[i]);
    }
    assert_int_equal(b->records, want->records);
    assert_int_equal(b->bots, want->bots);
    assert_int_equal(b->unresolved_replies, want->unresolved_replies);
    assert_int_equal(b->unknown_authors, want->unknown_authors);
}

/* What the run's consumer saw: each audience's graph held against the one
 * score_collect makes of it alone, on the same store. */
struct seen {
    struct score_work *w;
    struct store *st;
    json_t *ids;
    size_t edges, stop_at, last_size;
    int64_t now, half_life;
};

static int compare_each(void *arg, size_t i, json_t *doc, const struct score_build *b)
{
    struct seen *s = arg;
    const struct audience *a = &s->w->auds[i];
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "audience")), a->id);
    assert_int_equal(json_integer_value(json_object_get(doc, "seq")), s->w->upto);
    json_array_append_new(s->ids, json_string(a->id));
    json_decref(doc);
    assert_true(b->nnodes + b->edges.n >= s->last_size); /* the smallest first */
    s->last_size = b->nnodes + b->edges.n;
    if (s->stop_at && json_array_size(s->ids) == s->stop_at)
        return -ECANCELED;
    MDB_txn *txn;
    struct score_build one;
    uint64_t last;
    size_t bad;
    assert_int_equal(store_read_begin(s->st, &txn), 0);
    assert_int_equal(score_collect(s->st, txn, a, s->now, s->half_life, &one, &last, &bad), 0);
    store_read_end(s->st, txn);
    assert_int_equal(last, s->w->upto);
    same_build(b, &one);
    s->edges += one.edges.n;
    if (strcmp(a->id, "all") == 0) { /* C answered fb's P1 (A's) and ig's P1 (B's) */
        char ca[32], cb[32], cc[32];
        contact_of(s->st, A, ca);
        contact_of(s->st, B, cb);
        contact_of(s->st, C, cc);
        struct scored sc = {.b = one};
        assert_int_equal(score_graph_build(&sc.g, one.nnodes, &one.edges), 0);
        assert_true(score_graph_has_edge(&sc.g, node(&sc, cc), node(&sc, ca)));
        assert_true(score_graph_has_edge(&sc.g, node(&sc, cc), node(&sc, cb)));
        assert_int_equal(one.unresolved_replies, 1); /* R4 */
        score_graph_free(&sc.g);
    }
    score_build_free(&one);
    return 0;
}

/* kanald's scoring run (score_work_run, what kanalctl score --compute and
 * bench/score run too) reads the log once, in chunks of a few records,
 * for all its audiences, and gives each the graph it gets alone: a reply
 * finds its answered record only in the audiences that hold it, the same
 * external id in two sources names two records, merged contacts are one
 * node, and a thread's or a named audience's slice is its own.  It
 * chooses all, the named audiences, the thread asked for and the sources
 * and channels present, and hands the smallest graph's document first. */
static void test_one_read_for_many_audiences(void **state)
{
    (void)state;
    char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
    struct store st;
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    st.identity = 1;
    seq = 0;
    say(&st, "fb", "P1", NULL, A, NULL);
    say(&st, "ig", "P1", NULL, B, NULL); /* the same external id, another source */
    say(&st, "fb", "R1", "P1", C, NULL);
    say(&st, "ig", "R2", "P1", C, NULL);
    say(&st, "ig", "R3", "R2", D, NULL);
    say(&st, "fb", "R4", "NOPE", D, NULL);     /* answers nothing known */
    say(&st, "fb", "R5", "R1", A, "wa:90555"); /* a verified party: no merge yet */
    say(&st, "ig", "R6", "P1", "wa:90555", D); /* merges A and D */
    say(&st, "fb", "P2", NULL, B, NULL);
    say(&st, "fb", "R7", "P2", D, NULL);
    int64_t now;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &now), 0);
    const struct score_named named = {"replies", "kind:comment"};
    struct score_work w = {0};
    score_work_defaults(&w);
    w.st = &st;
    w.upto = seq;
    w.chunk = 3; /* several read transactions, and batches fed (feedbatch.h) */
    w.threads = 2; /* each batch fed on two threads, whatever the machine */
    w.now_ms = now;
    w.half_life_ms = 3 * 3600 * 1000;
    w.named = &named;
    w.nnamed = 1;
    w.thread = "thread:P1";
    struct seen s = {
        .w = &w, .st = &st, .ids = json_array(), .now = now, .half_life = w.half_life_ms};
    w.each = compare_each;
    w.arg = &s;
    assert_int_equal(score_work_run(&w), 0);
    assert_int_equal(w.records, seq);
    assert_int_equal(w.bad, 0);
    static const char *const want[] = {"all",       "replies",   "thread:P1",
                                       "source:fb", "source:ig", "channel:facebook"};
    assert_int_equal(w.naud, 6);
    assert_int_equal(json_array_size(s.ids), 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(w.auds[i].id, want[i]);
    /* The smallest graph first: thread:P1's before all's. */
    assert_string_equal(json_string_value(json_array_get(s.ids, 0)), "thread:P1");
    assert_true(s.edges > 10); /* the comparison compared something */
    score_work_free(&w);
    json_decref(s.ids);

    /* A run whose consumer stops: the rest are not made, nothing leaks. */
    struct score_work w2 = {0};
    score_work_defaults(&w2);
    w2.st = &st;
    w2.upto = seq;
    w2.now_ms = now;
    struct seen s2 = {.w = &w2,
                      .st = &st,
                      .ids = json_array(),
                      .stop_at = 2,
                      .now = now,
                      .half_life = w2.half_life_ms};
    w2.each = compare_each;
    w2.arg = &s2;
    assert_int_equal(score_work_run(&w2), -ECANCELED);
    assert_int_equal(json_array_size(s2.ids), 2);
    score_work_free(&w2);
    json_decref(s2.ids);
    store_close(&st);
    free(path);
    unit_rmtree(dir);
}

/* "keep STORE": put the scores document on stdin into STORE's 'scores'
 * database as kanald keeps it (score_put: a summary, a row per contact and
 * the ranks), for tests of kanalctl score that need kept scores of their
 * own making.  kanald must not be running. */
static int keep_mode(const char *path)
{
    char err[256];
    struct store st;
    json_error_t jerr;
    json_t *doc = json_loadf(stdin, 0, &jerr);
    if (!doc) {
        fprintf(stderr, "keep: stdin: %s\n", jerr.text);
        return 2;
    }
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0) {
        fprintf(stderr, "keep: %s\n", err);
        return 2;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(st.env, NULL, 0, &txn);
    if (rc == 0 && (rc = score_put(&st, txn, doc)) == 0)
        rc = mdb_txn_commit(txn);
    else if (rc)
        mdb_txn_abort(txn);
    store_close(&st);
    json_decref(doc);
    if (rc)
        fprintf(stderr, "keep: %s\n", mdb_strerror(rc));
    return rc ? 1 : 0;
}

/* A record in the log that is not JSON but whose fields the first pass
 * reads from its text (peek.h) finds no audience: the run is made again
 * with every record parsed, and its audiences are those of a log without
 * it.  A log of kanald's own records is read from the text (the fast path
 * is taken). */
static void put_raw(struct store *st, const char *text)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    uint64_t s = ++seq;
    MDB_val k = {sizeof s, &s}, v = {strlen(text), (void *)text};
    assert_int_equal(mdb_put(txn, st->log, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static int drop_doc(void *arg, size_t i, json_t *doc, const struct score_build *b)
{
    (void)arg;
    (void)i;
    (void)b;
    json_decref(doc);
    return 0;
}

static size_t run_ids(struct store *st, char ids[][64], size_t *bad, size_t *peeked)
{
    int64_t now;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &now), 0);
    struct score_work w = {0};
    score_work_defaults(&w);
    w.st = st;
    w.upto = seq;
    w.chunk = 2;
    w.now_ms = now;
    w.each = drop_doc;
    assert_int_equal(score_work_run(&w), 0);
    size_t n = w.naud;
    for (size_t i = 0; i < n && i < 8; i++)
        snprintf(ids[i], 64, "%s", w.auds[i].id);
    *bad = w.bad;
    *peeked = w.peeked;
    score_work_free(&w);
    return n;
}

static void test_record_not_json(void **state)
{
    (void)state;
    static const char *const not_json[] = {
        "{\"kind\":\"post\",\"source\":\"bogus\",\"n\":tru}",
        "{\"kind\":\"post\",\"source\":\"bogus\",\"event\":{\"id\":\"e9\"},\"x\":\"\\q\"}",
        "{\"kind\":\"post\",\"campaign\":\"bogus\",\"n\":01}",
        "{\"kind\":\"post\",\"channel\":\"bogus\",\"n\":\"\xff\"}",
    };
    size_t nbad = sizeof not_json / sizeof *not_json;
    for (size_t t = 0; t <= nbad; t++) {
        char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
        struct store st;
        if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
            fail_msg("store_open: %s", err);
        st.identity = 1;
        seq = 0;
        say(&st, "fb", "P1", NULL, "fb:1", NULL);
        if (t < nbad)
            put_raw(&st, not_json[t]);
        say(&st, "fb", "R1", "P1", "fb:2", NULL);
        char ids[8][64];
        size_t bad, peeked, n = run_ids(&st, ids, &bad, &peeked);
        if (n != 3)
            fail_msg("log %zu: %zu audiences (%s, ...), not 3", t, n, n > 3 ? ids[3] : "");
        assert_string_equal(ids[0], "all");
        assert_string_equal(ids[1], "source:fb");
        assert_string_equal(ids[2], "channel:facebook");
        assert_int_equal(bad, t < nbad ? 1 : 0);
        if (t == nbad)
            assert_int_equal(peeked, seq); /* every record read from its text */
        store_close(&st);
        free(path);
        unit_rmtree(dir);
    }
}

int main(int argc, char **argv)
{
    jarena_setup(); /* as kanald does: scoring parses records in arenas */
    if (argc == 3 && strcmp(argv[1], "keep") == 0)
        return keep_mode(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_audience_and_merges),
        cmocka_unit_test(test_kept_across_restart),
        cmocka_unit_test(test_run_on_one_snapshot),
        cmocka_unit_test(test_one_read_for_many_audiences),
        cmocka_unit_test(test_record_not_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
